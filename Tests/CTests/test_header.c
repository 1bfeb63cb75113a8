/*
 * test_header.c — the header is the manual: where include/lstmkit.h and the library
 * once disagreed (issue 17, item 4), one group per case, named after it:
 *   - counts of SIZE_MAX are SIZE_MISMATCH, as every other count that does not match;
 *   - a wrong class_weights_count is SIZE_MISMATCH (a NULL class_weights with a count
 *     is INVALID_ARGUMENT);
 *   - parameter names that are not UTF-8 are INVALID_ARGUMENT, as every string;
 *   - every capped config field has its range in the header (the text trainer's
 *     max_length, batch_size and threads said only ">= 1");
 *   - pixels far outside the training scale (FLT_MAX) never come back as OK with NaN
 *     probabilities.
 * The models are the golden files (Tests/Fixtures/golden).
 */
#include "harness.h"

/* Tests/Fixtures/golden/<name>.safetensors */
static void golden(char *path, size_t cap, const char *name) {
    snprintf(path, cap, "%s/../golden/%s.safetensors", g_fixture_dir, name);
}

/* A call fails with want and a message naming needle. */
#define FAILS(call, want, needle) expect_mentions_at((call), (want), (needle), __LINE__, #call)

/* ======================================================================== */
/* counts of SIZE_MAX are SIZE_MISMATCH                                       */
/* ======================================================================== */

