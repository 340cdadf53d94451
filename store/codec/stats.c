/* varstore: per-tensor statistics of float chunks (count, mean, M2,
 * min, max, NaN and Inf counts), taken a block of VS_STATS_BLOCK bytes
 * at a time and merged in order: a chunk's statistics have the same bits
 * whether its bytes are read whole or a block at a time (store/codec/
 * take.c), and a block's two passes run over memory in the cache. The
 * float32 pass without NaN or Inf is in stats_f32.c. */
#include <math.h>
#include <string.h>

#include "store_int.h"

void vs__stats_init(vs__stats *s)
{
    memset(s, 0, sizeof *s);
    s->min = INFINITY;
    s->max = -INFINITY;
}

#define STATS_LOOP(GET)                                                       \
    do {                                                                      \
        double sum = 0.0, mn = INFINITY, mx = -INFINITY;                      \
        int64_t cnt = 0, nnan = 0, ninf = 0;                                  \
        for (size_t i = 0; i < m; i++) {                                      \
            double x = (GET);                                                 \
            if (isnan(x)) {                                                   \
                nnan++;                                                       \
            } else if (isinf(x)) {                                            \
                ninf++;                                                       \
            } else {                                                          \
                sum += x;                                                     \
                cnt++;                                                        \
                if (x < mn)                                                   \
                    mn = x;                                                   \
                if (x > mx)                                                   \
                    mx = x;                                                   \
            }                                                                 \
        }                                                                     \
        double mean = cnt > 0 ? sum / (double)cnt : 0.0, m2 = 0.0;            \
        if (cnt > 0) {                                                        \
            for (size_t i = 0; i < m; i++) {                                  \
                double x = (GET);                                             \
                if (isfinite(x))                                              \
                    m2 += (x - mean) * (x - mean);                            \
            }                                                                 \
        }                                                                     \
        c.n = cnt;                                                            \
        c.mean = mean;                                                        \
        c.m2 = m2;                                                            \
        c.min = mn;                                                           \
        c.max = mx;                                                           \
        c.n_nan = nnan;                                                       \
        c.n_inf = ninf;                                                       \
    } while (0)

/* A float64 block whose sums overflowed (values near DBL_MAX, or squares
 * of values past about 1e154), or whose values are all below 2^-500 in
 * magnitude (their squares underflow: a std of 0 for values that differ):
 * its mean and M2 taken again on the values times 2^-k, k the exponent
 * of its largest magnitude plus one, so that each value is under 1 in
 * magnitude (and the largest at least 1/2) and no sum overflows. */
static void stats_f64_scaled(const double *a, size_t m, vs__stats *out)
{
    double lo = out->min, hi = out->max;
    int k = ilogb(fmax(fabs(lo), fabs(hi))) + 1;
    vs__stats c;
    vs__stats_init(&c);
    STATS_LOOP(ldexp(a[i], -k));
    c.min = lo;
    c.max = hi;
    c.scale = k;
    *out = c;
}

static int f64_needs_scale(const vs__stats *c)
{
    if (c->n == 0)
        return 0;
    double big = fmax(fabs(c->min), fabs(c->max));
    return !(isfinite(c->mean) && isfinite(c->m2)) ||
           (big > 0 && big < 0x1p-500);
}

/* The statistics of one block (up to VS_STATS_BLOCK bytes) merged into
 * s. */
static void stats_block(vs_dtype dt, const void *p, size_t nbytes,
                        vs__stats *s)
{
    vs__stats c;
    vs__stats_init(&c);
    switch (dt) {
    case VS_FLOAT32: {
        const float *a = p;
        size_t m = nbytes / 4;
        if (vs__stats_f32_finite(a, m, &c))
            break;
        STATS_LOOP((double)a[i]);
        break;
    }
    case VS_FLOAT64: {
        const double *a = p;
        size_t m = nbytes / 8;
        STATS_LOOP(a[i]);
        if (f64_needs_scale(&c))
            stats_f64_scaled(a, m, &c);
        break;
    }
    case VS_FLOAT16: {
        const uint16_t *a = p;
        size_t m = nbytes / 2;
        STATS_LOOP((double)vs_half_to_float(a[i]));
        break;
    }
    case VS_BFLOAT16: {
        const uint16_t *a = p;
        size_t m = nbytes / 2;
        STATS_LOOP((double)vs_bfloat16_to_float(a[i]));
        break;
    }
    default:
        return;
    }
    vs__stats_merge(s, &c);
}

