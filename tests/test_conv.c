/* Tests for ops/conv.c, ops/nn.c and ops/gemm.c: every op against a plain
 * double-precision loop written here, on every GEMM path the CPU has. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "varstore.h"
#include "support/vs_test.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static double urand(void) /* [-1, 1) */
{
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(g_rng >> 11) / (double)(1ull << 53) * 2.0 - 1.0;
}

static vs_tensor *make4(vs_dtype dt, int64_t a, int64_t b, int64_t c,
                        int64_t d)
{
    int64_t s[4] = {a, b, c, d};
    vs_tensor *t = NULL;
    OK(vs_tensor_new(dt, 4, s, &t));
    return t;
}

static vs_tensor *make2(vs_dtype dt, int64_t a, int64_t b)
{
    int64_t s[2] = {a, b};
    vs_tensor *t = NULL;
    OK(vs_tensor_new(dt, 2, s, &t));
    return t;
}

static void fill_rand(vs_tensor *t)
{
    int64_t n = vs_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        if (t->dtype == VS_FLOAT32)
            ((float *)t->data)[i] = (float)urand();
        else
            ((double *)t->data)[i] = urand();
    }
}

static double get(const vs_tensor *t, int64_t i)
{
    return t->dtype == VS_FLOAT32 ? (double)((const float *)t->data)[i]
                                  : ((const double *)t->data)[i];
}

/* Every GEMM path this CPU can run. */
static int isas(int out[3])
{
    int n = 0;
    for (int isa = VS_ISA_SCALAR; isa <= VS_ISA_AVX512; isa++)
        if (vs__gemm_isa_supported(isa))
            out[n++] = isa;
    return n;
}


/* ------------------------------------------------------------------------ */
/* conv2d reference                                                          */

typedef struct {
    int64_t n, h, w, c, kh, kw, co;
    int sh, sw, dh, dw;
    vs_padding pad;
} conv_case;

static int64_t ref_out(int64_t in, int64_t k, int d, int s, vs_padding p,
                       int64_t *before)
{
    int64_t eff = (k - 1) * d + 1;
    if (p == VS_PAD_VALID) {
        *before = 0;
        return (in - eff + s) / s;
    }
    int64_t o = (in + s - 1) / s;
    int64_t tot = (o - 1) * s + eff - in;
    if (tot < 0)
        tot = 0;
    *before = tot / 2;
    return o;
}

/* Checks y against the double loop: |y - ref| <= 1e-5 sqrt(K) (1 + |ref|)
 * for float32, 1e-12 for float64. */
static void check_conv(const conv_case *cs, const vs_tensor *x,
                       const vs_tensor *f, const vs_tensor *y)
{
    int64_t pt, pl;
    int64_t oh = ref_out(cs->h, cs->kh, cs->dh, cs->sh, cs->pad, &pt);
    int64_t ow = ref_out(cs->w, cs->kw, cs->dw, cs->sw, cs->pad, &pl);
    assert_int_equal(y->ndim, 4);
    assert_int_equal(y->shape[0], cs->n);
    assert_int_equal(y->shape[1], oh);
    assert_int_equal(y->shape[2], ow);
    assert_int_equal(y->shape[3], cs->co);
    double k = (double)(cs->kh * cs->kw * cs->c);
    double rel = x->dtype == VS_FLOAT32 ? 1e-5 : 1e-12;
    for (int64_t n = 0; n < cs->n; n++)
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++)
                for (int64_t o = 0; o < cs->co; o++) {
                    double s = 0;
                    for (int64_t a = 0; a < cs->kh; a++)
                        for (int64_t b = 0; b < cs->kw; b++) {
                            int64_t ih = i * cs->sh + a * cs->dh - pt;
                            int64_t iw = j * cs->sw + b * cs->dw - pl;
                            if (ih < 0 || ih >= cs->h || iw < 0 ||
                                iw >= cs->w)
                                continue;
                            for (int64_t c = 0; c < cs->c; c++)
                                s += get(x, ((n * cs->h + ih) * cs->w + iw) *
                                                    cs->c +
                                                c) *
                                     get(f, ((a * cs->kw + b) * cs->c + c) *
                                                    cs->co +
                                                o);
                        }
                    double v = get(y, ((n * oh + i) * ow + j) * cs->co + o);
                    double tol = rel * sqrt(k + 1) * (1 + fabs(s));
                    if (!(fabs(v - s) <= tol))
                        fail_msg("conv mismatch at n=%lld i=%lld j=%lld "
                                 "o=%lld: got %.9g want %.9g (tol %.3g)",
                                 (long long)n, (long long)i, (long long)j,
                                 (long long)o, v, s, tol);
                }
}

static const conv_case k_cases[] = {
    /* n  h   w   c  kh kw co  sh sw dh dw pad */
    {1, 4, 4, 1, 2, 2, 1, 1, 1, 1, 1, VS_PAD_SAME},
    {2, 7, 9, 3, 3, 3, 5, 1, 1, 1, 1, VS_PAD_SAME},
    {2, 7, 9, 3, 3, 3, 5, 2, 2, 1, 1, VS_PAD_VALID},
    {1, 11, 13, 17, 3, 5, 19, 3, 2, 1, 1, VS_PAD_SAME},
    {1, 10, 10, 4, 3, 3, 33, 1, 1, 2, 2, VS_PAD_SAME},
    {1, 10, 11, 4, 3, 2, 7, 2, 3, 2, 1, VS_PAD_VALID},
    {3, 5, 5, 2, 7, 7, 3, 1, 1, 1, 1, VS_PAD_SAME},  /* kernel > input */
    {1, 3, 3, 2, 5, 4, 3, 2, 2, 1, 1, VS_PAD_SAME},  /* kernel > input */
    {1, 4, 6, 3, 3, 3, 2, 1, 1, 2, 2, VS_PAD_SAME},  /* dilated > input */
    {2, 6, 6, 37, 1, 1, 45, 1, 1, 1, 1, VS_PAD_SAME},  /* 1x1: plain GEMM */
    {2, 6, 7, 37, 1, 1, 45, 2, 2, 1, 1, VS_PAD_VALID}, /* 1x1 strided */
    {1, 9, 9, 64, 3, 3, 64, 1, 1, 1, 1, VS_PAD_SAME},  /* K = 576: 3 blocks */
    {2, 15, 15, 3, 7, 7, 64, 2, 2, 1, 1, VS_PAD_SAME}, /* ResNet stem */
    {1, 7, 9, 300, 1, 1, 70, 1, 1, 1, 1, VS_PAD_VALID}, /* K = 300 */
    {1, 5, 5, 3, 3, 3, 1, 1, 1, 1, 1, VS_PAD_SAME},     /* one channel out */
    {1, 8, 8, 2, 2, 2, 4, 3, 3, 1, 1, VS_PAD_VALID},
    {2, 13, 5, 9, 2, 3, 17, 3, 1, 1, 2, VS_PAD_SAME},
    {1, 16, 16, 16, 3, 3, 16, 2, 2, 1, 1, VS_PAD_SAME}, /* even, stride 2 */
    {4, 3, 3, 5, 3, 3, 31, 1, 1, 1, 1, VS_PAD_VALID},   /* 1x1 output */
};

