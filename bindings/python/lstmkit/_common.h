/*
 * The shared core of lstmkit._native, the CPython + NumPy extension over the C ABI in
 * include/lstmkit.h. _native.c holds the module; _lstm.c, _tokenizer.c,
 * _text_classifier.c, _image_classifier.c and _image_segmenter.c one model each.
 *
 * The extension only converts and checks: NumPy arrays in, lk_* call, NumPy arrays out.
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
 * Tokenizer, classifier and segmenter training run with the GIL released; their
 * progress callbacks take the GIL back (PyGILState_Ensure) to call the Python callable.
 *
 * Every call that computes (the locked calls and training) holds the process's other
 * OpenBLAS pools, NumPy's above all, at one thread while it runs (_other_blas.c).
 */
#ifndef LSTMKIT_COMMON_H
#define LSTMKIT_COMMON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* One NumPy C-API table for all the extension's files: _native.c defines
 * LSTMKIT_IMPORTS_NUMPY and fills it (import_array); the others only use it. */
#define PY_ARRAY_UNIQUE_SYMBOL lstmkit_numpy_api
#ifndef LSTMKIT_IMPORTS_NUMPY
#define NO_IMPORT_ARRAY
#endif
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lstmkit.h"
#include "_other_blas.h"

/* ------------------------------------------------------------------------ */
/* Errors                                                                     */
/* ------------------------------------------------------------------------ */

/* lstmkit.ModelFormatError(ValueError): raised for LK_STATUS_INVALID_FORMAT; made by
 * PyInit__native. */
extern PyObject *ModelFormatError;

/* 1 if status is LK_STATUS_OK; else raises the Python exception for the failed lk_*
 * call and returns 0. Must run on the OS thread that made the call (lk_last_error is
 * thread-local) and before any other lk_* call on it. */
int lk_ok(lk_status status);

/* The current exception as one object (a new reference), cleared; NULL if none. */
PyObject *take_exception(void);
/* Raises exc again (steals the reference). */
void restore_exception(PyObject *exc);

/* ------------------------------------------------------------------------ */
/* Arrays                                                                     */
/* ------------------------------------------------------------------------ */

#define SHAPE_BUF 160

/* Writes "(2, 3, 7)" (or "(3,)", "()") into buf. */
const char *shape_str(int ndim, const npy_intp *dims, char *buf, size_t size);

/* 1 if arr has the shape dims; else ValueError "<name> must have shape <meaning><dims>,
 * got <arr's shape>" and 0. */
int check_shape(PyArrayObject *arr, const char *name, const char *meaning, int ndim,
                const npy_intp *dims);

/* A new reference to a C-contiguous, aligned, native float32 array holding obj's values.
 * Accepts floating arrays (float64 is rounded to float32 as usual in NumPy), booleans,
 * and integers that float32 represents exactly. TypeError for other dtypes. */
PyArrayObject *as_float32(PyObject *obj, const char *name);

/* 1 if every value of a float32 array is finite; else ValueError naming `name`, 0. */
int check_finite(PyArrayObject *arr, const char *name);

/* 1 if every pixel of the (N, ...) float32 array is finite; else ValueError naming the
 * image ("X[3] holds a NaN pixel") and 0. */
int check_finite_images(PyArrayObject *arr, const char *name);

/* A new reference to a C-contiguous int32 array holding obj's values. Accepts integer
 * dtypes only (TypeError otherwise) and values that fit int32 (ValueError otherwise). */
PyArrayObject *as_int32(PyObject *obj, const char *name);

/* ------------------------------------------------------------------------ */
/* Arguments                                                                  */
/* ------------------------------------------------------------------------ */

/* Python int -> int32 with a ValueError naming the argument when out of range. */
int int32_arg(PyObject *obj, const char *name, int32_t *out);

/* Python int -> uint64 (TypeError unless an int, ValueError outside [0, 2**64)). */
int uint64_arg(PyObject *obj, const char *name, uint64_t *out);

/* The `threads` argument of segment and the predict calls: an int32 >= 1. */
int threads_arg(PyObject *obj, int32_t *threads);

/* The UTF-8 bytes of a str argument (borrowed from the str: valid while it lives).
 * TypeError if `obj` is not a str; ValueError if it cannot be encoded (a lone
 * surrogate). The argument is named `name`, or `name[index]` when index >= 0. */
const char *utf8_arg(PyObject *obj, const char *name, Py_ssize_t index, Py_ssize_t *len);

