/*
 * lstmkit._native — the CPython + NumPy extension over the C ABI in include/lstmkit.h.
 *
 * This file only converts and checks: NumPy arrays in, lk_* call, NumPy arrays out.
 * Every argument is checked here (dtype, rank, shape, range, finiteness) and a clear
 * Python exception is raised BEFORE the library is called; the library checks again
 * and its status codes map to Python exceptions through set_lk_error().
 *
 * Threads: the GIL is released only around the lk_* calls. The header allows many
 * concurrent read-only calls on one handle (forward, get_param, save) but no call at
 * the same time as set_param, so every handle carries a reader-writer lock, taken
 * while the GIL is released (a thread never waits for the lock while holding the GIL,
 * so the two locks cannot deadlock).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lstmkit.h"

/* lstmkit.ModelFormatError(ValueError): raised for LK_STATUS_INVALID_FORMAT. */
static PyObject *ModelFormatError = NULL;

/* ------------------------------------------------------------------------ */
/* Errors                                                                     */
/* ------------------------------------------------------------------------ */

/* Raises the Python exception for a failed lk_* call. Must run on the OS thread that
 * made the call (lk_last_error is thread-local) and before any other lk_* call on it. */
static void set_lk_error(lk_status status)
{
    const char *message = lk_last_error();
    if (message == NULL || message[0] == '\0')
        message = lk_status_string(status);

    switch (status) {
    case LK_STATUS_INVALID_ARGUMENT:
    case LK_STATUS_SIZE_MISMATCH:
        PyErr_SetString(PyExc_ValueError, message);
        break;
    case LK_STATUS_NOT_FOUND:
        PyErr_SetString(PyExc_KeyError, message);
        break;
    case LK_STATUS_IO_ERROR:
        PyErr_SetString(PyExc_OSError, message);
        break;
    case LK_STATUS_INVALID_FORMAT:
        PyErr_SetString(ModelFormatError, message);
        break;
    case LK_STATUS_OUT_OF_MEMORY:
        PyErr_SetString(PyExc_MemoryError, message);
        break;
    case LK_STATUS_INTERNAL:
        PyErr_Format(PyExc_RuntimeError, "internal error in LSTMKit (please report it): %s",
                     message);
        break;
    default:
        PyErr_Format(PyExc_RuntimeError, "LSTMKit returned unknown status %d: %s",
                     (int)status, message);
        break;
    }
}

/* Writes "(2, 3, 7)" (or "(3,)", "()") into buf. */
static const char *shape_str(int ndim, const npy_intp *dims, char *buf, size_t size)
{
    size_t used = 0;
    int i;
    buf[0] = '\0';
    used += (size_t)snprintf(buf + used, size - used, "(");
    for (i = 0; i < ndim && used < size; i++) {
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "",
                                 (long long)dims[i]);
    }
    if (used < size)
        snprintf(buf + used, size - used, ndim == 1 ? ",)" : ")");
    return buf;
}

#define SHAPE_BUF 160

/* ------------------------------------------------------------------------ */
/* Input conversion                                                           */
/* ------------------------------------------------------------------------ */

/* True if every integer in `arr` (kind 'i' or 'u') is exactly representable as float32;
 * otherwise sets ValueError naming `name` and returns 0. */
