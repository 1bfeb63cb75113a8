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
        split(count: chars.count, isSpace: { Self.isSpace(chars[$0]) },
              isSentenceEnder: { Self.sentenceEnders.contains(chars[$0]) },
              isClauseEnder: { Self.clauseEnders.contains(chars[$0]) })
    }

    /// `split` over units' classes (`UnitClass`).
    func split(classes: [UInt8]) -> [Span] {
        split(count: classes.count, isSpace: { classes[$0] & UnitClass.space != 0 },
              isSentenceEnder: { classes[$0] & UnitClass.sentenceEnder != 0 },
              isClauseEnder: { classes[$0] & UnitClass.clauseEnder != 0 })
    }

    @inline(__always)
    private func split(count: Int, isSpace: (Int) -> Bool, isSentenceEnder: (Int) -> Bool,
                       isClauseEnder: (Int) -> Bool) -> [Span] {
        var spans: [Span] = []
        var i = 0
        while i < count {
            if isSpace(i) {
                let start = i
                while i < count && isSpace(i) { i += 1 }
                spans.append(.space(start..<i))
                continue
            }
            var start = i
            var lastClauseEnd: Int?
            while i < count && !isSpace(i) {
                let c = i
                i += 1
                if isSentenceEnder(c) {
                    // Keep a run of enders ("？！", "……") together.
                    while i < count && isSentenceEnder(i) && i - start < maxLength { i += 1 }
                    spans.append(.text(start..<i))
                    start = i
                    lastClauseEnd = nil
                    continue
                }
                if isClauseEnder(c) { lastClauseEnd = i }
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
