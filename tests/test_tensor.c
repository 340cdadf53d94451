/* Tests for ops/tensor.c: dtypes, float16/bfloat16 conversion, shape checks,
 * tensors and aligned buffers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "ops_int.h"
#include "support/vs_test.h"

static float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static void test_tensor__dtype_names_round_trip(void **state)
{
    static const struct {
        vs_dtype d;
        const char *name;
        size_t size;
        int floating;
    } cases[] = {
        {VS_FLOAT32, "float32", 4, 1}, {VS_FLOAT64, "float64", 8, 1},
        {VS_FLOAT16, "float16", 2, 1}, {VS_BFLOAT16, "bfloat16", 2, 1},
        {VS_INT8, "int8", 1, 0},       {VS_UINT8, "uint8", 1, 0},
        {VS_INT32, "int32", 4, 0},     {VS_INT64, "int64", 8, 0},
        {VS_BOOL, "bool", 1, 0},
    };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vs_dtype back = (vs_dtype)0;
        assert_string_equal(vs_dtype_name(cases[i].d), cases[i].name);
        assert_int_equal(vs_dtype_size(cases[i].d), cases[i].size);
        assert_int_equal(vs_dtype_is_floating(cases[i].d), cases[i].floating);
        OK(vs_dtype_from_name(cases[i].name, &back));
        assert_int_equal(back, cases[i].d);
    }
}

static void test_tensor__dtype_invalid(void **state)
{
    vs_dtype d = VS_FLOAT32;
    (void)state;
    assert_string_equal(vs_dtype_name((vs_dtype)0), "invalid");
    assert_string_equal(vs_dtype_name((vs_dtype)99), "invalid");
    assert_int_equal(vs_dtype_size((vs_dtype)0), 0);
    assert_int_equal(vs_dtype_is_floating((vs_dtype)42), 0);
    assert_int_equal(vs_dtype_from_name("float", &d), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "unknown dtype 'float'");
    assert_int_equal(d, VS_FLOAT32); /* untouched on failure */
    assert_int_equal(vs_dtype_from_name(NULL, &d), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "vs_dtype_from_name: name is NULL");
    assert_int_equal(vs_dtype_from_name("int32", NULL), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "vs_dtype_from_name: out is NULL");
}

