import LSTMKitCore
import LSTMKitIO
import LSTMKitLayers

/// Options of `ImageClassifierTrainer`: the loop's settings (patience on dev accuracy,
/// a time limit...) are `loop`'s; the images need no others.
public struct ImageClassifierTrainingOptions: ModelTrainingOptions, Sendable {
    public var loop = TrainerOptions(epochs: 15, batchSize: 64, learningRate: 0.001, patience: 3, logEvery: 200)

    public init() {}

    public static var modelHyperParameters: [HyperParameter<Self>] { [] }
}

/// The sorted distinct labels: numerically when every label is an integer ("2" before "10").
func sortedLabels(_ labels: [String]) -> [String] {
    let distinct = Array(Set(labels))
    if distinct.allSatisfy({ Int($0) != nil }) { return distinct.sorted { Int($0)! < Int($1)! } }
    return distinct.sorted()
}

/// Fits an ImageClassifier on the one training loop (`Trainer`): pixel normalisation
/// from the training images, shuffled batches, dev accuracy.
public final class ImageClassifierTrainer: TrainingTask {
    public let classifier: ImageClassifier
    public let options: ImageClassifierTrainingOptions
    public let loop: Trainer<ClassificationScore>
    let trainImages: Tensor
    let trainTargets: [Int32]
    let devImages: Tensor
    let devTargets: [Int]

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
        loop = Trainer(options: options.loop)
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

    /// Trains (writing `checkpointPath` after every epoch, if given); returns the best
    /// dev score (its weights are left in `classifier`).
    @discardableResult
    public func run(checkpointPath: String? = nil, log: (String) -> Void) throws -> ClassificationScore {
        let c = classifier.config
        log("training a \(c.kind.rawValue) image classifier on \(trainTargets.count) examples of \(c.exampleShape), "
            + "\(devTargets.count) dev; \(classifier.labels.count) classes; \(classifier.parameterCount) parameters")
        return try loop.run(self, checkpointPath: checkpointPath, log: log).best[0]
    }

    // MARK: What the loop asks of the model

    public var parameterGroups: [ParameterGroup] {
        [ParameterGroup(name: "network", parameters: classifier.parameters, learningRate: options.learningRate)]
    }

    public var namedState: [(name: String, parameter: Parameter)] { classifier.namedParameters }

    public func modelFile() -> SafeTensors { classifier.modelFile() }

    public var modelGenerators: [SeededRandom] {
        get { [classifier.dropoutRNG] }
        set { classifier.dropoutRNG = newValue[0] }
    }

    public var countNames: [String] { ["images"] }

    public func batches(rng: inout SeededRandom) -> [[Int]] {
        shuffledBatches(count: trainTargets.count, batchSize: options.batchSize, rng: &rng)
    }

    public func stepFloats(_ members: [Int]) -> Double { Double(members.count) * classifier.config.trainingFloatsPerImage }

    public func trainStep(_ members: [Int], training: [Bool], rng: inout SeededRandom) throws -> (loss: Float, counts: [Int]) {
        let loss = try classifier.trainStep(gather(trainImages, members), 0..<members.count, targets: members.map { trainTargets[$0] })
        return (loss, [members.count])
    }

    public func devScores() throws -> [ClassificationScore] { [try evaluate(devImages, targets: devTargets)] }

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
