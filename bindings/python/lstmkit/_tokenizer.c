/*
 * lstmkit._native: the tokenizer handle (lk_tokenizer) and tokenizer_load/train/ensemble.
 * Readers: segment (the header allows concurrent calls), save, word_count and words; writers:
 * add_words, load_dict and clear_words (they must not overlap any other call).
 */
#include "_common.h"

HANDLE_TYPE(TokenizerHandle, tokenizer, tokenizer, /* nothing read once */, 1,
            "An lk_tokenizer handle. Made by tokenizer_load() or tokenizer_train(); freed "
            "with the object.")

/* segment(texts, threads, single) -> list of lists of str.
 * texts: a sequence of str. Errors name "text" when single is true, else "texts[i]". */
static PyObject *TokenizerHandle_segment(TokenizerHandle *self, PyObject *args)
{
    PyObject *texts_obj, *threads_obj, *result = NULL, *list = NULL;
    str_seq texts = {NULL};
    int single = 0;
    int32_t threads;
    Py_ssize_t n, i;
    size_t *counts = NULL, *ends = NULL;
    size_t total = 0, offset = 0;
    lk_status status;

    if (!PyArg_ParseTuple(args, "OOp:segment", &texts_obj, &threads_obj, &single) ||
        !threads_arg(threads_obj, &threads) || !str_seq_take(&texts, texts_obj))
        return NULL;
    n = texts.n;
    if (n == 0) {
        result = PyList_New(0);
        goto done;
    }
    if (!str_seq_utf8(&texts, single ? "text" : "texts", single ? UTF8_ALONE : 0))
        goto done;
    counts = PyMem_Calloc((size_t)n, sizeof *counts);
    if (counts == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (i = 0; i < n; i++)
        total += texts.lens[i];
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

    READ_LOCKED(self, status = lk_tokenizer_segment_batch(self->tokenizer, texts.utf8, texts.lens, (size_t)n,
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
            if (end <= start || end > texts.lens[i]) {
                PyErr_Format(PyExc_RuntimeError,
                             "internal error in LSTMKit: token %zu of text %zd ends at byte %zu "
                             "(previous end %zu, text length %zu)",
                             k, i, end, start, texts.lens[i]);
                goto fail;
            }
            token = PyUnicode_DecodeUTF8(texts.utf8[i] + start, (Py_ssize_t)(end - start), "strict");
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
        if (start != texts.lens[i]) {
            PyErr_Format(PyExc_RuntimeError,
                         "internal error in LSTMKit: the tokens of text %zd cover %zu of its %zu "
                         "bytes",
                         i, start, texts.lens[i]);
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
    PyMem_Free(counts);
    PyMem_Free(ends);
    str_seq_release(&texts);
    return result;
}

/* add_words(words): words is a sequence of str without NUL characters. */
static PyObject *TokenizerHandle_add_words(TokenizerHandle *self, PyObject *arg)
{
    PyObject *result = NULL;
    str_seq words = {NULL};
    lk_status status;

    if (!str_seq_take(&words, arg))
        return NULL;
    if (words.n == 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    if (!str_seq_utf8(&words, "words", UTF8_NUL_FREE))
        goto done;
    WRITE_LOCKED(self, status = lk_tokenizer_add_words(self->tokenizer, words.utf8, (size_t)words.n));
    if (lk_ok(status))
        result = Py_NewRef(Py_None);
done:
    str_seq_release(&words);
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

/* words() -> list of str: the user words as kept, sorted (lk_tokenizer_words). */
static PyObject *TokenizerHandle_words(TokenizerHandle *self, PyObject *Py_UNUSED(ignored))
{
    size_t size = 0;
    char *buffer;
    PyObject *text, *result;
    lk_status status;

    /* Ask for the size and fill under one read lock, so no writer slips in between. */
    READ_LOCKED(self, {
        status = lk_tokenizer_words(self->tokenizer, NULL, 0, &size);
        buffer = status == LK_STATUS_OK ? malloc(size + 1) : NULL;
        if (buffer != NULL)
            status = lk_tokenizer_words(self->tokenizer, buffer, size + 1, &size);
    });
    if (!lk_ok(status))
        return NULL;
    if (buffer == NULL)
        return PyErr_NoMemory();
    text = PyUnicode_DecodeUTF8(buffer, (Py_ssize_t)size, "strict");
    free(buffer);
    if (text == NULL)
        return NULL;
    result = size == 0 ? PyList_New(0) : PyUnicode_Splitlines(text, 0);
    Py_DECREF(text);
    return result;
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
    {"words", (PyCFunction)TokenizerHandle_words, METH_NOARGS,
     "words() -> the user words as kept (normalised), sorted"},
    HANDLE_SAVE_METHOD(TokenizerHandle),
    {NULL, NULL, 0, NULL},
};

#define FIELD(name, kind) TRAIN_FIELD(lk_tokenizer_train_config, name, FIELD_##kind)
static const train_field train_fields[] = {
    FIELD(epochs, INT32), FIELD(batch_size, INT32), FIELD(learning_rate, FLOAT),
    FIELD(hidden_size, INT32), FIELD(num_layers, INT32), FIELD(char_dim, INT32),
    FIELD(bigram_dim, INT32), FIELD(min_bigram_count, INT32), FIELD(dropout, FLOAT),
    FIELD(label_smoothing, FLOAT), FIELD(patience, INT32), FIELD(threads, INT32),
    FIELD(max_batches_per_epoch, INT32), FIELD(seed, UINT64),
    FIELD(dictionary_max_length, INT32), FIELD(unknown_bigram_rate, FLOAT),
    FIELD(feature_dropout, FLOAT), FIELD(lexicon_max_length, INT32),
    FIELD(average_decay, FLOAT), FIELD(dictionary_min_count, INT32),
    {NULL},
};
#undef FIELD

TRAIN_CONFIG_DEFAULT(tokenizer, train_fields)

/* tokenizer_train(train: bytes, dev: bytes, config: dict, checkpoint: path or None,
 *                 progress: callable or None, lexicon: bytes or None) -> handle */
static PyObject *native_tokenizer_train(PyObject *Py_UNUSED(module), PyObject *args)
{
    const char *train, *dev, *lexicon = NULL;
    Py_ssize_t train_len, dev_len, lexicon_len = 0;
    PyObject *config_obj, *checkpoint_obj, *progress_obj, *checkpoint = NULL, *result = NULL;
    lk_tokenizer_train_config config = lk_tokenizer_train_config_default();
    progress_state state;
    lk_tokenizer *tokenizer = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "y#y#OOO|z#:tokenizer_train", &train, &train_len, &dev, &dev_len,
                          &config_obj, &checkpoint_obj, &progress_obj, &lexicon, &lexicon_len))
        return NULL;
    if (!fields_from_dict(config_obj, train_fields, &config))
        return NULL;
    config.lexicon = lexicon; /* borrowed: args holds the bytes */
    config.lexicon_len = (size_t)lexicon_len;
    if (checkpoint_obj != Py_None && !PyUnicode_FSConverter(checkpoint_obj, &checkpoint))
        return NULL;
    if (!progress_init(&state, progress_obj))
        goto done;

    TRAINING(status = lk_tokenizer_train(train, (size_t)train_len, dev, (size_t)dev_len, &config,
                                         checkpoint ? PyBytes_AS_STRING(checkpoint) : NULL,
                                         progress_fn(&state), &state, &tokenizer));
    result = wrap_tokenizer(status, tokenizer, &state);
done:
    Py_XDECREF(checkpoint);
    return result;
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
    return wrap_tokenizer(status, tokenizer, NULL);
}

MODEL_PART(tokenizer, TokenizerHandle,
           TRAINED_MODEL_FUNCTIONS(tokenizer, "(train, dev, config, checkpoint, progress)"),
           {"tokenizer_ensemble", native_tokenizer_ensemble, METH_O,
            "tokenizer_ensemble(handles) -> handle"});
