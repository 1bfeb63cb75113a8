/*
 * lstmkit._native: the image classifier handle (lk_image_classifier) and
 * image_classifier_load/train. Every call (predict, labels, save) is a reader; the
 * model's kind and input shape are read once.
 */
#include "_common.h"

HANDLE_TYPE(ImageClassifierHandle, image_classifier, classifier,
            int32_t num_classes; int32_t kind; lk_image_shape shape; /* fixed for its life */,
            lk_ok(lk_image_classifier_num_classes(self->classifier, &self->num_classes)) &&
                lk_ok(lk_image_classifier_kind(self->classifier, &self->kind)) &&
                lk_ok(lk_image_classifier_input_shape(self->classifier, &self->shape)),
            "An lk_image_classifier handle. Made by image_classifier_load() or "
            "image_classifier_train(); freed with the object.")

HANDLE_LABELS(ImageClassifierHandle, image_classifier, classifier)

#define FIELD(name, kind) TRAIN_FIELD(lk_image_classifier_train_config, name, FIELD_##kind)
static const train_field image_fields[] = {
    FIELD(kind, INT32), FIELD(hidden_size, INT32), FIELD(num_layers, INT32),
    FIELD(bidirectional, INT32), FIELD(columns, INT32), FIELD(pooling, INT32),
    FIELD(attention_size, INT32), FIELD(dropout, FLOAT), FIELD(epochs, INT32),
    FIELD(batch_size, INT32), FIELD(learning_rate, FLOAT), FIELD(clip_norm, FLOAT),
    FIELD(patience, INT32), FIELD(decay_factor, FLOAT), FIELD(time_limit, DOUBLE),
    FIELD(threads, INT32), FIELD(log_every, INT32), FIELD(seed, UINT64),
    TRAIN_LIST(lk_image_classifier_train_config, conv_channels, num_conv_blocks,
               LK_IMAGE_MAX_CONV_BLOCKS),
    {NULL},
};
#undef FIELD

HANDLE_CONFIG(ImageClassifierHandle, image_classifier, classifier, image_fields)

/* The dimensions of one example, (H, W, C) or (T, H, W, C), into dims; returns their
 * number. */
static int example_dims(const lk_image_shape *s, npy_intp dims[4])
{
    int k = 0;
    if (s->frames > 0)
        dims[k++] = (npy_intp)s->frames;
    dims[k++] = (npy_intp)s->height;
    dims[k++] = (npy_intp)s->width;
    dims[k++] = (npy_intp)s->channels;
    return k;
}

/* The example shape of a batch of images: (N, H, W) is one channel, (N, H, W, C) one
 * image each, (N, T, H, W, C) T frames each. 1 on success; else ValueError naming
 * `name` and 0. */
static int batch_shape(PyArrayObject *arr, const char *name, lk_image_shape *out)
{
    char got[SHAPE_BUF];
    const npy_intp *d = PyArray_DIMS(arr);
    int nd = PyArray_NDIM(arr), i;

    if (nd < 3 || nd > 5) {
        PyErr_Format(PyExc_ValueError,
                     "%s must have shape (N, H, W), (N, H, W, C) or (N, T, H, W, C), got %s", name,
                     shape_str(nd, d, got, sizeof got));
        return 0;
    }
    for (i = 1; i < nd; i++) {
        if (d[i] < 1) {
            PyErr_Format(PyExc_ValueError, "%s has an empty dimension: shape %s", name,
                         shape_str(nd, d, got, sizeof got));
            return 0;
        }
    }
    out->frames = nd == 5 ? (int64_t)d[1] : 0;
    out->height = (int64_t)d[nd == 5 ? 2 : 1];
    out->width = (int64_t)d[nd == 5 ? 3 : 2];
    out->channels = nd == 3 ? 1 : (int64_t)d[nd - 1];
    return 1;
}

/* predict_proba(X, threads) -> float32 array (n, C). X is checked against the model's
 * input shape ((N, H, W) is accepted for one channel). GIL released. */
