#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLSTMKitHeader
import LSTMKit

// Thread-local "last error" message: a malloc'd C string per thread, freed when the
// thread exits or the next failure replaces it.
private let errorKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { free($0) }
    return key
}()

private let emptyMessage: StaticString = ""

func setLastError(_ message: String) {
    let old = pthread_getspecific(errorKey)
    pthread_setspecific(errorKey, strdup(message))
    free(old)
}

extension StaticString {
    var cString: CString {
        UnsafeRawPointer(utf8Start).assumingMemoryBound(to: CChar.self)
    }
}

@_cdecl("lk_last_error")
public func lk_last_error() -> CString {
    if let p = pthread_getspecific(errorKey) { return UnsafePointer(p.assumingMemoryBound(to: CChar.self)) }
    return emptyMessage.cString
}

/// lk_status_string's texts, indexed by code (codes are fixed and only ever appended).
private let statusTexts: [StaticString] = [
    "ok", "invalid argument", "size mismatch", "not found", "input/output error", "invalid model file", "out of memory",
    "internal error", "buffer too small",
]
private let unknownStatus: StaticString = "unknown status"

@_cdecl("lk_status_string")
public func lk_status_string(_ status: lk_status) -> CString {
    let code = Int(status.rawValue)
    return (statusTexts.indices.contains(code) ? statusTexts[code] : unknownStatus).cString
}

/// A failure detected in the ABI layer itself.
struct ABIError: Error {
    let status: lk_status
    let message: String
}

func invalid(_ message: String) -> ABIError { ABIError(status: LK_STATUS_INVALID_ARGUMENT, message: message) }
func mismatch(_ message: String) -> ABIError { ABIError(status: LK_STATUS_SIZE_MISMATCH, message: message) }
func internalError(_ message: String) -> ABIError { ABIError(status: LK_STATUS_INTERNAL, message: "internal error: " + message) }

/// Runs one ABI call: every thrown error becomes a status plus a thread-local message.
func guarded(_ body: () throws -> Void) -> lk_status {
    do {
        try body()
        return LK_STATUS_OK
    } catch let e as ABIError {
        setLastError(e.message)
        return e.status
    } catch let e as LSTMKitError {
        setLastError(e.message)
        switch e {
        case .invalidArgument: return LK_STATUS_INVALID_ARGUMENT
        case .sizeMismatch: return LK_STATUS_SIZE_MISMATCH
        case .notFound: return LK_STATUS_NOT_FOUND
        case .io: return LK_STATUS_IO_ERROR
        case .invalidFormat: return LK_STATUS_INVALID_FORMAT
        case .outOfMemory: return LK_STATUS_OUT_OF_MEMORY
        }
    } catch {
        setLastError("internal error: \(error)")
        return LK_STATUS_INTERNAL
    }
}
