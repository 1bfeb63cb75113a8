/*
 * test_train_options.c — lk_train_options and the lk_*_train_ex functions: keys and
 * values checked when set (unknown key, bad text, out of range, naming the key), keys a
 * model lacks refused by its train_ex, and each loop feature observable through them:
 * NULL options and an explicit cell "lstm" train as lk_*_train does, cosine differs
 * from plateau, time_limit stops early, a checkpoint appears and resume continues as
 * the uninterrupted run, the same options for every model. Every field of a C config by
 * its name, as text: set through lk_train_options, written by
 * lk_train_config_default_text and lk_model_get_config_text.
 */
#include "harness.h"

/* Sets key = value, expecting OK. */
#define SET(o, key, value) EXPECT(lk_train_options_set((o), (key), (value)), LK_STATUS_OK)
/* Sets key = value, expecting INVALID_ARGUMENT and a message that mentions needle. */
#define SET_FAILS(o, key, value, needle)                                                              \
    expect_mentions_at(lk_train_options_set((o), (key), (value)), LK_STATUS_INVALID_ARGUMENT, (needle), \
                       __LINE__, key "=" value)

static lk_train_options *options_of(const char *const *pairs) {
    lk_train_options *o = NULL;
    if (!EXPECT(lk_train_options_create(&o), LK_STATUS_OK)) return NULL;
    for (; pairs && pairs[0]; pairs += 2) SET(o, pairs[0], pairs[1]);
    return o;
}

static lk_status text_train(const tsv_set *s, const lk_text_classifier_train_config *c, const lk_train_options *o,
                            lk_progress_fn fn, void *user, lk_text_classifier **out) {
    return lk_text_classifier_train_ex(s->texts, s->lens, s->labels, N_TRAIN, s->texts + N_TRAIN, s->lens + N_TRAIN,
                                       s->labels + N_TRAIN, s->n - N_TRAIN, c, o, fn, user, out);
}

/* The dev set's probabilities of a text classifier trained with these options (NULL
 * on failure, reported). */
static float *text_probabilities(const tsv_set *s, lk_text_classifier_train_config c, const char *const *pairs) {
    lk_train_options *o = pairs ? options_of(pairs) : NULL;
    lk_text_classifier *h = NULL;
    float *p = NULL;
    size_t n = s->n - N_TRAIN;
    if (EXPECT(text_train(s, &c, o, NULL, NULL, &h), LK_STATUS_OK)) {
        int32_t k = 0;
        EXPECT(lk_text_classifier_num_classes(h, &k), LK_STATUS_OK);
        p = xcalloc(n * (size_t)k, sizeof *p);
        EXPECT(lk_text_classifier_predict(h, s->texts + N_TRAIN, s->lens + N_TRAIN, n, 1, p, n * (size_t)k), LK_STATUS_OK);
    }
    lk_text_classifier_free(h);
    lk_train_options_free(o);
    return p;
}

