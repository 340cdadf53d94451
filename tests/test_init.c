/* Tests for ops/init.c: constructors, TF's fans and formulas (reference
 * section 4, cases 59-67), errors, dtypes, orthogonal and identity. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_int.h"
#include "support/vs_test.h"

#define assert_near(a, b, eps) \
    assert_near_at((double)(a), (double)(b), (double)(eps), __FILE__, __LINE__)
static void assert_near_at(double a, double b, double eps, const char *file,
                           int line)
{
    if (!(fabs(a - b) <= eps)) {
        print_error("%.17g != %.17g (+/- %g)\n", a, b, eps);
        _fail(file, line);
    }
}

static vs_tensor *new_t(vs_dtype d, int ndim, const int64_t *shape)
{
    vs_tensor *t = NULL;
    OK(vs_tensor_new(d, ndim, shape, &t));
    return t;
}

static vs_tensor *filled(const vs_init *in, vs_dtype d, int ndim,
                         const int64_t *shape, int64_t seed, int64_t seed2)
{
    vs_tensor *t = new_t(d, ndim, shape);
    int rc = vs_init_fill(in, t, seed, seed2);
    if (rc != VS_OK)
        print_error("vs_init_fill: %s\n", vs_errmsg());
    OK(rc);
    return t;
}

static void moments(const float *x, int64_t n, double *mean, double *sd)
{
    double s = 0, s2 = 0;
    int64_t i;
    for (i = 0; i < n; i++)
        s += x[i];
    *mean = s / (double)n;
    for (i = 0; i < n; i++)
        s2 += (x[i] - *mean) * (x[i] - *mean);
    *sd = sqrt(s2 / (double)(n - 1));
}

static double max_abs(const float *x, int64_t n)
{
    double m = 0;
    int64_t i;
    for (i = 0; i < n; i++)
        if (fabs(x[i]) > m)
            m = fabs(x[i]);
    return m;
}

/* Expected float32 uniform initializer output: TF's rnd * (max - min) +
 * min, all in float32, on the raw stream. */
static void expect_uniform(const float *got, int64_t n, double lo, double hi,
                           uint64_t seed, uint64_t seed2)
{
    float *u = malloc((size_t)n * sizeof *u);
    float flo = (float)lo, range = (float)hi - (float)lo;
    int64_t i;
    assert_non_null(u);
    vs__rand_uniform_f32(seed, seed2, 0, (size_t)n, u);
    for (i = 0; i < n; i++) {
        float t = u[i] * range;
        float want = t + flo;
        if (got[i] != want)
            print_error("element %lld: %.9g != %.9g\n", (long long)i,
                        (double)got[i], (double)want);
        assert_true(got[i] == want);
    }
    free(u);
}

/* Expected float32 (truncated) normal output: rnd * stddev + mean. */
static void expect_normal(const float *got, int64_t n, int truncated,
                          double mean, double stddev, uint64_t seed,
                          uint64_t seed2)
{
    float *u = malloc((size_t)n * sizeof *u);
    int64_t i;
    assert_non_null(u);
    if (truncated)
        vs__rand_truncated_f32(seed, seed2, 0, (size_t)n, u);
    else
        vs__rand_normal_f32(seed, seed2, 0, (size_t)n, u);
    for (i = 0; i < n; i++) {
        float t = u[i] * (float)stddev;
        float want = t + (float)mean;
        if (got[i] != want)
            print_error("element %lld: %.9g != %.9g\n", (long long)i,
                        (double)got[i], (double)want);
        assert_true(got[i] == want);
    }
    free(u);
}

