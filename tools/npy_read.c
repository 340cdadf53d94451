/* varstore tools: reading NumPy .npy files (format 1.0-3.0), per NumPy's
 * published format (numpy.lib.format): the magic "\x93NUMPY", a version
 * byte pair, a little-endian header length (2 bytes for 1.0, 4 for
 * 2.0/3.0), a Python dict literal header (npy_header.c), then the raw
 * array data: copied (vst_npy_read) or, when it can be, mapped
 * (vst_npy_load). */
#define _DEFAULT_SOURCE /* MAP_POPULATE */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "npy.h"
#include "npy_format.h"
#include "vst.h"

/* Column-major src to row-major dst. */
static void fortran_to_c(const unsigned char *src, unsigned char *dst,
                         int ndim, const int64_t *shape, size_t esize,
                         size_t numel)
{
    size_t fstride[VS_MAX_DIMS], idx[VS_MAX_DIMS] = {0};
    size_t i, off = 0;
    int k;

    for (k = 0; k < ndim; k++)
        fstride[k] = k == 0 ? 1 : fstride[k - 1] * (size_t)shape[k - 1];
    for (i = 0; i < numel; i++) {
        memcpy(dst + i * esize, src + off * esize, esize);
        /* advance the row-major counter (last index fastest) */
        for (k = ndim - 1; k >= 0; k--) {
            idx[k]++;
            off += fstride[k];
            if (idx[k] < (size_t)shape[k])
                break;
            off -= fstride[k] * idx[k];
            idx[k] = 0;
        }
    }
}

/* A tensor from vst_npy_load: its data maps the file (map != NULL) or
 * belongs to a copy read by vst_npy_read. t is first, so a vs_tensor *
 * handed out is this struct. */
typedef struct {
    vs_tensor t;
    void *map;
    size_t map_len;
    vs_tensor *copy;
} npy_view;

/* Reads path as vst_npy_read does; with view != NULL, a little-endian
 * C-order file is mapped instead of copied and *view is set. */
static int npy_read(const char *path, vs_tensor **out, npy_view **view);

int vst_npy_read(const char *path, vs_tensor **out)
{
    return npy_read(path, out, NULL);
}

int vst_npy_load(const char *path, vs_tensor **out)
{
    npy_view *v;
    vs_tensor *t = NULL;
    int rc;
    if (out == NULL)
        return vst_fail(VS_EINVAL, "vst_npy_load: out is NULL");
    *out = NULL;
    v = calloc(1, sizeof *v);
    if (v == NULL)
        return vst_fail(VS_ENOMEM, "out of memory reading '%s'",
                        path ? path : "(null)");
    rc = npy_read(path, &t, &v);
    if (rc != VS_OK) {
        free(v);
        return rc;
    }
    if (v->map == NULL) {
        v->copy = t;
        v->t = *t;
    }
    *out = &v->t;
    return VS_OK;
}

void vst_npy_release(vs_tensor *t)
{
    npy_view *v = (npy_view *)t;
    if (v == NULL)
        return;
    if (v->map != NULL)
        (void)munmap(v->map, v->map_len); /* cannot fail for a valid map */
    vs_tensor_free(v->copy);
    free(v);
}

/* An open .npy file and what its prefix and header say. */
typedef struct {
    const char *path;
    int fd;
    vst_file_id id; /* the file when opened */
    size_t fsize, prefix, hlen, nbytes;
    int64_t numel;
    npy_header hd;
    vs_dtype dtype;
    int swap;
} npy_file;

