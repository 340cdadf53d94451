/* varstore tf/: reading a bundle's .index, an SSTable in LevelDB's layout
 * (TF's lib/io/table format):
 *   data blocks | metaindex block | index block | footer (48 bytes)
 * footer: metaindex and index BlockHandles (varint offset, varint size),
 * zero padding to 40 bytes, then the 8-byte magic 0xdb4775248b80fb57 (LE).
 * Each block is followed by a 5-byte trailer: a compression type byte and
 * the masked CRC32C of the block bytes plus that type byte.
 * A block: entries (varint shared, varint non_shared, varint value_len,
 * the key's non-shared bytes, the value), then uint32 restart offsets and
 * their uint32 count. The index block maps a key >= every key of a data
 * block to that block's handle.
 * The whole file is read and every entry collected: bundles keep one
 * entry per tensor, so an .index is small next to its data. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tf_int.h"

#define FOOTER_LEN 48
#define TRAILER_LEN 5
#define MAGIC 0xdb4775248b80fb57ull
/* An .index larger than this is refused rather than read into memory. */
#define MAX_INDEX_BYTES ((size_t)1 << 30)

typedef struct {
    uint64_t offset, size;
} handle;

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static int corrupt(const char *path, const char *what, uint64_t at)
{
    return vs__fail(VS_ECORRUPT,
                    "%s: not a valid TensorFlow checkpoint index: %s "
                    "(at byte %llu)",
                    path, what, (unsigned long long)at);
}

/* Checks a block handle and its trailer; *body, *n: the block bytes. */
static int block_get(const char *path, const vs__tf_table *t, handle h,
                     const uint8_t **body, size_t *n)
{
    size_t limit = t->len - FOOTER_LEN;
    const uint8_t *b;
    uint32_t stored, actual;
    if (h.offset > limit || h.size > limit - h.offset ||
        TRAILER_LEN > limit - h.offset - h.size)
        return corrupt(path, "block handle beyond the end of the file",
                       h.offset);
    b = t->bytes + h.offset;
    stored = vs__crc32c_unmask(le32(b + h.size + 1));
    actual = vs__crc32c(0, b, (size_t)h.size + 1); /* with the type byte */
    if (stored != actual)
        return vs__fail(VS_ECORRUPT,
                        "%s: block at byte %llu fails its CRC32C check "
                        "(stored 0x%08x, computed 0x%08x)",
                        path, (unsigned long long)h.offset, stored, actual);
    if (b[h.size] == 1)
        /* TF's BundleWriter always builds its table with
         * table::kNoCompression, so a snappy block means another writer. */
        return vs__fail(VS_ECORRUPT,
                        "%s: block at byte %llu is snappy-compressed; "
                        "TensorFlow's bundle writer never compresses its "
                        "index, and snappy blocks are not supported",
                        path, (unsigned long long)h.offset);
    if (b[h.size] != 0)
        return corrupt(path, "unknown block compression type", h.offset);
    *body = b;
    *n = (size_t)h.size;
    return VS_OK;
}

/* Calls fn on each entry of a block, keys rebuilt from shared prefixes. */
typedef int (*entry_fn)(void *ctx, const uint8_t *key, size_t klen,
                        const uint8_t *val, size_t vlen);

typedef struct {
    uint8_t *key;
    size_t len, cap;
} keybuf;

static int key_set(keybuf *k, uint64_t shared, const uint8_t *rest,
                   uint64_t nrest)
{
    size_t need = (size_t)(shared + nrest);
    if (need > k->cap) {
        uint8_t *p = vs__realloc(k->key, need);
        if (p == NULL)
            return vs__fail(VS_ENOMEM, "out of memory reading an index");
        k->key = p;
        k->cap = need;
    }
    if (nrest > 0)
        memcpy(k->key + shared, rest, (size_t)nrest);
    k->len = need;
    return VS_OK;
}

