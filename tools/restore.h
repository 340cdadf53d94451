/* varstore CLI: restore's two writers, and what they share. Both stream a
 * checkpoint (vs_ckpt_stream): each chunk is written into its place in the
 * output as soon as the library's threads have decoded and checked it, so
 * memory stays at a few chunks whatever the model's size.
 *
 * Errors: the first one, in tensor order, is the one printed (the library
 * reports failures in that order). */
#ifndef VS_TOOLS_RESTORE_H
#define VS_TOOLS_RESTORE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "varstore.h"

/* What to restore: the checkpoint, its step, and the selected tensors
 * (idx[i] indexes infos, names[i] is that tensor's name). */
typedef struct {
    vs_ckpt *ck;
    int64_t step;
    const vs_tensor_info *infos;
    const size_t *idx;
    const char *const *names;
    size_t n;
    progress *pg;
} restore_job;

/* Writes the tensors as .npy files in a new tree, renamed to dir once
 * complete (restore_npy.c); EXIT_ERR after printing the failure, with
 * nothing left behind. */
int restore_npy(const restore_job *job, const char *dir);
/* Writes the tensors as one safetensors file dst (restore_st.c). */
int restore_safetensors(const restore_job *job, const char *dst);

/* ------------------------------------------------------------------------ */
/* Shared by the two (restore_stream.c)                                      */

#define SINK_FAILED 1 /* a callback's own failure (library codes are < 0) */

/* The failure of the lowest tensor so far, from any thread. */
typedef struct {
    pthread_mutex_t mu;
    char *msg;  /* NULL: none, or out of memory (nomem) */
    size_t i;
    int nomem;  /* a failure whose message could not be kept */
} first_err;

/* Records the failure of tensor i, message m (owned; NULL: out of
 * memory), kept if it is the lowest tensor's so far; returns SINK_FAILED.
 * Thread-safe. */
int fe_take(first_err *fe, size_t i, char *m);
/* Runs the stream of job's tensors into the callbacks (begin may be NULL)
 * with ctx; they record their failures in fe, whose mutex is made here.
 * EXIT_ERR after ending the bar and printing the first failure. */
int stream_run(const restore_job *job, int (*begin)(void *, size_t),
               int (*write)(void *, size_t, uint64_t, const void *, size_t),
               int (*end)(void *, size_t), void *ctx, first_err *fe);
/* Tensor ti is complete: the bar moves by its raw bytes. */
void progress_tensor(progress *pg, uint64_t *done, const vs_tensor_info *ti);
/* A new string formatted as printf would; NULL when out of memory. */
char *fmt_new(const char *f, ...) VST_PRINTF(1, 2);

#endif /* VS_TOOLS_RESTORE_H */
