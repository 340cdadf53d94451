/* varstore: a fast path for the zlib streams varstore writes.
 *
 * The codec deflates byte planes with Z_HUFFMAN_ONLY: every block is a
 * Huffman block of literals and nothing else. zlib's general inflate
 * decoded those at about a third of a restore's time. This decoder takes
 * only what such a stream can hold (RFC 1950 header, then RFC 1951 stored,
 * fixed or dynamic blocks whose symbols are literals and end-of-block) and
 * answers "not handled" for everything else: a length/distance symbol, a
 * preset dictionary, a code it cannot build, input that runs out, output
 * of the wrong size. The caller then decodes the plane with zlib, which
 * also reports damage in its own words. The Adler-32 trailer is not
 * checked here: the chunk's CRC-32 (checked on every read) covers the
 * decoded bytes. Every read of the input and write of the output is
 * bounds-checked; hostile input cannot make it read or write outside the
 * buffers. */
#include <string.h>

#include "store_int.h"

#define MAX_BITS 15  /* longest deflate code */
#define FAST_BITS 10 /* table index width (4 lookups per refill) */
#define FAST_SIZE (1u << FAST_BITS)
#define N_LITLEN 288
#define N_DIST 32
#define LONG_CODE 0xffffu /* table entry: code longer than FAST_BITS */

typedef struct {
    const unsigned char *p, *end;
    uint64_t bits; /* next bits of the stream, LSB first; above the n
                      valid ones: bits read ahead from p, or zeros */
    int n;         /* valid bits in `bits` */
    int pad;       /* zero bits added past the end of the input */
} bitrd;

/* Tops the buffer up to at least 56 bits; past the input's end it adds
 * zero bytes and counts them (consuming one of them is an overrun). */
static inline void refill(bitrd *r)
{
    if (r->end - r->p >= 8) {
        /* whole bytes that fit: (63 - n) / 8 of the 8 loaded */
        r->bits |= vs__load_le64(r->p) << r->n;
        r->p += (63 - r->n) >> 3;
        r->n |= 56;
        return;
    }
    while (r->n <= 56) {
        uint64_t b = 0;
        if (r->p < r->end)
            b = *r->p++;
        else
            r->pad += 8;
        r->bits |= b << r->n;
        r->n += 8;
    }
}

static inline int overrun(const bitrd *r)
{
    return r->n < r->pad;
}

static inline uint32_t getbits(bitrd *r, int k) /* k <= 32 */
{
    if (r->n < k)
        refill(r);
    uint32_t v = (uint32_t)(r->bits & ((1ull << k) - 1));
    r->bits >>= k;
    r->n -= k;
    return v;
}

/* A canonical Huffman code: counts per length, symbols sorted by code,
 * and a table on the next FAST_BITS bits (entry: symbol << 4 | length,
 * 0 = no code starts with these bits, LONG_CODE = a longer code does). */
typedef struct {
    uint16_t count[MAX_BITS + 1];
    uint16_t sorted[N_LITLEN];
    uint16_t fast[FAST_SIZE];
} huff;

static uint32_t reverse_bits(uint32_t code, int len)
{
    uint32_t r = 0;
    for (int i = 0; i < len; i++) {
        r = (r << 1) | (code & 1);
        code >>= 1;
    }
    return r;
}

/* Whether code lengths form a code zlib accepts (inftrees.c's rules, so
 * that the fast path never takes a stream zlib refuses): never over-
 * subscribed; incomplete only when its longest code has length 1 and it
 * is not a code-length code; no code at all only for distances. */
static int lens_ok(const unsigned char *lens, int n, int codes, int dists)
{
    int count[MAX_BITS + 1] = {0}, max = 0;
    for (int s = 0; s < n; s++) {
        count[lens[s]]++;
        if (lens[s] > max)
            max = lens[s];
    }
    if (max == 0)
        return dists;
    int left = 1;
    for (int len = 1; len <= MAX_BITS; len++) {
        left <<= 1;
        left -= count[len];
        if (left < 0)
            return 0; /* over-subscribed */
    }
    return !(left > 0 && (codes || max != 1));
}

