/*
 * lstmkit._native: the LSTM handle (lk_lstm) and lstm_create/lstm_load/as_float32.
 * Readers: forward, params, save; the writer: set_params.
 */
#include "_common.h"

HANDLE_TYPE(LSTMHandle, lstm, lk_lstm_config config; /* fixed for the handle's life */,
            lk_ok(lk_lstm_get_config(self->model, &self->config)))

/* forward(x, lengths, h0, c0) -> (y, h_n, c_n): x float32 (B, T, D), lengths int32 (B,)
 * or None, h0 and c0 float32 (L*K, B, H) or both None, as lstm.py checked them. */
static PyObject *LSTMHandle_forward(PyObject *obj, PyObject *args)
{
    LSTMHandle *self = (LSTMHandle *)obj;
    PyObject *x_obj, *len_obj, *h0_obj, *c0_obj, *result = NULL;
    PyArrayObject *x = NULL, *lengths = NULL, *h0 = NULL, *c0 = NULL, *y = NULL, *h_n = NULL, *c_n = NULL;
    npy_intp y_dims[3], state_dims[3];
    lk_status status;

    if (!PyArg_ParseTuple(args, "OOOO:forward", &x_obj, &len_obj, &h0_obj, &c0_obj))
        return NULL;
    if ((h0_obj == Py_None) != (c0_obj == Py_None)) {
        PyErr_SetString(PyExc_ValueError, "h0 and c0 must be given together (or neither)");
        return NULL;
    }
    if ((x = AS_ARRAY(x_obj, NPY_FLOAT32)) == NULL ||
        (len_obj != Py_None && (lengths = AS_ARRAY(len_obj, NPY_INT32)) == NULL) ||
        (h0_obj != Py_None && ((h0 = AS_ARRAY(h0_obj, NPY_FLOAT32)) == NULL ||
                               (c0 = AS_ARRAY(c0_obj, NPY_FLOAT32)) == NULL)))
        goto done;
    /* The library reads B lengths and as many c0 values as h0's: make sure they exist. */
    if (PyArray_NDIM(x) != 3 || (lengths != NULL && PyArray_SIZE(lengths) != PyArray_DIM(x, 0)) ||
        (h0 != NULL && PyArray_SIZE(c0) != PyArray_SIZE(h0))) {
        PyErr_SetString(PyExc_ValueError, "forward: x must be 3-D, lengths (B,), h0 and c0 of one size");
        goto done;
    }
    y_dims[0] = state_dims[1] = PyArray_DIM(x, 0);
    y_dims[1] = PyArray_DIM(x, 1);
    y_dims[2] = (npy_intp)(self->config.bidirectional ? 2 : 1) * self->config.hidden_size;
    state_dims[0] = (npy_intp)self->config.num_layers * (self->config.bidirectional ? 2 : 1);
    state_dims[2] = self->config.hidden_size;
    if ((y = NEW_ARRAY(3, y_dims, NPY_FLOAT32)) == NULL || (h_n = NEW_ARRAY(3, state_dims, NPY_FLOAT32)) == NULL ||
        (c_n = NEW_ARRAY(3, state_dims, NPY_FLOAT32)) == NULL)
        goto done;
    READ_LOCKED(self, status = lk_lstm_forward(
                          self->model, FLOATS(x), (int64_t)y_dims[0], (int64_t)y_dims[1], (int64_t)PyArray_DIM(x, 2),
                          SIZE(x), lengths ? (const int32_t *)PyArray_DATA(lengths) : NULL,
                          h0 ? FLOATS(h0) : NULL, c0 ? FLOATS(c0) : NULL, h0 ? SIZE(h0) : 0, FLOATS(y), SIZE(y),
                          FLOATS(h_n), FLOATS(c_n), SIZE(h_n)));
    if (lk_ok(status))
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

static PyObject *LSTMHandle_config(PyObject *obj, PyObject *Py_UNUSED(ignored))
{
    const lk_lstm_config *c = &((LSTMHandle *)obj)->config;
    return Py_BuildValue("{s:i,s:i,s:i,s:O,s:d,s:K}", "input_size", (int)c->input_size, "hidden_size",
                         (int)c->hidden_size, "num_layers", (int)c->num_layers, "bidirectional",
                         c->bidirectional ? Py_True : Py_False, "dropout", (double)c->dropout, "seed",
                         (unsigned long long)c->seed);
}

/* params() -> dict name -> float32 array (copies), in PyTorch's order. */
static PyObject *LSTMHandle_params(PyObject *obj, PyObject *Py_UNUSED(ignored))
{
    LSTMHandle *self = (LSTMHandle *)obj;
    PyObject *params = PyDict_New();
    int32_t count = 0, i, ndim = 0;
    lk_status status = lk_lstm_param_count(self->model, &count);

    for (i = 0; params != NULL && status == LK_STATUS_OK && i < count; i++) {
        const char *name = NULL; /* owned by the handle */
        int64_t shape[2] = {1, 1};
        npy_intp dims[2];
        PyArrayObject *value = NULL;
        if ((status = lk_lstm_param_name(self->model, i, &name)) != LK_STATUS_OK ||
            (status = lk_lstm_param_shape(self->model, name, &ndim, shape)) != LK_STATUS_OK)
            break;
        dims[0] = (npy_intp)shape[0];
        dims[1] = (npy_intp)shape[1];
        if ((value = NEW_ARRAY(ndim == 2 ? 2 : 1, dims, NPY_FLOAT32)) == NULL ||
            PyDict_SetItemString(params, name, (PyObject *)value) < 0)
            Py_CLEAR(params);
        else
            READ_LOCKED(self, status = lk_lstm_get_param(self->model, name, FLOATS(value), SIZE(value)));
        Py_XDECREF(value);
    }
    if (params != NULL && !lk_ok(status))
        Py_CLEAR(params);
    return params;
}

/* Copies the n parameters into backups, then sets them to values; if the library
 * refuses one (a wrong name or size), restores those already set (lk_last_error keeps
 * the first failure's message because the restoring calls succeed). No GIL. */
static lk_status swap_params(lk_lstm *lstm, Py_ssize_t n, const char **names, PyArrayObject **values,
                             float **backups)
{
    lk_status status = LK_STATUS_OK;
    Py_ssize_t i, set = 0;

    for (i = 0; i < n && status == LK_STATUS_OK; i++)
        status = lk_lstm_get_param(lstm, names[i], backups[i], SIZE(values[i]));
    for (i = 0; i < n && status == LK_STATUS_OK; i++)
        if ((status = lk_lstm_set_param(lstm, names[i], FLOATS(values[i]), SIZE(values[i]))) == LK_STATUS_OK)
            set = i + 1;
    for (i = 0; status != LK_STATUS_OK && i < set; i++)
        (void)lk_lstm_set_param(lstm, names[i], backups[i], SIZE(values[i]));
    return status;
}

/* set_params([(name, float32 array), ...]): replaces the parameters under one write
 * lock, so a concurrent forward sees all old or all new values; all or nothing. */
static PyObject *LSTMHandle_set_params(PyObject *obj, PyObject *arg)
{
    LSTMHandle *self = (LSTMHandle *)obj;
    PyObject *seq = PySequence_Tuple(arg), *result = NULL; /* a private tuple: its items live */
    Py_ssize_t n = seq != NULL ? PyTuple_GET_SIZE(seq) : 0, i;
    const char **names = PyMem_Calloc((size_t)n + 1, sizeof *names);
    PyArrayObject **values = PyMem_Calloc((size_t)n + 1, sizeof *values);
    float **backups = PyMem_Calloc((size_t)n + 1, sizeof *backups);
    lk_status status;

    if (seq == NULL || names == NULL || values == NULL || backups == NULL) {
        if (seq != NULL)
            PyErr_NoMemory();
        goto done;
    }
    for (i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(seq, i), *array;
        if (!PyTuple_Check(item) || !PyArg_ParseTuple(item, "sO:set_params", &names[i], &array)) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "set_params expects a sequence of (name, values) pairs");
            goto done;
        }
        if ((values[i] = AS_ARRAY(array, NPY_FLOAT32)) == NULL ||
            (backups[i] = PyMem_Malloc(SIZE(values[i]) * sizeof(float) + 1)) == NULL) {
            if (values[i] != NULL)
                PyErr_NoMemory();
            goto done;
        }
    }
    WRITE_LOCKED(self, status = swap_params(self->model, n, names, values, backups));
    if (lk_ok(status))
        result = Py_NewRef(Py_None);
