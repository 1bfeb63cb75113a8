/*
 * lstmkit._native: the raw recurrent layers' handles (lk_lstm, lk_gru), their
 * <prefix>_create/<prefix>_load, and as_float32. Readers: forward, params, save; the
 * writer: set_params. Both handle types' methods are one implementation.
 */
#include "_common.h"

/* What differs between the two raw recurrent layers: their lk_ functions, behind one
 * signature each (the GRU's forward has no c0 / c_n), and whether they have a cell state.
 * Every method below is written once over this table. */
typedef struct {
    int has_cell; /* the LSTM's c */
    lk_status (*forward)(const void *model, const float *x, int64_t batch, int64_t steps, int64_t input_size,
                         size_t x_count, const int32_t *lengths, const float *h0, const float *c0,
                         size_t state_count, float *y, size_t y_count, float *h_n, float *c_n,
                         size_t state_out_count);
    lk_status (*param_count)(const void *model, int32_t *count);
    lk_status (*param_name)(const void *model, int32_t index, const char **name);
    lk_status (*param_shape)(const void *model, const char *name, int32_t *ndim, int64_t shape[2]);
    lk_status (*get_param)(const void *model, const char *name, float *out, size_t count);
    lk_status (*set_param)(void *model, const char *name, const float *values, size_t count);
} recurrent_api;

/* The parameter functions of lk_<prefix>, taking the handle as void *. */
#define PARAM_ADAPTERS(prefix)                                                                         \
    static lk_status prefix##_param_count_(const void *m, int32_t *n) { return lk_##prefix##_param_count(m, n); } \
    static lk_status prefix##_param_name_(const void *m, int32_t i, const char **name)                 \
    {                                                                                                   \
        return lk_##prefix##_param_name(m, i, name);                                                    \
    }                                                                                                   \
    static lk_status prefix##_param_shape_(const void *m, const char *name, int32_t *ndim, int64_t shape[2]) \
    {                                                                                                   \
        return lk_##prefix##_param_shape(m, name, ndim, shape);                                         \
    }                                                                                                   \
    static lk_status prefix##_get_param_(const void *m, const char *name, float *out, size_t n)         \
    {                                                                                                   \
        return lk_##prefix##_get_param(m, name, out, n);                                                \
    }                                                                                                   \
    static lk_status prefix##_set_param_(void *m, const char *name, const float *v, size_t n)           \
    {                                                                                                   \
        return lk_##prefix##_set_param(m, name, v, n);                                                  \
    }
#define PARAM_API(prefix)                                                                                \
    prefix##_param_count_, prefix##_param_name_, prefix##_param_shape_, prefix##_get_param_,               \
        prefix##_set_param_

PARAM_ADAPTERS(lstm)
PARAM_ADAPTERS(gru)

static lk_status lstm_forward_(const void *m, const float *x, int64_t b, int64_t t, int64_t d, size_t xn,
                               const int32_t *lengths, const float *h0, const float *c0, size_t sn, float *y,
                               size_t yn, float *h_n, float *c_n, size_t son)
{
    return lk_lstm_forward(m, x, b, t, d, xn, lengths, h0, c0, sn, y, yn, h_n, c_n, son);
}

static lk_status gru_forward_(const void *m, const float *x, int64_t b, int64_t t, int64_t d, size_t xn,
                              const int32_t *lengths, const float *h0, const float *Py_UNUSED(c0), size_t sn,
                              float *y, size_t yn, float *h_n, float *Py_UNUSED(c_n), size_t son)
{
    return lk_gru_forward(m, x, b, t, d, xn, lengths, h0, sn, y, yn, h_n, son);
}

static const recurrent_api lstm_api = {1, lstm_forward_, PARAM_API(lstm)};
static const recurrent_api gru_api = {0, gru_forward_, PARAM_API(gru)};

/* A handle's lock, where READ_LOCKED / WRITE_LOCKED look for it (a struct whose first
 * member is the lock: a pointer to the lock converts to one). */