static void test_init__constructors(void **state)
{
    vs_init a;
    static const double vals[2] = {1, 2};
    (void)state;
    a = vs_init_glorot_uniform(7);
    assert_int_equal(a.kind, VS_INIT_VARIANCE_SCALING);
    assert_true(a.a == 1.0);
    assert_int_equal(a.mode, VS_FAN_AVG);
    assert_int_equal(a.distribution, VS_DIST_UNIFORM);
    assert_int_equal(a.seed, 7);
    a = vs_init_glorot_normal(VS_NO_SEED);
    assert_int_equal(a.distribution, VS_DIST_TRUNCATED_NORMAL);
    assert_int_equal(a.seed, VS_NO_SEED);
    a = vs_init_he_normal(1);
    assert_true(a.a == 2.0);
    assert_int_equal(a.mode, VS_FAN_IN);
    assert_int_equal(a.distribution, VS_DIST_TRUNCATED_NORMAL);
    a = vs_init_he_uniform(1);
    assert_true(a.a == 2.0);
    assert_int_equal(a.distribution, VS_DIST_UNIFORM);
    a = vs_init_lecun_normal(1);
    assert_true(a.a == 1.0);
    assert_int_equal(a.mode, VS_FAN_IN);
    a = vs_init_lecun_uniform(1);
    assert_int_equal(a.distribution, VS_DIST_UNIFORM);
    a = vs_init_xavier(0, 3);
    assert_int_equal(a.kind, VS_INIT_XAVIER);
    assert_true(a.a == 1.0);
    assert_int_equal(a.mode, VS_FAN_AVG);
    assert_int_equal(a.distribution, VS_DIST_TRUNCATED_NORMAL);
    a = vs_init_xavier_conv2d(1, 3);
    assert_int_equal(a.kind, VS_INIT_XAVIER);
    assert_int_equal(a.distribution, VS_DIST_UNIFORM);
    a = vs_init_random_uniform(-1, 4, 9);
    assert_int_equal(a.kind, VS_INIT_RANDOM_UNIFORM);
    assert_true(a.a == -1 && a.b == 4);
    a = vs_init_truncated_normal(1, 2, 9);
    assert_int_equal(a.kind, VS_INIT_TRUNCATED_NORMAL);
    assert_true(a.a == 1 && a.b == 2);
    a = vs_init_constant_values(vals, 2);
    assert_int_equal(a.kind, VS_INIT_CONSTANT);
    assert_ptr_equal(a.values, vals);
    assert_int_equal(a.n_values, 2);
    a = vs_init_constant(3.5);
    assert_null(a.values);
    assert_true(a.a == 3.5);
    a = vs_init_identity(2);
    assert_int_equal(a.kind, VS_INIT_IDENTITY);
    assert_true(a.a == 2);
    a = vs_init_orthogonal(1.5, 4);
    assert_int_equal(a.kind, VS_INIT_ORTHOGONAL);
    assert_true(a.a == 1.5);
}

/* Case 60: glorot_uniform on [3,5] lies in [-sqrt(6/8), sqrt(6/8)); and
 * it is exactly TF's formula on the uniform stream. */
static void test_init__glorot_uniform_bounds(void **state)
{
    int64_t s[2] = {3, 5};
    int64_t big[2] = {300, 500};
    vs_init in = vs_init_glorot_uniform(1);
    double lim = sqrt(6.0 / 8.0);
    vs_tensor *t;
    int64_t i;
    (void)state;
    t = filled(&in, VS_FLOAT32, 2, s, 87654321, 1);
    for (i = 0; i < 15; i++)
        assert_true(fabs(((float *)t->data)[i]) <= (float)lim);
    expect_uniform(t->data, 15, -lim, lim, 87654321, 1);
    vs_tensor_free(t);
    lim = sqrt(6.0 / 800.0);
    t = filled(&in, VS_FLOAT32, 2, big, 5, 6);
    assert_true(max_abs(t->data, 150000) <= (float)lim);
    assert_true(max_abs(t->data, 150000) > 0.999 * lim);
    vs_tensor_free(t);
}

/* Case 61: conv filter [3,3,16,32]: fan_in 144, fan_out 288,
 * limit sqrt(6/432) = 0.11785. */
static void test_init__glorot_uniform_conv(void **state)
{
    int64_t s[4] = {3, 3, 16, 32};
    vs_init in = vs_init_glorot_uniform(1);
    double lim = sqrt(6.0 / 432.0);
    vs_tensor *t;
    (void)state;
    assert_near(lim, 0.11785, 1e-5);
    t = filled(&in, VS_FLOAT32, 4, s, 1, 2);
    assert_true(max_abs(t->data, 4608) <= (float)lim);
    assert_true(max_abs(t->data, 4608) > 0.99 * lim);
    expect_uniform(t->data, 4608, -lim, lim, 1, 2);
    vs_tensor_free(t);
}

/* Case 62: contrib xavier normal on [100,200]: truncated normal with stddev
 * parameter sqrt(2.6/300) = 0.09309; the _conv2d variant is identical. */
static void test_init__xavier_normal(void **state)
{
    int64_t s[2] = {100, 200};
    vs_init in = vs_init_xavier(0, 1);
    vs_init in2 = vs_init_xavier_conv2d(0, 1);
    double sd_param = sqrt(2.6 / 300.0), m, sd;
    vs_tensor *t, *t2;
    (void)state;
    assert_near(sd_param, 0.09309, 1e-5);
    t = filled(&in, VS_FLOAT32, 2, s, 10, 20);
    t2 = filled(&in2, VS_FLOAT32, 2, s, 10, 20);
    assert_memory_equal(t->data, t2->data, 20000 * sizeof(float));
    assert_true(max_abs(t->data, 20000) < 2 * sd_param);
    moments(t->data, 20000, &m, &sd);
    assert_near(m, 0.0, 0.003);
    assert_near(sd, sd_param * 0.87962566103423978, 0.002);
    expect_normal(t->data, 20000, 1, 0.0, sd_param, 10, 20);
    vs_tensor_free(t);
    vs_tensor_free(t2);
}

