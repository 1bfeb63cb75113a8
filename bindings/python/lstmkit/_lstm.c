/*
 * lstmkit._native: the LSTM handle (lk_lstm) and lstm_create/lstm_load/as_float32.
 * Readers: forward, get_param, save...; writers: set_param, set_params.
 */
#include "_common.h"

HANDLE_TYPE(LSTMHandle, lstm, lstm,
            lk_lstm_config config; /* fixed for the handle's life */,
            lk_ok(lk_lstm_get_config(self->lstm, &self->config)),
            "An lk_lstm handle. Made by lstm_create() or lstm_load(); freed with the object.")

static int32_t directions(const LSTMHandle *self)
{
    return self->config.bidirectional ? 2 : 1;
}

#define STATE_SHAPE "(num_layers*num_directions, batch, hidden_size) = "

/* forward(x, lengths=None, h0=None, c0=None) -> (y, h_n, c_n) */
static PyObject *LSTMHandle_forward(LSTMHandle *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"x", "lengths", "h0", "c0", NULL};
    PyObject *x_obj = NULL, *lengths_obj = Py_None, *h0_obj = Py_None, *c0_obj = Py_None;
    PyArrayObject *x = NULL, *lengths = NULL, *h0 = NULL, *c0 = NULL;
    PyArrayObject *y = NULL, *h_n = NULL, *c_n = NULL;
    PyObject *result = NULL;
    char got[SHAPE_BUF];
    const int32_t D = self->config.input_size, H = self->config.hidden_size;
    const int32_t LK = self->config.num_layers * directions(self);
    npy_intp B, T, y_dims[3], state_dims[3];
    const int32_t *lengths_data = NULL;
    const float *h0_data = NULL, *c0_data = NULL;
    size_t state_count = 0;
    lk_status status;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|OOO:forward", kwlist, &x_obj, &lengths_obj,
                                     &h0_obj, &c0_obj))
        return NULL;

    /* x: (B, T, D) */
    x = as_float32(x_obj, "x");
    if (x == NULL)
        goto done;
    if (PyArray_NDIM(x) != 3) {
        PyErr_Format(PyExc_ValueError,
                     "x must be a 3-D array of shape (batch, steps, %d), got a %d-D array of "
                     "shape %s",
                     (int)D, PyArray_NDIM(x),
                     shape_str(PyArray_NDIM(x), PyArray_DIMS(x), got, sizeof got));
        goto done;
    }
    B = PyArray_DIM(x, 0);
    T = PyArray_DIM(x, 1);
    if (PyArray_DIM(x, 2) != D) {
        PyErr_Format(PyExc_ValueError, "x must have shape (batch, steps, %d), got %s", (int)D,
                     shape_str(3, PyArray_DIMS(x), got, sizeof got));
        goto done;
    }
    if (B < 1 || T < 1) {
        PyErr_Format(PyExc_ValueError,
                     "x must hold at least one sequence and one time step, got shape %s",
                     shape_str(3, PyArray_DIMS(x), got, sizeof got));
        goto done;
    }

    /* lengths: (B,) with 1 <= lengths[b] <= T */
    if (lengths_obj != Py_None) {
        npy_intp b;
        lengths = as_int32(lengths_obj, "lengths");
        if (lengths == NULL)
            goto done;
        if (PyArray_NDIM(lengths) != 1 || PyArray_DIM(lengths, 0) != B) {
            PyErr_Format(PyExc_ValueError, "lengths must have shape (batch,) = (%zd,), got %s",
                         (Py_ssize_t)B,
                         shape_str(PyArray_NDIM(lengths), PyArray_DIMS(lengths), got, sizeof got));
            goto done;
        }
        lengths_data = (const int32_t *)PyArray_DATA(lengths);
        for (b = 0; b < B; b++) {
            if (lengths_data[b] < 1 || lengths_data[b] > T) {
                PyErr_Format(PyExc_ValueError,
                             "lengths[%zd] = %d is out of range: every length must be in "
                             "[1, %zd] (the number of steps in x)",
                             (Py_ssize_t)b, (int)lengths_data[b], (Py_ssize_t)T);
                goto done;
            }
        }
    }

    /* h0, c0: (L*K, B, H), both or neither */
    state_dims[0] = LK;
    state_dims[1] = B;
    state_dims[2] = H;
    if ((h0_obj == Py_None) != (c0_obj == Py_None)) {
        PyErr_SetString(PyExc_ValueError, "h0 and c0 must be given together (or neither)");
        goto done;
    }
    if (h0_obj != Py_None) {
        h0 = as_float32(h0_obj, "h0");
        if (h0 == NULL)
            goto done;
        c0 = as_float32(c0_obj, "c0");
        if (c0 == NULL)
            goto done;
        if (!check_shape(h0, "h0", STATE_SHAPE, 3, state_dims) ||
            !check_shape(c0, "c0", STATE_SHAPE, 3, state_dims))
            goto done;
        h0_data = (const float *)PyArray_DATA(h0);
        c0_data = (const float *)PyArray_DATA(c0);
        state_count = (size_t)PyArray_SIZE(h0);
    }

    if (!check_finite(x, "x"))
        goto done;
    if (h0 != NULL && (!check_finite(h0, "h0") || !check_finite(c0, "c0")))
        goto done;

    /* Outputs */
    y_dims[0] = B;
    y_dims[1] = T;
    y_dims[2] = (npy_intp)directions(self) * H;
    y = (PyArrayObject *)PyArray_SimpleNew(3, y_dims, NPY_FLOAT32);
    if (y == NULL)
        goto done;
    h_n = (PyArrayObject *)PyArray_SimpleNew(3, state_dims, NPY_FLOAT32);
    if (h_n == NULL)
        goto done;
    c_n = (PyArrayObject *)PyArray_SimpleNew(3, state_dims, NPY_FLOAT32);
    if (c_n == NULL)
        goto done;

    READ_LOCKED(self, status = lk_lstm_forward(
                          self->lstm, (const float *)PyArray_DATA(x), (int64_t)B, (int64_t)T,
                          (int64_t)D, (size_t)PyArray_SIZE(x), lengths_data, h0_data, c0_data,
                          state_count, (float *)PyArray_DATA(y), (size_t)PyArray_SIZE(y),
                          (float *)PyArray_DATA(h_n), (float *)PyArray_DATA(c_n),
                          (size_t)PyArray_SIZE(h_n)));
    if (!lk_ok(status))
        goto done;
    result = PyTuple_Pack(3, (PyObject *)y, (PyObject *)h_n, (PyObject *)c_n);

