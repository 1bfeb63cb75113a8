import LSTMKitCore

/// NumPy's .npy files (format versions 1.0, 2.0 and 3.0), read and written without
/// NumPy: the images, labels and masks the command-line tool reads for the image models.
///
/// A file is the magic "\u{93}NUMPY", a version (major, minor), the header length (2
/// bytes little-endian in 1.0, 4 bytes in 2.0 and 3.0), a header that is a Python dict
/// literal such as `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 28, 28), }`,
/// then the elements in C order. Reading accepts C order only and the dtypes
/// bool, int8/16/32/64, uint8/16/32/64, float16/32/64 in either byte order, and
/// fixed-width unicode strings ('<U5', for labels). Anything else is refused with a
/// message that names the file and the problem; nothing a file holds can trap.
public struct NumPyArray: Equatable, Sendable {
    /// The element type, as a kind and a size in bytes.
    public enum DType: Equatable, Sendable {
        case bool
        case int(bytes: Int)
        case uint(bytes: Int)
        case float(bytes: Int)
        /// Fixed-width UTF-32 strings of `characters` code points each.
        case unicode(characters: Int)

        var itemSize: Int {
            switch self {
            case .bool: return 1
            case .int(let b), .uint(let b), .float(let b): return b
            case .unicode(let n): return 4 * n
            }
        }

        /// NumPy's name: uint8, float32, <U5 ...
        public var name: String {
            switch self {
            case .bool: return "bool"
            case .int(let b): return "int\(8 * b)"
            case .uint(let b): return "uint\(8 * b)"
            case .float(let b): return "float\(8 * b)"
            case .unicode(let n): return "<U\(n)"
            }
        }
    }

    public var shape: [Int]
    public var dtype: DType
    /// The header's descr, e.g. "<f4".
    public var descr: String
    public var bigEndian: Bool
    /// (major, minor) of the file format.
    public var version: (UInt8, UInt8)
    /// The raw element bytes, C order, in the file's byte order.
    public var data: [UInt8]

    public static func == (a: NumPyArray, b: NumPyArray) -> Bool {
        a.shape == b.shape && a.dtype == b.dtype && a.descr == b.descr && a.bigEndian == b.bigEndian
            && a.version == b.version && a.data == b.data
    }

    /// The number of elements (the product of the shape; 1 for a scalar).
    public var count: Int { shape.reduce(1, *) }

    // MARK: Elements

    /// The raw little-endian-ordered bytes of element i, as an unsigned integer.
    private func word(_ i: Int, _ size: Int) -> UInt64 {
        var v: UInt64 = 0
        let base = i * size
        for k in 0..<size {
            let byte = UInt64(data[base + (bigEndian ? size - 1 - k : k)])
            v |= byte << (8 * UInt64(k))
        }
        return v
    }

    /// Element i of an int array of `size` bytes, sign-extended.
    private func signedWord(_ i: Int, _ size: Int) -> Int64 {
        let shift = UInt64(64 - 8 * size)
        return Int64(bitPattern: word(i, size) << shift) >> Int64(shift)
    }

