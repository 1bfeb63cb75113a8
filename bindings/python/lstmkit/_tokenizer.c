/*
 * lstmkit._native: the tokenizer handle (lk_tokenizer) and tokenizer_load/train/ensemble.
 * Readers: segment (the header allows concurrent calls), config, setting, save, word_count and words;
 * writers: add_words, load_dict and clear_words (they must not overlap any other call).
 */
#include "_common.h"

HANDLE_TYPE(TokenizerHandle, tokenizer, /* nothing read once */, 1)

TRAINED_MODEL(TokenizerHandle)

/* The tokens of text i: its UTF-8 cut at the byte offsets ends[0..count); NULL with
 * RuntimeError if the library's offsets do not cut it into whole characters. */
static PyObject *tokens_of(const str_seq *texts, Py_ssize_t i, const size_t *ends, size_t count)
{
    PyObject *list = PyList_New((Py_ssize_t)count);
    size_t k, start = 0, len = texts->lens[i];

    for (k = 0; list != NULL && k < count; k++) {
        PyObject *token = ends[k] > start && ends[k] <= len
                              ? PyUnicode_DecodeUTF8(texts->utf8[i] + start, (Py_ssize_t)(ends[k] - start), "strict")
                              : NULL;
        if (token == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)k, token);
        start = ends[k];
    }
    if (list == NULL || start != len) {
        Py_XDECREF(list);
        PyErr_Clear();
        return PyErr_Format(PyExc_RuntimeError,
                            "internal error in LSTMKit: the token ends of text %zd do not cut its %zu bytes", i, len);
    }
    return list;
}

/* segment(texts, threads, single) -> list of lists of str. texts: a sequence of str;
 * errors name "text" when single is true, else "texts[i]". */
static PyObject *TokenizerHandle_segment(PyObject *obj, PyObject *args)
{
    TokenizerHandle *self = (TokenizerHandle *)obj;
    PyObject *texts_obj, *threads_obj, *result = NULL;
    str_seq texts = {NULL};
    int single = 0;
    int32_t threads;
    Py_ssize_t i;
    size_t *counts = NULL, *ends = NULL, total = 0, offset = 0;
    lk_status status;

    if (!PyArg_ParseTuple(args, "OOp:segment", &texts_obj, &threads_obj, &single) ||
        !int32_arg(threads_obj, "threads", &threads) ||
        !str_seq_take(&texts, texts_obj, single ? "text" : "texts", single ? UTF8_ALONE : 0))
        goto done;
    if (texts.n == 0) {
        result = PyList_New(0);
        goto done;
    }
    for (i = 0; i < texts.n; i++)
        total += texts.lens[i];
    /* A capacity of the total length in bytes is always enough (a token is >= 1 byte). */
    counts = PyMem_Calloc((size_t)texts.n + 1, sizeof *counts);
    ends = total <= (size_t)PY_SSIZE_T_MAX / sizeof *ends ? PyMem_Malloc(total * sizeof *ends + 1) : NULL;
    if (counts == NULL || ends == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    READ_LOCKED(self, status = lk_tokenizer_segment_batch(self->model, texts.utf8, texts.lens, (size_t)texts.n,
                                                          threads, ends, total, counts));
    if (!lk_ok(status) || (result = PyList_New(texts.n)) == NULL)
        goto done;
    for (i = 0; i < texts.n; i++) {
        PyObject *tokens = counts[i] <= total - offset ? tokens_of(&texts, i, ends + offset, counts[i]) : NULL;
        if (tokens == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_RuntimeError, "internal error in LSTMKit: more token ends than bytes");
            Py_CLEAR(result);
            break;
        }
        PyList_SET_ITEM(result, i, tokens);
        offset += counts[i];
    }
done:
    PyMem_Free(counts);
    PyMem_Free(ends);
    str_seq_release(&texts);
    return result;
}

/* add_words(words): words is a sequence of str without NUL characters. */
static PyObject *TokenizerHandle_add_words(PyObject *obj, PyObject *arg)
{
    TokenizerHandle *self = (TokenizerHandle *)obj;
    str_seq words = {NULL};
    lk_status status = LK_STATUS_OK;
    int ok = str_seq_take(&words, arg, "words", UTF8_NUL_FREE);

    if (ok && words.n > 0)
        WRITE_LOCKED(self, status = lk_tokenizer_add_words(self->model, words.utf8, (size_t)words.n));
    str_seq_release(&words);
    return ok && lk_ok(status) ? Py_NewRef(Py_None) : NULL;
}

