/* varstore: journal modes: the declared mode, switches between WAL and
 * rollback journal, write durability and solo saves. */
#include <stdio.h>
#include <string.h>

#include "store_int.h"

/* Runs a journal_mode pragma; its one result (lower case) in out. The
 * SQLite result code, and no error recorded: callers decide. */
static int journal_try(sqlite3 *db, const char *sql, char out[16])
{
    sqlite3_stmt *st;
    out[0] = '\0';
    int s = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (s != SQLITE_OK)
        return s;
    s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        const unsigned char *m = sqlite3_column_text(st, 0);
        size_t i = 0;
        for (; m != NULL && m[i] != '\0' && i + 1 < 16; i++)
            out[i] = (char)(m[i] >= 'A' && m[i] <= 'Z' ? m[i] + 32 : m[i]);
        out[i] = '\0';
        s = m == NULL ? sqlite3_errcode(db) : SQLITE_OK;
        if (s == SQLITE_ROW || s == SQLITE_DONE)
            s = SQLITE_NOMEM;
    }
    /* A failed step reports its error again at finalize: nothing new. */
    (void)sqlite3_finalize(st);
    return s;
}

int vs__store_journal_pragma(sqlite3 *db, const char *path, const char *sql,
                             char out[16])
{
    int s = journal_try(db, sql, out);
    if (s == SQLITE_OK)
        return VS_OK;
    if (s == SQLITE_NOMEM)
        return vs__fail(VS_ENOMEM, "out of memory");
    return vs__store_sqlfail(db, s, "cannot set the journal mode of", path);
}

int vs__store_declared_journal(sqlite3 *db, const char *path, char out[16])
{
    out[0] = '\0';
    sqlite3_stmt *st;
    int rc = vs__store_prepare(db,
                               "SELECT value FROM meta WHERE key='journal'",
                               &st, path);
    if (rc != VS_OK)
        return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (v != NULL && (strcmp(v, "wal") == 0 || strcmp(v, "delete") == 0))
            snprintf(out, 16, "%s", v);
        else if (v == NULL && sqlite3_errcode(db) == SQLITE_NOMEM)
            rc = vs__fail(VS_ENOMEM, "out of memory");
        /* any other value: declared by nothing (the header rules) */
    } else if (s != SQLITE_DONE) {
        rc = vs__store_sqlfail(db, s, "cannot query checkpoint file", path);
    }
    sqlite3_finalize(st);
    return rc;
}

int vs__store_declare_journal(sqlite3 *db, const char *path, const char *mode)
{
    sqlite3_stmt *st;
    int rc = vs__store_prepare(db,
                               "INSERT OR REPLACE INTO meta(key, value) "
                               "VALUES ('journal', ?1)",
                               &st, path);
    if (rc != VS_OK)
        return rc;
    return vs__store_step_done(
        db, st, sqlite3_bind_text(st, 1, mode, -1, SQLITE_STATIC), path);
}

int vs__store_journal_kept(sqlite3 *db, const char *path, int *kept)
{
    char mode[16], want[16];
    *kept = 0;
    int rc = vs__store_journal_pragma(db, path, "PRAGMA journal_mode", mode);
    if (rc == VS_OK)
        rc = vs__store_declared_journal(db, path, want);
    if (rc == VS_OK)
        *kept = strcmp(mode, "delete") == 0 &&
                (want[0] == '\0' || strcmp(want, "delete") == 0);
    return rc;
}

/* Tries to move the file into mode `want` ("wal" or "delete") without
 * waiting for other connections: SQLite switches into or out of WAL only
 * when no other connection has the file open. *now is the mode after. */
static int journal_switch_nowait(sqlite3 *db, const char *path,
                                 const char *want, int busy_ms, char now[16])
{
    int s = sqlite3_busy_timeout(db, 0);
    if (s == SQLITE_OK)
        s = journal_try(db,
                        strcmp(want, "wal") == 0 ? "PRAGMA journal_mode=WAL"
                                                 : "PRAGMA journal_mode=DELETE",
                        now);
    int t = vs__store_busy(db, busy_ms);
    if ((s & 0xff) == SQLITE_BUSY || (s & 0xff) == SQLITE_LOCKED)
        s = journal_try(db, "PRAGMA journal_mode", now); /* unchanged */
    if (s == SQLITE_OK)
        s = t;
    if (s != SQLITE_OK)
        return vs__store_sqlfail(db, s, "cannot set the journal mode of",
                                 path);
    return VS_OK;
}

