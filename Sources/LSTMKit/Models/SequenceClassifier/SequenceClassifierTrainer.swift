import LSTMKitCore
import LSTMKitIO
import LSTMKitLayers

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
    /// Without dev data, a training set of fewer sequences is refitted: once the members'
    /// runs on their own dev splits have each found a best epoch, every member trains
    /// again from its initial weights on ALL the training sequences for the median of
    /// those epochs (the last epoch kept). A member's dev split of a small set holds a
    /// handful of sequences, too few to pick its weights; the members' splits together
    /// pick an epoch count more steadily, and no sequence is left out of training.
    /// 0: never.
    public var refitBelow = 100

    public init() {}

    public static var modelHyperParameters: [HyperParameter<Self>] {
        [.float("validation_fraction", \.validationFraction, .openClosed(0, 0.5),
                "Without dev data, this share of each class of the training set is held out as dev."),
         .int("refit_below", \.refitBelow, 0...int32Max,
              "Without dev data, fewer training sequences than this: the members train again on all of them for the median of their best dev epochs (0: never).")]
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

/// Fits a SequenceClassifier: each member on the one training loop (`Trainer`), on its
/// own split of the training set (without dev data: a stratified `validationFraction`
/// held out, seeded by `SeededRandom.memberSeed(seed, k)`, so the members together learn from every
/// sequence) or, with dev data, on all of it with its own seed. Small training sets
/// without dev data are then refitted (`refitBelow`).
public final class SequenceClassifierTrainer {
    public let classifier: SequenceClassifier
    public let options: SequenceClassifierTrainingOptions
    /// One training task per member.
    public let tasks: [SequenceClassifierMemberTask]
    /// All the training sequences and their classes, when `run` refits on them (else nil).
    let refitData: (train: Sequences, labels: [Int])?

    /// `labels` are the training sequences' classes; `dev` (sequences and labels) is held
    /// out of training for early stopping. Throws on fewer than 2 classes, a dev label
    /// unseen in training, or dev sequences of another channel count.
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
        var given: (Sequences, [Int])?
        if let (d, dl) = dev {
            guard d.count == dl.count else { throw LSTMKitError.sizeMismatch("\(d.count) dev sequences but \(dl.count) dev labels") }
            guard d.channels == train.channels else {
                throw LSTMKitError.invalidArgument("the dev sequences have \(d.channels) channels, the training sequences \(train.channels)")
            }
            if let unknown = dl.first(where: { index[$0] == nil }) {
                throw LSTMKitError.invalidArgument("dev label \"\(unknown)\" does not occur in training (labels: \(classes))")
            }
            given = (d, dl.map { index[$0]! })
        }
        // Each member's (training, dev) split.
        let splits: [(train: Sequences, labels: [Int], dev: Sequences, devLabels: [Int])] = try (0..<config.members).map { k in
            if let (d, dl) = given { return (train, all, d, dl) }
            let (kept, held) = try stratifiedSplit(all, fraction: options.validationFraction, seed: SeededRandom.memberSeed(options.seed, k))
            return (train.subset(kept), kept.map { all[$0] }, train.subset(held), held.map { all[$0] })
        }
        let scalers = splits.map { ChannelScaler(fittedOn: $0.train, maskMissing: config.missing == .mask) }
        if config.missing == .refuse { for (s, split) in zip(scalers, splits) { try s.check(split.dev) } }
        var config = config
        if config.patchLength == 0 { config.patchLength = max(1, (train.maxLength + 31) / 32) }
        classifier = try SequenceClassifier(config: config, channels: train.channels, labels: classes, scalers: scalers)
        self.options = options
        refitData = dev == nil && train.count < options.refitBelow ? (train, all) : nil
        tasks = zip(classifier.members, splits).enumerated().map { k, pair in
            var o = options
            o.seed = SeededRandom.memberSeed(options.seed, k)
            return SequenceClassifierMemberTask(member: pair.0, train: pair.1.train, labels: pair.1.labels, dev: pair.1.dev,
                                                devLabels: pair.1.devLabels, options: o)
        }
    }

    /// Trains each member in turn, then refits them if the training set is small
    /// (`refitBelow`); returns each one's best dev score on its split (its weights, or the
    /// refitted ones, are left in `classifier`). `onProgress` receives every member's
    /// progress events.
    @discardableResult
    public func run(log: (String) -> Void, onProgress: ((TrainingProgress) -> Void)? = nil) throws -> [SequenceClassificationScore] {
        let first = tasks[0]
        log("training \(tasks.count) member\(tasks.count == 1 ? "" : "s") on \(first.train.count) sequences each, \(first.dev.count) dev; "
            + "\(classifier.labels.count) classes; \(first.train.channels) channels, lengths \(first.train.lengths.min()!)–\(first.train.maxLength), "
            + "read \(classifier.patch) at a time; \(classifier.parameterCount) parameters")
        // Each member's initial weights and generator, for a refit.
        let initial = refitData == nil ? [] : classifier.members.map { m in ((m.parameters + m.buffers).map(\.value), m.dropoutRNG) }
        var bestEpochs: [Int] = []
        let scores = try tasks.enumerated().map { k, task in
            if tasks.count > 1 { log("member \(k + 1) of \(tasks.count)") }
            var bestEpoch = 0
            task.loop.onProgress = { p in
                if case .epoch(let r) = p, r.groups.first?.improved == true { bestEpoch = r.epoch }
                onProgress?(p)
            }
            defer { bestEpochs.append(max(bestEpoch, 1)) }
            return try task.loop.run(task, log: log).best[0]
        }
        guard let (train, labels) = refitData else { return scores }
        let epochs = bestEpochs.sorted()[bestEpochs.count / 2]
        log("refit: fewer than \(options.refitBelow) training sequences, so every member trains again on all \(train.count) of them "
            + "for \(epochs) epochs (the median of the members' best epochs on their dev splits: \(bestEpochs))")
        let scaler = ChannelScaler(fittedOn: train, maskMissing: classifier.config.missing == .mask)
        for (k, (member, start)) in zip(classifier.members, initial).enumerated() {
            if tasks.count > 1 { log("member \(k + 1) of \(tasks.count), refit") }
            for (p, v) in zip(member.parameters + member.buffers, start.0) { p.value = v }
            (member.scaler.mean.value, member.scaler.std.value, member.dropoutRNG) = (scaler.mean.value, scaler.std.value, start.1)
            var o = tasks[k].options
            o.epochs = epochs
            // No dev set: the loop scores nothing and keeps the last epoch.
            let task = SequenceClassifierMemberTask(member: member, train: train, labels: labels, dev: train.subset([]), devLabels: [],
                                                    options: o)
            task.loop.onProgress = onProgress
            try task.loop.run(task, keep: .last, log: log)
        }
        return scores
    }
}

