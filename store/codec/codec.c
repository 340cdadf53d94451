/* varstore: the chunk codec (byte shuffle + per-plane zlib). Format:
 * docs/FORMAT.md. */
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "store_int.h"

/* ---- shuffle ----------------------------------------------------------- */

/* k elements of e bytes from src into the planes at dst, plane p at
 * dst + p * stride (k <= stride). */
static void shuffle_into(const unsigned char *src, size_t k, size_t e,
                         unsigned char *dst, size_t stride)
{
    if (e == 4) {
        unsigned char *restrict d0 = dst, *restrict d1 = dst + stride,
                                *restrict d2 = dst + 2 * stride,
                                *restrict d3 = dst + 3 * stride;
        const unsigned char *restrict s = src;
        for (size_t i = 0; i < k; i++) {
            d0[i] = s[4 * i];
            d1[i] = s[4 * i + 1];
            d2[i] = s[4 * i + 2];
            d3[i] = s[4 * i + 3];
        }
        return;
    }
    for (size_t p = 0; p < e; p++)
        for (size_t i = 0; i < k; i++)
            dst[p * stride + i] = src[i * e + p];
}

void vs__shuffle_at(const unsigned char *src, size_t len, size_t e,
                    unsigned char *planes, size_t m, size_t at)
{
    shuffle_into(src, len / e, e, planes + at, m);
}

/* The inverse of shuffle, from e plane pointers (each m bytes): planes
 * stored as is are read in place, straight out of the chunk. */
static void unshuffle(const unsigned char *const *pl, unsigned char *dst,
                      size_t m, size_t e)
{
    if (e == 4) {
        /* restrict: the planes never overlap dst (lets the compiler
         * vectorize without run-time overlap checks) */
        const unsigned char *restrict s0 = pl[0], *restrict s1 = pl[1],
                                      *restrict s2 = pl[2],
                                      *restrict s3 = pl[3];
        unsigned char *restrict d = dst;
        for (size_t i = 0; i < m; i++) {
            d[4 * i] = s0[i];
            d[4 * i + 1] = s1[i];
            d[4 * i + 2] = s2[i];
            d[4 * i + 3] = s3[i];
        }
        return;
    }
    for (size_t p = 0; p < e; p++)
        for (size_t i = 0; i < m; i++)
            dst[i * e + p] = pl[p][i];
}

/* The plane pointers of planes (e planes of m bytes, one after another). */
static void plane_ptrs(const unsigned char *planes, size_t m, size_t e,
                       const unsigned char *pl[16])
{
    for (size_t p = 0; p < e; p++)
        pl[p] = planes + p * m;
}

int vs__planes_equal(const unsigned char *planes, const unsigned char *raw,
                     size_t n, size_t e)
{
    size_t m = n / e;
    for (size_t p = 0; p < e; p++)
        for (size_t i = 0; i < m; i++)
            if (planes[p * m + i] != raw[i * e + p])
                return 0;
    return 1;
}

/* Order-0 entropy estimate of a plane of n bytes with histogram hist, in
 * bytes: what Huffman coding can at best reach. */