static int block_each(const char *path, const vs__tf_table *t,
                      const uint8_t *b, size_t n, entry_fn fn, void *ctx)
{
    uint64_t at = (uint64_t)(b - t->bytes);
    const uint8_t *p = b, *end;
    uint32_t nrest;
    keybuf k = {NULL, 0, 0};
    int rc = VS_OK;
    if (n < 4)
        return corrupt(path, "block shorter than its restart count", at);
    nrest = le32(b + n - 4);
    if (nrest == 0 || nrest > (n - 4) / 4)
        return corrupt(path, "bad restart array in a block", at);
    end = b + n - 4 - 4 * (size_t)nrest;
    for (uint32_t i = 0; i < nrest; i++)
        if (le32(end + 4 * (size_t)i) > (size_t)(end - b))
            return corrupt(path, "restart point beyond its block", at);
    while (rc == VS_OK && p < end) {
        uint64_t shared, nonshared, vlen;
        if (vs__pb_varint(&p, end, &shared) || vs__pb_varint(&p, end, &nonshared) ||
            vs__pb_varint(&p, end, &vlen) || shared > k.len ||
            nonshared > (uint64_t)(end - p) ||
            vlen > (uint64_t)(end - p) - nonshared) {
            rc = corrupt(path, "malformed block entry",
                         (uint64_t)(p - t->bytes));
            break;
        }
        rc = key_set(&k, shared, p, nonshared);
        if (rc == VS_OK)
            rc = fn(ctx, k.key, k.len, p + nonshared, (size_t)vlen);
        p += nonshared + vlen;
    }
    vs__free(k.key);
    return rc;
}

typedef struct {
    const char *path;
    vs__tf_table *t;
    size_t cap;
    uint64_t next_block; /* data blocks come in file order, never overlap */
    size_t key_bytes, key_budget; /* keys rebuilt so far, and the limit */
} collect_ctx;

static int collect(void *ctx, const uint8_t *key, size_t klen,
                   const uint8_t *val, size_t vlen)
{
    collect_ctx *c = ctx;
    vs__tf_table *t = c->t;
    vs__tf_kv *kv;
    if (t->n > 0) {
        const vs__tf_kv *prev = &t->kv[t->n - 1];
        size_t m = prev->key_len < klen ? prev->key_len : klen;
        int cmp = m ? memcmp(prev->key, key, m) : 0;
        if (cmp > 0 || (cmp == 0 && prev->key_len >= klen))
            return corrupt(c->path, "keys out of order or repeated",
                           (uint64_t)(val - t->bytes));
    }
    if (t->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        vs__tf_kv *p = vs__realloc(t->kv, cap * sizeof *p);
        if (p == NULL)
            return vs__fail(VS_ENOMEM, "out of memory reading %s", c->path);
        t->kv = p;
        c->cap = cap;
    }
    /* Shared prefixes let a few bytes stand for a long key: the rebuilt
     * keys are capped so that a small hostile file cannot take memory
     * quadratic in its size. */
    if (klen > c->key_budget - c->key_bytes)
        return corrupt(c->path, "keys expand to more than 32 times the file",
                       (uint64_t)(val - t->bytes));
    c->key_bytes += klen;
    kv = &t->kv[t->n];
    kv->key = vs__malloc(klen ? klen : 1);
    if (kv->key == NULL)
        return vs__fail(VS_ENOMEM, "out of memory reading %s", c->path);
    if (klen)
        memcpy(kv->key, key, klen);
    kv->key_len = klen;
    kv->val = val;
    kv->val_len = vlen;
    t->n++;
    return VS_OK;
}

static int decode_handle(const uint8_t **p, const uint8_t *end, handle *h)
{
    if (vs__pb_varint(p, end, &h->offset) || vs__pb_varint(p, end, &h->size))
        return -1;
    return 0;
}

