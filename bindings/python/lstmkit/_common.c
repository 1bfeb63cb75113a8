/*
 * The shared core of lstmkit._native (see _common.h): status mapping, conversions of
 * arrays, arguments, strings and training configs, progress callbacks, handle locks.
 */
#include "_common.h"

#include <math.h>
#include <stdio.h>

PyObject *ModelFormatError = NULL;

int lk_ok(lk_status status)
{
    const char *message = lk_last_error();
    PyObject *type = status == LK_STATUS_INVALID_ARGUMENT || status == LK_STATUS_SIZE_MISMATCH ? PyExc_ValueError
                     : status == LK_STATUS_NOT_FOUND                                        ? PyExc_KeyError
                     : status == LK_STATUS_IO_ERROR                                         ? PyExc_OSError
                     : status == LK_STATUS_INVALID_FORMAT                                   ? ModelFormatError
                     : status == LK_STATUS_OUT_OF_MEMORY                                    ? PyExc_MemoryError
                                                                                            : NULL;
    if (status == LK_STATUS_OK)
        return 1;
    if (message == NULL || message[0] == '\0')
        message = lk_status_string(status);
    if (type != NULL)
        PyErr_SetString(type, message);
    else /* LK_STATUS_INTERNAL; BUFFER_TOO_SMALL (this binding sizes every buffer) */
        PyErr_Format(PyExc_RuntimeError, "internal error in LSTMKit (please report it): status %d: %s", (int)status,
                     message);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Arrays                                                                     */
/* ------------------------------------------------------------------------ */

/* 1 if every value of arr fits float32: an integer (kind 'i' or 'u') exactly, a finite
 * float64 as a finite float32 (NaN and infinity pass: check_finite reports them); else
 * ValueError naming `name` and 0. long double holds every int64 and uint64 exactly. */
static int fits_float32(PyArrayObject *arr, const char *name)
{
    char kind = PyArray_DESCR(arr)->kind;
    PyArrayObject *wide = AS_ARRAY((PyObject *)arr, kind == 'u' ? NPY_UINT64 : kind == 'i' ? NPY_INT64 : NPY_DOUBLE);
    npy_intp i, n = wide != NULL ? PyArray_SIZE(wide) : 0;

    for (i = 0; i < n; i++) {
        const void *at = (const char *)PyArray_DATA(wide) + i * 8;
        long double v = kind == 'u' ? (long double)*(const uint64_t *)at
                        : kind == 'i' ? (long double)*(const int64_t *)at : (long double)*(const double *)at;
        char text[48];
        if (kind == 'f' ? isfinite(v) && !isfinite((float)v) : (long double)(float)v != v) {
            snprintf(text, sizeof text, kind == 'f' ? "%Lg" : "%.0Lf", v);
            PyErr_Format(PyExc_ValueError, kind == 'f' ? "%s holds %s (flat index %zd), outside the float32 range"
                                                       : "%s holds the integer %s (flat index %zd), which float32 "
                                                         "cannot represent exactly",
                         name, text, (Py_ssize_t)i);
            break;
        }
    }
    Py_XDECREF(wide);
    return wide != NULL && i == n;
}

PyArrayObject *as_float32(PyObject *obj, const char *name)
{
    PyArrayObject *src = (PyArrayObject *)PyArray_FROM_O(obj), *out = NULL;
    char kind;

    if (src == NULL)
        return NULL;
    kind = PyArray_DESCR(src)->kind;
    if (kind != 'f' && kind != 'b' && kind != 'i' && kind != 'u')
        PyErr_Format(PyExc_TypeError,
                     "%s must be an array of real numbers (it is converted to float32), got dtype %S", name,
                     (PyObject *)PyArray_DESCR(src));
    /* 8- and 16-bit integers always fit (and images are often big uint8 arrays). */
    else if ((PyArray_TYPE(src) == NPY_DOUBLE || (kind != 'f' && kind != 'b' && PyArray_ITEMSIZE(src) > 2)) &&
             !fits_float32(src, name))
        ;
    else
        out = (PyArrayObject *)PyArray_FROM_OTF((PyObject *)src, NPY_FLOAT32,
                                                NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
    Py_DECREF(src);
    return out;
}

int check_finite(PyArrayObject *arr, const char *name)
{
    const float *v = FLOATS(arr);
    npy_intp i, n = PyArray_SIZE(arr);
    for (i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            PyErr_Format(PyExc_ValueError,
                         "%s must hold finite values, but flat index %zd is %s (after conversion to float32)", name,
                         (Py_ssize_t)i, isnan(v[i]) ? "NaN" : "infinite");
            return 0;
        }
    }
    return 1;
}

PyArrayObject *image_batch(PyObject *obj, const char *name, lk_image_shape *shape)
{
    PyArrayObject *x = as_float32(obj, name);
    const npy_intp *d;
    int nd;

    if (x == NULL)
        return NULL;
    d = PyArray_DIMS(x);
    nd = PyArray_NDIM(x);
    if (nd < 3 || nd > 5) {
        PyErr_Format(PyExc_ValueError, "%s must have shape (N, H, W), (N, H, W, C) or (N, T, H, W, C)", name);
        Py_DECREF(x);
        return NULL;
    }
    shape->frames = nd == 5 ? (int64_t)d[1] : 0;
    shape->height = (int64_t)d[nd == 5 ? 2 : 1];
    shape->width = (int64_t)d[nd == 5 ? 3 : 2];
    shape->channels = nd == 3 ? 1 : (int64_t)d[nd - 1];
    return x;
}

/* ------------------------------------------------------------------------ */
/* Arguments                                                                  */
/* ------------------------------------------------------------------------ */

/* obj as a Python int (a new reference; NumPy ints too), else TypeError naming it. */
static PyObject *index_arg(PyObject *obj, const char *name)
{
    if (PyBool_Check(obj) || !PyIndex_Check(obj))
        return PyErr_Format(PyExc_TypeError, "%s must be an int, got %s", name, Py_TYPE(obj)->tp_name);
    return PyNumber_Index(obj);
}

int int32_arg(PyObject *obj, const char *name, int32_t *out)
{
    PyObject *index = index_arg(obj, name);
    int overflow = 0;
    long long v;

    if (index == NULL)
        return 0;
    v = PyLong_AsLongLongAndOverflow(index, &overflow);
    Py_DECREF(index);
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
    PyObject *index = index_arg(obj, name);
    unsigned long long u;

    if (index == NULL)
        return 0;
    u = PyLong_AsUnsignedLongLong(index);
    Py_DECREF(index);
    if (u == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%s must be in [0, 2**64), got %S", name, obj);
        return 0;
    }
    *out = (uint64_t)u;
    return 1;
}

int float_arg(PyObject *obj, const char *name, double *out)
{
    PyNumberMethods *number = Py_TYPE(obj)->tp_as_number;
    if (PyBool_Check(obj) || !(PyIndex_Check(obj) || (number != NULL && number->nb_float != NULL))) {
        PyErr_Format(PyExc_TypeError, "%s must be a float, got %s", name, Py_TYPE(obj)->tp_name);
        return 0;
    }
    *out = PyFloat_AsDouble(obj); /* NaN stays NaN: the engine refuses it */
    return !(*out == -1.0 && PyErr_Occurred());
}

/* The ValueError for a str that PyUnicode_AsUTF8AndSize refused: a lone surrogate. */
static void surrogate_error(PyObject *text, const char *label)
{
    Py_ssize_t at, n = PyUnicode_GET_LENGTH(text);
    Py_UCS4 c = 0;
    char code[16]; /* PyErr_Format has no %04X */

    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
        return;
    PyErr_Clear();
    for (at = 0; at < n && !((c = PyUnicode_READ_CHAR(text, at)) >= 0xD800 && c <= 0xDFFF); at++)
        ;
    snprintf(code, sizeof code, "U+%04X", (unsigned)c);
    PyErr_Format(PyExc_ValueError, "%s cannot be encoded as UTF-8: it holds the lone surrogate %s at index %zd",
                 label, code, at);
}

int str_seq_take(str_seq *seq, PyObject *obj, const char *name, int flags)
{
    Py_ssize_t i, n;

    if ((seq->tuple = PySequence_Tuple(obj)) == NULL)
        return 0;
    seq->n = n = PyTuple_GET_SIZE(seq->tuple);
    seq->utf8 = PyMem_Calloc(n > 0 ? (size_t)n : 1, sizeof *seq->utf8);
    seq->lens = PyMem_Calloc(n > 0 ? (size_t)n : 1, sizeof *seq->lens);
    if (seq->utf8 == NULL || seq->lens == NULL) {
        PyErr_NoMemory();
        return 0;
    }
    for (i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(seq->tuple, i);
        Py_ssize_t len = 0;
        char label[96];

        snprintf(label, sizeof label, (flags & UTF8_ALONE) ? "%s" : "%s[%zd]", name, i);
        if (!PyUnicode_Check(item)) {
            PyErr_Format(PyExc_TypeError, "%s must be a str, got %s", label, Py_TYPE(item)->tp_name);
            return 0;
        }
        if ((seq->utf8[i] = PyUnicode_AsUTF8AndSize(item, &len)) == NULL) {
            surrogate_error(item, label);
            return 0;
        }
        if ((flags & UTF8_NUL_FREE) && memchr(seq->utf8[i], '\0', (size_t)len) != NULL) {
            PyErr_Format(PyExc_ValueError, "%s contains a NUL character", label);
            return 0;
        }
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

/* The text of a config (lk_model_get_config_text, or lk_train_config_default_text with
 * model NULL): one call into a buffer of 4096 bytes, again with the size the library
 * asks for if that is too small; then its "name=value" lines as a dict. */
PyObject *config_dict(const void *model, const char *kind)
{
    size_t capacity = 4096, size = 0;
    char *text = NULL, *line, *end;
    PyObject *dict = NULL;
    lk_status status;

    do {
        PyMem_RawFree(text);
        capacity = size >= capacity ? size + 1 : capacity;
        if ((text = PyMem_RawMalloc(capacity)) == NULL)
            return PyErr_NoMemory();
        status = model != NULL ? lk_model_get_config_text(model, text, capacity, &size)
                               : lk_train_config_default_text(kind, text, capacity, &size);
    } while (status == LK_STATUS_BUFFER_TOO_SMALL);
    if (lk_ok(status) && (dict = PyDict_New()) != NULL) {
        for (line = text; dict != NULL && (end = strchr(line, '\n')) != NULL; line = end + 1) {
            char *equals = memchr(line, '=', (size_t)(end - line));
            PyObject *name = equals != NULL ? PyUnicode_DecodeUTF8(line, equals - line, "strict") : NULL;
            PyObject *value = name != NULL ? PyUnicode_DecodeUTF8(equals + 1, end - equals - 1, "strict") : NULL;
            if (value == NULL || PyDict_SetItem(dict, name, value) < 0) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_RuntimeError, "internal error in LSTMKit: a config line without '='");
                Py_CLEAR(dict);
            }
            Py_XDECREF(name);
            Py_XDECREF(value);
        }
    }
    PyMem_RawFree(text);
    return dict;
}

PyObject *native_train_config_default(PyObject *Py_UNUSED(module), PyObject *arg)
{
    const char *kind = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;
    if (kind == NULL) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "model must be a str, got %s", Py_TYPE(arg)->tp_name);
        return NULL;
    }
    return config_dict(NULL, kind);
}

