// The LSTM cell's element-wise gate math (and the recurrence's matrix-vector product
// for a batch of one) in C, compiled for several x86-64 ISA
// levels (AVX-512, AVX2+FMA, baseline SSE2); the first call picks the best one the
// CPU supports: fast on new CPUs without requiring them at build time.
//
// exp, sigmoid and tanh are float32 Cephes polynomials (relative error about 2e-7
// against libm; no libm calls). Arrays passed to one call must not overlap, except
// where a parameter is documented as in/out.
#ifndef CKERNELS_H
#define CKERNELS_H

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

/// Backward of ck_lstm_cell_forward for one row. From the activated gates (4H), c_prev,
/// c = the cell state the forward produced, and the incoming gradient of h
/// (dh + dh_extra), writes the gradient w.r.t. the pre-activation gates to d_gates (4H)
/// and replaces dc (the gradient w.r.t. c, in/out) by the gradient w.r.t. c_prev.
void ck_lstm_cell_backward(const float *gates, int64_t H, const float *c_prev, const float *c,
                           const float *dh, const float *dh_extra, float *dc, float *d_gates);

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

/// y[k] = exp(x[k]), 1 / (1 + exp(-x[k])), tanh(x[k]) for k < n, by the kernels'
/// approximations (for tests). y may equal x.
void ck_exp(const float *x, float *y, int64_t n);
void ck_sigmoid(const float *x, float *y, int64_t n);
void ck_tanh(const float *x, float *y, int64_t n);

/// The kernel variant this CPU runs: "avx512f", "avx2_fma" or "baseline" (SSE2 on x86-64;
/// the build target elsewhere).
const char *ck_isa(void);

/// For tests of every variant: runs exp (function 0), sigmoid (1) or tanh (2) over
/// x[0..<n] with the named variant ("avx512f", "avx2_fma", "baseline"). Returns 0 and
/// writes nothing if this build or CPU lacks the variant.
int ck_math_variant(const char *isa, int function, const float *x, float *y, int64_t n);

#ifdef __cplusplus
}
#endif

#endif
