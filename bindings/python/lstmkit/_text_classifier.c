/*
 * lstmkit._native: the text classifier handle (lk_text_classifier) and
 * text_classifier_load/train. Every call (predict, attention, labels, save) is a
 * reader: the header allows them concurrently.
 */
#include "_common.h"

HANDLE_TYPE(ClassifierHandle, text_classifier, int32_t num_classes; /* fixed for the handle's life */,
            lk_ok(lk_text_classifier_num_classes(self->model, &self->num_classes)))

TRAINED_MODEL(ClassifierHandle)
CLASSIFIER_LABELS(ClassifierHandle, text_classifier)

/* predict_proba(texts, threads) -> float32 array (n, C). */
static PyObject *ClassifierHandle_predict_proba(PyObject *obj, PyObject *args)
{
    ClassifierHandle *self = (ClassifierHandle *)obj;
    PyObject *texts_obj, *threads_obj;
    PyArrayObject *out = NULL;
    str_seq texts = {NULL};
    int32_t threads;
    npy_intp dims[2];
    lk_status status;

    if (PyArg_ParseTuple(args, "OO:predict_proba", &texts_obj, &threads_obj) &&
        int32_arg(threads_obj, "threads", &threads) && str_seq_take(&texts, texts_obj, "texts", 0)) {
        dims[0] = (npy_intp)texts.n;
        dims[1] = (npy_intp)self->num_classes;
        if ((out = NEW_ARRAY(2, dims, NPY_FLOAT32)) != NULL) {
            READ_LOCKED(self, status = lk_text_classifier_predict(self->model, texts.utf8, texts.lens,
                                                                  (size_t)texts.n, threads, FLOATS(out), SIZE(out)));
            if (!lk_ok(status))
                Py_CLEAR(out);
        }
    }
    str_seq_release(&texts);
    return (PyObject *)out;
}

/* attention(text) -> list of (token: str, weight: float): the tokens the model read and
 * their attention weights (ValueError from the library when the model's pooling is not
 * attention). One call, into buffers of twice the text's bytes and a weight per byte
 * (enough for its tokens, lower-cased and NUL-terminated, in practice); again with the
 * sizes the library asks for if they are too small. */
static PyObject *ClassifierHandle_attention(PyObject *obj, PyObject *args)
{
    ClassifierHandle *self = (ClassifierHandle *)obj;
    PyObject *text_obj, *one = NULL, *result = NULL;
    str_seq text = {NULL};
    char *tokens = NULL;
    float *weights = NULL;
    size_t tokens_size = 0, n = 0, i, at = 0;
    lk_status status;

    if (!PyArg_ParseTuple(args, "O:attention", &text_obj) || (one = PyTuple_Pack(1, text_obj)) == NULL ||
        !str_seq_take(&text, one, "text", UTF8_ALONE))
        goto done;
    tokens_size = 2 * text.lens[0] + 1;
    n = text.lens[0] + 1;
    do {
        PyMem_RawFree(tokens);
        PyMem_RawFree(weights);
        tokens = PyMem_RawMalloc(tokens_size + 1);
        weights = PyMem_RawMalloc(n * sizeof *weights + 1);
        status = LK_STATUS_OUT_OF_MEMORY;
        if (tokens != NULL && weights != NULL)
            READ_LOCKED(self, status = lk_text_classifier_attention(self->model, text.utf8[0], text.lens[0], tokens,
                                                                    tokens_size, &tokens_size, weights, n, &n));
    } while (status == LK_STATUS_BUFFER_TOO_SMALL);
    if (tokens == NULL || weights == NULL || !lk_ok(status) || (result = PyList_New((Py_ssize_t)n)) == NULL)
        goto done;
    for (i = 0; i < n; i++) { /* n NUL-terminated tokens */
        const char *nul = at < tokens_size ? memchr(tokens + at, '\0', tokens_size - at) : NULL;
        PyObject *pair = nul == NULL ? NULL : Py_BuildValue("(s#d)", tokens + at, (Py_ssize_t)(nul - (tokens + at)),
                                                            (double)weights[i]);
        if (pair == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_RuntimeError, "internal error in LSTMKit: fewer attention tokens than weights");
            Py_CLEAR(result);
            break;
        }
        PyList_SET_ITEM(result, (Py_ssize_t)i, pair);
        at = (size_t)(nul - tokens) + 1;
    }
done:
    if (!PyErr_Occurred() && result == NULL)
        PyErr_NoMemory();
    PyMem_RawFree(tokens);
    PyMem_RawFree(weights);
    str_seq_release(&text);
    Py_XDECREF(one);
    return result;
}

static PyMethodDef ClassifierHandle_methods[] = {
    METHOD(ClassifierHandle, predict_proba, METH_VARARGS, "predict_proba(texts, threads) -> float32 (n, classes)"),
    METHOD(ClassifierHandle, attention, METH_VARARGS, "attention(text) -> list of (token, weight)"),
    METHOD(ClassifierHandle, labels, METH_NOARGS, "labels() -> the class labels, in column order"),
    TRAINED_MODEL_METHODS(ClassifierHandle),
    {NULL, NULL, 0, NULL},
};

/* text_classifier_train(train_texts, train_labels, dev_texts, dev_labels, config: dict,
 *                       progress: callable or None) -> handle */
static PyObject *native_text_classifier_train(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *tt_obj, *tl_obj, *dt_obj, *dl_obj, *config_obj, *progress_obj, *result = NULL;
    str_seq tt = {NULL}, tl = {NULL}, dt = {NULL}, dl = {NULL};
    lk_text_classifier_train_config config = lk_text_classifier_train_config_default();
    progress_state state;
    lk_text_classifier *classifier = NULL;
    lk_train_options *options = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "OOOOOO:text_classifier_train", &tt_obj, &tl_obj, &dt_obj, &dl_obj, &config_obj,
                          &progress_obj) ||
        !train_setup(config_obj, progress_obj, &state, &options))
        return NULL;
    if (str_seq_take(&tt, tt_obj, "texts", 0) && str_seq_take(&tl, tl_obj, "labels", UTF8_NUL_FREE) &&
        str_seq_take(&dt, dt_obj, "validation texts", 0) &&
        str_seq_take(&dl, dl_obj, "validation labels", UTF8_NUL_FREE)) {
        if (tt.n != tl.n || dt.n != dl.n)
            PyErr_SetString(PyExc_ValueError, "texts and labels differ in length");
        else {
            TRAINING(status = lk_text_classifier_train_ex(tt.utf8, tt.lens, tl.utf8, (size_t)tt.n, dt.utf8, dt.lens,
                                                          dl.utf8, (size_t)dt.n, &config, options, progress_fn(&state),
                                                          &state, &classifier));
            result = wrap_text_classifier(status, classifier, &state);
        }
    }
    str_seq_release(&tt);
    str_seq_release(&tl);
    str_seq_release(&dt);
    str_seq_release(&dl);
    lk_train_options_free(options);
    return result;
}

MODEL_PART(text_classifier, ClassifierHandle, TRAINED_MODEL_FUNCTIONS(text_classifier));
