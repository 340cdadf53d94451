/* Tests of partitioned variables (reference §6, §2.5 items 12-13, §7.6,
 * §9 cases 74-81 and 93): partitioners, part names/shapes/offsets, reuse
 * rules and their exact messages, initializers with partition_info, and
 * checkpoints across partitionings. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scope_int.h"
#include "varstore.h"

#include "support/db_file.h"
#include "support/graph_fixture.h"
#include "support/vs_test.h"

static vs_var_opts shape_opts(int ndim, const int64_t *shape)
{
    vs_var_opts o;
    memset(&o, 0, sizeof o);
    o.shape = shape;
    o.ndim = ndim;
    return o;
}

/* get_partitioned_variable(name, shape) with partitioner p (NULL: the
 * scope's); ndim -1: no shape. */
static int gpv(vs_graph *g, const char *name, int ndim, const int64_t *shape,
               const vs_partitioner *p, vs_partitioned **out)
{
    vs_var_opts o = shape_opts(ndim >= 0 ? ndim : 0, ndim >= 0 ? shape : NULL);
    return vs_get_partitioned_variable(g, name, &o, p, out);
}

static vs_scope *push(vs_graph *g, const char *name, vs_reuse reuse,
                      const vs_partitioner *p)
{
    vs_scope_opts so;
    vs_scope *s = NULL;
    memset(&so, 0, sizeof so);
    so.reuse = reuse;
    OK(vs_variable_scope_push(g, name, &so, &s));
    if (p != NULL)
        OK(vs_scope_set_partitioner(s, p));
    return s;
}

static void expect_part(const vs_partitioned *p, size_t i, const char *name,
                        int ndim, const int64_t *shape, int64_t off_axis0)
{
    int64_t dims[VS_MAX_DIMS], off[VS_MAX_DIMS];
    vs_var *v = vs_partitioned_part(p, i);
    int d;
    assert_non_null(v);
    assert_string_equal(vs_var_name(v), name);
    assert_int_equal(vs_var_shape(v, dims), ndim);
    for (d = 0; d < ndim; d++)
        assert_int_equal(dims[d], shape[d]);
    assert_int_equal(vs_partitioned_part_offset(p, i, off), ndim);
    assert_int_equal(off[0], off_axis0);
    for (d = 1; d < ndim; d++)
        assert_int_equal(off[d], 0);
}

/* Case 74 (reference §9): scope partitioner along axis 0 into 2, shape (3, 1, 1). */
static void test_fixed_size__scope_partitioner_names_parts(void **state)
{
    vs_graph *g = *state;
    vs_partitioner two = vs_partitioner_fixed_size(2, 0);
    const int64_t shp[] = {3, 1, 1}, s0[] = {2, 1, 1}, s1[] = {1, 1, 1};
    int64_t full[VS_MAX_DIMS];
    vs_partitioned *p = NULL;
    push(g, "scope0", VS_REUSE_INHERIT, &two);
    OK(gpv(g, "name0", 3, shp, NULL, &p));
    assert_string_equal(vs_partitioned_name(p), "scope0/name0");
    assert_int_equal(vs_partitioned_num_parts(p), 2);
    assert_int_equal(vs_partitioned_shape(p, full), 3);
    assert_int_equal(full[0], 3);
    assert_int_equal(full[1], 1);
    expect_part(p, 0, "scope0/name0/part_0:0", 3, s0, 0);
    expect_part(p, 1, "scope0/name0/part_1:0", 3, s1, 2);
    assert_null(vs_partitioned_part(p, 2));
    assert_int_equal(vs_partitioned_part_offset(p, 2, full), -1);
    /* The parts are ordinary store entries; there is no part_2. */
    assert_ptr_equal(vs__graph_find_store(g, "scope0/name0/part_1"),
                     vs_partitioned_part(p, 1));
    assert_null(vs__graph_find_store(g, "scope0/name0/part_2"));
    assert_null(vs__graph_find_store(g, "scope0/name0"));
    assert_string_equal(vs_var_op_name(vs_partitioned_part(p, 0)),
                        "scope0/name0/part_0");
    /* TF's per-part name scope "<part>/PartitionedInitializer" is taken */
    {
        char *u = NULL;
        OK(vs_name_scope_push(g, NULL));
        OK(vs_unique_name(g, "scope0/name0/part_1/PartitionedInitializer", 0,
                          &u));
        assert_string_equal(u, "scope0/name0/part_1/PartitionedInitializer_1");
        vs_free(u);
        OK(vs_name_scope_pop(g));
    }
    OK(vs_variable_scope_pop(g));
}

/* Case 75: fixed_size_partitioner(3) on [10, 4]. */
static void test_fixed_size__uneven_split_gives_first_parts_more(void **state)
{
    vs_graph *g = *state;
    vs_partitioner three = vs_partitioner_fixed_size(3, 0);
    const int64_t shp[] = {10, 4}, a[] = {4, 4}, b[] = {3, 4};
    int64_t parts[VS_MAX_DIMS];
    vs_partitioned *p = NULL;
    OK(gpv(g, "v", 2, shp, &three, &p));
    assert_int_equal(vs_partitioned_num_parts(p), 3);
    expect_part(p, 0, "v/part_0:0", 2, a, 0);
    expect_part(p, 1, "v/part_1:0", 2, b, 4);
    expect_part(p, 2, "v/part_2:0", 2, b, 7);
    assert_int_equal(vs_partitioned_partitions(p, parts), 2);
    assert_int_equal(parts[0], 3);
    assert_int_equal(parts[1], 1);
    assert_int_equal(vs_partitioned_dtype(p), VS_FLOAT32);
    /* TF's save-slice spec of part_1 */
    {
        char spec[64], tiny[8];
        OK(vs__partitioned_slice_spec(p, 1, spec, sizeof spec));
        assert_string_equal(spec, "10 4 4,3:0,4");
        OK(vs__partitioned_slice_spec(p, 0, spec, sizeof spec));
        assert_string_equal(spec, "10 4 0,4:0,4");
        FAILS(vs__partitioned_slice_spec(p, 1, tiny, sizeof tiny), VS_EINVAL,
              "slice spec: buffer too small");
        FAILS(vs__partitioned_slice_spec(p, 3, spec, sizeof spec), VS_EINVAL,
              "slice spec: no such part");
    }
}

