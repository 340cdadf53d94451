/* varstore: vs_save_stream and vs_save_stream_parallel, saves whose
 * tensors' bytes come from the caller's read callback a chunk at a time
 * (chunks.c reads them into the window's recycled buffers, on the calling
 * thread or, for the parallel form, on the workers) instead of from
 * memory. */
#include <string.h>

#include "save_int.h"

static int check_args(const char *path, const char *const *names,
                      const vs_dtype *dtypes, const int *ndims,
                      const int64_t *const *shapes, size_t n,
                      vs_read_fn read)
{
    if (path == NULL || *path == '\0')
        return vs__fail(VS_EINVAL, "checkpoint path is NULL or empty");
    if (n == 0)
        return vs__fail(VS_EINVAL, "No variables to save");
    if (names == NULL || dtypes == NULL || ndims == NULL || shapes == NULL)
        return vs__fail(VS_EINVAL,
                        "names, dtypes, ndims and shapes must not be NULL");
    if (read == NULL)
        return vs__fail(VS_EINVAL, "the read callback must not be NULL");
    return VS_OK;
}

/* Item i: key, dtype and shape checked, described by *t (no data). */
static int stream_item(vs__save_item *it, vs_tensor *t, const char *name,
                       vs_dtype dtype, int ndim, const int64_t *shape)
{
    int rc = vs__save_check_key(name);
    if (rc == VS_OK)
        rc = vs__save_check_shape(name, dtype, ndim, shape, &it->nbytes,
                                  &it->numel);
    if (rc != VS_OK)
        return rc;
    t->dtype = dtype;
    t->ndim = ndim;
    if (ndim > 0)
        memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->data = NULL;
    it->key = name;
    it->t = t;
    it->esize = vs__elem_size(dtype);
    return VS_OK;
}

/* vs_save_stream, with the callback allowed on any thread (anywhere) or
 * on the calling thread only. */
static int save_stream(const char *path, int64_t step,
                       const char *const *names, const vs_dtype *dtypes,
                       const int *ndims, const int64_t *const *shapes,
                       size_t n, vs_read_fn read, void *ctx,
                       const vs_save_opts *opts, int anywhere)
{
    int rc = check_args(path, names, dtypes, ndims, shapes, n, read);
    if (rc != VS_OK)
        return rc;
    vs__save_item *items = vs__calloc(n, sizeof *items);
    vs_tensor *tens = vs__calloc(n, sizeof *tens);
    if (items == NULL || tens == NULL)
        rc = vs__fail(VS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && rc == VS_OK; i++) {
        rc = stream_item(&items[i], &tens[i], names[i], dtypes[i], ndims[i],
                         shapes[i]);
        items[i].read = read;
        items[i].read_ctx = ctx;
        items[i].index = i;
        items[i].read_anywhere = anywhere;
    }
    if (rc == VS_OK)
        rc = vs__save_validate(step, items, n, opts, 0);
    if (rc == VS_OK)
        rc = vs__save_run(path, step, items, n, opts, NULL);
    vs__free(tens);
    vs__free(items);
    return rc;
}

int vs_save_stream(const char *path, int64_t step, const char *const *names,
                   const vs_dtype *dtypes, const int *ndims,
                   const int64_t *const *shapes, size_t n, vs_read_fn read,
                   void *ctx, const vs_save_opts *opts)
{
    return save_stream(path, step, names, dtypes, ndims, shapes, n, read,
                       ctx, opts, 0);
}

int vs_save_stream_parallel(const char *path, int64_t step,
                            const char *const *names, const vs_dtype *dtypes,
                            const int *ndims, const int64_t *const *shapes,
                            size_t n, vs_read_fn read, void *ctx,
                            const vs_save_opts *opts)
{
    return save_stream(path, step, names, dtypes, ndims, shapes, n, read,
                       ctx, opts, 1);
}