static void test_init__xavier_uniform_and_fans(void **state)
{
    int64_t conv[4] = {5, 5, 3, 8};
    int64_t vec[1] = {10};
    vs_init in = vs_init_xavier(1, 1);
    vs_tensor *t;
    (void)state;
    /* [h,w,in,out]: fan_in = 75, fan_out = 200 -> L = sqrt(6/275) */
    t = filled(&in, VS_FLOAT32, 4, conv, 3, 4);
    expect_uniform(t->data, 600, -sqrt(6.0 / 275.0), sqrt(6.0 / 275.0), 3,
                   4);
    vs_tensor_free(t);
    /* rank 1: fan_in = fan_out = 10 */
    t = filled(&in, VS_FLOAT32, 1, vec, 3, 4);
    expect_uniform(t->data, 10, -sqrt(3.0 / 10.0), sqrt(3.0 / 10.0), 3, 4);
    vs_tensor_free(t);
}

/* Case 63: VarianceScaling(2, fan_in, truncated_normal) on [50,10]:
 * stddev parameter sqrt(2/50)/0.8796... = 0.22737. */
static void test_init__variance_scaling_truncated_stddev(void **state)
{
    int64_t s[2] = {50, 10};
    vs_init in = vs_init_variance_scaling(2.0, VS_FAN_IN,
                                          VS_DIST_TRUNCATED_NORMAL, 5);
    double p = sqrt(2.0 / 50.0) / 0.87962566103423978, m, sd;
    vs_tensor *t;
    (void)state;
    assert_near(p, 0.22737, 1e-5);
    t = filled(&in, VS_FLOAT32, 2, s, 1, 5);
    assert_true(max_abs(t->data, 500) < 2 * p);
    moments(t->data, 500, &m, &sd);
    assert_near(sd, 0.2, 0.03);
    expect_normal(t->data, 500, 1, 0.0, p, 1, 5);
    vs_tensor_free(t);
    /* VS_DIST_NORMAL is the same as truncated normal in 1.15 */
    in.distribution = VS_DIST_NORMAL;
    t = filled(&in, VS_FLOAT32, 2, s, 1, 5);
    expect_normal(t->data, 500, 1, 0.0, p, 1, 5);
    vs_tensor_free(t);
    /* untruncated normal: stddev sqrt(v), no correction */
    in.distribution = VS_DIST_UNTRUNCATED_NORMAL;
    t = filled(&in, VS_FLOAT32, 2, s, 1, 5);
    expect_normal(t->data, 500, 0, 0.0, sqrt(2.0 / 50.0), 1, 5);
    vs_tensor_free(t);
}

/* Case 64: shape [] gives fans (1, 1); [7] gives 7, 7; n = max(1, ...). */
static void test_init__variance_scaling_small_fans(void **state)
{
    int64_t seven[1] = {7};
    int64_t zero[2] = {0, 0};
    int64_t fan_out_only[2] = {4, 9};
    vs_init in = vs_init_variance_scaling(1.0, VS_FAN_IN, VS_DIST_UNIFORM, 1);
    vs_tensor *t;
    (void)state;
    t = filled(&in, VS_FLOAT32, 0, NULL, 8, 9);
    expect_uniform(t->data, 1, -sqrt(3.0), sqrt(3.0), 8, 9);
    vs_tensor_free(t);
    t = filled(&in, VS_FLOAT32, 1, seven, 8, 9);
    expect_uniform(t->data, 7, -sqrt(3.0 / 7.0), sqrt(3.0 / 7.0), 8, 9);
    vs_tensor_free(t);
    in.mode = VS_FAN_OUT;
    in.a = 3.0;
    t = filled(&in, VS_FLOAT32, 2, fan_out_only, 8, 9);
    expect_uniform(t->data, 36, -sqrt(9.0 / 9.0), sqrt(9.0 / 9.0), 8, 9);
    vs_tensor_free(t);
    /* zero elements: nothing to fill, no error (n = max(1, 0)) */
    t = filled(&in, VS_FLOAT32, 2, zero, 8, 9);
    vs_tensor_free(t);
}

/* Case 65: truncated_normal(mean=1, stddev=2) lies in (-3, 5). */
static void test_init__truncated_normal_bounds(void **state)
{
    int64_t s[1] = {100000};
    vs_init in = vs_init_truncated_normal(1.0, 2.0, 3);
    vs_tensor *t;
    double m, sd;
    int64_t i;
    (void)state;
    t = filled(&in, VS_FLOAT32, 1, s, 4, 3);
    for (i = 0; i < 100000; i++) {
        float v = ((float *)t->data)[i];
        assert_true(v > -3.0f && v < 5.0f);
    }
    moments(t->data, 100000, &m, &sd);
    assert_near(m, 1.0, 0.03);
    assert_near(sd, 2 * 0.87962566103423978, 0.03);
    vs_tensor_free(t);
}

