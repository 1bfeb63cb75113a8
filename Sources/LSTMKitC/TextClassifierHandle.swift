import CLSTMKitHeader
import LSTMKit

extension TextClassifier: CModel {
    static let argumentName = "classifier"
    var lentStrings: [String] { labels }
    var settings: (any HyperParameterized)? { config }
    var cConfig: lk_text_classifier_train_config {
        var c = textClassifierConfig.encode(config)
        c.tokenization = tokenizations.code(vocabulary.mode)
        return c
    }
}

/// The C config's fields (tokenization by text only: the model keeps it in its vocabulary).
let textClassifierConfig = CConfigTable<lk_text_classifier_train_config, TextClassifierConfig, TextClassifierTrainingOptions>(
    empty: .init(), defaults: .init(model: .init(), options: .init()), fields: [
    .int("embedding_dim", \.embedding_dim, \.model.embeddingDim),
    .int("hidden_size", \.hidden_size, \.model.hiddenSize),
    .int("num_layers", \.num_layers, \.model.numLayers),
    .flag("bidirectional", \.bidirectional, \.model.bidirectional),
    .choice(poolings, \.pooling, \.model.pooling),
    .int("attention_size", \.attention_size, \.model.attentionSize),
    .same("dropout", \.dropout, \.model.embeddingDropout, also: \.model.outputDropout),
    .int("max_length", \.max_length, \.model.maxLength),
    .int("min_count", \.min_count, \.options.minTokenCount),
    .flag("balance_classes", \.balance_classes, \.options.balanceClasses),
    .same("seed", \.seed, \.model.seed, also: \.options.seed),
    .int("ngram_order", \.ngram_order, \.model.ngramOrder),
    .same("ngram_dropout", \.ngram_dropout, \.model.ngramDropout),
    .same("ngram_learning_rate", \.ngram_learning_rate, \.options.ngramLearningRate),
    .int("min_ngram_count", \.min_ngram_count, \.options.minNgramCount),
    .int("bigram_dim", \.bigram_dim, \.model.bigramDim),
    .int("min_bigram_count", \.min_bigram_count, \.options.minBigramCount),
    .text("tokenization", \.tokenization, tokenizations.io),
], loop: CField.loop())

/// LK_TOKENIZATION_*: AUTO is the engine's nil (decided from the training texts).
let tokenizations = CEnum<TextVocabulary.Mode?>("tokenization", [
    (LK_TOKENIZATION_AUTO, "LK_TOKENIZATION_AUTO", nil), (LK_TOKENIZATION_CHARACTERS, "LK_TOKENIZATION_CHARACTERS", .characters),
    (LK_TOKENIZATION_WORDS, "LK_TOKENIZATION_WORDS", .words),
])

@_cdecl("lk_text_classifier_train_config_default")
public func lk_text_classifier_train_config_default() -> lk_text_classifier_train_config {
    textClassifierConfig.defaultConfig  // tokenization 0: LK_TOKENIZATION_AUTO
}

@_cdecl("lk_text_classifier_predict")
public func lk_text_classifier_predict(_ classifier: OpaquePointer?, _ texts: CStrings?, _ textLengths: UnsafePointer<Int>?,
                                       _ n: Int, _ threads: Int32,
                                       _ probabilities: Out<Float>?, _ probabilitiesCount: Int) -> lk_status {
    guarded(classifier, TextClassifier.self) { h in
        let threads = try threadCount(threads)
        let n = try size(n, "n")
        let needed = try count(probabilitiesCount, "probabilities_count", is: [n, h.strings.count], "n * num_classes")
        if n == 0 { return }
        let out = try required(probabilities, "probabilities")
        let rows = h.model.predictProbabilities(try utf8Texts(texts, textLengths, n, "texts", "text_lens"), threads: threads)
        try copyOut(rows.flatMap { $0 }, to: out, count: needed, "probabilities")
    }
}

