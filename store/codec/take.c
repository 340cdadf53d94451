/* varstore: a chunk of the caller's bytes, read once. A save reads
 * memory that the caller's other threads may change meanwhile, so
 * everything a chunk's row and blob say (hash, CRC, statistics, encoded
 * planes) must come from one reading of each byte, or the checkpoint
 * would not load again. Each block of VS_STATS_BLOCK bytes is copied into
 * the worker's block buffer, which stays in its first-level cache, and
 * all of those are taken from that copy, the planes shuffled straight
 * into place: one read of the caller's memory and one write of the
 * planes, where a copy of the whole chunk first cost a write and a read
 * of a chunk-sized buffer more (and the faults of its pages). */
#include <string.h>

#include "store_int.h"

int vs__chunk_take(const void *src, size_t n, size_t e, vs_dtype dt,
                   int flags, vs__ws *ws, vs__taken *t)
{
    const size_t bs = VS_STATS_BLOCK; /* a multiple of e (<= 16) and 32 */
    if (e == 0 || n % e != 0 || bs % e != 0)
        return VS_EINVAL;
    if (vs__buf_reserve(&ws->planes, n ? n : 1) != VS_OK ||
        vs__buf_reserve(&ws->blk, bs) != VS_OK)
        return VS_ENOMEM;
    const unsigned char *s = src;
    unsigned char *blk = ws->blk.p;
    vs__hash_state h;
    vs__hash64_init(&h);
    vs__stats c;
    vs__stats_init(&c);
    uint32_t crc = 0;
    size_t at = 0, hashed = 0;
    for (; at < n; at += bs) {
        size_t len = n - at < bs ? n - at : bs;
        memcpy(blk, s + at, len);
        if (flags & VS_TAKE_HASH)
            hashed = vs__hash64_blocks(&h, blk, len);
        crc = vs__crc32(crc, blk, len);
        if (flags & VS_TAKE_STATS)
            vs__stats_add(dt, blk, len, &c);
        vs__shuffle_at(blk, len, e, ws->planes.p, n / e, at / e);
    }
    /* the last block's bytes after its whole 32-byte blocks (still in
     * blk) end the hash */
    size_t last = n == 0 ? 0 : n - (at - bs);
    t->hash = flags & VS_TAKE_HASH
                  ? vs__hash64_final(&h, blk + hashed, last - hashed)
                  : 0;
    t->crc = crc;
    vs__stats_init(&t->stats);
    if (flags & VS_TAKE_STATS)
        vs__stats_merge(&t->stats, &c);
    return VS_OK;
}
