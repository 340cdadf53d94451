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

    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    ck_entry *ents = NULL;
    size_t ne = 0, ecap = 0;
    map_pair *pairs = NULL;
    assign *as = NULL;
    size_t na = 0, acap = 0;
    const char **names = NULL;
    int64_t step = 0;
    int s;
    int rc = vs__store_open_read(path, &db);
    if (rc != VS_OK)
        return rc;
    rc = vs__store_resolve_step(db, path, VS_LATEST, &step);
    if (rc != VS_OK)
        goto out;
    rc = vs__store_prepare(db,
                           "SELECT name, shape FROM tensors WHERE step=?1 "
                           "ORDER BY name",
                           &st, path);
    if (rc != VS_OK)
        goto out;
    {
        int b = sqlite3_bind_int64(st, 1, step);
        if (b != SQLITE_OK) {
            rc = vs__store_bindfail(st, b, "cannot read checkpoint file",
                                    path);
            goto out;
        }
    }
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        ck_entry *p = vs__grow(ents, ne, &ecap, sizeof *p, 32);
        if (p == NULL) {
            rc = VS_ENOMEM;
            goto out;
        }
        ents = p;
        const char *nm = (const char *)sqlite3_column_text(st, 0);
        ents[ne].name = vs__strdup(nm != NULL ? nm : "");
        if (ents[ne].name == NULL) {
            rc = vs__fail(VS_ENOMEM, "out of memory");
            goto out;
        }
        ne++;
        if (vs__parse_shape_json((const char *)sqlite3_column_text(st, 1),
                                 &ents[ne - 1].ndim,
                                 ents[ne - 1].shape) != 0) {
            rc = vs__fail(VS_ECORRUPT,
                          "checkpoint file %s is corrupt: tensor %s at step "
                          "%lld: bad shape",
                          path, ents[ne - 1].name, (long long)step);
            goto out;
        }
    }
    if (s != SQLITE_DONE) {
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
        goto out;
    }
    /* Everything needed from the file is read: end the read transaction
     * (checked) before any variable gets a loader. */
    sqlite3_finalize(st);
    st = NULL;
    rc = vs__store_end_read(db, path);
    if (rc != VS_OK)
        goto out;
    /* ORDER BY name is memcmp order, as strcmp: bsearch works. */

    pairs = vs__calloc(np, sizeof *pairs);
    if (pairs == NULL) {
        rc = vs__fail(VS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < np; i++) {
        pairs[i].ckpt = assignment_map[2 * i];
        pairs[i].target = assignment_map[2 * i + 1];
    }
    qsort(pairs, np, sizeof *pairs, cmp_pair);

    /* The store's variable names, sorted (TF iterates sorted(...)). */
    size_t nv = vs__graph_var_count(g), ns = 0;
    names = vs__calloc(nv, sizeof *names);
    if (names == NULL) {
        rc = vs__fail(VS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nv; i++) {
        vs_var *v = vs__graph_var_at(g, i);
        if (v != NULL && v->store_key != NULL)
            names[ns++] = v->store_key;
    }
    qsort(names, ns, sizeof *names, cmp_str_ptr);

    for (size_t i = 0; i < np; i++) {
        const char *ck = pairs[i].ckpt, *tg = pairs[i].target;
        vs_var *v = vs__graph_find_store(g, tg);
        if (v != NULL) {
            const ck_entry *e = find_entry(ents, ne, ck);
            if (e == NULL) {
                char *m = py_map(ents, ne);
                rc = vs__fail(VS_ENOTFOUND,
                              "Tensor %s is not found in %s checkpoint %s", ck,
                              path, m != NULL ? m : "{...}");
                vs__free(m);
                goto out;
            }
            int same = e->ndim == v->value.ndim;
            for (int d = 0; same && d < e->ndim; d++)
                same = e->shape[d] == v->value.shape[d];
            if (!same) {
                char a[VS_SHAPE_STR_MAX], b[VS_SHAPE_STR_MAX];
                vs__shape_str(v->value.ndim, v->value.shape, a, sizeof a);
                py_list(e->ndim, e->shape, b, sizeof b);
                rc = vs__fail(VS_ESHAPE,
                              "Shape of variable %s (%s) doesn't match with "
                              "shape of tensor %s (%s) from checkpoint "
                              "reader.",
                              v->name, a, ck, b);
                goto out;
            }
            rc = add_assign(&as, &na, &acap, v, ck, 0);
            if (rc != VS_OK)
                goto out;
            continue;
        }
        /* A partitioned variable named by its full name: every part
         * loads its slice of the tensor. */
        vs_partitioned *pv = vs__partitioned_find(g, tg);
        if (pv != NULL) {
            const ck_entry *e = find_entry(ents, ne, ck);
            if (e == NULL) {
                char *m = py_map(ents, ne);
                rc = vs__fail(VS_ENOTFOUND,
                              "Tensor %s is not found in %s checkpoint %s", ck,
                              path, m != NULL ? m : "{...}");
                vs__free(m);
                goto out;
            }
            int64_t fs[VS_MAX_DIMS];
            int fn = vs_partitioned_shape(pv, fs);
            int same = e->ndim == fn;
            for (int d = 0; same && d < fn; d++)
                same = e->shape[d] == fs[d];
            if (!same) {
                char a[VS_SHAPE_STR_MAX], b[VS_SHAPE_STR_MAX];
                vs__shape_str(fn, fs, a, sizeof a);
                py_list(e->ndim, e->shape, b, sizeof b);
                rc = vs__fail(VS_ESHAPE,
                              "Shape of variable %s (%s) doesn't match with "
                              "shape of tensor %s (%s) from checkpoint "
                              "reader.",
                              vs_partitioned_name(pv), a, ck, b);
                goto out;
            }
            for (size_t k = 0; k < vs_partitioned_num_parts(pv); k++) {
                rc = add_assign(&as, &na, &acap, vs_partitioned_part(pv, k),
                                ck, 1);
                if (rc != VS_OK)
                    goto out;
            }
            continue;
        }
        /* A scope mapping. */
        const char *slash = strrchr(tg, '/');
        size_t sl = slash != NULL ? (size_t)(slash - tg) : 0;
        size_t cl = strlen(ck);
        if (cl == 0 || ck[cl - 1] != '/') {
            rc = vs__fail(VS_EINVAL,
                          "Assignment map with scope only name %.*s should "
                          "map to scope only %s. Should be 'scope/': "
                          "'other_scope/'.",
                          (int)sl, tg, ck);
            goto out;
        }
        for (size_t k = 0; k < ns; k++) {
            /* A part maps by its partitioned variable's full name (TF
             * cuts "/part_N"). */
            vs_var *sv = vs__graph_find_store(g, names[k]);
            int slice = sv != NULL && sv->part_of != NULL;
            const char *vn = slice ? vs_partitioned_name(sv->part_of)
                                   : names[k];
            if (sl > 0 && !(strncmp(vn, tg, sl) == 0 && vn[sl] == '/'))
                continue;
            /* TF: strip the scope, drop one character (the '/') unless
             * the target is "/", prefix the checkpoint scope unless it is
             * "/", drop a trailing '/'. */
            const char *rest = vn + sl;
            if (strcmp(tg, "/") != 0 && *rest != '\0')
                rest++;
            char *full = strcmp(ck, "/") != 0 ? vs__asprintf("%s%s", ck, rest)
                                              : vs__strdup(rest);
            if (full == NULL) {
                rc = vs__fail(VS_ENOMEM, "out of memory");
                goto out;
            }
            size_t fl = strlen(full);
            if (fl > 0 && full[fl - 1] == '/')
                full[fl - 1] = '\0';
            if (find_entry(ents, ne, full) == NULL) {
                const char *short_name = strlen(vn) > sl ? vn + sl + 1 : "";
                rc = vs__fail(VS_ENOTFOUND,
                              "Tensor %s (%s in %s) is not found in %s "
                              "checkpoint",
                              full, short_name, ck, path);
                vs__free(full);
                goto out;
            }
            rc = add_assign(&as, &na, &acap, sv, full, slice);
            vs__free(full);
            if (rc != VS_OK)
                goto out;
        }
    }
    /* All resolved: install the loaders. */
    for (size_t i = 0; i < na; i++) {
        if (as[i].var == NULL)
            continue;
        loader_ctx *lc = vs__calloc(1, sizeof *lc);
        if (lc == NULL) {
            rc = vs__fail(VS_ENOMEM, "out of memory");
            goto out;
        }
        lc->path = vs__strdup(path);
        lc->key = as[i].key;
        lc->slice = as[i].slice;
        as[i].key = NULL;
        lc->step = step;
        if (lc->path == NULL) {
            loader_free(lc);
            rc = vs__fail(VS_ENOMEM, "out of memory");
            goto out;
        }
        vs__var_set_loader(as[i].var, loader_run, lc, loader_free);
    }
out:
    sqlite3_finalize(st);
    /* On the error paths before the read ended: its result cannot change
     * the error being returned (closing the connection ends it anyway). */
    if (db != NULL && !sqlite3_get_autocommit(db))
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    vs__store_close(db);
    for (size_t i = 0; i < ne; i++)
        vs__free(ents[i].name);
    vs__free(ents);
    for (size_t i = 0; i < na; i++)
        vs__free(as[i].key);
    vs__free(as);
    vs__free(pairs);
    vs__free(names);
    return rc;
}
