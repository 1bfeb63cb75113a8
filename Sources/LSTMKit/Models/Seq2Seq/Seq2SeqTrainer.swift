import LSTMKitCore
import LSTMKitIO
import LSTMKitLayers

/// Options of `Seq2SeqTrainer`; the loop's settings are `loop`'s.
public struct Seq2SeqTrainingOptions: ModelTrainingOptions, Sendable {
    public var loop: TrainerOptions = {
        var o = TrainerOptions(epochs: 30, batchSize: 32, learningRate: 0.002, patience: 5, logEvery: 100)
        o.decayFactor = 0.5
        return o
    }()
    /// Tokens seen fewer times in the training pairs are UNK (per side).
    public var minCount = 1
    /// Label smoothing ε of the token cross-entropy.
    public var labelSmoothing: Float = 0.1
    /// Without dev pairs, this share of the training pairs (seeded) is held out.
    public var validationFraction: Float = 0.1

    public init() {}

    public static var modelHyperParameters: [HyperParameter<Self>] {
        [
            .int("min_count", \.minCount, 1...1_000_000, "Tokens seen fewer times in the training pairs are unknown (each side)."),
            .float("label_smoothing", \.labelSmoothing, .closedOpen(0, 1), "Label smoothing of the token cross-entropy."),
            .float("validation_fraction", \.validationFraction, .openClosed(0, 0.5), "Without dev pairs, this share of the training pairs is held out as dev."),
        ]
    }
}

/// The dev score: the share of dev sources whose greedy output equals the target
/// exactly (what G2P's word error rate counts), then the share of target tokens right
/// position by position, as a tie-breaker.
public struct Seq2SeqScore: DevScore {
    public let exactMatch: Double
    public let tokenAccuracy: Double
    public let count: Int
    public var value: Double { exactMatch + 1e-3 * tokenAccuracy }
    public var summary: String { "exact \(fmt(100 * exactMatch))  tokens \(fmt(100 * tokenAccuracy))" }

    /// Greedy outputs against targets (ids).
    init(outputs: [[Int32]], targets: [[Int32]]) {
        var exact = 0, right = 0, total = 0
        for (o, t) in zip(outputs, targets) {
            if o == t { exact += 1 }
            right += zip(o, t).filter { $0 == $1 }.count
            total += max(o.count, t.count)
        }
        (exactMatch, tokenAccuracy, count) = (Double(exact) / Double(max(outputs.count, 1)), Double(right) / Double(max(total, 1)), outputs.count)
    }
}

/// Trains a Seq2Seq on (source, target) text pairs on the one training loop: builds both
/// vocabularies from the training pairs, batches pairs of similar source length, and
/// scores the dev pairs by greedy decoding.
public final class Seq2SeqTrainer: TrainingTask {
    public let model: Seq2Seq
    public let options: Seq2SeqTrainingOptions
    public let loop: Trainer<Seq2SeqScore>
    let train: (sources: [[Int32]], targets: [[Int32]])
    let dev: (sources: [[Int32]], targets: [[Int32]])

    /// Throws on mismatched counts, an empty training set or an empty source.
    public init(sources: [String], targets: [String], dev: (sources: [String], targets: [String])? = nil,
                config: Seq2SeqConfig, options: Seq2SeqTrainingOptions) throws {
        try config.validate()
        try options.validate()
        guard sources.count == targets.count else { throw LSTMKitError.sizeMismatch("\(sources.count) sources but \(targets.count) targets") }
        if let dev {
            guard dev.sources.count == dev.targets.count else {
                throw LSTMKitError.sizeMismatch("\(dev.sources.count) dev sources but \(dev.targets.count) dev targets")
            }
            guard !dev.sources.isEmpty else { throw LSTMKitError.invalidArgument("the dev pairs are empty (pass none to hold some out)") }
        }
        func checkSources(_ texts: [String], _ what: String) throws {
            if let i = texts.firstIndex(where: { Seq2SeqVocabulary.split($0, config.sourceTokens).isEmpty }) {
                throw LSTMKitError.invalidArgument("\(what) source \(i) has no token (it is empty or blank)")
            }
        }
        try checkSources(sources, "training")
        if let dev { try checkSources(dev.sources, "dev") }
        // Without dev pairs: a seeded share of the training pairs.
        var kept = Array(sources.indices), held: [Int] = []
        if dev == nil {
            var rng = SeededRandom(seed: options.seed ^ 0x5E25E0)
            kept.shuffle(using: &rng)
            let n = Int((Float(kept.count) * options.validationFraction).rounded())
            guard n >= 1, n < kept.count else {
                throw LSTMKitError.invalidArgument("\(sources.count) training pairs are too few to hold out a dev set: pass dev pairs")
            }
            held = Array(kept.prefix(n)).sorted()
            kept = Array(kept.dropFirst(n)).sorted()
        }
        guard !kept.isEmpty else { throw LSTMKitError.invalidArgument("no training pairs") }
        let source = Seq2SeqVocabulary(mode: config.sourceTokens, texts: kept.map { sources[$0] }, minCount: options.minCount)
        let target = Seq2SeqVocabulary(mode: config.targetTokens, texts: kept.map { targets[$0] }, minCount: options.minCount)
        model = try Seq2Seq(config: config, source: source, target: target)
        train = (kept.map { source.encode(sources[$0]) }, kept.map { target.encode(targets[$0]) })
        if let dev {
            self.dev = (dev.sources.map(source.encode), dev.targets.map(target.encode))
        } else {
            self.dev = (held.map { source.encode(sources[$0]) }, held.map { target.encode(targets[$0]) })
        }
        self.options = options
        loop = Trainer(options: options.loop)
    }

