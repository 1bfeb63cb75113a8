import LSTMKitLayers

/// BMES tags for word segmentation: B begins a word, M continues it, E ends it,
/// S is a one-character word. The tokenizer's tagging scheme: the CRF layer knows no
/// tag set, and `crf()` builds one with these constraints.
public enum BMES {
    public static let b: Int32 = 0, m: Int32 = 1, e: Int32 = 2, s: Int32 = 3
    public static let names = ["B", "M", "E", "S"]

    /// Which transitions can occur in a valid segmentation: B→M/E, M→M/E, E→B/S, S→B/S;
    /// a sentence starts with B or S and ends with E or S.
    public static let allowedTransitions: [Bool] = {
        var a = [Bool](repeating: false, count: 16)
        for (i, j) in [(b, m), (b, e), (m, m), (m, e), (e, b), (e, s), (s, b), (s, s)] {
            a[Int(i) * 4 + Int(j)] = true
        }
        return a
    }()
    public static let allowedStart = [true, false, false, true]
    public static let allowedEnd = [false, false, true, true]

    /// A CRF over BMES with the forbidden transitions enforced.
    public static func crf() -> CRF {
        CRF(numTags: 4, allowedTransitions: allowedTransitions, allowedStart: allowedStart, allowedEnd: allowedEnd)
    }

    /// Tags for words of the given lengths (in characters).
    public static func tags(wordLengths: [Int]) -> [Int32] {
        var out: [Int32] = []
        for n in wordLengths where n > 0 {
            if n == 1 { out.append(s); continue }
            out.append(b)
            for _ in 0..<(n - 2) { out.append(m) }
            out.append(e)
        }
        return out
    }

    /// Word lengths from a valid tag sequence; a malformed sequence is read leniently
    /// (a word ends at E or S, or at the end).
    public static func wordLengths(tags: [Int32]) -> [Int] {
        var lengths: [Int] = []
        var current = 0
        for (i, t) in tags.enumerated() {
            if (t == b || t == s) && current > 0 {
                lengths.append(current)
                current = 0
            }
            current += 1
            if t == e || t == s || i == tags.count - 1 {
                lengths.append(current)
                current = 0
            }
        }
        return lengths
    }
}
