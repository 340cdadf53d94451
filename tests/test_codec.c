/* Tests for store/codec.c and store/pool.c: CRC, hash, byte-shuffle +
 * per-plane zlib chunks, statistics, half conversions, the thread pool. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "store_int.h"
#include "varstore.h"
#include "support/vs_test.h"

/* Encodes one chunk with a fresh scratch state, as a save's worker does;
 * *out is a new buffer (vs__free). */
static int encode_chunk(const void *raw, size_t n, size_t e,
                        const vs__codec_opts *o, int *codec,
                        unsigned char **out, size_t *out_len, char *err,
                        size_t cap)
{
    vs__ws ws;
    vs__buf ob = {NULL, 0};
    memset(&ws, 0, sizeof ws);
    int rc = vs__chunk_encode_ws(raw, n, e, o, &ws, &ob, codec, out_len, err,
                                 cap);
    vs__ws_free(&ws);
    *out = ob.p;
    return rc;
}

static uint64_t rng_state = 0x12345678abcdefULL;
static uint32_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33);
}

/* n bytes from rnd(), to be freed. */
static unsigned char *random_bytes(size_t n)
{
    unsigned char *buf = malloc(n);
    assert_non_null(buf);
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)rnd();
    return buf;
}

static void test_codec__crc32_check_value(void **state)
{
    (void)state;
    /* The CRC-32/ISO-HDLC check value. */
    assert_int_equal(vs__crc32(0, "123456789", 9), 0xCBF43926u);
    uint32_t a = vs__crc32(0, "12345", 5), b = vs__crc32(0, "6789", 4);
    assert_int_equal(vs__crc32_combine(a, b, 4), 0xCBF43926u);
}

/* The folded CRC equals zlib's for every length through the block sizes
 * it switches on (0..600 covers the 64-byte loop, the 16-byte loop and
 * every tail), every start alignment, chained starting values, and one
 * buffer past a megabyte. Also a check value long enough to fold. */
static void test_codec__crc32_fast_path_matches_zlib(void **state)
{
    (void)state;
    size_t big = ((size_t)1 << 20) + 77;
    unsigned char *buf = random_bytes(big + 64);
    for (size_t n = 0; n <= 600; n++) {
        size_t align = n % 16;
        uint32_t init = n % 3 == 0 ? 0 : rnd();
        uint32_t want = vs__crc32_zlib(init, buf + align, n);
        if (vs__crc32(init, buf + align, n) != want)
            fail_msg("length %zu, alignment %zu, start 0x%08x", n, align,
                     (unsigned)init);
    }
    assert_int_equal(vs__crc32(0, buf + 3, big),
                     vs__crc32_zlib(0, buf + 3, big));
    /* Chaining: the CRC of a split buffer equals the whole one. */
    uint32_t part = vs__crc32(0, buf, 1000);
    assert_int_equal(vs__crc32(part, buf + 1000, big - 1000),
                     vs__crc32_zlib(0, buf, big));
    /* All-zero and all-ones data (the pre-inversion matters there). */
    memset(buf, 0, 4096);
    assert_int_equal(vs__crc32(0, buf, 4096), vs__crc32_zlib(0, buf, 4096));
    memset(buf, 0xff, 4096);
    assert_int_equal(vs__crc32(0, buf, 4096), vs__crc32_zlib(0, buf, 4096));
    /* "123456789" repeated 16 times (144 bytes): check against a value
     * computed independently of both paths (Python's zlib.crc32). */
    for (size_t i = 0; i < 144; i++)
        buf[i] = (unsigned char)('1' + i % 9);
    assert_int_equal(vs__crc32(0, buf, 144), 0x045D0030u);
    print_message("CRC path: %s\n",
                  vs__crc32_has_clmul() ? "PCLMULQDQ folding" : "zlib");
    free(buf);
}

/* vs__adler32 gives zlib's adler32_z: every length up to 600 at every
 * alignment, runs long enough to cross the vector loop's reductions,
 * bytes that all weigh the most (0xff: the sums' worst case), a value
 * continued from a split, and the value for "Wikipedia" (0x11E60398,
 * the worked example of the algorithm). */
static void test_codec__adler32_matches_zlib(void **state)
{
    (void)state;
    size_t big = ((size_t)1 << 20) + 77;
    unsigned char *buf = random_bytes(big + 64);
    for (size_t n = 0; n <= 600; n++) {
        size_t align = n % 32;
        uint32_t init = n % 3 == 0 ? 1 : (rnd() % 65521) << 16 | rnd() % 65521;
        uint32_t want = (uint32_t)adler32_z(init, buf + align, n);
        if (vs__adler32(init, buf + align, n) != want)
            fail_msg("length %zu, alignment %zu, start 0x%08x", n, align,
                     (unsigned)init);
    }
    assert_int_equal(vs__adler32(1, buf + 5, big),
                     (uint32_t)adler32_z(1, buf + 5, big));
    uint32_t part = vs__adler32(1, buf, 1000);
    assert_int_equal(vs__adler32(part, buf + 1000, big - 1000),
                     (uint32_t)adler32_z(1, buf, big));
    memset(buf, 0xff, big);
    for (size_t n = 5530; n <= 5570; n++) /* around a reduction run */
        assert_int_equal(vs__adler32(0xfff0fff0u, buf, n),
                         (uint32_t)adler32_z(0xfff0fff0u, buf, n));
    assert_int_equal(vs__adler32(1, buf, big), (uint32_t)adler32_z(1, buf, big));
    assert_int_equal(vs__adler32(1, "Wikipedia", 9), 0x11E60398u);
    print_message("Adler-32 path: %s\n", vs__cpu_avx2() ? "AVX2" : "zlib");
    free(buf);
}

