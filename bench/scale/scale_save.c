/* scale_save: times vs_save_tensors on a model already in memory (the
 * scale bench's C save row; also its retention, prune, readers and size
 * rows). The model is read from a safetensors file before any timing.
 *
 * Usage: scale_save SRC.safetensors DB --step N [--codec default|raw]
 *          [--max-to-keep K] [--count C] [--perturb] [--max-bytes B]
 *          [--threads T]
 *   --count C     C saves, steps N .. N+C-1, each timed alone
 *   --perturb     distinct data for each step (sc_perturb, seed = step)
 *   --max-bytes B only the first tensors, up to B bytes
 *   --max-to-keep K  vs_save_opts.max_to_keep (default: keep all)
 *   --threads T   vs_save_opts.threads (default 0: one per CPU)
 * Prints {"saves": [seconds, ...], "raw_bytes": B, "n_tensors": n,
 * "peak_rss": B}: peak_rss is the process's peak RSS from the first save
 * on (the model already in memory), null where it cannot be told apart
 * from the model's reading. vs_save_tensors returns with the checkpoint
 * durable, so each time includes the fsyncs. Exit 1 on any failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scale_util.h"

typedef struct {
    const char *src, *db;
    int64_t step, count, max_bytes;
    int perturb;
    vs_save_opts opts;
} args;

static void usage(void)
{
    fprintf(stderr, "usage: scale_save SRC DB --step N [--codec default|raw] "
                    "[--max-to-keep K] [--count C] [--perturb] [--max-bytes B] "
                    "[--threads T]\n");
    exit(2);
}

static void parse(int argc, char **argv, args *a)
{
    memset(a, 0, sizeof *a);
    a->step = -1;
    a->count = 1;
    a->opts.max_to_keep = VS_KEEP_ALL;
    if (argc < 3)
        usage();
    a->src = argv[1];
    a->db = argv[2];
    for (int i = 3; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--perturb") == 0) {
            a->perturb = 1;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (strcmp(o, "--step") == 0)
            a->step = sc_int_arg(v, o);
        else if (strcmp(o, "--count") == 0)
            a->count = sc_int_arg(v, o);
        else if (strcmp(o, "--max-bytes") == 0)
            a->max_bytes = sc_int_arg(v, o);
        else if (strcmp(o, "--max-to-keep") == 0)
            a->opts.max_to_keep = (int)sc_int_arg(v, o);
        else if (strcmp(o, "--threads") == 0)
            a->opts.threads = (int)sc_int_arg(v, o);
        else if (strcmp(o, "--codec") == 0 && strcmp(v, "raw") == 0)
            a->opts.codec = VS_CODEC_RAW;
        else if (strcmp(o, "--codec") == 0 && strcmp(v, "default") == 0)
            a->opts.codec = VS_CODEC_DEFAULT;
        else
            usage();
    }
    if (a->step < 0 || a->count < 1 || a->opts.max_to_keep == 0)
        usage();
}

int main(int argc, char **argv)
{
    args a;
    sc_prog = "scale_save";
    parse(argc, argv, &a);
    vst_st_file *m = sc_model_read(a.src);
    uint64_t raw = sc_model_limit(m, (uint64_t)a.max_bytes);
    int reset = sc_peak_reset();
    printf("{\"saves\": [");
    for (int64_t k = 0; k < a.count; k++) {
        int64_t step = a.step + k;
        if (a.perturb)
            sc_perturb(m, (uint64_t)step + 1);
        double t0 = sc_now();
        int rc = vs_save_tensors(a.db, step, (const char *const *)m->names,
                                 (const vs_tensor *const *)m->tensors, m->n,
                                 &a.opts);
        double t1 = sc_now();
        sc_check(rc, "vs_save_tensors");
        printf("%s%.6f", k ? ", " : "", t1 - t0);
    }
    printf("], \"raw_bytes\": %llu, \"n_tensors\": %zu, ",
           (unsigned long long)raw, m->n);
    sc_print_peak(stdout, reset);
    printf("}\n");
    vst_st_free(m);
    if (fflush(stdout) != 0)
        sc_die("stdout", "write failed");
    return 0;
}
