import CLSTMKitHeader
import LSTMKit

#if canImport(Glibc)
import Glibc
#endif

/// What an `lk_text_classifier*` points to: the engine's classifier plus C strings for
/// its labels, which callers borrow for the handle's lifetime.
final class TextClassifierHandle {
    let classifier: TextClassifier
    let labels: BorrowedCStrings

    init(_ classifier: TextClassifier) {
        self.classifier = classifier
        labels = BorrowedCStrings(classifier.labels)
    }

}

func classifierHandle(_ pointer: OpaquePointer?) throws -> TextClassifierHandle {
    try borrowHandle(pointer, "classifier", as: TextClassifierHandle.self)
}

func publish(_ classifier: TextClassifier, to out: UnsafeMutablePointer<OpaquePointer?>) {
    publishHandle(TextClassifierHandle(classifier), to: out)
}

/// n (pointer, length) UTF-8 texts; errors name `name[i]`.
func utf8Texts(_ texts: UnsafePointer<UnsafePointer<CChar>?>?, _ lengths: UnsafePointer<Int>?, _ n: Int,
               _ name: String, _ lengthsName: String) throws -> [String] {
    if n == 0 { return [] }
    let texts = try required(texts, name)
    let lengths = try required(lengths, lengthsName)
    var out: [String] = []
    out.reserveCapacity(n)
    for i in 0..<n {
        let length = try size(lengths[i], "\(lengthsName)[\(i)]")
        if length > 0 && texts[i] == nil { throw invalid("\(name)[\(i)] must not be NULL") }
        out.append(try utf8Text(texts[i], length, "\(name)[\(i)]"))
    }
    return out
}

/// n NUL-terminated UTF-8 labels; errors name `name[i]`.
func cLabels(_ labels: UnsafePointer<UnsafePointer<CChar>?>?, _ n: Int, _ name: String) throws -> [String] {
    if n == 0 { return [] }
    let labels = try required(labels, name)
    return try (0..<n).map { try string(labels[$0], "\(name)[\($0)]") }
}

