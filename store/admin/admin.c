/* varstore: file-level checkpoint calls: latest, list, delete, prune,
 * retention settings, journal mode. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "tf_bundle.h"


int vs_latest_checkpoint(const char *path, int64_t *step)
{
    if (step == NULL)
        return vs__fail(VS_EINVAL, "step is NULL");
    if (path != NULL && vs__tf_is_checkpoint(path))
        return vs__tf_latest(path, step);
    sqlite3 *db = NULL;
    int rc = vs__store_open_read(path, &db);
    if (rc != VS_OK)
        return rc;
    int64_t s = 0;
    rc = vs__store_resolve_step(db, path, VS_LATEST, &s);
    rc = vs__store_close_read(db, path, rc);
    if (rc == VS_OK)
        *step = s;
    return rc;
}

int vs_list_checkpoints(const char *path, vs_ckpt_info **out, size_t *n)
{
    if (out == NULL || n == NULL)
        return vs__fail(VS_EINVAL, "out and n must not be NULL");
    *out = NULL;
    *n = 0;
    if (path != NULL && vs__tf_is_checkpoint(path))
        return vs__tf_list_checkpoints(path, out, n);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    vs_ckpt_info *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = vs__store_open_read(path, &db);
    if (rc != VS_OK)
        return rc;
    rc = vs__store_prepare(db,
                           "SELECT step, created_at, n_tensors, raw_bytes, "
                           "stored_bytes FROM checkpoints ORDER BY step",
                           &st, path);
    int s = SQLITE_DONE;
    while (rc == VS_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        vs_ckpt_info *p = vs__grow(v, cnt, &cap, sizeof *p, 16);
        if (p == NULL) {
            rc = VS_ENOMEM;
            break;
        }
        v = p;
        vs_ckpt_info *e = &v[cnt++];
        memset(e, 0, sizeof *e);
        e->step = sqlite3_column_int64(st, 0);
        const char *c = (const char *)sqlite3_column_text(st, 1);
        snprintf(e->created_at, sizeof e->created_at, "%s",
                 c != NULL ? c : "");
        e->n_tensors = sqlite3_column_int64(st, 2);
        e->raw_bytes = sqlite3_column_int64(st, 3);
        e->stored_bytes = sqlite3_column_int64(st, 4);
    }
    if (rc == VS_OK && s != SQLITE_DONE)
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
    sqlite3_finalize(st);
    rc = vs__store_close_read(db, path, rc);
    if (rc != VS_OK) {
        vs__free(v);
        return rc;
    }
    *out = cnt ? v : NULL;
    if (cnt == 0)
        vs__free(v);
    *n = cnt;
    return VS_OK;
}

int vs_delete_checkpoint(const char *path, int64_t step)
{
    if (step < 0)
        return vs__fail(VS_EINVAL, "invalid checkpoint step %lld",
                        (long long)step);
    sqlite3 *db = NULL;
    int rc = vs__store_open_write(path, VS_OPEN_WRITE, &db);
    if (rc != VS_OK)
        return rc;
    int64_t s;
    rc = vs__store_resolve_step(db, path, step, &s);
    if (rc == VS_OK)
        rc = vs__store_delete_step_rows(db, path, step);
    if (rc == VS_OK)
        rc = vs__store_free_orphans(db, path, NULL);
    return vs__store_commit_close(db, path, rc);
}

int vs_compact(const char *path, int64_t *freed)
{
    sqlite3 *db = NULL;
    int64_t before = 0, after = 0;
    if (freed != NULL)
        *freed = 0;
    int rc = vs__store_open_write(path, VS_OPEN_WRITE, &db);
    if (rc == VS_OK)
        rc = vs__store_file_bytes(db, path, &before);
    if (rc == VS_OK)
        rc = vs__store_exec(db, "PRAGMA incremental_vacuum", path);
    if (rc == VS_OK)
        rc = vs__store_file_bytes(db, path, &after);
    rc = vs__store_commit_close(db, path, rc);
    if (rc == VS_OK && freed != NULL)
        *freed = before - after;
    return rc;
}

int vs_prune(const char *path, int keep)
{
    if (keep < 1)
        return vs__fail(VS_EINVAL, "keep must be >= 1, got %d", keep);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = vs__store_open_write(path, VS_OPEN_WRITE, &db);
    if (rc != VS_OK)
        return rc;
    int64_t *steps = NULL;
    size_t n = 0, cap = 0;
    rc = vs__store_prepare(db,
                           "SELECT step FROM checkpoints ORDER BY step DESC "
                           "LIMIT -1 OFFSET ?1",
                           &st, path);
    int s = SQLITE_DONE;
    if (rc == VS_OK) {
        int b = sqlite3_bind_int(st, 1, keep);
        if (b != SQLITE_OK)
            rc = vs__store_bindfail(st, b, "cannot read checkpoint file",
                                    path);
    }
    while (rc == VS_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t *p = vs__grow(steps, n, &cap, sizeof *p, 16);
        if (p == NULL) {
            rc = VS_ENOMEM;
            break;
        }
        steps = p;
        steps[n++] = sqlite3_column_int64(st, 0);
    }
    if (rc == VS_OK && s != SQLITE_DONE)
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
    sqlite3_finalize(st);
    for (size_t i = 0; rc == VS_OK && i < n; i++)
        rc = vs__store_delete_step_rows(db, path, steps[i]);
    if (rc == VS_OK && n > 0)
        rc = vs__store_free_orphans(db, path, NULL);
    vs__free(steps);
    return vs__store_commit_close(db, path, rc);
}

int vs_set_retention(const char *path, int max_to_keep,
                     double keep_checkpoint_every_n_hours)
{
    if (max_to_keep == VS_KEEP_ALL)
        max_to_keep = 0; /* the file's form of "keep all" */
    if (max_to_keep < 0)
        return vs__fail(VS_EINVAL, "max_to_keep must be >= 0, got %d",
                        max_to_keep);
    /* NaN, negative, inf, or hours whose seconds overflow a double */
    if (!(keep_checkpoint_every_n_hours >= 0) ||
        !isfinite(keep_checkpoint_every_n_hours * 3600.0))
        return vs__fail(VS_EINVAL,
                        "keep_checkpoint_every_n_hours must be finite, "
                        ">= 0 and at most %g, got %g",
                        DBL_MAX / 3600.0, keep_checkpoint_every_n_hours);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = vs__store_open_write(path, VS_OPEN_CREATE, &db);
    if (rc != VS_OK)
        return rc;
    rc = vs__store_prepare(db,
                           "INSERT OR REPLACE INTO meta(key, value) VALUES "
                           "('max_to_keep', ?1), "
                           "('keep_checkpoint_every_n_hours', ?2)",
                           &st, path);
    if (rc == VS_OK) {
        int b = sqlite3_bind_int(st, 1, max_to_keep);
        if (b == SQLITE_OK)
            b = sqlite3_bind_double(st, 2, keep_checkpoint_every_n_hours);
        if (b != SQLITE_OK)
            rc = vs__store_bindfail(st, b, "cannot update checkpoint file",
                                    path);
    }
    if (rc == VS_OK) {
        int s = sqlite3_step(st);
        if (s != SQLITE_DONE)
            rc = vs__store_sqlfail(db, s, "cannot update checkpoint file",
                                   path);
    }
    sqlite3_finalize(st);
    return vs__store_commit_close(db, path, rc);
}