static void test_tensor__half_exact_cases(void **state)
{
    (void)state;
    assert_int_equal(vs_float_to_half(1.0f), 0x3c00);
    assert_int_equal(vs_float_to_half(-2.5f), 0xc100);
    assert_int_equal(vs_float_to_half(65504.0f), 0x7bff);
    assert_int_equal(vs_float_to_half(0.0f), 0x0000);
    assert_int_equal(vs_float_to_half(-0.0f), 0x8000);
    /* overflow: 65520 is the rounding boundary (ties to even -> Inf) */
    assert_int_equal(vs_float_to_half(65519.0f), 0x7bff);
    assert_int_equal(vs_float_to_half(65520.0f), 0x7c00);
    assert_int_equal(vs_float_to_half(1e10f), 0x7c00);
    assert_int_equal(vs_float_to_half(-1e10f), 0xfc00);
    assert_int_equal(vs_float_to_half(INFINITY), 0x7c00);
    assert_int_equal(vs_float_to_half(-INFINITY), 0xfc00);
    /* NaN stays NaN, also a NaN whose payload sits in the low bits */
    {
        uint16_t h = vs_float_to_half(NAN);
        uint16_t h2 = vs_float_to_half(f32_from_bits(0x7f800001u));
        assert_int_equal(h & 0x7c00, 0x7c00);
        assert_true((h & 0x3ff) != 0);
        assert_int_equal(h2 & 0x7c00, 0x7c00);
        assert_true((h2 & 0x3ff) != 0);
        assert_true(isnan(vs_half_to_float(h)));
        assert_true(isnan(vs_half_to_float(h2)));
    }
    /* subnormals: smallest 2^-24, largest 1023 * 2^-24, smallest normal */
    assert_int_equal(vs_float_to_half(ldexpf(1.0f, -24)), 0x0001);
    assert_int_equal(vs_float_to_half(ldexpf(1023.0f, -24)), 0x03ff);
    assert_int_equal(vs_float_to_half(ldexpf(1.0f, -14)), 0x0400);
    /* half of the smallest subnormal is a tie -> even (0); a bit more
     * rounds up */
    assert_int_equal(vs_float_to_half(ldexpf(1.0f, -25)), 0x0000);
    assert_int_equal(vs_float_to_half(ldexpf(1.5f, -25)), 0x0001);
    assert_int_equal(vs_float_to_half(ldexpf(3.0f, -25)), 0x0002); /* 1.5 ulp: tie -> even 2 */
    assert_int_equal(vs_float_to_half(ldexpf(5.0f, -25)), 0x0002); /* 2.5 ulp: tie -> even 2 */
    /* normal ties: 1 + 2^-11 is halfway between 1 and 1 + 2^-10 -> 1;
     * 1 + 3 * 2^-11 is halfway between 1+2^-10 and 1+2^-9 -> 1+2^-9 */
    assert_int_equal(vs_float_to_half(1.0f + ldexpf(1.0f, -11)), 0x3c00);
    assert_int_equal(vs_float_to_half(1.0f + ldexpf(3.0f, -11)), 0x3c02);
    assert_int_equal(vs_float_to_half(1.0f + ldexpf(1.0f, -11) +
                                      ldexpf(1.0f, -20)),
                     0x3c01);
    /* back to float */
    assert_true(vs_half_to_float(0x3c00) == 1.0f);
    assert_true(vs_half_to_float(0xc100) == -2.5f);
    assert_true(vs_half_to_float(0x7bff) == 65504.0f);
    assert_true(vs_half_to_float(0x0001) == ldexpf(1.0f, -24));
    assert_true(vs_half_to_float(0x8001) == -ldexpf(1.0f, -24));
    assert_true(isinf(vs_half_to_float(0x7c00)));
    assert_true(vs_half_to_float(0xfc00) < 0);
    assert_int_equal(bits_of(vs_half_to_float(0x8000)), 0x80000000u);
}

static void test_tensor__half_round_trip_all(void **state)
{
    uint32_t h;
    (void)state;
    /* every non-NaN half converts to float and back unchanged */
    for (h = 0; h < 0x10000u; h++) {
        float f = vs_half_to_float((uint16_t)h);
        if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0) {
            assert_true(isnan(f));
            continue;
        }
        assert_int_equal(vs_float_to_half(f), h);
    }
}

static void test_tensor__bfloat16_exact_cases(void **state)
{
    (void)state;
    assert_int_equal(vs_float_to_bfloat16(1.0f), 0x3f80);
    assert_int_equal(vs_float_to_bfloat16(-2.5f), 0xc020);
    assert_int_equal(vs_float_to_bfloat16(0.0f), 0x0000);
    /* ties to even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 -> 1;
     * 1 + 3 * 2^-8 -> 1 + 2^-6 (even) */
    assert_int_equal(vs_float_to_bfloat16(f32_from_bits(0x3f808000u)), 0x3f80);
    assert_int_equal(vs_float_to_bfloat16(f32_from_bits(0x3f818000u)), 0x3f82);
    assert_int_equal(vs_float_to_bfloat16(f32_from_bits(0x3f808001u)), 0x3f81);
    /* overflow: FLT_MAX rounds up to Inf */
    assert_int_equal(vs_float_to_bfloat16(f32_from_bits(0x7f7fffffu)), 0x7f80);
    assert_int_equal(vs_float_to_bfloat16(INFINITY), 0x7f80);
    assert_int_equal(vs_float_to_bfloat16(-INFINITY), 0xff80);
    /* NaN with only low payload bits must not become Inf */
    {
        uint16_t b = vs_float_to_bfloat16(f32_from_bits(0x7f800001u));
        assert_int_equal(b & 0x7f80, 0x7f80);
        assert_true((b & 0x7f) != 0);
        assert_true(isnan(vs_bfloat16_to_float(b)));
        assert_true(isnan(vs_bfloat16_to_float(vs_float_to_bfloat16(NAN))));
    }
    /* subnormal float32 */
    assert_int_equal(vs_float_to_bfloat16(f32_from_bits(0x00010000u)), 0x0001);
    assert_true(vs_bfloat16_to_float(0x3f80) == 1.0f);
    assert_true(vs_bfloat16_to_float(0xc020) == -2.5f);
}

