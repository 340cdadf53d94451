#define _GNU_SOURCE /* kill */
/* Batched saves: a save larger than 32 MiB into a rollback-journal file
 * commits its chunks in batches and its checkpoint last; readers get in
 * between the batches and never see a partial checkpoint; the 'saving:'
 * rows pin the batches' chunks against other writers' deletes; a writer
 * killed mid-save leaves a file that verifies, and its chunks are
 * collected by the next save. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store_int.h" /* vs__save_batch_us */

#define STORE_TEST_NAME "vs_test_batch"
#include "support/store_test.h"

/* The time budget of a batch as the library sets it; each test begins
 * with it. */
static int64_t default_batch_us;

static int setup_batch(void **state)
{
    vs__save_batch_us = default_batch_us;
    return setup(state);
}

static long long file_size(const char *p)
{
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    return (long long)sb.st_size;
}

#define N_BIG 5
#define BIG_ELEMS ((int64_t)4 << 20) /* 16 MiB of float32 each: 80 MiB */

/* Distinct pseudo-random values per step and tensor (no dedup). */
static void fill(vs_tensor *t, int64_t step, int k)
{
    uint64_t x = (uint64_t)step * 0x9E3779B97F4A7C15u + (uint64_t)k + 1;
    float *f = t->data;
    for (int64_t i = 0; i < vs_tensor_numel(t); i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        f[i] = (float)(int32_t)(x >> 32) / 2147483648.0f;
    }
}

typedef struct {
    vs_tensor *t[N_BIG];
    const char *names[N_BIG];
} model;

static void model_make(model *m, int64_t step)
{
    static const char *const names[N_BIG] = {"a/w", "b/w", "c/w", "d/w",
                                             "e/w"};
    int64_t sh[1] = {BIG_ELEMS};
    for (int k = 0; k < N_BIG; k++) {
        m->t[k] = mk(VS_FLOAT32, 1, sh);
        fill(m->t[k], step, k);
        m->names[k] = names[k];
    }
}

static void model_free(model *m)
{
    for (int k = 0; k < N_BIG; k++)
        vs_tensor_free(m->t[k]);
}

static int model_save(const model *m, int64_t step, const vs_save_opts *o)
{
    return vs_save_tensors(g_path, step, m->names,
                           (const vs_tensor *const *)m->t, N_BIG, o);
}

/* The models of steps 1 and 2, step 1 saved. */
static void models_with_step1(model *m1, model *m2)
{
    model_make(m1, 1);
    model_make(m2, 2);
    OK(model_save(m1, 1, NULL));
}

static void assert_restores(const model *m, int64_t step)
{
    for (int k = 0; k < N_BIG; k++) {
        vs_tensor *got = NULL;
        OK(vs_load_variable(g_path, step, m->names[k], &got));
        assert_int_equal(vs_tensor_nbytes(got), vs_tensor_nbytes(m->t[k]));
        assert_memory_equal(got->data, m->t[k]->data, vs_tensor_nbytes(got));
        vs_tensor_free(got);
    }
}

static int64_t count(const char *sql)
{
    sqlite3 *db = raw_open(g_path);
    int64_t n = q_int(db, sql);
    sqlite3_close(db);
    return n;
}

#define ORPHANS                                                              \
    "SELECT count(*) FROM chunks WHERE NOT EXISTS (SELECT 1 FROM "          \
    "tensor_chunks WHERE chunk_id = chunks.id)"

/* ---- readers between batches ------------------------------------------- */

typedef struct {
    int calls, read_ok, saw_row, saw_step2;
    int rows_max; /* the most 'saving:' rows seen at once */
} probe;

/* After step 2 (m2) was saved over step 1 (m1): no 'saving:' row or
 * orphan chunk left, both steps restore bit for bit, the file verifies.
 * Frees both models. */
static void assert_whole_after_save(model *m1, model *m2)
{
    assert_int_equal(count("SELECT count(*) FROM meta WHERE key GLOB "
                           "'saving:*'"),
                     0);
    assert_int_equal(count(ORPHANS), 0);
    assert_restores(m1, 1);
    assert_restores(m2, 2);
    size_t bad = 1;
    OK(vs_verify(g_path, &bad));
    assert_int_equal(bad, 0);
    model_free(m1);
    model_free(m2);
}

/* What a plain reader with no busy timeout sees of the file mid-save: 0
 * when its read succeeded (*step2: step 2 is visible; *rows: the
 * 'saving:' rows), -1 when the file was busy. */
