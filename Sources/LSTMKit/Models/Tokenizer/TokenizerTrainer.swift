#if canImport(Glibc)
import Glibc
#endif

/// Options of a tokenizer training run; the defaults are the shipped model's recipe
/// except the lexicon (data: see `TokenizerTrainer.init`) and weight averaging (the
/// shipped model used `averageDecay` 0.999, which suits its 2,600 steps an epoch but
/// would leave a short run's average near the untrained weights).
public struct TokenizerTrainingOptions: Sendable {
    public var epochs = 30
    public var batchSize = 16
    public var learningRate: Float = 0.002
    public var clipNorm: Float = 5
    public var labelSmoothing: Float = 0
    /// Multiply the learning rate by this when dev F1 fails to improve.
    public var decayFactor: Float = 0.5
    /// Stop after this many epochs without a better dev F1.
    public var patience = 4
    public var minBigramCount = 7
    /// Dictionary features from training words of 2 ... this many characters (0: off).
    public var dictionaryMaxLength = 5
    /// Training sentences see the dictionary of training words seen at least this many
    /// times (segmenting uses every training word): see `CharacterVocabulary.build`.
    public var dictionaryMinCount = 4
    /// In training, each bigram id becomes "unknown" with this probability, and each
    /// piece loses its dictionary features with probability `featureDropout`. Without
    /// this, "unknown bigram" and "not in the dictionary" would mostly mean "word
    /// boundary" (rare bigrams tend to straddle words), and the network would split
    /// every unseen word at test time.
    public var unknownBigramRate: Float = 0.1
    public var featureDropout: Float = 0
    /// Lexicon features from the trainer's lexicon words of 2 ... this many characters
    /// (0: no lexicon).
    public var lexiconMaxLength = 0
    /// > 0: dev scores, the best model and the saved model use an exponential moving
    /// average of the weights (Polyak averaging: each update moves the average this
    /// close to the average itself, 1 − this towards the new weights), which smooths
    /// out the last steps' noise. 0: the weights as trained.
    public var averageDecay: Float = 0
    /// Training pieces longer than this are cut (at clause punctuation where possible).
    public var maxPieceLength = 120
    public var seed: UInt64 = 1
    public var logEvery = 200
    public var threads = 2
    /// Stop an epoch early after this many batches (0: whole epoch). For smoke tests.
    public var maxBatchesPerEpoch = 0

    public init() {}
}

extension TokenizerTrainingOptions: HyperParameterized {
    public static var hyperParameters: [HyperParameter<Self>] {
        [
            .epochs(\.epochs),
            .batchSize(\.batchSize, of: "Pieces"),
            .learningRate(\.learningRate),
            .clipNorm(\.clipNorm),
            .float("label_smoothing", \.labelSmoothing, .closedOpen(0, 1), "Weight of the smoothed (uniform-target) loss."),
            .decayFactor(\.decayFactor),
            .patience(\.patience, without: "dev F1"),
            .int("min_bigram_count", \.minBigramCount, 1...int32Max, "Bigrams seen fewer times are unknown."),
            .int("dictionary_max_length", \.dictionaryMaxLength, 0...16, "Dictionary features from training words of 2 to this many characters (0: off)."),
            .int("dictionary_min_count", \.dictionaryMinCount, 1...int32Max, "Training sentences see the training words seen at least this often."),
            .float("unknown_bigram_rate", \.unknownBigramRate, .closedOpen(0, 1), "Training: each bigram becomes unknown with this probability."),
            .float("feature_dropout", \.featureDropout, .closedOpen(0, 1), "Training: each piece loses its dictionary features with this probability."),
            .int("lexicon_max_length", \.lexiconMaxLength, 2...16, orZero: true, "Lexicon features from words of 2 to this many characters (0: no lexicon)."),
            .float("average_decay", \.averageDecay, .closedOpen(0, 1), "> 0: score and keep a moving average of the weights with this decay."),
            .int("max_piece_length", \.maxPieceLength, 2...1_000_000, "Training pieces longer than this are cut."),
            .logEvery(\.logEvery),
            .threads(\.threads),
            .int("max_batches_per_epoch", \.maxBatchesPerEpoch, 0...int32Max, "Stop an epoch after this many batches (0: whole epoch)."),
        ]
    }
}

