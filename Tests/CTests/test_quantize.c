/*
 * test_quantize.c — int8 quantization through the C ABI (lk_<model>_quantize,
 * lk_model_quantize; docs/QUANTIZATION.md): outputs near float32's, int8 files that load
 * back through lk_<model>_load to the same outputs, quantizing twice refused, files with
 * bad scales refused.
 */
#include "harness.h"

/* An LSTM and a GRU: quantized in place, outputs near float32's, files round trip. */
static void group_lstm_gru(void) {
    fixture f;
    if (!fixture_init(&f, make_config(5, 16, 2, 1, 0, 7), 3, 6)) return;
    int32_t n_float = 0, n_int8 = 0;
    lk_lstm_param_count(f.m, &n_float);
    EXPECT(lk_lstm_quantize(f.m), LK_STATUS_OK);
    lk_lstm_param_count(f.m, &n_int8);
    CHECK(n_int8 == n_float + 4 * 2, "param_count %d after quantizing, %d before: each weight gains its scale", n_int8, n_float);
    float *y = xcalloc(f.yn, sizeof *y), *hn = xcalloc(f.sn, sizeof *hn), *cn = xcalloc(f.sn, sizeof *cn);
    fwd_args a;
    fixture_args(&f, &a, y, hn, cn);
    EXPECT(fwd(&a), LK_STATUS_OK);
    double err = max_diff_ff(y, f.y, f.yn);
    CHECK(err > 0 && err < 0.02, "int8 y differs from float32 y by %g", err);
    expect_mentions_at(lk_lstm_quantize(f.m), LK_STATUS_INVALID_ARGUMENT, "already int8-quantized", __LINE__, "quantize twice");
    expect_mentions_at(lk_lstm_quantize(NULL), LK_STATUS_INVALID_ARGUMENT, "lstm", __LINE__, "quantize(NULL)");

    char *dir = make_tmpdir("quantize");
    char *path = path_join(dir, "lstm-int8.safetensors");
    EXPECT(lk_lstm_save(f.m, path), LK_STATUS_OK);
    METADATA_IS(path, "quantization", "int8");
    lk_lstm *loaded = NULL;
    if (EXPECT(lk_lstm_load(path, &loaded), LK_STATUS_OK)) {
        float *y2 = xcalloc(f.yn, sizeof *y2);
        a.m = loaded;
        a.y = y2;
        EXPECT(fwd(&a), LK_STATUS_OK);
        CHECK(bits_equal(y, y2, f.yn), "the loaded int8 file gives other outputs");
        EXPECT(lk_model_quantize(loaded), LK_STATUS_INVALID_ARGUMENT);
        /* set_param refuses a scale of NaN, 0 or below and an int8 value that is no
         * integer in [-128, 127], leaving the model as it was; a 0 scale in a file (a
         * marker scale saved, then overwritten with 0 in the bytes) is refused by load,
         * naming the tensor (test_quantize.py writes a NaN into a file). */
        float scales[64], values[64 * 5];
        const char *name = "weight_ih_l0_scale";
        EXPECT(lk_lstm_get_param(loaded, name, scales, 64), LK_STATUS_OK);
        const float bad_scales[] = {NAN, 0.0f, -1.0f, INFINITY};
        for (size_t i = 0; i < sizeof bad_scales / sizeof *bad_scales; i++) {
            float kept = scales[3];
            scales[3] = bad_scales[i];
            expect_mentions_at(lk_lstm_set_param(loaded, name, scales, 64), LK_STATUS_INVALID_ARGUMENT, name, __LINE__, "a bad scale");
            scales[3] = kept;
        }
        EXPECT(lk_lstm_get_param(loaded, "weight_ih_l0", values, 64 * 5), LK_STATUS_OK);
        const float bad_values[] = {128.0f, -129.0f, 0.5f};
        for (size_t i = 0; i < sizeof bad_values / sizeof *bad_values; i++) {
            float kept = values[7];
            values[7] = bad_values[i];
            expect_mentions_at(lk_lstm_set_param(loaded, "weight_ih_l0", values, 64 * 5), LK_STATUS_INVALID_ARGUMENT,
                               "integers in [-128, 127]", __LINE__, "a value outside int8");
            values[7] = kept;
        }
        EXPECT(fwd(&a), LK_STATUS_OK);
        CHECK(bits_equal(y, y2, f.yn), "a refused set_param changed the outputs");
        const float marker = 1234.5f;
        scales[3] = marker;
        EXPECT(lk_lstm_set_param(loaded, name, scales, 64), LK_STATUS_OK);
        EXPECT(lk_lstm_save(loaded, path), LK_STATUS_OK);
        FILE *file = fopen(path, "r+b");
        unsigned char bytes[1 << 16];
        size_t size = file ? fread(bytes, 1, sizeof bytes, file) : 0, at = 0;
        while (at + 4 <= size && memcmp(bytes + at, &marker, 4) != 0) at++;
        CHECK(file && at + 4 <= size, "the marker scale is not in the saved file");
        if (file && at + 4 <= size) {
            memset(bytes + at, 0, 4);
            fseek(file, 0, SEEK_SET);
            fwrite(bytes, 1, size, file);
        }
        if (file) fclose(file);
        lk_lstm *refused = SENTINEL;
        expect_mentions_at(lk_lstm_load(path, &refused), LK_STATUS_INVALID_FORMAT, name, __LINE__, "load with a 0 scale");
        CHECK(refused == SENTINEL, "a refused load wrote *out");
        lk_lstm_free(loaded);
        free(y2);
    }

    lk_gru *gru = NULL;
    lk_lstm_config c = make_config(4, 8, 1, 0, 0, 3);
    if (EXPECT(lk_gru_create(&c, &gru), LK_STATUS_OK)) {
        EXPECT(lk_gru_quantize(gru), LK_STATUS_OK);
        EXPECT(lk_gru_quantize(gru), LK_STATUS_INVALID_ARGUMENT);
        EXPECT(lk_gru_save(gru, path), LK_STATUS_OK);
        lk_gru *back = NULL;
        if (EXPECT(lk_gru_load(path, &back), LK_STATUS_OK)) {
            EXPECT(lk_gru_quantize(back), LK_STATUS_INVALID_ARGUMENT);
            lk_gru_free(back);
        }
        lk_gru_free(gru);
    }
    free(y);
    free(hn);
    free(cn);
    free(path);
    rm_tree(dir);
    free(dir);
    fixture_free(&f);
}