done:
    Py_XDECREF(x);
    Py_XDECREF(lengths);
    Py_XDECREF(h0);
    Py_XDECREF(c0);
    Py_XDECREF(y);
    Py_XDECREF(h_n);
    Py_XDECREF(c_n);
    return result;
}

/* config() -> dict */
static PyObject *LSTMHandle_config(LSTMHandle *self, PyObject *Py_UNUSED(ignored))
{
    const lk_lstm_config *c = &self->config;
    return Py_BuildValue("{s:i,s:i,s:i,s:O,s:d,s:K}", "input_size", (int)c->input_size,
                         "hidden_size", (int)c->hidden_size, "num_layers", (int)c->num_layers,
                         "bidirectional", c->bidirectional ? Py_True : Py_False, "dropout",
                         (double)c->dropout, "seed", (unsigned long long)c->seed);
}

/* Reads the parameter count and names (owned by the handle and valid until it is freed)
 * into a PyMem_RawCalloc'd array; *raw stays NULL if that allocation fails. Runs
 * without the GIL. */
static lk_status read_param_names(const lk_lstm *lstm, int32_t *count, const char ***raw)
{
    lk_status status = lk_lstm_param_count(lstm, count);
    int32_t i;

    if (status != LK_STATUS_OK || *count <= 0)
        return status;
    *raw = (const char **)PyMem_RawCalloc((size_t)*count, sizeof **raw);
    for (i = 0; *raw != NULL && i < *count && status == LK_STATUS_OK; i++)
        status = lk_lstm_param_name(lstm, i, &(*raw)[i]);
    return status;
}

