/* Scripted cases: name scopes, unique names, variable scope names and
 * re-entry, default names, tf.Variable naming, collections. */
#include "oc_script.h"

#include <string.h>

static const int64_t S2[] = {2}, S23[] = {2, 3};

/* Name scopes opened (a name) and closed (NULL) in turn. */
static void name_scope_unique(vs_graph *g, oc_result *r)
{
    static const char *const steps[] = {"a",  NULL, "a",   "b",  NULL,
                                        NULL, "a/", "c",   NULL, NULL,
                                        "a_1", "_x", NULL, NULL};
    size_t i;
    for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        if (steps[i])
            oc_npush(g, r, steps[i]);
        else
            oc_npop(g, r);
    }
}

/* TF's texts for invalid names, at the root and below it. */
static void invalid_scope_names(vs_graph *g, oc_result *r)
{
    oc_npush(g, r, "_x");
    oc_npush(g, r, "a");
    oc_npush(g, r, "b c");
    oc_npop(g, r);
    oc_vpush(g, r, "_v", VS_REUSE_INHERIT);
    oc_getv(g, r, "bad name", 1, S2, 0);
}

static void unique_line(vs_graph *g, oc_result *r, const char *name, int mark)
{
    char *u = NULL;
    int rc = vs_unique_name(g, name, mark, &u);
    if (rc != VS_OK) {
        oc_rc(r, rc);
        return;
    }
    oc_line(r, "unique %s", u);
    vs_free(u);
}

static void unique_names(vs_graph *g, oc_result *r)
{
    unique_line(g, r, "op", 1);
    unique_line(g, r, "op", 1);
    unique_line(g, r, "Op", 1);
    unique_line(g, r, "op_1", 1);
    unique_line(g, r, "x", 0);
    unique_line(g, r, "x", 0);
    oc_npush(g, r, "s");
    unique_line(g, r, "op", 1);
    oc_npop(g, r);
    unique_line(g, r, "s", 1);
}

static void variable_scope_names(vs_graph *g, oc_result *r)
{
    oc_vpush(g, r, "foo", VS_REUSE_INHERIT);
    oc_getv(g, r, "v", 1, S2, 0);
    oc_vpush(g, r, "bar", VS_REUSE_INHERIT);
    oc_getv(g, r, "w", 2, S23, 0);
    oc_vpop(g, r);
    oc_vpop(g, r);
    oc_vpush(g, r, "foo", VS_REUSE);
    oc_getv(g, r, "v", -1, NULL, 0);
    oc_vpop(g, r);
    oc_npush(g, r, "ns");
    oc_vpush(g, r, "inner", VS_REUSE_INHERIT);
    oc_getv(g, r, "u", 0, NULL, 0);
    oc_vpop(g, r);
    oc_npop(g, r);
}

static void reenter(vs_graph *g, oc_result *r, vs_scope *s)
{
    oc_show_entered(g, r, vs_variable_scope_reenter(g, s, NULL));
}

static void variable_scope_reenter(vs_graph *g, oc_result *r)
{
    vs_scope *s = NULL;
    int rc = vs_variable_scope_push(g, "foo", NULL, &s);
    oc_show_entered(g, r, rc);
    if (rc != VS_OK)
        return;
    oc_getv(g, r, "v", 1, S2, 0);
    oc_vpop(g, r);
    reenter(g, r, s);
    oc_getv(g, r, "w", 1, S2, 0);
    oc_vpop(g, r);
    oc_vpush(g, r, "outer", VS_REUSE_INHERIT);
    reenter(g, r, s);
    oc_getv(g, r, "x", 1, S2, 0);
    oc_vpop(g, r);
    oc_vpop(g, r);
}

static void variable_line(vs_graph *g, oc_result *r, const char *name)
{
    vs_tensor *t = NULL;
    vs_var *v = NULL;
    int rc = vs_tensor_new(VS_FLOAT32, 0, NULL, &t);
    if (rc == VS_OK)
        rc = vs_variable(g, name, t, NULL, &v);
    vs_tensor_free(t);
    if (rc != VS_OK)
        oc_rc(r, rc);
    else
        oc_var(r, v);
}

static void push_default(vs_graph *g, oc_result *r, const char *name,
                         const char *def, int no_aux)
{
    vs_scope_opts o;
    memset(&o, 0, sizeof o);
    o.default_name = def;
    o.no_auxiliary_name_scope = no_aux;
    oc_show_entered(g, r, vs_variable_scope_push(g, name, &o, NULL));
}

