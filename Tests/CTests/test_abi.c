/*
 * test_abi.c — exercises every function of include/lstmkit.h from plain C11.
 *
 * What it checks, group by group (one output line per group):
 *   - versions, status strings and lk_last_error (before and after failures, per thread);
 *   - BLAS thread control, including LSTMKIT_NUM_THREADS read at load (re-runs itself);
 *   - config defaults, create with every kind of bad config, get_config, free(NULL);
 *   - forward with every kind of bad argument (status, message, outputs untouched);
 *   - parameter names, shapes, get/set and their errors;
 *   - numerical correctness against a plain C reference LSTM written below, including
 *     a bidirectional 2-layer stack with ragged lengths and initial states;
 *   - save/load round trips, the saved file's layout (docs/FORMAT.md), I/O errors;
 *   - corrupt files and hand-built model files, each with one defect; /dev/zero;
 *   - a handle shared by threads (read-only calls), and per-thread errors;
 *   - the tokenizer: training a tiny model on Tests/Fixtures/cws (progress callback,
 *     every bad config field, empty and invalid corpora, checkpoints and resuming),
 *     ensembles (made, saved, loaded, refused when members differ),
 *     segment and segment_batch (ask for the size, BUFFER_TOO_SMALL, ends covering the
 *     text, invalid UTF-8 with its byte offset, NUL bytes, a 120,000-character line
 *     equal to its sentences), user words and dictionaries, save/load and wrong files,
 *     special files, sizes that cannot be real, a tokenizer shared by threads;
 *   - the text classifier: training on Tests/Fixtures/text, predict, labels, files, errors;
 *   - the image classifier: training on synthetic 8x8 images made here (rows, CNN,
 *     frame sequences, every pooling), predict (far above chance on held-out images),
 *     every bad argument (counts, shapes, NULLs, NaN pixels, single class, every config
 *     field), save/load, and files of other kinds (the message names both kinds);
 *   - the image segmenter: training on synthetic 12x12 images with bright and dark
 *     squares made here, masks and probabilities (any H x W, e.g. 13x17), evaluate
 *     (confusion matrix, pixel accuracy, mean IoU), every bad argument (counts, mask
 *     values out of range, NaN pixels, channels, NULLs, every config field and class
 *     weight), every architecture variant, save/load, files of other kinds.
 * After every failing call the test checks that the handle still works: a forward gives
 * the same bits as before the failure.
 *
 * Each group runs in a forked child so that a crash in the library is reported as a
 * failed group and the remaining groups still run. Environment:
 *   LK_TEST_NOFORK=1   run the groups in this process (for a debugger)
 *   LK_TEST_VERBOSE=1  also print the message of every expected failure
 * An optional argument runs only the groups whose name contains it. The tokenizer
 * groups read the CWS fixtures from --fixtures DIR (run.sh passes it), else from
 * $LK_TEST_FIXTURES, else from Tests/Fixtures/cws beside this source file (__FILE__,
 * relative to the directory it was compiled from).
 *
 * Build (see Tests/CTests/run.sh):
 *   cc -std=c11 -Wall -Wextra -Werror -pedantic -I include Tests/CTests/test_abi.c \
 *      -L<libdir> -llstmkit -Wl,-rpath,<libdir> -lm -o test_abi
 */
#define _POSIX_C_SOURCE 200809L

#include "lstmkit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifndef __STDC_NO_THREADS__
#include <threads.h>
#endif

#if defined(__GNUC__)
#define LK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LK_PRINTF(a, b)
#endif

/* ======================================================================== */
/* Check bookkeeping                                                          */
/* ======================================================================== */

static int g_passed, g_failed;
static int g_verbose, g_nofork;
static int g_progress_fd = -1; /* in a forked group: where the line of each check goes */
static char g_tmproot[4096];
static const char *g_argv0 = "test_abi";

/* In a forked group every check is reported to the parent as it happens, so that the
 * checks before a crash still count and the crash can be placed. */
static void note_progress(int line, int ok) {
    if (g_progress_fd >= 0) {
        int rec[3] = {1, line, ok};
        if (write(g_progress_fd, rec, sizeof rec) < 0) { /* the parent is gone: nothing to do */ }
    }
}

static int check_at(int ok, int line, const char *fmt, ...) LK_PRINTF(3, 4);
static int check_at(int ok, int line, const char *fmt, ...) {
    note_progress(line, ok);
    if (ok) {
        g_passed++;
        return 1;
    }
    g_failed++;
    printf("    FAIL (line %d): ", line);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    return 0;
}
#define CHECK(cond, ...) check_at((cond) ? 1 : 0, __LINE__, __VA_ARGS__)

static const char *status_name(lk_status s) {
    switch ((int)s) {
    case LK_STATUS_OK: return "LK_STATUS_OK";
    case LK_STATUS_INVALID_ARGUMENT: return "LK_STATUS_INVALID_ARGUMENT";
    case LK_STATUS_SIZE_MISMATCH: return "LK_STATUS_SIZE_MISMATCH";
    case LK_STATUS_NOT_FOUND: return "LK_STATUS_NOT_FOUND";
    case LK_STATUS_IO_ERROR: return "LK_STATUS_IO_ERROR";
    case LK_STATUS_INVALID_FORMAT: return "LK_STATUS_INVALID_FORMAT";
    case LK_STATUS_OUT_OF_MEMORY: return "LK_STATUS_OUT_OF_MEMORY";
    case LK_STATUS_INTERNAL: return "LK_STATUS_INTERNAL";
    case LK_STATUS_BUFFER_TOO_SMALL: return "LK_STATUS_BUFFER_TOO_SMALL";
    default: return "(not a status)";
    }
}

