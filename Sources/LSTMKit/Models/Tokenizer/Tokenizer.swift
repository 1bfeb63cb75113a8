import Dispatch

/// The Chinese word segmenter: BiLSTM-CRF over characters and character bigrams.
///
/// `cut` returns tokens that, joined, give back the input exactly: words, and runs
/// of whitespace as tokens of their own. Many threads may segment with one tokenizer
/// at once; changing its user dictionary must not overlap with segmenting.
public final class Tokenizer {
    public static let modelKind = "tokenizer"

    public let vocabulary: CharacterVocabulary
    public let network: SegmenterNetwork
    public let pieces: TextPieces
    public var userDictionary = UserDictionary()
    /// Pieces per network batch when segmenting.
    public var batchSize = 64

    public init(vocabulary: CharacterVocabulary, network: SegmenterNetwork, pieces: TextPieces = TextPieces()) {
        self.vocabulary = vocabulary
        self.network = network
        self.pieces = pieces
    }

    public convenience init(vocabulary: CharacterVocabulary, config: SegmenterConfig) throws {
        var config = config
        config.featureCount = vocabulary.featureCount
        let network = try SegmenterNetwork(config: config, characterCount: vocabulary.characterCount,
                                           bigramCount: vocabulary.bigramCount)
        self.init(vocabulary: vocabulary, network: network)
    }

    // MARK: Segmenting

    /// Words of `text`, whitespace runs as their own tokens; joined they equal `text`.
    public func cut(_ text: String) -> [String] {
        cutMany([text])[0]
    }

    /// BMES tags, one per character of `text` (whitespace characters get "S").
    public func tag(_ text: String) -> [String] {
        tokens(for: [text], threads: 1)[0].flatMap { token -> [String] in
            if token.allSatisfy(\.isWhitespace) { return Array(repeating: "S", count: token.count) }
            return BMES.tags(wordLengths: [token.count]).map { BMES.names[Int($0)] }
        }
    }

    /// Segments many texts at once, batching their sentences through the network on
    /// up to `threads` threads.
    public func cutMany(_ texts: [String], threads: Int = 1) -> [[String]] {
        tokens(for: texts, threads: threads)
    }

    /// One piece of work: characters [range] of text `text`.
    private struct Job {
        let text: Int
        let range: Range<Int>
    }

    private func tokens(for texts: [String], threads: Int) -> [[String]] {
        let characters = texts.map { Array($0) }
        let normalized = characters.map { $0.map(CharacterVocabulary.normalize) }
        var jobs: [Job] = []
        var spansOfText: [[TextPieces.Span]] = []
        for (i, chars) in normalized.enumerated() {
            let spans = pieces.split(chars)
            spansOfText.append(spans)
            for case .text(let r) in spans { jobs.append(Job(text: i, range: r)) }
        }
        // Longest first, so each batch holds pieces of similar length.
        let order = jobs.indices.sorted { jobs[$0].range.count > jobs[$1].range.count }
        let batches = stride(from: 0, to: order.count, by: batchSize).map { Array(order[$0..<min($0 + batchSize, order.count)]) }
        let results = JobResults(count: jobs.count)
        let decode = { (batchIndex: Int) in
            let members = batches[batchIndex]
            let encoded = members.map { j in self.vocabulary.encode(Array(normalized[jobs[j].text][jobs[j].range])) }
            let batch = SegmenterNetwork.Batch(encoded, featureCount: self.vocabulary.featureCount)
            let scores = self.network.emissions(batch)
            scores.data.withUnsafeBufferPointer { s in
                for (b, j) in members.enumerated() {
                    let n = jobs[j].range.count
                    let chars = normalized[jobs[j].text][jobs[j].range]
                    // User words override the script rule where they overlap (they are applied last).
                    let constraints = self.userDictionary.constraints(for: chars, startingFrom: ScriptBoundaries.constrain(chars, nil))
                    let emissions = s.baseAddress! + b * batch.steps * 4
                    let tags = self.network.crf.viterbi(emissions: emissions, length: n, allowedTags: constraints)
                        ?? self.network.crf.viterbi(emissions: emissions, length: n)!
                    results.set(j, BMES.wordLengths(tags: tags))
                }
            }
        }
        parallelForEach(batches.count, threads: threads, decode)
        // Reassemble each text's tokens from the original characters.
        var jobIndex = 0
        return spansOfText.enumerated().map { i, spans in
            let chars = characters[i]
            var out: [String] = []
            for span in spans {
                switch span {
                case .space(let r):
                    out.append(String(chars[r]))
                case .text(let r):
                    var start = r.lowerBound
                    for length in results.get(jobIndex) {
                        out.append(String(chars[start..<(start + length)]))
                        start += length
                    }
                    jobIndex += 1
                }
            }
            return out
        }
    }

    // MARK: User words

    public func addWords<S: Sequence>(_ words: S) where S.Element == String {
        userDictionary.add(words)
    }

    public func loadDictionary(path: String) throws {
        userDictionary.add(try UserDictionary.read(path: path))
    }

    // MARK: Files