/* Builds h from the code lengths of n symbols (lens_ok already passed). A
 * string with no code (an incomplete code) decodes as "not handled". */
static int huff_build(huff *h, const unsigned char *lens, int n)
{
    uint16_t offs[MAX_BITS + 2];
    uint32_t next[MAX_BITS + 1];
    memset(h->count, 0, sizeof h->count);
    for (int s = 0; s < n; s++)
        h->count[lens[s]]++;
    if (h->count[0] == n)
        return 0;
    offs[1] = 0;
    for (int len = 1; len <= MAX_BITS; len++)
        offs[len + 1] = (uint16_t)(offs[len] + h->count[len]);
    for (int s = 0; s < n; s++)
        if (lens[s] != 0)
            h->sorted[offs[lens[s]]++] = (uint16_t)s;
    /* canonical codes (RFC 1951 3.2.2), stored bit-reversed because the
     * stream sends them most significant bit first */
    uint32_t code = 0;
    next[0] = 0;
    for (int len = 1; len <= MAX_BITS; len++) {
        code = (code + (len > 1 ? h->count[len - 1] : 0)) << 1;
        next[len] = code;
    }
    memset(h->fast, 0, sizeof h->fast);
    for (int s = 0; s < n; s++) {
        int len = lens[s];
        if (len == 0)
            continue;
        uint32_t rev = reverse_bits(next[len]++, len);
        if (len <= FAST_BITS) {
            for (uint32_t i = rev; i < FAST_SIZE; i += 1u << len)
                h->fast[i] = (uint16_t)(s << 4 | len);
        } else {
            h->fast[rev & (FAST_SIZE - 1)] = LONG_CODE;
        }
    }
    return 1;
}

/* One symbol, or -1 (no such code, or an input overrun). */
static inline int decode_sym(bitrd *r, const huff *h)
{
    if (r->n < MAX_BITS)
        refill(r);
    uint32_t e = h->fast[r->bits & (FAST_SIZE - 1)];
    if (e != 0 && e != LONG_CODE) {
        int len = (int)(e & 15);
        r->bits >>= len;
        r->n -= len;
        return overrun(r) ? -1 : (int)(e >> 4);
    }
    if (e == 0)
        return -1;
    /* A long code: walk the canonical code bit by bit. */
    int code = 0, first = 0, index = 0;
    uint64_t bits = r->bits;
    for (int len = 1; len <= MAX_BITS; len++) {
        code |= (int)(bits & 1);
        bits >>= 1;
        int count = h->count[len];
        if (code - first < count) {
            r->bits >>= len;
            r->n -= len;
            return overrun(r) ? -1 : h->sorted[index + (code - first)];
        }
        index += count;
        first = (first + count) << 1;
        code <<= 1;
    }
    return -1;
}

/* The multi-literal table: on the next FAST_BITS bits, the one to three
 * literals whose codes fit there (entry: lit1 | lit2 << 8 | lit3 << 16 |
 * count << 24 | bits << 26; count 0 = take the general path). Built from
 * h->fast: of the bits after a code only FAST_BITS minus its length are
 * known, enough when the next code fits there (entries repeat over the
 * unknown high bits). */
static void multi_build(const huff *h, uint32_t *multi)
{
    for (uint32_t i = 0; i < FAST_SIZE; i++) {
        uint32_t v = 0, used = 0, cnt = 0, rest = i;
        while (cnt < 3) {
            uint32_t e = h->fast[rest];
            if (e == 0 || e == LONG_CODE || (e >> 4) >= 256 ||
                used + (e & 15) > FAST_BITS)
                break;
            v |= (e >> 4) << (8 * cnt);
            used += e & 15;
            rest = i >> used;
            cnt++;
        }
        multi[i] = cnt == 0 ? 0 : v | cnt << 24 | used << 26;
    }
}

