/* varstore: get_variable (TF's _VariableStore), tf.Variable, values,
 * collections membership and initialization. */
#include <string.h>

#include "ops_int.h"
#include "scope_int.h"

/* ---- small helpers ---- */

static int shape_known(int ndim, const int64_t *shape)
{
    int i;
    if (ndim < 0)
        return 0;
    for (i = 0; i < ndim; i++)
        if (shape[i] < 0)
            return 0;
    return 1;
}

/* Copies the requested shape into a tensor-like spec; ndim -1 = unknown.
 * VS_EINVAL for a rank outside [0, VS_MAX_DIMS] or a dim below -1. */
int vs__read_var_shape(const vs_var_opts *o, int *ndim, int64_t *shape)
{
    int i;
    if (o == NULL || o->shape == NULL) {
        if (o != NULL && o->shape == NULL && o->ndim > 0)
            return vs__fail(VS_EINVAL, "shape is NULL but ndim is %d",
                            o->ndim);
        *ndim = -1;
        return VS_OK;
    }
    if (o->ndim < 0 || o->ndim > VS_MAX_DIMS)
        return vs__fail(VS_EINVAL, "rank %d is out of range [0, %d]", o->ndim,
                        VS_MAX_DIMS);
    for (i = 0; i < o->ndim; i++) {
        if (o->shape[i] < -1)
            return vs__fail(VS_EINVAL, "dimension %d is %lld: dimensions "
                                       "must be >= 0 (or -1 for unknown)",
                            i, (long long)o->shape[i]);
        shape[i] = o->shape[i];
    }
    *ndim = o->ndim;
    return VS_OK;
}

/* A hint to start loading *p (no effect where unsupported). */
#if defined(__GNUC__) || defined(__clang__)
#define VS_PREFETCH(p) __builtin_prefetch(p)
#else
#define VS_PREFETCH(p) ((void)(p))
#endif

static int dtype_ok(vs_dtype d)
{
    return vs_dtype_size(d) != 0;
}

/* A dtype and a known shape packed into 64 bits (see vs_var_slot):
 * bits 0-7 dtype, 8-11 ndim, bit 12 set when the dims follow in bits
 * 13-63, 51 / ndim bits each. Dims that do not fit leave bit 12 clear
 * (only the dtype is usable then). Equal packed values with bit 12 set
 * mean equal dtype, rank and dims. */
#define SIG_DTYPE_MASK 0xffu
#define SIG_DIMS_PACKED (1u << 12)
static uint64_t var_sig(vs_dtype dtype, int ndim, const int64_t *shape)
{
    uint64_t sig, dims = 0;
    int i, w;
    if ((unsigned)dtype > SIG_DTYPE_MASK || ndim < 0 || ndim > VS_MAX_DIMS)
        return 0; /* never equal to a valid dtype */
    sig = (uint64_t)dtype | (uint64_t)ndim << 8;
    w = ndim ? 51 / ndim : 0;
    for (i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (uint64_t)shape[i] >> w != 0)
            return sig;
        dims |= (uint64_t)shape[i] << (13 + i * w);
    }
    return sig | SIG_DIMS_PACKED | dims;
}

/* ---- creation ---- */

static int add_to_collection(vs_graph *g, const char *key, int64_t id)
{
    sqlite3_stmt *st = g->st[ST_COLL_PUT];
    int rc = vs__graph_run_bound(
        g, st,
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT) == SQLITE_OK &&
            sqlite3_bind_int64(st, 2, g->coll_seq) == SQLITE_OK &&
            sqlite3_bind_int64(st, 3, id) == SQLITE_OK);
    if (rc == VS_OK)
        g->coll_seq++;
    return rc;
}

/* TF: collections default to {GLOBAL}; a trainable variable is appended
 * to TRAINABLE unless listed. extra (may be NULL) is appended last. */
