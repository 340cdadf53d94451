/* varstore: conv2d (NHWC input, HWIO filter), TF's padding rules.
 *
 * float32 runs as a GEMM: C[M = N*Ho*Wo, Cout] = patches[M, K = Kh*Kw*Cin]
 * * filter[K, Cout]. The HWIO filter already is the K x Cout matrix and the
 * NHWC output already is the M x Cout matrix; the patch matrix is never
 * built: the GEMM's A-packing callback gathers im2col panels straight from
 * the input (implicit im2col). A 1x1 stride-1 conv is a plain GEMM on the
 * input. Tiny problems and float64 take a direct loop. */
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "gemm.h"
#include "ops_int.h"

/* Below this many flops (2*M*K*Cout) the direct loop wins: no packing, no
 * allocation besides the output. */
#define DIRECT_MAX_FLOPS (8.0 * 1024)

static atomic_int g_conv_path = VS_CONV_AUTO;

void vs__conv_set_path(int path)
{
    atomic_store(&g_conv_path, path);
}

/* ------------------------------------------------------------------------ */
/* Helpers shared with nn.c                                                  */

const char *vs__ints4_str(const int v[4], char *buf, size_t cap)
{
    snprintf(buf, cap, "[%d,%d,%d,%d]", v[0], v[1], v[2], v[3]);
    return buf;
}

int vs__op_check_tensor(const char *op, const char *what, const vs_tensor *t)
{
    int64_t numel;
    if (t == NULL)
        return vs__fail(VS_EINVAL, "%s: %s is NULL", op, what);
    if (vs_shape_check(t->dtype, t->ndim, t->shape, &numel, NULL) != VS_OK)
        return vs__fail_prefix(VS_EINVAL, "%s: %s: ", op, what);
    if (numel > 0 && t->data == NULL)
        return vs__fail(VS_EINVAL, "%s: %s has %lld elements but no data", op,
                        what, (long long)numel);
    return VS_OK;
}

int vs__window_size(const char *op, int64_t in, int64_t k, int64_t dilation,
                    int64_t stride, vs_padding padding, int64_t *out,
                    int64_t *pad_before)
{
    if (k < 1 || dilation < 1 || stride < 1)
        return vs__fail(VS_EINVAL, "%s: window %lld, dilation %lld and "
                                   "stride %lld must be positive",
                        op, (long long)k, (long long)dilation,
                        (long long)stride);
    if (k - 1 > (INT64_MAX - 1) / dilation)
        return vs__fail(VS_ESHAPE, "%s: effective filter size of %lld with "
                                   "dilation %lld overflows",
                        op, (long long)k, (long long)dilation);
    int64_t eff = (k - 1) * dilation + 1;
    if (padding == VS_PAD_VALID) {
        /* in, eff <= INT64_MAX / 2 here: in is a checked tensor dimension */
        int64_t o = (in - eff + stride) / stride; /* truncates, as TF */
        if (o < 0)
            return vs__fail(VS_ESHAPE,
                            "%s: computed output size would be negative: "
                            "%lld [input_size: %lld, effective_filter_size: "
                            "%lld, stride: %lld]",
                            op, (long long)o, (long long)in, (long long)eff,
                            (long long)stride);
        *out = o;
        *pad_before = 0;
        return VS_OK;
    }
    int64_t o = in / stride + (in % stride != 0);
    int64_t need = 0;
    if (o > 0) {
        /* (o - 1) * stride < in, so no overflow; eff may be huge */
        int64_t span = (o - 1) * stride;
        if (eff > INT64_MAX - span)
            return vs__fail(VS_ESHAPE, "%s: effective filter size %lld "
                                       "overflows the padding",
                            op, (long long)eff);
        need = span + eff - in;
        if (need < 0)
            need = 0;
    }
    *out = o;
    *pad_before = need / 2;
    return VS_OK;
}

/* ------------------------------------------------------------------------ */
/* Geometry                                                                  */

typedef struct {
    int64_t n, h, w, c;   /* input */
    int64_t kh, kw, co;   /* filter (kh, kw, c, co) */
    int64_t sh, sw, dh, dw;
    int64_t oh, ow;       /* output */
    int64_t pt, pl;       /* padding before (top, left) */
} geom;

