/*
 * test_seq2seq.c — the seq2seq model through the C ABI: trained by name on a toy task
 * (reversing short strings of letters), translate (the buffer protocol, n-best,
 * scores), attention, files, settings read back, and the bad input of issue 20: NULL,
 * empty text, invalid UTF-8, unknown symbols, a source longer than any seen, beam 0,
 * n_best > beam (translate and attention); lk_heat_map_png (attention's PNG).
 */
#include "harness.h"

#define S2S_SENTINEL ((lk_seq2seq *)(void *)&g_sentinel_object)
enum { S2S_TRAIN = 600, S2S_DEV = 50, S2S_TEST = 50, S2S_ALL = S2S_TRAIN + S2S_DEV + S2S_TEST };

/* Distinct strings of 2 to 5 letters of "abcdef" (a fixed LCG) and their reversals. */
static char g_src[S2S_ALL][8], g_tgt[S2S_ALL][8];
static const char *g_srcp[S2S_ALL], *g_tgtp[S2S_ALL];

static void toy_pairs(void) {
    uint64_t state = 3;
    for (int n = 0; n < S2S_ALL;) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        int len = 2 + (int)((state >> 33) % 4), dup = 0;
        for (int i = 0; i < len; i++) g_src[n][i] = (char)('a' + (int)((state >> (8 + 4 * i)) % 6));
        g_src[n][len] = 0;
        for (int m = 0; m < n && !dup; m++) dup = !strcmp(g_src[m], g_src[n]);
        if (dup) continue;
        for (int i = 0; i < len; i++) g_tgt[n][i] = g_src[n][len - 1 - i];
        g_tgt[n][len] = 0;
        g_srcp[n] = g_src[n];
        g_tgtp[n] = g_tgt[n];
        n++;
    }
}

#define SET(o, k, v) EXPECT(lk_train_options_set((o), (k), (v)), LK_STATUS_OK)
#define FAILS(call, want, needle) expect_mentions_at((call), (want), (needle), __LINE__, #call)

static lk_seq2seq *train_toy(progress_log *log) {
    lk_train_options *o = NULL;
    lk_seq2seq *m = NULL;
    if (!EXPECT(lk_train_options_create(&o), LK_STATUS_OK)) return NULL;
    SET(o, "embedding_size", "16");
    SET(o, "hidden_size", "24");
    SET(o, "dropout", "0");
    SET(o, "label_smoothing", "0");
    SET(o, "epochs", "12");
    SET(o, "batch_size", "16");
    SET(o, "learning_rate", "0.01");
    SET(o, "patience", "12");
    SET(o, "threads", "1");
    SET(o, "bridge", "true");
    if (!EXPECT(lk_seq2seq_train(g_srcp, g_tgtp, S2S_TRAIN, g_srcp + S2S_TRAIN, g_tgtp + S2S_TRAIN, S2S_DEV, o,
                                 record_progress, log, &m), LK_STATUS_OK))
        m = NULL;
    lk_train_options_free(o);
    return m;
}

/* Greedy translations of the held-out strings: exact matches, or -1 if the call failed. */
static int held_out_exact(const lk_seq2seq *m, lk_seq2seq_decoding d, char *text, size_t capacity) {
    size_t size = 0, offsets[S2S_TEST];
    float scores[S2S_TEST];
    int exact = 0;
    if (!EXPECT(lk_seq2seq_translate(m, g_srcp + S2S_TRAIN + S2S_DEV, S2S_TEST, &d, 1, text, capacity, &size, offsets, scores,
                                     S2S_TEST), LK_STATUS_OK))
        return -1;
    for (int i = 0; i < S2S_TEST; i++) exact += !strcmp(text + offsets[i], g_tgt[S2S_TRAIN + S2S_DEV + i]);
    return exact;
}