/* param_names() -> list of str, in PyTorch's order */
static PyObject *LSTMHandle_param_names(LSTMHandle *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *names = NULL, *result = NULL;
    const char **raw = NULL;
    int32_t count = 0, i;
    lk_status status;

    READ_LOCKED(self, status = read_param_names(self->lstm, &count, &raw));
    if (!lk_ok(status))
        goto done;
    if (count < 0 || (count > 0 && raw == NULL)) {
        if (count < 0)
            PyErr_Format(PyExc_RuntimeError,
                         "internal error in LSTMKit: parameter count %d", (int)count);
        else
            PyErr_NoMemory();
        goto done;
    }
    names = PyList_New(count);
    if (names == NULL)
        goto done;
    for (i = 0; i < count; i++) {
        PyObject *item;
        if (raw[i] == NULL) {
            PyErr_Format(PyExc_RuntimeError,
                         "internal error in LSTMKit: parameter %d has no name", (int)i);
            goto done;
        }
        item = PyUnicode_FromString(raw[i]);
        if (item == NULL)
            goto done;
        PyList_SET_ITEM(names, i, item);
    }
    result = names;
    names = NULL;
done:
    Py_XDECREF(names);
    PyMem_RawFree(raw);
    return result;
}

/* Looks up a parameter's shape; 1 on success, else sets an exception. */
static int param_shape(LSTMHandle *self, const char *name, int *ndim, npy_intp dims[2])
{
    int32_t nd = 0;
    int64_t shape[2] = {0, 0};
    lk_status status;

    READ_LOCKED(self, status = lk_lstm_param_shape(self->lstm, name, &nd, shape));
    if (!lk_ok(status))
        return 0;
    if (nd < 1 || nd > 2) {
        PyErr_Format(PyExc_RuntimeError,
                     "internal error in LSTMKit: parameter %s has %d dimensions", name, (int)nd);
        return 0;
    }
    *ndim = nd;
    dims[0] = (npy_intp)shape[0];
    dims[1] = nd == 2 ? (npy_intp)shape[1] : 0;
    return 1;
}

/* param_shape(name) -> tuple */
static PyObject *LSTMHandle_param_shape(LSTMHandle *self, PyObject *args)
{
    const char *name;
    int ndim;
    npy_intp dims[2];
    if (!PyArg_ParseTuple(args, "s:param_shape", &name))
        return NULL;
    if (!param_shape(self, name, &ndim, dims))
        return NULL;
    if (ndim == 1)
        return Py_BuildValue("(n)", (Py_ssize_t)dims[0]);
    return Py_BuildValue("(nn)", (Py_ssize_t)dims[0], (Py_ssize_t)dims[1]);
}

/* get_param(name) -> new float32 array (a copy) */
static PyObject *LSTMHandle_get_param(LSTMHandle *self, PyObject *args)
{
    const char *name;
    int ndim;
    npy_intp dims[2];
    PyArrayObject *out = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "s:get_param", &name))
        return NULL;
    if (!param_shape(self, name, &ndim, dims))
        goto fail;
    out = (PyArrayObject *)PyArray_SimpleNew(ndim, dims, NPY_FLOAT32);
    if (out == NULL)
        goto fail;
    READ_LOCKED(self, status = lk_lstm_get_param(self->lstm, name, (float *)PyArray_DATA(out),
                                                 (size_t)PyArray_SIZE(out)));
    if (!lk_ok(status))
        goto fail;
    return (PyObject *)out;
fail:
    Py_XDECREF(out);
    return NULL;
}

