// Dynamic int8 quantization's matrix product y = x · Wᵀ (docs/QUANTIZATION.md), in the
// style of PyTorch's quantize_dynamic on fbgemm:
//   weights  int8, symmetric, one scale per output row:    W[n, k] ≈ sw[n] · wq[n, k]
//   inputs   quantized per input row when used, asymmetric 7-bit (fbgemm's reduce_range):
//            x[m, k] ≈ sx[m] · (xq[m, k] − zx[m]),  xq in [0, 127]
//   product  acc[m, n] = Σ_k xq[m, k] wq[n, k] in int32, exactly, then one float rescale:
//            y[m, n] (+)= (float)(acc − zx[m] · Σ_k wq[n, k]) · (sx[m] · sw[n])
//
// Why 7-bit inputs: AVX2's vpmaddubsw multiplies unsigned by signed bytes and adds pairs
// into int16 WITH saturation; with xq <= 127 a pair is at most 2 · 127 · 128 = 32,512 <
// 32,767, so it never saturates and the integer sums are exact (as VNNI's vpdpbusd is
// always). Full 8-bit inputs would need widening to int16 (vpmovsxbw + vpmaddwd): half
// the multiplies per instruction, slower than float32 on AVX2. 7 bits cost precision
// (step (max − min) / 127), which is what PyTorch's fbgemm path uses too.
//
// Every variant reads the same packed weights, sums in int32 (exact: the order does not
// matter) and rescales with the same operations in the same order (AVX2 eight outputs at
// a time), so all variants give the same bits.
// The rescale's multiply and add must stay separate roundings: no contraction into FMA.
#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#include "ckernels.h"

#include <string.h>

#define Q8_INLINE static inline __attribute__((always_inline))

int64_t ck_q8_padded_cols(int64_t cols) { return (cols + 3) / 4 * 4; }

int64_t ck_q8_packed_bytes(int64_t rows, int64_t cols) {
    return (rows + 7) / 8 * 8 * ck_q8_padded_cols(cols);
}

/// Rounds to the nearest integer, ties to even, for |v| < 2^22 (the 1.5 · 2^23 trick:
/// no libm call, the same in every build).
Q8_INLINE float round_small(float v) {
    const float magic = 12582912.0f;
    float shifted = v + magic;
    return shifted - magic;
}

void ck_q8_quantize_weights(const float *W, int64_t rows, int64_t cols, int8_t *q, float *scale) {
    for (int64_t r = 0; r < rows; r++) {
        const float *w = W + r * cols;
        float maxabs = 0.0f;
        for (int64_t k = 0; k < cols; k++) {
            float a = __builtin_fabsf(w[k]);
            maxabs = a > maxabs ? a : maxabs;
        }
        // An all-zero row gets scale 1 (any positive scale represents it exactly).
        float s = maxabs > 0.0f ? maxabs / 127.0f : 1.0f;
        scale[r] = s;
        for (int64_t k = 0; k < cols; k++) {
            float v = round_small(w[k] / s);
            v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
            q[r * cols + k] = (int8_t)v;
        }
    }
}

void ck_q8_pack(const int8_t *q, int64_t rows, int64_t cols, int8_t *packed, int32_t *row_sums) {
    int64_t k4 = ck_q8_padded_cols(cols) / 4;
    memset(packed, 0, (size_t)ck_q8_packed_bytes(rows, cols));
    for (int64_t r = 0; r < rows; r++) {
        int32_t sum = 0;
        int8_t *block = packed + (r / 8) * k4 * 32 + (r % 8) * 4;
        for (int64_t k = 0; k < cols; k++) {
            block[(k / 4) * 32 + k % 4] = q[r * cols + k];
            sum += q[r * cols + k];
        }
        row_sums[r] = sum;
    }
}

/// A row's scale, zero point and 1 / scale from its range [lo, hi] (which includes 0).
Q8_INLINE void input_range(float lo, float hi, float *scale, float *zero, float *inv) {
    float s = (hi - lo) / 127.0f;
    if (!(s > 0.0f) || s != s) s = 1.0f;   // all zeros
    float z = round_small(-lo / s);
    *zero = z > 127.0f ? 127.0f : z;
    *scale = s;
    *inv = 1.0f / s;
}

