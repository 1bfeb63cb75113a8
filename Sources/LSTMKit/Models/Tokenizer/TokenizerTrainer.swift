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
    /// Distillation (TokenizerDistillation.swift): a tokenizer model file whose emission
    /// scores the network learns to match besides the gold tags ("": none), and a text
    /// file (one text a line) of unlabelled text on which it learns the teacher's
    /// scores alone ("": none). Never dev or test text, not even unlabelled.
    public var teacher = ""
    public var unlabelled = ""
    /// The weight α of the teacher's term, T² · KL(teacher ‖ student) per character.
    public var distillWeight: Float = 1
    /// The teacher's term on the training split is `distillWeight` times this (on
    /// unlabelled text, `distillWeight`): 0 leaves the gold tags alone there, where the
    /// teacher mostly recites what it memorised.
    public var distillLabelledShare: Float = 1
    /// The temperature T both score vectors are divided by before the softmax.
    public var distillTemperature: Float = 2

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
            .path("teacher", \.teacher, "Distillation: a tokenizer model file whose per-character scores the network learns to match (\"\": none)."),
            .path("unlabelled", \.unlabelled, "Distillation: a text file (one text a line; never dev or test text) on which the network learns the teacher's scores (\"\": none)."),
            .float("distill_weight", \.distillWeight, .closedOpen(0, 1000), "Distillation: the weight of the teacher's term (T² · KL per character) beside the gold tags' NLL."),
            .float("distill_labelled_share", \.distillLabelledShare, .closed(0, 1), "Distillation: the teacher's term on the training split is distill_weight times this (0: the gold tags alone there)."),
            .float("distill_temperature", \.distillTemperature, .openClosed(0, 100), "Distillation: the temperature T of both softmaxes."),
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
    /// The training pieces: the training split's (with tags), then unlabelled text's.
    let train: [EncodedPiece]
    /// The teacher's scores of `train`, nil without a teacher.
    let distillation: Distillation?
    let dev: [[String]]
    let trainWords: Set<String>

    /// `train` and `dev`: sentences as lists of words. `lexicon`: words from outside the
    /// training data (a general dictionary), features in training and segmenting alike.
    public init(train: [[String]], dev: [[String]], lexicon: [String] = [], config: SegmenterConfig,
                options: TokenizerTrainingOptions) throws {
        try config.validate()
        try options.validate()
        guard !train.isEmpty else { throw LSTMKitError.invalidArgument("the training set is empty") }
        guard options.unlabelled.isEmpty || !options.teacher.isEmpty else {
            throw LSTMKitError.invalidArgument("unlabelled text needs a teacher (its scores are the only targets there)")
        }
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
        let labelled = Self.labelledPieces(of: train, maxLength: options.maxPieceLength)
        var pieces = labelled.map { text, tags in
            var e = trainingVocabulary.encode(text)
            e.tags = tags
            return e
        }
        if options.teacher.isEmpty {
            distillation = nil
        } else {
            let teacher = try Tokenizer.load(from: options.teacher)
            var scores = try Distillation.teacherScores(
                teacher, vocabulary: Distillation.trainingVocabulary(of: teacher.vocabulary, sentences: train, minCount: options.dictionaryMinCount),
                pieces: labelled.map(\.text), threads: options.threads)
            if !options.unlabelled.isEmpty {
                let texts = Distillation.unlabelledPieces(try Corpus.readLines(options.unlabelled), maxLength: options.maxPieceLength)
                guard !texts.isEmpty else { throw LSTMKitError.invalidArgument("the unlabelled text \(options.unlabelled) holds no text") }
                scores += try Distillation.teacherScores(teacher, vocabulary: teacher.vocabulary, pieces: texts, threads: options.threads)
                // Tags only to fill the batch: the CRF skips these pieces.
                pieces += texts.map { text in
                    var e = vocabulary.encode(text)
                    e.tags = [Int32](repeating: BMES.s, count: text.count)
                    return e
                }
            }
            distillation = Distillation(scores: scores, labelled: labelled.count)
        }
        self.train = pieces
        tokenizer = try Tokenizer(vocabulary: vocabulary, config: config)
        self.dev = dev
        trainWords = Set(train.joined())
        loop = Trainer(options: options.loop)
    }

    /// Training pieces (normalised characters) with their BMES tags; a cut inside a
    /// word is mended so every piece's tags are a valid BMES sequence.
    static func labelledPieces(of sentences: [[String]], maxLength: Int) -> [(text: [String], tags: [Int32])] {
        let splitter = TextPieces(maxLength: maxLength)
        var out: [(text: [String], tags: [Int32])] = []
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
                out.append((Array(chars[r]), t))
            }
        }
        return out
    }

    /// Runs the remaining epochs. Writes `checkpointPath` after every epoch and
    /// `bestPath` whenever dev F1 improves. Returns the best dev F1; the best weights are
    /// left in the tokenizer.
    @discardableResult
    public func run(checkpointPath: String?, bestPath: String?, log: (String) -> Void) throws -> Double {
        let unlabelled = distillation.map { train.count - $0.labelled } ?? 0
        log("training on \(train.count - unlabelled) pieces (\(train[..<(train.count - unlabelled)].reduce(0) { $0 + $1.characters.count }) characters), "
            + (distillation == nil ? "" : "distilling from \(options.teacher) (weight \(options.distillWeight), temperature \(options.distillTemperature)), "
               + "\(unlabelled) unlabelled pieces (\(train[(train.count - unlabelled)...].reduce(0) { $0 + $1.characters.count }) characters), ")
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
        return chars * (3 * Double(tokenizer.network.config.inputSize) + tokenizer.network.recurrent.config.trainingFloatsPerStep + 64
                        + (distillation == nil ? 0 : 8))   // the teacher's scores and the KL's gradient
    }

    public func trainStep(_ members: [Int], training: [Bool], rng: inout SeededRandom) throws -> (loss: Float, counts: [Int]) {
        let batch = SegmenterNetwork.Batch(members.map { corrupted(train[$0], rng: &rng) }, featureCount: tokenizer.vocabulary.featureCount)
        let soft = distillation?.softTargets(members, steps: batch.steps, lengths: batch.lengths, weight: options.distillWeight,
                                             labelledShare: options.distillLabelledShare, temperature: options.distillTemperature)
        let loss = try tokenizer.network.trainStep(batch, labelSmoothing: options.labelSmoothing, softTargets: soft)
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
