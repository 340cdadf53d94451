/* Every behaviour of the document the project started from (TF 1.x's
 * variable-sharing examples), as a test: same names, same sharing, same
 * errors (with the C API's names). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "varstore.h"

#include "support/graph_fixture.h"
#include "support/vs_test.h"

static const int64_t ONE[] = {1};

static vs_var *get(vs_graph *g, const char *name, const vs_init *init)
{
    vs_var_opts o = {ONE, 1, VS_FLOAT32, init, 0, NULL};
    vs_var *v = NULL;
    OK(vs_get_variable(g, name, &o, &v));
    return v;
}

static float value0(vs_var *v)
{
    vs_tensor *t = NULL;
    OK(vs_var_value(v, &t));
    return ((float *)t->data)[0];
}

static vs_var *variable2(vs_graph *g, const char *name)
{
    float two = 2.0f;
    vs_tensor t = {VS_FLOAT32, 1, {1}, &two};
    vs_var *v = NULL;
    OK(vs_variable(g, name, &t, NULL, &v));
    return v;
}

static void push(vs_graph *g, const char *name, vs_reuse reuse,
                 vs_scope **out)
{
    vs_scope_opts o = {0};
    o.reuse = reuse;
    OK(vs_variable_scope_push(g, name, &o, out));
}

/* 1. get_variable ignores name_scope; Variable uses it, uniquifies. */
static void test_seed__name_scope_get_variable_vs_variable(void **state)
{
    vs_graph *g = *state;
    vs_var *var1, *var3, *var4;
    OK(vs_name_scope_push(g, "name_scope_x"));
    var1 = get(g, "var1", NULL);
    var3 = variable2(g, "var2");
    var4 = variable2(g, "var2");
    OK(vs_name_scope_pop(g));
    OK(vs_global_variables_initializer(g));
    assert_string_equal(vs_var_name(var1), "var1:0");
    assert_string_equal(vs_var_name(var3), "name_scope_x/var2:0");
    assert_string_equal(vs_var_name(var4), "name_scope_x/var2_1:0");
    assert_float_equal(value0(var3), 2.0f, 0.0f);
    assert_float_equal(value0(var4), 2.0f, 0.0f);
    /* default glorot uniform on [1]: |x| < sqrt(6/2) */
    assert_true(fabsf(value0(var1)) < 1.7321f);
}

/* 2. get_variable twice under a name scope, no reuse: an error. */
static void test_seed__duplicate_get_variable_fails(void **state)
{
    vs_graph *g = *state;
    vs_var_opts o = {ONE, 1, VS_FLOAT32, NULL, 0, NULL};
    vs_var *var2 = NULL;
    OK(vs_name_scope_push(g, "name_scope_1"));
    get(g, "var1", NULL);
    FAILS(vs_get_variable(g, "var1", &o, &var2), VS_EEXIST,
          "Variable var1 already exists, disallowed. Did you mean to set "
          "reuse=VS_REUSE or reuse=VS_AUTO_REUSE in the variable scope?");
    assert_null(var2);
    OK(vs_name_scope_pop(g));
}

/* 3. scope.reuse_variables(): var1 shared; Variable still new names. */
static void test_seed__reuse_variables_in_scope(void **state)
{
    vs_graph *g = *state;
    vs_scope *scope = NULL;
    vs_var *var1, *var1_reuse = NULL, *var2, *var2_reuse;
    OK(vs_variable_scope_push(g, "variable_scope_y", NULL, &scope));
    var1 = get(g, "var1", NULL);
    vs_scope_reuse_variables(scope);
    OK(vs_get_variable(g, "var1", NULL, &var1_reuse));
    var2 = variable2(g, "var2");
    var2_reuse = variable2(g, "var2");
    OK(vs_variable_scope_pop(g));
    OK(vs_global_variables_initializer(g));
    assert_ptr_equal(var1, var1_reuse);
    assert_string_equal(vs_var_name(var1), "variable_scope_y/var1:0");
    assert_string_equal(vs_var_name(var1_reuse), "variable_scope_y/var1:0");
    assert_float_equal(value0(var1), value0(var1_reuse), 0.0f);
    assert_string_equal(vs_var_name(var2), "variable_scope_y/var2:0");
    assert_string_equal(vs_var_name(var2_reuse), "variable_scope_y/var2_1:0");
    assert_ptr_not_equal(var2, var2_reuse);
}

