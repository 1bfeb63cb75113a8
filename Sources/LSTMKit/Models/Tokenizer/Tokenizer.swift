import LSTMKitCore
import LSTMKitIO
import LSTMKitLayers

/// The Chinese word segmenter: BiLSTM-CRF over characters and character bigrams.
///
/// `cut` returns tokens that, joined, give back the input exactly: words, and runs
/// of whitespace as tokens of their own. Many threads may segment with one tokenizer
/// at once; changing its user dictionary must not overlap with segmenting.
public final class Tokenizer {
    public static let modelKind = "tokenizer"

    public let vocabulary: CharacterVocabulary
    /// One network for a trained model; an ensemble (`Tokenizer.ensemble`) averages the
    /// emission and transition scores of several, all reading the same encoded input.
    public let networks: [SegmenterNetwork]
    /// The first network: the one a trainer trains.
    public var network: SegmenterNetwork { networks[0] }
    /// An ensemble's averaged transition scores (nil for one network, whose own CRF
    /// decodes, so training changes it).
    private let averagedCRF: CRF?
    public let pieces: TextPieces
    public var userDictionary = UserDictionary()
    /// Pieces per network batch when segmenting.
    public var batchSize = 64

    public init(vocabulary: CharacterVocabulary, network: SegmenterNetwork, pieces: TextPieces = TextPieces()) {
        self.vocabulary = vocabulary
        self.networks = [network]
        self.averagedCRF = nil
        self.pieces = pieces
    }

    /// Several networks over one vocabulary; each must take its features
    /// (`config.featureCount == vocabulary.featureCount`).
    public init(vocabulary: CharacterVocabulary, networks: [SegmenterNetwork], pieces: TextPieces = TextPieces()) throws {
        guard !networks.isEmpty else { throw LSTMKitError.invalidArgument("a tokenizer needs at least one network") }
        for n in networks where n.config.featureCount != vocabulary.featureCount {
            throw LSTMKitError.invalidArgument("a network reads \(n.config.featureCount) features per character, the vocabulary gives \(vocabulary.featureCount)")
        }
        self.vocabulary = vocabulary
        self.networks = networks
        self.pieces = pieces
        if networks.count == 1 {
            averagedCRF = nil
        } else {
            let crf = BMES.crf()
            let scale = 1 / Float(networks.count)
            for (k, p) in crf.parameters.enumerated() {
                var mean = [Float](repeating: 0, count: p.value.count)
                for n in networks {
                    for (i, v) in n.crf.parameters[k].value.enumerated() { mean[i] += v }
                }
                p.value = mean.map { $0 * scale }
            }
            averagedCRF = crf
        }
    }

    /// The CRF that decodes.
    var crf: CRF { averagedCRF ?? network.crf }

    /// Emission scores (B, T, 4): the network's, or the mean of an ensemble's.
    func emissions(_ batch: SegmenterNetwork.Batch) -> Tensor {
        guard networks.count > 1 else { return network.emissions(batch) }
        var sum = networks[0].emissions(batch)
        for n in networks.dropFirst() {
            let e = n.emissions(batch)
            for i in 0..<sum.data.count { sum.data[i] += e.data[i] }
        }
        let scale = 1 / Float(networks.count)
        for i in 0..<sum.data.count { sum.data[i] *= scale }
        return sum
    }

    public convenience init(vocabulary: CharacterVocabulary, config: SegmenterConfig) throws {
        var config = config
        config.featureCount = vocabulary.featureCount
        let network = try SegmenterNetwork(config: config, characterCount: vocabulary.characterCount,
                                           bigramCount: vocabulary.bigramCount)
        self.init(vocabulary: vocabulary, network: network)
    }

    // MARK: Segmenting

    /// Bytes segmenting holds at once per byte of UTF-8 text, at most: the characters
    /// twice (as read and normalised), each piece's features and the tokens out. 25 were
    /// measured (`lstmkit-cli segment` on one 20 MB line: 542 MB peak).
    static let bytesPerTextByte = 32

    /// Checks (`Memory.check`) what segmenting texts of `utf8Bytes` bytes in all holds;
    /// the front doors call it before `cutMany` (a 2 GiB line would need ~64 GB).
    public static func checkSegmentingMemory(utf8Bytes: Int) throws {
        try Memory.check([utf8Bytes, bytesPerTextByte], elementSize: 1, for: "segmenting \(utf8Bytes) bytes of text")
    }

    /// Words of `text`, whitespace runs as their own tokens; joined they equal `text`.
    public func cut(_ text: String) -> [String] {
        cutMany([text])[0]
    }

    /// BMES tags, one per Unicode scalar of `text` (whitespace gets "S"): a word of n
    /// scalars gives "S" if n == 1, else "B", n - 2 times "M", "E". Scalars, not
    /// Characters, so that the tags line up with the code points every front door
    /// counts (a Python str's length, UTF-8 decoded in C), as the Python binding's do.
    public func tag(_ text: String) -> [String] {
        cut(text).flatMap { token -> [String] in
            let n = token.unicodeScalars.count
            if token.allSatisfy(\.isWhitespace) { return Array(repeating: "S", count: n) }
            return BMES.tags(wordLengths: [n]).map { BMES.names[Int($0)] }
        }
    }

