import CLSTMKitHeader
import LSTMKit

#if canImport(Glibc)
import Glibc
#endif

/// What an `lk_tokenizer*` points to.
final class TokenizerHandle {
    let tokenizer: Tokenizer
    init(_ tokenizer: Tokenizer) { self.tokenizer = tokenizer }
}

func tokenizerHandle(_ pointer: OpaquePointer?) throws -> Tokenizer {
    try borrowHandle(pointer, "tokenizer", as: TokenizerHandle.self).tokenizer
}

func publish(_ tokenizer: Tokenizer, to out: UnsafeMutablePointer<OpaquePointer?>) {
    publishHandle(TokenizerHandle(tokenizer), to: out)
}

/// A C size_t arrives as Int: values above Int.max look negative. No buffer can be
/// that large, so such a size is refused rather than trusted.
func size(_ value: Int, _ name: String) throws -> Int {
    guard value >= 0 else { throw invalid("\(name) is \(UInt(bitPattern: value)), larger than any buffer") }
    return value
}

/// Decodes caller bytes as UTF-8 or fails with the offset of the first bad byte.
func utf8Text(_ bytes: UnsafePointer<CChar>?, _ length: Int, _ name: String) throws -> String {
    let length = try size(length, name + " length")
    if length == 0 { return "" }
    let p = try required(bytes, name)
    let buffer = UnsafeRawBufferPointer(start: p, count: length).bindMemory(to: UInt8.self)
    if let s = String(validating: buffer, as: UTF8.self) { return s }
    var it = buffer.makeIterator()
    var decoder = UTF8()
    var offset = 0
    while case .scalarValue(let s) = decoder.decode(&it) { offset += UTF8.width(s) }
    throw invalid("\(name) is not valid UTF-8 (at byte \(offset))")
}

/// End byte offsets of tokens, relative to the text's start.
func tokenEnds(_ tokens: [String]) -> [Int] {
    var ends: [Int] = []
    ends.reserveCapacity(tokens.count)
    var position = 0
    for t in tokens {
        position += t.utf8.count
        ends.append(position)
    }
    return ends
}

@_cdecl("lk_tokenizer_load")
public func lk_tokenizer_load(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> lk_status {
    guarded {
        let path = try string(path, "path")
        let out = try required(out, "out")
        publish(try Tokenizer.load(from: path), to: out)
    }
}

@_cdecl("lk_tokenizer_ensemble")
public func lk_tokenizer_ensemble(_ members: UnsafePointer<OpaquePointer?>?, _ n: Int,
                                  _ out: UnsafeMutablePointer<OpaquePointer?>?) -> lk_status {
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
            return try tokenizerHandle(members[k])
        }
        publish(try Tokenizer.ensemble(tokenizers), to: out)
    }
}

@_cdecl("lk_tokenizer_free")
public func lk_tokenizer_free(_ tokenizer: OpaquePointer?) {
    releaseHandle(tokenizer, as: TokenizerHandle.self)
}

