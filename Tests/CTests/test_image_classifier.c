/*
 * test_image_classifier.c — the image classifier: training on synthetic 8x8 images made
 * here (harness.h: quadrant_images; rows, CNN, frame sequences, every pooling), predict
 * (far above chance on held-out images), every bad argument (counts, shapes, NULLs, NaN
 * pixels, single class, every config field), save/load, and files of other kinds (the
 * message names both kinds).
 */
#include "harness.h"

/* ======================================================================== */
/* Group: image classifier                                                    */
/* ======================================================================== */

/* The share of examples whose most probable class is their own. */
static double img_accuracy(const float *p, const image_set *s, int classes) {
    size_t right = 0;
    for (size_t i = 0; i < s->n; i++) {
        int best = 0;
        for (int j = 1; j < classes; j++)
            if (p[i * (size_t)classes + (size_t)j] > p[i * (size_t)classes + (size_t)best]) best = j;
        right += best == s->y[i];
    }
    return (double)right / (double)s->n;
}

static int img_predict_fails_at(const lk_image_classifier *h, const float *x, size_t n, const lk_image_shape *shape,
                                size_t count, int32_t threads, float *p, size_t pc, lk_status want, const char *needle,
                                int line, const char *what) {
    return expect_mentions_at(lk_image_classifier_predict(h, x, n, shape, count, threads, p, pc), want, needle, line, what);
}
#define IMG_PREDICT_FAILS(h, x, n, shape, count, th, p, pc, want, needle)                                   \
    img_predict_fails_at((h), (x), (n), (shape), (count), (th), (p), (pc), (want), (needle), __LINE__, \
                         #x ", " #n ", " #shape ", " #count ", " #th ", " #p ", " #pc)

/* Loading `path` as an image classifier fails with INVALID_FORMAT naming both kinds. */
static void img_load_wrong_kind_at(const char *path, const char *kind, int line) {
    lk_image_classifier *out = IMG_SENTINEL;
    lk_status status = lk_image_classifier_load(path, &out);
    wrong_kind_at(status, out == IMG_SENTINEL, kind, "image_classifier", line, "lk_image_classifier_load(another kind)");
}

static void group_image_classifier(void) {
    lk_image_classifier_train_config d = lk_image_classifier_train_config_default();
    CHECK(d.kind == LK_IMAGE_KIND_ROWS && d.hidden_size == 128 && d.num_layers == 1 && d.bidirectional == 1 &&
              d.columns == 0 && d.num_conv_blocks == 2 && d.conv_channels[0] == 32 && d.conv_channels[1] == 64 &&
              d.pooling == LK_POOLING_LAST && d.attention_size == 64 && fabsf(d.dropout - 0.25f) < 1e-6f &&
              d.epochs == 15 && d.batch_size == 64 && fabsf(d.learning_rate - 0.001f) < 1e-7f &&
              fabsf(d.clip_norm - 5.0f) < 1e-6f && d.patience == 3 && fabsf(d.decay_factor - 0.5f) < 1e-6f &&
              d.time_limit == 0 && d.threads == 2 && d.log_every == 200 && d.seed == 1,
          "lk_image_classifier_train_config_default() does not hold the documented defaults");

    image_set tr, dv, te;
    quadrant_images(&tr, 320, 1, 11);
    quadrant_images(&dv, 80, 1, 12);
    quadrant_images(&te, 100, 1, 13);
    lk_image_classifier_train_config c = tiny_img_config();
    progress_log log;
    progress_init(&log);
    lk_image_classifier *h = NULL;
    if (!EXPECT(img_train(&tr, &dv, &c, record_progress, &log, &h), LK_STATUS_OK) || !h) goto out;
    CHECK(log.calls >= 2 && log.bad_lines == 0 && log.epoch_lines >= 1, "progress: %d calls (%d bad, %d epoch lines)",
          log.calls, log.bad_lines, log.epoch_lines);

    /* Classes, labels, kind, input shape. */
    int32_t nc = -1, kind = -1;
    EXPECT(lk_image_classifier_num_classes(h, &nc), LK_STATUS_OK);
    CHECK(nc == 4, "num_classes is %d, want 4", (int)nc);
    const char *l0 = NULL, *l3 = NULL, *lx = "unchanged";
    EXPECT(lk_image_classifier_label(h, 0, &l0), LK_STATUS_OK);
    EXPECT(lk_image_classifier_label(h, 3, &l3), LK_STATUS_OK);
    CHECK(l0 && l3 && strcmp(l0, "0") == 0 && strcmp(l3, "3") == 0, "labels 0 and 3 are \"%s\", \"%s\"", l0 ? l0 : "(null)",
          l3 ? l3 : "(null)");
    EXPECT(lk_image_classifier_label(h, 4, &lx), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_image_classifier_label(h, -1, &lx), LK_STATUS_INVALID_ARGUMENT);
    CHECK(strcmp(lx, "unchanged") == 0, "*label was changed on failure");
    EXPECT(lk_image_classifier_label(h, 0, NULL), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_image_classifier_label(NULL, 0, &lx), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_image_classifier_num_classes(h, NULL), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_image_classifier_num_classes(NULL, &nc), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_image_classifier_kind(h, &kind), LK_STATUS_OK);
    CHECK(kind == LK_IMAGE_KIND_ROWS, "kind is %d, want LK_IMAGE_KIND_ROWS", (int)kind);
    EXPECT(lk_image_classifier_kind(h, NULL), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_image_classifier_kind(NULL, &kind), LK_STATUS_INVALID_ARGUMENT);
    lk_image_classifier_train_config got;
    memset(&got, 0xff, sizeof got);
    EXPECT(lk_image_classifier_get_config(h, &got), LK_STATUS_OK);
    CHECK(got.kind == LK_IMAGE_KIND_ROWS && got.hidden_size == 16 && got.num_layers == 1 && got.bidirectional == 1 &&
              got.columns == 0 && got.num_conv_blocks == 1 && got.conv_channels[0] == 4 && got.pooling == LK_POOLING_LAST &&
              fabsf(got.dropout - c.dropout) == 0 && got.seed == 5 && got.epochs == d.epochs &&
              got.learning_rate == d.learning_rate,
          "get_config: the model's fields differ from the training config");
    EXPECT(lk_image_classifier_get_config(h, NULL), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_image_classifier_get_config(NULL, &got), LK_STATUS_INVALID_ARGUMENT);
    lk_image_shape sh = {-1, -1, -1, -1};
    EXPECT(lk_image_classifier_input_shape(h, &sh), LK_STATUS_OK);
    CHECK(sh.frames == 0 && sh.height == 8 && sh.width == 8 && sh.channels == 1, "input shape (%lld, %lld, %lld, %lld)",
          (long long)sh.frames, (long long)sh.height, (long long)sh.width, (long long)sh.channels);
    EXPECT(lk_image_classifier_input_shape(h, NULL), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_image_classifier_input_shape(NULL, &sh), LK_STATUS_INVALID_ARGUMENT);

    /* Prediction: distributions, far above chance (0.25) on held-out images. */
    size_t n = te.n, pc = n * 4;
    float *p = xmalloc(pc * sizeof(float)), *q = xmalloc(pc * sizeof(float));
    EXPECT(lk_image_classifier_predict(h, te.x, n, &te.shape, te.count, 2, p, pc), LK_STATUS_OK);
    int rows_ok = 1;
    for (size_t i = 0; i < n; i++) {
        float sum = 0;
        for (int j = 0; j < 4; j++) {
            if (!(p[i * 4 + (size_t)j] >= 0)) rows_ok = 0;
            sum += p[i * 4 + (size_t)j];
        }
        if (fabsf(sum - 1) > 1e-5f) rows_ok = 0;
    }
    CHECK(rows_ok, "probabilities are not rows of a distribution");
    double acc = img_accuracy(p, &te, 4);
    CHECK(acc > 0.8, "held-out accuracy %.3f, want > 0.8", acc);
    EXPECT(lk_image_classifier_predict(h, te.x, n, &te.shape, te.count, 1, q, pc), LK_STATUS_OK);
    CHECK(max_diff_ff(p, q, pc) < 1e-6, "1 and 2 threads disagree by %g", max_diff_ff(p, q, pc));
    for (size_t i = 0; i < 5; i++)
        EXPECT(lk_image_classifier_predict(h, te.x + i * 64, 1, &te.shape, 64, 1, q + 4 * i, 4), LK_STATUS_OK);
    CHECK(max_diff_ff(p, q, 20) < 1e-5, "one by one differs from batched by %g", max_diff_ff(p, q, 20));
    EXPECT(lk_image_classifier_predict(h, NULL, 0, &te.shape, 0, 1, NULL, 0), LK_STATUS_OK);

    /* Prediction errors; nothing is written. */
    {
        fill(q, pc, -7.0f);
        lk_image_shape tall = {0, 9, 8, 1}, rgb = {0, 8, 8, 3}, frames = {2, 8, 8, 1}, neg = {-1, 8, 8, 1}, zero = {0, 0, 8, 1},
                       huge = {0, INT64_MAX, 8, 1};
        IMG_PREDICT_FAILS(NULL, te.x, n, &te.shape, te.count, 1, q, pc, LK_STATUS_INVALID_ARGUMENT, "classifier");
        IMG_PREDICT_FAILS(h, NULL, n, &te.shape, te.count, 1, q, pc, LK_STATUS_INVALID_ARGUMENT, "images");
        IMG_PREDICT_FAILS(h, te.x, n, NULL, te.count, 1, q, pc, LK_STATUS_INVALID_ARGUMENT, "shape");
        IMG_PREDICT_FAILS(h, te.x, n, &te.shape, te.count, 1, NULL, pc, LK_STATUS_INVALID_ARGUMENT, "probabilities");
        IMG_PREDICT_FAILS(h, te.x, n, &te.shape, te.count, 0, q, pc, LK_STATUS_INVALID_ARGUMENT, "threads");
        IMG_PREDICT_FAILS(h, te.x, n, &te.shape, te.count - 1, 1, q, pc, LK_STATUS_SIZE_MISMATCH, "images_count");
        IMG_PREDICT_FAILS(h, te.x, n, &te.shape, te.count + 64, 1, q, pc, LK_STATUS_SIZE_MISMATCH, "images_count");
        IMG_PREDICT_FAILS(h, te.x, n, &te.shape, te.count, 1, q, pc - 1, LK_STATUS_SIZE_MISMATCH, "probabilities_count");
        IMG_PREDICT_FAILS(h, te.x, n, &te.shape, te.count, 1, q, n, LK_STATUS_SIZE_MISMATCH, "probabilities_count");
        IMG_PREDICT_FAILS(h, te.x, 0, &te.shape, 0, 1, q, 4, LK_STATUS_SIZE_MISMATCH, "probabilities_count");
        IMG_PREDICT_FAILS(h, te.x, n, &tall, n * 72, 1, q, pc, LK_STATUS_SIZE_MISMATCH, "(n, 8, 8, 1)");
        IMG_PREDICT_FAILS(h, te.x, n / 3, &rgb, (n / 3) * 192, 1, q, (n / 3) * 4, LK_STATUS_SIZE_MISMATCH, "(n, 8, 8, 3)");
        IMG_PREDICT_FAILS(h, te.x, n / 2, &frames, te.count, 1, q, pc / 2, LK_STATUS_SIZE_MISMATCH, "(n, 2, 8, 8, 1)");
        IMG_PREDICT_FAILS(h, te.x, n, &neg, te.count, 1, q, pc, LK_STATUS_INVALID_ARGUMENT, "frames");
        IMG_PREDICT_FAILS(h, te.x, n, &zero, te.count, 1, q, pc, LK_STATUS_INVALID_ARGUMENT, "height");
        IMG_PREDICT_FAILS(h, te.x, n, &huge, te.count, 1, q, pc, LK_STATUS_INVALID_ARGUMENT, "too large");
        IMG_PREDICT_FAILS(h, te.x, SIZE_MAX, &te.shape, te.count, 1, q, pc, LK_STATUS_INVALID_ARGUMENT, "n");
        IMG_PREDICT_FAILS(h, te.x, n, &te.shape, SIZE_MAX, 1, q, pc, LK_STATUS_SIZE_MISMATCH, "images_count");
        IMG_PREDICT_FAILS(h, te.x, n, &te.shape, te.count, 1, q, SIZE_MAX, LK_STATUS_SIZE_MISMATCH, "probabilities_count");
        IMG_PREDICT_FAILS(h, te.x, SIZE_MAX / 2, &te.shape, te.count, 1, q, pc, LK_STATUS_OUT_OF_MEMORY, "too large");
        float *bad = copy_floats(te.x, te.count);
        bad[7 * 64 + 10] = NAN;
        IMG_PREDICT_FAILS(h, bad, n, &te.shape, te.count, 1, q, pc, LK_STATUS_INVALID_ARGUMENT, "image 7");
        bad[7 * 64 + 10] = INFINITY;
        IMG_PREDICT_FAILS(h, bad, n, &te.shape, te.count, 1, q, pc, LK_STATUS_INVALID_ARGUMENT, "image 7");
        free(bad);
        CHECK(all_equal_to(q, pc, -7.0f), "a failed predict wrote probabilities");
    }
    /* The handle still works and gives the same numbers. */
    EXPECT(lk_image_classifier_predict(h, te.x, n, &te.shape, te.count, 2, q, pc), LK_STATUS_OK);
    CHECK(bits_equal(p, q, pc), "predictions changed after errors");

    /* Save/load round trip. */
    char *path = path_join(g_tmproot, "tiny-image-classifier.safetensors");
    EXPECT(lk_image_classifier_save(h, path), LK_STATUS_OK);
    lk_image_classifier *back = NULL;
    if (EXPECT(lk_image_classifier_load(path, &back), LK_STATUS_OK) && back) {
        EXPECT(lk_image_classifier_predict(back, te.x, n, &te.shape, te.count, 2, q, pc), LK_STATUS_OK);
        CHECK(bits_equal(p, q, pc), "the loaded classifier predicts differently");
        lk_image_shape bs = {0, 0, 0, 0};
        lk_image_classifier_input_shape(back, &bs);
        CHECK(memcmp(&bs, &sh, sizeof bs) == 0, "the loaded classifier has another input shape");
        lk_image_classifier_free(back);
    }
    EXPECT(lk_image_classifier_save(h, NULL), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_image_classifier_save(NULL, path), LK_STATUS_INVALID_ARGUMENT);
    {
        char *nodir = path_join(g_tmproot, "no/such/dir/x.safetensors");
        EXPECT(lk_image_classifier_save(h, nodir), LK_STATUS_IO_ERROR);
        lk_image_classifier *o = IMG_SENTINEL;
        EXPECT(lk_image_classifier_load(nodir, &o), LK_STATUS_IO_ERROR);
        CHECK(o == IMG_SENTINEL, "*out was changed by a failed load");
        free(nodir);
    }
    EXPECT(lk_image_classifier_load(NULL, &back), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_image_classifier_load(path, NULL), LK_STATUS_INVALID_ARGUMENT);

    /* Model files of other kinds: the message names both kinds, both ways. */
    {
        char *lpath = path_join(g_tmproot, "img-an-lstm.safetensors");
        if (save_small_lstm_at(lpath, __LINE__)) img_load_wrong_kind_at(lpath, "\"lstm\"", __LINE__);
        free(lpath);

        tsv_set s;
        if (CHECK(read_tsv(&s) && s.n == 300, "cannot read the text fixture")) {
            lk_text_classifier_train_config tc = tiny_cls_config();
            tc.epochs = 1;
            lk_text_classifier *text = NULL;
            char *tpath = path_join(g_tmproot, "img-a-text-classifier.safetensors");
            if (EXPECT(lk_text_classifier_train(s.texts, s.lens, s.labels, 40, s.texts + N_TRAIN, s.lens + N_TRAIN,
                                                s.labels + N_TRAIN, 10, &tc, NULL, NULL, &text),
                       LK_STATUS_OK) &&
                EXPECT(lk_text_classifier_save(text, tpath), LK_STATUS_OK))
                img_load_wrong_kind_at(tpath, "text_classifier", __LINE__);
            lk_text_classifier *as_text = NULL;
            EXPECT(lk_text_classifier_load(path, &as_text), LK_STATUS_INVALID_FORMAT);
            CHECK(strstr(lk_last_error(), "image_classifier") && strstr(lk_last_error(), "text_classifier"),
                  "loading an image classifier as a text classifier: \"%s\"", lk_last_error());
            lk_text_classifier_free(text);
            free(tpath);
            tsv_free(&s);
        }
        lk_tokenizer *tok = TINY_TOKENIZER();
        if (tok) img_load_wrong_kind_at(g_tok_model, "tokenizer", __LINE__);
        lk_tokenizer_free(tok);
    }
    free(path);
    free(p);
    free(q);
out:
    lk_image_classifier_free(h);
    lk_image_classifier_free(NULL);
    image_set_free(&tr);
    image_set_free(&dv);
    image_set_free(&te);
}

static int img_train_fails_at(const lk_image_shape *shape, const float *tx, size_t nt, size_t tc, const char *const *tl,
                              const float *dx, size_t nd, size_t dc, const char *const *dl,
                              const lk_image_classifier_train_config *c, lk_status want, const char *needle, int line,
                              const char *what) {
    lk_image_classifier *out = IMG_SENTINEL;
    int ok = expect_at(lk_image_classifier_train(shape, tx, nt, tc, tl, dx, nd, dc, dl, c, NULL, NULL, &out), want, line, what);
    ok &= check_at(out == IMG_SENTINEL, line, "%s: *out was changed on failure", what);
    if (out != IMG_SENTINEL && out != NULL) lk_image_classifier_free(out);
    ok &= mentions_at(needle, line, what);
    return ok;
}

static void group_image_classifier_train_errors(void) {
    image_set tr, dv;
    quadrant_images(&tr, 40, 1, 21);
    quadrant_images(&dv, 10, 1, 22);
    lk_image_classifier_train_config c = tiny_img_config();
    const lk_image_shape *sh = &tr.shape;
    const float *tx = tr.x, *dx = dv.x;
    const char *const *tl = tr.labels, *const *dl = dv.labels;
    size_t nt = tr.n, nd = dv.n, tc = tr.count, dc = dv.count;
#define IMG_TRAIN_FAIL(shape_, tx_, nt_, tc_, tl_, dx_, nd_, dc_, dl_, cfg, want, needle) \
    img_train_fails_at((shape_), (tx_), (nt_), (tc_), (tl_), (dx_), (nd_), (dc_), (dl_), (cfg), (want), (needle), __LINE__, #needle)

    /* NULLs, sizes, counts. */
    IMG_TRAIN_FAIL(sh, tx, nt, tc, tl, dx, nd, dc, dl, NULL, LK_STATUS_INVALID_ARGUMENT, "config");
    EXPECT(lk_image_classifier_train(sh, tx, nt, tc, tl, dx, nd, dc, dl, &c, NULL, NULL, NULL), LK_STATUS_INVALID_ARGUMENT);
    IMG_TRAIN_FAIL(NULL, tx, nt, tc, tl, dx, nd, dc, dl, &c, LK_STATUS_INVALID_ARGUMENT, "shape");
    IMG_TRAIN_FAIL(sh, NULL, nt, tc, tl, dx, nd, dc, dl, &c, LK_STATUS_INVALID_ARGUMENT, "train_images");
    IMG_TRAIN_FAIL(sh, tx, nt, tc, NULL, dx, nd, dc, dl, &c, LK_STATUS_INVALID_ARGUMENT, "train_labels");
    IMG_TRAIN_FAIL(sh, tx, nt, tc, tl, NULL, nd, dc, dl, &c, LK_STATUS_INVALID_ARGUMENT, "dev_images");
    IMG_TRAIN_FAIL(sh, tx, nt, tc, tl, dx, nd, dc, NULL, &c, LK_STATUS_INVALID_ARGUMENT, "dev_labels");
    IMG_TRAIN_FAIL(sh, tx, 0, 0, tl, dx, nd, dc, dl, &c, LK_STATUS_INVALID_ARGUMENT, "n_train");
    IMG_TRAIN_FAIL(sh, tx, nt, tc, tl, dx, 0, 0, dl, &c, LK_STATUS_INVALID_ARGUMENT, "n_dev");
    IMG_TRAIN_FAIL(sh, tx, SIZE_MAX, tc, tl, dx, nd, dc, dl, &c, LK_STATUS_INVALID_ARGUMENT, "n_train");
    IMG_TRAIN_FAIL(sh, tx, nt, tc - 1, tl, dx, nd, dc, dl, &c, LK_STATUS_SIZE_MISMATCH, "train_count");
    IMG_TRAIN_FAIL(sh, tx, nt, tc, tl, dx, nd, dc + 1, dl, &c, LK_STATUS_SIZE_MISMATCH, "dev_count");
    IMG_TRAIN_FAIL(sh, tx, nt, SIZE_MAX, tl, dx, nd, dc, dl, &c, LK_STATUS_SIZE_MISMATCH, "train_count");
    IMG_TRAIN_FAIL(sh, tx, SIZE_MAX / 4, tc, tl, dx, nd, dc, dl, &c, LK_STATUS_OUT_OF_MEMORY, "too large");
    {
        lk_image_shape neg = {-1, 8, 8, 1}, w0 = {0, 8, 0, 1}, c0 = {0, 8, 8, 0}, big = {0, 8, 8, 1 << 20};
        IMG_TRAIN_FAIL(&neg, tx, nt, tc, tl, dx, nd, dc, dl, &c, LK_STATUS_INVALID_ARGUMENT, "frames");
        IMG_TRAIN_FAIL(&w0, tx, nt, tc, tl, dx, nd, dc, dl, &c, LK_STATUS_INVALID_ARGUMENT, "width");
        IMG_TRAIN_FAIL(&c0, tx, nt, tc, tl, dx, nd, dc, dl, &c, LK_STATUS_INVALID_ARGUMENT, "channels");
        IMG_TRAIN_FAIL(&big, tx, nt, tc, tl, dx, nd, dc, dl, &c, LK_STATUS_INVALID_ARGUMENT, "too large");
        /* Frames need kind CNN; CNN blocks need images of at least 2^blocks pixels. */
        lk_image_shape frames = {2, 8, 4, 1};
        IMG_TRAIN_FAIL(&frames, tx, nt, tc, tl, dx, nd, dc, dl, &c, LK_STATUS_INVALID_ARGUMENT, "kind cnn");
        lk_image_classifier_train_config deep = tiny_img_config();
        deep.kind = LK_IMAGE_KIND_CNN;
        deep.num_conv_blocks = 4;
        deep.conv_channels[1] = deep.conv_channels[2] = deep.conv_channels[3] = 2;
        IMG_TRAIN_FAIL(sh, tx, nt, tc, tl, dx, nd, dc, dl, &deep, LK_STATUS_INVALID_ARGUMENT, "too small");
    }
    {
        /* Bad pixels: the message names the image. */
        float *bad = copy_floats(tx, tc);
        bad[5 * 64 + 3] = NAN;
        IMG_TRAIN_FAIL(sh, bad, nt, tc, tl, dx, nd, dc, dl, &c, LK_STATUS_INVALID_ARGUMENT, "image 5");
        IMG_TRAIN_FAIL(sh, tx, nt, tc, tl, bad, nd, dc, dl, &c, LK_STATUS_INVALID_ARGUMENT, "image 5");
        bad[5 * 64 + 3] = -INFINITY;
        IMG_TRAIN_FAIL(sh, bad, nt, tc, tl, dx, nd, dc, dl, &c, LK_STATUS_INVALID_ARGUMENT, "image 5");
        free(bad);
        /* Labels: NULL entries, invalid UTF-8, a single class, a dev label unseen in training. */
        const char **labels = xcalloc(nt, sizeof *labels);
        for (size_t i = 0; i < nt; i++) labels[i] = tl[i];
        labels[3] = NULL;
        IMG_TRAIN_FAIL(sh, tx, nt, tc, labels, dx, nd, dc, dl, &c, LK_STATUS_INVALID_ARGUMENT, "train_labels[3]");
        labels[3] = "\xc3";
        IMG_TRAIN_FAIL(sh, tx, nt, tc, labels, dx, nd, dc, dl, &c, LK_STATUS_INVALID_ARGUMENT, "train_labels[3]");
        for (size_t i = 0; i < nt; i++) labels[i] = "same";
        IMG_TRAIN_FAIL(sh, tx, nt, tc, labels, dx, nd, dc, dl, &c, LK_STATUS_INVALID_ARGUMENT, "single class");
        const char *unseen[10];
        for (size_t i = 0; i < 10; i++) unseen[i] = i == 4 ? "diagonal" : dl[i];
        IMG_TRAIN_FAIL(sh, tx, nt, tc, tl, dx, nd, dc, unseen, &c, LK_STATUS_INVALID_ARGUMENT, "diagonal");
        free(labels);
    }

    /* Every config field. */
#define IMG_BAD_FIELD(field, value)                                                                     \
    do {                                                                                                \
        lk_image_classifier_train_config b = tiny_img_config();                                         \
        b.field = value;                                                                                \
        IMG_TRAIN_FAIL(sh, tx, nt, tc, tl, dx, nd, dc, dl, &b, LK_STATUS_INVALID_ARGUMENT, #field);     \
    } while (0)
    IMG_BAD_FIELD(kind, 2);
    IMG_BAD_FIELD(kind, -1);
    IMG_BAD_FIELD(hidden_size, 0);
    IMG_BAD_FIELD(hidden_size, 1 << 20);
    IMG_BAD_FIELD(num_layers, 0);
    IMG_BAD_FIELD(num_layers, 17);
    IMG_BAD_FIELD(bidirectional, 2);
    IMG_BAD_FIELD(columns, -1);
    IMG_BAD_FIELD(num_conv_blocks, 0);
    IMG_BAD_FIELD(num_conv_blocks, LK_IMAGE_MAX_CONV_BLOCKS + 1);
    IMG_BAD_FIELD(conv_channels[0], 0);
    IMG_BAD_FIELD(conv_channels[0], 5000);
    IMG_BAD_FIELD(pooling, 5);
    IMG_BAD_FIELD(attention_size, 0);
    IMG_BAD_FIELD(dropout, 1.0f);
    IMG_BAD_FIELD(dropout, NAN);
    IMG_BAD_FIELD(epochs, 0);
    IMG_BAD_FIELD(batch_size, 0);
    IMG_BAD_FIELD(batch_size, 1 << 20);
    IMG_BAD_FIELD(learning_rate, 0.0f);
    IMG_BAD_FIELD(learning_rate, INFINITY);
    IMG_BAD_FIELD(clip_norm, 0.0f);
    IMG_BAD_FIELD(clip_norm, NAN);
    IMG_BAD_FIELD(patience, 0);
    IMG_BAD_FIELD(decay_factor, 0.0f);
    IMG_BAD_FIELD(decay_factor, 1.5f);
    IMG_BAD_FIELD(time_limit, 0.5);
    IMG_BAD_FIELD(time_limit, -1.0);
    IMG_BAD_FIELD(time_limit, (double)NAN);
    IMG_BAD_FIELD(time_limit, (double)INFINITY);
    IMG_BAD_FIELD(threads, 0);
    IMG_BAD_FIELD(threads, 2000);
    IMG_BAD_FIELD(log_every, 0);
#undef IMG_BAD_FIELD
    {
        lk_image_classifier_train_config b = tiny_img_config();
        b.kind = LK_IMAGE_KIND_CNN;
        b.columns = 1;
        IMG_TRAIN_FAIL(sh, tx, nt, tc, tl, dx, nd, dc, dl, &b, LK_STATUS_INVALID_ARGUMENT, "columns");
    }

    /* Every pooling trains (one epoch), with columns, with CNN, with frames; the
     * progress callback may be NULL and user_data anything. */
    for (int32_t pool = LK_POOLING_LAST; pool <= LK_POOLING_ATTENTION; pool++) {
        lk_image_classifier_train_config b = tiny_img_config();
        b.epochs = 1;
        b.pooling = pool;
        b.bidirectional = pool % 2;
        b.kind = pool >= LK_POOLING_MAX ? LK_IMAGE_KIND_CNN : LK_IMAGE_KIND_ROWS;
        b.columns = pool == LK_POOLING_MEAN;
        b.time_limit = pool == LK_POOLING_LAST ? 60.0 : 0.0;
        lk_image_classifier *h = NULL;
        if (EXPECT(lk_image_classifier_train(sh, tx, nt, tc, tl, dx, nd, dc, dl, &b, NULL, (void *)&b, &h), LK_STATUS_OK)) {
            float pr[4];
            int32_t kind = -1;
            EXPECT(lk_image_classifier_predict(h, dx, 1, sh, 64, 1, pr, 4), LK_STATUS_OK);
            EXPECT(lk_image_classifier_kind(h, &kind), LK_STATUS_OK);
            CHECK(kind == b.kind, "pooling %d: kind %d, want %d", (int)pool, (int)kind, (int)b.kind);
            CHECK(fabsf(pr[0] + pr[1] + pr[2] + pr[3] - 1) < 1e-5f, "pooling %d: probabilities sum to %g", (int)pool,
                  (double)(pr[0] + pr[1] + pr[2] + pr[3]));
        }
        lk_image_classifier_free(h);
    }
    {
        /* 40 sequences of 2 frames of 8x4 (the pixels of 40 images of 8x8). */
        lk_image_classifier_train_config b = tiny_img_config();
        b.kind = LK_IMAGE_KIND_CNN;
        b.epochs = 1;
        lk_image_shape frames = {2, 8, 4, 1};
        lk_image_classifier *h = NULL;
        if (EXPECT(lk_image_classifier_train(&frames, tx, nt, tc, tl, dx, nd, dc, dl, &b, NULL, NULL, &h), LK_STATUS_OK)) {
            lk_image_shape got = {0, 0, 0, 0};
            EXPECT(lk_image_classifier_input_shape(h, &got), LK_STATUS_OK);
            CHECK(memcmp(&got, &frames, sizeof got) == 0, "frames model: input shape (%lld, %lld, %lld, %lld)",
                  (long long)got.frames, (long long)got.height, (long long)got.width, (long long)got.channels);
            float pr[8];
            EXPECT(lk_image_classifier_predict(h, dx, 2, &frames, 128, 1, pr, 8), LK_STATUS_OK);
            lk_image_shape single = {0, 8, 4, 1};
            IMG_PREDICT_FAILS(h, dx, 2, &single, 64, 1, pr, 8, LK_STATUS_SIZE_MISMATCH, "(n, 2, 8, 4, 1)");
        }
        lk_image_classifier_free(h);
    }

    /* diverged_training (issue 17): the loss becomes NaN; a status, not a trap. (At 1e30
       the loss only reaches 1e30, finite, once training flushes denormals to zero.) */
    lk_image_classifier_train_config wild = c;
    wild.learning_rate = 1e38f;
    wild.kind = LK_IMAGE_KIND_CNN;
    wild.log_every = 1;
    if (IMG_TRAIN_FAIL(sh, tx, nt, tc, tl, dx, nd, dc, dl, &wild, LK_STATUS_INVALID_ARGUMENT, "training diverged at epoch"))
        mentions_at("lower the learning rate", __LINE__, "learning rate 1e38");
#undef IMG_TRAIN_FAIL
    image_set_free(&tr);
    image_set_free(&dv);
}

const test_group image_classifier_groups[] = {
    {"image classifier: train, predict, labels, files", group_image_classifier},
    {"image classifier: training errors", group_image_classifier_train_errors},
    {NULL, NULL},
};