static int add_collections(vs_graph *g, vs_var *v, const char *const *given,
                           const char *extra)
{
    static const char *const dflt[] = {VS_GLOBAL_VARIABLES, NULL};
    const char *const *list = given ? given : dflt;
    int has_trainable = 0, rc;
    size_t i;
    if (given && extra)
        list = given;
    else if (!given && extra)
        list = NULL; /* get_local_variable: (given or []) + [LOCAL] */
    for (i = 0; list && list[i]; i++) {
        rc = add_to_collection(g, list[i], v->id);
        if (rc != VS_OK)
            return rc;
        if (strcmp(list[i], VS_TRAINABLE_VARIABLES) == 0)
            has_trainable = 1;
    }
    if (extra) {
        rc = add_to_collection(g, extra, v->id);
        if (rc != VS_OK)
            return rc;
    }
    if (v->trainable && !has_trainable)
        return add_to_collection(g, VS_TRAINABLE_VARIABLES, v->id);
    return VS_OK;
}

static int record_var(vs_graph *g, vs_var *v)
{
    sqlite3_stmt *st = g->st[ST_VAR_PUT];
    char shape[VS_SHAPE_STR_MAX];
    const char *init = v->initial_value ? "initial_value"
                                        : vs__init_kind_name(&v->init);
    int rc;
    vs__shape_brackets(v->value.ndim, v->value.shape, shape, sizeof shape);
    rc = vs__graph_run_bound(
        g, st,
        sqlite3_bind_int64(st, 1, v->id) == SQLITE_OK &&
            sqlite3_bind_text(st, 2, v->op_name, -1, SQLITE_STATIC) ==
                SQLITE_OK &&
            sqlite3_bind_text(st, 3, v->store_key, -1, SQLITE_STATIC) ==
                SQLITE_OK &&
            sqlite3_bind_text(st, 4, g->current->name, -1, SQLITE_STATIC) ==
                SQLITE_OK &&
            sqlite3_bind_text(st, 5, vs_dtype_name(v->value.dtype), -1,
                              SQLITE_STATIC) == SQLITE_OK &&
            sqlite3_bind_text(st, 6, shape, -1, SQLITE_TRANSIENT) ==
                SQLITE_OK &&
            sqlite3_bind_int(st, 7, v->trainable) == SQLITE_OK &&
            sqlite3_bind_text(st, 8, init, -1, SQLITE_STATIC) == SQLITE_OK);
    if (rc != VS_OK || v->store_key == NULL)
        return rc;
    st = g->st[ST_STORE_PUT];
    return vs__graph_run_bound(
        g, st,
        sqlite3_bind_text(st, 1, v->store_key, -1, SQLITE_STATIC) ==
                SQLITE_OK &&
            sqlite3_bind_int64(st, 2, v->id) == SQLITE_OK);
}

/* Makes a variable object (not yet in the registry). Takes op_name. */
static int var_new(vs_graph *g, char *op_name, const char *store_key,
                   vs_dtype dtype, int ndim, const int64_t *shape,
                   vs_var **out)
{
    vs_var *v;
    size_t nbytes;
    int rc;

    *out = NULL;
    rc = vs_shape_check(dtype, ndim, shape, NULL, &nbytes);
    if (rc != VS_OK) {
        vs__free(op_name);
        return rc;
    }
    v = vs__calloc(1, sizeof *v);
    if (v == NULL) {
        vs__free(op_name);
        return vs__fail(VS_ENOMEM, "out of memory");
    }
    v->g = g;
    v->op_name = op_name;
    v->name = vs__asprintf("%s:0", op_name);
    if (store_key)
        v->store_key = vs__strdup(store_key);
    if (v->name == NULL || (store_key && v->store_key == NULL)) {
        vs__free(v->name);
        vs__free(v->store_key);
        vs__free(v->op_name);
        vs__free(v);
        return vs__fail(VS_ENOMEM, "out of memory");
    }
    v->value.dtype = dtype;
    v->value.ndim = ndim;
    if (ndim > 0)
        memcpy(v->value.shape, shape, sizeof(int64_t) * (size_t)ndim);
    v->nbytes = nbytes;
    *out = v;
    return VS_OK;
}

void vs__var_free(vs_var *v)
{
    if (v == NULL)
        return;
    if (v->loader_free)
        v->loader_free(v->loader_ctx);
    vs__aligned_free(v->value.data);
    vs_tensor_free(v->initial_value);
    vs__free(v->init_values);
    vs__free(v->op_name);
    vs__free(v->name);
    vs__free(v->store_key);
    vs__free(v);
}

/* Takes back what record_var and add_collections wrote for v. The
 * registry runs without a journal (journal_mode=OFF: it is private and in
 * memory), so ROLLBACK cannot do it; without this a failed registration
 * would leave a store row naming the id the next variable gets. Best
 * effort: it runs on a path that is already failing (out of memory, as a
 * rule), and every statement is tried. */
