/* Tests of scope/: TF 1.x naming, name scopes, variable scopes, reuse,
 * scope defaults, collections and initialization (reference §9). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <stdlib.h>

#include <sqlite3.h>
#include <stdio.h>

#include "graph_int.h"
#include "varstore.h"

#include "support/graph_fixture.h"
#include "support/vs_test.h"

static const int64_t S1[] = {1};

/* get_variable with a shape (ndim -1: none) and dtype (0: default). */
static int gv(vs_graph *g, const char *name, int ndim, const int64_t *shape,
              vs_dtype dt, vs_var **out)
{
    vs_var_opts o = {0};
    o.shape = ndim >= 0 ? shape : NULL;
    o.ndim = ndim >= 0 ? ndim : 0;
    o.dtype = dt;
    return vs_get_variable(g, name, &o, out);
}

static vs_var *gv1(vs_graph *g, const char *name)
{
    vs_var *v = NULL;
    OK(gv(g, name, 1, S1, 0, &v));
    assert_non_null(v);
    return v;
}

static vs_var *tv(vs_graph *g, const char *name)
{
    float two = 2.0f;
    vs_tensor t = {VS_FLOAT32, 1, {1}, &two};
    vs_var *v = NULL;
    OK(vs_variable(g, name, &t, NULL, &v));
    return v;
}

/* An op named name (TF's C(name)): marks a unique name, checks it. */
static void expect_op(vs_graph *g, const char *name, const char *want)
{
    char *got = NULL;
    OK(vs_unique_name(g, name, 1, &got));
    assert_string_equal(got, want);
    vs_free(got);
}

static void ns_push(vs_graph *g, const char *name, const char *want)
{
    OK(vs_name_scope_push(g, name));
    assert_string_equal(vs_name_scope_current(g), want);
}

static vs_scope *vs_push(vs_graph *g, const char *name, vs_reuse reuse)
{
    vs_scope_opts o = {0};
    vs_scope *s = NULL;
    o.reuse = reuse;
    OK(vs_variable_scope_push(g, name, &o, &s));
    assert_non_null(s);
    return s;
}

static vs_scope *vs_default(vs_graph *g, const char *dflt)
{
    vs_scope_opts o = {0};
    vs_scope *s = NULL;
    o.default_name = dflt;
    OK(vs_variable_scope_push(g, NULL, &o, &s));
    return s;
}

static void reenter(vs_graph *g, vs_scope *s, vs_reuse reuse)
{
    vs_scope_opts o = {0};
    o.reuse = reuse;
    OK(vs_variable_scope_reenter(g, s, &o));
}

/* ---- unique names and name scopes (cases 1-10) ---- */

static void test_unique__repeats_get_suffixes(void **state)
{
    vs_graph *g = *state;
    expect_op(g, "a", "a");
    expect_op(g, "a", "a_1");
    expect_op(g, "a", "a_2");
}

static void test_unique__skips_taken_suffix(void **state)
{
    vs_graph *g = *state;
    expect_op(g, "a", "a");
    expect_op(g, "a_1", "a_1");
    expect_op(g, "a", "a_2");
}

static void test_unique__explicit_after_generated(void **state)
{
    vs_graph *g = *state;
    expect_op(g, "a", "a");
    expect_op(g, "a", "a_1");
    expect_op(g, "a_1", "a_1_1");
}

static void test_unique__case_insensitive_keeps_case(void **state)
{
    vs_graph *g = *state;
    expect_op(g, "foo", "foo");
    expect_op(g, "Foo", "Foo_1");
}

static void test_unique__without_mark_takes_nothing(void **state)
{
    vs_graph *g = *state;
    char *n = NULL;
    OK(vs_unique_name(g, "x", 0, &n));
    assert_string_equal(n, "x");
    vs_free(n);
    expect_op(g, "x", "x");
    OK(vs_unique_name(g, "x", 0, &n));
    assert_string_equal(n, "x_1");
    vs_free(n);
    expect_op(g, "x", "x_1");
}

static void test_ns__twice_at_root(void **state)
{
    vs_graph *g = *state;
    ns_push(g, "foo", "foo/");
    OK(vs_name_scope_pop(g));
    assert_string_equal(vs_name_scope_current(g), "");
    ns_push(g, "foo", "foo_1/");
    OK(vs_name_scope_pop(g));
}

static void test_ns__shares_table_with_ops(void **state)
{
    vs_graph *g = *state;
    expect_op(g, "foo", "foo");
    ns_push(g, "foo", "foo_1/");
    OK(vs_name_scope_pop(g));
    ns_push(g, "bar", "bar/");
    OK(vs_name_scope_pop(g));
    expect_op(g, "bar", "bar_1");
}

static void test_ns__absolute_reentry(void **state)
{
    vs_graph *g = *state;
    ns_push(g, "foo", "foo/");
    ns_push(g, "bar", "foo/bar/");
    OK(vs_name_scope_pop(g));
    OK(vs_name_scope_pop(g));
    ns_push(g, "foo/", "foo/");
    expect_op(g, "Const", "foo/Const");
    OK(vs_name_scope_pop(g));
    ns_push(g, "foo", "foo_1/");
    OK(vs_name_scope_pop(g));
}

static void test_ns__empty_and_null_reset_to_root(void **state)
{
    vs_graph *g = *state;
    ns_push(g, "a", "a/");
    ns_push(g, "", "");
    expect_op(g, "Const", "Const");
    OK(vs_name_scope_pop(g));
    ns_push(g, NULL, "");
    expect_op(g, "Const", "Const_1");
    OK(vs_name_scope_pop(g));
    assert_string_equal(vs_name_scope_current(g), "a/");
    OK(vs_name_scope_pop(g));
}

static void test_ns__name_validation(void **state)
{
    vs_graph *g = *state;
    FAILS(vs_name_scope_push(g, "_x"), VS_EINVAL,
          "'_x' is not a valid scope name");
    FAILS(vs_name_scope_push(g, "a b"), VS_EINVAL,
          "'a b' is not a valid scope name");
    assert_string_equal(vs_name_scope_current(g), "");
    ns_push(g, "a", "a/");
    ns_push(g, "_x", "a/_x/");
    OK(vs_name_scope_pop(g));
    OK(vs_name_scope_pop(g));
    FAILS(vs_name_scope_pop(g), VS_EINVAL, "no name scope is open");
}

static void test_vs__invalid_name_underscore(void **state)
{
    vs_graph *g = *state;
    vs_scope *s = NULL;
    FAILS(vs_variable_scope_push(g, "_", NULL, &s), VS_EINVAL,
          "'_' is not a valid scope name");
    assert_null(s);
    assert_string_equal(vs_scope_name(vs_get_variable_scope(g)), "");
}

/* ---- tf.Variable vs get_variable naming (cases 11-19) ---- */

static void test_variable__default_names(void **state)
{
    vs_graph *g = *state;
    assert_string_equal(vs_var_name(tv(g, NULL)), "Variable:0");
    assert_string_equal(vs_var_name(tv(g, NULL)), "Variable_1:0");
}

static void test_naming__get_variable_ignores_name_scope(void **state)
{
    vs_graph *g = *state;
    ns_push(g, "ns", "ns/");
    assert_string_equal(vs_var_name(tv(g, "w")), "ns/w:0");
    assert_string_equal(vs_var_name(gv1(g, "v")), "v:0");
    OK(vs_name_scope_pop(g));
}

static void test_naming__variable_scope_names_both(void **state)
{
    vs_graph *g = *state;
    vs_push(g, "foo", 0);
    assert_string_equal(vs_var_name(gv1(g, "v")), "foo/v:0");
    assert_string_equal(vs_var_name(tv(g, "w")), "foo/w:0");
    OK(vs_variable_scope_pop(g));
}

static void test_naming__reopened_scope_shares_and_uniquifies_ops(
    void **state)
{
    vs_graph *g = *state;
    vs_var *v, *v2;
    vs_push(g, "foo", 0);
    v = gv1(g, "v");
    OK(vs_variable_scope_pop(g));
    vs_push(g, "foo", VS_REUSE);
    v2 = gv1(g, "v");
    assert_ptr_equal(v, v2);
    assert_string_equal(vs_var_name(v2), "foo/v:0");
    assert_string_equal(vs_var_name(tv(g, "w")), "foo_1/w:0");
    expect_op(g, "c", "foo_1/c");
    OK(vs_variable_scope_pop(g));
}

