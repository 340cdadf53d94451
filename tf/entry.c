/* varstore tf/: the protos of tensor_bundle.proto that a bundle's .index
 * holds, decoded from and encoded to the wire format:
 *   BundleHeaderProto {1 num_shards int32; 2 endianness enum (0 LITTLE,
 *     1 BIG); 3 version VersionDef {1 producer; 2 min_consumer;
 *     3 bad_consumers repeated}}
 *   BundleEntryProto {1 dtype DataType; 2 shape TensorShapeProto {2 dim
 *     repeated {1 size int64}; 3 unknown_rank bool}; 3 shard_id int32;
 *     4 offset int64; 5 size int64; 6 crc32c fixed32 (masked);
 *     7 slices repeated TensorSliceProto {1 extent repeated {1 start
 *     int64; 2 length int64, absent: the full extent}}}
 * and TF's DataType numbers (types.proto). */
#include <stdio.h>
#include <string.h>

#include "tf_int.h"

/* The bundle version this code reads and writes (kTensorBundleVersion). */
#define BUNDLE_VERSION 1

static const struct {
    int tf;
    vs_dtype vs;
    const char *name;
} dtypes[] = {
    {1, VS_FLOAT32, "float32"},   {2, VS_FLOAT64, "float64"},
    {3, VS_INT32, "int32"},       {4, VS_UINT8, "uint8"},
    {5, 0, "int16"},              {6, VS_INT8, "int8"},
    {7, 0, "string"},             {8, 0, "complex64"},
    {9, VS_INT64, "int64"},       {10, VS_BOOL, "bool"},
    {11, 0, "qint8"},             {12, 0, "quint8"},
    {13, 0, "qint32"},            {14, VS_BFLOAT16, "bfloat16"},
    {15, 0, "qint16"},            {16, 0, "quint16"},
    {17, 0, "uint16"},            {18, 0, "complex128"},
    {19, VS_FLOAT16, "float16"},  {20, 0, "resource"},
    {21, 0, "variant"},           {22, 0, "uint32"},
    {23, 0, "uint64"},
};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

vs_dtype vs__tf_dtype_to_vs(int tf_dtype)
{
    for (size_t i = 0; i < N_DTYPES; i++)
        if (dtypes[i].tf == tf_dtype)
            return dtypes[i].vs;
    return 0;
}

int vs__tf_dtype_from_vs(vs_dtype d)
{
    for (size_t i = 0; i < N_DTYPES; i++)
        if (dtypes[i].vs == d && d != 0)
            return dtypes[i].tf;
    return 0;
}

const char *vs__tf_dtype_name(int tf_dtype)
{
    static _Thread_local char buf[32];
    for (size_t i = 0; i < N_DTYPES; i++)
        if (dtypes[i].tf == tf_dtype)
            return dtypes[i].name;
    snprintf(buf, sizeof buf, "DataType %d", tf_dtype);
    return buf;
}

static int bad(const char *file, const char *key, const char *what)
{
    return vs__fail(VS_ECORRUPT, "%s: entry '%s': %s", file, key, what);
}

static int decode_shape(const char *file, const char *key, const uint8_t *p,
                        size_t n, vs__tf_entry *e)
{
    vs__pb_reader r = {p, p + n};
    vs__pb_field f;
    int got;
    while ((got = vs__pb_next(&r, &f)) == 1) {
        if (f.num == 3 && f.wire == PB_VARINT && f.v != 0)
            return bad(file, key, "shape of unknown rank");
        if (f.num != 2)
            continue;
        if (f.wire != PB_LEN)
            return bad(file, key, "malformed shape");
        if (e->ndim == VS_MAX_DIMS)
            return vs__fail(VS_EINVAL,
                            "%s: tensor '%s' has more than %d dimensions",
                            file, key, VS_MAX_DIMS);
        vs__pb_reader d = {f.data, f.data + f.len};
        vs__pb_field g;
        int64_t size = 0;
        while ((got = vs__pb_next(&d, &g)) == 1)
            if (g.num == 1 && g.wire == PB_VARINT)
                size = (int64_t)g.v;
        if (got < 0 || size < 0)
            return bad(file, key, "malformed shape dimension");
        e->shape[e->ndim++] = size;
    }
    return got < 0 ? bad(file, key, "malformed shape") : VS_OK;
}

