/*
 * test_library.c — the library as a whole: versions, status strings and lk_last_error
 * (before and after failures, per thread); BLAS thread control, including
 * LSTMKIT_NUM_THREADS read at load (the program runs itself again); fork while another
 * thread computes.
 */
#include "harness.h"

#ifndef __STDC_NO_THREADS__
#include <stdatomic.h>
#endif

/* ======================================================================== */
/* Group: versions, status strings, last error                                */
/* ======================================================================== */

static void group_versions(void) {
    char buf[64];
    snprintf(buf, sizeof buf, "%d.%d.%d", LK_VERSION_MAJOR, LK_VERSION_MINOR, LK_VERSION_PATCH);
    CHECK(strcmp(buf, LK_VERSION_STRING) == 0, "LK_VERSION_STRING \"%s\" disagrees with the MAJOR/MINOR/PATCH macros (%s)",
          LK_VERSION_STRING, buf);
    const char *v = lk_version();
    CHECK(v != NULL && strcmp(v, LK_VERSION_STRING) == 0, "lk_version() = \"%s\", header says \"%s\"", v ? v : "(NULL)",
          LK_VERSION_STRING);
    CHECK(lk_abi_version() == LK_ABI_VERSION, "lk_abi_version() = %d, header says %d", (int)lk_abi_version(), LK_ABI_VERSION);
    const char *k = lk_kernels();
    CHECK(k != NULL && strncmp(k, "float32=", 8) == 0 && strstr(k, " packed=") && strstr(k, " int8=") && strstr(k, " openblas="),
          "lk_kernels() = \"%s\"", k ? k : "(NULL)");

    /* Status strings: non-empty, distinct, and "unknown status" for anything else. */
    const char *seen[9];
    for (int c = 0; c <= LK_STATUS_BUFFER_TOO_SMALL; c++) {
        const char *s = lk_status_string((lk_status)c);
        seen[c] = s;
        CHECK(s != NULL && s[0] != '\0' && strcmp(s, "unknown status") != 0,
              "lk_status_string(%d) = \"%s\"", c, s ? s : "(NULL)");
        for (int d = 0; d < c && s; d++)
            CHECK(seen[d] == NULL || strcmp(seen[d], s) != 0, "lk_status_string(%d) and (%d) are both \"%s\"", d, c, s);
    }
    {
        const char *s = lk_status_string(LK_STATUS_INVALID_ARGUMENT);
        CHECK(s && strcmp(s, "invalid argument") == 0, "lk_status_string(INVALID_ARGUMENT) = \"%s\", header says \"invalid argument\"",
              s ? s : "(NULL)");
    }
    {
        const char *s = lk_status_string(LK_STATUS_BUFFER_TOO_SMALL);
        CHECK(s && strcmp(s, "buffer too small") == 0, "lk_status_string(BUFFER_TOO_SMALL) = \"%s\", want \"buffer too small\"",
              s ? s : "(NULL)");
    }
    const int unknown[] = {9, 10, 100, 0x7fffffff, -1};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *s = lk_status_string((lk_status)unknown[i]);
        CHECK(s && strcmp(s, "unknown status") == 0, "lk_status_string(%d) = \"%s\", want \"unknown status\"", unknown[i],
              s ? s : "(NULL)");
    }

    /* lk_last_error: "" before any failure on this thread (the parent process made no
     * failing call before forking this group). */
    const char *e0 = lk_last_error();
    CHECK(e0 != NULL && e0[0] == '\0', "lk_last_error() before any failure = \"%s\", want \"\"", e0 ? e0 : "(NULL)");

    fixture f;
    if (!fixture_init(&f, make_config(2, 3, 1, 0, 0.0f, 4), 2, 2)) {
        fixture_free(&f);
        return;
    }
    lk_lstm *h = NULL;
    EXPECT(lk_lstm_create(NULL, &h), LK_STATUS_INVALID_ARGUMENT);
    STILL_WORKS(&f);
    const char *e1 = lk_last_error();
    CHECK(e1 != NULL && e1[0] != '\0', "lk_last_error() after a failure is empty");
    char *copy = xstrdup(e1 ? e1 : "");
    /* The message stays valid and unchanged across successful calls. */
    lk_lstm_config cfg = make_config(2, 3, 1, 0, 0.0f, 1);
    EXPECT(lk_lstm_create(&cfg, &h), LK_STATUS_OK);
    int32_t count = 0;
    EXPECT(lk_lstm_param_count(h, &count), LK_STATUS_OK);
    (void)lk_version();
    (void)lk_get_num_threads();
    lk_lstm_free(h);
    CHECK(strcmp(e1, copy) == 0, "the last error message changed across successful calls: \"%s\" -> \"%s\"", copy, e1);
    const char *e2 = lk_last_error();
    CHECK(e2 != NULL && strcmp(e2, copy) == 0, "lk_last_error() after successful calls = \"%s\", want the last failure's \"%s\"",
          e2 ? e2 : "(NULL)", copy);
    /* A different failure gives a (non-empty) message of its own. */
    EXPECT(lk_set_num_threads(0), LK_STATUS_INVALID_ARGUMENT);
    STILL_WORKS(&f);
    free(copy);
    fixture_free(&f);
}

