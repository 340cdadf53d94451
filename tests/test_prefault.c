/* A load of 4 MiB or more into fresh memory has a helper thread make its
 * destinations resident while the calling thread reads into them
 * (store/restore/prefault.c): the tensors come out bit for bit, into
 * the library's buffers or the caller's, and the helper populated their
 * pages (counted through vs__prefault_starts and vs__prefault_bytes,
 * never timed; vs__prefault_finish lets it finish, so that how far it
 * got before the load ended does not depend on the scheduler). Smaller
 * loads, and loads on one thread, start no helper. */
#define _GNU_SOURCE /* MAP_ANONYMOUS, MADV_POPULATE_WRITE */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "store_int.h"

#define STORE_TEST_NAME "vs_test_prefault"
#include "support/store_test.h"

#define MIB ((int64_t)1 << 20)

#if !defined(MADV_POPULATE_WRITE)
#define MADV_POPULATE_WRITE 23
#endif

/* Whether this kernel populates memory on advice (Linux 5.14 on): if
 * not, the helper stops at its first call and the tests that count its
 * work skip, saying so. */
static void skip_without_populate(void)
{
    size_t n = 1 << 16;
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    int ok = madvise(p, n, MADV_POPULATE_WRITE) == 0;
    assert_int_equal(munmap(p, n), 0);
    if (!ok) {
        print_message("skipped: this kernel has no MADV_POPULATE_WRITE "
                      "(Linux 5.14)\n");
        skip();
    }
}

/* Step 1 of g_path: tensors "a" and "b", raw (read straight into
 * place), of mib_each MiB each; their values in *want. */
static void save_two(int64_t mib_each, vs_tensor **want)
{
    int64_t sh[1] = {mib_each * MIB / 4};
    const char *names[2] = {"a", "b"};
    for (int k = 0; k < 2; k++) {
        want[k] = mk(VS_FLOAT32, 1, sh);
        float *f = want[k]->data;
        for (int64_t i = 0; i < sh[0]; i++)
            f[i] = (float)(k * 7919 + i % 104729) * 0.5f;
    }
    vs_save_opts o = {0};
    o.codec = VS_CODEC_RAW;
    OK(vs_save_tensors(g_path, 1, names, (const vs_tensor *const *)want, 2,
                       &o));
}

/* Helpers started by the last load_many or load_into below. */
static size_t g_started;

/* Loads step 1's "a" and "b" with vs_ckpt_load_many; checks them against
 * want; returns the bytes helpers populated meanwhile (g_started: the
 * helpers started). */
static size_t prefaulted_by_load_many(vs_tensor *const *want)
{
    const char *names[2] = {"a", "b"};
    vs_tensor *got[2] = {NULL, NULL};
    vs_ckpt *f = NULL;
    OK(vs_ckpt_open(g_path, &f));
    size_t before = vs__prefault_bytes();
    size_t starts = vs__prefault_starts();
    vs__prefault_finish = 1;
    OK(vs_ckpt_load_many(f, 1, names, 2, got));
    vs__prefault_finish = 0;
    g_started = vs__prefault_starts() - starts;
    size_t populated = vs__prefault_bytes() - before;
    vs_ckpt_close(f);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(vs_tensor_nbytes(got[k]), vs_tensor_nbytes(want[k]));
        assert_memory_equal(got[k]->data, want[k]->data,
                            vs_tensor_nbytes(want[k]));
        vs_tensor_free(got[k]);
    }
    return populated;
}

static void free_two(vs_tensor **want)
{
    vs_tensor_free(want[0]);
    vs_tensor_free(want[1]);
}

/* Saves two tensors of mib_each MiB, loads them with load_many (the
 * library picking the threads), and checks that a helper populated every
 * whole page of both buffers (where the reads got first, the helper finds
 * the pages there, and counts them all the same). */
static void expect_load_many_populated(int64_t mib_each)
{
    vs_tensor *want[2];
    save_two(mib_each, want);
    size_t populated = prefaulted_by_load_many(want);
    free_two(want);
    assert_int_equal(g_started, vs__pool_threads(0) > 1 ? 1 : 0);
    skip_without_populate();
    if (g_started == 0) {
        print_message("skipped: one CPU, so no helper\n");
        skip();
    }
    size_t total = (size_t)(2 * mib_each * MIB);
    print_message("populated by the helper: %zu of %zu bytes\n", populated,
                  total);
    assert_true(populated >= total - 4 * 65536);
    assert_true(populated <= total);
}

static void test_prefault__a_large_load_is_populated_ahead(void **st)
{
    (void)st;
    expect_load_many_populated(6); /* 12 MiB: decoded on the pool */
}

/* Loads step 1's "a" and "b" into fresh mappings of the caller's
 * (vs_ckpt_load_into on `threads` threads, what Python's varstore.load
 * does); checks them against want; returns the bytes helpers populated
 * meanwhile. */
static size_t prefaulted_by_load_into(vs_tensor *const *want, int threads)
{
    size_t nb = vs_tensor_nbytes(want[0]);
    void *dst[2];
    size_t bytes[2] = {nb, nb};
    for (int k = 0; k < 2; k++) {
        dst[k] = mmap(NULL, nb, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        assert_true(dst[k] != MAP_FAILED);
    }
    const char *names[2] = {"a", "b"};
    vs_ckpt *f = NULL;
    OK(vs_ckpt_open(g_path, &f));
    size_t before = vs__prefault_bytes();
    size_t starts = vs__prefault_starts();
    vs__prefault_finish = 1;
    OK(vs_ckpt_load_into(f, 1, names, 2, dst, bytes, threads));
    vs__prefault_finish = 0;
    g_started = vs__prefault_starts() - starts;
    size_t populated = vs__prefault_bytes() - before;
    vs_ckpt_close(f);
    for (int k = 0; k < 2; k++) {
        assert_memory_equal(dst[k], want[k]->data, nb);
        assert_int_equal(munmap(dst[k], nb), 0);
    }
    return populated;
}

static void test_prefault__none_for_small_or_one_thread_loads(void **st)
{
    (void)st;
    vs_tensor *want[2];
    save_two(1, want); /* 2 MiB in all */
    assert_int_equal(prefaulted_by_load_many(want), 0);
    assert_int_equal(g_started, 0);
    assert_int_equal(prefaulted_by_load_into(want, 2), 0);
    assert_int_equal(g_started, 0);
    free_two(want);
    remove_db(g_path);
    save_two(6, want);
    assert_int_equal(prefaulted_by_load_into(want, 1), 0);
    assert_int_equal(g_started, 0);
    free_two(want);
}

/* A load small enough to decode on the calling thread (at most 8 MiB)
 * still has the helper when the library picks the threads: 6 MiB. */
static void test_prefault__an_inline_load_has_the_helper_too(void **st)
{
    (void)st;
    expect_load_many_populated(3);
}

/* Into the caller's memory: the helper populates it as well (page-
 * aligned mappings: every byte), and the bytes are right. */
static void test_prefault__a_load_into_caller_memory(void **st)
{
    (void)st;
    vs_tensor *want[2];
    save_two(6, want);
    size_t populated = prefaulted_by_load_into(want, 2);
    free_two(want);
    assert_int_equal(g_started, 1); /* two threads asked: a helper */
    skip_without_populate();
    assert_int_equal(populated, (size_t)(12 * MIB));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_prefault__a_large_load_is_populated_ahead),
        T(test_prefault__none_for_small_or_one_thread_loads),
        T(test_prefault__a_load_into_caller_memory),
        T(test_prefault__an_inline_load_has_the_helper_too),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