    /// Every element as Float (integers and float64 are rounded to the nearest float32).
    /// Strings are refused.
    public func floats(_ what: String = "the array") throws -> [Float] {
        let n = count
        var out = try [Float](checkedRepeating: 0, count: n, for: "\(what) as \(n) floats")
        switch dtype {
        case .bool:
            for i in 0..<n { out[i] = data[i] != 0 ? 1 : 0 }
        case .uint(let b):
            if b == 1 {
                for i in 0..<n { out[i] = Float(data[i]) }
            } else {
                for i in 0..<n { out[i] = Float(word(i, b)) }
            }
        case .int(let b):
            for i in 0..<n { out[i] = Float(signedWord(i, b)) }
        case .float(let b):
            switch b {
            case 2: for i in 0..<n { out[i] = Float(Self.half(UInt16(word(i, 2)))) }
            case 4:
                if !bigEndian {
                    data.withUnsafeBytes { raw in
                        for i in 0..<n { out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
                    }
                } else {
                    for i in 0..<n { out[i] = Float(bitPattern: UInt32(word(i, 4))) }
                }
            default: for i in 0..<n { out[i] = Float(Double(bitPattern: word(i, 8))) }
            }
        case .unicode:
            throw LSTMKitError.invalidArgument("\(what) holds strings (dtype \(descr)); numbers are needed")
        }
        return out
    }

    /// Every element as a label string: integers in decimal, floats that are whole
    /// numbers in decimal ("3" for 3.0), strings as they are (trailing NULs dropped).
    /// Booleans and fractional or non-finite floats are refused, naming the element.
    public func labels(_ what: String = "the array") throws -> [String] {
        let n = count
        switch dtype {
        case .bool:
            throw LSTMKitError.invalidArgument("\(what) holds booleans; labels must be integers or strings")
        case .uint(let b):
            return (0..<n).map { String(b == 1 ? UInt64(data[$0]) : word($0, b)) }
        case .int(let b):
            return (0..<n).map { String(signedWord($0, b)) }
        case .float(let b):
            return try (0..<n).map { i in
                let v = b == 2 ? Self.half(UInt16(word(i, 2))) : b == 4 ? Double(Float(bitPattern: UInt32(word(i, 4))))
                    : Double(bitPattern: word(i, 8))
                guard v.isFinite, v == v.rounded(), abs(v) < 9.0e15 else {
                    throw LSTMKitError.invalidArgument("\(what)[\(i)] is \(v); float labels must be whole numbers")
                }
                return String(Int64(v))
            }
        case .unicode(let chars):
            return try (0..<n).map { i in
                var s = String.UnicodeScalarView()
                for k in 0..<chars {
                    let code = UInt32(truncatingIfNeeded: word(i * chars + k, 4))
                    if code == 0 { break }
                    guard let scalar = Unicode.Scalar(code) else {
                        throw LSTMKitError.invalidArgument("\(what)[\(i)] holds an invalid character (U+\(String(code, radix: 16, uppercase: true)))")
                    }
                    s.append(scalar)
                }
                return String(s)
            }
        }
    }

    /// Every element as Int32 (class indices, masks): booleans as 0 and 1, and integers of
    /// any size. Floats and strings are refused, and so is a value outside Int32, with the
    /// error `outOfRange` makes from the element's index and value (by default one naming
    /// the element).
    public func int32s(_ what: String = "the array",
                       outOfRange: ((_ index: Int, _ value: String) -> Error)? = nil) throws -> [Int32] {
        let n = count
        var out = try [Int32](checkedRepeating: 0, count: n, for: "\(what) as \(n) integers")
        func refuse(_ i: Int, _ value: String) -> Error {
            outOfRange?(i, value) ?? LSTMKitError.invalidArgument("\(what)[\(i)] is \(value), outside the range of Int32")
        }
        switch dtype {
        case .bool, .uint(bytes: 1):
            for i in 0..<n { out[i] = Int32(data[i]) }
        case .uint(let b):
            for i in 0..<n {
                let v = word(i, b)
                guard v <= UInt64(Int32.max) else { throw refuse(i, String(v)) }
                out[i] = Int32(v)
            }
        case .int(let b):
            for i in 0..<n {
                let v = signedWord(i, b)
                guard let label = Int32(exactly: v) else { throw refuse(i, String(v)) }
                out[i] = label
            }
        case .float, .unicode:
            throw LSTMKitError.invalidArgument("\(what) holds \(dtype.name); integers are needed")
        }
        return out
    }

    /// IEEE half precision → Double.
    static func half(_ h: UInt16) -> Double {
        let sign: Double = h & 0x8000 != 0 ? -1 : 1
        let exponent = Int((h >> 10) & 0x1f), fraction = Double(h & 0x3ff)
        switch exponent {
        case 0: return sign * fraction * 0x1p-24
        case 31: return fraction == 0 ? sign * .infinity : .nan
        default: return sign * (1 + fraction / 1024) * Double(sign: .plus, exponent: exponent - 15, significand: 1)
        }
    }
}

public enum NumPyFile {
    static let magic: [UInt8] = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]   // \x93NUMPY

