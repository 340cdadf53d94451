/* varstore._core: the CPython extension module over the C library.
 *
 * A thin binding: every file operation is a vs_* call made with the GIL
 * released; tensors cross as C-contiguous byte buffers (the Python layer
 * makes them from NumPy arrays and PyTorch tensors), so no tensor is
 * copied here except by the library's own decode into the caller's
 * buffer. One concern per file: module.c (module, errors), ckpt.c (the
 * read handle and streaming loads), save.c (saves), async.c (background
 * saves), admin.c (file-level
 * calls). */
#ifndef VS_PY_CORE_H
#define VS_PY_CORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "varstore.h"

/* tf.c: TensorFlow checkpoints. */
PyObject *vs_py_tf_is_checkpoint(PyObject *self, PyObject *args);
PyObject *vs_py_tf_tensors(PyObject *self, PyObject *args);
PyObject *vs_py_tf_load_into(PyObject *self, PyObject *args);

/* Raises the exception class registered for code (varstore.Error
 * subclasses, set by _set_error_classes) with vs_errmsg() as its text.
 * Returns NULL, for `return vs_py_raise(rc);`. */
PyObject *vs_py_raise(int code);
/* The same with a message of the binding's own. */
PyObject *vs_py_raise_msg(int code, const char *msg);

/* A str without NUL as UTF-8 owned by s; NULL with TypeError (not a
 * str) or InvalidArgumentError (a NUL, a lone surrogate); what names the
 * argument in the message. */
const char *vs_py_cstr(PyObject *s, const char *what);

/* Converts a Python step (None: VS_LATEST, else an int >= 0) for reads.
 * Returns 0, or -1 with ValueError/TypeError set. */
int vs_py_step(PyObject *obj, int64_t *out);

/* Progress callbacks into Python: `callable(done, total)` called on the
 * thread that made the vs_* call (which released the GIL). The first
 * exception it raises is kept (later calls are skipped) and re-raised by
 * vs_py_progress_finish after the call returns. */
typedef struct {
    PyObject *callable; /* borrowed; NULL or None: no progress */
    int raised;          /* the callable raised; later calls skipped */
    PyObject *exc_type;  /* that exception, owned (3.12+: exc_value only) */
    PyObject *exc_value;
    PyObject *exc_tb;
} vs_py_progress;
void vs_py_progress_cb(void *ctx, uint64_t done, uint64_t total);
/* rc from the vs_* call: raises its error, else the callable's exception
 * if any. Returns 0 when neither, -1 with an exception set. */
int vs_py_progress_finish(vs_py_progress *p, int rc);

extern PyTypeObject vs_py_ckpt_type;

/* save.c: a save's tensors as C-contiguous buffers (held until freed;
 * the tensors point straight at them), and its arguments. */
typedef struct {
    size_t n;
    PyObject *names;      /* tuple of str, owned */
    const char **cnames;  /* into names' UTF-8 */
    vs_tensor *tensors;
    const vs_tensor **ptrs;
    Py_buffer *views;
    size_t n_views;       /* views acquired so far */
} vs_py_batch;
int vs_py_batch_init(vs_py_batch *b, PyObject *names, PyObject *dtypes,
                     PyObject *shapes, PyObject *bufs);
void vs_py_batch_free(vs_py_batch *b);
typedef struct {
    PyObject *path; /* bytes, owned */
    long long step;
    int codec, level, threads, keep;
    PyObject *progress; /* borrowed; None: none */
} vs_py_save_args;
/* Parses save()'s arguments (see vs_py_save) into a and b; both are to be
 * freed (vs_py_save_args_free, vs_py_batch_free) also on -1. */
int vs_py_save_parse(PyObject *args, PyObject *kwargs, vs_py_save_args *a,
                     vs_py_batch *b);
void vs_py_save_args_free(vs_py_save_args *a);
/* The options of a save, with p as the progress callback's context. */
void vs_py_save_opts(const vs_py_save_args *a, vs_py_progress *p,
                     vs_save_opts *o);

PyObject *vs_py_save(PyObject *self, PyObject *args, PyObject *kwargs);

/* async.c: the AsyncSaver type (vs_async_*). */
extern PyTypeObject vs_py_async_type;
PyObject *vs_py_list_checkpoints(PyObject *self, PyObject *args);
PyObject *vs_py_delete(PyObject *self, PyObject *args);
PyObject *vs_py_prune(PyObject *self, PyObject *args);
PyObject *vs_py_verify(PyObject *self, PyObject *args);
PyObject *vs_py_rename(PyObject *self, PyObject *args);
PyObject *vs_py_set_retention(PyObject *self, PyObject *args);

#endif /* VS_PY_CORE_H */