static void unrecord_var(vs_graph *g, const vs_var *v)
{
    static const char *const sql[] = {
        "DELETE FROM variables WHERE id=?1",
        "DELETE FROM store WHERE id=?1 AND key=?2",
        "DELETE FROM collections WHERE var_id=?1",
    };
    for (size_t i = 0; i < sizeof sql / sizeof *sql; i++) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(g->db, sql[i], -1, &st, NULL) != SQLITE_OK) {
            (void)sqlite3_finalize(st);
            continue;
        }
        if (sqlite3_bind_int64(st, 1, v->id) == SQLITE_OK &&
            (i != 1 || v->store_key == NULL ||
             sqlite3_bind_text(st, 2, v->store_key, -1, SQLITE_STATIC) ==
                 SQLITE_OK))
            (void)sqlite3_step(st);
        (void)sqlite3_finalize(st);
    }
}

/* Adds v to the graph (array slot = id) and the registry. On failure v is
 * destroyed and its registry rows are taken back (unrecord_var), so no
 * half-made variable stays behind. (Its op name stays taken, as a failed
 * op creation leaves it in TF.) */
static int var_register(vs_graph *g, vs_var *v, const char *const *colls,
                        const char *extra_coll)
{
    int rc;
    if (g->n_vars == g->cap_vars) {
        size_t cap = g->cap_vars ? 2 * g->cap_vars : 64;
        vs_var_slot *p = vs__realloc(g->vars, cap * sizeof *p);
        if (p == NULL) {
            vs__var_free(v);
            return vs__fail(VS_ENOMEM, "out of memory");
        }
        g->vars = p;
        g->cap_vars = cap;
    }
    v->id = (int64_t)g->n_vars;
    rc = record_var(g, v);
    if (rc == VS_OK)
        rc = add_collections(g, v, colls, extra_coll);
    if (rc != VS_OK) {
        unrecord_var(g, v);
        vs__var_free(v);
        return rc;
    }
    g->vars[g->n_vars].v = v;
    g->vars[g->n_vars].sig = var_sig(v->value.dtype, v->value.ndim,
                                     v->value.shape);
    g->n_vars++;
    g->op_count++;
    return VS_OK;
}

/* ---- get_variable ---- */

static int check_collections(const char *const *colls)
{
    size_t i;
    for (i = 0; colls && colls[i]; i++)
        if (colls[i][0] == '\0')
            return vs__fail(VS_EINVAL, "collection names must not be empty");
    return VS_OK;
}

/* The shape and dtype of a get_variable call: o's shape (ndim -1: none)
 * and dtype, else the current scope's dtype. VS_EINVAL for a bad rank,
 * dim or dtype, before anything prints the shape. */
int vs__read_var_opts(vs_graph *g, const vs_var_opts *o, int *ndim,
                      int64_t *shape, vs_dtype *dtype)
{
    int rc = vs__read_var_shape(o, ndim, shape);
    if (rc != VS_OK)
        return rc;
    *dtype = (o && o->dtype) ? o->dtype : g->current->dtype;
    if (!dtype_ok(*dtype))
        return vs__fail(VS_EINVAL, "invalid dtype %d", (int)*dtype);
    return VS_OK;
}

/* get_variable's single-variable path (TF's _get_single_variable) for the
 * full name `full`, with reuse `reuse` (VS_REUSE_INHERIT: False). Also used
 * for the parts of a partitioned variable. */
int vs__get_single_variable(vs_graph *g, const char *full, vs_reuse reuse,
                            const vs_var_opts *o, int local, vs_var **out)
{
    int64_t shape[VS_MAX_DIMS];
    int ndim = -1, rc;
    vs_dtype dtype;

    *out = NULL;
    rc = vs__read_var_opts(g, o, &ndim, shape, &dtype);
    if (rc != VS_OK)
        return rc;
    return vs__single_variable(g, full, strlen(full), reuse, o, ndim, shape,
                           dtype, local, out);
}

/* The op name of a new variable, as TF's name_scope(name) then the op
 * gives it: a name ending in "/" is taken as is, without the slash (not
 * made unique, not marked used); any other is made unique, under the
 * current name scope unless at_root. A node name already taken by a
 * variable is refused as TF's C API refuses it. */