static double entropy_bytes(const uint32_t *hist, size_t n)
{
    double bits = 0.0, dn = (double)n;
    for (int s = 0; s < 256; s++) {
        if (hist[s] != 0) {
            double c = (double)hist[s];
            bits += c * log2(dn / c);
        }
    }
    return bits / 8.0;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint32_t get32be(const unsigned char *p) /* zlib's Adler-32 trailer */
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

#define PLANE_HDR 5 /* u8 method + u32le stored length */

int vs__buf_reserve(vs__buf *b, size_t n)
{
    if (n <= b->cap && b->p != NULL)
        return VS_OK;
    unsigned char *p = vs__realloc(b->p, n ? n : 1);
    if (p == NULL)
        return VS_ENOMEM;
    b->p = p;
    b->cap = n;
    return VS_OK;
}

void vs__buf_free(vs__buf *b)
{
    vs__free(b->p);
    b->p = NULL;
    b->cap = 0;
}

/* deflateEnd/inflateEnd results are ignored: they only report that a
 * stream was ended mid-way (Z_DATA_ERROR), which is the point of ending
 * it; the memory is freed either way. */
void vs__ws_free(vs__ws *w)
{
    vs__buf_free(&w->planes);
    vs__buf_free(&w->blk);
    if (w->def != NULL) {
        (void)deflateEnd(w->def);
        vs__free(w->def);
        w->def = NULL;
    }
    if (w->inf != NULL) {
        (void)inflateEnd(w->inf);
        vs__free(w->inf);
        w->inf = NULL;
    }
}

size_t vs__chunk_bound(size_t n, size_t e)
{
    return n + PLANE_HDR * (e ? e : 1);
}

/* The worker's deflate stream for level (0: Huffman-only), made or reset;
 * NULL with the reason in err. */
static z_stream *deflate_stream(vs__ws *ws, int level, char *err, size_t cap,
                                int *rc)
{
    int lvl = level != 0 ? level : -100;
    if (ws->def != NULL && ws->def_level != lvl) {
        (void)deflateEnd(ws->def); /* see vs__ws_free */
        vs__free(ws->def);
        ws->def = NULL;
    }
    z_stream *zs = ws->def;
    if (zs != NULL) {
        if (deflateReset(zs) == Z_OK)
            return zs;
        snprintf(err, cap, "zlib deflateReset failed");
        *rc = VS_ERROR;
        return NULL;
    }
    zs = vs__calloc(1, sizeof *zs);
    int strat = level != 0 ? Z_DEFAULT_STRATEGY : Z_HUFFMAN_ONLY;
    if (zs == NULL || deflateInit2(zs, level != 0 ? level : 1, Z_DEFLATED, 15,
                                   8, strat) != Z_OK) {
        snprintf(err, cap, zs == NULL ? "out of memory"
                                      : "zlib deflateInit failed");
        vs__free(zs);
        *rc = VS_ENOMEM;
        return NULL;
    }
    ws->def = zs;
    ws->def_level = lvl;
    return zs;
}

/* Deflates plane pl (m bytes) at dst with zlib into at most m - 1 bytes:
 * 1 when done (*len set), 0 when it does not fit, else a (negative) VS_
 * error code. */
static int zlib_plane(const unsigned char *pl, size_t m, int level,
                      vs__ws *ws, unsigned char *dst, size_t *len, char *err,
                      size_t cap)
{
    int rc = VS_OK;
    z_stream *zs = deflate_stream(ws, level, err, cap, &rc);
    if (zs == NULL)
        return rc;
    zs->next_in = (Bytef *)(uintptr_t)pl;
    zs->avail_in = (uInt)m;
    zs->next_out = dst;
    zs->avail_out = (uInt)(m - 1); /* must save at least a byte */
    int zr = deflate(zs, Z_FINISH);
    if (zr == Z_STREAM_END) {
        *len = zs->total_out;
        return 1;
    }
    if (zr != Z_OK && zr != Z_BUF_ERROR) {
        snprintf(err, cap, "zlib deflate failed (%d)", zr);
        return VS_ERROR;
    }
    return 0;
}

/* Whether a sample of a plane, every stride-th byte, shows it so close
 * to uniform (97.5% of 8 bits of entropy) that the whole plane cannot
 * pass the 3% gate: low mantissa bytes of floats, which then cost a
 * fraction of a full histogram. On data without structure the estimate
 * from a sample is biased low, never high, and 8,192 or more samples put
 * it within a few hundredths of a bit (the bias of the plug-in estimate
 * is about 0.02 bits there, its spread less): 7.8 bits keeps twice that
 * above the gate's 7.76. The stride is the largest odd one up to 17 that
 * still takes that many samples (none below 3: the full histogram is then
 * about as cheap). An odd stride samples every column of rows whose
 * length is a power of two. */
static int sample_incompressible(const unsigned char *pl, size_t m)
{
    enum { MAX_STRIDE = 17, MIN_SAMPLES = 8192 };
    size_t stride = m / MIN_SAMPLES;
    if (stride > MAX_STRIDE)
        stride = MAX_STRIDE;
    if (stride % 2 == 0)
        stride--;
    if (stride < 3)
        return 0;
    uint32_t hist[256] = {0};
    size_t k = 0;
    for (size_t i = 0; i < m; i += stride, k++)
        hist[pl[i]]++;
    return entropy_bytes(hist, k) >= 0.975 * (double)k;
}

/* Planes up to this size that varstore's literal encoder cannot fit are
 * stored without asking zlib: zlib's Huffman-only deflate codes them in
 * one block as well, with the same kind of code, so it could save a few
 * bits at most, and each call costs a reset of its window (tens of KiB
 * of memset: a model's many small vectors paid more for that than for
 * everything else in their encoding). */
#define ZLIB_RETRY_MIN ((size_t)16 << 10)

static atomic_size_t g_zlib_retries;

size_t vs__codec_zlib_retries(void) { return atomic_load(&g_zlib_retries); }

static atomic_size_t g_full_hists;

size_t vs__codec_full_hists(void) { return atomic_load(&g_full_hists); }

/* Level 0's plane encoder: 1 with the stream at dst (*len bytes), 0 when
 * the plane is to be stored. Huffman-only coding cannot beat the order-0
 * entropy, so planes where that saves less than 3% are stored at once.
 * varstore's literal-only encoder (deflate.c) writes the stream; zlib's
 * Huffman-only deflate is the fallback should that decline on a plane
 * larger than ZLIB_RETRY_MIN (where zlib's own block boundaries might
 * fit it). */
static int huffman_plane(const unsigned char *pl, size_t m, vs__ws *ws,
                         unsigned char *dst, size_t *len, char *err,
                         size_t cap)
{
    vs__plane_hist h;
    if (sample_incompressible(pl, m))
        return 0;
    atomic_fetch_add_explicit(&g_full_hists, 1, memory_order_relaxed);
    vs__plane_hist_count(&h, pl, m);
    if (entropy_bytes(h.all, m) >= 0.97 * (double)m)
        return 0;
    *len = vs__deflate_literals(pl, m, &h, dst, m - 1);
    if (*len != 0)
        return 1;
    if (m <= ZLIB_RETRY_MIN)
        return 0;
    atomic_fetch_add(&g_zlib_retries, 1);
    return zlib_plane(pl, m, 0, ws, dst, len, err, cap);
}

/* Encodes plane pl (m bytes) at dst: deflated when that saves at least a
 * byte, else stored. *method and *len say which and how long. */
static int encode_plane(const unsigned char *pl, size_t m,
                        const vs__codec_opts *o, vs__ws *ws,
                        unsigned char *dst, int *method, size_t *len,
                        char *err, size_t cap)
{
    int rc = o->level == 0
                 ? huffman_plane(pl, m, ws, dst, len, err, cap)
                 : zlib_plane(pl, m, o->level, ws, dst, len, err, cap);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        *method = VS_PLANE_ZLIB;
        return VS_OK;
    }
    *method = VS_PLANE_STORED;
    *len = m;
    memcpy(dst, pl, m);
    return VS_OK;
}