/* A call must return `want`; a failure must also leave a non-empty lk_last_error(). */
static int expect_at(lk_status got, lk_status want, int line, const char *call) {
    const char *msg = lk_last_error();
    int has_msg = msg != NULL && msg[0] != '\0';
    int ok = got == want && (want == LK_STATUS_OK || has_msg);
    note_progress(line, ok);
    if (ok) {
        g_passed++;
        if (g_verbose && want != LK_STATUS_OK) printf("      ok  %-26s \"%s\"\n", status_name(got), msg);
        return 1;
    }
    g_failed++;
    printf("    FAIL (line %d): %s\n", line, call);
    if (got != want)
        printf("      expected %s, got %s (%d)", status_name(want), status_name(got), (int)got);
    else
        printf("      returned %s but lk_last_error() is empty", status_name(got));
    printf("; lk_last_error() = \"%s\"\n", msg ? msg : "(NULL)");
    fflush(stdout);
    return 0;
}
#define EXPECT(call, want) expect_at((call), (want), __LINE__, #call)

/* ======================================================================== */
/* Small utilities                                                            */
/* ======================================================================== */

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "test_abi: out of memory (%zu bytes)\n", n);
        exit(2);
    }
    return p;
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "test_abi: out of memory\n");
        exit(2);
    }
    return p;
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

typedef struct {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r) {
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

/* Uniform in [-a, a). */
static float rng_unif(rng *r, float a) {
    double u = (double)(rng_next(r) >> 40) / 16777216.0; /* [0, 1) */
    return (float)((2.0 * u - 1.0) * a);
}

static float *rand_floats(size_t n, rng *r, float a) {
    float *p = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = rng_unif(r, a);
    return p;
}

static float *copy_floats(const float *src, size_t n) {
    float *p = xmalloc(n * sizeof(float));
    memcpy(p, src, n * sizeof(float));
    return p;
}

static int bits_equal(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof(float)) == 0;
}

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

static double max_diff_ff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d)) return INFINITY;
        if (d > m) m = d;
    }
    return m;
}

static void fill(float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++) p[i] = v;
}

static int all_equal_to(const float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&p[i], &v, sizeof v) != 0) return 0;
    return 1;
}

static uint64_t get_u64le(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
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

/* ---------- files ---------- */

static char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = xmalloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(fp);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        if (got == 0) break;
        n += got;
    }
    fclose(fp);
    *len = n;
    return buf;
}

static int write_all(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    int ok = n == 0 || fwrite(data, 1, n, fp) == n;
    if (fclose(fp) != 0) ok = 0;
    return ok;
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

static void list_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) printf("        entry: %s\n", e->d_name);
    closedir(d);
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void rm_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
                char *child = path_join(path, e->d_name);
                rm_tree(child);
                free(child);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* A fresh empty directory under the test's temporary root. */
static char *make_tmpdir(const char *tag) {
    char *tmpl = xmalloc(strlen(g_tmproot) + strlen(tag) + 16);
    sprintf(tmpl, "%s/%s-XXXXXX", g_tmproot, tag);
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        exit(2);
    }
    return tmpl;
}

/* ======================================================================== */
/* Forward arguments and the fixture                                          */
/* ======================================================================== */

typedef struct {
    const lk_lstm *m;
    const float *x;
    int64_t B, T, D;
    size_t x_count;
    const int32_t *lengths;
    const float *h0, *c0;
    size_t state_count;
    float *y;
    size_t y_count;
    float *hn, *cn;
    size_t state_out_count;
} fwd_args;

static lk_status fwd(const fwd_args *a) {
    return lk_lstm_forward(a->m, a->x, a->B, a->T, a->D, a->x_count, a->lengths, a->h0, a->c0,
                           a->state_count, a->y, a->y_count, a->hn, a->cn, a->state_out_count);
}

/* A handle plus one valid input and the outputs it gave the first time. */
typedef struct {
    lk_lstm *m;
    lk_lstm_config cfg;
    int64_t B, T;
    int K;
    size_t xn, yn, sn;
    float *x, *h0, *c0;
    int32_t *len;
    float *y, *hn, *cn;
} fixture;

static lk_lstm_config make_config(int D, int H, int L, int bidir, float dropout, uint64_t seed) {
    lk_lstm_config c = lk_lstm_config_default();
    c.input_size = D;
    c.hidden_size = H;
    c.num_layers = L;
    c.bidirectional = bidir;
    c.dropout = dropout;
    c.seed = seed;
    return c;
}

static void fixture_args(const fixture *f, fwd_args *a, float *y, float *hn, float *cn) {
    a->m = f->m;
    a->x = f->x;
    a->B = f->B;
    a->T = f->T;
    a->D = f->cfg.input_size;
    a->x_count = f->xn;
    a->lengths = f->len;
    a->h0 = f->h0;
    a->c0 = f->c0;
    a->state_count = f->sn;
    a->y = y;
    a->y_count = f->yn;
    a->hn = hn;
    a->cn = cn;
    a->state_out_count = f->sn;
}

/* Lengths T, ..., 1 spread over the batch (e.g. B=3, T=5 gives 5, 3, 1). */
static void ragged_lengths(int32_t *len, int64_t B, int64_t T) {
    for (int64_t b = 0; b < B; b++) len[b] = (int32_t)(T - b * (T - 1) / (B > 1 ? B - 1 : 1));
}

