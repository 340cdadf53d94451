/* varstore: the chunks of a save: read (or pointed at in the caller's
 * memory) and hashed on the calling thread (on the pool when the file
 * holds no chunk yet), encoded (or found equal to a stored chunk) on the
 * thread pool, and written on the calling thread in
 * order (each one's id kept for its tensor_chunks row, written with the
 * tensor rows). Jobs live in a window of recycled slots and buffers, so a
 * save's memory does not grow with the model. */
#include <stdio.h>
#include <string.h>

#include "save_int.h"

/* The stored chunk with j's hash and size (the dedup candidate), copied
 * into j so that a worker can compare it with j's bytes. */
static int fetch_candidate(vs__save_ctx *c, vs__save_job *j)
{
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
    int rc = VS_OK;
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
        j->cand_codec = vs__codec_column(q, 1);
        j->cand_esize = (size_t)sqlite3_column_int64(q, 2);
        j->cand_len = (size_t)dl;
        /* A candidate with a CRC out of range is no candidate. */
        if (vs__crc_column(q, 4, &j->cand_crc) != 0)
            j->cand_id = 0;
    } else if (s != SQLITE_DONE) {
        rc = vs__store_sqlfail(c->db, s, "cannot save checkpoint to",
                               c->path);
    }
    sqlite3_reset(q);
    return rc;
}

/* Reads job j's bytes into j->in with the item's callback; a failure's
 * message goes to err. */
static int read_job(const vs__save_ctx *c, const vs__save_job *j,
                    char *err, size_t cap)
{
    const vs__save_item *it = &c->items[j->item];
    uint64_t off = (uint64_t)j->seq * it->chunk;
    char msg[VS_ERRMSG_MAX] = "";
    int r = it->read(it->read_ctx, it->index, off, j->in.p, j->len, msg,
                     sizeof msg);
    if (r != VS_OK) {
        msg[sizeof msg - 1] = '\0';
        snprintf(err, cap,
                 "cannot save checkpoint to %s: reading bytes %llu to %llu "
                 "of tensor %s failed: %s",
                 c->path, (unsigned long long)off,
                 (unsigned long long)(off + j->len), it->key,
                 msg[0] != '\0' ? msg : vs_errstr(r));
    }
    return r;
}

/* Whether the worker reads item it's chunks (save_work): its callback
 * may run anywhere, and nothing needs the bytes before the worker (no
 * candidate is looked up). */
static int read_by_worker(const vs__save_ctx *c, const vs__save_item *it)
{
    return it->read != NULL && it->read_anywhere && c->hash_in_workers;
}

/* j's bytes: an owned item's memory; or the caller's, which save_work
 * reads once (copied into j->in for a raw chunk, else taken block by
 * block into the worker's planes);
 * or a buffer (j->in) that the item's read callback fills (on the
 * worker, in save_work, when the callback may run anywhere and nothing
 * needs the bytes before); then the dedup hash, needed before a
 * candidate is looked up (unless there can be none: save_work computes
 * it then). The hash of bytes not yet copied is taken from the caller's:
 * should they change meanwhile, the lookup misses, and the chunk is
 * stored anew. */
static int job_source(vs__save_ctx *c, vs__save_job *j)
{
    const vs__save_item *it = &c->items[j->item];
    const unsigned char *mem =
        it->read == NULL ? (const unsigned char *)it->t->data +
                               (uint64_t)j->seq * it->chunk
                         : NULL;
    if (it->owned) {
        j->src = mem;
    } else if (mem != NULL && !c->co.raw_only) {
        j->caller = mem; /* taken into the worker's planes */
    } else {
        if (c->n_free > 0)
            j->in = c->free_bufs[--c->n_free];
        if (vs__buf_reserve(&j->in, j->len) != VS_OK)
            return vs__fail(VS_ENOMEM, "out of memory");
        j->src = j->in.p;
        j->caller = mem;
        char err[VS_ERRMSG_MAX];
        int r = mem != NULL || read_by_worker(c, it)
                    ? VS_OK
                    : read_job(c, j, err, sizeof err);
        if (r != VS_OK)
            return vs__fail(r, "%s", err);
    }
    if (!c->hash_in_workers)
        j->hash = vs__hash64(j->caller != NULL ? j->caller : j->src, j->len);
    return VS_OK;
}

