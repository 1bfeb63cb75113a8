// The LSTM and GRU cells' gate math as plain loops over the hidden units, which the compiler
// vectorises, and the matrix-vector product of a batch of one's recurrence (the only
// intrinsics: a 16 x 16 transpose for packing W on AVX-512). On x86-64 the loops are compiled three times — for AVX-512, AVX2+FMA and
// the baseline (SSE2) — and the first call picks the best variant the CPU supports
// (__builtin_cpu_supports), so the library runs on any x86-64 CPU and uses the wide
// units where they exist. Elsewhere the loops are compiled once, for the build target.
//
// (Not target_clones: clang's clones are one feature each, or "arch=x86-64-v3", whose
// resolver reads CPU-model bits that older libgcc versions lack. The checks here use
// only the feature bits every libgcc and compiler-rt provide.)
//
// Keep this file free of -ffast-math: the exp below relies on exact float rounding
// (x + 1.5*2^23 - 1.5*2^23 rounds x to an integer). The variants may differ in the
// last bit, since the AVX2/AVX-512 ones fuse multiply-adds.
#include "ckernels.h"

#include <string.h>

#define CK_INLINE static inline __attribute__((always_inline))

CK_INLINE float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

CK_INLINE uint32_t to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/// exp(x) by Cephes' expf: x = n ln2 + r with |r| <= ln2/2, exp(r) by a degree-7
/// polynomial, 2^n through the exponent bits. Clamped to [-87.3, 88.3] (normal results).
CK_INLINE float ck_expf(float x) {
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.3f ? 88.3f : x;
    // n = round(x / ln 2) by the 1.5 * 2^23 trick: adding it rounds to an integer,
    // which then sits in the low mantissa bits of `shifted`.
    const float magic = 12582912.0f;
    float shifted = x * 1.44269504f + magic;
    float n = shifted - magic;
    float r = x - n * 0.693359375f + n * 2.1219444e-4f;   // ln 2 in two parts
    float p = 1.98756915e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    // n is in [-126, 127], so n + 127 is a valid biased exponent.
    uint32_t ni = to_bits(shifted) - to_bits(magic);
    return p * from_bits((ni + 127u) << 23);
}

CK_INLINE float ck_sigmoidf(float x) {
    return 1.0f / (1.0f + ck_expf(-x));
}

/// tanh: an odd polynomial for |x| < 0.625 (keeps relative precision near 0), else
/// 1 - 2 / (exp(2|x|) + 1) with the sign restored. Both are computed and one selected,
/// so the loop has no branches.
CK_INLINE float ck_tanhf(float x) {
    float ax = __builtin_fabsf(x);
    float z = x * x;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    float small = p * z * x + x;
    float large = 1.0f - 2.0f / (ck_expf(2.0f * ax) + 1.0f);
    large = x < 0.0f ? -large : large;
    return ax < 0.625f ? small : large;
}

// The loop bodies take each gate block as its own restrict pointer, so the vectoriser
// needs no run-time overlap checks between them (with a possible overlap it would
// fall back to a scalar loop: many times slower).

/// One unit of the cell, the arithmetic forward_row and infer_row share (so they give
/// the same bits): the activated gates a = (i, f, g, o) from their pre-activations,
/// c = f * c_prev + i * g, and the returned h = o * tanh(c).
CK_INLINE float cell_unit(float gi, float gf, float gg, float go, float c_prev, float a[4], float *c) {
    a[0] = ck_sigmoidf(gi);
    a[1] = ck_sigmoidf(gf);
    a[2] = ck_tanhf(gg);
    a[3] = ck_sigmoidf(go);
    *c = a[1] * c_prev + a[0] * a[2];
    return a[3] * ck_tanhf(*c);
}

CK_INLINE void forward_row(float *restrict gi, float *restrict gf, float *restrict gg, float *restrict go,
                           int64_t H, const float *restrict c_prev, float *restrict c_out,
                           float *restrict h_out) {
    for (int64_t j = 0; j < H; j++) {
        float a[4], c;
        h_out[j] = cell_unit(gi[j], gf[j], gg[j], go[j], c_prev[j], a, &c);
        gi[j] = a[0];
        gf[j] = a[1];
        gg[j] = a[2];
        go[j] = a[3];
        c_out[j] = c;
    }
}

