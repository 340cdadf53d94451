/* varstore: dtypes, half/bfloat16 conversions, shape checks, tensors and
 * the aligned (zero-filled, huge-page friendly) buffers that hold them. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE 1

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

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
/* Aligned buffers                                                           */

#define VS_ALIGN 64
#define VS_HUGE ((size_t)2 * 1024 * 1024)
#define BUF_MAGIC 0x76734275u /* "vsBu" */

/* Every buffer has a 64-byte header just before the data, so that
 * vs__aligned_free knows how it was obtained. */
typedef struct {
    uint32_t magic;
    uint32_t mapped; /* 1: mmap'ed (base, len); 0: posix_memalign (base) */
    void *base;
    size_t len;
} buf_header;

/* Writes the header of the buffer whose data starts at p. */
static void put_header(char *p, uint32_t mapped, void *base, size_t len)
{
    buf_header h;
    h.magic = BUF_MAGIC;
    h.mapped = mapped;
    h.base = base;
    h.len = len;
    memcpy(p - VS_ALIGN, &h, sizeof h);
}

void *vs__aligned_alloc(size_t nbytes)
{
    void *base = NULL;
    char *p;
    size_t total;

#if defined(__linux__) && defined(MAP_ANONYMOUS)
    /* Big buffers: fresh anonymous memory (already zero) on a 2 MiB
     * boundary, advised to use huge pages. First touch of 4 KiB pages
     * costs ~11 us each here (baselines.md, property 1); of huge pages,
     * ~30x less. No memset: the first writer touches it at full speed. */
    if (nbytes >= VS_HUGE &&
        vs__add_size(nbytes, VS_HUGE + VS_ALIGN, &total) == 0) {
        void *m = mmap(NULL, total, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m != MAP_FAILED) {
            uintptr_t a = ((uintptr_t)m + VS_ALIGN + VS_HUGE - 1) &
                          ~(uintptr_t)(VS_HUGE - 1);
            p = (char *)a;
#ifdef MADV_HUGEPAGE
            (void)madvise(p, nbytes & ~(VS_HUGE - 1), MADV_HUGEPAGE);
#endif
            put_header(p, 1, m, total);
            return p;
        }
        /* fall through to the heap */
    }
#endif
    if (vs__add_size(nbytes, VS_ALIGN, &total) != 0)
        return NULL;
    if (posix_memalign(&base, VS_ALIGN, total) != 0)
        return NULL;
    memset(base, 0, total);
    p = (char *)base + VS_ALIGN;
    put_header(p, 0, base, total);
    return p;
}

#if defined(__linux__) && defined(MAP_ANONYMOUS)
/* Big mappings freed by vs__aligned_free, kept for vs__aligned_alloc_uninit
 * (buffers a load overwrites whole): decoding into fresh huge pages spent
 * about 8 % of a CLI restore --npy (when it still loaded whole tensors;
 * it streams now) in the kernel zeroing them. At most
 * BIG_KEEP mappings and BIG_KEEP_BYTES in all; the zero-filled allocator
 * never takes from here. Results of pthread_mutex_lock/unlock on this
 * statically initialized default mutex are not checked: they fail only
 * on a programming error. */
#define BIG_KEEP 4
#define BIG_KEEP_BYTES ((size_t)48 << 20)
static pthread_mutex_t big_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    void *base;
    size_t len;
} big_kept[BIG_KEEP];
static size_t big_n, big_bytes;

/* Where the data of a mapping at base starts (as vs__aligned_alloc lays
 * it out: 2 MiB aligned, the header just before). */
static char *big_data(void *base)
{
    return (char *)(((uintptr_t)base + VS_ALIGN + VS_HUGE - 1) &
                    ~(uintptr_t)(VS_HUGE - 1));
}

static int big_keep(void *base, size_t len)
{
    int kept = 0;
    if (len > BIG_KEEP_BYTES)
        return 0;
    pthread_mutex_lock(&big_mu);
    if (big_n < BIG_KEEP && big_bytes + len <= BIG_KEEP_BYTES) {
        big_kept[big_n].base = base;
        big_kept[big_n].len = len;
        big_n++;
        big_bytes += len;
        kept = 1;
    }
    pthread_mutex_unlock(&big_mu);
    return kept;
}

/* A kept mapping with room for nbytes, wasting at most half of it. */
static void *big_take(size_t nbytes)
{
    size_t best = BIG_KEEP, best_room = 0;
    void *p = NULL;
    pthread_mutex_lock(&big_mu);
    for (size_t i = 0; i < big_n; i++) {
        size_t off = (size_t)(big_data(big_kept[i].base) -
                              (char *)big_kept[i].base);
        size_t room = big_kept[i].len - off;
        if (room >= nbytes && room / 2 <= nbytes &&
            (best == BIG_KEEP || room < best_room)) {
            best = i;
            best_room = room;
        }
    }
    if (best != BIG_KEEP) {
        void *base = big_kept[best].base;
        size_t len = big_kept[best].len;
        big_bytes -= len;
        big_kept[best] = big_kept[--big_n];
        p = big_data(base);
        put_header(p, 1, base, len);
    }
    pthread_mutex_unlock(&big_mu);
    return p;
}
#endif

