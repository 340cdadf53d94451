/* varstore: bias_add, relu, matmul, max_pool, avg_pool (TF's semantics).
 * float32 and float64 throughout; bias_add and relu also take int32 and
 * int64. matmul in float32 runs on the GEMM of gemm.c. */
#include <math.h>
#include <stdio.h>

#include "gemm.h"
#include "ops_int.h"

/* Below this many flops matmul runs a plain loop (no packing). */
#define DIRECT_MAX_FLOPS (8.0 * 1024)

static int is_float(vs_dtype d)
{
    return d == VS_FLOAT32 || d == VS_FLOAT64;
}

static int is_arith(vs_dtype d)
{
    return is_float(d) || d == VS_INT32 || d == VS_INT64;
}

/* ------------------------------------------------------------------------ */
/* bias_add                                                                  */

#define BIAS_LOOP(T)                                                           \
    {                                                                          \
        const T *x = value->data, *bb = bias->data;                            \
        T *y = r->data;                                                        \
        for (size_t i = 0; i < rows; i++)                                      \
            for (size_t j = 0; j < cols; j++)                                  \
                y[i * cols + j] = x[i * cols + j] + bb[j];                     \
    }

int vs_bias_add(const vs_tensor *value, const vs_tensor *bias,
                vs_tensor **out)
{
    char s1[VS_SHAPE_STR_MAX], s2[VS_SHAPE_STR_MAX];
    vs_tensor *r;
    int rc;

    if (out == NULL)
        return vs__fail(VS_EINVAL, "bias_add: out is NULL");
    *out = NULL;
    rc = vs__op_check_tensor("bias_add", "value", value);
    if (rc == VS_OK)
        rc = vs__op_check_tensor("bias_add", "bias", bias);
    if (rc != VS_OK)
        return rc;
    if (!is_arith(value->dtype))
        return vs__fail(VS_EDTYPE,
                        "bias_add: dtype %s is not supported (float32, "
                        "float64, int32 or int64)",
                        vs_dtype_name(value->dtype));
    if (bias->dtype != value->dtype)
        return vs__fail(VS_EDTYPE,
                        "bias_add: bias dtype %s does not match value dtype "
                        "%s",
                        vs_dtype_name(bias->dtype),
                        vs_dtype_name(value->dtype));
    vs__shape_brackets(value->ndim, value->shape, s1, sizeof s1);
    vs__shape_brackets(bias->ndim, bias->shape, s2, sizeof s2);
    if (value->ndim < 2)
        return vs__fail(VS_ESHAPE,
                        "bias_add: Input tensor must be at least 2D: %s", s1);
    if (bias->ndim != 1)
        return vs__fail(VS_ESHAPE, "bias_add: Biases must be 1D: %s", s2);
    if (bias->shape[0] != value->shape[value->ndim - 1])
        return vs__fail(VS_ESHAPE,
                        "bias_add: Must provide as many biases as the last "
                        "dimension of the input tensor: %s vs. %s",
                        s2, s1);
    rc = vs_tensor_new(value->dtype, value->ndim, value->shape, &r);
    if (rc != VS_OK)
        return rc;
    size_t cols = (size_t)bias->shape[0];
    size_t rows = cols ? (size_t)vs_tensor_numel(value) / cols : 0;
    switch (value->dtype) {
    case VS_FLOAT32:
        BIAS_LOOP(float)
        break;
    case VS_FLOAT64:
        BIAS_LOOP(double)
        break;
    case VS_INT32:
        /* wraps as TF's int32 add does on overflow, without C's UB */
        {
            const int32_t *x = value->data, *bb = bias->data;
            int32_t *y = r->data;
            for (size_t i = 0; i < rows; i++)
                for (size_t j = 0; j < cols; j++)
                    y[i * cols + j] = (int32_t)((uint32_t)x[i * cols + j] +
                                                (uint32_t)bb[j]);
        }
        break;
    default: /* VS_INT64 */
        {
            const int64_t *x = value->data, *bb = bias->data;
            int64_t *y = r->data;
            for (size_t i = 0; i < rows; i++)
                for (size_t j = 0; j < cols; j++)
                    y[i * cols + j] = (int64_t)((uint64_t)x[i * cols + j] +
                                                (uint64_t)bb[j]);
        }
        break;
    }
    *out = r;
    return VS_OK;
}

/* ------------------------------------------------------------------------ */
/* relu                                                                      */