static void group_seq2seq(void) {
    lk_seq2seq_decoding d = lk_seq2seq_decoding_default();
    CHECK(d.beam_size == 5 && d.n_best == 1 && d.length_penalty == 1.0f && d.max_length_ratio == 0.0f,
          "lk_seq2seq_decoding_default() does not hold the documented defaults");
    char text[8192];
    size_t size = 0;
    if (EXPECT(lk_train_config_default_text("seq2seq", text, sizeof text, &size), LK_STATUS_OK))
        CHECK(strstr(text, "bidirectional=true\n") && strstr(text, "seed=1\n") && strstr(text, "score=general\n") &&
                  strstr(text, "source_tokens=characters\n") && strstr(text, "min_count=1\n"),
              "the default config text: %s", text);

    toy_pairs();
    progress_log log;
    progress_init(&log);
    lk_seq2seq *m = train_toy(&log);
    if (!m) return;
    CHECK(log.calls >= 3 && log.bad_lines == 0, "progress: %d calls (%d bad)", log.calls, log.bad_lines);

    d.beam_size = 1; /* greedy */
    int exact = held_out_exact(m, d, text, sizeof text);
    CHECK(exact >= 40, "the toy task: %d of %d held-out strings reversed", exact, S2S_TEST);

    /* The buffer protocol: the size alone, then too small, then exactly enough. */
    const char *two[2] = {"abc", "fed"};
    size_t offsets[4];
    float scores[4];
    if (EXPECT(lk_seq2seq_translate(m, two, 2, &d, 1, NULL, 0, &size, offsets, scores, 2), LK_STATUS_OK)) {
        char exactly[64];
        CHECK(size > 0 && size < sizeof exactly, "the size asked for: %zu", size);
        FAILS(lk_seq2seq_translate(m, two, 2, &d, 1, exactly, size, &size, offsets, scores, 2), LK_STATUS_BUFFER_TOO_SMALL, "capacity");
        if (EXPECT(lk_seq2seq_translate(m, two, 2, &d, 2, exactly, size + 1, &size, offsets, scores, 2), LK_STATUS_OK))
            CHECK(offsets[0] == 0 && offsets[1] == strlen(exactly) + 1 && offsets[1] + strlen(exactly + offsets[1]) == size &&
                      scores[0] <= 0 && scores[1] <= 0 && isfinite(scores[0]),
                  "translations \"%s\", \"%s\" at %zu, %zu; scores %g, %g", exactly, exactly + offsets[1], offsets[0], offsets[1],
                  (double)scores[0], (double)scores[1]);
    }
    EXPECT(lk_seq2seq_translate(m, NULL, 0, &d, 1, NULL, 0, &size, NULL, NULL, 0), LK_STATUS_OK); /* no texts */

    /* Unknown symbols are UNK; a source longer than any seen decodes within the ratio. */
    const char *odd[2] = {"xyz\xc3\xa9", "abcdefabcdefabcdefabcdefabcdefabcdef"};
    if (EXPECT(lk_seq2seq_translate(m, odd, 2, &d, 1, text, sizeof text, &size, offsets, scores, 2), LK_STATUS_OK))
        CHECK(strlen(text + offsets[1]) <= 2 * 36 * 6, "a long source gave %zu bytes", strlen(text + offsets[1]));

    /* Bad input: a clear error, never a crash. */
    const char *empty[2] = {"abc", ""}, *bad_utf8[1] = {"ab\xff"}, *null_text[1] = {NULL};
    FAILS(lk_seq2seq_translate(m, empty, 2, &d, 1, text, sizeof text, &size, offsets, scores, 2), LK_STATUS_INVALID_ARGUMENT, "text 1");
    FAILS(lk_seq2seq_translate(m, bad_utf8, 1, &d, 1, text, sizeof text, &size, offsets, scores, 1), LK_STATUS_INVALID_ARGUMENT, "texts[0]");
    FAILS(lk_seq2seq_translate(m, null_text, 1, &d, 1, text, sizeof text, &size, offsets, scores, 1), LK_STATUS_INVALID_ARGUMENT, "texts[0]");
    FAILS(lk_seq2seq_translate(NULL, two, 2, &d, 1, text, sizeof text, &size, offsets, scores, 2), LK_STATUS_INVALID_ARGUMENT, "model");
    FAILS(lk_seq2seq_translate(m, two, 2, NULL, 1, text, sizeof text, &size, offsets, scores, 2), LK_STATUS_INVALID_ARGUMENT, "decoding");
    FAILS(lk_seq2seq_translate(m, two, 2, &d, 0, text, sizeof text, &size, offsets, scores, 2), LK_STATUS_INVALID_ARGUMENT, "threads");
    FAILS(lk_seq2seq_translate(m, two, 2, &d, 1, text, sizeof text, &size, offsets, scores, 3), LK_STATUS_SIZE_MISMATCH, "n * n_best");
    lk_seq2seq_decoding bad = d;
    bad.beam_size = 0;
    FAILS(lk_seq2seq_translate(m, two, 2, &bad, 1, text, sizeof text, &size, offsets, scores, 2), LK_STATUS_INVALID_ARGUMENT, "beam_size");
    bad = d;
    bad.n_best = 2;
    FAILS(lk_seq2seq_translate(m, two, 2, &bad, 1, text, sizeof text, &size, offsets, scores, 4), LK_STATUS_INVALID_ARGUMENT, "n_best");
    bad = d;
    bad.length_penalty = NAN;
    FAILS(lk_seq2seq_translate(m, two, 2, &bad, 1, text, sizeof text, &size, offsets, scores, 2), LK_STATUS_INVALID_ARGUMENT, "length_penalty");

    /* Attention: rows = output characters, columns = source characters, rows summing to 1. */
    size_t rows = 0, columns = 0, tokens_size = 0;
    float weights[64];
    char tokens[64];
    if (EXPECT(lk_seq2seq_attention(m, "abcd", &d, 0, NULL, 0, &rows, &columns, NULL, 0, &tokens_size), LK_STATUS_OK) &&
        CHECK(columns == 4 && rows >= 1 && rows * columns <= 64 && tokens_size < sizeof tokens, "attention %zu x %zu", rows, columns) &&
        EXPECT(lk_seq2seq_attention(m, "abcd", &d, 0, weights, 64, &rows, &columns, tokens, sizeof tokens, &tokens_size), LK_STATUS_OK)) {
        float sum = 0;
        for (size_t j = 0; j < columns; j++) sum += weights[j];
        const char *src = tokens;
        for (size_t i = 0; i < rows; i++) src += strlen(src) + 1;
        CHECK(fabsf(sum - 1) < 1e-4f && !strcmp(src, "a") && !strcmp(src + 2 * 3, "d"), "row 0 sums to %g; source tokens from \"%s\"",
              (double)sum, src);
        FAILS(lk_seq2seq_attention(m, "abcd", &d, 0, weights, 1, &rows, &columns, tokens, sizeof tokens, &tokens_size),
              LK_STATUS_BUFFER_TOO_SMALL, "weights");
    }
    FAILS(lk_seq2seq_attention(m, "abcd", &d, 1, weights, 64, &rows, &columns, tokens, sizeof tokens, &tokens_size),
          LK_STATUS_INVALID_ARGUMENT, "rank");
    FAILS(lk_seq2seq_attention(m, "", &d, 0, weights, 64, &rows, &columns, tokens, sizeof tokens, &tokens_size),
          LK_STATUS_INVALID_ARGUMENT, "text 0");
    FAILS(lk_seq2seq_attention(m, NULL, &d, 0, weights, 64, &rows, &columns, tokens, sizeof tokens, &tokens_size),
          LK_STATUS_INVALID_ARGUMENT, "text");
    FAILS(lk_seq2seq_attention(m, "ab\xff", &d, 0, weights, 64, &rows, &columns, tokens, sizeof tokens, &tokens_size),
          LK_STATUS_INVALID_ARGUMENT, "text");
    bad = d;
    bad.beam_size = 0;
    FAILS(lk_seq2seq_attention(m, "abcd", &bad, 0, weights, 64, &rows, &columns, tokens, sizeof tokens, &tokens_size),
          LK_STATUS_INVALID_ARGUMENT, "beam_size");
    /* Unknown symbols are columns like any other; a long source (36 tokens) has 36 columns. */
    if (EXPECT(lk_seq2seq_attention(m, "x\xc3\xa9", &d, 0, NULL, 0, &rows, &columns, NULL, 0, &tokens_size), LK_STATUS_OK))
        CHECK(columns == 2 && rows >= 1, "unknown symbols: attention %zu x %zu", rows, columns);
    if (EXPECT(lk_seq2seq_attention(m, odd[1], &d, 0, NULL, 0, &rows, &columns, NULL, 0, &tokens_size), LK_STATUS_OK))
        CHECK(columns == 36 && rows >= 1 && rows <= 72, "a long source: attention %zu x %zu", rows, columns);

    /* Files: the loaded model translates identically and reports its settings. */
    char path[4200], again[8192];
    snprintf(path, sizeof path, "%s/toy.seq2seq", g_tmproot);
    lk_seq2seq *loaded = S2S_SENTINEL;
    if (EXPECT(lk_seq2seq_save(m, path), LK_STATUS_OK) && EXPECT(lk_seq2seq_load(path, &loaded), LK_STATUS_OK)) {
        memset(text, 0, sizeof text);
        memset(again, 0, sizeof again);
        held_out_exact(m, d, text, sizeof text);
        held_out_exact(loaded, d, again, sizeof again);
        CHECK(!memcmp(text, again, sizeof text), "the loaded model translates otherwise");
        char value[64];
        if (EXPECT(lk_model_get_config_text(loaded, again, sizeof again, &size), LK_STATUS_OK))
            CHECK(strstr(again, "hidden_size=24\n") && strstr(again, "embedding_size=16\n") && strstr(again, "bridge=true\n"),
                  "the loaded model's config text: %s", again);
        if (EXPECT(lk_model_get_setting(loaded, "score", value, sizeof value, &size), LK_STATUS_OK))
            CHECK(!strcmp(value, "general"), "score: %s", value);
        lk_seq2seq_free(loaded);
    }
    loaded = S2S_SENTINEL;
    FAILS(lk_seq2seq_load(NULL, &loaded), LK_STATUS_INVALID_ARGUMENT, "path");
    CHECK(loaded == S2S_SENTINEL, "a failed load set *out");
    lk_seq2seq_free(m);
    lk_seq2seq_free(NULL);
}

