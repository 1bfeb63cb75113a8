/*
 * test_tokenizer.c — the tokenizer: training a tiny model on Tests/Fixtures/cws
 * (progress callback, every bad config field, empty and invalid corpora, checkpoints
 * and resuming), ensembles (made, saved, loaded, refused when members differ), segment
 * and segment_batch (ask for the size, BUFFER_TOO_SMALL, ends covering the text,
 * invalid UTF-8 with its byte offset, NUL bytes, a 120,000-character line equal to its
 * sentences), user words and dictionaries, save/load and wrong files, special files,
 * sizes that cannot be real, a tokenizer shared by threads.
 *
 * The tiny model (harness.h: TINY_TOKENIZER) is trained once by the training group and
 * shared by the others through a file.
 */
#include "harness.h"

#define END_UNTOUCHED ((size_t)0x5EAD5EAD)

/* ======================================================================== */
/* Tokenizer: helpers                                                         */
/* ======================================================================== */

/* Ends of one text: strictly increasing, each on a UTF-8 character boundary, the last
 * equal to len (none for an empty text). */
static int ends_valid(const char *text, size_t len, const size_t *ends, size_t count) {
    if (count == 0) return len == 0;
    size_t prev = 0;
    for (size_t k = 0; k < count; k++) {
        if (ends[k] <= prev || ends[k] > len) return 0;
        if (ends[k] < len && ((unsigned char)text[ends[k]] & 0xC0) == 0x80) return 0;
        prev = ends[k];
    }
    return prev == len;
}

/* Segments text (ask for the size, then fill an exact buffer) and checks the ends.
 * Returns the ends (malloc'd; *count of them) or NULL after reporting a failure. */
static size_t *segment_at(const lk_tokenizer *t, const char *text, size_t len, size_t *count, int line, const char *what) {
    size_t n = (size_t)-1;
    if (!expect_at(lk_tokenizer_segment(t, text, len, NULL, 0, &n), LK_STATUS_OK, line, what)) return NULL;
    size_t *ends = xmalloc((n + 1) * sizeof(size_t));
    ends[n] = END_UNTOUCHED;
    size_t n2 = (size_t)-1;
    if (!expect_at(lk_tokenizer_segment(t, text, len, ends, n, &n2), LK_STATUS_OK, line, what)) {
        free(ends);
        return NULL;
    }
    int ok = check_at(n2 == n, line, "%s: ask-for-size gave %zu tokens, the exact buffer %zu", what, n, n2);
    ok &= check_at(ends[n] == END_UNTOUCHED, line, "%s: segment wrote past the %zu ends it reported", what, n);
    ok &= check_at(ends_valid(text, len, ends, n), line,
                   "%s: the ends do not cover the text (increasing, on character boundaries, last = %zu)", what, len);
    if (!ok) {
        free(ends);
        return NULL;
    }
    *count = n;
    return ends;
}
#define SEGMENT(t, text, len, count, what) segment_at((t), (text), (len), (count), __LINE__, (what))

/* 1 if bytes [start, end) are one token of the ends. */
static int has_token(const size_t *ends, size_t count, size_t start, size_t end) {
    for (size_t k = 0; k < count; k++)
        if (ends[k] == end) return k == 0 ? start == 0 : ends[k - 1] == start;
    return 0;
}

/* 1 if w (n bytes) is 3 or 4 CJK ideographs (U+4E00..U+9FFF). */
static int is_cjk_word(const char *w, size_t n) {
    if (n % 3 != 0 || n / 3 < 3 || n / 3 > 4) return 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned a = (unsigned char)w[i], b = (unsigned char)w[i + 1], c = (unsigned char)w[i + 2];
        if (a < 0xE4 || a > 0xE9 || (a == 0xE4 && b < 0xB8) || (b & 0xC0) != 0x80 || (c & 0xC0) != 0x80) return 0;
    }
    return 1;
}

/* The fixture's sentences (dev.txt), words joined: an array of NUL-terminated strings. */
typedef struct {
    char **text;
    size_t *len;
    size_t n;
} sentences;

static void sentences_free(sentences *s) {
    for (size_t i = 0; i < s->n; i++) free(s->text[i]);
    free(s->text);
    free(s->len);
    memset(s, 0, sizeof *s);
}

/* Reads a corpus file; each line's words are joined (spaces removed). */
static int read_sentences(const char *name, sentences *out) {
    memset(out, 0, sizeof *out);
    size_t len = 0;
    char *data = read_fixture(name, &len);
    if (!data) return 0;
    size_t cap = 64;
    out->text = xmalloc(cap * sizeof(char *));
    out->len = xmalloc(cap * sizeof(size_t));
    for (char *line = data; *line;) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        char *s = xmalloc(n + 1);
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (line[i] != ' ' && line[i] != '\r') s[m++] = line[i];
        s[m] = '\0';
        if (m > 0) {
            if (out->n == cap) {
                cap *= 2;
                char **nt = realloc(out->text, cap * sizeof(char *));
                size_t *nlen = realloc(out->len, cap * sizeof(size_t));
                if (!nt || !nlen) {
                    fprintf(stderr, "test_abi: out of memory\n");
                    exit(2);
                }
                out->text = nt;
                out->len = nlen;
            }
            out->text[out->n] = s;
            out->len[out->n] = m;
            out->n++;
        } else {
            free(s);
        }
        line = nl ? nl + 1 : line + n;
    }
    free(data);
    return out->n > 0;
}

/* Finds a 3-4 character word of dev.txt that the tokenizer cuts into several tokens in
 * its sentence. word (>= 16 bytes) receives it, *sentence_index its sentence. */
static int find_split_word(const lk_tokenizer *t, char *word, size_t *sentence_index) {
    size_t len = 0;
    char *data = read_fixture("dev.txt", &len);
    if (!data) return 0;
    int found = 0;
    size_t index = 0;
    for (char *line = data; *line && !found;) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        /* The joined sentence and each word's byte range in it. */
        char *joined = xmalloc(n + 1);
        size_t *starts = xmalloc((n + 1) * sizeof(size_t)), *lens = xmalloc((n + 1) * sizeof(size_t));
        size_t m = 0, words = 0;
        for (size_t i = 0; i < n;) {
            while (i < n && line[i] == ' ') i++;
            if (i >= n) break;
            size_t j = i;
            while (j < n && line[j] != ' ') j++;
            starts[words] = m;
            lens[words] = j - i;
            words++;
            memcpy(joined + m, line + i, j - i);
            m += j - i;
            i = j;
        }
        joined[m] = '\0';
        if (m > 0) {
            size_t count = 0, *ends = NULL;
            if (lk_tokenizer_segment(t, joined, m, NULL, 0, &count) == LK_STATUS_OK) {
                ends = xmalloc((count + 1) * sizeof(size_t));
                if (lk_tokenizer_segment(t, joined, m, ends, count, &count) != LK_STATUS_OK) count = 0;
            }
            for (size_t w = 0; ends && w < words && !found; w++) {
                if (is_cjk_word(joined + starts[w], lens[w]) && !has_token(ends, count, starts[w], starts[w] + lens[w])) {
                    memcpy(word, joined + starts[w], lens[w]);
                    word[lens[w]] = '\0';
                    *sentence_index = index;
                    found = 1;
                }
            }
            free(ends);
            index++;
        }
        free(joined);
        free(starts);
        free(lens);
        line = nl ? nl + 1 : line + n;
    }
    free(data);
    return found;
}

/* ======================================================================== */
/* Group: tokenizer training                                                  */
/* ======================================================================== */

static void group_tok_train(void) {
    lk_tokenizer_train_config d = lk_tokenizer_train_config_default();
    CHECK(d.epochs >= 1 && d.batch_size >= 1 && isfinite(d.learning_rate) && d.learning_rate > 0 && d.hidden_size >= 1 &&
              d.num_layers >= 1 && d.char_dim >= 1 && d.bigram_dim >= 1 && d.min_bigram_count >= 1 && d.dropout >= 0 &&
              d.dropout < 1 && d.label_smoothing >= 0 && d.label_smoothing < 1 && d.patience >= 1 && d.threads >= 1 &&
              d.max_batches_per_epoch >= 0 && d.dictionary_max_length >= 0 && d.dictionary_max_length <= 16,
          "lk_tokenizer_train_config_default() holds an invalid value");
    CHECK(d.max_batches_per_epoch == 0, "the default max_batches_per_epoch is %d, want 0 (whole epochs)", (int)d.max_batches_per_epoch);
    CHECK(d.lexicon == NULL && d.lexicon_len == 0 && d.lexicon_max_length >= 2 && d.lexicon_max_length <= 16,
          "the default config has a lexicon or an invalid lexicon_max_length (%d)", (int)d.lexicon_max_length);

    /* Train the tiny model with a progress callback; it becomes the shared model. */
    progress_log log;
    progress_init(&log);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    lk_tokenizer *t = train_fixture_at(tiny_config(), NULL, &log, __LINE__);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (g_verbose) printf("      tiny training: %.2f s, %d progress lines\n", secs, log.calls);
    CHECK(log.calls >= 3, "the progress callback was called %d times, want >= 3 (a summary and one line per epoch)%s",
          log.calls, log.calls == 0 ? "; was user_data passed through?" : "");
    CHECK(log.bad_lines == 0, "%d progress lines were NULL or held a newline", log.bad_lines);
    CHECK(log.epoch_lines == 2, "%d progress lines start with \"epoch \", want one per epoch (2)", log.epoch_lines);
    /* No check on secs: speed is a benchmark's business (bench/), never a test's; on a
       loaded machine this training took 52 s against a 20 s limit. */
    if (!t) return;
    EXPECT(lk_tokenizer_save(t, g_tok_model), LK_STATUS_OK);
    size_t count = 0, *ends = SEGMENT(t, "今天天气很好。", strlen("今天天气很好。"), &count, "segment after training");
    free(ends);
    lk_tokenizer_free(t);

    /* Without a progress callback (user_data is ignored). */
    lk_tokenizer_train_config c = tiny_config();
    c.epochs = 1;
    c.max_batches_per_epoch = 2;
    t = train_fixture_at(c, NULL, NULL, __LINE__);
    lk_tokenizer_free(t);

    /* With a lexicon: the model stores it (as a filter), and saves and loads. */
    c.lexicon = "中国\n人民\n经济发展\n";
    c.lexicon_len = strlen(c.lexicon);
    c.lexicon_max_length = 4;
    t = train_fixture_at(c, NULL, NULL, __LINE__);
    if (t) {
        char lexicon_model[sizeof g_tok_model + 16];
        snprintf(lexicon_model, sizeof lexicon_model, "%s.lexicon", g_tok_model);
        EXPECT(lk_tokenizer_save(t, lexicon_model), LK_STATUS_OK);
        lk_tokenizer *loaded = NULL;
        EXPECT(lk_tokenizer_load(lexicon_model, &loaded), LK_STATUS_OK);
        size_t n1 = 0, n2 = 0;
        size_t *e1 = SEGMENT(t, "中国经济发展很快。", strlen("中国经济发展很快。"), &n1, "segment with a lexicon");
        size_t *e2 = loaded ? SEGMENT(loaded, "中国经济发展很快。", strlen("中国经济发展很快。"), &n2, "segment, loaded") : NULL;
        CHECK(e1 && e2 && n1 == n2 && memcmp(e1, e2, n1 * sizeof *e1) == 0, "a loaded lexicon model segments differently");
        free(e1);
        free(e2);
        METADATA_IS(lexicon_model, "lexicon_max_length", "4");
        METADATA_IS(lexicon_model, "lexicon_words", "3");
        remove(lexicon_model);
        lk_tokenizer_free(loaded);
        lk_tokenizer_free(t);
    }

    /* The saved file is a model file of kind "tokenizer". */
    METADATA_IS(g_tok_model, "kind", "tokenizer");
    METADATA_IS(g_tok_model, "format", "lstmkit");
    lk_tokenizer_free(NULL); /* a no-op */
    CHECK(1, "lk_tokenizer_free(NULL) returned");
}