/* ---- the literal-only inflate fast path -------------------------------- */

/* zlib-compresses src with the given level, memLevel and strategy. */
static size_t zcompress(const unsigned char *src, size_t n, unsigned char *dst,
                        size_t cap, int level, int mem_level, int strategy)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, level, Z_DEFLATED, 15, mem_level,
                                  strategy),
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

/* Every literal-only stream zlib makes decodes on the fast path to the
 * same bytes: Huffman-only at any memLevel (memLevel 1 makes many small
 * dynamic blocks), stored blocks (level 0), fixed blocks (Z_FIXED on
 * bytes that never repeat), over exponent-like, random, constant and
 * tiny planes. */
static void test_codec__fast_inflate_matches_zlib(void **state)
{
    (void)state;
    size_t max = ((size_t)1 << 20) + 3;
    unsigned char *src = malloc(max), *z = malloc(2 * max + 1024),
                  *out = malloc(max + 16);
    assert_non_null(src);
    assert_non_null(z);
    assert_non_null(out);
    static const size_t sizes[] = {1, 2, 3, 17, 100, 4095, 16384, 16385,
                                   70001, ((size_t)1 << 20) + 3};
    for (int kind = 0; kind < 4; kind++) {
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            size_t n = sizes[si];
            for (size_t i = 0; i < n; i++) {
                uint32_t r = rnd();
                src[i] = kind == 0   ? (unsigned char)(0x3c + (r % 7 == 0) -
                                                       (r % 5 == 0) +
                                                       (r % 61 == 0) * 3)
                         : kind == 1 ? (unsigned char)r
                         : kind == 2 ? 0x3f
                                     : (unsigned char)(r % 3);
            }
            for (int ml = 1; ml <= 9; ml += 4) {
                for (int level = 0; level <= 9; level += 9) {
                    size_t zl = zcompress(src, n, z, 2 * max + 1024, level, ml,
                                          level == 0 ? Z_DEFAULT_STRATEGY
                                                     : Z_HUFFMAN_ONLY);
                    memset(out, 0xa5, n);
                    if (vs__inflate_literals(z, zl, out, n) != 0)
                        fail_msg("kind %d, %zu bytes, memLevel %d, level %d: "
                                 "not decoded",
                                 kind, n, ml, level);
                    if (memcmp(out, src, n) != 0)
                        fail_msg("kind %d, %zu bytes, memLevel %d, level %d: "
                                 "wrong bytes",
                                 kind, n, ml, level);
                    /* the wrong expected size is refused */
                    assert_int_equal(vs__inflate_literals(z, zl, out, n + 1),
                                     -1);
                    if (n > 1)
                        assert_int_equal(
                            vs__inflate_literals(z, zl, out, n - 1), -1);
                }
            }
        }
    }
    /* Fixed Huffman blocks: zlib picks them for short inputs. */
    for (size_t n = 1; n <= 64; n++) {
        for (size_t i = 0; i < n; i++)
            src[i] = (unsigned char)((i * 37 + 11) % 144); /* 8-bit codes */
        size_t zl = zcompress(src, n, z, 2 * max, 6, 8, Z_FIXED);
        assert_int_equal(z[2] & 6, 2); /* BTYPE 01 */
        assert_int_equal(vs__inflate_literals(z, zl, out, n), 0);
        assert_memory_equal(out, src, n);
    }
    /* A stream with matches is not handled (zlib decodes it). */
    memset(src, 'a', 5000);
    size_t zl = zcompress(src, 5000, z, 2 * max, 6, 8, Z_DEFAULT_STRATEGY);
    assert_int_equal(vs__inflate_literals(z, zl, out, 5000), -1);
    free(src);
    free(z);
    free(out);
}

/* Damaged and hostile streams: every truncation and single bit flip of a
 * few streams, a preset dictionary and a bad method: never a crash or an
 * access outside the buffers (this runs under ASan and UBSan in CI), and
 * what is refused is refused with -1. */
