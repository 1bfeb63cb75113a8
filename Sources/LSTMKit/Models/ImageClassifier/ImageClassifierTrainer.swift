/// Options of `ImageClassifierTrainer`.
public struct ImageClassifierTrainingOptions: Sendable {
    public var epochs = 15
    public var batchSize = 64
    public var learningRate: Float = 0.001
    public var clipNorm: Float = 5
    /// Stop after this many epochs without a better dev accuracy.
    public var patience = 3
    public var decayFactor: Float = 0.5
    /// Stop after the epoch during which this many seconds of training have passed (nil: no limit).
    public var timeLimit: Double?
    public var seed: UInt64 = 1
    public var threads = 2
    public var logEvery = 200

    public init() {}
}

extension ImageClassifierTrainingOptions: HyperParameterized {
    public static var hyperParameters: [HyperParameter<Self>] {
        [
            .epochs(\.epochs),
            .batchSize(\.batchSize, of: "Images"),
            .learningRate(\.learningRate),
            .clipNorm(\.clipNorm),
            .patience(\.patience, without: "dev accuracy"),
            .decayFactor(\.decayFactor),
            .timeLimit(\.timeLimit),
            .threads(\.threads),
            .logEvery(\.logEvery),
        ]
    }
}

/// The sorted distinct labels: numerically when every label is an integer ("2" before "10").
func sortedLabels(_ labels: [String]) -> [String] {
    let distinct = Array(Set(labels))
    if distinct.allSatisfy({ Int($0) != nil }) { return distinct.sorted { Int($0)! < Int($1)! } }
    return distinct.sorted()
}

/// Fits an ImageClassifier: pixel normalisation from the training images, shuffled
/// batches, Adam, clipping, dropout, learning-rate decay and early stopping on dev
/// accuracy (keeping the best weights), progress lines.
public final class ImageClassifierTrainer {
    public let classifier: ImageClassifier
    public let options: ImageClassifierTrainingOptions
    let trainImages: Tensor
    let trainTargets: [Int32]
    let devImages: Tensor
    let devTargets: [Int]
    var rng: SeededRandom

    /// Images (N, H, W[, C]) or (N, T, H, W, C) as float32; the geometry in `config` is
    /// taken from them. Throws on fewer than 2 classes, a dev label unseen in training,
    /// an empty set, mismatched shapes or a non-finite pixel.
    public init(train: Tensor, trainLabels: [String], dev: Tensor, devLabels: [String],
                config: ImageClassifierConfig, options: ImageClassifierTrainingOptions) throws {
        try options.validate()
        var c = config
        try Self.setGeometry(&c, from: train.shape)   // the geometry from the data, before checking the config
        try c.validate()
        guard let n = train.shape.first, n > 0 else { throw LSTMKitError.invalidArgument("the training set is empty") }
        guard let nd = dev.shape.first, nd > 0 else { throw LSTMKitError.invalidArgument("the dev set is empty") }
        guard trainLabels.count == n else { throw LSTMKitError.sizeMismatch("\(n) training images but \(trainLabels.count) labels") }
        guard devLabels.count == nd else { throw LSTMKitError.sizeMismatch("\(nd) dev images but \(devLabels.count) labels") }
        let labels = sortedLabels(trainLabels)
        guard labels.count >= 2 else {
            throw LSTMKitError.invalidArgument("the training labels hold a single class (\(labels[0])): a classifier needs at least 2")
        }
        let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
        if let unknown = devLabels.first(where: { index[$0] == nil }) {
            throw LSTMKitError.invalidArgument("dev label \"\(unknown)\" does not occur in training (labels: \(labels))")
        }
        if let bad = train.data.firstIndex(where: { !$0.isFinite }) {
            throw LSTMKitError.invalidArgument("training image \(bad / (train.count / n)) holds a NaN or infinite pixel")
        }
        let mean = train.data.reduce(0.0) { $0 + Double($1) } / Double(train.count)
        let variance = train.data.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(train.count)
        c.pixelMean = Float(mean)
        c.pixelStd = variance > 1e-12 ? Float(variance.squareRoot()) : 1
        classifier = try ImageClassifier(config: c, labels: labels)
        _ = try classifier.validate(dev)
        self.options = options
        trainImages = train
        trainTargets = trainLabels.map { Int32(index[$0]!) }
        devImages = dev
        devTargets = devLabels.map { index[$0]! }
        rng = SeededRandom(seed: options.seed)
    }