/* The chunk stored as it is. */
static int encode_raw(const void *raw, size_t n, unsigned char *b, int *codec,
                      size_t *out_len)
{
    if (n > 0)
        memcpy(b, raw, n);
    *codec = VS_CHUNK_RAW;
    *out_len = n;
    return VS_OK;
}

/* Whether n bytes of elements of e bytes make a chunk, and the room for
 * its encoding in ob: VS_OK, or the error in err. */
static int encode_room(size_t n, size_t e, vs__buf *ob, char *err,
                       size_t cap)
{
    if (e == 0 || e > 16 || n % e != 0 || n > (size_t)UINT32_MAX) {
        snprintf(err, cap, "invalid chunk size %zu for element size %zu", n,
                 e);
        return VS_EINVAL;
    }
    if (vs__buf_reserve(ob, PLANE_HDR * e + n) != VS_OK) {
        snprintf(err, cap, "out of memory");
        return VS_ENOMEM;
    }
    return VS_OK;
}

/* Whether a chunk of n bytes (m elements) is stored as it is anyway. */
static int stored_whole(const vs__codec_opts *o, size_t n, size_t m)
{
    return o->raw_only || n == 0 || m < 64;
}

/* The chunk whose planes are at planes stored as it is: its bytes are
 * raw, or (raw NULL) the planes put back in order. */