/* Along axis 1, and 10 into 4: sizes 3, 3, 2, 2. */
static void test_shard_sizes_axis1(void **state)
{
    vs_graph *g = *state;
    vs_partitioner four = vs_partitioner_fixed_size(4, 1);
    const int64_t shp[] = {2, 10};
    const int64_t want[] = {3, 3, 2, 2}, offs[] = {0, 3, 6, 8};
    int64_t dims[VS_MAX_DIMS], off[VS_MAX_DIMS];
    vs_partitioned *p = NULL;
    size_t i;
    OK(gpv(g, "w", 2, shp, &four, &p));
    assert_int_equal(vs_partitioned_num_parts(p), 4);
    for (i = 0; i < 4; i++) {
        vs_var_shape(vs_partitioned_part(p, i), dims);
        assert_int_equal(dims[0], 2);
        assert_int_equal(dims[1], want[i]);
        vs_partitioned_part_offset(p, i, off);
        assert_int_equal(off[0], 0);
        assert_int_equal(off[1], offs[i]);
    }
}

/* Case 76: fixed_size_partitioner(5) on [2, 3]: 2 parts. */
static void test_fixed_size__shards_capped_by_dimension(void **state)
{
    vs_graph *g = *state;
    vs_partitioner five = vs_partitioner_fixed_size(5, 0);
    const int64_t shp[] = {2, 3}, one[] = {1, 3};
    vs_partitioned *p = NULL;
    OK(gpv(g, "v", 2, shp, &five, &p));
    assert_int_equal(vs_partitioned_num_parts(p), 2);
    expect_part(p, 0, "v/part_0:0", 2, one, 0);
    expect_part(p, 1, "v/part_1:0", 2, one, 1);
}

/* Case 77: a scalar ignores the partitioner; a non-scalar through
 * vs_get_variable is refused with a pointer to the right call. */
static void test_scalar__ignores_partitioner(void **state)
{
    vs_graph *g = *state;
    vs_partitioner two = vs_partitioner_fixed_size(2, 0);
    const int64_t four[] = {4};
    vs_var_opts scalar = shape_opts(0, NULL);
    vs_var_opts vec = shape_opts(1, four);
    vs_var_opts none = shape_opts(0, NULL);
    vs_var *v = NULL;
    vs_partitioned *p = NULL;
    int64_t dummy = 0;
    scalar.shape = &dummy; /* rank 0, given */
    push(g, "scope0", VS_REUSE_INHERIT, &two);
    OK(vs_get_variable(g, "name0", &scalar, &v));
    assert_string_equal(vs_var_name(v), "scope0/name0:0");
    assert_int_equal(vs_var_shape(v, NULL), 0);
    assert_null(vs__graph_find_store(g, "scope0/name0/part_0"));
    FAILS(vs_get_variable(g, "name1", &vec, &v), VS_EINVAL,
          "Variable scope0/name1 has a partitioner and a non-scalar shape: "
          "use vs_get_partitioned_variable() to get a partitioned variable");
    assert_null(v);
    /* no shape at all is not a scalar either */
    FAILS(vs_get_variable(g, "name2", &none, &v), VS_EINVAL,
          "Variable scope0/name2 has a partitioner and a non-scalar shape: "
          "use vs_get_partitioned_variable() to get a partitioned variable");
    /* through the partitioned call, a scalar is TF's rank error */
    FAILS(vs_get_partitioned_variable(g, "name3", &scalar, NULL, &p),
          VS_EINVAL, "A partitioned Variable must have rank at least 1, "
                     "shape: ()");
    assert_null(p);
    OK(vs_variable_scope_pop(g));
}

/* Case 78: 2 shards, then reuse=True with a 3-shard partitioner. */
static void test_reuse__different_partitioning_refused(void **state)
{
    vs_graph *g = *state;
    vs_partitioner two = vs_partitioner_fixed_size(2, 0);
    vs_partitioner three = vs_partitioner_fixed_size(3, 0);
    const int64_t shp[] = {3, 1, 1};
    vs_partitioned *p = NULL, *q = NULL;
    push(g, "scope0", VS_REUSE_INHERIT, &two);
    OK(gpv(g, "name0", 3, shp, NULL, &p));
    OK(vs_variable_scope_pop(g));
    push(g, "scope0", VS_REUSE, &three);
    FAILS(gpv(g, "name0", 3, shp, NULL, &q), VS_EINVAL,
          "Trying to reuse partitioned variable scope0/name0, but specified "
          "partitions [3, 1, 1] and found partitions [2, 1, 1].");
    assert_null(q);
    /* the same partitioning is reused */
    OK(gpv(g, "name0", 3, shp, &two, &q));
    assert_ptr_equal(p, q);
    /* with a partitioner the shape is needed again (§6.4) */
    FAILS(gpv(g, "name0", -1, NULL, &two, &q), VS_EINVAL,
          "Shape of a new partitioned variable must be fully defined, but "
          "instead was <unknown>.");
    OK(vs_variable_scope_pop(g));
    push(g, "scope0", VS_AUTO_REUSE, &two);
    q = NULL;
    OK(gpv(g, "name0", 3, shp, NULL, &q));
    assert_ptr_equal(p, q);
    OK(vs_variable_scope_pop(g));
}

/* Case 79: reuse=True needs neither a partitioner nor a shape. */
static void test_reuse__needs_no_partitioner_nor_shape(void **state)
{
    vs_graph *g = *state;
    vs_partitioner two = vs_partitioner_fixed_size(2, 0);
    const int64_t shp[] = {3, 1, 1};
    vs_partitioned *p = NULL, *q = NULL;
    vs_var *v = NULL;
    push(g, "scope0", VS_REUSE_INHERIT, &two);
    OK(gpv(g, "name0", 3, shp, NULL, &p));
    OK(vs_variable_scope_pop(g));
    push(g, "scope0", VS_REUSE, NULL);
    OK(gpv(g, "name0", -1, NULL, NULL, &q));
    assert_ptr_equal(p, q);
    /* vs_get_variable cannot return it: a clear error */
    FAILS(vs_get_variable(g, "name0", NULL, &v), VS_EINVAL,
          "Variable scope0/name0 is a partitioned variable: use "
          "vs_get_partitioned_variable() to get it");
    /* shape and dtype are still checked */
    {
        const int64_t bad[] = {4, 1, 1};
        vs_var_opts o = shape_opts(3, bad);
        FAILS(vs_get_partitioned_variable(g, "name0", &o, NULL, &q),
              VS_ESHAPE,
              "Trying to reuse partitioned variable scope0/name0, but "
              "specified shape (4, 1, 1) and found shape (3, 1, 1).");
        o = shape_opts(3, shp);
        o.dtype = VS_INT32;
        FAILS(vs_get_partitioned_variable(g, "name0", &o, NULL, &q),
              VS_EDTYPE,
              "Trying to reuse partitioned variable scope0/name0, but "
              "specified dtype int32 and found dtype float32.");
    }
    OK(vs_variable_scope_pop(g));
}