static void default_names(vs_graph *g, oc_result *r)
{
    int i;
    for (i = 0; i < 2; i++) {
        push_default(g, r, NULL, "layer", 0);
        oc_getv(g, r, "k", 1, S2, 0);
        oc_vpop(g, r);
    }
    push_default(g, r, "layer", NULL, 0);
    oc_vpop(g, r);
    push_default(g, r, "named", "ignored", 0);
    oc_vpop(g, r);
    push_default(g, r, "aux", NULL, 1);
    oc_getv(g, r, "a", 1, S2, 0);
    oc_vpop(g, r);
}


static void tf_variable_names(vs_graph *g, oc_result *r)
{
    variable_line(g, r, NULL);
    variable_line(g, r, NULL);
    variable_line(g, r, "w");
    variable_line(g, r, "w");
    oc_npush(g, r, "ns");
    variable_line(g, r, NULL);
    oc_getv(g, r, "g", 1, S2, 0);
    oc_npop(g, r);
    oc_vpush(g, r, "vs", VS_REUSE_INHERIT);
    variable_line(g, r, NULL);
    oc_vpop(g, r);
    oc_getv(g, r, "w2", 1, S2, 0);
    variable_line(g, r, "w2");
    variable_line(g, r, "ns");
}

static vs_var *getv_opts(vs_graph *g, oc_result *r, const char *name,
                         int not_trainable, const char *const *colls)
{
    vs_var_opts o;
    vs_var *v = NULL;
    int rc;
    memset(&o, 0, sizeof o);
    o.shape = S2;
    o.ndim = 1;
    o.not_trainable = not_trainable;
    o.collections = colls;
    rc = vs_get_variable(g, name, &o, &v);
    if (rc != VS_OK)
        oc_rc(r, rc);
    return v;
}

static void collections(vs_graph *g, oc_result *r)
{
    static const char *const mine[] = {"my_vars", VS_GLOBAL_VARIABLES, NULL};
    static const char *const only[] = {"my_vars", NULL};
    vs_var_opts o;
    vs_var *v = NULL;
    int rc;
    getv_opts(g, r, "t", 0, NULL);
    getv_opts(g, r, "frozen", 1, NULL);
    getv_opts(g, r, "custom", 0, mine);
    getv_opts(g, r, "hidden", 0, only);
    memset(&o, 0, sizeof o);
    o.shape = S2;
    o.ndim = 1;
    rc = vs_get_local_variable(g, "loc", &o, &v);
    if (rc != VS_OK)
        oc_rc(r, rc);
    variable_line(g, r, "plain");
    oc_vpush(g, r, "s", VS_REUSE_INHERIT);
    getv_opts(g, r, "x", 0, NULL);
    oc_vpop(g, r);
    getv_opts(g, r, "sx", 0, NULL);
    oc_collection_line(g, r, VS_GLOBAL_VARIABLES, NULL);
    oc_collection_line(g, r, VS_TRAINABLE_VARIABLES, NULL);
    oc_collection_line(g, r, VS_LOCAL_VARIABLES, NULL);
    oc_collection_line(g, r, "my_vars", NULL);
    oc_collection_line(g, r, VS_GLOBAL_VARIABLES, "s");
    oc_collection_line(g, r, VS_GLOBAL_VARIABLES, "s/");
    oc_collection_line(g, r, VS_TRAINABLE_VARIABLES, "f|c");
}

/* Names with "/"; op names and scope names share one namespace. */
static void shared_namespace(vs_graph *g, oc_result *r)
{
    oc_getv(g, r, "x/y", 1, S2, 0);
    oc_npush(g, r, "x");
    oc_npop(g, r);
    variable_line(g, r, "foo");
    oc_vpush(g, r, "foo", VS_REUSE_INHERIT);
    oc_getv(g, r, "v", 1, S2, 0);
    oc_vpop(g, r);
    oc_npush(g, r, "Foo");
    oc_npop(g, r);
}

/* A name ending in "/" names the variable's op as is, without the slash
 * (not made unique, not marked used); a node name taken twice is TF's
 * duplicate node error. */
