/* Files of schema version 2 (tests/fixtures/format_v2.db, written by the
 * varstore before names were stored once): read as they are, every value
 * bit for bit; the first write upgrades them in place to version 3 in its
 * own transaction (a failed write leaves them at version 2), and the old
 * steps still restore after it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "varstore.h"

#define STORE_TEST_NAME "vs_test_format_v2"
#include "support/format_v2_fixture.h"
#include "support/store_test.h"

#define FIXTURE VS_FIXTURES "/format_v2.db"

/* Checks that t is float32 of n elements fx2_value(step, k, 0..n-1). */
static void assert_values(const vs_tensor *t, int64_t step, int k, int64_t n)
{
    assert_int_equal(t->dtype, VS_FLOAT32);
    assert_int_equal(vs_tensor_numel(t), n);
    for (int64_t i = 0; i < n; i++) {
        float want = fx2_value(step, k, i);
        assert_memory_equal((const float *)t->data + i, &want, sizeof want);
    }
}

static void assert_float_key(int64_t step, const char *key, int64_t vstep,
                             int k, int64_t n)
{
    vs_tensor *got = NULL;
    OK(vs_load_variable(g_path, step, key, &got));
    assert_values(got, vstep, k, n);
    vs_tensor_free(got);
}

/* Every tensor the fixture saved at steps 1 and 2 (graph saves). */
static void assert_graph_step(int64_t step)
{
    char lname[FX2_LONG_LEN + 1];
    assert_float_key(step, "net/conv1/weights", step, 0, 72);
    assert_float_key(step, "net/conv1/biases", 1, 1, 4);
    assert_float_key(step, "net/embed", step, 2, 40);
    assert_float_key(step, fx2_long_name(lname), step, 3, 5);
    vs_tensor *got = NULL;
    OK(vs_load_variable(g_path, step, "global_step", &got));
    assert_int_equal(got->dtype, VS_INT64);
    assert_int_equal(got->ndim, 0);
    assert_int_equal(*(int64_t *)got->data, 10 * step);
    vs_tensor_free(got);
}

/* The tensors of step 3 (vs_save_tensors, a 4000-character key). */
static void assert_step3(void)
{
    char key[FX2_KEY_LEN + 1];
    assert_float_key(3, fx2_key_name(key), 3, 4, 6);
    assert_float_key(3, "net/conv1/biases", 1, 1, 4);
    vs_tensor *got = NULL;
    OK(vs_load_variable(g_path, 3, "ints", &got));
    assert_int_equal(got->dtype, VS_INT32);
    for (int i = 0; i < 4; i++)
        assert_int_equal(((int32_t *)got->data)[i], 3 * i - 5);
    vs_tensor_free(got);
}

static void assert_all_steps(void)
{
    assert_graph_step(1);
    assert_graph_step(2);
    assert_step3();
    size_t bad = 1;
    OK(vs_verify(g_path, &bad));
    assert_int_equal(bad, 0);
}

static vs_var *float_var(vs_graph *g, const char *name, int nd,
                         const int64_t *shape)
{
    return getvar(g, name, VS_FLOAT32, nd, shape);
}

/* vs_restore of a graph saved step into a new graph where net/embed has 2
 * parts (the file's graph had 3), every value bit for bit. */
static void assert_graph_restore(int64_t step)
{
    static const int64_t w[] = {3, 3, 2, 4}, b[] = {4}, e[] = {10, 4},
                         l[] = {5};
    char lname[FX2_LONG_LEN + 1];
    vs_graph *g = NULL;
    OK(vs_graph_open(&g));
    vs_var *v[3];
    v[0] = float_var(g, "net/conv1/weights", 4, w);
    v[1] = float_var(g, "net/conv1/biases", 1, b);
    v[2] = float_var(g, fx2_long_name(lname), 1, l);
    vs_partitioner p = vs_partitioner_fixed_size(2, 0);
    vs_var_opts o = {.shape = e, .ndim = 2, .dtype = VS_FLOAT32};
    vs_partitioned *pe = NULL;
    OK(vs_get_partitioned_variable(g, "net/embed", &o, &p, &pe));
    (void)getvar(g, "global_step", VS_INT64, 0, b);
    OK(vs_restore(g, g_path, step));
    const int k[] = {0, 1, 3}, n[] = {72, 4, 5}, vstep[] = {(int)step, 1,
                                                           (int)step};
    for (int i = 0; i < 3; i++) {
        vs_tensor *t = NULL;
        OK(vs_var_value(v[i], &t)); /* the graph's own */
        assert_values(t, vstep[i], k[i], n[i]);
    }
    vs_tensor *t = NULL;
    OK(vs_var_value(vs_partitioned_part(pe, 1), &t)); /* rows 5..9 */
    for (int64_t i = 0; i < 20; i++)
        assert_true(((float *)t->data)[i] == fx2_value(step, 2, 20 + i));
    vs_graph_close(g);
}

