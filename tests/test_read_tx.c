/* Short read transactions (store/restore/read_tx.c): a read of a
 * rollback-journal file ends its read transaction every few MiB so that a
 * save can commit meanwhile, and a step deleted or saved again between
 * two of them is VS_ECHANGED, never mixed data. The gap between two
 * transactions is reached deterministically through vs__read_gap_hook. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "store_int.h"

#define STORE_TEST_NAME "vs_test_read_tx"
#include "support/store_test.h"

/* Two int64 tensors of 20 MiB each, stored raw: each is more than one
 * read transaction's worth (VS_READ_TX_BYTES). */
#define NEL ((int64_t)5 << 19)

static int64_t value(int64_t seed, int k, int64_t i)
{
    return seed * 1000003 + i * (k + 7);
}

static void save_step(int64_t step, int64_t seed)
{
    int64_t shape[] = {NEL};
    vs_tensor *a = mk(VS_INT64, 1, shape), *b = mk(VS_INT64, 1, shape);
    int64_t *pa = a->data, *pb = b->data;
    for (int64_t i = 0; i < NEL; i++) {
        pa[i] = value(seed, 0, i);
        pb[i] = value(seed, 1, i);
    }
    const char *names[] = {"a", "b"};
    const vs_tensor *ts[] = {a, b};
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.codec = VS_CODEC_RAW;
    OK(vs_save_tensors(g_path, step, names, ts, 2, &o));
    vs_tensor_free(a);
    vs_tensor_free(b);
}

static int holds(const vs_tensor *t, int64_t seed, int k)
{
    const int64_t *p = t->data;
    if (t->dtype != VS_INT64 || t->ndim != 1 || t->shape[0] != NEL)
        return 0;
    for (int64_t i = 0; i < NEL; i++)
        if (p[i] != value(seed, k, i))
            return 0;
    return 1;
}

/* What the hook does at the first gap, and how many gaps it saw. */
enum { GAP_COUNT, GAP_DELETE, GAP_RESAVE };
static int g_gap_action;
static int g_gaps;

static void on_gap(const char *path)
{
    (void)path;
    if (g_gaps++ > 0)
        return;
    if (g_gap_action == GAP_DELETE)
        OK(vs_delete_checkpoint(g_path, 1));
    else if (g_gap_action == GAP_RESAVE)
        save_step(1, 99);
}

static void arm(int action)
{
    g_gap_action = action;
    g_gaps = 0;
    vs__read_gap_hook = on_gap;
}

static int disarm(void **state)
{
    vs__read_gap_hook = NULL;
    return teardown(state);
}

static void rollback_file(void)
{
    OK(vs_set_journal_mode(g_path, VS_JOURNAL_ROLLBACK));
    save_step(1, 1);
}

static const char *const k_changed =
    "checkpoint 1 of %s was deleted or replaced while it was being read";

static void expect_changed(int rc)
{
    char want[700];
    snprintf(want, sizeof want, k_changed, g_path);
    assert_int_equal(rc, VS_ECHANGED);
    assert_string_equal(vs_errmsg(), want);
}

static void test_long_read_of_rollback_file_renews_and_is_bit_exact(void **s)
{
    (void)s;
    rollback_file();
    arm(GAP_COUNT);
    vs_tensor *t = NULL;
    OK(vs_load_variable(g_path, 1, "b", &t));
    assert_true(g_gaps >= 1);
    assert_true(holds(t, 1, 1));
    vs_tensor_free(t);
}

static void test_read_of_wal_file_keeps_one_transaction(void **s)
{
    (void)s;
    OK(vs_set_journal_mode(g_path, VS_JOURNAL_WAL));
    save_step(1, 1);
    arm(GAP_COUNT);
    vs_tensor *t = NULL;
    OK(vs_load_variable(g_path, 1, "a", &t));
    assert_int_equal(g_gaps, 0);
    assert_true(holds(t, 1, 0));
    vs_tensor_free(t);
}

static void test_load_of_step_deleted_between_reads_is_echanged(void **s)
{
    (void)s;
    rollback_file();
    arm(GAP_DELETE);
    vs_tensor *t = NULL;
    expect_changed(vs_load_variable(g_path, 1, "a", &t));
    assert_null(t);
    assert_int_equal(g_gaps, 1);
}

