import LSTMKitCore

/// The safetensors container: an 8-byte little-endian header length N, N bytes of
/// JSON (`__metadata__` string map + one entry per tensor), then the raw tensor data.
/// LSTMKit keeps values as float32 in memory, stores them as float32 or float16 (or int8
/// for quantized weights' integer values), and
/// refuses anything it cannot fully account for.
public struct SafeTensors: Equatable {
    /// How a tensor's values are stored in the file.
    public enum DType: String, Sendable {
        case f32 = "F32"
        /// IEEE half precision: half the bytes; values are rounded to it when written.
        case f16 = "F16"
        /// Signed bytes: the values of an int8-quantized weight (integers in [-128, 127]).
        case i8 = "I8"

        var byteCount: Int {
            switch self {
            case .f32: return 4
            case .f16: return 2
            case .i8: return 1
            }
        }
    }

    public struct Entry: Equatable {
        public var name: String
        public var shape: [Int]
        public var values: [Float]
        public var dtype: DType

        public init(name: String, shape: [Int], values: [Float], dtype: DType = .f32) {
            self.name = name
            self.shape = shape
            self.values = values
            self.dtype = dtype
        }
    }

    /// Ordered string metadata (safetensors allows only strings here).
    public var metadata: [(String, String)]
    public var tensors: [Entry]

    public init(metadata: [(String, String)], tensors: [Entry]) {
        self.metadata = metadata
        self.tensors = tensors
    }

    public static func == (a: SafeTensors, b: SafeTensors) -> Bool {
        a.tensors == b.tensors && a.metadata.count == b.metadata.count
            && zip(a.metadata, b.metadata).allSatisfy { $0 == $1 }
    }

    public func metadata(_ key: String) -> String? { metadata.first { $0.0 == key }?.1 }

    public func tensor(_ name: String) -> Entry? { tensors.first { $0.name == name } }

    /// The largest header accepted when reading.
    public static let maxHeaderBytes = 100 << 20

    // MARK: Writing