done:
    for (i = 0; values != NULL && backups != NULL && i < n; i++) {
        Py_XDECREF(values[i]);
        PyMem_Free(backups[i]);
    }
    PyMem_Free(names);
    PyMem_Free(values);
    PyMem_Free(backups);
    Py_XDECREF(seq);
    return result;
}

static PyMethodDef LSTMHandle_methods[] = {
    METHOD(LSTMHandle, forward, METH_VARARGS, "forward(x, lengths, h0, c0) -> (y, h_n, c_n)"),
    METHOD(LSTMHandle, config, METH_NOARGS, "config() -> dict"),
    METHOD(LSTMHandle, params, METH_NOARGS, "params() -> dict name -> float32 array (copies)"),
    METHOD(LSTMHandle, set_params, METH_O, "set_params([(name, values), ...]): all or nothing"),
    HANDLE_SAVE_METHOD(LSTMHandle),
    {NULL, NULL, 0, NULL},
};

/* lstm_create(input_size, hidden_size, num_layers, bidirectional, dropout, seed) */
static PyObject *native_lstm_create(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *input_size, *hidden_size, *num_layers, *bidirectional, *dropout, *seed;
    lk_lstm_config config = lk_lstm_config_default();
    lk_lstm *lstm = NULL;
    double rate;
    lk_status status;

    if (!PyArg_ParseTuple(args, "OOOOOO:lstm_create", &input_size, &hidden_size, &num_layers, &bidirectional,
                          &dropout, &seed) ||
        !int32_arg(input_size, "input_size", &config.input_size) ||
        !int32_arg(hidden_size, "hidden_size", &config.hidden_size) ||
        !int32_arg(num_layers, "num_layers", &config.num_layers) ||
        !int32_arg(bidirectional, "bidirectional", &config.bidirectional) || !float_arg(dropout, "dropout", &rate) ||
        !uint64_arg(seed, "seed", &config.seed))
        return NULL;
    config.dropout = (float)rate;
    Py_BEGIN_ALLOW_THREADS
    status = lk_lstm_create(&config, &lstm);
    Py_END_ALLOW_THREADS
    return wrap_lstm(status, lstm, NULL);
}

/* as_float32(obj, name) -> a C-contiguous float32 array of finite values (the package's
 * conversion of LSTM inputs and weights). */
static PyObject *native_as_float32(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *obj;
    const char *name;
    PyArrayObject *arr;

    if (!PyArg_ParseTuple(args, "Os:as_float32", &obj, &name) || (arr = as_float32(obj, name)) == NULL)
        return NULL;
    if (!check_finite(arr, name))
        Py_CLEAR(arr);
    return (PyObject *)arr;
}

MODEL_PART(lstm, LSTMHandle,
           FUNCTION(lstm_create, METH_VARARGS, "(input_size, hidden_size, num_layers, bidirectional, dropout, "
                                               "seed) -> handle"),
           FUNCTION(lstm_load, METH_VARARGS, "(path) -> handle"),
           FUNCTION(as_float32, METH_VARARGS, "(obj, name) -> C-contiguous float32 array of finite values"));
