/*
 * harness.h — what the files of the C ABI test share (see harness.c for the program as
 * a whole): the checks and their counters, small utilities, the fixtures more than one
 * area uses, and the group registry.
 *
 * Every test file includes this header first (it sets _POSIX_C_SOURCE).
 */
#ifndef LSTMKIT_CTESTS_HARNESS_H
#define LSTMKIT_CTESTS_HARNESS_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

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
/* Settings of the run (set by main)                                          */
/* ======================================================================== */

extern int g_verbose;              /* LK_TEST_VERBOSE: print the message of every expected failure */
extern int g_nofork;               /* LK_TEST_NOFORK: the groups run in this process */
extern char g_tmproot[4096];       /* this run's temporary directory, removed at the end */
extern const char *g_argv0;        /* how this program was started */
extern char g_fixture_dir[4096];   /* Tests/Fixtures/cws: --fixtures DIR, LK_TEST_FIXTURES or from __FILE__ */
extern char g_tok_model[4200];     /* the tiny tokenizer, trained once and shared by the groups */

/* ======================================================================== */
/* Checks                                                                     */
/* ======================================================================== */

/* One check: counts it, and prints the message (printf-style) if ok is 0. Returns ok. */
int check_at(int ok, int line, const char *fmt, ...) LK_PRINTF(3, 4);
#define CHECK(cond, ...) check_at((cond) ? 1 : 0, __LINE__, __VA_ARGS__)

/* The name of a status ("LK_STATUS_OK", ...), or "(not a status)". */
const char *status_name(lk_status s);

/* A call must return `want`; a failure must also leave a non-empty lk_last_error(). */
int expect_at(lk_status got, lk_status want, int line, const char *call);
#define EXPECT(call, want) expect_at((call), (want), __LINE__, #call)

/* One check that lk_last_error() contains needle; no check (and 1) if needle is NULL. */
int mentions_at(const char *needle, int line, const char *what);

/* expect_at, then mentions_at: a call fails with `want` and a message that says `needle`. */
int expect_mentions_at(lk_status got, lk_status want, const char *needle, int line, const char *what);

/* Loading a file of another kind: INVALID_FORMAT (got), a message naming the file's kind
 * and the loader's, and *out untouched: three checks. */
void wrong_kind_at(lk_status got, int out_untouched, const char *kind, const char *loader_kind, int line, const char *what);

/* A pointer no call returns: put in *out before a call that must fail and leave it alone. */
extern char g_sentinel_object;
#define SENTINEL ((lk_lstm *)(void *)&g_sentinel_object)
#define TOK_SENTINEL ((lk_tokenizer *)(void *)&g_sentinel_object)
#define CLS_SENTINEL ((lk_text_classifier *)(void *)&g_sentinel_object)
#define IMG_SENTINEL ((lk_image_classifier *)(void *)&g_sentinel_object)
#define SEG_SENTINEL ((lk_image_segmenter *)(void *)&g_sentinel_object)

/* What output buffers hold before a call that must not write them. */
#define UNTOUCHED 777.0f

/* ======================================================================== */
/* Utilities                                                                  */
/* ======================================================================== */

void *xmalloc(size_t n);              /* exits the program when out of memory */
void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);

/* xorshift64: the same numbers on every machine. */
typedef struct {
    uint64_t s;
} rng;
uint64_t rng_next(rng *r);
float rng_unif(rng *r, float a); /* uniform in [-a, a) */
float *rand_floats(size_t n, rng *r, float a);

float *copy_floats(const float *src, size_t n);
int bits_equal(const float *a, const float *b, size_t n);
double max_diff_ff(const float *a, const float *b, size_t n); /* largest |a - b|; a NaN counts as infinity */
void fill(float *p, size_t n, float v);
int all_equal_to(const float *p, size_t n, float v); /* bit for bit */
uint64_t get_u64le(const unsigned char *p);

/* Files. */
char *path_join(const char *dir, const char *name);
unsigned char *read_all(const char *path, size_t *len); /* NULL if it cannot be read */
int write_all(const char *path, const void *data, size_t n);
int count_entries(const char *dir);
void list_entries(const char *dir); /* prints them */
int is_file(const char *path);
void rm_tree(const char *path);
char *make_tmpdir(const char *tag); /* a fresh empty directory under g_tmproot */

/* An endless stream (/dev/zero) must be refused without reading it all: in a forked
 * group, bound the address space so that a loader that tries fails fast. */
void bound_address_space(void);

/* ======================================================================== */
/* Model files: header and metadata                                           */
/* ======================================================================== */

/* The JSON value (an object) after "key": in json, as a new string; NULL if absent. */
char *json_object_of(const char *json, const char *key);
/* The string value of "key" in a flat object, into buf; 0 if absent or not a string. */
int json_string_of(const char *obj, const char *key, char *buf, size_t cap);
/* The __metadata__ object of the model file at path, as a new string; NULL if none. */
char *metadata_of(const char *path);
/* Writes to dst the model file src with its metadata value of "key" (the first
 * "key":"..." in the header) replaced by value, the header re-padded; 1 on success. */