static void test_init__random_normal_and_uniform_moments(void **state)
{
    int64_t s[2] = {400, 250};
    vs_init nrm = vs_init_random_normal(0.5, 3.0, 1);
    vs_init uni = vs_init_random_uniform(-2.0, 6.0, 1);
    vs_tensor *t;
    double m, sd;
    int64_t i;
    (void)state;
    t = filled(&nrm, VS_FLOAT32, 2, s, 17, 1);
    moments(t->data, 100000, &m, &sd);
    assert_near(m, 0.5, 0.05);
    assert_near(sd, 3.0, 0.05);
    expect_normal(t->data, 100000, 0, 0.5, 3.0, 17, 1);
    vs_tensor_free(t);
    t = filled(&uni, VS_FLOAT32, 2, s, 17, 1);
    for (i = 0; i < 100000; i++) {
        float v = ((float *)t->data)[i];
        assert_true(v >= -2.0f && v < 6.0f);
    }
    moments(t->data, 100000, &m, &sd);
    assert_near(m, 2.0, 0.04);
    assert_near(sd, 8.0 / sqrt(12.0), 0.04);
    vs_tensor_free(t);
}

static float rh(float x)
{
    return vs_half_to_float(vs_float_to_half(x));
}

static float rb(float x)
{
    return vs_bfloat16_to_float(vs_float_to_bfloat16(x));
}

/* float64 uses the double kernels. float16/bfloat16 follow TF: the normal
 * kernels round the float32 sample, then * stddev and + mean are each
 * rounded to the 16-bit type. */
static void test_init__other_float_dtypes(void **state)
{
    int64_t s[2] = {33, 17};
    vs_init in = vs_init_random_normal(0.5, 3.0, 1);
    vs_tensor *f16, *b16, *f64;
    double *raw;
    float *raw32;
    int64_t i;
    (void)state;
    f16 = filled(&in, VS_FLOAT16, 2, s, 2, 3);
    b16 = filled(&in, VS_BFLOAT16, 2, s, 2, 3);
    f64 = filled(&in, VS_FLOAT64, 2, s, 2, 3);
    raw = malloc(561 * sizeof *raw);
    raw32 = malloc(561 * sizeof *raw32);
    assert_non_null(raw);
    assert_non_null(raw32);
    vs__rand_normal_f64(2, 3, 0, 561, raw);
    vs__rand_normal_f32(2, 3, 0, 561, raw32);
    for (i = 0; i < 561; i++) {
        float h = rh(rh(rh(raw32[i]) * 3.0f) + 0.5f);
        float b = rb(rb(rb(raw32[i]) * 3.0f) + 0.5f);
        assert_int_equal(((uint16_t *)f16->data)[i], vs_float_to_half(h));
        assert_int_equal(((uint16_t *)b16->data)[i], vs_float_to_bfloat16(b));
        assert_true(((double *)f64->data)[i] == raw[i] * 3.0 + 0.5);
    }
    free(raw);
    free(raw32);
    vs_tensor_free(f16);
    vs_tensor_free(b16);
    vs_tensor_free(f64);
}

/* TF's 16-bit uniform kernels: 10 (half) or 7 (bfloat16) mantissa bits
 * from the low bits of each 32-bit Philox word, then (max - min) and the
 * affine steps in 16-bit arithmetic. Values stay in [min, max). */
static void test_init__uniform_16bit(void **state)
{
    int64_t s[1] = {1001};
    vs_init in = vs_init_random_uniform(-1.0, 3.0, 1);
    vs_tensor *f16, *b16;
    int64_t i;
    (void)state;
    f16 = filled(&in, VS_FLOAT16, 1, s, 4, 5);
    b16 = filled(&in, VS_BFLOAT16, 1, s, 4, 5);
    for (i = 0; i < 1001; i++) {
        uint32_t ctr[4] = {(uint32_t)(i / 4), 0, 5, 0}, key[2] = {4, 0};
        uint32_t w[4];
        float uh, ub, h, b;
        vs__philox4x32_10(ctr, key, w);
        uh = (float)(w[i % 4] & 0x3ffu) / 1024.0f;
        ub = (float)(w[i % 4] & 0x7fu) / 128.0f;
        h = rh(rh(uh * 4.0f) - 1.0f);
        b = rb(rb(ub * 4.0f) - 1.0f);
        assert_int_equal(((uint16_t *)f16->data)[i], vs_float_to_half(h));
        assert_int_equal(((uint16_t *)b16->data)[i], vs_float_to_bfloat16(b));
        assert_true(h >= -1.0f && h < 3.0f);
        assert_true(b >= -1.0f && b < 3.0f);
    }
    vs_tensor_free(f16);
    vs_tensor_free(b16);
}

/* Case 67: a list constant is padded with its last element; too many
 * values is TF's error. */
