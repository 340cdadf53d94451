/* conv2d benchmark: GFLOP/s and microseconds per call at 1 and 2 threads,
 * median of >= 5 timed runs after warm-up. Build in Release:
 *   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release
 *   cmake --build build-rel --target conv_bench && build-rel/bench/conv_bench
 * Options: --isa scalar|avx2|avx512 forces a GEMM path. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gemm.h"
#include "varstore.h"

typedef struct {
    const char *name;
    int64_t n, h, w, c, kh, kw, co;
    int stride;
} bench_case;

static const bench_case k_cases[] = {
    {"seed 1x4x4x1 * 2x2x1x1 s1", 1, 4, 4, 1, 2, 2, 1, 1},
    {"1x56x56x64 * 3x3x64x64 s1", 1, 56, 56, 64, 3, 3, 64, 1},
    {"8x56x56x64 * 3x3x64x64 s1", 8, 56, 56, 64, 3, 3, 64, 1},
    {"1x224x224x3 * 7x7x3x64 s2", 1, 224, 224, 3, 7, 7, 64, 2},
    {"1x56x56x64 * 1x1x64x256 s1", 1, 56, 56, 64, 1, 1, 64 * 4, 1},
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static vs_tensor *rand_tensor(int64_t a, int64_t b, int64_t c, int64_t d)
{
    int64_t s[4] = {a, b, c, d};
    vs_tensor *t = NULL;
    if (vs_tensor_new(VS_FLOAT32, 4, s, &t) != VS_OK) {
        fprintf(stderr, "conv_bench: %s\n", vs_errmsg());
        exit(1);
    }
    uint32_t r = 12345;
    float *p = t->data;
    for (int64_t i = 0; i < vs_tensor_numel(t); i++) {
        r = r * 1664525u + 1013904223u;
        p[i] = (float)(r >> 8) / 16777216.0f - 0.5f;
    }
    return t;
}

static int run_op(const vs_tensor *x, const vs_tensor *f, const int st[4],
                  vs_tensor **y)
{
    if (st == NULL) /* matmul */
        return vs_matmul(x, f, 0, 0, y);
    return vs_conv2d(x, f, st, VS_PAD_SAME, y);
}

/* Median seconds per call (st NULL: matmul x * f). */
static double time_conv(const vs_tensor *x, const vs_tensor *f,
                        const int st[4])
{
    enum { MAXR = 2001 };
    static double t[MAXR];
    vs_tensor *y = NULL;
    double t0 = now();
    int warm = 0;
    while (warm < 3 || now() - t0 < 0.2) { /* warm up: >= 3 calls, 0.2 s */
        if (run_op(x, f, st, &y) != VS_OK) {
            fprintf(stderr, "conv_bench: %s\n", vs_errmsg());
            exit(1);
        }
        vs_tensor_free(y);
        warm++;
    }
    double per = (now() - t0) / warm;
    int runs = (int)(0.5 / per);
    if (runs < 7)
        runs = 7;
    if (runs > MAXR)
        runs = MAXR;
    for (int i = 0; i < runs; i++) {
        double a = now();
        if (run_op(x, f, st, &y) != VS_OK) {
            fprintf(stderr, "conv_bench: %s\n", vs_errmsg());
            exit(1);
        }
        t[i] = now() - a;
        vs_tensor_free(y);
    }
    qsort(t, (size_t)runs, sizeof t[0], cmp_double);
    return t[runs / 2];
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        int isa = -1;
        if (strcmp(argv[i], "--isa") == 0 && i + 1 < argc) {
            i++;
            if (strcmp(argv[i], "scalar") == 0)
                isa = VS_ISA_SCALAR;
            else if (strcmp(argv[i], "avx2") == 0)
                isa = VS_ISA_AVX2;
            else if (strcmp(argv[i], "avx512") == 0)
                isa = VS_ISA_AVX512;
        }
        if (isa < 0 || vs__gemm_set_isa(isa) != VS_OK) {
            fprintf(stderr, "usage: conv_bench [--isa scalar|avx2|avx512]\n");
            return 2;
        }
    }
    printf("conv2d NHWC * HWIO, SAME, float32; GEMM path: %s\n",
           vs__gemm_isa_name(vs__gemm_isa()));
    printf("%-30s %8s %12s %10s %12s %10s %7s\n", "case", "MFLOP",
           "1 thr us", "GFLOP/s", "2 thr us", "GFLOP/s", "speedup");
    for (size_t c = 0; c < sizeof k_cases / sizeof k_cases[0]; c++) {
        const bench_case *b = &k_cases[c];
        vs_tensor *x = rand_tensor(b->n, b->h, b->w, b->c);
        vs_tensor *f = rand_tensor(b->kh, b->kw, b->c, b->co);
        int st[4] = {1, b->stride, b->stride, 1};
        int64_t oh = (b->h + b->stride - 1) / b->stride;
        int64_t ow = (b->w + b->stride - 1) / b->stride;
        double flops = 2.0 * (double)(b->n * oh * ow) *
                       (double)(b->kh * b->kw * b->c) * (double)b->co;
        vs_set_num_threads(1);
        double t1 = time_conv(x, f, st);
        vs_set_num_threads(2);
        double t2 = time_conv(x, f, st);
        printf("%-30s %8.3f %12.2f %10.2f %12.2f %10.2f %6.2fx\n", b->name,
               flops * 1e-6, t1 * 1e6, flops / t1 * 1e-9, t2 * 1e6,
               flops / t2 * 1e-9, t1 / t2);
        fflush(stdout);
        vs_tensor_free(x);
        vs_tensor_free(f);
    }
    {
        /* vs_matmul runs on the same GEMM */
        int64_t s[2] = {1024, 1024};
        vs_tensor *a = NULL, *b = NULL;
        if (vs_tensor_new(VS_FLOAT32, 2, s, &a) != VS_OK ||
            vs_tensor_new(VS_FLOAT32, 2, s, &b) != VS_OK) {
            fprintf(stderr, "conv_bench: %s\n", vs_errmsg());
            return 1;
        }
        for (int64_t i = 0; i < 1024 * 1024; i++) {
            ((float *)a->data)[i] = (float)(i % 7) - 3.0f;
            ((float *)b->data)[i] = (float)(i % 5) - 2.0f;
        }
        double flops = 2.0 * 1024 * 1024 * 1024;
        vs_set_num_threads(1);
        double t1 = time_conv(a, b, NULL);
        vs_set_num_threads(2);
        double t2 = time_conv(a, b, NULL);
        printf("%-30s %8.3f %12.2f %10.2f %12.2f %10.2f %6.2fx\n",
               "matmul 1024x1024x1024", flops * 1e-6, t1 * 1e6,
               flops / t1 * 1e-9, t2 * 1e6, flops / t2 * 1e-9, t1 / t2);
        vs_tensor_free(a);
        vs_tensor_free(b);
    }
    vs_set_num_threads(0);
    return 0;
}