static int decode_slice(const char *file, const char *key, const uint8_t *p,
                        size_t n, vs__tf_slice *s)
{
    vs__pb_reader r = {p, p + n};
    vs__pb_field f;
    int got;
    s->ndim = 0;
    while ((got = vs__pb_next(&r, &f)) == 1) {
        if (f.num != 1)
            continue;
        if (f.wire != PB_LEN || s->ndim == VS_MAX_DIMS)
            return bad(file, key, "malformed slice extent");
        vs__pb_reader d = {f.data, f.data + f.len};
        vs__pb_field g;
        int64_t start = 0, length = -1;
        while ((got = vs__pb_next(&d, &g)) == 1) {
            if (g.num == 1 && g.wire == PB_VARINT)
                start = (int64_t)g.v;
            else if (g.num == 2 && g.wire == PB_VARINT)
                length = (int64_t)g.v;
        }
        if (got < 0 || start < 0 || length < -1)
            return bad(file, key, "malformed slice extent");
        s->start[s->ndim] = start;
        s->length[s->ndim] = length;
        s->ndim++;
    }
    return got < 0 ? bad(file, key, "malformed slice") : VS_OK;
}

static int add_slice(const char *file, const char *key, const vs__pb_field *f,
                     vs__tf_entry *e)
{
    vs__tf_slice *s;
    if (f->wire != PB_LEN || e->n_slices >= VS_TF_MAX_SLICES)
        return bad(file, key, "malformed or too many slices");
    s = vs__realloc(e->slices, (e->n_slices + 1) * sizeof *s);
    if (s == NULL)
        return vs__fail(VS_ENOMEM, "out of memory reading %s", file);
    e->slices = s;
    memset(&s[e->n_slices], 0, sizeof *s);
    e->n_slices++;
    return decode_slice(file, key, f->data, f->len, &s[e->n_slices - 1]);
}

static int entry_field(const char *file, const char *key,
                       const vs__pb_field *f, vs__tf_entry *e)
{
    int is_var = f->wire == PB_VARINT;
    switch (f->num) {
    case 1:
        if (!is_var || f->v > 1000)
            return bad(file, key, "malformed dtype");
        e->tf_dtype = (int)f->v;
        return VS_OK;
    case 2:
        if (f->wire != PB_LEN)
            return bad(file, key, "malformed shape");
        e->ndim = 0;
        return decode_shape(file, key, f->data, f->len, e);
    case 3:
        if (!is_var || f->v > INT32_MAX)
            return bad(file, key, "malformed shard_id");
        e->shard_id = (int32_t)f->v;
        return VS_OK;
    case 4:
    case 5:
        if (!is_var || f->v > INT64_MAX)
            return bad(file, key, "malformed offset or size");
        *(f->num == 4 ? &e->offset : &e->size) = (int64_t)f->v;
        return VS_OK;
    case 6:
        if (f->wire != PB_FIXED32)
            return bad(file, key, "malformed crc32c");
        e->crc32c_masked = (uint32_t)f->v;
        return VS_OK;
    case 7:
        return add_slice(file, key, f, e);
    default:
        return VS_OK; /* unknown fields are skipped, as protobuf does */
    }
}

int vs__tf_entry_decode(const char *file, const char *key, const uint8_t *p,
                        size_t n, vs__tf_entry *e)
{
    vs__pb_reader r = {p, p + n};
    vs__pb_field f;
    int got, rc = VS_OK;
    memset(e, 0, sizeof *e);
    while (rc == VS_OK && (got = vs__pb_next(&r, &f)) == 1)
        rc = entry_field(file, key, &f, e);
    if (rc == VS_OK && got < 0)
        rc = bad(file, key, "malformed BundleEntryProto");
    if (rc != VS_OK)
        vs__tf_entry_clear(e);
    return rc;
}

