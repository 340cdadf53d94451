/* varstore: dtypes, half/bfloat16 conversions, shape checks and tensors
 * (their buffers come from buffers.c). */
#include <stdio.h>
#include <string.h>

#include "ops_int.h"

/* ------------------------------------------------------------------------ */
/* dtypes                                                                    */

static const struct {
    vs_dtype dtype;
    const char *name;
    size_t size;
} dtypes[] = {
    {VS_FLOAT32, "float32", 4}, {VS_FLOAT64, "float64", 8},
    {VS_FLOAT16, "float16", 2}, {VS_BFLOAT16, "bfloat16", 2},
    {VS_INT8, "int8", 1},       {VS_UINT8, "uint8", 1},
    {VS_INT32, "int32", 4},     {VS_INT64, "int64", 8},
    {VS_BOOL, "bool", 1},
};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

size_t vs_dtype_size(vs_dtype dtype)
{
    size_t i;
    for (i = 0; i < N_DTYPES; i++)
        if (dtypes[i].dtype == dtype)
            return dtypes[i].size;
    return 0;
}

const char *vs_dtype_name(vs_dtype dtype)
{
    size_t i;
    for (i = 0; i < N_DTYPES; i++)
        if (dtypes[i].dtype == dtype)
            return dtypes[i].name;
    return "invalid";
}

int vs_dtype_from_name(const char *name, vs_dtype *out)
{
    size_t i;
    if (out == NULL)
        return vs__fail(VS_EINVAL, "vs_dtype_from_name: out is NULL");
    if (name == NULL)
        return vs__fail(VS_EINVAL, "vs_dtype_from_name: name is NULL");
    for (i = 0; i < N_DTYPES; i++) {
        if (strcmp(dtypes[i].name, name) == 0) {
            *out = dtypes[i].dtype;
            return VS_OK;
        }
    }
    return vs__fail(VS_EINVAL, "unknown dtype '%s'", name);
}

int vs_dtype_is_floating(vs_dtype dtype)
{
    return dtype == VS_FLOAT32 || dtype == VS_FLOAT64 ||
           dtype == VS_FLOAT16 || dtype == VS_BFLOAT16;
}

/* ------------------------------------------------------------------------ */
/* float16 / bfloat16                                                        */

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

uint16_t vs_float_to_half(float f)
{
    uint32_t x = f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t exp = (x >> 23) & 0xffu;
    uint32_t man = x & 0x7fffffu;
    int32_t e;

    if (exp == 0xffu) {
        if (man == 0)
            return (uint16_t)(sign | 0x7c00u); /* Inf */
        /* NaN: keep the top payload bits, force quiet so it stays NaN. */
        return (uint16_t)(sign | 0x7e00u | (man >> 13));
    }
    e = (int32_t)exp - 127 + 15; /* biased half exponent */
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00u); /* overflow -> Inf */
    if (e <= 0) {
        /* Subnormal half (or zero): value = m * 2^-24 with m < 1024. */
        uint32_t full, shift, q, rem, half;
        if (e < -10)
            return (uint16_t)sign; /* below half of the smallest subnormal */
        full = man | 0x800000u;     /* 24-bit significand */
        shift = (uint32_t)(14 - e); /* 14..24 */
        q = full >> shift;
        rem = full & ((1u << shift) - 1u);
        half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (q & 1u)))
            q++; /* may carry into the smallest normal: still correct */
        return (uint16_t)(sign | q);
    }
    {
        /* Normal: round the 23-bit mantissa to 10 bits, ties to even; a
         * carry moves into the exponent (and to Inf at the top). */
        uint32_t h = ((uint32_t)e << 10) | (man >> 13);
        uint32_t rem = man & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
            h++;
        return (uint16_t)(sign | h);
    }
}

float vs_half_to_float(uint16_t h)
{
    uint32_t sign = ((uint32_t)h & 0x8000u) << 16;
    uint32_t exp = ((uint32_t)h >> 10) & 0x1fu;
    uint32_t man = (uint32_t)h & 0x3ffu;

    if (exp == 0x1fu)
        return bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        /* zero or subnormal: m * 2^-24, exact in float */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp - 15u + 127u) << 23) | (man << 13));
}