/* A sequence of str held for a call: a private tuple (its strs, and so their UTF-8
 * buffers, stay alive while the GIL is released, whatever other threads do to the
 * caller's list) and, after str_seq_utf8, the UTF-8 buffers and their lengths. Starts
 * as {NULL}; str_seq_release frees what it holds. */
typedef struct {
    PyObject *tuple;
    Py_ssize_t n;
    const char **utf8;
    size_t *lens;
} str_seq;

enum {
    UTF8_NUL_FREE = 1, /* refuse NUL characters: the library reads C strings */
    UTF8_ALONE = 2,    /* one str the caller passed alone: errors name it without [i] */
};

/* The tuple of obj's items; 0 on error. */
int str_seq_take(str_seq *seq, PyObject *obj);
/* The UTF-8 of every item, named name[i] in errors (utf8_arg); 0 on error. */
int str_seq_utf8(str_seq *seq, const char *name, int flags);
void str_seq_release(str_seq *seq);

/* ------------------------------------------------------------------------ */
/* Training configs                                                           */
/* ------------------------------------------------------------------------ */

/* The fields of an lk_*_train_config struct, by name, as the Python dict holds them. */
typedef enum { FIELD_INT32, FIELD_FLOAT, FIELD_UINT64, FIELD_DOUBLE, FIELD_INT32_LIST } field_kind;

typedef struct {
    const char *name; /* NULL ends a table */
    field_kind kind;
    size_t offset;
    size_t count_offset; /* FIELD_INT32_LIST: its int32 count (the list holds 1 to max) */
    int32_t max;
} train_field;