/// One member's training: what the loop asks of the model.
public final class SequenceClassifierMemberTask: TrainingTask {
    public let member: SequenceClassifierMember
    public let options: SequenceClassifierTrainingOptions
    public let loop: Trainer<SequenceClassificationScore>
    let train: Sequences
    let trainLabels: [Int32]
    let dev: Sequences
    let devLabels: [Int]

    init(member: SequenceClassifierMember, train: Sequences, labels: [Int], dev: Sequences, devLabels: [Int],
         options: SequenceClassifierTrainingOptions) {
        (self.member, self.train, self.dev, self.devLabels, self.options) = (member, train, dev, devLabels, options)
        trainLabels = labels.map { Int32($0) }
        loop = Trainer(options: options.loop)
    }

    public var parameterGroups: [ParameterGroup] {
        // The buffers (BatchNorm's running statistics) are kept with the best weights.
        [ParameterGroup(name: "all", parameters: member.parameters, kept: member.buffers, learningRate: options.learningRate)]
    }

    public var namedState: [(name: String, parameter: Parameter)] { member.namedParameters + member.namedBuffers }

    /// (A checkpoint of one member: the full model's file is the classifier's.)
    public func modelFile() -> SafeTensors { SafeTensors(metadata: [], tensors: ModelFile.tensors(of: member)) }

    public var modelGenerators: [SeededRandom] {
        get { [member.dropoutRNG] }
        set { member.dropoutRNG = newValue[0] }
    }

    public var countNames: [String] { ["sequences"] }

    public func batches(rng: inout SeededRandom) -> [[Int]] {
        lengthBucketedBatches(lengths: train.lengths.map { ($0 + member.patch - 1) / member.patch }, batchSize: options.batchSize, rng: &rng)
    }

    public func stepFloats(_ members: [Int]) -> Double {
        let steps = members.map { (train.lengths[$0] + member.patch - 1) / member.patch }.max() ?? 0
        return Double(members.count) * Double(steps)
            * (member.config.trainingFloatsPerStep(features: member.scaler.featureWidth) + member.pooling.trainingFloatsPerStep(steps: steps))
    }

    public func trainStep(_ members: [Int], training: [Bool], rng: inout SeededRandom) throws -> (loss: Float, counts: [Int]) {
        (try member.trainStep(train, members, targets: members.map { trainLabels[$0] }), [members.count])
    }

    public func devScores() throws -> [SequenceClassificationScore] {
        let p = try member.predictWithAttention(dev, threads: options.threads).probabilities
        let loss = zip(p, devLabels).map { -Double(VectorMath.log(max($0[$1], 1e-12))) }.reduce(0, +) / Double(max(dev.count, 1))
        return [SequenceClassificationScore(classification: ClassificationScore(labels: member.labels, probabilities: p, gold: devLabels),
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
