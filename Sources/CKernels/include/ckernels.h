// The LSTM and GRU cells' element-wise gate math (and the recurrence's matrix-vector product
// for a batch of one) in C, compiled for several x86-64 ISA
// levels (AVX-512, AVX2+FMA, baseline SSE2); the first call picks the best one the
// CPU supports: fast on new CPUs without requiring them at build time.
//
// exp, sigmoid and tanh are float32 Cephes polynomials (relative error about 2e-7
// against libm; no libm calls). Arrays passed to one call must not overlap, except
// where a parameter is documented as in/out.
#ifndef CKERNELS_H
#define CKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The LSTM cell on one row of H units. In place, the pre-activations
/// gates = [i | f | g | o] (4H floats) become sigmoid(i), sigmoid(f), tanh(g), sigmoid(o);
/// then c = sigmoid(f) * c_prev + sigmoid(i) * tanh(g) and h = sigmoid(o) * tanh(c) are
/// written to c_out and h_out, and h also to y_out unless it is NULL. No two arrays
/// may overlap.
void ck_lstm_cell_forward(float *gates, int64_t H, const float *c_prev,
                          float *c_out, float *h_out, float *y_out);

/// ck_lstm_cell_forward for inference, bit for bit the same c and h: gates (4H, the
/// pre-activations) are only read, c (H) is updated in place, and h is written to h_out
/// and also to y_out unless it is NULL. No two arrays may overlap.
void ck_lstm_cell_infer(const float *gates, int64_t H, float *c, float *h_out, float *y_out);

/// Backward of ck_lstm_cell_forward for one row. From the activated gates (4H), c_prev,
/// c = the cell state the forward produced, and the incoming gradient of h
/// (dh + dh_extra), writes the gradient w.r.t. the pre-activation gates to d_gates (4H)
/// and replaces dc (the gradient w.r.t. c, in/out) by the gradient w.r.t. c_prev.
void ck_lstm_cell_backward(const float *gates, int64_t H, const float *c_prev, const float *c,
                           const float *dh, const float *dh_extra, float *dc, float *d_gates);

/// The GRU cell on one row of H units (PyTorch's nn.GRU). gates (3H) holds the input
/// projections [xr | xz | xn] = W_ih x + b_ih and becomes r, z, n in place; hg (3H) holds
/// the recurrent ones [hr | hz | hn] = W_hh h_prev + b_hh. r = sigmoid(xr + hr),
/// z = sigmoid(xz + hz), n = tanh(xn + r * hn), h = (1 - z) * n + z * h_prev is written
/// to h_out, and also to y_out unless it is NULL; hn (what backward needs) is copied to
/// hn_out unless it is NULL. No two arrays may overlap.
void ck_gru_cell_forward(float *gates, const float *hg, int64_t H, const float *h_prev,
                         float *h_out, float *hn_out, float *y_out);

/// Backward of ck_gru_cell_forward for one row. From the activated gates r, z, n (3H),
/// hn (H), h_prev and the incoming gradient of h (dh + dh_extra), writes the gradient
/// w.r.t. the input projections to d_x (3H) and w.r.t. the recurrent ones to d_h (3H),
/// and replaces dh (in/out) by its direct part of the gradient w.r.t. h_prev, z * dh
/// (the caller adds d_h W_hh).
void ck_gru_cell_backward(const float *gates, const float *hn, int64_t H, const float *h_prev,
                          float *dh, const float *dh_extra, float *d_x, float *d_h);

/// y[r] += sum_c W[r * cols + c] * x[c] for r < rows: a matrix-vector product with a
/// row-major W (rows, cols), accumulated into y. For the recurrence of a batch of one.
/// y must not overlap W or x.
void ck_gemv_accumulate(const float *W, int64_t rows, int64_t cols, const float *x, float *y);

/// The same product for a W used many times (a long sequence of a batch of one): pack W
/// once with ck_gemv_pack into `packed` (ck_gemv_packed_count(rows, cols) floats, best
/// 64-byte aligned), then each ck_gemv_packed_accumulate reads it at close to cache
/// bandwidth. Sums in a different order than ck_gemv_accumulate (last-bit differences).
int64_t ck_gemv_packed_count(int64_t rows, int64_t cols);
void ck_gemv_pack(const float *W, int64_t rows, int64_t cols, float *packed);
void ck_gemv_packed_accumulate(const float *packed, int64_t rows, int64_t cols, const float *x, float *y);

/// One direction of a batch of one with its hidden units split in two parts, each part
/// on its own core (split_recurrence.c). Part 0 holds units [0, ck_lstm_split_first(H)),
/// part 1 the rest. ck_lstm_split_pack packs each part's gate rows of W_hh (4H, H) into
/// packed0 / packed1 (ck_gemv_packed_count(4 * n_part, H) floats each); returns 0 if out
/// of memory.
int64_t ck_lstm_split_first(int64_t H);
int ck_lstm_split_pack(const float *W_hh, int64_t H, float *packed0, float *packed1);

