/*
 * lstmkit.h — the C interface of LSTMKit, an LSTM engine on OpenBLAS.
 *
 * This header is the reference for the ABI. Link with -llstmkit.
 *
 * Conventions (they hold for every function below unless its block says otherwise):
 *   - Every fallible call returns an lk_status. LK_STATUS_OK is 0; anything else is a
 *     failure, and lk_last_error() then holds a message saying what was wrong.
 *     Results come back through out-parameters, which are left untouched on failure.
 *   - Handles are opaque. lk_<object>_create / lk_<object>_load hand a new handle out
 *     through a pointer; lk_<object>_free releases it; free(NULL) does nothing.
 *     A handle of another kind, cast to the one a function takes, is refused
 *     (INVALID_ARGUMENT); a pointer that is no live handle at all cannot be detected.
 *   - The caller owns every buffer. Arrays are float32 or int32, C-contiguous
 *     (row-major), described by a pointer plus explicit dimensions and an element
 *     count. The library never keeps a caller pointer after the call returns.
 *   - Bad input (NULL pointers, zero or negative sizes, counts that do not match the
 *     dimensions, lengths out of range, NaN or infinity, unknown names, corrupt files)
 *     returns a status and a message and leaves the handle as it was. No argument a
 *     caller passes can abort the process.
 *   - Which status: a NULL pointer, a size that is out of range or larger than any
 *     buffer (an n or a length above SIZE_MAX / 2), a bad value or a string that is
 *     not UTF-8 is INVALID_ARGUMENT; an element count (a *_count argument) other than
 *     the one its dimensions call for, SIZE_MAX included, is SIZE_MISMATCH.
 *   - No call returns LK_STATUS_OK with a NaN or infinite number in its output: input
 *     that would produce one (finite pixels far outside a model's training scale) is
 *     INVALID_ARGUMENT.
 *   - Config fields: each struct field's comment gives its valid values; a value
 *     outside them is INVALID_ARGUMENT with a message that names the field and the
 *     range.
 *   - Shapes are written as in (B, T, D): B batch, T time steps, D input features,
 *     H hidden units, L layers, K directions (1, or 2 when bidirectional).
 *
 * Thread safety: lk_status_string, lk_version and the config functions are pure.
 * lk_last_error is per thread. A handle may be used by many threads at once for
 * read-only calls (forward, get_param, save); calls that change a handle
 * (set_param) must not run at the same time as any other call on that handle.
 */
#ifndef LSTMKIT_H
#define LSTMKIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  define LK_API __declspec(dllimport)
#elif defined(__GNUC__)
#  define LK_API __attribute__((visibility("default")))
#else
#  define LK_API
#endif

/* ------------------------------------------------------------------------ */
/* Versions                                                                   */
/* ------------------------------------------------------------------------ */

#define LK_VERSION_MAJOR 0
#define LK_VERSION_MINOR 1
#define LK_VERSION_PATCH 0
#define LK_VERSION_STRING "0.1.0"
/* Bumped whenever a function signature or struct layout in this header changes.
 * Bindings compare it with lk_abi_version() at load time. */
#define LK_ABI_VERSION 1

/* The library's version as "MAJOR.MINOR.PATCH". Static storage; never NULL. */
LK_API const char *lk_version(void);

/* The ABI version the library was built with (compare with LK_ABI_VERSION). */
LK_API int32_t lk_abi_version(void);

/* The kernels this process runs, chosen for the CPU at first use, as space-separated
 * key=value pairs: "float32=avx512f packed=avx512 int8=avx512vnni openblas=SkylakeX"
 * (LSTMKit's float32 cell kernels: avx512f, avx2_fma or baseline; its packed GEMM:
 * avx512, avx2_fma or plain; its int8 GEMM: avx512vnni, avx2 or plain; OpenBLAS's core).
 * The environment variable LSTMKIT_MAX_ISA ("avx2" or "plain"; read at first use)
 * caps LSTMKit's three choices and OPENBLAS_CORETYPE OpenBLAS's: a larger CPU then runs
 * a smaller one's code paths. Static storage; never NULL. */
LK_API const char *lk_kernels(void);

/* ------------------------------------------------------------------------ */
/* Status codes and errors                                                    */
/* ------------------------------------------------------------------------ */

/* Values are fixed once published; new codes are only ever appended. */
typedef enum lk_status {
    LK_STATUS_OK = 0,
    LK_STATUS_INVALID_ARGUMENT = 1, /* a NULL pointer, a bad size, a bad value   */
    LK_STATUS_SIZE_MISMATCH = 2,    /* a buffer count does not match its dims     */
    LK_STATUS_NOT_FOUND = 3,        /* unknown parameter name                     */
    LK_STATUS_IO_ERROR = 4,         /* a file could not be opened, read, written  */
    LK_STATUS_INVALID_FORMAT = 5,   /* a model file is corrupt, truncated, wrong  */
    LK_STATUS_OUT_OF_MEMORY = 6,    /* the request is too large to allocate       */
    LK_STATUS_INTERNAL = 7,         /* a bug in LSTMKit: please report it         */
    LK_STATUS_BUFFER_TOO_SMALL = 8  /* an output buffer is too small; the needed
                                       size was written to the count out-parameter */
} lk_status;

/* OUT_OF_MEMORY: memory whose size a caller or a file sets (image sizes, batch x
 * length, .npy and PNG sizes) is checked before it is allocated: against the machine's
 * physical memory, or the environment variable LSTMKIT_MAX_ALLOC_BYTES (a positive
 * integer, read at the library's first use), and by trying it. A call that would need
 * more returns OUT_OF_MEMORY with a message saying how much, rather than aborting. A
 * prediction's need is an upper bound of what it holds at once.
 * Checked the same way, before anything is allocated: training (before each epoch,
 * its largest batch's activations and gradients plus the optimizer's three copies of
 * the weights), so every lk_*_train and lk_*_train_ex can return OUT_OF_MEMORY; a
 * model's weights, estimated from its config, so lk_lstm_create, lk_gru_create and
 * the trainers can; a tokenizer's training corpus (at most 24 bytes per byte of
 * text); and the copies of a caller's lk_sequences and lk_series
 * (lk_sequence_classifier_predict, _attention and _evaluate, lk_forecaster_forecast
 * and _evaluate). A text classifier reads a text only up to max_length tokens. */

/* A short English description of a status code, e.g. "invalid argument".
 * Static storage; never NULL (unknown codes give "unknown status"). */
LK_API const char *lk_status_string(lk_status status);

/* The message of the last failed call on this thread, or "" if none failed yet.
 * Valid until the next failing call on the same thread. Never NULL. */
LK_API const char *lk_last_error(void);

/* ------------------------------------------------------------------------ */
/* Threads                                                                    */
/* ------------------------------------------------------------------------ */

/* Sets the number of threads the library's BLAS uses (n >= 1). The environment
 * variable LSTMKIT_NUM_THREADS, read at the library's first use, sets the default
 * (a value that is not an integer in [1, 2^31 - 1] is ignored); without it, OpenBLAS's
 * own default applies (OPENBLAS_NUM_THREADS or all cores). */
LK_API lk_status lk_set_num_threads(int32_t n);

/* The number of threads the library's BLAS uses (as set, also while a parallel
 * prediction holds it at one thread per worker). */
LK_API int32_t lk_get_num_threads(void);

/* fork(): a process may fork while other threads are inside lk_* calls; fork waits for
 * the library's short internal sections in progress (one BLAS call at most per thread),
 * and the child can use every handle (the calls that were running do not continue in
 * it). In a child forked after the library ran parallel work, the work of the `threads`
 * arguments runs on the calling thread, with the same results; BLAS keeps its threads.
 * Training and long calls on other threads do not delay fork. */

/* ------------------------------------------------------------------------ */
/* LSTM                                                                       */
/* ------------------------------------------------------------------------ */

/* A stack of LSTM layers with the semantics of PyTorch's nn.LSTM(batch_first=True):
 * gate order i, f, g, o; two bias vectors per layer and direction; parameters
 * named weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} and, for the
 * reverse direction, the same names with the suffix "_reverse". */
typedef struct lk_lstm lk_lstm;

typedef struct lk_lstm_config {
    int32_t input_size;    /* D, >= 1                                            */
    int32_t hidden_size;   /* H, >= 1                                            */
    int32_t num_layers;    /* L, >= 1                                            */
    int32_t bidirectional; /* 0 or 1                                             */
    float dropout;         /* between layers, training only; 0 <= dropout < 1    */
    uint64_t seed;         /* initialisation seed: same seed, same weights       */
} lk_lstm_config;

/* input_size 1, hidden_size 1, num_layers 1, unidirectional, dropout 0, seed 0.
 * Set at least input_size and hidden_size before lk_lstm_create. */
LK_API lk_lstm_config lk_lstm_config_default(void);

/* Creates an LSTM with weights drawn from U(-1/sqrt(H), 1/sqrt(H)) as PyTorch does,
 * from the config's seed. *out receives the handle.
 * Errors: INVALID_ARGUMENT for NULL pointers, sizes < 1, bidirectional not 0/1,
 * dropout NaN or outside [0, 1); OUT_OF_MEMORY if the weights cannot fit. */
LK_API lk_status lk_lstm_create(const lk_lstm_config *config, lk_lstm **out);

/* Releases the handle. NULL is a no-op. */
LK_API void lk_lstm_free(lk_lstm *lstm);

/* Copies the handle's config into *out. */
LK_API lk_status lk_lstm_get_config(const lk_lstm *lstm, lk_lstm_config *out);

/* Runs the LSTM over a batch (inference: no dropout).
 *   x        (B, T, D) float32, x_count == B*T*D, finite values
 *   lengths  (B) int32 with 1 <= lengths[b] <= T, or NULL for "all T";
 *            steps at t >= lengths[b] are padding: they do not change the state and
 *            their outputs are 0; the reverse direction starts at lengths[b]-1
 *   h0, c0   (L*K, B, H) initial states or NULL for zeros (both or neither);
 *            state_count is their element count (0 when they are NULL)
 *   y        (B, T, K*H) outputs, y_count == B*T*K*H
 *   h_n, c_n (L*K, B, H) final states (each sequence's state after its last step),
 *            both or neither (NULL if not wanted); state_out_count their element
 *            count (0 when they are NULL)
 * Errors: INVALID_ARGUMENT (NULL, B or T < 1, D != input_size, lengths out of range,
 * NaN/inf in x, h0 or c0, only one of h0/c0 or h_n/c_n), SIZE_MISMATCH (a count that
 * does not match the dims), OUT_OF_MEMORY (the batch needs more than 8 GiB of work
 * space: split it). */
LK_API lk_status lk_lstm_forward(const lk_lstm *lstm,
                                 const float *x, int64_t batch, int64_t steps,
                                 int64_t input_size, size_t x_count,
                                 const int32_t *lengths,
                                 const float *h0, const float *c0, size_t state_count,
                                 float *y, size_t y_count,
                                 float *h_n, float *c_n, size_t state_out_count);

/* The number of named parameter tensors (4 * L * K). */
LK_API lk_status lk_lstm_param_count(const lk_lstm *lstm, int32_t *count);

/* The name of parameter `index` (0 <= index < count), in PyTorch's order.
 * *name is owned by the handle and valid until it is freed. */
LK_API lk_status lk_lstm_param_name(const lk_lstm *lstm, int32_t index, const char **name);

/* The shape of a named parameter: *ndim receives 1 or 2, shape[0..ndim-1] the sizes
 * (weight_ih_l0 is (4H, D), weight_hh_l0 is (4H, H), biases are (4H)).
 * Errors: NOT_FOUND for an unknown name; INVALID_ARGUMENT for NULL pointers and a name
 * that is not valid UTF-8 (as for every string argument). */
LK_API lk_status lk_lstm_param_shape(const lk_lstm *lstm, const char *name,
                                     int32_t *ndim, int64_t shape[2]);

