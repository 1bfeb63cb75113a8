import Dispatch
import Foundation
import Testing
@testable import LSTMKit

/// One loaded model of each kind used by several threads at once, each thread itself
/// asking for two worker threads: every answer equals the single-threaded one, bit for
/// bit. .ci/run also runs this suite under ThreadSanitizer (`--sanitize=thread`), which
/// reports any data race the calls have, even one that happens to give the right answer.
@Suite("Shared across threads")
struct SharedAcrossThreadsTests {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/golden").standardized.path

    /// Runs `call` on 4 threads, 3 times each, and checks every result equals `expected`.
    func together<T: Equatable>(_ expected: T, _ call: @escaping @Sendable () throws -> T) {
        let results = ResultSlots<[T]>(count: 4)
        let errors = ResultSlots<[String]>(count: 4)
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            do { results.set(t, try (0..<3).map { _ in try call() }) } catch { errors.set(t, ["\(error)"]) }
        }
        let failures = errors.values.flatMap { $0 }
        #expect(failures.isEmpty, "\(failures)")
        #expect(results.values.allSatisfy { $0 == [T](repeating: expected, count: 3) })
    }

    @Test("tokenizer: cut and cutMany")
    func tokenizer() throws {
        nonisolated(unsafe) let model = try Tokenizer.load(from: Self.golden + "/tokenizer.safetensors")
        let texts = ["我爱北京天安门。", "他说：今天的天气很好，LSTMKit 2024 版发布了。", "  研究生命起源  "]
        together(model.cutMany(texts, threads: 1)) { model.cutMany(texts, threads: 2) }
    }

    @Test("text classifier: probabilities")
    func textClassifier() throws {
        nonisolated(unsafe) let model = try TextClassifier.load(from: Self.golden + "/text-en.safetensors")
        let texts = ["a fine film", "dull and far too long", "the best thing this year", ""]
        together(model.predictProbabilities(texts, threads: 1)) { model.predictProbabilities(texts, threads: 2) }
    }

    @Test("image classifier and segmenter: predictions")
    func images() throws {
        nonisolated(unsafe) let classifier = try ImageClassifier.load(from: Self.golden + "/image-rows.safetensors")
        let images = Tensor(shape: [3] + classifier.config.exampleShape,
                            data: (0..<(3 * classifier.config.exampleShape.reduce(1, *))).map { Float($0 % 251) })
        together(try classifier.predictProbabilities(images, threads: 1)) { try classifier.predictProbabilities(images, threads: 2) }

        nonisolated(unsafe) let segmenter = try ImageSegmenter.load(from: Self.golden + "/segmenter.safetensors")
        let side = segmenter.config.sizeMultiple * 2
        let pictures = Tensor(shape: [2, side, side, segmenter.config.channels],
                              data: (0..<(2 * side * side * segmenter.config.channels)).map { Float($0 % 7) * 30 })
        together(try segmenter.predict(pictures, threads: 1)) { try segmenter.predict(pictures, threads: 2) }
    }

    @Test("LSTM: inference")
    func lstm() throws {
        nonisolated(unsafe) let model = try LSTM.load(from: Self.golden + "/lstm.safetensors")
        let x = Tensor(shape: [2, 5, model.config.inputSize],
                       data: (0..<(10 * model.config.inputSize)).map { sin(Float($0)) })
        let expected = try model.runInference(x).y
        together(expected) { try model.runInference(x).y }
    }
}
