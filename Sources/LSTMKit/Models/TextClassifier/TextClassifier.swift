import LSTMKitCore
import LSTMKitIO
import LSTMKitLayers

/// Hyper-parameters of the text classifier.
public struct TextClassifierConfig: Equatable, Sendable, RecurrentClassifierConfig {
    public var embeddingDim = 128
    /// Embedding size of token bigrams (a token and its right neighbour); 0 turns them
    /// off (the default: on the Chinese reviews they overfit, 84.1 % vs 84.2 % test, seed 1).
    public var bigramDim = 0
    public var hiddenSize = 128
    public var numLayers = 1
    public var bidirectional = true
    /// The recurrent layer's cell.
    public var cell: RecurrentCell = .lstm
    public var pooling: SequencePoolingKind = .attention
    public var attentionSize = 64
    public var attentionHeads = 4
    public var embeddingDropout: Float = 0.3
    public var outputDropout: Float = 0.3
    /// Texts longer than this many tokens are truncated (their first tokens are kept).
    public var maxLength = 400
    /// N-gram features beside the LSTM: the runs of 1 to `ngramOrder` tokens of a text
    /// (characters for Chinese, words for English) each hold a weight per class, and
    /// their mean gives a second head's logits (a linear model over the text's n-grams,
    /// as fastText's bag of n-grams). Each head learns from its own loss; the prediction
    /// mixes their probabilities (`TextClassifier.ngramWeight`). 0 turns them off.
    public var ngramOrder = 0
    /// Training: each n-gram occurrence is left out of its text's mean with this probability.
    public var ngramDropout: Float = 0.5
    public var seed: UInt64 = 1

    public init() {}

}

extension TextClassifierConfig: HyperParameterized {
    public static var hyperParameters: [HyperParameter<Self>] {
        [
            .int("embedding_dim", \.embeddingDim, 1...4096, "Embedding size of each token."),
            .int("bigram_dim", \.bigramDim, 0...4096, "Embedding size of token bigrams (0: none)."),
            .hiddenSize(\.hiddenSize),
            .cell(\.cell),
            .numLayers(\.numLayers),
            .attentionSize(\.attentionSize),
            .attentionHeads(\.attentionHeads),
            .float("embedding_dropout", \.embeddingDropout, .closedOpen(0, 1), "Dropout on the embeddings in training."),
            .float("output_dropout", \.outputDropout, .closedOpen(0, 1), "Dropout on the pooled features in training."),
            .int("max_length", \.maxLength, 1...1_000_000, "Texts are truncated to this many tokens."),
            .int("ngram_order", \.ngramOrder, 0...8, "N-gram features of 1 to this many tokens (0: none)."),
            .float("ngram_dropout", \.ngramDropout, .closedOpen(0, 1), "Training: each n-gram occurrence is left out with this probability."),
        ]
    }

    public func validateCombination() throws { try validatePooling() }
}

/// Embedding → recurrent layer ((Bi)LSTM) → pooling (last, mean, max, additive attention or self-attention) → Linear →
/// softmax over the classes; optionally mixed with a linear head over the text's
/// n-grams (`ngramOrder`). Labels are strings, kept in the model.
public final class TextClassifier: Module, ModelFileModel {
    public static let modelKind = "text_classifier"

    public let config: TextClassifierConfig
    public let vocabulary: TextVocabulary
    public let labels: [String]
    public let embedding: Embedding
    public let bigramEmbedding: Embedding?
    public let recurrent: any RecurrentLayer
    public let pooling: RecurrentOutputPooling
    public let output: Linear
    /// Per-class weights of each n-gram (nil without n-gram features).
    public let ngramBag: EmbeddingBag?
    /// The n-gram head's share of the predicted probabilities, in [0, 1] (the trainer
    /// chooses it on dev after training).
    public var ngramWeight: Float = 0.5
    var dropoutRNG: SeededRandom

