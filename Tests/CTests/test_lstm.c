/*
 * test_lstm.c — the LSTM, group by group:
 *   - config defaults, create with every kind of bad config, get_config, free(NULL);
 *   - forward with every kind of bad argument (status, message, outputs untouched);
 *   - parameter names, shapes, get/set and their errors;
 *   - numerical correctness against a plain C reference LSTM written below, including
 *     a bidirectional 2-layer stack with ragged lengths and initial states;
 *   - save/load round trips, the saved file's layout (docs/FORMAT.md), I/O errors;
 *   - corrupt files and hand-built model files, each with one defect; /dev/zero;
 *   - a handle shared by threads (read-only calls), and per-thread errors.
 * After every failing call the test checks that the handle still works: a forward gives
 * the same bits as before the failure.
 */
#include "harness.h"

/* ======================================================================== */
/* Small helpers                                                              */
/* ======================================================================== */

/* Largest |got - want|; a NaN anywhere counts as infinity. */
static double max_diff(const float *got, const double *want, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (isnan(d)) return INFINITY;
        if (d > m) m = d;
    }
    return m;
}

static void put_u64le(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put_f32le(unsigned char *p, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(u >> (8 * i));
}

static float get_f32le(const unsigned char *p) {
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ======================================================================== */
/* The reference LSTM: plain C, double precision, PyTorch semantics           */
/* ======================================================================== */

static const char *const k_base[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};

typedef struct {
    int D, H, L, K;
    float *p[64]; /* parameter tensors by index (l*K + k)*4 + which, PyTorch's order */
} ref_lstm;

static void param_name_of(int index, int K, char *buf, size_t cap) {
    int which = index % 4, lk = index / 4;
    snprintf(buf, cap, "%s_l%d%s", k_base[which], lk / K, lk % K ? "_reverse" : "");
}

static int ref_count(const ref_lstm *m) { return 4 * m->L * m->K; }

/* Rows and columns of parameter `index` (cols 0 for a bias). */
static void ref_dims(const ref_lstm *m, int index, int *rows, int *cols) {
    int which = index % 4, l = index / 4 / m->K;
    int in = l == 0 ? m->D : m->K * m->H;
    *rows = 4 * m->H;
    *cols = which == 0 ? in : which == 1 ? m->H : 0;
}

static size_t ref_numel(const ref_lstm *m, int index) {
    int rows, cols;
    ref_dims(m, index, &rows, &cols);
    return (size_t)rows * (size_t)(cols ? cols : 1);
}

static void ref_init(ref_lstm *m, int D, int H, int L, int K, uint64_t seed, float scale) {
    memset(m, 0, sizeof *m);
    m->D = D;
    m->H = H;
    m->L = L;
    m->K = K;
    rng r = {seed * 0x9E3779B97F4A7C15ull + 7};
    for (int i = 0; i < ref_count(m); i++) m->p[i] = rand_floats(ref_numel(m, i), &r, scale);
}

static void ref_free(ref_lstm *m) {
    for (int i = 0; i < 64; i++) free(m->p[i]);
    memset(m, 0, sizeof *m);
}

/* Copies every reference tensor into the handle by name. */
static int ref_push(const ref_lstm *m, lk_lstm *h) {
    int ok = 1;
    for (int i = 0; i < ref_count(m); i++) {
        char name[64];
        param_name_of(i, m->K, name, sizeof name);
        ok &= EXPECT(lk_lstm_set_param(h, name, m->p[i], ref_numel(m, i)), LK_STATUS_OK);
    }
    return ok;
}

static double sigmoid(double v) { return 1.0 / (1.0 + exp(-v)); }

/*
 * y (B, T, K*H); hn, cn (L*K, B, H) or NULL; h0, c0 (L*K, B, H) or NULL for zeros;
 * lengths (B) or NULL for all T. Padded steps give 0; the reverse direction of
 * sequence b runs from lengths[b]-1 down to 0.
 */
static void ref_forward(const ref_lstm *m, int B, int T, const float *x, const int32_t *lengths,
                        const float *h0, const float *c0, double *y, double *hn, double *cn) {
    int H = m->H, K = m->K;
    int in_size = m->D;
    double *in = xmalloc((size_t)B * T * in_size * sizeof(double));
    for (size_t i = 0; i < (size_t)B * T * in_size; i++) in[i] = x[i];
    double *out = xmalloc((size_t)B * T * K * H * sizeof(double));
    double *h = xmalloc((size_t)H * sizeof(double));
    double *c = xmalloc((size_t)H * sizeof(double));
    double *g = xmalloc((size_t)4 * H * sizeof(double));
    for (int l = 0; l < m->L; l++) {
        for (size_t i = 0; i < (size_t)B * T * K * H; i++) out[i] = 0.0;
        for (int k = 0; k < K; k++) {
            int base = (l * K + k) * 4;
            const float *w_ih = m->p[base], *w_hh = m->p[base + 1];
            const float *b_ih = m->p[base + 2], *b_hh = m->p[base + 3];
            for (int b = 0; b < B; b++) {
                int len = lengths ? lengths[b] : T;
                size_t s0 = ((size_t)(l * K + k) * B + b) * H;
                for (int j = 0; j < H; j++) {
                    h[j] = h0 ? h0[s0 + j] : 0.0;
                    c[j] = c0 ? c0[s0 + j] : 0.0;
                }
                for (int s = 0; s < len; s++) {
                    int t = k == 0 ? s : len - 1 - s;
                    const double *xt = in + ((size_t)b * T + t) * in_size;
                    for (int r = 0; r < 4 * H; r++) {
                        double acc = (double)b_ih[r] + (double)b_hh[r];
                        for (int j = 0; j < in_size; j++) acc += (double)w_ih[r * in_size + j] * xt[j];
                        for (int j = 0; j < H; j++) acc += (double)w_hh[r * H + j] * h[j];
                        g[r] = acc;
                    }
                    for (int j = 0; j < H; j++) {
                        double ig = sigmoid(g[j]), fg = sigmoid(g[H + j]);
                        double gg = tanh(g[2 * H + j]), og = sigmoid(g[3 * H + j]);
                        c[j] = fg * c[j] + ig * gg;
                        h[j] = og * tanh(c[j]);
                        out[((size_t)b * T + t) * K * H + (size_t)k * H + j] = h[j];
                    }
                }
                for (int j = 0; j < H; j++) {
                    if (hn) hn[s0 + j] = h[j];
                    if (cn) cn[s0 + j] = c[j];
                }
            }
        }
        free(in);
        in = xmalloc((size_t)B * T * K * H * sizeof(double));
        memcpy(in, out, (size_t)B * T * K * H * sizeof(double));
        in_size = K * H;
    }
    memcpy(y, out, (size_t)B * T * K * H * sizeof(double));
    free(in);
    free(out);
    free(h);
    free(c);
    free(g);
}

/*
 * Runs the handle and the reference on the same input and compares y, h_n, c_n.
 * Padded outputs must be exactly 0. Returns 1 if everything matched.
 */
static int compare_with_reference_at(const ref_lstm *m, lk_lstm *h, int B, int T, const float *x,
                                     const int32_t *lengths, const float *h0, const float *c0,
                                     double tol, const char *label, int line) {
    size_t yn = (size_t)B * T * m->K * m->H, sn = (size_t)m->L * m->K * B * m->H;
    float *y = xmalloc(yn * sizeof(float)), *hn = xmalloc(sn * sizeof(float)), *cn = xmalloc(sn * sizeof(float));
    double *ry = xmalloc(yn * sizeof(double)), *rhn = xmalloc(sn * sizeof(double)), *rcn = xmalloc(sn * sizeof(double));
    fill(y, yn, 777.0f);
    lk_status s = lk_lstm_forward(h, x, B, T, m->D, (size_t)B * T * m->D, lengths, h0, c0, h0 ? sn : 0,
                                  y, yn, hn, cn, sn);
    int ok = expect_at(s, LK_STATUS_OK, line, label);
    if (ok) {
        ref_forward(m, B, T, x, lengths, h0, c0, ry, rhn, rcn);
        double dy = max_diff(y, ry, yn), dh = max_diff(hn, rhn, sn), dc = max_diff(cn, rcn, sn);
        ok &= check_at(dy <= tol, line, "%s: y differs from the reference by %.3g (tolerance %.1g)", label, dy, tol);
        ok &= check_at(dh <= tol, line, "%s: h_n differs from the reference by %.3g (tolerance %.1g)", label, dh, tol);
        ok &= check_at(dc <= tol, line, "%s: c_n differs from the reference by %.3g (tolerance %.1g)", label, dc, tol);
        if (g_verbose) printf("      %s: max |diff| y %.2g, h_n %.2g, c_n %.2g\n", label, dy, dh, dc);
        int pad_ok = 1;
        for (int b = 0; b < B && lengths; b++)
            for (int t = lengths[b]; t < T; t++)
                for (int j = 0; j < m->K * m->H; j++)
                    if (y[((size_t)b * T + t) * m->K * m->H + j] != 0.0f) pad_ok = 0;
        ok &= check_at(pad_ok, line, "%s: an output at a padded step (t >= lengths[b]) is not exactly 0", label);
    }
    free(y);
    free(hn);
    free(cn);
    free(ry);
    free(rhn);
    free(rcn);
    return ok;
}
#define COMPARE_REF(m, h, B, T, x, len, h0, c0, tol, label) \
    compare_with_reference_at((m), (h), (B), (T), (x), (len), (h0), (c0), (tol), (label), __LINE__)

/* ======================================================================== */
/* Group: config, create, get_config, free                                    */
/* ======================================================================== */

static int create_fails_at(const fixture *f, lk_lstm_config cfg, lk_status want, const char *what, int line) {
    lk_lstm *h = SENTINEL;
    int ok = expect_at(lk_lstm_create(&cfg, &h), want, line, what);
    check_at(h == SENTINEL, line, "%s: *out was changed on failure", what);
    if (h != SENTINEL && h != NULL) lk_lstm_free(h);
    still_works_at(f, line);
    return ok;
}
#define CREATE_FAILS(cfg, want, what) create_fails_at(&f, (cfg), (want), (what), __LINE__)

static int config_equal(const lk_lstm_config *a, const lk_lstm_config *b) {
    return a->input_size == b->input_size && a->hidden_size == b->hidden_size && a->num_layers == b->num_layers &&
           a->bidirectional == b->bidirectional && memcmp(&a->dropout, &b->dropout, sizeof(float)) == 0 &&
           a->seed == b->seed;
}

static float *get_all_params(lk_lstm *h, size_t *total) {
    int32_t count = 0;
    if (lk_lstm_param_count(h, &count) != LK_STATUS_OK) return NULL;
    size_t n = 0;
    float *all = NULL;
    for (int32_t i = 0; i < count; i++) {
        const char *name = NULL;
        int32_t ndim = 0;
        int64_t shape[2] = {0, 0};
        if (lk_lstm_param_name(h, i, &name) != LK_STATUS_OK) break;
        if (lk_lstm_param_shape(h, name, &ndim, shape) != LK_STATUS_OK) break;
        size_t numel = (size_t)shape[0] * (size_t)(ndim == 2 ? shape[1] : 1);
        float *grown = realloc(all, (n + numel) * sizeof(float));
        if (!grown) break;
        all = grown;
        if (lk_lstm_get_param(h, name, all + n, numel) != LK_STATUS_OK) break;
        n += numel;
    }
    *total = n;
    return all;
}

static void group_config(void) {
    fixture f; /* an existing handle, checked after every failure */
    if (!fixture_init(&f, make_config(3, 4, 2, 1, 0.25f, 9), 2, 3)) {
        fixture_free(&f);
        return;
    }
    lk_lstm_config d = lk_lstm_config_default();
    CHECK(d.input_size == 1 && d.hidden_size == 1 && d.num_layers == 1 && d.bidirectional == 0 && d.dropout == 0.0f &&
              d.seed == 0,
          "lk_lstm_config_default() = {input %d, hidden %d, layers %d, bidir %d, dropout %g, seed %llu}", (int)d.input_size,
          (int)d.hidden_size, (int)d.num_layers, (int)d.bidirectional, (double)d.dropout, (unsigned long long)d.seed);

    /* The default config itself creates a valid 1x1 LSTM. */
    lk_lstm *h = NULL;
    if (EXPECT(lk_lstm_create(&d, &h), LK_STATUS_OK)) {
        int32_t count = 0;
        EXPECT(lk_lstm_param_count(h, &count), LK_STATUS_OK);
        CHECK(count == 4, "a 1-layer unidirectional LSTM has %d parameter tensors, want 4", (int)count);
        lk_lstm_free(h);
    }

    /* Every bad config is rejected, *out untouched. */
    lk_lstm *out = SENTINEL;
    EXPECT(lk_lstm_create(NULL, &out), LK_STATUS_INVALID_ARGUMENT);
    CHECK(out == SENTINEL, "create(NULL config) changed *out");
    STILL_WORKS(&f);
    lk_lstm_config good = f.cfg;
    EXPECT(lk_lstm_create(&good, NULL), LK_STATUS_INVALID_ARGUMENT);
    STILL_WORKS(&f);
    lk_lstm_config c;
    c = good; c.input_size = 0;      CREATE_FAILS(c, LK_STATUS_INVALID_ARGUMENT, "input_size 0");
    c = good; c.input_size = -1;     CREATE_FAILS(c, LK_STATUS_INVALID_ARGUMENT, "input_size -1");
    c = good; c.input_size = INT32_MIN; CREATE_FAILS(c, LK_STATUS_INVALID_ARGUMENT, "input_size INT32_MIN");
    c = good; c.hidden_size = 0;     CREATE_FAILS(c, LK_STATUS_INVALID_ARGUMENT, "hidden_size 0");
    c = good; c.hidden_size = -4;    CREATE_FAILS(c, LK_STATUS_INVALID_ARGUMENT, "hidden_size -4");
    c = good; c.num_layers = 0;      CREATE_FAILS(c, LK_STATUS_INVALID_ARGUMENT, "num_layers 0");
    c = good; c.num_layers = -2;     CREATE_FAILS(c, LK_STATUS_INVALID_ARGUMENT, "num_layers -2");
    c = good; c.bidirectional = 2;   CREATE_FAILS(c, LK_STATUS_INVALID_ARGUMENT, "bidirectional 2");
    c = good; c.bidirectional = -1;  CREATE_FAILS(c, LK_STATUS_INVALID_ARGUMENT, "bidirectional -1");
    c = good; c.dropout = NAN;       CREATE_FAILS(c, LK_STATUS_INVALID_ARGUMENT, "dropout NaN");
    c = good; c.dropout = -0.1f;     CREATE_FAILS(c, LK_STATUS_INVALID_ARGUMENT, "dropout -0.1");
    c = good; c.dropout = 1.0f;      CREATE_FAILS(c, LK_STATUS_INVALID_ARGUMENT, "dropout 1.0");
    c = good; c.dropout = 1.5f;      CREATE_FAILS(c, LK_STATUS_INVALID_ARGUMENT, "dropout 1.5");
    c = good; c.dropout = INFINITY;  CREATE_FAILS(c, LK_STATUS_INVALID_ARGUMENT, "dropout +inf");
    c = good; c.dropout = -INFINITY; CREATE_FAILS(c, LK_STATUS_INVALID_ARGUMENT, "dropout -inf");
    /* Sizes whose weights cannot exist: OUT_OF_MEMORY, not a crash or an overflow. */
    c = good; c.hidden_size = INT32_MAX;
    CREATE_FAILS(c, LK_STATUS_OUT_OF_MEMORY, "hidden_size INT32_MAX (4H*H overflows 64 bits)");
    c = good; c.input_size = INT32_MAX; c.hidden_size = INT32_MAX; c.num_layers = INT32_MAX;
    CREATE_FAILS(c, LK_STATUS_OUT_OF_MEMORY, "input, hidden and layers INT32_MAX");
    c = good; c.input_size = 1 << 30; c.hidden_size = 1024;
    CREATE_FAILS(c, LK_STATUS_OUT_OF_MEMORY, "input_size 2^30, hidden 1024 (16 TB of weights)");

    /* Valid edge values of dropout. */
    c = good; c.dropout = 0.0f;
    if (EXPECT(lk_lstm_create(&c, &h), LK_STATUS_OK)) lk_lstm_free(h);
    c = good; c.dropout = 0.999f;
    if (EXPECT(lk_lstm_create(&c, &h), LK_STATUS_OK)) lk_lstm_free(h);
    c = good; c.dropout = -0.0f;
    if (EXPECT(lk_lstm_create(&c, &h), LK_STATUS_OK)) lk_lstm_free(h);

    /* get_config returns exactly what create was given. */
    {
        lk_lstm_config got;
        memset(&got, 0, sizeof got);
        EXPECT(lk_lstm_get_config(f.m, &got), LK_STATUS_OK);
        CHECK(config_equal(&got, &good), "get_config differs from the config given to create");
        lk_lstm_config untouched = make_config(77, 77, 77, 77, 7.0f, 77);
        lk_lstm_config probe = untouched;
        EXPECT(lk_lstm_get_config(NULL, &probe), LK_STATUS_INVALID_ARGUMENT);
        CHECK(config_equal(&probe, &untouched), "get_config(NULL handle) changed *out");
        EXPECT(lk_lstm_get_config(f.m, NULL), LK_STATUS_INVALID_ARGUMENT);
        STILL_WORKS(&f);

        /* Initialisation: U(-1/sqrt(H), 1/sqrt(H)); same seed same weights, other seed other weights. */
        size_t n1 = 0, n2 = 0, n3 = 0;
        float *p1 = get_all_params(f.m, &n1);
        lk_lstm *h2 = NULL, *h3 = NULL;
        lk_lstm_config other = good;
        other.seed = good.seed + 1;
        EXPECT(lk_lstm_create(&good, &h2), LK_STATUS_OK);
        EXPECT(lk_lstm_create(&other, &h3), LK_STATUS_OK);
        float *p2 = h2 ? get_all_params(h2, &n2) : NULL;
        float *p3 = h3 ? get_all_params(h3, &n3) : NULL;
        size_t want_total = (size_t)(4 * 4) * (3 + 4 + 2) * 2 + (size_t)(4 * 4) * (8 + 4 + 2) * 2;
        CHECK(p1 && n1 == want_total, "the parameters hold %zu values, want %zu", n1, want_total);
        CHECK(p1 && p2 && n1 == n2 && bits_equal(p1, p2, n1), "two LSTMs created with the same seed have different weights");
        CHECK(p1 && p3 && n1 == n3 && !bits_equal(p1, p3, n1), "two LSTMs created with different seeds have the same weights");
        if (p1) {
            float bound = 1.0f / sqrtf(4.0f);
            size_t outside = 0, distinct_ok = 0;
            for (size_t i = 0; i < n1; i++) {
                if (!(p1[i] >= -bound && p1[i] <= bound)) outside++;
                if (i > 0 && p1[i] != p1[0]) distinct_ok = 1;
            }
            CHECK(outside == 0, "%zu initial weights lie outside [-1/sqrt(H), 1/sqrt(H)]", outside);
            CHECK(distinct_ok, "all initial weights are equal");
        }
        free(p1);
        free(p2);
        free(p3);
        lk_lstm_free(h2);
        lk_lstm_free(h3);
    }
    fixture_free(&f);

    lk_lstm_free(NULL); /* must be a no-op */
    CHECK(1, "lk_lstm_free(NULL) returned");
}

/* ======================================================================== */
/* Group: forward argument errors                                             */
/* ======================================================================== */

typedef struct {
    float *y, *hn, *cn;
    size_t ycap, scap;
} outbufs;

static void outbufs_init(outbufs *o, size_t yn, size_t sn) {
    o->ycap = yn + 64;
    o->scap = sn + 64;
    o->y = xmalloc(o->ycap * sizeof(float));
    o->hn = xmalloc(o->scap * sizeof(float));
    o->cn = xmalloc(o->scap * sizeof(float));
}

static void outbufs_free(outbufs *o) {
    free(o->y);
    free(o->hn);
    free(o->cn);
}

/* The call must fail with `want` (or, if want is -1, with any error in the set
 * INVALID_ARGUMENT / SIZE_MISMATCH / OUT_OF_MEMORY), leave every output buffer as it
 * was, and leave the handle working. */
static void fwd_fails_at(const fixture *f, const fwd_args *a, outbufs *o, int want, const char *what, int line) {
    fill(o->y, o->ycap, UNTOUCHED);
    fill(o->hn, o->scap, UNTOUCHED);
    fill(o->cn, o->scap, UNTOUCHED);
    lk_status s = fwd(a);
    if (want >= 0) {
        expect_at(s, (lk_status)want, line, what);
    } else {
        const char *msg = lk_last_error();
        check_at((s == LK_STATUS_INVALID_ARGUMENT || s == LK_STATUS_SIZE_MISMATCH || s == LK_STATUS_OUT_OF_MEMORY) &&
                     msg && msg[0],
                 line, "%s: want INVALID_ARGUMENT, SIZE_MISMATCH or OUT_OF_MEMORY with a message, got %s (\"%s\")", what,
                 status_name(s), msg ? msg : "(NULL)");
    }
    check_at(all_equal_to(o->y, o->ycap, UNTOUCHED) && all_equal_to(o->hn, o->scap, UNTOUCHED) &&
                 all_equal_to(o->cn, o->scap, UNTOUCHED),
             line, "%s: an output buffer was written by a failing forward", what);
    still_works_at(f, line);
}
#define FWD_FAILS(a, want, what) fwd_fails_at(&f, &(a), &o, (want), (what), __LINE__)

static void group_forward_errors(void) {
    fixture f;
    if (!fixture_init(&f, make_config(3, 4, 2, 1, 0.0f, 42), 3, 5)) {
        fixture_free(&f);
        return;
    }
    outbufs o;
    outbufs_init(&o, f.yn, f.sn);
    fwd_args base, a;
    fixture_args(&f, &base, o.y, o.hn, o.cn);
    const int64_t B = f.B, T = f.T, D = f.cfg.input_size;

    /* Success paths that must agree with each other. */
    a = base;
    if (EXPECT(fwd(&a), LK_STATUS_OK))
        CHECK(bits_equal(o.y, f.y, f.yn) && bits_equal(o.hn, f.hn, f.sn) && bits_equal(o.cn, f.cn, f.sn),
              "forward is not deterministic: a second identical call gave other bits");
    a = base;
    a.hn = a.cn = NULL;
    a.state_out_count = 0;
    if (EXPECT(fwd(&a), LK_STATUS_OK))
        CHECK(bits_equal(o.y, f.y, f.yn), "y changes when h_n/c_n are not requested");

    /* NULL pointers. */
    a = base; a.m = NULL;  FWD_FAILS(a, LK_STATUS_INVALID_ARGUMENT, "NULL handle");
    a = base; a.x = NULL;  FWD_FAILS(a, LK_STATUS_INVALID_ARGUMENT, "NULL x");
    a = base; a.y = NULL;  FWD_FAILS(a, LK_STATUS_INVALID_ARGUMENT, "NULL y");

    /* Batch and steps. */
    a = base; a.B = 0; a.x_count = 0; a.y_count = 0; a.state_count = 0; a.state_out_count = 0;
    FWD_FAILS(a, LK_STATUS_INVALID_ARGUMENT, "B = 0 (counts 0)");
    a = base; a.B = -1; FWD_FAILS(a, LK_STATUS_INVALID_ARGUMENT, "B = -1");
    a = base; a.B = INT64_MIN; FWD_FAILS(a, LK_STATUS_INVALID_ARGUMENT, "B = INT64_MIN");
    a = base; a.T = 0; a.x_count = 0; a.y_count = 0; a.lengths = NULL;
    FWD_FAILS(a, LK_STATUS_INVALID_ARGUMENT, "T = 0 (counts 0)");
    a = base; a.T = -1; FWD_FAILS(a, LK_STATUS_INVALID_ARGUMENT, "T = -1");

    /* input_size must equal the model's D (buffers sized for the claimed D). */
    float *xbig = NULL;
    {
        rng r = {99};
        xbig = rand_floats((size_t)(B * T * (D + 1)) + 64, &r, 1.0f);
    }
    a = base; a.x = xbig; a.D = D + 1; a.x_count = (size_t)(B * T * (D + 1));
    FWD_FAILS(a, LK_STATUS_INVALID_ARGUMENT, "input_size D+1 (count consistent)");
    a = base; a.x = xbig; a.D = D - 1; a.x_count = (size_t)(B * T * (D - 1));
    FWD_FAILS(a, LK_STATUS_INVALID_ARGUMENT, "input_size D-1 (count consistent)");
    a = base; a.D = 0; a.x_count = 0; FWD_FAILS(a, LK_STATUS_INVALID_ARGUMENT, "input_size 0");
    a = base; a.D = -3; FWD_FAILS(a, LK_STATUS_INVALID_ARGUMENT, "input_size -3");

    /* Counts that do not match the dims. */
    a = base; a.x = xbig; a.x_count = f.xn + 1; FWD_FAILS(a, LK_STATUS_SIZE_MISMATCH, "x_count + 1");
    a = base; a.x_count = f.xn - 1; FWD_FAILS(a, LK_STATUS_SIZE_MISMATCH, "x_count - 1");
    a = base; a.x_count = 0; FWD_FAILS(a, LK_STATUS_SIZE_MISMATCH, "x_count 0");
    a = base; a.x_count = SIZE_MAX; FWD_FAILS(a, LK_STATUS_SIZE_MISMATCH, "x_count SIZE_MAX");
    a = base; a.y_count = f.yn + 1; FWD_FAILS(a, LK_STATUS_SIZE_MISMATCH, "y_count + 1");
    a = base; a.y_count = f.yn - 1; FWD_FAILS(a, LK_STATUS_SIZE_MISMATCH, "y_count - 1");
    a = base; a.y_count = f.yn / 2; FWD_FAILS(a, LK_STATUS_SIZE_MISMATCH, "y_count for one direction only");
    a = base; a.state_count = f.sn + 1; FWD_FAILS(a, LK_STATUS_SIZE_MISMATCH, "state_count + 1");
    a = base; a.state_count = f.sn - 1; FWD_FAILS(a, LK_STATUS_SIZE_MISMATCH, "state_count - 1");
    a = base; a.state_count = 0; FWD_FAILS(a, LK_STATUS_SIZE_MISMATCH, "state_count 0 with h0/c0 given");
    a = base; a.h0 = a.c0 = NULL; FWD_FAILS(a, LK_STATUS_SIZE_MISMATCH, "state_count non-zero with h0/c0 NULL");
    a = base; a.state_out_count = f.sn + 1; FWD_FAILS(a, LK_STATUS_SIZE_MISMATCH, "state_out_count + 1");
    a = base; a.state_out_count = f.sn - 1; FWD_FAILS(a, LK_STATUS_SIZE_MISMATCH, "state_out_count - 1");
    a = base; a.state_out_count = 0; FWD_FAILS(a, LK_STATUS_SIZE_MISMATCH, "state_out_count 0 with h_n/c_n given");
    a = base; a.hn = a.cn = NULL; FWD_FAILS(a, LK_STATUS_SIZE_MISMATCH, "state_out_count non-zero with h_n/c_n NULL");

    /* States come in pairs. */
    a = base; a.c0 = NULL; FWD_FAILS(a, LK_STATUS_INVALID_ARGUMENT, "h0 given, c0 NULL");
    a = base; a.h0 = NULL; FWD_FAILS(a, LK_STATUS_INVALID_ARGUMENT, "c0 given, h0 NULL");
    a = base; a.cn = NULL; FWD_FAILS(a, LK_STATUS_INVALID_ARGUMENT, "h_n given, c_n NULL");
    a = base; a.hn = NULL; FWD_FAILS(a, LK_STATUS_INVALID_ARGUMENT, "c_n given, h_n NULL");

    /* Lengths out of range. */
    int32_t *len = xmalloc((size_t)B * sizeof(int32_t));
    const int32_t bad_len[] = {0, -1, (int32_t)T + 1, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof bad_len / sizeof bad_len[0]; i++) {
        char what[64];
        memcpy(len, f.len, (size_t)B * sizeof(int32_t));
        len[1] = bad_len[i];
        snprintf(what, sizeof what, "lengths[1] = %d (T = %d)", (int)bad_len[i], (int)T);
        a = base; a.lengths = len; FWD_FAILS(a, LK_STATUS_INVALID_ARGUMENT, what);
    }

    /* NaN and infinity in x, h0, c0. */
    float *xb = copy_floats(f.x, f.xn), *hb = copy_floats(f.h0, f.sn), *cb = copy_floats(f.c0, f.sn);
    struct {
        float *buf;
        const float *orig;
        size_t n, at;
        float v;
        const char *what;
    } poison[] = {
        {xb, f.x, f.xn, 0, NAN, "NaN in x[0]"},
        {xb, f.x, f.xn, f.xn - 1, NAN, "NaN in the last element of x"},
        {xb, f.x, f.xn, f.xn / 2, INFINITY, "+inf in x"},
        {xb, f.x, f.xn, 1, -INFINITY, "-inf in x"},
        {hb, f.h0, f.sn, 0, NAN, "NaN in h0"},
        {hb, f.h0, f.sn, f.sn - 1, INFINITY, "+inf in the last element of h0"},
        {cb, f.c0, f.sn, f.sn / 2, NAN, "NaN in c0"},
        {cb, f.c0, f.sn, f.sn - 1, -INFINITY, "-inf in the last element of c0"},
    };
    for (size_t i = 0; i < sizeof poison / sizeof poison[0]; i++) {
        memcpy(xb, f.x, f.xn * sizeof(float));
        memcpy(hb, f.h0, f.sn * sizeof(float));
        memcpy(cb, f.c0, f.sn * sizeof(float));
        poison[i].buf[poison[i].at] = poison[i].v;
        a = base; a.x = xb; a.h0 = hb; a.c0 = cb;
        FWD_FAILS(a, LK_STATUS_INVALID_ARGUMENT, poison[i].what);
    }
    /* Without lengths too (the all-T path). */
    memcpy(xb, f.x, f.xn * sizeof(float));
    xb[f.xn - 1] = NAN;
    a = base; a.x = xb; a.lengths = NULL; FWD_FAILS(a, LK_STATUS_INVALID_ARGUMENT, "NaN in x, lengths NULL");

    /* Dims whose products overflow must be rejected before any memory is touched. */
    a = base; a.B = INT64_MAX; a.T = 2; FWD_FAILS(a, -1, "B = INT64_MAX, T = 2");
    a = base; a.B = (int64_t)1 << 33; a.T = (int64_t)1 << 33; a.lengths = NULL;
    FWD_FAILS(a, -1, "B = T = 2^33 (B*T*D overflows)");
    a = base; a.T = INT64_MAX; a.lengths = NULL; FWD_FAILS(a, -1, "T = INT64_MAX");

    free(len);
    free(xb);
    free(hb);
    free(cb);
    free(xbig);
    outbufs_free(&o);
    fixture_free(&f);
}

/* ======================================================================== */
/* Group: parameters                                                          */
/* ======================================================================== */

static void group_params(void) {
    fixture f;
    if (!fixture_init(&f, make_config(3, 4, 2, 1, 0.0f, 11), 3, 5)) {
        fixture_free(&f);
        return;
    }
    ref_lstm shape_ref; /* only for names and dims */
    memset(&shape_ref, 0, sizeof shape_ref);
    shape_ref.D = 3;
    shape_ref.H = 4;
    shape_ref.L = 2;
    shape_ref.K = 2;

    int32_t count = -7;
    EXPECT(lk_lstm_param_count(f.m, &count), LK_STATUS_OK);
    CHECK(count == 16, "param_count = %d, want 4*L*K = 16", (int)count);
    int32_t probe = -7;
    EXPECT(lk_lstm_param_count(NULL, &probe), LK_STATUS_INVALID_ARGUMENT);
    CHECK(probe == -7, "param_count(NULL handle) changed *count");
    EXPECT(lk_lstm_param_count(f.m, NULL), LK_STATUS_INVALID_ARGUMENT);
    STILL_WORKS(&f);

    /* Names in PyTorch's order, shapes, and the name pointers' lifetime. */
    const char *names[16] = {0};
    for (int i = 0; i < 16 && i < count; i++) {
        char want[64];
        param_name_of(i, 2, want, sizeof want);
        const char *name = NULL;
        if (!EXPECT(lk_lstm_param_name(f.m, i, &name), LK_STATUS_OK)) continue;
        names[i] = name;
        CHECK(name && strcmp(name, want) == 0, "param_name(%d) = \"%s\", want \"%s\"", i, name ? name : "(NULL)", want);
        int32_t ndim = -1;
        int64_t shape[2] = {-1, -1};
        if (!EXPECT(lk_lstm_param_shape(f.m, want, &ndim, shape), LK_STATUS_OK)) continue;
        int rows, cols;
        ref_dims(&shape_ref, i, &rows, &cols);
        if (cols)
            CHECK(ndim == 2 && shape[0] == rows && shape[1] == cols, "shape of %s = ndim %d (%lld, %lld), want (%d, %d)", want,
                  (int)ndim, (long long)shape[0], (long long)shape[1], rows, cols);
        else
            CHECK(ndim == 1 && shape[0] == rows, "shape of %s = ndim %d (%lld), want (%d)", want, (int)ndim,
                  (long long)shape[0], rows);
    }
    const int32_t bad_index[] = {-1, 16, 17, INT32_MAX, INT32_MIN};
    for (size_t i = 0; i < sizeof bad_index / sizeof bad_index[0]; i++) {
        const char *name = "untouched";
        char what[64];
        snprintf(what, sizeof what, "param_name(index %d)", (int)bad_index[i]);
        expect_at(lk_lstm_param_name(f.m, bad_index[i], &name), LK_STATUS_INVALID_ARGUMENT, __LINE__, what);
        CHECK(strcmp(name, "untouched") == 0, "%s changed *name on failure", what);
    }
    {
        const char *name = "untouched";
        EXPECT(lk_lstm_param_name(NULL, 0, &name), LK_STATUS_INVALID_ARGUMENT);
        CHECK(strcmp(name, "untouched") == 0, "param_name(NULL handle) changed *name");
        EXPECT(lk_lstm_param_name(f.m, 0, NULL), LK_STATUS_INVALID_ARGUMENT);
        STILL_WORKS(&f);
    }

    /* Unknown names: NOT_FOUND; NULL pointers: INVALID_ARGUMENT; outputs untouched. */
    const char *unknown[] = {"", "bogus", "weight_ih_l2", "weight_ih_l", "Weight_ih_l0", "weight_ih_l0 ", " weight_ih_l0",
                             "weight_ih_l0_reverse_reverse", "weight_ih_l0_rev", "weight_ih_l00", "bias_l0", "weight_ih_l-1",
                             "weight_ih_l0\n"};
    float *buf = xmalloc(64 * sizeof(float));
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        char what[96];
        int32_t ndim = -5;
        int64_t shape[2] = {-5, -5};
        snprintf(what, sizeof what, "param_shape(\"%s\")", unknown[i]);
        expect_at(lk_lstm_param_shape(f.m, unknown[i], &ndim, shape), LK_STATUS_NOT_FOUND, __LINE__, what);
        CHECK(ndim == -5 && shape[0] == -5 && shape[1] == -5, "%s changed its outputs on failure", what);
        snprintf(what, sizeof what, "get_param(\"%s\")", unknown[i]);
        fill(buf, 64, UNTOUCHED);
        expect_at(lk_lstm_get_param(f.m, unknown[i], buf, 16), LK_STATUS_NOT_FOUND, __LINE__, what);
        CHECK(all_equal_to(buf, 64, UNTOUCHED), "%s wrote to out on failure", what);
        snprintf(what, sizeof what, "set_param(\"%s\")", unknown[i]);
        fill(buf, 64, 0.5f);
        expect_at(lk_lstm_set_param(f.m, unknown[i], buf, 16), LK_STATUS_NOT_FOUND, __LINE__, what);
        STILL_WORKS(&f);
    }
    {
        int32_t ndim = 0;
        int64_t shape[2];
        EXPECT(lk_lstm_param_shape(f.m, NULL, &ndim, shape), LK_STATUS_INVALID_ARGUMENT);
        EXPECT(lk_lstm_param_shape(f.m, "weight_ih_l0", NULL, shape), LK_STATUS_INVALID_ARGUMENT);
        EXPECT(lk_lstm_param_shape(f.m, "weight_ih_l0", &ndim, NULL), LK_STATUS_INVALID_ARGUMENT);
        EXPECT(lk_lstm_param_shape(NULL, "weight_ih_l0", &ndim, shape), LK_STATUS_INVALID_ARGUMENT);
        /* A unidirectional model has no _reverse tensors. */
        lk_lstm *uni = NULL;
        lk_lstm_config uc = make_config(3, 4, 2, 0, 0.0f, 1);
        if (EXPECT(lk_lstm_create(&uc, &uni), LK_STATUS_OK)) {
            EXPECT(lk_lstm_param_shape(uni, "weight_ih_l0_reverse", &ndim, shape), LK_STATUS_NOT_FOUND);
            int32_t uc_count = 0;
            EXPECT(lk_lstm_param_count(uni, &uc_count), LK_STATUS_OK);
            CHECK(uc_count == 8, "a 2-layer unidirectional LSTM has %d tensors, want 8", (int)uc_count);
            lk_lstm_free(uni);
        }
        STILL_WORKS(&f);
    }

    /* get_param / set_param: counts, NULLs, non-finite values; the parameter is unchanged after a failure. */
    const char *pn = "weight_hh_l1_reverse"; /* (16, 4) */
    const size_t pcount = 64;
    float *orig = xmalloc(pcount * sizeof(float));
    EXPECT(lk_lstm_get_param(f.m, pn, orig, pcount), LK_STATUS_OK);
    float *out = xmalloc((pcount + 8) * sizeof(float));
    const size_t bad_counts[] = {pcount - 1, pcount + 1, 0, 16, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad_counts / sizeof bad_counts[0]; i++) {
        char what[96];
        snprintf(what, sizeof what, "get_param(%s, count %zu)", pn, bad_counts[i]);
        fill(out, pcount + 8, UNTOUCHED);
        expect_at(lk_lstm_get_param(f.m, pn, out, bad_counts[i]), LK_STATUS_SIZE_MISMATCH, __LINE__, what);
        CHECK(all_equal_to(out, pcount + 8, UNTOUCHED), "%s wrote to out on failure", what);
        snprintf(what, sizeof what, "set_param(%s, count %zu)", pn, bad_counts[i]);
        fill(out, pcount + 8, 0.25f);
        expect_at(lk_lstm_set_param(f.m, pn, out, bad_counts[i]), LK_STATUS_SIZE_MISMATCH, __LINE__, what);
        STILL_WORKS(&f);
    }
    EXPECT(lk_lstm_get_param(f.m, pn, NULL, pcount), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_lstm_get_param(f.m, NULL, out, pcount), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_lstm_get_param(NULL, pn, out, pcount), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_lstm_set_param(f.m, pn, NULL, pcount), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_lstm_set_param(f.m, NULL, orig, pcount), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_lstm_set_param(NULL, pn, orig, pcount), LK_STATUS_INVALID_ARGUMENT);
    STILL_WORKS(&f);
    const struct {
        size_t at;
        float v;
        const char *what;
    } poison[] = {{0, NAN, "NaN in values[0]"},
                  {63, NAN, "NaN in the last value"},
                  {10, INFINITY, "+inf in values"},
                  {63, -INFINITY, "-inf in the last value"}};
    for (size_t i = 0; i < sizeof poison / sizeof poison[0]; i++) {
        memcpy(out, orig, pcount * sizeof(float));
        for (size_t j = 0; j < poison[i].at; j++) out[j] = 0.125f; /* would change the tensor if accepted */
        out[poison[i].at] = poison[i].v;
        expect_at(lk_lstm_set_param(f.m, pn, out, pcount), LK_STATUS_INVALID_ARGUMENT, __LINE__, poison[i].what);
        float *now = xmalloc(pcount * sizeof(float));
        EXPECT(lk_lstm_get_param(f.m, pn, now, pcount), LK_STATUS_OK);
        CHECK(bits_equal(now, orig, pcount), "set_param with %s changed the parameter", poison[i].what);
        free(now);
        STILL_WORKS(&f);
    }

    /* set then get returns the same bits (also -0, subnormals, extremes); outputs change and come back. */
    float *vals = xmalloc(pcount * sizeof(float));
    {
        rng r = {2024};
        for (size_t i = 0; i < pcount; i++) vals[i] = rng_unif(&r, 0.3f);
        vals[0] = -0.0f;
        vals[1] = FLT_MIN / 4.0f; /* subnormal */
        vals[2] = FLT_MAX;
        vals[3] = -FLT_MAX;
        vals[4] = FLT_MIN;
    }
    EXPECT(lk_lstm_set_param(f.m, pn, vals, pcount), LK_STATUS_OK);
    fill(out, pcount + 8, UNTOUCHED);
    EXPECT(lk_lstm_get_param(f.m, pn, out, pcount), LK_STATUS_OK);
    CHECK(bits_equal(out, vals, pcount), "get_param after set_param returned other bits");
    CHECK(all_equal_to(out + pcount, 8, UNTOUCHED), "get_param wrote past count");
    for (size_t i = 0; i < 5; i++) vals[i] = 0.1f * (float)i; /* finite, modest */
    EXPECT(lk_lstm_set_param(f.m, pn, vals, pcount), LK_STATUS_OK);
    {
        float *y = xmalloc(f.yn * sizeof(float));
        fwd_args a;
        fixture_args(&f, &a, y, NULL, NULL);
        a.state_out_count = 0;
        EXPECT(fwd(&a), LK_STATUS_OK);
        CHECK(!bits_equal(y, f.y, f.yn), "changing %s did not change the output", pn);
        free(y);
    }
    EXPECT(lk_lstm_set_param(f.m, pn, orig, pcount), LK_STATUS_OK);
    STILL_WORKS(&f); /* restoring the tensor restores the exact outputs */

    /* Name pointers are still valid and unchanged after other calls. */
    for (int i = 0; i < 16; i++) {
        char want[64];
        param_name_of(i, 2, want, sizeof want);
        CHECK(names[i] && strcmp(names[i], want) == 0, "the name pointer of parameter %d changed or died after other calls", i);
    }

    free(vals);
    free(buf);
    free(orig);
    free(out);
    fixture_free(&f);
}

/* ======================================================================== */
/* Group: correctness against the reference                                   */
/* ======================================================================== */

/* The tiny LSTM of the brief: D=3, H=2, one layer, weights set by name to fixed values. */
static void tiny_values(ref_lstm *m) {
    memset(m, 0, sizeof *m);
    m->D = 3;
    m->H = 2;
    m->L = 1;
    m->K = 1;
    for (int i = 0; i < 4; i++) m->p[i] = xmalloc(ref_numel(m, i) * sizeof(float));
    for (int r = 0; r < 8; r++) {
        for (int j = 0; j < 3; j++) m->p[0][r * 3 + j] = 0.05f * (float)((r * 7 + j * 3) % 11 - 5);
        for (int j = 0; j < 2; j++) m->p[1][r * 2 + j] = 0.1f * (float)((r * 5 + j * 2) % 9 - 4);
        m->p[2][r] = 0.1f * (float)(r % 5 - 2);
        m->p[3][r] = 0.05f * (float)((r * 3) % 7 - 3);
    }
}

static lk_lstm *create_with(const ref_lstm *m, float dropout) {
    lk_lstm_config cfg = make_config(m->D, m->H, m->L, m->K == 2, dropout, 1234);
    lk_lstm *h = NULL;
    if (!EXPECT(lk_lstm_create(&cfg, &h), LK_STATUS_OK)) return NULL;
    if (!ref_push(m, h)) {
        lk_lstm_free(h);
        return NULL;
    }
    return h;
}

static void group_correctness(void) {
    /* 1. The reference itself against hand arithmetic: zero weights, h0 = 0, c0 = 1:
     *    i = f = o = 1/2, g = 0, so c = 1/2 and h = tanh(1/2) / 2. */
    ref_lstm z;
    memset(&z, 0, sizeof z);
    z.D = 3;
    z.H = 2;
    z.L = 1;
    z.K = 1;
    for (int i = 0; i < 4; i++) z.p[i] = xcalloc(ref_numel(&z, i), sizeof(float));
    const float x1[3] = {0.3f, -0.7f, 0.9f}, h0z[2] = {0, 0}, c0z[2] = {1, 1};
    double ry[2], rh[2], rc[2];
    ref_forward(&z, 1, 1, x1, NULL, h0z, c0z, ry, rh, rc);
    const double h_exact = 0.5 * tanh(0.5); /* 0.23105857863000487 */
    CHECK(fabs(ry[0] - 0.2310585786300049) < 1e-12 && fabs(rc[0] - 0.5) < 1e-15 && ry[1] == ry[0] && rh[0] == ry[0],
          "the reference LSTM disagrees with hand arithmetic (h %.17g, c %.17g)", ry[0], rc[0]);
    lk_lstm *hz = create_with(&z, 0.0f);
    if (hz) {
        float y[2] = {0}, hn[2] = {0}, cn[2] = {0};
        if (EXPECT(lk_lstm_forward(hz, x1, 1, 1, 3, 3, NULL, h0z, c0z, 2, y, 2, hn, cn, 2), LK_STATUS_OK))
            CHECK(fabs(y[0] - h_exact) < 1e-6 && fabs(y[1] - h_exact) < 1e-6 && fabs(cn[0] - 0.5) < 1e-6 &&
                      fabs(cn[1] - 0.5) < 1e-6 && hn[0] == y[0] && hn[1] == y[1],
                  "zero weights, c0 = 1: y = (%.9g, %.9g), c_n = (%.9g, %.9g); want y = %.9g, c_n = 0.5", (double)y[0],
                  (double)y[1], (double)cn[0], (double)cn[1], h_exact);
        lk_lstm_free(hz);
    }
    ref_free(&z);

    /* 2. Tiny LSTM, D=3, H=2, weights set by name to fixed values. */
    ref_lstm t;
    tiny_values(&t);
    lk_lstm *ht = create_with(&t, 0.0f);
    if (ht) {
        float x[2 * 4 * 3], h0[2 * 2], c0[2 * 2];
        for (int i = 0; i < 24; i++) x[i] = sinf(0.7f * (float)i + 0.1f);
        for (int i = 0; i < 4; i++) {
            h0[i] = 0.2f * (float)(i - 1);
            c0[i] = -0.3f + 0.25f * (float)i;
        }
        const int32_t len[2] = {4, 2};
        COMPARE_REF(&t, ht, 2, 4, x, NULL, NULL, NULL, 1e-5, "tiny LSTM, zero initial state");
        COMPARE_REF(&t, ht, 2, 4, x, NULL, h0, c0, 1e-5, "tiny LSTM, given h0/c0");
        COMPARE_REF(&t, ht, 2, 4, x, len, h0, c0, 1e-5, "tiny LSTM, lengths {4, 2}");
        COMPARE_REF(&t, ht, 1, 1, x, NULL, NULL, NULL, 1e-5, "tiny LSTM, B = T = 1");
        lk_lstm_free(ht);
    }
    ref_free(&t);

    /* 3. Bidirectional, 2 layers, ragged lengths, with and without initial states. */
    ref_lstm bi;
    ref_init(&bi, 3, 2, 2, 2, 77, 0.7f);
    lk_lstm *hb = create_with(&bi, 0.0f);
    if (hb) {
        const int B = 4, T = 5;
        rng r = {31337};
        float *x = rand_floats((size_t)B * T * 3, &r, 1.0f);
        float *h0 = rand_floats((size_t)2 * 2 * B * 2, &r, 0.6f), *c0 = rand_floats((size_t)2 * 2 * B * 2, &r, 0.6f);
        const int32_t len[4] = {5, 3, 1, 4};
        const int32_t full[4] = {5, 5, 5, 5};
        COMPARE_REF(&bi, hb, B, T, x, len, NULL, NULL, 1e-5, "BiLSTM L=2, lengths {5,3,1,4}, zero state");
        COMPARE_REF(&bi, hb, B, T, x, len, h0, c0, 1e-5, "BiLSTM L=2, lengths {5,3,1,4}, given h0/c0");
        COMPARE_REF(&bi, hb, B, T, x, full, h0, c0, 1e-5, "BiLSTM L=2, all lengths T");
        COMPARE_REF(&bi, hb, B, T, x, NULL, h0, c0, 1e-5, "BiLSTM L=2, lengths NULL");

        /* Each sequence run alone (T = its length) gives what it gave inside the ragged batch:
         * the reverse direction starts at the sequence's own last step. */
        const size_t yn = (size_t)B * T * 4, sn = (size_t)4 * B * 2;
        float *y = xmalloc(yn * sizeof(float)), *hn = xmalloc(sn * sizeof(float)), *cn = xmalloc(sn * sizeof(float));
        if (EXPECT(lk_lstm_forward(hb, x, B, T, 3, (size_t)B * T * 3, len, h0, c0, sn, y, yn, hn, cn, sn), LK_STATUS_OK)) {
            for (int b = 0; b < B; b++) {
                int L1 = len[b];
                float ys[5 * 4], hs[4 * 2], cs[4 * 2], h0s[4 * 2], c0s[4 * 2];
                for (int s = 0; s < 4; s++)
                    for (int j = 0; j < 2; j++) {
                        h0s[s * 2 + j] = h0[((size_t)s * B + b) * 2 + j];
                        c0s[s * 2 + j] = c0[((size_t)s * B + b) * 2 + j];
                    }
                if (!EXPECT(lk_lstm_forward(hb, x + (size_t)b * T * 3, 1, L1, 3, (size_t)L1 * 3, NULL, h0s, c0s, 8, ys,
                                            (size_t)L1 * 4, hs, cs, 8),
                            LK_STATUS_OK))
                    continue;
                double d = max_diff_ff(ys, y + (size_t)b * T * 4, (size_t)L1 * 4);
                double ds = 0;
                for (int s = 0; s < 4; s++) {
                    double d1 = max_diff_ff(hs + s * 2, hn + ((size_t)s * B + b) * 2, 2);
                    double d2 = max_diff_ff(cs + s * 2, cn + ((size_t)s * B + b) * 2, 2);
                    if (d1 > ds) ds = d1;
                    if (d2 > ds) ds = d2;
                }
                CHECK(d <= 1e-6 && ds <= 1e-6, "sequence %d (length %d) alone differs from the batch: y by %.3g, states by %.3g",
                      b, L1, d, ds);
            }
        }
        free(y);
        free(hn);
        free(cn);
        free(x);
        free(h0);
        free(c0);
        lk_lstm_free(hb);
    }
    ref_free(&bi);

    /* 4. Larger stacks, bidirectional and not. */
    {
        ref_lstm big;
        ref_init(&big, 5, 7, 3, 2, 5, 0.5f);
        lk_lstm *h = create_with(&big, 0.0f);
        if (h) {
            rng r = {4242};
            float *x = rand_floats(4 * 9 * 5, &r, 1.0f);
            float *h0 = rand_floats(3 * 2 * 4 * 7, &r, 0.5f), *c0 = rand_floats(3 * 2 * 4 * 7, &r, 0.5f);
            const int32_t len[4] = {9, 1, 6, 4};
            COMPARE_REF(&big, h, 4, 9, x, len, h0, c0, 2e-5, "BiLSTM D=5 H=7 L=3, ragged, given state");
            free(x);
            free(h0);
            free(c0);
            lk_lstm_free(h);
        }
        ref_free(&big);
    }
    {
        ref_lstm uni;
        ref_init(&uni, 4, 3, 2, 1, 6, 0.6f);
        lk_lstm *h = create_with(&uni, 0.0f);
        if (h) {
            rng r = {99};
            float *x = rand_floats(2 * 6 * 4, &r, 1.0f);
            float *h0 = rand_floats(2 * 2 * 3, &r, 0.5f), *c0 = rand_floats(2 * 2 * 3, &r, 0.5f);
            const int32_t len[2] = {6, 3};
            COMPARE_REF(&uni, h, 2, 6, x, len, h0, c0, 1e-5, "LSTM D=4 H=3 L=2, lengths {6, 3}");
            COMPARE_REF(&uni, h, 2, 6, x, NULL, NULL, NULL, 1e-5, "LSTM D=4 H=3 L=2, no lengths, zero state");
            free(x);
            free(h0);
            free(c0);
            lk_lstm_free(h);
        }
        ref_free(&uni);
    }

    /* 5. Determinism, and dropout has no effect at inference. */
    {
        ref_lstm m;
        ref_init(&m, 6, 5, 2, 2, 8, 0.5f);
        lk_lstm *h0m = create_with(&m, 0.0f), *h5 = create_with(&m, 0.5f);
        if (h0m && h5) {
            rng r = {7};
            const int B = 3, T = 7;
            const size_t yn = (size_t)B * T * 10;
            float *x = rand_floats((size_t)B * T * 6, &r, 1.0f);
            float *y1 = xmalloc(yn * sizeof(float)), *y2 = xmalloc(yn * sizeof(float)), *y3 = xmalloc(yn * sizeof(float));
            const int32_t len[3] = {7, 2, 5};
            EXPECT(lk_lstm_forward(h0m, x, B, T, 6, (size_t)B * T * 6, len, NULL, NULL, 0, y1, yn, NULL, NULL, 0), LK_STATUS_OK);
            int same = 1;
            for (int rep = 0; rep < 5; rep++) {
                EXPECT(lk_lstm_forward(h0m, x, B, T, 6, (size_t)B * T * 6, len, NULL, NULL, 0, y2, yn, NULL, NULL, 0),
                       LK_STATUS_OK);
                same &= bits_equal(y1, y2, yn);
            }
            CHECK(same, "repeated forwards gave different bits");
            EXPECT(lk_lstm_forward(h5, x, B, T, 6, (size_t)B * T * 6, len, NULL, NULL, 0, y3, yn, NULL, NULL, 0), LK_STATUS_OK);
            CHECK(bits_equal(y1, y3, yn), "a model with dropout 0.5 gives other outputs at inference than dropout 0");
            free(x);
            free(y1);
            free(y2);
            free(y3);
        }
        lk_lstm_free(h0m);
        lk_lstm_free(h5);
        ref_free(&m);
    }
}

/* ======================================================================== */
/* Model files: building and inspecting                                       */
/* ======================================================================== */

static int save_expect_at(const lk_lstm *h, const char *path, lk_status want, const char *what, int line) {
    return expect_at(lk_lstm_save(h, path), want, line, what);
}

/* Loading must fail with `want`, leave *out untouched and (if given) the fixture working. */
static int load_fails_at(const char *path, lk_status want, const char *what, const fixture *f, int line) {
    lk_lstm *out = SENTINEL;
    int ok = expect_at(lk_lstm_load(path, &out), want, line, what);
    check_at(out == SENTINEL, line, "%s: *out was changed by a failing load", what);
    if (out != SENTINEL && out != NULL) lk_lstm_free(out);
    if (f) still_works_at(f, line);
    return ok;
}
#define LOAD_FAILS(path, want, what, f) load_fails_at((path), (want), (what), (f), __LINE__)

/* A copy of the flat JSON object `obj` with the value of "key" replaced by raw JSON text. */
static char *json_replace(const char *obj, const char *key, const char *raw) {
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(obj, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ' || *p == '\n' || *p == '\t') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ' || *p == '\n' || *p == '\t') p++;
    const char *v = p, *e = p;
    if (*e == '"') {
        for (e++; *e && *e != '"'; e++)
            if (*e == '\\' && e[1]) e++;
        if (*e) e++;
    } else {
        while (*e && *e != ',' && *e != '}' && *e != ' ' && *e != '\n') e++;
    }
    size_t n = (size_t)(v - obj) + strlen(raw) + strlen(e) + 1;
    char *out = xmalloc(n);
    memcpy(out, obj, (size_t)(v - obj));
    strcpy(out + (v - obj), raw);
    strcat(out, e);
    return out;
}

/* Whether a flat JSON object maps strings to strings only (what safetensors requires of __metadata__). */
static int json_all_string_values(const char *obj) {
    const char *p = obj;
#define SKIP_WS() while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++
#define SKIP_STR()                                        \
    do {                                                  \
        if (*p != '"') return 0;                          \
        for (p++; *p && *p != '"'; p++)                   \
            if (*p == '\\' && p[1]) p++;                  \
        if (*p != '"') return 0;                          \
        p++;                                              \
    } while (0)
    SKIP_WS();
    if (*p != '{') return 0;
    p++;
    SKIP_WS();
    if (*p == '}') return 1;
    for (;;) {
        SKIP_WS();
        SKIP_STR();
        SKIP_WS();
        if (*p != ':') return 0;
        p++;
        SKIP_WS();
        SKIP_STR();
        SKIP_WS();
        if (*p == ',') {
            p++;
            continue;
        }
        return *p == '}';
    }
#undef SKIP_WS
#undef SKIP_STR
}

/* One tensor entry of a safetensors header, parsed leniently. */
typedef struct {
    char dtype[16];
    int ndim;
    long long shape[4];
    long long off[2];
} tensor_entry;

static int header_tensor(const char *hdr, const char *name, tensor_entry *t) {
    char *obj = json_object_of(hdr, name);
    if (!obj) return 0;
    memset(t, 0, sizeof *t);
    int ok = json_string_of(obj, "dtype", t->dtype, sizeof t->dtype);
    const char *s = strstr(obj, "\"shape\"");
    if (s && (s = strchr(s, '['))) {
        s++;
        while (*s && *s != ']' && t->ndim < 4) {
            char *end;
            long long v = strtoll(s, &end, 10);
            if (end == s) break;
            t->shape[t->ndim++] = v;
            s = end;
            while (*s == ' ' || *s == ',') s++;
        }
    } else {
        ok = 0;
    }
    const char *o = strstr(obj, "\"data_offsets\"");
    if (o && (o = strchr(o, '['))) {
        char *end;
        t->off[0] = strtoll(o + 1, &end, 10);
        while (*end == ' ' || *end == ',') end++;
        t->off[1] = strtoll(end, NULL, 10);
    } else {
        ok = 0;
    }
    free(obj);
    return ok;
}

typedef struct {
    char name[48];
    char dtype[8];
    char shape[48]; /* JSON array text */
    long long start, end;
    const float *vals;
    size_t n;
} tspec;

/* Writes a safetensors file: 8-byte little-endian N, N bytes of JSON (padded with spaces
 * to a multiple of 8), then data_len bytes where each tensor's values sit at its start. */
static int write_st(const char *path, const char *meta, int meta_last, int pretty, const tspec *ts, int n, size_t data_len) {
    size_t cap = 256 + (meta ? strlen(meta) : 0) + (size_t)n * 256;
    char *hdr = xmalloc(cap);
    const char *sep = pretty ? ",\n  " : ",";
    size_t len = (size_t)sprintf(hdr, "{%s", pretty ? "\n  " : "");
    int first = 1;
    if (meta && !meta_last) {
        len += (size_t)sprintf(hdr + len, "\"__metadata__\":%s%s", pretty ? " " : "", meta);
        first = 0;
    }
    for (int i = 0; i < n; i++) {
        len += (size_t)sprintf(hdr + len, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%lld,%lld]}",
                               first ? "" : sep, ts[i].name, ts[i].dtype, ts[i].shape, ts[i].start, ts[i].end);
        first = 0;
    }
    if (meta && meta_last) len += (size_t)sprintf(hdr + len, "%s\"__metadata__\":%s", first ? "" : sep, meta);
    len += (size_t)sprintf(hdr + len, "%s}", pretty ? "\n" : "");
    while (len % 8) hdr[len++] = ' ';
    size_t total = 8 + len + data_len;
    unsigned char *file = xcalloc(total, 1);
    put_u64le(file, (uint64_t)len);
    memcpy(file + 8, hdr, len);
    unsigned char *data = file + 8 + len;
    for (int i = 0; i < n; i++) {
        if (!ts[i].vals || ts[i].start < 0 || (size_t)ts[i].start >= data_len) continue;
        for (size_t k = 0; k < ts[i].n; k++) {
            size_t at = (size_t)ts[i].start + 4 * k;
            if (at + 4 > data_len || (long long)(at + 4) > ts[i].end) break;
            put_f32le(data + at, ts[i].vals[k]);
        }
    }
    int ok = write_all(path, file, total);
    free(hdr);
    free(file);
    return ok;
}

