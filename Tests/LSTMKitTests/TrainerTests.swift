import Foundation
import Testing
@testable import LSTMKit
@testable import LSTMKitLayers

/// The one training loop's features, each tested once on a tiny model (the image
/// classifier on 8×8 bars, unless the feature needs another), and checkpoint + resume
/// for every model whose training is deterministic within a process.
@Suite("Trainer")
struct TrainerTests {
    /// A tiny image classifier (kind cnn) on bars, with `options` changed by `change`.
    static func imageTrainer(_ change: (inout ImageClassifierTrainingOptions) -> Void = { _ in }) throws -> ImageClassifierTrainer {
        let (images, labels) = ImageClassifierTests.bars(48, seed: 1)
        let (dev, devLabels) = ImageClassifierTests.bars(16, seed: 2)
        var config = ImageClassifierConfig()
        (config.kind, config.hiddenSize, config.convChannels) = (.cnn, 8, [4])
        var options = ImageClassifierTrainingOptions()
        (options.epochs, options.batchSize, options.threads, options.logEvery, options.learningRate) = (4, 8, 1, 2, 0.01)
        change(&options)
        return try ImageClassifierTrainer(train: images, trainLabels: labels, dev: dev, devLabels: devLabels, config: config, options: options)
    }

    /// Texts whose label a word gives, with a quarter of the labels flipped (so dev
    /// accuracy plateaus and the heads stop at different epochs).
    static func reviews() -> (train: [(String, String)], dev: [(String, String)]) {
        let good = ["great", "wonderful", "superb"], bad = ["awful", "boring", "dreadful"]
        var rng = SeededRandom(seed: 5)
        func example(_ i: Int) -> (String, String) {
            let filler = ["the", "film", "was", "plot", "and", "quite", "story"]
            var t = (0..<5).map { _ in filler[Int(rng.next() % UInt64(filler.count))] }
            let words = i % 2 == 0 ? good : bad
            t.insert(words[Int(rng.next() % UInt64(words.count))], at: Int(rng.next() % 5))
            return (t.joined(separator: " "), (i % 2 == 0) != (rng.next() % 4 == 0) ? "pos" : "neg")
        }
        return ((0..<96).map(example), (0..<32).map(example))
    }

    /// Trains `make()` for `epochs` in one run, and again in two runs (`split` epochs, a
    /// checkpoint, a new trainer resumed from it): the second ends in the same state,
    /// so the checkpoint carried everything (weights, moments, best and average weights,
    /// counters, generators). Alone in a process the two models' files are the same
    /// bytes; here other tests change OpenBLAS's thread count (parallelForEach holds it
    /// at 1), which can move a GEMM's rounding, so the weights compare within 1e-4.
    static func expectResumeIsSeamless<T: TrainingTask>(epochs: Int, split: Int, keep: KeptWeights = .best, _ make: (Int) throws -> T,
                                                        sourceLocation: SourceLocation = #_sourceLocation) throws {
        func run(_ trainer: T, _ path: String) throws { try trainer.loop.run(trainer, keep: keep, checkpointPath: path) { _ in } }
        let path = temporaryPath("resume-\(T.self).ckpt")
        defer { unlink(path) }
        let whole = try make(epochs)
        try run(whole, path)
        let first = try make(split)
        try run(first, path)
        let second = try make(epochs)
        try second.resume(from: path)
        #expect(second.epoch == split, sourceLocation: sourceLocation)
        try run(second, path)
        #expect(second.epoch == whole.epoch, sourceLocation: sourceLocation)
        #expect(second.loop.rng.state == whole.loop.rng.state, sourceLocation: sourceLocation)
        #expect(second.modelGenerators.map(\.state) == whole.modelGenerators.map(\.state), sourceLocation: sourceLocation)
        #expect(second.loop.groups.map(\.optimizer.stepCount) == whole.loop.groups.map(\.optimizer.stepCount), sourceLocation: sourceLocation)
        for (a, b) in zip(second.namedState, whole.namedState) {
            expectClose(a.parameter.value, b.parameter.value, tol: 1e-4, "\(T.self) \(a.name)", sourceLocation: sourceLocation)
        }
    }

