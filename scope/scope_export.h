/* varstore: what store/ reads from and marks in a graph, so that store/
 * never queries the graph's registry tables nor writes vs_var fields: the
 * scope and variable definitions a checkpoint keeps a copy of, and the
 * mark on a variable being restored. Not installed. */
#ifndef VS_SCOPE_EXPORT_H
#define VS_SCOPE_EXPORT_H

#include <sqlite3.h>

#include "vs_common.h"

/* The six columns of a scope definition, in this order: name, parent,
 * reuse, dtype, initializer, name_scope. The values are valid during the
 * call only. Returns VS_OK to go on, or an error that stops the walk. */
typedef int (*vs__scope_row_fn)(void *ctx, sqlite3_value *const cols[6]);
/* The members of collection key, in creation order, as a new array
 * (vs__free; never NULL on success, also when *n is 0). VS_ENOMEM when
 * memory runs out: never a silent empty list. */
int vs__collection_all(vs_graph *g, const char *key, vs_var ***out, size_t *n);

/* Calls fn for every variable scope of g (none when g has no registry). */
int vs__export_scopes(vs_graph *g, vs__scope_row_fn fn, void *ctx);

/* A variable's scope and initializer texts (values valid during the call;
 * NULL pointers when the registry has no row for it). */
typedef int (*vs__var_def_fn)(void *ctx, size_t i, sqlite3_value *scope,
                              sqlite3_value *initializer);
/* Calls fn(ctx, i, ...) for every non-NULL vars[i], in order. */
int vs__export_var_defs(vs_graph *g, const vs_var *const *vars, size_t n,
                        vs__var_def_fn fn, void *ctx);

/* The mark of a variable claimed by a restore in progress: ops on it fail
 * with VS_ERESTORING until the mark is cleared. */
int vs__var_is_restoring(const vs_var *v);
void vs__var_set_restoring(vs_var *v, int on);

#endif /* VS_SCOPE_EXPORT_H */