void vs__stats_add(vs_dtype dt, const void *p, size_t nbytes, vs__stats *s)
{
    const unsigned char *b = p;
    for (size_t at = 0; at < nbytes; at += VS_STATS_BLOCK)
        stats_block(dt, b + at,
                    nbytes - at < VS_STATS_BLOCK ? nbytes - at
                                                 : VS_STATS_BLOCK,
                    s);
}

void vs__stats_chunk(vs_dtype dt, const void *p, size_t nbytes, vs__stats *s)
{
    vs__stats c;
    vs__stats_init(&c);
    vs__stats_add(dt, p, nbytes, &c);
    vs__stats_merge(s, &c);
}

/* s's mean and M2 expressed at the larger scale k (k >= s->scale). */
static void rescale(vs__stats *s, int k)
{
    s->mean = ldexp(s->mean, s->scale - k);
    s->m2 = ldexp(s->m2, 2 * (s->scale - k));
    s->scale = k;
}

/* Chan et al.'s pairwise update of (mean, M2), both at one scale, both
 * with values (acc->n, b->n > 0): 1 when the result is finite. */
static int merge_moments(vs__stats *acc, const vs__stats *b)
{
    double na = (double)acc->n, nb = (double)b->n, n = na + nb;
    double d = b->mean - acc->mean;
    acc->mean += d * nb / n;
    acc->m2 += b->m2 + d * d * na * nb / n;
    return isfinite(acc->mean) && isfinite(acc->m2);
}

/* Merges the moments of two sets of values; when they overflow at the
 * common scale (means far apart near DBL_MAX), again at a scale where the
 * larger mean and root of M2 are under 1. Scales equal (0, the usual
 * case): the one update, bit for bit. */
static void merge_scaled(vs__stats *acc, const vs__stats *b)
{
    vs__stats a0 = *acc, b0 = *b;
    int k = a0.scale > b0.scale ? a0.scale : b0.scale;
    if (a0.scale != k)
        rescale(&a0, k);
    if (b0.scale != k)
        rescale(&b0, k);
    vs__stats r = a0;
    if (!merge_moments(&r, &b0)) {
        double big = fmax(fmax(fabs(a0.mean), fabs(b0.mean)),
                          fmax(sqrt(a0.m2), sqrt(b0.m2)));
        k += ilogb(big) + 1;
        rescale(&a0, k);
        rescale(&b0, k);
        r = a0;
        (void)merge_moments(&r, &b0);
    }
    acc->mean = r.mean;
    acc->m2 = r.m2;
    acc->scale = r.scale;
}

void vs__stats_merge(vs__stats *acc, const vs__stats *b)
{
    if (b->n > 0) {
        if (acc->n == 0) {
            acc->mean = b->mean;
            acc->m2 = b->m2;
            acc->scale = b->scale;
        } else {
            merge_scaled(acc, b);
        }
        acc->n += b->n;
        if (b->min < acc->min)
            acc->min = b->min;
        if (b->max > acc->max)
            acc->max = b->max;
    }
    acc->n_nan += b->n_nan;
    acc->n_inf += b->n_inf;
}

/* Scaled back, a mean or std a rounding above its bound (the mean in
 * [min, max]; the std at most (max - min) / 2) can be 2^1024, +Inf: held
 * to the bound. Scale 0 returns the bits of before. */
double vs__stats_mean(const vs__stats *s)
{
    double m = ldexp(s->mean, s->scale);
    if (s->scale == 0)
        return m;
    return fmin(fmax(m, s->min), s->max);
}

double vs__stats_std(const vs__stats *s)
{
    double sd = ldexp(sqrt(s->m2 / (double)s->n), s->scale);
    if (s->scale == 0)
        return sd;
    return fmin(sd, s->max / 2 - s->min / 2);
}
