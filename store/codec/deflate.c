/* varstore: the codec's deflate encoder for byte planes (literals only).
 *
 * What zlib's deflate with Z_HUFFMAN_ONLY writes, several times faster: a
 * zlib stream (RFC 1950: header 78 01, Adler-32 trailer) of dynamic-
 * Huffman deflate blocks (RFC 1951 3.2.7) holding only literals and the
 * end-of-block code. The literal code is built from the plane's byte
 * histogram (which the codec counts anyway for its entropy gate), limited
 * to 14 bits. Where the bytes change along the plane, it is split into
 * several blocks, each with its own code. A stream that would not fit in
 * the room given is abandoned (the codec then stores the plane). Any
 * inflater decodes the result; varstore's own (inflate.c) takes its fast
 * path on it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "store_int.h"

#define MAX_BITS 15    /* longest code deflate allows */
#define LIT_MAX_BITS 14 /* longest literal code written: 4 fit in 63 bits */
#define CL_MAX_BITS 7  /* longest code-length code */
#define N_LIT 257      /* literals 0-255 and end-of-block (256) */
#define N_DIST 2       /* two distance codes of length 1, never used */
#define N_CL 19        /* code-length alphabet */
#define N_TOK (N_LIT + N_DIST)

/* ---- histogram --------------------------------------------------------- */

void vs__byte_hist(const unsigned char *p, size_t n, uint32_t hist[256])
{
    /* Eight tables, one per byte of an 8-byte load: runs of one byte
     * value (a plane of exponents is mostly a few values) would
     * otherwise serialize on one counter. */
    uint32_t h[8][256];
    memset(h, 0, sizeof h);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v = vs__load_le64(p + i);
        for (int k = 0; k < 8; k++)
            h[k][(v >> (8 * k)) & 0xff]++;
    }
    for (; i < n; i++)
        h[0][p[i]]++;
    for (int s = 0; s < 256; s++) {
        uint32_t t = 0;
        for (int k = 0; k < 8; k++)
            t += h[k][s];
        hist[s] = t;
    }
}

void vs__plane_hist_count(vs__plane_hist *h, const unsigned char *p,
                          size_t n)
{
    /* Segments of at least 16 KiB (zlib's blocks hold 16 Ki symbols), at
     * most VS_HIST_SEGS of them. */
    size_t seg = n / VS_HIST_SEGS + (n % VS_HIST_SEGS != 0);
    if (seg < ((size_t)16 << 10))
        seg = (size_t)16 << 10;
    h->seg_len = seg;
    h->n_seg = 0;
    memset(h->all, 0, sizeof h->all);
    for (size_t at = 0; at < n || h->n_seg == 0; at += seg) {
        uint32_t *sh = h->seg[h->n_seg++];
        vs__byte_hist(p + at, n - at < seg ? n - at : seg, sh);
        for (int s = 0; s < 256; s++)
            h->all[s] += sh[s];
    }
}

/* ---- code lengths ------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Moffat and Katajainen's in-place minimum-redundancy code ("In-place
 * calculation of minimum-redundancy codes", 1995): a[0..k) holds weights
 * in ascending order (k >= 1) and becomes the code lengths, longest
 * first. */
static void min_redundancy(uint64_t *a, int k)
{
    int root = 0, leaf = 2, next;
    if (k < 2) {
        a[0] = 1;
        return;
    }
    a[0] += a[1];
    for (next = 1; next < k - 1; next++) {
        if (leaf >= k || a[root] < a[leaf]) {
            a[next] = a[root];
            a[root++] = (uint64_t)next;
        } else {
            a[next] = a[leaf++];
        }
        if (leaf >= k || (root < next && a[root] < a[leaf])) {
            a[next] += a[root];
            a[root++] = (uint64_t)next;
        } else {
            a[next] += a[leaf++];
        }
    }
    a[k - 2] = 0;
    for (next = k - 3; next >= 0; next--)
        a[next] = a[a[next]] + 1;
    int avail = 1, used = 0;
    uint64_t depth = 0;
    root = k - 2;
    next = k - 1;
    while (avail > 0) {
        while (root >= 0 && a[root] == depth) {
            used++;
            root--;
        }
        while (avail > used) {
            a[next--] = depth;
            avail--;
        }
        avail = 2 * used;
        depth++;
        used = 0;
    }
}