static void assert_sql_type(const char *name, const char *type)
{
    sqlite3 *db = raw_open(g_path);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT type FROM sqlite_master "
                                        "WHERE name=?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), type);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_format_v2__file_reads_as_it_is(void **state)
{
    (void)state;
    copy_fixture(FIXTURE, g_path);
    assert_int_equal(user_version(), 2);
    vs_ckpt_info *infos = NULL;
    size_t n = 0;
    OK(vs_list_checkpoints(g_path, &infos, &n));
    assert_int_equal(n, 3);
    const int64_t counts[] = {5, 5, 3};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(infos[i].step, (int64_t)i + 1);
        assert_int_equal(infos[i].n_tensors, counts[i]);
    }
    vs_free(infos);
    vs_tensor_info *ti = NULL;
    OK(vs_list_variables(g_path, 2, &ti, &n));
    assert_int_equal(n, 5);
    vs_tensor_info_free(ti, n);
    assert_all_steps();
    assert_graph_restore(1);
    assert_graph_restore(2);
    /* Readers never write: still version 2, tensors still a table. */
    assert_int_equal(user_version(), 2);
    assert_sql_type("tensors", "table");
}

/* The names' rows: how many, and how many of length len. */
static void assert_names(int64_t count, int len, int64_t of_len)
{
    sqlite3 *db = raw_open(g_path);
    char sql[128];
    assert_int_equal(q_int(db, "SELECT count(*) FROM names"), count);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM names WHERE length(name)=%d", len);
    assert_int_equal(q_int(db, sql), of_len);
    sqlite3_close(db);
}