    public func serialized() -> [UInt8] {
        var entries: [(String, JSONValue)] = [
            ("__metadata__", .object(metadata.map { ($0.0, .string($0.1)) })),
        ]
        var offset = 0
        for t in tensors {
            let bytes = t.values.count * t.dtype.byteCount
            entries.append((t.name, .object([
                ("dtype", .string(t.dtype.rawValue)),
                ("shape", .array(t.shape.map { .number(Double($0)) })),
                ("data_offsets", .array([.number(Double(offset)), .number(Double(offset + bytes))])),
            ])))
            offset += bytes
        }
        var header = Array(JSONValue.object(entries).serialized.utf8)
        // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
        while header.count % 8 != 0 { header.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for t in tensors {
            switch t.dtype {
            case .f32:
                for v in t.values { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
            case .f16:
                for v in t.values { withUnsafeBytes(of: Float16(v).bitPattern.littleEndian) { out.append(contentsOf: $0) } }
            case .i8:
                for v in t.values { out.append(UInt8(bitPattern: SafeTensors.int8(v))) }
            }
        }
        return out
    }

    /// v rounded and clamped to an Int8 (NaN as 0): never a trap, whatever a caller stored.
    public static func int8(_ v: Float) -> Int8 {
        v.isNaN ? 0 : Int8(Swift.max(-128, Swift.min(127, v.rounded())))
    }

    public func write(to path: String) throws {
        try FileIO.writeAtomically(serialized(), to: path)
    }

    // MARK: Reading

    public static func read(from path: String) throws -> SafeTensors {
        let bytes = try FileIO.read(path, regularOnly: true)
        do {
            return try parse(bytes)
        } catch LSTMKitError.invalidFormat(let why) {
            throw LSTMKitError.invalidFormat("\(path) is not a valid model file: \(why)")
        }
    }

    public static func parse(_ bytes: [UInt8]) throws -> SafeTensors {
        func bad(_ why: String) -> LSTMKitError { .invalidFormat(why) }
        guard bytes.count >= 8 else { throw bad("file is \(bytes.count) bytes, shorter than the 8-byte header length") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n >= 2, n <= UInt64(maxHeaderBytes) else { throw bad("header length \(n) is implausible") }
        let headerEnd = 8 + Int(n)
        guard headerEnd <= bytes.count else {
            throw bad("header length \(n) runs past the end of the file (\(bytes.count) bytes): truncated?")
        }
        let json = try JSONValue.parse(Array(bytes[8..<headerEnd]))
        guard let members = json.objectValue else { throw bad("header is not a JSON object") }
        let dataLength = bytes.count - headerEnd

        var metadata: [(String, String)] = []
        var spans: [(name: String, shape: [Int], dtype: DType, start: Int, end: Int)] = []
        var seen = Set<String>()
        for (name, value) in members {
            guard seen.insert(name).inserted else { throw bad("entry \"\(name)\" appears twice") }
            if name == "__metadata__" {
                guard let m = value.objectValue else { throw bad("__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v.stringValue else { throw bad("metadata \"\(k)\" is not a string") }
                    metadata.append((k, s))
                }
                continue
            }
            guard let dtype = value["dtype"]?.stringValue else { throw bad("tensor \"\(name)\" has no dtype") }
            guard let type = DType(rawValue: dtype) else { throw bad("tensor \"\(name)\" has dtype \(dtype); only F32, F16 and I8 are supported") }
            guard let shapeValues = value["shape"]?.arrayValue else { throw bad("tensor \"\(name)\" has no shape") }
            var shape: [Int] = []
            var elements = 1
            for s in shapeValues {
                guard let d = s.numberValue, d >= 0, d == d.rounded(), d < Double(1 << 40) else {
                    throw bad("tensor \"\(name)\" has an invalid shape \(value["shape"]!.serialized)")
                }
                shape.append(Int(d))
                let (product, overflow) = elements.multipliedReportingOverflow(by: Int(d))
                guard !overflow, product <= dataLength else {
                    throw bad("tensor \"\(name)\" shape \(value["shape"]!.serialized) needs more data than the file holds")
                }
                elements = product
            }
            guard let offsets = value["data_offsets"]?.arrayValue, offsets.count == 2,
                  let start = offsets[0].numberValue, let end = offsets[1].numberValue,
                  start >= 0, end >= start, start == start.rounded(), end == end.rounded(),
                  end <= Double(dataLength) else {
                throw bad("tensor \"\(name)\" has data_offsets outside the \(dataLength) data bytes: truncated?")
            }
            guard Int(end) - Int(start) == elements * type.byteCount else {
                throw bad("tensor \"\(name)\" of shape \(shape) needs \(elements * type.byteCount) bytes, offsets give \(Int(end) - Int(start))")
            }
            spans.append((name, shape, type, Int(start), Int(end)))
        }
        // The tensors must tile the data region exactly: no gaps, no overlaps, no tail.
        var cursor = 0
        for s in spans.sorted(by: { ($0.start, $0.end) < ($1.start, $1.end) }) {
            guard s.start == cursor else {
                throw bad(s.start < cursor ? "tensor \"\(s.name)\" overlaps another" : "gap before tensor \"\(s.name)\"")
            }
            cursor = s.end
        }
        guard cursor == dataLength else {
            throw bad("the tensors cover \(cursor) of \(dataLength) data bytes")
        }
        let tensors: [Entry] = spans.map { s in
            let data = headerEnd + s.start
            switch s.dtype {
            case .f32:
                let count = (s.end - s.start) / 4
                var values = [Float](repeating: 0, count: count)
                values.withUnsafeMutableBytes { dst in
                    bytes.withUnsafeBytes { src in
                        dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[data..<(headerEnd + s.end)]))
                    }
                }
                #if _endian(big)
                for i in 0..<count { values[i] = Float(bitPattern: UInt32(littleEndian: values[i].bitPattern)) }
                #endif
                return Entry(name: s.name, shape: s.shape, values: values)
            case .f16:
                let values = (0..<((s.end - s.start) / 2)).map { i in
                    Float(Float16(bitPattern: UInt16(bytes[data + 2 * i]) | UInt16(bytes[data + 2 * i + 1]) << 8))
                }
                return Entry(name: s.name, shape: s.shape, values: values, dtype: .f16)
            case .i8:
                let values = bytes[(data)..<(headerEnd + s.end)].map { Float(Int8(bitPattern: $0)) }
                return Entry(name: s.name, shape: s.shape, values: values, dtype: .i8)
            }
        }
        return SafeTensors(metadata: metadata, tensors: tensors)
    }
}
