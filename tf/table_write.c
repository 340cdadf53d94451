/* varstore tf/: writing a bundle's .index table (the layout described in
 * table_read.c), as TF's TableBuilder does with its bundle options: no
 * compression, a restart point every 16 keys, data blocks cut at 256 KiB,
 * one restart per index entry. An index entry's key is a short key >= every
 * key of its block and < the next block's first key: the last key cut
 * after its first byte that can be raised (LevelDB's bytewise shortest
 * separator / short successor), so that the bytes equal TF's. */
#include <string.h>

#include "tf_int.h"

#define RESTART_INTERVAL 16
#define BLOCK_TARGET (256u * 1024u)

typedef struct {
    vs__tf_buf body;
    uint32_t *restarts;
    size_t n_restarts, cap_restarts;
    size_t count; /* entries since the last restart */
    const uint8_t *last;
    size_t last_len;
    int oom;
} block;

static void block_reset(block *b)
{
    b->body.len = 0;
    b->n_restarts = 0;
    b->count = 0;
    b->last = NULL;
    b->last_len = 0;
}

static void add_restart(block *b)
{
    if (b->n_restarts == b->cap_restarts) {
        size_t cap = b->cap_restarts ? 2 * b->cap_restarts : 16;
        uint32_t *p = vs__realloc(b->restarts, cap * sizeof *p);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->restarts = p;
        b->cap_restarts = cap;
    }
    b->restarts[b->n_restarts++] = (uint32_t)b->body.len;
}

static void block_add(block *b, int interval, const uint8_t *key, size_t klen,
                      const uint8_t *val, size_t vlen)
{
    size_t shared = 0;
    if (b->n_restarts == 0 || b->count == (size_t)interval) {
        add_restart(b);
        b->count = 0;
    } else {
        while (shared < klen && shared < b->last_len &&
               key[shared] == b->last[shared])
            shared++;
    }
    vs__tfbuf_varint(&b->body, shared);
    vs__tfbuf_varint(&b->body, klen - shared);
    vs__tfbuf_varint(&b->body, vlen);
    vs__tfbuf_put(&b->body, key + shared, klen - shared);
    vs__tfbuf_put(&b->body, val, vlen);
    b->last = key;
    b->last_len = klen;
    b->count++;
}

/* Appends the block (restarts, count, trailer) to out; *h its handle. */
static void block_flush(block *b, vs__tf_buf *out, uint64_t h[2])
{
    size_t start;
    uint32_t crc;
    if (b->n_restarts == 0)
        add_restart(b); /* an empty block still has restart 0 */
    for (size_t i = 0; i < b->n_restarts; i++)
        vs__tfbuf_fixed32(&b->body, b->restarts[i]);
    vs__tfbuf_fixed32(&b->body, (uint32_t)b->n_restarts);
    start = out->len;
    vs__tfbuf_put(out, b->body.p, b->body.len);
    h[0] = start;
    h[1] = b->body.len;
    vs__tfbuf_put(out, "\0", 1); /* no compression */
    if (!out->oom) {
        crc = vs__crc32c(0, out->p + start, b->body.len + 1);
        vs__tfbuf_fixed32(out, vs__crc32c_mask(crc));
    }
    block_reset(b);
}

/* The index key of a block whose last key is last (len n), the next
 * block's first key next (NULL after the last block), into out (cap n). */
static size_t index_key(const uint8_t *last, size_t n, const uint8_t *next,
                        size_t nn, uint8_t *out)
{
    size_t i = 0;
    if (n > 0)
        memcpy(out, last, n);
    if (next != NULL) {
        while (i < n && i < nn && last[i] == next[i])
            i++;
        if (i < n && i < nn && last[i] < 0xff && last[i] + 1 < next[i]) {
            out[i]++;
            return i + 1;
        }
        return n;
    }
    for (; i < n; i++) {
        if (last[i] != 0xff) {
            out[i]++;
            return i + 1;
        }
    }
    return n;
}

static void index_add(block *index, vs__tf_buf *keys, const vs__tf_kv *last,
                      const vs__tf_kv *next, const uint64_t h[2])
{
    uint8_t tmp[20];
    vs__tf_buf v = {tmp, 0, sizeof tmp, 0};
    size_t at = keys->len, klen;
    vs__tfbuf_varint(&v, h[0]);
    vs__tfbuf_varint(&v, h[1]);
    vs__tfbuf_put(keys, last->key, last->key_len); /* room for the key */
    if (keys->oom)
        return;
    klen = index_key(last->key, last->key_len, next ? next->key : NULL,
                     next ? next->key_len : 0, keys->p + at);
    keys->len = at + klen;
    /* block_add keeps a pointer to the previous key: keys must not move */
    block_add(index, 1, keys->p + at, klen, tmp, v.len);
}

static void footer(vs__tf_buf *out, const uint64_t meta[2],
                   const uint64_t idx[2])
{
    uint8_t tmp[48];
    vs__tf_buf f = {tmp, 0, sizeof tmp, 0};
    memset(tmp, 0, sizeof tmp);
    vs__tfbuf_varint(&f, meta[0]);
    vs__tfbuf_varint(&f, meta[1]);
    vs__tfbuf_varint(&f, idx[0]);
    vs__tfbuf_varint(&f, idx[1]);
    f.len = 40;
    vs__tfbuf_fixed32(&f, 0x8b80fb57u);
    vs__tfbuf_fixed32(&f, 0xdb477524u);
    vs__tfbuf_put(out, tmp, sizeof tmp);
}

int vs__tf_table_build(const vs__tf_kv *kv, size_t n, vs__tf_buf *out)
{
    block data = {0}, index = {0};
    vs__tf_buf keys = {0};
    uint64_t h[2], meta[2];
    size_t key_total = 0;
    int rc = VS_OK;
    for (size_t i = 0; i < n; i++)
        key_total += kv[i].key_len;
    /* all index keys in one buffer, allocated once so that it never moves */
    keys.p = vs__malloc(key_total + 1);
    keys.cap = key_total + 1;
    keys.oom = keys.p == NULL;
    for (size_t i = 0; i < n; i++) {
        block_add(&data, RESTART_INTERVAL, kv[i].key, kv[i].key_len,
                  kv[i].val, kv[i].val_len);
        /* TF's size estimate: entries, restart array and its count */
        if (data.body.len + 4 * data.n_restarts + 4 >= BLOCK_TARGET ||
            i + 1 == n) {
            block_flush(&data, out, h);
            index_add(&index, &keys, &kv[i], i + 1 < n ? &kv[i + 1] : NULL, h);
        }
    }
    block_flush(&data, out, meta); /* the (empty) metaindex block */
    block_flush(&index, out, h);
    footer(out, meta, h);
    if (out->oom || data.oom || index.oom || data.body.oom || index.body.oom ||
        keys.oom)
        rc = vs__fail(VS_ENOMEM, "out of memory building a checkpoint index");
    vs__tfbuf_free(&keys);
    vs__tfbuf_free(&data.body);
    vs__tfbuf_free(&index.body);
    vs__free(data.restarts);
    vs__free(index.restarts);
    return rc;
}
