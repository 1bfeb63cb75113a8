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

/// Options of `TextClassifierTrainer`.
public struct TextClassifierTrainingOptions: Sendable {
    public var epochs = 20
    public var batchSize = 32
    public var learningRate: Float = 0.002
    public var clipNorm: Float = 5
    /// Stop after this many epochs without a better dev accuracy.
    public var patience = 3
    public var decayFactor: Float = 0.5
    public var minTokenCount = 2
    /// Token bigrams seen fewer times are "unknown" (used when the config's bigramDim > 0).
    public var minBigramCount = 2
    /// Weight each class by N / (C · count), so rare classes count as much as common ones.
    public var balanceClasses = false
    public var seed: UInt64 = 1
    public var threads = 2
    public var logEvery = 100

    public init() {}
}

/// Fits a TextClassifier: vocabulary from the training texts, length-bucketed batches,
/// Adam, clipping, dropout, learning-rate decay and early stopping on dev accuracy
/// (keeping the best weights), progress lines.
public final class TextClassifierTrainer {
    public let classifier: TextClassifier
    public let options: TextClassifierTrainingOptions
    let train: [(text: TextClassifier.EncodedText, label: Int32)]
    let devTexts: [String]
    let devLabels: [Int]
    let classWeights: [Float]?
    var rng: SeededRandom

    /// `train` and `dev` are (text, label) pairs. Throws on fewer than 2 classes, a dev
    /// label unseen in training, or an empty set.
    public init(train: [(text: String, label: String)], dev: [(text: String, label: String)],
                config: TextClassifierConfig, options: TextClassifierTrainingOptions,
                tokenization: TextVocabulary.Mode? = nil) throws {
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
                                              minBigramCount: config.bigramDim > 0 ? options.minBigramCount : nil)
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
        rng = SeededRandom(seed: options.seed)
    }

    /// Trains; returns the best dev score (its weights are left in `classifier`).
    @discardableResult
    public func run(log: (String) -> Void) throws -> ClassificationScore {
        let parameters = classifier.parameters
        let optimizer = Adam(learningRate: options.learningRate)
        var best: (score: ClassificationScore, values: [[Float]])?
        var stale = 0
        log("training on \(train.count) texts, \(devTexts.count) dev; \(classifier.labels.count) classes; "
            + "vocabulary \(classifier.vocabulary.tokens.count) \(classifier.vocabulary.mode.rawValue), "
            + "\(classifier.vocabulary.bigrams.count) bigrams; "
            + "\(classifier.parameterCount) parameters")
        for epoch in 1...options.epochs where stale < options.patience {
            let start = now()
            var lossSum: Double = 0, seen = 0
            let batches = makeBatches()
            for (i, members) in batches.enumerated() {
                let batch = TextClassifier.Batch(members.map { train[$0].text })
                let loss = try classifier.trainStep(batch, targets: members.map { train[$0].label }, classWeights: classWeights)
                clipGradientNorm(parameters, maxNorm: options.clipNorm)
                optimizer.stepAndZero(parameters)
                lossSum += Double(loss)
                seen += members.count
                if (i + 1) % options.logEvery == 0 {
                    log("epoch \(epoch) batch \(i + 1)/\(batches.count)  loss \(fmt(lossSum / Double(i + 1)))  "
                        + "\(Int(Double(seen) / (now() - start))) texts/s")
                }
            }
            let score = evaluate(devTexts, labels: devLabels)
            let improved = best.map { score.accuracy > $0.score.accuracy } ?? true
            log("epoch \(epoch) done in \(Int(now() - start)) s  loss \(fmt(lossSum / Double(max(batches.count, 1))))  "
                + "dev accuracy \(fmt(score.accuracy * 100))  macro-F1 \(fmt(score.macroF1 * 100))\(improved ? "  (best)" : "")")
            if improved {
                best = (score, parameters.map(\.value))
                stale = 0
            } else {
                stale += 1
                optimizer.learningRate *= options.decayFactor
            }
        }
        if let best { for (p, v) in zip(parameters, best.values) { p.value = v } }
        return best!.score
    }

    /// Scores predictions of `texts` against label indices.
    public func evaluate(_ texts: [String], labels: [Int]) -> ClassificationScore {
        var score = ClassificationScore(labels: classifier.labels)
        for (p, gold) in zip(classifier.predictProbabilities(texts, threads: options.threads), labels) {
            score.add(gold: gold, predicted: p.indices.max { p[$0] < p[$1] }!)
        }
        return score
    }

    /// Batches of similar length (longest first within a batch), in random order.
    func makeBatches() -> [[Int]] {
        lengthBucketedBatches(lengths: train.map { $0.text.ids.count }, batchSize: options.batchSize, rng: &rng)
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
        var score = ClassificationScore(labels: labels)
        for (p, g) in zip(predictProbabilities(texts, threads: threads), gold) {
            guard let gi = index[g] else {
                throw LSTMKitError.invalidArgument("label \"\(g)\" is not one of the model's classes \(labels)")
            }
            score.add(gold: gi, predicted: p.indices.max { p[$0] < p[$1] }!)
        }
        return score
    }
}