/* 4. Reopen 'foo' with reuse=True. */
static void test_seed__reopen_with_reuse_true(void **state)
{
    vs_graph *g = *state;
    vs_var *v, *v1 = NULL;
    push(g, "foo", VS_REUSE_INHERIT, NULL);
    v = get(g, "v", NULL);
    OK(vs_variable_scope_pop(g));
    push(g, "foo", VS_REUSE, NULL);
    OK(vs_get_variable(g, "v", NULL, &v1));
    OK(vs_variable_scope_pop(g));
    assert_ptr_equal(v, v1);
}

/* 5. Re-enter the captured scope object with reuse=True. */
static void test_seed__reenter_scope_object_with_reuse(void **state)
{
    vs_graph *g = *state;
    vs_scope_opts reuse = {VS_REUSE, NULL, 0, NULL, 0};
    vs_scope *foo_scope = NULL;
    vs_var *v, *v1 = NULL;
    push(g, "foo", VS_REUSE_INHERIT, &foo_scope);
    v = get(g, "v", NULL);
    OK(vs_variable_scope_pop(g));
    OK(vs_variable_scope_reenter(g, foo_scope, &reuse));
    OK(vs_get_variable(g, "v", NULL, &v1));
    OK(vs_variable_scope_pop(g));
    assert_ptr_equal(v, v1);
}

/* 6. AUTO_REUSE: create the first time, share after. */
static void test_seed__auto_reuse(void **state)
{
    vs_graph *g = *state;
    vs_var *v, *v1;
    push(g, "foo", VS_AUTO_REUSE, NULL);
    v = get(g, "v", NULL);
    v1 = get(g, "v", NULL);
    OK(vs_variable_scope_pop(g));
    assert_ptr_equal(v, v1);
    assert_string_equal(vs_var_name(v), "foo/v:0");
}

/* 7. The conv example: five convolution() calls share one `weights`. */
static vs_var *convolution(vs_graph *g, int64_t in_ch, int64_t out_ch)
{
    vs_scope_opts scope = {VS_AUTO_REUSE, NULL, 0, NULL, 0};
    const int64_t shape[] = {2, 2, in_ch, out_ch};
    vs_init xavier = vs_init_xavier_conv2d(1, VS_NO_SEED);
    vs_var_opts o = {shape, 4, VS_FLOAT32, &xavier, 0, NULL};
    vs_var *w = NULL;
    OK(vs_variable_scope_push(g, "", &scope, NULL));
    OK(vs_get_variable(g, "weights", &o, &w));
    OK(vs_variable_scope_pop(g));
    return w;
}

