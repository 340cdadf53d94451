/* Asynchronous saves (vs_async_*): the checkpoint equals a synchronous
 * save's, holds the values as of the call whatever the caller does next,
 * validation errors come at once, and a background failure is reported
 * once, on the calling thread, by wait, the next save or free; a save
 * that borrows the caller's bytes (nocopy) copies nothing else it needs. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "save/save_int.h" /* vs__save_snap_reuses, _copied */
#include "varstore.h"

#define MSG_MAX 1024 /* holds any vs_errmsg() */

#define STORE_TEST_NAME "vs_test_async"
#include "support/store_test.h"

static char g_path2[600];

static int setup2(void **state)
{
    setup(state);
    snprintf(g_path2, sizeof g_path2, "%s.sync.db", g_path);
    remove_db(g_path2);
    return 0;
}

static int teardown2(void **state)
{
    remove_db(g_path2);
    (void)rmdir(g_path); /* the tests that made it a directory */
    return teardown(state);
}

/* ---- helpers ----------------------------------------------------------- */

/* Appends every row of sql on the file at p to a new string: each value
 * with its type, blobs in hex. */
static char *dump(const char *p, const char *sql)
{
    sqlite3 *db = raw_open(p);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_str *s = sqlite3_str_new(NULL);
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            int ty = sqlite3_column_type(st, i);
            if (ty == SQLITE_BLOB) {
                const unsigned char *b = sqlite3_column_blob(st, i);
                int n = sqlite3_column_bytes(st, i);
                sqlite3_str_appendf(s, "b:");
                for (int k = 0; k < n; k++)
                    sqlite3_str_appendf(s, "%02x", b[k]);
            } else {
                sqlite3_str_appendf(s, "%d:%s", ty,
                                    (const char *)sqlite3_column_text(st, i));
            }
            sqlite3_str_appendchar(s, 1, '|');
        }
        sqlite3_str_appendchar(s, 1, '\n');
    }
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    assert_int_equal(sqlite3_str_errcode(s), SQLITE_OK);
    char *out = sqlite3_str_finish(s); /* NULL when empty */
    return out != NULL ? out : sqlite3_mprintf("");
}

/* Everything a save writes but the time of the save: the checkpoints'
 * totals, the tensor rows, their chunks (bytes included), the scopes and
 * the variables' definitions. */
static const char *const content_sql[] = {
    "SELECT step, n_tensors, raw_bytes, stored_bytes, new_bytes, keep, "
    "writer, tensors_crc FROM checkpoints ORDER BY step",
    "SELECT t.step, t.name, t.dtype, t.shape, t.numel, t.codec, "
    "t.chunk_bytes, t.n_chunks, t.raw_bytes, t.stored_bytes, t.crc32, "
    "t.min, t.max, t.mean, t.std, t.n_nan, t.n_inf, tc.seq, c.hash, "
    "c.crc32, c.raw_bytes, c.elem_size, c.codec, c.stored_bytes, c.data "
    "FROM tensors t JOIN tensor_chunks tc ON tc.tensor_id = t.id "
    "JOIN chunks c ON c.id = tc.chunk_id ORDER BY t.step, t.name, tc.seq",
    "SELECT * FROM scopes ORDER BY name",
    "SELECT * FROM variables ORDER BY name",
};

static void expect_same_content(const char *a, const char *b)
{
    for (size_t q = 0; q < sizeof content_sql / sizeof *content_sql; q++) {
        char *x = dump(a, content_sql[q]), *y = dump(b, content_sql[q]);
        assert_true(strlen(x) > 0 || q >= 2);
        assert_string_equal(x, y);
        sqlite3_free(x);
        sqlite3_free(y);
    }
}

/* A float32 tensor of n values v0, v0 + 1, ... */
static vs_tensor *ramp(int64_t n, float v0)
{
    vs_tensor *t = mk(VS_FLOAT32, 1, (int64_t[]){n});
    for (int64_t i = 0; i < n; i++)
        ((float *)t->data)[i] = v0 + (float)(i % 1000) * 0.5f;
    return t;
}