/* ======================================================================== */
/* Group: BLAS threads                                                        */
/* ======================================================================== */

static void group_threads(void) {
    fixture g;
    if (!fixture_init(&g, make_config(4, 3, 1, 1, 0.0f, 2), 2, 3)) {
        fixture_free(&g);
        return;
    }
    int32_t orig = lk_get_num_threads();
    CHECK(orig >= 1, "lk_get_num_threads() = %d", (int)orig);
    EXPECT(lk_set_num_threads(1), LK_STATUS_OK);
    CHECK(lk_get_num_threads() == 1, "after lk_set_num_threads(1), lk_get_num_threads() = %d", (int)lk_get_num_threads());
    EXPECT(lk_set_num_threads(2), LK_STATUS_OK);
    CHECK(lk_get_num_threads() == 2, "after lk_set_num_threads(2), lk_get_num_threads() = %d", (int)lk_get_num_threads());
    EXPECT(lk_set_num_threads(0), LK_STATUS_INVALID_ARGUMENT);
    CHECK(lk_get_num_threads() == 2, "a rejected lk_set_num_threads(0) changed the count to %d", (int)lk_get_num_threads());
    STILL_WORKS(&g);
    EXPECT(lk_set_num_threads(-1), LK_STATUS_INVALID_ARGUMENT);
    STILL_WORKS(&g);
    EXPECT(lk_set_num_threads(INT32_MIN), LK_STATUS_INVALID_ARGUMENT);
    CHECK(lk_get_num_threads() == 2, "a rejected negative count changed the count to %d", (int)lk_get_num_threads());
    STILL_WORKS(&g);

    /* Results do not depend on the thread count beyond rounding. */
    fixture f;
    if (fixture_init(&f, make_config(16, 32, 2, 1, 0.0f, 5), 8, 12)) {
        float *y1 = xmalloc(f.yn * sizeof(float));
        fwd_args a;
        fixture_args(&f, &a, y1, NULL, NULL);
        a.state_out_count = 0;
        EXPECT(lk_set_num_threads(1), LK_STATUS_OK);
        EXPECT(fwd(&a), LK_STATUS_OK);
        double d = max_diff_ff(y1, f.y, f.yn);
        CHECK(d <= 1e-5, "outputs with 1 thread differ from 2 threads by %.3g", d);
        free(y1);
    }
    fixture_free(&f);
    EXPECT(lk_set_num_threads(orig), LK_STATUS_OK);
    CHECK(lk_get_num_threads() == orig, "could not restore the thread count %d", (int)orig);
    fixture_free(&g);
}

/* Runs this program again with the given environment and returns the thread count it
 * reports (-1 if it failed). NULL unsets a variable. */