static void group_size_max_counts(void) {
    char path[4200];
    /* Text classifier. */
    golden(path, sizeof path, "text-en");
    lk_text_classifier *tc = NULL;
    if (EXPECT(lk_text_classifier_load(path, &tc), LK_STATUS_OK)) {
        const char *texts[] = {"a fine film"};
        size_t lens[] = {11};
        float p[64];
        FAILS(lk_text_classifier_predict(tc, texts, lens, 1, 1, p, SIZE_MAX), LK_STATUS_SIZE_MISMATCH, "probabilities_count");
        /* A size beyond any buffer stays INVALID_ARGUMENT. */
        FAILS(lk_text_classifier_predict(tc, texts, lens, SIZE_MAX, 1, p, 2), LK_STATUS_INVALID_ARGUMENT, "n");
        lk_text_classifier_free(tc);
    }
    /* Image classifier. */
    golden(path, sizeof path, "image-rows");
    lk_image_classifier *ic = NULL;
    if (EXPECT(lk_image_classifier_load(path, &ic), LK_STATUS_OK)) {
        lk_image_shape s;
        int32_t k = 0;
        EXPECT(lk_image_classifier_input_shape(ic, &s), LK_STATUS_OK);
        EXPECT(lk_image_classifier_num_classes(ic, &k), LK_STATUS_OK);
        size_t count = (size_t)(s.height * s.width * s.channels);
        float *x = xcalloc(count, sizeof(float)), p[64];
        FAILS(lk_image_classifier_predict(ic, x, 1, &s, SIZE_MAX, 1, p, (size_t)k), LK_STATUS_SIZE_MISMATCH, "images_count");
        FAILS(lk_image_classifier_predict(ic, x, 1, &s, count, 1, p, SIZE_MAX), LK_STATUS_SIZE_MISMATCH, "probabilities_count");
        free(x);
        lk_image_classifier_free(ic);
    }
    /* Image segmenter: predict, predict_proba, evaluate. */
    golden(path, sizeof path, "segmenter");
    lk_image_segmenter *sg = NULL;
    if (EXPECT(lk_image_segmenter_load(path, &sg), LK_STATUS_OK)) {
        int32_t c = 0, k = 0;
        EXPECT(lk_image_segmenter_channels(sg, &c), LK_STATUS_OK);
        EXPECT(lk_image_segmenter_num_classes(sg, &k), LK_STATUS_OK);
        lk_image_shape s = {0, 8, 8, c};
        float *x = xcalloc((size_t)(64 * c), sizeof(float)), *q = xcalloc((size_t)(64 * k), sizeof(float));
        int32_t m[64] = {0};
        int64_t conf[64 * 64];
        FAILS(lk_image_segmenter_predict(sg, x, 1, &s, SIZE_MAX, 1, m, 64), LK_STATUS_SIZE_MISMATCH, "images_count");
        FAILS(lk_image_segmenter_predict(sg, x, 1, &s, (size_t)(64 * c), 1, m, SIZE_MAX), LK_STATUS_SIZE_MISMATCH, "masks_count");
        FAILS(lk_image_segmenter_predict_proba(sg, x, 1, &s, (size_t)(64 * c), 1, q, SIZE_MAX), LK_STATUS_SIZE_MISMATCH,
              "probabilities_count");
        FAILS(lk_image_segmenter_evaluate(sg, x, 1, &s, (size_t)(64 * c), m, SIZE_MAX, 1, conf, (size_t)(k * k), NULL, NULL),
              LK_STATUS_SIZE_MISMATCH, "masks_count");
        FAILS(lk_image_segmenter_evaluate(sg, x, 1, &s, (size_t)(64 * c), m, 64, 1, conf, SIZE_MAX, NULL, NULL),
              LK_STATUS_SIZE_MISMATCH, "confusion_count");
        free(x);
        free(q);
        lk_image_segmenter_free(sg);
    }
    /* LSTM: forward's counts, get_param and set_param. */
    golden(path, sizeof path, "lstm");
    lk_lstm *l = NULL;
    if (EXPECT(lk_lstm_load(path, &l), LK_STATUS_OK)) {
        lk_lstm_config c;
        EXPECT(lk_lstm_get_config(l, &c), LK_STATUS_OK);
        int K = c.bidirectional ? 2 : 1;
        size_t xn = (size_t)(2 * c.input_size), yn = (size_t)(2 * K * c.hidden_size), sn = (size_t)(c.num_layers * K * c.hidden_size);
        float *x = xcalloc(xn, sizeof(float)), *y = xcalloc(yn, sizeof(float)), *h = xcalloc(sn, sizeof(float));
        FAILS(lk_lstm_forward(l, x, 1, 2, c.input_size, SIZE_MAX, NULL, NULL, NULL, 0, y, yn, NULL, NULL, 0),
              LK_STATUS_SIZE_MISMATCH, "x_count");
        FAILS(lk_lstm_forward(l, x, 1, 2, c.input_size, xn, NULL, NULL, NULL, 0, y, SIZE_MAX, NULL, NULL, 0),
              LK_STATUS_SIZE_MISMATCH, "y_count");
        FAILS(lk_lstm_forward(l, x, 1, 2, c.input_size, xn, NULL, h, h, SIZE_MAX, y, yn, NULL, NULL, 0),
              LK_STATUS_SIZE_MISMATCH, "state_count");
        FAILS(lk_lstm_forward(l, x, 1, 2, c.input_size, xn, NULL, NULL, NULL, 0, y, yn, h, h, SIZE_MAX),
              LK_STATUS_SIZE_MISMATCH, "state_out_count");
        FAILS(lk_lstm_get_param(l, "bias_ih_l0", y, SIZE_MAX), LK_STATUS_SIZE_MISMATCH, "count");
        FAILS(lk_lstm_set_param(l, "bias_ih_l0", y, SIZE_MAX), LK_STATUS_SIZE_MISMATCH, "count");
        free(x);
        free(y);
        free(h);
        lk_lstm_free(l);
    }
}

/* ======================================================================== */
/* a wrong class_weights_count is SIZE_MISMATCH                               */
/* ======================================================================== */

static void group_class_weights_count(void) {
    /* Refused while the config is read, before the images: one blank image per set. */
    lk_image_shape s = {0, 8, 8, 1};
    static float x[64];
    static int32_t m[64];
    float w[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    lk_image_segmenter_train_config c = lk_image_segmenter_train_config_default();
    c.num_classes = 3;
    c.class_weights = w;
    const size_t wrong[] = {0, 2, 4, SIZE_MAX};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        lk_image_segmenter *out = SEG_SENTINEL;
        char what[96];
        snprintf(what, sizeof what, "train with 3 classes and class_weights_count %zu", wrong[i]);
        c.class_weights_count = wrong[i];
        expect_mentions_at(lk_image_segmenter_train(&s, x, 1, 64, m, 64, &s, x, 1, 64, m, 64, &c, NULL, NULL, &out),
                           LK_STATUS_SIZE_MISMATCH, "class_weights_count", __LINE__, what);
        CHECK(out == SEG_SENTINEL, "%s: *out was set", what);
    }
    /* No weights but a count: the pointer is what is missing. */
    c.class_weights = NULL;
    c.class_weights_count = 3;
    lk_image_segmenter *out = SEG_SENTINEL;
    FAILS(lk_image_segmenter_train(&s, x, 1, 64, m, 64, &s, x, 1, 64, m, 64, &c, NULL, NULL, &out), LK_STATUS_INVALID_ARGUMENT,
          "class_weights is NULL");
}

