/* varstore CLI: `varstore restore` (cmd_restore). Exports a checkpoint to
 * .npy files (restore_npy.c) or one safetensors file (restore_st.c),
 * streaming it. This file parses the command line and selects the
 * tensors. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "restore.h"
#include "varstore.h"

/* ------------------------------------------------------------------------ */
/* Help text                                                                 */

static const char help_restore[] =
    "usage: varstore restore FILE [--step N] (--npy DIR | --safetensors DST)\n"
    "                        [--tensor NAME ...]\n"
    "\n"
    "Exports a checkpoint bit-exactly. With --npy, conv1/weights becomes\n"
    "DIR/conv1/weights.npy: the inverse of 'varstore save --npy'. DIR must\n"
    "be new or an empty directory (never a symbolic link, never one holding\n"
    "anything: nothing is overwritten). The files are built in a private\n"
    "directory beside DIR, renamed to DIR once all are complete: a restore\n"
    "that fails leaves nothing. NumPy has no bfloat16: bfloat16 tensors are\n"
    "written as float32 (every bfloat16 value is exactly a float32), with a\n"
    "note on stderr; use --safetensors to keep them bfloat16.\n"
    "\n"
    "options:\n"
    "  --step N           export checkpoint N (default: the newest)\n"
    "  --npy DIR          write one .npy file per tensor under DIR\n"
    "  --safetensors DST  write one safetensors file; its __metadata__\n"
    "                     records the step as \"step\"; it replaces DST\n"
    "                     (a symbolic link is replaced, not followed) only\n"
    "                     once complete\n"
    "  --tensor NAME      export only NAME; repeatable (default: all)\n"
    "  -h, --help         show this help\n"
    "\n"
    "example:\n"
    "  varstore restore model.db --step 100 --npy out/ --tensor conv1/weights\n";

/* ------------------------------------------------------------------------ */
/* restore                                                                   */

/* What the command line asks for. */
typedef struct {
    const char *path, *npy, *st;
    const char **want; /* --tensor names (argc slots) */
    int n_want, have_step;
    int64_t step;
} restore_args;

/* Option --npy, --safetensors or --tensor at argv[*i]: 1 matched (kept in
 * o), 0 not this option, -1 a usage error (printed). */
static int restore_opt(int argc, char **argv, int *i, restore_args *o)
{
    const char *tensor = NULL;
    const str_opt opts[3] = {
        {"--npy", &o->npy, "--npy needs a directory"},
        {"--safetensors", &o->st, "--safetensors needs a file"},
        {"--tensor", &tensor, "--tensor needs a tensor name"},
    };
    int r = str_option(argc, argv, i, opts, 3, "restore ");
    if (tensor != NULL)
        o->want[o->n_want++] = tensor;
    return r;
}

/* Parses argv into o. -1: go on; else the exit status. */
static int restore_parse(int argc, char **argv, restore_args *o)
{
    const char *v;
    int i, r;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(help_restore, stdout);
            return EXIT_OK;
        } else if ((r = opt_value(argc, argv, &i, "--step", &v)) != 0) {
            if (r < 0 || parse_i64(v, &o->step) != 0 || o->step < 0)
                return usage("restore ",
                             "--step needs a non-negative integer");
            o->have_step = 1;
        } else if ((r = restore_opt(argc, argv, &i, o)) != 0) {
            if (r < 0)
                return EXIT_USAGE;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage("restore ", "unknown option '%s'", a);
        } else if (o->path == NULL) {
            o->path = a;
        } else {
            return usage("restore ", "unexpected argument '%s'", a);
        }
    }
    if (o->path == NULL)
        return usage("restore ", "restore needs a FILE");
    if ((o->npy == NULL) == (o->st == NULL))
        return usage("restore ", "restore needs exactly one of --npy DIR and "
                                 "--safetensors DST");
    return -1;
}

/* A name is written as a path under DIR: no empty, "." or ".." part. */
static int name_is_safe_path(const char *name)
{
    const char *p = name;
    if (*p == '\0')
        return 0;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == 0 || (l == 1 && p[0] == '.') ||
            (l == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (e == NULL)
            return 1;
        p = e + 1;
    }
}

/* Whether dst names the checkpoint file at path, or its -wal or -shm
 * file (an existing file with the same device and inode). */
static int same_file_as_checkpoint(const char *path, const char *dst)
{
    static const char *const sfx[] = {"", "-wal", "-shm"};
    struct stat d, c;
    if (stat(dst, &d) != 0)
        return 0; /* no such file yet: nothing to overwrite */
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
        char *q = join(path, sfx[i], "");
        int same = q != NULL && stat(q, &c) == 0 && c.st_dev == d.st_dev &&
                   c.st_ino == d.st_ino;
        free(q);
        if (same)
            return 1;
    }
    return 0;
}

