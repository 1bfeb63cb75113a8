import LSTMKitCore
import LSTMKitIO
import LSTMKitLayers

/// Hyper-parameters of the seq2seq model (docs/SEQ2SEQ.md).
public struct Seq2SeqConfig: Equatable, Sendable {
    /// How each side's text becomes tokens.
    public var sourceTokens: Seq2SeqVocabulary.Mode = .characters
    public var targetTokens: Seq2SeqVocabulary.Mode = .characters
    public var embeddingSize = 64
    /// The encoder's units per direction; the decoder has the encoder's output size
    /// (directions × this), so every score, `dot` included, fits.
    public var hiddenSize = 128
    /// The encoder's stacked layers (the decoder has one).
    public var numLayers = 1
    public var bidirectional = true
    /// The encoder's cell (the decoder is an LSTM).
    public var cell: RecurrentCell = .lstm
    public var score: AttentionScore = .general
    /// The additive score's hidden size (read by `additive` only).
    public var attentionSize = 128
    /// The decoder's first h from the encoder's last layer's final states (h0 =
    /// tanh(W [h_fwd; h_bwd] + b), c0 = 0); false: zeros.
    public var bridge = true
    /// Dropout on both embeddings, between encoder layers and on h̃, in training.
    public var dropout: Float = 0.2
    /// Greedy decoding stops after ceil(this × source tokens) output tokens.
    public var maxLengthRatio: Float = 2
    /// Self-attention blocks (multi-head, residual, LayerNorm) over the encoder's
    /// states, before the decoder's attention reads them; 0: none.
    public var selfAttentionBlocks = 0
    /// The heads of each of those blocks (they must divide the encoder's output size).
    public var selfAttentionHeads = 4
    public var seed: UInt64 = 1

    public init() {}

    /// The decoder's size, D.
    public var decoderSize: Int { hiddenSize * (bidirectional ? 2 : 1) }
}

extension Seq2SeqConfig: HyperParameterized {
    public static var hyperParameters: [HyperParameter<Self>] {
        [
            .choice("source_tokens", \.sourceTokens, "The source side's tokens: characters or whitespace-separated words."),
            .choice("target_tokens", \.targetTokens, "The target side's tokens: characters or whitespace-separated words."),
            .int("embedding_size", \.embeddingSize, 1...4096, "Size of the source and target token embeddings."),
            .hiddenSize(\.hiddenSize),
            .numLayers(\.numLayers),
            .cell(\.cell),
            .choice("score", \.score, "The attention score: dot, general (Luong) or additive (Bahdanau)."),
            .int("attention_size", \.attentionSize, 1...4096, "Hidden size of the additive attention score."),
            .float("dropout", \.dropout, .closedOpen(0, 1), "Dropout on the embeddings, between encoder layers and on the attentional state in training."),
            .float("max_length_ratio", \.maxLengthRatio, .openClosed(0, 100), "Decoding stops after ceil(this × source tokens) output tokens."),
            .int("self_attention_blocks", \.selfAttentionBlocks, 0...8, "Self-attention blocks over the encoder's states (0: none)."),
            .int("self_attention_heads", \.selfAttentionHeads, 1...64, "Heads of each self-attention block (they must divide the encoder's output size)."),
        ]
    }

    public func validateCombination() throws {
        guard selfAttentionBlocks == 0 || decoderSize % selfAttentionHeads == 0 else {
            throw LSTMKitError.invalidArgument("self_attention_heads (\(selfAttentionHeads)) must divide the encoder's output size (\(decoderSize))")
        }
    }
}

extension Seq2SeqConfig {
    func encoderConfig(seed: UInt64) -> RecurrentConfig {
        RecurrentConfig(inputSize: embeddingSize, hiddenSize: hiddenSize, numLayers: numLayers, bidirectional: bidirectional,
                        dropout: dropout, seed: seed)
    }

    func decoderConfig(seed: UInt64) -> RecurrentConfig {
        RecurrentConfig(inputSize: embeddingSize + decoderSize, hiddenSize: decoderSize, seed: seed)
    }

