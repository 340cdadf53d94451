/* varstore: a small thread pool for chunk (de)compression. The calling
 * thread prepares and consumes jobs in order (it owns the SQLite
 * connection); worker threads run the CPU work. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "store_int.h"

int vs__pool_threads(int threads)
{
    if (threads > 0)
        return threads > VS_MAX_THREADS ? VS_MAX_THREADS : threads;
    return vs__cpu_count();
}

/* Results of pthread_mutex_lock/unlock, pthread_cond_wait/signal/
 * broadcast/destroy, pthread_mutex_destroy and pthread_join are not
 * checked: on the default-type objects initialized (checked) in
 * pool_init and the threads vs__pool_run created, POSIX lets them fail only on
 * a programming error (EINVAL, EPERM, EDEADLK, ESRCH), never at run
 * time. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* workers: a job became available or stop */
    pthread_cond_t done_cv; /* main: a job finished */
    size_t n, prepared, next;
    unsigned char *done;
    int stop;
    int err_code;  /* first failing work() */
    size_t err_k;
    char err_msg[VS_ERRMSG_MAX];
    void *ctx;
    vs__job_fn work;
} pool;

static _Thread_local int tl_worker;

/* Jobs a worker thread took from a calling thread, since the process
 * began (tests: which calls hand work over). */
static atomic_size_t g_handoffs;

size_t vs__pool_handoffs(void)
{
    return atomic_load(&g_handoffs);
}

int vs__pool_threads_for(int threads, uint64_t bytes, uint64_t inline_max)
{
    return bytes <= inline_max ? 1 : threads;
}

int vs__pool_worker(void)
{
    return tl_worker;
}

typedef struct {
    void *p;
    int index;
} worker_arg;

static void *worker(void *varg)
{
    worker_arg *wa = varg;
    pool *p = wa->p;
    tl_worker = wa->index;
    char msg[VS_ERRMSG_MAX];
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->next >= p->prepared && p->next < p->n)
            pthread_cond_wait(&p->work_cv, &p->mu);
        if (p->stop || p->next >= p->n)
            break;
        size_t k = p->next++;
        pthread_mutex_unlock(&p->mu);
        atomic_fetch_add(&g_handoffs, 1);
        msg[0] = '\0';
        int rc = p->work(p->ctx, k, msg, sizeof msg);
        pthread_mutex_lock(&p->mu);
        p->done[k] = 1;
        if (rc != VS_OK && (p->err_code == VS_OK || k < p->err_k)) {
            p->err_code = rc;
            p->err_k = k;
            memcpy(p->err_msg, msg, sizeof msg);
            p->stop = 1;
            pthread_cond_broadcast(&p->work_cv);
        }
        pthread_cond_broadcast(&p->done_cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static int run_inline_jobs(size_t n, void *ctx, vs__job_fn prepare,
                           vs__job_fn work, vs__job_fn consume)
{
    char msg[VS_ERRMSG_MAX];
    for (size_t k = 0; k < n; k++) {
        int rc;
        if (prepare != NULL) {
            rc = prepare(ctx, k, msg, sizeof msg);
            if (rc != VS_OK)
                return rc;
        }
        msg[0] = '\0';
        rc = work(ctx, k, msg, sizeof msg);
        if (rc != VS_OK)
            return vs__fail(rc, "%s", msg);
        if (consume != NULL) {
            rc = consume(ctx, k, msg, sizeof msg);
            if (rc != VS_OK)
                return rc;
        }
    }
    return VS_OK;
}

/* The jobs on this thread, as worker 0 of this run. The thread's own
 * index is put back after: this may be a worker of an outer run (a
 * vs_ckpt_stream callback calling the library), whose per-worker buffers
 * must stay its own. */
static int run_inline(size_t n, void *ctx, vs__job_fn prepare,
                      vs__job_fn work, vs__job_fn consume)
{
    int saved = tl_worker;
    tl_worker = 0;
    int rc = run_inline_jobs(n, ctx, prepare, work, consume);
    tl_worker = saved;
    return rc;
}

/* The pool's mutex and condition variables (checked). */
static int pool_init(pool *p, size_t n, void *ctx, vs__job_fn work)
{
    memset(p, 0, sizeof *p);
    p->n = n;
    p->ctx = ctx;
    p->work = work;
    p->done = vs__calloc(n, 1);
    if (p->done == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        vs__free(p->done);
        return vs__fail(VS_ERROR, "cannot create a mutex");
    }
    if (pthread_cond_init(&p->work_cv, NULL) == 0) {
        if (pthread_cond_init(&p->done_cv, NULL) == 0)
            return VS_OK;
        pthread_cond_destroy(&p->work_cv);
    }
    pthread_mutex_destroy(&p->mu);
    vs__free(p->done);
    return vs__fail(VS_ERROR, "cannot create a condition variable");
}

static void pool_destroy(pool *p)
{
    pthread_cond_destroy(&p->done_cv);
    pthread_cond_destroy(&p->work_cv);
    pthread_mutex_destroy(&p->mu);
    vs__free(p->done);
}

/* Prepares jobs ahead of the consumer, up to window of them. */
static int prepare_ahead(pool *p, size_t consumed, size_t window,
                         vs__job_fn prepare, char *msg, size_t cap)
{
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int more = !p->stop && p->prepared < p->n &&
                   p->prepared - consumed < window;
        size_t k = p->prepared;
        pthread_mutex_unlock(&p->mu);
        if (!more)
            return VS_OK;
        if (prepare != NULL) {
            int rc = prepare(p->ctx, k, msg, cap);
            if (rc != VS_OK)
                return rc;
        }
        pthread_mutex_lock(&p->mu);
        p->prepared = k + 1;
        pthread_cond_signal(&p->work_cv);
        pthread_mutex_unlock(&p->mu);
    }
}

