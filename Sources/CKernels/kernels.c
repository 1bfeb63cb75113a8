// The LSTM cell's gate math as plain loops over the hidden units, which the compiler
// vectorises. On x86-64 the loops are compiled three times — for AVX-512, AVX2+FMA and
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

CK_INLINE void forward_row(float *restrict gi, float *restrict gf, float *restrict gg, float *restrict go,
                           int64_t H, const float *restrict c_prev, float *restrict c_out,
                           float *restrict h_out) {
    for (int64_t j = 0; j < H; j++) {
        float i = ck_sigmoidf(gi[j]);
        float f = ck_sigmoidf(gf[j]);
        float g = ck_tanhf(gg[j]);
        float o = ck_sigmoidf(go[j]);
        float c = f * c_prev[j] + i * g;
        gi[j] = i;
        gf[j] = f;
        gg[j] = g;
        go[j] = o;
        c_out[j] = c;
        h_out[j] = o * ck_tanhf(c);
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

/// One compiled variant of every kernel (the row kernels without y_out).
struct ck_kernels {
    const char *isa;
    void (*forward)(float *, int64_t, const float *, float *, float *);
    void (*backward)(const float *, int64_t, const float *, const float *, const float *,
                     const float *, float *, float *);
    void (*exp)(const float *, float *, int64_t);
    void (*sigmoid)(const float *, float *, int64_t);
    void (*tanh)(const float *, float *, int64_t);
};

/// Defines one variant of every kernel, compiled with the function attribute TARGET
/// (the always-inline helpers above are compiled into each with its instruction set).
#define CK_VARIANT(SUFFIX, TARGET)                                                                \
    TARGET static void forward_##SUFFIX(float *gates, int64_t H, const float *c_prev,             \
                                        float *c_out, float *h_out) {                             \
        forward_row(gates, gates + H, gates + 2 * H, gates + 3 * H, H, c_prev, c_out, h_out);     \
    }                                                                                             \
    TARGET static void backward_##SUFFIX(const float *gates, int64_t H, const float *c_prev,      \
                                         const float *c, const float *dh, const float *dh_extra,  \
                                         float *dc, float *d_gates) {                             \
        backward_row(gates, gates + H, gates + 2 * H, gates + 3 * H, H, c_prev, c, dh, dh_extra,  \
                     dc, d_gates, d_gates + H, d_gates + 2 * H, d_gates + 3 * H);                 \
    }                                                                                             \
    TARGET static void exp_##SUFFIX(const float *x, float *y, int64_t n) {                        \
        for (int64_t k = 0; k < n; k++) y[k] = ck_expf(x[k]);                                     \
    }                                                                                             \
    TARGET static void sigmoid_##SUFFIX(const float *x, float *y, int64_t n) {                    \
        for (int64_t k = 0; k < n; k++) y[k] = ck_sigmoidf(x[k]);                                 \
    }                                                                                             \
    TARGET static void tanh_##SUFFIX(const float *x, float *y, int64_t n) {                       \
        for (int64_t k = 0; k < n; k++) y[k] = ck_tanhf(x[k]);                                    \
    }                                                                                             \
    static const struct ck_kernels kernels_##SUFFIX = {                                           \
        #SUFFIX, forward_##SUFFIX, backward_##SUFFIX, exp_##SUFFIX, sigmoid_##SUFFIX, tanh_##SUFFIX \
    };

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define CK_X86_DISPATCH 1
CK_VARIANT(avx512f, __attribute__((target("avx512f"))))   // implies AVX2 and FMA
CK_VARIANT(avx2_fma, __attribute__((target("avx2,fma"))))
#endif
CK_VARIANT(baseline, )

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
        if (cpu_supports(variants[v])) return variants[v];
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

void ck_lstm_cell_backward(const float *gates, int64_t H, const float *c_prev, const float *c,
                           const float *dh, const float *dh_extra, float *dc, float *d_gates) {
    kernels()->backward(gates, H, c_prev, c, dh, dh_extra, dc, d_gates);
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