void vs__tf_entry_clear(vs__tf_entry *e)
{
    vs__free(e->slices);
    e->slices = NULL;
    e->n_slices = 0;
}

static int version_decode(const uint8_t *p, size_t n, vs__tf_header *h)
{
    vs__pb_reader r = {p, p + n};
    vs__pb_field f;
    int got;
    while ((got = vs__pb_next(&r, &f)) == 1) {
        if (f.wire != PB_VARINT)
            continue;
        if (f.num == 1)
            h->producer = (int64_t)(int32_t)f.v;
        else if (f.num == 2)
            h->min_consumer = (int64_t)(int32_t)f.v;
        else if (f.num == 3 && f.v == BUNDLE_VERSION)
            h->bad_consumer_1 = 1;
    }
    return got;
}

int vs__tf_header_decode(const char *file, const uint8_t *p, size_t n,
                         vs__tf_header *h)
{
    vs__pb_reader r = {p, p + n};
    vs__pb_field f;
    int got;
    memset(h, 0, sizeof *h);
    while ((got = vs__pb_next(&r, &f)) == 1) {
        if (f.num == 1 && f.wire == PB_VARINT)
            h->num_shards = (int64_t)(int32_t)f.v;
        else if (f.num == 2 && f.wire == PB_VARINT)
            h->endianness = f.v > 1 ? 2 : (int)f.v;
        else if (f.num == 3 && f.wire == PB_LEN &&
                 version_decode(f.data, f.len, h) < 0)
            got = -1;
        if (got < 0)
            break;
    }
    if (got < 0)
        return vs__fail(VS_ECORRUPT, "%s: malformed bundle header", file);
    if (h->num_shards < 1 || h->num_shards > 99999)
        return vs__fail(VS_ECORRUPT, "%s: bad shard count %lld", file,
                        (long long)h->num_shards);
    if (h->endianness != 0)
        return vs__fail(VS_ECORRUPT,
                        "%s: the bundle was written big-endian (or with an "
                        "unknown byte order); only little-endian bundles "
                        "are read",
                        file);
    if (h->min_consumer > BUNDLE_VERSION || h->bad_consumer_1)
        return vs__fail(VS_ECORRUPT,
                        "%s: bundle version not supported (min_consumer "
                        "%lld; this reader is version %d)",
                        file, (long long)h->min_consumer, BUNDLE_VERSION);
    return VS_OK;
}

void vs__tf_entry_encode(const vs__tf_entry *e, vs__tf_buf *b)
{
    vs__tf_buf shape = {0};
    if (e->tf_dtype != 0)
        vs__pb_put_varint(b, 1, (uint64_t)e->tf_dtype);
    for (int d = 0; d < e->ndim; d++) {
        uint8_t tmp[12];
        vs__tf_buf dim = {tmp, 0, sizeof tmp, 0};
        if (e->shape[d] != 0)
            vs__pb_put_varint(&dim, 1, (uint64_t)e->shape[d]);
        vs__pb_put_bytes(&shape, 2, tmp, dim.len);
    }
    b->oom |= shape.oom;
    vs__pb_put_bytes(b, 2, shape.p, shape.len);
    vs__tfbuf_free(&shape);
    if (e->shard_id != 0)
        vs__pb_put_varint(b, 3, (uint64_t)e->shard_id);
    if (e->offset != 0)
        vs__pb_put_varint(b, 4, (uint64_t)e->offset);
    if (e->size != 0)
        vs__pb_put_varint(b, 5, (uint64_t)e->size);
    if (e->crc32c_masked != 0)
        vs__pb_put_fixed32(b, 6, e->crc32c_masked);
}

void vs__tf_header_encode(vs__tf_buf *b)
{
    uint8_t tmp[4];
    vs__tf_buf v = {tmp, 0, sizeof tmp, 0};
    vs__pb_put_varint(b, 1, 1); /* num_shards; endianness LITTLE is 0 */
    vs__pb_put_varint(&v, 1, BUNDLE_VERSION); /* producer */
    vs__pb_put_bytes(b, 3, tmp, v.len);
}
