/* varstore CLI: `varstore restore` (cmd_restore). Exports a checkpoint to
 * .npy files or one safetensors file. It reads the tensors in batches;
 * with --npy, a writer thread (plus a helper thread per batch) writes one
 * batch's files while the next batch is read. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#ifdef __GLIBC__
#include <malloc.h> /* mallopt */
#endif

#include "cli.h"
#include "npy.h"
#include "safetensors.h"
#include "varstore.h"
#include "vst.h"

/* ------------------------------------------------------------------------ */
/* Help text                                                                 */

static const char help_restore[] =
    "usage: varstore restore FILE [--step N] (--npy DIR | --safetensors DST)\n"
    "                        [--tensor NAME ...]\n"
    "\n"
    "Exports a checkpoint bit-exactly. With --npy, conv1/weights becomes\n"
    "DIR/conv1/weights.npy (DIR and subfolders are created): the inverse of\n"
    "'varstore save --npy'. NumPy has no bfloat16: bfloat16 tensors are\n"
    "written as float32 (every bfloat16 value is exactly a float32), with a\n"
    "note on stderr; use --safetensors to keep them bfloat16.\n"
    "\n"
    "options:\n"
    "  --step N           export checkpoint N (default: the newest)\n"
    "  --npy DIR          write one .npy file per tensor under DIR\n"
    "  --safetensors DST  write one safetensors file; its __metadata__\n"
    "                     records the step as \"step\"\n"
    "  --tensor NAME      export only NAME; repeatable (default: all)\n"
    "  -h, --help         show this help\n"
    "\n"
    "example:\n"
    "  varstore restore model.db --step 100 --npy out/ --tensor conv1/weights\n";

/* ------------------------------------------------------------------------ */
/* restore                                                                   */

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

/* mkdir -p of every directory part of path (not the last part). The first
 * `known` bytes of path name a directory known to exist (path[known] is a
 * '/'; 0: none known), whose parts are not made or checked again. */
static int make_parents(char *path, size_t known)
{
    char *s = strrchr(path, '/');
    if (s == NULL || s == path || (size_t)(s - path) <= known)
        return EXIT_OK;
    if (known == 0) {
        /* Nothing known yet: the parent may well exist, one stat. */
        struct stat st;
        int is_dir;
        *s = '\0';
        is_dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
        *s = '/';
        if (is_dir)
            return EXIT_OK;
    }
    /* Part by part below the known folder: in a new tree, one mkdir per
     * new folder. */
    for (s = path + known + 1; *s; s++) {
        struct stat st;
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(path, 0777) == 0) { /* made here: a directory */
            *s = '/';
            continue;
        }
        if (errno != EEXIST) {
            int e = errno;
            cli_err("cannot create directory '%s': %s", path, strerror(e));
            *s = '/';
            return EXIT_ERR;
        }
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
            cli_err("'%s' exists and is not a directory", path);
            *s = '/';
            return EXIT_ERR;
        }
        *s = '/';
    }
    return EXIT_OK;
}

/* bfloat16 -> float32, exact. Replaces *t. */
static int widen_bf16(vs_tensor **t)
{
    vs_tensor *w = NULL;
    size_t i, n = (size_t)vs_tensor_numel(*t);
    if (vs_tensor_new(VS_FLOAT32, (*t)->ndim, (*t)->shape, &w) != VS_OK)
        return cli_err("%s", vs_errmsg());
    for (i = 0; i < n; i++)
        ((float *)w->data)[i] =
            vs_bfloat16_to_float(((const uint16_t *)(*t)->data)[i]);
    vs_tensor_free(*t);
    *t = w;
    return EXIT_OK;
}

/* The most raw bytes `restore` reads in one vs_ckpt_load_many call; a
 * tensor larger than this is a batch of its own. VARSTORE_BATCH_BYTES
 * overrides it (the tests use it to get many batches). With --safetensors
 * every tensor is kept until the file is written, so one big batch is
 * cheapest. With --npy the batches are written while the next one is read:
 * about 16 batches, so that the first is written early and the last
 * little is left to write after the reading ends, but at least 4 MiB each
 * (every call has a cost of its own: the pool's threads, the lookups), and
 * at most 64 MiB, which bounds the memory used (two batches). On a
 * 46.8 MB model (102 tensors) and 2 cores, batches of 2 to 8 MiB were
 * about equally fast, and one batch of everything the slowest. */