/* ---- journal mode ------------------------------------------------------ */

#define JOURNAL_BUSY_MS 250

/* Then the declared mode that writers keep, in a write transaction,
 * whose upgrade of a file of an earlier version (which declares the
 * rollback journal: vs__store_upgrade) comes first. A crash before it
 * leaves the old mode declared: the next writer switches the header
 * back, as if vs_set_journal_mode had not been called. */
static int declare_mode(sqlite3 *db, const char *path, const char *want)
{
    int rc = vs__store_begin_write(db, path, JOURNAL_BUSY_MS);
    if (rc != VS_OK)
        return rc; /* nothing begun */
    char decl[16];
    rc = vs__store_declared_journal(db, path, decl);
    if (rc == VS_OK && strcmp(decl, want) != 0)
        rc = vs__store_declare_journal(db, path, want);
    int s = sqlite3_exec(db, rc == VS_OK ? "COMMIT" : "ROLLBACK", NULL, NULL,
                         NULL);
    if (rc == VS_OK && s != SQLITE_OK)
        rc = vs__store_sqlfail(db, s, "cannot set the journal mode of", path);
    return rc;
}

int vs_set_journal_mode(const char *path, vs_journal mode)
{
    if (mode != VS_JOURNAL_WAL && mode != VS_JOURNAL_ROLLBACK)
        return vs__fail(VS_EINVAL, "unknown journal mode %d", (int)mode);
    /* Another connection makes the change fail: wait for it only
     * briefly, it is usually a reader that stays open. */
    sqlite3 *db = NULL;
    int rc = vs__store_open(path, VS_OPEN_CREATE, JOURNAL_BUSY_MS, &db);
    if (rc != VS_OK)
        return rc;
    const char *want = mode == VS_JOURNAL_WAL ? "wal" : "delete";
    char got[16];
    /* Leaving WAL checkpoints it and deletes it: with EXTRA the deletion
     * is synced too, as every later rollback-journal commit will be. */
    if (mode == VS_JOURNAL_ROLLBACK) {
        int s = sqlite3_exec(db, "PRAGMA synchronous=EXTRA", NULL, NULL, NULL);
        if (s != SQLITE_OK) {
            rc = vs__store_sqlfail(db, s, "cannot set the journal mode of",
                                   path);
            vs__store_close(db);
            return rc;
        }
    }
    rc = vs__store_journal_pragma(db, path,
                                  mode == VS_JOURNAL_WAL
                                      ? "PRAGMA journal_mode=WAL"
                                      : "PRAGMA journal_mode=DELETE",
                                  got);
    /* Another connection having the file open: SQLite either keeps the
     * old mode without an error or fails with SQLITE_BUSY. */
    if ((rc == VS_OK && strcmp(got, want) != 0) || rc == VS_EBUSY)
        rc = vs__fail(VS_EBUSY,
                      "cannot change the journal mode of %s to %s: the file "
                      "is open elsewhere",
                      path, mode == VS_JOURNAL_WAL ? "WAL" : "rollback");
    if (rc == VS_OK)
        rc = declare_mode(db, path, want);
    vs__store_close(db);
    return rc;
}

int vs_get_journal_mode(const char *path, vs_journal *mode)
{
    if (mode == NULL)
        return vs__fail(VS_EINVAL, "mode is NULL");
    sqlite3 *db = NULL;
    int rc = vs__store_open(path, VS_OPEN_READ, 0, &db);
    if (rc != VS_OK)
        return rc;
    /* The declared mode: the header may differ for a moment (a large
     * save running solo, or a crash during one). */
    char got[16];
    rc = vs__store_declared_journal(db, path, got);
    if (rc == VS_OK && got[0] == '\0')
        rc = vs__store_journal_pragma(db, path, "PRAGMA journal_mode", got);
    if (rc == VS_OK)
        *mode = strcmp(got, "wal") == 0 ? VS_JOURNAL_WAL : VS_JOURNAL_ROLLBACK;
    vs__store_close(db);
    return rc;
}

