/* varstore: the decode engine of every read: each chunk of the
 * requested tensors read, decoded and CRC-checked on the thread pool, into
 * the callers' buffers or (vs_ckpt_stream) to a sink. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

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


typedef struct {
    sqlite3 *db;
    const char *path;
    vs__load_item *items;
    load_job *jobs;
    vs__chunk_ref *refs; /* every job's chunk (list_through) */
    size_t n_refs;       /* refs read; job n_refs (if any) gets list_rc */
    sqlite3_stmt *list_st;
    size_t next_list;    /* items before it are listed */
    int list_rc;         /* why the chunk list stopped there */
    char *list_msg;      /* its message (vs__malloc'ed) */
    vs__read_tx tx;      /* the read transactions */
    sqlite3_blob *blob;  /* incremental reader on chunks.data */
    uint32_t cur_crc;
    vs__ws ws[VS_MAX_THREADS];
    vs__buf *free_bufs;
    size_t n_free, free_cap;
    vs__progress *pr; /* may be NULL */
    /* vs_ckpt_stream: chunks go to the sink, decoded into the worker's own
     * outb (each chunk's bytes live only during the write call). */
    const vs_stream_sink *sink; /* NULL: decode into items[i].dst */
    vs__buf outb[VS_MAX_THREADS];
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

static int prepare_chunk(load_ctx *c, size_t k, load_job *j,
                         vs__load_item *it);

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
            int rc = prepare_chunk(c, k, j, it);
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
    return prepare_chunk(c, k, j, it);
}

/* Opens (or moves) the blob handle onto the chunk of job k, first
 * renewing the read transaction when it is due. */
static int open_blob(load_ctx *c, size_t k, const vs__load_item *it,
                     size_t seq)
{
    if (vs__read_tx_due(&c->tx)) {
        /* A read-only handle: closing it cannot fail in a way that
         * matters, and it must be closed for the transaction to end. */
        (void)sqlite3_blob_close(c->blob);
        c->blob = NULL;
        int rc = vs__read_tx_renew(&c->tx);
        if (rc != VS_OK)
            return rc;
    }
    int64_t id = c->refs[k].chunk_id;
    int b = c->blob == NULL
                ? sqlite3_blob_open(c->db, "main", "chunks", "data", id, 0,
                                    &c->blob)
                : sqlite3_blob_reopen(c->blob, id);
    if (b == SQLITE_ERROR) /* no such row, or data is not a blob */
        return corrupt(c, it, seq, sqlite3_errmsg(c->db));
    if (b != SQLITE_OK)
        return vs__store_sqlfail(c->db, b, "cannot read checkpoint file",
                                 c->path);
    return VS_OK;
}

/* Lists the chunks of items next_list through last, unless a list
 * failed: a failure in the file's content is kept for the job it belongs
 * to (job n_refs), so that a stream still delivers the tensors before
 * it; any other is returned at once. */
static int list_through(load_ctx *c, size_t last)
{
    for (; c->list_rc == 0 && c->next_list <= last; c->next_list++) {
        size_t done = 0;
        int rc = vs__load_chunk_list_item(c->db, c->list_st, c->path,
                                          &c->items[c->next_list],
                                          c->refs + c->n_refs, &done);
        c->n_refs += done;
        /* Inactive between items, so that a read transaction can end;
         * the reset repeats a failed step's error, already in rc. */
        (void)sqlite3_reset(c->list_st);
        if (rc == VS_OK)
            continue;
        c->list_rc = rc;
        c->list_msg = vs__strdup(vs_errmsg());
        if (c->list_msg == NULL)
            return vs__fail(VS_ENOMEM, "out of memory");
        if (rc != VS_ECORRUPT)
            return rc;
    }
    return VS_OK;
}

/* Reads chunk j->seq of it (job k): its stored bytes into the job's
 * buffer (or, a raw chunk of a load into memory, straight into place). */
