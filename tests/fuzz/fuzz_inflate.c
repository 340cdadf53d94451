/* Fuzz target: the literal-only inflate fast path (store/inflate.c) and
 * the chunk decoder around it, against zlib.
 *
 * Input: 2 bytes of expected output size (little-endian), then a zlib
 * stream. Contract checked:
 * - vs__inflate_literals never reads or writes outside its buffers (ASan);
 * - when it says it decoded the stream (0), zlib's raw inflate of the same
 *   deflate body succeeds, ends where the Adler-32 trailer starts, and
 *   gives the same bytes: the fast path never accepts a stream zlib would
 *   read differently (the trailer itself is the CRC's business);
 * - vs__chunk_decode on a one-plane chunk holding the stream either fails
 *   with VS_ECORRUPT or gives zlib's bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fuzz_common.h"
#include "store_int.h"

/* zlib's raw inflate of in[2..len-4): 1 with *got bytes when the deflate
 * data ends exactly at the trailer. */
static int zlib_body(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                     size_t *got)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (len < 6 || inflateInit2(&z, -15) != Z_OK)
        return 0;
    z.next_in = (Bytef *)(uintptr_t)(in + 2);
    z.avail_in = (uInt)(len - 6);
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int r = inflate(&z, Z_FINISH);
    int ok = r == Z_STREAM_END && z.avail_in == 0;
    *got = z.total_out;
    (void)inflateEnd(&z);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > ((size_t)1 << 20))
        return 0;
    size_t want = (size_t)data[0] | (size_t)data[1] << 8;
    const uint8_t *in = data + 2;
    size_t len = size - 2;
    uint8_t *fast = malloc(want + 1), *ref = malloc(want + 64);
    if (fast == NULL || ref == NULL)
        vs_fuzz_die("malloc", "out of memory");
    if (vs__inflate_literals(in, len, fast, want) == 0) {
        size_t got = 0;
        if (!zlib_body(in, len, ref, want + 64, &got))
            vs_fuzz_die("inflate", "fast path accepted what zlib refuses");
        if (got != want || memcmp(fast, ref, want) != 0)
            vs_fuzz_die("inflate", "fast path and zlib disagree");
    }
    /* The same stream as the one plane of a chunk (element size 1). */
    if (want > 0 && len <= UINT32_MAX) {
        uint8_t *blob = malloc(len + 5);
        char err[256];
        if (blob == NULL)
            vs_fuzz_die("malloc", "out of memory");
        blob[0] = 1; /* zlib plane */
        blob[1] = (uint8_t)len;
        blob[2] = (uint8_t)(len >> 8);
        blob[3] = (uint8_t)(len >> 16);
        blob[4] = (uint8_t)(len >> 24);
        memcpy(blob + 5, in, len);
        int rc = vs__chunk_decode(1, 1, blob, len + 5, fast, want, err,
                                  sizeof err);
        if (rc != VS_OK && rc != VS_ECORRUPT && rc != VS_ENOMEM)
            vs_fuzz_die("chunk", "unexpected error code");
        if (rc == VS_OK) {
            size_t got = 0;
            if (!zlib_body(in, len, ref, want + 64, &got) || got != want ||
                memcmp(fast, ref, want) != 0)
                vs_fuzz_die("chunk", "decoded bytes differ from zlib's");
        }
        free(blob);
    }
    free(fast);
    free(ref);
    return 0;
}