static void test_naming__reopened_scope_creates_in_same_scope(void **state)
{
    vs_graph *g = *state;
    vs_push(g, "foo", 0);
    gv1(g, "v");
    OK(vs_variable_scope_pop(g));
    vs_push(g, "foo", 0);
    assert_string_equal(vs_var_name(gv1(g, "w")), "foo/w:0");
    OK(vs_variable_scope_pop(g));
}

static void test_naming__ns_around_vs(void **state)
{
    vs_graph *g = *state;
    ns_push(g, "ns", "ns/");
    vs_push(g, "vs", 0);
    assert_string_equal(vs_name_scope_current(g), "ns/vs/");
    expect_op(g, "c", "ns/vs/c");
    assert_string_equal(vs_var_name(gv1(g, "v")), "vs/v:0");
    OK(vs_variable_scope_pop(g));
    OK(vs_name_scope_pop(g));
}

static void test_naming__variable_then_get_variable_quirk(void **state)
{
    vs_graph *g = *state;
    vs_var *a = tv(g, "v");
    vs_var *b = gv1(g, "v");
    assert_ptr_not_equal(a, b);
    assert_string_equal(vs_var_name(a), "v:0");
    assert_string_equal(vs_var_name(b), "v_1:0");
    assert_string_equal(vs_var_op_name(b), "v_1");
    /* the store key stays v: a reuse finds the get_variable one */
    vs_scope_reuse_variables(vs_get_variable_scope(g));
    assert_ptr_equal(gv1(g, "v"), b);
}

static void test_naming__variable_not_in_store(void **state)
{
    vs_graph *g = *state;
    vs_var *v = NULL;
    vs_push(g, "scope_1", 0);
    tv(g, "v1");
    OK(vs_variable_scope_pop(g));
    vs_push(g, "scope_1", VS_REUSE);
    FAILS(gv(g, "v1", 1, S1, 0, &v), VS_ENOTFOUND,
          "Variable scope_1/v1 does not exist, or was not created with "
          "vs_get_variable(). Did you mean to set reuse=VS_AUTO_REUSE in the "
          "variable scope?");
    assert_null(v);
    OK(vs_variable_scope_pop(g));
}

static void test_naming__case_distinct_store_entries(void **state)
{
    vs_graph *g = *state;
    vs_var *a = gv1(g, "v");
    vs_var *b = gv1(g, "V");
    assert_ptr_not_equal(a, b);
    assert_string_equal(vs_var_name(a), "v:0");
    assert_string_equal(vs_var_name(b), "V_1:0");
}

/* ---- scope objects, default names, auxiliary name scopes (20-32) ---- */

static void test_reentry__name_scopes_uniquified(void **state)
{
    vs_graph *g = *state;
    vs_scope *o = vs_push(g, "outer", 0);
    vs_var *w;
    OK(vs_variable_scope_pop(g));
    reenter(g, o, 0);
    w = NULL;
    OK(gv(g, "w", 0, S1, 0, &w));
    assert_string_equal(vs_var_name(w), "outer/w:0");
    ns_push(g, "s", "outer_1/s/");
    OK(vs_name_scope_pop(g));
    OK(vs_variable_scope_pop(g));
    reenter(g, o, VS_REUSE);
    {
        vs_var *w2 = NULL;
        OK(gv(g, "w", 0, S1, 0, &w2));
        assert_ptr_equal(w, w2);
    }
    ns_push(g, "s", "outer_2/s/");
    OK(vs_name_scope_pop(g));
    OK(vs_variable_scope_pop(g));
}

static void test_reentry__inside_itself_nests_name_scope(void **state)
{
    vs_graph *g = *state;
    vs_scope *o = vs_push(g, "outer", 0);
    vs_var *w = NULL;
    reenter(g, o, 0);
    OK(gv(g, "w", 0, S1, 0, &w));
    assert_string_equal(vs_var_name(w), "outer/w:0");
    ns_push(g, "s", "outer/outer/s/");
    OK(vs_name_scope_pop(g));
    OK(vs_variable_scope_pop(g));
    OK(vs_variable_scope_pop(g));
}

static void test_reentry__ignores_current_scope(void **state)
{
    vs_graph *g = *state;
    vs_scope *t = vs_push(g, "tower4", 0);
    OK(vs_variable_scope_pop(g));
    vs_push(g, "tower6", 0);
    reenter(g, t, 0);
    ns_push(g, "scope", "tower6/tower4/scope/");
    assert_string_equal(vs_scope_name(vs_get_variable_scope(g)), "tower4");
    OK(vs_name_scope_pop(g));
    OK(vs_variable_scope_pop(g));
    OK(vs_variable_scope_pop(g));
}

static void test_default_name__twice(void **state)
{
    vs_graph *g = *state;
    vs_var *w = NULL;
    assert_string_equal(vs_scope_name(vs_default(g, "default")), "default");
    OK(gv(g, "w", 0, S1, 0, &w));
    assert_string_equal(vs_var_name(w), "default/w:0");
    OK(vs_variable_scope_pop(g));
    assert_string_equal(vs_scope_name(vs_default(g, "default")), "default_1");
    OK(gv(g, "w", 0, S1, 0, &w));
    assert_string_equal(vs_var_name(w), "default_1/w:0");
    OK(vs_variable_scope_pop(g));
}

static void test_default_name__inside_name_scope(void **state)
{
    vs_graph *g = *state;
    vs_var *w = NULL;
    ns_push(g, "n", "n/");
    vs_default(g, "default");
    OK(gv(g, "w", 0, S1, 0, &w));
    assert_string_equal(vs_var_name(w), "default/w:0");
    ns_push(g, "s", "n/default/s/");
    OK(vs_name_scope_pop(g));
    OK(vs_variable_scope_pop(g));
    OK(vs_name_scope_pop(g));
}

static void test_default_name__jump_restores_counts(void **state)
{
    vs_graph *g = *state;
    vs_scope *d = vs_push(g, "default", 0);
    assert_string_equal(vs_scope_name(vs_default(g, "layer")),
                        "default/layer");
    OK(vs_variable_scope_pop(g));
    assert_string_equal(vs_scope_name(vs_default(g, "layer")),
                        "default/layer_1");
    OK(vs_variable_scope_pop(g));
    reenter(g, d, 0);
    OK(vs_variable_scope_pop(g));
    assert_string_equal(vs_scope_name(vs_default(g, "layer")),
                        "default/layer_2");
    OK(vs_variable_scope_pop(g));
    OK(vs_variable_scope_pop(g));
}

/* Default-name counts changed inside re-entered scopes, re-entries nested
 * in each other: each exit restores the counts its entry saw (TF copies
 * the count table on entry by object and puts it back on exit). */