/// One input quantized: round(x / s) + z clamped to [0, 127] (a NaN gives 0).
Q8_INLINE uint8_t quantize_input(float x, float inv, float z) {
    float v = round_small(x * inv) + z;
    v = v > 0.0f ? v : 0.0f;
    v = v < 127.0f ? v : 127.0f;
    return (uint8_t)v;
}

/// The plain variant of ck_q8_quantize_inputs: the reference the others must match bit
/// for bit.
static void quantize_inputs_plain(const float *x, int64_t rows, int64_t cols, int64_t ldx,
                                  uint8_t *q, float *scale, int32_t *zero) {
    int64_t kp = ck_q8_padded_cols(cols);
    for (int64_t m = 0; m < rows; m++) {
        const float *xr = x + m * ldx;
        uint8_t *qr = q + m * kp;
        // The range includes 0, so 0 (padding, finished rows) is exact. (NaNs are skipped:
        // a comparison with one is false.)
        float lo = 0.0f, hi = 0.0f;
        for (int64_t k = 0; k < cols; k++) {
            lo = xr[k] < lo ? xr[k] : lo;
            hi = xr[k] > hi ? xr[k] : hi;
        }
        float s, z, inv;
        input_range(lo, hi, &s, &z, &inv);
        for (int64_t k = 0; k < cols; k++) qr[k] = quantize_input(xr[k], inv, z);
        for (int64_t k = cols; k < kp; k++) qr[k] = 0;
        scale[m] = s;
        zero[m] = (int32_t)z;
    }
}

/// What a row's products are added to: y's row (accumulate), the bias, or nothing (NULL).
/// (A bias added here gives the bits of a y filled with it first: addition commutes.)
Q8_INLINE const float *addend(float *yr, const float *bias, int64_t n0, int accumulate) {
    return accumulate ? yr : bias ? bias + n0 : NULL;
}

/// The rescale every variant shares: rows m0 + [0, mr), outputs n0 + [0, nn), from the
/// int32 sums acc[i * 32 + j].
Q8_INLINE void rescale(const int32_t *acc, int64_t m0, int64_t mr, int64_t n0, int64_t nn,
                       const float *x_scale, const int32_t *x_zero, const float *w_scale,
                       const int32_t *w_sum, float *y, int64_t ldy, const float *bias, int accumulate) {
    for (int64_t i = 0; i < mr; i++) {
        float sx = x_scale[m0 + i];
        int32_t zx = x_zero[m0 + i];
        float *yr = y + (m0 + i) * ldy + n0;
        const float *a = addend(yr, bias, n0, accumulate);
        for (int64_t j = 0; j < nn; j++) {
            float s = sx * w_scale[n0 + j];
            float v = (float)(acc[i * 32 + j] - zx * w_sum[n0 + j]) * s;
            yr[j] = a ? a[j] + v : v;
        }
    }
}