/// forward_row for inference: the gates are only read, c is updated in place and h
/// goes to h_out and, with `with_y`, y_out too: no stores of the activated gates (only
/// training's backward reads them) and no copies of c and h afterwards.
CK_INLINE void infer_row(const float *restrict gi, const float *restrict gf, const float *restrict gg,
                         const float *restrict go, int64_t H, float *restrict c, float *restrict h_out,
                         float *restrict y_out, int with_y) {
    for (int64_t j = 0; j < H; j++) {
        float a[4], cj;
        float h = cell_unit(gi[j], gf[j], gg[j], go[j], c[j], a, &cj);
        c[j] = cj;
        h_out[j] = h;
        if (with_y) y_out[j] = h;
    }
}

CK_INLINE void backward_row(const float *restrict gi, const float *restrict gf,
                            const float *restrict gg, const float *restrict go, int64_t H,
                            const float *restrict c_prev, const float *restrict c,
                            const float *restrict dh, const float *restrict dh_extra,
                            float *restrict dc,
                            float *restrict dgi, float *restrict dgf, float *restrict dgg,
                            float *restrict dgo) {
    for (int64_t j = 0; j < H; j++) {
        float i = gi[j], f = gf[j], g = gg[j], o = go[j];
        float dhj = dh[j] + dh_extra[j];
        float tc = ck_tanhf(c[j]);
        float dcj = dc[j] + dhj * o * (1.0f - tc * tc);
        dgi[j] = dcj * g * i * (1.0f - i);
        dgf[j] = dcj * c_prev[j] * f * (1.0f - f);
        dgg[j] = dcj * i * (1.0f - g * g);
        dgo[j] = dhj * tc * o * (1.0f - o);
        dc[j] = dcj * f;
    }
}

/// The GRU cell (PyTorch's nn.GRU): from the input projections xr, xz, xn (with b_ih,
/// overwritten by r, z, n) and the recurrent ones hr, hz, hn (with b_hh):
/// r = σ(xr + hr), z = σ(xz + hz), n = tanh(xn + r hn), h = (1 - z) n + z h_prev.
CK_INLINE void gru_forward_row(float *restrict xr, float *restrict xz, float *restrict xn,
                               const float *restrict hr, const float *restrict hz, const float *restrict hn,
                               int64_t H, const float *restrict h_prev, float *restrict h_out) {
    for (int64_t j = 0; j < H; j++) {
        float r = ck_sigmoidf(xr[j] + hr[j]);
        float z = ck_sigmoidf(xz[j] + hz[j]);
        float n = ck_tanhf(xn[j] + r * hn[j]);
        xr[j] = r;
        xz[j] = z;
        xn[j] = n;
        h_out[j] = n + z * (h_prev[j] - n);
    }
}

/// Its backward: from r, z, n, hn (= W_hn h_prev + b_hn), h_prev and the gradient of h
/// (dh + dh_extra), the gradients of the input projections (dxr, dxz, dxn) and of the
/// recurrent ones (dhr = dxr, dhz = dxz, dhn = r dxn); dh becomes its direct part z dh.
CK_INLINE void gru_backward_row(const float *restrict gr, const float *restrict gz, const float *restrict gn,
                                const float *restrict hn, int64_t H, const float *restrict h_prev,
                                float *restrict dh, const float *restrict dh_extra,
                                float *restrict dxr, float *restrict dxz, float *restrict dxn,
                                float *restrict dhr, float *restrict dhz, float *restrict dhn) {
    for (int64_t j = 0; j < H; j++) {
        float r = gr[j], z = gz[j], n = gn[j];
        float d = dh[j] + dh_extra[j];
        float dn = d * (1.0f - z) * (1.0f - n * n);
        float dz = d * (h_prev[j] - n) * z * (1.0f - z);
        float dr = dn * hn[j] * r * (1.0f - r);
        dxr[j] = dr;
        dxz[j] = dz;
        dxn[j] = dn;
        dhr[j] = dr;
        dhz[j] = dz;
        dhn[j] = dn * r;
        dh[j] = d * z;
    }
}

