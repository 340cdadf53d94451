/* Integrity checks of checkpoint files against tampering and edge cases:
 * stored CRCs out of range, metadata changed under its checksum, tensor
 * rows deleted or moved, SQL (triggers, views) stored in the file,
 * whole-component prefixes in renames, and files of schema version 1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "varstore.h"

#define STORE_TEST_NAME "vs_test_integrity"
#include "support/store_test.h"

static vs_tensor *ramp(int64_t n, float base)
{
    vs_tensor *t = mk(VS_FLOAT32, 1, &n);
    for (int64_t i = 0; i < n; i++)
        ((float *)t->data)[i] = base + (float)i;
    return t;
}

static void assert_load_corrupt(const char *name, const char *what)
{
    vs_tensor *got = NULL;
    assert_int_equal(vs_load_variable(g_path, 1, name, &got), VS_ECORRUPT);
    assert_null(got);
    if (strstr(vs_errmsg(), what) == NULL)
        fail_msg("%s: no \"%s\" in %s", name, what, vs_errmsg());
    size_t bad = 0;
    assert_int_equal(vs_verify(g_path, &bad), VS_ECORRUPT);
    assert_true(bad >= 1);
}

static void test_integrity__crc_beyond_32_bits_is_corrupt(void **st)
{
    (void)st;
    vs_tensor *t = ramp(1000, 1.0f);
    save1(g_path, 1, "net/w", t, NULL);
    /* The same CRC plus 2^32, in the chunk row. */
    raw_exec(g_path, "UPDATE chunks SET crc32 = crc32 + 4294967296");
    assert_load_corrupt("net/w", "net/w");
    raw_exec(g_path, "UPDATE chunks SET crc32 = crc32 - 4294967296");
    size_t bad = 1;
    OK(vs_verify(g_path, &bad));
    assert_int_equal(bad, 0);
    /* ... and in the tensor row. */
    raw_exec(g_path, "UPDATE tensor_rows SET crc32 = crc32 + 4294967296");
    assert_load_corrupt("net/w", "net/w");
    raw_exec(g_path, "UPDATE tensor_rows SET crc32 = -1");
    assert_load_corrupt("net/w", "net/w");
    vs_tensor_free(t);
}

static int has_key(const char *name)
{
    vs_tensor *got = NULL;
    int rc = vs_load_variable(g_path, 1, name, &got);
    vs_tensor_free(got);
    return rc == VS_OK;
}

static void test_integrity__rename_prefix_matches_whole_components(void **st)
{
    (void)st;
    vs_tensor *a = ramp(4, 1.0f), *b = ramp(4, 2.0f), *c = ramp(4, 3.0f);
    const char *nm[] = {"layer1", "layer1/w", "layer10/w"};
    const vs_tensor *ts[] = {a, b, c};
    OK(vs_save_tensors(g_path, 1, nm, ts, 3, NULL));
    OK(vs_rename_prefix(g_path, "layer1", "dense", 1));
    assert_true(has_key("dense"));
    assert_true(has_key("dense/w"));
    assert_true(has_key("layer10/w"));
    assert_false(has_key("dense0/w"));
    /* A prefix ending in '/' renames what starts with it. */
    OK(vs_rename_prefix(g_path, "layer10/", "head/", 1));
    assert_true(has_key("head/w"));
    /* No whole component matches: nothing to rename. */
    assert_int_equal(vs_rename_prefix(g_path, "hea", "x", 1), VS_ENOTFOUND);
    assert_true(has_key("head/w"));
    vs_tensor_free(a);
    vs_tensor_free(b);
    vs_tensor_free(c);
}

/* Restores name, a variable of dt and shape, from step 1 into a new
 * graph. */
static int restore_one(const char *name, vs_dtype dt, int ndim,
                       const int64_t *shape)
{
    vs_graph *g = NULL;
    OK(vs_graph_open(&g));
    (void)getvar(g, name, dt, ndim, shape);
    int rc = vs_restore(g, g_path, 1);
    vs_graph_close(g);
    return rc;
}

/* Sets column col of tensor name's row (every step) to the text value. */
static void set_column(const char *name, const char *col, const char *value)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE tensor_rows SET %s='%s' WHERE id IN (SELECT id FROM "
             "tensors WHERE name='%s')",
             col, value, name);
    raw_exec(g_path, sql);
}