/* Copies a named parameter into out; count must equal its element count (else
 * SIZE_MISMATCH). Names as for lk_lstm_param_shape. */
LK_API lk_status lk_lstm_get_param(const lk_lstm *lstm, const char *name,
                                   float *out, size_t count);

/* Replaces a named parameter with values; count must equal its element count and
 * every value must be finite. PyTorch's tensors load unchanged. */
LK_API lk_status lk_lstm_set_param(lk_lstm *lstm, const char *name,
                                   const float *values, size_t count);

/* Writes the LSTM to a model file (safetensors layout, see docs/FORMAT.md).
 * The file is written to a temporary name beside path and renamed over it only
 * when complete, so a failed save never leaves a half-written model. */
LK_API lk_status lk_lstm_save(const lk_lstm *lstm, const char *path);

/* Reads an LSTM model file into a new handle.
 * Errors: IO_ERROR (missing/unreadable), INVALID_FORMAT (bad magic, header, sizes,
 * offsets, dtypes, shapes, or a model of another kind: the message says which). */
LK_API lk_status lk_lstm_load(const char *path, lk_lstm **out);

/* ------------------------------------------------------------------------ */
/* GRU                                                                        */
/* ------------------------------------------------------------------------ */

/* A stack of GRU layers with the semantics of PyTorch's nn.GRU(batch_first=True):
 * per layer and direction, with W_ih x + b_ih split into (x_r, x_z, x_n) and
 * W_hh h + b_hh into (h_r, h_z, h_n), in that order,
 *     r = sigmoid(x_r + h_r), z = sigmoid(x_z + h_z), n = tanh(x_n + r * h_n),
 *     h' = (1 - z) * n + z * h
 * (b_hn stays inside r * (W_hn h + b_hn), as in PyTorch). Parameters are named as the
 * LSTM's (weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}, "_reverse" for
 * the reverse direction) with three gate blocks: weight_ih_l0 is (3H, D), weight_hh_l0
 * (3H, H), biases (3H); a torch GRU's state_dict loads unchanged.
 *
 * The functions are the LSTM's above with the same arguments, rules, errors and
 * thread safety, except that a GRU has no cell state: lk_gru_forward takes h0 and gives
 * h_n only. Model files have kind "gru" (an LSTM file is refused by lk_gru_load, and a
 * GRU file by lk_lstm_load, naming both kinds). */
typedef struct lk_gru lk_gru;

/* The same struct as lk_lstm_config (same fields, ranges and defaults). */
typedef lk_lstm_config lk_gru_config;

/* input_size 1, hidden_size 1, num_layers 1, unidirectional, dropout 0, seed 0.
 * Set at least input_size and hidden_size before lk_gru_create. */
LK_API lk_gru_config lk_gru_config_default(void);

/* Creates a GRU with weights drawn from U(-1/sqrt(H), 1/sqrt(H)) from the config's
 * seed. Errors as lk_lstm_create. */
LK_API lk_status lk_gru_create(const lk_gru_config *config, lk_gru **out);

/* Releases the handle. NULL is a no-op. */
LK_API void lk_gru_free(lk_gru *gru);

/* Copies the handle's config into *out. */
LK_API lk_status lk_gru_get_config(const lk_gru *gru, lk_gru_config *out);

/* Runs the GRU over a batch (inference: no dropout).
 *   x, lengths, y  as for lk_lstm_forward: x (B, T, D), x_count == B*T*D; lengths (B)
 *                  in [1, T] or NULL; y (B, T, K*H), y_count == B*T*K*H; padded steps
 *                  leave the state alone and output 0; the reverse direction starts
 *                  at lengths[b]-1
 *   h0             (L*K, B, H) initial state or NULL for zeros; state_count is its
 *                  element count (0 when NULL)
 *   h_n            (L*K, B, H) final state (each sequence's h after its last step) or
 *                  NULL if not wanted; state_out_count its element count (0 when NULL)
 * Errors: INVALID_ARGUMENT (NULL x or y, B or T < 1, D != input_size, lengths out of
 * range, NaN/inf in x or h0), SIZE_MISMATCH (a count that does not match the dims, or
 * a non-zero count for a NULL state), OUT_OF_MEMORY (as lk_lstm_forward). */
LK_API lk_status lk_gru_forward(const lk_gru *gru,
                                const float *x, int64_t batch, int64_t steps,
                                int64_t input_size, size_t x_count,
                                const int32_t *lengths,
                                const float *h0, size_t state_count,
                                float *y, size_t y_count,
                                float *h_n, size_t state_out_count);

/* The number of named parameter tensors (4 * L * K), and their names in PyTorch's
 * order (owned by the handle, valid until it is freed). */
LK_API lk_status lk_gru_param_count(const lk_gru *gru, int32_t *count);
LK_API lk_status lk_gru_param_name(const lk_gru *gru, int32_t index, const char **name);

/* Shape, copy out and replace a named parameter, as lk_lstm_param_shape,
 * lk_lstm_get_param and lk_lstm_set_param (shapes with 3H rows). */
LK_API lk_status lk_gru_param_shape(const lk_gru *gru, const char *name,
                                    int32_t *ndim, int64_t shape[2]);
LK_API lk_status lk_gru_get_param(const lk_gru *gru, const char *name,
                                  float *out, size_t count);
LK_API lk_status lk_gru_set_param(lk_gru *gru, const char *name,
                                  const float *values, size_t count);

/* Writes the GRU to a model file (kind "gru"; atomically, like lk_lstm_save). */
LK_API lk_status lk_gru_save(const lk_gru *gru, const char *path);

/* Reads a GRU model file into a new handle. Errors as lk_lstm_load. */
LK_API lk_status lk_gru_load(const char *path, lk_gru **out);

/* ------------------------------------------------------------------------ */
/* Tokenizer (Chinese word segmentation)                                      */
/* ------------------------------------------------------------------------ */

/* A BiLSTM-CRF word segmenter. Text is UTF-8. Segmenting splits a text into tokens
 * that cover it exactly, in order: words, and runs of whitespace as tokens of their
 * own. Tokens are reported by their END byte offsets: token k spans bytes
 * [ends[k-1], ends[k]) (token 0 starts at 0), so the last end equals the text length.
 *
 * Output buffers follow the "ask for the size" convention: pass ends = NULL and
 * ends_capacity = 0 to get the needed count in *count with LK_STATUS_OK; a buffer
 * that is too small gives LK_STATUS_BUFFER_TOO_SMALL with the needed count in
 * *count. A capacity equal to the text's length in bytes is always enough (any larger
 * capacity, SIZE_MAX included, is fine).
 *
 * Thread safety: segment calls, get_config and save may run on one handle from many
 * threads at once; add_words, load_dict and clear_words must not overlap with any
 * other call on it. */
typedef struct lk_tokenizer lk_tokenizer;

/* Loads a tokenizer model file (kind "tokenizer").
 * Errors: IO_ERROR, INVALID_FORMAT (the message names the problem, or both kinds
 * when the file holds another kind of model). */
LK_API lk_status lk_tokenizer_load(const char *path, lk_tokenizer **out);

/* Joins n >= 2 trained tokenizers into a new one that averages their emission and
 * transition scores (an ensemble: see docs/TOKENIZER.md); it segments in about the
 * members' summed time and is saved with 16-bit weights. The members are not changed
 * and may be freed at once; their user words are not carried over. They must have been trained on the same data with the
 * same min_bigram_count and lexicon; members with dictionary features must share the
 * dictionary. At most 16 networks in all (an ensemble member counts its own).
 * Errors: INVALID_ARGUMENT for NULL pointers, n < 2, n > 16 (refused before members
 * is read), or members that do not fit together (the message says what differs). */
LK_API lk_status lk_tokenizer_ensemble(const lk_tokenizer *const *members, size_t n, lk_tokenizer **out);

/* Releases the handle. NULL is a no-op. */
LK_API void lk_tokenizer_free(lk_tokenizer *tokenizer);

/* Writes the tokenizer to a model file (atomically, like lk_lstm_save). User words
 * are not part of the model and are not saved. */
LK_API lk_status lk_tokenizer_save(const lk_tokenizer *tokenizer, const char *path);

/* Segments text[0 .. text_len) (UTF-8; it may contain NUL bytes and needs no
 * terminator). *count receives the number of tokens (0 for an empty text).
 * Errors: INVALID_ARGUMENT for NULL pointers or invalid UTF-8 (the message gives the
 * byte offset), BUFFER_TOO_SMALL as described above, OUT_OF_MEMORY when segmenting
 * would need more than the memory limit (about 32 bytes a byte of text; see
 * LK_STATUS_OUT_OF_MEMORY above). */
LK_API lk_status lk_tokenizer_segment(const lk_tokenizer *tokenizer,
                                      const char *text, size_t text_len,
                                      size_t *ends, size_t ends_capacity, size_t *count);

/* Segments n texts together (faster than one by one: sentences are batched through
 * the network) on up to `threads` threads (>= 1).
 * counts (n) receives each text's token count; ends receives all texts' end offsets
 * one text after the other, each relative to the start of its own text. The total
 * needed is the sum of counts; a capacity of the sum of text_lens always suffices.
 * With ends = NULL and ends_capacity = 0, only counts are filled (ask for the size).
 * Errors: as lk_tokenizer_segment; the message names the first invalid text. */
LK_API lk_status lk_tokenizer_segment_batch(const lk_tokenizer *tokenizer,
                                            const char *const *texts, const size_t *text_lens,
                                            size_t n, int32_t threads,
                                            size_t *ends, size_t ends_capacity, size_t *counts);

/* Adds user words (n UTF-8 strings, NUL-terminated): each comes out as one token
 * wherever it occurs (leftmost-longest, non-overlapping), enforced inside Viterbi
 * decoding. Text without these words is segmented exactly as before.
 * Errors: INVALID_ARGUMENT for NULL pointers or invalid UTF-8 (nothing is added). */
LK_API lk_status lk_tokenizer_add_words(lk_tokenizer *tokenizer, const char *const *words, size_t n);

/* Adds the words of a dictionary file: one word per line; anything after the first
 * space or tab on a line (a frequency, a part of speech) is ignored. */
LK_API lk_status lk_tokenizer_load_dict(lk_tokenizer *tokenizer, const char *path);

/* Removes every user word. */
LK_API lk_status lk_tokenizer_clear_words(lk_tokenizer *tokenizer);

/* The number of user words. */
LK_API lk_status lk_tokenizer_word_count(const lk_tokenizer *tokenizer, size_t *count);

/* The user words, as kept (normalised, whitespace removed), sorted, separated by '\n'
 * and ended by a NUL: adding them to a tokenizer without user words gives the same
 * dictionary. *size receives the length without the NUL. "Ask for the size": with
 * words = NULL and capacity = 0 only *size is set; a capacity below *size + 1 gives
 * BUFFER_TOO_SMALL (with *size set).
 * Errors: INVALID_ARGUMENT for NULL pointers (words may be NULL when capacity is 0) and
 * a capacity above SIZE_MAX / 2 (larger than any buffer). */
LK_API lk_status lk_tokenizer_words(const lk_tokenizer *tokenizer, char *words, size_t capacity, size_t *size);

/* Training. Corpora are UTF-8 text, one sentence per line, words separated by
 * spaces (the People's Daily format). */
