/*
 * lstmkit._native: the forecaster handle (lk_forecaster) and forecaster_load/train.
 * Every call (forecast, evaluate, config, save) is a reader. The quantile levels, a
 * float array in the C config, come out as the dict's "quantiles" list and go in by name.
 */
#include "_common.h"

HANDLE_TYPE(ForecasterHandle, forecaster, int32_t targets; int32_t exogenous;,
            lk_ok(lk_forecaster_channels(self->model, &self->targets, &self->exogenous)))

#define FIELD(name, kind) TRAIN_FIELD(lk_forecaster_train_config, name, kind)
static const train_field forecaster_fields[] = {
    FIELD(context, INT32), FIELD(horizon, INT32), FIELD(cell, INT32), FIELD(hidden_size, INT32),
    FIELD(num_layers, INT32), FIELD(scaling, INT32), FIELD(linear_context, INT32), FIELD(season, INT32),
    FIELD(dev_fraction, FLOAT), FIELD(calibrate_intervals, INT32), FIELD(epochs, INT32), FIELD(batch_size, INT32), FIELD(learning_rate, FLOAT),
    FIELD(clip_norm, FLOAT), FIELD(patience, INT32), FIELD(decay_factor, FLOAT), FIELD(time_limit, DOUBLE),
    FIELD(threads, INT32), FIELD(log_every, INT32), FIELD(seed, UINT64),
    {NULL},
};
#undef FIELD

/* The config as a dict, with "quantiles": each level as the shortest decimal that reads
 * back as the C float (0.1, not 0.10000000149011612). */
static PyObject *config_dict(const lk_forecaster_train_config *c)
{
    PyObject *dict = fields_to_dict(forecaster_fields, c), *list = NULL;
    if (dict == NULL || (list = PyList_New(c->num_quantiles)) == NULL)
        goto fail;
    for (int32_t i = 0; i < c->num_quantiles; i++) {
        char text[32];
        for (int digits = 1; digits <= 9; digits++) {
            snprintf(text, sizeof text, "%.*g", digits, (double)c->quantiles[i]);
            if (strtof(text, NULL) == c->quantiles[i])
                break;
        }
        PyObject *v = PyFloat_FromDouble(strtod(text, NULL));
        if (v == NULL)
            goto fail;
        PyList_SET_ITEM(list, i, v);
    }
    if (PyDict_SetItemString(dict, "quantiles", list) < 0)
        goto fail;
    Py_DECREF(list);
    return dict;
fail:
    Py_XDECREF(list);
    Py_XDECREF(dict);
    return NULL;
}

static PyObject *ForecasterHandle_config(PyObject *obj, PyObject *Py_UNUSED(ignored))
{
    lk_forecaster_train_config config;
    if (!lk_ok(lk_forecaster_get_config(((ForecasterHandle *)obj)->model, &config)))
        return NULL;
    return config_dict(&config);
}

/* setting(key) -> str: a hyper-parameter by name (lk_model_get_setting). */
static PyObject *ForecasterHandle_setting(PyObject *obj, PyObject *args)
{
    return model_setting(((ForecasterHandle *)obj)->model, &((ForecasterHandle *)obj)->lock, args);
}

static PyObject *native_forecaster_train_config_default(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    lk_forecaster_train_config config = lk_forecaster_train_config_default();
    return config_dict(&config);
}

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
    METHOD(ForecasterHandle, config, METH_NOARGS, "config() -> dict: the model's hyper-parameters"),
    METHOD(ForecasterHandle, setting, METH_VARARGS, "setting(key) -> str: a hyper-parameter by name"),
    HANDLE_SAVE_METHOD(ForecasterHandle),
    {NULL, NULL, 0, NULL},
};

/* forecaster_train(y, X or None, config: dict, progress: callable or None) -> handle.
 * The dict's entries that are no struct field (quantiles as "0.1,0.5,0.9", the loop's
 * settings) go to the library by name. */
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
        !train_setup(config_obj, forecaster_fields, &config, progress_obj, &state, &options))
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