    /// Whether bytes start with the .npy magic.
    public static func isNumPy(_ bytes: [UInt8]) -> Bool { bytes.count >= 6 && Array(bytes[0..<6]) == magic }

    /// Reads a .npy file; `.io` if it cannot be read, `.invalidArgument` naming the
    /// path if it is not a .npy file this reader supports.
    public static func read(_ path: String) throws -> NumPyArray {
        try parse(try FileIO.read(path), name: path)
    }

    /// Parses the bytes of a .npy file; errors start with `name`.
    public static func parse(_ bytes: [UInt8], name: String) throws -> NumPyArray {
        func bad(_ why: String) -> LSTMKitError { .invalidArgument("\(name) is not a .npy file this reader supports: \(why)") }
        guard isNumPy(bytes) else {
            throw LSTMKitError.invalidArgument("\(name) is not a .npy file (it does not start with \"\\x93NUMPY\")")
        }
        guard bytes.count >= 10 else { throw bad("the file ends inside its preamble (\(bytes.count) bytes): truncated?") }
        let (major, minor) = (bytes[6], bytes[7])
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw bad("the file ends inside its preamble (\(bytes.count) bytes): truncated?") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default:
            throw bad("format version \(major).\(minor) (this reader knows 1.0, 2.0 and 3.0)")
        }
        guard headerStart + headerLength <= bytes.count else {
            throw bad("the header of \(headerLength) bytes runs past the end of the file (\(bytes.count) bytes): truncated?")
        }
        let headerBytes = Array(bytes[headerStart..<(headerStart + headerLength)])
        // 1.0 and 2.0 headers are latin-1; 3.0 headers are UTF-8. Keys and dtypes are ASCII.
        let text: String
        if major == 3 {
            guard let s = String(validating: headerBytes, as: UTF8.self) else { throw bad("the header is not UTF-8") }
            text = s
        } else {
            text = String(String.UnicodeScalarView(headerBytes.map { Unicode.Scalar($0) }))
        }
        let header: PyLiteral
        do {
            var parser = PyLiteralParser(Array(text.unicodeScalars))
            header = try parser.parseTop()
        } catch let e as PyLiteralParser.Failure {
            throw bad("the header \(Self.clip(text)) is not a Python dict literal (\(e.why))")
        }
        guard case .dict(let entries) = header else { throw bad("the header \(Self.clip(text)) is not a dict") }
        func entry(_ key: String) -> PyLiteral? { entries.first { $0.0 == key }?.1 }
        guard let descrValue = entry("descr") else { throw bad("the header has no 'descr'") }
        guard case .bool(let fortran) = entry("fortran_order") ?? .none else {
            throw bad("the header has no boolean 'fortran_order'")
        }
        guard case .tuple(let dims) = entry("shape") ?? .none else { throw bad("the header has no 'shape' tuple") }
        guard case .string(let descr) = descrValue else {
            throw bad("structured dtypes (record arrays) are not supported; save a plain numeric array")
        }
        guard !fortran else {
            throw bad("the array is in Fortran order (fortran_order True); save a C-ordered array, e.g. np.save(path, np.ascontiguousarray(x))")
        }
        var shape: [Int] = []
        var count = 1
        for d in dims {
            guard case .int(let v) = d, v >= 0 else { throw bad("the shape \(Self.clip(text)) holds something other than sizes") }
            let (product, overflow) = count.multipliedReportingOverflow(by: v)
            guard !overflow, product <= bytes.count else {
                throw bad("the shape \(PyLiteral.tuple(dims)) needs more data than the file holds: truncated?")
            }
            shape.append(v)
            count = product
        }
        let (dtype, bigEndian) = try Self.dtype(descr, bad)
        let dataStart = headerStart + headerLength
        let (needed, overflow) = count.multipliedReportingOverflow(by: dtype.itemSize)
        let available = bytes.count - dataStart
        guard !overflow, needed <= available else {
            throw bad("shape \(Self.text(shape)) of \(dtype.name) needs \(overflow ? "too many" : String(needed)) data bytes but the file holds \(available): truncated?")
        }
        guard needed == available else {
            throw bad("shape \(Self.text(shape)) of \(dtype.name) needs \(needed) data bytes but the file holds \(available)")
        }
        return NumPyArray(shape: shape, dtype: dtype, descr: descr, bigEndian: bigEndian, version: (major, minor),
                          data: Array(bytes[dataStart...]))
    }

    static func dtype(_ descr: String, _ bad: (String) -> LSTMKitError) throws -> (NumPyArray.DType, Bool) {
        var chars = Array(descr)
        var bigEndian = false
        if let first = chars.first, "<>|=".contains(first) {
            bigEndian = first == ">"
            chars.removeFirst()
        }
        guard let kind = chars.first, let size = Int(String(chars.dropFirst())), size >= 1 else {
            throw bad("unsupported dtype '\(descr)'")
        }
        let dtype: NumPyArray.DType
        switch (kind, size) {
        case ("b", 1): dtype = .bool
        case ("i", 1), ("i", 2), ("i", 4), ("i", 8): dtype = .int(bytes: size)
        case ("u", 1), ("u", 2), ("u", 4), ("u", 8): dtype = .uint(bytes: size)
        case ("f", 2), ("f", 4), ("f", 8): dtype = .float(bytes: size)
        case ("U", _) where size <= 1 << 20: dtype = .unicode(characters: size)
        default:
            throw bad("unsupported dtype '\(descr)' (supported: bool, int8-64, uint8-64, float16/32/64, unicode strings)")
        }
        return (dtype, bigEndian)
    }

    /// A shape as NumPy prints it: (3,), (2, 3).
    public static func text(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }

    static func clip(_ s: String) -> String {
        let t = s.trimmingTrailingSpace
        return t.count <= 120 ? "\"\(t)\"" : "\"\(t.prefix(117))...\""
    }

    // MARK: Writing

    /// The bytes of a version 1.0 .npy file: the header padded with spaces to a
    /// multiple of 64 bytes and ended by a newline, as NumPy writes it.
    static func serialize(descr: String, shape: [Int], data: [UInt8]) -> [UInt8] {
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(dims), }".utf8)
        let unpadded = 10 + header.count + 1
        header += [UInt8](repeating: 0x20, count: (64 - unpadded % 64) % 64)
        header.append(0x0a)
        var out = magic + [1, 0, UInt8(header.count & 0xff), UInt8(header.count >> 8)]
        out += header
        out += data
        return out
    }

    static func checkShape(_ shape: [Int], _ count: Int) throws {
        var product = 1
        for d in shape {
            let (p, overflow) = product.multipliedReportingOverflow(by: d)
            guard d >= 0, !overflow else { throw LSTMKitError.sizeMismatch("shape \(shape) is not a valid shape") }
            product = p
        }
        guard product == count else {
            throw LSTMKitError.sizeMismatch("shape \(shape) does not hold \(count) values")
        }
    }

    /// Writes float32 values of `shape` (C order) as a .npy file, atomically.
    public static func write(_ values: [Float], shape: [Int], to path: String) throws {
        try checkShape(shape, values.count)
        var data = [UInt8]()
        data.reserveCapacity(4 * values.count)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        try FileIO.writeAtomically(serialize(descr: "<f4", shape: shape, data: data), to: path)
    }

    /// Writes int64 values of `shape` (C order) as a .npy file, atomically.
    public static func write(_ values: [Int64], shape: [Int], to path: String) throws {
        try checkShape(shape, values.count)
        var data = [UInt8]()
        data.reserveCapacity(8 * values.count)
        for v in values { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        try FileIO.writeAtomically(serialize(descr: "<i8", shape: shape, data: data), to: path)
    }
}

