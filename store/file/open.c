/* varstore: opening and creating checkpoint files (schema, pragmas,
 * identity checks). */
#define _GNU_SOURCE /* link(), fsync() on directories, O_CLOEXEC */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"

static const char *const required_tables[] = {
    "meta", "checkpoints", "scopes", "variables", "tensors", "chunks",
    "tensor_chunks"};

static int pragma_int(sqlite3 *db, const char *sql, int64_t *v)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *v = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Checks identity, version and tables through SQLite. */
static int check_schema(sqlite3 *db, const char *path)
{
    int64_t app = 0, ver = 0, n = 0;
    int rc = pragma_int(db, "PRAGMA application_id", &app);
    if (rc != SQLITE_OK)
        return vs__store_sqlfail(db, rc, "cannot read checkpoint file", path);
    if ((uint32_t)app != VS_APP_ID)
        return vs__fail(VS_EINVAL,
                        "%s is not a varstore checkpoint file: SQLite "
                        "application_id is 0x%08x, not 0x%08x",
                        path, (unsigned)(uint32_t)app, (unsigned)VS_APP_ID);
    rc = pragma_int(db, "PRAGMA user_version", &ver);
    if (rc != SQLITE_OK)
        return vs__store_sqlfail(db, rc, "cannot read checkpoint file", path);
    if (ver > VS_SCHEMA_VERSION)
        return vs__fail(VS_EINVAL,
                        "checkpoint file %s has schema version %lld, newer "
                        "than the %d this varstore %s reads; upgrade varstore",
                        path, (long long)ver, VS_SCHEMA_VERSION,
                        VS_VERSION_STRING);
    sqlite3_stmt *st;
    rc = sqlite3_prepare_v2(db,
                            "SELECT count(*) FROM sqlite_master WHERE "
                            "type='table' AND name=?1",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return vs__store_sqlfail(db, rc, "cannot read checkpoint file", path);
    for (size_t i = 0; i < sizeof required_tables / sizeof *required_tables;
         i++) {
        int b = sqlite3_bind_text(st, 1, required_tables[i], -1,
                                  SQLITE_STATIC);
        if (b != SQLITE_OK) {
            int r = vs__store_bindfail(st, b, "cannot read checkpoint file",
                                       path);
            sqlite3_finalize(st);
            return r;
        }
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
            int r = vs__store_sqlfail(db, rc, "cannot read checkpoint file",
                                      path);
            sqlite3_finalize(st);
            return r;
        }
        n = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (n != 1) {
            sqlite3_finalize(st);
            return vs__fail(VS_ECORRUPT,
                            "checkpoint file %s is corrupt: table %s is "
                            "missing",
                            path, required_tables[i]);
        }
    }
    sqlite3_finalize(st);
    return VS_OK;
}

/* SQLite may read "file:..." as a URI (SQLITE_USE_URI builds): name such
 * paths "./file:..." so SQLite opens the same file we checked. */
int vs__store_open_plain(const char *path, sqlite3 **db, int flags)
{
    if (strncmp(path, "file:", 5) != 0)
        return sqlite3_open_v2(path, db, flags, NULL);
    char *p = vs__asprintf("./%s", path);
    if (p == NULL) {
        *db = NULL;
        return SQLITE_NOMEM;
    }
    int rc = sqlite3_open_v2(p, db, flags, NULL);
    vs__free(p);
    return rc;
}

/* A reader's page cache, in pages. Tensor bytes are read once, through
 * the cache: a few dozen pages that stay hot in the CPU caches beat a
 * large cache that every new connection would fault in page by page. */
#define VS_READ_CACHE "64"

static int busy_or_default(int busy_ms)
{
    return busy_ms > 0 ? busy_ms : VS_BUSY_DEFAULT_MS;
}

/* Checks the header, creating the file first for VS_OPEN_CREATE. */
static int check_or_create(const char *path, int mode, uint32_t *page_size)
{
    int rc = vs__store_check_header(path, page_size);
    if (rc == VS_ENOTFOUND && mode == VS_OPEN_CREATE) {
        rc = vs__store_create_file(path);
        if (rc == VS_OK)
            rc = vs__store_check_header(path, page_size);
    }
    return rc;
}