static uint64_t batch_bytes(uint64_t sel_bytes, int pipelined)
{
    const char *d = getenv("VARSTORE_BATCH_BYTES");
    const uint64_t lo = (uint64_t)4 << 20, hi = (uint64_t)64 << 20;
    char *end;
    if (d != NULL && *d != '\0') {
        unsigned long long v = strtoull(d, &end, 10);
        if (*end == '\0')
            return (uint64_t)v;
    }
    if (!pipelined)
        return (uint64_t)512 << 20;
    sel_bytes /= 16;
    return sel_bytes < lo ? lo : sel_bytes > hi ? hi : sel_bytes;
}

/* One batch of selected tensors: idx[i] indexes the checkpoint's infos,
 * names[i] is that tensor's name, t[i] the tensor read (owned; NULL once
 * handed on or freed). */
typedef struct {
    size_t *idx;
    const char **names;
    vs_tensor **t;
    size_t n;
} rs_batch;

/* restore --npy's writer: a thread that writes the files of batch k while
 * the main thread reads batch k+1. The main thread hands a batch over in
 * `slot` and may not hand the next one over before the writer has emptied
 * the slot, so at most two batches are in memory: the one being written
 * and the one being read. While the writer runs it alone prints (the
 * bfloat16 notes, its errors, the progress bar); the main thread prints
 * only after npy_writer_finish.
 *
 * Results of pthread_mutex_lock/unlock, pthread_cond_wait/signal and
 * pthread_join are not checked: on the default-type objects initialized
 * (checked) in npy_writer_start and the thread it created, POSIX lets them
 * fail only on a programming error (EINVAL, EPERM, EDEADLK, ESRCH), never
 * at run time. */
typedef struct {
    const char *dir;
    const vs_tensor_info *infos;
    progress *pg;
    uint64_t done_bytes;
    char *dir_ok; /* the directory the last file went into (it exists) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    rs_batch *slot; /* handed over and not yet written; NULL: empty */
    int closed;     /* no batch will follow */
    int failed;     /* a write failed; its error is printed */
    int threaded;   /* 0: no thread could be started, write inline */
    pthread_t th;
} npy_writer;

/* How many of the first plen bytes of file (its folder) name a folder
 * known to exist: the longest part of them, ending before a '/' or at
 * plen, that is dir_ok (a folder made or checked) or a folder above it. */
static size_t known_dir(const char *file, size_t plen, const char *dir_ok)
{
    size_t i, k = 0;
    if (dir_ok == NULL)
        return 0;
    for (i = 0; i < plen && dir_ok[i] != '\0' && file[i] == dir_ok[i]; i++)
        if (file[i] == '/')
            k = i;
    if ((i == plen || file[i] == '/') &&
        (dir_ok[i] == '\0' || dir_ok[i] == '/'))
        k = i;
    return k;
}

/* Writes t (owned: freed here) as DIR/<name>.npy. *dir_ok is the calling
 * thread's own memory of the last folder written into. */
static int npy_write_one(npy_writer *w, char **dir_ok, const char *name,
                         vs_tensor *t)
{
    char *rel = join(name, ".npy", ""), *file = NULL, *slash;
    size_t plen, known;
    int rc = EXIT_OK;
    if (rel != NULL)
        file = join(w->dir, "/", rel);
    free(rel);
    if (file == NULL) {
        vs_tensor_free(t);
        return cli_err("out of memory");
    }
    if (t->dtype == VS_BFLOAT16) {
        fprintf(stderr,
                "varstore: note: bfloat16 tensor '%s' written as float32 "
                "(NumPy has no bfloat16; the values are exact)\n",
                name);
        rc = widen_bf16(&t);
    }
    /* Names come sorted, so siblings follow each other: the folder the
     * previous file went into, and the folders above it, need no making
     * or checking again. */
    slash = strrchr(file, '/'); /* not NULL: file is DIR/... */
    plen = (size_t)(slash - file);
    known = known_dir(file, plen, *dir_ok);
    if (rc == EXIT_OK && known < plen) {
        rc = make_parents(file, known);
        if (rc == EXIT_OK) {
            free(*dir_ok);
            *slash = '\0';
            *dir_ok = join(file, "", ""); /* NULL: just not remembered */
            *slash = '/';
        }
    }
    if (rc == EXIT_OK && vst_npy_write(file, t) != VS_OK)
        rc = cli_err("%s", vst_errmsg());
    free(file);
    vs_tensor_free(t);
    return rc;
}

