/* varstore: partitioned variables: TF's partitioners
 * (fixed_size_partitioner, variable_axis_size_partitioner,
 * min_max_variable_partitioner), _VariableStore._get_partitioned_variable
 * and PartitionedVariable. The parts are ordinary variables made by the
 * single-variable path; this file keeps the grouping, the initializer's
 * partition_info (full-shape fans) and the gather/scatter the checkpoint
 * code uses to store one logical tensor. */
#include <stdio.h>
#include <string.h>

#include "ops_int.h"
#include "scope_int.h"

struct vs_partitioned {
    vs_graph *g;
    char *name;                 /* "foo/v", no ":0" */
    vs_dtype dtype;
    int ndim;                   /* >= 1 */
    int64_t shape[VS_MAX_DIMS]; /* full shape */
    int64_t parts[VS_MAX_DIMS]; /* partition list: 1 except on axis */
    int axis;                   /* slice dimension */
    size_t n;                   /* number of parts */
    vs_var **vars;              /* parts, sorted by offset */
    int64_t *offsets;           /* offset of each part along axis */
};

/* ---- the registry of partitioned variables ---- */

vs_partitioned *vs__partitioned_find(vs_graph *g, const char *full_name)
{
    size_t i;
    for (i = 0; i < g->n_pvs; i++)
        if (strcmp(g->pvs[i]->name, full_name) == 0)
            return g->pvs[i];
    return NULL;
}

static void pv_free(vs_partitioned *p)
{
    if (p == NULL)
        return;
    vs__free(p->name);
    vs__free(p->vars);
    vs__free(p->offsets);
    vs__free(p);
}

void vs__partitioned_free_all(vs_graph *g)
{
    size_t i;
    for (i = 0; i < g->n_pvs; i++)
        pv_free(g->pvs[i]);
    vs__free(g->pvs);
    g->pvs = NULL;
    g->n_pvs = g->cap_pvs = 0;
}

/* 1 when "<full>/part_<i>" is in the get_variable store. */
static int part_exists(vs_graph *g, const char *full, size_t i, int *err)
{
    char *nm = vs__asprintf("%s/part_%zu", full, i);
    int found;
    if (nm == NULL) {
        *err = vs__fail(VS_ENOMEM, "out of memory");
        return 0;
    }
    found = vs__graph_find_store(g, nm) != NULL;
    vs__free(nm);
    return found;
}

int vs__partitioned_none_check(vs_graph *g, const char *full)
{
    int rc = VS_OK;
    if (g->n_part0 == 0)
        return VS_OK;
    if (part_exists(g, full, 0, &rc))
        return vs__fail(VS_EINVAL,
                        "No partitioner was provided, but a partitioned "
                        "version of the variable was found: %s/part_0. "
                        "Perhaps a variable of the same name was already "
                        "created with partitioning?",
                        full);
    return rc;
}

/* ---- get_partitioned_variable ---- */

/* TF's checks on an existing PartitionedVariable. partitions NULL: the
 * partitioner was not called (reuse=True without one). */
static int check_existing(const vs_partitioned *p, vs_reuse reuse, int ndim,
                          const int64_t *shape, vs_dtype dtype,
                          const int64_t *partitions)
{
    char a[VS_SHAPE_STR_MAX], b[VS_SHAPE_STR_MAX];
    int i, ok = 1;
    if (reuse == VS_REUSE_INHERIT)
        return vs__fail(VS_EEXIST,
                        "Partitioned variable with name %s already exists. "
                        "Did you mean to set reuse=VS_REUSE or "
                        "reuse=VS_AUTO_REUSE in the variable scope?",
                        p->name);
    if (ndim >= 0) {
        ok = ndim == p->ndim;
        for (i = 0; ok && i < ndim; i++)
            ok = shape[i] < 0 || shape[i] == p->shape[i];
    }
    if (!ok)
        return vs__fail(VS_ESHAPE,
                        "Trying to reuse partitioned variable %s, but "
                        "specified shape %s and found shape %s.",
                        p->name, vs__shape_str(ndim, shape, a, sizeof a),
                        vs__shape_str(p->ndim, p->shape, b, sizeof b));
    if (dtype != p->dtype)
        return vs__fail(VS_EDTYPE,
                        "Trying to reuse partitioned variable %s, but "
                        "specified dtype %s and found dtype %s.",
                        p->name, vs_dtype_name(dtype),
                        vs_dtype_name(p->dtype));
    if (partitions != NULL) {
        for (i = 0; i < p->ndim; i++)
            if (partitions[i] != p->parts[i])
                break;
        if (i < p->ndim)
            return vs__fail(VS_EINVAL,
                            "Trying to reuse partitioned variable %s, but "
                            "specified partitions %s and found partitions "
                            "%s.",
                            p->name,
                            vs__int_list(p->ndim, partitions, a, sizeof a),
                            vs__int_list(p->ndim, p->parts, b, sizeof b));
    }
    return VS_OK;
}