static void trailing_slash_ops(vs_graph *g, oc_result *r)
{
    oc_getv(g, r, "x", 1, S2, 0);
    variable_line(g, r, "x/");
    variable_line(g, r, "y/");
    variable_line(g, r, "y");
    variable_line(g, r, "y");
    oc_vpush(g, r, "s", VS_REUSE_INHERIT);
    oc_getv(g, r, "v/", 1, S2, 0);
    oc_getv(g, r, "v", 1, S2, 0);
    oc_vpop(g, r);
    oc_collection_line(g, r, VS_GLOBAL_VARIABLES, NULL);
}

/* TF names an unnamed get_variable after its op type. */
static void empty_variable_name(vs_graph *g, oc_result *r)
{
    oc_getv(g, r, "", 1, S2, 0);
}

static void push_dtype(vs_graph *g, oc_result *r, const char *name,
                       vs_dtype dt)
{
    vs_scope_opts o;
    memset(&o, 0, sizeof o);
    o.dtype = dt;
    oc_show_entered(g, r, vs_variable_scope_push(g, name, &o, NULL));
}

/* The scope's dtype: inherited by inner scopes, overridden by the call. */
static void scope_dtype(vs_graph *g, oc_result *r)
{
    push_dtype(g, r, "h", VS_FLOAT16);
    oc_getv(g, r, "a", 1, S2, 0);
    oc_getv(g, r, "b", 1, S2, VS_FLOAT64);
    oc_vpush(g, r, "inner", VS_REUSE_INHERIT);
    oc_getv(g, r, "c", 1, S2, 0);
    oc_vpop(g, r);
    push_dtype(g, r, "d", VS_FLOAT64);
    oc_getv(g, r, "e", 1, S2, 0);
    oc_vpop(g, r);
    oc_vpop(g, r);
    oc_getv(g, r, "f", 1, S2, 0);
}

/* An empty default_name: TF opens name_scope(""), which goes back to the
 * root, and makes the scope name unique as any other ("", "_1", under
 * "a": "a/", "a/_1"). */
static void empty_default_name(vs_graph *g, oc_result *r)
{
    push_default(g, r, NULL, "", 0);
    oc_getv(g, r, "v", 1, S2, 0);
    variable_line(g, r, "t");
    oc_vpop(g, r);
    push_default(g, r, NULL, "", 0);
    oc_vpop(g, r);
    oc_npush(g, r, "n");
    oc_vpush(g, r, "a", VS_REUSE_INHERIT);
    push_default(g, r, NULL, "", 0);
    oc_getv(g, r, "v", 1, S2, 0);
    variable_line(g, r, "t");
    oc_vpop(g, r);
    push_default(g, r, NULL, "", 0);
    oc_vpop(g, r);
    oc_vpop(g, r);
    push_default(g, r, NULL, "", 1);
    variable_line(g, r, "u");
    oc_vpop(g, r);
    oc_npop(g, r);
}

/* A default-name scope refuses reuse (True and AUTO_REUSE alike) and
 * needs a default name when it has no name. */
static void default_name_refused(vs_graph *g, oc_result *r)
{
    vs_scope_opts o;
    memset(&o, 0, sizeof o);
    o.default_name = "d";
    o.reuse = VS_REUSE;
    oc_show_entered(g, r, vs_variable_scope_push(g, NULL, &o, NULL));
    o.reuse = VS_AUTO_REUSE;
    oc_show_entered(g, r, vs_variable_scope_push(g, NULL, &o, NULL));
    oc_show_entered(g, r, vs_variable_scope_push(g, NULL, NULL, NULL));
    oc_name_scope_line(g, r);
}

static const oc_script scripts[] = {
    {"scope_dtype", scope_dtype},
    {"shared_namespace", shared_namespace},
    {"trailing_slash_ops", trailing_slash_ops},
    {"empty_variable_name", empty_variable_name},
    {"name_scope_unique", name_scope_unique},
    {"invalid_scope_names", invalid_scope_names},
    {"unique_name", unique_names},
    {"variable_scope", variable_scope_names},
    {"variable_scope_reenter", variable_scope_reenter},
    {"default_name", default_names},
    {"empty_default_name", empty_default_name},
    {"default_name_refused", default_name_refused},
    {"tf_variable", tf_variable_names},
    {"collections", collections},
};

void oc_names_cases(oc_add_fn add)
{
    oc_add_scripts(add, "names", scripts, sizeof scripts / sizeof scripts[0]);
}
