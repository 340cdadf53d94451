/* tools/tf_cli.c: a TF checkpoint imported as a varstore step and a step
 * exported as a TF checkpoint, bit-exact both ways. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tf_cli.h"
#include "varstore.h"
#include "vs_test.h"
#include "vst.h"

#define FIX VS_TF_FIXTURES
#define N_FIXTURE_TENSORS 14

static char dir[512], db[600], prefix[600];

static int setup(void **state)
{
    const char *base = getenv("VS_TEST_TMPDIR");
    (void)state;
    snprintf(dir, sizeof dir, "%s/vs_tfcli_XXXXXX",
             base && *base ? base : "/tmp");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(db, sizeof db, "%s/model.db", dir);
    snprintf(prefix, sizeof prefix, "%s/out.ckpt", dir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[600];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Every tensor of the TF checkpoint equals the one of step in db. */
static void same_tensors(const char *tf_path, const char *db_path,
                         int64_t step)
{
    vs_tensor_info *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    OK(vs_tf_list_variables(tf_path, &a, &na));
    OK(vs_list_variables(db_path, step, &b, &nb));
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        vs_tensor *x = NULL, *y = NULL;
        assert_string_equal(a[i].name, b[i].name);
        OK(vs_tf_load_variable(tf_path, a[i].name, &x));
        OK(vs_load_variable(db_path, step, b[i].name, &y));
        assert_int_equal(x->dtype, y->dtype);
        assert_int_equal(x->ndim, y->ndim);
        assert_memory_equal(x->shape, y->shape, sizeof x->shape[0] * (size_t)x->ndim);
        assert_int_equal(vs_tensor_nbytes(x), vs_tensor_nbytes(y));
        if (vs_tensor_nbytes(x))
            assert_memory_equal(x->data, y->data, vs_tensor_nbytes(x));
        vs_tensor_free(x);
        vs_tensor_free(y);
    }
    vs_tensor_info_free(a, na);
    vs_tensor_info_free(b, nb);
}

static void test_import_tf_checkpoint_as_step_bit_exact(void **state)
{
    size_t n = 0;
    (void)state;
    OK(vst_tf_import(FIX, db, 5, NULL, &n));
    assert_int_equal(n, N_FIXTURE_TENSORS);
    same_tensors(FIX "/model.ckpt", db, 5);
}

static void test_export_step_as_tf_checkpoint_bit_exact(void **state)
{
    size_t n = 0, m = 0;
    (void)state;
    OK(vst_tf_import(FIX "/saved_model", db, 1, NULL, &n));
    OK(vst_tf_export(db, VS_LATEST, prefix, &m));
    assert_int_equal(m, n);
    same_tensors(prefix, db, 1);
    same_tensors(dir, db, 1); /* through the `checkpoint` state file */
}

static void test_list_and_errors_use_the_tools_message(void **state)
{
    vs_tensor_info *info = NULL;
    size_t n = 0;
    (void)state;
    OK(vst_tf_list(FIX, &info, &n));
    assert_int_equal(n, N_FIXTURE_TENSORS);
    assert_string_equal(info[0].name, "bigpart/w");
    vs_tensor_info_free(info, n);
    assert_int_equal(vst_tf_import(FIX "/nope", db, 1, NULL, NULL),
                     VS_ENOTFOUND);
    assert_non_null(strstr(vst_errmsg(), "Failed to find any matching files"));
    assert_int_equal(access(db, F_OK), -1); /* nothing created */
    OK(vst_tf_import(FIX, db, 1, NULL, NULL));
    assert_int_equal(vst_tf_export(db, 99, prefix, NULL), VS_ENOTFOUND);
    assert_true(strlen(vst_errmsg()) > 0);
    assert_int_equal(access(prefix, F_OK), -1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_import_tf_checkpoint_as_step_bit_exact),
        T(test_export_step_as_tf_checkpoint_bit_exact),
        T(test_list_and_errors_use_the_tools_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
