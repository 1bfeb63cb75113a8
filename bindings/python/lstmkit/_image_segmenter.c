/*
 * lstmkit._native: the image segmenter handle (lk_image_segmenter) and
 * image_segmenter_load/train. Every call (predict, predict_proba, evaluate, config,
 * save) is a reader; K and C are read once.
 */
#include "_common.h"

HANDLE_TYPE(ImageSegmenterHandle, image_segmenter, segmenter,
            int32_t num_classes; int32_t channels; /* fixed for the handle's life */,
            lk_ok(lk_image_segmenter_num_classes(self->segmenter, &self->num_classes)) &&
                lk_ok(lk_image_segmenter_channels(self->segmenter, &self->channels)),
            "An lk_image_segmenter handle. Made by image_segmenter_load() or "
            "image_segmenter_train(); freed with the object.")

/* encoder_channels is a list in the dict, num_blocks its length; class_weights is an
 * argument of its own. */
#define FIELD(name, kind) TRAIN_FIELD(lk_image_segmenter_train_config, name, FIELD_##kind)
static const train_field segmenter_fields[] = {
    FIELD(num_classes, INT32), FIELD(context, INT32), FIELD(hidden_size, INT32),
    FIELD(batch_norm, INT32), FIELD(upsampling, INT32), FIELD(attention_gates, INT32),
    FIELD(epochs, INT32), FIELD(batch_size, INT32), FIELD(learning_rate, FLOAT),
    FIELD(clip_norm, FLOAT), FIELD(patience, INT32), FIELD(decay_factor, FLOAT),
    FIELD(time_limit, DOUBLE), FIELD(dice_weight, FLOAT), FIELD(balance_classes, INT32),
    FIELD(threads, INT32), FIELD(log_every, INT32), FIELD(seed, UINT64), FIELD(schedule, INT32),
    FIELD(flip, INT32),
    TRAIN_LIST(lk_image_segmenter_train_config, encoder_channels, num_blocks,
               LK_SEGMENTER_MAX_BLOCKS),
    {NULL},
};
#undef FIELD

/* The shape of a batch of images for a segmenter: (N, H, W) is one channel, (N, H, W, C)
 * C channels; H and W >= 1. channels > 0 also requires that C. 1 on success; else
 * ValueError naming `name` and 0. */
static int seg_batch_shape(PyArrayObject *arr, const char *name, int32_t channels, lk_image_shape *out)
{
    char got[SHAPE_BUF];
    const npy_intp *d = PyArray_DIMS(arr);
    int nd = PyArray_NDIM(arr);

    if (nd != 3 && nd != 4) {
        PyErr_Format(PyExc_ValueError, "%s must have shape (N, H, W) or (N, H, W, C), got %s", name,
                     shape_str(nd, d, got, sizeof got));
        return 0;
    }
    if (d[1] < 1 || d[2] < 1 || (nd == 4 && d[3] < 1)) {
        PyErr_Format(PyExc_ValueError, "%s has an empty dimension: shape %s", name,
                     shape_str(nd, d, got, sizeof got));
        return 0;
    }
    out->frames = 0;
    out->height = (int64_t)d[1];
    out->width = (int64_t)d[2];
    out->channels = nd == 3 ? 1 : (int64_t)d[3];
    if (channels > 0 && out->channels != channels) {
        PyErr_Format(PyExc_ValueError,
                     "%s has shape %s: this model takes images of %d channel%s, (N, H, W, %d)%s", name,
                     shape_str(nd, d, got, sizeof got), (int)channels, channels == 1 ? "" : "s",
                     (int)channels, channels == 1 ? " or (N, H, W)" : "");
        return 0;
    }
    return 1;
}

/* masks as a C-contiguous int32 array of shape (N, H, W) matching the images' shape
 * (ValueError/TypeError naming `name` otherwise). Values are checked by the library. */
static PyArrayObject *seg_masks(PyObject *obj, const char *name, const char *images, npy_intp n,
                                const lk_image_shape *shape)
{
    PyArrayObject *masks = as_int32(obj, name);
    npy_intp want[3] = {n, (npy_intp)shape->height, (npy_intp)shape->width};
    char meaning[SHAPE_BUF + 64];

    if (masks == NULL)
        return NULL;
    snprintf(meaning, sizeof meaning, "(N, H, W) of %s = ", images);
    if (!check_shape(masks, name, meaning, 3, want)) {
        Py_DECREF(masks);
        return NULL;
    }
    return masks;
}

/* X as checked float32 images for this model, with their lk_image_shape. */
static PyArrayObject *seg_images(ImageSegmenterHandle *self, PyObject *obj, lk_image_shape *shape)
{
    PyArrayObject *x = as_float32(obj, "X");
    if (x == NULL)
        return NULL;
    if (!seg_batch_shape(x, "X", self->channels, shape) || !check_finite_images(x, "X")) {
        Py_DECREF(x);
        return NULL;
    }
    return x;
}