    /// An upper bound of the weights, for `Memory.checkModel`.
    func parameterEstimate(sourceVocabulary: Int, targetVocabulary: Int) -> Double {
        let d = decoderSize
        return FloatCount.embedding(sourceVocabulary + targetVocabulary, embeddingSize)
            + encoderConfig(seed: 0).parameterEstimate + decoderConfig(seed: 0).parameterEstimate
            + FloatCount.linear(d, d) * 3 + FloatCount.linear(d, attentionSize) * 2 + FloatCount.linear(d, targetVocabulary)
            + Double(selfAttentionBlocks) * SelfAttentionBlock.parameterCount(modelSize: d)
    }

    /// Floats the self-attention blocks hold per source step of a sequence of `sourceSteps`.
    func blockFloats(sourceSteps: Double) -> Double {
        Double(selfAttentionBlocks)
            * SelfAttentionBlock.trainingFloatsPerStep(modelSize: decoderSize, heads: selfAttentionHeads, steps: Int(sourceSteps))
    }

    /// Floats a training step holds per (source step, target step) of a pair.
    func trainingFloats(sourceSteps: Double, targetSteps: Double, targetVocabulary: Int) -> Double {
        let d = Double(decoderSize)
        // + the deferred weight gradients' rows: gates 4d, input e + d, h d, h̃'s 3d.
        let decoderStep = decoderConfig(seed: 0).trainingFloatsPerStep + 3 * Double(targetVocabulary) + 10 * d
            + 2 * sourceSteps + Double(embeddingSize) * 3 + 9 * d + Double(embeddingSize)
        return sourceSteps * (encoderConfig(seed: 0).trainingFloatsPerStep + 4 * d + 3 * Double(embeddingSize)
                              + blockFloats(sourceSteps: sourceSteps))
            + targetSteps * decoderStep
    }
}

/// Padded id batches of (source, target) pairs, as a training step reads them.
struct Seq2SeqBatch {
    let size: Int
    /// (B, T_src), PAD after each source's length.
    let source: [Int32]
    let sourceLengths: [Int]
    let sourceSteps: Int
    /// (B, T_tgt): BOS y_1 … y_n, and y_1 … y_n EOS, PAD beyond; mask 1 at real positions.
    let decoderInput: [Int32]
    let decoderOutput: [Int32]
    let mask: [Float]
    let targetSteps: Int

    /// Sources must be non-empty.
    init(sources: [[Int32]], targets: [[Int32]]) {
        size = sources.count
        sourceLengths = sources.map(\.count)
        sourceSteps = sourceLengths.max() ?? 1
        targetSteps = (targets.map(\.count).max() ?? 0) + 1
        var source = [Int32](repeating: Seq2SeqVocabulary.padding, count: size * sourceSteps)
        var input = [Int32](repeating: Seq2SeqVocabulary.padding, count: size * targetSteps)
        var output = input, mask = [Float](repeating: 0, count: size * targetSteps)
        for b in 0..<size {
            for (t, id) in sources[b].enumerated() { source[b * sourceSteps + t] = id }
            let target = targets[b]
            for t in 0...target.count {
                input[b * targetSteps + t] = t == 0 ? Seq2SeqVocabulary.begin : target[t - 1]
                output[b * targetSteps + t] = t == target.count ? Seq2SeqVocabulary.end : target[t]
                mask[b * targetSteps + t] = 1
            }
        }
        (self.source, decoderInput, decoderOutput, self.mask) = (source, input, output, mask)
    }
}

/// The decoder's state for N rows (hypotheses): its LSTM's h and c, each (1, N, D), and
/// the input feed h̃ of the last step (N, D). A beam keeps its rows with `rows`.
public struct Seq2SeqDecoderState {
    public var lstm: LSTMState
    public var feed: Tensor

    /// Rows `rows` (in that order, repeats allowed).
    public func rows(_ rows: [Int]) -> Seq2SeqDecoderState {
        let d = feed.shape[1]
        var f = [Float]()
        f.reserveCapacity(rows.count * d)
        for r in rows { f += feed.data[(r * d)..<((r + 1) * d)] }
        return Seq2SeqDecoderState(lstm: LSTMState(RecurrentState(lstm).rows(rows)), feed: Tensor(shape: [rows.count, d], data: f))
    }
}

