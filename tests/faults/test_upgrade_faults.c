/* I/O faults while a save upgrades a file of schema version 2
 * (tests/fixtures/format_v2.db) to version 3: every write, sync and
 * truncation of that save fails in turn, once or as a disk that stays
 * full. The upgrade is part of the save's transaction, so each failure
 * must leave the file at version 2 with every old step intact, or (a
 * fault the save absorbed) at version 3 with the new step too; and the
 * next save, without faults, must succeed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "format_v2_fixture.h"
#include "io_shim.h"
#include "varstore.h"

#define STORE_TEST_NAME "vs_test_upgrade_faults"
#include "store_test.h"

#define MAX_POINTS 5000

/* key at step holds fx2_value(vstep, k, 0..n-1), bit for bit. */
static void expect_values(const char *path, int64_t step, const char *key,
                          int64_t vstep, int k, int64_t n)
{
    vs_tensor *t = NULL;
    OK(vs_load_variable(path, step, key, &t));
    assert_int_equal(vs_tensor_numel(t), n);
    for (int64_t i = 0; i < n; i++) {
        float want = fx2_value(vstep, k, i);
        assert_memory_equal((const float *)t->data + i, &want, sizeof want);
    }
    vs_tensor_free(t);
}

/* The fixture's steps read and verify; step 4 is there or not. */
static void expect_fixture(const char *path, int with_step4)
{
    char key[FX2_KEY_LEN + 1], lname[FX2_LONG_LEN + 1];
    size_t bad = 1;
    OK(vs_verify(path, &bad));
    assert_int_equal(bad, 0);
    expect_values(path, 1, "net/embed", 1, 2, 40);
    expect_values(path, 2, fx2_long_name(lname), 2, 3, 5);
    expect_values(path, 3, fx2_key_name(key), 3, 4, 6);
    int64_t latest = -1;
    OK(vs_latest_checkpoint(path, &latest));
    assert_int_equal(latest, with_step4 ? 4 : 3);
    if (with_step4)
        expect_values(path, 4, key, 4, 4, 6);
}

/* A save of step 4 under the fixture's 4000-character key. */
static int save_step4(const char *path)
{
    char key[FX2_KEY_LEN + 1];
    int64_t n = 6;
    vs_tensor *t = NULL;
    OK(vs_tensor_new(VS_FLOAT32, 1, &n, &t));
    for (int i = 0; i < 6; i++)
        ((float *)t->data)[i] = fx2_value(4, 4, i);
    const char *nm = fx2_key_name(key);
    const vs_tensor *tt = t;
    int rc = vs_save_tensors(path, 4, &nm, &tt, 1, NULL);
    vs_tensor_free(t);
    return rc;
}

static void sweep(io_fault_mode mode, const char *tag)
{
    const char *path = g_path;
    int64_t at = 0, n_failed = 0;
    for (; at < MAX_POINTS; at++) {
        remove_db(path);
        copy_fixture(VS_FIXTURES "/format_v2.db", path);
        io_shim_arm(mode, at);
        int rc = save_step4(path);
        if (io_shim_clear() == 0) {
            OK(rc); /* ran to its end: no fault left to try */
            break;
        }
        if (rc != VS_OK && rc != VS_EIO)
            fail_msg("%s, fault %lld: code %d (%s)", tag, (long long)at, rc,
                     vs_errmsg());
        n_failed += rc != VS_OK;
        assert_int_equal(user_version(), rc == VS_OK ? 3 : 2);
        expect_fixture(path, rc == VS_OK);
        OK(save_step4(path));
        assert_int_equal(user_version(), 3);
        expect_fixture(path, 1);
    }
    assert_true(at > 0 && at < MAX_POINTS && n_failed > 0);
    print_message("%s: %lld fault points, %lld reported as VS_EIO\n", tag,
                  (long long)at, (long long)n_failed);
}

static void test_failed_write_during_upgrade_keeps_version_2(void **state)
{
    (void)state;
    sweep(IO_FAULT_ONCE, "upgrade");
}

static void test_full_disk_during_upgrade_keeps_version_2(void **state)
{
    (void)state;
    sweep(IO_FAULT_DISK_FULL, "upgrade_full");
}

int main(void)
{
    if (io_shim_install() != 0) {
        fprintf(stderr, "cannot install the fault VFS\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_failed_write_during_upgrade_keeps_version_2, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_full_disk_during_upgrade_keeps_version_2, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
