/* varstore: restoring variables (vs_restore, vs_restore_ex): every
 * tensor is read and verified before any variable changes. */
#include <stdint.h>
#include <string.h>

#include "graph_int.h"
#include "ops_int.h"
#include "scope_export.h"
#include "store_int.h"
#include "tf_bundle.h"

int vs__group_partitioned(vs_var **vars, const char *const *keys, size_t *n,
                          vs_partitioned ***pvs_out, const char ***keys_out)
{
    size_t cnt = *n, m = 0;
    vs_partitioned **pvs = vs__calloc(cnt ? cnt : 1, sizeof *pvs);
    const char **ko = vs__calloc(cnt ? cnt : 1, sizeof *ko);
    unsigned char *seen = NULL;
    int rc = VS_OK;
    *pvs_out = NULL;
    *keys_out = NULL;
    if (pvs == NULL || ko == NULL) {
        rc = vs__fail(VS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < cnt; i++) {
        vs_var *v = vars[i];
        vs_partitioned *p = keys == NULL ? v->part_of : NULL;
        if (p == NULL) {
            pvs[m] = NULL;
            ko[m] = keys != NULL ? keys[i] : v->op_name;
            vars[m++] = v;
            continue;
        }
        int dup = 0;
        for (size_t k = 0; k < m && !dup; k++)
            dup = pvs[k] == p;
        if (dup)
            continue;
        /* Every part, once each, must be listed (from here on). */
        size_t np = vs_partitioned_num_parts(p), got = 0;
        seen = vs__calloc(np ? np : 1, 1);
        if (seen == NULL) {
            rc = vs__fail(VS_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t j = i; j < cnt; j++) {
            if (vars[j]->part_of == p && vars[j]->part_index < np &&
                !seen[vars[j]->part_index]) {
                seen[vars[j]->part_index] = 1;
                got++;
            }
        }
        vs__free(seen);
        seen = NULL;
        if (got != np) {
            rc = vs__fail(VS_EINVAL,
                          "partitioned variable %s: only %zu of its %zu parts "
                          "are listed (list them all, or give keys to treat "
                          "the parts as separate variables)",
                          vs_partitioned_name(p), got, np);
            goto out;
        }
        pvs[m] = p;
        ko[m] = vs_partitioned_name(p);
        vars[m++] = v;
    }
    *n = m;
    *pvs_out = pvs;
    *keys_out = ko;
    return VS_OK;
out:
    vs__free(pvs);
    vs__free(ko);
    return rc;
}

/* A read of vars[i] into the variable's own buffer (it holds no value to
 * keep if the restore fails) or into scratch (sized in *scratch_bytes). */
typedef struct {
    vs_var *const *vars;
    vs_partitioned *const *pvs; /* may be NULL */
    vs__load_item *items;
    size_t n;
    unsigned char *scratch;
    size_t scratch_bytes;
    uint64_t raw_total;
} restore_plan;

static int is_whole(const restore_plan *p, size_t i)
{
    return p->pvs != NULL && p->pvs[i] != NULL;
}

/* TF's errors when the stored tensor does not fit the target. */
static int check_fits(const restore_plan *p, size_t i)
{
    const vs_var *v = p->vars[i];
    const vs__load_item *it = &p->items[i];
    vs_dtype want_dt = v->value.dtype;
    int want_nd = v->value.ndim;
    int64_t want_sh[VS_MAX_DIMS];
    if (is_whole(p, i)) {
        want_dt = vs_partitioned_dtype(p->pvs[i]);
        want_nd = vs_partitioned_shape(p->pvs[i], want_sh);
    } else if (want_nd > 0) {
        memcpy(want_sh, v->value.shape, sizeof(int64_t) * (size_t)want_nd);
    }
    if (it->dtype != want_dt)
        return vs__fail(VS_EDTYPE,
                        "tensor_name = %s; expected dtype %s does not equal "
                        "original dtype %s",
                        it->key, vs__dtype_tf_string(want_dt),
                        vs__dtype_tf_string(it->dtype));
    int same = it->ndim == want_nd;
    for (int d = 0; same && d < it->ndim; d++)
        same = it->shape[d] == want_sh[d];
    if (same)
        return VS_OK;
    char a[VS_SHAPE_STR_MAX], b[VS_SHAPE_STR_MAX];
    vs__shape_brackets(want_nd, want_sh, a, sizeof a);
    vs__shape_brackets(it->ndim, it->shape, b, sizeof b);
    return vs__fail(VS_ESHAPE,
                    "Assign requires shapes of both tensors to match. "
                    "lhs shape= %s rhs shape= %s (key %s)",
                    a, b, it->key);
}

/* Where item i is read to. A variable that holds no value yet is read
 * straight into its buffer (it stays uninitialized until everything is
 * verified); others into 64-byte aligned scratch slots, copied once all
 * is verified. A variable listed twice gets scratch the second time. */
static int place_item(restore_plan *p, size_t i)
{
    vs_var *v = p->vars[i];
    vs__load_item *it = &p->items[i];
    if (it->nbytes > UINT64_MAX - p->raw_total)
        return vs__fail(VS_ENOMEM, "out of memory");
    p->raw_total += it->nbytes;
    if (!is_whole(p, i) && !v->initialized && !vs__var_is_restoring(v)) {
        int rc = vs__var_ensure_buffer(v);
        if (rc != VS_OK)
            return rc;
        vs__var_set_restoring(v, 1);
        it->in_place = 1;
        it->dst = v->value.data;
        return VS_OK;
    }
    size_t sz = (it->nbytes + 63) & ~(size_t)63;
    if (sz < it->nbytes ||
        vs__add_size(p->scratch_bytes, sz, &p->scratch_bytes) != 0)
        return vs__fail(VS_ENOMEM, "out of memory");
    return VS_OK;
}

static int alloc_scratch(restore_plan *p)
{
    if (p->scratch_bytes > 0) {
        p->scratch = vs__big_alloc(p->scratch_bytes, 1);
        if (p->scratch == NULL)
            return vs__fail(VS_ENOMEM,
                            "out of memory (%zu bytes of scratch)",
                            p->scratch_bytes);
    }
    size_t off = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (p->items[i].in_place)
            continue;
        p->items[i].dst = p->scratch + off;
        off += (p->items[i].nbytes + 63) & ~(size_t)63;
    }
    return VS_OK;
}

/* Looks up, checks and places every item. */
static int plan_reads(sqlite3 *db, const char *path, int64_t step,
                      restore_plan *p)
{
    int rc = vs__load_lookup(db, path, step, p->items, p->n);
    for (size_t i = 0; i < p->n && rc == VS_OK; i++) {
        rc = check_fits(p, i);
        if (rc == VS_OK)
            rc = place_item(p, i);
    }
    if (rc == VS_OK)
        rc = alloc_scratch(p);
    return rc;
}

/* Everything is verified: the variables change (this cannot fail once
 * their buffers are in place). */
static int apply_values(const restore_plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        int rc = VS_OK;
        if (is_whole(p, i)) {
            size_t np = vs_partitioned_num_parts(p->pvs[i]);
            for (size_t k = 0; k < np && rc == VS_OK; k++)
                rc = vs__var_ensure_buffer(vs_partitioned_part(p->pvs[i], k));
        } else {
            rc = vs__var_ensure_buffer(p->vars[i]);
        }
        if (rc != VS_OK)
            return rc;
    }
    for (size_t i = 0; i < p->n; i++) {
        const vs__load_item *it = &p->items[i];
        if (is_whole(p, i)) {
            /* buffers are in place: this cannot fail */
            (void)vs__partitioned_scatter(p->pvs[i], it->dst);
            continue;
        }
        if (!it->in_place && it->nbytes > 0)
            memcpy(p->vars[i]->value.data, it->dst, it->nbytes);
        vs__var_set_initialized(p->vars[i], 1);
    }
    return VS_OK;
}