extension String {
    fileprivate var trimmingTrailingSpace: String {
        var s = Substring(self)
        while let last = s.last, last == " " || last == "\n" { s = s.dropLast() }
        return String(s)
    }
}

// MARK: The header's Python literal

/// The subset of Python literals a .npy header uses.
enum PyLiteral: Equatable {
    case none
    case bool(Bool)
    case int(Int)
    case string(String)
    case tuple([PyLiteral])   // tuples and lists alike
    case dict([(String, PyLiteral)])

    static func == (a: PyLiteral, b: PyLiteral) -> Bool {
        switch (a, b) {
        case (.none, .none): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.tuple(x), .tuple(y)): return x == y
        case let (.dict(x), .dict(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }
}

extension PyLiteral: CustomStringConvertible {
    var description: String {
        switch self {
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let v): return String(v)
        case .string(let s): return "'\(s)'"
        case .tuple(let items): return "(" + items.map(\.description).joined(separator: ", ") + ")"
        case .dict(let items): return "{" + items.map { "'\($0.0)': \($0.1)" }.joined(separator: ", ") + "}"
        }
    }
}

struct PyLiteralParser {
    struct Failure: Error { let why: String }

    let s: [Unicode.Scalar]
    var i = 0
    var depth = 0

    init(_ s: [Unicode.Scalar]) { self.s = s }

