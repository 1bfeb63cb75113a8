/*
 * lstmkit._native: the text classifier handle (lk_text_classifier) and
 * text_classifier_load/train. Every call (predict, attention, labels, save) is a
 * reader: the header allows them concurrently.
 */
#include "_common.h"

HANDLE_TYPE(ClassifierHandle, text_classifier, classifier,
            int32_t num_classes; /* fixed for the handle's life */,
            lk_ok(lk_text_classifier_num_classes(self->classifier, &self->num_classes)),
            "An lk_text_classifier handle. Made by text_classifier_load() or "
            "text_classifier_train(); freed with the object.")

HANDLE_LABELS(ClassifierHandle, text_classifier, classifier)

#define FIELD(name, kind) TRAIN_FIELD(lk_text_classifier_train_config, name, FIELD_##kind)
static const train_field classifier_fields[] = {
    FIELD(embedding_dim, INT32), FIELD(hidden_size, INT32), FIELD(num_layers, INT32),
    FIELD(bidirectional, INT32), FIELD(pooling, INT32), FIELD(attention_size, INT32),
    FIELD(dropout, FLOAT), FIELD(max_length, INT32), FIELD(min_count, INT32),
    FIELD(epochs, INT32), FIELD(batch_size, INT32), FIELD(learning_rate, FLOAT),
    FIELD(patience, INT32), FIELD(balance_classes, INT32), FIELD(tokenization, INT32),
    FIELD(threads, INT32), FIELD(seed, UINT64), FIELD(ngram_order, INT32),
    FIELD(ngram_dropout, FLOAT), FIELD(ngram_learning_rate, FLOAT),
    FIELD(min_ngram_count, INT32), FIELD(bigram_dim, INT32), FIELD(min_bigram_count, INT32),
    {NULL},
};
#undef FIELD

HANDLE_CONFIG(ClassifierHandle, text_classifier, classifier, classifier_fields)

/* predict_proba(texts, threads) -> float32 array (n, C). GIL released. */
static PyObject *ClassifierHandle_predict_proba(ClassifierHandle *self, PyObject *args)
{
    PyObject *texts_obj, *threads_obj;
    PyArrayObject *out = NULL;
    str_seq texts = {NULL};
    int32_t threads;
    npy_intp dims[2];
    lk_status status;

    if (!PyArg_ParseTuple(args, "OO:predict_proba", &texts_obj, &threads_obj) ||
        !threads_arg(threads_obj, &threads) || !str_seq_take(&texts, texts_obj))
        return NULL;
    if (!str_seq_utf8(&texts, "texts", 0))
        goto done;
    dims[0] = (npy_intp)texts.n;
    dims[1] = (npy_intp)self->num_classes;
    out = (PyArrayObject *)PyArray_SimpleNew(2, dims, NPY_FLOAT32);
    if (out == NULL)
        goto done;
    READ_LOCKED(self, status = lk_text_classifier_predict(
                          self->classifier, texts.utf8, texts.lens, (size_t)texts.n, threads,
                          (float *)PyArray_DATA(out), (size_t)PyArray_SIZE(out)));
    if (!lk_ok(status))
        Py_CLEAR(out);
done:
    str_seq_release(&texts);
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

static PyMethodDef ClassifierHandle_methods[] = {
    {"predict_proba", (PyCFunction)ClassifierHandle_predict_proba, METH_VARARGS,
     "predict_proba(texts, threads) -> float32 array (n, num_classes) (GIL released)"},
    {"attention", (PyCFunction)ClassifierHandle_attention, METH_VARARGS,
     "attention(text) -> list of (token, weight) (GIL released)"},
    HANDLE_LABELS_METHOD(ClassifierHandle),
    HANDLE_CONFIG_METHOD(ClassifierHandle),
    HANDLE_SAVE_METHOD(ClassifierHandle),
    {NULL, NULL, 0, NULL},
};


TRAIN_CONFIG_DEFAULT(text_classifier, classifier_fields)

/* text_classifier_train(train_texts, train_labels, dev_texts, dev_labels, config: dict,
 *                       progress: callable or None) -> handle. GIL released. */
static PyObject *native_text_classifier_train(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *tt_obj, *tl_obj, *dt_obj, *dl_obj, *config_obj, *progress_obj, *result = NULL;
    str_seq tt = {NULL}, tl = {NULL}, dt = {NULL}, dl = {NULL};
    lk_text_classifier_train_config config = lk_text_classifier_train_config_default();
    progress_state state;
    lk_text_classifier *classifier = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "OOOOOO:text_classifier_train", &tt_obj, &tl_obj, &dt_obj, &dl_obj,
                          &config_obj, &progress_obj))
        return NULL;
    if (!fields_from_dict(config_obj, classifier_fields, &config) ||
        !progress_init(&state, progress_obj))
        return NULL;
    if (!str_seq_take(&tt, tt_obj) || !str_seq_take(&tl, tl_obj) || !str_seq_take(&dt, dt_obj) ||
        !str_seq_take(&dl, dl_obj))
        goto done;
    if (tt.n != tl.n || dt.n != dl.n) {
        PyErr_SetString(PyExc_ValueError, "texts and labels differ in length");
        goto done;
    }
    if (!str_seq_utf8(&tt, "texts", 0) || !str_seq_utf8(&tl, "labels", UTF8_NUL_FREE) ||
        !str_seq_utf8(&dt, "dev texts", 0) || !str_seq_utf8(&dl, "dev labels", UTF8_NUL_FREE))
        goto done;

    TRAINING(status = lk_text_classifier_train(tt.utf8, tt.lens, tl.utf8, (size_t)tt.n, dt.utf8,
                                               dt.lens, dl.utf8, (size_t)dt.n, &config,
                                               progress_fn(&state), &state, &classifier));
    result = wrap_text_classifier(status, classifier, &state);
done:
    str_seq_release(&tt);
    str_seq_release(&tl);
    str_seq_release(&dt);
    str_seq_release(&dl);
    return result;
}

MODEL_PART(text_classifier, ClassifierHandle,
           TRAINED_MODEL_FUNCTIONS(text_classifier, "(train_texts, train_labels, dev_texts, "
                                                    "dev_labels, config, progress)"));