static void test_seed__conv_example_shares_weights(void **state)
{
    vs_graph *g = *state;
    const int64_t in_shape[] = {1, 4, 4, 1};
    const int strides[4] = {1, 1, 1, 1};
    vs_init uniform = vs_init_random_uniform(0.0, 255.0, 3);
    vs_var *w = NULL, *first = NULL;
    vs_tensor *input = NULL, *filter = NULL, *out = NULL;
    int i, h, x;

    for (i = 0; i < 5; i++) {
        w = convolution(g, 1, 1);
        if (first == NULL)
            first = w;
        assert_ptr_equal(w, first);
    }
    assert_string_equal(vs_var_name(w), "weights:0");
    assert_int_equal(vs_get_collection(g, VS_GLOBAL_VARIABLES, NULL, NULL, 0),
                     1);
    assert_int_equal(
        vs_get_collection(g, VS_TRAINABLE_VARIABLES, NULL, NULL, 0), 1);
    OK(vs_global_variables_initializer(g));
    OK(vs_var_value(w, &filter));
    /* xavier uniform on [2,2,1,1]: fan_in = fan_out = 4, L = sqrt(6/8) */
    for (i = 0; i < 4; i++)
        assert_true(fabsf(((float *)filter->data)[i]) < 0.8661f);

    OK(vs_tensor_new(VS_FLOAT32, 4, in_shape, &input));
    OK(vs_init_fill(&uniform, input, 1, 3));
    OK(vs_conv2d(input, filter, strides, VS_PAD_SAME, &out));
    assert_int_equal(out->ndim, 4);
    assert_int_equal(out->shape[1], 4);
    assert_int_equal(out->shape[2], 4);
    /* SAME with a 2x2 filter pads one row/column at the bottom/right */
    for (h = 0; h < 4; h++) {
        for (x = 0; x < 4; x++) {
            const float *in = input->data, *k = filter->data;
            double want = 0;
            int dh, dw;
            for (dh = 0; dh < 2; dh++)
                for (dw = 0; dw < 2; dw++)
                    if (h + dh < 4 && x + dw < 4)
                        want += (double)in[(h + dh) * 4 + x + dw] *
                                k[dh * 2 + dw];
            assert_float_equal(((float *)out->data)[h * 4 + x], want,
                               1e-3 + 1e-5 * fabs(want));
        }
    }
    vs_tensor_free(out);
    vs_tensor_free(input);
}

/* 8. reuse=False: the second get_variable("v") is an error. */
static void test_seed__reuse_false_second_get_fails(void **state)
{
    vs_graph *g = *state;
    vs_init c1 = vs_init_constant(1.0);
    vs_var_opts o = {ONE, 1, VS_FLOAT32, NULL, 0, NULL};
    vs_var *v1 = NULL, *v;
    push(g, "foo", VS_REUSE_INHERIT, NULL);
    v = get(g, "v", &c1);
    FAILS(vs_get_variable(g, "v", &o, &v1), VS_EEXIST,
          "Variable foo/v already exists, disallowed. Did you mean to set "
          "reuse=VS_REUSE or reuse=VS_AUTO_REUSE in the variable scope?");
    OK(vs_variable_scope_pop(g));
    OK(vs_global_variables_initializer(g));
    assert_float_equal(value0(v), 1.0f, 0.0f);
}

/* 9. reuse=True gets the existing variable: v1 == v. */
static void test_seed__reuse_true_gets_existing(void **state)
{
    vs_graph *g = *state;
    vs_init c1 = vs_init_constant(1.0);
    vs_var *v, *v1;
    push(g, "foo", VS_REUSE_INHERIT, NULL);
    v = get(g, "v", &c1);
    OK(vs_variable_scope_pop(g));
    push(g, "foo", VS_REUSE, NULL);
    v1 = get(g, "v", NULL);
    OK(vs_variable_scope_pop(g));
    assert_ptr_equal(v1, v);
}

/* 10. reuse=True on a missing variable: an error. */
static void test_seed__reuse_true_missing_fails(void **state)
{
    vs_graph *g = *state;
    vs_var_opts o = {ONE, 1, VS_FLOAT32, NULL, 0, NULL};
    vs_var *v1 = NULL;
    push(g, "foo", VS_REUSE, NULL);
    FAILS(vs_get_variable(g, "v", &o, &v1), VS_ENOTFOUND,
          "Variable foo/v does not exist, or was not created with "
          "vs_get_variable(). Did you mean to set reuse=VS_AUTO_REUSE in the "
          "variable scope?");
    assert_null(v1);
    OK(vs_variable_scope_pop(g));
}

#define T(name) GRAPH_TEST(name)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_seed__name_scope_get_variable_vs_variable),
        T(test_seed__duplicate_get_variable_fails),
        T(test_seed__reuse_variables_in_scope),
        T(test_seed__reopen_with_reuse_true),
        T(test_seed__reenter_scope_object_with_reuse),
        T(test_seed__auto_reuse),
        T(test_seed__conv_example_shares_weights),
        T(test_seed__reuse_false_second_get_fails),
        T(test_seed__reuse_true_gets_existing),
        T(test_seed__reuse_true_missing_fails),
    };
    return cmocka_run_group_tests_name("seed", tests, NULL, NULL);
}