    mutating func parseTop() throws -> PyLiteral {
        let v = try value()
        skipSpace()
        guard i == s.count else { throw Failure(why: "unexpected text at character \(i)") }
        return v
    }

    mutating func skipSpace() {
        while i < s.count, s[i] == " " || s[i] == "\n" || s[i] == "\t" || s[i] == "\r" { i += 1 }
    }

    mutating func value() throws -> PyLiteral {
        skipSpace()
        guard i < s.count else { throw Failure(why: "it ends early") }
        switch s[i] {
        case "{": return try container(close: "}", dict: true)
        case "(": return try container(close: ")", dict: false)
        case "[": return try container(close: "]", dict: false)
        case "'", "\"": return .string(try string())
        case "-", "0"..."9":
            let start = i
            i += 1
            while i < s.count, ("0"..."9").contains(s[i]) { i += 1 }
            // NumPy wrote 'L' suffixes under Python 2.
            let digits = String(String.UnicodeScalarView(s[start..<i]))
            if i < s.count, s[i] == "L" { i += 1 }
            guard let v = Int(digits) else { throw Failure(why: "the number \(digits) is out of range") }
            return .int(v)
        default:
            for (word, literal) in [("True", PyLiteral.bool(true)), ("False", .bool(false)), ("None", .none)] {
                let w = Array(word.unicodeScalars)
                if i + w.count <= s.count, Array(s[i..<(i + w.count)]) == w {
                    i += w.count
                    return literal
                }
            }
            throw Failure(why: "unexpected character '\(s[i])' at \(i)")
        }
    }

    mutating func string() throws -> String {
        let quote = s[i]
        i += 1
        var out = String.UnicodeScalarView()
        while i < s.count, s[i] != quote {
            if s[i] == "\\", i + 1 < s.count { i += 1 }
            out.append(s[i])
            i += 1
        }
        guard i < s.count else { throw Failure(why: "a string is not closed") }
        i += 1
        return String(out)
    }

    mutating func container(close: Unicode.Scalar, dict: Bool) throws -> PyLiteral {
        depth += 1
        defer { depth -= 1 }
        guard depth <= 32 else { throw Failure(why: "it nests too deeply") }
        i += 1
        var items: [PyLiteral] = []
        var entries: [(String, PyLiteral)] = []
        while true {
            skipSpace()
            guard i < s.count else { throw Failure(why: "a bracket is not closed") }
            if s[i] == close { i += 1; break }
            if dict {
                guard case .string(let key) = try value() else { throw Failure(why: "a dict key is not a string") }
                skipSpace()
                guard i < s.count, s[i] == ":" else { throw Failure(why: "expected ':' after '\(key)'") }
                i += 1
                entries.append((key, try value()))
            } else {
                items.append(try value())
            }
            skipSpace()
            guard i < s.count else { throw Failure(why: "a bracket is not closed") }
            if s[i] == "," { i += 1 } else if s[i] != close { throw Failure(why: "expected ',' or '\(close)' at \(i)") }
        }
        return dict ? .dict(entries) : .tuple(items)
    }
}