/// The plain C variant (any CPU): the same loops over the packed layout.
static void gemm_plain(const uint8_t *xq, const float *x_scale, const int32_t *x_zero, int64_t M,
                       const int8_t *w, const float *w_scale, const int32_t *w_sum, int64_t N, int64_t K,
                       float *y, int64_t ldy, const float *bias, int accumulate) {
    int64_t kp = ck_q8_padded_cols(K), k4n = kp / 4;
    for (int64_t n0 = 0; n0 < N; n0 += 8) {
        const int8_t *wb = w + (n0 / 8) * k4n * 32;
        int64_t nn = N - n0 < 8 ? N - n0 : 8;
        for (int64_t m = 0; m < M; m++) {
            const uint8_t *xr = xq + m * kp;
            int32_t acc[32] = {0};
            for (int64_t k4 = 0; k4 < k4n; k4++) {
                for (int j = 0; j < 8; j++) {
                    const int8_t *wk = wb + k4 * 32 + j * 4;
                    const uint8_t *xk = xr + k4 * 4;
                    acc[j] += xk[0] * wk[0] + xk[1] * wk[1] + xk[2] * wk[2] + xk[3] * wk[3];
                }
            }
            rescale(acc, m, 1, n0, nn, x_scale, x_zero, w_scale, w_sum, y, ldy, bias, accumulate);
        }
    }
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define Q8_X86 1
#include <immintrin.h>

/// One tile of MR rows x NB blocks of 8 outputs (MR, NB constants after inlining): per
/// group of 4 columns, each row's 4 bytes are broadcast and multiplied with each block's
/// 8 x 4 weights (vpmaddubsw: u8 x s8, adjacent pairs summed into int16, exact here),
/// then pairs of pairs summed into int32 (vpmaddwd by 1) and accumulated.
__attribute__((target("avx2"))) Q8_INLINE void tile_avx2(int MR, int NB, const uint8_t *x, int64_t kp,
                                                         const int8_t *w, int64_t block_bytes, int64_t k4n,
                                                         int32_t *out) {
    __m256i acc[4][4];
    for (int i = 0; i < MR; i++)
        for (int b = 0; b < NB; b++) acc[i][b] = _mm256_setzero_si256();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t k4 = 0; k4 < k4n; k4++) {
        __m256i wv[4];
        for (int b = 0; b < NB; b++) wv[b] = _mm256_loadu_si256((const __m256i *)(w + b * block_bytes + k4 * 32));
        for (int i = 0; i < MR; i++) {
            int32_t x4;
            memcpy(&x4, x + i * kp + k4 * 4, 4);
            __m256i xv = _mm256_set1_epi32(x4);
            for (int b = 0; b < NB; b++) {
                __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(xv, wv[b]), ones);
                acc[i][b] = _mm256_add_epi32(acc[i][b], p);
            }
        }
    }
    for (int i = 0; i < MR; i++)
        for (int b = 0; b < NB; b++) _mm256_storeu_si256((__m256i *)(out + i * 32 + b * 8), acc[i][b]);
}

#define Q8_TILE(MR, NB)                                                                              \
    __attribute__((target("avx2"))) static void tile_avx2_##MR##x##NB(                              \
        const uint8_t *x, int64_t kp, const int8_t *w, int64_t block_bytes, int64_t k4n, int32_t *out) { \
        tile_avx2(MR, NB, x, kp, w, block_bytes, k4n, out);                                          \
    }
Q8_TILE(4, 2) Q8_TILE(3, 2) Q8_TILE(2, 2) Q8_TILE(1, 2) Q8_TILE(1, 4) Q8_TILE(4, 1) Q8_TILE(3, 1)
Q8_TILE(2, 1) Q8_TILE(1, 1)

/// The shared rescale, 8 outputs at a time where a whole block of 8 is there: the same
/// operations as `rescale` (int32 multiply and subtract, convert, multiply, add), so
/// the same bits.
__attribute__((target("avx2"))) static void rescale_avx2(const int32_t *acc, int64_t m0, int64_t mr, int64_t n0,
                                                         int64_t nn, const float *x_scale, const int32_t *x_zero,
                                                         const float *w_scale, const int32_t *w_sum, float *y,
                                                         int64_t ldy, const float *bias, int accumulate) {
    int64_t n8 = nn / 8 * 8;
    for (int64_t i = 0; i < mr; i++) {
        __m256 sx = _mm256_set1_ps(x_scale[m0 + i]);
        __m256i zx = _mm256_set1_epi32(x_zero[m0 + i]);
        float *yr = y + (m0 + i) * ldy + n0;
        const float *a = addend(yr, bias, n0, accumulate);
        for (int64_t j = 0; j < n8; j += 8) {
            __m256 s = _mm256_mul_ps(sx, _mm256_loadu_ps(w_scale + n0 + j));
            __m256i d = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(acc + i * 32 + j)),
                                         _mm256_mullo_epi32(zx, _mm256_loadu_si256((const __m256i *)(w_sum + n0 + j))));
            __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(d), s);
            _mm256_storeu_ps(yr + j, a ? _mm256_add_ps(_mm256_loadu_ps(a + j), v) : v);
        }
    }
    if (n8 < nn) rescale(acc + n8, m0, mr, n0 + n8, nn - n8, x_scale, x_zero, w_scale, w_sum, y, ldy, bias, accumulate);
}