/* ======================================================================== */
/* Group: tokenizer ensembles                                                 */
/* ======================================================================== */

/* A failing lk_tokenizer_ensemble: status, *out untouched, the message says `needle`. */
static void ensemble_fails_at(const lk_tokenizer *const *members, size_t n, const char *needle, const char *what, int line) {
    lk_tokenizer *out = TOK_SENTINEL;
    expect_at(lk_tokenizer_ensemble(members, n, &out), LK_STATUS_INVALID_ARGUMENT, line, what);
    check_at(out == TOK_SENTINEL, line, "%s: *out was changed on failure", what);
    check_at(strstr(lk_last_error(), needle) != NULL, line, "%s: the message \"%s\" does not say \"%s\"", what, lk_last_error(), needle);
}
#define ENSEMBLE_FAILS(members, n, needle) ensemble_fails_at((members), (n), (needle), #members ", " #n, __LINE__)

static void group_tok_ensemble(void) {
    lk_tokenizer *with_dictionary = TINY_TOKENIZER();
    lk_tokenizer_train_config c = tiny_config();
    c.epochs = 1;
    c.max_batches_per_epoch = 3;
    c.dictionary_max_length = 0;
    c.seed = 4;
    lk_tokenizer *without = train_fixture_at(c, NULL, NULL, __LINE__);
    c.lexicon = "中国\n人民\n";
    c.lexicon_len = strlen(c.lexicon);
    c.lexicon_max_length = 3;
    lk_tokenizer *with_lexicon = train_fixture_at(c, NULL, NULL, __LINE__);
    if (!with_dictionary || !without || !with_lexicon) goto done;

    const lk_tokenizer *pair[2] = {with_dictionary, without};
    lk_tokenizer *ensemble = NULL, *loaded = NULL;
    if (EXPECT(lk_tokenizer_ensemble(pair, 2, &ensemble), LK_STATUS_OK) && ensemble) {
        const char *text = "中国经济发展很快。今天天气很好。";
        size_t n1 = 0, n2 = 0;
        size_t *e1 = SEGMENT(ensemble, text, strlen(text), &n1, "segment with an ensemble");
        CHECK(e1 && ends_valid(text, strlen(text), e1, n1), "the ensemble's ends do not cover the text");
        char path[sizeof g_tok_model + 16];
        snprintf(path, sizeof path, "%s.ensemble", g_tok_model);
        EXPECT(lk_tokenizer_save(ensemble, path), LK_STATUS_OK);
        METADATA_IS(path, "members", "2");
        METADATA_IS(path, "kind", "tokenizer");
        if (EXPECT(lk_tokenizer_load(path, &loaded), LK_STATUS_OK) && loaded) {
            size_t *e2 = SEGMENT(loaded, text, strlen(text), &n2, "segment with the loaded ensemble");
            CHECK(e1 && e2 && n1 == n2 && memcmp(e1, e2, n1 * sizeof *e1) == 0, "a loaded ensemble segments differently");
            free(e2);
        }
        free(e1);
        remove(path);
    }
    /* The members still work on their own. */
    size_t n = 0;
    free(SEGMENT(without, "今天天气很好。", strlen("今天天气很好。"), &n, "a member after the ensemble was made"));

    const lk_tokenizer *one[1] = {with_dictionary};
    const lk_tokenizer *with_null[2] = {with_dictionary, NULL};
    const lk_tokenizer *mismatched[2] = {with_dictionary, with_lexicon};
    ENSEMBLE_FAILS(one, 1, "at least two");
    ENSEMBLE_FAILS(pair, 0, "at least two");
    /* ensemble_n_checked_first (issue 17): n > 16 is refused before members[0..n) is
     * read, so a short array is safe (ASan saw a read past pair when n came first). */
    ENSEMBLE_FAILS(pair, 17, "at most 16");
    ENSEMBLE_FAILS(pair, SIZE_MAX / 8, "at most 16");
    ENSEMBLE_FAILS(NULL, 2, "members");
    ENSEMBLE_FAILS(with_null, 2, "members[1]");
    ENSEMBLE_FAILS(mismatched, 2, "lexicon");
    EXPECT(lk_tokenizer_ensemble(pair, 2, NULL), LK_STATUS_INVALID_ARGUMENT);
    lk_tokenizer_free(loaded);
    lk_tokenizer_free(ensemble);
done:
    lk_tokenizer_free(with_dictionary);
    lk_tokenizer_free(without);
    lk_tokenizer_free(with_lexicon);
}

/* ======================================================================== */
/* Group: tokenizer training errors                                           */
/* ======================================================================== */

static int train_fails_at(const char *train, size_t tl, const char *dev, size_t dl, const lk_tokenizer_train_config *c,
                          const char *checkpoint, lk_status want, const char *needle, const char *what, int line) {
    lk_tokenizer *out = TOK_SENTINEL;
    progress_log log;
    progress_init(&log);
    int ok = expect_at(lk_tokenizer_train(train, tl, dev, dl, c, checkpoint, record_progress, &log, &out), want, line, what);
    ok &= check_at(out == TOK_SENTINEL, line, "%s: *out was changed on failure", what);
    if (out != TOK_SENTINEL && out != NULL) lk_tokenizer_free(out);
    ok &= mentions_at(needle, line, what);
    return ok;
}
#define TRAIN_FAILS(train, tl, dev, dl, c, want, needle, what) \
    train_fails_at((train), (tl), (dev), (dl), (c), NULL, (want), (needle), (what), __LINE__)

