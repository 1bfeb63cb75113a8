/*
 * lstmkit._native: the image classifier handle (lk_image_classifier) and
 * image_classifier_load/train. Every call (predict, labels, config, setting, save) is
 * a reader; the number of classes is read once.
 */
#include "_common.h"

HANDLE_TYPE(ImageClassifierHandle, image_classifier, int32_t num_classes;,
            lk_ok(lk_image_classifier_num_classes(self->model, &self->num_classes)))

/* conv_channels is a list in the dict; num_conv_blocks its length. */
TRAINED_MODEL(ImageClassifierHandle)
CLASSIFIER_LABELS(ImageClassifierHandle, image_classifier)

/* predict_proba(X, threads) -> float32 array (N, C) for images of the model's shape. */
static PyObject *ImageClassifierHandle_predict_proba(PyObject *obj, PyObject *args)
{
    ImageClassifierHandle *self = (ImageClassifierHandle *)obj;
    PyObject *x_obj, *threads_obj;
    PyArrayObject *x = NULL, *out = NULL;
    int32_t threads;
    lk_image_shape shape;
    npy_intp dims[2];
    lk_status status;

    if (!PyArg_ParseTuple(args, "OO:predict_proba", &x_obj, &threads_obj) ||
        !int32_arg(threads_obj, "threads", &threads) || (x = image_batch(x_obj, "X", &shape)) == NULL)
        return NULL;
    dims[0] = PyArray_DIM(x, 0);
    dims[1] = (npy_intp)self->num_classes;
    if ((out = NEW_ARRAY(2, dims, NPY_FLOAT32)) != NULL) {
        READ_LOCKED(self, status = lk_image_classifier_predict(self->model, FLOATS(x), (size_t)dims[0], &shape,
                                                               SIZE(x), threads, FLOATS(out), SIZE(out)));
        if (!lk_ok(status))
            Py_CLEAR(out);
    }
    Py_DECREF(x);
    return (PyObject *)out;
}

static PyMethodDef ImageClassifierHandle_methods[] = {
    METHOD(ImageClassifierHandle, predict_proba, METH_VARARGS, "predict_proba(X, threads) -> float32 (N, classes)"),
    METHOD(ImageClassifierHandle, labels, METH_NOARGS, "labels() -> the class labels, in column order"),
    TRAINED_MODEL_METHODS(ImageClassifierHandle),
    {NULL, NULL, 0, NULL},
};

/* image_classifier_train(X, labels, X_dev, dev_labels, config: dict, progress: callable
 * or None) -> handle. X and X_dev: images of one example shape (image_batch); labels:
 * sequences of str (no NUL), one per image. */
static PyObject *native_image_classifier_train(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *x_obj, *l_obj, *dx_obj, *dl_obj, *config_obj, *progress_obj, *result = NULL;
    PyArrayObject *x = NULL, *dx = NULL;
    str_seq tl = {NULL}, dl = {NULL};
    lk_image_classifier_train_config config = lk_image_classifier_train_config_default();
    lk_image_shape shape, dev_shape;
    progress_state state;
    lk_image_classifier *classifier = NULL;
    lk_train_options *options = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "OOOOOO:image_classifier_train", &x_obj, &l_obj, &dx_obj, &dl_obj, &config_obj,
                          &progress_obj) ||
        !train_setup(config_obj, progress_obj, &state, &options))
        return NULL;
    if ((x = image_batch(x_obj, "X", &shape)) != NULL && (dx = image_batch(dx_obj, "validation X", &dev_shape)) &&
        str_seq_take(&tl, l_obj, "labels", UTF8_NUL_FREE) && str_seq_take(&dl, dl_obj, "validation labels", UTF8_NUL_FREE)) {
        /* The library reads one label per image, and validation images of the training shape. */
        if (tl.n != PyArray_DIM(x, 0) || dl.n != PyArray_DIM(dx, 0) || memcmp(&shape, &dev_shape, sizeof shape))
            PyErr_SetString(PyExc_ValueError, "image_classifier_train: a label per image, one image shape");
        else {
            TRAINING(status = lk_image_classifier_train_ex(&shape, FLOATS(x), (size_t)PyArray_DIM(x, 0), SIZE(x),
                                                           tl.utf8, FLOATS(dx), (size_t)PyArray_DIM(dx, 0), SIZE(dx),
                                                           dl.utf8, &config, options, progress_fn(&state), &state,
                                                           &classifier));
            result = wrap_image_classifier(status, classifier, &state);
        }
    }
    str_seq_release(&tl);
    str_seq_release(&dl);
    Py_XDECREF(x);
    Py_XDECREF(dx);
    lk_train_options_free(options);
    return result;
}

MODEL_PART(image_classifier, ImageClassifierHandle, TRAINED_MODEL_FUNCTIONS(image_classifier));