static void expect_ramp(const char *path, int64_t step, const char *name,
                        int64_t n, float v0)
{
    vs_tensor *t = NULL;
    OK(vs_load_variable(path, step, name, &t));
    assert_int_equal(t->shape[0], n);
    for (int64_t i = 0; i < n; i++)
        assert_true(((float *)t->data)[i] == v0 + (float)(i % 1000) * 0.5f);
    vs_tensor_free(t);
}

static vs_async *new_saver(void)
{
    vs_async *a = NULL;
    OK(vs_async_new(&a));
    assert_non_null(a);
    return a;
}

/* ---- loose tensors ----------------------------------------------------- */

#define NT 5
static const char *const g_names[NT] = {"big", "ints", "scalar", "empty",
                                        "flags"};

static void make_tensors(vs_tensor *t[NT])
{
    t[0] = ramp(700000, 1.0f); /* 2.8 MB: 3 chunks of 1 MiB */
    t[1] = mk(VS_INT64, 2, (int64_t[]){3, 4});
    for (int i = 0; i < 12; i++)
        ((int64_t *)t[1]->data)[i] = (int64_t)i * 1000003;
    t[2] = mk(VS_FLOAT64, 0, NULL);
    *(double *)t[2]->data = 3.25;
    t[3] = mk(VS_FLOAT32, 2, (int64_t[]){0, 7});
    t[4] = mk(VS_BOOL, 1, (int64_t[]){5});
    ((unsigned char *)t[4]->data)[3] = 1;
}

static void free_tensors(vs_tensor *t[NT])
{
    for (int i = 0; i < NT; i++)
        vs_tensor_free(t[i]);
}

static void test_async_tensors_equal_a_synchronous_save(void **state)
{
    (void)state;
    vs_tensor *t[NT];
    make_tensors(t);
    const vs_tensor *const *ts = (const vs_tensor *const *)t;
    OK(vs_save_tensors(g_path2, 3, g_names, ts, NT, NULL));
    vs_async *a = new_saver();
    OK(vs_async_save_tensors(a, g_path, 3, g_names, ts, NT, NULL));
    OK(vs_async_wait(a));
    OK(vs_async_free(a));
    expect_same_content(g_path2, g_path);
    /* And again over existing steps, with options (raw codec, small
     * chunks, retention). */
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.codec = VS_CODEC_RAW;
    o.chunk_bytes = 4096;
    o.max_to_keep = 1;
    OK(vs_save_tensors(g_path2, 4, g_names, ts, NT, &o));
    a = new_saver();
    OK(vs_async_save_tensors(a, g_path, 4, g_names, ts, NT, &o));
    OK(vs_async_free(a));
    expect_same_content(g_path2, g_path);
    free_tensors(t);
}

static void test_async_checkpoint_holds_the_values_as_of_the_call(void **state)
{
    (void)state;
    vs_tensor *t[NT];
    make_tensors(t);
    vs_async *a = new_saver();
    OK(vs_async_save_tensors(a, g_path, 1, g_names,
                             (const vs_tensor *const *)t, NT, NULL));
    /* The caller overwrites and frees everything at once. */
    memset(t[0]->data, 0xff, 700000 * sizeof(float));
    ((int64_t *)t[1]->data)[5] = -1;
    free_tensors(t);
    OK(vs_async_wait(a));
    OK(vs_async_free(a));
    expect_ramp(g_path, 1, "big", 700000, 1.0f);
    vs_tensor *v = NULL;
    OK(vs_load_variable(g_path, 1, "ints", &v));
    assert_int_equal(((int64_t *)v->data)[5], 5 * 1000003);
    vs_tensor_free(v);
}

