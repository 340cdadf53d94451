/* varstore: saves in progress. A large save commits its chunks in several
 * transactions before the one that makes its checkpoint visible. Until
 * then its chunks are referenced by no tensor, and another writer's
 * garbage collection (vs__store_free_orphans) would take them: so each
 * such save keeps meta rows 'saving:<token>' (written when it begins)
 * and 'saving:<token>.<n>' (one per batch commit) that name its writer
 * and pin its chunks, and the collection spares pinned chunks. A row whose
 * writer is gone (killed mid-save) is reaped, and its chunks collected,
 * by the next writer. docs/FORMAT.md section 7 describes the row. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store_int.h"

/* A writer on another boot (or machine) cannot be asked whether it is
 * alive: its row is reaped once it has not committed for this long. */
#define VS_SAVING_LEASE_S (15.0 * 60.0)

/* Reads a small text file into buf (NUL-terminated, trailing newline
 * dropped); 0 on success. */
static int read_small(const char *file, char *buf, size_t cap)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    (void)close(fd); /* read-only, not a checkpoint file */
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    if (buf[n - 1] == '\n')
        buf[n - 1] = '\0';
    return 0;
}

/* The kernel's boot id ("" when unknown). */
static void boot_id(char out[64])
{
    if (read_small("/proc/sys/kernel/random/boot_id", out, 64) != 0)
        out[0] = '\0';
    for (char *p = out; *p != '\0'; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
              *p == '-'))
            *p = '\0'; /* only a UUID goes into the file */
}

/* Field 22 of /proc/PID/stat, the process's start time in clock ticks
 * since boot: with the pid, it names one process. -1 when unknown. */
static long long start_time(long long pid)
{
    char file[64], buf[1024];
    snprintf(file, sizeof file, "/proc/%lld/stat", pid);
    if (read_small(file, buf, sizeof buf) != 0)
        return -1;
    char *p = strrchr(buf, ')'); /* the command name may hold anything */
    if (p == NULL)
        return -1;
    for (int field = 2; field < 22 && p != NULL; field++)
        p = strchr(p + 1, ' ');
    return p != NULL ? strtoll(p + 1, NULL, 10) : -1;
}

int vs__store_saving_key(char out[40])
{
    unsigned char r[8];
    sqlite3_randomness((int)sizeof r, r);
    int n = snprintf(out, 40, "saving:");
    for (size_t i = 0; i < sizeof r; i++)
        n += snprintf(out + n, (size_t)(40 - n), "%02x", r[i]);
    return VS_OK;
}

/* The row's JSON: who writes, when it last committed, what it pins. */
static char *saving_json(const int64_t *ids, size_t n)
{
    char boot[64];
    boot_id(boot);
    long long pid = (long long)getpid();
    size_t cap = 256 + n * 21;
    char *s = vs__malloc(cap);
    if (s == NULL)
        return NULL;
    size_t k = (size_t)snprintf(
        s, cap,
        "{\"boot\":\"%s\",\"pid\":%lld,\"start\":%lld,\"time\":%.3f,"
        "\"chunks\":[",
        boot, pid, start_time(pid), (double)time(NULL));
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(s + k, cap - k, i ? ",%lld" : "%lld",
                              (long long)ids[i]);
    snprintf(s + k, cap - k, "]}");
    return s;
}

int vs__store_saving_put(sqlite3 *db, const char *path, const char *key,
                         const int64_t *ids, size_t n)
{
    char *json = saving_json(ids, n);
    if (json == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    sqlite3_stmt *st;
    int rc = vs__store_prepare(db,
                               "INSERT OR REPLACE INTO meta(key, value) "
                               "VALUES (?1, ?2)",
                               &st, path);
    if (rc == VS_OK) {
        int b = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        if (b == SQLITE_OK)
            b = sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC);
        rc = vs__store_step_done(db, st, b, path);
    }
    vs__free(json);
    return rc;
}