/* The calling thread's loop: prepare ahead, wait for the next job in
 * order, consume it. Returns at the first failure (or a worker's stop). */
static int drive(pool *p, size_t window, vs__job_fn prepare,
                 vs__job_fn consume)
{
    char msg[VS_ERRMSG_MAX];
    for (size_t consumed = 0; consumed < p->n; consumed++) {
        int rc = prepare_ahead(p, consumed, window, prepare, msg, sizeof msg);
        if (rc != VS_OK)
            return rc;
        pthread_mutex_lock(&p->mu);
        while (!p->stop && !p->done[consumed])
            pthread_cond_wait(&p->done_cv, &p->mu);
        int stopped = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stopped)
            return VS_OK; /* the worker's error is reported after the join */
        if (consume != NULL) {
            rc = consume(p->ctx, consumed, msg, sizeof msg);
            if (rc != VS_OK)
                return rc;
        }
    }
    return VS_OK;
}

int vs__pool_run(int threads, size_t n, size_t window, void *ctx,
                 vs__job_fn prepare, vs__job_fn work, vs__job_fn consume)
{
    if (n == 0)
        return VS_OK;
    if (threads <= 1 || n == 1)
        return run_inline(n, ctx, prepare, work, consume);
    if (window < (size_t)threads)
        window = (size_t)threads;
    pool p;
    int rc = pool_init(&p, n, ctx, work);
    if (rc != VS_OK)
        return rc;
    pthread_t tid[64];
    worker_arg wa[64];
    int nt = 0;
    for (; nt < threads && nt < 64; nt++) {
        wa[nt].p = &p;
        wa[nt].index = nt;
        if (pthread_create(&tid[nt], NULL, worker, &wa[nt]) != 0)
            break;
    }
    rc = nt == 0 ? vs__fail(VS_ERROR, "cannot start a worker thread")
                 : drive(&p, window, prepare, consume);
    pthread_mutex_lock(&p.mu);
    p.stop = 1;
    pthread_cond_broadcast(&p.work_cv);
    pthread_mutex_unlock(&p.mu);
    for (int i = 0; i < nt; i++)
        pthread_join(tid[i], NULL);
    if (rc == VS_OK && p.err_code != VS_OK)
        rc = vs__fail(p.err_code, "%s", p.err_msg);
    pool_destroy(&p);
    return rc;
}
