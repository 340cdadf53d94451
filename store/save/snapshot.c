/* varstore: the snapshot an asynchronous save takes on the calling
 * thread: one copy of the saved bytes, and of the keys, options, path and
 * graph definitions, so that nothing the background thread reads belongs
 * to the caller. */
#include <string.h>

#include "save_int.h"

/* Bytes of each tensor's copy in the snapshot's one block: a multiple of
 * 64, so that every copy starts on a cache line. */
static size_t slot_bytes(size_t nbytes)
{
    return nbytes / 64 * 64 + (nbytes % 64 != 0 ? 64 : 0);
}

/* One block for every tensor's bytes (huge pages when large: a fast first
 * touch, as the restore's scratch). */
static int alloc_block(vs__save_snap *s)
{
    size_t total = 0;
    for (size_t i = 0; i < s->n; i++)
        if (vs__add_size(total, slot_bytes(s->items[i].nbytes), &total) != 0)
            return vs__fail(VS_ENOMEM, "the tensors are too large to copy");
    s->block = vs__big_alloc(total);
    if (s->block == NULL)
        return vs__fail(VS_ENOMEM,
                        "out of memory copying the tensors (%zu bytes) for "
                        "the background save",
                        total);
    s->block_bytes = total;
    return VS_OK;
}

/* Item i's key and tensor copied into s, its bytes at *off in the block. */
static int copy_item(vs__save_snap *s, size_t i, size_t *off)
{
    vs__save_item *it = &s->items[i];
    vs_tensor *t = &s->tensors[i];
    s->keys[i] = vs__strdup(it->key);
    if (s->keys[i] == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    *t = *it->t;
    t->data = s->block + *off;
    if (it->nbytes > 0)
        memcpy(t->data, it->t->data, it->nbytes);
    *off += slot_bytes(it->nbytes);
    it->key = s->keys[i];
    it->t = t;
    it->var = NULL; /* the caller's: never read past this point */
    return VS_OK;
}

int vs__save_snap_take(vs__save_prep *p, const char *path, int64_t step,
                       const vs_save_opts *o, vs__save_snap **out)
{
    *out = NULL;
    vs__save_snap *s = vs__calloc(1, sizeof *s);
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
    int rc = VS_OK;
    if (s->path == NULL || s->items == NULL || s->tensors == NULL ||
        s->keys == NULL)
        rc = vs__fail(VS_ENOMEM, "out of memory");
    else
        memcpy(s->items, p->items, p->n * sizeof *s->items);
    if (rc == VS_OK)
        rc = alloc_block(s);
    size_t off = 0;
    for (size_t i = 0; i < s->n && rc == VS_OK; i++)
        rc = copy_item(s, i, &off);
    if (rc != VS_OK) {
        vs__save_snap_free(s);
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

void vs__save_snap_free(vs__save_snap *s)
{
    if (s == NULL)
        return;
    vs__big_free(s->block, s->block_bytes);
    for (size_t i = 0; s->keys != NULL && i < s->n; i++)
        vs__free(s->keys[i]);
    vs__save_defs_free(s->defs);
    vs__free(s->tensors);
    vs__free(s->keys);
    vs__free(s->items);
    vs__free(s->path);
    vs__free(s);
}
