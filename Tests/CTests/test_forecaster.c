/*
 * test_forecaster.c — the forecaster: training on a noiseless seasonal series made here
 * (with and without an exogenous channel), forecast (point and quantiles, ordered, close
 * to the series), rolling-origin evaluate, get_config and channels, save/load giving the
 * same forecasts bit for bit, every bad argument (NULLs, counts, NaN, short series,
 * horizon, missing exogenous inputs, config fields), and a file of another kind.
 */
#include "harness.h"

#define FC_SENTINEL ((lk_forecaster *)(void *)&g_sentinel_object)
/* A call fails with `want` and a message that says `needle`. */
#define FC_FAILS(call, want, needle) expect_mentions_at((call), (want), (needle), __LINE__, #call)

/* Steps 0..n-1 of 10 + 2 sin(2 pi t / 12) + sin(2 pi t / 7.3). */
static float *fc_wave(size_t n) {
    float *y = malloc(n * sizeof *y);
    for (size_t t = 0; t < n; t++)
        y[t] = (float)(10 + 2 * sin(6.283185307179586 * (double)t / 12) + sin(6.283185307179586 * (double)t / 7.3));
    return y;
}

static lk_forecaster_train_config fc_tiny_config(void) {
    lk_forecaster_train_config c = lk_forecaster_train_config_default();
    c.context = 16;
    c.horizon = 4;
    c.hidden_size = 8;
    c.epochs = 15;
    c.season = 12;
    c.threads = 1;
    c.log_every = 1000;
    return c;
}

