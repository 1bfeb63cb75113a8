import LSTMKitCore

/// Turns a recurrent layer's outputs into one vector per sequence, the head of every
/// classifier: `.last` takes the last layer's final h of each direction (for the reverse
/// direction that is its state after reading the whole sequence backwards), `.mean` and
/// `.max` pool the outputs over the valid steps, `.attention` weighs them by additive
/// attention, `.selfAttention` runs a SelfAttentionBlock over them (multi-head, residual,
/// LayerNorm; padded steps masked) and weighs its outputs by additive attention. Not a
/// module itself: a model declares its modules as children (`children`, under the names
/// its file uses).
public final class RecurrentOutputPooling {
    public let kind: SequencePoolingKind
    public let recurrent: RecurrentConfig
    public let attention: AttentionPooling?
    /// `.selfAttention`'s block over the recurrent outputs.
    public let block: SelfAttentionBlock?

    /// `heads`: the block's (`.selfAttention` only; they must divide the outputs' width).
    public init(_ kind: SequencePoolingKind, recurrent: RecurrentConfig, attentionSize: Int, heads: Int,
                rng: inout SeededRandom) {
        self.kind = kind
        self.recurrent = recurrent
        block = kind == .selfAttention ? SelfAttentionBlock(modelSize: recurrent.outputSize, heads: heads, rng: &rng) : nil
        attention = kind.weighsSteps
            ? AttentionPooling(inputSize: recurrent.outputSize, attentionSize: attentionSize, rng: &rng) : nil
    }

    /// The modules, as a model lists them among its children: "self_attention" (the
    /// block) and "attention", each name after `prefix` ("column_" for a second pooling).
    public func children(prefix: String = "") -> [(name: String, module: Module)] {
        (block.map { [(prefix + "self_attention", $0 as Module)] } ?? []) + (attention.map { [(prefix + "attention", $0 as Module)] } ?? [])
    }

    /// What `.selfAttention`'s block holds in a training step per position of sequences
    /// of `steps` (0 for the other kinds), for `TrainingTask.stepFloats`.
    public func trainingFloatsPerStep(steps: Int) -> Double {
        block.map { SelfAttentionBlock.trainingFloatsPerStep(modelSize: $0.attention.modelSize, heads: $0.attention.heads, steps: steps) } ?? 0
    }

    /// The weights of `.selfAttention`'s block over outputs `width` wide, for a model's
    /// memory estimate (`Memory.checkModel`; 0 for the other kinds).
    public static func blockEstimate(_ kind: SequencePoolingKind, width: Int) -> Double {
        kind == .selfAttention ? SelfAttentionBlock.parameterCount(modelSize: width) : 0
    }

    public enum Cache {
        case attention(AttentionPooling.Cache)
        case selfAttention(SelfAttentionBlock.Cache, AttentionPooling.Cache)
        case simple(SimplePooling.Cache)
        case last(outputShape: [Int])

        /// The additive attention's weights (B, T), 0 at padded steps (for
        /// `.selfAttention`, of the block's outputs at each step); nil for the other kinds.
        public var attentionWeights: [Float]? {
            switch self {
            case .attention(let c), .selfAttention(_, let c): return c.weights
            case .simple, .last: return nil
            }
        }
    }

    /// y (B, T, K*H) and the final h (L*K, B, H) → (B, K*H).
    public func forward(y: Tensor, final: Tensor, lengths: [Int]) -> (Tensor, Cache) {
        switch kind {
        case .attention:
            let (out, cache) = attention!.forward(y, lengths: lengths)
            return (out, .attention(cache))
        case .selfAttention:
            let (z, blockCache) = block!.forward(y, lengths: lengths)
            let (out, cache) = attention!.forward(z, lengths: lengths)
            return (out, .selfAttention(blockCache, cache))
        case .last:
            return (lastStates(final, batch: lengths.count), .last(outputShape: y.shape))
        case .mean, .max:
            let (out, cache) = SimplePooling.forward(y, lengths: lengths, kind: kind)
            return (out, .simple(cache))
        }
    }

    /// The gradients to pass to `RecurrentLayer.backward`: dY (B, T, K*H) and, for
    /// `.last`, the final h's gradient (L*K, B, H). ADDS into the attention parameters.
    public func backward(_ cache: Cache, outputGrad dOut: Tensor) -> (dY: Tensor, dFinal: Tensor?) {
        switch cache {
        case .attention(let c): return (attention!.backward(c, outputGrad: dOut), nil)
        case .selfAttention(let b, let c): return (block!.backward(b, outputGrad: attention!.backward(c, outputGrad: dOut)), nil)
        case .simple(let c): return (SimplePooling.backward(c, outputGrad: dOut), nil)
        case .last(let shape):
            let batch = shape[0]
            let (k, h) = (recurrent.directions, recurrent.hiddenSize)
            var g = Tensor(zeros: [recurrent.numLayers * k, batch, h])
            for d in 0..<k {
                let block = ((recurrent.numLayers - 1) * k + d) * batch * h
                for b in 0..<batch {
                    for j in 0..<h { g.data[block + b * h + j] = dOut.data[b * k * h + d * h + j] }
                }
            }
            return (Tensor(zeros: shape), g)
        }
    }

    /// The last layer's final h of each direction, concatenated: (B, K*H).
    private func lastStates(_ final: Tensor, batch: Int) -> Tensor {
        let (k, h) = (recurrent.directions, recurrent.hiddenSize)
        var out = [Float](repeating: 0, count: batch * k * h)
        for d in 0..<k {
            let block = ((recurrent.numLayers - 1) * k + d) * batch * h
            for b in 0..<batch {
                for j in 0..<h { out[b * k * h + d * h + j] = final.data[block + b * h + j] }
            }
        }
        return Tensor(shape: [batch, k * h], data: out)
    }
}

/// What every recurrent classifier's config holds (text, image and sequence classifiers):
/// its recurrent layers and this pooling head, recorded in model files under the same
/// keys (ModelFile.recurrentMetadata / poolingMetadata).
public protocol RecurrentClassifierConfig {
    var hiddenSize: Int { get set }
    var numLayers: Int { get set }
    var bidirectional: Bool { get set }
    var cell: RecurrentCell { get set }
    var pooling: SequencePoolingKind { get set }
    var attentionSize: Int { get set }
    /// The heads of `.selfAttention`'s block.
    var attentionHeads: Int { get set }
}

extension RecurrentClassifierConfig {
    /// The pooling's rule between fields: `.selfAttention`'s heads divide the width of
    /// the recurrent outputs they attend over (for a config's `validateCombination`).
    public func validatePooling() throws {
        let width = (bidirectional ? 2 : 1) * hiddenSize
        guard pooling != .selfAttention || width % attentionHeads == 0 else {
            throw LSTMKitError.invalidArgument("attention_heads (\(attentionHeads)) must divide the recurrent outputs' width (\(width))")
        }
    }
}