static void test_async_two_saves_back_to_back_both_land(void **state)
{
    (void)state;
    vs_tensor *t = ramp(300000, 2.0f);
    const char *nm = "w";
    const vs_tensor *tt = t;
    vs_async *a = new_saver();
    OK(vs_async_save_tensors(a, g_path, 1, &nm, &tt, 1, NULL));
    for (int64_t i = 0; i < 300000; i++)
        ((float *)t->data)[i] += 10.0f;
    OK(vs_async_save_tensors(a, g_path, 2, &nm, &tt, 1, NULL));
    vs_tensor_free(t);
    OK(vs_async_free(a));
    vs_ckpt_info *ck = NULL;
    size_t n = 0;
    OK(vs_list_checkpoints(g_path, &ck, &n));
    assert_int_equal(n, 2);
    assert_int_equal(ck[0].step, 1);
    assert_int_equal(ck[1].step, 2);
    vs_free(ck);
    expect_ramp(g_path, 1, "w", 300000, 2.0f);
    expect_ramp(g_path, 2, "w", 300000, 12.0f);
}

/* A saver keeps its last snapshot's memory for its next save of about the
 * same size (at most twice what that save needs), which then copies into
 * pages already touched; the values saved are always the call's. */
static void test_async_next_save_of_a_like_size_reuses_the_snapshot_memory(
    void **state)
{
    (void)state;
    const char *nm = "w";
    vs_tensor *t = ramp(600000, 1.0f); /* 2.4 MB */
    const vs_tensor *tt = t;
    vs_async *a = new_saver();
    OK(vs_async_save_tensors(a, g_path, 1, &nm, &tt, 1, NULL));
    OK(vs_async_wait(a));
    size_t r0 = vs__save_snap_reuses();
    for (int64_t i = 0; i < 600000; i++)
        ((float *)t->data)[i] += 5.0f;
    OK(vs_async_save_tensors(a, g_path, 2, &nm, &tt, 1, NULL));
    assert_int_equal(vs__save_snap_reuses(), r0 + 1);
    vs_tensor_free(t);
    /* More than the kept memory holds, then less than half of it: new
     * memory both times. */
    vs_tensor *big = ramp(2000000, 3.0f), *small = ramp(100000, 4.0f);
    tt = big;
    OK(vs_async_save_tensors(a, g_path, 3, &nm, &tt, 1, NULL));
    tt = small;
    OK(vs_async_save_tensors(a, g_path, 4, &nm, &tt, 1, NULL));
    assert_int_equal(vs__save_snap_reuses(), r0 + 1);
    vs_tensor_free(big);
    vs_tensor_free(small);
    OK(vs_async_free(a));
    expect_ramp(g_path, 1, "w", 600000, 1.0f);
    expect_ramp(g_path, 2, "w", 600000, 6.0f);
    expect_ramp(g_path, 3, "w", 2000000, 3.0f);
    expect_ramp(g_path, 4, "w", 100000, 4.0f);
}

/* ---- the graph form ---------------------------------------------------- */

/* A graph with a scope, a plain variable, a not-trainable one and a
 * partitioned variable, initialized. */
static vs_graph *model(void)
{
    vs_graph *g = NULL;
    OK(vs_graph_open(&g));
    vs_scope_opts so;
    memset(&so, 0, sizeof so);
    vs_scope *s = NULL;
    OK(vs_variable_scope_push(g, "net", &so, &s));
    vs_init ini = vs_init_random_normal(0.0, 1.0, 7);
    vs_var_opts o;
    memset(&o, 0, sizeof o);
    o.shape = (int64_t[]){300, 40};
    o.ndim = 2;
    o.initializer = &ini;
    vs_var *v = NULL;
    OK(vs_get_variable(g, "w", &o, &v));
    o.shape = (int64_t[]){7};
    o.ndim = 1;
    o.not_trainable = 1;
    OK(vs_get_variable(g, "count", &o, &v));
    vs_partitioner p = vs_partitioner_fixed_size(3, 0);
    vs_partitioned *pv = NULL;
    o.shape = (int64_t[]){10, 6};
    o.ndim = 2;
    o.not_trainable = 0;
    OK(vs_get_partitioned_variable(g, "emb", &o, &p, &pv));
    OK(vs_variable_scope_pop(g));
    OK(vs_global_variables_initializer(g));
    return g;
}