static int fixture_init(fixture *f, lk_lstm_config cfg, int64_t B, int64_t T) {
    memset(f, 0, sizeof *f);
    f->cfg = cfg;
    if (!EXPECT(lk_lstm_create(&f->cfg, &f->m), LK_STATUS_OK)) {
        f->m = NULL;
        return 0;
    }
    f->B = B;
    f->T = T;
    f->K = cfg.bidirectional ? 2 : 1;
    f->xn = (size_t)(B * T * cfg.input_size);
    f->yn = (size_t)(B * T * f->K * cfg.hidden_size);
    f->sn = (size_t)(cfg.num_layers * f->K * B * cfg.hidden_size);
    rng r = {cfg.seed * 2654435761u + 12345u};
    f->x = rand_floats(f->xn, &r, 1.0f);
    f->h0 = rand_floats(f->sn, &r, 0.5f);
    f->c0 = rand_floats(f->sn, &r, 0.5f);
    f->len = xmalloc((size_t)B * sizeof(int32_t));
    ragged_lengths(f->len, B, T);
    f->y = xmalloc(f->yn * sizeof(float));
    f->hn = xmalloc(f->sn * sizeof(float));
    f->cn = xmalloc(f->sn * sizeof(float));
    fwd_args a;
    fixture_args(f, &a, f->y, f->hn, f->cn);
    return EXPECT(fwd(&a), LK_STATUS_OK);
}

static void fixture_free(fixture *f) {
    lk_lstm_free(f->m);
    free(f->x);
    free(f->h0);
    free(f->c0);
    free(f->len);
    free(f->y);
    free(f->hn);
    free(f->cn);
    memset(f, 0, sizeof *f);
}

/* The handle must still run and give bit-identical outputs to its first forward. */
static int still_works_at(const fixture *f, int line) {
    if (!f->m) return check_at(0, line, "no fixture handle");
    float *y = xmalloc(f->yn * sizeof(float));
    float *hn = xmalloc(f->sn * sizeof(float));
    float *cn = xmalloc(f->sn * sizeof(float));
    fwd_args a;
    fixture_args(f, &a, y, hn, cn);
    lk_status s = fwd(&a);
    int ok = s == LK_STATUS_OK && bits_equal(y, f->y, f->yn) && bits_equal(hn, f->hn, f->sn) &&
             bits_equal(cn, f->cn, f->sn);
    check_at(ok, line, "handle no longer works after the previous error: forward gave %s (%s)%s",
             status_name(s), s == LK_STATUS_OK ? "" : lk_last_error(),
             s == LK_STATUS_OK ? ", outputs differ from before" : "");
    free(y);
    free(hn);
    free(cn);
    return ok;
}
#define STILL_WORKS(f) still_works_at((f), __LINE__)

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
}

/* ======================================================================== */
/* Group: config, create, get_config, free                                    */
/* ======================================================================== */

static char g_sentinel_object;
#define SENTINEL ((lk_lstm *)(void *)&g_sentinel_object)

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

#define UNTOUCHED 777.0f

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