/* x < 0 ? 0 : x keeps NaN as NaN. */
#define RELU_LOOP(T)                                                           \
    {                                                                          \
        const T *a = x->data;                                                  \
        T *y = r->data;                                                        \
        for (size_t i = 0; i < n; i++)                                         \
            y[i] = a[i] < 0 ? (T)0 : a[i];                                     \
    }

int vs_relu(const vs_tensor *x, vs_tensor **out)
{
    vs_tensor *r;
    int rc;

    if (out == NULL)
        return vs__fail(VS_EINVAL, "relu: out is NULL");
    *out = NULL;
    rc = vs__op_check_tensor("relu", "x", x);
    if (rc != VS_OK)
        return rc;
    if (!is_arith(x->dtype))
        return vs__fail(VS_EDTYPE,
                        "relu: dtype %s is not supported (float32, float64, "
                        "int32 or int64)",
                        vs_dtype_name(x->dtype));
    rc = vs_tensor_new(x->dtype, x->ndim, x->shape, &r);
    if (rc != VS_OK)
        return rc;
    size_t n = (size_t)vs_tensor_numel(x);
    switch (x->dtype) {
    case VS_FLOAT32:
        RELU_LOOP(float)
        break;
    case VS_FLOAT64:
        RELU_LOOP(double)
        break;
    case VS_INT32:
        RELU_LOOP(int32_t)
        break;
    default:
        RELU_LOOP(int64_t)
        break;
    }
    *out = r;
    return VS_OK;
}

/* ------------------------------------------------------------------------ */
/* matmul                                                                    */

/* y[m x n] = A * B, A(i, k) = a[i * ars + k * acs], B(k, j) = b[k * brs +
 * j * bcs]; y is zero on entry. */
#define DEFINE_MATMUL_DIRECT(NAME, T)                                          \
    static void NAME(size_t m, size_t n, size_t kk, const T *a, size_t ars,    \
                     size_t acs, const T *b, size_t brs, size_t bcs, T *y)     \
    {                                                                          \
        for (size_t i = 0; i < m; i++)                                         \
            for (size_t k = 0; k < kk; k++) {                                  \
                T v = a[i * ars + k * acs];                                    \
                const T *br = b + k * brs;                                     \
                T *yr = y + i * n;                                             \
                for (size_t j = 0; j < n; j++)                                 \
                    yr[j] += v * br[j * bcs];                                  \
            }                                                                  \
    }

DEFINE_MATMUL_DIRECT(matmul_f32, float)
DEFINE_MATMUL_DIRECT(matmul_f64, double)

/* matmul's checks after the tensors' own (dtype, rank 2, inner sizes);
 * the output's m x n and the inner size k on success. */
static int check_matmul_args(const vs_tensor *a, const vs_tensor *b,
                             int transpose_a, int transpose_b, size_t *m,
                             size_t *n, size_t *k)
{
    char s1[VS_SHAPE_STR_MAX], s2[VS_SHAPE_STR_MAX];
    size_t kb;
    if (!is_float(a->dtype))
        return vs__fail(VS_EDTYPE,
                        "matmul: dtype %s is not supported (float32 or "
                        "float64)",
                        vs_dtype_name(a->dtype));
    if (b->dtype != a->dtype)
        return vs__fail(VS_EDTYPE,
                        "matmul: b dtype %s does not match a dtype %s",
                        vs_dtype_name(b->dtype), vs_dtype_name(a->dtype));
    vs__shape_brackets(a->ndim, a->shape, s1, sizeof s1);
    vs__shape_brackets(b->ndim, b->shape, s2, sizeof s2);
    if (a->ndim != 2)
        return vs__fail(VS_ESHAPE,
                        "matmul: In[0] is not a matrix. Instead it has "
                        "shape %s",
                        s1);
    if (b->ndim != 2)
        return vs__fail(VS_ESHAPE,
                        "matmul: In[1] is not a matrix. Instead it has "
                        "shape %s",
                        s2);
    *m = (size_t)a->shape[transpose_a ? 1 : 0];
    *k = (size_t)a->shape[transpose_a ? 0 : 1];
    kb = (size_t)b->shape[transpose_b ? 1 : 0];
    *n = (size_t)b->shape[transpose_b ? 0 : 1];
    if (*k != kb)
        return vs__fail(VS_ESHAPE,
                        "matmul: Matrix size-incompatible: In[0]: %s, In[1]: "
                        "%s (transpose_a %d, transpose_b %d)",
                        s1, s2, transpose_a ? 1 : 0, transpose_b ? 1 : 0);
    return VS_OK;
}