static int save_prepare(void *vctx, size_t k, char *err, size_t cap)
{
    (void)err;
    (void)cap;
    vs__save_ctx *c = vctx;
    vs__save_job *j = vs__save_next_job(c, k);
    /* The raw codec stores a chunk's own bytes: no output buffer, so that
     * the one the source is read into is the same from job to job. */
    if (c->n_free > 0 && !c->co.raw_only)
        j->out = c->free_bufs[--c->n_free];
    j->codec = -1;
    int rc = job_source(c, j);
    return rc == VS_OK && !c->hash_in_workers ? fetch_candidate(c, j) : rc;
}

/* ---- pool callbacks ---------------------------------------------------- */

/* Whether the chunk equals the stored candidate j->cand: its bytes are
 * at src, or (src NULL) shuffled in ws->planes. */
static int same_as_candidate(vs__save_ctx *c, const vs__save_job *j, int w,
                             const unsigned char *src)
{
    const vs__save_item *it = &c->items[j->item];
    if (j->cand_id == 0 || j->cand_crc != j->crc ||
        j->cand_esize != it->esize)
        return 0;
    char why[128];
    if (vs__buf_reserve(&c->cmp[w], j->len) != VS_OK ||
        vs__chunk_decode_ws(j->cand_codec, j->cand_esize, j->cand.p,
                            j->cand_len, c->cmp[w].p, j->len, &c->ws[w],
                            why, sizeof why) != VS_OK)
        return 0;
    return src != NULL ? memcmp(c->cmp[w].p, src, j->len) == 0
                       : vs__planes_equal(c->ws[w].planes.p, c->cmp[w].p,
                                          j->len, it->esize);
}

/* A chunk of the caller's bytes that is encoded: read once, block by
 * block, into the worker's planes (store/codec/take.c), and encoded from
 * there. */
static int work_taken(vs__save_ctx *c, vs__save_job *j, int w, char *err,
                      size_t cap)
{
    const vs__save_item *it = &c->items[j->item];
    int flags = (c->hash_in_workers ? VS_TAKE_HASH : 0) |
                (vs__save_is_float(it->t->dtype) ? VS_TAKE_STATS : 0);
    vs__taken t;
    int rc = vs__chunk_take(j->caller, j->len, it->esize, it->t->dtype,
                            flags, &c->ws[w], &t);
    if (rc == VS_ENOMEM)
        snprintf(err, cap, "out of memory");
    else if (rc != VS_OK)
        snprintf(err, cap, "invalid chunk size %zu for element size %zu",
                 j->len, it->esize);
    if (rc != VS_OK)
        return rc;
    if (c->hash_in_workers)
        j->hash = t.hash;
    j->crc = t.crc;
    j->stats = t.stats;
    if (same_as_candidate(c, j, w, NULL)) {
        j->dup_id = j->cand_id;
        return VS_OK; /* unchanged: nothing to compress */
    }
    rc = vs__chunk_encode_planes(j->len, it->esize, &c->co, &c->ws[w],
                                 &j->out, &j->codec, &j->blob_len, err, cap);
    j->blob = j->out.p;
    return rc;
}

static int save_work(void *vctx, size_t k, char *err, size_t cap)
{
    vs__save_ctx *c = vctx;
    vs__save_job *j = &c->jobs[k % c->window];
    const vs__save_item *it = &c->items[j->item];
    int w = vs__pool_worker();
    if (j->caller != NULL && j->in.p == NULL)
        return work_taken(c, j, w, err, cap);
    if (j->caller != NULL) {
        /* A raw chunk of the caller's bytes: read once, into the job's
         * buffer, which SQLite stores later. */
        if (j->len > 0)
            memcpy(j->in.p, j->caller, j->len);
    } else if (read_by_worker(c, it)) {
        int r = read_job(c, j, err, cap);
        if (r != VS_OK)
            return r;
    }
    if (c->hash_in_workers)
        j->hash = vs__hash64(j->src, j->len);
    j->crc = vs__crc32(0, j->src, j->len);
    vs__stats_init(&j->stats);
    if (vs__save_is_float(it->t->dtype))
        vs__stats_chunk(it->t->dtype, j->src, j->len, &j->stats);
    if (same_as_candidate(c, j, w, j->src)) {
        j->dup_id = j->cand_id;
        return VS_OK; /* unchanged: nothing to compress */
    }
    if (c->co.raw_only) {
        /* The stored bytes are the chunk's own: no copy. */
        j->codec = VS_CHUNK_RAW;
        j->blob = j->src;
        j->blob_len = j->len;
        return VS_OK;
    }
    int rc = vs__chunk_encode_ws(j->src, j->len, it->esize, &c->co,
                                 &c->ws[w], &j->out,
                                 &j->codec, &j->blob_len, err, cap);
    j->blob = j->out.p;
    return rc;
}