/* The JSON value (an object) after "key": in json, as a new string; NULL if absent. */
static char *json_object_of(const char *json, const char *key) {
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(json, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
    if (*p != '{') return NULL;
    int depth = 0, in_str = 0;
    const char *q = p;
    for (; *q; q++) {
        if (in_str) {
            if (*q == '\\' && q[1]) q++;
            else if (*q == '"') in_str = 0;
        } else if (*q == '"') {
            in_str = 1;
        } else if (*q == '{') {
            depth++;
        } else if (*q == '}') {
            if (--depth == 0) break;
        }
    }
    if (!*q) return NULL;
    size_t n = (size_t)(q - p) + 1;
    char *out = xmalloc(n + 1);
    memcpy(out, p, n);
    out[n] = '\0';
    return out;
}

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

/* The string value of "key" in a flat object, into buf; 0 if absent or not a string. */
static int json_string_of(const char *obj, const char *key, char *buf, size_t cap) {
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(obj, pat);
    if (!p) return 0;
    p += strlen(pat);
    while (*p == ' ' || *p == '\n' || *p == '\t') p++;
    if (*p != ':') return 0;
    p++;
    while (*p == ' ' || *p == '\n' || *p == '\t') p++;
    if (*p != '"') return 0;
    p++;
    size_t n = 0;
    while (*p && *p != '"' && n + 1 < cap) buf[n++] = *p++;
    buf[n] = '\0';
    return *p == '"';
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
    if (!g_nofork) {
        struct rlimit rl;
        rl.rlim_cur = rl.rlim_max = (rlim_t)4 << 30;
        setrlimit(RLIMIT_AS, &rl);
    }
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
        size_t flen = 0;
        unsigned char *file = NULL;
        if (h && EXPECT(lk_lstm_save(h, src), LK_STATUS_OK) && (file = read_all(src, &flen)) && flen > 8) {
            uint64_t N = get_u64le(file);
            if (N < flen) {
                char *hdr = xmalloc((size_t)N + 1);
                memcpy(hdr, file + 8, (size_t)N);
                hdr[N] = '\0';
                meta = json_object_of(hdr, "__metadata__");
                free(hdr);
            }
        }
        free(file);
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

/* ======================================================================== */
/* Tokenizer: helpers                                                         */
/* ======================================================================== */

static char g_fixture_dir[4096]; /* Tests/Fixtures/cws: --fixtures DIR, LK_TEST_FIXTURES or from __FILE__ */
static char g_tok_model[4200];   /* the tiny tokenizer, trained once and shared by the groups */

static char g_tok_sentinel_object;
#define TOK_SENTINEL ((lk_tokenizer *)(void *)&g_tok_sentinel_object)
#define END_UNTOUCHED ((size_t)0x5EAD5EAD)

/* A fixture file with a terminating NUL (not counted in *len), or NULL. */
static char *read_fixture(const char *name, size_t *len) {
    char *path = path_join(g_fixture_dir, name);
    size_t n = 0;
    unsigned char *data = read_all(path, &n);
    char *text = NULL;
    if (data) {
        text = xmalloc(n + 1);
        memcpy(text, data, n);
        text[n] = '\0';
        *len = n;
        free(data);
    } else {
        printf("    cannot read the fixture %s: pass --fixtures DIR (Tests/Fixtures/cws) or set LK_TEST_FIXTURES\n", path);
    }
    free(path);
    return text;
}

/* A tokenizer small enough to train in well under a second on the fixtures. */
static lk_tokenizer_train_config tiny_config(void) {
    lk_tokenizer_train_config c = lk_tokenizer_train_config_default();
    c.epochs = 2;
    c.batch_size = 32;
    c.hidden_size = 16;
    c.num_layers = 1;
    c.char_dim = 16;
    c.bigram_dim = 8;
    c.min_bigram_count = 1;
    c.max_batches_per_epoch = 20;
    c.threads = 2;
    c.seed = 3;
    return c;
}

/* What the progress callback saw. */
typedef struct {
    void *self; /* == the struct's address: user_data arrived unchanged */
    int calls, bad_lines, epoch_lines, resumed_lines;
    char first[160];
} progress_log;

static void progress_init(progress_log *log) {
    memset(log, 0, sizeof *log);
    log->self = log;
}

static void record_progress(const char *line, void *user_data) {
    progress_log *log = user_data;
    if (log == NULL || log->self != log) return; /* user_data was not passed through: calls stays 0 */
    log->calls++;
    if (line == NULL || strchr(line, '\n') != NULL) {
        log->bad_lines++;
        return;
    }
    if (log->calls == 1) snprintf(log->first, sizeof log->first, "%s", line);
    if (strncmp(line, "epoch ", 6) == 0) log->epoch_lines++;
    if (strstr(line, "resumed") != NULL) log->resumed_lines++;
    if (g_verbose) printf("      progress: %s\n", line);
}

/* Trains the tiny tokenizer (config c) on the fixtures; NULL on failure (reported). */
static lk_tokenizer *train_fixture_at(lk_tokenizer_train_config c, const char *checkpoint, progress_log *log, int line) {
    size_t tl = 0, dl = 0;
    char *train = read_fixture("train.txt", &tl), *dev = read_fixture("dev.txt", &dl);
    lk_tokenizer *t = NULL;
    if (check_at(train && dev, line, "the CWS fixtures train.txt and dev.txt are missing from %s", g_fixture_dir)) {
        lk_status s = lk_tokenizer_train(train, tl, dev, dl, &c, checkpoint, log ? record_progress : NULL, log, &t);
        if (!expect_at(s, LK_STATUS_OK, line, "lk_tokenizer_train on the fixtures")) t = NULL;
        else check_at(t != NULL, line, "lk_tokenizer_train returned OK but *out is NULL");
    }
    free(train);
    free(dev);
    return t;
}

/* The shared tiny tokenizer: loaded from g_tok_model, or trained (and saved) if a
 * group runs before the training group or alone. */
static lk_tokenizer *tiny_tokenizer_at(int line) {
    lk_tokenizer *t = NULL;
    if (is_file(g_tok_model)) {
        if (!expect_at(lk_tokenizer_load(g_tok_model, &t), LK_STATUS_OK, line, "lk_tokenizer_load(the tiny model)")) return NULL;
        return t;
    }
    t = train_fixture_at(tiny_config(), NULL, NULL, line);
    if (t) expect_at(lk_tokenizer_save(t, g_tok_model), LK_STATUS_OK, line, "lk_tokenizer_save(the tiny model)");
    return t;
}
#define TINY_TOKENIZER() tiny_tokenizer_at(__LINE__)

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

/* Checks that the metadata of the model file at path holds key = want. */
static int metadata_is_at(const char *path, const char *key, const char *want, int line) {
    size_t flen = 0;
    unsigned char *file = read_all(path, &flen);
    char v[64] = "";
    int found = 0;
    if (file && flen >= 8 && get_u64le(file) <= flen - 8) {
        uint64_t N = get_u64le(file);
        char *hdr = xmalloc((size_t)N + 1);
        memcpy(hdr, file + 8, (size_t)N);
        hdr[N] = '\0';
        char *meta = json_object_of(hdr, "__metadata__");
        found = meta && json_string_of(meta, key, v, sizeof v);
        free(meta);
        free(hdr);
    }
    free(file);
    return check_at(found && strcmp(v, want) == 0, line, "%s: metadata %s is \"%s\", want \"%s\"", path, key,
                    found ? v : "(missing)", want);
}
#define METADATA_IS(path, key, want) metadata_is_at((path), (key), (want), __LINE__)

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
    CHECK(secs < 20, "training the tiny tokenizer took %.1f s", secs);
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
    if (needle) {
        const char *msg = lk_last_error();
        ok &= check_at(strstr(msg, needle) != NULL, line, "%s: the message \"%s\" does not mention \"%s\"", what, msg, needle);
    }
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
    lk_lstm_config lc = make_config(3, 4, 1, 0, 0.0f, 1);
    lk_lstm *m = NULL;
    if (EXPECT(lk_lstm_create(&lc, &m), LK_STATUS_OK) && EXPECT(lk_lstm_save(m, lstm_path), LK_STATUS_OK)) {
        TOK_LOAD_FAILS(lstm_path, LK_STATUS_INVALID_FORMAT, "load an LSTM file as a tokenizer");
        const char *msg = lk_last_error();
        CHECK(strstr(msg, "lstm") && strstr(msg, "tokenizer"), "the message \"%s\" does not name both kinds", msg);
        lk_lstm *out = SENTINEL;
        EXPECT(lk_lstm_load(path, &out), LK_STATUS_INVALID_FORMAT);
        msg = lk_last_error();
        CHECK(strstr(msg, "lstm") && strstr(msg, "tokenizer"), "lk_lstm_load(a tokenizer): the message \"%s\" does not name both kinds",
              msg);
        CHECK(out == SENTINEL, "lk_lstm_load(a tokenizer) changed *out");
    }
    lk_lstm_free(m);

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
    if (!g_nofork) {
        struct rlimit rl;
        rl.rlim_cur = rl.rlim_max = (rlim_t)4 << 30;
        setrlimit(RLIMIT_AS, &rl);
    }
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
/* Driver                                                                     */
/* ======================================================================== */

static int g_total_passed, g_total_failed;
static const char *g_filter;

static void run_group(const char *name, void (*fn)(void)) {
    if (g_filter && !strstr(name, g_filter)) return;
    int passed = 0, failed = 0, last_line = 0;
    char crash[128] = "";
    fflush(stdout);
    if (g_nofork) {
        g_passed = g_failed = 0;
        fn();
        passed = g_passed;
        failed = g_failed;
    } else {
        int fd[2];
        if (pipe(fd) != 0) {
            perror("pipe");
            exit(2);
        }
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            exit(2);
        }
        if (pid == 0) {
            close(fd[0]);
            g_progress_fd = fd[1];
            g_passed = g_failed = 0;
            alarm(600);
            fn();
            fflush(stdout);
            int rec[3] = {2, 0, 0};
            if (write(fd[1], rec, sizeof rec) < 0) _exit(3);
            _exit(0);
        }
        close(fd[1]);
        int rec[3], finished = 0;
        for (;;) {
            size_t have = 0;
            while (have < sizeof rec) {
                ssize_t r = read(fd[0], (char *)rec + have, sizeof rec - have);
                if (r <= 0) break;
                have += (size_t)r;
            }
            if (have < sizeof rec) break;
            if (rec[0] == 1) {
                last_line = rec[1];
                if (rec[2]) passed++;
                else failed++;
            } else if (rec[0] == 2) {
                finished = 1;
            }
        }
        close(fd[0]);
        int st = 0;
        waitpid(pid, &st, 0);
        if (WIFSIGNALED(st))
            snprintf(crash, sizeof crash, "killed by signal %d%s", WTERMSIG(st), WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
        else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !finished)
            snprintf(crash, sizeof crash, "exited with status %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        if (crash[0]) {
            printf("    FAIL: the group's process was %s after the check at line %d\n", crash, last_line);
            failed++;
        }
    }
    g_total_passed += passed;
    g_total_failed += failed;
    if (failed)
        printf("[FAIL] %s (%d of %d checks failed)\n", name, failed, passed + failed);
    else
        printf("[ok]   %s (%d checks)\n", name, passed);
    fflush(stdout);
}

/* ======================================================================== */
/* Group: text classifier                                                     */
/* ======================================================================== */

static char g_cls_sentinel_object;
#define CLS_SENTINEL ((lk_text_classifier *)(void *)&g_cls_sentinel_object)

/* The English fixture (Tests/Fixtures/text/en.tsv: "label<TAB>text" lines) split by
 * position into train (first n_train) and dev (the rest). */
typedef struct {
    char *data;
    const char **texts, **labels;
    size_t *lens;
    size_t n;
} tsv_set;

static int read_tsv(tsv_set *s) {
    char path[4300];
    size_t len = 0;
    memset(s, 0, sizeof *s);
    snprintf(path, sizeof path, "%s/../text/en.tsv", g_fixture_dir);
    unsigned char *raw = read_all(path, &len);
    if (!raw) return 0;
    s->data = xmalloc(len + 1);
    memcpy(s->data, raw, len);
    s->data[len] = '\0';
    free(raw);
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += s->data[i] == '\n';
    s->texts = xcalloc(lines, sizeof *s->texts);
    s->labels = xcalloc(lines, sizeof *s->labels);
    s->lens = xcalloc(lines, sizeof *s->lens);
    char *line = s->data;
    while (*line) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        char *tab = strchr(line, '\t');
        if (tab) {
            *tab = '\0';
            s->labels[s->n] = line;
            s->texts[s->n] = tab + 1;
            s->lens[s->n] = strlen(tab + 1);
            s->n++;
        }
        if (!nl) break;
        line = nl + 1;
    }
    return 1;
}

