/* Tests for ops/random.c: Philox4x32-10 known answers, TF's seeding and
 * counter layout, conversions, range independence, moments. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_int.h"

/* |a - b| <= eps in double (cmocka's assert_float_equal is float only). */
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

/* Random123's kat_vectors, the three "philox4x32 10" lines (counter[4],
 * key[2] -> output[4]); TF's PhiloxRandom is the same function. */
static void test_random__philox_known_answers(void **state)
{
    static const struct {
        uint32_t ctr[4], key[2], want[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0},
         {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
        {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
         {0xffffffffu, 0xffffffffu},
         {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
        {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
         {0xa4093822u, 0x299f31d0u},
         {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
    };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        uint32_t out[4];
        vs__philox4x32_10(kat[i].ctr, kat[i].key, out);
        assert_memory_equal(out, kat[i].want, sizeof out);
    }
}

static void test_random__seeding_layout(void **state)
{
    vs__philox p;
    uint32_t a[4], b[4];
    (void)state;
    vs__philox_init(&p, 0x1122334455667788ULL, 0x99aabbccddeeff00ULL);
    assert_int_equal(p.key[0], 0x55667788u);
    assert_int_equal(p.key[1], 0x11223344u);
    assert_int_equal(p.ctr[0], 0);
    assert_int_equal(p.ctr[1], 0);
    assert_int_equal(p.ctr[2], 0xddeeff00u);
    assert_int_equal(p.ctr[3], 0x99aabbccu);
    /* next = the block function at the counter, then counter + 1 */
    {
        uint32_t ctr[4] = {0, 0, 0xddeeff00u, 0x99aabbccu};
        vs__philox4x32_10(ctr, p.key, a);
        vs__philox_next(&p, b);
        assert_memory_equal(a, b, sizeof a);
        assert_int_equal(p.ctr[0], 1);
    }
}

static void test_random__counter_carry_and_skip(void **state)
{
    vs__philox p, q;
    uint32_t a[4], b[4];
    int i;
    (void)state;
    vs__philox_init(&p, 5, 0);
    p.ctr[0] = 0xffffffffu;
    p.ctr[1] = 0xffffffffu;
    vs__philox_next(&p, a);
    assert_int_equal(p.ctr[0], 0);
    assert_int_equal(p.ctr[1], 0);
    assert_int_equal(p.ctr[2], 1);

    /* skip(n) == n calls of next */
    vs__philox_init(&p, 77, 88);
    vs__philox_init(&q, 77, 88);
    for (i = 0; i < 13; i++)
        vs__philox_next(&p, a);
    vs__philox_skip(&q, 13);
    vs__philox_next(&p, a);
    vs__philox_next(&q, b);
    assert_memory_equal(a, b, sizeof a);

    /* skip carries from word 0 into word 1 and from word 1 into word 2 */
    vs__philox_init(&q, 1, 0);
    q.ctr[0] = 0xfffffff0u;
    vs__philox_skip(&q, 0x20);
    assert_int_equal(q.ctr[0], 0x10);
    assert_int_equal(q.ctr[1], 1);
    q.ctr[1] = 0xffffffffu;
    vs__philox_skip(&q, 0x100000000ULL);
    assert_int_equal(q.ctr[1], 0);
    assert_int_equal(q.ctr[2], 1);
}

static void test_random__conversions(void **state)
{
    float f0, f1;
    double d0, d1;
    (void)state;
    assert_true(vs__uint32_to_float(0) == 0.0f);
    assert_true(vs__uint32_to_float(0x7fffffu) == 1.0f - ldexpf(1.0f, -23));
    assert_true(vs__uint32_to_float(0xff800000u) == 0.0f); /* high bits unused */
    assert_true(vs__uint32_to_float(0x400000u) == 0.5f);
    assert_true(vs__uint64_to_double(0, 0) == 0.0);
    assert_true(vs__uint64_to_double(0xfffffu, 0xffffffffu) ==
                1.0 - ldexp(1.0, -52));
    assert_true(vs__uint64_to_double(0xfff80000u, 0) == 0.5);
    /* u1 = 0.5, angle 0: (0, sqrt(2 ln 2)) */
    vs__box_muller_float(0x400000u, 0, &f0, &f1);
    assert_true(f0 == 0.0f);
    assert_near(f1, sqrt(2.0 * log(2.0)), 1e-6);
    /* u1 = 0 is clamped to 1e-7 */
    vs__box_muller_float(0, 0, &f0, &f1);
    assert_near(f1, sqrt(-2.0 * log(1e-7)), 1e-4);
    /* angle pi/2 (u = 0.25): (r, ~0) */
    vs__box_muller_double(0x80000u, 0, 0x40000u, 0, &d0, &d1);
    assert_near(d0, sqrt(2.0 * log(2.0)), 1e-12);
    assert_near(d1, 0.0, 1e-12);
}

/* The uniform stream is TF's: element k is word k % 4 of the block at
 * counter {k / 4, 0, seed2 lo, seed2 hi}, key {seed lo, seed hi}. */
static void test_random__uniform_stream_layout(void **state)
{
    const uint64_t seed = 0x0000000100000002ULL, seed2 = 0x0000000300000004ULL;
    float f[12];
    double d[6];
    int32_t i32[8];
    int64_t i64[4];
    uint32_t key[2] = {2, 1};
    int k;
    (void)state;
    vs__rand_uniform_f32(seed, seed2, 0, 12, f);
    vs__rand_uniform_f64(seed, seed2, 0, 6, d);
    vs__rand_uniform_i32(seed, seed2, 0, 8, -5, 1000, i32);
    vs__rand_uniform_i64(seed, seed2, 0, 4, -7, 100000, i64);
    for (k = 0; k < 12; k++) {
        uint32_t ctr[4] = {(uint32_t)(k / 4), 0, 4, 3}, w[4];
        vs__philox4x32_10(ctr, key, w);
        assert_true(f[k] == vs__uint32_to_float(w[k % 4]));
        if (k < 8)
            assert_int_equal(i32[k], -5 + (int32_t)(w[k % 4] % 1005u));
    }
    for (k = 0; k < 6; k++) {
        uint32_t ctr[4] = {(uint32_t)(k / 2), 0, 4, 3}, w[4];
        int j = k % 2;
        vs__philox4x32_10(ctr, key, w);
        assert_true(d[k] == vs__uint64_to_double(w[2 * j], w[2 * j + 1]));
        if (k < 4) {
            uint64_t bits = w[2 * j] | ((uint64_t)w[2 * j + 1] << 32);
            assert_int_equal(i64[k], -7 + (int64_t)(bits % 100007u));
        }
    }
}

static void test_random__normal_stream_layout(void **state)
{
    float f[8], t[8];
    uint32_t key[2] = {42, 0};
    int g;
    (void)state;
    vs__rand_normal_f32(42, 9, 0, 8, f);
    for (g = 0; g < 2; g++) {
        uint32_t ctr[4] = {(uint32_t)g, 0, 9, 0}, w[4];
        float a, b, c, e;
        vs__philox4x32_10(ctr, key, w);
        vs__box_muller_float(w[0], w[1], &a, &b);
        vs__box_muller_float(w[2], w[3], &c, &e);
        assert_true(f[4 * g] == a);
        assert_true(f[4 * g + 1] == b);
        assert_true(f[4 * g + 2] == c);
        assert_true(f[4 * g + 3] == e);
    }
    /* truncated: group g of 4 reads words from block 256 * g on, keeping
     * Box-Muller samples with |x| < 2 */
    vs__rand_truncated_f32(42, 9, 0, 8, t);
    for (g = 0; g < 2; g++) {
        uint32_t ctr[4] = {(uint32_t)(256 * g), 0, 9, 0}, w[4];
        float want[4], pair[2];
        int got = 0, used = 4;
        while (got < 4) {
            uint32_t x[2];
            int s, h;
            for (s = 0; s < 2; s++) {
                if (used == 4) {
                    vs__philox4x32_10(ctr, key, w);
                    ctr[0]++;
                    used = 0;
                }
                x[s] = w[used++];
            }
            vs__box_muller_float(x[0], x[1], &pair[0], &pair[1]);
            for (h = 0; h < 2 && got < 4; h++)
                if (fabsf(pair[h]) < 2.0f)
                    want[got++] = pair[h];
        }
        assert_memory_equal(&t[4 * g], want, sizeof want);
    }
}

/* TF's own documented output: tf.random.set_seed(5);
 * tf.random.normal([2,2], 0, 1, tf.float32, seed=1) gives
 * [[-1.3768897, -0.01258316], [-0.169515, 1.0824056]] (tf.random.normal
 * API page); the kernel seeds are (5, 1). This pins seeding, counter
 * order and Box-Muller to TF's. */
static void test_random__tf_documented_normal(void **state)
{
    static const float want[4] = {-1.3768897f, -0.01258316f, -0.169515f,
                                  1.0824056f};
    float f[4];
    int i;
    (void)state;
    vs__rand_normal_f32(5, 1, 0, 4, f);
    for (i = 0; i < 4; i++)
        assert_near(f[i], want[i], 1e-6);
}

typedef void (*fill_f32)(uint64_t, uint64_t, uint64_t, size_t, float *);
typedef void (*fill_f64)(uint64_t, uint64_t, uint64_t, size_t, double *);

/* Filling [0, n) at once equals filling it in odd-sized pieces. */
static void test_random__ranges_compose(void **state)
{
    enum { N = 1037 };
    fill_f32 f32s[3] = {vs__rand_uniform_f32, vs__rand_normal_f32,
                        vs__rand_truncated_f32};
    fill_f64 f64s[3] = {vs__rand_uniform_f64, vs__rand_normal_f64,
                        vs__rand_truncated_f64};
    static const size_t cuts[] = {0, 1, 2, 7, 8, 333, 334, 600, 1000, N};
    float *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    double *c = malloc(N * sizeof *c), *d = malloc(N * sizeof *d);
    int32_t ia[N], ib[N];
    int64_t la[N], lb[N];
    size_t k, i;
    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_non_null(d);
    for (k = 0; k < 3; k++) {
        f32s[k](123, 456, 0, N, a);
        f64s[k](123, 456, 0, N, c);
        for (i = 0; i + 1 < sizeof cuts / sizeof cuts[0]; i++) {
            f32s[k](123, 456, cuts[i], cuts[i + 1] - cuts[i], b + cuts[i]);
            f64s[k](123, 456, cuts[i], cuts[i + 1] - cuts[i], d + cuts[i]);
        }
        assert_memory_equal(a, b, N * sizeof *a);
        assert_memory_equal(c, d, N * sizeof *c);
    }
    vs__rand_uniform_i32(1, 2, 0, N, INT32_MIN, INT32_MAX, ia);
    vs__rand_uniform_i64(1, 2, 0, N, INT64_MIN, INT64_MAX, la);
    for (i = 0; i + 1 < sizeof cuts / sizeof cuts[0]; i++) {
        vs__rand_uniform_i32(1, 2, cuts[i], cuts[i + 1] - cuts[i], INT32_MIN,
                             INT32_MAX, ib + cuts[i]);
        vs__rand_uniform_i64(1, 2, cuts[i], cuts[i + 1] - cuts[i], INT64_MIN,
                             INT64_MAX, lb + cuts[i]);
    }
    assert_memory_equal(ia, ib, sizeof ia);
    assert_memory_equal(la, lb, sizeof la);
    for (i = 0; i < N; i++) {
        assert_true(ia[i] < INT32_MAX);
        assert_true(la[i] < INT64_MAX);
    }
    free(a);
    free(b);
    free(c);
    free(d);
}

static void test_random__determinism(void **state)
{
    enum { N = 4096 };
    float *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    vs__rand_normal_f32(87654321, 5, 0, N, a);
    vs__rand_normal_f32(87654321, 5, 0, N, b);
    assert_memory_equal(a, b, N * sizeof *a);
    vs__rand_normal_f32(87654321, 6, 0, N, b);
    assert_memory_not_equal(a, b, N * sizeof *a);
    vs__rand_normal_f32(87654322, 5, 0, N, b);
    assert_memory_not_equal(a, b, N * sizeof *a);
    free(a);
    free(b);
}

static void moments_f32(const float *x, size_t n, double *mean, double *sd)
{
    double s = 0, s2 = 0;
    size_t i;
    for (i = 0; i < n; i++)
        s += x[i];
    *mean = s / (double)n;
    for (i = 0; i < n; i++)
        s2 += (x[i] - *mean) * (x[i] - *mean);
    *sd = sqrt(s2 / (double)(n - 1));
}

static void moments_f64(const double *x, size_t n, double *mean, double *sd)
{
    double s = 0, s2 = 0;
    size_t i;
    for (i = 0; i < n; i++)
        s += x[i];
    *mean = s / (double)n;
    for (i = 0; i < n; i++)
        s2 += (x[i] - *mean) * (x[i] - *mean);
    *sd = sqrt(s2 / (double)(n - 1));
}

/* 100k samples: the standard error of the mean is ~0.003, of the sd
 * ~0.0022; tolerances are > 5 standard errors. */
static void test_random__moments(void **state)
{
    enum { N = 100000 };
    float *f = malloc(N * sizeof *f);
    double *d = malloc(N * sizeof *d);
    double m, s;
    size_t i;
    (void)state;
    assert_non_null(f);
    assert_non_null(d);

    vs__rand_uniform_f32(3, 4, 0, N, f);
    for (i = 0; i < N; i++)
        assert_true(f[i] >= 0.0f && f[i] < 1.0f);
    moments_f32(f, N, &m, &s);
    assert_near(m, 0.5, 0.005);
    assert_near(s, sqrt(1.0 / 12.0), 0.005);

    vs__rand_normal_f32(3, 4, 0, N, f);
    moments_f32(f, N, &m, &s);
    assert_near(m, 0.0, 0.015);
    assert_near(s, 1.0, 0.015);

    vs__rand_truncated_f32(3, 4, 0, N, f);
    for (i = 0; i < N; i++)
        assert_true(fabsf(f[i]) < 2.0f);
    moments_f32(f, N, &m, &s);
    assert_near(m, 0.0, 0.015);
    assert_near(s, 0.87962566103423978, 0.015);

    vs__rand_uniform_f64(3, 4, 0, N, d);
    for (i = 0; i < N; i++)
        assert_true(d[i] >= 0.0 && d[i] < 1.0);
    moments_f64(d, N, &m, &s);
    assert_near(m, 0.5, 0.005);

    vs__rand_normal_f64(3, 4, 0, N, d);
    moments_f64(d, N, &m, &s);
    assert_near(m, 0.0, 0.015);
    assert_near(s, 1.0, 0.015);

    vs__rand_truncated_f64(3, 4, 0, N, d);
    for (i = 0; i < N; i++)
        assert_true(fabs(d[i]) < 2.0);
    moments_f64(d, N, &m, &s);
    assert_near(s, 0.87962566103423978, 0.015);
    free(f);
    free(d);
}

static void test_random__uniform_int_covers_range(void **state)
{
    enum { N = 6000 };
    int32_t v[N];
    int seen[6] = {0};
    size_t i;
    (void)state;
    vs__rand_uniform_i32(11, 12, 0, N, -3, 3, v);
    for (i = 0; i < N; i++) {
        assert_true(v[i] >= -3 && v[i] < 3);
        seen[v[i] + 3]++;
    }
    for (i = 0; i < 6; i++)
        assert_true(seen[i] > 800 && seen[i] < 1200);
}

static void test_random__fresh_seeds(void **state)
{
    uint64_t a, b, c, d;
    (void)state;
    vs__rand_fresh_seeds(&a, &b);
    vs__rand_fresh_seeds(&c, &d);
    assert_false(a == 0 && b == 0);
    assert_false(a == c && b == d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random__philox_known_answers),
        cmocka_unit_test(test_random__seeding_layout),
        cmocka_unit_test(test_random__counter_carry_and_skip),
        cmocka_unit_test(test_random__conversions),
        cmocka_unit_test(test_random__uniform_stream_layout),
        cmocka_unit_test(test_random__normal_stream_layout),
        cmocka_unit_test(test_random__tf_documented_normal),
        cmocka_unit_test(test_random__ranges_compose),
        cmocka_unit_test(test_random__determinism),
        cmocka_unit_test(test_random__moments),
        cmocka_unit_test(test_random__uniform_int_covers_range),
        cmocka_unit_test(test_random__fresh_seeds),
    };
    return cmocka_run_group_tests_name("random", tests, NULL, NULL);
}
