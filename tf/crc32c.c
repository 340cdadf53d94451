/* varstore tf/: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of TensorFlow's bundle blocks and tensors. No Debian C library
 * for it is worth a dependency, so: slice-by-8 tables (portable), and on
 * x86-64 the SSE4.2 `crc32` instruction when the CPU has it (runtime
 * check). Both give the same values (tests/test_tf_bundle.c checks). */
#include <pthread.h>
#include <string.h>

#include "tf_int.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define VS_CRC32C_HW 1
#include <nmmintrin.h>
#else
#define VS_CRC32C_HW 0
#endif

#define POLY 0x82F63B78u
#define MASK_DELTA 0xa282ead8u

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int s = 1; s < 8; s++)
            table[s][i] = (table[s - 1][i] >> 8) ^
                          table[0][table[s - 1][i] & 0xff];
}

uint32_t vs__crc32c_sw(uint32_t crc, const void *p, size_t n)
{
    const uint8_t *b = p;
    uint32_t c = ~crc;
    (void)pthread_once(&table_once, table_init);
    while (n >= 8) {
        uint32_t lo = c ^ ((uint32_t)b[0] | (uint32_t)b[1] << 8 |
                           (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
        c = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^
            table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^
            table[3][b[4]] ^ table[2][b[5]] ^ table[1][b[6]] ^
            table[0][b[7]];
        b += 8;
        n -= 8;
    }
    while (n-- > 0)
        c = (c >> 8) ^ table[0][(c ^ *b++) & 0xff];
    return ~c;
}

#if VS_CRC32C_HW
__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw(uint32_t crc, const uint8_t *b, size_t n)
{
    uint64_t c = (uint32_t)~crc;
    uint32_t c32;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        c = _mm_crc32_u64(c, w);
        b += 8;
        n -= 8;
    }
    c32 = (uint32_t)c;
    while (n-- > 0)
        c32 = _mm_crc32_u8(c32, *b++);
    return ~c32;
}
#endif

uint32_t vs__crc32c(uint32_t crc, const void *p, size_t n)
{
#if VS_CRC32C_HW
    static int have = -1; /* benign race: every thread computes the same */
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("sse4.2") ? 1 : 0;
    }
    if (have)
        return crc32c_hw(crc, p, n);
#endif
    return vs__crc32c_sw(crc, p, n);
}

uint32_t vs__crc32c_mask(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + MASK_DELTA;
}

uint32_t vs__crc32c_unmask(uint32_t masked)
{
    uint32_t rot = masked - MASK_DELTA;
    return (rot >> 17) | (rot << 15);
}
