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

/// Unwraps a pointer argument or fails naming it.
func required<T>(_ pointer: T?, _ name: String) throws -> T {
    guard let pointer else { throw invalid("\(name) must not be NULL") }
    return pointer
}

/// Decodes a C string argument as UTF-8, refusing NULL and invalid bytes.
func string(_ pointer: UnsafePointer<CChar>?, _ name: String) throws -> String {
    let p = try required(pointer, name)
    guard let s = String(validatingCString: p) else { throw invalid("\(name) is not valid UTF-8") }
    return s
}

/// a * b * ... with overflow reported as an error.
func product(_ factors: [Int], _ what: String) throws -> Int {
    var result = 1
    for f in factors {
        let (r, overflow) = result.multipliedReportingOverflow(by: f)
        guard !overflow else { throw ABIError(status: LK_STATUS_OUT_OF_MEMORY, message: "\(what) is too large") }
        result = r
    }
    return result
}

/// Strings a handle lends to C callers (parameter names, labels): copied once, freed
/// with the handle, so a borrowed `const char *` stays valid for the handle's life.
final class BorrowedCStrings {
    private let strings: [UnsafeMutablePointer<CChar>]

    init(_ values: [String]) { strings = values.map { strdup($0) } }

    deinit { strings.forEach { free($0) } }

    var count: Int { strings.count }

    /// The string at `index`, or an error naming `what` and the valid range.
    func at(_ index: Int32, _ what: String) throws -> UnsafePointer<CChar> {
        guard index >= 0, Int(index) < strings.count else {
            throw invalid("\(what) index \(index) is outside [0, \(strings.count))")
        }
        return UnsafePointer(strings[Int(index)])
    }
}
