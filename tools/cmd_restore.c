/* varstore CLI: `varstore restore` (cmd_restore). Exports a checkpoint to
 * .npy files or one safetensors file, streaming it (vs_ckpt_stream): each
 * chunk is written into its place in the output as soon as the library's
 * threads have decoded and checked it, so memory stays at a few chunks
 * whatever the model's size. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* A new string formatted as printf would; NULL when out of memory. */
static char *fmt_new(const char *f, ...) VST_PRINTF(1, 2);
static char *fmt_new(const char *f, ...)
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

/* mkdir -p of every directory part of path (not the last part). The first
 * `known` bytes of path name a directory known to exist (path[known] is a
 * '/'; 0: none known), whose parts are not made or checked again. On
 * failure EXIT_ERR and *why is the message (NULL: out of memory). */
static int make_parents(char *path, size_t known, char **why)
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
            *why = fmt_new("cannot create directory '%s': %s", path,
                           strerror(e));
            *s = '/';
            return EXIT_ERR;
        }
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
            *why = fmt_new("'%s' exists and is not a directory", path);
            *s = '/';
            return EXIT_ERR;
        }
        *s = '/';
    }
    return EXIT_OK;
}

/* The selected tensors: idx[i] indexes the checkpoint's infos, names[i]
 * is that tensor's name. */
typedef struct {
    size_t *idx;
    const char **names;
    size_t n;
} selection;

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

/* restore --npy streams the tensors into their files (vs_ckpt_stream):
 * begin creates DIR/<name>.npy and writes its header (on this thread, in
 * name order), the library's workers pwrite each chunk in place as soon as
 * it is decoded and checked, end closes the file. No tensor is ever whole
 * in memory: a restore of any size uses a few chunks' worth, and every
 * byte goes from a buffer still in cache into the page cache. (Reading
 * whole tensors and writing them after, a restore of the bench model
 * spent an eighth of its CPU time with the kernel zeroing fresh pages for
 * them.)
 *
 * Errors: the first one, in tensor order, is the one printed (the
 * library reports failures in that order). The files of tensors that did
 * not end (begun, then a failure) are removed: every .npy file left is
 * whole and checked. */
#define SINK_FAILED 1 /* a callback's own failure (library codes are < 0) */

/* The failure of the lowest tensor so far, from any thread. */
typedef struct {
    pthread_mutex_t mu;
    char *msg;  /* NULL: none, or out of memory (nomem) */
    size_t i;
    int nomem;  /* a failure whose message could not be kept */
} first_err;

typedef struct {
    const char *dir;
    const vs_tensor_info *infos;
    const size_t *idx; /* stream index -> infos index */
    int *fd;           /* -1: not open */
    char **path;       /* begun and not ended: the file, else NULL */
    uint64_t *hlen;    /* header bytes: where the data starts */
    char *dir_ok;      /* the folder the last file went into (it exists) */
    progress *pg;
    uint64_t done_bytes;
    first_err fe;
} npy_stream;

