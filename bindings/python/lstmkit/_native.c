/*
 * lstmkit._native — the CPython + NumPy extension over the C ABI in include/lstmkit.h.
 *
 * This file only converts and checks: NumPy arrays in, lk_* call, NumPy arrays out.
 * Every argument is checked here (dtype, rank, shape, range, finiteness) and a clear
 * Python exception is raised BEFORE the library is called; the library checks again
 * and its status codes map to Python exceptions through lk_ok().
 *
 * Threads: the GIL is released only around the lk_* calls. The header allows many
 * concurrent read-only calls on one handle (forward, get_param, save) but no call at
 * the same time as set_param, so every handle carries a reader-writer lock, taken
 * while the GIL is released (a thread never waits for the lock while holding the GIL,
 * so the two locks cannot deadlock). Tokenizer handles do the same: segment, save and
 * word_count read; add_words, load_dict and clear_words write. Text and image
 * classifier handles and image segmenter handles only have readers (predict,
 * predict_proba, evaluate, labels, save).
 *
 * Tokenizer, classifier and segmenter training run with the GIL released; their progress callbacks take the GIL
 * back (PyGILState_Ensure) to call the Python callable.
 *
 * Every call that computes (the locked calls and training) holds the process's other
 * OpenBLAS pools, NumPy's above all, at one thread while it runs (_other_blas.c).
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
#include "_other_blas.h"

/* lstmkit.ModelFormatError(ValueError): raised for LK_STATUS_INVALID_FORMAT. */
static PyObject *ModelFormatError = NULL;

/* ------------------------------------------------------------------------ */
/* Errors                                                                     */
/* ------------------------------------------------------------------------ */

/* 1 if status is LK_STATUS_OK; else raises the Python exception for the failed lk_*
 * call and returns 0. Must run on the OS thread that made the call (lk_last_error is
 * thread-local) and before any other lk_* call on it. */
static int lk_ok(lk_status status)
{
    const char *message;

    if (status == LK_STATUS_OK)
        return 1;
    message = lk_last_error();
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
    case LK_STATUS_BUFFER_TOO_SMALL:
        /* This binding always passes a large enough buffer. */
        PyErr_Format(PyExc_RuntimeError,
                     "internal error in lstmkit: an output buffer was too small: %s", message);
        break;
    default:
        PyErr_Format(PyExc_RuntimeError, "LSTMKit returned unknown status %d: %s",
                     (int)status, message);
        break;
    }
    return 0;
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

/* 1 if arr has the shape dims; else ValueError "<name> must have shape <meaning><dims>,
 * got <arr's shape>" and 0. */
static int check_shape(PyArrayObject *arr, const char *name, const char *meaning, int ndim,
                       const npy_intp *dims)
{
    char got[SHAPE_BUF], want[SHAPE_BUF];

    if (PyArray_NDIM(arr) == ndim && PyArray_CompareLists(PyArray_DIMS(arr), dims, ndim))
        return 1;
    PyErr_Format(PyExc_ValueError, "%s must have shape %s%s, got %s", name, meaning,
                 shape_str(ndim, dims, want, sizeof want),
                 shape_str(PyArray_NDIM(arr), PyArray_DIMS(arr), got, sizeof got));
    return 0;
}

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
        /* 8- and 16-bit integers always fit (and images are often big uint8 arrays). */
        if (PyArray_ITEMSIZE(src) > 2 && !ints_fit_float32(src, name))
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
/* Handle locks                                                               */
/* ------------------------------------------------------------------------ */

/* The reader-writer lock every handle object carries (see the top of this file). */
typedef struct {
    pthread_rwlock_t rw;
    int ready; /* rw is initialised, so it must be destroyed */
} handle_lock;

/* Initialises the lock; 1 on success, else RuntimeError and 0. */
static int handle_lock_init(handle_lock *lock)
{
    pthread_rwlockattr_t attr;

    pthread_rwlockattr_init(&attr);
#if defined(__GLIBC__)
    /* A writer (load_state_dict) is not starved by a stream of forward calls. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    lock->ready = pthread_rwlock_init(&lock->rw, &attr) == 0;
    pthread_rwlockattr_destroy(&attr);
    if (!lock->ready)
        PyErr_SetString(PyExc_RuntimeError, "cannot initialise the handle's lock");
    return lock->ready;
}

static void handle_lock_destroy(handle_lock *lock)
{
    if (lock->ready)
        pthread_rwlock_destroy(&lock->rw);
}

/* READ_LOCKED(self, statement) and WRITE_LOCKED(self, statement) run the statement (an
 * lk_* call) with the GIL released and self->lock held for reading or for writing. The
 * lock is taken after the GIL is released and freed before it is taken back. */
#define LOCKED(take, self, ...)                                                            \
    do {                                                                                   \
        Py_BEGIN_ALLOW_THREADS                                                             \
        take(&(self)->lock.rw);                                                            \
        other_blas_limit_begin();                                                          \
        __VA_ARGS__;                                                                       \
        other_blas_limit_end();                                                            \
        pthread_rwlock_unlock(&(self)->lock.rw);                                           \
        Py_END_ALLOW_THREADS                                                               \
    } while (0)
#define READ_LOCKED(self, ...) LOCKED(pthread_rwlock_rdlock, self, __VA_ARGS__)
#define WRITE_LOCKED(self, ...) LOCKED(pthread_rwlock_wrlock, self, __VA_ARGS__)

/* ------------------------------------------------------------------------ */
/* The LSTM handle type                                                       */
/* ------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    lk_lstm *lstm;
    lk_lstm_config config; /* fixed for the handle's life */
    handle_lock lock;      /* readers: forward, get_param, save...; writer: set_param */
} LSTMHandle;

static PyTypeObject LSTMHandle_Type;

/* Wraps a fresh lk_lstm (takes ownership: frees it on failure). */
static PyObject *wrap_lstm(lk_lstm *lstm)
{
    LSTMHandle *self = PyObject_New(LSTMHandle, &LSTMHandle_Type);

    if (self == NULL) {
        lk_lstm_free(lstm);
        return NULL;
    }
    self->lstm = lstm;
    if (!handle_lock_init(&self->lock) || !lk_ok(lk_lstm_get_config(lstm, &self->config))) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void LSTMHandle_dealloc(LSTMHandle *self)
{
    lk_lstm_free(self->lstm);
    handle_lock_destroy(&self->lock);
    PyObject_Free(self);
}

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

/* save(path) */
static PyObject *LSTMHandle_save(LSTMHandle *self, PyObject *args)
{
    PyObject *path = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "O&:save", PyUnicode_FSConverter, &path))
        return NULL;
    READ_LOCKED(self, status = lk_lstm_save(self->lstm, PyBytes_AS_STRING(path)));
    Py_DECREF(path);
    return lk_ok(status) ? Py_NewRef(Py_None) : NULL;
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
/* The tokenizer handle type                                                  */
/* ------------------------------------------------------------------------ */

/* Like LSTMHandle, every tokenizer handle carries a reader-writer lock, taken while
 * the GIL is released: segment, save and word_count are readers (the header allows
 * concurrent segment calls); add_words, load_dict and clear_words are writers (they
 * must not overlap with any other call on the handle). */
typedef struct {
    PyObject_HEAD
    lk_tokenizer *tokenizer;
    handle_lock lock;
} TokenizerHandle;

static PyTypeObject TokenizerHandle_Type;

/* Wraps a fresh lk_tokenizer (takes ownership: frees it on failure). */
static PyObject *wrap_tokenizer(lk_tokenizer *tokenizer)
{
    TokenizerHandle *self = PyObject_New(TokenizerHandle, &TokenizerHandle_Type);

    if (self == NULL) {
        lk_tokenizer_free(tokenizer);
        return NULL;
    }
    self->tokenizer = tokenizer;
    if (!handle_lock_init(&self->lock)) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void TokenizerHandle_dealloc(TokenizerHandle *self)
{
    lk_tokenizer_free(self->tokenizer);
    handle_lock_destroy(&self->lock);
    PyObject_Free(self);
}

/* The current exception as one object (a new reference), cleared; NULL if none. */
static PyObject *take_exception(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (type == NULL)
        return NULL;
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != NULL && tb != NULL)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

/* Raises exc again (steals the reference). */
static void restore_exception(PyObject *exc)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, PyException_GetTraceback(exc));
#endif
}

/* The UTF-8 bytes of a str argument (borrowed from the str: valid while it lives).
 * TypeError if `obj` is not a str; ValueError if it cannot be encoded (a lone
 * surrogate). The argument is named `name`, or `name[index]` when index >= 0. */
static const char *utf8_arg(PyObject *obj, const char *name, Py_ssize_t index, Py_ssize_t *len)
{
    char label[96];
    const char *bytes;

    if (index >= 0)
        snprintf(label, sizeof label, "%s[%zd]", name, index);
    else
        snprintf(label, sizeof label, "%s", name);
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be a str, got %s", label, Py_TYPE(obj)->tp_name);
        return NULL;
    }
    bytes = PyUnicode_AsUTF8AndSize(obj, len);
    if (bytes == NULL) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            Py_ssize_t at = -1;
            PyObject *exc = take_exception();
            if (exc == NULL || PyUnicodeEncodeError_GetStart(exc, &at) < 0) {
                PyErr_Clear();
                at = -1;
            }
            Py_XDECREF(exc);
            if (at >= 0 && at < PyUnicode_GET_LENGTH(obj)) {
                char code[16]; /* PyErr_Format has no %04X */
                snprintf(code, sizeof code, "U+%04X", (unsigned)PyUnicode_READ_CHAR(obj, at));
                PyErr_Format(PyExc_ValueError,
                             "%s cannot be encoded as UTF-8: it holds the lone surrogate %s at "
                             "index %zd",
                             label, code, at);
            } else
                PyErr_Format(PyExc_ValueError, "%s cannot be encoded as UTF-8", label);
        }
        return NULL;
    }
    return bytes;
}

/* segment(texts, threads, single) -> list of lists of str.
 * texts: a sequence of str. Errors name "text" when single is true, else "texts[i]". */
