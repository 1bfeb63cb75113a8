import LSTMKitCore
import LSTMKitIO
import LSTMKitLayers

/// Options of a tokenizer training run; the defaults are the shipped model's recipe
/// except the lexicon (data: see `TokenizerTrainer.init`) and weight averaging (the
/// shipped model used `averageDecay` 0.999, which suits its 2,600 steps an epoch but
/// would leave a short run's average near the untrained weights). The loop's settings
/// (epochs, learning rate, patience on dev F1, averaging...) are `loop`'s.
public struct TokenizerTrainingOptions: ModelTrainingOptions, Sendable {
    public var loop = TrainerOptions(epochs: 30, batchSize: 16, learningRate: 0.002, patience: 4, logEvery: 200)
    public var labelSmoothing: Float = 0
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
    /// Training pieces longer than this are cut (at clause punctuation where possible).
    public var maxPieceLength = 120

    public init() {}

    public static var modelHyperParameters: [HyperParameter<Self>] {
        [
            .float("label_smoothing", \.labelSmoothing, .closedOpen(0, 1), "Weight of the smoothed (uniform-target) loss."),
            .int("min_bigram_count", \.minBigramCount, 1...int32Max, "Bigrams seen fewer times are unknown."),
            .int("dictionary_max_length", \.dictionaryMaxLength, 0...16, "Dictionary features from training words of 2 to this many characters (0: off)."),
            .int("dictionary_min_count", \.dictionaryMinCount, 1...int32Max, "Training sentences see the training words seen at least this often."),
            .float("unknown_bigram_rate", \.unknownBigramRate, .closedOpen(0, 1), "Training: each bigram becomes unknown with this probability."),
            .float("feature_dropout", \.featureDropout, .closedOpen(0, 1), "Training: each piece loses its dictionary features with this probability."),
            .int("lexicon_max_length", \.lexiconMaxLength, 2...16, orZero: true, "Lexicon features from words of 2 to this many characters (0: no lexicon)."),
            .int("max_piece_length", \.maxPieceLength, 2...1_000_000, "Training pieces longer than this are cut."),
        ]
    }
}

extension SegmentationScore: DevScore {
    public var value: Double { f1 }
}

/// Trains a Tokenizer on the one training loop (`Trainer`): its data are pieces of
/// sentences with BMES tags in length-bucketed batches, corrupted as `unknownBigramRate`
/// and `featureDropout` say; its dev score is word F1.
public final class TokenizerTrainer: TrainingTask {
    public let options: TokenizerTrainingOptions
    public let tokenizer: Tokenizer
    public let loop: Trainer<SegmentationScore>
    let train: [EncodedPiece]
    let dev: [[String]]
    let trainWords: Set<String>

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
        loop = Trainer(options: options.loop)
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
    /// `bestPath` whenever dev F1 improves. Returns the best dev F1; the best weights are
    /// left in the tokenizer.
    @discardableResult
    public func run(checkpointPath: String?, bestPath: String?, log: (String) -> Void) throws -> Double {
        log("training on \(train.count) pieces (\(train.reduce(0) { $0 + $1.characters.count }) characters), "
            + "\(dev.count) dev sentences; vocabulary: \(tokenizer.vocabulary.characters.count) characters, "
            + "\(tokenizer.vocabulary.bigrams.count) bigrams\(tokenizer.vocabulary.lexicon.map { ", \($0.wordCount) lexicon words" } ?? ""); "
            + "\(tokenizer.network.parameterCount) parameters")
        try loop.run(self, checkpointPath: checkpointPath, bestPath: bestPath, log: log)
        return bestF1
    }

    /// The best dev F1 so far (-1 before the first epoch).
    public var bestF1: Double { loop.bestDevValues.first.flatMap { $0 } ?? -1 }

    // MARK: What the loop asks of the model

    public var parameterGroups: [ParameterGroup] {
        [ParameterGroup(name: "network", parameters: tokenizer.network.parameters, learningRate: options.learningRate)]
    }

    public var namedState: [(name: String, parameter: Parameter)] { tokenizer.network.namedParameters }

    public func modelFile() -> SafeTensors { tokenizer.modelFile() }

    public var modelGenerators: [SeededRandom] {
        get { [tokenizer.network.dropoutRNG] }
        set { tokenizer.network.dropoutRNG = newValue[0] }
    }

    public var countNames: [String] { ["pieces", "chars"] }

    /// Batches of similar-length pieces, in random order.
    public func batches(rng: inout SeededRandom) -> [[Int]] {
        lengthBucketedBatches(lengths: train.map { $0.characters.count }, batchSize: options.batchSize, rng: &rng)
    }

    /// Per padded character: the embeddings (with their dropout mask and gradient), the
    /// recurrent layer's step, the emissions and the CRF's scores and gradients.
    public func stepFloats(_ members: [Int]) -> Double {
        let chars = Double(members.count) * Double(members.map { train[$0].characters.count }.max() ?? 0)
        return chars * (3 * Double(tokenizer.network.config.inputSize) + tokenizer.network.recurrent.config.trainingFloatsPerStep + 64)
    }

    public func trainStep(_ members: [Int], training: [Bool], rng: inout SeededRandom) throws -> (loss: Float, counts: [Int]) {
        let batch = SegmenterNetwork.Batch(members.map { corrupted(train[$0], rng: &rng) }, featureCount: tokenizer.vocabulary.featureCount)
        let loss = try tokenizer.network.trainStep(batch, labelSmoothing: options.labelSmoothing)
        return (loss, [batch.size, batch.lengths.reduce(0, +)])
    }

    public func devScores() throws -> [SegmentationScore] { [try evaluate(dev)] }

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
    func corrupted(_ piece: EncodedPiece, rng: inout SeededRandom) -> EncodedPiece {
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
}
