/* Test support shared by the store tests (test_store, test_concurrency,
 * test_crash, test_integrity): a per-test checkpoint path g_path with its
 * setup/teardown, and small helpers around tensors and plain SQLite.
 * Include after cmocka.h and varstore.h, with STORE_TEST_NAME defined
 * (the file name's stem). */
#ifndef VS_TEST_STORE_TEST_H
#define VS_TEST_STORE_TEST_H

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vs_test.h"

static char g_path[512];

static inline const char *store_test_tmpdir(void)
{
    const char *d = getenv("VS_TEST_TMPDIR");
    return d != NULL && *d != '\0' ? d : "/tmp";
}

/* The file and its side files. */
static inline void remove_db(const char *p)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffix / sizeof *suffix; i++) {
        char b[600];
        snprintf(b, sizeof b, "%s%s", p, suffix[i]);
        (void)unlink(b); /* most do not exist */
    }
}

static int setup(void **state)
{
    static int counter;
    (void)state;
    snprintf(g_path, sizeof g_path, "%s/" STORE_TEST_NAME "_%ld_%d.db",
             store_test_tmpdir(), (long)getpid(), counter++);
    remove_db(g_path);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    remove_db(g_path);
    return 0;
}

static inline int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static inline vs_tensor *mk(vs_dtype dt, int ndim, const int64_t *shape)
{
    vs_tensor *t = NULL;
    OK(vs_tensor_new(dt, ndim, shape, &t));
    return t;
}

static inline void save1(const char *path, int64_t step,
                         const char *name, const vs_tensor *t,
                         const vs_save_opts *o)
{
    const char *names[1] = {name};
    const vs_tensor *ts[1] = {t};
    OK(vs_save_tensors(path, step, names, ts, 1, o));
}

/* vs_get_variable with a dtype and shape (no initializer). */
static inline vs_var *getvar(vs_graph *g, const char *name, vs_dtype dt,
                             int ndim, const int64_t *shape)
{
    vs_var_opts o;
    memset(&o, 0, sizeof o);
    o.shape = shape;
    o.ndim = ndim;
    o.dtype = dt;
    vs_var *v = NULL;
    OK(vs_get_variable(g, name, &o, &v));
    return v;
}

/* A plain SQLite connection to p (read-write). */
static inline sqlite3 *raw_open(const char *p)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(p, &db, SQLITE_OPEN_READWRITE, NULL),
                     SQLITE_OK);
    return db;
}

/* The one integer sql returns. */
static inline int64_t q_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Runs sql on p through plain SQLite (tampering, as a test does). */
static inline void raw_exec(const char *p, const char *sql)
{
    sqlite3 *db = raw_open(p);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        print_error("%s: %s\n", sql, err != NULL ? err : "?");
        sqlite3_free(err);
        sqlite3_close(db);
        fail();
    }
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* Copies the file from (a committed fixture) to to. */
static inline void copy_fixture(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, got, out), got);
    assert_int_equal(fclose(in), 0);
    assert_int_equal(fclose(out), 0);
}

/* What plain SQLite reports as g_path's journal mode (its header's). */
static inline void assert_sqlite_journal(const char *want)
{
    sqlite3 *db = raw_open(g_path);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q,
                                        NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), want);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

/* PRAGMA user_version of g_path, read through plain SQLite. */
static inline int user_version(void)
{
    sqlite3 *db = raw_open(g_path);
    int v = (int)q_int(db, "PRAGMA user_version");
    sqlite3_close(db);
    return v;
}

#endif /* VS_TEST_STORE_TEST_H */
