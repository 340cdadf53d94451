/* varstore CLI: restore --npy. The tensors are streamed into their files
 * (vs_ckpt_stream): begin creates <name>.npy and writes its header (on
 * this thread, in name order), the library's workers pwrite each chunk in
 * place as soon as it is decoded and checked, end closes the file. No
 * tensor is ever whole in memory: a restore of any size uses a few chunks'
 * worth, and every byte goes from a buffer still in cache into the page
 * cache. (Reading whole tensors and writing them after, a restore of the
 * bench model spent an eighth of its CPU time with the kernel zeroing
 * fresh pages for them.)
 *
 * The files go into a new private folder beside DIR (outtree.h), renamed
 * to DIR once every tensor ended: the output is complete or, after any
 * failure, not there at all, and no path inside it follows a symbolic
 * link. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "npy.h"
#include "outtree.h"
#include "restore.h"
#include "vst.h"

typedef struct {
    out_tree tree;
    const vs_tensor_info *infos;
    const size_t *idx; /* stream index -> infos index */
    int *fd;           /* -1: not open */
    char **path;       /* each file as DIR/<name>.npy, for messages */
    uint64_t *hlen;    /* header bytes: where the data starts */
    progress *pg;
    uint64_t done_bytes;
    first_err fe;
} npy_stream;

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
    size_t hlen, nbytes;
    char *rel = join(ti->name, ".npy", ""), *why = NULL;
    int fd;
    if (rel == NULL ||
        (ns->path[i] = join(ns->tree.dest, "/", rel)) == NULL) {
        free(rel);
        return ns_fail(ns, i, "out of memory writing", ti->name, ENOMEM);
    }
    if (ti->dtype == VS_BFLOAT16)
        fprintf(stderr,
                "varstore: note: bfloat16 tensor '%s' written as float32 "
                "(NumPy has no bfloat16; the values are exact)\n",
                ti->name);
    if (vst_npy_header(ns->path[i],
                       ti->dtype == VS_BFLOAT16 ? VS_FLOAT32 : ti->dtype,
                       ti->ndim, ti->shape, hdr, sizeof hdr, &hlen,
                       &nbytes) != VS_OK) {
        free(rel);
        return ns_take_err(ns, i, join(vst_errmsg(), "", ""));
    }
    fd = out_tree_create(&ns->tree, rel, &why);
    free(rel);
    if (fd < 0)
        return ns_take_err(ns, i, why);
    ns->fd[i] = fd;
    ns->hlen[i] = hlen;
    if (vst_pwrite_all(fd, hdr, hlen, 0) != 0)
        return ns_fail(ns, i, "cannot write", ns->path[i], errno);
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
    int widen = ti->dtype == VS_BFLOAT16, little = vst_host_little(), rc = 0;
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
    int fd = ns->fd[i];
    ns->fd[i] = -1;
    if (close(fd) != 0)
        return ns_fail(ns, i, "cannot write", ns->path[i], errno);
    progress_tensor(ns->pg, &ns->done_bytes, &ns->infos[ns->idx[i]]);
    return 0;
}

/* The per-tensor arrays of ns, for n tensors; EXIT_ERR (printed) when out
 * of memory. */
static int ns_alloc(npy_stream *ns, size_t n)
{
    size_t i;
    ns->fd = malloc((n + 1) * sizeof *ns->fd);
    ns->path = calloc(n + 1, sizeof *ns->path);
    ns->hlen = calloc(n + 1, sizeof *ns->hlen);
    if (ns->fd == NULL || ns->path == NULL || ns->hlen == NULL)
        return cli_err("out of memory");
    for (i = 0; i < n; i++)
        ns->fd[i] = -1;
    return EXIT_OK;
}

static void ns_free(npy_stream *ns, size_t n)
{
    size_t i;
    for (i = 0; ns->path != NULL && i < n; i++) {
        if (ns->fd[i] >= 0)
            (void)close(ns->fd[i]); /* removed with the tree */
        free(ns->path[i]);
    }
    free(ns->fd);
    free(ns->path);
    free(ns->hlen);
}

int restore_npy(const restore_job *job, const char *dir)
{
    npy_stream ns;
    int rc;
    memset(&ns, 0, sizeof ns);
    ns.infos = job->infos;
    ns.idx = job->idx;
    ns.pg = job->pg;
    if (out_tree_begin(&ns.tree, dir) != EXIT_OK) {
        progress_end(job->pg);
        return EXIT_ERR;
    }
    rc = ns_alloc(&ns, job->n);
    if (rc == EXIT_OK)
        rc = stream_run(job, ns_begin, ns_write, ns_end, &ns, &ns.fe);
    ns_free(&ns, job->n);
    if (rc == EXIT_OK)
        return out_tree_commit(&ns.tree);
    out_tree_abort(&ns.tree);
    return EXIT_ERR;
}