static PyObject *TokenizerHandle_segment(TokenizerHandle *self, PyObject *args)
{
    PyObject *texts_obj, *threads_obj, *seq = NULL, *result = NULL, *list = NULL;
    int single = 0;
    int32_t threads;
    Py_ssize_t n, i;
    const char **texts = NULL;
    size_t *lens = NULL, *counts = NULL, *ends = NULL;
    size_t total = 0, offset = 0;
    lk_status status;

    if (!PyArg_ParseTuple(args, "OOp:segment", &texts_obj, &threads_obj, &single))
        return NULL;
    if (!int32_arg(threads_obj, "threads", &threads))
        return NULL;
    if (threads < 1) {
        PyErr_Format(PyExc_ValueError, "threads must be >= 1, got %d", (int)threads);
        return NULL;
    }
    /* A private tuple: its strs (and so their UTF-8 buffers) stay alive while the GIL
     * is released, whatever other threads do to the caller's list. */
    seq = PySequence_Tuple(texts_obj);
    if (seq == NULL)
        return NULL;
    n = PyTuple_GET_SIZE(seq);
    if (n == 0) {
        result = PyList_New(0);
        goto done;
    }
    texts = PyMem_Calloc((size_t)n, sizeof *texts);
    lens = PyMem_Calloc((size_t)n, sizeof *lens);
    counts = PyMem_Calloc((size_t)n, sizeof *counts);
    if (texts == NULL || lens == NULL || counts == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (i = 0; i < n; i++) {
        Py_ssize_t len = 0;
        texts[i] = utf8_arg(PyTuple_GET_ITEM(seq, i), single ? "text" : "texts", single ? -1 : i,
                            &len);
        if (texts[i] == NULL)
            goto done;
        lens[i] = (size_t)len;
        total += (size_t)len;
    }
    /* A capacity of the total length in bytes is always enough (a token is >= 1 byte). */
    if (total > 0) {
        if (total > (size_t)PY_SSIZE_T_MAX / sizeof *ends) {
            PyErr_NoMemory();
            goto done;
        }
        ends = PyMem_Malloc(total * sizeof *ends);
        if (ends == NULL) {
            PyErr_NoMemory();
            goto done;
        }
    }

    READ_LOCKED(self, status = lk_tokenizer_segment_batch(self->tokenizer, texts, lens, (size_t)n,
                                                          threads, ends, total, counts));
    if (!lk_ok(status))
        goto done;

    result = PyList_New(n);
    if (result == NULL)
        goto done;
    for (i = 0; i < n; i++) {
        size_t c = counts[i], k, start = 0;
        if (c > total - offset) {
            PyErr_Format(PyExc_RuntimeError,
                         "internal error in LSTMKit: text %zd has %zu tokens, more than the "
                         "%zu offsets left",
                         i, c, total - offset);
            goto fail;
        }
        list = PyList_New((Py_ssize_t)c);
        if (list == NULL)
            goto fail;
        for (k = 0; k < c; k++) {
            size_t end = ends[offset + k];
            PyObject *token;
            if (end <= start || end > lens[i]) {
                PyErr_Format(PyExc_RuntimeError,
                             "internal error in LSTMKit: token %zu of text %zd ends at byte %zu "
                             "(previous end %zu, text length %zu)",
                             k, i, end, start, lens[i]);
                goto fail;
            }
            token = PyUnicode_DecodeUTF8(texts[i] + start, (Py_ssize_t)(end - start), "strict");
            if (token == NULL) {
                PyErr_Format(PyExc_RuntimeError,
                             "internal error in LSTMKit: token %zu of text %zd (bytes %zu to "
                             "%zu) splits a character",
                             k, i, start, end);
                goto fail;
            }
            PyList_SET_ITEM(list, (Py_ssize_t)k, token);
            start = end;
        }
        if (start != lens[i]) {
            PyErr_Format(PyExc_RuntimeError,
                         "internal error in LSTMKit: the tokens of text %zd cover %zu of its %zu "
                         "bytes",
                         i, start, lens[i]);
            goto fail;
        }
        offset += c;
        PyList_SET_ITEM(result, i, list);
        list = NULL;
    }
    goto done;
fail:
    Py_CLEAR(list);
    Py_CLEAR(result);
done:
    PyMem_Free(texts);
    PyMem_Free(lens);
    PyMem_Free(counts);
    PyMem_Free(ends);
    Py_XDECREF(seq);
    return result;
}

/* add_words(words): words is a sequence of str without NUL characters. */
static PyObject *TokenizerHandle_add_words(TokenizerHandle *self, PyObject *arg)
{
    PyObject *seq, *result = NULL;
    Py_ssize_t n, i;
    const char **words = NULL;
    lk_status status;

    seq = PySequence_Tuple(arg);
    if (seq == NULL)
        return NULL;
    n = PyTuple_GET_SIZE(seq);
    if (n == 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    words = PyMem_Calloc((size_t)n, sizeof *words);
    if (words == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (i = 0; i < n; i++) {
        Py_ssize_t len = 0;
        words[i] = utf8_arg(PyTuple_GET_ITEM(seq, i), "words", i, &len);
        if (words[i] == NULL)
            goto done;
        if (memchr(words[i], '\0', (size_t)len) != NULL) {
            PyErr_Format(PyExc_ValueError, "words[%zd] contains a NUL character", i);
            goto done;
        }
    }
    WRITE_LOCKED(self, status = lk_tokenizer_add_words(self->tokenizer, words, (size_t)n));
    if (lk_ok(status))
        result = Py_NewRef(Py_None);
done:
    PyMem_Free(words);
    Py_DECREF(seq);
    return result;
}

/* load_dict(path) */
static PyObject *TokenizerHandle_load_dict(TokenizerHandle *self, PyObject *args)
{
    PyObject *path = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "O&:load_dict", PyUnicode_FSConverter, &path))
        return NULL;
    WRITE_LOCKED(self, status = lk_tokenizer_load_dict(self->tokenizer, PyBytes_AS_STRING(path)));
    Py_DECREF(path);
    return lk_ok(status) ? Py_NewRef(Py_None) : NULL;
}

/* clear_words() */
static PyObject *TokenizerHandle_clear_words(TokenizerHandle *self, PyObject *Py_UNUSED(ignored))
{
    lk_status status;
    WRITE_LOCKED(self, status = lk_tokenizer_clear_words(self->tokenizer));
    return lk_ok(status) ? Py_NewRef(Py_None) : NULL;
}

/* word_count() -> int */
static PyObject *TokenizerHandle_word_count(TokenizerHandle *self, PyObject *Py_UNUSED(ignored))
{
    size_t count = 0;
    lk_status status;
    READ_LOCKED(self, status = lk_tokenizer_word_count(self->tokenizer, &count));
    return lk_ok(status) ? PyLong_FromSize_t(count) : NULL;
}

/* save(path) */
static PyObject *TokenizerHandle_save(TokenizerHandle *self, PyObject *args)
{
    PyObject *path = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "O&:save", PyUnicode_FSConverter, &path))
        return NULL;
    READ_LOCKED(self, status = lk_tokenizer_save(self->tokenizer, PyBytes_AS_STRING(path)));
    Py_DECREF(path);
    return lk_ok(status) ? Py_NewRef(Py_None) : NULL;
}

static PyMethodDef TokenizerHandle_methods[] = {
    {"segment", (PyCFunction)TokenizerHandle_segment, METH_VARARGS,
     "segment(texts, threads, single) -> list of token lists (GIL released)"},
    {"add_words", (PyCFunction)TokenizerHandle_add_words, METH_O,
     "add_words(words): adds user words (a sequence of str)"},
    {"load_dict", (PyCFunction)TokenizerHandle_load_dict, METH_VARARGS,
     "load_dict(path): adds the words of a dictionary file"},
    {"clear_words", (PyCFunction)TokenizerHandle_clear_words, METH_NOARGS,
     "clear_words(): removes every user word"},
    {"word_count", (PyCFunction)TokenizerHandle_word_count, METH_NOARGS,
     "word_count() -> the number of user words"},
    {"save", (PyCFunction)TokenizerHandle_save, METH_VARARGS, "save(path): writes a model file"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject TokenizerHandle_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "lstmkit._native.TokenizerHandle",
    .tp_basicsize = sizeof(TokenizerHandle),
    .tp_dealloc = (destructor)TokenizerHandle_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An lk_tokenizer handle. Made by tokenizer_load() or tokenizer_train(); freed "
              "with the object.",
    .tp_methods = TokenizerHandle_methods,
};

/* ------------------------------------------------------------------------ */
/* Tokenizer training                                                         */
/* ------------------------------------------------------------------------ */

/* The fields of lk_tokenizer_train_config, by name, as the Python dict holds them. */
typedef enum { FIELD_INT32, FIELD_FLOAT, FIELD_UINT64, FIELD_DOUBLE } field_kind;

typedef struct {
    const char *name;
    field_kind kind;
    size_t offset;
} train_field;

#define TRAIN_FIELD(name, kind) {#name, kind, offsetof(lk_tokenizer_train_config, name)}
static const train_field train_fields[] = {
    TRAIN_FIELD(epochs, FIELD_INT32),
    TRAIN_FIELD(batch_size, FIELD_INT32),
    TRAIN_FIELD(learning_rate, FIELD_FLOAT),
    TRAIN_FIELD(hidden_size, FIELD_INT32),
    TRAIN_FIELD(num_layers, FIELD_INT32),
    TRAIN_FIELD(char_dim, FIELD_INT32),
    TRAIN_FIELD(bigram_dim, FIELD_INT32),
    TRAIN_FIELD(min_bigram_count, FIELD_INT32),
    TRAIN_FIELD(dropout, FIELD_FLOAT),
    TRAIN_FIELD(label_smoothing, FIELD_FLOAT),
    TRAIN_FIELD(patience, FIELD_INT32),
    TRAIN_FIELD(threads, FIELD_INT32),
    TRAIN_FIELD(max_batches_per_epoch, FIELD_INT32),
    TRAIN_FIELD(seed, FIELD_UINT64),
    TRAIN_FIELD(dictionary_max_length, FIELD_INT32),
    TRAIN_FIELD(unknown_bigram_rate, FIELD_FLOAT),
    TRAIN_FIELD(feature_dropout, FIELD_FLOAT),
    TRAIN_FIELD(lexicon_max_length, FIELD_INT32),
    TRAIN_FIELD(average_decay, FIELD_FLOAT),
    TRAIN_FIELD(dictionary_min_count, FIELD_INT32),
};
#undef TRAIN_FIELD
#define TRAIN_FIELD_COUNT (sizeof train_fields / sizeof train_fields[0])

/* The `count` fields of the struct at base as a dict. */
static PyObject *fields_to_dict(const train_field *fields, size_t count, const char *base)
{
    PyObject *dict = PyDict_New();
    size_t i;

    if (dict == NULL)
        return NULL;
    for (i = 0; i < count; i++) {
        const train_field *f = &fields[i];
        PyObject *value = NULL;
        switch (f->kind) {
        case FIELD_INT32: {
            int32_t v;
            memcpy(&v, base + f->offset, sizeof v);
            value = PyLong_FromLong((long)v);
            break;
        }
        case FIELD_FLOAT: {
            float v;
            memcpy(&v, base + f->offset, sizeof v);
            value = PyFloat_FromDouble((double)v);
            break;
        }
        case FIELD_UINT64: {
            uint64_t v;
            memcpy(&v, base + f->offset, sizeof v);
            value = PyLong_FromUnsignedLongLong((unsigned long long)v);
            break;
        }
        case FIELD_DOUBLE: {
            double v;
            memcpy(&v, base + f->offset, sizeof v);
            value = PyFloat_FromDouble(v);
            break;
        }
        }
        if (value == NULL || PyDict_SetItemString(dict, f->name, value) < 0) {
            Py_XDECREF(value);
            Py_DECREF(dict);
            return NULL;
        }
        Py_DECREF(value);
    }
    return dict;
}

/* tokenizer_train_config_default() -> dict */
static PyObject *native_tokenizer_train_config_default(PyObject *Py_UNUSED(module),
                                                       PyObject *Py_UNUSED(ignored))
{
    lk_tokenizer_train_config config = lk_tokenizer_train_config_default();
    return fields_to_dict(train_fields, TRAIN_FIELD_COUNT, (const char *)&config);
}

/* Fills the struct at base from a dict holding every one of the `count` fields
 * (TypeError/ValueError naming a field). */
static int fields_from_dict(PyObject *dict, const train_field *fields, size_t count, char *base)
{
    size_t i;

    if (!PyDict_Check(dict)) {
        PyErr_Format(PyExc_TypeError, "config must be a dict, got %s", Py_TYPE(dict)->tp_name);
        return 0;
    }
    for (i = 0; i < count; i++) {
        const train_field *f = &fields[i];
        PyObject *value = PyDict_GetItemString(dict, f->name); /* borrowed */
        if (value == NULL) {
            PyErr_Format(PyExc_KeyError, "config has no field %s", f->name);
            return 0;
        }
        switch (f->kind) {
        case FIELD_INT32: {
            int32_t v;
            if (!int32_arg(value, f->name, &v))
                return 0;
            memcpy(base + f->offset, &v, sizeof v);
            break;
        }
        case FIELD_FLOAT:
        case FIELD_DOUBLE: {
            double d;
            float v;
            if (!PyFloat_Check(value) && !PyLong_Check(value)) {
                PyErr_Format(PyExc_TypeError, "%s must be a float, got %s", f->name,
                             Py_TYPE(value)->tp_name);
                return 0;
            }
            d = PyFloat_AsDouble(value);
            if (d == -1.0 && PyErr_Occurred())
                return 0;
            if (f->kind == FIELD_DOUBLE) {
                memcpy(base + f->offset, &d, sizeof d);
                break;
            }
            v = (float)d; /* NaN stays NaN: the library rejects it */
            memcpy(base + f->offset, &v, sizeof v);
            break;
        }
        case FIELD_UINT64: {
            unsigned long long u;
            uint64_t v;
            if (!PyLong_Check(value)) {
                PyErr_Format(PyExc_TypeError, "%s must be an int, got %s", f->name,
                             Py_TYPE(value)->tp_name);
                return 0;
            }
            u = PyLong_AsUnsignedLongLong(value);
            if (u == (unsigned long long)-1 && PyErr_Occurred()) {
                PyErr_Clear();
                PyErr_Format(PyExc_ValueError, "%s must be in [0, 2**64), got %S", f->name, value);
                return 0;
            }
            v = (uint64_t)u;
            memcpy(base + f->offset, &v, sizeof v);
            break;
        }
        }
    }
    return 1;
}

/* Fills *config from a dict holding every field (TypeError/ValueError naming a field). */
static int train_config_from_dict(PyObject *dict, lk_tokenizer_train_config *config)
{
    *config = lk_tokenizer_train_config_default();
    return fields_from_dict(dict, train_fields, TRAIN_FIELD_COUNT, (char *)config);
}

/* The progress callback's state. The callback runs on the thread that called
 * lk_tokenizer_train, which released the GIL: it takes the GIL back to call Python.
 * The first exception the Python callable raises is kept here and re-raised when
 * training returns; later lines are not delivered (training itself cannot be stopped
 * from the callback and runs to its end). */
typedef struct {
    PyObject *callback;
    PyObject *exception;
} progress_state;

static void progress_trampoline(const char *line, void *user_data)
{
    progress_state *state = user_data;
    PyGILState_STATE gil = PyGILState_Ensure();
    if (state->exception == NULL) {
        PyObject *text = PyUnicode_DecodeUTF8(line, (Py_ssize_t)strlen(line), "replace");
        PyObject *result = text ? PyObject_CallOneArg(state->callback, text) : NULL;
        Py_XDECREF(text);
        if (result == NULL) {
            state->exception = take_exception();
            if (state->exception == NULL) /* a NULL result without an exception */
                state->exception = PyObject_CallFunction(
                    PyExc_SystemError, "s", "the progress callback failed without an exception");
        }
        Py_XDECREF(result);
    }
    PyGILState_Release(gil);
}

/* tokenizer_train(train: bytes, dev: bytes, config: dict, checkpoint: path or None,
 *                 progress: callable or None, lexicon: bytes or None) -> handle */
static PyObject *native_tokenizer_train(PyObject *Py_UNUSED(module), PyObject *args)
{
    const char *train, *dev, *lexicon = NULL;
    Py_ssize_t train_len, dev_len, lexicon_len = 0;
    PyObject *config_obj, *checkpoint_obj, *progress_obj, *checkpoint = NULL, *result = NULL;
    lk_tokenizer_train_config config;
    progress_state state = {NULL, NULL};
    lk_tokenizer *tokenizer = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "y#y#OOO|z#:tokenizer_train", &train, &train_len, &dev, &dev_len,
                          &config_obj, &checkpoint_obj, &progress_obj, &lexicon, &lexicon_len))
        return NULL;
    if (!train_config_from_dict(config_obj, &config))
        return NULL;
    config.lexicon = lexicon; /* borrowed: args holds the bytes */
    config.lexicon_len = (size_t)lexicon_len;
    if (checkpoint_obj != Py_None && !PyUnicode_FSConverter(checkpoint_obj, &checkpoint))
        return NULL;
    if (progress_obj != Py_None) {
        if (!PyCallable_Check(progress_obj)) {
            PyErr_Format(PyExc_TypeError, "progress must be callable or None, got %s",
                         Py_TYPE(progress_obj)->tp_name);
            goto done;
        }
        state.callback = progress_obj; /* borrowed: args holds it */
    }

    Py_BEGIN_ALLOW_THREADS
    other_blas_limit_begin();
    status = lk_tokenizer_train(train, (size_t)train_len, dev, (size_t)dev_len, &config,
                                checkpoint ? PyBytes_AS_STRING(checkpoint) : NULL,
                                state.callback ? progress_trampoline : NULL, &state, &tokenizer);
    other_blas_limit_end();
    Py_END_ALLOW_THREADS
    if (state.exception != NULL) {
        /* The callback's exception wins; the trained model (if any) is dropped. */
        lk_tokenizer_free(status == LK_STATUS_OK ? tokenizer : NULL);
        restore_exception(state.exception);
        goto done;
    }
    if (lk_ok(status))
        result = wrap_tokenizer(tokenizer);
