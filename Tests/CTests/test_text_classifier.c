/*
 * test_text_classifier.c — the text classifier: training on Tests/Fixtures/text (the
 * first N_TRAIN lines of en.tsv train, the rest are dev), predict, labels, files, every
 * bad argument and config field, attention weights, n-gram features.
 */
#include "harness.h"

static lk_status cls_train(const tsv_set *s, const lk_text_classifier_train_config *c, lk_progress_fn fn, void *user,
                           lk_text_classifier **out) {
    return lk_text_classifier_train(s->texts, s->lens, s->labels, N_TRAIN, s->texts + N_TRAIN, s->lens + N_TRAIN,
                                    s->labels + N_TRAIN, s->n - N_TRAIN, c, fn, user, out);
}

static int cls_train_fails_at(const char *const *tt, const size_t *tl, const char *const *tlab, size_t nt,
                              const char *const *dt, const size_t *dl, const char *const *dlab, size_t nd,
                              const lk_text_classifier_train_config *c, lk_status want, const char *needle, int line,
                              const char *what) {
    lk_text_classifier *out = CLS_SENTINEL;
    int ok = expect_at(lk_text_classifier_train(tt, tl, tlab, nt, dt, dl, dlab, nd, c, NULL, NULL, &out), want, line, what);
    ok &= check_at(out == CLS_SENTINEL, line, "%s: *out was changed on failure", what);
    if (out != CLS_SENTINEL && out != NULL) lk_text_classifier_free(out);
    ok &= mentions_at(needle, line, what);
    return ok;
}