#define TRAIN_FIELD(type, name, kind) {#name, kind, offsetof(type, name), 0, 0}
#define TRAIN_LIST(type, name, count, max)                                                 \
    {#name, FIELD_INT32_LIST, offsetof(type, name), offsetof(type, count), max}

/* The fields of the struct at base as a dict (a list as a Python list). */
PyObject *fields_to_dict(const train_field *fields, const void *base);

/* Fills the struct at base from a dict holding every field (TypeError/ValueError/
 * KeyError naming a field). */
int fields_from_dict(PyObject *dict, const train_field *fields, void *base);

/* ------------------------------------------------------------------------ */
/* Training progress                                                          */
/* ------------------------------------------------------------------------ */

/* The progress callback's state. The callback runs on the thread that called
 * lk_*_train, which released the GIL: it takes the GIL back to call Python. The first
 * exception the Python callable raises is kept here and re-raised when training
 * returns; later lines are not delivered (training itself cannot be stopped from the
 * callback and runs to its end). */
typedef struct {
    PyObject *callback; /* borrowed: the call's args hold it */
    PyObject *exception;
} progress_state;

/* Sets state->callback from `progress`, a callable or None (TypeError otherwise). */
int progress_init(progress_state *state, PyObject *progress);

/* The lk_progress_fn for state: NULL without a callback. */
lk_progress_fn progress_fn(const progress_state *state);

/* 1 if an lk_* call succeeded: status is OK and, with a training's progress state (state
 * may be NULL), its callback raised nothing; else 0 with the exception set (the
 * callback's wins over the status's). */
int progress_ok(progress_state *state, lk_status status);

/* ------------------------------------------------------------------------ */
/* Handle locks                                                               */
/* ------------------------------------------------------------------------ */

/* The reader-writer lock every handle object carries (see the top of this file). */
typedef struct {
    pthread_rwlock_t rw;
    int ready; /* rw is initialised, so it must be destroyed */
} handle_lock;

/* Initialises the lock; 1 on success, else RuntimeError and 0. */
int handle_lock_init(handle_lock *lock);
void handle_lock_destroy(handle_lock *lock);

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

/* TRAINING(statement) runs a training call with the GIL released (no handle to lock). */
#define TRAINING(...)                                                                      \
    do {                                                                                   \
        Py_BEGIN_ALLOW_THREADS                                                             \
        other_blas_limit_begin();                                                          \
        __VA_ARGS__;                                                                       \
        other_blas_limit_end();                                                            \
        Py_END_ALLOW_THREADS                                                               \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Handle types                                                               */
/* ------------------------------------------------------------------------ */

/* HANDLE_TYPE(Name, prefix, member, fields, read_fields, doc) defines the handle object
 * of the lk_<prefix> model and its boilerplate:
 *   Name                 PyObject_HEAD, lk_<prefix> *member, `fields` (declarations
 *                        without commas: what the model reads once) and the lock;
 *   Name_Type            lstmkit._native.Name, freed with lk_<prefix>_free; its
 *                        tp_methods are set from the model_part at import;
 *   wrap_<prefix>(status, p, progress)
 *                        the handle for the model p an lk_* call made and returned
 *                        status for (progress: its training's, or NULL): a new handle
 *                        owning p, once the expression read_fields (self: the handle)
 *                        filled `fields`; else NULL with the exception set, p freed;
 *   Name_save            save(path), a reader (HANDLE_SAVE_METHOD lists it);
 *   native_<prefix>_load <prefix>_load(path) -> handle (HANDLE_LOAD_FUNCTION lists it). */
#define HANDLE_TYPE(Name, prefix, member, fields, read_fields, doc)                        \
    typedef struct {                                                                       \
        PyObject_HEAD                                                                      \
        lk_##prefix *member;                                                               \
        fields                                                                             \
        handle_lock lock;                                                                  \
    } Name;                                                                                \
                                                                                           \
    static void Name##_dealloc(PyObject *obj)                                              \
    {                                                                                      \
        Name *self = (Name *)obj;                                                          \
        lk_##prefix##_free(self->member);                                                  \
        handle_lock_destroy(&self->lock);                                                  \
        PyObject_Free(self);                                                               \
    }                                                                                      \
                                                                                           \
    static PyTypeObject Name##_Type = {                                                    \
        PyVarObject_HEAD_INIT(NULL, 0)                                                     \
        .tp_name = "lstmkit._native." #Name,                                               \
        .tp_basicsize = sizeof(Name),                                                      \
        .tp_dealloc = Name##_dealloc,                                                      \
        .tp_flags = Py_TPFLAGS_DEFAULT,                                                    \
        .tp_doc = doc,                                                                     \
    };                                                                                     \
                                                                                           \
    static PyObject *wrap_##prefix(lk_status status, lk_##prefix *member,                  \
                                   progress_state *progress)                               \
    {                                                                                      \
        Name *self;                                                                        \
                                                                                           \
        if (!progress_ok(progress, status)) {                                              \
            if (status == LK_STATUS_OK) /* trained, but the progress callback raised */    \
                lk_##prefix##_free(member);                                                \
            return NULL;                                                                   \
        }                                                                                  \
        self = PyObject_New(Name, &Name##_Type);                                           \
        if (self == NULL) {                                                                \
            lk_##prefix##_free(member);                                                    \
            return NULL;                                                                   \
        }                                                                                  \
        /* Zeroed: `fields` read as 0 if reading them fails; the lock is not ready. */    \
        memset((char *)self + sizeof(PyObject), 0, sizeof(Name) - sizeof(PyObject));       \
        self->member = member;                                                             \
        if (!handle_lock_init(&self->lock) || !(read_fields)) {                            \
            Py_DECREF(self);                                                               \
            return NULL;                                                                   \
        }                                                                                  \
        return (PyObject *)self;                                                           \
    }                                                                                      \
                                                                                           \
    static PyObject *Name##_save(PyObject *obj, PyObject *args)                            \
    {                                                                                      \
        Name *self = (Name *)obj;                                                          \
        PyObject *path = NULL;                                                             \
        lk_status status;                                                                  \
                                                                                           \
        if (!PyArg_ParseTuple(args, "O&:save", PyUnicode_FSConverter, &path))              \
            return NULL;                                                                   \
        READ_LOCKED(self,                                                                  \
                    status = lk_##prefix##_save(self->member, PyBytes_AS_STRING(path)));   \
        Py_DECREF(path);                                                                   \
        return lk_ok(status) ? Py_NewRef(Py_None) : NULL;                                  \
    }                                                                                      \
                                                                                           \
    static PyObject *native_##prefix##_load(PyObject *Py_UNUSED(module), PyObject *args)   \
    {                                                                                      \
        PyObject *path = NULL;                                                             \
        lk_##prefix *member = NULL;                                                        \
        lk_status status;                                                                  \
                                                                                           \
        if (!PyArg_ParseTuple(args, "O&:" #prefix "_load", PyUnicode_FSConverter, &path))  \
            return NULL;                                                                   \
        Py_BEGIN_ALLOW_THREADS                                                             \
        status = lk_##prefix##_load(PyBytes_AS_STRING(path), &member);                     \
        Py_END_ALLOW_THREADS                                                               \
        Py_DECREF(path);                                                                   \
        return wrap_##prefix(status, member, NULL);                                        \
    }

/* TRAIN_CONFIG_DEFAULT(prefix, fields) defines native_<prefix>_train_config_default:
 * <prefix>_train_config_default() -> dict of lk_<prefix>_train_config_default(), the
 * train_field table `fields`. */
#define TRAIN_CONFIG_DEFAULT(prefix, fields)                                               \
    static PyObject *native_##prefix##_train_config_default(PyObject *Py_UNUSED(module),   \
                                                            PyObject *Py_UNUSED(ignored))  \
    {                                                                                      \
        lk_##prefix##_train_config config = lk_##prefix##_train_config_default();          \
        return fields_to_dict(fields, &config);                                            \
    }

#define HANDLE_SAVE_METHOD(Name)                                                           \
    {"save", Name##_save, METH_VARARGS, "save(path): writes a model file"}
#define HANDLE_LOAD_FUNCTION(prefix)                                                       \
    {#prefix "_load", native_##prefix##_load, METH_VARARGS, #prefix "_load(path) -> handle"}

/* The module functions of a model that trains: <prefix>_load(path),
 * <prefix>_train<train_args> (native_<prefix>_train) and <prefix>_train_config_default(). */
#define TRAINED_MODEL_FUNCTIONS(prefix, train_args)                                        \
    HANDLE_LOAD_FUNCTION(prefix),                                                          \
    {#prefix "_train", native_##prefix##_train, METH_VARARGS,                              \
     #prefix "_train" train_args                                                           \
     " -> handle (GIL released; progress is called with each line)"},                      \
    {#prefix "_train_config_default", native_##prefix##_train_config_default, METH_NOARGS, \
     #prefix "_train_config_default() -> dict of lk_" #prefix "_train_config_default()"}

/* labels() of a classifier: its num_classes labels, lk_<prefix>_label(i) each, as a list
 * of str in class order. HANDLE_LABELS(Name, prefix, member) defines Name_labels. */
typedef lk_status (*label_fn)(const void *model, int32_t index, const char **label);
PyObject *labels_list(const void *model, int32_t count, label_fn label);

#define HANDLE_LABELS(Name, prefix, member)                                                \
    static lk_status Name##_label(const void *model, int32_t index, const char **label)    \
    {                                                                                      \
        return lk_##prefix##_label((const lk_##prefix *)model, index, label);              \
    }                                                                                      \
                                                                                           \
    static PyObject *Name##_labels(PyObject *obj, PyObject *Py_UNUSED(ignored))            \
    {                                                                                      \
        Name *self = (Name *)obj;                                                          \
        return labels_list(self->member, self->num_classes, Name##_label);                 \
    }
#define HANDLE_LABELS_METHOD(Name)                                                         \
    {"labels", Name##_labels, METH_NOARGS,                                                 \
     "labels() -> the class labels (list of str), in column order"}

/* HANDLE_CONFIG(Name, prefix, member, fields) defines Name_config, config() -> dict: the
 * model's architecture from lk_<prefix>_get_config, read through the field table
 * `fields` (training fields hold the defaults); HANDLE_CONFIG_METHOD(Name) lists it. */
#define HANDLE_CONFIG(Name, prefix, member, fields)                                        \
    static PyObject *Name##_config(PyObject *obj, PyObject *Py_UNUSED(ignored))            \
    {                                                                                      \
        lk_##prefix##_train_config config;                                                 \
        if (!lk_ok(lk_##prefix##_get_config(((Name *)obj)->member, &config)))              \
            return NULL;                                                                   \
        return fields_to_dict(fields, &config);                                            \
    }
#define HANDLE_CONFIG_METHOD(Name)                                                         \
    {"config", Name##_config, METH_NOARGS,                                                 \
     "config() -> dict: the model's architecture (training fields hold the defaults)"}

/* What a model's file adds to the module: its handle type with the type's methods, and
 * its module-level functions. Each table ends with {NULL}. */
typedef struct {
    PyTypeObject *type;
    PyMethodDef *methods;
    PyMethodDef *functions;
} model_part;

/* MODEL_PART(prefix, Name, functions...) defines <prefix>_part: Name_Type with the
 * methods Name_methods, and the module functions listed. */
#define MODEL_PART(prefix, Name, ...)                                                      \
    static PyMethodDef prefix##_functions[] = {__VA_ARGS__, {NULL, NULL, 0, NULL}};        \
    const model_part prefix##_part = {&Name##_Type, Name##_methods, prefix##_functions}

extern const model_part lstm_part, tokenizer_part, text_classifier_part,
    image_classifier_part, image_segmenter_part;

#endif
