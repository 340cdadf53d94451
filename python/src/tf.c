/* varstore._core: TensorFlow checkpoints, read through the library's
 * TF-aware calls (vs_list_variables and vs_load_variable accept a TF
 * checkpoint prefix, a folder holding its `checkpoint` file, or a
 * SavedModel folder). */
#include "core.h"

#include <string.h>

/* tf_is_checkpoint(path) -> bool */
PyObject *vs_py_tf_is_checkpoint(PyObject *self, PyObject *args)
{
    PyObject *path = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&", PyUnicode_FSConverter, &path))
        return NULL;
    int is_tf = vs_tf_is_checkpoint(PyBytes_AS_STRING(path));
    Py_DECREF(path);
    return PyBool_FromLong(is_tf);
}

/* tf_tensors(path) -> [(name, dtype, shape)], sorted by name. */
PyObject *vs_py_tf_tensors(PyObject *self, PyObject *args)
{
    PyObject *path = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&", PyUnicode_FSConverter, &path))
        return NULL;
    vs_tensor_info *v = NULL;
    size_t n = 0;
    int rc;
    const char *cpath = PyBytes_AS_STRING(path);
    Py_BEGIN_ALLOW_THREADS
    rc = vs_tf_list_variables(cpath, &v, &n);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (rc != VS_OK)
        return vs_py_raise(rc);
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list != NULL && i < n; i++) {
        PyObject *shape = PyTuple_New(v[i].ndim);
        for (int d = 0; shape != NULL && d < v[i].ndim; d++)
            PyTuple_SET_ITEM(shape, d, PyLong_FromLongLong(v[i].shape[d]));
        PyObject *row = shape == NULL
                            ? NULL
                            : Py_BuildValue("(ssN)", v[i].name,
                                            vs_dtype_name(v[i].dtype), shape);
        if (row == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, row);
    }
    vs_tensor_info_free(v, n);
    return list;
}

/* tf_load_into(path, step, name, buffer): the tensor's bytes (step None or
 * the checkpoint's one step, as vs_load_variable checks it), CRC32C checked
 * and partitioned slices assembled, copied into the writable buffer, which
 * must have exactly its size. */
PyObject *vs_py_tf_load_into(PyObject *self, PyObject *args)
{
    PyObject *path = NULL, *pystep = NULL;
    const char *name = NULL;
    Py_buffer buf;
    int64_t step = VS_LATEST;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&Osw*", PyUnicode_FSConverter, &path,
                          &pystep, &name, &buf))
        return NULL;
    if (vs_py_step(pystep, &step) != 0) {
        Py_DECREF(path);
        PyBuffer_Release(&buf);
        return NULL;
    }
    vs_tensor *t = NULL;
    int rc;
    const char *cpath = PyBytes_AS_STRING(path);
    Py_BEGIN_ALLOW_THREADS
    rc = vs_load_variable(cpath, step, name, &t);
    if (rc == VS_OK && (size_t)buf.len == vs_tensor_nbytes(t) && buf.len > 0)
        memcpy(buf.buf, t->data, (size_t)buf.len);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    PyObject *res = NULL;
    if (rc != VS_OK)
        res = vs_py_raise(rc);
    else if ((size_t)buf.len != vs_tensor_nbytes(t))
        res = vs_py_raise_msg(VS_EINVAL, "buffer size differs from the "
                                         "tensor's");
    else
    {
        Py_INCREF(Py_None);
        res = Py_None;
    }
    vs_tensor_free(t);
    PyBuffer_Release(&buf);
    return res;
}
