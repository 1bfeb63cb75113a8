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
    var cString: UnsafePointer<CChar> {
        UnsafeRawPointer(utf8Start).assumingMemoryBound(to: CChar.self)
    }
}

@_cdecl("lk_last_error")
public func lk_last_error() -> UnsafePointer<CChar> {
    if let p = pthread_getspecific(errorKey) { return UnsafePointer(p.assumingMemoryBound(to: CChar.self)) }
    return emptyMessage.cString
}

@_cdecl("lk_status_string")
public func lk_status_string(_ status: lk_status) -> UnsafePointer<CChar> {
    let text: StaticString
    switch status {
    case LK_STATUS_OK: text = "ok"
    case LK_STATUS_INVALID_ARGUMENT: text = "invalid argument"
    case LK_STATUS_SIZE_MISMATCH: text = "size mismatch"
    case LK_STATUS_NOT_FOUND: text = "not found"
    case LK_STATUS_IO_ERROR: text = "input/output error"
    case LK_STATUS_INVALID_FORMAT: text = "invalid model file"
    case LK_STATUS_OUT_OF_MEMORY: text = "out of memory"
    case LK_STATUS_INTERNAL: text = "internal error"
    case LK_STATUS_BUFFER_TOO_SMALL: text = "buffer too small"
    default: text = "unknown status"
    }
    return text.cString
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