static void clear_restoring(const restore_plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        vs__var_set_restoring(p->vars[i], 0);
}

/* Reads every item (one read transaction, ended before anything
 * changes), then updates the variables. */
static int read_and_apply(const char *path, int64_t step, restore_plan *p,
                          int threads, vs__progress_fn fn, void *fn_ctx)
{
    sqlite3 *db = NULL;
    vs__progress pr;
    int rc = vs__store_open_read(path, &db);
    if (rc == VS_OK)
        rc = vs__store_resolve_step(db, path, step, &step);
    if (rc == VS_OK)
        rc = vs__store_check_step(db, path, step);
    if (rc == VS_OK)
        rc = plan_reads(db, path, step, p);
    if (rc == VS_OK) {
        vs__progress_init(&pr, fn, fn_ctx, p->raw_total);
        rc = vs__load_decode(db, path, p->items, p->n, threads, &pr);
    }
    /* Everything is read: end the read transaction (checked) before any
     * variable changes, so a failure leaves them untouched. */
    if (rc == VS_OK)
        rc = vs__store_end_read(db, path);
    if (rc == VS_OK)
        rc = apply_values(p);
    clear_restoring(p); /* the progress end sees them settled */
    if (rc == VS_OK)
        vs__progress_end(&pr);
    /* On the error paths the read transaction may still be open: its
     * result cannot change the error (closing the connection ends it). */
    if (db != NULL && !sqlite3_get_autocommit(db))
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    vs__store_close(db);
    return rc;
}