static inline void put_lits(unsigned char *out, uint32_t e)
{
    /* Four bytes: the one to three literals, then a byte that the next
     * write replaces (callers keep 4 bytes of room). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(out, &e, 4);
#else
    out[0] = (unsigned char)e;
    out[1] = (unsigned char)(e >> 8);
    out[2] = (unsigned char)(e >> 16);
    out[3] = 0;
#endif
}

/* One lookup of the multi-literal table: 1 when it gave literals (written
 * at out + *k, *k advanced), 0 when the next code needs the general path.
 * Needs FAST_BITS valid bits and 4 bytes of room. */
static inline int take_lits(bitrd *r, const uint32_t *multi,
                            unsigned char *out, size_t *k)
{
    uint32_t e = multi[r->bits & (FAST_SIZE - 1)];
    if ((e >> 24 & 3) == 0)
        return 0;
    r->bits >>= e >> 26;
    r->n -= (int)(e >> 26);
    put_lits(out + *k, e);
    *k += e >> 24 & 3;
    return 1;
}

/* The literals of one Huffman block into out[*o..cap); 0 at its end-of-
 * block, -1 otherwise. */
static int literals(bitrd *r, const huff *h, const uint32_t *multi,
                    unsigned char *out, size_t *o, size_t cap)
{
    size_t k = *o;
    for (;;) {
        /* The hot loop: four lookups of one to three literals per refill
         * (4 x FAST_BITS <= 56 bits). Once the refill has run into the
         * zero padding past the input, symbols go one at a time through
         * decode_sym, which refuses the first one that reads padding: a
         * truncated stream stops there, whatever out_len claims. */
        while (cap - k >= 16) {
            if (r->n < 4 * FAST_BITS) {
                refill(r);
                if (r->pad != 0)
                    break;
            }
            if (!take_lits(r, multi, out, &k) ||
                !take_lits(r, multi, out, &k) ||
                !take_lits(r, multi, out, &k) ||
                !take_lits(r, multi, out, &k))
                break;
        }
        int sym = decode_sym(r, h);
        if (sym < 0)
            return -1;
        if (sym == 256) {
            *o = k;
            return overrun(r) ? -1 : 0;
        }
        if (sym > 256 || k >= cap)
            return -1; /* a match, or more output than expected */
        out[k++] = (unsigned char)sym;
    }
}

static int dynamic_codes(bitrd *r, huff *lit)
{
    static const unsigned char order[19] = {16, 17, 18, 0, 8,  7, 9,
                                            6,  10, 5,  11, 4, 12, 3,
                                            13, 2,  14, 1,  15};
    unsigned char lens[N_LITLEN + N_DIST];
    unsigned char cl[19];
    huff h;
    int nlit = (int)getbits(r, 5) + 257;
    int ndist = (int)getbits(r, 5) + 1;
    int ncl = (int)getbits(r, 4) + 4;
    if (nlit > 286 || ndist > 30)
        return -1;
    memset(cl, 0, sizeof cl);
    for (int i = 0; i < ncl; i++)
        cl[order[i]] = (unsigned char)getbits(r, 3);
    if (overrun(r) || !lens_ok(cl, 19, 1, 0) || !huff_build(&h, cl, 19))
        return -1;
    int i = 0;
    while (i < nlit + ndist) {
        int sym = decode_sym(r, &h);
        int rep;
        unsigned char v = 0;
        if (sym < 0)
            return -1;
        if (sym < 16) {
            lens[i++] = (unsigned char)sym;
            continue;
        }
        if (sym == 16) {
            if (i == 0)
                return -1;
            v = lens[i - 1];
            rep = 3 + (int)getbits(r, 2);
        } else if (sym == 17) {
            rep = 3 + (int)getbits(r, 3);
        } else {
            rep = 11 + (int)getbits(r, 7);
        }
        if (overrun(r) || i + rep > nlit + ndist)
            return -1;
        while (rep-- > 0)
            lens[i++] = v;
    }
    if (lens[256] == 0)
        return -1; /* no end-of-block code */
    /* The distance code is never used by literals, but zlib refuses a
     * stream whose distance code is malformed: so does this path. */
    if (!lens_ok(lens, nlit, 0, 0) || !lens_ok(lens + nlit, ndist, 0, 1))
        return -1;
    return huff_build(lit, lens, nlit) ? 0 : -1;
}

static void fixed_codes(huff *lit)
{
    unsigned char lens[N_LITLEN];
    int s = 0;
    for (; s < 144; s++)
        lens[s] = 8;
    for (; s < 256; s++)
        lens[s] = 9;
    for (; s < 280; s++)
        lens[s] = 7;
    for (; s < N_LITLEN; s++)
        lens[s] = 8;
    (void)huff_build(lit, lens, N_LITLEN); /* a complete code */
}

static int stored_block(bitrd *r, unsigned char *out, size_t *o, size_t cap)
{
    int drop = r->n & 7;
    r->bits >>= drop;
    r->n -= drop;
    uint32_t len = getbits(r, 16), nlen = getbits(r, 16);
    if (overrun(r) || (len ^ 0xffffu) != nlen || len > cap - *o)
        return -1;
    /* Whole bytes still in the bit buffer first, then the input. */
    while (len > 0 && r->n >= 8) {
        out[(*o)++] = (unsigned char)(r->bits & 0xff);
        r->bits >>= 8;
        r->n -= 8;
        len--;
    }
    if (len == 0)
        return 0;
    /* The buffer is empty now (n == 0) but may hold bits read ahead from
     * r->p, which the copy below skips over: drop them. */
    r->bits = 0;
    if (overrun(r) || len > (size_t)(r->end - r->p))
        return -1;
    memcpy(out + *o, r->p, len);
    *o += len;
    r->p += len;
    return 0;
}

int vs__inflate_literals(const unsigned char *in, size_t in_len,
                         unsigned char *out, size_t out_len)
{
    /* RFC 1950 header: deflate, window <= 32 KiB, check bits, no preset
     * dictionary; 4 trailer bytes. */
    if (in_len < 2 + 4 || (in[0] & 0x0f) != 8 || (in[0] >> 4) > 7 ||
        ((unsigned)in[0] << 8 | in[1]) % 31 != 0 || (in[1] & 0x20) != 0)
        return -1;
    bitrd r;
    r.p = in + 2;
    r.end = in + in_len - 4;
    r.bits = 0;
    r.n = 0;
    r.pad = 0;
    huff *lit = vs__malloc(sizeof *lit);
    uint32_t *multi = vs__malloc(FAST_SIZE * sizeof *multi);
    if (lit == NULL || multi == NULL) {
        vs__free(lit);
        vs__free(multi);
        return -1; /* zlib then tries, and reports the shortage */
    }
    size_t o = 0;
    int last = 0, rc = 0;
    while (!last && rc == 0) {
        last = (int)getbits(&r, 1);
        uint32_t type = getbits(&r, 2);
        if (overrun(&r)) {
            rc = -1;
        } else if (type == 0) {
            rc = stored_block(&r, out, &o, out_len);
        } else if (type == 1) {
            fixed_codes(lit);
            multi_build(lit, multi);
            rc = literals(&r, lit, multi, out, &o, out_len);
        } else if (type == 2) {
            rc = dynamic_codes(&r, lit);
            if (rc == 0) {
                multi_build(lit, multi);
                rc = literals(&r, lit, multi, out, &o, out_len);
            }
        } else {
            rc = -1;
        }
    }
    vs__free(lit);
    vs__free(multi);
    /* The stream must end at the trailer: the unread bits are only the
     * final byte's padding. */
    if (rc == 0 && (o != out_len || overrun(&r) ||
                    (size_t)(r.end - r.p) + (size_t)(r.n - r.pad) / 8 != 0))
        rc = -1;
    return rc;
}