/// One output of `translate`: the tokens, their text, and for each output token its
/// attention weights over the source tokens (rows = output tokens, columns = source
/// tokens; each row sums to 1).
public struct Seq2SeqTranslation: Equatable, Sendable {
    public let ids: [Int32]
    public let tokens: [String]
    public let text: String
    public let attention: [[Float]]
    /// The hypothesis's rank score: the sum of its tokens' log-probabilities (EOS's
    /// included when it ended on EOS) / (its output tokens)^length_penalty.
    public let score: Float
}

/// Sequence to sequence with attention (Luong et al. 2015): token embeddings → a
/// (bidirectional) recurrent encoder (any `RecurrentLayer`) [→ self-attention blocks over
/// its states] → an LSTM decoder reading
/// [embedding of the previous token; h̃_{t-1}] (input feeding), started from a bridge
/// of the encoder's final states → encoder–decoder attention (dot, general or
/// additive) giving h̃_t → Linear to the target vocabulary.
public final class Seq2Seq: Module, ModelFileModel {
    public static let modelKind = "seq2seq"

    public let config: Seq2SeqConfig
    public let source: Seq2SeqVocabulary
    public let target: Seq2SeqVocabulary
    let sourceEmbedding: Embedding
    public let encoder: any RecurrentLayer
    /// `config.selfAttentionBlocks` blocks over the encoder's states, in order.
    public let encoderBlocks: [SelfAttentionBlock]
    let bridge: Linear?
    let targetEmbedding: Embedding
    public let decoder: LSTM
    public let attention: EncoderDecoderAttention
    let generator: Linear
    var dropoutRNG: SeededRandom
    /// Every generator training draws dropout masks from: the model's, then the encoder's
    /// between its layers (a recurrent stack's). Checkpoints save them; replicas split them.
    var dropoutGenerators: [SeededRandom] {
        get { [dropoutRNG] + ((encoder as? RecurrentStack).map { [$0.dropoutRNG] } ?? []) }
        set {
            dropoutRNG = newValue[0]
            if let stack = encoder as? RecurrentStack { stack.dropoutRNG = newValue[1] }
        }
    }
    /// The decoding step's prepared weights (Seq2SeqStep.swift).
    let stepWeights = Seq2SeqStepWeightsCache()

    public init(config: Seq2SeqConfig, source: Seq2SeqVocabulary, target: Seq2SeqVocabulary) throws {
        try config.validate()
        try Memory.checkModel(parameters: config.parameterEstimate(sourceVocabulary: source.count, targetVocabulary: target.count),
                              for: "a seq2seq model of \(source.count) source and \(target.count) target tokens")
        (self.config, self.source, self.target) = (config, source, target)
        let (e, d) = (config.embeddingSize, config.decoderSize)
        var rng = SeededRandom(seed: config.seed)
        sourceEmbedding = Embedding(source.count, e, paddingIndex: Int(Seq2SeqVocabulary.padding), rng: &rng)
        encoder = try config.cell.make(config.encoderConfig(seed: rng.next()))
        bridge = config.bridge ? Linear(d, d, rng: &rng) : nil
        targetEmbedding = Embedding(target.count, e, paddingIndex: Int(Seq2SeqVocabulary.padding), rng: &rng)
        decoder = try LSTM(config.decoderConfig(seed: rng.next()))
        attention = EncoderDecoderAttention(score: config.score, querySize: d, memorySize: d, attentionSize: config.attentionSize,
                                            outputSize: d, rng: &rng)
        generator = Linear(d, target.count, rng: &rng)
        // Drawn after the rest, so that a model without blocks is initialised as before.
        encoderBlocks = (0..<config.selfAttentionBlocks).map { _ in SelfAttentionBlock(modelSize: d, heads: config.selfAttentionHeads, rng: &rng) }
        dropoutRNG = rng.split()
    }

    /// The file's names: "source_embedding.weight", "encoder.weight_ih_l0",
    /// "encoder_blocks.0.self_attn.in_proj_weight" (with self-attention blocks), "bridge.weight",
    /// "target_embedding.weight", "decoder.weight_ih_l0", "attention.linear_out.weight",
    /// "generator.weight", …
    public var children: [(name: String, module: Module)] {
        var m: [(name: String, module: Module)] = [("source_embedding", sourceEmbedding), ("encoder", encoder)]
        if !encoderBlocks.isEmpty { m.append(("encoder_blocks", ModuleList(encoderBlocks))) }
        if let bridge { m.append(("bridge", bridge)) }
        m += [("target_embedding", targetEmbedding), ("decoder", decoder), ("attention", attention), ("generator", generator)]
        return m
    }

