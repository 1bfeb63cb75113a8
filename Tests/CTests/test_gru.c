/*
 * test_gru.c — the GRU (lk_gru_*): forward against a plain C reference written from
 * PyTorch's nn.GRU equations (ragged, bidirectional, two layers, h0), argument errors,
 * parameters, save/load and the kinds of files.
 */
#include "harness.h"

#include <math.h>

/* ======================================================================== */
/* A plain reference: double precision, one scalar at a time                  */
/* ======================================================================== */

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

/* Reads the handle's weights and runs the GRU from the equations. x (B, T, D); writes
 * y (B, T, K*H) and h_n (L*K, B, H). Returns 0 if a parameter could not be read. */
static int ref_gru(const lk_gru *g, const lk_gru_config *c, int B, int T, const float *x, const int32_t *lengths,
                   const float *h0, double *y, double *h_n) {
    int H = c->hidden_size, K = c->bidirectional ? 2 : 1, ok = 1;
    int in_size = c->input_size;
    double *input = xcalloc((size_t)B * T * (size_t)(in_size > K * H ? in_size : K * H), sizeof(double));
    for (size_t i = 0; i < (size_t)B * T * in_size; i++) input[i] = x[i];
    for (int l = 0; l < c->num_layers; l++) {
        for (size_t i = 0; i < (size_t)B * T * K * H; i++) y[i] = 0;
        for (int d = 0; d < K; d++) {
            char name[4][64];
            float *w[4];
            size_t n[4] = {(size_t)3 * H * in_size, (size_t)3 * H * H, (size_t)3 * H, (size_t)3 * H};
            const char *base[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
            for (int p = 0; p < 4; p++) {
                snprintf(name[p], sizeof name[p], "%s_l%d%s", base[p], l, d ? "_reverse" : "");
                w[p] = xmalloc(n[p] * sizeof(float));
                ok &= EXPECT(lk_gru_get_param(g, name[p], w[p], n[p]), LK_STATUS_OK);
            }
            for (int b = 0; b < B; b++) {
                double h[64], gx[192], gh[192];
                int len = lengths ? lengths[b] : T;
                size_t state = ((size_t)(l * K + d) * B + b) * H;
                for (int j = 0; j < H; j++) h[j] = h0 ? h0[state + j] : 0;
                for (int s = 0; s < len; s++) {
                    int t = d ? len - 1 - s : s;
                    for (int r = 0; r < 3 * H; r++) {
                        gx[r] = w[2][r];
                        gh[r] = w[3][r];
                        for (int k = 0; k < in_size; k++) gx[r] += w[0][r * in_size + k] * input[((size_t)b * T + t) * in_size + k];
                        for (int k = 0; k < H; k++) gh[r] += w[1][r * H + k] * h[k];
                    }
                    for (int j = 0; j < H; j++) {
                        double rg = sigm(gx[j] + gh[j]), z = sigm(gx[H + j] + gh[H + j]);
                        double ng = tanh(gx[2 * H + j] + rg * gh[2 * H + j]);
                        h[j] = (1 - z) * ng + z * h[j];
                        y[((size_t)b * T + t) * K * H + d * H + j] = h[j];
                    }
                }
                for (int j = 0; j < H; j++) h_n[state + j] = h[j];
            }
            for (int p = 0; p < 4; p++) free(w[p]);
        }
        in_size = K * H;
        for (size_t i = 0; i < (size_t)B * T * in_size; i++) input[i] = y[i];
    }
    free(input);
    return ok;
}

static double max_diff_fd(const float *a, const double *b, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

/* Field by field: the struct has padding before seed. */
static int same_config(const lk_gru_config *a, const lk_gru_config *b) {
    return a->input_size == b->input_size && a->hidden_size == b->hidden_size && a->num_layers == b->num_layers &&
           a->bidirectional == b->bidirectional && a->dropout == b->dropout && a->seed == b->seed;
}

static lk_gru_config gru_config(int D, int H, int L, int bidir) {
    lk_gru_config c = lk_gru_config_default();
    c.input_size = D;
    c.hidden_size = H;
    c.num_layers = L;
    c.bidirectional = bidir;
    c.seed = 11;
    return c;
}

/* ======================================================================== */
/* Groups                                                                     */
/* ======================================================================== */

static void group_gru_forward(void) {
    lk_gru_config c = lk_gru_config_default(), got;
    CHECK(c.input_size == 1 && c.hidden_size == 1 && c.num_layers == 1 && c.bidirectional == 0 && c.dropout == 0 &&
              c.seed == 0,
          "lk_gru_config_default");
    c = gru_config(3, 5, 2, 1);
    lk_gru *g = NULL;
    if (!EXPECT(lk_gru_create(&c, &g), LK_STATUS_OK)) return;
    if (EXPECT(lk_gru_get_config(g, &got), LK_STATUS_OK))
        CHECK(same_config(&got, &c), "get_config returns the config it was created with");

    enum { B = 3, T = 6, D = 3, H = 5, LK = 4 };
    rng r = {77};
    float *x = rand_floats((size_t)B * T * D, &r, 1.0f);
    float *h0 = rand_floats((size_t)LK * B * H, &r, 0.5f);
    int32_t lengths[B] = {6, 2, 4};
    float y[B * T * 2 * H], h_n[LK * B * H];
    double ry[B * T * 2 * H], rh[LK * B * H];
    for (int with_h0 = 0; with_h0 < 2; with_h0++) {
        const float *init = with_h0 ? h0 : NULL;
        if (!EXPECT(lk_gru_forward(g, x, B, T, D, (size_t)B * T * D, lengths, init, with_h0 ? (size_t)LK * B * H : 0, y,
                                   sizeof y / sizeof y[0], h_n, LK * B * H),
                    LK_STATUS_OK))
            continue;
        if (!ref_gru(g, &c, B, T, x, lengths, init, ry, rh)) continue;
        double ey = max_diff_fd(y, ry, sizeof y / sizeof y[0]), eh = max_diff_fd(h_n, rh, LK * B * H);
        CHECK(ey < 1e-5 && eh < 1e-5, "forward vs the reference (h0 %s): max |dy| %g, |dh_n| %g", with_h0 ? "given" : "zero",
              ey, eh);
        /* Padded steps output exactly 0. */
        CHECK(all_equal_to(y + ((size_t)1 * T + 2) * 2 * H, (size_t)4 * 2 * H, 0.0f), "outputs past a length are 0");
    }
    /* h_n is optional; y alone is the same. */
    float y2[B * T * 2 * H];
    if (EXPECT(lk_gru_forward(g, x, B, T, D, (size_t)B * T * D, lengths, h0, (size_t)LK * B * H, y2, sizeof y2 / sizeof y2[0],
                              NULL, 0),
               LK_STATUS_OK))
        CHECK(bits_equal(y, y2, sizeof y / sizeof y[0]), "forward without h_n gives the same y");
    free(x);
    free(h0);
    lk_gru_free(g);
    lk_gru_free(NULL);
}

static void group_gru_errors(void) {
    lk_gru_config c = gru_config(2, 3, 1, 1);
    lk_gru *g = NULL, *out = NULL;
    lk_gru_config bad = c;
    bad.hidden_size = 0;
    expect_mentions_at(lk_gru_create(&bad, &out), LK_STATUS_INVALID_ARGUMENT, "hidden_size", __LINE__, "hidden_size 0");
    bad = c;
    bad.bidirectional = 2;
    expect_mentions_at(lk_gru_create(&bad, &out), LK_STATUS_INVALID_ARGUMENT, "bidirectional", __LINE__, "bidirectional 2");
    bad = c;
    bad.dropout = NAN;
    EXPECT(lk_gru_create(&bad, &out), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_gru_create(NULL, &out), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_gru_create(&c, NULL), LK_STATUS_INVALID_ARGUMENT);
    CHECK(out == NULL, "failed creates leave *out alone");
    if (!EXPECT(lk_gru_create(&c, &g), LK_STATUS_OK)) return;

    enum { B = 2, T = 3, D = 2, S = 2 * B * 3 };
    float x[B * T * D] = {0}, y[B * T * 6], h[S], hn[S];
    fill(h, S, 0.1f);
    int32_t lengths[B] = {3, 1}, zero[B] = {3, 0}, long_[B] = {4, 1};
    const size_t xn = B * T * D, yn = B * T * 6;
    EXPECT(lk_gru_forward(NULL, x, B, T, D, xn, NULL, NULL, 0, y, yn, NULL, 0), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_gru_forward(g, NULL, B, T, D, xn, NULL, NULL, 0, y, yn, NULL, 0), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_gru_forward(g, x, B, T, D, xn, NULL, NULL, 0, NULL, yn, NULL, 0), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_gru_forward(g, x, 0, T, D, 0, NULL, NULL, 0, y, 0, NULL, 0), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_gru_forward(g, x, B, -1, D, xn, NULL, NULL, 0, y, yn, NULL, 0), LK_STATUS_INVALID_ARGUMENT);
    expect_mentions_at(lk_gru_forward(g, x, B, T, D + 1, xn, NULL, NULL, 0, y, yn, NULL, 0), LK_STATUS_INVALID_ARGUMENT,
                       "GRU", __LINE__, "input_size != D");
    EXPECT(lk_gru_forward(g, x, B, T, D, xn - 1, NULL, NULL, 0, y, yn, NULL, 0), LK_STATUS_SIZE_MISMATCH);
    EXPECT(lk_gru_forward(g, x, B, T, D, xn, NULL, NULL, 0, y, SIZE_MAX, NULL, 0), LK_STATUS_SIZE_MISMATCH);
    expect_mentions_at(lk_gru_forward(g, x, B, T, D, xn, zero, NULL, 0, y, yn, NULL, 0), LK_STATUS_INVALID_ARGUMENT,
                       "lengths[1]", __LINE__, "a length of 0");
    EXPECT(lk_gru_forward(g, x, B, T, D, xn, long_, NULL, 0, y, yn, NULL, 0), LK_STATUS_INVALID_ARGUMENT);
    expect_mentions_at(lk_gru_forward(g, x, B, T, D, xn, lengths, NULL, S, y, yn, NULL, 0), LK_STATUS_SIZE_MISMATCH,
                       "h0 is NULL", __LINE__, "state_count for a NULL h0");
    EXPECT(lk_gru_forward(g, x, B, T, D, xn, lengths, h, S - 1, y, yn, NULL, 0), LK_STATUS_SIZE_MISMATCH);
    EXPECT(lk_gru_forward(g, x, B, T, D, xn, lengths, NULL, 0, y, yn, hn, S + 1), LK_STATUS_SIZE_MISMATCH);
    expect_mentions_at(lk_gru_forward(g, x, B, T, D, xn, lengths, NULL, 0, y, yn, NULL, S), LK_STATUS_SIZE_MISMATCH,
                       "h_n is NULL", __LINE__, "state_out_count for a NULL h_n");
    x[3] = NAN;
    EXPECT(lk_gru_forward(g, x, B, T, D, xn, NULL, NULL, 0, y, yn, NULL, 0), LK_STATUS_INVALID_ARGUMENT);
    x[3] = 0;
    h[5] = INFINITY;
    EXPECT(lk_gru_forward(g, x, B, T, D, xn, NULL, h, S, y, yn, NULL, 0), LK_STATUS_INVALID_ARGUMENT);
    /* Failed calls left the outputs alone and the handle working. */
    fill(hn, S, UNTOUCHED);
    EXPECT(lk_gru_forward(g, x, B, T, D, xn, long_, NULL, 0, y, yn, hn, S), LK_STATUS_INVALID_ARGUMENT);
    CHECK(all_equal_to(hn, S, UNTOUCHED), "a failed forward leaves h_n untouched");
    EXPECT(lk_gru_forward(g, x, B, T, D, xn, lengths, NULL, 0, y, yn, hn, S), LK_STATUS_OK);
    EXPECT(lk_gru_get_config(NULL, &c), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_gru_get_config(g, NULL), LK_STATUS_INVALID_ARGUMENT);
    lk_gru_free(g);
}

static void group_gru_params_files(void) {
    lk_gru_config c = gru_config(3, 4, 2, 1);
    lk_gru *g = NULL, *loaded = NULL, *out = NULL;
    if (!EXPECT(lk_gru_create(&c, &g), LK_STATUS_OK)) return;
    int32_t count = 0, ndim = 0;
    int64_t shape[2] = {0, 0};
    const char *name = NULL;
    if (EXPECT(lk_gru_param_count(g, &count), LK_STATUS_OK)) CHECK(count == 16, "16 parameters, got %d", (int)count);
    if (EXPECT(lk_gru_param_name(g, 4, &name), LK_STATUS_OK))
        CHECK(strcmp(name, "weight_ih_l0_reverse") == 0, "parameter 4 is weight_ih_l0_reverse, got %s", name);
    EXPECT(lk_gru_param_name(g, 16, &name), LK_STATUS_INVALID_ARGUMENT);
    if (EXPECT(lk_gru_param_shape(g, "weight_ih_l1", &ndim, shape), LK_STATUS_OK))
        CHECK(ndim == 2 && shape[0] == 12 && shape[1] == 8, "weight_ih_l1 is (3H, K*H) = (12, 8)");
    if (EXPECT(lk_gru_param_shape(g, "bias_hh_l0", &ndim, shape), LK_STATUS_OK))
        CHECK(ndim == 1 && shape[0] == 12, "bias_hh_l0 is (3H) = (12)");
    expect_mentions_at(lk_gru_param_shape(g, "weight_ih_l2", &ndim, shape), LK_STATUS_NOT_FOUND, "weight_ih_l0", __LINE__,
                       "an unknown name lists the known ones");
    rng r = {5};
    float *w = rand_floats(36, &r, 0.5f), back[36];
    EXPECT(lk_gru_set_param(g, "weight_ih_l0", w, 35), LK_STATUS_SIZE_MISMATCH);
    if (EXPECT(lk_gru_set_param(g, "weight_ih_l0", w, 36), LK_STATUS_OK) &&
        EXPECT(lk_gru_get_param(g, "weight_ih_l0", back, 36), LK_STATUS_OK))
        CHECK(bits_equal(w, back, 36), "set_param then get_param round-trips");
    w[0] = NAN;
    EXPECT(lk_gru_set_param(g, "weight_ih_l0", w, 36), LK_STATUS_INVALID_ARGUMENT);
    free(w);

    char *dir = make_tmpdir("gru");
    char *path = path_join(dir, "gru.safetensors"), *lstm_path = path_join(dir, "lstm.safetensors");
    if (EXPECT(lk_gru_save(g, path), LK_STATUS_OK) && EXPECT(lk_gru_load(path, &loaded), LK_STATUS_OK)) {
        METADATA_IS(path, "kind", "gru");
        enum { B = 2, T = 4, N = B * T * 8 };
        float x[B * T * 3], y1[N], y2[N];
        int32_t lengths[B] = {4, 2};
        rng rx = {9};
        for (int i = 0; i < B * T * 3; i++) x[i] = rng_unif(&rx, 1.0f);
        if (EXPECT(lk_gru_forward(g, x, B, T, 3, sizeof x / sizeof x[0], lengths, NULL, 0, y1, N, NULL, 0), LK_STATUS_OK) &&
            EXPECT(lk_gru_forward(loaded, x, B, T, 3, sizeof x / sizeof x[0], lengths, NULL, 0, y2, N, NULL, 0), LK_STATUS_OK))
            CHECK(bits_equal(y1, y2, N), "the loaded GRU predicts bit for bit as the saved one");
        lk_gru_config got;
        if (EXPECT(lk_gru_get_config(loaded, &got), LK_STATUS_OK)) CHECK(same_config(&got, &c), "config round-trips");
    }
    /* Each raw layer refuses the other's file, naming both kinds. */
    lk_lstm *lstm = SENTINEL;
    wrong_kind_at(lk_lstm_load(path, &lstm), lstm == SENTINEL, "gru", "lstm", __LINE__, "lk_lstm_load(a GRU file)");
    if (save_small_lstm_at(lstm_path, __LINE__)) {
        out = (lk_gru *)(void *)&g_sentinel_object;
        lk_status s = lk_gru_load(lstm_path, &out);
        wrong_kind_at(s, out == (lk_gru *)(void *)&g_sentinel_object, "lstm", "gru", __LINE__, "lk_gru_load(an LSTM file)");
    }
    EXPECT(lk_gru_load(NULL, &out), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_gru_load(path, NULL), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_gru_save(NULL, path), LK_STATUS_INVALID_ARGUMENT);
    free(path);
    free(lstm_path);
    free(dir);
    lk_gru_free(loaded);
    lk_gru_free(g);
}

const test_group gru_groups[] = {
    {"gru: config, forward vs plain C reference", group_gru_forward},
    {"gru: argument errors", group_gru_errors},
    {"gru: parameters, save/load, file kinds", group_gru_params_files},
    {NULL, NULL},
};