static void group_tok_train_errors(void) {
    size_t tl = 0, dl = 0;
    char *train = read_fixture("train.txt", &tl), *dev = read_fixture("dev.txt", &dl);
    if (!CHECK(train && dev, "the CWS fixtures are missing from %s", g_fixture_dir)) {
        free(train);
        free(dev);
        return;
    }
    const lk_tokenizer_train_config good = tiny_config();
    lk_tokenizer *out = TOK_SENTINEL;
    EXPECT(lk_tokenizer_train(train, tl, dev, dl, NULL, NULL, NULL, NULL, &out), LK_STATUS_INVALID_ARGUMENT);
    CHECK(out == TOK_SENTINEL, "train(config NULL) changed *out");
    EXPECT(lk_tokenizer_train(train, tl, dev, dl, &good, NULL, NULL, NULL, NULL), LK_STATUS_INVALID_ARGUMENT);

    /* Every field out of range, one at a time; the message names the field. */
    struct {
        const char *field;
        lk_tokenizer_train_config c;
    } bad[48];
    size_t nb = 0;
#define BAD(f, v)                                   \
    do {                                            \
        bad[nb].field = #f;                         \
        bad[nb].c = good;                           \
        bad[nb].c.f = (v);                          \
        nb++;                                       \
    } while (0)
    BAD(epochs, 0);
    BAD(epochs, -1);
    BAD(batch_size, 0);
    BAD(batch_size, INT32_MIN);
    BAD(learning_rate, 0.0f);
    BAD(learning_rate, -0.001f);
    BAD(learning_rate, NAN);
    BAD(learning_rate, INFINITY);
    BAD(hidden_size, 0);
    BAD(hidden_size, 4097);
    BAD(hidden_size, INT32_MAX);
    BAD(num_layers, 0);
    BAD(num_layers, 17);
    BAD(char_dim, 0);
    BAD(char_dim, 4097);
    BAD(bigram_dim, 0);
    BAD(bigram_dim, -8);
    BAD(bigram_dim, 4097);
    BAD(min_bigram_count, 0);
    BAD(dropout, -0.1f);
    BAD(dropout, 1.0f);
    BAD(dropout, NAN);
    BAD(dropout, INFINITY);
    BAD(label_smoothing, -0.1f);
    BAD(label_smoothing, 1.0f);
    BAD(label_smoothing, NAN);
    BAD(patience, 0);
    BAD(threads, 0);
    BAD(threads, -2);
    BAD(max_batches_per_epoch, -1);
    BAD(dictionary_max_length, -1);
    BAD(dictionary_max_length, 17);
    BAD(unknown_bigram_rate, -0.1f);
    BAD(unknown_bigram_rate, 1.0f);
    BAD(feature_dropout, NAN);
    BAD(feature_dropout, 1.5f);
    BAD(average_decay, -0.5f);
    BAD(average_decay, 1.0f);
    BAD(average_decay, NAN);
    BAD(dictionary_min_count, 0);
#undef BAD
    for (size_t i = 0; i < nb; i++) {
        char what[96];
        snprintf(what, sizeof what, "train with a bad %s (case %zu)", bad[i].field, i);
        train_fails_at(train, tl, dev, dl, &bad[i].c, NULL, LK_STATUS_INVALID_ARGUMENT, bad[i].field, what, __LINE__);
    }

    /* A lexicon: lexicon_max_length is checked when one is given; it must be UTF-8 and hold words. */
    lk_tokenizer_train_config lex = good;
    lex.lexicon = "中国\n人民 100\n";
    lex.lexicon_len = strlen(lex.lexicon);
    lex.lexicon_max_length = 1;
    TRAIN_FAILS(train, tl, dev, dl, &lex, LK_STATUS_INVALID_ARGUMENT, "lexicon_max_length", "lexicon_max_length 1");
    lex.lexicon_max_length = 17;
    TRAIN_FAILS(train, tl, dev, dl, &lex, LK_STATUS_INVALID_ARGUMENT, "lexicon_max_length", "lexicon_max_length 17");
    lex.lexicon_max_length = 4;
    lex.lexicon = "中\xff\n";
    lex.lexicon_len = 5;
    TRAIN_FAILS(train, tl, dev, dl, &lex, LK_STATUS_INVALID_ARGUMENT, "lexicon is not valid UTF-8", "a lexicon of invalid UTF-8");
    lex.lexicon = "\n \n\t\n";
    lex.lexicon_len = strlen(lex.lexicon);
    TRAIN_FAILS(train, tl, dev, dl, &lex, LK_STATUS_INVALID_ARGUMENT, "lexicon has no words", "a lexicon of blank lines");
    lex.lexicon = NULL;
    lex.lexicon_len = 5;
    TRAIN_FAILS(train, tl, dev, dl, &lex, LK_STATUS_INVALID_ARGUMENT, "lexicon", "lexicon NULL with a length");

    /* Empty and invalid corpora. */
    const char *blank = "\n \n\t\n\r\n";
    TRAIN_FAILS(train, 0, dev, dl, &good, LK_STATUS_INVALID_ARGUMENT, "training corpus", "an empty training corpus");
    TRAIN_FAILS(blank, strlen(blank), dev, dl, &good, LK_STATUS_INVALID_ARGUMENT, "training corpus",
                "a training corpus of blank lines");
    TRAIN_FAILS(train, tl, dev, 0, &good, LK_STATUS_INVALID_ARGUMENT, "dev corpus", "an empty dev corpus");
    TRAIN_FAILS(train, tl, blank, strlen(blank), &good, LK_STATUS_INVALID_ARGUMENT, "dev corpus", "a dev corpus of blank lines");
    TRAIN_FAILS(NULL, 10, dev, dl, &good, LK_STATUS_INVALID_ARGUMENT, "train", "train NULL with a length");
    TRAIN_FAILS(train, tl, NULL, 10, &good, LK_STATUS_INVALID_ARGUMENT, "dev", "dev NULL with a length");
    TRAIN_FAILS(NULL, 0, dev, dl, &good, LK_STATUS_INVALID_ARGUMENT, NULL, "train NULL, length 0");
    const char bad_train[] = "中国 人民\n\xff 好\n";
    TRAIN_FAILS(bad_train, sizeof bad_train - 1, dev, dl, &good, LK_STATUS_INVALID_ARGUMENT, "train is not valid UTF-8 (at byte 14)",
                "invalid UTF-8 in the training corpus");
    const char bad_dev[] = "好 的\xe4\xb8";
    TRAIN_FAILS(train, tl, bad_dev, sizeof bad_dev - 1, &good, LK_STATUS_INVALID_ARGUMENT, "dev is not valid UTF-8 (at byte 7)",
                "a truncated character at the end of the dev corpus");

    /* A checkpoint that cannot be written (after the first epoch). */
    lk_tokenizer_train_config quick = good;
    quick.epochs = 1;
    quick.max_batches_per_epoch = 1;
    char *dir = make_tmpdir("tok-train");
    char *missing = path_join(dir, "no/such/dir/run.ckpt");
    train_fails_at(train, tl, dev, dl, &quick, missing, LK_STATUS_IO_ERROR, NULL, "a checkpoint in a missing directory", __LINE__);
    /* A checkpoint path holding something else. */
    char *garbage = path_join(dir, "garbage.ckpt");
    write_all(garbage, "not a checkpoint at all, not even close", 39);
    lk_tokenizer *t = TOK_SENTINEL;
    lk_status s = lk_tokenizer_train(train, tl, dev, dl, &quick, garbage, NULL, NULL, &t);
    CHECK(s != LK_STATUS_OK && lk_last_error()[0] != '\0', "resuming from a garbage checkpoint gave %s", status_name(s));
    CHECK(t == TOK_SENTINEL, "a failed resume changed *out");
    if (t != TOK_SENTINEL && t != NULL) lk_tokenizer_free(t);
    free(missing);
    free(garbage);
    rm_tree(dir);
    free(dir);

    /* diverged_training (issue 17): a learning rate the table allows makes the loss NaN;
     * training stops with a status and says what to do (it once trapped, SIGILL). */
    lk_tokenizer_train_config wild = good;
    wild.learning_rate = 1e9f;
    wild.epochs = 3;
    wild.max_batches_per_epoch = 4;
    if (TRAIN_FAILS(train, tl, dev, dl, &wild, LK_STATUS_INVALID_ARGUMENT, "training diverged at epoch", "learning rate 1e9"))
        mentions_at("lower the learning rate", __LINE__, "learning rate 1e9");
    free(train);
    free(dev);
}

/* ======================================================================== */
/* Group: tokenizer distillation (issue 18): options by name                  */
/* ======================================================================== */

static void group_tok_distill(void) {
    size_t tl = 0, dl = 0;
    char *train = read_fixture("train.txt", &tl), *dev = read_fixture("dev.txt", &dl);
    char *dir = make_tmpdir("tok-distill");
    char *teacher = path_join(dir, "teacher.safetensors"), *text = path_join(dir, "unlabelled.txt");
    lk_tokenizer *t = tiny_tokenizer_at(__LINE__);
    if (CHECK(train && dev && t, "no fixtures or no tiny tokenizer") && EXPECT(lk_tokenizer_save(t, teacher), LK_STATUS_OK)) {
        const char review[] = "\xe8\xbf\x99\xe5\xae\xb6\xe9\x85\x92\xe5\xba\x97\xe5\xbe\x88\xe5\xa5\xbd\n"; /* 这家酒店很好 */
        write_all(text, review, sizeof review - 1);
        lk_tokenizer_train_config c = tiny_config();
        c.epochs = 1;
        c.max_batches_per_epoch = 2;
        lk_train_options *o = NULL;
        EXPECT(lk_train_options_create(&o), LK_STATUS_OK);
        expect_mentions_at(lk_train_options_set(o, "distill_temperature", "0"), LK_STATUS_INVALID_ARGUMENT,
                           "distill_temperature must be in (0, 100]", __LINE__, "temperature 0");
        expect_mentions_at(lk_train_options_set(o, "distill_weight", "-1"), LK_STATUS_INVALID_ARGUMENT,
                           "distill_weight", __LINE__, "weight -1");
        expect_mentions_at(lk_train_options_set(o, "distill_labelled_share", "1.5"), LK_STATUS_INVALID_ARGUMENT,
                           "distill_labelled_share must be in [0, 1]", __LINE__, "share 1.5");
        /* Unlabelled text alone: refused, it has no targets without a teacher. */
        EXPECT(lk_train_options_set(o, "unlabelled", text), LK_STATUS_OK);
        lk_tokenizer *out = TOK_SENTINEL;
        expect_mentions_at(lk_tokenizer_train_ex(train, tl, dev, dl, &c, o, NULL, NULL, &out), LK_STATUS_INVALID_ARGUMENT,
                           "needs a teacher", __LINE__, "unlabelled without a teacher");
        CHECK(out == TOK_SENTINEL, "a failed train_ex changed *out");
        /* A teacher that is not there: an error naming it. */
        char *missing = path_join(dir, "missing.safetensors");
        EXPECT(lk_train_options_set(o, "teacher", missing), LK_STATUS_OK);
        lk_status s = lk_tokenizer_train_ex(train, tl, dev, dl, &c, o, NULL, NULL, &out);
        CHECK(s != LK_STATUS_OK && out == TOK_SENTINEL, "a missing teacher gave %s", status_name(s));
        mentions_at("missing.safetensors", __LINE__, "a missing teacher");
        free(missing);
        /* A teacher and unlabelled text: trains. */
        EXPECT(lk_train_options_set(o, "teacher", teacher), LK_STATUS_OK);
        EXPECT(lk_train_options_set(o, "distill_weight", "0.5"), LK_STATUS_OK);
        EXPECT(lk_train_options_set(o, "distill_temperature", "3"), LK_STATUS_OK);
        EXPECT(lk_train_options_set(o, "distill_labelled_share", "0"), LK_STATUS_OK);
        out = NULL;
        if (EXPECT(lk_tokenizer_train_ex(train, tl, dev, dl, &c, o, NULL, NULL, &out), LK_STATUS_OK)) lk_tokenizer_free(out);
        lk_train_options_free(o);
    }
    lk_tokenizer_free(t);
    rm_tree(dir);
    free(dir);
    free(teacher);
    free(text);
    free(train);
    free(dev);
}

/* ======================================================================== */
/* Group: tokenizer checkpoints                                               */
/* ======================================================================== */

static void group_tok_checkpoint(void) {
    char *dir = make_tmpdir("tok-ckpt");
    const uint64_t seeds[] = {1, 3};
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "seed%llu.ckpt", (unsigned long long)seeds[i]);
        char *ck = path_join(dir, name);
        lk_tokenizer_train_config c = tiny_config();
        c.max_batches_per_epoch = 2;
        c.seed = seeds[i];
        c.epochs = 1;
        lk_tokenizer *t = train_fixture_at(c, ck, NULL, __LINE__);
        lk_tokenizer_free(t);
        CHECK(is_file(ck), "seed %llu: no checkpoint file after one epoch", (unsigned long long)seeds[i]);
        /* Resume: one more epoch, the first is not trained again. */
        c.epochs = 2;
        progress_log log;
        progress_init(&log);
        t = train_fixture_at(c, ck, &log, __LINE__);
        CHECK(t && log.resumed_lines == 1, "seed %llu: resuming printed %d \"resumed\" lines, want 1", (unsigned long long)seeds[i],
              log.resumed_lines);
        CHECK(t && log.epoch_lines == 1, "seed %llu: resuming trained %d epochs, want 1 (epoch 2)", (unsigned long long)seeds[i],
              log.epoch_lines);
        lk_tokenizer_free(t);
        free(ck);
    }
    rm_tree(dir);
    free(dir);
}

/* ======================================================================== */
/* Group: tokenizer segment                                                   */
/* ======================================================================== */