/* Code lengths of at most maxbits for the n symbols with weights freq
 * into len (0 for weight 0). The code is complete: with fewer than two
 * symbols in use, the first unused ones get length 1 too (as zlib does),
 * since inflaters refuse most incomplete codes. Longer codes than maxbits
 * are cut down by pushing codes of the next shorter length down one level
 * (zlib's and miniz's method); the least frequent symbols get the longest
 * codes. */
static void code_lengths(const uint32_t *freq, int n, int maxbits,
                         unsigned char *len)
{
    uint64_t key[N_LIT], w[N_LIT];
    int k = 0;
    for (int s = 0; s < n; s++)
        if (freq[s] != 0)
            key[k++] = (uint64_t)freq[s] << 9 | (uint64_t)s;
    for (int s = 0; s < n && k < 2; s++)
        if (freq[s] == 0)
            key[k++] = (uint64_t)s; /* weight 0, sorts first */
    qsort(key, (size_t)k, sizeof *key, cmp_u64);
    for (int i = 0; i < k; i++)
        w[i] = key[i] >> 9;
    min_redundancy(w, k);
    int count[MAX_BITS + 1] = {0};
    for (int i = 0; i < k; i++)
        count[w[i] > (uint64_t)maxbits ? maxbits : (int)w[i]]++;
    uint32_t total = 0;
    for (int b = 1; b <= maxbits; b++)
        total += (uint32_t)count[b] << (maxbits - b);
    while (total > (uint32_t)1 << maxbits) {
        count[maxbits]--;
        for (int b = maxbits - 1; b > 0; b--) {
            if (count[b] != 0) {
                count[b]--;
                count[b + 1] += 2;
                break;
            }
        }
        total--;
    }
    memset(len, 0, (size_t)n);
    int i = 0;
    for (int b = maxbits; b > 0; b--)
        for (int c = 0; c < count[b]; c++)
            len[key[i++] & 511] = (unsigned char)b;
}

/* Canonical codes (RFC 1951 3.2.2) for the lengths, bit-reversed (deflate
 * sends a code's most significant bit first), as code | length << 16. */
static void canonical_codes(const unsigned char *len, int n, uint32_t *code)
{
    int count[MAX_BITS + 1] = {0};
    uint32_t next[MAX_BITS + 1];
    for (int s = 0; s < n; s++)
        count[len[s]]++;
    count[0] = 0;
    uint32_t c = 0;
    for (int b = 1; b <= MAX_BITS; b++) {
        c = (c + (uint32_t)count[b - 1]) << 1;
        next[b] = c;
    }
    for (int s = 0; s < n; s++) {
        uint32_t v = len[s] ? next[len[s]]++ : 0, r = 0;
        for (int b = 0; b < len[s]; b++) {
            r = (r << 1) | (v & 1);
            v >>= 1;
        }
        code[s] = r | (uint32_t)len[s] << 16;
    }
}

/* ---- the block header -------------------------------------------------- */

/* A block's codes: the literal code, and the code lengths of both codes
 * run-length coded with the code-length alphabet (RFC 1951 3.2.7). */
typedef struct {
    uint32_t lit[N_LIT]; /* code | length << 16 */
    uint32_t cl[N_CL];
    unsigned char cl_len[N_CL];
    unsigned char tok[N_TOK], extra[N_TOK]; /* code-length symbols */
    int n_tok, hclen;
} block_code;

static const unsigned char cl_order[N_CL] = {16, 17, 18, 0, 8,  7, 9,
                                             6,  10, 5,  11, 4, 12, 3,
                                             13, 2,  14, 1,  15};
static const unsigned char cl_extra[N_CL] = {[16] = 2, [17] = 3, [18] = 7};

static void add_tok(block_code *bc, int sym, int extra)
{
    bc->tok[bc->n_tok] = (unsigned char)sym;
    bc->extra[bc->n_tok++] = (unsigned char)extra;
}

/* Code lengths as code-length symbols: 16 repeats the previous length 3-6
 * times, 17 and 18 give runs of 3-10 and 11-138 zeros (zlib's choices). */
