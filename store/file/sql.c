/* varstore: the SQL helpers of store/: error mapping, prepared
 * statements, transactions, and the rows every command shares (steps,
 * orphan chunks). */
#include <stdio.h>
#include <string.h>

#include "store_int.h"

int vs__store_sqlfail(sqlite3 *db, int src, const char *what,
                      const char *path)
{
    const char *m = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(src);
    if ((src & 0xff) == SQLITE_READONLY && db != NULL &&
        sqlite3_extended_errcode(db) == SQLITE_READONLY_DIRECTORY)
        return vs__fail(VS_EIO,
                        "%s %s: its folder is not writable (a write creates "
                        "the file's journal beside it)",
                        what, path);
    int code;
    switch (src & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        code = VS_EBUSY;
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        code = VS_ECORRUPT;
        break;
    case SQLITE_NOMEM:
        code = VS_ENOMEM;
        break;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
        code = VS_EIO;
        break;
    default:
        code = VS_ERROR;
    }
    return vs__fail(code, "%s %s: %s", what, path, m);
}

int vs__store_bindfail(sqlite3_stmt *st, int b, const char *what,
                       const char *path)
{
    /* The message comes from the code itself (db NULL): a bind failure is
     * not always recorded as the connection's last error. */
    int r = vs__store_sqlfail(NULL, b, what, path);
    /* Their results only repeat the last step's (already handled) error. */
    (void)sqlite3_reset(st);
    (void)sqlite3_clear_bindings(st);
    return r;
}

int vs__store_end_read(sqlite3 *db, const char *path)
{
    if (db == NULL || sqlite3_get_autocommit(db))
        return VS_OK;
    int s = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (s == SQLITE_OK)
        return VS_OK;
    int rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
    /* Best effort: the error above is what the caller reports. */
    if (!sqlite3_get_autocommit(db))
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int vs__store_exec(sqlite3 *db, const char *sql, const char *path)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return vs__store_sqlfail(db, rc, "cannot update checkpoint file",
                                 path);
    return VS_OK;
}

int vs__store_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st,
                      const char *path)
{
    int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);
    if (rc != SQLITE_OK) {
        *st = NULL;
        return vs__store_sqlfail(db, rc, "cannot query checkpoint file",
                                 path);
    }
    return VS_OK;
}

int vs__store_begin_immediate(sqlite3 *db, const char *path, int busy_ms)
{
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        return vs__fail(VS_EBUSY,
                        "checkpoint file %s is locked by another writer "
                        "(waited %d ms)",
                        path, busy_ms);
    if (rc != SQLITE_OK)
        return vs__store_sqlfail(db, rc, "cannot write checkpoint file",
                                 path);
    return VS_OK;
}

int vs__store_write_marks(sqlite3 *db, const char *path)
{
    /* Every write transaction counts itself in meta 'writes', on the
     * page that holds meta 'file_id' (a file made before the id existed
     * gets one): each commit in the file's WAL then carries the file id,
     * which is how readers tell the file's own log from a foreign one. */
    int rc = sqlite3_exec(db,
                          "INSERT OR IGNORE INTO meta(key, value) VALUES "
                          "('file_id', lower(hex(randomblob(16)))); "
                          "INSERT INTO meta(key, value) VALUES ('writes', 1) "
                          "ON CONFLICT(key) DO UPDATE SET value=value+1",
                          NULL, NULL, NULL);
    int r = rc == SQLITE_OK ? vs__store_upgrade(db, path)
                            : vs__store_sqlfail(db, rc,
                                                "cannot write checkpoint file",
                                                path);
    if (r != VS_OK)
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL); /* failing */
    return r;
}

int vs__store_begin_write(sqlite3 *db, const char *path, int busy_ms)
{
    int rc = vs__store_begin_immediate(db, path, busy_ms);
    return rc == VS_OK ? vs__store_write_marks(db, path) : rc;
}

void vs__store_close(sqlite3 *db)
{
    if (db == NULL)
        return;
    sqlite3_stmt *st;
    while ((st = sqlite3_next_stmt(db, NULL)) != NULL)
        (void)sqlite3_finalize(st);
    /* Every statement is finalized (so no SQLITE_BUSY) and every write was
     * committed (synchronous=FULL) or rolled back before: a failure here
     * cannot lose data. */
    (void)sqlite3_close(db);
}