int write_with_metadata(const char *src, const char *dst, const char *key, const char *value);
/* One check: the metadata of the model file at path holds key = want. */
int metadata_is_at(const char *path, const char *key, const char *want, int line);
#define METADATA_IS(path, key, want) metadata_is_at((path), (key), (want), __LINE__)

/* ======================================================================== */
/* An LSTM handle with one valid input and its first outputs                  */
/* ======================================================================== */

/* The arguments of lk_lstm_forward. */
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

lk_status fwd(const fwd_args *a);

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

lk_lstm_config make_config(int D, int H, int L, int bidir, float dropout, uint64_t seed);
/* The fixture's arguments, with the given output buffers. */
void fixture_args(const fixture *f, fwd_args *a, float *y, float *hn, float *cn);
/* Creates the handle, a random input with ragged lengths and initial states, and runs it once. */
int fixture_init(fixture *f, lk_lstm_config cfg, int64_t B, int64_t T);
void fixture_free(fixture *f);
/* The handle must still run and give bit-identical outputs to its first forward. */
int still_works_at(const fixture *f, int line);
#define STILL_WORKS(f) still_works_at((f), __LINE__)

/* Saves a small LSTM (D=3, H=4, one layer) to path: two checks (create, save); 1 if saved. */
int save_small_lstm_at(const char *path, int line);

/* ======================================================================== */
/* Training progress                                                          */
/* ======================================================================== */

/* What the progress callback saw. */
typedef struct {
    void *self; /* == the struct's address: user_data arrived unchanged */
    int calls, bad_lines, epoch_lines, resumed_lines;
    char first[160];
} progress_log;

void progress_init(progress_log *log);
void record_progress(const char *line, void *user_data); /* an lk_progress_fn; user_data is a progress_log */

/* ======================================================================== */
/* Tokenizer: the CWS fixtures and the tiny model                             */
/* ======================================================================== */

/* A fixture file (of g_fixture_dir) with a terminating NUL (not counted in *len), or NULL. */
char *read_fixture(const char *name, size_t *len);
/* A tokenizer small enough to train in well under a second on the fixtures. */
lk_tokenizer_train_config tiny_config(void);
/* Trains the tiny tokenizer (config c) on the fixtures; NULL on failure (reported). */
lk_tokenizer *train_fixture_at(lk_tokenizer_train_config c, const char *checkpoint, progress_log *log, int line);
/* The shared tiny tokenizer: loaded from g_tok_model, or trained (and saved) if a
 * group runs before the training group or alone. */
lk_tokenizer *tiny_tokenizer_at(int line);
#define TINY_TOKENIZER() tiny_tokenizer_at(__LINE__)

/* ======================================================================== */
/* Text classifier: the English fixture                                       */
/* ======================================================================== */

/* The English fixture (Tests/Fixtures/text/en.tsv: "label<TAB>text" lines) split by
 * position into train (first N_TRAIN) and dev (the rest). */
typedef struct {
    char *data;
    const char **texts, **labels;
    size_t *lens;
    size_t n;
} tsv_set;

#define N_TRAIN 240

int read_tsv(tsv_set *s);
void tsv_free(tsv_set *s);
lk_text_classifier_train_config tiny_cls_config(void);

/* ======================================================================== */
/* Image classifier: synthetic images                                         */
/* ======================================================================== */

/* n synthetic 8x8 images (C channels, the class in the first) in [0, 255]: the class
 * (0..3) is the bright quadrant, under uniform noise. Labels are "0".."3". */
typedef struct {
    float *x;
    const char **labels;
    int *y;
    size_t n, count;
    lk_image_shape shape;
} image_set;

void quadrant_images(image_set *s, size_t n, int64_t channels, uint64_t seed);
void image_set_free(image_set *s);
lk_image_classifier_train_config tiny_img_config(void);
lk_status img_train(const image_set *t, const image_set *d, const lk_image_classifier_train_config *c, lk_progress_fn fn,
                    void *user, lk_image_classifier **out);

/* ======================================================================== */
/* Groups                                                                     */
/* ======================================================================== */

/* One group of checks: one output line. Each test file lists its groups, in the order
 * they run, ending with {NULL, NULL}; main runs the lists in the order below. */
typedef struct {
    const char *name;
    void (*run)(void);
} test_group;

extern const test_group library_groups[];          /* test_library.c */
extern const test_group lstm_groups[];             /* test_lstm.c */
extern const test_group tokenizer_groups[];        /* test_tokenizer.c */
extern const test_group text_classifier_groups[];  /* test_text_classifier.c */
extern const test_group image_classifier_groups[]; /* test_image_classifier.c */
extern const test_group image_segmenter_groups[];  /* test_image_segmenter.c */
extern const test_group header_groups[];           /* test_header.c */
extern const test_group train_options_groups[];    /* test_train_options.c */
extern const test_group gru_groups[];              /* test_gru.c */
extern const test_group sequence_classifier_groups[]; /* test_sequence_classifier.c */
extern const test_group forecaster_groups[];       /* test_forecaster.c */
extern const test_group seq2seq_groups[];          /* test_seq2seq.c */
extern const test_group memory_groups[];           /* test_memory.c */
extern const test_group quantize_groups[];         /* test_quantize.c */

#endif
