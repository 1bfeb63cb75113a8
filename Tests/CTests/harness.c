/*
 * harness.c — the C ABI test's checks, shared helpers and main.
 *
 * The test exercises every function of include/lstmkit.h from plain C11. Its groups of
 * checks live in one file per area, each listing its groups (one output line per group):
 *   test_library.c           versions, status strings, lk_last_error, BLAS threads;
 *   test_lstm.c              the LSTM: config, forward, parameters, a plain C reference,
 *                            save/load, corrupt and hand-built files, threads;
 *   test_tokenizer.c         the tokenizer: training, ensembles, checkpoints, segment,
 *                            user words, files, sizes, threads;
 *   test_text_classifier.c   the text classifier: train, predict, attention, n-grams;
 *   test_image_classifier.c  the image classifier on synthetic 8x8 images;
 *   test_image_segmenter.c   the image segmenter on synthetic images with squares;
 *   test_gru.c               the GRU: a plain C reference, argument errors, files;
 *   test_sequence_classifier.c  the sequence classifier on synthetic float sequences;
 *   test_forecaster.c        the forecaster on a synthetic seasonal series;
 *   test_seq2seq.c           the seq2seq model on a toy task (reversing strings).
 * After every failing call the test checks that the handle still works.
 *
 * Each group runs in a forked child so that a crash in the library is reported as a
 * failed group and the remaining groups still run. Environment:
 *   LK_TEST_NOFORK=1   run the groups in this process (for a debugger)
 *   LK_TEST_VERBOSE=1  also print the message of every expected failure
 * An optional argument runs only the groups whose name contains it. The tokenizer
 * groups read the CWS fixtures from --fixtures DIR (run.sh passes it), else from
 * $LK_TEST_FIXTURES, else from Tests/Fixtures/cws beside this source file (__FILE__,
 * relative to the directory it was compiled from). The program prints one line per
 * group and ends with "N passed, M failed"; it exits with 0 if every check passed, 1 if
 * one failed (2 if it could not run at all).
 *
 * Build (see Tests/CTests/run.sh):
 *   cc -std=c11 -Wall -Wextra -Werror -pedantic -I include Tests/CTests/harness.c Tests/CTests/test_*.c \
 *      -L<libdir> -llstmkit -Wl,-rpath,<libdir> -lm -o test_abi
 */
#include "harness.h"

/* ======================================================================== */
/* Check bookkeeping                                                          */
/* ======================================================================== */

int g_verbose, g_nofork;
char g_tmproot[4096];
const char *g_argv0 = "test_abi";
char g_fixture_dir[4096];
char g_tok_model[4200];
char g_sentinel_object;

static int g_passed, g_failed;
static int g_progress_fd = -1; /* in a forked group: where the line of each check goes */

/* In a forked group every check is reported to the parent as it happens, so that the
 * checks before a crash still count and the crash can be placed. */
static void note_progress(int line, int ok) {
    if (g_progress_fd >= 0) {
        int rec[3] = {1, line, ok};
        if (write(g_progress_fd, rec, sizeof rec) < 0) { /* the parent is gone: nothing to do */ }
    }
}

int check_at(int ok, int line, const char *fmt, ...) {
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

const char *status_name(lk_status s) {
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

int expect_at(lk_status got, lk_status want, int line, const char *call) {
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

int mentions_at(const char *needle, int line, const char *what) {
    if (!needle) return 1;
    const char *msg = lk_last_error();
    return check_at(strstr(msg, needle) != NULL, line, "%s: the message \"%s\" does not mention \"%s\"", what, msg, needle);
}

int expect_mentions_at(lk_status got, lk_status want, const char *needle, int line, const char *what) {
    int ok = expect_at(got, want, line, what);
    ok &= mentions_at(needle, line, what);
    return ok;
}

void wrong_kind_at(lk_status got, int out_untouched, const char *kind, const char *loader_kind, int line, const char *what) {
    expect_at(got, LK_STATUS_INVALID_FORMAT, line, what);
    const char *msg = lk_last_error();
    check_at(strstr(msg, kind) != NULL && strstr(msg, loader_kind) != NULL, line,
             "loading a \"%s\" file: the message \"%s\" does not name both kinds", kind, msg);
    check_at(out_untouched, line, "*out was changed by a failed load");
}

/* ======================================================================== */
/* Small utilities                                                            */
/* ======================================================================== */

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "test_abi: out of memory (%zu bytes)\n", n);
        exit(2);
    }
    return p;
}

void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "test_abi: out of memory\n");
        exit(2);
    }
    return p;
}

char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