/// ck_q8_quantize_inputs 8 inputs at a time, with the plain variant's operations in the
/// same order, so the same bits: max_ps / min_ps(v, acc) are `v > acc ? v : acc` and
/// `v < acc ? v : acc` per lane, as the plain loop's (NaNs skipped alike), and the range's
/// min and max do not depend on the order (the lanes never hold -0: a comparison with 0
/// does not pick it); then multiply, the rounding trick, add, clamp, convert per lane.
__attribute__((target("avx2"))) static void quantize_inputs_avx2(const float *x, int64_t rows, int64_t cols,
                                                                 int64_t ldx, uint8_t *q, float *scale,
                                                                 int32_t *zero) {
    int64_t kp = ck_q8_padded_cols(cols), c8 = cols / 8 * 8;
    const __m256 magic = _mm256_set1_ps(12582912.0f), top = _mm256_set1_ps(127.0f), zeros = _mm256_setzero_ps();
    for (int64_t m = 0; m < rows; m++) {
        const float *xr = x + m * ldx;
        uint8_t *qr = q + m * kp;
        __m256 vlo = zeros, vhi = zeros;
        for (int64_t k = 0; k < c8; k += 8) {
            __m256 v = _mm256_loadu_ps(xr + k);
            vlo = _mm256_min_ps(v, vlo);
            vhi = _mm256_max_ps(v, vhi);
        }
        float lanes_lo[8], lanes_hi[8], lo = 0.0f, hi = 0.0f;
        _mm256_storeu_ps(lanes_lo, vlo);
        _mm256_storeu_ps(lanes_hi, vhi);
        for (int j = 0; j < 8; j++) {
            lo = lanes_lo[j] < lo ? lanes_lo[j] : lo;
            hi = lanes_hi[j] > hi ? lanes_hi[j] : hi;
        }
        for (int64_t k = c8; k < cols; k++) {
            lo = xr[k] < lo ? xr[k] : lo;
            hi = xr[k] > hi ? xr[k] : hi;
        }
        float s, z, inv;
        input_range(lo, hi, &s, &z, &inv);
        const __m256 vinv = _mm256_set1_ps(inv), vz = _mm256_set1_ps(z);
        for (int64_t k = 0; k < c8; k += 8) {
            __m256 v = _mm256_mul_ps(_mm256_loadu_ps(xr + k), vinv);
            v = _mm256_add_ps(_mm256_sub_ps(_mm256_add_ps(v, magic), magic), vz);
            v = _mm256_min_ps(_mm256_max_ps(v, zeros), top);   // v > 0 ? v : 0, then v < 127 ? v : 127
            __m256i i32 = _mm256_cvttps_epi32(v);               // exact: integers in [0, 127]
            __m128i i16 = _mm_packs_epi32(_mm256_castsi256_si128(i32), _mm256_extracti128_si256(i32, 1));
            _mm_storel_epi64((__m128i *)(qr + k), _mm_packus_epi16(i16, i16));
        }
        for (int64_t k = c8; k < cols; k++) qr[k] = quantize_input(xr[k], inv, z);
        for (int64_t k = cols; k < kp; k++) qr[k] = 0;
        scale[m] = s;
        zero[m] = (int32_t)z;
    }
}

typedef void (*tile_fn)(const uint8_t *, int64_t, const int8_t *, int64_t, int64_t, int32_t *);

/// A span's rescale into y (rescale_avx2's arguments).
typedef void (*rescale_fn)(const int32_t *acc, int64_t m0, int64_t mr, int64_t n0, int64_t nn, const float *x_scale,
                           const int32_t *x_zero, const float *w_scale, const int32_t *w_sum, float *y, int64_t ldy,
                           const float *bias, int accumulate);

/// One span of a GEMM: rows m0 + [0, mr) (xr) times `blocks` blocks of 8 outputs (wb),
/// the int32 sums into acc (row i at acc + 32 i).
typedef void (*span_fn)(int64_t mr, const uint8_t *xr, int64_t kp, const int8_t *wb, int64_t block_bytes,
                        int64_t k4n, int64_t blocks, int32_t *acc);