typedef struct lk_tokenizer_train_config {
    int32_t epochs;            /* at most this many passes over the training set, >= 1 */
    int32_t batch_size;        /* sentences per update, [1, 65536]                  */
    float learning_rate;       /* Adam, finite and > 0                              */
    int32_t hidden_size;       /* per direction of the BiLSTM, [1, 4096]            */
    int32_t num_layers;        /* [1, 16]                                           */
    int32_t char_dim;          /* character embedding size, [1, 4096]               */
    int32_t bigram_dim;        /* character-bigram embedding size, [1, 4096]        */
    int32_t min_bigram_count;  /* rarer training bigrams map to "unknown", >= 1     */
    float dropout;             /* on embeddings and LSTM outputs, [0, 1)            */
    float label_smoothing;     /* [0, 1)                                            */
    int32_t patience;          /* stop after this many epochs without a better dev F1,
                                  >= 1                                              */
    int32_t threads;           /* for evaluating on dev, [1, 1024]                  */
    int32_t max_batches_per_epoch; /* 0: whole epochs (a smaller value for trials), >= 0 */
    uint64_t seed;
    int32_t dictionary_max_length; /* features from training words of 2..this many
                                      characters (0: off), [0, 16]                   */
    float unknown_bigram_rate;     /* training: a bigram becomes "unknown" with this
                                      probability, so unseen bigrams are not read as
                                      word boundaries, [0, 1)                        */
    float feature_dropout;         /* training: a sentence loses its dictionary and
                                      lexicon features with this probability, [0, 1) */
    const char *lexicon;           /* nullable: a general lexicon, UTF-8, one word a
                                      line (anything after a space or tab ignored);
                                      its words of 2..lexicon_max_length characters
                                      are features in training and segmenting, and
                                      are stored in the model. Not copied: read
                                      during lk_tokenizer_train only.                 */
    size_t lexicon_len;            /* bytes at lexicon                               */
    int32_t lexicon_max_length;    /* in [2, 16]; used when lexicon_len > 0          */
    float average_decay;           /* in [0, 1): > 0 scores and keeps a moving
                                      average of the weights (this decay a step);
                                      0 keeps the weights as trained                 */
    int32_t dictionary_min_count;  /* >= 1: training sentences see the training words
                                      seen at least this many times as their
                                      dictionary (segmenting uses every training
                                      word), so unseen words look as they will      */
} lk_tokenizer_train_config;

/* The defaults of the shipped model's recipe: 30 epochs, batch 16, learning_rate 0.002,
 * hidden_size 128, 1 layer, char_dim 64, bigram_dim 32, min_bigram_count 7, dropout
 * 0.3, no label smoothing, patience 4, 2 threads, whole epochs, seed 1,
 * dictionary_max_length 5, unknown_bigram_rate 0.1, no feature dropout, no lexicon
 * (lexicon_max_length 5 for one), no weight averaging, dictionary_min_count 4. */
LK_API lk_tokenizer_train_config lk_tokenizer_train_config_default(void);

/* The model's own settings in *out: hidden_size, num_layers, char_dim, bigram_dim,
 * dropout and seed of its network (an ensemble's first member), dictionary_max_length
 * and, when the model holds a lexicon, lexicon_max_length; lexicon is NULL and
 * lexicon_len 0 (the lexicon is stored as a filter, not as words); the other training
 * fields hold the defaults.
 * Errors: INVALID_ARGUMENT for NULL pointers. */
LK_API lk_status lk_tokenizer_get_config(const lk_tokenizer *tokenizer, lk_tokenizer_train_config *out);

/* Receives one line of progress (no trailing newline) during training.
 *
 * Every lk_*_train: training that diverges (a loss or gradient norm that is NaN or
 * infinite, from a learning rate far too high) stops with INVALID_ARGUMENT and the
 * message "training diverged at epoch E, batch B: the loss is NaN; lower the learning
 * rate"; *out is left unchanged. Weights that stay finite but grow until the
 * network's output on the dev set is not finite are the same divergence: "training
 * diverged at epoch E, batch B: the network's output on the dev set is not finite;
 * lower the learning rate". A training whose every value stays finite (an LSTM that
 * saturates, as the rows image classifier does at 1e30) is not stopped: its dev score
 * shows what it learnt. */
typedef void (*lk_progress_fn)(const char *line, void *user_data);

/* Trains a tokenizer; *out receives the model with the best dev F1.
 * checkpoint_path (nullable): written after every epoch; if it exists when training
 * starts, training resumes from it. progress (nullable) is called on the calling
 * thread. Errors: INVALID_ARGUMENT (bad config, empty or invalid corpus, diverged
 * training: see lk_progress_fn), IO_ERROR. */
LK_API lk_status lk_tokenizer_train(const char *train, size_t train_len,
                                    const char *dev, size_t dev_len,
                                    const lk_tokenizer_train_config *config,
                                    const char *checkpoint_path,
                                    lk_progress_fn progress, void *user_data,
                                    lk_tokenizer **out);

/* ------------------------------------------------------------------------ */
/* Text classifier                                                            */
/* ------------------------------------------------------------------------ */

/* Embedding -> (Bi)LSTM -> pooling -> linear -> softmax over classes. Texts are
 * UTF-8 (tokenised as characters for CJK text, lower-cased words otherwise); class
 * labels are UTF-8 strings kept in the model, in sorted order.
 *
 * Thread safety: predict, attention, num_classes, label, get_config and save may run
 * on one handle from many threads at once. */
typedef struct lk_text_classifier lk_text_classifier;

/* Pooling of the LSTM outputs into one vector. Values are fixed; new kinds are
 * only ever appended. */
enum {
    LK_POOLING_LAST = 0,      /* the final state of each direction  */
    LK_POOLING_MEAN = 1,      /* the mean over the text's tokens     */
    LK_POOLING_MAX = 2,       /* the elementwise maximum             */
    LK_POOLING_ATTENTION = 3, /* additive attention                  */
    LK_POOLING_SELF_ATTENTION = 4 /* a self-attention block (multi-head,
                                 residual, LayerNorm; "attention_heads" by name
                                 through lk_train_options, default 4, dividing the
                                 outputs' width), then additive attention */
};

/* Recurrent cells, for a config's int32_t cell field (the other models take the cell by
 * name, "lstm" or "gru", through lk_train_options). Values are fixed; new cells are only
 * ever appended. */
enum {
    LK_CELL_LSTM = 0,  /* torch.nn.LSTM's cell                 */
    LK_CELL_GRU = 1    /* torch.nn.GRU's cell                  */
};

/* How texts become tokens. Values are fixed; new ones are only ever appended. */
enum {
    LK_TOKENIZATION_AUTO = 0,       /* characters if >= 10% of the training text is CJK */
    LK_TOKENIZATION_CHARACTERS = 1, /* one token per non-space character                */
    LK_TOKENIZATION_WORDS = 2       /* lower-cased runs of letters and digits           */
};

/* Loads a text classifier model file (kind "text_classifier").
 * Errors: IO_ERROR, INVALID_FORMAT (the message names the problem, or both kinds
 * when the file holds another kind of model). */
LK_API lk_status lk_text_classifier_load(const char *path, lk_text_classifier **out);

/* Releases the handle. NULL is a no-op. */
LK_API void lk_text_classifier_free(lk_text_classifier *classifier);

/* Writes the classifier to a model file (atomically, like lk_lstm_save). */
LK_API lk_status lk_text_classifier_save(const lk_text_classifier *classifier, const char *path);

/* The number of classes C (>= 2). */
LK_API lk_status lk_text_classifier_num_classes(const lk_text_classifier *classifier, int32_t *n);

/* The label of class `index` (0 <= index < C), NUL-terminated UTF-8. *label is
 * owned by the handle and valid until it is freed. Column j of the probabilities
 * of lk_text_classifier_predict is class j. */
LK_API lk_status lk_text_classifier_label(const lk_text_classifier *classifier, int32_t index,
                                          const char **label);

/* Class probabilities of n texts (texts[i] holds text_lens[i] bytes of UTF-8, needs no
 * terminator), computed on up to `threads` threads (>= 1).
 *   probabilities  (n, C) float32, row-major; probabilities_count == n * C.
 * n == 0 is allowed (nothing is written; texts, text_lens and probabilities may then
 * be NULL). Errors: INVALID_ARGUMENT (NULL pointers, threads < 1, invalid UTF-8: the
 * message names texts[i] and the byte offset), SIZE_MISMATCH (probabilities_count). */
LK_API lk_status lk_text_classifier_predict(const lk_text_classifier *classifier,
                                            const char *const *texts, const size_t *text_lens,
                                            size_t n, int32_t threads,
                                            float *probabilities, size_t probabilities_count);

/* The attention weights of one text, token by token: which words decided. Only for a
 * model trained with LK_POOLING_ATTENTION, or LK_POOLING_SELF_ATTENTION (the weights of
 * the self-attention block's outputs, each token's in the context of the others).
 *   text         text_len bytes of UTF-8 (needs no terminator; must not contain NUL)
 *   tokens       receives the tokens the model read, in order, as *n_tokens
 *                consecutive NUL-terminated UTF-8 strings: the normalised tokens
 *                (characters for a character model, lower-cased words otherwise), the
 *                first max_length of them
 *   tokens_size  receives the bytes `tokens` needs, the NULs included
 *   weights      receives weights[i], the weight of token i (each in [0, 1]; together
 *                they sum to 1)
 *   n_tokens     receives the number of tokens: 0 for a text without any ("" or
 *                only spaces), and then nothing is written to tokens or weights
 * Ask for the size: with tokens = NULL, tokens_capacity = 0, weights = NULL and
 * weights_capacity = 0 the call sets *tokens_size and *n_tokens and returns OK; then
 * call again with buffers of those sizes. A tokens_capacity below *tokens_size or a
 * weights_capacity below *n_tokens gives BUFFER_TOO_SMALL: both sizes are set and
 * nothing else is written.
 * Errors: INVALID_ARGUMENT for NULL classifier, text, tokens_size or n_tokens, a NULL
 * buffer with a capacity > 0, a capacity above SIZE_MAX / 2, invalid UTF-8 (the message
 * gives the byte offset), a NUL byte in the text, and a model whose pooling is not
 * attention or self_attention (the message names the pooling); BUFFER_TOO_SMALL as above. May run with
 * predict on one handle from many threads at once. */
LK_API lk_status lk_text_classifier_attention(const lk_text_classifier *classifier,
                                              const char *text, size_t text_len,
                                              char *tokens, size_t tokens_capacity, size_t *tokens_size,
                                              float *weights, size_t weights_capacity, size_t *n_tokens);

typedef struct lk_text_classifier_train_config {
    int32_t embedding_dim;   /* [1, 4096]                                            */
    int32_t hidden_size;     /* per direction, [1, 4096]                             */
    int32_t num_layers;      /* [1, 16]                                              */
    int32_t bidirectional;   /* 0 or 1                                               */
    int32_t pooling;         /* LK_POOLING_*                                         */
    int32_t attention_size;  /* [1, 4096] (used by LK_POOLING_ATTENTION)             */
    float dropout;           /* on embeddings and pooled features, [0, 1)           */
    int32_t max_length;      /* longer texts keep their first max_length tokens,
                                [1, 1000000]                                         */
    int32_t min_count;       /* rarer training tokens map to "unknown", >= 1         */
    int32_t epochs;          /* at most this many passes, >= 1                       */
    int32_t batch_size;      /* texts per update, [1, 65536]                         */
    float learning_rate;     /* Adam, finite and > 0                                 */
    int32_t patience;        /* stop after this many epochs without a better dev
                                accuracy, >= 1                                       */
    int32_t balance_classes; /* 0 or 1: weight classes by N / (C * count)            */
    int32_t tokenization;    /* LK_TOKENIZATION_*                                    */
    int32_t threads;         /* for evaluating on dev, [1, 1024]                     */
    uint64_t seed;
    /* N-gram features beside the LSTM: each run of 1 to ngram_order tokens seen in at
     * least min_ngram_count training texts holds a weight per class, and the mean over
     * a text's n-grams is added to the logits (a linear model trained jointly with the
     * LSTM). */
    int32_t ngram_order;       /* 0 (none) to 8, [0, 8]                              */
    float ngram_dropout;       /* training: each n-gram left out with this
                                  probability, [0, 1)                                */
    float ngram_learning_rate; /* Adam's rate for the n-gram weights, finite, > 0    */
    int32_t min_ngram_count;   /* >= 1                                               */
    /* Token bigrams (a token and its right neighbour) as a second embedding beside the
     * tokens'; 0 turns them off. */
    int32_t bigram_dim;        /* 0 (none) to 4096, [0, 4096]                        */
    int32_t min_bigram_count;  /* rarer training bigrams are "unknown", >= 1         */
} lk_text_classifier_train_config;