static void rle_lengths(block_code *bc, const unsigned char *len, int n)
{
    int i = 0;
    while (i < n) {
        int v = len[i], run = 1;
        while (i + run < n && len[i + run] == v)
            run++;
        i += run;
        if (v == 0) {
            for (; run >= 11; run -= run < 138 ? run : 138)
                add_tok(bc, 18, (run < 138 ? run : 138) - 11);
            if (run >= 3) {
                add_tok(bc, 17, run - 3);
                run = 0;
            }
        } else {
            add_tok(bc, v, 0);
            for (run--; run >= 3; run -= run < 6 ? run : 6)
                add_tok(bc, 16, (run < 6 ? run : 6) - 3);
        }
        for (; run > 0; run--)
            add_tok(bc, v, 0);
    }
}

/* The codes for a block of bytes with histogram hist. */
static void block_build(const uint32_t *hist, block_code *bc)
{
    uint32_t freq[N_LIT], cl_freq[N_CL] = {0};
    unsigned char len[N_LIT];
    static const unsigned char dist_len[N_DIST] = {1, 1};
    memcpy(freq, hist, 256 * sizeof *freq);
    freq[256] = 1; /* end-of-block */
    code_lengths(freq, N_LIT, LIT_MAX_BITS, len);
    canonical_codes(len, N_LIT, bc->lit);
    bc->n_tok = 0;
    rle_lengths(bc, len, N_LIT);
    rle_lengths(bc, dist_len, N_DIST);
    for (int t = 0; t < bc->n_tok; t++)
        cl_freq[bc->tok[t]]++;
    code_lengths(cl_freq, N_CL, CL_MAX_BITS, bc->cl_len);
    canonical_codes(bc->cl_len, N_CL, bc->cl);
    bc->hclen = N_CL;
    while (bc->hclen > 4 && bc->cl_len[cl_order[bc->hclen - 1]] == 0)
        bc->hclen--;
}

/* ---- bit output -------------------------------------------------------- */

typedef struct {
    unsigned char *p, *end;
    uint64_t bits; /* pending bits, LSB first; zero above the n valid */
    int n;         /* < 64 between calls */
    int over;      /* ran out of room: the stream does not fit */
} bitwr;

static inline void store_le64(unsigned char *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, sizeof v);
}

/* Writes the whole bytes of the buffer: 8 at once where there is room
 * (the bytes past the whole ones are rewritten by the next flush). */
static inline void flush(bitwr *w)
{
    if (w->end - w->p >= 8) {
        store_le64(w->p, w->bits);
        w->p += w->n >> 3;
        w->bits >>= w->n & ~7;
        w->n &= 7;
        return;
    }
    for (; w->n >= 8; w->n -= 8, w->bits >>= 8) {
        if (w->p == w->end) {
            w->over = 1;
            w->n = 0;
            w->bits = 0;
            return;
        }
        *w->p++ = (unsigned char)w->bits;
    }
}

static void put_bits(bitwr *w, uint32_t v, int k) /* k <= 32 */
{
    w->bits |= (uint64_t)v << w->n;
    w->n += k;
    flush(w);
}

static void put_code(bitwr *w, uint32_t code)
{
    put_bits(w, code & 0xffff, (int)(code >> 16));
}

static void put_header(bitwr *w, const block_code *bc, int last)
{
    put_bits(w, (uint32_t)last | 2u << 1, 3); /* BFINAL, BTYPE 10 */
    put_bits(w, N_LIT - 257, 5);
    put_bits(w, N_DIST - 1, 5);
    put_bits(w, (uint32_t)bc->hclen - 4, 4);
    for (int i = 0; i < bc->hclen; i++)
        put_bits(w, bc->cl_len[cl_order[i]], 3);
    for (int t = 0; t < bc->n_tok; t++) {
        put_code(w, bc->cl[bc->tok[t]]);
        if (cl_extra[bc->tok[t]] != 0)
            put_bits(w, bc->extra[t], cl_extra[bc->tok[t]]);
    }
}

/* The hot loop: four codes (at most 4 * LIT_MAX_BITS = 56 bits) per
 * 8-byte store, which leaves at most 7 bits behind. The state lives in
 * locals: through w, every byte stored would make the compiler reload
 * it. */
