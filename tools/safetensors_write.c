/* varstore tools: writing safetensors files, whole (vst_st_write) or piece
 * by piece (vst_st_create, vst_st_put, vst_st_commit): the header first,
 * then each tensor's bytes in their place, into a temporary file renamed
 * over the destination only when complete. */
#define _GNU_SOURCE /* O_TMPFILE, AT_EMPTY_PATH */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"
#include "utf8.h"
#include "vst.h"

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        char *np;
        while (nc < b->len + n + 1) {
            if (nc > SIZE_MAX / 2) {
                b->oom = 1;
                return;
            }
            nc *= 2;
        }
        np = realloc(b->p, nc);
        if (np == NULL) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf_t *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_json_str(sbuf_t *b, const char *s)
{
    sb_add(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_add(b, e, 2);
        } else if (c < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", c);
            sb_add(b, e, 6);
        } else {
            sb_add(b, s, 1);
        }
    }
    sb_add(b, "\"", 1);
}

struct vst_st_writer {
    char *path, *tmp;
    int fd;
    int anon; /* fd is an O_TMPFILE file: no name until the commit */
    size_t n;
    uint64_t data_start, total; /* header end; data section size */
    uint64_t *off;              /* n tensor offsets in the data section */
    uint64_t *len;              /* n tensor sizes */
    size_t *es;                 /* n element sizes */
};

static void writer_free(vst_st_writer *w)
{
    if (w == NULL)
        return;
    free(w->path);
    free(w->tmp);
    free(w->off);
    free(w->len);
    free(w->es);
    free(w);
}

/* The folder path is in ("." for a bare name); NULL: out of memory. */
static char *dir_of(const char *path)
{
    const char *sl = strrchr(path, '/');
    size_t len = sl == NULL ? 1 : sl == path ? 1 : (size_t)(sl - path);
    char *d = malloc(len + 1);
    if (d == NULL)
        return NULL;
    if (sl == NULL)
        memcpy(d, ".", 1);
    else
        memcpy(d, sl == path ? "/" : path, len);
    d[len] = '\0';
    return d;
}

/* Gives w's O_TMPFILE file the name w->tmp (a fresh one). 0 or errno. */
static int link_anon(vst_st_writer *w)
{
    char proc[64];
    size_t plen = strlen(w->path);
    static _Atomic unsigned long counter;
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", w->fd);
    for (int tries = 0; tries < 100; tries++) {
        snprintf(w->tmp, plen + 64, "%s.tmp-%ld-%lu", w->path,
                 (long)getpid(), counter++);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, w->tmp, AT_SYMLINK_FOLLOW) ==
            0)
            return 0;
        if (errno == EEXIST)
            continue;
#ifdef AT_EMPTY_PATH
        /* without /proc: the direct form (needs CAP_DAC_READ_SEARCH) */
        if (linkat(w->fd, "", AT_FDCWD, w->tmp, AT_EMPTY_PATH) == 0)
            return 0;
#endif
        return errno;
    }
    return EEXIST;
}

/* fsync of the folder path is in, so that its new name is durable.
 * 0 or errno (EINVAL, a folder that cannot be synced, counts as done). */
static int sync_dir_of(const char *path)
{
    char *dir = dir_of(path);
    int fd, e = 0;
    if (dir == NULL)
        return ENOMEM;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return errno;
    if (fsync(fd) != 0 && errno != EINVAL)
        e = errno;
    (void)close(fd); /* read-only: nothing of it to lose */
    return e;
}

/* The descriptions are usable: names set, valid UTF-8, unique, none
 * named __metadata__. */
