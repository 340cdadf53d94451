/* varstore: saving checkpoints (vs_save, vs_save_ex, vs_save_tensors).
 * One save is one SQLite transaction; its steps are in the other files of
 * store/save/ (save_int.h). */
#include <stdlib.h>
#include <string.h>

#include "graph_int.h"
#include "save_int.h"
#include "scope_export.h"

/* Raw bytes from which a save into a WAL file tries the solo path
 * (vs__store_solo_begin): below it, switching the journal costs more
 * than writing the pages twice. */
#define VS_SOLO_MIN_BYTES ((uint64_t)1 << 20)
/* ... and up to which: readers wait for a solo save up to their busy
 * timeout (10 s by default), so larger saves stay WAL saves and never
 * make a reader wait that long. */
#define VS_SOLO_MAX_BYTES ((uint64_t)1 << 30)

/* An open save transaction. */
typedef struct {
    sqlite3 *db;
    int solo, in_tx, busy;
} save_tx;

/* Opens (or creates) the file, takes the solo path for a mid-sized save
 * when it can, and begins the write transaction. */
static int tx_begin(save_tx *tx, const char *path, const vs__save_ctx *c,
                    const vs_save_opts *o)
{
    int rc = vs__store_open(path, VS_OPEN_CREATE, tx->busy, &tx->db);
    if (rc != VS_OK)
        return rc;
    uint64_t raw_bytes = 0;
    for (size_t i = 0; i < c->n_items; i++)
        raw_bytes += c->items[i].nbytes;
    if (raw_bytes >= VS_SOLO_MIN_BYTES && raw_bytes <= VS_SOLO_MAX_BYTES &&
        (o == NULL || !o->readers_never_wait)) {
        rc = vs__store_solo_begin(tx->db, path, tx->busy, &tx->solo);
        if (rc != VS_OK)
            return rc;
    }
    rc = vs__store_begin_write(tx->db, path, tx->busy);
    tx->in_tx = rc == VS_OK;
    return rc;
}

static int tx_commit(save_tx *tx, const char *path)
{
    int s = sqlite3_exec(tx->db, "COMMIT", NULL, NULL, NULL);
    if (s != SQLITE_OK)
        return vs__store_sqlfail(tx->db, s, "cannot commit checkpoint to",
                                 path);
    tx->in_tx = 0;
    return VS_OK;
}

static void tx_end(save_tx *tx)
{
    /* Already failing: the rollback's result cannot change the error (and
     * closing the connection rolls back in any case). */
    if (tx->in_tx)
        (void)sqlite3_exec(tx->db, "ROLLBACK", NULL, NULL, NULL);
    if (tx->solo)
        vs__store_solo_end(tx->db);
    vs__store_close(tx->db);
    tx->db = NULL;
}

/* The rows of the checkpoint, its tensors and chunks, inside the open
 * transaction. */
static int write_checkpoint(vs__save_ctx *c, vs_graph *g)
{
    int replaced = 0;
    int rc = vs__save_replace_step(c->db, c->path, c->step, &replaced);
    if (rc == VS_OK)
        rc = vs__save_checkpoint_row(c->db, c->path, c->step);
    if (rc == VS_OK)
        rc = vs__save_tensor_rows(c);
    if (rc == VS_OK && g != NULL)
        rc = vs__save_definitions(c, g);
    if (rc == VS_OK)
        rc = vs__save_chunks(c);
    if (rc == VS_OK)
        rc = vs__save_checkpoint_totals(c);
    if (rc == VS_OK && replaced)
        rc = vs__store_free_orphans(c->db, c->path, NULL);
    return rc;
}

/* Saves items (keys set, tensors checked) as checkpoint step. g may be
 * NULL. */
static int save_items(const char *path, int64_t step, vs__save_item *items,
                      size_t n, const vs_save_opts *o, vs_graph *g)
{
    int rc = vs__save_validate(step, items, n, o, g != NULL);
    vs__save_ctx c;
    if (rc == VS_OK)
        rc = vs__save_plan(&c, path, step, items, n, o);
    if (rc != VS_OK)
        return rc;
    save_tx tx = {NULL, 0, 0, 0};
    tx.busy = o != NULL && o->busy_timeout_ms ? o->busy_timeout_ms
                                              : VS_BUSY_DEFAULT_MS;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += items[i].nbytes;
    vs__progress_init(&c.pr, o != NULL ? o->progress : NULL,
                      o != NULL ? o->progress_ctx : NULL, total);
    rc = tx_begin(&tx, path, &c, o);
    c.db = tx.db;
    if (rc == VS_OK)
        rc = write_checkpoint(&c, g);
    vs__save_ctx_free(&c); /* statements finalized before the commit */
    int committed = rc == VS_OK && (rc = tx_commit(&tx, path)) == VS_OK;
    /* Retention, after the save is durable. */
    if (committed)
        rc = vs__save_retention(tx.db, path, o, tx.busy);
    tx_end(&tx);
    /* Last, once the connection (and a solo save's lock) is gone, so that
     * the callback may open the file; not after a failure (retention's,
     * once committed), whose message the callback could overwrite. */
    if (committed && rc == VS_OK)
        vs__progress_end(&c.pr);
    return rc;
}

/* ---- public entry points ----------------------------------------------- */