static void run_case(const conv_case *cs, vs_dtype dt)
{
    vs_tensor *x = make4(dt, cs->n, cs->h, cs->w, cs->c);
    vs_tensor *f = make4(dt, cs->kh, cs->kw, cs->c, cs->co);
    vs_tensor *y = NULL;
    int st[4] = {1, cs->sh, cs->sw, 1}, dl[4] = {1, cs->dh, cs->dw, 1};
    fill_rand(x);
    fill_rand(f);
    OK(vs_conv2d_ex(x, f, st, cs->pad, dl, &y));
    check_conv(cs, x, f, y);
    vs_tensor_free(y);
    vs_tensor_free(x);
    vs_tensor_free(f);
}

/* ------------------------------------------------------------------------ */
/* conv2d tests                                                              */

/* The seed: 1x4x4x1 * 2x2x1x1, SAME, stride 1. SAME pads one row and one
 * column at the bottom/right (pad_total 1, pad_top 0). */
static void test_conv_seed(void **state)
{
    (void)state;
    int paths[2] = {VS_CONV_DIRECT, VS_CONV_GEMM};
    int list[3], ni = isas(list);
    for (int p = 0; p < 2; p++)
        for (int q = 0; q < ni; q++) {
            vs_tensor *x = make4(VS_FLOAT32, 1, 4, 4, 1);
            vs_tensor *f = make4(VS_FLOAT32, 2, 2, 1, 1);
            vs_tensor *y = NULL;
            int st[4] = {1, 1, 1, 1};
            for (int i = 0; i < 16; i++)
                ((float *)x->data)[i] = (float)(i + 1);
            for (int i = 0; i < 4; i++)
                ((float *)f->data)[i] = (float)(i + 1);
            vs__conv_set_path(paths[p]);
            OK(vs__gemm_set_isa(list[q]));
            OK(vs_conv2d(x, f, st, VS_PAD_SAME, &y));
            assert_int_equal(y->ndim, 4);
            assert_int_equal(y->shape[0], 1);
            assert_int_equal(y->shape[1], 4);
            assert_int_equal(y->shape[2], 4);
            assert_int_equal(y->shape[3], 1);
            const float *o = y->data;
            /* 1*1 + 2*2 + 3*5 + 4*6 */
            assert_true(o[0] == 44.0f);
            /* right column: 1*x[0][3] + 3*x[1][3] = 4 + 24 */
            assert_true(o[3] == 28.0f);
            /* bottom row: 1*x[3][0] + 2*x[3][1] = 13 + 28 */
            assert_true(o[12] == 41.0f);
            /* bottom-right corner: only x[3][3] */
            assert_true(o[15] == 16.0f);
            conv_case cs = {1, 4, 4, 1, 2, 2, 1, 1, 1, 1, 1, VS_PAD_SAME};
            check_conv(&cs, x, f, y);
            vs_tensor_free(y);
            vs_tensor_free(x);
            vs_tensor_free(f);
        }
    vs__conv_set_path(VS_CONV_AUTO);
    OK(vs__gemm_set_isa(VS_ISA_AUTO));
}

static void test_conv_shapes_all_paths(void **state)
{
    (void)state;
    int list[3], ni = isas(list);
    size_t nc = sizeof k_cases / sizeof k_cases[0];
    vs__conv_set_path(VS_CONV_DIRECT);
    for (size_t c = 0; c < nc; c++)
        run_case(&k_cases[c], VS_FLOAT32);
    vs__conv_set_path(VS_CONV_GEMM);
    for (int q = 0; q < ni; q++) {
        OK(vs__gemm_set_isa(list[q]));
        assert_int_equal(vs__gemm_isa(), list[q]);
        for (size_t c = 0; c < nc; c++)
            run_case(&k_cases[c], VS_FLOAT32);
    }
    vs__conv_set_path(VS_CONV_AUTO);
    OK(vs__gemm_set_isa(VS_ISA_AUTO));
    for (size_t c = 0; c < nc; c++)
        run_case(&k_cases[c], VS_FLOAT32);
}

static void test_conv_float64(void **state)
{
    (void)state;
    size_t nc = sizeof k_cases / sizeof k_cases[0];
    for (size_t c = 0; c < nc; c++)
        run_case(&k_cases[c], VS_FLOAT64);
}

/* Tiny problems take the direct loop: no GEMM, no threads. */
static void test_conv_tiny_is_direct(void **state)
{
    (void)state;
    vs_tensor *x = make4(VS_FLOAT32, 1, 4, 4, 1);
    vs_tensor *f = make4(VS_FLOAT32, 2, 2, 1, 1);
    vs_tensor *big = make4(VS_FLOAT32, 1, 8, 8, 4);
    vs_tensor *fb = make4(VS_FLOAT32, 3, 3, 4, 4);
    vs_tensor *y = NULL;
    int st[4] = {1, 1, 1, 1};
    vs_set_num_threads(2);
    OK(vs_conv2d(big, fb, st, VS_PAD_SAME, &y));
    assert_int_equal(vs__gemm_last_threads(), 1); /* GEMM, one thread */
    vs_tensor_free(y);
    vs__sgemm_args none;
    memset(&none, 0, sizeof none); /* m = 0: resets the count to 0 */
    OK(vs__sgemm(&none, 2));
    assert_int_equal(vs__gemm_last_threads(), 0);
    OK(vs_conv2d(x, f, st, VS_PAD_SAME, &y));
    assert_int_equal(vs__gemm_last_threads(), 0); /* no GEMM ran */
    vs_tensor_free(y);
    vs_set_num_threads(0);
    vs_tensor_free(x);
    vs_tensor_free(f);
    vs_tensor_free(big);
    vs_tensor_free(fb);
}

