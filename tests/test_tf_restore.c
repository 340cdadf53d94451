/* A checkpoint written by TensorFlow's Saver (tests/fixtures/tf: several
 * dtypes, nested scopes, partitioned variables) read where a varstore file
 * is read: vs_restore into a C graph built with the same scopes (also with
 * another partitioning, or none), vs_init_from_checkpoint, listing and
 * loading by name, and TF's errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tf_fixture.h"
#include "varstore.h"
#include "vs_test.h"

#define FIX VS_TF_FIXTURES

/* parts: 0 a plain variable, else a fixed-size partitioner with so many
 * shards (axis 0). Returns the variable (or the first part). */
static void make_var(vs_graph *g, const fixture_var *fv, int parts,
                     vs_var **v, vs_partitioned **pv)
{
    char scope[128];
    const char *slash = strrchr(fv->name, '/');
    const char *leaf = slash ? slash + 1 : fv->name;
    vs_var_opts o = {.shape = fv->shape, .ndim = fv->ndim,
                     .dtype = fv->dtype};
    vs_init zeros = vs_init_zeros();
    o.initializer = &zeros;
    *v = NULL;
    *pv = NULL;
    if (slash) {
        snprintf(scope, sizeof scope, "%.*s", (int)(slash - fv->name),
                 fv->name);
        OK(vs_variable_scope_push(g, scope, NULL, NULL));
    }
    if (parts > 0) {
        vs_partitioner p = vs_partitioner_fixed_size(parts, 0);
        OK(vs_get_partitioned_variable(g, leaf, &o, &p, pv));
    } else {
        OK(vs_get_variable(g, leaf, &o, v));
    }
    if (slash)
        OK(vs_variable_scope_pop(g));
}

/* The variable's value (a partitioned one gathered) equals the fixture's. */
static void check_value(const fixture_var *fv, vs_var *v, vs_partitioned *pv)
{
    vs_tensor *whole = NULL;
    OK(vs_tensor_new(fv->dtype, fv->ndim, fv->shape, &whole));
    size_t es = vs_dtype_size(fv->dtype);
    if (pv == NULL) {
        vs_tensor *val = NULL;
        OK(vs_var_value(v, &val));
        memcpy(whole->data, val->data, vs_tensor_nbytes(val));
    } else {
        size_t row = (size_t)(fv->ndim > 1 ? fv->shape[1] : 1) * es;
        for (size_t k = 0; k < vs_partitioned_num_parts(pv); k++) {
            int64_t off[VS_MAX_DIMS];
            vs_tensor *val = NULL;
            vs_partitioned_part_offset(pv, k, off);
            OK(vs_var_value(vs_partitioned_part(pv, k), &val));
            memcpy((uint8_t *)whole->data + (size_t)off[0] * row, val->data,
                   vs_tensor_nbytes(val));
        }
    }
    check_fixture_tensor(fv, whole);
    vs_tensor_free(whole);
}

/* Builds every fixture variable; parts_for(name) picks its partitioning. */
static void restore_all(int (*parts_for)(const char *name))
{
    vs_graph *g = NULL;
    vs_var *v[N_VARS];
    vs_partitioned *pv[N_VARS];
    OK(vs_graph_open(&g));
    for (size_t i = 0; i < N_VARS; i++)
        make_var(g, &vars[i], parts_for(vars[i].name), &v[i], &pv[i]);
    OK(vs_restore(g, FIX, VS_LATEST));
    for (size_t i = 0; i < N_VARS; i++)
        check_value(&vars[i], v[i], pv[i]);
    vs_graph_close(g);
}

/* TF's own partitioning: part/emb in 3 shards, bigpart/w in 2. */
static int as_tf(const char *name)
{
    return strcmp(name, "part/emb") == 0     ? 3
           : strcmp(name, "bigpart/w") == 0 ? 2
                                            : 0;
}

/* Another partitioning: part/emb whole, bigpart/w in 5 shards, and the
 * plain dense/kernel in 2. */
static int other(const char *name)
{
    return strcmp(name, "bigpart/w") == 0      ? 5
           : strcmp(name, "dense/kernel") == 0 ? 2
                                               : 0;
}

static void test_restore_from_tf_saver_is_bit_exact(void **state)
{
    (void)state;
    restore_all(as_tf);
}