static void put_literals(bitwr *w, const unsigned char *src, size_t n,
                         const uint32_t *code)
{
    uint64_t bits = w->bits;
    int k = w->n;
    unsigned char *p = w->p;
    const unsigned char *end = w->end;
    size_t i = 0;
    for (; i + 4 <= n && end - p >= 8; i += 4) {
        for (int j = 0; j < 4; j++) {
            uint32_t c = code[src[i + j]];
            bits |= (uint64_t)(c & 0xffff) << k;
            k += (int)(c >> 16);
        }
        store_le64(p, bits);
        p += k >> 3;
        bits >>= k & ~7;
        k &= 7;
    }
    w->bits = bits;
    w->n = k;
    w->p = p;
    for (; i < n; i++)
        put_code(w, code[src[i]]);
}

/* ---- blocks -------------------------------------------------------------- */

/* About the bits a block with histogram hist takes: the order-0 entropy
 * of its bytes, plus its header at about 4 bits per byte value used. */
static double block_cost(const uint32_t *hist)
{
    double n = 0, bits = 70;
    for (int s = 0; s < 256; s++)
        n += hist[s];
    for (int s = 0; s < 256; s++)
        if (hist[s] != 0)
            bits += 4 + (double)hist[s] * log2(n / (double)hist[s]);
    return bits;
}

/* Splits the segments of h into blocks: a segment starts a new block when
 * coding it with its own code (and header) costs less than adding it to
 * the block before, as zlib's 16 KiB blocks adapt to data that changes
 * along a plane. Returns the number of blocks; first[b] is the first
 * segment of block b. */
static int split_blocks(const vs__plane_hist *h, int *first)
{
    uint32_t cur[256], merged[256];
    int nb = 1;
    first[0] = 0;
    memcpy(cur, h->seg[0], sizeof cur);
    double cost = block_cost(cur);
    for (int g = 1; g < h->n_seg; g++) {
        for (int s = 0; s < 256; s++)
            merged[s] = cur[s] + h->seg[g][s];
        double alone = block_cost(h->seg[g]), both = block_cost(merged);
        if (cost + alone < both) {
            first[nb++] = g;
            memcpy(cur, h->seg[g], sizeof cur);
            cost = alone;
        } else {
            memcpy(cur, merged, sizeof cur);
            cost = both;
        }
    }
    first[nb] = h->n_seg;
    return nb;
}

/* One block of literals, segments [g0, g1) of the plane. */
static void put_block(bitwr *w, const unsigned char *src, size_t n,
                      const vs__plane_hist *h, int g0, int g1, int last)
{
    block_code bc;
    uint32_t hist[256] = {0};
    for (int g = g0; g < g1; g++)
        for (int s = 0; s < 256; s++)
            hist[s] += h->seg[g][s];
    block_build(hist, &bc);
    size_t from = (size_t)g0 * h->seg_len;
    size_t to = (size_t)g1 * h->seg_len < n ? (size_t)g1 * h->seg_len : n;
    put_header(w, &bc, last);
    put_literals(w, src + from, to - from, bc.lit);
    put_code(w, bc.lit[256]);
}

/* ---- the stream -------------------------------------------------------- */

size_t vs__deflate_literals(const unsigned char *src, size_t n,
                            const vs__plane_hist *h, unsigned char *dst,
                            size_t cap)
{
    int first[VS_HIST_SEGS + 1];
    int nb = split_blocks(h, first);
    bitwr w = {dst, dst + cap, 0, 0, 0};
    put_bits(&w, 0x0178, 16); /* CMF 78: deflate, 32K window; FLG 01 */
    for (int b = 0; b < nb && !w.over; b++)
        put_block(&w, src, n, h, first[b], first[b + 1], b == nb - 1);
    w.n = (w.n + 7) & ~7; /* zero bits up to a byte boundary */
    flush(&w);
    if (w.over)
        return 0;
    uint32_t ad = vs__adler32(1, src, n);
    for (int sh = 24; sh >= 0; sh -= 8)
        put_bits(&w, ad >> sh & 0xff, 8);
    return w.over ? 0 : (size_t)(w.p - dst);
}
