/* varstore._core.AsyncSaver: vs_async_* for Python. save() waits for the
 * save in flight (raising its error), then snapshots the buffers through
 * vs_async_save_tensors (the library copies them before it returns) and
 * returns while the library encodes and writes on its own thread; wait()
 * and close() report that save's result. save_nocopy() lends the buffers
 * instead (vs_async_save_tensors_nocopy): the saver holds them until that
 * save is reported. The GIL is released while the library copies and
 * while it waits. */
#include "core.h"

#include <string.h>

typedef struct {
    PyObject_HEAD
    vs_async *a;        /* NULL once closed */
    vs_py_progress pr;  /* the save in flight's callback (run by the
                           library's thread, which takes the GIL) */
    PyObject *progress; /* owned: pr.callable until the save is reported */
    vs_py_batch lent;   /* a nocopy save's buffers, until it is reported */
    int busy;           /* a call of another Python thread is inside */
} saver;

/* The saver whose save runs on this thread (the library's): set by its
 * progress callback, which must not call it back. */
static _Thread_local const saver *tl_own;

static void own_progress(void *ctx, uint64_t done, uint64_t total)
{
    saver *s = ctx;
    tl_own = s;
    vs_py_progress_cb(&s->pr, done, total);
}

/* Raises when called from s's own save's progress callback: it cannot
 * wait for itself, and that save still reads the buffers it holds. */
static int refuse_own(const saver *s)
{
    if (tl_own != s)
        return 0;
    PyErr_SetString(PyExc_RuntimeError,
                    "the AsyncSaver cannot be used from its own save's "
                    "progress callback");
    return -1;
}

/* One thread at a time (the GIL is released inside). */
static int enter(saver *s)
{
    if (s->a == NULL) {
        vs_py_raise_msg(VS_EINVAL, "the AsyncSaver is closed");
        return -1;
    }
    if (refuse_own(s) < 0)
        return -1;
    if (s->busy) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the AsyncSaver is in use by another thread");
        return -1;
    }
    s->busy = 1;
    return 0;
}

/* The result rc of the save in flight (now over): its error, else the
 * exception its progress callback raised. 0 or -1 with an exception. */
static int finish(saver *s, int rc)
{
    int r = vs_py_progress_finish(&s->pr, rc);
    memset(&s->pr, 0, sizeof s->pr);
    Py_CLEAR(s->progress);
    vs_py_batch_free(&s->lent); /* the library no longer reads them */
    memset(&s->lent, 0, sizeof s->lent);
    return r;
}

/* Waits for the save in flight with the GIL released. */
static int wait_flight(saver *s)
{
    int rc;
    vs_async *a = s->a;
    Py_BEGIN_ALLOW_THREADS
    rc = vs_async_wait(a);
    Py_END_ALLOW_THREADS
    return finish(s, rc);
}

/* Starts a save of b with a's options; the progress callable is kept
 * alive until the save is reported, and with lend b too (taken: *b is
 * emptied). */
static int start(saver *s, const vs_py_save_args *a, vs_py_batch *b,
                 int lend)
{
    vs_save_opts o;
    vs_py_save_opts(a, &s->pr, &o);
    if (o.progress != NULL) {
        o.progress = own_progress;
        o.progress_ctx = s;
    }
    s->pr.callable = a->progress;
    Py_INCREF(a->progress);
    s->progress = a->progress;
    int rc;
    vs_async *as = s->a;
    const char *cpath = PyBytes_AS_STRING(a->path);
    Py_BEGIN_ALLOW_THREADS
    rc = lend ? vs_async_save_tensors_nocopy(as, cpath, (int64_t)a->step,
                                             b->cnames, b->ptrs, b->n, &o)
              : vs_async_save_tensors(as, cpath, (int64_t)a->step, b->cnames,
                                      b->ptrs, b->n, &o);
    Py_END_ALLOW_THREADS
    if (rc != VS_OK)
        return finish(s, rc); /* nothing started */
    if (lend) {
        s->lent = *b;
        memset(b, 0, sizeof *b);
    }
    return 0;
}

/* save and save_nocopy: (path, step, names, dtypes, shapes, buffers,
 * codec=0, level=0, threads=0, max_to_keep=0, progress=None), as
 * _core.save. */