/* Float to half against the compiler's own conversion (correctly rounded
 * IEEE binary16), on a million bit patterns spread over all floats. */
static void test_tensor__half_matches_compiler(void **state)
{
#ifdef __FLT16_MAX__
    uint64_t u;
    (void)state;
    for (u = 0; u < 0x100000000ULL; u += 4099) {
        float f = f32_from_bits((uint32_t)u);
        _Float16 h = (_Float16)f;
        uint16_t want;
        if (isnan(f))
            continue;
        memcpy(&want, &h, sizeof want);
        assert_int_equal(vs_float_to_half(f), want);
    }
#else
    (void)state;
    skip();
#endif
}

/* Float to bfloat16 against a reference: the nearer of the two bfloat16
 * neighbours (exact in double), ties to the even one. */
static void test_tensor__bfloat16_matches_reference(void **state)
{
    uint64_t u;
    (void)state;
    for (u = 0; u < 0x100000000ULL; u += 4099) {
        uint32_t x = (uint32_t)u;
        float f = f32_from_bits(x);
        uint16_t lo = (uint16_t)(x >> 16), hi = (uint16_t)(lo + 1), want;
        double vl, vh, dl, dh;
        if (isnan(f) || isinf(f))
            continue;
        vl = vs_bfloat16_to_float(lo);
        /* past the largest finite value the upper neighbour is Inf,
         * which rounds as 2^128 */
        vh = (hi & 0x7fffu) == 0x7f80u ? copysign(ldexp(1.0, 128), f)
                                       : (double)vs_bfloat16_to_float(hi);
        dl = fabs((double)f - vl);
        dh = fabs((double)f - vh);
        want = (dl < dh || (dl == dh && (lo & 1u) == 0)) ? lo : hi;
        assert_int_equal(vs_float_to_bfloat16(f), want);
    }
}

static void test_tensor__new_zero_filled_aligned(void **state)
{
    int64_t shape[3] = {3, 5, 7};
    vs_tensor *t = NULL;
    size_t i;
    const unsigned char *p;
    (void)state;
    OK(vs_tensor_new(VS_FLOAT64, 3, shape, &t));
    assert_non_null(t);
    assert_int_equal(t->dtype, VS_FLOAT64);
    assert_int_equal(t->ndim, 3);
    assert_int_equal(t->shape[2], 7);
    assert_int_equal(vs_tensor_numel(t), 105);
    assert_int_equal(vs_tensor_nbytes(t), 840);
    assert_int_equal((uintptr_t)t->data % 64, 0);
    p = t->data;
    for (i = 0; i < 840; i++)
        assert_int_equal(p[i], 0);
    vs_tensor_free(t);
}

static void test_tensor__scalar_and_empty(void **state)
{
    int64_t zero[2] = {4, 0};
    vs_tensor *t = NULL;
    (void)state;
    OK(vs_tensor_new(VS_INT32, 0, NULL, &t));
    assert_int_equal(vs_tensor_numel(t), 1);
    assert_int_equal(vs_tensor_nbytes(t), 4);
    assert_non_null(t->data);
    vs_tensor_free(t);
    OK(vs_tensor_new(VS_FLOAT32, 2, zero, &t));
    assert_int_equal(vs_tensor_numel(t), 0);
    assert_int_equal(vs_tensor_nbytes(t), 0);
    assert_non_null(t->data);
    vs_tensor_free(t);
    vs_tensor_free(NULL);
}