/* Direct loop, any floating type. */
#define DEFINE_DIRECT(NAME, T)                                                 \
    static void NAME(const geom *g, const T *x, const T *f, T *y)              \
    {                                                                          \
        for (int64_t n = 0; n < g->n; n++)                                     \
            for (int64_t oh = 0; oh < g->oh; oh++)                             \
                for (int64_t ow = 0; ow < g->ow; ow++) {                       \
                    T *o = y + ((n * g->oh + oh) * g->ow + ow) * g->co;        \
                    for (int64_t i = 0; i < g->kh; i++) {                      \
                        int64_t ih = oh * g->sh + i * g->dh - g->pt;           \
                        if (ih < 0 || ih >= g->h)                              \
                            continue;                                          \
                        for (int64_t j = 0; j < g->kw; j++) {                  \
                            int64_t iw = ow * g->sw + j * g->dw - g->pl;       \
                            if (iw < 0 || iw >= g->w)                          \
                                continue;                                      \
                            const T *px = x + ((n * g->h + ih) * g->w + iw) *  \
                                                  g->c;                        \
                            const T *pf = f + (i * g->kw + j) * g->c * g->co;  \
                            for (int64_t c = 0; c < g->c; c++) {               \
                                T v = px[c];                                   \
                                const T *fr = pf + c * g->co;                  \
                                for (int64_t q = 0; q < g->co; q++)            \
                                    o[q] += v * fr[q];                         \
                            }                                                  \
                        }                                                      \
                    }                                                          \
                }                                                              \
    }

DEFINE_DIRECT(direct_f32, float)
DEFINE_DIRECT(direct_f64, double)

typedef struct {
    const float *x;
    const geom *g;
} conv_ctx;

/* One patch row segment, general case (any dilation): walks (i, j, c). */
static void gather_general(const geom *g, const float *xn, int64_t ih0,
                           int64_t iw0, size_t k0, size_t kc, float *d)
{
    size_t C = (size_t)g->c;
    size_t k = k0, end = k0 + kc;
    size_t c = k % C, t2 = k / C;
    int64_t j = (int64_t)(t2 % (size_t)g->kw);
    int64_t i = (int64_t)(t2 / (size_t)g->kw);
    while (k < end) {
        size_t run = C - c;
        int64_t ih = ih0 + i * g->dh, iw = iw0 + j * g->dw;
        if (run > end - k)
            run = end - k;
        if (ih >= 0 && ih < g->h && iw >= 0 && iw < g->w)
            memcpy(d, xn + (size_t)(ih * g->w + iw) * C + c,
                   run * sizeof(float));
        else
            memset(d, 0, run * sizeof(float));
        d += run;
        k += run;
        c = 0;
        if (++j == g->kw) {
            j = 0;
            i++;
        }
    }
}

/* dw == 1: a filter row (j, c) is one contiguous stretch of input,
 * offset (ih * W + iw0) * C + p for p = j * C + c; only the columns
 * [plo, phi) of it are inside the image. */
static void gather_dw1(const geom *g, const float *xn, int64_t ih0,
                       int64_t iw0, size_t k0, size_t kc, float *d)
{
    size_t C = (size_t)g->c, rw = (size_t)g->kw * C;
    int64_t jlo = iw0 < 0 ? -iw0 : 0, jhi = g->w - iw0;
    if (jlo > g->kw)
        jlo = g->kw;
    if (jhi > g->kw)
        jhi = g->kw;
    if (jhi < jlo)
        jhi = jlo;
    size_t plo = (size_t)jlo * C, phi = (size_t)jhi * C;
    size_t k = k0, end = k0 + kc;
    int64_t i = (int64_t)(k0 / rw);
    size_t p = k0 % rw;
    while (k < end) {
        size_t n = rw - p < end - k ? rw - p : end - k;
        int64_t ih = ih0 + i * g->dh;
        if (ih < 0 || ih >= g->h) {
            memset(d, 0, n * sizeof(float));
        } else {
            size_t a = p, b = p + n;
            size_t ca = a > plo ? a : plo, cb = b < phi ? b : phi;
            if (ca >= cb) {
                memset(d, 0, n * sizeof(float));
            } else {
                const float *row = xn + ih * g->w * (int64_t)C +
                                   iw0 * (int64_t)C;
                if (ca > a)
                    memset(d, 0, (ca - a) * sizeof(float));
                memcpy(d + (ca - a), row + ca, (cb - ca) * sizeof(float));
                if (b > cb)
                    memset(d + (cb - a), 0, (b - cb) * sizeof(float));
            }
        }
        d += n;
        k += n;
        p = 0;
        i++;
    }
}

/* Implicit im2col: row m = (n, oh, ow), column k = (i, j, c). Each row's
 * patch segment is gathered contiguously (memcpy / memset runs) into a
 * stack buffer, then the rows are transposed into the MR-tall panel. */
