/// Words of 2 ... maxLength characters, stored as a trie over character ids, and the
/// per-character features "a word of n characters begins / ends here" they give a
/// piece of text: the segmenter's training-word dictionary (its general lexicon is a
/// `LexiconFilter`, which marks its words the same way).
struct WordTrie: Sendable {
    let maxLength: Int
    // Edges keyed by (node, character id): hashing Swift strings is what made encoding slow.
    private var edges: [UInt64: Int32] = [:]
    private var isWord: [Bool] = [false]

    /// `words` whose characters are not all in `characterIDs` can never match and are skipped.
    init(words: [String], maxLength: Int, characterIDs: [String: Int32]) {
        self.maxLength = maxLength
        for word in words where word.count >= 2 && word.count <= maxLength {
            let ids = word.compactMap { characterIDs[String($0)] }
            guard ids.count == word.count else { continue }
            var node: Int32 = 0
            for c in ids {
                let key = CharacterVocabulary.pairKey(node, c)
                if let next = edges[key] {
                    node = next
                } else {
                    node = Int32(isWord.count)
                    edges[key] = node
                    isWord.append(false)
                }
            }
            isWord[Int(node)] = true
        }
    }

    /// 2·(maxLength − 1) features per character, or none when maxLength < 2.
    var featureCount: Int { maxLength >= 2 ? 2 * (maxLength - 1) : 0 }

    /// Sets, for n = 2 ... maxLength, feature 2(n−2) ("a word of n characters ends
    /// here") and 2(n−2)+1 ("... begins here") of each character: row t of `out` is
    /// out[t·stride + offset ..< t·stride + offset + featureCount].
    func mark(_ ids: [Int32], into out: inout [Float], stride: Int, offset: Int) {
        guard featureCount > 0 else { return }
        for start in 0..<ids.count {
            var node: Int32 = 0
            for n in 1...min(maxLength, ids.count - start) {
                guard let next = edges[CharacterVocabulary.pairKey(node, ids[start + n - 1])] else { break }
                node = next
                if n >= 2 && isWord[Int(node)] { markWord(start: start, length: n, in: &out, stride: stride, offset: offset) }
            }
        }
    }
}

/// Marks a word of n characters found at `start`: feature 2(n−2)+1 ("begins here") of
/// its first character, 2(n−2) ("ends here") of its last; row t of `out` is
/// out[t·stride + offset ...]. Shared by the training words' trie and the lexicon filter.
@inline(__always)
func markWord(start: Int, length n: Int, in out: inout [Float], stride: Int, offset: Int) {
    out[start * stride + offset + 2 * (n - 2) + 1] = 1
    out[(start + n - 1) * stride + offset + 2 * (n - 2)] = 1
}