done:
    Py_XDECREF(checkpoint);
    return result;
}

/* tokenizer_load(path) -> handle */
static PyObject *native_tokenizer_load(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *path = NULL;
    lk_tokenizer *tokenizer = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "O&:tokenizer_load", PyUnicode_FSConverter, &path))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    status = lk_tokenizer_load(PyBytes_AS_STRING(path), &tokenizer);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    return lk_ok(status) ? wrap_tokenizer(tokenizer) : NULL;
}

/* tokenizer_ensemble(handles) -> handle. The handles are copied into a tuple first, so
 * they stay referenced while the GIL is released even if the caller's list changes. */
static PyObject *native_tokenizer_ensemble(PyObject *Py_UNUSED(module), PyObject *arg)
{
    PyObject *items = PySequence_Tuple(arg);
    Py_ssize_t n, i;
    const lk_tokenizer **members;
    lk_tokenizer *tokenizer = NULL;
    lk_status status;

    if (items == NULL)
        return NULL;
    n = PyTuple_GET_SIZE(items);
    for (i = 0; i < n; i++) {
        if (!PyObject_TypeCheck(PyTuple_GET_ITEM(items, i), &TokenizerHandle_Type)) {
            Py_DECREF(items);
            return PyErr_Format(PyExc_TypeError, "tokenizer_ensemble: item %zd is not a tokenizer handle", i);
        }
    }
    members = PyMem_Malloc(sizeof *members * (size_t)(n > 0 ? n : 1));
    if (members == NULL) {
        Py_DECREF(items);
        return PyErr_NoMemory();
    }
    for (i = 0; i < n; i++)
        members[i] = ((TokenizerHandle *)PyTuple_GET_ITEM(items, i))->tokenizer;
    Py_BEGIN_ALLOW_THREADS
    status = lk_tokenizer_ensemble(members, (size_t)n, &tokenizer);
    Py_END_ALLOW_THREADS
    PyMem_Free(members);
    Py_DECREF(items);
    return lk_ok(status) ? wrap_tokenizer(tokenizer) : NULL;
}

/* ------------------------------------------------------------------------ */
/* The text classifier handle type                                            */
/* ------------------------------------------------------------------------ */

/* Every classifier handle carries a reader-writer lock like the others; all of its
 * calls (predict, attention, labels, save) are readers: the header allows them
 * concurrently. */
typedef struct {
    PyObject_HEAD
    lk_text_classifier *classifier;
    int32_t num_classes; /* fixed for the handle's life */
    handle_lock lock;
} ClassifierHandle;

static PyTypeObject ClassifierHandle_Type;