    // MARK: The decoder's start

    /// The last layer's final h of each direction side by side: (B, K·H) = (B, D).
    private func lastLayerFinal(_ final: Tensor, batch: Int) -> Tensor {
        let (k, h, l) = (encoder.config.directions, config.hiddenSize, config.numLayers)
        var out = [Float](repeating: 0, count: batch * k * h)
        for b in 0..<batch {
            for dir in 0..<k {
                let from = (((l - 1) * k + dir) * batch + b) * h
                for j in 0..<h { out[(b * k + dir) * h + j] = final.data[from + j] }
            }
        }
        return Tensor(shape: [batch, k * h], data: out)
    }

    /// The decoder's first state from the encoder's final h: the bridge's input and its
    /// h0 (nil without a bridge: zeros).
    private func start(_ final: Tensor, batch: Int) -> (bridgeInput: Tensor, h0: Tensor)? {
        guard let bridge else { return nil }
        let input = lastLayerFinal(final, batch: batch)
        var h = bridge.forward(input)
        for i in 0..<h.count { h.data[i] = VectorMath.tanh(h.data[i]) }
        return (input, h)
    }

    private func startState(_ final: Tensor, batch: Int) -> Seq2SeqDecoderState {
        let d = config.decoderSize
        var lstm = LSTMState(zerosFor: decoder.config, batch: batch)
        if let (_, h0) = start(final, batch: batch) { lstm.h = h0.reshaped([1, batch, d]) }
        return Seq2SeqDecoderState(lstm: lstm, feed: Tensor(zeros: [batch, d]))
    }

    /// [embedding; feed] rows: (N, E) and (N, D) → (N, 1, E + D).
    static func decoderInput(_ embedded: UnsafeBufferPointer<Float>, _ feed: [Float], rows: Int, e: Int, d: Int) -> Tensor {
        var x = [Float](repeating: 0, count: rows * (e + d))
        for r in 0..<rows {
            for j in 0..<e { x[r * (e + d) + j] = embedded[r * e + j] }
            for j in 0..<d { x[r * (e + d) + e + j] = feed[r * d + j] }
        }
        return Tensor(shape: [rows, 1, e + d], data: x)
    }

    // MARK: Training

