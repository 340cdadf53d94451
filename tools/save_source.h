/* varstore tools: the tensors `varstore save` imports, described and
 * checked before the save, then read a chunk at a time while the library
 * saves them (vs_save_stream's read callback), so that the save's memory
 * does not grow with the files' sizes. */
#ifndef VS_TOOLS_SAVE_SOURCE_H
#define VS_TOOLS_SAVE_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "varstore.h"
#include "vst.h"

enum {
    VST_SRC_FILE,  /* bytes [off, off + nbytes) of path, read with pread */
    VST_SRC_NPY,   /* a Fortran-ordered .npy: read whole (vst_npy_read) */
    VST_SRC_TF     /* variable tf_name of TF checkpoint path, read whole */
};

/* One tensor to import. */
typedef struct {
    char *name; /* checkpoint key */
    vs_dtype dtype;
    int ndim;
    int64_t shape[VS_MAX_DIMS];
    size_t nbytes;
    int kind;        /* VST_SRC_* */
    char *path;      /* the file, or the TF checkpoint */
    char *tf_name;   /* VST_SRC_TF: the variable */
    uint64_t off;    /* VST_SRC_FILE, VST_SRC_NPY: where the data starts */
    uint64_t file_size; /* the file's size when described (FILE, NPY) */
    vst_file_id file_id; /* the file when described (FILE, NPY): a read
                          * of a file no longer the same fails */
    int swap;        /* VST_SRC_FILE: elements are byte-swapped */
    char *what;      /* names it in errors ("f.npy", "f: tensor 'x'") */
} vst_src;

/* The tensors, and the reader's state. Zero-initialize, then set fd -1
 * (vst_src_init). */
typedef struct {
    vst_src *s;
    size_t n, cap;
    int fd;             /* the open file (-1: none) */
    const char *fd_path;
    vs_tensor *whole;   /* a tensor read whole ... */
    size_t whole_src;   /* ... for this source */
} vst_src_list;

void vst_src_init(vst_src_list *l);
/* Adds a copy of *s: takes ownership of its strings (freed also on
 * failure). VS_ENOMEM. */
int vst_src_add(vst_src_list *l, const vst_src *s);
/* Checks the values of every bool tensor of a file (0 or 1), reading
 * through a small buffer: vst_check_bools' message on failure. */
int vst_src_check_bools(vst_src_list *l);
/* vs_read_fn over l (ctx): fills buf with bytes [off, off + len) of
 * tensor i, in host byte order and C order. A file that changed since it
 * was described, or cannot be read, is an error (message in err). */
int vst_src_read(void *ctx, size_t i, uint64_t off, void *buf, size_t len,
                 char *err, size_t err_cap);
/* Whether every tensor of l is a range of one file, read as it is (a
 * safetensors file): then that file is opened (and checked unchanged)
 * now, and vst_src_read_shared reads l from any thread, several calls at
 * once, until vst_src_close. 0: use vst_src_read (also when the file
 * cannot be opened: that reader then says why). */
int vst_src_share(vst_src_list *l);
/* vs_read_fn over a list vst_src_share accepted (ctx): vst_src_read's
 * bytes and errors, without changing l. */
int vst_src_read_shared(void *ctx, size_t i, uint64_t off, void *buf,
                        size_t len, char *err, size_t err_cap);
/* Saves of at most this many bytes are read whole before the save
 * (vst_src_read_all): the library then builds a new file aside (two
 * syncs instead of seven) and encodes small saves on the calling thread,
 * which a save whose bytes come through vs_save_stream's callback
 * cannot do. Larger saves stream, so that memory stays bounded. */
#define VST_SRC_WHOLE_MAX ((size_t)16 << 20)
/* Every tensor of a list, read into memory by vst_src_read_all. */
typedef struct {
    vs_tensor *t;                 /* t[i] holds l->s[i]'s bytes ... */
    const vs_tensor **ptrs;       /* ... and ptrs[i] is &t[i] */
    unsigned char *block;         /* every tensor's data */
} vst_src_whole;
/* Reads every tensor of l into *w, in host byte order and C order,
 * checked as vst_src_read checks them. Free with vst_src_whole_free; on
 * failure *w holds nothing and vst_errmsg() says why. */
int vst_src_read_all(vst_src_list *l, vst_src_whole *w);
void vst_src_whole_free(vst_src_whole *w);
/* Closes what the reader holds open (also done by vst_src_free). */
void vst_src_close(vst_src_list *l);
void vst_src_free(vst_src_list *l);

#endif /* VS_TOOLS_SAVE_SOURCE_H */
