/* varstore tools: helpers shared by the CLI's format modules (npy,
 * safetensors) and the CLI itself. Uses only the public API of varstore.h;
 * errors of these modules go to their own thread-local message. */
#ifndef VS_TOOLS_VST_H
#define VS_TOOLS_VST_H

#include <stddef.h>
#include <stdint.h>

#include "varstore.h"

#if defined(__GNUC__) || defined(__clang__)
#define VST_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VST_PRINTF(a, b)
#endif

/* Sets this thread's tools error message and returns code (a VS_E* value). */
int vst_fail(int code, const char *fmt, ...) VST_PRINTF(2, 3);
/* The message of the last failed tools call; never NULL. */
const char *vst_errmsg(void);

/* Whether this host stores integers little-endian. */
int vst_host_little(void);

/* Opens path for reading, refusing anything but a regular file without
 * blocking on it (a FIFO or a device is refused, never waited on): opened
 * with O_NONBLOCK, checked with fstat, then O_NONBLOCK cleared. Returns
 * the descriptor (and, size != NULL, the file's size in *size), or -1
 * after vst_fail(VS_EIO, ...) naming path. */
int vst_open_regular(const char *path, uint64_t *size);

/* What tells a file's content changed, for a file being read: it is the
 * same file (device and inode), of the same size, and not written nor
 * its attributes changed since (modification and change times, to the
 * nanosecond: a rewrite in place at the same size changes them, with the
 * resolution of the kernel's file clock). */
typedef struct {
    uint64_t dev, ino, size;
    int64_t mtime_sec, mtime_nsec, ctime_sec, ctime_nsec;
} vst_file_id;
/* vst_open_regular, and the file's identity in *id. */
int vst_open_regular_id(const char *path, vst_file_id *id);
/* The identity of the open file fd, or of the file at path (stat): 0,
 * or -1 with errno set. */
int vst_fd_id(int fd, vst_file_id *id);
int vst_path_id(const char *path, vst_file_id *id);
/* Whether a and b are the same file, unchanged. */
int vst_file_id_same(const vst_file_id *a, const vst_file_id *b);

/* TF1 TensorShape text: "(2, 3)", "(5,)", "()". Always NUL-terminated. */
char *vst_shape_str(int ndim, const int64_t *shape, char *buf, size_t cap);
#define VST_SHAPE_STR_MAX (VS_MAX_DIMS * 24 + 16)

/* Writes all of p[0..len) to fd at pos (pwrite, again after EINTR and
 * short writes). 0, or -1 with errno set. Thread-safe. */
int vst_pwrite_all(int fd, const void *p, size_t len, uint64_t pos);

/* Reads all of p[0..len) from fd at pos (pread, again after EINTR and
 * short reads). 0, or -1 with errno set (EIO for an early end of file). */
int vst_pread_all(int fd, void *p, size_t len, uint64_t pos);

/* Reverses the bytes of each of n elements of size esize in place. */
void vst_byteswap(void *data, size_t n, size_t esize);

/* Checks that the n bool bytes are 0 or 1: VS_ECORRUPT otherwise, the
 * message prefixed with what (a file or tensor name). */
int vst_check_bools(const uint8_t *p, size_t n, const char *what);

#endif /* VS_TOOLS_VST_H */