static PyObject *ImageClassifierHandle_predict_proba(ImageClassifierHandle *self, PyObject *args)
{
    PyObject *x_obj, *threads_obj;
    PyArrayObject *x = NULL, *out = NULL;
    int32_t threads;
    lk_image_shape shape;
    npy_intp want[5], dims[2], n;
    char want_s[SHAPE_BUF], got_s[SHAPE_BUF];
    int k;
    lk_status status;

    if (!PyArg_ParseTuple(args, "OO:predict_proba", &x_obj, &threads_obj) ||
        !threads_arg(threads_obj, &threads))
        return NULL;
    x = as_float32(x_obj, "X");
    if (x == NULL)
        return NULL;
    want[0] = PyArray_NDIM(x) >= 1 ? PyArray_DIM(x, 0) : 0;
    k = 1 + example_dims(&self->shape, want + 1);
    if (!batch_shape(x, "X", &shape) || shape.frames != self->shape.frames ||
        shape.height != self->shape.height || shape.width != self->shape.width ||
        shape.channels != self->shape.channels) {
        if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_ValueError))
            goto done;
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "X must have shape %s%s, got %s: this model takes %s",
                     shape_str(k, want, want_s, sizeof want_s),
                     self->shape.channels == 1 && self->shape.frames == 0 ? " (or without the last axis)" : "",
                     shape_str(PyArray_NDIM(x), PyArray_DIMS(x), got_s, sizeof got_s),
                     self->shape.frames > 0 ? "sequences of frames (N, T, H, W, C)" : "images (N, H, W, C)");
        goto done;
    }
    if (!check_finite_images(x, "X"))
        goto done;
    n = PyArray_DIM(x, 0);
    dims[0] = n;
    dims[1] = (npy_intp)self->num_classes;
    out = (PyArrayObject *)PyArray_SimpleNew(2, dims, NPY_FLOAT32);
    if (out == NULL)
        goto done;
    READ_LOCKED(self, status = lk_image_classifier_predict(
                          self->classifier, (const float *)PyArray_DATA(x), (size_t)n, &self->shape,
                          (size_t)PyArray_SIZE(x), threads, (float *)PyArray_DATA(out),
                          (size_t)n * (size_t)self->num_classes));
    if (!lk_ok(status))
        Py_CLEAR(out);
done:
    Py_XDECREF(x);
    return (PyObject *)out;
}

/* input_shape() -> (H, W, C) or (T, H, W, C) */
static PyObject *ImageClassifierHandle_input_shape(ImageClassifierHandle *self, PyObject *Py_UNUSED(ignored))
{
    const lk_image_shape *s = &self->shape;
    if (s->frames > 0)
        return Py_BuildValue("(LLLL)", (long long)s->frames, (long long)s->height,
                             (long long)s->width, (long long)s->channels);
    return Py_BuildValue("(LLL)", (long long)s->height, (long long)s->width, (long long)s->channels);
}

/* kind() -> "rows" or "cnn" */
static PyObject *ImageClassifierHandle_kind(ImageClassifierHandle *self, PyObject *Py_UNUSED(ignored))
{
    return PyUnicode_FromString(self->kind == LK_IMAGE_KIND_CNN ? "cnn" : "rows");
}

static PyMethodDef ImageClassifierHandle_methods[] = {
    {"predict_proba", (PyCFunction)ImageClassifierHandle_predict_proba, METH_VARARGS,
     "predict_proba(X, threads) -> float32 array (n, num_classes) (GIL released)"},
    HANDLE_LABELS_METHOD(ImageClassifierHandle),
    HANDLE_CONFIG_METHOD(ImageClassifierHandle),
    {"input_shape", (PyCFunction)ImageClassifierHandle_input_shape, METH_NOARGS,
     "input_shape() -> (H, W, C) or (T, H, W, C): one example's shape"},
    {"kind", (PyCFunction)ImageClassifierHandle_kind, METH_NOARGS, "kind() -> 'rows' or 'cnn'"},
    HANDLE_SAVE_METHOD(ImageClassifierHandle),
    {NULL, NULL, 0, NULL},
};

/* conv_channels is a list in the dict; num_conv_blocks its length. */

