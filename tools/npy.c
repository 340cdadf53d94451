/* varstore tools: reading and writing NumPy .npy files (format 1.0-3.0),
 * per NumPy's published format (numpy.lib.format): the magic "\x93NUMPY",
 * a version byte pair, a little-endian header length (2 bytes for 1.0, 4 for
 * 2.0/3.0), a Python dict literal header, then the raw array data. */
#define _DEFAULT_SOURCE /* MAP_POPULATE */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "npy.h"
#include "vst.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64
#define NPY_MAX_HEADER (1u << 20) /* NumPy itself stops at 10000 bytes */

static const struct {
    char kind;
    int size;
    vs_dtype dtype;
    const char *descr; /* what the writer puts */
} npy_types[] = {
    {'f', 2, VS_FLOAT16, "<f2"}, {'f', 4, VS_FLOAT32, "<f4"},
    {'f', 8, VS_FLOAT64, "<f8"}, {'i', 1, VS_INT8, "|i1"},
    {'u', 1, VS_UINT8, "|u1"},   {'i', 4, VS_INT32, "<i4"},
    {'i', 8, VS_INT64, "<i8"},   {'b', 1, VS_BOOL, "|b1"},
};
#define N_NPY_TYPES (sizeof npy_types / sizeof npy_types[0])

const char *vst_npy_descr(vs_dtype dtype)
{
    size_t i;
    for (i = 0; i < N_NPY_TYPES; i++)
        if (npy_types[i].dtype == dtype)
            return npy_types[i].descr;
    return NULL;
}

static int host_is_little(void)
{
    const uint16_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 1;
}

/* ------------------------------------------------------------------------ */
/* Header dict parser (strict subset of a Python literal)                    */

typedef struct {
    const char *p, *end;
    const char *path;
} hparser;

