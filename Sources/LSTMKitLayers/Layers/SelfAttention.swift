import LSTMKitCore

/// Multi-head scaled dot-product self-attention over padded sequences (N, T, D) with
/// lengths, as PyTorch's nn.MultiheadAttention(D, H, batch_first=True) with a key padding
/// mask: [Q K V] = x W_inᵀ + b_in, per head softmax(Q_h K_hᵀ / √d_k) V_h with d_k = D / H,
/// heads concatenated, then out_proj. Padded keys get exactly 0 weight; padded positions'
/// outputs are 0 (PyTorch computes them from the padding; here padding is never read), so
/// a pooling or encoder built on it reads only valid steps.
///
/// Tensors, PyTorch's names so its weights load unchanged: "out_proj.weight",
/// "out_proj.bias", "in_proj_weight" (3D, D: rows Q, K, V), "in_proj_bias" (3D).
public final class MultiHeadSelfAttention: Module {
    public let modelSize: Int
    public let heads: Int
    public let inProjWeight: Parameter
    public let inProjBias: Parameter
    public let outProj: Linear

    /// PyTorch's initialisation: Xavier-uniform in_proj_weight, zero biases, out_proj's
    /// weight nn.Linear's default.
    public init(modelSize: Int, heads: Int, rng: inout SeededRandom) {
        precondition(modelSize > 0 && heads > 0 && modelSize % heads == 0, "self-attention: heads must divide the size")
        self.modelSize = modelSize
        self.heads = heads
        var w = [Float](repeating: 0, count: 3 * modelSize * modelSize)
        rng.fillUniform(&w, bound: (6 / Float(4 * modelSize)).squareRoot())
        inProjWeight = Parameter(name: "in_proj_weight", shape: [3 * modelSize, modelSize], value: w)
        inProjBias = Parameter(name: "in_proj_bias", shape: [3 * modelSize])
        outProj = Linear(modelSize, modelSize, rng: &rng)
        outProj.bias!.value = [Float](repeating: 0, count: modelSize)
    }

    public var children: [(name: String, module: Module)] { [("out_proj", outProj)] }
    public var localParameters: [Parameter] { [inProjWeight, inProjBias] }

    public struct Cache {
        let input: Tensor        // x (N, T, D)
        let lengths: [Int]
        let projected: [Float]   // [Q K V] (N*T, 3D); 0 at padded rows
        let attended: Tensor     // heads concatenated (N*T, D); 0 at padded rows
        /// α (N, H, T, T): row = query, column = key; 0 at padded queries and keys.
        public let weights: Tensor
    }

    /// x (N, T, D), lengths in 1...T → (N, T, D).
    public func forward(_ x: Tensor, lengths: [Int]) -> (Tensor, Cache) {
        let (n, steps, d) = checkShape(x, lengths)
        let (h, dk) = (heads, modelSize / heads)
        let scale = 1 / Float(dk).squareRoot()
        var qkv = [Float](repeating: 0, count: n * steps * 3 * d)
        var weights = [Float](repeating: 0, count: n * h * steps * steps)
        var attended = [Float](repeating: 0, count: n * steps * d)
        x.data.withUnsafeBufferPointer { xBuf in
            inProjWeight.value.withUnsafeBufferPointer { wIn in
                qkv.withUnsafeMutableBufferPointer { pBuf in
                    weights.withUnsafeMutableBufferPointer { aBuf in
                        attended.withUnsafeMutableBufferPointer { oBuf in
                            for b in 0..<n {
                                let len = lengths[b]
                                let p = pBuf.baseAddress! + b * steps * 3 * d
                                for r in 0..<len { for j in 0..<(3 * d) { p[r * 3 * d + j] = inProjBias.value[j] } }
                                BLAS.gemm(transB: true, m: len, n: 3 * d, k: d, a: xBuf.baseAddress! + b * steps * d, lda: d,
                                          b: wIn.baseAddress!, ldb: d, beta: 1, c: p, ldc: 3 * d)
                                for head in 0..<h {
                                    let (q, k, v) = (p + head * dk, p + d + head * dk, p + 2 * d + head * dk)
                                    let a = aBuf.baseAddress! + (b * h + head) * steps * steps
                                    BLAS.gemm(transB: true, m: len, n: len, k: dk, alpha: scale, a: q, lda: 3 * d,
                                              b: k, ldb: 3 * d, beta: 0, c: a, ldc: steps)
                                    AttentionSoftmax.forward(a, rows: len, valid: len, width: steps, stride: steps)
                                    BLAS.gemm(m: len, n: dk, k: len, a: a, lda: steps, b: v, ldb: 3 * d,
                                              beta: 0, c: oBuf.baseAddress! + b * steps * d + head * dk, ldc: d)
                                }
                            }
                        }
                    }
                }
            }
        }
        let attendedTensor = Tensor(shape: [n * steps, d], data: attended)
        var y = outProj.forward(attendedTensor)
        zeroPadded(&y.data, lengths: lengths, steps: steps, width: d)
        let cache = Cache(input: x, lengths: lengths, projected: qkv, attended: attendedTensor,
                          weights: Tensor(shape: [n, h, steps, steps], data: weights))
        return (y.reshaped([n, steps, d]), cache)
    }

