/* varstore: the graph's internal structures and the calls other modules
 * (store/, tests) use to reach variables. Not installed. */
#ifndef VS_GRAPH_INT_H
#define VS_GRAPH_INT_H

#include <sqlite3.h>

#include "vs_common.h"

/* A variable. Values live in graph-owned aligned memory (value.data), so
 * ops run at memory speed; the registry row in SQLite holds its
 * definition. */
struct vs_var {
    vs_graph *g;       /* owner */
    int64_t id;        /* registry id = creation order, 0-based */
    char *op_name;     /* "foo/v": checkpoint key */
    char *name;        /* "foo/v:0" */
    char *store_key;   /* get_variable key, NULL for vs_variable */
    vs_tensor value;   /* dtype/ndim/shape always set; data NULL until
                          first needed */
    size_t nbytes;     /* byte size of value.data */
    int initialized;   /* value holds a real value */
    int restoring;     /* claimed by the restore in progress (store/) */
    int trainable;
    vs_init init;      /* the initializer; values points into init_values */
    double *init_values; /* owned copy of init.values, or NULL */
    vs_tensor *initial_value; /* vs_variable's copy, or NULL */
    int64_t seed, seed2;      /* kernel seeds resolved at creation */
    /* A loader that replaces the initializer (vs_init_from_checkpoint):
     * called by the initializers instead of init/initial_value. */
    int (*loader)(vs_var *v, void *ctx);
    void *loader_ctx;
    void (*loader_free)(void *ctx);
    /* Added (partitioned variables): the partitioned variable this is a
     * part of (NULL: none) and its index there. */
    struct vs_partitioned *part_of;
    size_t part_index;
};

/* The registry connection (in-memory SQLite). Tables:
 *   names_in_use(key, n)       -- Graph.unique_name counts, lowercase keys
 *   var_scope_counts(name, n)  -- default-name counts of variable scopes
 *   scopes(name, parent, reuse, dtype, initializer, name_scope)
 *   variables(id, name, store_key, scope, dtype, shape, trainable,
 *             initializer)     -- every variable, shape as JSON text
 *   store(key, id)             -- the get_variable store: full name to
 *                                 variable (dtype and shape are the
 *                                 variable's own); narrow rows keep the
 *                                 reuse lookup b-tree small
 *   collections(key, seq, var_id)
 */
sqlite3 *vs__graph_db(vs_graph *g);

/* Every variable in creation order. */
size_t vs__graph_var_count(const vs_graph *g);
vs_var *vs__graph_var_at(const vs_graph *g, size_t i);
/* The variable whose op name (checkpoint key) is name, or NULL. */
vs_var *vs__graph_find_op(vs_graph *g, const char *op_name);
/* The get_variable store entry under key, or NULL. */
vs_var *vs__graph_find_store(vs_graph *g, const char *key);

/* Allocates (aligned, zero-filled) the value buffer if missing. */
int vs__var_ensure_buffer(vs_var *v);
void vs__var_set_initialized(vs_var *v, int on);
/* Replaces the variable's initializer by a loader (takes ctx; frees it
 * with ctx_free on replacement or graph close). */
void vs__var_set_loader(vs_var *v, int (*loader)(vs_var *, void *),
                        void *ctx, void (*ctx_free)(void *));

/* TF's random_seed.get_seed: the kernel seeds for an op seed (VS_NO_SEED
 * for none), given the graph seed and the ops created so far. */
void vs__graph_get_seed(vs_graph *g, int64_t op_seed, int64_t *seed,
                        int64_t *seed2);

/* ---- partitioned variables (scope/partitioned.c) ---- */

/* The partitioned variable named full_name ("foo/v"), or NULL. */
vs_partitioned *vs__partitioned_find(vs_graph *g, const char *full_name);
/* Byte size of the full tensor. */
size_t vs__partitioned_nbytes(const vs_partitioned *p);
/* Copies the parts' values into full (vs__partitioned_nbytes bytes, row
 * major, the full shape). VS_EUNINIT if a part is not initialized. */
int vs__partitioned_gather(const vs_partitioned *p, void *full);
/* Copies slices of full (the full shape) into every part and marks them
 * initialized. */
int vs__partitioned_scatter(vs_partitioned *p, const void *full);
/* TF's SaveSliceInfo.spec of part i: the full dims joined by spaces, a
 * space, then "offset,length" per dim joined by ':' ("10 4 4,3:0,4").
 * VS_EINVAL when i is out of range or cap is too small. */
int vs__partitioned_slice_spec(const vs_partitioned *p, size_t i, char *buf,
                               size_t cap);
/* Copies part v's slice of full (its partitioned variable's full shape)
 * into v and marks it initialized. */
int vs__partitioned_copy_part(vs_var *v, const void *full);

#endif /* VS_GRAPH_INT_H */
