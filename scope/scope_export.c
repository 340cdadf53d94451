/* varstore: the graph's definitions and marks that store/ uses
 * (scope_export.h). */
#include "scope_export.h"

#include "graph_int.h"

static int registry_fail(sqlite3 *gdb, const char *what)
{
    return vs__fail(sqlite3_errcode(gdb) == SQLITE_NOMEM ? VS_ENOMEM : VS_ERROR,
                    "cannot read the graph's %s: %s", what,
                    sqlite3_errmsg(gdb));
}

int vs__export_scopes(vs_graph *g, vs__scope_row_fn fn, void *ctx)
{
    sqlite3 *gdb = vs__graph_db(g);
    sqlite3_stmt *st = NULL;
    if (gdb == NULL)
        return VS_OK;
    if (sqlite3_prepare_v2(gdb,
                           "SELECT name, parent, reuse, dtype, initializer, "
                           "name_scope FROM scopes",
                           -1, &st, NULL) != SQLITE_OK)
        return registry_fail(gdb, "scopes");
    int rc = VS_OK, s;
    while (rc == VS_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_value *cols[6];
        for (int i = 0; i < 6; i++)
            cols[i] = sqlite3_column_value(st, i);
        rc = fn(ctx, cols);
    }
    if (rc == VS_OK && s != SQLITE_DONE)
        rc = registry_fail(gdb, "scopes");
    (void)sqlite3_finalize(st); /* repeats the last step's result */
    return rc;
}

/* Looks v up (by op name or full name) and calls fn with its row. */
static int one_var_def(sqlite3 *gdb, sqlite3_stmt *st, const vs_var *v,
                       size_t i, vs__var_def_fn fn, void *ctx)
{
    (void)sqlite3_reset(st); /* repeats the previous step's result */
    if (sqlite3_bind_text(st, 1, v->op_name, -1, SQLITE_STATIC) !=
            SQLITE_OK ||
        sqlite3_bind_text(st, 2, v->name, -1, SQLITE_STATIC) != SQLITE_OK)
        return registry_fail(gdb, "variables");
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        return fn(ctx, i, sqlite3_column_value(st, 0),
                  sqlite3_column_value(st, 1));
    if (s != SQLITE_DONE)
        return registry_fail(gdb, "variables");
    return fn(ctx, i, NULL, NULL);
}

int vs__export_var_defs(vs_graph *g, const vs_var *const *vars, size_t n,
                        vs__var_def_fn fn, void *ctx)
{
    sqlite3 *gdb = vs__graph_db(g);
    sqlite3_stmt *st = NULL;
    if (gdb == NULL)
        return VS_OK;
    if (sqlite3_prepare_v2(gdb,
                           "SELECT scope, initializer FROM variables WHERE "
                           "name=?1 OR name=?2 LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return registry_fail(gdb, "variables");
    int rc = VS_OK;
    for (size_t i = 0; i < n && rc == VS_OK; i++)
        if (vars[i] != NULL)
            rc = one_var_def(gdb, st, vars[i], i, fn, ctx);
    (void)sqlite3_finalize(st); /* repeats the last step's result */
    return rc;
}

int vs__var_is_restoring(const vs_var *v)
{
    return v->restoring;
}

void vs__var_set_restoring(vs_var *v, int on)
{
    v->restoring = on ? 1 : 0;
}