    public func modelFile() -> SafeTensors {
        let c = network.config
        func list(_ items: [String]) -> String { JSONValue.array(items.map { .string($0) }).serialized }
        return SafeTensors(
            metadata: ModelFile.header(kind: Self.modelKind) + [
                ("character_dim", String(c.characterDim)),
                ("bigram_dim", String(c.bigramDim)),
                ("hidden_size", String(c.hiddenSize)),
                ("num_layers", String(c.numLayers)),
                ("embedding_dropout", String(c.embeddingDropout)),
                ("output_dropout", String(c.outputDropout)),
                ("max_piece_length", String(pieces.maxLength)),
                ("seed", String(c.seed)),
                ("tags", "B M E S"),
                ("dictionary_max_length", String(vocabulary.maxWordLength)),
                ("characters", list(vocabulary.characters)),
                ("bigrams", list(vocabulary.bigrams)),
                ("words", list(vocabulary.words)),
            ] + lexiconMetadata(),
            tensors: ModelFile.tensors(of: network.namedModules))
    }

    public func save(to path: String) throws {
        try modelFile().write(to: path)
    }

    public convenience init(modelFile file: SafeTensors) throws {
        try ModelFile.checkKind(file, expected: Self.modelKind)
        var config = SegmenterConfig()
        config.characterDim = try ModelFile.int(file, "character_dim")
        config.bigramDim = try ModelFile.int(file, "bigram_dim")
        config.hiddenSize = try ModelFile.int(file, "hidden_size")
        config.numLayers = try ModelFile.int(file, "num_layers")
        config.embeddingDropout = try ModelFile.float(file, "embedding_dropout")
        config.outputDropout = try ModelFile.float(file, "output_dropout")
        if let text = file.metadata("seed") {  // optional: only resuming training needs it
            guard let seed = UInt64(text) else { throw LSTMKitError.invalidFormat("metadata \"seed\" is not an unsigned integer") }
            config.seed = seed
        }
        let maxPiece = try ModelFile.int(file, "max_piece_length")
        guard maxPiece >= 2, maxPiece <= 100_000 else { throw LSTMKitError.invalidFormat("max_piece_length \(maxPiece) is out of range") }
        let maxWord = try ModelFile.int(file, "dictionary_max_length")
        guard maxWord >= 0, maxWord <= 64 else { throw LSTMKitError.invalidFormat("dictionary_max_length \(maxWord) is out of range") }
        let vocabulary = CharacterVocabulary(characters: try ModelFile.stringList(file, "characters"), bigrams: try ModelFile.stringList(file, "bigrams"),
                                             words: try ModelFile.stringList(file, "words"), maxWordLength: maxWord,
                                             lexicon: try Self.lexicon(in: file))
        config.featureCount = vocabulary.featureCount
        let network: SegmenterNetwork
        do {
            network = try SegmenterNetwork(config: config, characterCount: vocabulary.characterCount,
                                           bigramCount: vocabulary.bigramCount)
        } catch let e as LSTMKitError {
            throw LSTMKitError.invalidFormat("invalid hyper-parameters: \(e.message)")
        }
        try ModelFile.load(file, into: network.namedModules)
        self.init(vocabulary: vocabulary, network: network, pieces: TextPieces(maxLength: maxPiece))
    }

    private func lexiconMetadata() -> [(String, String)] {
        guard let lexicon = vocabulary.lexicon else { return [] }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(lexicon.bits.count * 8)
        for word in lexicon.bits {
            for k in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: word >> (8 * UInt64(k)))) }
        }
        return [
            ("lexicon_max_length", String(lexicon.maxLength)),
            ("lexicon_words", String(lexicon.wordCount)),
            ("lexicon_hashes", String(lexicon.hashCount)),
            ("lexicon_filter", Base64.encode(bytes)),
        ]
    }

    /// The lexicon filter of a model file, nil if it has none (as files written before
    /// lexicons existed).
    static func lexicon(in file: SafeTensors) throws -> LexiconFilter? {
        guard file.metadata("lexicon_max_length") != nil else { return nil }
        let maxLength = try ModelFile.int(file, "lexicon_max_length")
        guard maxLength >= 2, maxLength <= 16 else { throw LSTMKitError.invalidFormat("lexicon_max_length \(maxLength) is out of range") }
        guard let text = file.metadata("lexicon_filter"), let bytes = Base64.decode(text), !bytes.isEmpty, bytes.count % 8 == 0 else {
            throw LSTMKitError.invalidFormat("metadata \"lexicon_filter\" is missing or not base64 of 64-bit words")
        }
        var bits = [UInt64](repeating: 0, count: bytes.count / 8)
        for (i, byte) in bytes.enumerated() { bits[i / 8] |= UInt64(byte) << UInt64(8 * (i % 8)) }
        guard let filter = LexiconFilter(maxLength: maxLength, wordCount: try ModelFile.int(file, "lexicon_words"),
                                         hashCount: try ModelFile.int(file, "lexicon_hashes"), bits: bits) else {
            throw LSTMKitError.invalidFormat("lexicon_words or lexicon_hashes is out of range")
        }
        return filter
    }

    public static func load(from path: String) throws -> Tokenizer {
        try ModelFile.open(path) { try Tokenizer(modelFile: $0) }
    }
}

/// Per-job results written by worker threads (each index by exactly one worker).
private final class JobResults: @unchecked Sendable {
    private var values: [[Int]]
    private let lock = DispatchQueue(label: "lstmkit.jobresults")

    init(count: Int) { values = [[Int]](repeating: [], count: count) }

    func set(_ i: Int, _ v: [Int]) { lock.sync { values[i] = v } }
    func get(_ i: Int) -> [Int] { values[i] }
}