static int threads_in_child(const char *lk_env, const char *ob_env) {
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(exe, sizeof exe, "%s", g_argv0);
    } else {
        exe[n] = '\0';
    }
    int fd[2];
    if (pipe(fd) != 0) return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        if (lk_env) setenv("LSTMKIT_NUM_THREADS", lk_env, 1);
        else unsetenv("LSTMKIT_NUM_THREADS");
        if (ob_env) setenv("OPENBLAS_NUM_THREADS", ob_env, 1);
        else unsetenv("OPENBLAS_NUM_THREADS");
        unsetenv("GOTO_NUM_THREADS");
        unsetenv("OMP_NUM_THREADS");
        execl(exe, exe, "--print-threads", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char buf[64] = {0};
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd[0], buf + got, sizeof buf - 1 - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return -1;
    return atoi(buf);
}

static void group_threads_env(void) {
    int n;
    n = threads_in_child("1", NULL);
    CHECK(n == 1, "LSTMKIT_NUM_THREADS=1: lk_get_num_threads() = %d", n);
    n = threads_in_child("2", "1");
    CHECK(n == 2, "LSTMKIT_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1: lk_get_num_threads() = %d (LSTMKIT_NUM_THREADS should win)", n);
    n = threads_in_child(NULL, "1");
    CHECK(n == 1, "OPENBLAS_NUM_THREADS=1 alone: lk_get_num_threads() = %d", n);
    n = threads_in_child(NULL, NULL);
    CHECK(n >= 1, "no thread variables: lk_get_num_threads() = %d (or the program failed)", n);
    /* Bad values must not crash the library at load. */
    n = threads_in_child("abc", NULL);
    CHECK(n >= 1, "LSTMKIT_NUM_THREADS=abc: the program failed or reported %d", n);
    n = threads_in_child("0", NULL);
    CHECK(n >= 1, "LSTMKIT_NUM_THREADS=0: the program failed or reported %d", n);
    n = threads_in_child("-3", NULL);
    CHECK(n >= 1, "LSTMKIT_NUM_THREADS=-3: the program failed or reported %d", n);
    /* Past int32 (issue 17: once a trap at load) and far past size_t. */
    n = threads_in_child("2147483648", "1");
    CHECK(n == 1, "LSTMKIT_NUM_THREADS=2147483648: the program failed or reported %d (the value should be ignored)", n);
    n = threads_in_child("99999999999999999999999", "1");
    CHECK(n == 1, "LSTMKIT_NUM_THREADS=99999999999999999999999: the program failed or reported %d", n);
}

/* tampered_model_files (issue 17): golden files whose metadata was edited to sizes that
 * the tensors refute (within the hyper-parameters' bounds or beyond) are refused with
 * INVALID_FORMAT naming the key, before the model is built: once an abort allocating
 * gigabytes, or a minute and 22.7 GB for the segmenter. */
static void group_tampered_files(void) {
    static const struct {
        const char *file, *key, *value, *needle;
    } cases[] = {
        {"text-en", "embedding_dim", "2147483647", "embedding_dim"},
        {"text-en", "embedding_dim", "4096", "embedding_dim"},
        {"text-en", "attention_size", "2147483647", "attention_size"},
        {"text-en", "attention_size", "4096", "attention_size"},
        {"text-en", "bigram_dim", "2147483647", "bigram_dim"},
        {"text-en", "bigram_dim", "4096", "bigram_dim"},
        {"tokenizer", "character_dim", "2147483647", "char_dim"},
        {"tokenizer", "character_dim", "4096", "character_dim"},
        {"tokenizer", "bigram_dim", "2147483647", "bigram_dim"},
        {"tokenizer", "bigram_dim", "4096", "bigram_dim"},
        {"segmenter", "encoder_channels", "4096,4096,4096,4096,4096,4096", "encoder_channels"},
        {"segmenter", "hidden_size", "4096", "hidden_size"},
        {"image-cnn", "conv_channels", "4096,4096", "conv_channels"},
        {"image-rows", "hidden_size", "4096", "hidden_size"},
        {"lstm", "hidden_size", "4096", "hidden_size"},
    };
    char *dir = make_tmpdir("tampered");
    char *path = path_join(dir, "tampered.safetensors");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char src[4200], what[160];
        snprintf(src, sizeof src, "%s/../golden/%s.safetensors", g_fixture_dir, cases[i].file);
        snprintf(what, sizeof what, "loading %s with %s = %s", cases[i].file, cases[i].key, cases[i].value);
        if (!CHECK(write_with_metadata(src, path, cases[i].key, cases[i].value), "cannot write %s from %s", path, src)) continue;
        lk_status s;
        void *out = NULL;
        if (strncmp(cases[i].file, "text", 4) == 0) s = lk_text_classifier_load(path, (lk_text_classifier **)&out);
        else if (strcmp(cases[i].file, "tokenizer") == 0) s = lk_tokenizer_load(path, (lk_tokenizer **)&out);
        else if (strcmp(cases[i].file, "segmenter") == 0) s = lk_image_segmenter_load(path, (lk_image_segmenter **)&out);
        else if (strncmp(cases[i].file, "image", 5) == 0) s = lk_image_classifier_load(path, (lk_image_classifier **)&out);
        else s = lk_lstm_load(path, (lk_lstm **)&out);
        expect_mentions_at(s, LK_STATUS_INVALID_FORMAT, cases[i].needle, __LINE__, what);
        check_at(out == NULL, __LINE__, "%s: *out was set", what);
    }
    free(path);
    rm_tree(dir);
    free(dir);
}

