/* varstore tf/: internals shared by the TensorFlow checkpoint (TensorBundle
 * V2) reader and writer. Not installed. One concern per file:
 *   crc32c.c       CRC-32C (Castagnoli) and TF's CRC mask
 *   proto.c        the protobuf wire format: a bounded reader, a growable writer
 *   table_read.c   the .index SSTable: footer, blocks, trailers, entries
 *   table_write.c  the same, written
 *   entry.c        BundleHeaderProto / BundleEntryProto, TF DataType numbers
 *   slice_key.c    the keys of saved slices (TF's OrderedCode)
 *   state.c        the `checkpoint` state file, read and written
 *   path.c         prefix / directory / SavedModel / state file resolution
 *   bundle_read.c  a bundle opened: listing, loading, slice assembly
 *   bundle_write.c the writer (atomic)
 *   api.c          the public vs_tf_* calls */
#ifndef VS_TF_INT_H
#define VS_TF_INT_H

#include <stddef.h>
#include <stdint.h>

#include "tf_bundle.h"
#include "vs_common.h"

/* ---- CRC-32C ---- */
/* CRC-32C of n bytes continuing crc (0 to start), as crc32c::Extend. */
uint32_t vs__crc32c(uint32_t crc, const void *p, size_t n);
/* The portable table path alone (tests compare it with the fast path). */
uint32_t vs__crc32c_sw(uint32_t crc, const void *p, size_t n);
/* TF's (and LevelDB's) stored form of a CRC: rotated, plus a constant. */
uint32_t vs__crc32c_mask(uint32_t crc);
uint32_t vs__crc32c_unmask(uint32_t masked);

/* ---- protobuf wire format ---- */
enum { PB_VARINT = 0, PB_FIXED64 = 1, PB_LEN = 2, PB_FIXED32 = 5 };

typedef struct {
    const uint8_t *p, *end;
} vs__pb_reader;

typedef struct {
    uint32_t num;        /* field number */
    int wire;            /* PB_* */
    uint64_t v;          /* PB_VARINT, PB_FIXED32, PB_FIXED64 */
    const uint8_t *data; /* PB_LEN: the bytes */
    size_t len;
} vs__pb_field;

/* 1 with the next field, 0 at the end, -1 when malformed (truncated
 * varint or length, group wire types, field number 0). */
int vs__pb_next(vs__pb_reader *r, vs__pb_field *f);
/* A varint of at most 10 bytes within [*p, end): 0, or -1. */
int vs__pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *out);

/* A growable byte buffer; an allocation failure sets oom and later puts
 * do nothing (checked once, at the end). */
typedef struct {
    uint8_t *p;
    size_t len, cap;
    int oom;
} vs__tf_buf;

void vs__tfbuf_put(vs__tf_buf *b, const void *data, size_t n);
void vs__tfbuf_varint(vs__tf_buf *b, uint64_t v);
void vs__tfbuf_fixed32(vs__tf_buf *b, uint32_t v);
void vs__tfbuf_fixed64(vs__tf_buf *b, uint64_t v);
/* A field's tag, then a varint / a fixed32 / length + bytes. */
void vs__pb_put_varint(vs__tf_buf *b, uint32_t num, uint64_t v);
void vs__pb_put_fixed32(vs__tf_buf *b, uint32_t num, uint32_t v);
void vs__pb_put_bytes(vs__tf_buf *b, uint32_t num, const void *p, size_t n);
void vs__tfbuf_free(vs__tf_buf *b);

/* ---- the .index table ---- */
typedef struct {
    uint8_t *key; /* owned; may hold NUL bytes (slice keys) */
    size_t key_len;
    const uint8_t *val; /* into the table's file bytes */
    size_t val_len;
} vs__tf_kv;

typedef struct {
    uint8_t *bytes; /* the whole .index file */
    size_t len;
    vs__tf_kv *kv;  /* every entry, keys strictly increasing */
    size_t n;
} vs__tf_table;

