import LSTMKitCore

/// How a sequence of vectors (B, T, D) with per-sequence lengths becomes one vector
/// per sequence (B, D). Padded steps never contribute and never receive gradient.
public enum SequencePoolingKind: String, CaseIterable, Sendable {
    /// The output at each sequence's last step (for a BiLSTM prefer `final`:
    /// the reverse direction's last step is the first position).
    case last
    /// The mean over the valid steps.
    case mean
    /// The elementwise maximum over the valid steps.
    case max
    /// Additive attention: weights softmax(v·tanh(W h_t + b)) over the valid steps.
    case attention
    /// A self-attention block (multi-head, residual, LayerNorm) over the valid steps,
    /// then additive attention over its outputs (RecurrentOutputPooling).
    case selfAttention = "self_attention"

    /// Whether additive attention weighs the steps (their weights can be shown).
    public var weighsSteps: Bool { self == .attention || self == .selfAttention }
}

/// Additive (Bahdanau-style) attention pooling:
/// score_t = v · tanh(W h_t + b), α = softmax over the valid steps, out = Σ_t α_t h_t.
/// The weights α are returned, so a caller can show which steps decided.
/// Tensors: "projection.weight", "projection.bias", "context".
public final class AttentionPooling: Module {
    public let inputSize: Int
    public let attentionSize: Int
    public let projection: Linear   // W (A, D), b (A)
    public let context: Parameter   // v (A)

    public init(inputSize: Int, attentionSize: Int, rng: inout SeededRandom) {
        precondition(inputSize > 0 && attentionSize > 0, "attention sizes must be positive")
        self.inputSize = inputSize
        self.attentionSize = attentionSize
        projection = Linear(inputSize, attentionSize, rng: &rng)
        var v = [Float](repeating: 0, count: attentionSize)
        rng.fillUniform(&v, bound: 1 / Float(attentionSize).squareRoot())
        context = Parameter(name: "context", shape: [attentionSize], value: v)
    }

    public var children: [(name: String, module: Module)] { [("projection", projection)] }
    public var localParameters: [Parameter] { [context] }

    public struct Cache {
        let input: Tensor       // (B, T, D)
        let lengths: [Int]
        let hidden: [Float]     // tanh(W h + b), (B*T, A)
        public let weights: [Float]  // α, (B, T); 0 at padded steps
    }

    /// h (B, T, D) → (B, D) and the cache (which holds the weights α).
    public func forward(_ h: Tensor, lengths: [Int]) -> (Tensor, Cache) {
        let (batch, steps, d) = (h.shape[0], h.shape[1], h.shape[2])
        precondition(d == inputSize && lengths.count == batch, "AttentionPooling: input \(h.shape), \(lengths.count) lengths")
        let a = attentionSize
        var u = projection.forward(h.reshaped([batch * steps, d])).data
        for i in 0..<u.count { u[i] = VectorMath.tanh(u[i]) }
        var alpha = [Float](repeating: 0, count: batch * steps)
        var out = [Float](repeating: 0, count: batch * d)
        for b in 0..<batch {
            let n = lengths[b]
            var scores = [Float](repeating: 0, count: n)
            for t in 0..<n {
                var s: Float = 0
                for j in 0..<a { s += context.value[j] * u[(b * steps + t) * a + j] }
                scores[t] = s
            }
            let m = scores.max() ?? 0
            var total: Float = 0
            for t in 0..<n { scores[t] = VectorMath.exp(scores[t] - m); total += scores[t] }
            for t in 0..<n {
                let w = scores[t] / total
                alpha[b * steps + t] = w
                for j in 0..<d { out[b * d + j] += w * h.data[(b * steps + t) * d + j] }
            }
        }
        return (Tensor(shape: [batch, d], data: out), Cache(input: h, lengths: lengths, hidden: u, weights: alpha))
    }