/* Training's bad input: counts, NULLs, empty sources, invalid UTF-8, settings. */
static void group_seq2seq_train_errors(void) {
    const char *src[2] = {"ab", "ba"}, *tgt[2] = {"ba", "ab"}, *empty[2] = {"ab", ""}, *bad[2] = {"ab", "b\xc3"};
    lk_seq2seq *m = S2S_SENTINEL;
    FAILS(lk_seq2seq_train(src, tgt, 0, NULL, NULL, 0, NULL, NULL, NULL, &m), LK_STATUS_INVALID_ARGUMENT, "empty");
    FAILS(lk_seq2seq_train(NULL, tgt, 2, src, tgt, 2, NULL, NULL, NULL, &m), LK_STATUS_INVALID_ARGUMENT, "sources");
    FAILS(lk_seq2seq_train(src, tgt, 2, NULL, tgt, 2, NULL, NULL, NULL, &m), LK_STATUS_INVALID_ARGUMENT, "dev_sources");
    FAILS(lk_seq2seq_train(empty, tgt, 2, src, tgt, 2, NULL, NULL, NULL, &m), LK_STATUS_INVALID_ARGUMENT, "source 1");
    FAILS(lk_seq2seq_train(src, bad, 2, src, tgt, 2, NULL, NULL, NULL, &m), LK_STATUS_INVALID_ARGUMENT, "targets[1]");
    FAILS(lk_seq2seq_train(src, tgt, 2, src, tgt, 2, NULL, NULL, NULL, NULL), LK_STATUS_INVALID_ARGUMENT, "out");
    lk_train_options *o = NULL;
    if (EXPECT(lk_train_options_create(&o), LK_STATUS_OK)) {
        FAILS(lk_train_options_set(o, "score", "cosine"), LK_STATUS_INVALID_ARGUMENT, "score");
        FAILS(lk_train_options_set(o, "bridge", "maybe"), LK_STATUS_INVALID_ARGUMENT, "bridge");
        SET(o, "pooling", "mean"); /* the classifiers' */
        FAILS(lk_seq2seq_train(src, tgt, 2, src, tgt, 2, o, NULL, NULL, &m), LK_STATUS_INVALID_ARGUMENT, "pooling");
        lk_train_options_free(o);
    }
    CHECK(m == S2S_SENTINEL, "a failed training set *out");
}