static void test_conv_dilations_null_is_one(void **state)
{
    (void)state;
    vs_tensor *x = make4(VS_FLOAT32, 2, 9, 8, 5);
    vs_tensor *f = make4(VS_FLOAT32, 3, 2, 5, 6);
    vs_tensor *y1 = NULL, *y2 = NULL;
    int st[4] = {1, 2, 1, 1}, dl[4] = {1, 1, 1, 1};
    fill_rand(x);
    fill_rand(f);
    OK(vs_conv2d(x, f, st, VS_PAD_SAME, &y1));
    OK(vs_conv2d_ex(x, f, st, VS_PAD_SAME, dl, &y2));
    assert_memory_equal(y1->data, y2->data, vs_tensor_nbytes(y1));
    vs_tensor_free(y1);
    vs_tensor_free(y2);
    vs_tensor_free(x);
    vs_tensor_free(f);
}

/* Zero-sized results: an empty batch, and TF's VALID output of 0 when the
 * dilated filter is one larger than the input ((4 - 5 + 1) / 1 = 0). */
static void test_conv_empty(void **state)
{
    (void)state;
    vs_tensor *x = make4(VS_FLOAT32, 0, 5, 5, 3);
    vs_tensor *f = make4(VS_FLOAT32, 3, 3, 3, 4);
    vs_tensor *y = NULL;
    int st[4] = {1, 1, 1, 1}, dl[4] = {1, 2, 2, 1};
    OK(vs_conv2d(x, f, st, VS_PAD_SAME, &y));
    assert_int_equal(y->shape[0], 0);
    assert_int_equal(y->shape[1], 5);
    assert_int_equal(y->shape[3], 4);
    vs_tensor_free(y);
    vs_tensor_free(x);
    x = make4(VS_FLOAT32, 1, 4, 4, 3);
    OK(vs_conv2d_ex(x, f, st, VS_PAD_VALID, dl, &y));
    assert_int_equal(y->shape[1], 0);
    assert_int_equal(y->shape[2], 0);
    vs_tensor_free(y);
    vs_tensor_free(x);
    vs_tensor_free(f);
}

static void test_conv_threads_bitwise(void **state)
{
    (void)state;
    int list[3], ni = isas(list);
    vs_tensor *x = make4(VS_FLOAT32, 2, 28, 28, 64);
    vs_tensor *f = make4(VS_FLOAT32, 3, 3, 64, 48);
    int st[4] = {1, 1, 1, 1};
    fill_rand(x);
    fill_rand(f);
    for (int q = 0; q < ni; q++) {
        vs_tensor *y1 = NULL, *y2 = NULL, *y3 = NULL;
        OK(vs__gemm_set_isa(list[q]));
        vs_set_num_threads(1);
        OK(vs_conv2d(x, f, st, VS_PAD_SAME, &y1));
        assert_int_equal(vs__gemm_last_threads(), 1);
        vs_set_num_threads(2);
        OK(vs_conv2d(x, f, st, VS_PAD_SAME, &y2));
        assert_int_equal(vs__gemm_last_threads(), 2);
        vs_set_num_threads(3); /* more threads than cores still works */
        OK(vs_conv2d(x, f, st, VS_PAD_SAME, &y3));
        assert_int_equal(vs__gemm_last_threads(), 3);
        assert_memory_equal(y1->data, y2->data, vs_tensor_nbytes(y1));
        assert_memory_equal(y1->data, y3->data, vs_tensor_nbytes(y1));
        vs_tensor_free(y1);
        vs_tensor_free(y2);
        vs_tensor_free(y3);
    }
    vs_set_num_threads(0);
    assert_true(vs__num_threads() >= 1);
    vs_set_num_threads(-5); /* negative: all cores, as 0 */
    assert_true(vs__num_threads() >= 1);
    vs_set_num_threads(0);
    OK(vs__gemm_set_isa(VS_ISA_AUTO));
    vs_tensor_free(x);
    vs_tensor_free(f);
}

/* conv2d refuses NULL arguments, bad strides, dilations and padding, and
 * a filter whose in_channels differ from the input's depth. */
static void test_conv2d__bad_arguments_refused(void **state)
{
    (void)state;
    vs_tensor *f = make4(VS_FLOAT32, 2, 2, 4, 1);
    vs_tensor *x = make4(VS_FLOAT32, 1, 4, 4, 3);
    vs_tensor *f3 = make4(VS_FLOAT32, 2, 2, 3, 1);
    vs_tensor *y = (vs_tensor *)&y;
    int st[4] = {1, 1, 1, 1};

    FAILS(vs_conv2d(x, f, st, VS_PAD_SAME, &y), VS_ESHAPE,
               "conv2d: input depth 3 does not match filter in_channels 4 "
               "(input (1, 4, 4, 3), filter (2, 2, 4, 1))");
    assert_null(y);
    FAILS(vs_conv2d(x, f3, st, VS_PAD_SAME, NULL), VS_EINVAL,
               "conv2d: out is NULL");
    FAILS(vs_conv2d(NULL, f3, st, VS_PAD_SAME, &y), VS_EINVAL,
               "conv2d: input is NULL");
    FAILS(vs_conv2d(x, NULL, st, VS_PAD_SAME, &y), VS_EINVAL,
               "conv2d: filter is NULL");
    FAILS(vs_conv2d(x, f3, NULL, VS_PAD_SAME, &y), VS_EINVAL,
               "conv2d: strides is NULL");
    int bad1[4] = {2, 1, 1, 1}, bad2[4] = {1, 0, 1, 1};
    int bad3[4] = {1, 1, 1, 2};
    FAILS(vs_conv2d(x, f3, bad1, VS_PAD_SAME, &y), VS_EINVAL,
               "conv2d: strides in the batch and depth dimensions must be "
               "1, got [2,1,1,1]");
    FAILS(vs_conv2d(x, f3, bad3, VS_PAD_SAME, &y), VS_EINVAL,
               "conv2d: strides in the batch and depth dimensions must be "
               "1, got [1,1,1,2]");
    FAILS(vs_conv2d(x, f3, bad2, VS_PAD_SAME, &y), VS_EINVAL,
               "conv2d: strides must be positive, got [1,0,1,1]");
    FAILS(vs_conv2d_ex(x, f3, st, VS_PAD_SAME, bad3, &y), VS_EINVAL,
               "conv2d: dilations in the batch and depth dimensions must be "
               "1, got [1,1,1,2]");
    FAILS(vs_conv2d_ex(x, f3, st, VS_PAD_SAME, bad2, &y), VS_EINVAL,
               "conv2d: dilations must be positive, got [1,0,1,1]");
    FAILS(vs_conv2d(x, f3, st, (vs_padding)7, &y), VS_EINVAL,
               "conv2d: invalid padding 7 (VS_PAD_SAME or VS_PAD_VALID)");
    vs_tensor_free(x);
    vs_tensor_free(f);
    vs_tensor_free(f3);
}