int vs_save_tensors(const char *path, int64_t step, const char *const *names,
                    const vs_tensor *const *tensors, size_t n,
                    const vs_save_opts *opts)
{
    if (path == NULL || *path == '\0')
        return vs__fail(VS_EINVAL, "checkpoint path is NULL or empty");
    if (n == 0)
        return vs__fail(VS_EINVAL, "No variables to save");
    if (names == NULL || tensors == NULL)
        return vs__fail(VS_EINVAL, "names and tensors must not be NULL");
    vs__save_item *items = vs__calloc(n, sizeof *items);
    if (items == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    int rc = VS_OK;
    for (size_t i = 0; i < n && rc == VS_OK; i++) {
        rc = vs__save_check_key(names[i]);
        if (rc == VS_OK)
            rc = vs__save_check_tensor(names[i], tensors[i], &items[i].nbytes,
                              &items[i].numel);
        items[i].key = names[i];
        items[i].t = tensors[i];
        if (rc == VS_OK)
            items[i].esize = vs__elem_size(tensors[i]->dtype);
    }
    if (rc == VS_OK)
        rc = save_items(path, step, items, n, opts, NULL);
    vs__free(items);
    return rc;
}

/* The variables to save: opts->vars, or every global variable; each of
 * g. *vars is a new array (vs__free). */
static int collect_vars(vs_graph *g, const vs_save_opts *opts,
                        vs_var ***vars, size_t *n)
{
    int listed = opts != NULL && opts->vars != NULL;
    vs_var **v = NULL;
    int rc = VS_OK;
    if (!listed) {
        rc = vs__collection_all(g, VS_GLOBAL_VARIABLES, &v, n);
        if (rc == VS_OK && *n == 0)
            rc = vs__fail(VS_EINVAL, "No variables to save");
    } else {
        size_t bytes;
        *n = opts->n_vars;
        if (*n == 0)
            return vs__fail(VS_EINVAL, "No variables to save");
        if (vs__mul_size(*n, sizeof **vars, &bytes) != 0)
            return vs__fail(VS_EINVAL, "n_vars %zu is too large", *n);
        v = vs__malloc(bytes);
        if (v == NULL)
            return vs__fail(VS_ENOMEM, "out of memory");
        memcpy(v, opts->vars, bytes);
    }
    for (size_t i = 0; i < *n && rc == VS_OK; i++) {
        if (v[i] == NULL)
            rc = vs__fail(VS_EINVAL, "variable %zu of the list is NULL", i);
        else if (v[i]->g != g)
            rc = vs__fail(VS_EINVAL, "variable %s belongs to another graph",
                          v[i]->op_name);
    }
    if (rc != VS_OK) {
        vs__free(v);
        return rc;
    }
    *vars = v;
    return VS_OK;
}

/* Item i for variable v under key: a partitioned variable's parts are
 * gathered into one tensor (*whole, freed by the caller). */
static int var_item(vs__save_item *it, vs_var *v, const char *key,
                    vs_partitioned *pv, vs_tensor **whole)
{
    int rc = vs__save_check_key(key);
    if (rc != VS_OK)
        return rc;
    it->key = key;
    it->var = v;
    if (pv != NULL) {
        int64_t shp[VS_MAX_DIMS];
        int nd = vs_partitioned_shape(pv, shp);
        rc = vs_tensor_new(vs_partitioned_dtype(pv), nd, shp, whole);
        if (rc == VS_OK)
            rc = vs__partitioned_gather(pv, (*whole)->data);
        if (rc != VS_OK)
            return rc;
        it->t = *whole;
    } else {
        if (!v->initialized || (v->value.data == NULL && v->nbytes > 0))
            return vs__fail(VS_EUNINIT,
                            "Attempting to use uninitialized value %s",
                            v->op_name);
        it->t = &v->value;
    }
    rc = vs__save_check_tensor(key, it->t, &it->nbytes, &it->numel);
    it->esize = vs__elem_size(it->t->dtype);
    return rc;
}

int vs_save_ex(vs_graph *g, const char *path, int64_t step,
               const vs_save_opts *opts)
{
    if (g == NULL)
        return vs__fail(VS_EINVAL, "graph is NULL");
    if (path == NULL || *path == '\0')
        return vs__fail(VS_EINVAL, "checkpoint path is NULL or empty");
    vs_var **vars = NULL;
    size_t n;
    int rc = collect_vars(g, opts, &vars, &n);
    if (rc != VS_OK)
        return rc;
    /* Partitioned variables: one tensor under the full name, assembled
     * from the parts (unless keys name each variable). */
    vs_partitioned **pvs = NULL;
    const char **gkeys = NULL;
    rc = vs__group_partitioned(
        vars, opts != NULL && opts->vars != NULL ? opts->keys : NULL, &n,
        &pvs, &gkeys);
    vs__save_item *items = NULL;
    vs_tensor **whole = NULL;
    if (rc == VS_OK) {
        items = vs__calloc(n, sizeof *items);
        whole = vs__calloc(n, sizeof *whole);
        if (items == NULL || whole == NULL)
            rc = vs__fail(VS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n && rc == VS_OK; i++)
        rc = var_item(&items[i], vars[i], gkeys[i], pvs[i], &whole[i]);
    if (rc == VS_OK)
        rc = save_items(path, step, items, n, opts, g);
    for (size_t i = 0; whole != NULL && i < n; i++)
        vs_tensor_free(whole[i]);
    vs__free(whole);
    vs__free(items);
    vs__free(pvs);
    vs__free(gkeys);
    vs__free(vars);
    return rc;
}

int vs_save(vs_graph *g, const char *path, int64_t step)
{
    return vs_save_ex(g, path, step, NULL);
}

/* For vs_save_stream (stream.c). */
int vs__save_items(const char *path, int64_t step, vs__save_item *items,
                   size_t n, const vs_save_opts *o, vs_graph *g)
{
    return save_items(path, step, items, n, o, g);
}