    /// Forward and backward on a batch with teacher forcing (dropout as `training` says);
    /// ADDS into every parameter's grad. Returns the mean token cross-entropy (label
    /// smoothed) over the real target positions (EOS included) and their count.
    func trainStep(_ b: Seq2SeqBatch, labelSmoothing: Float, training: Bool = true) throws -> (loss: Float, tokens: Int) {
        let (n, ts, tt, e, d) = (b.size, b.sourceSteps, b.targetSteps, config.embeddingSize, config.decoderSize)
        let drop = Dropout(training ? config.dropout : 0)
        // Encoder and memory.
        let (srcX, srcMask) = drop.forward(sourceEmbedding.forward(b.source, shape: [n, ts]), rng: &dropoutRNG)
        let enc = encoder.forward(sequences: srcX, lengths: b.sourceLengths, training: training)
        let (states, blockCaches) = attend(enc.y, lengths: b.sourceLengths)
        let memory = attention.memory(states, lengths: b.sourceLengths)
        let started = start(enc.final, batch: n)
        var state = LSTMState(zerosFor: decoder.config, batch: n)
        if let started { state.h = started.h0.reshaped([1, n, d]) }
        // The decoder, step by step (input feeding).
        let (tgtX, tgtMask) = drop.forward(targetEmbedding.forward(b.decoderInput, shape: [n, tt]), rng: &dropoutRNG)
        var feed = [Float](repeating: 0, count: n * d)
        var steps: [(lstm: LSTM.Cache, attention: EncoderDecoderAttention.Cache, mask: [Float])] = []
        var hidden = [Float](repeating: 0, count: n * tt * d)   // h̃ after dropout, row b·T_tgt + t
        var embedded = [Float](repeating: 0, count: n * e)
        let ones = [Int](repeating: 1, count: n)
        for t in 0..<tt {
            for r in 0..<n { for j in 0..<e { embedded[r * e + j] = tgtX.data[(r * tt + t) * e + j] } }
            let x = embedded.withUnsafeBufferPointer { Self.decoderInput($0, feed, rows: n, e: e, d: d) }
            let out = decoder.forward(x, lengths: ones, initial: state, training: training)
            state = out.final
            let (h, attentionCache) = attention.step(memory, query: out.y.reshaped([n, d]))
            let (dropped, mask) = drop.forward(h, rng: &dropoutRNG)
            feed = dropped.data
            for r in 0..<n { for j in 0..<d { hidden[(r * tt + t) * d + j] = feed[r * d + j] } }
            steps.append((out.cache, attentionCache, mask))
        }
        let hiddenTensor = Tensor(shape: [n * tt, d], data: hidden)
        let logits = generator.forward(hiddenTensor)
        let (loss, dLogits) = try Loss.softmaxCrossEntropy(logits: logits, targets: b.decoderOutput, mask: b.mask,
                                                          labelSmoothing: labelSmoothing)
        // Backward, in reverse.
        let dHidden = generator.backward(hiddenTensor, outputGrad: dLogits).data
        var memoryGrad = AttentionMemoryGradient(for: memory)
        var dTgtX = [Float](repeating: 0, count: n * tt * e)
        var dFeed = [Float](repeating: 0, count: n * d)
        var dState: LSTMState?
        // The decoder's and the attention's weight gradients, added once for all steps.
        let deferred = DeferredWeightGradients()
        for t in (0..<tt).reversed() {
            var dh = dFeed
            for r in 0..<n { for j in 0..<d { dh[r * d + j] += dHidden[(r * tt + t) * d + j] } }
            let dOut = drop.backward(steps[t].mask, outputGrad: Tensor(shape: [n, d], data: dh))
            let dQuery = attention.backward(steps[t].attention, outputGrad: dOut, memoryGrad: &memoryGrad, deferring: deferred)
            let g = decoder.backward(steps[t].lstm, outputGrad: dQuery.reshaped([n, 1, d]), finalGrad: dState, deferring: deferred)
            dState = g.dInitial
            for r in 0..<n {
                for j in 0..<e { dTgtX[(r * tt + t) * e + j] = g.dx.data[r * (e + d) + j] }
                for j in 0..<d { dFeed[r * d + j] = g.dx.data[r * (e + d) + e + j] }
            }
        }
        deferred.apply()
        targetEmbedding.backward(b.decoderInput, outputGrad: drop.backward(tgtMask, outputGrad: Tensor(shape: [n, tt, e], data: dTgtX)))
        // Through the bridge (c0 is 0, so only h0's gradient counts) into the final states.
        var finalGrad: Tensor?
        if let bridge, let started, let dState {
            var dz = dState.h.reshaped([n, d])
            for i in 0..<dz.count { let y = started.h0.data[i]; dz.data[i] *= 1 - y * y }
            let dInput = bridge.backward(started.bridgeInput, outputGrad: dz)
            let (k, h, l) = (encoder.config.directions, config.hiddenSize, config.numLayers)
            var g = Tensor(zeros: [l * k, n, h])
            for r in 0..<n {
                for dir in 0..<k {
                    for j in 0..<h { g.data[(((l - 1) * k + dir) * n + r) * h + j] = dInput.data[(r * k + dir) * h + j] }
                }
            }
            finalGrad = g
        }
        var dEncoded = attention.backward(memory, memoryGrad: memoryGrad)
        for (block, cache) in zip(encoderBlocks, blockCaches).reversed() { dEncoded = block.backward(cache, outputGrad: dEncoded) }
        let dSrcX = encoder.backward(enc.cache, outputGrad: dEncoded, finalGrad: finalGrad)
        sourceEmbedding.backward(b.source, outputGrad: drop.backward(srcMask, outputGrad: dSrcX))
        return (loss, Int(b.mask.reduce(0, +)))
    }

