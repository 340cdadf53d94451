/* varstore: vs_init_from_checkpoint, TF's tf.train.init_from_checkpoint:
 * resolves an assignment map against the get_variable store and replaces
 * the targets' initializers with loaders. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_int.h"
#include "store_int.h"

typedef struct {
    char *name;
    int ndim;
    int64_t shape[VS_MAX_DIMS];
} ck_entry;

typedef struct {
    char *path;
    int64_t step;
    char *key;
    int slice; /* the key holds v's whole partitioned variable */
} loader_ctx;

static void loader_free(void *p)
{
    loader_ctx *c = p;
    if (c == NULL)
        return;
    vs__free(c->path);
    vs__free(c->key);
    vs__free(c);
}

/* A part of a partitioned target: reads the full tensor, keeps v's
 * slice. */
static int load_slice(vs_var *v, const loader_ctx *c)
{
    const vs_partitioned *pv = v->part_of;
    int64_t shp[VS_MAX_DIMS];
    int nd = vs_partitioned_shape(pv, shp), same;
    vs_tensor *t = NULL;
    int rc = vs_load_variable(c->path, c->step, c->key, &t);
    if (rc != VS_OK)
        return rc;
    if (t->dtype != vs_partitioned_dtype(pv)) {
        rc = vs__fail(VS_EDTYPE,
                      "tensor_name = %s; expected dtype %s does not equal "
                      "original dtype %s",
                      c->key, vs__dtype_tf_string(vs_partitioned_dtype(pv)),
                      vs__dtype_tf_string(t->dtype));
        vs_tensor_free(t);
        return rc;
    }
    same = t->ndim == nd;
    for (int d = 0; same && d < nd; d++)
        same = t->shape[d] == shp[d];
    if (!same) {
        char a[VS_SHAPE_STR_MAX], b[VS_SHAPE_STR_MAX];
        vs__shape_brackets(nd, shp, a, sizeof a);
        vs__shape_brackets(t->ndim, t->shape, b, sizeof b);
        rc = vs__fail(VS_ESHAPE,
                      "Assign requires shapes of both tensors to match. lhs "
                      "shape= %s rhs shape= %s (key %s)",
                      a, b, c->key);
        vs_tensor_free(t);
        return rc;
    }
    rc = vs__partitioned_copy_part(v, t->data);
    vs_tensor_free(t);
    return rc;
}

static int loader_run(vs_var *v, void *p)
{
    loader_ctx *c = p;
    const char *key = c->key;
    if (c->slice && v->part_of != NULL)
        return load_slice(v, c);
    return vs__restore_vars(c->path, c->step, &v, &key, 1, 0, NULL,
                            NULL, NULL);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const ck_entry *)a)->name, ((const ck_entry *)b)->name);
}

static const ck_entry *find_entry(const ck_entry *e, size_t n, const char *k)
{
    ck_entry key;
    key.name = (char *)(uintptr_t)k;
    return bsearch(&key, e, n, sizeof *e, cmp_entry);
}

/* Python's repr of a shape list: "[2, 3]", "[]". */
static void py_list(int ndim, const int64_t *shape, char *buf, size_t cap)
{
    size_t pos = 0;
    int w = snprintf(buf, cap, "[");
    pos = w > 0 ? (size_t)w : 0;
    for (int i = 0; i < ndim && pos < cap; i++) {
        w = snprintf(buf + pos, cap - pos, "%s%lld", i ? ", " : "",
                     (long long)shape[i]);
        if (w < 0)
            break;
        pos += (size_t)w;
    }
    if (pos < cap)
        snprintf(buf + pos, cap - pos, "]");
}

/* "{'a': [2, 3], 'b': []}" (sorted), cut with "..." when long. */
static char *py_map(const ck_entry *e, size_t n)
{
    size_t cap = VS_ERRMSG_MAX, pos = 0;
    char *buf = vs__malloc(cap);
    if (buf == NULL)
        return NULL;
    pos = (size_t)snprintf(buf, cap, "{");
    for (size_t i = 0; i < n; i++) {
        char shp[VS_SHAPE_STR_MAX];
        py_list(e[i].ndim, e[i].shape, shp, sizeof shp);
        int w = snprintf(buf + pos, cap - pos, "%s'%s': %s", i ? ", " : "",
                         e[i].name, shp);
        if (w < 0 || (size_t)w >= cap - pos - 8) {
            snprintf(buf + pos, cap - pos, ", ...");
            pos += strlen(buf + pos);
            break;
        }
        pos += (size_t)w;
    }
    snprintf(buf + pos, cap - pos, "}");
    return buf;
}

typedef struct {
    const char *ckpt; /* key in the checkpoint (or scope) */
    const char *target;
} map_pair;

