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

/* The tables (and views) a file of schema versions from..to must have:
 * from version 3, tensors is a view over names and tensor_rows. */
static const struct {
    const char *type, *name;
    int from, to;
} required_objects[] = {
    {"table", "meta", 1, 3},          {"table", "checkpoints", 1, 3},
    {"table", "scopes", 1, 3},        {"table", "variables", 1, 3},
    {"table", "tensors", 1, 2},       {"table", "names", 3, 3},
    {"table", "tensor_rows", 3, 3},   {"view", "tensors", 3, 3},
    {"table", "chunks", 1, 3},        {"table", "tensor_chunks", 1, 3},
};

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

/* VS_ECORRUPT when one of the objects version ver requires is missing. */
static int check_objects(sqlite3 *db, const char *path, int ver)
{
    sqlite3_stmt *st;
    int rc = vs__store_prepare(db,
                               "SELECT count(*) FROM sqlite_master WHERE "
                               "type=?1 AND name=?2",
                               &st, path);
    size_t n = sizeof required_objects / sizeof *required_objects;
    for (size_t i = 0; i < n && rc == VS_OK; i++) {
        if (ver < required_objects[i].from || ver > required_objects[i].to)
            continue;
        sqlite3_reset(st);
        int b = sqlite3_bind_text(st, 1, required_objects[i].type, -1,
                                  SQLITE_STATIC);
        if (b == SQLITE_OK)
            b = sqlite3_bind_text(st, 2, required_objects[i].name, -1,
                                  SQLITE_STATIC);
        int s = b == SQLITE_OK ? sqlite3_step(st) : SQLITE_OK;
        if (b != SQLITE_OK)
            rc = vs__store_bindfail(st, b, "cannot read checkpoint file",
                                    path);
        else if (s != SQLITE_ROW)
            rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
        else if (sqlite3_column_int64(st, 0) != 1)
            rc = vs__fail(VS_ECORRUPT,
                          "checkpoint file %s is corrupt: %s %s is missing",
                          path, required_objects[i].type,
                          required_objects[i].name);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Checks identity, version and tables through SQLite; the schema
 * version into *version (if not NULL). */
static int check_schema(sqlite3 *db, const char *path, int *version)
{
    int64_t app = 0, ver = 0;
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
    /* Version 1 files (and any older number) have version 1's tables. */
    if (version != NULL)
        *version = (int)ver;
    return check_objects(db, path, ver < 1 ? 1 : (int)ver);
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
 * the cache: a few pages that stay hot in the CPU caches beat a large
 * cache that every new connection faults in page by page. A warm load of
 * a 5 MB model (102 tensors) in a new process took 4.9 ms with 16 pages,
 * 5.9 ms with 64 (default codec 7.1 and 8.0 ms); 500 MB and 20000 tiny
 * tensors took the same time with either, and 8 pages were no faster. */
#define VS_READ_CACHE "16"

static int busy_or_default(int busy_ms)
{
    return busy_ms > 0 ? busy_ms : VS_BUSY_DEFAULT_MS;
}

/* Checks the header, creating the file first for VS_OPEN_CREATE;
 * *rollback: the header says rollback-journal mode. */
static int check_or_create(const char *path, int mode, uint32_t *page_size,
                           int *rollback)
{
    int rc = vs__store_check_header_mode(path, page_size, rollback);
    if (rc == VS_ENOTFOUND && mode == VS_OPEN_CREATE) {
        rc = vs__store_create_file(path);
        if (rc == VS_OK)
            rc = vs__store_check_header_mode(path, page_size, rollback);
    }
    return rc;
}

/* A writer first looks at the file through a read-only connection: a
 * read-write one would checkpoint a foreign log into the file on close. */
static int check_before_write(const char *path, uint32_t page_size)
{
    if (!vs__store_wal_present(path))
        return VS_OK; /* no log to check (rollback-journal files) */
    sqlite3 *db = NULL;
    int s = vs__store_open_reader(path, &db);
    int rc = s == SQLITE_OK
                 ? vs__store_check_wal_owner(db, path, page_size)
                 : vs__store_sqlfail(db, s, "cannot open checkpoint file",
                                     path);
    (void)sqlite3_close(db); /* read-only: nothing to lose */
    return rc;
}

/* How the checks' read transaction ends: committed (TX_END), kept for
 * the caller's reads (TX_KEEP), or kept when the file is free and, in a
 * rollback-journal file that a writer holds, not waited for (TX_TRY).
 * TX_WRITE: the checks run in the caller's write transaction instead
 * (checks_in_write), when the file allows it; TX_WRITE_NOSYNC: the same
 * with synchronous=OFF, for a new file that has no name yet (set before
 * the transaction: SQLite refuses to change it in one). */
enum { TX_END, TX_KEEP, TX_TRY, TX_WRITE, TX_WRITE_NOSYNC };
#define IS_TX_WRITE(tx) ((tx) == TX_WRITE || (tx) == TX_WRITE_NOSYNC)

/* A reader's first statement: it takes the file's lock (SHARED in a
 * rollback-journal file) for the rest of the transaction without reading
 * the schema. A first statement that needs the schema, while it is not
 * loaded, loads it in a transaction of its own and then takes the lock
 * again: two waits for a moment a save leaves the file free, not one. */
#define VS_READ_LOCK "PRAGMA schema_version"

int vs__store_read_checks(sqlite3 *db, const char *path)
{
    /* The cache size is set here, after the lock: setting it reads the
     * schema (in a transaction of its own outside this one). */
    int s = sqlite3_exec(db,
                         VS_READ_LOCK "; PRAGMA cache_size=" VS_READ_CACHE,
                         NULL, NULL, NULL);
    if (s != SQLITE_OK)
        return vs__store_sqlfail(db, s, "cannot open checkpoint file", path);
    int ver = 0;
    int rc = check_schema(db, path, &ver);
    if (rc == VS_OK)
        rc = vs__store_check_views(db, path, ver);
    return rc == VS_OK ? vs__store_check_table_sql(db, path) : rc;
}

/* TX_TRY: takes the file's lock without waiting, then restores busy_ms.
 * A writer holds the file: the (empty) transaction ends and *pending is
 * 1. Any other failure is left to the checks, which meet it again and
 * report it as an open that waited would. */
static int try_lock(sqlite3 *db, const char *path, int busy_ms, int *pending)
{
    int s = vs__store_busy(db, 0);
    int lk = s == SQLITE_OK ? sqlite3_exec(db, VS_READ_LOCK, NULL, NULL, NULL)
                            : SQLITE_OK;
    if (s == SQLITE_OK)
        s = vs__store_busy(db, busy_ms);
    if (s == SQLITE_OK && lk == SQLITE_BUSY) {
        *pending = 1;
        s = sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    if (s != SQLITE_OK)
        return vs__store_sqlfail(db, s, "cannot open checkpoint file", path);
    return VS_OK;
}

/* The schema checks in one read transaction: while a save holds the
 * file, each transaction of a reader waits for a moment the file is
 * free, so an open must not take one per check. */
static int checks_in_one_read(sqlite3 *db, const char *path, int mode,
                              int busy_ms, int tx, int *pending)
{
    int s = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    if (s != SQLITE_OK)
        return vs__store_sqlfail(db, s, "cannot open checkpoint file", path);
    if (tx == TX_TRY) {
        int rc = try_lock(db, path, busy_ms, pending);
        if (rc != VS_OK || *pending)
            return rc;
    }
    int rc = mode == VS_OPEN_READ ? vs__store_read_checks(db, path)
                                  : check_schema(db, path, NULL);
    if (rc == VS_OK && mode != VS_OPEN_READ)
        rc = vs__store_check_sql_objects(db, path);
    if (rc == VS_OK && tx != TX_END)
        return VS_OK; /* the caller's reads continue it */
    /* Only reads ran: ending the transaction cannot lose anything, and a
     * failure to end it is SQLite's error for the caller. */
    s = sqlite3_exec(db, rc == VS_OK ? "COMMIT" : "ROLLBACK", NULL, NULL,
                     NULL);
    if (rc == VS_OK && s != SQLITE_OK)
        rc = vs__store_sqlfail(db, s, "cannot open checkpoint file", path);
    return rc;
}

/* TX_WRITE: the checks in the write transaction, begun here (*in_tx 1)
 * when the file keeps its journal mode, DELETE (synchronous=EXTRA is
 * already set: it cannot change in a transaction); else rolled back
 * (*in_tx 0) for the checks' own read transaction and a change of mode.
 * A BEGIN that fails other than busy is left to that path, which reports
 * a failed check first, as without TX_WRITE. */
static int checks_in_write(sqlite3 *db, const char *path, int busy_ms,
                           int *in_tx)
{
    *in_tx = 0;
    int rc = vs__store_begin_immediate(db, path, busy_ms);
    if (rc != VS_OK)
        return rc == VS_EBUSY ? rc : VS_OK;
    int kept = 0;
    rc = check_schema(db, path, NULL);
    if (rc == VS_OK)
        rc = vs__store_check_sql_objects(db, path);
    if (rc == VS_OK)
        rc = vs__store_journal_kept(db, path, &kept);
    if (rc == VS_OK && kept) {
        rc = vs__store_write_marks(db, path); /* rolls back on failure */
        *in_tx = rc == VS_OK;
        return rc;
    }
    /* Only reads ran: the rollback cannot lose anything. */
    (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* A writer's settings, before any transaction: synchronous=FULL until
 * vs__store_write_durability has seen the journal mode, or EXTRA for
 * TX_WRITE (a rollback-journal file, as its header says). */
#define WRITE_PRAGMAS(sync)                                               \
    "PRAGMA synchronous=" sync "; PRAGMA temp_store=MEMORY; "               \
    "PRAGMA cache_size=-16384; PRAGMA secure_delete=FAST;"

/* The connection's settings and checks once SQLite has the file. Writers
 * use secure_delete=FAST: SQLite builds that default to ON (Debian's)
 * overwrite every freed page with zeros, so that deleting a checkpoint
 * would cost as much I/O as writing it; FAST zeroes freed b-tree content
 * only where that costs no extra I/O (docs/FORMAT.md section 7). */
static int configure(sqlite3 *db, const char *path, int mode, int busy_ms,
                     uint32_t page_size, int tx, int *pending, int *in_tx)
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
    if (rc != VS_OK)
        return rc;
    /* Before the checks' transaction: temp_store cannot change in one.
     * (A reader's cache size is set in it: vs__store_read_checks.) */
    s = sqlite3_exec(db,
                     mode == VS_OPEN_READ
                         ? "PRAGMA temp_store=MEMORY;"
                     : tx == TX_WRITE_NOSYNC ? WRITE_PRAGMAS("OFF")
                     : tx == TX_WRITE        ? WRITE_PRAGMAS("EXTRA")
                                             : WRITE_PRAGMAS("FULL"),
                     NULL, NULL, NULL);
    if (s == SQLITE_OK && IS_TX_WRITE(tx)) {
        rc = checks_in_write(db, path, busy_ms, in_tx);
        if (rc != VS_OK || *in_tx)
            return rc;
        tx = TX_END;
        s = sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
    }
    if (s != SQLITE_OK)
        return vs__store_sqlfail(db, s, "cannot open checkpoint file", path);
    rc = checks_in_one_read(db, path, mode, busy_ms, tx, pending);
    if (rc == VS_OK && mode != VS_OPEN_READ)
        rc = vs__store_write_durability(db, path, busy_ms);
    return rc;
}

/* tx: how the checks' read transaction ends (TX_*); *pending (TX_TRY
 * only): the checks were not run, a writer held the file; *in_tx
 * (TX_WRITE only): the write transaction is open. */
static int open_conn(const char *path, int mode, int busy_ms, int tx,
                     int *pending, int *in_tx, sqlite3 **out)
{
    *out = NULL;
    if (path == NULL || *path == '\0')
        return vs__fail(VS_EINVAL, "checkpoint path is NULL or empty");
    uint32_t page_size = 0;
    int rollback = 0;
    int rc = check_or_create(path, mode, &page_size, &rollback);
    if (rc == VS_OK && mode != VS_OPEN_READ)
        rc = check_before_write(path, page_size);
    if (rc != VS_OK)
        return rc;
    /* Known before any lock: only a rollback-journal file makes readers
     * wait (a -wal beside it would make SQLite read it as a WAL file). */
    if (tx == TX_TRY && (!rollback || vs__store_wal_present(path)))
        tx = TX_KEEP;
    if (IS_TX_WRITE(tx) && (!rollback || vs__store_wal_present(path)))
        tx = TX_END;
    sqlite3 *db = NULL;
    int s = mode == VS_OPEN_READ
                ? vs__store_open_reader(path, &db)
                : vs__store_open_plain(path, &db, SQLITE_OPEN_READWRITE);
    rc = s == SQLITE_OK ? configure(db, path, mode, busy_or_default(busy_ms),
                                    page_size, tx, pending, in_tx)
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

int vs__store_open(const char *path, int mode, int busy_ms, sqlite3 **out)
{
    return open_conn(path, mode, busy_ms, TX_END, NULL, NULL, out);
}

int vs__store_open_save(const char *path, int busy_ms, int nosync,
                        sqlite3 **out, int *in_tx)
{
    *in_tx = 0;
    return open_conn(path, VS_OPEN_CREATE, busy_ms,
                     nosync ? TX_WRITE_NOSYNC : TX_WRITE, NULL, in_tx, out);
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
    /* One read transaction for the checks and the caller's first reads:
     * while a save holds the file, each transaction waits for a moment
     * it is free. */
    return open_conn(path, VS_OPEN_READ, 0, TX_KEEP, NULL, NULL, db);
}

int vs__store_open_read_try(const char *path, sqlite3 **db, int *pending)
{
    *pending = 0;
    return open_conn(path, VS_OPEN_READ, 0, TX_TRY, pending, NULL, db);
}

