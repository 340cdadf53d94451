/* varstore: the first step of every save, on the calling thread: the
 * caller's tensors or graph variables turned into validated items (and,
 * for a graph, the definitions the checkpoint keeps), with TF's errors. */
#include <string.h>

#include "graph_int.h"
#include "save_int.h"
#include "scope_export.h"

/* Validates the items (sorted by key then) and, with a graph, collects
 * the definitions. */
static int finish_prep(vs__save_prep *p, vs_graph *g, int64_t step,
                       const vs_save_opts *opts)
{
    int rc = vs__save_validate(step, p->items, p->n, opts, g != NULL);
    if (rc == VS_OK && g != NULL)
        rc = vs__save_defs_collect(g, p->items, p->n, &p->defs);
    return rc;
}

int vs__save_prep_tensors(vs__save_prep *p, const char *path, int64_t step,
                          const char *const *names,
                          const vs_tensor *const *tensors, size_t n,
                          const vs_save_opts *opts)
{
    memset(p, 0, sizeof *p);
    if (path == NULL || *path == '\0')
        return vs__fail(VS_EINVAL, "checkpoint path is NULL or empty");
    if (n == 0)
        return vs__fail(VS_EINVAL, "No variables to save");
    if (names == NULL || tensors == NULL)
        return vs__fail(VS_EINVAL, "names and tensors must not be NULL");
    vs__save_item *items = vs__calloc(n, sizeof *items);
    if (items == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    p->items = items;
    p->n = n;
    int rc = VS_OK;
    for (size_t i = 0; i < n && rc == VS_OK; i++) {
        rc = vs__save_check_key(names[i]);
        if (rc == VS_OK)
            rc = vs__save_check_tensor(names[i], tensors[i], &items[i].nbytes,
                              &items[i].numel);
        items[i].key = names[i];
        items[i].t = tensors[i];
        if (rc == VS_OK)
            items[i].esize = vs__elem_size(tensors[i]->dtype);
    }
    if (rc == VS_OK)
        rc = finish_prep(p, NULL, step, opts);
    return rc;
}

/* The variables to save: opts->vars, or every global variable; each of
 * g. *vars is a new array (vs__free). */
static int collect_vars(vs_graph *g, const vs_save_opts *opts,
                        vs_var ***vars, size_t *n)
{
    int listed = opts != NULL && opts->vars != NULL;
    vs_var **v = NULL;
    int rc = VS_OK;
    if (!listed) {
        rc = vs__collection_all(g, VS_GLOBAL_VARIABLES, &v, n);
        if (rc == VS_OK && *n == 0)
            rc = vs__fail(VS_EINVAL, "No variables to save");
    } else {
        size_t bytes;
        *n = opts->n_vars;
        if (*n == 0)
            return vs__fail(VS_EINVAL, "No variables to save");
        if (vs__mul_size(*n, sizeof **vars, &bytes) != 0)
            return vs__fail(VS_EINVAL, "n_vars %zu is too large", *n);
        v = vs__malloc(bytes);
        if (v == NULL)
            return vs__fail(VS_ENOMEM, "out of memory");
        memcpy(v, opts->vars, bytes);
    }
    for (size_t i = 0; i < *n && rc == VS_OK; i++) {
        if (v[i] == NULL)
            rc = vs__fail(VS_EINVAL, "variable %zu of the list is NULL", i);
        else if (v[i]->g != g)
            rc = vs__fail(VS_EINVAL, "variable %s belongs to another graph",
                          v[i]->op_name);
    }
    if (rc != VS_OK) {
        vs__free(v);
        return rc;
    }
    *vars = v;
    return VS_OK;
}

/* Item i for variable v under key: a partitioned variable's parts are
 * gathered into one tensor (*whole, freed by the caller). */
static int var_item(vs__save_item *it, vs_var *v, const char *key,
                    vs_partitioned *pv, vs_tensor **whole)
{
    int rc = vs__save_check_key(key);
    if (rc != VS_OK)
        return rc;
    it->key = key;
    it->var = v;
    if (pv != NULL) {
        int64_t shp[VS_MAX_DIMS];
        int nd = vs_partitioned_shape(pv, shp);
        rc = vs_tensor_new(vs_partitioned_dtype(pv), nd, shp, whole);
        if (rc == VS_OK)
            rc = vs__partitioned_gather(pv, (*whole)->data);
        if (rc != VS_OK)
            return rc;
        it->t = *whole;
    } else {
        if (!v->initialized || (v->value.data == NULL && v->nbytes > 0))
            return vs__fail(VS_EUNINIT,
                            "Attempting to use uninitialized value %s",
                            v->op_name);
        it->t = &v->value;
    }
    rc = vs__save_check_tensor(key, it->t, &it->nbytes, &it->numel);
    it->esize = vs__elem_size(it->t->dtype);
    return rc;
}

int vs__save_prep_graph(vs__save_prep *p, vs_graph *g, const char *path,
                        int64_t step, const vs_save_opts *opts)
{
    memset(p, 0, sizeof *p);
    if (g == NULL)
        return vs__fail(VS_EINVAL, "graph is NULL");
    if (path == NULL || *path == '\0')
        return vs__fail(VS_EINVAL, "checkpoint path is NULL or empty");
    size_t n;
    int rc = collect_vars(g, opts, &p->vars, &n);
    if (rc != VS_OK)
        return rc;
    /* Partitioned variables: one tensor under the full name, assembled
     * from the parts (unless keys name each variable). */
    rc = vs__group_partitioned(
        p->vars, opts != NULL && opts->vars != NULL ? opts->keys : NULL, &n,
        &p->pvs, &p->gkeys);
    if (rc == VS_OK) {
        p->items = vs__calloc(n, sizeof *p->items);
        p->whole = vs__calloc(n, sizeof *p->whole);
        if (p->items == NULL || p->whole == NULL)
            rc = vs__fail(VS_ENOMEM, "out of memory");
        else
            p->n = p->n_whole = n;
    }
    for (size_t i = 0; i < p->n && rc == VS_OK; i++)
        rc = var_item(&p->items[i], p->vars[i], p->gkeys[i], p->pvs[i],
                      &p->whole[i]);
    if (rc == VS_OK)
        rc = finish_prep(p, g, step, opts);
    return rc;
}

void vs__save_prep_free(vs__save_prep *p)
{
    for (size_t i = 0; p->whole != NULL && i < p->n_whole; i++)
        vs_tensor_free(p->whole[i]);
    vs__save_defs_free(p->defs);
    vs__free(p->whole);
    vs__free(p->items);
    vs__free(p->pvs);
    vs__free(p->gkeys);
    vs__free(p->vars);
    memset(p, 0, sizeof *p);
}