@_cdecl("lk_text_classifier_load")
public func lk_text_classifier_load(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> lk_status {
    guarded {
        let path = try string(path, "path")
        let out = try required(out, "out")
        publish(try TextClassifier.load(from: path), to: out)
    }
}

@_cdecl("lk_text_classifier_free")
public func lk_text_classifier_free(_ classifier: OpaquePointer?) {
    releaseHandle(classifier, as: TextClassifierHandle.self)
}

@_cdecl("lk_text_classifier_save")
public func lk_text_classifier_save(_ classifier: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> lk_status {
    guarded {
        let h = try classifierHandle(classifier)
        try h.classifier.save(to: try string(path, "path"))
    }
}

@_cdecl("lk_text_classifier_num_classes")
public func lk_text_classifier_num_classes(_ classifier: OpaquePointer?, _ n: UnsafeMutablePointer<Int32>?) -> lk_status {
    guarded {
        let h = try classifierHandle(classifier)
        try required(n, "n").pointee = Int32(h.labels.count)
    }
}

@_cdecl("lk_text_classifier_label")
public func lk_text_classifier_label(_ classifier: OpaquePointer?, _ index: Int32,
                                     _ label: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> lk_status {
    guarded {
        let h = try classifierHandle(classifier)
        let label = try required(label, "label")
        label.pointee = try h.labels.at(index, "class")
    }
}

@_cdecl("lk_text_classifier_predict")
public func lk_text_classifier_predict(_ classifier: OpaquePointer?,
                                       _ texts: UnsafePointer<UnsafePointer<CChar>?>?, _ textLengths: UnsafePointer<Int>?,
                                       _ n: Int, _ threads: Int32,
                                       _ probabilities: UnsafeMutablePointer<Float>?, _ count: Int) -> lk_status {
    guarded {
        let h = try classifierHandle(classifier)
        guard threads >= 1 else { throw invalid("threads must be >= 1, got \(threads)") }
        let n = try size(n, "n")
        let count = try size(count, "probabilities_count")
        let c = h.labels.count
        let needed = try product([n, c], "n * num_classes")
        guard count == needed else {
            throw mismatch("probabilities_count is \(count), expected n * num_classes = \(n) * \(c) = \(needed)")
        }
        if n == 0 { return }
        let out = try required(probabilities, "probabilities")
        let strings = try utf8Texts(texts, textLengths, n, "texts", "text_lens")
        let rows = h.classifier.predictProbabilities(strings, threads: Int(threads))
        guard rows.count == n, rows.allSatisfy({ $0.count == c }) else {
            throw ABIError(status: LK_STATUS_INTERNAL, message: "internal error: predictions have the wrong shape")
        }
        var k = 0
        for row in rows {
            for v in row { out[k] = v; k += 1 }
        }
    }
}

@_cdecl("lk_text_classifier_attention")
public func lk_text_classifier_attention(_ classifier: OpaquePointer?,
                                         _ text: UnsafePointer<CChar>?, _ textLength: Int,
                                         _ tokens: UnsafeMutablePointer<CChar>?, _ tokensCapacity: Int,
                                         _ tokensSize: UnsafeMutablePointer<Int>?,
                                         _ weights: UnsafeMutablePointer<Float>?, _ weightsCapacity: Int,
                                         _ nTokens: UnsafeMutablePointer<Int>?) -> lk_status {
    guarded {
        let h = try classifierHandle(classifier)
        let text = try required(text, "text")
        let tokensSize = try required(tokensSize, "tokens_size")
        let nTokens = try required(nTokens, "n_tokens")
        let tokensCapacity = try size(tokensCapacity, "tokens_capacity")
        let weightsCapacity = try size(weightsCapacity, "weights_capacity")
        if tokens == nil && tokensCapacity > 0 {
            throw invalid("tokens must not be NULL when tokens_capacity is \(tokensCapacity) (pass 0 to ask for the size)")
        }
        if weights == nil && weightsCapacity > 0 {
            throw invalid("weights must not be NULL when weights_capacity is \(weightsCapacity) (pass 0 to ask for the size)")
        }
        let string = try utf8Text(text, textLength, "text")
        if let nul = string.utf8.firstIndex(of: 0) {
            throw invalid("text holds a NUL byte (at byte \(string.utf8.distance(from: string.utf8.startIndex, to: nul))); "
                          + "the tokens come back NUL-terminated, so the text must not contain one")
        }
        guard let pairs = h.classifier.attentionWeights(string) else {
            throw invalid("this model pools by \(h.classifier.config.pooling.rawValue): no attention weights; "
                          + "train with attention pooling")
        }
        var bytes = 0
        for pair in pairs {
            guard !pair.token.utf8.contains(0) else {
                throw ABIError(status: LK_STATUS_INTERNAL, message: "internal error: a token holds a NUL byte")
            }
            bytes += pair.token.utf8.count + 1
        }
        tokensSize.pointee = bytes
        nTokens.pointee = pairs.count
        if tokensCapacity == 0 && weightsCapacity == 0 && tokens == nil && weights == nil { return }
        guard tokensCapacity >= bytes, weightsCapacity >= pairs.count else {
            throw ABIError(status: LK_STATUS_BUFFER_TOO_SMALL, message:
                "the \(pairs.count) tokens need tokens_capacity >= \(bytes) bytes and weights_capacity >= \(pairs.count); "
                + "got \(tokensCapacity) and \(weightsCapacity) (*tokens_size and *n_tokens hold the sizes)")
        }
        var k = 0
        for (i, pair) in pairs.enumerated() {
            for byte in pair.token.utf8 { tokens![k] = CChar(bitPattern: byte); k += 1 }
            tokens![k] = 0
            k += 1
            weights![i] = pair.weight
        }
    }
}

@_cdecl("lk_text_classifier_train_config_default")
public func lk_text_classifier_train_config_default() -> lk_text_classifier_train_config {
    textClassifierConfig(TextClassifierConfig(), TextClassifierTrainingOptions(), tokenization: nil)
}

@_cdecl("lk_text_classifier_get_config")
public func lk_text_classifier_get_config(_ classifier: OpaquePointer?,
                                          _ out: UnsafeMutablePointer<lk_text_classifier_train_config>?) -> lk_status {
    guarded {
        let h = try classifierHandle(classifier)
        try required(out, "out").pointee = textClassifierConfig(h.classifier.config, TextClassifierTrainingOptions(),
                                                                tokenization: h.classifier.vocabulary.mode)
    }
}

/// The C config of an engine config, training options and tokenization mode (nil:
/// automatic); the inverse of textClassifierSettings.
func textClassifierConfig(_ c: TextClassifierConfig, _ o: TextClassifierTrainingOptions,
                          tokenization: TextVocabulary.Mode?) -> lk_text_classifier_train_config {
    let mode: Int32
    switch tokenization {
    case nil: mode = Int32(LK_TOKENIZATION_AUTO)
    case .characters: mode = Int32(LK_TOKENIZATION_CHARACTERS)
    case .words: mode = Int32(LK_TOKENIZATION_WORDS)
    }
    return lk_text_classifier_train_config(
        embedding_dim: Int32(c.embeddingDim), hidden_size: Int32(c.hiddenSize), num_layers: Int32(c.numLayers),
        bidirectional: c.bidirectional ? 1 : 0, pooling: poolingCode(c.pooling), attention_size: Int32(c.attentionSize),
        dropout: c.embeddingDropout, max_length: Int32(c.maxLength), min_count: Int32(o.minTokenCount),
        epochs: Int32(o.epochs), batch_size: Int32(o.batchSize), learning_rate: o.learningRate,
        patience: Int32(o.patience), balance_classes: o.balanceClasses ? 1 : 0,
        tokenization: mode, threads: Int32(o.threads), seed: c.seed,
        ngram_order: Int32(c.ngramOrder), ngram_dropout: c.ngramDropout, ngram_learning_rate: o.ngramLearningRate,
        min_ngram_count: Int32(o.minNgramCount), bigram_dim: Int32(c.bigramDim),
        min_bigram_count: Int32(o.minBigramCount))
}

/// The engine's config, options and tokenization mode (nil: automatic) from a C
/// config: enum codes and 0/1 flags here, every value range by the engine's tables (the
/// message names the C field and its valid range).
func textClassifierSettings(_ c: lk_text_classifier_train_config) throws
    -> (TextClassifierConfig, TextClassifierTrainingOptions, TextVocabulary.Mode?) {
    var model = TextClassifierConfig()
    model.embeddingDim = Int(c.embedding_dim)
    model.hiddenSize = Int(c.hidden_size)
    model.numLayers = Int(c.num_layers)
    model.bidirectional = try flag(c.bidirectional, "bidirectional")
    model.pooling = try poolingKind(c.pooling)
    model.attentionSize = Int(c.attention_size)
    model.embeddingDropout = c.dropout
    model.outputDropout = c.dropout
    model.maxLength = Int(c.max_length)
    model.ngramOrder = Int(c.ngram_order)
    model.ngramDropout = c.ngram_dropout
    model.bigramDim = Int(c.bigram_dim)
    model.seed = c.seed
    try model.validate(naming: ["embedding_dropout": "dropout", "output_dropout": "dropout"])

    var options = TextClassifierTrainingOptions()
    options.minTokenCount = Int(c.min_count)
    options.epochs = Int(c.epochs)
    options.batchSize = Int(c.batch_size)
    options.learningRate = c.learning_rate
    options.ngramLearningRate = c.ngram_learning_rate
    options.minNgramCount = Int(c.min_ngram_count)
    options.minBigramCount = Int(c.min_bigram_count)
    options.patience = Int(c.patience)
    options.balanceClasses = try flag(c.balance_classes, "balance_classes")
    options.threads = Int(c.threads)
    options.seed = c.seed
    try options.validate()
    switch c.tokenization {
    case Int32(LK_TOKENIZATION_AUTO): return (model, options, nil)
    case Int32(LK_TOKENIZATION_CHARACTERS): return (model, options, .characters)
    case Int32(LK_TOKENIZATION_WORDS): return (model, options, .words)
    default:
        throw invalid("tokenization must be LK_TOKENIZATION_AUTO (0), LK_TOKENIZATION_CHARACTERS (1) or "
                      + "LK_TOKENIZATION_WORDS (2), got \(c.tokenization)")
    }
}

@_cdecl("lk_text_classifier_train")
public func lk_text_classifier_train(_ trainTexts: UnsafePointer<UnsafePointer<CChar>?>?, _ trainLengths: UnsafePointer<Int>?,
                                     _ trainLabels: UnsafePointer<UnsafePointer<CChar>?>?, _ nTrain: Int,
                                     _ devTexts: UnsafePointer<UnsafePointer<CChar>?>?, _ devLengths: UnsafePointer<Int>?,
                                     _ devLabels: UnsafePointer<UnsafePointer<CChar>?>?, _ nDev: Int,
                                     _ config: UnsafePointer<lk_text_classifier_train_config>?,
                                     _ progress: lk_progress_fn?, _ userData: UnsafeMutableRawPointer?,
                                     _ out: UnsafeMutablePointer<OpaquePointer?>?) -> lk_status {
    guarded {
        let c = try required(config, "config").pointee
        let out = try required(out, "out")
        let nTrain = try size(nTrain, "n_train")
        let nDev = try size(nDev, "n_dev")
        guard nTrain >= 1 else { throw invalid("n_train must be >= 1: the training set is empty") }
        guard nDev >= 1 else { throw invalid("n_dev must be >= 1: the dev set is empty") }

        let (model, options, mode) = try textClassifierSettings(c)

        let trainText = try utf8Texts(trainTexts, trainLengths, nTrain, "train_texts", "train_lens")
        let trainLabel = try cLabels(trainLabels, nTrain, "train_labels")
        let devText = try utf8Texts(devTexts, devLengths, nDev, "dev_texts", "dev_lens")
        let devLabel = try cLabels(devLabels, nDev, "dev_labels")
        let trainer = try TextClassifierTrainer(
            train: zip(trainText, trainLabel).map { (text: $0, label: $1) },
            dev: zip(devText, devLabel).map { (text: $0, label: $1) },
            config: model, options: options, tokenization: mode)
        try trainer.run { line in
            if let progress { line.withCString { progress($0, userData) } }
        }
        publish(trainer.classifier, to: out)
    }
}