/// Trains a Tokenizer: length-bucketed batches, Adam, gradient clipping, dropout,
/// learning-rate decay on plateau, early stopping on dev F1, a checkpoint after
/// every epoch (resumable), progress lines.
public final class TokenizerTrainer {
    public let options: TokenizerTrainingOptions
    public let tokenizer: Tokenizer
    let train: [EncodedPiece]
    let dev: [[String]]
    let trainWords: Set<String>
    let optimizer: Adam
    var rng: SeededRandom
    public private(set) var epoch = 0
    public private(set) var bestF1 = -1.0
    var epochsWithoutImprovement = 0
    /// The parameters at the best dev F1 so far (restored by `restoreBest`).
    var bestValues: [[Float]]?
    /// The moving average of the parameters (see `averageDecay`), updated every
    /// `averageEvery` steps.
    var averageValues: [[Float]]?
    static let averageEvery = 8

    /// `train` and `dev`: sentences as lists of words. `lexicon`: words from outside the
    /// training data (a general dictionary), features in training and segmenting alike.
    public init(train: [[String]], dev: [[String]], lexicon: [String] = [], config: SegmenterConfig,
                options: TokenizerTrainingOptions) throws {
        try config.validate()
        try options.validate()
        guard !train.isEmpty else { throw LSTMKitError.invalidArgument("the training set is empty") }
        guard options.lexiconMaxLength == 0 || !lexicon.isEmpty else {
            throw LSTMKitError.invalidArgument("lexicon features are on (lexicon max length \(options.lexiconMaxLength)) but the lexicon is empty")
        }
        self.options = options
        // Two dictionaries: training sentences see only the words seen at least
        // dictionaryMinCount times, so a sentence holds words "missing" from its
        // dictionary, as at test time; the tokenizer (dev scores, the saved model) uses
        // every training word.
        var trainingVocabulary = CharacterVocabulary.build(from: train, minBigramCount: options.minBigramCount,
                                                           maxWordLength: options.dictionaryMaxLength, minWordCount: options.dictionaryMinCount)
        var vocabulary = CharacterVocabulary.build(from: train, minBigramCount: options.minBigramCount,
                                                   maxWordLength: options.dictionaryMaxLength, minWordCount: 1)
        // The lexicon is the same in training and segmenting.
        if options.lexiconMaxLength > 0 {
            vocabulary = vocabulary.with(lexicon: lexicon, maxLength: options.lexiconMaxLength)
            trainingVocabulary = trainingVocabulary.with(lexicon: vocabulary.lexicon)
        }
        self.train = Self.pieces(of: train, vocabulary: trainingVocabulary, maxLength: options.maxPieceLength)
        tokenizer = try Tokenizer(vocabulary: vocabulary, config: config)
        self.dev = dev
        trainWords = Set(train.joined())
        optimizer = Adam(learningRate: options.learningRate)
        rng = SeededRandom(seed: options.seed)
    }

    /// Training pieces with their BMES tags; a cut inside a word is mended so every
    /// piece's tags are a valid BMES sequence.
    static func pieces(of sentences: [[String]], vocabulary: CharacterVocabulary,
                       maxLength: Int) -> [EncodedPiece] {
        let splitter = TextPieces(maxLength: maxLength)
        var out: [EncodedPiece] = []
        for words in sentences {
            let chars = words.joined().map(CharacterVocabulary.normalize)
            let tags = BMES.tags(wordLengths: words.map(\.count))
            guard tags.count == chars.count else { continue }
            for case .text(let r) in splitter.split(chars) {
                var t = Array(tags[r])
                if t[0] == BMES.m { t[0] = BMES.b } else if t[0] == BMES.e { t[0] = BMES.s }
                let last = t.count - 1
                if t[last] == BMES.m { t[last] = BMES.e } else if t[last] == BMES.b { t[last] = BMES.s }
                if t.count == 1 { t[0] = BMES.s }
                for i in 1..<max(t.count, 1) where !BMES.allowedTransitions[Int(t[i - 1]) * 4 + Int(t[i])] {
                    t[i - 1] = t[i - 1] == BMES.b ? BMES.s : BMES.e   // only at mended cuts
                }
                var e = vocabulary.encode(Array(chars[r]))
                e.tags = t
                out.append(e)
            }
        }
        return out
    }