static void group_options_keys_and_values(void) {
    lk_train_options *o = NULL;
    EXPECT(lk_train_options_create(NULL), LK_STATUS_INVALID_ARGUMENT);
    if (!EXPECT(lk_train_options_create(&o), LK_STATUS_OK)) return;
    /* Every loop key and the cell, for every model. */
    SET(o, "schedule", "cosine");
    SET(o, "schedule", "plateau"); /* again: replaces */
    SET(o, "average_decay", "0.999");
    SET(o, "weight_decay", "0.01");
    SET(o, "bptt_length", "24");            /* the forecaster's */
    SET(o, "time_limit", "0");
    SET(o, "time_limit", "90.5");
    SET(o, "checkpoint_path", "/tmp/x.ckpt");
    SET(o, "resume", "0");
    SET(o, "cell", "lstm");
    SET(o, "epochs", "3");
    SET(o, "clip_norm", "1e-1");
    SET(o, "dice_weight", "0.25");          /* the segmenter's */
    SET(o, "bigram_dim", "0");              /* 0 is the text classifier's (the tokenizer needs >= 1) */
    SET(o, "encoder_channels", "8,16");     /* a list */
    SET(o, "embedding_dropout", "0.1");     /* an engine name the C struct folds into dropout */
    /* Unknown keys, bad text, values out of range: the message names the key. */
    SET_FAILS(o, "no_such_key", "1", "no_such_key");
    SET_FAILS(o, "Schedule", "cosine", "Schedule");
    SET_FAILS(o, "schedule", "linear", "schedule must be plateau or cosine, got \"linear\"");
    SET_FAILS(o, "average_decay", "1.5", "average_decay must be in [0, 1), got 1.5");
    SET_FAILS(o, "average_decay", "abc", "average_decay must be a number");
    SET_FAILS(o, "weight_decay", "1", "weight_decay must be in [0, 1), got 1");
    SET_FAILS(o, "weight_decay", "-0.1", "weight_decay must be in [0, 1)");
    SET_FAILS(o, "bptt_length", "-1", "bptt_length must be in [0, 65536], got -1");
    SET_FAILS(o, "average_decay", "", "average_decay");
    SET_FAILS(o, "epochs", "2.5", "epochs must be an integer");
    SET_FAILS(o, "epochs", "0", "epochs must be in [1, ");
    SET_FAILS(o, "time_limit", "0.5", "time_limit must be 0 (no limit) or at least 1 second");
    SET_FAILS(o, "time_limit", "nan", "time_limit");
    SET_FAILS(o, "cell", "rnn", "cell must be");
    SET_FAILS(o, "resume", "yes", "resume must be 0 or 1");
    SET_FAILS(o, "checkpoint_path", "", "checkpoint_path");
    SET_FAILS(o, "encoder_channels", "8,,16", "encoder_channels must be sizes separated by commas");
    SET_FAILS(o, "encoder_channels", "8,0", "encoder_channels[1]");
    EXPECT(lk_train_options_set(NULL, "epochs", "1"), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_train_options_set(o, NULL, "1"), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_train_options_set(o, "epochs", NULL), LK_STATUS_INVALID_ARGUMENT);
    lk_train_options_free(o);
    lk_train_options_free(NULL);
}

static void group_options_train_ex_checks(void) {
    tsv_set s;
    if (!CHECK(read_tsv(&s) && s.n == 300, "cannot read the text fixture")) return;
    lk_text_classifier_train_config c = tiny_cls_config();
    lk_text_classifier *out = NULL;
    /* A key of another model: refused by this model's train_ex, which lists its keys. */
    static const char *const segmenter_key[] = {"dice_weight", "0.25", NULL};
    lk_train_options *o = options_of(segmenter_key);
    expect_mentions_at(text_train(&s, &c, o, NULL, NULL, &out), LK_STATUS_INVALID_ARGUMENT, "\"dice_weight\"", __LINE__,
                       "dice_weight for a text classifier");
    mentions_at("ngram_order", __LINE__, "the list of the model's keys");
    mentions_at("average_decay", __LINE__, "the list of the model's keys");
    lk_train_options_free(o);
    /* A list key of another model, likewise. */
    static const char *const channels[] = {"encoder_channels", "8,16", NULL};
    o = options_of(channels);
    expect_mentions_at(text_train(&s, &c, o, NULL, NULL, &out), LK_STATUS_INVALID_ARGUMENT, "encoder_channels", __LINE__,
                       "encoder_channels for a text classifier");
    lk_train_options_free(o);
    /* resume without a checkpoint. */
    static const char *const resume[] = {"resume", "1", NULL};
    o = options_of(resume);
    expect_mentions_at(text_train(&s, &c, o, NULL, NULL, &out), LK_STATUS_INVALID_ARGUMENT, "resume needs checkpoint_path",
                       __LINE__, "resume alone");
    lk_train_options_free(o);
    CHECK(out == NULL, "a failed train_ex wrote *out");
    tsv_free(&s);
}

