import LSTMKitCore
import LSTMKitIO
import LSTMKitLayers

/// Accuracy, macro-F1 and the confusion matrix of predictions against labels.
public struct ClassificationScore: Equatable, Sendable {
    public let labels: [String]
    /// confusion[gold][predicted]
    public private(set) var confusion: [[Int]]

    public init(labels: [String]) {
        self.labels = labels
        confusion = [[Int]](repeating: [Int](repeating: 0, count: labels.count), count: labels.count)
    }

    public mutating func add(gold: Int, predicted: Int) { confusion[gold][predicted] += 1 }

    /// Scores rows of class probabilities (the most probable class is the prediction)
    /// against gold class indices.
    init(labels: [String], probabilities: [[Float]], gold: [Int]) {
        self.init(labels: labels)
        for (p, g) in zip(probabilities, gold) { add(gold: g, predicted: p.indices.max { p[$0] < p[$1] }!) }
    }

    public var total: Int { confusion.joined().reduce(0, +) }
    public var accuracy: Double {
        total == 0 ? 0 : Double(labels.indices.map { confusion[$0][$0] }.reduce(0, +)) / Double(total)
    }

    /// The unweighted mean over classes of F1 (a class never predicted nor present counts 0).
    public var macroF1: Double {
        let f1s = labels.indices.map { c -> Double in
            let tp = Double(confusion[c][c])
            let predicted = Double(labels.indices.map { confusion[$0][c] }.reduce(0, +))
            let actual = Double(confusion[c].reduce(0, +))
            return tp == 0 ? 0 : 2 * tp / (predicted + actual)
        }
        return f1s.reduce(0, +) / Double(labels.count)
    }
}

extension ClassificationScore: DevScore {
    public var value: Double { accuracy }
    public var summary: String { "accuracy \(fmt(accuracy * 100))  macro-F1 \(fmt(macroF1 * 100))" }
}

/// Options of `TextClassifierTrainer`; the loop's settings (patience on dev accuracy...)
/// are `loop`'s.
public struct TextClassifierTrainingOptions: ModelTrainingOptions, Sendable {
    public var loop = TrainerOptions(epochs: 20, batchSize: 32, learningRate: 0.002, patience: 3, logEvery: 100)
    /// Adam's rate for the n-gram weights (see TextClassifierConfig.ngramOrder): higher
    /// than the LSTM's, as each row is updated only when its n-gram occurs.
    public var ngramLearningRate: Float = 0.05
    public var minTokenCount = 2
    /// Token bigrams seen fewer times are "unknown" (used when the config's bigramDim > 0).
    public var minBigramCount = 2
    /// N-grams found in fewer training texts are left out (used when the config's ngramOrder > 0).
    public var minNgramCount = 2
    /// Weight each class by N / (C · count), so rare classes count as much as common ones.
    public var balanceClasses = false

    public init() {}

    public static var modelHyperParameters: [HyperParameter<Self>] {
        [
            .float("ngram_learning_rate", \.ngramLearningRate, .positive, "Adam's learning rate for the n-gram weights."),
            .int("min_count", \.minTokenCount, 1...int32Max, "Tokens seen fewer times are unknown."),
            .int("min_bigram_count", \.minBigramCount, 1...int32Max, "Token bigrams seen fewer times are unknown."),
            .int("min_ngram_count", \.minNgramCount, 1...int32Max, "N-grams found in fewer training texts are left out."),
        ]
    }
}

/// Fits a TextClassifier on the one training loop (`Trainer`): a vocabulary from the
/// training texts, length-bucketed batches, dev accuracy. With n-gram features the two
/// heads are two parameter groups: each has its own optimizer, learning-rate decay and
/// early stopping on its own dev accuracy; at the end their best weights are mixed at
/// the weight best on dev.
public final class TextClassifierTrainer: TrainingTask {
    public let classifier: TextClassifier
    public let options: TextClassifierTrainingOptions
    public let loop: Trainer<ClassificationScore>
    let train: [(text: TextClassifier.EncodedText, label: Int32)]
    let devTexts: [String]
    let devLabels: [Int]
    let classWeights: [Float]?