/* r (m x n, zero-filled) = op(a) * op(b): a plain loop for float64 and
 * tiny float32 problems, else the GEMM. */
static int matmul_run(const vs_tensor *a, const vs_tensor *b,
                      int transpose_a, int transpose_b, size_t m, size_t n,
                      size_t k, vs_tensor *r)
{
    /* row-major a is rows x cols; A(i, k) addressed as below */
    size_t ars = transpose_a ? 1 : k, acs = transpose_a ? m : 1;
    size_t brs = transpose_b ? 1 : n, bcs = transpose_b ? k : 1;
    vs__mat_a am;
    vs__sgemm_args g;
    if (m == 0 || n == 0 || k == 0)
        return VS_OK; /* zero-filled */
    if (a->dtype == VS_FLOAT64) {
        matmul_f64(m, n, k, a->data, ars, acs, b->data, brs, bcs, r->data);
        return VS_OK;
    }
    if (2.0 * (double)m * (double)n * (double)k < DIRECT_MAX_FLOPS) {
        matmul_f32(m, n, k, a->data, ars, acs, b->data, brs, bcs, r->data);
        return VS_OK;
    }
    am.a = a->data;
    am.rs = ars;
    am.cs = acs;
    g.m = m;
    g.n = n;
    g.k = k;
    g.pack_a = vs__pack_a_matrix;
    g.a_ctx = &am;
    g.b = b->data;
    g.b_rs = brs;
    g.b_cs = bcs;
    g.c = r->data;
    g.ldc = n;
    return vs__sgemm(&g, vs__num_threads());
}

int vs_matmul(const vs_tensor *a, const vs_tensor *b, int transpose_a,
              int transpose_b, vs_tensor **out)
{
    vs_tensor *r;
    size_t m = 0, n = 0, k = 0;
    int rc;

    if (out == NULL)
        return vs__fail(VS_EINVAL, "matmul: out is NULL");
    *out = NULL;
    rc = vs__op_check_tensor("matmul", "a", a);
    if (rc == VS_OK)
        rc = vs__op_check_tensor("matmul", "b", b);
    if (rc == VS_OK)
        rc = check_matmul_args(a, b, transpose_a, transpose_b, &m, &n, &k);
    if (rc != VS_OK)
        return rc;
    int64_t oshape[2] = {(int64_t)m, (int64_t)n};
    rc = vs_tensor_new(a->dtype, 2, oshape, &r);
    if (rc != VS_OK)
        return rc;
    rc = matmul_run(a, b, transpose_a, transpose_b, m, n, k, r);
    if (rc != VS_OK) {
        vs_tensor_free(r);
        return rc;
    }
    *out = r;
    return VS_OK;
}

/* ------------------------------------------------------------------------ */
/* Pools                                                                     */

typedef struct {
    int64_t n, h, w, c, kh, kw, sh, sw, oh, ow, pt, pl;
} pool_geom;

/* avg: the sum of the valid (non-padded) elements over their count, as
 * TF's SAME average pool; max: the largest valid element. */
#define DEFINE_POOL(NAME, T)                                                   \
    static void NAME(const pool_geom *g, const T *x, T *y, int avg)            \
    {                                                                          \
        for (int64_t n = 0; n < g->n; n++)                                     \
            for (int64_t oh = 0; oh < g->oh; oh++)                             \
                for (int64_t ow = 0; ow < g->ow; ow++) {                       \
                    T *o = y + ((n * g->oh + oh) * g->ow + ow) * g->c;         \
                    int64_t h0 = oh * g->sh - g->pt, w0 = ow * g->sw - g->pl;  \
                    int64_t h1 = h0 + g->kh, w1 = w0 + g->kw, cnt;             \
                    if (h0 < 0)                                                \
                        h0 = 0;                                                \
                    if (w0 < 0)                                                \
                        w0 = 0;                                                \
                    if (h1 > g->h)                                             \
                        h1 = g->h;                                             \
                    if (w1 > g->w)                                             \
                        w1 = g->w;                                             \
                    cnt = (h1 - h0) * (w1 - w0);                               \
                    for (int64_t c = 0; c < g->c; c++)                         \
                        o[c] = avg ? (T)0 : (T)-INFINITY;                      \
                    for (int64_t ih = h0; ih < h1; ih++)                       \
                        for (int64_t iw = w0; iw < w1; iw++) {                 \
                            const T *p = x + ((n * g->h + ih) * g->w + iw) *   \
                                                 g->c;                         \
                            if (avg) {                                         \
                                for (int64_t c = 0; c < g->c; c++)             \
                                    o[c] += p[c];                              \
                            } else {                                           \
                                for (int64_t c = 0; c < g->c; c++)             \
                                    if (p[c] > o[c])                           \
                                        o[c] = p[c];                           \
                            }                                                  \
                        }                                                      \
                    if (avg && cnt > 0)                                        \
                        for (int64_t c = 0; c < g->c; c++)                     \
                            o[c] /= (T)cnt;                                    \
                }                                                              \
    }