uint16_t vs_float_to_bfloat16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7f800000u) == 0x7f800000u && (x & 0x7fffffu) != 0)
        return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN stays NaN */
    /* Round to nearest even; overflow carries into Inf naturally. */
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

float vs_bfloat16_to_float(uint16_t b)
{
    return bits_f32((uint32_t)b << 16);
}

/* ------------------------------------------------------------------------ */
/* Shapes                                                                    */

/* Exact decimal text of the product of the dims times the element size, for
 * the overflow message. Base 1e9 limbs; each dim (< 2^63 < 1e27) is split in
 * three base-1e9 digits. 8 dims of < 2^63 times 8 need 17 limbs. */
#define BIG_LIMBS 24
static void big_product_str(int ndim, const int64_t *shape, size_t esize,
                            char *buf, size_t cap)
{
    uint32_t a[BIG_LIMBS], r[BIG_LIMBS];
    size_t n = 1, i, k, pos = 0;
    int d, p;

    buf[0] = '\0';
    a[0] = (uint32_t)esize;
    for (d = 0; d < ndim; d++) {
        uint64_t m = (uint64_t)shape[d];
        uint64_t mp[3];
        mp[0] = m % 1000000000u;
        mp[1] = (m / 1000000000u) % 1000000000u;
        mp[2] = m / 1000000000u / 1000000000u;
        memset(r, 0, sizeof r);
        for (p = 0; p < 3; p++) {
            uint64_t carry = 0;
            for (k = 0; k < n && k + (size_t)p < BIG_LIMBS; k++) {
                uint64_t t = (uint64_t)a[k] * mp[p] + r[k + (size_t)p] + carry;
                r[k + (size_t)p] = (uint32_t)(t % 1000000000u);
                carry = t / 1000000000u;
            }
            for (k = n + (size_t)p; carry != 0 && k < BIG_LIMBS; k++) {
                uint64_t t = r[k] + carry;
                r[k] = (uint32_t)(t % 1000000000u);
                carry = t / 1000000000u;
            }
        }
        n = n + 3 < BIG_LIMBS ? n + 3 : BIG_LIMBS;
        while (n > 1 && r[n - 1] == 0)
            n--;
        memcpy(a, r, n * sizeof a[0]);
    }
    for (i = n; i-- > 0;) {
        int w = snprintf(buf + pos, cap - pos, i + 1 == n ? "%u" : "%09u",
                         (unsigned)a[i]);
        if (w < 0 || (size_t)w >= cap - pos)
            return;
        pos += (size_t)w;
    }
}

int vs_shape_check(vs_dtype dtype, int ndim, const int64_t *shape,
                   int64_t *numel_out, size_t *nbytes_out)
{
    char sbuf[VS_SHAPE_STR_MAX];
    size_t esize = vs_dtype_size(dtype);
    uint64_t numel = 1;
    int numel_over = 0;
    size_t nbytes;
    int i;

    if (esize == 0)
        return vs__fail(VS_EINVAL, "invalid dtype %d", (int)dtype);
    if (ndim < 0 || ndim > VS_MAX_DIMS)
        return vs__fail(VS_EINVAL,
                        "rank %d is out of range: a tensor has 0 to %d "
                        "dimensions",
                        ndim, VS_MAX_DIMS);
    if (ndim > 0 && shape == NULL)
        return vs__fail(VS_EINVAL, "shape is NULL for rank %d", ndim);
    for (i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return vs__fail(VS_EINVAL,
                            "dimension %d of shape %s is negative (%lld)", i,
                            vs__shape_str(ndim, shape, sbuf, sizeof sbuf),
                            (long long)shape[i]);
    }
    for (i = 0; i < ndim; i++) {
        uint64_t d = (uint64_t)shape[i];
        if (d == 0) {
            numel = 0;
            numel_over = 0;
            break;
        }
        if (!numel_over && numel > (uint64_t)INT64_MAX / d)
            numel_over = 1;
        else if (!numel_over)
            numel *= d;
    }
    if (numel_over || (uint64_t)numel > SIZE_MAX / esize) {
        char nb[256];
        big_product_str(ndim, shape, esize, nb, sizeof nb);
        return vs__fail(VS_EINVAL,
                        "shape %s of %s is too large: %s bytes overflows "
                        "size_t",
                        vs__shape_str(ndim, shape, sbuf, sizeof sbuf),
                        vs_dtype_name(dtype), nb);
    }
    nbytes = (size_t)numel * esize;
    if (numel_out != NULL)
        *numel_out = (int64_t)numel;
    if (nbytes_out != NULL)
        *nbytes_out = nbytes;
    return VS_OK;
}