/* Case 80: partitioned and unpartitioned versions collide (AUTO_REUSE). */
static void test_auto_reuse__partitioned_and_plain_collide(void **state)
{
    vs_graph *g = *state;
    vs_partitioner two = vs_partitioner_fixed_size(2, 0);
    const int64_t four[] = {4};
    vs_var_opts o = shape_opts(1, four);
    vs_partitioned *p = NULL;
    vs_var *v = NULL;
    push(g, "a", VS_AUTO_REUSE, NULL);
    OK(vs_get_variable(g, "v", &o, &v));
    FAILS(gpv(g, "v", 1, four, &two, &p), VS_EINVAL,
          "A partitioner was provided, but an unpartitioned version of the "
          "variable was found: a/v.  Perhaps a variable of the same name was "
          "already created without partitioning?");
    assert_null(p);
    /* reverse order */
    OK(gpv(g, "w", 1, four, &two, &p));
    v = NULL;
    FAILS(vs_get_variable(g, "w", &o, &v), VS_EINVAL,
          "No partitioner was provided, but a partitioned version of the "
          "variable was found: a/w/part_0. Perhaps a variable of the same "
          "name was already created with partitioning?");
    assert_null(v);
    /* and through the partitioned call without a partitioner */
    FAILS(gpv(g, "w", 1, four, NULL, &p), VS_EINVAL,
          "No partitioner was provided, but a partitioned version of the "
          "variable was found: a/w/part_0. Perhaps a variable of the same "
          "name was already created with partitioning?");
    FAILS(gpv(g, "x", 1, four, NULL, &p), VS_EINVAL,
          "No partitioner was provided for variable a/x: pass one or set the "
          "variable scope's");
    /* vs_get_variable under a scope partitioner finds the plain a/v */
    OK(vs_scope_set_partitioner(vs_get_variable_scope(g), &two));
    FAILS(vs_get_variable(g, "v", &o, &v), VS_EINVAL,
          "A partitioner was provided, but an unpartitioned version of the "
          "variable was found: a/v.  Perhaps a variable of the same name was "
          "already created without partitioning?");
    OK(vs_variable_scope_pop(g));
}

/* Case 81 and the other partition-list checks of _call_partitioner. */
static void test_partition_list__bad_lists_refused(void **state)
{
    vs_graph *g = *state;
    const int64_t s44[] = {4, 4}, s31[] = {3, 1};
    const int64_t p22[] = {2, 2}, p2[] = {2}, p01[] = {0, 1}, p21[] = {2, 1};
    vs_partitioner zero = vs_partitioner_fixed_size(0, 0);
    vs_partitioner far = vs_partitioner_min_max(4, 2, 1024);
    vs_partitioned *p = NULL;
    FAILS(vs__partition_check(2, s44, 2, p22), VS_EINVAL,
          "Can only slice a variable along one dimension: shape: (4, 4), "
          "partitioning: [2, 2]");
    FAILS(vs__partition_check(2, s31, 1, p2), VS_EINVAL,
          "Partitioner returned a partition list that does not match the "
          "Variable's rank: [2] vs. (3, 1)");
    FAILS(vs__partition_check(2, s44, 2, p01), VS_EINVAL,
          "Partitioner returned zero partitions for some axes: [0, 1]");
    OK(vs__partition_check(2, s44, 2, p21));
    /* reached through a real partitioner */
    FAILS(gpv(g, "z", 2, s44, &zero, &p), VS_EINVAL,
          "Partitioner returned zero partitions for some axes: [0, 1]");
    FAILS(gpv(g, "z", 2, s44, &far, &p), VS_EINVAL,
          "Can not partition variable along axis 2 when shape is only "
          "(4, 4)");
    assert_null(p);
    /* nothing was created by the failed calls */
    assert_null(vs__graph_find_store(g, "z/part_0"));
}

/* The remaining texts of §2.5 item 13. */
static void test_errors__tf_messages_verbatim(void **state)
{
    vs_graph *g = *state;
    vs_partitioner two = vs_partitioner_fixed_size(2, 0);
    vs_partitioner three = vs_partitioner_fixed_size(3, 0);
    const int64_t s31[] = {3, 1}, sq[] = {-1, 2}, one[] = {1};
    vs_var_opts o1 = shape_opts(1, one);
    vs_partitioned *p = NULL;
    vs_var *v = NULL;

    OK(gpv(g, "foo", 2, s31, &two, &p));
    FAILS(gpv(g, "foo", 2, s31, &two, &p), VS_EEXIST,
          "Partitioned variable with name foo already exists. Did you mean "
          "to set reuse=VS_REUSE or reuse=VS_AUTO_REUSE in the variable "
          "scope?");
    assert_null(p);
    FAILS(gpv(g, "new", 2, sq, &two, &p), VS_EINVAL,
          "Shape of a new partitioned variable must be fully defined, but "
          "instead was (?, 2).");
    FAILS(gpv(g, "new", -1, NULL, &two, &p), VS_EINVAL,
          "Shape of a new partitioned variable must be fully defined, but "
          "instead was <unknown>.");

    push(g, "r", VS_REUSE, NULL);
    FAILS(gpv(g, "missing", 2, s31, &two, &p), VS_ENOTFOUND,
          "PartitionedVariable r/missing does not exist, or was not created "
          "with vs_get_partitioned_variable(). Did you mean to set "
          "reuse=VS_REUSE_INHERIT or reuse=VS_AUTO_REUSE in the variable "
          "scope?");
    OK(vs_variable_scope_pop(g));

    /* Parts made by hand: the partitioner disagrees with them. */
    push(g, "h", VS_AUTO_REUSE, NULL);
    OK(vs_get_variable(g, "v/part_0", &o1, &v));
    OK(vs_get_variable(g, "v/part_1", &o1, &v));
    FAILS(gpv(g, "v", 2, s31, &three, &p), VS_EINVAL,
          "Partitioner returned a different partitioning than what was "
          "already found.  Partitioner returned 3 shards, and shard "
          "h/v/part_0 was found, but h/v/part_2 was not.");
    OK(vs_get_variable(g, "w/part_0", &o1, &v));
    OK(vs_get_variable(g, "w/part_1", &o1, &v));
    OK(vs_get_variable(g, "w/part_2", &o1, &v));
    OK(vs_get_variable(g, "w/part_3", &o1, &v));
    FAILS(gpv(g, "w", 2, s31, &three, &p), VS_EINVAL,
          "Partitioner returned a different partitioning than what was "
          "already found.  Partitioner returned 3 shards, and shard "
          "h/w/part_0 was found, but so was the extra shard h/w/part_3.");
    OK(vs_variable_scope_pop(g));
}