static void group_tok_segment(void) {
    lk_tokenizer *t = TINY_TOKENIZER();
    if (!t) return;
    const char *text = "今天天气很好，我们去公园散步。Hello world 123！";
    const size_t len = strlen(text);
    size_t n = 0, *ref = SEGMENT(t, text, len, &n, "segment a mixed text");
    if (!ref) {
        lk_tokenizer_free(t);
        return;
    }
    CHECK(n >= 3 && n <= len, "a %zu-byte text gave %zu tokens", len, n);
    size_t *ends = xmalloc((len + 8) * sizeof(size_t));

    /* Ask for the size: NULL/0 is OK with the count. */
    size_t count = 12345;
    EXPECT(lk_tokenizer_segment(t, text, len, NULL, 0, &count), LK_STATUS_OK);
    CHECK(count == n, "ask-for-size gave %zu, want %zu", count, n);
    /* Too small: BUFFER_TOO_SMALL with the needed count, ends untouched. */
    const size_t small_caps[] = {0, 1, n - 1};
    for (size_t i = 0; i < sizeof small_caps / sizeof small_caps[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "segment with capacity %zu (needs %zu)", small_caps[i], n);
        for (size_t k = 0; k < len + 8; k++) ends[k] = END_UNTOUCHED;
        count = 0;
        expect_at(lk_tokenizer_segment(t, text, len, ends, small_caps[i], &count), LK_STATUS_BUFFER_TOO_SMALL, __LINE__, what);
        CHECK(count == n, "%s: *count = %zu, want the needed %zu", what, count, n);
        int untouched = 1;
        for (size_t k = 0; k < len + 8; k++) untouched &= ends[k] == END_UNTOUCHED;
        CHECK(untouched, "%s: ends were written", what);
    }
    /* Larger than needed: OK, nothing written past the count; the text length always suffices. */
    for (size_t k = 0; k < len + 8; k++) ends[k] = END_UNTOUCHED;
    count = 0;
    EXPECT(lk_tokenizer_segment(t, text, len, ends, len + 8, &count), LK_STATUS_OK);
    CHECK(count == n && memcmp(ends, ref, n * sizeof(size_t)) == 0, "a larger buffer gave other ends");
    CHECK(ends[n] == END_UNTOUCHED && ends[len + 7] == END_UNTOUCHED, "segment wrote past the count");
    EXPECT(lk_tokenizer_segment(t, text, len, ends, len, &count), LK_STATUS_OK);
    CHECK(count == n && memcmp(ends, ref, n * sizeof(size_t)) == 0, "capacity = text length gave other ends");
    /* Deterministic. */
    for (int r = 0; r < 3; r++) {
        EXPECT(lk_tokenizer_segment(t, text, len, ends, n, &count), LK_STATUS_OK);
        CHECK(count == n && memcmp(ends, ref, n * sizeof(size_t)) == 0, "segmenting again gave other ends");
    }

    /* NULL arguments; count untouched on failure. */
    count = 777;
    EXPECT(lk_tokenizer_segment(NULL, text, len, ends, n, &count), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_tokenizer_segment(t, NULL, len, ends, n, &count), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_tokenizer_segment(t, text, len, NULL, 5, &count), LK_STATUS_INVALID_ARGUMENT);
    CHECK(count == 777, "a failed segment changed *count to %zu", count);
    EXPECT(lk_tokenizer_segment(t, text, len, ends, n, NULL), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_tokenizer_segment(t, text, len, NULL, 0, NULL), LK_STATUS_INVALID_ARGUMENT);

    /* Empty text: 0 tokens (NULL text allowed with length 0, or refused: never a crash). */
    count = 777;
    EXPECT(lk_tokenizer_segment(t, "", 0, NULL, 0, &count), LK_STATUS_OK);
    CHECK(count == 0, "an empty text gave %zu tokens", count);
    count = 777;
    EXPECT(lk_tokenizer_segment(t, "", 0, ends, len, &count), LK_STATUS_OK);
    CHECK(count == 0, "an empty text gave %zu tokens", count);
    count = 777;
    lk_status s = lk_tokenizer_segment(t, NULL, 0, NULL, 0, &count);
    CHECK((s == LK_STATUS_OK && count == 0) || (s == LK_STATUS_INVALID_ARGUMENT && count == 777),
          "segment(NULL, 0) gave %s with count %zu", status_name(s), count);

    /* Invalid UTF-8: INVALID_ARGUMENT, the message gives the byte offset. */
    static const struct {
        const char *bytes;
        size_t len;
        size_t at;
        const char *what;
    } bad[] = {
        {"ab\xff", 3, 2, "0xFF"},
        {"\x80", 1, 0, "a lone continuation byte"},
        {"\xe4\xb8\xad\xe4\xb8", 5, 3, "a character cut short at the end"},
        {"\xe4\xb8\xad\xe4\xb8x", 6, 3, "a character cut short in the middle"},
        {"a\xc0\x80", 3, 1, "an overlong NUL"},
        {"\xe0\x80\xaf", 3, 0, "an overlong slash"},
        {"ok\xed\xa0\x80", 5, 2, "a UTF-16 surrogate"},
        {"\xf4\x90\x80\x80", 4, 0, "a code point above U+10FFFF"},
        {"\xe5\xa5\xbd\xe5\xa5\xbd\xe5", 7, 6, "a lead byte at the end"},
        {"x\xf8\x88\x80\x80\x80", 6, 1, "a five-byte sequence"},
        {"\xc3\x28", 2, 0, "a lead byte without its continuation"},
        {"\xe5\xa5\xbd \x00 \xfe", 7, 6, "0xFE after a NUL"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char what[96], needle[32];
        snprintf(what, sizeof what, "segment invalid UTF-8: %s", bad[i].what);
        snprintf(needle, sizeof needle, "at byte %zu", bad[i].at);
        count = 777;
        expect_at(lk_tokenizer_segment(t, bad[i].bytes, bad[i].len, ends, len, &count), LK_STATUS_INVALID_ARGUMENT, __LINE__, what);
        CHECK(strstr(lk_last_error(), needle) != NULL, "%s: the message \"%s\" does not say \"%s\"", what, lk_last_error(), needle);
        CHECK(count == 777, "%s: *count was changed", what);
        count = 777;
        expect_at(lk_tokenizer_segment(t, bad[i].bytes, bad[i].len, NULL, 0, &count), LK_STATUS_INVALID_ARGUMENT, __LINE__, what);
    }

    /* Texts with NUL bytes, control characters, emoji, combining marks, whitespace. */
    static const struct {
        const char *bytes;
        size_t len;
        const char *what;
    } texts[] = {
        {"\x00", 1, "one NUL"},
        {"\xe4\xb8\xad\x00\xe5\x9b\xbd\x00\x00" "abc", 12, "NULs between characters"},
        {" ", 1, "a space"},
        {"\n\t", 2, "a newline and a tab"},
        {"\r\n\r\n", 4, "CRLF CRLF"},
        {"\x01\x02\x1b\x7f", 4, "control characters"},
        {"\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7", 18, "a ZWJ family"},
        {"\xf0\x9f\x87\xa8\xf0\x9f\x87\xb3\xe5\x9b\xbd", 11, "a flag and an ideograph"},
        {"e\xcc\x81t\xcc\x81\xcc\x82", 8, "combining marks"},
        {"\xcc\x81\xe5\xa5\xbd", 5, "a combining mark first"},
        {"\xef\xbc\xa1\xef\xbc\x91\xe3\x80\x80\xef\xbc\x81", 12, "full-width A, 1, space, !"},
        {"\xf0\xa0\x80\x80\xf0\xa0\x80\x81", 8, "non-BMP ideographs"},
        {"\xef\xbb\xbf\xe5\xa5\xbd", 6, "a BOM"},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char what[96];
        snprintf(what, sizeof what, "segment %s", texts[i].what);
        size_t c = 0, *e = segment_at(t, texts[i].bytes, texts[i].len, &c, __LINE__, what);
        free(e);
    }

    /* Whitespace runs are tokens of their own. */
    {
        const char *ws = "\xe4\xbb\x8a\xe5\xa4\xa9  \xe5\xa4\xa9\xe6\xb0\x94\t\xe5\xbe\x88\xe5\xa5\xbd\n\n"; /* 今天␠␠天气⇥很好⏎⏎ */
        size_t wl = strlen(ws), c = 0, *e = SEGMENT(t, ws, wl, &c, "segment a text with whitespace");
        if (e) {
            CHECK(has_token(e, c, 6, 8), "the run of two spaces is not one token");
            CHECK(has_token(e, c, 14, 15), "the tab is not a token of its own");
            CHECK(has_token(e, c, wl - 2, wl), "the final run of newlines is not one token");
            int mixed = 0;
            for (size_t k = 0, start = 0; k < c; start = e[k], k++) {
                int spaces = 0;
                for (size_t b = start; b < e[k]; b++) spaces += ws[b] == ' ' || ws[b] == '\t' || ws[b] == '\n';
                if (spaces != 0 && spaces != (int)(e[k] - start)) mixed = 1;
            }
            CHECK(!mixed, "a token mixes whitespace with other characters");
        }
        free(e);
    }

    /* A long line (about 120,000 characters of sentences ending in "。") gives exactly
     * the tokens of its sentences, segmented one by one and as a batch. */
    sentences sents;
    if (CHECK(read_sentences("dev.txt", &sents), "cannot read the dev sentences")) {
        const size_t cap = 4096;
        size_t used = 0, chars = 0, total = 0, *picked = xmalloc(cap * sizeof(size_t));
        for (size_t i = 0, tried = 0; chars < 120000 && used < cap && tried < 100 * sents.n; i = (i + 1) % sents.n, tried++) {
            const char *s = sents.text[i];
            size_t l = sents.len[i];
            int ends_sentence = l >= 3 && memcmp(s + l - 3, "\xe3\x80\x82", 3) == 0;
            int starts_ender = memcmp(s, "\xe3\x80\x82", 3) == 0 || s[0] == '!' || s[0] == '?';
            if (!ends_sentence || starts_ender) continue;
            picked[used++] = i;
            total += l;
            for (size_t b = 0; b < l; b++) chars += ((unsigned char)s[b] & 0xC0) != 0x80;
        }
        char *line = xmalloc(total + 1);
        const char **bt = xmalloc(used * sizeof(char *));
        size_t *bl = xmalloc(used * sizeof(size_t)), *bc = xmalloc(used * sizeof(size_t));
        for (size_t k = 0, at = 0; k < used; k++) {
            memcpy(line + at, sents.text[picked[k]], sents.len[picked[k]]);
            bt[k] = line + at;
            bl[k] = sents.len[picked[k]];
            at += bl[k];
        }
        line[total] = '\0';
        CHECK(chars >= 120000, "the long line has only %zu characters", chars);
        size_t lc = 0, *le = SEGMENT(t, line, total, &lc, "segment a 120,000-character line");
        /* One by one. */
        size_t *joined = xmalloc(total * sizeof(size_t)), jc = 0;
        int one_ok = 1;
        for (size_t k = 0, at = 0; k < used && one_ok; k++) {
            size_t c = 0, *e = SEGMENT(t, bt[k], bl[k], &c, "segment one sentence of the long line");
            if (!e) {
                one_ok = 0;
                break;
            }
            for (size_t j = 0; j < c; j++) joined[jc++] = at + e[j];
            at += bl[k];
            free(e);
        }
        if (le && one_ok)
            CHECK(lc == jc && memcmp(le, joined, lc * sizeof(size_t)) == 0,
                  "the long line's %zu tokens differ from its sentences' %zu tokens segmented one by one", lc, jc);
        /* As one batch. */
        size_t *be = xmalloc(total * sizeof(size_t));
        if (EXPECT(lk_tokenizer_segment_batch(t, bt, bl, used, 2, be, total, bc), LK_STATUS_OK)) {
            size_t bcount = 0, at = 0, k2 = 0;
            int same = 1;
            for (size_t k = 0; k < used; k++) {
                for (size_t j = 0; j < bc[k]; j++, k2++) {
                    if (k2 >= jc || at + be[k2] != joined[k2]) same = 0;
                }
                bcount += bc[k];
                at += bl[k];
            }
            CHECK(one_ok && same && bcount == jc, "the sentences segmented as a batch differ from one by one");
        }
        free(be);
        free(joined);
        free(le);
        free(line);
        free(bt);
        free(bl);
        free(bc);
        free(picked);
        sentences_free(&sents);
    }

    /* After all those failures, the handle gives the same result. */
    count = 0;
    EXPECT(lk_tokenizer_segment(t, text, len, ends, len, &count), LK_STATUS_OK);
    CHECK(count == n && memcmp(ends, ref, n * sizeof(size_t)) == 0, "segmenting after the failures gave other ends");
    free(ends);
    free(ref);
    lk_tokenizer_free(t);
}

/* ======================================================================== */
/* Group: tokenizer batch                                                     */
/* ======================================================================== */

static void group_tok_batch(void) {
    lk_tokenizer *t = TINY_TOKENIZER();
    if (!t) return;
    const char *texts[] = {
        "\xe4\xbb\x8a\xe5\xa4\xa9\xe5\xa4\xa9\xe6\xb0\x94\xe5\xbe\x88\xe5\xa5\xbd\xe3\x80\x82", /* 今天天气很好。 */
        "",
        "hello world 123",
        "\xe4\xb8\xad\x00\xe5\x9b\xbd",
        " ",
        "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe5\xae\xb6\xe5\xba\xad", /* 👨‍👩家庭 */
        "",
    };
    enum { N = sizeof texts / sizeof texts[0] };
    size_t lens[N], total = 0;
    for (size_t i = 0; i < N; i++) lens[i] = i == 3 ? 7 : strlen(texts[i]);
    for (size_t i = 0; i < N; i++) total += lens[i];

    /* Each text alone. */
    size_t single_counts[N], *single_ends[N], want_total = 0;
    int singles_ok = 1;
    for (size_t i = 0; i < N; i++) {
        single_ends[i] = SEGMENT(t, texts[i], lens[i], &single_counts[i], "segment one text of the batch");
        if (!single_ends[i]) singles_ok = 0;
        else want_total += single_counts[i];
    }

    /* Ask for the size: counts only. */
    size_t counts[N];
    for (size_t i = 0; i < N; i++) counts[i] = 777;
    EXPECT(lk_tokenizer_segment_batch(t, texts, lens, N, 2, NULL, 0, counts), LK_STATUS_OK);
    int counts_ok = 1;
    for (size_t i = 0; i < N; i++) counts_ok &= !singles_ok || counts[i] == single_counts[i];
    CHECK(counts_ok, "ask-for-size counts differ from segmenting each text alone");
    CHECK(counts[1] == 0 && counts[6] == 0, "an empty text in a batch has %zu / %zu tokens", counts[1], counts[6]);

    /* Filled, with 1 and 4 threads: the same ends as one by one. */
    size_t *ends = xmalloc((total + 4) * sizeof(size_t));
    const int32_t thread_counts[] = {1, 2, 4, 64};
    for (size_t r = 0; r < sizeof thread_counts / sizeof thread_counts[0]; r++) {
        for (size_t k = 0; k < total + 4; k++) ends[k] = END_UNTOUCHED;
        if (!EXPECT(lk_tokenizer_segment_batch(t, texts, lens, N, thread_counts[r], ends, total, counts), LK_STATUS_OK)) continue;
        size_t k = 0;
        int same = singles_ok;
        for (size_t i = 0; i < N && same; i++) {
            same &= counts[i] == single_counts[i] && memcmp(ends + k, single_ends[i], counts[i] * sizeof(size_t)) == 0;
            same &= ends_valid(texts[i], lens[i], ends + k, counts[i]);
            k += counts[i];
        }
        CHECK(same, "a batch on %d threads differs from segmenting each text alone", (int)thread_counts[r]);
        CHECK(ends[want_total] == END_UNTOUCHED, "the batch wrote past the total count");
    }

    /* Too small: BUFFER_TOO_SMALL, the counts say what is needed, ends untouched. */
    for (size_t k = 0; k < total + 4; k++) ends[k] = END_UNTOUCHED;
    for (size_t i = 0; i < N; i++) counts[i] = 0;
    EXPECT(lk_tokenizer_segment_batch(t, texts, lens, N, 2, ends, want_total - 1, counts), LK_STATUS_BUFFER_TOO_SMALL);
    size_t sum = 0;
    for (size_t i = 0; i < N; i++) sum += counts[i];
    CHECK(sum == want_total, "after BUFFER_TOO_SMALL the counts sum to %zu, want %zu", sum, want_total);
    int untouched = 1;
    for (size_t k = 0; k < total + 4; k++) untouched &= ends[k] == END_UNTOUCHED;
    CHECK(untouched, "a batch with too small a buffer wrote ends");

    /* threads < 1, NULLs, invalid text: INVALID_ARGUMENT, counts untouched. */
    const int32_t bad_threads[] = {0, -1, INT32_MIN};
    for (size_t r = 0; r < sizeof bad_threads / sizeof bad_threads[0]; r++) {
        char what[64];
        snprintf(what, sizeof what, "segment_batch with threads %d", (int)bad_threads[r]);
        for (size_t i = 0; i < N; i++) counts[i] = 777;
        expect_at(lk_tokenizer_segment_batch(t, texts, lens, N, bad_threads[r], ends, total, counts), LK_STATUS_INVALID_ARGUMENT,
                  __LINE__, what);
        CHECK(strstr(lk_last_error(), "threads") != NULL, "%s: the message \"%s\" does not name threads", what, lk_last_error());
        CHECK(counts[0] == 777, "%s: counts were written", what);
    }
    EXPECT(lk_tokenizer_segment_batch(NULL, texts, lens, N, 1, ends, total, counts), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_tokenizer_segment_batch(t, NULL, lens, N, 1, ends, total, counts), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_tokenizer_segment_batch(t, texts, NULL, N, 1, ends, total, counts), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_tokenizer_segment_batch(t, texts, lens, N, 1, ends, total, NULL), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_tokenizer_segment_batch(t, texts, lens, N, 1, NULL, total, counts), LK_STATUS_INVALID_ARGUMENT);
    {
        const char *with_bad[] = {"\xe5\xa5\xbd", "ok", "ab\xe4\xb8", "also bad \xff"};
        size_t bad_lens[] = {3, 2, 4, 10};
        for (size_t i = 0; i < 4; i++) counts[i] = 777;
        EXPECT(lk_tokenizer_segment_batch(t, with_bad, bad_lens, 4, 2, ends, total, counts), LK_STATUS_INVALID_ARGUMENT);
        CHECK(strstr(lk_last_error(), "texts[2]") != NULL && strstr(lk_last_error(), "at byte 2") != NULL,
              "the message \"%s\" does not name texts[2] and byte 2", lk_last_error());
        CHECK(counts[0] == 777 && counts[1] == 777, "a batch with an invalid text wrote counts");
        const char *with_null[] = {"ok", NULL};
        size_t null_lens[] = {2, 3};
        EXPECT(lk_tokenizer_segment_batch(t, with_null, null_lens, 2, 1, ends, total, counts), LK_STATUS_INVALID_ARGUMENT);
        /* A NULL text of length 0 is an empty text (or refused: never a crash). */
        null_lens[1] = 0;
        counts[1] = 777;
        lk_status s = lk_tokenizer_segment_batch(t, with_null, null_lens, 2, 1, ends, total, counts);
        CHECK((s == LK_STATUS_OK && counts[1] == 0) || s == LK_STATUS_INVALID_ARGUMENT,
              "a NULL text of length 0 in a batch gave %s with count %zu", status_name(s), counts[1]);
    }
    /* n = 0 is fine. */
    EXPECT(lk_tokenizer_segment_batch(t, NULL, NULL, 0, 1, NULL, 0, counts), LK_STATUS_OK);
    EXPECT(lk_tokenizer_segment_batch(t, texts, lens, 0, 1, ends, total, counts), LK_STATUS_OK);

    for (size_t i = 0; i < N; i++) free(single_ends[i]);
    free(ends);
    lk_tokenizer_free(t);
}

/* ======================================================================== */
/* Group: tokenizer user words                                                */
/* ======================================================================== */

/* Segments every dev sentence that does not contain `avoid` (or all if NULL), all ends
 * one after the other; *total receives their number. */
static size_t *segment_others(const lk_tokenizer *t, const sentences *s, const char *avoid, size_t *total) {
    size_t cap = 0;
    for (size_t i = 0; i < s->n; i++) cap += s->len[i];
    size_t *all = xmalloc((cap + 1) * sizeof(size_t)), n = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (avoid && strstr(s->text[i], avoid)) continue;
        size_t c = 0;
        if (lk_tokenizer_segment(t, s->text[i], s->len[i], all + n, cap - n, &c) != LK_STATUS_OK) {
            free(all);
            return NULL;
        }
        n += c;
    }
    *total = n;
    return all;
}