int train_options_from_dict(PyObject *dict, lk_train_options **out)
{
    PyObject *key, *value;
    Py_ssize_t pos = 0;

    *out = NULL;
    if (!PyDict_Check(dict))
        PyErr_Format(PyExc_TypeError, "config must be a dict, got %s", Py_TYPE(dict)->tp_name);
    while (PyDict_Check(dict) && PyDict_Next(dict, &pos, &key, &value)) {
        const char *name = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
        PyObject *text, *bytes;
        int ok;
        if (name == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "config keys must be str");
            break;
        }
        text = PyBool_Check(value) ? PyUnicode_FromString(value == Py_True ? "1" : "0") : PyObject_Str(value);
        bytes = text != NULL ? PyUnicode_EncodeFSDefault(text) : NULL; /* paths as the OS spells them */
        ok = bytes != NULL && (*out != NULL || lk_ok(lk_train_options_create(out))) &&
             lk_ok(lk_train_options_set(*out, name, PyBytes_AS_STRING(bytes)));
        Py_XDECREF(text);
        Py_XDECREF(bytes);
        if (!ok)
            break;
    }
    if (!PyErr_Occurred())
        return 1;
    lk_train_options_free(*out);
    *out = NULL;
    return 0;
}

PyObject *model_setting(const void *model, handle_lock *lock, PyObject *args)
{
    const char *key;
    char value[1024]; /* a setting's text is short: a number, a name, a few sizes */
    size_t size = 0;
    lk_status status;

    if (!PyArg_ParseTuple(args, "s:setting", &key))
        return NULL;
    handle_lock_after_fork(lock);
    RUN_LOCKED(pthread_rwlock_rdlock(&lock->rw), pthread_rwlock_unlock(&lock->rw),
               status = lk_model_get_setting(model, key, value, sizeof value, &size));
    return lk_ok(status) ? PyUnicode_DecodeUTF8(value, (Py_ssize_t)size, "strict") : NULL;
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
#if PY_VERSION_HEX >= 0x030C0000
            state->exception = PyErr_GetRaisedException();
#else
            PyObject *type, *tb;
            PyErr_Fetch(&type, &state->exception, &tb);
            PyErr_NormalizeException(&type, &state->exception, &tb);
            if (state->exception != NULL && tb != NULL)
                PyException_SetTraceback(state->exception, tb);
            Py_XDECREF(type);
            Py_XDECREF(tb);
#endif
            if (state->exception == NULL) /* a NULL result without an exception */
                state->exception = PyObject_CallFunction(PyExc_SystemError, "s",
                                                         "the progress callback failed without an exception");
        }
        Py_XDECREF(result);
    }
    PyGILState_Release(gil);
}