/// The loops the x86 variants share: spans of up to 4 rows x `step` outputs (at most
/// 32), each rescaled into y at once. Rows outer, outputs inner: each span's rows of y
/// are written in order (the prefetcher follows them; output-major order missed the
/// cache on every span, since the rows are a whole gate row apart), and the weights,
/// read once per 4 rows, come from L2 at a fraction of its bandwidth.
static void gemm_spans(span_fn span, rescale_fn rescale_span, int64_t step, const uint8_t *xq, const float *x_scale,
                       const int32_t *x_zero,
                       int64_t M, const int8_t *w, const float *w_scale, const int32_t *w_sum, int64_t N, int64_t K,
                       float *y, int64_t ldy, const float *bias, int accumulate) {
    int64_t kp = ck_q8_padded_cols(K), k4n = kp / 4, block_bytes = k4n * 32;
    int32_t acc[4 * 32];
    for (int64_t m0 = 0; m0 < M; m0 += 4) {
        int64_t mr = M - m0 < 4 ? M - m0 : 4;
        for (int64_t n0 = 0; n0 < N; n0 += step) {
            int64_t nn = N - n0 < step ? N - n0 : step;
            span(mr, xq + m0 * kp, kp, w + (n0 / 8) * block_bytes, block_bytes, k4n, (nn + 7) / 8, acc);
            rescale_span(acc, m0, mr, n0, nn, x_scale, x_zero, w_scale, w_sum, y, ldy, bias, accumulate);
        }
    }
}

static void span_avx2(int64_t mr, const uint8_t *xr, int64_t kp, const int8_t *wb, int64_t block_bytes, int64_t k4n,
                      int64_t blocks, int32_t *acc) {
    static const tile_fn two[5] = {0, tile_avx2_1x2, tile_avx2_2x2, tile_avx2_3x2, tile_avx2_4x2};
    static const tile_fn one[5] = {0, tile_avx2_1x1, tile_avx2_2x1, tile_avx2_3x1, tile_avx2_4x1};
    if (mr == 1 && blocks == 4) {
        tile_avx2_1x4(xr, kp, wb, block_bytes, k4n, acc);
        return;
    }
    for (int64_t b = 0; b < blocks;) {
        tile_fn f = blocks - b >= 2 ? two[mr] : one[mr];
        f(xr, kp, wb + b * block_bytes, block_bytes, k4n, acc + b * 8);
        b += blocks - b >= 2 ? 2 : 1;
    }
}

/// A batch of one (a matrix-vector product) takes 32 outputs at a time, else 16 x 4 rows.
static void gemm_avx2(const uint8_t *xq, const float *x_scale, const int32_t *x_zero, int64_t M,
                      const int8_t *w, const float *w_scale, const int32_t *w_sum, int64_t N, int64_t K,
                      float *y, int64_t ldy, const float *bias, int accumulate) {
    gemm_spans(span_avx2, rescale_avx2, M == 1 ? 32 : 16, xq, x_scale, x_zero, M, w, w_scale, w_sum, N, K, y, ldy, bias, accumulate);
}

/// AVX-512 VNNI (`vpdpbusd`): one instruction multiplies u8 by s8, sums each group of 4
/// into int32 and accumulates, exactly (no int16 step, so no saturation for any bytes;
/// the inputs stay 7-bit so that every variant computes the same sums). A zmm holds 16
/// outputs x 4 columns: blocks b and b + 1 of the shared packed layout, side by side.
#define Q8_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