/* set_param(name, values) */
static PyObject *LSTMHandle_set_param(LSTMHandle *self, PyObject *args)
{
    const char *name;
    PyObject *values_obj, *result = NULL;
    PyArrayObject *values = NULL;
    int ndim;
    npy_intp dims[2];
    lk_status status;

    if (!PyArg_ParseTuple(args, "sO:set_param", &name, &values_obj))
        return NULL;
    if (!param_shape(self, name, &ndim, dims))
        goto done;
    values = as_float32(values_obj, name);
    if (values == NULL)
        goto done;
    if (!check_shape(values, name, "", ndim, dims) || !check_finite(values, name))
        goto done;
    WRITE_LOCKED(self, status = lk_lstm_set_param(self->lstm, name,
                                                  (const float *)PyArray_DATA(values),
                                                  (size_t)PyArray_SIZE(values)));
    if (!lk_ok(status))
        goto done;
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(values);
    return result;
}

/* Copies the n parameters into backups, then sets them to values; if the library
 * refuses one, restores the ones already set (lk_last_error keeps the first failure's
 * message because the restoring calls succeed). Runs without the GIL. */
static lk_status swap_params(lk_lstm *lstm, Py_ssize_t n, const char **names,
                             PyArrayObject **values, PyArrayObject **backups)
{
    lk_status status = LK_STATUS_OK;
    Py_ssize_t i, done_count = 0;

    for (i = 0; i < n && status == LK_STATUS_OK; i++)
        status = lk_lstm_get_param(lstm, names[i], (float *)PyArray_DATA(backups[i]),
                                   (size_t)PyArray_SIZE(backups[i]));
    for (i = 0; i < n && status == LK_STATUS_OK; i++) {
        status = lk_lstm_set_param(lstm, names[i], (const float *)PyArray_DATA(values[i]),
                                   (size_t)PyArray_SIZE(values[i]));
        if (status == LK_STATUS_OK)
            done_count = i + 1;
    }
    if (status != LK_STATUS_OK) {
        for (i = 0; i < done_count; i++)
            (void)lk_lstm_set_param(lstm, names[i], (const float *)PyArray_DATA(backups[i]),
                                    (size_t)PyArray_SIZE(backups[i]));
    }
    return status;
}

/* set_params([(name, values), ...]): replaces several parameters at once.
 * Everything is converted and checked first; then all are set under one write lock,
 * so a concurrent forward sees either all old or all new values. If the library
 * refuses one, the ones already set are restored: the call is all or nothing. */
static PyObject *LSTMHandle_set_params(LSTMHandle *self, PyObject *args)
{
    PyObject *items_obj, *seq = NULL, *result = NULL;
    Py_ssize_t n = 0, i;
    const char **names = NULL;
    PyArrayObject **values = NULL, **backups = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "O:set_params", &items_obj))
        return NULL;
    seq = PySequence_Fast(items_obj, "set_params expects a sequence of (name, values) pairs");
    if (seq == NULL)
        return NULL;
    n = PySequence_Fast_GET_SIZE(seq);
    names = PyMem_Calloc((size_t)(n ? n : 1), sizeof *names);
    values = PyMem_Calloc((size_t)(n ? n : 1), sizeof *values);
    backups = PyMem_Calloc((size_t)(n ? n : 1), sizeof *backups);
    if (names == NULL || values == NULL || backups == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i), *obj;
        int ndim;
        npy_intp dims[2];
        if (!PyTuple_Check(item) || !PyArg_ParseTuple(item, "sO:set_params", &names[i], &obj)) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError,
                                "set_params expects a sequence of (name, values) pairs");
            goto done;
        }
        if (!param_shape(self, names[i], &ndim, dims))
            goto done;
        values[i] = as_float32(obj, names[i]);
        if (values[i] == NULL)
            goto done;
        if (!check_shape(values[i], names[i], "", ndim, dims) ||
            !check_finite(values[i], names[i]))
            goto done;
        backups[i] = (PyArrayObject *)PyArray_SimpleNew(ndim, dims, NPY_FLOAT32);
        if (backups[i] == NULL)
            goto done;
    }

    WRITE_LOCKED(self, status = swap_params(self->lstm, n, names, values, backups));
    if (!lk_ok(status))
        goto done;
    result = Py_NewRef(Py_None);