static void test_tensor__large_buffer_zeroed(void **state)
{
    /* 3 MiB + 5: takes the huge-page path; must still be zeroed and
     * aligned */
    size_t n = 3u * 1024u * 1024u + 5u, i;
    unsigned char *p = vs__aligned_alloc(n);
    (void)state;
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 64, 0);
    for (i = 0; i < n; i += 4093)
        assert_int_equal(p[i], 0);
    assert_int_equal(p[n - 1], 0);
    p[n - 1] = 1;
    vs__aligned_free(p);
    vs__aligned_free(NULL);
}

/* An arena hands out zeroed, 64-byte aligned, disjoint buffers of every
 * size class (heap, carved from a shared slab, a slab of its own, the
 * rest of that slab), each freed with vs__aligned_free before the arena. */
static void test_tensor__arena_buffers(void **state)
{
    static const size_t sizes[] = {0,       1,        4096,     65536,
                                   100000,  3000000,  12u << 20, 70000,
                                   1 << 20, 5u << 20, 65535,    200000};
    enum { N = sizeof sizes / sizeof *sizes };
    unsigned char *p[N];
    vs__arena a = {0};
    (void)state;
    for (size_t k = 0; k < N; k++) {
        size_t n = sizes[k];
        p[k] = vs__arena_alloc(&a, n);
        assert_non_null(p[k]);
        assert_int_equal((uintptr_t)p[k] % 64, 0);
        for (size_t i = 0; i < n; i += 4093)
            assert_int_equal(p[k][i], 0);
        if (n > 0) {
            assert_int_equal(p[k][n - 1], 0);
            memset(p[k], (int)(k + 1), n); /* fill: overlaps would show */
        }
    }
    for (size_t k = 0; k < N; k++)
        for (size_t i = 0; i < sizes[k]; i += 997)
            if (p[k][i] != (unsigned char)(k + 1))
                fail_msg("buffer %zu byte %zu was overwritten", k, i);
    for (size_t k = 0; k < N; k++)
        vs__aligned_free(p[k]);
    vs__arena_free(&a);
    vs__arena_free(&a); /* empty again: a no-op */
    assert_null(a.slabs);
    /* A NULL arena falls back to the heap. */
    unsigned char *q = vs__arena_alloc(NULL, 100000);
    assert_non_null(q);
    assert_int_equal(q[99999], 0);
    vs__aligned_free(q);
}

static void test_tensor__from_data_copies(void **state)
{
    int64_t shape[1] = {3};
    const float vals[3] = {1.5f, -2.0f, 3.25f};
    vs_tensor *t = NULL;
    (void)state;
    OK(vs_tensor_from_data(VS_FLOAT32, 1, shape, vals, &t));
    assert_memory_equal(t->data, vals, sizeof vals);
    assert_ptr_not_equal(t->data, vals);
    vs_tensor_free(t);
    t = (vs_tensor *)1;
    assert_int_equal(vs_tensor_from_data(VS_FLOAT32, 1, shape, NULL, &t),
                     VS_EINVAL);
    assert_null(t);
    assert_string_equal(vs_errmsg(), "vs_tensor_from_data: data is NULL");
}