Q8_VNNI Q8_INLINE __m512i block_pair_vnni(const int8_t *w, int64_t block_bytes, int64_t k4) {
    __m256i lo = _mm256_loadu_si256((const __m256i *)(w + k4 * 32));
    __m256i hi = _mm256_loadu_si256((const __m256i *)(w + block_bytes + k4 * 32));
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/// One tile of MR rows x NP pairs of blocks (16 outputs each). A single row (a batch of
/// one) keeps two sets of sums, even and odd groups of columns, so that two chains of
/// `vpdpbusd` are in flight per pair instead of one; integer sums, so the split changes
/// nothing.
Q8_VNNI Q8_INLINE void tile_vnni(int MR, int NP, const uint8_t *x, int64_t kp, const int8_t *w,
                                 int64_t block_bytes, int64_t k4n, int32_t *out) {
    __m512i acc[4][2];
    int sets = MR == 1 ? 2 : MR;
    for (int i = 0; i < sets; i++)
        for (int p = 0; p < NP; p++) acc[i][p] = _mm512_setzero_si512();
    if (MR == 1) {
        int64_t k4 = 0;
        for (; k4 + 1 < k4n; k4 += 2) {
            int32_t x0, x1;
            memcpy(&x0, x + k4 * 4, 4);
            memcpy(&x1, x + k4 * 4 + 4, 4);
            __m512i xv0 = _mm512_set1_epi32(x0), xv1 = _mm512_set1_epi32(x1);
            for (int p = 0; p < NP; p++) {
                const int8_t *wp = w + 2 * p * block_bytes;
                acc[0][p] = _mm512_dpbusd_epi32(acc[0][p], xv0, block_pair_vnni(wp, block_bytes, k4));
                acc[1][p] = _mm512_dpbusd_epi32(acc[1][p], xv1, block_pair_vnni(wp, block_bytes, k4 + 1));
            }
        }
        if (k4 < k4n) {
            int32_t x0;
            memcpy(&x0, x + k4 * 4, 4);
            __m512i xv0 = _mm512_set1_epi32(x0);
            for (int p = 0; p < NP; p++)
                acc[0][p] = _mm512_dpbusd_epi32(acc[0][p], xv0, block_pair_vnni(w + 2 * p * block_bytes, block_bytes, k4));
        }
        for (int p = 0; p < NP; p++) acc[0][p] = _mm512_add_epi32(acc[0][p], acc[1][p]);
    } else {
        for (int64_t k4 = 0; k4 < k4n; k4++) {
            __m512i wv[2];
            for (int p = 0; p < NP; p++) wv[p] = block_pair_vnni(w + 2 * p * block_bytes, block_bytes, k4);
            for (int i = 0; i < MR; i++) {
                int32_t x4;
                memcpy(&x4, x + i * kp + k4 * 4, 4);
                __m512i xv = _mm512_set1_epi32(x4);
                for (int p = 0; p < NP; p++) acc[i][p] = _mm512_dpbusd_epi32(acc[i][p], xv, wv[p]);
            }
        }
    }
    for (int i = 0; i < MR; i++)
        for (int p = 0; p < NP; p++) _mm512_storeu_si512(out + i * 32 + p * 16, acc[i][p]);
}

/// A lone block of 8 outputs (an odd number of blocks at the end of N), in a ymm.
Q8_VNNI static void block_vnni(int64_t mr, const uint8_t *x, int64_t kp, const int8_t *w, int64_t k4n,
                               int32_t *out) {
    for (int64_t i = 0; i < mr; i++) {
        __m256i acc = _mm256_setzero_si256();
        for (int64_t k4 = 0; k4 < k4n; k4++) {
            int32_t x4;
            memcpy(&x4, x + i * kp + k4 * 4, 4);
            acc = _mm256_dpbusd_epi32(acc, _mm256_set1_epi32(x4), _mm256_loadu_si256((const __m256i *)(w + k4 * 32)));
        }
        _mm256_storeu_si256((__m256i *)(out + i * 32), acc);
    }
}

#define Q8_TILE_VNNI(MR, NP)                                                                         \
    Q8_VNNI static void tile_vnni_##MR##x##NP(const uint8_t *x, int64_t kp, const int8_t *w,         \
                                              int64_t block_bytes, int64_t k4n, int32_t *out) {      \
        tile_vnni(MR, NP, x, kp, w, block_bytes, k4n, out);                                          \
    }
Q8_TILE_VNNI(4, 2) Q8_TILE_VNNI(3, 2) Q8_TILE_VNNI(2, 2) Q8_TILE_VNNI(1, 2) Q8_TILE_VNNI(4, 1)
Q8_TILE_VNNI(3, 1) Q8_TILE_VNNI(2, 1) Q8_TILE_VNNI(1, 1)

static void span_vnni(int64_t mr, const uint8_t *xr, int64_t kp, const int8_t *wb, int64_t block_bytes, int64_t k4n,
                      int64_t blocks, int32_t *acc) {
    static const tile_fn two[5] = {0, tile_vnni_1x2, tile_vnni_2x2, tile_vnni_3x2, tile_vnni_4x2};
    static const tile_fn one[5] = {0, tile_vnni_1x1, tile_vnni_2x1, tile_vnni_3x1, tile_vnni_4x1};
    int64_t pairs = blocks / 2;
    if (pairs > 0) (pairs == 2 ? two : one)[mr](xr, kp, wb, block_bytes, k4n, acc);
    if (blocks % 2) block_vnni(mr, xr, kp, wb + 2 * pairs * block_bytes, k4n, acc + 16 * pairs);
}

