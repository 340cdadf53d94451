/* varstore: saving checkpoints (vs_save, vs_save_ex, vs_save_tensors) and
 * retention. One save is one SQLite transaction; chunks are compressed on
 * a thread pool while the calling thread writes them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_int.h"
#include "store_int.h"

typedef struct {
    const char *key;      /* checkpoint key */
    vs_var *var;          /* NULL for loose tensors */
    const vs_tensor *t;   /* dtype, shape, data */
    size_t nbytes, esize, chunk;
    int64_t numel;
    size_t first_job, n_chunks;
    int64_t tensor_id;
    uint32_t crc;
    int64_t stored;
    int any_shuffled;
    vs__stats stats;
} save_item;

typedef struct {
    size_t item, seq;
    const unsigned char *src;
    size_t len;
    uint64_t hash;
    uint32_t crc;
    int codec;
    vs__buf out;     /* encoded bytes (recycled buffer) */
    unsigned char *blob;
    size_t blob_len;
    vs__stats stats;
    /* A stored chunk with the same hash and size, fetched by prepare() so
     * a worker can compare bytes and skip compressing unchanged data. */
    int64_t cand_id;
    int cand_codec;
    size_t cand_esize, cand_len;
    uint32_t cand_crc;
    vs__buf cand;
    int64_t dup_id; /* cand_id when the bytes are equal */
} save_job;

#define MAX_THREADS 64
/* Raw bytes from which a save into a WAL file tries the solo path
 * (vs__store_solo_begin): below it, switching the journal costs more
 * than writing the pages twice. */
#ifndef VS_SOLO_MIN_BYTES
#define VS_SOLO_MIN_BYTES ((uint64_t)1 << 20)
#endif
/* ... and up to which: readers wait for a solo save up to their busy
 * timeout (10 s); at the ~300 MB/s this machine saves, 1 GiB takes about
 * 3.5 s. Larger saves stay WAL saves and never make a reader wait. */
#ifndef VS_SOLO_MAX_BYTES
#define VS_SOLO_MAX_BYTES ((uint64_t)1 << 30)
#endif

typedef struct {
    sqlite3 *db;
    const char *path;
    save_item *items;
    size_t n_items;
    save_job *jobs;
    size_t n_jobs;
    vs__codec_opts co;
    sqlite3_stmt *find, *ins_chunk, *ins_tc, *upd_tensor;
    unsigned char *scratch;
    size_t scratch_cap;
    int64_t new_bytes;
    vs__ws ws[MAX_THREADS]; /* per worker */
    vs__buf cmp[MAX_THREADS]; /* per worker: decoded candidate */
    sqlite3_stmt *cand_q;
    vs__ws main_ws;         /* for dedup comparisons */
    vs__buf *free_bufs;     /* recycled output buffers */
    size_t n_free, free_cap;
    vs__progress pr;        /* the caller's progress callback */
} save_ctx;

static int save_prepare(void *vctx, size_t k, char *err, size_t cap)
{
    (void)err;
    (void)cap;
    save_ctx *c = vctx;
    save_job *j = &c->jobs[k];
    if (c->n_free > 0)
        j->out = c->free_bufs[--c->n_free];
    j->codec = -1; /* j->hash: from the hashing pass */
    sqlite3_stmt *q = c->cand_q;
    sqlite3_reset(q);
    int b = sqlite3_bind_int64(q, 1, (int64_t)j->hash);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(q, 2, (int64_t)j->len);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(q, 3, (int64_t)c->items[j->item].esize);
    if (b != SQLITE_OK)
        return vs__store_bindfail(q, b, "cannot save checkpoint to", c->path);
    int s = sqlite3_step(q);
    if (s == SQLITE_ROW) {
        const void *d = sqlite3_column_blob(q, 3);
        int dl = sqlite3_column_bytes(q, 3);
        if (c->n_free > 0)
            j->cand = c->free_bufs[--c->n_free];
        if (vs__buf_reserve(&j->cand, (size_t)dl) != VS_OK) {
            sqlite3_reset(q);
            return vs__fail(VS_ENOMEM, "out of memory");
        }
        if (dl > 0)
            memcpy(j->cand.p, d, (size_t)dl);
        j->cand_id = sqlite3_column_int64(q, 0);
        j->cand_codec = sqlite3_column_int(q, 1);
        j->cand_esize = (size_t)sqlite3_column_int64(q, 2);
        j->cand_len = (size_t)dl;
        j->cand_crc = (uint32_t)sqlite3_column_int64(q, 4);
    } else if (s != SQLITE_DONE) {
        int r = vs__store_sqlfail(c->db, s, "cannot save checkpoint to",
                                  c->path);
        sqlite3_reset(q);
        return r;
    }
    sqlite3_reset(q);
    return VS_OK;
}

static void recycle(save_ctx *c, vs__buf *b)
{
    if (b->p == NULL)
        return;
    if (c->n_free < c->free_cap)
        c->free_bufs[c->n_free++] = *b;
    else
        vs__buf_free(b);
    b->p = NULL;
    b->cap = 0;
}

static int is_float(vs_dtype dt)
{
    return dt == VS_FLOAT32 || dt == VS_FLOAT64 || dt == VS_FLOAT16 ||
           dt == VS_BFLOAT16;
}

/* ---- pool callbacks ---------------------------------------------------- */

/* The dedup hash of every chunk, on all cores, before the main pass: the
 * main thread needs it to look up a candidate before a chunk goes to a
 * worker, and hashing there serially took as long as the SQLite writes. */
static int hash_work(void *vctx, size_t k, char *err, size_t cap)
{
    (void)err;
    (void)cap;
    save_ctx *c = vctx;
    save_job *j = &c->jobs[k];
    j->hash = vs__hash64(j->src, j->len);
    return VS_OK;
}