/* embedding_dim 128, hidden_size 128, 1 layer, bidirectional, attention pooling
 * (attention_size 64), dropout 0.3, max_length 400, min_count 2, 20 epochs, batch 32,
 * learning_rate 0.002, patience 3, no class balancing, automatic tokenization,
 * 2 threads, seed 1; ngram_order 0, ngram_dropout 0.5, ngram_learning_rate 0.05,
 * min_ngram_count 2; bigram_dim 0, min_bigram_count 2. */
LK_API lk_text_classifier_train_config lk_text_classifier_train_config_default(void);

/* The model's own architecture in *out: embedding_dim, hidden_size, num_layers,
 * bidirectional, pooling, attention_size, dropout, max_length, tokenization (the mode
 * training chose: CHARACTERS or WORDS, never AUTO), ngram_order, ngram_dropout,
 * bigram_dim and seed; the training fields hold the defaults.
 * Errors: INVALID_ARGUMENT for NULL pointers. */
LK_API lk_status lk_text_classifier_get_config(const lk_text_classifier *classifier,
                                               lk_text_classifier_train_config *out);

/* Trains a classifier on n_train (text, label) pairs, early-stopping on the accuracy
 * on n_dev dev pairs; *out receives the model with the best dev accuracy. Texts are
 * (pointer, length) UTF-8 as in predict; labels are NUL-terminated UTF-8. The classes
 * are the distinct training labels, sorted. progress (nullable) receives one line at
 * a time on the calling thread.
 * Errors: INVALID_ARGUMENT (NULL pointers, an empty set, invalid UTF-8, a bad config
 * field, fewer than 2 training classes, a dev label that does not occur in training,
 * diverged training: see lk_progress_fn). */
LK_API lk_status lk_text_classifier_train(const char *const *train_texts, const size_t *train_lens,
                                          const char *const *train_labels, size_t n_train,
                                          const char *const *dev_texts, const size_t *dev_lens,
                                          const char *const *dev_labels, size_t n_dev,
                                          const lk_text_classifier_train_config *config,
                                          lk_progress_fn progress, void *user_data,
                                          lk_text_classifier **out);

/* ------------------------------------------------------------------------ */
/* Image classifier                                                           */
/* ------------------------------------------------------------------------ */

/* [Conv blocks ->] a sequence -> (Bi)LSTM -> pooling -> linear -> softmax over classes.
 * Kind LK_IMAGE_KIND_ROWS reads an image's rows as the LSTM's time steps (W*C
 * features each), optionally with a second LSTM over the columns. Kind
 * LK_IMAGE_KIND_CNN first runs blocks of conv 3x3 -> ReLU -> max-pool 2x2; the rows of
 * the feature map are then the steps, or, for a sequence of frames, each frame's
 * feature map is one step. Class labels are UTF-8 strings kept in the model, sorted
 * (numerically when every label is an integer: "2" before "10").
 *
 * Layout: float32, channels last (NumPy's and TensorFlow's NHWC), C-contiguous. One
 * example is (H, W, C), or (T, H, W, C) for a sequence of T frames (kind CNN only);
 * n examples are (n, H, W, C) or (n, T, H, W, C). A grey image has C = 1.
 *
 * Normalisation: the model feeds (pixel - mean) / std, with the mean and standard
 * deviation of the training pixels kept in the model. Any pixel scale works (0..255 or
 * 0..1), but predict must receive the scale training did.
 *
 * Thread safety: predict, num_classes, label, kind, input_shape, get_config and save
 * may run on one handle from many threads at once. */
typedef struct lk_image_classifier lk_image_classifier;

/* How images become sequences. Values are fixed; new kinds are only ever appended. */
enum {
    LK_IMAGE_KIND_ROWS = 0, /* the rows are the time steps                        */
    LK_IMAGE_KIND_CNN = 1   /* conv blocks, then feature-map rows or frames        */
};

/* The shape of one example: frames = 0 for a single image (H, W, C), frames = T >= 1
 * for a sequence of T frames (T, H, W, C). */
typedef struct lk_image_shape {
    int64_t frames;
    int64_t height;
    int64_t width;
    int64_t channels;
} lk_image_shape;

/* The most conv blocks a CNN classifier has. */
#define LK_IMAGE_MAX_CONV_BLOCKS 8

/* Loads an image classifier model file (kind "image_classifier").
 * Errors: IO_ERROR, INVALID_FORMAT (the message names the problem, or both kinds
 * when the file holds another kind of model). */
LK_API lk_status lk_image_classifier_load(const char *path, lk_image_classifier **out);

/* Releases the handle. NULL is a no-op. */
LK_API void lk_image_classifier_free(lk_image_classifier *classifier);

/* Writes the classifier to a model file (atomically, like lk_lstm_save). */
LK_API lk_status lk_image_classifier_save(const lk_image_classifier *classifier, const char *path);

/* The number of classes C (>= 2). */
LK_API lk_status lk_image_classifier_num_classes(const lk_image_classifier *classifier, int32_t *n);

/* The label of class `index` (0 <= index < C), NUL-terminated UTF-8. *label is
 * owned by the handle and valid until it is freed. Column j of the probabilities
 * of lk_image_classifier_predict is class j. */
LK_API lk_status lk_image_classifier_label(const lk_image_classifier *classifier, int32_t index,
                                           const char **label);

/* The model's kind: LK_IMAGE_KIND_ROWS or LK_IMAGE_KIND_CNN. */
LK_API lk_status lk_image_classifier_kind(const lk_image_classifier *classifier, int32_t *kind);

/* The shape of one example the model takes (set from the training data). */
LK_API lk_status lk_image_classifier_input_shape(const lk_image_classifier *classifier,
                                                 lk_image_shape *shape);

/* Class probabilities of n examples, computed on up to `threads` threads (>= 1).
 *   images         (n, [T,] H, W, C) float32; *shape must equal the model's input
 *                  shape, and images_count == n * [T *] H * W * C.
 *   probabilities  (n, C) float32, row-major; probabilities_count == n * C.
 * n == 0 is allowed (nothing is written; images and probabilities may be NULL).
 * Errors: INVALID_ARGUMENT (NULL pointers, threads < 1, a NaN or infinite pixel, or
 * pixels so far outside the training scale that the network's output would not be
 * finite: the message names the example), SIZE_MISMATCH (a shape other than the
 * model's, either count), OUT_OF_MEMORY (dimensions whose product overflows). */
LK_API lk_status lk_image_classifier_predict(const lk_image_classifier *classifier,
                                             const float *images, size_t n,
                                             const lk_image_shape *shape, size_t images_count,
                                             int32_t threads,
                                             float *probabilities, size_t probabilities_count);

typedef struct lk_image_classifier_train_config {
    int32_t kind;            /* LK_IMAGE_KIND_*                                      */
    int32_t hidden_size;     /* per direction, [1, 4096]                             */
    int32_t num_layers;      /* [1, 16]                                              */
    int32_t bidirectional;   /* 0 or 1                                               */
    int32_t columns;         /* 0 or 1: kind ROWS also runs an LSTM over the columns
                                (must be 0 for kind CNN; needs height == width for
                                now)                                                 */
    int32_t num_conv_blocks; /* kind CNN: [1, LK_IMAGE_MAX_CONV_BLOCKS]; each block
                                halves H and W, so H and W must be >= 2^blocks     */
    int32_t conv_channels[LK_IMAGE_MAX_CONV_BLOCKS]; /* output channels of blocks
                                0 .. num_conv_blocks-1, each in [1, 4096]            */
    int32_t pooling;         /* LK_POOLING_* over the LSTM's steps                   */
    int32_t attention_size;  /* [1, 4096] (used by LK_POOLING_ATTENTION)             */
    float dropout;           /* on the pooled features, [0, 1)                       */
    int32_t epochs;          /* at most this many passes, >= 1                       */
    int32_t batch_size;      /* examples per update, [1, 65536]                      */
    float learning_rate;     /* Adam, finite and > 0                                 */
    float clip_norm;         /* gradient norm clipping, finite and > 0               */
    int32_t patience;        /* stop after this many epochs without a better dev
                                accuracy, >= 1                                       */
    float decay_factor;      /* the learning rate is multiplied by this after an epoch
                                without a better dev accuracy, (0, 1]                */
    double time_limit;       /* seconds; 0: none; else >= 1: no epoch starts after it */
    int32_t threads;         /* for evaluating on dev, [1, 1024]                     */
    int32_t log_every;       /* a progress line every this many batches, >= 1       */
    uint64_t seed;           /* initialisation, dropout, shuffling                  */
} lk_image_classifier_train_config;

/* Kind ROWS, hidden_size 128, 1 layer, bidirectional, no columns, conv blocks {32, 64}
 * (used by kind CNN), last-state pooling (attention_size 64), dropout 0.25, 15 epochs,
 * batch 64, learning_rate 0.001, clip_norm 5, patience 3, decay_factor 0.5, no time
 * limit, 2 threads, a progress line every 200 batches, seed 1. */
LK_API lk_image_classifier_train_config lk_image_classifier_train_config_default(void);

/* The model's own architecture in *out: kind, hidden_size, num_layers, bidirectional,
 * columns, num_conv_blocks, conv_channels, pooling, attention_size, dropout and seed;
 * the training fields hold the defaults.
 * Errors: INVALID_ARGUMENT for NULL pointers. */
LK_API lk_status lk_image_classifier_get_config(const lk_image_classifier *classifier,
                                                lk_image_classifier_train_config *out);

/* Trains a classifier on n_train labelled examples, early-stopping on the accuracy on
 * n_dev dev examples; *out receives the model with the best dev accuracy. Both sets
 * have the example shape *shape (train_count == n_train * [T *] H * W * C, and dev_count
 * likewise); labels are NUL-terminated UTF-8, one per example. The classes are the
 * distinct training labels. The pixel mean and standard deviation are taken from the
 * training images. progress (nullable) receives one line at a time on the calling
 * thread.
 * Errors: INVALID_ARGUMENT (NULL pointers, an empty set, a NaN or infinite pixel, a bad
 * config field or shape (frames > 0 with kind ROWS, images too small for the conv
 * blocks), fewer than 2 training classes, a dev label that does not occur in
 * training, diverged training: see lk_progress_fn), SIZE_MISMATCH (a count),
 * OUT_OF_MEMORY (dimensions whose product overflows). */
LK_API lk_status lk_image_classifier_train(const lk_image_shape *shape,
                                           const float *train_images, size_t n_train, size_t train_count,
                                           const char *const *train_labels,
                                           const float *dev_images, size_t n_dev, size_t dev_count,
                                           const char *const *dev_labels,
                                           const lk_image_classifier_train_config *config,
                                           lk_progress_fn progress, void *user_data,
                                           lk_image_classifier **out);

/* ------------------------------------------------------------------------ */
/* Image segmenter                                                            */
/* ------------------------------------------------------------------------ */

