/// Options of `SequenceClassifierTrainer`; the loop's settings (patience on dev accuracy...)
/// are `loop`'s.
public struct SequenceClassifierTrainingOptions: ModelTrainingOptions, Sendable {
    /// No learning-rate decay and a patience of 30 epochs: on the small UCR/UEA training
    /// sets (a few batches an epoch) halving the rate after each stale epoch stopped
    /// learning before it had started (mean dev accuracy 0.60 against 0.91).
    public var loop: TrainerOptions = {
        var o = TrainerOptions(epochs: 200, batchSize: 16, learningRate: 0.003, patience: 30, logEvery: 50)
        o.decayFactor = 1
        return o
    }()
    /// Without dev data, this share of the training set (per class, seeded) is held out.
    public var validationFraction: Float = 0.2

    public init() {}

    public static var modelHyperParameters: [HyperParameter<Self>] {
        [.float("validation_fraction", \.validationFraction, .openClosed(0, 0.5),
                "Without dev data, this share of each class of the training set is held out as dev.")]
    }
}

/// A dev score that prefers, at equal accuracy, the lower dev loss: small dev sets give
/// many ties, and the loss picks the more confident of those epochs.
public struct SequenceClassificationScore: DevScore {
    public let classification: ClassificationScore
    /// Mean cross-entropy on dev.
    public let loss: Double
    public var value: Double { classification.accuracy - 1e-4 * min(loss, 10) }
    public var summary: String { classification.summary + "  loss \(fmt(loss))" }
}

/// Fits a SequenceClassifier on the one training loop (`Trainer`): the scaler fitted on
/// the training sequences, batches of similar length, dev accuracy (ties broken by dev loss).
public final class SequenceClassifierTrainer: TrainingTask {
    public let classifier: SequenceClassifier
    public let options: SequenceClassifierTrainingOptions
    public let loop: Trainer<SequenceClassificationScore>
    let train: Sequences
    let trainLabels: [Int32]
    let dev: Sequences
    let devLabels: [Int]

    /// `labels` are the training sequences' classes; `dev` (sequences and labels) is held
    /// out of training for early stopping — without it a stratified, seeded
    /// `validationFraction` of the training set is. Throws on fewer than 2 classes, a dev
    /// label unseen in training, or dev sequences of another channel count.
    public init(train: Sequences, labels: [String], dev: (Sequences, [String])? = nil,
                config: SequenceClassifierConfig, options: SequenceClassifierTrainingOptions) throws {
        try config.validate()
        try options.validate()
        guard train.count == labels.count else { throw LSTMKitError.sizeMismatch("\(train.count) sequences but \(labels.count) labels") }
        let classes = Array(Set(labels)).sorted()
        guard classes.count >= 2 else {
            throw LSTMKitError.invalidArgument("the training labels hold a single class (\(classes.first ?? "none")): a classifier needs at least 2")
        }
        let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let all = labels.map { index[$0]! }
        var trainPart = train, trainIndices = all, devPart: Sequences, devIndices: [Int]
        if let (d, dl) = dev {
            guard d.count == dl.count else { throw LSTMKitError.sizeMismatch("\(d.count) dev sequences but \(dl.count) dev labels") }
            guard d.channels == train.channels else {
                throw LSTMKitError.invalidArgument("the dev sequences have \(d.channels) channels, the training sequences \(train.channels)")
            }
            if let unknown = dl.first(where: { index[$0] == nil }) {
                throw LSTMKitError.invalidArgument("dev label \"\(unknown)\" does not occur in training (labels: \(classes))")
            }
            (devPart, devIndices) = (d, dl.map { index[$0]! })
        } else {
            let (kept, held) = try stratifiedSplit(all, fraction: options.validationFraction, seed: options.seed)
            (trainPart, trainIndices) = (train.subset(kept), kept.map { all[$0] })
            (devPart, devIndices) = (train.subset(held), held.map { all[$0] })
        }
        let scaler = ChannelScaler(fittedOn: trainPart, maskMissing: config.missing == .mask)
        var config = config
        if config.patchLength == 0 { config.patchLength = max(1, (train.maxLength + 31) / 32) }
        classifier = try SequenceClassifier(config: config, channels: train.channels, labels: classes, scaler: scaler)
        if config.missing == .refuse { try scaler.check(devPart) }
        self.options = options
        self.train = trainPart
        trainLabels = trainIndices.map { Int32($0) }
        self.dev = devPart
        devLabels = devIndices
        loop = Trainer(options: options.loop)
    }

    /// Trains (writing `checkpointPath` after every epoch, if given); returns the best
    /// dev score (its weights are left in `classifier`).
    @discardableResult
    public func run(checkpointPath: String? = nil, log: (String) -> Void) throws -> SequenceClassificationScore {
        log("training on \(train.count) sequences, \(dev.count) dev; \(classifier.labels.count) classes; \(train.channels) channels, "
            + "lengths \(train.lengths.min()!)–\(train.maxLength), read \(classifier.patch) at a time; \(classifier.parameterCount) parameters")
        return try loop.run(self, checkpointPath: checkpointPath, log: log).best[0]
    }

    // MARK: What the loop asks of the model

    public var parameterGroups: [ParameterGroup] {
        [ParameterGroup(name: "all", parameters: classifier.parameters, learningRate: options.learningRate)]
    }

    public var namedState: [(name: String, parameter: Parameter)] { classifier.namedParameters + classifier.namedBuffers }

    public func modelFile() -> SafeTensors { classifier.modelFile() }

    public var modelGenerators: [SeededRandom] {
        get { [classifier.dropoutRNG] }
        set { classifier.dropoutRNG = newValue[0] }
    }

    public var countNames: [String] { ["sequences"] }

    public func batches(rng: inout SeededRandom) -> [[Int]] {
        lengthBucketedBatches(lengths: train.lengths.map { ($0 + classifier.patch - 1) / classifier.patch }, batchSize: options.batchSize, rng: &rng)
    }

    public func trainStep(_ members: [Int], training: [Bool], rng: inout SeededRandom) throws -> (loss: Float, counts: [Int]) {
        (try classifier.trainStep(train, members, targets: members.map { trainLabels[$0] }), [members.count])
    }

    public func devScores() throws -> [SequenceClassificationScore] {
        let p = try classifier.predictProbabilities(dev, threads: options.threads)
        let loss = zip(p, devLabels).map { -Double(VectorMath.log(max($0[$1], 1e-12))) }.reduce(0, +) / Double(max(dev.count, 1))
        return [SequenceClassificationScore(classification: ClassificationScore(labels: classifier.labels, probabilities: p, gold: devLabels),
                                            loss: loss)]
    }
}

/// (kept, held out) indices: `fraction` of each class's examples (rounded, at least one
/// of a class with 2 or more, never its last) held out, chosen by a generator seeded by `seed`.
func stratifiedSplit(_ classes: [Int], fraction: Float, seed: UInt64) throws -> (kept: [Int], heldOut: [Int]) {
    var rng = SeededRandom(seed: seed ^ 0x5EC5)
    var kept: [Int] = [], held: [Int] = []
    for c in Set(classes).sorted() {
        var members = classes.indices.filter { classes[$0] == c }
        for i in stride(from: members.count - 1, to: 0, by: -1) { members.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        let n = members.count < 2 ? 0 : min(members.count - 1, max(1, Int((Float(members.count) * fraction).rounded())))
        held += members.prefix(n)
        kept += members.dropFirst(n)
    }
    guard !held.isEmpty else { throw LSTMKitError.invalidArgument("the training set is too small to hold out a dev set: pass dev data") }
    return (kept.sorted(), held.sorted())
}