static void test_async_graph_save_survives_assign_and_graph_close(void **st)
{
    (void)st;
    vs_graph *g = model();
    OK(vs_save(g, g_path2, 5));
    vs_async *a = new_saver();
    OK(vs_async_save(a, g, g_path, 5, NULL));
    /* New values, then the graph is gone before the save ends. */
    vs_var *all[8];
    size_t n = vs_get_collection(g, VS_GLOBAL_VARIABLES, NULL, all, 8);
    assert_int_equal(n, 5); /* w, count and the three parts of emb */
    for (size_t i = 0; i < n; i++) {
        vs_tensor *val = NULL;
        OK(vs_var_value(all[i], &val));
        memset(val->data, 0x7f, 4);
    }
    vs_graph_close(g);
    OK(vs_async_wait(a));
    OK(vs_async_free(a));
    expect_same_content(g_path2, g_path);
    char *vars = dump(g_path, "SELECT name, key, shape FROM variables "
                              "ORDER BY name");
    assert_string_equal(vars, "3:net/count|3:net/count|3:[7]|\n"
                              "3:net/emb|3:net/emb|3:[10,6]|\n"
                              "3:net/w|3:net/w|3:[300,40]|\n");
    sqlite3_free(vars);
}

static void test_async_validation_errors_are_synchronous(void **state)
{
    (void)state;
    vs_tensor *t = ramp(4, 0.0f);
    const vs_tensor *ts[2] = {t, t};
    const char *dup[2] = {"x", "x"};
    vs_async *a = new_saver();
    FAILS(vs_async_save_tensors(a, g_path, -1, dup, ts, 1, NULL), VS_EINVAL,
          "checkpoint step must be >= 0, got -1");
    FAILS(vs_async_save_tensors(a, g_path, 1, dup, ts, 2, NULL), VS_EINVAL,
          "At least two variables have the same name: x");
    FAILS(vs_async_save_tensors(a, NULL, 1, dup, ts, 1, NULL), VS_EINVAL,
          "checkpoint path is NULL or empty");
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.level = 12;
    FAILS(vs_async_save_tensors(a, g_path, 1, dup, ts, 1, &o), VS_EINVAL,
          "zlib level 12 is outside 0-9");
    /* The graph form: TF's uninitialized-value error. */
    vs_graph *g = NULL;
    OK(vs_graph_open(&g));
    vs_var *v = getvar(g, "u", VS_FLOAT32, 1, (int64_t[]){3});
    (void)v;
    FAILS(vs_async_save(a, g, g_path, 1, NULL), VS_EUNINIT,
          "Attempting to use uninitialized value u");
    FAILS(vs_async_save(a, NULL, g_path, 1, NULL), VS_EINVAL,
          "graph is NULL");
    vs_graph_close(g);
    /* Nothing was started: no file, nothing to report. */
    assert_int_equal(vs_async_wait(a), VS_OK);
    assert_false(exists(g_path));
    OK(vs_async_free(a));
    vs_tensor_free(t);
}

static void test_async_wait_with_nothing_in_flight_is_ok(void **state)
{
    (void)state;
    vs_async *a = new_saver();
    OK(vs_async_wait(a));
    OK(vs_async_wait(a));
    OK(vs_async_free(a));
    OK(vs_async_free(NULL));
    FAILS(vs_async_wait(NULL), VS_EINVAL, "async saver is NULL");
    FAILS(vs_async_new(NULL), VS_EINVAL, "out is NULL");
    vs_tensor *t = ramp(2, 0.0f);
    const char *nm = "x";
    const vs_tensor *tt = t;
    FAILS(vs_async_save_tensors(NULL, g_path, 1, &nm, &tt, 1, NULL),
          VS_EINVAL, "async saver is NULL");
    vs_tensor_free(t);
}

/* ---- errors in the background ------------------------------------------ */

/* The code and message of a synchronous save of x to path. */
static int sync_error(const char *path, const vs_tensor *x,
                      const vs_save_opts *o, char *msg, size_t cap)
{
    const char *nm = "x";
    int rc = vs_save_tensors(path, 1, &nm, &x, 1, o);
    snprintf(msg, cap, "%s", vs_errmsg());
    /* Another message on this thread, so that the one the async call
     * reports must come from its background thread. */
    FAILS(vs_async_wait(NULL), VS_EINVAL, "async saver is NULL");
    return rc;
}