@_cdecl("lk_text_classifier_attention")
public func lk_text_classifier_attention(_ classifier: OpaquePointer?, _ text: CString?, _ textLength: Int,
                                         _ tokens: Out<CChar>?, _ tokensCapacity: Int, _ tokensSize: Out<Int>?,
                                         _ weights: Out<Float>?, _ weightsCapacity: Int, _ nTokens: Out<Int>?) -> lk_status {
    guarded(classifier, TextClassifier.self) { h in
        let text = try required(text, "text")
        let tokensSize = try required(tokensSize, "tokens_size")
        let nTokens = try required(nTokens, "n_tokens")
        let tokensCapacity = try size(tokensCapacity, "tokens_capacity")
        let weightsCapacity = try size(weightsCapacity, "weights_capacity")
        for (buffer, capacity, name) in [(tokens == nil, tokensCapacity, "tokens"), (weights == nil, weightsCapacity, "weights")]
        where buffer && capacity > 0 {
            throw invalid("\(name) must not be NULL when \(name)_capacity is \(capacity) (pass 0 to ask for the size)")
        }
        let string = try utf8Text(text, textLength, "text")
        if let nul = string.utf8.firstIndex(of: 0) {
            throw invalid("text holds a NUL byte (at byte \(string.utf8.distance(from: string.utf8.startIndex, to: nul))); "
                          + "the tokens come back NUL-terminated, so the text must not contain one")
        }
        guard let pairs = h.model.attentionWeights(string) else {
            throw invalid("this model pools by \(h.model.config.pooling.rawValue): no attention weights; "
                          + "train with attention pooling")
        }
        guard !pairs.contains(where: { $0.token.utf8.contains(0) }) else { throw internalError("a token holds a NUL byte") }
        let bytes = pairs.flatMap { Array($0.token.utf8) + [UInt8(0)] }  // consecutive NUL-terminated strings
        tokensSize.pointee = bytes.count
        nTokens.pointee = pairs.count
        if tokensCapacity == 0 && weightsCapacity == 0 && tokens == nil && weights == nil { return }
        guard tokensCapacity >= bytes.count, weightsCapacity >= pairs.count else {
            throw ABIError(status: LK_STATUS_BUFFER_TOO_SMALL, message:
                "the \(pairs.count) tokens need tokens_capacity >= \(bytes.count) bytes and weights_capacity >= \(pairs.count); "
                + "got \(tokensCapacity) and \(weightsCapacity) (*tokens_size and *n_tokens hold the sizes)")
        }
        try copyOut(bytes.map { CChar(bitPattern: $0) }, to: tokens!, count: bytes.count, "token bytes")
        try copyOut(pairs.map(\.weight), to: weights!, count: pairs.count, "weights")
    }
}

@_cdecl("lk_text_classifier_train")
public func lk_text_classifier_train(_ trainTexts: CStrings?, _ trainLengths: UnsafePointer<Int>?,
                                     _ trainLabels: CStrings?, _ nTrain: Int,
                                     _ devTexts: CStrings?, _ devLengths: UnsafePointer<Int>?, _ devLabels: CStrings?, _ nDev: Int,
                                     _ config: UnsafePointer<lk_text_classifier_train_config>?,
                                     _ progress: lk_progress_fn?, _ userData: UnsafeMutableRawPointer?,
                                     _ out: HandleOut?) -> lk_status {
    lk_text_classifier_train_ex(trainTexts, trainLengths, trainLabels, nTrain, devTexts, devLengths, devLabels, nDev,
                                config, nil, progress, userData, out)
}

@_cdecl("lk_text_classifier_train_ex")
public func lk_text_classifier_train_ex(_ trainTexts: CStrings?, _ trainLengths: UnsafePointer<Int>?,
                                        _ trainLabels: CStrings?, _ nTrain: Int,
                                        _ devTexts: CStrings?, _ devLengths: UnsafePointer<Int>?, _ devLabels: CStrings?, _ nDev: Int,
                                        _ config: UnsafePointer<lk_text_classifier_train_config>?, _ options: OpaquePointer?,
                                        _ progress: lk_progress_fn?, _ userData: UnsafeMutableRawPointer?,
                                        _ out: HandleOut?) -> lk_status {
    guarded {
        let (c, out, nTrain, nDev) = try trainArguments(config, out, nTrain, nDev)
        // The message of a bad dropout names the C field, which sets both of the engine's.
        let (s, run) = try textClassifierConfig.decode(c, options)
        try s.model.validate(naming: ["embedding_dropout": "dropout", "output_dropout": "dropout"])
        try s.options.validate()
        let tokenization = try tokenizations.value(try textClassifierConfig.withFields(c, options).tokenization)

        let train = zip(try utf8Texts(trainTexts, trainLengths, nTrain, "train_texts", "train_lens"),
                        try strings(trainLabels, nTrain, "train_labels")).map { (text: $0, label: $1) }
        let dev = zip(try utf8Texts(devTexts, devLengths, nDev, "dev_texts", "dev_lens"),
                      try strings(devLabels, nDev, "dev_labels")).map { (text: $0, label: $1) }
        let trainer = try TextClassifierTrainer(train: train, dev: dev, config: s.model, options: s.options,
                                                tokenization: tokenization)
        let log = progressLines(progress, userData)
        try run.start(trainer, log)
        try trainer.run(checkpointPath: run.checkpoint, log: log)
        publish(trainer.classifier, to: out)
    }
}