static int save_work(void *vctx, size_t k, char *err, size_t cap)
{
    save_ctx *c = vctx;
    save_job *j = &c->jobs[k];
    const save_item *it = &c->items[j->item];
    int w = vs__pool_worker();
    j->crc = vs__crc32(0, j->src, j->len);
    vs__stats_init(&j->stats);
    if (is_float(it->t->dtype))
        vs__stats_chunk(it->t->dtype, j->src, j->len, &j->stats);
    if (j->cand_id != 0 && j->cand_crc == j->crc &&
        j->cand_esize == it->esize) {
        char why[128];
        if (vs__buf_reserve(&c->cmp[w], j->len) == VS_OK &&
            vs__chunk_decode_ws(j->cand_codec, j->cand_esize, j->cand.p,
                                j->cand_len, c->cmp[w].p, j->len, &c->ws[w],
                                why, sizeof why) == VS_OK &&
            memcmp(c->cmp[w].p, j->src, j->len) == 0) {
            j->dup_id = j->cand_id;
            return VS_OK; /* unchanged: nothing to compress */
        }
    }
    int rc = vs__chunk_encode_ws(j->src, j->len, it->esize, &c->co,
                                 &c->ws[vs__pool_worker()], &j->out,
                                 &j->codec, &j->blob_len, err, cap);
    j->blob = j->out.p;
    return rc;
}

/* Returns the sqlite3_bind_* result. */
static int bind_double_or_null(sqlite3_stmt *st, int i, int ok, double v)
{
    if (ok && isfinite(v))
        return sqlite3_bind_double(st, i, v);
    return sqlite3_bind_null(st, i);
}

/* Returns the sqlite3_bind_* result. */
static int bind_int64_or_null(sqlite3_stmt *st, int i, int ok, int64_t v)
{
    if (ok)
        return sqlite3_bind_int64(st, i, v);
    return sqlite3_bind_null(st, i);
}

static int finish_item(save_ctx *c, save_item *it)
{
    sqlite3_stmt *st = c->upd_tensor;
    sqlite3_reset(st);
    int fl = is_float(it->t->dtype);
    int has = fl && it->stats.n > 0;
    int b = sqlite3_bind_text(st, 1, it->any_shuffled ? "shuffle-zlib" : "raw",
                              -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 2, it->stored);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 3, (int64_t)it->crc);
    if (b == SQLITE_OK)
        b = bind_double_or_null(st, 4, has, it->stats.min);
    if (b == SQLITE_OK)
        b = bind_double_or_null(st, 5, has, it->stats.max);
    if (b == SQLITE_OK)
        b = bind_double_or_null(st, 6, has, it->stats.mean);
    if (b == SQLITE_OK)
        b = bind_double_or_null(
            st, 7, has, has ? sqrt(it->stats.m2 / (double)it->stats.n) : 0.0);
    if (b == SQLITE_OK)
        b = bind_int64_or_null(st, 8, fl, it->stats.n_nan);
    if (b == SQLITE_OK)
        b = bind_int64_or_null(st, 9, fl, it->stats.n_inf);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 10, it->tensor_id);
    if (b != SQLITE_OK)
        return vs__store_bindfail(st, b, "cannot save checkpoint to",
                                  c->path);
    int s = sqlite3_step(st);
    if (s != SQLITE_DONE)
        return vs__store_sqlfail(c->db, s, "cannot save checkpoint to",
                                 c->path);
    return VS_OK;
}

/* Looks for a stored chunk with exactly these bytes; *id 0 if none. */
static int find_chunk(save_ctx *c, const save_job *j, size_t esize,
                      int64_t *id, int64_t *stored, int *ccodec)
{
    sqlite3_stmt *st = c->find;
    *id = 0;
    sqlite3_reset(st);
    int b = sqlite3_bind_int64(st, 1, (int64_t)j->hash);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 2, (int64_t)j->len);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 3, (int64_t)j->crc);
    if (b != SQLITE_OK)
        return vs__store_bindfail(st, b, "cannot save checkpoint to",
                                  c->path);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t cid = sqlite3_column_int64(st, 0);
        int codec = sqlite3_column_int(st, 1);
        size_t ces = (size_t)sqlite3_column_int64(st, 2);
        const unsigned char *data = sqlite3_column_blob(st, 3);
        size_t dlen = (size_t)sqlite3_column_bytes(st, 3);
        if (data == NULL && dlen > 0)
            return vs__fail(VS_ENOMEM, "out of memory");
        int same = 0;
        if (ces != esize) {
            /* Same bytes as another dtype: readers check the element
             * size, so such chunks are not shared. */
            same = 0;
        } else if (codec == j->codec && dlen == j->blob_len &&
                   (dlen == 0 || memcmp(data, j->blob, dlen) == 0)) {
            same = 1;
        } else {
            /* Other codec settings: compare the decoded bytes. */
            if (c->scratch_cap < j->len) {
                unsigned char *p = vs__realloc(c->scratch, j->len);
                if (p == NULL)
                    return vs__fail(VS_ENOMEM, "out of memory");
                c->scratch = p;
                c->scratch_cap = j->len;
            }
            char err[256];
            if (vs__chunk_decode_ws(codec, ces, data, dlen, c->scratch,
                                    j->len, &c->main_ws, err,
                                    sizeof err) == VS_OK &&
                memcmp(c->scratch, j->src, j->len) == 0)
                same = 1;
        }
        if (same) {
            *id = cid;
            *stored = (int64_t)dlen;
            *ccodec = codec;
            sqlite3_reset(st);
            return VS_OK;
        }
    }
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        return vs__store_sqlfail(c->db, s, "cannot save checkpoint to",
                                 c->path);
    return VS_OK;
}