static void test_bad_arguments(void **state)
{
    vs_graph *g = *state;
    const int64_t s31[] = {3, 1};
    vs_partitioner bad = vs_partitioner_fixed_size(2, 0);
    vs_partitioner neg = vs_partitioner_fixed_size(2, -1);
    vs_partitioner vas = vs_partitioner_variable_axis_size(0, 0, 0);
    vs_partitioner vas2 = vs_partitioner_variable_axis_size(8, 0, -1);
    vs_partitioner mm = vs_partitioner_min_max(2, 0, 0);
    vs_partitioned *p = (vs_partitioned *)&bad; /* must be reset */
    bad.kind = 9;
    FAILS(vs_get_partitioned_variable(NULL, "v", NULL, NULL, &p), VS_EINVAL,
          "vs_get_partitioned_variable: graph, name and out are required");
    assert_null(p);
    FAILS(vs_get_partitioned_variable(g, NULL, NULL, NULL, &p), VS_EINVAL,
          "vs_get_partitioned_variable: graph, name and out are required");
    FAILS(vs_get_partitioned_variable(g, "v", NULL, NULL, NULL), VS_EINVAL,
          "vs_get_partitioned_variable: graph, name and out are required");
    FAILS(vs_get_partitioned_variable(g, "", NULL, NULL, &p), VS_EINVAL,
          "variable name must not be empty");
    FAILS(gpv(g, "v", 2, s31, &bad, &p), VS_EINVAL,
          "Partitioner must be callable, but received: vs_partitioner kind "
          "9");
    FAILS(vs_scope_set_partitioner(vs_get_variable_scope(g), &bad),
          VS_EINVAL,
          "Partitioner must be callable, but received: vs_partitioner kind "
          "9");
    FAILS(vs_scope_set_partitioner(NULL, NULL), VS_EINVAL,
          "vs_scope_set_partitioner: scope is NULL");
    FAILS(gpv(g, "v", 2, s31, &neg, &p), VS_EINVAL,
          "partitioner axis must be >= 0, got -1");
    FAILS(gpv(g, "v", 2, s31, &vas, &p), VS_EINVAL,
          "Both max_shard_bytes and bytes_per_string_element must be "
          "positive.");
    FAILS(gpv(g, "v", 2, s31, &vas2, &p), VS_EINVAL,
          "max_shards must be positive.");
    FAILS(gpv(g, "v", 2, s31, &mm, &p), VS_EINVAL,
          "min_slice_size must be positive, got 0");
    assert_null(p);
    assert_null(vs_partitioned_part(NULL, 0));
    assert_int_equal(vs_partitioned_num_parts(NULL), 0);
    assert_string_equal(vs_partitioned_name(NULL), "");
    assert_int_equal(vs_partitioned_shape(NULL, NULL), -1);
    assert_int_equal(vs_partitioned_partitions(NULL, NULL), -1);
    assert_null(vs_scope_partitioner(NULL));
    assert_null(vs_scope_partitioner(vs_get_variable_scope(g)));
}

/* Issue 13: a rank beyond VS_MAX_DIMS or below 0, or a bad dtype, is
 * refused before any message prints the shape. */
static void test_bad_arguments__rank_and_dtype_checked_first(void **state)
{
    vs_graph *g = *state;
    const int64_t one[1] = {4};
    vs_partitioner two = vs_partitioner_fixed_size(2, 0);
    vs_var_opts o = shape_opts(200, one);
    vs_partitioned *p = NULL;
    FAILS(vs_get_partitioned_variable(g, "v", &o, &two, &p), VS_EINVAL,
          "rank 200 is out of range [0, 8]");
    o.ndim = -5;
    FAILS(vs_get_partitioned_variable(g, "v", &o, &two, &p), VS_EINVAL,
          "rank -5 is out of range [0, 8]");
    o.ndim = 1;
    o.dtype = (vs_dtype)77;
    FAILS(vs_get_partitioned_variable(g, "v", &o, &two, &p), VS_EINVAL,
          "invalid dtype 77");
    assert_null(p);
    assert_null(vs__graph_find_store(g, "v/part_0"));
}