static int read_mid_save(int *step2, int *rows)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_open_v2(g_path, &db, SQLITE_OPEN_READONLY, NULL) ==
                 SQLITE_OK &&
             sqlite3_prepare_v2(db,
                                "SELECT (SELECT count(*) FROM checkpoints "
                                "WHERE step = 2), (SELECT count(*) FROM meta "
                                "WHERE key GLOB 'saving:*')",
                                -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW;
    if (ok) {
        *step2 = sqlite3_column_int(st, 0);
        *rows = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ok ? 0 : -1;
}

/* Mid-save, a plain reader gets in between batches (reads succeed), sees
 * the save's row once a batch is committed, and never sees step 2 before
 * the end. */
static void probe_cb(void *ctx, uint64_t done, uint64_t total)
{
    probe *p = ctx;
    int step2 = 0, rows = 0;
    if (done >= total)
        return;
    p->calls++;
    if (read_mid_save(&step2, &rows) != 0)
        return;
    p->read_ok++;
    p->saw_step2 += step2;
    p->saw_row += rows > 0;
    if (rows > p->rows_max)
        p->rows_max = rows;
}

static void test_batch__readers_get_in_between_batches(void **state)
{
    (void)state;
    model m1, m2;
    models_with_step1(&m1, &m2);
    probe p = {0, 0, 0, 0, 0};
    vs_save_opts o = {0};
    o.progress = probe_cb;
    o.progress_ctx = &p;
    OK(model_save(&m2, 2, &o));
    assert_true(p.calls > 10);
    assert_true(p.read_ok > 0);  /* a reader got in mid-save */
    assert_true(p.saw_row > 0);  /* after a batch was committed */
    assert_int_equal(p.saw_step2, 0); /* never a partial checkpoint */
    assert_whole_after_save(&m1, &m2);
}

/* ---- a concurrent delete spares the batches' chunks -------------------- */

typedef struct {
    int started;
    pthread_t th;
    int rc;
} deleter;

static void *delete_step1(void *arg)
{
    deleter *d = arg;
    d->rc = vs_delete_checkpoint(g_path, 1);
    return NULL;
}

static void start_delete_cb(void *ctx, uint64_t done, uint64_t total)
{
    deleter *d = ctx;
    /* Once the first batch (32 MiB) is committed: the callback after a
     * batch's commit runs with no transaction open, and waits for the
     * other writer. */
    if (d->started || done < ((uint64_t)32 << 20) || done >= total)
        return;
    /* Inside a batch the save holds the file's RESERVED lock, and its
     * exclusive lock once its pages spill (SQLITE_BUSY here, on the
     * saving thread, with no busy timeout): not between batches. */
    sqlite3 *db = raw_open(g_path);
    int s = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    assert_true(s == SQLITE_OK || s == SQLITE_BUSY);
    int in_between = s == SQLITE_OK &&
                     q_int(db, "SELECT count(*) FROM meta WHERE key GLOB "
                               "'saving:*'") > 0;
    if (s == SQLITE_OK)
        assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL),
                         SQLITE_OK);
    sqlite3_close(db);
    if (!in_between)
        return;
    assert_int_equal(pthread_create(&d->th, NULL, delete_step1, d), 0);
    assert_int_equal(pthread_join(d->th, NULL), 0);
    d->started = 1;
}

/* The delete runs between two batches and collects every chunk nothing
 * references: the save's committed chunks are pinned and survive. */
static void test_batch__delete_during_a_save_spares_its_chunks(void **state)
{
    (void)state;
    model m1, m2;
    models_with_step1(&m1, &m2);
    deleter d = {0, 0, -1};
    vs_save_opts o = {0};
    o.progress = start_delete_cb;
    o.progress_ctx = &d;
    OK(model_save(&m2, 2, &o));
    assert_int_equal(d.started, 1);
    OK(d.rc);
    vs_ckpt_info *ci = NULL;
    size_t n = 0;
    OK(vs_list_checkpoints(g_path, &ci, &n));
    assert_int_equal(n, 1);
    assert_int_equal(ci[0].step, 2);
    vs_free(ci);
    assert_restores(&m2, 2);
    OK(vs_verify(g_path, NULL));
    model_free(&m1);
    model_free(&m2);
}

/* ---- kill -9 mid-save --------------------------------------------------- */

/* A small save (step 3) after a killed one: it reaps the dead writer's
 * rows and collects the chunks only they pinned. */