/* conv2d refuses unsupported or mixed dtypes, inputs and filters that are
 * not 4-D, and windows larger than the padded input. */
static void test_conv2d__bad_dtypes_and_shapes_refused(void **state)
{
    (void)state;
    vs_tensor *big = make4(VS_FLOAT32, 6, 6, 3, 1);
    vs_tensor *fd = make4(VS_FLOAT64, 2, 2, 3, 1);
    vs_tensor *xi = make4(VS_INT32, 1, 4, 4, 3);
    vs_tensor *x3 = make2(VS_FLOAT32, 4, 4);
    vs_tensor *x = make4(VS_FLOAT32, 1, 4, 4, 3);
    vs_tensor *f3 = make4(VS_FLOAT32, 2, 2, 3, 1);
    vs_tensor *y = (vs_tensor *)&y;
    int st[4] = {1, 1, 1, 1};

    FAILS(vs_conv2d(x, fd, st, VS_PAD_SAME, &y), VS_EDTYPE,
               "conv2d: filter dtype float64 does not match input dtype "
               "float32");
    FAILS(vs_conv2d(xi, f3, st, VS_PAD_SAME, &y), VS_EDTYPE,
               "conv2d: input dtype int32 is not supported (float32 or "
               "float64)");
    FAILS(vs_conv2d(x3, f3, st, VS_PAD_SAME, &y), VS_ESHAPE,
               "conv2d: input must be 4-D (NHWC), got shape (4, 4)");
    FAILS(vs_conv2d(x, x3, st, VS_PAD_SAME, &y), VS_ESHAPE,
               "conv2d: filter must be 4-D (HWIO), got shape (4, 4)");
    FAILS(vs_conv2d(x, big, st, VS_PAD_VALID, &y), VS_ESHAPE,
               "conv2d: computed output size would be negative: -1 "
               "[input_size: 4, effective_filter_size: 6, stride: 1] "
               "(input (1, 4, 4, 3), filter (6, 6, 3, 1))");
    int dl5[4] = {1, 5, 1, 1}, dl[4] = {1, 3, 3, 1};
    FAILS(vs_conv2d_ex(x, f3, st, VS_PAD_VALID, dl5, &y), VS_ESHAPE,
               "conv2d: computed output size would be negative: -1 "
               "[input_size: 4, effective_filter_size: 6, stride: 1] "
               "(input (1, 4, 4, 3), filter (2, 2, 3, 1))");
    /* (4 - 4 + 1) / 1 = 1: that one is fine; check the shape instead */
    OK(vs_conv2d_ex(x, f3, st, VS_PAD_VALID, dl, &y));
    assert_int_equal(y->shape[1], 1);
    vs_tensor_free(y);
    y = NULL;

    /* A filter with a zero spatial dimension. */
    vs_tensor *f0 = make4(VS_FLOAT32, 0, 2, 3, 1);
    FAILS(vs_conv2d(x, f0, st, VS_PAD_SAME, &y), VS_ESHAPE,
               "conv2d: filter height and width must be positive, got "
               "filter (0, 2, 3, 1)");
    vs_tensor_free(f0);

    vs_tensor_free(x);
    vs_tensor_free(f3);
    vs_tensor_free(big);
    vs_tensor_free(fd);
    vs_tensor_free(xi);
    vs_tensor_free(x3);
}

/* conv2d refuses hand-made tensors without data, with negative dims, a
 * rank outside [0, 8] (checked before any shape is printed: issue 13) or
 * an output too large for size_t. */
static void test_conv2d__malformed_tensors_refused(void **state)
{
    (void)state;
    vs_tensor *x = make4(VS_FLOAT32, 1, 4, 4, 3);
    vs_tensor *f3 = make4(VS_FLOAT32, 2, 2, 3, 1);
    vs_tensor *y = (vs_tensor *)&y;
    int st[4] = {1, 1, 1, 1};

    /* Hand-made tensors: no data, and an output whose size overflows. */
    float dummy[4] = {0};
    vs_tensor fake = {VS_FLOAT32, 4, {1, 2, 2, 1}, NULL};
    FAILS(vs_conv2d(&fake, f3, st, VS_PAD_SAME, &y), VS_EINVAL,
               "conv2d: input has 4 elements but no data");
    vs_tensor hx = {VS_FLOAT32, 4, {1, 1 << 20, 1 << 20, 1}, dummy};
    vs_tensor hf = {VS_FLOAT32, 4, {1, 1, 1, (int64_t)1 << 30}, dummy};
    assert_int_equal(vs_conv2d(&hx, &hf, st, VS_PAD_SAME, &y), VS_EINVAL);
    const char *want = "conv2d: output: shape (1, 1048576, 1048576, "
                       "1073741824) of float32 is too large";
    assert_int_equal(strncmp(vs_errmsg(), want, strlen(want)), 0);
    assert_null(y);
    vs_tensor neg = {VS_FLOAT32, 4, {1, -2, 2, 1}, dummy};
    assert_int_equal(vs_conv2d(&neg, f3, st, VS_PAD_SAME, &y), VS_EINVAL);
    assert_int_equal(strncmp(vs_errmsg(), "conv2d: input: ", 15), 0);

    vs_tensor wide = {VS_FLOAT32, 200, {1, 2, 2, 1}, dummy};
    FAILS(vs_conv2d(&wide, f3, st, VS_PAD_SAME, &y), VS_EINVAL,
               "conv2d: input: rank 200 is out of range: a tensor has 0 to "
               "8 dimensions");
    wide.ndim = -1;
    FAILS(vs_conv2d(x, &wide, st, VS_PAD_SAME, &y), VS_EINVAL,
               "conv2d: filter: rank -1 is out of range: a tensor has 0 to "
               "8 dimensions");
    assert_null(y);
    vs_tensor_free(x);
    vs_tensor_free(f3);
}