    /// `train` and `dev` are (text, label) pairs. Throws on fewer than 2 classes, a dev
    /// label unseen in training, or an empty set.
    public init(train: [(text: String, label: String)], dev: [(text: String, label: String)],
                config: TextClassifierConfig, options: TextClassifierTrainingOptions,
                tokenization: TextVocabulary.Mode? = nil) throws {
        try config.validate()
        try options.validate()
        guard !train.isEmpty else { throw LSTMKitError.invalidArgument("the training set is empty") }
        guard !dev.isEmpty else { throw LSTMKitError.invalidArgument("the dev set is empty") }
        let labels = Array(Set(train.map(\.label))).sorted()
        guard labels.count >= 2 else {
            throw LSTMKitError.invalidArgument("the training labels hold a single class (\(labels[0])): a classifier needs at least 2")
        }
        let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
        if let unknown = dev.first(where: { index[$0.label] == nil }) {
            throw LSTMKitError.invalidArgument("dev label \"\(unknown.label)\" does not occur in training (labels: \(labels))")
        }
        let texts = train.map(\.text)
        let mode = tokenization ?? TextVocabulary.detectMode(texts)
        let vocabulary = TextVocabulary.build(from: texts, mode: mode, minCount: options.minTokenCount,
                                              minBigramCount: config.bigramDim > 0 ? options.minBigramCount : nil,
                                              ngramOrder: config.ngramOrder, minNgramCount: options.minNgramCount)
        let classifier = try TextClassifier(config: config, vocabulary: vocabulary, labels: labels)
        self.classifier = classifier
        self.options = options
        self.train = train.map { (classifier.encode($0.text), Int32(index[$0.label]!)) }
        devTexts = dev.map(\.text)
        devLabels = dev.map { index[$0.label]! }
        if options.balanceClasses {
            var counts = [Int](repeating: 0, count: labels.count)
            for (_, l) in self.train { counts[Int(l)] += 1 }
            classWeights = counts.map { Float(train.count) / Float(labels.count * max($0, 1)) }
        } else {
            classWeights = nil
        }
        loop = Trainer(options: options.loop)
    }

    /// Trains (writing `checkpointPath` after every epoch, if given); returns the best
    /// dev score (its weights are left in `classifier`).
    @discardableResult
    public func run(checkpointPath: String? = nil, log: (String) -> Void) throws -> ClassificationScore {
        log("training on \(train.count) texts, \(devTexts.count) dev; \(classifier.labels.count) classes; "
            + "vocabulary \(classifier.vocabulary.tokens.count) \(classifier.vocabulary.mode.rawValue), "
            + "\(classifier.vocabulary.bigrams.count) bigrams, \(classifier.vocabulary.ngrams.count) n-grams; "
            + "\(classifier.parameterCount) parameters")
        let report = try loop.run(self, checkpointPath: checkpointPath, log: log)
        guard classifier.ngramBag != nil else { return report.best[0] }
        let mixed = chooseNgramWeight()
        log("the heads mixed: dev accuracy \(fmt(mixed.accuracy * 100))  macro-F1 \(fmt(mixed.macroF1 * 100))  "
            + "(n-gram weight \(fmt(Double(classifier.ngramWeight))))")
        return mixed
    }

    // MARK: What the loop asks of the model

    public var parameterGroups: [ParameterGroup] {
        let ngrams = classifier.ngramBag?.weight
        return [ParameterGroup(name: "LSTM", parameters: classifier.parameters.filter { $0 !== ngrams }, learningRate: options.learningRate)]
            + (ngrams.map { [ParameterGroup(name: "n-grams", parameters: [$0], learningRate: options.ngramLearningRate)] } ?? [])
    }

    public var namedState: [(name: String, parameter: Parameter)] { classifier.namedParameters }

