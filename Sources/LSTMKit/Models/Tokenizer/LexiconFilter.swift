/// The segmenter's general lexicon as a Bloom filter over words' character ids.
///
/// A lexicon of ~800,000 words stored as a list made the model file twice as large
/// and loading it (parsing and building a trie) took over a second; the filter takes
/// ~12 bits a word and loads as one base64 string. It answers "is this run of
/// characters a lexicon word?" with a small rate of false "yes" (about 0.3 % at 12
/// bits a word) and never a false "no"; training and segmenting read the same filter,
/// so the network learns from exactly the features it will see.
public struct LexiconFilter: Equatable, Sendable {
    /// Words of 2 ... maxLength characters are looked up.
    public let maxLength: Int
    /// Words the filter was built from.
    public let wordCount: Int
    public let hashCount: Int
    /// The bit array, 64 bits a word.
    public let bits: [UInt64]
    private var bitCount: UInt64 { UInt64(bits.count) * 64 }

    public static let bitsPerWord = 12
    public static let defaultHashCount = 8

    /// `words` as character-id sequences (2 ... maxLength ids each).
    init(words: [[Int32]], maxLength: Int, hashCount: Int = defaultHashCount) {
        self.maxLength = maxLength
        self.wordCount = words.count
        self.hashCount = hashCount
        var bits = [UInt64](repeating: 0, count: max(1, (words.count * Self.bitsPerWord + 63) / 64))
        let m = UInt64(bits.count) * 64
        for word in words {
            var h = Self.seed
            for id in word { h = Self.extend(h, id) }
            let (h1, h2) = Self.doubleHash(h)
            for i in 0..<UInt64(hashCount) {
                let probe = (h1 &+ i &* h2) % m
                bits[Int(probe >> 6)] |= 1 << (probe & 63)
            }
        }
        self.bits = bits
    }

    /// A filter read from a model file; nil when the parts do not fit together.
    public init?(maxLength: Int, wordCount: Int, hashCount: Int, bits: [UInt64]) {
        guard maxLength >= 2, wordCount >= 0, (1...32).contains(hashCount), !bits.isEmpty else { return nil }
        self.maxLength = maxLength
        self.wordCount = wordCount
        self.hashCount = hashCount
        self.bits = bits
    }

    /// 2·(maxLength − 1) features per character: see `WordTrie.mark`.
    var featureCount: Int { 2 * (maxLength - 1) }

    /// Marks every lexicon word of 2 ... maxLength characters in `ids` (see `markWord`).
    /// A run through an unknown character is never a word.
    func mark(_ ids: [Int32], into out: inout [Float], stride: Int, offset: Int) {
        let m = bitCount
        for start in 0..<ids.count {
            var h = Self.seed
            for n in 1...min(maxLength, ids.count - start) {
                let id = ids[start + n - 1]
                if id == CharacterVocabulary.unknownID { break }
                h = Self.extend(h, id)
                if n >= 2 && contains(h, bitCount: m) { markWord(start: start, length: n, in: &out, stride: stride, offset: offset) }
            }
        }
    }

    /// Whether the word of these ids is (probably) in the lexicon.
    func contains(_ ids: [Int32]) -> Bool {
        var h = Self.seed
        for id in ids { h = Self.extend(h, id) }
        return contains(h, bitCount: bitCount)
    }

    private func contains(_ h: UInt64, bitCount m: UInt64) -> Bool {
        let (h1, h2) = Self.doubleHash(h)
        // The probes of `init`, (h1 + i·h2) mod m, without a division each: h1 + i·h2 <
        // 2^38 never wraps, so each probe is the last plus h2 mod m, less m if past it.
        var probe = h1 % m
        let step = h2 % m
        return bits.withUnsafeBufferPointer { bits in
            for _ in 0..<hashCount {
                if bits[Int(probe >> 6)] & (1 << (probe & 63)) == 0 { return false }
                probe += step
                if probe >= m { probe -= m }
            }
            return true
        }
    }

    // FNV-1a over the ids' bytes, one id at a time, so a run's hash extends by a character.
    private static let seed: UInt64 = 0xcbf2_9ce4_8422_2325

    @inline(__always)
    private static func extend(_ h: UInt64, _ id: Int32) -> UInt64 {
        var h = h
        var v = UInt32(bitPattern: id)
        for _ in 0..<4 {
            h = (h ^ UInt64(v & 0xff)) &* 0x100_0000_01b3
            v >>= 8
        }
        return h
    }

    /// The k bit positions are h1 + i·h2 mod m (double hashing, Kirsch–Mitzenmacher)
    /// for i < k, from a mixed hash.
    @inline(__always)
    private static func doubleHash(_ h: UInt64) -> (UInt64, UInt64) {
        var z = h &+ 0x9e37_79b9_7f4a_7c15   // splitmix64's finaliser
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        z ^= z >> 31
        let h1 = z & 0xffff_ffff, h2 = (z >> 32) | 1
        return (h1, h2)
    }
}