/* The tensors of m as tspecs, laid out contiguously in the given order of indices. */
static int make_specs(const ref_lstm *m, const int *order, tspec *ts, size_t *data_len) {
    int n = ref_count(m);
    long long off = 0;
    for (int s = 0; s < n; s++) {
        int i = order ? order[s] : s;
        tspec *t = &ts[i];
        memset(t, 0, sizeof *t);
        param_name_of(i, m->K, t->name, sizeof t->name);
        strcpy(t->dtype, "F32");
        int rows, cols;
        ref_dims(m, i, &rows, &cols);
        if (cols) snprintf(t->shape, sizeof t->shape, "[%d,%d]", rows, cols);
        else snprintf(t->shape, sizeof t->shape, "[%d]", rows);
        t->vals = m->p[i];
        t->n = ref_numel(m, i);
        t->start = off;
        t->end = off + 4 * (long long)t->n;
        off = t->end;
    }
    *data_len = (size_t)off;
    return n;
}

/* Moves every tensor that starts at or after `from` by delta bytes. */
static void shift_from(tspec *ts, int n, long long from, long long delta, int except) {
    for (int i = 0; i < n; i++)
        if (i != except && ts[i].start >= from) {
            ts[i].start += delta;
            ts[i].end += delta;
        }
}

/* ======================================================================== */
/* Group: save / load round trip and file layout                              */
/* ======================================================================== */

