import CBLAS
import CKernels

/// Thin wrappers over OpenBLAS, row-major only. Pointers are raw so that callers can
/// address sub-matrices (a time step inside a (B, T, 4H) buffer) without copies.
public enum BLAS {
    /// C = alpha * op(A) * op(B) + beta * C, with op(A) (m, k), op(B) (k, n), C (m, n).
    @inline(__always)
    public static func gemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            // BLAS leaves C untouched when k == 0 only for beta == 1; be explicit.
            for r in 0..<m { for col in 0..<n { c[r * ldc + col] *= beta } }
            return
        }
        // In the fork gate: a fork during a multi-threaded GEMM would leave OpenBLAS's
        // level-3 lock held in the child for ever.
        ck_fork_gate_enter()
        defer { ck_fork_gate_leave() }
        cblas_sgemm(
            CblasRowMajor,
            transA ? CblasTrans : CblasNoTrans,
            transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha,
            a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The name of the kernels OpenBLAS runs on this CPU ("SkylakeX", "Haswell", "Zen",
    /// ...). When LSTMKit loads it moves OpenBLAS off its Prescott fallback on a CPU the
    /// OpenBLAS release does not know (CKernels/openblas_core.c).
    public static var core: String { String(cString: openblas_get_corename()) }

    /// The number of threads OpenBLAS uses for one call; a value outside
    /// 1...Int32.max is clamped into it (OpenBLAS caps it further at its own maximum).
    public static var numThreads: Int {
        get { Int(openblas_get_num_threads()) }
        set {
            ck_fork_gate_enter()
            defer { ck_fork_gate_leave() }
            openblas_set_num_threads(Int32(min(max(1, newValue), Int(Int32.max))))
        }
    }
}
