/*
 * lstmkit._native: the image segmenter handle (lk_image_segmenter) and
 * image_segmenter_load/train. Every call (predict, predict_proba, evaluate, config,
 * setting, save) is a reader; K is read once.
 */
#include "_common.h"

HANDLE_TYPE(ImageSegmenterHandle, image_segmenter, int32_t num_classes;,
            lk_ok(lk_image_segmenter_num_classes(self->model, &self->num_classes)))

/* encoder_channels is a list in the dict, num_blocks its length; class_weights is an
 * argument of its own. */
TRAINED_MODEL(ImageSegmenterHandle)

/* predict(X, threads) -> int32 masks (N, H, W); predict_proba(X, threads) -> float32
 * (N, H, W, K); evaluate(X, masks, threads) -> (confusion int64 (K, K), pixel_accuracy,
 * mean_iou). X: images (image_batch), masks: int32 (N, H, W). */
static PyObject *segmenter_call(PyObject *obj, PyObject *args, char what)
{
    ImageSegmenterHandle *self = (ImageSegmenterHandle *)obj;
    PyObject *x_obj, *m_obj = NULL, *threads_obj, *result = NULL;
    PyArrayObject *x = NULL, *masks = NULL, *out = NULL;
    int32_t threads;
    lk_image_shape shape;
    npy_intp dims[4];
    double accuracy = 0, mean_iou = 0;
    lk_status status;

    if (!(what == 'e' ? PyArg_ParseTuple(args, "OOO:evaluate", &x_obj, &m_obj, &threads_obj)
                      : PyArg_ParseTuple(args, "OO:predict", &x_obj, &threads_obj)) ||
        !int32_arg(threads_obj, "threads", &threads) || (x = image_batch(x_obj, "X", &shape)) == NULL ||
        (m_obj != NULL && (masks = AS_ARRAY(m_obj, NPY_INT32)) == NULL))
        goto done;
    dims[0] = what == 'e' ? self->num_classes : PyArray_DIM(x, 0);
    dims[1] = what == 'e' ? self->num_classes : (npy_intp)shape.height;
    dims[2] = (npy_intp)shape.width;
    dims[3] = (npy_intp)self->num_classes;
    if ((out = NEW_ARRAY(what == 'e' ? 2 : what == 'p' ? 4 : 3, dims,
                         what == 'e' ? NPY_INT64 : what == 'p' ? NPY_FLOAT32 : NPY_INT32)) == NULL)
        goto done;
    READ_LOCKED(self, {
        size_t n = (size_t)PyArray_DIM(x, 0);
        if (what == 'e')
            status = lk_image_segmenter_evaluate(self->model, FLOATS(x), n, &shape, SIZE(x),
                                                 (const int32_t *)PyArray_DATA(masks), SIZE(masks), threads,
                                                 (int64_t *)PyArray_DATA(out), SIZE(out), &accuracy, &mean_iou);
        else if (what == 'p')
            status = lk_image_segmenter_predict_proba(self->model, FLOATS(x), n, &shape, SIZE(x), threads,
                                                      FLOATS(out), SIZE(out));
        else
            status = lk_image_segmenter_predict(self->model, FLOATS(x), n, &shape, SIZE(x), threads,
                                                (int32_t *)PyArray_DATA(out), SIZE(out));
    });
    if (lk_ok(status))
        result = what == 'e' ? Py_BuildValue("(Odd)", (PyObject *)out, accuracy, mean_iou) : Py_NewRef(out);
done:
    Py_XDECREF(x);
    Py_XDECREF(masks);
    Py_XDECREF(out);
    return result;
}

static PyObject *ImageSegmenterHandle_predict(PyObject *obj, PyObject *args) { return segmenter_call(obj, args, 'm'); }
static PyObject *ImageSegmenterHandle_predict_proba(PyObject *obj, PyObject *args) { return segmenter_call(obj, args, 'p'); }
static PyObject *ImageSegmenterHandle_evaluate(PyObject *obj, PyObject *args) { return segmenter_call(obj, args, 'e'); }

static PyMethodDef ImageSegmenterHandle_methods[] = {
    METHOD(ImageSegmenterHandle, predict, METH_VARARGS, "predict(X, threads) -> int32 masks (N, H, W)"),
    METHOD(ImageSegmenterHandle, predict_proba, METH_VARARGS, "predict_proba(X, threads) -> float32 (N, H, W, K)"),
    METHOD(ImageSegmenterHandle, evaluate, METH_VARARGS, "evaluate(X, masks, threads) -> (confusion, accuracy, "
                                                         "mean_iou)"),
    TRAINED_MODEL_METHODS(ImageSegmenterHandle),
    {NULL, NULL, 0, NULL},
};

/* image_segmenter_train(X, masks, X_dev, masks_dev, config: dict, class_weights: None or
 * float32 (K,), progress: callable or None) -> handle. X and X_dev: images (N, H, W[, C])
 * (their H and W may differ); masks: int32 (N, H, W) of their images. */
static PyObject *native_image_segmenter_train(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *x_obj, *m_obj, *dx_obj, *dm_obj, *config_obj, *weights_obj, *progress_obj, *result = NULL;
    PyArrayObject *x = NULL, *dx = NULL, *m = NULL, *dm = NULL, *weights = NULL;
    lk_image_segmenter_train_config config = lk_image_segmenter_train_config_default();
    lk_image_shape shape, dev_shape;
    progress_state state;
    lk_image_segmenter *segmenter = NULL;
    lk_train_options *options = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "OOOOOOO:image_segmenter_train", &x_obj, &m_obj, &dx_obj, &dm_obj, &config_obj,
                          &weights_obj, &progress_obj) ||
        !train_setup(config_obj, progress_obj, &state, &options))
        return NULL;
    if ((weights_obj == Py_None || (weights = AS_ARRAY(weights_obj, NPY_FLOAT32)) != NULL) &&
        (x = image_batch(x_obj, "X", &shape)) != NULL && (dx = image_batch(dx_obj, "validation X", &dev_shape)) &&
        (m = AS_ARRAY(m_obj, NPY_INT32)) != NULL && (dm = AS_ARRAY(dm_obj, NPY_INT32)) != NULL) {
        config.class_weights = weights ? FLOATS(weights) : NULL;
        config.class_weights_count = weights ? SIZE(weights) : 0;
        TRAINING(status = lk_image_segmenter_train_ex(&shape, FLOATS(x), (size_t)PyArray_DIM(x, 0), SIZE(x),
                                                      (const int32_t *)PyArray_DATA(m), SIZE(m), &dev_shape, FLOATS(dx),
                                                      (size_t)PyArray_DIM(dx, 0), SIZE(dx),
                                                      (const int32_t *)PyArray_DATA(dm), SIZE(dm), &config, options,
                                                      progress_fn(&state), &state, &segmenter));
        result = wrap_image_segmenter(status, segmenter, &state);
    }
    Py_XDECREF(weights);
    Py_XDECREF(x);
    Py_XDECREF(dx);
    Py_XDECREF(m);
    Py_XDECREF(dm);
    lk_train_options_free(options);
    return result;
}

MODEL_PART(image_segmenter, ImageSegmenterHandle, TRAINED_MODEL_FUNCTIONS(image_segmenter));