/* Wraps a fresh lk_text_classifier (takes ownership: frees it on failure). */
static PyObject *wrap_classifier(lk_text_classifier *classifier)
{
    ClassifierHandle *self = PyObject_New(ClassifierHandle, &ClassifierHandle_Type);

    if (self == NULL) {
        lk_text_classifier_free(classifier);
        return NULL;
    }
    self->classifier = classifier;
    self->num_classes = 0;
    if (!handle_lock_init(&self->lock) ||
        !lk_ok(lk_text_classifier_num_classes(classifier, &self->num_classes))) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void ClassifierHandle_dealloc(ClassifierHandle *self)
{
    lk_text_classifier_free(self->classifier);
    handle_lock_destroy(&self->lock);
    PyObject_Free(self);
}

/* The UTF-8 buffers of a tuple of str (borrowed from the tuple's strs). Returns a
 * PyMem array of n pointers and fills *lens_out (PyMem, n sizes); NULL on error. */
static const char **utf8_array(PyObject *tuple, const char *name, int nul_free, size_t **lens_out)
{
    Py_ssize_t n = PyTuple_GET_SIZE(tuple), i;
    const char **texts = PyMem_Calloc(n > 0 ? (size_t)n : 1, sizeof *texts);
    size_t *lens = PyMem_Calloc(n > 0 ? (size_t)n : 1, sizeof *lens);

    if (texts == NULL || lens == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (i = 0; i < n; i++) {
        Py_ssize_t len = 0;
        texts[i] = utf8_arg(PyTuple_GET_ITEM(tuple, i), name, i, &len);
        if (texts[i] == NULL)
            goto fail;
        if (nul_free && memchr(texts[i], '\0', (size_t)len) != NULL) {
            PyErr_Format(PyExc_ValueError, "%s[%zd] contains a NUL character", name, i);
            goto fail;
        }
        lens[i] = (size_t)len;
    }
    *lens_out = lens;
    return texts;
fail:
    PyMem_Free(texts);
    PyMem_Free(lens);
    return NULL;
}

/* predict_proba(texts, threads) -> float32 array (n, C). GIL released. */
static PyObject *ClassifierHandle_predict_proba(ClassifierHandle *self, PyObject *args)
{
    PyObject *texts_obj, *threads_obj, *seq = NULL;
    PyArrayObject *out = NULL;
    int32_t threads;
    const char **texts = NULL;
    size_t *lens = NULL;
    npy_intp dims[2];
    Py_ssize_t n;
    lk_status status;

    if (!PyArg_ParseTuple(args, "OO:predict_proba", &texts_obj, &threads_obj))
        return NULL;
    if (!int32_arg(threads_obj, "threads", &threads))
        return NULL;
    if (threads < 1) {
        PyErr_Format(PyExc_ValueError, "threads must be >= 1, got %d", (int)threads);
        return NULL;
    }
    /* A private tuple keeps the strs (and their UTF-8) alive while the GIL is released. */
    seq = PySequence_Tuple(texts_obj);
    if (seq == NULL)
        return NULL;
    n = PyTuple_GET_SIZE(seq);
    texts = utf8_array(seq, "texts", 0, &lens);
    if (texts == NULL)
        goto done;
    dims[0] = (npy_intp)n;
    dims[1] = (npy_intp)self->num_classes;
    out = (PyArrayObject *)PyArray_SimpleNew(2, dims, NPY_FLOAT32);
    if (out == NULL)
        goto done;
    READ_LOCKED(self, status = lk_text_classifier_predict(
                          self->classifier, texts, lens, (size_t)n, threads,
                          (float *)PyArray_DATA(out), (size_t)n * (size_t)self->num_classes));
    if (!lk_ok(status))
        Py_CLEAR(out);
done:
    PyMem_Free(texts);
    PyMem_Free(lens);
    Py_XDECREF(seq);
    return (PyObject *)out;
}

/* attention(text) -> list of (token: str, weight: float): the tokens the model read and
 * their attention weights. ValueError (from the library) when the model's pooling is
 * not attention. GIL released around the lk_* calls. The first call guesses buffer
 * sizes; if they are too small, it is repeated with the sizes it reported. */
static PyObject *ClassifierHandle_attention(ClassifierHandle *self, PyObject *args)
{
    PyObject *text_obj, *result = NULL, *pair;
    const char *text;
    Py_ssize_t len = 0;
    char *tokens = NULL;
    float *weights = NULL;
    size_t tokens_cap, weights_cap, tokens_size = 0, n_tokens = 0, i, at = 0;
    lk_status status = LK_STATUS_BUFFER_TOO_SMALL;
    int attempt;

    if (!PyArg_ParseTuple(args, "O:attention", &text_obj))
        return NULL;
    /* text_obj is borrowed from args, which holds it (and its UTF-8) for the call. */
    text = utf8_arg(text_obj, "text", -1, &len);
    if (text == NULL)
        return NULL;
    /* Each token comes from at least one byte of the text and is rarely longer than
     * its source; capped so that a long text does not allocate for every byte. */
    tokens_cap = (size_t)len < 32768 ? 2 * (size_t)len + 64 : 65600;
    weights_cap = (size_t)len < 4096 ? (size_t)len + 1 : 4096;
    for (attempt = 0; attempt < 3 && status == LK_STATUS_BUFFER_TOO_SMALL; attempt++) {
        PyMem_Free(tokens);
        PyMem_Free(weights);
        tokens = PyMem_Malloc(tokens_cap > 0 ? tokens_cap : 1);
        weights = PyMem_Malloc((weights_cap > 0 ? weights_cap : 1) * sizeof *weights);
        if (tokens == NULL || weights == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        READ_LOCKED(self, status = lk_text_classifier_attention(self->classifier, text, (size_t)len,
                                                                tokens, tokens_cap, &tokens_size,
                                                                weights, weights_cap, &n_tokens));
        if (status == LK_STATUS_BUFFER_TOO_SMALL) {
            if (tokens_size > (size_t)PY_SSIZE_T_MAX ||
                n_tokens > (size_t)PY_SSIZE_T_MAX / sizeof *weights) {
                PyErr_NoMemory();
                goto done;
            }
            tokens_cap = tokens_size;
            weights_cap = n_tokens;
        }
    }
    if (!lk_ok(status))
        goto done;
    if (n_tokens > (size_t)PY_SSIZE_T_MAX || tokens_size > tokens_cap || n_tokens > weights_cap) {
        PyErr_SetString(PyExc_RuntimeError,
                        "internal error in LSTMKit: the attention sizes exceed the buffers");
        goto done;
    }
    result = PyList_New((Py_ssize_t)n_tokens);
    if (result == NULL)
        goto done;
    for (i = 0; i < n_tokens; i++) {
        const char *nul = at < tokens_size ? memchr(tokens + at, '\0', tokens_size - at) : NULL;
        PyObject *token, *weight;
        if (nul == NULL) {
            PyErr_Format(PyExc_RuntimeError,
                         "internal error in LSTMKit: %zu tokens reported, but the buffer ends "
                         "after %zu",
                         n_tokens, i);
            Py_CLEAR(result);
            goto done;
        }
        token = PyUnicode_DecodeUTF8(tokens + at, (Py_ssize_t)(nul - (tokens + at)), "strict");
        if (token == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        weight = PyFloat_FromDouble((double)weights[i]);
        pair = weight != NULL ? PyTuple_Pack(2, token, weight) : NULL;
        Py_DECREF(token);
        Py_XDECREF(weight);
        if (pair == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, (Py_ssize_t)i, pair);
        at = (size_t)(nul - tokens) + 1;
    }
done:
    PyMem_Free(tokens);
    PyMem_Free(weights);
    return result;
}

/* labels() -> list of str, in class order. */
static PyObject *ClassifierHandle_labels(ClassifierHandle *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *list = PyList_New(self->num_classes);
    int32_t i;

    if (list == NULL)
        return NULL;
    for (i = 0; i < self->num_classes; i++) {
        const char *label = NULL;
        PyObject *s;
        lk_status status = lk_text_classifier_label(self->classifier, i, &label);
        if (!lk_ok(status)) {
            Py_DECREF(list);
            return NULL;
        }
        s = PyUnicode_FromString(label);
        if (s == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, s);
    }
    return list;
}

static PyObject *ClassifierHandle_save(ClassifierHandle *self, PyObject *args)
{
    PyObject *path = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "O&:save", PyUnicode_FSConverter, &path))
        return NULL;
    READ_LOCKED(self, status = lk_text_classifier_save(self->classifier, PyBytes_AS_STRING(path)));
    Py_DECREF(path);
    return lk_ok(status) ? Py_NewRef(Py_None) : NULL;
}

static PyMethodDef ClassifierHandle_methods[] = {
    {"predict_proba", (PyCFunction)ClassifierHandle_predict_proba, METH_VARARGS,
     "predict_proba(texts, threads) -> float32 array (n, num_classes) (GIL released)"},
    {"attention", (PyCFunction)ClassifierHandle_attention, METH_VARARGS,
     "attention(text) -> list of (token, weight) (GIL released)"},
    {"labels", (PyCFunction)ClassifierHandle_labels, METH_NOARGS,
     "labels() -> the class labels (list of str), in column order"},
    {"save", (PyCFunction)ClassifierHandle_save, METH_VARARGS, "save(path): writes a model file"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ClassifierHandle_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "lstmkit._native.ClassifierHandle",
    .tp_basicsize = sizeof(ClassifierHandle),
    .tp_dealloc = (destructor)ClassifierHandle_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An lk_text_classifier handle. Made by text_classifier_load() or "
              "text_classifier_train(); freed with the object.",
    .tp_methods = ClassifierHandle_methods,
};

#define CLS_FIELD(name, kind) {#name, kind, offsetof(lk_text_classifier_train_config, name)}
static const train_field classifier_fields[] = {
    CLS_FIELD(embedding_dim, FIELD_INT32),
    CLS_FIELD(hidden_size, FIELD_INT32),
    CLS_FIELD(num_layers, FIELD_INT32),
    CLS_FIELD(bidirectional, FIELD_INT32),
    CLS_FIELD(pooling, FIELD_INT32),
    CLS_FIELD(attention_size, FIELD_INT32),
    CLS_FIELD(dropout, FIELD_FLOAT),
    CLS_FIELD(max_length, FIELD_INT32),
    CLS_FIELD(min_count, FIELD_INT32),
    CLS_FIELD(epochs, FIELD_INT32),
    CLS_FIELD(batch_size, FIELD_INT32),
    CLS_FIELD(learning_rate, FIELD_FLOAT),
    CLS_FIELD(patience, FIELD_INT32),
    CLS_FIELD(balance_classes, FIELD_INT32),
    CLS_FIELD(tokenization, FIELD_INT32),
    CLS_FIELD(threads, FIELD_INT32),
    CLS_FIELD(seed, FIELD_UINT64),
    CLS_FIELD(ngram_order, FIELD_INT32),
    CLS_FIELD(ngram_dropout, FIELD_FLOAT),
    CLS_FIELD(ngram_learning_rate, FIELD_FLOAT),
    CLS_FIELD(min_ngram_count, FIELD_INT32),
};
#undef CLS_FIELD
#define CLASSIFIER_FIELD_COUNT (sizeof classifier_fields / sizeof classifier_fields[0])

/* text_classifier_train_config_default() -> dict */
static PyObject *native_text_classifier_train_config_default(PyObject *Py_UNUSED(module),
                                                             PyObject *Py_UNUSED(ignored))
{
    lk_text_classifier_train_config config = lk_text_classifier_train_config_default();
    return fields_to_dict(classifier_fields, CLASSIFIER_FIELD_COUNT, (const char *)&config);
}

/* text_classifier_train(train_texts, train_labels, dev_texts, dev_labels, config: dict,
 *                       progress: callable or None) -> handle. GIL released. */
static PyObject *native_text_classifier_train(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *tt_obj, *tl_obj, *dt_obj, *dl_obj, *config_obj, *progress_obj, *result = NULL;
    PyObject *tt = NULL, *tl = NULL, *dt = NULL, *dl = NULL;
    const char **train_texts = NULL, **train_labels = NULL, **dev_texts = NULL, **dev_labels = NULL;
    size_t *train_lens = NULL, *train_label_lens = NULL, *dev_lens = NULL, *dev_label_lens = NULL;
    lk_text_classifier_train_config config = lk_text_classifier_train_config_default();
    progress_state state = {NULL, NULL};
    lk_text_classifier *classifier = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "OOOOOO:text_classifier_train", &tt_obj, &tl_obj, &dt_obj, &dl_obj,
                          &config_obj, &progress_obj))
        return NULL;
    if (!fields_from_dict(config_obj, classifier_fields, CLASSIFIER_FIELD_COUNT, (char *)&config))
        return NULL;
    if (progress_obj != Py_None) {
        if (!PyCallable_Check(progress_obj)) {
            PyErr_Format(PyExc_TypeError, "progress must be callable or None, got %s",
                         Py_TYPE(progress_obj)->tp_name);
            return NULL;
        }
        state.callback = progress_obj; /* borrowed: args holds it */
    }
    if ((tt = PySequence_Tuple(tt_obj)) == NULL || (tl = PySequence_Tuple(tl_obj)) == NULL ||
        (dt = PySequence_Tuple(dt_obj)) == NULL || (dl = PySequence_Tuple(dl_obj)) == NULL)
        goto done;
    if (PyTuple_GET_SIZE(tt) != PyTuple_GET_SIZE(tl) || PyTuple_GET_SIZE(dt) != PyTuple_GET_SIZE(dl)) {
        PyErr_SetString(PyExc_ValueError, "texts and labels differ in length");
        goto done;
    }
    if ((train_texts = utf8_array(tt, "texts", 0, &train_lens)) == NULL ||
        (train_labels = utf8_array(tl, "labels", 1, &train_label_lens)) == NULL ||
        (dev_texts = utf8_array(dt, "dev texts", 0, &dev_lens)) == NULL ||
        (dev_labels = utf8_array(dl, "dev labels", 1, &dev_label_lens)) == NULL)
        goto done;

    Py_BEGIN_ALLOW_THREADS
    other_blas_limit_begin();
    status = lk_text_classifier_train(train_texts, train_lens, train_labels, (size_t)PyTuple_GET_SIZE(tt),
                                      dev_texts, dev_lens, dev_labels, (size_t)PyTuple_GET_SIZE(dt),
                                      &config, state.callback ? progress_trampoline : NULL, &state,
                                      &classifier);
    other_blas_limit_end();
    Py_END_ALLOW_THREADS
    if (state.exception != NULL) {
        lk_text_classifier_free(status == LK_STATUS_OK ? classifier : NULL);
        restore_exception(state.exception);
        goto done;
    }
    if (lk_ok(status))
        result = wrap_classifier(classifier);
done:
    PyMem_Free(train_texts);
    PyMem_Free(train_labels);
    PyMem_Free(dev_texts);
    PyMem_Free(dev_labels);
    PyMem_Free(train_lens);
    PyMem_Free(train_label_lens);
    PyMem_Free(dev_lens);
    PyMem_Free(dev_label_lens);
    Py_XDECREF(tt);
    Py_XDECREF(tl);
    Py_XDECREF(dt);
    Py_XDECREF(dl);
    return result;
}

/* text_classifier_load(path) -> handle */
static PyObject *native_text_classifier_load(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *path = NULL;
    lk_text_classifier *classifier = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "O&:text_classifier_load", PyUnicode_FSConverter, &path))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    status = lk_text_classifier_load(PyBytes_AS_STRING(path), &classifier);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    return lk_ok(status) ? wrap_classifier(classifier) : NULL;
}