typedef struct {
    int rc;
    char msg[MSG_MAX];
} other_thread_err;

static void *read_errmsg(void *arg)
{
    other_thread_err *e = arg;
    snprintf(e->msg, sizeof e->msg, "%s", vs_errmsg());
    return NULL;
}

static void test_async_background_error_is_reported_by_wait(void **state)
{
    (void)state;
    assert_int_equal(mkdir(g_path, 0700), 0); /* the path is a directory */
    vs_tensor *t = ramp(16, 0.0f);
    char want[MSG_MAX];
    int code = sync_error(g_path, t, NULL, want, sizeof want);
    assert_int_not_equal(code, VS_OK);
    vs_async *a = new_saver();
    const char *nm = "x";
    const vs_tensor *tt = t;
    OK(vs_async_save_tensors(a, g_path, 1, &nm, &tt, 1, NULL));
    vs_tensor_free(t);
    FAILS(vs_async_wait(a), code, want);
    /* Reported once: the message is this thread's, and a second wait has
     * nothing to report. */
    pthread_t th;
    other_thread_err e;
    assert_int_equal(pthread_create(&th, NULL, read_errmsg, &e), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_string_equal(e.msg, "not an error");
    OK(vs_async_wait(a));
    OK(vs_async_free(a));
}

static void test_async_background_error_is_reported_by_the_next_save(void **s)
{
    (void)s;
    /* A busy file: another connection holds the write lock past the
     * save's busy timeout. */
    vs_tensor *t = ramp(16, 0.0f);
    save1(g_path, 0, "x", t, NULL);
    sqlite3 *db = raw_open(g_path);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
                     SQLITE_OK);
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.busy_timeout_ms = 50;
    char want[MSG_MAX];
    int code = sync_error(g_path, t, &o, want, sizeof want);
    assert_int_equal(code, VS_EBUSY);
    vs_async *a = new_saver();
    const char *nm = "x";
    const vs_tensor *tt = t;
    OK(vs_async_save_tensors(a, g_path, 1, &nm, &tt, 1, &o));
    /* The next save reports it and starts nothing. */
    FAILS(vs_async_save_tensors(a, g_path2, 1, &nm, &tt, 1, NULL), code,
          want);
    OK(vs_async_wait(a));
    assert_false(exists(g_path2));
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    /* And the saver works on. */
    OK(vs_async_save_tensors(a, g_path, 1, &nm, &tt, 1, NULL));
    OK(vs_async_free(a));
    expect_ramp(g_path, 1, "x", 16, 0.0f);
    vs_tensor_free(t);
}

static void test_async_background_error_is_reported_by_free(void **state)
{
    (void)state;
    assert_int_equal(mkdir(g_path, 0700), 0);
    vs_tensor *t = ramp(16, 0.0f);
    char want[MSG_MAX];
    int code = sync_error(g_path, t, NULL, want, sizeof want);
    vs_async *a = new_saver();
    const char *nm = "x";
    const vs_tensor *tt = t;
    OK(vs_async_save_tensors(a, g_path, 1, &nm, &tt, 1, NULL));
    FAILS(vs_async_free(a), code, want);
    vs_tensor_free(t);
}

/* ---- saves that borrow the caller's bytes ------------------------------ */

/* The same checkpoint as a synchronous save, without a copy of the bytes:
 * the names and the vs_tensor structs may go as soon as the call
 * returns; only the bytes are borrowed until the save is reported. */