/* A batch written by two threads at once: the writer and a helper
 * started for the batch. Creating the files and copying their bytes into
 * the page cache is kernel work that takes most of a restore --npy (ext4's
 * inode allocation alone is a fifth of it after many deletions); on two
 * cores two threads do it in about half the time. Each takes the next
 * tensor not yet taken; after a failure the rest are freed, not written.
 * Folders are made race-free (make_parents accepts EEXIST). */
typedef struct {
    npy_writer *w;
    rs_batch *b;
    atomic_size_t next;            /* the next tensor to take */
    atomic_int failed;             /* a write failed (its error printed) */
    atomic_uint_least64_t written; /* raw bytes of the files written */
} batch_share;

/* Takes and writes tensors until the batch is used up; only the writer
 * (report != 0) moves the progress bar. */
static void write_share(batch_share *s, char **dir_ok, int report)
{
    npy_writer *w = s->w;
    rs_batch *b = s->b;
    for (;;) {
        size_t i = atomic_fetch_add(&s->next, 1);
        if (i >= b->n)
            return;
        vs_tensor *t = b->t[i]; /* index i is this thread's alone */
        const vs_tensor_info *ti = &w->infos[b->idx[i]];
        b->t[i] = NULL;
        if (atomic_load(&s->failed)) {
            vs_tensor_free(t);
            continue;
        }
        if (npy_write_one(w, dir_ok, ti->name, t) != EXIT_OK) {
            atomic_store(&s->failed, 1);
            continue;
        }
        uint64_t rb = ti->raw_bytes > 0 ? (uint64_t)ti->raw_bytes : 0;
        uint64_t sum = atomic_fetch_add(&s->written, rb) + rb;
        if (report)
            progress_update(w->pg, w->done_bytes + sum);
    }
}

static void *share_main(void *arg)
{
    char *dir_ok = NULL;
    write_share(arg, &dir_ok, 0);
    free(dir_ok);
    return NULL;
}

/* Writes (and frees) every tensor of b. */
static int npy_write_batch(npy_writer *w, rs_batch *b)
{
    batch_share s;
    pthread_t helper;
    s.w = w;
    s.b = b;
    atomic_init(&s.next, 0);
    atomic_init(&s.failed, 0);
    atomic_init(&s.written, 0);
    /* Without a helper thread (none could be started) the writer writes
     * the whole batch itself. */
    int two = b->n > 1 && pthread_create(&helper, NULL, share_main, &s) == 0;
    write_share(&s, &w->dir_ok, 1);
    if (two)
        pthread_join(helper, NULL);
    w->done_bytes += atomic_load(&s.written);
    progress_update(w->pg, w->done_bytes);
    return atomic_load(&s.failed) ? EXIT_ERR : EXIT_OK;
}

static void *npy_writer_main(void *arg)
{
    npy_writer *w = arg;
    for (;;) {
        rs_batch *b;
        int rc;
        pthread_mutex_lock(&w->mu);
        while (w->slot == NULL && !w->closed)
            pthread_cond_wait(&w->cv, &w->mu);
        b = w->slot;
        pthread_mutex_unlock(&w->mu);
        if (b == NULL)
            return NULL; /* closed, and every batch written */
        rc = npy_write_batch(w, b);
        pthread_mutex_lock(&w->mu);
        w->slot = NULL;
        w->failed = rc != EXIT_OK;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        if (rc != EXIT_OK)
            return NULL; /* nothing after a failure is written */
    }
}