/* An index block entry: its value is the handle of a data block. */
static int index_entry(void *ctx, const uint8_t *key, size_t klen,
                       const uint8_t *val, size_t vlen)
{
    collect_ctx *c = ctx;
    const uint8_t *p = val, *body;
    handle h;
    size_t n;
    int rc;
    (void)key;
    (void)klen;
    if (decode_handle(&p, val + vlen, &h) != 0)
        return corrupt(c->path, "malformed block handle in the index block",
                       (uint64_t)(val - c->t->bytes));
    if (h.offset < c->next_block)
        return corrupt(c->path, "data blocks out of order or overlapping",
                       (uint64_t)(val - c->t->bytes));
    rc = block_get(c->path, c->t, h, &body, &n);
    c->next_block = h.offset + h.size + TRAILER_LEN; /* in bounds: checked */
    if (rc == VS_OK)
        rc = block_each(c->path, c->t, body, n, collect, c);
    return rc;
}

static int no_entry(void *ctx, const uint8_t *key, size_t klen,
                    const uint8_t *val, size_t vlen)
{
    (void)ctx, (void)key, (void)klen, (void)val, (void)vlen;
    return VS_OK;
}

int vs__tf_table_parse(const char *path, vs__tf_table *t)
{
    const uint8_t *p, *end, *body;
    handle meta, index;
    size_t n;
    collect_ctx c = {path, t, 0, 0, 0, 0};
    int rc;
    c.key_budget = t->len < ((size_t)1 << 20) ? ((size_t)1 << 25) : 32 * t->len;
    if (t->len < FOOTER_LEN)
        return corrupt(path, "file shorter than the 48-byte footer", 0);
    p = t->bytes + t->len - FOOTER_LEN;
    end = t->bytes + t->len - 8;
    if (((uint64_t)le32(end + 4) << 32 | le32(end)) != MAGIC)
        return corrupt(path, "bad magic number", t->len - 8);
    if (decode_handle(&p, end, &meta) || decode_handle(&p, end, &index))
        return corrupt(path, "malformed footer", t->len - FOOTER_LEN);
    rc = block_get(path, t, meta, &body, &n);
    if (rc == VS_OK)
        rc = block_each(path, t, body, n, no_entry, NULL);
    if (rc == VS_OK)
        rc = block_get(path, t, index, &body, &n);
    if (rc == VS_OK)
        rc = block_each(path, t, body, n, index_entry, &c);
    return rc;
}

static int read_all(const char *path, vs__tf_table *t)
{
    struct stat st;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vs__fail(errno == ENOENT ? VS_ENOTFOUND : VS_EIO,
                        "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return vs__fail(VS_EIO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > MAX_INDEX_BYTES) {
        close(fd);
        return corrupt(path, "index larger than 1 GiB", 0);
    }
    t->len = (size_t)st.st_size;
    t->bytes = vs__malloc(t->len ? t->len : 1);
    if (t->bytes == NULL) {
        close(fd);
        return vs__fail(VS_ENOMEM, "out of memory reading %s", path);
    }
    while (got < t->len) {
        ssize_t r = pread(fd, t->bytes + got, t->len - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            close(fd);
            return vs__fail(VS_EIO, "%s: read failed: %s", path,
                            r < 0 ? strerror(errno) : "file shrank");
        }
        got += (size_t)r;
    }
    close(fd);
    return VS_OK;
}

int vs__tf_table_read(const char *path, vs__tf_table *t)
{
    int rc;
    memset(t, 0, sizeof *t);
    rc = read_all(path, t);
    if (rc == VS_OK)
        rc = vs__tf_table_parse(path, t);
    if (rc != VS_OK)
        vs__tf_table_free(t);
    return rc;
}

void vs__tf_table_free(vs__tf_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++)
        vs__free(t->kv[i].key);
    vs__free(t->kv);
    vs__free(t->bytes);
    memset(t, 0, sizeof *t);
}

static int key_cmp(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    size_t m = na < nb ? na : nb;
    int c = m ? memcmp(a, b, m) : 0;
    if (c != 0)
        return c;
    return na < nb ? -1 : na > nb;
}

const vs__tf_kv *vs__tf_table_find(const vs__tf_table *t, const void *key,
                                   size_t key_len)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(t->kv[mid].key, t->kv[mid].key_len, key, key_len);
        if (c == 0)
            return &t->kv[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