/// y[r] += sum_c W[r, c] x[c] for a row-major W (rows, cols): the recurrence of a batch
/// of one, where a GEMM would spend more time packing W_hh than multiplying. Four rows
/// at a time, each with CK_GEMV_LANES partial sums kept lane by lane (so the compiler
/// vectorises without reordering a reduction), summed at the end of the row.
#define CK_GEMV_LANES 16

CK_INLINE float lane_sum(const float *a) {
    float s = 0.0f;
    for (int l = 0; l < CK_GEMV_LANES; l++) s += a[l];
    return s;
}

CK_INLINE void gemv_rows(const float *restrict W, int64_t rows, int64_t cols,
                         const float *restrict x, float *restrict y) {
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        const float *w0 = W + r * cols, *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
        float a0[CK_GEMV_LANES] = {0}, a1[CK_GEMV_LANES] = {0}, a2[CK_GEMV_LANES] = {0}, a3[CK_GEMV_LANES] = {0};
        int64_t c = 0;
        for (; c + CK_GEMV_LANES <= cols; c += CK_GEMV_LANES) {
            for (int l = 0; l < CK_GEMV_LANES; l++) {
                float xv = x[c + l];
                a0[l] += w0[c + l] * xv;
                a1[l] += w1[c + l] * xv;
                a2[l] += w2[c + l] * xv;
                a3[l] += w3[c + l] * xv;
            }
        }
        float s0 = lane_sum(a0), s1 = lane_sum(a1), s2 = lane_sum(a2), s3 = lane_sum(a3);
        for (; c < cols; c++) {
            float xv = x[c];
            s0 += w0[c] * xv;
            s1 += w1[c] * xv;
            s2 += w2[c] * xv;
            s3 += w3[c] * xv;
        }
        y[r] += s0;
        y[r + 1] += s1;
        y[r + 2] += s2;
        y[r + 3] += s3;
    }
    for (; r < rows; r++) {
        const float *w = W + r * cols;
        float a[CK_GEMV_LANES] = {0};
        int64_t c = 0;
        for (; c + CK_GEMV_LANES <= cols; c += CK_GEMV_LANES) {
            for (int l = 0; l < CK_GEMV_LANES; l++) a[l] += w[c + l] * x[c + l];
        }
        float s = lane_sum(a);
        for (; c < cols; c++) s += w[c] * x[c];
        y[r] += s;
    }
}

/// The same product from W packed into panels of P rows (ck_gemv_pack): panel q holds
/// W[q*P + i, k] at [(q*cols + k)*P + i], rows past the end zero. Each output is then a
/// plain sum over k in order, vectorised across the panel's rows: no reductions and
/// unit-stride loads, which reads W at close to cache bandwidth. P is per variant (as
/// many accumulators as the registers hold, at most 128); the sums do not depend on it.

/// Copies rows [i0, i1) x columns [k0, k1) of one panel's rows w (row stride cols)
/// into the panel p, eight columns at a time (each row's eight values are contiguous).
CK_INLINE void pack_block(const float *restrict w, int64_t cols, float *restrict p, int64_t P,
                          int64_t i0, int64_t i1, int64_t k0, int64_t k1) {
    for (int64_t kb = k0; kb < k1; kb += 8) {
        int64_t ke = kb + 8 < k1 ? kb + 8 : k1;
        for (int64_t i = i0; i < i1; i++) {
            for (int64_t k = kb; k < ke; k++) p[k * P + i] = w[i * cols + k];
        }
    }
}

/// Zeroes the padding rows [n, P) of a panel.
CK_INLINE void pad_panel(float *restrict p, int64_t cols, int64_t P, int64_t n) {
    for (int64_t k = 0; k < cols; k++) {
        for (int64_t i = n; i < P; i++) p[k * P + i] = 0.0f;
    }
}

CK_INLINE void pack_panels(const float *restrict W, int64_t rows, int64_t cols, float *restrict packed, int64_t P) {
    for (int64_t r0 = 0; r0 < rows; r0 += P) {
        int64_t n = rows - r0 < P ? rows - r0 : P;
        pack_block(W + r0 * cols, cols, packed + r0 * cols, P, 0, n, 0, cols);
        pad_panel(packed + r0 * cols, cols, P, n);
    }
}