    public init(config: TextClassifierConfig, vocabulary: TextVocabulary, labels: [String]) throws {
        try config.validate()
        guard labels.count >= 2 else {
            throw LSTMKitError.invalidArgument("a classifier needs at least 2 classes, got \(labels.count): \(labels)")
        }
        guard Set(labels).count == labels.count else { throw LSTMKitError.invalidArgument("class labels repeat: \(labels)") }
        try Memory.checkModel(parameters: config.parameterEstimate(vocabulary: vocabulary, classes: labels.count),
                              for: "a text classifier of \(vocabulary.count) tokens")
        self.config = config
        self.vocabulary = vocabulary
        self.labels = labels
        var rng = SeededRandom(seed: config.seed)
        embedding = Embedding(vocabulary.count, config.embeddingDim, paddingIndex: 0, sparse: true, rng: &rng)
        bigramEmbedding = config.bigramDim > 0
            ? Embedding(vocabulary.bigramCount, config.bigramDim, paddingIndex: 0, sparse: true, rng: &rng)
            : nil
        for e in [embedding] + (bigramEmbedding.map { [$0] } ?? []) {
            let scale = 1 / Float(e.dim).squareRoot()
            e.weight.value = e.weight.value.map { $0 * scale }  // whole: across targets, [i] *= would copy per element
        }
        recurrent = try config.cell.make(RecurrentConfig(inputSize: config.embeddingDim + config.bigramDim, hiddenSize: config.hiddenSize,
                                                         numLayers: config.numLayers, bidirectional: config.bidirectional, seed: rng.next()))
        pooling = RecurrentOutputPooling(config.pooling, recurrent: recurrent.config, attentionSize: config.attentionSize,
                                         heads: config.attentionHeads, rng: &rng)
        output = Linear(recurrent.config.outputSize, labels.count, rng: &rng)
        if config.ngramOrder > 0 {
            guard !vocabulary.ngrams.isEmpty else {
                throw LSTMKitError.invalidArgument("n-gram features need n-grams in the vocabulary (none was found in enough training texts: lower min_ngram_count)")
            }
            ngramBag = EmbeddingBag(vocabulary.ngrams.count, labels.count, rng: &rng)
        } else {
            ngramBag = nil
        }
        dropoutRNG = rng.split()
    }

    /// The file's names: "embedding.weight", "lstm.weight_ih_l0" (the recurrent layer
    /// under its cell's tag), "attention.context" (the pooling's attention), …
    public var children: [(name: String, module: Module)] {
        var m: [(name: String, module: Module)] = [("embedding", embedding)]
        if let bigramEmbedding { m.append(("bigram_embedding", bigramEmbedding)) }
        m.append((recurrent.cell.rawValue, recurrent))
        m += pooling.children()
        m.append(("output", output))
        if let ngramBag { m.append(("ngram_bag", ngramBag)) }
        return m
    }

    // MARK: Batches

    /// A text as ids: its tokens, its token bigrams and its known n-grams.
    struct EncodedText {
        var ids: [Int32]
        var bigramIDs: [Int32]
        var ngramIDs: [Int32] = []
    }

    /// Texts padded to a batch: (B, T) token and bigram ids, the lengths, and each
    /// text's n-grams.
    struct Batch {
        var ids: [Int32]
        var bigramIDs: [Int32]
        var ngramBags: [[Int32]]
        var lengths: [Int]
        var steps: Int
        var size: Int { lengths.count }

        init(_ texts: [EncodedText]) {
            steps = texts.map(\.ids.count).max() ?? 1
            lengths = texts.map(\.ids.count)
            ids = [Int32](repeating: 0, count: texts.count * steps)
            bigramIDs = ids
            ngramBags = texts.map(\.ngramIDs)
            for (b, text) in texts.enumerated() {
                for t in text.ids.indices {
                    ids[b * steps + t] = text.ids[t]
                    bigramIDs[b * steps + t] = text.bigramIDs[t]
                }
            }
        }
    }

    func encode(_ text: String) -> EncodedText {
        let e = vocabulary.encode(text, maxLength: config.maxLength, ngramOrder: config.ngramOrder)
        return EncodedText(ids: e.ids, bigramIDs: e.bigramIDs, ngramIDs: e.ngramIDs)
    }