/* A TensorFlow checkpoint: each item is read whole by the TF reader (which
 * checks its CRC32C and assembles slices), checked against its variable,
 * and applied once all are read. */
static int tf_read_and_apply(const char *path, int64_t step, restore_plan *p,
                             vs__progress_fn fn, void *fn_ctx)
{
    vs__tf_bundle *b = NULL;
    vs_tensor **t = vs__calloc(p->n ? p->n : 1, sizeof *t);
    if (t == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    int rc = vs__tf_open_step(path, step, &b);
    for (size_t i = 0; i < p->n && rc == VS_OK; i++) {
        vs__load_item *it = &p->items[i];
        rc = vs__tf_load(b, it->key, &t[i]);
        if (rc != VS_OK)
            break;
        it->dtype = t[i]->dtype;
        it->ndim = t[i]->ndim;
        memcpy(it->shape, t[i]->shape, sizeof it->shape);
        it->nbytes = vs_tensor_nbytes(t[i]);
        it->dst = t[i]->data;
        p->raw_total += it->nbytes;
        rc = check_fits(p, i);
    }
    if (rc == VS_OK)
        rc = apply_values(p);
    if (rc == VS_OK) {
        vs__progress pr;
        vs__progress_init(&pr, fn, fn_ctx, p->raw_total);
        vs__progress_end(&pr);
    }
    for (size_t i = 0; i < p->n; i++)
        vs_tensor_free(t[i]);
    vs__free(t);
    vs__tf_close(b);
    return rc;
}

int vs__restore_vars(const char *path, int64_t step, vs_var *const *vars,
                     const char *const *keys, size_t n, int threads,
                     vs__progress_fn fn, void *fn_ctx,
                     vs_partitioned *const *pvs)
{
    /* A restore's progress callback restoring into the same variables:
     * refused before anything is claimed (the marks are the outer's). */
    for (size_t i = 0; i < n; i++)
        if (vs__var_is_restoring(vars[i]))
            return vs__fail(VS_ERESTORING, "variable %s is being restored",
                            vars[i]->op_name);
    restore_plan p = {vars, pvs, NULL, n, NULL, 0, 0};
    p.items = vs__calloc(n ? n : 1, sizeof *p.items);
    if (p.items == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        p.items[i].key = keys[i];
    int rc = vs__tf_is_checkpoint(path)
                 ? tf_read_and_apply(path, step, &p, fn, fn_ctx)
                 : read_and_apply(path, step, &p, threads, fn, fn_ctx);
    vs__big_free(p.scratch, p.scratch_bytes);
    vs__free(p.items);
    return rc;
}

/* The listed variables and their keys (opts->vars, opts->keys). */
static int listed_vars(vs_graph *g, const vs_restore_opts *opts,
                       vs_var **vars, const char **keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        vars[i] = opts->vars[i];
        if (vars[i] == NULL || vars[i]->g != g)
            return vs__fail(VS_EINVAL,
                            "variable %zu of the list is NULL or belongs to "
                            "another graph",
                            i);
        keys[i] = opts->keys != NULL ? opts->keys[i] : vars[i]->op_name;
        if (keys[i] == NULL || *keys[i] == '\0')
            return vs__fail(VS_EINVAL, "checkpoint key is NULL or empty");
    }
    return VS_OK;
}

/* The global variables (all of them in vars) whose name starts with
 * opts->prefix (a part of a partitioned variable matches by its full name),
 * moved to the front, with their keys; their count in *n. */
static int global_vars(const vs_restore_opts *opts, vs_var **vars,
                       const char **keys, size_t all, size_t *n)
{
    const char *prefix = opts != NULL ? opts->prefix : NULL;
    size_t plen = prefix != NULL ? strlen(prefix) : 0;
    *n = 0;
    for (size_t i = 0; i < all; i++) {
        const char *nm = vars[i]->part_of != NULL
                             ? vs_partitioned_name(vars[i]->part_of)
                             : vars[i]->op_name;
        if (plen == 0 || strncmp(nm, prefix, plen) == 0) {
            vars[*n] = vars[i];
            keys[*n] = vars[i]->op_name;
            (*n)++;
        }
    }
    if (*n == 0)
        return vs__fail(VS_EINVAL, "No variables to restore");
    return VS_OK;
}

/* The variables a restore targets, with their keys; new arrays. */
static int restore_targets(vs_graph *g, const vs_restore_opts *opts,
                           vs_var ***vars, const char ***keys, size_t *n)
{
    int listed = opts != NULL && opts->vars != NULL;
    size_t cnt = 0;
    if (listed) {
        cnt = opts->n_vars;
        if (cnt == 0)
            return vs__fail(VS_EINVAL, "No variables to restore");
        size_t vbytes;
        if (vs__mul_size(cnt, sizeof **vars, &vbytes) != 0)
            return vs__fail(VS_EINVAL, "n_vars %zu is too large", cnt);
        *vars = vs__malloc(vbytes);
    } else {
        int rc = vs__collection_all(g, VS_GLOBAL_VARIABLES, vars, &cnt);
        if (rc != VS_OK)
            return rc;
    }
    *keys = vs__calloc(cnt ? cnt : 1, sizeof **keys);
    if (*vars == NULL || *keys == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    *n = cnt;
    if (listed)
        return listed_vars(g, opts, *vars, *keys, cnt);
    return global_vars(opts, *vars, *keys, cnt, n);
}

int vs_restore_ex(vs_graph *g, const char *path, int64_t step,
                  const vs_restore_opts *opts)
{
    if (g == NULL)
        return vs__fail(VS_EINVAL, "graph is NULL");
    if (path == NULL || *path == '\0')
        return vs__fail(VS_EINVAL, "checkpoint path is NULL or empty");
    if (step < 0 && step != VS_LATEST)
        return vs__fail(VS_EINVAL, "invalid checkpoint step %lld",
                        (long long)step);
    if (opts != NULL && opts->threads < 0)
        return vs__fail(VS_EINVAL, "threads must be >= 0, got %d",
                        opts->threads);
    vs_var **vars = NULL;
    const char **keys = NULL, **gkeys = NULL;
    vs_partitioned **pvs = NULL;
    size_t n = 0;
    int rc = restore_targets(g, opts, &vars, &keys, &n);
    /* Partitioned variables: one tensor under the full name, sliced into
     * the parts (unless keys name each variable). */
    if (rc == VS_OK)
        rc = vs__group_partitioned(
            vars, opts != NULL && opts->vars != NULL ? opts->keys : NULL, &n,
            &pvs, &gkeys);
    if (rc == VS_OK)
        rc = vs__restore_vars(path, step, vars, gkeys, n,
                              opts != NULL ? opts->threads : 0,
                              opts != NULL ? opts->progress : NULL,
                              opts != NULL ? opts->progress_ctx : NULL, pvs);
    vs__free(pvs);
    vs__free(gkeys);
    vs__free(vars);
    vs__free(keys);
    return rc;
}

int vs_restore(vs_graph *g, const char *path, int64_t step)
{
    return vs_restore_ex(g, path, step, NULL);
}