/* Every other op checks a tensor's rank (and dtype) before printing its
 * shape (issue 13). */
static void test_ops__rank_out_of_range_refused(void **state)
{
    (void)state;
    float dummy[4] = {0};
    vs_tensor ok = {VS_FLOAT32, 2, {2, 2}, dummy};
    vs_tensor wide = {VS_FLOAT32, 200, {2, 2}, dummy};
    vs_tensor neg = {VS_FLOAT32, -7, {2, 2}, dummy};
    vs_tensor bad_dtype = {(vs_dtype)55, 2, {2, 2}, dummy};
    int k[4] = {1, 1, 1, 1};
    vs_tensor *y = NULL;
    FAILS(vs_relu(&wide, &y), VS_EINVAL,
               "relu: x: rank 200 is out of range: a tensor has 0 to 8 "
               "dimensions");
    FAILS(vs_matmul(&ok, &neg, 0, 0, &y), VS_EINVAL,
               "matmul: b: rank -7 is out of range: a tensor has 0 to 8 "
               "dimensions");
    FAILS(vs_bias_add(&wide, &ok, &y), VS_EINVAL,
               "bias_add: value: rank 200 is out of range: a tensor has 0 "
               "to 8 dimensions");
    FAILS(vs_max_pool(&neg, k, k, VS_PAD_SAME, &y), VS_EINVAL,
               "max_pool: input: rank -7 is out of range: a tensor has 0 to "
               "8 dimensions");
    FAILS(vs_avg_pool(&bad_dtype, k, k, VS_PAD_SAME, &y), VS_EINVAL,
               "avg_pool: input: invalid dtype 55");
    assert_null(y);
}

static void test_gemm_isa_switch(void **state)
{
    (void)state;
    FAILS(vs__gemm_set_isa(99), VS_EINVAL,
               "gemm: instruction set unknown (99) is not available on this "
               "CPU");
    assert_int_equal(vs__gemm_isa_supported(VS_ISA_SCALAR), 1);
    OK(vs__gemm_set_isa(VS_ISA_SCALAR));
    assert_int_equal(vs__gemm_isa(), VS_ISA_SCALAR);
    OK(vs__gemm_set_isa(VS_ISA_AUTO));
    assert_int_not_equal(vs__gemm_isa(), VS_ISA_AUTO);
    assert_string_equal(vs__gemm_isa_name(VS_ISA_AVX512), "avx512");
}

/* The row-to-panel transposer on every height the paths use (the AVX-512
 * one runs for mr 14), every row count and ragged widths. */
static void test_pack_rows_to_panel(void **state)
{
    (void)state;
    enum { LD = 45 };
    static float src[16 * LD], dst[50 * 16];
    const size_t mrs[3] = {4, 6, 14};
    for (size_t i = 0; i < sizeof src / sizeof src[0]; i++)
        src[i] = (float)i + 0.5f;
    for (int q = 0; q < 3; q++) {
        size_t mr = mrs[q];
        for (size_t rows = 1; rows <= mr; rows++)
            for (size_t kc = 1; kc <= 40; kc += 3) {
                for (size_t i = 0; i < sizeof dst / sizeof dst[0]; i++)
                    dst[i] = -7.0f;
                vs__pack_rows_to_panel(src + 2, LD, rows, kc, mr, dst);
                for (size_t k = 0; k < kc; k++)
                    for (size_t i = 0; i < mr; i++) {
                        float want = i < rows ? src[2 + i * LD + k] : 0.0f;
                        if (dst[k * mr + i] != want)
                            fail_msg("mr %zu rows %zu kc %zu: (%zu,%zu) is "
                                     "%g, want %g",
                                     mr, rows, kc, k, i, dst[k * mr + i],
                                     want);
                    }
                /* nothing written past the panel */
                assert_true(dst[kc * mr] == -7.0f);
            }
    }
}

/* ------------------------------------------------------------------------ */
/* matmul                                                                    */

static void run_matmul(vs_dtype dt, int64_t m, int64_t n, int64_t k, int ta,
                       int tb)
{
    vs_tensor *a = ta ? make2(dt, k, m) : make2(dt, m, k);
    vs_tensor *b = tb ? make2(dt, n, k) : make2(dt, k, n);
    vs_tensor *y = NULL;
    fill_rand(a);
    fill_rand(b);
    OK(vs_matmul(a, b, ta, tb, &y));
    assert_int_equal(y->ndim, 2);
    assert_int_equal(y->shape[0], m);
    assert_int_equal(y->shape[1], n);
    double rel = dt == VS_FLOAT32 ? 1e-5 : 1e-12;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t q = 0; q < k; q++)
                s += get(a, ta ? q * m + i : i * k + q) *
                     get(b, tb ? j * k + q : q * n + j);
            double v = get(y, i * n + j);
            double tol = rel * sqrt((double)k + 1) * (1 + fabs(s));
            if (!(fabs(v - s) <= tol))
                fail_msg("matmul %lldx%lldx%lld ta=%d tb=%d mismatch at "
                         "(%lld,%lld): got %.9g want %.9g",
                         (long long)m, (long long)n, (long long)k, ta, tb,
                         (long long)i, (long long)j, v, s);
        }
    vs_tensor_free(a);
    vs_tensor_free(b);
    vs_tensor_free(y);
}