    /// The encoder's states (B, T, D) through the self-attention blocks, with their caches.
    private func attend(_ y: Tensor, lengths: [Int]) -> (Tensor, [SelfAttentionBlock.Cache]) {
        var (states, caches) = (y, [SelfAttentionBlock.Cache]())
        for block in encoderBlocks {
            let (out, cache) = block.forward(states, lengths: lengths)
            (states, caches) = (out, caches + [cache])
        }
        return (states, caches)
    }

    // MARK: Decoding

    /// Encodes sources (ids, each non-empty): the attention memory over them and each
    /// one's decoder start state, row n for source n.
    public func encode(_ sources: [[Int32]]) -> (memory: AttentionMemory, state: Seq2SeqDecoderState) {
        let b = Seq2SeqBatch(sources: sources, targets: sources.map { _ in [] })
        let x = sourceEmbedding.forward(b.source, shape: [b.size, b.sourceSteps])
        let (y, final) = encoder.infer(sequences: x, lengths: b.sourceLengths)
        let states = attend(y, lengths: b.sourceLengths).0
        // The fused step's memory (`Seq2SeqStepWeights`) unless int8 layers step instead.
        let memory = isQuantized ? attention.memory(states, lengths: b.sourceLengths)
            : attention.inferenceMemory(states, lengths: b.sourceLengths)
        return (memory, startState(final, batch: b.size))
    }

    /// One decoder step for N rows: the previous tokens (N) and state → the logits over
    /// the target vocabulary (N, V), the next state and the attention weights (N, T_src).
    /// Row n attends over source `sources[n]` of `memory` (nil: source n): a beam search
    /// passes its hypotheses' sources and reorders the state with `rows`.
    public func step(_ memory: AttentionMemory, tokens: [Int32], state: Seq2SeqDecoderState,
                     sources: [Int]? = nil) -> (logits: Tensor, state: Seq2SeqDecoderState, weights: Tensor) {
        step(memory, tokens: tokens, state: state, sources: sources, weights: stepWeights.weights(of: self))
    }

    /// One decoded hypothesis: its tokens, their attention rows and the sum of its
    /// tokens' log-probabilities.
    struct Hypothesis {
        var ids: [Int32] = []
        var attention: [[Float]] = []
        var logProbability: Float = 0
    }

    /// Greedy decoding of non-empty id sequences, together: each row stops at EOS or
    /// after `limits[n]` tokens.
    func greedy(_ sources: [[Int32]], limits: [Int], weights: Seq2SeqStepWeights?) -> [Hypothesis] {
        let (memory, start) = encode(sources)
        var state = start
        var results = sources.map { _ in Hypothesis() }
        var active = Array(sources.indices)
        var tokens = [Int32](repeating: Seq2SeqVocabulary.begin, count: sources.count)
        let v = target.count
        while !active.isEmpty {
            let (logits, next, attended) = step(memory, tokens: tokens, state: state, sources: active, weights: weights)
            var keep: [Int] = [], kept: [Int32] = []
            for (row, s) in active.enumerated() {
                let scores = logits.data[(row * v)..<((row + 1) * v)]
                let best = scores.indices.max { scores[$0] < scores[$1] }! - row * v
                results[s].logProbability += scores[row * v + best] - VectorMath.logSumExp(scores)
                if Int32(best) == Seq2SeqVocabulary.end { continue }
                results[s].ids.append(Int32(best))
                results[s].attention.append(Array(attended.data[(row * memory.steps)..<(row * memory.steps + sources[s].count)]))
                if results[s].ids.count < limits[s] { keep.append(row); kept.append(Int32(best)) }
            }
            active = keep.map { active[$0] }
            tokens = kept
            state = next.rows(keep)
        }
        return results
    }

    /// The n-best hypotheses of each source, best first.
    func decode(_ sources: [[Int32]], decoding: Seq2SeqDecoding, maxLengthRatio: Float,
                weights: Seq2SeqStepWeights?) throws -> [[Hypothesis]] {
        let limits = sources.map { max(1, Int((maxLengthRatio * Float($0.count)).rounded(.up))) }
        guard decoding.beamSize > 1 else { return greedy(sources, limits: limits, weights: weights).map { [$0] } }
        return beam(sources, limits: limits, beamSize: decoding.beamSize, lengthPenalty: decoding.lengthPenalty, weights: weights)
    }