static void test_codec__fast_inflate_hostile_streams(void **state)
{
    (void)state;
    unsigned char src[3000], z[8000], out[3000 + 16];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (unsigned char)(0x3c + rnd() % 4);
    for (int level = 0; level <= 1; level++) {
        size_t zl = zcompress(src, sizeof src, z, sizeof z, level, 1,
                              level ? Z_HUFFMAN_ONLY : Z_DEFAULT_STRATEGY);
        for (size_t cut = 0; cut < zl; cut++) /* every truncation */
            assert_int_equal(vs__inflate_literals(z, cut, out, sizeof src),
                             -1);
        for (size_t bit = 0; bit < 8 * zl; bit += 3) {
            z[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            int r = vs__inflate_literals(z, zl, out, sizeof src);
            /* A flip in the trailer changes nothing decoded here (the
             * chunk CRC is what catches damage); elsewhere it may be
             * refused or decode to other bytes. */
            assert_true(r == 0 || r == -1);
            if (bit / 8 >= zl - 4)
                assert_int_equal(r, 0);
            z[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        }
        assert_int_equal(vs__inflate_literals(z, zl, out, sizeof src), 0);
        assert_memory_equal(out, src, sizeof src);
    }
    static const unsigned char dict[] = {0x78, 0xbb, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(vs__inflate_literals(dict, sizeof dict, out, 1), -1);
    static const unsigned char method[] = {0x79, 0x9c, 0, 0, 0, 0, 0, 0};
    assert_int_equal(vs__inflate_literals(method, sizeof method, out, 1), -1);
    /* Random garbage behind a valid header. */
    unsigned char junk[512];
    for (int t = 0; t < 2000; t++) {
        junk[0] = 0x78;
        junk[1] = 0x01;
        for (size_t i = 2; i < sizeof junk; i++)
            junk[i] = (unsigned char)rnd();
        size_t len = 6 + rnd() % (sizeof junk - 6);
        int r = vs__inflate_literals(junk, len, out, 1 + rnd() % 3000);
        assert_true(r == 0 || r == -1);
    }
}

/* A truncated stream whose code decodes zero bits as a literal (a run of
 * 'A's: 'A' gets the one-bit code 0) and an output size far beyond what
 * the input holds: the decoder refuses it within a few symbols of the
 * input's end instead of writing literals decoded from padding all the
 * way to out_len (which, at gigabytes, also overflowed its bit counter). */
static void test_codec__fast_inflate_stops_at_truncation(void **state)
{
    (void)state;
    unsigned char src[4096], z[2048];
    memset(src, 'A', sizeof src);
    size_t zl = zcompress(src, sizeof src, z, sizeof z, 1, 8, Z_HUFFMAN_ONLY);
    assert_true(zl > 4 + 64);
    const size_t cap = (size_t)1 << 20;
    unsigned char *out = malloc(cap);
    assert_non_null(out);
    assert_int_equal(vs__inflate_literals(z, zl, out, sizeof src), 0);
    assert_memory_equal(out, src, sizeof src);
    /* Drop 32 bytes of the body (the trailer's 4 stay as a trailer). */
    memmove(z + zl - 4 - 32, z + zl - 4, 4);
    memset(out, 0xee, cap);
    assert_int_equal(vs__inflate_literals(z, zl - 32, out, cap), -1);
    /* Nothing was written past what the body held plus a refill's worth. */
    for (size_t i = sizeof src; i < cap; i += 4096)
        assert_int_equal(out[i], 0xee);
    free(out);
}

static void test_codec__hash_depends_on_every_byte(void **state)
{
    (void)state;
    unsigned char buf[100];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)i;
    uint64_t h = vs__hash64(buf, sizeof buf);
    assert_true(h == vs__hash64(buf, sizeof buf));
    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] ^= 1;
        assert_true(vs__hash64(buf, sizeof buf) != h);
        buf[i] ^= 1;
    }
    assert_true(vs__hash64(buf, 99) != h);
}

/* float32 values like trained weights: random mantissas, few exponents. */
static void fill_weights(float *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t sign = rnd() & 1u, ex = 117 + rnd() % 6,
                 man = rnd() & 0x7fffffu;
        uint32_t bits = sign << 31 | ex << 23 | man;
        memcpy(&p[i], &bits, sizeof bits);
    }
}

static void roundtrip(const void *raw, size_t n, size_t e,
                      const vs__codec_opts *o, int want_codec)
{
    int codec = -1;
    unsigned char *blob = NULL, *blob2 = NULL;
    size_t len = 0, len2 = 0;
    char err[256];
    OK(encode_chunk(raw, n, e, o, &codec, &blob, &len, err, sizeof err));
    if (want_codec >= 0)
        assert_int_equal(codec, want_codec);
    /* Deterministic. */
    int codec2;
    OK(encode_chunk(raw, n, e, o, &codec2, &blob2, &len2, err, sizeof err));
    assert_int_equal(codec, codec2);
    assert_int_equal(len, len2);
    assert_memory_equal(blob, blob2, len);
    unsigned char *out = malloc(n ? n : 1);
    assert_non_null(out);
    OK(vs__chunk_decode(codec, e, blob, len, out, n, err, sizeof err));
    assert_memory_equal(out, raw, n);
    free(out);
    free(blob);
    free(blob2);
}

