#define _GNU_SOURCE /* clock_gettime, nanosleep */
/* Concurrency tests for store/: readers during a writer, writers against
 * writers (busy timeout), readers never blocked by an open write. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store_int.h"

#define STORE_TEST_NAME "vs_test_conc"
#include "support/store_test.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Element 0 holds the step; the rest derive from it. */
#define NEL 600000
static void fill(int64_t *p, int64_t step, int k)
{
    p[0] = step;
    for (int64_t i = 1; i < NEL; i++)
        p[i] = step * 7919 + i * (k + 3);
}

static int check(const int64_t *p, int k)
{
    int64_t step = p[0];
    for (int64_t i = 1; i < NEL; i++)
        if (p[i] != step * 7919 + i * (k + 3))
            return 0;
    return 1;
}

static void save_steps(int64_t from, int64_t to, int max_to_keep)
{
    int64_t shape[] = {NEL};
    vs_tensor *a = NULL, *b = NULL;
    if (vs_tensor_new(VS_INT64, 1, shape, &a) != VS_OK ||
        vs_tensor_new(VS_INT64, 1, shape, &b) != VS_OK)
        _exit(3);
    const char *names[] = {"a", "b"};
    const vs_tensor *ts[] = {a, b};
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.max_to_keep = max_to_keep;
    o.busy_timeout_ms = 20000;
    for (int64_t s = from; s <= to; s++) {
        fill(a->data, s, 0);
        fill(b->data, s, 1);
        if (vs_save_tensors(g_path, s, names, ts, 2, &o) != VS_OK) {
            fprintf(stderr, "writer: %s\n", vs_errmsg());
            _exit(2);
        }
    }
    vs_tensor_free(a);
    vs_tensor_free(b);
}

static void reader_during_saves(int with_rollback)
{
    if (with_rollback)
        OK(vs_set_journal_mode(g_path, VS_JOURNAL_ROLLBACK));
    save_steps(1, 1, VS_KEEP_ALL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        save_steps(2, 16, 3);
        _exit(0);
    }
    int reads = 0, done = 0;
    double worst = 0;
    int64_t last = 0;
    while (!done) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            assert_true(WIFEXITED(status));
            assert_int_equal(WEXITSTATUS(status), 0);
            done = 1;
        }
        for (int k = 0; k < 2; k++) {
            vs_tensor *t = NULL;
            double t0 = now();
            OK(vs_load_variable(g_path, VS_LATEST, k ? "b" : "a", &t));
            double dt = now() - t0;
            if (dt > worst)
                worst = dt;
            assert_true(check(t->data, k));
            int64_t s = ((int64_t *)t->data)[0];
            assert_true(s >= last); /* never goes back */
            last = s;
            vs_tensor_free(t);
            reads++;
        }
    }
    printf("%d reads during 15 saves, slowest %.3f s, last step %lld\n",
           reads, worst, (long long)last);
    assert_true(reads >= 2);
    int64_t latest;
    OK(vs_latest_checkpoint(g_path, &latest));
    assert_int_equal(latest, 16);
    OK(vs_verify(g_path, NULL));
}

static void test_concurrency__reader_sees_complete_checkpoints(void **st)
{
    (void)st;
    reader_during_saves(0);
}

/* With a rollback journal readers wait while a save writes, but still
 * only ever see whole checkpoints. */
static void test_concurrency__reader_waits_with_rollback_journal(void **st)
{
    (void)st;
    reader_during_saves(1);
}

