/* varstore._core: module definition, error mapping, steps, progress. */
#include "core.h"

#include <string.h>

/* {code: exception class}, registered by varstore/_errors.py at import. */
static PyObject *error_classes = NULL;

PyObject *vs_py_raise_msg(int code, const char *msg)
{
    PyObject *text = PyUnicode_DecodeUTF8(msg, (Py_ssize_t)strlen(msg),
                                          "replace");
    if (text == NULL)
        return NULL;
    PyObject *cls = NULL;
    if (error_classes != NULL) {
        PyObject *key = PyLong_FromLong(code);
        if (key == NULL) {
            Py_DECREF(text);
            return NULL;
        }
        cls = PyDict_GetItemWithError(error_classes, key); /* borrowed */
        Py_DECREF(key);
        if (cls == NULL && PyErr_Occurred()) {
            Py_DECREF(text);
            return NULL;
        }
    }
    if (cls == NULL)
        cls = PyExc_RuntimeError;
    PyObject *exc = PyObject_CallFunction(cls, "Oi", text, code);
    Py_DECREF(text);
    if (exc == NULL)
        return NULL;
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return NULL;
}

PyObject *vs_py_raise(int code)
{
    const char *msg = vs_errmsg();
    return vs_py_raise_msg(code, msg[0] != '\0' ? msg : vs_errstr(code));
}

/* InvalidArgumentError "<what> <repr of s> <why>"; returns NULL. */
static const char *bad_str(PyObject *s, const char *what, const char *why)
{
    PyObject *text = PyUnicode_FromFormat("%s %R %s", what, s, why);
    if (text == NULL)
        return NULL;
    const char *msg = PyUnicode_AsUTF8(text); /* a repr: ASCII escapes */
    if (msg != NULL)
        vs_py_raise_msg(VS_EINVAL, msg);
    Py_DECREF(text);
    return NULL;
}

const char *vs_py_cstr(PyObject *s, const char *what)
{
    Py_ssize_t len = 0;
    if (!PyUnicode_Check(s)) {
        PyErr_Format(PyExc_TypeError, "%s must be a str, not %.100s", what,
                     Py_TYPE(s)->tp_name);
        return NULL;
    }
    const char *c = PyUnicode_AsUTF8AndSize(s, &len);
    if (c == NULL && PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
        PyErr_Clear();
        return bad_str(s, what, "holds a lone surrogate: not UTF-8");
    }
    if (c != NULL && strlen(c) != (size_t)len)
        return bad_str(s, what, "contains a NUL character");
    return c;
}

int vs_py_step(PyObject *obj, int64_t *out)
{
    if (obj == NULL || obj == Py_None) {
        *out = VS_LATEST;
        return 0;
    }
    long long v = PyLong_AsLongLong(obj);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < 0) {
        PyErr_Format(PyExc_ValueError,
                     "step must be None or an int >= 0, got %lld", v);
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

/* Takes the exception being raised into p (CPython 3.12 deprecates the
 * type/value/traceback triple). */
static void keep_exception(vs_py_progress *p)
{
    p->raised = 1;
#if PY_VERSION_HEX >= 0x030C0000
    p->exc_value = PyErr_GetRaisedException();
#else
    PyErr_Fetch(&p->exc_type, &p->exc_value, &p->exc_tb);
#endif
}

/* Raises the exception kept by keep_exception (and gives it up). */
static void raise_kept(vs_py_progress *p)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(p->exc_value);
#else
    PyErr_Restore(p->exc_type, p->exc_value, p->exc_tb);
#endif
    p->exc_type = p->exc_value = p->exc_tb = NULL;
}

void vs_py_progress_cb(void *ctx, uint64_t done, uint64_t total)
{
    vs_py_progress *p = ctx;
    if (p->callable == NULL || p->callable == Py_None || p->raised)
        return;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(p->callable, "KK",
                                        (unsigned long long)done,
                                        (unsigned long long)total);
    if (r == NULL)
        keep_exception(p);
    Py_XDECREF(r);
    PyGILState_Release(g);
}

