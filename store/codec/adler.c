/* varstore: Adler-32 (RFC 1950 8.2), the trailer of every zlib stream the
 * codec writes and the check a strict decode makes. zlib's adler32_z
 * adds a byte at a time; on a CPU with AVX2 this adds 32 at once (the
 * same value: both are the exact sums modulo 65521). */
#include <zlib.h>

#include "store_int.h"

#define ADLER_MOD 65521u

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>

/* Bytes summed between two reductions: 173 blocks of 32. No 32-bit lane
 * can overflow over that many (the largest, the running sum of earlier
 * blocks' byte sums, stays under 2^25), and the reduction adds in 64
 * bits. */
#define RUN_BLOCKS 173

static uint64_t hsum_epi32(__m256i v) __attribute__((target("avx2")));
static uint64_t hsum_epi32(__m256i v)
{
    uint32_t l[8];
    _mm256_storeu_si256((__m256i *)(void *)l, v);
    uint64_t s = 0;
    for (int i = 0; i < 8; i++)
        s += l[i];
    return s;
}

/* One run of k blocks of 32 bytes: a gains the bytes; b gains 32 * k
 * times a, plus each block's bytes weighted 32 down to 1, plus 32 times
 * the bytes of the blocks before each block. */
__attribute__((target("avx2"))) static void
run_avx2(const unsigned char *p, size_t k, uint32_t *a, uint32_t *b)
{
    const __m256i w = _mm256_setr_epi8(32, 31, 30, 29, 28, 27, 26, 25, 24,
                                       23, 22, 21, 20, 19, 18, 17, 16, 15,
                                       14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4,
                                       3, 2, 1);
    const __m256i ones = _mm256_set1_epi16(1), zero = _mm256_setzero_si256();
    __m256i s1 = zero, before = zero, s2 = zero;
    for (size_t i = 0; i < k; i++) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32 * i));
        before = _mm256_add_epi32(before, s1);
        s1 = _mm256_add_epi32(s1, _mm256_sad_epu8(x, zero));
        s2 = _mm256_add_epi32(
            s2, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), ones));
    }
    uint64_t sa = *a, sb = *b;
    sb += 32 * (uint64_t)k * sa + 32 * hsum_epi32(before) + hsum_epi32(s2);
    sa += hsum_epi32(s1);
    *a = (uint32_t)(sa % ADLER_MOD);
    *b = (uint32_t)(sb % ADLER_MOD);
}

static uint32_t adler_avx2(uint32_t adler, const unsigned char *p, size_t n)
{
    uint32_t a = adler & 0xffff, b = adler >> 16;
    while (n >= 32) {
        size_t k = n / 32 < RUN_BLOCKS ? n / 32 : RUN_BLOCKS;
        run_avx2(p, k, &a, &b);
        p += 32 * k;
        n -= 32 * k;
    }
    for (; n > 0; n--) { /* fewer than 32: a and b stay far from 2^32 */
        a += *p++;
        b += a;
    }
    return (b % ADLER_MOD) << 16 | (a % ADLER_MOD);
}
#endif

uint32_t vs__adler32(uint32_t adler, const void *p, size_t n)
{
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    if (vs__cpu_avx2())
        return adler_avx2(adler, p, n);
#endif
    return (uint32_t)adler32_z(adler, p, n);
}