static void test_async_nocopy_equals_a_synchronous_save_without_a_copy(
    void **state)
{
    (void)state;
    vs_tensor *t[NT];
    make_tensors(t);
    OK(vs_save_tensors(g_path2, 3, g_names, (const vs_tensor *const *)t, NT,
                       NULL));
    char *names[NT];
    vs_tensor *shells = malloc(NT * sizeof *shells);
    const vs_tensor *ts[NT];
    assert_non_null(shells);
    for (int i = 0; i < NT; i++) {
        names[i] = strdup(g_names[i]);
        assert_non_null(names[i]);
        shells[i] = *t[i]; /* the struct only: data is the caller's */
        ts[i] = &shells[i];
    }
    size_t copied = vs__save_snap_copied();
    vs_async *a = new_saver();
    OK(vs_async_save_tensors_nocopy(a, g_path, 3, (const char *const *)names,
                                    ts, NT, NULL));
    assert_int_equal(vs__save_snap_copied(), copied);
    for (int i = 0; i < NT; i++) {
        memset(names[i], '#', strlen(names[i]));
        free(names[i]);
    }
    memset(shells, 0xee, NT * sizeof *shells);
    free(shells);
    OK(vs_async_wait(a));
    OK(vs_async_free(a));
    expect_same_content(g_path2, g_path);
    free_tensors(t);
}

/* A borrowing save leaves the memory a saver keeps for its copies alone:
 * the copying save after it still copies into it. */
static void test_async_nocopy_keeps_the_snapshot_memory_for_the_next_copy(
    void **state)
{
    (void)state;
    const char *nm = "w";
    vs_tensor *t = ramp(600000, 1.0f);
    const vs_tensor *tt = t;
    vs_async *a = new_saver();
    OK(vs_async_save_tensors(a, g_path, 1, &nm, &tt, 1, NULL));
    OK(vs_async_wait(a));
    size_t r0 = vs__save_snap_reuses();
    OK(vs_async_save_tensors_nocopy(a, g_path, 2, &nm, &tt, 1, NULL));
    OK(vs_async_wait(a)); /* the bytes are the caller's again */
    for (int64_t i = 0; i < 600000; i++)
        ((float *)t->data)[i] += 5.0f;
    OK(vs_async_save_tensors(a, g_path, 3, &nm, &tt, 1, NULL));
    assert_int_equal(vs__save_snap_reuses(), r0 + 1);
    OK(vs_async_free(a));
    vs_tensor_free(t);
    expect_ramp(g_path, 1, "w", 600000, 1.0f);
    expect_ramp(g_path, 2, "w", 600000, 1.0f);
    expect_ramp(g_path, 3, "w", 600000, 6.0f);
}

static void test_async_nocopy_errors_as_the_copying_save(void **state)
{
    (void)state;
    vs_tensor *t = ramp(16, 0.0f);
    const vs_tensor *ts[2] = {t, t};
    const char *dup[2] = {"x", "x"};
    vs_async *a = new_saver();
    FAILS(vs_async_save_tensors_nocopy(a, g_path, 1, dup, ts, 2, NULL),
          VS_EINVAL, "At least two variables have the same name: x");
    FAILS(vs_async_save_tensors_nocopy(NULL, g_path, 1, dup, ts, 1, NULL),
          VS_EINVAL, "async saver is NULL");
    assert_false(exists(g_path));
    /* In the background: the path is a directory. */
    assert_int_equal(mkdir(g_path, 0700), 0);
    char want[MSG_MAX];
    int code = sync_error(g_path, t, NULL, want, sizeof want);
    assert_int_not_equal(code, VS_OK);
    OK(vs_async_save_tensors_nocopy(a, g_path, 1, dup, ts, 1, NULL));
    FAILS(vs_async_wait(a), code, want);
    OK(vs_async_free(a));
    vs_tensor_free(t);
}

/* ---- progress ---------------------------------------------------------- */

typedef struct {
    pthread_t caller;
    int calls, on_caller;
    uint64_t last_done, total;
} progress_log;

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    progress_log *p = ctx;
    p->calls++;
    p->on_caller += pthread_equal(pthread_self(), p->caller) != 0;
    p->last_done = done;
    p->total = total;
}