static int save_consume(void *vctx, size_t k, char *err, size_t cap)
{
    (void)err;
    (void)cap;
    save_ctx *c = vctx;
    save_job *j = &c->jobs[k];
    save_item *it = &c->items[j->item];
    int64_t id = 0, stored = 0;
    int ccodec = j->codec;
    int rc = VS_OK;
    if (j->dup_id != 0) {
        id = j->dup_id;
        stored = (int64_t)j->cand_len;
        ccodec = j->cand_codec;
    } else {
        rc = find_chunk(c, j, it->esize, &id, &stored, &ccodec);
        if (rc != VS_OK)
            return rc;
    }
    if (j->cand.p != NULL)
        recycle(c, &j->cand);
    int shuffled = ccodec == VS_CHUNK_SHUFFLE_ZLIB;
    if (id == 0) {
        sqlite3_stmt *st = c->ins_chunk;
        sqlite3_reset(st);
        int b = sqlite3_bind_int64(st, 1, (int64_t)j->hash);
        if (b == SQLITE_OK)
            b = sqlite3_bind_int64(st, 2, (int64_t)j->crc);
        if (b == SQLITE_OK)
            b = sqlite3_bind_int64(st, 3, (int64_t)j->len);
        if (b == SQLITE_OK)
            b = sqlite3_bind_int64(st, 4, (int64_t)it->esize);
        if (b == SQLITE_OK)
            b = sqlite3_bind_int(st, 5, j->codec);
        if (b == SQLITE_OK)
            b = sqlite3_bind_int64(st, 6, (int64_t)j->blob_len);
        if (b == SQLITE_OK)
            b = sqlite3_bind_blob64(st, 7,
                                    j->blob_len ? (const void *)j->blob : "",
                                    j->blob_len, SQLITE_STATIC);
        if (b != SQLITE_OK)
            return vs__store_bindfail(st, b, "cannot save checkpoint to",
                                      c->path);
        int s = sqlite3_step(st);
        sqlite3_reset(st);
        if (s != SQLITE_DONE)
            return vs__store_sqlfail(c->db, s, "cannot save checkpoint to",
                                     c->path);
        id = sqlite3_last_insert_rowid(c->db);
        stored = (int64_t)j->blob_len;
        c->new_bytes += stored;
    }
    recycle(c, &j->out);
    j->blob = NULL;
    sqlite3_stmt *st = c->ins_tc;
    sqlite3_reset(st);
    int b = sqlite3_bind_int64(st, 1, it->tensor_id);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 2, (int64_t)j->seq);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 3, id);
    if (b != SQLITE_OK)
        return vs__store_bindfail(st, b, "cannot save checkpoint to",
                                  c->path);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        return vs__store_sqlfail(c->db, s, "cannot save checkpoint to",
                                 c->path);
    it->stored += stored;
    it->crc = j->seq == 0 ? j->crc
                          : vs__crc32_combine(it->crc, j->crc, j->len);
    it->any_shuffled |= shuffled;
    vs__stats_merge(&it->stats, &j->stats);
    if (j->seq + 1 == it->n_chunks) {
        rc = finish_item(c, it);
        if (rc != VS_OK)
            return rc;
    }
    vs__progress_add(&c->pr, j->len);
    return VS_OK;
}

/* ---- the save transaction ---------------------------------------------- */

static int cmp_items(const void *a, const void *b)
{
    return strcmp(((const save_item *)a)->key, ((const save_item *)b)->key);
}

static int cmp_var_ptr(const void *a, const void *b)
{
    const save_item *x = *(const save_item *const *)a;
    const save_item *y = *(const save_item *const *)b;
    uintptr_t px = (uintptr_t)x->var, py = (uintptr_t)y->var;
    if (px != py)
        return px < py ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int check_key(const char *key)
{
    if (key == NULL || *key == '\0')
        return vs__fail(VS_EINVAL, "checkpoint key is NULL or empty");
    if (strlen(key) > VS_NAME_MAX)
        return vs__fail(VS_EINVAL, "checkpoint key is longer than %d bytes",
                        VS_NAME_MAX);
    return VS_OK;
}

static int check_tensor(const char *key, const vs_tensor *t, size_t *nbytes,
                        int64_t *numel)
{
    if (t == NULL)
        return vs__fail(VS_EINVAL, "tensor %s is NULL", key);
    size_t es = vs__elem_size(t->dtype);
    if (es == 0)
        return vs__fail(VS_EINVAL, "tensor %s has an invalid dtype (%d)", key,
                        (int)t->dtype);
    if (t->ndim < 0 || t->ndim > VS_MAX_DIMS)
        return vs__fail(VS_EINVAL, "tensor %s has invalid ndim %d", key,
                        t->ndim);
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0)
            return vs__fail(VS_EINVAL, "tensor %s has a negative dimension",
                            key);
        if ((uint64_t)t->shape[i] > SIZE_MAX ||
            vs__mul_size(n, (size_t)t->shape[i], &n) != 0)
            return vs__fail(VS_EINVAL, "tensor %s is too large", key);
    }
    size_t b;
    if (vs__mul_size(n, es, &b) != 0 || n > (size_t)INT64_MAX ||
        b > (size_t)INT64_MAX)
        return vs__fail(VS_EINVAL, "tensor %s is too large", key);
    if (b > 0 && t->data == NULL)
        return vs__fail(VS_EINVAL, "tensor %s has no data", key);
    *nbytes = b;
    *numel = (int64_t)n;
    return VS_OK;
}

static int read_meta_num(sqlite3 *db, const char *path, const char *key,
                         double *v, int *found)
{
    sqlite3_stmt *st;
    int rc = vs__store_prepare(db, "SELECT value FROM meta WHERE key=?1", &st,
                               path);
    if (rc != VS_OK)
        return rc;
    *found = 0;
    int b = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (b != SQLITE_OK) {
        rc = vs__store_bindfail(st, b, "cannot read checkpoint file", path);
        sqlite3_finalize(st);
        return rc;
    }
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        *v = sqlite3_column_double(st, 0);
        *found = 1;
    } else if (s != SQLITE_ROW && s != SQLITE_DONE) {
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
    }
    sqlite3_finalize(st);
    return rc;
}

static int write_meta_num(sqlite3 *db, const char *path, const char *key,
                          double v)
{
    sqlite3_stmt *st;
    int rc = vs__store_prepare(
        db, "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)", &st,
        path);
    if (rc != VS_OK)
        return rc;
    int b = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = v == floor(v) && fabs(v) < 9e15
                ? sqlite3_bind_int64(st, 2, (int64_t)v)
                : sqlite3_bind_double(st, 2, v);
    if (b != SQLITE_OK) {
        rc = vs__store_bindfail(st, b, "cannot update checkpoint file", path);
        sqlite3_finalize(st);
        return rc;
    }
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    if (s != SQLITE_DONE)
        return vs__store_sqlfail(db, s, "cannot update checkpoint file", path);
    return VS_OK;
}

/* TF Saver's retention over the checkpoints of the file, oldest save
 * first: beyond max_to_keep, a checkpoint at least N hours after the last
 * one kept for good is kept for good (keep = 1), the others deleted. Runs
 * in its own transaction. */
