/// Turns text into token ids for the text classifier: characters for Chinese (and any
/// text with CJK ideographs), lower-cased words for other scripts. Full-width Latin
/// letters and digits are normalised first, as in the word segmenter.
public struct TextVocabulary: Equatable, Sendable {
    public static let paddingID: Int32 = 0
    public static let unknownID: Int32 = 1

    public enum Mode: String, Sendable {
        /// One token per non-space character.
        case characters
        /// Lower-cased runs of letters and digits (apostrophes kept inside words);
        /// every other non-space character is a token of its own.
        case words
    }

    public let mode: Mode
    public let tokens: [String]
    /// Pairs of neighbouring tokens (see `bigramKey`), the second one "end" after the last.
    public let bigrams: [String]
    /// Runs of 1 to n neighbouring tokens (see `ngramKeys`) for the n-gram features;
    /// their ids are their positions (no padding or unknown id: unknown n-grams are left out).
    public let ngrams: [String]
    private let ids: [String: Int32]
    private let bigramIDs: [String: Int32]
    private let ngramIDs: [String: Int32]

    public init(mode: Mode, tokens: [String], bigrams: [String] = [], ngrams: [String] = []) {
        self.mode = mode
        self.tokens = tokens
        self.bigrams = bigrams
        self.ngrams = ngrams
        ids = Dictionary(tokens.enumerated().map { ($1, Int32($0 + 2)) }, uniquingKeysWith: { a, _ in a })
        bigramIDs = Dictionary(bigrams.enumerated().map { ($1, Int32($0 + 2)) }, uniquingKeysWith: { a, _ in a })
        ngramIDs = Dictionary(ngrams.enumerated().map { ($1, Int32($0)) }, uniquingKeysWith: { a, _ in a })
    }

    public static func == (a: TextVocabulary, b: TextVocabulary) -> Bool {
        a.mode == b.mode && a.tokens == b.tokens && a.bigrams == b.bigrams && a.ngrams == b.ngrams
    }

    /// Table sizes including padding and unknown.
    public var count: Int { tokens.count + 2 }
    public var bigramCount: Int { bigrams.count + 2 }

    /// A token and its right neighbour (U+0003 after the last token), joined by U+001F.
    static func bigramKey(_ a: String, _ b: String?) -> String { a + "\u{1F}" + (b ?? "\u{3}") }

    static func bigramKeys(_ tokens: [String]) -> [String] {
        tokens.indices.map { bigramKey(tokens[$0], $0 + 1 < tokens.count ? tokens[$0 + 1] : nil) }
    }

    /// Every run of 1 to `maxOrder` neighbouring tokens, its tokens joined by U+001F.
    static func ngramKeys(_ tokens: [String], maxOrder: Int) -> [String] {
        var keys: [String] = []
        for start in tokens.indices {
            var key = ""
            for end in start..<min(start + maxOrder, tokens.count) {
                key += (end == start ? "" : "\u{1F}") + tokens[end]
                keys.append(key)
            }
        }
        return keys
    }

    /// Characters when at least a tenth of the non-space characters are CJK ideographs.
    public static func detectMode<S: Sequence>(_ texts: S) -> Mode where S.Element == String {
        var cjk = 0, other = 0
        for text in texts.prefix(2000) {
            for u in text.unicodeScalars where !u.properties.isWhitespace {
                if (0x4E00...0x9FFF).contains(u.value) || (0x3400...0x4DBF).contains(u.value) { cjk += 1 } else { other += 1 }
            }
        }
        return cjk * 10 >= cjk + other && cjk > 0 ? .characters : .words
    }

    /// The tokens of `text`; with `maxTokens`, only the first that many (the same as
    /// truncating the whole list), reading no further into the text: a huge text costs
    /// no more memory than a short one.
    public static func tokenize(_ text: String, mode: Mode, maxTokens: Int = .max) -> [String] {
        let chars = text.lazy.map(CharacterVocabulary.normalize)
        var out: [String] = []
        guard maxTokens > 0 else { return out }
        switch mode {
        case .characters:
            for c in chars where !TextPieces.isSpace(c) {
                out.append(c)
                if out.count == maxTokens { break }
            }
        case .words:
            var word = ""
            func flush() { if !word.isEmpty { out.append(word); word = "" } }
            for c in chars {
                let isWordChar = c.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || $0.properties.numericType != nil }
                if isWordChar || (c == "'" && !word.isEmpty) {
                    word += c.lowercased()
                } else {
                    flush()
                    // A token finished only here: the first `maxTokens` are final.
                    if out.count >= maxTokens { break }
                    if !TextPieces.isSpace(c) { out.append(c) }
                }
                if out.count >= maxTokens { break }
            }
            flush()
        }
        if out.count > maxTokens { out.removeLast(out.count - maxTokens) }
        return out
    }

    /// Tokens seen at least `minCount` times in the texts, most frequent first; unless
    /// `minBigramCount` is nil, the token bigrams seen at least that often; with
    /// `ngramOrder` > 0, the runs of 1 to `ngramOrder` tokens seen in at least
    /// `minNgramCount` texts.
    public static func build(from texts: [String], mode: Mode, minCount: Int, minBigramCount: Int? = nil,
                             ngramOrder: Int = 0, minNgramCount: Int = 2) -> TextVocabulary {
        var counts: [String: Int] = [:]
        var bigramCounts: [String: Int] = [:]
        var ngramCounts: [String: Int] = [:]
        for t in texts {
            let tokens = tokenize(t, mode: mode)
            for token in tokens { counts[token, default: 0] += 1 }
            if minBigramCount != nil { for key in bigramKeys(tokens) { bigramCounts[key, default: 0] += 1 } }
            if ngramOrder > 0 { for key in Set(ngramKeys(tokens, maxOrder: ngramOrder)) { ngramCounts[key, default: 0] += 1 } }
        }
        func ranked(_ counts: [String: Int], _ minimum: Int) -> [String] {
            counts.filter { $0.value >= minimum }
                .sorted { $0.value != $1.value ? $0.value > $1.value : $0.key.unicodeScalars.lexicographicallyPrecedes($1.key.unicodeScalars) }
                .map(\.key)
        }
        return TextVocabulary(mode: mode, tokens: ranked(counts, minCount),
                              bigrams: minBigramCount.map { ranked(bigramCounts, $0) } ?? [],
                              ngrams: ngramOrder > 0 ? ranked(ngramCounts, minNgramCount) : [])
    }

    /// Token ids and bigram ids of a text, at most `maxLength` (the first ones: longer
    /// texts are truncated); an empty text gives one unknown token, so every text has a
    /// length.
    /// With `ngramOrder` > 0 also the ids of its known runs of 1 to `ngramOrder` tokens
    /// (each occurrence), from the same truncated tokens.
    public func encode(_ text: String, maxLength: Int, ngramOrder: Int = 0)
        -> (tokens: [String], ids: [Int32], bigramIDs: [Int32], ngramIDs: [Int32]) {
        let tokens = Self.tokenize(text, mode: mode, maxTokens: maxLength)
        if tokens.isEmpty { return ([], [Self.unknownID], [Self.unknownID], []) }
        return (tokens, tokens.map { ids[$0] ?? Self.unknownID },
                Self.bigramKeys(tokens).map { bigramIDs[$0] ?? Self.unknownID },
                ngramOrder > 0 ? Self.ngramKeys(tokens, maxOrder: ngramOrder).compactMap { ngramIDs[$0] } : [])
    }
}
