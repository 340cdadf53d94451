/* varstore tools: reading the tensors `varstore save` imports, a chunk at
 * a time (save_source.h). Files are read with pread into the library's
 * buffers, never mapped: a mapping's touched pages count in the process's
 * resident size, a pread's do not. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE 1 /* madvise */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#include "npy.h"
#include "save_source.h"
#include "vst.h"

/* Bytes checked at a time by vst_src_check_bools. */
#define BOOL_BUF ((size_t)1 << 20)

void vst_src_init(vst_src_list *l)
{
    memset(l, 0, sizeof *l);
    l->fd = -1;
    l->whole_src = (size_t)-1;
}

static void src_free(vst_src *s)
{
    free(s->name);
    free(s->path);
    free(s->tf_name);
    free(s->what);
}

int vst_src_add(vst_src_list *l, const vst_src *s)
{
    vst_src copy = *s;
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 32;
        vst_src *ns = realloc(l->s, nc * sizeof *ns);
        if (ns == NULL) {
            src_free(&copy);
            return vst_fail(VS_ENOMEM, "out of memory");
        }
        l->s = ns;
        l->cap = nc;
    }
    l->s[l->n++] = copy;
    return VS_OK;
}

void vst_src_close(vst_src_list *l)
{
    if (l->fd >= 0)
        (void)close(l->fd); /* read-only: nothing of it to lose */
    l->fd = -1;
    l->fd_path = NULL;
    vs_tensor_free(l->whole);
    l->whole = NULL;
    l->whole_src = (size_t)-1;
}

void vst_src_free(vst_src_list *l)
{
    size_t i;
    vst_src_close(l);
    for (i = 0; i < l->n; i++)
        src_free(&l->s[i]);
    free(l->s);
    vst_src_init(l);
}

/* s's file is now size bytes, not s->file_size. */
static int src_changed(const vst_src *s, uint64_t size)
{
    return vst_fail(VS_EIO,
                    "'%s' changed while being saved (%llu bytes, %llu when "
                    "checked)",
                    s->path, (unsigned long long)size,
                    (unsigned long long)s->file_size);
}

/* Whether s's file, now as *now, is still the file described: a new
 * size is src_changed's; so is the same size written over in place, or
 * another file put in its place (its times, to the nanosecond, or its
 * inode differ). */
static int src_same(const vst_src *s, const vst_file_id *now)
{
    if (now->size != s->file_size)
        return src_changed(s, now->size);
    if (vst_file_id_same(now, &s->file_id))
        return VS_OK;
    return vst_fail(VS_EIO,
                    "'%s' changed while being saved (written over or "
                    "replaced at the same size, %llu bytes, since it was "
                    "checked)",
                    s->path, (unsigned long long)now->size);
}

/* s's file (the path's, before and after a whole read of it) still the
 * one described. */
static int path_same(const vst_src *s)
{
    vst_file_id now;
    if (vst_path_id(s->path, &now) != 0)
        return vst_fail(VS_EIO, "'%s' changed while being saved (%s)",
                        s->path, strerror(errno));
    return src_same(s, &now);
}

/* s's file open in l->fd, still the file it was when described. */
static int src_open(vst_src_list *l, const vst_src *s)
{
    vst_file_id now;
    if (l->fd >= 0 && strcmp(l->fd_path, s->path) == 0)
        return VS_OK;
    vst_src_close(l);
    l->fd = vst_open_regular_id(s->path, &now);
    if (l->fd < 0)
        return VS_EIO;
    l->fd_path = s->path;
    int rc = src_same(s, &now);
    if (rc != VS_OK) {
        vst_src_close(l);
        return rc;
    }
    /* Advice only: a kernel that ignores it reads the same bytes. */
    (void)posix_fadvise(l->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return VS_OK;
}

/* Bytes [pos, pos + len) of s's file, open as fd, into buf. */
static int fd_pread(int fd, const vst_src *s, uint64_t pos, void *buf,
                    size_t len)
{
    /* The source's page cache is left as it is (as cp does): dropping it
     * would make the caller's next read of those files, or the next save
     * of the same tree, read them from disk again. */
    if (vst_pread_all(fd, buf, len, pos) == 0) {
        /* The file after the read still the one described: bytes read
         * before a change in place are not mixed with bytes after it. */
        vst_file_id now;
        if (vst_fd_id(fd, &now) != 0)
            return vst_fail(VS_EIO, "cannot stat '%s': %s", s->path,
                            strerror(errno));
        return src_same(s, &now);
    }
    int e = errno;
    struct stat st;
    /* An end of file before the bytes (reported as EIO): it was cut short
     * after it was opened, which its size says better than EIO. */
    if (fstat(fd, &st) == 0 && (uint64_t)st.st_size < pos + len)
        return src_changed(s, (uint64_t)st.st_size);
    return vst_fail(VS_EIO, "cannot read '%s': %s", s->path, strerror(e));
}

/* Bytes [pos, pos + len) of s's file into buf. */
static int src_pread(vst_src_list *l, const vst_src *s, uint64_t pos,
                     void *buf, size_t len)
{
    int rc = src_open(l, s);
    return rc != VS_OK ? rc : fd_pread(l->fd, s, pos, buf, len);
}

/* Bools of s at element first..: 0 or 1, else vst_check_bools' error
 * (the element counted from the tensor's start). */
static int check_bools_at(const vst_src *s, const uint8_t *p, size_t n,
                          uint64_t first)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] > 1)
            return vst_fail(VS_ECORRUPT,
                            "%s: bool element %llu is %u, not 0 or 1",
                            s->what, (unsigned long long)(first + i),
                            (unsigned)p[i]);
    return VS_OK;
}