/* ------------------------------------------------------------------------ */
/* Tensors                                                                   */

static int tensor_new(vs_dtype dtype, int ndim, const int64_t *shape,
                      vs_tensor **out, int zeroed)
{
    vs_tensor *t;
    size_t nbytes;
    int rc;

    if (out == NULL)
        return vs__fail(VS_EINVAL, "vs_tensor_new: out is NULL");
    *out = NULL;
    rc = vs_shape_check(dtype, ndim, shape, NULL, &nbytes);
    if (rc != VS_OK)
        return rc;
    t = vs__calloc(1, sizeof *t);
    if (t == NULL)
        return vs__fail(VS_ENOMEM, "out of memory allocating a tensor");
    t->dtype = dtype;
    t->ndim = ndim;
    if (ndim > 0)
        memcpy(t->shape, shape, (size_t)ndim * sizeof shape[0]);
    t->data = zeroed ? vs__aligned_alloc(nbytes)
                     : vs__aligned_alloc_uninit(nbytes);
    if (t->data == NULL) {
        char sbuf[VS_SHAPE_STR_MAX];
        vs__free(t);
        return vs__fail(VS_ENOMEM,
                        "out of memory allocating %zu bytes for a %s tensor "
                        "of shape %s",
                        nbytes, vs_dtype_name(dtype),
                        vs__shape_str(ndim, shape, sbuf, sizeof sbuf));
    }
    *out = t;
    return VS_OK;
}

int vs_tensor_new(vs_dtype dtype, int ndim, const int64_t *shape,
                  vs_tensor **out)
{
    return tensor_new(dtype, ndim, shape, out, 1);
}

int vs__tensor_new_uninit(vs_dtype dtype, int ndim, const int64_t *shape,
                          vs_tensor **out)
{
    return tensor_new(dtype, ndim, shape, out, 0);
}

int vs_tensor_from_data(vs_dtype dtype, int ndim, const int64_t *shape,
                        const void *data, vs_tensor **out)
{
    vs_tensor *t;
    size_t nbytes;
    int rc;

    if (out == NULL)
        return vs__fail(VS_EINVAL, "vs_tensor_from_data: out is NULL");
    rc = tensor_new(dtype, ndim, shape, out, 0); /* every byte copied */
    if (rc != VS_OK)
        return rc;
    t = *out;
    nbytes = vs_tensor_nbytes(t);
    if (data == NULL && nbytes > 0) {
        vs_tensor_free(t);
        *out = NULL;
        return vs__fail(VS_EINVAL, "vs_tensor_from_data: data is NULL");
    }
    if (nbytes > 0)
        memcpy(t->data, data, nbytes);
    return VS_OK;
}

void vs_tensor_free(vs_tensor *t)
{
    if (t == NULL)
        return;
    vs__aligned_free(t->data);
    vs__free(t);
}

int64_t vs_tensor_numel(const vs_tensor *t)
{
    int64_t n = 1;
    int i;
    if (t == NULL)
        return 0;
    /* a 0 first: a running product of [2^62, 3, 0] would overflow */
    for (i = 0; i < t->ndim && i < VS_MAX_DIMS; i++)
        if (t->shape[i] == 0)
            return 0;
    for (i = 0; i < t->ndim && i < VS_MAX_DIMS; i++)
        n *= t->shape[i];
    return n;
}

size_t vs_tensor_nbytes(const vs_tensor *t)
{
    if (t == NULL)
        return 0;
    return (size_t)vs_tensor_numel(t) * vs_dtype_size(t->dtype);
}