static void test_tensor__bad_shapes(void **state)
{
    int64_t neg[2] = {3, -1};
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    int64_t big[2] = {4611686018427387904LL, 4};
    int64_t big8[3] = {1LL << 40, 1LL << 20, 4};
    int64_t numel_over[3] = {1LL << 40, 1LL << 40, 0};
    int64_t numel = -5;
    size_t nbytes = 7;
    vs_tensor *t = (vs_tensor *)1;
    (void)state;

    assert_int_equal(vs_tensor_new(VS_FLOAT32, 2, neg, &t), VS_EINVAL);
    assert_null(t);
    assert_string_equal(vs_errmsg(),
                        "dimension 1 of shape (3, ?) is negative (-1)");

    assert_int_equal(vs_tensor_new(VS_FLOAT32, 9, nine, &t), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "rank 9 is out of range: a tensor has "
                                     "0 to 8 dimensions");
    assert_int_equal(vs_tensor_new(VS_FLOAT32, -1, nine, &t), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "rank -1 is out of range: a tensor has "
                                     "0 to 8 dimensions");

    assert_int_equal(vs_tensor_new(VS_FLOAT32, 2, big, &t), VS_EINVAL);
    assert_null(t);
    assert_string_equal(vs_errmsg(),
                        "shape (4611686018427387904, 4) of float32 is too "
                        "large: 73786976294838206464 bytes overflows size_t");

    /* 2^62 elements fit int64, but 2^65 bytes do not fit size_t */
    assert_int_equal(vs_shape_check(VS_FLOAT64, 3, big8, &numel, &nbytes),
                     VS_EINVAL);
    assert_string_equal(vs_errmsg(),
                        "shape (1099511627776, 1048576, 4) of float64 is too "
                        "large: 36893488147419103232 bytes overflows size_t");
    assert_int_equal(numel, -5); /* outputs untouched on failure */
    assert_int_equal(nbytes, 7);

    /* a zero dimension makes any shape valid (0 elements) */
    OK(vs_shape_check(VS_INT64, 3, numel_over, &numel, &nbytes));
    assert_int_equal(numel, 0);
    assert_int_equal(nbytes, 0);

    assert_int_equal(vs_tensor_new((vs_dtype)77, 1, big, &t), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "invalid dtype 77");
    assert_int_equal(vs_tensor_new(VS_FLOAT32, 2, NULL, &t), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "shape is NULL for rank 2");
    assert_int_equal(vs_tensor_new(VS_FLOAT32, 1, big, NULL), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "vs_tensor_new: out is NULL");
}

/* Issue 13: a rank far beyond VS_MAX_DIMS over a short shape array is
 * refused before the shape is read, by every call that takes one; the
 * shape printer itself never reads past VS_MAX_DIMS dims. */
static void test_tensor__rank_200_refused_before_shape_is_read(void **state)
{
    const int64_t one[1] = {2};
    float data[2] = {1.0f, 2.0f};
    vs_tensor wide = {VS_FLOAT32, 200, {2}, data};
    vs_init ones = vs_init_ones();
    vs_tensor *t = NULL;
    char buf[VS_SHAPE_STR_MAX];
    (void)state;

    assert_int_equal(vs_tensor_from_data(VS_FLOAT32, 200, one, data, &t),
                     VS_EINVAL);
    assert_string_equal(vs_errmsg(), "rank 200 is out of range: a tensor "
                                     "has 0 to 8 dimensions");
    assert_null(t);
    assert_int_equal(vs_shape_check(VS_FLOAT32, -200, one, NULL, NULL),
                     VS_EINVAL);
    assert_string_equal(vs_errmsg(), "rank -200 is out of range: a tensor "
                                     "has 0 to 8 dimensions");
    assert_int_equal(vs_init_fill(&ones, &wide, 1, 2), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "rank 200 is out of range: a tensor "
                                     "has 0 to 8 dimensions");
    assert_float_equal(data[1], 2.0f, 0.0f);
    assert_string_equal(vs__shape_str(200, one, buf, sizeof buf),
                        "<rank 200>");
    assert_string_equal(vs__shape_brackets(9, one, buf, sizeof buf),
                        "<rank 9>");
}

static void test_tensor__shape_check_outputs(void **state)
{
    int64_t s[4] = {2, 3, 4, 5};
    int64_t numel = 0;
    size_t nbytes = 0;
    (void)state;
    OK(vs_shape_check(VS_BFLOAT16, 4, s, &numel, &nbytes));
    assert_int_equal(numel, 120);
    assert_int_equal(nbytes, 240);
    OK(vs_shape_check(VS_BOOL, 0, NULL, &numel, NULL));
    assert_int_equal(numel, 1);
    OK(vs_shape_check(VS_BOOL, 4, s, NULL, NULL));
}

/* Big buffers freed by a load are kept for the next load (whose decode
 * overwrites them whole) but never reach vs_tensor_new, which stays
 * zero-filled (run under ASan in CI: the reuse is also checked for
 * buffer bounds). */