static void pack_conv(const void *ctx, size_t m0, size_t rows, size_t k0,
                      size_t kc, size_t mr, float *dst)
{
    _Alignas(64) float buf[VS_GEMM_MR_MAX * VS_GEMM_KC_MAX];
    const conv_ctx *cc = ctx;
    const geom *g = cc->g;
    size_t C = (size_t)g->c;
    int64_t ow = (int64_t)(m0 % (size_t)g->ow);
    size_t t = m0 / (size_t)g->ow;
    int64_t oh = (int64_t)(t % (size_t)g->oh);
    int64_t n = (int64_t)(t / (size_t)g->oh);
    for (size_t r = 0; r < rows; r++) {
        int64_t ih0 = oh * g->sh - g->pt, iw0 = ow * g->sw - g->pl;
        const float *xn = cc->x + (size_t)n * (size_t)(g->h * g->w) * C;
        if (g->dw == 1)
            gather_dw1(g, xn, ih0, iw0, k0, kc, buf + r * kc);
        else
            gather_general(g, xn, ih0, iw0, k0, kc, buf + r * kc);
        if (++ow == g->ow) {
            ow = 0;
            if (++oh == g->oh) {
                oh = 0;
                n++;
            }
        }
    }
    vs__pack_rows_to_panel(buf, kc, rows, kc, mr, dst);
}

static int conv_gemm(const geom *g, const float *x, const float *f, float *y)
{
    vs__sgemm_args a;
    vs__mat_a plain;
    conv_ctx cc;
    a.m = (size_t)(g->n * g->oh * g->ow);
    a.n = (size_t)g->co;
    a.k = (size_t)(g->kh * g->kw * g->c);
    a.b = f;
    a.b_rs = (size_t)g->co;
    a.b_cs = 1;
    a.c = y;
    a.ldc = (size_t)g->co;
    if (g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0 &&
        g->pl == 0 && g->oh == g->h && g->ow == g->w) {
        plain.a = x;
        plain.rs = (size_t)g->c;
        plain.cs = 1;
        a.pack_a = vs__pack_a_matrix;
        a.a_ctx = &plain;
    } else {
        cc.x = x;
        cc.g = g;
        a.pack_a = pack_conv;
        a.a_ctx = &cc;
    }
    return vs__sgemm(&a, vs__num_threads());
}

/* ------------------------------------------------------------------------ */
/* API                                                                       */

int vs_conv2d(const vs_tensor *input, const vs_tensor *filter,
              const int strides[4], vs_padding padding, vs_tensor **out)
{
    return vs_conv2d_ex(input, filter, strides, padding, NULL, out);
}

/* TF's checks of a strides or dilations argument ("strides",
 * "dilations"): 1 in the batch and depth dimensions, positive in the
 * others. */
static int check_nhwc_steps(const char *what, const int v[4])
{
    char b[64];
    if (v[0] != 1 || v[3] != 1)
        return vs__fail(VS_EINVAL,
                        "conv2d: %s in the batch and depth dimensions must "
                        "be 1, got %s",
                        what, vs__ints4_str(v, b, sizeof b));
    if (v[1] < 1 || v[2] < 1)
        return vs__fail(VS_EINVAL, "conv2d: %s must be positive, got %s",
                        what, vs__ints4_str(v, b, sizeof b));
    return VS_OK;
}

/* conv2d's checks of its arguments, in TF's order (input and filter are
 * well-formed tensors already). s1 and s2 hold the input's and filter's
 * shapes for the messages. */
static int check_conv_args(const vs_tensor *input, const vs_tensor *filter,
                           const int strides[4], const int dilations[4],
                           vs_padding padding, const char *s1, const char *s2)
{
    int rc;
    if (input->dtype != VS_FLOAT32 && input->dtype != VS_FLOAT64)
        return vs__fail(VS_EDTYPE,
                        "conv2d: input dtype %s is not supported (float32 "
                        "or float64)",
                        vs_dtype_name(input->dtype));
    if (filter->dtype != input->dtype)
        return vs__fail(VS_EDTYPE,
                        "conv2d: filter dtype %s does not match input dtype "
                        "%s",
                        vs_dtype_name(filter->dtype),
                        vs_dtype_name(input->dtype));
    if (input->ndim != 4)
        return vs__fail(VS_ESHAPE,
                        "conv2d: input must be 4-D (NHWC), got shape %s", s1);
    if (filter->ndim != 4)
        return vs__fail(VS_ESHAPE,
                        "conv2d: filter must be 4-D (HWIO), got shape %s", s2);
    rc = check_nhwc_steps("strides", strides);
    if (rc == VS_OK)
        rc = check_nhwc_steps("dilations", dilations);
    if (rc != VS_OK)
        return rc;
    if (padding != VS_PAD_SAME && padding != VS_PAD_VALID)
        return vs__fail(VS_EINVAL,
                        "conv2d: invalid padding %d (VS_PAD_SAME or "
                        "VS_PAD_VALID)",
                        (int)padding);
    if (input->shape[3] != filter->shape[2])
        return vs__fail(VS_ESHAPE,
                        "conv2d: input depth %lld does not match filter "
                        "in_channels %lld (input %s, filter %s)",
                        (long long)input->shape[3],
                        (long long)filter->shape[2], s1, s2);
    if (filter->shape[0] < 1 || filter->shape[1] < 1)
        return vs__fail(VS_ESHAPE,
                        "conv2d: filter height and width must be positive, "
                        "got filter %s",
                        s2);
    return VS_OK;
}