static void test_concurrency__second_writer_gets_busy(void **st)
{
    (void)st;
    save_steps(1, 1, VS_KEEP_ALL);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(g_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "BEGIN IMMEDIATE; INSERT INTO meta(key, "
                                  "value) VALUES ('x', 1)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    /* A reader is not blocked by the open write transaction. */
    vs_tensor *t = NULL;
    double t0 = now();
    OK(vs_load_variable(g_path, 1, "a", &t));
    assert_true(now() - t0 < 1.0);
    assert_true(check(t->data, 0));
    vs_tensor_free(t);
    /* A writer waits for the timeout, then gives up cleanly. */
    int64_t shape[] = {4};
    OK(vs_tensor_new(VS_FLOAT32, 1, shape, &t));
    const char *names[] = {"c"};
    const vs_tensor *ts[] = {t};
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.busy_timeout_ms = 300;
    t0 = now();
    assert_int_equal(vs_save_tensors(g_path, 2, names, ts, 1, &o), VS_EBUSY);
    double waited = now() - t0;
    assert_true(waited >= 0.25 && waited < 5.0);
    char want[700];
    snprintf(want, sizeof want,
             "checkpoint file %s is locked by another writer (waited 300 ms)",
             g_path);
    assert_string_equal(vs_errmsg(), want);
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    /* The file is intact and the writer can go on. */
    OK(vs_verify(g_path, NULL));
    int64_t latest;
    OK(vs_latest_checkpoint(g_path, &latest));
    assert_int_equal(latest, 1);
    OK(vs_save_tensors(g_path, 2, names, ts, 1, &o));
    vs_tensor_free(t);
}

static void test_concurrency__two_writer_processes_serialize(void **st)
{
    (void)st;
    save_steps(1, 1, VS_KEEP_ALL);
    pid_t p1 = fork();
    assert_true(p1 >= 0);
    if (p1 == 0) {
        save_steps(100, 105, VS_KEEP_ALL);
        _exit(0);
    }
    pid_t p2 = fork();
    assert_true(p2 >= 0);
    if (p2 == 0) {
        save_steps(200, 205, VS_KEEP_ALL);
        _exit(0);
    }
    int s1, s2;
    assert_int_equal(waitpid(p1, &s1, 0), p1);
    assert_int_equal(waitpid(p2, &s2, 0), p2);
    assert_true(WIFEXITED(s1) && WEXITSTATUS(s1) == 0);
    assert_true(WIFEXITED(s2) && WEXITSTATUS(s2) == 0);
    vs_ckpt_info *ci = NULL;
    size_t n = 0;
    OK(vs_list_checkpoints(g_path, &ci, &n));
    assert_int_equal(n, 13);
    vs_free(ci);
    OK(vs_verify(g_path, NULL));
    vs_tensor *t = NULL;
    OK(vs_load_variable(g_path, 203, "b", &t));
    assert_true(check(t->data, 1));
    assert_int_equal(((int64_t *)t->data)[0], 203);
    vs_tensor_free(t);
}

/* A read handle keeps its snapshot while other calls of the same process
 * open and close the file and another process replaces the step. (That
 * those calls keep the process's POSIX locks is checked end to end by
 * test_cli.sh, with the sqlite3 shell and the extension.) */
static void test_concurrency__handle_keeps_snapshot_across_other_calls(void **st)
{
    (void)st;
    int64_t sh[] = {400000}; /* 1.6 MB: a save that would run solo */
    vs_tensor *t = mk(VS_FLOAT32, 1, sh);
    for (int64_t i = 0; i < sh[0]; i++)
        ((float *)t->data)[i] = 1.0f;
    OK(vs_set_journal_mode(g_path, VS_JOURNAL_WAL)); /* snapshots: WAL */
    save1(g_path, 1, "w", t, NULL);
    vs_ckpt *f = NULL;
    OK(vs_ckpt_open(g_path, &f));
    vs_tensor *got = NULL;
    OK(vs_ckpt_load(f, 1, "w", &got)); /* the snapshot is taken */
    vs_tensor_free(got);
    vs_ckpt_info *infos = NULL;
    size_t n = 0;
    OK(vs_list_checkpoints(g_path, &infos, &n)); /* opens and closes */
    vs_free(infos);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (int64_t i = 0; i < sh[0]; i++)
            ((float *)t->data)[i] = 2.0f;
        const char *nm = "w";
        const vs_tensor *tt = t;
        vs_save_opts o = {.busy_timeout_ms = 300};
        int rc = vs_save_tensors(g_path, 1, &nm, &tt, 1, &o);
        _exit(rc == VS_OK || rc == VS_EBUSY ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    OK(vs_ckpt_load(f, 1, "w", &got)); /* still the handle's snapshot */
    for (int64_t i = 0; i < sh[0]; i += 9973)
        assert_true(((float *)got->data)[i] == 1.0f);
    vs_tensor_free(got);
    vs_ckpt_close(f);
    vs_tensor_free(t);
}

/* A thread that adds 1 to every element of a buffer, pass after pass,
 * until told to stop. */
typedef struct {
    float *p;
    size_t n;
    atomic_int stop;
    long passes;
} scribbler;

static void *scribble(void *arg)
{
    scribbler *s = arg;
    while (!atomic_load(&s->stop)) {
        for (size_t i = 0; i < s->n; i++)
            s->p[i] += 1.0f;
        s->passes++;
    }
    return NULL;
}

/* A tensor that another thread changes while it is saved (a training
 * thread racing a checkpoint) may mix values from before and after, but
 * each chunk's CRC, statistics and stored bytes come from one read: the
 * checkpoint loads and verifies, holding values the tensor really had. */
static void test_concurrency__tensor_changed_during_save_still_loads(void **st)
{
    (void)st;
    int64_t sh[] = {(int64_t)8 << 20}; /* 32 MiB: 32 chunks */
    vs_tensor *t = mk(VS_FLOAT32, 1, sh);
    memset(t->data, 0, (size_t)sh[0] * sizeof(float));
    scribbler s = {.p = t->data, .n = (size_t)sh[0]};
    atomic_init(&s.stop, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, scribble, &s), 0);
    for (int64_t step = 1; step <= 6; step++) {
        const char *nm = "w";
        const vs_tensor *tt = t;
        vs_save_opts o = {.codec = step % 2 ? VS_CODEC_DEFAULT
                                            : VS_CODEC_RAW};
        OK(vs_save_tensors(g_path, step, &nm, &tt, 1, &o));
    }
    atomic_store(&s.stop, 1);
    assert_int_equal(pthread_join(th, NULL), 0);
    size_t bad = 1;
    OK(vs_verify(g_path, &bad));
    assert_int_equal(bad, 0);
    vs_ckpt *f = NULL;
    OK(vs_ckpt_open(g_path, &f));
    for (int64_t step = 1; step <= 6; step++) {
        vs_tensor *got = NULL;
        OK(vs_ckpt_load(f, step, "w", &got));
        const float *v = got->data;
        for (int64_t i = 0; i < sh[0]; i += 4099)
            assert_true(v[i] >= 0.0f && v[i] <= (float)(s.passes + 1) &&
                        v[i] == (float)(int64_t)v[i]);
        vs_tensor_free(got);
    }
    vs_ckpt_close(f);
    vs_tensor_free(t);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_concurrency__reader_sees_complete_checkpoints),
        T(test_concurrency__reader_waits_with_rollback_journal),
        T(test_concurrency__second_writer_gets_busy),
        T(test_concurrency__two_writer_processes_serialize),
        T(test_concurrency__handle_keeps_snapshot_across_other_calls),
        T(test_concurrency__tensor_changed_during_save_still_loads),
    };
    return cmocka_run_group_tests_name("concurrency", tests, NULL, NULL);
}