    /// dy (N, T, D) → dx (N, T, D); ADDS into every parameter. Gradient at padded
    /// positions of dy is ignored (those outputs are constant 0); dx is 0 there.
    public func backward(_ cache: Cache, outputGrad dy: Tensor) -> Tensor {
        let x = cache.input
        let (n, steps, d) = (x.shape[0], x.shape[1], modelSize)
        let (h, dk) = (heads, modelSize / heads)
        let scale = 1 / Float(dk).squareRoot()
        precondition(dy.count == x.count, "self-attention backward: dy has the wrong size")
        var dOut = dy.data
        zeroPadded(&dOut, lengths: cache.lengths, steps: steps, width: d)
        let dAttended = outProj.backward(cache.attended, outputGrad: Tensor(shape: [n * steps, d], data: dOut)).data
        var dqkv = [Float](repeating: 0, count: n * steps * 3 * d)
        var dx = [Float](repeating: 0, count: x.count)
        var dA = [Float](repeating: 0, count: steps * steps)   // one head's, reused
        dAttended.withUnsafeBufferPointer { dO in
            cache.projected.withUnsafeBufferPointer { pBuf in
                cache.weights.data.withUnsafeBufferPointer { aBuf in
                    dqkv.withUnsafeMutableBufferPointer { dpBuf in
                        dA.withUnsafeMutableBufferPointer { dS in
                            for b in 0..<n {
                                let len = cache.lengths[b]
                                let p = pBuf.baseAddress! + b * steps * 3 * d, dp = dpBuf.baseAddress! + b * steps * 3 * d
                                for head in 0..<h {
                                    let (q, k, v) = (p + head * dk, p + d + head * dk, p + 2 * d + head * dk)
                                    let a = aBuf.baseAddress! + (b * h + head) * steps * steps
                                    let dOh = dO.baseAddress! + b * steps * d + head * dk
                                    // dα = dO Vᵀ; dV = αᵀ dO; softmax; dQ = s dS K; dK = s dSᵀ Q.
                                    BLAS.gemm(transB: true, m: len, n: len, k: dk, a: dOh, lda: d, b: v, ldb: 3 * d,
                                              beta: 0, c: dS.baseAddress!, ldc: steps)
                                    BLAS.gemm(transA: true, m: len, n: dk, k: len, a: a, lda: steps, b: dOh, ldb: d,
                                              beta: 0, c: dp + 2 * d + head * dk, ldc: 3 * d)
                                    AttentionSoftmax.backward(weights: a, weightStride: steps, grad: dS.baseAddress!,
                                                              gradStride: steps, rows: len, valid: len)
                                    BLAS.gemm(m: len, n: dk, k: len, alpha: scale, a: dS.baseAddress!, lda: steps, b: k,
                                              ldb: 3 * d, beta: 0, c: dp + head * dk, ldc: 3 * d)
                                    BLAS.gemm(transA: true, m: len, n: dk, k: len, alpha: scale, a: dS.baseAddress!,
                                              lda: steps, b: q, ldb: 3 * d, beta: 0, c: dp + d + head * dk, ldc: 3 * d)
                                }
                            }
                        }
                    }
                }
            }
        }
        // Through [Q K V] = x W_inᵀ + b_in, over each sequence's valid rows.
        dqkv.withUnsafeBufferPointer { dpBuf in
            x.data.withUnsafeBufferPointer { xBuf in
                inProjWeight.value.withUnsafeBufferPointer { wIn in
                    inProjWeight.grad.withUnsafeMutableBufferPointer { dW in
                        inProjBias.grad.withUnsafeMutableBufferPointer { db in
                            dx.withUnsafeMutableBufferPointer { dxBuf in
                                for b in 0..<n {
                                    let len = cache.lengths[b]
                                    let dp = dpBuf.baseAddress! + b * steps * 3 * d
                                    let xb = xBuf.baseAddress! + b * steps * d
                                    BLAS.gemm(transA: true, m: 3 * d, n: d, k: len, a: dp, lda: 3 * d, b: xb, ldb: d,
                                              beta: 1, c: dW.baseAddress!, ldc: d)
                                    for r in 0..<len { for j in 0..<(3 * d) { db[j] += dp[r * 3 * d + j] } }
                                    BLAS.gemm(m: len, n: d, k: 3 * d, a: dp, lda: 3 * d, b: wIn.baseAddress!, ldb: d,
                                              beta: 0, c: dxBuf.baseAddress! + b * steps * d, ldc: d)
                                }
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: x.shape, data: dx)
    }

    func checkShape(_ x: Tensor, _ lengths: [Int]) -> (Int, Int, Int) {
        precondition(x.rank == 3 && x.shape[2] == modelSize && x.shape[0] == lengths.count,
                     "self-attention: input \(x.shape), \(lengths.count) lengths, D = \(modelSize)")
        precondition(lengths.allSatisfy { (1...x.shape[1]).contains($0) }, "self-attention: lengths must be in 1...\(x.shape[1])")
        return (x.shape[0], x.shape[1], x.shape[2])
    }
}

/// Sets the rows of padded positions of (N, T, width) values to 0.
func zeroPadded(_ values: inout [Float], lengths: [Int], steps: Int, width: Int) {
    for (b, len) in lengths.enumerated() where len < steps {
        let start = (b * steps + len) * width, end = (b + 1) * steps * width
        for i in start..<end { values[i] = 0 }
    }
}

/// Self-attention as an encoder block: y = LayerNorm(x + MultiHeadSelfAttention(x)), the
/// first half of PyTorch's TransformerEncoderLayer (post-norm, no dropout). Padded
/// positions' outputs are 0. Tensors: "self_attn.*", "norm.weight", "norm.bias".
public final class SelfAttentionBlock: Module {
    public let attention: MultiHeadSelfAttention
    public let norm: LayerNorm

    public init(modelSize: Int, heads: Int, rng: inout SeededRandom) {
        attention = MultiHeadSelfAttention(modelSize: modelSize, heads: heads, rng: &rng)
        norm = LayerNorm(modelSize)
    }

    public var children: [(name: String, module: Module)] { [("self_attn", attention), ("norm", norm)] }

    /// Its weights for `modelSize`, for memory estimates (`Memory.checkModel`).
    public static func parameterCount(modelSize d: Int) -> Double { 4 * Double(d) * Double(d) + 6 * Double(d) }

    /// What a training step holds per position of sequences of `steps`, an upper bound:
    /// the caches (projections, outputs, norm), a row of the (H, T, T) weights, and
    /// backward's gradients of them; for `TrainingTask.stepFloats`.
    public static func trainingFloatsPerStep(modelSize d: Int, heads: Int, steps: Int) -> Double {
        2 * (10 * Double(d) + Double(heads) * Double(steps))
    }

    public struct Cache {
        public let attention: MultiHeadSelfAttention.Cache
        let norm: LayerNorm.Cache
        /// α (N, H, T, T), as `MultiHeadSelfAttention.Cache.weights`.
        public var weights: Tensor { attention.weights }
    }

    /// x (N, T, D), lengths in 1...T → (N, T, D).
    public func forward(_ x: Tensor, lengths: [Int]) -> (Tensor, Cache) {
        let (attended, attentionCache) = attention.forward(x, lengths: lengths)
        var sum = x.data
        VectorMath.add(attended.data, into: &sum, count: sum.count)
        // Padded rows normalise a zero row (so padding is never read) and are zeroed after.
        zeroPadded(&sum, lengths: lengths, steps: x.shape[1], width: x.shape[2])
        let (normalized, normCache) = norm.forward(Tensor(shape: x.shape, data: sum))
        var y = normalized
        zeroPadded(&y.data, lengths: lengths, steps: x.shape[1], width: x.shape[2])
        return (y, Cache(attention: attentionCache, norm: normCache))
    }

    /// dy (N, T, D) → dx (N, T, D); padded positions' gradient ignored, dx 0 there.
    public func backward(_ cache: Cache, outputGrad dy: Tensor) -> Tensor {
        var g = dy.data
        zeroPadded(&g, lengths: cache.attention.lengths, steps: dy.shape[1], width: dy.shape[2])
        var dSum = norm.backward(cache.norm, outputGrad: Tensor(shape: dy.shape, data: g))
        let dx = attention.backward(cache.attention, outputGrad: dSum)
        VectorMath.add(dx.data, into: &dSum.data, count: dSum.count)
        return dSum
    }
}
