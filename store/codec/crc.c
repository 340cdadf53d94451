/* varstore: CRC-32 (ISO-HDLC: zlib's crc32, reflected polynomial
 * 0xEDB88320) of chunk bytes, which every read checks. On x86-64 with
 * PCLMULQDQ the bulk is folded with carry-less multiplies instead (the
 * method of Gopal et al., "Fast CRC Computation for Generic Polynomials
 * Using PCLMULQDQ Instruction", Intel 2009): four 128-bit lanes are folded
 * 64 bytes at a time, then into one lane; the last 16-byte block and the
 * tail go through zlib. The result is bit-identical to zlib's. */
#include <limits.h>
#include <pthread.h>
#include <zlib.h>

#include "store_int.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define VS_CRC_CLMUL 1
#include <immintrin.h>
#else
#define VS_CRC_CLMUL 0
#endif

uint32_t vs__crc32_zlib(uint32_t crc, const void *p, size_t n)
{
    const unsigned char *b = p;
    uLong c = crc;
    while (n > 0) {
        uInt step = n > (size_t)UINT_MAX ? UINT_MAX : (uInt)n;
        c = crc32(c, b, step);
        b += step;
        n -= step;
    }
    return (uint32_t)c;
}

#if VS_CRC_CLMUL

/* Folding constants for the reflected polynomial: x^(k) mod P for the
 * fold distances, bit-reflected and shifted left by one (Gopal et al.,
 * table for CRC32 / gzip). Low qword multiplies the lane's low qword. */
#define K_FOLD4_LO 0x154442bd4ULL /* 512-bit distance */
#define K_FOLD4_HI 0x1c6e41596ULL
#define K_FOLD1_LO 0x1751997d0ULL /* 128-bit distance */
#define K_FOLD1_HI 0x0ccaa009eULL

__attribute__((target("pclmul,sse2"))) static inline __m128i
fold(__m128i x, __m128i k, __m128i data)
{
    __m128i lo = _mm_clmulepi64_si128(x, k, 0x00);
    __m128i hi = _mm_clmulepi64_si128(x, k, 0x11);
    return _mm_xor_si128(_mm_xor_si128(lo, hi), data);
}

/* n >= 64. */
__attribute__((target("pclmul,sse2"))) static uint32_t
crc32_clmul(uint32_t crc, const unsigned char *p, size_t n)
{
    const __m128i k4 = _mm_set_epi64x((long long)K_FOLD4_HI,
                                      (long long)K_FOLD4_LO);
    const __m128i k1 = _mm_set_epi64x((long long)K_FOLD1_HI,
                                      (long long)K_FOLD1_LO);
    __m128i x0 = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i x1 = _mm_loadu_si128((const __m128i *)(const void *)(p + 16));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(const void *)(p + 32));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(const void *)(p + 48));
    /* zlib's pre-inversion, xored into the first four bytes. */
    x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128((int)~crc));
    p += 64;
    n -= 64;
    while (n >= 64) {
        x0 = fold(x0, k4, _mm_loadu_si128((const __m128i *)(const void *)p));
        x1 = fold(x1, k4,
                  _mm_loadu_si128((const __m128i *)(const void *)(p + 16)));
        x2 = fold(x2, k4,
                  _mm_loadu_si128((const __m128i *)(const void *)(p + 32)));
        x3 = fold(x3, k4,
                  _mm_loadu_si128((const __m128i *)(const void *)(p + 48)));
        p += 64;
        n -= 64;
    }
    __m128i x = fold(x0, k1, x1);
    x = fold(x, k1, x2);
    x = fold(x, k1, x3);
    while (n >= 16) {
        x = fold(x, k1, _mm_loadu_si128((const __m128i *)(const void *)p));
        p += 16;
        n -= 16;
    }
    /* x is a 16-byte message with the same remainder as everything so far
     * (pre-inversion included): zlib finishes it from a zero register,
     * then the tail. */
    unsigned char last[16];
    _mm_storeu_si128((__m128i *)(void *)last, x);
    uint32_t c = vs__crc32_zlib(0xffffffffu, last, sizeof last);
    return vs__crc32_zlib(c, p, n);
}

/* Whether the CPU has PCLMULQDQ: found once, by pthread_once, so every
 * thread sees the answer fully set. */
static pthread_once_t clmul_once = PTHREAD_ONCE_INIT;
static int clmul_ok;

static void clmul_probe(void)
{
    __builtin_cpu_init();
    clmul_ok = __builtin_cpu_supports("pclmul") &&
               __builtin_cpu_supports("sse2");
}

int vs__crc32_has_clmul(void)
{
    /* pthread_once fails only for an invalid control: never here. */
    (void)pthread_once(&clmul_once, clmul_probe);
    return clmul_ok;
}

uint32_t vs__crc32(uint32_t crc, const void *p, size_t n)
{
    if (n < 64 || !vs__crc32_has_clmul())
        return vs__crc32_zlib(crc, p, n);
    return crc32_clmul(crc, p, n);
}

#else

int vs__crc32_has_clmul(void)
{
    return 0;
}

uint32_t vs__crc32(uint32_t crc, const void *p, size_t n)
{
    return vs__crc32_zlib(crc, p, n);
}

#endif

uint32_t vs__crc32_combine(uint32_t crc1, uint32_t crc2, size_t len2)
{
    return (uint32_t)crc32_combine((uLong)crc1, (uLong)crc2, (z_off_t)len2);
}