/* A writer first looks at the file through a read-only connection: a
 * read-write one would checkpoint a foreign log into the file on close. */
static int check_before_write(const char *path, uint32_t page_size)
{
    sqlite3 *db = NULL;
    int s = vs__store_open_reader(path, &db);
    int rc = s == SQLITE_OK
                 ? vs__store_check_wal_owner(db, path, page_size)
                 : vs__store_sqlfail(db, s, "cannot open checkpoint file",
                                     path);
    (void)sqlite3_close(db); /* read-only: nothing to lose */
    return rc;
}

/* The connection's settings and checks once SQLite has the file. */
static int configure(sqlite3 *db, const char *path, int mode, int busy_ms,
                     uint32_t page_size)
{
    int s = sqlite3_extended_result_codes(db, 0);
    if (s == SQLITE_OK)
        s = vs__store_busy(db, busy_ms);
    /* SQL stored in the file never runs: no triggers, and no functions
     * with side effects from the schema. */
    if (s == SQLITE_OK)
        s = sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
    if (s == SQLITE_OK)
        s = sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    if (s != SQLITE_OK)
        return vs__store_sqlfail(db, s, "cannot open checkpoint file", path);
    int rc = mode == VS_OPEN_READ
                 ? vs__store_check_wal_owner(db, path, page_size)
                 : VS_OK;
    if (rc == VS_OK)
        rc = check_schema(db, path);
    if (rc == VS_OK && mode != VS_OPEN_READ)
        rc = vs__store_check_sql_objects(db, path);
    if (rc != VS_OK)
        return rc;
    s = sqlite3_exec(db,
                     mode == VS_OPEN_READ
                         ? "PRAGMA temp_store=MEMORY; "
                           "PRAGMA cache_size=" VS_READ_CACHE ";"
                         : "PRAGMA synchronous=FULL; PRAGMA "
                           "temp_store=MEMORY; PRAGMA cache_size=-16384;",
                     NULL, NULL, NULL);
    if (s != SQLITE_OK)
        return vs__store_sqlfail(db, s, "cannot open checkpoint file", path);
    if (mode != VS_OPEN_READ)
        return vs__store_write_durability(db, path, busy_ms);
    return VS_OK;
}

int vs__store_open(const char *path, int mode, int busy_ms, sqlite3 **out)
{
    *out = NULL;
    if (path == NULL || *path == '\0')
        return vs__fail(VS_EINVAL, "checkpoint path is NULL or empty");
    uint32_t page_size = 0;
    int rc = check_or_create(path, mode, &page_size);
    if (rc == VS_OK && mode != VS_OPEN_READ)
        rc = check_before_write(path, page_size);
    if (rc != VS_OK)
        return rc;
    sqlite3 *db = NULL;
    int s = mode == VS_OPEN_READ
                ? vs__store_open_reader(path, &db)
                : vs__store_open_plain(path, &db, SQLITE_OPEN_READWRITE);
    rc = s == SQLITE_OK ? configure(db, path, mode, busy_or_default(busy_ms),
                                    page_size)
                        : vs__store_sqlfail(db, s,
                                            "cannot open checkpoint file",
                                            path);
    if (rc != VS_OK) {
        /* Failed checks: the connection wrote nothing, closing it cannot
         * lose data. */
        (void)sqlite3_close(db);
        return rc;
    }
    *out = db;
    return VS_OK;
}

int vs__store_open_write(const char *path, int mode, sqlite3 **db)
{
    int rc = vs__store_open(path, mode, 0, db);
    if (rc != VS_OK)
        return rc;
    rc = vs__store_begin_write(*db, path, VS_BUSY_DEFAULT_MS);
    if (rc != VS_OK) {
        vs__store_close(*db);
        *db = NULL;
    }
    return rc;
}

int vs__store_open_read(const char *path, sqlite3 **db)
{
    int rc = vs__store_open(path, VS_OPEN_READ, 0, db);
    if (rc != VS_OK)
        return rc;
    int s = sqlite3_exec(*db, "BEGIN", NULL, NULL, NULL);
    if (s != SQLITE_OK) {
        rc = vs__store_sqlfail(*db, s, "cannot read checkpoint file", path);
        vs__store_close(*db);
        *db = NULL;
    }
    return rc;
}

