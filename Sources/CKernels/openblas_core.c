// OpenBLAS's kernels on CPUs newer than the OpenBLAS release.
//
// A DYNAMIC_ARCH OpenBLAS (Debian's) picks its kernels by CPU model when it loads. A
// model it does not know gets its "Prescott" core, SSE3 kernels, without a word: Debian
// 12's 0.3.21 does so on Intel's Emerald Rapids (family 6, model 0xCF), where float32 C2
// inference then ran at a fifth of PyTorch's speed (docs/PERFORMANCE.md, "An AVX-512 Intel
// host, and OpenBLAS on a CPU it does not know"). Later OpenBLAS releases pick such a CPU's core by its features
// instead. This does the same, once, when LSTMKit loads (after OpenBLAS: a library's
// constructors run after those of the libraries it links): if OpenBLAS fell back to
// Prescott, the user did not choose a core (OPENBLAS_CORETYPE), and the CPU can run a
// better one (SkylakeX: AVX-512 F/CD/BW/DQ/VL; Haswell: AVX2 and FMA), OpenBLAS selects
// again through its own entry points with that core named, as OPENBLAS_CORETYPE would
// have, without touching the process's environment. An OpenBLAS without DYNAMIC_ARCH
// lacks those entry points (weak: NULL) and is left alone; so is every other core it
// chose.
#include "ckernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

extern char **environ;
extern char *openblas_get_corename(void) __attribute__((weak));
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));

/// The best OpenBLAS core this CPU runs, by its features; NULL if none beats Prescott.
const char *ck_openblas_core_by_features(void) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}

int ck_openblas_core_reselected;

__attribute__((constructor)) static void reselect_openblas_core(void) {
    if (!openblas_get_corename || !gotoblas_dynamic_init || !gotoblas_dynamic_quit) return;
    if (getenv("OPENBLAS_CORETYPE")) return;
    const char *chosen = openblas_get_corename();
    const char *better = ck_openblas_core_by_features();
    if (!chosen || strcasecmp(chosen, "Prescott") != 0 || !better) return;
    // OpenBLAS reads the core's name from the environment only. For the call it sees an
    // environment holding just that name; the process's own is not touched. (setenv would
    // move it, and a Swift runtime linked statically into an executable finds argv next
    // to the original environment, after this runs: lstmkit-cli lost its arguments.)
    char name[64];
    snprintf(name, sizeof name, "OPENBLAS_CORETYPE=%s", better);
    char *only[] = {name, NULL};
    char **saved = environ;
    environ = only;
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    environ = saved;
    ck_openblas_core_reselected = 1;
}
