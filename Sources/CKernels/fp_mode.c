// The floating-point mode a thread computes in: training flushes denormals (values below
// 1.2e-38) to zero, as TensorFlow's threads do. Denormal operands take microcode assists
// that made a trained G2P model's training step 1.9x slower than a fresh one's
// (bench/g2p_denormals.py), and numbers that small change no weight.

#include "ckernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define FLUSH_BITS 0x8040u   // MXCSR flush-to-zero (bit 15) and denormals-are-zero (bit 6)

uint32_t ck_fp_mode(void) { return _mm_getcsr(); }
void ck_fp_mode_set(uint32_t mode) { _mm_setcsr(mode); }
#elif defined(__aarch64__)
#define FLUSH_BITS (1u << 24)   // FPCR.FZ: inputs and results

uint32_t ck_fp_mode(void) {
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    return (uint32_t)fpcr;
}
void ck_fp_mode_set(uint32_t mode) { __asm__ volatile("msr fpcr, %0" : : "r"((uint64_t)mode)); }
#else
#define FLUSH_BITS 0u

uint32_t ck_fp_mode(void) { return 0; }
void ck_fp_mode_set(uint32_t mode) { (void)mode; }
#endif

uint32_t ck_fp_flush_denormals(void) {
    uint32_t before = ck_fp_mode();
    ck_fp_mode_set(before | FLUSH_BITS);
    return before;
}