/* Starts the writer thread; without one (pthread_create failed), batches
 * are written by npy_writer_put itself. */
static int npy_writer_start(npy_writer *w, const char *dir,
                            const vs_tensor_info *infos, progress *pg)
{
    memset(w, 0, sizeof *w);
    w->dir = dir;
    w->infos = infos;
    w->pg = pg;
    if (pthread_mutex_init(&w->mu, NULL) != 0)
        return cli_err("cannot create a mutex");
    if (pthread_cond_init(&w->cv, NULL) != 0) {
        pthread_mutex_destroy(&w->mu);
        return cli_err("cannot create a condition variable");
    }
    w->threaded = pthread_create(&w->th, NULL, npy_writer_main, w) == 0;
    return EXIT_OK;
}

/* Hands b over to be written, once the previous batch is written. Returns
 * EXIT_ERR, without handing b over, if a write has failed (b is left to
 * the caller to free). */
static int npy_writer_put(npy_writer *w, rs_batch *b)
{
    int failed;
    if (!w->threaded) {
        if (npy_write_batch(w, b) != EXIT_OK)
            w->failed = 1;
        return w->failed ? EXIT_ERR : EXIT_OK;
    }
    pthread_mutex_lock(&w->mu);
    while (w->slot != NULL)
        pthread_cond_wait(&w->cv, &w->mu);
    failed = w->failed;
    if (!failed) {
        w->slot = b;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return failed ? EXIT_ERR : EXIT_OK;
}

/* Whether a write has failed so far (a batch being written may still). */
static int npy_writer_failed(npy_writer *w)
{
    int failed;
    if (!w->threaded)
        return w->failed;
    pthread_mutex_lock(&w->mu);
    failed = w->failed;
    pthread_mutex_unlock(&w->mu);
    return failed;
}

/* Waits until every batch handed over is written (or a write failed) and
 * ends the thread. EXIT_ERR if a write failed (its error is printed). */
static int npy_writer_finish(npy_writer *w)
{
    if (w->threaded) {
        pthread_mutex_lock(&w->mu);
        w->closed = 1;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->th, NULL);
        w->threaded = 0;
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->dir_ok);
    w->dir_ok = NULL;
    return w->failed ? EXIT_ERR : EXIT_OK;
}

/* The next batch: selected tensors from *k on, in order, up to cap raw
 * bytes (at least one tensor). */
static void next_batch(const vs_tensor_info *infos, const char *sel,
                       size_t n, size_t *k, uint64_t cap, rs_batch *b)
{
    uint64_t bytes = 0;
    b->n = 0;
    for (; *k < n; (*k)++) {
        uint64_t rb;
        if (!sel[*k])
            continue;
        rb = infos[*k].raw_bytes > 0 ? (uint64_t)infos[*k].raw_bytes : 0;
        if (b->n > 0 && bytes + rb > cap)
            break;
        bytes += rb;
        b->idx[b->n] = *k;
        b->names[b->n] = infos[*k].name;
        b->t[b->n] = NULL;
        b->n++;
    }
}

static void batch_free(rs_batch *b)
{
    size_t i;
    for (i = 0; b->t != NULL && i < b->n; i++)
        vs_tensor_free(b->t[i]);
    free(b->idx);
    free(b->names);
    free(b->t);
}