/* The fixed prefix: magic, version, header length (its bounds checked). */
static int read_prefix(npy_file *nf)
{
    unsigned char pre[12];
    const char *path = nf->path;
    if (nf->fsize < 10)
        return vst_fail(VS_ECORRUPT,
                        "%s: truncated .npy file (%zu bytes, the fixed "
                        "prefix alone is 10)",
                        path, nf->fsize);
    if (vst_pread_all(nf->fd, pre, 8, 0) != 0)
        return vst_fail(VS_EIO, "cannot read '%s'", path);
    if (memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return vst_fail(VS_ECORRUPT, "%s: not a .npy file (bad magic)", path);
    if (pre[6] < 1 || pre[6] > 3 || pre[7] != 0)
        return vst_fail(VS_ECORRUPT,
                        "%s: unsupported .npy format version %u.%u (1.0, 2.0 "
                        "and 3.0 are)",
                        path, (unsigned)pre[6], (unsigned)pre[7]);
    nf->prefix = pre[6] == 1 ? 10 : 12;
    if (nf->fsize < nf->prefix)
        return vst_fail(VS_ECORRUPT,
                        "%s: truncated .npy file (%zu bytes, the fixed "
                        "prefix alone is 12)",
                        path, nf->fsize);
    if (vst_pread_all(nf->fd, pre + 8, nf->prefix - 8, 8) != 0)
        return vst_fail(VS_EIO, "cannot read '%s'", path);
    nf->hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    if (nf->prefix == 12)
        nf->hlen |= (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    if (nf->hlen > nf->fsize - nf->prefix)
        return vst_fail(VS_ECORRUPT,
                        "%s: header length %zu goes beyond the end of the "
                        "file (%zu bytes)",
                        path, nf->hlen, nf->fsize);
    if (nf->hlen > NPY_MAX_HEADER)
        return vst_fail(VS_ECORRUPT,
                        "%s: header length %zu exceeds the 1 MB limit", path,
                        nf->hlen);
    return VS_OK;
}

/* The header dict: read, parsed, its dtype known and its shape matching
 * the size of the data that follows it. */
static int read_dict(npy_file *nf)
{
    const char *path = nf->path;
    char *htxt = malloc(nf->hlen + 1), sbuf[VST_SHAPE_STR_MAX];
    size_t data_len;
    int rc;
    if (htxt == NULL)
        return vst_fail(VS_ENOMEM, "out of memory reading '%s'", path);
    if (vst_pread_all(nf->fd, htxt, nf->hlen, nf->prefix) != 0)
        rc = vst_fail(VS_EIO, "cannot read the header of '%s'", path);
    else if (memchr(htxt, '\0', nf->hlen) != NULL)
        rc = vst_fail(VS_ECORRUPT, "%s: bad .npy header: NUL byte", path);
    else
        rc = vst__npy_parse_header(path, htxt, nf->hlen, &nf->hd);
    free(htxt);
    if (rc == VS_OK)
        rc = vst__npy_descr_dtype(path, nf->hd.descr, &nf->dtype, &nf->swap);
    if (rc != VS_OK)
        return rc;
    rc = vs_shape_check(nf->dtype, nf->hd.ndim, nf->hd.shape, &nf->numel,
                        &nf->nbytes);
    if (rc)
        return vst_fail(rc, "%s: %s", path, vs_errmsg());
    data_len = nf->fsize - nf->prefix - nf->hlen;
    if (data_len != nf->nbytes)
        return vst_fail(
            VS_ECORRUPT,
            "%s: shape %s of %s needs %zu data bytes but the file has %zu",
            path, vst_shape_str(nf->hd.ndim, nf->hd.shape, sbuf, sizeof sbuf),
            vs_dtype_name(nf->dtype), nf->nbytes, data_len);
    return VS_OK;
}

static int is_fortran_nd(const npy_file *nf)
{
    return nf->hd.fortran && nf->hd.ndim > 1 && nf->numel > 1;
}

/* Maps the file into v instead of copying it into fresh memory: no
 * zero-filled pages, no copy (the file's own page-cache pages are shared).
 * Only for data 64-byte aligned in the file, as NumPy writes it, so every
 * element is aligned. (A file truncated by another process while mapped
 * would fault: the CLI maps only for the length of one save.) */
static int map_data(const npy_file *nf, npy_view *v)
{
    void *m = mmap(NULL, nf->fsize, PROT_READ, MAP_PRIVATE | MAP_POPULATE,
                   nf->fd, 0);
    int rc;
    if (m == MAP_FAILED)
        return vst_fail(VS_EIO, "cannot map '%s': %s", nf->path,
                        strerror(errno));
    v->t.dtype = nf->dtype;
    v->t.ndim = nf->hd.ndim;
    memcpy(v->t.shape, nf->hd.shape, sizeof v->t.shape);
    v->t.data = (unsigned char *)m + nf->prefix + nf->hlen;
    if (nf->dtype == VS_BOOL) {
        rc = vst_check_bools(v->t.data, nf->nbytes, nf->path);
        if (rc) {
            (void)munmap(m, nf->fsize); /* never handed out */
            return rc;
        }
    }
    v->map = m;
    v->map_len = nf->fsize;
    return VS_OK;
}

/* Reads the data into a new tensor *out: in host byte order, C order. */
static int copy_data(const npy_file *nf, vs_tensor **out)
{
    const char *path = nf->path;
    vs_tensor *t = NULL, *c = NULL;
    int rc = vs_tensor_new(nf->dtype, nf->hd.ndim, nf->hd.shape, &t);
    if (rc)
        return vst_fail(rc, "%s: %s", path, vs_errmsg());
    if (nf->nbytes > 0 &&
        vst_pread_all(nf->fd, t->data, nf->nbytes, nf->prefix + nf->hlen))
        rc = vst_fail(VS_EIO, "cannot read the data of '%s'", path);
    if (rc == VS_OK && nf->swap)
        vst_byteswap(t->data, (size_t)nf->numel, vs_dtype_size(nf->dtype));
    if (rc == VS_OK && nf->dtype == VS_BOOL)
        rc = vst_check_bools(t->data, nf->nbytes, path);
    if (rc == VS_OK && is_fortran_nd(nf)) {
        rc = vs_tensor_new(nf->dtype, nf->hd.ndim, nf->hd.shape, &c);
        if (rc) {
            rc = vst_fail(rc, "%s: %s", path, vs_errmsg());
        } else {
            fortran_to_c(t->data, c->data, nf->hd.ndim, nf->hd.shape,
                         vs_dtype_size(nf->dtype), (size_t)nf->numel);
            vs_tensor_free(t);
            t = c;
        }
    }
    if (rc != VS_OK) {
        vs_tensor_free(t);
        return rc;
    }
    *out = t;
    return VS_OK;
}

/* Opens path and checks its prefix and header into *nf (nf->fd open
 * when it returns VS_OK, closed otherwise). */
static int npy_open(const char *path, npy_file *nf)
{
    uint64_t size;
    int rc;
    memset(nf, 0, sizeof *nf);
    nf->path = path;
    nf->fd = vst_open_regular_id(path, &nf->id);
    if (nf->fd < 0)
        return VS_EIO;
    size = nf->id.size;
    nf->fsize = (size_t)size;
    if (size > SIZE_MAX)
        rc = vst_fail(VS_EINVAL, "%s: file too large", path);
    else
        rc = read_prefix(nf);
    if (rc == VS_OK)
        rc = read_dict(nf);
    if (rc != VS_OK)
        (void)close(nf->fd); /* read-only: nothing of it to lose */
    return rc;
}

int vst_npy_probe(const char *path, vst_npy_info *out)
{
    npy_file nf;
    int rc;
    if (path == NULL || out == NULL)
        return vst_fail(VS_EINVAL, "vst_npy_probe: path or out is NULL");
    rc = npy_open(path, &nf);
    if (rc != VS_OK)
        return rc;
    (void)close(nf.fd); /* read-only: nothing of it to lose */
    memset(out, 0, sizeof *out);
    out->dtype = nf.dtype;
    out->ndim = nf.hd.ndim;
    memcpy(out->shape, nf.hd.shape, sizeof out->shape);
    out->data_off = (uint64_t)(nf.prefix + nf.hlen);
    out->file_size = (uint64_t)nf.fsize;
    out->nbytes = nf.nbytes;
    out->swap = nf.swap;
    out->fortran = is_fortran_nd(&nf);
    out->file_id = nf.id;
    return VS_OK;
}

static int npy_read(const char *path, vs_tensor **out, npy_view **view)
{
    npy_file nf;
    int rc;

    if (out == NULL)
        return vst_fail(VS_EINVAL, "vst_npy_read: out is NULL");
    *out = NULL;
    if (path == NULL)
        return vst_fail(VS_EINVAL, "vst_npy_read: path is NULL");
    rc = npy_open(path, &nf);
    if (rc != VS_OK)
        return rc;
    if (view != NULL && !nf.swap && nf.nbytes > 0 &&
        (nf.prefix + nf.hlen) % NPY_ALIGN == 0 && !is_fortran_nd(&nf)) {
        rc = map_data(&nf, *view);
        if (rc == VS_OK)
            *out = &(*view)->t;
    } else if (rc == VS_OK) {
        rc = copy_data(&nf, out);
    }
    (void)close(nf.fd); /* read-only: nothing of it to lose */
    return rc;
}