/* ======================================================================== */
/* parameter names that are not UTF-8 are INVALID_ARGUMENT                    */
/* ======================================================================== */

static void group_param_names_utf8(void) {
    char path[4200];
    golden(path, sizeof path, "lstm");
    lk_lstm *l = NULL;
    if (!EXPECT(lk_lstm_load(path, &l), LK_STATUS_OK)) return;
    static const char *const bad[] = {"\xff", "weight_ih_l0\xc3", "bias_\xe4\xb8"};
    float buf[4096];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t ndim = -5;
        int64_t shape[2] = {-5, -5};
        FAILS(lk_lstm_param_shape(l, bad[i], &ndim, shape), LK_STATUS_INVALID_ARGUMENT, "UTF-8");
        CHECK(ndim == -5 && shape[0] == -5 && shape[1] == -5, "param_shape(bad name %zu) wrote its outputs", i);
        fill(buf, 4096, UNTOUCHED);
        FAILS(lk_lstm_get_param(l, bad[i], buf, 16), LK_STATUS_INVALID_ARGUMENT, "UTF-8");
        CHECK(all_equal_to(buf, 4096, UNTOUCHED), "get_param(bad name %zu) wrote to out", i);
        FAILS(lk_lstm_set_param(l, bad[i], buf, 16), LK_STATUS_INVALID_ARGUMENT, "UTF-8");
    }
    /* A valid name that no parameter has stays NOT_FOUND. */
    int32_t ndim = 0;
    int64_t shape[2];
    FAILS(lk_lstm_param_shape(l, "weight_ih_l9", &ndim, shape), LK_STATUS_NOT_FOUND, "weight_ih_l9");
    lk_lstm_free(l);
}

/* ======================================================================== */
/* every capped config field has its range in the header                     */
/* ======================================================================== */

/* The comment of `field` in `typedef struct name { ... }` of the header: from its
 * declaration to the next declaration; a new string, NULL if not found. */
static char *field_comment(const char *header, const char *name, const char *field) {
    char open[128], close[128], decl[128];
    snprintf(open, sizeof open, "typedef struct %s {", name);
    snprintf(close, sizeof close, "} %s;", name);
    snprintf(decl, sizeof decl, " %s;", field);
    const char *start = strstr(header, open), *end = start ? strstr(start, close) : NULL;
    const char *at = start ? strstr(start, decl) : NULL;
    if (!at || !end || at > end) return NULL;
    /* The comment ends before the next line that declares a field (or the struct end). */
    const char *stop = strchr(at, '\n');
    while (stop && stop < end) {
        const char *line = stop + 1;
        while (*line == ' ') line++;
        if (strncmp(line, "int32_t ", 8) == 0 || strncmp(line, "float ", 6) == 0 || strncmp(line, "double ", 7) == 0 ||
            strncmp(line, "uint64_t ", 9) == 0 || strncmp(line, "size_t ", 7) == 0 || strncmp(line, "const ", 6) == 0 ||
            strncmp(line, "/*", 2) == 0 || *line == '}')
            break;
        stop = strchr(line, '\n');
    }
    size_t n = (size_t)((stop && stop < end ? stop : end) - at);
    char *comment = xmalloc(n + 1);
    memcpy(comment, at, n);
    comment[n] = 0;
    return comment;
}

/* The failed call's message says "<field> must be <rule>, got ..."; the header's comment
 * of the field must state the same range ("[1, 65536]", "[0, 1)"). Two checks. */
