/* varstore tools: what the .npy reader (npy_read.c) and writer
 * (npy_write.c) share with the header module (npy_header.c). Internal to
 * tools/; the public interface is npy.h. */
#ifndef VS_TOOLS_NPY_FORMAT_H
#define VS_TOOLS_NPY_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "varstore.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64
#define NPY_MAX_HEADER (1u << 20) /* NumPy itself stops at 10000 bytes */

/* The header dict: exactly the keys descr, fortran_order and shape. */
typedef struct {
    char descr[32];
    int fortran;
    int ndim;
    int64_t shape[VS_MAX_DIMS];
} npy_header;

/* Parses the len bytes of header text txt (no NUL in them) into hd;
 * errors name path (VS_ECORRUPT, VS_EDTYPE, VS_EINVAL). */
int vst__npy_parse_header(const char *path, const char *txt, size_t len,
                          npy_header *hd);

/* Maps a descr ("<f4") to a dtype and whether the data needs a byte swap
 * on this host; VS_EDTYPE naming path for a dtype varstore does not store. */
int vst__npy_descr_dtype(const char *path, const char *descr,
                         vs_dtype *dtype, int *swap);

#endif /* VS_TOOLS_NPY_FORMAT_H */
