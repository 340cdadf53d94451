/* varstore tools: writing NumPy .npy files (format 1.0), laid out as NumPy
 * writes them: the magic, the version, the header dict padded with spaces
 * and a '\n' to a multiple of 64 bytes, then the data, little-endian. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "npy.h"
#include "npy_format.h"
#include "vst.h"

int vst_npy_header(const char *path, vs_dtype dtype, int ndim,
                   const int64_t *shape, unsigned char *buf, size_t cap,
                   size_t *len, size_t *nbytes)
{
    char sbuf[VST_SHAPE_STR_MAX];
    const char *descr;
    size_t total;
    int n, rc;

    if (dtype == VS_BFLOAT16)
        return vst_fail(VS_EDTYPE,
                        "%s: bfloat16 has no NumPy dtype (convert it to "
                        "float32, which is exact)",
                        path);
    descr = vst_npy_descr(dtype);
    if (descr == NULL)
        return vst_fail(VS_EDTYPE, "%s: invalid dtype %d", path, (int)dtype);
    rc = vs_shape_check(dtype, ndim, shape, NULL, nbytes);
    if (rc)
        return vst_fail(rc, "%s: %s", path, vs_errmsg());
    if (cap < VST_NPY_HEADER_MAX)
        return vst_fail(VS_EINVAL, "%s: .npy header buffer too small", path);
    /* NumPy's own layout: the dict, spaces, '\n', the prefix + header a
     * multiple of 64 bytes. With at most 8 dims it always fits 1.0. */
    n = snprintf((char *)buf + 10, cap - 10,
                 "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                 descr, vst_shape_str(ndim, shape, sbuf, sizeof sbuf));
    if (n < 0 || 10 + (size_t)n + 1 + NPY_ALIGN >= cap)
        return vst_fail(VS_EINVAL, "%s: .npy header too long", path);
    total = 10 + (size_t)n + 1;
    while (total % NPY_ALIGN != 0) {
        buf[10 + n++] = ' ';
        total++;
    }
    buf[10 + n++] = '\n';
    memcpy(buf, NPY_MAGIC, NPY_MAGIC_LEN);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (unsigned char)(n & 0xff);
    buf[9] = (unsigned char)((n >> 8) & 0xff);
    *len = total;
    return VS_OK;
}

int vst_npy_write(const char *path, const vs_tensor *t)
{
    unsigned char hdr[VST_NPY_HEADER_MAX];
    size_t nbytes, hlen;
    int i, rc = VS_OK;
    FILE *f;

    if (path == NULL || t == NULL)
        return vst_fail(VS_EINVAL, "vst_npy_write: NULL argument");
    rc = vst_npy_header(path, t->dtype, t->ndim, t->shape, hdr, sizeof hdr,
                        &hlen, &nbytes);
    if (rc != VS_OK)
        return rc;
    f = fopen(path, "wb");
    if (f == NULL)
        return vst_fail(VS_EIO, "cannot create '%s': %s", path,
                        strerror(errno));
    if (fwrite(hdr, 1, hlen, f) != hlen)
        rc = VS_EIO;
    if (rc == VS_OK && nbytes > 0) {
        if (vst_host_little() || vs_dtype_size(t->dtype) == 1) {
            if (fwrite(t->data, 1, nbytes, f) != nbytes)
                rc = VS_EIO;
        } else {
            /* big-endian host: write little-endian element by element */
            size_t es = vs_dtype_size(t->dtype), k;
            const unsigned char *p = t->data;
            unsigned char e[8];
            for (k = 0; rc == VS_OK && k < nbytes; k += es) {
                for (i = 0; i < (int)es; i++)
                    e[i] = p[k + es - 1 - (size_t)i];
                if (fwrite(e, 1, es, f) != es)
                    rc = VS_EIO;
            }
        }
    }
    if (fclose(f) != 0)
        rc = VS_EIO;
    if (rc != VS_OK) {
        int e = errno;
        remove(path);
        return vst_fail(VS_EIO, "cannot write '%s': %s", path, strerror(e));
    }
    return VS_OK;
}