static int cmp_pair(const void *a, const void *b)
{
    return strcmp(((const map_pair *)a)->ckpt, ((const map_pair *)b)->ckpt);
}

typedef struct {
    vs_var *var;
    char *key;
    int slice; /* var is a part; key is its partitioned variable's */
} assign;

static int add_assign(assign **a, size_t *n, size_t *cap, vs_var *v,
                      const char *key, int slice)
{
    assign *p = vs__grow(*a, *n, cap, sizeof *p, 16);
    if (p == NULL)
        return VS_ENOMEM;
    *a = p;
    (*a)[*n].var = v;
    (*a)[*n].slice = slice;
    (*a)[*n].key = vs__strdup(key);
    if ((*a)[*n].key == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    (*n)++;
    return VS_OK;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* What a call resolves: the checkpoint's tensors, the graph's store
 * names, and the assignments found so far. */
typedef struct {
    vs_graph *g;
    const char *path;
    int64_t step;
    ck_entry *ents; /* sorted by name */
    size_t ne, ecap;
    const char **names; /* the store's variable names, sorted */
    size_t ns;
    assign *as;
    size_t na, acap;
} init_ctx;

static void init_ctx_free(init_ctx *c)
{
    for (size_t i = 0; i < c->ne; i++)
        vs__free(c->ents[i].name);
    vs__free(c->ents);
    for (size_t i = 0; i < c->na; i++)
        vs__free(c->as[i].key);
    vs__free(c->as);
    vs__free(c->names);
}

/* One tensors row (name, shape) of the latest step. */
static int add_entry(init_ctx *c, sqlite3_stmt *st)
{
    ck_entry *p = vs__grow(c->ents, c->ne, &c->ecap, sizeof *p, 32);
    if (p == NULL)
        return VS_ENOMEM;
    c->ents = p;
    ck_entry *e = &c->ents[c->ne];
    const char *nm = (const char *)sqlite3_column_text(st, 0);
    e->name = vs__strdup(nm != NULL ? nm : "");
    if (e->name == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    c->ne++;
    if (vs__parse_shape_json((const char *)sqlite3_column_text(st, 1),
                             &e->ndim, e->shape) != 0)
        return vs__fail(VS_ECORRUPT,
                        "checkpoint file %s is corrupt: tensor %s at step "
                        "%lld: bad shape",
                        c->path, e->name, (long long)c->step);
    return VS_OK;
}

static int query_entries(init_ctx *c, sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    /* ORDER BY name is memcmp order, as strcmp: bsearch works. */
    int rc = vs__store_prepare(db,
                               "SELECT name, shape FROM tensors WHERE step=?1 "
                               "ORDER BY name",
                               &st, c->path);
    if (rc != VS_OK)
        return rc;
    int b = sqlite3_bind_int64(st, 1, c->step);
    if (b != SQLITE_OK)
        rc = vs__store_bindfail(st, b, "cannot read checkpoint file",
                                c->path);
    int s = SQLITE_DONE;
    while (rc == VS_OK && (s = sqlite3_step(st)) == SQLITE_ROW)
        rc = add_entry(c, st);
    if (rc == VS_OK && s != SQLITE_DONE)
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", c->path);
    sqlite3_finalize(st);
    return rc;
}

/* A TensorFlow checkpoint's tensor names and shapes (sorted by name). */
static int read_tf_entries(init_ctx *c)
{
    vs_tensor_info *infos = NULL;
    size_t n = 0;
    int rc = vs__tf_latest(c->path, &c->step);
    if (rc == VS_OK)
        rc = vs__tf_list_variables(c->path, c->step, &infos, &n);
    for (size_t i = 0; i < n && rc == VS_OK; i++) {
        ck_entry *p = vs__grow(c->ents, c->ne, &c->ecap, sizeof *p, 32);
        if (p == NULL) {
            rc = vs__fail(VS_ENOMEM, "out of memory");
            break;
        }
        c->ents = p;
        ck_entry *e = &c->ents[c->ne];
        e->name = infos[i].name; /* taken from the listing */
        infos[i].name = NULL;
        e->ndim = infos[i].ndim;
        memcpy(e->shape, infos[i].shape, sizeof e->shape);
        c->ne++;
    }
    vs_tensor_info_free(infos, n);
    return rc;
}

/* The latest step's tensor names and shapes; the read ends (checked)
 * before any variable gets a loader. */
static int read_entries(init_ctx *c)
{
    if (vs__tf_is_checkpoint(c->path))
        return read_tf_entries(c);
    sqlite3 *db = NULL;
    int rc = vs__store_open_read(c->path, &db);
    if (rc != VS_OK)
        return rc;
    rc = vs__store_resolve_step(db, c->path, VS_LATEST, &c->step);
    if (rc == VS_OK)
        rc = vs__store_check_step(db, c->path, c->step);
    if (rc == VS_OK)
        rc = query_entries(c, db);
    if (rc == VS_OK)
        rc = vs__store_end_read(db, c->path);
    /* On the error paths the read is still open: its end cannot change
     * the error being returned (closing the connection ends it anyway). */
    if (!sqlite3_get_autocommit(db))
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    vs__store_close(db);
    return rc;
}

/* The store's variable names, sorted (TF iterates sorted(...)). */
static int sort_store_names(init_ctx *c)
{
    size_t nv = vs__graph_var_count(c->g);
    c->names = vs__calloc(nv ? nv : 1, sizeof *c->names);
    if (c->names == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    for (size_t i = 0; i < nv; i++) {
        vs_var *v = vs__graph_var_at(c->g, i);
        if (v != NULL && v->store_key != NULL)
            c->names[c->ns++] = v->store_key;
    }
    qsort(c->names, c->ns, sizeof *c->names, cmp_str_ptr);
    return VS_OK;
}

/* The entry for ck, or TF's error listing the checkpoint's tensors. */
static int need_entry(const init_ctx *c, const char *ck,
                      const ck_entry **e)
{
    *e = find_entry(c->ents, c->ne, ck);
    if (*e != NULL)
        return VS_OK;
    char *m = py_map(c->ents, c->ne);
    int rc = vs__fail(VS_ENOTFOUND,
                      "Tensor %s is not found in %s checkpoint %s", ck,
                      c->path, m != NULL ? m : "{...}");
    vs__free(m);
    return rc;
}

/* TF's error when the target's shape differs from the tensor's. */
static int check_shape(const ck_entry *e, const char *ck, const char *name,
                       int ndim, const int64_t *shape)
{
    int same = e->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = e->shape[d] == shape[d];
    if (same)
        return VS_OK;
    char a[VS_SHAPE_STR_MAX], b[VS_SHAPE_STR_MAX];
    vs__shape_str(ndim, shape, a, sizeof a);
    py_list(e->ndim, e->shape, b, sizeof b);
    return vs__fail(VS_ESHAPE,
                    "Shape of variable %s (%s) doesn't match with shape of "
                    "tensor %s (%s) from checkpoint reader.",
                    name, a, ck, b);
}

static int map_variable(init_ctx *c, vs_var *v, const char *ck)
{
    const ck_entry *e;
    int rc = need_entry(c, ck, &e);
    if (rc == VS_OK)
        rc = check_shape(e, ck, v->name, v->value.ndim, v->value.shape);
    if (rc == VS_OK)
        rc = add_assign(&c->as, &c->na, &c->acap, v, ck, 0);
    return rc;
}

/* A partitioned variable named by its full name: every part loads its
 * slice of the tensor. */
static int map_partitioned(init_ctx *c, vs_partitioned *pv, const char *ck)
{
    const ck_entry *e;
    int64_t fs[VS_MAX_DIMS];
    int fn = vs_partitioned_shape(pv, fs);
    int rc = need_entry(c, ck, &e);
    if (rc == VS_OK)
        rc = check_shape(e, ck, vs_partitioned_name(pv), fn, fs);
    for (size_t k = 0; rc == VS_OK && k < vs_partitioned_num_parts(pv); k++)
        rc = add_assign(&c->as, &c->na, &c->acap, vs_partitioned_part(pv, k),
                        ck, 1);
    return rc;
}

/* TF's checkpoint name for store variable vn under a scope mapping (tg's
 * scope of length sl to ck): strip the scope, drop one character (the
 * '/') unless the target is "/", prefix the checkpoint scope unless it is
 * "/", drop a trailing '/'. NULL when out of memory. */
static char *scoped_name(const char *vn, size_t sl, const char *tg,
                         const char *ck)
{
    const char *rest = vn + sl;
    if (strcmp(tg, "/") != 0 && *rest != '\0')
        rest++;
    char *full = strcmp(ck, "/") != 0 ? vs__asprintf("%s%s", ck, rest)
                                      : vs__strdup(rest);
    size_t fl = full != NULL ? strlen(full) : 0;
    if (fl > 0 && full[fl - 1] == '/')
        full[fl - 1] = '\0';
    return full;
}

/* One store variable under a scope mapping. */
static int map_scoped_var(init_ctx *c, const char *name, size_t sl,
                          const char *tg, const char *ck)
{
    /* A part maps by its partitioned variable's full name (TF cuts
     * "/part_N"). */
    vs_var *sv = vs__graph_find_store(c->g, name);
    int slice = sv != NULL && sv->part_of != NULL;
    const char *vn = slice ? vs_partitioned_name(sv->part_of) : name;
    if (sl > 0 && !(strncmp(vn, tg, sl) == 0 && vn[sl] == '/'))
        return VS_OK;
    char *full = scoped_name(vn, sl, tg, ck);
    if (full == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    int rc = VS_OK;
    if (find_entry(c->ents, c->ne, full) == NULL)
        rc = vs__fail(VS_ENOTFOUND,
                      "Tensor %s (%s in %s) is not found in %s checkpoint",
                      full, strlen(vn) > sl ? vn + sl + 1 : "", ck, c->path);
    else
        rc = add_assign(&c->as, &c->na, &c->acap, sv, full, slice);
    vs__free(full);
    return rc;
}

static int map_scope(init_ctx *c, const char *ck, const char *tg)
{
    const char *slash = strrchr(tg, '/');
    size_t sl = slash != NULL ? (size_t)(slash - tg) : 0;
    size_t cl = strlen(ck);
    if (cl == 0 || ck[cl - 1] != '/')
        return vs__fail(VS_EINVAL,
                        "Assignment map with scope only name %.*s should map "
                        "to scope only %s. Should be 'scope/': "
                        "'other_scope/'.",
                        (int)sl, tg, ck);
    int rc = VS_OK;
    for (size_t k = 0; k < c->ns && rc == VS_OK; k++)
        rc = map_scoped_var(c, c->names[k], sl, tg, ck);
    return rc;
}

/* One pair of the map: a store variable, a partitioned variable, or a
 * scope. */
static int map_pair_of(init_ctx *c, const char *ck, const char *tg)
{
    vs_var *v = vs__graph_find_store(c->g, tg);
    if (v != NULL)
        return map_variable(c, v, ck);
    vs_partitioned *pv = vs__partitioned_find(c->g, tg);
    if (pv != NULL)
        return map_partitioned(c, pv, ck);
    return map_scope(c, ck, tg);
}

/* The map's pairs sorted by checkpoint key (TF iterates them sorted). */
static int resolve_map(init_ctx *c, const char *const *map, size_t np)
{
    map_pair *pairs = vs__calloc(np ? np : 1, sizeof *pairs);
    if (pairs == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    for (size_t i = 0; i < np; i++) {
        pairs[i].ckpt = map[2 * i];
        pairs[i].target = map[2 * i + 1];
    }
    qsort(pairs, np, sizeof *pairs, cmp_pair);
    int rc = VS_OK;
    for (size_t i = 0; i < np && rc == VS_OK; i++)
        rc = map_pair_of(c, pairs[i].ckpt, pairs[i].target);
    vs__free(pairs);
    return rc;
}

/* All resolved: the loaders replace the targets' initializers. */
static int install_loaders(init_ctx *c)
{
    for (size_t i = 0; i < c->na; i++) {
        if (c->as[i].var == NULL)
            continue;
        loader_ctx *lc = vs__calloc(1, sizeof *lc);
        if (lc == NULL)
            return vs__fail(VS_ENOMEM, "out of memory");
        lc->path = vs__strdup(c->path);
        lc->key = c->as[i].key;
        lc->slice = c->as[i].slice;
        c->as[i].key = NULL;
        lc->step = c->step;
        if (lc->path == NULL) {
            loader_free(lc);
            return vs__fail(VS_ENOMEM, "out of memory");
        }
        vs__var_set_loader(c->as[i].var, loader_run, lc, loader_free);
    }
    return VS_OK;
}

int vs_init_from_checkpoint(vs_graph *g, const char *path,
                            const char *const *assignment_map)
{
    if (g == NULL)
        return vs__fail(VS_EINVAL, "graph is NULL");
    if (path == NULL || *path == '\0')
        return vs__fail(VS_EINVAL, "checkpoint path is NULL or empty");
    if (assignment_map == NULL)
        return vs__fail(VS_EINVAL, "assignment_map is NULL");
    size_t np = 0;
    while (assignment_map[2 * np] != NULL) {
        if (assignment_map[2 * np + 1] == NULL)
            return vs__fail(VS_EINVAL,
                            "assignment_map entry %s has no target (the "
                            "list holds pairs, then NULL)",
                            assignment_map[2 * np]);
        np++;
    }
    init_ctx c;
    memset(&c, 0, sizeof c);
    c.g = g;
    c.path = path;
    int rc = read_entries(&c);
    if (rc == VS_OK)
        rc = sort_store_names(&c);
    if (rc == VS_OK)
        rc = resolve_map(&c, assignment_map, np);
    if (rc == VS_OK)
        rc = install_loaders(&c);
    init_ctx_free(&c);
    return rc;
}
