/* varstore: TF's partitioners (fixed_size_partitioner,
 * variable_axis_size_partitioner, min_max_variable_partitioner) and
 * _call_partitioner's checks of the partition list they return: the
 * arithmetic of partitioning, with no variable involved; also a variable
 * scope's partitioner setting. */
#include <string.h>

#include "scope_int.h"

/* ---- partitioners ---- */

static vs_partitioner make(int kind, int axis)
{
    vs_partitioner p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    p.axis = axis;
    return p;
}

vs_partitioner vs_partitioner_fixed_size(int num_shards, int axis)
{
    vs_partitioner p = make(VS_PARTITION_FIXED_SIZE, axis);
    p.num_shards = num_shards;
    return p;
}

vs_partitioner vs_partitioner_variable_axis_size(int64_t max_shard_bytes,
                                                 int axis, int max_shards)
{
    vs_partitioner p = make(VS_PARTITION_VARIABLE_AXIS_SIZE, axis);
    p.max_shard_bytes = max_shard_bytes;
    p.max_shards = max_shards;
    return p;
}

vs_partitioner vs_partitioner_min_max(int max_partitions, int axis,
                                      int64_t min_slice_size)
{
    vs_partitioner p = make(VS_PARTITION_MIN_MAX, axis);
    p.max_partitions = max_partitions;
    p.min_slice_size = min_slice_size;
    return p;
}

int vs__partitioner_check(const vs_partitioner *p)
{
    if (p == NULL || p->kind == VS_PARTITION_NONE)
        return VS_OK;
    if (p->kind != VS_PARTITION_FIXED_SIZE &&
        p->kind != VS_PARTITION_VARIABLE_AXIS_SIZE &&
        p->kind != VS_PARTITION_MIN_MAX)
        return vs__fail(VS_EINVAL,
                        "Partitioner must be callable, but received: "
                        "vs_partitioner kind %d",
                        p->kind);
    if (p->axis < 0)
        return vs__fail(VS_EINVAL, "partitioner axis must be >= 0, got %d",
                        p->axis);
    if (p->kind == VS_PARTITION_VARIABLE_AXIS_SIZE) {
        if (p->max_shard_bytes < 1)
            return vs__fail(VS_EINVAL, "Both max_shard_bytes and "
                                       "bytes_per_string_element must be "
                                       "positive.");
        if (p->max_shards < 0)
            return vs__fail(VS_EINVAL, "max_shards must be positive.");
    }
    if (p->kind == VS_PARTITION_MIN_MAX && p->min_slice_size < 1)
        return vs__fail(VS_EINVAL, "min_slice_size must be positive, got %lld",
                        (long long)p->min_slice_size);
    return VS_OK;
}

const vs_partitioner *vs__partitioner_effective(vs_graph *g,
                                                const vs_partitioner *given,
                                                int *rc)
{
    const vs_partitioner *p = NULL;
    if (given != NULL && given->kind != VS_PARTITION_NONE)
        p = given;
    else if (g->current->has_partitioner)
        p = &g->current->partitioner;
    *rc = vs__partitioner_check(p);
    return *rc == VS_OK ? p : NULL;
}

int vs_scope_set_partitioner(vs_scope *scope, const vs_partitioner *p)
{
    int rc;
    if (scope == NULL)
        return vs__fail(VS_EINVAL, "vs_scope_set_partitioner: scope is NULL");
    rc = vs__partitioner_check(p);
    if (rc != VS_OK)
        return rc;
    if (p == NULL || p->kind == VS_PARTITION_NONE) {
        scope->has_partitioner = 0;
        memset(&scope->partitioner, 0, sizeof scope->partitioner);
    } else {
        scope->has_partitioner = 1;
        scope->partitioner = *p;
    }
    return VS_OK;
}

const vs_partitioner *vs_scope_partitioner(const vs_scope *scope)
{
    return (scope && scope->has_partitioner) ? &scope->partitioner : NULL;
}

