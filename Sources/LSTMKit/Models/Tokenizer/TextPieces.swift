/// How text is cut into the pieces the network sees. The same rules serve training
/// and segmentation, so a long line gives exactly the result of its sentences.
///
/// A piece ends after sentence-final punctuation, before and after whitespace (which
/// is passed through as its own token), and at `maxLength` characters: if a piece
/// would grow longer, it is cut after its last clause punctuation, or else hard.
public struct TextPieces {
    public static let sentenceEnders: Set<String> = ["。", "！", "？", "!", "?", "；", ";", "…"]
    static let clauseEnders: Set<String> = ["，", ",", "、", "：", ":"]

    public enum Span: Equatable {
        /// Characters [start, end) to be segmented by the model.
        case text(Range<Int>)
        /// Whitespace [start, end) kept as one token.
        case space(Range<Int>)
    }

    public let maxLength: Int

    public init(maxLength: Int = 300) {
        precondition(maxLength >= 2)
        self.maxLength = maxLength
    }

    /// Spans over the characters `chars` (already normalised), in order, covering all.
    public func split(_ chars: [String]) -> [Span] {
        var spans: [Span] = []
        var i = 0
        while i < chars.count {
            if Self.isSpace(chars[i]) {
                let start = i
                while i < chars.count && Self.isSpace(chars[i]) { i += 1 }
                spans.append(.space(start..<i))
                continue
            }
            var start = i
            var lastClauseEnd: Int?
            while i < chars.count && !Self.isSpace(chars[i]) {
                let c = chars[i]
                i += 1
                if Self.sentenceEnders.contains(c) {
                    // Keep a run of enders ("？！", "……") together.
                    while i < chars.count && Self.sentenceEnders.contains(chars[i]) && i - start < maxLength { i += 1 }
                    spans.append(.text(start..<i))
                    start = i
                    lastClauseEnd = nil
                    continue
                }
                if Self.clauseEnders.contains(c) { lastClauseEnd = i }
                if i - start == maxLength {
                    let cut = lastClauseEnd ?? i
                    spans.append(.text(start..<cut))
                    start = cut
                    lastClauseEnd = nil
                }
            }
            if start < i { spans.append(.text(start..<i)) }
        }
        return spans
    }

    static func isSpace(_ c: String) -> Bool {
        c.unicodeScalars.allSatisfy { $0.properties.isWhitespace }
    }
}