int vs__store_resolve_step(sqlite3 *db, const char *path, int64_t step,
                           int64_t *out)
{
    sqlite3_stmt *st;
    int rc;
    if (step < 0 && step != VS_LATEST)
        return vs__fail(VS_EINVAL, "invalid checkpoint step %lld",
                        (long long)step);
    if (step == VS_LATEST)
        rc = vs__store_prepare(db, "SELECT max(step) FROM checkpoints", &st,
                               path);
    else
        rc = vs__store_prepare(db, "SELECT step FROM checkpoints WHERE step=?1",
                               &st, path);
    if (rc != VS_OK)
        return rc;
    if (step != VS_LATEST) {
        int b = sqlite3_bind_int64(st, 1, step);
        if (b != SQLITE_OK) {
            rc = vs__store_bindfail(st, b, "cannot read checkpoint file",
                                    path);
            sqlite3_finalize(st);
            return rc;
        }
    }
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        *out = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return VS_OK;
    }
    if (s != SQLITE_ROW && s != SQLITE_DONE) {
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
        sqlite3_finalize(st);
        return rc;
    }
    sqlite3_finalize(st);
    if (step == VS_LATEST)
        return vs__fail(VS_ENOTFOUND, "checkpoint file %s holds no checkpoints",
                        path);
    return vs__fail(VS_ENOTFOUND, "checkpoint file %s has no step %lld", path,
                    (long long)step);
}

int vs__store_step_done(sqlite3 *db, sqlite3_stmt *st, int b,
                        const char *path)
{
    int rc = VS_OK;
    if (b != SQLITE_OK) {
        rc = vs__store_bindfail(st, b, "cannot update checkpoint file", path);
    } else {
        int s = sqlite3_step(st);
        if (s != SQLITE_DONE)
            rc = vs__store_sqlfail(db, s, "cannot update checkpoint file",
                                   path);
    }
    sqlite3_finalize(st);
    return rc;
}

static int exec_step(sqlite3 *db, const char *sql, int64_t step,
                     const char *path)
{
    sqlite3_stmt *st;
    int rc = vs__store_prepare(db, sql, &st, path);
    if (rc != VS_OK)
        return rc;
    return vs__store_step_done(db, st, sqlite3_bind_int64(st, 1, step), path);
}

int vs__store_delete_step_rows(sqlite3 *db, const char *path, int64_t step)
{
    int rc = exec_step(db,
                       "DELETE FROM tensor_chunks WHERE tensor_id IN "
                       "(SELECT id FROM tensor_rows WHERE step=?1)",
                       step, path);
    if (rc == VS_OK)
        rc = vs__store_drop_step_names(db, path, step);
    if (rc == VS_OK)
        rc = exec_step(db, "DELETE FROM tensor_rows WHERE step=?1", step,
                       path);
    if (rc == VS_OK)
        rc = exec_step(db, "DELETE FROM checkpoints WHERE step=?1", step, path);
    return rc;
}

/* Chunks no tensor references and no save in progress pins. */
#define ORPHANS                                                              \
    "FROM chunks WHERE NOT EXISTS (SELECT 1 FROM tensor_chunks WHERE "      \
    "chunk_id = chunks.id) AND NOT EXISTS (SELECT 1 FROM meta, "            \
    "json_each(CASE WHEN json_valid(meta.value) THEN meta.value ELSE "      \
    "'{}' END, '$.chunks') AS p WHERE meta.key GLOB 'saving:*' AND "        \
    "p.value = chunks.id)"

int vs__store_free_orphans(sqlite3 *db, const char *path, int64_t *freed)
{
    int reaped;
    int rc = vs__store_reap_saves(db, path, &reaped);
    sqlite3_stmt *st;
    if (rc == VS_OK)
        rc = vs__store_prepare(db,
                               "SELECT coalesce(sum(stored_bytes), 0) " ORPHANS,
                               &st, path);
    if (rc != VS_OK)
        return rc;
    int s = sqlite3_step(st);
    if (s != SQLITE_ROW) {
        rc = vs__store_sqlfail(db, s, "cannot update checkpoint file", path);
        sqlite3_finalize(st);
        return rc;
    }
    if (freed != NULL)
        *freed = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    /* The freed pages stay in the file for the next saves to reuse: giving
     * them back to the file system would move every page after them
     * (vs_compact does that on request). */
    return vs__store_exec(db, "DELETE " ORPHANS, path);
}

int vs__store_close_read(sqlite3 *db, const char *path, int rc)
{
    int e = vs__store_end_read(db, path);
    vs__store_close(db);
    return rc != VS_OK ? rc : e;
}

int vs__store_commit_close(sqlite3 *db, const char *path, int rc)
{
    if (rc == VS_OK) {
        int s = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        if (s != SQLITE_OK)
            rc = vs__store_sqlfail(db, s, "cannot commit to checkpoint file",
                                   path);
    }
    /* Already failing: the rollback's result cannot change the error (and
     * closing the connection rolls back in any case). */
    if (rc != VS_OK && db != NULL && !sqlite3_get_autocommit(db))
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    vs__store_close(db);
    return rc;
}

int vs__store_file_bytes(sqlite3 *db, const char *path, int64_t *bytes)
{
    sqlite3_stmt *st;
    int rc = vs__store_prepare(db,
                               "SELECT p.page_count * s.page_size FROM "
                               "pragma_page_count() AS p, "
                               "pragma_page_size() AS s",
                               &st, path);
    if (rc != VS_OK)
        return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        *bytes = sqlite3_column_int64(st, 0);
    else
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
    sqlite3_finalize(st);
    return rc;
}