    /// Runs the remaining epochs. Writes `checkpointPath` after every epoch and
    /// `bestPath` whenever dev F1 improves. Returns the best dev score.
    @discardableResult
    public func run(checkpointPath: String?, bestPath: String?, log: (String) -> Void) throws -> Double {
        let parameters = tokenizer.network.parameters
        log("training on \(train.count) pieces (\(train.reduce(0) { $0 + $1.characters.count }) characters), "
            + "\(dev.count) dev sentences; vocabulary: \(tokenizer.vocabulary.characters.count) characters, "
            + "\(tokenizer.vocabulary.bigrams.count) bigrams\(tokenizer.vocabulary.lexicon.map { ", \($0.wordCount) lexicon words" } ?? ""); "
            + "\(tokenizer.network.parameterCount) parameters")
        while epoch < options.epochs && epochsWithoutImprovement < options.patience {
            epoch += 1
            let batches = makeBatches()
            var seen = 0, chars = 0
            var lossSum: Double = 0, lossCount = 0
            let start = now()
            var lastLog = start
            for (i, members) in batches.enumerated() {
                if options.maxBatchesPerEpoch > 0 && i >= options.maxBatchesPerEpoch { break }
                let batch = SegmenterNetwork.Batch(members.map { corrupted(train[$0]) }, featureCount: tokenizer.vocabulary.featureCount)
                let loss = try tokenizer.network.trainStep(batch, labelSmoothing: options.labelSmoothing)
                let norm = clipGradientNorm(parameters, maxNorm: options.clipNorm)
                try stopIfDiverged(loss: loss, gradientNorm: norm, epoch: epoch, batch: i + 1, restoreBest: restoreBest)
                optimizer.stepAndZero(parameters)
                if options.averageDecay > 0 && (i + 1) % Self.averageEvery == 0 { updateAverage(parameters) }
                seen += batch.size
                chars += batch.lengths.reduce(0, +)
                lossSum += Double(loss)
                lossCount += 1
                if (i + 1) % options.logEvery == 0 {
                    let t = now()
                    log("epoch \(epoch) batch \(i + 1)/\(batches.count)  loss \(fmt(lossSum / Double(lossCount)))  "
                        + "\(whole(Double(seen) / (t - start))) pieces/s  \(whole(Double(chars) / (t - start))) chars/s")
                    lastLog = t
                    lossSum = 0
                    lossCount = 0
                }
            }
            _ = lastLog
            // With averaging, the averaged weights are scored (and kept if best); the
            // trained weights go back in afterwards.
            let trained = averageValues.map { average in
                let values = parameters.map(\.value)
                for (p, v) in zip(parameters, average) { p.value = v }
                return values
            }
            let score = try evaluate(dev)
            let improved = score.f1 > bestF1
            log("epoch \(epoch) done in \(whole(now() - start)) s  lr \(optimizer.learningRate)  dev \(score.summary)\(improved ? "  (best)" : "")")
            if improved {
                bestF1 = score.f1
                epochsWithoutImprovement = 0
                bestValues = parameters.map(\.value)
                if let bestPath { try tokenizer.save(to: bestPath) }
            } else {
                epochsWithoutImprovement += 1
                optimizer.learningRate *= options.decayFactor
            }
            if let trained { for (p, v) in zip(parameters, trained) { p.value = v } }
            if let checkpointPath { try saveCheckpoint(to: checkpointPath) }
        }
        return bestF1
    }

    /// Moves the average towards the current weights (by 1 − decay^averageEvery, as if
    /// updated after each of the last `averageEvery` steps); starts at the weights.
    func updateAverage(_ parameters: [Parameter]) {
        guard averageValues != nil else {
            averageValues = parameters.map(\.value)
            return
        }
        let keep = Float(pow(Double(options.averageDecay), Double(Self.averageEvery)))
        for (k, p) in parameters.enumerated() {
            p.value.withUnsafeBufferPointer { v in
                averageValues![k].withUnsafeMutableBufferPointer { a in
                    for i in 0..<a.count { a[i] = keep * a[i] + (1 - keep) * v[i] }
                }
            }
        }
    }

    /// Puts the best parameters seen (by dev F1) back into the tokenizer.
    public func restoreBest() {
        guard let bestValues else { return }
        for (p, v) in zip(tokenizer.network.parameters, bestValues) { p.value = v }
    }

    /// Segments `sentences` (their words joined) and scores against them.
    public func evaluate(_ sentences: [[String]]) throws -> SegmentationScore {
        var score = SegmentationScore()
        let predicted = tokenizer.cutMany(sentences.map { $0.joined() }, threads: options.threads)
        for (gold, pred) in zip(sentences, predicted) {
            try score.add(gold: gold, predicted: pred.filter { !$0.allSatisfy(\.isWhitespace) }, knownWords: trainWords)
        }
        return score
    }

