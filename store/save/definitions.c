/* varstore: a save's copy of the graph's definitions: every variable
 * scope, and each saved variable's scope, dtype, shape and initializer
 * (read through scope_export.h). */
#include <string.h>

#include "graph_int.h"
#include "save_int.h"
#include "scope_export.h"

typedef struct {
    vs__save_ctx *c;
    sqlite3_stmt *ins;
} defs_ctx;

static int step_ins(defs_ctx *d, int b)
{
    if (b != SQLITE_OK)
        return vs__store_bindfail(d->ins, b, "cannot save checkpoint to",
                                  d->c->path);
    int w = sqlite3_step(d->ins);
    if (w != SQLITE_DONE)
        return vs__store_sqlfail(d->c->db, w, "cannot save checkpoint to",
                                 d->c->path);
    return VS_OK;
}

static int copy_scope(void *vctx, sqlite3_value *const cols[6])
{
    defs_ctx *d = vctx;
    sqlite3_reset(d->ins);
    int b = SQLITE_OK;
    for (int i = 0; i < 6 && b == SQLITE_OK; i++)
        b = sqlite3_bind_value(d->ins, i + 1, cols[i]);
    return step_ins(d, b);
}

/* The name and shape a variable is defined with: a whole partitioned
 * variable (saved under its full name) has its full name and shape. */
static const char *def_name_shape(const vs__save_item *it, char *shp,
                                  size_t cap)
{
    const vs_var *v = it->var;
    const vs_partitioned *pv = v->part_of;
    if (pv != NULL && strcmp(it->key, vs_partitioned_name(pv)) == 0) {
        int64_t fs[VS_MAX_DIMS];
        int fn = vs_partitioned_shape(pv, fs);
        vs__shape_json(fn, fs, shp, cap);
        return vs_partitioned_name(pv);
    }
    vs__shape_json(v->value.ndim, v->value.shape, shp, cap);
    return v->op_name;
}

static int copy_var(void *vctx, size_t i, sqlite3_value *scope,
                    sqlite3_value *initializer)
{
    defs_ctx *d = vctx;
    const vs__save_item *it = &d->c->items[i];
    char shp[VS_SHAPE_STR_MAX];
    const char *name = def_name_shape(it, shp, sizeof shp);
    sqlite3_stmt *ins = d->ins;
    sqlite3_reset(ins);
    int b = sqlite3_bind_text(ins, 1, name, -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(ins, 2, it->key, -1, SQLITE_STATIC);
    /* No registry row: NULL (bound explicitly: sqlite3_reset keeps the
     * previous variable's bindings). */
    if (b == SQLITE_OK)
        b = scope ? sqlite3_bind_value(ins, 3, scope)
                  : sqlite3_bind_null(ins, 3);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(ins, 4, vs__dtype_str(it->var->value.dtype),
                              -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(ins, 5, shp, -1, SQLITE_TRANSIENT);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int(ins, 6, it->var->trainable ? 1 : 0);
    if (b == SQLITE_OK)
        b = initializer ? sqlite3_bind_value(ins, 7, initializer)
                        : sqlite3_bind_null(ins, 7);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(ins, 8, d->c->step);
    return step_ins(d, b);
}

static int copy_vars(defs_ctx *d, vs_graph *g)
{
    vs__save_ctx *c = d->c;
    const vs_var **vars = vs__calloc(c->n_items ? c->n_items : 1,
                                     sizeof *vars);
    if (vars == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->n_items; i++)
        vars[i] = c->items[i].var;
    int rc = vs__export_var_defs(g, vars, c->n_items, copy_var, d);
    vs__free(vars);
    return rc;
}

int vs__save_definitions(vs__save_ctx *c, vs_graph *g)
{
    defs_ctx d = {c, NULL};
    int rc = vs__store_exec(c->db, "DELETE FROM scopes; DELETE FROM variables;",
                            c->path);
    if (rc == VS_OK)
        rc = vs__store_prepare(c->db,
                               "INSERT OR REPLACE INTO scopes(name, parent, "
                               "reuse, dtype, initializer, name_scope) VALUES "
                               "(?1, ?2, ?3, ?4, ?5, ?6)",
                               &d.ins, c->path);
    if (rc == VS_OK)
        rc = vs__export_scopes(g, copy_scope, &d);
    sqlite3_finalize(d.ins);
    d.ins = NULL;
    if (rc == VS_OK)
        rc = vs__store_prepare(c->db,
                               "INSERT OR REPLACE INTO variables(name, key, "
                               "scope, dtype, shape, trainable, initializer, "
                               "step) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                               &d.ins, c->path);
    if (rc == VS_OK)
        rc = copy_vars(&d, g);
    sqlite3_finalize(d.ins);
    return rc;
}