static void tsv_free(tsv_set *s) {
    free(s->data);
    free(s->texts);
    free(s->labels);
    free(s->lens);
}

static lk_text_classifier_train_config tiny_cls_config(void) {
    lk_text_classifier_train_config c = lk_text_classifier_train_config_default();
    c.embedding_dim = 16;
    c.hidden_size = 16;
    c.attention_size = 8;
    c.min_count = 1;
    c.epochs = 3;
    c.batch_size = 16;
    c.seed = 3;
    return c;
}

#define N_TRAIN 240

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
    if (needle) {
        const char *msg = lk_last_error();
        ok &= check_at(strstr(msg, needle) != NULL, line, "%s: the message \"%s\" does not mention \"%s\"", what, msg, needle);
    }
    return ok;
}

static int cls_predict_fails_at(const lk_text_classifier *h, const char *const *texts, const size_t *lens, size_t n,
                                int32_t threads, float *p, size_t count, lk_status want, const char *needle, int line,
                                const char *what) {
    int ok = expect_at(lk_text_classifier_predict(h, texts, lens, n, threads, p, count), want, line, what);
    if (needle) {
        const char *msg = lk_last_error();
        ok &= check_at(strstr(msg, needle) != NULL, line, "%s: the message \"%s\" does not mention \"%s\"", what, msg, needle);
    }
    return ok;
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
              fabsf(d.ngram_learning_rate - 0.05f) < 1e-7f && d.min_ngram_count == 2,
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
        PREDICT_FAILS(h, dt, dl, nd, 1, p, SIZE_MAX, LK_STATUS_INVALID_ARGUMENT, "probabilities_count");
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
        lk_lstm_config lc = make_config(3, 4, 1, 0, 0, 1);
        lk_lstm *lstm = NULL;
        char *lpath = path_join(g_tmproot, "an-lstm.safetensors");
        if (EXPECT(lk_lstm_create(&lc, &lstm), LK_STATUS_OK) && EXPECT(lk_lstm_save(lstm, lpath), LK_STATUS_OK)) {
            lk_text_classifier *out = CLS_SENTINEL;
            EXPECT(lk_text_classifier_load(lpath, &out), LK_STATUS_INVALID_FORMAT);
            CHECK(strstr(lk_last_error(), "lstm") && strstr(lk_last_error(), "text_classifier"),
                  "the message \"%s\" does not name both kinds", lk_last_error());
            CHECK(out == CLS_SENTINEL, "*out was changed by a failed load");
            lk_lstm *as_lstm = NULL;
            EXPECT(lk_lstm_load(path, &as_lstm), LK_STATUS_INVALID_FORMAT);
            CHECK(strstr(lk_last_error(), "text_classifier") != NULL, "loading a classifier as an LSTM: \"%s\"", lk_last_error());
        }
        lk_lstm_free(lstm);
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
    BAD_FIELD(pooling, 4);
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
    BAD_FIELD(min_ngram_count, 0);
    BAD_FIELD(threads, 0);
    BAD_FIELD(threads, INT32_MAX);
#undef BAD_FIELD

    /* Every pooling and tokenization trains (one epoch, tiny), and balancing works. */
    for (int32_t pool = LK_POOLING_LAST; pool <= LK_POOLING_ATTENTION; pool++) {
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
#undef TRAIN_FAIL
    tsv_free(&s);
}

/* ======================================================================== */
/* Group: image classifier                                                    */
/* ======================================================================== */

static char g_img_sentinel_object;
#define IMG_SENTINEL ((lk_image_classifier *)(void *)&g_img_sentinel_object)

/* n synthetic 8x8 images (C channels, the class in the first) in [0, 255]: the class
 * (0..3) is the bright quadrant, under uniform noise. Labels are "0".."3". */
typedef struct {
    float *x;
    const char **labels;
    int *y;
    size_t n, count;
    lk_image_shape shape;
} image_set;

static const char *const k_quadrant_labels[4] = {"0", "1", "2", "3"};

static void quadrant_images(image_set *s, size_t n, int64_t channels, uint64_t seed) {
    rng r = {seed};
    s->shape = (lk_image_shape){0, 8, 8, channels};
    s->n = n;
    s->count = n * 64 * (size_t)channels;
    s->x = xmalloc(s->count * sizeof(float));
    s->labels = xcalloc(n, sizeof *s->labels);
    s->y = xcalloc(n, sizeof *s->y);
    for (size_t i = 0; i < n; i++) {
        int c = (int)(rng_next(&r) % 4), qr = c / 2, qc = c % 2;
        s->y[i] = c;
        s->labels[i] = k_quadrant_labels[c];
        for (int h = 0; h < 8; h++)
            for (int w = 0; w < 8; w++)
                for (int ch = 0; ch < channels; ch++) {
                    float v = 100.0f + rng_unif(&r, 90.0f);
                    if (h / 4 == qr && w / 4 == qc) v += 60.0f;
                    s->x[((i * 8 + (size_t)h) * 8 + (size_t)w) * (size_t)channels + (size_t)ch] = v;
                }
    }
}

static void image_set_free(image_set *s) {
    free(s->x);
    free(s->labels);
    free(s->y);
}

static lk_image_classifier_train_config tiny_img_config(void) {
    lk_image_classifier_train_config c = lk_image_classifier_train_config_default();
    c.hidden_size = 16;
    c.epochs = 6;
    c.batch_size = 16;
    c.learning_rate = 0.01f;
    c.seed = 5;
    c.num_conv_blocks = 1;
    c.conv_channels[0] = 4;
    return c;
}

static lk_status img_train(const image_set *t, const image_set *d, const lk_image_classifier_train_config *c,
                           lk_progress_fn fn, void *user, lk_image_classifier **out) {
    return lk_image_classifier_train(&t->shape, t->x, t->n, t->count, t->labels, d->x, d->n, d->count, d->labels, c, fn,
                                     user, out);
}

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
    int ok = expect_at(lk_image_classifier_predict(h, x, n, shape, count, threads, p, pc), want, line, what);
    if (needle) {
        const char *msg = lk_last_error();
        ok &= check_at(strstr(msg, needle) != NULL, line, "%s: the message \"%s\" does not mention \"%s\"", what, msg, needle);
    }
    return ok;
}
#define IMG_PREDICT_FAILS(h, x, n, shape, count, th, p, pc, want, needle)                                   \
    img_predict_fails_at((h), (x), (n), (shape), (count), (th), (p), (pc), (want), (needle), __LINE__, \
                         #x ", " #n ", " #shape ", " #count ", " #th ", " #p ", " #pc)

/* Loading `path` as an image classifier fails with INVALID_FORMAT naming both kinds. */
static void img_load_wrong_kind_at(const char *path, const char *kind, int line) {
    lk_image_classifier *out = IMG_SENTINEL;
    expect_at(lk_image_classifier_load(path, &out), LK_STATUS_INVALID_FORMAT, line, "lk_image_classifier_load(another kind)");
    const char *msg = lk_last_error();
    check_at(strstr(msg, kind) != NULL && strstr(msg, "image_classifier") != NULL, line,
             "loading a \"%s\" file: the message \"%s\" does not name both kinds", kind, msg);
    check_at(out == IMG_SENTINEL, line, "*out was changed by a failed load");
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
        IMG_PREDICT_FAILS(h, te.x, n, &te.shape, SIZE_MAX, 1, q, pc, LK_STATUS_INVALID_ARGUMENT, "images_count");
        IMG_PREDICT_FAILS(h, te.x, n, &te.shape, te.count, 1, q, SIZE_MAX, LK_STATUS_INVALID_ARGUMENT, "probabilities_count");
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
        lk_lstm_config lc = make_config(3, 4, 1, 0, 0, 1);
        lk_lstm *lstm = NULL;
        char *lpath = path_join(g_tmproot, "img-an-lstm.safetensors");
        if (EXPECT(lk_lstm_create(&lc, &lstm), LK_STATUS_OK) && EXPECT(lk_lstm_save(lstm, lpath), LK_STATUS_OK))
            img_load_wrong_kind_at(lpath, "\"lstm\"", __LINE__);
        lk_lstm_free(lstm);
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
    if (needle) {
        const char *msg = lk_last_error();
        ok &= check_at(strstr(msg, needle) != NULL, line, "%s: the message \"%s\" does not mention \"%s\"", what, msg, needle);
    }
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
    IMG_TRAIN_FAIL(sh, tx, nt, SIZE_MAX, tl, dx, nd, dc, dl, &c, LK_STATUS_INVALID_ARGUMENT, "train_count");
    IMG_TRAIN_FAIL(sh, tx, SIZE_MAX / 4, tc, tl, dx, nd, dc, dl, &c, LK_STATUS_OUT_OF_MEMORY, "too large");
    {
        lk_image_shape neg = {-1, 8, 8, 1}, w0 = {0, 8, 0, 1}, c0 = {0, 8, 8, 0}, big = {0, 8, 8, 1 << 20};
        IMG_TRAIN_FAIL(&neg, tx, nt, tc, tl, dx, nd, dc, dl, &c, LK_STATUS_INVALID_ARGUMENT, "frames");
        IMG_TRAIN_FAIL(&w0, tx, nt, tc, tl, dx, nd, dc, dl, &c, LK_STATUS_INVALID_ARGUMENT, "width");
        IMG_TRAIN_FAIL(&c0, tx, nt, tc, tl, dx, nd, dc, dl, &c, LK_STATUS_INVALID_ARGUMENT, "channels");
        IMG_TRAIN_FAIL(&big, tx, nt, tc, tl, dx, nd, dc, dl, &c, LK_STATUS_INVALID_ARGUMENT, "too large");
        /* Frames need kind CNN; CNN blocks need images of at least 2^blocks pixels. */
        lk_image_shape frames = {2, 8, 4, 1};
        IMG_TRAIN_FAIL(&frames, tx, nt, tc, tl, dx, nd, dc, dl, &c, LK_STATUS_INVALID_ARGUMENT, "LK_IMAGE_KIND_CNN");
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
    IMG_BAD_FIELD(pooling, 4);
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
#undef IMG_TRAIN_FAIL
    image_set_free(&tr);
    image_set_free(&dv);
}

/* ======================================================================== */
/* Group: image segmenter                                                     */
/* ======================================================================== */

static char g_seg_sentinel_object;
#define SEG_SENTINEL ((lk_image_segmenter *)(void *)&g_seg_sentinel_object)

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
    int ok = expect_at(lk_image_segmenter_predict(h, x, n, shape, count, threads, m, mc), want, line, what);
    if (needle) {
        const char *msg = lk_last_error();
        ok &= check_at(strstr(msg, needle) != NULL, line, "%s: the message \"%s\" does not mention \"%s\"", what, msg, needle);
    }
    return ok;
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
    if (needle) {
        const char *msg = lk_last_error();
        ok &= check_at(strstr(msg, needle) != NULL, line, "%s: the message \"%s\" does not mention \"%s\"", what, msg, needle);
    }
    return ok;
}
#define SEG_EVAL_FAILS(h, s, n, masks, mc, conf, cc, want, needle) \
    seg_eval_fails_at((h), (s), (n), (masks), (mc), (conf), (cc), (want), (needle), __LINE__, #n ", " #masks ", " #mc ", " #cc)

/* Loading `path` as an image segmenter fails with INVALID_FORMAT naming both kinds. */
static void seg_load_wrong_kind_at(const char *path, const char *kind, int line) {
    lk_image_segmenter *out = SEG_SENTINEL;
    expect_at(lk_image_segmenter_load(path, &out), LK_STATUS_INVALID_FORMAT, line, "lk_image_segmenter_load(another kind)");
    const char *msg = lk_last_error();
    check_at(strstr(msg, kind) != NULL && strstr(msg, "image_segmenter") != NULL, line,
             "loading a \"%s\" file: the message \"%s\" does not name both kinds", kind, msg);
    check_at(out == SEG_SENTINEL, line, "*out was changed by a failed load");
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
        SEG_PREDICT_FAILS(h, te.x, n, &te.shape, SIZE_MAX, 1, m2, mc, LK_STATUS_INVALID_ARGUMENT, "images_count");
        SEG_PREDICT_FAILS(h, te.x, n, &te.shape, te.count, 1, m2, SIZE_MAX, LK_STATUS_INVALID_ARGUMENT, "masks_count");
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
        EXPECT(lk_image_segmenter_predict_proba(h, te.x, n, &te.shape, te.count, 1, q, SIZE_MAX), LK_STATUS_INVALID_ARGUMENT);
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
        lk_lstm_config lc = make_config(3, 4, 1, 0, 0, 1);
        lk_lstm *lstm = NULL;
        char *lpath = path_join(g_tmproot, "seg-an-lstm.safetensors");
        if (EXPECT(lk_lstm_create(&lc, &lstm), LK_STATUS_OK) && EXPECT(lk_lstm_save(lstm, lpath), LK_STATUS_OK))
            seg_load_wrong_kind_at(lpath, "\"lstm\"", __LINE__);
        lk_lstm_free(lstm);
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
    if (needle) {
        const char *msg = lk_last_error();
        ok &= check_at(strstr(msg, needle) != NULL, line, "%s: the message \"%s\" does not mention \"%s\"", what, msg, needle);
    }
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
    SEG_TRAIN_FAIL(ts, tx, nt, tc, tm, SIZE_MAX, ds, dx, nd, dc, dm, dmc, &c, LK_STATUS_INVALID_ARGUMENT, "train_masks_count");
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
#undef SEG_TRAIN_FAIL
    seg_set_free(&tr);
    seg_set_free(&dv);
    seg_set_free(&rgb);
    seg_set_free(&big);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--print-threads") == 0) {
        printf("%d\n", (int)lk_get_num_threads());
        return 0;
    }
    g_argv0 = argv[0];
    setvbuf(stdout, NULL, _IOLBF, 0); /* a crashing group must not lose its buffered lines */
    const char *fixtures = getenv("LK_TEST_FIXTURES");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--fixtures") == 0 && i + 1 < argc) fixtures = argv[++i];
        else g_filter = argv[i];
    }
    if (fixtures && *fixtures) {
        snprintf(g_fixture_dir, sizeof g_fixture_dir, "%s", fixtures);
    } else {
        /* Tests/CTests/test_abi.c -> Tests/Fixtures/cws */
        const char *slash = strrchr(__FILE__, '/');
        int dir_len = slash ? (int)(slash - __FILE__) : 0;
        snprintf(g_fixture_dir, sizeof g_fixture_dir, "%.*s%s../Fixtures/cws", dir_len, __FILE__, slash ? "/" : "");
    }
    const char *v = getenv("LK_TEST_VERBOSE");
    g_verbose = v && *v && strcmp(v, "0") != 0;
    v = getenv("LK_TEST_NOFORK");
    g_nofork = v && *v && strcmp(v, "0") != 0;

    const char *tmp = getenv("TMPDIR");
    snprintf(g_tmproot, sizeof g_tmproot, "%s/lstmkit-ctest-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_tmproot)) {
        perror("mkdtemp");
        return 2;
    }

    snprintf(g_tok_model, sizeof g_tok_model, "%s/tiny-tokenizer.safetensors", g_tmproot);

    printf("LSTMKit C ABI test: header %s (ABI %d), library %s (ABI %d)\n", LK_VERSION_STRING, LK_ABI_VERSION, lk_version(),
           (int)lk_abi_version());
    run_group("versions, status strings, last error", group_versions);
    run_group("BLAS threads", group_threads);
    run_group("LSTMKIT_NUM_THREADS at load", group_threads_env);
    run_group("config, create, get_config, free", group_config);
    run_group("forward argument errors", group_forward_errors);
    run_group("parameters: names, shapes, get/set", group_params);
    run_group("forward vs plain C reference", group_correctness);
    run_group("save/load round trip and file layout", group_save_load);
    run_group("load: corrupt files", group_corrupt);
    run_group("load: hand-built files", group_handbuilt);
    run_group("load: special files", group_special_files);
    run_group("shared handle across threads", group_shared_handle);
    run_group("tokenizer: training", group_tok_train);
    run_group("tokenizer: training errors", group_tok_train_errors);
    run_group("tokenizer: ensembles", group_tok_ensemble);
    run_group("tokenizer: checkpoints and resuming", group_tok_checkpoint);
    run_group("tokenizer: segment", group_tok_segment);
    run_group("tokenizer: segment_batch", group_tok_batch);
    run_group("tokenizer: user words and dictionaries", group_tok_words);
    run_group("tokenizer: save/load and wrong files", group_tok_files);
    run_group("tokenizer: special files", group_tok_special);
    run_group("tokenizer: sizes that cannot be real", group_tok_sizes);
    run_group("tokenizer: shared across threads", group_tok_threads);
    run_group("text classifier: train, predict, labels, files", group_text_classifier);
    run_group("text classifier: training errors", group_text_classifier_train_errors);
    run_group("text classifier: attention weights", group_text_classifier_attention);
    run_group("text classifier: n-gram features", group_text_classifier_ngrams);
    run_group("image classifier: train, predict, labels, files", group_image_classifier);
    run_group("image classifier: training errors", group_image_classifier_train_errors);
    run_group("image segmenter: train, predict, evaluate, files", group_image_segmenter);
    run_group("image segmenter: training errors", group_image_segmenter_train_errors);

    rm_tree(g_tmproot);
    printf("%d passed, %d failed\n", g_total_passed, g_total_failed);
    return g_total_failed ? 1 : 0;
}