static void save_small_step3(void)
{
    int64_t sh[1] = {4};
    vs_tensor *small = mk(VS_FLOAT32, 1, sh);
    save1(g_path, 3, "small", small, NULL);
    vs_tensor_free(small);
    assert_int_equal(count("SELECT count(*) FROM meta WHERE key GLOB "
                           "'saving:*'"),
                     0);
    assert_int_equal(count(ORPHANS), 0);
}

/* Kills the saving process once *(uint64_t *)ctx bytes are done. */
static void die_cb(void *ctx, uint64_t done, uint64_t total)
{
    if (done >= *(const uint64_t *)ctx && done < total)
        raise(SIGKILL);
}

/* Saves m2 as step 2 in a child killed after `at` bytes. */
static void save_killed(const model *m2, uint64_t at, int codec)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        vs_save_opts o = {0};
        o.codec = codec;
        o.progress = die_cb;
        o.progress_ctx = &at;
        (void)model_save(m2, 2, &o);
        _exit(3); /* not reached: the callback kills the child */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static void test_batch__killed_save_is_collected_by_the_next(void **state)
{
    (void)state;
    vs__save_batch_us = INT64_MAX; /* a batch of 32 MiB by 48 MiB */
    model m1, m2;
    models_with_step1(&m1, &m2);
    long long size1 = file_size(g_path);
    /* after at least one committed batch */
    save_killed(&m2, (uint64_t)48 << 20, VS_CODEC_DEFAULT);
    /* The last committed checkpoint is intact; the batches are there,
     * pinned by the dead writer's rows (all of one save). */
    assert_int_equal(count("SELECT count(DISTINCT substr(key, 1, 23)) FROM "
                           "meta WHERE key GLOB 'saving:*'"),
                     1);
    assert_true(count(ORPHANS) > 0);
    assert_true(file_size(g_path) > size1 + (30 << 20));
    OK(vs_verify(g_path, NULL));
    assert_restores(&m1, 1);
    /* Any next save reaps the rows and collects the chunks. */
    save_small_step3();
    /* ... whose pages the next save reuses. */
    long long size2 = file_size(g_path);
    int64_t free_bytes = count("SELECT p.freelist_count * s.page_size FROM "
                               "pragma_freelist_count() p, "
                               "pragma_page_size() s");
    assert_true(free_bytes > (30 << 20));
    OK(model_save(&m2, 2, NULL));
    assert_true(file_size(g_path) - size2 <
                (long long)N_BIG * BIG_ELEMS * 4 - free_bytes + (4 << 20));
    assert_restores(&m2, 2);
    OK(vs_verify(g_path, NULL));
    model_free(&m1);
    model_free(&m2);
}

#define PINNED_IDS                                                           \
    "SELECT count(*) FROM meta, json_each(meta.value, '$.chunks') WHERE "   \
    "meta.key GLOB 'saving:*'"
#define PINNED_DISTINCT                                                      \
    "SELECT count(DISTINCT j.value) FROM meta, json_each(meta.value, "      \
    "'$.chunks') j WHERE meta.key GLOB 'saving:*'"

/* A save's rows name each pinned chunk once: a batch commit adds a row
 * of that batch's chunks instead of rewriting one row naming all so far
 * (which grew with chunks times batches). Killed after its second batch
 * (raw codec: commits at 32 and 64 MiB of 80, the time budget off), the
 * save left its first row and one per batch; the next save reaps all
 * three. */
static void test_batch__a_batch_commit_writes_only_its_own_chunk_ids(
    void **state)
{
    (void)state;
    vs__save_batch_us = INT64_MAX; /* batches cut by their bytes only */
    model m1, m2;
    models_with_step1(&m1, &m2);
    save_killed(&m2, (uint64_t)72 << 20, VS_CODEC_RAW);
    assert_int_equal(count("SELECT count(*) FROM meta WHERE key GLOB "
                           "'saving:*'"),
                     3);
    int64_t ids = count(PINNED_IDS);
    int64_t distinct = count(PINNED_DISTINCT);
    int64_t widest = count("SELECT max(json_array_length(value, '$.chunks'))"
                           " FROM meta WHERE key GLOB 'saving:*'");
    print_message("pinned ids %lld (%lld distinct), widest row %lld\n",
                  (long long)ids, (long long)distinct, (long long)widest);
    assert_true(distinct >= 64); /* two batches of 1 MiB chunks */
    assert_int_equal(ids, distinct);
    assert_true(widest <= 40); /* one batch's */
    save_small_step3();
    assert_restores(&m1, 1);
    OK(vs_verify(g_path, NULL));
    model_free(&m1);
    model_free(&m2);
}

/* ---- batches cut by time ----------------------------------------------- */

