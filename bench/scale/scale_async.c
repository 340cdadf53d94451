/* scale_async: how long vs_async_save_tensors blocks its caller, and how
 * long until the checkpoint is durable (vs_async_wait), on a model already
 * in memory. Built only when varstore.h defines VS_HAVE_ASYNC_SAVE (see
 * CMakeLists.txt); otherwise the scale bench's async row says it was
 * skipped.
 *
 * Usage: scale_async SRC.safetensors DB --step N [--nocopy]
 * --nocopy times vs_async_save_tensors_nocopy instead (the saver borrows
 * the model's bytes until the wait). Prints {"blocked_s": s, "total_s": s, "next_blocked_s": s}: blocked is
 * the call to vs_async_save_tensors (the snapshot), total runs from that
 * call to the return of vs_async_wait; next_blocked is the same call for
 * the same tensors as step N + 1 by the same saver, once step N is
 * durable (a training loop's next save). Exit 1 on any failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scale_util.h"

typedef int (*save_fn)(vs_async *, const char *, int64_t,
                       const char *const *, const vs_tensor *const *, size_t,
                       const vs_save_opts *);

int main(int argc, char **argv)
{
    sc_prog = "scale_async";
    int nocopy = argc == 6 && strcmp(argv[5], "--nocopy") == 0;
    if ((argc != 5 && !nocopy) || strcmp(argv[3], "--step") != 0) {
        fprintf(stderr, "usage: scale_async SRC DB --step N [--nocopy]\n");
        return 2;
    }
    save_fn save = nocopy ? vs_async_save_tensors_nocopy
                          : vs_async_save_tensors;
    int64_t step = sc_int_arg(argv[4], "--step");
    vst_st_file *m = sc_model_read(argv[1]);
    vs_async *a = NULL;
    sc_check(vs_async_new(&a), "vs_async_new");
    const char *const *names = (const char *const *)m->names;
    const vs_tensor *const *tensors = (const vs_tensor *const *)m->tensors;
    double t0 = sc_now();
    int rc = save(a, argv[2], step, names, tensors, m->n, NULL);
    double t1 = sc_now();
    sc_check(rc, "vs_async_save_tensors");
    rc = vs_async_wait(a);
    double t2 = sc_now();
    sc_check(rc, "vs_async_wait");
    rc = save(a, argv[2], step + 1, names, tensors, m->n, NULL);
    double t3 = sc_now();
    sc_check(rc, "vs_async_save_tensors (next step)");
    sc_check(vs_async_wait(a), "vs_async_wait (next step)");
    sc_check(vs_async_free(a), "vs_async_free");
    vst_st_free(m);
    printf("{\"blocked_s\": %.6f, \"total_s\": %.6f, "
           "\"next_blocked_s\": %.6f}\n",
           t1 - t0, t2 - t0, t3 - t2);
    return fflush(stdout) == 0 ? 0 : 1;
}