    public func modelFile() -> SafeTensors { classifier.modelFile() }

    public var modelGenerators: [SeededRandom] {
        get { [classifier.dropoutRNG] }
        set { classifier.dropoutRNG = newValue[0] }
    }

    public var countNames: [String] { ["texts"] }

    /// Batches of similar length (longest first within a batch), in random order.
    public func batches(rng: inout SeededRandom) -> [[Int]] {
        lengthBucketedBatches(lengths: train.map { $0.text.ids.count }, batchSize: options.batchSize, rng: &rng)
    }

    /// Per padded token: the embeddings (with their dropout mask and gradient), the
    /// recurrent layer's step and the attention's.
    public func stepFloats(_ members: [Int]) -> Double {
        let c = classifier.config
        let steps = members.map { train[$0].text.ids.count }.max() ?? 0
        return Double(members.count) * Double(steps) * (3 * Double(c.embeddingDim + c.bigramDim) + classifier.recurrent.config.trainingFloatsPerStep
                         + 2 * Double(c.attentionSize + 2) + classifier.pooling.trainingFloatsPerStep(steps: steps))
    }

    public func trainStep(_ members: [Int], training: [Bool], rng: inout SeededRandom) throws -> (loss: Float, counts: [Int]) {
        let batch = TextClassifier.Batch(members.map { train[$0].text })
        let loss = try classifier.trainStep(batch, targets: members.map { train[$0].label }, classWeights: classWeights,
                                            lstm: training[0], ngrams: training.count > 1 && training[1])
        return (loss, [members.count])
    }

    /// Each head's dev score.
    public func devScores() throws -> [ClassificationScore] {
        let probabilities = classifier.headProbabilities(devTexts, threads: options.threads)
        return ([probabilities.lstm] + (probabilities.ngram.map { [$0] } ?? [])).map(devScore)
    }

    /// Sets the classifier's n-gram weight to the mix of the heads best on dev (0, 0.1,
    /// ..., 1; ties towards 0.5) and returns that dev score.
    func chooseNgramWeight() -> ClassificationScore {
        let heads = classifier.headProbabilities(devTexts, threads: options.threads)
        let ngram = heads.ngram!
        let weights: [Float] = [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8, 0.1, 0.9, 0, 1]
        var chosen: (weight: Float, score: ClassificationScore)?
        for w in weights {
            let mixed: [[Float]] = zip(heads.lstm, ngram).map { TextClassifier.mix($0, $1, ngramWeight: w) }
            let s = devScore(mixed)
            if chosen == nil || s.accuracy > chosen!.score.accuracy { chosen = (w, s) }
        }
        classifier.ngramWeight = chosen!.weight
        return chosen!.score
    }

    func devScore(_ probabilities: [[Float]]) -> ClassificationScore {
        ClassificationScore(labels: classifier.labels, probabilities: probabilities, gold: devLabels)
    }

    /// Scores predictions of `texts` against label indices.
    public func evaluate(_ texts: [String], labels: [Int]) -> ClassificationScore {
        ClassificationScore(labels: classifier.labels, probabilities: classifier.predictProbabilities(texts, threads: options.threads),
                            gold: labels)
    }

}

extension TextClassifier {
    /// Scores the classifier on texts with string labels; a label the model does not
    /// know is an error naming it.
    public func evaluate(_ texts: [String], labels gold: [String], threads: Int = 1) throws -> ClassificationScore {
        guard texts.count == gold.count else {
            throw LSTMKitError.sizeMismatch("\(texts.count) texts but \(gold.count) labels")
        }
        let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
        let goldIndices = try gold.map { g in
            guard let gi = index[g] else {
                throw LSTMKitError.invalidArgument("label \"\(g)\" is not one of the model's classes \(labels)")
            }
            return gi
        }
        return ClassificationScore(labels: labels, probabilities: predictProbabilities(texts, threads: threads), gold: goldIndices)
    }
}