static int var_op_name(vs_graph *g, const char *name, int at_root,
                       char **out)
{
    size_t len = strlen(name);
    int absolute = len > 0 && name[len - 1] == '/';
    int rc;

    *out = NULL;
    if (!absolute) {
        rc = vs__unique_name(g, name, 1, at_root, out);
        if (rc != VS_OK)
            return rc;
    } else {
        *out = vs__strndup(name, len - 1);
        if (*out == NULL)
            return vs__fail(VS_ENOMEM, "out of memory");
        g->n_absolute_ops++;
    }
    if (g->n_absolute_ops > 0 && vs__graph_find_op(g, *out) != NULL) {
        rc = vs__fail(VS_EINVAL, "Duplicate node name in graph: '%s'", *out);
        vs__free(*out);
        *out = NULL;
        return rc;
    }
    return VS_OK;
}

/* The reuse half of single_variable: the store holds the full name (in
 * g->buf) as variable `id`. TF's checks, in its order: reuse allowed, then
 * the shape, then the dtype. */
static int reuse_existing(vs_graph *g, int64_t id, vs_reuse reuse, int ndim,
                          const int64_t *shape, vs_dtype dtype, vs_var **out)
{
    const vs_var_slot *slot;
    const vs_var *found;
    int compatible = 1, i;
    char want[VS_SHAPE_STR_MAX], have[VS_SHAPE_STR_MAX];

    if (id < 0 || (uint64_t)id >= g->n_vars || g->vars[id].v == NULL)
        return vs__fail(VS_ERROR, "registry: no variable %lld",
                        (long long)id);
    slot = &g->vars[id];
    if (reuse == VS_REUSE_INHERIT)
        return vs__fail(VS_EEXIST,
                        "Variable %s already exists, disallowed. Did you "
                        "mean to set reuse=VS_REUSE or reuse=VS_AUTO_REUSE "
                        "in the variable scope?",
                        g->buf);
    /* A match is decided from the slot's packed dtype and shape, so the
     * variable object itself is not read; anything else (a mismatch,
     * unknown dims, dims too large to pack) is checked against the
     * variable below. */
    if (ndim < 0) {
        if (slot->sig != 0 &&
            (slot->sig & SIG_DTYPE_MASK) == (uint64_t)dtype) {
            *out = slot->v;
            return VS_OK;
        }
    } else {
        uint64_t want_sig = var_sig(dtype, ndim, shape);
        if ((want_sig & SIG_DIMS_PACKED) && want_sig == slot->sig) {
            *out = slot->v;
            return VS_OK;
        }
    }
    found = slot->v;
    if (ndim >= 0) {
        compatible = ndim == found->value.ndim;
        for (i = 0; compatible && i < ndim; i++)
            compatible = shape[i] < 0 || shape[i] == found->value.shape[i];
    }
    if (!compatible)
        return vs__fail(VS_ESHAPE,
                        "Trying to share variable %s, but specified shape "
                        "%s and found shape %s.",
                        g->buf, vs__shape_str(ndim, shape, want, sizeof want),
                        vs__shape_str(found->value.ndim, found->value.shape,
                                      have, sizeof have));
    if (dtype != found->value.dtype)
        return vs__fail(VS_EDTYPE,
                        "Trying to share variable %s, but specified dtype "
                        "%s and found dtype %s.",
                        g->buf, vs_dtype_name(dtype),
                        vs_dtype_name(found->value.dtype));
    *out = slot->v;
    return VS_OK;
}

const vs_init *vs__var_init_effective(const vs_graph *g,
                                      const vs_var_opts *o, vs_dtype dtype,
                                      vs_init *dflt)
{
    if (o && o->initializer && o->initializer->kind != VS_INIT_NONE)
        return o->initializer;
    if (g->current->has_init)
        return &g->current->init;
    /* TF's _get_default_initializer: glorot uniform for floats, zeros for
     * integers and bool. */
    *dflt = vs_dtype_is_floating(dtype) ? vs_init_glorot_uniform(VS_NO_SEED)
                                        : vs_init_zeros();
    return dflt;
}

/* Looks the full name (g->buf, flen bytes) up in the get_variable store:
 * *id = the variable's id, or -1 when there is none. The binding of ?1 is
 * left in place (every use binds it afresh). */
