/* varstore: the 64-bit content hash that finds dedup candidates
 * (specified in docs/FORMAT.md), whole or a block at a time. */
#include "store_int.h"

static uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

#define H_P1 0x9E3779B185EBCA87ULL
#define H_P2 0xC2B2AE3D27D4EB4FULL

/* One lane's step. */
static uint64_t lane(uint64_t h, const unsigned char *p)
{
    h ^= vs__load_le64(p) * H_P2;
    return rotl64(h, 31) * H_P1;
}

void vs__hash64_init(vs__hash_state *s)
{
    s->h[0] = H_P1;
    s->h[1] = H_P2;
    s->h[2] = ~H_P1;
    s->h[3] = ~H_P2;
    s->n = 0;
}

size_t vs__hash64_blocks(vs__hash_state *s, const void *p, size_t n)
{
    /* Four independent lanes over 32-byte blocks. */
    const unsigned char *b = p;
    uint64_t h0 = s->h[0], h1 = s->h[1], h2 = s->h[2], h3 = s->h[3];
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        h0 = lane(h0, b + i);
        h1 = lane(h1, b + i + 8);
        h2 = lane(h2, b + i + 16);
        h3 = lane(h3, b + i + 24);
    }
    s->h[0] = h0;
    s->h[1] = h1;
    s->h[2] = h2;
    s->h[3] = h3;
    s->n += i;
    return i;
}

uint64_t vs__hash64_final(const vs__hash_state *s, const void *tail,
                          size_t n)
{
    /* The lanes, then the tail (under 32 bytes), then the murmur3
     * finalizer. */
    const unsigned char *b = tail;
    uint64_t x = (uint64_t)(s->n + n) * H_P1;
    for (int l = 0; l < 4; l++)
        x = rotl64(x ^ s->h[l], 27) * H_P1 + H_P2;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        x = rotl64(x ^ (vs__load_le64(b + i) * H_P2), 31) * H_P1;
    for (; i < n; i++)
        x = rotl64(x ^ ((uint64_t)b[i] * H_P1), 11) * H_P2;
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDULL;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ULL;
    x ^= x >> 33;
    return x;
}

uint64_t vs__hash64(const void *p, size_t n)
{
    vs__hash_state s;
    vs__hash64_init(&s);
    size_t done = vs__hash64_blocks(&s, p, n);
    return vs__hash64_final(&s, (const unsigned char *)p + done, n - done);
}
