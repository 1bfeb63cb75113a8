#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLSTMKitHeader
import LSTMKit

extension Tokenizer: CModel {
    static let argumentName = "tokenizer"
    var settings: (any HyperParameterized)? { network.config }
    /// The first network's architecture (an ensemble's members were trained alike), the
    /// vocabulary's dictionary and lexicon lengths; what a file does not record (the
    /// other training options) holds the defaults.
    var cConfig: lk_tokenizer_train_config {
        var options = TokenizerTrainingOptions()
        options.dictionaryMaxLength = vocabulary.maxWordLength
        options.lexiconMaxLength = vocabulary.lexiconMaxLength
        return tokenizerConfig.encode(Settings(model: network.config, options: options))
    }
}

/// The length of lexicon words a config gets by default, for when a caller adds a
/// lexicon (the engine's default, 0, means "no lexicon").
private let defaultLexiconMaxLength: Int32 = 5

/// lexicon_max_length as text, as any int32 field.
private let lexiconText = CField<lk_tokenizer_train_config, Settings<SegmenterConfig, TokenizerTrainingOptions>>
    .text("lexicon_max_length", \.lexicon_max_length, .number)

/// The C config's fields (the lexicon aside: a caller's buffer, read in train).
let tokenizerConfig = CConfigTable<lk_tokenizer_train_config, SegmenterConfig, TokenizerTrainingOptions>(
    empty: .init(), defaults: .init(model: .init(), options: .init()), fields: [
    .int("hidden_size", \.hidden_size, \.model.hiddenSize),
    .int("num_layers", \.num_layers, \.model.numLayers),
    .int("char_dim", \.char_dim, \.model.characterDim),
    .int("bigram_dim", \.bigram_dim, \.model.bigramDim),
    .int("min_bigram_count", \.min_bigram_count, \.options.minBigramCount),
    .same("dropout", \.dropout, \.model.embeddingDropout, also: \.model.outputDropout),
    .same("label_smoothing", \.label_smoothing, \.options.labelSmoothing),
    .int("max_batches_per_epoch", \.max_batches_per_epoch, \.options.maxBatchesPerEpoch),
    .same("seed", \.seed, \.model.seed, also: \.options.seed),
    .int("dictionary_max_length", \.dictionary_max_length, \.options.dictionaryMaxLength),
    .same("unknown_bigram_rate", \.unknown_bigram_rate, \.options.unknownBigramRate),
    .same("feature_dropout", \.feature_dropout, \.options.featureDropout),
    .same("average_decay", \.average_decay, \.options.averageDecay),
    .int("dictionary_min_count", \.dictionary_min_count, \.options.dictionaryMinCount),
    // Read only with a lexicon; C's 0 then would drop it silently, so train refuses it.
    CField(name: "lexicon_max_length",
           read: { c, s in if c.lexicon_len > 0 { s.options.lexiconMaxLength = Int(c.lexicon_max_length) } },
           write: { c, s in c.lexicon_max_length = s.options.lexiconMaxLength == 0 ? defaultLexiconMaxLength
                                                       : Int32(clamping: s.options.lexiconMaxLength) },
           text: lexiconText.text, parse: lexiconText.parse),
], loop: CField.loop())

@_cdecl("lk_tokenizer_train_config_default")
public func lk_tokenizer_train_config_default() -> lk_tokenizer_train_config { tokenizerConfig.defaultConfig }

@_cdecl("lk_tokenizer_ensemble")
public func lk_tokenizer_ensemble(_ members: UnsafePointer<OpaquePointer?>?, _ n: Int, _ out: HandleOut?) -> lk_status {
    guarded {
        let n = try size(n, "n")
        let out = try required(out, "out")
        guard n >= 2 else { throw invalid("an ensemble needs at least two tokenizers, got n = \(n)") }
        // Before members is read: a caller's array may be shorter than an n this large.
        guard n <= Tokenizer.maxMembers else {
            throw invalid("an ensemble holds at most \(Tokenizer.maxMembers) networks, got n = \(n) tokenizers")
        }
        let members = try required(members, "members")
        let tokenizers = try (0..<n).map { k -> Tokenizer in
            guard members[k] != nil else { throw invalid("members[\(k)] is NULL") }
            return try model(members[k], Tokenizer.self)
        }
        publish(try Tokenizer.ensemble(tokenizers), to: out)
    }
}

@_cdecl("lk_tokenizer_segment")
public func lk_tokenizer_segment(_ tokenizer: OpaquePointer?, _ text: CString?, _ textLength: Int,
                                 _ ends: Out<Int>?, _ capacity: Int, _ count: Out<Int>?) -> lk_status {
    lk_tokenizer_segment_batch(tokenizer, [text], [textLength], 1, 1, ends, capacity, count)  // a batch of one
}