/* ---- writing (calling thread) ------------------------------------------ */

/* Whether a stored chunk (codec, element size ces, bytes data) decodes
 * to j's bytes. Those are taken from j's blob (decoded when it is
 * encoded): the copy a worker encoded them from is its own again by now. */
static int same_decoded(vs__save_ctx *c, const vs__save_job *j, int codec,
                        size_t ces, const unsigned char *data, size_t dlen,
                        int *same)
{
    *same = 0;
    size_t need = j->codec == VS_CHUNK_RAW ? j->len : 2 * j->len;
    if (c->scratch_cap < need) {
        unsigned char *p = vs__realloc(c->scratch, need);
        if (p == NULL)
            return vs__fail(VS_ENOMEM, "out of memory");
        c->scratch = p;
        c->scratch_cap = need;
    }
    char err[256];
    if (vs__chunk_decode_ws(codec, ces, data, dlen, c->scratch, j->len,
                            &c->main_ws, err, sizeof err) != VS_OK)
        return VS_OK; /* a stored chunk that does not decode is no match */
    const unsigned char *ours = j->blob;
    if (j->codec != VS_CHUNK_RAW) {
        ours = c->scratch + j->len;
        if (vs__chunk_decode_ws(j->codec, ces, j->blob, j->blob_len,
                                c->scratch + j->len, j->len, &c->main_ws,
                                err, sizeof err) != VS_OK)
            return VS_OK;
    }
    *same = j->len == 0 || memcmp(c->scratch, ours, j->len) == 0;
    return VS_OK;
}

/* Looks for a stored chunk with exactly these bytes; *id 0 if none. */
static int find_chunk(vs__save_ctx *c, const vs__save_job *j, size_t esize,
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
        int codec = vs__codec_column(st, 1);
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
            int r = same_decoded(c, j, codec, ces, data, dlen, &same);
            if (r != VS_OK)
                return r;
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

/* Inserts j's encoded bytes as a new chunk; its id in *id. */
static int insert_chunk(vs__save_ctx *c, const vs__save_job *j, size_t esize,
                        int64_t *id)
{
    sqlite3_stmt *st = c->ins_chunk;
    sqlite3_reset(st);
    int b = sqlite3_bind_int64(st, 1, (int64_t)j->hash);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 2, (int64_t)j->crc);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 3, (int64_t)j->len);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 4, (int64_t)esize);
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
    *id = sqlite3_last_insert_rowid(c->db);
    c->new_bytes += (int64_t)j->blob_len;
    vs__writeback_add(&c->wb, j->blob_len);
    return VS_OK;
}

static int insert_tensor_chunk(vs__save_ctx *c, int64_t tensor_id,
                               size_t seq, int64_t chunk_id)
{
    sqlite3_stmt *st = c->ins_tc;
    sqlite3_reset(st);
    int b = sqlite3_bind_int64(st, 1, tensor_id);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 2, (int64_t)seq);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 3, chunk_id);
    if (b != SQLITE_OK)
        return vs__store_bindfail(st, b, "cannot save checkpoint to",
                                  c->path);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    /* The tensor row is new: only rows of a tensor row that is gone (a
     * damaged file) can hold its (tensor_id, seq). */
    if (s == SQLITE_CONSTRAINT)
        return vs__fail(VS_ECORRUPT,
                        "checkpoint file %s is corrupt: it holds chunk list "
                        "rows of tensor row %lld, which does not exist "
                        "(varstore verify names such rows)",
                        c->path, (long long)tensor_id);
    if (s != SQLITE_DONE)
        return vs__store_sqlfail(c->db, s, "cannot save checkpoint to",
                                 c->path);
    return VS_OK;
}

/* The chunk j's bytes live in: the worker's equal candidate, an equal
 * stored chunk, or a new one. */
static int chunk_for_job(vs__save_ctx *c, const vs__save_job *j,
                         size_t esize, int64_t *id, int64_t *stored,
                         int *codec)
{
    *codec = j->codec;
    if (j->dup_id != 0) {
        *id = j->dup_id;
        *stored = (int64_t)j->cand_len;
        *codec = j->cand_codec;
        return VS_OK;
    }
    int rc = find_chunk(c, j, esize, id, stored, codec);
    if (rc == VS_OK && *id == 0) {
        rc = insert_chunk(c, j, esize, id);
        *stored = (int64_t)j->blob_len;
        *codec = j->codec;
    }
    return rc;
}

