/* varstore: the snapshot an asynchronous save takes on the calling
 * thread: one copy of the saved bytes, and of the keys, options, path and
 * graph definitions, so that nothing the background thread reads belongs
 * to the caller; or, for a save that borrows the caller's bytes
 * (vs_async_save_tensors_nocopy), a copy of all of that but the bytes. */
#include <stdatomic.h>
#include <string.h>

#include "save_int.h"

static atomic_size_t g_reuses, g_copied;

size_t vs__save_snap_reuses(void) { return atomic_load(&g_reuses); }
size_t vs__save_snap_copied(void) { return atomic_load(&g_copied); }

void vs__snap_block_free(vs__snap_block *b)
{
    vs__big_free(b->p, b->bytes);
    b->p = NULL;
    b->bytes = 0;
}

/* Bytes of each tensor's copy in the snapshot's one block: a multiple of
 * 64, so that every copy starts on a cache line. */
static size_t slot_bytes(size_t nbytes)
{
    return nbytes / 64 * 64 + (nbytes % 64 != 0 ? 64 : 0);
}

/* One block for every tensor's bytes, copied into by copy_bytes on every
 * core: the saver's spare block when it fits (a first touch of fresh
 * pages is most of the copy's time: 500 MB blocked the caller 0.13-0.16 s
 * in fresh memory on the development VM), else fresh pages. */
static int alloc_block(vs__save_snap *s, vs__snap_block *spare)
{
    size_t total = 0;
    for (size_t i = 0; i < s->n; i++)
        if (vs__add_size(total, slot_bytes(s->items[i].nbytes), &total) != 0)
            return vs__fail(VS_ENOMEM, "the tensors are too large to copy");
    if (spare != NULL && spare->p != NULL && spare->bytes >= total &&
        spare->bytes / 2 <= total) {
        s->block = *spare;
        spare->p = NULL;
        spare->bytes = 0;
        atomic_fetch_add(&g_reuses, 1);
        return VS_OK;
    }
    if (spare != NULL)
        vs__snap_block_free(spare); /* before the new one: less memory */
    s->block.p = vs__big_alloc(total, 0);
    if (s->block.p == NULL)
        return vs__fail(VS_ENOMEM,
                        "out of memory copying the tensors (%zu bytes) for "
                        "the background save",
                        total);
    s->block.bytes = total;
    return VS_OK;
}

/* The copy of the tensors' bytes, in pieces of at most COPY_PIECE bytes
 * spread over the cores: the caller waits for it, and one core copying
 * into fresh pages does not reach the memory's speed. */
#define COPY_PIECE ((size_t)8 << 20)

typedef struct {
    const vs__save_snap *s;
    const unsigned char *const *src; /* per item: the caller's bytes */
    size_t *first;                   /* per item: its first piece */
} copy_plan;

static int copy_piece(void *vctx, size_t k, char *err, size_t cap)
{
    (void)err;
    (void)cap;
    const copy_plan *p = vctx;
    /* The item of piece k: the last i with first[i] <= k (items of no
     * bytes share their first with the next item, which comes later). */
    size_t lo = 0, hi = p->s->n; /* first[hi] > k */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->first[mid] <= k)
            lo = mid;
        else
            hi = mid;
    }
    size_t i = lo;
    size_t at = (k - p->first[i]) * COPY_PIECE;
    size_t n = p->s->items[i].nbytes - at;
    memcpy((unsigned char *)p->s->tensors[i].data + at, p->src[i] + at,
           n < COPY_PIECE ? n : COPY_PIECE);
    return VS_OK;
}

