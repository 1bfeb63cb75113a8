import LSTMKitCore

/// The tokens of one side of a seq2seq model (source or target): characters or
/// whitespace-separated words, built from training texts, plus four reserved ids.
/// Unknown symbols map to UNK; the model file stores the token list.
public struct Seq2SeqVocabulary: Equatable, Sendable {
    public static let padding: Int32 = 0
    public static let begin: Int32 = 1
    public static let end: Int32 = 2
    public static let unknown: Int32 = 3
    /// PAD, BOS, EOS, UNK: ids 0...3; the tokens follow from id 4.
    static let reservedCount = 4

    public enum Mode: String, CaseIterable, Sendable {
        /// One token per character (grapheme cluster), spaces included: text is the
        /// tokens joined with nothing.
        case characters
        /// Runs of non-whitespace: text is the tokens joined with single spaces.
        case words
    }

    public let mode: Mode
    /// The tokens, id 4 on.
    public let tokens: [String]
    private let ids: [String: Int32]

    /// Throws `invalidFormat` on an empty or repeated token (a file's list).
    public init(mode: Mode, tokens: [String]) throws {
        var ids: [String: Int32] = [:]
        for (i, t) in tokens.enumerated() {
            guard !t.isEmpty, ids.updateValue(Int32(i + Self.reservedCount), forKey: t) == nil else {
                throw LSTMKitError.invalidFormat("the vocabulary holds an empty or repeated token at \(i)")
            }
        }
        (self.mode, self.tokens, self.ids) = (mode, tokens, ids)
    }

    /// The tokens of `texts` seen at least `minCount` times, most frequent first (ties
    /// in code-point order, so the ids do not depend on the texts' order).
    public init(mode: Mode, texts: [String], minCount: Int) {
        var counts: [String: Int] = [:]
        for text in texts { for t in Self.split(text, mode) { counts[t, default: 0] += 1 } }
        let kept = counts.filter { $0.value >= minCount }
            .sorted { $0.value != $1.value ? $0.value > $1.value : Array($0.key.unicodeScalars.map(\.value)).lexicographicallyPrecedes($1.key.unicodeScalars.map(\.value)) }
        try! self.init(mode: mode, tokens: kept.map(\.key))   // counted keys are unique and non-empty
    }

    public static func == (a: Self, b: Self) -> Bool { a.mode == b.mode && a.tokens == b.tokens }

    /// Table size: the tokens and the four reserved ids.
    public var count: Int { tokens.count + Self.reservedCount }

    static func split(_ text: String, _ mode: Mode) -> [String] {
        switch mode {
        case .characters: return text.map(String.init)
        case .words: return text.split(whereSeparator: \.isWhitespace).map(String.init)
        }
    }

    /// The tokens of a text.
    public func split(_ text: String) -> [String] { Self.split(text, mode) }

    /// Token ids, without BOS or EOS; unknown tokens are UNK.
    public func encode(_ text: String) -> [Int32] { split(text).map { ids[$0] ?? Self.unknown } }

    /// A token id's text: the token, or "<pad>", "<s>", "</s>", "<unk>".
    public func token(_ id: Int32) -> String {
        switch id {
        case Self.padding: return "<pad>"
        case Self.begin: return "<s>"
        case Self.end: return "</s>"
        case Self.unknown: return "<unk>"
        default: return tokens[Int(id) - Self.reservedCount]
        }
    }

    /// The text of token ids (the reserved ones as `token` writes them).
    public func text(_ ids: [Int32]) -> String {
        ids.map(token).joined(separator: mode == .words ? " " : "")
    }
}
