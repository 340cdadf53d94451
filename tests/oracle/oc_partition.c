/* Scripted cases: partitioned variables (part names, offsets, shapes) for
 * the three partitioners, their collections, reuse and errors. */
#include "oc_script.h"

#include <string.h>

static void list_str(int n, const int64_t *v, char *buf, size_t cap)
{
    size_t at = (size_t)snprintf(buf, cap, "[");
    int i;
    for (i = 0; i < n && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%lld", i ? ", " : "",
                               (long long)v[i]);
    if (at < cap)
        snprintf(buf + at, cap - at, "]");
}

static void print_partitioned(oc_result *r, const vs_partitioned *p)
{
    int64_t dims[VS_MAX_DIMS], parts[VS_MAX_DIMS], off[VS_MAX_DIMS];
    char shp[160], lst[160];
    size_t i;
    int nd = vs_partitioned_shape(p, dims);
    oc_shape_str(nd, dims, shp, sizeof shp);
    list_str(vs_partitioned_partitions(p, parts), parts, lst, sizeof lst);
    oc_line(r, "partitioned %s %s %s partitions %s", vs_partitioned_name(p),
            shp, vs_dtype_name(vs_partitioned_dtype(p)), lst);
    for (i = 0; i < vs_partitioned_num_parts(p); i++) {
        const vs_var *v = vs_partitioned_part(p, i);
        nd = vs_partitioned_part_offset(p, i, off);
        list_str(nd, off, lst, sizeof lst);
        nd = vs_var_shape(v, dims);
        oc_shape_str(nd, dims, shp, sizeof shp);
        oc_line(r, "part %s offset %s %s", vs_var_name(v), lst, shp);
    }
}

/* ndim < 0: no shape; p NULL: no partitioner. */
static vs_partitioned *gp(vs_graph *g, oc_result *r, const char *name,
                          int ndim, const int64_t *shape, vs_dtype dt,
                          const vs_partitioner *p)
{
    vs_var_opts o;
    vs_partitioned *out = NULL;
    int rc;
    memset(&o, 0, sizeof o);
    o.shape = ndim < 0 ? NULL : shape;
    o.ndim = ndim < 0 ? 0 : ndim;
    o.dtype = dt;
    rc = vs_get_partitioned_variable(g, name, &o, p, &out);
    if (rc != VS_OK) {
        oc_rc(r, rc);
        return NULL;
    }
    print_partitioned(r, out);
    return out;
}

static void fixed_size(vs_graph *g, oc_result *r)
{
    static const int64_t a[] = {10, 4}, b[] = {4, 3}, c[] = {2, 5, 3};
    vs_partitioner p3 = vs_partitioner_fixed_size(3, 0);
    vs_partitioner p5 = vs_partitioner_fixed_size(5, 1);
    vs_partitioner p1 = vs_partitioner_fixed_size(1, 0);
    vs_partitioner q2 = vs_partitioner_fixed_size(2, 1);
    gp(g, r, "v", 2, a, 0, &p3);
    gp(g, r, "axis1", 2, b, 0, &p5);
    gp(g, r, "one", 2, a, 0, &p1);
    gp(g, r, "rank3", 3, c, VS_FLOAT64, &q2);
}

static void variable_axis_size(vs_graph *g, oc_result *r)
{
    static const int64_t a[] = {100, 8}, b[] = {6, 50};
    vs_partitioner p = vs_partitioner_variable_axis_size(1000, 0, 0);
    vs_partitioner capped = vs_partitioner_variable_axis_size(1000, 0, 3);
    vs_partitioner ax1 = vs_partitioner_variable_axis_size(100, 1, 0);
    vs_partitioner tiny = vs_partitioner_variable_axis_size(1, 0, 0);
    gp(g, r, "v", 2, a, 0, &p);
    gp(g, r, "capped", 2, a, 0, &capped);
    gp(g, r, "axis1", 2, b, VS_FLOAT64, &ax1);
    gp(g, r, "tiny", 2, b, 0, &tiny);
}

static void min_max(vs_graph *g, oc_result *r)
{
    static const int64_t a[] = {64, 16}, b[] = {300, 256}, c[] = {3, 1000};
    vs_partitioner p = vs_partitioner_min_max(4, 0, 1024);
    vs_partitioner half = vs_partitioner_min_max(4, 0, 3000);
    vs_partitioner dflt = vs_partitioner_min_max(8, 0,
                                                 VS_MIN_SLICE_SIZE_DEFAULT);
    vs_partitioner rows = vs_partitioner_min_max(10, 0, 64);
    gp(g, r, "v", 2, a, 0, &p);
    gp(g, r, "half", 2, a, 0, &half);
    gp(g, r, "dflt", 2, b, 0, &dflt);
    gp(g, r, "rows", 2, c, 0, &rows);
}

