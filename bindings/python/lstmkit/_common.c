/*
 * The shared core of lstmkit._native (see _common.h): status mapping, argument and array
 * checks, handle locks, training configs and progress callbacks.
 */
#include "_common.h"

#include <math.h>
#include <stdio.h>

PyObject *ModelFormatError = NULL;

/* ------------------------------------------------------------------------ */
/* Errors                                                                     */
/* ------------------------------------------------------------------------ */

int lk_ok(lk_status status)
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

PyObject *take_exception(void)
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

void restore_exception(PyObject *exc)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, PyException_GetTraceback(exc));
#endif
}

/* ------------------------------------------------------------------------ */
/* Arrays                                                                     */
/* ------------------------------------------------------------------------ */

const char *shape_str(int ndim, const npy_intp *dims, char *buf, size_t size)
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

int check_shape(PyArrayObject *arr, const char *name, const char *meaning, int ndim,
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

PyArrayObject *as_float32(PyObject *obj, const char *name)
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

int check_finite(PyArrayObject *arr, const char *name)
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

int check_finite_images(PyArrayObject *arr, const char *name)
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

PyArrayObject *as_int32(PyObject *obj, const char *name)
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

/* ------------------------------------------------------------------------ */
/* Arguments                                                                  */
/* ------------------------------------------------------------------------ */

int int32_arg(PyObject *obj, const char *name, int32_t *out)
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

int uint64_arg(PyObject *obj, const char *name, uint64_t *out)
{
    unsigned long long u;

    if (!PyLong_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, got %s", name, Py_TYPE(obj)->tp_name);
        return 0;
    }
    u = PyLong_AsUnsignedLongLong(obj);
    if (u == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%s must be in [0, 2**64), got %S", name, obj);
        return 0;
    }
    *out = (uint64_t)u;
    return 1;
}

int threads_arg(PyObject *obj, int32_t *threads)
{
    if (!int32_arg(obj, "threads", threads))
        return 0;
    if (*threads < 1) {
        PyErr_Format(PyExc_ValueError, "threads must be >= 1, got %d", (int)*threads);
        return 0;
    }
    return 1;
}

const char *utf8_arg(PyObject *obj, const char *name, Py_ssize_t index, Py_ssize_t *len)
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

int str_seq_take(str_seq *seq, PyObject *obj)
{
    seq->tuple = PySequence_Tuple(obj);
    seq->n = seq->tuple != NULL ? PyTuple_GET_SIZE(seq->tuple) : 0;
    return seq->tuple != NULL;
}

int str_seq_utf8(str_seq *seq, const char *name, int flags)
{
    Py_ssize_t i;

    seq->utf8 = PyMem_Calloc(seq->n > 0 ? (size_t)seq->n : 1, sizeof *seq->utf8);
    seq->lens = PyMem_Calloc(seq->n > 0 ? (size_t)seq->n : 1, sizeof *seq->lens);
    if (seq->utf8 == NULL || seq->lens == NULL) {
        PyErr_NoMemory();
        return 0;
    }
    for (i = 0; i < seq->n; i++) {
        Py_ssize_t len = 0;
        const char *text = utf8_arg(PyTuple_GET_ITEM(seq->tuple, i), name,
                                    flags & UTF8_ALONE ? -1 : i, &len);
        if (text == NULL)
            return 0;
        if ((flags & UTF8_NUL_FREE) && memchr(text, '\0', (size_t)len) != NULL) {
            PyErr_Format(PyExc_ValueError, "%s[%zd] contains a NUL character", name, i);
            return 0;
        }
        seq->utf8[i] = text;
        seq->lens[i] = (size_t)len;
    }
    return 1;
}

void str_seq_release(str_seq *seq)
{
    PyMem_Free(seq->utf8);
    PyMem_Free(seq->lens);
    Py_CLEAR(seq->tuple);
    seq->utf8 = NULL;
    seq->lens = NULL;
}

/* ------------------------------------------------------------------------ */
/* Training configs                                                           */
/* ------------------------------------------------------------------------ */

/* The ints of a FIELD_INT32_LIST field; a count outside [0, max] reads as no ints. */
static PyObject *int32_list_to_py(const train_field *f, const char *base)
{
    int32_t count, i;
    PyObject *list;

    memcpy(&count, base + f->count_offset, sizeof count);
    if (count < 0 || count > f->max)
        count = 0;
    list = PyList_New(count);
    for (i = 0; list != NULL && i < count; i++) {
        int32_t v;
        PyObject *item;
        memcpy(&v, base + f->offset + (size_t)i * sizeof v, sizeof v);
        item = PyLong_FromLong((long)v);
        if (item == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, i, item);
    }
    return list;
}

PyObject *fields_to_dict(const train_field *fields, const void *config)
{
    const char *base = config;
    PyObject *dict = PyDict_New();
    const train_field *f;

    if (dict == NULL)
        return NULL;
    for (f = fields; f->name != NULL; f++) {
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
        case FIELD_INT32_LIST:
            value = int32_list_to_py(f, base);
            break;
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

/* Fills a FIELD_INT32_LIST field and its count from a sequence of 1 to max ints. */
static int int32_list_from_py(PyObject *value, const train_field *f, char *base)
{
    char message[96], item_name[64];
    PyObject *seq;
    Py_ssize_t n, i;
    int32_t count;

    snprintf(message, sizeof message, "%s must be a sequence of ints", f->name);
    seq = PySequence_Fast(value, message);
    if (seq == NULL)
        return 0;
    n = PySequence_Fast_GET_SIZE(seq);
    if (n < 1 || n > f->max) {
        PyErr_Format(PyExc_ValueError, "%s must hold 1 to %d sizes, got %zd", f->name,
                     (int)f->max, n);
        Py_DECREF(seq);
        return 0;
    }
    snprintf(item_name, sizeof item_name, "%s[i]", f->name);
    for (i = 0; i < n; i++) {
        int32_t v;
        if (!int32_arg(PySequence_Fast_GET_ITEM(seq, i), item_name, &v)) {
            Py_DECREF(seq);
            return 0;
        }
        memcpy(base + f->offset + (size_t)i * sizeof v, &v, sizeof v);
    }
    count = (int32_t)n;
    memcpy(base + f->count_offset, &count, sizeof count);
    Py_DECREF(seq);
    return 1;
}

int fields_from_dict(PyObject *dict, const train_field *fields, void *config)
{
    char *base = config;
    const train_field *f;

    if (!PyDict_Check(dict)) {
        PyErr_Format(PyExc_TypeError, "config must be a dict, got %s", Py_TYPE(dict)->tp_name);
        return 0;
    }
    for (f = fields; f->name != NULL; f++) {
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
            uint64_t v;
            if (!uint64_arg(value, f->name, &v))
                return 0;
            memcpy(base + f->offset, &v, sizeof v);
            break;
        }
        case FIELD_INT32_LIST:
            if (!int32_list_from_py(value, f, base))
                return 0;
            break;
        }
    }
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Training progress                                                          */
/* ------------------------------------------------------------------------ */

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

int progress_init(progress_state *state, PyObject *progress)
{
    state->callback = NULL;
    state->exception = NULL;
    if (progress == Py_None)
        return 1;
    if (!PyCallable_Check(progress)) {
        PyErr_Format(PyExc_TypeError, "progress must be callable or None, got %s",
                     Py_TYPE(progress)->tp_name);
        return 0;
    }
    state->callback = progress;
    return 1;
}

lk_progress_fn progress_fn(const progress_state *state)
{
    return state->callback != NULL ? progress_trampoline : NULL;
}

int progress_ok(progress_state *state, lk_status status)
{
    if (state != NULL && state->exception != NULL) {
        restore_exception(state->exception);
        state->exception = NULL;
        return 0;
    }
    return lk_ok(status);
}

/* ------------------------------------------------------------------------ */
/* Handles                                                                    */
/* ------------------------------------------------------------------------ */

int handle_lock_init(handle_lock *lock)
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

void handle_lock_destroy(handle_lock *lock)
{
    if (lock->ready)
        pthread_rwlock_destroy(&lock->rw);
}

PyObject *labels_list(const void *model, int32_t count, label_fn label_of)
{
    PyObject *list = PyList_New(count);
    int32_t i;

    for (i = 0; list != NULL && i < count; i++) {
        const char *label = NULL;
        PyObject *s = lk_ok(label_of(model, i, &label)) ? PyUnicode_FromString(label) : NULL;
        if (s == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, i, s);
    }
    return list;
}
