/* varstore: vs_verify's checks of rows that no read of a listed tensor
 * meets, each of which a writer never leaves: a checkpoint with a
 * negative step, a tensor with an empty name or one that is not text,
 * tensor rows of no checkpoint or (version 3) of no name, chunk list rows
 * of no tensor, and a chunk whose recorded stored size is not its
 * data's. A file edited
 * with its checksums recomputed can hold them and still have every step
 * match its checkpoint row; reads and saves then fail (a listed name no
 * lookup finds; a save whose new tensor id meets the chunk rows of a
 * deleted one), so verify names them. */
#include <stdint.h>
#include <stdio.h>

#include "store_int.h"

/* Each query gives the count of bad rows and a description of the first:
 * the version-3 text, and the one for the tensors table of versions 1
 * and 2 (NULL: not a check there; SAME: the version-3 text). */
#define SAME ""
static const struct {
    const char *v3, *old;
} checks[] = {
    {"SELECT count(*), (SELECT printf('step %d is negative', step) FROM "
     "checkpoints WHERE step < 0 ORDER BY step LIMIT 1) FROM checkpoints "
     "WHERE step < 0",
     SAME},
    {"SELECT count(*), (SELECT printf('a tensor at step %d has a name "
     "stored as %s, not text: no lookup by name finds it', step, "
     "typeof(name)) FROM tensors WHERE typeof(name) <> 'text' LIMIT 1) "
     "FROM tensors WHERE typeof(name) <> 'text'",
     SAME},
    {"SELECT count(*), (SELECT printf('a tensor at step %d has an empty "
     "name', step) FROM tensors WHERE name = '' LIMIT 1) FROM tensors "
     "WHERE name = ''",
     SAME},
    {"SELECT count(*), (SELECT printf('tensor row %d is of step %d, which "
     "has no checkpoint row', id, step) FROM tensor_rows WHERE step NOT IN "
     "(SELECT step FROM checkpoints) LIMIT 1) FROM tensor_rows WHERE step "
     "NOT IN (SELECT step FROM checkpoints)",
     "SELECT count(*), (SELECT printf('tensor row %d is of step %d, which "
     "has no checkpoint row', id, step) FROM tensors WHERE step NOT IN "
     "(SELECT step FROM checkpoints) LIMIT 1) FROM tensors WHERE step NOT "
     "IN (SELECT step FROM checkpoints)"},
    {"SELECT count(*), (SELECT printf('tensor row %d at step %d has no "
     "name: names row %d is missing', id, step, name_id) FROM tensor_rows "
     "WHERE name_id NOT IN (SELECT id FROM names) LIMIT 1) FROM "
     "tensor_rows WHERE name_id NOT IN (SELECT id FROM names)",
     NULL},
    {"SELECT count(*), (SELECT printf('chunk list rows of tensor row %d, "
     "which does not exist', tensor_id) FROM tensor_chunks WHERE tensor_id "
     "NOT IN (SELECT id FROM tensor_rows) LIMIT 1) FROM tensor_chunks "
     "WHERE tensor_id NOT IN (SELECT id FROM tensor_rows)",
     "SELECT count(*), (SELECT printf('chunk list rows of tensor row %d, "
     "which does not exist', tensor_id) FROM tensor_chunks WHERE tensor_id "
     "NOT IN (SELECT id FROM tensors) LIMIT 1) FROM tensor_chunks WHERE "
     "tensor_id NOT IN (SELECT id FROM tensors)"},
    {"SELECT count(*), (SELECT printf('chunk %d records %s stored bytes, "
     "its data has %d', id, quote(stored_bytes), length(data)) FROM chunks "
     "WHERE stored_bytes IS NOT length(data) LIMIT 1) FROM chunks WHERE "
     "stored_bytes IS NOT length(data)",
     SAME},
};

/* Runs one check; a bad row gives note a message naming the first. */
static int run_check(sqlite3 *db, const char *path, const char *sql,
                     vs__verify_note_fn note, void *ctx)
{
    sqlite3_stmt *st = NULL;
    int rc = vs__store_prepare(db, sql, &st, path);
    if (rc != VS_OK)
        return rc;
    int s = sqlite3_step(st);
    if (s != SQLITE_ROW) {
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
    } else if (sqlite3_column_int64(st, 0) > 0) {
        const char *what = (const char *)sqlite3_column_text(st, 1);
        char msg[VS_ERRMSG_MAX];
        snprintf(msg, sizeof msg,
                 "checkpoint file %s is corrupt: %s (%lld such rows)", path,
                 what != NULL ? what : "a row out of place",
                 (long long)sqlite3_column_int64(st, 0));
        note(ctx, msg);
    }
    sqlite3_finalize(st);
    return rc;
}

int vs__verify_rows(sqlite3 *db, const char *path, vs__verify_note_fn note,
                    void *ctx)
{
    int ver = 0;
    int rc = vs__store_version(db, path, &ver);
    for (size_t i = 0; rc == VS_OK && i < sizeof checks / sizeof *checks;
         i++) {
        const char *sql = ver >= 3 ? checks[i].v3 : checks[i].old;
        if (sql != NULL && sql[0] == '\0')
            sql = checks[i].v3; /* tables of every version */
        if (sql != NULL)
            rc = run_check(db, path, sql, note, ctx);
    }
    return rc;
}