static void test_integrity__changed_dtype_shape_or_name_is_corrupt(void **st)
{
    (void)st;
    int64_t s23[2] = {2, 3}, s32[2] = {3, 2}, s4 = 4;
    vs_tensor *f = ramp(4, 1.0f), *m = mk(VS_FLOAT32, 2, s23),
              *u = mk(VS_UINT8, 1, &s4);
    memset(m->data, 0, vs_tensor_nbytes(m));
    memset(u->data, 1, 4);
    const char *nm[] = {"net/f", "net/m", "net/u"};
    const vs_tensor *ts[] = {f, m, u};
    OK(vs_save_tensors(g_path, 1, nm, ts, 3, NULL));
    /* float32 -> int32: same size, other values. */
    set_column("net/f", "dtype", "int32");
    assert_load_corrupt("net/f", "at step 1");
    assert_non_null(strstr(vs_errmsg(), "net/f"));
    assert_int_equal(restore_one("net/f", VS_INT32, 1, &s4), VS_ECORRUPT);
    set_column("net/f", "dtype", "float32");
    OK(vs_verify(g_path, NULL));
    /* uint8 -> bool. */
    set_column("net/u", "dtype", "bool");
    assert_load_corrupt("net/u", "at step 1");
    assert_int_equal(restore_one("net/u", VS_BOOL, 1, &s4), VS_ECORRUPT);
    set_column("net/u", "dtype", "uint8");
    /* [2,3] -> [3,2]: the same number of elements. */
    set_column("net/m", "shape", "[3,2]");
    assert_load_corrupt("net/m", "at step 1");
    assert_int_equal(restore_one("net/m", VS_FLOAT32, 2, s32), VS_ECORRUPT);
    set_column("net/m", "shape", "[2,3]");
    OK(vs_verify(g_path, NULL));
    /* Another name (the step's name list changes too). */
    raw_exec(g_path, "UPDATE names SET name='net/g' WHERE name='net/f'");
    assert_load_corrupt("net/g", "step 1");
    vs_tensor_free(f);
    vs_tensor_free(m);
    vs_tensor_free(u);
}

static void save_two_steps(void)
{
    vs_tensor *a = ramp(8, 1.0f), *b = ramp(8, 2.0f);
    const char *nm[] = {"a", "b"};
    const vs_tensor *ts[] = {a, b};
    OK(vs_save_tensors(g_path, 1, nm, ts, 2, NULL));
    OK(vs_save_tensors(g_path, 2, nm, ts, 1, NULL)); /* only "a" */
    vs_tensor_free(a);
    vs_tensor_free(b);
}

static void test_integrity__deleted_tensor_row_is_corrupt(void **st)
{
    (void)st;
    save_two_steps();
    raw_exec(g_path, "DELETE FROM tensor_chunks WHERE tensor_id IN (SELECT "
                     "id FROM tensors WHERE step=1 AND name='b'); DELETE "
                     "FROM tensor_rows WHERE id IN (SELECT id FROM tensors "
                     "WHERE step=1 AND name='b')");
    /* The other tensor of the step is refused too: the step is damaged. */
    vs_tensor *got = NULL;
    assert_int_equal(vs_load_variable(g_path, 1, "a", &got), VS_ECORRUPT);
    assert_non_null(strstr(vs_errmsg(), "step 1"));
    size_t bad = 0;
    assert_int_equal(vs_verify(g_path, &bad), VS_ECORRUPT);
    assert_int_equal(bad, 1);
    /* Step 2 is intact. */
    OK(vs_load_variable(g_path, 2, "a", &got));
    vs_tensor_free(got);
}

static void test_integrity__tensor_row_moved_to_another_step_is_corrupt(
    void **st)
{
    (void)st;
    save_two_steps();
    raw_exec(g_path, "UPDATE tensor_rows SET step=2 WHERE id=(SELECT id FROM "
                     "tensors WHERE step=1 AND name='b')");
    vs_tensor *got = NULL;
    assert_int_equal(vs_load_variable(g_path, 2, "b", &got), VS_ECORRUPT);
    assert_int_equal(vs_load_variable(g_path, 1, "a", &got), VS_ECORRUPT);
    size_t bad = 0;
    assert_int_equal(vs_verify(g_path, &bad), VS_ECORRUPT);
    assert_int_equal(bad, 2);
}

static void test_integrity__stored_triggers_and_views_are_refused(void **st)
{
    (void)st;
    save_two_steps();
    raw_exec(g_path, "CREATE TRIGGER wipe AFTER INSERT ON tensor_rows BEGIN "
                     "DELETE FROM checkpoints; END");
    vs_tensor *t = ramp(8, 5.0f);
    const char *nm = "a";
    const vs_tensor *tt = t;
    assert_int_equal(vs_save_tensors(g_path, 3, &nm, &tt, 1, NULL),
                     VS_ECORRUPT);
    assert_non_null(strstr(vs_errmsg(), "trigger (wipe)"));
    assert_int_equal(vs_verify(g_path, NULL), VS_ECORRUPT);
    raw_exec(g_path, "DROP TRIGGER wipe");
    vs_ckpt_info *infos = NULL;
    size_t n = 0;
    OK(vs_list_checkpoints(g_path, &infos, &n));
    assert_int_equal(n, 2); /* the trigger never ran */
    vs_free(infos);
    raw_exec(g_path, "CREATE VIEW extra AS SELECT * FROM chunks");
    assert_int_equal(vs_save_tensors(g_path, 3, &nm, &tt, 1, NULL),
                     VS_ECORRUPT);
    assert_non_null(strstr(vs_errmsg(), "view (extra)"));
    assert_int_equal(vs_verify(g_path, NULL), VS_ECORRUPT);
    raw_exec(g_path, "DROP VIEW extra");
    OK(vs_save_tensors(g_path, 3, &nm, &tt, 1, NULL));
    OK(vs_verify(g_path, NULL));
    vs_tensor_free(t);
}