    /// The LSTM input (B, T, E + Eb): token and bigram embeddings side by side.
    func embed(_ batch: Batch) -> Tensor {
        let shape = [batch.size, batch.steps]
        let tokens = embedding.forward(batch.ids, shape: shape)
        guard let bigramEmbedding else { return tokens }
        let bigrams = bigramEmbedding.forward(batch.bigramIDs, shape: shape)
        let (e, eb) = (config.embeddingDim, config.bigramDim)
        var x = [Float](repeating: 0, count: batch.size * batch.steps * (e + eb))
        for row in 0..<(batch.size * batch.steps) {
            for j in 0..<e { x[row * (e + eb) + j] = tokens.data[row * e + j] }
            for j in 0..<eb { x[row * (e + eb) + e + j] = bigrams.data[row * eb + j] }
        }
        return Tensor(shape: shape + [e + eb], data: x)
    }

    /// Back-propagates into the two embedding tables.
    func embedBackward(_ batch: Batch, _ dX: Tensor) {
        let rows = batch.size * batch.steps
        let (e, eb) = (config.embeddingDim, config.bigramDim)
        guard let bigramEmbedding else {
            embedding.backward(batch.ids, outputGrad: dX.reshaped([rows, e]))
            return
        }
        var dt = [Float](repeating: 0, count: rows * e)
        var db = [Float](repeating: 0, count: rows * eb)
        for row in 0..<rows {
            for j in 0..<e { dt[row * e + j] = dX.data[row * (e + eb) + j] }
            for j in 0..<eb { db[row * eb + j] = dX.data[row * (e + eb) + e + j] }
        }
        embedding.backward(batch.ids, outputGrad: Tensor(shape: [rows, e], data: dt))
        bigramEmbedding.backward(batch.bigramIDs, outputGrad: Tensor(shape: [rows, eb], data: db))
    }

    /// Pooled features (B, F) in inference, and the attention weights (B, T) if any.
    func features(_ batch: Batch) -> (Tensor, [Float]?) {
        let h = recurrent.infer(sequences: embed(batch), lengths: batch.lengths)
        let (pooled, cache) = pooling.forward(y: h.y, final: h.final, lengths: batch.lengths)
        return (pooled, cache.attentionWeights)
    }

    // MARK: Prediction

    /// Class probabilities (N, C), in batches of similar length on up to `threads` threads.
    public func predictProbabilities(_ texts: [String], threads: Int = 1, batchSize: Int = 64) -> [[Float]] {
        let heads = headProbabilities(texts, threads: threads, batchSize: batchSize)
        guard let ngram = heads.ngram else { return heads.lstm }
        return zip(heads.lstm, ngram).map { Self.mix($0, $1, ngramWeight: ngramWeight) }
    }

    /// Each head's class probabilities: the LSTM's, and the n-gram head's if any.
    func headProbabilities(_ texts: [String], threads: Int, batchSize: Int = 64) -> (lstm: [[Float]], ngram: [[Float]]?) {
        let encoded = texts.map(encode)
        let order = encoded.indices.sorted { encoded[$0].ids.count > encoded[$1].ids.count }
        let batches = stride(from: 0, to: order.count, by: batchSize).map { Array(order[$0..<min($0 + batchSize, order.count)]) }
        let lstmResults = ResultSlots<[Float]>(count: texts.count), ngramResults = ResultSlots<[Float]>(count: texts.count)
        let run = { (i: Int) in
            let members = batches[i]
            let batch = Batch(members.map { encoded[$0] })
            let (f, _) = self.features(batch)
            let c = self.labels.count
            let heads = [(self.output.forward(f), lstmResults)] + (self.ngramBag.map { [($0.forward(batch.ngramBags), ngramResults)] } ?? [])
            for (logits, results) in heads {
                for (row, index) in members.enumerated() {
                    results.set(index, VectorMath.softmax(Array(logits.data[(row * c)..<((row + 1) * c)])))
                }
            }
        }
        parallelForEach(batches.count, threads: threads, run)
        return (lstmResults.values, ngramBag == nil ? nil : ngramResults.values)
    }

    static func mix(_ lstm: [Float], _ ngram: [Float], ngramWeight w: Float) -> [Float] {
        zip(lstm, ngram).map { (1 - w) * $0 + w * $1 }
    }