static void group_options_text_classifier(void) {
    tsv_set s;
    if (!CHECK(read_tsv(&s) && s.n == 300, "cannot read the text fixture")) return;
    size_t n = (s.n - N_TRAIN) * 2; /* two classes */
    lk_text_classifier_train_config c = tiny_cls_config();
    float *plain = NULL, *none = text_probabilities(&s, c, NULL);
    lk_text_classifier *h = NULL;
    if (EXPECT(lk_text_classifier_train(s.texts, s.lens, s.labels, N_TRAIN, s.texts + N_TRAIN, s.lens + N_TRAIN,
                                        s.labels + N_TRAIN, s.n - N_TRAIN, &c, NULL, NULL, &h), LK_STATUS_OK)) {
        plain = xcalloc(n, sizeof *plain);
        EXPECT(lk_text_classifier_predict(h, s.texts + N_TRAIN, s.lens + N_TRAIN, s.n - N_TRAIN, 1, plain, n), LK_STATUS_OK);
    }
    lk_text_classifier_free(h);
    static const char *const lstm[] = {"cell", "lstm", "schedule", "plateau", NULL};
    static const char *const cosine[] = {"schedule", "cosine", NULL};
    static const char *const averaged[] = {"average_decay", "0.9", NULL};
    float *explicit = text_probabilities(&s, c, lstm), *cos = text_probabilities(&s, c, cosine);
    float *avg = text_probabilities(&s, c, averaged);
    if (plain && none && explicit && cos && avg) {
        CHECK(bits_equal(plain, none, n), "NULL options trained another model than lk_text_classifier_train");
        CHECK(bits_equal(plain, explicit, n), "cell lstm and schedule plateau, given, trained another model than the defaults");
        CHECK(max_diff_ff(plain, cos, n) > 1e-6, "the cosine schedule changed no probability");
        CHECK(max_diff_ff(plain, avg, n) > 1e-6, "weight averaging changed no probability");
    }
    /* Weight decay: 0 is the default model bit for bit; 0.1 changes it. */
    static const char *const no_decay[] = {"weight_decay", "0", NULL};
    static const char *const decayed[] = {"weight_decay", "0.1", NULL};
    float *zero = text_probabilities(&s, c, no_decay), *wd = text_probabilities(&s, c, decayed);
    if (plain && zero && wd) {
        CHECK(bits_equal(plain, zero, n), "weight_decay 0 trained another model than the defaults");
        CHECK(max_diff_ff(plain, wd, n) > 1e-6, "weight_decay 0.1 changed no probability");
    }
    free(zero);
    free(wd);
    /* Options over the struct's fields: epochs 1 by name is epochs 1 in the struct. */
    lk_text_classifier_train_config one = c;
    one.epochs = 1;
    static const char *const epochs[] = {"epochs", "1", NULL};
    float *by_struct = text_probabilities(&s, one, NULL), *by_name = text_probabilities(&s, c, epochs);
    if (by_struct && by_name) CHECK(bits_equal(by_struct, by_name, n), "epochs by name differs from epochs in the struct");
    free(by_struct);
    free(by_name);
    free(plain);
    free(none);
    free(explicit);
    free(cos);
    free(avg);
    tsv_free(&s);
}

/* A progress callback that notes whether a line mentioned "time limit" and how many
 * lines mentioned "resumed". */
typedef struct {
    int time_limit, resumed;
} lines_seen;

static void note_lines(const char *line, void *user_data) {
    lines_seen *seen = user_data;
    if (strstr(line, "time limit")) seen->time_limit = 1;
    if (strstr(line, "resumed from")) seen->resumed++;
}