static void range_in_header_at(const char *header, const char *name, const char *field, lk_status got, int line) {
    char what[160];
    snprintf(what, sizeof what, "%s.%s out of range", name, field);
    if (!expect_mentions_at(got, LK_STATUS_INVALID_ARGUMENT, field, line, what)) return;
    const char *msg = lk_last_error(), *rule = strstr(msg, "must be ");
    const char *open = rule ? strpbrk(rule, "[(") : NULL, *close = open ? strpbrk(open + 1, "])") : NULL;
    if (!check_at(open && close, line, "%s: the message \"%s\" gives no range", what, msg)) return;
    char range[64];
    snprintf(range, sizeof range, "%.*s", (int)(close - open + 1), open);
    char *comment = field_comment(header, name, field);
    check_at(comment && strstr(comment, range), line, "%s: the library refuses it outside %s, but the header says \"%s\"", what,
             range, comment ? comment : "(no such field)");
    free(comment);
}
#define RANGE_IN_HEADER(name, field, call) range_in_header_at(header, #name, #field, (call), __LINE__)

static void group_config_ranges(void) {
    char path[4200];
    snprintf(path, sizeof path, "%s/../../../include/lstmkit.h", g_fixture_dir);
    size_t len = 0;
    char *header = (char *)read_all(path, &len);
    if (!CHECK(header != NULL, "cannot read the header %s", path)) return;
    header = realloc(header, len + 1);
    header[len] = 0;

    /* Text classifier: each field one past its cap; refused before the texts are read. */
    const char *texts[] = {"good", "bad"}, *labels[] = {"a", "b"};
    size_t lens[] = {4, 3};
    lk_text_classifier *tc = CLS_SENTINEL;
#define TEXT(field, value)                                                                                              \
    do {                                                                                                                \
        lk_text_classifier_train_config c = lk_text_classifier_train_config_default();                                  \
        c.field = value;                                                                                                \
        RANGE_IN_HEADER(lk_text_classifier_train_config, field,                                                         \
                        lk_text_classifier_train(texts, lens, labels, 2, texts, lens, labels, 2, &c, NULL, NULL, &tc)); \
    } while (0)
    TEXT(embedding_dim, 4097);
    TEXT(hidden_size, 4097);
    TEXT(num_layers, 17);
    TEXT(attention_size, 4097);
    TEXT(dropout, 1.0f);
    TEXT(max_length, 1000001);
    TEXT(batch_size, 65537);
    TEXT(threads, 1025);
    TEXT(ngram_order, 9);
    TEXT(ngram_dropout, 1.0f);
    TEXT(bigram_dim, 4097);
#undef TEXT
    CHECK(tc == CLS_SENTINEL, "a refused text classifier config set *out");

    /* Tokenizer: a one-sentence corpus, refused at the config. */
    lk_tokenizer *tok = TOK_SENTINEL;
#define TOK(field, value)                                                                                             \
    do {                                                                                                              \
        lk_tokenizer_train_config c = lk_tokenizer_train_config_default();                                            \
        c.field = value;                                                                                              \
        RANGE_IN_HEADER(lk_tokenizer_train_config, field, lk_tokenizer_train("a b\n", 4, "a b\n", 4, &c, NULL, NULL, NULL, &tok)); \
    } while (0)
    TOK(batch_size, 65537);
    TOK(hidden_size, 4097);
    TOK(num_layers, 17);
    TOK(char_dim, 4097);
    TOK(bigram_dim, 4097);
    TOK(dropout, 1.0f);
    TOK(label_smoothing, 1.0f);
    TOK(threads, 1025);
    TOK(dictionary_max_length, 17);
    TOK(unknown_bigram_rate, 1.0f);
    TOK(feature_dropout, 1.0f);
    TOK(average_decay, 1.0f);
#undef TOK
    CHECK(tok == TOK_SENTINEL, "a refused tokenizer config set *out");

    /* Image classifier and segmenter: refused before the images are read. */
    lk_image_shape s = {0, 8, 8, 1};
    static float x[64];
    static int32_t m[64];
    const char *il[] = {"0"};
    lk_image_classifier *ic = IMG_SENTINEL;
#define IMG(field, value)                                                                                               \
    do {                                                                                                                \
        lk_image_classifier_train_config c = lk_image_classifier_train_config_default();                                \
        c.field = value;                                                                                                \
        RANGE_IN_HEADER(lk_image_classifier_train_config, field,                                                        \
                        lk_image_classifier_train(&s, x, 1, 64, il, x, 1, 64, il, &c, NULL, NULL, &ic));                \
    } while (0)
    IMG(hidden_size, 4097);
    IMG(num_layers, 17);
    IMG(attention_size, 4097);
    IMG(dropout, 1.0f);
    IMG(batch_size, 65537);
    IMG(threads, 1025);
    IMG(decay_factor, 1.5f);
#undef IMG
    CHECK(ic == IMG_SENTINEL, "a refused image classifier config set *out");
    lk_image_segmenter *sg = SEG_SENTINEL;
#define SEG(field, value)                                                                                               \
    do {                                                                                                                \
        lk_image_segmenter_train_config c = lk_image_segmenter_train_config_default();                                  \
        c.field = value;                                                                                                \
        RANGE_IN_HEADER(lk_image_segmenter_train_config, field,                                                         \
                        lk_image_segmenter_train(&s, x, 1, 64, m, 64, &s, x, 1, 64, m, 64, &c, NULL, NULL, &sg));       \
    } while (0)
    SEG(num_classes, 65537);
    SEG(hidden_size, 4097);
    SEG(batch_size, 65537);
    SEG(threads, 1025);
    SEG(decay_factor, 1.5f);
#undef SEG
    CHECK(sg == SEG_SENTINEL, "a refused segmenter config set *out");

    /* Sequence classifier and forecaster: refused at the config, before the data. */
    static const int32_t two[] = {2, 2};
    const char *sl[] = {"a", "b"};
    lk_sequences seqs = {x, 4, two, 2, 2, 1};
    lk_sequence_classifier *sq = (lk_sequence_classifier *)(void *)&g_sentinel_object;
#define SEQ(field, value)                                                                                               \
    do {                                                                                                                \
        lk_sequence_classifier_train_config c = lk_sequence_classifier_train_config_default();                          \
        c.field = value;                                                                                                \
        RANGE_IN_HEADER(lk_sequence_classifier_train_config, field,                                                     \
                        lk_sequence_classifier_train(&seqs, sl, NULL, NULL, &c, NULL, NULL, &sq));                      \
    } while (0)
    SEQ(hidden_size, 4097);
    SEQ(num_layers, 17);
    SEQ(attention_size, 4097);
    SEQ(dropout, 1.0f);
    SEQ(patch_length, 4097);
    SEQ(members, 17);
    SEQ(batch_size, 65537);
    SEQ(decay_factor, 1.5f);
    SEQ(validation_fraction, 0.75f);
    SEQ(threads, 1025);
#undef SEQ
    CHECK(sq == (lk_sequence_classifier *)(void *)&g_sentinel_object, "a refused sequence classifier config set *out");
    lk_series y = {x, 64, 64, 1};
    lk_forecaster *fc = (lk_forecaster *)(void *)&g_sentinel_object;
#define FC(field, value)                                                                                                \
    do {                                                                                                                \
        lk_forecaster_train_config c = lk_forecaster_train_config_default();                                            \
        c.field = value;                                                                                                \
        RANGE_IN_HEADER(lk_forecaster_train_config, field, lk_forecaster_train(&y, NULL, &c, NULL, NULL, &fc));        \
    } while (0)
    FC(context, 65537);
    FC(horizon, 65537);
    FC(hidden_size, 4097);
    FC(num_layers, 17);
    FC(num_quantiles, LK_FORECASTER_MAX_QUANTILES + 1);
    FC(season, 65537);
    FC(dev_fraction, 0.75f);
    FC(batch_size, 65537);
    FC(decay_factor, 1.5f);
    FC(threads, 1025);
#undef FC
    CHECK(fc == (lk_forecaster *)(void *)&g_sentinel_object, "a refused forecaster config set *out");
    free(header);
}