done:
    if (values != NULL && backups != NULL) {
        for (i = 0; i < n; i++) {
            Py_XDECREF(values[i]);
            Py_XDECREF(backups[i]);
        }
    }
    PyMem_Free(names);
    PyMem_Free(values);
    PyMem_Free(backups);
    Py_XDECREF(seq);
    return result;
}

static PyMethodDef LSTMHandle_methods[] = {
    {"forward", (PyCFunction)(void (*)(void))LSTMHandle_forward, METH_VARARGS | METH_KEYWORDS,
     "forward(x, lengths=None, h0=None, c0=None) -> (y, h_n, c_n)"},
    {"config", (PyCFunction)LSTMHandle_config, METH_NOARGS, "config() -> dict"},
    {"param_names", (PyCFunction)LSTMHandle_param_names, METH_NOARGS,
     "param_names() -> list of parameter names in PyTorch's order"},
    {"param_shape", (PyCFunction)LSTMHandle_param_shape, METH_VARARGS,
     "param_shape(name) -> tuple"},
    {"get_param", (PyCFunction)LSTMHandle_get_param, METH_VARARGS,
     "get_param(name) -> float32 array (a copy)"},
    {"set_param", (PyCFunction)LSTMHandle_set_param, METH_VARARGS,
     "set_param(name, values): replaces a parameter"},
    {"set_params", (PyCFunction)LSTMHandle_set_params, METH_VARARGS,
     "set_params([(name, values), ...]): replaces several parameters, all or nothing"},
    HANDLE_SAVE_METHOD(LSTMHandle),
    {NULL, NULL, 0, NULL},
};

/* lstm_create(input_size, hidden_size, num_layers, bidirectional, dropout, seed) */
static PyObject *native_lstm_create(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *input_size, *hidden_size, *num_layers, *bidirectional, *seed;
    double dropout;
    lk_lstm_config config = lk_lstm_config_default();
    lk_lstm *lstm = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "OOOOdO:lstm_create", &input_size, &hidden_size, &num_layers,
                          &bidirectional, &dropout, &seed))
        return NULL;
    if (!int32_arg(input_size, "input_size", &config.input_size) ||
        !int32_arg(hidden_size, "hidden_size", &config.hidden_size) ||
        !int32_arg(num_layers, "num_layers", &config.num_layers) ||
        !int32_arg(bidirectional, "bidirectional", &config.bidirectional) ||
        !uint64_arg(seed, "seed", &config.seed))
        return NULL;
    config.dropout = (float)dropout; /* NaN stays NaN; the library rejects it */

    Py_BEGIN_ALLOW_THREADS
    status = lk_lstm_create(&config, &lstm);
    Py_END_ALLOW_THREADS
    return wrap_lstm(status, lstm, NULL);
}

/* as_float32(obj, name) -> C-contiguous finite float32 array (the checks forward uses) */
static PyObject *native_as_float32(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *obj;
    const char *name;
    PyArrayObject *arr;
    if (!PyArg_ParseTuple(args, "Os:as_float32", &obj, &name))
        return NULL;
    arr = as_float32(obj, name);
    if (arr == NULL)
        return NULL;
    if (!check_finite(arr, name)) {
        Py_DECREF(arr);
        return NULL;
    }
    return (PyObject *)arr;
}

MODEL_PART(lstm, LSTMHandle,
           {"lstm_create", native_lstm_create, METH_VARARGS,
            "lstm_create(input_size, hidden_size, num_layers, bidirectional, dropout, seed) -> handle"},
           HANDLE_LOAD_FUNCTION(lstm),
           {"as_float32", native_as_float32, METH_VARARGS,
            "as_float32(obj, name) -> C-contiguous float32 array with finite values"});
