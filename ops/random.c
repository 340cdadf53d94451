/* varstore: Philox4x32-10 counter-based random numbers and the
 * distributions TF's random kernels build on it (uniform, normal through
 * Box-Muller, truncated normal by redrawing, uniform integers), written
 * from the published algorithm (Salmon et al., SC 2011) and TF's
 * documented conversions. Elements come out in TF's kernel order. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ops_int.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

/* 2*pi as the double TF's M_PI gives (M_PI is not C11). */
#define VS_TWO_PI 6.28318530717958647692

/* TF reserves this many 32-bit samples per truncated-normal output, so
 * each group of outputs starts at a fixed counter. */
#define TRUNC_RESERVED 256u

void vs__philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                       uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    int r;

    for (r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0;
        c1 = n1;
        c2 = n2;
        c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

void vs__philox_init(vs__philox *p, uint64_t seed, uint64_t seed2)
{
    p->key[0] = (uint32_t)seed;
    p->key[1] = (uint32_t)(seed >> 32);
    p->ctr[0] = 0;
    p->ctr[1] = 0;
    p->ctr[2] = (uint32_t)seed2;
    p->ctr[3] = (uint32_t)(seed2 >> 32);
}

void vs__philox_skip(vs__philox *p, uint64_t n)
{
    /* 128-bit add of n, with TF's carry rule (words 0-1, then 2-3). */
    uint32_t lo = (uint32_t)n;
    uint32_t hi = (uint32_t)(n >> 32);

    p->ctr[0] += lo;
    if (p->ctr[0] < lo)
        hi++;
    p->ctr[1] += hi;
    if (p->ctr[1] < hi) {
        if (++p->ctr[2] == 0)
            ++p->ctr[3];
    }
}

void vs__philox_next(vs__philox *p, uint32_t out[4])
{
    vs__philox4x32_10(p->ctr, p->key, out);
    if (++p->ctr[0] == 0)
        if (++p->ctr[1] == 0)
            if (++p->ctr[2] == 0)
                ++p->ctr[3];
}

/* ------------------------------------------------------------------------ */
/* Conversions                                                               */

float vs__uint32_to_float(uint32_t x)
{
    uint32_t bits = (127u << 23) | (x & 0x7fffffu);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f - 1.0f;
}

double vs__uint64_to_double(uint32_t x0, uint32_t x1)
{
    uint64_t bits = ((uint64_t)1023u << 52) |
                    ((uint64_t)(x0 & 0xfffffu) << 32) | (uint64_t)x1;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d - 1.0;
}

void vs__box_muller_float(uint32_t x0, uint32_t x1, float *f0, float *f1)
{
    const float epsilon = 1.0e-7f;
    float u1 = vs__uint32_to_float(x0);
    float v1, u2;
    if (u1 < epsilon)
        u1 = epsilon;
    /* 2*pi*u is formed in double and rounded once, as TF's expression
     * (2.0f * M_PI * float) does. */
    v1 = (float)(VS_TWO_PI * (double)vs__uint32_to_float(x1));
    u2 = sqrtf(-2.0f * logf(u1));
    *f0 = sinf(v1) * u2;
    *f1 = cosf(v1) * u2;
}

void vs__box_muller_double(uint32_t x0, uint32_t x1, uint32_t x2,
                           uint32_t x3, double *d0, double *d1)
{
    const double epsilon = 1.0e-7;
    double u1 = vs__uint64_to_double(x0, x1);
    double v1, u2;
    if (u1 < epsilon)
        u1 = epsilon;
    v1 = VS_TWO_PI * vs__uint64_to_double(x2, x3);
    u2 = sqrt(-2.0 * log(u1));
    *d0 = sin(v1) * u2;
    *d1 = cos(v1) * u2;
}

/* ------------------------------------------------------------------------ */
/* Fixed-rate distributions: block b of 4 words makes elements
 * [b*per, (b+1)*per). Each range function positions the generator at the
 * block holding `start` and drops the elements before it. */

#define DEFINE_BLOCK_FILL(fname, T, PER, MAKE)                              \
    void fname(uint64_t seed, uint64_t seed2, uint64_t start, size_t n,     \
               T *out)                                                      \
    {                                                                       \
        vs__philox g;                                                       \
        uint32_t w[4];                                                      \
        T v[PER];                                                           \
        size_t done = 0;                                                    \
        unsigned skip = (unsigned)(start % (PER));                          \
        unsigned j;                                                         \
        if (n == 0)                                                         \
            return;                                                         \
        vs__philox_init(&g, seed, seed2);                                   \
        vs__philox_skip(&g, start / (PER));                                 \
        while (done < n) {                                                  \
            vs__philox_next(&g, w);                                         \
            MAKE;                                                           \
            for (j = skip; j < (PER) && done < n; j++)                      \
                out[done++] = v[j];                                         \
            skip = 0;                                                       \
        }                                                                   \
    }

DEFINE_BLOCK_FILL(vs__rand_uniform_f32, float, 4,
                  for (j = 0; j < 4; j++) v[j] = vs__uint32_to_float(w[j]))
DEFINE_BLOCK_FILL(vs__rand_uniform_f64, double, 2,
                  for (j = 0; j < 2; j++) v[j] =
                      vs__uint64_to_double(w[2 * j], w[2 * j + 1]))
DEFINE_BLOCK_FILL(vs__rand_normal_f32, float, 4,
                  vs__box_muller_float(w[0], w[1], &v[0], &v[1]);
                  vs__box_muller_float(w[2], w[3], &v[2], &v[3]))
DEFINE_BLOCK_FILL(vs__rand_normal_f64, double, 2,
                  vs__box_muller_double(w[0], w[1], w[2], w[3], &v[0],
                                        &v[1]))

/* The raw bits TF's RandomUniformInt reduces: one 32-bit word per int32
 * element, two (low, high) per int64 element. */
static DEFINE_BLOCK_FILL(raw_bits_u32, uint32_t, 4,
                         for (j = 0; j < 4; j++) v[j] = w[j])
static DEFINE_BLOCK_FILL(raw_bits_u64, uint64_t, 2,
                         for (j = 0; j < 2; j++) v[j] =
                             (uint64_t)w[2 * j] |
                             ((uint64_t)w[2 * j + 1] << 32))

/* lo + bits % range in two's complement: exact, as the result lies in
 * [lo, hi). Elements are made INT_CHUNK at a time from the raw bits. */
#define INT_CHUNK 256
#define DEFINE_UNIFORM_INT(fname, T, U, RAW)                                \
    void fname(uint64_t seed, uint64_t seed2, uint64_t start, size_t n,     \
               T lo, T hi, T *out)                                          \
    {                                                                       \
        U raw[INT_CHUNK];                                                   \
        U range = (U)hi - (U)lo;                                            \
        size_t done = 0, i, k;                                              \
        if (range == 0)                                                     \
            return;                                                         \
        while (done < n) {                                                  \
            k = n - done < INT_CHUNK ? n - done : INT_CHUNK;                \
            RAW(seed, seed2, start + done, k, raw);                         \
            for (i = 0; i < k; i++) {                                       \
                U u = (U)lo + raw[i] % range;                               \
                memcpy(&out[done + i], &u, sizeof u);                       \
            }                                                               \
            done += k;                                                      \
        }                                                                   \
    }

DEFINE_UNIFORM_INT(vs__rand_uniform_i32, int32_t, uint32_t, raw_bits_u32)
DEFINE_UNIFORM_INT(vs__rand_uniform_i64, int64_t, uint64_t, raw_bits_u64)

/* ------------------------------------------------------------------------ */
/* Truncated normal: TF gives each group of outputs (4 floats or 2 doubles)
 * its own window of TRUNC_RESERVED words starting at a fixed counter, and
 * reads that window one word at a time, keeping Box-Muller samples with
 * |x| < 2. */

typedef struct {
    vs__philox g;
    uint32_t w[4];
    unsigned used; /* words of w already consumed (4: none left) */
} single_sampler;

static void sampler_init(single_sampler *s, uint64_t seed, uint64_t seed2,
                         uint64_t block)
{
    vs__philox_init(&s->g, seed, seed2);
    vs__philox_skip(&s->g, block);
    s->used = 4;
}

static uint32_t sampler_next(single_sampler *s)
{
    if (s->used == 4) {
        vs__philox_next(&s->g, s->w);
        s->used = 0;
    }
    return s->w[s->used++];
}

/* One group of TF's truncated normal: 4 floats, from float Box-Muller
 * pairs of single words, keeping samples with |x| < 2. */
static void trunc_group_f32(single_sampler *s, float v[4])
{
    unsigned idx = 0;
    while (idx < 4) {
        uint32_t x0 = sampler_next(s);
        uint32_t x1 = sampler_next(s);
        float f[2];
        vs__box_muller_float(x0, x1, &f[0], &f[1]);
        if (fabsf(f[0]) < 2.0f)
            v[idx++] = f[0];
        if (idx < 4 && fabsf(f[1]) < 2.0f)
            v[idx++] = f[1];
    }
}

/* The same for 2 doubles, each Box-Muller pair taking 4 words. */
static void trunc_group_f64(single_sampler *s, double v[2])
{
    unsigned idx = 0;
    while (idx < 2) {
        uint32_t x0 = sampler_next(s);
        uint32_t x1 = sampler_next(s);
        uint32_t x2 = sampler_next(s);
        uint32_t x3 = sampler_next(s);
        double d[2];
        vs__box_muller_double(x0, x1, x2, x3, &d[0], &d[1]);
        if (fabs(d[0]) < 2.0)
            v[idx++] = d[0];
        if (idx < 2 && fabs(d[1]) < 2.0)
            v[idx++] = d[1];
    }
}

/* Elements [start, start + n): group g (PER elements) reads its own
 * window of words, so any range starts at the group holding `start`. */
#define DEFINE_TRUNCATED(fname, T, PER, GROUP)                              \
    void fname(uint64_t seed, uint64_t seed2, uint64_t start, size_t n,     \
               T *out)                                                      \
    {                                                                       \
        const uint64_t blocks = (PER) * TRUNC_RESERVED / 4u;                \
        uint64_t group = start / (PER);                                     \
        unsigned skip = (unsigned)(start % (PER)), j;                       \
        size_t done = 0;                                                    \
        while (done < n) {                                                  \
            single_sampler s;                                               \
            T v[PER];                                                       \
            sampler_init(&s, seed, seed2, group * blocks);                  \
            GROUP(&s, v);                                                   \
            for (j = skip; j < (PER) && done < n; j++)                      \
                out[done++] = v[j];                                         \
            skip = 0;                                                       \
            group++;                                                        \
        }                                                                   \
    }

DEFINE_TRUNCATED(vs__rand_truncated_f32, float, 4, trunc_group_f32)
DEFINE_TRUNCATED(vs__rand_truncated_f64, double, 2, trunc_group_f64)

/* ------------------------------------------------------------------------ */
/* Fresh seeds                                                               */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

void vs__rand_fresh_seeds(uint64_t *seed, uint64_t *seed2)
{
    static _Thread_local uint64_t counter;
    uint64_t buf[2] = {0, 0};
    int ok = 0;
    FILE *f = fopen("/dev/urandom", "rb");

    if (f != NULL) {
        ok = fread(buf, sizeof buf[0], 2, f) == 2;
        fclose(f);
    }
    if (!ok) {
        /* No entropy device: time, clock, a per-thread counter and an
         * address, mixed. Not cryptographic; TF's New64 is not either. */
        struct timespec ts;
        uint64_t x;
        if (timespec_get(&ts, TIME_UTC) == 0) {
            ts.tv_sec = time(NULL);
            ts.tv_nsec = 0;
        }
        x = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^
            (uint64_t)clock() ^ (uint64_t)(uintptr_t)&counter ^
            (++counter << 32);
        buf[0] = splitmix64(&x);
        buf[1] = splitmix64(&x);
    }
    if (buf[0] == 0 && buf[1] == 0)
        buf[1] = 1;
    *seed = buf[0];
    *seed2 = buf[1];
}