static void partition_reuse(vs_graph *g, oc_result *r)
{
    static const int64_t a[] = {10, 4};
    vs_partitioner p3 = vs_partitioner_fixed_size(3, 0);
    vs_partitioner p2 = vs_partitioner_fixed_size(2, 0);
    oc_vpush(g, r, "s", VS_REUSE_INHERIT);
    gp(g, r, "v", 2, a, 0, &p3);
    gp(g, r, "v", 2, a, 0, &p3);
    oc_vpop(g, r);
    oc_vpush(g, r, "s", VS_REUSE);
    gp(g, r, "v", -1, NULL, 0, NULL);
    gp(g, r, "v", 2, a, 0, &p3);
    gp(g, r, "v", 2, a, 0, &p2);
    gp(g, r, "missing", 2, a, 0, &p3);
    oc_vpop(g, r);
    oc_collection_line(g, r, VS_GLOBAL_VARIABLES, NULL);
    oc_collection_line(g, r, VS_TRAINABLE_VARIABLES, NULL);
}

static void scope_partitioner(vs_graph *g, oc_result *r)
{
    static const int64_t a[] = {6, 2};
    vs_partitioner p2 = vs_partitioner_fixed_size(2, 0);
    vs_scope *s = NULL;
    int rc = vs_variable_scope_push(g, "sp", NULL, &s);
    oc_show_entered(g, r, rc);
    if (rc != VS_OK)
        return;
    oc_step(r, vs_scope_set_partitioner(s, &p2));
    gp(g, r, "w", 2, a, 0, NULL);
    oc_getv(g, r, "scalar", 0, NULL, 0);
    oc_vpush(g, r, "child", VS_REUSE_INHERIT);
    gp(g, r, "c", 2, a, 0, NULL);
    oc_vpop(g, r);
    oc_vpop(g, r);
}

/* Partitioned and unpartitioned under one name; reuse with another shape,
 * dtype; a new one without a shape. */
static void partition_errors(vs_graph *g, oc_result *r)
{
    static const int64_t a[] = {4, 2}, b[] = {5, 2};
    vs_partitioner p2 = vs_partitioner_fixed_size(2, 0);
    gp(g, r, "p", 2, a, 0, &p2);
    oc_getv(g, r, "u", 2, a, 0);
    gp(g, r, "u", 2, a, 0, &p2);
    oc_vpush(g, r, "", VS_AUTO_REUSE);
    oc_getv(g, r, "p", 2, a, 0);
    gp(g, r, "p", 2, a, 0, &p2);
    oc_vpop(g, r);
    oc_vpush(g, r, "", VS_REUSE);
    gp(g, r, "p", 2, b, 0, &p2);
    gp(g, r, "p", 2, a, VS_FLOAT64, &p2);
    oc_vpop(g, r);
    gp(g, r, "q", -1, NULL, 0, &p2);
}

/* A zero dimension: the partitioner's own error on the sliced axis, else
 * TF's check of the first part's offset against the full shape. Nothing
 * is left behind. */
static void zero_dims(vs_graph *g, oc_result *r)
{
    static const int64_t a[] = {4, 0}, b[] = {0, 4}, c[] = {4, 0, 2},
                         d[] = {5, 0}, e[] = {4, 2};
    vs_partitioner p2 = vs_partitioner_fixed_size(2, 0);
    vs_partitioner p1 = vs_partitioner_fixed_size(1, 0);
    vs_partitioner mm = vs_partitioner_min_max(2, 0,
                                               VS_MIN_SLICE_SIZE_DEFAULT);
    vs_partitioner mm1 = vs_partitioner_min_max(2, 1,
                                                VS_MIN_SLICE_SIZE_DEFAULT);
    gp(g, r, "a", 2, a, 0, &p2);
    gp(g, r, "b", 2, b, 0, &p2);
    gp(g, r, "c", 3, c, 0, &p2);
    gp(g, r, "d", 2, b, 0, &mm);
    gp(g, r, "e", 2, d, 0, &mm1);
    gp(g, r, "f", 2, a, 0, &p1);
    gp(g, r, "a", 2, e, 0, &p2);
    oc_collection_line(g, r, VS_GLOBAL_VARIABLES, NULL);
}

/* reuse=True without a partitioner: an existing partitioned variable is
 * returned; a missing name is TF's single-variable "does not exist". */
static void reuse_missing(vs_graph *g, oc_result *r)
{
    static const int64_t a[] = {6, 2};
    vs_partitioner p2 = vs_partitioner_fixed_size(2, 0);
    oc_vpush(g, r, "a", VS_REUSE_INHERIT);
    gp(g, r, "v", 2, a, 0, &p2);
    oc_vpop(g, r);
    oc_vpush(g, r, "a", VS_REUSE);
    gp(g, r, "v", 2, a, 0, NULL);
    gp(g, r, "w", 2, a, 0, NULL);
    gp(g, r, "w", -1, NULL, 0, NULL);
    gp(g, r, "w", 2, a, 0, &p2);
    oc_vpop(g, r);
}

static const oc_script scripts[] = {
    {"errors", partition_errors},
    {"reuse_missing", reuse_missing},
    {"zero_dims", zero_dims},
    {"fixed_size", fixed_size},
    {"variable_axis_size", variable_axis_size},
    {"min_max", min_max},
    {"reuse", partition_reuse},
    {"scope_partitioner", scope_partitioner},
};

void oc_partition_cases(oc_add_fn add)
{
    oc_add_scripts(add, "partition", scripts,
                   sizeof scripts / sizeof scripts[0]);
}