static int check_desc(const char *path, const vst_st_desc *d, size_t n)
{
    size_t i, j;
    for (i = 0; i < n; i++) {
        if (d[i].name == NULL || (d[i].ndim > 0 && d[i].shape == NULL))
            return vst_fail(VS_EINVAL, "vst_st_create: NULL tensor or name");
        if (!vs__utf8_valid(d[i].name, strlen(d[i].name)))
            return vst_fail(VS_EINVAL,
                            "%s: tensor name is not valid UTF-8", path);
        if (strcmp(d[i].name, "__metadata__") == 0)
            return vst_fail(VS_EINVAL,
                            "%s: a tensor cannot be named '__metadata__'",
                            path);
        for (j = 0; j < i; j++)
            if (strcmp(d[i].name, d[j].name) == 0)
                return vst_fail(VS_EINVAL, "%s: duplicate tensor name '%s'",
                                path, d[i].name);
    }
    return VS_OK;
}

/* A new writer of n tensors to path (no file yet); NULL: out of memory. */
static vst_st_writer *writer_new(const char *path, size_t n)
{
    size_t plen = strlen(path);
    vst_st_writer *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->fd = -1;
    w->n = n;
    w->off = calloc(n + 1, sizeof *w->off);
    w->len = calloc(n + 1, sizeof *w->len);
    w->es = calloc(n + 1, sizeof *w->es);
    w->path = malloc(plen + 1);
    w->tmp = malloc(plen + 64);
    if (w->off == NULL || w->len == NULL || w->es == NULL ||
        w->path == NULL || w->tmp == NULL) {
        writer_free(w);
        return NULL;
    }
    memcpy(w->path, path, plen + 1);
    return w;
}

/* The header's entry of tensor i (at data offset *off, moved past it). */
static int header_entry(vst_st_writer *w, sbuf_t *b, const vst_st_desc *e,
                        size_t i, size_t *off)
{
    const char *dn = vst_st_dtype_name(e->dtype);
    char num[96];
    size_t nbytes;
    int k, rc;
    if (dn == NULL)
        return vst_fail(VS_EDTYPE, "%s: tensor '%s' has an invalid dtype",
                        w->path, e->name);
    rc = vs_shape_check(e->dtype, e->ndim, e->shape, NULL, &nbytes);
    if (rc)
        return vst_fail(rc, "%s: tensor '%s': %s", w->path, e->name,
                        vs_errmsg());
    sb_json_str(b, e->name);
    sb_str(b, ":{\"dtype\":\"");
    sb_str(b, dn);
    sb_str(b, "\",\"shape\":[");
    for (k = 0; k < e->ndim; k++) {
        snprintf(num, sizeof num, "%s%lld", k ? "," : "",
                 (long long)e->shape[k]);
        sb_str(b, num);
    }
    if (nbytes > SIZE_MAX - *off)
        return vst_fail(VS_EINVAL, "%s: total size overflows", w->path);
    snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", *off,
             *off + nbytes);
    sb_str(b, num);
    w->off[i] = *off;
    w->len[i] = nbytes;
    w->es[i] = vs_dtype_size(e->dtype);
    *off += nbytes;
    return VS_OK;
}

/* The JSON header into b (padded with spaces to a multiple of 8, as the
 * reference writer does); w learns each tensor's place and the total. */
static int build_header(vst_st_writer *w, sbuf_t *b, const vst_st_desc *d,
                        const char *const *meta_keys,
                        const char *const *meta_values, size_t n_meta)
{
    size_t i, off = 0;
    int rc = VS_OK;
    sb_str(b, "{");
    if (n_meta > 0) {
        sb_str(b, "\"__metadata__\":{");
        for (i = 0; i < n_meta; i++) {
            if (i)
                sb_str(b, ",");
            sb_json_str(b, meta_keys[i]);
            sb_str(b, ":");
            sb_json_str(b, meta_values[i]);
        }
        sb_str(b, "}");
    }
    for (i = 0; rc == VS_OK && i < w->n; i++) {
        if (i || n_meta)
            sb_str(b, ",");
        rc = header_entry(w, b, &d[i], i, &off);
    }
    sb_str(b, "}");
    while (!b->oom && b->len % 8 != 0)
        sb_str(b, " ");
    if (rc == VS_OK && b->oom)
        rc = vst_fail(VS_ENOMEM, "out of memory");
    if (rc == VS_OK && (uint64_t)off > (uint64_t)INT64_MAX - 8 - b->len)
        rc = vst_fail(VS_EINVAL, "%s: total size overflows", w->path);
    w->data_start = 8 + (uint64_t)b->len;
    w->total = off;
    return rc;
}