static void group_save_load(void) {
    fixture f;
    if (!fixture_init(&f, make_config(3, 4, 2, 1, 0.25f, 7), 3, 5)) {
        fixture_free(&f);
        return;
    }
    char *dir = make_tmpdir("saveload");
    char *path = path_join(dir, "model.safetensors");

    if (!EXPECT(lk_lstm_save(f.m, path), LK_STATUS_OK)) goto done;
    CHECK(is_file(path), "save returned OK but %s is not a file", path);
    if (!CHECK(count_entries(dir) == 1, "after one save the directory holds %d entries, want 1 (no temporary left)",
               count_entries(dir)))
        list_entries(dir);

    /* The file's layout (docs/FORMAT.md). */
    size_t flen = 0;
    unsigned char *file = read_all(path, &flen);
    int32_t count = 0;
    EXPECT(lk_lstm_param_count(f.m, &count), LK_STATUS_OK);
    if (CHECK(file && flen >= 8, "the saved file is shorter than 8 bytes")) {
        uint64_t N = get_u64le(file);
        CHECK(N % 8 == 0, "header length %llu is not a multiple of 8", (unsigned long long)N);
        if (CHECK(N <= flen - 8, "header length %llu exceeds the file (%zu bytes)", (unsigned long long)N, flen)) {
            char *hdr = xmalloc((size_t)N + 1);
            memcpy(hdr, file + 8, (size_t)N);
            hdr[N] = '\0';
            size_t last = (size_t)N;
            while (last > 0 && hdr[last - 1] == ' ') last--;
            CHECK(N > 0 && hdr[0] == '{' && last > 0 && hdr[last - 1] == '}',
                  "the header is not one JSON object followed by space padding");
            char *meta = json_object_of(hdr, "__metadata__");
            if (CHECK(meta != NULL, "the header has no __metadata__ object")) {
                CHECK(json_all_string_values(meta), "__metadata__ has a non-string value (safetensors requires str -> str): %s",
                      meta);
                char v[64];
                CHECK(json_string_of(meta, "format", v, sizeof v) && strcmp(v, "lstmkit") == 0, "metadata format is not \"lstmkit\"");
                CHECK(json_string_of(meta, "kind", v, sizeof v) && strcmp(v, "lstm") == 0, "metadata kind is not \"lstm\"");
                CHECK(json_string_of(meta, "input_size", v, sizeof v) && strcmp(v, "3") == 0, "metadata input_size is not \"3\"");
                CHECK(json_string_of(meta, "hidden_size", v, sizeof v) && strcmp(v, "4") == 0, "metadata hidden_size is not \"4\"");
                CHECK(json_string_of(meta, "num_layers", v, sizeof v) && strcmp(v, "2") == 0, "metadata num_layers is not \"2\"");
                CHECK(json_string_of(meta, "bidirectional", v, sizeof v) && strcmp(v, "true") == 0,
                      "metadata bidirectional is not \"true\"");
                if (g_verbose) printf("      __metadata__ = %s\n", meta);
            }
            free(meta);
            /* Every tensor: F32, its shape, contiguous in PyTorch's order, data = the parameter. */
            long long off = 0;
            int layout_ok = 1, data_ok = 1;
            for (int32_t i = 0; i < count; i++) {
                const char *name = NULL;
                int32_t ndim = 0;
                int64_t shape[2] = {0, 0};
                if (lk_lstm_param_name(f.m, i, &name) != LK_STATUS_OK || !name) break;
                lk_lstm_param_shape(f.m, name, &ndim, shape);
                long long numel = shape[0] * (ndim == 2 ? shape[1] : 1);
                tensor_entry t;
                if (!header_tensor(hdr, name, &t)) {
                    check_at(0, __LINE__, "tensor %s is missing from the header or malformed", name);
                    layout_ok = 0;
                    continue;
                }
                int shape_ok = t.ndim == ndim && t.shape[0] == shape[0] && (ndim == 1 || t.shape[1] == shape[1]);
                if (!CHECK(strcmp(t.dtype, "F32") == 0 && shape_ok && t.off[0] == off && t.off[1] == off + 4 * numel,
                           "header entry of %s: dtype %s, ndim %d, offsets [%lld, %lld]; want F32, ndim %d, [%lld, %lld]", name,
                           t.dtype, t.ndim, t.off[0], t.off[1], (int)ndim, off, off + 4 * numel))
                    layout_ok = 0;
                float *p = xmalloc((size_t)numel * sizeof(float));
                lk_lstm_get_param(f.m, name, p, (size_t)numel);
                for (long long k = 0; k < numel && 8 + N + (size_t)(off + 4 * k + 4) <= flen; k++) {
                    float v = get_f32le(file + 8 + N + off + 4 * k);
                    if (memcmp(&v, &p[k], 4) != 0) data_ok = 0;
                }
                free(p);
                off += 4 * numel;
            }
            CHECK(layout_ok, "the tensors are not laid out contiguously in PyTorch's order");
            CHECK(data_ok, "the data region does not hold the parameters' little-endian float32 bits");
            CHECK(flen == 8 + N + (size_t)off, "file size %zu != 8 + N (%llu) + data (%lld)", flen, (unsigned long long)N, off);
            free(hdr);
        }
    }
    free(file);

    /* Load: same config, same parameters, same outputs. */
    lk_lstm *m2 = NULL;
    if (EXPECT(lk_lstm_load(path, &m2), LK_STATUS_OK) && m2) {
        lk_lstm_config c2;
        EXPECT(lk_lstm_get_config(m2, &c2), LK_STATUS_OK);
        CHECK(c2.input_size == 3 && c2.hidden_size == 4 && c2.num_layers == 2 && c2.bidirectional == 1 && c2.dropout == 0.25f,
              "loaded config {D %d, H %d, L %d, bidir %d, dropout %g} differs from the saved {3, 4, 2, 1, 0.25}",
              (int)c2.input_size, (int)c2.hidden_size, (int)c2.num_layers, (int)c2.bidirectional, (double)c2.dropout);
        size_t n1 = 0, n2 = 0;
        float *p1 = get_all_params(f.m, &n1), *p2 = get_all_params(m2, &n2);
        CHECK(p1 && p2 && n1 == n2 && n1 > 0 && bits_equal(p1, p2, n1), "loaded parameters are not bit-identical");
        free(p1);
        free(p2);
        int32_t c = 0;
        EXPECT(lk_lstm_param_count(m2, &c), LK_STATUS_OK);
        for (int32_t i = 0; i < c; i++) {
            const char *a = NULL, *b = NULL;
            lk_lstm_param_name(f.m, i, &a);
            lk_lstm_param_name(m2, i, &b);
            CHECK(a && b && strcmp(a, b) == 0, "parameter %d is named %s after loading, %s before", (int)i, b ? b : "?",
                  a ? a : "?");
        }
        fixture g = f; /* the loaded handle must reproduce the original's outputs bit for bit */
        g.m = m2;
        STILL_WORKS(&g);
        /* Saving over an existing file, from the loaded handle. */
        EXPECT(lk_lstm_save(m2, path), LK_STATUS_OK);
        CHECK(count_entries(dir) == 1, "after saving over the file the directory holds %d entries", count_entries(dir));
        lk_lstm *m3 = NULL;
        if (EXPECT(lk_lstm_load(path, &m3), LK_STATUS_OK) && m3) {
            g.m = m3;
            STILL_WORKS(&g);
            lk_lstm_free(m3);
        }
        lk_lstm_free(m2);
    }

    /* Save errors. */
    char *nodir = path_join(dir, "no/such/dir/model.safetensors");
    save_expect_at(f.m, nodir, LK_STATUS_IO_ERROR, "save into a directory that does not exist", __LINE__);
    STILL_WORKS(&f);
    save_expect_at(f.m, "/nonexistent-lstmkit-dir/model.safetensors", LK_STATUS_IO_ERROR, "save under /nonexistent-lstmkit-dir",
                   __LINE__);
    STILL_WORKS(&f);
    char *adir = path_join(dir, "adir");
    if (mkdir(adir, 0755) == 0) {
        save_expect_at(f.m, adir, LK_STATUS_IO_ERROR, "save onto an existing directory", __LINE__);
        CHECK(is_dir(adir), "a failed save replaced a directory");
        if (!CHECK(count_entries(dir) == 2, "a failed save left files behind: %d entries, want 2", count_entries(dir)))
            list_entries(dir);
        CHECK(count_entries(adir) == 0, "a failed save wrote into the target directory");
        STILL_WORKS(&f);
    }
    EXPECT(lk_lstm_save(NULL, path), LK_STATUS_INVALID_ARGUMENT);
    EXPECT(lk_lstm_save(f.m, NULL), LK_STATUS_INVALID_ARGUMENT);
    STILL_WORKS(&f);

    /* Load errors. */
    lk_lstm *out = SENTINEL;
    EXPECT(lk_lstm_load(NULL, &out), LK_STATUS_INVALID_ARGUMENT);
    CHECK(out == SENTINEL, "load(NULL path) changed *out");
    EXPECT(lk_lstm_load(path, NULL), LK_STATUS_INVALID_ARGUMENT);
    char *missing = path_join(dir, "missing.safetensors");
    LOAD_FAILS(missing, LK_STATUS_IO_ERROR, "load a file that does not exist", &f);
    LOAD_FAILS(nodir, LK_STATUS_IO_ERROR, "load from a directory that does not exist", &f);
    LOAD_FAILS(dir, LK_STATUS_IO_ERROR, "load a directory", &f);

    free(nodir);
    free(adir);
    free(missing);
done:
    free(path);
    rm_tree(dir);
    free(dir);
    fixture_free(&f);
}

