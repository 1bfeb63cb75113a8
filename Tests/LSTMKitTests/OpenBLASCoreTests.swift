import CKernels
import Foundation
import LSTMKitCore
import Testing

/// OpenBLAS's kernels on a CPU newer than its release (CKernels/openblas_core.c).
@Suite("OpenBLAS's core")
struct OpenBLASCoreTests {
    @Test("OpenBLAS is off its Prescott fallback where the CPU runs a better core; a core the user named stands")
    func core() {
        let named = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"]
        if named != nil {
            #expect(ck_openblas_core_reselected == 0, "OPENBLAS_CORETYPE=\(named!) overridden")
            return
        }
        guard let better = ck_openblas_core_by_features().map({ String(cString: $0) }) else { return }
        #expect(BLAS.core.lowercased() != "prescott", "this CPU runs \(better)")
        if ck_openblas_core_reselected == 1 { #expect(BLAS.core.lowercased() == better.lowercased()) }
    }
}
