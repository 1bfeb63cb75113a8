import LSTMKitCore

/// Ensembles: several trained tokenizers segmenting as one, their emission and
/// transition scores averaged before Viterbi; stored with 16-bit weights.
///
/// Why: a model that sees the training words as dictionary features segments the
/// words it was trained on best, one without them the unseen words (it leans on the
/// general lexicon instead); averaging the two keeps most of both (docs/TOKENIZER.md).
extension Tokenizer {
    /// One tokenizer whose networks are the members' (an ensemble member contributes
    /// all of its networks). The members must share characters, bigrams, lexicon and
    /// piece length; those with dictionary features must share the dictionary, and a
    /// member without them reads the dictionary columns with zero weights, which
    /// leaves its scores exactly as they were. The members are not changed (the ensemble
    /// holds copies), and their user words are not carried over.
    public static func ensemble(_ members: [Tokenizer]) throws -> Tokenizer {
        guard members.count >= 2 else { throw LSTMKitError.invalidArgument("an ensemble needs at least two tokenizers, got \(members.count)") }
        // Copying a member reads its float weights, which an int8 one no longer holds.
        if let k = members.firstIndex(where: \.isQuantized) {
            throw LSTMKitError.invalidArgument("tokenizer \(k + 1) is int8-quantized; build the ensemble from float32 members, then quantize it")
        }
        let first = members[0].vocabulary
        for (k, m) in members.enumerated().dropFirst() {
            let v = m.vocabulary
            func differ(_ what: String) -> LSTMKitError {
                .invalidArgument("tokenizer \(k + 1) was trained with different \(what) than tokenizer 1; ensemble members must share them (train them on the same data with the same --min-bigram-count and lexicon)")
            }
            guard v.characters == first.characters else { throw differ("characters") }
            guard v.bigrams == first.bigrams else { throw differ("bigrams") }
            guard v.lexicon == first.lexicon else { throw differ("lexicon") }
            guard m.pieces.maxLength == members[0].pieces.maxLength else { throw differ("piece lengths") }
        }
        let withDictionary = members.filter { $0.vocabulary.dictionaryFeatureCount > 0 }
        let vocabulary = withDictionary.first?.vocabulary ?? first
        for m in withDictionary where m.vocabulary.words != vocabulary.words || m.vocabulary.maxWordLength != vocabulary.maxWordLength {
            throw LSTMKitError.invalidArgument("ensemble members with dictionary features must share the dictionary (the same training words and --dictionary-max-length)")
        }
        let count = members.reduce(0) { $0 + $1.networks.count }
        guard count <= maxMembers else { throw LSTMKitError.invalidArgument("an ensemble holds at most \(maxMembers) networks, got \(count)") }
        // Copies, rounded to half precision: an ensemble is stored in it (its file would
        // otherwise be as large as all its members'), and rounding here makes the
        // ensemble in memory the one its file holds.
        var networks: [SegmenterNetwork] = []
        for m in members {
            let missing = vocabulary.dictionaryFeatureCount - m.vocabulary.dictionaryFeatureCount
            for n in m.networks {
                let copy = try n.addingZeroFeatureColumns(missing, before: 0)
                for p in copy.parameters { p.value = p.value.map { Float(Float16($0)) } }
                networks.append(copy)
            }
        }
        return try Tokenizer(vocabulary: vocabulary, networks: networks, pieces: members[0].pieces)
    }
}

extension SegmenterNetwork {
    /// A copy that reads `count` more feature columns (0: a plain copy), inserted before
    /// feature column `index`, with zero input weights: its outputs are this network's.
    func addingZeroFeatureColumns(_ count: Int, before index: Int) throws -> SegmenterNetwork {
        var wider = config
        wider.featureCount += count
        let copy = try SegmenterNetwork(config: wider, characterCount: characterEmbedding.numEmbeddings, bigramCount: bigramEmbedding.numEmbeddings)
        let oldWidth = config.inputSize, at = config.characterDim + 2 * config.bigramDim + index
        for (p, q) in zip(parameters, copy.parameters) {
            guard p.shape != q.shape else { q.value = p.value; continue }
            // The first LSTM layer's input weights (4H, D): D grows by `count`.
            var v = [Float](repeating: 0, count: q.value.count)
            for row in 0..<p.shape[0] {
                for j in 0..<oldWidth { v[row * wider.inputSize + (j < at ? j : j + count)] = p.value[row * oldWidth + j] }
            }
            q.value = v
        }
        return copy
    }
}