static PyObject *TokenizerHandle_load_dict(PyObject *obj, PyObject *args)
{
    TokenizerHandle *self = (TokenizerHandle *)obj;
    PyObject *path = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "O&:load_dict", PyUnicode_FSConverter, &path))
        return NULL;
    WRITE_LOCKED(self, status = lk_tokenizer_load_dict(self->model, PyBytes_AS_STRING(path)));
    Py_DECREF(path);
    return lk_ok(status) ? Py_NewRef(Py_None) : NULL;
}

static PyObject *TokenizerHandle_clear_words(PyObject *obj, PyObject *Py_UNUSED(ignored))
{
    TokenizerHandle *self = (TokenizerHandle *)obj;
    lk_status status;
    WRITE_LOCKED(self, status = lk_tokenizer_clear_words(self->model));
    return lk_ok(status) ? Py_NewRef(Py_None) : NULL;
}

static PyObject *TokenizerHandle_word_count(PyObject *obj, PyObject *Py_UNUSED(ignored))
{
    TokenizerHandle *self = (TokenizerHandle *)obj;
    size_t count = 0;
    lk_status status;
    READ_LOCKED(self, status = lk_tokenizer_word_count(self->model, &count));
    return lk_ok(status) ? PyLong_FromSize_t(count) : NULL;
}

/* words() -> list of str: the user words as kept, sorted (lk_tokenizer_words). */
static PyObject *TokenizerHandle_words(PyObject *obj, PyObject *Py_UNUSED(ignored))
{
    TokenizerHandle *self = (TokenizerHandle *)obj;
    size_t size = 0;
    char *buffer = NULL;
    PyObject *text, *result;
    lk_status status;

    /* Ask for the size and fill under one read lock, so no writer slips in between. */
    READ_LOCKED(self, {
        status = lk_tokenizer_words(self->model, NULL, 0, &size);
        if (status == LK_STATUS_OK && (buffer = PyMem_RawMalloc(size + 1)) != NULL)
            status = lk_tokenizer_words(self->model, buffer, size + 1, &size);
    });
    if (!lk_ok(status) || buffer == NULL) {
        PyMem_RawFree(buffer);
        return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    }
    text = PyUnicode_DecodeUTF8(buffer, (Py_ssize_t)size, "strict");
    PyMem_RawFree(buffer);
    result = text == NULL ? NULL : size == 0 ? PyList_New(0) : PyUnicode_Splitlines(text, 0);
    Py_XDECREF(text);
    return result;
}

static PyMethodDef TokenizerHandle_methods[] = {
    METHOD(TokenizerHandle, segment, METH_VARARGS, "segment(texts, threads, single) -> list of token lists"),
    METHOD(TokenizerHandle, add_words, METH_O, "add_words(words): adds user words"),
    METHOD(TokenizerHandle, load_dict, METH_VARARGS, "load_dict(path): adds a dictionary file's words"),
    METHOD(TokenizerHandle, clear_words, METH_NOARGS, "clear_words(): removes every user word"),
    METHOD(TokenizerHandle, word_count, METH_NOARGS, "word_count() -> the number of user words"),
    METHOD(TokenizerHandle, words, METH_NOARGS, "words() -> the user words as kept, sorted"),
    TRAINED_MODEL_METHODS(TokenizerHandle),
    {NULL, NULL, 0, NULL},
};


/* tokenizer_train(train: bytes, dev: bytes, config: dict (with the settings by name,
 *                 checkpoint_path among them), progress: callable or None,
 *                 lexicon: bytes or None) -> handle */