    /// Segments many texts at once, batching their sentences through the network on
    /// up to `threads` threads.
    public func cutMany(_ texts: [String], threads: Int = 1) -> [[String]] {
        zip(texts, tokenEnds(texts, threads: threads)).map { text, ends in
            var text = text
            return text.withUTF8 { bytes in
                var start = 0
                return ends.map { end in
                    defer { start = end }
                    return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
                }
            }
        }
    }

    /// `cutMany`'s tokens as offsets: for each text, each token's end as a UTF-8 byte
    /// offset into it (the last is the text's length; an empty text has none).
    public func tokenEnds(_ texts: [String], threads: Int = 1) -> [[Int]] {
        let units = texts.map { TextUnits($0, vocabulary) }
        var jobs: [Job] = []
        var spansOfText: [[TextPieces.Span]] = []
        for (i, u) in units.enumerated() {
            let spans = pieces.split(classes: u.classes)
            spansOfText.append(spans)
            for case .text(let r) in spans { jobs.append(Job(text: i, range: r)) }
        }
        // User words are matched on normalised characters (as Strings): only with a dictionary.
        let normalized = userDictionary.isEmpty ? [] : texts.map { $0.map(CharacterVocabulary.normalize) }
        // Longest first, so each batch holds pieces of similar length.
        let order = jobs.indices.sorted { jobs[$0].range.count > jobs[$1].range.count }
        let batches = stride(from: 0, to: order.count, by: batchSize).map { Array(order[$0..<min($0 + batchSize, order.count)]) }
        let results = ResultSlots<[Int]>(count: jobs.count)
        let decode = { (batchIndex: Int) in
            let members = batches[batchIndex]
            let encoded = members.map { j in self.vocabulary.encode(ids: Array(units[jobs[j].text].ids[jobs[j].range])) }
            let batch = SegmenterNetwork.Batch(encoded, featureCount: self.vocabulary.featureCount)
            let scores = self.emissions(batch)
            scores.data.withUnsafeBufferPointer { s in
                for (b, j) in members.enumerated() {
                    let n = jobs[j].range.count
                    var constraints = ScriptBoundaries.constrain(classes: units[jobs[j].text].classes[jobs[j].range], nil)
                    if !normalized.isEmpty {
                        // User words override the script rule where they overlap (they are applied last).
                        constraints = self.userDictionary.constraints(for: normalized[jobs[j].text][jobs[j].range],
                                                                      startingFrom: constraints)
                    }
                    let emissions = s.baseAddress! + b * batch.steps * 4
                    // Unconstrained Viterbi fails only on NaN scores (weights of a diverged
                    // training): one word a character then, rather than a trap.
                    let tags = self.crf.viterbi(emissions: emissions, length: n, allowedTags: constraints)
                        ?? self.crf.viterbi(emissions: emissions, length: n) ?? [Int32](repeating: BMES.s, count: n)
                    results.set(j, BMES.wordLengths(tags: tags))
                }
            }
        }
        parallelForEach(batches.count, threads: threads, decode)
        let wordLengths = results.values
        // Each text's token ends, from its units' ends.
        var jobIndex = 0
        return spansOfText.enumerated().map { i, spans in
            let ends = units[i].ends
            var out: [Int] = []
            out.reserveCapacity(ends.count)
            for span in spans {
                switch span {
                case .space(let r):
                    out.append(ends[r.upperBound - 1])
                case .text(let r):
                    var start = r.lowerBound
                    for length in wordLengths[jobIndex] {
                        start += length
                        out.append(ends[start - 1])
                    }
                    jobIndex += 1
                }
            }
            return out
        }
    }

    /// One piece of work: units [range] of text `text`.
    private struct Job {
        let text: Int
        let range: Range<Int>
    }

    // MARK: User words

    public func addWords<S: Sequence>(_ words: S) where S.Element == String {
        userDictionary.add(words)
    }

    public func loadDictionary(path: String) throws {
        userDictionary.add(try UserDictionary.read(path: path))
    }

    // MARK: Files

    /// An ensemble's members are stored under "member<k>." (hyper-parameters and
    /// tensors), so a reader that knows only single networks refuses the file rather
    /// than reading one member of it.
    static func memberPrefixes(_ count: Int) -> [String] {
        count == 1 ? [""] : (0..<count).map { memberName($0) + "." }
    }

    static func memberName(_ k: Int) -> String { "member\(k)" }