static PyObject *save_impl(saver *s, PyObject *args, PyObject *kwargs,
                           int lend)
{
    vs_py_save_args a;
    vs_py_batch b;
    if (vs_py_save_parse(args, kwargs, &a, &b) < 0 || enter(s) < 0) {
        vs_py_batch_free(&b);
        vs_py_save_args_free(&a);
        return NULL;
    }
    int ok = wait_flight(s) == 0 && start(s, &a, &b, lend) == 0;
    s->busy = 0;
    vs_py_batch_free(&b); /* copied by the library, or lent and emptied */
    vs_py_save_args_free(&a);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *saver_save(PyObject *self, PyObject *args, PyObject *kwargs)
{
    return save_impl((saver *)self, args, kwargs, 0);
}

static PyObject *saver_save_nocopy(PyObject *self, PyObject *args,
                                   PyObject *kwargs)
{
    return save_impl((saver *)self, args, kwargs, 1);
}

static PyObject *saver_wait(PyObject *self, PyObject *unused)
{
    saver *s = (saver *)self;
    (void)unused;
    if (enter(s) < 0)
        return NULL;
    int r = wait_flight(s);
    s->busy = 0;
    if (r < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* Waits and frees the library's saver (nothing to do once closed). */
static int close_saver(saver *s)
{
    if (s->a == NULL)
        return 0;
    int rc;
    vs_async *a = s->a;
    s->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    rc = vs_async_free(a);
    Py_END_ALLOW_THREADS
    s->a = NULL;
    s->busy = 0;
    return finish(s, rc);
}

static PyObject *saver_close(PyObject *self, PyObject *unused)
{
    saver *s = (saver *)self;
    (void)unused;
    if (s->a != NULL && refuse_own(s) < 0)
        return NULL;
    if (s->a != NULL && s->busy) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the AsyncSaver is in use by another thread");
        return NULL;
    }
    if (close_saver(s) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static int saver_init(PyObject *self, PyObject *args, PyObject *kwargs)
{
    saver *s = (saver *)self;
    static const char *kw[] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "", (char **)kw))
        return -1;
    if (s->a != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "AsyncSaver already initialized");
        return -1;
    }
    int rc = vs_async_new(&s->a);
    if (rc != VS_OK) {
        vs_py_raise(rc);
        return -1;
    }
    return 0;
}

/* Garbage collected without close(): waits, and an error nobody was told
 * about goes to sys.unraisablehook (as a file's failed close does). A
 * finalizer (PEP 442), so that the saver is alive while the hook holds
 * it: from tp_dealloc, the hook's last reference freed it a second time. */
static void saver_finalize(PyObject *self)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *exc = PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
#endif
    if (tl_own == (saver *)self) {
        /* Dropped by its own save's progress callback: it cannot wait
         * for itself, and the save still uses it (its progress, the
         * buffers it holds). Kept alive: a leak, not a crash. */
        Py_INCREF(self);
        PyErr_SetString(PyExc_RuntimeError,
                        "an AsyncSaver dropped by its own save's progress "
                        "callback is kept, never closed");
        PyErr_WriteUnraisable(self);
    } else if (close_saver((saver *)self) < 0) {
        PyErr_WriteUnraisable(self);
    }
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    PyErr_Restore(type, value, tb);
#endif
}

static void saver_dealloc(PyObject *self)
{
    if (PyObject_CallFinalizerFromDealloc(self) < 0)
        return; /* the hook kept a reference: alive again */
    Py_TYPE(self)->tp_free(self);
}

static PyObject *saver_closed(PyObject *self, void *unused)
{
    (void)unused;
    return PyBool_FromLong(((saver *)self)->a == NULL);
}

static PyMethodDef saver_methods[] = {
    {"save", (PyCFunction)(void (*)(void))saver_save,
     METH_VARARGS | METH_KEYWORDS,
     "Waits for the save in flight, then starts vs_async_save_tensors."},
    {"save_nocopy", (PyCFunction)(void (*)(void))saver_save_nocopy,
     METH_VARARGS | METH_KEYWORDS,
     "As save, with vs_async_save_tensors_nocopy: the buffers are held "
     "until the save is reported."},
    {"wait", saver_wait, METH_NOARGS, "vs_async_wait."},
    {"close", saver_close, METH_NOARGS, "vs_async_free."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef saver_getset[] = {
    {"closed", saver_closed, NULL, "close() was called.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

PyTypeObject vs_py_async_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "varstore._core.AsyncSaver",
    .tp_basicsize = sizeof(saver),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One background saver (vs_async).",
    .tp_new = PyType_GenericNew,
    .tp_init = saver_init,
    .tp_dealloc = saver_dealloc,
    .tp_finalize = saver_finalize,
    .tp_methods = saver_methods,
    .tp_getset = saver_getset,
};