static int store_lookup(vs_graph *g, size_t flen, int64_t *id)
{
    sqlite3_stmt *st = g->st[ST_STORE_GET];
    int step;
    *id = -1;
    if (sqlite3_bind_text(st, 1, g->buf, (int)flen, SQLITE_STATIC) !=
        SQLITE_OK) {
        sqlite3_reset(st);
        return vs__graph_sqlfail(g, "bind");
    }
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        /* The row names the variable (its id is all it holds). Its slot
         * is likely not in cache: start fetching it, then reset. */
        *id = sqlite3_column_int64(st, 0);
        if (*id >= 0 && (uint64_t)*id < g->n_vars)
            VS_PREFETCH(&g->vars[*id]);
        if (sqlite3_reset(st) != SQLITE_OK)
            return vs__graph_sqlfail(g, "lookup");
        return VS_OK;
    }
    sqlite3_reset(st);
    return step == SQLITE_DONE ? VS_OK : vs__graph_sqlfail(g, "lookup");
}

/* The creating half of single_variable: the full name (g->buf, flen
 * bytes) is not in the store and reuse allows creating it. */
static int create_variable(vs_graph *g, size_t flen, const vs_var_opts *o,
                           int ndim, const int64_t *shape, vs_dtype dtype,
                           int local, vs_var **out)
{
    const vs_init *init;
    vs_init dflt;
    char *op_name = NULL;
    vs_var *v = NULL;
    int rc;

    if (!shape_known(ndim, shape)) {
        char want[VS_SHAPE_STR_MAX];
        return vs__fail(VS_EINVAL,
                        "Shape of a new variable (%s) must be fully defined, "
                        "but instead was %s.",
                        g->buf, vs__shape_str(ndim, shape, want, sizeof want));
    }
    rc = check_collections(o ? o->collections : NULL);
    if (rc != VS_OK)
        return rc;
    init = vs__var_init_effective(g, o, dtype, &dflt);
    rc = vs__init_validate(init, dtype, ndim, shape);
    if (rc != VS_OK)
        return rc;
    /* The variable op is created under name_scope(full_name) at the root,
     * so its op name is made unique (TF quirk: "v_1" after a Variable v). */
    rc = vs__check_scope_name(g->buf, 0);
    if (rc == VS_OK)
        rc = var_op_name(g, g->buf, 1, &op_name);
    if (rc == VS_OK)
        rc = var_new(g, op_name, g->buf, dtype, ndim, shape, &v);
    if (rc != VS_OK)
        return rc;
    v->trainable = local ? 0 : !(o && o->not_trainable);
    rc = vs__init_copy(init, &v->init, &v->init_values);
    if (rc != VS_OK) {
        vs__var_free(v);
        return rc;
    }
    vs__graph_get_seed(g, v->init.seed, &v->seed, &v->seed2);
    rc = var_register(g, v, o ? o->collections : NULL,
                      local ? VS_LOCAL_VARIABLES : NULL);
    if (rc != VS_OK)
        return rc;
    if (flen >= 7 && strcmp(v->store_key + flen - 7, "/part_0") == 0)
        g->n_part0++; /* vs__partitioned_none_check looks only then */
    *out = v;
    return VS_OK;
}

int vs__fail_not_found(const char *full)
{
    return vs__fail(VS_ENOTFOUND,
                    "Variable %s does not exist, or was not created with "
                    "vs_get_variable(). Did you mean to set "
                    "reuse=VS_AUTO_REUSE in the variable scope?",
                    full);
}

/* The body of vs__get_single_variable: o's shape already read into
 * ndim/shape (ndim -1: unknown) and its dtype resolved; flen is
 * strlen(full). The store decision is one query keyed by the full name. */
int vs__single_variable(vs_graph *g, const char *full, size_t flen,
                        vs_reuse reuse, const vs_var_opts *o, int ndim,
                        const int64_t *shape, vs_dtype dtype, int local,
                        vs_var **out)
{
    int64_t id;
    int rc;

    *out = NULL;
    if (flen > VS_NAME_MAX)
        return vs__fail(VS_EINVAL, "variable name is too long: %zu bytes (at "
                                   "most %d)",
                        flen, VS_NAME_MAX);
    if (full != g->buf) {
        rc = vs__graph_buf(g, flen + 1);
        if (rc != VS_OK)
            return rc;
        memcpy(g->buf, full, flen + 1);
    }
    rc = store_lookup(g, flen, &id);
    if (rc != VS_OK)
        return rc;
    if (id >= 0)
        return reuse_existing(g, id, reuse, ndim, shape, dtype, out);
    if (reuse == VS_REUSE)
        return vs__fail_not_found(g->buf);
    return create_variable(g, flen, o, ndim, shape, dtype, local, out);
}