static void group_options_checkpoint_resume(void) {
    tsv_set s;
    if (!CHECK(read_tsv(&s) && s.n == 300, "cannot read the text fixture")) return;
    char *dir = make_tmpdir("options-ckpt");
    char *whole_path = path_join(dir, "whole.ckpt"), *split_path = path_join(dir, "split.ckpt");
    size_t n = (s.n - N_TRAIN) * 2;
    lk_text_classifier_train_config c = tiny_cls_config();
    c.epochs = 3;
    const char *const whole[] = {"checkpoint_path", whole_path, NULL};
    float *uninterrupted = text_probabilities(&s, c, whole);
    CHECK(is_file(whole_path), "no checkpoint file at %s", whole_path);
    /* One epoch, then a new training of 3 resumed from its checkpoint. */
    lk_text_classifier_train_config first = c;
    first.epochs = 1;
    const char *const split[] = {"checkpoint_path", split_path, NULL};
    free(text_probabilities(&s, first, split));
    CHECK(is_file(split_path), "no checkpoint file at %s", split_path);
    lk_train_options *o = options_of(split);
    SET(o, "resume", "1");
    lines_seen seen = {0, 0};
    lk_text_classifier *h = NULL;
    if (EXPECT(text_train(&s, &c, o, note_lines, &seen, &h), LK_STATUS_OK) && uninterrupted) {
        float *resumed = xcalloc(n, sizeof *resumed);
        EXPECT(lk_text_classifier_predict(h, s.texts + N_TRAIN, s.lens + N_TRAIN, s.n - N_TRAIN, 1, resumed, n), LK_STATUS_OK);
        CHECK(max_diff_ff(resumed, uninterrupted, n) < 1e-4, "resumed training differs from the uninterrupted run by %g",
              max_diff_ff(resumed, uninterrupted, n));
        CHECK(seen.resumed == 1, "%d progress lines said \"resumed from\", want 1", seen.resumed);
        free(resumed);
    }
    lk_text_classifier_free(h);
    /* resume from a checkpoint that is not there: IO_ERROR or INVALID_ARGUMENT, never OK. */
    SET(o, "checkpoint_path", whole_path);
    unlink(whole_path);
    h = NULL;
    CHECK(text_train(&s, &c, o, NULL, NULL, &h) != LK_STATUS_OK && h == NULL, "resumed from a missing checkpoint");
    lk_train_options_free(o);
    free(uninterrupted);
    free(whole_path);
    free(split_path);
    free(dir);
    tsv_free(&s);
}

/* The same options for the other models: time_limit with the cosine schedule stops an
 * image classifier's training of 100000 epochs after about a second. */
static void group_options_time_limit(void) {
    image_set t, d;
    quadrant_images(&t, 64, 1, 1);
    quadrant_images(&d, 16, 1, 2);
    lk_image_classifier_train_config c = tiny_img_config();
    c.epochs = 100000;
    static const char *const pairs[] = {"time_limit", "1", "schedule", "cosine", "cell", "lstm", NULL};
    lk_train_options *o = options_of(pairs);
    lines_seen seen = {0, 0};
    lk_image_classifier *h = NULL;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    EXPECT(lk_image_classifier_train_ex(&t.shape, t.x, t.n, t.count, t.labels, d.x, d.n, d.count, d.labels, &c, o,
                                        note_lines, &seen, &h), LK_STATUS_OK);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double seconds = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
    CHECK(h != NULL && seconds >= 1 && seconds < 60, "training with time_limit 1 took %.1f s", seconds);
    CHECK(seen.time_limit, "no progress line mentions the time limit");
    lk_image_classifier_free(h);
    lk_train_options_free(o);
    image_set_free(&t);
    image_set_free(&d);
}

/* lk_model_get_setting: a text classifier trained with cell "lstm" given reports it,
 * and its sizes as get_config does; the golden segmenter's list setting; the size
 * query, a buffer too small, a key the model does not record, a pointer that is no
 * model handle. */