    /// Translates texts, in batches of similar length on up to `threads` threads: for
    /// each text its `decoding.nBest` best translations, best first. Throws on an
    /// empty text (no source token) or bad decoding options.
    public func translate(_ texts: [String], decoding: Seq2SeqDecoding = Seq2SeqDecoding(), threads: Int = 1,
                          batchSize: Int = 64) throws -> [[Seq2SeqTranslation]] {
        try decoding.validate()
        let ids = texts.map(source.encode)
        if let empty = ids.firstIndex(where: \.isEmpty) {
            throw LSTMKitError.invalidArgument("text \(empty) has no source token (it is empty\(source.mode == .words ? " or blank" : ""))")
        }
        return try translate(ids: ids, decoding: decoding, threads: threads, batchSize: batchSize)
    }

    func translate(ids: [[Int32]], decoding: Seq2SeqDecoding, threads: Int, batchSize: Int) throws -> [[Seq2SeqTranslation]] {
        if ids.isEmpty { return [] }
        let ratio = decoding.maxLengthRatio > 0 ? decoding.maxLengthRatio : config.maxLengthRatio
        let order = ids.indices.sorted { ids[$0].count > ids[$1].count }
        let batches = stride(from: 0, to: order.count, by: batchSize).map { Array(order[$0..<min($0 + batchSize, order.count)]) }
        try checkTranslationMemory(longest: ids[order.first ?? 0].count, batch: (batches.first?.count ?? 0) * decoding.beamSize,
                                   maxLengthRatio: ratio, threads: min(threads, batches.count))
        let slots = ResultSlots<[Seq2SeqTranslation]>(count: ids.count)
        let failure = ResultSlots<[LSTMKitError]>(count: 1)
        let weights = stepWeights.weights(of: self)
        parallelForEach(batches.count, threads: threads) { i in
            do {
                let out = try self.decode(batches[i].map { ids[$0] }, decoding: decoding, maxLengthRatio: ratio, weights: weights)
                for (k, index) in batches[i].enumerated() {
                    slots.set(index, out[k].prefix(decoding.nBest).map { h in
                        Seq2SeqTranslation(ids: h.ids, tokens: h.ids.map(self.target.token), text: self.target.text(h.ids),
                                           attention: h.attention, score: self.rankScore(h, lengthPenalty: decoding.lengthPenalty))
                    })
                }
            } catch let e as LSTMKitError {
                failure.set(0, [e])
            } catch {
                failure.set(0, [LSTMKitError.invalidArgument("\(error)")])
            }
        }
        if let e = failure.values[0].first { throw e }
        if let bad = slots.values.firstIndex(where: { $0.contains { t in !t.score.isFinite || t.attention.contains { !$0.allSatisfy(\.isFinite) } } }) {
            throw LSTMKitError.nonFiniteOutput(sequence: bad)
        }
        return slots.values
    }

    /// log-probability / length^α, the length being the output tokens (EOS not counted).
    func rankScore(_ h: Hypothesis, lengthPenalty: Float) -> Float {
        lengthPenalty == 0 ? h.logProbability : h.logProbability / VectorMath.pow(Float(max(h.ids.count, 1)), lengthPenalty)
    }

    /// What `threads` batches of `batch` sources of `longest` tokens hold at once, an
    /// upper bound: the encoder's activations and the memory, and per output token its
    /// logits and attention row (kept for the caller: quadratic in the length).
    func checkTranslationMemory(longest: Int, batch: Int, maxLengthRatio: Float, threads: Int) throws {
        let (ts, e, d) = (Double(longest), Double(config.embeddingSize), Double(config.decoderSize))
        let outputs = (Double(maxLengthRatio) * ts).rounded(.up)
        let floats = Double(max(threads, 1)) * Double(batch)
            * (ts * (2 * e + 10 * d + config.blockFloats(sourceSteps: ts)) + outputs * (ts + 2 * Double(target.count)))
        let bytes = floats * 4 < Double(Int.max / 2) ? Int(floats * 4) : .max
        try Memory.check(bytes: bytes, for: "translating \(batch) source\(batch == 1 ? "" : "s") of \(longest) tokens")
    }

    // MARK: Files