    /// A training piece with some bigrams made unknown and, sometimes, no dictionary
    /// features (see `unknownBigramRate`, `featureDropout`).
    func corrupted(_ piece: EncodedPiece) -> EncodedPiece {
        var p = piece
        if options.unknownBigramRate > 0 {
            for i in p.bigrams.indices where rng.nextUnitFloat() < options.unknownBigramRate {
                p.bigrams[i] = CharacterVocabulary.unknownID
            }
        }
        if !p.features.isEmpty && options.featureDropout > 0 && rng.nextUnitFloat() < options.featureDropout {
            p.features = [Float](repeating: 0, count: p.features.count)
        }
        return p
    }

    /// Batches of similar-length pieces, in random order.
    func makeBatches() -> [[Int]] {
        lengthBucketedBatches(lengths: train.map { $0.characters.count }, batchSize: options.batchSize, rng: &rng)
    }

    // MARK: Checkpoints

    var namedParameters: [(String, Parameter)] {
        tokenizer.network.namedModules.flatMap { prefix, module in module.parameters.map { (prefix + $0.name, $0) } }
    }

    /// The model plus the optimizer's moments and the trainer's counters.
    func saveCheckpoint(to path: String) throws {
        var file = tokenizer.modelFile()
        file.metadata += [
            ("checkpoint_epoch", String(epoch)),
            ("checkpoint_best_f1", String(bestF1)),
            ("checkpoint_stale_epochs", String(epochsWithoutImprovement)),
            ("checkpoint_learning_rate", String(optimizer.learningRate)),
            ("checkpoint_adam_steps", String(optimizer.stepCount)),
            ("checkpoint_rng", String(rng.next())),
        ]
        for (prefix, values) in [("best.", bestValues), ("average.", averageValues)] {
            guard let values else { continue }
            for ((name, p), value) in zip(namedParameters, values) {
                file.tensors.append(.init(name: prefix + name, shape: p.shape, values: value))
            }
        }
        for (prefix, module) in tokenizer.network.namedModules {
            for p in module.parameters {
                let (m, v) = optimizer.moments(of: p) ?? ([Float](repeating: 0, count: p.count), [Float](repeating: 0, count: p.count))
                file.tensors.append(.init(name: "adam.m." + prefix + p.name, shape: p.shape, values: m))
                file.tensors.append(.init(name: "adam.v." + prefix + p.name, shape: p.shape, values: v))
            }
        }
        try file.write(to: path)
    }

    /// Continues from a checkpoint written by `saveCheckpoint` (same data, same options).
    public func resume(from path: String) throws {
        let file = try SafeTensors.read(from: path)
        var model = file
        model.tensors = file.tensors.filter { !["adam.", "best.", "average."].contains(where: $0.name.hasPrefix) }
        let saved = try Tokenizer(modelFile: model)
        guard saved.vocabulary == tokenizer.vocabulary, saved.network.config == tokenizer.network.config else {
            throw LSTMKitError.invalidArgument("\(path) was trained with another vocabulary or configuration")
        }
        for (a, b) in zip(saved.network.parameters, tokenizer.network.parameters) { b.value = a.value }
        for (prefix, module) in tokenizer.network.namedModules {
            for p in module.parameters {
                guard let m = file.tensor("adam.m." + prefix + p.name), let v = file.tensor("adam.v." + prefix + p.name) else {
                    throw LSTMKitError.invalidFormat("\(path) has no optimizer state for \(prefix + p.name)")
                }
                try optimizer.setMoments(m: m.values, v: v.values, for: p)
            }
        }
        func stored(_ prefix: String) -> [[Float]]? {
            let values = namedParameters.map { file.tensor(prefix + $0.0)?.values }
            return values.allSatisfy { $0 != nil } ? values.map { $0! } : nil
        }
        bestValues = stored("best.")
        averageValues = stored("average.")
        func value(_ key: String) throws -> String {
            guard let v = file.metadata(key) else { throw LSTMKitError.invalidFormat("\(path) is not a checkpoint (no \(key))") }
            return v
        }
        epoch = Int(try value("checkpoint_epoch")) ?? 0
        bestF1 = Double(try value("checkpoint_best_f1")) ?? -1
        epochsWithoutImprovement = Int(try value("checkpoint_stale_epochs")) ?? 0
        optimizer.learningRate = Float(try value("checkpoint_learning_rate")) ?? options.learningRate
        optimizer.stepCount = Int(try value("checkpoint_adam_steps")) ?? 0
        rng = SeededRandom(seed: UInt64(try value("checkpoint_rng")) ?? options.seed)
    }
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