/* The geometry of a checked conv2d, output size and padding included. */
static int conv_geom(const vs_tensor *input, const vs_tensor *filter,
                     const int strides[4], const int dilations[4],
                     vs_padding padding, const char *s1, const char *s2,
                     geom *g)
{
    int rc;
    g->n = input->shape[0];
    g->h = input->shape[1];
    g->w = input->shape[2];
    g->c = input->shape[3];
    g->kh = filter->shape[0];
    g->kw = filter->shape[1];
    g->co = filter->shape[3];
    g->sh = strides[1];
    g->sw = strides[2];
    g->dh = dilations[1];
    g->dw = dilations[2];
    rc = vs__window_size("conv2d", g->h, g->kh, g->dh, g->sh, padding, &g->oh,
                         &g->pt);
    if (rc == VS_OK)
        rc = vs__window_size("conv2d", g->w, g->kw, g->dw, g->sw, padding,
                             &g->ow, &g->pl);
    if (rc != VS_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", vs_errmsg());
        return vs__fail(rc, "%s (input %s, filter %s)", msg, s1, s2);
    }
    return VS_OK;
}

/* Computes y (g's output, allocated) by the path the problem calls for:
 * a direct loop for float64 and tiny float32 problems, else the GEMM. */
static int conv_run(const geom *g, const vs_tensor *input,
                    const vs_tensor *filter, vs_tensor *y)
{
    /* Every size below fits: the output, input and filter byte sizes were
     * checked, and M * K <= output numel * filter numel is never formed. */
    int64_t numel = g->n * g->oh * g->ow * g->co;
    double flops;
    int path;
    if (numel == 0)
        return VS_OK;
    if (input->dtype == VS_FLOAT64) {
        direct_f64(g, input->data, filter->data, y->data);
        return VS_OK;
    }
    flops = 2.0 * (double)(g->n * g->oh * g->ow) *
            (double)(g->kh * g->kw * g->c) * (double)g->co;
    path = atomic_load(&g_conv_path);
    if (path == VS_CONV_DIRECT ||
        (path != VS_CONV_GEMM && flops < DIRECT_MAX_FLOPS)) {
        direct_f32(g, input->data, filter->data, y->data);
        return VS_OK;
    }
    return conv_gemm(g, input->data, filter->data, y->data);
}

int vs_conv2d_ex(const vs_tensor *input, const vs_tensor *filter,
                 const int strides[4], vs_padding padding,
                 const int dilations[4], vs_tensor **out)
{
    static const int one[4] = {1, 1, 1, 1};
    char s1[VS_SHAPE_STR_MAX], s2[VS_SHAPE_STR_MAX];
    vs_tensor *y;
    geom g;
    int rc;

    if (out == NULL)
        return vs__fail(VS_EINVAL, "conv2d: out is NULL");
    *out = NULL;
    rc = vs__op_check_tensor("conv2d", "input", input);
    if (rc == VS_OK)
        rc = vs__op_check_tensor("conv2d", "filter", filter);
    if (rc != VS_OK)
        return rc;
    if (strides == NULL)
        return vs__fail(VS_EINVAL, "conv2d: strides is NULL");
    if (dilations == NULL)
        dilations = one;
    /* Shapes print only now that both ranks are known valid. */
    vs__shape_str(input->ndim, input->shape, s1, sizeof s1);
    vs__shape_str(filter->ndim, filter->shape, s2, sizeof s2);
    rc = check_conv_args(input, filter, strides, dilations, padding, s1, s2);
    if (rc == VS_OK)
        rc = conv_geom(input, filter, strides, dilations, padding, s1, s2,
                       &g);
    if (rc != VS_OK)
        return rc;
    int64_t oshape[4] = {g.n, g.oh, g.ow, g.co};
    rc = vs_tensor_new(input->dtype, 4, oshape, &y);
    if (rc != VS_OK)
        return vs__fail_prefix(rc, "conv2d: output: ");
    rc = conv_run(&g, input, filter, y);
    if (rc != VS_OK) {
        vs_tensor_free(y);
        return rc;
    }
    *out = y;
    return VS_OK;
}