    public func predict(_ texts: [String], threads: Int = 1) -> [String] {
        predictProbabilities(texts, threads: threads).map { p in labels[p.indices.max { p[$0] < p[$1] }!] }
    }

    /// The tokens of a text with their attention weights (nil unless pooling is attention
    /// or self_attention: then the weights of the block's outputs at each token).
    public func attentionWeights(_ text: String) -> [(token: String, weight: Float)]? {
        guard config.pooling.weighsSteps else { return nil }
        let e = vocabulary.encode(text, maxLength: config.maxLength)
        let tokens = e.tokens
        let (_, weights) = features(Batch([EncodedText(ids: e.ids, bigramIDs: e.bigramIDs)]))
        if tokens.isEmpty { return [] }
        return tokens.enumerated().map { ($1, weights![$0]) }
    }

    // MARK: Training step

    /// Forward and backward on one batch with dropout; ADDS gradients; returns the
    /// (class-weighted) mean cross-entropy summed over the heads trained (`lstm`,
    /// `ngrams`): each head learns from its own loss.
    func trainStep(_ batch: Batch, targets: [Int32], classWeights: [Float]?, lstm trainLSTM: Bool = true,
                   ngrams trainNgrams: Bool = true) throws -> Float {
        let mask = classWeights.map { w in targets.map { w[Int($0)] } }
        var loss: Float = 0
        if trainLSTM {
            let embeddingDrop = Dropout(config.embeddingDropout), outputDrop = Dropout(config.outputDropout)
            let (x, xMask) = embeddingDrop.forward(embed(batch), rng: &dropoutRNG)
            let out = recurrent.forward(sequences: x, lengths: batch.lengths, training: true)
            let (pooled, poolCache) = pooling.forward(y: out.y, final: out.final, lengths: batch.lengths)
            let (f, fMask) = outputDrop.forward(pooled, rng: &dropoutRNG)
            let (lstmLoss, dLogits) = try Loss.softmaxCrossEntropy(logits: output.forward(f), targets: targets, mask: mask)
            let dPooled = outputDrop.backward(fMask, outputGrad: output.backward(f, outputGrad: dLogits))
            let (dY, dFinal) = pooling.backward(poolCache, outputGrad: dPooled)
            let dX = embeddingDrop.backward(xMask, outputGrad: recurrent.backward(out.cache, outputGrad: dY, finalGrad: dFinal))
            embedBackward(batch, dX)
            loss += lstmLoss
        }
        if trainNgrams, let ngramBag {
            let bags = batch.ngramBags.map { bag in bag.filter { _ in dropoutRNG.nextUnitFloat() >= config.ngramDropout } }
            let (ngramLoss, dNgram) = try Loss.softmaxCrossEntropy(logits: ngramBag.forward(bags), targets: targets, mask: mask)
            ngramBag.backward(bags, outputGrad: dNgram)
            loss += ngramLoss
        }
        return loss
    }

    // MARK: Files

    public func modelFile() -> SafeTensors {
        func list(_ items: [String]) -> String { JSONValue.array(items.map { .string($0) }).serialized }
        return SafeTensors(
            metadata: ModelFile.header(kind: Self.modelKind, quantized: isQuantized) + [
                ("embedding_dim", String(config.embeddingDim)),
                ("bigram_dim", String(config.bigramDim)),
            ] + ModelFile.recurrentMetadata(config) + ModelFile.poolingMetadata(config) + [
                ("embedding_dropout", String(config.embeddingDropout)),
                ("output_dropout", String(config.outputDropout)),
                ("max_length", String(config.maxLength)),
                ("ngram_order", String(config.ngramOrder)),
                ("ngram_dropout", String(config.ngramDropout)),
                ("ngram_weight", String(ngramWeight)),
                ("seed", String(config.seed)),
                ("tokenization", vocabulary.mode.rawValue),
                ("tokens", list(vocabulary.tokens)),
                ("bigrams", list(vocabulary.bigrams)),
                ("ngrams", list(vocabulary.ngrams)),
                ("labels", list(labels)),
            ],
            tensors: ModelFile.tensors(of: self))
    }