/* ------------------------------------------------------------------------ */
/* The image classifier handle type                                           */
/* ------------------------------------------------------------------------ */

/* Like the text classifier's, every call on an image classifier handle (predict,
 * labels, save) is a reader. The model's kind and input shape are read once. */
typedef struct {
    PyObject_HEAD
    lk_image_classifier *classifier;
    int32_t num_classes; /* fixed for the handle's life, like kind and shape */
    int32_t kind;
    lk_image_shape shape;
    handle_lock lock;
} ImageClassifierHandle;

static PyTypeObject ImageClassifierHandle_Type;

/* Wraps a fresh lk_image_classifier (takes ownership: frees it on failure). */
static PyObject *wrap_image_classifier(lk_image_classifier *classifier)
{
    ImageClassifierHandle *self = PyObject_New(ImageClassifierHandle, &ImageClassifierHandle_Type);

    if (self == NULL) {
        lk_image_classifier_free(classifier);
        return NULL;
    }
    self->classifier = classifier;
    self->num_classes = 0;
    self->kind = 0;
    memset(&self->shape, 0, sizeof self->shape);
    if (!handle_lock_init(&self->lock) ||
        !lk_ok(lk_image_classifier_num_classes(classifier, &self->num_classes)) ||
        !lk_ok(lk_image_classifier_kind(classifier, &self->kind)) ||
        !lk_ok(lk_image_classifier_input_shape(classifier, &self->shape))) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void ImageClassifierHandle_dealloc(ImageClassifierHandle *self)
{
    lk_image_classifier_free(self->classifier);
    handle_lock_destroy(&self->lock);
    PyObject_Free(self);
}

/* The dimensions of one example, (H, W, C) or (T, H, W, C), into dims; returns their
 * number. */
static int example_dims(const lk_image_shape *s, npy_intp dims[4])
{
    int k = 0;
    if (s->frames > 0)
        dims[k++] = (npy_intp)s->frames;
    dims[k++] = (npy_intp)s->height;
    dims[k++] = (npy_intp)s->width;
    dims[k++] = (npy_intp)s->channels;
    return k;
}

/* The example shape of a batch of images: (N, H, W) is one channel, (N, H, W, C) one
 * image each, (N, T, H, W, C) T frames each. 1 on success; else ValueError naming
 * `name` and 0. */
static int batch_shape(PyArrayObject *arr, const char *name, lk_image_shape *out)
{
    char got[SHAPE_BUF];
    const npy_intp *d = PyArray_DIMS(arr);
    int nd = PyArray_NDIM(arr), i;

    if (nd < 3 || nd > 5) {
        PyErr_Format(PyExc_ValueError,
                     "%s must have shape (N, H, W), (N, H, W, C) or (N, T, H, W, C), got %s", name,
                     shape_str(nd, d, got, sizeof got));
        return 0;
    }
    for (i = 1; i < nd; i++) {
        if (d[i] < 1) {
            PyErr_Format(PyExc_ValueError, "%s has an empty dimension: shape %s", name,
                         shape_str(nd, d, got, sizeof got));
            return 0;
        }
    }
    out->frames = nd == 5 ? (int64_t)d[1] : 0;
    out->height = (int64_t)d[nd == 5 ? 2 : 1];
    out->width = (int64_t)d[nd == 5 ? 3 : 2];
    out->channels = nd == 3 ? 1 : (int64_t)d[nd - 1];
    return 1;
}

/* 1 if every pixel of the (N, ...) float32 array is finite; else ValueError naming the
 * image ("X[3] holds a NaN pixel") and 0. */
static int check_finite_images(PyArrayObject *arr, const char *name)
{
    const float *v = (const float *)PyArray_DATA(arr);
    npy_intp i, n = PyArray_SIZE(arr), per;

    if (n == 0)
        return 1;
    per = n / PyArray_DIM(arr, 0);
    for (i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            PyErr_Format(PyExc_ValueError,
                         "%s[%zd] holds a%s pixel (at flat index %zd of that image); pixels "
                         "must be finite",
                         name, (Py_ssize_t)(i / per), isnan(v[i]) ? " NaN" : "n infinite",
                         (Py_ssize_t)(i % per));
            return 0;
        }
    }
    return 1;
}

/* predict_proba(X, threads) -> float32 array (n, C). X is checked against the model's
 * input shape ((N, H, W) is accepted for one channel). GIL released. */
static PyObject *ImageClassifierHandle_predict_proba(ImageClassifierHandle *self, PyObject *args)
{
    PyObject *x_obj, *threads_obj;
    PyArrayObject *x = NULL, *out = NULL;
    int32_t threads;
    lk_image_shape shape;
    npy_intp want[5], dims[2], n;
    char want_s[SHAPE_BUF], got_s[SHAPE_BUF];
    int k;
    lk_status status;

    if (!PyArg_ParseTuple(args, "OO:predict_proba", &x_obj, &threads_obj))
        return NULL;
    if (!int32_arg(threads_obj, "threads", &threads))
        return NULL;
    if (threads < 1) {
        PyErr_Format(PyExc_ValueError, "threads must be >= 1, got %d", (int)threads);
        return NULL;
    }
    x = as_float32(x_obj, "X");
    if (x == NULL)
        return NULL;
    want[0] = PyArray_NDIM(x) >= 1 ? PyArray_DIM(x, 0) : 0;
    k = 1 + example_dims(&self->shape, want + 1);
    if (!batch_shape(x, "X", &shape) || shape.frames != self->shape.frames ||
        shape.height != self->shape.height || shape.width != self->shape.width ||
        shape.channels != self->shape.channels) {
        if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_ValueError))
            goto done;
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "X must have shape %s%s, got %s: this model takes %s",
                     shape_str(k, want, want_s, sizeof want_s),
                     self->shape.channels == 1 && self->shape.frames == 0 ? " (or without the last axis)" : "",
                     shape_str(PyArray_NDIM(x), PyArray_DIMS(x), got_s, sizeof got_s),
                     self->shape.frames > 0 ? "sequences of frames (N, T, H, W, C)" : "images (N, H, W, C)");
        goto done;
    }
    if (!check_finite_images(x, "X"))
        goto done;
    n = PyArray_DIM(x, 0);
    dims[0] = n;
    dims[1] = (npy_intp)self->num_classes;
    out = (PyArrayObject *)PyArray_SimpleNew(2, dims, NPY_FLOAT32);
    if (out == NULL)
        goto done;
    READ_LOCKED(self, status = lk_image_classifier_predict(
                          self->classifier, (const float *)PyArray_DATA(x), (size_t)n, &self->shape,
                          (size_t)PyArray_SIZE(x), threads, (float *)PyArray_DATA(out),
                          (size_t)n * (size_t)self->num_classes));
    if (!lk_ok(status))
        Py_CLEAR(out);
done:
    Py_XDECREF(x);
    return (PyObject *)out;
}

/* labels() -> list of str, in class order. */
static PyObject *ImageClassifierHandle_labels(ImageClassifierHandle *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *list = PyList_New(self->num_classes);
    int32_t i;

    if (list == NULL)
        return NULL;
    for (i = 0; i < self->num_classes; i++) {
        const char *label = NULL;
        PyObject *s;
        if (!lk_ok(lk_image_classifier_label(self->classifier, i, &label))) {
            Py_DECREF(list);
            return NULL;
        }
        s = PyUnicode_FromString(label);
        if (s == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, s);
    }
    return list;
}

/* input_shape() -> (H, W, C) or (T, H, W, C) */
static PyObject *ImageClassifierHandle_input_shape(ImageClassifierHandle *self, PyObject *Py_UNUSED(ignored))
{
    const lk_image_shape *s = &self->shape;
    if (s->frames > 0)
        return Py_BuildValue("(LLLL)", (long long)s->frames, (long long)s->height,
                             (long long)s->width, (long long)s->channels);
    return Py_BuildValue("(LLL)", (long long)s->height, (long long)s->width, (long long)s->channels);
}

/* kind() -> "rows" or "cnn" */
static PyObject *ImageClassifierHandle_kind(ImageClassifierHandle *self, PyObject *Py_UNUSED(ignored))
{
    return PyUnicode_FromString(self->kind == LK_IMAGE_KIND_CNN ? "cnn" : "rows");
}

static PyObject *ImageClassifierHandle_save(ImageClassifierHandle *self, PyObject *args)
{
    PyObject *path = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "O&:save", PyUnicode_FSConverter, &path))
        return NULL;
    READ_LOCKED(self, status = lk_image_classifier_save(self->classifier, PyBytes_AS_STRING(path)));
    Py_DECREF(path);
    return lk_ok(status) ? Py_NewRef(Py_None) : NULL;
}