/* §6.3 formulas, through vs__partitioner_call. */
static void test_partitioner_formulas(void **state)
{
    int64_t parts[VS_MAX_DIMS];
    const int64_t s[] = {100, 10}, big[] = {1000, 256}, tiny[] = {3, 2};
    const int64_t z[] = {0, 4}, e[] = {5, 0};
    vs_partitioner p;
    (void)state;
    /* variable_axis_size: 40 bytes a slice; 1000 bytes -> 25 slices a
     * shard -> 4 shards; capped at 3; tiny max -> one slice a shard. */
    p = vs_partitioner_variable_axis_size(1000, 0, 0);
    OK(vs__partitioner_call(&p, VS_FLOAT32, 2, s, parts));
    assert_int_equal(parts[0], 4);
    assert_int_equal(parts[1], 1);
    p = vs_partitioner_variable_axis_size(1000, 0, 3);
    OK(vs__partitioner_call(&p, VS_FLOAT32, 2, s, parts));
    assert_int_equal(parts[0], 3);
    p = vs_partitioner_variable_axis_size(1, 0, 0);
    OK(vs__partitioner_call(&p, VS_FLOAT32, 2, s, parts));
    assert_int_equal(parts[0], 100);
    p = vs_partitioner_variable_axis_size(1001, 1, 0); /* 400 B a slice */
    OK(vs__partitioner_call(&p, VS_FLOAT32, 2, s, parts));
    assert_int_equal(parts[0], 1);
    assert_int_equal(parts[1], 5);
    p = vs_partitioner_variable_axis_size(100, 0, 0); /* empty slices */
    OK(vs__partitioner_call(&p, VS_FLOAT32, 2, e, parts));
    assert_int_equal(parts[0], 1);
    FAILS(vs__partitioner_call(&p, VS_FLOAT32, 2, z, parts), VS_EINVAL,
          "Partitioner returned zero partitions for some axes: [0, 1]");
    /* min_max: 1,024,000 bytes / 256 KiB = 3.9 -> 4 */
    p = vs_partitioner_min_max(8, 0, VS_MIN_SLICE_SIZE_DEFAULT);
    OK(vs__partitioner_call(&p, VS_FLOAT32, 2, big, parts));
    assert_int_equal(parts[0], 4);
    p = vs_partitioner_min_max(2, 0, VS_MIN_SLICE_SIZE_DEFAULT);
    OK(vs__partitioner_call(&p, VS_FLOAT32, 2, big, parts));
    assert_int_equal(parts[0], 2);
    p = vs_partitioner_min_max(8, 0, VS_MIN_SLICE_SIZE_DEFAULT);
    OK(vs__partitioner_call(&p, VS_FLOAT32, 2, tiny, parts));
    assert_int_equal(parts[0], 1);
    p = vs_partitioner_min_max(8, 0, 4); /* 24 bytes / 4 = 6, dim 3 */
    OK(vs__partitioner_call(&p, VS_FLOAT32, 2, tiny, parts));
    assert_int_equal(parts[0], 3);
    p = vs_partitioner_min_max(8, 0, 4);
    OK(vs__partitioner_call(&p, VS_FLOAT32, 2, z, parts));
    assert_int_equal(parts[0], 1); /* max(1, ...) */
    p = vs_partitioner_min_max(8, 1, 8); /* float64: 48 B / 8 = 6, dim 2 */
    OK(vs__partitioner_call(&p, VS_FLOAT64, 2, tiny, parts));
    assert_int_equal(parts[0], 1);
    assert_int_equal(parts[1], 2);
}

/* §3: the partitioner is inherited by children and kept by a captured
 * scope on re-entry (testPropagatePartitionerOnReopening). */
static void test_scope_inheritance(void **state)
{
    vs_graph *g = *state;
    vs_partitioner two = vs_partitioner_fixed_size(2, 0);
    const int64_t s[] = {4, 3};
    vs_scope *outer, *child;
    vs_partitioned *p = NULL;
    outer = push(g, "outer", VS_REUSE_INHERIT, &two);
    child = push(g, "child", VS_REUSE_INHERIT, NULL);
    assert_non_null(vs_scope_partitioner(child));
    assert_int_equal(vs_scope_partitioner(child)->num_shards, 2);
    OK(gpv(g, "v", 2, s, NULL, &p));
    assert_int_equal(vs_partitioned_num_parts(p), 2);
    OK(vs_variable_scope_pop(g));
    OK(vs_variable_scope_pop(g));
    OK(vs_variable_scope_reenter(g, outer, NULL));
    assert_non_null(vs_scope_partitioner(vs_get_variable_scope(g)));
    OK(gpv(g, "w", 2, s, NULL, &p));
    assert_string_equal(vs_partitioned_name(p), "outer/w");
    OK(vs_variable_scope_pop(g));
    /* the root has none; clearing works */
    assert_null(vs_scope_partitioner(vs_get_variable_scope(g)));
    OK(vs_scope_set_partitioner(outer, NULL));
    assert_null(vs_scope_partitioner(outer));
}

/* Parts are in the collections in order; not_trainable keeps them out of
 * TRAINABLE. */
static void test_collections_order(void **state)
{
    vs_graph *g = *state;
    vs_partitioner three = vs_partitioner_fixed_size(3, 0);
    const int64_t s[] = {7, 2};
    vs_var_opts o = shape_opts(2, s);
    vs_partitioned *p = NULL, *q = NULL;
    vs_var *got[8];
    size_t n, i;
    OK(vs_get_partitioned_variable(g, "p", &o, &three, &p));
    o.not_trainable = 1;
    OK(vs_get_partitioned_variable(g, "q", &o, &three, &q));
    n = vs_get_collection(g, VS_GLOBAL_VARIABLES, NULL, got, 8);
    assert_int_equal(n, 6);
    for (i = 0; i < 3; i++) {
        assert_ptr_equal(got[i], vs_partitioned_part(p, i));
        assert_ptr_equal(got[3 + i], vs_partitioned_part(q, i));
    }
    n = vs_get_collection(g, VS_TRAINABLE_VARIABLES, NULL, got, 8);
    assert_int_equal(n, 3);
    assert_string_equal(vs_var_name(got[2]), "p/part_2:0");
}

/* The values of part i as floats. */
static const float *part_data(const vs_partitioned *p, size_t i)
{
    vs_tensor *t = NULL;
    OK(vs_var_value(vs_partitioned_part(p, i), &t));
    return t->data;
}

/* Core glorot: fans from the FULL shape (partition_info.full_shape); each
 * shard gets the same op seed, as in TF. */
static void test_glorot_fans_from_full_shape(void **state)
{
    vs_graph *g = *state;
    vs_partitioner two = vs_partitioner_fixed_size(2, 0);
    const int64_t s[] = {10, 4}, shard[] = {5, 4};
    vs_init glorot = vs_init_glorot_uniform(7);
    vs_var_opts o = shape_opts(2, s);
    vs_partitioned *p = NULL;
    vs_tensor *want = NULL, *shardwise = NULL;
    vs_init eq;
    vs_var *v0;
    double lim = sqrt(6.0 / (10 + 4)), lim_shard = sqrt(6.0 / (5 + 4));
    float maxabs = 0;
    int i;
    o.initializer = &glorot;
    OK(vs_get_partitioned_variable(g, "k", &o, &two, &p));
    OK(vs_global_variables_initializer(g));
    v0 = vs_partitioned_part(p, 0);
    /* same op seed for every shard: same kernel seeds, same draws */
    assert_int_equal(v0->seed, vs_partitioned_part(p, 1)->seed);
    assert_int_equal(v0->seed2, vs_partitioned_part(p, 1)->seed2);
    assert_memory_equal(part_data(p, 0), part_data(p, 1), 20 * sizeof(float));
    /* exactly U[-L, L) with L from the full shape */
    OK(vs_tensor_new(VS_FLOAT32, 2, shard, &want));
    eq = vs_init_random_uniform(-lim, lim, 7);
    OK(vs_init_fill(&eq, want, v0->seed, v0->seed2));
    assert_memory_equal(part_data(p, 0), want->data, 20 * sizeof(float));
    /* and not what the shard shape would give */
    OK(vs_tensor_new(VS_FLOAT32, 2, shard, &shardwise));
    OK(vs_init_fill(&glorot, shardwise, v0->seed, v0->seed2));
    assert_memory_not_equal(part_data(p, 0), shardwise->data,
                            20 * sizeof(float));
    for (i = 0; i < 20; i++) {
        float a = fabsf(part_data(p, 0)[i]);
        assert_true(a < lim);
        if (a > maxabs)
            maxabs = a;
    }
    assert_true(maxabs > 0.5 * lim);
    assert_true(lim < lim_shard);
    vs_tensor_free(want);
    vs_tensor_free(shardwise);
}