/// rescale_avx2's operations 16 outputs at a time: the same per lane, so the same bits.
/// (With 64 inputs a row, the recurrence of a small tokenizer, the rescale and the input
/// quantization cost as much as the products.)
Q8_VNNI static void rescale_avx512(const int32_t *acc, int64_t m0, int64_t mr, int64_t n0, int64_t nn,
                                   const float *x_scale, const int32_t *x_zero, const float *w_scale,
                                   const int32_t *w_sum, float *y, int64_t ldy, const float *bias, int accumulate) {
    int64_t n16 = nn / 16 * 16;
    for (int64_t i = 0; i < mr; i++) {
        __m512 sx = _mm512_set1_ps(x_scale[m0 + i]);
        __m512i zx = _mm512_set1_epi32(x_zero[m0 + i]);
        float *yr = y + (m0 + i) * ldy + n0;
        const float *a = addend(yr, bias, n0, accumulate);
        for (int64_t j = 0; j < n16; j += 16) {
            __m512 s = _mm512_mul_ps(sx, _mm512_loadu_ps(w_scale + n0 + j));
            __m512i d = _mm512_sub_epi32(_mm512_loadu_si512(acc + i * 32 + j),
                                         _mm512_mullo_epi32(zx, _mm512_loadu_si512(w_sum + n0 + j)));
            __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(d), s);
            _mm512_storeu_ps(yr + j, a ? _mm512_add_ps(_mm512_loadu_ps(a + j), v) : v);
        }
    }
    if (n16 < nn)
        rescale_avx2(acc + n16, m0, mr, n0 + n16, nn - n16, x_scale, x_zero, w_scale, w_sum, y, ldy, bias, accumulate);
}

/// quantize_inputs_avx2 16 inputs at a time, with the same operations per lane (the
/// range's min and max do not depend on the order), so the same bits.
Q8_VNNI static void quantize_inputs_avx512(const float *x, int64_t rows, int64_t cols, int64_t ldx, uint8_t *q,
                                           float *scale, int32_t *zero) {
    int64_t kp = ck_q8_padded_cols(cols), c16 = cols / 16 * 16;
    const __m512 magic = _mm512_set1_ps(12582912.0f), top = _mm512_set1_ps(127.0f), zeros = _mm512_setzero_ps();
    for (int64_t m = 0; m < rows; m++) {
        const float *xr = x + m * ldx;
        uint8_t *qr = q + m * kp;
        __m512 vlo = zeros, vhi = zeros;
        for (int64_t k = 0; k < c16; k += 16) {
            __m512 v = _mm512_loadu_ps(xr + k);
            vlo = _mm512_min_ps(v, vlo);
            vhi = _mm512_max_ps(v, vhi);
        }
        // The lanes hold no NaN and no -0 (a comparison with one keeps the lane), so any
        // order of reduction gives the same min and max.
        float lo = _mm512_reduce_min_ps(vlo), hi = _mm512_reduce_max_ps(vhi);
        for (int64_t k = c16; k < cols; k++) {
            lo = xr[k] < lo ? xr[k] : lo;
            hi = xr[k] > hi ? xr[k] : hi;
        }
        float s, z, inv;
        input_range(lo, hi, &s, &z, &inv);
        const __m512 vinv = _mm512_set1_ps(inv), vz = _mm512_set1_ps(z);
        for (int64_t k = 0; k < c16; k += 16) {
            __m512 v = _mm512_mul_ps(_mm512_loadu_ps(xr + k), vinv);
            v = _mm512_add_ps(_mm512_sub_ps(_mm512_add_ps(v, magic), magic), vz);
            v = _mm512_min_ps(_mm512_max_ps(v, zeros), top);
            _mm_storeu_si128((__m128i *)(qr + k), _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(v)));
        }
        for (int64_t k = c16; k < cols; k++) qr[k] = quantize_input(xr[k], inv, z);
        for (int64_t k = cols; k < kp; k++) qr[k] = 0;
        scale[m] = s;
        zero[m] = (int32_t)z;
    }
}

