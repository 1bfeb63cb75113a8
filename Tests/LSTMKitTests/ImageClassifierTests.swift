import Foundation
import Testing
@testable import LSTMKit
@testable import LSTMKitLayers

@Suite("Image classifier")
struct ImageClassifierTests {
    struct Case: CustomStringConvertible, Sendable {
        var kind: ImageClassifierKind
        var frames = 0
        var columns = false
        var pooling: SequencePoolingKind = .last
        var layers = 1
        var description: String { "\(kind) frames \(frames) columns \(columns) \(pooling) layers \(layers)" }
    }

    static let cases: [Case] = [
        Case(kind: .rows, columns: true, pooling: .last, layers: 2),
        Case(kind: .rows, pooling: .attention),
        Case(kind: .cnn, pooling: .mean),
        Case(kind: .cnn, frames: 3, pooling: .last),
    ]

    func tiny(_ c: Case) throws -> (ImageClassifier, Tensor) {
        var config = ImageClassifierConfig()
        config.kind = c.kind
        config.frames = c.frames
        config.columns = c.columns
        config.pooling = c.pooling
        config.numLayers = c.layers
        config.hiddenSize = 3
        config.attentionSize = 3
        config.convChannels = [2, 3]
        config.dropout = 0
        (config.height, config.width, config.channels) = c.kind == .cnn ? (5, 6, 2) : (4, 3, 2)
        config.pixelMean = 0.1
        config.pixelStd = 0.9
        let model = try ImageClassifier(config: config, labels: ["a", "b", "c"])
        let images = randomTensor([3] + config.exampleShape, seed: 7)
        return (model, images)
    }

    @Test("every gradient of a training step matches finite differences", arguments: cases)
    func gradients(_ c: Case) throws {
        let (model, images) = try tiny(c)
        let targets: [Int32] = [2, 0, 1]
        model.zeroGrad()
        _ = try model.trainStep(images, 0..<3, targets: targets)
        let analytic = model.parameters.map(\.grad)
        func loss() -> Double {
            let l = try! model.trainStep(images, 0..<3, targets: targets)
            model.zeroGrad()
            return Double(l)
        }
        for (p, g) in zip(model.parameters, analytic) {
            let saved = p.value
            // Max-pool and ReLU are piecewise linear: a small step keeps their choices in place.
            let step: Float = c.kind == .cnn ? 1e-3 : 1e-2
            let numeric = numericGradient(saved, h: step) { v in p.value = v; defer { p.value = saved }; return loss() }
            expectClose(g, numeric, tol: c.kind == .cnn ? 2e-2 : 5e-3, floor: 1e-2, "d\(p.name) (\(c))")
        }
    }

    @Test("rows ↔ columns and feature-map ↔ sequence rearrangements are adjoint pairs")
    func rearrangements() throws {
        let rows = randomTensor([2, 4, 3 * 2], seed: 3)
        let cols = ImageClassifier.columns(of: rows, channels: 2)
        #expect(cols.shape == [2, 3, 4 * 2])
        #expect(ImageClassifier.rows(ofColumns: cols, channels: 2) == rows)
        // pixel (b=1, y=2, x=1, c=1) is column 1, step entry y*C + c
        let fromColumns: Float = cols.data[((1 * 3 + 1) * 4 + 2) * 2 + 1]
        let fromRows: Float = rows.data[((1 * 4 + 2) * 3 + 1) * 2 + 1]
        #expect(fromColumns == fromRows)
        let (model, _) = try tiny(Case(kind: .cnn))
        let f = randomTensor([2, 3, 2, 4], seed: 4)
        let seq = model.sequence(fromFeatures: f, batch: 2)
        #expect(seq.shape == [2, 2, 3 * 4])
        #expect(model.features(fromSequenceGrad: seq, featureShape: f.shape) == f)
    }

    /// 8×8 images of one horizontal or vertical bar (or a diagonal), with noise.
    static func bars(_ n: Int, seed: UInt64) -> (Tensor, [String]) {
        var rng = SeededRandom(seed: seed)
        var data = [Float](repeating: 0, count: n * 64)
        var labels: [String] = []
        for i in 0..<n {
            let kind = Int(rng.next() % 3), at = Int(rng.next() % 8)
            for y in 0..<8 {
                for x in 0..<8 {
                    let on = kind == 0 ? y == at : kind == 1 ? x == at : x == y
                    data[i * 64 + y * 8 + x] = (on ? 200 : 20) + rng.uniform(-30, 30)
                }
            }
            labels.append(["horizontal", "vertical", "diagonal"][kind])
        }
        return (Tensor(shape: [n, 8, 8], data: data), labels)
    }