static void test_default_name__nested_reentry_restores_counts(void **state)
{
    vs_graph *g = *state;
    vs_scope *a = vs_push(g, "A", 0);
    vs_scope *b;
    OK(vs_variable_scope_pop(g));
    b = vs_push(g, "B", 0);
    OK(vs_variable_scope_pop(g));
    reenter(g, a, 0);
    assert_string_equal(vs_scope_name(vs_default(g, "layer")), "A/layer");
    OK(vs_variable_scope_pop(g));
    reenter(g, b, 0);
    assert_string_equal(vs_scope_name(vs_default(g, "layer")), "B/layer");
    OK(vs_variable_scope_pop(g));
    assert_string_equal(vs_scope_name(vs_default(g, "layer")), "B/layer_1");
    OK(vs_variable_scope_pop(g));
    OK(vs_variable_scope_pop(g)); /* B: its two layers are forgotten */
    assert_string_equal(vs_scope_name(vs_default(g, "layer")), "A/layer_1");
    OK(vs_variable_scope_pop(g));
    reenter(g, b, 0);
    assert_string_equal(vs_scope_name(vs_default(g, "layer")), "B/layer");
    OK(vs_variable_scope_pop(g));
    OK(vs_variable_scope_pop(g));
    OK(vs_variable_scope_pop(g)); /* A: everything inside is forgotten */
    reenter(g, a, 0);
    assert_string_equal(vs_scope_name(vs_default(g, "layer")), "A/layer");
    OK(vs_variable_scope_pop(g));
    reenter(g, b, 0);
    assert_string_equal(vs_scope_name(vs_default(g, "layer")), "B/layer");
    OK(vs_variable_scope_pop(g));
    OK(vs_variable_scope_pop(g));
    OK(vs_variable_scope_pop(g));
    reenter(g, b, 0);
    assert_string_equal(vs_scope_name(vs_default(g, "layer")), "B/layer");
    OK(vs_variable_scope_pop(g));
    OK(vs_variable_scope_pop(g));
    reenter(g, a, 0);
    assert_string_equal(vs_scope_name(vs_default(g, "layer")), "A/layer");
    OK(vs_variable_scope_pop(g));
    OK(vs_variable_scope_pop(g));
    /* the name scopes opened by the re-entries were all made unique */
    ns_push(g, "A", "A_4/");
    OK(vs_name_scope_pop(g));
}

static void test_default_name__interleaved_substrings(void **state)
{
    vs_graph *g = *state;
    const char *outer[] = {"defaultScope1", "defaultScope1", "defaultScope",
                           "defaultScope1"};
    const char *want[] = {"defaultScope1/layer/w:0", "defaultScope1_1/layer/w:0",
                          "defaultScope/layer/w:0", "defaultScope1_2/layer/w:0"};
    int i;
    for (i = 0; i < 4; i++) {
        vs_var *w = NULL;
        vs_default(g, outer[i]);
        vs_default(g, "layer");
        OK(gv(g, "w", 0, S1, 0, &w));
        assert_string_equal(vs_var_name(w), want[i]);
        OK(vs_variable_scope_pop(g));
        OK(vs_variable_scope_pop(g));
    }
}

static void test_default_name__restart_after_string_scope_exit(void **state)
{
    vs_graph *g = *state;
    vs_var *v = NULL;
    vs_scope *foo = vs_push(g, "foo", 0);
    vs_default(g, "bar");
    OK(gv(g, "a", 0, S1, 0, &v));
    assert_string_equal(vs_var_op_name(v), "foo/bar/a");
    OK(vs_variable_scope_pop(g));
    vs_default(g, "bar");
    OK(gv(g, "b", 0, S1, 0, &v));
    assert_string_equal(vs_var_op_name(v), "foo/bar_1/b");
    OK(vs_variable_scope_pop(g));
    OK(vs_variable_scope_pop(g));
    reenter(g, foo, 0);
    vs_default(g, "bar");
    OK(gv(g, "c", 0, S1, 0, &v));
    assert_string_equal(vs_var_op_name(v), "foo/bar/c");
    OK(vs_variable_scope_pop(g));
    OK(vs_variable_scope_pop(g));
}

static void test_default_name__reuse_refused(void **state)
{
    vs_graph *g = *state;
    vs_scope_opts o = {0};
    o.default_name = "default";
    o.reuse = VS_REUSE;
    FAILS(vs_variable_scope_push(g, NULL, &o, NULL), VS_EINVAL,
          "reuse=VS_REUSE cannot be used without a name_or_scope");
    o.reuse = VS_AUTO_REUSE;
    FAILS(vs_variable_scope_push(g, NULL, &o, NULL), VS_EINVAL,
          "reuse=VS_REUSE cannot be used without a name_or_scope");
    FAILS(vs_variable_scope_push(g, NULL, NULL, NULL), VS_EINVAL,
          "If default_name is None then name_or_scope is required");
    assert_string_equal(vs_name_scope_current(g), "");
}

static void test_aux_name_scope__off(void **state)
{
    vs_graph *g = *state;
    vs_scope_opts o = {0};
    vs_scope *s = NULL;
    vs_var *w = NULL;
    o.no_auxiliary_name_scope = 1;
    OK(vs_variable_scope_push(g, "scope", &o, &s));
    assert_string_equal(vs_scope_original_name_scope(s), "");
    OK(gv(g, "w", 0, S1, 0, &w));
    assert_string_equal(vs_var_name(w), "scope/w:0");
    expect_op(g, "c", "c");
    OK(vs_variable_scope_pop(g));

    vs_push(g, "outer", 0);
    OK(vs_variable_scope_push(g, "inner", &o, &s));
    assert_string_equal(vs_scope_original_name_scope(s), "outer/");
    OK(gv(g, "w", 0, S1, 0, &w));
    assert_string_equal(vs_var_name(w), "outer/inner/w:0");
    expect_op(g, "c", "outer/c");
    OK(vs_variable_scope_pop(g));
    OK(vs_variable_scope_pop(g));
}

static void test_original_name_scope__reenter_absolute(void **state)
{
    vs_graph *g = *state;
    vs_scope *t;
    ns_push(g, "scope1", "scope1/");
    t = vs_push(g, "tower", 0);
    assert_string_equal(vs_scope_original_name_scope(t), "scope1/tower/");
    OK(vs_variable_scope_pop(g));
    OK(vs_name_scope_pop(g));
    ns_push(g, "scope2", "scope2/");
    reenter(g, t, 0);
    ns_push(g, "foo", "scope2/tower/foo/");
    OK(vs_name_scope_pop(g));
    OK(vs_variable_scope_pop(g));
    OK(vs_name_scope_pop(g));
    ns_push(g, vs_scope_original_name_scope(t), "scope1/tower/");
    ns_push(g, "bar", "scope1/tower/bar/");
    OK(vs_name_scope_pop(g));
    ns_push(g, "bar", "scope1/tower/bar_1/");
    OK(vs_name_scope_pop(g));
    OK(vs_name_scope_pop(g));
}

static void test_nesting__improper_exit(void **state)
{
    vs_graph *g = *state;
    vs_scope *bb = vs_push(g, "bb", 0);
    vs_scope *cc = vs_push(g, "cc", 0);
    FAILS(vs_variable_scope_exit(g, bb), VS_EINVAL,
          "Improper nesting of variable_scope.");
    OK(vs_variable_scope_exit(g, cc));
    OK(vs_variable_scope_exit(g, bb));
    FAILS(vs_variable_scope_pop(g), VS_EINVAL, "no variable scope is open");
}

static void test_nesting__name_scope_left_open(void **state)
{
    vs_graph *g = *state;
    vs_push(g, "v", 0);
    ns_push(g, "n", "v/n/");
    FAILS(vs_variable_scope_pop(g), VS_EINVAL,
          "Improper nesting of variable_scope.");
    OK(vs_name_scope_pop(g));
    FAILS(vs_name_scope_pop(g), VS_EINVAL,
          "Improper nesting of name_scope: variable scope 'v' is still open "
          "inside it");
    OK(vs_variable_scope_pop(g));
    assert_string_equal(vs_name_scope_current(g), "");
}

/* ---- reuse (33-51) ---- */

static void test_reuse__exists_disallowed(void **state)
{
    vs_graph *g = *state;
    vs_var *v = NULL;
    vs_push(g, "foo", 0);
    gv1(g, "v");
    FAILS(gv(g, "v", 1, S1, 0, &v), VS_EEXIST,
          "Variable foo/v already exists, disallowed. Did you mean to set "
          "reuse=VS_REUSE or reuse=VS_AUTO_REUSE in the variable scope?");
    assert_null(v);
    OK(vs_variable_scope_pop(g));
}

static void test_reuse__true_missing(void **state)
{
    vs_graph *g = *state;
    vs_var *v = NULL;
    vs_push(g, "foo", VS_REUSE);
    FAILS(gv(g, "v", 1, S1, 0, &v), VS_ENOTFOUND,
          "Variable foo/v does not exist, or was not created with "
          "vs_get_variable(). Did you mean to set reuse=VS_AUTO_REUSE in the "
          "variable scope?");
    OK(vs_variable_scope_pop(g));
    /* nothing was created by the failed call */
    assert_int_equal(vs_get_collection(g, VS_GLOBAL_VARIABLES, NULL, NULL, 0),
                     0);
}

