/* varstore CLI: `varstore save`'s saves (save_steps.h). One step is saved
 * on the calling thread: read whole first when small (VST_SRC_WHOLE_MAX),
 * else read as the library saves it (vs_save_stream). Several steps form
 * a pipeline: while step k is written by a background saver (vs_async),
 * step k + 1's input is checked and read; small inputs are lent to the
 * saver (vs_async_save_tensors_nocopy: no copy, two inputs in memory at
 * most), larger ones stream once the saver is idle. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "save_steps.h"
#include "varstore.h"
#include "vst.h"

/* The arrays vs_save_stream takes, pointing into a source list. */
typedef struct {
    const char **names;
    vs_dtype *dtypes;
    int *ndims;
    const int64_t **shapes;
} src_arrays;

static void arrays_free(src_arrays *a)
{
    free(a->names);
    free(a->dtypes);
    free(a->ndims);
    free(a->shapes);
    memset(a, 0, sizeof *a);
}

static int arrays_of(const vst_src_list *l, src_arrays *a)
{
    size_t k, n = l->n ? l->n : 1;
    a->names = calloc(n, sizeof *a->names);
    a->dtypes = calloc(n, sizeof *a->dtypes);
    a->ndims = calloc(n, sizeof *a->ndims);
    a->shapes = calloc(n, sizeof *a->shapes);
    if (a->names == NULL || a->dtypes == NULL || a->ndims == NULL ||
        a->shapes == NULL) {
        arrays_free(a);
        return cli_err("out of memory");
    }
    for (k = 0; k < l->n; k++) {
        a->names[k] = l->s[k].name;
        a->dtypes[k] = l->s[k].dtype;
        a->ndims[k] = l->s[k].ndim;
        a->shapes[k] = l->s[k].shape;
    }
    return EXIT_OK;
}

/* Whether the file at path exists and already holds checkpoint step (a
 * file that cannot be listed holds none: the save reports what is wrong
 * with it). */
static int step_exists(const char *path, int64_t step)
{
    vs_ckpt_info *ck = NULL;
    size_t nck = 0, k;
    int found = 0;
    if (access(path, F_OK) != 0 ||
        vs_list_checkpoints(path, &ck, &nck) != VS_OK)
        return 0;
    for (k = 0; k < nck && !found; k++)
        found = ck[k].step == step;
    vs_free(ck);
    return found;
}

/* One step made ready to save: its sources checked and, when small
 * enough, read whole (w); replacing is set just before it is saved
 * (mark_replacing). */
typedef struct {
    const save_job *job;
    vst_src_list l;
    src_arrays a;
    vst_src_whole w;
    int64_t total;
    int whole, replacing;
} step_input;

/* An input that holds nothing (safe to free again). */
static void input_clear(step_input *in)
{
    memset(in, 0, sizeof *in);
    vst_src_init(&in->l); /* no descriptor: fd -1, not 0 */
}

static void input_free(step_input *in)
{
    if (in->whole)
        vst_src_whole_free(&in->w);
    arrays_free(&in->a);
    vst_src_free(&in->l);
    input_clear(in);
}

/* Checks job j's sources and, when they total at most VST_SRC_WHOLE_MAX
 * bytes, reads them whole. An exit status (the message printed). */
static int input_check_read(const save_plan *p, const save_job *j,
                            step_input *in)
{
    input_clear(in);
    in->job = j;
    int rc = save_job_sources(j, p->prefix, &in->l);
    if (rc == EXIT_OK)
        rc = arrays_of(&in->l, &in->a);
    if (rc != EXIT_OK)
        return rc;
    for (size_t k = 0; k < in->l.n; k++) {
        /* A TF checkpoint's listing checks each size against its data
         * file; entries may share bytes, so their sum is checked too. */
        if (in->l.s[k].nbytes > (uint64_t)(INT64_MAX - in->total))
            return cli_err("cannot save checkpoint to %s: the tensors' "
                           "sizes add up to more than %lld bytes",
                           p->path, (long long)INT64_MAX);
        in->total += (int64_t)in->l.s[k].nbytes;
    }
    if ((uint64_t)in->total > VST_SRC_WHOLE_MAX)
        return EXIT_OK;
    if (vst_src_read_all(&in->l, &in->w) != VS_OK)
        return cli_err("cannot save checkpoint to %s: %s", p->path,
                       vst_errmsg());
    in->whole = 1;
    vst_src_close(&in->l); /* every byte is in w */
    return EXIT_OK;
}

/* input_check_read, its errors naming the step when there are several
 * (the next step's input is read while the one before is written; its
 * error is held until that step has landed, and printed after its line,
 * or dropped when that step failed: run_pipeline). */
static int input_read(const save_plan *p, const save_job *j, step_input *in)
{
    char ctx[48];
    if (p->n_jobs > 1) {
        snprintf(ctx, sizeof ctx, "step %lld: ", (long long)j->step);
        cli_err_context(ctx);
    }
    int rc = input_check_read(p, j, in);
    cli_err_context(NULL);
    return rc;
}

/* Whether the save of in replaces a checkpoint: asked once the step
 * before has landed, whose retention may have deleted in's step. */
static void mark_replacing(const save_plan *p, step_input *in)
{
    in->replacing = step_exists(p->path, in->job->step);
}

static void print_saved(const save_plan *p, const step_input *in)
{
    char hb[32];
    printf("saved %zu tensors (%s) as step %lld in %s\n", in->l.n,
           human(in->total, hb, sizeof hb), (long long)in->job->step,
           p->path);
    if (in->replacing)
        printf("replaced the checkpoint that was step %lld\n",
               (long long)in->job->step);
    /* Out now, not at exit: a command killed during a later step has
     * reported every step it saved. A failure stays in ferror(stdout),
     * which main reports. */
    (void)fflush(stdout);
}