CK_INLINE void gemv_panels(const float *restrict packed, int64_t rows, int64_t cols,
                           const float *restrict x, float *restrict y, int64_t P) {
    for (int64_t r0 = 0; r0 < rows; r0 += P) {
        const float *p = packed + r0 * cols;
        int64_t n = rows - r0 < P ? rows - r0 : P;
        // The dot products first, then added to y (as a GEMM with beta = 1 does).
        float acc[128];
        for (int64_t i = 0; i < P; i++) acc[i] = 0.0f;
        for (int64_t k = 0; k < cols; k++) {
            float xv = x[k];
            for (int64_t i = 0; i < P; i++) acc[i] += xv * p[k * P + i];
        }
        for (int64_t i = 0; i < n; i++) y[r0 + i] += acc[i];
    }
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

/// dst[k * ldd + i] = src[i * ld + k] for a 16 x 16 tile, in AVX-512 registers.
__attribute__((target("avx512f"))) static inline void transpose16(const float *src, int64_t ld,
                                                                   float *dst, int64_t ldd) {
    __m512 r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + i * ld);
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 16; i += 8) {
        for (int j = 0; j < 4; j++) {
            t[i + j] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0x88);
            t[i + j + 4] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0xdd);
        }
    }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xdd);
    }
    for (int i = 0; i < 16; i++) _mm512_storeu_ps(dst + i * ldd, r[i]);
}

/// pack_panels with the full 16 x 16 tiles transposed in registers.
__attribute__((target("avx512f"))) static void pack_panels_avx512(const float *W, int64_t rows, int64_t cols,
                                                                  float *packed, int64_t P) {
    for (int64_t r0 = 0; r0 < rows; r0 += P) {
        const float *w = W + r0 * cols;
        float *p = packed + r0 * cols;
        int64_t n = rows - r0 < P ? rows - r0 : P;
        int64_t n16 = n / 16 * 16, k16 = cols / 16 * 16;
        for (int64_t k = 0; k < k16; k += 16) {
            for (int64_t i = 0; i < n16; i += 16) transpose16(w + i * cols + k, cols, p + k * P + i, P);
        }
        pack_block(w, cols, p, P, 0, n16, k16, cols);
        pack_block(w, cols, p, P, n16, n, 0, cols);
        pad_panel(p, cols, P, n);
    }
}
#endif

/// One compiled variant of every kernel (the row kernels without y_out).
struct ck_kernels {
    const char *isa;
    void (*forward)(float *, int64_t, const float *, float *, float *);
    void (*infer)(const float *, int64_t, float *, float *, float *);
    void (*backward)(const float *, int64_t, const float *, const float *, const float *,
                     const float *, float *, float *);
    void (*gru_forward)(float *, const float *, int64_t, const float *, float *);
    void (*gru_backward)(const float *, const float *, int64_t, const float *, float *, const float *,
                         float *, float *);
    void (*exp)(const float *, float *, int64_t);
    void (*sigmoid)(const float *, float *, int64_t);
    void (*tanh)(const float *, float *, int64_t);
    void (*gemv)(const float *, int64_t, int64_t, const float *, float *);
    int64_t panel;   // rows per panel of a packed W
    void (*pack)(const float *, int64_t, int64_t, float *);
    void (*gemv_packed)(const float *, int64_t, int64_t, const float *, float *);
};

/// Defines one variant of every kernel, compiled with the function attribute TARGET
/// (the always-inline helpers above are compiled into each with its instruction set),
/// with PANEL rows per packed panel, packed by PACK.
/// y[k] = f(x[k]) for k < n (the body of ck_exp, ck_sigmoid, ck_tanh). In place it loops
/// over one pointer: the compiler vectorises x -> y behind a run-time overlap check whose
/// other branch is scalar (tanh 6-7x slower when y == x), and y -> y it vectorises.
#define MAP(f)                                                                                    \
    if (x == y) {                                                                                 \
        for (int64_t k = 0; k < n; k++) y[k] = f(y[k]);                                           \
    } else {                                                                                      \
        for (int64_t k = 0; k < n; k++) y[k] = f(x[k]);                                           \
    }