/* The kernel saved at step s by the version-1 fixture. */
static void assert_fixture_kernel(int64_t s)
{
    vs_tensor *got = NULL;
    OK(vs_load_variable(g_path, s, "dense/kernel", &got));
    assert_int_equal(got->dtype, VS_FLOAT32);
    assert_int_equal(got->ndim, 2);
    for (int i = 0; i < 12; i++)
        assert_true(((float *)got->data)[i] == (float)(s * 100 + i) * 0.5f);
    vs_tensor_free(got);
}

static void test_integrity__version_1_file_reads_and_upgrades(void **st)
{
    (void)st;
    copy_fixture(VS_FIXTURES "/format_v1.db", g_path);
    assert_int_equal(user_version(), 1);
    vs_ckpt_info *infos = NULL;
    size_t n = 0;
    OK(vs_list_checkpoints(g_path, &infos, &n));
    assert_int_equal(n, 2);
    vs_free(infos);
    assert_fixture_kernel(1);
    assert_fixture_kernel(2);
    OK(vs_verify(g_path, NULL));
    assert_int_equal(user_version(), 1); /* readers never write */
    /* The first save upgrades it; the old steps are sealed as they are.
     * With another connection open the save's log stays: its first file
     * id is only in the log, and the file still reads through it. */
    sqlite3 *keep = raw_open(g_path);
    assert_int_equal(q_int(keep, "SELECT count(*) FROM meta"), 4);
    vs_tensor *t = ramp(5, 7.0f);
    save1(g_path, 3, "dense/bias", t, NULL);
    vs_tensor_free(t);
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", g_path);
    assert_true(exists(wal));
    OK(vs_list_checkpoints(g_path, &infos, &n));
    assert_int_equal(n, 3);
    vs_free(infos);
    assert_int_equal(sqlite3_close(keep), SQLITE_OK);
    assert_int_equal(user_version(), 3); /* 1 -> 2 -> 3 in one write */
    OK(vs_verify(g_path, NULL));
    assert_fixture_kernel(1);
    raw_exec(g_path, "UPDATE tensor_rows SET shape='[4,3]' WHERE id=(SELECT "
                     "id FROM tensors WHERE step=1 AND name='dense/kernel')");
    assert_load_corrupt("dense/kernel", "at step 1");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* Names enter as valid UTF-8 only: a key or a rename prefix that is not
 * is refused before anything is written. */
static void test_integrity__names_must_be_valid_utf8(void **st)
{
    (void)st;
    int64_t sh[] = {3};
    vs_tensor *t = mk(VS_FLOAT32, 1, sh);
    const vs_tensor *tt = t;
    const char *bad = "net/\xff\xfe";
    FAILS(vs_save_tensors(g_path, 1, &bad, &tt, 1, NULL), VS_EINVAL,
          "checkpoint key is not valid UTF-8");
    assert_false(exists(g_path));
    save1(g_path, 1, "net/w", t, NULL);
    FAILS(vs_rename_prefix(g_path, "net/", "n\xc3(/", VS_ALL_STEPS), VS_EINVAL,
          "prefixes must be valid UTF-8");
    const char *ok = "caf\xc3\xa9/w"; /* a valid multi-byte name */
    OK(vs_save_tensors(g_path, 2, &ok, &tt, 1, NULL));
    vs_tensor *got = NULL;
    OK(vs_load_variable(g_path, 2, ok, &got));
    vs_tensor_free(got);
    vs_tensor_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_integrity__crc_beyond_32_bits_is_corrupt),
        T(test_integrity__rename_prefix_matches_whole_components),
        T(test_integrity__changed_dtype_shape_or_name_is_corrupt),
        T(test_integrity__deleted_tensor_row_is_corrupt),
        T(test_integrity__tensor_row_moved_to_another_step_is_corrupt),
        T(test_integrity__stored_triggers_and_views_are_refused),
        T(test_integrity__version_1_file_reads_and_upgrades),
        T(test_integrity__names_must_be_valid_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