/// Spans of up to 4 rows x 32 outputs, at every batch size.
static void gemm_vnni(const uint8_t *xq, const float *x_scale, const int32_t *x_zero, int64_t M,
                      const int8_t *w, const float *w_scale, const int32_t *w_sum, int64_t N, int64_t K,
                      float *y, int64_t ldy, const float *bias, int accumulate) {
    gemm_spans(span_vnni, rescale_avx512, 32, xq, x_scale, x_zero, M, w, w_scale, w_sum, N, K, y, ldy, bias, accumulate);
}
#endif

/// One variant of the kernels.
struct ck_q8_variant {
    const char *isa;
    void (*gemm)(const uint8_t *, const float *, const int32_t *, int64_t, const int8_t *, const float *,
                 const int32_t *, int64_t, int64_t, float *, int64_t, const float *, int);
    void (*quantize_inputs)(const float *, int64_t, int64_t, int64_t, uint8_t *, float *, int32_t *);
};

static const struct ck_q8_variant q8_variants[] = {
#ifdef Q8_X86
    {"avx512vnni", gemm_vnni, quantize_inputs_avx512},
    {"avx2", gemm_avx2, quantize_inputs_avx2},
#endif
    {"plain", gemm_plain, quantize_inputs_plain},
};

static int q8_supported(const struct ck_q8_variant *v) {
#ifdef Q8_X86
    __builtin_cpu_init();
    if (strcmp(v->isa, "avx512vnni") == 0)
        return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx2");
    if (strcmp(v->isa, "avx2") == 0) return __builtin_cpu_supports("avx2");
#endif
    (void)v;
    return 1;
}

static const struct ck_q8_variant *q8_chosen(void) {
    static const struct ck_q8_variant *chosen;
    const struct ck_q8_variant *v = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
    if (!v) {
        for (size_t i = 0; i < sizeof q8_variants / sizeof q8_variants[0]; i++) {
            if (q8_supported(&q8_variants[i]) && ck_isa_allows(q8_variants[i].isa)) { v = &q8_variants[i]; break; }
        }
        __atomic_store_n(&chosen, v, __ATOMIC_RELEASE);
    }
    return v;
}

void ck_q8_gemm(const uint8_t *xq, const float *x_scale, const int32_t *x_zero, int64_t M,
                const int8_t *w_packed, const float *w_scale, const int32_t *w_sum, int64_t N, int64_t K,
                float *y, int64_t ldy, const float *bias, int accumulate) {
    q8_chosen()->gemm(xq, x_scale, x_zero, M, w_packed, w_scale, w_sum, N, K, y, ldy, bias, accumulate);
}

void ck_q8_quantize_inputs(const float *x, int64_t rows, int64_t cols, int64_t ldx,
                           uint8_t *q, float *scale, int32_t *zero) {
    q8_chosen()->quantize_inputs(x, rows, cols, ldx, q, scale, zero);
}

const char *ck_q8_isa(void) { return q8_chosen()->isa; }

/// The variant named `isa` if this build and CPU have it, else NULL.
static const struct ck_q8_variant *q8_named(const char *isa) {
    for (size_t i = 0; i < sizeof q8_variants / sizeof q8_variants[0]; i++) {
        const struct ck_q8_variant *v = &q8_variants[i];
        if (strcmp(v->isa, isa) == 0 && q8_supported(v)) return v;
    }
    return NULL;
}

int ck_q8_gemm_variant(const char *isa, const uint8_t *xq, const float *x_scale, const int32_t *x_zero,
                       int64_t M, const int8_t *w_packed, const float *w_scale, const int32_t *w_sum,
                       int64_t N, int64_t K, float *y, int64_t ldy, const float *bias, int accumulate) {
    const struct ck_q8_variant *v = q8_named(isa);
    if (!v) return 0;
    v->gemm(xq, x_scale, x_zero, M, w_packed, w_scale, w_sum, N, K, y, ldy, bias, accumulate);
    return 1;
}

int ck_q8_quantize_inputs_variant(const char *isa, const float *x, int64_t rows, int64_t cols, int64_t ldx,
                                  uint8_t *q, float *scale, int32_t *zero) {
    const struct ck_q8_variant *v = q8_named(isa);
    if (!v) return 0;
    v->quantize_inputs(x, rows, cols, ldx, q, scale, zero);
    return 1;
}
