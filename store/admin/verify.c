/* varstore: vs_verify: SQLite's quick_check, then every chunk decoded
 * and CRC-checked on the thread pool, then every step's rows, the rows
 * no read meets (verify_rows.c), and every tensor's chunk list, sizes
 * and CRC. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

typedef struct {
    int64_t id;
    int codec;
    size_t esize, len;
    uint32_t crc;
    vs__buf buf;
    size_t blob_len;
    int bad;
    char why[160];
} ver_job;


typedef struct {
    sqlite3 *db;
    const char *path;
    sqlite3_stmt *st;
    ver_job *jobs;
    vs__ws ws[VS_MAX_THREADS];
    vs__buf out[VS_MAX_THREADS];
    vs__buf free_bufs[4 * VS_MAX_THREADS + 4];
    size_t n_free;
    vs__progress pr;
} ver_ctx;

static int ver_prepare(void *vctx, size_t k, char *err, size_t cap)
{
    (void)err;
    (void)cap;
    ver_ctx *c = vctx;
    ver_job *j = &c->jobs[k];
    int s = sqlite3_step(c->st);
    if (s != SQLITE_ROW)
        return s == SQLITE_DONE
                   ? vs__fail(VS_ECORRUPT,
                              "checkpoint file %s is corrupt: chunk count "
                              "changed",
                              c->path)
                   : vs__store_sqlfail(c->db, s, "cannot read checkpoint file",
                                       c->path);
    j->id = sqlite3_column_int64(c->st, 0);
    j->codec = vs__codec_column(c->st, 1);
    int64_t es = sqlite3_column_int64(c->st, 2);
    int64_t raw = sqlite3_column_int64(c->st, 3);
    const void *d = sqlite3_column_blob(c->st, 5);
    int dl = sqlite3_column_bytes(c->st, 5);
    if (vs__crc_column(c->st, 4, &j->crc) != 0) {
        j->bad = 1;
        snprintf(j->why, sizeof j->why, "chunk %lld: bad CRC value",
                 (long long)j->id);
        return VS_OK;
    }
    if (es < 1 || es > 16 || raw < 0 || raw > (int64_t)VS_CHUNK_MAX ||
        raw % es != 0) {
        j->bad = 1;
        snprintf(j->why, sizeof j->why, "chunk %lld: bad sizes",
                 (long long)j->id);
        return VS_OK;
    }
    j->esize = (size_t)es;
    j->len = (size_t)raw;
    j->blob_len = (size_t)dl;
    if (c->n_free > 0)
        j->buf = c->free_bufs[--c->n_free];
    if (vs__buf_reserve(&j->buf, j->blob_len) != VS_OK)
        return vs__fail(VS_ENOMEM, "out of memory");
    if (dl > 0)
        memcpy(j->buf.p, d, j->blob_len);
    return VS_OK;
}

static int ver_work(void *vctx, size_t k, char *err, size_t cap)
{
    ver_ctx *c = vctx;
    ver_job *j = &c->jobs[k];
    if (j->bad)
        return VS_OK;
    int w = vs__pool_worker();
    if (vs__buf_reserve(&c->out[w], j->len) != VS_OK) {
        snprintf(err, cap, "out of memory");
        return VS_ENOMEM;
    }
    unsigned char *buf = c->out[w].p;
    char why[128];
    int rc = vs__chunk_decode_ws(j->codec, j->esize, j->buf.p, j->blob_len,
                                 buf, j->len, &c->ws[w], why, sizeof why);
    if (rc == VS_ENOMEM) {
        snprintf(err, cap, "%s", why);
        return rc;
    }
    if (rc != VS_OK) {
        j->bad = 1;
        snprintf(j->why, sizeof j->why, "%s", why);
    } else {
        uint32_t crc = vs__crc32(0, buf, j->len);
        if (crc != j->crc) {
            j->bad = 1;
            snprintf(j->why, sizeof j->why,
                     "CRC mismatch (stored 0x%08x, computed 0x%08x)",
                     (unsigned)j->crc, (unsigned)crc);
        }
    }
    return VS_OK;
}

static int ver_consume(void *vctx, size_t k, char *err, size_t cap)
{
    (void)err;
    (void)cap;
    ver_ctx *c = vctx;
    ver_job *j = &c->jobs[k];
    if (c->n_free < sizeof c->free_bufs / sizeof *c->free_bufs) {
        c->free_bufs[c->n_free++] = j->buf;
        j->buf.p = NULL;
        j->buf.cap = 0;
    } else {
        vs__buf_free(&j->buf);
    }
    vs__progress_add(&c->pr, j->len); /* 0 for a chunk with bad sizes */
    return VS_OK;
}