static void group_options_get_setting(void) {
    tsv_set s;
    if (!CHECK(read_tsv(&s) && s.n == 300, "cannot read the text fixture")) return;
    lk_text_classifier_train_config c = tiny_cls_config(), got;
    static const char *const lstm[] = {"cell", "lstm", NULL};
    lk_train_options *o = options_of(lstm);
    lk_text_classifier *h = NULL;
    char value[64], hidden[16];
    size_t size = 0;
    if (EXPECT(text_train(&s, &c, o, NULL, NULL, &h), LK_STATUS_OK)) {
        EXPECT(lk_model_get_setting(h, "cell", NULL, 0, &size), LK_STATUS_OK);
        CHECK(size == 4, "the size of cell \"lstm\" is %zu, not 4", size);
        EXPECT(lk_model_get_setting(h, "cell", value, 2, &size), LK_STATUS_BUFFER_TOO_SMALL);
        if (EXPECT(lk_model_get_setting(h, "cell", value, 5, &size), LK_STATUS_OK))
            CHECK(strcmp(value, "lstm") == 0 && size == 4, "cell reads \"%s\", not \"lstm\"", value);
        EXPECT(lk_text_classifier_get_config(h, &got), LK_STATUS_OK);
        snprintf(hidden, sizeof hidden, "%d", (int)got.hidden_size);
        if (EXPECT(lk_model_get_setting(h, "hidden_size", value, sizeof value, &size), LK_STATUS_OK))
            CHECK(strcmp(value, hidden) == 0, "hidden_size reads \"%s\", get_config %s", value, hidden);
        EXPECT(lk_model_get_setting(h, "schedule", value, sizeof value, &size), LK_STATUS_NOT_FOUND);
        EXPECT(lk_model_get_setting(h, NULL, value, sizeof value, &size), LK_STATUS_INVALID_ARGUMENT);
        EXPECT(lk_model_get_setting(h, "cell", value, sizeof value, NULL), LK_STATUS_INVALID_ARGUMENT);
    }
    EXPECT(lk_model_get_setting(o, "cell", value, sizeof value, &size), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_model_get_setting(NULL, "cell", value, sizeof value, &size), LK_STATUS_INVALID_ARGUMENT);
    char path[4200];
    lk_image_segmenter *seg = NULL;
    lk_image_segmenter_train_config sc;
    snprintf(path, sizeof path, "%s/../golden/segmenter.safetensors", g_fixture_dir);
    if (EXPECT(lk_image_segmenter_load(path, &seg), LK_STATUS_OK) && EXPECT(lk_image_segmenter_get_config(seg, &sc), LK_STATUS_OK) &&
        EXPECT(lk_model_get_setting(seg, "encoder_channels", value, sizeof value, &size), LK_STATUS_OK)) {
        char expected[64] = "";
        for (int32_t i = 0; i < sc.num_blocks; i++)
            snprintf(expected + strlen(expected), sizeof expected - strlen(expected), "%s%d", i ? "," : "", (int)sc.encoder_channels[i]);
        CHECK(strcmp(value, expected) == 0, "encoder_channels reads \"%s\", get_config %s", value, expected);
        EXPECT(lk_model_get_setting(seg, "cell", value, sizeof value, &size), LK_STATUS_OK);
    }
    lk_image_segmenter_free(seg);
    lk_text_classifier_free(h);
    lk_train_options_free(o);
    tsv_free(&s);
}

/* The text of lk_model_get_config_text(model) or, model NULL, of
 * lk_train_config_default_text(kind), in buffer (NULL on failure, reported). */
static const char *config_text(const void *model, const char *kind, char *buffer, size_t capacity) {
    size_t size = 0;
    lk_status st = model ? lk_model_get_config_text(model, buffer, capacity, &size)
                         : lk_train_config_default_text(kind, buffer, capacity, &size);
    return EXPECT(st, LK_STATUS_OK) && CHECK(strlen(buffer) == size, "*size %zu, text %zu bytes", size, strlen(buffer))
               ? buffer : NULL;
}

/* Checks that text holds the line "name=value\n". */
#define HAS_LINE(text, line) \
    CHECK((text) != NULL && strstr((text), line "\n") != NULL, "the config text lacks %s: %s", line, (text) ? (text) : "")

/* Configs as text: every model kind's default config (as its struct holds it), the
 * buffer protocol, an unknown kind; fields set by name (an enum by its name, a flag as
 * true/false, the one dropout, a list, tokenization), refused with messages naming the
 * field; a text classifier trained from the default struct with its fields by name
 * reports them (get_config and lk_model_get_config_text); no config for other pointers. */
