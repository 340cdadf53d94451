/* Integrity checks of checkpoint files against tampering and edge cases:
 * stored CRCs out of range, whole-component prefixes in renames. */
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
    assert_non_null(strstr(vs_errmsg(), what));
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
    raw_exec(g_path, "UPDATE tensors SET crc32 = crc32 + 4294967296");
    assert_load_corrupt("net/w", "net/w");
    raw_exec(g_path, "UPDATE tensors SET crc32 = -1");
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

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_integrity__crc_beyond_32_bits_is_corrupt),
        T(test_integrity__rename_prefix_matches_whole_components),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
