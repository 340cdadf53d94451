/* varstore: a save's copy of the graph's definitions: every variable
 * scope, and each saved variable's scope, dtype, shape and initializer
 * (read through scope_export.h). Collected from the graph into rows that
 * own their values, so that the graph may change or close before they are
 * written (an asynchronous save writes them on its own thread). */
#include <string.h>

#include "graph_int.h"
#include "save_int.h"
#include "scope_export.h"

/* One row of the variables table, step aside. */
typedef struct {
    int present; /* the registry was asked about this variable */
    char *name, *key, *shape;
    const char *dtype; /* static text */
    int trainable;
    sqlite3_value *scope, *initializer; /* NULL: none */
} def_var;

struct vs__save_defs {
    sqlite3_value *(*scopes)[6];
    size_t n_scopes, cap_scopes;
    def_var *vars;
    size_t n_vars;
    const vs__save_item *items; /* during the collection only */
};

/* ---- collect (the thread that owns the graph) -------------------------- */

/* A copy of v that outlives its statement (NULL in: NULL out, VS_OK). */
static int dup_value(sqlite3_value *v, sqlite3_value **out)
{
    *out = NULL;
    if (v == NULL)
        return VS_OK;
    *out = sqlite3_value_dup(v);
    return *out != NULL ? VS_OK : vs__fail(VS_ENOMEM, "out of memory");
}