static int cls_predict_fails_at(const lk_text_classifier *h, const char *const *texts, const size_t *lens, size_t n,
                                int32_t threads, float *p, size_t count, lk_status want, const char *needle, int line,
                                const char *what) {
    return expect_mentions_at(lk_text_classifier_predict(h, texts, lens, n, threads, p, count), want, needle, line, what);
}
#define PREDICT_FAILS(h, t, l, n, th, p, c, want, needle) \
    cls_predict_fails_at((h), (t), (l), (n), (th), (p), (c), (want), (needle), __LINE__, #t ", " #l ", " #n ", " #th ", " #p ", " #c)

static void group_text_classifier(void) {
    lk_text_classifier_train_config d = lk_text_classifier_train_config_default();
    CHECK(d.embedding_dim == 128 && d.hidden_size == 128 && d.num_layers == 1 && d.bidirectional == 1 &&
              d.pooling == LK_POOLING_ATTENTION && d.attention_size == 64 && d.max_length == 400 && d.min_count == 2 &&
              d.epochs == 20 && d.batch_size == 32 && d.patience == 3 && d.balance_classes == 0 &&
              d.tokenization == LK_TOKENIZATION_AUTO && d.threads == 2 && d.seed == 1 && fabsf(d.dropout - 0.3f) < 1e-6f &&
              fabsf(d.learning_rate - 0.002f) < 1e-7f && d.ngram_order == 0 && fabsf(d.ngram_dropout - 0.5f) < 1e-7f &&
              fabsf(d.ngram_learning_rate - 0.05f) < 1e-7f && d.min_ngram_count == 2 && d.bigram_dim == 0 &&
              d.min_bigram_count == 2,
          "lk_text_classifier_train_config_default() does not hold the documented defaults");

    tsv_set s;
    if (!CHECK(read_tsv(&s) && s.n == 300, "cannot read 300 lines of %s/../text/en.tsv", g_fixture_dir)) return;
    lk_text_classifier_train_config c = tiny_cls_config();
    progress_log log;
    progress_init(&log);
    lk_text_classifier *h = NULL;
    if (!EXPECT(cls_train(&s, &c, record_progress, &log, &h), LK_STATUS_OK) || !h) {
        tsv_free(&s);
        return;
    }
    CHECK(log.calls >= 4 && log.bad_lines == 0, "progress: %d calls (%d bad), want >= 4 good ones", log.calls, log.bad_lines);

    /* Classes and labels. */
    int32_t nc = -1;
    EXPECT(lk_text_classifier_num_classes(h, &nc), LK_STATUS_OK);
    CHECK(nc == 2, "num_classes is %d, want 2", (int)nc);
    const char *l0 = NULL, *l1 = NULL, *lx = "unchanged";
    EXPECT(lk_text_classifier_label(h, 0, &l0), LK_STATUS_OK);
    EXPECT(lk_text_classifier_label(h, 1, &l1), LK_STATUS_OK);
    CHECK(l0 && l1 && strcmp(l0, "fresh") == 0 && strcmp(l1, "rotten") == 0, "labels are \"%s\", \"%s\"", l0 ? l0 : "(null)",
          l1 ? l1 : "(null)");
    const char *again = NULL;
    lk_text_classifier_label(h, 0, &again);
    CHECK(again == l0, "the label pointer is not stable for the handle's life");
    EXPECT(lk_text_classifier_label(h, 2, &lx), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_text_classifier_label(h, -1, &lx), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_text_classifier_label(h, INT32_MIN, &lx), LK_STATUS_INVALID_ARGUMENT);
    CHECK(strcmp(lx, "unchanged") == 0, "*label was changed on failure");
    EXPECT(lk_text_classifier_label(h, 0, NULL), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_text_classifier_label(NULL, 0, &lx), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_text_classifier_num_classes(h, NULL), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_text_classifier_num_classes(NULL, &nc), LK_STATUS_INVALID_ARGUMENT);

    /* get_config: the model's architecture (tokenization as resolved: English is words),
     * the training fields at their defaults. */
    lk_text_classifier_train_config got;
    memset(&got, 0xff, sizeof got);
    EXPECT(lk_text_classifier_get_config(h, &got), LK_STATUS_OK);
    CHECK(got.embedding_dim == 16 && got.hidden_size == 16 && got.num_layers == 1 && got.bidirectional == 1 &&
              got.pooling == LK_POOLING_ATTENTION && got.attention_size == 8 && got.max_length == c.max_length &&
              fabsf(got.dropout - c.dropout) == 0 && got.tokenization == LK_TOKENIZATION_WORDS && got.seed == 3 &&
              got.ngram_order == 0 && got.bigram_dim == 0 && got.epochs == d.epochs && got.min_count == d.min_count &&
              got.batch_size == d.batch_size,
          "get_config: the model's fields differ from the training config");
    EXPECT(lk_text_classifier_get_config(h, NULL), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_text_classifier_get_config(NULL, &got), LK_STATUS_INVALID_ARGUMENT);

    /* Prediction. */
    size_t nd = s.n - N_TRAIN;
    const char *const *dt = s.texts + N_TRAIN;
    const size_t *dl = s.lens + N_TRAIN;
    float *p = xmalloc(nd * 2 * sizeof(float)), *q = xmalloc(nd * 2 * sizeof(float));
    EXPECT(lk_text_classifier_predict(h, dt, dl, nd, 2, p, nd * 2), LK_STATUS_OK);
    int rows_ok = 1;
    for (size_t i = 0; i < nd; i++) {
        float a = p[2 * i], b = p[2 * i + 1];
        if (!(a >= 0 && b >= 0 && fabsf(a + b - 1) < 1e-5f)) rows_ok = 0;
    }
    CHECK(rows_ok, "probabilities are not rows of a distribution");
    EXPECT(lk_text_classifier_predict(h, dt, dl, nd, 1, q, nd * 2), LK_STATUS_OK);
    CHECK(max_diff_ff(p, q, nd * 2) < 1e-6, "1 and 2 threads disagree by %g", max_diff_ff(p, q, nd * 2));
    for (size_t i = 0; i < 5; i++) EXPECT(lk_text_classifier_predict(h, dt + i, dl + i, 1, 1, q + 2 * i, 2), LK_STATUS_OK);
    CHECK(max_diff_ff(p, q, 10) < 1e-5, "one by one differs from batched by %g", max_diff_ff(p, q, 10));
    EXPECT(lk_text_classifier_predict(h, NULL, NULL, 0, 1, NULL, 0), LK_STATUS_OK);
    {
        const char *empty[] = {NULL, ""};
        size_t zero[] = {0, 0};
        EXPECT(lk_text_classifier_predict(h, empty, zero, 2, 1, q, 4), LK_STATUS_OK);
        const char *with_nul[] = {"a\0b"};
        size_t three[] = {3};
        EXPECT(lk_text_classifier_predict(h, with_nul, three, 1, 1, q, 2), LK_STATUS_OK);
    }

    /* Prediction errors. */
    {
        const char *bad[] = {"fine", "ab\xff", "x"};
        size_t bl[] = {4, 3, 1};
        PREDICT_FAILS(h, bad, bl, 3, 1, q, 6, LK_STATUS_INVALID_ARGUMENT, "texts[1]");
        CHECK(strstr(lk_last_error(), "at byte 2") != NULL, "the message \"%s\" does not give byte 2", lk_last_error());
        const char *cut[] = {"\xe4\xb8"};
        size_t cl[] = {2};
        PREDICT_FAILS(h, cut, cl, 1, 1, q, 2, LK_STATUS_INVALID_ARGUMENT, "texts[0]");
        const char *nul[] = {"ok", NULL};
        size_t nl[] = {2, 1};
        PREDICT_FAILS(h, nul, nl, 2, 1, q, 4, LK_STATUS_INVALID_ARGUMENT, "texts[1]");
        size_t huge[] = {2, SIZE_MAX};
        const char *two[] = {"ok", "no"};
        PREDICT_FAILS(h, two, huge, 2, 1, q, 4, LK_STATUS_INVALID_ARGUMENT, "text_lens[1]");
        PREDICT_FAILS(NULL, dt, dl, nd, 1, p, nd * 2, LK_STATUS_INVALID_ARGUMENT, "classifier");
        PREDICT_FAILS(h, NULL, dl, nd, 1, p, nd * 2, LK_STATUS_INVALID_ARGUMENT, "texts");
        PREDICT_FAILS(h, dt, NULL, nd, 1, p, nd * 2, LK_STATUS_INVALID_ARGUMENT, "text_lens");
        PREDICT_FAILS(h, dt, dl, nd, 1, NULL, nd * 2, LK_STATUS_INVALID_ARGUMENT, "probabilities");
        PREDICT_FAILS(h, dt, dl, nd, 0, p, nd * 2, LK_STATUS_INVALID_ARGUMENT, "threads");
        PREDICT_FAILS(h, dt, dl, nd, -5, p, nd * 2, LK_STATUS_INVALID_ARGUMENT, "threads");
        PREDICT_FAILS(h, dt, dl, nd, 1, p, nd * 2 - 1, LK_STATUS_SIZE_MISMATCH, "probabilities_count");
        PREDICT_FAILS(h, dt, dl, nd, 1, p, nd * 2 + 1, LK_STATUS_SIZE_MISMATCH, "probabilities_count");
        PREDICT_FAILS(h, dt, dl, nd, 1, p, nd, LK_STATUS_SIZE_MISMATCH, "probabilities_count");
        PREDICT_FAILS(h, dt, dl, 0, 1, p, 2, LK_STATUS_SIZE_MISMATCH, "probabilities_count");
        PREDICT_FAILS(h, dt, dl, SIZE_MAX, 1, p, nd * 2, LK_STATUS_INVALID_ARGUMENT, "n");
        PREDICT_FAILS(h, dt, dl, nd, 1, p, SIZE_MAX, LK_STATUS_SIZE_MISMATCH, "probabilities_count");
        PREDICT_FAILS(h, dt, dl, SIZE_MAX / 2, 1, p, SIZE_MAX / 2, LK_STATUS_OUT_OF_MEMORY, "too large");
        PREDICT_FAILS(h, dt, dl, SIZE_MAX / 4, 1, p, 2, LK_STATUS_SIZE_MISMATCH, "probabilities_count");
    }
    /* The handle still works and gives the same numbers. */
    EXPECT(lk_text_classifier_predict(h, dt, dl, nd, 2, q, nd * 2), LK_STATUS_OK);
    CHECK(bits_equal(p, q, nd * 2), "predictions changed after errors");

    /* Save/load round trip. */
    char *path = path_join(g_tmproot, "tiny-classifier.safetensors");
    EXPECT(lk_text_classifier_save(h, path), LK_STATUS_OK);
    lk_text_classifier *back = NULL;
    if (EXPECT(lk_text_classifier_load(path, &back), LK_STATUS_OK) && back) {
        EXPECT(lk_text_classifier_predict(back, dt, dl, nd, 2, q, nd * 2), LK_STATUS_OK);
        CHECK(bits_equal(p, q, nd * 2), "the loaded classifier predicts differently");
        const char *b1 = NULL;
        lk_text_classifier_label(back, 1, &b1);
        CHECK(b1 && strcmp(b1, "rotten") == 0, "the loaded classifier's label 1 is \"%s\"", b1 ? b1 : "(null)");
        lk_text_classifier_free(back);
    }
    EXPECT(lk_text_classifier_save(h, NULL), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_text_classifier_save(NULL, path), LK_STATUS_INVALID_ARGUMENT);
    {
        char *nodir = path_join(g_tmproot, "no/such/dir/x.safetensors");
        EXPECT(lk_text_classifier_save(h, nodir), LK_STATUS_IO_ERROR);
        lk_text_classifier *out = CLS_SENTINEL;
        EXPECT(lk_text_classifier_load(nodir, &out), LK_STATUS_IO_ERROR);
        CHECK(out == CLS_SENTINEL, "*out was changed by a failed load");
        free(nodir);
    }
    EXPECT(lk_text_classifier_load(NULL, &back), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_text_classifier_load(path, NULL), LK_STATUS_INVALID_ARGUMENT);
    /* A model file of another kind: the message names both kinds. */
    {
        char *lpath = path_join(g_tmproot, "an-lstm.safetensors");
        if (save_small_lstm_at(lpath, __LINE__)) {
            lk_text_classifier *out = CLS_SENTINEL;
            lk_status status = lk_text_classifier_load(lpath, &out);
            wrong_kind_at(status, out == CLS_SENTINEL, "lstm", "text_classifier", __LINE__, "lk_text_classifier_load(an LSTM)");
            lk_lstm *as_lstm = NULL;
            EXPECT(lk_lstm_load(path, &as_lstm), LK_STATUS_INVALID_FORMAT);
            CHECK(strstr(lk_last_error(), "text_classifier") != NULL, "loading a classifier as an LSTM: \"%s\"", lk_last_error());
        }
        free(lpath);
        if (is_file(g_tok_model)) {
            lk_text_classifier *out = CLS_SENTINEL;
            EXPECT(lk_text_classifier_load(g_tok_model, &out), LK_STATUS_INVALID_FORMAT);
            CHECK(strstr(lk_last_error(), "tokenizer") && strstr(lk_last_error(), "text_classifier"),
                  "the message \"%s\" does not name both kinds", lk_last_error());
        }
    }
    free(path);
    free(p);
    free(q);
    lk_text_classifier_free(h);
    lk_text_classifier_free(NULL);
    tsv_free(&s);
}

/* lk_text_classifier_attention: sizes, tokens, weights, errors. */
static void group_text_classifier_attention(void) {
    tsv_set s;
    if (!CHECK(read_tsv(&s) && s.n == 300, "cannot read the text fixture")) return;
    lk_text_classifier_train_config c = tiny_cls_config();
    c.epochs = 1;
    c.max_length = 8;
    c.tokenization = LK_TOKENIZATION_WORDS;
    lk_text_classifier *h = NULL, *mean = NULL;
    if (!EXPECT(cls_train(&s, &c, NULL, NULL, &h), LK_STATUS_OK) || !h) {
        tsv_free(&s);
        return;
    }

    /* Ask for the size, then fill buffers of that size. Words are lower-cased and
     * full-width letters normalised: "A Fine, FILM!" reads as a|fine|,|film|! */
    const char *text = "A Fine, \xef\xbc\xa6\xef\xbc\xa9\xef\xbc\xac\xef\xbc\xad!"; /* "ＦＩＬＭ" */
    size_t len = strlen(text), tsize = 999, n = 999;
    static const char want_tokens[] = "a\0fine\0,\0film\0!";
    const size_t want_size = sizeof want_tokens; /* 16: five tokens and their NULs */
    EXPECT(lk_text_classifier_attention(h, text, len, NULL, 0, &tsize, NULL, 0, &n), LK_STATUS_OK);
    CHECK(tsize == want_size && n == 5, "asking for the size: tokens_size %zu, n_tokens %zu; want %zu and 5", tsize, n,
          want_size);
    char tokens[64];
    float weights[16], again[16];
    memset(tokens, 'x', sizeof tokens);
    fill(weights, 16, UNTOUCHED);
    tsize = n = 0;
    EXPECT(lk_text_classifier_attention(h, text, len, tokens, want_size, &tsize, weights, 5, &n), LK_STATUS_OK);
    CHECK(tsize == want_size && n == 5, "tokens_size %zu, n_tokens %zu after filling", tsize, n);
    CHECK(memcmp(tokens, want_tokens, want_size) == 0, "the tokens are not a|fine|,|film|!: \"%.*s\"", (int)want_size,
          tokens);
    double sum = 0;
    int in_range = 1;
    for (int i = 0; i < 5; i++) {
        sum += weights[i];
        if (!(weights[i] >= 0 && weights[i] <= 1)) in_range = 0;
    }
    CHECK(in_range && fabs(sum - 1) < 1e-5, "the weights are not a distribution (sum %.8f)", sum);
    /* Larger buffers: the same result, nothing written past it. */
    memset(tokens, 'x', sizeof tokens);
    fill(again, 16, UNTOUCHED);
    EXPECT(lk_text_classifier_attention(h, text, len, tokens, sizeof tokens, &tsize, again, 16, &n), LK_STATUS_OK);
    CHECK(n == 5 && bits_equal(weights, again, 5), "bigger buffers give other weights");
    CHECK(tokens[want_size] == 'x' && all_equal_to(again + 5, 11, UNTOUCHED), "attention wrote past the results");

    /* Too small: BUFFER_TOO_SMALL, both sizes set, nothing else written. */
    struct {
        size_t tcap, wcap;
        int tnull, wnull;
    } small[] = {{want_size - 1, 5, 0, 0}, {want_size, 4, 0, 0}, {0, 5, 1, 0}, {want_size, 0, 0, 1}, {1, 1, 0, 0}};
    for (size_t k = 0; k < sizeof small / sizeof small[0]; k++) {
        memset(tokens, 'x', sizeof tokens);
        fill(again, 16, UNTOUCHED);
        tsize = n = 0;
        EXPECT(lk_text_classifier_attention(h, text, len, small[k].tnull ? NULL : tokens, small[k].tcap, &tsize,
                                            small[k].wnull ? NULL : again, small[k].wcap, &n),
               LK_STATUS_BUFFER_TOO_SMALL);
        CHECK(tsize == want_size && n == 5, "case %zu: BUFFER_TOO_SMALL set tokens_size %zu, n_tokens %zu", k, tsize, n);
        CHECK(tokens[0] == 'x' && all_equal_to(again, 16, UNTOUCHED), "case %zu: BUFFER_TOO_SMALL wrote to the buffers", k);
        CHECK(strstr(lk_last_error(), "tokens_capacity") != NULL, "case %zu: the message \"%s\" names no capacity", k,
              lk_last_error());
    }

    /* Truncation to max_length (8), and texts without tokens. */
    const char *long_text = "one two three four five six seven eight nine ten";
    EXPECT(lk_text_classifier_attention(h, long_text, strlen(long_text), tokens, sizeof tokens, &tsize, again, 16, &n),
           LK_STATUS_OK);
    CHECK(n == 8 && tsize == strlen("one two three four five six seven eight") + 1,
          "a 10-word text under max_length 8 gives %zu tokens (%zu bytes)", n, tsize);
    CHECK(n == 8 && strcmp(tokens + tsize - 6, "eight") == 0, "the last token is not \"eight\"");
    sum = 0;
    for (size_t i = 0; i < n && i < 16; i++) sum += again[i];
    CHECK(fabs(sum - 1) < 1e-5, "the weights of a truncated text sum to %.8f", sum);
    const char *blank[] = {"", "   \t\n"};
    for (int k = 0; k < 2; k++) {
        tsize = n = 7;
        fill(again, 16, UNTOUCHED);
        EXPECT(lk_text_classifier_attention(h, blank[k], strlen(blank[k]), NULL, 0, &tsize, NULL, 0, &n), LK_STATUS_OK);
        CHECK(tsize == 0 && n == 0, "\"%s\": tokens_size %zu, n_tokens %zu; want 0 and 0", blank[k], tsize, n);
        EXPECT(lk_text_classifier_attention(h, blank[k], strlen(blank[k]), tokens, 4, &tsize, again, 4, &n), LK_STATUS_OK);
        CHECK(n == 0 && all_equal_to(again, 16, UNTOUCHED), "\"%s\": wrote weights", blank[k]);
    }

    /* Errors: INVALID_ARGUMENT, the sizes untouched. */
#define ATTENTION_FAILS(h_, t_, l_, tok_, tcap_, ts_, w_, wcap_, n_, want, needle)                                    \
    do {                                                                                                               \
        tsize = n = 4242;                                                                                              \
        EXPECT(lk_text_classifier_attention((h_), (t_), (l_), (tok_), (tcap_), (ts_), (w_), (wcap_), (n_)), (want));   \
        CHECK(strstr(lk_last_error(), (needle)) != NULL, "the message \"%s\" does not mention \"%s\"", lk_last_error(), \
              (needle));                                                                                               \
        CHECK(tsize == 4242 && n == 4242, "a failing call changed the sizes");                                         \
    } while (0)
    ATTENTION_FAILS(NULL, text, len, tokens, 64, &tsize, again, 16, &n, LK_STATUS_INVALID_ARGUMENT, "classifier");
    ATTENTION_FAILS(h, NULL, len, tokens, 64, &tsize, again, 16, &n, LK_STATUS_INVALID_ARGUMENT, "text");
    ATTENTION_FAILS(h, NULL, 0, tokens, 64, &tsize, again, 16, &n, LK_STATUS_INVALID_ARGUMENT, "text");
    ATTENTION_FAILS(h, text, len, tokens, 64, NULL, again, 16, &n, LK_STATUS_INVALID_ARGUMENT, "tokens_size");
    ATTENTION_FAILS(h, text, len, tokens, 64, &tsize, again, 16, NULL, LK_STATUS_INVALID_ARGUMENT, "n_tokens");
    ATTENTION_FAILS(h, text, len, NULL, 64, &tsize, again, 16, &n, LK_STATUS_INVALID_ARGUMENT, "tokens");
    ATTENTION_FAILS(h, text, len, tokens, 64, &tsize, NULL, 16, &n, LK_STATUS_INVALID_ARGUMENT, "weights");
    ATTENTION_FAILS(h, text, SIZE_MAX, tokens, 64, &tsize, again, 16, &n, LK_STATUS_INVALID_ARGUMENT, "text");
    ATTENTION_FAILS(h, text, len, tokens, SIZE_MAX, &tsize, again, 16, &n, LK_STATUS_INVALID_ARGUMENT, "tokens_capacity");
    ATTENTION_FAILS(h, text, len, tokens, 64, &tsize, again, SIZE_MAX, &n, LK_STATUS_INVALID_ARGUMENT, "weights_capacity");
    ATTENTION_FAILS(h, "ab\xff", 3, tokens, 64, &tsize, again, 16, &n, LK_STATUS_INVALID_ARGUMENT, "at byte 2");
    ATTENTION_FAILS(h, "\xe4\xb8", 2, tokens, 64, &tsize, again, 16, &n, LK_STATUS_INVALID_ARGUMENT, "UTF-8");
    ATTENTION_FAILS(h, "a\0b", 3, tokens, 64, &tsize, again, 16, &n, LK_STATUS_INVALID_ARGUMENT, "NUL");
    /* A model that pools by mean has no attention weights; the message names the pooling. */
    {
        lk_text_classifier_train_config m = tiny_cls_config();
        m.epochs = 1;
        m.pooling = LK_POOLING_MEAN;
        if (EXPECT(lk_text_classifier_train(s.texts, s.lens, s.labels, 40, s.texts + N_TRAIN, s.lens + N_TRAIN,
                                            s.labels + N_TRAIN, 10, &m, NULL, NULL, &mean),
                   LK_STATUS_OK)) {
            ATTENTION_FAILS(mean, text, len, tokens, 64, &tsize, again, 16, &n, LK_STATUS_INVALID_ARGUMENT, "pools by mean");
            CHECK(strstr(lk_last_error(), "attention pooling") != NULL, "the message \"%s\" does not say what to do",
                  lk_last_error());
            ATTENTION_FAILS(mean, text, len, NULL, 0, &tsize, NULL, 0, &n, LK_STATUS_INVALID_ARGUMENT, "pools by mean");
        }
    }
#undef ATTENTION_FAILS

    /* The handle still works after the errors, and a saved and loaded model agrees. */
    memset(tokens, 'x', sizeof tokens);
    EXPECT(lk_text_classifier_attention(h, text, len, tokens, sizeof tokens, &tsize, again, 16, &n), LK_STATUS_OK);
    CHECK(n == 5 && bits_equal(weights, again, 5) && memcmp(tokens, want_tokens, want_size) == 0,
          "attention changed after errors");
    char *path = path_join(g_tmproot, "attention.safetensors");
    lk_text_classifier *back = NULL;
    if (EXPECT(lk_text_classifier_save(h, path), LK_STATUS_OK) && EXPECT(lk_text_classifier_load(path, &back), LK_STATUS_OK)) {
        fill(again, 16, UNTOUCHED);
        EXPECT(lk_text_classifier_attention(back, text, len, tokens, sizeof tokens, &tsize, again, 16, &n), LK_STATUS_OK);
        CHECK(n == 5 && bits_equal(weights, again, 5), "the loaded model gives other attention weights");
    }
    free(path);
    lk_text_classifier_free(back);
    lk_text_classifier_free(mean);
    lk_text_classifier_free(h);
    tsv_free(&s);
}

/* N-gram features through C: training changes the predictions, and a saved and loaded
 * model agrees bit for bit. */
static void group_text_classifier_ngrams(void) {
    tsv_set s;
    if (!CHECK(read_tsv(&s) && s.n == 300, "cannot read the text fixture")) return;
    lk_text_classifier_train_config c = tiny_cls_config();
    c.epochs = 2;
    lk_text_classifier *plain = NULL, *h = NULL, *back = NULL;
    size_t nd = s.n - N_TRAIN;
    const char *const *dt = s.texts + N_TRAIN;
    const size_t *dl = s.lens + N_TRAIN;
    float *p0 = xmalloc(nd * 2 * sizeof(float)), *p = xmalloc(nd * 2 * sizeof(float)), *q = xmalloc(nd * 2 * sizeof(float));
    char *path = path_join(g_tmproot, "ngrams.safetensors");
    if (EXPECT(cls_train(&s, &c, NULL, NULL, &plain), LK_STATUS_OK)) {
        c.ngram_order = 2;
        if (EXPECT(cls_train(&s, &c, NULL, NULL, &h), LK_STATUS_OK)) {
            EXPECT(lk_text_classifier_predict(plain, dt, dl, nd, 1, p0, nd * 2), LK_STATUS_OK);
            EXPECT(lk_text_classifier_predict(h, dt, dl, nd, 1, p, nd * 2), LK_STATUS_OK);
            CHECK(max_diff_ff(p0, p, nd * 2) > 1e-4, "n-gram features changed no prediction");
            if (EXPECT(lk_text_classifier_save(h, path), LK_STATUS_OK) && EXPECT(lk_text_classifier_load(path, &back), LK_STATUS_OK)) {
                EXPECT(lk_text_classifier_predict(back, dt, dl, nd, 1, q, nd * 2), LK_STATUS_OK);
                CHECK(bits_equal(p, q, nd * 2), "the loaded n-gram model predicts otherwise");
            }
        }
    }
    /* Token bigrams beside the tokens: another model, kept in the file, reported by get_config. */
    lk_text_classifier *bi = NULL;
    c.ngram_order = 0;
    c.bigram_dim = 8;
    c.min_bigram_count = 1;
    if (EXPECT(cls_train(&s, &c, NULL, NULL, &bi), LK_STATUS_OK)) {
        lk_text_classifier_train_config got;
        EXPECT(lk_text_classifier_get_config(bi, &got), LK_STATUS_OK);
        CHECK(got.bigram_dim == 8, "get_config: bigram_dim is %d, want 8", (int)got.bigram_dim);
        EXPECT(lk_text_classifier_predict(bi, dt, dl, nd, 1, q, nd * 2), LK_STATUS_OK);
        CHECK(max_diff_ff(p0, q, nd * 2) > 1e-4, "bigram features changed no prediction");
    }
    lk_text_classifier_free(bi);
    free(path);
    free(p0);
    free(p);
    free(q);
    lk_text_classifier_free(back);
    lk_text_classifier_free(h);
    lk_text_classifier_free(plain);
    tsv_free(&s);
}

static void group_text_classifier_train_errors(void) {
    tsv_set s;
    if (!CHECK(read_tsv(&s) && s.n == 300, "cannot read the text fixture")) return;
    const char *const *tt = s.texts, *const *tlab = s.labels, *const *dt = s.texts + N_TRAIN, *const *dlab = s.labels + N_TRAIN;
    const size_t *tl = s.lens, *dl = s.lens + N_TRAIN;
    size_t nt = 40, nd = 10; /* small: every failure is found before training */
    lk_text_classifier_train_config c = tiny_cls_config();
#define TRAIN_FAIL(tt_, tl_, tlab_, nt_, dt_, dl_, dlab_, nd_, cfg, want, needle) \
    cls_train_fails_at((tt_), (tl_), (tlab_), (nt_), (dt_), (dl_), (dlab_), (nd_), (cfg), (want), (needle), __LINE__, #needle)

    /* NULLs and sizes. */
    TRAIN_FAIL(tt, tl, tlab, nt, dt, dl, dlab, nd, NULL, LK_STATUS_INVALID_ARGUMENT, "config");
    EXPECT(lk_text_classifier_train(tt, tl, tlab, nt, dt, dl, dlab, nd, &c, NULL, NULL, NULL), LK_STATUS_INVALID_ARGUMENT);
    TRAIN_FAIL(NULL, tl, tlab, nt, dt, dl, dlab, nd, &c, LK_STATUS_INVALID_ARGUMENT, "train_texts");
    TRAIN_FAIL(tt, NULL, tlab, nt, dt, dl, dlab, nd, &c, LK_STATUS_INVALID_ARGUMENT, "train_lens");
    TRAIN_FAIL(tt, tl, NULL, nt, dt, dl, dlab, nd, &c, LK_STATUS_INVALID_ARGUMENT, "train_labels");
    TRAIN_FAIL(tt, tl, tlab, nt, NULL, dl, dlab, nd, &c, LK_STATUS_INVALID_ARGUMENT, "dev_texts");
    TRAIN_FAIL(tt, tl, tlab, nt, dt, NULL, dlab, nd, &c, LK_STATUS_INVALID_ARGUMENT, "dev_lens");
    TRAIN_FAIL(tt, tl, tlab, nt, dt, dl, NULL, nd, &c, LK_STATUS_INVALID_ARGUMENT, "dev_labels");
    TRAIN_FAIL(tt, tl, tlab, 0, dt, dl, dlab, nd, &c, LK_STATUS_INVALID_ARGUMENT, "n_train");
    TRAIN_FAIL(tt, tl, tlab, nt, dt, dl, dlab, 0, &c, LK_STATUS_INVALID_ARGUMENT, "n_dev");
    TRAIN_FAIL(tt, tl, tlab, SIZE_MAX, dt, dl, dlab, nd, &c, LK_STATUS_INVALID_ARGUMENT, "n_train");
    TRAIN_FAIL(tt, tl, tlab, nt, dt, dl, dlab, SIZE_MAX, &c, LK_STATUS_INVALID_ARGUMENT, "n_dev");
    {
        const char *texts[] = {"good", "bad \xff", "fine"};
        const char *labels[] = {"a", "b", "a"};
        size_t lens[] = {4, 5, 4};
        TRAIN_FAIL(texts, lens, labels, 3, dt, dl, dlab, 1, &c, LK_STATUS_INVALID_ARGUMENT, "train_texts[1]");
        CHECK(strstr(lk_last_error(), "at byte 4") != NULL, "the message \"%s\" does not give byte 4", lk_last_error());
        size_t huge[] = {4, SIZE_MAX, 4};
        TRAIN_FAIL(texts, huge, labels, 3, dt, dl, dlab, 1, &c, LK_STATUS_INVALID_ARGUMENT, "train_lens[1]");
        const char *bad_labels[] = {"a", "\xc3", "a"};
        TRAIN_FAIL(tt, tl, bad_labels, 3, dt, dl, dlab, 1, &c, LK_STATUS_INVALID_ARGUMENT, "train_labels[1]");
        const char *null_labels[] = {"a", NULL, "a"};
        TRAIN_FAIL(tt, tl, null_labels, 3, dt, dl, dlab, 1, &c, LK_STATUS_INVALID_ARGUMENT, "train_labels[1]");
        const char *dev_bad[] = {"\xe4"};
        size_t one[] = {1};
        TRAIN_FAIL(tt, tl, tlab, nt, dev_bad, one, dlab, 1, &c, LK_STATUS_INVALID_ARGUMENT, "dev_texts[0]");
        /* A single class; a dev label unseen in training. */
        const char *same[] = {"x", "x", "x"};
        TRAIN_FAIL(tt, tl, same, 3, dt, dl, dlab, 1, &c, LK_STATUS_INVALID_ARGUMENT, "single class");
        const char *unseen[] = {"fresh", "neutral"};
        TRAIN_FAIL(tt, tl, tlab, nt, dt, dl, unseen, 2, &c, LK_STATUS_INVALID_ARGUMENT, "neutral");
    }

    /* Every config field. */
#define BAD_FIELD(field, value)                                                                        \
    do {                                                                                               \
        lk_text_classifier_train_config b = tiny_cls_config();                                         \
        b.field = value;                                                                               \
        TRAIN_FAIL(tt, tl, tlab, nt, dt, dl, dlab, nd, &b, LK_STATUS_INVALID_ARGUMENT, #field);        \
    } while (0)
    BAD_FIELD(embedding_dim, 0);
    BAD_FIELD(embedding_dim, -1);
    BAD_FIELD(embedding_dim, INT32_MAX);
    BAD_FIELD(hidden_size, 0);
    BAD_FIELD(hidden_size, 1 << 20);
    BAD_FIELD(num_layers, 0);
    BAD_FIELD(num_layers, 1000);
    BAD_FIELD(bidirectional, 2);
    BAD_FIELD(bidirectional, -1);
    BAD_FIELD(pooling, 5);
    BAD_FIELD(pooling, -1);
    BAD_FIELD(attention_size, 0);
    BAD_FIELD(attention_size, INT32_MAX);
    BAD_FIELD(dropout, -0.1f);
    BAD_FIELD(dropout, 1.0f);
    BAD_FIELD(dropout, NAN);
    BAD_FIELD(dropout, INFINITY);
    BAD_FIELD(max_length, 0);
    BAD_FIELD(max_length, INT32_MAX);
    BAD_FIELD(min_count, 0);
    BAD_FIELD(epochs, 0);
    BAD_FIELD(epochs, -3);
    BAD_FIELD(batch_size, 0);
    BAD_FIELD(batch_size, INT32_MAX);
    BAD_FIELD(learning_rate, 0.0f);
    BAD_FIELD(learning_rate, -1.0f);
    BAD_FIELD(learning_rate, NAN);
    BAD_FIELD(learning_rate, INFINITY);
    BAD_FIELD(patience, 0);
    BAD_FIELD(balance_classes, 2);
    BAD_FIELD(tokenization, 3);
    BAD_FIELD(tokenization, -1);
    BAD_FIELD(ngram_order, -1);
    BAD_FIELD(ngram_order, 9);
    BAD_FIELD(ngram_dropout, -0.1f);
    BAD_FIELD(ngram_dropout, 1.0f);
    BAD_FIELD(ngram_dropout, NAN);
    BAD_FIELD(ngram_learning_rate, 0.0f);
    BAD_FIELD(ngram_learning_rate, NAN);
    BAD_FIELD(ngram_learning_rate, INFINITY);
    BAD_FIELD(bigram_dim, -1);
    BAD_FIELD(bigram_dim, 4097);
    BAD_FIELD(min_bigram_count, 0);
    BAD_FIELD(min_ngram_count, 0);
    BAD_FIELD(threads, 0);
    BAD_FIELD(threads, INT32_MAX);
#undef BAD_FIELD

    /* Every pooling and tokenization trains (one epoch, tiny), and balancing works. */
    for (int32_t pool = LK_POOLING_LAST; pool <= LK_POOLING_SELF_ATTENTION; pool++) {
        lk_text_classifier_train_config b = tiny_cls_config();
        b.epochs = 1;
        b.pooling = pool;
        b.bidirectional = pool % 2;
        b.tokenization = pool % 3;
        b.balance_classes = pool == LK_POOLING_MEAN;
        lk_text_classifier *h = NULL;
        if (EXPECT(lk_text_classifier_train(tt, tl, tlab, nt, dt, dl, dlab, nd, &b, NULL, (void *)&b, &h), LK_STATUS_OK)) {
            float pr[2];
            EXPECT(lk_text_classifier_predict(h, dt, dl, 1, 1, pr, 2), LK_STATUS_OK);
            CHECK(fabsf(pr[0] + pr[1] - 1) < 1e-5f, "pooling %d: probabilities sum to %g", (int)pool, (double)(pr[0] + pr[1]));
        }
        lk_text_classifier_free(h);
    }

    /* diverged_training (issue 17): the loss becomes NaN; a status, not a trap. */
    lk_text_classifier_train_config wild = c;
    wild.learning_rate = 1e30f;
    wild.ngram_learning_rate = 1e30f;
    wild.epochs = 5;
    if (TRAIN_FAIL(tt, tl, tlab, N_TRAIN, dt, dl, dlab, nd, &wild, LK_STATUS_INVALID_ARGUMENT, "training diverged at epoch"))
        mentions_at("lower the learning rate", __LINE__, "learning rate 1e30");
#undef TRAIN_FAIL
    tsv_free(&s);
}

const test_group text_classifier_groups[] = {
    {"text classifier: train, predict, labels, files", group_text_classifier},
    {"text classifier: training errors", group_text_classifier_train_errors},
    {"text classifier: attention weights", group_text_classifier_attention},
    {"text classifier: n-gram features", group_text_classifier_ngrams},
    {NULL, NULL},
};
