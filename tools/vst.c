/* varstore tools: the tools' thread-local error message and small helpers
 * (overflow-checked sizes, shape text, byte swapping, whole pwrites). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "vst.h"

static _Thread_local char errbuf[2048];
static _Thread_local int errset;

int vst_fail(int code, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    if (n < 0)
        snprintf(errbuf, sizeof errbuf, "%s", vs_errstr(code));
    else if ((size_t)n >= sizeof errbuf)
        memcpy(errbuf + sizeof errbuf - 4, "...", 4); /* never cut silently */
    errset = 1;
    return code;
}

const char *vst_errmsg(void)
{
    return errset ? errbuf : "not an error";
}

int vst_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

int vst_add_size(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a)
        return -1;
    *out = a + b;
    return 0;
}

char *vst_shape_str(int ndim, const int64_t *shape, char *buf, size_t cap)
{
    size_t pos = 0;
    int i, w;

    if (cap == 0)
        return buf;
    buf[0] = '\0';
    w = snprintf(buf, cap, "(");
    if (w < 0 || (size_t)w >= cap)
        return buf;
    pos = (size_t)w;
    for (i = 0; i < ndim; i++) {
        w = snprintf(buf + pos, cap - pos, "%s%lld", i ? ", " : "",
                     (long long)shape[i]);
        if (w < 0 || (size_t)w >= cap - pos)
            return buf;
        pos += (size_t)w;
    }
    snprintf(buf + pos, cap - pos, "%s)", ndim == 1 ? "," : "");
    return buf;
}

void vst_byteswap(void *data, size_t n, size_t esize)
{
    unsigned char *p = data;
    size_t i, j;

    if (esize < 2)
        return;
    for (i = 0; i < n; i++, p += esize) {
        for (j = 0; j < esize / 2; j++) {
            unsigned char t = p[j];
            p[j] = p[esize - 1 - j];
            p[esize - 1 - j] = t;
        }
    }
}

int vst_check_bools(const uint8_t *p, size_t n, const char *what)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (p[i] > 1)
            return vst_fail(VS_ECORRUPT,
                            "%s: bool element %zu is %u, not 0 or 1", what, i,
                            (unsigned)p[i]);
    }
    return VS_OK;
}

int vst_pwrite_all(int fd, const void *p, size_t len, uint64_t pos)
{
    const unsigned char *b = p;
    while (len > 0) {
        size_t part = len > ((size_t)1 << 30) ? (size_t)1 << 30 : len;
        ssize_t w;
        if (pos > (uint64_t)INT64_MAX - part) {
            errno = EFBIG;
            return -1;
        }
        w = pwrite(fd, b, part, (off_t)pos);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        b += w;
        len -= (size_t)w;
        pos += (uint64_t)w;
    }
    return 0;
}