static PyMethodDef ImageClassifierHandle_methods[] = {
    {"predict_proba", (PyCFunction)ImageClassifierHandle_predict_proba, METH_VARARGS,
     "predict_proba(X, threads) -> float32 array (n, num_classes) (GIL released)"},
    {"labels", (PyCFunction)ImageClassifierHandle_labels, METH_NOARGS,
     "labels() -> the class labels (list of str), in column order"},
    {"input_shape", (PyCFunction)ImageClassifierHandle_input_shape, METH_NOARGS,
     "input_shape() -> (H, W, C) or (T, H, W, C): one example's shape"},
    {"kind", (PyCFunction)ImageClassifierHandle_kind, METH_NOARGS, "kind() -> 'rows' or 'cnn'"},
    {"save", (PyCFunction)ImageClassifierHandle_save, METH_VARARGS, "save(path): writes a model file"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ImageClassifierHandle_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "lstmkit._native.ImageClassifierHandle",
    .tp_basicsize = sizeof(ImageClassifierHandle),
    .tp_dealloc = (destructor)ImageClassifierHandle_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An lk_image_classifier handle. Made by image_classifier_load() or "
              "image_classifier_train(); freed with the object.",
    .tp_methods = ImageClassifierHandle_methods,
};

/* The scalar fields of lk_image_classifier_train_config; conv_channels (a list in the
 * dict) and num_conv_blocks (its length) are handled on their own. */
#define IMG_FIELD(name, kind) {#name, kind, offsetof(lk_image_classifier_train_config, name)}
static const train_field image_fields[] = {
    IMG_FIELD(kind, FIELD_INT32),
    IMG_FIELD(hidden_size, FIELD_INT32),
    IMG_FIELD(num_layers, FIELD_INT32),
    IMG_FIELD(bidirectional, FIELD_INT32),
    IMG_FIELD(columns, FIELD_INT32),
    IMG_FIELD(pooling, FIELD_INT32),
    IMG_FIELD(attention_size, FIELD_INT32),
    IMG_FIELD(dropout, FIELD_FLOAT),
    IMG_FIELD(epochs, FIELD_INT32),
    IMG_FIELD(batch_size, FIELD_INT32),
    IMG_FIELD(learning_rate, FIELD_FLOAT),
    IMG_FIELD(clip_norm, FIELD_FLOAT),
    IMG_FIELD(patience, FIELD_INT32),
    IMG_FIELD(decay_factor, FIELD_FLOAT),
    IMG_FIELD(time_limit, FIELD_DOUBLE),
    IMG_FIELD(threads, FIELD_INT32),
    IMG_FIELD(log_every, FIELD_INT32),
    IMG_FIELD(seed, FIELD_UINT64),
};
#undef IMG_FIELD
#define IMAGE_FIELD_COUNT (sizeof image_fields / sizeof image_fields[0])

/* image_classifier_train_config_default() -> dict (conv_channels as a list) */
static PyObject *native_image_classifier_train_config_default(PyObject *Py_UNUSED(module),
                                                              PyObject *Py_UNUSED(ignored))
{
    lk_image_classifier_train_config config = lk_image_classifier_train_config_default();
    PyObject *dict = fields_to_dict(image_fields, IMAGE_FIELD_COUNT, (const char *)&config);
    PyObject *channels;
    int32_t i, blocks = config.num_conv_blocks;

    if (dict == NULL)
        return NULL;
    if (blocks < 0 || blocks > LK_IMAGE_MAX_CONV_BLOCKS)
        blocks = 0;
    channels = PyList_New(blocks);
    if (channels == NULL) {
        Py_DECREF(dict);
        return NULL;
    }
    for (i = 0; i < blocks; i++) {
        PyObject *v = PyLong_FromLong((long)config.conv_channels[i]);
        if (v == NULL) {
            Py_DECREF(channels);
            Py_DECREF(dict);
            return NULL;
        }
        PyList_SET_ITEM(channels, i, v);
    }
    if (PyDict_SetItemString(dict, "conv_channels", channels) < 0) {
        Py_DECREF(channels);
        Py_DECREF(dict);
        return NULL;
    }
    Py_DECREF(channels);
    return dict;
}

/* Fills conv_channels and num_conv_blocks from the dict's "conv_channels" sequence. */
static int conv_channels_from_dict(PyObject *dict, lk_image_classifier_train_config *config)
{
    PyObject *value = PyDict_GetItemString(dict, "conv_channels"), *seq; /* borrowed */
    Py_ssize_t n, i;

    if (value == NULL) {
        PyErr_SetString(PyExc_KeyError, "config has no field conv_channels");
        return 0;
    }
    seq = PySequence_Fast(value, "conv_channels must be a sequence of ints");
    if (seq == NULL)
        return 0;
    n = PySequence_Fast_GET_SIZE(seq);
    if (n < 1 || n > LK_IMAGE_MAX_CONV_BLOCKS) {
        PyErr_Format(PyExc_ValueError, "conv_channels must hold 1 to %d sizes, got %zd",
                     LK_IMAGE_MAX_CONV_BLOCKS, n);
        Py_DECREF(seq);
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!int32_arg(PySequence_Fast_GET_ITEM(seq, i), "conv_channels[i]",
                       &config->conv_channels[i])) {
            Py_DECREF(seq);
            return 0;
        }
    }
    config->num_conv_blocks = (int32_t)n;
    Py_DECREF(seq);
    return 1;
}

/* image_classifier_train(X, labels, X_dev, dev_labels, config: dict,
 *                        progress: callable or None) -> handle. GIL released.
 * X and X_dev: (N, H, W), (N, H, W, C) or (N, T, H, W, C) arrays of real numbers with
 * the same example shape; labels: sequences of str (no NUL), one per example. */
static PyObject *native_image_classifier_train(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *x_obj, *l_obj, *dx_obj, *dl_obj, *config_obj, *progress_obj, *result = NULL;
    PyObject *tl = NULL, *dl = NULL;
    PyArrayObject *x = NULL, *dx = NULL;
    const char **train_labels = NULL, **dev_labels = NULL;
    size_t *train_label_lens = NULL, *dev_label_lens = NULL;
    lk_image_classifier_train_config config = lk_image_classifier_train_config_default();
    lk_image_shape shape, dev_shape;
    progress_state state = {NULL, NULL};
    lk_image_classifier *classifier = NULL;
    char got[SHAPE_BUF], want[SHAPE_BUF];
    lk_status status;

    if (!PyArg_ParseTuple(args, "OOOOOO:image_classifier_train", &x_obj, &l_obj, &dx_obj, &dl_obj,
                          &config_obj, &progress_obj))
        return NULL;
    if (!fields_from_dict(config_obj, image_fields, IMAGE_FIELD_COUNT, (char *)&config) ||
        !conv_channels_from_dict(config_obj, &config))
        return NULL;
    if (progress_obj != Py_None) {
        if (!PyCallable_Check(progress_obj)) {
            PyErr_Format(PyExc_TypeError, "progress must be callable or None, got %s",
                         Py_TYPE(progress_obj)->tp_name);
            return NULL;
        }
        state.callback = progress_obj; /* borrowed: args holds it */
    }
    if ((x = as_float32(x_obj, "X")) == NULL || (dx = as_float32(dx_obj, "validation X")) == NULL)
        goto done;
    if (!batch_shape(x, "X", &shape) || !batch_shape(dx, "validation X", &dev_shape))
        goto done;
    if (PyArray_DIM(x, 0) < 1 || PyArray_DIM(dx, 0) < 1) {
        PyErr_SetString(PyExc_ValueError, PyArray_DIM(x, 0) < 1 ? "X holds no images"
                                                                : "validation X holds no images");
        goto done;
    }
    if (memcmp(&shape, &dev_shape, sizeof shape) != 0) {
        npy_intp a[4], b[4];
        int na = example_dims(&shape, a), nb = example_dims(&dev_shape, b);
        PyErr_Format(PyExc_ValueError,
                     "the validation images are %s each but the training images are %s",
                     shape_str(nb, b, got, sizeof got), shape_str(na, a, want, sizeof want));
        goto done;
    }
    if (!check_finite_images(x, "X") || !check_finite_images(dx, "validation X"))
        goto done;
    if ((tl = PySequence_Tuple(l_obj)) == NULL || (dl = PySequence_Tuple(dl_obj)) == NULL)
        goto done;
    if (PyTuple_GET_SIZE(tl) != PyArray_DIM(x, 0) || PyTuple_GET_SIZE(dl) != PyArray_DIM(dx, 0)) {
        int train_bad = PyTuple_GET_SIZE(tl) != PyArray_DIM(x, 0);
        PyErr_Format(PyExc_ValueError, "%s holds %zd images but %s holds %zd labels",
                     train_bad ? "X" : "validation X", (Py_ssize_t)PyArray_DIM(train_bad ? x : dx, 0),
                     train_bad ? "y" : "validation y", PyTuple_GET_SIZE(train_bad ? tl : dl));
        goto done;
    }
    if ((train_labels = utf8_array(tl, "labels", 1, &train_label_lens)) == NULL ||
        (dev_labels = utf8_array(dl, "validation labels", 1, &dev_label_lens)) == NULL)
        goto done;

    Py_BEGIN_ALLOW_THREADS
    other_blas_limit_begin();
    status = lk_image_classifier_train(&shape, (const float *)PyArray_DATA(x), (size_t)PyArray_DIM(x, 0),
                                       (size_t)PyArray_SIZE(x), train_labels,
                                       (const float *)PyArray_DATA(dx), (size_t)PyArray_DIM(dx, 0),
                                       (size_t)PyArray_SIZE(dx), dev_labels, &config,
                                       state.callback ? progress_trampoline : NULL, &state, &classifier);
    other_blas_limit_end();
    Py_END_ALLOW_THREADS
    if (state.exception != NULL) {
        lk_image_classifier_free(status == LK_STATUS_OK ? classifier : NULL);
        restore_exception(state.exception);
        goto done;
    }
    if (lk_ok(status))
        result = wrap_image_classifier(classifier);
done:
    PyMem_Free(train_labels);
    PyMem_Free(dev_labels);
    PyMem_Free(train_label_lens);
    PyMem_Free(dev_label_lens);
    Py_XDECREF(tl);
    Py_XDECREF(dl);
    Py_XDECREF(x);
    Py_XDECREF(dx);
    return result;
}

/* image_classifier_load(path) -> handle */
static PyObject *native_image_classifier_load(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *path = NULL;
    lk_image_classifier *classifier = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "O&:image_classifier_load", PyUnicode_FSConverter, &path))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    status = lk_image_classifier_load(PyBytes_AS_STRING(path), &classifier);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    return lk_ok(status) ? wrap_image_classifier(classifier) : NULL;
}

/* ------------------------------------------------------------------------ */
/* The image segmenter handle type                                            */
/* ------------------------------------------------------------------------ */

/* Like the classifiers', every call on an image segmenter handle (predict,
 * predict_proba, evaluate, config, save) is a reader. K and C are read once. */
typedef struct {
    PyObject_HEAD
    lk_image_segmenter *segmenter;
    int32_t num_classes; /* K and C are fixed for the handle's life */
    int32_t channels;
    handle_lock lock;
} ImageSegmenterHandle;

static PyTypeObject ImageSegmenterHandle_Type;

