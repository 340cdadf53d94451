/* varstore: TF 1.x initializers: the vs_init constructors, their
 * creation-time checks (vs__init_validate) and vs_init_fill, which fills a
 * tensor as the initializer's TF ops would (fans, variance scaling,
 * constants, random kernels on Philox, orthogonal by Householder QR). */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_int.h"

/* The constant of TF 1.15's VarianceScaling: the standard deviation of a
 * standard normal truncated to (-2, 2). */
#define TRUNC_STD 0.87962566103423978

/* ------------------------------------------------------------------------ */
/* Constructors                                                              */

static vs_init make(int kind, double a, double b, int64_t seed)
{
    vs_init in;
    memset(&in, 0, sizeof in);
    in.kind = kind;
    in.a = a;
    in.b = b;
    in.seed = seed;
    return in;
}

vs_init vs_init_zeros(void)
{
    return make(VS_INIT_ZEROS, 0, 0, VS_NO_SEED);
}

vs_init vs_init_ones(void)
{
    return make(VS_INIT_ONES, 0, 0, VS_NO_SEED);
}

vs_init vs_init_constant(double value)
{
    return make(VS_INIT_CONSTANT, value, 0, VS_NO_SEED);
}

vs_init vs_init_constant_values(const double *values, size_t n)
{
    vs_init in = make(VS_INIT_CONSTANT, 0, 0, VS_NO_SEED);
    in.values = values;
    in.n_values = n;
    return in;
}

vs_init vs_init_random_normal(double mean, double stddev, int64_t seed)
{
    return make(VS_INIT_RANDOM_NORMAL, mean, stddev, seed);
}

vs_init vs_init_truncated_normal(double mean, double stddev, int64_t seed)
{
    return make(VS_INIT_TRUNCATED_NORMAL, mean, stddev, seed);
}

vs_init vs_init_random_uniform(double minval, double maxval, int64_t seed)
{
    return make(VS_INIT_RANDOM_UNIFORM, minval, maxval, seed);
}

vs_init vs_init_variance_scaling(double scale, int mode, int distribution,
                                 int64_t seed)
{
    vs_init in = make(VS_INIT_VARIANCE_SCALING, scale, 0, seed);
    in.mode = mode;
    in.distribution = distribution;
    return in;
}

vs_init vs_init_glorot_uniform(int64_t seed)
{
    return vs_init_variance_scaling(1.0, VS_FAN_AVG, VS_DIST_UNIFORM, seed);
}

vs_init vs_init_glorot_normal(int64_t seed)
{
    return vs_init_variance_scaling(1.0, VS_FAN_AVG,
                                    VS_DIST_TRUNCATED_NORMAL, seed);
}

vs_init vs_init_he_normal(int64_t seed)
{
    return vs_init_variance_scaling(2.0, VS_FAN_IN, VS_DIST_TRUNCATED_NORMAL,
                                    seed);
}

vs_init vs_init_he_uniform(int64_t seed)
{
    return vs_init_variance_scaling(2.0, VS_FAN_IN, VS_DIST_UNIFORM, seed);
}

vs_init vs_init_lecun_normal(int64_t seed)
{
    return vs_init_variance_scaling(1.0, VS_FAN_IN, VS_DIST_TRUNCATED_NORMAL,
                                    seed);
}

vs_init vs_init_lecun_uniform(int64_t seed)
{
    return vs_init_variance_scaling(1.0, VS_FAN_IN, VS_DIST_UNIFORM, seed);
}

vs_init vs_init_xavier(int uniform, int64_t seed)
{
    vs_init in = make(VS_INIT_XAVIER, 1.0, 0, seed);
    in.mode = VS_FAN_AVG;
    in.distribution = uniform ? VS_DIST_UNIFORM : VS_DIST_TRUNCATED_NORMAL;
    return in;
}

vs_init vs_init_xavier_conv2d(int uniform, int64_t seed)
{
    return vs_init_xavier(uniform, seed);
}

vs_init vs_init_orthogonal(double gain, int64_t seed)
{
    return make(VS_INIT_ORTHOGONAL, gain, 0, seed);
}