static PyObject *native_tokenizer_train(PyObject *Py_UNUSED(module), PyObject *args)
{
    const char *train, *dev, *lexicon = NULL;
    Py_ssize_t train_len, dev_len, lexicon_len = 0;
    PyObject *config_obj, *progress_obj, *result;
    lk_tokenizer_train_config config = lk_tokenizer_train_config_default();
    progress_state state;
    lk_tokenizer *tokenizer = NULL;
    lk_train_options *options = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "y#y#OO|z#:tokenizer_train", &train, &train_len, &dev, &dev_len, &config_obj,
                          &progress_obj, &lexicon, &lexicon_len) ||
        !train_setup(config_obj, progress_obj, &state, &options))
        return NULL;
    config.lexicon = lexicon; /* borrowed: args holds the bytes */
    config.lexicon_len = (size_t)lexicon_len;
    TRAINING(status = lk_tokenizer_train_ex(train, (size_t)train_len, dev, (size_t)dev_len, &config, options,
                                            progress_fn(&state), &state, &tokenizer));
    result = wrap_tokenizer(status, tokenizer, &state);
    lk_train_options_free(options);
    return result;
}

/* tokenizer_ensemble(handles) -> handle. The handles are held in a private tuple, so
 * they stay referenced while the GIL is released even if the caller's list changes. */
static PyObject *native_tokenizer_ensemble(PyObject *Py_UNUSED(module), PyObject *arg)
{
    PyObject *items = PySequence_Tuple(arg);
    Py_ssize_t n = items != NULL ? PyTuple_GET_SIZE(items) : 0, i;
    const lk_tokenizer **members = PyMem_Malloc(sizeof *members * ((size_t)n + 1));
    lk_tokenizer *tokenizer = NULL;
    lk_status status;

    for (i = 0; items != NULL && members != NULL && i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(items, i);
        if (!PyObject_TypeCheck(item, &TokenizerHandle_Type)) {
            PyErr_Format(PyExc_TypeError, "tokenizer_ensemble: item %zd is not a tokenizer handle", i);
            break;
        }
        members[i] = ((TokenizerHandle *)item)->model;
    }
    if (items == NULL || members == NULL || i < n) {
        PyMem_Free(members);
        Py_XDECREF(items);
        return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    status = lk_tokenizer_ensemble(members, (size_t)n, &tokenizer);
    Py_END_ALLOW_THREADS
    PyMem_Free(members);
    Py_DECREF(items);
    return wrap_tokenizer(status, tokenizer, NULL);
}

/* tokenizer_cut_offsets(handle, text) -> where each of cut's tokens ends, in characters:
 * no string built per token (issue 18, the C-to-Python crossing). */
static PyObject *native_tokenizer_cut_offsets(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *handle, *text, *result = NULL, *end;
    const char *utf8;
    size_t *ends, len, count = 0, k, byte = 0, chars = 0;
    lk_status status;

    if (!PyArg_ParseTuple(args, "O!U:tokenizer_cut_offsets", &TokenizerHandle_Type, &handle, &text) ||
        (utf8 = PyUnicode_AsUTF8AndSize(text, (Py_ssize_t *)&len)) == NULL)
        return NULL; /* not a str, or a lone surrogate (UnicodeEncodeError, a ValueError) */
    if ((ends = PyMem_Malloc(len * sizeof *ends + 1)) == NULL)
        return PyErr_NoMemory();
    READ_LOCKED((TokenizerHandle *)handle, status = lk_tokenizer_segment_batch(((TokenizerHandle *)handle)->model,
                                                       &utf8, &len, 1, 1, ends, len, &count));
    for (k = 0, result = lk_ok(status) ? PyList_New((Py_ssize_t)count) : NULL; result != NULL && k < count; k++) {
        for (; byte < ends[k] && byte < len; byte++) /* characters: bytes that continue none (10xxxxxx) */
            chars += ((unsigned char)utf8[byte] & 0xC0) != 0x80;
        if ((end = PyLong_FromSize_t(chars)) == NULL)
            Py_CLEAR(result);
        else
            PyList_SET_ITEM(result, (Py_ssize_t)k, end);
    }
    PyMem_Free(ends);
    return result;
}

MODEL_PART(tokenizer, TokenizerHandle, TRAINED_MODEL_FUNCTIONS(tokenizer),
           FUNCTION(tokenizer_ensemble, METH_O, "(handles) -> handle"),
           FUNCTION(tokenizer_cut_offsets, METH_VARARGS, "(handle, text) -> token end offsets in characters"));
