import CKernels

/// The kernel variants this process runs, chosen at first use for the CPU
/// (docs/PERFORMANCE.md, "Kernels"): LSTMKit's float32 cell and vector kernels, its packed
/// GEMM (the recurrent step), its int8 GEMM, and OpenBLAS's core. LSTMKIT_MAX_ISA ("avx2",
/// "plain") caps the first three, OPENBLAS_CORETYPE the last: to run and measure a
/// smaller machine's paths on a larger CPU.
public enum Kernels {
    /// "float32=avx512f packed=avx512 int8=avx512vnni openblas=SkylakeX": space-separated
    /// key=value pairs, in this order (`lk_kernels`, Python's `lstmkit.kernels()`).
    public static let summary: String = [
        ("float32", String(cString: ck_isa())), ("packed", String(cString: ck_sgemm_packed_isa())),
        ("int8", String(cString: ck_q8_isa())), ("openblas", BLAS.core),
    ].map { "\($0)=\($1)" }.joined(separator: " ")
}
