/* varstore: the checksums over a checkpoint's metadata (schema version 2)
 * and the checks of the SQL a file holds: each tensors row's meta_crc
 * covers its name, dtype and shape; each checkpoints row's tensors_crc
 * covers the names of its tensors; the columns are the schema's; triggers
 * and views the schema does not define are refused, and from version 3
 * the schema's views must be its own text. Files of older versions are
 * upgraded in their first write transaction. */
#include <string.h>

#include "file/schema.h"
#include "store_int.h"

int vs__store_version(sqlite3 *db, const char *path, int *ver)
{
    sqlite3_stmt *st;
    int rc = vs__store_prepare(db, "PRAGMA user_version", &st, path);
    if (rc != VS_OK)
        return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        *ver = sqlite3_column_int(st, 0);
    else
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
    sqlite3_finalize(st);
    return rc;
}

uint32_t vs__store_meta_crc(const char *name, const char *dtype,
                            const char *shape)
{
    uint32_t c = vs__crc32(0, name, strlen(name) + 1);
    c = vs__crc32(c, dtype, strlen(dtype) + 1);
    return vs__crc32(c, shape, strlen(shape));
}

/* The CRC of the names of step's tensors (name order, each with its NUL)
 * and their count. */
static int names_crc(sqlite3 *db, const char *path, int64_t step,
                     uint32_t *crc, int64_t *count)
{
    sqlite3_stmt *st;
    *crc = 0;
    *count = 0;
    int rc = vs__store_prepare(db,
                               "SELECT name FROM tensors WHERE step=?1 ORDER "
                               "BY name",
                               &st, path);
    if (rc != VS_OK)
        return rc;
    int b = sqlite3_bind_int64(st, 1, step);
    if (b != SQLITE_OK)
        rc = vs__store_bindfail(st, b, "cannot read checkpoint file", path);
    int s = SQLITE_DONE;
    while (rc == VS_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *n = sqlite3_column_text(st, 0);
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        if (n == NULL && len == 0)
            n = (const unsigned char *)"";
        if (n == NULL)
            rc = vs__fail(VS_ENOMEM, "out of memory");
        else
            *crc = vs__crc32(*crc, n, len + 1);
        (*count)++;
    }
    if (rc == VS_OK && s != SQLITE_DONE)
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
    sqlite3_finalize(st);
    return rc;
}

uint32_t vs__store_names_crc_add(uint32_t crc, const char *name)
{
    return vs__crc32(crc, name, strlen(name) + 1);
}

int vs__store_check_step(sqlite3 *db, const char *path, int64_t step)
{
    int ver = 0;
    int rc = vs__store_version(db, path, &ver);
    sqlite3_stmt *st = NULL;
    if (rc == VS_OK)
        rc = vs__store_prepare(db,
                               ver >= 2 ? "SELECT n_tensors, tensors_crc "
                                          "FROM checkpoints WHERE step=?1"
                                        : "SELECT n_tensors, 0 FROM "
                                          "checkpoints WHERE step=?1",
                               &st, path);
    if (rc != VS_OK)
        return rc;
    int b = sqlite3_bind_int64(st, 1, step);
    int s = b == SQLITE_OK ? sqlite3_step(st) : SQLITE_OK;
    if (b != SQLITE_OK)
        rc = vs__store_bindfail(st, b, "cannot read checkpoint file", path);
    else if (s != SQLITE_ROW)
        rc = s == SQLITE_DONE
                 ? vs__fail(VS_ENOTFOUND, "checkpoint file %s has no step %lld",
                            path, (long long)step)
                 : vs__store_sqlfail(db, s, "cannot read checkpoint file",
                                     path);
    int64_t want_n = rc == VS_OK ? sqlite3_column_int64(st, 0) : 0;
    uint32_t want_crc = 0;
    int bad = rc == VS_OK && vs__crc_column(st, 1, &want_crc) != 0;
    sqlite3_finalize(st);
    uint32_t crc;
    int64_t n;
    if (rc == VS_OK)
        rc = names_crc(db, path, step, &crc, &n);
    if (rc == VS_OK && (bad || n != want_n || (ver >= 2 && crc != want_crc)))
        rc = vs__fail(VS_ECORRUPT,
                      "checkpoint file %s is corrupt: step %lld: its tensors "
                      "do not match the checkpoint row (%lld rows, %lld "
                      "saved, or names changed)",
                      path, (long long)step, (long long)n, (long long)want_n);
    return rc;
}

