#define _GNU_SOURCE /* nanosleep */
/* A reader's poll (vs_ckpt_open, vs_ckpt_latest, vs_ckpt_close) of a
 * rollback-journal file that a writer holds waits for the file once: the
 * open checks what the header says without a lock and leaves the rest of
 * its checks to the first call, which reports their errors as the open
 * would have. The writer here is a second connection of this process
 * holding the file with BEGIN EXCLUSIVE (as a batched save does from a
 * batch's first cache spill to its commit); the waits are counted by the
 * busy handler (vs__store_busy_waits, per thread). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store_int.h"

#define STORE_TEST_NAME "vs_test_ckpt_poll"
#include "support/store_test.h"

/* A second connection holding the file: EXCLUSIVE until release. */
typedef struct {
    sqlite3 *db;
    pthread_t th;
    int delay_ms;
    atomic_int released; /* 1 once COMMIT returned (-1: it failed) */
} holder;

static void hold(holder *h)
{
    memset(h, 0, sizeof *h);
    atomic_init(&h->released, 0);
    h->db = raw_open(g_path);
    assert_int_equal(sqlite3_exec(h->db, "BEGIN EXCLUSIVE", NULL, NULL, NULL),
                     SQLITE_OK);
}

static void release(holder *h)
{
    assert_int_equal(sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_close(h->db), SQLITE_OK);
    h->released = 1;
}

static void *release_later(void *arg)
{
    holder *h = arg;
    struct timespec ts = {h->delay_ms / 1000,
                          (long)(h->delay_ms % 1000) * 1000000L};
    (void)nanosleep(&ts, NULL); /* the test sends no signal: no EINTR */
    if (sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK &&
        sqlite3_close(h->db) == SQLITE_OK)
        h->released = 1;
    else
        h->released = -1;
    return NULL;
}

static void save_step(int64_t step)
{
    int64_t shape[] = {3};
    vs_tensor *t = mk(VS_FLOAT32, 1, shape);
    float *p = t->data;
    for (int i = 0; i < 3; i++)
        p[i] = (float)(step * 10 + i);
    save1(g_path, step, "w", t, NULL);
    vs_tensor_free(t);
}

/* Open while the file is held: no wait, the checks pending; the first
 * call waits for the holder once, then reads the latest step and a
 * tensor of it in that same transaction. */
static void test_poll_of_held_file_waits_once_in_its_first_call(void **s)
{
    (void)s;
    save_step(7);
    holder h;
    hold(&h);
    h.delay_ms = 1000; /* the open is long done by then */
    assert_int_equal(pthread_create(&h.th, NULL, release_later, &h), 0);
    int64_t w0 = vs__store_busy_waits();
    vs_ckpt *f = NULL;
    OK(vs_ckpt_open(g_path, &f));
    assert_int_equal(vs__store_busy_waits() - w0, 0); /* the open waited not */
    assert_int_equal(h.released, 0); /* returned before the file was free */
    int64_t latest = 0;
    OK(vs_ckpt_latest(f, &latest));
    assert_int_equal(vs__store_busy_waits() - w0, 1);
    assert_int_equal(latest, 7);
    vs_tensor *t = NULL;
    OK(vs_ckpt_load(f, 7, "w", &t));
    assert_int_equal(((const float *)t->data)[2], 72.0f);
    vs_tensor_free(t);
    vs_ckpt_close(f);
    assert_int_equal(pthread_join(h.th, NULL), 0);
    assert_int_equal(h.released, 1);
    assert_int_equal(vs__store_busy_waits() - w0, 1);
}

/* The handle of a deferred open reads as one opened on a free file: a
 * save made while it is open is seen by its next call. */
static void test_deferred_handle_sees_later_saves(void **s)
{
    (void)s;
    save_step(1);
    holder h;
    hold(&h);
    vs_ckpt *f = NULL;
    OK(vs_ckpt_open(g_path, &f));
    release(&h);
    int64_t latest = 0;
    OK(vs_ckpt_latest(f, &latest));
    assert_int_equal(latest, 1);
    save_step(2);
    OK(vs_ckpt_latest(f, &latest));
    assert_int_equal(latest, 2);
    vs_ckpt_close(f);
}

/* A new plain SQLite file at g_path, made by sql. */
static void make_plain_file(const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(g_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* A file whose header is varstore's but whose tables are not: the checks
 * that need SQLite fail it (the header alone cannot tell). */
static void make_tableless_file(void)
{
    char sql[200];
    snprintf(sql, sizeof sql,
             "PRAGMA application_id=%d; PRAGMA user_version=%d; "
             "CREATE TABLE x(a);",
             (int)VS_APP_ID, VS_SCHEMA_VERSION);
    make_plain_file(sql);
}

/* Deferred checks that fail: the first call, and every later one, return
 * the code and message the open returns on the free file. */
static void test_deferred_checks_fail_every_call_as_the_open_would(void **s)
{
    (void)s;
    make_tableless_file();
    vs_ckpt *f = NULL;
    int want = vs_ckpt_open(g_path, &f);
    assert_int_equal(want, VS_ECORRUPT);
    assert_null(f);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", vs_errmsg());
    assert_non_null(strstr(msg, "table meta is missing"));
    holder h;
    hold(&h);
    OK(vs_ckpt_open(g_path, &f));
    release(&h);
    int64_t latest = -1;
    FAILS(vs_ckpt_latest(f, &latest), want, msg);
    assert_int_equal(latest, -1);
    vs_tensor_info *info = NULL;
    size_t n = 9;
    FAILS(vs_ckpt_list_variables(f, VS_LATEST, &info, &n), want, msg);
    assert_null(info);
    assert_int_equal(n, 0);
    vs_tensor *t = NULL;
    FAILS(vs_ckpt_load(f, VS_LATEST, "w", &t), want, msg);
    assert_null(t);
    vs_ckpt_close(f);
}

/* What the header says needs no lock: a file that is not varstore's is
 * refused by the open itself, at once, even while held. */
static void test_foreign_file_held_is_refused_by_the_open(void **s)
{
    (void)s;
    make_plain_file("CREATE TABLE x(a)");
    vs_ckpt *f = NULL;
    int want = vs_ckpt_open(g_path, &f);
    assert_int_equal(want, VS_EINVAL);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", vs_errmsg());
    holder h;
    hold(&h);
    int64_t w0 = vs__store_busy_waits();
    FAILS(vs_ckpt_open(g_path, &f), want, msg);
    assert_null(f);
    assert_int_equal(vs__store_busy_waits() - w0, 0);
    release(&h);
}

/* One-shot reads (an open and a read in one read transaction) wait for
 * a held file once, and read it once it is free. */
static void test_latest_checkpoint_of_held_file_waits_once(void **s)
{
    (void)s;
    save_step(5);
    holder h;
    hold(&h);
    h.delay_ms = 500;
    assert_int_equal(pthread_create(&h.th, NULL, release_later, &h), 0);
    int64_t w0 = vs__store_busy_waits();
    int64_t latest = 0;
    OK(vs_latest_checkpoint(g_path, &latest));
    assert_int_equal(latest, 5);
    assert_int_equal(vs__store_busy_waits() - w0, 1);
    assert_int_equal(pthread_join(h.th, NULL), 0);
    assert_int_equal(h.released, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_poll_of_held_file_waits_once_in_its_first_call),
        T(test_deferred_handle_sees_later_saves),
        T(test_deferred_checks_fail_every_call_as_the_open_would),
        T(test_foreign_file_held_is_refused_by_the_open),
        T(test_latest_checkpoint_of_held_file_waits_once),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