static int prepare_chunk(load_ctx *c, size_t k, load_job *j,
                         vs__load_item *it)
{
    int lr = list_through(c, j->item);
    if (lr != VS_OK)
        return lr;
    if (k >= c->n_refs) /* the chunk list failed here (list_through) */
        return vs__fail(c->list_rc, "%s", c->list_msg);
    const vs__chunk_ref *r = &c->refs[k];
    j->codec = r->codec;
    j->crc = r->crc;
    j->len = r->len;
    j->esize = it->esize;
    j->off = r->off;
    /* The stored bytes are read with an incremental blob handle, straight
     * into their destination: no value assembled by SQLite and copied. */
    int rc = open_blob(c, k, it, j->seq);
    if (rc != VS_OK)
        return rc;
    int dlen = sqlite3_blob_bytes(c->blob);
    j->blob_len = dlen > 0 ? (size_t)dlen : 0;
    c->tx.bytes += j->blob_len;
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
        int b = sqlite3_blob_read(c->blob, to, dlen, 0);
        if (b != SQLITE_OK)
            return vs__store_sqlfail(c->db, b, "cannot read checkpoint file",
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

/* Room for every job's chunk (listed as the jobs come: list_through),
 * the list's query, and the read transactions. */
static int list_begin(load_ctx *c, size_t n_jobs)
{
    c->refs = vs__calloc(n_jobs, sizeof *c->refs);
    if (c->refs == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    int rc = vs__load_chunk_list_prepare(c->db, c->path, &c->list_st);
    if (rc != VS_OK)
        return rc;
    return vs__read_tx_init(&c->tx, c->db, c->path, c->items[0].step);
}

/* After the last job: the items of no bytes after it are listed too
 * (their rows must hold no chunk); a failure there belongs to no job. */
static int list_rest(load_ctx *c, size_t n)
{
    int rc = list_through(c, n - 1);
    if (rc == VS_OK && c->list_rc != 0)
        rc = vs__fail(c->list_rc, "%s", c->list_msg);
    return rc;
}

static void free_ctx(load_ctx *c, size_t n_jobs)
{
    /* A read-only handle: closing it cannot fail in a way that matters;
     * finalizing repeats a failure of the statement's last step. */
    (void)sqlite3_blob_close(c->blob);
    (void)sqlite3_finalize(c->list_st);
    for (size_t k = 0; c->jobs != NULL && k < n_jobs; k++) {
        vs__buf_free(&c->jobs[k].buf);
        vs__free(c->jobs[k].msg);
    }
    vs__free(c->stop_msg);
    vs__free(c->list_msg);
    for (size_t k = 0; k < c->n_free; k++)
        vs__buf_free(&c->free_bufs[k]);
    for (int w = 0; w < VS_MAX_THREADS; w++) {
        vs__ws_free(&c->ws[w]);
        vs__buf_free(&c->outb[w]);
    }
    vs__free(c->free_bufs);
    vs__free(c->jobs);
    vs__free(c->refs);
}

/* The number of chunks of all items; VS_ECORRUPT for an item of no
 * chunks whose CRC is not 0 (a stream meets this in order instead:
 * stream_begin_through). */
static int count_jobs(const char *path, const vs__load_item *items,
                      size_t n, int stream, size_t *n_jobs)
{
    *n_jobs = 0;
    for (size_t i = 0; i < n; i++) {
        if (!stream && items[i].n_chunks == 0 && items[i].crc != 0)
            return vs__fail(VS_ECORRUPT,
                            "checkpoint file %s is corrupt: tensor %s at step "
                            "%lld: CRC mismatch (stored 0x%08x, computed "
                            "0x00000000)",
                            path, items[i].key, (long long)items[i].step,
                            (unsigned)items[i].crc);
        if (vs__add_size(*n_jobs, items[i].n_chunks, n_jobs) != 0)
            return vs__fail(VS_ECORRUPT, "checkpoint file %s is corrupt",
                            path);
    }
    return VS_OK;
}

/* Loads of up to this many bytes (not streams, whose callbacks may
 * expect worker threads) decode on the calling thread when the caller
 * leaves the thread count to the library (vs__pool_threads_for): the
 * workers' wake-ups cost more than they save there. The 5 MB model of
 * 102 tensors, in turns: 13.1 -> 11.1 ms cold (default codec), 9.3 ->
 * 8.7 ms (raw); at 16 MiB the two are even, at 64 MiB the pool wins. */
#define VS_LOAD_INLINE_BYTES ((uint64_t)8 << 20)

static int load_threads(const vs__load_item *items, size_t n, int threads,
                        int stream)
{
    int t = vs__pool_threads(threads);
    if (threads == 0 && !stream) {
        uint64_t bytes = 0;
        for (size_t i = 0; i < n; i++)
            bytes += items[i].nbytes;
        t = vs__pool_threads_for(t, bytes, VS_LOAD_INLINE_BYTES);
    }
    return t > VS_MAX_THREADS ? VS_MAX_THREADS : t;
}

static int load_run(sqlite3 *db, const char *path, vs__load_item *items,
                    size_t n, int threads, vs__progress *pr,
                    const vs_stream_sink *sink)
{
    size_t n_jobs = 0;
    int rc = count_jobs(path, items, n, sink != NULL, &n_jobs);
    if (rc != VS_OK)
        return rc;
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
    int t = load_threads(items, n, threads, sink != NULL);
    c.jobs = vs__calloc(n_jobs, sizeof *c.jobs);
    c.free_cap = (size_t)t * 4 + 4;
    c.free_bufs = vs__calloc(c.free_cap, sizeof *c.free_bufs);
    rc = c.jobs == NULL || c.free_bufs == NULL
             ? vs__fail(VS_ENOMEM, "out of memory")
             : list_begin(&c, n_jobs);
    for (size_t i = 0, k = 0; rc == VS_OK && i < n; i++) {
        for (size_t q = 0; q < items[i].n_chunks; q++, k++) {
            c.jobs[k].item = i;
            c.jobs[k].seq = q;
        }
    }
    /* A load decoded on the calling thread because it is small still
     * gets the helper when the library picks the threads and has cores:
     * the 5 MB model (raw, warm, new process) loaded in 3.7-4.7 ms with
     * it, 5.0-5.4 ms without. */
    int pf_threads = threads == 0 ? vs__pool_threads(0) : t;
    vs__prefault *pf = rc == VS_OK && sink == NULL
                           ? vs__prefault_start(items, n, pf_threads)
                           : NULL;
    if (rc == VS_OK)
        rc = vs__pool_run(t, n_jobs, (size_t)t * 4, &c, load_prepare,
                          load_work, load_consume);
    vs__prefault_stop(pf);
    if (rc == VS_OK)
        rc = list_rest(&c, n);
    /* Items after the last chunked one have no job: they begin (and end)
     * here. */
    if (rc == VS_OK && sink != NULL) {
        stream_begin_through(&c, n - 1);
        rc = sink_result(&c);
    }
    free_ctx(&c, n_jobs);
    return rc;
}

int vs__load_decode(sqlite3 *db, const char *path, vs__load_item *items,
                    size_t n, int threads, vs__progress *pr)
{
    return load_run(db, path, items, n, threads, pr, NULL);
}

int vs__load_stream(sqlite3 *db, const char *path, vs__load_item *items,
                    size_t n, const vs_stream_sink *sink)
{
    return load_run(db, path, items, n, sink->threads, NULL, sink);
}
