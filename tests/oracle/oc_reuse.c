/* Scripted cases: reuse decisions (True, AUTO_REUSE, inheritance,
 * reuse_variables) and TF's error classes and texts. */
#include "oc_script.h"

#include <string.h>

static const int64_t S1[] = {1}, S2[] = {2}, S23[] = {2, 3};

static void same_line(oc_result *r, const vs_var *a, const vs_var *b)
{
    oc_line(r, "same %d", a && b && a == b);
}

static void reuse_true(vs_graph *g, oc_result *r)
{
    vs_var *a, *b, *c;
    a = oc_getv_in(g, r, "foo", VS_REUSE_INHERIT, "v", 2, S23);
    oc_vpush(g, r, "foo", VS_REUSE);
    b = oc_getv(g, r, "v", 2, S23, 0);
    c = oc_getv(g, r, "v", -1, NULL, 0);
    same_line(r, a, b);
    same_line(r, a, c);
    oc_vpop(g, r);
}

static void auto_reuse(vs_graph *g, oc_result *r)
{
    vs_var *a, *b;
    oc_vpush(g, r, "a", VS_AUTO_REUSE);
    a = oc_getv(g, r, "v", 1, S2, 0);
    b = oc_getv(g, r, "v", 1, S2, 0);
    same_line(r, a, b);
    oc_vpush(g, r, "b", VS_REUSE_INHERIT);
    a = oc_getv(g, r, "w", 0, NULL, 0);
    b = oc_getv(g, r, "w", 0, NULL, 0);
    same_line(r, a, b);
    oc_vpop(g, r);
    oc_vpop(g, r);
    oc_getv_in(g, r, "a", VS_REUSE_INHERIT, "v", 1, S2);
}

static void inherit(vs_graph *g, oc_result *r)
{
    oc_vpush(g, r, "r", VS_REUSE);
    oc_getv_in(g, r, "inner", VS_REUSE_INHERIT, "x", 1, S1);
    oc_vpop(g, r);
    oc_getv_in(g, r, "top", VS_REUSE_INHERIT, "y", 1, S1);
}

static void reuse_variables(vs_graph *g, oc_result *r)
{
    vs_var *a, *b;
    oc_vpush(g, r, "rv", VS_REUSE_INHERIT);
    a = oc_getv(g, r, "v", 1, S1, 0);
    vs_scope_reuse_variables(vs_get_variable_scope(g));
    oc_scope_line(g, r);
    b = oc_getv(g, r, "v", 1, S1, 0);
    same_line(r, a, b);
    oc_getv(g, r, "new", 1, S1, 0);
    oc_vpush(g, r, "child", VS_REUSE_INHERIT);
    oc_vpop(g, r);
    oc_vpop(g, r);
    oc_vpush(g, r, "rv", VS_REUSE_INHERIT);
    oc_vpop(g, r);
}

static void err_exists(vs_graph *g, oc_result *r)
{
    oc_vpush(g, r, "foo", VS_REUSE_INHERIT);
    oc_getv(g, r, "v", 1, S1, 0);
    oc_getv(g, r, "v", 1, S1, 0);
    oc_vpop(g, r);
    oc_getv(g, r, "top", 0, NULL, 0);
    oc_getv(g, r, "top", 0, NULL, 0);
}

static void err_not_found(vs_graph *g, oc_result *r)
{
    oc_vpush(g, r, "foo", VS_REUSE);
    oc_getv(g, r, "w", 1, S1, 0);
    oc_getv(g, r, "w", -1, NULL, 0);
    oc_vpop(g, r);
}

static void err_shape(vs_graph *g, oc_result *r)
{
    oc_getv_in(g, r, "foo", VS_REUSE_INHERIT, "v", 1, S1);
    oc_vpush(g, r, "foo", VS_REUSE);
    oc_getv(g, r, "v", 1, S2, 0);
    oc_getv(g, r, "v", 2, S23, 0);
    oc_getv(g, r, "v", 0, NULL, 0);
    oc_vpop(g, r);
    oc_getv_in(g, r, "foo", VS_AUTO_REUSE, "v", 1, S2);
}

static void err_dtype(vs_graph *g, oc_result *r)
{
    oc_getv_in(g, r, "foo", VS_REUSE_INHERIT, "v", 1, S1);
    oc_vpush(g, r, "foo", VS_REUSE);
    oc_getv(g, r, "v", 1, S1, VS_INT32);
    oc_getv(g, r, "v", 1, S1, VS_FLOAT64);
    oc_vpop(g, r);
}

static void err_no_shape(vs_graph *g, oc_result *r)
{
    vs_init z = vs_init_zeros();
    vs_var_opts o;
    vs_var *v = NULL;
    int rc;
    oc_vpush(g, r, "foo", VS_REUSE_INHERIT);
    oc_getv(g, r, "v", -1, NULL, 0);
    memset(&o, 0, sizeof o);
    o.initializer = &z;
    rc = vs_get_variable(g, "z", &o, &v);
    if (rc != VS_OK)
        oc_rc(r, rc);
    else
        oc_var(r, v);
    oc_vpop(g, r);
}

static void err_uninitialized(vs_graph *g, oc_result *r)
{
    vs_tensor *t = NULL;
    vs_var *v;
    v = oc_getv_in(g, r, "foo", VS_REUSE_INHERIT, "v", 1, S2);
    if (v)
        oc_rc(r, vs_var_value(v, &t));
}

static const oc_script scripts[] = {
    {"true", reuse_true},
    {"auto_reuse", auto_reuse},
    {"inherit", inherit},
    {"reuse_variables", reuse_variables},
    {"error_exists", err_exists},
    {"error_not_found", err_not_found},
    {"error_shape", err_shape},
    {"error_dtype", err_dtype},
    {"error_no_shape", err_no_shape},
    {"error_uninitialized", err_uninitialized},
};

void oc_reuse_cases(oc_add_fn add)
{
    oc_add_scripts(add, "reuse", scripts, sizeof scripts / sizeof scripts[0]);
}