/* ======================================================================== */
/* pixels far outside the training scale never come back as OK with NaN      */
/* ======================================================================== */

/* The outputs of a call that returned OK must all be finite; one that failed must be
 * INVALID_ARGUMENT naming the image. `must_fail`: the model certainly overflows. */
static void finite_or_refused_at(lk_status s, const float *out, size_t n, int must_fail, const char *what, int line) {
    if (s == LK_STATUS_OK && !must_fail) {
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) bad += !isfinite(out[i]);
        check_at(bad == 0, line, "%s: OK with %zu non-finite values of %zu", what, bad, n);
    } else {
        expect_mentions_at(s, LK_STATUS_INVALID_ARGUMENT, "image 0", line, what);
    }
}

static void group_huge_pixels(void) {
    char *dir = make_tmpdir("huge-pixels");
    char *tampered = path_join(dir, "small-std.safetensors");
    static const char *const files[] = {"image-cnn", "image-rows", "segmenter"};
    static const float values[] = {FLT_MAX, -FLT_MAX, 1e30f};
    for (size_t f = 0; f < 3; f++) {
        for (int small_std = 0; small_std < 2; small_std++) {
            char path[4200], what[160];
            golden(path, sizeof path, files[f]);
            /* As trained on pixels in [0, 1]: (FLT_MAX - mean) / 0.01 overflows at once. */
            if (small_std && !CHECK(write_with_metadata(path, tampered, "pixel_std", "0.01"), "cannot write %s", tampered)) continue;
            const char *model = small_std ? tampered : path;
            for (size_t v = 0; v < 3; v++) {
                snprintf(what, sizeof what, "%s%s, pixels %g", files[f], small_std ? " (pixel_std 0.01)" : "", (double)values[v]);
                const int overflows = small_std && v < 2; /* (±FLT_MAX - mean) / 0.01 is infinite */
                if (f < 2) {
                    lk_image_classifier *c = NULL;
                    if (!EXPECT(lk_image_classifier_load(model, &c), LK_STATUS_OK)) continue;
                    lk_image_shape s;
                    int32_t k = 0;
                    lk_image_classifier_input_shape(c, &s);
                    lk_image_classifier_num_classes(c, &k);
                    size_t count = (size_t)((s.frames ? s.frames : 1) * s.height * s.width * s.channels);
                    float *x = xmalloc(count * sizeof(float)), p[64];
                    fill(x, count, values[v]);
                    finite_or_refused_at(lk_image_classifier_predict(c, x, 1, &s, count, 1, p, (size_t)k), p, (size_t)k,
                                         overflows, what, __LINE__);
                    free(x);
                    lk_image_classifier_free(c);
                } else {
                    lk_image_segmenter *g = NULL;
                    if (!EXPECT(lk_image_segmenter_load(model, &g), LK_STATUS_OK)) continue;
                    int32_t ch = 0, k = 0;
                    lk_image_segmenter_channels(g, &ch);
                    lk_image_segmenter_num_classes(g, &k);
                    lk_image_shape s = {0, 8, 8, ch};
                    size_t count = (size_t)(64 * ch);
                    float *x = xmalloc(count * sizeof(float)), *q = xmalloc((size_t)(64 * k) * sizeof(float));
                    int32_t masks[64] = {0};
                    fill(x, count, values[v]);
                    finite_or_refused_at(lk_image_segmenter_predict_proba(g, x, 1, &s, count, 1, q, (size_t)(64 * k)), q,
                                         (size_t)(64 * k), overflows, what, __LINE__);
                    /* predict and evaluate: the same input, the same verdict. */
                    lk_status ps = lk_image_segmenter_predict(g, x, 1, &s, count, 1, masks, 64);
                    lk_status es = lk_image_segmenter_evaluate(g, x, 1, &s, count, masks, 64, 1, NULL, 0, NULL, NULL);
                    if (overflows) {
                        expect_mentions_at(ps, LK_STATUS_INVALID_ARGUMENT, "image 0", __LINE__, what);
                        expect_mentions_at(es, LK_STATUS_INVALID_ARGUMENT, "image 0", __LINE__, what);
                    }
                    free(x);
                    free(q);
                    lk_image_segmenter_free(g);
                }
            }
        }
    }
    free(tampered);
    rm_tree(dir);
    free(dir);
}

const test_group header_groups[] = {
    {"header agreement: counts of SIZE_MAX are SIZE_MISMATCH", group_size_max_counts},
    {"header agreement: a wrong class_weights_count is SIZE_MISMATCH", group_class_weights_count},
    {"header agreement: parameter names that are not UTF-8 are INVALID_ARGUMENT", group_param_names_utf8},
    {"header agreement: every capped config field has its range in the header", group_config_ranges},
    {"header agreement: huge pixels never give OK with NaN", group_huge_pixels},
    {NULL, NULL},
};