static void test_codec__float_weights_shuffle_and_shrink(void **state)
{
    (void)state;
    size_t m = 65536;
    float *w = malloc(m * sizeof *w);
    assert_non_null(w);
    fill_weights(w, m);
    vs__codec_opts o = {0, 0};
    int codec;
    unsigned char *blob;
    size_t len;
    char err[256];
    OK(encode_chunk(w, m * 4, 4, &o, &codec, &blob, &len, err, sizeof err));
    assert_int_equal(codec, VS_CHUNK_SHUFFLE_ZLIB);
    assert_true(len < m * 4 * 90 / 100);
    /* Only the exponent plane (3) should be deflated. */
    assert_int_equal(blob[0], VS_PLANE_STORED);
    assert_int_equal(blob[15], VS_PLANE_ZLIB);
    free(blob);
    roundtrip(w, m * 4, 4, &o, VS_CHUNK_SHUFFLE_ZLIB);
    vs__codec_opts l6 = {6, 0};
    roundtrip(w, m * 4, 4, &l6, VS_CHUNK_SHUFFLE_ZLIB);
    vs__codec_opts raw = {0, 1};
    roundtrip(w, m * 4, 4, &raw, VS_CHUNK_RAW);
    free(w);
}

static void test_codec__random_bytes_stored_raw(void **state)
{
    (void)state;
    size_t n = 40000;
    unsigned char *b = malloc(n);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)rnd();
    vs__codec_opts o = {0, 0};
    for (size_t e = 1; e <= 8; e *= 2)
        roundtrip(b, n, e, &o, VS_CHUNK_RAW);
    free(b);
}

/* fill_weights' three low bytes (23 random mantissa bits and the
 * exponent's lowest) are close to uniform: a sample of each such plane
 * tells it is to be stored, from planes of 24 KiB (a 96 KiB chunk) up,
 * without a full histogram; only the top plane (sign and exponent) is
 * counted whole, and compressed. */
static void test_codec__uniform_planes_stored_from_a_sample(void **state)
{
    (void)state;
    for (size_t n = (size_t)24 << 10; n <= (size_t)1 << 20; n *= 2) {
        float *w = malloc(n * sizeof *w);
        assert_non_null(w);
        fill_weights(w, n);
        vs__codec_opts o = {0, 0};
        size_t before = vs__codec_full_hists();
        roundtrip(w, n * sizeof *w, 4, &o, VS_CHUNK_SHUFFLE_ZLIB);
        /* roundtrip encodes twice: one plane counted whole each time */
        assert_int_equal(vs__codec_full_hists() - before, 2);
        free(w);
    }
}

/* Bytes drawn evenly from k values carry log2(k) bits each. A plane of
 * 232 values (7.86 bits) cannot pass the 3% gate (7.76 bits) and is
 * stored on its sample's word, without a full histogram; one of 200
 * values (7.64 bits) is counted whole and compressed. */
static void test_codec__near_uniform_plane_stored_from_its_sample(
    void **state)
{
    (void)state;
    size_t n = (size_t)256 << 10;
    unsigned char *b = malloc(n);
    assert_non_null(b);
    vs__codec_opts o = {0, 0};
    const struct { unsigned k; int codec; size_t hists; } c[] = {
        {232, VS_CHUNK_RAW, 0}, {200, VS_CHUNK_SHUFFLE_ZLIB, 2}};
    for (size_t t = 0; t < 2; t++) {
        for (size_t i = 0; i < n; i++)
            b[i] = (unsigned char)(rnd() % c[t].k);
        size_t before = vs__codec_full_hists();
        roundtrip(b, n, 1, &o, c[t].codec); /* encodes twice */
        assert_int_equal(vs__codec_full_hists() - before, c[t].hists);
    }
    free(b);
}

/* A small vector's planes, which the literal encoder cannot fit (its
 * code table alone outweighs them), are stored without a call to zlib:
 * zlib could not fit them either, and each call resets its window. */
static void test_codec__small_planes_never_retried_with_zlib(void **state)
{
    (void)state;
    float v[64];
    fill_weights(v, 64);
    vs__codec_opts o = {0, 0};
    size_t before = vs__codec_zlib_retries();
    roundtrip(v, sizeof v, 4, &o, VS_CHUNK_RAW);
    assert_int_equal(vs__codec_zlib_retries(), before);
}

static void test_codec__every_element_size_round_trips(void **state)
{
    (void)state;
    size_t n = 8 * 3000;
    unsigned char *b = malloc(n);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(i % 8 == 0 ? rnd() : i % 8 == 7 ? 0 : i % 5);
    vs__codec_opts o = {0, 0};
    for (size_t e = 1; e <= 8; e *= 2)
        roundtrip(b, n, e, &o, -1);
    /* Tiny and empty chunks are stored raw. */
    roundtrip(b, 8, 4, &o, VS_CHUNK_RAW);
    roundtrip(b, 0, 4, &o, VS_CHUNK_RAW);
    /* All zeros compresses. */
    memset(b, 0, n);
    roundtrip(b, n, 4, &o, VS_CHUNK_SHUFFLE_ZLIB);
    free(b);
}