    @Test("learns bars, kind rows and cnn; the saved model predicts identically", arguments: [ImageClassifierKind.rows, .cnn])
    func learns(_ kind: ImageClassifierKind) throws {
        let (train, trainLabels) = Self.bars(600, seed: 1)
        let (test, testLabels) = Self.bars(200, seed: 2)
        var config = ImageClassifierConfig()
        config.kind = kind
        config.hiddenSize = 16
        config.convChannels = [4, 8]
        var options = ImageClassifierTrainingOptions()
        options.epochs = 6
        options.batchSize = 16
        options.learningRate = 0.01
        options.threads = 1
        let trainer = try ImageClassifierTrainer(train: train, trainLabels: trainLabels, dev: test, devLabels: testLabels,
                                                 config: config, options: options)
        try trainer.run { _ in }
        let model = trainer.classifier
        #expect(model.labels == ["diagonal", "horizontal", "vertical"])
        #expect(model.config.height == 8 && model.config.width == 8 && model.config.channels == 1)
        let score = try model.evaluate(test, labels: testLabels)
        #expect(score.accuracy > 0.9, "test accuracy \(score.accuracy)")
        let path = NSTemporaryDirectory() + "lstmkit-image-\(kind)-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try model.save(to: path)
        let loaded = try ImageClassifier.load(from: path)
        #expect(loaded.config == model.config)
        // Bit-exact at equal settings; OpenBLAS's rounding depends on its thread count,
        // which parallel prediction pins to 1, so across settings only close.
        let parallel = try model.predictProbabilities(test, threads: 2)
        #expect(try loaded.predictProbabilities(test, threads: 2) == parallel)
        expectClose(parallel.data, try model.predictProbabilities(test).data, tol: 1e-5, "1 vs 2 threads")
    }

    @Test("bad input: wrong shape, NaN, a single class, unknown labels, too small for the CNN, another model kind")
    func badInput() throws {
        let (train, labels) = Self.bars(20, seed: 3)
        let options = ImageClassifierTrainingOptions()
        func trainerError(_ images: Tensor, _ labels: [String], kind: ImageClassifierKind = .rows) -> String {
            var config = ImageClassifierConfig()
            config.kind = kind
            do {
                _ = try ImageClassifierTrainer(train: images, trainLabels: labels, dev: train, devLabels: Self.bars(20, seed: 3).1,
                                               config: config, options: options)
                return ""
            } catch let e as LSTMKitError { return e.message } catch { return "\(error)" }
        }
        #expect(trainerError(train, [String](repeating: "x", count: 20)).contains("single class"))
        var nan = train
        nan.data[64 * 5 + 3] = .nan
        #expect(trainerError(nan, labels).contains("training image 5 holds a NaN"))
        #expect(trainerError(train, Array(labels.dropLast())).contains("20 training images but 19 labels"))
        #expect(trainerError(Tensor(shape: [20, 3, 3], data: [Float](repeating: 0, count: 180)), labels, kind: .cnn)
            .contains("the minimum is 4×4"))

        var config = ImageClassifierConfig()
        (config.height, config.width) = (8, 8)
        let model = try ImageClassifier(config: config, labels: ["a", "b"])
        #expect(throws: LSTMKitError.self) { try model.predictProbabilities(randomTensor([2, 8, 7], seed: 1)) }
        #expect(throws: LSTMKitError.self) { try model.predictProbabilities(nan) }
        #expect(throws: LSTMKitError.self) { try model.evaluate(train, labels: labels) }   // labels unknown to the model
        #expect(try model.predictProbabilities(Tensor(shape: [0, 8, 8], data: [])).shape == [0, 2])

        let path = NSTemporaryDirectory() + "lstmkit-image-kind-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try LSTM(LSTMConfig(inputSize: 2, hiddenSize: 2)).save(to: path)
        do {
            _ = try ImageClassifier.load(from: path)
            Issue.record("an LSTM file loaded as an image classifier")
        } catch let e as LSTMKitError {
            #expect(e.message.contains("image_classifier") && e.message.contains("lstm"), "\(e.message)")
        }
    }

    @Test("convolutions in many small groups equal one large group")
    func convolutionGroups() {
        var rng = SeededRandom(seed: 5)
        let conv = Conv2D(2, 3, kernel: (3, 3), padding: (1, 1), rng: &rng)
        let x = randomTensor([5, 2, 6, 7], seed: 6)
        let dy = randomTensor([5, 3, 6, 7], seed: 8)
        let y = conv.forward(x)
        let dx = conv.backward(x, outputGrad: dy)
        let dW = conv.weight.grad
        conv.zeroGrad()
        let saved = Conv2D.columnBudget
        Conv2D.columnBudget = 1   // one image per group
        defer { Conv2D.columnBudget = saved }
        #expect(conv.forward(x) == y)
        #expect(conv.backward(x, outputGrad: dy) == dx)
        expectClose(conv.weight.grad, dW, tol: 1e-5, "dW")
    }
}