int vst_src_check_bools(vst_src_list *l)
{
    unsigned char *buf = NULL;
    size_t i;
    int rc = VS_OK;
    for (i = 0; i < l->n && rc == VS_OK; i++) {
        const vst_src *s = &l->s[i];
        uint64_t done;
        if (s->dtype != VS_BOOL || s->kind == VST_SRC_TF || s->nbytes == 0)
            continue;
        if (buf == NULL && (buf = malloc(BOOL_BUF)) == NULL)
            rc = vst_fail(VS_ENOMEM, "out of memory");
        for (done = 0; rc == VS_OK && done < s->nbytes;) {
            size_t len = s->nbytes - done < BOOL_BUF ? s->nbytes - done
                                                     : BOOL_BUF;
            rc = src_pread(l, s, s->off + done, buf, len);
            if (rc == VS_OK)
                rc = check_bools_at(s, buf, len, done);
            done += len;
        }
    }
    free(buf);
    vst_src_close(l);
    return rc;
}

/* Source i read whole into l->whole (the previous one freed). */
static int src_whole(vst_src_list *l, size_t i)
{
    const vst_src *s = &l->s[i];
    vs_tensor *t = NULL;
    if (l->whole_src == i)
        return VS_OK;
    vst_src_close(l);
    if (s->kind == VST_SRC_NPY) {
        int rc = path_same(s);
        if (rc == VS_OK)
            rc = vst_npy_read(s->path, &t);
        if (rc == VS_OK && (rc = path_same(s)) != VS_OK)
            vs_tensor_free(t);
        if (rc != VS_OK)
            return rc;
    } else if (vs_tf_load_variable(s->path, s->tf_name, &t) != VS_OK) {
        return vst_fail(VS_EIO, "%s", vs_errmsg());
    }
    if (vs_tensor_nbytes(t) != s->nbytes || t->dtype != s->dtype) {
        vs_tensor_free(t);
        return vst_fail(VS_EIO, "%s changed while being saved", s->what);
    }
    l->whole = t;
    l->whole_src = i;
    return VS_OK;
}

/* Whether bytes [off, off + len) are within s (VS_EINVAL if not). */
static int src_range(const vst_src *s, uint64_t off, size_t len)
{
    if (off > s->nbytes || len > s->nbytes - off)
        return vst_fail(VS_EINVAL, "%s: bytes %llu to %llu asked of %zu",
                        s->what, (unsigned long long)off,
                        (unsigned long long)(off + len), s->nbytes);
    return VS_OK;
}

/* The bytes of a file source just read into buf, as the save takes them:
 * in host byte order, bools checked. */
static int src_fix(const vst_src *s, uint64_t off, void *buf, size_t len)
{
    size_t es = vs_dtype_size(s->dtype);
    if (s->swap && es > 1)
        vst_byteswap(buf, len / es, es);
    return s->dtype == VS_BOOL ? check_bools_at(s, buf, len, off) : VS_OK;
}

static int src_read(vst_src_list *l, size_t i, uint64_t off, void *buf,
                    size_t len)
{
    const vst_src *s = &l->s[i];
    int rc = src_range(s, off, len);
    if (rc != VS_OK)
        return rc;
    if (s->kind != VST_SRC_FILE) {
        rc = src_whole(l, i);
        if (rc == VS_OK)
            memcpy(buf, (const unsigned char *)l->whole->data + off, len);
        /* the last read of it: free it now */
        if (rc == VS_OK && off + len == s->nbytes)
            vst_src_close(l);
        return rc;
    }
    rc = src_pread(l, s, s->off + off, buf, len);
    return rc == VS_OK ? src_fix(s, off, buf, len) : rc;
}

void vst_src_whole_free(vst_src_whole *w)
{
    free(w->t);
    free(w->ptrs);
    free(w->block);
    memset(w, 0, sizeof *w);
}

/* Where each tensor of l starts in one block (64-byte aligned), and the
 * block's size; VS_ENOMEM if that overflows. */
static int whole_layout(const vst_src_list *l, size_t *at, size_t *total)
{
    size_t i, end = 0;
    for (i = 0; i < l->n; i++) {
        size_t n = l->s[i].nbytes;
        if (n > SIZE_MAX - 63 - end)
            return vst_fail(VS_ENOMEM, "out of memory");
        at[i] = end;
        end += (n + 63) & ~(size_t)63;
    }
    *total = end ? end : 64;
    return VS_OK;
}