static int encode_raw_planes(const unsigned char *planes,
                             const unsigned char *raw, size_t n, size_t e,
                             unsigned char *b, int *codec, size_t *out_len)
{
    if (raw != NULL || e == 1)
        return encode_raw(raw != NULL ? raw : planes, n, b, codec, out_len);
    const unsigned char *pl[16];
    plane_ptrs(planes, n / e, e, pl);
    unshuffle(pl, b, n / e, e);
    *codec = VS_CHUNK_RAW;
    *out_len = n;
    return VS_OK;
}

/* Encodes the planes of a chunk (n bytes, elements of e) into b, which
 * has room for the header and n bytes; raw is the chunk in order, or
 * NULL. */
static int encode_planes(const unsigned char *planes,
                         const unsigned char *raw, size_t n, size_t e,
                         const vs__codec_opts *o, vs__ws *ws,
                         unsigned char *b, int *codec, size_t *out_len,
                         char *err, size_t cap)
{
    size_t m = n / e, pos = PLANE_HDR * e;
    for (size_t p = 0; p < e; p++) {
        int method;
        size_t len;
        int rc = encode_plane(planes + p * m, m, o, ws, b + pos, &method,
                              &len, err, cap);
        if (rc != VS_OK)
            return rc;
        b[PLANE_HDR * p] = (unsigned char)method;
        put32(b + PLANE_HDR * p + 1, (uint32_t)len);
        pos += len;
    }
    if (pos >= n) /* nothing paid: store the chunk as is */
        return encode_raw_planes(planes, raw, n, e, b, codec, out_len);
    *codec = VS_CHUNK_SHUFFLE_ZLIB;
    *out_len = pos;
    return VS_OK;
}

int vs__chunk_encode_ws(const void *raw, size_t n, size_t e,
                        const vs__codec_opts *o, vs__ws *ws, vs__buf *ob,
                        int *codec, size_t *out_len, char *err, size_t cap)
{
    *out_len = 0;
    int rc = encode_room(n, e, ob, err, cap);
    if (rc != VS_OK)
        return rc;
    if (stored_whole(o, n, n / e))
        return encode_raw(raw, n, ob->p, codec, out_len);
    if (e > 1 && vs__buf_reserve(&ws->planes, n) != VS_OK) {
        snprintf(err, cap, "out of memory");
        return VS_ENOMEM;
    }
    const unsigned char *planes = e > 1 ? ws->planes.p : raw;
    if (e > 1)
        shuffle_into(raw, n / e, e, ws->planes.p, n / e);
    return encode_planes(planes, raw, n, e, o, ws, ob->p, codec, out_len,
                         err, cap);
}

int vs__chunk_encode_planes(size_t n, size_t e, const vs__codec_opts *o,
                            vs__ws *ws, vs__buf *ob, int *codec,
                            size_t *out_len, char *err, size_t cap)
{
    *out_len = 0;
    int rc = encode_room(n, e, ob, err, cap);
    if (rc != VS_OK)
        return rc;
    if (stored_whole(o, n, n / e))
        return encode_raw_planes(ws->planes.p, NULL, n, e, ob->p, codec,
                                 out_len);
    return encode_planes(ws->planes.p, NULL, n, e, o, ws, ob->p, codec,
                         out_len, err, cap);
}

static int inflate_plane(vs__ws *ws, const unsigned char *src, size_t len,
                         unsigned char *dst, size_t m, char *err, size_t cap)
{
    /* The streams varstore writes decode on the fast path; anything else
     * (or damage) goes through zlib. */
    if (len <= UINT32_MAX && vs__inflate_literals(src, len, dst, m) == 0 &&
        (!ws->strict || vs__adler32(1, dst, m) == get32be(src + len - 4)))
        return VS_OK;
    /* zlib decodes again and names what is wrong (a bad trailer is
     * "incorrect data check"). */
    z_stream *zs = ws->inf;
    if (zs == NULL) {
        zs = vs__calloc(1, sizeof *zs);
        if (zs == NULL || inflateInit(zs) != Z_OK) {
            vs__free(zs);
            snprintf(err, cap, "zlib inflateInit failed");
            return VS_ENOMEM;
        }
        ws->inf = zs;
    } else if (inflateReset(zs) != Z_OK) {
        snprintf(err, cap, "zlib inflateReset failed");
        return VS_ERROR;
    }
    zs->next_in = (Bytef *)(uintptr_t)src;
    zs->avail_in = (uInt)len;
    zs->next_out = dst;
    zs->avail_out = (uInt)m;
    int zr = inflate(zs, Z_FINISH);
    if (zr != Z_STREAM_END || zs->total_out != m || zs->avail_in != 0) {
        if (zr == Z_MEM_ERROR) {
            snprintf(err, cap, "out of memory in zlib inflate");
            return VS_ENOMEM;
        }
        snprintf(err, cap, "inflate error (%s)",
                 zr == Z_STREAM_END ? "wrong length"
                 : zs->msg != NULL  ? zs->msg
                                    : "truncated stream");
        return VS_ECORRUPT;
    }
    return VS_OK;
}