vs_init vs_init_identity(double gain)
{
    return make(VS_INIT_IDENTITY, gain, 0, VS_NO_SEED);
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

/* Python's repr of a float, near enough for messages: the shortest %g that
 * reads back the same, with ".0" when it looks like an integer. */
static void py_float(double v, char *buf, size_t cap)
{
    int prec;
    if (isnan(v)) {
        snprintf(buf, cap, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, cap, v < 0 ? "-inf" : "inf");
        return;
    }
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (strpbrk(buf, ".e") == NULL) {
        size_t len = strlen(buf);
        if (len + 2 < cap)
            memcpy(buf + len, ".0", 3);
    }
}

static int is_int_dtype(vs_dtype d)
{
    return d == VS_INT8 || d == VS_UINT8 || d == VS_INT32 || d == VS_INT64;
}

/* Integer range of an integer dtype (bool: 0..1). */
static void int_range(vs_dtype d, double *lo, double *hi)
{
    switch (d) {
    case VS_INT8: *lo = -128.0; *hi = 127.0; break;
    case VS_UINT8: *lo = 0.0; *hi = 255.0; break;
    case VS_INT32: *lo = -2147483648.0; *hi = 2147483647.0; break;
    case VS_BOOL: *lo = 0.0; *hi = 1.0; break;
    default: /* int64: every double below 2^63 */
        *lo = -9223372036854775808.0;
        *hi = 9223372036854775807.0; /* rounds to 2^63: checked with < */
        break;
    }
}

/* Checks that v converts exactly to integer dtype d (or bool). */
static int check_int_value(vs_dtype d, double v, const char *what)
{
    double lo, hi;
    char num[64];
    int ok;

    int_range(d, &lo, &hi);
    ok = isfinite(v) && v == floor(v) && v >= lo &&
         (d == VS_INT64 ? v < 9223372036854775808.0 : v <= hi);
    if (ok)
        return VS_OK;
    py_float(v, num, sizeof num);
    /* A fractional or non-finite value fails TF's _AssertCompatible in
     * convert_to_tensor (minval/maxval of random_uniform too); only an
     * integral value out of the dtype's range gets our own text. */
    if (what != NULL && isfinite(v) && v == floor(v))
        return vs__fail(VS_EINVAL, "Expected %s for %s, got %s",
                        vs_dtype_name(d), what, num);
    return vs__fail(VS_EINVAL,
                    "Expected %s, got %s of type 'float' instead.",
                    vs_dtype_name(d), num);
}

static int expect_float(vs_dtype d)
{
    if (vs_dtype_is_floating(d))
        return VS_OK;
    return vs__fail(VS_EINVAL, "Expected floating point type, got <dtype: "
                               "'%s'>.",
                    vs_dtype_name(d));
}

/* TF 1.15 init_ops._compute_fans, in double (Python ints then float). */
static void core_fans(int ndim, const int64_t *shape, double *fan_in,
                      double *fan_out)
{
    if (ndim < 1) {
        *fan_in = *fan_out = 1.0;
    } else if (ndim == 1) {
        *fan_in = *fan_out = (double)shape[0];
    } else if (ndim == 2) {
        *fan_in = (double)shape[0];
        *fan_out = (double)shape[1];
    } else {
        double receptive = 1.0;
        int i;
        for (i = 0; i < ndim - 2; i++)
            receptive *= (double)shape[i];
        *fan_in = (double)shape[ndim - 2] * receptive;
        *fan_out = (double)shape[ndim - 1] * receptive;
    }
}

/* contrib.layers.variance_scaling_initializer's own fans. */
static void contrib_fans(int ndim, const int64_t *shape, double *fan_in,
                         double *fan_out)
{
    int i;
    if (ndim == 0) {
        *fan_in = *fan_out = 1.0;
        return;
    }
    *fan_in = ndim > 1 ? (double)shape[ndim - 2] : (double)shape[ndim - 1];
    *fan_out = (double)shape[ndim - 1];
    for (i = 0; i < ndim - 2; i++) {
        *fan_in *= (double)shape[i];
        *fan_out *= (double)shape[i];
    }
}

static int64_t prod(int from, int to, const int64_t *shape)
{
    int64_t p = 1;
    int i;
    for (i = from; i < to; i++)
        p *= shape[i]; /* callers pass validated shapes */
    return p;
}

/* ------------------------------------------------------------------------ */
/* Validation                                                                */

static int check_variance_scaling(const vs_init *in)
{
    if (in->a <= 0.0)
        return vs__fail(VS_EINVAL, "`scale` must be positive float.");
    if (in->mode != VS_FAN_IN && in->mode != VS_FAN_OUT &&
        in->mode != VS_FAN_AVG)
        return vs__fail(VS_EINVAL, "('Invalid `mode` argument:', %d)",
                        in->mode);
    if (in->distribution != VS_DIST_TRUNCATED_NORMAL &&
        in->distribution != VS_DIST_UNIFORM &&
        in->distribution != VS_DIST_UNTRUNCATED_NORMAL &&
        in->distribution != VS_DIST_NORMAL)
        return vs__fail(VS_EINVAL,
                        "('Invalid `distribution` argument:', %d)",
                        in->distribution);
    return VS_OK;
}

static int check_random_uniform(const vs_init *in, vs_dtype dtype)
{
    int rc;
    if (vs_dtype_is_floating(dtype))
        return VS_OK;
    /* TF 1.15 random_ops.random_uniform checks the dtype first:
     * ValueError("Invalid dtype %r" % dtype) for anything but float16,
     * bfloat16, float32, float64, int32 and int64. */
    if (dtype != VS_INT32 && dtype != VS_INT64)
        return vs__fail(VS_EINVAL, "Invalid dtype <dtype: '%s'>",
                        vs_dtype_name(dtype));
    rc = check_int_value(dtype, in->a, "minval");
    if (rc != VS_OK)
        return rc;
    rc = check_int_value(dtype, in->b, "maxval");
    if (rc != VS_OK)
        return rc;
    if (!(in->a < in->b))
        return vs__fail(VS_EINVAL, "Need minval < maxval: %lld >= %lld",
                        (long long)in->a, (long long)in->b);
    return VS_OK;
}

static int check_constant(const vs_init *in, vs_dtype dtype, int64_t numel)
{
    size_t i;
    int rc;
    /* TF's make_tensor_proto builds np.empty(shape) for a shape with no
     * elements, skipping both checks below: any value is accepted. */
    if (numel == 0)
        return VS_OK;
    if (in->values == NULL) {
        if (vs_dtype_is_floating(dtype))
            return VS_OK;
        return check_int_value(dtype, in->a, NULL);
    }
    if ((uint64_t)in->n_values > (uint64_t)numel)
        return vs__fail(VS_EINVAL,
                        "Too many elements provided. Needed at most %lld, "
                        "but received %zu",
                        (long long)numel, in->n_values);
    if (vs_dtype_is_floating(dtype))
        return VS_OK;
    for (i = 0; i < in->n_values; i++) {
        rc = check_int_value(dtype, in->values[i], NULL);
        if (rc != VS_OK)
            return rc;
    }
    return VS_OK;
}

/* The n a fan mode picks: fan_in, fan_out, or their mean for any other
 * mode (callers validate the mode). */
static double fan_n(int mode, double fan_in, double fan_out)
{
    if (mode == VS_FAN_IN)
        return fan_in;
    if (mode == VS_FAN_OUT)
        return fan_out;
    return (fan_in + fan_out) / 2.0;
}

/* The contrib xavier n (no max(1, n) guard) and its square-root argument,
 * with Python's errors for n == 0 and a negative argument. */
static int xavier_param(const vs_init *in, int ndim, const int64_t *shape,
                        double *param)
{
    double fi, fo, n, arg;
    if (in->mode != VS_FAN_IN && in->mode != VS_FAN_OUT &&
        in->mode != VS_FAN_AVG)
        return vs__fail(VS_EINVAL,
                        "('Unknown mode %%s [FAN_IN, FAN_OUT, FAN_AVG]', %d)",
                        in->mode);
    contrib_fans(ndim, shape, &fi, &fo);
    n = fan_n(in->mode, fi, fo);
    if (n == 0.0)
        return vs__fail(VS_EINVAL, "float division by zero");
    if (in->distribution == VS_DIST_UNIFORM)
        arg = 3.0 * in->a / n;
    else
        arg = 1.3 * in->a / n;
    if (arg < 0.0)
        return vs__fail(VS_EINVAL, "math domain error");
    *param = sqrt(arg);
    return VS_OK;
}

static int check(const vs_init *in, vs_dtype dtype, int ndim,
                 const int64_t *shape, int64_t *numel)
{
    int rc;
    if (in == NULL)
        return vs__fail(VS_EINVAL, "initializer is NULL");
    rc = vs_shape_check(dtype, ndim, shape, numel, NULL);
    if (rc != VS_OK)
        return rc;
    switch (in->kind) {
    case VS_INIT_ZEROS:
    case VS_INIT_ONES:
        return VS_OK;
    case VS_INIT_CONSTANT:
        return check_constant(in, dtype, *numel);
    case VS_INIT_RANDOM_NORMAL:
    case VS_INIT_TRUNCATED_NORMAL:
        return expect_float(dtype);
    case VS_INIT_RANDOM_UNIFORM:
        return check_random_uniform(in, dtype);
    case VS_INIT_VARIANCE_SCALING:
        rc = check_variance_scaling(in);
        if (rc != VS_OK)
            return rc;
        return expect_float(dtype);
    case VS_INIT_XAVIER: {
        double p;
        if (!vs_dtype_is_floating(dtype))
            return vs__fail(VS_EINVAL, "Cannot create initializer for "
                                       "non-floating point type.");
        return xavier_param(in, ndim, shape, &p);
    }
    case VS_INIT_ORTHOGONAL:
        rc = expect_float(dtype);
        if (rc != VS_OK)
            return rc;
        if (ndim < 2)
            return vs__fail(VS_EINVAL, "The tensor to initialize must be at "
                                       "least two-dimensional");
        return VS_OK;
    case VS_INIT_IDENTITY:
        rc = expect_float(dtype);
        if (rc != VS_OK)
            return rc;
        if (ndim != 2)
            return vs__fail(VS_EINVAL, "Identity matrix initializer can "
                                       "only be used for 2D matrices.");
        return VS_OK;
    case VS_INIT_NONE:
        return vs__fail(VS_EINVAL, "no initializer given (VS_INIT_NONE)");
    default:
        return vs__fail(VS_EINVAL, "unknown initializer kind %d", in->kind);
    }
}

int vs__init_validate(const vs_init *init, vs_dtype dtype, int ndim,
                      const int64_t *shape)
{
    int64_t numel;
    return check(init, dtype, ndim, shape, &numel);
}

/* ------------------------------------------------------------------------ */
/* Storing values                                                            */

/* v as a float rounded to odd: exact when v is a float, else the float
 * next to it toward zero or away, whichever has an odd last bit. Rounding
 * that float to float16/bfloat16 (far fewer bits) then equals rounding v
 * directly, as numpy's float64 -> float16 does (no double rounding). */
static float odd_float(double v)
{
    float f = (float)v;
    uint32_t bits;
    if (!isfinite(f) || (double)f == v)
        return f;
    memcpy(&bits, &f, sizeof bits);
    if ((bits & 1u) == 0)
        f = nextafterf(f, (double)f < v ? INFINITY : -INFINITY);
    return f;
}

/* Writes v (already representable, see check_int_value) as element i. */
static void store(vs_dtype d, void *data, int64_t i, double v)
{
    switch (d) {
    case VS_FLOAT32: ((float *)data)[i] = (float)v; break;
    case VS_FLOAT64: ((double *)data)[i] = v; break;
    case VS_FLOAT16:
        ((uint16_t *)data)[i] = vs_float_to_half(odd_float(v));
        break;
    case VS_BFLOAT16:
        ((uint16_t *)data)[i] = vs_float_to_bfloat16(odd_float(v));
        break;
    case VS_INT8: ((int8_t *)data)[i] = (int8_t)v; break;
    case VS_UINT8: ((uint8_t *)data)[i] = (uint8_t)v; break;
    case VS_INT32: ((int32_t *)data)[i] = (int32_t)v; break;
    case VS_INT64: ((int64_t *)data)[i] = (int64_t)v; break;
    case VS_BOOL: ((uint8_t *)data)[i] = v != 0.0; break;
    default: break;
    }
}

/* Fills all n elements with v; elements are small, so replicate the first
 * element's bytes. */
static void fill_value(vs_dtype d, void *data, int64_t n, double v)
{
    size_t es = vs_dtype_size(d);
    int64_t i;
    if (n <= 0)
        return;
    store(d, data, 0, v);
    if (v == 0.0 && !signbit(v)) {
        memset(data, 0, (size_t)n * es);
        return;
    }
    for (i = 1; i < n; i++)
        memcpy((char *)data + (size_t)i * es, data, es);
}

/* ------------------------------------------------------------------------ */
/* Random fills, in parallel ranges (any split gives the same bytes)         */

enum { DIST_UNIFORM, DIST_NORMAL, DIST_TRUNC, DIST_INT };

typedef struct {
    int dist;
    vs_dtype dtype;
    uint64_t seed, seed2;
    double mul, add; /* value = sample * mul + add, in the dtype's
                        precision (float32, float64) */
    double minval, maxval; /* DIST_UNIFORM bounds, for float16/bfloat16 */
    int64_t lo, hi;  /* DIST_INT bounds [lo, hi) */
    void *data;
} fill_job;

#define CHUNK 1024

static void gen_f32(const fill_job *j, uint64_t start, size_t n, float *o)
{
    size_t i;
    float m = (float)j->mul, a = (float)j->add;
    if (j->dist == DIST_UNIFORM)
        vs__rand_uniform_f32(j->seed, j->seed2, start, n, o);
    else if (j->dist == DIST_NORMAL)
        vs__rand_normal_f32(j->seed, j->seed2, start, n, o);
    else
        vs__rand_truncated_f32(j->seed, j->seed2, start, n, o);
    for (i = 0; i < n; i++) {
        float t = o[i] * m;
        o[i] = t + a;
    }
}

/* Rounds x to float16 (half != 0) or bfloat16 and back. */
static float r16(int half, float x)
{
    return half ? vs_half_to_float(vs_float_to_half(x))
                : vs_bfloat16_to_float(vs_float_to_bfloat16(x));
}

/* float16/bfloat16 as TF's kernels and its 16-bit arithmetic do it: the
 * uniform kernel takes 10 (half) or 7 (bfloat16) mantissa bits from the
 * low bits of each 32-bit word; the normal kernels round the float32
 * Box-Muller sample; then rnd * mul and + add are each rounded to the
 * 16-bit type (Eigen computes in float and rounds). */
static void fill_16(const fill_job *j, uint64_t start, size_t n)
{
    const int half = j->dtype == VS_FLOAT16;
    float buf[CHUNK], m16, a16;
    uint16_t *o = (uint16_t *)j->data + start;
    size_t done = 0, i;

    if (j->dist == DIST_UNIFORM) {
        float lo = r16(half, odd_float(j->minval));
        float hi = r16(half, odd_float(j->maxval));
        m16 = r16(half, hi - lo);
        a16 = lo;
    } else {
        m16 = r16(half, odd_float(j->mul));
        a16 = r16(half, odd_float(j->add));
    }
    while (done < n) {
        size_t k = n - done < CHUNK ? n - done : CHUNK;
        if (j->dist == DIST_UNIFORM)
            vs__rand_uniform_f32(j->seed, j->seed2, start + done, k, buf);
        else if (j->dist == DIST_NORMAL)
            vs__rand_normal_f32(j->seed, j->seed2, start + done, k, buf);
        else
            vs__rand_truncated_f32(j->seed, j->seed2, start + done, k, buf);
        for (i = 0; i < k; i++) {
            float r, t, v;
            if (j->dist == DIST_UNIFORM) {
                /* buf = mantissa / 2^23 exactly: recover the word's low
                 * bits */
                uint32_t m = (uint32_t)(buf[i] * 8388608.0f);
                r = half ? (float)(m & 0x3ffu) / 1024.0f
                         : (float)(m & 0x7fu) / 128.0f;
            } else {
                r = r16(half, buf[i]);
            }
            t = r16(half, r * m16);
            v = t + a16;
            o[done + i] = half ? vs_float_to_half(v) : vs_float_to_bfloat16(v);
        }
        done += k;
    }
}

static void fill_range(const fill_job *j, uint64_t start, size_t n)
{
    size_t i;
    switch (j->dtype) {
    case VS_FLOAT32:
        gen_f32(j, start, n, (float *)j->data + start);
        break;
    case VS_FLOAT64: {
        double *o = (double *)j->data + start;
        if (j->dist == DIST_UNIFORM)
            vs__rand_uniform_f64(j->seed, j->seed2, start, n, o);
        else if (j->dist == DIST_NORMAL)
            vs__rand_normal_f64(j->seed, j->seed2, start, n, o);
        else
            vs__rand_truncated_f64(j->seed, j->seed2, start, n, o);
        for (i = 0; i < n; i++) {
            double t = o[i] * j->mul;
            o[i] = t + j->add;
        }
        break;
    }
    case VS_FLOAT16:
    case VS_BFLOAT16:
        fill_16(j, start, n);
        break;
    case VS_INT32:
        vs__rand_uniform_i32(j->seed, j->seed2, start, n, (int32_t)j->lo,
                             (int32_t)j->hi, (int32_t *)j->data + start);
        break;
    case VS_INT64:
        vs__rand_uniform_i64(j->seed, j->seed2, start, n, j->lo, j->hi,
                             (int64_t *)j->data + start);
        break;
    default:
        break;
    }
}

typedef struct {
    const fill_job *job;
    uint64_t start;
    size_t n;
} fill_part;

static void *fill_thread(void *arg)
{
    const fill_part *p = arg;
    fill_range(p->job, p->start, p->n);
    return NULL;
}

#define PAR_MIN ((int64_t)1 << 18) /* elements before threads pay off */
#define PAR_MAX 16

static void run_fill(const fill_job *j, int64_t numel)
{
    pthread_t tid[PAR_MAX];
    fill_part part[PAR_MAX];
    int started[PAR_MAX];
    int ncpu = vs__cpu_count();
    int nt = 1, i;
    uint64_t per, pos = 0;

    if (numel <= 0)
        return;
    if (numel >= PAR_MIN && ncpu > 1) {
        int64_t by_size = numel / (PAR_MIN / 2);
        nt = ncpu > PAR_MAX ? PAR_MAX : ncpu;
        if (by_size < nt)
            nt = (int)by_size;
        if (nt < 1)
            nt = 1;
    }
    /* parts are multiples of 4 elements so no group is split (not needed
     * for correctness, only to avoid recomputing partial groups) */
    per = ((uint64_t)numel / (uint64_t)nt + 3u) & ~(uint64_t)3u;
    for (i = 0; i < nt; i++) {
        uint64_t end = pos + per;
        if (i == nt - 1 || end > (uint64_t)numel)
            end = (uint64_t)numel;
        part[i].job = j;
        part[i].start = pos;
        part[i].n = (size_t)(end - pos);
        pos = end;
        started[i] = 0;
    }
    for (i = 1; i < nt; i++)
        if (part[i].n > 0)
            started[i] =
                pthread_create(&tid[i], NULL, fill_thread, &part[i]) == 0;
    fill_range(j, part[0].start, part[0].n);
    for (i = 1; i < nt; i++) {
        if (started[i])
            pthread_join(tid[i], NULL);
        else if (part[i].n > 0)
            fill_range(j, part[i].start, part[i].n); /* thread refused */
    }
}

/* ------------------------------------------------------------------------ */
/* Orthogonal                                                                */

/* The normal draw of the orthogonal initializer: TF's random_normal of
 * the flat shape (float kernel for float32/16/bf16, double kernel for
 * float64), as doubles. */
static void orth_normal_draw(vs_dtype dtype, uint64_t seed, uint64_t seed2,
                             size_t mn, double *a)
{
    float buf[CHUNK];
    size_t done = 0;
    if (dtype == VS_FLOAT64) {
        vs__rand_normal_f64(seed, seed2, 0, mn, a);
        return;
    }
    while (done < mn) {
        size_t kk = mn - done < CHUNK ? mn - done : CHUNK, ii;
        vs__rand_normal_f32(seed, seed2, done, kk, buf);
        for (ii = 0; ii < kk; ii++)
            a[done + ii] = (double)buf[ii];
        done += kk;
    }
}

/* Householder QR of a (m x n, row-major, m >= n), in place: column k's
 * reflector v (unit, length m - k) is left in a[k.., k]; rdiag[k] is
 * R[k][k]. w is scratch of n doubles. */
static void householder_qr(double *a, int64_t m, int64_t n, double *w,
                           double *rdiag)
{
    int64_t i, k, c;
    for (k = 0; k < n; k++) {
        double norm = 0.0, alpha, vnorm = 0.0;
        for (i = k; i < m; i++)
            norm += a[i * n + k] * a[i * n + k];
        norm = sqrt(norm);
        if (norm == 0.0) {
            rdiag[k] = 0.0;
            for (i = k; i < m; i++)
                a[i * n + k] = 0.0; /* no reflection */
            continue;
        }
        alpha = a[k * n + k] > 0 ? -norm : norm;
        rdiag[k] = alpha;
        a[k * n + k] -= alpha;
        for (i = k; i < m; i++)
            vnorm += a[i * n + k] * a[i * n + k];
        vnorm = sqrt(vnorm);
        for (i = k; i < m; i++)
            a[i * n + k] /= vnorm;
        /* columns c > k: A -= 2 v (v^T A), row by row for locality */
        for (c = k + 1; c < n; c++)
            w[c] = 0.0;
        for (i = k; i < m; i++) {
            double vi = a[i * n + k];
            for (c = k + 1; c < n; c++)
                w[c] += vi * a[i * n + c];
        }
        for (i = k; i < m; i++) {
            double vi2 = 2.0 * a[i * n + k];
            for (c = k + 1; c < n; c++)
                a[i * n + c] -= vi2 * w[c];
        }
    }
}

/* Q = H_0 ... H_{n-1} applied to the first n columns of I, from the
 * reflectors householder_qr left in a; q is m x n, w scratch of n. */
static void householder_q(const double *a, int64_t m, int64_t n, double *q,
                          double *w)
{
    int64_t i, k, c;
    memset(q, 0, (size_t)m * (size_t)n * sizeof *q);
    for (i = 0; i < n; i++)
        q[i * n + i] = 1.0;
    for (k = n - 1; k >= 0; k--) {
        for (c = 0; c < n; c++)
            w[c] = 0.0;
        for (i = k; i < m; i++) {
            double vi = a[i * n + k];
            if (vi == 0.0)
                continue;
            for (c = 0; c < n; c++)
                w[c] += vi * q[i * n + c];
        }
        for (i = k; i < m; i++) {
            double vi2 = 2.0 * a[i * n + k];
            if (vi2 == 0.0)
                continue;
            for (c = 0; c < n; c++)
                q[i * n + c] -= vi2 * w[c];
        }
    }
}

/* Fills t with TF's orthogonal initializer: a normal matrix of the flat
 * shape (max(rows, cols), min(rows, cols)), Q of its reduced QR with
 * columns signed by diag(R), transposed when rows < cols, times gain. */
static int fill_orthogonal(const vs_init *in, vs_tensor *t, uint64_t seed,
                           uint64_t seed2, int64_t numel)
{
    int64_t rows = prod(0, t->ndim - 1, t->shape);
    int64_t cols = t->shape[t->ndim - 1];
    int64_t m = rows < cols ? cols : rows; /* m >= n */
    int64_t n = rows < cols ? rows : cols;
    size_t bytes;
    double *a = NULL, *q = NULL, *w = NULL, *rdiag = NULL;
    int64_t i, c;
    int rc = VS_OK;

    if (numel == 0)
        return VS_OK;
    /* m * n == rows * cols == numel */
    if (vs__mul_size((size_t)numel, sizeof(double), &bytes) != 0)
        return vs__fail(VS_ENOMEM, "orthogonal initializer: matrix too "
                                   "large");
    a = vs__malloc(bytes);
    q = vs__malloc(bytes);
    w = vs__malloc((size_t)n * sizeof(double));
    rdiag = vs__malloc((size_t)n * sizeof(double));
    if (a == NULL || q == NULL || w == NULL || rdiag == NULL) {
        rc = vs__fail(VS_ENOMEM, "out of memory in the orthogonal "
                                 "initializer (%lld x %lld)",
                      (long long)m, (long long)n);
        goto out;
    }
    orth_normal_draw(t->dtype, seed, seed2, (size_t)numel, a);
    householder_qr(a, m, n, w, rdiag);
    householder_q(a, m, n, q, w);
    /* q *= sign(diag(r)) per column (TF's math_ops.sign: 0 gives 0); then
     * write, transposed when rows < cols, times gain. */
    for (c = 0; c < n; c++)
        w[c] = rdiag[c] > 0 ? 1.0 : (rdiag[c] < 0 ? -1.0 : 0.0);
    for (i = 0; i < m; i++) {
        for (c = 0; c < n; c++) {
            double v = q[i * n + c] * w[c] * in->a;
            int64_t dst = rows < cols ? c * m + i : i * n + c;
            store(t->dtype, t->data, dst, v);
        }
    }
out:
    vs__free(a);
    vs__free(q);
    vs__free(w);
    vs__free(rdiag);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* vs_init_fill                                                              */

static void set_affine_uniform(fill_job *j, double minval, double maxval)
{
    /* TF: rnd * (maxval - minval) + minval, with the bounds converted to
     * the dtype first. */
    j->dist = DIST_UNIFORM;
    j->minval = minval;
    j->maxval = maxval;
    if (j->dtype == VS_FLOAT64) {
        j->mul = maxval - minval;
        j->add = minval;
    } else {
        float lo = (float)minval, hi = (float)maxval;
        j->mul = (double)(hi - lo);
        j->add = (double)lo;
    }
}

vs_init vs__variance_scaling_plain(const vs_init *in, int ndim,
                                   const int64_t *fan_shape)
{
    double fi, fo, n, var;
    core_fans(ndim, fan_shape, &fi, &fo);
    n = fan_n(in->mode, fi, fo);
    if (n < 1.0)
        n = 1.0;
    var = in->a / n;
    if (in->distribution == VS_DIST_UNIFORM)
        return vs_init_random_uniform(-sqrt(3.0 * var), sqrt(3.0 * var),
                                      in->seed);
    if (in->distribution == VS_DIST_UNTRUNCATED_NORMAL)
        return vs_init_random_normal(0.0, sqrt(var), in->seed);
    return vs_init_truncated_normal(0.0, sqrt(var) / TRUNC_STD, in->seed);
}

/* The fills that draw no random numbers (zeros, ones, constants,
 * identity) into t of numel elements and nbytes bytes. 1 when init is one
 * of them (t is filled), else 0 (t untouched). */
static int fill_fixed(const vs_init *init, vs_tensor *t, int64_t numel,
                      size_t nbytes)
{
    int64_t i, nv, rows, cols;
    switch (init->kind) {
    case VS_INIT_ZEROS:
        memset(t->data, 0, nbytes);
        return 1;
    case VS_INIT_ONES:
        fill_value(t->dtype, t->data, numel, 1.0);
        return 1;
    case VS_INIT_CONSTANT:
        nv = (int64_t)init->n_values;
        if (init->values == NULL)
            fill_value(t->dtype, t->data, numel, init->a);
        else if (nv == 0)
            memset(t->data, 0, nbytes);
        for (i = 0; init->values != NULL && i < numel && nv > 0; i++)
            store(t->dtype, t->data, i, /* pad with the last element */
                  init->values[i < nv ? i : nv - 1]);
        return 1;
    case VS_INIT_IDENTITY:
        rows = t->shape[0];
        cols = t->shape[1];
        memset(t->data, 0, nbytes);
        for (i = 0; i < rows && i < cols; i++)
            store(t->dtype, t->data, i * cols + i, init->a);
        return 1;
    default:
        return 0;
    }
}

/* Sets j's distribution for a random initializer other than variance
 * scaling (replaced by its plain form) and orthogonal. */
static int random_job(const vs_init *init, const vs_tensor *t, fill_job *j)
{
    double p;
    int rc;
    switch (init->kind) {
    case VS_INIT_RANDOM_NORMAL:
    case VS_INIT_TRUNCATED_NORMAL:
        j->dist = init->kind == VS_INIT_RANDOM_NORMAL ? DIST_NORMAL
                                                      : DIST_TRUNC;
        j->mul = init->b;
        j->add = init->a;
        return VS_OK;
    case VS_INIT_RANDOM_UNIFORM:
        if (!is_int_dtype(t->dtype)) {
            set_affine_uniform(j, init->a, init->b);
            return VS_OK;
        }
        j->dist = DIST_INT;
        j->lo = (int64_t)init->a;
        j->hi = (int64_t)init->b;
        return VS_OK;
    case VS_INIT_XAVIER:
        rc = xavier_param(init, t->ndim, t->shape, &p);
        if (rc != VS_OK)
            return rc;
        if (init->distribution == VS_DIST_UNIFORM) {
            set_affine_uniform(j, -p, p);
        } else {
            j->dist = DIST_TRUNC;
            j->mul = p;
        }
        return VS_OK;
    default:
        return vs__fail(VS_EINVAL, "unknown initializer kind %d",
                        init->kind);
    }
}

int vs_init_fill(const vs_init *init, vs_tensor *t, int64_t seed,
                 int64_t seed2)
{
    fill_job j;
    vs_init plain;
    int64_t numel;
    size_t nbytes;
    int rc;

    if (init == NULL)
        return vs__fail(VS_EINVAL, "vs_init_fill: init is NULL");
    if (t == NULL)
        return vs__fail(VS_EINVAL, "vs_init_fill: tensor is NULL");
    rc = check(init, t->dtype, t->ndim, t->shape, &numel);
    if (rc != VS_OK)
        return rc;
    rc = vs_shape_check(t->dtype, t->ndim, t->shape, NULL, &nbytes);
    if (rc != VS_OK)
        return rc;
    if (t->data == NULL && nbytes > 0)
        return vs__fail(VS_EINVAL, "vs_init_fill: tensor data is NULL");
    if (numel == 0 || fill_fixed(init, t, numel, nbytes))
        return VS_OK;
    if (init->kind == VS_INIT_VARIANCE_SCALING) {
        plain = vs__variance_scaling_plain(init, t->ndim, t->shape);
        init = &plain;
    }
    memset(&j, 0, sizeof j);
    j.dtype = t->dtype;
    j.data = t->data;
    j.seed = (uint64_t)seed;
    j.seed2 = (uint64_t)seed2;
    if (seed == 0 && seed2 == 0)
        vs__rand_fresh_seeds(&j.seed, &j.seed2); /* TF: 0, 0 is random */
    if (init->kind == VS_INIT_ORTHOGONAL)
        return fill_orthogonal(init, t, j.seed, j.seed2, numel);
    rc = random_job(init, t, &j);
    if (rc != VS_OK)
        return rc;
    run_fill(&j, numel);
    return VS_OK;
}
