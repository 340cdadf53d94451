/* varstore: the read handle (vs_ckpt_*): one connection for many reads,
 * and the one-shot reads built on it (vs_load_variable,
 * vs_list_variables). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops_int.h"
#include "store_int.h"
#include "tf_bundle.h"

/* A read handle: one connection for many reads. On a WAL file it keeps
 * one read transaction (a consistent snapshot of the file as of
 * vs_ckpt_open); on a rollback-journal file it holds none between calls,
 * since a save could not commit while it did: each call is then its own
 * read transaction (whose long reads renew it, store/restore/read_tx.c).
 * An open that finds a rollback-journal file held by a writer does not
 * wait: its checks run in the first call's transaction (ckpt_checks). */
struct vs_ckpt {
    sqlite3 *db;
    char *path;
    int per_call; /* 1: a read transaction per call */
    int pending;  /* 1: the open's checks are still to run (ckpt_checks) */
};

/* *wal: the connection reads the file in WAL mode (in a transaction). */
static int ckpt_is_wal(vs_ckpt *f, int *wal)
{
    char mode[16];
    int rc = vs__store_journal_pragma(f->db, f->path, "PRAGMA journal_mode",
                                      mode);
    *wal = rc == VS_OK && strcmp(mode, "wal") == 0;
    return rc;
}

/* In the first read transaction of a handle whose open found the file
 * held by a writer: the checks the open deferred, before the call's own
 * reads in the same transaction. They stay pending until they pass: a
 * later call runs them again (a damaged file fails every call with the
 * error the open would have given; a failure of the moment, such as a
 * busy timeout, passes later as a new open would). A file in WAL mode by
 * now (a solo save had switched it to rollback mode) keeps this
 * transaction as the handle's snapshot, as an open's would be. */
