/* varstore: internal single-precision GEMM used by conv2d and matmul.
 * Not installed.
 *
 * C (M x N, row-major, ldc) = A (M x K) * B (K x N). A is read through a
 * packing callback (so conv2d can pack im2col panels on the fly without
 * building the whole patch matrix); B is addressed by strides. The GEMM is
 * BLIS-shaped: B is packed once into NR-wide panels, each thread packs
 * MC x KC blocks of A into MR-tall panels, and a register-blocked
 * micro-kernel computes MR x NR tiles. The micro-kernel is chosen at run
 * time: AVX-512F (14 x 32), AVX2+FMA (6 x 16) or portable C (4 x 8).
 *
 * Results depend only on the shapes and the ISA path, never on the thread
 * count (the K blocking is fixed by K alone), so 1 and N threads give
 * bitwise identical outputs. */
#ifndef VS_GEMM_H
#define VS_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "varstore.h"

/* Micro-kernel paths. */
enum {
    VS_ISA_AUTO = 0, /* the best the CPU supports */
    VS_ISA_SCALAR = 1,
    VS_ISA_AVX2 = 2, /* AVX2 + FMA */
    VS_ISA_AVX512 = 3
};

/* Forces a path for every later GEMM in the process (tests, benchmarks).
 * VS_ISA_AUTO restores the default. VS_EINVAL when the CPU (or the
 * compiler) lacks the path; the setting is then unchanged. */
int vs__gemm_set_isa(int isa);
/* 1 when this CPU can run the path, else 0. */
int vs__gemm_isa_supported(int isa);
/* The path the next GEMM will use (never VS_ISA_AUTO). */
int vs__gemm_isa(void);
/* "scalar", "avx2", "avx512". */
const char *vs__gemm_isa_name(int isa);

/* Threads ops may use: vs_set_num_threads' value, 0 resolved to the number
 * of online CPUs; always >= 1. */
int vs__num_threads(void);

/* Packs rows [m0, m0 + rows) and columns [k0, k0 + kc) of A into dst as
 * one MR-tall panel: dst[k * mr + i] = A(m0 + i, k0 + k); rows < mr, and
 * the rows from `rows` to mr are set to zero. */
typedef void (*vs__pack_a_fn)(const void *ctx, size_t m0, size_t rows,
                              size_t k0, size_t kc, size_t mr, float *dst);

typedef struct {
    size_t m, n, k;
    vs__pack_a_fn pack_a; /* A through a callback ... */
    const void *a_ctx;
    const float *b;       /* B(k, n) = b[k * b_rs + n * b_cs] */
    size_t b_rs, b_cs;
    float *c;             /* C(m, n) = c[m * ldc + n]; overwritten */
    size_t ldc;
} vs__sgemm_args;

/* C = A * B with up to max_threads threads (fewer for small problems).
 * VS_ENOMEM when the packing buffers cannot be allocated (C is then
 * unspecified). k == 0 writes zeros. */
int vs__sgemm(const vs__sgemm_args *args, int max_threads);

/* Largest K block and micro-tile height of any path. */
#define VS_GEMM_KC_MAX 256
#define VS_GEMM_MR_MAX 16

/* Packs `rows` (<= mr) rows of kc floats, row i at src + i * ld, into one
 * MR-tall panel: dst[k * mr + i], rows from `rows` to mr set to zero. Uses
 * an AVX-512 16x16 transpose on the AVX-512 path. */
void vs__pack_rows_to_panel(const float *src, size_t ld, size_t rows,
                            size_t kc, size_t mr, float *dst);

/* Threads the calling thread's last vs__sgemm ran on (0 before any, and
 * after one that had nothing to compute). For tests. */
int vs__gemm_last_threads(void);

/* A plain row-major A: A(m, k) = a[m * a_rs + k * a_cs]. */
typedef struct {
    const float *a;
    size_t rs, cs;
} vs__mat_a;
void vs__pack_a_matrix(const void *ctx, size_t m0, size_t rows, size_t k0,
                       size_t kc, size_t mr, float *dst);

/* conv2d's small-problem switch (tests): VS_CONV_AUTO picks the direct
 * loop for tiny problems and the GEMM otherwise; the others force one. */
enum { VS_CONV_AUTO = 0, VS_CONV_DIRECT = 1, VS_CONV_GEMM = 2 };
void vs__conv_set_path(int path);

/* Shared by conv.c and nn.c (defined in conv.c). */

/* TF's windowed output size (GetWindowedOutputSizeVerbose) along one
 * dimension: VALID gives (in - eff + stride) / stride, SAME gives
 * ceil(in / stride) with pad_before = pad_total / 2, where eff =
 * (k - 1) * dilation + 1. VS_ESHAPE "<op>: computed output size would be
 * negative: -1 [input_size: 3, effective_filter_size: 5, stride: 1]". */
int vs__window_size(const char *op, int64_t in, int64_t k, int64_t dilation,
                    int64_t stride, vs_padding padding, int64_t *out,
                    int64_t *pad_before);
/* Checks that t is a well-formed tensor (dtype, dims, byte size, data set
 * when it has elements): VS_EINVAL "<op>: <what> ..." otherwise. */
int vs__op_check_tensor(const char *op, const char *what, const vs_tensor *t);
/* "[1,2,2,1]" into buf (cap >= 64). */
const char *vs__ints4_str(const int v[4], char *buf, size_t cap);

#endif /* VS_GEMM_H */