/* A class for every pixel. The network is U-Net shaped: an encoder of blocks conv 3x3
 * -> [BatchNorm] -> ReLU, each followed by a 2x2 max-pool (its output kept as a skip);
 * then context across the whole feature map, either a BiLSTM over every row followed
 * by one over every column (LK_SEGMENTER_CONTEXT_LSTM, ReNet's sweep) or, as an
 * ablation, two 3x3 convolutions with about as many weights
 * (LK_SEGMENTER_CONTEXT_CONV); then per level a x2 upsampling (a 2x2 transposed conv,
 * or bilinear x2 and a 1x1 conv), [an attention gate on the skip,] the skip
 * concatenated, and a conv block; a 1x1 conv gives K logits per pixel.
 *
 * Layout: images are float32, channels last (n, H, W, C), C-contiguous, described by an
 * lk_image_shape whose frames field must be 0. A grey image has C = 1. Any H and W in
 * [1, 16384] work, and need not be the training size: the network pads each image at
 * the bottom and right to a multiple of 2^blocks and crops its output back, so a mask
 * always has its image's H x W. Masks are int32 (n, H, W), C-contiguous, each value a
 * class index in [0, K) (class 0 is usually the background).
 *
 * Normalisation: the model feeds (pixel - mean) / std, with the mean and standard
 * deviation of the training pixels kept in the model. Any pixel scale works (0..255 or
 * 0..1), but predict must receive the scale training did.
 *
 * Thread safety: predict, predict_proba, evaluate, num_classes, channels, get_config
 * and save may run on one handle from many threads at once. */
typedef struct lk_image_segmenter lk_image_segmenter;

/* What carries context across the encoder's feature map. Values are fixed; new ones
 * are only ever appended. */
enum {
    LK_SEGMENTER_CONTEXT_LSTM = 0, /* a BiLSTM over the rows, then over the columns  */
    LK_SEGMENTER_CONTEXT_CONV = 1  /* two 3x3 convolutions (the ablation)           */
};

/* How the decoder doubles the resolution. Values are fixed; new ones are only ever
 * appended. */
enum {
    LK_SEGMENTER_UPSAMPLING_TRANSPOSED = 0, /* a 2x2 transposed conv with stride 2   */
    LK_SEGMENTER_UPSAMPLING_BILINEAR = 1    /* bilinear x2, then a 1x1 conv           */
};

/* How a trainer changes the learning rate. Values are fixed; new ones are only ever
 * appended. */
enum {
    LK_SCHEDULE_PLATEAU = 0, /* times decay_factor after an epoch without a better dev
                                score; stop after `patience` such epochs            */
    LK_SCHEDULE_COSINE = 1   /* half a cosine down to 0 over time_limit (else the
                                epochs), batch by batch; patience and decay unused  */
};

/* The most encoder blocks (levels) a segmenter has. */
#define LK_SEGMENTER_MAX_BLOCKS 6

/* Loads an image segmenter model file (kind "image_segmenter").
 * Errors: IO_ERROR, INVALID_FORMAT (the message names the problem, or both kinds
 * when the file holds another kind of model). */
LK_API lk_status lk_image_segmenter_load(const char *path, lk_image_segmenter **out);

/* Releases the handle. NULL is a no-op. */
LK_API void lk_image_segmenter_free(lk_image_segmenter *segmenter);

/* Writes the segmenter to a model file (atomically, like lk_lstm_save). */
LK_API lk_status lk_image_segmenter_save(const lk_image_segmenter *segmenter, const char *path);

/* K, the number of classes per pixel (>= 2, background included). */
LK_API lk_status lk_image_segmenter_num_classes(const lk_image_segmenter *segmenter, int32_t *n);

/* C, the number of channels the model's images have (set from the training images). */
LK_API lk_status lk_image_segmenter_channels(const lk_image_segmenter *segmenter, int32_t *channels);

/* Class indices of every pixel of n images, computed on up to `threads` threads (>= 1).
 *   images       (n, H, W, C) float32; shape->frames must be 0, shape->channels the
 *                model's C, H and W any sizes in [1, 16384]; images_count == n*H*W*C.
 *   masks        (n, H, W) int32, row-major: the most probable class of each pixel;
 *                masks_count == n*H*W.
 * n == 0 is allowed (nothing is written; images and masks may then be NULL).
 * Errors: INVALID_ARGUMENT (NULL pointers, threads < 1, frames != 0, a shape field out
 * of range, a NaN or infinite pixel, or pixels so far outside the training scale that
 * the network's output would not be finite: the message names the image),
 * SIZE_MISMATCH (channels other than the model's, either count), OUT_OF_MEMORY
 * (dimensions whose product overflows; or the prediction would need more memory than
 * the limit above, e.g. a 16384x16384 image: checked before the images are read). */
LK_API lk_status lk_image_segmenter_predict(const lk_image_segmenter *segmenter,
                                            const float *images, size_t n,
                                            const lk_image_shape *shape, size_t images_count,
                                            int32_t threads,
                                            int32_t *masks, size_t masks_count);

/* As lk_image_segmenter_predict, but writes each pixel's class probabilities:
 *   probabilities  (n, H, W, K) float32, channels last like the images; each pixel's
 *                  K values sum to 1; probabilities_count == n*H*W*K. */
LK_API lk_status lk_image_segmenter_predict_proba(const lk_image_segmenter *segmenter,
                                                  const float *images, size_t n,
                                                  const lk_image_shape *shape, size_t images_count,
                                                  int32_t threads,
                                                  float *probabilities, size_t probabilities_count);

/* Scores predictions against gold masks (n >= 1 images of *shape, masks (n, H, W) int32
 * with masks_count == n*H*W, every value in [0, K)). Outputs (each nullable):
 *   confusion       (K, K) int64, row-major: confusion[g*K + p] counts the pixels of
 *                   gold class g predicted as p; confusion_count == K*K (0 when NULL)
 *   pixel_accuracy  the share of pixels predicted right
 *   mean_iou        the mean over classes of IoU(c) = TP / (TP + FP + FN), skipping
 *                   classes that occur neither in the gold masks nor in the
 *                   predictions (their IoU is undefined); 0 if there are none
 * Errors: as predict; INVALID_ARGUMENT also for n == 0 and for a mask value outside
 * [0, K) (the message names the mask, the pixel and the value). */
LK_API lk_status lk_image_segmenter_evaluate(const lk_image_segmenter *segmenter,
                                             const float *images, size_t n,
                                             const lk_image_shape *shape, size_t images_count,
                                             const int32_t *masks, size_t masks_count,
                                             int32_t threads,
                                             int64_t *confusion, size_t confusion_count,
                                             double *pixel_accuracy, double *mean_iou);

typedef struct lk_image_segmenter_train_config {
    int32_t num_classes;     /* K, classes per pixel (background included), [2, 65536] */
    int32_t context;         /* LK_SEGMENTER_CONTEXT_*                                */
    int32_t hidden_size;     /* LSTM units per direction of the sweep, [1, 4096]; the
                                context has 2*hidden_size channels either way        */
    int32_t num_blocks;      /* encoder levels, [1, LK_SEGMENTER_MAX_BLOCKS]          */
    int32_t encoder_channels[LK_SEGMENTER_MAX_BLOCKS]; /* output channels of blocks
                                0 .. num_blocks-1, each in [1, 4096]                  */
    int32_t batch_norm;      /* 0 or 1: BatchNorm in every conv block                 */
    int32_t upsampling;      /* LK_SEGMENTER_UPSAMPLING_*                             */
    int32_t attention_gates; /* 0 or 1: an attention gate on each skip connection     */
    int32_t epochs;          /* at most this many passes, >= 1                        */
    int32_t batch_size;      /* images per update, [1, 65536]                         */
    float learning_rate;     /* Adam, finite and > 0                                  */
    float clip_norm;         /* gradient norm clipping, finite and > 0                */
    int32_t patience;        /* stop after this many epochs without a better dev mean
                                IoU, >= 1                                             */
    float decay_factor;      /* the learning rate is multiplied by this after an epoch
                                without a better dev mean IoU, (0, 1]                 */
    double time_limit;       /* seconds; 0: none; else >= 1: training stops at the
                                first batch end after it (then dev is scored)       */
    float dice_weight;       /* loss = cross-entropy + dice_weight * soft Dice, >= 0  */
    int32_t balance_classes; /* 0 or 1: median-frequency class weights in the
                                cross-entropy (from the training masks)               */
    const float *class_weights; /* NULL (class_weights_count 0), or
                                class_weights_count == K cross-entropy weights,
                                finite, >= 0, not all 0 (not with balance_classes);
                                copied during the call                                */
    size_t class_weights_count;
    int32_t threads;         /* for evaluating on dev, [1, 1024]                      */
    int32_t log_every;       /* a progress line every this many batches, >= 1        */
    uint64_t seed;           /* initialisation and shuffling                          */
    int32_t schedule;        /* LK_SCHEDULE_*                                         */
    int32_t flip;            /* 0 or 1: augmentation, each training image and its mask
                                mirrored left to right with probability 1/2           */
} lk_image_segmenter_train_config;

/* 2 classes, LSTM context with hidden_size 64, encoder blocks {32, 64}, BatchNorm,
 * transposed upsampling, no attention gates, 10 epochs, batch 16, learning_rate 0.002,
 * clip_norm 5, patience 3, decay_factor 0.5, no time limit, dice_weight 0.5, no class
 * weights, 2 threads, a progress line every 100 batches, seed 1, the plateau schedule,
 * no flips.
 * Set num_classes. */
LK_API lk_image_segmenter_train_config lk_image_segmenter_train_config_default(void);

/* The model's own architecture in *out: num_classes, context, hidden_size, num_blocks,
 * encoder_channels, batch_norm, upsampling, attention_gates and seed; the training
 * fields hold the defaults (class_weights NULL). */
LK_API lk_status lk_image_segmenter_get_config(const lk_image_segmenter *segmenter,
                                               lk_image_segmenter_train_config *out);

/* Trains a segmenter on n_train images with their masks, early-stopping on the mean IoU
 * on n_dev dev images; *out receives the model of the best epoch. The training images
 * have the shape *train_shape (train_count == n_train*H*W*C, train_masks_count ==
 * n_train*H*W); the dev images have *dev_shape, which may differ in H and W but not in
 * C. Shapes need frames == 0. Mask values must be in [0, config->num_classes). The
 * pixel mean and standard deviation are taken from the training images. progress
 * (nullable) receives one line at a time on the calling thread.
 * Errors: INVALID_ARGUMENT (NULL pointers, an empty set, a NaN or infinite pixel, a mask
 * value outside [0, K), a bad config field or shape: the message names it,
 * class_weights NULL with a class_weights_count other than 0, diverged training: see
 * lk_progress_fn), SIZE_MISMATCH (a count, class_weights_count other than num_classes
 * when class_weights is given, dev channels other than training's), OUT_OF_MEMORY
 * (dimensions whose product overflows). */
LK_API lk_status lk_image_segmenter_train(const lk_image_shape *train_shape,
                                          const float *train_images, size_t n_train, size_t train_count,
                                          const int32_t *train_masks, size_t train_masks_count,
                                          const lk_image_shape *dev_shape,
                                          const float *dev_images, size_t n_dev, size_t dev_count,
                                          const int32_t *dev_masks, size_t dev_masks_count,
                                          const lk_image_segmenter_train_config *config,
                                          lk_progress_fn progress, void *user_data,
                                          lk_image_segmenter **out);

/* ------------------------------------------------------------------------ */
/* Sequence classifier                                                        */
/* ------------------------------------------------------------------------ */

/* Classifies float sequences of C channels and any length (sensor readings, speech
 * features, the UCR/UEA archive's series): per-channel z-scoring with the training
 * set's mean and standard deviation (kept in the model) -> recurrent layers (BiLSTM by
 * default; LayerNorm between them if asked) -> pooling over the valid steps -> linear
 * -> softmax; the probabilities of `members` such networks averaged. The recurrent
 * cell (LSTM by default) is set by name: lk_train_options "cell" with
 * lk_sequence_classifier_train_ex. Class labels are UTF-8 strings kept in the model, in sorted order.
 *
 * Thread safety: predict, attention, num_classes, label, get_config and save may run
 * on one handle from many threads at once. */
