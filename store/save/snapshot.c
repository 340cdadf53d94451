/* varstore: the snapshot an asynchronous save takes on the calling
 * thread: one copy of the saved bytes, and of the keys, options, path and
 * graph definitions, so that nothing the background thread reads belongs
 * to the caller. */
#include <string.h>

#include "save_int.h"

/* Item i's key and tensor copied into s. */
static int copy_item(vs__save_snap *s, size_t i)
{
    vs__save_item *it = &s->items[i];
    vs_tensor *t = &s->tensors[i];
    s->keys[i] = vs__strdup(it->key);
    if (s->keys[i] == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    *t = *it->t;
    t->data = vs__malloc(it->nbytes);
    if (t->data == NULL)
        return vs__fail(VS_ENOMEM,
                        "out of memory copying tensor %s (%zu bytes) for "
                        "the background save",
                        it->key, it->nbytes);
    if (it->nbytes > 0)
        memcpy(t->data, it->t->data, it->nbytes);
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
    for (size_t i = 0; i < s->n && rc == VS_OK; i++)
        rc = copy_item(s, i);
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
    for (size_t i = 0; s->tensors != NULL && i < s->n; i++)
        vs__free(s->tensors[i].data);
    for (size_t i = 0; s->keys != NULL && i < s->n; i++)
        vs__free(s->keys[i]);
    vs__save_defs_free(s->defs);
    vs__free(s->tensors);
    vs__free(s->keys);
    vs__free(s->items);
    vs__free(s->path);
    vs__free(s);
}