static vs_var *auto_reuse_fn(vs_graph *g, const char *expect_ns)
{
    vs_var *v;
    vs_push(g, "foo", VS_AUTO_REUSE);
    assert_string_equal(vs_name_scope_current(g), expect_ns);
    v = gv1(g, "v");
    OK(vs_variable_scope_pop(g));
    return v;
}

static void test_reuse__auto_reuse_function(void **state)
{
    vs_graph *g = *state;
    vs_var *a = auto_reuse_fn(g, "foo/");
    vs_var *b = auto_reuse_fn(g, "foo_1/");
    assert_ptr_equal(a, b);
    assert_string_equal(vs_var_name(a), "foo/v:0");
}

static void test_reuse__reuse_variables(void **state)
{
    vs_graph *g = *state;
    vs_var *w = NULL;
    vs_scope *s = vs_push(g, "foo", 0);
    vs_var *v = gv1(g, "v");
    vs_scope_reuse_variables(s);
    assert_int_equal(vs_scope_reuse(s), VS_REUSE);
    assert_ptr_equal(gv1(g, "v"), v);
    FAILS(gv(g, "w", 1, S1, 0, &w), VS_ENOTFOUND,
          "Variable foo/w does not exist, or was not created with "
          "vs_get_variable(). Did you mean to set reuse=VS_AUTO_REUSE in the "
          "variable scope?");
    OK(vs_variable_scope_pop(g));
}

static void test_reuse__child_cannot_turn_off(void **state)
{
    vs_graph *g = *state;
    vs_var *v = NULL;
    vs_push(g, "a", VS_REUSE);
    assert_int_equal(vs_scope_reuse(vs_push(g, "b", VS_REUSE_INHERIT)),
                     VS_REUSE);
    assert_int_equal(gv(g, "new", 1, S1, 0, &v), VS_ENOTFOUND);
    OK(vs_variable_scope_pop(g));
    OK(vs_variable_scope_pop(g));
}

static void test_reuse__object_reuse_rules(void **state)
{
    vs_graph *g = *state;
    vs_scope *s = vs_push(g, "jump", VS_REUSE);
    vs_scope *s2;
    OK(vs_variable_scope_pop(g));
    reenter(g, s, VS_REUSE_INHERIT);
    assert_int_equal(vs_scope_reuse(vs_get_variable_scope(g)), VS_REUSE);
    OK(vs_variable_scope_pop(g));
    s2 = vs_push(g, "jump", VS_REUSE_INHERIT);
    OK(vs_variable_scope_pop(g));
    reenter(g, s2, VS_REUSE);
    assert_int_equal(vs_scope_reuse(vs_get_variable_scope(g)), VS_REUSE);
    OK(vs_variable_scope_pop(g));
    reenter(g, s2, VS_REUSE_INHERIT);
    assert_int_equal(vs_scope_reuse(vs_get_variable_scope(g)),
                     VS_REUSE_INHERIT);
    OK(vs_variable_scope_pop(g));
}

static void test_reuse__auto_under_true_creates(void **state)
{
    vs_graph *g = *state;
    vs_push(g, "p", VS_REUSE);
    vs_push(g, "c", VS_AUTO_REUSE);
    assert_string_equal(vs_var_name(gv1(g, "new")), "p/c/new:0");
    OK(vs_variable_scope_pop(g));
    OK(vs_variable_scope_pop(g));
}

static void test_reuse__captured_scope_does_not_inherit(void **state)
{
    vs_graph *g = *state;
    vs_scope *s = vs_push(g, "x", 0);
    OK(vs_variable_scope_pop(g));
    vs_push(g, "other", VS_REUSE);
    reenter(g, s, 0);
    assert_string_equal(vs_var_name(gv1(g, "z")), "x/z:0");
    OK(vs_variable_scope_pop(g));
    OK(vs_variable_scope_pop(g));
}

static void test_reuse__root_reuse_variables(void **state)
{
    vs_graph *g = *state;
    vs_var *v = NULL;
    vs_scope_reuse_variables(vs_get_variable_scope(g));
    assert_int_equal(gv(g, "n", 1, S1, 0, &v), VS_ENOTFOUND);
    assert_string_equal(vs_errmsg(),
                        "Variable n does not exist, or was not created with "
                        "vs_get_variable(). Did you mean to set "
                        "reuse=VS_AUTO_REUSE in the variable scope?");
}

static void test_reuse__shape_and_dtype_checks(void **state)
{
    vs_graph *g = *state;
    vs_scope *a;
    vs_var *v = NULL;
    const int64_t s2[] = {2};
    const int64_t s12[] = {1, 2};
    vs_push(g, "root", 0);
    a = vs_push(g, "towerA", 0);
    assert_string_equal(vs_var_name(gv1(g, "v")), "root/towerA/v:0");
    OK(vs_variable_scope_pop(g));
    reenter(g, a, VS_REUSE);
    FAILS(gv(g, "v", 1, s2, 0, &v), VS_ESHAPE,
          "Trying to share variable root/towerA/v, but specified shape (2,) "
          "and found shape (1,).");
    FAILS(gv(g, "v", 2, s12, 0, &v), VS_ESHAPE,
          "Trying to share variable root/towerA/v, but specified shape "
          "(1, 2) and found shape (1,).");
    FAILS(gv(g, "v", 0, S1, 0, &v), VS_ESHAPE,
          "Trying to share variable root/towerA/v, but specified shape () "
          "and found shape (1,).");
    FAILS(gv(g, "v", 1, S1, VS_INT32, &v), VS_EDTYPE,
          "Trying to share variable root/towerA/v, but specified dtype int32 "
          "and found dtype float32.");
    assert_null(v);
    OK(vs_variable_scope_pop(g));
    OK(vs_variable_scope_pop(g));
}

static void test_reuse__unknown_shape_and_dims_match(void **state)
{
    vs_graph *g = *state;
    const int64_t s3[] = {3};
    const int64_t s23[] = {2, 3};
    const int64_t sq3[] = {-1, 3};
    vs_var *v = NULL, *r = NULL;
    vs_push(g, "f", 0);
    OK(gv(g, "v", 1, s3, 0, &v));
    OK(gv(g, "m", 2, s23, 0, &r));
    OK(vs_variable_scope_pop(g));
    vs_push(g, "f", VS_REUSE);
    OK(gv(g, "v", -1, NULL, 0, &r));
    assert_ptr_equal(r, v);
    OK(gv(g, "m", 2, sq3, 0, &r));
    assert_string_equal(vs_var_op_name(r), "f/m");
    OK(vs_variable_scope_pop(g));
}

/* Reuse checks on shapes the lookup's packed dtype/shape copy cannot hold
 * (dims too large for their rank) and on ones that differ only in order
 * or dtype: every case still answers as TF does. */