static void test_codec__damaged_chunks_are_corrupt(void **state)
{
    (void)state;
    size_t m = 20000;
    float *w = malloc(m * 4);
    float *out = malloc(m * 4);
    assert_non_null(w);
    assert_non_null(out);
    fill_weights(w, m);
    vs__codec_opts o = {0, 0};
    int codec;
    unsigned char *blob;
    size_t len;
    char err[256];
    OK(encode_chunk(w, m * 4, 4, &o, &codec, &blob, &len, err, sizeof err));
    assert_int_equal(codec, VS_CHUNK_SHUFFLE_ZLIB);
    /* Truncated. */
    assert_int_equal(vs__chunk_decode(codec, 4, blob, len - 1, out, m * 4, err,
                                      sizeof err),
                     VS_ECORRUPT);
    char want[128];
    snprintf(want, sizeof want, "planes hold %zu bytes, chunk has %zu", len,
             len - 1);
    assert_string_equal(err, want);
    /* Header shorter than the plane table. */
    assert_int_equal(vs__chunk_decode(codec, 4, blob, 7, out, m * 4, err,
                                      sizeof err),
                     VS_ECORRUPT);
    assert_string_equal(err, "chunk header truncated (7 bytes)");
    /* Wrong expected size. */
    assert_int_equal(vs__chunk_decode(VS_CHUNK_RAW, 4, blob, len, out, len + 4,
                                      err, sizeof err),
                     VS_ECORRUPT);
    /* A flipped byte inside the deflated plane: inflate error or a wrong
     * length, never success with the same bytes. */
    size_t zpos = 20 + 3 * m + 10;
    blob[zpos] ^= 0x55;
    int rc = vs__chunk_decode(codec, 4, blob, len, out, m * 4, err,
                              sizeof err);
    if (rc == VS_OK)
        assert_true(memcmp(out, w, m * 4) != 0);
    else
        assert_int_equal(rc, VS_ECORRUPT);
    blob[zpos] ^= 0x55;
    /* Unknown codec. */
    assert_int_equal(vs__chunk_decode(7, 4, blob, len, out, m * 4, err,
                                      sizeof err),
                     VS_ECORRUPT);
    assert_string_equal(err, "unknown chunk codec 7");
    free(blob);
    free(w);
    free(out);
}

static void test_codec__stats_merge_matches_whole(void **state)
{
    (void)state;
    float v[] = {1, 2, 3, 4, NAN, INFINITY, -INFINITY};
    vs__stats s;
    vs__stats_init(&s);
    vs__stats_chunk(VS_FLOAT32, v, sizeof v, &s);
    assert_int_equal(s.n, 4);
    assert_int_equal(s.n_nan, 1);
    assert_int_equal(s.n_inf, 2);
    assert_true(s.min == 1.0 && s.max == 4.0);
    assert_true(fabs(s.mean - 2.5) < 1e-12);
    assert_true(fabs(sqrt(s.m2 / (double)s.n) - sqrt(1.25)) < 1e-12);
    vs__stats a;
    vs__stats_init(&a);
    vs__stats_chunk(VS_FLOAT32, v, 2 * sizeof(float), &a);
    vs__stats_chunk(VS_FLOAT32, v + 2, 5 * sizeof(float), &a);
    assert_int_equal(a.n, 4);
    assert_true(fabs(a.mean - 2.5) < 1e-12);
    assert_true(fabs(a.m2 - s.m2) < 1e-12);
    assert_int_equal(a.n_inf, 2);
    /* float16: 1.0, -2.0, NaN */
    uint16_t h[] = {0x3C00, 0xC000, 0x7E00};
    vs__stats_init(&s);
    vs__stats_chunk(VS_FLOAT16, h, sizeof h, &s);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.n_nan, 1);
    assert_true(s.min == -2.0 && s.max == 1.0);
    /* Integers get no stats. */
    int32_t iv[] = {1, 2};
    vs__stats_init(&s);
    vs__stats_chunk(VS_INT32, iv, sizeof iv, &s);
    assert_int_equal(s.n, 0);
}

/* n pseudo-random floats in [-shift, 1 - shift) * scale (an LCG from
 * seed): the same values on every run. */
static void fill_lcg(float *v, size_t n, uint32_t seed, float shift,
                     float scale)
{
    uint32_t x = seed;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        v[i] = ((float)(x >> 8) / 16777216.0f - shift) * scale;
    }
}

/* The finite float32 fast path agrees with a plain double computation,
 * for lengths that are and are not multiples of 4, and a non-finite value
 * anywhere (even in the tail) falls back to the counting loop. */
static void test_codec__stats_f32_fast_path(void **state)
{
    (void)state;
    static float v[1003];
    fill_lcg(v, 1003, 12345, 0.3f, 7.0f);
    for (size_t m = 0; m <= 1003; m += 167) {
        double sum = 0, mn = INFINITY, mx = -INFINITY, q = 0;
        for (size_t i = 0; i < m; i++) {
            sum += v[i];
            mn = v[i] < mn ? v[i] : mn;
            mx = v[i] > mx ? v[i] : mx;
        }
        double mean = m ? sum / (double)m : 0;
        for (size_t i = 0; i < m; i++)
            q += (v[i] - mean) * (v[i] - mean);
        vs__stats s;
        vs__stats_init(&s);
        vs__stats_chunk(VS_FLOAT32, v, m * sizeof(float), &s);
        assert_int_equal(s.n, (int64_t)m);
        if (m == 0)
            continue;
        assert_true(s.min == mn && s.max == mx);
        assert_true(fabs(s.mean - mean) < 1e-9);
        assert_true(fabs(s.m2 - q) < 1e-7 * q);
        assert_int_equal(s.n_nan + s.n_inf, 0);
    }
    v[1002] = NAN; /* in the tail of 1003 */
    v[500] = -INFINITY;
    vs__stats s;
    vs__stats_init(&s);
    vs__stats_chunk(VS_FLOAT32, v, sizeof v, &s);
    assert_int_equal(s.n, 1001);
    assert_int_equal(s.n_nan, 1);
    assert_int_equal(s.n_inf, 1);
    assert_true(isfinite(s.min) && isfinite(s.max) && isfinite(s.mean));
}