/* One part: bit-identical to the unpartitioned variable (same seeds);
 * he_normal (truncated) and untruncated variance scaling too. */
static void test_single_part_equals_plain(void **state)
{
    vs_graph *g = *state;
    vs_partitioner one = vs_partitioner_fixed_size(1, 0);
    const int64_t s[] = {6, 5};
    vs_init inits[3];
    vs_var_opts o = shape_opts(2, s);
    char name[32];
    int k;
    inits[0] = vs_init_glorot_uniform(3);
    inits[1] = vs_init_he_normal(3);
    inits[2] = vs_init_variance_scaling(2.0, VS_FAN_OUT,
                                        VS_DIST_UNTRUNCATED_NORMAL, 3);
    for (k = 0; k < 3; k++) {
        vs_partitioned *p = NULL;
        vs_var *v = NULL;
        vs_tensor *a = NULL, *b = NULL;
        o.initializer = &inits[k];
        snprintf(name, sizeof name, "p%d", k);
        OK(vs_get_partitioned_variable(g, name, &o, &one, &p));
        assert_int_equal(vs_partitioned_num_parts(p), 1);
        snprintf(name, sizeof name, "u%d", k);
        OK(vs_get_variable(g, name, &o, &v));
        OK(vs_global_variables_initializer(g));
        OK(vs_var_value(vs_partitioned_part(p, 0), &a));
        OK(vs_var_value(v, &b));
        assert_memory_equal(a->data, b->data, 30 * sizeof(float));
    }
}

/* contrib xavier ignores partition_info: the shard shape's fans. */
static void test_xavier_uses_shard_shape(void **state)
{
    vs_graph *g = *state;
    vs_partitioner two = vs_partitioner_fixed_size(2, 0);
    const int64_t s[] = {10, 4}, shard[] = {5, 4};
    vs_init xavier = vs_init_xavier(1, 11);
    vs_var_opts o = shape_opts(2, s);
    vs_partitioned *p = NULL;
    vs_tensor *want = NULL;
    vs_var *v0;
    o.initializer = &xavier;
    OK(vs_get_partitioned_variable(g, "x", &o, &two, &p));
    OK(vs_global_variables_initializer(g));
    v0 = vs_partitioned_part(p, 0);
    OK(vs_tensor_new(VS_FLOAT32, 2, shard, &want));
    OK(vs_init_fill(&xavier, want, v0->seed, v0->seed2));
    assert_memory_equal(part_data(p, 0), want->data, 20 * sizeof(float));
    vs_tensor_free(want);
}

/* identity: eye(full) * gain, sliced at each part's offset. */
static void test_identity_sliced(void **state)
{
    vs_graph *g = *state;
    vs_partitioner cols = vs_partitioner_fixed_size(2, 1);
    vs_partitioner rows = vs_partitioner_fixed_size(3, 0);
    const int64_t s[] = {4, 4};
    vs_init id = vs_init_identity(2.0);
    vs_var_opts o = shape_opts(2, s);
    vs_partitioned *p = NULL, *q = NULL;
    const float *d;
    int r, c;
    o.initializer = &id;
    OK(vs_get_partitioned_variable(g, "ic", &o, &cols, &p));
    OK(vs_get_partitioned_variable(g, "ir", &o, &rows, &q));
    OK(vs_global_variables_initializer(g));
    d = part_data(p, 1); /* [4, 2]: columns 2, 3 */
    for (r = 0; r < 4; r++)
        for (c = 0; c < 2; c++)
            assert_true(d[r * 2 + c] == (r == c + 2 ? 2.0f : 0.0f));
    d = part_data(q, 1); /* [1, 4] at row 2 (sizes 2, 1, 1) */
    for (c = 0; c < 4; c++)
        assert_true(d[c] == (c == 2 ? 2.0f : 0.0f));
}

/* ---- checkpoints ---- */

static void db_path(char *buf, size_t cap, const char *tag)
{
    snprintf(buf, cap, "%s/test_partitioned_%s_%ld.db", vs_test_tmpdir(),
             tag, (long)getpid());
    vs_test_remove_db(buf);
}

/* A [10, 4] float variable "p" partitioned n ways (0: unpartitioned),
 * values 0..39 (or random when random is set). */
static vs_graph *graph_with_p(size_t n, int random, vs_partitioned **pv,
                              vs_var **plain)
{
    const int64_t s[] = {10, 4};
    vs_var_opts o = shape_opts(2, s);
    vs_init r = vs_init_random_normal(0, 1, 5);
    vs_graph *g = NULL;
    OK(vs_graph_open(&g));
    if (random)
        o.initializer = &r;
    *pv = NULL;
    if (plain)
        *plain = NULL;
    if (n > 0) {
        vs_partitioner part = vs_partitioner_fixed_size((int)n, 0);
        OK(vs_get_partitioned_variable(g, "p", &o, &part, pv));
    } else {
        OK(vs_get_variable(g, "p", &o, plain));
    }
    OK(vs_global_variables_initializer(g));
    if (!random) {
        float vals[40];
        int i;
        vs_tensor *t = NULL;
        for (i = 0; i < 40; i++)
            vals[i] = (float)i + 0.25f;
        OK(vs_tensor_from_data(VS_FLOAT32, 2, s, vals, &t));
        if (n > 0)
            OK(vs__partitioned_scatter(*pv, t->data));
        else
            OK(vs_assign(*plain, t));
        vs_tensor_free(t);
    }
    return g;
}