int vs__store_saving_drop(sqlite3 *db, const char *path, const char *key)
{
    sqlite3_stmt *st;
    /* The row and its batches' rows, key.1, key.2, ... ('/' follows '.'). */
    int rc = vs__store_prepare(db,
                               "DELETE FROM meta WHERE key=?1 OR (key > ?1 "
                               "|| '.' AND key < ?1 || '/')",
                               &st, path);
    if (rc != VS_OK)
        return rc;
    return vs__store_step_done(db, st,
                               sqlite3_bind_text(st, 1, key, -1,
                                                 SQLITE_STATIC),
                               path);
}

/* Whether the writer of a 'saving:' row is gone for sure. */
static int writer_gone(const char *boot, long long pid, long long start,
                       double last)
{
    char mine[64];
    boot_id(mine);
    if (boot == NULL || mine[0] == '\0' || strcmp(boot, mine) != 0)
        return (double)time(NULL) - last > VS_SAVING_LEASE_S;
    if (pid <= 0)
        return 1;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return 1;
    long long now = start_time(pid);
    return now >= 0 && start >= 0 && now != start; /* pid reused */
}

/* The keys of rows to reap: those of gone writers, and rows that are not
 * JSON objects (a damaged or hostile file). A save's rows share their
 * first 23 characters ('saving:' and 16 hex digits, vs__store_saving_key),
 * and the newest one's time (its last commit) is the lease of all. */
static int gone_keys(sqlite3 *db, const char *path, char ***keys, size_t *n)
{
    sqlite3_stmt *st;
    *keys = NULL;
    *n = 0;
    /* json_* raise an error on malformed JSON: every call is guarded. */
    int rc = vs__store_prepare(
        db,
        "SELECT key, CASE WHEN json_valid(value) THEN json_type(value) = "
        "'object' ELSE 0 END, CASE WHEN json_valid(value) THEN "
        "json_extract(value, '$.boot') END, CASE WHEN json_valid(value) "
        "THEN json_extract(value, '$.pid') END, CASE WHEN json_valid(value) "
        "THEN json_extract(value, '$.start') END, (SELECT "
        "max(CASE WHEN json_valid(m.value) THEN json_extract(m.value, "
        "'$.time') END) FROM meta m WHERE substr(m.key, 1, 23) = "
        "substr(meta.key, 1, 23)) FROM meta WHERE key GLOB 'saving:*'",
        &st, path);
    int s = SQLITE_DONE;
    while (rc == VS_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        int valid = sqlite3_column_int(st, 1);
        const char *boot = (const char *)sqlite3_column_text(st, 2);
        if (valid && !writer_gone(boot, sqlite3_column_int64(st, 3),
                                  sqlite3_column_int64(st, 4),
                                  sqlite3_column_double(st, 5)))
            continue;
        char **k = vs__realloc(*keys, (*n + 1) * sizeof *k);
        char *dup = k != NULL
                        ? vs__strdup((const char *)sqlite3_column_text(st, 0))
                        : NULL;
        if (k != NULL)
            *keys = k;
        if (dup == NULL) {
            rc = vs__fail(VS_ENOMEM, "out of memory");
            break;
        }
        (*keys)[(*n)++] = dup;
    }
    if (rc == VS_OK && s != SQLITE_DONE)
        rc = vs__store_sqlfail(db, s, "cannot update checkpoint file", path);
    if (st != NULL)
        sqlite3_finalize(st);
    return rc;
}

int vs__store_reap_saves(sqlite3 *db, const char *path, int *reaped)
{
    char **keys;
    size_t n;
    *reaped = 0;
    int rc = gone_keys(db, path, &keys, &n);
    for (size_t i = 0; i < n; i++) {
        if (rc == VS_OK)
            rc = vs__store_saving_drop(db, path, keys[i]);
        vs__free(keys[i]);
    }
    vs__free(keys);
    if (rc == VS_OK)
        *reaped = (int)n;
    return rc;
}
