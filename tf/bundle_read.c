/* varstore tf/: an opened TensorFlow checkpoint: the checked .index in
 * memory; tensors read from the .data shards on demand (pread), each one's
 * CRC32C checked; partitioned variables assembled from their slices.
 * A bundle is used by one thread at a time. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tf_int.h"

/* What stat said of a data shard, kept while the bundle is open: each
 * entry is weighed against its shard's size without a stat (nor a file
 * name) of its own. A listing of 20000 tensors took 35 ms with both,
 * 2.8 ms without, as before any check (best of 5). Reads check the file
 * again once it is open. */
typedef struct {
    int64_t shard; /* -1: none yet */
    int err;       /* stat's errno, or 0 */
    int regular;
    int64_t size;
} shard_seen;
#define SEEN_SLOTS 16

struct vs__tf_bundle {
    char *prefix;
    char *index_path;
    vs__tf_table table;
    vs__tf_header header;
    int64_t data_bytes; /* all shards' sizes; -1 until first needed */
    shard_seen seen[SEEN_SLOTS]; /* shard i in slot i % SEEN_SLOTS */
};

int vs__tf_open(const char *path, vs__tf_bundle **out)
{
    vs__tf_bundle *b;
    int rc;
    if (out == NULL || path == NULL)
        return vs__fail(VS_EINVAL, "vs__tf_open: NULL argument");
    *out = NULL;
    b = vs__calloc(1, sizeof *b);
    if (b == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    b->data_bytes = -1;
    for (int i = 0; i < SEEN_SLOTS; i++)
        b->seen[i].shard = -1;
    rc = vs__tf_resolve(path, &b->prefix);
    if (rc == VS_OK) {
        b->index_path = vs__asprintf("%s.index", b->prefix);
        if (b->index_path == NULL)
            rc = vs__fail(VS_ENOMEM, "out of memory");
    }
    if (rc == VS_OK)
        rc = vs__tf_table_read(b->index_path, &b->table);
    if (rc == VS_OK && (b->table.n == 0 || b->table.kv[0].key_len != 0))
        rc = vs__fail(VS_ECORRUPT, "%s: no bundle header entry",
                      b->index_path);
    if (rc == VS_OK)
        rc = vs__tf_header_decode(b->index_path, b->table.kv[0].val,
                                  b->table.kv[0].val_len, &b->header);
    if (rc != VS_OK) {
        vs__tf_close(b);
        return rc;
    }
    *out = b;
    return VS_OK;
}

void vs__tf_close(vs__tf_bundle *b)
{
    if (b == NULL)
        return;
    vs__tf_table_free(&b->table);
    vs__free(b->prefix);
    vs__free(b->index_path);
    vs__free(b);
}

const char *vs__tf_prefix(const vs__tf_bundle *b)
{
    return b->prefix;
}

/* dtype and shape of an entry checked: *dtype, *nbytes. */
static int entry_check(const vs__tf_bundle *b, const char *name,
                       const vs__tf_entry *e, vs_dtype *dtype, size_t *nbytes)
{
    *dtype = vs__tf_dtype_to_vs(e->tf_dtype);
    if (*dtype == 0)
        return vs__fail(VS_EDTYPE,
                        "tensor '%s' has dtype %s, which varstore does not "
                        "support (float32, float64, float16, bfloat16, int8, "
                        "uint8, int32, int64, bool)",
                        name, vs__tf_dtype_name(e->tf_dtype));
    if (vs_shape_check(*dtype, e->ndim, e->shape, NULL, nbytes) != VS_OK)
        return vs__fail(VS_ECORRUPT, "%s: tensor '%s' has an invalid shape",
                        b->index_path, name);
    return VS_OK;
}

/* The bytes of all data shards (missing shards count 0), computed once:
 * no tensor is allocated bigger than the data that could fill it. */
static int data_bytes(vs__tf_bundle *b, int64_t *out)
{
    if (b->data_bytes < 0) {
        int64_t sum = 0;
        for (int64_t i = 0; i < b->header.num_shards; i++) {
            struct stat st;
            char *file = vs__tf_data_name(b->prefix, i, b->header.num_shards);
            if (file == NULL)
                return vs__fail(VS_ENOMEM, "out of memory");
            /* held at INT64_MAX: sparse files may add up beyond it */
            if (stat(file, &st) == 0 && S_ISREG(st.st_mode))
                sum = st.st_size > INT64_MAX - sum ? INT64_MAX
                                                   : sum + st.st_size;
            vs__free(file);
        }
        b->data_bytes = sum;
    }
    *out = b->data_bytes;
    return VS_OK;
}

static int pread_all(int fd, void *dst, size_t n, int64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)dst + got, n - got, (off_t)(off + (int64_t)got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* TF's text for a data file that cannot be opened: "<file>; <reason>". */
static int open_failed(const char *file)
{
    return vs__fail(errno == ENOENT ? VS_ENOTFOUND : VS_EIO, "%s; %s", file,
                    strerror(errno));
}

static int bad_shard(const vs__tf_bundle *b, const char *name,
                     const vs__tf_entry *e)
{
    return vs__fail(VS_ECORRUPT, "%s: tensor '%s' names shard %d of %lld",
                    b->index_path, name, (int)e->shard_id,
                    (long long)b->header.num_shards);
}

/* TF's words for a data file too short for an entry's bytes (TF reads
 * them and finds it short): VS_OK when a file of file_size bytes holds
 * bytes [offset, offset + size). Checked before anything is allocated
 * for the entry: an index may declare any size. */
static int extent_fits(const vs__tf_entry *e, int64_t file_size)
{
    return e->offset >= 0 && e->size >= 0 && e->offset <= file_size &&
           e->size <= file_size - e->offset;
}

static int extent_check(const char *file, const char *name,
                        const vs__tf_entry *e, int64_t file_size)
{
    if (extent_fits(e, file_size))
        return VS_OK;
    return vs__fail(VS_ECORRUPT,
                    "%s: Read less bytes than requested: tensor '%s' is "
                    "%lld bytes at offset %lld, the file holds %lld",
                    file, name, (long long)e->size, (long long)e->offset,
                    (long long)file_size);
}

/* TF's text for an entry whose size is not its shape's (nbytes). */
static int size_check(const vs__tf_bundle *b, const char *name,
                      const vs__tf_entry *e, size_t nbytes)
{
    if (e->size >= 0 && (uint64_t)e->size == nbytes)
        return VS_OK;
    return vs__fail(VS_ECORRUPT,
                    "%s: Invalid size in bundle entry: key %s; stored size "
                    "%lld; expected size %zu",
                    b->index_path, name, (long long)e->size, nbytes);
}

/* What stat says of shard id (named file), kept in slot s. */
static void shard_stat(shard_seen *s, int64_t id, const char *file)
{
    struct stat st;
    s->shard = id;
    s->err = stat(file, &st) != 0 ? errno : 0;
    s->regular = s->err == 0 && S_ISREG(st.st_mode);
    s->size = s->err == 0 ? (int64_t)st.st_size : 0;
}

/* A (non-partitioned) entry of nbytes fits its shard: its size is its
 * shape's and its bytes lie within the shard file (named, as TF names
 * it, when missing). Only stat: nothing is read or allocated. */
static int entry_fits(vs__tf_bundle *b, const char *name,
                      const vs__tf_entry *e, size_t nbytes)
{
    shard_seen *s;
    char *file;
    int rc = size_check(b, name, e, nbytes);
    if (rc != VS_OK)
        return rc;
    if (e->shard_id < 0 || e->shard_id >= b->header.num_shards)
        return bad_shard(b, name, e);
    s = &b->seen[e->shard_id % SEEN_SLOTS];
    if (s->shard == e->shard_id && s->err == 0 && s->regular &&
        extent_fits(e, s->size))
        return VS_OK; /* as most entries: no name built, no stat */
    file = vs__tf_data_name(b->prefix, e->shard_id, b->header.num_shards);
    if (file == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    if (s->shard != e->shard_id)
        shard_stat(s, e->shard_id, file);
    if (s->err != 0) {
        errno = s->err;
        rc = open_failed(file);
    } else if (!s->regular) {
        rc = vs__fail(VS_EIO, "%s: not a regular file", file);
    } else {
        rc = extent_check(file, name, e, s->size);
    }
    vs__free(file);
    return rc;
}

/* A partitioned tensor of nbytes is no bigger than all the data files:
 * its slices (each checked by entry_fits when read) fill it. */
static int slices_fit(vs__tf_bundle *b, const char *name, size_t nbytes)
{
    int64_t avail = 0;
    int rc = data_bytes(b, &avail);
    if (rc == VS_OK && (uint64_t)nbytes > (uint64_t)avail)
        rc = vs__fail(VS_ECORRUPT,
                      "%s: tensor '%s' needs %zu bytes, its data files "
                      "hold %lld",
                      b->index_path, name, nbytes, (long long)avail);
    return rc;
}

/* Reads the nbytes of a (non-partitioned) entry into dst, checked (its
 * size and shard by entry_fits before; the file again once open). */
static int read_data(const vs__tf_bundle *b, const char *name,
                     const vs__tf_entry *e, void *dst, size_t nbytes)
{
    char *file;
    struct stat st;
    uint32_t crc;
    int fd, rc = VS_OK;
    file = vs__tf_data_name(b->prefix, e->shard_id, b->header.num_shards);
    if (file == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    /* O_NONBLOCK: a FIFO in a shard's place is refused, never waited on */
    fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        rc = open_failed(file);
    else if (fstat(fd, &st) != 0)
        rc = vs__fail(VS_EIO, "%s: %s", file, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = vs__fail(VS_EIO, "%s: not a regular file", file);
    else
        rc = extent_check(file, name, e, (int64_t)st.st_size);
    if (rc == VS_OK && nbytes > 0 &&
        pread_all(fd, dst, nbytes, e->offset) != 0)
        rc = vs__fail(VS_EIO, "%s: read failed", file);
    if (fd >= 0)
        close(fd);
    crc = rc == VS_OK ? vs__crc32c(0, dst, nbytes) : 0;
    if (rc == VS_OK && crc != vs__crc32c_unmask(e->crc32c_masked))
        rc = vs__fail(VS_ECORRUPT,
                      "%s: tensor '%s' (%zu bytes): Checksum does not match: "
                      "stored %u vs. calculated on the restored bytes %u",
                      file, name, nbytes, vs__crc32c_unmask(e->crc32c_masked),
                      crc);
    vs__free(file);
    return rc;
}

static int decode_at(const vs__tf_bundle *b, const vs__tf_kv *kv,
                     const char *name, vs__tf_entry *e)
{
    return vs__tf_entry_decode(b->index_path, name, kv->val, kv->val_len, e);
}

static int slices_assemble(vs__tf_bundle *b, const char *name,
                           const vs__tf_entry *full, vs_tensor *t);
static int slices_cover(const vs__tf_bundle *b, const char *name,
                        const vs__tf_entry *full);

/* The entry for a name (":0" rule); *key the name found. */
static const vs__tf_kv *lookup(const vs__tf_bundle *b, const char *name,
                               char **key)
{
    size_t n = strlen(name);
    const vs__tf_kv *kv = n ? vs__tf_table_find(&b->table, name, n) : NULL;
    if (kv == NULL && n > 2 && strcmp(name + n - 2, ":0") == 0)
        kv = vs__tf_table_find(&b->table, name, n - 2);
    if (kv != NULL)
        *key = vs__strndup((const char *)kv->key, kv->key_len);
    return kv;
}

int vs__tf_load(vs__tf_bundle *b, const char *name, vs_tensor **out)
{
    const vs__tf_kv *kv;
    vs__tf_entry e;
    vs_tensor *t = NULL;
    vs_dtype dtype;
    size_t nbytes;
    char *key = NULL;
    int rc;
    if (b == NULL || name == NULL || out == NULL)
        return vs__fail(VS_EINVAL, "vs__tf_load: NULL argument");
    *out = NULL;
    kv = lookup(b, name, &key);
    if (kv == NULL)
        return vs__fail(VS_ENOTFOUND, "Key %s not found in checkpoint", name);
    if (key == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    rc = decode_at(b, kv, key, &e);
    if (rc == VS_OK) {
        rc = entry_check(b, key, &e, &dtype, &nbytes);
        if (rc == VS_OK && e.n_slices > 0)
            rc = slices_cover(b, key, &e);
        if (rc == VS_OK)
            rc = e.n_slices > 0 ? slices_fit(b, key, nbytes)
                                : entry_fits(b, key, &e, nbytes);
        if (rc == VS_OK)
            rc = vs_tensor_new(dtype, e.ndim, e.shape, &t);
        if (rc == VS_OK && e.n_slices > 0)
            rc = slices_assemble(b, key, &e, t);
        else if (rc == VS_OK)
            rc = read_data(b, key, &e, t->data, nbytes);
        vs__tf_entry_clear(&e);
    }
    vs__free(key);
    if (rc != VS_OK) {
        vs_tensor_free(t);
        return rc;
    }
    *out = t;
    return VS_OK;
}

/* ---- partitioned variables ---- */

typedef struct {
    int64_t start[VS_MAX_DIMS], len[VS_MAX_DIMS];
} box;

/* A slice's extents made concrete and checked against the full shape. */
static int slice_box(const vs__tf_bundle *b, const char *name,
                     const vs__tf_entry *full, const vs__tf_slice *s, box *x)
{
    if (s->ndim != full->ndim)
        return vs__fail(VS_ECORRUPT, "%s: a slice of '%s' has rank %d, the "
                        "tensor %d", b->index_path, name, s->ndim, full->ndim);
    for (int d = 0; d < s->ndim; d++) {
        x->start[d] = s->length[d] < 0 ? 0 : s->start[d];
        x->len[d] = s->length[d] < 0 ? full->shape[d] : s->length[d];
        if ((s->length[d] < 0 && s->start[d] != 0) ||
            x->start[d] > full->shape[d] ||
            x->len[d] > full->shape[d] - x->start[d])
            return vs__fail(VS_ECORRUPT,
                            "%s: a slice of '%s' lies outside its shape",
                            b->index_path, name);
    }
    return VS_OK;
}

/* Copies a slice's bytes into t at its box, marking covered elements;
 * 1 when an element is already covered: two slices overlap. */
static int place(vs_tensor *t, uint8_t *mask, const box *x,
                 const uint8_t *src)
{
    int nd = t->ndim;
    size_t es = vs_dtype_size(t->dtype);
    int64_t idx[VS_MAX_DIMS] = {0}, run = nd ? x->len[nd - 1] : 1, rows = 1;
    for (int d = 0; d < nd; d++)
        if (x->len[d] == 0)
            return VS_OK;
    for (int d = 0; d + 1 < nd; d++)
        rows *= x->len[d];
    for (int64_t r = 0; r < rows; r++) {
        int64_t off = 0;
        for (int d = 0; d < nd; d++)
            off = off * t->shape[d] + x->start[d] + (d + 1 < nd ? idx[d] : 0);
        for (int64_t i = 0; i < run; i++) {
            if (mask[off + i])
                return 1;
            mask[off + i] = 1;
        }
        memcpy((uint8_t *)t->data + (size_t)off * es, src, (size_t)run * es);
        src += (size_t)run * es;
        for (int d = nd - 2; d >= 0; d--) {
            if (++idx[d] < x->len[d])
                break;
            idx[d] = 0;
        }
    }
    return VS_OK;
}

/* TF's TensorSlice::DebugString: "start,length" per extent, "-" for a
 * full one, joined by ':'. */
static void slice_text(const vs__tf_slice *s, char *buf, size_t cap)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int d = 0; d < s->ndim && at < cap; d++) {
        int w = s->length[d] < 0
                    ? snprintf(buf + at, cap - at, "%s-", d ? ":" : "")
                    : snprintf(buf + at, cap - at, "%s%lld,%lld",
                               d ? ":" : "", (long long)s->start[d],
                               (long long)s->length[d]);
        if (w < 0)
            break;
        at += (size_t)w;
    }
}

/* TF's text for slices that leave part of the tensor out. */
static int insufficient(const vs__tf_bundle *b, const char *name, int ndim)
{
    vs__tf_slice all = {ndim, {0}, {-1, -1, -1, -1, -1, -1, -1, -1}};
    char spec[VS_MAX_DIMS * 2 + 1];
    slice_text(&all, spec, sizeof spec);
    return vs__fail(VS_ECORRUPT,
                    "%s: Does not have sufficient slices for partitioned "
                    "tensor %s to restore in slice_spec: %s",
                    b->index_path, name, spec);
}

/* TF's text for slice s overlapping an earlier slice of full. */
static int overlapping(const vs__tf_bundle *b, const char *name,
                       const vs__tf_entry *full, const vs__tf_slice *s,
                       const box *x)
{
    char was[VS_MAX_DIMS * 42 + 1] = "", now[VS_MAX_DIMS * 42 + 1];
    for (const vs__tf_slice *o = full->slices; o < s; o++) {
        box y;
        int d = 0;
        if (slice_box(b, name, full, o, &y) != VS_OK)
            continue;
        while (d < s->ndim && y.start[d] < x->start[d] + x->len[d] &&
               x->start[d] < y.start[d] + y.len[d])
            d++;
        if (d == s->ndim) {
            slice_text(o, was, sizeof was);
            break;
        }
    }
    slice_text(s, now, sizeof now);
    return vs__fail(VS_ECORRUPT,
                    "%s: tensor '%s': Overlapping slices: existing slice = "
                    "%s, new slice = %s",
                    b->index_path, name, was, now);
}

/* Before any data is read (as TF's QueryMeta): slices whose elements add
 * up to less than the tensor's leave part of it out. */
static int slices_cover(const vs__tf_bundle *b, const char *name,
                        const vs__tf_entry *full)
{
    vs_dtype dtype = vs__tf_dtype_to_vs(full->tf_dtype);
    int64_t numel = 0, sum = 0;
    int rc = vs_shape_check(dtype, full->ndim, full->shape, &numel, NULL);
    if (rc != VS_OK)
        return rc;
    for (size_t i = 0; i < full->n_slices && sum < numel; i++) {
        box x;
        int64_t vol = 1;
        rc = slice_box(b, name, full, &full->slices[i], &x);
        if (rc != VS_OK)
            return rc;
        for (int d = 0; d < full->ndim; d++)
            vol *= x.len[d]; /* at most numel: every extent is > 0 */
        sum += vol;
    }
    return sum < numel ? insufficient(b, name, full->ndim) : VS_OK;
}

/* Reads one slice (its own entry under the encoded key) into t. */
static int one_slice(vs__tf_bundle *b, const char *name,
                     const vs__tf_entry *full, const vs__tf_slice *s,
                     vs_tensor *t, uint8_t *mask, vs__tf_buf *key)
{
    const vs__tf_kv *kv;
    vs__tf_entry e;
    box x;
    uint8_t *data = NULL;
    size_t nbytes;
    vs_dtype dtype;
    int rc = slice_box(b, name, full, s, &x);
    if (rc == VS_OK)
        rc = vs__tf_slice_key(name, s->ndim, s, key);
    if (rc != VS_OK)
        return rc;
    kv = vs__tf_table_find(&b->table, key->p, key->len);
    if (kv == NULL)
        return vs__fail(VS_ECORRUPT, "%s: a slice of '%s' is missing",
                        b->index_path, name);
    rc = decode_at(b, kv, name, &e);
    if (rc != VS_OK)
        return rc;
    rc = entry_check(b, name, &e, &dtype, &nbytes);
    if (rc == VS_OK && (dtype != t->dtype || e.ndim != t->ndim ||
                        e.n_slices != 0 ||
                        memcmp(e.shape, x.len, sizeof(int64_t) * (size_t)e.ndim)))
        rc = vs__fail(VS_ECORRUPT,
                      "%s: a slice of '%s' does not match its extents",
                      b->index_path, name);
    if (rc == VS_OK)
        rc = entry_fits(b, name, &e, nbytes);
    if (rc == VS_OK) {
        data = vs__malloc(nbytes ? nbytes : 1);
        if (data == NULL)
            rc = vs__fail(VS_ENOMEM, "out of memory");
    }
    if (rc == VS_OK)
        rc = read_data(b, name, &e, data, nbytes);
    if (rc == VS_OK && place(t, mask, &x, data) != 0)
        rc = overlapping(b, name, full, s, &x);
    vs__free(data);
    vs__tf_entry_clear(&e);
    return rc;
}

static int slices_assemble(vs__tf_bundle *b, const char *name,
                           const vs__tf_entry *full, vs_tensor *t)
{
    int64_t numel = vs_tensor_numel(t);
    uint8_t *mask = vs__calloc((size_t)numel + 1, 1);
    vs__tf_buf key = {0};
    int rc = VS_OK;
    if (mask == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    for (size_t i = 0; rc == VS_OK && i < full->n_slices; i++)
        rc = one_slice(b, name, full, &full->slices[i], t, mask, &key);
    for (int64_t i = 0; rc == VS_OK && i < numel; i++)
        if (!mask[i])
            rc = insufficient(b, name, t->ndim);
    vs__tfbuf_free(&key);
    vs__free(mask);
    return rc;
}

/* ---- listing ---- */

static int info_of(vs__tf_bundle *b, const vs__tf_kv *kv,
                   vs_tensor_info *info, int *skip)
{
    vs__tf_entry e;
    vs_dtype dtype;
    size_t nbytes;
    int rc;
    *skip = 0;
    if (memchr(kv->key, '\0', kv->key_len) != NULL)
        return vs__fail(VS_ECORRUPT, "%s: a tensor name holds a NUL byte",
                        b->index_path);
    info->name = vs__strndup((const char *)kv->key, kv->key_len);
    if (info->name == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    rc = decode_at(b, kv, info->name, &e);
    if (rc != VS_OK)
        return rc;
    if (vs__tf_dtype_to_vs(e.tf_dtype) == 0) {
        *skip = 1; /* e.g. TF 2's _CHECKPOINTABLE_OBJECT_GRAPH (string) */
        vs__tf_entry_clear(&e);
        return VS_OK;
    }
    rc = entry_check(b, info->name, &e, &dtype, &nbytes);
    /* what a reader allocates from the listing, its data can fill
     * (TF's words first for slices that leave part of it out) */
    if (rc == VS_OK && e.n_slices > 0)
        rc = slices_cover(b, info->name, &e);
    if (rc == VS_OK)
        rc = e.n_slices > 0 ? slices_fit(b, info->name, nbytes)
                            : entry_fits(b, info->name, &e, nbytes);
    if (rc == VS_OK) {
        info->dtype = dtype;
        info->ndim = e.ndim;
        memcpy(info->shape, e.shape, sizeof e.shape);
        /* not a running product: [2^62, 3, 0] has 0 elements */
        rc = vs_shape_check(dtype, e.ndim, e.shape, &info->numel, NULL);
        /* held at INT64_MAX: a declared shape may need more bytes */
        info->raw_bytes = info->stored_bytes =
            nbytes > (size_t)INT64_MAX ? INT64_MAX : (int64_t)nbytes;
        memcpy(info->codec, "tf-bundle", 10);
    }
    vs__tf_entry_clear(&e);
    return rc;
}

int vs__tf_list(vs__tf_bundle *b, vs_tensor_info **out, size_t *n)
{
    vs_tensor_info *v;
    size_t cnt = 0;
    int rc = VS_OK;
    if (b == NULL || out == NULL || n == NULL)
        return vs__fail(VS_EINVAL, "vs__tf_list: NULL argument");
    *out = NULL;
    *n = 0;
    v = vs__calloc(b->table.n + 1, sizeof *v);
    if (v == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    for (size_t i = 0; rc == VS_OK && i < b->table.n; i++) {
        const vs__tf_kv *kv = &b->table.kv[i];
        int skip;
        if (kv->key_len == 0 || kv->key[0] == '\0')
            continue; /* the header; slices of partitioned variables */
        rc = info_of(b, kv, &v[cnt], &skip);
        if (skip) {
            vs__free(v[cnt].name);
            memset(&v[cnt], 0, sizeof v[cnt]);
        } else {
            cnt++;
        }
    }
    if (rc != VS_OK) {
        vs_tensor_info_free(v, cnt + 1);
        return rc;
    }
    if (cnt == 0) {
        vs__free(v);
        v = NULL;
    }
    *out = v;
    *n = cnt;
    return VS_OK;
}