TRAIN_CONFIG_DEFAULT(image_classifier, image_fields)

/* image_classifier_train(X, labels, X_dev, dev_labels, config: dict,
 *                        progress: callable or None) -> handle. GIL released.
 * X and X_dev: (N, H, W), (N, H, W, C) or (N, T, H, W, C) arrays of real numbers with
 * the same example shape; labels: sequences of str (no NUL), one per example. */
static PyObject *native_image_classifier_train(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *x_obj, *l_obj, *dx_obj, *dl_obj, *config_obj, *progress_obj, *result = NULL;
    PyArrayObject *x = NULL, *dx = NULL;
    str_seq tl = {NULL}, dl = {NULL};
    lk_image_classifier_train_config config = lk_image_classifier_train_config_default();
    lk_image_shape shape, dev_shape;
    progress_state state;
    lk_image_classifier *classifier = NULL;
    char got[SHAPE_BUF], want[SHAPE_BUF];
    lk_status status;

    if (!PyArg_ParseTuple(args, "OOOOOO:image_classifier_train", &x_obj, &l_obj, &dx_obj, &dl_obj,
                          &config_obj, &progress_obj))
        return NULL;
    if (!fields_from_dict(config_obj, image_fields, &config) ||
        !progress_init(&state, progress_obj))
        return NULL;
    if ((x = as_float32(x_obj, "X")) == NULL || (dx = as_float32(dx_obj, "validation X")) == NULL)
        goto done;
    if (!batch_shape(x, "X", &shape) || !batch_shape(dx, "validation X", &dev_shape))
        goto done;
    if (PyArray_DIM(x, 0) < 1 || PyArray_DIM(dx, 0) < 1) {
        PyErr_SetString(PyExc_ValueError, PyArray_DIM(x, 0) < 1 ? "X holds no images"
                                                                : "validation X holds no images");
        goto done;
    }
    if (memcmp(&shape, &dev_shape, sizeof shape) != 0) {
        npy_intp a[4], b[4];
        int na = example_dims(&shape, a), nb = example_dims(&dev_shape, b);
        PyErr_Format(PyExc_ValueError,
                     "the validation images are %s each but the training images are %s",
                     shape_str(nb, b, got, sizeof got), shape_str(na, a, want, sizeof want));
        goto done;
    }
    if (!check_finite_images(x, "X") || !check_finite_images(dx, "validation X"))
        goto done;
    if (!str_seq_take(&tl, l_obj) || !str_seq_take(&dl, dl_obj))
        goto done;
    if (tl.n != PyArray_DIM(x, 0) || dl.n != PyArray_DIM(dx, 0)) {
        int train_bad = tl.n != PyArray_DIM(x, 0);
        PyErr_Format(PyExc_ValueError, "%s holds %zd images but %s holds %zd labels",
                     train_bad ? "X" : "validation X", (Py_ssize_t)PyArray_DIM(train_bad ? x : dx, 0),
                     train_bad ? "y" : "validation y", train_bad ? tl.n : dl.n);
        goto done;
    }
    if (!str_seq_utf8(&tl, "labels", UTF8_NUL_FREE) ||
        !str_seq_utf8(&dl, "validation labels", UTF8_NUL_FREE))
        goto done;

    TRAINING(status = lk_image_classifier_train(
                 &shape, (const float *)PyArray_DATA(x), (size_t)PyArray_DIM(x, 0),
                 (size_t)PyArray_SIZE(x), tl.utf8, (const float *)PyArray_DATA(dx),
                 (size_t)PyArray_DIM(dx, 0), (size_t)PyArray_SIZE(dx), dl.utf8, &config,
                 progress_fn(&state), &state, &classifier));
    result = wrap_image_classifier(status, classifier, &state);
done:
    str_seq_release(&tl);
    str_seq_release(&dl);
    Py_XDECREF(x);
    Py_XDECREF(dx);
    return result;
}

MODEL_PART(image_classifier, ImageClassifierHandle,
           TRAINED_MODEL_FUNCTIONS(image_classifier,
                                   "(X, labels, X_dev, dev_labels, config, progress)"));