static void test_format_v2__first_save_upgrades_to_version_3(void **state)
{
    (void)state;
    copy_fixture(FIXTURE, g_path);
    char key[FX2_KEY_LEN + 1];
    int64_t sh[] = {6};
    vs_tensor *t = mk(VS_FLOAT32, 1, sh);
    for (int i = 0; i < 6; i++)
        ((float *)t->data)[i] = fx2_value(4, 4, i);
    const char *nm[] = {fx2_key_name(key), "new/t"};
    const vs_tensor *ts[] = {t, t};
    OK(vs_save_tensors(g_path, 4, nm, ts, 2, NULL));
    vs_tensor_free(t);
    assert_int_equal(user_version(), 3);
    assert_sql_type("names", "table");
    assert_sql_type("tensor_rows", "table");
    assert_sql_type("tensors", "view");
    assert_sql_type("latest", "view");
    /* 7 names in the old steps plus new/t; the long key once, used by
     * steps 3 and 4. */
    assert_names(8, FX2_KEY_LEN, 1);
    assert_all_steps();
    assert_graph_restore(1);
    assert_graph_restore(2);
    assert_float_key(4, key, 4, 4, 6);
    sqlite3 *db = raw_open(g_path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM latest"), 2);
    assert_int_equal(q_int(db, "SELECT count(*) FROM tensors"), 15);
    sqlite3_close(db);
}

/* A float32 tensor of n elements fx2_value(4, 4, i), saved as step. */
static void save_step(int64_t step, const char *key, int64_t n)
{
    int64_t sh[] = {n};
    vs_tensor *t = mk(VS_FLOAT32, 1, sh);
    for (int64_t i = 0; i < n; i++)
        ((float *)t->data)[i] = fx2_value(4, 4, i);
    save1(g_path, step, key, t, NULL);
    vs_tensor_free(t);
}

/* A read handle opened on the version-2 file keeps reading its snapshot
 * while a save upgrades the file; opened again, it reads version 3. */
static void test_format_v2__open_handle_reads_through_the_upgrade(void **st)
{
    (void)st;
    copy_fixture(FIXTURE, g_path);
    char key[FX2_KEY_LEN + 1];
    vs_ckpt *f = NULL;
    vs_tensor *t = NULL;
    OK(vs_ckpt_open(g_path, &f));
    OK(vs_ckpt_load(f, 3, fx2_key_name(key), &t));
    vs_tensor_free(t);
    save_step(4, key, 6);
    assert_int_equal(user_version(), 3);
    OK(vs_ckpt_load(f, 2, "net/embed", &t));
    assert_values(t, 2, 2, 40);
    vs_tensor_free(t);
    assert_int_equal(vs_ckpt_load(f, 4, key, &t), VS_ENOTFOUND);
    vs_ckpt_close(f);
    OK(vs_ckpt_open(g_path, &f));
    OK(vs_ckpt_load(f, 4, key, &t));
    assert_values(t, 4, 4, 6);
    vs_tensor_free(t);
    OK(vs_ckpt_load(f, 1, "net/conv1/weights", &t));
    assert_values(t, 1, 0, 72);
    vs_tensor_free(t);
    vs_ckpt_close(f);
}

/* A write that fails rolls the upgrade back with it. */
static void test_format_v2__failed_write_leaves_version_2(void **state)
{
    (void)state;
    copy_fixture(FIXTURE, g_path);
    assert_int_equal(vs_rename_prefix(g_path, "no/such", "x", VS_ALL_STEPS),
                     VS_ENOTFOUND);
    assert_int_equal(user_version(), 2);
    assert_sql_type("tensors", "table");
    assert_all_steps();
}

/* A version-2 reader refuses files whose user_version (bytes 60..63 of
 * the header, big-endian) is above 2: an upgraded file says 3. */
static void test_format_v2__upgraded_file_says_version_3(void **state)
{
    (void)state;
    copy_fixture(FIXTURE, g_path);
    OK(vs_delete_checkpoint(g_path, 1));
    FILE *f = fopen(g_path, "rb");
    assert_non_null(f);
    unsigned char hdr[100];
    assert_int_equal(fread(hdr, 1, sizeof hdr, f), sizeof hdr);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(hdr[60] << 24 | hdr[61] << 16 | hdr[62] << 8 | hdr[63],
                     3);
    assert_graph_step(2);
    assert_step3();
    assert_names(7, FX2_LONG_LEN, 1);
}

/* The fixture's declared journal mode, through the API. */
static vs_journal journal_mode(void)
{
    vs_journal jm = (vs_journal)-1;
    OK(vs_get_journal_mode(g_path, &jm));
    return jm;
}

/* A version-2 file is WAL, as its release made every file. The upgrade
 * declares the rollback journal, which this release's files have (pages
 * written once); the next writer switches the header, and the file stays
 * one file at rest. */
static void test_format_v2__upgrade_moves_the_file_to_the_rollback_journal(
    void **state)
{
    (void)state;
    copy_fixture(FIXTURE, g_path);
    assert_int_equal(journal_mode(), VS_JOURNAL_WAL);
    assert_sqlite_journal("wal");
    save_step(4, "small", 6); /* below 1 MiB: an ordinary WAL save */
    assert_int_equal(user_version(), 3);
    assert_int_equal(journal_mode(), VS_JOURNAL_ROLLBACK);
    save_step(5, "small", 6);
    assert_sqlite_journal("delete");
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", g_path);
    assert_false(exists(wal));
    assert_all_steps();
    assert_float_key(5, "small", 4, 4, 6);
}

/* A first save of 1 MiB or more runs solo (the file to itself, in the
 * rollback journal): it no longer puts WAL back after the upgrade. */
static void test_format_v2__solo_first_save_keeps_the_rollback_journal(
    void **state)
{
    (void)state;
    copy_fixture(FIXTURE, g_path);
    save_step(4, "big", 1 << 18); /* 1 MiB */
    assert_int_equal(journal_mode(), VS_JOURNAL_ROLLBACK);
    assert_sqlite_journal("delete");
    assert_all_steps();
    assert_float_key(4, "big", 4, 4, 1 << 18);
}

/* WAL chosen for a version-2 file before its first save is the user's
 * choice: vs_set_journal_mode upgrades the file first, and later saves
 * (solo ones included) keep WAL. */
static void test_format_v2__wal_chosen_before_the_upgrade_is_kept(void **st)
{
    (void)st;
    copy_fixture(FIXTURE, g_path);
    OK(vs_set_journal_mode(g_path, VS_JOURNAL_WAL));
    assert_int_equal(user_version(), 3);
    assert_int_equal(journal_mode(), VS_JOURNAL_WAL);
    save_step(4, "small", 6);
    save_step(5, "big", 1 << 18);
    assert_int_equal(journal_mode(), VS_JOURNAL_WAL);
    assert_sqlite_journal("wal");
    assert_all_steps();
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_format_v2__file_reads_as_it_is),
        T(test_format_v2__first_save_upgrades_to_version_3),
        T(test_format_v2__open_handle_reads_through_the_upgrade),
        T(test_format_v2__failed_write_leaves_version_2),
        T(test_format_v2__upgraded_file_says_version_3),
        T(test_format_v2__upgrade_moves_the_file_to_the_rollback_journal),
        T(test_format_v2__solo_first_save_keeps_the_rollback_journal),
        T(test_format_v2__wal_chosen_before_the_upgrade_is_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
