/* varstore: statistics of a float32 chunk without NaN or Inf (the usual
 * case), the part of vs__stats_chunk that every save runs over every
 * float32 byte. Sixteen double accumulators, lane j taking the elements
 * at j modulo 16 and reduced in one fixed order, so the scalar loop and
 * the AVX2 one (four vectors of four doubles, chosen at run time) give
 * the same bits on any x86-64 CPU. No fused multiply-add. */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "store_int.h"

#define LANES 16
#define EXP_MASK 0x7f800000u /* exponent all ones: Inf or NaN */
#define MINF(x, y) ((x) < (y) ? (x) : (y))
#define MAXF(x, y) ((x) > (y) ? (x) : (y))

/* What one pass over the whole blocks of LANES elements gathers. */
typedef struct {
    double s[LANES];
    float lo[LANES], hi[LANES];
    uint32_t special;
} pass1;

/* Lane sums reduced in the AVX2 loop's order: the four vectors added
 * pairwise, then their four lanes pairwise. */
static double reduce(const double s[LANES])
{
    double r[4];
    for (int j = 0; j < 4; j++)
        r[j] = (s[j] + s[j + 4]) + (s[j + 8] + s[j + 12]);
    return (r[0] + r[1]) + (r[2] + r[3]);
}

static void sums_scalar(const float *a, size_t blocks, pass1 *p)
{
    for (int j = 0; j < LANES; j++) {
        p->s[j] = 0;
        p->lo[j] = INFINITY;
        p->hi[j] = -INFINITY;
    }
    uint32_t special = 0;
    for (size_t i = 0; i < blocks * LANES; i += LANES)
        for (int j = 0; j < LANES; j++) {
            uint32_t b;
            memcpy(&b, a + i + j, 4);
            special |= (b & EXP_MASK) == EXP_MASK;
            p->s[j] += a[i + j];
            p->lo[j] = MINF(p->lo[j], a[i + j]);
            p->hi[j] = MAXF(p->hi[j], a[i + j]);
        }
    p->special = special;
}

static double squares_scalar(const float *a, size_t blocks, double mean)
{
    double q[LANES] = {0};
    for (size_t i = 0; i < blocks * LANES; i += LANES)
        for (int j = 0; j < LANES; j++) {
            double d = (double)a[i + j] - mean;
            q[j] += d * d;
        }
    return reduce(q);
}

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>

__attribute__((target("avx2"))) static void
sums_avx2(const float *a, size_t blocks, pass1 *p)
{
    __m256d s[4];
    for (int k = 0; k < 4; k++)
        s[k] = _mm256_setzero_pd();
    __m256 lo0 = _mm256_set1_ps(INFINITY), lo1 = lo0;
    __m256 hi0 = _mm256_set1_ps(-INFINITY), hi1 = hi0;
    __m256i sp = _mm256_setzero_si256();
    const __m256i em = _mm256_set1_epi32((int)EXP_MASK);
    for (size_t i = 0; i < blocks * LANES; i += LANES) {
        __m256 x0 = _mm256_loadu_ps(a + i), x1 = _mm256_loadu_ps(a + i + 8);
        __m256i e0 = _mm256_and_si256(_mm256_castps_si256(x0), em);
        __m256i e1 = _mm256_and_si256(_mm256_castps_si256(x1), em);
        sp = _mm256_or_si256(sp, _mm256_or_si256(_mm256_cmpeq_epi32(e0, em),
                                                 _mm256_cmpeq_epi32(e1, em)));
        s[0] = _mm256_add_pd(s[0], _mm256_cvtps_pd(_mm256_castps256_ps128(x0)));
        s[1] = _mm256_add_pd(s[1], _mm256_cvtps_pd(_mm256_extractf128_ps(x0, 1)));
        s[2] = _mm256_add_pd(s[2], _mm256_cvtps_pd(_mm256_castps256_ps128(x1)));
        s[3] = _mm256_add_pd(s[3], _mm256_cvtps_pd(_mm256_extractf128_ps(x1, 1)));
        /* min_ps(x, y) is x < y ? x : y, as MINF: same bits as the
         * scalar loop's lanes */
        lo0 = _mm256_min_ps(lo0, x0);
        lo1 = _mm256_min_ps(lo1, x1);
        hi0 = _mm256_max_ps(hi0, x0);
        hi1 = _mm256_max_ps(hi1, x1);
    }
    for (int k = 0; k < 4; k++)
        _mm256_storeu_pd(p->s + 4 * k, s[k]);
    _mm256_storeu_ps(p->lo, lo0);
    _mm256_storeu_ps(p->lo + 8, lo1);
    _mm256_storeu_ps(p->hi, hi0);
    _mm256_storeu_ps(p->hi + 8, hi1);
    p->special = !_mm256_testz_si256(sp, sp);
}

__attribute__((target("avx2"))) static double
squares_avx2(const float *a, size_t blocks, double mean)
{
    __m256d q[4];
    const __m256d mv = _mm256_set1_pd(mean);
    for (int k = 0; k < 4; k++)
        q[k] = _mm256_setzero_pd();
    for (size_t i = 0; i < blocks * LANES; i += LANES)
        for (int k = 0; k < 4; k++) {
            __m256d d = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(a + i + 4 * k)),
                                      mv);
            q[k] = _mm256_add_pd(q[k], _mm256_mul_pd(d, d));
        }
    double out[LANES];
    for (int k = 0; k < 4; k++)
        _mm256_storeu_pd(out + 4 * k, q[k]);
    return reduce(out);
}

#else
#define sums_avx2 sums_scalar
#define squares_avx2 squares_scalar
#endif

/* The elements after the whole blocks, one at a time: the last terms of
 * every sum, in both loops. */
static void tail(const float *a, size_t m, size_t from, pass1 *p,
                 double *sum)
{
    *sum = 0;
    for (size_t i = from; i < m; i++) {
        uint32_t b;
        memcpy(&b, a + i, 4);
        p->special |= (b & EXP_MASK) == EXP_MASK;
        *sum += a[i];
        p->lo[0] = MINF(p->lo[0], a[i]);
        p->hi[0] = MAXF(p->hi[0], a[i]);
    }
}

static atomic_int g_scalar_only;

void vs__stats_f32_scalar_only(int on) { atomic_store(&g_scalar_only, on); }

int vs__stats_f32_finite(const float *a, size_t m, vs__stats *c)
{
    int vec = !atomic_load(&g_scalar_only) && vs__cpu_avx2();
    size_t blocks = m / LANES;
    pass1 p;
    double rest;
    (vec ? sums_avx2 : sums_scalar)(a, blocks, &p);
    tail(a, m, blocks * LANES, &p, &rest);
    if (p.special)
        return 0;
    float mn = p.lo[0], mx = p.hi[0];
    for (int j = 1; j < LANES; j++) {
        mn = MINF(mn, p.lo[j]);
        mx = MAXF(mx, p.hi[j]);
    }
    double mean = m > 0 ? (reduce(p.s) + rest) / (double)m : 0.0;
    double m2 = (vec ? squares_avx2 : squares_scalar)(a, blocks, mean);
    for (size_t i = blocks * LANES; i < m; i++) {
        double d = (double)a[i] - mean;
        m2 += d * d;
    }
    c->n = (int64_t)m;
    c->mean = mean;
    c->m2 = m2;
    c->min = m > 0 ? (double)mn : INFINITY;
    c->max = m > 0 ? (double)mx : -INFINITY;
    c->n_nan = 0;
    c->n_inf = 0;
    return 1;
}