    /// Trains; returns the best dev score (its weights are left in `model`).
    @discardableResult
    public func run(checkpointPath: String? = nil, log: (String) -> Void) throws -> Seq2SeqScore {
        log("training on \(train.sources.count) pairs, \(dev.sources.count) dev; vocabularies \(model.source.count) source, "
            + "\(model.target.count) target tokens; \(model.parameterCount) parameters")
        return try loop.run(self, checkpointPath: checkpointPath, log: log).best[0]
    }

    public var parameterGroups: [ParameterGroup] {
        [ParameterGroup(name: "all", parameters: model.parameters, learningRate: options.learningRate)]
    }

    public var namedState: [(name: String, parameter: Parameter)] { model.namedParameters + model.namedBuffers }

    public func modelFile() -> SafeTensors { model.modelFile() }

    /// The model's masks and the encoder's between its layers, so a resumed run draws the same.
    public var modelGenerators: [SeededRandom] {
        get { model.dropoutGenerators }
        set { model.dropoutGenerators = newValue }
    }

    public var countNames: [String] { ["tokens"] }

    public func batches(rng: inout SeededRandom) -> [[Int]] {
        lengthBucketedBatches(lengths: train.sources.map(\.count), batchSize: options.batchSize, rng: &rng)
    }

    public func stepFloats(_ batch: [Int]) -> Double {
        let ts = batch.map { train.sources[$0].count }.max() ?? 0, tt = (batch.map { train.targets[$0].count }.max() ?? 0) + 1
        return Double(batch.count) * model.config.trainingFloats(sourceSteps: Double(ts), targetSteps: Double(tt),
                                                                targetVocabulary: model.target.count)
    }

    /// Training's copies of the model for the shards after the first (`DataParallel`),
    /// made on first use.
    private var replicas: [Seq2Seq] = []

    /// The batch in up to `threads` shards, at once (DataParallel): shard 0 on the model,
    /// the others on replicas holding its weights, each drawing its dropout masks from a
    /// generator split off the model's (so a run is the same for the same threads; other
    /// thread counts give other masks and roundings).
    public func trainStep(_ batch: [Int], training: [Bool], rng: inout SeededRandom) throws -> (loss: Float, counts: [Int]) {
        let shards = DataParallel.shards(batch, parts: options.threads)
        func pairs(_ shard: [Int]) -> Seq2SeqBatch {
            Seq2SeqBatch(sources: shard.map { train.sources[$0] }, targets: shard.map { train.targets[$0] })
        }
        guard shards.count > 1 else {
            let (loss, tokens) = try model.trainStep(pairs(batch), labelSmoothing: options.labelSmoothing)
            return (loss, [tokens])
        }
        while replicas.count < shards.count - 1 {
            replicas.append(try Seq2Seq(config: model.config, source: model.source, target: model.target))
        }
        let models = [model] + replicas.prefix(shards.count - 1)
        for replica in models.dropFirst() {
            DataParallel.copyValues(from: model.parameters, to: replica.parameters)
            var generators = model.dropoutGenerators
            replica.dropoutGenerators = generators.indices.map { generators[$0].split() }
            model.dropoutGenerators = generators
        }
        let steps = try DataParallel.run(shards.count, threads: shards.count) { k in
            try models[k].trainStep(pairs(shards[k]), labelSmoothing: options.labelSmoothing)
        }
        // Each shard's loss is its tokens' mean: weighted by its share of the tokens.
        let total = Float(steps.map(\.tokens).reduce(0, +))
        let weights = steps.map { Float($0.tokens) / total }
        DataParallel.reduceGradients(into: model.parameters, weight: weights[0],
                                     replicas: zip(models.dropFirst(), weights.dropFirst()).map { ($0.parameters, $1) })
        return (zip(steps, weights).map { $0.loss * $1 }.reduce(0, +), [Int(total)])
    }

    public func devScores() throws -> [Seq2SeqScore] {
        let out = try model.translate(ids: dev.sources, decoding: .greedy, threads: options.threads, batchSize: 64)
        return [Seq2SeqScore(outputs: out.map(\.[0].ids), targets: dev.targets)]
    }
}
