/// Character and character-bigram vocabularies of the word segmenter.
///
/// Characters are normalised before lookup so that full-width and half-width Latin
/// letters, digits and punctuation (Ａ/A, ０/0, ！/!) share one id; the segmenter's
/// output always keeps the original characters.
public struct CharacterVocabulary: Equatable, Sendable {
    /// Id 0 pads batches, id 1 is any character (or bigram) not in the vocabulary.
    public static let paddingID: Int32 = 0
    public static let unknownID: Int32 = 1
    /// Stand-ins for "before the first" and "after the last" character in bigrams.
    static let sentenceStart = "\u{2}"
    static let sentenceEnd = "\u{3}"

    public private(set) var characters: [String]
    public private(set) var bigrams: [String]
    private var characterIDs: [String: Int32]
    private var bigramIDs: [String: Int32]

    public init(characters: [String], bigrams: [String]) {
        self.characters = characters
        self.bigrams = bigrams
        characterIDs = Dictionary(characters.enumerated().map { ($1, Int32($0 + 2)) }, uniquingKeysWith: { a, _ in a })
        bigramIDs = Dictionary(bigrams.enumerated().map { ($1, Int32($0 + 2)) }, uniquingKeysWith: { a, _ in a })
    }

    /// Table sizes including the padding and unknown rows.
    public var characterCount: Int { characters.count + 2 }
    public var bigramCount: Int { bigrams.count + 2 }

    /// Full-width ASCII variants (U+FF01–U+FF5E) map to ASCII, the ideographic space
    /// to a space; everything else is kept.
    public static func normalize(_ c: Character) -> String {
        let scalars = c.unicodeScalars
        if scalars.count == 1, let u = scalars.first {
            if (0xFF01...0xFF5E).contains(u.value) { return String(Unicode.Scalar(u.value - 0xFEE0)!) }
            if u.value == 0x3000 { return " " }
        }
        return String(c)
    }

    /// Builds the vocabularies from training sentences: every character, and every
    /// bigram seen at least `minBigramCount` times. Order: by frequency, then text.
    public static func build(from sentences: [[String]], minCharacterCount: Int = 1, minBigramCount: Int = 1) -> CharacterVocabulary {
        var charCounts: [String: Int] = [:]
        var bigramCounts: [String: Int] = [:]
        for words in sentences {
            let chars = words.joined().map(normalize)
            for c in chars { charCounts[c, default: 0] += 1 }
            for key in bigramKeys(chars) { bigramCounts[key, default: 0] += 1 }
        }
        func ranked(_ counts: [String: Int], _ minimum: Int) -> [String] {
            counts.filter { $0.value >= minimum }
                .sorted { $0.value != $1.value ? $0.value > $1.value : $0.key.unicodeScalars.lexicographicallyPrecedes($1.key.unicodeScalars) }
                .map(\.key)
        }
        return CharacterVocabulary(characters: ranked(charCounts, minCharacterCount), bigrams: ranked(bigramCounts, minBigramCount))
    }

    /// The T+1 bigrams around T normalised characters: (start, c0), (c0, c1), ..., (c_{T-1}, end).
    static func bigramKeys(_ chars: [String]) -> [String] {
        var keys: [String] = []
        keys.reserveCapacity(chars.count + 1)
        var previous = sentenceStart
        for c in chars {
            keys.append(previous + c)
            previous = c
        }
        keys.append(previous + sentenceEnd)
        return keys
    }

    /// Ids of one piece of text: per character its id, and the T+1 bigram ids around it
    /// (character t uses bigrams t (left) and t+1 (right)).
    public func encode(_ chars: [String]) -> (characters: [Int32], bigrams: [Int32]) {
        let c = chars.map { characterIDs[$0] ?? Self.unknownID }
        let b = Self.bigramKeys(chars).map { bigramIDs[$0] ?? Self.unknownID }
        return (c, b)
    }

    public func contains(character c: String) -> Bool { characterIDs[c] != nil }
}
