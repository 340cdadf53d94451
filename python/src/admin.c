/* varstore._core file-level calls: list, delete, prune, verify, rename,
 * retention. Each releases the GIL around its vs_* call. */
#include "core.h"

#include <string.h>

static PyObject *ckpt_info_list(const vs_ckpt_info *v, size_t n)
{
    PyObject *list = PyList_New((Py_ssize_t)n);
    if (list == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        PyObject *row = Py_BuildValue(
            "(LsLLL)", (long long)v[i].step, v[i].created_at,
            (long long)v[i].n_tensors, (long long)v[i].raw_bytes,
            (long long)v[i].stored_bytes);
        if (row == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, row);
    }
    return list;
}

/* list_checkpoints(path) -> [(step, created_at, n_tensors, raw_bytes,
 * stored_bytes)], oldest first. */
PyObject *vs_py_list_checkpoints(PyObject *self, PyObject *args)
{
    PyObject *path = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&", PyUnicode_FSConverter, &path))
        return NULL;
    vs_ckpt_info *v = NULL;
    size_t n = 0;
    int rc;
    const char *cpath = PyBytes_AS_STRING(path);
    Py_BEGIN_ALLOW_THREADS
    rc = vs_list_checkpoints(cpath, &v, &n);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (rc != VS_OK)
        return vs_py_raise(rc);
    PyObject *list = ckpt_info_list(v, n);
    vs_free(v);
    return list;
}

/* The arguments of a write call on a file, and the call. */
typedef struct {
    int64_t step;
    int keep;
    double hours;
    const char *old_prefix, *new_prefix;
} file_args;
typedef int (*file_call)(const char *path, const file_args *a);

/* Runs fn on path (an FSConverter bytes object, released here) without
 * the GIL; None, or the library's error raised. */
static PyObject *run_on_file(PyObject *path, file_call fn, const file_args *a)
{
    int rc;
    const char *cpath = PyBytes_AS_STRING(path);
    Py_BEGIN_ALLOW_THREADS
    rc = fn(cpath, a);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (rc != VS_OK)
        return vs_py_raise(rc);
    Py_RETURN_NONE;
}

static int call_delete(const char *path, const file_args *a)
{
    return vs_delete_checkpoint(path, a->step);
}

static int call_prune(const char *path, const file_args *a)
{
    return vs_prune(path, a->keep);
}

static int call_rename(const char *path, const file_args *a)
{
    return vs_rename_prefix(path, a->old_prefix, a->new_prefix, a->step);
}

static int call_retention(const char *path, const file_args *a)
{
    return vs_set_retention(path, a->keep, a->hours);
}

PyObject *vs_py_delete(PyObject *self, PyObject *args)
{
    PyObject *path = NULL;
    long long step;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&L", PyUnicode_FSConverter, &path, &step))
        return NULL;
    file_args a = {.step = (int64_t)step};
    return run_on_file(path, call_delete, &a);
}

PyObject *vs_py_prune(PyObject *self, PyObject *args)
{
    PyObject *path = NULL;
    file_args a = {0};
    (void)self;
    if (!PyArg_ParseTuple(args, "O&i", PyUnicode_FSConverter, &path,
                          &a.keep))
        return NULL;
    return run_on_file(path, call_prune, &a);
}

/* verify(path, threads=0, progress=None) -> (n_bad, message): message is
 * None when the file is sound, else the library's text naming the first
 * damaged tensor and step. Errors other than damage raise. */
PyObject *vs_py_verify(PyObject *self, PyObject *args)
{
    PyObject *path = NULL, *progress = Py_None;
    int threads = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&|iO", PyUnicode_FSConverter, &path,
                          &threads, &progress))
        return NULL;
    vs_py_progress p = {progress, 0, NULL, NULL, NULL};
    vs_verify_opts o;
    memset(&o, 0, sizeof o);
    o.threads = threads;
    if (progress != Py_None) {
        o.progress = vs_py_progress_cb;
        o.progress_ctx = &p;
    }
    size_t n_bad = 0;
    int rc;
    const char *cpath = PyBytes_AS_STRING(path);
    Py_BEGIN_ALLOW_THREADS
    rc = vs_verify_ex(cpath, &o, &n_bad);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (rc == VS_ECORRUPT) {
        const char *msg = vs_errmsg();
        PyObject *text = PyUnicode_DecodeUTF8(msg, (Py_ssize_t)strlen(msg),
                                              "replace");
        if (vs_py_progress_finish(&p, VS_OK) < 0 || text == NULL) {
            Py_XDECREF(text);
            return NULL;
        }
        return Py_BuildValue("(nN)", (Py_ssize_t)n_bad, text);
    }
    if (vs_py_progress_finish(&p, rc) < 0)
        return NULL;
    return Py_BuildValue("(nO)", (Py_ssize_t)n_bad, Py_None);
}

/* rename(path, old_prefix, new_prefix, step=None: every step). */
PyObject *vs_py_rename(PyObject *self, PyObject *args)
{
    PyObject *path = NULL, *old_p, *new_p, *step_obj = Py_None;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&UU|O", PyUnicode_FSConverter, &path,
                          &old_p, &new_p, &step_obj))
        return NULL;
    file_args a = {.step = VS_ALL_STEPS};
    a.old_prefix = vs_py_cstr(old_p, "old_prefix");
    a.new_prefix = a.old_prefix ? vs_py_cstr(new_p, "new_prefix") : NULL;
    if (a.new_prefix == NULL ||
        (step_obj != Py_None && vs_py_step(step_obj, &a.step) < 0)) {
        Py_DECREF(path);
        return NULL;
    }
    return run_on_file(path, call_rename, &a);
}

/* set_retention(path, max_to_keep, keep_every_n_hours). */
PyObject *vs_py_set_retention(PyObject *self, PyObject *args)
{
    PyObject *path = NULL;
    file_args a = {0};
    (void)self;
    if (!PyArg_ParseTuple(args, "O&id", PyUnicode_FSConverter, &path,
                          &a.keep, &a.hours))
        return NULL;
    return run_on_file(path, call_retention, &a);
}
