/* varstore CLI: what restore's .npy and safetensors writers share (see
 * restore.h): the first failure in tensor order, its report, the progress
 * per tensor. */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "restore.h"

int fe_take(first_err *fe, size_t i, char *m)
{
    pthread_mutex_lock(&fe->mu);
    if ((fe->msg == NULL && !fe->nomem) || i < fe->i) {
        free(fe->msg);
        fe->msg = m;
        fe->nomem = m == NULL;
        fe->i = i;
        m = NULL;
    }
    pthread_mutex_unlock(&fe->mu);
    free(m);
    return SINK_FAILED;
}

/* Prints the failure of a stream that returned r. */
static void stream_report(const first_err *fe, int r)
{
    if (r != SINK_FAILED)
        cli_err("%s", vs_errmsg());
    else if (fe->msg != NULL)
        cli_err("%s", fe->msg);
    else
        cli_err("out of memory");
}

int stream_run(const restore_job *job, int (*begin)(void *, size_t),
               int (*write)(void *, size_t, uint64_t, const void *, size_t),
               int (*end)(void *, size_t), void *ctx, first_err *fe)
{
    vs_stream_sink sink;
    int r;
    memset(&sink, 0, sizeof sink);
    sink.begin = begin;
    sink.write = write;
    sink.end = end;
    sink.ctx = ctx;
    if (pthread_mutex_init(&fe->mu, NULL) != 0) {
        progress_end(job->pg);
        return cli_err("cannot create a mutex");
    }
    r = vs_ckpt_stream(job->ck, job->step, job->names, job->n, &sink);
    if (r != VS_OK) {
        progress_end(job->pg);
        stream_report(fe, r);
    }
    pthread_mutex_destroy(&fe->mu);
    free(fe->msg);
    fe->msg = NULL;
    return r == VS_OK ? EXIT_OK : EXIT_ERR;
}

void progress_tensor(progress *pg, uint64_t *done, const vs_tensor_info *ti)
{
    *done += ti->raw_bytes > 0 ? (uint64_t)ti->raw_bytes : 0;
    progress_update(pg, *done);
}

char *fmt_new(const char *f, ...)
{
    va_list ap;
    char *m;
    int n;
    va_start(ap, f);
    n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    if (n < 0 || (m = malloc((size_t)n + 1)) == NULL)
        return NULL;
    va_start(ap, f);
    vsnprintf(m, (size_t)n + 1, f, ap);
    va_end(ap);
    return m;
}