static int apply_retention(sqlite3 *db, const char *path, int max_to_keep,
                           double hours, int busy_ms)
{
    if (max_to_keep <= 0)
        return VS_OK;
    int rc = vs__store_begin_write(db, path, busy_ms);
    if (rc != VS_OK)
        return rc;
    sqlite3_stmt *st = NULL;
    int64_t *steps = NULL;
    double *times = NULL;
    size_t n = 0, cap = 0;
    rc = vs__store_prepare(db,
                           "SELECT step, created_unix FROM checkpoints WHERE "
                           "keep=0 ORDER BY created_unix, step",
                           &st, path);
    if (rc != VS_OK)
        goto fail;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            int64_t *ns = vs__realloc_n(steps, nc, sizeof *ns);
            if (ns == NULL) {
                rc = vs__fail(VS_ENOMEM, "out of memory");
                goto fail;
            }
            steps = ns;
            double *nt = vs__realloc_n(times, nc, sizeof *nt);
            if (nt == NULL) {
                rc = vs__fail(VS_ENOMEM, "out of memory");
                goto fail;
            }
            times = nt;
            cap = nc;
        }
        steps[n] = sqlite3_column_int64(st, 0);
        times[n] = sqlite3_column_double(st, 1);
        n++;
    }
    if (s != SQLITE_DONE) {
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
        goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (n > (size_t)max_to_keep) {
        double next_keep = 0;
        int found = 0;
        if (hours > 0) {
            rc = read_meta_num(db, path, "next_keep_time", &next_keep, &found);
            if (rc != VS_OK)
                goto fail;
            if (!found) {
                double first = times[0];
                sqlite3_stmt *q;
                rc = vs__store_prepare(
                    db, "SELECT min(created_unix) FROM checkpoints", &q, path);
                if (rc != VS_OK)
                    goto fail;
                s = sqlite3_step(q);
                if (s != SQLITE_ROW) {
                    rc = vs__store_sqlfail(db, s,
                                           "cannot read checkpoint file",
                                           path);
                    sqlite3_finalize(q);
                    goto fail;
                }
                if (sqlite3_column_type(q, 0) != SQLITE_NULL)
                    first = sqlite3_column_double(q, 0);
                sqlite3_finalize(q);
                next_keep = first + hours * 3600.0;
            }
        }
        for (size_t i = 0; i + (size_t)max_to_keep < n; i++) {
            if (hours > 0 && times[i] >= next_keep) {
                sqlite3_stmt *u;
                rc = vs__store_prepare(
                    db, "UPDATE checkpoints SET keep=1 WHERE step=?1", &u,
                    path);
                if (rc != VS_OK)
                    goto fail;
                int b = sqlite3_bind_int64(u, 1, steps[i]);
                if (b != SQLITE_OK) {
                    rc = vs__store_bindfail(u, b,
                                            "cannot update checkpoint file",
                                            path);
                    sqlite3_finalize(u);
                    goto fail;
                }
                s = sqlite3_step(u);
                sqlite3_finalize(u);
                if (s != SQLITE_DONE) {
                    rc = vs__store_sqlfail(db, s,
                                           "cannot update checkpoint file",
                                           path);
                    goto fail;
                }
                next_keep += hours * 3600.0;
            } else {
                rc = vs__store_delete_step_rows(db, path, steps[i]);
                if (rc != VS_OK)
                    goto fail;
            }
        }
        if (hours > 0) {
            rc = write_meta_num(db, path, "next_keep_time", next_keep);
            if (rc != VS_OK)
                goto fail;
        }
        rc = vs__store_free_orphans(db, path, NULL);
        if (rc != VS_OK)
            goto fail;
    }
    vs__free(steps);
    vs__free(times);
    return vs__store_exec(db, "COMMIT", path);
fail:
    sqlite3_finalize(st);
    vs__free(steps);
    vs__free(times);
    /* Already failing: the rollback's result cannot change the error (and
     * closing the connection rolls back in any case). */
    (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Copies the graph's scopes and the saved variables' definitions. */
static int write_definitions(sqlite3 *db, const char *path, vs_graph *g,
                             const save_item *items, size_t n, int64_t step)
{
    sqlite3 *gdb = vs__graph_db(g);
    sqlite3_stmt *gs = NULL, *gv = NULL, *ins = NULL;
    int rc = vs__store_exec(db, "DELETE FROM scopes; DELETE FROM variables;",
                            path);
    if (rc != VS_OK)
        return rc;
    if (gdb == NULL)
        return VS_OK;
    int s = sqlite3_prepare_v2(gdb,
                               "SELECT name, parent, reuse, dtype, "
                               "initializer, name_scope FROM scopes",
                               -1, &gs, NULL);
    if (s != SQLITE_OK) {
        rc = vs__fail(VS_ERROR, "cannot read the graph's scopes: %s",
                      sqlite3_errmsg(gdb));
        goto out;
    }
    rc = vs__store_prepare(db,
                           "INSERT OR REPLACE INTO scopes(name, parent, reuse,"
                           " dtype, initializer, name_scope) VALUES "
                           "(?1, ?2, ?3, ?4, ?5, ?6)",
                           &ins, path);
    if (rc != VS_OK)
        goto out;
    while ((s = sqlite3_step(gs)) == SQLITE_ROW) {
        sqlite3_reset(ins);
        int b = SQLITE_OK;
        for (int i = 0; i < 6 && b == SQLITE_OK; i++)
            b = sqlite3_bind_value(ins, i + 1, sqlite3_column_value(gs, i));
        if (b != SQLITE_OK) {
            rc = vs__store_bindfail(ins, b, "cannot save checkpoint to", path);
            goto out;
        }
        int w = sqlite3_step(ins);
        if (w != SQLITE_DONE) {
            rc = vs__store_sqlfail(db, w, "cannot save checkpoint to", path);
            goto out;
        }
    }
    if (s != SQLITE_DONE) {
        rc = vs__fail(VS_ERROR, "cannot read the graph's scopes: %s",
                      sqlite3_errmsg(gdb));
        goto out;
    }
    sqlite3_finalize(ins);
    ins = NULL;
    s = sqlite3_prepare_v2(gdb,
                           "SELECT scope, initializer FROM variables WHERE "
                           "name=?1 OR name=?2 LIMIT 1",
                           -1, &gv, NULL);
    if (s != SQLITE_OK) {
        rc = vs__fail(VS_ERROR, "cannot read the graph's variables: %s",
                      sqlite3_errmsg(gdb));
        goto out;
    }
    rc = vs__store_prepare(db,
                           "INSERT OR REPLACE INTO variables(name, key, scope,"
                           " dtype, shape, trainable, initializer, step) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                           &ins, path);
    if (rc != VS_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const vs_var *v = items[i].var;
        if (v == NULL)
            continue;
        char shp[VS_SHAPE_STR_MAX];
        sqlite3_reset(gv);
        int b = sqlite3_bind_text(gv, 1, v->op_name, -1, SQLITE_STATIC);
        if (b == SQLITE_OK)
            b = sqlite3_bind_text(gv, 2, v->name, -1, SQLITE_STATIC);
        if (b != SQLITE_OK) {
            rc = vs__store_bindfail(gv, b, "cannot save checkpoint to", path);
            goto out;
        }
        s = sqlite3_step(gv);
        sqlite3_reset(ins);
        /* A whole partitioned variable (saved under its full name): its
         * full name and shape; scope and initializer from its part. */
        const vs_partitioned *pv =
            v->part_of != NULL &&
                    strcmp(items[i].key, vs_partitioned_name(v->part_of)) == 0
                ? v->part_of
                : NULL;
        if (s != SQLITE_ROW && s != SQLITE_DONE) {
            rc = vs__fail(VS_ERROR, "cannot read the graph's variables: %s",
                          sqlite3_errmsg(gdb));
            goto out;
        }
        b = sqlite3_bind_text(ins, 1,
                              pv ? vs_partitioned_name(pv) : v->op_name, -1,
                              SQLITE_STATIC);
        if (b == SQLITE_OK)
            b = sqlite3_bind_text(ins, 2, items[i].key, -1, SQLITE_STATIC);
        /* No graph row: scope and initializer are NULL (bound explicitly:
         * sqlite3_reset keeps the previous variable's bindings). */
        if (b == SQLITE_OK)
            b = s == SQLITE_ROW
                    ? sqlite3_bind_value(ins, 3, sqlite3_column_value(gv, 0))
                    : sqlite3_bind_null(ins, 3);
        if (b == SQLITE_OK)
            b = s == SQLITE_ROW
                    ? sqlite3_bind_value(ins, 7, sqlite3_column_value(gv, 1))
                    : sqlite3_bind_null(ins, 7);
        if (b == SQLITE_OK)
            b = sqlite3_bind_text(ins, 4, vs__dtype_str(v->value.dtype), -1,
                                  SQLITE_STATIC);
        if (pv != NULL) {
            int64_t fs[VS_MAX_DIMS];
            int fn = vs_partitioned_shape(pv, fs);
            vs__shape_json(fn, fs, shp, sizeof shp);
        } else {
            vs__shape_json(v->value.ndim, v->value.shape, shp, sizeof shp);
        }
        if (b == SQLITE_OK)
            b = sqlite3_bind_text(ins, 5, shp, -1, SQLITE_TRANSIENT);
        if (b == SQLITE_OK)
            b = sqlite3_bind_int(ins, 6, v->trainable ? 1 : 0);
        if (b == SQLITE_OK)
            b = sqlite3_bind_int64(ins, 8, step);
        if (b != SQLITE_OK) {
            rc = vs__store_bindfail(ins, b, "cannot save checkpoint to", path);
            goto out;
        }
        int w = sqlite3_step(ins);
        if (w != SQLITE_DONE) {
            rc = vs__store_sqlfail(db, w, "cannot save checkpoint to", path);
            goto out;
        }
    }
out:
    sqlite3_finalize(gs);
    sqlite3_finalize(gv);
    sqlite3_finalize(ins);
    return rc;
}

static int validate_opts(const vs_save_opts *o)
{
    if (o == NULL)
        return VS_OK;
    if (o->chunk_bytes > VS_CHUNK_MAX)
        return vs__fail(VS_EINVAL, "chunk_bytes %zu is above the limit %zu",
                        o->chunk_bytes, VS_CHUNK_MAX);
    if (o->codec != VS_CODEC_DEFAULT && o->codec != VS_CODEC_RAW)
        return vs__fail(VS_EINVAL, "unknown codec %d", o->codec);
    if (o->level < 0 || o->level > 9)
        return vs__fail(VS_EINVAL, "zlib level %d is outside 0-9", o->level);
    if (o->threads < 0)
        return vs__fail(VS_EINVAL, "threads must be >= 0, got %d",
                        o->threads);
    if (o->busy_timeout_ms < 0)
        return vs__fail(VS_EINVAL, "busy_timeout_ms must be >= 0, got %d",
                        o->busy_timeout_ms);
    if (isnan(o->keep_checkpoint_every_n_hours))
        return vs__fail(VS_EINVAL, "keep_checkpoint_every_n_hours is NaN");
    return VS_OK;
}

/* Saves items (validated, keys set) as checkpoint step. g may be NULL. */
static int save_items(const char *path, int64_t step, save_item *items,
                      size_t n, const vs_save_opts *o, vs_graph *g)
{
    if (step < 0)
        return vs__fail(VS_EINVAL, "checkpoint step must be >= 0, got %lld",
                        (long long)step);
    int rc = validate_opts(o);
    if (rc != VS_OK)
        return rc;
    size_t chunk = o != NULL && o->chunk_bytes ? o->chunk_bytes
                                               : VS_CHUNK_DEFAULT;
    int busy = o != NULL && o->busy_timeout_ms ? o->busy_timeout_ms
                                               : VS_BUSY_DEFAULT_MS;
    int threads = vs__pool_threads(o != NULL ? o->threads : 0);
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;

    qsort(items, n, sizeof *items, cmp_items);
    for (size_t i = 0; i + 1 < n; i++)
        if (strcmp(items[i].key, items[i + 1].key) == 0)
            return vs__fail(VS_EINVAL,
                            "At least two variables have the same name: %s",
                            items[i].key);
    if (g != NULL && n > 1) {
        save_item **byvar = vs__calloc(n, sizeof *byvar);
        if (byvar == NULL)
            return vs__fail(VS_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++)
            byvar[i] = &items[i];
        qsort(byvar, n, sizeof *byvar, cmp_var_ptr);
        for (size_t i = 0; i + 1 < n; i++) {
            if (byvar[i]->var == byvar[i + 1]->var) {
                rc = vs__fail(VS_EINVAL,
                              "The same saveable will be restored with two "
                              "names: %s",
                              byvar[i + 1]->key);
                break;
            }
        }
        vs__free(byvar);
        if (rc != VS_OK)
            return rc;
    }

    /* Cut the tensors into chunks. */
    size_t n_jobs = 0;
    for (size_t i = 0; i < n; i++) {
        save_item *it = &items[i];
        size_t cs = chunk / it->esize * it->esize;
        if (cs == 0)
            cs = it->esize;
        it->chunk = cs;
        it->n_chunks = it->nbytes / cs + (it->nbytes % cs != 0);
        it->first_job = n_jobs;
        if (vs__add_size(n_jobs, it->n_chunks, &n_jobs) != 0)
            return vs__fail(VS_EINVAL, "too many chunks");
        vs__stats_init(&it->stats);
    }
    save_ctx c;
    memset(&c, 0, sizeof c);
    /* A chunk reused by dedup must be one zlib itself would accept. */
    for (size_t t = 0; t < MAX_THREADS; t++)
        c.ws[t].strict = 1;
    c.main_ws.strict = 1;
    c.path = path;
    c.items = items;
    c.n_items = n;
    c.n_jobs = n_jobs;
    c.co.level = o != NULL ? o->level : 0;
    c.co.raw_only = o != NULL && o->codec == VS_CODEC_RAW;
    c.jobs = vs__calloc(n_jobs ? n_jobs : 1, sizeof *c.jobs);
    c.free_cap = (size_t)threads * 8 + 8;
    c.free_bufs = vs__calloc(c.free_cap, sizeof *c.free_bufs);
    if (c.jobs == NULL || c.free_bufs == NULL) {
        vs__free(c.jobs);
        vs__free(c.free_bufs);
        return vs__fail(VS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        save_item *it = &items[i];
        for (size_t q = 0; q < it->n_chunks; q++) {
            save_job *j = &c.jobs[it->first_job + q];
            j->item = i;
            j->seq = q;
            j->src = (const unsigned char *)it->t->data + q * it->chunk;
            j->len = q + 1 < it->n_chunks ? it->chunk
                                          : it->nbytes - q * it->chunk;
        }
    }

    sqlite3 *db = NULL;
    int in_tx = 0;
    sqlite3_stmt *st = NULL;
    int solo = 0, committed = 0;
    rc = vs__store_open(path, VS_OPEN_CREATE, busy, &db);
    if (rc != VS_OK)
        goto out;
    c.db = db;
    uint64_t raw_bytes = 0;
    for (size_t i = 0; i < n; i++)
        raw_bytes += items[i].nbytes;
    if (raw_bytes >= VS_SOLO_MIN_BYTES && raw_bytes <= VS_SOLO_MAX_BYTES &&
        (o == NULL || !o->readers_never_wait)) {
        rc = vs__store_solo_begin(db, path, busy, &solo);
        if (rc != VS_OK)
            goto out;
    }
    rc = vs__store_begin_write(db, path, busy);
    if (rc != VS_OK)
        goto out;
    in_tx = 1;

    /* Replace an existing step: its chunks stay until the end, so the new
     * save can share them. */
    int replaced = 0;
    rc = vs__store_prepare(db, "SELECT 1 FROM checkpoints WHERE step=?1", &st,
                           path);
    if (rc != VS_OK)
        goto out;
    int b = sqlite3_bind_int64(st, 1, step);
    if (b != SQLITE_OK) {
        rc = vs__store_bindfail(st, b, "cannot save checkpoint to", path);
        goto out;
    }
    int s = sqlite3_step(st);
    if (s != SQLITE_ROW && s != SQLITE_DONE) {
        rc = vs__store_sqlfail(db, s, "cannot save checkpoint to", path);
        goto out;
    }
    replaced = s == SQLITE_ROW;
    sqlite3_finalize(st);
    st = NULL;
    if (replaced) {
        rc = vs__store_delete_step_rows(db, path, step);
        if (rc != VS_OK)
            goto out;
    }

    char when[32];
    double now = vs__now_iso(when);
    rc = vs__store_prepare(db,
                           "INSERT INTO checkpoints(step, created_at, "
                           "created_unix, writer) VALUES (?1, ?2, ?3, ?4)",
                           &st, path);
    if (rc != VS_OK)
        goto out;
    b = sqlite3_bind_int64(st, 1, step);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, 2, when, -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = sqlite3_bind_double(st, 3, now);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, 4, "varstore " VS_VERSION_STRING, -1,
                              SQLITE_STATIC);
    if (b != SQLITE_OK) {
        rc = vs__store_bindfail(st, b, "cannot save checkpoint to", path);
        goto out;
    }
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = vs__store_sqlfail(db, sqlite3_errcode(db),
                               "cannot save checkpoint to", path);
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;

    rc = vs__store_prepare(db,
                           "INSERT INTO tensors(step, name, dtype, shape, "
                           "numel, codec, chunk_bytes, n_chunks, raw_bytes, "
                           "stored_bytes, crc32, n_nan, n_inf) VALUES "
                           "(?1, ?2, ?3, ?4, ?5, 'raw', ?6, ?7, ?8, 0, 0, "
                           "?9, ?9)",
                           &st, path);
    if (rc != VS_OK)
        goto out;
    int64_t raw_total = 0;
    uint64_t progress_total = 0;
    for (size_t i = 0; i < n; i++) {
        save_item *it = &items[i];
        char shp[VS_SHAPE_STR_MAX];
        sqlite3_reset(st);
        b = sqlite3_bind_int64(st, 1, step);
        if (b == SQLITE_OK)
            b = sqlite3_bind_text(st, 2, it->key, -1, SQLITE_STATIC);
        if (b == SQLITE_OK)
            b = sqlite3_bind_text(st, 3, vs__dtype_str(it->t->dtype), -1,
                                  SQLITE_STATIC);
        if (b == SQLITE_OK)
            b = sqlite3_bind_text(st, 4,
                                  vs__shape_json(it->t->ndim, it->t->shape,
                                                 shp, sizeof shp),
                                  -1, SQLITE_TRANSIENT);
        if (b == SQLITE_OK)
            b = sqlite3_bind_int64(st, 5, it->numel);
        if (b == SQLITE_OK)
            b = sqlite3_bind_int64(st, 6, (int64_t)it->chunk);
        if (b == SQLITE_OK)
            b = sqlite3_bind_int64(st, 7, (int64_t)it->n_chunks);
        if (b == SQLITE_OK)
            b = sqlite3_bind_int64(st, 8, (int64_t)it->nbytes);
        if (b == SQLITE_OK)
            b = bind_int64_or_null(st, 9, is_float(it->t->dtype), 0);
        if (b != SQLITE_OK) {
            rc = vs__store_bindfail(st, b, "cannot save checkpoint to", path);
            goto out;
        }
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = vs__store_sqlfail(db, sqlite3_errcode(db),
                                   "cannot save checkpoint to", path);
            goto out;
        }
        it->tensor_id = sqlite3_last_insert_rowid(db);
        raw_total += (int64_t)it->nbytes;
        progress_total += (uint64_t)it->nbytes;
    }
    sqlite3_finalize(st);
    st = NULL;

    if (g != NULL) {
        rc = write_definitions(db, path, g, items, n, step);
        if (rc != VS_OK)
            goto out;
    }

    rc = vs__store_prepare(db,
                           "SELECT id, codec, elem_size, data FROM chunks "
                           "WHERE hash=?1 AND raw_bytes=?2 AND crc32=?3",
                           &c.find, path);
    if (rc == VS_OK)
        rc = vs__store_prepare(db,
                               "SELECT id, codec, elem_size, data, crc32 FROM "
                               "chunks WHERE hash=?1 AND raw_bytes=?2 AND "
                               "elem_size=?3 LIMIT 1",
                               &c.cand_q, path);
    if (rc == VS_OK)
        rc = vs__store_prepare(db,
                               "INSERT INTO chunks(hash, crc32, raw_bytes, "
                               "elem_size, codec, stored_bytes, data) VALUES "
                               "(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                               &c.ins_chunk, path);
    if (rc == VS_OK)
        rc = vs__store_prepare(db,
                               "INSERT INTO tensor_chunks(tensor_id, seq, "
                               "chunk_id) VALUES (?1, ?2, ?3)",
                               &c.ins_tc, path);
    if (rc == VS_OK)
        rc = vs__store_prepare(db,
                               "UPDATE tensors SET codec=?1, stored_bytes=?2,"
                               " crc32=?3, min=?4, max=?5, mean=?6, std=?7, "
                               "n_nan=?8, n_inf=?9 WHERE id=?10",
                               &c.upd_tensor, path);
    if (rc != VS_OK)
        goto out;

    vs__progress_init(&c.pr, o != NULL ? o->progress : NULL,
                      o != NULL ? o->progress_ctx : NULL, progress_total);
    rc = vs__pool_run(threads, n_jobs, (size_t)threads * 4, &c, NULL,
                      hash_work, NULL);
    if (rc == VS_OK)
        rc = vs__pool_run(threads, n_jobs, (size_t)threads * 4, &c,
                          save_prepare, save_work, save_consume);
    if (rc != VS_OK)
        goto out;
    /* Tensors without chunks (empty) still need their row finished. */
    for (size_t i = 0; i < n; i++) {
        if (items[i].n_chunks == 0) {
            rc = finish_item(&c, &items[i]);
            if (rc != VS_OK)
                goto out;
        }
    }

    int64_t stored_total = 0;
    for (size_t i = 0; i < n; i++)
        stored_total += items[i].stored;
    rc = vs__store_prepare(db,
                           "UPDATE checkpoints SET n_tensors=?1, raw_bytes=?2,"
                           " stored_bytes=?3, new_bytes=?4 WHERE step=?5",
                           &st, path);
    if (rc != VS_OK)
        goto out;
    b = sqlite3_bind_int64(st, 1, (int64_t)n);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 2, raw_total);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 3, stored_total);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 4, c.new_bytes);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 5, step);
    if (b != SQLITE_OK) {
        rc = vs__store_bindfail(st, b, "cannot save checkpoint to", path);
        goto out;
    }
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = vs__store_sqlfail(db, sqlite3_errcode(db),
                               "cannot save checkpoint to", path);
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (replaced) {
        rc = vs__store_free_orphans(db, path, NULL);
        if (rc != VS_OK)
            goto out;
    }
    sqlite3_finalize(c.find);
    sqlite3_finalize(c.ins_chunk);
    sqlite3_finalize(c.ins_tc);
    sqlite3_finalize(c.upd_tensor);
    sqlite3_finalize(c.cand_q);
    c.find = c.ins_chunk = c.ins_tc = c.upd_tensor = c.cand_q = NULL;
    s = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (s != SQLITE_OK) {
        rc = vs__store_sqlfail(db, s, "cannot commit checkpoint to", path);
        goto out;
    }
    in_tx = 0;
    committed = 1;

    /* Retention, after the save is durable. */
    {
        int keep = 0, found = 0;
        double hours = 0, v = 0;
        if (o != NULL && o->max_to_keep != 0) {
            keep = o->max_to_keep > 0 ? o->max_to_keep : 0; /* VS_KEEP_ALL */
        } else {
            rc = read_meta_num(db, path, "max_to_keep", &v, &found);
            if (rc != VS_OK)
                goto out;
            keep = found && v > 0 && v < 2147483647.0 ? (int)v : 0;
        }
        if (o != NULL && o->keep_checkpoint_every_n_hours != 0) {
            hours = o->keep_checkpoint_every_n_hours > 0
                        ? o->keep_checkpoint_every_n_hours
                        : 0; /* VS_KEEP_HOURS_OFF */
        } else {
            rc = read_meta_num(db, path, "keep_checkpoint_every_n_hours", &v,
                               &found);
            if (rc != VS_OK)
                goto out;
            hours = found && v > 0 ? v : 0;
        }
        rc = apply_retention(db, path, keep, hours, busy);
    }