static int cmp_job_id(const void *key, const void *elem)
{
    int64_t a = *(const int64_t *)key, b = ((const ver_job *)elem)->id;
    return a < b ? -1 : a > b;
}
typedef struct {
    ver_ctx c;
    size_t n_chunks, bad_count;
    char first[VS_ERRMSG_MAX]; /* the first problem found */
} verify_run;

/* A tensor or chunk problem: counted, the first one kept. */
static void note_bad(verify_run *v, const char *why)
{
    if (v->bad_count == 0)
        snprintf(v->first, sizeof v->first, "%s", why);
    v->bad_count++;
}

static void note_bad_cb(void *v, const char *why)
{
    note_bad(v, why);
}

/* SQLite's quick_check. A page it cannot get is reported as a problem row
 * also when the cause was a failed allocation: a problem is damage only
 * when a second check finds it again. */
static int quick_check_once(sqlite3 *db, const char *path, size_t *n_bad)
{
    sqlite3_stmt *st;
    int rc = vs__store_prepare(db, "PRAGMA quick_check", &st, path);
    if (rc != VS_OK)
        return rc;
    int s = sqlite3_step(st);
    if (s != SQLITE_ROW) {
        rc = vs__store_sqlfail(db, s, "cannot check checkpoint file", path);
    } else {
        const char *qc = (const char *)sqlite3_column_text(st, 0);
        if (qc == NULL || strcmp(qc, "ok") != 0) {
            rc = vs__fail(VS_ECORRUPT, "checkpoint file %s is corrupt: %s",
                          path, qc != NULL ? qc : "quick_check failed");
            if (n_bad != NULL)
                *n_bad = 1;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static int quick_check(sqlite3 *db, const char *path, size_t *n_bad)
{
    int rc = quick_check_once(db, path, n_bad);
    if (rc == VS_ECORRUPT) {
        if (n_bad != NULL)
            *n_bad = 0;
        rc = quick_check_once(db, path, n_bad);
    }
    return rc;
}

/* The chunk count, and the raw bytes the chunk pass will check (the
 * chunks whose sizes ver_prepare accepts): the progress total. */
static int count_chunks(verify_run *v, double *raw_sum)
{
    ver_ctx *c = &v->c;
    sqlite3_stmt *st;
    int rc = vs__store_prepare(c->db,
                               "SELECT count(*), total(CASE WHEN elem_size "
                               "BETWEEN 1 AND 16 AND raw_bytes BETWEEN 0 AND "
                               "?1 AND raw_bytes % elem_size = 0 THEN "
                               "raw_bytes ELSE 0 END) FROM chunks",
                               &st, c->path);
    if (rc != VS_OK)
        return rc;
    int b = sqlite3_bind_int64(st, 1, (int64_t)VS_CHUNK_MAX);
    int s = b == SQLITE_OK ? sqlite3_step(st) : SQLITE_OK;
    if (b != SQLITE_OK)
        rc = vs__store_bindfail(st, b, "cannot read checkpoint file", c->path);
    else if (s != SQLITE_ROW)
        rc = vs__store_sqlfail(c->db, s, "cannot read checkpoint file",
                               c->path);
    int64_t cnt = rc == VS_OK ? sqlite3_column_int64(st, 0) : 0;
    *raw_sum = rc == VS_OK ? sqlite3_column_double(st, 1) : 0;
    sqlite3_finalize(st);
    if (rc != VS_OK)
        return rc;
    if (cnt < 0 || (uint64_t)cnt > SIZE_MAX / sizeof *c->jobs)
        return vs__fail(VS_ENOMEM, "out of memory");
    v->n_chunks = (size_t)cnt;
    return VS_OK;
}

/* Every chunk decoded and CRC-checked (results in c->jobs, by id). */
static int check_chunks(verify_run *v, const vs_verify_opts *opts)
{
    ver_ctx *c = &v->c;
    double raw_sum = 0;
    int rc = count_chunks(v, &raw_sum);
    if (rc != VS_OK)
        return rc;
    vs__progress_init(&c->pr, opts != NULL ? opts->progress : NULL,
                      opts != NULL ? opts->progress_ctx : NULL,
                      raw_sum > 0 && raw_sum < 1.8e19 ? (uint64_t)raw_sum
                                                      : 0);
    c->jobs = vs__calloc(v->n_chunks ? v->n_chunks : 1, sizeof *c->jobs);
    if (c->jobs == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    rc = vs__store_prepare(c->db,
                           "SELECT id, codec, elem_size, raw_bytes, crc32, "
                           "data FROM chunks ORDER BY id",
                           &c->st, c->path);
    if (rc != VS_OK)
        return rc;
    int t = vs__pool_threads(opts != NULL ? opts->threads : 0);
    if (t > VS_MAX_THREADS)
        t = VS_MAX_THREADS;
    return vs__pool_run(t, v->n_chunks, (size_t)t * 4, c, ver_prepare,
                        ver_work, ver_consume);
}

/* Walks it's chunk list (tq bound to its id): sequence, sizes, element
 * size, each chunk's check, then the tensor's size and CRC. why gets the
 * problem ("" when none). */
static int walk_tensor(verify_run *v, sqlite3_stmt *tq,
                       const vs__load_item *it, char *why, size_t cap)
{
    const char *path = v->c.path;
    size_t seq = 0, sum = 0;
    uint32_t crc = 0;
    int s = SQLITE_DONE;
    while (why[0] == '\0' && (s = sqlite3_step(tq)) == SQLITE_ROW) {
        int64_t cid = sqlite3_column_int64(tq, 1);
        int64_t raw = sqlite3_column_int64(tq, 2);
        const ver_job *j = bsearch(&cid, v->c.jobs, v->n_chunks,
                                   sizeof *v->c.jobs, cmp_job_id);
        if (sqlite3_column_int64(tq, 0) != (int64_t)seq ||
            sqlite3_column_type(tq, 2) == SQLITE_NULL || j == NULL ||
            sqlite3_column_int64(tq, 4) != (int64_t)it->esize || raw < 0 ||
            (uint64_t)raw > it->nbytes - sum)
            snprintf(why, cap,
                     "checkpoint file %s is corrupt: tensor %s at step %lld, "
                     "chunk %zu: sizes do not add up",
                     path, it->key, (long long)it->step, seq);
        else if (j->bad)
            snprintf(why, cap,
                     "checkpoint file %s is corrupt: tensor %s at step %lld, "
                     "chunk %zu: %s",
                     path, it->key, (long long)it->step, seq, j->why);
        else {
            crc = seq == 0 ? j->crc : vs__crc32_combine(crc, j->crc, j->len);
            sum += (size_t)raw;
            seq++;
        }
    }
    if (why[0] == '\0' && s != SQLITE_DONE)
        return vs__store_sqlfail(v->c.db, s, "cannot read checkpoint file",
                                 path);
    if (why[0] == '\0' && (seq != it->n_chunks || sum != it->nbytes))
        snprintf(why, cap,
                 "checkpoint file %s is corrupt: tensor %s at step %lld: "
                 "sizes do not add up",
                 path, it->key, (long long)it->step);
    else if (why[0] == '\0' && crc != it->crc)
        snprintf(why, cap,
                 "checkpoint file %s is corrupt: tensor %s at step %lld: CRC "
                 "mismatch (stored 0x%08x, computed 0x%08x)",
                 path, it->key, (long long)it->step, (unsigned)it->crc,
                 (unsigned)crc);
    return VS_OK;
}

/* One tensor row: its lookup checks, then its chunks. */
static int check_tensor(verify_run *v, sqlite3_stmt *tq, int64_t step,
                        const char *name)
{
    vs__load_item it;
    memset(&it, 0, sizeof it);
    it.key = name;
    char why[VS_ERRMSG_MAX];
    why[0] = '\0';
    int rc = vs__load_lookup(v->c.db, v->c.path, step, &it, 1);
    if (rc == VS_ENOMEM)
        return rc;
    if (rc != VS_OK) {
        snprintf(why, sizeof why, "%s", vs_errmsg());
    } else {
        sqlite3_reset(tq);
        int b = sqlite3_bind_int64(tq, 1, it.tensor_id);
        if (b != SQLITE_OK)
            return vs__store_bindfail(tq, b, "cannot read checkpoint file",
                                      v->c.path);
        rc = walk_tensor(v, tq, &it, why, sizeof why);
        sqlite3_reset(tq);
        if (rc != VS_OK)
            return rc;
    }
    if (why[0] != '\0')
        note_bad(v, why);
    return VS_OK;
}

/* Every checkpoint row against its tensor rows (count, names' CRC). */
static int check_steps(verify_run *v)
{
    sqlite3_stmt *st = NULL;
    int rc = vs__store_prepare(v->c.db,
                               "SELECT step FROM checkpoints ORDER BY step",
                               &st, v->c.path);
    int s = SQLITE_DONE;
    while (rc == VS_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        rc = vs__store_check_step(v->c.db, v->c.path,
                                  sqlite3_column_int64(st, 0));
        if (rc == VS_ECORRUPT) {
            note_bad(v, vs_errmsg());
            rc = VS_OK;
        }
    }
    if (rc == VS_OK && s != SQLITE_DONE)
        rc = vs__store_sqlfail(v->c.db, s, "cannot read checkpoint file",
                               v->c.path);
    sqlite3_finalize(st);
    return rc;
}

/* Every tensor: chunk list, sizes, CRCs. */
static int check_tensors(verify_run *v)
{
    sqlite3_stmt *st = NULL, *tq = NULL;
    int rc = vs__store_prepare(v->c.db,
                               "SELECT id, step, name FROM tensors ORDER BY "
                               "step, name",
                               &st, v->c.path);
    if (rc == VS_OK)
        rc = vs__store_prepare(v->c.db,
                               "SELECT tc.seq, tc.chunk_id, c.raw_bytes, "
                               "c.crc32, c.elem_size FROM tensor_chunks tc "
                               "LEFT JOIN chunks c ON c.id = tc.chunk_id "
                               "WHERE tc.tensor_id=?1 ORDER BY tc.seq",
                               &tq, v->c.path);
    int s = SQLITE_DONE;
    while (rc == VS_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 2);
        char *key = vs__strdup(name != NULL ? name : "");
        if (key == NULL)
            rc = vs__fail(VS_ENOMEM, "out of memory");
        else
            rc = check_tensor(v, tq, sqlite3_column_int64(st, 1), key);
        vs__free(key);
    }
    if (rc == VS_OK && s != SQLITE_DONE)
        rc = vs__store_sqlfail(v->c.db, s, "cannot read checkpoint file",
                               v->c.path);
    sqlite3_finalize(st);
    sqlite3_finalize(tq);
    return rc;
}

static void verify_run_free(verify_run *v)
{
    ver_ctx *c = &v->c;
    sqlite3_finalize(c->st);
    for (size_t k = 0; c->jobs != NULL && k < v->n_chunks; k++)
        vs__buf_free(&c->jobs[k].buf);
    for (size_t k = 0; k < c->n_free; k++)
        vs__buf_free(&c->free_bufs[k]);
    for (int w = 0; w < VS_MAX_THREADS; w++) {
        vs__ws_free(&c->ws[w]);
        vs__buf_free(&c->out[w]);
    }
    vs__free(c->jobs);
}

int vs_verify(const char *path, size_t *n_bad)
{
    return vs_verify_ex(path, NULL, n_bad);
}

int vs_verify_ex(const char *path, const vs_verify_opts *opts, size_t *n_bad)
{
    if (n_bad != NULL)
        *n_bad = 0;
    if (opts != NULL && opts->threads < 0)
        return vs__fail(VS_EINVAL, "threads must be >= 0, got %d",
                        opts->threads);
    sqlite3 *db = NULL;
    int rc = vs__store_open_read(path, &db);
    if (rc != VS_OK)
        return rc;
    verify_run *v = vs__calloc(1, sizeof *v);
    if (v == NULL)
        return vs__store_close_read(db, path,
                                    vs__fail(VS_ENOMEM, "out of memory"));
    for (size_t w = 0; w < VS_MAX_THREADS; w++)
        v->c.ws[w].strict = 1; /* every byte zlib would check, checked */
    v->c.db = db;
    v->c.path = path;
    rc = quick_check(db, path, n_bad);
    if (rc == VS_OK)
        rc = vs__store_check_sql_objects(db, path);
    if (rc == VS_ECORRUPT && n_bad != NULL)
        *n_bad = 1;
    if (rc == VS_OK)
        rc = check_chunks(v, opts);
    if (rc == VS_OK)
        rc = check_steps(v);
    if (rc == VS_OK)
        rc = vs__verify_rows(db, path, note_bad_cb, v);
    if (rc == VS_OK)
        rc = check_tensors(v);
    if (rc == VS_OK) {
        if (n_bad != NULL)
            *n_bad = v->bad_count;
        vs__progress_end(&v->c.pr); /* everything was checked */
        if (v->bad_count > 0)
            rc = vs__fail(VS_ECORRUPT, "%s", v->first);
    }
    verify_run_free(v);
    vs__free(v);
    return vs__store_close_read(db, path, rc);
}