/* The full [10, 4] value of "p" in g (partitioned or not). */
static void full_value(vs_partitioned *pv, vs_var *plain, float out[40])
{
    if (pv != NULL) {
        OK(vs__partitioned_gather(pv, out));
    } else {
        vs_tensor *t = NULL;
        OK(vs_var_value(plain, &t));
        memcpy(out, t->data, 40 * sizeof(float));
    }
}

/* Case 93: one logical tensor, restorable into any partitioning. */
static void test_checkpoint__restores_into_any_partitioning(void **state)
{
    char path[512];
    float saved[40], got[40];
    vs_partitioned *pv = NULL, *pv2 = NULL;
    vs_var *plain = NULL;
    vs_tensor_info *infos = NULL;
    vs_tensor *t = NULL;
    size_t n = 0, i;
    vs_graph *g, *g2, *g3;
    int64_t off[VS_MAX_DIMS];
    (void)state;
    db_path(path, sizeof path, "case93");
    g = graph_with_p(3, 1, &pv, NULL);
    full_value(pv, NULL, saved);
    OK(vs_save(g, path, 1));

    OK(vs_list_variables(path, VS_LATEST, &infos, &n));
    assert_int_equal(n, 1);
    assert_string_equal(infos[0].name, "p");
    assert_int_equal(infos[0].ndim, 2);
    assert_int_equal(infos[0].shape[0], 10);
    assert_int_equal(infos[0].shape[1], 4);
    vs_tensor_info_free(infos, n);
    /* the file's definitions: one variable, full name and shape */
    {
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY,
                                         NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT name, key, shape FROM "
                                            "variables ORDER BY name",
                                            -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(st, 0), "p");
        assert_string_equal((const char *)sqlite3_column_text(st, 1), "p");
        assert_string_equal((const char *)sqlite3_column_text(st, 2),
                            "[10,4]");
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
        sqlite3_close(db);
    }

    OK(vs_load_variable(path, VS_LATEST, "p:0", &t));
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 10);
    assert_memory_equal(t->data, saved, sizeof saved);
    /* row 4 is part_1's first row */
    assert_memory_equal((float *)t->data + 16, part_data(pv, 1),
                        4 * sizeof(float));
    vs_tensor_free(t);
    t = NULL;
    OK(vs_load_variable(path, VS_LATEST, "p", &t));
    vs_tensor_free(t);
    FAILS(vs_load_variable(path, VS_LATEST, "p/part_0", &t), VS_ENOTFOUND,
          "Key p/part_0 not found in checkpoint");

    /* into 2 shards: bit-exact slices */
    g2 = graph_with_p(2, 0, &pv2, NULL);
    OK(vs_restore(g2, path, VS_LATEST));
    full_value(pv2, NULL, got);
    assert_memory_equal(got, saved, sizeof saved);
    for (i = 0; i < 2; i++) {
        vs_partitioned_part_offset(pv2, i, off);
        assert_memory_equal(part_data(pv2, i), saved + off[0] * 4,
                            5 * 4 * sizeof(float));
    }
    /* into an unpartitioned p */
    g3 = graph_with_p(0, 0, &pv, &plain);
    OK(vs_restore(g3, path, VS_LATEST));
    full_value(NULL, plain, got);
    assert_memory_equal(got, saved, sizeof saved);

    vs_graph_close(g);
    vs_graph_close(g2);
    vs_graph_close(g3);
    vs_test_remove_db(path);
}

/* An unpartitioned checkpoint restores into a partitioned variable; and
 * back again, with restore_ex prefix selection. */
static void test_unpartitioned_ckpt_into_partitioned(void **state)
{
    char path[512];
    float saved[40], got[40];
    vs_partitioned *pv = NULL;
    vs_var *plain = NULL;
    vs_restore_opts ro;
    vs_graph *g, *g2;
    (void)state;
    db_path(path, sizeof path, "plain");
    g = graph_with_p(0, 1, &pv, &plain);
    full_value(NULL, plain, saved);
    OK(vs_save(g, path, 3));
    g2 = graph_with_p(4, 0, &pv, NULL);
    memset(&ro, 0, sizeof ro);
    ro.prefix = "p";
    OK(vs_restore_ex(g2, path, 3, &ro));
    full_value(pv, NULL, got);
    assert_memory_equal(got, saved, sizeof saved);
    /* a part (10 rows in 4: 3, 3, 2, 2) holds its slice */
    assert_memory_equal(part_data(pv, 3), saved + 8 * 4, 8 * sizeof(float));
    vs_graph_close(g);
    vs_graph_close(g2);
    vs_test_remove_db(path);
}

/* Explicit lists: every part must be listed (or keys given, which makes
 * the parts separate tensors); a shape change is refused. */
static void test_explicit_lists(void **state)
{
    char path[512];
    vs_partitioned *pv = NULL;
    vs_save_opts so;
    vs_restore_opts ro;
    vs_var *list[3];
    const char *keys[] = {"a", "b"};
    vs_tensor_info *infos = NULL;
    size_t n = 0;
    vs_graph *g, *g2;
    const int64_t s[] = {9, 4};
    vs_var_opts o = shape_opts(2, s);
    vs_partitioner two = vs_partitioner_fixed_size(2, 0);
    vs_partitioned *other = NULL;
    (void)state;
    db_path(path, sizeof path, "lists");
    g = graph_with_p(3, 1, &pv, NULL);
    memset(&so, 0, sizeof so);
    list[0] = vs_partitioned_part(pv, 2);
    list[1] = vs_partitioned_part(pv, 0);
    so.vars = list;
    so.n_vars = 2;
    FAILS(vs_save_ex(g, path, 1, &so), VS_EINVAL,
          "partitioned variable p: only 2 of its 3 parts are listed (list "
          "them all, or give keys to treat the parts as separate "
          "variables)");
    list[2] = vs_partitioned_part(pv, 1);
    so.n_vars = 3;
    OK(vs_save_ex(g, path, 1, &so));
    /* with keys: parts saved one by one */
    so.n_vars = 2;
    so.keys = keys;
    OK(vs_save_ex(g, path, 2, &so));
    OK(vs_list_variables(path, 2, &infos, &n));
    assert_int_equal(n, 2);
    assert_string_equal(infos[0].name, "a");
    assert_int_equal(infos[0].shape[0], 3); /* part_2: 10 = 4 + 3 + 3 */
    assert_string_equal(infos[1].name, "b");
    assert_int_equal(infos[1].shape[0], 4);
    vs_tensor_info_free(infos, n);

    memset(&ro, 0, sizeof ro);
    ro.vars = list;
    ro.n_vars = 1;
    FAILS(vs_restore_ex(g, path, 1, &ro), VS_EINVAL,
          "partitioned variable p: only 1 of its 3 parts are listed (list "
          "them all, or give keys to treat the parts as separate "
          "variables)");
    ro.n_vars = 3;
    OK(vs_restore_ex(g, path, 1, &ro));

    /* a different full shape does not restore */
    OK(vs_graph_open(&g2));
    OK(vs_get_partitioned_variable(g2, "p", &o, &two, &other));
    FAILS(vs_restore(g2, path, 1), VS_ESHAPE,
          "Assign requires shapes of both tensors to match. lhs shape= [9,4] "
          "rhs shape= [10,4] (key p)");
    assert_false(vs_var_is_initialized(vs_partitioned_part(other, 0)));
    vs_graph_close(g);
    vs_graph_close(g2);
    vs_test_remove_db(path);
}