static void test_reuse__large_and_permuted_shapes(void **state)
{
    vs_graph *g = *state;
    const int64_t big4[] = {4096, 1, 1, 2};     /* 4096 needs 13 bits */
    const int64_t big4b[] = {4096, 1, 1, 3};
    const int64_t big8[] = {64, 1, 1, 1, 1, 1, 1, 2}; /* 64 needs 7 bits */
    const int64_t s35[] = {3, 5}, s53[] = {5, 3}, sq5[] = {-1, 5};
    const int64_t s2[] = {2};
    vs_var *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL, *r = NULL;
    vs_push(g, "p", 0);
    OK(gv(g, "a", 4, big4, 0, &a));
    OK(gv(g, "b", 8, big8, 0, &b));
    OK(gv(g, "c", 2, s35, 0, &c));
    OK(gv(g, "d", 1, s2, VS_INT32, &d));
    OK(gv(g, "e", 0, S1, 0, &e));
    OK(vs_variable_scope_pop(g));
    vs_push(g, "p", VS_REUSE);
    OK(gv(g, "a", 4, big4, 0, &r));
    assert_ptr_equal(r, a);
    FAILS(gv(g, "a", 4, big4b, 0, &r), VS_ESHAPE,
          "Trying to share variable p/a, but specified shape (4096, 1, 1, 3) "
          "and found shape (4096, 1, 1, 2).");
    FAILS(gv(g, "a", 4, big4, VS_FLOAT64, &r), VS_EDTYPE,
          "Trying to share variable p/a, but specified dtype float64 and "
          "found dtype float32.");
    OK(gv(g, "b", 8, big8, 0, &r));
    assert_ptr_equal(r, b);
    OK(gv(g, "b", -1, NULL, 0, &r));
    assert_ptr_equal(r, b);
    OK(gv(g, "c", 2, s35, 0, &r));
    assert_ptr_equal(r, c);
    OK(gv(g, "c", 2, sq5, 0, &r));
    assert_ptr_equal(r, c);
    FAILS(gv(g, "c", 2, s53, 0, &r), VS_ESHAPE,
          "Trying to share variable p/c, but specified shape (5, 3) and "
          "found shape (3, 5).");
    FAILS(gv(g, "d", 1, s2, 0, &r), VS_EDTYPE,
          "Trying to share variable p/d, but specified dtype float32 and "
          "found dtype int32.");
    OK(gv(g, "d", 1, s2, VS_INT32, &r));
    assert_ptr_equal(r, d);
    OK(gv(g, "e", 0, S1, 0, &r));
    assert_ptr_equal(r, e);
    FAILS(gv(g, "e", 1, S1, 0, &r), VS_ESHAPE,
          "Trying to share variable p/e, but specified shape (1,) and found "
          "shape ().");
    OK(vs_variable_scope_pop(g));
}

static void test_reuse__dtype_defaults_to_float32(void **state)
{
    vs_graph *g = *state;
    vs_var *t = NULL;
    OK(gv(g, "t", 1, S1, VS_INT32, &t));
    vs_scope_reuse_variables(vs_get_variable_scope(g));
    FAILS(gv(g, "t", -1, NULL, 0, &t), VS_EDTYPE,
          "Trying to share variable t, but specified dtype float32 and found "
          "dtype int32.");
}

static void test_new_variable__needs_full_shape(void **state)
{
    vs_graph *g = *state;
    vs_var *v = NULL;
    const int64_t sq[] = {2, -1};
    vs_push(g, "foo", 0);
    FAILS(gv(g, "v", -1, NULL, 0, &v), VS_EINVAL,
          "Shape of a new variable (foo/v) must be fully defined, but instead "
          "was <unknown>.");
    FAILS(gv(g, "v", 2, sq, 0, &v), VS_EINVAL,
          "Shape of a new variable (foo/v) must be fully defined, but instead "
          "was (2, ?).");
    OK(vs_variable_scope_pop(g));
}

static void test_reuse__bad_value(void **state)
{
    vs_graph *g = *state;
    vs_scope_opts o = {0};
    o.reuse = (vs_reuse)7;
    FAILS(vs_variable_scope_push(g, "x", &o, NULL), VS_EINVAL,
          "The reuse parameter must be True or False or None.");
    assert_string_equal(vs_name_scope_current(g), "");
}

/* ---- bad input ---- */

static void test_bad_input__absurd_shape(void **state)
{
    vs_graph *g = *state;
    const int64_t huge[] = {INT64_MAX / 2, 4};
    const int64_t neg[] = {-5};
    const int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    vs_var *v = NULL;
    vs_var_opts o = {0};
    assert_int_equal(gv(g, "huge", 2, huge, 0, &v), VS_EINVAL);
    assert_null(v);
    assert_int_equal(gv(g, "neg", 1, neg, 0, &v), VS_EINVAL);
    assert_int_equal(gv(g, "nine", 9, nine, 0, &v), VS_EINVAL);
    assert_int_equal(gv(g, "dt", 1, S1, (vs_dtype)42, &v), VS_EINVAL);
    FAILS(gv(g, "", 1, S1, 0, &v), VS_EINVAL,
          "variable name must not be empty");
    FAILS(gv(g, "_bad", 1, S1, 0, &v), VS_EINVAL,
          "'_bad' is not a valid scope name");
    assert_int_equal(vs_get_variable(g, NULL, &o, &v), VS_EINVAL);
    assert_int_equal(vs_get_variable(NULL, "x", &o, &v), VS_EINVAL);
    assert_int_equal(vs_variable(g, "x", NULL, NULL, &v), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "initial_value must be specified.");
    /* nothing was registered by any of them */
    assert_int_equal(vs__graph_var_count(g), 0);
}

/* Issue 13: a rank beyond VS_MAX_DIMS (or negative) is refused before any
 * message prints the shape (ASan saw shape_join read past the array). */
static void test_bad_input__assign_rank_out_of_range_refused(void **state)
{
    vs_graph *g = *state;
    float vals[1] = {1.0f};
    vs_tensor big = {VS_FLOAT32, 200, {1}, vals};
    vs_tensor neg = {VS_FLOAT32, -1, {1}, vals};
    vs_tensor bad_dtype = {(vs_dtype)99, 1, {1}, vals};
    vs_var *v = gv1(g, "v");
    FAILS(vs_assign(v, &big), VS_EINVAL,
          "vs_assign: value: rank 200 is out of range: a tensor has 0 to 8 "
          "dimensions");
    FAILS(vs_assign(v, &neg), VS_EINVAL,
          "vs_assign: value: rank -1 is out of range: a tensor has 0 to 8 "
          "dimensions");
    FAILS(vs_assign(v, &bad_dtype), VS_EINVAL,
          "vs_assign: value: invalid dtype 99");
    assert_false(vs_var_is_initialized(v));
}

static void test_bad_input__variable_rank_out_of_range_refused(void **state)
{
    vs_graph *g = *state;
    float vals[1] = {1.0f};
    const int64_t one[1] = {1};
    vs_tensor ok = {VS_FLOAT32, 1, {1}, vals};
    vs_tensor big = {VS_FLOAT32, 200, {1}, vals};
    vs_tensor neg = {VS_FLOAT32, -3, {1}, vals};
    vs_var_opts o = {0};
    vs_var *v = NULL;
    FAILS(vs_variable(g, "a", &big, NULL, &v), VS_EINVAL,
          "rank 200 is out of range: a tensor has 0 to 8 dimensions");
    FAILS(vs_variable(g, "a", &neg, NULL, &v), VS_EINVAL,
          "rank -3 is out of range: a tensor has 0 to 8 dimensions");
    o.shape = one; /* one dim, but the rank says 200 */
    o.ndim = 200;
    FAILS(vs_variable(g, "a", &ok, &o, &v), VS_EINVAL,
          "rank 200 is out of range [0, 8]");
    o.ndim = -1;
    FAILS(vs_variable(g, "a", &ok, &o, &v), VS_EINVAL,
          "rank -1 is out of range [0, 8]");
    o.ndim = 1;
    o.dtype = (vs_dtype)99;
    FAILS(vs_variable(g, "a", &ok, &o, &v), VS_EINVAL, "invalid dtype 99");
    FAILS(vs_get_variable(g, "a", &o, &v), VS_EINVAL, "invalid dtype 99");
    o.dtype = 0;
    o.ndim = 200;
    FAILS(vs_get_variable(g, "a", &o, &v), VS_EINVAL,
          "rank 200 is out of range [0, 8]");
    o.ndim = -2;
    FAILS(vs_get_variable(g, "a", &o, &v), VS_EINVAL,
          "rank -2 is out of range [0, 8]");
    assert_null(v);
    assert_int_equal(vs__graph_var_count(g), 0);
}

static void test_bad_input__long_name(void **state)
{
    vs_graph *g = *state;
    vs_var *v = NULL;
    char *name = malloc(5001);
    assert_non_null(name);
    memset(name, 'a', 5000);
    name[5000] = '\0';
    FAILS(gv(g, name, 1, S1, 0, &v), VS_EINVAL,
          "variable name is too long: 5000 bytes (at most 4000)");
    assert_int_equal(vs_name_scope_push(g, name), VS_EINVAL);
    name[4000] = '\0'; /* exactly the limit: accepted at the root */
    OK(gv(g, name, 1, S1, 0, &v));
    assert_int_equal(strlen(vs_var_op_name(v)), 4000);
    free(name);
}

