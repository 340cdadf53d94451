/* Tests for store/codec/deflate.c, the codec's literal-only deflate
 * encoder: its streams are zlib streams that zlib's inflate and varstore's
 * own fast inflater decode to the same bytes, its codes stay within 15
 * bits, it writes nothing past its room, and it compresses as well as
 * zlib's Z_HUFFMAN_ONLY deflate did. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "store_int.h"
#include "varstore.h"
#include "support/vs_test.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33);
}

/* zlib's Huffman-only stream of src (what the codec wrote before), for
 * size comparisons. */
static size_t zlib_huffman(const unsigned char *src, size_t n,
                           unsigned char *dst, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 1, Z_DEFLATED, 15, 8, Z_HUFFMAN_ONLY),
                     Z_OK);
    z.next_in = (Bytef *)(uintptr_t)src;
    z.avail_in = (uInt)n;
    z.next_out = dst;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t out = z.total_out;
    assert_int_equal(deflateEnd(&z), Z_OK);
    return out;
}

/* Encodes src (n bytes), then checks: zlib inflates the stream, trailer
 * included, to exactly src and uses every byte of it; varstore's fast
 * inflater decodes it on its fast path to the same bytes; a second encode
 * gives the same stream; and it is no larger than zlib's Huffman-only
 * stream by more than 0.5% (+ 64 bytes of header) where that compressed.
 * Returns its length. */
static size_t check_stream(const unsigned char *src, size_t n,
                           const char *what)
{
    size_t cap = n + n / 2 + 1024;
    unsigned char *z = malloc(cap), *z2 = malloc(cap), *out = malloc(n + 16);
    assert_non_null(z);
    assert_non_null(z2);
    assert_non_null(out);
    vs__plane_hist h;
    vs__plane_hist_count(&h, src, n);
    size_t len = vs__deflate_literals(src, n, &h, z, cap);
    if (len == 0)
        fail_msg("%s (%zu bytes): the encoder declined", what, n);
    z_stream s;
    memset(&s, 0, sizeof s);
    assert_int_equal(inflateInit(&s), Z_OK);
    s.next_in = z;
    s.avail_in = (uInt)len;
    s.next_out = out;
    s.avail_out = (uInt)(n + 16);
    int zr = inflate(&s, Z_FINISH);
    if (zr != Z_STREAM_END || s.total_out != n || s.avail_in != 0)
        fail_msg("%s (%zu bytes): zlib inflate %d (%s), %lu bytes out, %u "
                 "in left",
                 what, n, zr, s.msg ? s.msg : "", s.total_out, s.avail_in);
    assert_int_equal(inflateEnd(&s), Z_OK);
    if (memcmp(out, src, n) != 0)
        fail_msg("%s (%zu bytes): zlib decodes other bytes", what, n);
    memset(out, 0x5a, n);
    if (vs__inflate_literals(z, len, out, n) != 0 || memcmp(out, src, n))
        fail_msg("%s (%zu bytes): not decoded on the fast path", what, n);
    assert_int_equal(vs__deflate_literals(src, n, &h, z2, cap), len);
    assert_memory_equal(z, z2, len);
    size_t zl = zlib_huffman(src, n, z2, cap);
    /* (zlib stores what does not compress; the codec does that itself) */
    if (zl < n && len > zl + zl / 200 + 64)
        fail_msg("%s (%zu bytes): %zu bytes, zlib's Huffman-only %zu", what,
                 n, len, zl);
    free(z);
    free(z2);
    free(out);
    return len;
}

/* Byte i of n of a plane of the given kind (see kinds below). */
static unsigned char kind_byte(int kind, size_t i, size_t n)
{
    uint32_t r = rnd();
    switch (kind) {
    case 0:
        return (unsigned char)r;
    case 1:
        return 0x3c;
    case 2:
        return (unsigned char)i;
    case 3:
        return (unsigned char)(r & 1 ? 0x3c : 0xbc);
    case 4:
        return (unsigned char)(0x3c + r % 5 - r % 3 + (r % 97 == 0) * 40);
    case 5:
        return (unsigned char)(r % 20 ? 7 : r >> 8);
    default: /* a few values, then 64 others: one code fits neither half */
        return i < n / 2 ? kind_byte(4, i, n) : (unsigned char)(128 + r % 64);
    }
}