static int save_consume(void *vctx, size_t k, char *err, size_t cap)
{
    (void)err;
    (void)cap;
    vs__save_ctx *c = vctx;
    vs__save_job *j = &c->jobs[k % c->window];
    vs__save_item *it = &c->items[j->item];
    int64_t id = 0, stored = 0;
    int codec = 0;
    int rc = vs__save_batch_resume(c);
    if (rc == VS_OK)
        rc = chunk_for_job(c, j, it->esize, &id, &stored, &codec);
    vs__save_recycle(c, &j->cand);
    vs__save_recycle(c, &j->out);
    vs__save_recycle(c, &j->in);
    j->blob = NULL;
    j->src = NULL;
    c->chunk_ids[k] = id;
    if (rc == VS_OK)
        rc = vs__save_batch_chunk(c, id);
    if (rc != VS_OK)
        return rc;
    it->stored += stored;
    it->crc = j->seq == 0 ? j->crc
                          : vs__crc32_combine(it->crc, j->crc, j->len);
    it->any_shuffled |= codec == VS_CHUNK_SHUFFLE_ZLIB;
    vs__stats_merge(&it->stats, &j->stats);
    vs__progress_add(&c->pr, j->len);
    return VS_OK;
}

static int prepare_statements(vs__save_ctx *c)
{
    const struct {
        const char *sql;
        sqlite3_stmt **st;
    } stmts[] = {
        {"SELECT id, codec, elem_size, data FROM chunks WHERE hash=?1 AND "
         "raw_bytes=?2 AND crc32=?3",
         &c->find},
        {"SELECT id, codec, elem_size, data, crc32 FROM chunks WHERE "
         "hash=?1 AND raw_bytes=?2 AND elem_size=?3 LIMIT 1",
         &c->cand_q},
        {"INSERT INTO chunks(hash, crc32, raw_bytes, elem_size, codec, "
         "stored_bytes, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
         &c->ins_chunk},
        {"INSERT INTO tensor_chunks(tensor_id, seq, chunk_id) VALUES "
         "(?1, ?2, ?3)",
         &c->ins_tc},
        {"UPDATE tensor_rows SET codec=?1, stored_bytes=?2, crc32=?3, "
         "min=?4, max=?5, mean=?6, std=?7, n_nan=?8, n_inf=?9 WHERE id=?10",
         &c->upd_tensor},
    };
    int rc = VS_OK;
    for (size_t i = 0; i < sizeof stmts / sizeof *stmts && rc == VS_OK; i++)
        rc = vs__store_prepare(c->db, stmts[i].sql, stmts[i].st, c->path);
    return rc;
}

/* Whether the file holds no chunk: a first save, or one after every
 * checkpoint went. Its chunks can only match chunks of its own, which
 * find_chunk finds as each is written; so no candidate is fetched before
 * encoding, and the dedup hash moves off the calling thread, which a
 * large save keeps busy with SQLite's copies (about a tenth of its time
 * for a raw save). */
static int holds_no_chunks(vs__save_ctx *c, int *none)
{
    sqlite3_stmt *q = NULL;
    int rc = vs__store_prepare(c->db, "SELECT 1 FROM chunks LIMIT 1", &q,
                               c->path);
    if (rc != VS_OK)
        return rc;
    int s = sqlite3_step(q);
    *none = s == SQLITE_DONE;
    if (s != SQLITE_ROW && s != SQLITE_DONE)
        rc = vs__store_sqlfail(c->db, s, "cannot save checkpoint to",
                               c->path);
    sqlite3_finalize(q);
    return rc;
}

int vs__save_chunks(vs__save_ctx *c)
{
    int rc = prepare_statements(c);
    if (rc == VS_OK)
        rc = holds_no_chunks(c, &c->hash_in_workers);
    if (rc == VS_OK)
        rc = vs__pool_run(c->threads, c->n_jobs, c->window, c, save_prepare,
                          save_work, save_consume);
    if (rc == VS_OK)
        rc = vs__save_batch_resume(c); /* for the checkpoint's rows */
    return rc;
}

int vs__save_chunk_rows(vs__save_ctx *c)
{
    int rc = VS_OK;
    for (size_t i = 0; i < c->n_items && rc == VS_OK; i++) {
        const vs__save_item *it = &c->items[i];
        for (size_t q = 0; q < it->n_chunks && rc == VS_OK; q++)
            rc = insert_tensor_chunk(c, it->tensor_id, q,
                                     c->chunk_ids[it->first_job + q]);
    }
    for (size_t i = 0; i < c->n_items && rc == VS_OK; i++)
        rc = vs__save_finish_item(c, &c->items[i]);
    return rc;
}