@_cdecl("lk_tokenizer_save")
public func lk_tokenizer_save(_ tokenizer: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> lk_status {
    guarded {
        let t = try tokenizerHandle(tokenizer)
        try t.save(to: try string(path, "path"))
    }
}

@_cdecl("lk_tokenizer_segment")
public func lk_tokenizer_segment(_ tokenizer: OpaquePointer?, _ text: UnsafePointer<CChar>?, _ textLength: Int,
                                 _ ends: UnsafeMutablePointer<Int>?, _ capacity: Int,
                                 _ count: UnsafeMutablePointer<Int>?) -> lk_status {
    var texts: [UnsafePointer<CChar>?] = [text]
    var lengths = [textLength]
    return texts.withUnsafeMutableBufferPointer { t in
        lengths.withUnsafeMutableBufferPointer { l in
            lk_tokenizer_segment_batch(tokenizer, t.baseAddress, l.baseAddress, 1, 1, ends, capacity, count)
        }
    }
}

@_cdecl("lk_tokenizer_segment_batch")
public func lk_tokenizer_segment_batch(_ tokenizer: OpaquePointer?,
                                       _ texts: UnsafePointer<UnsafePointer<CChar>?>?, _ textLengths: UnsafePointer<Int>?,
                                       _ n: Int, _ threads: Int32,
                                       _ ends: UnsafeMutablePointer<Int>?, _ capacity: Int,
                                       _ counts: UnsafeMutablePointer<Int>?) -> lk_status {
    guarded {
        let t = try tokenizerHandle(tokenizer)
        let counts = try required(counts, n == 1 ? "count" : "counts")
        guard threads >= 1 else { throw invalid("threads must be >= 1, got \(threads)") }
        let n = try size(n, "n")
        // A capacity beyond Int.max is simply "enough".
        let capacity = capacity < 0 ? Int.max : capacity
        if n == 0 { return }
        let texts = try required(texts, "texts")
        let lengths = try required(textLengths, "text_lens")
        guard ends != nil || capacity == 0 else { throw invalid("ends is NULL but ends_capacity is \(capacity)") }
        var strings: [String] = []
        strings.reserveCapacity(n)
        for i in 0..<n {
            strings.append(try utf8Text(texts[i], lengths[i], n == 1 ? "text" : "texts[\(i)]"))
        }
        let tokens = t.cutMany(strings, threads: Int(threads))
        let allEnds = tokens.map(tokenEnds)
        let needed = allEnds.reduce(0) { $0 + $1.count }
        for i in 0..<n { counts[i] = allEnds[i].count }
        if ends == nil { return }
        guard capacity >= needed else {
            if n == 1 { counts[0] = needed }
            throw ABIError(status: LK_STATUS_BUFFER_TOO_SMALL,
                           message: "ends has room for \(capacity) offsets, \(needed) are needed")
        }
        var k = 0
        for e in allEnds {
            for v in e { ends![k] = v; k += 1 }
        }
    }
}

@_cdecl("lk_tokenizer_add_words")
public func lk_tokenizer_add_words(_ tokenizer: OpaquePointer?, _ words: UnsafePointer<UnsafePointer<CChar>?>?, _ n: Int) -> lk_status {
    guarded {
        let t = try tokenizerHandle(tokenizer)
        let n = try size(n, "n")
        if n == 0 { return }
        let words = try required(words, "words")
        let list = try (0..<n).map { try string(words[$0], "words[\($0)]") }
        t.addWords(list)
    }
}

@_cdecl("lk_tokenizer_load_dict")
public func lk_tokenizer_load_dict(_ tokenizer: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> lk_status {
    guarded {
        let t = try tokenizerHandle(tokenizer)
        try t.loadDictionary(path: try string(path, "path"))
    }
}

@_cdecl("lk_tokenizer_clear_words")
public func lk_tokenizer_clear_words(_ tokenizer: OpaquePointer?) -> lk_status {
    guarded { try tokenizerHandle(tokenizer).userDictionary.removeAll() }
}

@_cdecl("lk_tokenizer_word_count")
public func lk_tokenizer_word_count(_ tokenizer: OpaquePointer?, _ count: UnsafeMutablePointer<Int>?) -> lk_status {
    guarded {
        let t = try tokenizerHandle(tokenizer)
        try required(count, "count").pointee = t.userDictionary.count
    }
}

@_cdecl("lk_tokenizer_words")
public func lk_tokenizer_words(_ tokenizer: OpaquePointer?, _ words: UnsafeMutablePointer<CChar>?, _ capacity: Int,
                               _ size: UnsafeMutablePointer<Int>?) -> lk_status {
    guarded {
        let t = try tokenizerHandle(tokenizer)
        let length = try required(size, "size")
        let capacity = try LSTMKitC.size(capacity, "capacity")
        let bytes = Array(t.userDictionary.sortedWords.joined(separator: "\n").utf8)
        length.pointee = bytes.count
        if words == nil && capacity == 0 { return }
        let out = try required(words, "words")
        guard capacity >= bytes.count + 1 else {
            throw ABIError(status: LK_STATUS_BUFFER_TOO_SMALL,
                           message: "the user words need capacity >= \(bytes.count + 1) bytes, got \(capacity) (*size holds the length)")
        }
        for (i, b) in bytes.enumerated() { out[i] = CChar(bitPattern: b) }
        out[bytes.count] = 0
    }
}

@_cdecl("lk_tokenizer_train_config_default")
public func lk_tokenizer_train_config_default() -> lk_tokenizer_train_config {
    let o = TokenizerTrainingOptions()
    let c = SegmenterConfig()
    return lk_tokenizer_train_config(
        epochs: Int32(o.epochs), batch_size: Int32(o.batchSize), learning_rate: o.learningRate,
        hidden_size: Int32(c.hiddenSize), num_layers: Int32(c.numLayers), char_dim: Int32(c.characterDim),
        bigram_dim: Int32(c.bigramDim), min_bigram_count: Int32(o.minBigramCount), dropout: c.embeddingDropout,
        label_smoothing: o.labelSmoothing, patience: Int32(o.patience), threads: Int32(o.threads),
        max_batches_per_epoch: Int32(o.maxBatchesPerEpoch), seed: c.seed,
        dictionary_max_length: Int32(o.dictionaryMaxLength),
        unknown_bigram_rate: o.unknownBigramRate, feature_dropout: o.featureDropout,
        lexicon: nil, lexicon_len: 0, lexicon_max_length: 5, average_decay: o.averageDecay,
        dictionary_min_count: Int32(o.dictionaryMinCount))
}

@_cdecl("lk_tokenizer_train")
public func lk_tokenizer_train(_ train: UnsafePointer<CChar>?, _ trainLength: Int,
                               _ dev: UnsafePointer<CChar>?, _ devLength: Int,
                               _ config: UnsafePointer<lk_tokenizer_train_config>?,
                               _ checkpointPath: UnsafePointer<CChar>?,
                               _ progress: lk_progress_fn?, _ userData: UnsafeMutableRawPointer?,
                               _ out: UnsafeMutablePointer<OpaquePointer?>?) -> lk_status {
    guarded {
        let c = try required(config, "config").pointee
        let out = try required(out, "out")
        let checkpoint = try checkpointPath.map { try string($0, "checkpoint_path") }
        let trainSentences = Corpus.parseSegmented(try utf8Text(train, trainLength, "train"))
        let devSentences = Corpus.parseSegmented(try utf8Text(dev, devLength, "dev"))
        guard !trainSentences.isEmpty else { throw invalid("the training corpus has no sentences") }
        guard !devSentences.isEmpty else { throw invalid("the dev corpus has no sentences") }
        // Enum-free config: the conversions here, every value rule by the engine's tables.
        var model = SegmenterConfig()
        model.hiddenSize = Int(c.hidden_size)
        model.numLayers = Int(c.num_layers)
        model.characterDim = Int(c.char_dim)
        model.bigramDim = Int(c.bigram_dim)
        model.embeddingDropout = c.dropout
        model.outputDropout = c.dropout
        model.seed = c.seed
        try model.validate(naming: ["embedding_dropout": "dropout", "output_dropout": "dropout"])
        var options = TokenizerTrainingOptions()
        options.epochs = Int(c.epochs)
        options.batchSize = Int(c.batch_size)
        options.learningRate = c.learning_rate
        options.minBigramCount = Int(c.min_bigram_count)
        options.labelSmoothing = c.label_smoothing
        options.patience = Int(c.patience)
        options.threads = Int(c.threads)
        options.maxBatchesPerEpoch = Int(c.max_batches_per_epoch)
        options.seed = c.seed
        options.dictionaryMaxLength = Int(c.dictionary_max_length)
        options.dictionaryMinCount = Int(c.dictionary_min_count)
        options.unknownBigramRate = c.unknown_bigram_rate
        options.featureDropout = c.feature_dropout
        options.averageDecay = c.average_decay
        var lexicon: [String] = []
        if c.lexicon_len > 0 {
            // With a lexicon, 0 ("no lexicon" to the engine) would drop it silently.
            guard c.lexicon_max_length != 0 else { throw invalid("lexicon_max_length must be in [2, 16] with a lexicon, got 0") }
            options.lexiconMaxLength = Int(c.lexicon_max_length)
        }
        try options.validate()
        if c.lexicon_len > 0 {
            lexicon = UserDictionary.parse(try utf8Text(c.lexicon, c.lexicon_len, "lexicon"))
            guard !lexicon.isEmpty else { throw invalid("the lexicon has no words") }
        }
        let trainer = try TokenizerTrainer(train: trainSentences, dev: devSentences, lexicon: lexicon, config: model, options: options)
        if let checkpoint, access(checkpoint, F_OK) == 0 {
            try trainer.resume(from: checkpoint)
            progress?("resumed from \(checkpoint) after epoch \(trainer.epoch)", userData)
        }
        try trainer.run(checkpointPath: checkpoint, bestPath: nil) { line in
            if let progress { line.withCString { progress($0, userData) } }
        }
        trainer.restoreBest()
        publish(trainer.tokenizer, to: out)
    }
}