/* predict(X, threads) -> int32 array (N, H, W) of class indices, or with proba
 * predict_proba(X, threads) -> float32 array (N, H, W, K). GIL released. */
static PyObject *seg_predict(ImageSegmenterHandle *self, PyObject *args, int proba)
{
    PyObject *x_obj, *threads_obj;
    PyArrayObject *x = NULL, *out = NULL;
    int32_t threads;
    lk_image_shape shape;
    npy_intp dims[4];
    lk_status status;

    if (!PyArg_ParseTuple(args, proba ? "OO:predict_proba" : "OO:predict", &x_obj, &threads_obj) ||
        !threads_arg(threads_obj, &threads))
        return NULL;
    if ((x = seg_images(self, x_obj, &shape)) == NULL)
        return NULL;
    dims[0] = PyArray_DIM(x, 0);
    dims[1] = (npy_intp)shape.height;
    dims[2] = (npy_intp)shape.width;
    dims[3] = (npy_intp)self->num_classes;
    out = (PyArrayObject *)PyArray_SimpleNew(proba ? 4 : 3, dims, proba ? NPY_FLOAT32 : NPY_INT32);
    if (out == NULL)
        goto done;
    READ_LOCKED(self, status = proba ? lk_image_segmenter_predict_proba(
                                           self->segmenter, (const float *)PyArray_DATA(x),
                                           (size_t)dims[0], &shape, (size_t)PyArray_SIZE(x), threads,
                                           (float *)PyArray_DATA(out), (size_t)PyArray_SIZE(out))
                                     : lk_image_segmenter_predict(
                                           self->segmenter, (const float *)PyArray_DATA(x),
                                           (size_t)dims[0], &shape, (size_t)PyArray_SIZE(x), threads,
                                           (int32_t *)PyArray_DATA(out), (size_t)PyArray_SIZE(out)));
    if (!lk_ok(status))
        Py_CLEAR(out);
done:
    Py_DECREF(x);
    return (PyObject *)out;
}

static PyObject *ImageSegmenterHandle_predict(ImageSegmenterHandle *self, PyObject *args)
{
    return seg_predict(self, args, 0);
}

static PyObject *ImageSegmenterHandle_predict_proba(ImageSegmenterHandle *self, PyObject *args)
{
    return seg_predict(self, args, 1);
}


/* evaluate(X, masks, threads) -> (confusion int64 (K, K), pixel_accuracy, mean_iou).
 * GIL released. */
static PyObject *ImageSegmenterHandle_evaluate(ImageSegmenterHandle *self, PyObject *args)
{
    PyObject *x_obj, *m_obj, *threads_obj, *result = NULL;
    PyArrayObject *x = NULL, *masks = NULL, *confusion = NULL;
    int32_t threads;
    lk_image_shape shape;
    npy_intp dims[2];
    double accuracy = 0, mean_iou = 0;
    lk_status status;

    if (!PyArg_ParseTuple(args, "OOO:evaluate", &x_obj, &m_obj, &threads_obj) || !threads_arg(threads_obj, &threads))
        return NULL;
    if ((x = seg_images(self, x_obj, &shape)) == NULL)
        return NULL;
    if ((masks = seg_masks(m_obj, "masks", "X", PyArray_DIM(x, 0), &shape)) == NULL)
        goto done;
    dims[0] = dims[1] = (npy_intp)self->num_classes;
    if ((confusion = (PyArrayObject *)PyArray_SimpleNew(2, dims, NPY_INT64)) == NULL)
        goto done;
    READ_LOCKED(self, status = lk_image_segmenter_evaluate(
                          self->segmenter, (const float *)PyArray_DATA(x), (size_t)PyArray_DIM(x, 0), &shape,
                          (size_t)PyArray_SIZE(x), (const int32_t *)PyArray_DATA(masks),
                          (size_t)PyArray_SIZE(masks), threads, (int64_t *)PyArray_DATA(confusion),
                          (size_t)PyArray_SIZE(confusion), &accuracy, &mean_iou));
    if (lk_ok(status))
        result = Py_BuildValue("(Odd)", (PyObject *)confusion, accuracy, mean_iou);
done:
    Py_XDECREF(confusion);
    Py_XDECREF(masks);
    Py_DECREF(x);
    return result;
}

static PyObject *ImageSegmenterHandle_num_classes(ImageSegmenterHandle *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong((long)self->num_classes);
}

static PyObject *ImageSegmenterHandle_channels(ImageSegmenterHandle *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong((long)self->channels);
}

HANDLE_CONFIG(ImageSegmenterHandle, image_segmenter, segmenter, segmenter_fields)