static int same_ends(const size_t *a, size_t na, const size_t *b, size_t nb) {
    return a && b && na == nb && memcmp(a, b, na * sizeof(size_t)) == 0;
}

/* Every occurrence of word in text (leftmost, non-overlapping) is one token. */
static int word_whole(const lk_tokenizer *t, const char *text, const char *word) {
    size_t c = 0, *e = NULL;
    if (lk_tokenizer_segment(t, text, strlen(text), NULL, 0, &c) != LK_STATUS_OK) return 0;
    e = xmalloc((c + 1) * sizeof(size_t));
    int ok = lk_tokenizer_segment(t, text, strlen(text), e, c, &c) == LK_STATUS_OK;
    size_t wl = strlen(word);
    int occurrences = 0;
    for (const char *p = strstr(text, word); ok && p; p = strstr(p + wl, word)) {
        ok &= has_token(e, c, (size_t)(p - text), (size_t)(p - text) + wl);
        occurrences++;
    }
    free(e);
    return ok && occurrences > 0;
}

static void group_tok_words(void) {
    lk_tokenizer *t = TINY_TOKENIZER();
    if (!t) return;
    sentences sents;
    char word[32];
    size_t si = 0;
    if (!CHECK(read_sentences("dev.txt", &sents), "cannot read the dev sentences")) {
        lk_tokenizer_free(t);
        return;
    }
    size_t wc = 777;
    EXPECT(lk_tokenizer_word_count(t, &wc), LK_STATUS_OK);
    CHECK(wc == 0, "a fresh tokenizer has %zu user words", wc);
    if (!CHECK(find_split_word(t, word, &si), "the tiny model cuts every 3-4 character word of dev.txt whole")) goto done;
    if (g_verbose) printf("      user word: %s (sentence %zu)\n", word, si);
    const char *sentence = sents.text[si];
    CHECK(!word_whole(t, sentence, word), "the chosen word is already whole");
    size_t before_n = 0, *before = segment_others(t, &sents, word, &before_n);
    size_t sn = 0, *sentence_before = SEGMENT(t, sentence, strlen(sentence), &sn, "segment the word's sentence");

    /* Added: whole wherever it occurs; text without it exactly as before. */
    const char *words[] = {word};
    EXPECT(lk_tokenizer_add_words(t, words, 1), LK_STATUS_OK);
    EXPECT(lk_tokenizer_word_count(t, &wc), LK_STATUS_OK);
    CHECK(wc == 1, "after adding one word, word_count = %zu", wc);
    {   /* lk_tokenizer_words: ask for the size, then the word; too small a buffer; NULLs. */
        char listed[64] = "unchanged", small[2] = "x";
        size_t size = 0;
        EXPECT(lk_tokenizer_words(t, NULL, 0, &size), LK_STATUS_OK);
        CHECK(size == strlen(word), "lk_tokenizer_words: size %zu for the one word %s", size, word);
        EXPECT(lk_tokenizer_words(t, listed, sizeof listed, &size), LK_STATUS_OK);
        CHECK(strcmp(listed, word) == 0, "lk_tokenizer_words gave \"%s\", want \"%s\"", listed, word);
        EXPECT(lk_tokenizer_words(t, small, sizeof small, &size), LK_STATUS_BUFFER_TOO_SMALL);
        CHECK(size == strlen(word), "BUFFER_TOO_SMALL leaves the size %zu", size);
        EXPECT(lk_tokenizer_words(t, NULL, 0, NULL), LK_STATUS_INVALID_ARGUMENT);
        EXPECT(lk_tokenizer_words(NULL, NULL, 0, &size), LK_STATUS_INVALID_ARGUMENT);
        EXPECT(lk_tokenizer_words(t, NULL, 8, &size), LK_STATUS_INVALID_ARGUMENT);
    }
    CHECK(word_whole(t, sentence, word), "the user word %s is not one token in its sentence", word);
    {
        char built[256];
        snprintf(built, sizeof built, "\xe5\xbc\x80\xe5\xa4\xb4%s\xef\xbc\x8c%s%s\xe7\xbb\x93\xe5\xb0\xbe", word, word, word);
        CHECK(word_whole(t, built, word), "the user word is not one token everywhere in \"%s\"", built);
    }
    size_t after_n = 0, *after = segment_others(t, &sents, word, &after_n);
    CHECK(same_ends(before, before_n, after, after_n), "a user word changed the segmentation of texts without it");
    free(after);

    /* Duplicates, empty and whitespace-only entries. */
    const char *again[] = {word, word, "", "  \t"};
    EXPECT(lk_tokenizer_add_words(t, again, 4), LK_STATUS_OK);
    EXPECT(lk_tokenizer_word_count(t, &wc), LK_STATUS_OK);
    CHECK(wc == 1, "duplicates and empty entries changed word_count to %zu", wc);
    EXPECT(lk_tokenizer_add_words(t, words, 0), LK_STATUS_OK);
    EXPECT(lk_tokenizer_add_words(t, NULL, 0), LK_STATUS_OK);

    /* Errors: nothing is added. */
    const char *with_bad[] = {"\xe4\xb8\xad\xe5\x9b\xbd\xe4\xba\xba", "ab\xff", "\xe5\xa5\xbd"};
    EXPECT(lk_tokenizer_add_words(t, with_bad, 3), LK_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(lk_last_error(), "words[1]") != NULL, "the message \"%s\" does not name words[1]", lk_last_error());
    const char *with_null[] = {"\xe5\xa5\xbd\xe7\x9a\x84", NULL};
    EXPECT(lk_tokenizer_add_words(t, with_null, 2), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_tokenizer_add_words(t, NULL, 2), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_tokenizer_add_words(NULL, words, 1), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_tokenizer_word_count(t, &wc), LK_STATUS_OK);
    CHECK(wc == 1, "failed add_words calls changed word_count to %zu", wc);
    wc = 777;
    EXPECT(lk_tokenizer_word_count(NULL, &wc), LK_STATUS_INVALID_ARGUMENT);
    CHECK(wc == 777, "word_count(NULL handle) changed *count");
    EXPECT(lk_tokenizer_word_count(t, NULL), LK_STATUS_INVALID_ARGUMENT);

    /* Cleared: exactly as before. */
    EXPECT(lk_tokenizer_clear_words(t), LK_STATUS_OK);
    EXPECT(lk_tokenizer_word_count(t, &wc), LK_STATUS_OK);
    CHECK(wc == 0, "after clear_words, word_count = %zu", wc);
    {
        size_t c = 0, *e = SEGMENT(t, sentence, strlen(sentence), &c, "segment after clear_words");
        CHECK(same_ends(e, c, sentence_before, sn), "clear_words did not restore the segmentation");
        free(e);
    }
    EXPECT(lk_tokenizer_clear_words(t), LK_STATUS_OK);
    EXPECT(lk_tokenizer_clear_words(NULL), LK_STATUS_INVALID_ARGUMENT);

    /* A dictionary file in jieba's format. */
    char *dir = make_tmpdir("tok-dict");
    char *dict = path_join(dir, "user.dict");
    {
        char content[512];
        snprintf(content, sizeof content,
                 "%s 3 n\n\xe5\x8c\x97\xe4\xba\xac\xe5\xa4\xa7\xe5\xad\xa6 20 nt\n\n"
                 "\xe5\xa4\xa9\xe5\xae\x89\xe9\x97\xa8\xe5\xb9\xbf\xe5\x9c\xba\t5\tns\r\n\xe4\xb8\xad\xe5\x85\xb3\xe6\x9d\x91\n",
                 word);
        write_all(dict, content, strlen(content));
    }
    EXPECT(lk_tokenizer_load_dict(t, dict), LK_STATUS_OK);
    EXPECT(lk_tokenizer_word_count(t, &wc), LK_STATUS_OK);
    CHECK(wc == 4, "the dictionary file holds 4 words, word_count = %zu", wc);
    CHECK(word_whole(t, sentence, word), "the dictionary word %s is not one token in its sentence", word);
    CHECK(word_whole(t, "\xe6\x88\x91\xe5\x9c\xa8\xe5\x8c\x97\xe4\xba\xac\xe5\xa4\xa7\xe5\xad\xa6\xe8\xaf\xbb\xe4\xb9\xa6",
                     "\xe5\x8c\x97\xe4\xba\xac\xe5\xa4\xa7\xe5\xad\xa6"),
          "the dictionary word \xe5\x8c\x97\xe4\xba\xac\xe5\xa4\xa7\xe5\xad\xa6 is not one token");
    EXPECT(lk_tokenizer_load_dict(t, dict), LK_STATUS_OK);
    EXPECT(lk_tokenizer_word_count(t, &wc), LK_STATUS_OK);
    CHECK(wc == 4, "loading the dictionary twice gave word_count %zu", wc);
    /* Errors: the words stay as they were. */
    char *missing = path_join(dir, "missing.dict");
    EXPECT(lk_tokenizer_load_dict(t, missing), LK_STATUS_IO_ERROR);
    EXPECT(lk_tokenizer_load_dict(t, dir), LK_STATUS_IO_ERROR);
    char *bad = path_join(dir, "bad.dict");
    write_all(bad, "\xe5\xa5\xbd\n\xff\xfe\n", 6);
    EXPECT(lk_tokenizer_load_dict(t, bad), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_tokenizer_load_dict(t, NULL), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_tokenizer_load_dict(NULL, dict), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_tokenizer_word_count(t, &wc), LK_STATUS_OK);
    CHECK(wc == 4, "failed load_dict calls changed word_count to %zu", wc);
    /* An empty dictionary is fine. */
    EXPECT(lk_tokenizer_clear_words(t), LK_STATUS_OK);
    char *empty = path_join(dir, "empty.dict");
    write_all(empty, "", 0);
    EXPECT(lk_tokenizer_load_dict(t, empty), LK_STATUS_OK);
    EXPECT(lk_tokenizer_word_count(t, &wc), LK_STATUS_OK);
    CHECK(wc == 0, "an empty dictionary gave word_count %zu", wc);
    after = segment_others(t, &sents, NULL, &after_n);
    size_t all_n = 0;
    EXPECT(lk_tokenizer_clear_words(t), LK_STATUS_OK);
    size_t *all = segment_others(t, &sents, NULL, &all_n);
    CHECK(same_ends(after, after_n, all, all_n), "an empty dictionary changed the segmentation");
    free(after);
    free(all);

    free(missing);
    free(bad);
    free(empty);
    free(dict);
    rm_tree(dir);
    free(dir);
    free(before);
    free(sentence_before);
done:
    sentences_free(&sents);
    lk_tokenizer_free(t);
}