static void test_errmsg__is_errno_like(void **state)
{
    vs_graph *g = *state;
    vs_var *v = NULL;
    vs_push(g, "foo", VS_REUSE);
    assert_int_equal(gv(g, "v", 1, S1, 0, &v), VS_ENOTFOUND);
    OK(vs_variable_scope_pop(g));
    gv1(g, "ok");
    assert_non_null(strstr(vs_errmsg(), "foo/v does not exist"));
}

/* ---- defaults (52-54, 59) ---- */

static float f32(vs_var *v, size_t i)
{
    vs_tensor *t = NULL;
    OK(vs_var_value(v, &t));
    return ((float *)t->data)[i];
}

static void test_defaults__scope_initializer_inherited(void **state)
{
    vs_graph *g = *state;
    vs_init c = vs_init_constant(0.3);
    vs_scope_opts o = {0};
    vs_scope *tower0;
    vs_var *v = NULL, *w = NULL;
    tower0 = vs_push(g, "tower0", 0);
    o.initializer = &c;
    OK(vs_variable_scope_push(g, "foo", &o, NULL));
    OK(gv(g, "v", 0, S1, 0, &v));
    OK(vs_variable_scope_pop(g));
    OK(vs_variable_scope_pop(g));
    OK(vs_variable_scope_reenter(g, tower0, &o));
    OK(gv(g, "w", 0, S1, 0, &w));
    OK(vs_variable_scope_pop(g));
    OK(vs_global_variables_initializer(g));
    assert_float_equal(f32(v, 0), 0.3f, 0.0f);
    assert_float_equal(f32(w, 0), 0.3f, 0.0f);
    assert_string_equal(vs_var_name(w), "tower0/w:0");
}

static void test_defaults__set_initializer_is_scoped(void **state)
{
    vs_graph *g = *state;
    vs_init c = vs_init_constant(0.3);
    vs_var *v = NULL;
    vs_push(g, "bar", 0);
    vs_scope_set_initializer(vs_get_variable_scope(g), &c);
    OK(gv(g, "v", 0, S1, 0, &v));
    OK(vs_variable_scope_pop(g));
    assert_null(vs_scope_initializer(vs_get_variable_scope(g)));
    OK(vs_global_variables_initializer(g));
    assert_float_equal(f32(v, 0), 0.3f, 0.0f);
}

static void test_defaults__dtype_inherited(void **state)
{
    vs_graph *g = *state;
    vs_scope_opts o = {0};
    vs_var *v = NULL, *w = NULL;
    o.dtype = VS_FLOAT16;
    OK(vs_variable_scope_push(g, "t", &o, NULL));
    OK(gv(g, "v", 0, S1, 0, &v));
    assert_int_equal(vs_var_dtype(v), VS_FLOAT16);
    vs_push(g, "c", 0);
    OK(gv(g, "w", 0, S1, 0, &w));
    assert_int_equal(vs_var_dtype(w), VS_FLOAT16);
    OK(vs_variable_scope_pop(g));
    OK(vs_variable_scope_pop(g));
}

static void test_defaults__int_and_bool_start_at_zero(void **state)
{
    vs_graph *g = *state;
    const int64_t s34[] = {3, 4};
    const int64_t s2[] = {2};
    vs_var *i = NULL, *b = NULL;
    vs_tensor *t = NULL;
    int k;
    OK(gv(g, "i", 2, s34, VS_INT32, &i));
    OK(gv(g, "b", 1, s2, VS_BOOL, &b));
    assert_int_equal(vs_var_value(i, &t), VS_EUNINIT);
    OK(vs_global_variables_initializer(g));
    OK(vs_var_value(i, &t));
    for (k = 0; k < 12; k++)
        assert_int_equal(((int32_t *)t->data)[k], 0);
    OK(vs_var_value(b, &t));
    assert_int_equal(((uint8_t *)t->data)[0], 0);
    assert_int_equal(((uint8_t *)t->data)[1], 0);
}

static void test_defaults__float_default_is_glorot_uniform(void **state)
{
    vs_graph *g = *state;
    const int64_t s[] = {3, 5};
    vs_var *v = NULL;
    vs_tensor *t = NULL;
    int k, nonzero = 0;
    OK(gv(g, "w", 2, s, 0, &v));
    OK(vs_global_variables_initializer(g));
    OK(vs_var_value(v, &t));
    for (k = 0; k < 15; k++) {
        float x = ((float *)t->data)[k];
        assert_true(x >= -0.8661f && x < 0.8661f);
        nonzero += x != 0.0f;
    }
    assert_true(nonzero >= 14);
}

/* ---- collections (69-73) ---- */

static void names_of(vs_var **vars, size_t n, char *out, size_t cap)
{
    size_t i;
    out[0] = '\0';
    for (i = 0; i < n; i++) {
        strncat(out, vs_var_name(vars[i]), cap - strlen(out) - 2);
        strncat(out, " ", cap - strlen(out) - 1);
    }
}

static void test_collections__scope_filters(void **state)
{
    vs_graph *g = *state;
    vs_var *out[16];
    char buf[512];
    vs_scope *foo;
    vs_var_opts nt = {0};
    vs_var *v = NULL;
    size_t n;
    nt.shape = S1;
    nt.ndim = 0;
    nt.not_trainable = 1;
    OK(gv(g, "a", 0, S1, 0, &v));
    OK(vs_get_variable(g, "b", &nt, &v));
    vs_push(g, "foo_", 0);
    OK(gv(g, "a", 0, S1, 0, &v));
    OK(vs_get_variable(g, "b", &nt, &v));
    OK(vs_variable_scope_pop(g));
    foo = vs_push(g, "foo", 0);
    OK(gv(g, "a", 0, S1, 0, &v));
    OK(vs_get_variable(g, "b", &nt, &v));
    OK(vs_variable_scope_pop(g));

    n = vs_scope_get_collection(g, foo, VS_GLOBAL_VARIABLES, out, 16);
    names_of(out, n, buf, sizeof buf);
    assert_string_equal(buf, "foo/a:0 foo/b:0 ");
    n = vs_get_collection(g, VS_GLOBAL_VARIABLES, "foo", out, 16);
    names_of(out, n, buf, sizeof buf);
    assert_string_equal(buf, "foo_/a:0 foo_/b:0 foo/a:0 foo/b:0 ");
    n = vs_get_collection(g, VS_TRAINABLE_VARIABLES, NULL, out, 16);
    names_of(out, n, buf, sizeof buf);
    assert_string_equal(buf, "a:0 foo_/a:0 foo/a:0 ");
    /* a regex, anchored at the start only */
    n = vs_get_collection(g, VS_GLOBAL_VARIABLES, "f.o/", out, 16);
    assert_int_equal(n, 2);
    n = vs_get_collection(g, VS_GLOBAL_VARIABLES, "a", out, 16);
    assert_int_equal(n, 1);
    n = vs_get_collection(g, VS_GLOBAL_VARIABLES, "foo/b:0", out, 16);
    assert_int_equal(n, 1);
    /* the count is the total even when cap is smaller */
    assert_int_equal(vs_get_collection(g, VS_GLOBAL_VARIABLES, NULL, out, 1),
                     6);
    assert_int_equal(vs_get_collection(g, "no_such_key", NULL, out, 16), 0);
    assert_int_equal(vs_get_collection(g, VS_GLOBAL_VARIABLES, "(", out, 16),
                     0);
    assert_non_null(strstr(vs_errmsg(), "invalid scope regex '('"));
}