int vs__chunk_decode(int codec, size_t e, const unsigned char *blob,
                     size_t blob_len, void *dst, size_t raw_len, char *err,
                     size_t cap)
{
    vs__ws ws;
    memset(&ws, 0, sizeof ws);
    int rc = vs__chunk_decode_ws(codec, e, blob, blob_len, dst, raw_len, &ws,
                                 err, cap);
    vs__ws_free(&ws);
    return rc;
}

int vs__chunk_decode_ws(int codec, size_t e, const unsigned char *blob,
                        size_t blob_len, void *dst, size_t raw_len,
                        vs__ws *ws, char *err, size_t cap)
{
    vs__buf *pb = &ws->planes;
    if (codec == VS_CHUNK_RAW) {
        if (blob_len != raw_len) {
            snprintf(err, cap, "raw chunk holds %zu bytes, expected %zu",
                     blob_len, raw_len);
            return VS_ECORRUPT;
        }
        if (raw_len > 0)
            memcpy(dst, blob, raw_len);
        return VS_OK;
    }
    if (codec != VS_CHUNK_SHUFFLE_ZLIB) {
        snprintf(err, cap, "unknown chunk codec %d", codec);
        return VS_ECORRUPT;
    }
    if (e == 0 || e > 16 || raw_len % e != 0 || raw_len > UINT32_MAX) {
        snprintf(err, cap, "chunk of %zu bytes with element size %zu",
                 raw_len, e);
        return VS_ECORRUPT;
    }
    size_t hdr = PLANE_HDR * e, m = raw_len / e;
    if (blob_len < hdr) {
        snprintf(err, cap, "chunk header truncated (%zu bytes)", blob_len);
        return VS_ECORRUPT;
    }
    size_t total = hdr;
    for (size_t p = 0; p < e; p++) {
        int method = blob[PLANE_HDR * p];
        size_t len = get32(blob + PLANE_HDR * p + 1);
        if ((method != VS_PLANE_STORED && method != VS_PLANE_ZLIB) ||
            (method == VS_PLANE_STORED && len != m) || len > blob_len) {
            snprintf(err, cap, "bad plane %zu header", p);
            return VS_ECORRUPT;
        }
        total += len;
    }
    if (total != blob_len) {
        snprintf(err, cap, "planes hold %zu bytes, chunk has %zu", total,
                 blob_len);
        return VS_ECORRUPT;
    }
    /* Deflated planes go to a scratch buffer (or straight to dst when
     * e == 1); stored ones are read where they are. */
    unsigned char *planes = dst;
    if (e > 1) {
        if (vs__buf_reserve(pb, raw_len) != VS_OK) {
            snprintf(err, cap, "out of memory");
            return VS_ENOMEM;
        }
        planes = pb->p;
    }
    const unsigned char *from[16]; /* e <= 16, checked above */
    int rc = VS_OK;
    size_t pos = hdr;
    for (size_t p = 0; p < e && rc == VS_OK; p++) {
        int method = blob[PLANE_HDR * p];
        size_t len = get32(blob + PLANE_HDR * p + 1);
        if (method == VS_PLANE_STORED) {
            from[p] = blob + pos;
            if (e == 1)
                memcpy(dst, blob + pos, m);
        } else {
            rc = inflate_plane(ws, blob + pos, len, planes + p * m, m, err,
                               cap);
            from[p] = planes + p * m;
        }
        pos += len;
    }
    if (rc == VS_OK && e > 1)
        unshuffle(from, dst, m, e);
    return rc;
}
