/*
 * The shared core of lstmkit._native, the CPython + NumPy extension over the C ABI in
 * include/lstmkit.h. _native.c holds the module; _lstm.c, _tokenizer.c,
 * _text_classifier.c, _image_classifier.c and _image_segmenter.c one model each.
 *
 * Who checks what: the package (the .py files) checks the caller's arguments and names
 * them in its messages; the engine checks every value (its messages name the field).
 * This extension is private to the package and only converts: Python objects to C
 * arrays, strings and config structs, refusing what it cannot convert safely (a wrong
 * type, an int that does not fit) and passing every size to the library, which checks
 * the sizes, so no call of it can crash the process. Failed lk_* calls raise through
 * lk_ok().
 *
 * Threads: the GIL is released only around the lk_* calls. The header allows many
 * concurrent read-only calls on one handle (forward, get_param, save, segment, predict)
 * but no call at the same time as a write (set_params; add_words, load_dict and
 * clear_words of a tokenizer), so every handle carries a reader-writer lock, taken
 * while the GIL is released (a thread never waits for the lock while holding the GIL,
 * so the two locks cannot deadlock). A lock another thread held when the process forked
 * stays held in the child: the first call on the handle in a forked child replaces it
 * (under the GIL; the threads that held it do not exist there). Training runs with the GIL released; its progress
 * callback takes the GIL back (PyGILState_Ensure) to call the Python callable. Every
 * call that computes holds the process's other OpenBLAS pools, NumPy's above all, at
 * one thread while it runs (_other_blas.c).
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

/* Other OpenBLAS pools in the process (NumPy's, SciPy's), held at one thread during
 * LSTMKit calls (_other_blas.c). other_blas_scan finds them (at import; again on
 * request; LSTMKIT_LIMIT_OTHER_BLAS=0 in the environment turns the limit off). Around
 * every LSTMKit call, the first of overlapping calls sets each pool to one thread and
 * the last restores its count. The pools found: their files and thread counts. */
void other_blas_scan(void);
void other_blas_limit_begin(void);
void other_blas_limit_end(void);
void other_blas_set_enabled(int on);
int other_blas_enabled(void);
int other_blas_count(void);
const char *other_blas_path(int i);
int other_blas_threads(int i);

/* lstmkit.ModelFormatError(ValueError), for LK_STATUS_INVALID_FORMAT; made at import. */
extern PyObject *ModelFormatError;

/* 1 if status is LK_STATUS_OK; else raises the Python exception for the failed lk_*
 * call (its lk_last_error message) and returns 0. Must run on the OS thread that made
 * the call (lk_last_error is thread-local) before any other lk_* call on it. */
int lk_ok(lk_status status);

/* ---- Arrays ---- */

/* A new reference to a C-contiguous float32 array of obj's values: floating arrays
 * (float64 rounded as NumPy rounds), booleans, and integers float32 holds exactly.
 * TypeError for other dtypes; ValueError naming `name` for a value float32 cannot hold. */
PyArrayObject *as_float32(PyObject *obj, const char *name);
/* 1 if every value of a float32 array is finite; else ValueError naming `name`, 0. */
int check_finite(PyArrayObject *arr, const char *name);
/* obj as a C-contiguous array of `type`, converted only when NumPy casts it safely:
 * for arrays the package has already checked and converted. */
#define AS_ARRAY(obj, type) ((PyArrayObject *)PyArray_FROM_OTF((obj), (type), NPY_ARRAY_IN_ARRAY))
#define NEW_ARRAY(ndim, dims, type) ((PyArrayObject *)PyArray_SimpleNew((ndim), (dims), (type)))
#define FLOATS(arr) ((float *)PyArray_DATA(arr))
#define SIZE(arr) ((size_t)PyArray_SIZE(arr))

/* Images (N, H, W), (N, H, W, C) or (N, T, H, W, C) as float32 (as_float32) and their
 * lk_image_shape; NULL with ValueError for another number of dimensions. */
PyArrayObject *image_batch(PyObject *obj, const char *name, lk_image_shape *shape);

/* ---- Arguments: TypeError for a wrong type (bool is not an int), ValueError naming the
 * argument for an int outside the C type ---- */

int int32_arg(PyObject *obj, const char *name, int32_t *out);
int uint64_arg(PyObject *obj, const char *name, uint64_t *out);
int float_arg(PyObject *obj, const char *name, double *out);