/* Opens w->fd: a file with no name (O_TMPFILE) in path's folder, linked
 * under a temporary name and renamed over path by the commit, so that a
 * process killed before it leaves nothing behind; where O_TMPFILE is not
 * supported, a named temporary file beside path. Either is created with
 * mode 0666 less the umask, as fopen would create path itself (mkstemp's
 * 0600 would stay on the renamed file); O_EXCL and a fresh name per try
 * keep a named one private to this call. */
static int open_tmp(vst_st_writer *w)
{
    static _Atomic unsigned long counter;
    size_t plen = strlen(w->path);
    struct stat st;
    unsigned long tries;
    if (stat(w->path, &st) == 0 && S_ISDIR(st.st_mode))
        return vst_fail(VS_EIO, "cannot write '%s': %s", w->path,
                        strerror(EISDIR));
#ifdef O_TMPFILE
    {
        char *dir = dir_of(w->path);
        if (dir == NULL)
            return vst_fail(VS_ENOMEM, "out of memory");
        w->fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
        w->anon = w->fd >= 0;
        free(dir);
    }
#endif
    for (tries = 0; w->fd < 0 && tries < 100; tries++) {
        snprintf(w->tmp, plen + 64, "%s.tmp-%ld-%lu", w->path,
                 (long)getpid(), counter++);
        w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (w->fd < 0 && errno != EEXIST)
            break;
    }
    if (w->fd < 0)
        return vst_fail(VS_EIO, "cannot create a file beside '%s': %s",
                        w->path, strerror(errno));
    return VS_OK;
}

int vst_st_create(const char *path, const vst_st_desc *d, size_t n,
                  const char *const *meta_keys,
                  const char *const *meta_values, size_t n_meta,
                  vst_st_writer **out)
{
    sbuf_t b = {0};
    unsigned char lenb[8];
    vst_st_writer *w;
    int rc, k;

    if (out != NULL)
        *out = NULL;
    if (path == NULL || out == NULL || (n > 0 && d == NULL) ||
        (n_meta > 0 && (meta_keys == NULL || meta_values == NULL)))
        return vst_fail(VS_EINVAL, "vst_st_create: NULL argument");
    rc = check_desc(path, d, n);
    if (rc)
        return rc;
    w = writer_new(path, n);
    if (w == NULL)
        return vst_fail(VS_ENOMEM, "out of memory");
    rc = build_header(w, &b, d, meta_keys, meta_values, n_meta);
    if (rc == VS_OK)
        rc = open_tmp(w);
    if (rc != VS_OK) {
        free(b.p);
        writer_free(w);
        return rc;
    }
    for (k = 0; k < 8; k++)
        lenb[k] = (unsigned char)((uint64_t)b.len >> (8 * k));
    if (vst_pwrite_all(w->fd, lenb, 8, 0) != 0 ||
        vst_pwrite_all(w->fd, b.p, b.len, 8) != 0) {
        rc = vst_fail(VS_EIO, "cannot write '%s': %s", path,
                      strerror(errno));
        free(b.p);
        vst_st_discard(w);
        return rc;
    }
    free(b.p);
    *out = w;
    return VS_OK;
}

int vst_st_put(vst_st_writer *w, size_t i, uint64_t off, const void *data,
               size_t len)
{
    const unsigned char *p = data;
    unsigned char *sw = NULL;
    int rc = VS_OK;
    if (w == NULL || i >= w->n || (len > 0 && data == NULL))
        return vst_fail(VS_EINVAL, "vst_st_put: bad argument");
    if (off > w->len[i] || len > w->len[i] - off ||
        (w->es[i] > 1 && (off % w->es[i] != 0 || len % w->es[i] != 0)))
        return vst_fail(VS_EINVAL,
                        "%s: bytes [%llu, +%zu) do not fit tensor %zu", w->path,
                        (unsigned long long)off, len, i);
    if (len == 0)
        return VS_OK;
    if (!vst_host_little() && w->es[i] > 1) {
        sw = malloc(len);
        if (sw == NULL)
            return vst_fail(VS_ENOMEM, "out of memory");
        memcpy(sw, data, len);
        vst_byteswap(sw, len / w->es[i], w->es[i]);
        p = sw;
    }
    if (vst_pwrite_all(w->fd, p, len, w->data_start + w->off[i] + off) != 0)
        rc = vst_fail(VS_EIO, "cannot write '%s': %s", w->path,
                      strerror(errno));
    free(sw);
    return rc;
}