static void test_restore_into_another_partitioning_or_none(void **state)
{
    (void)state;
    restore_all(other);
}

static void test_restore_from_a_folder_and_a_saved_model(void **state)
{
    (void)state;
    vs_graph *g = NULL;
    vs_var *v = NULL;
    vs_partitioned *pv = NULL;
    const fixture_var *kernel = &vars[2]; /* dense/kernel */
    assert_string_equal(kernel->name, "dense/kernel");
    OK(vs_graph_open(&g));
    make_var(g, kernel, 0, &v, &pv);
    OK(vs_restore_ex(g, FIX "/saved_model", VS_LATEST,
                     &(vs_restore_opts){.prefix = "dense/"}));
    check_value(kernel, v, NULL);
    vs_graph_close(g);
}

static void test_init_from_tf_checkpoint_with_an_assignment_map(void **st)
{
    (void)st;
    vs_graph *g = NULL;
    vs_var *v = NULL;
    vs_partitioned *pv = NULL;
    fixture_var renamed = vars[2]; /* dense/kernel, as new/kernel */
    renamed.name = "new/kernel";
    OK(vs_graph_open(&g));
    make_var(g, &renamed, 0, &v, &pv);
    OK(vs_init_from_checkpoint(g, FIX,
                               (const char *const[]){"dense/", "new/", NULL}));
    OK(vs_global_variables_initializer(g));
    check_value(&vars[2], v, NULL);
    vs_graph_close(g);
}

static void test_list_load_and_latest_on_a_tf_checkpoint(void **state)
{
    (void)state;
    vs_tensor_info *infos = NULL;
    vs_ckpt_info *ck = NULL;
    vs_tensor *t = NULL;
    size_t n = 0;
    int64_t step = -5;
    OK(vs_latest_checkpoint(FIX, &step));
    assert_int_equal(step, 0); /* "model.ckpt" has no "-N" */
    OK(vs_list_checkpoints(FIX, &ck, &n));
    assert_int_equal(n, 1);
    assert_int_equal(ck[0].n_tensors, N_VARS);
    vs_free(ck);
    OK(vs_list_variables(FIX, VS_LATEST, &infos, &n));
    assert_int_equal(n, N_VARS);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(infos[i].name, vars[i].name);
    vs_tensor_info_free(infos, n);
    OK(vs_load_variable(FIX, 0, "outer/bf:0", &t));
    check_fixture_tensor(&vars[10], t);
    vs_tensor_free(t);
    assert_int_equal(vs_load_variable(FIX, 7, "outer/bf", &t), VS_ENOTFOUND);
}

static void test_tf_errors_for_missing_keys_and_mismatches(void **state)
{
    (void)state;
    vs_graph *g = NULL;
    vs_var *v = NULL;
    const int64_t sh[] = {4, 4};
    OK(vs_graph_open(&g));
    OK(vs_get_variable(g, "nowhere/v",
                       &(vs_var_opts){.shape = sh, .ndim = 2}, &v));
    FAILS(vs_restore(g, FIX, VS_LATEST), VS_ENOTFOUND,
          "Key nowhere/v not found in checkpoint");
    vs_graph_close(g);
    OK(vs_graph_open(&g));
    OK(vs_variable_scope_push(g, "dense", NULL, NULL));
    OK(vs_get_variable(g, "kernel", &(vs_var_opts){.shape = sh, .ndim = 2},
                       &v));
    OK(vs_variable_scope_pop(g));
    FAILS(vs_restore(g, FIX, VS_LATEST), VS_ESHAPE,
          "Assign requires shapes of both tensors to match. lhs shape= "
          "[4,4] rhs shape= [3,4] (key dense/kernel)");
    assert_int_equal(vs_var_is_initialized(v), 0);
    vs_graph_close(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restore_from_tf_saver_is_bit_exact),
        cmocka_unit_test(test_restore_into_another_partitioning_or_none),
        cmocka_unit_test(test_restore_from_a_folder_and_a_saved_model),
        cmocka_unit_test(test_init_from_tf_checkpoint_with_an_assignment_map),
        cmocka_unit_test(test_list_load_and_latest_on_a_tf_checkpoint),
        cmocka_unit_test(test_tf_errors_for_missing_keys_and_mismatches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