/* A sequence of str held for a call: a private tuple (its strs, and so their UTF-8
 * buffers, stay alive while the GIL is released, whatever other threads do to the
 * caller's list) and the UTF-8 buffers and lengths. Start as {NULL}; str_seq_release
 * frees what it holds. */
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

/* Fills seq from obj (any iterable of str); errors name the items name[i] (TypeError
 * for a non-str, ValueError for a lone surrogate or, with UTF8_NUL_FREE, a NUL). */
int str_seq_take(str_seq *seq, PyObject *obj, const char *name, int flags);
void str_seq_release(str_seq *seq);

/* ---- Training configs, by name: the library reads and writes every field of a C config
 * as text (include/lstmkit.h, "Configs as text"), so this extension mirrors no struct ---- */

/* A config as a dict of str (name -> the field's text): the lk_model_get_config_text of
 * the handle `model`, or, with model NULL, lk_train_config_default_text of the model
 * kind `kind` ("text_classifier"). */
PyObject *config_dict(const void *model, const char *kind);
/* train_config_default(kind) -> dict: config_dict(NULL, kind), a module function. */
PyObject *native_train_config_default(PyObject *module, PyObject *arg);

/* Every entry of a config dict as an lk_train_options for lk_*_train_ex (*out stays NULL
 * when there are none; free it with lk_train_options_free): the fields of the C struct
 * and the training settings (schedule, cell, checkpoint_path, ...) alike. Values go as
 * text: a bool as "1"/"0", a str as is, else str(value); the library checks them,
 * naming the key. */
int train_options_from_dict(PyObject *dict, lk_train_options **out);

/* ---- Training progress ---- */

/* The progress callback's state. The first exception the Python callable raises is kept
 * and raised when training returns; later lines are not delivered (training cannot be
 * stopped from the callback and runs to its end). */
typedef struct {
    PyObject *callback; /* borrowed: the call's args hold it; NULL for None */
    PyObject *exception;
} progress_state;

/* Sets state from `progress`, a callable or None (TypeError otherwise). */
int progress_init(progress_state *state, PyObject *progress);
/* The lk_progress_fn for state: NULL without a callback. */
lk_progress_fn progress_fn(const progress_state *state);
/* 1 if an lk_* call succeeded: status is OK and, with a training's state (may be NULL),
 * its callback raised nothing; else 0 with the exception set (the callback's wins). */
int progress_ok(progress_state *state, lk_status status);

/* What every <model>_train does with its config dict and progress argument: the progress
 * state and the config's entries by name (train_options_from_dict); the caller passes its
 * lk_<model>_train_config_default() struct unchanged. 1, else 0 with the exception set
 * and nothing to free. */
int train_setup(PyObject *dict, PyObject *progress, progress_state *state, lk_train_options **options);

/* ---- Handles ---- */

/* The reader-writer lock every handle object carries (see the top of this file). */
typedef struct {
    pthread_rwlock_t rw;
    int ready;                /* rw is initialised, so it must be destroyed */
    unsigned long generation; /* the process (forks since import) that initialised rw */
} handle_lock;

int handle_lock_init(handle_lock *lock); /* 1, else RuntimeError and 0 */
void handle_lock_destroy(handle_lock *lock);
/* With the GIL held, before taking the lock: in a process forked since the lock was
 * initialised, initialises it afresh. */
void handle_lock_after_fork(handle_lock *lock);

/* setting(key) -> str: lk_model_get_setting of the handle's model (KeyError for a key
 * it does not record), read under the handle's lock for reading. */
PyObject *model_setting(const void *model, handle_lock *lock, PyObject *args);

/* READ_LOCKED(self, statement) and WRITE_LOCKED(self, statement) run the statement (an
 * lk_* call) with the GIL released and self->lock held for reading or for writing, the
 * other OpenBLAS pools held at one thread. TRAINING(statement): the same without a
 * handle to lock. */
#define RUN_LOCKED(take, unlock, ...)                                                      \
    do {                                                                                   \
        Py_BEGIN_ALLOW_THREADS                                                             \
        take;                                                                              \
        other_blas_limit_begin();                                                          \
        __VA_ARGS__;                                                                       \
        other_blas_limit_end();                                                            \
        unlock;                                                                            \
        Py_END_ALLOW_THREADS                                                               \
    } while (0)
