/* varstore: opening, creating and validating checkpoint files (schema,
 * pragmas, header checks), and small SQL helpers used by store/. */
#define _GNU_SOURCE /* link(), fsync() on directories, O_CLOEXEC */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store_int.h"

static const char *const schema_sql =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value);\n"
    "CREATE TABLE checkpoints(\n"
    "  step INTEGER PRIMARY KEY,\n"
    "  created_at TEXT NOT NULL,\n"
    "  created_unix REAL NOT NULL,\n"
    "  n_tensors INTEGER NOT NULL DEFAULT 0,\n"
    "  raw_bytes INTEGER NOT NULL DEFAULT 0,\n"
    "  stored_bytes INTEGER NOT NULL DEFAULT 0,\n"
    "  new_bytes INTEGER NOT NULL DEFAULT 0,\n"
    "  keep INTEGER NOT NULL DEFAULT 0,\n"
    "  writer TEXT);\n"
    "CREATE TABLE scopes(\n"
    "  name TEXT PRIMARY KEY, parent TEXT, reuse, dtype TEXT,\n"
    "  initializer TEXT, name_scope TEXT);\n"
    "CREATE TABLE variables(\n"
    "  name TEXT PRIMARY KEY, key TEXT, scope TEXT, dtype TEXT, shape TEXT,\n"
    "  trainable INTEGER, initializer TEXT, step INTEGER);\n"
    "CREATE TABLE tensors(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  step INTEGER NOT NULL,\n"
    "  name TEXT NOT NULL,\n"
    "  dtype TEXT NOT NULL,\n"
    "  shape TEXT NOT NULL,\n"
    "  numel INTEGER NOT NULL,\n"
    "  codec TEXT NOT NULL,\n"
    "  chunk_bytes INTEGER NOT NULL,\n"
    "  n_chunks INTEGER NOT NULL,\n"
    "  raw_bytes INTEGER NOT NULL,\n"
    "  stored_bytes INTEGER NOT NULL,\n"
    "  crc32 INTEGER NOT NULL,\n"
    "  min REAL, max REAL, mean REAL, std REAL,\n"
    "  n_nan INTEGER, n_inf INTEGER,\n"
    "  UNIQUE(step, name));\n"
    "CREATE TABLE chunks(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  hash INTEGER NOT NULL,\n"
    "  crc32 INTEGER NOT NULL,\n"
    "  raw_bytes INTEGER NOT NULL,\n"
    "  elem_size INTEGER NOT NULL,\n"
    "  codec INTEGER NOT NULL,\n"
    "  stored_bytes INTEGER NOT NULL,\n"
    "  data BLOB NOT NULL);\n"
    "CREATE INDEX chunks_by_hash ON chunks(hash);\n"
    "CREATE TABLE tensor_chunks(\n"
    "  tensor_id INTEGER NOT NULL,\n"
    "  seq INTEGER NOT NULL,\n"
    "  chunk_id INTEGER NOT NULL,\n"
    "  PRIMARY KEY(tensor_id, seq)) WITHOUT ROWID;\n"
    "CREATE INDEX tensor_chunks_by_chunk ON tensor_chunks(chunk_id);\n"
    "CREATE VIEW latest AS SELECT * FROM tensors\n"
    "  WHERE step = (SELECT max(step) FROM checkpoints);\n"
    "INSERT INTO meta(key, value) VALUES ('format', 'varstore'),\n"
    "  ('max_to_keep', 0), ('keep_checkpoint_every_n_hours', 0);\n";

static const char *const required_tables[] = {
    "meta", "checkpoints", "scopes", "variables", "tensors", "chunks",
    "tensor_chunks"};

static char journal_mode[8] = "wal";

void vs__store_set_journal(const char *mode)
{
    snprintf(journal_mode, sizeof journal_mode, "%s",
             mode != NULL && strcmp(mode, "delete") == 0 ? "delete" : "wal");
}

const char *vs__store_journal(void)
{
    return journal_mode;
}

int vs__store_sqlfail(sqlite3 *db, int src, const char *what,
                      const char *path)
{
    const char *m = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(src);
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

int vs__store_begin_write(sqlite3 *db, const char *path, int busy_ms)
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

double vs__now_iso(char buf[32])
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        ts.tv_sec = time(NULL);
        ts.tv_nsec = 0;
    }
    struct tm tmv;
    if (gmtime_r(&ts.tv_sec, &tmv) == NULL)
        memset(&tmv, 0, sizeof tmv);
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tmv.tm_year + 1900, tmv.tm_mon + 1, tmv.tm_mday, tmv.tm_hour,
             tmv.tm_min, tmv.tm_sec, (int)(ts.tv_nsec / 1000000));
    tmp[31] = '\0';
    memcpy(buf, tmp, strlen(tmp) + 1);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

