/*
 * test_image_segmenter.c — the image segmenter: training on synthetic 12x12 images with
 * bright and dark squares made here, masks and probabilities (any H x W, e.g. 13x17),
 * evaluate (confusion matrix, pixel accuracy, mean IoU), every bad argument (counts,
 * mask values out of range, NaN pixels, channels, NULLs, every config field and class
 * weight), every architecture variant, save/load, files of other kinds.
 */
#include "harness.h"

/* ======================================================================== */
/* Group: image segmenter                                                     */
/* ======================================================================== */

/* n synthetic H x W images (C channels, the same value in each) in [0, 255] with their
 * masks: mid-grey noise, one bright square (class 1) and one dark square (class 2) of
 * side 3 to 4 at random places (the dark one drawn last), the rest class 0. */
typedef struct {
    float *x;
    int32_t *m;
    size_t n, count, mask_count;
    lk_image_shape shape;
} seg_set;

static void square_images(seg_set *s, size_t n, int64_t height, int64_t width, int64_t channels, uint64_t seed) {
    rng r = {seed};
    s->shape = (lk_image_shape){0, height, width, channels};
    s->n = n;
    s->mask_count = n * (size_t)(height * width);
    s->count = s->mask_count * (size_t)channels;
    s->x = xmalloc(s->count * sizeof(float) + 1);
    s->m = xmalloc(s->mask_count * sizeof(int32_t) + 1);
    for (size_t i = 0; i < n; i++) {
        int32_t *m = s->m + i * (size_t)(height * width);
        float *x = s->x + i * (size_t)(height * width * channels);
        for (int64_t p = 0; p < height * width; p++) {
            m[p] = 0;
            float v = 120.0f + rng_unif(&r, 30.0f);
            for (int64_t ch = 0; ch < channels; ch++) x[p * channels + ch] = v;
        }
        for (int32_t cls = 1; cls <= 2; cls++) {
            int64_t side = 3 + (int64_t)(rng_next(&r) % 2);
            if (side > height) side = height;
            if (side > width) side = width;
            int64_t top = (int64_t)(rng_next(&r) % (uint64_t)(height - side + 1));
            int64_t left = (int64_t)(rng_next(&r) % (uint64_t)(width - side + 1));
            for (int64_t h = top; h < top + side; h++)
                for (int64_t w = left; w < left + side; w++) {
                    float v = (cls == 1 ? 225.0f : 20.0f) + rng_unif(&r, 20.0f);
                    m[h * width + w] = cls;
                    for (int64_t ch = 0; ch < channels; ch++) x[(h * width + w) * channels + ch] = v;
                }
        }
    }
}

static void seg_set_free(seg_set *s) {
    free(s->x);
    free(s->m);
}

static lk_image_segmenter_train_config tiny_seg_config(void) {
    lk_image_segmenter_train_config c = lk_image_segmenter_train_config_default();
    c.num_classes = 3;
    c.hidden_size = 4;
    c.num_blocks = 2;
    c.encoder_channels[0] = 4;
    c.encoder_channels[1] = 8;
    c.epochs = 10;
    c.batch_size = 8;
    c.learning_rate = 0.02f;
    c.seed = 3;
    c.log_every = 4;
    return c;
}

static lk_status seg_train(const seg_set *t, const seg_set *d, const lk_image_segmenter_train_config *c, lk_progress_fn fn,
                           void *user, lk_image_segmenter **out) {
    return lk_image_segmenter_train(&t->shape, t->x, t->n, t->count, t->m, t->mask_count, &d->shape, d->x, d->n, d->count,
                                    d->m, d->mask_count, c, fn, user, out);
}