#if defined(__linux__) && !defined(MADV_POPULATE_WRITE)
#define MADV_POPULATE_WRITE 23 /* linux/mman.h: older C library headers */
#endif

/* Faults the whole pages of a new block in with one call, before the
 * reads write them, instead of one fault per page: 5 MB of fresh memory
 * took 1.9 ms that way against 2.9 ms on the development VM, and a 5 MB
 * `varstore save` 0.4-1.2 ms less (medians of 25, in turns). Advice
 * only: a kernel that refuses it (before Linux 5.14) leaves the faults
 * to the reads. */
static void populate(void *p, size_t n)
{
#ifdef __linux__
    long ps = sysconf(_SC_PAGESIZE);
    uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096;
    uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t end = ((uintptr_t)p + n) & ~(page - 1);
    if (end > a)
        (void)madvise((void *)a, end - a, MADV_POPULATE_WRITE);
#else
    (void)p;
    (void)n;
#endif
}

/* The block (not zero-filled: every byte is read into it) and the
 * tensors that describe it. */
static int whole_alloc(const vst_src_list *l, vst_src_whole *w)
{
    size_t n = l->n ? l->n : 1, total = 0, i;
    size_t *at = calloc(n, sizeof *at);
    int rc = at == NULL ? vst_fail(VS_ENOMEM, "out of memory")
                        : whole_layout(l, at, &total);
    w->t = calloc(n, sizeof *w->t);
    w->ptrs = calloc(n, sizeof *w->ptrs);
    w->block = rc == VS_OK ? aligned_alloc(64, total) : NULL;
    if (w->block != NULL)
        populate(w->block, total);
    if (rc == VS_OK &&
        (w->t == NULL || w->ptrs == NULL || w->block == NULL))
        rc = vst_fail(VS_ENOMEM, "out of memory");
    for (i = 0; i < l->n && rc == VS_OK; i++) {
        const vst_src *s = &l->s[i];
        w->t[i].dtype = s->dtype;
        w->t[i].ndim = s->ndim;
        memcpy(w->t[i].shape, s->shape, sizeof s->shape);
        w->t[i].data = w->block + at[i];
        w->ptrs[i] = &w->t[i];
    }
    free(at);
    return rc;
}

int vst_src_read_all(vst_src_list *l, vst_src_whole *w)
{
    size_t i;
    memset(w, 0, sizeof *w);
    int rc = whole_alloc(l, w);
    for (i = 0; i < l->n && rc == VS_OK; i++)
        if (l->s[i].nbytes > 0)
            rc = src_read(l, i, 0, w->t[i].data, l->s[i].nbytes);
    vst_src_close(l);
    if (rc != VS_OK)
        vst_src_whole_free(w);
    return rc;
}

/* What the read callbacks return: rc, with its message in err. */
static int callback_result(int rc, char *err, size_t err_cap)
{
    if (rc != VS_OK && err != NULL && err_cap > 0)
        snprintf(err, err_cap, "%s", vst_errmsg());
    return rc;
}

/* VS_EINVAL unless i is a tensor of l. */
static int src_index(const vst_src_list *l, size_t i)
{
    return i < l->n ? VS_OK
                    : vst_fail(VS_EINVAL, "no tensor %zu of %zu to read", i,
                               l->n);
}

int vst_src_read(void *ctx, size_t i, uint64_t off, void *buf, size_t len,
                 char *err, size_t err_cap)
{
    vst_src_list *l = ctx;
    int rc = src_index(l, i);
    if (rc == VS_OK)
        rc = src_read(l, i, off, buf, len);
    return callback_result(rc, err, err_cap);
}

int vst_src_share(vst_src_list *l)
{
    size_t i;
    if (l->n == 0)
        return 0;
    for (i = 0; i < l->n; i++)
        if (l->s[i].kind != VST_SRC_FILE ||
            strcmp(l->s[i].path, l->s[0].path) != 0)
            return 0;
    if (src_open(l, &l->s[0]) != VS_OK) {
        vst_src_close(l); /* the ordinary reader reports it */
        return 0;
    }
    return 1;
}

int vst_src_read_shared(void *ctx, size_t i, uint64_t off, void *buf,
                        size_t len, char *err, size_t err_cap)
{
    const vst_src_list *l = ctx; /* only read: safe on any thread */
    int rc = src_index(l, i);
    const vst_src *s = rc == VS_OK ? &l->s[i] : NULL;
    if (rc == VS_OK)
        rc = src_range(s, off, len);
    if (rc == VS_OK)
        rc = fd_pread(l->fd, s, s->off + off, buf, len);
    if (rc == VS_OK)
        rc = src_fix(s, off, buf, len);
    return callback_result(rc, err, err_cap);
}