/* TF's _get_slice_dim_and_num_slices. */
static void slice_dim(int ndim, const int64_t *parts, int *axis, size_t *n)
{
    int i;
    for (i = 0; i < ndim; i++) {
        if (parts[i] > 1) {
            *axis = i;
            *n = (size_t)parts[i];
            return;
        }
    }
    *axis = 0;
    *n = 1;
}

/* Shard i's length along the axis (TF's _iter_slices): the first dim % n
 * shards get one more. */
static int64_t shard_len(int64_t dim, size_t n, size_t i)
{
    int64_t q = dim / (int64_t)n, r = dim % (int64_t)n;
    return q + ((int64_t)i < r ? 1 : 0);
}

/* Checks the initializer against every shard shape before any part is
 * made, so a bad initializer leaves nothing behind. */
static int validate_init(vs_graph *g, const vs_var_opts *o, vs_dtype dtype,
                         int ndim, const int64_t *shape, int axis, size_t n)
{
    vs_init dflt;
    const vs_init *init = vs__var_init_effective(g, o, dtype, &dflt);
    int64_t s[VS_MAX_DIMS];
    size_t i;
    int rc;
    memcpy(s, shape, sizeof(int64_t) * (size_t)ndim);
    for (i = 0; i < n && i < 2; i++) { /* two distinct shard lengths */
        s[axis] = shard_len(shape[axis], n, i == 0 ? 0 : n - 1);
        rc = vs__init_validate(init, dtype, ndim, s);
        if (rc != VS_OK)
            return rc;
    }
    return VS_OK;
}

static int pv_append(vs_graph *g, vs_partitioned *p)
{
    if (g->n_pvs == g->cap_pvs) {
        size_t cap = g->cap_pvs ? 2 * g->cap_pvs : 8;
        vs_partitioned **np = vs__realloc(g->pvs, cap * sizeof *np);
        if (np == NULL)
            return vs__fail(VS_ENOMEM, "out of memory");
        g->pvs = np;
        g->cap_pvs = cap;
    }
    g->pvs[g->n_pvs++] = p;
    return VS_OK;
}

/* TF's check of the parts already in the store against the n the
 * partitioner returned: part_0 found means part_<n-1> must be and
 * part_<n> must not. */
static int check_found_parts(vs_graph *g, const char *full, size_t n)
{
    int rc = VS_OK;
    if (!part_exists(g, full, 0, &rc))
        return rc;
    if (!part_exists(g, full, n - 1, &rc) && rc == VS_OK)
        return vs__fail(VS_EINVAL,
                        "Partitioner returned a different partitioning "
                        "than what was already found.  Partitioner "
                        "returned %zu shards, and shard %s/part_0 was "
                        "found, but %s/part_%zu was not.",
                        n, full, full, n - 1);
    if (rc == VS_OK && part_exists(g, full, n, &rc))
        return vs__fail(VS_EINVAL,
                        "Partitioner returned a different partitioning "
                        "than what was already found.  Partitioner "
                        "returned %zu shards, and shard %s/part_0 was "
                        "found, but so was the extra shard %s/part_%zu.",
                        n, full, full, n);
    return rc;
}

/* TF's _PartitionInfo check of the first part's offset (all zeros)
 * against the full shape, before any part is made: a zero dimension
 * anywhere is refused. */
static int check_first_offset(int ndim, const int64_t *shape)
{
    static const int64_t zeros[VS_MAX_DIMS];
    char a[VS_SHAPE_STR_MAX], b[VS_SHAPE_STR_MAX];
    int i;
    for (i = 0; i < ndim; i++)
        if (shape[i] == 0)
            return vs__fail(VS_EINVAL,
                            "Expected 0 <= offset < shape but found "
                            "offset=0, shape=0 for var_offset=%s, "
                            "full_shape=%s",
                            vs__int_list(ndim, zeros, a, sizeof a),
                            vs__int_list(ndim, shape, b, sizeof b));
    return VS_OK;
}

/* A new partitioned variable (no parts made yet) of the full shape, cut
 * by partitions into n parts along axis. */