/* Stats of s's first m floats, through the scalar loop or not. */
static vs__stats stats_of(const float *v, size_t m, int scalar)
{
    vs__stats s;
    vs__stats_init(&s);
    vs__stats_f32_scalar_only(scalar);
    vs__stats_chunk(VS_FLOAT32, v, m * sizeof(float), &s);
    vs__stats_f32_scalar_only(0);
    return s;
}

static int same_bits(double a, double b) { return memcmp(&a, &b, 8) == 0; }

/* The float32 loop the CPU allows (AVX2 where it has it) and the scalar
 * one give the same bits for every length around the 16-element blocks,
 * signed zeros included, and both see a NaN or Inf in any lane or in the
 * tail: a file's statistics do not depend on the machine that saved it. */
static void test_codec__stats_f32_loops_agree_to_the_bit(void **state)
{
    (void)state;
    static float v[300];
    fill_lcg(v, 300, 99, 0.5f, 1e3f);
    v[17] = -0.0f;
    v[18] = 0.0f;
    for (size_t m = 0; m <= 300; m += (m < 40 ? 1 : 37)) {
        vs__stats a = stats_of(v, m, 0), b = stats_of(v, m, 1);
        assert_int_equal(a.n, b.n);
        assert_true(same_bits(a.mean, b.mean) && same_bits(a.m2, b.m2));
        assert_true(same_bits(a.min, b.min) && same_bits(a.max, b.max));
    }
    for (size_t at = 0; at < 40; at++) {
        float keep = v[at];
        v[at] = at % 2 ? NAN : -INFINITY;
        vs__stats a = stats_of(v, 40, 0), b = stats_of(v, 40, 1);
        assert_int_equal(a.n, 39);
        assert_int_equal(b.n, 39);
        assert_int_equal(a.n_nan + a.n_inf, 1);
        assert_int_equal(b.n_nan, a.n_nan);
        assert_true(same_bits(a.mean, b.mean) && same_bits(a.m2, b.m2));
        v[at] = keep;
    }
}

/* Values far from zero with a small spread (where a one-pass sum of
 * squares would lose M2 to cancellation: a test that fails with it) get
 * M2 to 1e-9 of a long double two-pass reference; so do values centred
 * on zero. */
static void test_codec__stats_f32_offset_values_keep_precision(void **state)
{
    (void)state;
    static float v[4099];
    for (int centred = 0; centred < 2; centred++) {
        uint32_t x = 777;
        for (size_t i = 0; i < 4099; i++) {
            x = x * 1664525u + 1013904223u;
            float small = (float)(x >> 20) * 0x1p-12f; /* 0 .. 1, exact */
            v[i] = centred ? small - 0.5f : 4096.0f + small;
        }
        long double sum = 0, q = 0;
        for (size_t i = 0; i < 4099; i++)
            sum += v[i];
        long double mean = sum / 4099;
        for (size_t i = 0; i < 4099; i++)
            q += (v[i] - mean) * (v[i] - mean);
        vs__stats s;
        vs__stats_init(&s);
        vs__stats_chunk(VS_FLOAT32, v, sizeof v, &s);
        assert_int_equal(s.n, 4099);
        long double dmean = fabsl((long double)s.mean - mean);
        assert_true(dmean <= 1e-12L * fabsl(mean) + 1e-15L);
        assert_true(fabsl((long double)s.m2 - q) <= 1e-9L * q);
    }
}

/* n values y (an LCG from seed: exact, in [-0.25, 0.75), several
 * VS_STATS_BLOCKs) and y * 2^e, the latter in two chunks split at
 * `split`: the statistics of the second are those of the first times 2^e
 * (to 1e-12); returns the scale the plain values got. */