typedef struct lk_sequence_classifier lk_sequence_classifier;

/* n sequences of `channels` floats per step, padded to `steps`: values is (n, steps,
 * channels) float32 row-major, count == n * steps * channels; sequence i is its first
 * lengths[i] steps (1 <= lengths[i] <= steps; lengths NULL: all `steps`), and padded
 * steps are never read. A NaN value is refused (the message names the sequence, step
 * and channel) unless the model masks missing values; an infinite one always is. */
typedef struct lk_sequences {
    const float *values;
    size_t count;
    const int32_t *lengths;
    size_t n;
    size_t steps;
    size_t channels;
} lk_sequences;

/* Loads a sequence classifier model file (kind "sequence_classifier").
 * Errors: IO_ERROR, INVALID_FORMAT (the message names the problem, or both kinds). */
LK_API lk_status lk_sequence_classifier_load(const char *path, lk_sequence_classifier **out);

/* Releases the handle. NULL is a no-op. */
LK_API void lk_sequence_classifier_free(lk_sequence_classifier *classifier);

/* Writes the classifier to a model file (atomically, like lk_lstm_save). */
LK_API lk_status lk_sequence_classifier_save(const lk_sequence_classifier *classifier, const char *path);

/* The number of classes K (>= 2). */
LK_API lk_status lk_sequence_classifier_num_classes(const lk_sequence_classifier *classifier, int32_t *n);

/* The label of class `index` (0 <= index < K), NUL-terminated UTF-8, owned by the
 * handle and valid until it is freed. Column j of the probabilities is class j. */
LK_API lk_status lk_sequence_classifier_label(const lk_sequence_classifier *classifier, int32_t index,
                                              const char **label);

/* Class probabilities of the sequences *x on up to `threads` threads (>= 1):
 *   probabilities  (n, K) float32, row-major; probabilities_count == n * K.
 * x->n == 0 writes nothing. Errors: INVALID_ARGUMENT (NULL pointers, threads < 1, a
 * length outside [1, steps], a NaN or infinite value: the message names it, channels
 * other than the model's), SIZE_MISMATCH (a count). Also INVALID_ARGUMENT when a
 * sequence overflows the network (its probabilities would not be finite: values far
 * outside the training scale); never NaN with OK. OUT_OF_MEMORY: see above. */
LK_API lk_status lk_sequence_classifier_predict(const lk_sequence_classifier *classifier, const lk_sequences *x,
                                                int32_t threads, float *probabilities, size_t probabilities_count);

/* The attention weights of each step (which steps decided), for a model trained with
 * LK_POOLING_ATTENTION or LK_POOLING_SELF_ATTENTION (see lk_text_classifier_attention):
 * weights is (n, steps) float32, weights_count == n * steps;
 * row i holds sequence i's weights over its lengths[i] steps (they sum to 1) and 0 at
 * padded steps. Errors: as predict, and INVALID_ARGUMENT when the model's pooling is
 * neither. */
LK_API lk_status lk_sequence_classifier_attention(const lk_sequence_classifier *classifier, const lk_sequences *x,
                                                  int32_t threads, float *weights, size_t weights_count);

typedef struct lk_sequence_classifier_train_config {
    int32_t hidden_size;         /* per direction, [1, 4096]                           */
    int32_t num_layers;          /* [1, 16]                                            */
    int32_t bidirectional;       /* 0 or 1                                             */
    int32_t pooling;             /* LK_POOLING_*                                       */
    int32_t attention_size;      /* [1, 4096] (used by LK_POOLING_ATTENTION)           */
    int32_t layer_norm;          /* 0 or 1: LayerNorm between recurrent layers         */
    float dropout;               /* between layers and on pooled features, [0, 1)     */
    int32_t mask_missing;        /* 0: NaN is an error; 1: NaN is "missing": scaled to
                                    0 plus a 0/1 missing indicator per channel         */
    int32_t patch_length;        /* the recurrent layers read this many consecutive
                                    steps as one, [1, 4096]; 0: ceil(longest training
                                    sequence / 32)                                     */
    int32_t members;             /* networks whose probabilities are averaged, each
                                    trained on its own dev split, [1, 16]              */
    int32_t epochs;              /* at most this many passes, >= 1                     */
    int32_t batch_size;          /* sequences per update, [1, 65536]                   */
    float learning_rate;         /* Adam, finite and > 0                               */
    int32_t patience;            /* stop after this many epochs without a better dev
                                    score, >= 1                                        */
    float decay_factor;          /* the learning rate is multiplied by this after each
                                    such epoch, (0, 1]                                 */
    float validation_fraction;   /* without dev data: this share of each class of the
                                    training set is held out, (0, 0.5]                 */
    double time_limit;           /* seconds, 0: none, else >= 1                        */
    int32_t threads;             /* for scoring dev, [1, 1024]                         */
    uint64_t seed;
} lk_sequence_classifier_train_config;

/* The defaults: hidden_size 64, 1 layer, bidirectional, LK_POOLING_LAST
 * (attention_size 32), no LayerNorm, dropout 0.1, NaN refused, patch_length 0 (chosen
 * from the training lengths), 3 members, 200 epochs, batch 16, learning_rate 0.003, patience 30,
 * decay_factor 1 (no decay), validation_fraction 0.2, no time limit, 2 threads, seed 1. */
LK_API lk_sequence_classifier_train_config lk_sequence_classifier_train_config_default(void);

/* The model's own architecture in *out (hidden_size, num_layers, bidirectional,
 * pooling, attention_size, layer_norm, dropout, mask_missing, patch_length as
 * training chose it, members, seed); the training
 * fields hold the defaults. Errors: INVALID_ARGUMENT for NULL pointers. */
LK_API lk_status lk_sequence_classifier_get_config(const lk_sequence_classifier *classifier,
                                                   lk_sequence_classifier_train_config *out);

/* Trains a classifier on the sequences *train with their labels (train->n
 * NUL-terminated UTF-8 strings): each of its `members` networks early-stops on the
 * accuracy on *dev (with dev_labels; ties go to the lower dev loss) and keeps its best
 * epoch. dev NULL (or dev->n == 0): each member holds out its own stratified
 * validation_fraction of the training set (seeded by seed + its index) instead; and with
 * fewer training sequences than the engine setting refit_below (by name, default 100),
 * every member then trains again from its initial weights on all of them for the median
 * of the members' best epochs, keeping the last. The classes are the distinct training labels,
 * sorted. progress (nullable) receives one line at a time on the calling thread.
 * Errors: INVALID_ARGUMENT (NULL pointers, an empty set, a bad value, length, config
 * field or label, fewer than 2 training classes, a dev label that does not occur in
 * training, dev channels other than training's, diverged training: see
 * lk_progress_fn), SIZE_MISMATCH (a count). */
LK_API lk_status lk_sequence_classifier_train(const lk_sequences *train, const char *const *train_labels,
                                              const lk_sequences *dev, const char *const *dev_labels,
                                              const lk_sequence_classifier_train_config *config,
                                              lk_progress_fn progress, void *user_data,
                                              lk_sequence_classifier **out);

/* ------------------------------------------------------------------------ */
/* Training options by name (every model)                                     */
/* ------------------------------------------------------------------------ */

/* Settings a train config struct lacks, for every model alike: an lk_train_options
 * holds settings as (key, value) text and lk_<model>_train_ex takes it beside the
 * config; its settings apply over the config's fields. NULL options train exactly as
 * lk_<model>_train does. Keys are the engine's snake_case names:
 *   the training loop, every model:
 *     epochs, batch_size, learning_rate, clip_norm, patience, decay_factor,
 *     max_batches_per_epoch, threads, log_every  (as the config fields of these names)
 *     schedule       "plateau" (decay the rate by decay_factor after an epoch without
 *                    a better dev score, stop after patience such epochs) or "cosine"
 *                    (half a cosine down to 0 over time_limit, else the epochs;
 *                    no early stop)
 *     average_decay  in [0, 1): > 0 scores and keeps a moving average of the weights
 *                    with this decay per step (0: the weights as trained)
 *     weight_decay   in [0, 1): decoupled weight decay (AdamW): each step shrinks the
 *                    weights by learning rate x this; 0 (default): none
 *     time_limit     seconds; "0": no limit, else >= 1: training stops at the first
 *                    batch end after it, then the dev set is scored
 *     checkpoint_path  written (atomically) after every epoch
 *     resume         "1": continue from checkpoint_path (same data and settings; the
 *                    result equals the uninterrupted run); "0" (default): start anew
 *   the model: cell ("lstm", the recurrent layer's cell), and any other name of the
 *     engine's tables: the config fields of the same name, plus (tokenizer)
 *     embedding_dropout, output_dropout (the config's one dropout), max_piece_length;
 *     (text classifier) embedding_dropout, output_dropout;
 *     (image segmenter) dice_weight; (image classifier) conv_channels "32,64".
 *     Sizes the data give (height, width, channels, frames, pixel_mean, pixel_std)
 *     are set by training from the data.
 * Values: decimal integers and numbers ("64", "0.999", "1e-3"), lists
 * as sizes separated by commas, flags "0" or "1", names as above.
 * lk_train_options_set checks the key (known to some model) and the value (of its type
 * and range: INVALID_ARGUMENT, the message naming the key and the range, e.g.
 * "average_decay must be in [0, 1), got 1.5"); a key set again replaces its value.
 * lk_<model>_train_ex refuses a key its model lacks (the message lists the model's
 * keys) and checks every value again with the model's rules.
 * Thread safety: one options object must not be set from two threads at once; many
 * trainings may read one at the same time. Free it after the train_ex calls. */
typedef struct lk_train_options lk_train_options;

LK_API lk_status lk_train_options_create(lk_train_options **out);
LK_API lk_status lk_train_options_set(lk_train_options *options, const char *key, const char *value);
/* NULL is a no-op. */
LK_API void lk_train_options_free(lk_train_options *options);

/* As lk_<model>_train, with options (nullable). lk_tokenizer_train_ex has no
 * checkpoint argument: options carry it (checkpoint_path, resume). */
LK_API lk_status lk_tokenizer_train_ex(const char *train, size_t train_len, const char *dev, size_t dev_len,
                                       const lk_tokenizer_train_config *config, const lk_train_options *options,
                                       lk_progress_fn progress, void *user_data, lk_tokenizer **out);
/* Tokenizer distillation (issue 18), keys of lk_tokenizer_train_ex's options:
 *   teacher              path of a tokenizer model file (e.g. the bundled ensemble);
 *                        the new network learns its per-character scores besides the
 *                        gold tags: loss = NLL + distill_weight * T^2 * KL(teacher/T ||
 *                        student/T) per character ("" (default): no teacher)
 *   unlabelled           path of a UTF-8 text file, one text a line (never dev or test
 *                        text), learned from the teacher's scores alone; needs a teacher
 *   distill_weight       in [0, 1000), default 1
 *   distill_temperature  T in (0, 100], default 2
 *   distill_labelled_share  in [0, 1], default 1: on the training split the teacher's
 *                        term is weighted distill_weight times this (0: the gold tags
 *                        alone there; unlabelled text keeps distill_weight)
 * A teacher or unlabelled file that cannot be read fails training with its status
 * (IO_ERROR, INVALID_FORMAT) and a message naming the file. */
LK_API lk_status lk_text_classifier_train_ex(const char *const *train_texts, const size_t *train_lens,
                                             const char *const *train_labels, size_t n_train,
                                             const char *const *dev_texts, const size_t *dev_lens,
                                             const char *const *dev_labels, size_t n_dev,
                                             const lk_text_classifier_train_config *config,
                                             const lk_train_options *options,
                                             lk_progress_fn progress, void *user_data,
                                             lk_text_classifier **out);
