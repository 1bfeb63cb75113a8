/*
 * test_sequence_classifier.c — the sequence classifier on caller float buffers: a
 * separable toy task (a rising or falling channel 0, ragged lengths), predict,
 * attention, labels, get_config, files, and the bad arguments: NULLs, counts, lengths,
 * NaN named by index, wrong channels, config fields.
 */
#include "harness.h"

#define SQ_SENTINEL ((lk_sequence_classifier *)(void *)&g_sentinel_object)
enum { SQ_N = 40, SQ_T = 12, SQ_C = 2 };

/* n toy sequences (even i: "up") padded to SQ_T steps, into values/lengths/labels. */
static void toy(float *values, int32_t *lengths, const char **labels, int n, unsigned seed) {
    srand(seed);
    for (int i = 0; i < n; i++) {
        int up = i % 2 == 0, t = 5 + rand() % (SQ_T - 4);
        lengths[i] = t;
        labels[i] = up ? "up" : "down";
        for (int s = 0; s < SQ_T; s++) {
            float noise = (float)rand() / (float)RAND_MAX - 0.5f;
            values[(i * SQ_T + s) * SQ_C] = s < t ? (up ? (float)s : (float)(t - s)) * 0.5f + 0.6f * noise : 0;
            values[(i * SQ_T + s) * SQ_C + 1] = s < t ? noise : 0;
        }
    }
}