static void group_forecaster(void) {
    lk_forecaster_train_config d = lk_forecaster_train_config_default();
    CHECK(d.context == 36 && d.horizon == 12 && d.cell == 0 && d.hidden_size == 64 && d.num_layers == 1 &&
              d.num_quantiles == 3 && fabsf(d.quantiles[0] - 0.1f) < 1e-7f && d.quantiles[1] == 0.5f &&
              fabsf(d.quantiles[2] - 0.9f) < 1e-7f && d.scaling == LK_FORECAST_SCALING_WINDOW && d.linear_context == 1 &&
              d.season == 1 && fabsf(d.dev_fraction - 0.15f) < 1e-7f && d.calibrate_intervals == 0 && d.epochs == 200 && d.batch_size == 32 &&
              fabsf(d.learning_rate - 0.01f) < 1e-7f && d.clip_norm == 5 && d.patience == 15 && d.decay_factor == 0.5f &&
              d.time_limit == 0 && d.threads == 2 && d.log_every == 50 && d.seed == 1,
          "lk_forecaster_train_config_default() does not hold the documented defaults");

    size_t n = 200;
    float *y = fc_wave(n + 8);
    lk_series ys = {y, n, n, 1};
    lk_forecaster_train_config c = fc_tiny_config();
    progress_log log;
    progress_init(&log);
    lk_forecaster *h = NULL, *h2 = NULL;
    float point[4], q[12], point2[4], q2[12];
    if (!EXPECT(lk_forecaster_train(&ys, NULL, &c, record_progress, &log, &h), LK_STATUS_OK) || !h) goto out;
    CHECK(log.calls >= 2 && log.bad_lines == 0 && log.epoch_lines >= 1, "progress: %d calls (%d bad, %d epoch lines)",
          log.calls, log.bad_lines, log.epoch_lines);

    int32_t targets = -1, exogenous = -1;
    EXPECT(lk_forecaster_channels(h, &targets, &exogenous), LK_STATUS_OK);
    CHECK(targets == 1 && exogenous == 0, "channels %d, %d", (int)targets, (int)exogenous);
    lk_forecaster_train_config g;
    EXPECT(lk_forecaster_get_config(h, &g), LK_STATUS_OK);
    CHECK(g.context == 16 && g.horizon == 4 && g.hidden_size == 8 && g.num_quantiles == 3 && g.season == 12 &&
              g.epochs == d.epochs, "get_config: context %d horizon %d hidden %d", (int)g.context, (int)g.horizon,
          (int)g.hidden_size);

    /* Point and quantiles: ordered, the median is the point, close to the series. */
    if (EXPECT(lk_forecaster_forecast(h, &ys, NULL, 4, point, 4, q, 12), LK_STATUS_OK)) {
        double mae = 0;
        int ordered = 1;
        for (int i = 0; i < 4; i++) {
            mae += fabs(point[i] - y[n + (size_t)i]) / 4;
            ordered &= q[i * 3] <= q[i * 3 + 1] && q[i * 3 + 1] <= q[i * 3 + 2] && q[i * 3 + 1] == point[i];
        }
        CHECK(ordered, "quantiles out of order, or the median is not the point forecast");
        CHECK(mae < 1.0, "MAE %.3f of the forecast of a noiseless series (its range is 6)", mae);
    }
    EXPECT(lk_forecaster_forecast(h, &ys, NULL, 2, point, 2, NULL, 0), LK_STATUS_OK);

    lk_series whole = {y, n + 8, n + 8, 1};
    lk_forecast_score s = {0};
    if (EXPECT(lk_forecaster_evaluate(h, &whole, NULL, n, 0, 1, 2, &s), LK_STATUS_OK))
        CHECK(s.windows == 5 && s.mase > 0 && s.mase < 1.5 && fabs(s.nominal_coverage - 0.8) < 1e-6 && s.coverage >= 0 &&
                  s.coverage <= 1 && s.smape > 0,
              "evaluate: %lld windows, MASE %.3f, coverage %.3f", (long long)s.windows, s.mase, s.coverage);

    /* Save and load: the same forecasts, bit for bit. */
    char *dir = make_tmpdir("forecaster");
    char path[4300];
    snprintf(path, sizeof path, "%s/f.safetensors", dir);
    if (EXPECT(lk_forecaster_save(h, path), LK_STATUS_OK) && EXPECT(lk_forecaster_load(path, &h2), LK_STATUS_OK) && h2) {
        EXPECT(lk_forecaster_forecast(h, &ys, NULL, 4, point, 4, q, 12), LK_STATUS_OK);
        EXPECT(lk_forecaster_forecast(h2, &ys, NULL, 4, point2, 4, q2, 12), LK_STATUS_OK);
        CHECK(memcmp(point, point2, sizeof point) == 0 && memcmp(q, q2, sizeof q) == 0, "the loaded model forecasts differently");
    }
    char lpath[4300];
    snprintf(lpath, sizeof lpath, "%s/lstm.safetensors", dir);
    if (save_small_lstm_at(lpath, __LINE__)) {
        lk_forecaster *out = FC_SENTINEL;
        lk_status st = lk_forecaster_load(lpath, &out);
        wrong_kind_at(st, out == FC_SENTINEL, "\"lstm\"", "forecaster", __LINE__, "lk_forecaster_load(another kind)");
    }
    free(dir);

    /* Bad arguments. */
    FC_FAILS(lk_forecaster_forecast(h, &ys, NULL, 5, point, 5, NULL, 0), LK_STATUS_INVALID_ARGUMENT, "horizon");
    FC_FAILS(lk_forecaster_forecast(h, &ys, NULL, 0, point, 0, NULL, 0), LK_STATUS_INVALID_ARGUMENT, "horizon");
    FC_FAILS(lk_forecaster_forecast(h, &ys, NULL, 4, point, 3, NULL, 0), LK_STATUS_SIZE_MISMATCH, "point_count");
    FC_FAILS(lk_forecaster_forecast(h, &ys, NULL, 4, point, 4, q, 11), LK_STATUS_SIZE_MISMATCH, "quantiles_count");
    FC_FAILS(lk_forecaster_forecast(h, &ys, NULL, 4, NULL, 4, NULL, 0), LK_STATUS_INVALID_ARGUMENT, "point");
    FC_FAILS(lk_forecaster_forecast(h, NULL, NULL, 4, point, 4, NULL, 0), LK_STATUS_INVALID_ARGUMENT, "y");
    FC_FAILS(lk_forecaster_forecast(NULL, &ys, NULL, 4, point, 4, NULL, 0), LK_STATUS_INVALID_ARGUMENT, "forecaster");
    lk_series short_y = {y, 10, 10, 1};
    FC_FAILS(lk_forecaster_forecast(h, &short_y, NULL, 4, point, 4, NULL, 0), LK_STATUS_INVALID_ARGUMENT, "last 16");
    lk_series bad_count = {y, 11, 10, 1};
    FC_FAILS(lk_forecaster_forecast(h, &bad_count, NULL, 4, point, 4, NULL, 0), LK_STATUS_SIZE_MISMATCH, "y->count");
    lk_series two = {y, 40, 20, 2};
    FC_FAILS(lk_forecaster_forecast(h, &two, NULL, 4, point, 4, NULL, 0), LK_STATUS_SIZE_MISMATCH, "target channels");
    FC_FAILS(lk_forecaster_forecast(h, &ys, &ys, 4, point, 4, NULL, 0), LK_STATUS_INVALID_ARGUMENT, "no exogenous");
    float saved = y[30];
    y[30] = NAN;
    FC_FAILS(lk_forecaster_forecast(h, &ys, NULL, 4, point, 4, NULL, 0), LK_STATUS_INVALID_ARGUMENT, "step 30");
    y[30] = saved;
    FC_FAILS(lk_forecaster_evaluate(h, &ys, NULL, n - 2, 0, 1, 1, &s), LK_STATUS_INVALID_ARGUMENT, "no horizon");
    FC_FAILS(lk_forecaster_evaluate(h, &whole, NULL, n, 0, 0, 1, &s), LK_STATUS_INVALID_ARGUMENT, "stride");
    FC_FAILS(lk_forecaster_evaluate(h, &whole, NULL, n, 0, 1, 0, &s), LK_STATUS_INVALID_ARGUMENT, "threads");
    FC_FAILS(lk_forecaster_evaluate(h, &whole, NULL, n, 0, 1, 1, NULL), LK_STATUS_INVALID_ARGUMENT, "out");
    EXPECT(lk_forecaster_channels(h, NULL, &exogenous), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_forecaster_get_config(h, NULL), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_forecaster_save(h, NULL), LK_STATUS_INVALID_ARGUMENT);
out:
    lk_forecaster_free(h);
    lk_forecaster_free(h2);
    lk_forecaster_free(NULL);
    free(y);
}