void *vs__aligned_alloc_uninit(size_t nbytes)
{
#if defined(__linux__) && defined(MAP_ANONYMOUS)
    if (nbytes >= VS_HUGE) {
        void *p = big_take(nbytes);
        if (p != NULL)
            return p;
    }
#endif
    return vs__aligned_alloc(nbytes);
}

void vs__aligned_free(void *p)
{
    buf_header h;
    if (p == NULL)
        return;
    memcpy(&h, (char *)p - VS_ALIGN, sizeof h);
    if (h.magic != BUF_MAGIC)
        abort(); /* not from vs__aligned_alloc: a programming error */
    memset((char *)p - VS_ALIGN, 0, sizeof h); /* a second free aborts */
    if (h.mapped == 2)
        return; /* carved from an arena: vs__arena_free releases it */
#if defined(__linux__) && defined(MAP_ANONYMOUS)
    if (h.mapped) {
        if (!big_keep(h.base, h.len))
            (void)munmap(h.base, h.len);
        return;
    }
#endif
    free(h.base);
}

/* ---- arenas: the buffers of one graph's variables ---------------------- */

/* Variable buffers live as long as their graph. Carving them out of a few
 * big huge-page slabs instead of one mapping (or heap block) each means
 * that first touch faults 2 MiB at a time for all of them, not only for
 * buffers of 2 MiB and more: on this VM a 4 KiB first-touch fault costs
 * 2-11 us, and a ResNet-18 has a quarter of its bytes in tensors under
 * 2 MiB (restoring it into a new graph spent most of its time faulting).
 * Buffers under VS_ARENA_MIN stay on the heap, so a graph of a few small
 * variables never maps a slab. Under AddressSanitizer every buffer comes
 * from vs__aligned_alloc, where overruns of heap buffers are caught. */
#define VS_ARENA_MIN ((size_t)64 * 1024)
#define VS_SLAB_MIN ((size_t)8 * 1024 * 1024)

#if defined(__SANITIZE_ADDRESS__)
#define VS_ARENA_MMAP 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VS_ARENA_MMAP 0
#endif
#endif
#ifndef VS_ARENA_MMAP
#if defined(__linux__) && defined(MAP_ANONYMOUS)
#define VS_ARENA_MMAP 1
#else
#define VS_ARENA_MMAP 0
#endif
#endif

struct vs__slab {
    struct vs__slab *next;
    void *map;
    size_t map_len;
    char *cur, *end; /* free space, 64-byte aligned */
};

#if VS_ARENA_MMAP
static size_t slab_room(const struct vs__slab *s)
{
    return s != NULL ? (size_t)(s->end - s->cur) : 0;
}
#endif

void *vs__arena_alloc(vs__arena *a, size_t nbytes)
{
#if VS_ARENA_MMAP
    size_t need, usable, total;
    struct vs__slab *s;
    if (a == NULL || nbytes < VS_ARENA_MIN ||
        vs__add_size(nbytes, 2 * VS_ALIGN - 1, &need) != 0)
        return vs__aligned_alloc(nbytes);
    need &= ~(size_t)(VS_ALIGN - 1); /* header + data, rounded up */
    /* First fit among the newest few slabs (older ones are nearly full;
     * bounding the walk keeps many big variables linear). */
    int walked = 0;
    for (s = a->slabs; s != NULL && slab_room(s) < need && walked < 8;
         s = s->next)
        walked++;
    if (s != NULL && slab_room(s) < need)
        s = NULL;
    if (s == NULL) {
        usable = need > VS_SLAB_MIN ? need : VS_SLAB_MIN;
        if (vs__add_size(usable, VS_HUGE - 1, &usable) != 0 ||
            vs__add_size(usable & ~(VS_HUGE - 1), VS_HUGE, &total) != 0)
            return vs__aligned_alloc(nbytes);
        usable &= ~(VS_HUGE - 1);
        s = malloc(sizeof *s);
        if (s == NULL)
            return NULL;
        void *m = mmap(NULL, total, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            free(s);
            return vs__aligned_alloc(nbytes);
        }
        s->map = m;
        s->map_len = total;
        s->cur = (char *)(((uintptr_t)m + VS_HUGE - 1) &
                          ~(uintptr_t)(VS_HUGE - 1));
        s->end = s->cur + usable;
#ifdef MADV_HUGEPAGE
        (void)madvise(s->cur, usable, MADV_HUGEPAGE); /* advice only */
#endif
        s->next = a->slabs;
        a->slabs = s;
    }
    char *p = s->cur + VS_ALIGN;
    s->cur += need;
    put_header(p, 2, NULL, 0);
    return p; /* fresh anonymous memory: already zero */
#else
    (void)a;
    return vs__aligned_alloc(nbytes);
#endif
}

void vs__arena_free(vs__arena *a)
{
    if (a == NULL)
        return;
#if VS_ARENA_MMAP
    struct vs__slab *s = a->slabs, *next;
    for (; s != NULL; s = next) {
        next = s->next;
        (void)munmap(s->map, s->map_len); /* only fails on a bad range */
        free(s);
    }
#endif
    a->slabs = NULL;
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