/* Wraps a fresh lk_image_segmenter (takes ownership: frees it on failure). */
static PyObject *wrap_image_segmenter(lk_image_segmenter *segmenter)
{
    ImageSegmenterHandle *self = PyObject_New(ImageSegmenterHandle, &ImageSegmenterHandle_Type);

    if (self == NULL) {
        lk_image_segmenter_free(segmenter);
        return NULL;
    }
    self->segmenter = segmenter;
    self->num_classes = 0;
    self->channels = 0;
    if (!handle_lock_init(&self->lock) ||
        !lk_ok(lk_image_segmenter_num_classes(segmenter, &self->num_classes)) ||
        !lk_ok(lk_image_segmenter_channels(segmenter, &self->channels))) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void ImageSegmenterHandle_dealloc(ImageSegmenterHandle *self)
{
    lk_image_segmenter_free(self->segmenter);
    handle_lock_destroy(&self->lock);
    PyObject_Free(self);
}

/* The shape of a batch of images for a segmenter: (N, H, W) is one channel, (N, H, W, C)
 * C channels; H and W >= 1. channels > 0 also requires that C. 1 on success; else
 * ValueError naming `name` and 0. */
static int seg_batch_shape(PyArrayObject *arr, const char *name, int32_t channels, lk_image_shape *out)
{
    char got[SHAPE_BUF];
    const npy_intp *d = PyArray_DIMS(arr);
    int nd = PyArray_NDIM(arr);

    if (nd != 3 && nd != 4) {
        PyErr_Format(PyExc_ValueError, "%s must have shape (N, H, W) or (N, H, W, C), got %s", name,
                     shape_str(nd, d, got, sizeof got));
        return 0;
    }
    if (d[1] < 1 || d[2] < 1 || (nd == 4 && d[3] < 1)) {
        PyErr_Format(PyExc_ValueError, "%s has an empty dimension: shape %s", name,
                     shape_str(nd, d, got, sizeof got));
        return 0;
    }
    out->frames = 0;
    out->height = (int64_t)d[1];
    out->width = (int64_t)d[2];
    out->channels = nd == 3 ? 1 : (int64_t)d[3];
    if (channels > 0 && out->channels != channels) {
        PyErr_Format(PyExc_ValueError,
                     "%s has shape %s: this model takes images of %d channel%s, (N, H, W, %d)%s", name,
                     shape_str(nd, d, got, sizeof got), (int)channels, channels == 1 ? "" : "s",
                     (int)channels, channels == 1 ? " or (N, H, W)" : "");
        return 0;
    }
    return 1;
}

/* masks as a C-contiguous int32 array of shape (N, H, W) matching the images' shape
 * (ValueError/TypeError naming `name` otherwise). Values are checked by the library. */
static PyArrayObject *seg_masks(PyObject *obj, const char *name, const char *images, npy_intp n,
                                const lk_image_shape *shape)
{
    PyArrayObject *masks = as_int32(obj, name);
    npy_intp want[3] = {n, (npy_intp)shape->height, (npy_intp)shape->width};
    char meaning[SHAPE_BUF + 64];

    if (masks == NULL)
        return NULL;
    snprintf(meaning, sizeof meaning, "(N, H, W) of %s = ", images);
    if (!check_shape(masks, name, meaning, 3, want)) {
        Py_DECREF(masks);
        return NULL;
    }
    return masks;
}

/* X as checked float32 images for this model, with their lk_image_shape. */
static PyArrayObject *seg_images(ImageSegmenterHandle *self, PyObject *obj, lk_image_shape *shape)
{
    PyArrayObject *x = as_float32(obj, "X");
    if (x == NULL)
        return NULL;
    if (!seg_batch_shape(x, "X", self->channels, shape) || !check_finite_images(x, "X")) {
        Py_DECREF(x);
        return NULL;
    }
    return x;
}

static int threads_arg(PyObject *obj, int32_t *threads)
{
    if (!int32_arg(obj, "threads", threads))
        return 0;
    if (*threads < 1) {
        PyErr_Format(PyExc_ValueError, "threads must be >= 1, got %d", (int)*threads);
        return 0;
    }
    return 1;
}

/* predict(X, threads) -> int32 array (N, H, W). GIL released. */
static PyObject *ImageSegmenterHandle_predict(ImageSegmenterHandle *self, PyObject *args)
{
    PyObject *x_obj, *threads_obj;
    PyArrayObject *x = NULL, *out = NULL;
    int32_t threads;
    lk_image_shape shape;
    npy_intp dims[3];
    lk_status status;

    if (!PyArg_ParseTuple(args, "OO:predict", &x_obj, &threads_obj) || !threads_arg(threads_obj, &threads))
        return NULL;
    if ((x = seg_images(self, x_obj, &shape)) == NULL)
        return NULL;
    dims[0] = PyArray_DIM(x, 0);
    dims[1] = (npy_intp)shape.height;
    dims[2] = (npy_intp)shape.width;
    out = (PyArrayObject *)PyArray_SimpleNew(3, dims, NPY_INT32);
    if (out == NULL)
        goto done;
    READ_LOCKED(self, status = lk_image_segmenter_predict(
                          self->segmenter, (const float *)PyArray_DATA(x), (size_t)dims[0], &shape,
                          (size_t)PyArray_SIZE(x), threads, (int32_t *)PyArray_DATA(out),
                          (size_t)PyArray_SIZE(out)));
    if (!lk_ok(status))
        Py_CLEAR(out);
done:
    Py_DECREF(x);
    return (PyObject *)out;
}

/* predict_proba(X, threads) -> float32 array (N, H, W, K). GIL released. */
static PyObject *ImageSegmenterHandle_predict_proba(ImageSegmenterHandle *self, PyObject *args)
{
    PyObject *x_obj, *threads_obj;
    PyArrayObject *x = NULL, *out = NULL;
    int32_t threads;
    lk_image_shape shape;
    npy_intp dims[4];
    lk_status status;

    if (!PyArg_ParseTuple(args, "OO:predict_proba", &x_obj, &threads_obj) || !threads_arg(threads_obj, &threads))
        return NULL;
    if ((x = seg_images(self, x_obj, &shape)) == NULL)
        return NULL;
    dims[0] = PyArray_DIM(x, 0);
    dims[1] = (npy_intp)shape.height;
    dims[2] = (npy_intp)shape.width;
    dims[3] = (npy_intp)self->num_classes;
    out = (PyArrayObject *)PyArray_SimpleNew(4, dims, NPY_FLOAT32);
    if (out == NULL)
        goto done;
    READ_LOCKED(self, status = lk_image_segmenter_predict_proba(
                          self->segmenter, (const float *)PyArray_DATA(x), (size_t)dims[0], &shape,
                          (size_t)PyArray_SIZE(x), threads, (float *)PyArray_DATA(out),
                          (size_t)PyArray_SIZE(out)));
    if (!lk_ok(status))
        Py_CLEAR(out);
done:
    Py_DECREF(x);
    return (PyObject *)out;
}

/* evaluate(X, masks, threads) -> (confusion int64 (K, K), pixel_accuracy, mean_iou).
 * GIL released. */
static PyObject *ImageSegmenterHandle_evaluate(ImageSegmenterHandle *self, PyObject *args)
{
    PyObject *x_obj, *m_obj, *threads_obj, *result = NULL;
    PyArrayObject *x = NULL, *masks = NULL, *confusion = NULL;
    int32_t threads;
    lk_image_shape shape;
    npy_intp dims[2];
    double accuracy = 0, mean_iou = 0;
    lk_status status;

    if (!PyArg_ParseTuple(args, "OOO:evaluate", &x_obj, &m_obj, &threads_obj) || !threads_arg(threads_obj, &threads))
        return NULL;
    if ((x = seg_images(self, x_obj, &shape)) == NULL)
        return NULL;
    if ((masks = seg_masks(m_obj, "masks", "X", PyArray_DIM(x, 0), &shape)) == NULL)
        goto done;
    dims[0] = dims[1] = (npy_intp)self->num_classes;
    if ((confusion = (PyArrayObject *)PyArray_SimpleNew(2, dims, NPY_INT64)) == NULL)
        goto done;
    READ_LOCKED(self, status = lk_image_segmenter_evaluate(
                          self->segmenter, (const float *)PyArray_DATA(x), (size_t)PyArray_DIM(x, 0), &shape,
                          (size_t)PyArray_SIZE(x), (const int32_t *)PyArray_DATA(masks),
                          (size_t)PyArray_SIZE(masks), threads, (int64_t *)PyArray_DATA(confusion),
                          (size_t)PyArray_SIZE(confusion), &accuracy, &mean_iou));
    if (lk_ok(status))
        result = Py_BuildValue("(Odd)", (PyObject *)confusion, accuracy, mean_iou);
done:
    Py_XDECREF(confusion);
    Py_XDECREF(masks);
    Py_DECREF(x);
    return result;
}

static PyObject *ImageSegmenterHandle_num_classes(ImageSegmenterHandle *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong((long)self->num_classes);
}

static PyObject *ImageSegmenterHandle_channels(ImageSegmenterHandle *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong((long)self->channels);
}

static PyObject *seg_config_to_dict(const lk_image_segmenter_train_config *config);

/* config() -> dict: the model's architecture (lk_image_segmenter_get_config). */
static PyObject *ImageSegmenterHandle_config(ImageSegmenterHandle *self, PyObject *Py_UNUSED(ignored))
{
    lk_image_segmenter_train_config config;
    if (!lk_ok(lk_image_segmenter_get_config(self->segmenter, &config)))
        return NULL;
    return seg_config_to_dict(&config);
}

static PyObject *ImageSegmenterHandle_save(ImageSegmenterHandle *self, PyObject *args)
{
    PyObject *path = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "O&:save", PyUnicode_FSConverter, &path))
        return NULL;
    READ_LOCKED(self, status = lk_image_segmenter_save(self->segmenter, PyBytes_AS_STRING(path)));
    Py_DECREF(path);
    return lk_ok(status) ? Py_NewRef(Py_None) : NULL;
}

static PyMethodDef ImageSegmenterHandle_methods[] = {
    {"predict", (PyCFunction)ImageSegmenterHandle_predict, METH_VARARGS,
     "predict(X, threads) -> int32 array (N, H, W) of class indices (GIL released)"},
    {"predict_proba", (PyCFunction)ImageSegmenterHandle_predict_proba, METH_VARARGS,
     "predict_proba(X, threads) -> float32 array (N, H, W, K) (GIL released)"},
    {"evaluate", (PyCFunction)ImageSegmenterHandle_evaluate, METH_VARARGS,
     "evaluate(X, masks, threads) -> (confusion (K, K) int64, pixel_accuracy, mean_iou) (GIL released)"},
    {"num_classes", (PyCFunction)ImageSegmenterHandle_num_classes, METH_NOARGS, "num_classes() -> K"},
    {"channels", (PyCFunction)ImageSegmenterHandle_channels, METH_NOARGS, "channels() -> C of the images"},
    {"config", (PyCFunction)ImageSegmenterHandle_config, METH_NOARGS,
     "config() -> dict: the model's architecture (training fields hold the defaults)"},
    {"save", (PyCFunction)ImageSegmenterHandle_save, METH_VARARGS, "save(path): writes a model file"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ImageSegmenterHandle_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "lstmkit._native.ImageSegmenterHandle",
    .tp_basicsize = sizeof(ImageSegmenterHandle),
    .tp_dealloc = (destructor)ImageSegmenterHandle_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An lk_image_segmenter handle. Made by image_segmenter_load() or "
              "image_segmenter_train(); freed with the object.",
    .tp_methods = ImageSegmenterHandle_methods,
};

/* The scalar fields of lk_image_segmenter_train_config; encoder_channels (a list in the
 * dict, num_blocks its length) and class_weights (an argument of its own) are handled
 * apart. */
#define SEG_FIELD(name, kind) {#name, kind, offsetof(lk_image_segmenter_train_config, name)}
static const train_field segmenter_fields[] = {
    SEG_FIELD(num_classes, FIELD_INT32),
    SEG_FIELD(context, FIELD_INT32),
    SEG_FIELD(hidden_size, FIELD_INT32),
    SEG_FIELD(batch_norm, FIELD_INT32),
    SEG_FIELD(upsampling, FIELD_INT32),
    SEG_FIELD(attention_gates, FIELD_INT32),
    SEG_FIELD(epochs, FIELD_INT32),
    SEG_FIELD(batch_size, FIELD_INT32),
    SEG_FIELD(learning_rate, FIELD_FLOAT),
    SEG_FIELD(clip_norm, FIELD_FLOAT),
    SEG_FIELD(patience, FIELD_INT32),
    SEG_FIELD(decay_factor, FIELD_FLOAT),
    SEG_FIELD(time_limit, FIELD_DOUBLE),
    SEG_FIELD(dice_weight, FIELD_FLOAT),
    SEG_FIELD(balance_classes, FIELD_INT32),
    SEG_FIELD(threads, FIELD_INT32),
    SEG_FIELD(log_every, FIELD_INT32),
    SEG_FIELD(seed, FIELD_UINT64),
    SEG_FIELD(schedule, FIELD_INT32),
    SEG_FIELD(flip, FIELD_INT32),
};
#undef SEG_FIELD
#define SEGMENTER_FIELD_COUNT (sizeof segmenter_fields / sizeof segmenter_fields[0])

/* The config as a dict (encoder_channels as a list; class weights are not included). */
static PyObject *seg_config_to_dict(const lk_image_segmenter_train_config *config)
{
    PyObject *dict = fields_to_dict(segmenter_fields, SEGMENTER_FIELD_COUNT, (const char *)config);
    PyObject *channels;
    int32_t i, blocks = config->num_blocks;

    if (dict == NULL)
        return NULL;
    if (blocks < 0 || blocks > LK_SEGMENTER_MAX_BLOCKS)
        blocks = 0;
    channels = PyList_New(blocks);
    if (channels == NULL) {
        Py_DECREF(dict);
        return NULL;
    }
    for (i = 0; i < blocks; i++) {
        PyObject *v = PyLong_FromLong((long)config->encoder_channels[i]);
        if (v == NULL) {
            Py_DECREF(channels);
            Py_DECREF(dict);
            return NULL;
        }
        PyList_SET_ITEM(channels, i, v);
    }
    if (PyDict_SetItemString(dict, "encoder_channels", channels) < 0) {
        Py_DECREF(channels);
        Py_DECREF(dict);
        return NULL;
    }
    Py_DECREF(channels);
    return dict;
}

/* image_segmenter_train_config_default() -> dict (encoder_channels as a list) */
static PyObject *native_image_segmenter_train_config_default(PyObject *Py_UNUSED(module),
                                                             PyObject *Py_UNUSED(ignored))
{
    lk_image_segmenter_train_config config = lk_image_segmenter_train_config_default();
    return seg_config_to_dict(&config);
}

/* Fills encoder_channels and num_blocks from the dict's "encoder_channels" sequence. */
static int encoder_channels_from_dict(PyObject *dict, lk_image_segmenter_train_config *config)
{
    PyObject *value = PyDict_GetItemString(dict, "encoder_channels"), *seq; /* borrowed */
    Py_ssize_t n, i;

    if (value == NULL) {
        PyErr_SetString(PyExc_KeyError, "config has no field encoder_channels");
        return 0;
    }
    seq = PySequence_Fast(value, "encoder_channels must be a sequence of ints");
    if (seq == NULL)
        return 0;
    n = PySequence_Fast_GET_SIZE(seq);
    if (n < 1 || n > LK_SEGMENTER_MAX_BLOCKS) {
        PyErr_Format(PyExc_ValueError, "encoder_channels must hold 1 to %d sizes, got %zd",
                     LK_SEGMENTER_MAX_BLOCKS, n);
        Py_DECREF(seq);
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!int32_arg(PySequence_Fast_GET_ITEM(seq, i), "encoder_channels[i]",
                       &config->encoder_channels[i])) {
            Py_DECREF(seq);
            return 0;
        }
    }
    config->num_blocks = (int32_t)n;
    Py_DECREF(seq);
    return 1;
}

