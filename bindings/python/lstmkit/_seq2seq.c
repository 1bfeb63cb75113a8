/*
 * lstmkit._native: the seq2seq handle (lk_seq2seq), seq2seq_load/train and
 * seq2seq_decoding_default. translate, attention and save are readers. Decoding options
 * arrive as (beam_size, n_best, length_penalty, max_length_ratio), checked by the library.
 * Text buffers are bytes objects (size + 1 bytes, writable until shared).
 */
#include "_common.h"

HANDLE_TYPE(Seq2SeqHandle, seq2seq, , 1)

TRAINED_MODEL(Seq2SeqHandle)

/* translate(texts, decoding, threads) -> (the n * n_best translations, text by text, as
 * one str separated by NULs; their scores float32 (n, n_best)). One call into 64 bytes a
 * translation; again at the size the library asks for. */
static PyObject *Seq2SeqHandle_translate(PyObject *obj, PyObject *args)
{
    Seq2SeqHandle *self = (Seq2SeqHandle *)obj;
    PyObject *texts_obj, *text = NULL, *result = NULL;
    PyArrayObject *offsets = NULL, *scores = NULL;
    str_seq texts = {NULL};
    lk_seq2seq_decoding d;
    int threads;
    size_t size;
    npy_intp dims[2];
    lk_status status = LK_STATUS_BUFFER_TOO_SMALL;

    if (!PyArg_ParseTuple(args, "O(iiff)i:translate", &texts_obj, &d.beam_size, &d.n_best, &d.length_penalty,
                          &d.max_length_ratio, &threads) ||
        !str_seq_take(&texts, texts_obj, "texts", UTF8_NUL_FREE))
        goto done;
    dims[0] = texts.n;
    dims[1] = d.n_best > 0 ? d.n_best : 0;
    if ((offsets = NEW_ARRAY(2, dims, NPY_UINTP)) == NULL || (scores = NEW_ARRAY(2, dims, NPY_FLOAT32)) == NULL)
        goto done;
    for (size = 64 * SIZE(scores); status == LK_STATUS_BUFFER_TOO_SMALL;) {
        Py_XSETREF(text, PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size));
        if (text == NULL)
            goto done;
        READ_LOCKED(self, status = lk_seq2seq_translate(self->model, texts.utf8, (size_t)texts.n, &d, threads,
                                                        PyBytes_AS_STRING(text), size + 1, &size,
                                                        (size_t *)PyArray_DATA(offsets), FLOATS(scores), SIZE(scores)));
    }
    if (lk_ok(status))
        result = Py_BuildValue("(NO)", PyUnicode_DecodeUTF8(PyBytes_AS_STRING(text), (Py_ssize_t)size, "strict"), scores);
done:
    Py_XDECREF(text);
    Py_XDECREF(offsets);
    Py_XDECREF(scores);
    str_seq_release(&texts);
    return result;
}

/* attention(text, decoding, rank) -> (the output tokens then the source tokens as one str
 * separated by NULs, float32 weights (outputs, sources)): the sizes first, then the buffers. */
static PyObject *Seq2SeqHandle_attention(PyObject *obj, PyObject *args)
{
    Seq2SeqHandle *self = (Seq2SeqHandle *)obj;
    PyObject *tokens = NULL, *result = NULL;
    PyArrayObject *weights = NULL;
    const char *text; /* UTF-8 without NUL (the "s" conversion), alive with args */
    lk_seq2seq_decoding d;
    int rank;
    size_t rows = 0, columns = 0, size = 0;
    npy_intp dims[2];
    lk_status status;

    if (!PyArg_ParseTuple(args, "s(iiff)i:attention", &text, &d.beam_size, &d.n_best, &d.length_penalty,
                          &d.max_length_ratio, &rank))
        return NULL;
    READ_LOCKED(self, status = lk_seq2seq_attention(self->model, text, &d, rank, NULL, 0, &rows, &columns, NULL, 0, &size));
    dims[0] = (npy_intp)rows;
    dims[1] = (npy_intp)columns;
    if (!lk_ok(status) || (weights = NEW_ARRAY(2, dims, NPY_FLOAT32)) == NULL ||
        (tokens = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size)) == NULL)
        goto done;
    READ_LOCKED(self, status = lk_seq2seq_attention(self->model, text, &d, rank, FLOATS(weights), SIZE(weights), &rows,
                                                    &columns, PyBytes_AS_STRING(tokens), size + 1, &size));
    if (lk_ok(status))
        result = Py_BuildValue("(NO)", PyUnicode_DecodeUTF8(PyBytes_AS_STRING(tokens), (Py_ssize_t)size, "strict"), weights);