/* ---- tf.Variable ---- */

/* vs_variable's checks of initial_value against opts: the value's dtype
 * and rank are validated before any message prints its shape, and so is
 * the requested shape (vs__read_var_shape). */
static int check_initial_value(const vs_tensor *initial_value,
                               const vs_var_opts *opts)
{
    int64_t want[VS_MAX_DIMS];
    int ndim = -1, i, same, rc;

    if (initial_value == NULL)
        return vs__fail(VS_EINVAL, "initial_value must be specified.");
    rc = vs_shape_check(initial_value->dtype, initial_value->ndim,
                        initial_value->shape, NULL, NULL);
    if (rc != VS_OK)
        return rc;
    if (initial_value->data == NULL && vs_tensor_nbytes(initial_value) > 0)
        return vs__fail(VS_EINVAL, "initial_value has no data");
    if (opts && opts->dtype && !dtype_ok(opts->dtype))
        return vs__fail(VS_EINVAL, "invalid dtype %d", (int)opts->dtype);
    if (opts && opts->dtype && opts->dtype != initial_value->dtype)
        return vs__fail(VS_EDTYPE,
                        "initial_value has dtype %s but dtype %s was "
                        "requested",
                        vs_dtype_name(initial_value->dtype),
                        vs_dtype_name(opts->dtype));
    rc = vs__read_var_shape(opts, &ndim, want);
    if (rc != VS_OK || ndim < 0)
        return rc;
    same = ndim == initial_value->ndim;
    for (i = 0; same && i < ndim; i++)
        same = want[i] == initial_value->shape[i];
    if (!same) {
        char a[VS_SHAPE_STR_MAX], b[VS_SHAPE_STR_MAX];
        return vs__fail(VS_ESHAPE,
                        "initial_value has shape %s but shape %s was "
                        "requested",
                        vs__shape_str(initial_value->ndim,
                                      initial_value->shape, a, sizeof a),
                        vs__shape_str(ndim, want, b, sizeof b));
    }
    return check_collections(opts ? opts->collections : NULL);
}

/* tf.Variable's op name: name_scope(name, "Variable") made unique, or a
 * name ending in "/" taken as is (without the slash): var_op_name. */
static int variable_op_name(vs_graph *g, const char *name, char **out)
{
    size_t len;
    int rc;

    *out = NULL;
    if (name == NULL)
        name = "Variable";
    if (name[0] == '\0')
        return vs__fail(VS_EINVAL, "variable name must not be empty");
    rc = vs__check_scope_name(name, g->stack[0] != '\0');
    if (rc != VS_OK)
        return rc;
    len = strlen(name);
    if (len == 1 && name[0] == '/')
        return vs__fail(VS_EINVAL, "'%s' is not a valid scope name", name);
    return var_op_name(g, name, 0, out);
}

int vs_variable(vs_graph *g, const char *name, const vs_tensor *initial_value,
                const vs_var_opts *opts, vs_var **out)
{
    char *op_name = NULL;
    vs_var *v = NULL;
    int rc;

    if (out)
        *out = NULL;
    if (g == NULL || out == NULL)
        return vs__fail(VS_EINVAL, "vs_variable: graph and out are required");
    rc = check_initial_value(initial_value, opts);
    if (rc != VS_OK)
        return rc;
    rc = variable_op_name(g, name, &op_name);
    if (rc != VS_OK)
        return rc;
    rc = var_new(g, op_name, NULL, initial_value->dtype, initial_value->ndim,
                 initial_value->shape, &v);
    if (rc != VS_OK)
        return rc;
    v->trainable = !(opts && opts->not_trainable);
    rc = vs_tensor_from_data(initial_value->dtype, initial_value->ndim,
                             initial_value->shape, initial_value->data,
                             &v->initial_value);
    if (rc != VS_OK) {
        vs__var_free(v);
        return rc;
    }
    rc = var_register(g, v, opts ? opts->collections : NULL, NULL);
    if (rc != VS_OK)
        return rc;
    *out = v;
    return VS_OK;
}