static PyMethodDef ImageSegmenterHandle_methods[] = {
    {"predict", (PyCFunction)ImageSegmenterHandle_predict, METH_VARARGS,
     "predict(X, threads) -> int32 array (N, H, W) of class indices (GIL released)"},
    {"predict_proba", (PyCFunction)ImageSegmenterHandle_predict_proba, METH_VARARGS,
     "predict_proba(X, threads) -> float32 array (N, H, W, K) (GIL released)"},
    {"evaluate", (PyCFunction)ImageSegmenterHandle_evaluate, METH_VARARGS,
     "evaluate(X, masks, threads) -> (confusion (K, K) int64, pixel_accuracy, mean_iou) (GIL released)"},
    {"num_classes", (PyCFunction)ImageSegmenterHandle_num_classes, METH_NOARGS, "num_classes() -> K"},
    {"channels", (PyCFunction)ImageSegmenterHandle_channels, METH_NOARGS, "channels() -> C of the images"},
    HANDLE_CONFIG_METHOD(ImageSegmenterHandle),
    HANDLE_SAVE_METHOD(ImageSegmenterHandle),
    {NULL, NULL, 0, NULL},
};

TRAIN_CONFIG_DEFAULT(image_segmenter, segmenter_fields)

/* image_segmenter_train(X, masks, X_dev, masks_dev, config: dict, class_weights: None or
 *                       a 1-D array, progress: callable or None) -> handle. GIL released.
 * X and X_dev: (N, H, W) or (N, H, W, C) arrays of real numbers with the same C (H and W
 * may differ between them); masks: integer arrays (N, H, W) matching their images. */
static PyObject *native_image_segmenter_train(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *x_obj, *m_obj, *dx_obj, *dm_obj, *config_obj, *weights_obj, *progress_obj, *result = NULL;
    PyArrayObject *x = NULL, *dx = NULL, *m = NULL, *dm = NULL, *weights = NULL;
    lk_image_segmenter_train_config config = lk_image_segmenter_train_config_default();
    lk_image_shape shape, dev_shape;
    progress_state state;
    lk_image_segmenter *segmenter = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "OOOOOOO:image_segmenter_train", &x_obj, &m_obj, &dx_obj, &dm_obj,
                          &config_obj, &weights_obj, &progress_obj))
        return NULL;
    if (!fields_from_dict(config_obj, segmenter_fields, &config) ||
        !progress_init(&state, progress_obj))
        return NULL;
    if (weights_obj != Py_None) {
        if ((weights = as_float32(weights_obj, "class_weights")) == NULL)
            goto done;
        if (PyArray_NDIM(weights) != 1) {
            char got[SHAPE_BUF];
            PyErr_Format(PyExc_ValueError, "class_weights must be 1-D (num_classes,), got shape %s",
                         shape_str(PyArray_NDIM(weights), PyArray_DIMS(weights), got, sizeof got));
            goto done;
        }
        config.class_weights = (const float *)PyArray_DATA(weights);
        config.class_weights_count = (size_t)PyArray_SIZE(weights);
    }
    if ((x = as_float32(x_obj, "X")) == NULL || (dx = as_float32(dx_obj, "validation X")) == NULL)
        goto done;
    if (!seg_batch_shape(x, "X", 0, &shape) ||
        !seg_batch_shape(dx, "validation X", (int32_t)shape.channels, &dev_shape))
        goto done;
    if (PyArray_DIM(x, 0) < 1 || PyArray_DIM(dx, 0) < 1) {
        PyErr_SetString(PyExc_ValueError, PyArray_DIM(x, 0) < 1 ? "X holds no images"
                                                                : "validation X holds no images");
        goto done;
    }
    if (!check_finite_images(x, "X") || !check_finite_images(dx, "validation X"))
        goto done;
    if ((m = seg_masks(m_obj, "masks", "X", PyArray_DIM(x, 0), &shape)) == NULL ||
        (dm = seg_masks(dm_obj, "validation masks", "validation X", PyArray_DIM(dx, 0), &dev_shape)) == NULL)
        goto done;

    TRAINING(status = lk_image_segmenter_train(
                 &shape, (const float *)PyArray_DATA(x), (size_t)PyArray_DIM(x, 0),
                 (size_t)PyArray_SIZE(x), (const int32_t *)PyArray_DATA(m), (size_t)PyArray_SIZE(m),
                 &dev_shape, (const float *)PyArray_DATA(dx), (size_t)PyArray_DIM(dx, 0),
                 (size_t)PyArray_SIZE(dx), (const int32_t *)PyArray_DATA(dm), (size_t)PyArray_SIZE(dm),
                 &config, progress_fn(&state), &state, &segmenter));
    result = wrap_image_segmenter(status, segmenter, &state);
done:
    Py_XDECREF(weights);
    Py_XDECREF(x);
    Py_XDECREF(dx);
    Py_XDECREF(m);
    Py_XDECREF(dm);
    return result;
}

MODEL_PART(image_segmenter, ImageSegmenterHandle,
           TRAINED_MODEL_FUNCTIONS(image_segmenter, "(X, masks, X_dev, masks_dev, config, "
                                                    "class_weights, progress)"));