size_t vs__elem_size(vs_dtype dt)
{
    switch (dt) {
    case VS_FLOAT32:
    case VS_INT32:
        return 4;
    case VS_FLOAT64:
    case VS_INT64:
        return 8;
    case VS_FLOAT16:
    case VS_BFLOAT16:
        return 2;
    case VS_INT8:
    case VS_UINT8:
    case VS_BOOL:
        return 1;
    default:
        return 0;
    }
}

static const char *const dtype_names[] = {
    NULL, "float32", "float64", "float16", "bfloat16", "int8", "uint8",
    "int32", "int64", "bool"};

const char *vs__dtype_str(vs_dtype dt)
{
    if ((int)dt >= 1 && (int)dt <= 9)
        return dtype_names[(int)dt];
    return "invalid";
}

int vs__dtype_parse(const char *s, vs_dtype *out)
{
    for (int i = 1; i <= 9 && s != NULL; i++) {
        if (strcmp(s, dtype_names[i]) == 0) {
            *out = (vs_dtype)i;
            return 0;
        }
    }
    return -1;
}

void *vs__big_alloc(size_t n)
{
    if (n == 0)
        n = 1;
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (n >= ((size_t)2 << 20))
        (void)madvise(p, n, MADV_HUGEPAGE);
#endif
    return p;
}

void vs__big_free(void *p, size_t n)
{
    /* munmap fails only for a range vs__big_alloc did not return */
    if (p != NULL)
        (void)munmap(p, n == 0 ? 1 : n);
}

const char *vs__dtype_tf_string(vs_dtype dt)
{
    switch (dt) {
    case VS_FLOAT32: return "float";
    case VS_FLOAT64: return "double";
    case VS_FLOAT16: return "half";
    case VS_BFLOAT16: return "bfloat16";
    case VS_INT8: return "int8";
    case VS_UINT8: return "uint8";
    case VS_INT32: return "int32";
    case VS_INT64: return "int64";
    case VS_BOOL: return "bool";
    default: return "invalid";
    }
}

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    return s;
}

int vs__parse_shape_json(const char *s, int *ndim, int64_t *shape)
{
    int n = 0;
    if (s == NULL)
        return -1;
    s = skip_ws(s);
    if (*s != '[')
        return -1;
    s = skip_ws(s + 1);
    if (*s == ']') {
        if (*skip_ws(s + 1) != '\0')
            return -1;
        *ndim = 0;
        return 0;
    }
    for (;;) {
        if (n >= VS_MAX_DIMS || *s < '0' || *s > '9')
            return -1;
        int64_t v = 0;
        while (*s >= '0' && *s <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return -1;
            v = v * 10 + (*s - '0');
            s++;
        }
        shape[n++] = v;
        s = skip_ws(s);
        if (*s == ',') {
            s = skip_ws(s + 1);
            continue;
        }
        if (*s == ']' && *skip_ws(s + 1) == '\0')
            break;
        return -1;
    }
    *ndim = n;
    return 0;
}

/* ---- header checks ----------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

/* Checks the first 100 bytes of an existing file before SQLite sees it.
 * Returns VS_OK, VS_ENOTFOUND (missing), or an error with message. */