/// Runs `steps` steps: step s adds W_hh h to the pre-activations gates[s * 4H ..] (read
/// only), runs the cell, and writes h to y + s * y_stride (y_stride may be negative).
/// h and c (H each) hold the initial state and receive the final one. With threads >= 2
/// part 1 runs on a helper thread (or on the caller when another call holds the helper);
/// results are bit-identical either way and to ck_gemv_packed_accumulate +
/// ck_lstm_cell_forward on the whole W_hh. Returns 0 if out of memory (nothing changed).
int ck_lstm_split_steps(const float *packed0, const float *packed1, int64_t H, const float *gates,
                        int64_t steps, float *h, float *c, float *y, int64_t y_stride, int threads);

/// The same for an int8 LSTM (dynamic quantization, q8.c). A part: its gate rows of the
/// int8 W_hh (4n, H) packed by ck_q8_pack (ck_q8_packed_bytes(4n, H) bytes, n the part's
/// units), their sums and their scales (4n each). ck_q8_lstm_split_pack fills both parts
/// from the values q (4H, H) and scales (4H); returns 0 if out of memory.
/// ck_q8_lstm_split_steps quantizes h at every step as ck_q8_quantize_inputs does and
/// gives the bits of ck_q8_gemm (accumulate) + ck_lstm_cell_infer on the whole W_hh.
typedef struct {
    int8_t *packed;
    int32_t *sums;
    float *scales;
} ck_q8_split_part;
int ck_q8_lstm_split_pack(const int8_t *q, const float *scale, int64_t H, const ck_q8_split_part parts[2]);
int ck_q8_lstm_split_steps(const ck_q8_split_part parts[2], int64_t H, const float *gates, int64_t steps, float *h,
                           float *c, float *y, int64_t y_stride, int threads);

/// C (+)= A · Bᵀ with B packed once (packed_gemm.c): the recurrent layers' per-step
/// product in inference, which OpenBLAS would re-pack at every step. B is (N, K) with row
/// stride ldb (W_hh), A (M, K) with row stride lda, C (M, N) with row stride ldc.
/// ck_sgemm_pack writes ck_sgemm_packed_count(N, K) floats (best 64-byte aligned);
/// ck_sgemm_packed adds A · Bᵀ to C when accumulate, else writes it. B, A and C must not
/// overlap. Sums in another order than OpenBLAS (last-bit differences).
int64_t ck_sgemm_packed_count(int64_t N, int64_t K);
void ck_sgemm_pack(const float *B, int64_t N, int64_t K, int64_t ldb, float *packed);
void ck_sgemm_packed(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *packed, float *C,
                     int64_t ldc, int accumulate);
/// The variant ck_sgemm_packed runs here ("avx512", "avx2_fma" or "plain"), and whether it
/// beats OpenBLAS on this CPU (1: a vector variant runs).
const char *ck_sgemm_packed_isa(void);
int ck_sgemm_packed_preferred(void);
/// For tests: ck_sgemm_packed with the named variant; 0 (nothing written) if this build or
/// CPU lacks it.
int ck_sgemm_packed_variant(const char *isa, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                            const float *packed, float *C, int64_t ldc, int accumulate);

/// y[k] = exp(x[k]), 1 / (1 + exp(-x[k])), tanh(x[k]) for k < n, by the kernels'
/// approximations (for tests). y may equal x.
void ck_exp(const float *x, float *y, int64_t n);
void ck_sigmoid(const float *x, float *y, int64_t n);
void ck_tanh(const float *x, float *y, int64_t n);

/// The kernel variant this CPU runs: "avx512f", "avx2_fma" or "baseline" (SSE2 on x86-64;
/// the build target elsewhere).
const char *ck_isa(void);

/// Whether the automatic choice of a kernel variant may take `isa` (a variant's name:
/// "avx512…", "avx2…", anything else plain) under LSTMKIT_MAX_ISA ("avx2" or "plain";
/// unset, "avx512" or unknown: no cap), read once (isa.c). ck_isa_cap_parse: the cap a
/// value gives (3 AVX-512, 2 AVX2, 1 plain).
int ck_isa_allows(const char *isa);
int ck_isa_cap_parse(const char *value);

/// The calling thread's floating-point control word (x86 MXCSR, Arm FPCR; 0 elsewhere),
/// set back with ck_fp_mode_set. ck_fp_flush_denormals turns on flush-to-zero and
/// denormals-are-zero and returns the mode before (fp_mode.c).
uint32_t ck_fp_mode(void);
void ck_fp_mode_set(uint32_t mode);
uint32_t ck_fp_flush_denormals(void);