LK_API lk_status lk_image_classifier_train_ex(const lk_image_shape *shape,
                                              const float *train_images, size_t n_train, size_t train_count,
                                              const char *const *train_labels,
                                              const float *dev_images, size_t n_dev, size_t dev_count,
                                              const char *const *dev_labels,
                                              const lk_image_classifier_train_config *config,
                                              const lk_train_options *options,
                                              lk_progress_fn progress, void *user_data,
                                              lk_image_classifier **out);
LK_API lk_status lk_image_segmenter_train_ex(const lk_image_shape *train_shape,
                                             const float *train_images, size_t n_train, size_t train_count,
                                             const int32_t *train_masks, size_t train_masks_count,
                                             const lk_image_shape *dev_shape,
                                             const float *dev_images, size_t n_dev, size_t dev_count,
                                             const int32_t *dev_masks, size_t dev_masks_count,
                                             const lk_image_segmenter_train_config *config,
                                             const lk_train_options *options,
                                             lk_progress_fn progress, void *user_data,
                                             lk_image_segmenter **out);
/* The sequence classifier takes no checkpoint_path (its members train in turn). */
LK_API lk_status lk_sequence_classifier_train_ex(const lk_sequences *train, const char *const *train_labels,
                                                 const lk_sequences *dev, const char *const *dev_labels,
                                                 const lk_sequence_classifier_train_config *config,
                                                 const lk_train_options *options,
                                                 lk_progress_fn progress, void *user_data,
                                                 lk_sequence_classifier **out);

/* A model's setting by name, read back: any model handle (lk_tokenizer,
 * lk_text_classifier, lk_image_classifier, lk_image_segmenter) and a key of its
 * engine's table, as lk_train_options takes it ("cell", "hidden_size", ...; and
 * lk_forecaster, whose "quantiles" reads "0.1,0.5,0.9"); the value
 * as text lk_train_options_set reads ("lstm", "64", "0.25", "32,64"). For settings a
 * get_config struct lacks (cell). *size receives the text's length (without its NUL);
 * value receives the text and a NUL if capacity > *size, else BUFFER_TOO_SMALL (value
 * NULL with capacity 0 asks for the size alone). NOT_FOUND for a key the model does not
 * record (training settings such as schedule are not kept in the model); INVALID_ARGUMENT
 * for a handle that has no settings by name (lk_lstm). A reader: the header's rules for
 * concurrent reads of the handle apply. */
LK_API lk_status lk_model_get_setting(const void *model, const char *key, char *value, size_t capacity,
                                      size_t *size);

/* ---- Configs as text: every field of a model's C config by its name ----
 * lk_train_options_set also takes every field of the model's lk_<model>_train_config
 * by the field's name ("hidden_size", "dropout", "tokenization", "conv_channels",
 * "quantiles", ...): lk_<model>_train_ex sets that field of the struct it was given, so
 * a caller may pass the lk_<model>_train_config_default() struct unchanged and every
 * value by name. A field reads and writes as text: numbers as decimals ("64", "0.3",
 * "1e-3"), a 0/1 flag as "true" or "false" ("1" and "0" are read too), an enum by its
 * constant's words after the field's name, lower-cased (LK_POOLING_ATTENTION: "attention",
 * LK_POOLING_SELF_ATTENTION: "self_attention",
 * LK_TOKENIZATION_AUTO: "auto", LK_CELL_GRU: "gru"), a fixed array with its count as
 * values separated by commas ("32,64"; its count field, such as num_conv_blocks, is set
 * with it). A field set by name replaces the struct's; a name that is both a field and
 * an engine setting (hidden_size) goes to the field.
 *
 * lk_train_config_default_text writes the default config of the model kind `model`
 * (its lk_<model>_train_config_default()) as text: one "name=value\n" line per field
 * (the struct's pointer fields aside), then one per setting of the engine the struct
 * lacks (such as "cell=lstm", "bptt_length=0", "conv_filters=32,64,32"),
 * values as above; model is a prefix: "tokenizer",
 * "text_classifier", "image_classifier", "image_segmenter", "sequence_classifier" or
 * "forecaster" (NOT_FOUND otherwise). lk_model_get_config_text writes a handle's
 * lk_<model>_get_config the same way (INVALID_ARGUMENT for lk_lstm and lk_gru, which have
 * no train config). The buffer protocol is lk_model_get_setting's: *size receives the
 * text's length (without its NUL); text receives it and a NUL if capacity > *size, else
 * BUFFER_TOO_SMALL (text NULL with capacity 0 asks for the size alone). Thread safety:
 * lk_train_config_default_text from any thread; lk_model_get_config_text is a reader. */
LK_API lk_status lk_train_config_default_text(const char *model, char *text, size_t capacity, size_t *size);
LK_API lk_status lk_model_get_config_text(const void *model, char *text, size_t capacity, size_t *size);

/* ------------------------------------------------------------------------ */
/* Forecaster                                                                 */
/* ------------------------------------------------------------------------ */

/* Forecasts the next `horizon` steps of a series of `targets` channels (univariate:
 * 1), optionally driven by `exogenous` channels whose values are known in advance
 * (calendar effects, planned prices). The recurrent layer (LSTM or GRU) reads the last
 * `context` steps; a linear head reads its last output, the horizon's exogenous values
 * and the scaled context values themselves, and emits horizon x targets x quantiles
 * values at once (direct multi-step), trained with the pinball loss. The median (0.5,
 * which the quantiles must include) is the point forecast; the lowest and highest
 * quantiles bound the central prediction interval (0.1 and 0.9: 80 %).
 *
 * Scaling: each channel's mean and standard deviation over the training part are kept
 * in the model. LK_FORECAST_SCALING_WINDOW (the default) scales each target by the mean
 * and standard deviation of each window's own context, and the forecast back, so series
 * whose level moves are followed; LK_FORECAST_SCALING_GLOBAL uses the training part's.
 *
 * Training splits the one series it is given in time order: the last dev_fraction of
 * the steps is dev (never shuffled); training windows are every origin of the part
 * before it, and early stopping scores rolling-origin forecasts over the dev part
 * (scaled pinball loss).
 *
 * Layout: a series is float32 (steps, channels), row-major (lk_series); exogenous
 * inputs are (steps, exogenous) aligned with the targets' steps, and when forecasting
 * they continue for the model's whole horizon after the series (the head reads every
 * future step's values).
 *
 * Thread safety: forecast, evaluate, get_config, channels and save may run on one
 * handle from many threads at once. */
typedef struct lk_forecaster lk_forecaster;

/* A series: values (steps, channels) float32 row-major, count == steps * channels. */
typedef struct lk_series {
    const float *values;
    size_t count;
    size_t steps;
    size_t channels;
} lk_series;

/* How a forecaster scales the targets. Values are fixed; new ones are only appended. */
enum {
    LK_FORECAST_SCALING_WINDOW = 0, /* by each window's context mean and std          */
    LK_FORECAST_SCALING_GLOBAL = 1  /* by the training part's mean and std            */
};

/* The most quantile levels a forecaster emits. */
#define LK_FORECASTER_MAX_QUANTILES 16

/* Loads a forecaster model file (kind "forecaster").
 * Errors: IO_ERROR, INVALID_FORMAT (the message names the problem, or both kinds). */
LK_API lk_status lk_forecaster_load(const char *path, lk_forecaster **out);

/* Releases the handle. NULL is a no-op. */
LK_API void lk_forecaster_free(lk_forecaster *forecaster);

/* Writes the forecaster to a model file (atomically, like lk_lstm_save). */
LK_API lk_status lk_forecaster_save(const lk_forecaster *forecaster, const char *path);

/* The channels the model was trained on: targets (>= 1) and exogenous (>= 0). */
LK_API lk_status lk_forecaster_channels(const lk_forecaster *forecaster, int32_t *targets, int32_t *exogenous);

/* Forecasts the h steps after the series *y (1 <= h <= the model's horizon; y->steps
 * >= context, y->channels == targets):
 *   x          NULL without exogenous channels; else (y->steps + horizon, exogenous):
 *              the series' steps and the model's whole horizon after them.
 *   point      (h, targets) float32, point_count == h * targets: the medians.
 *   quantiles  (h, targets, num_quantiles) float32, quantiles_count == h * targets *
 *              num_quantiles (levels as lk_forecaster_get_config's, ascending; the
 *              values never cross); NULL with quantiles_count 0 to skip them.
 * Errors: INVALID_ARGUMENT (NULL pointers, h outside [1, horizon], a series shorter than
 * the context, a NaN or infinite value: the message names the step and channel, x given
 * to a model without exogenous channels or missing for one with them, values so large
 * that the forecast overflows float32), SIZE_MISMATCH (a count, channels other than the
 * model's, too few exogenous steps). */
LK_API lk_status lk_forecaster_forecast(const lk_forecaster *forecaster, const lk_series *y, const lk_series *x,
                                        int32_t h, float *point, size_t point_count,
                                        float *quantiles, size_t quantiles_count);

/* Scores of rolling-origin forecasts (lk_forecaster_evaluate), averaged over every
 * origin, step and target. */
typedef struct lk_forecast_score {
    double mase;             /* MAE / the seasonal naive's in-sample MAE before start */
    double smape;            /* symmetric MAPE, percent                              */
    double coverage;         /* share inside [lowest, highest quantile]              */
    double nominal_coverage; /* highest - lowest quantile level (0.8 by default)     */
    double scaled_pinball;   /* mean pinball loss over the quantiles / MASE's scale  */
    int64_t windows;         /* forecast origins scored                              */
} lk_forecast_score;

/* Rolling-origin evaluation: forecasts the whole horizon from every `stride`-th origin
 * (>= 1) from step `start` (start >= context, start > season) while a horizon fits in
 * *y, without refitting, and scores them against *y. season >= 1 for MASE's scale, or 0
 * for the model's own. x: as lk_forecaster_train's (NULL without exogenous channels).
 * Errors: INVALID_ARGUMENT (as lk_forecaster_forecast, threads < 1, no horizon fits
 * after start), SIZE_MISMATCH. */
LK_API lk_status lk_forecaster_evaluate(const lk_forecaster *forecaster, const lk_series *y, const lk_series *x,
                                        size_t start, int32_t season, int32_t stride, int32_t threads,
                                        lk_forecast_score *out);

typedef struct lk_forecaster_train_config {
    int32_t context;             /* steps read per forecast, [1, 65536]                 */
    int32_t horizon;             /* steps forecast at once, [1, 65536]                  */
    int32_t cell;                /* LK_CELL_* (0: LSTM)                                  */
    int32_t hidden_size;         /* [1, 4096]                                            */
    int32_t num_layers;          /* [1, 16]                                              */
    int32_t num_quantiles;       /* [1, 16] (LK_FORECASTER_MAX_QUANTILES)                */
    float quantiles[LK_FORECASTER_MAX_QUANTILES]; /* ascending levels in (0, 1), one of
                                    them 0.5                                             */
    int32_t scaling;             /* LK_FORECAST_SCALING_*                                */
    int32_t linear_context;      /* 0 or 1: the head also reads the scaled context       */
    int32_t season;              /* MASE's season in progress lines and evaluate,
                                    [1, 65536]                                           */
    float dev_fraction;          /* the last this share of the series is dev, (0, 0.5]  */
    int32_t calibrate_intervals; /* 0 or 1: after training, scale each level's distance
                                    from the median so that its share of dev values
                                    below it matches the level                          */
    int32_t epochs;              /* at most this many passes, >= 1                       */
    int32_t batch_size;          /* windows per update, [1, 65536]                       */
    float learning_rate;         /* Adam, finite and > 0                                 */
    float clip_norm;             /* gradient norm clipping, finite and > 0               */
    int32_t patience;            /* stop after this many epochs without a better dev
                                    score, >= 1                                          */
    float decay_factor;          /* the rate is multiplied by this after such an epoch,
                                    (0, 1]                                               */
    double time_limit;           /* seconds; 0: none; else >= 1                          */
    int32_t threads;             /* for scoring dev, [1, 1024]                           */
    int32_t log_every;           /* a progress line every this many batches, >= 1       */
    uint64_t seed;               /* initialisation and shuffling                        */
} lk_forecaster_train_config;

