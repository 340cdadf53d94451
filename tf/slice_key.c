/* varstore tf/: the key a saved slice is stored under. TF encodes it with
 * its OrderedCode (checkpoint::EncodeTensorNameSlice): the unsigned number
 * 0, the tensor name as an escaped string, the rank, then each extent's
 * start and length (-1: full) as signed numbers.
 *  - unsigned number: one length byte, then the big-endian bytes without
 *    leading zeros (0 is the single byte 0x00);
 *  - string: bytes as is, except 0x00 -> 00 ff and 0xff -> ff 00, then the
 *    separator 00 01;
 *  - signed number v: with x = v < 0 ? ~v : v, the encoding is
 *    len = bits(x) / 7 + 1 bytes (bits(0) = 0) of v, two's complement
 *    big-endian and sign-extended, whose leading bits are then XORed with
 *    len - 1 one-bits and a delimiter (a leading 1 for len 1: 0x80). */
#include <string.h>

#include "tf_int.h"

static void put_unsigned(vs__tf_buf *b, uint64_t v)
{
    uint8_t tmp[9];
    int len = 0;
    for (uint64_t x = v; x > 0; x >>= 8)
        len++;
    tmp[0] = (uint8_t)len;
    for (int i = 0; i < len; i++)
        tmp[1 + i] = (uint8_t)(v >> (8 * (len - 1 - i)));
    vs__tfbuf_put(b, tmp, (size_t)len + 1);
}

static void put_string(vs__tf_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == 0xff)
            vs__tfbuf_put(b, "\xff\x00", 2);
        else
            vs__tfbuf_put(b, p, 1);
    }
    vs__tfbuf_put(b, "\x00\x01", 2);
}

static void put_signed(vs__tf_buf *b, int64_t v)
{
    /* header bits of the first two bytes, per length */
    static const uint8_t head[11][2] = {
        {0, 0},       {0x80, 0},    {0xc0, 0}, {0xe0, 0},
        {0xf0, 0},    {0xf8, 0},    {0xfc, 0}, {0xfe, 0},
        {0xff, 0},    {0xff, 0x80}, {0xff, 0xc0}};
    uint64_t x = v < 0 ? ~(uint64_t)v : (uint64_t)v;
    uint8_t buf[10];
    int bits = 0, len;
    for (uint64_t y = x; y > 0; y >>= 1)
        bits++;
    len = bits / 7 + 1;
    memset(buf, v < 0 ? 0xff : 0, 2);
    for (int i = 0; i < 8; i++)
        buf[2 + i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
    buf[10 - len] ^= head[len][0];
    if (len > 1)
        buf[11 - len] ^= head[len][1];
    vs__tfbuf_put(b, buf + 10 - len, (size_t)len);
}

int vs__tf_slice_key(const char *name, int ndim, const vs__tf_slice *s,
                     vs__tf_buf *out)
{
    out->len = 0;
    put_unsigned(out, 0);
    put_string(out, name);
    put_unsigned(out, (uint64_t)ndim);
    for (int d = 0; d < ndim; d++) {
        put_signed(out, s->start[d]);
        put_signed(out, s->length[d]);
    }
    if (out->oom)
        return vs__fail(VS_ENOMEM, "out of memory building a slice key");
    return VS_OK;
}
