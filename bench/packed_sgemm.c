// GFLOP/s of CKernels' packed GEMM (ck_sgemm_packed, Sources/CKernels/packed_gemm.c)
// against OpenBLAS's cblas_sgemm on the recurrent step's product C += A · Bᵀ, one thread,
// in one process, alternating the two per round. Build and run (OPENBLAS_CORETYPE unset):
//
//   clang -O2 -o /tmp/packed_sgemm bench/packed_sgemm.c Sources/CKernels/packed_gemm.c
//      Sources/CKernels/openblas_core.c -ISources/CKernels/include -lopenblas -lm   (one line;
//      openblas_core.c moves OpenBLAS off its Prescott fallback on CPUs it does not know,
//      as LSTMKit does when it loads)
//   env -u OPENBLAS_CORETYPE /tmp/packed_sgemm [M N K ...]   # default: 64 1024 256 (C2's step)
//
// Each line: the shape, both engines' median and best GFLOP/s over 5 rounds of `reps`
// products (reps sized to about 20 ms), their ratio, and the largest difference
// between the two results relative to the largest |C|.
#include "ckernels.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

extern void openblas_set_num_threads(int);

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void bench(int64_t M, int64_t N, int64_t K) {
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * N * K);
    float *C1 = calloc(M * N, sizeof(float)), *C2 = calloc(M * N, sizeof(float));
    float *P = aligned_alloc(64, ((size_t)ck_sgemm_packed_count(N, K) * sizeof(float) + 63) / 64 * 64);
    srand(1);
    for (int64_t i = 0; i < M * K; i++) A[i] = (float)(rand() / (double)RAND_MAX) - 0.5f;
    for (int64_t i = 0; i < N * K; i++) B[i] = (float)(rand() / (double)RAND_MAX) - 0.5f;
    ck_sgemm_pack(B, N, K, K, P);
    double flops = 2.0 * M * N * K;
    int reps = (int)(20e-3 * 30e9 / flops) + 1;   // about 20 ms at 30 GFLOP/s
    enum { ROUNDS = 5 };
    double ours[ROUNDS], blas[ROUNDS];
    for (int r = -1; r < ROUNDS; r++) {   // round -1 warms up
        double t0 = now();
        for (int i = 0; i < reps; i++) ck_sgemm_packed(M, N, K, A, K, P, C1, N, 0);
        double t1 = now();
        for (int i = 0; i < reps; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f, A, (int)K, B, (int)K,
                        0.0f, C2, (int)N);
        double t2 = now();
        if (r >= 0) {
            ours[r] = flops * reps / (t1 - t0) / 1e9;
            blas[r] = flops * reps / (t2 - t1) / 1e9;
        }
    }
    double diff = 0, top = 0;
    for (int64_t i = 0; i < M * N; i++) {
        diff = fmax(diff, fabs((double)C1[i] - C2[i]));
        top = fmax(top, fabs((double)C2[i]));
    }
    qsort(ours, ROUNDS, sizeof(double), compare);
    qsort(blas, ROUNDS, sizeof(double), compare);
    printf("M=%lld N=%lld K=%lld  packed(%s) %.1f (best %.1f)  OpenBLAS %.1f (best %.1f) GFLOP/s  ratio %.2f  "
           "max diff %.1e\n",
           (long long)M, (long long)N, (long long)K, ck_sgemm_packed_isa(), ours[ROUNDS / 2], ours[ROUNDS - 1],
           blas[ROUNDS / 2], blas[ROUNDS - 1], ours[ROUNDS / 2] / blas[ROUNDS / 2], diff / (top > 0 ? top : 1));
    free(A), free(B), free(C1), free(C2), free(P);
}

int main(int argc, char **argv) {
    openblas_set_num_threads(1);
    if (argc < 4) {
        bench(64, 1024, 256);
        return 0;
    }
    for (int i = 1; i + 2 < argc; i += 3) bench(atoll(argv[i]), atoll(argv[i + 1]), atoll(argv[i + 2]));
    return 0;
}
