/// Latin words come out whole and apart from Chinese ("买了iPhone12手机" → 买 了
/// iPhone12 手机): each run of Latin letters and digits that holds a letter, with
/// connectors between them ("CD-ROM", "MD—80", "U.S", "TCP/IP"), is forced to be one
/// word (as the corpus writes "ＣＤ—ＲＯＭ"). The training corpus (People's Daily 1998) has almost no Latin text, so
/// the network never learned this; every segmenter people use does it. Runs of digits
/// alone are left to the network: the corpus keeps "1998年" as one word.
enum ScriptBoundaries {
    /// Adds the runs to `allowed` ((n, 4) BMES tags per position, nil = no constraint
    /// yet) over normalised characters; returns nil when there is nothing to constrain.
    static func constrain(_ chars: ArraySlice<String>, _ allowed: [Bool]?) -> [Bool]? {
        constrain(kinds: chars.map(kind), allowed)
    }

    /// `constrain` over units' classes (`UnitClass`).
    static func constrain(classes: ArraySlice<UInt8>, _ allowed: [Bool]?) -> [Bool]? {
        let letter = UnitClass.bits(.letter)
        // Only a run with a letter is constrained: most Chinese pieces have none.
        guard classes.contains(where: { $0 & UnitClass.kindMask == letter }) else { return allowed }
        return constrain(kinds: classes.map(UnitClass.kind), allowed)
    }

    private static func constrain(kinds: [Kind], _ allowed: [Bool]?) -> [Bool]? {
        var allowed = allowed
        var start = 0
        while start < kinds.count {
            guard kinds[start] == .letter || kinds[start] == .digit else { start += 1; continue }
            var end = start
            var hasLetter = false
            while end < kinds.count {
                if kinds[end] == .letter || kinds[end] == .digit {
                    hasLetter = hasLetter || kinds[end] == .letter
                    end += 1
                } else if kinds[end] == .connector && end + 1 < kinds.count
                            && (kinds[end + 1] == .letter || kinds[end + 1] == .digit) {
                    end += 1
                } else {
                    break
                }
            }
            if hasLetter {
                if allowed == nil { allowed = [Bool](repeating: true, count: kinds.count * 4) }
                for (k, tag) in BMES.tags(wordLengths: [end - start]).enumerated() {
                    for j in 0..<4 { allowed![(start + k) * 4 + j] = j == Int(tag) }
                }
            }
            start = end
        }
        return allowed
    }

    enum Kind { case letter, digit, connector, other }

    static func kind(_ c: String) -> Kind {
        guard let u = c.unicodeScalars.first, c.unicodeScalars.count == 1 else { return .other }
        return kind(scalar: u.value)
    }

    static func kind(scalar: UInt32) -> Kind {
        switch scalar {
        case 0x41...0x5A, 0x61...0x7A: return .letter   // normalised: full-width forms are ASCII here
        case 0x30...0x39: return .digit
        case 0x2D, 0x2E, 0x2F, 0x5F, 0x26, 0x27, 0xB7, 0x2013, 0x2014: return .connector   // - . / _ & ' · – —
        default: return .other
        }
    }
}
