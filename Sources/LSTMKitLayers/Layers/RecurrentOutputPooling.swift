import LSTMKitCore

/// Turns a recurrent layer's outputs into one vector per sequence, the head of every
/// classifier: `.last` takes the last layer's final h of each direction (for the reverse
/// direction that is its state after reading the whole sequence backwards), `.mean` and
/// `.max` pool the outputs over the valid steps, `.attention` weighs them by additive
/// attention. Not a module itself: a model declares `attention` as its child (under
/// the name its file uses).
public final class RecurrentOutputPooling {
    public let kind: SequencePoolingKind
    public let recurrent: RecurrentConfig
    public let attention: AttentionPooling?

    public init(_ kind: SequencePoolingKind, recurrent: RecurrentConfig, attentionSize: Int, rng: inout SeededRandom) {
        self.kind = kind
        self.recurrent = recurrent
        attention = kind == .attention
            ? AttentionPooling(inputSize: recurrent.outputSize, attentionSize: attentionSize, rng: &rng) : nil
    }

    public enum Cache {
        case attention(AttentionPooling.Cache)
        case simple(SimplePooling.Cache)
        case last(outputShape: [Int])

        /// The attention weights (B, T), 0 at padded steps; nil for the other kinds.
        public var attentionWeights: [Float]? {
            if case .attention(let c) = self { return c.weights }
            return nil
        }
    }

    /// y (B, T, K*H) and the final h (L*K, B, H) → (B, K*H).
    public func forward(y: Tensor, final: Tensor, lengths: [Int]) -> (Tensor, Cache) {
        switch kind {
        case .attention:
            let (out, cache) = attention!.forward(y, lengths: lengths)
            return (out, .attention(cache))
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
}