/* ======================================================================== */
/* Group: tokenizer files                                                     */
/* ======================================================================== */

static int tok_load_fails_at(const char *path, lk_status want, const char *what, int line) {
    lk_tokenizer *out = TOK_SENTINEL;
    int ok = expect_at(lk_tokenizer_load(path, &out), want, line, what);
    ok &= check_at(out == TOK_SENTINEL, line, "%s: *out was changed on failure", what);
    if (out != TOK_SENTINEL && out != NULL) lk_tokenizer_free(out);
    return ok;
}
#define TOK_LOAD_FAILS(path, want, what) tok_load_fails_at((path), (want), (what), __LINE__)

static void group_tok_files(void) {
    lk_tokenizer *t = TINY_TOKENIZER();
    if (!t) return;
    sentences sents;
    if (!CHECK(read_sentences("dev.txt", &sents), "cannot read the dev sentences")) {
        lk_tokenizer_free(t);
        return;
    }
    char *dir = make_tmpdir("tok-files");
    char *path = path_join(dir, "tok.safetensors");
    size_t ref_n = 0, *ref = segment_others(t, &sents, NULL, &ref_n);

    /* Round trip (user words are not saved). */
    const char *words[] = {"\xe7\xa7\x91\xe5\xad\xa6\xe5\xae\xb6"};
    EXPECT(lk_tokenizer_add_words(t, words, 1), LK_STATUS_OK);
    EXPECT(lk_tokenizer_save(t, path), LK_STATUS_OK);
    EXPECT(lk_tokenizer_save(t, path), LK_STATUS_OK); /* over an existing file */
    if (!CHECK(count_entries(dir) == 1, "after saving, the directory holds %d entries, want 1", count_entries(dir)))
        list_entries(dir);
    EXPECT(lk_tokenizer_clear_words(t), LK_STATUS_OK);
    lk_tokenizer *u = NULL;
    if (EXPECT(lk_tokenizer_load(path, &u), LK_STATUS_OK) && u) {
        size_t wc = 777, n = 0;
        EXPECT(lk_tokenizer_word_count(u, &wc), LK_STATUS_OK);
        CHECK(wc == 0, "a loaded tokenizer has %zu user words (they are not saved)", wc);
        size_t *got = segment_others(u, &sents, NULL, &n);
        CHECK(same_ends(got, n, ref, ref_n), "the loaded tokenizer segments differently");
        free(got);
        /* The copies are independent. */
        EXPECT(lk_tokenizer_add_words(u, words, 1), LK_STATUS_OK);
        EXPECT(lk_tokenizer_word_count(t, &wc), LK_STATUS_OK);
        CHECK(wc == 0, "adding a word to a loaded copy changed the original");
        lk_tokenizer_free(u);
    }

    /* Saving errors. */
    char *nodir = path_join(dir, "no/such/dir/tok.safetensors");
    EXPECT(lk_tokenizer_save(t, nodir), LK_STATUS_IO_ERROR);
    EXPECT(lk_tokenizer_save(t, dir), LK_STATUS_IO_ERROR);
    EXPECT(lk_tokenizer_save(t, NULL), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_tokenizer_save(NULL, path), LK_STATUS_INVALID_ARGUMENT);

    /* Loading errors: *out untouched. */
    char *missing = path_join(dir, "missing.safetensors");
    TOK_LOAD_FAILS(missing, LK_STATUS_IO_ERROR, "load a missing file");
    TOK_LOAD_FAILS(dir, LK_STATUS_IO_ERROR, "load a directory");
    EXPECT(lk_tokenizer_load(NULL, &u), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_tokenizer_load(path, NULL), LK_STATUS_INVALID_ARGUMENT);
    char *garbage = path_join(dir, "garbage.safetensors");
    write_all(garbage, "this is not a model file, just some text that goes on for a while", 66);
    TOK_LOAD_FAILS(garbage, LK_STATUS_INVALID_FORMAT, "load a garbage file");
    char *empty = path_join(dir, "empty.safetensors");
    write_all(empty, "", 0);
    TOK_LOAD_FAILS(empty, LK_STATUS_INVALID_FORMAT, "load an empty file");
    size_t flen = 0;
    unsigned char *file = read_all(path, &flen);
    if (CHECK(file && flen > 64, "cannot read the saved tokenizer back")) {
        char *cut = path_join(dir, "cut.safetensors");
        const size_t cuts[] = {4, 8, 9, flen / 2, flen - 4, flen - 1};
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
            char what[64];
            snprintf(what, sizeof what, "load the file truncated to %zu of %zu bytes", cuts[i], flen);
            write_all(cut, file, cuts[i]);
            tok_load_fails_at(cut, LK_STATUS_INVALID_FORMAT, what, __LINE__);
        }
        free(cut);
    }
    free(file);

    /* Another kind of model: the message names both kinds. */
    char *lstm_path = path_join(dir, "lstm.safetensors");
    if (save_small_lstm_at(lstm_path, __LINE__)) {
        TOK_LOAD_FAILS(lstm_path, LK_STATUS_INVALID_FORMAT, "load an LSTM file as a tokenizer");
        const char *msg = lk_last_error();
        CHECK(strstr(msg, "lstm") && strstr(msg, "tokenizer"), "the message \"%s\" does not name both kinds", msg);
        lk_lstm *out = SENTINEL;
        lk_status status = lk_lstm_load(path, &out);
        wrong_kind_at(status, out == SENTINEL, "tokenizer", "lstm", __LINE__, "lk_lstm_load(a tokenizer)");
    }

    /* The handle still segments as before. */
    size_t n = 0, *got = segment_others(t, &sents, NULL, &n);
    CHECK(same_ends(got, n, ref, ref_n), "the tokenizer segments differently after the file errors");
    free(got);
    free(ref);
    free(lstm_path);
    free(garbage);
    free(empty);
    free(missing);
    free(nodir);
    free(path);
    rm_tree(dir);
    free(dir);
    sentences_free(&sents);
    lk_tokenizer_free(t);
}

