/* Writes the int8 golden files of this directory with the C ABI of the build it is
 * linked against (run once, by main at 4375eef; never over these files):
 *   cc -I include Tests/Fixtures/golden/int8/make_int8_golden.c -L $libdir -llstmkit \
 *      -Wl,-rpath,$libdir -o /tmp/make_int8_golden && cd Tests/Fixtures/golden/int8 && /tmp/make_int8_golden
 * Each model is quantized in memory (lk_*_quantize), saved, loaded back, and run on
 * inputs the test rebuilds from the same formula; expected.json holds the outputs
 * (printed with 9 significant digits: float32 round-trips exactly). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lstmkit.h"

#define CHECK(call) do { lk_status s_ = (call); if (s_ != LK_STATUS_OK) { \
    fprintf(stderr, "%s: %s\n", #call, lk_last_error()); exit(1); } } while (0)

/* x[i] = ((i * 37) % 17 - 8) / 8: exact in float32, in [-1, 1]. */
static void inputs(float *x, size_t n) { for (size_t i = 0; i < n; i++) x[i] = (float)((int)((i * 37) % 17) - 8) / 8.0f; }

static void print_array(FILE *f, const char *name, const float *v, size_t n, int last) {
    fprintf(f, "  \"%s\": [", name);
    for (size_t i = 0; i < n; i++) fprintf(f, "%s%.9g", i ? ", " : "", v[i]);
    fprintf(f, "]%s\n", last ? "" : ",");
}

enum { B = 2, T = 3, D = 5, H = 4, L = 2, K = 2 };

int main(void) {
    FILE *f = fopen("expected.json", "w");
    fprintf(f, "{\n  \"written_by\": \"main 4375eef, make_int8_golden.c\",\n");
    float x[B * T * D], y[B * T * K * H], hn[L * K * B * H], cn[L * K * B * H];
    int32_t lengths[B] = {3, 2};
    inputs(x, B * T * D);

    /* LSTM: 2 layers, bidirectional, D=5, H=4, seed 7. */
    lk_lstm_config c = lk_lstm_config_default();
    c.input_size = D; c.hidden_size = H; c.num_layers = L; c.bidirectional = 1; c.seed = 7;
    lk_lstm *lstm, *lstm2;
    CHECK(lk_lstm_create(&c, &lstm));
    CHECK(lk_lstm_quantize(lstm));
    CHECK(lk_lstm_save(lstm, "lstm-int8.safetensors"));
    CHECK(lk_lstm_load("lstm-int8.safetensors", &lstm2));
    CHECK(lk_lstm_forward(lstm2, x, B, T, D, sizeof x / 4, lengths, NULL, NULL, 0,
                          y, sizeof y / 4, hn, cn, sizeof hn / 4));
    print_array(f, "lstm_y", y, sizeof y / 4, 0);
    print_array(f, "lstm_h_n", hn, sizeof hn / 4, 0);
    print_array(f, "lstm_c_n", cn, sizeof cn / 4, 0);

    /* GRU: the same shape, seed 8. */
    c.seed = 8;
    lk_gru *gru, *gru2;
    CHECK(lk_gru_create(&c, &gru));
    CHECK(lk_gru_quantize(gru));
    CHECK(lk_gru_save(gru, "gru-int8.safetensors"));
    CHECK(lk_gru_load("gru-int8.safetensors", &gru2));
    CHECK(lk_gru_forward(gru2, x, B, T, D, sizeof x / 4, lengths, NULL, 0, y, sizeof y / 4, hn, sizeof hn / 4));
    print_array(f, "gru_y", y, sizeof y / 4, 0);
    print_array(f, "gru_h_n", hn, sizeof hn / 4, 0);

    /* A task model: the golden English text classifier (attention pooling). */
    const char *texts[3] = {"A three-hour cinema master class.", "Dull, and far too long.",
                            "It's always fascinating to watch Marker the essayist at work."};
    size_t lens[3];
    for (int i = 0; i < 3; i++) lens[i] = strlen(texts[i]);
    lk_text_classifier *tc, *tc2;
    CHECK(lk_text_classifier_load("../text-en.safetensors", &tc));
    CHECK(lk_text_classifier_quantize(tc));
    CHECK(lk_text_classifier_save(tc, "text-en-int8.safetensors"));
    CHECK(lk_text_classifier_load("text-en-int8.safetensors", &tc2));
    float p[3 * 2];
    CHECK(lk_text_classifier_predict(tc2, texts, lens, 3, 1, p, 6));
    print_array(f, "text_en_probabilities", p, 6, 1);
    fprintf(f, "}\n");
    fclose(f);
    lk_lstm_free(lstm); lk_lstm_free(lstm2); lk_gru_free(gru); lk_gru_free(gru2);
    lk_text_classifier_free(tc); lk_text_classifier_free(tc2);
    return 0;
}