int vs__store_seal_step(sqlite3 *db, const char *path, int64_t step)
{
    uint32_t crc;
    int64_t n;
    int rc = names_crc(db, path, step, &crc, &n);
    sqlite3_stmt *st = NULL;
    if (rc == VS_OK)
        rc = vs__store_prepare(db,
                               "UPDATE checkpoints SET tensors_crc=?1, "
                               "n_tensors=?2 WHERE step=?3",
                               &st, path);
    if (rc != VS_OK)
        return rc;
    int b = sqlite3_bind_int64(st, 1, (int64_t)crc);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 2, n);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 3, step);
    return vs__store_step_done(db, st, b, path);
}

/* The columns of every table (and of the view tensors), sorted by name,
 * for the schema versions from..to: version 2 adds
 * checkpoints.tensors_crc and tensors.meta_crc; version 3 stores names
 * once (names, tensor_rows) and makes tensors a view with the same
 * columns. A file whose schema text was changed (a renamed or dropped
 * column) is damaged, not a query error. */
static const struct {
    const char *table;
    int from, to;
    const char *columns;
} expected_columns[] = {
    {"meta", 1, 3, "key,value"},
    {"checkpoints", 1, 1,
     "created_at,created_unix,keep,n_tensors,new_bytes,raw_bytes,step,"
     "stored_bytes,writer"},
    {"checkpoints", 2, 3,
     "created_at,created_unix,keep,n_tensors,new_bytes,raw_bytes,step,"
     "stored_bytes,tensors_crc,writer"},
    {"scopes", 1, 3, "dtype,initializer,name,name_scope,parent,reuse"},
    {"variables", 1, 3,
     "dtype,initializer,key,name,scope,shape,step,trainable"},
    {"tensors", 1, 1,
     "chunk_bytes,codec,crc32,dtype,id,max,mean,min,n_chunks,n_inf,n_nan,"
     "name,numel,raw_bytes,shape,std,step,stored_bytes"},
    {"tensors", 2, 3,
     "chunk_bytes,codec,crc32,dtype,id,max,mean,meta_crc,min,n_chunks,n_inf,"
     "n_nan,name,numel,raw_bytes,shape,std,step,stored_bytes"},
    {"names", 3, 3, "id,name"},
    {"tensor_rows", 3, 3,
     "chunk_bytes,codec,crc32,dtype,id,max,mean,meta_crc,min,n_chunks,n_inf,"
     "n_nan,name_id,numel,raw_bytes,shape,std,step,stored_bytes"},
    {"chunks", 1, 3,
     "codec,crc32,data,elem_size,hash,id,raw_bytes,stored_bytes"},
    {"tensor_chunks", 1, 3, "chunk_id,seq,tensor_id"},
};

/* VS_ECORRUPT unless table (st: its sorted column list) has want. */
static int check_table_columns(sqlite3 *db, sqlite3_stmt *st,
                               const char *table, const char *want,
                               const char *path)
{
    sqlite3_reset(st);
    int b = sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    if (b != SQLITE_OK)
        return vs__store_bindfail(st, b, "cannot read checkpoint file", path);
    int s = sqlite3_step(st);
    if (s != SQLITE_ROW)
        return vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
    const char *got = (const char *)sqlite3_column_text(st, 0);
    if (got == NULL || strcmp(got, want) != 0)
        return vs__fail(VS_ECORRUPT,
                        "checkpoint file %s is corrupt: table %s has the "
                        "columns (%s), not the schema's (%s)",
                        path, table, got != NULL ? got : "none", want);
    return VS_OK;
}