int progress_init(progress_state *state, PyObject *progress)
{
    state->callback = progress == Py_None ? NULL : progress;
    state->exception = NULL;
    if (progress != Py_None && !PyCallable_Check(progress)) {
        PyErr_Format(PyExc_TypeError, "progress must be callable or None, got %s", Py_TYPE(progress)->tp_name);
        return 0;
    }
    return 1;
}

int train_setup(PyObject *dict, PyObject *progress, progress_state *state, lk_train_options **options)
{
    *options = NULL;
    return progress_init(state, progress) && train_options_from_dict(dict, options);
}

lk_progress_fn progress_fn(const progress_state *state)
{
    return state->callback != NULL ? progress_trampoline : NULL;
}

int progress_ok(progress_state *state, lk_status status)
{
    PyObject *exc = state != NULL ? state->exception : NULL;
    if (exc == NULL)
        return lk_ok(status);
    state->exception = NULL;
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, PyException_GetTraceback(exc));
#endif
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Handle locks                                                               */
/* ------------------------------------------------------------------------ */

/* Forks since import: a child handler counts them (the child runs it alone). */
static unsigned long fork_generation = 0;
static pthread_once_t fork_counter_registered = PTHREAD_ONCE_INIT;

static void count_fork_in_child(void)
{
    fork_generation++;
}

static void register_fork_counter(void)
{
    pthread_atfork(NULL, NULL, count_fork_in_child);
}

static int handle_lock_fresh(handle_lock *lock)
{
    pthread_rwlockattr_t attr;

    pthread_rwlockattr_init(&attr);
#if defined(__GLIBC__)
    /* A writer (set_params) is not starved by a stream of forward calls. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    lock->ready = pthread_rwlock_init(&lock->rw, &attr) == 0;
    pthread_rwlockattr_destroy(&attr);
    lock->generation = fork_generation;
    return lock->ready;
}

int handle_lock_init(handle_lock *lock)
{
    pthread_once(&fork_counter_registered, register_fork_counter);
    if (!handle_lock_fresh(lock))
        PyErr_SetString(PyExc_RuntimeError, "cannot initialise the handle's lock");
    return lock->ready;
}

void handle_lock_after_fork(handle_lock *lock)
{
    /* Not destroyed first: it may be held by a thread that is gone. Callers hold the
     * GIL, so no other thread of the child can be using the lock meanwhile. */
    if (lock->generation != fork_generation)
        handle_lock_fresh(lock);
}

void handle_lock_destroy(handle_lock *lock)
{
    if (lock->ready)
        pthread_rwlock_destroy(&lock->rw);
}
