/*
 * lstmkit._native — the CPython + NumPy extension over the C ABI in include/lstmkit.h.
 *
 * This file is the module: its own functions (BLAS threads, the other OpenBLAS pools)
 * and PyInit, which adds each model's handle type and functions (the model_part
 * of _lstm.c, _tokenizer.c, _text_classifier.c, _image_classifier.c and
 * _image_segmenter.c). What they share is in _common.h/_common.c.
 */
#define LSTMKIT_IMPORTS_NUMPY
#include "_common.h"

static PyObject *native_set_num_threads(PyObject *Py_UNUSED(module), PyObject *arg)
{
    int32_t n;
    return int32_arg(arg, "n", &n) && lk_ok(lk_set_num_threads(n)) ? Py_NewRef(Py_None) : NULL;
}

static PyObject *native_get_num_threads(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong((long)lk_get_num_threads());
}

static PyObject *native_kernels(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyUnicode_FromString(lk_kernels());
}

static PyObject *native_other_blas_pools(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    PyObject *list = PyList_New(0);
    int i;
    for (i = 0; list != NULL && i < other_blas_count(); i++) {
        PyObject *item = Py_BuildValue("(si)", other_blas_path(i), other_blas_threads(i));
        if (item == NULL || PyList_Append(list, item) < 0)
            Py_CLEAR(list);
        Py_XDECREF(item);
    }
    return list;
}

static PyObject *native_limit_other_blas(PyObject *Py_UNUSED(module), PyObject *arg)
{
    int on = PyObject_IsTrue(arg);
    if (on < 0)
        return NULL;
    other_blas_scan(); /* pools loaded since the import count too */
    other_blas_set_enabled(on);
    return Py_NewRef(Py_None);
}

static PyObject *native_other_blas_limited(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(other_blas_enabled());
}

static PyMethodDef native_methods[] = {
    {"set_num_threads", native_set_num_threads, METH_O, "Sets the library's BLAS threads."},
    {"get_num_threads", native_get_num_threads, METH_NOARGS, "The library's BLAS threads."},
    {"kernels", native_kernels, METH_NOARGS, "lk_kernels(): the kernels this process runs, key=value pairs"},
    {"other_blas_pools", native_other_blas_pools, METH_NOARGS,
     "[(file, threads)] of the other OpenBLAS pools held at one thread during LSTMKit calls"},
    {"limit_other_blas", native_limit_other_blas, METH_O,
     "limit_other_blas(on): rescans the loaded OpenBLAS builds and turns the limit on or off"},
    {"other_blas_limited", native_other_blas_limited, METH_NOARGS, "Whether the limit is on."},
    {"train_config_default", native_train_config_default, METH_O,
     "train_config_default(model) -> dict: the C defaults of a model kind, as text"},
    {NULL, NULL, 0, NULL},
};

static const model_part *const model_parts[] = {
    &lstm_part, &tokenizer_part, &text_classifier_part, &image_classifier_part,
    &image_segmenter_part,
    &gru_part,
    &sequence_classifier_part,
    &forecaster_part,
    &seq2seq_part,
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "lstmkit._native",
    .m_doc = "CPython + NumPy binding of the LSTMKit C ABI (include/lstmkit.h).",
    .m_size = -1,
    .m_methods = native_methods,
};

PyMODINIT_FUNC PyInit__native(void)
{
    PyObject *module;
    int32_t abi = lk_abi_version();
    size_t i;

    if (abi != LK_ABI_VERSION) {
        PyErr_Format(PyExc_ImportError,
                     "liblstmkit ABI version %d does not match the version %d this extension "
                     "was built against; rebuild the Python package",
                     (int)abi, (int)LK_ABI_VERSION);
        return NULL;
    }
    import_array();
    other_blas_scan();
    module = PyModule_Create(&native_module);
    if (module == NULL)
        return NULL;
    if (ModelFormatError == NULL) {
        ModelFormatError = PyErr_NewExceptionWithDoc(
            "lstmkit.ModelFormatError",
            "A model file is corrupt, truncated or of another kind (LK_STATUS_INVALID_FORMAT).",
            PyExc_ValueError, NULL);
        if (ModelFormatError == NULL)
            goto fail;
    }
    if (PyModule_AddObjectRef(module, "ModelFormatError", ModelFormatError) < 0 ||
        PyModule_AddIntConstant(module, "ABI_VERSION", LK_ABI_VERSION) < 0 ||
        PyModule_AddStringConstant(module, "VERSION", lk_version()) < 0 || /* the library's */
        PyModule_AddStringConstant(module, "HEADER_VERSION", LK_VERSION_STRING) < 0)
        goto fail;
    /* Each model: its handle type (named after the tp_name's last part) and functions. */
    for (i = 0; i < sizeof model_parts / sizeof model_parts[0]; i++) {
        const model_part *part = model_parts[i];
        part->type->tp_methods = part->methods;
        if (PyModule_AddType(module, part->type) < 0 ||
            PyModule_AddFunctions(module, part->functions) < 0)
            goto fail;
    }
    return module;
fail:
    Py_DECREF(module);
    return NULL;
}