static int check_scaled_stats(uint32_t seed, int e, size_t split)
{
    enum { N = 5000 };
    static double y[N], x[N];
    for (size_t i = 0; i < N; i++) {
        seed = seed * 1664525u + 1013904223u;
        y[i] = (double)(seed >> 8) * 0x1p-24 - 0.25;
        x[i] = ldexp(y[i], e);
    }
    vs__stats sy, sx;
    vs__stats_init(&sy);
    vs__stats_init(&sx);
    vs__stats_chunk(VS_FLOAT64, y, sizeof y, &sy);
    vs__stats_chunk(VS_FLOAT64, x, split * sizeof(double), &sx);
    vs__stats_chunk(VS_FLOAT64, x + split, (N - split) * sizeof(double), &sx);
    assert_int_equal(sx.n, N);
    double want_mean = ldexp(vs__stats_mean(&sy), e);
    double want_std = ldexp(vs__stats_std(&sy), e);
    assert_true(want_std > 0 && isfinite(want_std));
    assert_true(isfinite(vs__stats_mean(&sx)) && isfinite(vs__stats_std(&sx)));
    assert_true(fabs(vs__stats_mean(&sx) - want_mean) <= 1e-12 * want_std);
    assert_true(fabs(vs__stats_std(&sx) - want_std) <= 1e-12 * want_std);
    assert_true(sx.min == ldexp(sy.min, e) && sx.max == ldexp(sy.max, e));
    return sy.scale;
}

/* float64 values whose sums or squares overflow a double (beyond about
 * 1e154) still get their mean and std: the statistics of y * 2^900 are
 * those of y times 2^900 (to 1e-12), across blocks and chunks, and two
 * chunks of opposite values near DBL_MAX merge to mean 0, std DBL_MAX. */
static void test_codec__stats_f64_near_dbl_max_stay_finite(void **state)
{
    (void)state;
    /* Ordinary values keep scale 0 (the bits of before). */
    assert_int_equal(check_scaled_stats(99, 900, 1000), 0);
    /* Each chunk alone is finite at scale 0; their merge is not. */
    double lo[4] = {-DBL_MAX, -DBL_MAX, -DBL_MAX, -DBL_MAX};
    double hi[4] = {DBL_MAX, DBL_MAX, DBL_MAX, DBL_MAX};
    vs__stats s;
    vs__stats_init(&s);
    vs__stats_chunk(VS_FLOAT64, lo, sizeof lo, &s);
    vs__stats_chunk(VS_FLOAT64, hi, sizeof hi, &s);
    assert_int_equal(s.n, 8);
    assert_true(vs__stats_mean(&s) == 0.0);
    assert_true(fabs(vs__stats_std(&s) - DBL_MAX) <= 1e-15 * DBL_MAX);
}

/* Scaled statistics round back within the values' range: half the
 * values +DBL_MAX and half -DBL_MAX have std DBL_MAX (at scale 1024 the
 * root of M2/n rounds to 1.0, which ldexp made +Inf), and six copies of
 * the double below DBL_MAX have that mean (not the one above it). */
static void test_codec__stats_f64_scaled_stay_in_range(void **state)
{
    (void)state;
    double a[10];
    for (int chunk = 5; chunk <= 10; chunk += 5) {
        for (int i = 0; i < 10; i++)
            a[i] = (chunk == 5 ? i % 2 : i < 5) ? DBL_MAX : -DBL_MAX;
        vs__stats s;
        vs__stats_init(&s);
        vs__stats_chunk(VS_FLOAT64, a, chunk * sizeof(double), &s);
        vs__stats_chunk(VS_FLOAT64, a + chunk, (10 - chunk) * sizeof(double),
                        &s);
        assert_int_equal(s.n, 10);
        double sd = vs__stats_std(&s), mu = vs__stats_mean(&s);
        assert_true(isfinite(sd) && isfinite(mu));
        assert_true(fabs(sd - DBL_MAX) <= 1e-15 * DBL_MAX);
        assert_true(fabs(mu) <= 1e-15 * DBL_MAX);
    }
    double y[6], below = nextafter(DBL_MAX, 0.0);
    for (int i = 0; i < 6; i++)
        y[i] = below;
    vs__stats s;
    vs__stats_init(&s);
    vs__stats_chunk(VS_FLOAT64, y, sizeof y, &s);
    assert_true(s.scale > 0);
    assert_true(vs__stats_mean(&s) == below);
    assert_true(vs__stats_std(&s) <= 1e-15 * DBL_MAX);
}

/* float64 values too small for their squares (below 2^-500) keep their
 * spread: the statistics of y * 2^-900 are those of y times 2^-900 (to
 * 1e-12) across blocks and chunks, where the squares of the values
 * themselves underflow to a std of 0. */
static void test_codec__stats_f64_tiny_values_keep_their_spread(void **state)
{
    (void)state;
    assert_int_equal(check_scaled_stats(7, -900, 3000), 0);
    /* All zeros are not scaled: mean and std 0. */
    static double z[64];
    vs__stats sz;
    vs__stats_init(&sz);
    vs__stats_chunk(VS_FLOAT64, z, sizeof z, &sz);
    assert_int_equal(sz.scale, 0);
    assert_true(vs__stats_mean(&sz) == 0.0 && vs__stats_std(&sz) == 0.0);
}

static void test_codec__half_and_bfloat16(void **state)
{
    (void)state;
    assert_true(vs_half_to_float(0x3C00) == 1.0f);
    assert_true(vs_half_to_float(0xC000) == -2.0f);
    assert_true(vs_half_to_float(0x0001) == ldexpf(1.0f, -24));
    assert_true(vs_half_to_float(0x03FF) == ldexpf(1023.0f, -24));
    assert_true(vs_half_to_float(0x7BFF) == 65504.0f);
    assert_true(isinf(vs_half_to_float(0x7C00)));
    assert_true(isnan(vs_half_to_float(0x7C01)));
    assert_true(vs_bfloat16_to_float(0x3F80) == 1.0f);
    assert_true(vs_bfloat16_to_float(0xC040) == -3.0f);
}