static void group_sequence_classifier(void) {
    lk_sequence_classifier_train_config d = lk_sequence_classifier_train_config_default();
    CHECK(d.hidden_size == 64 && d.num_layers == 1 && d.bidirectional == 1 &&
              d.pooling == LK_POOLING_LAST && d.attention_size == 32 && d.layer_norm == 0 && fabsf(d.dropout - 0.1f) < 1e-7f &&
              d.mask_missing == 0 && d.patch_length == 0 && d.members == 3 && d.epochs == 200 && d.batch_size == 16 &&
              fabsf(d.learning_rate - 0.003f) < 1e-7f && d.patience == 30 && d.decay_factor == 1.0f && fabsf(d.validation_fraction - 0.2f) < 1e-7f && d.time_limit == 0 && d.threads == 2 && d.seed == 1,
          "lk_sequence_classifier_train_config_default() does not hold the documented defaults");

    static float values[SQ_N * SQ_T * SQ_C];
    static int32_t lengths[SQ_N];
    static const char *labels[SQ_N];
    toy(values, lengths, labels, SQ_N, 7);
    lk_sequences train = {values, sizeof values / sizeof *values, lengths, SQ_N, SQ_T, SQ_C};
    lk_sequence_classifier_train_config c = d;
    c.hidden_size = 8;
    c.epochs = 40;
    c.pooling = LK_POOLING_ATTENTION;
    c.threads = 1;
    c.members = 2;
    progress_log log;
    progress_init(&log);
    lk_sequence_classifier *h = NULL;
    /* No dev set: the library holds out a stratified share. */
    if (!EXPECT(lk_sequence_classifier_train(&train, labels, NULL, NULL, &c, record_progress, &log, &h), LK_STATUS_OK) || !h)
        return;
    CHECK(log.calls >= 3 && log.bad_lines == 0, "progress: %d calls (%d bad)", log.calls, log.bad_lines);

    int32_t nc = -1;
    const char *l0 = NULL, *l1 = NULL;
    EXPECT(lk_sequence_classifier_num_classes(h, &nc), LK_STATUS_OK);
    EXPECT(lk_sequence_classifier_label(h, 0, &l0), LK_STATUS_OK);
    EXPECT(lk_sequence_classifier_label(h, 1, &l1), LK_STATUS_OK);
    CHECK(nc == 2 && l0 && l1 && !strcmp(l0, "down") && !strcmp(l1, "up"), "classes: %d, \"%s\", \"%s\"", (int)nc,
          l0 ? l0 : "(null)", l1 ? l1 : "(null)");
    EXPECT(lk_sequence_classifier_label(h, 2, &l0), LK_STATUS_INVALID_ARGUMENT);

    /* Fresh sequences of the same task are classified. */
    static float tv[SQ_N * SQ_T * SQ_C];
    static int32_t tl[SQ_N];
    static const char *tlab[SQ_N];
    toy(tv, tl, tlab, SQ_N, 99);
    lk_sequences test = {tv, sizeof tv / sizeof *tv, tl, SQ_N, SQ_T, SQ_C};
    static float p[SQ_N * 2];
    if (EXPECT(lk_sequence_classifier_predict(h, &test, 2, p, SQ_N * 2), LK_STATUS_OK)) {
        int right = 0;
        for (int i = 0; i < SQ_N; i++) right += (p[2 * i + 1] > p[2 * i]) == (i % 2 == 0);
        CHECK(right >= SQ_N * 9 / 10, "the toy task: %d of %d right", right, SQ_N);
        CHECK(fabsf(p[0] + p[1] - 1) < 1e-5f, "probabilities do not sum to 1");
    }
    /* Attention: (n, steps), summing to 1 over each sequence's steps, 0 beyond. */
    static float w[SQ_N * SQ_T];
    if (EXPECT(lk_sequence_classifier_attention(h, &test, 1, w, SQ_N * SQ_T), LK_STATUS_OK)) {
        float sum = 0;
        for (int s = 0; s < tl[0]; s++) sum += w[s];
        CHECK(fabsf(sum - 1) < 1e-4f && (tl[0] == SQ_T || w[SQ_T - 1] == 0), "attention of sequence 0: sum %g", sum);
    }

    /* get_config, save, load: the same predictions bit for bit. */
    lk_sequence_classifier_train_config got;
    EXPECT(lk_sequence_classifier_get_config(h, &got), LK_STATUS_OK);
    CHECK(got.hidden_size == 8 && got.pooling == LK_POOLING_ATTENTION && got.patch_length == 1 && got.members == 2 &&
              got.epochs == d.epochs,
          "get_config");
    char *dir = make_tmpdir("seqclf"), path[4300];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    lk_sequence_classifier *back = NULL;
    if (EXPECT(lk_sequence_classifier_save(h, path), LK_STATUS_OK) &&
        EXPECT(lk_sequence_classifier_load(path, &back), LK_STATUS_OK)) {
        static float q[SQ_N * 2];
        EXPECT(lk_sequence_classifier_predict(back, &test, 1, q, SQ_N * 2), LK_STATUS_OK);
        CHECK(memcmp(p, q, sizeof p) == 0, "predictions differ after save and load");
    }
    lk_sequence_classifier_free(back);
    lk_sequence_classifier_free(NULL);
    free(dir);

    /* Bad arguments: a status and a message, never a crash. */
    lk_sequences bad = test;
    EXPECT(lk_sequence_classifier_predict(h, NULL, 1, p, SQ_N * 2), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_sequence_classifier_predict(NULL, &test, 1, p, SQ_N * 2), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_sequence_classifier_predict(h, &test, 0, p, SQ_N * 2), LK_STATUS_INVALID_ARGUMENT);
    expect_mentions_at(lk_sequence_classifier_predict(h, &test, 1, p, SQ_N * 2 - 1), LK_STATUS_SIZE_MISMATCH,
                       "probabilities_count", __LINE__, "short output");
    expect_mentions_at(lk_sequence_classifier_predict(h, &test, 1, NULL, SQ_N * 2), LK_STATUS_INVALID_ARGUMENT,
                       "probabilities", __LINE__, "NULL output");
    bad.count -= 1;
    expect_mentions_at(lk_sequence_classifier_predict(h, &bad, 1, p, SQ_N * 2), LK_STATUS_SIZE_MISMATCH, "x->count",
                       __LINE__, "count");
    bad = test;
    bad.values = NULL;
    EXPECT(lk_sequence_classifier_predict(h, &bad, 1, p, SQ_N * 2), LK_STATUS_INVALID_ARGUMENT);
    bad = test;
    tl[3] = SQ_T + 1;
    expect_mentions_at(lk_sequence_classifier_predict(h, &bad, 1, p, SQ_N * 2), LK_STATUS_INVALID_ARGUMENT, "sequence 3",
                       __LINE__, "length > steps");
    tl[3] = 0;
    expect_mentions_at(lk_sequence_classifier_predict(h, &bad, 1, p, SQ_N * 2), LK_STATUS_INVALID_ARGUMENT,
                       "sequence 3 is empty", __LINE__, "empty");
    tl[3] = 5;
    tv[(3 * SQ_T + 2) * SQ_C + 1] = NAN;
    expect_mentions_at(lk_sequence_classifier_predict(h, &bad, 1, p, SQ_N * 2), LK_STATUS_INVALID_ARGUMENT,
                       "sequence 3, step 2, channel 1 is nan", __LINE__, "NaN");
    tv[(3 * SQ_T + 2) * SQ_C + 1] = 0;
    bad.channels = 1;
    bad.steps = 2 * SQ_T;
    expect_mentions_at(lk_sequence_classifier_predict(h, &bad, 1, p, SQ_N * 2), LK_STATUS_INVALID_ARGUMENT,
                       "trained on 2", __LINE__, "channels");
    bad = test;
    bad.n = 0;
    bad.count = 0;
    EXPECT(lk_sequence_classifier_predict(h, &bad, 1, NULL, 0), LK_STATUS_OK);
    lk_sequence_classifier_free(h);

    /* Training errors: *out untouched. */
    lk_sequence_classifier *out = SQ_SENTINEL;
    lk_sequence_classifier_train_config wrong = c;
    wrong.hidden_size = 0;
    expect_mentions_at(lk_sequence_classifier_train(&train, labels, NULL, NULL, &wrong, NULL, NULL, &out),
                       LK_STATUS_INVALID_ARGUMENT, "hidden_size", __LINE__, "hidden_size 0");
    lk_train_options *options = NULL;
    if (EXPECT(lk_train_options_create(&options), LK_STATUS_OK)) {
        EXPECT(lk_train_options_set(options, "checkpoint_path", "/nonexistent/x.ckpt"), LK_STATUS_OK);
        expect_mentions_at(lk_sequence_classifier_train_ex(&train, labels, NULL, NULL, &c, options, NULL, NULL, &out),
                           LK_STATUS_INVALID_ARGUMENT, "takes no checkpoint_path", __LINE__, "checkpoint");
        lk_train_options_free(options);
    }
    wrong = c;
    wrong.mask_missing = 2;
    expect_mentions_at(lk_sequence_classifier_train(&train, labels, NULL, NULL, &wrong, NULL, NULL, &out),
                       LK_STATUS_INVALID_ARGUMENT, "mask_missing", __LINE__, "mask_missing 2");
    wrong = c;
    wrong.validation_fraction = 0.9f;
    expect_mentions_at(lk_sequence_classifier_train(&train, labels, NULL, NULL, &wrong, NULL, NULL, &out),
                       LK_STATUS_INVALID_ARGUMENT, "validation_fraction", __LINE__, "validation_fraction 0.9");
    EXPECT(lk_sequence_classifier_train(&train, NULL, NULL, NULL, &c, NULL, NULL, &out), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_sequence_classifier_train(&train, labels, NULL, NULL, NULL, NULL, NULL, &out), LK_STATUS_INVALID_ARGUMENT);
    lk_sequences one_channel = {values, sizeof values / sizeof *values, NULL, SQ_N, 2 * SQ_T, 1};
    expect_mentions_at(lk_sequence_classifier_train(&train, labels, &one_channel, labels, &c, NULL, NULL, &out),
                       LK_STATUS_INVALID_ARGUMENT, "channels", __LINE__, "dev channels");
    CHECK(out == SQ_SENTINEL, "*out was changed on failure");
    EXPECT(lk_sequence_classifier_load(NULL, &out), LK_STATUS_INVALID_ARGUMENT);
}

