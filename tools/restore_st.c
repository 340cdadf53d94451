/* varstore CLI: restore --safetensors. The tensors are streamed into one
 * file: its header (offsets from the tensors' sizes) is written first, to a
 * temporary file beside DST, then every chunk is written in its place by
 * the decoding threads; the file is renamed over DST once every tensor
 * ended (vst_st_*), so DST is never written through: a symlink DST is
 * replaced, not followed. Memory stays at a few chunks. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "restore.h"
#include "safetensors.h"

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

/* Creates the writer of dst: the header of the selected tensors, with the
 * step in __metadata__. */
static int st_open(const restore_job *job, const char *dst, vst_st_writer **w)
{
    vst_st_desc *d = calloc(job->n + 1, sizeof *d);
    const char *mk[2] = {"format", "step"};
    const char *mv[2];
    char stepbuf[32];
    size_t i;
    int r;
    if (d == NULL)
        return cli_err("out of memory");
    for (i = 0; i < job->n; i++) {
        const vs_tensor_info *ti = &job->infos[job->idx[i]];
        d[i].name = ti->name;
        d[i].dtype = ti->dtype;
        d[i].ndim = ti->ndim;
        d[i].shape = ti->shape;
    }
    snprintf(stepbuf, sizeof stepbuf, "%lld", (long long)job->step);
    mv[0] = "varstore";
    mv[1] = stepbuf;
    r = vst_st_create(dst, d, job->n, mk, mv, 2, w);
    free(d);
    return r == VS_OK ? EXIT_OK : cli_err("%s", vst_errmsg());
}

int restore_safetensors(const restore_job *job, const char *dst)
{
    st_stream ss;
    memset(&ss, 0, sizeof ss);
    ss.infos = job->infos;
    ss.idx = job->idx;
    ss.pg = job->pg;
    if (st_open(job, dst, &ss.w) != EXIT_OK) {
        progress_end(job->pg);
        return EXIT_ERR;
    }
    if (stream_run(job, NULL, sts_write, sts_end, &ss, &ss.fe) != EXIT_OK) {
        vst_st_discard(ss.w);
        return EXIT_ERR;
    }
    if (vst_st_commit(ss.w) != VS_OK) {
        progress_end(job->pg);
        return cli_err("%s", vst_errmsg());
    }
    return EXIT_OK;
}
