/* varstore: the first steps of a save: the caller's keys, tensors and
 * options checked, and the tensors cut into chunks. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "save_int.h"
#include "utf8.h"

/* The raw bytes of the chunks a save keeps in flight, at most (unless
 * there are more threads than chunks of this size in it). */
#define VS_SAVE_WINDOW_BYTES ((size_t)32 << 20)

/* Saves of up to this many raw bytes run their chunks' work on the
 * calling thread (vs__pool_threads_for): for so few bytes the handoffs
 * to worker threads cost more than the encoding they spread. */
#define VS_SAVE_INLINE_BYTES ((uint64_t)1 << 20)
/* ... and raw-codec saves up to this many: their chunks' work is a
 * checksum and statistics (a few GB/s on one core), not an encoding. */
#define VS_SAVE_INLINE_RAW_BYTES ((uint64_t)16 << 20)

/* The save's worker threads: o->threads, or when it is 0 one per core,
 * and 1 for a small save. */
static int save_threads(const vs__save_item *items, size_t n,
                        const vs_save_opts *o)
{
    int t = vs__pool_threads(o != NULL ? o->threads : 0);
    if (o == NULL || o->threads == 0) {
        uint64_t bytes = 0;
        for (size_t i = 0; i < n; i++)
            bytes += items[i].nbytes;
        int raw = o != NULL && o->codec == VS_CODEC_RAW;
        t = vs__pool_threads_for(t, bytes,
                                 raw ? VS_SAVE_INLINE_RAW_BYTES
                                     : VS_SAVE_INLINE_BYTES);
    }
    return t > VS_MAX_THREADS ? VS_MAX_THREADS : t;
}

int vs__save_check_key(const char *key)
{
    if (key == NULL || *key == '\0')
        return vs__fail(VS_EINVAL, "checkpoint key is NULL or empty");
    if (strlen(key) > VS_NAME_MAX)
        return vs__fail(VS_EINVAL, "checkpoint key is longer than %d bytes",
                        VS_NAME_MAX);
    if (!vs__utf8_valid(key, strlen(key)))
        return vs__fail(VS_EINVAL, "checkpoint key is not valid UTF-8");
    return VS_OK;
}

int vs__save_check_shape(const char *key, vs_dtype dtype, int ndim,
                         const int64_t *shape, size_t *nbytes,
                         int64_t *numel)
{
    size_t es = vs__elem_size(dtype);
    if (es == 0)
        return vs__fail(VS_EINVAL, "tensor %s has an invalid dtype (%d)", key,
                        (int)dtype);
    if (ndim < 0 || ndim > VS_MAX_DIMS)
        return vs__fail(VS_EINVAL, "tensor %s has invalid ndim %d", key,
                        ndim);
    if (ndim > 0 && shape == NULL)
        return vs__fail(VS_EINVAL, "tensor %s has no shape", key);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return vs__fail(VS_EINVAL, "tensor %s has a negative dimension",
                            key);
        if ((uint64_t)shape[i] > SIZE_MAX ||
            vs__mul_size(n, (size_t)shape[i], &n) != 0)
            return vs__fail(VS_EINVAL, "tensor %s is too large", key);
    }
    size_t b;
    if (vs__mul_size(n, es, &b) != 0 || n > (size_t)INT64_MAX ||
        b > (size_t)INT64_MAX)
        return vs__fail(VS_EINVAL, "tensor %s is too large", key);
    *nbytes = b;
    *numel = (int64_t)n;
    return VS_OK;
}

int vs__save_check_tensor(const char *key, const vs_tensor *t,
                          size_t *nbytes, int64_t *numel)
{
    if (t == NULL)
        return vs__fail(VS_EINVAL, "tensor %s is NULL", key);
    int rc = vs__save_check_shape(key, t->dtype, t->ndim, t->shape, nbytes,
                                  numel);
    if (rc == VS_OK && *nbytes > 0 && t->data == NULL)
        return vs__fail(VS_EINVAL, "tensor %s has no data", key);
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
    /* NaN, inf, or hours whose seconds overflow a double; negative
     * values are VS_KEEP_HOURS_OFF's "none" */
    double h = o->keep_checkpoint_every_n_hours;
    if (h >= 0 ? !isfinite(h * 3600.0) : !(h < 0 && isfinite(h)))
        return vs__fail(VS_EINVAL,
                        "keep_checkpoint_every_n_hours must be finite and at "
                        "most %g, got %g",
                        DBL_MAX / 3600.0, h);
    return VS_OK;
}

