/* varstore tools: safetensors files, per the published format: an 8-byte
 * little-endian header length N, N bytes of JSON header (an object mapping
 * each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} with
 * offsets relative to the data section, plus an optional "__metadata__"
 * string-to-string map), then the data section. Dtypes: F16 BF16 F32 F64 I8
 * U8 I32 I64 BOOL (all little-endian). The header is parsed with SQLite's
 * JSON functions in an in-memory connection. */
#ifndef VS_TOOLS_SAFETENSORS_H
#define VS_TOOLS_SAFETENSORS_H

#include <stddef.h>

#include "varstore.h"
#include "vst.h"

#define VST_ST_MAX_HEADER 100000000u /* 100 MB, as the reference reader */

typedef struct {
    size_t n;           /* tensors */
    char **names;       /* n names, sorted */
    vs_tensor **tensors;/* n tensors, same order */
    size_t n_meta;      /* __metadata__ entries */
    char **meta_keys;   /* n_meta keys, in file order */
    char **meta_values; /* n_meta values */
} vst_st_file;

/* Reads a whole safetensors file. On failure *out is NULL and vst_errmsg()
 * names the file and the problem: VS_EIO (cannot open/read), VS_ECORRUPT
 * (header length beyond the file or over 100 MB, invalid or non-object JSON,
 * offsets out of bounds / overlapping / not covering the data exactly, byte
 * count not matching shape x dtype, duplicate names, bad field), VS_EDTYPE
 * (unknown dtype), VS_EINVAL (overflowing shape, rank > VS_MAX_DIMS). */
int vst_st_read(const char *path, vst_st_file **out);
void vst_st_free(vst_st_file *f);

/* The tensors of a safetensors file without their data, as
 * vst_st_read_index finds them after every check of vst_st_read but those
 * of the data itself (bool values): sorted by name, each with where its
 * bytes start in the file (little-endian, as the file holds them). */
typedef struct {
    char *name;
    vs_dtype dtype;
    int ndim;
    int64_t shape[VS_MAX_DIMS];
    uint64_t offset;
    size_t nbytes;
} vst_st_entry;
typedef struct {
    size_t n;
    vst_st_entry *e;
    uint64_t file_size;
    vst_file_id file_id; /* the file when its header was read */
} vst_st_index;
int vst_st_read_index(const char *path, vst_st_index **out);
void vst_st_index_free(vst_st_index *x);

/* Writes n tensors (names unique; order kept) and n_meta metadata pairs
 * to path: first to a temporary file beside it, renamed over path only when
 * complete, so a failure leaves nothing behind. */
int vst_st_write(const char *path, const char *const *names,
                 const vs_tensor *const *tensors, size_t n,
                 const char *const *meta_keys, const char *const *meta_values,
                 size_t n_meta);

/* The same file written piece by piece (restore --safetensors streams a
 * checkpoint into it): vst_st_create writes the header of n tensors
 * described by d (names unique) into a new temporary file beside path;
 * vst_st_put writes bytes [off, off + len) of tensor i (whole elements,
 * native byte order; written little-endian), from any thread, in any
 * order; vst_st_commit checks the size, fsyncs and renames the file over
 * path; vst_st_discard removes it. commit and discard free w. */
typedef struct {
    const char *name;
    vs_dtype dtype;
    int ndim;
    const int64_t *shape;
} vst_st_desc;
typedef struct vst_st_writer vst_st_writer;
int vst_st_create(const char *path, const vst_st_desc *d, size_t n,
                  const char *const *meta_keys,
                  const char *const *meta_values, size_t n_meta,
                  vst_st_writer **out);
int vst_st_put(vst_st_writer *w, size_t i, uint64_t off, const void *data,
               size_t len);
int vst_st_commit(vst_st_writer *w);
void vst_st_discard(vst_st_writer *w);

/* "F32" etc., NULL for an invalid dtype; and the inverse (VS_EDTYPE). */
const char *vst_st_dtype_name(vs_dtype dtype);
int vst_st_dtype_from_name(const char *name, vs_dtype *out);

#endif /* VS_TOOLS_SAFETENSORS_H */
