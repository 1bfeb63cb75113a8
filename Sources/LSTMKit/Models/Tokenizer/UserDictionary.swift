import LSTMKitCore
import LSTMKitIO

/// Words that must come out whole wherever they occur. They are applied inside
/// Viterbi decoding as constraints on the allowed tags (B, M..., E or S), so the rest
/// of the sentence is still decoded optimally around them.
///
/// Matching is on normalised characters, leftmost-longest, without overlaps.
public struct UserDictionary: Sendable {
    private var words: Set<String> = []
    private var lengths: Set<Int> = []
    public private(set) var maxLength = 0

    public init() {}

    public init<S: Sequence>(_ words: S) where S.Element == String {
        add(words)
    }

    public var count: Int { words.count }
    public var isEmpty: Bool { words.isEmpty }
    /// The words as kept (normalised, whitespace removed), sorted; adding them to an
    /// empty dictionary gives this one again.
    public var sortedWords: [String] { words.sorted() }

    /// Adds words (surrounding whitespace is trimmed; empty entries are ignored).
    public mutating func add<S: Sequence>(_ newWords: S) where S.Element == String {
        for raw in newWords {
            let chars = raw.filter { !$0.isWhitespace }.map(CharacterVocabulary.normalize)
            guard !chars.isEmpty else { continue }
            words.insert(chars.joined())
            lengths.insert(chars.count)
            maxLength = max(maxLength, chars.count)
        }
    }

    public mutating func removeAll() {
        words = []
        lengths = []
        maxLength = 0
    }

    /// Reads one word per line (anything after the first space or tab on a line, such
    /// as a frequency or a part of speech as in jieba's format, is ignored).
    public static func read(path: String) throws -> [String] {
        parse(try TextFile.utf8(try FileIO.read(path, limit: 1 << 30), name: path))
    }

    /// The words of a text in the format `read` takes.
    public static func parse(_ text: String) -> [String] {
        text.split(whereSeparator: \.isNewline).compactMap { line in
            line.split(whereSeparator: { $0 == " " || $0 == "\t" }).first.map(String.init)
        }
    }

    /// Per position of `chars` the allowed tags (4 per position): `initial` (nil: all
    /// allowed) with each user word's positions forced to its tags; nil when nothing
    /// constrains them.
    public func constraints(for chars: ArraySlice<String>, startingFrom initial: [Bool]? = nil) -> [Bool]? {
        guard !words.isEmpty else { return initial }
        let n = chars.count
        let base = chars.startIndex
        var allowed = initial
        var i = 0
        while i < n {
            var matched = 0
            for length in stride(from: min(maxLength, n - i), through: 1, by: -1) where lengths.contains(length) {
                if words.contains(chars[(base + i)..<(base + i + length)].joined()) {
                    matched = length
                    break
                }
            }
            guard matched > 0 else { i += 1; continue }
            if allowed == nil { allowed = [Bool](repeating: true, count: n * 4) }
            let forced = BMES.tags(wordLengths: [matched])
            for (k, tag) in forced.enumerated() {
                for j in 0..<4 { allowed![(i + k) * 4 + j] = j == Int(tag) }
            }
            i += matched
        }
        return allowed
    }
}
