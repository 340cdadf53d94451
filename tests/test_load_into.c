/* vs_ckpt_load_into: tensors read straight into the caller's buffers,
 * raw and compressed chunks alike, with the buffers' sizes checked first. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "varstore.h"

#define STORE_TEST_NAME "vs_test_load_into"
#include "support/store_test.h"

#define NEL 700000 /* float32: 2.7 MB, three chunks */

static void fill(float *p, int k)
{
    for (int i = 0; i < NEL; i++)
        p[i] = (float)((i * 7 + k) % 1000) * 0.25f;
}

/* Saves "w" (codec) and "b" (empty) at step 3. */
static void save_step(int codec)
{
    int64_t shape[] = {NEL}, zero[] = {0};
    vs_tensor *w = mk(VS_FLOAT32, 1, shape), *b = mk(VS_FLOAT32, 1, zero);
    fill(w->data, 1);
    const char *names[] = {"w", "b"};
    const vs_tensor *ts[] = {w, b};
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.codec = codec;
    OK(vs_save_tensors(g_path, 3, names, ts, 2, &o));
    vs_tensor_free(w);
    vs_tensor_free(b);
}

static void load_into_is_bit_exact(int codec)
{
    save_step(codec);
    static float got[NEL], want[NEL];
    fill(want, 1);
    memset(got, 0xff, sizeof got);
    vs_ckpt *f = NULL;
    OK(vs_ckpt_open(g_path, &f));
    const char *names[] = {"w", "b:0"};
    void *dst[] = {got, NULL};
    size_t bytes[] = {sizeof got, 0};
    OK(vs_ckpt_load_into(f, VS_LATEST, names, 2, dst, bytes, 0));
    assert_memory_equal(got, want, sizeof got);
    vs_ckpt_close(f);
}

static void test_load_into_raw_chunks_is_bit_exact(void **s)
{
    (void)s;
    load_into_is_bit_exact(VS_CODEC_RAW);
}

static void test_load_into_compressed_chunks_is_bit_exact(void **s)
{
    (void)s;
    load_into_is_bit_exact(VS_CODEC_DEFAULT);
}

static void test_load_into_refuses_a_buffer_of_another_size(void **s)
{
    (void)s;
    save_step(VS_CODEC_RAW);
    static float got[NEL];
    vs_ckpt *f = NULL;
    OK(vs_ckpt_open(g_path, &f));
    const char *names[] = {"w"};
    void *dst[] = {got};
    size_t bytes[] = {sizeof got - 4};
    FAILS(vs_ckpt_load_into(f, 3, names, 1, dst, bytes, 1), VS_EINVAL,
          "buffer 0 holds 2799996 bytes, tensor w needs 2800000");
    const char *missing[] = {"nope"};
    FAILS(vs_ckpt_load_into(f, 3, missing, 1, dst, bytes, 1), VS_ENOTFOUND,
          "Key nope not found in checkpoint");
    assert_int_equal(vs_ckpt_load_into(f, 3, names, 1, NULL, bytes, 1),
                     VS_EINVAL);
    vs_ckpt_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_load_into_raw_chunks_is_bit_exact),
        T(test_load_into_compressed_chunks_is_bit_exact),
        T(test_load_into_refuses_a_buffer_of_another_size),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
