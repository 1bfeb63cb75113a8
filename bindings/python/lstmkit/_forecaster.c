/*
 * lstmkit._native: the forecaster handle (lk_forecaster) and forecaster_load/train.
 * Every call (forecast, evaluate, config, save) is a reader.
 */
#include "_common.h"

HANDLE_TYPE(ForecasterHandle, forecaster, int32_t targets; int32_t exogenous;,
            lk_ok(lk_forecaster_channels(self->model, &self->targets, &self->exogenous)))

TRAINED_MODEL(ForecasterHandle)

/* A series argument: None (when `optional`) or a 2-D float32 array (the package has
 * shaped and checked it). */
static int series_arg(PyObject *obj, const char *name, int optional, PyArrayObject **arr, lk_series *s)
{
    *arr = NULL;
    if (optional && obj == Py_None)
        return 1;
    if ((*arr = AS_ARRAY(obj, NPY_FLOAT32)) == NULL)
        return 0;
    if (PyArray_NDIM(*arr) != 2) {
        PyErr_Format(PyExc_ValueError, "%s must be 2-D (steps, channels)", name);
        Py_CLEAR(*arr);
        return 0;
    }
    *s = (lk_series){FLOATS(*arr), SIZE(*arr), (size_t)PyArray_DIM(*arr, 0), (size_t)PyArray_DIM(*arr, 1)};
    return 1;
}

/* forecast(y, X or None, h) -> (point (h, targets), quantiles (h, targets, q)) */
static PyObject *ForecasterHandle_forecast(PyObject *obj, PyObject *args)
{
    ForecasterHandle *self = (ForecasterHandle *)obj;
    PyObject *y_obj, *x_obj, *h_obj, *result = NULL;
    PyArrayObject *y = NULL, *x = NULL, *point = NULL, *quantiles = NULL;
    lk_series ys, xs;
    lk_forecaster_train_config config;
    int32_t h;
    lk_status status;

    if (!PyArg_ParseTuple(args, "OOO:forecast", &y_obj, &x_obj, &h_obj) || !int32_arg(h_obj, "h", &h) ||
        !lk_ok(lk_forecaster_get_config(self->model, &config)))
        return NULL;
    if (h < 0 || h > config.horizon) {
        PyErr_Format(PyExc_ValueError, "h must be in [1, %d] (the model's horizon), got %d", (int)config.horizon, (int)h);
        return NULL;
    }
    npy_intp dims[3] = {h, self->targets, config.num_quantiles};
    if (series_arg(y_obj, "y", 0, &y, &ys) && series_arg(x_obj, "X", 1, &x, &xs) &&
        (point = NEW_ARRAY(2, dims, NPY_FLOAT32)) != NULL && (quantiles = NEW_ARRAY(3, dims, NPY_FLOAT32)) != NULL) {
        READ_LOCKED(self, status = lk_forecaster_forecast(self->model, &ys, x ? &xs : NULL, h, FLOATS(point), SIZE(point),
                                                          FLOATS(quantiles), SIZE(quantiles)));
        if (lk_ok(status))
            result = PyTuple_Pack(2, point, quantiles);
    }
    Py_XDECREF(y);
    Py_XDECREF(x);
    Py_XDECREF(point);
    Py_XDECREF(quantiles);
    return result;
}

/* evaluate(y, X or None, start, season, stride, threads) -> dict */
static PyObject *ForecasterHandle_evaluate(PyObject *obj, PyObject *args)
{
    ForecasterHandle *self = (ForecasterHandle *)obj;
    PyObject *y_obj, *x_obj, *start_obj, *season_obj, *stride_obj, *threads_obj, *result = NULL;
    PyArrayObject *y = NULL, *x = NULL;
    lk_series ys, xs;
    int32_t start, season, stride, threads;
    lk_forecast_score s;
    lk_status status;

    if (!PyArg_ParseTuple(args, "OOOOOO:evaluate", &y_obj, &x_obj, &start_obj, &season_obj, &stride_obj, &threads_obj) ||
        !int32_arg(start_obj, "start", &start) || !int32_arg(season_obj, "season", &season) ||
        !int32_arg(stride_obj, "stride", &stride) || !int32_arg(threads_obj, "threads", &threads))
        return NULL;
    if (start < 0) {
        PyErr_Format(PyExc_ValueError, "start must be >= 0, got %d", (int)start);
        return NULL;
    }
    if (series_arg(y_obj, "y", 0, &y, &ys) && series_arg(x_obj, "X", 1, &x, &xs)) {
        READ_LOCKED(self, status = lk_forecaster_evaluate(self->model, &ys, x ? &xs : NULL, (size_t)start, season, stride,
                                                          threads, &s));
        if (lk_ok(status))
            result = Py_BuildValue("{s:d,s:d,s:d,s:d,s:d,s:L}", "mase", s.mase, "smape", s.smape, "coverage", s.coverage,
                                   "nominal_coverage", s.nominal_coverage, "scaled_pinball", s.scaled_pinball, "windows",
                                   (long long)s.windows);
    }
    Py_XDECREF(y);
    Py_XDECREF(x);
    return result;
}

/* channels() -> (targets, exogenous) */
static PyObject *ForecasterHandle_channels(PyObject *obj, PyObject *Py_UNUSED(ignored))
{
    ForecasterHandle *self = (ForecasterHandle *)obj;
    return Py_BuildValue("(ii)", (int)self->targets, (int)self->exogenous);
}

static PyMethodDef ForecasterHandle_methods[] = {
    METHOD(ForecasterHandle, forecast, METH_VARARGS, "forecast(y, X, h) -> (point (h, k), quantiles (h, k, q))"),
    METHOD(ForecasterHandle, evaluate, METH_VARARGS, "evaluate(y, X, start, season, stride, threads) -> dict"),
    METHOD(ForecasterHandle, channels, METH_NOARGS, "channels() -> (targets, exogenous)"),
    TRAINED_MODEL_METHODS(ForecasterHandle),
    {NULL, NULL, 0, NULL},
};

/* forecaster_train(y, X or None, config: dict, progress: callable or None) -> handle */
static PyObject *native_forecaster_train(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *y_obj, *x_obj, *config_obj, *progress_obj, *result = NULL;
    PyArrayObject *y = NULL, *x = NULL;
    lk_series ys, xs;
    lk_forecaster_train_config config = lk_forecaster_train_config_default();
    progress_state state;
    lk_forecaster *forecaster = NULL;
    lk_train_options *options = NULL;
    lk_status status;

    if (!PyArg_ParseTuple(args, "OOOO:forecaster_train", &y_obj, &x_obj, &config_obj, &progress_obj) ||
        !train_setup(config_obj, progress_obj, &state, &options))
        return NULL;
    if (series_arg(y_obj, "y", 0, &y, &ys) && series_arg(x_obj, "X", 1, &x, &xs)) {
        TRAINING(status = lk_forecaster_train_ex(&ys, x ? &xs : NULL, &config, options, progress_fn(&state), &state,
                                                 &forecaster));
        result = wrap_forecaster(status, forecaster, &state);
    }
    Py_XDECREF(y);
    Py_XDECREF(x);
    lk_train_options_free(options);
    return result;
}

MODEL_PART(forecaster, ForecasterHandle, TRAINED_MODEL_FUNCTIONS(forecaster));
