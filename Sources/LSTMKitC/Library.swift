import CLSTMKitHeader
import LSTMKit

#if canImport(Glibc)
import Glibc
#endif

private let versionString: StaticString = "0.1.0"

@_cdecl("lk_version")
public func lk_version() -> CString { versionString.cString }

@_cdecl("lk_abi_version")
public func lk_abi_version() -> Int32 { 1 }

/// `Kernels.summary`, made once (static storage for C callers).
private let kernelsString = UnsafePointer(strdup(Kernels.summary)!)

@_cdecl("lk_kernels")
public func lk_kernels() -> CString { kernelsString }

/// Applies LSTMKIT_NUM_THREADS once, before the first call that computes; a value that
/// is not an int in [1, 2^31 - 1] is ignored (there is no caller to tell at that point).
let applyThreadSetting: Void = {
    if let value = getenv("LSTMKIT_NUM_THREADS").flatMap({ Int32(String(cString: $0)) }), value >= 1 {
        BLAS.configuredThreads = Int(value)
    }
}()

@_cdecl("lk_set_num_threads")
public func lk_set_num_threads(_ n: Int32) -> lk_status {
    guarded {
        guard n >= 1 else { throw invalid("the number of threads must be >= 1, got \(n)") }
        _ = applyThreadSetting
        BLAS.configuredThreads = Int(n)
    }
}

@_cdecl("lk_get_num_threads")
public func lk_get_num_threads() -> Int32 {
    _ = applyThreadSetting
    return Int32(BLAS.configuredThreads)
}
