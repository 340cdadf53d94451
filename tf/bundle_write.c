/* varstore tf/: writing a TensorFlow checkpoint that TF reads: one data
 * shard "<prefix>.data-00000-of-00001" (the tensors' bytes, little-endian,
 * back to back, in key order), "<prefix>.index" (the header entry, then one
 * BundleEntryProto per tensor, keys sorted bytewise) and the folder's
 * `checkpoint` state file naming the prefix (replaced: it lists this
 * checkpoint only).
 * Atomic: every file is written under a temporary name in the destination
 * folder and fsynced; then data, index and state file are renamed into
 * place and the folder fsynced. On a failure the temporary files are
 * removed, and so are files already renamed by this call (a previous
 * checkpoint of the same prefix is then gone too, as its files were
 * replaced). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tf_int.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the TensorFlow checkpoint writer assumes a little-endian host"
#endif

enum { F_DATA, F_INDEX, F_STATE, N_FILES };

typedef struct {
    char *final[N_FILES];
    char *tmp[N_FILES];
    int renamed[N_FILES];
    char *dir;
} files;

static int write_all(int fd, const void *p, size_t n, const char *path)
{
    const char *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return vs__fail(VS_EIO, "%s: write failed: %s", path,
                            w < 0 ? strerror(errno) : "no progress");
        b += w;
        n -= (size_t)w;
    }
    return VS_OK;
}

/* A new temporary file beside final, "<final>.tmp<pid>_<n>"; *fd open
 * for writing. Created 0666 less the umask, as TF's files are (mkstemp
 * would make it 0600). */
static int tmp_open(files *f, int which, int *fd)
{
    static _Atomic unsigned counter;
    for (int tries = 0; tries < 100; tries++) {
        unsigned n = counter++;
        f->tmp[which] = vs__asprintf("%s.tmp%ld_%u", f->final[which],
                                     (long)getpid(), n);
        if (f->tmp[which] == NULL)
            return vs__fail(VS_ENOMEM, "out of memory");
        *fd = open(f->tmp[which], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                   0666);
        if (*fd >= 0)
            return VS_OK;
        if (errno != EEXIST) {
            int rc = vs__fail(VS_EIO, "%s: cannot create: %s", f->tmp[which],
                              strerror(errno));
            vs__free(f->tmp[which]);
            f->tmp[which] = NULL;
            return rc;
        }
        vs__free(f->tmp[which]);
        f->tmp[which] = NULL;
    }
    return vs__fail(VS_EIO, "%s: no free temporary name", f->final[which]);
}

static int tmp_close(int fd, const char *path, int rc)
{
    if (rc == VS_OK && fsync(fd) != 0)
        rc = vs__fail(VS_EIO, "%s: fsync failed: %s", path, strerror(errno));
    if (close(fd) != 0 && rc == VS_OK)
        rc = vs__fail(VS_EIO, "%s: close failed: %s", path, strerror(errno));
    return rc;
}

static int files_init(files *f, const char *prefix)
{
    const char *slash = strrchr(prefix, '/');
    memset(f, 0, sizeof *f);
    f->dir = slash ? vs__strndup(prefix, (size_t)(slash - prefix) + 1)
                   : vs__strdup("./");
    f->final[F_DATA] = vs__tf_data_name(prefix, 0, 1);
    f->final[F_INDEX] = vs__asprintf("%s.index", prefix);
    if (f->dir != NULL)
        f->final[F_STATE] = vs__asprintf("%scheckpoint", f->dir);
    for (int i = 0; i < N_FILES; i++)
        if (f->final[i] == NULL)
            return vs__fail(VS_ENOMEM, "out of memory");
    return VS_OK;
}

static void files_done(files *f, int ok)
{
    for (int i = 0; i < N_FILES; i++) {
        if (!ok && f->tmp[i] != NULL && !f->renamed[i])
            (void)unlink(f->tmp[i]);
        if (!ok && f->renamed[i] && f->final[i] != NULL)
            (void)unlink(f->final[i]);
        vs__free(f->tmp[i]);
        vs__free(f->final[i]);
    }
    vs__free(f->dir);
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    int rc = VS_OK;
    if (fd < 0)
        return vs__fail(VS_EIO, "%s: cannot open: %s", dir, strerror(errno));
    if (fsync(fd) != 0 && errno != EINVAL)
        rc = vs__fail(VS_EIO, "%s: fsync failed: %s", dir, strerror(errno));
    close(fd);
    return rc;
}