static void test_init__constant_list(void **state)
{
    static const double v8[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    int64_t s34[2] = {3, 4}, s23[2] = {2, 3};
    vs_init in = vs_init_constant_values(v8, 8);
    vs_tensor *t;
    const float *f;
    int i;
    (void)state;
    t = filled(&in, VS_FLOAT32, 2, s34, 1, 1);
    f = t->data;
    for (i = 0; i < 8; i++)
        assert_true(f[i] == (float)i);
    for (i = 8; i < 12; i++)
        assert_true(f[i] == 7.0f);
    vs_tensor_free(t);
    t = new_t(VS_FLOAT32, 2, s23);
    assert_int_equal(vs_init_fill(&in, t, 1, 1), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "Too many elements provided. Needed at "
                                     "most 6, but received 8");
    vs_tensor_free(t);
    assert_int_equal(vs__init_validate(&in, VS_FLOAT32, 2, s23), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "Too many elements provided. Needed at "
                                     "most 6, but received 8");
    OK(vs__init_validate(&in, VS_FLOAT32, 2, s34));
    /* ints */
    t = filled(&in, VS_INT64, 2, s34, 1, 1);
    assert_int_equal(((int64_t *)t->data)[3], 3);
    assert_int_equal(((int64_t *)t->data)[11], 7);
    vs_tensor_free(t);
    {
        /* review: a shape with no elements takes any constant, as TF's
         * make_tensor_proto (np.empty) does: no "Too many elements", no
         * int check */
        int64_t s30[2] = {3, 0};
        vs_init frac = vs_init_constant(1.5);
        OK(vs__init_validate(&in, VS_FLOAT32, 2, s30));
        OK(vs__init_validate(&in, VS_INT32, 2, s30));
        OK(vs__init_validate(&frac, VS_INT32, 2, s30));
        t = filled(&in, VS_FLOAT32, 2, s30, 1, 1);
        vs_tensor_free(t);
    }
}

static void test_init__constant_scalar_dtypes(void **state)
{
    int64_t s[1] = {5};
    vs_init c = vs_init_constant(-3.0);
    vs_init half = vs_init_constant(0.5);
    vs_init two = vs_init_constant(2.0);
    vs_tensor *t;
    int i;
    (void)state;
    t = filled(&c, VS_INT8, 1, s, 1, 1);
    for (i = 0; i < 5; i++)
        assert_int_equal(((int8_t *)t->data)[i], -3);
    vs_tensor_free(t);
    t = filled(&c, VS_FLOAT16, 1, s, 1, 1);
    for (i = 0; i < 5; i++)
        assert_int_equal(((uint16_t *)t->data)[i], 0xc200);
    vs_tensor_free(t);
    /* one rounding from double, as numpy: just above a float16 tie rounds
     * up (through float it would be a tie, rounding to even = down) */
    {
        vs_init up = vs_init_constant(1.0 + ldexp(1.0, -11) + ldexp(1.0, -40));
        vs_init upb = vs_init_constant(1.0 + ldexp(1.0, -8) + ldexp(1.0, -40));
        t = filled(&up, VS_FLOAT16, 0, NULL, 1, 1);
        assert_int_equal(*(uint16_t *)t->data, 0x3c01);
        vs_tensor_free(t);
        t = filled(&upb, VS_BFLOAT16, 0, NULL, 1, 1);
        assert_int_equal(*(uint16_t *)t->data, 0x3f81);
        vs_tensor_free(t);
    }
    t = filled(&c, VS_FLOAT64, 0, NULL, 1, 1);
    assert_true(*(double *)t->data == -3.0);
    vs_tensor_free(t);
    assert_int_equal(vs__init_validate(&half, VS_INT32, 1, s), VS_EINVAL);
    assert_string_equal(vs_errmsg(),
                        "Expected int32, got 0.5 of type 'float' instead.");
    assert_int_equal(vs__init_validate(&c, VS_UINT8, 1, s), VS_EINVAL);
    assert_string_equal(vs_errmsg(),
                        "Expected uint8, got -3.0 of type 'float' instead.");
    assert_int_equal(vs__init_validate(&two, VS_BOOL, 1, s), VS_EINVAL);
    assert_string_equal(vs_errmsg(),
                        "Expected bool, got 2.0 of type 'float' instead.");
}

static void test_init__zeros_ones_every_dtype(void **state)
{
    static const vs_dtype all[] = {VS_FLOAT32, VS_FLOAT64, VS_FLOAT16,
                                   VS_BFLOAT16, VS_INT8, VS_UINT8,
                                   VS_INT32, VS_INT64, VS_BOOL};
    int64_t s[2] = {3, 7};
    vs_init z = vs_init_zeros(), o = vs_init_ones();
    size_t k;
    int i;
    (void)state;
    for (k = 0; k < sizeof all / sizeof all[0]; k++) {
        vs_tensor *t = new_t(all[k], 2, s);
        size_t es = vs_dtype_size(all[k]);
        unsigned char one[8] = {0};
        memset(t->data, 0xab, vs_tensor_nbytes(t));
        OK(vs_init_fill(&z, t, 0, 0));
        for (i = 0; i < (int)vs_tensor_nbytes(t); i++)
            assert_int_equal(((unsigned char *)t->data)[i], 0);
        OK(vs_init_fill(&o, t, 0, 0));
        switch (all[k]) {
        case VS_FLOAT32: { float v = 1; memcpy(one, &v, 4); break; }
        case VS_FLOAT64: { double v = 1; memcpy(one, &v, 8); break; }
        case VS_FLOAT16: { uint16_t v = 0x3c00; memcpy(one, &v, 2); break; }
        case VS_BFLOAT16: { uint16_t v = 0x3f80; memcpy(one, &v, 2); break; }
        case VS_INT32: { int32_t v = 1; memcpy(one, &v, 4); break; }
        case VS_INT64: { int64_t v = 1; memcpy(one, &v, 8); break; }
        default: one[0] = 1; break;
        }
        for (i = 0; i < 21; i++)
            assert_memory_equal((char *)t->data + (size_t)i * es, one, es);
        vs_tensor_free(t);
    }
}

static void test_init__floating_only_errors(void **state)
{
    int64_t s[2] = {4, 4};
    vs_init inits[6];
    size_t k;
    (void)state;
    inits[0] = vs_init_random_normal(0, 1, 1);
    inits[1] = vs_init_truncated_normal(0, 1, 1);
    inits[2] = vs_init_glorot_uniform(1);
    inits[3] = vs_init_he_normal(1);
    inits[4] = vs_init_orthogonal(1, 1);
    inits[5] = vs_init_identity(1);
    for (k = 0; k < 6; k++) {
        vs_tensor *t = new_t(VS_INT32, 2, s);
        assert_int_equal(vs_init_fill(&inits[k], t, 1, 1), VS_EINVAL);
        assert_string_equal(vs_errmsg(), "Expected floating point type, got "
                                         "<dtype: 'int32'>.");
        vs_tensor_free(t);
        assert_int_equal(vs__init_validate(&inits[k], VS_BOOL, 2, s),
                         VS_EINVAL);
        assert_string_equal(vs_errmsg(), "Expected floating point type, got "
                                         "<dtype: 'bool'>.");
    }
    /* contrib's xavier says it its own way */
    inits[0] = vs_init_xavier(1, 1);
    assert_int_equal(vs__init_validate(&inits[0], VS_INT64, 2, s), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "Cannot create initializer for "
                                     "non-floating point type.");
}

static void test_init__random_uniform_ints(void **state)
{
    int64_t s[1] = {5000};
    vs_init in = vs_init_random_uniform(-5, 5, 1);
    vs_init bad = vs_init_random_uniform(3, 3, 1);
    vs_init frac = vs_init_random_uniform(0.5, 3, 1);
    vs_tensor *t;
    int seen[10] = {0};
    int i;
    int32_t *raw = malloc(5000 * sizeof *raw);
    (void)state;
    assert_non_null(raw);
    t = filled(&in, VS_INT32, 1, s, 6, 7);
    vs__rand_uniform_i32(6, 7, 0, 5000, -5, 5, raw);
    assert_memory_equal(t->data, raw, 5000 * sizeof *raw);
    for (i = 0; i < 5000; i++) {
        int32_t v = ((int32_t *)t->data)[i];
        assert_true(v >= -5 && v < 5);
        seen[v + 5] = 1;
    }
    for (i = 0; i < 10; i++)
        assert_true(seen[i]);
    vs_tensor_free(t);
    free(raw);
    t = filled(&in, VS_INT64, 1, s, 6, 7);
    for (i = 0; i < 5000; i++) {
        int64_t v = ((int64_t *)t->data)[i];
        assert_true(v >= -5 && v < 5);
    }
    vs_tensor_free(t);
    assert_int_equal(vs__init_validate(&bad, VS_INT32, 1, s), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "Need minval < maxval: 3 >= 3");
    OK(vs__init_validate(&bad, VS_FLOAT32, 1, s));
    assert_int_equal(vs__init_validate(&frac, VS_INT64, 1, s), VS_EINVAL);
    /* review: TF's convert_to_tensor text for a fractional bound, and
     * random_ops.random_uniform's own dtype check (before any op) */
    assert_string_equal(vs_errmsg(),
                        "Expected int64, got 0.5 of type 'float' instead.");
    assert_int_equal(vs__init_validate(&in, VS_INT8, 1, s), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "Invalid dtype <dtype: 'int8'>");
    assert_int_equal(vs__init_validate(&in, VS_UINT8, 1, s), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "Invalid dtype <dtype: 'uint8'>");
    assert_int_equal(vs__init_validate(&in, VS_BOOL, 1, s), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "Invalid dtype <dtype: 'bool'>");
}

static void test_init__variance_scaling_errors(void **state)
{
    int64_t s[2] = {2, 2};
    vs_init in = vs_init_variance_scaling(0.0, VS_FAN_IN, VS_DIST_UNIFORM, 1);
    vs_tensor *t = new_t(VS_FLOAT32, 2, s);
    (void)state;
    ((float *)t->data)[0] = 42.0f;
    assert_int_equal(vs_init_fill(&in, t, 1, 1), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "`scale` must be positive float.");
    assert_true(((float *)t->data)[0] == 42.0f); /* untouched */
    in.a = -1.0;
    assert_int_equal(vs__init_validate(&in, VS_FLOAT32, 2, s), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "`scale` must be positive float.");
    in.a = 1.0;
    in.mode = 7;
    assert_int_equal(vs__init_validate(&in, VS_FLOAT32, 2, s), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "('Invalid `mode` argument:', 7)");
    in.mode = VS_FAN_AVG;
    in.distribution = 9;
    assert_int_equal(vs__init_validate(&in, VS_FLOAT32, 2, s), VS_EINVAL);
    assert_string_equal(vs_errmsg(),
                        "('Invalid `distribution` argument:', 9)");
    vs_tensor_free(t);
}

static void test_init__xavier_zero_fans(void **state)
{
    int64_t s[2] = {0, 0};
    vs_init in = vs_init_xavier(1, 1);
    (void)state;
    assert_int_equal(vs__init_validate(&in, VS_FLOAT32, 2, s), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "float division by zero");
}

/* Q^T Q = I (tall) or Q Q^T = I (wide), within 1e-5, times gain^2. */
static void check_orthogonal(const float *q, int64_t rows, int64_t cols,
                             double gain)
{
    int64_t i, j, k;
    if (rows >= cols) {
        for (i = 0; i < cols; i++)
            for (j = 0; j < cols; j++) {
                double s = 0;
                for (k = 0; k < rows; k++)
                    s += (double)q[k * cols + i] * q[k * cols + j];
                assert_near(s, i == j ? gain * gain : 0.0, 1e-5);
            }
    } else {
        for (i = 0; i < rows; i++)
            for (j = 0; j < rows; j++) {
                double s = 0;
                for (k = 0; k < cols; k++)
                    s += (double)q[i * cols + k] * q[j * cols + k];
                assert_near(s, i == j ? gain * gain : 0.0, 1e-5);
            }
    }
}

static void test_init__orthogonal(void **state)
{
    int64_t tall[2] = {64, 32}, wide[2] = {32, 64}, conv[3] = {4, 4, 8};
    int64_t sq[2] = {16, 16};
    int64_t vec[1] = {8};
    vs_init in = vs_init_orthogonal(1.0, 1);
    vs_init g2 = vs_init_orthogonal(2.0, 1);
    vs_tensor *t, *t64;
    int64_t i;
    (void)state;
    t = filled(&in, VS_FLOAT32, 2, tall, 3, 4);
    check_orthogonal(t->data, 64, 32, 1.0);
    vs_tensor_free(t);
    t = filled(&in, VS_FLOAT32, 2, wide, 3, 4);
    check_orthogonal(t->data, 32, 64, 1.0);
    vs_tensor_free(t);
    t = filled(&g2, VS_FLOAT32, 3, conv, 3, 4);
    check_orthogonal(t->data, 16, 8, 2.0);
    vs_tensor_free(t);
    /* float64 agrees with float32 to float precision on a square matrix
     * only in distribution, not values (different kernels): check both
     * are orthogonal, and that a double result is orthogonal to 1e-12 */
    t64 = filled(&in, VS_FLOAT64, 2, sq, 3, 4);
    for (i = 0; i < 16; i++) {
        double s = 0;
        int64_t k;
        for (k = 0; k < 16; k++)
            s += ((double *)t64->data)[k * 16 + i] *
                 ((double *)t64->data)[k * 16 + i];
        assert_near(s, 1.0, 1e-12);
    }
    vs_tensor_free(t64);
    /* sign correction makes the result a function of the normal draw:
     * Q R = A with R's diagonal positive, so the first column of Q is
     * the first column of A, normalized */
    {
        float *a = malloc(64 * 32 * sizeof *a);
        double norm = 0;
        assert_non_null(a);
        vs__rand_normal_f32(3, 4, 0, 64 * 32, a);
        t = filled(&in, VS_FLOAT32, 2, tall, 3, 4);
        for (i = 0; i < 64; i++)
            norm += (double)a[i * 32] * a[i * 32];
        norm = sqrt(norm);
        for (i = 0; i < 64; i++)
            assert_near(((float *)t->data)[i * 32], a[i * 32] / norm, 1e-6);
        vs_tensor_free(t);
        free(a);
    }
    assert_int_equal(vs__init_validate(&in, VS_FLOAT32, 1, vec), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "The tensor to initialize must be at "
                                     "least two-dimensional");
}

static void test_init__identity(void **state)
{
    int64_t s[2] = {3, 4}, s3[3] = {2, 2, 2};
    vs_init in = vs_init_identity(2.5);
    vs_tensor *t;
    int r, c;
    (void)state;
    t = filled(&in, VS_FLOAT32, 2, s, 1, 1);
    for (r = 0; r < 3; r++)
        for (c = 0; c < 4; c++)
            assert_true(((float *)t->data)[r * 4 + c] ==
                        (r == c ? 2.5f : 0.0f));
    vs_tensor_free(t);
    assert_int_equal(vs__init_validate(&in, VS_FLOAT32, 3, s3), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "Identity matrix initializer can only "
                                     "be used for 2D matrices.");
}

static void test_init__determinism_and_seeds(void **state)
{
    int64_t s[2] = {64, 64};
    vs_init in = vs_init_glorot_normal(1);
    vs_tensor *a, *b;
    (void)state;
    a = filled(&in, VS_FLOAT32, 2, s, 87654321, 5);
    b = filled(&in, VS_FLOAT32, 2, s, 87654321, 5);
    assert_memory_equal(a->data, b->data, 4096 * sizeof(float));
    vs_tensor_free(b);
    b = filled(&in, VS_FLOAT32, 2, s, 87654321, 6);
    assert_memory_not_equal(a->data, b->data, 4096 * sizeof(float));
    vs_tensor_free(b);
    /* (0, 0) means random seeds, as TF's kernels */
    vs_tensor_free(a);
    a = filled(&in, VS_FLOAT32, 2, s, 0, 0);
    b = filled(&in, VS_FLOAT32, 2, s, 0, 0);
    assert_memory_not_equal(a->data, b->data, 4096 * sizeof(float));
    vs_tensor_free(a);
    vs_tensor_free(b);
}

/* Big tensors are filled by several threads; the bytes must equal the
 * single-range stream. */
static void test_init__parallel_fill_matches_stream(void **state)
{
    int64_t s[1] = {(1 << 21) + 3};
    vs_init tn = vs_init_truncated_normal(0.25, 0.5, 1);
    vs_init un = vs_init_random_uniform(-1, 1, 1);
    vs_tensor *t;
    (void)state;
    t = filled(&tn, VS_FLOAT32, 1, s, 99, 100);
    expect_normal(t->data, s[0], 1, 0.25, 0.5, 99, 100);
    vs_tensor_free(t);
    t = filled(&un, VS_FLOAT32, 1, s, 99, 100);
    expect_uniform(t->data, s[0], -1, 1, 99, 100);
    vs_tensor_free(t);
}

static void test_init__null_and_bad_arguments(void **state)
{
    int64_t s[1] = {3};
    vs_init in = vs_init_zeros();
    vs_init none;
    vs_tensor *t = new_t(VS_FLOAT32, 1, s);
    (void)state;
    memset(&none, 0, sizeof none);
    assert_int_equal(vs_init_fill(NULL, t, 1, 1), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "vs_init_fill: init is NULL");
    assert_int_equal(vs_init_fill(&in, NULL, 1, 1), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "vs_init_fill: tensor is NULL");
    assert_int_equal(vs_init_fill(&none, t, 1, 1), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "no initializer given (VS_INIT_NONE)");
    none.kind = 99;
    assert_int_equal(vs__init_validate(&none, VS_FLOAT32, 1, s), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "unknown initializer kind 99");
    assert_int_equal(vs__init_validate(NULL, VS_FLOAT32, 1, s), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "initializer is NULL");
    s[0] = -1;
    assert_int_equal(vs__init_validate(&in, VS_FLOAT32, 1, s), VS_EINVAL);
    assert_string_equal(vs_errmsg(),
                        "dimension 0 of shape (?,) is negative (-1)");
    vs__aligned_free(t->data);
    t->data = NULL;
    assert_int_equal(vs_init_fill(&in, t, 1, 1), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "vs_init_fill: tensor data is NULL");
    vs_tensor_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init__constructors),
        cmocka_unit_test(test_init__glorot_uniform_bounds),
        cmocka_unit_test(test_init__glorot_uniform_conv),
        cmocka_unit_test(test_init__xavier_normal),
        cmocka_unit_test(test_init__xavier_uniform_and_fans),
        cmocka_unit_test(test_init__variance_scaling_truncated_stddev),
        cmocka_unit_test(test_init__variance_scaling_small_fans),
        cmocka_unit_test(test_init__truncated_normal_bounds),
        cmocka_unit_test(test_init__random_normal_and_uniform_moments),
        cmocka_unit_test(test_init__other_float_dtypes),
        cmocka_unit_test(test_init__uniform_16bit),
        cmocka_unit_test(test_init__constant_list),
        cmocka_unit_test(test_init__constant_scalar_dtypes),
        cmocka_unit_test(test_init__zeros_ones_every_dtype),
        cmocka_unit_test(test_init__floating_only_errors),
        cmocka_unit_test(test_init__random_uniform_ints),
        cmocka_unit_test(test_init__variance_scaling_errors),
        cmocka_unit_test(test_init__xavier_zero_fans),
        cmocka_unit_test(test_init__orthogonal),
        cmocka_unit_test(test_init__identity),
        cmocka_unit_test(test_init__determinism_and_seeds),
        cmocka_unit_test(test_init__parallel_fill_matches_stream),
        cmocka_unit_test(test_init__null_and_bad_arguments),
    };
    return cmocka_run_group_tests_name("init", tests, NULL, NULL);
}
