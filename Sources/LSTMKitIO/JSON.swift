import LSTMKitCore

/// A small strict JSON reader and writer for model-file headers. The engine carries
/// its own so the library depends on nothing but the Swift runtime and OpenBLAS.
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members.first { $0.0 == key }?.1 }
        return nil
    }

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var numberValue: Double? { if case .number(let n) = self { return n }; return nil }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    public var objectValue: [(String, JSONValue)]? { if case .object(let o) = self { return o }; return nil }

    // MARK: Writing

    public var serialized: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n):
            if n == n.rounded(), abs(n) < 1e15 { return String(Int64(n)) }
            return String(n)
        case .string(let s): return JSONValue.quote(s)
        case .array(let a): return "[" + a.map(\.serialized).joined(separator: ",") + "]"
        case .object(let o):
            return "{" + o.map { JSONValue.quote($0.0) + ":" + $0.1.serialized }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    // MARK: Reading

    /// Parses UTF-8 bytes; throws `.invalidFormat` with the byte offset on any error.
    public static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        var parser = Parser(bytes: bytes)
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.pos == bytes.count else { throw parser.error("trailing characters") }
        return value
    }

    private struct Parser {
        let bytes: [UInt8]
        var pos = 0

        func error(_ what: String) -> LSTMKitError {
            .invalidFormat("malformed JSON header: \(what) at byte \(pos)")
        }

        mutating func skipWhitespace() {
            while pos < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[pos]) { pos += 1 }
        }

        mutating func expect(_ literal: String) throws {
            for b in literal.utf8 {
                guard pos < bytes.count, bytes[pos] == b else { throw error("expected \(literal)") }
                pos += 1
            }
        }

        mutating func value(depth: Int) throws -> JSONValue {
            guard depth < 64 else { throw error("nesting too deep") }
            skipWhitespace()
            guard pos < bytes.count else { throw error("unexpected end") }
            switch bytes[pos] {
            case UInt8(ascii: "{"):
                pos += 1
                var members: [(String, JSONValue)] = []
                skipWhitespace()
                if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
                while true {
                    skipWhitespace()
                    guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw error("expected a key") }
                    let key = try string()
                    skipWhitespace()
                    try expect(":")
                    members.append((key, try value(depth: depth + 1)))
                    skipWhitespace()
                    guard pos < bytes.count else { throw error("unexpected end") }
                    if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                    if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
                    throw error("expected , or }")
                }
            case UInt8(ascii: "["):
                pos += 1
                var items: [JSONValue] = []
                skipWhitespace()
                if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
                while true {
                    items.append(try value(depth: depth + 1))
                    skipWhitespace()
                    guard pos < bytes.count else { throw error("unexpected end") }
                    if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                    if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
                    throw error("expected , or ]")
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            default:
                return .number(try number())
            }
        }

        mutating func number() throws -> Double {
            let start = pos
            while pos < bytes.count, "+-0123456789.eE".utf8.contains(bytes[pos]) { pos += 1 }
            guard pos > start, let text = String(bytes: bytes[start..<pos], encoding: .utf8),
                  let n = Double(text), n.isFinite else {
                pos = start
                throw error("invalid value")
            }
            return n
        }

        mutating func hex4() throws -> UInt32 {
            guard pos + 4 <= bytes.count,
                  let text = String(bytes: bytes[pos..<(pos + 4)], encoding: .utf8),
                  let v = UInt32(text, radix: 16) else { throw error("bad \\u escape") }
            pos += 4
            return v
        }

        mutating func string() throws -> String {
            pos += 1  // opening quote
            // Collect UTF-8 bytes (escapes decoded in place) and make one String at the
            // end: appending piece by piece to a String is quadratic on long strings.
            var out = [UInt8]()
            func append(_ u: Unicode.Scalar) { out.append(contentsOf: UTF8.encode(u)!) }
            while true {
                guard pos < bytes.count else { throw error("unterminated string") }
                let b = bytes[pos]
                pos += 1
                if b == UInt8(ascii: "\"") {
                    guard let s = String(bytes: out, encoding: .utf8) else { throw error("invalid UTF-8") }
                    return s
                }
                if b < 0x20 { throw error("control character in string") }
                if b != UInt8(ascii: "\\") { out.append(b); continue }
                guard pos < bytes.count else { throw error("unterminated escape") }
                let e = bytes[pos]
                pos += 1
                switch e {
                case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "/"): out.append(UInt8(ascii: "/"))
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code) {
                        try expect("\\u")
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("bad surrogate pair") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let u = Unicode.Scalar(code) else { throw error("bad \\u escape") }
                    append(u)
                default: throw error("bad escape")
                }
            }
        }
    }
}

extension String {
    /// Decodes UTF-8, returning nil on invalid input (no replacement characters).
    init?<C: Collection>(bytes: C, encoding: UTF8Marker) where C.Element == UInt8 {
        guard let s = String(validating: bytes, as: UTF8.self) else { return nil }
        self = s
    }
}

/// Marks the UTF-8 decoding initialiser above (the engine does not use Foundation).
public enum UTF8Marker { case utf8 }