DEFINE_POOL(pool_f32, float)
DEFINE_POOL(pool_f64, double)

static int pool(const char *op, int avg, const vs_tensor *x,
                const int ksize[4], const int strides[4], vs_padding padding,
                vs_tensor **out)
{
    char s1[VS_SHAPE_STR_MAX], b1[64], b2[64];
    vs_tensor *r;
    int rc;

    if (out == NULL)
        return vs__fail(VS_EINVAL, "%s: out is NULL", op);
    *out = NULL;
    rc = vs__op_check_tensor(op, "input", x);
    if (rc != VS_OK)
        return rc;
    if (ksize == NULL)
        return vs__fail(VS_EINVAL, "%s: ksize is NULL", op);
    if (strides == NULL)
        return vs__fail(VS_EINVAL, "%s: strides is NULL", op);
    if (!is_float(x->dtype))
        return vs__fail(VS_EDTYPE,
                        "%s: dtype %s is not supported (float32 or float64)",
                        op, vs_dtype_name(x->dtype));
    vs__shape_str(x->ndim, x->shape, s1, sizeof s1);
    if (x->ndim != 4)
        return vs__fail(VS_ESHAPE, "%s: input must be 4-D (NHWC), got shape %s",
                        op, s1);
    vs__ints4_str(ksize, b1, sizeof b1);
    vs__ints4_str(strides, b2, sizeof b2);
    if (ksize[0] != 1 || ksize[3] != 1 || strides[0] != 1 || strides[3] != 1)
        return vs__fail(VS_EINVAL,
                        "%s: pooling over the batch and depth dimensions is "
                        "not supported: ksize and strides must be 1 there, "
                        "got ksize %s, strides %s",
                        op, b1, b2);
    if (ksize[1] < 1 || ksize[2] < 1 || strides[1] < 1 || strides[2] < 1)
        return vs__fail(VS_EINVAL,
                        "%s: ksize and strides must be positive, got ksize "
                        "%s, strides %s",
                        op, b1, b2);
    if (padding != VS_PAD_SAME && padding != VS_PAD_VALID)
        return vs__fail(VS_EINVAL,
                        "%s: invalid padding %d (VS_PAD_SAME or VS_PAD_VALID)",
                        op, (int)padding);
    pool_geom g;
    g.n = x->shape[0];
    g.h = x->shape[1];
    g.w = x->shape[2];
    g.c = x->shape[3];
    g.kh = ksize[1];
    g.kw = ksize[2];
    g.sh = strides[1];
    g.sw = strides[2];
    rc = vs__window_size(op, g.h, g.kh, 1, g.sh, padding, &g.oh, &g.pt);
    if (rc == VS_OK)
        rc = vs__window_size(op, g.w, g.kw, 1, g.sw, padding, &g.ow, &g.pl);
    if (rc != VS_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", vs_errmsg());
        return vs__fail(rc, "%s (input %s, ksize %s)", msg, s1, b1);
    }
    int64_t oshape[4] = {g.n, g.oh, g.ow, g.c};
    rc = vs_tensor_new(x->dtype, 4, oshape, &r);
    if (rc != VS_OK)
        return rc;
    if (x->dtype == VS_FLOAT32)
        pool_f32(&g, x->data, r->data, avg);
    else
        pool_f64(&g, x->data, r->data, avg);
    *out = r;
    return VS_OK;
}

int vs_max_pool(const vs_tensor *x, const int ksize[4], const int strides[4],
                vs_padding padding, vs_tensor **out)
{
    return pool("max_pool", 0, x, ksize, strides, padding, out);
}

int vs_avg_pool(const vs_tensor *x, const int ksize[4], const int strides[4],
                vs_padding padding, vs_tensor **out)
{
    return pool("avg_pool", 1, x, ksize, strides, padding, out);
}