static void skip_ws(hparser *h)
{
    while (h->p < h->end &&
           (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r'))
        h->p++;
}

static int hbad(const hparser *h, const char *what)
{
    return vst_fail(VS_ECORRUPT, "%s: bad .npy header: %s", h->path, what);
}

/* A quoted string without escapes into buf (cap bytes). */
static int parse_str(hparser *h, char *buf, size_t cap)
{
    char q;
    size_t n = 0;

    if (h->p >= h->end || (*h->p != '\'' && *h->p != '"'))
        return hbad(h, "expected a quoted string");
    q = *h->p++;
    while (h->p < h->end && *h->p != q) {
        if (*h->p == '\\' || (unsigned char)*h->p < 0x20 ||
            (unsigned char)*h->p >= 0x7f)
            return hbad(h, "unsupported character in a string");
        if (n + 1 >= cap)
            return hbad(h, "string too long");
        buf[n++] = *h->p++;
    }
    if (h->p >= h->end)
        return hbad(h, "unterminated string");
    h->p++;
    buf[n] = '\0';
    return VS_OK;
}

static int parse_word(hparser *h, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(h->end - h->p) < n || memcmp(h->p, w, n) != 0)
        return 0;
    h->p += n;
    return 1;
}

static int parse_dim(hparser *h, int64_t *out)
{
    int64_t v = 0;
    const char *start = h->p;

    while (h->p < h->end && *h->p >= '0' && *h->p <= '9') {
        int d = *h->p - '0';
        if (v > (INT64_MAX - d) / 10)
            return hbad(h, "shape dimension does not fit in 64 bits");
        v = v * 10 + d;
        h->p++;
    }
    if (h->p == start)
        return hbad(h, "expected a non-negative integer in shape");
    if (h->p - start > 1 && *start == '0')
        return hbad(h, "shape dimension with a leading zero");
    if (h->p < h->end && *h->p == 'L') /* Python 2 long suffix */
        h->p++;
    *out = v;
    return VS_OK;
}

static int parse_shape(hparser *h, int *ndim, int64_t *shape)
{
    int n = 0, rc, trailing_comma = 0;

    if (h->p >= h->end || *h->p != '(')
        return hbad(h, "shape is not a tuple");
    h->p++;
    skip_ws(h);
    while (h->p < h->end && *h->p != ')') {
        int64_t d = 0;
        if (n == VS_MAX_DIMS)
            return vst_fail(VS_EINVAL,
                            "%s: shape has more than %d dimensions", h->path,
                            VS_MAX_DIMS);
        rc = parse_dim(h, &d);
        if (rc)
            return rc;
        shape[n++] = d;
        skip_ws(h);
        trailing_comma = 0;
        if (h->p < h->end && *h->p == ',') {
            h->p++;
            trailing_comma = 1;
            skip_ws(h);
        } else if (h->p < h->end && *h->p != ')') {
            return hbad(h, "expected ',' or ')' in shape");
        }
    }
    if (h->p >= h->end)
        return hbad(h, "unterminated shape tuple");
    h->p++;
    if (n == 1 && !trailing_comma)
        return hbad(h, "shape (n) is not a tuple; a 1-tuple is written (n,)");
    *ndim = n;
    return VS_OK;
}

typedef struct {
    char descr[32];
    int fortran;
    int ndim;
    int64_t shape[VS_MAX_DIMS];
} npy_header;

static int parse_header(const char *path, const char *txt, size_t len,
                        npy_header *hd)
{
    hparser h;
    int have_descr = 0, have_fortran = 0, have_shape = 0, rc;
    char key[32];

    h.p = txt;
    h.end = txt + len;
    h.path = path;
    skip_ws(&h);
    if (h.p >= h.end || *h.p != '{')
        return hbad(&h, "not a dict");
    h.p++;
    for (;;) {
        skip_ws(&h);
        if (h.p < h.end && *h.p == '}')
            break;
        rc = parse_str(&h, key, sizeof key);
        if (rc)
            return rc;
        skip_ws(&h);
        if (h.p >= h.end || *h.p != ':')
            return hbad(&h, "expected ':' after a key");
        h.p++;
        skip_ws(&h);
        if (strcmp(key, "descr") == 0) {
            if (have_descr++)
                return hbad(&h, "key 'descr' appears twice");
            if (h.p < h.end && *h.p == '[')
                return vst_fail(VS_EDTYPE,
                                "%s: structured dtypes are not supported",
                                path);
            rc = parse_str(&h, hd->descr, sizeof hd->descr);
            if (rc)
                return rc;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (have_fortran++)
                return hbad(&h, "key 'fortran_order' appears twice");
            if (parse_word(&h, "True"))
                hd->fortran = 1;
            else if (parse_word(&h, "False"))
                hd->fortran = 0;
            else
                return hbad(&h, "fortran_order is not True or False");
        } else if (strcmp(key, "shape") == 0) {
            if (have_shape++)
                return hbad(&h, "key 'shape' appears twice");
            rc = parse_shape(&h, &hd->ndim, hd->shape);
            if (rc)
                return rc;
        } else {
            return vst_fail(VS_ECORRUPT, "%s: bad .npy header: unknown key '%s'",
                            path, key);
        }
        skip_ws(&h);
        if (h.p < h.end && *h.p == ',') {
            h.p++;
            continue;
        }
        if (h.p < h.end && *h.p == '}')
            break;
        return hbad(&h, "expected ',' or '}' after a value");
    }
    h.p++; /* '}' */
    skip_ws(&h);
    if (h.p != h.end)
        return hbad(&h, "text after the closing '}'");
    if (!have_descr || !have_fortran || !have_shape)
        return vst_fail(VS_ECORRUPT,
                        "%s: bad .npy header: missing key '%s'", path,
                        !have_descr ? "descr"
                        : !have_fortran ? "fortran_order" : "shape");
    return VS_OK;
}

/* Maps a descr to a dtype and whether the data needs a byte swap. */
static int descr_dtype(const char *path, const char *descr, vs_dtype *dtype,
                       int *swap)
{
    char order = descr[0], kind;
    int size, little;
    size_t i;
    const char *s;

    if (order != '<' && order != '>' && order != '|' && order != '=')
        goto unsupported;
    kind = descr[1];
    if (kind == '\0')
        goto unsupported;
    s = descr + 2;
    if (*s < '1' || *s > '9' || s[1] != '\0')
        goto unsupported;
    size = *s - '0';
    for (i = 0; i < N_NPY_TYPES; i++) {
        if (npy_types[i].kind == kind && npy_types[i].size == size)
            break;
    }
    if (i == N_NPY_TYPES)
        goto unsupported;
    if (order == '|' && size != 1)
        goto unsupported;
    little = order == '<' || (order == '=' && host_is_little()) ||
             order == '|';
    *swap = size > 1 && little != host_is_little();
    *dtype = npy_types[i].dtype;
    return VS_OK;
unsupported:
    return vst_fail(VS_EDTYPE,
                    "%s: dtype '%s' is not supported (varstore stores <f2 <f4 "
                    "<f8 |i1 |u1 <i4 <i8 |b1, either byte order)",
                    path, descr);
}

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

static int npy_read(const char *path, vs_tensor **out, npy_view **view)
{
    FILE *f = NULL;
    struct stat st;
    unsigned char pre[12];
    char *htxt = NULL;
    size_t hlen, prefix, fsize, data_len, nbytes = 0;
    int64_t numel = 0;
    npy_header hd;
    vs_dtype dtype = VS_FLOAT32;
    int swap = 0, rc;
    vs_tensor *t = NULL;
    char sbuf[VST_SHAPE_STR_MAX];

    if (out == NULL)
        return vst_fail(VS_EINVAL, "vst_npy_read: out is NULL");
    *out = NULL;
    if (path == NULL)
        return vst_fail(VS_EINVAL, "vst_npy_read: path is NULL");
    memset(&hd, 0, sizeof hd);
    f = fopen(path, "rb");
    if (f == NULL)
        return vst_fail(VS_EIO, "cannot open '%s': %s", path, strerror(errno));
    if (fstat(fileno(f), &st) != 0) {
        rc = vst_fail(VS_EIO, "cannot stat '%s': %s", path, strerror(errno));
        goto cleanup;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = vst_fail(VS_EIO, "'%s' is not a regular file", path);
        goto cleanup;
    }
    fsize = (size_t)st.st_size;
    if (fsize < 10) {
        rc = vst_fail(VS_ECORRUPT,
                      "%s: truncated .npy file (%zu bytes, the fixed "
                      "prefix alone is 10)",
                      path, fsize);
        goto cleanup;
    }
    if (fread(pre, 1, 8, f) != 8) {
        rc = vst_fail(VS_EIO, "cannot read '%s'", path);
        goto cleanup;
    }
    if (memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0) {
        rc = vst_fail(VS_ECORRUPT, "%s: not a .npy file (bad magic)", path);
        goto cleanup;
    }
    if (pre[6] < 1 || pre[6] > 3 || pre[7] != 0) {
        rc = vst_fail(VS_ECORRUPT,
                      "%s: unsupported .npy format version %u.%u (1.0, 2.0 "
                      "and 3.0 are)",
                      path, (unsigned)pre[6], (unsigned)pre[7]);
        goto cleanup;
    }
    if (pre[6] == 1) {
        if (fread(pre + 8, 1, 2, f) != 2) {
            rc = vst_fail(VS_EIO, "cannot read '%s'", path);
            goto cleanup;
        }
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
        prefix = 10;
    } else {
        if (fsize < 12) {
            rc = vst_fail(VS_ECORRUPT,
                          "%s: truncated .npy file (%zu bytes, the fixed "
                          "prefix alone is 12)",
                          path, fsize);
            goto cleanup;
        }
        if (fread(pre + 8, 1, 4, f) != 4) {
            rc = vst_fail(VS_EIO, "cannot read '%s'", path);
            goto cleanup;
        }
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 |
               (size_t)pre[11] << 24;
        prefix = 12;
    }
    if (hlen > fsize - prefix) {
        rc = vst_fail(VS_ECORRUPT,
                      "%s: header length %zu goes beyond the end of the file "
                      "(%zu bytes)",
                      path, hlen, fsize);
        goto cleanup;
    }
    if (hlen > NPY_MAX_HEADER) {
        rc = vst_fail(VS_ECORRUPT,
                      "%s: header length %zu exceeds the 1 MB limit", path,
                      hlen);
        goto cleanup;
    }
    htxt = malloc(hlen + 1);
    if (htxt == NULL) {
        rc = vst_fail(VS_ENOMEM, "out of memory reading '%s'", path);
        goto cleanup;
    }
    if (fread(htxt, 1, hlen, f) != hlen) {
        rc = vst_fail(VS_EIO, "cannot read the header of '%s'", path);
        goto cleanup;
    }
    htxt[hlen] = '\0';
    if (memchr(htxt, '\0', hlen) != NULL) {
        rc = vst_fail(VS_ECORRUPT, "%s: bad .npy header: NUL byte", path);
        goto cleanup;
    }
    rc = parse_header(path, htxt, hlen, &hd);
    if (rc)
        goto cleanup;
    rc = descr_dtype(path, hd.descr, &dtype, &swap);
    if (rc)
        goto cleanup;
    rc = vs_shape_check(dtype, hd.ndim, hd.shape, &numel, &nbytes);
    if (rc) {
        rc = vst_fail(rc, "%s: %s", path, vs_errmsg());
        goto cleanup;
    }
    data_len = fsize - prefix - hlen;
    if (data_len != nbytes) {
        rc = vst_fail(VS_ECORRUPT,
                      "%s: shape %s of %s needs %zu data bytes but the file "
                      "has %zu",
                      path, vst_shape_str(hd.ndim, hd.shape, sbuf, sizeof sbuf),
                      vs_dtype_name(dtype), nbytes, data_len);
        goto cleanup;
    }
    if (view != NULL && !swap && nbytes > 0 && (prefix + hlen) % 64 == 0 &&
        !(hd.fortran && hd.ndim > 1 && numel > 1)) {
        /* Map instead of copying into fresh memory: no zero-filled pages,
         * no copy (the file's own page-cache pages are shared). Only when
         * the data is 64-byte aligned in the file, as NumPy writes it, so
         * every element is aligned; other files are copied. (A file
         * truncated by another process while mapped would fault: the
         * CLI maps only for the length of one save.) */
        npy_view *v = *view;
        void *m = mmap(NULL, fsize, PROT_READ, MAP_PRIVATE | MAP_POPULATE,
                       fileno(f), 0);
        if (m == MAP_FAILED) {
            rc = vst_fail(VS_EIO, "cannot map '%s': %s", path,
                          strerror(errno));
            goto cleanup;
        }
        v->map = m;
        v->map_len = fsize;
        v->t.dtype = dtype;
        v->t.ndim = hd.ndim;
        memcpy(v->t.shape, hd.shape, sizeof v->t.shape);
        v->t.data = (unsigned char *)m + prefix + hlen;
        if (dtype == VS_BOOL) {
            rc = vst_check_bools(v->t.data, nbytes, path);
            if (rc) {
                (void)munmap(m, fsize);
                v->map = NULL;
                goto cleanup;
            }
        }
        *out = &v->t;
        rc = VS_OK;
        goto cleanup;
    }
    rc = vs_tensor_new(dtype, hd.ndim, hd.shape, &t);
    if (rc) {
        rc = vst_fail(rc, "%s: %s", path, vs_errmsg());
        goto cleanup;
    }
    if (nbytes > 0 && fread(t->data, 1, nbytes, f) != nbytes) {
        rc = vst_fail(VS_EIO, "cannot read the data of '%s'", path);
        goto cleanup;
    }
    if (swap)
        vst_byteswap(t->data, (size_t)numel, vs_dtype_size(dtype));
    if (dtype == VS_BOOL) {
        rc = vst_check_bools(t->data, nbytes, path);
        if (rc)
            goto cleanup;
    }
    if (hd.fortran && hd.ndim > 1 && numel > 1) {
        vs_tensor *c = NULL;
        rc = vs_tensor_new(dtype, hd.ndim, hd.shape, &c);
        if (rc) {
            rc = vst_fail(rc, "%s: %s", path, vs_errmsg());
            goto cleanup;
        }
        fortran_to_c(t->data, c->data, hd.ndim, hd.shape,
                     vs_dtype_size(dtype), (size_t)numel);
        vs_tensor_free(t);
        t = c;
    }
    *out = t;
    t = NULL;
    rc = VS_OK;
cleanup:
    vs_tensor_free(t);
    free(htxt);
    if (f != NULL)
        fclose(f);
    return rc;
}

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
        if (host_is_little() || vs_dtype_size(t->dtype) == 1) {
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