static void test_collections__local_variables(void **state)
{
    vs_graph *g = *state;
    vs_var *w = NULL, *a = NULL;
    vs_var_opts o = {0};
    const char *const local[] = {VS_LOCAL_VARIABLES, NULL};
    vs_push(g, "outer", 0);
    o.shape = S1;
    o.ndim = 0;
    OK(vs_get_local_variable(g, "w", &o, &w));
    assert_string_equal(vs_var_name(w), "outer/w:0");
    OK(vs_variable_scope_pop(g));
    assert_int_equal(vs_get_collection(g, VS_LOCAL_VARIABLES, NULL, NULL, 0),
                     1);
    assert_int_equal(vs_get_collection(g, VS_GLOBAL_VARIABLES, NULL, NULL, 0),
                     0);
    assert_int_equal(
        vs_get_collection(g, VS_TRAINABLE_VARIABLES, NULL, NULL, 0), 0);
    assert_false(vs_var_trainable(w));

    o.collections = local;
    OK(vs_get_variable(g, "a", &o, &a));
    assert_int_equal(vs_get_collection(g, VS_LOCAL_VARIABLES, NULL, NULL, 0),
                     2);
    assert_int_equal(
        vs_get_collection(g, VS_TRAINABLE_VARIABLES, NULL, NULL, 0), 1);
    assert_int_equal(vs_get_collection(g, VS_GLOBAL_VARIABLES, NULL, NULL, 0),
                     0);
    /* the global initializer leaves local variables alone */
    OK(vs_global_variables_initializer(g));
    assert_false(vs_var_is_initialized(a));
    OK(vs_local_variables_initializer(g));
    assert_true(vs_var_is_initialized(a));
    assert_true(vs_var_is_initialized(w));
}

static void test_init__names_and_uninitialized_read(void **state)
{
    vs_graph *g = *state;
    vs_tensor *t = (vs_tensor *)1;
    vs_var *v0 = gv1(g, "v0");
    FAILS(vs_var_value(v0, &t), VS_EUNINIT,
          "Attempting to use uninitialized value v0");
    assert_null(t);
    OK(vs_global_variables_initializer(g));
    OK(vs_global_variables_initializer(g));
    expect_op(g, "init", "init_2");
    OK(vs_var_value(v0, &t));
    assert_non_null(t);
}

static void test_init__covers_only_existing_variables(void **state)
{
    vs_graph *g = *state;
    vs_var *a = gv1(g, "a"), *b;
    OK(vs_global_variables_initializer(g));
    b = gv1(g, "b");
    assert_true(vs_var_is_initialized(a));
    assert_false(vs_var_is_initialized(b));
}

static void test_value__live_and_assign(void **state)
{
    vs_graph *g = *state;
    const int64_t s2[] = {2};
    vs_var *v = NULL;
    vs_tensor *t = NULL;
    float vals[2] = {1.5f, -2.0f};
    double dvals[2] = {1, 2};
    vs_tensor in = {VS_FLOAT32, 1, {2}, vals};
    vs_tensor bad_shape = {VS_FLOAT32, 1, {3}, vals};
    vs_tensor bad_dtype = {VS_FLOAT64, 1, {2}, dvals};
    OK(gv(g, "v", 1, s2, 0, &v));
    OK(vs_assign(v, &in));
    OK(vs_var_value(v, &t));
    assert_float_equal(((float *)t->data)[1], -2.0f, 0.0f);
    ((float *)t->data)[0] = 7.0f;
    OK(vs_var_value(v, &t));
    assert_float_equal(((float *)t->data)[0], 7.0f, 0.0f);
    FAILS(vs_assign(v, &bad_shape), VS_ESHAPE,
          "Assign requires shapes of both tensors to match. lhs shape= [2] "
          "rhs shape= [3]");
    FAILS(vs_assign(v, &bad_dtype), VS_EDTYPE,
          "Assign requires dtypes to match: variable v is float32, value is "
          "float64");
    assert_float_equal(f32(v, 0), 7.0f, 0.0f);
}

static void test_variable__value_copied_and_scoped(void **state)
{
    vs_graph *g = *state;
    int32_t data[3] = {1, 2, 3};
    vs_tensor t = {VS_INT32, 1, {3}, data};
    vs_var *v = NULL;
    vs_tensor *val = NULL;
    vs_var_opts o = {0};
    OK(vs_variable(g, "w", &t, NULL, &v));
    data[0] = 99;
    OK(vs_global_variables_initializer(g));
    OK(vs_var_value(v, &val));
    assert_int_equal(((int32_t *)val->data)[0], 1);
    assert_int_equal(vs_var_dtype(v), VS_INT32);
    o.dtype = VS_FLOAT32;
    FAILS(vs_variable(g, "w", &t, &o, &v), VS_EDTYPE,
          "initial_value has dtype int32 but dtype float32 was requested");
}

static void test_collections__scope_name_is_literal(void **state)
{
    vs_graph *g = *state;
    vs_var *out[4];
    vs_scope *dot = vs_push(g, "a.b", 0);
    gv1(g, "v");
    OK(vs_variable_scope_pop(g));
    vs_push(g, "aXb", 0);
    gv1(g, "v");
    OK(vs_variable_scope_pop(g));
    /* the scope method escapes its name; the regex filter does not */
    assert_int_equal(vs_scope_get_collection(g, dot, VS_GLOBAL_VARIABLES, out,
                                             4),
                     1);
    assert_string_equal(vs_var_name(out[0]), "a.b/v:0");
    assert_int_equal(vs_get_collection(g, VS_GLOBAL_VARIABLES, "a.b", out, 4),
                     2);
}

/* ---- seeds (68) ---- */

static void test_seed__rules(void **state)
{
    vs_graph *g = *state;
    int64_t a, b, c, d;
    vs__graph_get_seed(g, 5, &a, &b);
    assert_int_equal(a, 87654321);
    assert_int_equal(b, 5);
    vs_graph_set_random_seed(g, 0);
    vs__graph_get_seed(g, 0, &a, &b);
    assert_int_equal(a, 0);
    assert_int_equal(b, 2147483647);
    vs_graph_set_random_seed(g, 1);
    vs__graph_get_seed(g, VS_NO_SEED, &a, &b);
    gv1(g, "x");
    vs__graph_get_seed(g, VS_NO_SEED, &c, &d);
    assert_int_equal(a, 1);
    assert_int_equal(c, 1);
    assert_true(d > b); /* seed2 counts the ops created so far */
    vs_graph_set_random_seed(g, 2147483647LL + 3);
    vs__graph_get_seed(g, 7, &a, &b);
    assert_int_equal(a, 3);
    assert_int_equal(b, 7);
    vs_graph_set_random_seed(g, VS_NO_SEED);
    vs__graph_get_seed(g, VS_NO_SEED, &a, &b);
    assert_true(a > 0 && b > 0);
}

static void fill_model(vs_graph *g, float *out, size_t n)
{
    const int64_t s[] = {4, 8};
    vs_var *v = NULL;
    vs_tensor *t = NULL;
    vs_graph_set_random_seed(g, 42);
    vs_push(g, "m", 0);
    OK(gv(g, "w", 2, s, 0, &v));
    OK(vs_variable_scope_pop(g));
    OK(vs_global_variables_initializer(g));
    OK(vs_var_value(v, &t));
    memcpy(out, t->data, n * sizeof(float));
}

static void test_seed__graph_seed_is_deterministic(void **state)
{
    float a[32], b[32];
    vs_graph *g2 = NULL;
    fill_model(*state, a, 32);
    OK(vs_graph_open(&g2));
    fill_model(g2, b, 32);
    vs_graph_close(g2);
    assert_memory_equal(a, b, sizeof a);
}

static void test_registry__tables_answer_queries(void **state)
{
    vs_graph *g = *state;
    sqlite3_stmt *st = NULL;
    const int64_t s[] = {2, 3};
    vs_var *v = NULL;
    vs_push(g, "blk", 0);
    OK(gv(g, "k", 2, s, 0, &v));
    OK(vs_variable_scope_pop(g));
    assert_int_equal(sqlite3_prepare_v2(vs__graph_db(g),
                                        "SELECT name, scope, dtype, shape, "
                                        "trainable FROM variables",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "blk/k");
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "blk");
    assert_string_equal((const char *)sqlite3_column_text(st, 2), "float32");
    assert_string_equal((const char *)sqlite3_column_text(st, 3), "[2,3]");
    assert_int_equal(sqlite3_column_int(st, 4), 1);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    assert_ptr_equal(vs__graph_find_store(g, "blk/k"), v);
    assert_ptr_equal(vs__graph_find_op(g, "blk/k"), v);
    assert_null(vs__graph_find_store(g, "blk/K"));
}