/* Pool: job k writes f(k); consume checks order. */
typedef struct {
    uint64_t *out;
    size_t consumed;
    size_t fail_at;
    int order_ok;
} pool_t;

static int p_work(void *ctx, size_t k, char *err, size_t cap)
{
    pool_t *p = ctx;
    if (k == p->fail_at) {
        snprintf(err, cap, "job %zu failed", k);
        return VS_ECORRUPT;
    }
    p->out[k] = vs__hash64(&k, sizeof k);
    return VS_OK;
}

static int p_consume(void *ctx, size_t k, char *err, size_t cap)
{
    (void)err;
    (void)cap;
    pool_t *p = ctx;
    if (k != p->consumed || p->out[k] != vs__hash64(&k, sizeof k))
        p->order_ok = 0;
    p->consumed++;
    return VS_OK;
}

static void test_codec__pool_runs_in_order_with_any_thread_count(void **state)
{
    (void)state;
    size_t n = 1000;
    uint64_t *out = calloc(n, sizeof *out);
    assert_non_null(out);
    int counts[] = {1, 2, 3, 8};
    for (size_t t = 0; t < 4; t++) {
        pool_t p = {out, 0, (size_t)-1, 1};
        memset(out, 0, n * sizeof *out);
        OK(vs__pool_run(counts[t], n, 5, &p, NULL, p_work, p_consume));
        assert_int_equal(p.consumed, n);
        assert_true(p.order_ok);
        pool_t q = {out, 0, 500, 1};
        assert_int_equal(vs__pool_run(counts[t], n, 5, &q, NULL, p_work,
                                      p_consume),
                         VS_ECORRUPT);
        assert_string_equal(vs_errmsg(), "job 500 failed");
        assert_true(q.consumed <= 500);
    }
    free(out);
}

static void test_codec__shape_json(void **state)
{
    (void)state;
    int nd = -1;
    int64_t sh[VS_MAX_DIMS];
    assert_int_equal(vs__parse_shape_json("[2,3]", &nd, sh), 0);
    assert_int_equal(nd, 2);
    assert_int_equal(sh[0], 2);
    assert_int_equal(sh[1], 3);
    assert_int_equal(vs__parse_shape_json(" [ 4 , 0 ] ", &nd, sh), 0);
    assert_int_equal(nd, 2);
    assert_int_equal(sh[1], 0);
    assert_int_equal(vs__parse_shape_json("[]", &nd, sh), 0);
    assert_int_equal(nd, 0);
    const char *bad[] = {"", "[", "[1,]", "[-1]", "[1 2]", "[1]x", "2",
                         "[1,1,1,1,1,1,1,1,1]", "[99999999999999999999]",
                         "[1.5]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(vs__parse_shape_json(bad[i], &nd, sh), -1);
    assert_int_equal(vs__parse_shape_json(NULL, &nd, sh), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec__crc32_check_value),
        cmocka_unit_test(test_codec__crc32_fast_path_matches_zlib),
        cmocka_unit_test(test_codec__adler32_matches_zlib),
        cmocka_unit_test(test_codec__fast_inflate_matches_zlib),
        cmocka_unit_test(test_codec__fast_inflate_hostile_streams),
        cmocka_unit_test(test_codec__fast_inflate_stops_at_truncation),
        cmocka_unit_test(test_codec__stats_f32_fast_path),
        cmocka_unit_test(test_codec__hash_depends_on_every_byte),
        cmocka_unit_test(test_codec__float_weights_shuffle_and_shrink),
        cmocka_unit_test(test_codec__random_bytes_stored_raw),
        cmocka_unit_test(test_codec__small_planes_never_retried_with_zlib),
        cmocka_unit_test(test_codec__uniform_planes_stored_from_a_sample),
        cmocka_unit_test(test_codec__near_uniform_plane_stored_from_its_sample),
        cmocka_unit_test(test_codec__every_element_size_round_trips),
        cmocka_unit_test(test_codec__damaged_chunks_are_corrupt),
        cmocka_unit_test(test_codec__stats_merge_matches_whole),
        cmocka_unit_test(test_codec__stats_f32_offset_values_keep_precision),
        cmocka_unit_test(test_codec__stats_f64_near_dbl_max_stay_finite),
        cmocka_unit_test(test_codec__stats_f64_scaled_stay_in_range),
        cmocka_unit_test(test_codec__stats_f64_tiny_values_keep_their_spread),
        cmocka_unit_test(test_codec__half_and_bfloat16),
        cmocka_unit_test(test_codec__pool_runs_in_order_with_any_thread_count),
        cmocka_unit_test(test_codec__shape_json),
        cmocka_unit_test(test_codec__stats_f32_loops_agree_to_the_bit),
    };
    return cmocka_run_group_tests_name("codec", tests, NULL, NULL);
}