out:
    sqlite3_finalize(st);
    sqlite3_finalize(c.cand_q);
    sqlite3_finalize(c.find);
    sqlite3_finalize(c.ins_chunk);
    sqlite3_finalize(c.ins_tc);
    sqlite3_finalize(c.upd_tensor);
    /* Already failing: the rollback's result cannot change the error (and
     * closing the connection rolls back in any case). */
    if (in_tx)
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    if (solo)
        vs__store_solo_end(db);
    vs__store_close(db);
    /* Last, once the connection (and a solo save's lock) is gone, so that
     * the callback may open the file; not after a failure (retention's,
     * once committed), whose message the callback could overwrite. */
    if (committed && rc == VS_OK)
        vs__progress_end(&c.pr);
    for (size_t k = 0; k < n_jobs; k++) {
        vs__buf_free(&c.jobs[k].out);
        vs__buf_free(&c.jobs[k].cand);
    }
    for (size_t k = 0; k < c.n_free; k++)
        vs__buf_free(&c.free_bufs[k]);
    for (int t = 0; t < MAX_THREADS; t++) {
        vs__ws_free(&c.ws[t]);
        vs__buf_free(&c.cmp[t]);
    }
    vs__ws_free(&c.main_ws);
    vs__free(c.free_bufs);
    vs__free(c.jobs);
    vs__free(c.scratch);
    return rc;
}

