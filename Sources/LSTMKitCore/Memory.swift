import CKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one checked path for memory whose size comes from a caller or a file (image
/// sizes, batch × length, text lengths, .npy/PNG/model-file sizes): the size is computed
/// with overflow checks, compared with `Memory.limit` and tried with `malloc` (which
/// returns NULL where Swift's allocator would trap) before anything is allocated, so a
/// request that cannot fit is an `outOfMemory` error (LK_STATUS_OUT_OF_MEMORY,
/// MemoryError, a one-line CLI error) instead of an abort. Buffers whose size the
/// engine fixes (weights of a validated config, per-step scratch of bounded size) need
/// not come here. Each model checks what one request will hold at once (its estimate is
/// an upper bound) before it starts; the parsers check each buffer before they fill it.
public enum Memory {
    /// The most bytes one request may take: `LSTMKIT_MAX_ALLOC_BYTES` when set to a
    /// positive integer (read once, at first use), else the machine's physical memory.
    public static let limit: Int = limit(environment: getenv("LSTMKIT_MAX_ALLOC_BYTES").map { String(cString: $0) },
                                         physical: physicalBytes)

    /// The limit for an `LSTMKIT_MAX_ALLOC_BYTES` value (nil: unset) on a machine of
    /// `physical` bytes; a value that is not a positive integer is ignored.
    static func limit(environment: String?, physical: Int) -> Int {
        if let text = environment, let value = Int(text), value > 0 { return value }
        return physical
    }

    /// Installed memory in bytes (Int.max when the system does not say).
    static var physicalBytes: Int {
        let (pages, size) = (sysconf(Int32(_SC_PHYS_PAGES)), sysconf(Int32(_SC_PAGESIZE)))
        guard pages > 0, size > 0 else { return .max }
        let (bytes, overflow) = pages.multipliedReportingOverflow(by: size)
        return overflow ? .max : bytes
    }

    /// The product of `dims` elements of `elementSize` bytes, if it fits in an Int.
    public static func bytes(_ dims: [Int], elementSize: Int = MemoryLayout<Float>.stride) -> Int? {
        var total = elementSize
        for d in dims {
            guard d >= 0 else { return nil }
            let (r, overflow) = total.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            total = r
        }
        return total
    }

    /// Checks that `dims` elements (multiplied) of `elementSize` bytes can be allocated:
    /// no overflow, at most `limit` (and `cap`, a call's own documented bound, when
    /// given) and `malloc` can give them now. Returns the element count. `what` names
    /// the request in the error ("a batch of 1 image of 16384×16384").
    @discardableResult
    public static func check(_ dims: [Int], elementSize: Int = MemoryLayout<Float>.stride, cap: Int? = nil,
                             for what: @autoclosure () -> String) throws -> Int {
        guard let bytes = bytes(dims, elementSize: elementSize) else {
            throw LSTMKitError.outOfMemory("\(what()) is too large to allocate (its size overflows)")
        }
        try check(bytes: bytes, cap: cap, for: what())
        return bytes / max(elementSize, 1)
    }

    /// `check` for a size already in bytes (a sum of buffers).
    public static func check(bytes: Int, cap: Int? = nil, for what: @autoclosure () -> String) throws {
        let bound = min(limit, cap ?? .max)
        guard bytes <= bound else {
            let source = cap.map { $0 < limit ? "this call's bound" : nil } ?? nil
            throw LSTMKitError.outOfMemory("\(what()) needs \(describe(bytes)), more than \(source ?? limitSource) "
                                           + "(\(describe(bound)))")
        }
        // Tried for real: past the limit's check the system may still refuse (other
        // processes, an address-space limit), and Swift's allocator would then abort.
        // (In C: an optimizer may drop a malloc that is only freed, see memory.c.)
        guard bytes > 0 else { return }
        guard ck_can_allocate(bytes) != 0 else {
            throw LSTMKitError.outOfMemory("\(what()) needs \(describe(bytes)), which the system cannot allocate now")
        }
    }

    /// `check` over a sum of requests, each a list of dims (overflow checked).
    public static func check(sum parts: [[Int]], elementSize: Int = MemoryLayout<Float>.stride, cap: Int? = nil,
                             for what: @autoclosure () -> String) throws {
        var total = 0
        for dims in parts {
            guard let b = bytes(dims, elementSize: elementSize) else { total = -1; break }
            let (t, overflow) = total.addingReportingOverflow(b)
            if overflow { total = -1; break }
            total = t
        }
        guard total >= 0 else { throw LSTMKitError.outOfMemory("\(what()) is too large to allocate (its size overflows)") }
        try check(bytes: total, cap: cap, for: what())
    }

    private static var limitSource: String {
        getenv("LSTMKIT_MAX_ALLOC_BYTES") != nil && limit != physicalBytes ? "LSTMKIT_MAX_ALLOC_BYTES"
            : "this machine's memory"
    }

    /// "68.7 GB" style (decimal units, as `free -h` and allocators' messages).
    static func describe(_ bytes: Int) -> String {
        if bytes < 1_000_000 { return "\(bytes) bytes" }
        let (value, unit): (Double, String) = bytes < 1_000_000_000 ? (Double(bytes) / 1e6, "MB")
            : bytes < 1_000_000_000_000 ? (Double(bytes) / 1e9, "GB") : (Double(bytes) / 1e12, "TB")
        return "\((value * 10).rounded() / 10) \(unit)"
    }
}

extension Tensor {
    /// Zeros of `shape`, through `Memory.check`.
    public init(checkedZeros shape: [Int], for what: @autoclosure () -> String) throws {
        let count = try Memory.check(shape, for: what())
        self.init(shape: shape, data: [Float](repeating: 0, count: count))
    }
}

extension Array {
    /// `count` copies of `value`, through `Memory.check`. Inlinable so that callers in
    /// other targets get it specialised (unspecialised, it copies element by element
    /// through value witnesses: a model file's bytes cost 135 M more instructions).
    @inlinable
    public init(checkedRepeating value: Element, count: Int, for what: @autoclosure () -> String) throws {
        try Memory.check([count], elementSize: MemoryLayout<Element>.stride, for: what())
        self.init(repeating: value, count: count)
    }
}