uint64_t rng_next(rng *r) {
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

float rng_unif(rng *r, float a) {
    double u = (double)(rng_next(r) >> 40) / 16777216.0; /* [0, 1) */
    return (float)((2.0 * u - 1.0) * a);
}

float *rand_floats(size_t n, rng *r, float a) {
    float *p = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = rng_unif(r, a);
    return p;
}

float *copy_floats(const float *src, size_t n) {
    float *p = xmalloc(n * sizeof(float));
    memcpy(p, src, n * sizeof(float));
    return p;
}

int bits_equal(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof(float)) == 0;
}

double max_diff_ff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d)) return INFINITY;
        if (d > m) m = d;
    }
    return m;
}

void fill(float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++) p[i] = v;
}

int all_equal_to(const float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&p[i], &v, sizeof v) != 0) return 0;
    return 1;
}

uint64_t get_u64le(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* ---------- files ---------- */

char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

unsigned char *read_all(const char *path, size_t *len) {
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

int write_all(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    int ok = n == 0 || fwrite(data, 1, n, fp) == n;
    if (fclose(fp) != 0) ok = 0;
    return ok;
}

int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

void list_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) printf("        entry: %s\n", e->d_name);
    closedir(d);
}

int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

void rm_tree(const char *path) {
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

char *make_tmpdir(const char *tag) {
    char *tmpl = xmalloc(strlen(g_tmproot) + strlen(tag) + 16);
    sprintf(tmpl, "%s/%s-XXXXXX", g_tmproot, tag);
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        exit(2);
    }
    return tmpl;
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define LK_SANITIZED 1
#endif
#endif

/* A sanitizer reserves terabytes of address space for its shadow memory, so under one
 * the bound is left off (sanitized.sh sets allocator_may_return_null instead). */
void bound_address_space(void) {
#ifndef LK_SANITIZED
    if (!g_nofork) {
        struct rlimit rl;
        rl.rlim_cur = rl.rlim_max = (rlim_t)4 << 30;
        setrlimit(RLIMIT_AS, &rl);
    }
#endif
}

/* ======================================================================== */
/* LSTM handles: forward arguments, the fixture, a small model file           */
/* ======================================================================== */

lk_status fwd(const fwd_args *a) {
    return lk_lstm_forward(a->m, a->x, a->B, a->T, a->D, a->x_count, a->lengths, a->h0, a->c0,
                           a->state_count, a->y, a->y_count, a->hn, a->cn, a->state_out_count);
}

lk_lstm_config make_config(int D, int H, int L, int bidir, float dropout, uint64_t seed) {
    lk_lstm_config c = lk_lstm_config_default();
    c.input_size = D;
    c.hidden_size = H;
    c.num_layers = L;
    c.bidirectional = bidir;
    c.dropout = dropout;
    c.seed = seed;
    return c;
}

void fixture_args(const fixture *f, fwd_args *a, float *y, float *hn, float *cn) {
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

int fixture_init(fixture *f, lk_lstm_config cfg, int64_t B, int64_t T) {
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

void fixture_free(fixture *f) {
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
int still_works_at(const fixture *f, int line) {
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

int save_small_lstm_at(const char *path, int line) {
    lk_lstm_config c = make_config(3, 4, 1, 0, 0.0f, 1);
    lk_lstm *m = NULL;
    int ok = expect_at(lk_lstm_create(&c, &m), LK_STATUS_OK, line, "lk_lstm_create(a small LSTM)") &&
             expect_at(lk_lstm_save(m, path), LK_STATUS_OK, line, "lk_lstm_save(a small LSTM)");
    lk_lstm_free(m);
    return ok;
}

/* ======================================================================== */
/* Model files: header and metadata                                           */
/* ======================================================================== */

/* The JSON value (an object) after "key": in json, as a new string; NULL if absent. */
char *json_object_of(const char *json, const char *key) {
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

/* The string value of "key" in a flat object, into buf; 0 if absent or not a string. */
int json_string_of(const char *obj, const char *key, char *buf, size_t cap) {
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

char *metadata_of(const char *path) {
    size_t flen = 0;
    unsigned char *file = read_all(path, &flen);
    char *meta = NULL;
    if (file && flen >= 8 && get_u64le(file) <= flen - 8) {
        uint64_t N = get_u64le(file);
        char *hdr = xmalloc((size_t)N + 1);
        memcpy(hdr, file + 8, (size_t)N);
        hdr[N] = '\0';
        meta = json_object_of(hdr, "__metadata__");
        free(hdr);
    }
    free(file);
    return meta;
}

int write_with_metadata(const char *src, const char *dst, const char *key, const char *value) {
    size_t flen = 0;
    unsigned char *file = read_all(src, &flen);
    if (!file || flen < 8 || get_u64le(file) > flen - 8) {
        free(file);
        return 0;
    }
    size_t n = (size_t)get_u64le(file);
    char *hdr = xmalloc(n + 1);
    memcpy(hdr, file + 8, n);
    hdr[n] = '\0';
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    char *start = strstr(hdr, pattern), *end = start ? strchr(start + strlen(pattern), '"') : NULL;
    int ok = end != NULL;
    if (ok) {
        size_t head = (size_t)(start - hdr) + strlen(pattern), tail = strlen(end);
        size_t m = head + strlen(value) + tail, padded = (m + 7) / 8 * 8;
        unsigned char *out = xmalloc(8 + padded + (flen - 8 - n));
        for (int i = 0; i < 8; i++) out[i] = (unsigned char)((uint64_t)padded >> (8 * i));
        memcpy(out + 8, hdr, head);
        memcpy(out + 8 + head, value, strlen(value));
        memcpy(out + 8 + head + strlen(value), end, tail);
        memset(out + 8 + m, ' ', padded - m);
        memcpy(out + 8 + padded, file + 8 + n, flen - 8 - n);
        ok = write_all(dst, out, 8 + padded + (flen - 8 - n));
        free(out);
    }
    free(hdr);
    free(file);
    return ok;
}

int metadata_is_at(const char *path, const char *key, const char *want, int line) {
    char v[64] = "";
    char *meta = metadata_of(path);
    int found = meta && json_string_of(meta, key, v, sizeof v);
    free(meta);
    return check_at(found && strcmp(v, want) == 0, line, "%s: metadata %s is \"%s\", want \"%s\"", path, key,
                    found ? v : "(missing)", want);
}

/* ======================================================================== */
/* Training progress                                                          */
/* ======================================================================== */

void progress_init(progress_log *log) {
    memset(log, 0, sizeof *log);
    log->self = log;
}

void record_progress(const char *line, void *user_data) {
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

/* ======================================================================== */
/* Tokenizer: the CWS fixtures and the tiny model                             */
/* ======================================================================== */

/* A fixture file with a terminating NUL (not counted in *len), or NULL. */
char *read_fixture(const char *name, size_t *len) {
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
lk_tokenizer_train_config tiny_config(void) {
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

/* Trains the tiny tokenizer (config c) on the fixtures; NULL on failure (reported). */
lk_tokenizer *train_fixture_at(lk_tokenizer_train_config c, const char *checkpoint, progress_log *log, int line) {
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
lk_tokenizer *tiny_tokenizer_at(int line) {
    lk_tokenizer *t = NULL;
    if (is_file(g_tok_model)) {
        if (!expect_at(lk_tokenizer_load(g_tok_model, &t), LK_STATUS_OK, line, "lk_tokenizer_load(the tiny model)")) return NULL;
        return t;
    }
    t = train_fixture_at(tiny_config(), NULL, NULL, line);
    if (t) expect_at(lk_tokenizer_save(t, g_tok_model), LK_STATUS_OK, line, "lk_tokenizer_save(the tiny model)");
    return t;
}

/* ======================================================================== */
/* Text classifier: the English fixture                                       */
/* ======================================================================== */

int read_tsv(tsv_set *s) {
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

void tsv_free(tsv_set *s) {
    free(s->data);
    free(s->texts);
    free(s->labels);
    free(s->lens);
}

lk_text_classifier_train_config tiny_cls_config(void) {
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

/* ======================================================================== */
/* Image classifier: synthetic images                                         */
/* ======================================================================== */

static const char *const k_quadrant_labels[4] = {"0", "1", "2", "3"};

void quadrant_images(image_set *s, size_t n, int64_t channels, uint64_t seed) {
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

void image_set_free(image_set *s) {
    free(s->x);
    free(s->labels);
    free(s->y);
}

lk_image_classifier_train_config tiny_img_config(void) {
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

lk_status img_train(const image_set *t, const image_set *d, const lk_image_classifier_train_config *c, lk_progress_fn fn,
                    void *user, lk_image_classifier **out) {
    return lk_image_classifier_train(&t->shape, t->x, t->n, t->count, t->labels, d->x, d->n, d->count, d->labels, c, fn,
                                     user, out);
}

/* ======================================================================== */
/* Groups and main                                                            */
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
        /* Tests/CTests/harness.c -> Tests/Fixtures/cws */
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
    static const test_group *const areas[] = {
        library_groups, lstm_groups, tokenizer_groups, text_classifier_groups, image_classifier_groups, image_segmenter_groups,
        header_groups,
        train_options_groups,
        gru_groups,
        sequence_classifier_groups,
        forecaster_groups,
        seq2seq_groups,
        memory_groups,
        quantize_groups,
    };
    for (size_t i = 0; i < sizeof areas / sizeof areas[0]; i++)
        for (const test_group *g = areas[i]; g->name; g++) run_group(g->name, g->run);

    rm_tree(g_tmproot);
    printf("%d passed, %d failed\n", g_total_passed, g_total_failed);
    return g_total_failed ? 1 : 0;
}