static void test_matmul_all_paths(void **state)
{
    (void)state;
    static const int64_t shapes[][3] = {
        {1, 1, 1}, {2, 3, 4}, {37, 41, 53}, {15, 33, 300},
        {100, 7, 129}, {3, 200, 70}, {29, 64, 512}, {5, 5, 0},
    };
    int list[3], ni = isas(list);
    for (int q = 0; q < ni; q++) {
        OK(vs__gemm_set_isa(list[q]));
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int t = 0; t < 4; t++)
                run_matmul(VS_FLOAT32, shapes[s][0], shapes[s][1],
                           shapes[s][2], t & 1, t >> 1);
    }
    OK(vs__gemm_set_isa(VS_ISA_AUTO));
    for (int t = 0; t < 4; t++)
        run_matmul(VS_FLOAT64, 13, 17, 19, t & 1, t >> 1);
}

/* Wide and short: the threads split N instead of M. */
static void test_matmul_threads_bitwise(void **state)
{
    (void)state;
    vs_tensor *a = make2(VS_FLOAT32, 8, 600);
    vs_tensor *b = make2(VS_FLOAT32, 600, 4000);
    vs_tensor *y1 = NULL, *y2 = NULL;
    fill_rand(a);
    fill_rand(b);
    vs_set_num_threads(1);
    OK(vs_matmul(a, b, 0, 0, &y1));
    vs_set_num_threads(2);
    OK(vs_matmul(a, b, 0, 0, &y2));
    assert_int_equal(vs__gemm_last_threads(), 2);
    vs_set_num_threads(0);
    assert_memory_equal(y1->data, y2->data, vs_tensor_nbytes(y1));
    vs_tensor_free(y1);
    vs_tensor_free(y2);
    vs_tensor_free(a);
    vs_tensor_free(b);
}

static void test_matmul_errors(void **state)
{
    (void)state;
    vs_tensor *a = make2(VS_FLOAT32, 2, 3);
    vs_tensor *b = make2(VS_FLOAT32, 4, 5);
    vs_tensor *d = make2(VS_FLOAT64, 3, 5);
    vs_tensor *i = make2(VS_INT32, 3, 5);
    vs_tensor *x4 = make4(VS_FLOAT32, 1, 2, 3, 4);
    vs_tensor *y = (vs_tensor *)&y;
    FAILS(vs_matmul(a, b, 0, 0, &y), VS_ESHAPE,
               "matmul: Matrix size-incompatible: In[0]: [2,3], In[1]: "
               "[4,5] (transpose_a 0, transpose_b 0)");
    assert_null(y);
    FAILS(vs_matmul(a, b, 1, 1, &y), VS_ESHAPE,
               "matmul: Matrix size-incompatible: In[0]: [2,3], In[1]: "
               "[4,5] (transpose_a 1, transpose_b 1)");
    FAILS(vs_matmul(x4, b, 0, 0, &y), VS_ESHAPE,
               "matmul: In[0] is not a matrix. Instead it has shape "
               "[1,2,3,4]");
    FAILS(vs_matmul(a, x4, 0, 0, &y), VS_ESHAPE,
               "matmul: In[1] is not a matrix. Instead it has shape "
               "[1,2,3,4]");
    FAILS(vs_matmul(a, d, 0, 0, &y), VS_EDTYPE,
               "matmul: b dtype float64 does not match a dtype float32");
    FAILS(vs_matmul(i, d, 0, 0, &y), VS_EDTYPE,
               "matmul: dtype int32 is not supported (float32 or float64)");
    FAILS(vs_matmul(NULL, d, 0, 0, &y), VS_EINVAL, "matmul: a is NULL");
    FAILS(vs_matmul(a, d, 0, 0, NULL), VS_EINVAL, "matmul: out is NULL");
    /* transpose_a of (2,3) is (3,2); with b (2,5) it works */
    vs_tensor *b2 = make2(VS_FLOAT32, 2, 5);
    OK(vs_matmul(a, b2, 1, 0, &y));
    assert_int_equal(y->shape[0], 3);
    assert_int_equal(y->shape[1], 5);
    vs_tensor_free(y);
    vs_tensor_free(b2);
    vs_tensor_free(a);
    vs_tensor_free(b);
    vs_tensor_free(d);
    vs_tensor_free(i);
    vs_tensor_free(x4);
}

/* ------------------------------------------------------------------------ */
/* bias_add, relu                                                            */

static void test_bias_add(void **state)
{
    (void)state;
    vs_tensor *v = make2(VS_FLOAT32, 2, 3);
    int64_t s1[1] = {3};
    vs_tensor *b = NULL, *y = NULL;
    OK(vs_tensor_new(VS_FLOAT32, 1, s1, &b));
    for (int i = 0; i < 6; i++)
        ((float *)v->data)[i] = (float)i;
    for (int i = 0; i < 3; i++)
        ((float *)b->data)[i] = (float)(10 * (i + 1));
    OK(vs_bias_add(v, b, &y));
    const float want[6] = {10, 21, 32, 13, 24, 35};
    assert_memory_equal(y->data, want, sizeof want);
    vs_tensor_free(y);

    /* 4-D NHWC float64 against a loop */
    vs_tensor *v4 = make4(VS_FLOAT64, 2, 3, 4, 5);
    int64_t s5[1] = {5};
    vs_tensor *b5 = NULL;
    OK(vs_tensor_new(VS_FLOAT64, 1, s5, &b5));
    fill_rand(v4);
    fill_rand(b5);
    OK(vs_bias_add(v4, b5, &y));
    for (int64_t i = 0; i < vs_tensor_numel(v4); i++)
        assert_true(get(y, i) == get(v4, i) + get(b5, i % 5));
    vs_tensor_free(y);

    /* int32 */
    vs_tensor *vi = make2(VS_INT32, 1, 2);
    int64_t s2[1] = {2};
    vs_tensor *bi = NULL;
    OK(vs_tensor_new(VS_INT32, 1, s2, &bi));
    ((int32_t *)vi->data)[0] = 5;
    ((int32_t *)vi->data)[1] = -7;
    ((int32_t *)bi->data)[0] = 1;
    ((int32_t *)bi->data)[1] = 2;
    OK(vs_bias_add(vi, bi, &y));
    assert_int_equal(((int32_t *)y->data)[0], 6);
    assert_int_equal(((int32_t *)y->data)[1], -5);
    vs_tensor_free(y);

    y = (vs_tensor *)&y;
    FAILS(vs_bias_add(b, b, &y), VS_ESHAPE,
               "bias_add: Input tensor must be at least 2D: [3]");
    assert_null(y);
    FAILS(vs_bias_add(v, v, &y), VS_ESHAPE,
               "bias_add: Biases must be 1D: [2,3]");
    FAILS(vs_bias_add(v4, b, &y), VS_EDTYPE,
               "bias_add: bias dtype float32 does not match value dtype "
               "float64");
    FAILS(vs_bias_add(v4, b5, NULL), VS_EINVAL, "bias_add: out is NULL");
    vs_tensor *b4 = NULL;
    int64_t s4[1] = {4};
    OK(vs_tensor_new(VS_FLOAT32, 1, s4, &b4));
    FAILS(vs_bias_add(v, b4, &y), VS_ESHAPE,
               "bias_add: Must provide as many biases as the last dimension "
               "of the input tensor: [4] vs. [2,3]");
    vs_tensor *vb = make2(VS_BOOL, 2, 2);
    FAILS(vs_bias_add(vb, vb, &y), VS_EDTYPE,
               "bias_add: dtype bool is not supported (float32, float64, "
               "int32 or int64)");
    vs_tensor_free(vb);
    vs_tensor_free(b4);
    vs_tensor_free(v);
    vs_tensor_free(b);
    vs_tensor_free(v4);
    vs_tensor_free(b5);
    vs_tensor_free(vi);
    vs_tensor_free(bi);
}

