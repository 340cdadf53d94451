/* varstore CLI: what `varstore save` runs once its command line is parsed
 * (save_steps.c): one checkpoint per step, each from its own source. */
#ifndef VS_TOOLS_SAVE_STEPS_H
#define VS_TOOLS_SAVE_STEPS_H

#include <stddef.h>
#include <stdint.h>

#include "save_source.h"

/* One checkpoint to save: its step and its source (one of the three). */
typedef struct {
    int64_t step;
    const char *npy, *st, *tf;
} save_job;

/* The whole command. */
typedef struct {
    const char *path;
    const char *prefix; /* ends with '/', or "" */
    int codec, journal; /* journal -1: leave the file's */
    const save_job *jobs;
    size_t n_jobs;
} save_plan;

/* The tensors of job j's source, described and checked (every header,
 * every bool), named prefix + their name (cmd_save.c). An exit status;
 * the message is printed. */
int save_job_sources(const save_job *j, const char *prefix, vst_src_list *l);

/* Saves every job in order, each as one checkpoint, printing a line for
 * each saved step. With several jobs, a job's input is read while the one
 * before is written in the background (vs_async_save_tensors_nocopy). The
 * first failure stops the run (the steps before it stay saved). An exit
 * status. */
int save_plan_run(const save_plan *p);

#endif /* VS_TOOLS_SAVE_STEPS_H */
