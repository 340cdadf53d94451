/* Tests for store/codec/take.c, hash.c and stats.c: a chunk read once,
 * block by block, gives the bits of the whole-chunk functions (hash, CRC,
 * statistics, encoding), and a chunk stored as it is puts the planes
 * back in order. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "varstore.h"
#include "support/vs_test.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(void)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng >> 33);
}

/* n bytes of elements of size e, as in a tensor of weights: float32 and
 * float64 normal-ish values with a NaN and an Inf now and then, float16
 * and int8 bit patterns. */
static unsigned char *chunk_bytes(size_t n, size_t e)
{
    unsigned char *b = malloc(n ? n : 1);
    assert_non_null(b);
    for (size_t i = 0; i < n / e; i++) {
        double x = ((double)rnd() / 4294967296.0 - 0.5) * 0.1;
        if (rnd() % 5000 == 0)
            x = rnd() % 2 ? NAN : INFINITY;
        if (e == 4) {
            float f = (float)x;
            memcpy(b + 4 * i, &f, 4);
        } else if (e == 8) {
            memcpy(b + 8 * i, &x, 8);
        } else {
            for (size_t k = 0; k < e; k++)
                b[e * i + k] = (unsigned char)rnd();
        }
    }
    return b;
}

static vs_dtype dtype_of(size_t e)
{
    return e == 8 ? VS_FLOAT64 : e == 4 ? VS_FLOAT32 : e == 2 ? VS_FLOAT16
                                                               : VS_INT8;
}

/* Sizes around the block (16 KiB) and hash-block (32 bytes) edges. */
static const size_t sizes[] = {0,     8,     32,    40,     1000,
                               16384, 16392, 32768, 100008, 1048576 + 24};

static void test_take__hash_by_blocks_equals_whole_hash(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i];
        unsigned char *b = chunk_bytes(n, 1);
        vs__hash_state h;
        vs__hash64_init(&h);
        size_t at = 0;
        while (n - at >= 256) /* uneven pieces, whole 32-byte blocks */
            at += vs__hash64_blocks(&h, b + at, 32 * (1 + rnd() % 7));
        at += vs__hash64_blocks(&h, b + at, n - at);
        assert_true(n - at < 32);
        assert_true(vs__hash64_final(&h, b + at, n - at) == vs__hash64(b, n));
        free(b);
    }
}

/* Whole-chunk stats of a chunk, as a save of a chunk in one piece. */
static vs__stats whole_stats(vs_dtype dt, const unsigned char *b, size_t n)
{
    vs__stats s;
    vs__stats_init(&s);
    vs__stats_chunk(dt, b, n, &s);
    return s;
}

static void assert_same_stats(const vs__stats *a, const vs__stats *b)
{
    assert_memory_equal(a, b, sizeof *a); /* the same bits */
}

static void test_take__crc_hash_stats_and_planes_equal_whole_chunk(
    void **state)
{
    (void)state;
    for (size_t e = 1; e <= 8; e *= 2)
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            size_t n = sizes[i] / e * e;
            unsigned char *b = chunk_bytes(n, e);
            vs__ws ws;
            memset(&ws, 0, sizeof ws);
            vs__taken t;
            assert_int_equal(vs__chunk_take(b, n, e, dtype_of(e),
                                            VS_TAKE_HASH | VS_TAKE_STATS,
                                            &ws, &t),
                             VS_OK);
            assert_true(t.hash == vs__hash64(b, n));
            assert_int_equal(t.crc, vs__crc32(0, b, n));
            vs__stats w = whole_stats(dtype_of(e), b, n);
            if (e > 1)
                assert_same_stats(&t.stats, &w);
            assert_true(vs__planes_equal(ws.planes.p, b, n, e));
            if (n > 0 && e > 1) { /* one byte changed: not equal */
                b[n / 2] ^= 1;
                assert_false(vs__planes_equal(ws.planes.p, b, n, e));
            }
            vs__ws_free(&ws);
            free(b);
        }
}

/* A chunk encoded from the planes vs__chunk_take left is the chunk
 * vs__chunk_encode_ws makes of the same bytes, stored ones included
 * (random bytes, which nothing compresses, and tiny chunks). */
static void test_take__encoding_from_planes_equals_encoding_whole(
    void **state)
{
    (void)state;
    for (int raw_bytes = 0; raw_bytes < 2; raw_bytes++)
        for (size_t e = 1; e <= 8; e *= 2)
            for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
                size_t n = sizes[i] / e * e;
                unsigned char *b =
                    raw_bytes ? chunk_bytes(n, 1) : chunk_bytes(n, e);
                vs__codec_opts o = {0, 0};
                vs__ws w1, w2;
                memset(&w1, 0, sizeof w1);
                memset(&w2, 0, sizeof w2);
                vs__buf o1 = {NULL, 0}, o2 = {NULL, 0};
                int c1 = -1, c2 = -2;
                size_t l1 = 0, l2 = 1;
                char err[128];
                vs__taken t;
                assert_int_equal(vs__chunk_encode_ws(b, n, e, &o, &w1, &o1,
                                                     &c1, &l1, err,
                                                     sizeof err),
                                 VS_OK);
                assert_int_equal(vs__chunk_take(b, n, e, dtype_of(e), 0,
                                                &w2, &t),
                                 VS_OK);
                assert_int_equal(vs__chunk_encode_planes(n, e, &o, &w2, &o2,
                                                         &c2, &l2, err,
                                                         sizeof err),
                                 VS_OK);
                assert_int_equal(c1, c2);
                assert_int_equal(l1, l2);
                if (l1 > 0)
                    assert_memory_equal(o1.p, o2.p, l1);
                if (raw_bytes && n > 0)
                    assert_int_equal(c2, VS_CHUNK_RAW);
                vs__buf_free(&o1);
                vs__buf_free(&o2);
                vs__ws_free(&w1);
                vs__ws_free(&w2);
                free(b);
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_take__hash_by_blocks_equals_whole_hash),
        cmocka_unit_test(
            test_take__crc_hash_stats_and_planes_equal_whole_chunk),
        cmocka_unit_test(
            test_take__encoding_from_planes_equals_encoding_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