int cmd_restore(int argc, char **argv)
{
    const char *path = NULL, *npy = NULL, *st = NULL, *v;
    const char **want = NULL;
    int n_want = 0, have_step = 0, i, r, rc = EXIT_ERR;
    int64_t step = VS_LATEST;
    vs_tensor_info *infos = NULL;
    vs_ckpt *ck = NULL; /* one open and one snapshot for every read */
    rs_batch bufs[2] = {{0}, {0}}; /* read into in turn */
    npy_writer w;
    int have_writer = 0;
    size_t n = 0, k, j, i_b, n_sel = 0;
    uint64_t sel_bytes = 0, done_bytes = 0, cap;
    char *sel = NULL;
    tensor_list l = {0};
    progress pg;

    want = calloc((size_t)argc + 1, sizeof *want);
    if (want == NULL)
        return cli_err("out of memory");
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(help_restore, stdout);
            free(want);
            return EXIT_OK;
        } else if ((r = opt_value(argc, argv, &i, "--step", &v)) != 0) {
            if (r < 0 || parse_i64(v, &step) != 0 || step < 0) {
                free(want);
                return usage("restore ",
                             "--step needs a non-negative integer");
            }
            have_step = 1;
        } else if ((r = opt_value(argc, argv, &i, "--npy", &v)) != 0) {
            if (r < 0) {
                free(want);
                return usage("restore ", "--npy needs a directory");
            }
            npy = v;
        } else if ((r = opt_value(argc, argv, &i, "--safetensors", &v)) !=
                   0) {
            if (r < 0) {
                free(want);
                return usage("restore ", "--safetensors needs a file");
            }
            st = v;
        } else if ((r = opt_value(argc, argv, &i, "--tensor", &v)) != 0) {
            if (r < 0) {
                free(want);
                return usage("restore ", "--tensor needs a tensor name");
            }
            want[n_want++] = v;
        } else if (a[0] == '-' && a[1] != '\0') {
            free(want);
            return usage("restore ", "unknown option '%s'", a);
        } else if (path == NULL) {
            path = a;
        } else {
            free(want);
            return usage("restore ", "unexpected argument '%s'", a);
        }
    }
    if (path == NULL) {
        free(want);
        return usage("restore ", "restore needs a FILE");
    }
    if ((npy == NULL) == (st == NULL)) {
        free(want);
        return usage("restore ", "restore needs exactly one of --npy DIR and "
                                 "--safetensors DST");
    }
    if (need_file(path) != EXIT_OK)
        goto done;
    /* One connection and one snapshot: the newest step is the one read. */
    if (vs_ckpt_open(path, &ck) != VS_OK ||
        (!have_step && vs_ckpt_latest(ck, &step) != VS_OK) ||
        vs_ckpt_list_variables(ck, step, &infos, &n) != VS_OK) {
        cli_err("%s", vs_errmsg());
        goto done;
    }
    sel = calloc(n + 1, 1);
    if (sel == NULL) {
        cli_err("out of memory");
        goto done;
    }
    for (i = 0; i < n_want; i++) {
        const vs_tensor_info *ti = find_info(infos, n, want[i]);
        if (ti == NULL) {
            cli_err("tensor '%s' not found in step %lld of %s", want[i],
                    (long long)step, path);
            goto done;
        }
        sel[ti - infos] = 1;
    }
    for (k = 0; k < n; k++) {
        if (n_want == 0)
            sel[k] = 1;
        n_sel += sel[k];
        if (sel[k] && infos[k].raw_bytes > 0)
            sel_bytes += (uint64_t)infos[k].raw_bytes;
    }
    if (npy != NULL) {
        for (k = 0; k < n; k++) {
            if (sel[k] && !name_is_safe_path(infos[k].name)) {
                cli_err("tensor name '%s' cannot be written as a file "
                        "under '%s' (an empty, '.' or '..' part)",
                        infos[k].name, npy);
                goto done;
            }
        }
        if (mkdir(npy, 0777) != 0 && errno != EEXIST) {
            cli_err("cannot create directory '%s': %s", npy, strerror(errno));
            goto done;
        }
    }
    /* The selected tensors are read in batches of up to batch_bytes() raw
     * bytes, each with one vs_ckpt_load_many call, which decodes all its
     * chunks on the library's thread pool. With --npy a writer thread
     * writes batch k while batch k+1 is read (npy_writer). The bar moves
     * per tensor, weighted by its raw bytes, once it is written (--npy) or
     * read (--safetensors, written as one file at the end). */
    cap = batch_bytes(sel_bytes, npy != NULL);
