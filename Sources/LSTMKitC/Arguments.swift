#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLSTMKitHeader
import LSTMKit

// Reading a call's arguments and writing its outputs: pointers, sizes, counts, strings
// and buffers, each refused with a message that names the argument. The status
// conventions (include/lstmkit.h): a NULL pointer or a size beyond any buffer is
// INVALID_ARGUMENT; an element count other than its dimensions call for (SIZE_MAX
// included) is SIZE_MISMATCH. What values mean is the engine's to check.

/// Unwraps a pointer argument or fails naming it.
func required<T>(_ pointer: T?, _ name: String) throws -> T {
    guard let pointer else { throw invalid("\(name) must not be NULL") }
    return pointer
}

/// A C size_t arrives as Int: values above Int.max look negative. No buffer can be
/// that large, so such a size is refused rather than trusted.
func size(_ value: Int, _ name: String) throws -> Int {
    guard value >= 0 else { throw invalid("\(name) is \(UInt(bitPattern: value)), larger than any buffer") }
    return value
}

/// a * b * ... with overflow reported as an error.
func product(_ factors: [Int], _ what: String) throws -> Int {
    try factors.reduce(1) { result, f in
        let (r, overflow) = result.multipliedReportingOverflow(by: f)
        guard !overflow else { throw ABIError(status: LK_STATUS_OUT_OF_MEMORY, message: "\(what) is too large") }
        return r
    }
}

/// Checks a caller's element count against the product of `dims` (`formula` names them,
/// as in "n * H * W"); returns it.
func count(_ count: Int, _ name: String, is dims: [Int], _ formula: String) throws -> Int {
    let needed = try product(dims, formula)
    guard count == needed else {
        throw mismatch("\(name) is \(UInt(bitPattern: count)), expected \(formula) = "
                       + dims.map(String.init).joined(separator: " * ") + " = \(needed)")
    }
    return needed
}

/// The element count of an optional buffer `name` (its count argument `name`_count): 0
/// for a NULL buffer, else checked against the product of `dims` as `count` does.
func optionalCount(_ buffer: UnsafeRawPointer?, _ n: Int, _ name: String, is dims: [Int], _ formula: String) throws -> Int {
    if buffer != nil { return try count(n, name + "_count", is: dims, formula) }
    guard n == 0 else { throw invalid("\(name) is NULL but \(name)_count is \(UInt(bitPattern: n)) (must be 0)") }
    return 0
}

/// A set of examples for training: n >= 1.
func examples(_ n: Int, _ name: String, _ set: String) throws -> Int {
    let n = try size(n, name)
    guard n >= 1 else { throw invalid("\(name) must be >= 1: the \(set) set is empty") }
    return n
}

/// What every lk_<model>_train_ex that takes examples and a config struct checks first:
/// config and out not NULL, then the counts n_train and n_dev (each at least 1).
func trainArguments<C>(_ config: UnsafePointer<C>?, _ out: HandleOut?, _ nTrain: Int,
                       _ nDev: Int) throws -> (config: C, out: HandleOut, nTrain: Int, nDev: Int) {
    let c = try required(config, "config").pointee
    let out = try required(out, "out")
    return (c, out, try examples(nTrain, "n_train", "training"), try examples(nDev, "n_dev", "dev"))
}

/// The thread count of a call that computes.
func threadCount(_ threads: Int32) throws -> Int {
    guard threads >= 1 else { throw invalid("threads must be >= 1, got \(threads)") }
    return Int(threads)
}

// MARK: Strings

/// Decodes a NUL-terminated C string argument as UTF-8, refusing NULL and invalid bytes.
func string(_ pointer: CString?, _ name: String) throws -> String {
    guard let s = String(validatingCString: try required(pointer, name)) else { throw invalid("\(name) is not valid UTF-8") }
    return s
}

/// n NUL-terminated UTF-8 strings (n may be 0 with a NULL array); errors name `name[i]`.
func strings(_ array: CStrings?, _ n: Int, _ name: String) throws -> [String] {
    if n == 0 { return [] }
    let array = try required(array, name)
    return try (0..<n).map { try string(array[$0], "\(name)[\($0)]") }
}

/// Decodes caller bytes as UTF-8 or fails with the offset of the first bad byte.
func utf8Text(_ bytes: CString?, _ length: Int, _ name: String) throws -> String {
    let length = try size(length, name + " length")
    if length == 0 { return "" }
    let buffer = UnsafeRawBufferPointer(start: try required(bytes, name), count: length).bindMemory(to: UInt8.self)
    return try TextFile.utf8(buffer, name: name)
}

