/* varstore._core.Ckpt: a vs_ckpt read handle (one snapshot of the file).
 * stream() decodes tensors straight into caller-owned writable buffers
 * through vs_ckpt_stream: the library's worker threads memcpy each
 * checked chunk into place, without the GIL. A lock keeps the handle to
 * one thread at a time (its SQLite connection is not shared). */
#include "core.h"

#include <pythread.h>
#include <stdatomic.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#endif

typedef struct {
    PyObject_HEAD
    vs_ckpt *f;
    PyThread_type_lock lock;
} ckpt_obj;

static void lock_handle(ckpt_obj *c)
{
    if (!PyThread_acquire_lock(c->lock, NOWAIT_LOCK)) {
        Py_BEGIN_ALLOW_THREADS
        PyThread_acquire_lock(c->lock, WAIT_LOCK);
        Py_END_ALLOW_THREADS
    }
}

/* Locks c and checks it is open; 0, or -1 with ValueError (unlocked). */
static int enter(ckpt_obj *c)
{
    lock_handle(c);
    if (c->f == NULL) {
        PyThread_release_lock(c->lock);
        PyErr_SetString(PyExc_ValueError, "the checkpoint handle is closed");
        return -1;
    }
    return 0;
}

static PyObject *ckpt_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static const char *kwlist[] = {"path", NULL};
    PyObject *path = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&", (char **)kwlist,
                                     PyUnicode_FSConverter, &path))
        return NULL;
    ckpt_obj *c = (ckpt_obj *)type->tp_alloc(type, 0);
    if (c == NULL) {
        Py_DECREF(path);
        return NULL;
    }
    c->lock = PyThread_allocate_lock();
    if (c->lock == NULL) {
        Py_DECREF(path);
        Py_DECREF(c);
        return PyErr_NoMemory();
    }
    int rc;
    const char *cpath = PyBytes_AS_STRING(path);
    Py_BEGIN_ALLOW_THREADS
    rc = vs_ckpt_open(cpath, &c->f);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (rc != VS_OK) {
        c->f = NULL;
        Py_DECREF(c);
        return vs_py_raise(rc);
    }
    return (PyObject *)c;
}

static void close_handle(ckpt_obj *c)
{
    vs_ckpt *f = c->f;
    c->f = NULL;
    if (f != NULL) {
        Py_BEGIN_ALLOW_THREADS
        vs_ckpt_close(f);
        Py_END_ALLOW_THREADS
    }
}

