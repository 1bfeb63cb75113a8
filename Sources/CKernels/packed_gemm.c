// Single-precision C (+)= A · Bᵀ on a B packed once, for the recurrent layers' per-step
// product in inference: gates (B, G·H) += h (B, H) · W_hhᵀ, W_hh (G·H, H) row-major.
// OpenBLAS packs its B operand at every call, which for that product means re-packing the
// whole of W_hh (1 MiB at H = 256) at every step; here it is packed once per weight
// version (PackedRecurrentWeights) and each step only multiplies.
//
// Layout: B's rows (C's columns) in panels of 16; panel p holds, for k = 0..K-1, the 16
// values B[16p + j][k] (j < 16) contiguously, the last panel zero padded. A step reads
// a panel (16 KiB at K = 256) from L1 for every 6 rows of A, so the AVX2 + FMA
// micro-kernel keeps its 6 x 16 block of C in 12 registers and loads two vectors of the
// panel and six broadcasts of A per 12 FMAs. K is cut into blocks of PG_KC so a panel
// stays in L1 for larger H, and M into blocks of PG_MC rows so that A's block stays in
// L2 for large batches (512 x 1024 x 512: 0.98x OpenBLAS without the blocks, 1.05x with).
// The AVX-512 micro-kernel takes two panels at a time (6 x 32 in 12 zmm registers). A
// plain C variant serves other CPUs (and tests).
#include "ckernels.h"

#include <string.h>

#define PG_NR 16
#define PG_MR 6
#define PG_KC 256
#define PG_MC 96
#define PG_INLINE static inline __attribute__((always_inline))

int64_t ck_sgemm_packed_count(int64_t N, int64_t K) { return (N + PG_NR - 1) / PG_NR * PG_NR * K; }

void ck_sgemm_pack(const float *B, int64_t N, int64_t K, int64_t ldb, float *packed) {
    int64_t panels = (N + PG_NR - 1) / PG_NR;
    for (int64_t p = 0; p < panels; p++) {
        float *panel = packed + p * PG_NR * K;
        for (int64_t j = 0; j < PG_NR; j++) {
            int64_t n = p * PG_NR + j;
            for (int64_t k = 0; k < K; k++) panel[k * PG_NR + j] = n < N ? B[n * ldb + k] : 0.0f;
        }
    }
}

/// One tile's sums (MR x 16, row i at acc + 16 i) into C: the first `nn` columns of each
/// row, added to C's values when load_c, else replacing them.
PG_INLINE void store_tile(const float *acc, int mr, int64_t nn, float *c, int64_t ldc, int load_c) {
    for (int i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        for (int64_t j = 0; j < nn; j++) ci[j] = load_c ? ci[j] + acc[i * PG_NR + j] : acc[i * PG_NR + j];
    }
}

/// A tile: rows a (MR of them) times one panel at b (or, for a wide tile, two: b and
/// b + stride) into C's first nn columns; `next` is the panel after the tile's, or NULL.
typedef void (*pg_tile_fn)(int64_t kc, const float *a, int64_t lda, const float *b, int64_t stride, float *c,
                           int64_t ldc, int64_t nn, int load_c, const float *next);