#define READ_LOCKED(self, ...)                                                             \
    do {                                                                                   \
        handle_lock_after_fork(&(self)->lock);                                             \
        RUN_LOCKED(pthread_rwlock_rdlock(&(self)->lock.rw), pthread_rwlock_unlock(&(self)->lock.rw), __VA_ARGS__); \
    } while (0)
#define WRITE_LOCKED(self, ...)                                                            \
    do {                                                                                   \
        handle_lock_after_fork(&(self)->lock);                                             \
        RUN_LOCKED(pthread_rwlock_wrlock(&(self)->lock.rw), pthread_rwlock_unlock(&(self)->lock.rw), __VA_ARGS__); \
    } while (0)
#define TRAINING(...) RUN_LOCKED((void)0, (void)0, __VA_ARGS__)

/* HANDLE_TYPE(Name, prefix, fields, read_fields) defines the handle object of the
 * lk_<prefix> model and what every model has:
 *   Name                   PyObject_HEAD, lk_<prefix> *model, `fields` (declarations:
 *                          what the model reads once) and the lock;
 *   Name_Type              lstmkit._native.Name, freed with lk_<prefix>_free; its
 *                          tp_methods are set from the model_part at import;
 *   wrap_<prefix>(status, p, progress)
 *                          a new handle owning the model p that an lk_* call made and
 *                          returned status for (progress: its training's, or NULL),
 *                          once the expression read_fields (self: the handle) filled
 *                          `fields`; else NULL with the exception set, p freed;
 *   Name_save              save(path), a reader;
 *   Name_quantize          quantize(): lk_model_quantize (int8 in place), a writer;
 *   native_<prefix>_load   <prefix>_load(path) -> handle. */
