/* varstore tools: NumPy .npy files (format versions 1.0, 2.0 and 3.0).
 *
 * Reading accepts the dtypes varstore stores that NumPy has (<f2 <f4 <f8
 * |i1 |u1 <i4 <i8 |b1, any byte order: big-endian data is converted) and
 * Fortran-ordered arrays (transposed to C order). The header dict is parsed
 * strictly: exactly the keys descr, fortran_order and shape. The data must
 * be exactly shape x itemsize bytes long. bfloat16 has no NumPy dtype: the
 * writer refuses it (the CLI widens it to float32, which is exact). */
#ifndef VS_TOOLS_NPY_H
#define VS_TOOLS_NPY_H

#include "varstore.h"
#include "vst.h"

/* Reads the .npy file at path into a new tensor (*out, freed with
 * vs_tensor_free). On failure *out is NULL and vst_errmsg() says why,
 * naming the file: VS_EIO (cannot open/read), VS_ECORRUPT (malformed or
 * truncated file), VS_EDTYPE (dtype varstore does not store), VS_EINVAL
 * (shape too large or of rank > VS_MAX_DIMS). */
int vst_npy_read(const char *path, vs_tensor **out);

/* As vst_npy_read, but a little-endian C-order file (the usual case) is
 * mapped read-only instead of copied. *out is read-only and must be freed
 * with vst_npy_release (never vs_tensor_free). */
int vst_npy_load(const char *path, vs_tensor **out);
void vst_npy_release(vs_tensor *t);

/* What a .npy file holds, as vst_npy_probe finds it without reading the
 * data: dtype and shape, where the data starts, the file's size, and
 * whether the data is big-endian (swap) or Fortran-ordered with more
 * than one dimension (fortran: C order needs the whole array). */
typedef struct {
    vs_dtype dtype;
    int ndim;
    int64_t shape[VS_MAX_DIMS];
    uint64_t data_off, file_size;
    size_t nbytes;
    int swap, fortran;
    vst_file_id file_id; /* the file when probed */
} vst_npy_info;

/* Checks the prefix and header of the .npy file at path, and that the
 * data is exactly shape x itemsize bytes long, with vst_npy_read's errors;
 * reads no data (bool values are not checked). */
int vst_npy_probe(const char *path, vst_npy_info *out);

/* Writes t to path as .npy version 1.0 (2.0 if the header needed more than
 * 65535 bytes), little-endian, C order. VS_EDTYPE for bfloat16; VS_EIO on
 * an I/O error, after which the partial file is removed. */
int vst_npy_write(const char *path, const vs_tensor *t);

/* The .npy (1.0) header of an array of dtype and shape, as vst_npy_write
 * writes it: *len bytes into buf (cap >= VST_NPY_HEADER_MAX), a multiple
 * of 64; *nbytes gets the data's size. VS_EDTYPE for bfloat16, VS_EINVAL
 * for a bad shape; path only names the file in errors. */
#define VST_NPY_HEADER_MAX 512
int vst_npy_header(const char *path, vs_dtype dtype, int ndim,
                   const int64_t *shape, unsigned char *buf, size_t cap,
                   size_t *len, size_t *nbytes);

/* The NumPy descr of a dtype ("<f4", "|b1"); NULL for bfloat16/invalid. */
const char *vst_npy_descr(vs_dtype dtype);

#endif /* VS_TOOLS_NPY_H */
