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

void vs__stats_merge(vs__stats *acc, const vs__stats *b)
{
    /* Chan et al.'s pairwise update of (n, mean, M2). */
    if (b->n > 0) {
        if (acc->n == 0) {
            acc->mean = b->mean;
            acc->m2 = b->m2;
        } else {
            double na = (double)acc->n, nb = (double)b->n, n = na + nb;
            double d = b->mean - acc->mean;
            acc->mean += d * nb / n;
            acc->m2 += b->m2 + d * d * na * nb / n;
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
