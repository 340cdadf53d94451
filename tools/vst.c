/* varstore tools: the tools' thread-local error message and small helpers
 * (byte order, opening a regular file, shape text, byte swapping, whole
 * pwrites). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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

int vst_host_little(void)
{
    const uint16_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 1;
}

/* vst_fail(VS_EIO) with the message, closing fd if >= 0; returns -1. */
static int open_fail(int fd, const char *fmt, const char *path, int e)
{
    if (fd >= 0)
        (void)close(fd); /* opened read-only and unused: nothing to lose */
    vst_fail(VS_EIO, fmt, path, strerror(e));
    return -1;
}

static void id_of(const struct stat *st, vst_file_id *id)
{
    memset(id, 0, sizeof *id);
    id->dev = (uint64_t)st->st_dev;
    id->ino = (uint64_t)st->st_ino;
    id->size = (uint64_t)st->st_size;
    id->mtime_sec = (int64_t)st->st_mtim.tv_sec;
    id->mtime_nsec = (int64_t)st->st_mtim.tv_nsec;
    id->ctime_sec = (int64_t)st->st_ctim.tv_sec;
    id->ctime_nsec = (int64_t)st->st_ctim.tv_nsec;
}

int vst_fd_id(int fd, vst_file_id *id)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    id_of(&st, id);
    return 0;
}

int vst_path_id(const char *path, vst_file_id *id)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    id_of(&st, id);
    return 0;
}

int vst_file_id_same(const vst_file_id *a, const vst_file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec &&
           a->ctime_sec == b->ctime_sec && a->ctime_nsec == b->ctime_nsec;
}

int vst_open_regular_id(const char *path, vst_file_id *id)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), fl;
    if (fd < 0)
        return open_fail(fd, "cannot open '%s': %s", path, errno);
    if (fstat(fd, &st) != 0)
        return open_fail(fd, "cannot stat '%s': %s", path, errno);
    if (!S_ISREG(st.st_mode)) {
        (void)close(fd); /* read-only and unused */
        vst_fail(VS_EIO, "'%s' is not a regular file", path);
        return -1;
    }
    fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
        return open_fail(fd, "cannot open '%s': %s", path, errno);
    if (id != NULL)
        id_of(&st, id);
    return fd;
}

int vst_open_regular(const char *path, uint64_t *size)
{
    vst_file_id id;
    int fd = vst_open_regular_id(path, &id);
    if (fd >= 0 && size != NULL)
        *size = id.size;
    return fd;
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


/* pread (wr 0) or pwrite (wr 1) of all of p[0..len) at pos: again after
 * EINTR and short transfers. 0, or -1 with errno set (EIO: no progress). */
static int io_all(int fd, unsigned char *b, size_t len, uint64_t pos, int wr)
{
    while (len > 0) {
        size_t part = len > ((size_t)1 << 30) ? (size_t)1 << 30 : len;
        ssize_t r;
        if (pos > (uint64_t)INT64_MAX - part) {
            errno = EFBIG;
            return -1;
        }
        r = wr ? pwrite(fd, b, part, (off_t)pos)
               : pread(fd, b, part, (off_t)pos);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO;
            return -1;
        }
        b += r;
        len -= (size_t)r;
        pos += (uint64_t)r;
    }
    return 0;
}

int vst_pread_all(int fd, void *p, size_t len, uint64_t pos)
{
    return io_all(fd, p, len, pos, 0);
}

int vst_pwrite_all(int fd, const void *p, size_t len, uint64_t pos)
{
    return io_all(fd, (unsigned char *)(uintptr_t)p, len, pos, 1);
}
