/* tools/tf_cli.c: a step of a varstore file exported as a TF checkpoint,
 * bit-exact, from a file that imported TF's own fixtures. */
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

/* Imports the TF checkpoint as step `step` of db through the public API
 * (what `varstore save --tf-checkpoint` does). */
static void import(const char *tf_path, int64_t step)
{
    vs_tensor_info *infos = NULL;
    size_t n = 0;
    OK(vs_tf_list_variables(tf_path, &infos, &n));
    assert_int_equal(n, N_FIXTURE_TENSORS);
    const char **names = calloc(n, sizeof *names);
    vs_tensor **t = calloc(n, sizeof *t);
    assert_non_null(names);
    assert_non_null(t);
    for (size_t i = 0; i < n; i++) {
        names[i] = infos[i].name;
        OK(vs_tf_load_variable(tf_path, names[i], &t[i]));
    }
    OK(vs_save_tensors(db, step, names, (const vs_tensor *const *)t, n,
                       NULL));
    for (size_t i = 0; i < n; i++)
        vs_tensor_free(t[i]);
    free(t);
    free(names);
    vs_tensor_info_free(infos, n);
}

/* Exports every tensor of `step` of db as the TF checkpoint prefix. */
static int export_all(int64_t step)
{
    vs_ckpt *f = NULL;
    vs_tensor_info *infos = NULL;
    size_t n = 0;
    OK(vs_ckpt_open(db, &f));
    int rc = vs_ckpt_list_variables(f, step, &infos, &n);
    if (rc == VS_OK) {
        const char **names = calloc(n + 1, sizeof *names);
        assert_non_null(names);
        for (size_t i = 0; i < n; i++)
            names[i] = infos[i].name;
        rc = vst_tf_export(f, step, names, n, prefix);
        free(names);
    }
    vs_tensor_info_free(infos, n);
    vs_ckpt_close(f);
    return rc;
}

static void test_export_step_as_tf_checkpoint_bit_exact(void **state)
{
    (void)state;
    import(FIX "/saved_model", 1);
    OK(export_all(1));
    same_tensors(prefix, db, 1);
    same_tensors(FIX, db, 1);
}

static void test_export_of_a_missing_tensor_writes_nothing(void **state)
{
    (void)state;
    vs_ckpt *f = NULL;
    const char *names[] = {"no/such/tensor"};
    import(FIX, 1);
    OK(vs_ckpt_open(db, &f));
    assert_int_equal(vst_tf_export(f, 1, names, 1, prefix), VS_ENOTFOUND);
    assert_string_equal(vst_errmsg(),
                        "Key no/such/tensor not found in checkpoint");
    vs_ckpt_close(f);
    assert_int_equal(access(prefix, F_OK), -1);
    char index[700];
    snprintf(index, sizeof index, "%s.index", prefix);
    assert_int_equal(access(index, F_OK), -1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_export_step_as_tf_checkpoint_bit_exact),
        T(test_export_of_a_missing_tensor_writes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
