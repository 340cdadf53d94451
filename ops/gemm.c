/* varstore: single-precision GEMM (see gemm.h) and the ops' thread count. */
#define _POSIX_C_SOURCE 200809L

#include "gemm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "vs_common.h"

#if (defined(__x86_64__) || defined(__i386__)) &&                              \
    (defined(__GNUC__) || defined(__clang__))
#define VS_GEMM_X86 1
#include <immintrin.h>
#else
#define VS_GEMM_X86 0
#endif

/* Largest K block; the blocks of one problem are all the same size,
 * ceil(K / ceil(K / KC_MAX)), so the summation order depends on K only. */
#define KC_MAX VS_GEMM_KC_MAX
/* A thread is worth starting for this many flops (2*M*N*K) or more:
 * starting one and waking a second (virtual) core costs 50-100 us here,
 * measured break-even near 40 MFLOP. */
#define FLOPS_PER_THREAD (32.0 * 1024 * 1024)
/* Largest micro-tile (mr * nr) of any path. */
#define TILE_MAX (14 * 32)

/* ------------------------------------------------------------------------ */
/* Thread count                                                              */

/* vs_set_num_threads' value, process-wide (0: all online CPUs). Atomic:
 * any thread may set it while others run ops; an op reads it once, when
 * it starts. */
static atomic_int g_num_threads = 0;

void vs_set_num_threads(int n)
{
    atomic_store(&g_num_threads, n < 0 ? 0 : n);
}

int vs__num_threads(void)
{
    int n = atomic_load(&g_num_threads);
    if (n <= 0)
        return vs__cpu_count();
    return n > VS_MAX_THREADS ? VS_MAX_THREADS : n;
}

/* ------------------------------------------------------------------------ */
/* Micro-kernels: c[MR x NR] (= or +=) a-panel (kc x MR) * b-panel (kc x NR).
 * The tile is summed from zero over k, then added to c when acc is set, so
 * a tile computed in a scratch buffer equals one computed in place. */

typedef void (*kern_fn)(size_t kc, const float *a, const float *b, float *c,
                        size_t ldc, int acc);

#define SC_MR 4
#define SC_NR 8

static void kern_scalar(size_t kc, const float *a, const float *b, float *c,
                        size_t ldc, int acc)
{
    float t[SC_MR][SC_NR];
    memset(t, 0, sizeof t);
    for (size_t k = 0; k < kc; k++) {
        for (int i = 0; i < SC_MR; i++) {
            float ai = a[i];
            for (int j = 0; j < SC_NR; j++)
                t[i][j] += ai * b[j];
        }
        a += SC_MR;
        b += SC_NR;
    }
    for (int i = 0; i < SC_MR; i++) {
        float *r = c + (size_t)i * ldc;
        for (int j = 0; j < SC_NR; j++)
            r[j] = acc ? t[i][j] + r[j] : t[i][j];
    }
}

#if VS_GEMM_X86

/* The AVX2 and AVX-512 micro-kernels below have the same shape on
 * purpose: each keeps its whole MR x NR tile in named registers of its own
 * vector type and width, unrolled by REPn. Folding them into one macro
 * over the intrinsics would save ~20 lines but hide the register blocking
 * that makes them fast; they are the GEMM's hot loop. */
#define REP6(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define REP14(X) REP6(X) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)

#define AVX2_MR 6
#define AVX2_NR 16