done:
    Py_XDECREF(tokens);
    Py_XDECREF(weights);
    return result;
}

static PyMethodDef Seq2SeqHandle_methods[] = {
    METHOD(Seq2SeqHandle, translate, METH_VARARGS, "translate(texts, decoding, threads) -> (texts, scores)"),
    METHOD(Seq2SeqHandle, attention, METH_VARARGS, "attention(text, decoding, rank) -> (tokens, weights)"),
    TRAINED_MODEL_METHODS(Seq2SeqHandle),
    {NULL, NULL, 0, NULL},
};

static PyObject *native_seq2seq_decoding_default(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    lk_seq2seq_decoding d = lk_seq2seq_decoding_default();
    return Py_BuildValue("{sisisdsd}", "beam_size", (int)d.beam_size, "n_best", (int)d.n_best, "length_penalty",
                         (double)d.length_penalty, "max_length_ratio", (double)d.max_length_ratio);
}

/* seq2seq_train(sources, targets, dev_sources, dev_targets, config: dict, progress) -> handle. */
static PyObject *native_seq2seq_train(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *o[4], *config_obj, *progress_obj, *result = NULL;
    str_seq s[4] = {{NULL}, {NULL}, {NULL}, {NULL}};
    progress_state state;
    lk_train_options *options = NULL;
    lk_seq2seq *model = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "OOOOOO:seq2seq_train", &o[0], &o[1], &o[2], &o[3], &config_obj, &progress_obj) ||
        !train_setup(config_obj, progress_obj, &state, &options))
        return NULL;
    if (str_seq_take(&s[0], o[0], "sources", UTF8_NUL_FREE) && str_seq_take(&s[1], o[1], "targets", UTF8_NUL_FREE) &&
        str_seq_take(&s[2], o[2], "validation sources", UTF8_NUL_FREE) &&
        str_seq_take(&s[3], o[3], "validation targets", UTF8_NUL_FREE)) {
        if (s[0].n != s[1].n || s[2].n != s[3].n)
            PyErr_SetString(PyExc_ValueError, "seq2seq_train: a target per source");
        else {
            TRAINING(status = lk_seq2seq_train(s[0].utf8, s[1].utf8, (size_t)s[0].n, s[2].utf8, s[3].utf8, (size_t)s[2].n,
                                               options, progress_fn(&state), &state, &model));
            result = wrap_seq2seq(status, model, &state);
        }
    }
    for (int i = 0; i < 4; i++)
        str_seq_release(&s[i]);
    lk_train_options_free(options);
    return result;
}

/* heat_map_png(weights: 2-D float32, path) -> None: lk_heat_map_png (attention's PNG). */
static PyObject *native_heat_map_png(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *obj, *path = NULL, *result = NULL;
    PyArrayObject *w = NULL;
    if (!PyArg_ParseTuple(args, "OO&:heat_map_png", &obj, PyUnicode_FSConverter, &path))
        return NULL;
    if ((w = AS_ARRAY(obj, NPY_FLOAT32)) != NULL && PyArray_NDIM(w) != 2)
        PyErr_SetString(PyExc_ValueError, "heat_map_png: the weights must be a matrix (2-D)");
    else if (w != NULL && lk_ok(lk_heat_map_png(FLOATS(w), (size_t)PyArray_DIM(w, 0), (size_t)PyArray_DIM(w, 1),
                                                PyBytes_AS_STRING(path))))
        result = Py_NewRef(Py_None);
    Py_XDECREF(w);
    Py_DECREF(path);
    return result;
}

MODEL_PART(seq2seq, Seq2SeqHandle, TRAINED_MODEL_FUNCTIONS(seq2seq),
           FUNCTION(seq2seq_decoding_default, METH_NOARGS, "() -> dict: the engine's decoding defaults"),
           FUNCTION(heat_map_png, METH_VARARGS, "(weights, path): a PNG heat map of a 2-D float32 matrix"));