    /// dOut (B, D) → dh (B, T, D); ADDS into W, b, v.
    public func backward(_ cache: Cache, outputGrad dOut: Tensor) -> Tensor {
        let h = cache.input
        let (batch, steps, d) = (h.shape[0], h.shape[1], h.shape[2])
        let a = attentionSize
        var dh = [Float](repeating: 0, count: h.count)
        var dz = [Float](repeating: 0, count: batch * steps * a)
        for b in 0..<batch {
            let n = cache.lengths[b]
            // dα_t = dOut · h_t; softmax backward; direct path dh_t += α_t dOut.
            var dAlpha = [Float](repeating: 0, count: n)
            var weighted: Float = 0
            for t in 0..<n {
                let row = (b * steps + t) * d
                var s: Float = 0
                for j in 0..<d {
                    s += dOut.data[b * d + j] * h.data[row + j]
                    dh[row + j] += cache.weights[b * steps + t] * dOut.data[b * d + j]
                }
                dAlpha[t] = s
                weighted += cache.weights[b * steps + t] * s
            }
            for t in 0..<n {
                let dScore = cache.weights[b * steps + t] * (dAlpha[t] - weighted)
                let row = (b * steps + t) * a
                for j in 0..<a {
                    let u = cache.hidden[row + j]
                    context.grad[j] += dScore * u
                    dz[row + j] = dScore * context.value[j] * (1 - u * u)
                }
            }
        }
        let dFromProjection = projection.backward(h.reshaped([batch * steps, d]),
                                                  outputGrad: Tensor(shape: [batch * steps, a], data: dz))
        for i in 0..<dh.count { dh[i] += dFromProjection.data[i] }
        return Tensor(shape: h.shape, data: dh)
    }
}

/// Mean, max and last-step pooling over the valid steps (no parameters).
public enum SimplePooling {
    /// What backward needs: for max pooling, the step that won each element.
    public struct Cache {
        let shape: [Int]
        let lengths: [Int]
        let kind: SequencePoolingKind
        let argmax: [Int]
    }

    public static func forward(_ h: Tensor, lengths: [Int], kind: SequencePoolingKind) -> (Tensor, Cache) {
        precondition(!kind.weighsSteps, "attention pooling has parameters: use AttentionPooling")
        let (batch, steps, d) = (h.shape[0], h.shape[1], h.shape[2])
        var out = [Float](repeating: 0, count: batch * d)
        var argmax = kind == .max ? [Int](repeating: 0, count: batch * d) : []
        for b in 0..<batch {
            let n = lengths[b]
            for j in 0..<d {
                switch kind {
                case .last:
                    out[b * d + j] = h.data[(b * steps + n - 1) * d + j]
                case .mean:
                    var s: Float = 0
                    for t in 0..<n { s += h.data[(b * steps + t) * d + j] }
                    out[b * d + j] = s / Float(n)
                case .max:
                    var best = -Float.infinity, at = 0
                    for t in 0..<n where h.data[(b * steps + t) * d + j] > best {
                        best = h.data[(b * steps + t) * d + j]
                        at = t
                    }
                    out[b * d + j] = best
                    argmax[b * d + j] = at
                case .attention, .selfAttention:
                    break
                }
            }
        }
        return (Tensor(shape: [batch, d], data: out), Cache(shape: h.shape, lengths: lengths, kind: kind, argmax: argmax))
    }

    public static func backward(_ cache: Cache, outputGrad dOut: Tensor) -> Tensor {
        let (batch, steps, d) = (cache.shape[0], cache.shape[1], cache.shape[2])
        var dh = [Float](repeating: 0, count: batch * steps * d)
        for b in 0..<batch {
            let n = cache.lengths[b]
            for j in 0..<d {
                let g = dOut.data[b * d + j]
                switch cache.kind {
                case .last: dh[(b * steps + n - 1) * d + j] = g
                case .mean: for t in 0..<n { dh[(b * steps + t) * d + j] = g / Float(n) }
                case .max: dh[(b * steps + cache.argmax[b * d + j]) * d + j] = g
                case .attention, .selfAttention: break
                }
            }
        }
        return Tensor(shape: cache.shape, data: dh)
    }
}