/* init_from_checkpoint: partitioned targets load their slices, mapped by
 * scope (parts cut to the full name) or by full name. */
static void test_init_from_checkpoint(void **state)
{
    char path[512];
    float saved[40], got[40];
    const int64_t s[] = {10, 4};
    vs_var_opts o = shape_opts(2, s);
    vs_init r = vs_init_random_uniform(-1, 1, 9);
    vs_partitioner three = vs_partitioner_fixed_size(3, 0);
    vs_partitioner two = vs_partitioner_fixed_size(2, 0);
    vs_partitioned *src = NULL, *a = NULL, *b = NULL;
    const char *by_scope[] = {"old/", "new/", NULL};
    const char *by_name[] = {"old/p", "other/q", NULL};
    const char *bad_shape[] = {"old/p", "bad/p", NULL};
    const int64_t s2[] = {9, 4};
    vs_var_opts o2 = shape_opts(2, s2);
    vs_partitioned *c = NULL;
    vs_graph *g = NULL, *g2 = NULL;
    (void)state;
    db_path(path, sizeof path, "ifc");
    OK(vs_graph_open(&g));
    o.initializer = &r;
    push(g, "old", VS_REUSE_INHERIT, NULL);
    OK(vs_get_partitioned_variable(g, "p", &o, &three, &src));
    OK(vs_variable_scope_pop(g));
    OK(vs_global_variables_initializer(g));
    OK(vs__partitioned_gather(src, saved));
    OK(vs_save(g, path, 1));

    OK(vs_graph_open(&g2));
    o.initializer = NULL;
    push(g2, "new", VS_REUSE_INHERIT, NULL);
    OK(vs_get_partitioned_variable(g2, "p", &o, &two, &a));
    OK(vs_variable_scope_pop(g2));
    push(g2, "other", VS_REUSE_INHERIT, NULL);
    OK(vs_get_partitioned_variable(g2, "q", &o, &three, &b));
    OK(vs_variable_scope_pop(g2));
    push(g2, "bad", VS_REUSE_INHERIT, NULL);
    OK(vs_get_partitioned_variable(g2, "p", &o2, &two, &c));
    OK(vs_variable_scope_pop(g2));
    FAILS(vs_init_from_checkpoint(g2, path, bad_shape), VS_ESHAPE,
          "Shape of variable bad/p ((9, 4)) doesn't match with shape of "
          "tensor old/p ([10, 4]) from checkpoint reader.");
    OK(vs_init_from_checkpoint(g2, path, by_scope));
    OK(vs_init_from_checkpoint(g2, path, by_name));
    {
        vs_var *vars[5];
        size_t k;
        for (k = 0; k < 2; k++)
            vars[k] = vs_partitioned_part(a, k);
        for (k = 0; k < 3; k++)
            vars[2 + k] = vs_partitioned_part(b, k);
        OK(vs_variables_initializer(g2, vars, 5));
    }
    OK(vs__partitioned_gather(a, got));
    assert_memory_equal(got, saved, sizeof saved);
    OK(vs__partitioned_gather(b, got));
    assert_memory_equal(got, saved, sizeof saved);
    vs_graph_close(g);
    vs_graph_close(g2);
    vs_test_remove_db(path);
}

/* Saving an uninitialized part fails with TF's text. */
static void test_save_uninitialized(void **state)
{
    char path[512];
    const int64_t s[] = {4, 2};
    vs_var_opts o = shape_opts(2, s);
    vs_partitioner two = vs_partitioner_fixed_size(2, 0);
    vs_partitioned *p = NULL;
    vs_graph *g = *state;
    db_path(path, sizeof path, "uninit");
    OK(vs_get_partitioned_variable(g, "u", &o, &two, &p));
    FAILS(vs_save(g, path, 1), VS_EUNINIT,
          "Attempting to use uninitialized value u/part_0");
    vs_test_remove_db(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GRAPH_TEST(test_fixed_size__scope_partitioner_names_parts),
        GRAPH_TEST(test_fixed_size__uneven_split_gives_first_parts_more),
        GRAPH_TEST(test_shard_sizes_axis1),
        GRAPH_TEST(test_fixed_size__shards_capped_by_dimension),
        GRAPH_TEST(test_scalar__ignores_partitioner),
        GRAPH_TEST(test_reuse__different_partitioning_refused),
        GRAPH_TEST(test_reuse__needs_no_partitioner_nor_shape),
        GRAPH_TEST(test_auto_reuse__partitioned_and_plain_collide),
        GRAPH_TEST(test_partition_list__bad_lists_refused),
        GRAPH_TEST(test_errors__tf_messages_verbatim),
        GRAPH_TEST(test_bad_arguments),
        GRAPH_TEST(test_bad_arguments__rank_and_dtype_checked_first),
        cmocka_unit_test(test_partitioner_formulas),
        GRAPH_TEST(test_scope_inheritance),
        GRAPH_TEST(test_collections_order),
        GRAPH_TEST(test_glorot_fans_from_full_shape),
        GRAPH_TEST(test_single_part_equals_plain),
        GRAPH_TEST(test_xavier_uses_shard_shape),
        GRAPH_TEST(test_identity_sliced),
        cmocka_unit_test(test_checkpoint__restores_into_any_partitioning),
        cmocka_unit_test(test_unpartitioned_ckpt_into_partitioned),
        cmocka_unit_test(test_explicit_lists),
        cmocka_unit_test(test_init_from_checkpoint),
        GRAPH_TEST(test_save_uninitialized),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
