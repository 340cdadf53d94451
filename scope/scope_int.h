/* varstore: structures private to scope/ (the graph, scope objects, the
 * frame stack) and the calls its files make to each other. Not installed.
 *
 * Dependency order: each file calls only the files above it (and common/,
 * ops/); nothing calls upward.
 *   graph.c        the graph: registry, variable table, scope objects,
 *                  name stack, open and free
 *   names.c        unique names and name scopes
 *   seed.c         graph and op seeds
 *   collections.c  collections
 *   scope.c        variable scopes: push, re-entry, reuse, defaults
 *   partitioner.c  partitioners and partition lists (arithmetic only)
 *   variable.c     single variables: create, reuse, values, accessors
 *   partitioned.c  partitioned variables, built from single ones
 *   getter.c       vs_get_variable / _local_ / _partitioned_: full names,
 *                  routed to variable.c or partitioned.c
 *   initializer.c  running initializers (a part's uses partitioned.c)
 *   graph_close.c  vs_graph_close: frees what every file above made
 */
#ifndef VS_SCOPE_INT_H
#define VS_SCOPE_INT_H

#include "graph_int.h"
#include "ops_int.h"

/* A variable scope object (TF's VariableScope). Owned by the graph. */
struct vs_scope {
    vs_graph *g;
    char *name;         /* "foo/bar", "" for the root */
    char *name_scope;   /* original_name_scope: "foo/" or "" */
    vs_reuse reuse;     /* VS_REUSE_INHERIT here means False */
    vs_dtype dtype;     /* default dtype of its variables */
    int has_init;       /* init is set */
    vs_init init;       /* default initializer; init.values -> init_values */
    double *init_values;
    int has_partitioner; /* partitioner is set (inherited by children) */
    vs_partitioner partitioner;
    int pinned;         /* handed to the caller: lives until graph close;
                           others are freed when their frame is popped */
    struct vs_scope *prev, *next; /* all live scope objects */
};

/* A slot of the graph's variable table (index = the variable's id): the
 * variable and its dtype and shape packed into 64 bits (variable.c's
 * var_sig), fixed at creation. A reuse lookup that matches compares the
 * packed value and never reads the variable object, which for a random
 * name among many is a cache miss. */
typedef struct {
    vs_var *v;
    uint64_t sig;
} vs_var_slot;

enum { FRAME_NAME = 1, FRAME_VAR = 2 };

/* One entry of the scope stack: a name scope, or a variable scope with
 * the name scope it opened (if any). */
typedef struct {
    int kind;            /* FRAME_* */
    char *saved_stack;   /* name stack to restore on exit; NULL: none
                            was opened by this frame */
    vs_scope *scope;     /* FRAME_VAR: the scope entered */
    vs_scope *saved_scope; /* FRAME_VAR: the scope current before */
    int reentry;         /* FRAME_VAR: entered by object (count changes
                            made inside are undone on exit) */
    int64_t log_pos;     /* FRAME_VAR reentry: undo-log position */
} vs_frame;

enum {
    ST_BEGIN,
    ST_NAMES_GET,
    ST_NAMES_BUMP,
    ST_NAMES_ADD,
    ST_NAMES_CLAIM,
    ST_SCOPECOUNT_GET,
    ST_SCOPECOUNT_OPEN,
    ST_SCOPECOUNT_CLOSE_SUB,
    ST_SCOPECOUNT_LOG_ONE,
    ST_SCOPECOUNT_LOG_SUB,
    ST_SCOPECOUNT_LOG_READ,
    ST_SCOPECOUNT_LOG_DROP,
    ST_SCOPECOUNT_LOG_MAX,
    ST_SCOPECOUNT_SET,
    ST_SCOPECOUNT_DELETE,
    ST_SCOPE_PUT,
    ST_STORE_GET,
    ST_STORE_PUT,
    ST_VAR_PUT,
    ST_VAR_BY_OP,
    ST_COLL_PUT,
    ST_COLL_LIST,
    ST_COUNT
};