static void test_relu(void **state)
{
    (void)state;
    vs_tensor *x = make2(VS_FLOAT32, 1, 5), *y = NULL;
    float in[5] = {-1.5f, 0.0f, 2.5f, NAN, -INFINITY};
    memcpy(x->data, in, sizeof in);
    OK(vs_relu(x, &y));
    const float *o = y->data;
    assert_true(o[0] == 0.0f && o[1] == 0.0f && o[2] == 2.5f);
    assert_true(isnan(o[3]));
    assert_true(o[4] == 0.0f);
    vs_tensor_free(y);
    vs_tensor *xi = make2(VS_INT64, 1, 2);
    ((int64_t *)xi->data)[0] = -3;
    ((int64_t *)xi->data)[1] = 4;
    OK(vs_relu(xi, &y));
    assert_int_equal(((int64_t *)y->data)[0], 0);
    assert_int_equal(((int64_t *)y->data)[1], 4);
    vs_tensor_free(y);
    vs_tensor *xb = make2(VS_UINT8, 1, 2);
    y = (vs_tensor *)&y;
    FAILS(vs_relu(xb, &y), VS_EDTYPE,
               "relu: dtype uint8 is not supported (float32, float64, int32 "
               "or int64)");
    assert_null(y);
    FAILS(vs_relu(NULL, &y), VS_EINVAL, "relu: x is NULL");
    vs_tensor_free(xb);
    vs_tensor_free(xi);
    vs_tensor_free(x);
}

/* ------------------------------------------------------------------------ */
/* Pools                                                                     */

static void check_pool(const vs_tensor *x, int kh, int kw, int sh, int sw,
                       vs_padding pad, int avg, const vs_tensor *y)
{
    int64_t n = x->shape[0], h = x->shape[1], w = x->shape[2],
            c = x->shape[3];
    int64_t pt, pl;
    int64_t oh = ref_out(h, kh, 1, sh, pad, &pt);
    int64_t ow = ref_out(w, kw, 1, sw, pad, &pl);
    assert_int_equal(y->shape[1], oh);
    assert_int_equal(y->shape[2], ow);
    for (int64_t b = 0; b < n; b++)
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++)
                for (int64_t q = 0; q < c; q++) {
                    double s = 0, m = -INFINITY;
                    int cnt = 0;
                    for (int a = 0; a < kh; a++)
                        for (int e = 0; e < kw; e++) {
                            int64_t ih = i * sh + a - pt, iw = j * sw + e - pl;
                            if (ih < 0 || ih >= h || iw < 0 || iw >= w)
                                continue;
                            double v = get(x, ((b * h + ih) * w + iw) * c + q);
                            s += v;
                            m = v > m ? v : m;
                            cnt++;
                        }
                    double want = avg ? s / cnt : m;
                    double got = get(y, ((b * oh + i) * ow + j) * c + q);
                    if (!(fabs(got - want) <= 1e-5 * (1 + fabs(want))))
                        fail_msg("pool mismatch: got %.9g want %.9g", got,
                                 want);
                }
}

static void test_pool_hand(void **state)
{
    (void)state;
    vs_tensor *x = make4(VS_FLOAT32, 1, 3, 3, 1), *y = NULL;
    int k3[4] = {1, 3, 3, 1}, k2[4] = {1, 2, 2, 1}, s1[4] = {1, 1, 1, 1};
    for (int i = 0; i < 9; i++)
        ((float *)x->data)[i] = (float)(i + 1);
    /* 3x3 SAME: one pad on every side; the corner averages 1, 2, 4, 5
     * only (3, not 12/9 as when padding counted) */
    OK(vs_avg_pool(x, k3, s1, VS_PAD_SAME, &y));
    assert_true(((float *)y->data)[0] == 3.0f);
    assert_true(((float *)y->data)[4] == 5.0f);
    assert_true(((float *)y->data)[8] == 7.0f); /* (5+6+8+9)/4 */
    vs_tensor_free(y);
    /* 2x2 SAME: the pad is at the bottom/right only */
    OK(vs_avg_pool(x, k2, s1, VS_PAD_SAME, &y));
    assert_true(((float *)y->data)[0] == 3.0f);  /* (1+2+4+5)/4 */
    assert_true(((float *)y->data)[6] == 7.5f);  /* (7+8)/2 */
    assert_true(((float *)y->data)[8] == 9.0f);  /* 9 alone */
    vs_tensor_free(y);
    /* max ignores padding even when every value is negative */
    for (int i = 0; i < 9; i++)
        ((float *)x->data)[i] = -(float)(i + 1);
    OK(vs_max_pool(x, k3, s1, VS_PAD_SAME, &y));
    assert_true(((float *)y->data)[0] == -1.0f);
    assert_true(((float *)y->data)[8] == -5.0f);
    vs_tensor_free(y);
    OK(vs_max_pool(x, k2, s1, VS_PAD_VALID, &y));
    assert_int_equal(y->shape[1], 2);
    assert_true(((float *)y->data)[3] == -5.0f);
    vs_tensor_free(y);
    vs_tensor_free(x);
}

