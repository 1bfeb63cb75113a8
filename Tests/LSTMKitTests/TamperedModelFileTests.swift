import Foundation
import Testing
@testable import LSTMKit
@testable import LSTMKitLayers

/// Issue 17, item 8: model files whose metadata was hand-edited (sizes within or beyond
/// the hyper-parameters' bounds) are refused before the model is built: quickly, with a
/// message naming the key, never an abort allocating gigabytes.
@Suite("Tampered model files")
struct TamperedModelFileTests {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/golden").path

    /// The golden file `name` with `changes` to its metadata, built by `load`: must fail
    /// with INVALID_FORMAT naming `key`, in well under a second.
    static func expectRefused<T>(_ name: String, _ changes: [String: String], key: String,
                                 _ load: (SafeTensors) throws -> T) throws {
        var file = try SafeTensors.read(from: golden + "/" + name)
        file.metadata = file.metadata.map { ($0, changes[$0] ?? $1) }
        let start = now()
        do {
            _ = try load(file)
            Issue.record("\(name) with \(changes) was accepted")
        } catch let LSTMKitError.invalidFormat(message) {
            #expect(message.contains("\"\(key)\"") || message.contains("\(key) must be"), "\(message)")
        }
        #expect(now() - start < 1, "\(name) with \(changes): \(now() - start) s")
    }

    @Test("tampered_text_classifier: embedding_dim, attention_size, bigram_dim, hidden_size, num_layers")
    func textClassifier() throws {
        for (key, value) in [("embedding_dim", "2147483647"), ("embedding_dim", "4096"), ("attention_size", "2147483647"),
                             ("attention_size", "4096"), ("bigram_dim", "2147483647"), ("bigram_dim", "4096"),
                             ("hidden_size", "4096"), ("num_layers", "8")] {
            try Self.expectRefused("text-en.safetensors", [key: value], key: key) { try TextClassifier(modelFile: $0) }
        }
    }

    @Test("tampered_tokenizer: character_dim, bigram_dim, hidden_size; an ensemble member's")
    func tokenizer() throws {
        for (key, value) in [("character_dim", "2147483647"), ("character_dim", "4096"), ("bigram_dim", "2147483647"),
                             ("bigram_dim", "4096"), ("hidden_size", "4096")] {
            try Self.expectRefused("tokenizer.safetensors", [key: value], key: key == "character_dim" && value.count > 4 ? "char_dim" : key) {
                try Tokenizer(modelFile: $0)
            }
        }
        try Self.expectRefused("tokenizer-ensemble.safetensors", ["member1.character_dim": "4096"], key: "character_dim") {
            try Tokenizer(modelFile: $0)
        }
    }

    @Test("tampered_image_segmenter: six encoder channels of 4096, hidden_size, num_classes")
    func imageSegmenter() throws {
        for (key, value) in [("encoder_channels", "4096,4096,4096,4096,4096,4096"), ("encoder_channels", "4096,4096"),
                             ("hidden_size", "4096"), ("num_classes", "4096")] {
            try Self.expectRefused("segmenter.safetensors", [key: value], key: key) { try ImageSegmenter(modelFile: $0) }
        }
    }

    @Test("tampered_image_classifier: conv_channels, hidden_size and num_layers, width")
    func imageClassifier() throws {
        try Self.expectRefused("image-cnn.safetensors", ["conv_channels": "4096,4096"], key: "conv_channels") { try ImageClassifier(modelFile: $0) }
        try Self.expectRefused("image-rows.safetensors", ["hidden_size": "4096"], key: "hidden_size") { try ImageClassifier(modelFile: $0) }
        try Self.expectRefused("image-rows.safetensors", ["num_layers": "8"], key: "num_layers") { try ImageClassifier(modelFile: $0) }
        try Self.expectRefused("image-rows.safetensors", ["width": "4096"], key: "width") { try ImageClassifier(modelFile: $0) }
    }

    @Test("tampered_lstm: input_size, hidden_size, num_layers")
    func lstm() throws {
        for key in ["input_size", "hidden_size"] {
            try Self.expectRefused("lstm.safetensors", [key: "4096"], key: key) { try LSTM(modelFile: $0) }
        }
        try Self.expectRefused("lstm.safetensors", ["num_layers": "3"], key: "num_layers") { try LSTM(modelFile: $0) }
    }

    @Test("the golden files still load")
    func goldenLoads() throws {
        _ = try TextClassifier(modelFile: SafeTensors.read(from: Self.golden + "/text-en.safetensors"))
        _ = try TextClassifier(modelFile: SafeTensors.read(from: Self.golden + "/text-zh-ngrams.safetensors"))
        _ = try Tokenizer(modelFile: SafeTensors.read(from: Self.golden + "/tokenizer-ensemble.safetensors"))
        _ = try ImageSegmenter(modelFile: SafeTensors.read(from: Self.golden + "/segmenter.safetensors"))
        _ = try ImageClassifier(modelFile: SafeTensors.read(from: Self.golden + "/image-rows.safetensors"))
        _ = try ImageClassifier(modelFile: SafeTensors.read(from: Self.golden + "/image-cnn.safetensors"))
        _ = try LSTM(modelFile: SafeTensors.read(from: Self.golden + "/lstm.safetensors"))
    }
}