static int pv_new(vs_graph *g, const char *full, vs_dtype dtype, int ndim,
                  const int64_t *shape, const int64_t *partitions, int axis,
                  size_t n, vs_partitioned **out)
{
    vs_partitioned *p = vs__calloc(1, sizeof *p);
    *out = NULL;
    if (p == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    p->g = g;
    p->name = vs__strdup(full);
    p->vars = vs__calloc(n, sizeof *p->vars);
    p->offsets = vs__calloc(n, sizeof *p->offsets);
    if (p->name == NULL || p->vars == NULL || p->offsets == NULL) {
        pv_free(p);
        return vs__fail(VS_ENOMEM, "out of memory");
    }
    p->dtype = dtype;
    p->ndim = ndim;
    memcpy(p->shape, shape, sizeof(int64_t) * (size_t)ndim);
    memcpy(p->parts, partitions, sizeof(int64_t) * (size_t)ndim);
    p->axis = axis;
    p->n = n;
    *out = p;
    return VS_OK;
}

/* Part i of p, "<full>/part_<i>", through the single-variable path with
 * po, whose shape is pshape (set here to the shard's). TF builds each
 * part's initializer inside name scope
 * "<full>/part_i/PartitionedInitializer" (at the root): that name is
 * taken too. */
static int make_part(vs_graph *g, vs_partitioned *p, size_t i,
                     const vs_var_opts *po, int64_t *pshape, vs_reuse reuse)
{
    char *nm = vs__asprintf("%s/part_%zu", p->name, i), *ns, *taken = NULL;
    int rc;
    if (nm == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    ns = vs__asprintf("%s/PartitionedInitializer", nm);
    rc = ns != NULL ? vs__unique_name(g, ns, 1, 1, &taken)
                    : vs__fail(VS_ENOMEM, "out of memory");
    vs__free(ns);
    vs__free(taken);
    if (rc == VS_OK) {
        pshape[p->axis] = shard_len(p->shape[p->axis], p->n, i);
        p->offsets[i] = i ? p->offsets[i - 1] +
                                shard_len(p->shape[p->axis], p->n, i - 1)
                          : 0;
        rc = vs__get_single_variable(g, nm, reuse, po, 0, &p->vars[i]);
    }
    vs__free(nm);
    return rc;
}

/* Makes every part of p (TF: under name_scope(None), with the same reuse
 * and opts o, shard shapes) and registers p with the graph. On failure p
 * is freed. */
static int make_parts(vs_graph *g, vs_partitioned *p, const vs_var_opts *o,
                      vs_reuse reuse)
{
    int64_t pshape[VS_MAX_DIMS];
    vs_var_opts po;
    size_t i;
    int rc = VS_OK;

    if (o != NULL)
        po = *o;
    else
        memset(&po, 0, sizeof po);
    memcpy(pshape, p->shape, sizeof(int64_t) * (size_t)p->ndim);
    po.shape = pshape;
    po.ndim = p->ndim;
    po.dtype = p->dtype;
    for (i = 0; i < p->n && rc == VS_OK; i++)
        rc = make_part(g, p, i, &po, pshape, reuse);
    if (rc == VS_OK)
        rc = pv_append(g, p);
    if (rc != VS_OK) {
        pv_free(p);
        return rc;
    }
    for (i = 0; i < p->n; i++) {
        p->vars[i]->part_of = p;
        p->vars[i]->part_index = i;
    }
    return VS_OK;
}

int vs__get_partitioned(vs_graph *g, const char *full, const vs_var_opts *o,
                        int ndim, const int64_t *shape, vs_dtype dtype,
                        const vs_partitioner *part, vs_reuse reuse,
                        vs_partitioned **out)
{
    int64_t partitions[VS_MAX_DIMS];
    vs_partitioned *p;
    size_t n;
    int axis, rc = VS_OK, have_parts = 0;

    if (vs__graph_find_store(g, full) != NULL)
        return vs__fail(VS_EINVAL,
                        "A partitioner was provided, but an unpartitioned "
                        "version of the variable was found: %s.  Perhaps a "
                        "variable of the same name was already created "
                        "without partitioning?",
                        full);
    if (reuse == VS_REUSE_INHERIT || part != NULL) {
        rc = vs__partitioner_call(part, dtype, ndim, shape, partitions);
        if (rc != VS_OK)
            return rc;
        have_parts = 1;
    }
    p = vs__partitioned_find(g, full);
    if (p != NULL) {
        rc = check_existing(p, reuse, ndim, shape, dtype,
                            have_parts ? partitions : NULL);
        *out = rc == VS_OK ? p : NULL;
        return rc;
    }
    if (reuse == VS_REUSE || !have_parts)
        return vs__fail(VS_ENOTFOUND,
                        "PartitionedVariable %s does not exist, or was not "
                        "created with vs_get_partitioned_variable(). Did you "
                        "mean to set reuse=VS_REUSE_INHERIT or "
                        "reuse=VS_AUTO_REUSE in the variable scope?",
                        full);
    slice_dim(ndim, partitions, &axis, &n);
    rc = check_found_parts(g, full, n);
    if (rc == VS_OK)
        rc = check_first_offset(ndim, shape);
    if (rc == VS_OK)
        rc = validate_init(g, o, dtype, ndim, shape, axis, n);
    if (rc == VS_OK)
        rc = pv_new(g, full, dtype, ndim, shape, partitions, axis, n, &p);
    if (rc == VS_OK)
        rc = make_parts(g, p, o, reuse);
    if (rc == VS_OK)
        *out = p;
    return rc;
}

/* ---- accessors ---- */

const char *vs_partitioned_name(const vs_partitioned *p)
{
    return p ? p->name : "";
}

size_t vs_partitioned_num_parts(const vs_partitioned *p)
{
    return p ? p->n : 0;
}

vs_var *vs_partitioned_part(const vs_partitioned *p, size_t i)
{
    return (p && i < p->n) ? p->vars[i] : NULL;
}

vs_dtype vs_partitioned_dtype(const vs_partitioned *p)
{
    return p ? p->dtype : (vs_dtype)0;
}

int vs_partitioned_shape(const vs_partitioned *p, int64_t dims[VS_MAX_DIMS])
{
    if (p == NULL)
        return -1;
    if (dims)
        memcpy(dims, p->shape, sizeof(int64_t) * (size_t)p->ndim);
    return p->ndim;
}

int vs_partitioned_part_offset(const vs_partitioned *p, size_t i,
                               int64_t offset[VS_MAX_DIMS])
{
    int d;
    if (p == NULL || i >= p->n)
        return -1;
    if (offset) {
        for (d = 0; d < p->ndim; d++)
            offset[d] = 0;
        offset[p->axis] = p->offsets[i];
    }
    return p->ndim;
}

int vs_partitioned_partitions(const vs_partitioned *p,
                              int64_t parts[VS_MAX_DIMS])
{
    if (p == NULL)
        return -1;
    if (parts)
        memcpy(parts, p->parts, sizeof(int64_t) * (size_t)p->ndim);
    return p->ndim;
}

int vs__partitioned_slice_spec(const vs_partitioned *p, size_t i, char *buf,
                               size_t cap)
{
    size_t pos = 0;
    int d, w;
    if (p == NULL || i >= p->n || buf == NULL || cap == 0)
        return vs__fail(VS_EINVAL, "slice spec: no such part");
    for (d = 0; d < p->ndim; d++) {
        w = snprintf(buf + pos, cap - pos, "%s%lld", d ? " " : "",
                     (long long)p->shape[d]);
        if (w < 0 || (size_t)w >= cap - pos)
            return vs__fail(VS_EINVAL, "slice spec: buffer too small");
        pos += (size_t)w;
    }
    for (d = 0; d < p->ndim; d++) {
        int64_t off = d == p->axis ? p->offsets[i] : 0;
        int64_t len = p->vars[i]->value.shape[d];
        w = snprintf(buf + pos, cap - pos, "%s%lld,%lld", d ? ":" : " ",
                     (long long)off, (long long)len);
        if (w < 0 || (size_t)w >= cap - pos)
            return vs__fail(VS_EINVAL, "slice spec: buffer too small");
        pos += (size_t)w;
    }
    return VS_OK;
}

/* ---- initialization with partition_info ---- */

int vs__partitioned_fill(vs_var *v)
{
    const vs_partitioned *p = v->part_of;
    const vs_init *in = &v->init;
    vs_init eq;

    if (p == NULL)
        return vs_init_fill(in, &v->value, v->seed, v->seed2);
    switch (in->kind) {
    case VS_INIT_VARIANCE_SCALING:
        /* Core VarianceScaling uses partition_info.full_shape: the same
         * draw as the equivalent plain distribution with the full-shape
         * scale (contrib xavier keeps the shard shape, as in TF). */
        eq = vs__variance_scaling_plain(in, p->ndim, p->shape);
        return vs_init_fill(&eq, &v->value, v->seed, v->seed2);
    case VS_INIT_IDENTITY: {
        /* TF: eye(full_shape) * gain, sliced at the part's offset. */
        vs_tensor one;
        unsigned char elem[16];
        size_t es = vs_dtype_size(v->value.dtype);
        int64_t r, rows = v->value.shape[0], cols = v->value.shape[1];
        int64_t off[VS_MAX_DIMS];
        int rc;
        if (v->value.ndim != 2 || p->ndim != 2 || es == 0 || es > sizeof elem)
            return vs_init_fill(in, &v->value, v->seed, v->seed2);
        if (v->nbytes == 0)
            return VS_OK;
        /* The gain converted to the dtype exactly as ops/init.c does. */
        memset(&one, 0, sizeof one);
        one.dtype = v->value.dtype;
        one.ndim = 0;
        one.data = elem;
        eq = vs_init_constant(in->a);
        rc = vs_init_fill(&eq, &one, 0, 0);
        if (rc != VS_OK)
            return rc;
        (void)vs_partitioned_part_offset(p, v->part_index, off);
        memset(v->value.data, 0, v->nbytes);
        for (r = 0; r < rows; r++) {
            int64_t c = r + off[0] - off[1];
            if (c >= 0 && c < cols)
                memcpy((unsigned char *)v->value.data +
                           (size_t)(r * cols + c) * es,
                       elem, es);
        }
        return VS_OK;
    }
    default:
        return vs_init_fill(in, &v->value, v->seed, v->seed2);
    }
}

/* ---- gather / scatter for checkpoints ---- */

size_t vs__partitioned_nbytes(const vs_partitioned *p)
{
    size_t nbytes = 0;
    if (vs_shape_check(p->dtype, p->ndim, p->shape, NULL, &nbytes) != VS_OK)
        return 0;
    return nbytes;
}

/* Row-major geometry of the axis split: outer blocks before the axis,
 * bytes of one index step along the axis. */
static void geometry(const vs_partitioned *p, size_t *outer, size_t *inner)
{
    size_t o = 1, in = vs_dtype_size(p->dtype);
    int d;
    for (d = 0; d < p->axis; d++)
        o *= (size_t)p->shape[d];
    for (d = p->axis + 1; d < p->ndim; d++)
        in *= (size_t)p->shape[d];
    *outer = o;
    *inner = in;
}

/* dir 0: parts -> full; 1: full -> parts (only part `only` when it is
 * below p->n). Sizes fit (the full shape passed vs_shape_check at
 * creation). */
static void copy_slices(const vs_partitioned *p, unsigned char *full, int dir,
                        size_t only)
{
    size_t outer, inner, i, k, dim = (size_t)p->shape[p->axis];
    geometry(p, &outer, &inner);
    for (i = 0; i < p->n; i++) {
        if (only < p->n && i != only)
            continue;
        const vs_var *v = p->vars[i];
        size_t len = (size_t)v->value.shape[p->axis] * inner;
        size_t off = (size_t)p->offsets[i] * inner;
        unsigned char *part = v->value.data;
        if (len == 0)
            continue;
        for (k = 0; k < outer; k++) {
            unsigned char *f = full + k * dim * inner + off;
            unsigned char *s = part + k * len;
            if (dir == 0)
                memcpy(f, s, len);
            else
                memcpy(s, f, len);
        }
    }
}

int vs__partitioned_gather(const vs_partitioned *p, void *full)
{
    size_t i;
    for (i = 0; i < p->n; i++) {
        const vs_var *v = p->vars[i];
        if (!v->initialized || (v->value.data == NULL && v->nbytes > 0))
            return vs__fail(VS_EUNINIT,
                            "Attempting to use uninitialized value %s",
                            v->op_name);
    }
    if (vs__partitioned_nbytes(p) > 0)
        copy_slices(p, full, 0, (size_t)-1);
    return VS_OK;
}

int vs__partitioned_scatter(vs_partitioned *p, const void *full)
{
    size_t i;
    int rc;
    for (i = 0; i < p->n; i++) {
        rc = vs__var_ensure_buffer(p->vars[i]);
        if (rc != VS_OK)
            return rc;
    }
    if (vs__partitioned_nbytes(p) > 0)
        copy_slices(p, (unsigned char *)(uintptr_t)full, 1, (size_t)-1);
    for (i = 0; i < p->n; i++)
        vs__var_set_initialized(p->vars[i], 1);
    return VS_OK;
}

int vs__partitioned_copy_part(vs_var *v, const void *full)
{
    vs_partitioned *p = v->part_of;
    int rc;
    if (p == NULL || v->part_index >= p->n || p->vars[v->part_index] != v)
        return vs__fail(VS_EINVAL, "%s is not a part of a partitioned "
                                   "variable",
                        v->op_name);
    rc = vs__var_ensure_buffer(v);
    if (rc != VS_OK)
        return rc;
    if (vs__partitioned_nbytes(p) > 0)
        copy_slices(p, (unsigned char *)(uintptr_t)full, 1, v->part_index);
    vs__var_set_initialized(v, 1);
    return VS_OK;
}