#if defined(__GLIBC__) && defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
    /* Each vs_ckpt_load_many call frees its read buffers and the writer
     * frees the small tensors it wrote; with glibc's defaults much of that
     * memory goes back to the system and the next batch faults fresh
     * pages in (on the bench model in 4 MiB batches: 13,100 page faults
     * instead of 8,600, and no faster than one batch). Keep it for reuse:
     * what is kept is at most what the batches used. A failure only keeps
     * the defaults. */
    (void)mallopt(M_MMAP_THRESHOLD, 32 << 20);
    (void)mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
    for (j = 0; j < 2; j++) {
        bufs[j].idx = calloc(n_sel + 1, sizeof *bufs[j].idx);
        bufs[j].names = calloc(n_sel + 1, sizeof *bufs[j].names);
        bufs[j].t = calloc(n_sel + 1, sizeof *bufs[j].t);
        if (bufs[j].idx == NULL || bufs[j].names == NULL ||
            bufs[j].t == NULL) {
            cli_err("out of memory");
            goto done;
        }
    }
    progress_start_bytes(&pg, "restoring", sel_bytes);
    if (npy != NULL) {
        if (npy_writer_start(&w, npy, infos, &pg) != EXIT_OK)
            goto done;
        have_writer = 1;
    }
    for (k = 0, j = 0; k < n; j ^= 1) {
        rs_batch *b = &bufs[j];
        /* bufs[j ^ 1] may still be being written: b is free */
        next_batch(infos, sel, n, &k, cap, b);
        if (b->n == 0)
            break;
        if (have_writer && npy_writer_failed(&w))
            break; /* reported by the writer; nothing more is read */
        if (vs_ckpt_load_many(ck, step, b->names, b->n, b->t) != VS_OK) {
            /* The batches before this one come first: a failure writing
             * them is the one reported. */
            b->n = 0;
            if (have_writer) {
                have_writer = 0;
                if (npy_writer_finish(&w) != EXIT_OK) {
                    progress_end(&pg);
                    goto done;
                }
            }
            progress_end(&pg);
            cli_err("%s", vs_errmsg());
            goto done;
        }
        if (have_writer) {
            if (npy_writer_put(&w, b) != EXIT_OK)
                break; /* b is freed below */
            continue;
        }
        for (i_b = 0; i_b < b->n; i_b++) {
            const vs_tensor_info *ti = &infos[b->idx[i_b]];
            char *name = join(ti->name, "", "");
            vs_tensor *t = b->t[i_b];
            b->t[i_b] = NULL;
            if (name == NULL) {
                vs_tensor_free(t);
                progress_end(&pg);
                cli_err("out of memory");
                goto done;
            }
            if (tl_add(&l, name, t) != EXIT_OK) {
                progress_end(&pg);
                goto done;
            }
            if (ti->raw_bytes > 0)
                done_bytes += (uint64_t)ti->raw_bytes;
            progress_update(&pg, done_bytes);
        }
    }
    if (have_writer) {
        have_writer = 0;
        if (npy_writer_finish(&w) != EXIT_OK) {
            progress_end(&pg);
            goto done;
        }
    }
    progress_end(&pg);
    if (st != NULL) {
        char stepbuf[32];
        const char *mk[2] = {"format", "step"};
        const char *mv[2];
        snprintf(stepbuf, sizeof stepbuf, "%lld", (long long)step);
        mv[0] = "varstore";
        mv[1] = stepbuf;
        if (vst_st_write(st, (const char *const *)l.names,
                         (const vs_tensor *const *)l.tensors, l.n, mk, mv,
                         2) != VS_OK) {
            cli_err("%s", vst_errmsg());
            goto done;
        }
    }
    printf("restored %zu tensors of step %lld to %s\n", n_sel,
           (long long)step, npy ? npy : st);
    rc = EXIT_OK;
done:
    tl_free(&l);
    free(sel);
    vs_tensor_info_free(infos, n);
    vs_ckpt_close(ck);
    if (have_writer) /* only on a path that already failed */
        (void)npy_writer_finish(&w);
    batch_free(&bufs[0]);
    batch_free(&bufs[1]);
    free(want);
    return rc;
}