static int host_little(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Records the failure of tensor i, message m (owned; NULL: out of
 * memory), kept if it is the lowest tensor's so far; returns SINK_FAILED.
 * Thread-safe. */
static int fe_take(first_err *fe, size_t i, char *m)
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

/* Tensor ti is complete: the bar moves by its raw bytes. */
static void progress_tensor(progress *pg, uint64_t *done,
                            const vs_tensor_info *ti)
{
    *done += ti->raw_bytes > 0 ? (uint64_t)ti->raw_bytes : 0;
    progress_update(pg, *done);
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

static int ns_take_err(npy_stream *ns, size_t i, char *m)
{
    return fe_take(&ns->fe, i, m);
}

/* "what 'file': strerror(e)" for tensor i, as ns_take_err. */
static int ns_fail(npy_stream *ns, size_t i, const char *what,
                   const char *file, int e)
{
    return ns_take_err(ns, i, fmt_new("%s '%s': %s", what, file,
                                      strerror(e)));
}

static int ns_begin(void *ctx, size_t i)
{
    npy_stream *ns = ctx;
    const vs_tensor_info *ti = &ns->infos[ns->idx[i]];
    unsigned char hdr[VST_NPY_HEADER_MAX];
    size_t hlen, nbytes, plen, known;
    char *rel = join(ti->name, ".npy", ""), *file = NULL, *slash;
    int fd;
    if (rel != NULL)
        file = join(ns->dir, "/", rel);
    free(rel);
    if (file == NULL)
        return ns_fail(ns, i, "out of memory writing", ti->name, ENOMEM);
    /* Names come sorted, so siblings follow each other: the folder the
     * previous file went into, and the folders above it, need no making
     * or checking again. */
    slash = strrchr(file, '/'); /* not NULL: file is DIR/... */
    plen = (size_t)(slash - file);
    known = known_dir(file, plen, ns->dir_ok);
    if (known < plen) {
        char *why = NULL;
        if (make_parents(file, known, &why) != EXIT_OK) {
            free(file);
            return ns_take_err(ns, i, why);
        }
        free(ns->dir_ok);
        *slash = '\0';
        ns->dir_ok = join(file, "", ""); /* NULL: just not remembered */
        *slash = '/';
    }
    if (ti->dtype == VS_BFLOAT16)
        fprintf(stderr,
                "varstore: note: bfloat16 tensor '%s' written as float32 "
                "(NumPy has no bfloat16; the values are exact)\n",
                ti->name);
    if (vst_npy_header(file, ti->dtype == VS_BFLOAT16 ? VS_FLOAT32 : ti->dtype,
                       ti->ndim, ti->shape, hdr, sizeof hdr, &hlen,
                       &nbytes) != VS_OK) {
        free(file);
        return ns_take_err(ns, i, join(vst_errmsg(), "", ""));
    }
    fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        int e = errno;
        ns_fail(ns, i, "cannot create", file, e);
        free(file);
        return SINK_FAILED;
    }
    ns->fd[i] = fd;
    ns->path[i] = file; /* removed again unless it ends */
    ns->hlen[i] = hlen;
    if (vst_pwrite_all(fd, hdr, hlen, 0) != 0)
        return ns_fail(ns, i, "cannot write", file, errno);
    return 0;
}

/* Chunks of bfloat16 tensors are widened to float32 and, on a big-endian
 * host, every multi-byte element is swapped: .npy files are written
 * little-endian ('<'). */
static int ns_write(void *ctx, size_t i, uint64_t off, const void *data,
                    size_t len)
{
    npy_stream *ns = ctx;
    const vs_tensor_info *ti = &ns->infos[ns->idx[i]];
    const unsigned char *p = data;
    unsigned char *conv = NULL;
    size_t es = vs_dtype_size(ti->dtype), k, out_len = len;
    int widen = ti->dtype == VS_BFLOAT16, little = host_little(), rc = 0;
    if (es == 0 || off % es != 0 || len % es != 0)
        return ns_fail(ns, i, "chunk not made of whole elements in",
                       ns->path[i], EINVAL);
    if (widen) {
        if (len > SIZE_MAX / 2 || off > (UINT64_MAX - ns->hlen[i]) / 2)
            return ns_fail(ns, i, "cannot write", ns->path[i], EFBIG);
        out_len = len * 2;
        off *= 2;
    }
    if (widen || (!little && es > 1)) {
        conv = malloc(out_len);
        if (conv == NULL)
            return ns_fail(ns, i, "cannot write", ns->path[i], ENOMEM);
        for (k = 0; k < len / es; k++) {
            unsigned char e[8];
            size_t oes = widen ? 4 : es, b;
            if (widen) {
                uint16_t h;
                float f;
                memcpy(&h, p + k * 2, 2);
                f = vs_bfloat16_to_float(h);
                memcpy(e, &f, 4);
            } else {
                memcpy(e, p + k * es, es);
            }
            for (b = 0; b < oes; b++)
                conv[k * oes + b] = little ? e[b] : e[oes - 1 - b];
        }
        p = conv;
    }
    if (ns->hlen[i] > UINT64_MAX - off)
        rc = ns_fail(ns, i, "cannot write", ns->path[i], EFBIG);
    else if (vst_pwrite_all(ns->fd[i], p, out_len, ns->hlen[i] + off) != 0)
        rc = ns_fail(ns, i, "cannot write", ns->path[i], errno);
    free(conv);
    return rc;
}

static int ns_end(void *ctx, size_t i)
{
    npy_stream *ns = ctx;
    const vs_tensor_info *ti = &ns->infos[ns->idx[i]];
    int fd = ns->fd[i];
    ns->fd[i] = -1;
    if (close(fd) != 0)
        return ns_fail(ns, i, "cannot write", ns->path[i], errno);
    free(ns->path[i]);
    ns->path[i] = NULL;
    progress_tensor(ns->pg, &ns->done_bytes, ti);
    return 0;
}

/* Writes the selected tensors (idx[0..n), indexes into infos) as .npy
 * files under dir. EXIT_ERR after printing the first failure. */
static int npy_stream_all(vs_ckpt *ck, int64_t step, const char *dir,
                          const vs_tensor_info *infos, const size_t *idx,
                          const char *const *names, size_t n, progress *pg)
{
    npy_stream ns;
    vs_stream_sink sink;
    size_t i;
    int rc = EXIT_OK, r;
    memset(&ns, 0, sizeof ns);
    ns.dir = dir;
    ns.infos = infos;
    ns.idx = idx;
    ns.pg = pg;
    ns.fd = malloc((n + 1) * sizeof *ns.fd);
    ns.path = calloc(n + 1, sizeof *ns.path);
    ns.hlen = calloc(n + 1, sizeof *ns.hlen);
    if (ns.fd == NULL || ns.path == NULL || ns.hlen == NULL) {
        free(ns.fd);
        free(ns.path);
        free(ns.hlen);
        progress_end(pg);
        return cli_err("out of memory");
    }
    if (pthread_mutex_init(&ns.fe.mu, NULL) != 0) {
        free(ns.fd);
        free(ns.path);
        free(ns.hlen);
        progress_end(pg);
        return cli_err("cannot create a mutex");
    }
    for (i = 0; i < n; i++)
        ns.fd[i] = -1;
    memset(&sink, 0, sizeof sink);
    sink.begin = ns_begin;
    sink.write = ns_write;
    sink.end = ns_end;
    sink.ctx = &ns;
    r = vs_ckpt_stream(ck, step, names, n, &sink);
    if (r != VS_OK) {
        progress_end(pg);
        stream_report(&ns.fe, r);
        rc = EXIT_ERR;
    }
    /* Whatever did not end is incomplete: closed and removed. */
    for (i = 0; i < n; i++) {
        if (ns.fd[i] >= 0)
            (void)close(ns.fd[i]); /* removed next: its result is moot */
        if (ns.path[i] != NULL) {
            (void)unlink(ns.path[i]); /* best effort, already failing */
            free(ns.path[i]);
        }
    }
    pthread_mutex_destroy(&ns.fe.mu);
    free(ns.fe.msg);
    free(ns.dir_ok);
    free(ns.fd);
    free(ns.path);
    free(ns.hlen);
    return rc;
}

/* restore --safetensors streams the tensors into one file the same way:
 * its header (offsets from the tensors' sizes) is written first, to a
 * temporary file beside DST, then every chunk is written in its place by
 * the decoding threads; the file is renamed over DST once every tensor
 * ended (vst_st_*). Memory stays at a few chunks. */
typedef struct {
    vst_st_writer *w;
    const vs_tensor_info *infos;
    const size_t *idx;
    progress *pg;
    uint64_t done_bytes;
    first_err fe;
} st_stream;

static int sts_write(void *ctx, size_t i, uint64_t off, const void *data,
                     size_t len)
{
    st_stream *ss = ctx;
    if (vst_st_put(ss->w, i, off, data, len) != VS_OK)
        return fe_take(&ss->fe, i, join(vst_errmsg(), "", ""));
    return 0;
}

static int sts_end(void *ctx, size_t i)
{
    st_stream *ss = ctx;
    progress_tensor(ss->pg, &ss->done_bytes, &ss->infos[ss->idx[i]]);
    return 0;
}

static int st_stream_all(vs_ckpt *ck, int64_t step, const char *dst,
                         const vs_tensor_info *infos, const size_t *idx,
                         const char *const *names, size_t n, progress *pg)
{
    st_stream ss;
    vs_stream_sink sink;
    vst_st_desc *d = calloc(n + 1, sizeof *d);
    char stepbuf[32];
    const char *mk[2] = {"format", "step"};
    const char *mv[2];
    size_t i;
    int r;
    if (d == NULL) {
        progress_end(pg);
        return cli_err("out of memory");
    }
    for (i = 0; i < n; i++) {
        const vs_tensor_info *ti = &infos[idx[i]];
        d[i].name = ti->name;
        d[i].dtype = ti->dtype;
        d[i].ndim = ti->ndim;
        d[i].shape = ti->shape;
    }
    snprintf(stepbuf, sizeof stepbuf, "%lld", (long long)step);
    mv[0] = "varstore";
    mv[1] = stepbuf;
    memset(&ss, 0, sizeof ss);
    ss.infos = infos;
    ss.idx = idx;
    ss.pg = pg;
    r = vst_st_create(dst, d, n, mk, mv, 2, &ss.w);
    free(d);
    if (r != VS_OK) {
        progress_end(pg);
        return cli_err("%s", vst_errmsg());
    }
    if (pthread_mutex_init(&ss.fe.mu, NULL) != 0) {
        vst_st_discard(ss.w);
        progress_end(pg);
        return cli_err("cannot create a mutex");
    }
    memset(&sink, 0, sizeof sink);
    sink.write = sts_write;
    sink.end = sts_end;
    sink.ctx = &ss;
    r = vs_ckpt_stream(ck, step, names, n, &sink);
    if (r != VS_OK) {
        vst_st_discard(ss.w);
        progress_end(pg);
        stream_report(&ss.fe, r);
    } else if (vst_st_commit(ss.w) != VS_OK) {
        progress_end(pg);
        cli_err("%s", vst_errmsg());
        r = VS_EIO;
    }
    pthread_mutex_destroy(&ss.fe.mu);
    free(ss.fe.msg);
    return r == VS_OK ? EXIT_OK : EXIT_ERR;
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

int cmd_restore(int argc, char **argv)
{
    const char *path = NULL, *npy = NULL, *st = NULL, *v;
    const char **want = NULL;
    int n_want = 0, have_step = 0, i, r, rc = EXIT_ERR;
    int64_t step = VS_LATEST;
    vs_tensor_info *infos = NULL;
    vs_ckpt *ck = NULL; /* one open and one snapshot for every read */
    selection b = {0};
    size_t n = 0, k, n_sel = 0;
    uint64_t sel_bytes = 0;
    char *sel = NULL;
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
    if (st != NULL && same_file_as_checkpoint(path, st)) {
        cli_err("'%s' is the checkpoint file %s itself (or its -wal or "
                "-shm file): it is not overwritten",
                st, path);
        goto done;
    }
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
    b.idx = calloc(n_sel + 1, sizeof *b.idx);
    b.names = calloc(n_sel + 1, sizeof *b.names);
    if (b.idx == NULL || b.names == NULL) {
        cli_err("out of memory");
        goto done;
    }
    for (k = 0; k < n; k++) {
        if (sel[k]) {
            b.idx[b.n] = k;
            b.names[b.n++] = infos[k].name;
        }
    }
    /* Every selected tensor is streamed into its file (--npy) or into its
     * place in the one file (--safetensors); the bar moves per tensor,
     * weighted by its raw bytes, as each one is complete. */
    progress_start_bytes(&pg, "restoring", sel_bytes);
    if (npy != NULL
            ? npy_stream_all(ck, step, npy, infos, b.idx, b.names, b.n,
                             &pg) != EXIT_OK
            : st_stream_all(ck, step, st, infos, b.idx, b.names, b.n,
                            &pg) != EXIT_OK)
        goto done; /* printed, and the bar ended */
    progress_end(&pg);
    printf("restored %zu tensors of step %lld to %s\n", n_sel,
           (long long)step, npy ? npy : st);
    rc = EXIT_OK;
done:
    free(b.idx);
    free(b.names);
    free(sel);
    vs_tensor_info_free(infos, n);
    vs_ckpt_close(ck);
    free(want);
    return rc;
}