/* Steps 1 and 2 of the five tensors (80 MiB, raw codec) where step 2
 * changes e/w only: a batched save whose new bytes (16 MiB) are under a
 * batch's byte budget, yet more than its 4 MiB page cache holds, so its
 * pages spill to the file (and its batch takes the file's lock) mid-save. */
static const vs_save_opts raw_opts = {.codec = VS_CODEC_RAW};

static void models_one_changed(model *m1, model *m2)
{
    model_make(m1, 1);
    model_make(m2, 1);
    fill(m2->t[N_BIG - 1], 2, N_BIG - 1);
    OK(model_save(m1, 1, &raw_opts));
}

/* A fresh file with step 1, then step 2 saved with batch time budget_us,
 * checked whole: restores bit for bit, verifies, no row or orphan left.
 * The most 'saving:' rows a reader saw mid-save. */
static int save_with_budget(int64_t budget_us)
{
    remove_db(g_path);
    model m1, m2;
    models_one_changed(&m1, &m2);
    vs__save_batch_us = budget_us;
    probe p = {0, 0, 0, 0, 0};
    vs_save_opts o = raw_opts;
    o.progress = probe_cb;
    o.progress_ctx = &p;
    OK(model_save(&m2, 2, &o));
    assert_true(p.calls > 10);
    assert_int_equal(p.saw_step2, 0); /* never a partial checkpoint */
    assert_whole_after_save(&m1, &m2);
    return p.rows_max;
}

/* The same save, 16 MiB of new bytes: without a time budget it is one
 * transaction (a reader sees no batch row before the end); with a
 * budget of 0 every batch commits as soon as it has spilled pages to
 * the file, so readers see at least two batch commits before the end. */
static void test_batch__a_time_budget_cuts_batches_under_the_byte_budget(
    void **state)
{
    (void)state;
    int rows_off = save_with_budget(INT64_MAX);
    int rows_tiny = save_with_budget(0);
    print_message("saving rows seen mid-save: %d without a time budget, "
                  "%d with 0 us\n",
                  rows_off, rows_tiny);
    assert_int_equal(rows_off, 0);
    assert_true(rows_tiny >= 3); /* 'saving:<hex>', '.1', '.2' */
}

/* Batches cut by time pin their chunks as those cut by bytes: killed
 * near the end of a save whose batches commit by time, the save left one
 * row per batch, each naming only its batch's chunks, and every chunk it
 * wrote is pinned; the last checkpoint is intact and the next save reaps
 * the rows and collects the chunks. */
static void test_batch__batches_cut_by_time_pin_each_chunk_once(void **state)
{
    (void)state;
    model m1, m2;
    models_one_changed(&m1, &m2);
    vs__save_batch_us = 0;
    save_killed(&m2, (uint64_t)78 << 20, VS_CODEC_RAW);
    int64_t rows = count("SELECT count(*) FROM meta WHERE key GLOB "
                         "'saving:*'");
    int64_t ids = count(PINNED_IDS), distinct = count(PINNED_DISTINCT);
    print_message("rows %lld, pinned ids %lld (%lld distinct)\n",
                  (long long)rows, (long long)ids, (long long)distinct);
    assert_true(rows >= 3);
    assert_int_equal(ids, distinct);
    /* a/w .. d/w are shared with step 1 (64 chunks), pinned too */
    assert_true(distinct > 64);
    assert_true(count(ORPHANS) > 0);
    assert_int_equal(count(ORPHANS " AND NOT EXISTS (SELECT 1 FROM meta, "
                           "json_each(meta.value, '$.chunks') j WHERE "
                           "meta.key GLOB 'saving:*' AND j.value = "
                           "chunks.id)"),
                     0);
    OK(vs_verify(g_path, NULL));
    assert_restores(&m1, 1);
    save_small_step3();
    assert_restores(&m1, 1);
    OK(vs_verify(g_path, NULL));
    model_free(&m1);
    model_free(&m2);
}

/* ---- rows of gone writers ----------------------------------------------- */

static void put_row(const char *key, const char *json)
{
    sqlite3 *db = raw_open(g_path);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO meta(key, value) "
                                        "VALUES (?1, ?2)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC),
                     SQLITE_OK);
    assert_int_equal(sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static int has_row(const char *key)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM meta WHERE key = '%s'",
             key);
    return (int)count(sql);
}

/* A live writer's pins hold; rows of a dead pid, of another boot that
 * stopped committing long ago, and damaged rows are reaped; the rows of
 * another boot's save that committed recently are kept. */