static int ints_fit_float32(PyArrayObject *arr, const char *name)
{
    int is_unsigned = PyArray_DESCR(arr)->kind == 'u';
    PyArrayObject *wide = (PyArrayObject *)PyArray_FROM_OTF(
        (PyObject *)arr, is_unsigned ? NPY_UINT64 : NPY_INT64, NPY_ARRAY_IN_ARRAY);
    npy_intp i, n;
    int ok = 1;

    if (wide == NULL)
        return 0;
    n = PyArray_SIZE(wide);
    if (is_unsigned) {
        const uint64_t *v = (const uint64_t *)PyArray_DATA(wide);
        for (i = 0; i < n; i++) {
            float f = (float)v[i];
            if (f >= 18446744073709551616.0f || (uint64_t)f != v[i]) {
                PyErr_Format(PyExc_ValueError,
                             "%s holds the integer %llu (flat index %zd), which float32 "
                             "cannot represent exactly",
                             name, (unsigned long long)v[i], (Py_ssize_t)i);
                ok = 0;
                break;
            }
        }
    } else {
        const int64_t *v = (const int64_t *)PyArray_DATA(wide);
        for (i = 0; i < n; i++) {
            float f = (float)v[i];
            if (f >= 9223372036854775808.0f || (int64_t)f != v[i]) {
                PyErr_Format(PyExc_ValueError,
                             "%s holds the integer %lld (flat index %zd), which float32 "
                             "cannot represent exactly",
                             name, (long long)v[i], (Py_ssize_t)i);
                ok = 0;
                break;
            }
        }
    }
    Py_DECREF(wide);
    return ok;
}

/* True unless a finite float64 in `arr` overflows float32 (it would become infinite);
 * then ValueError naming `name`. NaN and infinity pass: check_finite reports them. */
static int doubles_fit_float32(PyArrayObject *arr, const char *name)
{
    PyArrayObject *dense = (PyArrayObject *)PyArray_FROM_OTF((PyObject *)arr, NPY_DOUBLE,
                                                             NPY_ARRAY_IN_ARRAY);
    const double *v;
    npy_intp i, n;
    int ok = 1;

    if (dense == NULL)
        return 0;
    v = (const double *)PyArray_DATA(dense);
    n = PyArray_SIZE(dense);
    for (i = 0; i < n; i++) {
        if (isfinite(v[i]) && !isfinite((float)v[i])) {
            PyObject *value = PyFloat_FromDouble(v[i]);
            if (value != NULL) {
                PyErr_Format(PyExc_ValueError,
                             "%s holds %R (flat index %zd), outside the float32 range", name,
                             value, (Py_ssize_t)i);
                Py_DECREF(value);
            }
            ok = 0;
            break;
        }
    }
    Py_DECREF(dense);
    return ok;
}

/* A new reference to a C-contiguous, aligned, native float32 array holding obj's values.
 * Accepts floating arrays (float64 is rounded to float32 as usual in NumPy), booleans,
 * and integers that float32 represents exactly. TypeError for other dtypes. */
static PyArrayObject *as_float32(PyObject *obj, const char *name)
{
    PyArrayObject *src = NULL, *out = NULL;
    char kind;

    src = (PyArrayObject *)PyArray_FROM_O(obj);
    if (src == NULL)
        goto done;
    kind = PyArray_DESCR(src)->kind;
    switch (kind) {
    case 'f':
        if (PyArray_TYPE(src) == NPY_DOUBLE && !doubles_fit_float32(src, name))
            goto done;
        break;
    case 'b':
        break;
    case 'i':
    case 'u':
        if (!ints_fit_float32(src, name))
            goto done;
        break;
    default:
        PyErr_Format(PyExc_TypeError,
                     "%s must be an array of real numbers (it is converted to float32), "
                     "got dtype %S",
                     name, (PyObject *)PyArray_DESCR(src));
        goto done;
    }
    out = (PyArrayObject *)PyArray_FROM_OTF((PyObject *)src, NPY_FLOAT32,
                                            NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
done:
    Py_XDECREF(src);
    return out;
}

/* 1 if every value of a float32 array is finite; else ValueError naming `name`, 0. */
static int check_finite(PyArrayObject *arr, const char *name)
{
    const float *v = (const float *)PyArray_DATA(arr);
    npy_intp i, n = PyArray_SIZE(arr);
    for (i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            PyErr_Format(PyExc_ValueError,
                         "%s must hold finite values, but flat index %zd is %s "
                         "(after conversion to float32)",
                         name, (Py_ssize_t)i, isnan(v[i]) ? "NaN" : "infinite");
            return 0;
        }
    }
    return 1;
}