/* ======================================================================== */
/* Group: fork during a multi-threaded BLAS forward (issue 17, item 6)        */
/* ======================================================================== */

#ifndef __STDC_NO_THREADS__
enum { FORK_B = 24, FORK_T = 16, FORK_D = 96, FORK_H = 192, FORK_ROUNDS = 4 };
static float fork_x[FORK_B * FORK_T * FORK_D];

typedef struct {
    const lk_lstm *model;
    atomic_int stop, calls;
} fork_worker;

static int forward_y(const lk_lstm *model, float *y) {
    size_t n = 2 * 2 * FORK_B * FORK_H;
    float *h = xmalloc(sizeof(float) * n), *c = xmalloc(sizeof(float) * n);
    int ok = lk_lstm_forward(model, fork_x, FORK_B, FORK_T, FORK_D, sizeof fork_x / sizeof *fork_x, NULL, NULL, NULL, 0, y,
                             (size_t)FORK_B * FORK_T * 2 * FORK_H, h, c, n) == LK_STATUS_OK;
    free(h);
    free(c);
    return ok;
}

static int fork_busy(void *arg) {
    fork_worker *w = arg;
    float *y = xmalloc(sizeof(float) * FORK_B * FORK_T * 2 * FORK_H);
    while (!atomic_load(&w->stop)) {
        forward_y(w->model, y);
        atomic_fetch_add(&w->calls, 1);
    }
    free(y);
    return 0;
}

/* The child of a fork taken while another thread was inside lk_lstm_forward with two
 * BLAS threads finishes its own forward (within its alarm) with the parent's answer. */
static void group_fork(void) {
    lk_lstm_config cfg = make_config(FORK_D, FORK_H, 2, 1, 0.0f, 5);
    lk_lstm *model = NULL;
    size_t ny = (size_t)FORK_B * FORK_T * 2 * FORK_H;
    float *expected = xmalloc(sizeof(float) * ny), *y = xmalloc(sizeof(float) * ny);
    int32_t before = lk_get_num_threads();
    for (size_t i = 0; i < sizeof fork_x / sizeof *fork_x; i++) fork_x[i] = (float)((i * 7919) % 2001) / 1000.0f - 1.0f;
    if (!CHECK(lk_lstm_create(&cfg, &model) == LK_STATUS_OK && lk_set_num_threads(2) == LK_STATUS_OK && forward_y(model, expected),
               "setup: %s", lk_last_error()))
        goto done;
    fork_worker w = {.model = model};
    thrd_t thread;
    if (!CHECK(thrd_create(&thread, fork_busy, &w) == thrd_success, "thrd_create failed"))
        goto done;
    while (atomic_load(&w.calls) == 0) thrd_yield();
    for (int round = 0; round < FORK_ROUNDS; round++) {
        struct timespec pause = {0, 3000000L * (round + 1)};
        nanosleep(&pause, NULL);
        pid_t pid = fork();
        if (pid == 0) {
            alarm(20);
            _exit(forward_y(model, y) && memcmp(y, expected, sizeof(float) * ny) == 0 && lk_get_num_threads() == 2 ? 0 : 3);
        }
        int status = -1;
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && status == 0,
              "fork %d during a two-thread forward: the child's wait status is %#x (a hang shows as SIGALRM, 0xe)", round, status);
    }
    atomic_store(&w.stop, 1);
    thrd_join(thread, NULL);
    CHECK(forward_y(model, y) && memcmp(y, expected, sizeof(float) * ny) == 0, "the parent's forward changed after the forks");