/* Reads and checks the whole table at path (footer magic, every block's
 * CRC32C and bounds, increasing keys). VS_ECORRUPT / VS_EIO naming path. */
int vs__tf_table_read(const char *path, vs__tf_table *t);
/* Parses a table already in memory (t->bytes, t->len set; fuzzing). */
int vs__tf_table_parse(const char *path, vs__tf_table *t);
void vs__tf_table_free(vs__tf_table *t);
/* The entry with exactly this key, or NULL. */
const vs__tf_kv *vs__tf_table_find(const vs__tf_table *t, const void *key,
                                   size_t key_len);

/* Builds a table of n entries, keys strictly increasing, into out. */
int vs__tf_table_build(const vs__tf_kv *kv, size_t n, vs__tf_buf *out);

/* ---- bundle protos ---- */
#define VS_TF_MAX_SLICES 1000000

typedef struct {
    int ndim; /* extents given */
    int64_t start[VS_MAX_DIMS];
    int64_t length[VS_MAX_DIMS]; /* -1: the full extent */
} vs__tf_slice;

typedef struct {
    int tf_dtype; /* TF DataType number */
    int ndim;
    int64_t shape[VS_MAX_DIMS];
    int32_t shard_id;
    int64_t offset, size;
    uint32_t crc32c_masked;
    vs__tf_slice *slices; /* owned; n_slices of ndim extents each */
    size_t n_slices;
} vs__tf_entry;

typedef struct {
    int64_t num_shards;
    int endianness; /* 0 little, 1 big */
    int64_t producer, min_consumer;
    int bad_consumer_1; /* our consumer version (1) is listed as bad */
} vs__tf_header;

/* Decodes; VS_ECORRUPT "<file>: ..." naming the key for bad fields;
 * VS_EINVAL for a rank beyond VS_MAX_DIMS. e->slices freed with
 * vs__tf_entry_clear. */
int vs__tf_entry_decode(const char *file, const char *key, const uint8_t *p,
                        size_t n, vs__tf_entry *e);
void vs__tf_entry_clear(vs__tf_entry *e);
int vs__tf_header_decode(const char *file, const uint8_t *p, size_t n,
                         vs__tf_header *h);
/* The encoded forms the writer stores (one shard, little-endian). */
void vs__tf_entry_encode(const vs__tf_entry *e, vs__tf_buf *b);
void vs__tf_header_encode(vs__tf_buf *b);

/* TF DataType number <-> vs_dtype: 0 when TF's dtype has no vs_dtype. */
vs_dtype vs__tf_dtype_to_vs(int tf_dtype);
int vs__tf_dtype_from_vs(vs_dtype d);
/* TF's name of a DataType number ("string", "resource", "DT_<n>"). */
const char *vs__tf_dtype_name(int tf_dtype);

/* ---- slice keys ---- */
/* The key a slice of `name` is stored under (TF's EncodeTensorNameSlice). */
int vs__tf_slice_key(const char *name, int ndim, const vs__tf_slice *s,
                     vs__tf_buf *out);

/* ---- the `checkpoint` state file ---- */
/* model_checkpoint_path of the state file at path, as written (relative or
 * absolute). VS_ENOTFOUND when it has none, VS_ECORRUPT when unparsable. */
int vs__tf_state_read(const char *path, char **model_path_out);
/* The text of a state file naming one checkpoint (basename relative). */
char *vs__tf_state_text(const char *model_path);

/* ---- the writer ---- */
/* vs_tf_write_checkpoint's work (bundle_write.c). */
int vs__tf_write(const char *prefix, const char *const *names,
                 const vs_tensor *const *tensors, size_t n);

/* ---- paths ---- */
/* The prefix a path names (see vs__tf_is_checkpoint), malloc'd. */
int vs__tf_resolve(const char *path, char **prefix_out);
/* "<prefix>.data-%05d-of-%05d", malloc'd; NULL when out of memory. */
char *vs__tf_data_name(const char *prefix, int64_t shard, int64_t n);

#endif /* VS_TF_INT_H */
