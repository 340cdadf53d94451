/* varstore: the thread-local last-error message, allocation and string
 * helpers used by every module. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vs_common.h"

static _Thread_local char errbuf[VS_ERRMSG_MAX];
static _Thread_local int errset;

const char *vs_version(void)
{
    return VS_VERSION_STRING;
}

const char *vs_errmsg(void)
{
    return errset ? errbuf : "not an error";
}

const char *vs_errstr(int code)
{
    switch (code) {
    case VS_OK: return "not an error";
    case VS_ERROR: return "error";
    case VS_EEXIST: return "already exists";
    case VS_ENOTFOUND: return "not found";
    case VS_ESHAPE: return "shape mismatch";
    case VS_EDTYPE: return "dtype mismatch";
    case VS_EUNINIT: return "uninitialized value";
    case VS_EINVAL: return "invalid argument";
    case VS_ECORRUPT: return "corrupted data";
    case VS_EIO: return "input/output error";
    case VS_ENOMEM: return "out of memory";
    case VS_EBUSY: return "file is busy";
    case VS_ERESTORING: return "variable is being restored";
    case VS_ECHANGED: return "checkpoint changed while read";
    default: return "unknown error code";
    }
}

static void mark_cut(void)
{
    /* The message did not fit: say so rather than cut silently. */
    memcpy(errbuf + VS_ERRMSG_MAX - 4, "...", 4);
}

int vs__vfail(int code, const char *fmt, va_list ap)
{
    int n = vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    if (n < 0) {
        snprintf(errbuf, sizeof errbuf, "%s", vs_errstr(code));
    } else if ((size_t)n >= sizeof errbuf) {
        mark_cut();
    }
    errset = 1;
    return code;
}

int vs__fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vs__vfail(code, fmt, ap);
    va_end(ap);
    return code;
}

int vs__fail_prefix(int code, const char *fmt, ...)
{
    char old[VS_ERRMSG_MAX];
    char pre[VS_ERRMSG_MAX];
    va_list ap;
    int n;

    memcpy(old, errset ? errbuf : "", errset ? sizeof old : 1);
    va_start(ap, fmt);
    n = vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    if (n < 0)
        pre[0] = '\0';
    n = snprintf(errbuf, sizeof errbuf, "%s%s", pre, old);
    if (n >= 0 && (size_t)n >= sizeof errbuf)
        mark_cut();
    errset = 1;
    return code;
}

void vs_free(void *p)
{
    free(p);
}

void *vs__malloc(size_t n)
{
    return malloc(n ? n : 1);
}

void *vs__calloc(size_t n, size_t size)
{
    return calloc(n ? n : 1, size ? size : 1);
}

void *vs__realloc(void *p, size_t n)
{
    return realloc(p, n ? n : 1);
}

void vs__free(void *p)
{
    free(p);
}

char *vs__strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *vs__strdup(const char *s)
{
    return vs__strndup(s, strlen(s));
}

char *vs__vasprintf(const char *fmt, va_list ap)
{
    va_list ap2;
    int n;
    char *s;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    s = malloc((size_t)n + 1);
    if (s == NULL)
        return NULL;
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *vs__asprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    va_start(ap, fmt);
    s = vs__vasprintf(fmt, ap);
    va_end(ap);
    return s;
}

int vs__mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

int vs__add_size(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a)
        return -1;
    *out = a + b;
    return 0;
}

/* Appends formatted text at *pos, never past cap; a buffer too small for
 * a shape is a programming error (VS_SHAPE_STR_MAX fits any shape). */
static void put(char *buf, size_t cap, size_t *pos, const char *fmt,
                long long v)
{
    int n;
    if (*pos >= cap)
        return;
    n = snprintf(buf + *pos, cap - *pos, fmt, v);
    if (n > 0)
        *pos += (size_t)n;
}

/* ndim values of shape between open and close, separated by sep; with
 * unknown_q, a negative value prints as "?" (an unknown dimension). */
static char *shape_join(int ndim, const int64_t *shape, char *buf, size_t cap,
                        const char *open, const char *sep, const char *close,
                        int unknown_q)
{
    size_t pos = 0;
    int i;
    if (cap == 0)
        return buf;
    buf[0] = '\0';
    if (ndim > VS_MAX_DIMS) {
        /* Callers validate the rank first; this keeps a missed check from
         * reading past a VS_MAX_DIMS array. */
        put(buf, cap, &pos, "<rank %lld>", ndim);
        return buf;
    }
    put(buf, cap, &pos, open, 0);
    for (i = 0; i < ndim; i++) {
        if (i > 0)
            put(buf, cap, &pos, sep, 0);
        if (unknown_q && shape[i] < 0)
            put(buf, cap, &pos, "?", 0);
        else
            put(buf, cap, &pos, "%lld", (long long)shape[i]);
    }
    put(buf, cap, &pos, close, 0);
    return buf;
}

char *vs__shape_str(int ndim, const int64_t *shape, char *buf, size_t cap)
{
    if (ndim < 0) {
        snprintf(buf, cap, "<unknown>");
        return buf;
    }
    if (ndim == 1)
        return shape_join(ndim, shape, buf, cap, "(", ", ", ",)", 1);
    return shape_join(ndim, shape, buf, cap, "(", ", ", ")", 1);
}

char *vs__shape_brackets(int ndim, const int64_t *shape, char *buf, size_t cap)
{
    return shape_join(ndim < 0 ? 0 : ndim, shape, buf, cap, "[", ",", "]", 1);
}

char *vs__shape_json(int ndim, const int64_t *shape, char *buf, size_t cap)
{
    return vs__shape_brackets(ndim, shape, buf, cap); /* the same text */
}

char *vs__int_list(int n, const int64_t *v, char *buf, size_t cap)
{
    return shape_join(n < 0 ? 0 : n, v, buf, cap, "[", ", ", "]", 0);
}
