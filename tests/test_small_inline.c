/* Small saves and loads run their chunks' work on the calling thread:
 * handing a chunk to a worker thread costs a wake-up and a wait on each
 * side, more than checksumming, encoding or decoding a small chunk.
 * Counted through the pool's handoff counter (vs__pool_handoffs), never
 * timed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "store_int.h"

#define STORE_TEST_NAME "vs_test_small_inline"
#include "support/store_test.h"

#define MIB ((int64_t)1 << 20)

/* n float32 tensors of bytes each, distinct values. */
static vs_tensor **make_tensors(int n, int64_t bytes)
{
    vs_tensor **ts = calloc((size_t)n, sizeof *ts);
    assert_non_null(ts);
    int64_t sh[1] = {bytes / 4};
    for (int k = 0; k < n; k++) {
        ts[k] = mk(VS_FLOAT32, 1, sh);
        float *f = ts[k]->data;
        for (int64_t i = 0; i < sh[0]; i++)
            f[i] = (float)(k * 1000003 + i % 7919) * 0.25f;
    }
    return ts;
}

/* Loads tensors t0 .. t(n-1) of step 1 at once (vs_ckpt_load_many, the
 * library's thread count); the handoffs it made. Each holds bytes bytes
 * of make_tensors' values. */
static size_t handoffs_of_load(int n, int64_t bytes)
{
    vs_tensor **want = make_tensors(n, bytes);
    char (*names)[16] = calloc((size_t)n, sizeof *names);
    const char **np = calloc((size_t)n, sizeof *np);
    vs_tensor **out = calloc((size_t)n, sizeof *out);
    assert_true(names != NULL && np != NULL && out != NULL);
    for (int k = 0; k < n; k++) {
        snprintf(names[k], sizeof names[k], "t%d", k);
        np[k] = names[k];
    }
    vs_ckpt *f = NULL;
    OK(vs_ckpt_open(g_path, &f));
    size_t before = vs__pool_handoffs();
    OK(vs_ckpt_load_many(f, 1, np, (size_t)n, out));
    size_t made = vs__pool_handoffs() - before;
    vs_ckpt_close(f);
    for (int k = 0; k < n; k++) {
        assert_memory_equal(out[k]->data, want[k]->data, (size_t)bytes);
        vs_tensor_free(out[k]);
        vs_tensor_free(want[k]);
    }
    free(want);
    free(out);
    free(names);
    free(np);
    return made;
}

/* Saves them as step 1 with codec and threads; the handoffs it made.
 * Every tensor loads back equal. */
static size_t handoffs_of_save(int n, int64_t bytes, int codec, int threads)
{
    vs_tensor **ts = make_tensors(n, bytes);
    char (*names)[16] = calloc((size_t)n, sizeof *names);
    const char **np = calloc((size_t)n, sizeof *np);
    assert_true(names != NULL && np != NULL);
    for (int k = 0; k < n; k++) {
        snprintf(names[k], sizeof names[k], "t%d", k);
        np[k] = names[k];
    }
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.codec = codec;
    o.threads = threads;
    size_t before = vs__pool_handoffs();
    OK(vs_save_tensors(g_path, 1, np, (const vs_tensor *const *)ts,
                       (size_t)n, &o));
    size_t made = vs__pool_handoffs() - before;
    for (int k = 0; k < n; k++) {
        vs_tensor *got = NULL;
        OK(vs_load_variable(g_path, 1, np[k], &got));
        assert_int_equal(got->dtype, VS_FLOAT32);
        assert_int_equal(vs_tensor_nbytes(got), (size_t)bytes);
        assert_memory_equal(got->data, ts[k]->data, (size_t)bytes);
        vs_tensor_free(got);
        vs_tensor_free(ts[k]);
    }
    free(ts);
    free(names);
    free(np);
    return made;
}

static void test_small_inline__a_save_under_a_mib_hands_no_chunk_to_a_worker(
    void **st)
{
    (void)st;
    assert_int_equal(handoffs_of_save(100, 4096, VS_CODEC_DEFAULT, 0), 0);
}

/* The raw codec's work per chunk is a checksum and statistics: a 5 MiB
 * model (a small ResNet's size) stays on the calling thread. */
static void test_small_inline__a_raw_save_of_5_mib_hands_no_chunk_to_a_worker(
    void **st)
{
    (void)st;
    assert_int_equal(handoffs_of_save(20, MIB / 4, VS_CODEC_RAW, 0), 0);
}

/* Above the limit, every chunk is encoded on the workers (one per core). */
static void test_small_inline__a_larger_save_encodes_on_the_workers(void **st)
{
    (void)st;
    size_t made = handoffs_of_save(4, MIB, VS_CODEC_DEFAULT, 0);
    assert_int_equal(made, vs__pool_threads(0) > 1 ? 4 : 0);
}

/* A thread count the caller gives is kept, whatever the save's size. */
static void test_small_inline__given_threads_are_used_for_a_small_save(
    void **st)
{
    (void)st;
    assert_int_equal(handoffs_of_save(3, 4096, VS_CODEC_DEFAULT, 2), 3);
}

static void test_small_inline__a_load_under_a_mib_hands_no_chunk_to_a_worker(
    void **st)
{
    (void)st;
    (void)handoffs_of_save(100, 4096, VS_CODEC_DEFAULT, 0);
    assert_int_equal(handoffs_of_load(100, 4096), 0);
}

/* Up to 8 MiB (a 5 MB model's many tensors): the calling thread alone. */
static void test_small_inline__a_load_of_8_mib_hands_no_chunk_to_a_worker(
    void **st)
{
    (void)st;
    (void)handoffs_of_save(8, MIB, VS_CODEC_DEFAULT, 0);
    assert_int_equal(handoffs_of_load(8, MIB), 0);
}

static void test_small_inline__a_larger_load_decodes_on_the_workers(void **st)
{
    (void)st;
    (void)handoffs_of_save(9, MIB, VS_CODEC_DEFAULT, 0);
    assert_int_equal(handoffs_of_load(9, MIB),
                     vs__pool_threads(0) > 1 ? 9 : 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_small_inline__a_save_under_a_mib_hands_no_chunk_to_a_worker,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_small_inline__a_raw_save_of_5_mib_hands_no_chunk_to_a_worker,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_small_inline__a_larger_save_encodes_on_the_workers, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_small_inline__given_threads_are_used_for_a_small_save, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_small_inline__a_load_under_a_mib_hands_no_chunk_to_a_worker,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_small_inline__a_load_of_8_mib_hands_no_chunk_to_a_worker,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_small_inline__a_larger_load_decodes_on_the_workers, setup,
            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