static void group_options_config_text(void) {
    static const char *const kinds[] = {"tokenizer", "text_classifier", "image_classifier", "image_segmenter",
                                        "sequence_classifier", "forecaster"};
    char text[4096], line[64];
    size_t size = 0;
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) config_text(NULL, kinds[i], text, sizeof text);
    lk_text_classifier_train_config d = lk_text_classifier_train_config_default();
    const char *t = config_text(NULL, "text_classifier", text, sizeof text);
    snprintf(line, sizeof line, "hidden_size=%d", (int)d.hidden_size);
    HAS_LINE(t, "pooling=attention");
    HAS_LINE(t, "bidirectional=true");
    HAS_LINE(t, "tokenization=auto");
    HAS_LINE(t, "dropout=0.3");
    CHECK(t != NULL && strstr(t, line) != NULL, "the default text lacks %s", line);
    HAS_LINE(config_text(NULL, "image_classifier", text, sizeof text), "conv_channels=32,64");
    HAS_LINE(config_text(NULL, "forecaster", text, sizeof text), "quantiles=0.1,0.5,0.9");
    EXPECT(lk_train_config_default_text("text_classifier", NULL, 0, &size), LK_STATUS_OK);
    EXPECT(lk_train_config_default_text("text_classifier", text, size, &size), LK_STATUS_BUFFER_TOO_SMALL);
    expect_mentions_at(lk_train_config_default_text("lstm", text, sizeof text, &size), LK_STATUS_NOT_FOUND,
                       "text_classifier", __LINE__, "kind lstm");
    EXPECT(lk_train_config_default_text(NULL, text, sizeof text, &size), LK_STATUS_INVALID_ARGUMENT);

    lk_train_options *o = options_of(NULL);
    SET_FAILS(o, "pooling", "median", "pooling must be last, mean, max, attention or self_attention");
    SET_FAILS(o, "attention_heads", "0", "attention_heads must be in [1, 64], got 0");
    SET_FAILS(o, "bidirectional", "2", "bidirectional must be true or false");
    SET_FAILS(o, "tokenization", "bytes", "tokenization must be auto, characters or words");
    SET_FAILS(o, "conv_channels", "32,,64", "conv_channels");
    SET_FAILS(o, "dropout", "lots", "dropout must be a number");
    static const char *const fields[] = {"embedding_dim", "16", "hidden_size", "16", "attention_size", "8",
                                         "min_count", "1", "epochs", "2", "batch_size", "16", "seed", "3",
                                         "pooling", "mean", "bidirectional", "false", "dropout", "0.25",
                                         "tokenization", "words", NULL};
    lk_train_options_free(o);
    o = options_of(fields);
    tsv_set s;
    lk_text_classifier *h = NULL;
    lk_text_classifier_train_config got;
    if (CHECK(read_tsv(&s) && s.n == 300, "cannot read the text fixture")) {
        if (EXPECT(text_train(&s, &d, o, NULL, NULL, &h), LK_STATUS_OK) && EXPECT(lk_text_classifier_get_config(h, &got), LK_STATUS_OK)) {
            CHECK(got.hidden_size == 16 && got.pooling == LK_POOLING_MEAN && got.bidirectional == 0 && got.dropout == 0.25f &&
                      got.tokenization == LK_TOKENIZATION_WORDS,
                  "get_config after fields by name: hidden %d, pooling %d, bidirectional %d, dropout %g, tokenization %d",
                  (int)got.hidden_size, (int)got.pooling, (int)got.bidirectional, (double)got.dropout, (int)got.tokenization);
            t = config_text(h, NULL, text, sizeof text);
            HAS_LINE(t, "hidden_size=16");
            HAS_LINE(t, "pooling=mean");
            HAS_LINE(t, "bidirectional=false");
            HAS_LINE(t, "dropout=0.25");
            HAS_LINE(t, "tokenization=words");
        }
        tsv_free(&s);
    }
    EXPECT(lk_model_get_config_text(o, text, sizeof text, &size), LK_STATUS_INVALID_ARGUMENT);
    lk_lstm_config lc = lk_lstm_config_default();
    lk_lstm *lstm = NULL;
    lc.input_size = 2;
    lc.hidden_size = 2;
    if (EXPECT(lk_lstm_create(&lc, &lstm), LK_STATUS_OK))
        expect_mentions_at(lk_model_get_config_text(lstm, text, sizeof text, &size), LK_STATUS_INVALID_ARGUMENT,
                           "no train config", __LINE__, "an lk_lstm");
    lk_lstm_free(lstm);
    lk_text_classifier_free(h);
    lk_train_options_free(o);
}

const test_group train_options_groups[] = {
    {"options: keys and values", group_options_keys_and_values},
    {"options: train_ex refuses keys and values of other models", group_options_train_ex_checks},
    {"options: text classifier (NULL, cell, cosine, averaging, epochs)", group_options_text_classifier},
    {"options: checkpoint and resume", group_options_checkpoint_resume},
    {"options: image classifier time limit", group_options_time_limit},
    {"options: lk_model_get_setting", group_options_get_setting},
    {"options: C config fields by name, configs as text", group_options_config_text},
    {NULL, NULL},
};