static int check_columns(sqlite3 *db, const char *path, int ver)
{
    sqlite3_stmt *st = NULL;
    int rc = vs__store_prepare(db,
                               "SELECT group_concat(name, ',') FROM (SELECT "
                               "name FROM pragma_table_info(?1) ORDER BY "
                               "name)",
                               &st, path);
    size_t n = sizeof expected_columns / sizeof expected_columns[0];
    for (size_t i = 0; i < n && rc == VS_OK; i++)
        if (expected_columns[i].from <= ver && ver <= expected_columns[i].to)
            rc = check_table_columns(db, st, expected_columns[i].table,
                                     expected_columns[i].columns, path);
    sqlite3_finalize(st);
    return rc;
}

/* From version 3 the views tensors and latest must be the schema's own,
 * word for word (readers rely on them to give the stored rows). */
static int check_views(sqlite3 *db, const char *path)
{
    static const char *const views[][2] = {
        {"tensors", VS_SQL_TENSORS_VIEW},
        {"latest", VS_SQL_LATEST_VIEW},
    };
    sqlite3_stmt *st = NULL;
    int rc = vs__store_prepare(db,
                               "SELECT sql FROM sqlite_master WHERE "
                               "type='view' AND name=?1",
                               &st, path);
    for (size_t i = 0; i < 2 && rc == VS_OK; i++) {
        sqlite3_reset(st);
        int b = sqlite3_bind_text(st, 1, views[i][0], -1, SQLITE_STATIC);
        int s = b == SQLITE_OK ? sqlite3_step(st) : SQLITE_OK;
        const char *sql = s == SQLITE_ROW
                              ? (const char *)sqlite3_column_text(st, 0)
                              : NULL;
        if (b != SQLITE_OK)
            rc = vs__store_bindfail(st, b, "cannot read checkpoint file",
                                    path);
        else if (s != SQLITE_ROW && s != SQLITE_DONE)
            rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
        else if (sql == NULL)
            rc = vs__fail(VS_ECORRUPT,
                          "checkpoint file %s is corrupt: view %s is missing",
                          path, views[i][0]);
        else if (strcmp(sql, views[i][1]) != 0)
            rc = vs__fail(VS_ECORRUPT,
                          "checkpoint file %s is corrupt: view %s is not the "
                          "varstore schema's",
                          path, views[i][0]);
    }
    sqlite3_finalize(st);
    return rc;
}

/* VS_ECORRUPT when the file holds a trigger, or a view the schema does
 * not define. */
static int check_no_foreign_sql(sqlite3 *db, const char *path)
{
    sqlite3_stmt *st;
    int rc = vs__store_prepare(db,
                               "SELECT type, name FROM sqlite_master WHERE "
                               "type='trigger' OR (type='view' AND name NOT "
                               "IN ('latest', 'tensors')) LIMIT 1",
                               &st, path);
    if (rc != VS_OK)
        return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        rc = vs__fail(VS_ECORRUPT,
                      "checkpoint file %s is corrupt: it holds a %s (%s) that "
                      "the varstore schema does not define",
                      path, (const char *)sqlite3_column_text(st, 0),
                      (const char *)sqlite3_column_text(st, 1));
    else if (s != SQLITE_DONE)
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
    sqlite3_finalize(st);
    return rc;
}

int vs__store_check_views(sqlite3 *db, const char *path, int ver)
{
    return ver >= 3 ? check_views(db, path) : VS_OK;
}

int vs__store_check_sql_objects(sqlite3 *db, const char *path)
{
    int ver = 0;
    int rc = vs__store_version(db, path, &ver);
    if (rc == VS_OK)
        rc = check_columns(db, path, ver < 1 ? 1 : ver);
    if (rc == VS_OK)
        rc = check_no_foreign_sql(db, path);
    if (rc == VS_OK)
        rc = vs__store_check_schema_sql(db, path);
    if (rc == VS_OK)
        rc = vs__store_check_views(db, path, ver);
    return rc;
}