/// The loops every variant shares: M blocks, K blocks, then 16-column panels (two at a
/// time where the variant has `wide` tiles and two are left), then tiles of up to 6 rows
/// (tiles[mr] or wide[mr] computes one). Each tile's sum over a K block is added to C once.
/// A panel's last tile also fetches the next panel into L1 (`next`): W_hh (1 MiB at
/// H = 256) does not fit a core's L2 here, and the first tile of a panel would otherwise
/// wait for it (5 % at C2's step).
static void gemm_loops(const pg_tile_fn tiles[PG_MR + 1], const pg_tile_fn *wide, int64_t M, int64_t N, int64_t K,
                       const float *A, int64_t lda, const float *packed, float *C, int64_t ldc, int accumulate) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (!accumulate)
            for (int64_t m = 0; m < M; m++) memset(C + m * ldc, 0, (size_t)N * sizeof(float));
        return;
    }
    for (int64_t mb = 0; mb < M; mb += PG_MC) {
        int64_t me = M - mb < PG_MC ? M : mb + PG_MC;
        for (int64_t k0 = 0; k0 < K; k0 += PG_KC) {
            int64_t kc = K - k0 < PG_KC ? K - k0 : PG_KC;
            int load_c = accumulate || k0 > 0;
            for (int64_t n0 = 0; n0 < N;) {
                const float *panel = packed + n0 * K + k0 * PG_NR;   // panel n0 / 16 starts at 16 K (n0 / 16)
                int two = wide && N - n0 > PG_NR;
                int64_t width = two ? 2 * PG_NR : PG_NR, nn = N - n0 < width ? N - n0 : width;
                const pg_tile_fn *f = two ? wide : tiles;
                for (int64_t m0 = mb; m0 < me; m0 += PG_MR) {
                    int64_t mr = me - m0 < PG_MR ? me - m0 : PG_MR;
                    const float *next = m0 + PG_MR >= me && n0 + width < N ? panel + width * K : NULL;
                    f[mr](kc, A + m0 * lda + k0, lda, panel, PG_NR * K, C + m0 * ldc + n0, ldc, nn, load_c, next);
                }
                n0 += width;
            }
        }
    }
}

