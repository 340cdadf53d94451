/* varstore: short read transactions. A reader of a rollback-journal file
 * holds SQLite's SHARED lock for as long as its read transaction lasts,
 * and a save cannot commit until every such lock is gone: a read of many
 * chunks therefore ends its transaction every few MiB (or milliseconds)
 * and begins a new one. Chunks are immutable once committed; only a
 * deletion (retention, prune, delete, a save replacing the step) removes
 * them. Each new transaction first checks that the step is the one the
 * read began with (its checkpoints row), so no byte of another step is
 * ever read: VS_ECHANGED otherwise. WAL readers block nobody and keep
 * one transaction. */
#define _GNU_SOURCE /* clock_gettime */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store_int.h"

void (*vs__read_gap_hook)(const char *path);

static double now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The step's checkpoints row as seen now, into id (*found 0: none). */
static int read_identity(vs__read_tx *t, vs__step_id *id, int *found)
{
    sqlite3_stmt *st = NULL;
    *found = 0;
    int rc = vs__store_prepare(t->db,
                               "SELECT created_at, created_unix, n_tensors, "
                               "raw_bytes, stored_bytes FROM checkpoints "
                               "WHERE step=?1",
                               &st, t->path);
    if (rc != VS_OK)
        return rc;
    int b = sqlite3_bind_int64(st, 1, t->step);
    if (b != SQLITE_OK) {
        rc = vs__store_bindfail(st, b, "cannot read checkpoint file",
                                t->path);
        sqlite3_finalize(st);
        return rc;
    }
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        const char *at = (const char *)sqlite3_column_text(st, 0);
        memset(id, 0, sizeof *id);
        snprintf(id->created_at, sizeof id->created_at, "%s",
                 at != NULL ? at : "");
        id->created_unix = sqlite3_column_double(st, 1);
        id->n_tensors = sqlite3_column_int64(st, 2);
        id->raw_bytes = sqlite3_column_int64(st, 3);
        id->stored_bytes = sqlite3_column_int64(st, 4);
        *found = 1;
    } else if (s != SQLITE_DONE) {
        rc = vs__store_sqlfail(t->db, s, "cannot read checkpoint file",
                               t->path);
    }
    sqlite3_finalize(st);
    return rc;
}

int vs__read_tx_init(vs__read_tx *t, sqlite3 *db, const char *path,
                     int64_t step)
{
    char mode[16];
    int found = 0;
    memset(t, 0, sizeof *t);
    t->db = db;
    t->path = path;
    t->step = step;
    t->t0 = now_ms();
    int rc = vs__store_journal_pragma(db, path, "PRAGMA journal_mode", mode);
    if (rc != VS_OK)
        return rc;
    t->renew = strcmp(mode, "wal") != 0 && !sqlite3_get_autocommit(db);
    if (!t->renew)
        return VS_OK;
    rc = read_identity(t, &t->id, &found);
    if (rc == VS_OK && !found)
        rc = vs__fail(VS_ENOTFOUND, "checkpoint %lld not found in %s",
                      (long long)step, path);
    return rc;
}

int vs__read_tx_due(const vs__read_tx *t)
{
    return t->renew &&
           (t->bytes >= VS_READ_TX_BYTES || now_ms() - t->t0 >= VS_READ_TX_MS);
}

int vs__read_tx_renew(vs__read_tx *t)
{
    int found = 0;
    vs__step_id id;
    int s = sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL);
    if (s != SQLITE_OK)
        return vs__store_sqlfail(t->db, s, "cannot read checkpoint file",
                                 t->path);
    if (vs__read_gap_hook != NULL)
        vs__read_gap_hook(t->path);
    s = sqlite3_exec(t->db, "BEGIN", NULL, NULL, NULL);
    if (s != SQLITE_OK)
        return vs__store_sqlfail(t->db, s, "cannot read checkpoint file",
                                 t->path);
    t->bytes = 0;
    t->t0 = now_ms();
    int rc = read_identity(t, &id, &found); /* the snapshot starts here */
    if (rc != VS_OK)
        return rc;
    if (!found || strcmp(id.created_at, t->id.created_at) != 0 ||
        id.created_unix != t->id.created_unix ||
        id.n_tensors != t->id.n_tensors || id.raw_bytes != t->id.raw_bytes ||
        id.stored_bytes != t->id.stored_bytes)
        return vs__fail(VS_ECHANGED,
                        "checkpoint %lld of %s was deleted or replaced while "
                        "it was being read",
                        (long long)t->step, t->path);
    return VS_OK;
}
