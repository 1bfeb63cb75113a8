import CKernels

/// Runs `body` with denormal floats flushed to zero on this thread (and on the workers
/// of any `parallelForEach` it starts, which take their caller's mode), then restores
/// the mode it found. Training runs its steps so: a denormal operand costs a microcode
/// assist, and bench/g2p_denormals.py measured a trained G2P model's step 1.9× slower
/// than a fresh one's for it. Only values below 1.2e-38 change. OpenBLAS's own threads
/// keep their mode (it has no way to pass it on), so a GEMM it splits over threads is
/// flushed in the calling thread's share only.
public func withDenormalsFlushed<R>(_ body: () throws -> R) rethrows -> R {
    let before = ck_fp_flush_denormals()
    defer { ck_fp_mode_set(before) }
    return try body()
}

/// Runs `body` on this thread in `mode` (a `ck_fp_mode()` of another thread), then
/// restores the mode it found.
func withFloatingPointMode<R>(_ mode: UInt32, _ body: () throws -> R) rethrows -> R {
    let before = ck_fp_mode()
    guard before != mode else { return try body() }
    ck_fp_mode_set(mode)
    defer { ck_fp_mode_set(before) }
    return try body()
}