static void test_deflate__streams_decode_with_zlib_and_fast_path(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 2, 3, 4, 7, 64, 255, 1000, 65536,
                                   ((size_t)1 << 20) + 5};
    size_t max = sizes[sizeof sizes / sizeof *sizes - 1];
    unsigned char *p = malloc(max);
    assert_non_null(p);
    const char *kinds[] = {"random",          "constant",
                           "all 256 symbols", "two symbols",
                           "exponent-like",   "skewed (95% one byte)",
                           "changes halfway"};
    for (int k = 0; k < 7; k++) {
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            size_t n = sizes[si];
            for (size_t i = 0; i < n; i++)
                p[i] = kind_byte(k, i, n);
            check_stream(p, n, kinds[k]);
        }
    }
    free(p);
}

/* Byte counts that follow the Fibonacci numbers make the optimal code's
 * longest codes as long as the alphabet allows (here 29 and more bits):
 * the encoder must cut them to 14 (four codes per 64-bit store), and
 * still make a code zlib accepts and decodes, about as small as zlib's
 * own. */
static void test_deflate__fibonacci_counts_are_limited_to_14_bits(void **st)
{
    (void)st;
    for (int nsym = 17; nsym <= 30; nsym += 13) {
        uint64_t f[31], total = 0;
        f[0] = 1;
        f[1] = 1;
        for (int s = 2; s < nsym; s++)
            f[s] = f[s - 1] + f[s - 2];
        for (int s = 0; s < nsym; s++)
            total += f[s];
        unsigned char *p = malloc(total);
        assert_non_null(p);
        size_t i = 0;
        for (int s = 0; s < nsym; s++)
            for (uint64_t c = 0; c < f[s]; c++)
                p[i++] = (unsigned char)(s * 7 + 1);
        /* Interleave, so that no symbol comes in one run. */
        for (size_t j = total - 1; j > 0; j--) {
            size_t r = (size_t)rnd() % (j + 1);
            unsigned char t = p[j];
            p[j] = p[r];
            p[r] = t;
        }
        check_stream(p, (size_t)total, "Fibonacci counts");
        free(p);
    }
}

/* With one byte less room than its stream needs the encoder declines,
 * with exactly its size it fits; never a byte is written past the room
 * given. */
static void test_deflate__never_writes_past_its_room(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 9, 100, 4099, 300000};
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        size_t n = sizes[si];
        unsigned char *p = malloc(n), *z = malloc(2 * n + 1024 + 64);
        assert_non_null(p);
        assert_non_null(z);
        for (size_t i = 0; i < n; i++)
            p[i] = (unsigned char)(rnd() % 11 * 3);
        vs__plane_hist h;
        vs__plane_hist_count(&h, p, n);
        size_t len = vs__deflate_literals(p, n, &h, z, 2 * n + 1024);
        assert_true(len > 6);
        for (size_t cap = len - 1; cap <= len; cap++) {
            memset(z, 0xa5, cap + 64);
            size_t got = vs__deflate_literals(p, n, &h, z, cap);
            assert_int_equal(got, cap == len ? len : 0);
            for (size_t i = cap; i < cap + 64; i++)
                if (z[i] != 0xa5)
                    fail_msg("%zu bytes, room %zu: byte %zu written", n, cap,
                             i);
        }
        assert_int_equal(vs__deflate_literals(p, n, &h, z, 5), 0);
        free(p);
        free(z);
    }
}

static void test_deflate__histogram_counts_every_byte(void **state)
{
    (void)state;
    unsigned char p[1031];
    for (size_t i = 0; i < sizeof p; i++)
        p[i] = (unsigned char)(rnd() % 13 == 0 ? rnd() : 0x3f);
    for (size_t n = 0; n <= sizeof p; n += n < 16 ? 1 : 203) {
        uint32_t got[256], want[256] = {0};
        for (size_t i = 0; i < n; i++)
            want[p[i]]++;
        memset(got, 0xff, sizeof got);
        vs__byte_hist(p, n, got);
        assert_memory_equal(got, want, sizeof want);
    }
}