    /// (N, H, W), (N, H, W, C) or (N, T, H, W, C) → the config's geometry.
    static func setGeometry(_ c: inout ImageClassifierConfig, from shape: [Int]) throws {
        switch shape.count {
        case 3: (c.frames, c.height, c.width, c.channels) = (0, shape[1], shape[2], 1)
        case 4: (c.frames, c.height, c.width, c.channels) = (0, shape[1], shape[2], shape[3])
        case 5:
            guard c.kind == .cnn else {
                throw LSTMKitError.invalidArgument("frame sequences (N, T, H, W, C) need kind cnn; rows reads one image")
            }
            (c.frames, c.height, c.width, c.channels) = (shape[1], shape[2], shape[3], shape[4])
        default:
            throw LSTMKitError.sizeMismatch("images must be (N, H, W), (N, H, W, C) or (N, T, H, W, C), got shape \(shape)")
        }
        guard shape.dropFirst().allSatisfy({ $0 >= 1 }) else {
            throw LSTMKitError.sizeMismatch("images of shape \(shape) have an empty dimension")
        }
    }

    /// Trains; returns the best dev score (its weights are left in `classifier`).
    @discardableResult
    public func run(log: (String) -> Void) throws -> ClassificationScore {
        let parameters = classifier.parameters
        let optimizer = Adam(learningRate: options.learningRate)
        var best: (score: ClassificationScore, values: [[Float]])?
        func restoreBest() { if let best { for (p, v) in zip(parameters, best.values) { p.value = v } } }
        var stale = 0
        let n = trainTargets.count
        let started = now()
        let c = classifier.config
        log("training a \(c.kind.rawValue) image classifier on \(n) examples of \(c.exampleShape), "
            + "\(devTargets.count) dev; \(classifier.labels.count) classes; \(classifier.parameterCount) parameters")
        for epoch in 1...options.epochs where stale < options.patience {
            if let limit = options.timeLimit, best != nil, now() - started >= limit {
                log("time limit of \(whole(limit)) s reached")
                break
            }
            let start = now()
            var lossSum: Double = 0
            var order = Array(0..<n)
            for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            let batches = stride(from: 0, to: n, by: options.batchSize).map { order[$0..<min($0 + options.batchSize, n)] }
            for (i, members) in batches.enumerated() {
                let batch = gather(trainImages, Array(members))
                let loss = try classifier.trainStep(batch, 0..<members.count, targets: members.map { trainTargets[$0] })
                let norm = clipGradientNorm(parameters, maxNorm: options.clipNorm)
                try stopIfDiverged(loss: loss, gradientNorm: norm, epoch: epoch, batch: i + 1, restoreBest: restoreBest)
                optimizer.stepAndZero(parameters)
                lossSum += Double(loss)
                if (i + 1) % options.logEvery == 0 {
                    let seen = (i + 1) * options.batchSize
                    log("epoch \(epoch) batch \(i + 1)/\(batches.count)  loss \(fmt(lossSum / Double(i + 1)))  "
                        + "\(whole(Double(seen) / (now() - start))) images/s")
                }
            }
            let score = try evaluate(devImages, targets: devTargets)
            let improved = best.map { score.accuracy > $0.score.accuracy } ?? true
            log("epoch \(epoch) done in \(whole(now() - start)) s  loss \(fmt(lossSum / Double(max(batches.count, 1))))  "
                + "dev accuracy \(fmt(score.accuracy * 100))  macro-F1 \(fmt(score.macroF1 * 100))\(improved ? "  (best)" : "")")
            if improved {
                best = (score, parameters.map(\.value))
                stale = 0
            } else {
                stale += 1
                optimizer.learningRate *= options.decayFactor
            }
        }
        restoreBest()
        return best!.score
    }

    /// Scores predictions of `images` against label indices.
    public func evaluate(_ images: Tensor, targets: [Int]) throws -> ClassificationScore {
        var score = ClassificationScore(labels: classifier.labels)
        for (p, gold) in zip(try classifier.predictIndices(images, threads: options.threads), targets) {
            score.add(gold: gold, predicted: p)
        }
        return score
    }

    /// The examples at `indices`, as one batch.
    func gather(_ images: Tensor, _ indices: [Int]) -> Tensor {
        let per = images.count / images.shape[0]
        var data = [Float](repeating: 0, count: indices.count * per)
        images.data.withUnsafeBufferPointer { src in
            data.withUnsafeMutableBufferPointer { dst in
                for (row, i) in indices.enumerated() {
                    (dst.baseAddress! + row * per).update(from: src.baseAddress! + i * per, count: per)
                }
            }
        }
        return Tensor(shape: [indices.count] + Array(images.shape.dropFirst()), data: data)
    }
}
