/// A text as the segmenter reads it: one unit per Character, each with the vocabulary
/// id of its normalised form, its classes (`UnitClass`) and its UTF-8 end offset in the
/// text, so that segmenting needs no String per character and the tokens come out as
/// offsets into the caller's text.
///
/// Most text (Chinese, ASCII, CJK and full-width punctuation) is read scalar by scalar:
/// when every scalar of a text is one Unicode never joins with a neighbour into one
/// grapheme cluster (`UnitClass.safe`), its Characters are its scalars, and normalising,
/// classifying and looking them up are table reads. Any other text takes the Character
/// path, which gives the same units through the String definitions (`UnitClass.of`).
struct TextUnits: Equatable {
    var ids: [Int32] = []
    var classes: [UInt8] = []
    /// The UTF-8 end offset of each unit in the text.
    var ends: [Int] = []

    /// `scalars` false: the Character path whatever the text (for tests).
    init(_ text: String, _ vocabulary: CharacterVocabulary, scalars: Bool = true) {
        let bytes = text.utf8.count
        ids.reserveCapacity(bytes)
        classes.reserveCapacity(bytes)
        ends.reserveCapacity(bytes)
        if !scalars || !readScalars(text, vocabulary) { readCharacters(text, vocabulary) }
    }

    /// The fast path; false (and nothing kept) at the first scalar that is not `safe`.
    private mutating func readScalars(_ text: String, _ vocabulary: CharacterVocabulary) -> Bool {
        let table = UnitClass.scalarTable
        var end = 0
        for s in text.unicodeScalars {
            let v = s.value
            let c: UInt8
            if v < 0x10000 {
                c = table[Int(v)]
            } else {
                c = UnitClass.isSafeSupplementary(v) ? UnitClass.safe : 0
            }
            guard c & UnitClass.safe != 0 else {
                ids.removeAll(keepingCapacity: true)
                classes.removeAll(keepingCapacity: true)
                ends.removeAll(keepingCapacity: true)
                return false
            }
            ids.append(vocabulary.id(ofScalar: CharacterVocabulary.normalize(scalar: v)))
            classes.append(c & ~UnitClass.safe)
            end &+= UTF8.width(s)
            ends.append(end)
        }
        return true
    }

    private mutating func readCharacters(_ text: String, _ vocabulary: CharacterVocabulary) {
        var end = 0
        for c in text {
            let normalized = CharacterVocabulary.normalize(c)
            ids.append(vocabulary.id(of: normalized))
            classes.append(UnitClass.of(normalized: normalized))
            end += c.utf8.count
            ends.append(end)
        }
    }
}

/// What the segmenter needs to know of a normalised character besides its id, as bits:
/// whitespace, sentence ender, clause ender (`TextPieces`), script kind
/// (`ScriptBoundaries`).
enum UnitClass {
    static let space: UInt8 = 1, sentenceEnder: UInt8 = 2, clauseEnder: UInt8 = 4
    static let kindShift: UInt8 = 3, kindMask: UInt8 = 3 << 3
    /// In `scalarTable` only: the scalar is a Character on its own whatever surrounds it.
    static let safe: UInt8 = 0x80

    /// The definition: a normalised character's classes from the String functions the
    /// training path uses too.
    static func of(normalized c: String) -> UInt8 {
        (TextPieces.isSpace(c) ? space : 0)
            | (TextPieces.sentenceEnders.contains(c) ? sentenceEnder : 0)
            | (TextPieces.clauseEnders.contains(c) ? clauseEnder : 0)
            | bits(ScriptBoundaries.kind(c))
    }

    static func bits(_ kind: ScriptBoundaries.Kind) -> UInt8 {
        switch kind {
        case .other: return 0
        case .letter: return 1 << kindShift
        case .digit: return 2 << kindShift
        case .connector: return 3 << kindShift
        }
    }

    static func kind(_ classes: UInt8) -> ScriptBoundaries.Kind {
        switch (classes & kindMask) >> kindShift {
        case 1: return .letter
        case 2: return .digit
        case 3: return .connector
        default: return .other
        }
    }

    /// Per BMP scalar, as read (before normalising): the classes of its normalised form,
    /// plus `safe`. Built from the same definitions as `of` on single scalars (the
    /// enders' sets, `ScriptBoundaries.kind(scalar:)`, Unicode's White_Space), so the two
    /// paths agree (TokenizerTests checks every safe scalar).
    static let scalarTable: [UInt8] = {
        var own = [UInt8](repeating: 0, count: 0x10000)   // classes of a scalar as it is
        for v in 0..<0x3001 where Unicode.Scalar(UInt32(v))?.properties.isWhitespace == true { own[v] |= space }
        for (set, bit) in [(TextPieces.sentenceEnders, sentenceEnder), (TextPieces.clauseEnders, clauseEnder)] {
            for c in set where c.unicodeScalars.count == 1 {
                let v = Int(c.unicodeScalars.first!.value)
                if v < 0x10000 { own[v] |= bit }
            }
        }
        for v in 0..<0x3000 { own[v] |= bits(ScriptBoundaries.kind(scalar: UInt32(v))) }
        var table = [UInt8](repeating: 0, count: 0x10000)
        for (low, high) in safeRanges {
            for v in low...high {
                table[Int(v)] = own[Int(CharacterVocabulary.normalize(scalar: v))] | safe
            }
        }
        return table
    }()

    /// BMP scalars that never join a neighbour into one grapheme cluster, in text made only
    /// of such scalars and `isSafeSupplementary` ones: none of them is CR, an extending or
    /// spacing mark, a zero-width joiner, a prepended mark, a Hangul jamo or syllable, or a
    /// regional indicator, so each Character is one scalar. Chinese text and its punctuation
    /// are covered; other scripts take the Character path.
    static let safeRanges: [(UInt32, UInt32)] = [
        (0x0000, 0x000C), (0x000E, 0x02FF),   // below the combining diacritics, except CR (CR LF is one Character)
        (0x2010, 0x2027), (0x2030, 0x205E),   // general punctuation, without the format characters
        (0x2100, 0x27BF),                     // letterlike, number forms, arrows, math, technical, enclosed, shapes, dingbats
        (0x2E80, 0x2FDF),                     // CJK and Kangxi radicals
        (0x3000, 0x3029), (0x3030, 0x3098), (0x309B, 0x312F),   // CJK punctuation, kana, bopomofo, without their marks
        (0x31A0, 0x31FF), (0x3200, 0x9FFF),   // CJK strokes, enclosed, compatibility, ideographs (A and unified)
        (0xF900, 0xFAFF),                     // CJK compatibility ideographs
        (0xFE30, 0xFE6F),                     // CJK compatibility and small forms
        (0xFF01, 0xFF9D), (0xFFE0, 0xFFEE),   // full-width and half-width forms, without the kana marks and Hangul
    ]

    /// CJK ideographs beyond the BMP (extensions B to H).
    @inline(__always)
    static func isSafeSupplementary(_ v: UInt32) -> Bool { (0x20000...0x323AF).contains(v) }
}