/// The plain variant's tile.
PG_INLINE void tile_plain(int MR, int64_t kc, const float *a, int64_t lda, const float *b, int64_t stride, float *c,
                          int64_t ldc, int64_t nn, int load_c, const float *next) {
    (void)stride, (void)next;
    float acc[PG_MR * PG_NR] = {0};
    for (int64_t k = 0; k < kc; k++)
        for (int i = 0; i < MR; i++) {
            float ai = a[i * lda + k];
            for (int j = 0; j < PG_NR; j++) acc[i * PG_NR + j] += ai * b[k * PG_NR + j];
        }
    store_tile(acc, MR, nn, c, ldc, load_c);
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define PG_X86 1
#include <immintrin.h>

/// The AVX2 + FMA tile: MR rows x 16 columns in 2 MR accumulators, named (not an
/// array) so that every compiler keeps them in registers; rows >= MR drop out once MR
/// is a constant.
#define PG_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
__attribute__((target("avx2,fma"))) PG_INLINE void tile_avx2(int MR, int64_t kc, const float *a, int64_t lda,
                                                             const float *b, int64_t stride, float *c, int64_t ldc,
                                                             int64_t nn, int load_c, const float *next) {
    (void)stride;
#define PG_ZERO(i) __m256 c##i##0 = _mm256_setzero_ps(), c##i##1 = c##i##0;
    PG_ROWS(PG_ZERO)
    const float *a0 = a, *a1 = a + lda, *a2 = a + 2 * lda, *a3 = a + 3 * lda, *a4 = a + 4 * lda, *a5 = a + 5 * lda;
    for (int64_t k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(b + k * PG_NR), b1 = _mm256_loadu_ps(b + k * PG_NR + 8);
        if (next) _mm_prefetch((const char *)(next + k * PG_NR), _MM_HINT_T0);   // one line per k
#define PG_FMA(i)                                               \
    if (MR > i) {                                               \
        __m256 ai = _mm256_broadcast_ss(a##i + k);              \
        c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);             \
        c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);             \
    }
        PG_ROWS(PG_FMA)
    }
    float sums[PG_MR * PG_NR];
    int full = nn == PG_NR;
#define PG_STORE(i)                                                                          \
    if (MR > i) {                                                                            \
        float *ci = full ? c + i * ldc : sums + i * PG_NR;                                   \
        if (full && load_c) {                                                                \
            c##i##0 = _mm256_add_ps(_mm256_loadu_ps(ci), c##i##0);                           \
            c##i##1 = _mm256_add_ps(_mm256_loadu_ps(ci + 8), c##i##1);                       \
        }                                                                                    \
        _mm256_storeu_ps(ci, c##i##0);                                                       \
        _mm256_storeu_ps(ci + 8, c##i##1);                                                   \
    }
    PG_ROWS(PG_STORE)
    if (!full) store_tile(sums, MR, nn, c, ldc, load_c);
}

/// The AVX-512 tile: MR rows x two panels (32 columns) in 2 MR zmm accumulators, so each
/// k loads two panel vectors and MR broadcasts per 2 MR FMAs (one panel per tile would
/// load a broadcast per FMA, and the loads, not the FMAs, would set the pace). A tile at
/// the end of N with one panel left is a narrow one: NP = 1. Columns past nn are masked.
__attribute__((target("avx512f"))) PG_INLINE void tile_avx512(int MR, int NP, int64_t kc, const float *a, int64_t lda,
                                                              const float *b, int64_t stride, float *c, int64_t ldc,
                                                              int64_t nn, int load_c, const float *next) {
#define PG_ZERO512(i) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = c##i##0;
    PG_ROWS(PG_ZERO512)
    const float *a0 = a, *a1 = a + lda, *a2 = a + 2 * lda, *a3 = a + 3 * lda, *a4 = a + 4 * lda, *a5 = a + 5 * lda;
    const float *b1p = b + (NP > 1 ? stride : 0);
    for (int64_t k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(b + k * PG_NR), b1 = NP > 1 ? _mm512_loadu_ps(b1p + k * PG_NR) : b0;
        if (next) {
            _mm_prefetch((const char *)(next + k * PG_NR), _MM_HINT_T0);
            if (NP > 1) _mm_prefetch((const char *)(next + stride + k * PG_NR), _MM_HINT_T0);
        }
#define PG_FMA512(i)                                            \
    if (MR > i) {                                               \
        __m512 ai = _mm512_set1_ps(a##i[k]);                    \
        c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);             \
        if (NP > 1) c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1); \
    }
        PG_ROWS(PG_FMA512)
    }
    int64_t n0 = nn < PG_NR ? nn : PG_NR, n1 = nn - n0;
    __mmask16 m0 = (__mmask16)((1u << n0) - 1), m1 = (__mmask16)((1u << n1) - 1);
#define PG_STORE512(i)                                                                         \
    if (MR > i) {                                                                              \
        float *ci = c + i * ldc;                                                               \
        if (load_c) c##i##0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, ci), c##i##0);           \
        _mm512_mask_storeu_ps(ci, m0, c##i##0);                                                \
        if (NP > 1) {                                                                          \
            if (load_c) c##i##1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, ci + PG_NR), c##i##1); \
            _mm512_mask_storeu_ps(ci + PG_NR, m1, c##i##1);                                    \
        }                                                                                      \
    }
    PG_ROWS(PG_STORE512)
}
#define PG_TARGET_avx512 __attribute__((target("avx512f")))
#define PG_TILE512(NP, MR)                                                                                  \
    PG_TARGET_avx512 static void tile_avx512_##NP##_##MR(int64_t kc, const float *a, int64_t lda,           \
                                                         const float *b, int64_t stride, float *c,          \
                                                         int64_t ldc, int64_t nn, int load_c,               \
                                                         const float *next) {                               \
        tile_avx512(MR, NP, kc, a, lda, b, stride, c, ldc, nn, load_c, next);                               \
    }
PG_TILE512(1, 1) PG_TILE512(1, 2) PG_TILE512(1, 3) PG_TILE512(1, 4) PG_TILE512(1, 5) PG_TILE512(1, 6)
PG_TILE512(2, 1) PG_TILE512(2, 2) PG_TILE512(2, 3) PG_TILE512(2, 4) PG_TILE512(2, 5) PG_TILE512(2, 6)

static void gemm_avx512(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *packed, float *C,
                        int64_t ldc, int accumulate) {
    static const pg_tile_fn tiles[PG_MR + 1] = {0, tile_avx512_1_1, tile_avx512_1_2, tile_avx512_1_3,
                                                tile_avx512_1_4, tile_avx512_1_5, tile_avx512_1_6};
    static const pg_tile_fn wide[PG_MR + 1] = {0, tile_avx512_2_1, tile_avx512_2_2, tile_avx512_2_3,
                                               tile_avx512_2_4, tile_avx512_2_5, tile_avx512_2_6};
    gemm_loops(tiles, wide, M, N, K, A, lda, packed, C, ldc, accumulate);
}
#endif

/// Each variant's tiles for 1..6 rows (MR a constant after inlining: the accumulators
/// stay in registers) and its GEMM.
#define PG_TILE(V, MR)                                                                                      \
    PG_TARGET_##V static void tile_##V##_##MR(int64_t kc, const float *a, int64_t lda, const float *b,      \
                                              int64_t stride, float *c, int64_t ldc, int64_t nn, int load_c, \
                                              const float *next) {                                          \
        tile_##V(MR, kc, a, lda, b, stride, c, ldc, nn, load_c, next);                                      \
    }
#define PG_VARIANT(V)                                                                                       \
    PG_TILE(V, 1) PG_TILE(V, 2) PG_TILE(V, 3) PG_TILE(V, 4) PG_TILE(V, 5) PG_TILE(V, 6)                     \
    static void gemm_##V(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *packed, \
                         float *C, int64_t ldc, int accumulate) {                                           \
        static const pg_tile_fn tiles[PG_MR + 1] = {0,        tile_##V##_1, tile_##V##_2, tile_##V##_3,     \
                                                    tile_##V##_4, tile_##V##_5, tile_##V##_6};              \
        gemm_loops(tiles, NULL, M, N, K, A, lda, packed, C, ldc, accumulate);                               \
    }

#define PG_TARGET_plain
PG_VARIANT(plain)
#ifdef PG_X86
#define PG_TARGET_avx2 __attribute__((target("avx2,fma")))
PG_VARIANT(avx2)
#endif

typedef void (*pg_gemm_fn)(int64_t, int64_t, int64_t, const float *, int64_t, const float *, float *, int64_t, int);

/// The variant named `isa` if this build and CPU have it, else NULL.
static pg_gemm_fn gemm_named(const char *isa) {
#ifdef PG_X86
    __builtin_cpu_init();
    if (strcmp(isa, "avx512") == 0) return __builtin_cpu_supports("avx512f") ? gemm_avx512 : NULL;
    if (strcmp(isa, "avx2_fma") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? gemm_avx2 : NULL;
#endif
    return strcmp(isa, "plain") == 0 ? gemm_plain : NULL;
}

/// The variants, best first.
static const char *const pg_variants[] = {"avx512", "avx2_fma", "plain"};

const char *ck_sgemm_packed_isa(void) {
    for (size_t i = 0;; i++)
        if (gemm_named(pg_variants[i]) && ck_isa_allows(pg_variants[i])) return pg_variants[i];
}

int ck_sgemm_packed_preferred(void) {
    // Both vector variants beat OpenBLAS at the recurrent step (C2's 64 x 1024 x 256:
    // AVX2 1.22x its Zen kernels, AVX-512 1.60x its SkylakeX kernels; bench/packed_sgemm.c).
    return strcmp(ck_sgemm_packed_isa(), "plain") != 0;
}

void ck_sgemm_packed(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *packed, float *C,
                     int64_t ldc, int accumulate) {
    static pg_gemm_fn chosen;
    pg_gemm_fn f = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
    if (!f) {
        f = gemm_named(ck_sgemm_packed_isa());
        __atomic_store_n(&chosen, f, __ATOMIC_RELEASE);
    }
    f(M, N, K, A, lda, packed, C, ldc, accumulate);
}

int ck_sgemm_packed_variant(const char *isa, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                            const float *packed, float *C, int64_t ldc, int accumulate) {
    pg_gemm_fn f = gemm_named(isa);
    if (!f) return 0;
    f(M, N, K, A, lda, packed, C, ldc, accumulate);
    return 1;
}