/* Copies every item's bytes (src[i]) into its place in the block. */
static int copy_bytes(const vs__save_snap *s, const unsigned char **src,
                      int threads)
{
    size_t *first = vs__calloc(s->n + 1, sizeof *first);
    if (first == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    size_t pieces = 0;
    for (size_t i = 0; i < s->n; i++) {
        first[i] = pieces;
        pieces += (s->items[i].nbytes + COPY_PIECE - 1) / COPY_PIECE;
    }
    first[s->n] = pieces;
    copy_plan p = {s, src, first};
    int t = vs__pool_threads(threads);
    int rc = vs__pool_run(t, pieces, (size_t)t * 2, &p, NULL, copy_piece,
                          NULL);
    vs__free(first);
    if (rc == VS_OK)
        atomic_fetch_add(&g_copied, 1);
    return rc;
}

/* Item i's key and tensor into s, its bytes' place at *off in the block
 * (copied by copy_bytes; the caller's bytes in *src), or, with src NULL,
 * the caller's bytes themselves. */
static int place_item(vs__save_snap *s, size_t i, size_t *off,
                      const unsigned char **src)
{
    vs__save_item *it = &s->items[i];
    vs_tensor *t = &s->tensors[i];
    s->keys[i] = vs__strdup(it->key);
    if (s->keys[i] == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    *t = *it->t;
    if (src != NULL) {
        *src = it->t->data;
        t->data = s->block.p + *off;
        *off += slot_bytes(it->nbytes);
        it->owned = 1;
    }
    it->key = s->keys[i];
    it->t = t;
    it->var = NULL; /* the caller's: never read past this point */
    return VS_OK;
}

/* A snapshot of p's items without their bytes yet: path, options and
 * items copied. */
static int snap_new(const vs__save_prep *p, const char *path, int64_t step,
                    const vs_save_opts *o, vs__save_snap **out)
{
    vs__save_snap *s = *out = vs__calloc(1, sizeof *s);
    if (s == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    s->step = step;
    s->n = p->n;
    if (o != NULL) {
        s->opts = *o;
        s->opts.vars = NULL;
        s->opts.keys = NULL;
        s->opts.n_vars = 0;
        s->has_opts = 1;
    }
    s->path = vs__strdup(path);
    s->items = vs__calloc(p->n, sizeof *s->items);
    s->tensors = vs__calloc(p->n, sizeof *s->tensors);
    s->keys = vs__calloc(p->n, sizeof *s->keys);
    if (s->path == NULL || s->items == NULL || s->tensors == NULL ||
        s->keys == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    memcpy(s->items, p->items, p->n * sizeof *s->items);
    return VS_OK;
}

/* The items' keys and tensors into s, their bytes copied into s's block
 * (spare when it fits), or with lend the caller's bytes themselves. */
static int place_items(vs__save_snap *s, const vs_save_opts *o, int lend,
                       vs__snap_block *spare)
{
    int rc = VS_OK;
    size_t off = 0;
    if (lend) {
        for (size_t i = 0; i < s->n && rc == VS_OK; i++)
            rc = place_item(s, i, &off, NULL);
        return rc;
    }
    rc = alloc_block(s, spare);
    const unsigned char **src = NULL;
    if (rc == VS_OK && (src = vs__calloc(s->n + 1, sizeof *src)) == NULL)
        rc = vs__fail(VS_ENOMEM, "out of memory");
    for (size_t i = 0; i < s->n && rc == VS_OK; i++)
        rc = place_item(s, i, &off, &src[i]);
    if (rc == VS_OK)
        rc = copy_bytes(s, src, o != NULL ? o->threads : 0);
    vs__free((void *)src);
    return rc;
}

int vs__save_snap_take(vs__save_prep *p, const char *path, int64_t step,
                       const vs_save_opts *o, int lend, vs__snap_block *spare,
                       vs__save_snap **out)
{
    *out = NULL;
    vs__save_snap *s = NULL;
    int rc = snap_new(p, path, step, o, &s);
    if (rc == VS_OK)
        rc = place_items(s, o, lend, spare);
    if (rc != VS_OK) {
        vs__save_snap_free(s, spare);
        return rc;
    }
    s->defs = p->defs;
    p->defs = NULL;
    *out = s;
    return VS_OK;
}

int vs__save_snap_run(vs__save_snap *s)
{
    return vs__save_run(s->path, s->step, s->items, s->n,
                        s->has_opts ? &s->opts : NULL, s->defs);
}

void vs__save_snap_free(vs__save_snap *s, vs__snap_block *keep)
{
    if (s == NULL)
        return;
    if (keep != NULL && keep->p == NULL)
        *keep = s->block;
    else
        vs__snap_block_free(&s->block);
    for (size_t i = 0; s->keys != NULL && i < s->n; i++)
        vs__free(s->keys[i]);
    vs__save_defs_free(s->defs);
    vs__free(s->tensors);
    vs__free(s->keys);
    vs__free(s->items);
    vs__free(s->path);
    vs__free(s);
}
