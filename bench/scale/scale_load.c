/* scale_load: times loading every tensor of one checkpoint into memory
 * through the library's whole-checkpoint read (vs_ckpt_open,
 * vs_ckpt_list_variables, vs_ckpt_load_many, vs_ckpt_close), then, outside
 * the timing, prints each tensor's checksum so that the caller can check
 * the load bit for bit. "Cold" is the caller's business (it drops the
 * file's pages before starting this program).
 *
 * Usage: scale_load DB [--step N]     (default: the newest step)
 * Prints {"seconds": s, "step": N, "peak_rss": B, "manifest": {...}}:
 * peak_rss is the process's peak RSS from the load's start (null where
 * the kernel cannot reset it). Exit 1 on failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scale_util.h"

static int64_t parse(int argc, char **argv)
{
    if (argc == 2)
        return VS_LATEST;
    if (argc == 4 && strcmp(argv[2], "--step") == 0)
        return sc_int_arg(argv[3], "--step");
    fprintf(stderr, "usage: scale_load DB [--step N]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    sc_prog = "scale_load";
    int64_t step = parse(argc, argv);
    vs_ckpt *f = NULL;
    vs_tensor_info *info = NULL;
    size_t n = 0;
    int reset = sc_peak_reset();
    double t0 = sc_now();
    sc_check(vs_ckpt_open(argv[1], &f), "vs_ckpt_open");
    if (step == VS_LATEST)
        sc_check(vs_ckpt_latest(f, &step), "vs_ckpt_latest");
    sc_check(vs_ckpt_list_variables(f, step, &info, &n),
             "vs_ckpt_list_variables");
    const char **names = calloc(n ? n : 1, sizeof *names);
    vs_tensor **out = calloc(n ? n : 1, sizeof *out);
    if (names == NULL || out == NULL)
        sc_die("calloc", "out of memory");
    for (size_t i = 0; i < n; i++)
        names[i] = info[i].name;
    sc_check(vs_ckpt_load_many(f, step, names, n, out), "vs_ckpt_load_many");
    vs_ckpt_close(f);
    double t1 = sc_now();
    printf("{\"seconds\": %.6f, \"step\": %lld, ", t1 - t0,
           (long long)step);
    sc_print_peak(stdout, reset);
    printf(", \"manifest\": ");
    sc_print_manifest(stdout, names, out, n);
    printf("}\n");
    for (size_t i = 0; i < n; i++)
        vs_tensor_free(out[i]);
    free(out);
    free(names);
    vs_tensor_info_free(info, n);
    if (fflush(stdout) != 0)
        sc_die("stdout", "write failed");
    return 0;
}
