import Foundation
import Testing
@testable import LSTMKit

/// int8 files written by main before the int8 refactor (Tests/Fixtures/golden/int8,
/// `make_int8_golden.c` through the C ABI): they must keep loading through today's
/// loaders, give the recorded outputs (within 1e-5: see `matches`) and save back to the
/// same bytes.
@Suite("int8 golden files")
struct Int8GoldenTests {
    static let dir = TamperedModelFileTests.golden + "/int8"

    static func expected(_ key: String) throws -> [Float] {
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/expected.json"))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try #require(json[key] as? [Double]).map(Float.init)
    }

    /// `got` is the recorded `key`, within 1e-5 (the golden files' tolerance, as
    /// bindings/python/tests/test_golden.py's: the int8 products are exact, the float
    /// parts around them may round otherwise on another CPU or in a later release).
    static func matches(_ got: [Float]?, _ key: String) throws -> Bool {
        let want = try expected(key)
        guard let got, got.count == want.count else { return false }
        return zip(got, want).allSatisfy { abs($0 - $1) <= 1e-5 }
    }

    /// make_int8_golden.c's inputs: x[i] = ((i * 37) % 17 - 8) / 8, (B=2, T=3, D=5), lengths 3, 2.
    static let x = Tensor(shape: [2, 3, 5], data: (0..<30).map { Float((($0 * 37) % 17) - 8) / 8 })

    static func resavesSameBytes(_ name: String, _ save: (String) throws -> Void) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lk-int8-golden-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try save(path)
        #expect(try FileIO.read(path) == (try FileIO.read(dir + "/" + name)), "\(name) saved back differs")
    }

    @Test("LSTM and GRU: load int8 (their own load and the generic one), the recorded outputs, the same bytes",
          arguments: [RecurrentCell.lstm, .gru])
    func recurrent(cell: RecurrentCell) throws {
        let name = "\(cell.rawValue)-int8.safetensors", path = Self.dir + "/" + name
        let own: any RecurrentModelFile = cell == .lstm ? try LSTM.load(from: path) : try GRU.load(from: path)
        for layer in [own, try RecurrentLayerFile.load(from: path)] {
            #expect(layer.isQuantized && layer.cell == cell)
            let out = layer.infer(sequences: Self.x, lengths: [3, 2], initial: nil)
            #expect(try Self.matches(out.y.data, "\(cell.rawValue)_y"))
            #expect(try Self.matches(out.state.h.data, "\(cell.rawValue)_h_n"))
            if cell == .lstm { #expect(try Self.matches(out.state.c?.data, "lstm_c_n")) }
        }
        try Self.resavesSameBytes(name, own.save)
        #expect(throws: LSTMKitError.self) { try own.quantizeLayers() }
    }

    @Test("text classifier: loads int8, the recorded probabilities, the same bytes")
    func textClassifier() throws {
        let model = try TextClassifier.load(from: Self.dir + "/text-en-int8.safetensors")
        #expect(model.isQuantized)
        let texts = ["A three-hour cinema master class.", "Dull, and far too long.",
                     "It's always fascinating to watch Marker the essayist at work."]
        #expect(try Self.matches(model.predictProbabilities(texts).flatMap { $0 }, "text_en_probabilities"))
        try Self.resavesSameBytes("text-en-int8.safetensors") { try model.save(to: $0) }
        #expect(throws: LSTMKitError.self) { try model.quantize() }
    }
}