/* lk_heat_map_png: a PNG of (17 columns + 1) x (17 rows + 1) pixels; bad arguments refused. */
static void group_heat_map_png(void) {
    const float w[6] = {0, 0.5f, 1, NAN, -1, 2};
    char *path = path_join(g_tmproot, "attention.png"), *nowhere = path_join(g_tmproot, "no/such/dir.png");
    size_t len = 0;
    unsigned char *png = NULL;
    if (EXPECT(lk_heat_map_png(w, 2, 3, path), LK_STATUS_OK) && CHECK((png = read_all(path, &len)) != NULL, "no %s", path))
        CHECK(len > 33 && !memcmp(png, "\x89PNG\r\n\x1a\n", 8) && !memcmp(png + 12, "IHDR", 4) &&
                  png[16] == 0 && png[17] == 0 && png[18] == 0 && png[19] == 3 * 17 + 1 &&
                  png[20] == 0 && png[21] == 0 && png[22] == 0 && png[23] == 2 * 17 + 1,
              "not a 52 x 35 PNG (%zu bytes)", len);
    free(png);
    FAILS(lk_heat_map_png(NULL, 2, 3, path), LK_STATUS_INVALID_ARGUMENT, "weights");
    FAILS(lk_heat_map_png(w, 2, 3, NULL), LK_STATUS_INVALID_ARGUMENT, "path");
    FAILS(lk_heat_map_png(w, 0, 3, path), LK_STATUS_INVALID_ARGUMENT, "heat map");
    FAILS(lk_heat_map_png(w, (size_t)1 << 40, (size_t)1 << 40, path), LK_STATUS_OUT_OF_MEMORY, "weights");
    FAILS(lk_heat_map_png(w, SIZE_MAX, 3, path), LK_STATUS_INVALID_ARGUMENT, "rows");
    EXPECT(lk_heat_map_png(w, 2, 3, nowhere), LK_STATUS_IO_ERROR);
    free(path);
    free(nowhere);
}

const test_group seq2seq_groups[] = {
    {"seq2seq: lk_heat_map_png", group_heat_map_png},
    {"seq2seq: train by name, translate, attention, files, bad input", group_seq2seq},
    {"seq2seq: training's bad input", group_seq2seq_train_errors},
    {NULL, NULL},
};