static int ckpt_checks(vs_ckpt *f)
{
    int wal = 0;
    int rc = vs__store_read_checks(f->db, f->path);
    if (rc == VS_OK)
        rc = ckpt_is_wal(f, &wal);
    if (rc == VS_OK) {
        f->pending = 0;
        f->per_call = !wal;
        return VS_OK;
    }
    /* Only reads ran: ending the transaction loses nothing, and the
     * checks' error is what the call reports. */
    if (!sqlite3_get_autocommit(f->db))
        (void)sqlite3_exec(f->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Begins a call's read transaction on a per-call handle. */
static int ckpt_enter(vs_ckpt *f)
{
    if (!f->per_call)
        return VS_OK;
    int s = sqlite3_exec(f->db, "BEGIN", NULL, NULL, NULL);
    if (s != SQLITE_OK)
        return vs__store_sqlfail(f->db, s, "cannot read checkpoint file",
                                 f->path);
    return f->pending ? ckpt_checks(f) : VS_OK;
}

/* Ends it; rc is the call's result so far. */
static int ckpt_leave(vs_ckpt *f, int rc)
{
    if (!f->per_call || sqlite3_get_autocommit(f->db))
        return rc;
    int s = sqlite3_exec(f->db, "COMMIT", NULL, NULL, NULL);
    if (s != SQLITE_OK && rc == VS_OK)
        rc = vs__store_sqlfail(f->db, s, "cannot read checkpoint file",
                               f->path);
    return rc;
}

/* After the open: a rollback-journal file's handle gives up its read
 * transaction until the next call. */
static int ckpt_settle(vs_ckpt *f)
{
    int wal = 0;
    int rc = ckpt_is_wal(f, &wal);
    if (rc != VS_OK || wal)
        return rc;
    f->per_call = 1;
    int s = sqlite3_exec(f->db, "COMMIT", NULL, NULL, NULL);
    if (s != SQLITE_OK)
        return vs__store_sqlfail(f->db, s, "cannot read checkpoint file",
                                 f->path);
    return VS_OK;
}

int vs_ckpt_open(const char *path, vs_ckpt **out)
{
    if (out == NULL)
        return vs__fail(VS_EINVAL, "out is NULL");
    *out = NULL;
    if (path == NULL || *path == '\0')
        return vs__fail(VS_EINVAL, "checkpoint path is NULL or empty");
    vs_ckpt *f = vs__calloc(1, sizeof *f);
    if (f == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    f->path = vs__strdup(path);
    if (f->path == NULL) {
        vs__free(f);
        return vs__fail(VS_ENOMEM, "out of memory");
    }
    /* A file a writer holds is not waited for here: the first call's read
     * transaction, which waits, runs the checks (ckpt_checks), so that a
     * poll (open, latest, close) waits for the file once, not twice. */
    int pending = 0;
    int rc = vs__store_open_read_try(path, &f->db, &pending);
    if (rc == VS_OK && pending) {
        f->per_call = 1;
        f->pending = 1;
        *out = f;
        return VS_OK;
    }
    if (rc == VS_OK) {
        /* The snapshot starts at the first read: take it now. */
        int s = sqlite3_exec(f->db, "SELECT count(*) FROM checkpoints", NULL,
                             NULL, NULL);
        if (s != SQLITE_OK)
            rc = vs__store_sqlfail(f->db, s, "cannot read checkpoint file",
                                   path);
    }
    if (rc == VS_OK)
        rc = ckpt_settle(f);
    if (rc != VS_OK) {
        vs_ckpt_close(f);
        return rc;
    }
    *out = f;
    return VS_OK;
}

void vs_ckpt_close(vs_ckpt *f)
{
    if (f == NULL)
        return;
    if (f->db != NULL) {
        /* Deliberately ignored: ending a read transaction cannot lose
         * anything, every read already returned its own result, and this
         * void function has no one to tell. */
        if (!sqlite3_get_autocommit(f->db))
            (void)sqlite3_exec(f->db, "COMMIT", NULL, NULL, NULL);
        vs__store_close(f->db);
    }
    vs__free(f->path);
    vs__free(f);
}

int vs_ckpt_latest(vs_ckpt *f, int64_t *step)
{
    if (f == NULL || step == NULL)
        return vs__fail(VS_EINVAL, "handle and step must not be NULL");
    int64_t s = 0;
    int rc = ckpt_enter(f);
    if (rc == VS_OK)
        rc = ckpt_leave(f, vs__store_resolve_step(f->db, f->path, VS_LATEST,
                                                  &s));
    if (rc == VS_OK)
        *step = s;
    return rc;
}

static int lookup_items(vs_ckpt *f, int64_t step, const char *const *names,
                        size_t n, vs__load_item **items, char ***keys);
static void free_items(vs__load_item *items, char **keys, size_t n);

int vs_ckpt_load(vs_ckpt *f, int64_t step, const char *name, vs_tensor **out)
{
    if (out == NULL)
        return vs__fail(VS_EINVAL, "out is NULL");
    *out = NULL;
    if (f == NULL)
        return vs__fail(VS_EINVAL, "checkpoint handle is NULL");
    if (name == NULL || *name == '\0')
        return vs__fail(VS_EINVAL, "variable name is NULL or empty");
    vs_tensor *t = NULL;
    vs__load_item *it = NULL;
    char **keys = NULL;
    int rc = ckpt_enter(f);
    if (rc == VS_OK)
        rc = lookup_items(f, step, &name, 1, &it, &keys);
    /* Every byte is decoded into it, or it is freed: no zero fill. */
    if (rc == VS_OK)
        rc = vs__tensor_new_uninit(it->dtype, it->ndim, it->shape, &t);
    if (rc == VS_OK) {
        it->dst = t->data;
        rc = vs__load_decode(f->db, f->path, it, 1, 0, NULL);
    }
    rc = ckpt_leave(f, rc);
    free_items(it, keys, 1);
    if (rc != VS_OK) {
        vs_tensor_free(t);
        return rc;
    }
    *out = t;
    return VS_OK;
}

/* The load items of n names (a trailing ":0" stripped), looked up at
 * step. *items and *keys (n each) are the caller's to free with
 * free_items, also on failure. */
static int lookup_items(vs_ckpt *f, int64_t step, const char *const *names,
                        size_t n, vs__load_item **items, char ***keys)
{
    *items = vs__calloc(n, sizeof **items);
    *keys = vs__calloc(n, sizeof **keys);
    if (*items == NULL || *keys == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    int rc = vs__store_resolve_step(f->db, f->path, step, &step);
    if (rc == VS_OK)
        rc = vs__store_check_step(f->db, f->path, step);
    sqlite3_stmt *exact = NULL;
    for (size_t i = 0; rc == VS_OK && i < n; i++) {
        if (names[i] == NULL || *names[i] == '\0') {
            rc = vs__fail(VS_EINVAL, "variable name %zu is NULL or empty", i);
            break;
        }
        char *key = vs__strdup(names[i]);
        if (key == NULL) {
            rc = vs__fail(VS_ENOMEM, "out of memory");
            break;
        }
        (*keys)[i] = key;
        (*items)[i].key = key;
        /* A trailing ":0" names a variable's value (TF's "v:0") and is
         * dropped, unless the step has a tensor under that very key (an
         * imported name that ends in ":0"). */
        size_t kl = strlen(key);
        if (kl <= 2 || strcmp(key + kl - 2, ":0") != 0)
            continue;
        if (exact == NULL)
            rc = vs__store_prepare(f->db,
                                   "SELECT 1 FROM tensors WHERE step=?1 AND "
                                   "name=?2",
                                   &exact, f->path);
        if (rc != VS_OK)
            break;
        sqlite3_reset(exact);
        int b = sqlite3_bind_int64(exact, 1, step);
        if (b == SQLITE_OK)
            b = sqlite3_bind_text(exact, 2, key, -1, SQLITE_STATIC);
        if (b != SQLITE_OK) {
            rc = vs__store_bindfail(exact, b, "cannot read checkpoint file",
                                    f->path);
            break;
        }
        int s = sqlite3_step(exact);
        if (s == SQLITE_DONE)
            key[kl - 2] = '\0';
        else if (s != SQLITE_ROW)
            rc = vs__store_sqlfail(f->db, s, "cannot read checkpoint file",
                                   f->path);
    }
    sqlite3_finalize(exact);
    if (rc == VS_OK)
        rc = vs__load_lookup(f->db, f->path, step, *items, n);
    return rc;
}

static void free_items(vs__load_item *items, char **keys, size_t n)
{
    for (size_t i = 0; keys != NULL && i < n; i++)
        vs__free(keys[i]);
    vs__free(keys);
    vs__free(items);
}

int vs_ckpt_stream(vs_ckpt *f, int64_t step, const char *const *names,
                   size_t n, const vs_stream_sink *sink)
{
    if ((names == NULL && n > 0) || sink == NULL || sink->write == NULL)
        return vs__fail(VS_EINVAL,
                        "names, sink and sink->write must not be NULL");
    if (f == NULL)
        return vs__fail(VS_EINVAL, "checkpoint handle is NULL");
    if (n == 0)
        return VS_OK;
    vs__load_item *items = NULL;
    char **keys = NULL;
    int rc = ckpt_enter(f);
    if (rc == VS_OK)
        rc = lookup_items(f, step, names, n, &items, &keys);
    if (rc == VS_OK)
        rc = vs__load_stream(f->db, f->path, items, n, sink);
    rc = ckpt_leave(f, rc);
    free_items(items, keys, n);
    return rc;
}

int vs_ckpt_load_many(vs_ckpt *f, int64_t step, const char *const *names,
                      size_t n, vs_tensor **out)
{
    if (out == NULL || (names == NULL && n > 0))
        return vs__fail(VS_EINVAL, "names and out must not be NULL");
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    if (f == NULL)
        return vs__fail(VS_EINVAL, "checkpoint handle is NULL");
    if (n == 0)
        return VS_OK;
    vs__load_item *items = NULL;
    char **keys = NULL;
    int rc = ckpt_enter(f);
    if (rc == VS_OK)
        rc = lookup_items(f, step, names, n, &items, &keys);
    for (size_t i = 0; rc == VS_OK && i < n; i++) {
        rc = vs__tensor_new_uninit(items[i].dtype, items[i].ndim,
                                   items[i].shape, &out[i]);
        if (rc == VS_OK)
            items[i].dst = out[i]->data;
    }
    /* every chunk of every tensor on the pool at once */
    if (rc == VS_OK)
        rc = vs__load_decode(f->db, f->path, items, n, 0, NULL);
    rc = ckpt_leave(f, rc);
    free_items(items, keys, n);
    if (rc != VS_OK) {
        for (size_t i = 0; i < n; i++) {
            vs_tensor_free(out[i]);
            out[i] = NULL;
        }
    }
    return rc;
}

int vs_ckpt_load_into(vs_ckpt *f, int64_t step, const char *const *names,
                      size_t n, void *const *dst, const size_t *dst_bytes,
                      int threads)
{
    if (n > 0 && (names == NULL || dst == NULL || dst_bytes == NULL))
        return vs__fail(VS_EINVAL, "names, dst and dst_bytes must not be NULL");
    if (f == NULL)
        return vs__fail(VS_EINVAL, "checkpoint handle is NULL");
    if (threads < 0)
        return vs__fail(VS_EINVAL, "threads must be >= 0, got %d", threads);
    if (n == 0)
        return VS_OK;
    vs__load_item *items = NULL;
    char **keys = NULL;
    int rc = ckpt_enter(f);
    if (rc == VS_OK)
        rc = lookup_items(f, step, names, n, &items, &keys);
    for (size_t i = 0; rc == VS_OK && i < n; i++) {
        if (dst_bytes[i] != items[i].nbytes)
            rc = vs__fail(VS_EINVAL,
                          "buffer %zu holds %zu bytes, tensor %s needs %zu",
                          i, dst_bytes[i], items[i].key, items[i].nbytes);
        else if (dst[i] == NULL && items[i].nbytes > 0)
            rc = vs__fail(VS_EINVAL, "buffer %zu is NULL", i);
        items[i].dst = dst[i];
    }
    if (rc == VS_OK)
        rc = vs__load_decode(f->db, f->path, items, n, threads, NULL);
    rc = ckpt_leave(f, rc);
    free_items(items, keys, n);
    return rc;
}

int vs_load_variable(const char *path, int64_t step, const char *name,
                     vs_tensor **out)
{
    vs_ckpt *f = NULL;
    if (out == NULL)
        return vs__fail(VS_EINVAL, "out is NULL");
    *out = NULL;
    if (name == NULL || *name == '\0')
        return vs__fail(VS_EINVAL, "variable name is NULL or empty");
    if (path != NULL && vs__tf_is_checkpoint(path))
        return vs__tf_load_variable(path, step, name, out);
    int rc = vs_ckpt_open(path, &f);
    if (rc == VS_OK)
        rc = vs_ckpt_load(f, step, name, out);
    vs_ckpt_close(f);
    return rc;
}

void vs_tensor_info_free(vs_tensor_info *infos, size_t n)
{
    if (infos == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        vs__free(infos[i].name);
    vs__free(infos);
}

static double col_double_or_nan(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return NAN;
    return sqlite3_column_double(st, i);
}

/* One tensors row (name, dtype, shape, numel, raw_bytes, stored_bytes,
 * codec, crc32, min, max, mean, std, n_nan, n_inf) into e; e->name is set
 * first (the caller frees it). */
static int info_row(sqlite3_stmt *st, vs_tensor_info *e, const char *path,
                    int64_t step)
{
    memset(e, 0, sizeof *e);
    const char *name = (const char *)sqlite3_column_text(st, 0);
    e->name = vs__strdup(name != NULL ? name : "");
    if (e->name == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    if (vs__dtype_parse((const char *)sqlite3_column_text(st, 1),
                        &e->dtype) != 0 ||
        vs__parse_shape_json((const char *)sqlite3_column_text(st, 2),
                             &e->ndim, e->shape) != 0 ||
        vs__crc_column(st, 7, &e->crc32) != 0)
        return vs__fail(VS_ECORRUPT,
                        "checkpoint file %s is corrupt: tensor %s at step "
                        "%lld: bad dtype, shape or CRC",
                        path, e->name, (long long)step);
    e->numel = sqlite3_column_int64(st, 3);
    e->raw_bytes = sqlite3_column_int64(st, 4);
    e->stored_bytes = sqlite3_column_int64(st, 5);
    const char *codec = (const char *)sqlite3_column_text(st, 6);
    snprintf(e->codec, sizeof e->codec, "%s", codec != NULL ? codec : "");
    e->has_stats = sqlite3_column_type(st, 12) != SQLITE_NULL;
    if (e->has_stats) {
        e->min = col_double_or_nan(st, 8);
        e->max = col_double_or_nan(st, 9);
        e->mean = col_double_or_nan(st, 10);
        e->std = col_double_or_nan(st, 11);
        e->n_nan = sqlite3_column_int64(st, 12);
        e->n_inf = sqlite3_column_int64(st, 13);
    }
    return VS_OK;
}

/* Every tensor row of step, sorted by name, into (*v, *cnt). */
static int list_rows(vs_ckpt *f, int64_t step, vs_tensor_info **v,
                     size_t *cnt)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc = vs__store_prepare(f->db,
                               "SELECT name, dtype, shape, numel, raw_bytes, "
                               "stored_bytes, codec, crc32, min, max, mean, "
                               "std, n_nan, n_inf FROM tensors WHERE step=?1 "
                               "ORDER BY name",
                               &st, f->path);
    if (rc != VS_OK)
        return rc;
    int b = sqlite3_bind_int64(st, 1, step);
    if (b != SQLITE_OK)
        rc = vs__store_bindfail(st, b, "cannot read checkpoint file",
                                f->path);
    int s = SQLITE_DONE;
    while (rc == VS_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        vs_tensor_info *p = vs__grow(*v, *cnt, &cap, sizeof *p, 16);
        if (p == NULL) {
            rc = VS_ENOMEM;
            break;
        }
        *v = p;
        rc = info_row(st, &p[*cnt], f->path, step);
        if (p[*cnt].name != NULL)
            (*cnt)++;
    }
    if (rc == VS_OK && s != SQLITE_DONE)
        rc = vs__store_sqlfail(f->db, s, "cannot read checkpoint file",
                               f->path);
    sqlite3_finalize(st);
    return rc;
}

int vs_ckpt_list_variables(vs_ckpt *f, int64_t step, vs_tensor_info **out,
                           size_t *n)
{
    if (out == NULL || n == NULL)
        return vs__fail(VS_EINVAL, "out and n must not be NULL");
    *out = NULL;
    *n = 0;
    if (f == NULL)
        return vs__fail(VS_EINVAL, "checkpoint handle is NULL");
    vs_tensor_info *v = NULL;
    size_t cnt = 0;
    int rc = ckpt_enter(f);
    if (rc == VS_OK)
        rc = vs__store_resolve_step(f->db, f->path, step, &step);
    if (rc == VS_OK)
        rc = list_rows(f, step, &v, &cnt);
    rc = ckpt_leave(f, rc);
    if (rc != VS_OK) {
        vs_tensor_info_free(v, cnt);
        return rc;
    }
    *out = v;
    *n = cnt;
    return VS_OK;
}

int vs_list_variables(const char *path, int64_t step, vs_tensor_info **out,
                      size_t *n)
{
    vs_ckpt *f = NULL;
    if (out == NULL || n == NULL)
        return vs__fail(VS_EINVAL, "out and n must not be NULL");
    *out = NULL;
    *n = 0;
    if (path != NULL && vs__tf_is_checkpoint(path))
        return vs__tf_list_variables(path, step, out, n);
    int rc = vs_ckpt_open(path, &f);
    if (rc == VS_OK)
        rc = vs_ckpt_list_variables(f, step, out, n);
    vs_ckpt_close(f);
    return rc;
}