struct vs_graph {
    sqlite3 *db;                 /* the registry (in-memory) */
    vs__arena arena;             /* the variables' value buffers */
    sqlite3_stmt *st[ST_COUNT];  /* prepared once, reset after use; every
                                    use binds all its parameters, and hot
                                    paths leave the bindings in place */
    char *stack;                 /* current name stack, no trailing "/" */
    char *stack_slash;           /* stack + "/" or "" (for callers) */
    size_t slash_cap;            /* bytes allocated for stack_slash */
    vs_frame *frames;            /* the scope stack */
    size_t n_frames, cap_frames;
    vs_scope *root;              /* the root variable scope object */
    vs_scope *current;           /* current variable scope object */
    vs_scope *scopes;            /* every scope object (list) */
    vs_var_slot *vars;           /* every variable, index = id */
    size_t n_vars, cap_vars;
    int64_t coll_seq;            /* next collections.seq */
    int has_seed;                /* graph seed set */
    int64_t graph_seed;
    int64_t op_count;            /* ops created so far (TF's _last_id) */
    int n_reentry;               /* re-entered scopes open: count changes
                                    are logged for undo while > 0 */
    int64_t log_seq;             /* newest seq in var_scope_count_log (0:
                                    empty), kept in step with the table */
    int64_t names_seen;          /* the count ST_NAMES_BUMP replaced */
    char *buf;                   /* scratch for full names */
    size_t buf_cap;
    struct vs_partitioned **pvs; /* partitioned variables, creation order */
    size_t n_pvs, cap_pvs;
    size_t n_part0;              /* store keys ending in "/part_0" */
    size_t n_absolute_ops;       /* variable ops named by a name ending
                                    in "/" (never marked used): while 0,
                                    no op name can be taken twice */
};

/* ---- graph.c: the registry, variable table, scope objects ---- */

/* Runs a prepared statement to completion (no rows); resets it. */
int vs__graph_exec(vs_graph *g, sqlite3_stmt *st);
/* Runs st as vs__graph_exec when bound (every bind call succeeded), else
 * reports the bind failure; either way st is reset and its bindings
 * cleared (no pointer outlives the call). */
int vs__graph_run_bound(vs_graph *g, sqlite3_stmt *st, int bound);
/* Runs statement `which` with key bound as ?1; *n = its first column, or
 * 0 when there is no row. */
int vs__graph_count(vs_graph *g, int which, const char *key, int64_t *n);
/* Error from the registry connection, as VS_ERROR with sqlite's text. */
int vs__graph_sqlfail(vs_graph *g, const char *what);
/* Grows g->buf to at least n bytes. */
int vs__graph_buf(vs_graph *g, size_t n);
/* Makes room in g->stack_slash for a name stack of len bytes. */
int vs__stack_reserve(vs_graph *g, size_t len);
/* Makes stack (owned, len bytes, vs__stack_reserve done) the current name
 * stack; the old one goes to *old (old not NULL) or is freed. */
void vs__stack_replace(vs_graph *g, char *stack, size_t len, char **old);
/* A new scope object named name with original name scope ns, linked into
 * the graph's list; NULL when out of memory. */
vs_scope *vs__scope_new(vs_graph *g, const char *name, const char *ns);
/* Unlinks and frees a scope object. */
void vs__scope_free(vs_graph *g, vs_scope *s);
/* Frees the graph itself: the registry, frames, scope objects and
 * buffers (not its variables: graph_close.c frees those first). */
void vs__graph_free(vs_graph *g);

/* ---- names.c: unique names and name scopes ---- */

/* Graph.unique_name with the current stack (or the root when at_root). */
int vs__unique_name(vs_graph *g, const char *name, int mark, int at_root,
                    char **out);
/* "'%s' is not a valid scope name" unless name fits TF's regexes for a
 * scope opened at the root (nested = 0) or inside one. */
int vs__check_scope_name(const char *name, int nested);
/* Pushes a name scope (TF's Graph.name_scope) as a frame of the given
 * kind; g->stack_slash is then the scope string. */
int vs__name_scope_enter(vs_graph *g, const char *name, int kind);
/* Pops frame f's name scope: restores the name stack it saved. */
int vs__frame_restore_stack(vs_graph *g, vs_frame *f);

/* ---- scope.c: variable scopes ---- */