__attribute__((target("avx2,fma"))) static void
kern_avx2(size_t kc, const float *a, const float *b, float *c, size_t ldc,
          int acc)
{
#define DECL(i) __m256 c##i##x = _mm256_setzero_ps(), c##i##y = c##i##x;
    REP6(DECL)
#undef DECL
    for (size_t k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#define STEP(i)                                                                \
    {                                                                          \
        __m256 t = _mm256_broadcast_ss(a + (i));                               \
        c##i##x = _mm256_fmadd_ps(t, b0, c##i##x);                             \
        c##i##y = _mm256_fmadd_ps(t, b1, c##i##y);                             \
    }
        REP6(STEP)
#undef STEP
        a += AVX2_MR;
        b += AVX2_NR;
    }
#define STORE(i)                                                               \
    {                                                                          \
        float *r = c + (size_t)(i) * ldc;                                      \
        if (acc) {                                                             \
            c##i##x = _mm256_add_ps(c##i##x, _mm256_loadu_ps(r));              \
            c##i##y = _mm256_add_ps(c##i##y, _mm256_loadu_ps(r + 8));          \
        }                                                                      \
        _mm256_storeu_ps(r, c##i##x);                                          \
        _mm256_storeu_ps(r + 8, c##i##y);                                      \
    }
    REP6(STORE)
#undef STORE
}

#define AVX512_MR 14
#define AVX512_NR 32

__attribute__((target("avx512f"))) static void
kern_avx512(size_t kc, const float *a, const float *b, float *c, size_t ldc,
            int acc)
{
#define DECL(i) __m512 c##i##x = _mm512_setzero_ps(), c##i##y = c##i##x;
    REP14(DECL)
#undef DECL
    for (size_t k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#define STEP(i)                                                                \
    {                                                                          \
        __m512 t = _mm512_set1_ps(a[i]);                                       \
        c##i##x = _mm512_fmadd_ps(t, b0, c##i##x);                             \
        c##i##y = _mm512_fmadd_ps(t, b1, c##i##y);                             \
    }
        REP14(STEP)
#undef STEP
        a += AVX512_MR;
        b += AVX512_NR;
    }
#define STORE(i)                                                               \
    {                                                                          \
        float *r = c + (size_t)(i) * ldc;                                      \
        if (acc) {                                                             \
            c##i##x = _mm512_add_ps(c##i##x, _mm512_loadu_ps(r));              \
            c##i##y = _mm512_add_ps(c##i##y, _mm512_loadu_ps(r + 16));         \
        }                                                                      \
        _mm512_storeu_ps(r, c##i##x);                                          \
        _mm512_storeu_ps(r + 16, c##i##y);                                     \
    }
    REP14(STORE)
#undef STORE
}

#endif /* VS_GEMM_X86 */

/* ------------------------------------------------------------------------ */
/* ISA selection                                                             */

typedef struct {
    size_t mr, nr, mc; /* micro-tile, rows of A per packed block */
    kern_fn kern;
} isa_desc;

static atomic_int g_isa_forced = VS_ISA_AUTO;

int vs__gemm_isa_supported(int isa)
{
    switch (isa) {
    case VS_ISA_SCALAR:
        return 1;
#if VS_GEMM_X86
    case VS_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case VS_ISA_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f");
#endif
    default:
        return 0;
    }
}

static int best_isa(void)
{
    if (vs__gemm_isa_supported(VS_ISA_AVX512))
        return VS_ISA_AVX512;
    if (vs__gemm_isa_supported(VS_ISA_AVX2))
        return VS_ISA_AVX2;
    return VS_ISA_SCALAR;
}

int vs__gemm_set_isa(int isa)
{
    if (isa != VS_ISA_AUTO && !vs__gemm_isa_supported(isa))
        return vs__fail(VS_EINVAL, "gemm: instruction set %s (%d) is not "
                                   "available on this CPU",
                        vs__gemm_isa_name(isa), isa);
    atomic_store(&g_isa_forced, isa);
    return VS_OK;
}

int vs__gemm_isa(void)
{
    int isa = atomic_load(&g_isa_forced);
    return isa == VS_ISA_AUTO ? best_isa() : isa;
}

const char *vs__gemm_isa_name(int isa)
{
    switch (isa) {
    case VS_ISA_AUTO:
        return "auto";
    case VS_ISA_SCALAR:
        return "scalar";
    case VS_ISA_AVX2:
        return "avx2";
    case VS_ISA_AVX512:
        return "avx512";
    default:
        return "unknown";
    }
}

static isa_desc describe(int isa)
{
    isa_desc d;
    switch (isa) {
#if VS_GEMM_X86
    case VS_ISA_AVX512:
        d.mr = AVX512_MR;
        d.nr = AVX512_NR;
        d.mc = AVX512_MR * 12;
        d.kern = kern_avx512;
        return d;
    case VS_ISA_AVX2:
        d.mr = AVX2_MR;
        d.nr = AVX2_NR;
        d.mc = AVX2_MR * 24;
        d.kern = kern_avx2;
        return d;
#endif
    default:
        d.mr = SC_MR;
        d.nr = SC_NR;
        d.mc = SC_MR * 32;
        d.kern = kern_scalar;
        return d;
    }
}

/* ------------------------------------------------------------------------ */
/* Packing                                                                   */

static void pack_rows_scalar(const float *src, size_t ld, size_t rows,
                             size_t kc, size_t mr, float *dst)
{
    for (size_t i = 0; i < rows; i++) {
        const float *s = src + i * ld;
        float *d = dst + i;
        size_t k = 0;
        for (; k + 4 <= kc; k += 4) {
            float a = s[k], b = s[k + 1], c = s[k + 2], e = s[k + 3];
            d[0] = a;
            d[mr] = b;
            d[2 * mr] = c;
            d[3 * mr] = e;
            d += 4 * mr;
        }
        for (; k < kc; k++) {
            *d = s[k];
            d += mr;
        }
    }
    if (rows < mr)
        for (size_t k = 0; k < kc; k++)
            for (size_t i = rows; i < mr; i++)
                dst[k * mr + i] = 0.0f;
}

#if VS_GEMM_X86
/* 16 rows x 16 columns at a time: load the rows (missing ones are zero),
 * transpose in registers, store each column's first mr lanes. */
__attribute__((target("avx512f"))) static void
pack_rows_avx512(const float *src, size_t ld, size_t rows, size_t kc,
                 size_t mr, float *dst)
{
    const __mmask16 smask = (__mmask16)((1u << mr) - 1u);
    for (size_t k = 0; k < kc; k += 16) {
        size_t w = kc - k < 16 ? kc - k : 16;
        __mmask16 lmask = (__mmask16)((1u << w) - 1u);
        __m512 r[16], t[16], u[16];
        for (size_t i = 0; i < 16; i++)
            r[i] = i < rows ? _mm512_maskz_loadu_ps(lmask, src + i * ld + k)
                            : _mm512_setzero_ps();
        for (int i = 0; i < 16; i += 2) {
            t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
            t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
        }
        /* u[4g + c], lane L: rows 4g..4g+3 of column 4L + c */
        for (int g = 0; g < 4; g++) {
            __m512 a = t[4 * g], b = t[4 * g + 1];
            __m512 c = t[4 * g + 2], d = t[4 * g + 3];
            u[4 * g + 0] = _mm512_shuffle_ps(a, c, 0x44);
            u[4 * g + 1] = _mm512_shuffle_ps(a, c, 0xEE);
            u[4 * g + 2] = _mm512_shuffle_ps(b, d, 0x44);
            u[4 * g + 3] = _mm512_shuffle_ps(b, d, 0xEE);
        }
        for (int c = 0; c < 4; c++) {
            __m512 a = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);
            __m512 b = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
            __m512 e = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
            __m512 f = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
            __m512 col[4];
            col[0] = _mm512_shuffle_f32x4(a, e, 0x88);
            col[2] = _mm512_shuffle_f32x4(a, e, 0xDD);
            col[1] = _mm512_shuffle_f32x4(b, f, 0x88);
            col[3] = _mm512_shuffle_f32x4(b, f, 0xDD);
            for (size_t L = 0; L < 4; L++) {
                size_t kk = 4 * L + (size_t)c;
                if (kk < w)
                    _mm512_mask_storeu_ps(dst + (k + kk) * mr, smask, col[L]);
            }
        }
    }
}
#endif

void vs__pack_rows_to_panel(const float *src, size_t ld, size_t rows,
                            size_t kc, size_t mr, float *dst)
{
#if VS_GEMM_X86
    /* only the AVX-512 path uses this height; the check keeps a direct
     * call safe on other CPUs */
    if (mr == AVX512_MR && vs__gemm_isa_supported(VS_ISA_AVX512)) {
        pack_rows_avx512(src, ld, rows, kc, mr, dst);
        return;
    }
#endif
    pack_rows_scalar(src, ld, rows, kc, mr, dst);
}

void vs__pack_a_matrix(const void *ctx, size_t m0, size_t rows, size_t k0,
                       size_t kc, size_t mr, float *dst)
{
    const vs__mat_a *A = ctx;
    if (A->cs == 1) {
        vs__pack_rows_to_panel(A->a + m0 * A->rs + k0, A->rs, rows, kc, mr,
                               dst);
        return;
    } else {
        for (size_t k = 0; k < kc; k++) {
            const float *src = A->a + (k0 + k) * A->cs + m0 * A->rs;
            float *d = dst + k * mr;
            for (size_t i = 0; i < rows; i++)
                d[i] = src[i * A->rs];
        }
    }
    if (rows < mr)
        for (size_t k = 0; k < kc; k++)
            for (size_t i = rows; i < mr; i++)
                dst[k * mr + i] = 0.0f;
}

/* Panel p holds columns [p*nr, p*nr + nr) for every k: dst[(p*K + k)*nr]. */
static void pack_b(const vs__sgemm_args *g, size_t nr, float *dst)
{
    size_t np = (g->n + nr - 1) / nr;
    for (size_t p = 0; p < np; p++) {
        size_t n0 = p * nr;
        size_t w = g->n - n0 < nr ? g->n - n0 : nr;
        for (size_t k = 0; k < g->k; k++) {
            float *d = dst + (p * g->k + k) * nr;
            const float *s = g->b + k * g->b_rs + n0 * g->b_cs;
            if (g->b_cs == 1) {
                memcpy(d, s, w * sizeof(float));
            } else {
                for (size_t j = 0; j < w; j++)
                    d[j] = s[j * g->b_cs];
            }
            for (size_t j = w; j < nr; j++)
                d[j] = 0.0f;
        }
    }
}

static void *alloc_floats(size_t n)
{
    size_t bytes;
    if (vs__mul_size(n, sizeof(float), &bytes) ||
        vs__add_size(bytes, 63, &bytes))
        return NULL;
    bytes &= ~(size_t)63;
    if (bytes == 0)
        bytes = 64;
    return aligned_alloc(64, bytes);
}

/* ------------------------------------------------------------------------ */
/* The blocked product over a sub-range, one thread                          */

/* Work is cut into units, each owning a set of C tiles for the whole of K
 * (so no two threads ever touch one element, and each element's sum runs
 * in the same order whatever thread computes it): blocks of at most MC
 * rows of C, or, when C is short and wide, groups of at most PANEL_GROUP
 * B panels. Threads take the next unit from a shared counter, which keeps
 * them balanced when a core is busy with something else. */
#define PANEL_GROUP 4
#define UNITS_PER_THREAD 4

typedef struct {
    const vs__sgemm_args *g;
    const isa_desc *d;
    const float *bpack;
    size_t kc;          /* K block size */
    size_t np;          /* B panels */
    int split_m;        /* units are row blocks (else panel groups) */
    size_t unit_rows;   /* rows per unit (split_m), a multiple of mr */
    size_t unit_panels; /* panels per unit (else) */
    size_t n_units;
    atomic_size_t next; /* next unit to take */
} gemm_shared;

typedef struct {
    gemm_shared *sh;
    float *abuf; /* mc x kc packed A */
} gemm_job;

/* C rows [m_lo, m_hi) x B panels [p_lo, p_hi), all of K. */
static void compute_block(const gemm_shared *sh, float *abuf, size_t m_lo,
                          size_t m_hi, size_t p_lo, size_t p_hi)
{
    const vs__sgemm_args *g = sh->g;
    const isa_desc *d = sh->d;
    size_t mr = d->mr, nr = d->nr;
    float tmp[TILE_MAX];
    for (size_t m0 = m_lo; m0 < m_hi; m0 += d->mc) {
        size_t mc = m_hi - m0 < d->mc ? m_hi - m0 : d->mc;
        for (size_t k0 = 0; k0 < g->k; k0 += sh->kc) {
            size_t kc = g->k - k0 < sh->kc ? g->k - k0 : sh->kc;
            int acc = k0 > 0;
            for (size_t i = 0; i < mc; i += mr) {
                size_t rows = mc - i < mr ? mc - i : mr;
                g->pack_a(g->a_ctx, m0 + i, rows, k0, kc, mr, abuf + i * kc);
            }
            for (size_t p = p_lo; p < p_hi; p++) {
                const float *bp = sh->bpack + (p * g->k + k0) * nr;
                size_t n0 = p * nr;
                size_t w = g->n - n0 < nr ? g->n - n0 : nr;
                for (size_t i = 0; i < mc; i += mr) {
                    size_t rows = mc - i < mr ? mc - i : mr;
                    float *cp = g->c + (m0 + i) * g->ldc + n0;
                    const float *ap = abuf + i * kc;
                    if (rows == mr && w == nr) {
                        d->kern(kc, ap, bp, cp, g->ldc, acc);
                        continue;
                    }
                    /* edge tile: through a scratch tile, same arithmetic */
                    if (acc)
                        for (size_t r = 0; r < rows; r++)
                            memcpy(tmp + r * nr, cp + r * g->ldc,
                                   w * sizeof(float));
                    d->kern(kc, ap, bp, tmp, nr, acc);
                    for (size_t r = 0; r < rows; r++)
                        memcpy(cp + r * g->ldc, tmp + r * nr,
                               w * sizeof(float));
                }
            }
        }
    }
}

static void run_job(const gemm_job *j)
{
    gemm_shared *sh = j->sh;
    size_t u;
    while ((u = atomic_fetch_add(&sh->next, 1)) < sh->n_units) {
        if (sh->split_m) {
            size_t m0 = u * sh->unit_rows;
            size_t m1 = sh->g->m - m0 < sh->unit_rows ? sh->g->m
                                                      : m0 + sh->unit_rows;
            compute_block(sh, j->abuf, m0, m1, 0, sh->np);
        } else {
            size_t p0 = u * sh->unit_panels;
            size_t p1 = sh->np - p0 < sh->unit_panels ? sh->np
                                                      : p0 + sh->unit_panels;
            compute_block(sh, j->abuf, 0, sh->g->m, p0, p1);
        }
    }
}

static void *job_main(void *arg)
{
    run_job(arg);
    return NULL;
}

static _Thread_local int g_last_threads = 0;

int vs__gemm_last_threads(void)
{
    return g_last_threads;
}

/* Threads for one GEMM: by work (FLOPS_PER_THREAD each), and by the
 * units there are to split (mu row units or np panels, whichever is
 * split). */
static int gemm_threads(const vs__sgemm_args *g, size_t units,
                        int max_threads)
{
    double flops = 2.0 * (double)g->m * (double)g->n * (double)g->k;
    int nt = max_threads < 1 ? 1 : max_threads;
    if (nt > VS_MAX_THREADS)
        nt = VS_MAX_THREADS;
    if ((double)nt > 1.0 + flops / FLOPS_PER_THREAD)
        nt = (int)(1.0 + flops / FLOPS_PER_THREAD);
    if ((size_t)nt > units)
        nt = (int)units;
    return nt;
}

/* Cuts the work into about UNITS_PER_THREAD units per thread (row blocks
 * when sh->split_m, else panel groups), so a thread that was slowed down
 * leaves little for the others to wait on. */
static void plan_units(gemm_shared *sh, int nt)
{
    const vs__sgemm_args *g = sh->g;
    const isa_desc *d = sh->d;
    size_t per = (size_t)nt * UNITS_PER_THREAD;
    sh->unit_rows = 0;
    sh->unit_panels = 0;
    if (sh->split_m) {
        sh->unit_rows = (g->m + per - 1) / per;
        sh->unit_rows = (sh->unit_rows + d->mr - 1) / d->mr * d->mr;
        if (sh->unit_rows > d->mc)
            sh->unit_rows = d->mc;
        sh->n_units = (g->m + sh->unit_rows - 1) / sh->unit_rows;
    } else {
        sh->unit_panels = (sh->np + per - 1) / per;
        if (sh->unit_panels > PANEL_GROUP)
            sh->unit_panels = PANEL_GROUP;
        sh->n_units = (sh->np + sh->unit_panels - 1) / sh->unit_panels;
    }
    atomic_init(&sh->next, 0);
}

/* Runs the planned units on nt threads (the caller's and nt - 1 more),
 * each with its own packed-A buffer of abuf_count floats. A thread that
 * could not start leaves its units to the others. */
static int run_threads(gemm_shared *sh, int nt, size_t abuf_count)
{
    gemm_job jobs[VS_MAX_THREADS];
    pthread_t tids[VS_MAX_THREADS];
    int started[VS_MAX_THREADS];
    if (nt < 1 || nt > VS_MAX_THREADS)
        nt = 1; /* gemm_threads gives [1, VS_MAX_THREADS] */
    for (int t = 0; t < nt; t++) {
        jobs[t].sh = sh;
        jobs[t].abuf = alloc_floats(abuf_count);
        if (jobs[t].abuf == NULL) {
            for (int u = 0; u < t; u++)
                free(jobs[u].abuf);
            return vs__fail(VS_ENOMEM, "gemm: out of memory packing A");
        }
    }
    g_last_threads = nt;
    for (int t = 1; t < nt; t++)
        started[t] = pthread_create(&tids[t], NULL, job_main, &jobs[t]) == 0;
    run_job(&jobs[0]);
    for (int t = 1; t < nt; t++)
        if (started[t])
            pthread_join(tids[t], NULL);
    for (int t = 0; t < nt; t++)
        free(jobs[t].abuf);
    return VS_OK;
}

int vs__sgemm(const vs__sgemm_args *g, int max_threads)
{
    gemm_shared sh;
    size_t bcount;
    int nt, rc;

    g_last_threads = 0;
    if (g->m == 0 || g->n == 0)
        return VS_OK;
    if (g->k == 0) {
        for (size_t i = 0; i < g->m; i++)
            memset(g->c + i * g->ldc, 0, g->n * sizeof(float));
        return VS_OK;
    }
    isa_desc d = describe(vs__gemm_isa());
    size_t nkb = (g->k + KC_MAX - 1) / KC_MAX;
    size_t mu = (g->m + d.mr - 1) / d.mr; /* row units */
    sh.g = g;
    sh.d = &d;
    sh.kc = (g->k + nkb - 1) / nkb;
    sh.np = (g->n + d.nr - 1) / d.nr;
    sh.split_m = mu >= sh.np;
    nt = gemm_threads(g, sh.split_m ? mu : sh.np, max_threads);
    plan_units(&sh, nt);
    if (vs__mul_size(sh.np * d.nr, g->k, &bcount))
        return vs__fail(VS_ENOMEM, "gemm: packed B of %zu x %zu is too large",
                        g->k, g->n);
    float *bpack = alloc_floats(bcount);
    if (bpack == NULL)
        return vs__fail(VS_ENOMEM, "gemm: out of memory packing B (%zu x %zu)",
                        g->k, g->n);
    pack_b(g, d.nr, bpack);
    sh.bpack = bpack;
    rc = run_threads(&sh, nt, d.mc * sh.kc);
    free(bpack);
    return rc;
}