static int check_header(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return vs__fail(VS_ENOTFOUND,
                            "The passed save_path is not a valid checkpoint: "
                            "%s",
                            path);
        return vs__fail(VS_EIO, "cannot open checkpoint file %s: %s", path,
                        strerror(errno));
    }
    /* fd is read-only: its close cannot lose data, so its result is
     * ignored below. */
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        (void)close(fd);
        return vs__fail(VS_EIO, "cannot stat checkpoint file %s: %s", path,
                        strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        (void)close(fd);
        return vs__fail(VS_EINVAL,
                        "%s is not a varstore checkpoint file: not a regular "
                        "file",
                        path);
    }
    unsigned char h[100];
    size_t got = 0;
    while (got < sizeof h) {
        ssize_t r = read(fd, h + got, sizeof h - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            (void)close(fd);
            return vs__fail(VS_EIO, "cannot read checkpoint file %s: %s", path,
                            strerror(e));
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    (void)close(fd);
    static const char magic[16] = "SQLite format 3";
    if (got == 0)
        return vs__fail(VS_EINVAL,
                        "%s is not a varstore checkpoint file: the file is "
                        "empty",
                        path);
    size_t cmp = got < 16 ? got : 16;
    if (memcmp(h, magic, cmp) != 0)
        return vs__fail(VS_EINVAL,
                        "%s is not a varstore checkpoint file: not an SQLite "
                        "database",
                        path);
    if (got < sizeof h)
        return vs__fail(VS_ECORRUPT,
                        "checkpoint file %s is corrupt: truncated to %zu "
                        "bytes",
                        path, got);
    uint32_t app = be32(h + 68);
    if (app != VS_APP_ID)
        return vs__fail(VS_EINVAL,
                        "%s is not a varstore checkpoint file: SQLite "
                        "application_id is 0x%08x, not 0x%08x",
                        path, (unsigned)app, (unsigned)VS_APP_ID);
    uint32_t ver = be32(h + 60);
    if (ver > VS_SCHEMA_VERSION)
        return vs__fail(VS_EINVAL,
                        "checkpoint file %s has schema version %u, newer than "
                        "the %d this varstore %s reads; upgrade varstore",
                        path, (unsigned)ver, VS_SCHEMA_VERSION,
                        VS_VERSION_STRING);
    if (ver < 1)
        return vs__fail(VS_ECORRUPT,
                        "checkpoint file %s is corrupt: schema version %u",
                        path, (unsigned)ver);
    uint32_t psz = (uint32_t)h[16] << 8 | h[17];
    if (psz == 1)
        psz = 65536;
    if (psz < 512 || (psz & (psz - 1)) != 0)
        return vs__fail(VS_ECORRUPT,
                        "checkpoint file %s is corrupt: bad page size %u",
                        path, (unsigned)psz);
    uint32_t npages = be32(h + 28);
    /* The in-header size is valid when the change counters agree, and
     * only meaningful when no WAL is being checkpointed into the file
     * (a checkpoint writes page 1 before it extends the file). */
    int wal_busy = 0;
    char *wal = vs__asprintf("%s-wal", path);
    char *jrn = vs__asprintf("%s-journal", path);
    struct stat wst;
    if (wal == NULL || jrn == NULL ||
        (stat(wal, &wst) == 0 && wst.st_size > 0) || stat(jrn, &wst) == 0)
        wal_busy = 1;
    vs__free(wal);
    vs__free(jrn);
    if (!wal_busy && be32(h + 24) == be32(h + 92) && npages > 0 &&
        (uint64_t)npages * psz > (uint64_t)st.st_size)
        return vs__fail(VS_ECORRUPT,
                        "checkpoint file %s is corrupt: truncated (%lld "
                        "bytes, header says %llu)",
                        path, (long long)st.st_size,
                        (unsigned long long)npages * psz);
    if (!wal_busy && (uint64_t)st.st_size % psz != 0)
        return vs__fail(VS_ECORRUPT,
                        "checkpoint file %s is corrupt: size %lld is not a "
                        "multiple of the page size %u",
                        path, (long long)st.st_size, (unsigned)psz);
    return VS_OK;
}

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
static int open_plain(const char *path, sqlite3 **db, int flags)
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

/* Makes the new name of path durable (fsync of its directory). File
 * systems that cannot fsync a directory (EINVAL) are accepted. */
static int sync_dir(const char *path)
{
    char *dir = vs__strdup(path);
    if (dir == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    char *slash = strrchr(dir, '/');
    const char *d = ".";
    if (slash != NULL) {
        if (slash == dir)
            slash[1] = '\0';
        else
            *slash = '\0';
        d = dir;
    }
    int rc = VS_OK;
    int fd = open(d, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = vs__fail(VS_EIO, "cannot sync the directory of %s: %s", path,
                      strerror(errno));
    } else {
        if (fsync(fd) != 0 && errno != EINVAL)
            rc = vs__fail(VS_EIO, "cannot sync the directory of %s: %s",
                          path, strerror(errno));
        /* read-only descriptor: close cannot lose data */
        (void)close(fd);
    }
    vs__free(dir);
    return rc;
}

/* Builds a new file next to path and links it into place (never replacing
 * an existing file). VS_OK also when another process created it first. */
static int create_file(const char *path)
{
    static atomic_uint counter;
    unsigned c = atomic_fetch_add(&counter, 1u);
    /* TF's text when the directory is missing. */
    char *dir = vs__strdup(path);
    if (dir == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    char *slash = strrchr(dir, '/');
    if (slash != NULL) {
        if (slash == dir)
            slash[1] = '\0';
        else
            *slash = '\0';
        struct stat dst;
        if (stat(dir, &dst) != 0 || !S_ISDIR(dst.st_mode)) {
            vs__free(dir);
            return vs__fail(VS_EINVAL,
                            "Parent directory of %s doesn't exist, can't "
                            "save.",
                            path);
        }
    }
    vs__free(dir);
    char *tmp = vs__asprintf("%s.vs-new-%ld-%u", path, (long)getpid(), c);
    if (tmp == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    sqlite3 *db = NULL;
    int rc = open_plain(tmp, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int ret = VS_OK;
    if (rc != SQLITE_OK) {
        ret = vs__store_sqlfail(db, rc, "cannot create checkpoint file", path);
        goto fail;
    }
    char *sql = vs__asprintf(
        "PRAGMA page_size=%d; PRAGMA auto_vacuum=INCREMENTAL; "
        "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL; "
        "BEGIN; %s INSERT INTO meta(key, value) VALUES ('journal', '%s'); "
        "PRAGMA application_id=%d; PRAGMA user_version=%d; COMMIT;",
        VS_PAGE_SIZE, schema_sql, journal_mode, (int)VS_APP_ID,
        VS_SCHEMA_VERSION);
    if (sql == NULL) {
        ret = vs__fail(VS_ENOMEM, "out of memory");
        goto fail;
    }
    rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    vs__free(sql);
    if (rc != SQLITE_OK) {
        ret = vs__store_sqlfail(db, rc, "cannot create checkpoint file", path);
        goto fail;
    }
    if (strcmp(journal_mode, "wal") == 0) {
        rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            ret = vs__store_sqlfail(db, rc, "cannot create checkpoint file",
                                    path);
            goto fail;
        }
    }
    rc = sqlite3_close(db);
    db = NULL;
    if (rc != SQLITE_OK) {
        ret = vs__fail(VS_EIO, "cannot create checkpoint file %s: %s", path,
                       sqlite3_errstr(rc));
        goto fail;
    }
    if (link(tmp, path) != 0 && errno != EEXIST) {
        ret = vs__fail(VS_EIO, "cannot create checkpoint file %s: %s", path,
                       strerror(errno));
        goto fail;
    }
    /* The file is in place under path; a failed unlink only leaves the
     * temporary name behind, so it does not fail the call. */
    (void)unlink(tmp);
    vs__free(tmp);
    return sync_dir(path);
fail:
    /* Already failing: cleanup results cannot change the error. */
    if (db != NULL)
        (void)sqlite3_close(db);
    (void)unlink(tmp);
    vs__free(tmp);
    return ret;
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
    int b = sqlite3_bind_text(st, 1, mode, -1, SQLITE_STATIC);
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
    int t = sqlite3_busy_timeout(db, busy_ms);
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
static int set_write_durability(sqlite3 *db, const char *path, int busy_ms)
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

void vs__store_solo_end(sqlite3 *db)
{
    /* The exclusive lock is still held, so nothing is in the way. Should
     * the switch fail anyway, the save is committed all the same and the
     * file declares WAL: the next writer switches it back. */
    char now[16];
    (void)journal_try(db, "PRAGMA journal_mode=WAL", now);
}

/* A reader of a file that declares WAL but whose header says DELETE (a
 * crash during a solo save): in rollback mode its read transactions would
 * block every commit, so it puts WAL back when it has the file to itself
 * (without waiting; otherwise it reads in rollback mode). */
static int reader_restore_wal(sqlite3 *db, const char *path, int busy_ms)
{
    char mode[16], decl[16];
    int rc = vs__store_journal_pragma(db, path, "PRAGMA journal_mode", mode);
    if (rc == VS_OK && strcmp(mode, "delete") == 0)
        rc = vs__store_declared_journal(db, path, decl);
    else
        decl[0] = '\0';
    /* Best effort: a reader that cannot switch (the file is open
     * elsewhere, or its folder is not writable) just reads. */
    if (rc == VS_OK && strcmp(decl, "wal") == 0)
        (void)journal_switch_nowait(db, path, "wal", busy_ms, mode);
    return rc;
}

/* A reader's page cache, in pages. Tensor bytes are read once, through
 * the cache (Debian's SQLite reads overflow pages into it, then copies):
 * a few dozen pages that stay hot in the CPU caches beat 16 MiB of fresh
 * heap that every new connection would fault in page by page. */
#ifndef VS_READ_CACHE
#define VS_READ_CACHE "64"
#endif

int vs__store_open(const char *path, int mode, int busy_ms, sqlite3 **out)
{
    *out = NULL;
    if (path == NULL || *path == '\0')
        return vs__fail(VS_EINVAL, "checkpoint path is NULL or empty");
    int rc = check_header(path);
    if (rc == VS_ENOTFOUND && mode == VS_OPEN_CREATE) {
        rc = create_file(path);
        if (rc != VS_OK)
            return rc;
        rc = check_header(path);
    }
    if (rc != VS_OK)
        return rc;

    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE;
    int src = open_plain(path, &db, flags);
    /* Closing a connection that failed to open (or failed its checks
     * below) cannot lose data: those results are ignored. */
    if (src != SQLITE_OK && mode == VS_OPEN_READ) {
        (void)sqlite3_close(db);
        db = NULL;
        src = open_plain(path, &db, SQLITE_OPEN_READONLY);
    }
    if (src != SQLITE_OK) {
        int r = vs__store_sqlfail(db, src, "cannot open checkpoint file",
                                  path);
        (void)sqlite3_close(db);
        return r;
    }
    src = sqlite3_extended_result_codes(db, 0);
    if (src == SQLITE_OK)
        src = sqlite3_busy_timeout(db, busy_ms > 0 ? busy_ms
                                                   : VS_BUSY_DEFAULT_MS);
    rc = src == SQLITE_OK ? check_schema(db, path)
                          : vs__store_sqlfail(db, src,
                                              "cannot open checkpoint file",
                                              path);
    if (rc == VS_OK) {
        src = sqlite3_exec(db,
                           /* FULL for readers too: the last connection
                            * to close a WAL file checkpoints it, and a
                            * reader may roll back a hot journal. */
                           mode == VS_OPEN_READ
                               ? "PRAGMA synchronous=FULL; PRAGMA "
                                 "temp_store=MEMORY; PRAGMA "
                                 "cache_size=" VS_READ_CACHE ";"
                               : "PRAGMA synchronous=FULL; PRAGMA "
                                 "temp_store=MEMORY; PRAGMA "
                                 "cache_size=-16384;",
                           NULL, NULL, NULL);
        if (src != SQLITE_OK)
            rc = vs__store_sqlfail(db, src, "cannot open checkpoint file",
                                   path);
    }
    if (rc == VS_OK && mode != VS_OPEN_READ)
        rc = set_write_durability(db, path,
                                  busy_ms > 0 ? busy_ms : VS_BUSY_DEFAULT_MS);
    else if (rc == VS_OK && !sqlite3_db_readonly(db, "main"))
        rc = reader_restore_wal(db, path,
                                busy_ms > 0 ? busy_ms : VS_BUSY_DEFAULT_MS);
    if (rc != VS_OK) {
        (void)sqlite3_close(db);
        return rc;
    }
    *out = db;
    return VS_OK;
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

static int exec_step(sqlite3 *db, const char *sql, int64_t step,
                     const char *path)
{
    sqlite3_stmt *st;
    int rc = vs__store_prepare(db, sql, &st, path);
    if (rc != VS_OK)
        return rc;
    int b = sqlite3_bind_int64(st, 1, step);
    if (b != SQLITE_OK) {
        rc = vs__store_bindfail(st, b, "cannot update checkpoint file", path);
        sqlite3_finalize(st);
        return rc;
    }
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    if (s != SQLITE_DONE)
        return vs__store_sqlfail(db, s, "cannot update checkpoint file", path);
    return VS_OK;
}

int vs__store_delete_step_rows(sqlite3 *db, const char *path, int64_t step)
{
    int rc = exec_step(db,
                       "DELETE FROM tensor_chunks WHERE tensor_id IN "
                       "(SELECT id FROM tensors WHERE step=?1)",
                       step, path);
    if (rc == VS_OK)
        rc = exec_step(db, "DELETE FROM tensors WHERE step=?1", step, path);
    if (rc == VS_OK)
        rc = exec_step(db, "DELETE FROM checkpoints WHERE step=?1", step, path);
    return rc;
}

int vs__store_free_orphans(sqlite3 *db, const char *path, int64_t *freed)
{
    sqlite3_stmt *st;
    int rc = vs__store_prepare(
        db,
        "SELECT coalesce(sum(stored_bytes), 0) FROM chunks WHERE NOT EXISTS "
        "(SELECT 1 FROM tensor_chunks WHERE chunk_id = chunks.id)",
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
    return vs__store_exec(db,
                          "DELETE FROM chunks WHERE NOT EXISTS (SELECT 1 FROM "
                          "tensor_chunks WHERE chunk_id = chunks.id); "
                          "PRAGMA incremental_vacuum;",
                          path);
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
