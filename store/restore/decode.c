/* varstore: reading checkpoints (vs_restore, vs_restore_ex,
 * vs_load_variable, vs_list_variables, vs_init_from_checkpoint). Every
 * chunk is decoded and CRC-checked on a thread pool before any variable
 * changes. */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_int.h"
#include "ops_int.h"
#include "store_int.h"

/* ---- lookup ------------------------------------------------------------ */

int vs__load_lookup(sqlite3 *db, const char *path, int64_t step,
                    vs__load_item *items, size_t n)
{
    sqlite3_stmt *st;
    int rc = vs__store_prepare(db,
                               "SELECT id, dtype, shape, numel, n_chunks, "
                               "raw_bytes, crc32 FROM tensors WHERE step=?1 "
                               "AND name=?2",
                               &st, path);
    if (rc != VS_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        vs__load_item *it = &items[i];
        sqlite3_reset(st);
        int b = sqlite3_bind_int64(st, 1, step);
        if (b == SQLITE_OK)
            b = sqlite3_bind_text(st, 2, it->key, -1, SQLITE_STATIC);
        if (b != SQLITE_OK) {
            rc = vs__store_bindfail(st, b, "cannot read checkpoint file",
                                    path);
            break;
        }
        int s = sqlite3_step(st);
        if (s == SQLITE_DONE) {
            rc = vs__fail(VS_ENOTFOUND, "Key %s not found in checkpoint",
                          it->key);
            break;
        }
        if (s != SQLITE_ROW) {
            rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
            break;
        }
        const char *dts = (const char *)sqlite3_column_text(st, 1);
        const char *shs = (const char *)sqlite3_column_text(st, 2);
        int64_t numel = sqlite3_column_int64(st, 3);
        int64_t nch = sqlite3_column_int64(st, 4);
        int64_t raw = sqlite3_column_int64(st, 5);
        it->tensor_id = sqlite3_column_int64(st, 0);
        it->crc = (uint32_t)sqlite3_column_int64(st, 6);
        it->step = step;
        int bad = vs__dtype_parse(dts, &it->dtype) != 0 ||
                  vs__parse_shape_json(shs, &it->ndim, it->shape) != 0;
        uint64_t count = 1;
        for (int d = 0; !bad && d < it->ndim; d++) {
            if (it->shape[d] != 0 &&
                count > (uint64_t)INT64_MAX / (uint64_t)it->shape[d])
                bad = 1;
            else
                count *= (uint64_t)it->shape[d];
        }
        if (!bad) {
            it->esize = vs__elem_size(it->dtype);
            bad = (uint64_t)numel != count || raw < 0 ||
                  count > (uint64_t)INT64_MAX / it->esize ||
                  (uint64_t)raw != count * it->esize ||
                  (uint64_t)raw > SIZE_MAX || nch < 0 ||
                  (raw == 0) != (nch == 0) ||
                  (uint64_t)nch > (uint64_t)raw / it->esize;
        }
        if (bad) {
            rc = vs__fail(VS_ECORRUPT,
                          "checkpoint file %s is corrupt: tensor %s at step "
                          "%lld: sizes do not add up",
                          path, it->key, (long long)step);
            break;
        }
        it->nbytes = (size_t)raw;
        it->n_chunks = (size_t)nch;
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- decode ------------------------------------------------------------ */

typedef struct {
    size_t item, seq, off;
    int codec;
    size_t esize, len;
    uint32_t crc;
    vs__buf buf; /* copy of the stored bytes (recycled) */
    unsigned char *blob; /* NULL: a raw chunk read straight into place */
    size_t blob_len;
    /* streaming (vs_ckpt_stream) only: */
    int skip;   /* a begin callback failed before this job: nothing to do */
    int rc;     /* work's failure, reported when the job is consumed */
    char *msg;  /* its message (vs__malloc'ed), or NULL */
} load_job;

#define MAX_THREADS 64

typedef struct {
    sqlite3 *db;
    const char *path;
    vs__load_item *items;
    load_job *jobs;
    sqlite3_stmt *st; /* chunk list of the current item */
    sqlite3_blob *blob; /* incremental reader on chunks.data */
    size_t cur_off;
    uint32_t cur_crc;
    vs__ws ws[MAX_THREADS];
    vs__buf *free_bufs;
    size_t n_free, free_cap;
    vs__progress *pr; /* may be NULL */
    /* vs_ckpt_stream: chunks go to the sink, decoded into the worker's own
     * outb (each chunk's bytes live only during the write call). */
    const vs_stream_sink *sink; /* NULL: decode into items[i].dst */
    vs__buf outb[MAX_THREADS];
    size_t next_begin;   /* items before it have had begin called */
    size_t next_end;     /* items before it have ended */
    int stop_rc;         /* a failure in the calling thread's order (a
                            begin; an end or the CRC of an item of no
                            bytes): nothing after it begins */
    char *stop_msg;      /* its message (vs__malloc'ed; NULL: no memory) */
    atomic_size_t fail_k; /* lowest job whose work failed; SIZE_MAX: none */
} load_ctx;

static int corrupt(load_ctx *c, const vs__load_item *it, size_t seq,
                   const char *why)
{
    return vs__fail(VS_ECORRUPT,
                    "checkpoint file %s is corrupt: tensor %s at step %lld, "
                    "chunk %zu: %s",
                    c->path, it->key, (long long)it->step, seq, why);
}

/* Job k failed: later jobs need not do their work (they are never
 * consumed). Any thread. */
static void fail_at(load_ctx *c, size_t k)
{
    size_t fk = atomic_load(&c->fail_k);
    while (k < fk && !atomic_compare_exchange_weak(&c->fail_k, &fk, k))
        ;
}

/* vs_ckpt_stream: a failure met by the calling thread in tensor order,
 * reported once the items before it have ended. */
static void stream_stop(load_ctx *c, int rc, char *msg)
{
    if (c->stop_rc != 0) {
        vs__free(msg);
        return;
    }
    c->stop_rc = rc;
    c->stop_msg = msg;
}

/* Ends every item of no bytes from next_end on, below limit, while all
 * before it have ended (they have no job whose consume would end them). */
static int stream_end_empty(load_ctx *c, size_t limit)
{
    const vs_stream_sink *sk = c->sink;
    while (c->next_end < limit && c->items[c->next_end].n_chunks == 0) {
        size_t i = c->next_end;
        int r = sk->end != NULL ? sk->end(sk->ctx, i) : 0;
        if (r != 0)
            return vs__fail(r,
                            "reading checkpoint file %s stopped: the "
                            "stream's end failed on tensor %s",
                            c->path, c->items[i].key);
        c->next_end = i + 1;
    }
    return VS_OK;
}

/* Begin for every item from next_begin through `last`, in order. An item
 * of no bytes ends at once if every item before it has ended, else after
 * the one before it (load_consume). A failure stops the calls
 * (stream_stop). */
static void stream_begin_through(load_ctx *c, size_t last)
{
    const vs_stream_sink *sk = c->sink;
    for (; c->stop_rc == 0 && c->next_begin <= last; c->next_begin++) {
        size_t i = c->next_begin;
        const vs__load_item *it = &c->items[i];
        if (it->n_chunks == 0 && it->crc != 0) {
            stream_stop(c, VS_ECORRUPT,
                        vs__asprintf("checkpoint file %s is corrupt: tensor "
                                     "%s at step %lld: CRC mismatch (stored "
                                     "0x%08x, computed 0x00000000)",
                                     c->path, it->key, (long long)it->step,
                                     (unsigned)it->crc));
            break;
        }
        int r = sk->begin != NULL ? sk->begin(sk->ctx, i) : 0;
        if (r != 0) {
            stream_stop(c, r,
                        vs__asprintf("reading checkpoint file %s stopped: "
                                     "the stream's begin failed on tensor %s",
                                     c->path, it->key));
            break;
        }
        if (it->n_chunks == 0 && c->next_end == i) {
            int e = stream_end_empty(c, i + 1);
            if (e != VS_OK) {
                stream_stop(c, e, vs__strdup(vs_errmsg()));
                break;
            }
        }
    }
}

static int prepare_chunk(load_ctx *c, load_job *j, vs__load_item *it);

static int load_prepare(void *vctx, size_t k, char *err, size_t cap)
{
    (void)err;
    (void)cap;
    load_ctx *c = vctx;
    load_job *j = &c->jobs[k];
    vs__load_item *it = &c->items[j->item];
    if (c->sink != NULL) {
        /* A tensor begins before its first chunk is read. After a failure
         * here (a begin, or reading the chunk: prepare_chunk's), the jobs
         * left pass through doing nothing, and the failure is reported
         * when this job is consumed: the tensors before it are still
         * delivered and ended, in order. */
        if (c->stop_rc != 0) {
            j->skip = 1;
            return VS_OK;
        }
        if (j->seq == 0)
            stream_begin_through(c, j->item);
        if (c->stop_rc == 0) {
            int rc = prepare_chunk(c, j, it);
            if (rc != VS_OK)
                stream_stop(c, rc, vs__strdup(vs_errmsg()));
        }
        if (c->stop_rc != 0) {
            /* this job reports it; the ones after it are skipped */
            j->rc = c->stop_rc;
            j->msg = c->stop_msg;
            c->stop_msg = NULL;
            fail_at(c, k);
        }
        return VS_OK;
    }
    return prepare_chunk(c, j, it);
}

/* Reads chunk j->seq of it: its row, and its stored bytes into the job's
 * buffer (or, a raw chunk of a load into memory, straight into place). */
static int prepare_chunk(load_ctx *c, load_job *j, vs__load_item *it)
{
    if (j->seq == 0) {
        sqlite3_reset(c->st);
        int b = sqlite3_bind_int64(c->st, 1, it->tensor_id);
        if (b != SQLITE_OK)
            return vs__store_bindfail(c->st, b, "cannot read checkpoint file",
                                      c->path);
        c->cur_off = 0;
    }
    int s = sqlite3_step(c->st);
    if (s == SQLITE_DONE)
        return corrupt(c, it, j->seq, "chunk missing");
    if (s != SQLITE_ROW)
        return vs__store_sqlfail(c->db, s, "cannot read checkpoint file",
                                 c->path);
    int64_t seq = sqlite3_column_int64(c->st, 0);
    j->codec = sqlite3_column_int(c->st, 1);
    int64_t es = sqlite3_column_int64(c->st, 2);
    int64_t raw = sqlite3_column_int64(c->st, 3);
    j->crc = (uint32_t)sqlite3_column_int64(c->st, 4);
    int64_t chunk_id = sqlite3_column_int64(c->st, 5);
    if (seq != (int64_t)j->seq || es != (int64_t)it->esize || raw <= 0 ||
        (uint64_t)raw > it->nbytes - c->cur_off ||
        (j->seq + 1 == it->n_chunks &&
         (uint64_t)raw != it->nbytes - c->cur_off))
        return corrupt(c, it, j->seq, "sizes do not add up");
    j->len = (size_t)raw;
    j->esize = it->esize;
    j->off = c->cur_off;
    c->cur_off += j->len;
    /* The stored bytes are read with an incremental blob handle, straight
     * into their destination: no value assembled by SQLite and copied. */
    int b = c->blob == NULL
                ? sqlite3_blob_open(c->db, "main", "chunks", "data", chunk_id,
                                    0, &c->blob)
                : sqlite3_blob_reopen(c->blob, chunk_id);
    if (b == SQLITE_ERROR) /* no such row, or data is not a blob */
        return corrupt(c, it, j->seq, sqlite3_errmsg(c->db));
    if (b != SQLITE_OK)
        return vs__store_sqlfail(c->db, b, "cannot read checkpoint file",
                                 c->path);
    int dlen = sqlite3_blob_bytes(c->blob);
    j->blob_len = dlen > 0 ? (size_t)dlen : 0;
    unsigned char *to;
    if (j->codec == VS_CHUNK_RAW && j->blob_len != j->len)
        return corrupt(c, it, j->seq, "raw chunk size differs");
    if (j->codec == VS_CHUNK_RAW && c->sink == NULL) {
        /* Stored as is: read into place, and only the CRC is left. */
        j->blob = NULL;
        to = it->dst + j->off;
    } else {
        if (c->n_free > 0)
            j->buf = c->free_bufs[--c->n_free];
        if (vs__buf_reserve(&j->buf, j->blob_len) != VS_OK)
            return vs__fail(VS_ENOMEM, "out of memory");
        j->blob = j->buf.p;
        to = j->blob;
    }
    if (dlen > 0) {
        b = sqlite3_blob_read(c->blob, to, dlen, 0);
        if (b != SQLITE_OK)
            return vs__store_sqlfail(c->db, b, "cannot read checkpoint file",
                                     c->path);
    }
    if (j->seq + 1 == it->n_chunks) {
        s = sqlite3_step(c->st);
        if (s == SQLITE_ROW)
            return corrupt(c, it, j->seq + 1, "more chunks than recorded");
        if (s != SQLITE_DONE)
            return vs__store_sqlfail(c->db, s, "cannot read checkpoint file",
                                     c->path);
    }
    return VS_OK;
}

/* Decodes job j's stored bytes blob (NULL: dst already holds the raw
 * chunk) into dst, then checks the chunk CRC of dst's j->len bytes. */
static int decode_check(load_ctx *c, const load_job *j,
                        const unsigned char *blob, unsigned char *dst,
                        char *why, size_t cap)
{
    if (blob != NULL) {
        int rc = vs__chunk_decode_ws(j->codec, j->esize, blob, j->blob_len,
                                     dst, j->len, &c->ws[vs__pool_worker()],
                                     why, cap);
        if (rc != VS_OK)
            return rc;
    }
    uint32_t crc = vs__crc32(0, dst, j->len);
    if (crc != j->crc) {
        snprintf(why, cap, "CRC mismatch (stored 0x%08x, computed 0x%08x)",
                 (unsigned)j->crc, (unsigned)crc);
        return VS_ECORRUPT;
    }
    return VS_OK;
}

/* vs_ckpt_stream's work: decode into the worker's buffer, check the CRC,
 * hand the bytes to the sink. A failure is kept in the job and reported
 * when the job is consumed, in order, so that every tensor before it is
 * still ended; jobs after the lowest failed one skip their work (they are
 * never consumed). */
static int stream_work(load_ctx *c, size_t k)
{
    load_job *j = &c->jobs[k];
    vs__load_item *it = &c->items[j->item];
    const vs_stream_sink *sk = c->sink;
    char why[256];
    const unsigned char *data = j->blob;
    int rc = VS_OK;
    if (j->skip || j->rc != 0 || k > atomic_load(&c->fail_k))
        return VS_OK;
    if (j->codec == VS_CHUNK_RAW) {
        rc = decode_check(c, j, NULL, j->blob, why, sizeof why);
    } else {
        vs__buf *ob = &c->outb[vs__pool_worker()];
        if (vs__buf_reserve(ob, j->len) != VS_OK) {
            rc = VS_ENOMEM;
            snprintf(why, sizeof why, "out of memory");
        } else {
            rc = decode_check(c, j, j->blob, ob->p, why, sizeof why);
            data = ob->p;
        }
    }
    char *msg = NULL;
    if (rc == VS_ECORRUPT)
        msg = vs__asprintf("checkpoint file %s is corrupt: tensor %s at step "
                           "%lld, chunk %zu: %s",
                           c->path, it->key, (long long)it->step, j->seq, why);
    else if (rc != VS_OK)
        msg = vs__asprintf("%s", why);
    else {
        rc = sk->write(sk->ctx, j->item, (uint64_t)j->off, data, j->len);
        if (rc != 0)
            msg = vs__asprintf("reading checkpoint file %s stopped: the "
                               "stream's write failed on tensor %s",
                               c->path, it->key);
    }
    if (rc == 0)
        return VS_OK;
    j->rc = rc;
    j->msg = msg; /* NULL: out of memory for the message */
    fail_at(c, k);
    return VS_OK;
}

static int load_work(void *vctx, size_t k, char *err, size_t cap)
{
    load_ctx *c = vctx;
    load_job *j = &c->jobs[k];
    vs__load_item *it = &c->items[j->item];
    char why[256];
    if (c->sink != NULL)
        return stream_work(c, k);
    int rc = decode_check(c, j, j->blob, it->dst + j->off, why, sizeof why);
    if (rc != VS_OK) {
        if (rc == VS_ECORRUPT)
            snprintf(err, cap,
                     "checkpoint file %s is corrupt: tensor %s at step %lld, "
                     "chunk %zu: %s",
                     c->path, it->key, (long long)it->step, j->seq, why);
        else
            snprintf(err, cap, "%s", why);
    }
    return rc;
}

static int load_consume(void *vctx, size_t k, char *err, size_t cap)
{
    (void)err;
    (void)cap;
    load_ctx *c = vctx;
    load_job *j = &c->jobs[k];
    vs__load_item *it = &c->items[j->item];
    if (j->rc != 0)
        return j->msg != NULL ? vs__fail(j->rc, "%s", j->msg)
                              : vs__fail(j->rc, "out of memory");
    if (j->skip)
        return VS_OK;
    if (c->n_free < c->free_cap) {
        c->free_bufs[c->n_free++] = j->buf;
        j->buf.p = NULL;
        j->buf.cap = 0;
    } else {
        vs__buf_free(&j->buf);
    }
    j->blob = NULL;
    c->cur_crc = j->seq == 0 ? j->crc
                             : vs__crc32_combine(c->cur_crc, j->crc, j->len);
    if (j->seq + 1 == it->n_chunks && c->cur_crc != it->crc)
        return vs__fail(VS_ECORRUPT,
                        "checkpoint file %s is corrupt: tensor %s at step "
                        "%lld: CRC mismatch (stored 0x%08x, computed 0x%08x)",
                        c->path, it->key, (long long)it->step,
                        (unsigned)it->crc, (unsigned)c->cur_crc);
    vs__progress_add(c->pr, j->len);
    if (c->sink != NULL && j->seq + 1 == it->n_chunks) {
        int r = c->sink->end != NULL ? c->sink->end(c->sink->ctx, j->item)
                                     : 0;
        if (r != 0)
            return vs__fail(r,
                            "reading checkpoint file %s stopped: the "
                            "stream's end failed on tensor %s",
                            c->path, it->key);
        /* the items of no bytes after it, begun already, end now */
        c->next_end = j->item + 1;
        return stream_end_empty(c, c->next_begin);
    }
    return VS_OK;
}

/* A failure stream_begin_through met after the last job, if any. */
static int sink_result(load_ctx *c)
{
    if (c->stop_rc == 0)
        return VS_OK;
    int rc = c->stop_msg != NULL ? vs__fail(c->stop_rc, "%s", c->stop_msg)
                                 : vs__fail(c->stop_rc, "out of memory");
    vs__free(c->stop_msg);
    c->stop_msg = NULL;
    return rc;
}

static int load_run(sqlite3 *db, const char *path, vs__load_item *items,
                    size_t n, int threads, vs__progress *pr,
                    const vs_stream_sink *sink)
{
    size_t n_jobs = 0;
    for (size_t i = 0; i < n; i++) {
        /* (a stream meets this in order: stream_begin_through) */
        if (sink == NULL && items[i].n_chunks == 0 && items[i].crc != 0)
            return vs__fail(VS_ECORRUPT,
                            "checkpoint file %s is corrupt: tensor %s at step "
                            "%lld: CRC mismatch (stored 0x%08x, computed "
                            "0x00000000)",
                            path, items[i].key, (long long)items[i].step,
                            (unsigned)items[i].crc);
        if (vs__add_size(n_jobs, items[i].n_chunks, &n_jobs) != 0)
            return vs__fail(VS_ECORRUPT, "checkpoint file %s is corrupt",
                            path);
    }
    load_ctx c;
    memset(&c, 0, sizeof c);
    c.db = db;
    c.path = path;
    c.items = items;
    c.pr = pr;
    c.sink = sink;
    atomic_init(&c.fail_k, SIZE_MAX);
    if (n_jobs == 0) {
        if (sink != NULL && n > 0)
            stream_begin_through(&c, n - 1);
        return sink_result(&c);
    }
    int t = vs__pool_threads(threads);
    if (t > MAX_THREADS)
        t = MAX_THREADS;
    c.jobs = vs__calloc(n_jobs, sizeof *c.jobs);
    c.free_cap = (size_t)t * 4 + 4;
    c.free_bufs = vs__calloc(c.free_cap, sizeof *c.free_bufs);
    if (c.jobs == NULL || c.free_bufs == NULL) {
        vs__free(c.jobs);
        vs__free(c.free_bufs);
        return vs__fail(VS_ENOMEM, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t q = 0; q < items[i].n_chunks; q++, k++) {
            c.jobs[k].item = i;
            c.jobs[k].seq = q;
        }
    }
    int rc = vs__store_prepare(db,
                               "SELECT tc.seq, c.codec, c.elem_size, "
                               "c.raw_bytes, c.crc32, c.id FROM "
                               "tensor_chunks tc JOIN chunks c ON c.id = "
                               "tc.chunk_id WHERE tc.tensor_id=?1 ORDER BY "
                               "tc.seq",
                               &c.st, path);
    if (rc == VS_OK)
        rc = vs__pool_run(t, n_jobs, (size_t)t * 4, &c, load_prepare,
                          load_work, load_consume);
    /* Items after the last chunked one have no job: they begin (and end)
     * here. */
    if (rc == VS_OK && sink != NULL) {
        stream_begin_through(&c, n - 1);
        rc = sink_result(&c);
    }
    sqlite3_finalize(c.st);
    /* A read-only handle: closing it cannot fail in a way that matters. */
    (void)sqlite3_blob_close(c.blob);
    for (k = 0; k < n_jobs; k++) {
        vs__buf_free(&c.jobs[k].buf);
        vs__free(c.jobs[k].msg);
    }
    vs__free(c.stop_msg);
    for (k = 0; k < c.n_free; k++)
        vs__buf_free(&c.free_bufs[k]);
    for (int w = 0; w < MAX_THREADS; w++) {
        vs__ws_free(&c.ws[w]);
        vs__buf_free(&c.outb[w]);
    }
    vs__free(c.free_bufs);
    vs__free(c.jobs);
    return rc;
}

int vs__load_decode(sqlite3 *db, const char *path, vs__load_item *items,
                    size_t n, int threads, vs__progress *pr)
{
    return load_run(db, path, items, n, threads, pr, NULL);
}

/* ---- restore into variables -------------------------------------------- */

static void brackets(int ndim, const int64_t *shape, char *buf, size_t cap)
{
    vs__shape_brackets(ndim, shape, buf, cap);
}

int vs__group_partitioned(vs_var **vars, const char *const *keys, size_t *n,
                          vs_partitioned ***pvs_out, const char ***keys_out)
{
    size_t cnt = *n, m = 0;
    vs_partitioned **pvs = vs__calloc(cnt ? cnt : 1, sizeof *pvs);
    const char **ko = vs__calloc(cnt ? cnt : 1, sizeof *ko);
    unsigned char *seen = NULL;
    int rc = VS_OK;
    *pvs_out = NULL;
    *keys_out = NULL;
    if (pvs == NULL || ko == NULL) {
        rc = vs__fail(VS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < cnt; i++) {
        vs_var *v = vars[i];
        vs_partitioned *p = keys == NULL ? v->part_of : NULL;
        if (p == NULL) {
            pvs[m] = NULL;
            ko[m] = keys != NULL ? keys[i] : v->op_name;
            vars[m++] = v;
            continue;
        }
        int dup = 0;
        for (size_t k = 0; k < m && !dup; k++)
            dup = pvs[k] == p;
        if (dup)
            continue;
        /* Every part, once each, must be listed (from here on). */
        size_t np = vs_partitioned_num_parts(p), got = 0;
        seen = vs__calloc(np ? np : 1, 1);
        if (seen == NULL) {
            rc = vs__fail(VS_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t j = i; j < cnt; j++) {
            if (vars[j]->part_of == p && vars[j]->part_index < np &&
                !seen[vars[j]->part_index]) {
                seen[vars[j]->part_index] = 1;
                got++;
            }
        }
        vs__free(seen);
        seen = NULL;
        if (got != np) {
            rc = vs__fail(VS_EINVAL,
                          "partitioned variable %s: only %zu of its %zu parts "
                          "are listed (list them all, or give keys to treat "
                          "the parts as separate variables)",
                          vs_partitioned_name(p), got, np);
            goto out;
        }
        pvs[m] = p;
        ko[m] = vs_partitioned_name(p);
        vars[m++] = v;
    }
    *n = m;
    *pvs_out = pvs;
    *keys_out = ko;
    return VS_OK;
out:
    vs__free(pvs);
    vs__free(ko);
    return rc;
}

int vs__restore_vars(vs_graph *g, const char *path, int64_t step,
                     vs_var *const *vars, const char *const *keys, size_t n,
                     int threads, vs__progress_fn fn, void *fn_ctx,
                     vs_partitioned *const *pvs)
{
    (void)g;
    sqlite3 *db = NULL;
    vs__load_item *items = NULL;
    unsigned char *scratch = NULL;
    size_t total = 0;
    uint64_t raw_total = 0;
    vs__progress pr;
    /* A restore's progress callback restoring into the same variables:
     * refused before anything is claimed (the flags are the outer's). */
    for (size_t i = 0; i < n; i++)
        if (vars[i]->restoring)
            return vs__fail(VS_ERESTORING, "variable %s is being restored",
                            vars[i]->op_name);
    int rc = vs__store_open_read(path, &db);
    if (rc != VS_OK)
        return rc;
    rc = vs__store_resolve_step(db, path, step, &step);
    if (rc != VS_OK)
        goto out;
    items = vs__calloc(n, sizeof *items);
    if (items == NULL) {
        rc = vs__fail(VS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        items[i].key = keys[i];
    rc = vs__load_lookup(db, path, step, items, n);
    if (rc != VS_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const vs_var *v = vars[i];
        vs__load_item *it = &items[i];
        /* The target's dtype and shape: a whole partitioned variable has
         * its full shape. */
        vs_dtype want_dt = v->value.dtype;
        int want_nd = v->value.ndim;
        int64_t want_sh[VS_MAX_DIMS];
        if (pvs != NULL && pvs[i] != NULL) {
            want_dt = vs_partitioned_dtype(pvs[i]);
            want_nd = vs_partitioned_shape(pvs[i], want_sh);
        } else if (want_nd > 0) {
            memcpy(want_sh, v->value.shape, sizeof(int64_t) * (size_t)want_nd);
        }
        if (it->dtype != want_dt) {
            rc = vs__fail(VS_EDTYPE,
                          "tensor_name = %s; expected dtype %s does not equal "
                          "original dtype %s",
                          it->key, vs__dtype_tf_string(want_dt),
                          vs__dtype_tf_string(it->dtype));
            goto out;
        }
        int same = it->ndim == want_nd;
        for (int d = 0; same && d < it->ndim; d++)
            same = it->shape[d] == want_sh[d];
        if (!same) {
            char a[VS_SHAPE_STR_MAX], b[VS_SHAPE_STR_MAX];
            brackets(want_nd, want_sh, a, sizeof a);
            brackets(it->ndim, it->shape, b, sizeof b);
            rc = vs__fail(VS_ESHAPE,
                          "Assign requires shapes of both tensors to match. "
                          "lhs shape= %s rhs shape= %s (key %s)",
                          a, b, it->key);
            goto out;
        }
        if (it->nbytes > UINT64_MAX - raw_total) {
            rc = vs__fail(VS_ENOMEM, "out of memory");
            goto out;
        }
        raw_total += it->nbytes;
        /* A variable that holds no value yet has nothing to keep if the
         * restore fails: its bytes are read straight into its buffer (it
         * stays uninitialized until everything is verified). Others are
         * read into scratch and copied once all is verified. A variable
         * listed twice gets scratch the second time. */
        if ((pvs == NULL || pvs[i] == NULL) && !vars[i]->initialized &&
            !vars[i]->restoring) {
            rc = vs__var_ensure_buffer(vars[i]);
            if (rc != VS_OK)
                goto out;
            vars[i]->restoring = 1;
            it->in_place = 1;
            it->dst = vars[i]->value.data;
            continue;
        }
        /* 64-byte aligned slots in one scratch region. */
        size_t sz = (it->nbytes + 63) & ~(size_t)63;
        if (sz < it->nbytes || vs__add_size(total, sz, &total) != 0) {
            rc = vs__fail(VS_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (total > 0) {
        scratch = vs__big_alloc(total);
        if (scratch == NULL) {
            rc = vs__fail(VS_ENOMEM, "out of memory (%zu bytes of scratch)",
                          total);
            goto out;
        }
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        if (items[i].in_place)
            continue;
        items[i].dst = scratch + off;
        off += (items[i].nbytes + 63) & ~(size_t)63;
    }
    vs__progress_init(&pr, fn, fn_ctx, raw_total);
    rc = vs__load_decode(db, path, items, n, threads, &pr);
    if (rc != VS_OK)
        goto out;
    /* Everything is read into scratch: end the read transaction (checked)
     * before any variable changes, so a failure leaves them untouched. */
    rc = vs__store_end_read(db, path);
    if (rc != VS_OK)
        goto out;
    /* Everything verified: now the variables change. */
    for (size_t i = 0; i < n; i++) {
        if (pvs != NULL && pvs[i] != NULL) {
            size_t np = vs_partitioned_num_parts(pvs[i]);
            for (size_t k = 0; k < np && rc == VS_OK; k++)
                rc = vs__var_ensure_buffer(vs_partitioned_part(pvs[i], k));
        } else {
            rc = vs__var_ensure_buffer(vars[i]);
        }
        if (rc != VS_OK)
            goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (pvs != NULL && pvs[i] != NULL) {
            /* buffers are in place: this cannot fail */
            (void)vs__partitioned_scatter(pvs[i], items[i].dst);
            continue;
        }
        if (!items[i].in_place && items[i].nbytes > 0)
            memcpy(vars[i]->value.data, items[i].dst, items[i].nbytes);
        vs__var_set_initialized(vars[i], 1);
    }
    for (size_t i = 0; i < n; i++)
        vars[i]->restoring = 0; /* the last call sees them settled */
    vs__progress_end(&pr);
out:
    for (size_t i = 0; i < n; i++)
        vars[i]->restoring = 0;
    /* On the error paths the read transaction is still open: its result
     * cannot change the error being returned (the connection's close ends
     * it in any case). */
    if (db != NULL && !sqlite3_get_autocommit(db))
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    vs__store_close(db);
    vs__big_free(scratch, total);
    vs__free(items);
    return rc;
}

int vs_restore_ex(vs_graph *g, const char *path, int64_t step,
                  const vs_restore_opts *opts)
{
    if (g == NULL)
        return vs__fail(VS_EINVAL, "graph is NULL");
    if (path == NULL || *path == '\0')
        return vs__fail(VS_EINVAL, "checkpoint path is NULL or empty");
    if (step < 0 && step != VS_LATEST)
        return vs__fail(VS_EINVAL, "invalid checkpoint step %lld",
                        (long long)step);
    if (opts != NULL && opts->threads < 0)
        return vs__fail(VS_EINVAL, "threads must be >= 0, got %d",
                        opts->threads);
    vs_var **vars = NULL;
    const char **keys = NULL;
    vs_partitioned **pvs = NULL;
    const char **gkeys = NULL;
    size_t n = 0;
    int rc = VS_OK;
    if (opts != NULL && opts->vars != NULL) {
        n = opts->n_vars;
        if (n == 0)
            return vs__fail(VS_EINVAL, "No variables to restore");
        size_t vbytes, kbytes;
        if (vs__mul_size(n, sizeof *vars, &vbytes) != 0 ||
            vs__mul_size(n, sizeof *keys, &kbytes) != 0)
            return vs__fail(VS_EINVAL, "n_vars %zu is too large", n);
        vars = vs__malloc(vbytes);
        keys = vs__malloc(kbytes);
        if (vars == NULL || keys == NULL) {
            rc = vs__fail(VS_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            vars[i] = opts->vars[i];
            if (vars[i] == NULL || vars[i]->g != g) {
                rc = vs__fail(VS_EINVAL,
                              "variable %zu of the list is NULL or belongs "
                              "to another graph",
                              i);
                goto out;
            }
            keys[i] = opts->keys != NULL ? opts->keys[i] : vars[i]->op_name;
            if (keys[i] == NULL || *keys[i] == '\0') {
                rc = vs__fail(VS_EINVAL, "checkpoint key is NULL or empty");
                goto out;
            }
        }
    } else {
        size_t all = vs_get_collection(g, VS_GLOBAL_VARIABLES, NULL, NULL, 0);
        size_t vbytes, kbytes;
        if (vs__mul_size(all ? all : 1, sizeof *vars, &vbytes) != 0 ||
            vs__mul_size(all ? all : 1, sizeof *keys, &kbytes) != 0) {
            rc = vs__fail(VS_ENOMEM, "out of memory");
            goto out;
        }
        vars = vs__malloc(vbytes);
        keys = vs__malloc(kbytes);
        if (vars == NULL || keys == NULL) {
            rc = vs__fail(VS_ENOMEM, "out of memory");
            goto out;
        }
        size_t got = vs_get_collection(g, VS_GLOBAL_VARIABLES, NULL, vars, all);
        if (got != all) {
            rc = vs__fail(VS_ERROR, "the global variables changed");
            goto out;
        }
        const char *prefix = opts != NULL ? opts->prefix : NULL;
        size_t plen = prefix != NULL ? strlen(prefix) : 0;
        for (size_t i = 0; i < all; i++) {
            /* A part of a partitioned variable matches by its full name. */
            const char *nm = vars[i]->part_of != NULL
                                 ? vs_partitioned_name(vars[i]->part_of)
                                 : vars[i]->op_name;
            if (plen == 0 || strncmp(nm, prefix, plen) == 0) {
                vars[n] = vars[i];
                keys[n] = vars[i]->op_name;
                n++;
            }
        }
        if (n == 0) {
            rc = vs__fail(VS_EINVAL, "No variables to restore");
            goto out;
        }
    }
    /* Partitioned variables: one tensor under the full name, sliced into
     * the parts (unless keys name each variable). */
    rc = vs__group_partitioned(vars,
                               opts != NULL && opts->vars != NULL
                                   ? opts->keys
                                   : NULL,
                               &n, &pvs, &gkeys);
    if (rc != VS_OK)
        goto out;
    rc = vs__restore_vars(g, path, step, vars, gkeys, n,
                          opts != NULL ? opts->threads : 0,
                          opts != NULL ? opts->progress : NULL,
                          opts != NULL ? opts->progress_ctx : NULL, pvs);
out:
    vs__free(pvs);
    vs__free(gkeys);
    vs__free(vars);
    vs__free(keys);
    return rc;
}

int vs_restore(vs_graph *g, const char *path, int64_t step)
{
    return vs_restore_ex(g, path, step, NULL);
}

/* ---- file-level reads -------------------------------------------------- */

/* A read handle: one connection and one read transaction (a consistent
 * snapshot of the file as of vs_ckpt_open) for many reads. */
struct vs_ckpt {
    sqlite3 *db;
    char *path;
};

int vs_ckpt_open(const char *path, vs_ckpt **out)
{
    if (out == NULL)
        return vs__fail(VS_EINVAL, "out is NULL");
    *out = NULL;
    if (path == NULL || *path == '\0')
        return vs__fail(VS_EINVAL, "checkpoint path is NULL or empty");
    vs_ckpt *f = vs__calloc(1, sizeof *f);
    if (f == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    f->path = vs__strdup(path);
    if (f->path == NULL) {
        vs__free(f);
        return vs__fail(VS_ENOMEM, "out of memory");
    }
    int rc = vs__store_open_read(path, &f->db);
    if (rc == VS_OK) {
        /* The snapshot starts at the first read: take it now. */
        int s = sqlite3_exec(f->db, "SELECT count(*) FROM checkpoints", NULL,
                             NULL, NULL);
        if (s != SQLITE_OK)
            rc = vs__store_sqlfail(f->db, s, "cannot read checkpoint file",
                                   path);
    }
    if (rc != VS_OK) {
        vs_ckpt_close(f);
        return rc;
    }
    *out = f;
    return VS_OK;
}

void vs_ckpt_close(vs_ckpt *f)
{
    if (f == NULL)
        return;
    if (f->db != NULL) {
        /* Deliberately ignored: ending a read transaction cannot lose
         * anything, every read already returned its own result, and this
         * void function has no one to tell. */
        (void)sqlite3_exec(f->db, "COMMIT", NULL, NULL, NULL);
        vs__store_close(f->db);
    }
    vs__free(f->path);
    vs__free(f);
}

int vs_ckpt_latest(vs_ckpt *f, int64_t *step)
{
    if (f == NULL || step == NULL)
        return vs__fail(VS_EINVAL, "handle and step must not be NULL");
    int64_t s = 0;
    int rc = vs__store_resolve_step(f->db, f->path, VS_LATEST, &s);
    if (rc == VS_OK)
        *step = s;
    return rc;
}

static int lookup_items(vs_ckpt *f, int64_t step, const char *const *names,
                        size_t n, vs__load_item **items, char ***keys);
static void free_items(vs__load_item *items, char **keys, size_t n);

int vs_ckpt_load(vs_ckpt *f, int64_t step, const char *name, vs_tensor **out)
{
    if (out == NULL)
        return vs__fail(VS_EINVAL, "out is NULL");
    *out = NULL;
    if (f == NULL)
        return vs__fail(VS_EINVAL, "checkpoint handle is NULL");
    if (name == NULL || *name == '\0')
        return vs__fail(VS_EINVAL, "variable name is NULL or empty");
    vs_tensor *t = NULL;
    vs__load_item *it = NULL;
    char **keys = NULL;
    int rc = lookup_items(f, step, &name, 1, &it, &keys);
    /* Every byte is decoded into it, or it is freed: no zero fill. */
    if (rc == VS_OK)
        rc = vs__tensor_new_uninit(it->dtype, it->ndim, it->shape, &t);
    if (rc == VS_OK) {
        it->dst = t->data;
        rc = vs__load_decode(f->db, f->path, it, 1, 0, NULL);
    }
    free_items(it, keys, 1);
    if (rc != VS_OK) {
        vs_tensor_free(t);
        return rc;
    }
    *out = t;
    return VS_OK;
}

/* The load items of n names (a trailing ":0" stripped), looked up at
 * step. *items and *keys (n each) are the caller's to free with
 * free_items, also on failure. */
static int lookup_items(vs_ckpt *f, int64_t step, const char *const *names,
                        size_t n, vs__load_item **items, char ***keys)
{
    *items = vs__calloc(n, sizeof **items);
    *keys = vs__calloc(n, sizeof **keys);
    if (*items == NULL || *keys == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    int rc = vs__store_resolve_step(f->db, f->path, step, &step);
    sqlite3_stmt *exact = NULL;
    for (size_t i = 0; rc == VS_OK && i < n; i++) {
        if (names[i] == NULL || *names[i] == '\0') {
            rc = vs__fail(VS_EINVAL, "variable name %zu is NULL or empty", i);
            break;
        }
        char *key = vs__strdup(names[i]);
        if (key == NULL) {
            rc = vs__fail(VS_ENOMEM, "out of memory");
            break;
        }
        (*keys)[i] = key;
        (*items)[i].key = key;
        /* A trailing ":0" names a variable's value (TF's "v:0") and is
         * dropped, unless the step has a tensor under that very key (an
         * imported name that ends in ":0"). */
        size_t kl = strlen(key);
        if (kl <= 2 || strcmp(key + kl - 2, ":0") != 0)
            continue;
        if (exact == NULL)
            rc = vs__store_prepare(f->db,
                                   "SELECT 1 FROM tensors WHERE step=?1 AND "
                                   "name=?2",
                                   &exact, f->path);
        if (rc != VS_OK)
            break;
        sqlite3_reset(exact);
        int b = sqlite3_bind_int64(exact, 1, step);
        if (b == SQLITE_OK)
            b = sqlite3_bind_text(exact, 2, key, -1, SQLITE_STATIC);
        if (b != SQLITE_OK) {
            rc = vs__store_bindfail(exact, b, "cannot read checkpoint file",
                                    f->path);
            break;
        }
        int s = sqlite3_step(exact);
        if (s == SQLITE_DONE)
            key[kl - 2] = '\0';
        else if (s != SQLITE_ROW)
            rc = vs__store_sqlfail(f->db, s, "cannot read checkpoint file",
                                   f->path);
    }
    sqlite3_finalize(exact);
    if (rc == VS_OK)
        rc = vs__load_lookup(f->db, f->path, step, *items, n);
    return rc;
}

static void free_items(vs__load_item *items, char **keys, size_t n)
{
    for (size_t i = 0; keys != NULL && i < n; i++)
        vs__free(keys[i]);
    vs__free(keys);
    vs__free(items);
}

int vs_ckpt_stream(vs_ckpt *f, int64_t step, const char *const *names,
                   size_t n, const vs_stream_sink *sink)
{
    if ((names == NULL && n > 0) || sink == NULL || sink->write == NULL)
        return vs__fail(VS_EINVAL,
                        "names, sink and sink->write must not be NULL");
    if (f == NULL)
        return vs__fail(VS_EINVAL, "checkpoint handle is NULL");
    if (n == 0)
        return VS_OK;
    vs__load_item *items = NULL;
    char **keys = NULL;
    int rc = lookup_items(f, step, names, n, &items, &keys);
    if (rc == VS_OK)
        rc = load_run(f->db, f->path, items, n, sink->threads, NULL, sink);
    free_items(items, keys, n);
    return rc;
}

int vs_ckpt_load_many(vs_ckpt *f, int64_t step, const char *const *names,
                      size_t n, vs_tensor **out)
{
    if (out == NULL || (names == NULL && n > 0))
        return vs__fail(VS_EINVAL, "names and out must not be NULL");
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    if (f == NULL)
        return vs__fail(VS_EINVAL, "checkpoint handle is NULL");
    if (n == 0)
        return VS_OK;
    vs__load_item *items = NULL;
    char **keys = NULL;
    int rc = lookup_items(f, step, names, n, &items, &keys);
    for (size_t i = 0; rc == VS_OK && i < n; i++) {
        rc = vs__tensor_new_uninit(items[i].dtype, items[i].ndim,
                                   items[i].shape, &out[i]);
        if (rc == VS_OK)
            items[i].dst = out[i]->data;
    }
    /* every chunk of every tensor on the pool at once */
    if (rc == VS_OK)
        rc = vs__load_decode(f->db, f->path, items, n, 0, NULL);
    free_items(items, keys, n);
    if (rc != VS_OK) {
        for (size_t i = 0; i < n; i++) {
            vs_tensor_free(out[i]);
            out[i] = NULL;
        }
    }
    return rc;
}

int vs_load_variable(const char *path, int64_t step, const char *name,
                     vs_tensor **out)
{
    vs_ckpt *f = NULL;
    if (out == NULL)
        return vs__fail(VS_EINVAL, "out is NULL");
    *out = NULL;
    if (name == NULL || *name == '\0')
        return vs__fail(VS_EINVAL, "variable name is NULL or empty");
    int rc = vs_ckpt_open(path, &f);
    if (rc == VS_OK)
        rc = vs_ckpt_load(f, step, name, out);
    vs_ckpt_close(f);
    return rc;
}

void vs_tensor_info_free(vs_tensor_info *infos, size_t n)
{
    if (infos == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        vs__free(infos[i].name);
    vs__free(infos);
}

static double col_double_or_nan(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return NAN;
    return sqlite3_column_double(st, i);
}

int vs_ckpt_list_variables(vs_ckpt *f, int64_t step, vs_tensor_info **out,
                           size_t *n)
{
    if (out == NULL || n == NULL)
        return vs__fail(VS_EINVAL, "out and n must not be NULL");
    *out = NULL;
    *n = 0;
    if (f == NULL)
        return vs__fail(VS_EINVAL, "checkpoint handle is NULL");
    sqlite3 *db = f->db;
    const char *path = f->path;
    sqlite3_stmt *st = NULL;
    vs_tensor_info *v = NULL;
    size_t cnt = 0, cap = 0;
    int s;
    int rc = vs__store_resolve_step(db, path, step, &step);
    if (rc != VS_OK)
        goto out;
    rc = vs__store_prepare(db,
                           "SELECT name, dtype, shape, numel, raw_bytes, "
                           "stored_bytes, codec, crc32, min, max, mean, std, "
                           "n_nan, n_inf FROM tensors WHERE step=?1 ORDER BY "
                           "name",
                           &st, path);
    if (rc != VS_OK)
        goto out;
    int b = sqlite3_bind_int64(st, 1, step);
    if (b != SQLITE_OK) {
        rc = vs__store_bindfail(st, b, "cannot read checkpoint file", path);
        goto out;
    }
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        vs_tensor_info *p = vs__grow(v, cnt, &cap, sizeof *p, 16);
        if (p == NULL) {
            rc = VS_ENOMEM;
            goto out;
        }
        v = p;
        vs_tensor_info *e = &v[cnt];
        memset(e, 0, sizeof *e);
        const char *name = (const char *)sqlite3_column_text(st, 0);
        e->name = vs__strdup(name != NULL ? name : "");
        if (e->name == NULL) {
            rc = vs__fail(VS_ENOMEM, "out of memory");
            goto out;
        }
        cnt++;
        if (vs__dtype_parse((const char *)sqlite3_column_text(st, 1),
                            &e->dtype) != 0 ||
            vs__parse_shape_json((const char *)sqlite3_column_text(st, 2),
                                 &e->ndim, e->shape) != 0) {
            rc = vs__fail(VS_ECORRUPT,
                          "checkpoint file %s is corrupt: tensor %s at step "
                          "%lld: bad dtype or shape",
                          path, e->name, (long long)step);
            goto out;
        }
        e->numel = sqlite3_column_int64(st, 3);
        e->raw_bytes = sqlite3_column_int64(st, 4);
        e->stored_bytes = sqlite3_column_int64(st, 5);
        const char *codec = (const char *)sqlite3_column_text(st, 6);
        snprintf(e->codec, sizeof e->codec, "%s", codec != NULL ? codec : "");
        e->crc32 = (uint32_t)sqlite3_column_int64(st, 7);
        e->has_stats = sqlite3_column_type(st, 12) != SQLITE_NULL;
        if (e->has_stats) {
            e->min = col_double_or_nan(st, 8);
            e->max = col_double_or_nan(st, 9);
            e->mean = col_double_or_nan(st, 10);
            e->std = col_double_or_nan(st, 11);
            e->n_nan = sqlite3_column_int64(st, 12);
            e->n_inf = sqlite3_column_int64(st, 13);
        }
    }
    if (s != SQLITE_DONE) {
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
        goto out;
    }
out:
    sqlite3_finalize(st);
    if (rc != VS_OK) {
        vs_tensor_info_free(v, cnt);
        return rc;
    }
    *out = v;
    *n = cnt;
    return VS_OK;
}

int vs_list_variables(const char *path, int64_t step, vs_tensor_info **out,
                      size_t *n)
{
    vs_ckpt *f = NULL;
    if (out == NULL || n == NULL)
        return vs__fail(VS_EINVAL, "out and n must not be NULL");
    *out = NULL;
    *n = 0;
    int rc = vs_ckpt_open(path, &f);
    if (rc == VS_OK)
        rc = vs_ckpt_list_variables(f, step, out, n);
    vs_ckpt_close(f);
    return rc;
}
