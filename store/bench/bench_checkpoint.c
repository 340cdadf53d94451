/* varstore: save/restore timing on ResNet-18 shaped float32 weights
 * (glorot-uniform kernels, BN 1/0, 46.8 MB), as in baselines.md.
 * Not built by default; build by hand against the object library:
 *   cc -O2 -I include -I common -I scope -I ops -I store \
 *      store/bench/bench_checkpoint.c build/libvarstore.a -lsqlite3 -lz -lm -lpthread
 * Usage: bench_checkpoint DIR [runs] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store_int.h"
#include "varstore.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int n_bn;
static void conv(vs_graph *g, const char *name, int k, int cin, int cout)
{
    vs_init gl = vs_init_glorot_uniform(VS_NO_SEED), one = vs_init_ones(),
            zero = vs_init_zeros();
    int64_t ks[] = {k, k, cin, cout}, bs[] = {cout};
    vs_var_opts o = {0};
    vs_var *v;
    if (vs_variable_scope_push(g, name, NULL, NULL) != VS_OK)
        exit(1);
    o.shape = ks;
    o.ndim = 4;
    o.initializer = &gl;
    if (vs_get_variable(g, "kernel", &o, &v) != VS_OK)
        exit(1);
    if (vs_variable_scope_push(g, "bn", NULL, NULL) != VS_OK)
        exit(1);
    o.shape = bs;
    o.ndim = 1;
    const char *nm[] = {"gamma", "beta", "moving_mean", "moving_variance"};
    const vs_init *in[] = {&one, &zero, &zero, &one};
    for (int i = 0; i < 4; i++) {
        o.initializer = in[i];
        if (vs_get_variable(g, nm[i], &o, &v) != VS_OK)
            exit(1);
    }
    n_bn++;
    if (vs_variable_scope_pop(g) != VS_OK || vs_variable_scope_pop(g) != VS_OK)
        exit(1);
}

static vs_graph *resnet18(void)
{
    vs_graph *g;
    if (vs_graph_open(&g) != VS_OK)
        exit(1);
    vs_graph_set_random_seed(g, 42);
    conv(g, "conv1", 7, 3, 64);
    int ch[] = {64, 128, 256, 512};
    int cin = 64;
    for (int l = 0; l < 4; l++) {
        for (int b = 0; b < 2; b++) {
            char sc[64];
            snprintf(sc, sizeof sc, "layer%d/block%d", l + 1, b);
            if (vs_variable_scope_push(g, sc, NULL, NULL) != VS_OK)
                exit(1);
            conv(g, "conv1", 3, b == 0 ? cin : ch[l], ch[l]);
            conv(g, "conv2", 3, ch[l], ch[l]);
            if (b == 0 && l > 0)
                conv(g, "downsample", 1, cin, ch[l]);
            if (vs_variable_scope_pop(g) != VS_OK)
                exit(1);
        }
        cin = ch[l];
    }
    vs_init gl = vs_init_glorot_uniform(VS_NO_SEED), zero = vs_init_zeros();
    int64_t fs[] = {512, 1000}, fb[] = {1000};
    vs_var_opts o = {0};
    vs_var *v;
    if (vs_variable_scope_push(g, "fc", NULL, NULL) != VS_OK)
        exit(1);
    o.shape = fs;
    o.ndim = 2;
    o.initializer = &gl;
    if (vs_get_variable(g, "kernel", &o, &v) != VS_OK)
        exit(1);
    o.shape = fb;
    o.ndim = 1;
    o.initializer = &zero;
    if (vs_get_variable(g, "bias", &o, &v) != VS_OK)
        exit(1);
    if (vs_variable_scope_pop(g) != VS_OK ||
        vs_global_variables_initializer(g) != VS_OK)
        exit(1);
    return g;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void rm(const char *p)
{
    char b[600];
    unlink(p);
    snprintf(b, sizeof b, "%s-wal", p);
    unlink(b);
    snprintf(b, sizeof b, "%s-shm", p);
    unlink(b);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    vs_graph *g = resnet18();
    size_t nv = vs_get_collection(g, VS_GLOBAL_VARIABLES, NULL, NULL, 0);
    double raw = 0;
    vs_var **vars = malloc(nv * sizeof *vars);
    vs_get_collection(g, VS_GLOBAL_VARIABLES, NULL, vars, nv);
    for (size_t i = 0; i < nv; i++) {
        vs_tensor *t;
        if (vs_var_value(vars[i], &t) != VS_OK)
            return 1;
        raw += (double)vs_tensor_nbytes(t);
    }
    printf("model: %zu tensors, %.1f MB\n", nv, raw / 1e6);
    char path[512];
    snprintf(path, sizeof path, "%s/bench_ckpt_%ld.db", dir, (long)getpid());
    const char *journals[] = {"wal", "delete"};
    for (int jm = 0; jm < 2; jm++) {
        vs__store_set_journal(journals[jm]);
        for (int codec = 0; codec < 2; codec++) {
            for (int th = 1; th <= 2; th++) {
                double ts[32], td[32], tr[32];
                long long size = 0, stored = 0;
                for (int r = 0; r < runs && r < 32; r++) {
                    rm(path);
                    vs_save_opts o = {0};
                    o.codec = codec;
                    o.threads = th;
                    double t0 = now();
                    if (vs_save_ex(g, path, 1, &o) != VS_OK) {
                        fprintf(stderr, "%s\n", vs_errmsg());
                        return 1;
                    }
                    ts[r] = now() - t0;
                    t0 = now();
                    if (vs_save_ex(g, path, 2, &o) != VS_OK)
                        return 1;
                    td[r] = now() - t0;
                    vs_restore_opts ro = {0};
                    ro.threads = th;
                    t0 = now();
                    if (vs_restore_ex(g, path, 1, &ro) != VS_OK) {
                        fprintf(stderr, "%s\n", vs_errmsg());
                        return 1;
                    }
                    tr[r] = now() - t0;
                    FILE *f = fopen(path, "rb");
                    fseek(f, 0, SEEK_END);
                    size = ftell(f);
                    fclose(f);
                    vs_ckpt_info *ci;
                    size_t n;
                    if (vs_list_checkpoints(path, &ci, &n) == VS_OK && n) {
                        stored = ci[0].stored_bytes;
                        vs_free(ci);
                    }
                }
                qsort(ts, (size_t)runs, sizeof *ts, cmpd);
                qsort(td, (size_t)runs, sizeof *td, cmpd);
                qsort(tr, (size_t)runs, sizeof *tr, cmpd);
                double s = ts[runs / 2], d = td[runs / 2], re = tr[runs / 2];
                printf("%-6s %-12s threads %d: save %.3f s (%.0f MB/s), "
                       "ratio %.3f, file %.1f MB; unchanged re-save %.3f s; "
                       "restore %.3f s (%.0f MB/s)\n",
                       journals[jm], codec ? "raw" : "shuffle-zlib", th, s,
                       raw / s / 1e6, (double)stored / raw, (double)size / 1e6,
                       d, re, raw / re / 1e6);
            }
        }
    }
    rm(path);
    free(vars);
    vs_graph_close(g);
    return 0;
}
