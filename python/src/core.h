/* varstore._core: the CPython extension module over the C library.
 *
 * A thin binding: every file operation is a vs_* call made with the GIL
 * released; tensors cross as C-contiguous byte buffers (the Python layer
 * makes them from NumPy arrays and PyTorch tensors), so no tensor is
 * copied here except by the library's own decode into the caller's
 * buffer. One concern per file: module.c (module, errors), ckpt.c (the
 * read handle and streaming loads), save.c (saves), admin.c (file-level
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

/* A str without NUL as UTF-8 owned by s; NULL with TypeError/ValueError
 * (what names the argument in the message). */
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

PyObject *vs_py_save(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject *vs_py_list_checkpoints(PyObject *self, PyObject *args);
PyObject *vs_py_delete(PyObject *self, PyObject *args);
PyObject *vs_py_prune(PyObject *self, PyObject *args);
PyObject *vs_py_verify(PyObject *self, PyObject *args);
PyObject *vs_py_rename(PyObject *self, PyObject *args);
PyObject *vs_py_set_retention(PyObject *self, PyObject *args);

#endif /* VS_PY_CORE_H */
