import Testing
@testable import LSTMKit
import Foundation

func temporaryPath(_ name: String) -> String {
    "/tmp/lstmkit-test-\(getpid())-\(name)"
}

@Suite("Model files")
struct ModelFileTests {
    func savedModel(_ name: String) throws -> (LSTM, String, [UInt8]) {
        let lstm = try LSTM(LSTMConfig(inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, dropout: 0.25, seed: 42))
        let path = temporaryPath(name)
        try lstm.save(to: path)
        return (lstm, path, try FileIO.read(path))
    }

    @Test("save then load is exact: config, every weight bit, every output")
    func roundTrip() throws {
        let (lstm, path, _) = try savedModel("roundtrip.safetensors")
        defer { unlink(path) }
        let loaded = try LSTM.load(from: path)
        #expect(loaded.config == lstm.config)
        #expect(loaded.parameters.map(\.name) == lstm.parameters.map(\.name))
        for (a, b) in zip(loaded.parameters, lstm.parameters) {
            #expect(a.value.map(\.bitPattern) == b.value.map(\.bitPattern))
        }
        let x = randomTensor([2, 3, 3], seed: 1)
        #expect(try loaded.run(x, lengths: [3, 2]).y == lstm.run(x, lengths: [3, 2]).y)
    }

    @Test("the header is safetensors: length prefix, JSON, 8-byte aligned data")
    func layout() throws {
        let (_, path, bytes) = try savedModel("layout.safetensors")
        defer { unlink(path) }
        var n = 0
        for i in 0..<8 { n |= Int(bytes[i]) << (8 * i) }
        #expect(n % 8 == 0)
        let header = try JSONValue.parse(Array(bytes[8..<(8 + n)]))
        #expect(header["__metadata__"]?["kind"]?.stringValue == "lstm")
        #expect(header["weight_ih_l0"]?["dtype"]?.stringValue == "F32")
        #expect(header["weight_ih_l0"]?["shape"] == .array([.number(16), .number(3)]))
    }