done:
    lk_set_num_threads(before);
    lk_lstm_free(model);
    free(expected);
    free(y);
}
#endif

/* wrong_kind_handles (issue 17's second adversarial run): a handle of one model passed,
 * cast, where another's is expected was misread as that model (a crash in lk_lstm_save,
 * lk_tokenizer_segment, lk_tokenizer_words...). Every function taking a handle now
 * refuses it by its type, INVALID_ARGUMENT naming both kinds, and the handles still work. */
static void group_wrong_kind_handles(void) {
    char path[4300];
    lk_lstm *l = NULL;
    lk_tokenizer *t = NULL;
    lk_text_classifier *c = NULL;
    lk_image_classifier *i = NULL;
    lk_image_segmenter *g = NULL;
#define GOLDEN(name) (snprintf(path, sizeof path, "%s/../golden/%s.safetensors", g_fixture_dir, name), path)
    if (!CHECK(lk_lstm_load(GOLDEN("lstm"), &l) == LK_STATUS_OK && lk_tokenizer_load(GOLDEN("tokenizer"), &t) == LK_STATUS_OK
               && lk_text_classifier_load(GOLDEN("text-en"), &c) == LK_STATUS_OK
               && lk_image_classifier_load(GOLDEN("image-rows"), &i) == LK_STATUS_OK
               && lk_image_segmenter_load(GOLDEN("segmenter"), &g) == LK_STATUS_OK, "load the golden models: %s", lk_last_error()))
        goto done;
#define WRONG(call) expect_mentions_at((call), LK_STATUS_INVALID_ARGUMENT, "a handle of another kind", __LINE__, #call)
    /* Each kind's functions get another kind's handle. */
    lk_lstm *not_lstm = (lk_lstm *)(void *)t;
    lk_tokenizer *not_tok = (lk_tokenizer *)(void *)l;
    lk_text_classifier *not_text = (lk_text_classifier *)(void *)i;
    lk_image_classifier *not_image = (lk_image_classifier *)(void *)c;
    lk_image_segmenter *not_seg = (lk_image_segmenter *)(void *)i;
    float buf[4096] = {0};
    int32_t i32 = 0, lens32[2] = {3, 3};
    int64_t shape2[2], conf[9];
    size_t sizes[64], n = 0;
    const char *name = NULL, *texts[1] = {"a fine movie"};
    size_t text_lens[1] = {12};
    char chars[256];
    double acc, iou;
    lk_lstm_config lc;
    lk_tokenizer_train_config tc;
    lk_text_classifier_train_config cc;
    lk_image_classifier_train_config ic;
    lk_image_segmenter_train_config gc;
    lk_image_shape shape = {0, 12, 12, 1}, seg_shape = {0, 8, 8, 3};
    WRONG(lk_lstm_get_config(not_lstm, &lc));
    WRONG(lk_lstm_forward(not_lstm, buf, 1, 3, 3, 9, lens32, NULL, NULL, 0, buf + 100, 24, NULL, NULL, 0));
    WRONG(lk_lstm_param_count(not_lstm, &i32));
    WRONG(lk_lstm_param_name(not_lstm, 0, &name));
    WRONG(lk_lstm_param_shape(not_lstm, "weight_ih_l0", &i32, shape2));
    WRONG(lk_lstm_get_param(not_lstm, "weight_ih_l0", buf, 4096));
    WRONG(lk_lstm_set_param(not_lstm, "weight_ih_l0", buf, 16));
    snprintf(path, sizeof path, "%s/wrong-kind.safetensors", g_tmproot);
    WRONG(lk_lstm_save(not_lstm, path));
    WRONG(lk_tokenizer_save(not_tok, path));
    WRONG(lk_tokenizer_segment(not_tok, "我爱北京", 12, sizes, 64, &n));
    WRONG(lk_tokenizer_segment_batch(not_tok, texts, text_lens, 1, 1, sizes, 64, &n));
    WRONG(lk_tokenizer_add_words(not_tok, texts, 1));
    WRONG(lk_tokenizer_load_dict(not_tok, GOLDEN("README")));
    WRONG(lk_tokenizer_clear_words(not_tok));
    WRONG(lk_tokenizer_word_count(not_tok, &n));
    WRONG(lk_tokenizer_words(not_tok, chars, sizeof chars, &n));
    WRONG(lk_tokenizer_get_config(not_tok, &tc));
    const lk_tokenizer *members[2] = {t, not_tok};
    lk_tokenizer *ensemble = NULL;
    WRONG(lk_tokenizer_ensemble(members, 2, &ensemble));
    CHECK(ensemble == NULL, "no ensemble given out");
    WRONG(lk_text_classifier_save(not_text, path));
    WRONG(lk_text_classifier_num_classes(not_text, &i32));
    WRONG(lk_text_classifier_label(not_text, 0, &name));
    WRONG(lk_text_classifier_predict(not_text, texts, text_lens, 1, 1, buf, 2));
    WRONG(lk_text_classifier_attention(not_text, "a fine movie", 12, chars, sizeof chars, &n, buf, 64, sizes));
    WRONG(lk_text_classifier_get_config(not_text, &cc));
    WRONG(lk_image_classifier_save(not_image, path));
    WRONG(lk_image_classifier_num_classes(not_image, &i32));
    WRONG(lk_image_classifier_label(not_image, 0, &name));
    WRONG(lk_image_classifier_kind(not_image, &i32));
    WRONG(lk_image_classifier_input_shape(not_image, &shape));
    WRONG(lk_image_classifier_predict(not_image, buf, 1, &shape, 144, 1, buf + 200, 3));
    WRONG(lk_image_classifier_get_config(not_image, &ic));
    WRONG(lk_image_segmenter_save(not_seg, path));
    WRONG(lk_image_segmenter_num_classes(not_seg, &i32));
    WRONG(lk_image_segmenter_channels(not_seg, &i32));
    WRONG(lk_image_segmenter_predict(not_seg, buf, 1, &seg_shape, 192, 1, (int32_t *)(buf + 300), 64));
    WRONG(lk_image_segmenter_predict_proba(not_seg, buf, 1, &seg_shape, 192, 1, buf + 300, 192));
    WRONG(lk_image_segmenter_evaluate(not_seg, buf, 1, &seg_shape, 192, (int32_t *)(buf + 600), 64, 1, conf, 9, &acc, &iou));
    WRONG(lk_image_segmenter_get_config(not_seg, &gc));
    /* The handles were not touched: each still answers. */
    EXPECT(lk_lstm_get_config(l, &lc), LK_STATUS_OK);
    EXPECT(lk_tokenizer_segment(t, "我爱北京", 12, sizes, 64, &n), LK_STATUS_OK);
    EXPECT(lk_text_classifier_num_classes(c, &i32), LK_STATUS_OK);
    EXPECT(lk_image_classifier_num_classes(i, &i32), LK_STATUS_OK);
    EXPECT(lk_image_segmenter_num_classes(g, &i32), LK_STATUS_OK);
#undef WRONG
#undef GOLDEN
done:
    lk_lstm_free(l);
    lk_tokenizer_free(t);
    lk_text_classifier_free(c);
    lk_image_classifier_free(i);
    lk_image_segmenter_free(g);
}

const test_group library_groups[] = {
    {"wrong-kind handles are refused", group_wrong_kind_handles},
    {"versions, status strings, last error", group_versions},
    {"BLAS threads", group_threads},
    {"LSTMKIT_NUM_THREADS at load", group_threads_env},
    {"tampered model files", group_tampered_files},
#ifndef __STDC_NO_THREADS__
    {"fork during a multi-threaded forward", group_fork},
#endif
    {NULL, NULL},
};