#define CK_VARIANT(SUFFIX, TARGET, PANEL, PACK)                                                   \
    TARGET static void forward_##SUFFIX(float *gates, int64_t H, const float *c_prev,             \
                                        float *c_out, float *h_out) {                             \
        forward_row(gates, gates + H, gates + 2 * H, gates + 3 * H, H, c_prev, c_out, h_out);     \
    }                                                                                             \
    TARGET static void infer_##SUFFIX(const float *gates, int64_t H, float *c, float *h_out,       \
                                      float *y_out) {                                             \
        if (y_out)                                                                                \
            infer_row(gates, gates + H, gates + 2 * H, gates + 3 * H, H, c, h_out, y_out, 1);     \
        else                                                                                      \
            infer_row(gates, gates + H, gates + 2 * H, gates + 3 * H, H, c, h_out, NULL, 0);      \
    }                                                                                             \
    TARGET static void backward_##SUFFIX(const float *gates, int64_t H, const float *c_prev,      \
                                         const float *c, const float *dh, const float *dh_extra,  \
                                         float *dc, float *d_gates) {                             \
        backward_row(gates, gates + H, gates + 2 * H, gates + 3 * H, H, c_prev, c, dh, dh_extra,  \
                     dc, d_gates, d_gates + H, d_gates + 2 * H, d_gates + 3 * H);                 \
    }                                                                                             \
    TARGET static void gru_forward_##SUFFIX(float *gates, const float *hg, int64_t H,             \
                                            const float *h_prev, float *h_out) {                  \
        gru_forward_row(gates, gates + H, gates + 2 * H, hg, hg + H, hg + 2 * H, H, h_prev,       \
                        h_out);                                                                   \
    }                                                                                             \
    TARGET static void gru_backward_##SUFFIX(const float *gates, const float *hn, int64_t H,      \
                                             const float *h_prev, float *dh,                      \
                                             const float *dh_extra, float *d_x, float *d_h) {     \
        gru_backward_row(gates, gates + H, gates + 2 * H, hn, H, h_prev, dh, dh_extra, d_x,       \
                         d_x + H, d_x + 2 * H, d_h, d_h + H, d_h + 2 * H);                        \
    }                                                                                             \
    TARGET static void exp_##SUFFIX(const float *x, float *y, int64_t n) { MAP(ck_expf) }         \
    TARGET static void sigmoid_##SUFFIX(const float *x, float *y, int64_t n) { MAP(ck_sigmoidf) } \
    TARGET static void tanh_##SUFFIX(const float *x, float *y, int64_t n) { MAP(ck_tanhf) }       \
    TARGET static void gemv_##SUFFIX(const float *W, int64_t rows, int64_t cols, const float *x,  \
                                     float *y) {                                                  \
        gemv_rows(W, rows, cols, x, y);                                                           \
    }                                                                                             \
    TARGET static void pack_##SUFFIX(const float *W, int64_t rows, int64_t cols, float *packed) { \
        PACK(W, rows, cols, packed, PANEL);                                                       \
    }                                                                                             \
    TARGET static void gemv_packed_##SUFFIX(const float *packed, int64_t rows, int64_t cols,      \
                                            const float *x, float *y) {                           \
        gemv_panels(packed, rows, cols, x, y, PANEL);                                             \
    }                                                                                             \
    static const struct ck_kernels kernels_##SUFFIX = {                                           \
        #SUFFIX, forward_##SUFFIX, infer_##SUFFIX, backward_##SUFFIX, gru_forward_##SUFFIX, gru_backward_##SUFFIX, \
        exp_##SUFFIX, sigmoid_##SUFFIX,                                                           \
        tanh_##SUFFIX, gemv_##SUFFIX, PANEL, pack_##SUFFIX, gemv_packed_##SUFFIX                  \
    };

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define CK_X86_DISPATCH 1
CK_VARIANT(avx512f, __attribute__((target("avx512f"))), 128, pack_panels_avx512)   // implies AVX2 and FMA
CK_VARIANT(avx2_fma, __attribute__((target("avx2,fma"))), 64, pack_panels)
#endif
CK_VARIANT(baseline, , 64, pack_panels)