    @Test("float16 tensors: two bytes a value, rounded when written, read back exactly")
    func halfPrecision() throws {
        let values: [Float] = [0, -0, 1, -2.5, 1e-3, 65504, 0.1, 3.14159, 1e-8]
        let file = SafeTensors(metadata: [("k", "v")], tensors: [SafeTensors.Entry(name: "h", shape: [9], values: values, dtype: .f16),
                                                              SafeTensors.Entry(name: "f", shape: [1], values: [0.1])])
        let bytes = file.serialized()
        var n = 0
        for i in 0..<8 { n |= Int(bytes[i]) << (8 * i) }
        #expect(bytes.count == 8 + n + 9 * 2 + 4)
        let read = try SafeTensors.parse(bytes)
        #expect(read.tensor("h")?.dtype == .f16 && read.tensor("f")?.dtype == .f32)
        #expect(read.tensor("h")?.values == values.map { Float(Float16($0)) })
        #expect(read.tensor("h")?.values[2] == 1 && read.tensor("h")?.values[6] != 0.1 && read.tensor("f")?.values == [0.1])
        #expect(read.serialized() == bytes)
        // F16 named with F32's byte count (or the reverse) does not add up: refused.
        #expect(throws: LSTMKitError.invalidFormat("tensor \"h\" of shape [9] needs 36 bytes, offsets give 18")) {
            try SafeTensors.parse(edited(bytes) { $0.replacingFirst("\"F16\"", with: "\"F32\"") })
        }
    }

    @Test("no temporary file is left behind, and a failed save keeps the old file")
    func atomicSave() throws {
        let (lstm, path, bytes) = try savedModel("atomic.safetensors")
        defer { unlink(path) }
        #expect(throws: LSTMKitError.self) { try lstm.save(to: "/nonexistent-dir/model.safetensors") }
        #expect(try FileIO.read(path) == bytes)
        let dir = opendir("/tmp")!
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            #expect(!name.hasPrefix("lstmkit-test-\(getpid())-atomic.safetensors.tmp"))
        }
    }

    /// Writes `bytes` and expects loading to fail with `.invalidFormat` mentioning `needle`.
    func expectRefused(_ bytes: [UInt8], _ needle: String, _ label: String,
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let path = temporaryPath("bad-\(label)")
        try FileIO.writeAtomically(bytes, to: path)
        defer { unlink(path) }
        do {
            _ = try LSTM.load(from: path)
            Issue.record("\(label): a corrupt file was accepted", sourceLocation: sourceLocation)
        } catch let LSTMKitError.invalidFormat(message) {
            #expect(message.contains(needle), "\(label): message was \(message)", sourceLocation: sourceLocation)
        }
    }

    func edited(_ bytes: [UInt8], _ transform: (String) -> String) -> [UInt8] {
        var n = 0
        for i in 0..<8 { n |= Int(bytes[i]) << (8 * i) }
        let header = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
        var newHeader = Array(transform(header).utf8)
        while newHeader.count % 8 != 0 { newHeader.append(0x20) }
        var out = [UInt8]()
        withUnsafeBytes(of: UInt64(newHeader.count).littleEndian) { out += $0 }
        return out + newHeader + bytes[(8 + n)...]
    }

    @Test("corrupt and truncated files are refused with a clear error")
    func corruptFiles() throws {
        let (_, path, good) = try savedModel("corrupt-source.safetensors")
        defer { unlink(path) }
        try expectRefused([], "shorter than", "empty")
        try expectRefused([1, 2, 3], "shorter than", "tiny")
        try expectRefused(Array(good.prefix(good.count - 5)), "bytes", "truncated-data")
        try expectRefused(Array(good.prefix(40)), "truncated", "truncated-header")
        try expectRefused(good + [0, 0, 0, 0], "cover", "trailing-bytes")
        try expectRefused([255, 255, 255, 255, 255, 255, 255, 255] + good[8...], "implausible", "huge-length")
        try expectRefused(Array("garbage!garbage!garbage!".utf8), "implausible", "garbage")
        try expectRefused(edited(good) { $0.replacingFirst("{", with: "[") }, "JSON", "broken-json")
        try expectRefused(edited(good) { $0.replacingFirst("\"F32\"", with: "\"F64\"") }, "F64", "dtype")
        try expectRefused(edited(good) { $0.replacingFirst("[16,3]", with: "[16,4]") }, "weight_ih_l0", "shape")
        try expectRefused(edited(good) { $0.replacingFirst("\"lstm\"", with: "\"tokenizer\"") }, "tokenizer", "kind")
        try expectRefused(edited(good) { $0.replacingFirst("\"hidden_size\":\"4\"", with: "\"hidden_size\":\"5\"") }, "shape", "hyper")
        try expectRefused(edited(good) { $0.replacingFirst("\"hidden_size\":\"4\"", with: "\"hidden_size\":\"-4\"") }, "hidden_size", "negative")
        // (The sizes are checked before the model is built: the missing tensor is named.)
        try expectRefused(edited(good) { $0.replacingFirst("weight_hh_l1", with: "weight_hh_l9") }, "no tensor \"weight_hh_l1\"", "name")
        // A NaN weight written into the data region.
        var nan = good
        var n = 0
        for i in 0..<8 { n |= Int(good[i]) << (8 * i) }
        withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { for i in 0..<4 { nan[8 + n + i] = $0[i] } }
        try expectRefused(nan, "finite", "nan-weight")
        // Missing file: an I/O error, not a format error.
        #expect(throws: LSTMKitError.io("cannot open /nonexistent/model.safetensors: No such file or directory")) {
            try LSTM.load(from: "/nonexistent/model.safetensors")
        }
    }

    @Test("JSON reader: escapes, unicode, nesting, rejects garbage")
    func json() throws {
        let v = try JSONValue.parse(Array(#"{"a": [1, -2.5e1, true, null], "b": "x\"\u00e9\ud83d\ude00\n"}"#.utf8))
        #expect(v["a"] == .array([.number(1), .number(-25), .bool(true), .null]))
        #expect(v["b"]?.stringValue == "x\"é😀\n")
        #expect(try JSONValue.parse(Array(v.serialized.utf8)) == v)
        for bad in ["", "{", "{\"a\" 1}", "[1,]", "\"abc", "01x", "{\"a\":1}x", String(repeating: "[", count: 100)] {
            #expect(throws: LSTMKitError.self, "\(bad)") { try JSONValue.parse(Array(bad.utf8)) }
        }
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let r = range(of: target) else { return self }
        return replacingCharacters(in: r, with: replacement)
    }
}
