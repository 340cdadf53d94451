/* varstore tools: the .npy header, per NumPy's published format
 * (numpy.lib.format): the dtypes varstore stores and their descr strings,
 * and the strict parser of the header's Python dict literal. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>

#include "npy.h"
#include "npy_format.h"
#include "vst.h"

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

/* The value of key (the text after its ':') into hd; seen counts the keys
 * met (a bit each). */
static int parse_value(hparser *h, const char *key, npy_header *hd,
                       unsigned *seen)
{
    static const char *const keys[3] = {"descr", "fortran_order", "shape"};
    unsigned k;
    for (k = 0; k < 3 && strcmp(key, keys[k]) != 0; k++)
        ;
    if (k == 3)
        return vst_fail(VS_ECORRUPT, "%s: bad .npy header: unknown key '%s'",
                        h->path, key);
    if (*seen & (1u << k))
        return k == 0   ? hbad(h, "key 'descr' appears twice")
               : k == 1 ? hbad(h, "key 'fortran_order' appears twice")
                        : hbad(h, "key 'shape' appears twice");
    *seen |= 1u << k;
    if (k == 0) {
        if (h->p < h->end && *h->p == '[')
            return vst_fail(VS_EDTYPE,
                            "%s: structured dtypes are not supported",
                            h->path);
        return parse_str(h, hd->descr, sizeof hd->descr);
    }
    if (k == 2)
        return parse_shape(h, &hd->ndim, hd->shape);
    if (parse_word(h, "True"))
        hd->fortran = 1;
    else if (parse_word(h, "False"))
        hd->fortran = 0;
    else
        return hbad(h, "fortran_order is not True or False");
    return VS_OK;
}

int vst__npy_parse_header(const char *path, const char *txt, size_t len,
                          npy_header *hd)
{
    hparser h;
    unsigned seen = 0;
    int rc;
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
        rc = parse_value(&h, key, hd, &seen);
        if (rc)
            return rc;
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
    if (seen != 7)
        return vst_fail(VS_ECORRUPT,
                        "%s: bad .npy header: missing key '%s'", path,
                        !(seen & 1)   ? "descr"
                        : !(seen & 2) ? "fortran_order" : "shape");
    return VS_OK;
}

/* Maps a descr to a dtype and whether the data needs a byte swap. */
int vst__npy_descr_dtype(const char *path, const char *descr, vs_dtype *dtype,
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
    little = order == '<' || (order == '=' && vst_host_little()) ||
             order == '|';
    *swap = size > 1 && little != vst_host_little();
    *dtype = npy_types[i].dtype;
    return VS_OK;
unsupported:
    return vst_fail(VS_EDTYPE,
                    "%s: dtype '%s' is not supported (varstore stores <f2 <f4 "
                    "<f8 |i1 |u1 <i4 <i8 |b1, either byte order)",
                    path, descr);
}