static void test_batch__only_gone_writers_rows_are_reaped(void **state)
{
    (void)state;
    int64_t sh[1] = {1000};
    vs_tensor *t = mk(VS_FLOAT32, 1, sh);
    fill(t, 1, 0);
    save1(g_path, 1, "w", t, NULL);
    fill(t, 2, 0);
    save1(g_path, 2, "w", t, NULL);
    /* Step 1's chunk, orphaned by hand, pinned by this (live) process. */
    int64_t chunk = count("SELECT tc.chunk_id FROM tensor_chunks tc JOIN "
                          "tensors t ON t.id = tc.tensor_id WHERE t.step=1");
    raw_exec(g_path, "DELETE FROM tensor_chunks WHERE tensor_id IN (SELECT "
                     "id FROM tensor_rows WHERE step=1); DELETE FROM "
                     "tensor_rows WHERE step=1; DELETE FROM checkpoints "
                     "WHERE step=1");
    char boot[64] = "", json[512];
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    assert_non_null(f);
    assert_non_null(fgets(boot, sizeof boot, f));
    fclose(f);
    boot[strcspn(boot, "\n")] = '\0';
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    snprintf(json, sizeof json,
             "{\"boot\":\"%s\",\"pid\":%ld,\"start\":-1,\"time\":0,"
             "\"chunks\":[%lld]}",
             boot, (long)getpid(), (long long)chunk);
    put_row("saving:live", json);
    snprintf(json, sizeof json,
             "{\"boot\":\"%s\",\"pid\":%ld,\"start\":-1,\"time\":0,"
             "\"chunks\":[]}",
             boot, (long)child);
    put_row("saving:deadpid", json);
    put_row("saving:oldboot", "{\"boot\":\"x\",\"pid\":1,\"time\":0}");
    snprintf(json, sizeof json, "{\"boot\":\"x\",\"pid\":1,\"time\":%ld}",
             (long)time(NULL));
    put_row("saving:newboot", json);
    /* A save's rows (first 23 characters shared) live as long as its
     * newest: an old first row of a save that committed a batch lately
     * stays. */
    put_row("saving:00112233445566ff", "{\"boot\":\"x\",\"pid\":1,"
                                        "\"time\":0}");
    put_row("saving:00112233445566ff.1", json);
    put_row("saving:77112233445566ff", "{\"boot\":\"x\",\"pid\":1,"
                                        "\"time\":0}");
    put_row("saving:77112233445566ff.1", "{\"boot\":\"x\",\"pid\":1,"
                                          "\"time\":0}");
    put_row("saving:broken", "{not json");
    put_row("saving:array", "[1,2]");
    OK(vs_delete_checkpoint(g_path, 2)); /* reaps, then collects */
    assert_true(has_row("saving:live"));
    assert_true(has_row("saving:newboot"));
    assert_true(has_row("saving:00112233445566ff"));
    assert_true(has_row("saving:00112233445566ff.1"));
    assert_false(has_row("saving:77112233445566ff"));
    assert_false(has_row("saving:77112233445566ff.1"));
    assert_false(has_row("saving:deadpid"));
    assert_false(has_row("saving:oldboot"));
    assert_false(has_row("saving:broken"));
    assert_false(has_row("saving:array"));
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM chunks WHERE id=%lld",
             (long long)chunk);
    assert_int_equal(count(sql), 1); /* pinned by the live row */
    /* The same row with a dead pid: reaped, and the chunk collected. */
    raw_exec(g_path, "DELETE FROM meta WHERE key='saving:live'");
    snprintf(json, sizeof json,
             "{\"boot\":\"%s\",\"pid\":%ld,\"start\":-1,\"time\":0,"
             "\"chunks\":[%lld]}",
             boot, (long)child, (long long)chunk);
    put_row("saving:live", json);
    save1(g_path, 3, "w", t, NULL);
    assert_false(has_row("saving:live"));
    assert_int_equal(count("SELECT count(*) FROM chunks"), 1); /* step 3's */
    vs_tensor_free(t);
}

int main(void)
{
    default_batch_us = vs__save_batch_us;
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup_batch, teardown)
        T(test_batch__readers_get_in_between_batches),
        T(test_batch__delete_during_a_save_spares_its_chunks),
        T(test_batch__killed_save_is_collected_by_the_next),
        T(test_batch__a_batch_commit_writes_only_its_own_chunk_ids),
        T(test_batch__a_time_budget_cuts_batches_under_the_byte_budget),
        T(test_batch__batches_cut_by_time_pin_each_chunk_once),
        T(test_batch__only_gone_writers_rows_are_reaped),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