int vst_st_commit(vst_st_writer *w)
{
    struct stat st;
    int rc = VS_OK, e = 0;
    if (w == NULL)
        return vst_fail(VS_EINVAL, "vst_st_commit: NULL argument");
    /* The file must be exactly header + data long: a last tensor never
     * put leaves it short. (Bytes missing before the end would be a hole
     * of zeros, which only the caller can rule out: restore puts every
     * byte the library checked.) */
    if (fstat(w->fd, &st) != 0) {
        e = errno;
    } else if ((uint64_t)st.st_size != w->data_start + w->total) {
        rc = vst_fail(VS_EIO, "cannot write '%s': %llu bytes written of "
                      "%llu", w->path, (unsigned long long)st.st_size,
                      (unsigned long long)(w->data_start + w->total));
        vst_st_discard(w);
        return rc;
    }
    if (e == 0 && fsync(w->fd) != 0)
        e = errno;
    if (e == 0 && w->anon) {
        e = link_anon(w);
        if (e == 0)
            w->anon = 0; /* it has a name now: w->tmp */
    }
    if (close(w->fd) != 0 && e == 0)
        e = errno;
    w->fd = -1;
    if (e == 0 && rename(w->tmp, w->path) != 0)
        e = errno;
    if (e != 0) {
        rc = vst_fail(VS_EIO, "cannot write '%s': %s", w->path, strerror(e));
        if (!w->anon)
            (void)unlink(w->tmp); /* already failing: best effort */
    } else {
        e = sync_dir_of(w->path);
        if (e != 0)
            rc = vst_fail(VS_EIO, "cannot make '%s' durable: %s", w->path,
                          strerror(e));
    }
    writer_free(w);
    return rc;
}

void vst_st_discard(vst_st_writer *w)
{
    if (w == NULL)
        return;
    if (w->fd >= 0)
        (void)close(w->fd); /* a nameless file is gone with it */
    if (!w->anon)
        (void)unlink(w->tmp); /* best effort: nothing to report to */
    writer_free(w);
}

int vst_st_write(const char *path, const char *const *names,
                 const vs_tensor *const *tensors, size_t n,
                 const char *const *meta_keys, const char *const *meta_values,
                 size_t n_meta)
{
    vst_st_desc *d;
    vst_st_writer *w = NULL;
    size_t i;
    int rc;

    if (path == NULL || (n > 0 && (names == NULL || tensors == NULL)))
        return vst_fail(VS_EINVAL, "vst_st_write: NULL argument");
    for (i = 0; i < n; i++)
        if (names[i] == NULL || tensors[i] == NULL)
            return vst_fail(VS_EINVAL, "vst_st_write: NULL tensor or name");
    d = calloc(n + 1, sizeof *d);
    if (d == NULL)
        return vst_fail(VS_ENOMEM, "out of memory");
    for (i = 0; i < n; i++) {
        d[i].name = names[i];
        d[i].dtype = tensors[i]->dtype;
        d[i].ndim = tensors[i]->ndim;
        d[i].shape = tensors[i]->shape;
    }
    rc = vst_st_create(path, d, n, meta_keys, meta_values, n_meta, &w);
    free(d);
    for (i = 0; rc == VS_OK && i < n; i++)
        rc = vst_st_put(w, i, 0, tensors[i]->data,
                        vs_tensor_nbytes(tensors[i]));
    if (rc != VS_OK) {
        vst_st_discard(w);
        return rc;
    }
    return vst_st_commit(w);
}