static void save_opts(const save_plan *p, progress *pg, vs_save_opts *so)
{
    memset(so, 0, sizeof *so);
    /* max_to_keep 0: the file's retention setting */
    so->codec = p->codec;
    if (pg != NULL) {
        so->progress = progress_cb;
        so->progress_ctx = pg;
    }
}

/* Saves in on the calling thread (whole, or streamed). A VS_ code. */
static int save_now(const save_plan *p, step_input *in)
{
    vs_save_opts so;
    progress pg;
    save_opts(p, &pg, &so);
    progress_start_bytes(&pg, "saving", (uint64_t)in->total);
    int r;
    if (in->whole)
        r = vs_save_tensors(p->path, in->job->step, in->a.names, in->w.ptrs,
                            in->l.n, &so);
    else if (vst_src_share(&in->l)) /* one file: read on every core */
        r = vs_save_stream_parallel(p->path, in->job->step, in->a.names,
                                    in->a.dtypes, in->a.ndims, in->a.shapes,
                                    in->l.n, vst_src_read_shared, &in->l,
                                    &so);
    else
        r = vs_save_stream(p->path, in->job->step, in->a.names,
                           in->a.dtypes, in->a.ndims, in->a.shapes, in->l.n,
                           vst_src_read, &in->l, &so);
    progress_end(&pg);
    vst_src_close(&in->l);
    return r;
}

static int set_journal(const save_plan *p)
{
    if (p->journal >= 0 &&
        vs_set_journal_mode(p->path, (vs_journal)p->journal) != VS_OK)
        return cli_err("%s", vs_errmsg());
    return EXIT_OK;
}

static int run_one(const save_plan *p)
{
    step_input in;
    int rc = input_read(p, &p->jobs[0], &in);
    if (rc == EXIT_OK)
        rc = set_journal(p);
    if (rc == EXIT_OK)
        mark_replacing(p, &in);
    if (rc == EXIT_OK && save_now(p, &in) != VS_OK)
        rc = cli_err("%s", vs_errmsg());
    if (rc == EXIT_OK)
        print_saved(p, &in);
    input_free(&in);
    return rc;
}

/* ---- several steps: a pipeline ------------------------------------------ */

typedef struct {
    const save_plan *p;
    vs_async *a;
    step_input flight; /* the save in flight (its bytes lent), if busy */
    int busy;
} pipeline;

/* A step's save failed: its error (which names the file), after the
 * step, as an input's error is. */
static int step_failed(const step_input *in)
{
    return cli_err("step %lld: %s", (long long)in->job->step, vs_errmsg());
}

/* Waits for the save in flight and reports it: its line, or its error. */
static int land(pipeline *pl)
{
    if (!pl->busy)
        return EXIT_OK;
    int rc = vs_async_wait(pl->a) == VS_OK ? EXIT_OK
                                           : step_failed(&pl->flight);
    if (rc == EXIT_OK)
        print_saved(pl->p, &pl->flight);
    input_free(&pl->flight);
    pl->busy = 0;
    return rc;
}

/* Starts the save of in, which the saver then borrows (in is taken: it
 * holds nothing afterwards), or saves a streamed input at once. */
static int launch(pipeline *pl, step_input *in)
{
    const save_plan *p = pl->p;
    mark_replacing(p, in);
    if (!in->whole) {
        if (save_now(p, in) != VS_OK)
            return step_failed(in);
        print_saved(p, in);
        return EXIT_OK;
    }
    vs_save_opts so;
    save_opts(p, NULL, &so); /* no progress bar from the saver's thread */
    if (vs_async_save_tensors_nocopy(pl->a, p->path, in->job->step,
                                     in->a.names, in->w.ptrs, in->l.n,
                                     &so) != VS_OK)
        return step_failed(in);
    pl->flight = *in;
    input_clear(in);
    pl->busy = 1;
    return EXIT_OK;
}

static int run_pipeline(const save_plan *p)
{
    pipeline pl;
    memset(&pl, 0, sizeof pl);
    input_clear(&pl.flight);
    pl.p = p;
    int rc = EXIT_OK;
    if (vs_async_new(&pl.a) != VS_OK)
        rc = cli_err("%s", vs_errmsg());
    for (size_t k = 0; rc == EXIT_OK && k < p->n_jobs; k++) {
        step_input in;
        /* The input's error, if any, is held until the step before has
         * landed: one error, the first failure's, is printed. */
        cli_err_hold(1);
        int read_rc = input_read(p, &p->jobs[k], &in); /* overlaps */
        cli_err_hold(0);
        rc = land(&pl);
        cli_err_release(rc == EXIT_OK);
        if (rc == EXIT_OK)
            rc = read_rc;
        /* Once the first input is good, as run_one: a bad one writes
         * nothing. */
        if (rc == EXIT_OK && k == 0)
            rc = set_journal(p);
        if (rc == EXIT_OK)
            rc = launch(&pl, &in);
        input_free(&in); /* what launch did not take */
    }
    int last = land(&pl);
    if (rc == EXIT_OK)
        rc = last;
    /* Nothing is in flight or unreported any more. */
    (void)vs_async_free(pl.a);
    return rc;
}

int save_plan_run(const save_plan *p)
{
    return p->n_jobs == 1 ? run_one(p) : run_pipeline(p);
}