int vs__partition_check(int ndim, const int64_t *shape, int n,
                        const int64_t *parts)
{
    char a[VS_SHAPE_STR_MAX], b[VS_SHAPE_STR_MAX];
    int i, sliced = 0;
    if (n != ndim)
        return vs__fail(VS_EINVAL,
                        "Partitioner returned a partition list that does not "
                        "match the Variable's rank: %s vs. %s",
                        vs__int_list(n, parts, a, sizeof a),
                        vs__shape_str(ndim, shape, b, sizeof b));
    for (i = 0; i < n; i++)
        if (parts[i] < 1)
            return vs__fail(VS_EINVAL,
                            "Partitioner returned zero partitions for some "
                            "axes: %s",
                            vs__int_list(n, parts, a, sizeof a));
    for (i = 0; i < n; i++)
        sliced += parts[i] > 1;
    if (sliced > 1)
        return vs__fail(VS_EINVAL,
                        "Can only slice a variable along one dimension: "
                        "shape: %s, partitioning: %s",
                        vs__shape_str(ndim, shape, a, sizeof a),
                        vs__int_list(n, parts, b, sizeof b));
    return VS_OK;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

int vs__partitioner_call(const vs_partitioner *p, vs_dtype dtype, int ndim,
                         const int64_t *shape, int64_t parts[VS_MAX_DIMS])
{
    char a[VS_SHAPE_STR_MAX];
    int64_t numel, dim;
    size_t nbytes, esize;
    int i, rc, known = ndim >= 0;

    for (i = 0; known && i < ndim; i++)
        known = shape[i] >= 0;
    if (!known)
        return vs__fail(VS_EINVAL,
                        "Shape of a new partitioned variable must be fully "
                        "defined, but instead was %s.",
                        vs__shape_str(ndim, shape, a, sizeof a));
    if (ndim < 1)
        return vs__fail(VS_EINVAL,
                        "A partitioned Variable must have rank at least 1, "
                        "shape: %s",
                        vs__shape_str(ndim, shape, a, sizeof a));
    rc = vs__partitioner_check(p);
    if (rc != VS_OK)
        return rc;
    if (p == NULL || p->kind == VS_PARTITION_NONE)
        return vs__fail(VS_EINVAL, "no partitioner given");
    if (p->axis >= ndim)
        return vs__fail(VS_EINVAL,
                        "Can not partition variable along axis %d when shape "
                        "is only %s",
                        p->axis, vs__shape_str(ndim, shape, a, sizeof a));
    rc = vs_shape_check(dtype, ndim, shape, &numel, &nbytes);
    if (rc != VS_OK)
        return rc;
    esize = vs_dtype_size(dtype);
    for (i = 0; i < ndim; i++)
        parts[i] = 1;
    dim = shape[p->axis];
    switch (p->kind) {
    case VS_PARTITION_FIXED_SIZE:
        parts[p->axis] = min64((int64_t)p->num_shards, dim);
        break;
    case VS_PARTITION_VARIABLE_AXIS_SIZE: {
        /* bytes_per_slice = numel / dim * elem_bytes; slices_per_shard =
         * max(1, floor(max_shard_bytes / bytes_per_slice)); shards =
         * ceil(dim / slices_per_shard), capped at max_shards. TF divides
         * by zero for a zero dim (here: zero partitions) or an empty slice
         * (here: one shard). */
        int64_t bps, sps, shards;
        if (dim == 0) {
            shards = 0;
        } else {
            bps = numel / dim * (int64_t)esize; /* <= nbytes: no overflow */
            sps = bps > 0 ? p->max_shard_bytes / bps : dim;
            if (sps < 1)
                sps = 1;
            shards = dim / sps + (dim % sps != 0);
        }
        if (p->max_shards > 0)
            shards = min64(shards, p->max_shards);
        parts[p->axis] = shards;
        break;
    }
    case VS_PARTITION_MIN_MAX: {
        int64_t total = (int64_t)nbytes, want;
        want = total / p->min_slice_size + (total % p->min_slice_size != 0);
        want = min64(min64(dim, (int64_t)p->max_partitions), want);
        parts[p->axis] = want > 1 ? want : 1;
        break;
    }
    default:
        return vs__fail(VS_EINVAL, "unknown partitioner kind %d", p->kind);
    }
    return vs__partition_check(ndim, shape, ndim, parts);
}