/* LSTM-FCN's convolutional branch by name (no struct field): its default (32,64,32) in
 * the default text, a model trained with it reports it, a bad list is refused. */
static void group_sequence_classifier_conv(void) {
    char text[8192];
    size_t size = 0;
    if (EXPECT(lk_train_config_default_text("sequence_classifier", text, sizeof text, &size), LK_STATUS_OK))
        CHECK(strstr(text, "\nconv_filters=32,64,32\n") != NULL, "the default text lacks conv_filters=32,64,32: %s", text);
    static float values[SQ_N * SQ_T * SQ_C];
    static int32_t lengths[SQ_N];
    static const char *labels[SQ_N];
    toy(values, lengths, labels, SQ_N, 7);
    lk_sequences train = {values, sizeof values / sizeof *values, lengths, SQ_N, SQ_T, SQ_C};
    lk_sequence_classifier_train_config c = lk_sequence_classifier_train_config_default();
    c.hidden_size = 4;
    c.epochs = 3;
    c.threads = 1;
    c.members = 1;
    lk_train_options *options = NULL;
    lk_sequence_classifier *h = NULL;
    if (!EXPECT(lk_train_options_create(&options), LK_STATUS_OK)) return;
    expect_mentions_at(lk_train_options_set(options, "conv_filters", "8,0"), LK_STATUS_INVALID_ARGUMENT,
                       "conv_filters[1]", __LINE__, "conv_filters 8,0");
    EXPECT(lk_train_options_set(options, "conv_filters", "8,16,8"), LK_STATUS_OK);
    if (EXPECT(lk_sequence_classifier_train_ex(&train, labels, NULL, NULL, &c, options, NULL, NULL, &h), LK_STATUS_OK) && h) {
        EXPECT(lk_model_get_setting(h, "conv_filters", text, sizeof text, &size), LK_STATUS_OK);
        CHECK(!strcmp(text, "8,16,8"), "conv_filters of the trained model: \"%s\"", text);
        float p[SQ_N * 2];
        EXPECT(lk_sequence_classifier_predict(h, &train, 1, p, SQ_N * 2), LK_STATUS_OK);
        CHECK(fabsf(p[0] + p[1] - 1) < 1e-5f, "probabilities sum to %g", (double)(p[0] + p[1]));
        lk_sequence_classifier_free(h);
    }
    lk_train_options_free(options);
}

const test_group sequence_classifier_groups[] = {
    {"sequence classifier: train, predict, attention, files, errors", group_sequence_classifier},
    {"sequence classifier: the convolutional branch by name", group_sequence_classifier_conv},
    {NULL, NULL},
};
