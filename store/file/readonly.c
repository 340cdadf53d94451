/* varstore: how readers open a checkpoint file without ever writing it,
 * and the check that a write-ahead log beside the file belongs to it. */
#define _GNU_SOURCE /* O_CLOEXEC, nanosleep */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store_int.h"

/* "<path><suffix>" exists (as anything); *size its size. */
static int side_file(const char *path, const char *suffix, off_t *size)
{
    char *p = vs__asprintf("%s%s", path, suffix);
    struct stat st;
    int there = p == NULL || stat(p, &st) == 0;
    if (size != NULL)
        *size = p != NULL && there ? st.st_size : 0;
    vs__free(p);
    return there;
}

/* Nonzero when neither the file nor its folder can be written by this
 * process (permissions, a read-only mount). */
static int cannot_write(const char *path)
{
    if (access(path, W_OK) != 0)
        return 1;
    char *dir = vs__store_dir_of(path);
    if (dir == NULL)
        return 0;
    int ro = access(dir, W_OK) != 0;
    vs__free(dir);
    return ro;
}

/* Opens path through an SQLite URI "file:<path>?<query>" (the path
 * percent-encoded), read-only. */
static int open_uri(const char *path, const char *query, sqlite3 **db)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(path), cap;
    *db = NULL;
    if (vs__mul_size(n, 3, &cap) != 0 ||
        vs__add_size(cap, strlen(query) + 16, &cap) != 0)
        return SQLITE_NOMEM;
    char *uri = vs__malloc(cap);
    if (uri == NULL)
        return SQLITE_NOMEM;
    size_t k = (size_t)snprintf(uri, cap, "file:");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)path[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
            (ch >= '0' && ch <= '9') || strchr("/._-~", ch) != NULL) {
            uri[k++] = (char)ch;
        } else {
            uri[k++] = '%';
            uri[k++] = hex[ch >> 4];
            uri[k++] = hex[ch & 15];
        }
    }
    snprintf(uri + k, cap - k, "?%s", query);
    int s = sqlite3_open_v2(uri, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
                            NULL);
    vs__free(uri);
    return s;
}

static int open_reader(const char *path, sqlite3 **db)
{
    int wal = side_file(path, "-wal", NULL);
    /* Nothing else can write the file and no log holds newer pages: read
     * the file as it is, without locks and without any side file. */
    if (!wal && cannot_write(path))
        return open_uri(path, "immutable=1", db);
    /* A hot rollback journal (a crashed write) must be rolled back before
     * anything is read, which takes a writable connection; the rollback
     * only puts back pages the crashed transaction had changed. */
    if (side_file(path, "-journal", NULL))
        return vs__store_open_plain(path, db, SQLITE_OPEN_READWRITE);
    /* A log is there: read through it, never merge it into the file. */
    if (wal)
        return open_uri(path, "mode=ro", db);
    /* No log: writers that come while this connection is open make the
     * file's own log (they check it first), which the last connection to
     * close merges and removes, so that no side file is left behind. */
    return vs__store_open_plain(path, db, SQLITE_OPEN_READWRITE);
}

int vs__store_open_reader(const char *path, sqlite3 **db)
{
    int s = open_reader(path, db);
    if (s == SQLITE_OK)
        s = vs__store_busy(*db, VS_BUSY_DEFAULT_MS);
    return s;
}

/* meta 'file_id' as db sees it ("" when it has none); SQLite's result. */
static int read_file_id(sqlite3 *db, char id[64])
{
    sqlite3_stmt *st;
    id[0] = '\0';
    int s = sqlite3_prepare_v2(db,
                               "SELECT value FROM meta WHERE key='file_id'",
                               -1, &st, NULL);
    if (s != SQLITE_OK)
        return s;
    s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        snprintf(id, 64, "%s", v != NULL ? (const char *)v : "");
        s = SQLITE_OK;
    } else if (s == SQLITE_DONE) {
        s = SQLITE_OK;
    }
    (void)sqlite3_finalize(st); /* repeats the step's result */
    return s;
}

/* The WAL header's page size (0 when the header is not a WAL's). */
static uint32_t wal_page_size(const char *path)
{
    char *p = vs__asprintf("%s-wal", path);
    unsigned char h[32];
    ssize_t got = -1;
    int fd = p != NULL ? open(p, O_RDONLY | O_CLOEXEC) : -1;
    vs__free(p);
    if (fd >= 0) {
        got = read(fd, h, sizeof h);
        (void)close(fd); /* read-only descriptor */
    }
    if (got != (ssize_t)sizeof h)
        return 0;
    uint32_t magic = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
                     (uint32_t)h[2] << 8 | h[3];
    if ((magic & ~1u) != 0x377f0682u)
        return 0;
    return (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 |
           (uint32_t)h[10] << 8 | h[11];
}

static int foreign_wal(const char *path, const char *why)
{
    return vs__fail(VS_ECORRUPT,
                    "checkpoint file %s is corrupt: its write-ahead log "
                    "%s-wal belongs to another database (%s); it was left "
                    "untouched, move it away to read the file",
                    path, path, why);
}

/* Compares the file id in the main file (read with immutable=1, which
 * ignores the log) with the one db sees through the log: *differ is 1
 * when they differ (or db cannot read the file through the log), 0 when
 * they agree or cannot be compared. A failure to read is an error. */
static int ids_differ(sqlite3 *db, const char *path, int *differ)
{
    *differ = 0;
    sqlite3 *main_db = NULL;
    char mine[64], seen[64];
    int s = open_uri(path, "immutable=1", &main_db);
    if (s == SQLITE_OK)
        s = read_file_id(main_db, mine);
    (void)sqlite3_close(main_db); /* read-only */
    /* The file's own view unreadable (SQLite reports that), or a file
     * whose main part has no id yet (made before ids, its first id still
     * in the log): nothing to compare. */
    if (s != SQLITE_OK || mine[0] == '\0')
        return VS_OK;
    s = read_file_id(db, seen);
    if ((s & 0xff) == SQLITE_CORRUPT || (s & 0xff) == SQLITE_NOTADB ||
        (s & 0xff) == SQLITE_ERROR) {
        *differ = 1;
        return VS_OK;
    }
    if (s != SQLITE_OK)
        return vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
    *differ = strcmp(mine, seen) != 0;
    return VS_OK;
}

int vs__store_wal_present(const char *path)
{
    off_t wal_size = 0;
    return side_file(path, "-wal", &wal_size) && wal_size >= 32;
}

int vs__store_check_wal_owner(sqlite3 *db, const char *path,
                              uint32_t page_size)
{
    off_t wal_size = 0;
    if (!side_file(path, "-wal", &wal_size) || wal_size < 32)
        return VS_OK;
    uint32_t wps = wal_page_size(path);
    if (wps != 0 && wps != page_size)
        return foreign_wal(path, "its page size differs");
    /* A writer checkpointing meanwhile rewrites the main file's pages
     * under the lock-free immutable read: a mismatch counts only when it
     * is seen again. */
    for (int attempt = 0;; attempt++) {
        int differ = 0;
        int rc = ids_differ(db, path, &differ);
        if (rc != VS_OK || !differ)
            return rc;
        if (attempt == 2)
            return foreign_wal(path, "it does not hold this file's id");
        struct timespec ts = {0, 20 * 1000 * 1000};
        (void)nanosleep(&ts, NULL); /* EINTR: just an earlier retry */
    }
}