/// Every variant, best first.
static const struct ck_kernels *const variants[] = {
#ifdef CK_X86_DISPATCH
    &kernels_avx512f, &kernels_avx2_fma,
#endif
    &kernels_baseline,
};

static int cpu_supports(const struct ck_kernels *k) {
#ifdef CK_X86_DISPATCH
    __builtin_cpu_init();
    if (k == &kernels_avx512f) return __builtin_cpu_supports("avx512f");
    if (k == &kernels_avx2_fma) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    (void)k;
    return 1;
}

static const struct ck_kernels *select_kernels(void) {
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        if (cpu_supports(variants[v]) && ck_isa_allows(variants[v]->isa)) return variants[v];
    }
    return &kernels_baseline;
}

/// The variant for this CPU, chosen on first use. Threads racing on the first call
/// all store the same pointer.
static const struct ck_kernels *kernels(void) {
    static const struct ck_kernels *chosen;
    const struct ck_kernels *k = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
    if (!k) {
        k = select_kernels();
        __atomic_store_n(&chosen, k, __ATOMIC_RELEASE);
    }
    return k;
}

void ck_lstm_cell_forward(float *gates, int64_t H, const float *c_prev,
                          float *c_out, float *h_out, float *y_out) {
    kernels()->forward(gates, H, c_prev, c_out, h_out);
    if (y_out) memcpy(y_out, h_out, (size_t)H * sizeof(float));
}

void ck_lstm_cell_infer(const float *gates, int64_t H, float *c, float *h_out, float *y_out) {
    kernels()->infer(gates, H, c, h_out, y_out);
}

void ck_lstm_cell_backward(const float *gates, int64_t H, const float *c_prev, const float *c,
                           const float *dh, const float *dh_extra, float *dc, float *d_gates) {
    kernels()->backward(gates, H, c_prev, c, dh, dh_extra, dc, d_gates);
}

void ck_gru_cell_forward(float *gates, const float *hg, int64_t H, const float *h_prev,
                         float *h_out, float *hn_out, float *y_out) {
    kernels()->gru_forward(gates, hg, H, h_prev, h_out);
    if (hn_out) memcpy(hn_out, hg + 2 * H, (size_t)H * sizeof(float));
    if (y_out) memcpy(y_out, h_out, (size_t)H * sizeof(float));
}

void ck_gru_cell_backward(const float *gates, const float *hn, int64_t H, const float *h_prev,
                          float *dh, const float *dh_extra, float *d_x, float *d_h) {
    kernels()->gru_backward(gates, hn, H, h_prev, dh, dh_extra, d_x, d_h);
}

void ck_gemv_accumulate(const float *W, int64_t rows, int64_t cols, const float *x, float *y) {
    kernels()->gemv(W, rows, cols, x, y);
}

int64_t ck_gemv_packed_count(int64_t rows, int64_t cols) {
    int64_t panel = kernels()->panel;
    return (rows + panel - 1) / panel * panel * cols;
}

void ck_gemv_pack(const float *W, int64_t rows, int64_t cols, float *packed) {
    kernels()->pack(W, rows, cols, packed);
}

void ck_gemv_packed_accumulate(const float *packed, int64_t rows, int64_t cols, const float *x, float *y) {
    kernels()->gemv_packed(packed, rows, cols, x, y);
}

void ck_exp(const float *x, float *y, int64_t n) { kernels()->exp(x, y, n); }
void ck_sigmoid(const float *x, float *y, int64_t n) { kernels()->sigmoid(x, y, n); }
void ck_tanh(const float *x, float *y, int64_t n) { kernels()->tanh(x, y, n); }

const char *ck_isa(void) { return kernels()->isa; }

int ck_math_variant(const char *isa, int function, const float *x, float *y, int64_t n) {
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        const struct ck_kernels *k = variants[v];
        if (strcmp(k->isa, isa) != 0 || !cpu_supports(k)) continue;
        switch (function) {
        case 0: k->exp(x, y, n); return 1;
        case 1: k->sigmoid(x, y, n); return 1;
        case 2: k->tanh(x, y, n); return 1;
        default: return 0;
        }
    }
    return 0;
}