#define T(name) GRAPH_TEST(name)

/* SQLite's allocator, wrapped: mem_fail_at > 0 counts allocations down,
 * and the one it reaches 0 at fails (once). Installed by main. */
static sqlite3_mem_methods real_mem;
static int mem_fail_at = -1;

static int mem_should_fail(void)
{
    if (mem_fail_at < 0)
        return 0;
    if (mem_fail_at-- == 0)
        return 1;
    return 0;
}

static void *mem_malloc(int n)
{
    return mem_should_fail() ? NULL : real_mem.xMalloc(n);
}

static void *mem_realloc(void *p, int n)
{
    return mem_should_fail() ? NULL : real_mem.xRealloc(p, n);
}

/* A registration that fails part-way (SQLite out of memory at each of its
 * allocations in turn) leaves the registry as it was: the name does not
 * exist, the next variable gets a fresh id, and no collection lists a
 * ghost. The registry has no journal, so ROLLBACK cannot undo it; before
 * the fix the store row stayed and named the next variable's id. */
static void test_registry__failed_registration_leaves_nothing(void **state)
{
    vs_graph *g = *state;
    static const char *const colls[] = {"c1", "c2", VS_GLOBAL_VARIABLES,
                                        NULL};
    int failures = 0, k;
    vs_var *w = NULL;
    for (k = 0; k < 5000; k++) {
        vs_var_opts o = {0};
        o.shape = S1;
        o.ndim = 1;
        o.collections = colls;
        w = NULL;
        mem_fail_at = k;
        int rc = vs_get_variable(g, "w", &o, &w);
        int hit = mem_fail_at < 0; /* the failure was used */
        mem_fail_at = -1;
        if (rc == VS_OK) {
            assert_false(hit);
            break;
        }
        assert_true(hit);
        assert_null(w);
        failures++;
        /* A new variable now: distinct, and alone under its name. */
        char probe[32];
        snprintf(probe, sizeof probe, "probe%d", k);
        vs_var *p = gv1(g, probe);
        assert_string_equal(vs_var_op_name(p), probe);
        vs_var *again = NULL;
        vs_scope_opts so = {0};
        so.reuse = VS_REUSE;
        assert_int_equal(
            vs_variable_scope_reenter(g, vs_get_variable_scope(g), &so),
            VS_OK);
        assert_int_equal(gv(g, probe, 1, S1, 0, &again), VS_OK);
        assert_ptr_equal(again, p);
        assert_int_not_equal(gv(g, "w", 1, S1, 0, &again), VS_OK);
        assert_int_equal(vs_variable_scope_pop(g), VS_OK);
    }
    assert_non_null(w);
    assert_true(failures > 10);
    /* (Its op name may be "w_<n>": a failed attempt keeps the op name it
     * took, as in TF; its key is "w".) */
    vs_var *same = NULL;
    vs_scope_opts so = {0};
    so.reuse = VS_REUSE;
    assert_int_equal(
        vs_variable_scope_reenter(g, vs_get_variable_scope(g), &so), VS_OK);
    assert_int_equal(gv(g, "w", 1, S1, 0, &same), VS_OK);
    assert_ptr_equal(same, w);
    assert_int_equal(vs_variable_scope_pop(g), VS_OK);
    /* Every collection lists w once, after the probes, and nothing else. */
    assert_int_equal(vs_get_collection(g, "c1", NULL, NULL, 0), 1);
    assert_int_equal(vs_get_collection(g, "c2", NULL, NULL, 0), 1);
    vs_var *all[6000];
    size_t n = vs_get_collection(g, VS_GLOBAL_VARIABLES, NULL, all, 6000);
    assert_int_equal(n, (size_t)failures + 1);
    assert_ptr_equal(all[n - 1], w);
}

/* Routes SQLite's allocations through mem_malloc / mem_realloc, so a test
 * can fail the Nth one (mem_fail_at). -1 if SQLite refuses. */
static int install_failing_sqlite_malloc(void)
{
    sqlite3_mem_methods m;
    if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &real_mem) != SQLITE_OK)
        return -1;
    m = real_mem;
    m.xMalloc = mem_malloc;
    m.xRealloc = mem_realloc;
    return sqlite3_config(SQLITE_CONFIG_MALLOC, &m) == SQLITE_OK ? 0 : -1;
}

int main(void)
{
    if (install_failing_sqlite_malloc() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        T(test_registry__failed_registration_leaves_nothing),
        T(test_unique__repeats_get_suffixes),
        T(test_unique__skips_taken_suffix),
        T(test_unique__explicit_after_generated),
        T(test_unique__case_insensitive_keeps_case),
        T(test_unique__without_mark_takes_nothing),
        T(test_ns__twice_at_root),
        T(test_ns__shares_table_with_ops),
        T(test_ns__absolute_reentry),
        T(test_ns__empty_and_null_reset_to_root),
        T(test_ns__name_validation),
        T(test_vs__invalid_name_underscore),
        T(test_variable__default_names),
        T(test_naming__get_variable_ignores_name_scope),
        T(test_naming__variable_scope_names_both),
        T(test_naming__reopened_scope_shares_and_uniquifies_ops),
        T(test_naming__reopened_scope_creates_in_same_scope),
        T(test_naming__ns_around_vs),
        T(test_naming__variable_then_get_variable_quirk),
        T(test_naming__variable_not_in_store),
        T(test_naming__case_distinct_store_entries),
        T(test_reentry__name_scopes_uniquified),
        T(test_reentry__inside_itself_nests_name_scope),
        T(test_reentry__ignores_current_scope),
        T(test_default_name__twice),
        T(test_default_name__inside_name_scope),
        T(test_default_name__jump_restores_counts),
        T(test_default_name__nested_reentry_restores_counts),
        T(test_default_name__interleaved_substrings),
        T(test_default_name__restart_after_string_scope_exit),
        T(test_default_name__reuse_refused),
        T(test_aux_name_scope__off),
        T(test_original_name_scope__reenter_absolute),
        T(test_nesting__improper_exit),
        T(test_nesting__name_scope_left_open),
        T(test_reuse__exists_disallowed),
        T(test_reuse__true_missing),
        T(test_reuse__auto_reuse_function),
        T(test_reuse__reuse_variables),
        T(test_reuse__child_cannot_turn_off),
        T(test_reuse__object_reuse_rules),
        T(test_reuse__auto_under_true_creates),
        T(test_reuse__captured_scope_does_not_inherit),
        T(test_reuse__root_reuse_variables),
        T(test_reuse__shape_and_dtype_checks),
        T(test_reuse__unknown_shape_and_dims_match),
        T(test_reuse__large_and_permuted_shapes),
        T(test_reuse__dtype_defaults_to_float32),
        T(test_new_variable__needs_full_shape),
        T(test_reuse__bad_value),
        T(test_bad_input__absurd_shape),
        T(test_bad_input__long_name),
        T(test_bad_input__assign_rank_out_of_range_refused),
        T(test_bad_input__variable_rank_out_of_range_refused),
        T(test_errmsg__is_errno_like),
        T(test_defaults__scope_initializer_inherited),
        T(test_defaults__set_initializer_is_scoped),
        T(test_defaults__dtype_inherited),
        T(test_defaults__int_and_bool_start_at_zero),
        T(test_defaults__float_default_is_glorot_uniform),
        T(test_collections__scope_filters),
        T(test_collections__local_variables),
        T(test_collections__scope_name_is_literal),
        T(test_init__names_and_uninitialized_read),
        T(test_init__covers_only_existing_variables),
        T(test_value__live_and_assign),
        T(test_variable__value_copied_and_scoped),
        T(test_seed__rules),
        T(test_seed__graph_seed_is_deterministic),
        T(test_registry__tables_answer_queries),
    };
    return cmocka_run_group_tests_name("scope", tests, NULL, NULL);
}