static void test_async_progress_runs_on_the_background_thread(void **st)
{
    (void)st;
    vs_tensor *t = ramp(600000, 0.0f);
    progress_log log;
    memset(&log, 0, sizeof log);
    log.caller = pthread_self();
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.progress = on_progress;
    o.progress_ctx = &log;
    vs_async *a = new_saver();
    const char *nm = "x";
    const vs_tensor *tt = t;
    OK(vs_async_save_tensors(a, g_path, 1, &nm, &tt, 1, &o));
    OK(vs_async_free(a));
    assert_true(log.calls >= 2);
    assert_int_equal(log.on_caller, 0);
    assert_int_equal(log.total, 600000 * sizeof(float));
    assert_int_equal(log.last_done, log.total);
    vs_tensor_free(t);
}

/* What a progress callback that calls its own saver back saw (it runs
 * on the saver's thread: no cmocka assertion there). */
typedef struct {
    vs_async *a;
    const vs_tensor *t;
    int calls, wait_rc, save_rc, free_rc;
    char wait_msg[MSG_MAX];
} calling_back;

static void call_back(void *ctx, uint64_t done, uint64_t total)
{
    calling_back *cb = ctx;
    (void)done;
    (void)total;
    if (cb->calls++ > 0)
        return;
    cb->wait_rc = vs_async_wait(cb->a);
    snprintf(cb->wait_msg, sizeof cb->wait_msg, "%s", vs_errmsg());
    if (cb->wait_rc == VS_OK)
        return; /* the saver thinks its save is over: nothing more */
    const char *nm = "y";
    cb->save_rc = vs_async_save_tensors_nocopy(cb->a, g_path, 2, &nm, &cb->t,
                                               1, NULL);
    cb->free_rc = vs_async_free(cb->a);
}

/* The save in flight's own progress callback cannot wait for it, start
 * another or free the saver: each call fails with VS_EINVAL instead of
 * reporting a save that is still reading the borrowed bytes as over
 * (after which the caller would free them); the save goes on, and the
 * caller's wait reports it. */
static void test_async_progress_callback_cannot_wait_for_its_own_save(
    void **st)
{
    (void)st;
    vs_tensor *t = ramp(600000, 2.0f);
    calling_back cb;
    memset(&cb, 0, sizeof cb);
    cb.a = new_saver();
    cb.t = t;
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.progress = call_back;
    o.progress_ctx = &cb;
    const char *nm = "x";
    OK(vs_async_save_tensors_nocopy(cb.a, g_path, 1, &nm, &cb.t, 1, &o));
    OK(vs_async_wait(cb.a));
    assert_true(cb.calls >= 2);
    assert_int_equal(cb.wait_rc, VS_EINVAL);
    assert_string_equal(cb.wait_msg,
                        "an async saver cannot be called from its own "
                        "save's progress callback");
    assert_int_equal(cb.save_rc, VS_EINVAL);
    assert_int_equal(cb.free_rc, VS_EINVAL);
    OK(vs_async_free(cb.a));
    expect_ramp(g_path, 1, "x", 600000, 2.0f);
    vs_ckpt_info *ci = NULL;
    size_t n = 0;
    OK(vs_list_checkpoints(g_path, &ci, &n));
    assert_int_equal(n, 1); /* no step 2 */
    vs_free(ci);
    vs_tensor_free(t);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup2, teardown2)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_async_tensors_equal_a_synchronous_save),
        T(test_async_checkpoint_holds_the_values_as_of_the_call),
        T(test_async_two_saves_back_to_back_both_land),
        T(test_async_next_save_of_a_like_size_reuses_the_snapshot_memory),
        T(test_async_graph_save_survives_assign_and_graph_close),
        T(test_async_validation_errors_are_synchronous),
        T(test_async_wait_with_nothing_in_flight_is_ok),
        T(test_async_background_error_is_reported_by_wait),
        T(test_async_background_error_is_reported_by_the_next_save),
        T(test_async_background_error_is_reported_by_free),
        T(test_async_progress_runs_on_the_background_thread),
        T(test_async_nocopy_equals_a_synchronous_save_without_a_copy),
        T(test_async_nocopy_keeps_the_snapshot_memory_for_the_next_copy),
        T(test_async_nocopy_errors_as_the_copying_save),
        T(test_async_progress_callback_cannot_wait_for_its_own_save),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