/* ======================================================================== */
/* Group: corrupt files                                                        */
/* ======================================================================== */

static void group_corrupt(void) {
    fixture f;
    if (!fixture_init(&f, make_config(3, 4, 2, 1, 0.0f, 17), 2, 4)) {
        fixture_free(&f);
        return;
    }
    char *dir = make_tmpdir("corrupt");
    char *good = path_join(dir, "good.safetensors");
    char *bad = path_join(dir, "bad.safetensors");
    size_t flen = 0;
    unsigned char *file = NULL;
    if (!EXPECT(lk_lstm_save(f.m, good), LK_STATUS_OK) || !(file = read_all(good, &flen)) || flen < 16) {
        CHECK(0, "could not save and read back a model file");
        goto done;
    }
    uint64_t N = get_u64le(file);
    if (!CHECK(N < flen, "the saved header length is beyond the file")) goto done;
    unsigned char *buf = xmalloc(flen + 4096);
    char what[160];

    /* Empty, too short, and truncated copies. */
    write_all(bad, file, 0);
    LOAD_FAILS(bad, LK_STATUS_INVALID_FORMAT, "an empty file", &f);
    const size_t cuts[] = {4, 7, 8, 9, 8 + (size_t)N / 2, 8 + (size_t)N - 1, 8 + (size_t)N, 8 + (size_t)N + 1,
                           8 + (size_t)N + 4, flen - 4, flen - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_all(bad, file, cuts[i]);
        snprintf(what, sizeof what, "the saved file truncated to %zu of %zu bytes", cuts[i], flen);
        LOAD_FAILS(bad, LK_STATUS_INVALID_FORMAT, what, &f);
    }
    /* Extra bytes after the data. */
    memcpy(buf, file, flen);
    buf[flen] = 0;
    write_all(bad, buf, flen + 1);
    LOAD_FAILS(bad, LK_STATUS_INVALID_FORMAT, "the saved file plus one trailing byte", &f);
    memset(buf + flen, 0, 4);
    write_all(bad, buf, flen + 4);
    LOAD_FAILS(bad, LK_STATUS_INVALID_FORMAT, "the saved file plus four trailing bytes", &f);

    /* Garbage. */
    {
        rng r = {555};
        for (size_t i = 0; i < 1000; i++) buf[i] = (unsigned char)(rng_next(&r) >> 32);
        write_all(bad, buf, 1000);
        LOAD_FAILS(bad, LK_STATUS_INVALID_FORMAT, "1000 random bytes", &f);
        put_u64le(buf, 64); /* a plausible header length over random bytes */
        write_all(bad, buf, 1000);
        LOAD_FAILS(bad, LK_STATUS_INVALID_FORMAT, "header length 64 followed by random bytes", &f);
        const char *text = "hello, this is not a model file at all, just some text.\n";
        write_all(bad, text, strlen(text));
        LOAD_FAILS(bad, LK_STATUS_INVALID_FORMAT, "a text file", &f);
    }

    /* Header lengths that lie. */
    const uint64_t lens[] = {0, UINT64_MAX, (uint64_t)1 << 63, (uint64_t)INT64_MAX, (uint64_t)(flen - 8 + 1),
                             (uint64_t)(flen - 8), N + 8, N - 8};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        memcpy(buf, file, flen);
        put_u64le(buf, lens[i]);
        write_all(bad, buf, flen);
        snprintf(what, sizeof what, "header length field %llu (real %llu, file %zu bytes)", (unsigned long long)lens[i],
                 (unsigned long long)N, flen);
        LOAD_FAILS(bad, LK_STATUS_INVALID_FORMAT, what, &f);
    }

    /* Valid-length header, broken JSON. */
    memcpy(buf, file, flen);
    buf[8] = 'x';
    write_all(bad, buf, flen);
    LOAD_FAILS(bad, LK_STATUS_INVALID_FORMAT, "header JSON starting with 'x'", &f);
    memcpy(buf, file, flen);
    {
        size_t last = 8 + (size_t)N;
        while (last > 8 && buf[last - 1] == ' ') last--;
        if (last > 8 && buf[last - 1] == '}') buf[last - 1] = ' ';
    }
    write_all(bad, buf, flen);
    LOAD_FAILS(bad, LK_STATUS_INVALID_FORMAT, "header JSON without its closing brace", &f);
    memcpy(buf, file, flen);
    memset(buf + 8 + N / 2, '"', 1);
    write_all(bad, buf, flen);
    LOAD_FAILS(bad, LK_STATUS_INVALID_FORMAT, "header JSON with a stray quote in the middle", &f);
    {
        /* Invalid UTF-8 inside a string. */
        memcpy(buf, file, flen);
        char *h = xmalloc((size_t)N + 1);
        memcpy(h, buf + 8, (size_t)N);
        h[N] = '\0';
        char *p = strstr(h, "weight_ih_l0");
        if (CHECK(p != NULL, "no weight_ih_l0 in the header")) {
            buf[8 + (p - h) + 2] = 0xFF;
            write_all(bad, buf, flen);
            LOAD_FAILS(bad, LK_STATUS_INVALID_FORMAT, "a 0xFF byte (invalid UTF-8) inside a tensor name", &f);
        }
        /* dtype F64 in place of the first F32 (same length, sizes now wrong too). */
        memcpy(buf, file, flen);
        p = strstr(h, "\"F32\"");
        if (CHECK(p != NULL, "no \"F32\" in the header")) {
            memcpy(buf + 8 + (p - h), "\"F64\"", 5);
            write_all(bad, buf, flen);
            LOAD_FAILS(bad, LK_STATUS_INVALID_FORMAT, "header says dtype F64", &f);
            memcpy(buf + 8 + (p - h), "\"I32\"", 5);
            write_all(bad, buf, flen);
            LOAD_FAILS(bad, LK_STATUS_INVALID_FORMAT, "header says dtype I32 (same size as F32)", &f);
        }
        free(h);
    }
    {
        /* A header that is JSON but not an object. */
        const char *arr = "[1, 2, 3]       ";
        put_u64le(buf, 16);
        memcpy(buf + 8, arr, 16);
        write_all(bad, buf, 24);
        LOAD_FAILS(bad, LK_STATUS_INVALID_FORMAT, "header JSON is an array", &f);
        const char *empty = "{}      ";
        put_u64le(buf, 8);
        memcpy(buf + 8, empty, 8);
        write_all(bad, buf, 16);
        LOAD_FAILS(bad, LK_STATUS_INVALID_FORMAT, "header JSON is {}", &f);
    }
    {
        /* Deep nesting must not overflow the parser's stack. */
        size_t depth = 200000;
        unsigned char *deep = xmalloc(8 + depth);
        put_u64le(deep, depth);
        memset(deep + 8, '[', depth);
        write_all(bad, deep, 8 + depth);
        LOAD_FAILS(bad, LK_STATUS_INVALID_FORMAT, "header of 200000 '[' (nesting bomb)", &f);
        memset(deep + 8, '{', depth);
        for (size_t i = 0; i + 6 < depth; i += 6) memcpy(deep + 8 + i, "{\"a\":", 5), deep[8 + i + 5] = ' ';
        write_all(bad, deep, 8 + depth);
        LOAD_FAILS(bad, LK_STATUS_INVALID_FORMAT, "header of nested objects {\"a\":{\"a\": ...", &f);
        free(deep);
    }
    {
        /* A valid model whose header is padded beyond 100 MB: the length limit must reject it. */
        size_t big = ((size_t)100 << 20) + 8;
        size_t hlen = (size_t)N;
        FILE *fp = fopen(bad, "wb");
        if (CHECK(fp != NULL, "cannot write %s", bad)) {
            unsigned char lenbuf[8];
            put_u64le(lenbuf, big);
            fwrite(lenbuf, 1, 8, fp);
            fwrite(file + 8, 1, hlen, fp); /* the real JSON, then spaces up to `big` */
            char *spaces = xmalloc(1 << 20);
            memset(spaces, ' ', 1 << 20);
            for (size_t left = big - hlen; left > 0;) {
                size_t k = left < (1u << 20) ? left : (1u << 20);
                fwrite(spaces, 1, k, fp);
                left -= k;
            }
            free(spaces);
            fwrite(file + 8 + hlen, 1, flen - 8 - hlen, fp);
            fclose(fp);
            LOAD_FAILS(bad, LK_STATUS_INVALID_FORMAT, "a valid header padded to 100 MiB + 8 bytes (over the limit)", &f);
        }
    }
    unlink(bad);

    /* The original file still loads. */
    lk_lstm *m2 = NULL;
    if (EXPECT(lk_lstm_load(good, &m2), LK_STATUS_OK)) lk_lstm_free(m2);
    free(buf);
