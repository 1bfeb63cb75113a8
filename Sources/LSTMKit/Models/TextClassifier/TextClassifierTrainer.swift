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

/// Options of `TextClassifierTrainer`.
public struct TextClassifierTrainingOptions: Sendable {
    public var epochs = 20
    public var batchSize = 32
    public var learningRate: Float = 0.002
    /// Adam's rate for the n-gram weights (see TextClassifierConfig.ngramOrder): higher
    /// than the LSTM's, as each row is updated only when its n-gram occurs.
    public var ngramLearningRate: Float = 0.05
    public var clipNorm: Float = 5
    /// Stop after this many epochs without a better dev accuracy.
    public var patience = 3
    public var decayFactor: Float = 0.5
    public var minTokenCount = 2
    /// Token bigrams seen fewer times are "unknown" (used when the config's bigramDim > 0).
    public var minBigramCount = 2
    /// N-grams found in fewer training texts are left out (used when the config's ngramOrder > 0).
    public var minNgramCount = 2
    /// Weight each class by N / (C · count), so rare classes count as much as common ones.
    public var balanceClasses = false
    public var seed: UInt64 = 1
    public var threads = 2
    public var logEvery = 100

    public init() {}
}

extension TextClassifierTrainingOptions: HyperParameterized {
    public static var hyperParameters: [HyperParameter<Self>] {
        [
            .epochs(\.epochs),
            .batchSize(\.batchSize, of: "Texts"),
            .learningRate(\.learningRate),
            .float("ngram_learning_rate", \.ngramLearningRate, .positive, "Adam's learning rate for the n-gram weights."),
            .clipNorm(\.clipNorm),
            .patience(\.patience, without: "dev accuracy"),
            .decayFactor(\.decayFactor),
            .int("min_count", \.minTokenCount, 1...int32Max, "Tokens seen fewer times are unknown."),
            .int("min_bigram_count", \.minBigramCount, 1...int32Max, "Token bigrams seen fewer times are unknown."),
            .int("min_ngram_count", \.minNgramCount, 1...int32Max, "N-grams found in fewer training texts are left out."),
            .threads(\.threads),
            .logEvery(\.logEvery),
        ]
    }
}

/// One head's early stopping: its weights and optimizer, its best dev score and the
/// weights then, the epochs since.
final class HeadProgress {
    let name: String
    let weights: [Parameter]
    let optimizer: Adam
    private(set) var best: (score: ClassificationScore, values: [[Float]])?
    let patience: Int
    private(set) var stale = 0

    init(name: String, weights: [Parameter], learningRate: Float, patience: Int) {
        self.name = name
        self.weights = weights
        self.patience = patience
        optimizer = Adam(learningRate: learningRate)
    }

    /// Still learning: fewer than `patience` epochs without a better dev score.
    var isTraining: Bool { stale < patience }

    /// Records an epoch's dev score; returns whether it is the best so far (else the
    /// learning rate decays).
    func update(_ score: ClassificationScore, decayFactor: Float) -> Bool {
        if let best, score.accuracy <= best.score.accuracy {
            stale += 1
            optimizer.learningRate *= decayFactor
            return false
        }
        best = (score, weights.map(\.value))
        stale = 0
        return true
    }

    func restore() {
        if let best { for (p, v) in zip(weights, best.values) { p.value = v } }
    }
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
        rng = SeededRandom(seed: options.seed)
    }

    /// Trains; returns the best dev score (its weights are left in `classifier`). With
    /// n-gram features the two heads learn side by side, each with its own optimizer,
    /// learning-rate decay and early stopping on its own dev accuracy; at the end their
    /// best weights are mixed at the weight best on dev.
    @discardableResult
    public func run(log: (String) -> Void) throws -> ClassificationScore {
        let lstmHead = HeadProgress(name: "LSTM", weights: classifier.parameters.filter { $0 !== classifier.ngramBag?.weight },
                                    learningRate: options.learningRate, patience: options.patience)
        let ngramHead = classifier.ngramBag.map {
            HeadProgress(name: "n-grams", weights: [$0.weight], learningRate: options.ngramLearningRate, patience: options.patience)
        }
        let heads = [lstmHead] + (ngramHead.map { [$0] } ?? [])
        log("training on \(train.count) texts, \(devTexts.count) dev; \(classifier.labels.count) classes; "
            + "vocabulary \(classifier.vocabulary.tokens.count) \(classifier.vocabulary.mode.rawValue), "
            + "\(classifier.vocabulary.bigrams.count) bigrams, \(classifier.vocabulary.ngrams.count) n-grams; "
            + "\(classifier.parameterCount) parameters")
        for epoch in 1...options.epochs where heads.contains(where: \.isTraining) {
            let start = now()
            var lossSum: Double = 0, seen = 0
            let batches = makeBatches()
            for (i, members) in batches.enumerated() {
                let batch = TextClassifier.Batch(members.map { train[$0].text })
                let loss = try classifier.trainStep(batch, targets: members.map { train[$0].label }, classWeights: classWeights,
                                                    lstm: lstmHead.isTraining, ngrams: ngramHead?.isTraining ?? false)
                let training = heads.filter(\.isTraining)
                let norms = training.map { clipGradientNorm($0.weights, maxNorm: options.clipNorm) }
                try stopIfDiverged(loss: loss, gradientNorm: norms.reduce(0, +), epoch: epoch, batch: i + 1) {
                    for head in heads { head.restore() }
                }
                for head in training { head.optimizer.stepAndZero(head.weights) }
                lossSum += Double(loss)
                seen += members.count
                if (i + 1) % options.logEvery == 0 {
                    log("epoch \(epoch) batch \(i + 1)/\(batches.count)  loss \(fmt(lossSum / Double(i + 1)))  "
                        + "\(whole(Double(seen) / (now() - start))) texts/s")
                }
            }
            let probabilities = classifier.headProbabilities(devTexts, threads: options.threads)
            var line = "epoch \(epoch) done in \(whole(now() - start)) s  loss \(fmt(lossSum / Double(max(batches.count, 1))))  "
            for (head, p) in zip(heads, [probabilities.lstm] + (probabilities.ngram.map { [$0] } ?? [])) where head.isTraining {
                let score = devScore(p)
                let improved = head.update(score, decayFactor: options.decayFactor)
                line += "dev accuracy\(ngramHead == nil ? "" : " (\(head.name))") \(fmt(score.accuracy * 100))  "
                    + "macro-F1 \(fmt(score.macroF1 * 100))\(improved ? "  (best)" : "")  "
            }
            log(String(line.dropLast(2)))
        }
        for head in heads { head.restore() }
        guard ngramHead != nil else { return lstmHead.best!.score }
        let mixed = chooseNgramWeight()
        log("the heads mixed: dev accuracy \(fmt(mixed.accuracy * 100))  macro-F1 \(fmt(mixed.macroF1 * 100))  "
            + "(n-gram weight \(fmt(Double(classifier.ngramWeight))))")
        return mixed
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
        let goldIndices = try gold.map { g in
            guard let gi = index[g] else {
                throw LSTMKitError.invalidArgument("label \"\(g)\" is not one of the model's classes \(labels)")
            }
            return gi
        }
        return ClassificationScore(labels: labels, probabilities: predictProbabilities(texts, threads: threads), gold: goldIndices)
    }
}