static void ckpt_dealloc(ckpt_obj *c)
{
    close_handle(c); /* no other reference: nobody holds the lock */
    if (c->lock != NULL)
        PyThread_free_lock(c->lock);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static PyObject *ckpt_close(ckpt_obj *c, PyObject *unused)
{
    (void)unused;
    lock_handle(c);
    close_handle(c);
    PyThread_release_lock(c->lock);
    Py_RETURN_NONE;
}

static PyObject *ckpt_enter(ckpt_obj *c, PyObject *unused)
{
    (void)unused;
    Py_INCREF(c);
    return (PyObject *)c;
}

static PyObject *ckpt_exit(ckpt_obj *c, PyObject *args)
{
    (void)args;
    return ckpt_close(c, NULL);
}

static PyObject *ckpt_latest(ckpt_obj *c, PyObject *unused)
{
    (void)unused;
    if (enter(c) < 0)
        return NULL;
    int64_t step = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = vs_ckpt_latest(c->f, &step);
    Py_END_ALLOW_THREADS
    PyThread_release_lock(c->lock);
    if (rc != VS_OK)
        return vs_py_raise(rc);
    return PyLong_FromLongLong((long long)step);
}

/* (min, max, mean, std, n_nan, n_inf) or six Nones. */
static PyObject *stats_tuple(const vs_tensor_info *t)
{
    if (!t->has_stats)
        return Py_BuildValue("(OOOOOO)", Py_None, Py_None, Py_None, Py_None,
                             Py_None, Py_None);
    return Py_BuildValue("(ddddLL)", t->min, t->max, t->mean, t->std,
                         (long long)t->n_nan, (long long)t->n_inf);
}

/* The name as str; a name that is not UTF-8 is damage (the library
 * stores what its callers give it, and every binding passes UTF-8). */
static PyObject *name_str(const char *name)
{
    PyObject *s = PyUnicode_DecodeUTF8(name, (Py_ssize_t)strlen(name),
                                       NULL);
    if (s == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        vs_py_raise_msg(VS_ECORRUPT,
                        "a tensor name in the checkpoint is not UTF-8");
    }
    return s;
}

static PyObject *shape_tuple(const vs_tensor_info *t)
{
    PyObject *shape = PyTuple_New(t->ndim);
    if (shape == NULL)
        return NULL;
    for (int d = 0; d < t->ndim; d++) {
        PyObject *v = PyLong_FromLongLong((long long)t->shape[d]);
        if (v == NULL) {
            Py_DECREF(shape);
            return NULL;
        }
        PyTuple_SET_ITEM(shape, d, v);
    }
    return shape;
}

/* (name, dtype, shape, numel, raw_bytes, stored_bytes, codec, crc32,
 *  (min, max, mean, std, n_nan, n_inf)) */
static PyObject *info_tuple(const vs_tensor_info *t)
{
    PyObject *name = name_str(t->name);
    PyObject *shape = shape_tuple(t);
    PyObject *stats = stats_tuple(t);
    if (name == NULL || shape == NULL || stats == NULL) {
        Py_XDECREF(name);
        Py_XDECREF(shape);
        Py_XDECREF(stats);
        return NULL;
    }
    return Py_BuildValue("(NsNLLLskN)", name, vs_dtype_name(t->dtype), shape,
                         (long long)t->numel, (long long)t->raw_bytes,
                         (long long)t->stored_bytes, t->codec,
                         (unsigned long)t->crc32, stats);
}

static PyObject *info_list(const vs_tensor_info *infos, size_t n)
{
    PyObject *list = PyList_New((Py_ssize_t)n);
    if (list == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        PyObject *row = info_tuple(&infos[i]);
        if (row == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, row);
    }
    return list;
}

static PyObject *ckpt_list(ckpt_obj *c, PyObject *args)
{
    PyObject *step_obj = Py_None;
    int64_t step;
    if (!PyArg_ParseTuple(args, "|O", &step_obj) ||
        vs_py_step(step_obj, &step) < 0 || enter(c) < 0)
        return NULL;
    vs_tensor_info *infos = NULL;
    size_t n = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = vs_ckpt_list_variables(c->f, step, &infos, &n);
    Py_END_ALLOW_THREADS
    PyThread_release_lock(c->lock);
    if (rc != VS_OK)
        return vs_py_raise(rc);
    PyObject *list = info_list(infos, n);
    vs_tensor_info_free(infos, n);
    return list;
}

typedef struct {
    Py_buffer *views;
    size_t n;
    atomic_int overflow; /* a chunk fell outside its buffer */
    vs_py_progress progress;
    uint64_t done, total; /* bytes of the tensors ended, of all */
} sink_ctx;

/* On the library's worker threads, without the GIL: the buffers are
 * held (PyObject_GetBuffer) for the whole stream. */
static int sink_write(void *ctx, size_t i, uint64_t offset, const void *data,
                      size_t len)
{
    sink_ctx *s = ctx;
    if (i >= s->n || offset > (uint64_t)s->views[i].len ||
        len > (uint64_t)s->views[i].len - offset) {
        atomic_store(&s->overflow, 1);
        return VS_ECORRUPT;
    }
    memcpy((char *)s->views[i].buf + offset, data, len);
    return 0;
}

/* On the calling thread, once tensor i is complete: progress. */
static int sink_end(void *ctx, size_t i)
{
    sink_ctx *s = ctx;
    s->done += (uint64_t)s->views[i].len;
    vs_py_progress_cb(&s->progress, s->done, s->total);
    return s->progress.raised ? VS_ERROR : 0; /* stops the stream */
}

/* names[i] as UTF-8 and bufs[i] as a writable contiguous view, for
 * i < n; *got counts the views taken (to release). */
static int take_views(PyObject *names, PyObject *bufs, const char **cnames,
                      Py_buffer *views, size_t n, size_t *got)
{
    for (size_t i = 0; i < n; i++) {
        Py_ssize_t k = (Py_ssize_t)i;
        cnames[i] = vs_py_cstr(PyTuple_GET_ITEM(names, k), "a tensor name");
        if (cnames[i] == NULL ||
            PyObject_GetBuffer(PyTuple_GET_ITEM(bufs, k), &views[i],
                               PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
            return -1;
        *got = i + 1;
    }
    return 0;
}

/* The buffers stream() fills are arrays just allocated for the result and
 * not yet touched (NumPy advises huge pages for those of 4 MiB and more).
 * On the project's KVM machines the first touch of fresh huge pages is
 * slow and erratic (ops/buffers.c says why; a cold 500 MB load through
 * NumPy arrays took 0.76-1.17 s with the advice, 0.35-0.45 s in 4 KiB
 * pages), so the whole pages inside each large buffer are advised
 * MADV_NOHUGEPAGE first. Advice only: a failure changes nothing. */
static void advise_small_pages(const Py_buffer *views, size_t n)
{
#if defined(__linux__) && defined(MADV_NOHUGEPAGE)
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0)
        return;
    for (size_t i = 0; i < n; i++) {
        if (views[i].len < ((Py_ssize_t)4 << 20))
            continue;
        uintptr_t lo = (uintptr_t)views[i].buf;
        uintptr_t hi = lo + (uintptr_t)views[i].len;
        lo = (lo + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
        hi &= ~((uintptr_t)page - 1);
        if (hi > lo)
            (void)madvise((void *)lo, hi - lo, MADV_NOHUGEPAGE);
    }
#else
    (void)views;
    (void)n;
#endif
}

static int run_stream(ckpt_obj *c, int64_t step, const char **cnames,
                      sink_ctx *s, int threads)
{
    vs_stream_sink sink;
    memset(&sink, 0, sizeof sink);
    sink.write = sink_write;
    if (s->progress.callable != Py_None)
        sink.end = sink_end;
    sink.ctx = s;
    sink.threads = threads;
    for (size_t i = 0; i < s->n; i++)
        s->total += (uint64_t)s->views[i].len;
    if (enter(c) < 0)
        return -1;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = vs_ckpt_stream(c->f, step, cnames, s->n, &sink);
    Py_END_ALLOW_THREADS
    PyThread_release_lock(c->lock);
    if (rc != VS_OK && atomic_load(&s->overflow)) {
        PyErr_SetString(PyExc_ValueError,
                        "a buffer is smaller than its tensor");
        return -1;
    }
    /* the callback's exception first: it is why the stream stopped */
    return vs_py_progress_finish(&s->progress,
                                 s->progress.raised ? VS_OK : rc);
}

/* Without a progress callback: every tensor read straight into its
 * buffer (vs_ckpt_load_into; raw chunks from the file into place, no
 * copy in between). */
static int run_into(ckpt_obj *c, int64_t step, const char **cnames,
                    sink_ctx *s, int threads)
{
    void **dst = PyMem_Calloc(s->n ? s->n : 1, sizeof *dst);
    size_t *bytes = PyMem_Calloc(s->n ? s->n : 1, sizeof *bytes);
    if (dst == NULL || bytes == NULL) {
        PyMem_Free(dst);
        PyMem_Free(bytes);
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < s->n; i++) {
        dst[i] = s->views[i].buf;
        bytes[i] = (size_t)s->views[i].len;
    }
    int rc = VS_OK;
    if (enter(c) == 0) {
        Py_BEGIN_ALLOW_THREADS
        rc = vs_ckpt_load_into(c->f, step, cnames, s->n, dst, bytes,
                               threads);
        Py_END_ALLOW_THREADS
        PyThread_release_lock(c->lock);
    } else {
        rc = VS_ERROR; /* the exception is set */
    }
    PyMem_Free(dst);
    PyMem_Free(bytes);
    if (rc == VS_ERROR && PyErr_Occurred())
        return -1;
    if (rc != VS_OK) {
        vs_py_raise(rc);
        return -1;
    }
    return 0;
}

/* stream(step, names: tuple[str], buffers: tuple[writable], threads=0,
 *        progress=None): fills buffers[i] (fresh arrays: see
 * advise_small_pages) with tensor names[i] of checkpoint step;
 * progress(done, total) in bytes after each tensor. */
static PyObject *ckpt_stream(ckpt_obj *c, PyObject *args)
{
    PyObject *step_obj, *names, *bufs, *progress = Py_None;
    int threads = 0;
    int64_t step;
    if (!PyArg_ParseTuple(args, "OO!O!|iO", &step_obj, &PyTuple_Type, &names,
                          &PyTuple_Type, &bufs, &threads, &progress) ||
        vs_py_step(step_obj, &step) < 0)
        return NULL;
    size_t n = (size_t)PyTuple_GET_SIZE(names);
    if (PyTuple_GET_SIZE(bufs) != (Py_ssize_t)n) {
        PyErr_SetString(PyExc_ValueError,
                        "names and buffers must have one length");
        return NULL;
    }
    const char **cnames = PyMem_Calloc(n ? n : 1, sizeof *cnames);
    sink_ctx s;
    memset(&s, 0, sizeof s);
    s.views = PyMem_Calloc(n ? n : 1, sizeof(Py_buffer));
    s.n = n;
    s.progress.callable = progress;
    size_t got = 0;
    int ok = cnames != NULL && s.views != NULL;
    if (!ok)
        PyErr_NoMemory();
    ok = ok && take_views(names, bufs, cnames, s.views, n, &got) == 0;
    if (ok)
        advise_small_pages(s.views, n);
    if (progress == Py_None)
        ok = ok && run_into(c, step, cnames, &s, threads) == 0;
    else
        ok = ok && run_stream(c, step, cnames, &s, threads) == 0;
    for (size_t i = 0; i < got; i++)
        PyBuffer_Release(&s.views[i]);
    PyMem_Free(s.views);
    PyMem_Free(cnames);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef ckpt_methods[] = {
    {"close", (PyCFunction)ckpt_close, METH_NOARGS, "Closes the handle."},
    {"__enter__", (PyCFunction)ckpt_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)ckpt_exit, METH_VARARGS, NULL},
    {"latest", (PyCFunction)ckpt_latest, METH_NOARGS,
     "The newest step in this snapshot (vs_ckpt_latest)."},
    {"list", (PyCFunction)ckpt_list, METH_VARARGS,
     "list(step=None): the tensors of a checkpoint, as tuples."},
    {"stream", (PyCFunction)ckpt_stream, METH_VARARGS,
     "stream(step, names, buffers, threads=0, progress=None): decodes "
     "into the buffers."},
    {NULL, NULL, 0, NULL}};

PyTypeObject vs_py_ckpt_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "varstore._core.Ckpt",
    .tp_basicsize = sizeof(ckpt_obj),
    .tp_dealloc = (destructor)ckpt_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Ckpt(path): a read handle on a checkpoint file (vs_ckpt).",
    .tp_methods = ckpt_methods,
    .tp_new = ckpt_new,
};