/* The defaults: context 36, horizon 12, LSTM, hidden_size 64, 1 layer, quantiles {0.1,
 * 0.5, 0.9}, window scaling, linear_context 1, season 1, dev_fraction 0.15,
 * calibrate_intervals 0, 200 epochs, batch 32, learning_rate 0.01, clip_norm 5, patience
 * 15, decay_factor 0.5, no time limit, 2 threads, a progress line every 50 batches, seed 1. */
LK_API lk_forecaster_train_config lk_forecaster_train_config_default(void);

/* The model's own architecture in *out (context, horizon, cell, hidden_size,
 * num_layers, quantiles, scaling, linear_context, season, seed); the training fields
 * hold the defaults. Errors: INVALID_ARGUMENT for NULL pointers. */
LK_API lk_status lk_forecaster_get_config(const lk_forecaster *forecaster, lk_forecaster_train_config *out);

/* Trains a forecaster on the series *y (targets = y->channels) with the exogenous
 * inputs *x (NULL: none; else x->steps >= y->steps, the first y->steps read); *out receives the model with the
 * best dev score. The series must hold the context and horizon before its dev part, and
 * a horizon in it. progress (nullable) receives one line at a time on the calling
 * thread. Errors: INVALID_ARGUMENT (NULL pointers, an empty or too short series, a NaN
 * or infinite value, a bad config field, diverged training: see lk_progress_fn),
 * SIZE_MISMATCH (a count, x->steps < y->steps). */
LK_API lk_status lk_forecaster_train(const lk_series *y, const lk_series *x,
                                     const lk_forecaster_train_config *config,
                                     lk_progress_fn progress, void *user_data, lk_forecaster **out);

/* As lk_forecaster_train, with training options by name (nullable; see "Training
 * options by name"): the loop's settings, checkpoint_path and resume, and the
 * forecaster's own names (context, horizon, cell, hidden_size, num_layers, quantiles
 * "0.1,0.5,0.9", scaling "window" or "global", season, dev_fraction), and
 * bptt_length (no config field; [0, 65536], default 0: independent windows; else
 * truncated BPTT in chunks of this many steps, the state carried across them, and
 * forecasts warm the state over the whole series given; saved in the model and read
 * back by lk_model_get_setting). */
LK_API lk_status lk_forecaster_train_ex(const lk_series *y, const lk_series *x,
                                        const lk_forecaster_train_config *config, const lk_train_options *options,
                                        lk_progress_fn progress, void *user_data, lk_forecaster **out);

/* ------------------------------------------------------------------------ */
/* Sequence to sequence (Seq2Seq)                                             */
/* ------------------------------------------------------------------------ */

/* Translates text to text (grapheme to phoneme, a language to another; docs/SEQ2SEQ.md):
 * token embeddings -> a (bidirectional) recurrent encoder -> an LSTM decoder with
 * attention (dot, general or additive) over the encoder's states -> the target tokens.
 * Each side's tokens are characters or whitespace-separated words (source_tokens,
 * target_tokens), learned from the training pairs; a symbol never seen in training
 * becomes the unknown token (UNK) and decodes like any other source token, and a source
 * longer than any seen in training decodes too (at most ceil(max_length_ratio x its
 * tokens) output tokens). Texts are NUL-terminated UTF-8: invalid UTF-8 is
 * INVALID_ARGUMENT naming the text; so is a source without a token (empty, or blank
 * with word tokens).
 *
 * No config struct: every setting goes by name through an lk_train_options (see
 * "Training options by name"): the loop's, checkpoint_path and resume, and the
 * model's: source_tokens, target_tokens ("characters" or "words"), embedding_size,
 * hidden_size, num_layers, bidirectional, bridge ("true"/"false"), cell, score ("dot",
 * "general" or "additive"), attention_size, self_attention_blocks (self-attention
 * blocks over the encoder's states, 0: none) and self_attention_heads, dropout,
 * max_length_ratio, seed, min_count, label_smoothing, validation_fraction. Their defaults:
 * lk_train_config_default_text("seq2seq", ...); a model's own:
 * lk_model_get_config_text and lk_model_get_setting.
 *
 * Thread safety: translate, attention and save may run on one handle from many threads
 * at once. */
typedef struct lk_seq2seq lk_seq2seq;

/* How translate decodes; lk_seq2seq_decoding_default() gives the engine's defaults and
 * the engine checks every value (INVALID_ARGUMENT naming the field). */
typedef struct lk_seq2seq_decoding {
    int32_t beam_size;      /* hypotheses kept per step, [1, 256]; 1: greedy          */
    int32_t n_best;         /* translations returned per text, [1, beam_size]          */
    float length_penalty;   /* hypotheses rank by log-probability / length^this, [0, 10) */
    float max_length_ratio; /* at most ceil(this x source tokens) output tokens, [0, 100);
                               0: the model's max_length_ratio                          */
} lk_seq2seq_decoding;

LK_API lk_seq2seq_decoding lk_seq2seq_decoding_default(void);

/* Trains on n (source, target) pairs (n >= 1) and, if n_dev > 0, early-stops on the dev
 * pairs' exact-match rate (greedy); with n_dev = 0 (dev arrays may be NULL) a seeded
 * validation_fraction of the training pairs is held out. options: settings by name
 * (nullable: every default). progress (nullable) receives each progress line on the
 * calling thread. *out receives a new handle (free with lk_seq2seq_free).
 * Errors: INVALID_ARGUMENT for NULL pointers, invalid UTF-8, an empty source, a setting
 * out of range (named); OUT_OF_MEMORY for a model or batch beyond the memory limit. */
LK_API lk_status lk_seq2seq_train(const char *const *sources, const char *const *targets, size_t n,
                                  const char *const *dev_sources, const char *const *dev_targets, size_t n_dev,
                                  const lk_train_options *options, lk_progress_fn progress, void *user_data,
                                  lk_seq2seq **out);
LK_API lk_status lk_seq2seq_load(const char *path, lk_seq2seq **out);
LK_API lk_status lk_seq2seq_save(const lk_seq2seq *model, const char *path);
/* NULL is a no-op. */
LK_API void lk_seq2seq_free(lk_seq2seq *model);

/* Translates n texts (batched by length, on up to `threads` threads): for each, its
 * decoding->n_best best translations, best first. text receives them all, each ended
 * by a NUL, text 0's first; offsets[i * n_best + j] is where translation j of text i
 * starts (text + offsets[...] is a C string) and scores[i * n_best + j] its rank score
 * (log-probability / length^length_penalty; -INFINITY, with "", where the beam found
 * fewer than n_best). count must be n * n_best (SIZE_MISMATCH otherwise). *size
 * receives the bytes all translations need, NULs included, minus one (the
 * lk_model_get_setting protocol: a capacity above *size suffices; text NULL with
 * capacity 0 asks for the size alone, decoding the texts; BUFFER_TOO_SMALL leaves
 * offsets and scores unwritten). n may be 0. Errors: INVALID_ARGUMENT for NULL
 * pointers, invalid UTF-8 or an empty text (named by index), a decoding value out of
 * range, threads < 1. */
LK_API lk_status lk_seq2seq_translate(const lk_seq2seq *model, const char *const *texts, size_t n,
                                      const lk_seq2seq_decoding *decoding, int32_t threads,
                                      char *text, size_t capacity, size_t *size,
                                      size_t *offsets, float *scores, size_t count);

/* The attention of translation `rank` (0 = best, < n_best) of one text: *rows output
 * tokens by *columns source tokens, float32 row-major into weights (each row sums to 1;
 * weights_capacity >= rows x columns, else BUFFER_TOO_SMALL; weights NULL with capacity
 * 0 asks for the sizes alone). tokens receives the output tokens then the source tokens
 * (as split, unknown ones as written), each ended by a NUL, with the protocol of
 * translate's text (*tokens_size). Errors: as translate; rank outside [0, the
 * translations found) is INVALID_ARGUMENT. */
LK_API lk_status lk_seq2seq_attention(const lk_seq2seq *model, const char *text, const lk_seq2seq_decoding *decoding,
                                      int32_t rank, float *weights, size_t weights_capacity, size_t *rows,
                                      size_t *columns, char *tokens, size_t tokens_capacity, size_t *tokens_size);

/* Writes a rows x columns matrix of weights in [0, 1] (row-major float32: an attention
 * matrix, rows = output tokens, columns = input tokens) to path as a greyscale PNG heat
 * map, the CLI's translate --attention-png: white 0, black 1 (outside [0, 1] clamped,
 * NaN as 0), a 16 x 16 pixel square per weight with a one-pixel grid between, so the
 * image is (17 columns + 1) x (17 rows + 1) pixels. The file is replaced atomically.
 * Errors: INVALID_ARGUMENT for NULL pointers or rows or columns 0; OUT_OF_MEMORY for a
 * matrix too large to draw; IO_ERROR if path cannot be written. */
LK_API lk_status lk_heat_map_png(const float *weights, size_t rows, size_t columns, const char *path);

/* ------------------------------------------------------------------------ */
/* int8 quantization                                                          */
/* ------------------------------------------------------------------------ */

/* lk_<model>_quantize quantizes a model in place for inference (docs/QUANTIZATION.md), as PyTorch's
 * quantize_dynamic does: the weight matrices of its LSTM/GRU and linear layers become
 * int8 with one scale per row, and their inputs are quantized on the fly at each product;
 * embedding tables become int8 rows with a scale each; convolutions, normalisation, CRFs
 * and n-gram tables stay float32. Later calls run the int8
 * products (outputs move by the quantization error: docs/QUANTIZATION.md gives the bounds
 * and each model's measured accuracy), and lk_<model>_save writes an int8 file (I8
 * weights, F32 "<weight>_scale" tensors, metadata "quantization": "int8"; the weights
 * about 4x smaller) that lk_<model>_load reads back in its int8 form. Errors:
 * INVALID_ARGUMENT if the model is already quantized (an int8 file's included). Train
 * from float32 only: an int8 file is no checkpoint. For lk_lstm and lk_gru the parameter
 * list gains each weight's "<weight>_scale" (param_count, param_name), and a weight's
 * get_param gives its int8 values as floats; set_param then takes only integers in
 * [-128, 127] for a weight and finite positive values for a "<weight>_scale"
 * (INVALID_ARGUMENT otherwise, the parameter left as it was). lk_model_quantize does the same for a handle
 * of any kind (INVALID_ARGUMENT for one without an int8 form). A writer: no other call may
 * use the handle at the same time.
 * Loading refuses (INVALID_FORMAT, naming the tensor) an int8 file whose scales are NaN,
 * 0, negative or infinite, or whose int8 tensors are not I8; readers older than int8
 * refuse every int8 file (their parser knows no I8 dtype). */
LK_API lk_status lk_lstm_quantize(lk_lstm *lstm);
LK_API lk_status lk_gru_quantize(lk_gru *gru);
LK_API lk_status lk_tokenizer_quantize(lk_tokenizer *tokenizer);
LK_API lk_status lk_text_classifier_quantize(lk_text_classifier *classifier);
LK_API lk_status lk_image_classifier_quantize(lk_image_classifier *classifier);
LK_API lk_status lk_image_segmenter_quantize(lk_image_segmenter *segmenter);
LK_API lk_status lk_sequence_classifier_quantize(lk_sequence_classifier *classifier);
LK_API lk_status lk_forecaster_quantize(lk_forecaster *forecaster);
LK_API lk_status lk_seq2seq_quantize(lk_seq2seq *model);
LK_API lk_status lk_model_quantize(void *model);

#ifdef __cplusplus
}
#endif

#endif /* LSTMKIT_H */
