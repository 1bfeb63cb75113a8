import Testing
@testable import LSTMKit

/// Multi-head self-attention and its residual + LayerNorm block: values against a plain
/// Double re-implementation, gradients against finite differences, masks.
@Suite("Self-attention")
struct AttentionSelfAttentionTests {
    static let (batch, steps, size, heads) = (3, 4, 6, 2)
    static let lengths = [4, 2, 1]

    static func make() -> SelfAttentionBlock {
        var rng = SeededRandom(seed: 50)
        let block = SelfAttentionBlock(modelSize: size, heads: heads, rng: &rng)
        // Non-zero biases and a non-trivial norm, so every tensor's gradient is exercised.
        var r = SeededRandom(seed: 51)
        for p in block.parameters { p.value = p.value.map { $0 * 1.5 + r.uniform(-0.3, 0.3) } }
        return block
    }

    static func input(seed: UInt64 = 52) -> Tensor { randomTensor([batch, steps, size], seed: seed) }

    /// MultiHeadSelfAttention's output and weights by the formulas, in Double.
    static func reference(_ layer: MultiHeadSelfAttention, _ x: Tensor) -> (out: [Double], weights: [Double]) {
        let (d, h) = (size, heads)
        let dk = d / h
        let w = layer.inProjWeight.value.map(Double.init), bIn = layer.inProjBias.value.map(Double.init)
        let wo = layer.outProj.weight.value.map(Double.init), bo = layer.outProj.bias!.value.map(Double.init)
        var out = [Double](repeating: 0, count: x.count)
        var weights = [Double](repeating: 0, count: batch * h * steps * steps)
        for b in 0..<batch {
            let n = lengths[b]
            let proj = (0..<n).map { t in
                (0..<(3 * d)).map { i in bIn[i] + (0..<d).map { w[i * d + $0] * Double(x.data[(b * steps + t) * d + $0]) }.reduce(0, +) }
            }
            for t in 0..<n {
                var o = [Double](repeating: 0, count: d)
                for head in 0..<h {
                    let scores = (0..<n).map { j in
                        (0..<dk).map { proj[t][head * dk + $0] * proj[j][d + head * dk + $0] }.reduce(0, +) / Double(dk).squareRoot()
                    }
                    let m = scores.max()!
                    let e = scores.map { _exp($0 - m) }
                    let alpha = e.map { $0 / e.reduce(0, +) }
                    for j in 0..<n {
                        weights[((b * h + head) * steps + t) * steps + j] = alpha[j]
                        for c in 0..<dk { o[head * dk + c] += alpha[j] * proj[j][2 * d + head * dk + c] }
                    }
                }
                for i in 0..<d { out[(b * steps + t) * d + i] = bo[i] + (0..<d).map { wo[i * d + $0] * o[$0] }.reduce(0, +) }
            }
        }
        return (out, weights)
    }

    @Test("values equal the formulas (Double re-implementation); padded outputs and weights 0")
    func values() throws {
        let block = Self.make()
        let x = Self.input()
        let (y, cache) = block.attention.forward(x, lengths: Self.lengths)
        #expect(y.shape == x.shape && cache.weights.shape == [Self.batch, Self.heads, Self.steps, Self.steps])
        let (want, wantWeights) = Self.reference(block.attention, x)
        expectClose(y.data, want, tol: 1e-5, "y")
        expectClose(cache.weights.data, wantWeights, tol: 1e-5, "α")
    }

    @Test("attention and block: dx and every parameter against finite differences", arguments: [false, true])
    func gradients(asBlock: Bool) throws {
        let block = Self.make()
        let x = Self.input()
        let w = randomArray(x.count, seed: 53)   // non-zero at padded positions too: they must not matter
        func forward(_ x: Tensor) -> Tensor {
            asBlock ? block.forward(x, lengths: Self.lengths).0 : block.attention.forward(x, lengths: Self.lengths).0
        }
        let dy = Tensor(shape: x.shape, data: w)
        // Float differences of these losses (72 outputs) resolve ~1e-5 absolute, hence the
        // floor 1e-2. The block's LayerNorm adds rounding noise: its worst error grows as h
        // shrinks (2e-3 at h = 2e-2, 6e-3 at 1e-2, 9e-3 at 5e-3), which is noise, where a
        // wrong gradient would be off by a fixed amount; the attention alone is held to 3e-3.
        let tol = asBlock ? 1e-2 : 3e-3
        let dx: Tensor
        if asBlock {
            dx = block.backward(block.forward(x, lengths: Self.lengths).1, outputGrad: dy)
        } else {
            dx = block.attention.backward(block.attention.forward(x, lengths: Self.lengths).1, outputGrad: dy)
        }
        expectClose(dx.data, numericGradient(x.data) { dot(forward(Tensor(shape: x.shape, data: $0)).data, w) },
                    tol: tol, floor: 1e-2, "dx")
        let module: Module = asBlock ? block : block.attention
        for (name, p) in module.namedParameters {
            let saved = p.value
            let numeric = numericGradient(saved) { v in p.value = v; defer { p.value = saved }; return dot(forward(x).data, w) }
            expectClose(p.grad, numeric, tol: tol, floor: 1e-2, "d\(name)")
        }
    }

    @Test("masks: padded keys get weight 0, padded positions output 0 and gradient 0, padding values (NaN too) change nothing")
    func masks() throws {
        let block = Self.make()
        let w = randomArray(Self.batch * Self.steps * Self.size, seed: 54)
        func run(_ x: Tensor) -> (y: [Float], weights: [Float], dx: [Float], grads: [[Float]]) {
            block.zeroGrad()
            let (y, cache) = block.forward(x, lengths: Self.lengths)
            let dx = block.backward(cache, outputGrad: Tensor(shape: x.shape, data: w))
            return (y.data, cache.weights.data, dx.data, block.parameters.map(\.grad))
        }
        let x = Self.input()
        var repadded = x
        for (b, n) in Self.lengths.enumerated() {
            for t in n..<Self.steps { for j in 0..<Self.size { repadded.data[(b * Self.steps + t) * Self.size + j] = j == 2 ? .nan : Float(3 * t - j) } }
        }
        let a = run(x), b = run(repadded)
        #expect(a.y == b.y && a.weights == b.weights && a.dx == b.dx && a.grads == b.grads)
        let (s, d) = (Self.steps, Self.size)
        for (n, len) in Self.lengths.enumerated() {
            #expect(a.y[((n * s + len) * d)..<((n + 1) * s * d)].allSatisfy { $0 == 0 })
            #expect(a.dx[((n * s + len) * d)..<((n + 1) * s * d)].allSatisfy { $0 == 0 })
            for head in 0..<Self.heads {
                for t in 0..<s {
                    let row = Array(a.weights[(((n * Self.heads + head) * s + t) * s)...].prefix(s))
                    #expect(row[(t < len ? len : 0)...].allSatisfy { $0 == 0 })
                    if t < len { #expect(abs(row.reduce(0, +) - 1) < 1e-6) }
                }
            }
        }
    }

    @Test("PyTorch's tensor names under the block's children")
    func names() throws {
        #expect(Self.make().namedParameters.map(\.name) == [
            "self_attn.out_proj.weight", "self_attn.out_proj.bias", "self_attn.in_proj_weight", "self_attn.in_proj_bias",
            "norm.weight", "norm.bias",
        ])
    }
}