/* ---- accessors ---- */

const char *vs_var_name(const vs_var *v)
{
    return v ? v->name : "";
}

const char *vs_var_op_name(const vs_var *v)
{
    return v ? v->op_name : "";
}

vs_dtype vs_var_dtype(const vs_var *v)
{
    return v ? v->value.dtype : (vs_dtype)0;
}

int vs_var_shape(const vs_var *v, int64_t dims[VS_MAX_DIMS])
{
    if (v == NULL)
        return -1;
    if (dims && v->value.ndim > 0)
        memcpy(dims, v->value.shape, sizeof(int64_t) * (size_t)v->value.ndim);
    return v->value.ndim;
}

int vs_var_trainable(const vs_var *v)
{
    return v ? v->trainable : 0;
}

int vs_var_is_initialized(const vs_var *v)
{
    return v ? v->initialized : 0;
}

int vs__var_ensure_buffer(vs_var *v)
{
    if (v->value.data != NULL)
        return VS_OK;
    v->value.data = vs__arena_alloc(&v->g->arena, v->nbytes);
    if (v->value.data == NULL)
        return vs__fail(VS_ENOMEM, "out of memory allocating %zu bytes for "
                                   "%s",
                        v->nbytes, v->op_name);
    return VS_OK;
}

void vs__var_set_initialized(vs_var *v, int on)
{
    v->initialized = on;
}

void vs__var_set_loader(vs_var *v, int (*loader)(vs_var *, void *),
                        void *ctx, void (*ctx_free)(void *))
{
    if (v->loader_free)
        v->loader_free(v->loader_ctx);
    v->loader = loader;
    v->loader_ctx = ctx;
    v->loader_free = ctx_free;
}

int vs_var_value(vs_var *v, vs_tensor **out)
{
    if (out)
        *out = NULL;
    if (v == NULL || out == NULL)
        return vs__fail(VS_EINVAL, "vs_var_value: variable and out are "
                                   "required");
    if (!v->initialized || v->value.data == NULL)
        return vs__fail(VS_EUNINIT, "Attempting to use uninitialized value %s",
                        v->op_name);
    *out = &v->value;
    return VS_OK;
}

int vs_assign(vs_var *v, const vs_tensor *value)
{
    int i, rc;
    if (v == NULL || value == NULL)
        return vs__fail(VS_EINVAL, "vs_assign: variable and value are "
                                   "required");
    /* The value's dtype and rank first: the messages below print its
     * shape, which must not be read past VS_MAX_DIMS. */
    rc = vs_shape_check(value->dtype, value->ndim, value->shape, NULL, NULL);
    if (rc != VS_OK)
        return vs__fail_prefix(rc, "vs_assign: value: ");
    if (value->dtype != v->value.dtype)
        return vs__fail(VS_EDTYPE,
                        "Assign requires dtypes to match: variable %s is %s, "
                        "value is %s",
                        v->op_name, vs_dtype_name(v->value.dtype),
                        vs_dtype_name(value->dtype));
    for (i = 0; i < value->ndim && value->ndim == v->value.ndim; i++)
        if (value->shape[i] != v->value.shape[i])
            break;
    if (value->ndim != v->value.ndim || i != value->ndim) {
        char a[VS_SHAPE_STR_MAX], b[VS_SHAPE_STR_MAX];
        return vs__fail(VS_ESHAPE,
                        "Assign requires shapes of both tensors to match. "
                        "lhs shape= %s rhs shape= %s",
                        vs__shape_brackets(v->value.ndim, v->value.shape, a,
                                           sizeof a),
                        vs__shape_brackets(value->ndim, value->shape, b,
                                           sizeof b));
    }
    if (value->data == NULL && v->nbytes > 0)
        return vs__fail(VS_EINVAL, "vs_assign: value has no data");
    if (v->restoring)
        return vs__fail(VS_ERESTORING, "variable %s is being restored",
                        v->op_name);
    rc = vs__var_ensure_buffer(v);
    if (rc != VS_OK)
        return rc;
    if (v->nbytes)
        memmove(v->value.data, value->data, v->nbytes);
    v->initialized = 1;
    return VS_OK;
}
