import Testing
@testable import LSTMKit
@testable import LSTMKitLayers

/// Issue 17, item 1: a learning rate the tables allow makes training diverge; each
/// trainer stops with an error instead of trapping on a NaN loss (progress lines, dev
/// scoring).
@Suite("Training that diverges")
struct DivergenceTests {
    static func expectDiverged(_ run: () throws -> Void) {
        do {
            try run()
            Issue.record("training did not report divergence")
        } catch let LSTMKitError.invalidArgument(message) {
            #expect(message.hasPrefix("training diverged at epoch "), "\(message)")
            #expect(message.hasSuffix("; lower the learning rate"), "\(message)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("progress numbers: NaN and infinities print, never trap")
    func progressNumbers() {
        #expect(fmt(.nan) == "nan" && fmt(.infinity) == "inf" && fmt(1.23456) == "1.2346")
        #expect(whole(.nan) == "nan" && whole(-.infinity) == "-inf" && whole(1e300) == "1e+300" && whole(12.7) == "12")
    }

    @Test("diverged_training_tokenizer: learning rate 1e9 throws")
    func tokenizer() throws {
        var (config, options, train, dev) = try tinyTraining(maxBatches: 4)
        (options.learningRate, options.epochs, options.logEvery) = (1e9, 3, 1)
        let trainer = try TokenizerTrainer(train: train, dev: dev, config: config, options: options)
        Self.expectDiverged { try trainer.run(checkpointPath: nil, bestPath: nil) { _ in } }
    }

    @Test("a tokenizer whose weights are NaN segments (one character a word) rather than trapping")
    func nanTokenizer() throws {
        let (config, options, train, dev) = try tinyTraining(maxBatches: 1)
        let tokenizer = try TokenizerTrainer(train: train, dev: dev, config: config, options: options).tokenizer
        for p in tokenizer.network.parameters { p.value = [Float](repeating: .nan, count: p.count) }
        #expect(tokenizer.cut("我爱北京") == ["我", "爱", "北", "京"])
    }

    @Test("diverged_training_text_classifier: learning rate 1e30 throws", arguments: [0, 2])
    func textClassifier(ngramOrder: Int) throws {
        let data = (0..<40).map { i in i % 2 == 0 ? ("good fine nice \(i)", "pos") : ("bad awful poor \(i)", "neg") }
        var config = TextClassifierConfig()
        (config.embeddingDim, config.hiddenSize, config.attentionSize, config.ngramOrder) = (8, 8, 4, ngramOrder)
        var options = TextClassifierTrainingOptions()
        (options.learningRate, options.ngramLearningRate, options.epochs, options.batchSize) = (1e30, 1e30, 5, 8)
        (options.minTokenCount, options.minNgramCount, options.threads, options.logEvery) = (1, 1, 1, 1)
        let trainer = try TextClassifierTrainer(train: data, dev: data, config: config, options: options)
        Self.expectDiverged { try trainer.run { _ in } }
    }

    /// (At 1e30 it saturates instead, as kind rows does: losses near 1e30 but finite, no
    /// divergence to report, once training flushes denormals to zero.)
    @Test("diverged_training_image_classifier: learning rate 1e38 throws")
    func imageClassifier() throws {
        let (images, labels) = ImageClassifierTests.bars(32, seed: 1)
        var config = ImageClassifierConfig()
        (config.kind, config.hiddenSize, config.convChannels) = (.cnn, 8, [4])
        var options = ImageClassifierTrainingOptions()
        (options.learningRate, options.epochs, options.batchSize, options.threads, options.logEvery) = (1e38, 5, 8, 1, 1)
        let trainer = try ImageClassifierTrainer(train: images, trainLabels: labels, dev: images, devLabels: labels,
                                                 config: config, options: options)
        Self.expectDiverged { try trainer.run { _ in } }
    }

    @Test("diverged_training_image_segmenter: learning rate 1e30 throws")
    func imageSegmenter() throws {
        let (images, masks) = SegmenterTests.squares(16, seed: 3)
        var config = ImageSegmenterConfig(numClasses: 3)
        (config.encoderChannels, config.hiddenSize) = ([2], 2)
        var options = ImageSegmenterTrainingOptions()
        (options.learningRate, options.epochs, options.batchSize, options.threads, options.logEvery) = (1e30, 5, 4, 1, 1)
        let trainer = try ImageSegmenterTrainer(train: images, trainMasks: masks, dev: images, devMasks: masks,
                                                config: config, options: options)
        Self.expectDiverged { try trainer.run { _ in } }
    }
}