/* The golden file `name` (Tests/Fixtures/golden) through load, quantize, save, load and
 * quantize again; `quantize` is the kind's lk_<model>_quantize. */
#define ROUND_TRIP(type, name, quantize)                                                    \
    do {                                                                                    \
        char *golden = path_join(g_fixture_dir, "../golden/" name);                        \
        char *out = path_join(dir, "int8.safetensors");                                     \
        lk_##type *m = NULL, *back = NULL;                                                  \
        if (EXPECT(lk_##type##_load(golden, &m), LK_STATUS_OK)) {                           \
            EXPECT(quantize(m), LK_STATUS_OK);                                              \
            expect_mentions_at(quantize(m), LK_STATUS_INVALID_ARGUMENT, "already int8-quantized", __LINE__, name); \
            EXPECT(lk_##type##_save(m, out), LK_STATUS_OK);                                 \
            METADATA_IS(out, "quantization", "int8");                                       \
            if (EXPECT(lk_##type##_load(out, &back), LK_STATUS_OK)) {                       \
                EXPECT(lk_model_quantize(back), LK_STATUS_INVALID_ARGUMENT);                \
                lk_##type##_free(back);                                                     \
            }                                                                               \
            lk_##type##_free(m);                                                            \
        }                                                                                   \
        free(golden);                                                                       \
        free(out);                                                                          \
    } while (0)

/* Every task model kind: the golden files quantize, save, load back, refuse a second
 * quantize; a text classifier's probabilities stay near float32's. */
static void group_task_models(void) {
    char *dir = make_tmpdir("quantize-models");
    ROUND_TRIP(tokenizer, "tokenizer.safetensors", lk_tokenizer_quantize);
    ROUND_TRIP(text_classifier, "text-en.safetensors", lk_text_classifier_quantize);
    ROUND_TRIP(image_classifier, "image-rows.safetensors", lk_image_classifier_quantize);
    ROUND_TRIP(image_segmenter, "segmenter.safetensors", lk_image_segmenter_quantize);
    ROUND_TRIP(sequence_classifier, "sequence-classifier/sequence-classifier.safetensors", lk_sequence_classifier_quantize);
    ROUND_TRIP(forecaster, "forecaster/forecaster.safetensors", lk_forecaster_quantize);
    ROUND_TRIP(seq2seq, "seq2seq/seq2seq.safetensors", lk_seq2seq_quantize);
    ROUND_TRIP(seq2seq, "seq2seq/seq2seq-gru.safetensors", lk_model_quantize);
    ROUND_TRIP(tokenizer, "tokenizer-ensemble.safetensors", lk_model_quantize);

    char *golden = path_join(g_fixture_dir, "../golden/text-en.safetensors");
    lk_text_classifier *m = NULL;
    if (EXPECT(lk_text_classifier_load(golden, &m), LK_STATUS_OK)) {
        const char *texts[] = {"a fine film", "dull and far too long", "the best thing this year"};
        size_t lens[] = {11, 21, 24};
        int32_t c = 0;
        lk_text_classifier_num_classes(m, &c);
        float p32[3 * 16], p8[3 * 16];
        EXPECT(lk_text_classifier_predict(m, texts, lens, 3, 1, p32, (size_t)(3 * c)), LK_STATUS_OK);
        EXPECT(lk_text_classifier_quantize(m), LK_STATUS_OK);
        EXPECT(lk_text_classifier_predict(m, texts, lens, 3, 1, p8, (size_t)(3 * c)), LK_STATUS_OK);
        double err = max_diff_ff(p32, p8, (size_t)(3 * c));
        CHECK(c <= 16 && err > 0 && err < 0.05, "int8 probabilities differ from float32 by %g", err);
        lk_text_classifier_free(m);
    }
    free(golden);
    EXPECT(lk_model_quantize(NULL), LK_STATUS_INVALID_ARGUMENT);
    rm_tree(dir);
    free(dir);
}

const test_group quantize_groups[] = {
    {"int8: lstm and gru", group_lstm_gru},
    {"int8: every task model", group_task_models},
    {NULL, NULL},
};
