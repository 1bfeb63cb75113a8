/*
 * lstmkit._native: the sequence classifier handle (lk_sequence_classifier) and
 * sequence_classifier_load/train. Sequences arrive as the package padded them: values
 * float32 (N, T, C) and lengths int32 (N,). Every call (predict, attention, labels,
 * save) is a reader.
 */
#include "_common.h"

HANDLE_TYPE(SequenceClassifierHandle, sequence_classifier, int32_t num_classes;,
            lk_ok(lk_sequence_classifier_num_classes(self->model, &self->num_classes)))

TRAINED_MODEL(SequenceClassifierHandle)
CLASSIFIER_LABELS(SequenceClassifierHandle, sequence_classifier)

/* The package's (values (N, T, C) float32, lengths (N,) int32) as lk_sequences; the
 * arrays (new references in *values and *lengths) must outlive it. */
static int sequences_take(PyObject *values_obj, PyObject *lengths_obj, lk_sequences *s, PyArrayObject **values,
                          PyArrayObject **lengths)
{
    if ((*values = AS_ARRAY(values_obj, NPY_FLOAT32)) == NULL || (*lengths = AS_ARRAY(lengths_obj, NPY_INT32)) == NULL)
        return 0;
    if (PyArray_NDIM(*values) != 3 || PyArray_NDIM(*lengths) != 1 || PyArray_DIM(*lengths, 0) != PyArray_DIM(*values, 0)) {
        PyErr_SetString(PyExc_ValueError, "sequences: values (N, T, C) and lengths (N,)");
        return 0;
    }
    *s = (lk_sequences){FLOATS(*values), SIZE(*values), (const int32_t *)PyArray_DATA(*lengths),
                        (size_t)PyArray_DIM(*values, 0), (size_t)PyArray_DIM(*values, 1), (size_t)PyArray_DIM(*values, 2)};
    return 1;
}

/* predict_proba / attention((values, lengths), threads) -> float32 (N, K) / (N, T). */
static PyObject *infer(PyObject *obj, PyObject *args, int attention)
{
    SequenceClassifierHandle *self = (SequenceClassifierHandle *)obj;
    PyObject *v_obj, *l_obj, *threads_obj;
    PyArrayObject *values = NULL, *lengths = NULL, *out = NULL;
    lk_sequences x;
    int32_t threads;
    npy_intp dims[2];
    lk_status status;

    if (PyArg_ParseTuple(args, "(OO)O", &v_obj, &l_obj, &threads_obj) && int32_arg(threads_obj, "threads", &threads) &&
        sequences_take(v_obj, l_obj, &x, &values, &lengths)) {
        dims[0] = (npy_intp)x.n;
        dims[1] = attention ? (npy_intp)x.steps : (npy_intp)self->num_classes;
        if ((out = NEW_ARRAY(2, dims, NPY_FLOAT32)) != NULL) {
            READ_LOCKED(self, status = attention
                ? lk_sequence_classifier_attention(self->model, &x, threads, FLOATS(out), SIZE(out))
                : lk_sequence_classifier_predict(self->model, &x, threads, FLOATS(out), SIZE(out)));
            if (!lk_ok(status))
                Py_CLEAR(out);
        }
    }
    Py_XDECREF(values);
    Py_XDECREF(lengths);
    return (PyObject *)out;
}

static PyObject *SequenceClassifierHandle_predict_proba(PyObject *obj, PyObject *args) { return infer(obj, args, 0); }
static PyObject *SequenceClassifierHandle_attention(PyObject *obj, PyObject *args) { return infer(obj, args, 1); }

static PyMethodDef SequenceClassifierHandle_methods[] = {
    METHOD(SequenceClassifierHandle, predict_proba, METH_VARARGS, "predict_proba((values, lengths), threads) -> float32 (N, classes)"),
    METHOD(SequenceClassifierHandle, attention, METH_VARARGS, "attention((values, lengths), threads) -> float32 (N, T)"),
    METHOD(SequenceClassifierHandle, labels, METH_NOARGS, "labels() -> the class labels, in column order"),
    TRAINED_MODEL_METHODS(SequenceClassifierHandle),
    {NULL, NULL, 0, NULL},
};

/* sequence_classifier_train((values, lengths), labels, (values, lengths) or None,
 * dev_labels, config: dict, progress: callable or None) -> handle. Without dev, the
 * library holds out config's validation_fraction of the training set. */
static PyObject *native_sequence_classifier_train(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *tv, *tlen, *tl_obj, *dv, *dlen, *dl_obj, *config_obj, *progress_obj, *result = NULL;
    PyArrayObject *arrays[4] = {NULL};
    str_seq tl = {NULL}, dl = {NULL};
    lk_sequences train, dev = {0};
    lk_sequence_classifier_train_config config = lk_sequence_classifier_train_config_default();
    progress_state state;
    lk_sequence_classifier *classifier = NULL;
    lk_train_options *options = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "(OO)O(OO)OOO:sequence_classifier_train", &tv, &tlen, &tl_obj, &dv, &dlen, &dl_obj,
                          &config_obj, &progress_obj) ||
        !train_setup(config_obj, progress_obj, &state, &options))
        return NULL;
    if (sequences_take(tv, tlen, &train, &arrays[0], &arrays[1]) && sequences_take(dv, dlen, &dev, &arrays[2], &arrays[3]) &&
        str_seq_take(&tl, tl_obj, "labels", UTF8_NUL_FREE) && str_seq_take(&dl, dl_obj, "validation labels", UTF8_NUL_FREE)) {
        if ((size_t)tl.n != train.n || (size_t)dl.n != dev.n)
            PyErr_SetString(PyExc_ValueError, "sequence_classifier_train: a label per sequence");
        else {
            TRAINING(status = lk_sequence_classifier_train_ex(&train, tl.utf8, &dev, dl.utf8, &config, options,
                                                              progress_fn(&state), &state, &classifier));
            result = wrap_sequence_classifier(status, classifier, &state);
        }
    }
    str_seq_release(&tl);
    str_seq_release(&dl);
    for (int i = 0; i < 4; i++)
        Py_XDECREF(arrays[i]);
    lk_train_options_free(options);
    return result;
}

MODEL_PART(sequence_classifier, SequenceClassifierHandle, TRAINED_MODEL_FUNCTIONS(sequence_classifier));