/* A final name must not be a folder (its rename would fail after the
 * others had replaced a previous checkpoint) nor a varstore file (an
 * SQLite file, such as a store named `checkpoint` in the folder): both
 * are refused before anything is written. A symbolic link is replaced
 * itself, never what it points to. */
static int targets_check(const files *f)
{
    for (int i = 0; i < N_FILES; i++) {
        struct stat st;
        char head[16] = {0};
        FILE *fp;
        if (lstat(f->final[i], &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            return vs__fail(VS_EIO, "%s: cannot write: it is a folder",
                            f->final[i]);
        if (!S_ISREG(st.st_mode) || (fp = fopen(f->final[i], "rb")) == NULL)
            continue;
        if (fread(head, 1, sizeof head, fp) != sizeof head)
            head[0] = '\0';
        fclose(fp);
        if (memcmp(head, "SQLite format 3", 16) == 0)
            return vs__fail(VS_EEXIST,
                            "%s is a varstore (SQLite) file, not a TensorFlow "
                            "checkpoint file: it is not replaced",
                            f->final[i]);
    }
    return VS_OK;
}

static int commit(files *f)
{
    for (int i = 0; i < N_FILES; i++) {
        if (rename(f->tmp[i], f->final[i]) != 0)
            return vs__fail(VS_EIO, "%s: cannot rename into place: %s",
                            f->final[i], strerror(errno));
        f->renamed[i] = 1;
    }
    return sync_dir(f->dir);
}

typedef struct {
    const char *name;
    const vs_tensor *t;
} item;

static int item_cmp(const void *a, const void *b)
{
    return strcmp(((const item *)a)->name, ((const item *)b)->name);
}

/* Checks the names and sorts them with their tensors (bytewise order). */
static int sort_items(const char *const *names, const vs_tensor *const *t,
                      size_t n, item **out)
{
    item *it = vs__calloc(n + 1, sizeof *it);
    if (it == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (names[i] == NULL || names[i][0] == '\0' || t[i] == NULL) {
            vs__free(it);
            return vs__fail(VS_EINVAL, "tensor %zu: %s", i,
                            t[i] == NULL ? "NULL tensor" : "empty name");
        }
        it[i].name = names[i];
        it[i].t = t[i];
    }
    qsort(it, n, sizeof *it, item_cmp);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(it[i - 1].name, it[i].name) == 0) {
            int rc = vs__fail(VS_EINVAL, "duplicate tensor name '%s'",
                              it[i].name);
            vs__free(it);
            return rc;
        }
    }
    *out = it;
    return VS_OK;
}

/* Writes the tensors' bytes to the data file; fills each entry and its
 * encoded form (ents: n encoded BundleEntryProtos back to back; off[i]
 * where entry i starts, off[n] the end). A bad tensor stops the write. */
static int write_data(int fd, const char *path, const item *it, size_t n,
                      vs__tf_buf *ents, size_t *off)
{
    int64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        const vs_tensor *t = it[i].t;
        vs__tf_entry e;
        size_t nbytes;
        int rc;
        if (vs_shape_check(t->dtype, t->ndim, t->shape, NULL, &nbytes) != VS_OK ||
            (nbytes > 0 && t->data == NULL))
            return vs__fail(VS_EINVAL, "tensor '%s': invalid tensor (dtype, "
                            "shape or data)", it[i].name);
        memset(&e, 0, sizeof e);
        e.tf_dtype = vs__tf_dtype_from_vs(t->dtype);
        e.ndim = t->ndim;
        memcpy(e.shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
        e.offset = pos;
        e.size = (int64_t)nbytes;
        e.crc32c_masked = vs__crc32c_mask(vs__crc32c(0, t->data, nbytes));
        rc = nbytes ? write_all(fd, t->data, nbytes, path) : VS_OK;
        if (rc != VS_OK)
            return rc;
        pos += (int64_t)nbytes;
        off[i] = ents->len;
        vs__tf_entry_encode(&e, ents);
    }
    off[n] = ents->len;
    if (ents->oom)
        return vs__fail(VS_ENOMEM, "out of memory");
    return VS_OK;
}

