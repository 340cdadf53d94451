/* varstore._core.save: vs_save_tensors over C-contiguous byte buffers.
 * The tensors handed to the library point straight at the buffers (no
 * copy); the GIL is released for the whole save (encode and I/O). */
#include "core.h"

#include <string.h>

void vs_py_batch_free(vs_py_batch *b)
{
    for (size_t i = 0; i < b->n_views; i++)
        PyBuffer_Release(&b->views[i]);
    PyMem_Free(b->cnames);
    PyMem_Free(b->tensors);
    PyMem_Free(b->ptrs);
    PyMem_Free(b->views);
    Py_XDECREF(b->names);
}

/* Fills t's dtype and shape from a dtype name and a shape tuple. */
static int set_meta(vs_tensor *t, PyObject *dtype, PyObject *shape)
{
    const char *dn = vs_py_cstr(dtype, "dtype");
    if (dn == NULL)
        return -1;
    if (vs_dtype_from_name(dn, &t->dtype) != VS_OK) {
        vs_py_raise(VS_EINVAL);
        return -1;
    }
    if (!PyTuple_Check(shape) || PyTuple_GET_SIZE(shape) > VS_MAX_DIMS) {
        PyErr_Format(PyExc_ValueError,
                     "shape must be a tuple of at most %d ints", VS_MAX_DIMS);
        return -1;
    }
    t->ndim = (int)PyTuple_GET_SIZE(shape);
    for (int d = 0; d < t->ndim; d++) {
        long long v = PyLong_AsLongLong(PyTuple_GET_ITEM(shape, d));
        if (v == -1 && PyErr_Occurred())
            return -1;
        t->shape[d] = (int64_t)v;
    }
    return 0;
}

/* Tensor i: name, metadata, and its buffer, whose size must match. */
static int batch_item(vs_py_batch *b, size_t i, PyObject *dtype, PyObject *shape,
                      PyObject *buf)
{
    vs_tensor *t = &b->tensors[i];
    b->cnames[i] = vs_py_cstr(PyTuple_GET_ITEM(b->names, (Py_ssize_t)i),
                          "a tensor name");
    if (b->cnames[i] == NULL || set_meta(t, dtype, shape) < 0)
        return -1;
    size_t nbytes = 0;
    if (vs_shape_check(t->dtype, t->ndim, t->shape, NULL, &nbytes) != VS_OK) {
        vs_py_raise(VS_EINVAL);
        return -1;
    }
    if (PyObject_GetBuffer(buf, &b->views[i], PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    b->n_views = i + 1;
    if ((size_t)b->views[i].len != nbytes) {
        PyErr_Format(PyExc_ValueError,
                     "tensor %s: %zd bytes given, its shape and dtype need %zu",
                     b->cnames[i], b->views[i].len, nbytes);
        return -1;
    }
    t->data = b->views[i].buf;
    b->ptrs[i] = t;
    return 0;
}

int vs_py_batch_init(vs_py_batch *b, PyObject *names, PyObject *dtypes,
                     PyObject *shapes, PyObject *bufs)
{
    memset(b, 0, sizeof *b);
    b->names = PySequence_Tuple(names);
    if (b->names == NULL)
        return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(b->names);
    if (!PyTuple_Check(dtypes) || !PyTuple_Check(shapes) ||
        !PyTuple_Check(bufs) || PyTuple_GET_SIZE(dtypes) != n ||
        PyTuple_GET_SIZE(shapes) != n || PyTuple_GET_SIZE(bufs) != n) {
        PyErr_SetString(PyExc_ValueError,
                        "names, dtypes, shapes and buffers must be tuples "
                        "of one length");
        return -1;
    }
    b->n = (size_t)n;
    size_t m = b->n > 0 ? b->n : 1;
    b->cnames = PyMem_Calloc(m, sizeof *b->cnames);
    b->tensors = PyMem_Calloc(m, sizeof *b->tensors);
    b->ptrs = PyMem_Calloc(m, sizeof *b->ptrs);
    b->views = PyMem_Calloc(m, sizeof *b->views);
    if (!b->cnames || !b->tensors || !b->ptrs || !b->views) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < b->n; i++) {
        Py_ssize_t k = (Py_ssize_t)i;
        if (batch_item(b, i, PyTuple_GET_ITEM(dtypes, k),
                       PyTuple_GET_ITEM(shapes, k),
                       PyTuple_GET_ITEM(bufs, k)) < 0)
            return -1;
    }
    return 0;
}

void vs_py_save_opts(const vs_py_save_args *a, vs_py_progress *p,
                     vs_save_opts *o)
{
    memset(o, 0, sizeof *o);
    o->codec = a->codec;
    o->level = a->level;
    o->threads = a->threads;
    o->max_to_keep = a->keep;
    if (a->progress != Py_None) {
        o->progress = vs_py_progress_cb;
        o->progress_ctx = p;
    }
}

int vs_py_save_parse(PyObject *args, PyObject *kwargs, vs_py_save_args *a,
                     vs_py_batch *b)
{
    static const char *kw[] = {"path", "step", "names", "dtypes", "shapes",
                               "buffers", "codec", "level", "threads",
                               "max_to_keep", "progress", NULL};
    PyObject *names, *dtypes, *shapes, *bufs;
    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    a->codec = VS_CODEC_DEFAULT;
    a->progress = Py_None;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "O&LOOOO|iiiiO", (char **)kw, PyUnicode_FSConverter,
            &a->path, &a->step, &names, &dtypes, &shapes, &bufs, &a->codec,
            &a->level, &a->threads, &a->keep, &a->progress))
        return -1;
    return vs_py_batch_init(b, names, dtypes, shapes, bufs);
}

void vs_py_save_args_free(vs_py_save_args *a)
{
    Py_CLEAR(a->path);
}

/* vs_save_tensors of b with the GIL released; 0 or -1 with an error. */
static int run_save(const vs_py_batch *b, const vs_py_save_args *a)
{
    vs_py_progress p = {a->progress, 0, NULL, NULL, NULL};
    vs_save_opts o;
    vs_py_save_opts(a, &p, &o);
    int rc;
    const char *cpath = PyBytes_AS_STRING(a->path);
    Py_BEGIN_ALLOW_THREADS
    rc = vs_save_tensors(cpath, (int64_t)a->step, b->cnames, b->ptrs, b->n,
                         &o);
    Py_END_ALLOW_THREADS
    return vs_py_progress_finish(&p, rc);
}

/* save(path, step, names, dtypes, shapes, buffers, codec=0, level=0,
 *      threads=0, max_to_keep=0, progress=None): tuples of one length;
 * buffers[i] holds exactly the bytes of tensor i in C order. */
PyObject *vs_py_save(PyObject *self, PyObject *args, PyObject *kwargs)
{
    vs_py_save_args a;
    vs_py_batch b;
    (void)self;
    int ok = vs_py_save_parse(args, kwargs, &a, &b) == 0 &&
             run_save(&b, &a) == 0;
    vs_py_batch_free(&b);
    vs_py_save_args_free(&a);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}