    @Test("resume equals the uninterrupted run: tokenizer (with weight averaging)")
    func resumeTokenizer() throws {
        var (config, options, train, dev) = try tinyTraining(maxBatches: 12)
        (options.averageDecay, options.featureDropout, config.embeddingDropout) = (0.9, 0.1, 0.2)
        try Self.expectResumeIsSeamless(epochs: 3, split: 1, { epochs in
            var o = options
            o.epochs = epochs
            return try TokenizerTrainer(train: train, dev: dev, config: config, options: o)
        })
    }

    @Test("resume equals the uninterrupted run: text classifier with n-grams (two parameter groups)")
    func resumeTextClassifier() throws {
        let (train, dev) = Self.reviews()
        var config = TextClassifierConfig()
        (config.embeddingDim, config.hiddenSize, config.attentionSize, config.ngramOrder) = (8, 8, 4, 2)
        var options = TextClassifierTrainingOptions()
        (options.minTokenCount, options.minNgramCount, options.threads, options.batchSize) = (1, 1, 1, 16)
        (options.learningRate, options.patience) = (0.01, 1)
        try Self.expectResumeIsSeamless(epochs: 4, split: 2, { epochs in
            var o = options
            o.epochs = epochs
            return try TextClassifierTrainer(train: train, dev: dev, config: config, options: o)
        })
    }

    @Test("resume equals the uninterrupted run: image classifier")
    func resumeImageClassifier() throws {
        try Self.expectResumeIsSeamless(epochs: 3, split: 1) { epochs in try Self.imageTrainer { $0.epochs = epochs } }
    }

