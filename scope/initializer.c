/* varstore: running initializers (TF's variables_initializer,
 * global_variables_initializer, local_variables_initializer): each
 * variable is filled by its loader, its initial value, its part of a
 * partitioned variable's initializer, or its own initializer. */
#include <string.h>

#include "scope_int.h"

static int run_initializer(vs_var *v)
{
    if (v->restoring)
        return vs__fail(VS_ERESTORING, "variable %s is being restored",
                        v->op_name);
    int rc = vs__var_ensure_buffer(v);
    if (rc != VS_OK)
        return rc;
    if (v->loader)
        rc = v->loader(v, v->loader_ctx);
    else if (v->initial_value) {
        if (v->nbytes)
            memcpy(v->value.data, v->initial_value->data, v->nbytes);
        rc = VS_OK;
    } else if (v->part_of)
        rc = vs__partitioned_fill(v); /* partition_info: full shape */
    else
        rc = vs_init_fill(&v->init, &v->value, v->seed, v->seed2);
    if (rc != VS_OK)
        return vs__fail_prefix(rc, "initializing %s: ", v->op_name);
    v->initialized = 1;
    return VS_OK;
}

int vs_variables_initializer(vs_graph *g, vs_var *const *vars, size_t n)
{
    size_t i;
    char *init_name = NULL;
    int rc;
    if (g == NULL || (vars == NULL && n > 0))
        return vs__fail(VS_EINVAL, "vs_variables_initializer: graph is NULL "
                                   "or vars is NULL");
    /* The group op is named "init", "init_1", ... as in TF. */
    rc = vs__unique_name(g, "init", 1, 0, &init_name);
    vs__free(init_name);
    if (rc != VS_OK)
        return rc;
    for (i = 0; i < n; i++) {
        if (vars[i] == NULL || vars[i]->g != g)
            return vs__fail(VS_EINVAL, "vs_variables_initializer: variable "
                                       "%zu is NULL or from another graph",
                            i);
        rc = run_initializer(vars[i]);
        if (rc != VS_OK)
            return rc;
    }
    return VS_OK;
}

static int init_collection(vs_graph *g, const char *key)
{
    size_t n, got;
    vs_var **vars;
    int rc;
    if (g == NULL)
        return vs__fail(VS_EINVAL, "graph is NULL");
    n = vs_get_collection(g, key, NULL, NULL, 0);
    vars = vs__calloc(n ? n : 1, sizeof *vars);
    if (vars == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    got = vs_get_collection(g, key, NULL, vars, n);
    rc = vs_variables_initializer(g, vars, got < n ? got : n);
    vs__free(vars);
    return rc;
}

int vs_global_variables_initializer(vs_graph *g)
{
    return init_collection(g, VS_GLOBAL_VARIABLES);
}

int vs_local_variables_initializer(vs_graph *g)
{
    return init_collection(g, VS_LOCAL_VARIABLES);
}