static int cmp_items(const void *a, const void *b)
{
    return strcmp(((const vs__save_item *)a)->key,
                  ((const vs__save_item *)b)->key);
}

static int cmp_var_ptr(const void *a, const void *b)
{
    const vs__save_item *x = *(const vs__save_item *const *)a;
    const vs__save_item *y = *(const vs__save_item *const *)b;
    uintptr_t px = (uintptr_t)x->var, py = (uintptr_t)y->var;
    if (px != py)
        return px < py ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* TF's errors for a key saved twice, and (with a graph) for a variable
 * saved under two keys. items are sorted by key. */
static int check_unique(vs__save_item *items, size_t n, int with_graph)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (strcmp(items[i].key, items[i + 1].key) == 0)
            return vs__fail(VS_EINVAL,
                            "At least two variables have the same name: %s",
                            items[i].key);
    if (!with_graph || n < 2)
        return VS_OK;
    vs__save_item **byvar = vs__calloc(n, sizeof *byvar);
    if (byvar == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        byvar[i] = &items[i];
    qsort(byvar, n, sizeof *byvar, cmp_var_ptr);
    int rc = VS_OK;
    for (size_t i = 0; i + 1 < n && rc == VS_OK; i++)
        if (byvar[i]->var == byvar[i + 1]->var)
            rc = vs__fail(VS_EINVAL,
                          "The same saveable will be restored with two "
                          "names: %s",
                          byvar[i + 1]->key);
    vs__free(byvar);
    return rc;
}

int vs__save_validate(int64_t step, vs__save_item *items, size_t n,
                      const vs_save_opts *o, int with_graph)
{
    if (step < 0)
        return vs__fail(VS_EINVAL, "checkpoint step must be >= 0, got %lld",
                        (long long)step);
    int rc = validate_opts(o);
    if (rc != VS_OK)
        return rc;
    qsort(items, n, sizeof *items, cmp_items);
    return check_unique(items, n, with_graph);
}

/* The most raw bytes one save takes: 128 TiB, the address space of a
 * process on x86-64 and about what an SQLite file of 32 KiB pages can
 * hold. Beyond it a declared size is refused before anything is
 * allocated for it (its chunk list alone would be terabytes). */
#define VS_SAVE_MAX_BYTES ((uint64_t)1 << 47)

/* Each tensor's chunk size (a whole number of elements) and chunk count;
 * the total number of chunks in *n_jobs. */
static int cut_items(vs__save_item *items, size_t n, size_t chunk,
                     size_t *n_jobs)
{
    *n_jobs = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += items[i].nbytes; /* each below 2^63: no overflow first */
        if (total > VS_SAVE_MAX_BYTES)
            return vs__fail(VS_EINVAL,
                            "the tensors hold more than %llu bytes, the most "
                            "one save takes",
                            (unsigned long long)VS_SAVE_MAX_BYTES);
    }
    for (size_t i = 0; i < n; i++) {
        vs__save_item *it = &items[i];
        size_t cs = chunk / it->esize * it->esize;
        if (cs == 0)
            cs = it->esize;
        it->chunk = cs;
        it->n_chunks = it->nbytes / cs + (it->nbytes % cs != 0);
        it->first_job = *n_jobs;
        if (vs__add_size(*n_jobs, it->n_chunks, n_jobs) != 0)
            return vs__fail(VS_EINVAL, "too many chunks");
        vs__stats_init(&it->stats);
    }
    return VS_OK;
}