done:
    free(file);
    free(good);
    free(bad);
    rm_tree(dir);
    free(dir);
    fixture_free(&f);
}

/* ======================================================================== */
/* Group: special files                                                       */
/* ======================================================================== */

static void group_special_files(void) {
    fixture f;
    if (!fixture_init(&f, make_config(3, 4, 1, 0, 0.0f, 23), 2, 3)) {
        fixture_free(&f);
        return;
    }
    /* An endless stream must be refused without reading it all: bound this process's
     * address space so that a loader that tries fails fast instead of eating the machine. */
    bound_address_space();
    const char *paths[] = {"/dev/zero", "/dev/null"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) continue;
        if (g_nofork && i == 0) continue; /* without the memory bound a bad loader could take the machine */
        lk_lstm *out = SENTINEL;
        lk_status s = lk_lstm_load(paths[i], &out);
        const char *msg = lk_last_error();
        CHECK((s == LK_STATUS_IO_ERROR || s == LK_STATUS_INVALID_FORMAT) && msg && msg[0],
              "load(\"%s\"): want IO_ERROR or INVALID_FORMAT with a message, got %s (\"%s\")", paths[i], status_name(s),
              msg ? msg : "(NULL)");
        CHECK(out == SENTINEL, "load(\"%s\") changed *out on failure", paths[i]);
        if (out != SENTINEL && out != NULL) lk_lstm_free(out);
        STILL_WORKS(&f);
    }
    fixture_free(&f);
}