static void test_tensor__kept_buffers_never_reach_zeroed_tensors(void **state)
{
    (void)state;
    int64_t sh[] = {3 << 20}; /* 12 MiB of float32 */
    for (int round = 0; round < 3; round++) {
        vs_tensor *a = NULL, *b = NULL, *z = NULL;
        OK(vs__tensor_new_uninit(VS_FLOAT32, 1, sh, &a));
        memset(a->data, 0xab, vs_tensor_nbytes(a));
        void *where = a->data;
        vs_tensor_free(a);
        OK(vs_tensor_new(VS_FLOAT32, 1, sh, &z));
        const unsigned char *zp = z->data;
        for (size_t i = 0; i < vs_tensor_nbytes(z); i += 4093)
            assert_int_equal(zp[i], 0);
        /* The uninitialized path may get a kept mapping back (which one
         * depends on the addresses mmap gave): writable end to end. */
        OK(vs__tensor_new_uninit(VS_FLOAT32, 1, sh, &b));
        memset(b->data, round, vs_tensor_nbytes(b));
        assert_ptr_not_equal(b->data, z->data);
        (void)where;
        vs_tensor_free(b);
        vs_tensor_free(z);
    }
    /* A much smaller request does not take a big kept mapping. */
    int64_t small[] = {600 << 10}; /* 2.3 MiB */
    vs_tensor *s = NULL;
    OK(vs__tensor_new_uninit(VS_FLOAT32, 1, small, &s));
    vs_tensor_free(s);
}

/* Small buffers come from the heap: a load's (not zero-filled, the
 * decode overwrites them whole) may be handed back by malloc to a later
 * vs_tensor_new, which still zero-fills. */
static void test_tensor__small_freed_buffers_never_reach_zeroed_tensors(
    void **state)
{
    (void)state;
    int64_t sizes[] = {1, 1000, 16 << 10, 300 << 10}; /* float32 elements */
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        int64_t sh[] = {sizes[k]};
        for (int round = 0; round < 3; round++) {
            vs_tensor *a = NULL, *z = NULL;
            OK(vs__tensor_new_uninit(VS_FLOAT32, 1, sh, &a));
            memset(a->data, 0xab, vs_tensor_nbytes(a));
            vs_tensor_free(a);
            OK(vs_tensor_new(VS_FLOAT32, 1, sh, &z));
            const unsigned char *zp = z->data;
            for (size_t i = 0; i < vs_tensor_nbytes(z); i++)
                if (zp[i] != 0)
                    fail_msg("byte %zu of a new tensor of %lld floats is "
                             "0x%02x", i, (long long)sizes[k], zp[i]);
            vs_tensor_free(z);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tensor__dtype_names_round_trip),
        cmocka_unit_test(
            test_tensor__small_freed_buffers_never_reach_zeroed_tensors),
        cmocka_unit_test(test_tensor__dtype_invalid),
        cmocka_unit_test(test_tensor__half_exact_cases),
        cmocka_unit_test(test_tensor__half_round_trip_all),
        cmocka_unit_test(test_tensor__bfloat16_exact_cases),
        cmocka_unit_test(test_tensor__half_matches_compiler),
        cmocka_unit_test(test_tensor__bfloat16_matches_reference),
        cmocka_unit_test(test_tensor__new_zero_filled_aligned),
        cmocka_unit_test(test_tensor__scalar_and_empty),
        cmocka_unit_test(test_tensor__large_buffer_zeroed),
        cmocka_unit_test(test_tensor__arena_buffers),
        cmocka_unit_test(test_tensor__from_data_copies),
        cmocka_unit_test(test_tensor__bad_shapes),
        cmocka_unit_test(test_tensor__shape_check_outputs),
        cmocka_unit_test(test_tensor__rank_200_refused_before_shape_is_read),
        cmocka_unit_test(test_tensor__kept_buffers_never_reach_zeroed_tensors),
    };
    return cmocka_run_group_tests_name("tensor", tests, NULL, NULL);
}