#define HANDLE_TYPE(Name, prefix, fields, read_fields)                                     \
    typedef struct {                                                                       \
        PyObject_HEAD                                                                      \
        lk_##prefix *model;                                                                \
        fields                                                                             \
        handle_lock lock;                                                                  \
    } Name;                                                                                \
                                                                                           \
    static void Name##_dealloc(PyObject *obj)                                              \
    {                                                                                      \
        lk_##prefix##_free(((Name *)obj)->model);                                          \
        handle_lock_destroy(&((Name *)obj)->lock);                                         \
        PyObject_Free(obj);                                                                \
    }                                                                                      \
                                                                                           \
    static PyTypeObject Name##_Type = {                                                    \
        PyVarObject_HEAD_INIT(NULL, 0)                                                     \
        .tp_name = "lstmkit._native." #Name,                                               \
        .tp_basicsize = sizeof(Name),                                                      \
        .tp_dealloc = Name##_dealloc,                                                      \
        .tp_flags = Py_TPFLAGS_DEFAULT,                                                    \
        .tp_doc = "An lk_" #prefix " handle; freed with the object.",                      \
    };                                                                                     \
                                                                                           \
    static PyObject *wrap_##prefix(lk_status status, lk_##prefix *model,                   \
                                   progress_state *progress)                               \
    {                                                                                      \
        Name *self;                                                                        \
        if (!progress_ok(progress, status)) {                                              \
            if (status == LK_STATUS_OK) /* trained, but the progress callback raised */    \
                lk_##prefix##_free(model);                                                 \
            return NULL;                                                                   \
        }                                                                                  \
        if ((self = PyObject_New(Name, &Name##_Type)) == NULL) {                           \
            lk_##prefix##_free(model);                                                     \
            return NULL;                                                                   \
        }                                                                                  \
        /* Zeroed: `fields` read as 0 if reading them fails; the lock is not ready. */    \
        memset((char *)self + sizeof(PyObject), 0, sizeof(Name) - sizeof(PyObject));       \
        self->model = model;                                                               \
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
        if (!PyArg_ParseTuple(args, "O&:save", PyUnicode_FSConverter, &path))              \
            return NULL;                                                                   \
        READ_LOCKED(self, status = lk_##prefix##_save(self->model, PyBytes_AS_STRING(path))); \
        Py_DECREF(path);                                                                   \
        return lk_ok(status) ? Py_NewRef(Py_None) : NULL;                                  \
    }                                                                                      \
                                                                                           \
    static PyObject *Name##_quantize(PyObject *obj, PyObject *Py_UNUSED(ignored))          \
    {                                                                                      \
        Name *self = (Name *)obj;                                                          \
        lk_status status;                                                                  \
        WRITE_LOCKED(self, status = lk_model_quantize(self->model));                       \
        return lk_ok(status) ? Py_NewRef(Py_None) : NULL;                                  \
    }                                                                                      \
                                                                                           \
    static PyObject *native_##prefix##_load(PyObject *Py_UNUSED(module), PyObject *args)   \
    {                                                                                      \
        PyObject *path = NULL;                                                             \
        lk_##prefix *model = NULL;                                                         \
        lk_status status;                                                                  \
        if (!PyArg_ParseTuple(args, "O&:" #prefix "_load", PyUnicode_FSConverter, &path))  \
            return NULL;                                                                   \
        Py_BEGIN_ALLOW_THREADS                                                             \
        status = lk_##prefix##_load(PyBytes_AS_STRING(path), &model);                      \
        Py_END_ALLOW_THREADS                                                               \
        Py_DECREF(path);                                                                   \
        return wrap_##prefix(status, model, NULL);                                         \
    }

/* METHOD(Name, method, flags, doc): an entry of Name_methods for Name_method. */
#define METHOD(Name, method, flags, doc) {#method, (PyCFunction)(void (*)(void))Name##_##method, flags, doc}
/* Every handle's save and quantize. */
#define HANDLE_SAVE_METHOD(Name) METHOD(Name, save, METH_VARARGS, "save(path): writes the model file"), \
    METHOD(Name, quantize, METH_NOARGS, "quantize(): int8 weights, in place")

/* TRAINED_MODEL(Name) defines, for a model that trains:
 *   Name_config            config() -> dict: the model's lk_<prefix>_get_config as text
 *                          (config_dict; training fields hold the defaults);
 *   Name_setting           setting(key) -> str (model_setting).
 * CLASSIFIER_LABELS(Name, prefix) defines Name_labels, labels() -> list of str: a
 * classifier's lk_<prefix>_label(i) for i below the handle's num_classes. */
#define TRAINED_MODEL(Name)                                                                \
    static PyObject *Name##_config(PyObject *obj, PyObject *Py_UNUSED(ignored))            \
    {                                                                                      \
        return config_dict(((Name *)obj)->model, NULL);                                    \
    }                                                                                      \
                                                                                           \
    static PyObject *Name##_setting(PyObject *obj, PyObject *args)                         \
    {                                                                                      \
        return model_setting(((Name *)obj)->model, &((Name *)obj)->lock, args);            \
    }
#define CLASSIFIER_LABELS(Name, prefix)                                                    \
    static PyObject *Name##_labels(PyObject *obj, PyObject *Py_UNUSED(ignored))            \
    {                                                                                      \
        Name *self = (Name *)obj;                                                          \
        PyObject *list = PyList_New(self->num_classes);                                    \
        for (int32_t i = 0; list != NULL && i < self->num_classes; i++) {                  \
            const char *label = NULL;                                                      \
            PyObject *s = lk_ok(lk_##prefix##_label(self->model, i, &label))               \
                              ? PyUnicode_FromString(label) : NULL;                        \
            if (s == NULL)                                                                 \
                Py_CLEAR(list);                                                            \
            else                                                                           \
                PyList_SET_ITEM(list, i, s);                                               \
        }                                                                                  \
        return list;                                                                       \
    }
#define TRAINED_MODEL_METHODS(Name)                                                        \
    METHOD(Name, config, METH_NOARGS, "config() -> dict: the model's config, as text"),    \
    METHOD(Name, setting, METH_VARARGS, "setting(key) -> str: a hyper-parameter by name"), \
    HANDLE_SAVE_METHOD(Name)

/* What a model's file adds to the module: its handle type with the type's methods, and
 * its module functions. Each table ends with {NULL}. */
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
#define FUNCTION(name, flags, doc) {#name, (PyCFunction)(void (*)(void))native_##name, flags, doc}
/* The module functions of a model that trains: <prefix>_load and <prefix>_train. */
#define TRAINED_MODEL_FUNCTIONS(prefix)                                                    \
    FUNCTION(prefix##_load, METH_VARARGS, "(path) -> handle"),                             \
    FUNCTION(prefix##_train, METH_VARARGS, "-> handle; the GIL released")

extern const model_part lstm_part, tokenizer_part, text_classifier_part,
    image_classifier_part, image_segmenter_part;
extern const model_part gru_part; /* _lstm.c */
extern const model_part sequence_classifier_part;
extern const model_part forecaster_part;
extern const model_part seq2seq_part;

#endif