/* A new reference to a C-contiguous int32 array holding obj's values. Accepts integer
 * dtypes only (TypeError otherwise) and values that fit int32 (ValueError otherwise). */
static PyArrayObject *as_int32(PyObject *obj, const char *name)
{
    PyArrayObject *src = NULL, *wide = NULL, *out = NULL;
    npy_intp i, n;
    char kind;
    int is_unsigned;

    src = (PyArrayObject *)PyArray_FROM_O(obj);
    if (src == NULL)
        goto fail;
    kind = PyArray_DESCR(src)->kind;
    /* An empty list becomes float64; let it through so the shape check speaks. */
    if (kind != 'i' && kind != 'u' && !(PyArray_SIZE(src) == 0 && kind == 'f')) {
        PyErr_Format(PyExc_TypeError, "%s must be an array of integers, got dtype %S", name,
                     (PyObject *)PyArray_DESCR(src));
        goto fail;
    }
    is_unsigned = kind == 'u';
    wide = (PyArrayObject *)PyArray_FROM_OTF((PyObject *)src, is_unsigned ? NPY_UINT64 : NPY_INT64,
                                             NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
    if (wide == NULL)
        goto fail;
    out = (PyArrayObject *)PyArray_SimpleNew(PyArray_NDIM(wide), PyArray_DIMS(wide), NPY_INT32);
    if (out == NULL)
        goto fail;
    n = PyArray_SIZE(wide);
    for (i = 0; i < n; i++) {
        long long value;
        if (is_unsigned) {
            uint64_t u = ((const uint64_t *)PyArray_DATA(wide))[i];
            if (u > (uint64_t)INT32_MAX) {
                PyErr_Format(PyExc_ValueError, "%s[%zd] = %llu does not fit in int32", name,
                             (Py_ssize_t)i, (unsigned long long)u);
                goto fail;
            }
            value = (long long)u;
        } else {
            value = (long long)((const int64_t *)PyArray_DATA(wide))[i];
            if (value < INT32_MIN || value > INT32_MAX) {
                PyErr_Format(PyExc_ValueError, "%s[%zd] = %lld does not fit in int32", name,
                             (Py_ssize_t)i, value);
                goto fail;
            }
        }
        ((int32_t *)PyArray_DATA(out))[i] = (int32_t)value;
    }
    Py_DECREF(src);
    Py_DECREF(wide);
    return out;
fail:
    Py_XDECREF(src);
    Py_XDECREF(wide);
    Py_XDECREF(out);
    return NULL;
}

/* Python int -> int32 with a ValueError naming the argument when out of range. */
static int int32_arg(PyObject *obj, const char *name, int32_t *out)
{
    long long v;
    int overflow = 0;
    if (!PyLong_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, got %s", name, Py_TYPE(obj)->tp_name);
        return 0;
    }
    v = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (v == -1 && PyErr_Occurred())
        return 0;
    if (overflow || v < INT32_MIN || v > INT32_MAX) {
        PyErr_Format(PyExc_ValueError, "%s = %S is out of range for int32", name, obj);
        return 0;
    }
    *out = (int32_t)v;
    return 1;
}

/* ------------------------------------------------------------------------ */
/* The LSTM handle type                                                       */
/* ------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    lk_lstm *lstm;
    lk_lstm_config config; /* fixed for the handle's life */
    int lock_ready;
    pthread_rwlock_t lock; /* readers: forward, get_param, save...; writer: set_param */
} LSTMHandle;

static PyTypeObject LSTMHandle_Type;