    @Test("a segmenter's checkpoint carries its BatchNorm statistics, best ones included")
    func segmenterCheckpoint() throws {
        let (images, masks) = SegmenterTests.squares(8, seed: 3)
        var config = ImageSegmenterConfig(numClasses: 3)
        (config.encoderChannels, config.hiddenSize) = ([2], 2)
        var options = ImageSegmenterTrainingOptions()
        (options.epochs, options.batchSize, options.threads) = (1, 4, 1)
        let path = temporaryPath("segmenter.ckpt")
        defer { unlink(path) }
        let trainer = try ImageSegmenterTrainer(train: images, trainMasks: masks, dev: images, devMasks: masks, config: config, options: options)
        try trainer.run(checkpointPath: path) { _ in }
        let resumed = try ImageSegmenterTrainer(train: images, trainMasks: masks, dev: images, devMasks: masks, config: config, options: options)
        try resumed.resume(from: path)
        #expect(resumed.segmenter.buffers.map(\.value) == trainer.segmenter.buffers.map(\.value))
        #expect(resumed.loop.groups[0].bestValues! == trainer.loop.groups[0].bestValues!)
        #expect(!trainer.segmenter.buffers.isEmpty && trainer.loop.groups[0].bestValues!.count
                == trainer.segmenter.parameters.count + trainer.segmenter.buffers.count)
    }

    @Test("a checkpoint of another configuration is refused; one written before the generators' states resumes")
    func checkpointFormat() throws {
        let path = temporaryPath("format.ckpt")
        defer { unlink(path) }
        let trainer = try Self.imageTrainer { $0.epochs = 1 }
        try trainer.run(checkpointPath: path) { _ in }
        var bigger = ImageClassifierConfig()
        (bigger.kind, bigger.hiddenSize, bigger.convChannels) = (.cnn, 9, [4])
        let (images, labels) = ImageClassifierTests.bars(48, seed: 1)
        let other = try ImageClassifierTrainer(train: images, trainLabels: labels, dev: images, devLabels: labels,
                                               config: bigger, options: trainer.options)
        #expect(throws: LSTMKitError.invalidArgument("\(path) was trained with another vocabulary or configuration")) {
            try other.resume(from: path)
        }
        #expect(throws: LSTMKitError.self) { try other.resume(from: "/nonexistent/checkpoint") }
        // An earlier version's checkpoint: the best value under checkpoint_best_f1, a seed
        // for the generator, no model generators, no seconds.
        var file = try SafeTensors.read(from: path)
        file.metadata = file.metadata.compactMap { key, value in
            if ["checkpoint_rng_state", "checkpoint_model_rng_state", "checkpoint_seconds"].contains(key) { return nil }
            return (key == "checkpoint_best_score" ? "checkpoint_best_f1" : key, value)
        }
        try file.write(to: path)
        let old = try Self.imageTrainer { $0.epochs = 2 }
        try old.resume(from: path)
        #expect(old.epoch == 1 && old.loop.bestDevValues == trainer.loop.bestDevValues)
        #expect(old.loop.rng.state == SeededRandom(seed: UInt64(file.metadata("checkpoint_rng")!)!).state)
        // A counter that is not a number is refused, and leaves the trainer as it was.
        file.metadata = file.metadata.map { ($0, $0 == "checkpoint_stale_epochs" ? "x" : $1) }
        try file.write(to: path)
        let fresh = try Self.imageTrainer()
        #expect(throws: LSTMKitError.self) { try fresh.resume(from: path) }
        #expect(fresh.epoch == 0 && fresh.loop.groups.allSatisfy { $0.bestValues == nil })
        // So is a NaN weight, before any weight changes.
        file.metadata = file.metadata.map { ($0, $0 == "checkpoint_stale_epochs" ? "0" : $1) }
        let name = fresh.namedState.last!.name
        file.tensors = file.tensors.map { $0.name == name ? .init(name: name, shape: $0.shape, values: $0.values.map { _ in .nan }) : $0 }
        try file.write(to: path)
        let before = fresh.classifier.parameters.map(\.value)
        #expect(throws: LSTMKitError.invalidFormat("\(path): tensor \"\(name)\" holds a NaN or infinite value")) { try fresh.resume(from: path) }
        #expect(fresh.classifier.parameters.map(\.value) == before)
    }

    @Test("keep-best: the model ends with the best epoch's weights, whose score the run reports")
    func keepBest() throws {
        let trainer = try Self.imageTrainer { ($0.epochs, $0.patience, $0.learningRate) = (6, 6, 0.05) }
        var epochs: [EpochReport] = []
        trainer.loop.onProgress = { if case .epoch(let e) = $0 { epochs.append(e) } }
        let best = try trainer.run { _ in }
        #expect(epochs.count == 6)
        #expect(epochs.last?.groups[0].improved == false, "the test wants a last epoch that is not the best")
        #expect(try trainer.evaluate(trainer.devImages, targets: trainer.devTargets) == best)
        #expect(epochs.filter { $0.groups[0].improved }.last?.groups[0].score == best.summary)
    }

    @Test("keep last: exactly the given epochs, no dev score computed, the last weights kept")
    func keepLast() throws {
        // Patience 1 and a rate too small to improve: keep-best would stop after epoch 2.
        func trainer() throws -> DevCounting<ImageClassifierTrainer> {
            DevCounting(try Self.imageTrainer { ($0.epochs, $0.patience, $0.learningRate) = (4, 1, 1e-9) })
        }
        let scoring = try trainer()
        #expect(try scoring.loop.run(scoring) { _ in }.epochs == 2 && scoring.devScorings == 2)   // the counter counts
        let task = try trainer()
        let path = temporaryPath("keep-last.ckpt")
        defer { unlink(path) }
        var lines: [String] = [], epochs: [EpochReport] = []
        task.loop.onProgress = { if case .epoch(let e) = $0 { epochs.append(e) } }
        let report = try task.loop.run(task, keep: .last, checkpointPath: path) { lines.append($0) }
        #expect(task.devScorings == 0)
        #expect(report.epochs == 4 && report.stop == .epochs && report.best.isEmpty)
        #expect(epochs.map(\.epoch) == [1, 2, 3, 4] && epochs.allSatisfy { $0.groups.isEmpty })
        #expect(lines.filter { $0.contains(" done in ") }.allSatisfy { !$0.contains("dev") && $0.contains("  loss ") }, "\(lines)")
        #expect(lines.last == "stopped after epoch 4 (the epochs ran out); the last epoch kept")
        #expect(task.loop.groups[0].optimizer.learningRate == 1e-9 && task.loop.groups[0].bestValues == nil)   // no plateau decay
        // The model holds the last epoch's weights and statistics, as the last checkpoint does.
        let last = try SafeTensors.read(from: path)
        for (name, p) in task.namedState { #expect(last.tensor(name)?.values == p.value, "\(name)") }
    }

    @Test("training steps run with denormals flushed, dev scoring in the caller's mode")
    func denormalsFlushedInSteps() throws {
        let task = DevCounting(try Self.imageTrainer { $0.epochs = 2 })
        try task.loop.run(task) { _ in }
        #expect(!task.stepsFlushed.isEmpty && task.stepsFlushed.allSatisfy { $0 })
        #expect(task.scoringsFlushed == [false, false])
        #expect(!flushesDenormals())
    }

    @Test("keep last with weight averaging keeps the average, as keep-best would")
    func keepLastAverage() throws {
        var (config, options, train, dev) = try tinyTraining(maxBatches: 20)
        (options.averageDecay, options.epochs) = (0.9, 2)
        let task = DevCounting(try TokenizerTrainer(train: train, dev: dev, config: config, options: options))
        try task.loop.run(task, keep: .last) { _ in }
        let average = try #require(task.loop.averageValues)
        #expect(task.devScorings == 0 && task.parameterGroups[0].parameters.map(\.value) == average)
    }

    @Test("patience: a plateau halves the rate per epoch without progress and stops after `patience` of them")
    func patience() throws {
        // A rate too small to change a prediction: no epoch after the first improves.
        let trainer = try Self.imageTrainer { ($0.epochs, $0.patience, $0.learningRate) = (10, 2, 1e-9) }
        var lines: [String] = []
        var rates: [Float] = []
        trainer.loop.onProgress = { if case .epoch(let e) = $0 { rates.append(e.groups[0].learningRate) } }
        let report = try trainer.loop.run(trainer) { lines.append($0) }
        #expect(report.epochs == 3 && report.stop == .patience, "\(lines)")
        #expect(rates == [1e-9, 1e-9, 5e-10])
        #expect(lines.last?.hasPrefix("stopped after epoch 3 (no better dev score within the patience); best dev accuracy") == true, "\(lines)")
    }

    @Test("the time limit ends the epoch under way after a batch, then the dev set is scored")
    func timeLimit() throws {
        let trainer = try Self.imageTrainer { $0.epochs = 50 }
        // Front doors refuse limits below 1 s (the options' table); a test may go below.
        trainer.loop.options.timeLimit = 1e-9
        var lines: [String] = []
        let report = try trainer.loop.run(trainer) { lines.append($0) }
        #expect(report.epochs == 1 && report.stop == .timeLimit)
        #expect(lines.filter { $0.contains(" done in ") }.count == 1, "\(lines)")
        #expect(lines.contains("time limit of 0 s reached after 1 of 6 batches of epoch 1"), "\(lines)")
        #expect(try trainer.evaluate(trainer.devImages, targets: trainer.devTargets) == report.best[0])
    }

    @Test("divergence stops training with an error and leaves the best weights so far")
    func divergence() throws {
        let trainer = try Self.imageTrainer { $0.epochs = 3 }
        // After epoch 1 the rate becomes absurd: epoch 2 diverges. (At 1e30 the loss only
        // reaches 1e30, finite, once denormals flush to zero.)
        trainer.loop.onProgress = { if case .epoch = $0 { trainer.loop.groups[0].optimizer.learningRate = 1e38 } }
        var lines: [String] = []
        DivergenceTests.expectDiverged { try trainer.run { lines.append($0) } }
        #expect(trainer.epoch == 2)
        let best = try #require(trainer.loop.groups[0].bestValues)
        #expect(trainer.classifier.parameters.map(\.value) == best)
        #expect(trainer.classifier.parameters.allSatisfy { $0.value.allSatisfy(\.isFinite) })
    }

    @Test("the progress callback receives every event, and the lines are its formatting")
    func progressCallback() throws {
        let trainer = try Self.imageTrainer { ($0.epochs, $0.logEvery) = (2, 3) }
        var events: [TrainingProgress] = []
        var lines: [String] = []
        trainer.loop.onProgress = { events.append($0) }
        try trainer.run { lines.append($0) }
        #expect(lines.count == events.count + 1)   // the model's own first line
        #expect(Array(lines.dropFirst()) == events.map(\.line))
        let batches = events.compactMap { if case let .batch(epoch, batch, of, _, rates) = $0 { return (epoch, batch, of, rates.map(\.unit)) } else { return nil } }
        #expect(batches.map(\.0) == [1, 1, 2, 2] && batches.map(\.1) == [3, 6, 3, 6] && batches.allSatisfy { $0.2 == 6 && $0.3 == ["images"] })
        guard case .end(let epochs, let stop, let best) = events.last else { Issue.record("no final report"); return }
        #expect(epochs == 2 && stop == .epochs && best.count == 1 && best[0].group == nil)
        #expect(lines[1].hasPrefix("epoch 1 batch 3/6  loss ") && lines[1].hasSuffix(" images/s"))
    }

    @Test("cosine: the rate falls from the initial one to its floor, 0, without an early stop")
    func cosine() throws {
        #expect(LearningRateSchedule.cosineRate(0.002, progress: 0) == 0.002)
        #expect(abs(LearningRateSchedule.cosineRate(0.002, progress: 0.5) - 0.001) < 1e-9)
        #expect(LearningRateSchedule.cosineRate(0.002, progress: 1) < 1e-12)
        #expect(LearningRateSchedule.cosineRate(0.002, progress: 3) == LearningRateSchedule.cosineRate(0.002, progress: 1))
        // patience 1 and a rate too small to improve: the plateau rule would stop after epoch 2.
        let trainer = try Self.imageTrainer { ($0.epochs, $0.batchSize, $0.patience, $0.schedule, $0.learningRate) = (4, 24, 1, .cosine, 1e-9) }
        var rates: [Float] = []
        trainer.loop.onProgress = { if case .epoch(let e) = $0 { rates.append(e.groups[0].learningRate) } }
        let report = try trainer.run { _ in }
        _ = report
        // Each epoch reports the rate of its last batch: progress 1/8, 3/8, 5/8, 7/8 of the cosine.
        let expected = [1.0, 3, 5, 7].map { LearningRateSchedule.cosineRate(1e-9, progress: $0 / 8) }
        #expect(rates == expected, "\(rates) vs \(expected)")
        #expect(trainer.epoch == 4)
    }

    @Test("weight averaging: the average moves by 1 − decay^k; it is scored, kept and resumed")
    func weightAveraging() throws {
        var (config, options, train, dev) = try tinyTraining(maxBatches: 20)
        options.averageDecay = 0.9
        let trainer = try TokenizerTrainer(train: train, dev: dev, config: config, options: options)
        let parameters = trainer.tokenizer.network.parameters
        let w0 = parameters.map(\.value)
        trainer.loop.updateAverage(parameters)
        #expect(trainer.loop.averageValues! == w0)
        for p in parameters { p.value = p.value.map { $0 + 1 } }
        trainer.loop.updateAverage(parameters)
        let keep = Float(pow(0.9, Double(Trainer<SegmentationScore>.averageEvery)))
        for (a, w) in zip(trainer.loop.averageValues!, w0) {
            for (x, y) in zip(a, w) { #expect(abs(x - (y + (1 - keep))) < 1e-5) }
        }
        for (p, w) in zip(parameters, w0) { p.value = w }
        trainer.loop.averageValues = nil
        // Training: the best model is the average (not the trained weights), and a
        // checkpoint carries the average on.
        let path = temporaryPath("average.safetensors")
        defer { unlink(path) }
        try trainer.run(checkpointPath: path, bestPath: nil) { _ in }
        let average = try #require(trainer.loop.averageValues)
        #expect(trainer.loop.groups[0].bestValues! == average)
        #expect(parameters.map(\.value) == average)   // the best weights, restored at the end
        let trained = try SafeTensors.read(from: path)
        let trainedValues = trainer.namedState.map { trained.tensor($0.name)!.values }
        #expect(trainedValues != average)
        options.epochs = 2
        let resumed = try TokenizerTrainer(train: train, dev: dev, config: config, options: options)
        try resumed.resume(from: path)
        #expect(resumed.loop.averageValues! == average && resumed.loop.groups[0].bestValues! == average)
        #expect(resumed.tokenizer.network.parameters.map(\.value) == trainedValues)
    }

    @Test("weight decay: 0 is Adam as before; λ > 0 shrinks each weight by lr·λ before the Adam step, as AdamW")
    func weightDecay() throws {
        /// The weights after one optimizer step (one epoch of one batch; keep-best keeps them).
        func oneStep(_ decay: Float?) throws -> (before: [[Float]], after: [[Float]]) {
            let trainer = try Self.imageTrainer { o in
                (o.epochs, o.maxBatchesPerEpoch) = (1, 1)
                if let decay { o.weightDecay = decay }
            }
            let before = trainer.parameterGroups[0].parameters.map(\.value)
            try trainer.loop.run(trainer) { _ in }
            return (before, trainer.parameterGroups[0].parameters.map(\.value))
        }
        let plain = try oneStep(nil), zero = try oneStep(0), decayed = try oneStep(0.5)
        #expect(zero.after == plain.after && plain.after != plain.before)
        // AdamW: w ← w − lr·λ·w − lr·m̂/(√v̂ + ε); the Adam part is the plain run's step.
        let lr = Float(0.01) * 0.5
        for (w0, (adam, w)) in zip(plain.before, zip(plain.after, decayed.after)) {
            let expected = zip(w0, adam).map { (x, a) in Double(x - lr * x) - Double(x - a) }
            expectClose(w, expected, tol: 1e-5, floor: 1e-4, "AdamW step")
        }
        #expect(zip(plain.after, decayed.after).contains { a, w in zip(a, w).contains { abs($1) < abs($0) } })
    }

    @Test("a model's options read and write the loop's settings as their own; defaults are each model's")
    func options() throws {
        var o = ImageSegmenterTrainingOptions()
        o.epochs = 7
        (o.timeLimit, o.diceWeight) = (60, 1)
        #expect(o.loop.epochs == 7 && o.loop.timeLimit == 60)
        #expect((TokenizerTrainingOptions().epochs, TokenizerTrainingOptions().patience, TokenizerTrainingOptions().logEvery) == (30, 4, 200))
        #expect((TextClassifierTrainingOptions().batchSize, ImageClassifierTrainingOptions().learningRate) == (32, 0.001))
        // Features a model lacked before are off by default for it.
        #expect(TextClassifierTrainingOptions().timeLimit == nil && ImageSegmenterTrainingOptions().averageDecay == 0)
        #expect(ImageClassifierTrainingOptions().schedule == .plateau)
        o.loop.epochs = 0
        #expect(throws: LSTMKitError.invalidArgument("epochs must be in [1, 2147483647], got 0")) { try o.validate() }
        try checkTable(TrainerOptions(epochs: 1, batchSize: 1, learningRate: 1, patience: 1, logEvery: 1))
    }
}

/// `inner`, counting its dev scorings and recording, per step and per scoring, whether
/// it ran with denormals flushed (`flushesDenormals`).
final class DevCounting<T: TrainingTask>: TrainingTask {
    let inner: T
    var devScorings = 0
    var stepsFlushed: [Bool] = [], scoringsFlushed: [Bool] = []

    init(_ inner: T) { self.inner = inner }

    var loop: Trainer<T.Score> { inner.loop }
    var parameterGroups: [ParameterGroup] { inner.parameterGroups }
    var namedState: [(name: String, parameter: Parameter)] { inner.namedState }
    func modelFile() -> SafeTensors { inner.modelFile() }
    var modelGenerators: [SeededRandom] {
        get { inner.modelGenerators }
        set { inner.modelGenerators = newValue }
    }
    var countNames: [String] { inner.countNames }
    func batches(rng: inout SeededRandom) -> [[Int]] { inner.batches(rng: &rng) }
    func trainStep(_ batch: [Int], training: [Bool], rng: inout SeededRandom) throws -> (loss: Float, counts: [Int]) {
        stepsFlushed.append(flushesDenormals())
        return try inner.trainStep(batch, training: training, rng: &rng)
    }
    func stepFloats(_ batch: [Int]) -> Double { inner.stepFloats(batch) }
    func devScores() throws -> [T.Score] {
        devScorings += 1
        scoringsFlushed.append(flushesDenormals())
        return try inner.devScores()
    }
}