/* Copies an initializer, duplicating its value list into *values_out. */
int vs__init_copy(const vs_init *src, vs_init *dst, double **values_out);
/* Text describing an initializer, for the registry: "glorot_uniform". */
const char *vs__init_kind_name(const vs_init *init);

/* ---- partitioner.c: partitioners and partition lists ---- */

/* NULL, or a partitioner whose fields are valid (else VS_EINVAL). A kind
 * of VS_PARTITION_NONE is valid (means "not given"). */
int vs__partitioner_check(const vs_partitioner *p);
/* The partitioner a get_variable call uses: `given` when set (kind !=
 * NONE), else the current scope's; NULL for none. Validates it (*rc =
 * VS_EINVAL with the message when invalid). */
const vs_partitioner *vs__partitioner_effective(vs_graph *g,
                                                const vs_partitioner *given,
                                                int *rc);
/* TF's _call_partitioner: the partition list for a full shape. */
int vs__partitioner_call(const vs_partitioner *p, vs_dtype dtype, int ndim,
                         const int64_t *shape, int64_t parts[VS_MAX_DIMS]);
/* TF's checks of a partition list of n entries for shape (rank, >= 1,
 * one axis at most). */
int vs__partition_check(int ndim, const int64_t *shape, int n,
                        const int64_t *parts);

/* ---- variable.c: single variables ---- */

/* The requested shape of vs_var_opts; ndim -1 = unknown. VS_EINVAL for a
 * rank outside [0, VS_MAX_DIMS] or a dim below -1. */
int vs__read_var_shape(const vs_var_opts *o, int *ndim, int64_t *shape);
/* The requested shape (as vs__read_var_shape) and dtype (o's, else the
 * current scope's) of a get_variable call; VS_EINVAL for a bad dtype. */
int vs__read_var_opts(vs_graph *g, const vs_var_opts *o, int *ndim,
                      int64_t *shape, vs_dtype *dtype);
/* The initializer a new variable gets: o's, else the current scope's,
 * else TF's default for dtype (glorot uniform for floats, zeros for the
 * others), which is written into *dflt. */
const vs_init *vs__var_init_effective(const vs_graph *g,
                                      const vs_var_opts *o, vs_dtype dtype,
                                      vs_init *dflt);
/* TF's _get_single_variable for the full name `full` (flen bytes) with
 * reuse `reuse` (VS_REUSE_INHERIT: False), o's shape already read into
 * ndim/shape (ndim -1: unknown) and its dtype resolved: creates or
 * reuses. local: a local variable (not trainable, LOCAL collection). */
int vs__single_variable(vs_graph *g, const char *full, size_t flen,
                        vs_reuse reuse, const vs_var_opts *o, int ndim,
                        const int64_t *shape, vs_dtype dtype, int local,
                        vs_var **out);
/* vs__single_variable reading shape and dtype from o (the parts of a
 * partitioned variable). */
int vs__get_single_variable(vs_graph *g, const char *full, vs_reuse reuse,
                            const vs_var_opts *o, int local, vs_var **out);
/* TF's "Variable foo/v does not exist, or was not created with ..."
 * (reuse=True, nothing stored under full): VS_ENOTFOUND. */
int vs__fail_not_found(const char *full);
/* Frees a variable and everything it owns (NULL: no-op). */
void vs__var_free(vs_var *v);

/* ---- partitioned.c: partitioned variables ---- */

/* TF's _get_partitioned_variable for the full name `full`; part NULL only
 * for reuse=True (an existing one is returned as is). */
int vs__get_partitioned(vs_graph *g, const char *full, const vs_var_opts *o,
                        int ndim, const int64_t *shape, vs_dtype dtype,
                        const vs_partitioner *part, vs_reuse reuse,
                        vs_partitioned **out);
/* Fills part v (v->part_of set) as its initializer would with
 * partition_info: variance-scaling fans and identity from the full shape. */
int vs__partitioned_fill(vs_var *v);
/* TF's "No partitioner was provided, but a partitioned version of the
 * variable was found: foo/v/part_0. ..." when "<full>/part_0" is in the
 * store. */
int vs__partitioned_none_check(vs_graph *g, const char *full);
/* Frees every partitioned variable (graph close). */
void vs__partitioned_free_all(vs_graph *g);

#endif /* VS_SCOPE_INT_H */