vs__save_job *vs__save_next_job(vs__save_ctx *c, size_t k)
{
    vs__save_job *j = &c->jobs[k % c->window];
    /* Consumed already (the pool keeps fewer than window jobs in flight):
     * its buffers are back in the free list unless a failure kept them. */
    vs__save_recycle(c, &j->in);
    vs__save_recycle(c, &j->out);
    vs__save_recycle(c, &j->cand);
    memset(j, 0, sizeof *j);
    while (c->items[c->next_item].first_job +
               c->items[c->next_item].n_chunks <= k)
        c->next_item++;
    const vs__save_item *it = &c->items[c->next_item];
    j->item = c->next_item;
    j->seq = k - it->first_job;
    j->len = j->seq + 1 < it->n_chunks ? it->chunk
                                       : it->nbytes - j->seq * it->chunk;
    return j;
}

void vs__save_recycle(vs__save_ctx *c, vs__buf *b)
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

int vs__save_plan(vs__save_ctx *c, const char *path, int64_t step,
                  vs__save_item *items, size_t n, const vs_save_opts *o)
{
    memset(c, 0, sizeof *c);
    c->wb.fd = -1; /* no writeback hint until the journal says so */
    size_t chunk = o != NULL && o->chunk_bytes ? o->chunk_bytes
                                               : VS_CHUNK_DEFAULT;
    int rc = cut_items(items, n, chunk, &c->n_jobs);
    if (rc != VS_OK)
        return rc;
    c->threads = save_threads(items, n, o);
    /* A chunk reused by dedup must be one zlib itself would accept. */
    for (size_t t = 0; t < VS_MAX_THREADS; t++)
        c->ws[t].strict = 1;
    c->main_ws.strict = 1;
    c->path = path;
    c->step = step;
    c->items = items;
    c->n_items = n;
    c->co.level = o != NULL ? o->level : 0;
    c->co.raw_only = o != NULL && o->codec == VS_CODEC_RAW;
    /* The pool keeps at most window jobs prepared and not consumed, each
     * holding up to three buffers (in, out, cand) of about a chunk: a
     * save's memory is a few chunks per thread, whatever the tensors'
     * sizes. Four jobs per thread, fewer on many cores (down to one per
     * thread) so that the window's chunks stay near VS_SAVE_WINDOW_BYTES. */
    size_t per_bytes = VS_SAVE_WINDOW_BYTES / chunk;
    c->window = (size_t)c->threads * 4;
    if (per_bytes < c->window)
        c->window = per_bytes > (size_t)c->threads ? per_bytes
                                                   : (size_t)c->threads;
    c->jobs = vs__calloc(c->window, sizeof *c->jobs);
    c->chunk_ids =
        vs__calloc(c->n_jobs ? c->n_jobs : 1, sizeof *c->chunk_ids);
    c->free_cap = c->window * 3;
    c->free_bufs = vs__calloc(c->free_cap, sizeof *c->free_bufs);
    if (c->jobs == NULL || c->free_bufs == NULL || c->chunk_ids == NULL) {
        vs__free(c->jobs);
        vs__free(c->free_bufs);
        vs__free(c->chunk_ids);
        memset(c, 0, sizeof *c);
        return vs__fail(VS_ENOMEM, "out of memory");
    }
    return VS_OK;
}

void vs__save_ctx_free(vs__save_ctx *c)
{
    sqlite3_finalize(c->cand_q);
    sqlite3_finalize(c->find);
    sqlite3_finalize(c->ins_chunk);
    sqlite3_finalize(c->ins_tc);
    sqlite3_finalize(c->upd_tensor);
    c->cand_q = c->find = c->ins_chunk = c->ins_tc = c->upd_tensor = NULL;
    for (size_t k = 0; c->jobs != NULL && k < c->window; k++) {
        vs__buf_free(&c->jobs[k].in);
        vs__buf_free(&c->jobs[k].out);
        vs__buf_free(&c->jobs[k].cand);
    }
    for (size_t k = 0; k < c->n_free; k++)
        vs__buf_free(&c->free_bufs[k]);
    for (int t = 0; t < VS_MAX_THREADS; t++) {
        vs__ws_free(&c->ws[t]);
        vs__buf_free(&c->cmp[t]);
    }
    vs__ws_free(&c->main_ws);
    vs__free(c->free_bufs);
    vs__free(c->jobs);
    vs__free(c->scratch);
    vs__free(c->pins);
    vs__free(c->chunk_ids);
}