static void test_load_many_of_step_saved_again_between_reads_is_echanged(
    void **s)
{
    (void)s;
    rollback_file();
    vs_ckpt *f = NULL;
    OK(vs_ckpt_open(g_path, &f));
    arm(GAP_RESAVE);
    const char *names[] = {"a", "b"};
    vs_tensor *out[2] = {NULL, NULL};
    expect_changed(vs_ckpt_load_many(f, 1, names, 2, out));
    assert_null(out[0]);
    assert_null(out[1]);
    /* the handle goes on, and reads the new save whole */
    vs__read_gap_hook = NULL;
    OK(vs_ckpt_load_many(f, 1, names, 2, out));
    assert_true(holds(out[0], 99, 0));
    assert_true(holds(out[1], 99, 1));
    vs_tensor_free(out[0]);
    vs_tensor_free(out[1]);
    vs_ckpt_close(f);
}

static void test_restore_of_step_deleted_between_reads_changes_nothing(
    void **s)
{
    (void)s;
    rollback_file();
    vs_graph *g = NULL;
    OK(vs_graph_open(&g));
    int64_t shape[] = {NEL};
    vs_var *a = getvar(g, "a", VS_INT64, 1, shape);
    vs_var *b = getvar(g, "b", VS_INT64, 1, shape);
    vs_tensor *before = mk(VS_INT64, 1, shape);
    ((int64_t *)before->data)[5] = 42;
    OK(vs_assign(a, before));
    arm(GAP_DELETE);
    expect_changed(vs_restore(g, g_path, 1));
    /* all or nothing: a keeps its value, b is still uninitialized */
    vs_tensor *t = NULL; /* the graph's */
    OK(vs_var_value(a, &t));
    assert_memory_equal(t->data, before->data, (size_t)NEL * 8);
    assert_false(vs_var_is_initialized(b));
    vs_tensor_free(before);
    vs_graph_close(g);
}

/* A sink that keeps nothing: the stream's result is what is checked. */
static int sink_write(void *ctx, size_t i, uint64_t off, const void *d,
                      size_t len)
{
    (void)ctx;
    (void)i;
    (void)off;
    (void)d;
    (void)len;
    return 0;
}

static void test_stream_of_step_deleted_between_reads_is_echanged(void **s)
{
    (void)s;
    rollback_file();
    vs_ckpt *f = NULL;
    OK(vs_ckpt_open(g_path, &f));
    arm(GAP_DELETE);
    const char *names[] = {"a", "b"};
    vs_stream_sink sink;
    memset(&sink, 0, sizeof sink);
    sink.write = sink_write;
    expect_changed(vs_ckpt_stream(f, 1, names, 2, &sink));
    vs_ckpt_close(f);
}

/* An open handle on a rollback-journal file holds no lock between its
 * calls: a save with a short busy timeout commits while it is open, and
 * the handle's next call sees the new step. */
static void test_open_handle_of_rollback_file_lets_saves_commit(void **s)
{
    (void)s;
    rollback_file();
    vs_ckpt *f = NULL;
    OK(vs_ckpt_open(g_path, &f));
    vs_tensor *t = NULL;
    OK(vs_ckpt_load(f, 1, "a", &t));
    assert_true(holds(t, 1, 0));
    vs_tensor_free(t);
    int64_t shape[] = {4};
    vs_tensor *small = mk(VS_INT64, 1, shape);
    const char *nm = "a";
    const vs_tensor *ts = small;
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.busy_timeout_ms = 200;
    OK(vs_save_tensors(g_path, 2, &nm, &ts, 1, &o));
    int64_t latest = 0;
    OK(vs_ckpt_latest(f, &latest));
    assert_int_equal(latest, 2);
    OK(vs_ckpt_load(f, 1, "a", &t)); /* step 1 is still there */
    assert_true(holds(t, 1, 0));
    vs_tensor_free(t);
    vs_tensor_free(small);
    vs_ckpt_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, disarm)
        T(test_long_read_of_rollback_file_renews_and_is_bit_exact),
        T(test_read_of_wal_file_keeps_one_transaction),
        T(test_load_of_step_deleted_between_reads_is_echanged),
        T(test_load_many_of_step_saved_again_between_reads_is_echanged),
        T(test_restore_of_step_deleted_between_reads_changes_nothing),
        T(test_stream_of_step_deleted_between_reads_is_echanged),
        T(test_open_handle_of_rollback_file_lets_saves_commit),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
