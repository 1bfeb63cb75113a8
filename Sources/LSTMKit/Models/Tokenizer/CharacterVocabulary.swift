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
    /// Dictionary words (normalised) whose presence around each character is a feature.
    public private(set) var words: [String]
    /// Words of 2 ... maxWordLength characters are looked up; 0 turns the features off.
    public let maxWordLength: Int
    /// A general lexicon (words from outside the training data), a second set of
    /// features of the same kind, the same in training and segmenting.
    public let lexicon: LexiconFilter?
    public var lexiconMaxLength: Int { lexicon?.maxLength ?? 0 }
    private var characterIDs: [String: Int32]
    // Segmenting looks bigrams up by their pair of character ids, not by strings
    // (hashing Swift strings is what made encoding slow), and words by character ids
    // too (a trie for the training words, a filter for the lexicon).
    private var bigramIDs: [UInt64: Int32] = [:]
    private var wordTrie: WordTrie
    // Segmenting looks characters up by their scalar (`TextUnits`): the ids of the
    // vocabulary's one-scalar characters, directly for the BMP.
    private var bmpIDs: [Int32]
    private var supplementaryIDs: [UInt32: Int32] = [:]
    /// Character-id stand-ins for the sentence start and end in bigrams.
    private static let startID: Int32 = -1, endID: Int32 = -2

    public init(characters: [String], bigrams: [String], words: [String] = [], maxWordLength: Int = 0,
                lexicon: LexiconFilter? = nil) {
        self.characters = characters
        self.bigrams = bigrams
        self.words = words
        self.maxWordLength = maxWordLength
        self.lexicon = lexicon
        let characterIDs = Dictionary(characters.enumerated().map { ($1, Int32($0 + 2)) }, uniquingKeysWith: { a, _ in a })
        self.characterIDs = characterIDs
        var bmpIDs = [Int32](repeating: Self.unknownID, count: 0x10000)
        for (c, id) in characterIDs where c.unicodeScalars.count == 1 {
            let v = c.unicodeScalars.first!.value
            if v < 0x10000 { bmpIDs[Int(v)] = id } else { supplementaryIDs[v] = id }
        }
        self.bmpIDs = bmpIDs
        func id(_ c: Character) -> Int32? {
            let s = String(c)
            return s == Self.sentenceStart ? Self.startID : s == Self.sentenceEnd ? Self.endID : characterIDs[s]
        }
        // A bigram whose characters are not both in the vocabulary can never match.
        for (i, bigram) in bigrams.enumerated() {
            let parts = Array(bigram)
            guard parts.count == 2, let a = id(parts[0]), let b = id(parts[1]) else { continue }
            bigramIDs[Self.pairKey(a, b)] = bigramIDs[Self.pairKey(a, b)] ?? Int32(i + 2)
        }
        wordTrie = WordTrie(words: words, maxLength: maxWordLength, characterIDs: characterIDs)
    }

    @inline(__always)
    static func pairKey(_ a: Int32, _ b: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    }

    public static func == (a: CharacterVocabulary, b: CharacterVocabulary) -> Bool {
        a.characters == b.characters && a.bigrams == b.bigrams && a.words == b.words && a.maxWordLength == b.maxWordLength
            && a.lexicon == b.lexicon
    }

    /// Features per character: for n = 2 ... maxWordLength, "a dictionary word of n
    /// characters ends here" and "... begins here"; then the same for the lexicon.
    public var featureCount: Int { wordTrie.featureCount + (lexicon?.featureCount ?? 0) }
    /// The dictionary's share of `featureCount` (its columns come first).
    public var dictionaryFeatureCount: Int { wordTrie.featureCount }

    /// The same vocabulary with a lexicon filter built from `lexicon`: its words
    /// normalised, and only those that can match (2 ... maxLength characters, all in
    /// the vocabulary) kept.
    public func with(lexicon: [String], maxLength: Int) -> CharacterVocabulary {
        var kept = Set<[Int32]>()
        for word in lexicon {
            let ids = word.map { characterIDs[Self.normalize($0)] }
            guard ids.count >= 2, ids.count <= maxLength, !ids.contains(nil) else { continue }
            kept.insert(ids.map { $0! })
        }
        return with(lexicon: LexiconFilter(words: Array(kept), maxLength: maxLength))
    }

    /// The same vocabulary with this lexicon filter.
    func with(lexicon: LexiconFilter?) -> CharacterVocabulary {
        CharacterVocabulary(characters: characters, bigrams: bigrams, words: words, maxWordLength: maxWordLength, lexicon: lexicon)
    }

    /// Table sizes including the padding and unknown rows.
    public var characterCount: Int { characters.count + 2 }
    public var bigramCount: Int { bigrams.count + 2 }

    /// Full-width ASCII variants (U+FF01–U+FF5E) map to ASCII, the ideographic space
    /// to a space; everything else is kept.
    public static func normalize(_ c: Character) -> String {
        let scalars = c.unicodeScalars
        if scalars.count == 1, let u = scalars.first {
            let v = normalize(scalar: u.value)
            if v != u.value { return String(Unicode.Scalar(v)!) }
        }
        return String(c)
    }

    /// `normalize` of a Character that is one scalar, on its value.
    @inline(__always)
    static func normalize(scalar v: UInt32) -> UInt32 {
        (0xFF01...0xFF5E).contains(v) ? v - 0xFEE0 : v == 0x3000 ? 0x20 : v
    }

    /// The id of a normalised character (`unknownID` if it is not in the vocabulary).
    func id(of normalized: String) -> Int32 { characterIDs[normalized] ?? Self.unknownID }

    /// The id of the normalised character that is the scalar `v`.
    @inline(__always)
    func id(ofScalar v: UInt32) -> Int32 {
        v < 0x10000 ? bmpIDs[Int(v)] : supplementaryIDs[v] ?? Self.unknownID
    }

    /// Builds the vocabularies from training sentences: every character, and every
    /// bigram seen at least `minBigramCount` times. Order: by frequency, then text.
    ///
    /// Dictionary words are the training words of 2 ... maxWordLength characters seen
    /// at least `minWordCount` times. (Training uses 2: leaving out the words seen once
    /// makes training look like test time, where some words are not in the dictionary,
    /// so the network learns not to lean on the dictionary alone.)
    public static func build(from sentences: [[String]], minCharacterCount: Int = 1, minBigramCount: Int = 1,
                             maxWordLength: Int = 0, minWordCount: Int = 2) -> CharacterVocabulary {
        var charCounts: [String: Int] = [:]
        var bigramCounts: [String: Int] = [:]
        var wordCounts: [String: Int] = [:]
        for words in sentences {
            let chars = words.joined().map(normalize)
            for c in chars { charCounts[c, default: 0] += 1 }
            for key in bigramKeys(chars) { bigramCounts[key, default: 0] += 1 }
            if maxWordLength >= 2 {
                for w in words where (2...maxWordLength).contains(w.count) {
                    wordCounts[w.map(normalize).joined(), default: 0] += 1
                }
            }
        }
        func ranked(_ counts: [String: Int], _ minimum: Int) -> [String] {
            counts.filter { $0.value >= minimum }
                .sorted { $0.value != $1.value ? $0.value > $1.value : $0.key.unicodeScalars.lexicographicallyPrecedes($1.key.unicodeScalars) }
                .map(\.key)
        }
        return CharacterVocabulary(characters: ranked(charCounts, minCharacterCount), bigrams: ranked(bigramCounts, minBigramCount),
                                   words: maxWordLength >= 2 ? ranked(wordCounts, minWordCount) : [], maxWordLength: maxWordLength)
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

    /// One piece of text as the network reads it: per character its id, the T+1
    /// bigram ids around it (character t uses bigrams t (left) and t+1 (right)) and
    /// its dictionary features (T, featureCount).
    public func encode(_ chars: [String]) -> EncodedPiece {
        encode(ids: chars.map { characterIDs[$0] ?? Self.unknownID })
    }

    /// `encode` of the characters with these ids.
    func encode(ids c: [Int32]) -> EncodedPiece {
        var b = [Int32](repeating: Self.unknownID, count: c.count + 1)
        var previous = Self.startID
        for (t, id) in c.enumerated() {
            if id != Self.unknownID { b[t] = bigramIDs[Self.pairKey(previous, id)] ?? Self.unknownID }
            previous = id
        }
        if previous != Self.unknownID { b[c.count] = bigramIDs[Self.pairKey(previous, Self.endID)] ?? Self.unknownID }
        return EncodedPiece(characters: c, bigrams: b, features: dictionaryFeatures(c))
    }

    func dictionaryFeatures(_ ids: [Int32]) -> [Float] {
        let f = featureCount
        guard f > 0 else { return [] }
        var out = [Float](repeating: 0, count: ids.count * f)
        wordTrie.mark(ids, into: &out, stride: f, offset: 0)
        lexicon?.mark(ids, into: &out, stride: f, offset: wordTrie.featureCount)
        return out
    }

    public func contains(character c: String) -> Bool { characterIDs[c] != nil }
}

/// A piece of text encoded for the network, with its BMES tags when training.
public struct EncodedPiece: Sendable {
    public var characters: [Int32]
    public var bigrams: [Int32]
    public var features: [Float]
    public var tags: [Int32] = []
}
