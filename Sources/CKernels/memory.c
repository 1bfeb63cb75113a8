// The system's answer for Memory.check (Sources/LSTMKit/Tensor/Memory.swift): whether
// malloc can give `bytes` now. Written in C with a volatile pointer because an optimizer
// may remove a malloc whose result is only freed and assume it succeeded (Swift's release
// builds did: the try passed for any size, and the allocation that followed aborted).

#include "ckernels.h"

#include <stdlib.h>

int ck_can_allocate(size_t bytes) {
    void *volatile p = malloc(bytes);
    if (p == NULL) return 0;
    free(p);
    return 1;
}