/* The index table: the header under "", then the entries in name order. */
static int write_index(int fd, const char *path, const item *it, size_t n,
                       const vs__tf_buf *ents, const size_t *off)
{
    vs__tf_buf header = {0}, table = {0};
    vs__tf_kv *kv = vs__calloc(n + 1, sizeof *kv);
    int rc;
    vs__tf_header_encode(&header);
    if (kv == NULL || header.oom) {
        vs__free(kv);
        vs__tfbuf_free(&header);
        return vs__fail(VS_ENOMEM, "out of memory");
    }
    kv[0].key = (uint8_t *)"";
    kv[0].val = header.p;
    kv[0].val_len = header.len;
    for (size_t i = 0; i < n; i++) {
        kv[i + 1].key = (uint8_t *)(uintptr_t)it[i].name;
        kv[i + 1].key_len = strlen(it[i].name);
        kv[i + 1].val = ents->p + off[i];
        kv[i + 1].val_len = off[i + 1] - off[i];
    }
    rc = vs__tf_table_build(kv, n + 1, &table);
    if (rc == VS_OK)
        rc = write_all(fd, table.p, table.len, path);
    vs__tfbuf_free(&table);
    vs__tfbuf_free(&header);
    vs__free(kv);
    return rc;
}

static int write_state(int fd, const char *path, const char *prefix)
{
    const char *slash = strrchr(prefix, '/');
    char *text = vs__tf_state_text(slash ? slash + 1 : prefix);
    int rc;
    if (text == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    rc = write_all(fd, text, strlen(text), path);
    vs__free(text);
    return rc;
}

static int write_files(files *f, const char *prefix, const item *it, size_t n)
{
    vs__tf_buf ents = {0};
    size_t *off = vs__calloc(n + 1, sizeof *off);
    int fd = -1, rc = off ? VS_OK : vs__fail(VS_ENOMEM, "out of memory");
    if (rc == VS_OK)
        rc = tmp_open(f, F_DATA, &fd);
    if (rc == VS_OK)
        rc = tmp_close(fd, f->tmp[F_DATA],
                       write_data(fd, f->tmp[F_DATA], it, n, &ents, off));
    if (rc == VS_OK)
        rc = tmp_open(f, F_INDEX, &fd);
    if (rc == VS_OK)
        rc = tmp_close(fd, f->tmp[F_INDEX],
                       write_index(fd, f->tmp[F_INDEX], it, n, &ents, off));
    if (rc == VS_OK)
        rc = tmp_open(f, F_STATE, &fd);
    if (rc == VS_OK)
        rc = tmp_close(fd, f->tmp[F_STATE],
                       write_state(fd, f->tmp[F_STATE], prefix));
    vs__tfbuf_free(&ents);
    vs__free(off);
    return rc;
}

int vs__tf_write(const char *prefix, const char *const *names,
                 const vs_tensor *const *tensors, size_t n)
{
    files f;
    item *it = NULL;
    size_t plen;
    int rc;
    if (prefix == NULL || (n > 0 && (names == NULL || tensors == NULL)))
        return vs__fail(VS_EINVAL, "vs_tf_write_checkpoint: NULL argument");
    plen = strlen(prefix);
    if (plen == 0 || prefix[plen - 1] == '/')
        return vs__fail(VS_EINVAL,
                        "checkpoint prefix '%s' must name a file prefix "
                        "(\"dir/model.ckpt\"), not a folder", prefix);
    rc = sort_items(names, tensors, n, &it);
    if (rc != VS_OK)
        return rc;
    rc = files_init(&f, prefix);
    if (rc == VS_OK)
        rc = targets_check(&f);
    if (rc == VS_OK)
        rc = write_files(&f, prefix, it, n);
    if (rc == VS_OK)
        rc = commit(&f);
    files_done(&f, rc == VS_OK);
    vs__free(it);
    return rc;
}
