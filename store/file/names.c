/* varstore: tensor names stored once (schema version 3). Each name is one
 * row of names; the per-step rows of tensor_rows refer to it by id, and
 * the view tensors joins them back into the columns of version 2's
 * tensors table. Here: adding a name, dropping the names no row uses any
 * more, and the in-place upgrade of a version-2 table. */
#include "file/schema.h"
#include "store_int.h"

int vs__store_put_name(sqlite3 *db, sqlite3_stmt *put, const char *name,
                       const char *what, const char *path)
{
    sqlite3_reset(put);
    int b = sqlite3_bind_text(put, 1, name, -1, SQLITE_STATIC);
    if (b != SQLITE_OK)
        return vs__store_bindfail(put, b, what, path);
    int s = sqlite3_step(put);
    if (s != SQLITE_DONE)
        return vs__store_sqlfail(db, s, what, path);
    return VS_OK;
}

int vs__store_drop_step_names(sqlite3 *db, const char *path, int64_t step)
{
    sqlite3_stmt *st;
    int rc = vs__store_prepare(db,
                               "DELETE FROM names WHERE id IN (SELECT "
                               "name_id FROM tensor_rows WHERE step=?1) AND "
                               "NOT EXISTS (SELECT 1 FROM tensor_rows r WHERE "
                               "r.name_id = names.id AND r.step <> ?1)",
                               &st, path);
    if (rc != VS_OK)
        return rc;
    return vs__store_step_done(db, st, sqlite3_bind_int64(st, 1, step), path);
}

int vs__store_drop_unused_names(sqlite3 *db, const char *path)
{
    return vs__store_exec(db,
                          "DELETE FROM names WHERE NOT EXISTS (SELECT 1 FROM "
                          "tensor_rows r WHERE r.name_id = names.id)",
                          path);
}

/* VS_ECORRUPT unless the query (a comparison) gives 1. */
static int expect_true(sqlite3 *db, const char *sql, const char *path)
{
    sqlite3_stmt *st;
    int rc = vs__store_prepare(db, sql, &st, path);
    if (rc != VS_OK)
        return rc;
    int s = sqlite3_step(st);
    if (s != SQLITE_ROW)
        rc = vs__store_sqlfail(db, s, "cannot update checkpoint file", path);
    else if (sqlite3_column_int(st, 0) != 1)
        rc = vs__fail(VS_ECORRUPT,
                      "checkpoint file %s is corrupt: its tensor rows do not "
                      "all have a name; not upgraded",
                      path);
    sqlite3_finalize(st);
    return rc;
}

int vs__store_upgrade_names(sqlite3 *db, const char *path)
{
    /* Every row keeps its id (tensor_chunks refers to it), its columns
     * and its CRCs as they are: damage stays visible after the upgrade. */
    int rc = vs__store_exec(
        db,
        VS_SQL_NAMES_TABLE "; INSERT INTO names(name) SELECT DISTINCT name "
        "FROM tensors ORDER BY name; " VS_SQL_TENSOR_ROWS_TABLE "; "
        "INSERT INTO tensor_rows(id, step, name_id, dtype, shape, numel, "
        "codec, chunk_bytes, n_chunks, raw_bytes, stored_bytes, crc32, min, "
        "max, mean, std, n_nan, n_inf, meta_crc) SELECT t.id, t.step, n.id, "
        "t.dtype, t.shape, t.numel, t.codec, t.chunk_bytes, t.n_chunks, "
        "t.raw_bytes, t.stored_bytes, t.crc32, t.min, t.max, t.mean, t.std, "
        "t.n_nan, t.n_inf, t.meta_crc FROM tensors t JOIN names n ON "
        "n.name = t.name;",
        path);
    if (rc == VS_OK)
        rc = expect_true(db,
                         "SELECT (SELECT count(*) FROM tensors) = (SELECT "
                         "count(*) FROM tensor_rows)",
                         path);
    /* The old table's pages (every step's names) go back to the file
     * system: the vacuum moves as many pages as were freed. */
    if (rc == VS_OK)
        rc = vs__store_exec(db,
                            "DROP VIEW IF EXISTS latest; DROP TABLE tensors; "
                            VS_SQL_TENSOR_ROWS_INDEX "; " VS_SQL_TENSORS_VIEW
                            "; " VS_SQL_LATEST_VIEW "; PRAGMA "
                            "incremental_vacuum;",
                            path);
    return rc;
}
