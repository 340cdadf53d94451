/* varstore: the entry points of TF's _VariableStore: vs_get_variable,
 * vs_get_local_variable and vs_get_partitioned_variable make the full name
 * and route the call (TF's _true_getter) to a single variable
 * (variable.c) or a partitioned one (partitioned.c). */
#include <string.h>

#include "scope_int.h"

/* Writes the full name scope->name + "/" + name (never made unique) into
 * g->buf; *len = its length. */
static int join_full_name(vs_graph *g, const vs_scope *scope,
                          const char *name, size_t *len)
{
    size_t nlen = strlen(name), slen = strlen(scope->name);
    size_t total = slen ? slen + 1 + nlen : nlen;
    int rc;
    if (total > VS_NAME_MAX)
        return vs__fail(VS_EINVAL, "variable name is too long: %zu bytes (at "
                                   "most %d)",
                        total, VS_NAME_MAX);
    rc = vs__graph_buf(g, nlen + slen + 2);
    if (rc != VS_OK)
        return rc;
    if (slen == 0) {
        memcpy(g->buf, name, nlen + 1);
        *len = nlen;
        return VS_OK;
    }
    memcpy(g->buf, scope->name, slen);
    g->buf[slen] = '/';
    memcpy(g->buf + slen + 1, name, nlen + 1);
    *len = nlen + slen + 1;
    return VS_OK;
}

/* get_variable when partitioned variables may be involved (TF's
 * _true_getter): a partitioner with a non-scalar shape means a
 * PartitionedVariable, which this call cannot return; reuse=True without
 * one returns an existing one in TF. full is a copy of the full name. */
static int get_beside_partitioned(vs_graph *g, const char *full, size_t flen,
                                  const vs_partitioner *part,
                                  const vs_var_opts *o, int ndim,
                                  const int64_t *shape, vs_dtype dtype,
                                  int local, vs_var **out)
{
    const vs_scope *scope = g->current;
    int rc;
    if (part != NULL && ndim != 0) {
        if (vs__graph_find_store(g, full) != NULL)
            return vs__fail(VS_EINVAL,
                            "A partitioner was provided, but an "
                            "unpartitioned version of the variable was "
                            "found: %s.  Perhaps a variable of the same name "
                            "was already created without partitioning?",
                            full);
        return vs__fail(VS_EINVAL,
                        "Variable %s has a partitioner and a non-scalar "
                        "shape: use vs_get_partitioned_variable() to get "
                        "a partitioned variable",
                        full);
    }
    if (part == NULL && scope->reuse == VS_REUSE &&
        vs__partitioned_find(g, full) != NULL)
        return vs__fail(VS_EINVAL,
                        "Variable %s is a partitioned variable: use "
                        "vs_get_partitioned_variable() to get it",
                        full);
    rc = vs__partitioned_none_check(g, full);
    if (rc != VS_OK)
        return rc;
    return vs__single_variable(g, full, flen, scope->reuse, o, ndim, shape,
                               dtype, local, out);
}

/* The checks and option reading every entry point starts with: graph,
 * name and out given (fn names the call in the message), a name, and
 * o's shape and dtype. */
static int read_call(const char *fn, vs_graph *g, const char *name,
                     int has_out, const vs_var_opts *o, int *ndim,
                     int64_t *shape, vs_dtype *dtype)
{
    if (g == NULL || name == NULL || !has_out)
        return vs__fail(VS_EINVAL, "%s: graph, name and out are required",
                        fn);
    if (name[0] == '\0')
        return vs__fail(VS_EINVAL, "variable name must not be empty");
    return vs__read_var_opts(g, o, ndim, shape, dtype);
}

static int get_variable(vs_graph *g, const char *name, const vs_var_opts *o,
                        int local, vs_var **out)
{
    int64_t shape[VS_MAX_DIMS];
    int ndim = -1, rc;
    size_t flen = 0;
    vs_dtype dtype;
    const vs_partitioner *part;
    char *full;

    if (out)
        *out = NULL;
    rc = read_call("vs_get_variable", g, name, out != NULL, o, &ndim, shape,
                   &dtype);
    if (rc == VS_OK)
        rc = join_full_name(g, g->current, name, &flen);
    if (rc != VS_OK)
        return rc;
    part = vs__partitioner_effective(g, NULL, &rc);
    if (rc != VS_OK)
        return rc;
    if (part == NULL && g->n_pvs == 0 && g->n_part0 == 0) /* fast path */
        return vs__single_variable(g, g->buf, flen, g->current->reuse, o,
                                   ndim, shape, dtype, local, out);
    full = vs__strdup(g->buf); /* vs__single_variable reuses g->buf */
    if (full == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    rc = get_beside_partitioned(g, full, flen, part, o, ndim, shape, dtype,
                                local, out);
    vs__free(full);
    return rc;
}

int vs_get_variable(vs_graph *g, const char *name, const vs_var_opts *opts,
                    vs_var **out)
{
    return get_variable(g, name, opts, 0, out);
}

int vs_get_local_variable(vs_graph *g, const char *name,
                          const vs_var_opts *opts, vs_var **out)
{
    return get_variable(g, name, opts, 1, out);
}

int vs_get_partitioned_variable(vs_graph *g, const char *name,
                                const vs_var_opts *opts,
                                const vs_partitioner *partitioner,
                                vs_partitioned **out)
{
    const vs_partitioner *part = NULL;
    int64_t shape[VS_MAX_DIMS];
    int ndim = -1, rc;
    size_t flen = 0;
    vs_dtype dtype;
    vs_reuse reuse;
    char *full;

    if (out)
        *out = NULL;
    rc = read_call("vs_get_partitioned_variable", g, name, out != NULL, opts,
                   &ndim, shape, &dtype);
    if (rc == VS_OK)
        part = vs__partitioner_effective(g, partitioner, &rc);
    if (rc == VS_OK)
        rc = join_full_name(g, g->current, name, &flen);
    if (rc != VS_OK)
        return rc;
    full = vs__strdup(g->buf);
    if (full == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    reuse = g->current->reuse;
    if (part != NULL) {
        rc = vs__get_partitioned(g, full, opts, ndim, shape, dtype, part,
                                 reuse, out);
    } else if (reuse == VS_REUSE && vs__partitioned_find(g, full) != NULL) {
        /* TF: reuse=True needs no partitioner (nor shape). */
        rc = vs__get_partitioned(g, full, opts, ndim, shape, dtype, NULL,
                                 VS_REUSE, out);
    } else {
        /* TF takes the single-variable path here: with reuse=True a
         * missing name is its "does not exist". */
        rc = vs__partitioned_none_check(g, full);
        if (rc == VS_OK && reuse == VS_REUSE &&
            vs__graph_find_store(g, full) == NULL)
            rc = vs__fail_not_found(full);
        if (rc == VS_OK)
            rc = vs__fail(VS_EINVAL,
                          "No partitioner was provided for variable %s: pass "
                          "one or set the variable scope's",
                          full);
    }
    vs__free(full);
    return rc;
}