/* The checkpoint opened, its tensors listed, the selected ones. */
typedef struct {
    vs_ckpt *ck; /* one open and one snapshot for every read */
    int64_t step;
    vs_tensor_info *infos;
    size_t n;
    size_t *idx;
    const char **names;
    size_t n_sel;
    uint64_t sel_bytes;
} restore_sel;

/* Marks the selected tensors in sel[] (n of them): the --tensor names, or
 * all. */
static int mark_selected(const restore_args *o, const restore_sel *s,
                         char *sel)
{
    size_t k;
    int i;
    for (i = 0; i < o->n_want; i++) {
        const vs_tensor_info *ti = find_info(s->infos, s->n, o->want[i]);
        if (ti == NULL)
            return cli_err("tensor '%s' not found in step %lld of %s",
                           o->want[i], (long long)s->step, o->path);
        sel[ti - s->infos] = 1;
    }
    for (k = 0; k < s->n; k++) {
        if (o->n_want == 0)
            sel[k] = 1;
        if (sel[k] && o->npy != NULL && !name_is_safe_path(s->infos[k].name))
            return cli_err("tensor name '%s' cannot be written as a file "
                           "under '%s' (an empty, '.' or '..' part)",
                           s->infos[k].name, o->npy);
    }
    return EXIT_OK;
}

/* Opens the checkpoint, lists the step's tensors and selects them into s
 * (idx, names in name order; their count and raw bytes). */
static int restore_select(const restore_args *o, restore_sel *s)
{
    char *sel;
    size_t k;
    int rc;
    s->step = o->have_step ? o->step : VS_LATEST;
    /* One connection and one snapshot: the newest step is the one read. */
    if (vs_ckpt_open(o->path, &s->ck) != VS_OK ||
        (!o->have_step && vs_ckpt_latest(s->ck, &s->step) != VS_OK) ||
        vs_ckpt_list_variables(s->ck, s->step, &s->infos, &s->n) != VS_OK)
        return cli_err("%s", vs_errmsg());
    sel = calloc(s->n + 1, 1);
    s->idx = calloc(s->n + 1, sizeof *s->idx);
    s->names = calloc(s->n + 1, sizeof *s->names);
    rc = sel == NULL || s->idx == NULL || s->names == NULL
             ? cli_err("out of memory")
             : mark_selected(o, s, sel);
    for (k = 0; rc == EXIT_OK && k < s->n; k++) {
        if (!sel[k])
            continue;
        s->idx[s->n_sel] = k;
        s->names[s->n_sel++] = s->infos[k].name;
        if (s->infos[k].raw_bytes > 0)
            s->sel_bytes += (uint64_t)s->infos[k].raw_bytes;
    }
    free(sel);
    return rc;
}

static int restore_run(const restore_args *o, restore_sel *s)
{
    restore_job job;
    progress pg;
    if (need_file(o->path) != EXIT_OK)
        return EXIT_ERR;
    if (o->st != NULL && same_file_as_checkpoint(o->path, o->st))
        return cli_err("'%s' is the checkpoint file %s itself (or its -wal "
                       "or -shm file): it is not overwritten",
                       o->st, o->path);
    if (restore_select(o, s) != EXIT_OK)
        return EXIT_ERR;
    /* Every selected tensor is streamed into its file (--npy) or into its
     * place in the one file (--safetensors); the bar moves per tensor,
     * weighted by its raw bytes, as each one is complete. */
    job.ck = s->ck;
    job.step = s->step;
    job.infos = s->infos;
    job.idx = s->idx;
    job.names = s->names;
    job.n = s->n_sel;
    job.pg = &pg;
    progress_start_bytes(&pg, "restoring", s->sel_bytes);
    if ((o->npy != NULL ? restore_npy(&job, o->npy)
                        : restore_safetensors(&job, o->st)) != EXIT_OK)
        return EXIT_ERR; /* printed, and the bar ended */
    progress_end(&pg);
    printf("restored %zu tensors of step %lld to %s\n", s->n_sel,
           (long long)s->step, o->npy ? o->npy : o->st);
    return EXIT_OK;
}

int cmd_restore(int argc, char **argv)
{
    restore_args o;
    restore_sel s;
    int rc;
    memset(&o, 0, sizeof o);
    memset(&s, 0, sizeof s);
    o.want = calloc((size_t)argc + 1, sizeof *o.want);
    if (o.want == NULL)
        return cli_err("out of memory");
    rc = restore_parse(argc, argv, &o);
    if (rc < 0)
        rc = restore_run(&o, &s);
    free(s.idx);
    free(s.names);
    vs_tensor_info_free(s.infos, s.n);
    vs_ckpt_close(s.ck);
    free(o.want);
    return rc;
}
