/* A C program built against the INSTALLED C package (bindings/c/install.sh), by
 * Tests/Install/run.sh:  cc prog.c $(pkg-config --cflags --libs lstmkit)
 * It segments Chinese text with the bundled model and runs an LSTM forward; it prints
 * what it got and exits 0 only if both match what is expected. */
#include <lstmkit.h>
#include <stdio.h>
#include <string.h>

static int fail(const char *what, lk_status status)
{
    fprintf(stderr, "prog: %s: %s: %s\n", what, lk_status_string(status), lk_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    const char *text = "我爱北京天安门";
    const char *expected = "我 爱 北京 天安门";
    char joined[128] = "";
    size_t ends[16], count = 0, start = 0, k;
    lk_tokenizer *tokenizer;
    lk_status status;

    if (argc != 2) {
        fprintf(stderr, "usage: prog TOKENIZER_MODEL\n");
        return 2;
    }
    printf("LSTMKit %s\n", lk_version());
    if ((status = lk_tokenizer_load(argv[1], &tokenizer)) != LK_STATUS_OK)
        return fail("lk_tokenizer_load", status);
    status = lk_tokenizer_segment(tokenizer, text, strlen(text), ends, 16, &count);
    lk_tokenizer_free(tokenizer);
    if (status != LK_STATUS_OK)
        return fail("lk_tokenizer_segment", status);
    for (k = 0; k < count; k++) {
        if (k > 0)
            strcat(joined, " ");
        strncat(joined, text + start, ends[k] - start);
        start = ends[k];
    }
    printf("segmented: %s\n", joined);
    if (strcmp(joined, expected) != 0) {
        fprintf(stderr, "prog: expected \"%s\"\n", expected);
        return 1;
    }

    /* A 2-layer BiLSTM over x (2, 3, 4): outputs are finite and padded steps are 0. */
    lk_lstm_config config = lk_lstm_config_default();
    config.input_size = 4;
    config.hidden_size = 5;
    config.num_layers = 2;
    config.bidirectional = 1;
    config.seed = 7;
    lk_lstm *lstm;
    float x[2 * 3 * 4], y[2 * 3 * 10];
    int32_t lengths[2] = {3, 1};
    for (k = 0; k < sizeof x / sizeof x[0]; k++)
        x[k] = (float)k / 10.0f - 1.0f;
    if ((status = lk_lstm_create(&config, &lstm)) != LK_STATUS_OK)
        return fail("lk_lstm_create", status);
    status = lk_lstm_forward(lstm, x, 2, 3, 4, sizeof x / sizeof x[0], lengths, NULL, NULL, 0,
                             y, sizeof y / sizeof y[0], NULL, NULL, 0);
    lk_lstm_free(lstm);
    if (status != LK_STATUS_OK)
        return fail("lk_lstm_forward", status);
    for (k = 0; k < sizeof y / sizeof y[0]; k++) {
        int padded = k >= 3 * 10 + 10; /* sequence 1, steps 1 and 2 */
        if (!(y[k] == y[k]) || y[k] > 1.0f || y[k] < -1.0f || (padded && y[k] != 0.0f)) {
            fprintf(stderr, "prog: y[%zu] = %g is wrong\n", k, (double)y[k]);
            return 1;
        }
    }
    printf("lstm forward: ok (y[0] = %.6f)\n", (double)y[0]);
    return 0;
}