static void group_forecaster_exogenous_and_errors(void) {
    /* A target driven by a known input: y_t = 3 x_t + wave. */
    size_t n = 160;
    float *w = fc_wave(n + 4), *y = malloc((n + 4) * sizeof *y), *x = malloc((n + 4) * sizeof *x);
    for (size_t t = 0; t < n + 4; t++) {
        x[t] = (float)((t * 7) % 5);
        y[t] = 3 * x[t] + w[t];
    }
    lk_series ys = {y, n, n, 1}, xs = {x, n, n, 1}, xf = {x, n + 4, n + 4, 1};
    lk_forecaster_train_config c = fc_tiny_config();
    lk_forecaster *h = NULL;
    float point[4];
    if (EXPECT(lk_forecaster_train(&ys, &xs, &c, NULL, NULL, &h), LK_STATUS_OK) && h) {
        int32_t targets = -1, exogenous = -1;
        EXPECT(lk_forecaster_channels(h, &targets, &exogenous), LK_STATUS_OK);
        CHECK(targets == 1 && exogenous == 1, "channels %d, %d", (int)targets, (int)exogenous);
        EXPECT(lk_forecaster_forecast(h, &ys, &xf, 4, point, 4, NULL, 0), LK_STATUS_OK);
        FC_FAILS(lk_forecaster_forecast(h, &ys, &xs, 4, point, 4, NULL, 0), LK_STATUS_SIZE_MISMATCH, "future steps");
        FC_FAILS(lk_forecaster_forecast(h, &ys, NULL, 4, point, 4, NULL, 0), LK_STATUS_INVALID_ARGUMENT, "exogenous");
        lk_forecaster_free(h);
    }

    /* Settings by name (lk_forecaster_train_ex): the quantile levels and the loop's schedule. */
    lk_train_options *opts = NULL;
    if (EXPECT(lk_train_options_create(&opts), LK_STATUS_OK) && EXPECT(lk_train_options_set(opts, "quantiles", "0.2,0.5,0.8"), LK_STATUS_OK) &&
        EXPECT(lk_train_options_set(opts, "schedule", "cosine"), LK_STATUS_OK)) {
        lk_forecaster *g = NULL;
        lk_forecaster_train_config got;
        if (EXPECT(lk_forecaster_train_ex(&ys, &xs, &c, opts, NULL, NULL, &g), LK_STATUS_OK) && g &&
            EXPECT(lk_forecaster_get_config(g, &got), LK_STATUS_OK))
            CHECK(got.num_quantiles == 3 && got.quantiles[0] == 0.2f && got.quantiles[2] == 0.8f, "quantiles by name: %d levels",
                  (int)got.num_quantiles);
        lk_forecaster_free(g);
        FC_FAILS(lk_train_options_set(opts, "quantiles", "0.1,x"), LK_STATUS_INVALID_ARGUMENT, "quantiles");
        FC_FAILS(lk_train_options_set(opts, "quantiles", "0.1,0.9"), LK_STATUS_INVALID_ARGUMENT, "including 0.5");
        EXPECT(lk_train_options_set(opts, "dice_weight", "0.5"), LK_STATUS_OK); /* the segmenter's setting */
        lk_forecaster *none = FC_SENTINEL;
        FC_FAILS(lk_forecaster_train_ex(&ys, &xs, &c, opts, NULL, NULL, &none), LK_STATUS_INVALID_ARGUMENT, "dice_weight");
        CHECK(none == FC_SENTINEL, "*out was changed by a failed train_ex");
        if (none != FC_SENTINEL) lk_forecaster_free(none);
    }
    lk_train_options_free(opts);

    /* Training errors: *out untouched. */
    lk_forecaster *out = FC_SENTINEL;
    lk_series empty = {NULL, 0, 0, 1}, tiny = {y, 22, 22, 1};
    FC_FAILS(lk_forecaster_train(&empty, NULL, &c, NULL, NULL, &out), LK_STATUS_INVALID_ARGUMENT, "empty");
    FC_FAILS(lk_forecaster_train(&tiny, NULL, &c, NULL, NULL, &out), LK_STATUS_INVALID_ARGUMENT, "too short");
    lk_forecaster_train_config bad = c;
    bad.horizon = 1000;
    FC_FAILS(lk_forecaster_train(&ys, NULL, &bad, NULL, NULL, &out), LK_STATUS_INVALID_ARGUMENT, "too short");
    bad = c;
    bad.num_quantiles = 0;
    FC_FAILS(lk_forecaster_train(&ys, NULL, &bad, NULL, NULL, &out), LK_STATUS_INVALID_ARGUMENT, "num_quantiles");
    bad = c;
    bad.num_quantiles = 2;
    bad.quantiles[0] = 0.1f;
    bad.quantiles[1] = 0.9f;
    FC_FAILS(lk_forecaster_train(&ys, NULL, &bad, NULL, NULL, &out), LK_STATUS_INVALID_ARGUMENT, "quantiles");
    bad = c;
    bad.scaling = 7;
    FC_FAILS(lk_forecaster_train(&ys, NULL, &bad, NULL, NULL, &out), LK_STATUS_INVALID_ARGUMENT, "scaling");
    bad = c;
    bad.cell = 99;
    FC_FAILS(lk_forecaster_train(&ys, NULL, &bad, NULL, NULL, &out), LK_STATUS_INVALID_ARGUMENT, "cell");
    bad = c;
    bad.dev_fraction = 0.9f;
    FC_FAILS(lk_forecaster_train(&ys, NULL, &bad, NULL, NULL, &out), LK_STATUS_INVALID_ARGUMENT, "dev_fraction");
    bad = c;
    bad.calibrate_intervals = 2;
    FC_FAILS(lk_forecaster_train(&ys, NULL, &bad, NULL, NULL, &out), LK_STATUS_INVALID_ARGUMENT, "calibrate_intervals");
    bad = c;
    bad.context = 0;
    FC_FAILS(lk_forecaster_train(&ys, NULL, &bad, NULL, NULL, &out), LK_STATUS_INVALID_ARGUMENT, "context");
    lk_series short_x = {x, n - 1, n - 1, 1};
    FC_FAILS(lk_forecaster_train(&ys, &short_x, &c, NULL, NULL, &out), LK_STATUS_SIZE_MISMATCH, "exogenous");
    y[5] = INFINITY;
    FC_FAILS(lk_forecaster_train(&ys, NULL, &c, NULL, NULL, &out), LK_STATUS_INVALID_ARGUMENT, "step 5");
    FC_FAILS(lk_forecaster_train(NULL, NULL, &c, NULL, NULL, &out), LK_STATUS_INVALID_ARGUMENT, "y");
    FC_FAILS(lk_forecaster_train(&ys, NULL, NULL, NULL, NULL, &out), LK_STATUS_INVALID_ARGUMENT, "config");
    EXPECT(lk_forecaster_train(&ys, NULL, &c, NULL, NULL, NULL), LK_STATUS_INVALID_ARGUMENT);
    CHECK(out == FC_SENTINEL, "*out was changed by a failed train");
    free(w);
    free(y);
    free(x);
}

const test_group forecaster_groups[] = {
    {"forecaster: train, forecast, evaluate, files", group_forecaster},
    {"forecaster: exogenous inputs, training errors", group_forecaster_exogenous_and_errors},
    {NULL, NULL},
};