/* Fills meta_crc of every tensors row (version 1 files had none). */
static int fill_meta_crcs(sqlite3 *db, const char *path)
{
    sqlite3_stmt *q = NULL, *u = NULL;
    int rc = vs__store_prepare(db, "SELECT id, name, dtype, shape FROM tensors",
                               &q, path);
    if (rc == VS_OK)
        rc = vs__store_prepare(db, "UPDATE tensors SET meta_crc=?1 WHERE id=?2",
                               &u, path);
    int s = SQLITE_DONE;
    while (rc == VS_OK && (s = sqlite3_step(q)) == SQLITE_ROW) {
        const char *n = (const char *)sqlite3_column_text(q, 1);
        const char *d = (const char *)sqlite3_column_text(q, 2);
        const char *sh = (const char *)sqlite3_column_text(q, 3);
        uint32_t crc = vs__store_meta_crc(n ? n : "", d ? d : "", sh ? sh : "");
        sqlite3_reset(u);
        int b = sqlite3_bind_int64(u, 1, (int64_t)crc);
        if (b == SQLITE_OK)
            b = sqlite3_bind_int64(u, 2, sqlite3_column_int64(q, 0));
        if (b != SQLITE_OK)
            rc = vs__store_bindfail(u, b, "cannot update checkpoint file",
                                    path);
        else if (sqlite3_step(u) != SQLITE_DONE)
            rc = vs__store_sqlfail(db, sqlite3_errcode(db),
                                   "cannot update checkpoint file", path);
    }
    if (rc == VS_OK && s != SQLITE_DONE)
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
    sqlite3_finalize(q);
    sqlite3_finalize(u);
    return rc;
}

/* Seals every checkpoint (tensors_crc from its rows as they are). */
static int seal_all_steps(sqlite3 *db, const char *path)
{
    sqlite3_stmt *q = NULL;
    int rc = vs__store_prepare(db, "SELECT step FROM checkpoints", &q, path);
    int s = SQLITE_DONE;
    while (rc == VS_OK && (s = sqlite3_step(q)) == SQLITE_ROW)
        rc = vs__store_seal_step(db, path, sqlite3_column_int64(q, 0));
    if (rc == VS_OK && s != SQLITE_DONE)
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
    sqlite3_finalize(q);
    return rc;
}

/* Version 1 -> 2: the metadata checksums, computed from the rows as they
 * are now. */
static int upgrade_to_2(sqlite3 *db, const char *path)
{
    int rc = vs__store_exec(db,
                            "ALTER TABLE tensors ADD COLUMN meta_crc INTEGER; "
                            "ALTER TABLE checkpoints ADD COLUMN tensors_crc "
                            "INTEGER;",
                            path);
    if (rc == VS_OK)
        rc = fill_meta_crcs(db, path);
    if (rc == VS_OK)
        rc = seal_all_steps(db, path);
    return rc;
}

/* Files of versions 1 and 2 are WAL files, as every file their releases
 * made (meta 'journal' = 'wal', or no row in the oldest): version 3's
 * writers make rollback-journal files, which write a save's pages once,
 * and move these too. The declaration is what writers keep: the first
 * writer after this transaction that has the file to itself switches the
 * header (vs__store_write_durability). A file declared 'delete' stays so;
 * vs_set_journal_mode, which upgrades the file first, can choose WAL
 * again for good. */
static int declare_rollback_journal(sqlite3 *db, const char *path)
{
    return vs__store_exec(db,
                          "INSERT INTO meta(key, value) VALUES ('journal', "
                          "'delete') ON CONFLICT(key) DO UPDATE SET "
                          "value='delete' WHERE value='wal'",
                          path);
}

_Static_assert(VS_SCHEMA_VERSION == 3,
               "vs__store_upgrade must lead to the new version");

int vs__store_upgrade(sqlite3 *db, const char *path)
{
    int ver = 0;
    int rc = vs__store_version(db, path, &ver);
    if (rc != VS_OK || ver >= VS_SCHEMA_VERSION)
        return rc;
    if (ver < 2)
        rc = upgrade_to_2(db, path);
    /* Version 2 -> 3: names stored once, and the rollback journal. */
    if (rc == VS_OK)
        rc = vs__store_upgrade_names(db, path);
    if (rc == VS_OK)
        rc = declare_rollback_journal(db, path);
    if (rc == VS_OK)
        rc = vs__store_exec(db, "PRAGMA user_version=3", path);
    return rc;
}