int vs_py_progress_finish(vs_py_progress *p, int rc)
{
    if (rc != VS_OK) {
        Py_CLEAR(p->exc_type);
        Py_CLEAR(p->exc_value);
        Py_CLEAR(p->exc_tb);
        vs_py_raise(rc);
        return -1;
    }
    if (p->raised) {
        raise_kept(p);
        return -1;
    }
    return 0;
}

static PyObject *set_error_classes(PyObject *self, PyObject *arg)
{
    (void)self;
    if (!PyDict_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "expected a dict {code: class}");
        return NULL;
    }
    Py_INCREF(arg);
    Py_XSETREF(error_classes, arg);
    Py_RETURN_NONE;
}

static PyObject *version(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyUnicode_FromString(vs_version());
}

static PyMethodDef methods[] = {
    {"_set_error_classes", set_error_classes, METH_O,
     "Registers {VS_E* code: exception class}."},
    {"version", version, METH_NOARGS, "The C library's version."},
    {"save", (PyCFunction)(void (*)(void))vs_py_save,
     METH_VARARGS | METH_KEYWORDS, "vs_save_tensors over byte buffers."},
    {"list_checkpoints", vs_py_list_checkpoints, METH_VARARGS,
     "vs_list_checkpoints: [(step, created_at, n_tensors, raw, stored)]."},
    {"delete", vs_py_delete, METH_VARARGS, "vs_delete_checkpoint."},
    {"prune", vs_py_prune, METH_VARARGS, "vs_prune."},
    {"verify", vs_py_verify, METH_VARARGS, "vs_verify_ex."},
    {"rename", vs_py_rename, METH_VARARGS, "vs_rename_prefix."},
    {"tf_is_checkpoint", vs_py_tf_is_checkpoint, METH_VARARGS,
     "vs_tf_is_checkpoint."},
    {"tf_tensors", vs_py_tf_tensors, METH_VARARGS, "vs_tf_list_variables."},
    {"tf_load_into", vs_py_tf_load_into, METH_VARARGS,
     "vs_tf_load_variable into a buffer."},
    {"set_retention", vs_py_set_retention, METH_VARARGS,
     "vs_set_retention."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_core",
    "The C library behind varstore (private: use the varstore package).",
    -1, methods, NULL, NULL, NULL, NULL};

/* The C constants the Python layer uses. */
static const struct {
    const char *name;
    long value;
} constants[] = {
    {"VS_ERROR", VS_ERROR},         {"VS_EEXIST", VS_EEXIST},
    {"VS_ENOTFOUND", VS_ENOTFOUND}, {"VS_ESHAPE", VS_ESHAPE},
    {"VS_EDTYPE", VS_EDTYPE},       {"VS_EUNINIT", VS_EUNINIT},
    {"VS_EINVAL", VS_EINVAL},       {"VS_ECORRUPT", VS_ECORRUPT},
    {"VS_EIO", VS_EIO},             {"VS_ENOMEM", VS_ENOMEM},
    {"VS_EBUSY", VS_EBUSY},         {"VS_ERESTORING", VS_ERESTORING},
    {"VS_ECHANGED", VS_ECHANGED},
    {"VS_KEEP_ALL", VS_KEEP_ALL},   {"VS_ALL_STEPS", VS_ALL_STEPS},
};

PyMODINIT_FUNC PyInit__core(void);
PyMODINIT_FUNC PyInit__core(void)
{
    if (PyType_Ready(&vs_py_ckpt_type) < 0 ||
        PyType_Ready(&vs_py_async_type) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&vs_py_ckpt_type); /* PyModule_AddObject steals it on success */
    if (PyModule_AddObject(m, "Ckpt", (PyObject *)&vs_py_ckpt_type) < 0) {
        Py_DECREF(&vs_py_ckpt_type);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&vs_py_async_type);
    if (PyModule_AddObject(m, "AsyncSaver", (PyObject *)&vs_py_async_type) <
        0) {
        Py_DECREF(&vs_py_async_type);
        Py_DECREF(m);
        return NULL;
    }
    for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++) {
        if (PyModule_AddIntConstant(m, constants[i].name,
                                    constants[i].value) < 0) {
            Py_DECREF(m);
            return NULL;
        }
    }
    return m;
}