/* Write connections. A WAL file is durable at each commit with
 * synchronous=FULL. A rollback-journal file commits by deleting its
 * journal: EXTRA also syncs the directory then, so that VS_OK still means
 * durable.
 *
 * The file's declared mode (meta 'journal'; files older than that row
 * declare what their header says) is the one writers keep. The header
 * differs from it after a crash during a solo save (below), or after a
 * change made from outside: a switch into or out of WAL is then tried
 * without waiting (it needs the file to itself; the next writer tries
 * again), and TRUNCATE, PERSIST, or OFF and MEMORY (which give up crash
 * safety) are brought back to DELETE in any case. */
int vs__store_write_durability(sqlite3 *db, const char *path, int busy_ms)
{
    char mode[16], want[16];
    int rc = vs__store_journal_pragma(db, path, "PRAGMA journal_mode", mode);
    if (rc == VS_OK)
        rc = vs__store_declared_journal(db, path, want);
    if (rc != VS_OK)
        return rc;
    if (want[0] == '\0')
        snprintf(want, sizeof want, "%s",
                 strcmp(mode, "wal") == 0 ? "wal" : "delete");
    if (strcmp(mode, want) != 0 &&
        (strcmp(mode, "wal") == 0 || strcmp(want, "wal") == 0)) {
        rc = journal_switch_nowait(db, path, want, busy_ms, mode);
        if (rc != VS_OK)
            return rc;
    }
    if (strcmp(mode, "wal") == 0)
        return VS_OK;
    if (strcmp(mode, "delete") != 0) {
        rc = vs__store_journal_pragma(db, path, "PRAGMA journal_mode=DELETE",
                                      mode);
        if (rc == VS_OK && strcmp(mode, "delete") != 0)
            rc = vs__fail(VS_EBUSY,
                          "cannot set the journal mode of %s to DELETE "
                          "(it stays %s)",
                          path, mode);
        if (rc != VS_OK)
            return rc;
    }
    int s = sqlite3_exec(db, "PRAGMA synchronous=EXTRA", NULL, NULL, NULL);
    if (s != SQLITE_OK)
        return vs__store_sqlfail(db, s, "cannot open checkpoint file", path);
    return VS_OK;
}

/* A large save into a WAL file writes every page twice (into the WAL,
 * then into the file at the checkpoint). When no other connection has
 * the file open, the save runs in rollback-journal mode instead, under an
 * exclusive lock taken before the switch and kept to the connection's
 * close: a reader that arrives meanwhile waits (its busy timeout) as it
 * would for any commit, and never sees the file in between. */
int vs__store_solo_begin(sqlite3 *db, const char *path, int busy_ms, int *solo)
{
    *solo = 0;
    char mode[16], decl[16];
    int rc = vs__store_journal_pragma(db, path, "PRAGMA journal_mode", mode);
    if (rc == VS_OK)
        rc = vs__store_declared_journal(db, path, decl);
    if (rc != VS_OK || strcmp(mode, "wal") != 0 ||
        (decl[0] != '\0' && strcmp(decl, "wal") != 0))
        return rc;
    /* A file older than the meta row declares WAL first, while it is
     * still WAL: whatever happens next, writers bring it back. */
    if (decl[0] == '\0') {
        rc = vs__store_declare_journal(db, path, "wal");
        if (rc != VS_OK)
            return rc;
    }
    int s = sqlite3_exec(db, "PRAGMA locking_mode=EXCLUSIVE", NULL, NULL, NULL);
    if (s != SQLITE_OK)
        return vs__store_sqlfail(db, s, "cannot write checkpoint file", path);
    rc = journal_switch_nowait(db, path, "delete", busy_ms, mode);
    if (rc == VS_OK && strcmp(mode, "delete") == 0) {
        /* From here on the caller runs vs__store_solo_end, whatever the
         * outcome. */
        *solo = 1;
        s = sqlite3_exec(db, "PRAGMA synchronous=EXTRA", NULL, NULL, NULL);
        if (s != SQLITE_OK)
            rc = vs__store_sqlfail(db, s, "cannot write checkpoint file",
                                   path);
        return rc;
    }
    /* Someone else has the file open: an ordinary WAL save. */
    s = sqlite3_exec(db, "PRAGMA locking_mode=NORMAL", NULL, NULL, NULL);
    if (rc == VS_OK && s != SQLITE_OK)
        rc = vs__store_sqlfail(db, s, "cannot write checkpoint file", path);
    return rc;
}

void vs__store_solo_end(sqlite3 *db, const char *path)
{
    /* The exclusive lock is still held, so nothing is in the way. Should
     * the switch fail anyway, the save is committed all the same and the
     * file declares WAL: the next writer switches it back. A file that
     * the save upgraded from an earlier version declares the rollback
     * journal now (vs__store_upgrade), and keeps it. */
    char decl[16], now[16];
    if (vs__store_declared_journal(db, path, decl) == VS_OK &&
        strcmp(decl, "delete") == 0)
        return;
    (void)journal_try(db, "PRAGMA journal_mode=WAL", now);
}