/* image_segmenter_train(X, masks, X_dev, masks_dev, config: dict, class_weights: None or
 *                       a 1-D array, progress: callable or None) -> handle. GIL released.
 * X and X_dev: (N, H, W) or (N, H, W, C) arrays of real numbers with the same C (H and W
 * may differ between them); masks: integer arrays (N, H, W) matching their images. */
static PyObject *native_image_segmenter_train(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *x_obj, *m_obj, *dx_obj, *dm_obj, *config_obj, *weights_obj, *progress_obj, *result = NULL;
    PyArrayObject *x = NULL, *dx = NULL, *m = NULL, *dm = NULL, *weights = NULL;
    lk_image_segmenter_train_config config = lk_image_segmenter_train_config_default();
    lk_image_shape shape, dev_shape;
    progress_state state = {NULL, NULL};
    lk_image_segmenter *segmenter = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "OOOOOOO:image_segmenter_train", &x_obj, &m_obj, &dx_obj, &dm_obj,
                          &config_obj, &weights_obj, &progress_obj))
        return NULL;
    if (!fields_from_dict(config_obj, segmenter_fields, SEGMENTER_FIELD_COUNT, (char *)&config) ||
        !encoder_channels_from_dict(config_obj, &config))
        return NULL;
    if (progress_obj != Py_None) {
        if (!PyCallable_Check(progress_obj)) {
            PyErr_Format(PyExc_TypeError, "progress must be callable or None, got %s",
                         Py_TYPE(progress_obj)->tp_name);
            return NULL;
        }
        state.callback = progress_obj; /* borrowed: args holds it */
    }
    if (weights_obj != Py_None) {
        if ((weights = as_float32(weights_obj, "class_weights")) == NULL)
            goto done;
        if (PyArray_NDIM(weights) != 1) {
            char got[SHAPE_BUF];
            PyErr_Format(PyExc_ValueError, "class_weights must be 1-D (num_classes,), got shape %s",
                         shape_str(PyArray_NDIM(weights), PyArray_DIMS(weights), got, sizeof got));
            goto done;
        }
        config.class_weights = (const float *)PyArray_DATA(weights);
        config.class_weights_count = (size_t)PyArray_SIZE(weights);
    }
    if ((x = as_float32(x_obj, "X")) == NULL || (dx = as_float32(dx_obj, "validation X")) == NULL)
        goto done;
    if (!seg_batch_shape(x, "X", 0, &shape) || !seg_batch_shape(dx, "validation X", (int32_t)shape.channels, &dev_shape))
        goto done;
    if (PyArray_DIM(x, 0) < 1 || PyArray_DIM(dx, 0) < 1) {
        PyErr_SetString(PyExc_ValueError, PyArray_DIM(x, 0) < 1 ? "X holds no images"
                                                                : "validation X holds no images");
        goto done;
    }
    if (!check_finite_images(x, "X") || !check_finite_images(dx, "validation X"))
        goto done;
    if ((m = seg_masks(m_obj, "masks", "X", PyArray_DIM(x, 0), &shape)) == NULL ||
        (dm = seg_masks(dm_obj, "validation masks", "validation X", PyArray_DIM(dx, 0), &dev_shape)) == NULL)
        goto done;

    Py_BEGIN_ALLOW_THREADS
    other_blas_limit_begin();
    status = lk_image_segmenter_train(&shape, (const float *)PyArray_DATA(x), (size_t)PyArray_DIM(x, 0),
                                      (size_t)PyArray_SIZE(x), (const int32_t *)PyArray_DATA(m),
                                      (size_t)PyArray_SIZE(m), &dev_shape, (const float *)PyArray_DATA(dx),
                                      (size_t)PyArray_DIM(dx, 0), (size_t)PyArray_SIZE(dx),
                                      (const int32_t *)PyArray_DATA(dm), (size_t)PyArray_SIZE(dm), &config,
                                      state.callback ? progress_trampoline : NULL, &state, &segmenter);
    other_blas_limit_end();
    Py_END_ALLOW_THREADS
    if (state.exception != NULL) {
        lk_image_segmenter_free(status == LK_STATUS_OK ? segmenter : NULL);
        restore_exception(state.exception);
        goto done;
    }
    if (lk_ok(status))
        result = wrap_image_segmenter(segmenter);
done:
    Py_XDECREF(weights);
    Py_XDECREF(x);
    Py_XDECREF(dx);
    Py_XDECREF(m);
    Py_XDECREF(dm);
    return result;
}

/* image_segmenter_load(path) -> handle */
static PyObject *native_image_segmenter_load(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *path = NULL;
    lk_image_segmenter *segmenter = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "O&:image_segmenter_load", PyUnicode_FSConverter, &path))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    status = lk_image_segmenter_load(PyBytes_AS_STRING(path), &segmenter);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    return lk_ok(status) ? wrap_image_segmenter(segmenter) : NULL;
}

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
    return lk_ok(status) ? wrap_lstm(lstm) : NULL;
}

/* lstm_load(path) */
static PyObject *native_lstm_load(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *path = NULL;
    lk_lstm *lstm = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "O&:lstm_load", PyUnicode_FSConverter, &path))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    status = lk_lstm_load(PyBytes_AS_STRING(path), &lstm);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    return lk_ok(status) ? wrap_lstm(lstm) : NULL;
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
    if (!int32_arg(arg, "n", &n))
        return NULL;
    if (n < 1) {
        PyErr_Format(PyExc_ValueError, "the number of threads must be >= 1, got %d", (int)n);
        return NULL;
    }
    return lk_ok(lk_set_num_threads(n)) ? Py_NewRef(Py_None) : NULL;
}

static PyObject *native_get_num_threads(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong((long)lk_get_num_threads());
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
    {"other_blas_pools", native_other_blas_pools, METH_NOARGS,
     "[(file, threads)] of the other OpenBLAS pools held at one thread during LSTMKit calls"},
    {"limit_other_blas", native_limit_other_blas, METH_O,
     "limit_other_blas(on): rescans the loaded OpenBLAS builds and turns the limit on or off"},
    {"other_blas_limited", native_other_blas_limited, METH_NOARGS, "Whether the limit is on."},
    {"tokenizer_load", native_tokenizer_load, METH_VARARGS, "tokenizer_load(path) -> handle"},
    {"tokenizer_ensemble", native_tokenizer_ensemble, METH_O, "tokenizer_ensemble(handles) -> handle"},
    {"tokenizer_train", native_tokenizer_train, METH_VARARGS,
     "tokenizer_train(train, dev, config, checkpoint, progress) -> handle (GIL released; "
     "progress is called with each line)"},
    {"tokenizer_train_config_default", native_tokenizer_train_config_default, METH_NOARGS,
     "tokenizer_train_config_default() -> dict of lk_tokenizer_train_config_default()"},
    {"text_classifier_load", native_text_classifier_load, METH_VARARGS,
     "text_classifier_load(path) -> handle"},
    {"text_classifier_train", native_text_classifier_train, METH_VARARGS,
     "text_classifier_train(train_texts, train_labels, dev_texts, dev_labels, config, progress) "
     "-> handle (GIL released; progress is called with each line)"},
    {"text_classifier_train_config_default", native_text_classifier_train_config_default,
     METH_NOARGS,
     "text_classifier_train_config_default() -> dict of lk_text_classifier_train_config_default()"},
    {"image_classifier_load", native_image_classifier_load, METH_VARARGS,
     "image_classifier_load(path) -> handle"},
    {"image_classifier_train", native_image_classifier_train, METH_VARARGS,
     "image_classifier_train(X, labels, X_dev, dev_labels, config, progress) -> handle (GIL "
     "released; progress is called with each line)"},
    {"image_classifier_train_config_default", native_image_classifier_train_config_default,
     METH_NOARGS,
     "image_classifier_train_config_default() -> dict of lk_image_classifier_train_config_default()"},
    {"image_segmenter_load", native_image_segmenter_load, METH_VARARGS,
     "image_segmenter_load(path) -> handle"},
    {"image_segmenter_train", native_image_segmenter_train, METH_VARARGS,
     "image_segmenter_train(X, masks, X_dev, masks_dev, config, class_weights, progress) -> handle "
     "(GIL released; progress is called with each line)"},
    {"image_segmenter_train_config_default", native_image_segmenter_train_config_default,
     METH_NOARGS,
     "image_segmenter_train_config_default() -> dict of lk_image_segmenter_train_config_default()"},
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
    other_blas_scan();
    if (PyType_Ready(&LSTMHandle_Type) < 0 || PyType_Ready(&TokenizerHandle_Type) < 0 ||
        PyType_Ready(&ClassifierHandle_Type) < 0 || PyType_Ready(&ImageClassifierHandle_Type) < 0 ||
        PyType_Ready(&ImageSegmenterHandle_Type) < 0)
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
        PyModule_AddObjectRef(module, "TokenizerHandle", (PyObject *)&TokenizerHandle_Type) < 0 ||
        PyModule_AddObjectRef(module, "ClassifierHandle", (PyObject *)&ClassifierHandle_Type) < 0 ||
        PyModule_AddObjectRef(module, "ImageClassifierHandle",
                              (PyObject *)&ImageClassifierHandle_Type) < 0 ||
        PyModule_AddObjectRef(module, "ImageSegmenterHandle",
                              (PyObject *)&ImageSegmenterHandle_Type) < 0 ||
        PyModule_AddIntConstant(module, "ABI_VERSION", LK_ABI_VERSION) < 0 ||
        PyModule_AddStringConstant(module, "HEADER_VERSION", LK_VERSION_STRING) < 0)
        goto fail;
    return module;
fail:
    Py_DECREF(module);
    return NULL;
}