/// For tests of every variant: runs exp (function 0), sigmoid (1) or tanh (2) over
/// x[0..<n] with the named variant ("avx512f", "avx2_fma", "baseline"). Returns 0 and
/// writes nothing if this build or CPU lacks the variant.
int ck_math_variant(const char *isa, int function, const float *x, float *y, int64_t n);

/// Dynamic int8 quantization (q8.c, docs/QUANTIZATION.md): y = x · Wᵀ with W int8 per
/// output row (symmetric: W[n, k] ≈ w_scale[n] · wq[n, k]) and x quantized per row when
/// used (asymmetric 7-bit: x[m, k] ≈ x_scale[m] · (xq[m, k] − x_zero[m]), xq in [0, 127]).
/// The sums are exact int32 (cols at most 32,768), then rescaled once in float; every
/// variant gives the same bits.
///
/// ck_q8_quantize_weights: W (rows, cols) → q (rows, cols) in [-127, 127] and scale (rows),
/// max |W[r]| / 127 (1 for an all-zero row). ck_q8_pack: q → packed
/// (ck_q8_packed_bytes(rows, cols) bytes: blocks of 8 rows x 4 columns, zero padded) and
/// row_sums (rows) = Σ_k q[r, k].
void ck_q8_quantize_weights(const float *W, int64_t rows, int64_t cols, int8_t *q, float *scale);
int64_t ck_q8_packed_bytes(int64_t rows, int64_t cols);
void ck_q8_pack(const int8_t *q, int64_t rows, int64_t cols, int8_t *packed, int32_t *row_sums);

/// Quantizes x (rows, cols; row stride ldx) into q (rows, ck_q8_padded_cols(cols); the
/// padding zeroed), scale (rows) and zero (rows). The range of each row includes 0; NaNs
/// are left out of it and quantize to 0. Every variant gives the same bytes.
int64_t ck_q8_padded_cols(int64_t cols);
void ck_q8_quantize_inputs(const float *x, int64_t rows, int64_t cols, int64_t ldx,
                           uint8_t *q, float *scale, int32_t *zero);

/// y[m * ldy + n] = (or += when accumulate, or bias[n] + when bias is not NULL and
/// accumulate 0) x_scale[m] · w_scale[n] · (Σ_k xq[m, k] wq[n, k] − x_zero[m] · w_sum[n])
/// for m < M, n < N (K = cols). The bias gives the bits of y filled with it and += .
void ck_q8_gemm(const uint8_t *xq, const float *x_scale, const int32_t *x_zero, int64_t M,
                const int8_t *w_packed, const float *w_scale, const int32_t *w_sum, int64_t N, int64_t K,
                float *y, int64_t ldy, const float *bias, int accumulate);

/// The variant ck_q8_gemm runs on this CPU: "avx512vnni", "avx2" or "plain".
const char *ck_q8_isa(void);

/// For tests: ck_q8_gemm or ck_q8_quantize_inputs with the named variant; returns 0
/// (nothing written) if this build or CPU lacks it.
int ck_q8_gemm_variant(const char *isa, const uint8_t *xq, const float *x_scale, const int32_t *x_zero,
                       int64_t M, const int8_t *w_packed, const float *w_scale, const int32_t *w_sum,
                       int64_t N, int64_t K, float *y, int64_t ldy, const float *bias, int accumulate);
int ck_q8_quantize_inputs_variant(const char *isa, const float *x, int64_t rows, int64_t cols, int64_t ldx,
                                  uint8_t *q, float *scale, int32_t *zero);

/// Fork safety (fork.c). A section between ck_fork_gate_enter and ck_fork_gate_leave
/// (on one thread; nesting allowed) never overlaps a fork(): fork waits until every
/// section in progress has left, and new sections wait until it is done. Keep sections
/// short, and never wait inside one for another thread that may be entering a section.
void ck_fork_gate_enter(void);
void ck_fork_gate_leave(void);
/// How many forks separate this process from the one that loaded the library (0 there).
unsigned long ck_fork_generation(void);
/// Called before handing work to libdispatch's worker pool: 0 in a child forked after the
/// pool had started (it does not survive fork: run the work on the calling thread).
int ck_thread_pool_usable(void);

/// 1 if malloc can give `bytes` now (they are given back at once), else 0: Memory.check's
/// try, kept out of the optimizer's reach (memory.c).
int ck_can_allocate(size_t bytes);

/// OpenBLAS's core on a CPU newer than its release (openblas_core.c): 1 if LSTMKit found
/// OpenBLAS on its Prescott fallback when it loaded and had it select again (no
/// OPENBLAS_CORETYPE set, a better core named by the CPU's features), else 0.
extern int ck_openblas_core_reselected;
/// The OpenBLAS core this CPU's features call for ("SkylakeX", "Haswell"), or NULL.
const char *ck_openblas_core_by_features(void);

#ifdef __cplusplus
}
#endif

#endif