/* ======================================================================== */
/* Group: hand-built model files                                              */
/* ======================================================================== */

static int by_name_K;
static int cmp_by_name(const void *a, const void *b) {
    char na[64], nb[64];
    param_name_of(*(const int *)a, by_name_K, na, sizeof na);
    param_name_of(*(const int *)b, by_name_K, nb, sizeof nb);
    return strcmp(na, nb);
}

static int loaded_matches(const char *path, const ref_lstm *m, const char *what, int line) {
    lk_lstm *h = NULL;
    if (!expect_at(lk_lstm_load(path, &h), LK_STATUS_OK, line, what) || !h) return 0;
    lk_lstm_config c;
    int ok = expect_at(lk_lstm_get_config(h, &c), LK_STATUS_OK, line, what);
    ok &= check_at(c.input_size == m->D && c.hidden_size == m->H && c.num_layers == m->L && c.bidirectional == (m->K == 2),
                   line, "%s: loaded config differs", what);
    for (int i = 0; i < ref_count(m); i++) {
        char name[64];
        param_name_of(i, m->K, name, sizeof name);
        size_t n = ref_numel(m, i);
        float *p = xmalloc(n * sizeof(float));
        if (lk_lstm_get_param(h, name, p, n) != LK_STATUS_OK || !bits_equal(p, m->p[i], n))
            ok &= check_at(0, line, "%s: parameter %s differs after loading", what, name);
        free(p);
    }
    lk_lstm_free(h);
    return ok;
}