@_cdecl("lk_tokenizer_segment_batch")
public func lk_tokenizer_segment_batch(_ tokenizer: OpaquePointer?, _ texts: CStrings?, _ textLengths: UnsafePointer<Int>?,
                                       _ n: Int, _ threads: Int32,
                                       _ ends: Out<Int>?, _ capacity: Int, _ counts: Out<Int>?) -> lk_status {
    guarded(tokenizer, Tokenizer.self) { h in
        let counts = try required(counts, n == 1 ? "count" : "counts")
        let threads = try threadCount(threads)
        let n = try size(n, "n")
        // A capacity beyond Int.max is simply "enough".
        let capacity = capacity < 0 ? Int.max : capacity
        if n == 0 { return }
        let texts = try required(texts, "texts")
        let lengths = try required(textLengths, "text_lens")
        guard ends != nil || capacity == 0 else { throw invalid("ends is NULL but ends_capacity is \(capacity)") }
        // lk_tokenizer_segment's one text is "text" in messages.
        let strings = try (0..<n).map { try utf8Text(texts[$0], lengths[$0], n == 1 ? "text" : "texts[\($0)]") }
        try Tokenizer.checkSegmentingMemory(utf8Bytes: strings.reduce(0) { $0 + $1.utf8.count })
        // Each token's end byte offset, relative to its text's start.
        let allEnds = h.model.tokenEnds(strings, threads: threads)
        let needed = allEnds.reduce(0) { $0 + $1.count }
        for i in 0..<n { counts[i] = allEnds[i].count }
        guard let ends else { return }
        guard capacity >= needed else {
            if n == 1 { counts[0] = needed }
            throw ABIError(status: LK_STATUS_BUFFER_TOO_SMALL,
                           message: "ends has room for \(capacity) offsets, \(needed) are needed")
        }
        try copyOut(Array(allEnds.joined()), to: ends, count: needed, "token ends")
    }
}

@_cdecl("lk_tokenizer_add_words")
public func lk_tokenizer_add_words(_ tokenizer: OpaquePointer?, _ words: CStrings?, _ n: Int) -> lk_status {
    guarded(tokenizer, Tokenizer.self) { $0.model.addWords(try strings(words, try size(n, "n"), "words")) }
}

@_cdecl("lk_tokenizer_load_dict")
public func lk_tokenizer_load_dict(_ tokenizer: OpaquePointer?, _ path: CString?) -> lk_status {
    guarded(tokenizer, Tokenizer.self) { try $0.model.loadDictionary(path: try string(path, "path")) }
}

@_cdecl("lk_tokenizer_clear_words")
public func lk_tokenizer_clear_words(_ tokenizer: OpaquePointer?) -> lk_status {
    guarded(tokenizer, Tokenizer.self) { $0.model.userDictionary.removeAll() }
}

@_cdecl("lk_tokenizer_word_count")
public func lk_tokenizer_word_count(_ tokenizer: OpaquePointer?, _ count: Out<Int>?) -> lk_status {
    query(Tokenizer.self, tokenizer, count, "count") { $0.model.userDictionary.count }
}

@_cdecl("lk_tokenizer_words")
public func lk_tokenizer_words(_ tokenizer: OpaquePointer?, _ words: Out<CChar>?, _ capacity: Int, _ size: Out<Int>?) -> lk_status {
    guarded(tokenizer, Tokenizer.self) { h in
        try copyText(h.model.userDictionary.sortedWords.joined(separator: "\n"), to: words, "words", capacity: capacity,
                     size: size, "the user words")
    }
}

@_cdecl("lk_tokenizer_train")
public func lk_tokenizer_train(_ train: CString?, _ trainLength: Int, _ dev: CString?, _ devLength: Int,
                               _ config: UnsafePointer<lk_tokenizer_train_config>?, _ checkpointPath: CString?,
                               _ progress: lk_progress_fn?, _ userData: UnsafeMutableRawPointer?, _ out: HandleOut?) -> lk_status {
    // The checkpoint argument as options: one that exists is resumed.
    let options = TrainOptions()
    if let checkpointPath {
        guard let path = String(validatingCString: checkpointPath) else { return guarded { throw invalid("checkpoint_path is not valid UTF-8") } }
        options.entries = [("checkpoint_path", path), ("resume", access(path, F_OK) == 0 ? "1" : "0")]
    }
    return withExtendedLifetime(options) {
        lk_tokenizer_train_ex(train, trainLength, dev, devLength, config, OpaquePointer(Unmanaged.passUnretained(options).toOpaque()),
                              progress, userData, out)
    }
}

@_cdecl("lk_tokenizer_train_ex")
public func lk_tokenizer_train_ex(_ train: CString?, _ trainLength: Int, _ dev: CString?, _ devLength: Int,
                                  _ config: UnsafePointer<lk_tokenizer_train_config>?, _ options: OpaquePointer?,
                                  _ progress: lk_progress_fn?, _ userData: UnsafeMutableRawPointer?, _ out: HandleOut?) -> lk_status {
    guarded {
        let c = try required(config, "config").pointee
        let out = try required(out, "out")
        let trainSentences = try Corpus.parseSegmented(try utf8Text(train, trainLength, "train"))
        let devSentences = try Corpus.parseSegmented(try utf8Text(dev, devLength, "dev"))
        guard !trainSentences.isEmpty else { throw invalid("the training corpus has no sentences") }
        guard !devSentences.isEmpty else { throw invalid("the dev corpus has no sentences") }
        let (s, run) = try tokenizerConfig.decode(c, options)
        try s.model.validate(naming: ["embedding_dropout": "dropout", "output_dropout": "dropout"])
        if c.lexicon_len > 0 && c.lexicon_max_length == 0 {
            throw invalid("lexicon_max_length must be in [2, 16] with a lexicon, got 0")
        }
        try s.options.validate()
        var lexicon: [String] = []
        if c.lexicon_len > 0 {
            lexicon = UserDictionary.parse(try utf8Text(c.lexicon, c.lexicon_len, "lexicon"))
            guard !lexicon.isEmpty else { throw invalid("the lexicon has no words") }
        }
        let trainer = try TokenizerTrainer(train: trainSentences, dev: devSentences, lexicon: lexicon,
                                           config: s.model, options: s.options)
        let log = progressLines(progress, userData)
        try run.start(trainer, log)
        try trainer.run(checkpointPath: run.checkpoint, bestPath: nil, log: log)
        trainer.restoreBest()
        publish(trainer.tokenizer, to: out)
    }
}
