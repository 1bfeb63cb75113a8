/* Issue 17: allocations sized by the caller go through the checked path (Memory.check)
 * and come back as LK_STATUS_OUT_OF_MEMORY with a message, never an abort: copies of
 * the caller's sequences and series, and layers whose weights cannot fit. Each request
 * is far beyond any machine (terabytes), so LSTMKIT_MAX_ALLOC_BYTES need not be set;
 * the buffers passed are small and never read (the check comes first). */
#include "harness.h"

#define EXPECT_MENTIONS(call, want, needle) expect_mentions_at((call), (want), (needle), __LINE__, #call)

static void golden_path(char *out, size_t size, const char *file) {
    snprintf(out, size, "%s/../golden/%s", g_fixture_dir, file);
}

static void group_memory_sequence_classifier_copy(void) {
    char path[4300];
    golden_path(path, sizeof path, "sequence-classifier/sequence-classifier.safetensors");
    lk_sequence_classifier *m = NULL;
    if (!CHECK(lk_sequence_classifier_load(path, &m) == LK_STATUS_OK, "load %s: %s", path, lk_last_error())) return;
    int32_t classes = 0;
    EXPECT(lk_sequence_classifier_num_classes(m, &classes), LK_STATUS_OK);
    float values[8] = {0}, probabilities[64] = {0};
    /* One sequence of 2^40 steps: a copy of 4 TB, refused before the values are read. */
    lk_sequences huge = {values, (size_t)1 << 40, NULL, 1, (size_t)1 << 40, 1};
    EXPECT_MENTIONS(lk_sequence_classifier_predict(m, &huge, 1, probabilities, (size_t)classes),
                    LK_STATUS_OUT_OF_MEMORY, "a copy of the 1099511627776 values of x needs");
    EXPECT_MENTIONS(lk_sequence_classifier_predict(m, &huge, 1, probabilities, (size_t)classes),
                    LK_STATUS_OUT_OF_MEMORY, "more than");
    lk_sequence_classifier_free(m);
}

static void group_memory_forecaster_copy(void) {
    char path[4300];
    golden_path(path, sizeof path, "forecaster/forecaster.safetensors");
    lk_forecaster *m = NULL;
    if (!CHECK(lk_forecaster_load(path, &m) == LK_STATUS_OK, "load %s: %s", path, lk_last_error())) return;
    int32_t targets = 0, exogenous = 0;
    EXPECT(lk_forecaster_channels(m, &targets, &exogenous), LK_STATUS_OK);
    float values[8] = {0}, point[64] = {0};
    lk_series huge = {values, ((size_t)1 << 40) * (size_t)targets, (size_t)1 << 40, (size_t)targets};
    EXPECT_MENTIONS(lk_forecaster_forecast(m, &huge, NULL, 1, point, (size_t)targets, NULL, 0),
                    LK_STATUS_OUT_OF_MEMORY, "a copy of the");
    lk_forecast_score score;
    EXPECT_MENTIONS(lk_forecaster_evaluate(m, &huge, NULL, 10, 1, 1, 1, &score), LK_STATUS_OUT_OF_MEMORY, "values of y needs");
    lk_forecaster_free(m);
}

static void group_memory_layer_weights(void) {
    /* 1024 layers of 8192 units: each layer passes the per-layer bound, the stack
     * holds about 2.2 TB of weights. */
    lk_lstm_config c = lk_lstm_config_default();
    c.hidden_size = 8192;
    c.num_layers = 1024;
    lk_lstm *lstm = NULL;
    EXPECT_MENTIONS(lk_lstm_create(&c, &lstm), LK_STATUS_OUT_OF_MEMORY, "a recurrent layer with 549.6 billion weights needs");
    CHECK(lstm == NULL, "no handle on OUT_OF_MEMORY");
    lk_gru *gru = NULL;
    EXPECT_MENTIONS(lk_gru_create(&c, &gru), LK_STATUS_OUT_OF_MEMORY, "more than");
    CHECK(gru == NULL, "no handle on OUT_OF_MEMORY");
    /* A small one still builds. */
    c.hidden_size = 8;
    c.num_layers = 2;
    EXPECT(lk_lstm_create(&c, &lstm), LK_STATUS_OK);
    lk_lstm_free(lstm);
}

const test_group memory_groups[] = {
    {"memory: a sequence batch too large to copy is OUT_OF_MEMORY", group_memory_sequence_classifier_copy},
    {"memory: a forecaster series too large to copy is OUT_OF_MEMORY", group_memory_forecaster_copy},
    {"memory: a recurrent stack of 1024 layers of 8192 units is OUT_OF_MEMORY", group_memory_layer_weights},
    {NULL, NULL},
};