static int collect_scope(void *vctx, sqlite3_value *const cols[6])
{
    vs__save_defs *d = vctx;
    if (d->n_scopes == d->cap_scopes) {
        size_t cap = d->cap_scopes ? d->cap_scopes * 2 : 16, bytes;
        if (vs__mul_size(cap, sizeof *d->scopes, &bytes) != 0)
            return vs__fail(VS_ENOMEM, "out of memory");
        void *grown = vs__realloc(d->scopes, bytes);
        if (grown == NULL)
            return vs__fail(VS_ENOMEM, "out of memory");
        d->scopes = grown;
        d->cap_scopes = cap;
    }
    sqlite3_value **row = d->scopes[d->n_scopes];
    memset(row, 0, 6 * sizeof *row);
    d->n_scopes++; /* counted first: freed with the rest on a failure */
    int rc = VS_OK;
    for (int i = 0; i < 6 && rc == VS_OK; i++)
        rc = dup_value(cols[i], &row[i]);
    return rc;
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

static int collect_var(void *vctx, size_t i, sqlite3_value *scope,
                       sqlite3_value *initializer)
{
    vs__save_defs *d = vctx;
    const vs__save_item *it = &d->items[i];
    def_var *r = &d->vars[i];
    char shp[VS_SHAPE_STR_MAX];
    const char *name = def_name_shape(it, shp, sizeof shp);
    r->present = 1;
    r->dtype = vs__dtype_str(it->var->value.dtype);
    r->trainable = it->var->trainable ? 1 : 0;
    r->name = vs__strdup(name);
    r->key = vs__strdup(it->key);
    r->shape = vs__strdup(shp);
    if (r->name == NULL || r->key == NULL || r->shape == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    int rc = dup_value(scope, &r->scope);
    if (rc == VS_OK)
        rc = dup_value(initializer, &r->initializer);
    return rc;
}

int vs__save_defs_collect(vs_graph *g, const vs__save_item *items, size_t n,
                          vs__save_defs **out)
{
    *out = NULL;
    vs__save_defs *d = vs__calloc(1, sizeof *d);
    const vs_var **vars = vs__calloc(n ? n : 1, sizeof *vars);
    if (d != NULL)
        d->vars = vs__calloc(n ? n : 1, sizeof *d->vars);
    if (d == NULL || vars == NULL || d->vars == NULL) {
        vs__save_defs_free(d);
        vs__free(vars);
        return vs__fail(VS_ENOMEM, "out of memory");
    }
    d->n_vars = n;
    d->items = items;
    for (size_t i = 0; i < n; i++)
        vars[i] = items[i].var;
    int rc = vs__export_scopes(g, collect_scope, d);
    if (rc == VS_OK)
        rc = vs__export_var_defs(g, vars, n, collect_var, d);
    vs__free(vars);
    d->items = NULL;
    if (rc != VS_OK) {
        vs__save_defs_free(d);
        return rc;
    }
    *out = d;
    return VS_OK;
}

void vs__save_defs_free(vs__save_defs *d)
{
    if (d == NULL)
        return;
    for (size_t k = 0; k < d->n_scopes; k++)
        for (int i = 0; i < 6; i++)
            sqlite3_value_free(d->scopes[k][i]);
    for (size_t k = 0; d->vars != NULL && k < d->n_vars; k++) {
        def_var *r = &d->vars[k];
        vs__free(r->name);
        vs__free(r->key);
        vs__free(r->shape);
        sqlite3_value_free(r->scope);
        sqlite3_value_free(r->initializer);
    }
    vs__free(d->scopes);
    vs__free(d->vars);
    vs__free(d);
}

/* ---- write (the thread that saves) ------------------------------------- */

static int step_ins(vs__save_ctx *c, sqlite3_stmt *ins, int b)
{
    if (b != SQLITE_OK)
        return vs__store_bindfail(ins, b, "cannot save checkpoint to",
                                  c->path);
    int w = sqlite3_step(ins);
    if (w != SQLITE_DONE)
        return vs__store_sqlfail(c->db, w, "cannot save checkpoint to",
                                 c->path);
    return VS_OK;
}

/* Binds v, or NULL (explicitly: sqlite3_reset keeps the previous row's
 * bindings). */
static int bind_value_or_null(sqlite3_stmt *st, int i, sqlite3_value *v)
{
    return v != NULL ? sqlite3_bind_value(st, i, v) : sqlite3_bind_null(st, i);
}

static int write_scopes(vs__save_ctx *c, const vs__save_defs *d,
                        sqlite3_stmt *ins)
{
    int rc = VS_OK;
    for (size_t k = 0; k < d->n_scopes && rc == VS_OK; k++) {
        sqlite3_reset(ins);
        int b = SQLITE_OK;
        for (int i = 0; i < 6 && b == SQLITE_OK; i++)
            b = bind_value_or_null(ins, i + 1, d->scopes[k][i]);
        rc = step_ins(c, ins, b);
    }
    return rc;
}

static int write_var(vs__save_ctx *c, const def_var *r, sqlite3_stmt *ins)
{
    sqlite3_reset(ins);
    int b = sqlite3_bind_text(ins, 1, r->name, -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(ins, 2, r->key, -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = bind_value_or_null(ins, 3, r->scope);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(ins, 4, r->dtype, -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(ins, 5, r->shape, -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int(ins, 6, r->trainable);
    if (b == SQLITE_OK)
        b = bind_value_or_null(ins, 7, r->initializer);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(ins, 8, c->step);
    return step_ins(c, ins, b);
}

int vs__save_defs_write(vs__save_ctx *c, const vs__save_defs *d)
{
    sqlite3_stmt *ins = NULL;
    int rc = vs__store_exec(c->db, "DELETE FROM scopes; DELETE FROM variables;",
                            c->path);
    if (rc == VS_OK)
        rc = vs__store_prepare(c->db,
                               "INSERT OR REPLACE INTO scopes(name, parent, "
                               "reuse, dtype, initializer, name_scope) VALUES "
                               "(?1, ?2, ?3, ?4, ?5, ?6)",
                               &ins, c->path);
    if (rc == VS_OK)
        rc = write_scopes(c, d, ins);
    sqlite3_finalize(ins);
    ins = NULL;
    if (rc == VS_OK)
        rc = vs__store_prepare(c->db,
                               "INSERT OR REPLACE INTO variables(name, key, "
                               "scope, dtype, shape, trainable, initializer, "
                               "step) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                               &ins, c->path);
    for (size_t k = 0; k < d->n_vars && rc == VS_OK; k++)
        if (d->vars[k].present)
            rc = write_var(c, &d->vars[k], ins);
    sqlite3_finalize(ins);
    return rc;
}