/* Wraps a fresh lk_lstm (takes ownership: frees it on failure). */
static PyObject *wrap_lstm(lk_lstm *lstm)
{
    LSTMHandle *self = NULL;
    pthread_rwlockattr_t attr;
    lk_status status;

    self = PyObject_New(LSTMHandle, &LSTMHandle_Type);
    if (self == NULL) {
        lk_lstm_free(lstm);
        return NULL;
    }
    self->lstm = lstm;
    self->lock_ready = 0;
    status = lk_lstm_get_config(lstm, &self->config);
    if (status != LK_STATUS_OK) {
        set_lk_error(status);
        Py_DECREF(self);
        return NULL;
    }
    pthread_rwlockattr_init(&attr);
#if defined(__GLIBC__)
    /* A writer (load_state_dict) is not starved by a stream of forward calls. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    if (pthread_rwlock_init(&self->lock, &attr) != 0) {
        pthread_rwlockattr_destroy(&attr);
        PyErr_SetString(PyExc_RuntimeError, "cannot initialise the handle's lock");
        Py_DECREF(self);
        return NULL;
    }
    pthread_rwlockattr_destroy(&attr);
    self->lock_ready = 1;
    return (PyObject *)self;
}

static void LSTMHandle_dealloc(LSTMHandle *self)
{
    lk_lstm_free(self->lstm);
    self->lstm = NULL;
    if (self->lock_ready)
        pthread_rwlock_destroy(&self->lock);
    PyObject_Free(self);
}

static int32_t directions(const LSTMHandle *self)
{
    return self->config.bidirectional ? 2 : 1;
}

/* forward(x, lengths=None, h0=None, c0=None) -> (y, h_n, c_n) */
static PyObject *LSTMHandle_forward(LSTMHandle *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"x", "lengths", "h0", "c0", NULL};
    PyObject *x_obj = NULL, *lengths_obj = Py_None, *h0_obj = Py_None, *c0_obj = Py_None;
    PyArrayObject *x = NULL, *lengths = NULL, *h0 = NULL, *c0 = NULL;
    PyArrayObject *y = NULL, *h_n = NULL, *c_n = NULL;
    PyObject *result = NULL;
    char got[SHAPE_BUF], want[SHAPE_BUF];
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
        if (PyArray_NDIM(h0) != 3 || !PyArray_CompareLists(PyArray_DIMS(h0), state_dims, 3)) {
            PyErr_Format(PyExc_ValueError,
                         "h0 must have shape (num_layers*num_directions, batch, hidden_size) "
                         "= %s, got %s",
                         shape_str(3, state_dims, want, sizeof want),
                         shape_str(PyArray_NDIM(h0), PyArray_DIMS(h0), got, sizeof got));
            goto done;
        }
        if (PyArray_NDIM(c0) != 3 || !PyArray_CompareLists(PyArray_DIMS(c0), state_dims, 3)) {
            PyErr_Format(PyExc_ValueError,
                         "c0 must have shape (num_layers*num_directions, batch, hidden_size) "
                         "= %s, got %s",
                         shape_str(3, state_dims, want, sizeof want),
                         shape_str(PyArray_NDIM(c0), PyArray_DIMS(c0), got, sizeof got));
            goto done;
        }
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

    Py_BEGIN_ALLOW_THREADS
    pthread_rwlock_rdlock(&self->lock);
    status = lk_lstm_forward(self->lstm, (const float *)PyArray_DATA(x), (int64_t)B, (int64_t)T,
                             (int64_t)D, (size_t)PyArray_SIZE(x), lengths_data, h0_data, c0_data,
                             state_count, (float *)PyArray_DATA(y), (size_t)PyArray_SIZE(y),
                             (float *)PyArray_DATA(h_n), (float *)PyArray_DATA(c_n),
                             (size_t)PyArray_SIZE(h_n));
    pthread_rwlock_unlock(&self->lock);
    Py_END_ALLOW_THREADS
    if (status != LK_STATUS_OK) {
        set_lk_error(status);
        goto done;
    }
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

/* param_names() -> list of str, in PyTorch's order */
static PyObject *LSTMHandle_param_names(LSTMHandle *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *names = NULL, *result = NULL;
    const char **raw = NULL;
    int32_t count = 0, i;
    lk_status status;

    Py_BEGIN_ALLOW_THREADS
    pthread_rwlock_rdlock(&self->lock);
    status = lk_lstm_param_count(self->lstm, &count);
    if (status == LK_STATUS_OK && count > 0) {
        raw = (const char **)PyMem_RawCalloc((size_t)count, sizeof *raw);
        for (i = 0; raw != NULL && i < count; i++) {
            /* Names are owned by the handle and valid until it is freed. */
            status = lk_lstm_param_name(self->lstm, i, &raw[i]);
            if (status != LK_STATUS_OK)
                break;
        }
    }
    pthread_rwlock_unlock(&self->lock);
    Py_END_ALLOW_THREADS
    if (status != LK_STATUS_OK) {
        set_lk_error(status);
        goto done;
    }
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

    Py_BEGIN_ALLOW_THREADS
    pthread_rwlock_rdlock(&self->lock);
    status = lk_lstm_param_shape(self->lstm, name, &nd, shape);
    pthread_rwlock_unlock(&self->lock);
    Py_END_ALLOW_THREADS
    if (status != LK_STATUS_OK) {
        set_lk_error(status);
        return 0;
    }
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
    Py_BEGIN_ALLOW_THREADS
    pthread_rwlock_rdlock(&self->lock);
    status = lk_lstm_get_param(self->lstm, name, (float *)PyArray_DATA(out),
                               (size_t)PyArray_SIZE(out));
    pthread_rwlock_unlock(&self->lock);
    Py_END_ALLOW_THREADS
    if (status != LK_STATUS_OK) {
        set_lk_error(status);
        goto fail;
    }
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
    char got[SHAPE_BUF], want[SHAPE_BUF];
    lk_status status;

    if (!PyArg_ParseTuple(args, "sO:set_param", &name, &values_obj))
        return NULL;
    if (!param_shape(self, name, &ndim, dims))
        goto done;
    values = as_float32(values_obj, name);
    if (values == NULL)
        goto done;
    if (PyArray_NDIM(values) != ndim || !PyArray_CompareLists(PyArray_DIMS(values), dims, ndim)) {
        PyErr_Format(PyExc_ValueError, "%s must have shape %s, got %s", name,
                     shape_str(ndim, dims, want, sizeof want),
                     shape_str(PyArray_NDIM(values), PyArray_DIMS(values), got, sizeof got));
        goto done;
    }
    if (!check_finite(values, name))
        goto done;
    Py_BEGIN_ALLOW_THREADS
    pthread_rwlock_wrlock(&self->lock);
    status = lk_lstm_set_param(self->lstm, name, (const float *)PyArray_DATA(values),
                               (size_t)PyArray_SIZE(values));
    pthread_rwlock_unlock(&self->lock);
    Py_END_ALLOW_THREADS
    if (status != LK_STATUS_OK) {
        set_lk_error(status);
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(values);
    return result;
}

/* set_params([(name, values), ...]): replaces several parameters at once.
 * Everything is converted and checked first; then all are set under one write lock,
 * so a concurrent forward sees either all old or all new values. If the library
 * refuses one, the ones already set are restored: the call is all or nothing. */
static PyObject *LSTMHandle_set_params(LSTMHandle *self, PyObject *args)
{
    PyObject *items_obj, *seq = NULL, *result = NULL;
    Py_ssize_t n = 0, i, done_count = 0;
    const char **names = NULL;
    PyArrayObject **values = NULL, **backups = NULL;
    char got[SHAPE_BUF], want[SHAPE_BUF];
    lk_status status = LK_STATUS_OK;

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
        if (PyArray_NDIM(values[i]) != ndim ||
            !PyArray_CompareLists(PyArray_DIMS(values[i]), dims, ndim)) {
            PyErr_Format(PyExc_ValueError, "%s must have shape %s, got %s", names[i],
                         shape_str(ndim, dims, want, sizeof want),
                         shape_str(PyArray_NDIM(values[i]), PyArray_DIMS(values[i]), got,
                                   sizeof got));
            goto done;
        }
        if (!check_finite(values[i], names[i]))
            goto done;
        backups[i] = (PyArrayObject *)PyArray_SimpleNew(ndim, dims, NPY_FLOAT32);
        if (backups[i] == NULL)
            goto done;
    }

    Py_BEGIN_ALLOW_THREADS
    pthread_rwlock_wrlock(&self->lock);
    for (i = 0; i < n && status == LK_STATUS_OK; i++)
        status = lk_lstm_get_param(self->lstm, names[i], (float *)PyArray_DATA(backups[i]),
                                   (size_t)PyArray_SIZE(backups[i]));
    for (i = 0; i < n && status == LK_STATUS_OK; i++) {
        status = lk_lstm_set_param(self->lstm, names[i], (const float *)PyArray_DATA(values[i]),
                                   (size_t)PyArray_SIZE(values[i]));
        if (status == LK_STATUS_OK)
            done_count = i + 1;
    }
    if (status != LK_STATUS_OK) {
        /* Restore what was already replaced; lk_last_error keeps the first failure's
         * message because the restoring calls succeed. */
        for (i = 0; i < done_count; i++)
            (void)lk_lstm_set_param(self->lstm, names[i],
                                    (const float *)PyArray_DATA(backups[i]),
                                    (size_t)PyArray_SIZE(backups[i]));
    }
    pthread_rwlock_unlock(&self->lock);
    Py_END_ALLOW_THREADS
    if (status != LK_STATUS_OK) {
        set_lk_error(status);
        goto done;
    }
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

/* save(path) */
static PyObject *LSTMHandle_save(LSTMHandle *self, PyObject *args)
{
    PyObject *path = NULL, *result = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "O&:save", PyUnicode_FSConverter, &path))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    pthread_rwlock_rdlock(&self->lock);
    status = lk_lstm_save(self->lstm, PyBytes_AS_STRING(path));
    pthread_rwlock_unlock(&self->lock);
    Py_END_ALLOW_THREADS
    if (status != LK_STATUS_OK) {
        set_lk_error(status);
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(path);
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
    {"save", (PyCFunction)LSTMHandle_save, METH_VARARGS, "save(path): writes a model file"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject LSTMHandle_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "lstmkit._native.LSTMHandle",
    .tp_basicsize = sizeof(LSTMHandle),
    .tp_dealloc = (destructor)LSTMHandle_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An lk_lstm handle. Made by lstm_create() or lstm_load(); freed with the object.",
    .tp_methods = LSTMHandle_methods,
};

/* ------------------------------------------------------------------------ */
/* Module functions                                                           */
/* ------------------------------------------------------------------------ */

/* lstm_create(input_size, hidden_size, num_layers, bidirectional, dropout, seed) */
static PyObject *native_lstm_create(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *input_size, *hidden_size, *num_layers, *bidirectional, *seed_obj;
    double dropout;
    lk_lstm_config config = lk_lstm_config_default();
    lk_lstm *lstm = NULL;
    unsigned long long seed;
    lk_status status;

    if (!PyArg_ParseTuple(args, "OOOOdO:lstm_create", &input_size, &hidden_size, &num_layers,
                          &bidirectional, &dropout, &seed_obj))
        return NULL;
    if (!int32_arg(input_size, "input_size", &config.input_size) ||
        !int32_arg(hidden_size, "hidden_size", &config.hidden_size) ||
        !int32_arg(num_layers, "num_layers", &config.num_layers) ||
        !int32_arg(bidirectional, "bidirectional", &config.bidirectional))
        return NULL;
    if (!PyLong_Check(seed_obj)) {
        PyErr_Format(PyExc_TypeError, "seed must be an int, got %s", Py_TYPE(seed_obj)->tp_name);
        return NULL;
    }
    seed = PyLong_AsUnsignedLongLong(seed_obj);
    if (seed == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "seed must be in [0, 2**64), got %S", seed_obj);
        return NULL;
    }
    config.seed = (uint64_t)seed;
    config.dropout = (float)dropout; /* NaN stays NaN; the library rejects it */

    Py_BEGIN_ALLOW_THREADS
    status = lk_lstm_create(&config, &lstm);
    Py_END_ALLOW_THREADS
    if (status != LK_STATUS_OK) {
        set_lk_error(status);
        return NULL;
    }
    return wrap_lstm(lstm);
}

/* lstm_load(path) */
static PyObject *native_lstm_load(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *path = NULL, *result = NULL;
    lk_lstm *lstm = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "O&:lstm_load", PyUnicode_FSConverter, &path))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    status = lk_lstm_load(PyBytes_AS_STRING(path), &lstm);
    Py_END_ALLOW_THREADS
    if (status != LK_STATUS_OK) {
        set_lk_error(status);
        goto done;
    }
    result = wrap_lstm(lstm);
