/* varstore: asynchronous saves (vs_async_*): the save is prepared and
 * snapshotted (its bytes copied, or lent by the caller) on the calling
 * thread (prepare.c, snapshot.c), then
 * vs__save_run writes it on one background thread. One save in flight;
 * its result waits in the vs_async until a wait, the next save or free
 * reports it on the calling thread. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "save_int.h"

struct vs_async {
    pthread_t thread;
    int running;           /* started and not yet joined */
    vs__save_snap *snap;   /* the save in flight's input (its thread's) */
    vs__snap_block spare;  /* the last snapshot's memory, for the next
                              (its thread's while a save runs) */
    int rc;                /* the last save's unreported result */
    char msg[VS_ERRMSG_MAX];
};

/* The saver whose save runs on this thread: its progress callback may
 * call it back, and it cannot wait for itself. */
static _Thread_local const vs_async *tl_own;

static void *background(void *arg)
{
    vs_async *a = arg;
    tl_own = a;
    int rc = vs__save_snap_run(a->snap);
    /* vs_errmsg is this thread's: carried over to the joining thread. */
    if (rc != VS_OK)
        snprintf(a->msg, sizeof a->msg, "%s", vs_errmsg());
    vs__save_snap_free(a->snap, &a->spare);
    a->snap = NULL;
    a->rc = rc;
    return NULL;
}

/* VS_EINVAL for a call of a from its own save's thread (its progress
 * callback): joining itself would fail, and the save would pass for
 * over while it still reads what the caller lent. */
static int check_thread(const vs_async *a)
{
    if (a == tl_own)
        return vs__fail(VS_EINVAL, "an async saver cannot be called from "
                                   "its own save's progress callback");
    return VS_OK;
}

/* Waits for the save in flight, if any (its result then in a->rc). */
static void join(vs_async *a)
{
    if (!a->running)
        return;
    /* Fails only on a programming error (EINVAL, ESRCH, EDEADLK): the
     * thread was created joinable by start() and is joined once. */
    (void)pthread_join(a->thread, NULL);
    a->running = 0;
}

/* Reports (and clears) the result of the last save on this thread. */
static int report(vs_async *a)
{
    int rc = a->rc;
    if (rc == VS_OK)
        return VS_OK;
    a->rc = VS_OK;
    return vs__fail(rc, "%s", a->msg);
}

/* Starts the background thread on s (taken: freed on a failure). */
static int start(vs_async *a, vs__save_snap *s)
{
    a->snap = s;
    a->rc = VS_OK;
    a->msg[0] = '\0';
    int e = pthread_create(&a->thread, NULL, background, a);
    if (e != 0) {
        a->snap = NULL;
        vs__save_snap_free(s, &a->spare);
        return vs__fail(e == EAGAIN ? VS_ENOMEM : VS_ERROR,
                        "cannot start the background save: %s",
                        strerror(e));
    }
    a->running = 1;
    return VS_OK;
}

/* What both save calls do first: wait for the save in flight and report
 * its failure, if it failed. */
static int before_save(vs_async *a)
{
    if (a == NULL)
        return vs__fail(VS_EINVAL, "async saver is NULL");
    int rc = check_thread(a);
    if (rc != VS_OK)
        return rc;
    join(a);
    return report(a);
}

/* Snapshots the prepared save (without its bytes with lend) and starts
 * it; frees p. */
static int launch(vs_async *a, vs__save_prep *p, int rc, const char *path,
                  int64_t step, const vs_save_opts *opts, int lend)
{
    vs__save_snap *s = NULL;
    if (rc == VS_OK)
        rc = vs__save_snap_take(p, path, step, opts, lend, &a->spare, &s);
    vs__save_prep_free(p);
    if (rc == VS_OK)
        rc = start(a, s);
    return rc;
}

int vs_async_new(vs_async **out)
{
    if (out == NULL)
        return vs__fail(VS_EINVAL, "out is NULL");
    *out = vs__calloc(1, sizeof **out);
    if (*out == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    return VS_OK;
}

int vs_async_save(vs_async *a, vs_graph *g, const char *path, int64_t step,
                  const vs_save_opts *opts)
{
    int rc = before_save(a);
    if (rc != VS_OK)
        return rc;
    vs__save_prep p;
    rc = vs__save_prep_graph(&p, g, path, step, opts);
    return launch(a, &p, rc, path, step, opts, 0);
}

/* Both forms of vs_async_save_tensors: the bytes copied, or lent. */
static int save_tensors(vs_async *a, const char *path, int64_t step,
                        const char *const *names,
                        const vs_tensor *const *tensors, size_t n,
                        const vs_save_opts *opts, int lend)
{
    int rc = before_save(a);
    if (rc != VS_OK)
        return rc;
    vs__save_prep p;
    rc = vs__save_prep_tensors(&p, path, step, names, tensors, n, opts);
    return launch(a, &p, rc, path, step, opts, lend);
}

int vs_async_save_tensors(vs_async *a, const char *path, int64_t step,
                          const char *const *names,
                          const vs_tensor *const *tensors, size_t n,
                          const vs_save_opts *opts)
{
    return save_tensors(a, path, step, names, tensors, n, opts, 0);
}

int vs_async_save_tensors_nocopy(vs_async *a, const char *path,
                                 int64_t step, const char *const *names,
                                 const vs_tensor *const *tensors, size_t n,
                                 const vs_save_opts *opts)
{
    return save_tensors(a, path, step, names, tensors, n, opts, 1);
}

int vs_async_wait(vs_async *a)
{
    if (a == NULL)
        return vs__fail(VS_EINVAL, "async saver is NULL");
    int rc = check_thread(a);
    if (rc != VS_OK)
        return rc;
    join(a);
    return report(a);
}

int vs_async_free(vs_async *a)
{
    if (a == NULL)
        return VS_OK;
    int rc = check_thread(a); /* a stays: its save is still running */
    if (rc != VS_OK)
        return rc;
    join(a);
    rc = report(a);
    vs__snap_block_free(&a->spare);
    vs__free(a);
    return rc;
}