/// n (pointer, length) UTF-8 texts (n may be 0 with NULL arrays); errors name
/// `name[i]` and `lengthsName[i]`.
func utf8Texts(_ texts: CStrings?, _ lengths: UnsafePointer<Int>?, _ n: Int,
               _ name: String, _ lengthsName: String) throws -> [String] {
    if n == 0 { return [] }
    let texts = try required(texts, name)
    let lengths = try required(lengths, lengthsName)
    return try (0..<n).map { i in
        try utf8Text(texts[i], try size(lengths[i], "\(lengthsName)[\(i)]"), "\(name)[\(i)]")
    }
}

// MARK: Images

/// The dimensions of one example, checked: (H, W, C) or (T, H, W, C), each >= 1. `name`
/// names the shape argument in messages.
func exampleDimensions(_ shape: UnsafePointer<lk_image_shape>?, _ name: String = "shape") throws -> [Int] {
    let s = try required(shape, name).pointee
    guard s.frames >= 0 else { throw invalid("\(name).frames must be >= 0 (0: single images), got \(s.frames)") }
    for (field, v) in [("height", s.height), ("width", s.width), ("channels", s.channels)] where v < 1 {
        throw invalid("\(name).\(field) must be >= 1, got \(v)")
    }
    // Beyond these no model can exist (the configs' limits); refusing them here keeps
    // every product below in range.
    guard s.frames <= 1 << 14, s.height <= 1 << 14, s.width <= 1 << 14, s.channels <= 1 << 10 else {
        throw invalid("\(name) (frames \(s.frames), \(s.height)×\(s.width)×\(s.channels)) is too large: "
                      + "at most 16384 frames, 16384×16384 pixels and 1024 channels")
    }
    return (s.frames > 0 ? [Int(s.frames)] : []) + [Int(s.height), Int(s.width), Int(s.channels)]
}

/// The caller's n examples of `example` dimensions as a Tensor (N, ...), after checking
/// `count` against the dimensions and that every pixel is finite. `what` names the
/// buffer in messages.
func imageTensor(_ images: UnsafePointer<Float>?, _ n: Int, _ example: [Int], _ imagesCount: Int,
                 _ what: String, _ countName: String) throws -> Tensor {
    let dims = "n * " + (example.count == 4 ? "T * " : "") + "H * W * C"
    let needed = try count(imagesCount, countName, is: [n] + example, dims)
    try Memory.check([needed], for: "a copy of the \(needed) pixels of the \(what)")
    let data = needed == 0 ? [] : Array(UnsafeBufferPointer(start: try required(images, what), count: needed))
    if let bad = data.firstIndex(where: { !$0.isFinite }) {
        let per = needed / n
        throw invalid("\(what): image \(bad / per) holds a\(data[bad].isNaN ? " NaN" : "n infinite") pixel "
                      + "(at index \(bad % per) of that image); pixels must be finite")
    }
    return Tensor(shape: [n] + example, data: data)
}

// MARK: Outputs

/// Copies what the engine computed to a caller's buffer, which the call has checked holds
/// `count` values; any other number of values is a bug in LSTMKit.
func copyOut<T>(_ values: [T], to out: Out<T>, count: Int, _ what: String) throws {
    guard values.count == count else { throw internalError("\(values.count) \(what) computed, not \(count)") }
    values.withUnsafeBufferPointer { if count > 0 { out.update(from: $0.baseAddress!, count: count) } }
}

/// Writes `text` and a NUL to a caller's buffer of `capacity` bytes and its length (no
/// NUL) to `size`; a NULL buffer with capacity 0 asks for the size alone. `what` names
/// the text in the BUFFER_TOO_SMALL message.
func copyText(_ text: String, to buffer: Out<CChar>?, _ bufferName: String, capacity: Int, size: Out<Int>?,
              _ what: String) throws {
    let length = try required(size, "size")
    let capacity = try LSTMKitC.size(capacity, "capacity")
    let bytes = Array(text.utf8) + [0]
    length.pointee = bytes.count - 1
    if buffer == nil && capacity == 0 { return }
    let out = try required(buffer, bufferName)
    guard capacity >= bytes.count else {
        throw ABIError(status: LK_STATUS_BUFFER_TOO_SMALL,
                       message: "\(what) need capacity >= \(bytes.count) bytes, got \(capacity) (*size holds the length)")
    }
    try copyOut(bytes.map { CChar(bitPattern: $0) }, to: out, count: bytes.count, "bytes")
}

/// Progress lines for an engine trainer: to the caller's callback (nullable) with its
/// user data, on the calling thread.
func progressLines(_ progress: lk_progress_fn?, _ userData: UnsafeMutableRawPointer?) -> (String) -> Void {
    { line in if let progress { line.withCString { progress($0, userData) } } }
}