static void group_handbuilt(void) {
    /* A unidirectional 2-layer model (D=3, H=2): 8 tensors, weight_ih_l0 (8, 3), the rest (8, 2) or (8). */
    ref_lstm m;
    ref_init(&m, 3, 2, 2, 1, 21, 0.5f);
    fixture f;
    if (!fixture_init(&f, make_config(3, 2, 2, 0, 0.0f, 21), 2, 3)) {
        fixture_free(&f);
        ref_free(&m);
        return;
    }
    char *dir = make_tmpdir("handbuilt");
    char *src = path_join(dir, "src.safetensors");
    char *path = path_join(dir, "built.safetensors");
    char *meta = NULL;
    {
        /* The metadata comes from a file the library saved, so this group follows its keys. */
        lk_lstm *h = create_with(&m, 0.0f);
        if (h && EXPECT(lk_lstm_save(h, src), LK_STATUS_OK)) meta = metadata_of(src);
        lk_lstm_free(h);
    }
    if (!CHECK(meta != NULL, "could not read __metadata__ from a saved file")) goto done;
    if (g_verbose) printf("      metadata used: %s\n", meta);

    tspec base[8], ts[9];
    size_t base_len = 0;
    int n = make_specs(&m, NULL, base, &base_len);
    float *poisoned = copy_floats(m.p[1], ref_numel(&m, 1));
    poisoned[5] = NAN;

    /* Files that must load. */
    write_st(path, meta, 0, 0, base, n, base_len);
    loaded_matches(path, &m, "hand-built file, PyTorch order, metadata first", __LINE__);
    {
        int order[8];
        for (int i = 0; i < 8; i++) order[i] = i;
        by_name_K = 1;
        qsort(order, 8, sizeof order[0], cmp_by_name);
        size_t len = 0;
        make_specs(&m, order, ts, &len);
        write_st(path, meta, 1, 1, ts, n, len);
        loaded_matches(path, &m, "hand-built file, data sorted by name (as the safetensors package writes), metadata last, "
                                 "pretty JSON",
                       __LINE__);
    }

    /* Files with one defect each. */
    enum { NCASES = 32 };
    for (int c = 0; c < NCASES; c++) {
        memcpy(ts, base, sizeof base);
        int cnt = n;
        size_t len = base_len;
        char *md = xstrdup(meta);
        const char *what = NULL;
        char *repl = NULL;
#define META(key, raw)                         \
    do {                                       \
        repl = json_replace(md, key, raw);     \
        if (!repl) what = "(metadata key " key " not found: cannot build this case)"; \
    } while (0)
        switch (c) {
        case 0: what = "no __metadata__"; free(md); md = NULL; break;
        case 1: what = "format \"notlstmkit\""; META("format", "\"notlstmkit\""); break;
        case 2: what = "kind \"gru\""; META("kind", "\"gru\""); break;
        case 3: what = "input_size \"abc\""; META("input_size", "\"abc\""); break;
        case 4: what = "input_size \"0\""; META("input_size", "\"0\""); break;
        case 5: what = "hidden_size \"-2\""; META("hidden_size", "\"-2\""); break;
        case 6: what = "hidden_size \"3\" while the shapes say 2"; META("hidden_size", "\"3\""); break;
        case 7: what = "num_layers \"3\" with tensors for 2 layers"; META("num_layers", "\"3\""); break;
        case 8: what = "bidirectional \"yes\""; META("bidirectional", "\"yes\""); break;
        case 9: what = "bidirectional \"true\" without _reverse tensors"; META("bidirectional", "\"true\""); break;
        case 10: what = "input_size as a JSON number, not a string"; META("input_size", "3"); break;
        case 11: what = "dropout \"1.5\""; META("dropout", "\"1.5\""); break;
        case 12:
            what = "weight_hh_l0 dtype F64 (offsets consistent with 8-byte elements)";
            strcpy(ts[1].dtype, "F64");
            shift_from(ts, cnt, ts[1].end, 64, 1);
            ts[1].end += 64;
            len += 64;
            break;
        case 13: what = "weight_hh_l0 dtype I32"; strcpy(ts[1].dtype, "I32"); break;
        case 14:
            what = "weight_ih_l0 shape [8,4] with input_size 3 (offsets consistent)";
            strcpy(ts[0].shape, "[8,4]");
            shift_from(ts, cnt, ts[0].end, 32, 0);
            ts[0].end += 32;
            len += 32;
            break;
        case 15: what = "weight_ih_l0 shape [-8,-3]"; strcpy(ts[0].shape, "[-8,-3]"); break;
        case 16: what = "bias_ih_l0 shape [8.5]"; strcpy(ts[2].shape, "[8.5]"); break;
        case 17: what = "bias_ih_l0 shape [\"8\"]"; strcpy(ts[2].shape, "[\"8\"]"); break;
        case 18: what = "bias_ih_l0 shape [8,1] (rank 2)"; strcpy(ts[2].shape, "[8,1]"); break;
        case 19: {
            what = "weight_ih_l0 data_offsets reversed (end < start)";
            long long s = ts[0].start;
            ts[0].start = ts[0].end;
            ts[0].end = s;
            break;
        }
        case 20: what = "bias_hh_l1 data_offsets past the data region"; ts[7].start += 4; ts[7].end += 4; break;
        case 21:
            what = "weight_ih_l0 end - start = 4*numel - 4";
            shift_from(ts, cnt, ts[0].end, -4, 0);
            ts[0].end -= 4;
            len -= 4;
            break;
        case 22:
            what = "bias_hh_l0 overlaps bias_ih_l0 (data region shrunk to match)";
            shift_from(ts, cnt, ts[3].end, -32, 3);
            ts[3].start = ts[2].start;
            ts[3].end = ts[2].end;
            len -= 32;
            break;
        case 23: what = "a 4-byte gap after weight_ih_l0"; shift_from(ts, cnt, ts[0].end, 4, 0); len += 4; break;
        case 24: what = "4 unclaimed bytes after the last tensor"; len += 4; break;
        case 25: what = "bias_hh_l1 missing"; cnt = 7; len -= 32; break;
        case 26: what = "data_offsets negative"; ts[0].start = -96; ts[0].end = 0; break;
        case 27: what = "format_version \"999\""; META("format_version", "\"999\""); break;
        case 28: what = "a NaN among weight_hh_l0's values"; ts[1].vals = poisoned; break;
        /* Hyper-parameters far beyond what lk_lstm_config can hold must be refused, not overflow. */
        case 29: what = "num_layers \"100000\""; META("num_layers", "\"100000\""); break;
        case 30: what = "hidden_size \"4294967296\""; META("hidden_size", "\"4294967296\""); break;
        case 31: what = "input_size \"9223372036854775807\""; META("input_size", "\"9223372036854775807\""); break;
        default: break;
        }
#undef META
        if (repl) {
            free(md);
            md = repl;
        }
        if (what && what[0] == '(') {
            CHECK(0, "case %d %s", c, what);
        } else {
            write_st(path, md, 0, 0, ts, cnt, len);
            load_fails_at(path, LK_STATUS_INVALID_FORMAT, what, &f, __LINE__);
        }
        free(md);
    }
    free(poisoned);
done:
    free(meta);
    free(src);
    free(path);
    rm_tree(dir);
    free(dir);
    fixture_free(&f);
    ref_free(&m);
}