static void test_pool_shapes(void **state)
{
    (void)state;
    static const int cases[][5] = {
        /* kh kw sh sw pad */
        {2, 2, 2, 2, VS_PAD_SAME}, {3, 3, 2, 2, VS_PAD_SAME},
        {3, 3, 2, 2, VS_PAD_VALID}, {1, 1, 3, 2, VS_PAD_SAME},
        {2, 3, 1, 3, VS_PAD_VALID}, {5, 4, 3, 3, VS_PAD_SAME},
        {4, 4, 1, 1, VS_PAD_SAME},
    };
    vs_dtype dts[2] = {VS_FLOAT32, VS_FLOAT64};
    for (int d = 0; d < 2; d++) {
        vs_tensor *x = make4(dts[d], 2, 7, 8, 3);
        fill_rand(x);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            for (int avg = 0; avg < 2; avg++) {
                int k[4] = {1, cases[i][0], cases[i][1], 1};
                int s[4] = {1, cases[i][2], cases[i][3], 1};
                vs_padding p = (vs_padding)cases[i][4];
                vs_tensor *y = NULL;
                int rc = avg ? vs_avg_pool(x, k, s, p, &y)
                             : vs_max_pool(x, k, s, p, &y);
                OK(rc);
                check_pool(x, k[1], k[2], s[1], s[2], p, avg, y);
                vs_tensor_free(y);
            }
        vs_tensor_free(x);
    }
}

static void test_pool_errors(void **state)
{
    (void)state;
    vs_tensor *x = make4(VS_FLOAT32, 1, 3, 3, 2), *y = (vs_tensor *)&y;
    vs_tensor *x2 = make2(VS_FLOAT32, 3, 3);
    vs_tensor *xi = make4(VS_INT32, 1, 3, 3, 2);
    int k[4] = {1, 2, 2, 1}, s[4] = {1, 1, 1, 1};
    int kd[4] = {1, 2, 2, 2}, k0[4] = {1, 0, 2, 1}, k5[4] = {1, 5, 1, 1};
    FAILS(vs_max_pool(x, kd, s, VS_PAD_SAME, &y), VS_EINVAL,
               "max_pool: pooling over the batch and depth dimensions is not "
               "supported: ksize and strides must be 1 there, got ksize "
               "[1,2,2,2], strides [1,1,1,1]");
    assert_null(y);
    FAILS(vs_avg_pool(x, k0, s, VS_PAD_SAME, &y), VS_EINVAL,
               "avg_pool: ksize and strides must be positive, got ksize "
               "[1,0,2,1], strides [1,1,1,1]");
    FAILS(vs_avg_pool(x, k5, s, VS_PAD_VALID, &y), VS_ESHAPE,
               "avg_pool: computed output size would be negative: -1 "
               "[input_size: 3, effective_filter_size: 5, stride: 1] "
               "(input (1, 3, 3, 2), ksize [1,5,1,1])");
    FAILS(vs_max_pool(x2, k, s, VS_PAD_SAME, &y), VS_ESHAPE,
               "max_pool: input must be 4-D (NHWC), got shape (3, 3)");
    FAILS(vs_max_pool(xi, k, s, VS_PAD_SAME, &y), VS_EDTYPE,
               "max_pool: dtype int32 is not supported (float32 or "
               "float64)");
    FAILS(vs_max_pool(x, NULL, s, VS_PAD_SAME, &y), VS_EINVAL,
               "max_pool: ksize is NULL");
    FAILS(vs_max_pool(x, k, NULL, VS_PAD_SAME, &y), VS_EINVAL,
               "max_pool: strides is NULL");
    FAILS(vs_max_pool(x, k, s, (vs_padding)3, &y), VS_EINVAL,
               "max_pool: invalid padding 3 (VS_PAD_SAME or VS_PAD_VALID)");
    FAILS(vs_avg_pool(x, k, s, VS_PAD_SAME, NULL), VS_EINVAL,
               "avg_pool: out is NULL");
    vs_tensor_free(x);
    vs_tensor_free(x2);
    vs_tensor_free(xi);
}

/* Each test starts from the defaults, even after a failed one. */
static int reset(void **state)
{
    (void)state;
    vs__conv_set_path(VS_CONV_AUTO);
    vs_set_num_threads(0);
    return vs__gemm_set_isa(VS_ISA_AUTO) == VS_OK ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_conv_seed, reset),
        cmocka_unit_test_teardown(test_conv_shapes_all_paths, reset),
        cmocka_unit_test_teardown(test_conv_float64, reset),
        cmocka_unit_test_teardown(test_conv_tiny_is_direct, reset),
        cmocka_unit_test_teardown(test_conv_dilations_null_is_one, reset),
        cmocka_unit_test_teardown(test_conv_empty, reset),
        cmocka_unit_test_teardown(test_conv_threads_bitwise, reset),
        cmocka_unit_test_teardown(test_conv2d__bad_arguments_refused, reset),
        cmocka_unit_test_teardown(test_conv2d__bad_dtypes_and_shapes_refused,
                                  reset),
        cmocka_unit_test_teardown(test_conv2d__malformed_tensors_refused,
                                  reset),
        cmocka_unit_test(test_ops__rank_out_of_range_refused),
        cmocka_unit_test_teardown(test_gemm_isa_switch, reset),
        cmocka_unit_test_teardown(test_pack_rows_to_panel, reset),
        cmocka_unit_test_teardown(test_matmul_all_paths, reset),
        cmocka_unit_test_teardown(test_matmul_threads_bitwise, reset),
        cmocka_unit_test_teardown(test_matmul_errors, reset),
        cmocka_unit_test_teardown(test_bias_add, reset),
        cmocka_unit_test_teardown(test_relu, reset),
        cmocka_unit_test_teardown(test_pool_hand, reset),
        cmocka_unit_test_teardown(test_pool_shapes, reset),
        cmocka_unit_test_teardown(test_pool_errors, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