/* Predict (masks) fails with `want` and a message containing `needle`. */
static int seg_predict_fails_at(const lk_image_segmenter *h, const float *x, size_t n, const lk_image_shape *shape,
                                size_t count, int32_t threads, int32_t *m, size_t mc, lk_status want, const char *needle,
                                int line, const char *what) {
    return expect_mentions_at(lk_image_segmenter_predict(h, x, n, shape, count, threads, m, mc), want, needle, line, what);
}
#define SEG_PREDICT_FAILS(h, x, n, shape, count, th, m, mc, want, needle)                                    \
    seg_predict_fails_at((h), (x), (n), (shape), (count), (th), (m), (mc), (want), (needle), __LINE__, \
                         #x ", " #n ", " #shape ", " #count ", " #th ", " #m ", " #mc)

static int seg_eval_fails_at(const lk_image_segmenter *h, const seg_set *s, size_t n, const int32_t *masks, size_t mc,
                             int64_t *conf, size_t cc, lk_status want, const char *needle, int line, const char *what) {
    double acc = -5, miou = -5;
    int ok = expect_at(lk_image_segmenter_evaluate(h, s->x, n, &s->shape, n * (size_t)(s->count / s->n), masks, mc, 1, conf, cc,
                                                   &acc, &miou),
                       want, line, what);
    ok &= check_at(acc == -5 && miou == -5, line, "%s: a failed evaluate wrote its scores", what);
    ok &= mentions_at(needle, line, what);
    return ok;
}
#define SEG_EVAL_FAILS(h, s, n, masks, mc, conf, cc, want, needle) \
    seg_eval_fails_at((h), (s), (n), (masks), (mc), (conf), (cc), (want), (needle), __LINE__, #n ", " #masks ", " #mc ", " #cc)

/* Loading `path` as an image segmenter fails with INVALID_FORMAT naming both kinds. */
static void seg_load_wrong_kind_at(const char *path, const char *kind, int line) {
    lk_image_segmenter *out = SEG_SENTINEL;
    lk_status status = lk_image_segmenter_load(path, &out);
    wrong_kind_at(status, out == SEG_SENTINEL, kind, "image_segmenter", line, "lk_image_segmenter_load(another kind)");
}

/* The share of pixels whose mask value is right, from int32 masks. */
static double seg_accuracy(const int32_t *got, const int32_t *want, size_t n) {
    size_t right = 0;
    for (size_t i = 0; i < n; i++) right += got[i] == want[i];
    return (double)right / (double)n;
}

static void group_image_segmenter(void) {
    lk_image_segmenter_train_config d = lk_image_segmenter_train_config_default();
    CHECK(d.num_classes == 2 && d.context == LK_SEGMENTER_CONTEXT_LSTM && d.hidden_size == 64 && d.num_blocks == 2 &&
              d.encoder_channels[0] == 32 && d.encoder_channels[1] == 64 && d.batch_norm == 1 &&
              d.upsampling == LK_SEGMENTER_UPSAMPLING_TRANSPOSED && d.attention_gates == 0 && d.epochs == 10 &&
              d.batch_size == 16 && fabsf(d.learning_rate - 0.002f) < 1e-7f && fabsf(d.clip_norm - 5.0f) < 1e-6f &&
              d.patience == 3 && fabsf(d.decay_factor - 0.5f) < 1e-6f && d.time_limit == 0 &&
              fabsf(d.dice_weight - 0.5f) < 1e-6f && d.balance_classes == 0 && d.class_weights == NULL &&
              d.class_weights_count == 0 && d.threads == 2 && d.log_every == 100 && d.seed == 1 &&
              d.schedule == LK_SCHEDULE_PLATEAU && d.flip == 0,
          "lk_image_segmenter_train_config_default() does not hold the documented defaults");

    seg_set tr, dv, te, odd;
    square_images(&tr, 96, 12, 12, 1, 31);
    square_images(&dv, 16, 12, 12, 1, 32);
    square_images(&te, 24, 12, 12, 1, 33);
    square_images(&odd, 3, 13, 17, 1, 34);
    lk_image_segmenter_train_config c = tiny_seg_config();
    progress_log log;
    progress_init(&log);
    lk_image_segmenter *h = NULL;
    int32_t *m = NULL, *m2 = NULL;
    float *p = NULL, *q = NULL;
    if (!EXPECT(seg_train(&tr, &dv, &c, record_progress, &log, &h), LK_STATUS_OK) || !h) goto out;
    CHECK(log.calls >= 3 && log.bad_lines == 0 && log.epoch_lines >= 2, "progress: %d calls (%d bad, %d epoch lines)",
          log.calls, log.bad_lines, log.epoch_lines);

    /* Classes, channels, config. */
    int32_t nc = -1, ch = -1;
    EXPECT(lk_image_segmenter_num_classes(h, &nc), LK_STATUS_OK);
    CHECK(nc == 3, "num_classes is %d, want 3", (int)nc);
    EXPECT(lk_image_segmenter_channels(h, &ch), LK_STATUS_OK);
    CHECK(ch == 1, "channels is %d, want 1", (int)ch);
    EXPECT(lk_image_segmenter_num_classes(h, NULL), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_image_segmenter_num_classes(NULL, &nc), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_image_segmenter_channels(h, NULL), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_image_segmenter_channels(NULL, &ch), LK_STATUS_INVALID_ARGUMENT);
    lk_image_segmenter_train_config got;
    memset(&got, 0xff, sizeof got);
    EXPECT(lk_image_segmenter_get_config(h, &got), LK_STATUS_OK);
    CHECK(got.num_classes == 3 && got.context == LK_SEGMENTER_CONTEXT_LSTM && got.hidden_size == 4 && got.num_blocks == 2 &&
              got.encoder_channels[0] == 4 && got.encoder_channels[1] == 8 && got.batch_norm == 1 &&
              got.upsampling == LK_SEGMENTER_UPSAMPLING_TRANSPOSED && got.attention_gates == 0 && got.seed == 3 &&
              got.epochs == d.epochs && got.class_weights == NULL && got.class_weights_count == 0,
          "get_config: the model's fields differ from the training config");
    EXPECT(lk_image_segmenter_get_config(h, NULL), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_image_segmenter_get_config(NULL, &got), LK_STATUS_INVALID_ARGUMENT);

    /* Masks: far better than the background everywhere (about 80% of the pixels). */
    size_t n = te.n, mc = te.mask_count, pc = mc * 3;
    m = xmalloc(mc * sizeof(int32_t));
    m2 = xmalloc(mc * sizeof(int32_t));
    p = xmalloc(pc * sizeof(float));
    q = xmalloc(pc * sizeof(float));
    EXPECT(lk_image_segmenter_predict(h, te.x, n, &te.shape, te.count, 2, m, mc), LK_STATUS_OK);
    double acc = seg_accuracy(m, te.m, mc);
    CHECK(acc > 0.95, "held-out pixel accuracy %.3f, want > 0.95", acc);
    EXPECT(lk_image_segmenter_predict(h, te.x, n, &te.shape, te.count, 1, m2, mc), LK_STATUS_OK);
    CHECK(memcmp(m, m2, mc * sizeof(int32_t)) == 0, "1 and 2 threads predict different masks");
    for (size_t i = 0; i < 3; i++)
        EXPECT(lk_image_segmenter_predict(h, te.x + i * 144, 1, &te.shape, 144, 1, m2 + i * 144, 144), LK_STATUS_OK);
    CHECK(memcmp(m, m2, 3 * 144 * sizeof(int32_t)) == 0, "one image at a time differs from the batch");
    EXPECT(lk_image_segmenter_predict(h, NULL, 0, &te.shape, 0, 1, NULL, 0), LK_STATUS_OK);

    /* Probabilities: distributions whose argmax is the mask. */
    EXPECT(lk_image_segmenter_predict_proba(h, te.x, n, &te.shape, te.count, 2, p, pc), LK_STATUS_OK);
    int dist_ok = 1, argmax_ok = 1;
    for (size_t i = 0; i < mc; i++) {
        float sum = 0;
        int best = 0;
        for (int k = 0; k < 3; k++) {
            if (!(p[i * 3 + (size_t)k] >= 0)) dist_ok = 0;
            sum += p[i * 3 + (size_t)k];
            if (p[i * 3 + (size_t)k] > p[i * 3 + (size_t)best]) best = k;
        }
        if (fabsf(sum - 1) > 1e-5f) dist_ok = 0;
        if (best != m[i]) argmax_ok = 0;
    }
    CHECK(dist_ok, "the probabilities of a pixel are not a distribution");
    CHECK(argmax_ok, "predict's masks are not the argmax of predict_proba");
    EXPECT(lk_image_segmenter_predict_proba(h, te.x, n, &te.shape, te.count, 1, q, pc), LK_STATUS_OK);
    CHECK(max_diff_ff(p, q, pc) < 1e-6, "1 and 2 threads disagree by %g", max_diff_ff(p, q, pc));
    EXPECT(lk_image_segmenter_predict_proba(h, NULL, 0, &te.shape, 0, 1, NULL, 0), LK_STATUS_OK);

    /* Any H and W: 13x17 in, 13x17 out; and the 12x12 model's view of one 1x1 image. */
    {
        int32_t om[3 * 13 * 17];
        float op[3 * 13 * 17 * 3];
        EXPECT(lk_image_segmenter_predict(h, odd.x, 3, &odd.shape, odd.count, 1, om, 3 * 13 * 17), LK_STATUS_OK);
        double oacc = seg_accuracy(om, odd.m, 3 * 13 * 17);
        CHECK(oacc > 0.9, "pixel accuracy on 13x17 images %.3f, want > 0.9", oacc);
        EXPECT(lk_image_segmenter_predict_proba(h, odd.x, 3, &odd.shape, odd.count, 1, op, sizeof op / sizeof op[0]),
               LK_STATUS_OK);
        lk_image_shape dot = {0, 1, 1, 1};
        float px = 230.0f;
        int32_t one = -1;
        EXPECT(lk_image_segmenter_predict(h, &px, 1, &dot, 1, 1, &one, 1), LK_STATUS_OK);
        CHECK(one >= 0 && one < 3, "a 1x1 image got class %d", (int)one);
    }

    /* Evaluate: the confusion matrix agrees with predict. */
    {
        int64_t conf[9];
        double pa = -1, miou = -1;
        EXPECT(lk_image_segmenter_evaluate(h, te.x, n, &te.shape, te.count, te.m, mc, 2, conf, 9, &pa, &miou), LK_STATUS_OK);
        int64_t total = 0, diag = 0, want[9] = {0};
        for (int i = 0; i < 9; i++) total += conf[i];
        for (int i = 0; i < 3; i++) diag += conf[i * 4];
        for (size_t i = 0; i < mc; i++) want[te.m[i] * 3 + m[i]]++;
        CHECK(total == (int64_t)mc && memcmp(conf, want, sizeof conf) == 0, "the confusion matrix does not match predict");
        CHECK(fabs(pa - acc) < 1e-12 && fabs(pa - (double)diag / (double)mc) < 1e-12, "pixel accuracy %g, predict gives %g",
              pa, acc);
        double iou_sum = 0;
        int defined = 0;
        for (int k = 0; k < 3; k++) {
            int64_t row = conf[k * 3] + conf[k * 3 + 1] + conf[k * 3 + 2], col = conf[k] + conf[3 + k] + conf[6 + k];
            int64_t uni = row + col - conf[k * 4];
            if (uni > 0) {
                iou_sum += (double)conf[k * 4] / (double)uni;
                defined++;
            }
        }
        CHECK(defined == 3 && fabs(miou - iou_sum / defined) < 1e-12, "mean IoU %g, the confusion matrix gives %g", miou,
              iou_sum / defined);
        CHECK(miou > 0.8, "held-out mean IoU %.3f, want > 0.8", miou);
        EXPECT(lk_image_segmenter_evaluate(h, te.x, n, &te.shape, te.count, te.m, mc, 1, NULL, 0, NULL, NULL), LK_STATUS_OK);
        double miou1 = -1;
        EXPECT(lk_image_segmenter_evaluate(h, te.x, 1, &te.shape, 144, te.m, 144, 1, NULL, 0, NULL, &miou1), LK_STATUS_OK);
        CHECK(miou1 >= 0 && miou1 <= 1, "mean IoU of one image %g", miou1);
    }

    /* Predict errors; nothing is written. */
    {
        for (size_t i = 0; i < mc; i++) m2[i] = -7;
        lk_image_shape rgb = {0, 12, 12, 3}, frames = {2, 12, 12, 1}, zero = {0, 0, 12, 1}, wide = {0, 12, 0, 1},
                       huge = {0, INT64_MAX, 12, 1}, tall = {0, 24, 12, 1};
        SEG_PREDICT_FAILS(NULL, te.x, n, &te.shape, te.count, 1, m2, mc, LK_STATUS_INVALID_ARGUMENT, "segmenter");
        SEG_PREDICT_FAILS(h, NULL, n, &te.shape, te.count, 1, m2, mc, LK_STATUS_INVALID_ARGUMENT, "images");
        SEG_PREDICT_FAILS(h, te.x, n, NULL, te.count, 1, m2, mc, LK_STATUS_INVALID_ARGUMENT, "shape");
        SEG_PREDICT_FAILS(h, te.x, n, &te.shape, te.count, 1, NULL, mc, LK_STATUS_INVALID_ARGUMENT, "masks");
        SEG_PREDICT_FAILS(h, te.x, n, &te.shape, te.count, 0, m2, mc, LK_STATUS_INVALID_ARGUMENT, "threads");
        SEG_PREDICT_FAILS(h, te.x, n, &te.shape, te.count - 1, 1, m2, mc, LK_STATUS_SIZE_MISMATCH, "images_count");
        SEG_PREDICT_FAILS(h, te.x, n, &te.shape, te.count + 144, 1, m2, mc, LK_STATUS_SIZE_MISMATCH, "images_count");
        SEG_PREDICT_FAILS(h, te.x, n, &te.shape, te.count, 1, m2, mc - 1, LK_STATUS_SIZE_MISMATCH, "masks_count");
        SEG_PREDICT_FAILS(h, te.x, n, &te.shape, te.count, 1, m2, mc * 3, LK_STATUS_SIZE_MISMATCH, "masks_count");
        SEG_PREDICT_FAILS(h, te.x, 0, &te.shape, 0, 1, m2, 144, LK_STATUS_SIZE_MISMATCH, "masks_count");
        SEG_PREDICT_FAILS(h, te.x, n / 3, &rgb, te.count, 1, m2, mc / 3, LK_STATUS_SIZE_MISMATCH, "3");
        CHECK(strstr(lk_last_error(), "1 channel") != NULL, "the channel message \"%s\" does not name the model's 1 channel",
              lk_last_error());
        SEG_PREDICT_FAILS(h, te.x, n / 2, &frames, te.count, 1, m2, mc / 2, LK_STATUS_INVALID_ARGUMENT, "frames");
        SEG_PREDICT_FAILS(h, te.x, n, &zero, te.count, 1, m2, mc, LK_STATUS_INVALID_ARGUMENT, "height");
        SEG_PREDICT_FAILS(h, te.x, n, &wide, te.count, 1, m2, mc, LK_STATUS_INVALID_ARGUMENT, "width");
        SEG_PREDICT_FAILS(h, te.x, n, &huge, te.count, 1, m2, mc, LK_STATUS_INVALID_ARGUMENT, "too large");
        SEG_PREDICT_FAILS(h, te.x, n / 2, &tall, te.count, 1, m2, mc, LK_STATUS_OK, NULL);
        SEG_PREDICT_FAILS(h, te.x, SIZE_MAX, &te.shape, te.count, 1, m2, mc, LK_STATUS_INVALID_ARGUMENT, "n");
        SEG_PREDICT_FAILS(h, te.x, n, &te.shape, SIZE_MAX, 1, m2, mc, LK_STATUS_SIZE_MISMATCH, "images_count");
        SEG_PREDICT_FAILS(h, te.x, n, &te.shape, te.count, 1, m2, SIZE_MAX, LK_STATUS_SIZE_MISMATCH, "masks_count");
        SEG_PREDICT_FAILS(h, te.x, SIZE_MAX / 2, &te.shape, te.count, 1, m2, mc, LK_STATUS_OUT_OF_MEMORY, "too large");
        for (size_t i = 0; i < mc; i++) m2[i] = -7;
        float *bad = copy_floats(te.x, te.count);
        bad[7 * 144 + 10] = NAN;
        SEG_PREDICT_FAILS(h, bad, n, &te.shape, te.count, 1, m2, mc, LK_STATUS_INVALID_ARGUMENT, "image 7");
        bad[7 * 144 + 10] = -INFINITY;
        SEG_PREDICT_FAILS(h, bad, n, &te.shape, te.count, 1, m2, mc, LK_STATUS_INVALID_ARGUMENT, "image 7");
        EXPECT(lk_image_segmenter_predict_proba(h, bad, n, &te.shape, te.count, 1, q, pc), LK_STATUS_INVALID_ARGUMENT);
        free(bad);
        int untouched = 1;
        for (size_t i = 0; i < mc; i++) untouched &= m2[i] == -7;
        CHECK(untouched, "a failed predict wrote masks");
        fill(q, pc, -7.0f);
        EXPECT(lk_image_segmenter_predict_proba(h, te.x, n, &te.shape, te.count, 1, q, pc - 1), LK_STATUS_SIZE_MISMATCH);
        CHECK(strstr(lk_last_error(), "probabilities_count") != NULL, "message \"%s\"", lk_last_error());
        EXPECT(lk_image_segmenter_predict_proba(h, te.x, n, &te.shape, te.count, 1, q, mc), LK_STATUS_SIZE_MISMATCH);
        EXPECT(lk_image_segmenter_predict_proba(h, te.x, n, &te.shape, te.count, 1, NULL, pc), LK_STATUS_INVALID_ARGUMENT);
        EXPECT(lk_image_segmenter_predict_proba(NULL, te.x, n, &te.shape, te.count, 1, q, pc), LK_STATUS_INVALID_ARGUMENT);
        EXPECT(lk_image_segmenter_predict_proba(h, te.x, n, &te.shape, te.count, 1, q, SIZE_MAX), LK_STATUS_SIZE_MISMATCH);
        CHECK(all_equal_to(q, pc, -7.0f), "a failed predict_proba wrote probabilities");
    }

    /* Evaluate errors: masks that do not fit, labels out of range, no images. */
    {
        int32_t *bad = xmalloc(mc * sizeof(int32_t));
        int64_t conf[9];
        memcpy(bad, te.m, mc * sizeof(int32_t));
        bad[5 * 144 + 2 * 12 + 7] = 3;
        SEG_EVAL_FAILS(h, &te, n, bad, mc, conf, 9, LK_STATUS_INVALID_ARGUMENT, "mask 5 has label 3 at (2, 7)");
        bad[5 * 144 + 2 * 12 + 7] = -1;
        SEG_EVAL_FAILS(h, &te, n, bad, mc, conf, 9, LK_STATUS_INVALID_ARGUMENT, "label -1");
        free(bad);
        SEG_EVAL_FAILS(h, &te, n, te.m, mc - 1, conf, 9, LK_STATUS_SIZE_MISMATCH, "masks_count");
        SEG_EVAL_FAILS(h, &te, n, te.m, mc + 144, conf, 9, LK_STATUS_SIZE_MISMATCH, "masks_count");
        SEG_EVAL_FAILS(h, &te, n, NULL, mc, conf, 9, LK_STATUS_INVALID_ARGUMENT, "masks");
        SEG_EVAL_FAILS(h, &te, 0, te.m, 0, conf, 9, LK_STATUS_INVALID_ARGUMENT, "no images");
        SEG_EVAL_FAILS(h, &te, n, te.m, mc, conf, 4, LK_STATUS_SIZE_MISMATCH, "confusion_count");
        SEG_EVAL_FAILS(h, &te, n, te.m, mc, NULL, 9, LK_STATUS_INVALID_ARGUMENT, "confusion");
        SEG_EVAL_FAILS(NULL, &te, n, te.m, mc, conf, 9, LK_STATUS_INVALID_ARGUMENT, "segmenter");
        EXPECT(lk_image_segmenter_evaluate(h, te.x, n, &te.shape, te.count, te.m, mc, 0, conf, 9, NULL, NULL),
               LK_STATUS_INVALID_ARGUMENT);
    }

    /* The handle still works and gives the same numbers. */
    EXPECT(lk_image_segmenter_predict_proba(h, te.x, n, &te.shape, te.count, 2, q, pc), LK_STATUS_OK);
    CHECK(bits_equal(p, q, pc), "probabilities changed after errors");

    /* Save/load round trip. */
    char *path = path_join(g_tmproot, "tiny-image-segmenter.safetensors");
    EXPECT(lk_image_segmenter_save(h, path), LK_STATUS_OK);
    lk_image_segmenter *back = NULL;
    if (EXPECT(lk_image_segmenter_load(path, &back), LK_STATUS_OK) && back) {
        EXPECT(lk_image_segmenter_predict_proba(back, te.x, n, &te.shape, te.count, 2, q, pc), LK_STATUS_OK);
        CHECK(bits_equal(p, q, pc), "the loaded segmenter predicts differently");
        lk_image_segmenter_train_config bc;
        EXPECT(lk_image_segmenter_get_config(back, &bc), LK_STATUS_OK);
        CHECK(bc.num_classes == 3 && bc.hidden_size == 4 && bc.encoder_channels[1] == 8 && bc.seed == 3,
              "the loaded segmenter has another config");
        lk_image_segmenter_free(back);
    }
    EXPECT(lk_image_segmenter_save(h, NULL), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_image_segmenter_save(NULL, path), LK_STATUS_INVALID_ARGUMENT);
    {
        char *nodir = path_join(g_tmproot, "no/such/dir/s.safetensors");
        EXPECT(lk_image_segmenter_save(h, nodir), LK_STATUS_IO_ERROR);
        lk_image_segmenter *o = SEG_SENTINEL;
        EXPECT(lk_image_segmenter_load(nodir, &o), LK_STATUS_IO_ERROR);
        CHECK(o == SEG_SENTINEL, "*out was changed by a failed load");
        free(nodir);
    }
    EXPECT(lk_image_segmenter_load(NULL, &back), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_image_segmenter_load(path, NULL), LK_STATUS_INVALID_ARGUMENT);

    /* Model files of other kinds: the message names both kinds, both ways. */
    {
        char *lpath = path_join(g_tmproot, "seg-an-lstm.safetensors");
        if (save_small_lstm_at(lpath, __LINE__)) seg_load_wrong_kind_at(lpath, "\"lstm\"", __LINE__);
        free(lpath);

        image_set itr, idv;
        quadrant_images(&itr, 40, 1, 41);
        quadrant_images(&idv, 8, 1, 42);
        lk_image_classifier_train_config ic = tiny_img_config();
        ic.epochs = 1;
        lk_image_classifier *clf = NULL;
        char *cpath = path_join(g_tmproot, "seg-an-image-classifier.safetensors");
        if (EXPECT(img_train(&itr, &idv, &ic, NULL, NULL, &clf), LK_STATUS_OK) &&
            EXPECT(lk_image_classifier_save(clf, cpath), LK_STATUS_OK))
            seg_load_wrong_kind_at(cpath, "image_classifier", __LINE__);
        lk_image_classifier *as_clf = IMG_SENTINEL;
        EXPECT(lk_image_classifier_load(path, &as_clf), LK_STATUS_INVALID_FORMAT);
        CHECK(strstr(lk_last_error(), "image_segmenter") && strstr(lk_last_error(), "image_classifier"),
              "loading an image segmenter as an image classifier: \"%s\"", lk_last_error());
        CHECK(as_clf == IMG_SENTINEL, "*out was changed by a failed load");
        lk_lstm *as_lstm = NULL;
        EXPECT(lk_lstm_load(path, &as_lstm), LK_STATUS_INVALID_FORMAT);
        CHECK(strstr(lk_last_error(), "image_segmenter") != NULL, "loading an image segmenter as an LSTM: \"%s\"",
              lk_last_error());
        lk_image_classifier_free(clf);
        free(cpath);
        image_set_free(&itr);
        image_set_free(&idv);
    }
    free(path);
out:
    free(m);
    free(m2);
    free(p);
    free(q);
    lk_image_segmenter_free(h);
    lk_image_segmenter_free(NULL);
    seg_set_free(&tr);
    seg_set_free(&dv);
    seg_set_free(&te);
    seg_set_free(&odd);
}

static int seg_train_fails_at(const lk_image_shape *ts, const float *tx, size_t nt, size_t tc, const int32_t *tm, size_t tmc,
                              const lk_image_shape *ds, const float *dx, size_t nd, size_t dc, const int32_t *dm, size_t dmc,
                              const lk_image_segmenter_train_config *c, lk_status want, const char *needle, int line,
                              const char *what) {
    lk_image_segmenter *out = SEG_SENTINEL;
    int ok = expect_at(lk_image_segmenter_train(ts, tx, nt, tc, tm, tmc, ds, dx, nd, dc, dm, dmc, c, NULL, NULL, &out), want,
                       line, what);
    ok &= check_at(out == SEG_SENTINEL, line, "%s: *out was changed on failure", what);
    if (out != SEG_SENTINEL && out != NULL) lk_image_segmenter_free(out);
    ok &= mentions_at(needle, line, what);
    return ok;
}

static void group_image_segmenter_train_errors(void) {
    seg_set tr, dv, rgb, big;
    square_images(&tr, 16, 12, 12, 1, 51);
    square_images(&dv, 4, 12, 12, 1, 52);
    square_images(&rgb, 16, 12, 12, 3, 53);
    square_images(&big, 4, 9, 15, 1, 54);
    lk_image_segmenter_train_config c = tiny_seg_config();
    c.epochs = 1;
    const lk_image_shape *ts = &tr.shape, *ds = &dv.shape;
    const float *tx = tr.x, *dx = dv.x;
    const int32_t *tm = tr.m, *dm = dv.m;
    size_t nt = tr.n, nd = dv.n, tc = tr.count, dc = dv.count, tmc = tr.mask_count, dmc = dv.mask_count;
#define SEG_TRAIN_FAIL(ts_, tx_, nt_, tc_, tm_, tmc_, ds_, dx_, nd_, dc_, dm_, dmc_, cfg, want, needle)                    \
    seg_train_fails_at((ts_), (tx_), (nt_), (tc_), (tm_), (tmc_), (ds_), (dx_), (nd_), (dc_), (dm_), (dmc_), (cfg), (want), \
                       (needle), __LINE__, #needle)

    /* NULLs, sizes, counts. */
    SEG_TRAIN_FAIL(ts, tx, nt, tc, tm, tmc, ds, dx, nd, dc, dm, dmc, NULL, LK_STATUS_INVALID_ARGUMENT, "config");
    EXPECT(lk_image_segmenter_train(ts, tx, nt, tc, tm, tmc, ds, dx, nd, dc, dm, dmc, &c, NULL, NULL, NULL),
           LK_STATUS_INVALID_ARGUMENT);
    SEG_TRAIN_FAIL(NULL, tx, nt, tc, tm, tmc, ds, dx, nd, dc, dm, dmc, &c, LK_STATUS_INVALID_ARGUMENT, "train_shape");
    SEG_TRAIN_FAIL(ts, tx, nt, tc, tm, tmc, NULL, dx, nd, dc, dm, dmc, &c, LK_STATUS_INVALID_ARGUMENT, "dev_shape");
    SEG_TRAIN_FAIL(ts, NULL, nt, tc, tm, tmc, ds, dx, nd, dc, dm, dmc, &c, LK_STATUS_INVALID_ARGUMENT, "train_images");
    SEG_TRAIN_FAIL(ts, tx, nt, tc, NULL, tmc, ds, dx, nd, dc, dm, dmc, &c, LK_STATUS_INVALID_ARGUMENT, "train_masks");
    SEG_TRAIN_FAIL(ts, tx, nt, tc, tm, tmc, ds, NULL, nd, dc, dm, dmc, &c, LK_STATUS_INVALID_ARGUMENT, "dev_images");
    SEG_TRAIN_FAIL(ts, tx, nt, tc, tm, tmc, ds, dx, nd, dc, NULL, dmc, &c, LK_STATUS_INVALID_ARGUMENT, "dev_masks");
    SEG_TRAIN_FAIL(ts, tx, 0, 0, tm, 0, ds, dx, nd, dc, dm, dmc, &c, LK_STATUS_INVALID_ARGUMENT, "training set is empty");
    SEG_TRAIN_FAIL(ts, tx, nt, tc, tm, tmc, ds, dx, 0, 0, dm, 0, &c, LK_STATUS_INVALID_ARGUMENT, "dev set is empty");
    SEG_TRAIN_FAIL(ts, tx, SIZE_MAX, tc, tm, tmc, ds, dx, nd, dc, dm, dmc, &c, LK_STATUS_INVALID_ARGUMENT, "n_train");
    SEG_TRAIN_FAIL(ts, tx, nt, tc - 1, tm, tmc, ds, dx, nd, dc, dm, dmc, &c, LK_STATUS_SIZE_MISMATCH, "train_count");
    SEG_TRAIN_FAIL(ts, tx, nt, tc, tm, tmc, ds, dx, nd, dc + 1, dm, dmc, &c, LK_STATUS_SIZE_MISMATCH, "dev_count");
    SEG_TRAIN_FAIL(ts, tx, nt, tc, tm, tmc - 1, ds, dx, nd, dc, dm, dmc, &c, LK_STATUS_SIZE_MISMATCH, "train_masks_count");
    SEG_TRAIN_FAIL(ts, tx, nt, tc, tm, tmc + 144, ds, dx, nd, dc, dm, dmc, &c, LK_STATUS_SIZE_MISMATCH, "train_masks_count");
    SEG_TRAIN_FAIL(ts, tx, nt, tc, tm, tmc, ds, dx, nd, dc, dm, dmc * 3, &c, LK_STATUS_SIZE_MISMATCH, "dev_masks_count");
    SEG_TRAIN_FAIL(ts, tx, nt, tc, tm, SIZE_MAX, ds, dx, nd, dc, dm, dmc, &c, LK_STATUS_SIZE_MISMATCH, "train_masks_count");
    SEG_TRAIN_FAIL(ts, tx, SIZE_MAX / 4, tc, tm, tmc, ds, dx, nd, dc, dm, dmc, &c, LK_STATUS_OUT_OF_MEMORY, "too large");
    {
        lk_image_shape frames = {1, 12, 12, 1}, h0 = {0, 0, 12, 1}, c0 = {0, 12, 12, 0}, huge = {0, 12, 12, 1 << 20};
        SEG_TRAIN_FAIL(&frames, tx, nt, tc, tm, tmc, ds, dx, nd, dc, dm, dmc, &c, LK_STATUS_INVALID_ARGUMENT,
                       "train_shape.frames");
        SEG_TRAIN_FAIL(ts, tx, nt, tc, tm, tmc, &frames, dx, nd, dc, dm, dmc, &c, LK_STATUS_INVALID_ARGUMENT, "dev_shape.frames");
        SEG_TRAIN_FAIL(&h0, tx, nt, tc, tm, tmc, ds, dx, nd, dc, dm, dmc, &c, LK_STATUS_INVALID_ARGUMENT, "train_shape.height");
        SEG_TRAIN_FAIL(ts, tx, nt, tc, tm, tmc, &c0, dx, nd, dc, dm, dmc, &c, LK_STATUS_INVALID_ARGUMENT, "dev_shape.channels");
        SEG_TRAIN_FAIL(&huge, tx, nt, tc, tm, tmc, ds, dx, nd, dc, dm, dmc, &c, LK_STATUS_INVALID_ARGUMENT, "too large");
        /* Dev images of other channels than training's. */
        SEG_TRAIN_FAIL(ts, tx, nt, tc, tm, tmc, &rgb.shape, rgb.x, rgb.n, rgb.count, rgb.m, rgb.mask_count, &c,
                       LK_STATUS_SIZE_MISMATCH, "channels");
    }
    {
        /* Bad pixels name the image; bad labels name the mask, the pixel and the label. */
        float *bad = copy_floats(tx, tc);
        bad[5 * 144 + 3] = NAN;
        SEG_TRAIN_FAIL(ts, bad, nt, tc, tm, tmc, ds, dx, nd, dc, dm, dmc, &c, LK_STATUS_INVALID_ARGUMENT, "image 5");
        bad[1 * 144 + 3] = NAN;
        SEG_TRAIN_FAIL(ts, tx, nt, tc, tm, tmc, ds, bad, nd, dc, dm, dmc, &c, LK_STATUS_INVALID_ARGUMENT, "dev_images: image 1");
        bad[1 * 144 + 3] = 0;
        bad[5 * 144 + 3] = INFINITY;
        SEG_TRAIN_FAIL(ts, bad, nt, tc, tm, tmc, ds, dx, nd, dc, dm, dmc, &c, LK_STATUS_INVALID_ARGUMENT, "infinite");
        free(bad);
        int32_t *labels = xmalloc(tmc * sizeof(int32_t));
        memcpy(labels, tm, tmc * sizeof(int32_t));
        labels[6 * 144 + 1 * 12 + 4] = 3;
        SEG_TRAIN_FAIL(ts, tx, nt, tc, labels, tmc, ds, dx, nd, dc, dm, dmc, &c, LK_STATUS_INVALID_ARGUMENT,
                       "training set: mask 6 has label 3 at (1, 4)");
        labels[6 * 144 + 1 * 12 + 4] = -2;
        SEG_TRAIN_FAIL(ts, tx, nt, tc, labels, tmc, ds, dx, nd, dc, dm, dmc, &c, LK_STATUS_INVALID_ARGUMENT, "label -2");
        {
            /* Only dev_masks_count labels are read: the bad one lies beyond them. */
            lk_image_segmenter *ok = NULL;
            EXPECT(lk_image_segmenter_train(ts, tx, nt, tc, tm, tmc, ds, dx, nd, dc, labels, dmc, &c, NULL, NULL, &ok),
                   LK_STATUS_OK);
            lk_image_segmenter_free(ok);
        }
        memcpy(labels, dm, dmc * sizeof(int32_t));
        labels[3 * 144 + 143] = INT32_MAX;
        SEG_TRAIN_FAIL(ts, tx, nt, tc, tm, tmc, ds, dx, nd, dc, labels, dmc, &c, LK_STATUS_INVALID_ARGUMENT,
                       "dev set: mask 3 has label 2147483647 at (11, 11)");
        free(labels);
    }

    /* Every config field. */
#define SEG_BAD_FIELD(field, value)                                                                                   \
    do {                                                                                                              \
        lk_image_segmenter_train_config b = tiny_seg_config();                                                        \
        b.field = value;                                                                                              \
        SEG_TRAIN_FAIL(ts, tx, nt, tc, tm, tmc, ds, dx, nd, dc, dm, dmc, &b, LK_STATUS_INVALID_ARGUMENT, #field);      \
    } while (0)
    SEG_BAD_FIELD(num_classes, 1);
    SEG_BAD_FIELD(num_classes, 70000);
    SEG_BAD_FIELD(context, 2);
    SEG_BAD_FIELD(context, -1);
    SEG_BAD_FIELD(hidden_size, 0);
    SEG_BAD_FIELD(hidden_size, 5000);
    SEG_BAD_FIELD(num_blocks, 0);
    SEG_BAD_FIELD(num_blocks, LK_SEGMENTER_MAX_BLOCKS + 1);
    SEG_BAD_FIELD(encoder_channels[0], 0);
    SEG_BAD_FIELD(encoder_channels[1], 5000);
    SEG_BAD_FIELD(batch_norm, 2);
    SEG_BAD_FIELD(upsampling, 2);
    SEG_BAD_FIELD(attention_gates, -1);
    SEG_BAD_FIELD(epochs, 0);
    SEG_BAD_FIELD(batch_size, 0);
    SEG_BAD_FIELD(batch_size, 1 << 20);
    SEG_BAD_FIELD(learning_rate, 0.0f);
    SEG_BAD_FIELD(learning_rate, NAN);
    SEG_BAD_FIELD(clip_norm, -1.0f);
    SEG_BAD_FIELD(clip_norm, INFINITY);
    SEG_BAD_FIELD(patience, 0);
    SEG_BAD_FIELD(decay_factor, 0.0f);
    SEG_BAD_FIELD(decay_factor, 2.0f);
    SEG_BAD_FIELD(schedule, 2);
    SEG_BAD_FIELD(schedule, -1);
    SEG_BAD_FIELD(flip, 2);
    SEG_BAD_FIELD(flip, -1);
    SEG_BAD_FIELD(time_limit, 0.5);
    SEG_BAD_FIELD(time_limit, -3.0);
    SEG_BAD_FIELD(time_limit, (double)NAN);
    SEG_BAD_FIELD(dice_weight, -0.5f);
    SEG_BAD_FIELD(dice_weight, NAN);
    SEG_BAD_FIELD(balance_classes, 2);
    SEG_BAD_FIELD(class_weights_count, 3);
    SEG_BAD_FIELD(threads, 0);
    SEG_BAD_FIELD(threads, 2000);
    SEG_BAD_FIELD(log_every, 0);
#undef SEG_BAD_FIELD
    {
        /* Class weights: K of them, finite, >= 0, not all 0, not with balance_classes. */
        lk_image_segmenter_train_config b = tiny_seg_config();
        float w[4] = {1.0f, 2.0f, 3.0f, 4.0f};
        b.class_weights = w;
        b.class_weights_count = 4;
        SEG_TRAIN_FAIL(ts, tx, nt, tc, tm, tmc, ds, dx, nd, dc, dm, dmc, &b, LK_STATUS_SIZE_MISMATCH, "class_weights_count");
        b.class_weights_count = 3;
        w[1] = -1.0f;
        SEG_TRAIN_FAIL(ts, tx, nt, tc, tm, tmc, ds, dx, nd, dc, dm, dmc, &b, LK_STATUS_INVALID_ARGUMENT, "class_weights[1]");
        w[1] = NAN;
        SEG_TRAIN_FAIL(ts, tx, nt, tc, tm, tmc, ds, dx, nd, dc, dm, dmc, &b, LK_STATUS_INVALID_ARGUMENT, "class_weights[1]");
        w[0] = w[1] = w[2] = 0.0f;
        SEG_TRAIN_FAIL(ts, tx, nt, tc, tm, tmc, ds, dx, nd, dc, dm, dmc, &b, LK_STATUS_INVALID_ARGUMENT, "all 0");
        w[0] = 1.0f;
        b.balance_classes = 1;
        SEG_TRAIN_FAIL(ts, tx, nt, tc, tm, tmc, ds, dx, nd, dc, dm, dmc, &b, LK_STATUS_INVALID_ARGUMENT, "balance_classes");
    }

    /* Every variant trains (one epoch): the conv ablation, bilinear upsampling,
     * attention gates, no BatchNorm, class weights or balancing, colour images, dev
     * images of another size, a time limit, three levels on 12x12 images. */
    for (int variant = 0; variant < 6; variant++) {
        lk_image_segmenter_train_config b = tiny_seg_config();
        b.epochs = 1;
        float w[3] = {0.5f, 2.0f, 2.0f};
        const seg_set *t = &tr, *dvs = &dv;
        switch (variant) {
        case 0: b.context = LK_SEGMENTER_CONTEXT_CONV; b.balance_classes = 1; break;
        case 1: b.upsampling = LK_SEGMENTER_UPSAMPLING_BILINEAR; b.attention_gates = 1; break;
        case 2: b.batch_norm = 0; b.class_weights = w; b.class_weights_count = 3; b.time_limit = 60; break;
        case 3: t = &rgb; dvs = &rgb; b.dice_weight = 0; break;
        case 4: dvs = &big; break;
        default: b.num_blocks = 3; b.encoder_channels[2] = 4; b.attention_gates = 1; break;
        }
        lk_image_segmenter *h = NULL;
        if (EXPECT(seg_train(t, dvs, &b, NULL, (void *)&b, &h), LK_STATUS_OK)) {
            lk_image_segmenter_train_config got;
            int32_t ch = 0, out[144];
            EXPECT(lk_image_segmenter_get_config(h, &got), LK_STATUS_OK);
            EXPECT(lk_image_segmenter_channels(h, &ch), LK_STATUS_OK);
            CHECK(got.context == b.context && got.upsampling == b.upsampling && got.attention_gates == b.attention_gates &&
                      got.batch_norm == b.batch_norm && got.num_blocks == b.num_blocks && ch == t->shape.channels,
                  "variant %d: the model's config differs from the training config", variant);
            EXPECT(lk_image_segmenter_predict(h, t->x, 1, &t->shape, t->count / t->n, 1, out, 144), LK_STATUS_OK);
        }
        lk_image_segmenter_free(h);
    }

    /* diverged_training (issue 17): the loss becomes NaN; a status, not a trap. */
    lk_image_segmenter_train_config wild = c;
    wild.learning_rate = 1e30f;
    wild.epochs = 5;
    wild.log_every = 1;
    if (SEG_TRAIN_FAIL(ts, tx, nt, tc, tm, tmc, ds, dx, nd, dc, dm, dmc, &wild, LK_STATUS_INVALID_ARGUMENT, "training diverged at epoch"))
        mentions_at("lower the learning rate", __LINE__, "learning rate 1e30");
#undef SEG_TRAIN_FAIL
    seg_set_free(&tr);
    seg_set_free(&dv);
    seg_set_free(&rgb);
    seg_set_free(&big);
}

/* Predicting a 16384x16384 image aborted the process allocating 68.7 GB: now
 * OUT_OF_MEMORY from the checked allocation path, before the images are read (the
 * buffer is calloc'd, so it costs address space, not memory), and the handle still
 * predicts. LSTMKIT_MAX_ALLOC_BYTES is not set by this program. */
#define EXPECT_MENTIONS(call, want, needle) expect_mentions_at((call), (want), (needle), __LINE__, #call)
static void group_image_segmenter_predict_16384_square(void) {
    char path[4300];
    snprintf(path, sizeof path, "%s/../golden/segmenter.safetensors", g_fixture_dir);
    lk_image_segmenter *seg = NULL;
    if (!CHECK(lk_image_segmenter_load(path, &seg) == LK_STATUS_OK, "load %s: %s", path, lk_last_error())) return;
    const size_t side = 16384, channels = 3, pixels = side * side;
    lk_image_shape shape = {0, (int64_t)side, (int64_t)side, (int64_t)channels};
    float *images = calloc(pixels * channels, sizeof(float));
    int32_t *masks = calloc(pixels, sizeof(int32_t));
    float *probabilities = calloc(pixels, sizeof(float)); /* never written: the call fails first */
    if (!CHECK(images && masks && probabilities, "calloc of the 16384x16384 buffers")) goto done;
    EXPECT_MENTIONS(lk_image_segmenter_predict(seg, images, 1, &shape, pixels * channels, 1, masks, pixels),
                    LK_STATUS_OUT_OF_MEMORY, "predicting 1 image of 16384×16384 needs");
    EXPECT_MENTIONS(lk_image_segmenter_predict_proba(seg, images, 1, &shape, pixels * channels, 2, probabilities, pixels * 3),
                    LK_STATUS_OUT_OF_MEMORY, "more than");
    /* Still usable: a small image predicts. */
    lk_image_shape small = {0, 8, 8, (int64_t)channels};
    EXPECT(lk_image_segmenter_predict(seg, images, 1, &small, 8 * 8 * channels, 1, masks, 64), LK_STATUS_OK);
done:
    free(images);
    free(masks);
    free(probabilities);
    lk_image_segmenter_free(seg);
}

const test_group image_segmenter_groups[] = {
    {"image segmenter: predict a 16384x16384 image is OUT_OF_MEMORY", group_image_segmenter_predict_16384_square},
    {"image segmenter: train, predict, evaluate, files", group_image_segmenter},
    {"image segmenter: training errors", group_image_segmenter_train_errors},
    {NULL, NULL},
};