    public func modelFile() -> SafeTensors {
        func list(_ items: [String]) -> String { JSONValue.array(items.map { .string($0) }).serialized }
        let prefixes = Self.memberPrefixes(networks.count)
        var metadata = ModelFile.header(kind: Self.modelKind, quantized: isQuantized)
        if networks.count > 1 { metadata.append(("members", String(networks.count))) }
        for (prefix, n) in zip(prefixes, networks) {
            let c = n.config
            metadata += [
                (prefix + "character_dim", String(c.characterDim)),
                (prefix + "bigram_dim", String(c.bigramDim)),
                (prefix + "hidden_size", String(c.hiddenSize)),
                (prefix + "num_layers", String(c.numLayers)),
                (prefix + "embedding_dropout", String(c.embeddingDropout)),
                (prefix + "output_dropout", String(c.outputDropout)),
            ] + ModelFile.cellMetadata(c.cell, prefix + "cell")
        }
        metadata.append(("max_piece_length", String(pieces.maxLength)))
        for (prefix, n) in zip(prefixes, networks) { metadata.append((prefix + "seed", String(n.config.seed))) }
        metadata += [
            ("tags", "B M E S"),
            ("dictionary_max_length", String(vocabulary.maxWordLength)),
            ("characters", list(vocabulary.characters)),
            ("bigrams", list(vocabulary.bigrams)),
            ("words", list(vocabulary.words)),
        ] + lexiconMetadata()
        var tensors = ModelFile.tensors(of: Self.module(networks))
        if networks.count > 1 {  // an ensemble's weights are half precision (see `ensemble`); int8 ones' scales F32
            let int8 = Set(tensors.filter { $0.dtype == .i8 }.map { $0.name + "_scale" })
            for i in tensors.indices where tensors[i].dtype == .f32 && !int8.contains(tensors[i].name) { tensors[i].dtype = .f16 }
        }
        return SafeTensors(metadata: metadata, tensors: tensors)
    }

    /// The tree the file stores: the network, or an ensemble's members as its children.
    static func module(_ networks: [SegmenterNetwork]) -> Module {
        networks.count == 1 ? networks[0] : ModuleList(named: networks.enumerated().map { (memberName($0.offset), $0.element) })
    }

    public func save(to path: String) throws {
        try modelFile().write(to: path)
    }

    public convenience init(modelFile file: SafeTensors) throws {
        try ModelFile.checkKind(file, expected: Self.modelKind)
        var memberCount = 1
        if file.metadata("members") != nil {
            memberCount = try ModelFile.int(file, "members")
            guard (2...Self.maxMembers).contains(memberCount) else {
                throw LSTMKitError.invalidFormat("members \(memberCount) is out of range (2 ... \(Self.maxMembers))")
            }
        }
        let maxPiece = try ModelFile.int(file, "max_piece_length")
        guard maxPiece >= 2, maxPiece <= 100_000 else { throw LSTMKitError.invalidFormat("max_piece_length \(maxPiece) is out of range") }
        let maxWord = try ModelFile.int(file, "dictionary_max_length")
        guard maxWord >= 0, maxWord <= 64 else { throw LSTMKitError.invalidFormat("dictionary_max_length \(maxWord) is out of range") }
        let vocabulary = CharacterVocabulary(characters: try ModelFile.stringList(file, "characters"), bigrams: try ModelFile.stringList(file, "bigrams"),
                                             words: try ModelFile.stringList(file, "words"), maxWordLength: maxWord,
                                             lexicon: try Self.lexicon(in: file))
        let prefixes = Self.memberPrefixes(memberCount)
        var networks: [SegmenterNetwork] = []
        for prefix in prefixes {
            var config = SegmenterConfig()
            config.characterDim = try ModelFile.int(file, prefix + "character_dim")
            config.bigramDim = try ModelFile.int(file, prefix + "bigram_dim")
            config.hiddenSize = try ModelFile.int(file, prefix + "hidden_size")
            config.numLayers = try ModelFile.int(file, prefix + "num_layers")
            config.embeddingDropout = try ModelFile.float(file, prefix + "embedding_dropout")
            config.outputDropout = try ModelFile.float(file, prefix + "output_dropout")
            config.cell = try ModelFile.cell(file, prefix + "cell")
            if let text = file.metadata(prefix + "seed") {  // optional: only resuming training needs it
                guard let seed = UInt64(text) else { throw LSTMKitError.invalidFormat("metadata \"\(prefix)seed\" is not an unsigned integer") }
                config.seed = seed
            }
            config.featureCount = vocabulary.featureCount
            do {
                try config.validate()
                try ModelFile.checkSizes(file, [
                    ("character_dim", config.characterDim, prefix + "char_embedding.weight", 1),
                    ("characters", vocabulary.characterCount, prefix + "char_embedding.weight", 0),
                    ("bigram_dim", config.bigramDim, prefix + "bigram_embedding.weight", 1),
                    ("bigrams", vocabulary.bigramCount, prefix + "bigram_embedding.weight", 0),
                ] + ModelFile.recurrentSizes(prefix: prefix + config.cell.rawValue + ".", hiddenSize: config.hiddenSize, numLayers: config.numLayers))
                networks.append(try SegmenterNetwork(config: config, characterCount: vocabulary.characterCount,
                                                     bigramCount: vocabulary.bigramCount))
            } catch let e as LSTMKitError {
                throw LSTMKitError.invalidFormat("invalid hyper-parameters: \(e.message)")
            }
        }
        try ModelFile.load(file, into: Self.module(networks))
        try self.init(vocabulary: vocabulary, networks: networks, pieces: TextPieces(maxLength: maxPiece))
    }

    /// The most networks an ensemble file may hold.
    public static let maxMembers = 16

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