/* ======================================================================== */
/* Group: threads sharing a handle; per-thread errors                         */
/* ======================================================================== */

#ifndef __STDC_NO_THREADS__
typedef struct {
    const fixture *f;
    int iters;
    int ok;
    double max_diff;
    const char *save_path;
    char first_msg[256];
    char own_msg[256];
} worker;

static int worker_forward(void *arg) {
    worker *w = arg;
    const fixture *f = w->f;
    float *y = xmalloc(f->yn * sizeof(float)), *hn = xmalloc(f->sn * sizeof(float)), *cn = xmalloc(f->sn * sizeof(float));
    float *p = xmalloc(64 * sizeof(float));
    w->ok = 1;
    for (int i = 0; i < w->iters && w->ok; i++) {
        fwd_args a;
        fixture_args(f, &a, y, hn, cn);
        lk_status s = fwd(&a);
        if (s != LK_STATUS_OK) {
            snprintf(w->own_msg, sizeof w->own_msg, "forward (iteration %d) gave %s: %s", i, status_name(s), lk_last_error());
            w->ok = 0;
            break;
        }
        double d = max_diff_ff(y, f->y, f->yn), d2 = max_diff_ff(hn, f->hn, f->sn);
        if (d2 > d) d = d2;
        if (d > w->max_diff) w->max_diff = d;
        s = lk_lstm_get_param(f->m, "bias_ih_l0", p, 64);
        if (s != LK_STATUS_OK) {
            snprintf(w->own_msg, sizeof w->own_msg, "get_param (iteration %d) gave %s: %s", i, status_name(s), lk_last_error());
            w->ok = 0;
        }
        if (w->save_path && (s = lk_lstm_save(f->m, w->save_path)) != LK_STATUS_OK) {
            snprintf(w->own_msg, sizeof w->own_msg, "save (iteration %d) gave %s: %s", i, status_name(s), lk_last_error());
            w->ok = 0;
        }
    }
    free(y);
    free(hn);
    free(cn);
    free(p);
    return 0;
}

static int worker_errors(void *arg) {
    worker *w = arg;
    snprintf(w->first_msg, sizeof w->first_msg, "%s", lk_last_error());
    w->ok = lk_set_num_threads(-5) == LK_STATUS_INVALID_ARGUMENT;
    snprintf(w->own_msg, sizeof w->own_msg, "%s", lk_last_error());
    return 0;
}
#endif

static void group_shared_handle(void) {
#ifdef __STDC_NO_THREADS__
    CHECK(1, "C11 threads are not available: skipped");
#else
    fixture f;
    if (!fixture_init(&f, make_config(8, 16, 2, 1, 0.0f, 3), 4, 10)) {
        fixture_free(&f);
        return;
    }
    /* Per-thread last error. */
    EXPECT(lk_lstm_create(NULL, NULL), LK_STATUS_INVALID_ARGUMENT);
    char *main_msg = xstrdup(lk_last_error());
    worker we;
    memset(&we, 0, sizeof we);
    thrd_t te;
    if (CHECK(thrd_create(&te, worker_errors, &we) == thrd_success, "thrd_create failed")) {
        thrd_join(te, NULL);
        CHECK(we.first_msg[0] == '\0', "a new thread's lk_last_error() is \"%s\", want \"\" (errors are per thread)",
              we.first_msg);
        CHECK(we.ok && we.own_msg[0] != '\0', "a failure on another thread gave no status or message");
        CHECK(strcmp(lk_last_error(), main_msg) == 0, "another thread's failure changed this thread's message to \"%s\"",
              lk_last_error());
    }
    free(main_msg);

    /* Four threads run forward, get_param and save on one handle at once. */
    char *dir = make_tmpdir("threads");
    char *p1 = path_join(dir, "a.safetensors"), *p2 = path_join(dir, "b.safetensors"), *p0 = path_join(dir, "ref.safetensors");
    EXPECT(lk_lstm_save(f.m, p0), LK_STATUS_OK);
    worker w[4];
    thrd_t th[4];
    int started[4] = {0};
    for (int i = 0; i < 4; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].f = &f;
        w[i].iters = 25;
        w[i].save_path = i == 0 ? p1 : i == 1 ? p2 : NULL;
        started[i] = thrd_create(&th[i], worker_forward, &w[i]) == thrd_success;
    }
    for (int i = 0; i < 4; i++) {
        if (!started[i]) {
            CHECK(0, "thrd_create failed for worker %d", i);
            continue;
        }
        thrd_join(th[i], NULL);
        CHECK(w[i].ok, "worker %d: a call on the shared handle failed: %s", i, w[i].own_msg);
        CHECK(w[i].max_diff <= 1e-6, "worker %d: concurrent forward differs from the serial result by %.3g", i, w[i].max_diff);
    }
    size_t l0 = 0, l1 = 0, l2 = 0;
    unsigned char *b0 = read_all(p0, &l0), *b1 = read_all(p1, &l1), *b2 = read_all(p2, &l2);
    CHECK(b0 && b1 && b2 && l0 == l1 && l0 == l2 && memcmp(b0, b1, l0) == 0 && memcmp(b0, b2, l0) == 0,
          "files saved concurrently differ from a file saved alone");
    free(b0);
    free(b1);
    free(b2);
    STILL_WORKS(&f);
    free(p0);
    free(p1);
    free(p2);
    rm_tree(dir);
    free(dir);
    fixture_free(&f);
#endif
}

const test_group lstm_groups[] = {
    {"config, create, get_config, free", group_config},
    {"forward argument errors", group_forward_errors},
    {"parameters: names, shapes, get/set", group_params},
    {"forward vs plain C reference", group_correctness},
    {"save/load round trip and file layout", group_save_load},
    {"load: corrupt files", group_corrupt},
    {"load: hand-built files", group_handbuilt},
    {"load: special files", group_special_files},
    {"shared handle across threads", group_shared_handle},
    {NULL, NULL},
};