done:
    Py_XDECREF(path);
    return result;
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

static PyObject *native_version(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyUnicode_FromString(lk_version());
}

static PyObject *native_abi_version(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong((long)lk_abi_version());
}

static PyObject *native_status_string(PyObject *Py_UNUSED(module), PyObject *args)
{
    int code;
    if (!PyArg_ParseTuple(args, "i:status_string", &code))
        return NULL;
    return PyUnicode_FromString(lk_status_string((lk_status)code));
}

static PyObject *native_set_num_threads(PyObject *Py_UNUSED(module), PyObject *arg)
{
    int32_t n;
    lk_status status;
    if (!int32_arg(arg, "n", &n))
        return NULL;
    if (n < 1) {
        PyErr_Format(PyExc_ValueError, "the number of threads must be >= 1, got %d", (int)n);
        return NULL;
    }
    status = lk_set_num_threads(n);
    if (status != LK_STATUS_OK) {
        set_lk_error(status);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *native_get_num_threads(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong((long)lk_get_num_threads());
}

static PyMethodDef native_methods[] = {
    {"lstm_create", native_lstm_create, METH_VARARGS,
     "lstm_create(input_size, hidden_size, num_layers, bidirectional, dropout, seed) -> handle"},
    {"lstm_load", native_lstm_load, METH_VARARGS, "lstm_load(path) -> handle"},
    {"as_float32", native_as_float32, METH_VARARGS,
     "as_float32(obj, name) -> C-contiguous float32 array with finite values"},
    {"version", native_version, METH_NOARGS, "The library's version string (lk_version)."},
    {"abi_version", native_abi_version, METH_NOARGS, "The library's ABI version."},
    {"status_string", native_status_string, METH_VARARGS, "lk_status_string(code)"},
    {"set_num_threads", native_set_num_threads, METH_O, "Sets the library's BLAS threads."},
    {"get_num_threads", native_get_num_threads, METH_NOARGS, "The library's BLAS threads."},
    {NULL, NULL, 0, NULL},
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

    if (abi != LK_ABI_VERSION) {
        PyErr_Format(PyExc_ImportError,
                     "liblstmkit ABI version %d does not match the version %d this extension "
                     "was built against; rebuild the Python package",
                     (int)abi, (int)LK_ABI_VERSION);
        return NULL;
    }
    import_array();
    if (PyType_Ready(&LSTMHandle_Type) < 0)
        return NULL;
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
        PyModule_AddObjectRef(module, "LSTMHandle", (PyObject *)&LSTMHandle_Type) < 0 ||
        PyModule_AddIntConstant(module, "ABI_VERSION", LK_ABI_VERSION) < 0 ||
        PyModule_AddStringConstant(module, "HEADER_VERSION", LK_VERSION_STRING) < 0)
        goto fail;
    return module;
fail:
    Py_DECREF(module);
    return NULL;
}