/* ======================================================================== */
/* Group: tokenizer special files and sizes                                   */
/* ======================================================================== */

/* One call that might crash the process (a size that cannot describe a real buffer, an
 * endless file), made in a child process so that a crash is reported as such and the
 * other cases still run. Returns the status, or -1 if the call crashed (the signal goes
 * to *sig). */
enum { SIZE_TEXT_LEN, SIZE_TEXT_LEN_2_63, SIZE_BATCH_LEN, SIZE_BATCH_N, SIZE_WORDS_N, SIZE_TRAIN_LEN, SIZE_DEV_LEN,
       DICT_DEV_ZERO };

static int risky_call(lk_tokenizer *t, int which, int *sig) {
    const char *text = "\xe4\xbb\x8a\xe5\xa4\xa9\xe5\xa4\xa9\xe6\xb0\x94";
    const char *texts[] = {text};
    size_t lens[] = {strlen(text)}, counts[1], count = 0;
    const char *words[] = {"\xe5\xa4\xa9\xe6\xb0\x94"};
    lk_tokenizer_train_config c = tiny_config();
    lk_tokenizer *out = NULL;
    *sig = 0;
    fflush(stdout);
    pid_t pid = g_nofork ? 0 : fork();
    if (pid < 0) return -2;
    if (pid == 0) {
        lk_status s = LK_STATUS_OK;
        if (!g_nofork && !g_verbose) { /* a crash is reported by the parent; keep the runtime's report out */
            int devnull = open("/dev/null", O_WRONLY);
            if (devnull >= 0) dup2(devnull, 2);
        }
        switch (which) {
        case SIZE_TEXT_LEN: s = lk_tokenizer_segment(t, text, SIZE_MAX, NULL, 0, &count); break;
        case SIZE_TEXT_LEN_2_63: s = lk_tokenizer_segment(t, text, (size_t)1 << 63, NULL, 0, &count); break;
        case SIZE_BATCH_LEN:
            lens[0] = SIZE_MAX;
            s = lk_tokenizer_segment_batch(t, texts, lens, 1, 1, NULL, 0, counts);
            break;
        case SIZE_BATCH_N: s = lk_tokenizer_segment_batch(t, texts, lens, SIZE_MAX, 1, NULL, 0, counts); break;
        case SIZE_WORDS_N: s = lk_tokenizer_add_words(t, words, SIZE_MAX); break;
        case SIZE_TRAIN_LEN: s = lk_tokenizer_train(text, SIZE_MAX, text, strlen(text), &c, NULL, NULL, NULL, &out); break;
        case SIZE_DEV_LEN: s = lk_tokenizer_train(text, strlen(text), text, SIZE_MAX, &c, NULL, NULL, NULL, &out); break;
        case DICT_DEV_ZERO: s = lk_tokenizer_load_dict(t, "/dev/zero"); break;
        default: break;
        }
        if (g_nofork) return (int)s;
        _exit((int)s);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st)) {
        *sig = WTERMSIG(st);
        return -1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -2;
}

static void group_tok_special(void) {
    lk_tokenizer *t = TINY_TOKENIZER();
    if (!t) return;
    /* An endless stream must be refused without reading it all: bound the address
     * space, as in the LSTM special-files group. */
    bound_address_space();
    struct stat st;
    if (stat("/dev/null", &st) == 0) {
        lk_tokenizer *out = TOK_SENTINEL;
        lk_status s = lk_tokenizer_load("/dev/null", &out);
        CHECK((s == LK_STATUS_IO_ERROR || s == LK_STATUS_INVALID_FORMAT) && out == TOK_SENTINEL,
              "load(\"/dev/null\") gave %s", status_name(s));
        s = lk_tokenizer_load_dict(t, "/dev/null");
        size_t wc = 777;
        EXPECT(lk_tokenizer_word_count(t, &wc), LK_STATUS_OK);
        CHECK(s == LK_STATUS_OK && wc == 0, "load_dict(\"/dev/null\") gave %s, %zu words (want an empty dictionary)",
              status_name(s), wc);
    }
    if (stat("/dev/zero", &st) == 0 && !g_nofork) {
        lk_tokenizer *out = TOK_SENTINEL;
        lk_status s = lk_tokenizer_load("/dev/zero", &out);
        CHECK((s == LK_STATUS_IO_ERROR || s == LK_STATUS_INVALID_FORMAT) && out == TOK_SENTINEL,
              "load(\"/dev/zero\") gave %s", status_name(s));
        int sig = 0, r = risky_call(t, DICT_DEV_ZERO, &sig);
        if (r == -1)
            CHECK(0, "load_dict(\"/dev/zero\"): the process was killed by signal %d (want IO_ERROR)", sig);
        else
            CHECK(r == LK_STATUS_IO_ERROR || r == LK_STATUS_INVALID_ARGUMENT, "load_dict(\"/dev/zero\") gave %s (%d)",
                  status_name((lk_status)r), r);
    }
    lk_tokenizer_free(t);
}