    public func modelFile() -> SafeTensors {
        let c = config
        return SafeTensors(
            metadata: ModelFile.header(kind: Self.modelKind, quantized: isQuantized) + [
                ("source_tokens", c.sourceTokens.rawValue), ("target_tokens", c.targetTokens.rawValue),
                ("embedding_size", String(c.embeddingSize)), ("hidden_size", String(c.hiddenSize)),
                ("num_layers", String(c.numLayers)), ("bidirectional", c.bidirectional ? "true" : "false"),
            ] + ModelFile.cellMetadata(c.cell) + [
                ("score", c.score.rawValue), ("attention_size", String(c.attentionSize)),
                ("bridge", c.bridge ? "true" : "false"), ("dropout", String(c.dropout)),
                ("max_length_ratio", String(c.maxLengthRatio)), ("seed", String(c.seed)),
            ] + (c.selfAttentionBlocks == 0 ? [] : [   // none: files as before the blocks
                ("self_attention_blocks", String(c.selfAttentionBlocks)), ("self_attention_heads", String(c.selfAttentionHeads)),
            ]) + [
                ("source_vocabulary", JSONValue.array(source.tokens.map { .string($0) }).serialized),
                ("target_vocabulary", JSONValue.array(target.tokens.map { .string($0) }).serialized),
            ],
            tensors: ModelFile.tensors(of: self))
    }

    public convenience init(modelFile file: SafeTensors) throws {
        try ModelFile.checkKind(file, expected: Self.modelKind)
        func choice<E: RawRepresentable & CaseIterable>(_ key: String, _ type: E.Type) throws -> E where E.RawValue == String {
            guard let v = E(rawValue: file.metadata(key) ?? "") else {
                throw LSTMKitError.invalidFormat("metadata \"\(key)\" must be one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return v
        }
        var c = Seq2SeqConfig()
        c.sourceTokens = try choice("source_tokens", Seq2SeqVocabulary.Mode.self)
        c.targetTokens = try choice("target_tokens", Seq2SeqVocabulary.Mode.self)
        c.embeddingSize = try ModelFile.int(file, "embedding_size")
        c.hiddenSize = try ModelFile.int(file, "hidden_size")
        c.numLayers = try ModelFile.int(file, "num_layers")
        c.bidirectional = try ModelFile.bool(file, "bidirectional")
        c.cell = try ModelFile.cell(file)
        c.score = try choice("score", AttentionScore.self)
        c.attentionSize = try ModelFile.int(file, "attention_size")
        c.bridge = try ModelFile.bool(file, "bridge")
        c.dropout = try ModelFile.float(file, "dropout")
        c.maxLengthRatio = try ModelFile.float(file, "max_length_ratio")
        guard let seed = UInt64(file.metadata("seed") ?? "") else { throw LSTMKitError.invalidFormat("metadata \"seed\" is missing or not an integer") }
        c.seed = seed
        if file.metadata("self_attention_blocks") != nil {   // files without: no blocks
            c.selfAttentionBlocks = try ModelFile.int(file, "self_attention_blocks")
            c.selfAttentionHeads = try ModelFile.int(file, "self_attention_heads")
        }
        let source = try Seq2SeqVocabulary(mode: c.sourceTokens, tokens: ModelFile.stringList(file, "source_vocabulary"))
        let target = try Seq2SeqVocabulary(mode: c.targetTokens, tokens: ModelFile.stringList(file, "target_vocabulary"))
        do {
            try c.validate()
            // Sizes against the tensors before anything is allocated from them.
            try ModelFile.checkSizes(file, [
                ("source_vocabulary", source.count, "source_embedding.weight", 0),
                ("embedding_size", c.embeddingSize, "source_embedding.weight", 1),
                ("target_vocabulary", target.count, "generator.weight", 0),
            ] + ModelFile.recurrentSizes(prefix: "encoder.", hiddenSize: c.hiddenSize, numLayers: c.numLayers)
              + [("bidirectional", c.decoderSize, "decoder.weight_hh_l0", 1)])
            try self.init(config: c, source: source, target: target)
        } catch let e as LSTMKitError {
            if case .invalidFormat = e { throw e }
            throw LSTMKitError.invalidFormat("invalid hyper-parameters: \(e.message)")
        }
        try ModelFile.load(file, into: self)
    }
}