    public convenience init(modelFile file: SafeTensors) throws {
        try ModelFile.checkKind(file, expected: Self.modelKind)
        var c = TextClassifierConfig()
        c.embeddingDim = try ModelFile.int(file, "embedding_dim")
        // Files from before token bigrams existed have neither key: no bigrams.
        c.bigramDim = file.metadata("bigram_dim") == nil ? 0 : try ModelFile.int(file, "bigram_dim")
        try ModelFile.readRecurrent(file, into: &c)
        try ModelFile.readPooling(file, into: &c)
        c.embeddingDropout = try ModelFile.float(file, "embedding_dropout")
        c.outputDropout = try ModelFile.float(file, "output_dropout")
        c.maxLength = try ModelFile.int(file, "max_length")
        // Files from before n-gram features have no n-gram keys: none.
        c.ngramOrder = file.metadata("ngram_order") == nil ? 0 : try ModelFile.int(file, "ngram_order")
        if file.metadata("ngram_dropout") != nil { c.ngramDropout = try ModelFile.float(file, "ngram_dropout") }
        c.seed = UInt64(file.metadata("seed") ?? "1") ?? 1
        guard let mode = TextVocabulary.Mode(rawValue: file.metadata("tokenization") ?? "") else {
            throw LSTMKitError.invalidFormat("metadata \"tokenization\" must be characters or words")
        }
        let tokens = try ModelFile.stringList(file, "tokens")
        let labels = try ModelFile.stringList(file, "labels")
        let bigrams = file.metadata("bigrams") == nil ? [] : try ModelFile.stringList(file, "bigrams")
        let ngrams = file.metadata("ngrams") == nil ? [] : try ModelFile.stringList(file, "ngrams")
        let vocabulary = TextVocabulary(mode: mode, tokens: tokens, bigrams: bigrams, ngrams: ngrams)
        do {
            try c.validate()
            var sizes = [("embedding_dim", c.embeddingDim, "embedding.weight", 1), ("tokens", vocabulary.count, "embedding.weight", 0),
                         ("labels", labels.count, "output.weight", 0)]
                + ModelFile.recurrentSizes(prefix: c.cell.rawValue + ".", hiddenSize: c.hiddenSize, numLayers: c.numLayers)
            if c.bigramDim > 0 {
                sizes += [("bigram_dim", c.bigramDim, "bigram_embedding.weight", 1), ("bigrams", vocabulary.bigramCount, "bigram_embedding.weight", 0)]
            }
            if c.pooling.weighsSteps { sizes.append(("attention_size", c.attentionSize, "attention.projection.weight", 0)) }
            if c.ngramOrder > 0 { sizes.append(("ngrams", vocabulary.ngrams.count, "ngram_bag.weight", 0)) }
            try ModelFile.checkSizes(file, sizes)
            try self.init(config: c, vocabulary: vocabulary, labels: labels)
            if file.metadata("ngram_weight") != nil {
                let w = try ModelFile.float(file, "ngram_weight")
                guard w >= 0, w <= 1 else { throw LSTMKitError.invalidArgument("ngram_weight must be in [0, 1], got \(w)") }
                ngramWeight = w
            }
        } catch let e as LSTMKitError {
            throw LSTMKitError.invalidFormat("invalid hyper-parameters: \(e.message)")
        }
        try ModelFile.load(file, into: self)
    }
}

extension TextClassifierConfig {
    /// An upper bound of the weights, for `Memory.checkModel`.
    func parameterEstimate(vocabulary: TextVocabulary, classes: Int) -> Double {
        let recurrent = RecurrentConfig(inputSize: embeddingDim + bigramDim, hiddenSize: hiddenSize, numLayers: numLayers,
                                        bidirectional: bidirectional)
        return FloatCount.embedding(vocabulary.count, embeddingDim) + FloatCount.embedding(vocabulary.bigramCount, bigramDim)
            + recurrent.parameterEstimate + FloatCount.linear(recurrent.outputSize, attentionSize + classes) + Double(attentionSize)
            + RecurrentOutputPooling.blockEstimate(pooling, width: recurrent.outputSize)
            + FloatCount.embedding(ngramOrder > 0 ? vocabulary.ngrams.count : 0, classes)
    }
}