typedef struct {
    handle_lock lock;
} lock_owner;

/* The handle's parts every method uses: both handle types share this layout's meaning. */
typedef struct {
    void *model;
    const lk_lstm_config *config;
    lock_owner *locked;
    const recurrent_api *api;
} recurrent;

/* forward(x, lengths, h0, c0) -> (y, h_n, c_n): x float32 (B, T, D), lengths int32 (B,)
 * or None, h0 and c0 float32 (L*K, B, H) or both None, as the package checked them. A
 * GRU takes c0 = None and returns c_n = None. */
static PyObject *recurrent_forward(recurrent r, PyObject *args)
{
    PyObject *x_obj, *len_obj, *h0_obj, *c0_obj, *result = NULL;
    PyArrayObject *x = NULL, *lengths = NULL, *h0 = NULL, *c0 = NULL, *y = NULL, *h_n = NULL, *c_n = NULL;
    npy_intp y_dims[3], state_dims[3];
    lk_status status;

    if (!PyArg_ParseTuple(args, "OOOO:forward", &x_obj, &len_obj, &h0_obj, &c0_obj))
        return NULL;
    if (r.api->has_cell ? (h0_obj == Py_None) != (c0_obj == Py_None) : c0_obj != Py_None) {
        PyErr_SetString(PyExc_ValueError, r.api->has_cell ? "h0 and c0 must be given together (or neither)"
                                                          : "a GRU has no cell state: c0 must be None");
        return NULL;
    }
    if ((x = AS_ARRAY(x_obj, NPY_FLOAT32)) == NULL ||
        (len_obj != Py_None && (lengths = AS_ARRAY(len_obj, NPY_INT32)) == NULL) ||
        (h0_obj != Py_None && (h0 = AS_ARRAY(h0_obj, NPY_FLOAT32)) == NULL) ||
        (c0_obj != Py_None && (c0 = AS_ARRAY(c0_obj, NPY_FLOAT32)) == NULL))
        goto done;
    /* The library reads B lengths and as many c0 values as h0's: make sure they exist. */
    if (PyArray_NDIM(x) != 3 || (lengths != NULL && PyArray_SIZE(lengths) != PyArray_DIM(x, 0)) ||
        (c0 != NULL && PyArray_SIZE(c0) != PyArray_SIZE(h0))) {
        PyErr_SetString(PyExc_ValueError, "forward: x must be 3-D, lengths (B,), h0 and c0 of one size");
        goto done;
    }
    y_dims[0] = state_dims[1] = PyArray_DIM(x, 0);
    y_dims[1] = PyArray_DIM(x, 1);
    y_dims[2] = (npy_intp)(r.config->bidirectional ? 2 : 1) * r.config->hidden_size;
    state_dims[0] = (npy_intp)r.config->num_layers * (r.config->bidirectional ? 2 : 1);
    state_dims[2] = r.config->hidden_size;
    if ((y = NEW_ARRAY(3, y_dims, NPY_FLOAT32)) == NULL || (h_n = NEW_ARRAY(3, state_dims, NPY_FLOAT32)) == NULL ||
        (r.api->has_cell && (c_n = NEW_ARRAY(3, state_dims, NPY_FLOAT32)) == NULL))
        goto done;
    READ_LOCKED(r.locked, status = r.api->forward(
                              r.model, FLOATS(x), (int64_t)y_dims[0], (int64_t)y_dims[1], (int64_t)PyArray_DIM(x, 2),
                              SIZE(x), lengths ? (const int32_t *)PyArray_DATA(lengths) : NULL,
                              h0 ? FLOATS(h0) : NULL, c0 ? FLOATS(c0) : NULL, h0 ? SIZE(h0) : 0, FLOATS(y), SIZE(y),
                              FLOATS(h_n), c_n ? FLOATS(c_n) : NULL, SIZE(h_n)));
    if (lk_ok(status))
        result = PyTuple_Pack(3, (PyObject *)y, (PyObject *)h_n, c_n ? (PyObject *)c_n : Py_None);
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

static PyObject *recurrent_config(recurrent r)
{
    const lk_lstm_config *c = r.config;
    return Py_BuildValue("{s:i,s:i,s:i,s:O,s:d,s:K}", "input_size", (int)c->input_size, "hidden_size",
                         (int)c->hidden_size, "num_layers", (int)c->num_layers, "bidirectional",
                         c->bidirectional ? Py_True : Py_False, "dropout", (double)c->dropout, "seed",
                         (unsigned long long)c->seed);
}

/* params() -> dict name -> float32 array (copies), in PyTorch's order. */
static PyObject *recurrent_params(recurrent r)
{
    PyObject *params = PyDict_New();
    int32_t count = 0, i, ndim = 0;
    lk_status status = r.api->param_count(r.model, &count);

    for (i = 0; params != NULL && status == LK_STATUS_OK && i < count; i++) {
        const char *name = NULL; /* owned by the handle */
        int64_t shape[2] = {1, 1};
        npy_intp dims[2];
        PyArrayObject *value = NULL;
        if ((status = r.api->param_name(r.model, i, &name)) != LK_STATUS_OK ||
            (status = r.api->param_shape(r.model, name, &ndim, shape)) != LK_STATUS_OK)
            break;
        dims[0] = (npy_intp)shape[0];
        dims[1] = (npy_intp)shape[1];
        if ((value = NEW_ARRAY(ndim == 2 ? 2 : 1, dims, NPY_FLOAT32)) == NULL ||
            PyDict_SetItemString(params, name, (PyObject *)value) < 0)
            Py_CLEAR(params);
        else
            READ_LOCKED(r.locked, status = r.api->get_param(r.model, name, FLOATS(value), SIZE(value)));
        Py_XDECREF(value);
    }
    if (params != NULL && !lk_ok(status))
        Py_CLEAR(params);
    return params;
}

/* Copies the n parameters into backups, then sets them to values; if the library
 * refuses one (a wrong name or size), restores those already set (lk_last_error keeps
 * the first failure's message because the restoring calls succeed). No GIL. */
static lk_status swap_params(recurrent r, Py_ssize_t n, const char **names, PyArrayObject **values, float **backups)
{
    lk_status status = LK_STATUS_OK;
    Py_ssize_t i, set = 0;

    for (i = 0; i < n && status == LK_STATUS_OK; i++)
        status = r.api->get_param(r.model, names[i], backups[i], SIZE(values[i]));
    for (i = 0; i < n && status == LK_STATUS_OK; i++)
        if ((status = r.api->set_param(r.model, names[i], FLOATS(values[i]), SIZE(values[i]))) == LK_STATUS_OK)
            set = i + 1;
    for (i = 0; status != LK_STATUS_OK && i < set; i++)
        (void)r.api->set_param(r.model, names[i], backups[i], SIZE(values[i]));
    return status;
}

/* set_params([(name, float32 array), ...]): replaces the parameters under one write
 * lock, so a concurrent forward sees all old or all new values; all or nothing. */
static PyObject *recurrent_set_params(recurrent r, PyObject *arg)
{
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
    WRITE_LOCKED(r.locked, status = swap_params(r, n, names, values, backups));
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

/* Reads <prefix>_create's (input_size, hidden_size, num_layers, bidirectional, dropout,
 * seed) into *config; 0 with the exception set if one is not a number of its type. */
static int create_args(PyObject *args, lk_lstm_config *config)
{
    PyObject *input_size, *hidden_size, *num_layers, *bidirectional, *dropout, *seed;
    double rate;

    *config = lk_lstm_config_default();
    if (!PyArg_ParseTuple(args, "OOOOOO:create", &input_size, &hidden_size, &num_layers, &bidirectional, &dropout,
                          &seed) ||
        !int32_arg(input_size, "input_size", &config->input_size) ||
        !int32_arg(hidden_size, "hidden_size", &config->hidden_size) ||
        !int32_arg(num_layers, "num_layers", &config->num_layers) ||
        !int32_arg(bidirectional, "bidirectional", &config->bidirectional) || !float_arg(dropout, "dropout", &rate) ||
        !uint64_arg(seed, "seed", &config->seed))
        return 0;
    config->dropout = (float)rate;
    return 1;
}

/* The handle type of lk_<prefix> (Name), its methods over the shared ones above, and
 * native_<prefix>_create. */
#define RECURRENT_HANDLE(Name, prefix)                                                                   \
    HANDLE_TYPE(Name, prefix, lk_lstm_config config; /* fixed for the handle's life */,                    \
                lk_ok(lk_##prefix##_get_config(self->model, &self->config)))                               \
    static recurrent Name##_parts(PyObject *obj)                                                          \
    {                                                                                                     \
        Name *self = (Name *)obj;                                                                         \
        recurrent r = {self->model, &self->config, (lock_owner *)&self->lock, &prefix##_api};             \
        return r;                                                                                         \
    }                                                                                                     \
    static PyObject *Name##_forward(PyObject *obj, PyObject *args) { return recurrent_forward(Name##_parts(obj), args); } \
    static PyObject *Name##_config(PyObject *obj, PyObject *Py_UNUSED(ignored))                          \
    {                                                                                                     \
        return recurrent_config(Name##_parts(obj));                                                       \
    }                                                                                                     \
    static PyObject *Name##_params(PyObject *obj, PyObject *Py_UNUSED(ignored))                          \
    {                                                                                                     \
        return recurrent_params(Name##_parts(obj));                                                       \
    }                                                                                                     \
    static PyObject *Name##_set_params(PyObject *obj, PyObject *arg) { return recurrent_set_params(Name##_parts(obj), arg); } \
    static PyMethodDef Name##_methods[] = {                                                               \
        METHOD(Name, forward, METH_VARARGS, "forward(x, lengths, h0, c0) -> (y, h_n, c_n); c0, c_n None for a GRU"), \
        METHOD(Name, config, METH_NOARGS, "config() -> dict"),                                            \
        METHOD(Name, params, METH_NOARGS, "params() -> dict name -> float32 array (copies)"),             \
        METHOD(Name, set_params, METH_O, "set_params([(name, values), ...]): all or nothing"),             \
        HANDLE_SAVE_METHOD(Name),                                                                         \
        {NULL, NULL, 0, NULL},                                                                            \
    };                                                                                                    \
    static PyObject *native_##prefix##_create(PyObject *Py_UNUSED(module), PyObject *args)               \
    {                                                                                                     \
        lk_lstm_config config;                                                                            \
        lk_##prefix *model = NULL;                                                                        \
        lk_status status;                                                                                 \
        if (!create_args(args, &config))                                                                  \
            return NULL;                                                                                  \
        Py_BEGIN_ALLOW_THREADS                                                                            \
        status = lk_##prefix##_create(&config, &model);                                                   \
        Py_END_ALLOW_THREADS                                                                              \
        return wrap_##prefix(status, model, NULL);                                                        \
    }

RECURRENT_HANDLE(LSTMHandle, lstm)
RECURRENT_HANDLE(GRUHandle, gru)

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

MODEL_PART(gru, GRUHandle,
           FUNCTION(gru_create, METH_VARARGS, "(input_size, hidden_size, num_layers, bidirectional, dropout, "
                                              "seed) -> handle"),
           FUNCTION(gru_load, METH_VARARGS, "(path) -> handle"));

MODEL_PART(lstm, LSTMHandle,
           FUNCTION(lstm_create, METH_VARARGS, "(input_size, hidden_size, num_layers, bidirectional, dropout, "
                                               "seed) -> handle"),
           FUNCTION(lstm_load, METH_VARARGS, "(path) -> handle"),
           FUNCTION(as_float32, METH_VARARGS, "(obj, name) -> C-contiguous float32 array of finite values"));