/* float32 N(0, 0.02) weights, as a model's: the codec's chunk at level 0
 * is no larger than what zlib's Huffman-only deflate made of the same
 * planes (the old encoder), plane for plane within 0.5%. */
static void test_deflate__normal_weights_chunk_as_small_as_zlib(void **st)
{
    (void)st;
    size_t m = 262144, n = 4 * m;
    float *w = malloc(n);
    unsigned char *pl = malloc(m), *z = malloc(2 * m);
    assert_non_null(w);
    assert_non_null(pl);
    assert_non_null(z);
    for (size_t i = 0; i < m; i++) {
        /* sum of 4 uniforms: close enough to normal for the exponents */
        double u = 0;
        for (int k = 0; k < 4; k++)
            u += (double)rnd() / 4294967296.0 - 0.5;
        w[i] = (float)(0.02 * u * 1.7320508);
    }
    vs__ws ws;
    vs__buf ob = {NULL, 0};
    memset(&ws, 0, sizeof ws);
    vs__codec_opts o = {0, 0};
    int codec;
    size_t len;
    char err[256];
    OK(vs__chunk_encode_ws(w, n, 4, &o, &ws, &ob, &codec, &len, err,
                           sizeof err));
    assert_int_equal(codec, VS_CHUNK_SHUFFLE_ZLIB);
    int deflated = 0;
    for (size_t p = 0; p < 4; p++) {
        for (size_t i = 0; i < m; i++)
            pl[i] = ((const unsigned char *)w)[4 * i + p];
        const unsigned char *h = ob.p + 5 * p;
        uint32_t plen = (uint32_t)h[1] | (uint32_t)h[2] << 8 |
                        (uint32_t)h[3] << 16 | (uint32_t)h[4] << 24;
        if (ob.p[5 * p] != VS_PLANE_ZLIB)
            continue;
        deflated++;
        size_t zl = zlib_huffman(pl, m, z, 2 * m);
        if (plen > zl + zl / 200)
            fail_msg("plane %zu: %u bytes, zlib's Huffman-only %zu", p,
                     (unsigned)plen, zl);
    }
    assert_true(deflated >= 1); /* the exponent plane at least */
    vs__ws_free(&ws);
    vs__buf_free(&ob);
    free(w);
    free(pl);
    free(z);
}

/* The codec looks at a sample of a large plane first and stores it at
 * once when the sample is near-uniform. Rows of 16 bytes whose first byte
 * is random and the rest zero must not fool it: a sample of every 16th
 * byte would see only the random column. The plane must still shrink. */
static void test_deflate__sampled_gate_sees_every_column(void **state)
{
    (void)state;
    for (size_t row = 16; row <= 64; row *= 2) {
        size_t n = (size_t)1 << 20;
        unsigned char *p = calloc(n, 1);
        assert_non_null(p);
        for (size_t i = 0; i < n; i += row)
            p[i] = (unsigned char)rnd();
        vs__ws ws;
        vs__buf ob = {NULL, 0};
        memset(&ws, 0, sizeof ws);
        vs__codec_opts o = {0, 0};
        int codec;
        size_t len;
        char err[256];
        OK(vs__chunk_encode_ws(p, n, 1, &o, &ws, &ob, &codec, &len, err,
                               sizeof err));
        assert_int_equal(codec, VS_CHUNK_SHUFFLE_ZLIB);
        assert_int_equal(ob.p[0], VS_PLANE_ZLIB);
        assert_true(len < n / 4);
        vs__ws_free(&ws);
        vs__buf_free(&ob);
        free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deflate__streams_decode_with_zlib_and_fast_path),
        cmocka_unit_test(test_deflate__fibonacci_counts_are_limited_to_14_bits),
        cmocka_unit_test(test_deflate__never_writes_past_its_room),
        cmocka_unit_test(test_deflate__histogram_counts_every_byte),
        cmocka_unit_test(test_deflate__normal_weights_chunk_as_small_as_zlib),
        cmocka_unit_test(test_deflate__sampled_gate_sees_every_column),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