/* ---- public entry points ----------------------------------------------- */

int vs_save_tensors(const char *path, int64_t step, const char *const *names,
                    const vs_tensor *const *tensors, size_t n,
                    const vs_save_opts *opts)
{
    if (path == NULL || *path == '\0')
        return vs__fail(VS_EINVAL, "checkpoint path is NULL or empty");
    if (n == 0)
        return vs__fail(VS_EINVAL, "No variables to save");
    if (names == NULL || tensors == NULL)
        return vs__fail(VS_EINVAL, "names and tensors must not be NULL");
    save_item *items = vs__calloc(n, sizeof *items);
    if (items == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    int rc = VS_OK;
    for (size_t i = 0; i < n && rc == VS_OK; i++) {
        rc = check_key(names[i]);
        if (rc == VS_OK)
            rc = check_tensor(names[i], tensors[i], &items[i].nbytes,
                              &items[i].numel);
        items[i].key = names[i];
        items[i].t = tensors[i];
        if (rc == VS_OK)
            items[i].esize = vs__elem_size(tensors[i]->dtype);
    }
    if (rc == VS_OK)
        rc = save_items(path, step, items, n, opts, NULL);
    vs__free(items);
    return rc;
}

int vs_save_ex(vs_graph *g, const char *path, int64_t step,
               const vs_save_opts *opts)
{
    if (g == NULL)
        return vs__fail(VS_EINVAL, "graph is NULL");
    if (path == NULL || *path == '\0')
        return vs__fail(VS_EINVAL, "checkpoint path is NULL or empty");
    vs_var **vars = NULL;
    size_t n;
    int rc = VS_OK;
    if (opts != NULL && opts->vars != NULL) {
        n = opts->n_vars;
        if (n == 0)
            return vs__fail(VS_EINVAL, "No variables to save");
        size_t bytes;
        if (vs__mul_size(n, sizeof *vars, &bytes) != 0)
            return vs__fail(VS_EINVAL, "n_vars %zu is too large", n);
        vars = vs__malloc(bytes);
        if (vars == NULL)
            return vs__fail(VS_ENOMEM, "out of memory");
        memcpy(vars, opts->vars, bytes);
    } else {
        n = vs_get_collection(g, VS_GLOBAL_VARIABLES, NULL, NULL, 0);
        if (n == 0)
            return vs__fail(VS_EINVAL, "No variables to save");
        size_t bytes;
        if (vs__mul_size(n, sizeof *vars, &bytes) != 0)
            return vs__fail(VS_ENOMEM, "out of memory");
        vars = vs__malloc(bytes);
        if (vars == NULL)
            return vs__fail(VS_ENOMEM, "out of memory");
        size_t got = vs_get_collection(g, VS_GLOBAL_VARIABLES, NULL, vars, n);
        if (got != n) {
            vs__free(vars);
            return vs__fail(VS_ERROR, "the global variables changed");
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (vars[i] == NULL) {
            vs__free(vars);
            return vs__fail(VS_EINVAL, "variable %zu of the list is NULL", i);
        }
        if (vars[i]->g != g) {
            rc = vs__fail(VS_EINVAL, "variable %s belongs to another graph",
                          vars[i]->op_name);
            vs__free(vars);
            return rc;
        }
    }
    /* Partitioned variables: one tensor under the full name, assembled
     * from the parts (unless keys name each variable). */
    vs_partitioned **pvs = NULL;
    const char **gkeys = NULL;
    rc = vs__group_partitioned(vars,
                               opts != NULL && opts->vars != NULL
                                   ? opts->keys
                                   : NULL,
                               &n, &pvs, &gkeys);
    if (rc != VS_OK) {
        vs__free(vars);
        return rc;
    }
    save_item *items = vs__calloc(n, sizeof *items);
    vs_tensor **whole = vs__calloc(n, sizeof *whole);
    if (items == NULL || whole == NULL) {
        vs__free(items);
        vs__free(whole);
        vs__free(pvs);
        vs__free(gkeys);
        vs__free(vars);
        return vs__fail(VS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n && rc == VS_OK; i++) {
        vs_var *v = vars[i];
        const char *key = gkeys[i];
        rc = check_key(key);
        if (rc != VS_OK)
            break;
        items[i].key = key;
        items[i].var = v;
        if (pvs[i] != NULL) {
            int64_t shp[VS_MAX_DIMS];
            int nd = vs_partitioned_shape(pvs[i], shp);
            rc = vs_tensor_new(vs_partitioned_dtype(pvs[i]), nd, shp,
                               &whole[i]);
            if (rc == VS_OK)
                rc = vs__partitioned_gather(pvs[i], whole[i]->data);
            if (rc != VS_OK)
                break;
            items[i].t = whole[i];
        } else {
            if (!v->initialized || (v->value.data == NULL && v->nbytes > 0)) {
                rc = vs__fail(VS_EUNINIT,
                              "Attempting to use uninitialized value %s",
                              v->op_name);
                break;
            }
            items[i].t = &v->value;
        }
        rc = check_tensor(key, items[i].t, &items[i].nbytes,
                          &items[i].numel);
        items[i].esize = vs__elem_size(items[i].t->dtype);
    }
    if (rc == VS_OK)
        rc = save_items(path, step, items, n, opts, g);
    for (size_t i = 0; i < n; i++)
        vs_tensor_free(whole[i]);
    vs__free(whole);
    vs__free(items);
    vs__free(pvs);
    vs__free(gkeys);
    vs__free(vars);
    return rc;
}

int vs_save(vs_graph *g, const char *path, int64_t step)
{
    return vs_save_ex(g, path, step, NULL);
}