/* Sizes above INT64_MAX cannot describe real buffers: they must be refused, not crash
 * the process (a (size_t)-1 length is an easy mistake to make). A capacity larger than
 * needed, however large, is fine. */
static void group_tok_sizes(void) {
    lk_tokenizer *t = TINY_TOKENIZER();
    if (!t) return;
    const char *text = "\xe4\xbb\x8a\xe5\xa4\xa9\xe5\xa4\xa9\xe6\xb0\x94";
    size_t ends[16], count = 777;
    lk_status s = lk_tokenizer_segment(t, text, strlen(text), ends, SIZE_MAX, &count);
    CHECK(s == LK_STATUS_OK, "ends_capacity SIZE_MAX (more than enough) gave %s: %s", status_name(s),
          s == LK_STATUS_OK ? "" : lk_last_error());
    static const struct {
        int which;
        const char *what;
    } cases[] = {
        {SIZE_TEXT_LEN, "segment with text_len SIZE_MAX"},
        {SIZE_TEXT_LEN_2_63, "segment with text_len 2^63"},
        {SIZE_BATCH_LEN, "segment_batch with text_lens[0] SIZE_MAX"},
        {SIZE_BATCH_N, "segment_batch with n SIZE_MAX"},
        {SIZE_WORDS_N, "add_words with n SIZE_MAX"},
        {SIZE_TRAIN_LEN, "train with train_len SIZE_MAX"},
        {SIZE_DEV_LEN, "train with dev_len SIZE_MAX"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int sig = 0, r = risky_call(t, cases[i].which, &sig);
        if (r == -1)
            CHECK(0, "%s: the process was killed by signal %d (want INVALID_ARGUMENT)", cases[i].what, sig);
        else
            CHECK(r == LK_STATUS_INVALID_ARGUMENT || r == LK_STATUS_OUT_OF_MEMORY, "%s gave %s (%d), want INVALID_ARGUMENT",
                  cases[i].what, status_name((lk_status)r), r);
    }
    lk_tokenizer_free(t);
}

/* ======================================================================== */
/* Group: a tokenizer shared by threads                                       */
/* ======================================================================== */

#ifndef __STDC_NO_THREADS__
typedef struct {
    const lk_tokenizer *t;
    const sentences *s;
    const size_t *want;
    size_t want_n;
    int ok;
    char msg[256];
} tok_worker;

static int tok_worker_run(void *arg) {
    tok_worker *w = arg;
    size_t cap = 0;
    for (size_t i = 0; i < w->s->n; i++) cap += w->s->len[i];
    size_t *ends = xmalloc((cap + 1) * sizeof(size_t)), *counts = xmalloc(w->s->n * sizeof(size_t));
    w->ok = 1;
    for (int r = 0; r < 6 && w->ok; r++) {
        /* Alternate batches (two threads inside) and single texts. */
        if (r % 2 == 0) {
            lk_status s = lk_tokenizer_segment_batch(w->t, (const char *const *)w->s->text, w->s->len, w->s->n, 2, ends, cap, counts);
            size_t total = 0;
            for (size_t i = 0; s == LK_STATUS_OK && i < w->s->n; i++) total += counts[i];
            if (s != LK_STATUS_OK || !same_ends(ends, total, w->want, w->want_n)) {
                snprintf(w->msg, sizeof w->msg, "a batch gave %s (%s) or other ends", status_name(s), lk_last_error());
                w->ok = 0;
            }
        } else {
            size_t n = 0, c = 0;
            for (size_t i = 0; i < w->s->n && w->ok; i++) {
                lk_status s = lk_tokenizer_segment(w->t, w->s->text[i], w->s->len[i], ends + n, cap - n, &c);
                if (s != LK_STATUS_OK) {
                    snprintf(w->msg, sizeof w->msg, "segment gave %s: %s", status_name(s), lk_last_error());
                    w->ok = 0;
                }
                n += c;
            }
            if (w->ok && !same_ends(ends, n, w->want, w->want_n)) {
                snprintf(w->msg, sizeof w->msg, "single texts gave other ends");
                w->ok = 0;
            }
        }
    }
    free(ends);
    free(counts);
    return 0;
}
#endif

static void group_tok_threads(void) {
#ifdef __STDC_NO_THREADS__
    CHECK(1, "C11 threads are not available: skipped");
#else
    lk_tokenizer *t = TINY_TOKENIZER();
    if (!t) return;
    sentences sents;
    if (CHECK(read_sentences("dev.txt", &sents), "cannot read the dev sentences")) {
        size_t want_n = 0, *want = segment_others(t, &sents, NULL, &want_n);
        tok_worker w[4];
        thrd_t th[4];
        int started[4];
        for (int i = 0; i < 4; i++) {
            memset(&w[i], 0, sizeof w[i]);
            w[i].t = t;
            w[i].s = &sents;
            w[i].want = want;
            w[i].want_n = want_n;
            started[i] = thrd_create(&th[i], tok_worker_run, &w[i]) == thrd_success;
        }
        for (int i = 0; i < 4; i++) {
            if (!CHECK(started[i], "thrd_create failed for worker %d", i)) continue;
            thrd_join(th[i], NULL);
            CHECK(w[i].ok, "worker %d: %s", i, w[i].msg);
        }
        free(want);
        sentences_free(&sents);
    }
    lk_tokenizer_free(t);
#endif
}

/* ======================================================================== */
/* Group: get_config                                                          */
/* ======================================================================== */

/* lk_tokenizer_get_config gives the architecture a model file records (the golden
 * tokenizer and ensemble: Tests/Fixtures/golden/README.md) and the one a training
 * config asked for; the training fields hold the defaults; NULLs are refused with *out
 * untouched. */
static void group_tok_get_config(void) {
    const lk_tokenizer_train_config d = lk_tokenizer_train_config_default();
    static const char *const files[] = {"tokenizer", "tokenizer-ensemble"};
    for (size_t i = 0; i < 2; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/../golden/%s.safetensors", g_fixture_dir, files[i]);
        lk_tokenizer *t = NULL;
        if (EXPECT(lk_tokenizer_load(path, &t), LK_STATUS_OK) != 1) continue;
        lk_tokenizer_train_config c;
        memset(&c, 0x5a, sizeof c);
        EXPECT(lk_tokenizer_get_config(t, &c), LK_STATUS_OK);
        /* The file's metadata: character_dim 8, bigram_dim 8, hidden_size 16, 1 layer,
         * dropout 0.3, seed 1 (member0 for the ensemble), dictionary_max_length 5. */
        CHECK(c.char_dim == 8 && c.bigram_dim == 8 && c.hidden_size == 16 && c.num_layers == 1 && fabsf(c.dropout - 0.3f) < 1e-6f &&
                  c.seed == 1 && c.dictionary_max_length == 5,
              "%s: get_config gave char_dim %d, bigram_dim %d, hidden_size %d, num_layers %d, dropout %g, seed %llu, "
              "dictionary_max_length %d", files[i], (int)c.char_dim, (int)c.bigram_dim, (int)c.hidden_size, (int)c.num_layers,
              (double)c.dropout, (unsigned long long)c.seed, (int)c.dictionary_max_length);
        CHECK(c.epochs == d.epochs && c.batch_size == d.batch_size && c.learning_rate == d.learning_rate &&
                  c.patience == d.patience && c.threads == d.threads && c.min_bigram_count == d.min_bigram_count &&
                  c.max_batches_per_epoch == d.max_batches_per_epoch && c.dictionary_min_count == d.dictionary_min_count &&
                  c.lexicon == NULL && c.lexicon_len == 0 && c.lexicon_max_length == d.lexicon_max_length,
              "%s: get_config's training fields are not the defaults", files[i]);
        lk_tokenizer_train_config untouched, probe;
        memset(&untouched, 0x5a, sizeof untouched);
        probe = untouched;
        EXPECT(lk_tokenizer_get_config(NULL, &probe), LK_STATUS_INVALID_ARGUMENT);
        CHECK(memcmp(&probe, &untouched, sizeof probe) == 0, "get_config(NULL tokenizer) changed *out");
        EXPECT(lk_tokenizer_get_config(t, NULL), LK_STATUS_INVALID_ARGUMENT);
        lk_tokenizer_free(t);
    }
    /* A trained model reports what its training config asked for. */
    lk_tokenizer *t = TINY_TOKENIZER();
    if (!t) return;
    const lk_tokenizer_train_config want = tiny_config();
    lk_tokenizer_train_config c;
    EXPECT(lk_tokenizer_get_config(t, &c), LK_STATUS_OK);
    CHECK(c.char_dim == want.char_dim && c.bigram_dim == want.bigram_dim && c.hidden_size == want.hidden_size &&
              c.num_layers == want.num_layers && c.dropout == want.dropout && c.seed == want.seed &&
              c.dictionary_max_length == want.dictionary_max_length,
          "the tiny tokenizer's get_config differs from its training config");
    lk_tokenizer_free(t);
}

const test_group tokenizer_groups[] = {
    {"tokenizer: training", group_tok_train},
    {"tokenizer: training errors", group_tok_train_errors},
    {"tokenizer: get_config", group_tok_get_config},
    {"tokenizer: ensembles", group_tok_ensemble},
    {"tokenizer: checkpoints and resuming", group_tok_checkpoint},
    {"tokenizer: segment", group_tok_segment},
    {"tokenizer: segment_batch", group_tok_batch},
    {"tokenizer: user words and dictionaries", group_tok_words},
    {"tokenizer: save/load and wrong files", group_tok_files},
    {"tokenizer: special files", group_tok_special},
    {"tokenizer: sizes that cannot be real", group_tok_sizes},
    {"tokenizer: shared across threads", group_tok_threads},
    {"tokenizer: distillation options", group_tok_distill},
    {NULL, NULL},
};
