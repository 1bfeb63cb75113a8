// LSTMKIT_MAX_ISA: a ceiling on the instruction sets LSTMKit's own kernels choose from, so
// a developer can run and measure the AVX2 or plain paths on an AVX-512 CPU (as oneDNN's
// ONEDNN_MAX_CPU_ISA does). It caps the automatic choice only: the *_variant test entry
// points still run any variant the CPU has. OpenBLAS is capped by its own
// OPENBLAS_CORETYPE (Haswell for AVX2).

#include "ckernels.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/// 3: AVX-512 (no cap), 2: AVX2, 1: plain.
static int level_of(const char *isa) {
    if (strncmp(isa, "avx512", 6) == 0) return 3;
    if (strncmp(isa, "avx2", 4) == 0) return 2;
    return 1;
}

int ck_isa_cap_parse(const char *value) {
    if (value && strcasecmp(value, "avx2") == 0) return 2;
    if (value && strcasecmp(value, "plain") == 0) return 1;
    return 3;   // unset, "avx512" or a value this build does not know: no cap
}

int ck_isa_allows(const char *isa) {
    static int cap;   // 0: not read yet; racing first calls store the same value
    int c = __atomic_load_n(&cap, __ATOMIC_RELAXED);
    if (!c) {
        c = ck_isa_cap_parse(getenv("LSTMKIT_MAX_ISA"));
        __atomic_store_n(&cap, c, __ATOMIC_RELAXED);
    }
    return level_of(isa) <= c;
}
