import LSTMKitCore
import LSTMKitIO
import LSTMKitLayers

/// Distillation: a tokenizer trained to match a teacher tokenizer (the bundled
/// ensemble) as well as the gold tags (docs/TOKENIZER.md, "A distilled tokenizer").
///
/// The loss per piece: the CRF's NLL of the gold tags (training split only) plus
/// `distillWeight` · T² · Σ_characters KL(softmax(teacher emissions / T) ‖
/// softmax(student emissions / T)), T = `distillTemperature`; on unlabelled text the KL
/// alone. Why emissions and not the teacher's CRF marginals: the ensemble decodes with
/// its averaged emissions (and averaged transitions), so the emissions are what the
/// student has to reproduce; they cost 4 floats a character to cache, their gradient is
/// closed-form (`Loss.softTargetKL`), and the student's own transitions still learn
/// from the gold tags. Marginals would fold the teacher's transitions into per-character
/// targets that the student's CRF then adds its own transitions to (counting them twice)
/// unless the student's marginals were matched instead, whose gradient runs through a
/// second forward-backward.
///
/// The teacher's scores are computed once, when the trainer is made, on clean text (the
/// student's input is corrupted as usual): on training text the teacher sees the
/// dictionary the student's training sentences see (training words seen at least
/// `dictionaryMinCount` times), so that its scores there are those of text with
/// unseen words, as it was trained; on unlabelled text both see every training word,
/// as when segmenting.
struct Distillation {
    /// Per training piece (labelled, then unlabelled): the teacher's emissions (n, 4).
    var scores: [[Float]]
    /// Pieces [0, labelled) have gold tags; the rest are unlabelled text.
    var labelled: Int

    /// The teacher's emissions of each piece of `pieces` (characters normalised), as
    /// `vocabulary` (the teacher's, perhaps with another dictionary) encodes them.
    static func teacherScores(_ teacher: Tokenizer, vocabulary: CharacterVocabulary, pieces: [[String]],
                              threads: Int) throws -> [[Float]] {
        let characters = pieces.reduce(0) { $0 + $1.count }
        // The cache (4 floats a character), beside what the teacher's batches hold.
        try Memory.check([characters, 4], for: "the teacher's scores of \(characters) characters")
        let order = pieces.indices.sorted { pieces[$0].count > pieces[$1].count }
        let size = teacher.batchSize
        let batches = stride(from: 0, to: order.count, by: size).map { Array(order[$0..<min($0 + size, order.count)]) }
        let results = ResultSlots<[Float]>(count: pieces.count)
        parallelForEach(batches.count, threads: threads) { k in
            let members = batches[k]
            let batch = SegmenterNetwork.Batch(members.map { vocabulary.encode(pieces[$0]) }, featureCount: vocabulary.featureCount)
            let e = teacher.emissions(batch)
            for (b, j) in members.enumerated() {
                results.set(j, Array(e.data[(b * batch.steps * 4)..<((b * batch.steps + pieces[j].count) * 4)]))
            }
        }
        let scores = results.values
        guard scores.allSatisfy({ $0.allSatisfy(\.isFinite) }) else {
            throw LSTMKitError.invalidArgument("the teacher's scores are not finite (weights of a diverged training?)")
        }
        return scores
    }

    /// The teacher's vocabulary with, as dictionary, only its words seen at least
    /// `minCount` times in `sentences` (the training split).
    static func trainingVocabulary(of teacher: CharacterVocabulary, sentences: [[String]], minCount: Int) -> CharacterVocabulary {
        guard teacher.maxWordLength >= 2 else { return teacher }
        var counts: [String: Int] = [:]
        for words in sentences {
            for w in words where (2...teacher.maxWordLength).contains(w.count) {
                counts[w.map(CharacterVocabulary.normalize).joined(), default: 0] += 1
            }
        }
        return CharacterVocabulary(characters: teacher.characters, bigrams: teacher.bigrams,
                                   words: teacher.words.filter { counts[$0, default: 0] >= minCount },
                                   maxWordLength: teacher.maxWordLength, lexicon: teacher.lexicon)
    }

    /// Unlabelled text (one text a line) as pieces of normalised characters, whitespace left out.
    static func unlabelledPieces(_ lines: [String], maxLength: Int) -> [[String]] {
        let splitter = TextPieces(maxLength: maxLength)
        var out: [[String]] = []
        for line in lines {
            let chars = line.map(CharacterVocabulary.normalize)
            for case .text(let r) in splitter.split(chars) { out.append(Array(chars[r])) }
        }
        return out
    }

    /// The batch's soft targets: the teacher scores padded as its emissions (B, T, 4);
    /// the CRF's lengths, 0 for unlabelled pieces, which the NLL then skips; the
    /// teacher's weight per piece, `weight` on unlabelled text and `weight` ·
    /// `labelledShare` on the training split.
    func softTargets(_ members: [Int], steps: Int, lengths: [Int], weight: Float, labelledShare: Float,
                     temperature: Float) -> SegmenterNetwork.SoftTargets {
        var padded = [Float](repeating: 0, count: members.count * steps * 4)
        for (b, j) in members.enumerated() {
            for (i, v) in scores[j].enumerated() { padded[b * steps * 4 + i] = v }
        }
        return .init(scores: padded, crfLengths: zip(members, lengths).map { $0 < labelled ? $1 : 0 },
                     weights: members.map { $0 < labelled ? weight * labelledShare : weight }, temperature: temperature)
    }
}

extension HyperParameter {
    /// A path to a file, "" for none; refused with a NUL character, which a file name
    /// cannot hold (the trainer checks the file itself).
    static func path(_ name: String, _ path: WritableKeyPath<Root, String>, _ doc: String) -> HyperParameter {
        HyperParameter(name: name, allowed: "a path without NUL characters, or \"\"", doc: doc,
                       problem: { root, name in
                           root[keyPath: path].contains("\0") ? "\(name) must be a path without NUL characters, or \"\"" : nil
                       },
                       edges: { root in
                           var none = root, bad = root
                           none[keyPath: path] = ""
                           bad[keyPath: path] = "a\0b"
                           return ([root, none], [bad])
                       },
                       parse: { root, text in root[keyPath: path] = text; return nil },
                       text: { $0[keyPath: path] })
    }
}
