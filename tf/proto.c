/* varstore tf/: the protobuf wire format, as much as TensorFlow's bundle
 * protos need: varints, fixed32/64 and length-delimited fields. Decoding
 * is bounded by the caller's [p, end) and never reads past it; unknown
 * fields are skipped, group wire types refused. */
#include <stdlib.h>
#include <string.h>

#include "tf_int.h"

int vs__pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    const uint8_t *q = *p;
    for (int shift = 0; shift < 70; shift += 7) {
        if (q >= end)
            return -1;
        if (shift == 63 && (*q & 0x7e) != 0)
            return -1; /* more than 64 bits */
        v |= (uint64_t)(*q & 0x7f) << shift;
        if ((*q++ & 0x80) == 0) {
            *p = q;
            *out = v;
            return 0;
        }
    }
    return -1;
}

static int read_fixed(vs__pb_reader *r, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if ((size_t)(r->end - r->p) < n)
        return -1;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += n;
    *out = v;
    return 0;
}

int vs__pb_next(vs__pb_reader *r, vs__pb_field *f)
{
    uint64_t tag, len;
    if (r->p >= r->end)
        return 0;
    if (vs__pb_varint(&r->p, r->end, &tag) != 0 || tag >> 3 == 0 ||
        tag >> 3 > 0x1fffffff)
        return -1;
    f->num = (uint32_t)(tag >> 3);
    f->wire = (int)(tag & 7);
    f->data = NULL;
    f->len = 0;
    f->v = 0;
    switch (f->wire) {
    case PB_VARINT:
        return vs__pb_varint(&r->p, r->end, &f->v) == 0 ? 1 : -1;
    case PB_FIXED64:
        return read_fixed(r, 8, &f->v) == 0 ? 1 : -1;
    case PB_FIXED32:
        return read_fixed(r, 4, &f->v) == 0 ? 1 : -1;
    case PB_LEN:
        if (vs__pb_varint(&r->p, r->end, &len) != 0 ||
            len > (uint64_t)(r->end - r->p))
            return -1;
        f->data = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    default:
        return -1; /* groups (3, 4) and reserved wire types */
    }
}

static int buf_grow(vs__tf_buf *b, size_t n)
{
    size_t need, cap;
    uint8_t *p;
    if (b->oom)
        return -1;
    if (vs__add_size(b->len, n, &need) != 0)
        goto fail;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (vs__mul_size(cap, 2, &cap) != 0)
            goto fail;
    }
    p = vs__realloc(b->p, cap);
    if (p == NULL)
        goto fail;
    b->p = p;
    b->cap = cap;
    return 0;
fail:
    b->oom = 1;
    return -1;
}

void vs__tfbuf_put(vs__tf_buf *b, const void *data, size_t n)
{
    if (n == 0 || buf_grow(b, n) != 0)
        return;
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

void vs__tfbuf_varint(vs__tf_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v != 0)
            tmp[n] |= 0x80;
        n++;
    } while (v != 0);
    vs__tfbuf_put(b, tmp, n);
}

void vs__tfbuf_fixed32(vs__tf_buf *b, uint32_t v)
{
    uint8_t tmp[4];
    for (int i = 0; i < 4; i++)
        tmp[i] = (uint8_t)(v >> (8 * i));
    vs__tfbuf_put(b, tmp, 4);
}

void vs__tfbuf_fixed64(vs__tf_buf *b, uint64_t v)
{
    uint8_t tmp[8];
    for (int i = 0; i < 8; i++)
        tmp[i] = (uint8_t)(v >> (8 * i));
    vs__tfbuf_put(b, tmp, 8);
}

void vs__pb_put_varint(vs__tf_buf *b, uint32_t num, uint64_t v)
{
    vs__tfbuf_varint(b, (uint64_t)num << 3 | PB_VARINT);
    vs__tfbuf_varint(b, v);
}

void vs__pb_put_fixed32(vs__tf_buf *b, uint32_t num, uint32_t v)
{
    vs__tfbuf_varint(b, (uint64_t)num << 3 | PB_FIXED32);
    vs__tfbuf_fixed32(b, v);
}

void vs__pb_put_bytes(vs__tf_buf *b, uint32_t num, const void *p, size_t n)
{
    vs__tfbuf_varint(b, (uint64_t)num << 3 | PB_LEN);
    vs__tfbuf_varint(b, n);
    vs__tfbuf_put(b, p, n);
}

void vs__tfbuf_free(vs__tf_buf *b)
{
    vs__free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}
