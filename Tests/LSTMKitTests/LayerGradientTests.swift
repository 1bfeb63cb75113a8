import Testing
@testable import LSTMKit
import CKernels

/// Centred finite-difference checks of every layer's hand-written backward.
@Suite("Layer gradients")
struct LayerGradientTests {
    @Test("Linear: dx, dW, db")
    func linear() throws {
        var rng = SeededRandom(seed: 1)
        let layer = Linear(4, 3, rng: &rng)
        let x = randomTensor([2, 5, 4], seed: 2)
        let w = randomArray(2 * 5 * 3, seed: 3)
        let y = layer.forward(x)
        #expect(y.shape == [2, 5, 3])
        let dx = layer.backward(x, outputGrad: Tensor(shape: y.shape, data: w))
        expectClose(dx.data, numericGradient(x.data) { dot(layer.forward(Tensor(shape: x.shape, data: $0)).data, w) },
                    tol: 1e-3, "dx")
        for p in layer.parameters {
            let saved = p.value
            let numeric = numericGradient(saved) { v in p.value = v; defer { p.value = saved }; return dot(layer.forward(x).data, w) }
            expectClose(p.grad, numeric, tol: 1e-3, "d\(p.name)")
        }
    }

    @Test("Linear forward equals x W^T + b")
    func linearValues() throws {
        var rng = SeededRandom(seed: 1)
        let layer = Linear(2, 2, rng: &rng)
        try layer.weight.assign([1, 2, 3, 4])
        try layer.bias!.assign([0.5, -1])
        #expect(layer.forward(Tensor(shape: [1, 2], data: [1, -1])).data == [-0.5, -2])
    }

    @Test("Embedding: gradient rows, padding row gets none")
    func embedding() throws {
        var rng = SeededRandom(seed: 4)
        let layer = Embedding(6, 3, paddingIndex: 0, rng: &rng)
        #expect(Array(layer.weight.value[0..<3]) == [0, 0, 0])
        let ids: [Int32] = [1, 0, 3, 1, 5]
        let w = randomArray(ids.count * 3, seed: 5)
        let y = layer.forward(ids, shape: [5])
        #expect(Array(y.data[3..<6]) == [0, 0, 0])
        layer.backward(ids, outputGrad: Tensor(shape: y.shape, data: w))
        let saved = layer.weight.value
        var numeric = numericGradient(saved) { v in
            layer.weight.value = v; defer { layer.weight.value = saved }
            return dot(layer.forward(ids, shape: [5]).data, w)
        }
        for j in 0..<3 { numeric[j] = 0 }  // padding row: no gradient by definition
        expectClose(layer.weight.grad, numeric, tol: 1e-3, "dW")
        #expect(throws: LSTMKitError.self) { try layer.validate([1, 6]) }
        #expect(throws: LSTMKitError.self) { try layer.validate([-1]) }
    }

    @Test("EmbeddingBag: the mean of each bag's rows (zeros for an empty bag), gradients by finite differences")
    func embeddingBag() throws {
        var rng = SeededRandom(seed: 4)
        let layer = EmbeddingBag(5, 3, initialScale: 1, rng: &rng)
        let bags: [[Int32]] = [[1, 4, 1], [], [0], [2, 3, 2, 2]]
        let y = layer.forward(bags)
        #expect(y.shape == [4, 3])
        let v = layer.weight.value
        for j in 0..<3 { #expect(abs(y.data[j] - (2 * v[3 + j] + v[12 + j]) / 3) < 1e-6) }
        #expect(Array(y.data[3..<6]) == [0, 0, 0])
        let w = randomArray(12, seed: 5)
        layer.backward(bags, outputGrad: Tensor(shape: y.shape, data: w))
        let saved = layer.weight.value
        let numeric = numericGradient(saved) { v in
            layer.weight.value = v; defer { layer.weight.value = saved }
            return dot(layer.forward(bags).data, w)
        }
        expectClose(layer.weight.grad, numeric, tol: 1e-3, "dW")
        #expect(EmbeddingBag(3, 2, rng: &rng).weight.value.allSatisfy { $0 == 0 })
    }

    @Test("LayerNorm: dx, dγ, dβ")
    func layerNorm() throws {
        let layer = LayerNorm(5)
        try layer.weight.assign(randomArray(5, seed: 6, scale: 1.5))
        try layer.bias.assign(randomArray(5, seed: 7))
        let x = randomTensor([3, 5], seed: 8, scale: 2)
        let w = randomArray(15, seed: 9)
        let (y, cache) = layer.forward(x)
        // Each row of the normalised input has mean 0 and variance 1.
        for r in 0..<3 {
            let row = cache.normalized[(r * 5)..<(r * 5 + 5)]
            #expect(abs(row.reduce(0, +)) < 1e-5)
            #expect(abs(row.map { $0 * $0 }.reduce(0, +) / 5 - 1) < 1e-3)
        }
        let dx = layer.backward(cache, outputGrad: Tensor(shape: y.shape, data: w))
        expectClose(dx.data, numericGradient(x.data, h: 1e-2) { dot(layer.forward(Tensor(shape: x.shape, data: $0)).0.data, w) },
                    tol: 2e-3, "dx")
        for p in layer.parameters {
            let saved = p.value
            let numeric = numericGradient(saved) { v in p.value = v; defer { p.value = saved }; return dot(layer.forward(x).0.data, w) }
            expectClose(p.grad, numeric, tol: 1e-3, "d\(p.name)")
        }
    }

    @Test("Dropout: scaling, identity at p=0, gradient through the mask")
    func dropout() throws {
        let layer = Dropout(0.5)
        var rng = SeededRandom(seed: 10)
        let x = Tensor(repeating: 1, shape: [1000])
        let (y, mask) = layer.forward(x, rng: &rng)
        #expect(Set(y.data) == [0, 2])
        let kept = y.data.filter { $0 != 0 }.count
        #expect(kept > 400 && kept < 600)
        let w = randomArray(1000, seed: 11)
        let dx = layer.backward(mask, outputGrad: Tensor(shape: [1000], data: w))
        for i in 0..<1000 { #expect(dx.data[i] == w[i] * mask[i]) }
        let (same, none) = Dropout(0).forward(x, rng: &rng)
        #expect(same == x && none.isEmpty)
    }
}

@Suite("Losses")
struct LossTests {
    @Test("softmax cross-entropy: value, gradient, ignore index, mask, label smoothing")
    func crossEntropy() throws {
        let logits = randomTensor([4, 3], seed: 20, scale: 2)
        let targets: [Int32] = [0, 2, -100, 1]
        for smoothing: Float in [0, 0.1] {
            for mask: [Float]? in [nil, [1, 0.5, 1, 0]] {
                let (loss, grad) = try Loss.softmaxCrossEntropy(logits: logits, targets: targets, mask: mask, labelSmoothing: smoothing)
                // Value by the definition, in Double.
                var total = 0.0, weight = 0.0
                for r in 0..<4 where targets[r] != -100 {
                    let w = Double(mask?[r] ?? 1)
                    let row = (0..<3).map { Double(logits.data[r * 3 + $0]) }
                    let logZ = _log(row.map { _exp($0) }.reduce(0, +))
                    let nll = logZ - row[Int(targets[r])]
                    let uniform = row.map { logZ - $0 }.reduce(0, +) / 3
                    total += w * ((1 - Double(smoothing)) * nll + Double(smoothing) * uniform)
                    weight += w
                }
                #expect(abs(Double(loss) - total / weight) < 1e-5)
                let numeric = numericGradient(logits.data, h: 1e-2) {
                    Double(try! Loss.softmaxCrossEntropy(logits: Tensor(shape: [4, 3], data: $0), targets: targets,
                                                         mask: mask, labelSmoothing: smoothing).loss)
                }
                expectClose(grad.data, numeric, tol: 2e-3, "dlogits smoothing \(smoothing) mask \(mask.map { "\($0)" } ?? "none")")
                #expect(Array(grad.data[6..<9]) == [0, 0, 0])
            }
        }
        #expect(throws: LSTMKitError.self) { try Loss.softmaxCrossEntropy(logits: logits, targets: [0, 1, 3, 0]) }
        #expect(throws: LSTMKitError.self) { try Loss.softmaxCrossEntropy(logits: logits, targets: [0, 1]) }
    }

    @Test("binary cross-entropy with logits: value and gradient, stable for large logits")
    func bce() throws {
        let logits = Tensor(shape: [5], data: [-3, -0.5, 0, 1.5, 4])
        let targets: [Float] = [0, 1, 0.3, 1, 0]
        let (loss, grad) = try Loss.binaryCrossEntropyWithLogits(logits: logits, targets: targets)
        var total = 0.0
        for i in 0..<5 {
            let p = 1 / (1 + _exp(-Double(logits.data[i])))
            total += -(Double(targets[i]) * _log(p) + (1 - Double(targets[i])) * _log(1 - p))
        }
        #expect(abs(Double(loss) - total / 5) < 1e-5)
        let numeric = numericGradient(logits.data, h: 1e-2) {
            Double(try! Loss.binaryCrossEntropyWithLogits(logits: Tensor(shape: [5], data: $0), targets: targets).loss)
        }
        expectClose(grad.data, numeric, tol: 2e-3, "dlogits")
        let (big, _) = try Loss.binaryCrossEntropyWithLogits(logits: Tensor(shape: [2], data: [200, -200]), targets: [0, 1])
        #expect(big.isFinite && abs(big - 200) < 1e-3)
    }

    @Test("mean squared error: value and gradient")
    func mse() throws {
        let x = randomTensor([2, 3], seed: 21)
        let t = randomArray(6, seed: 22)
        let (loss, grad) = try Loss.meanSquaredError(prediction: x, target: t)
        #expect(abs(Double(loss) - zip(x.data, t).map { Double(($0 - $1) * ($0 - $1)) }.reduce(0, +) / 6) < 1e-6)
        let numeric = numericGradient(x.data) {
            Double(try! Loss.meanSquaredError(prediction: Tensor(shape: [2, 3], data: $0), target: t).loss)
        }
        expectClose(grad.data, numeric, tol: 1e-3, "dx")
        #expect(throws: LSTMKitError.self) { try Loss.meanSquaredError(prediction: x, target: [1]) }
    }
}

@Suite("Fast math (CKernels)")
struct FastMathTests {
    /// Runs exp (0), sigmoid (1) or tanh (2) of the kernels over xs with one variant,
    /// or nil if this CPU lacks it.
    static func run(_ isa: String, _ function: Int32, _ xs: [Float]) -> [Float]? {
        var ys = [Float](repeating: .nan, count: xs.count)
        let ok = ys.withUnsafeMutableBufferPointer { Y in
            ck_math_variant(isa, function, xs, Y.baseAddress!, Int64(xs.count))
        }
        return ok == 1 ? ys : nil
    }

    @Test("exp, sigmoid and tanh agree with libm to 1e-6 relative over [-30, 30], in every variant this CPU runs",
          arguments: ["avx512f", "avx2_fma", "baseline"])
    func againstLibm(isa: String) throws {
        var xs = stride(from: -30.0, to: 30.0, by: 0.0113).flatMap { x in (0..<8).map { Float(x + 0.0007 * Double($0)) } }
        xs.removeLast(3)   // an odd count: the loops' scalar remainders run too
        guard let e = Self.run(isa, 0, xs) else {
            #expect(isa != "baseline", "the baseline variant always runs")
            return
        }
        let s = try #require(Self.run(isa, 1, xs)), t = try #require(Self.run(isa, 2, xs))
        var worst = (exp: 0.0, sigmoid: 0.0, tanh: 0.0)
        for (k, x) in xs.enumerated() {
            let xd = Double(x)
            worst.exp = max(worst.exp, relativeError(Double(e[k]), _exp(xd), floor: 1e-30))
            worst.sigmoid = max(worst.sigmoid, relativeError(Double(s[k]), 1 / (1 + _exp(-xd)), floor: 1e-30))
            worst.tanh = max(worst.tanh, relativeError(Double(t[k]), _tanh(xd), floor: 1e-30))
        }
        #expect(worst.exp < 1e-6 && worst.sigmoid < 1e-6 && worst.tanh < 1e-6, "\(isa): \(worst)")
        // Tiny arguments keep their relative precision; extremes saturate cleanly.
        let edge: [Float] = [1e-6, 1000, -1000]
        let (se, te) = (try #require(Self.run(isa, 1, edge)), try #require(Self.run(isa, 2, edge)))
        #expect(abs(te[0] - 1e-6) < 1e-12)
        #expect(se[1] == 1 && se[2] < 1e-30)
        #expect(te[1] == 1 && te[2] == -1)
    }

    @Test("ck_lstm_cell_infer gives ck_lstm_cell_forward's c and h bits, reads the gates only, y optional")
    func cellInfer() {
        var rng = SeededRandom(seed: 5)
        for hidden in [1, 7, 8, 33, 64, 129] {
            for scale: Float in [0.5, 4, 30] {   // 30: saturated gates
                let gates = (0..<(4 * hidden)).map { _ in rng.normal() * scale }
                let c0 = (0..<hidden).map { _ in rng.normal() * 2 }
                var g = gates, cNew = c0, h = c0, y = c0
                ck_lstm_cell_forward(&g, Int64(hidden), c0, &cNew, &h, &y)
                var c = c0, h2 = [Float](repeating: .nan, count: hidden), y2 = h2
                ck_lstm_cell_infer(gates, Int64(hidden), &c, &h2, &y2)
                #expect(c.map(\.bitPattern) == cNew.map(\.bitPattern), "H \(hidden) ×\(scale): c")
                #expect(h2.map(\.bitPattern) == h.map(\.bitPattern) && y2.map(\.bitPattern) == h.map(\.bitPattern))
                var c3 = c0, h3 = h2
                ck_lstm_cell_infer(gates, Int64(hidden), &c3, &h3, nil)
                #expect(c3.map(\.bitPattern) == cNew.map(\.bitPattern) && h3.map(\.bitPattern) == h.map(\.bitPattern))
            }
        }
    }

    @Test("The public entry points use the variant ck_isa names, the best this CPU supports")
    func dispatch() throws {
        let isa = String(cString: ck_isa())
        #expect(["avx512f", "avx2_fma", "baseline"].contains(isa))
        let xs = (0..<37).map { Float($0) * 0.7 - 12 }
        var ys = [Float](repeating: 0, count: xs.count)
        ck_tanh(xs, &ys, Int64(xs.count))
        #expect(ys == Self.run(isa, 2, xs))
        ck_exp(xs, &ys, Int64(xs.count))
        #expect(ys == Self.run(isa, 0, xs))
        ck_sigmoid(xs, &ys, Int64(xs.count))
        #expect(ys == Self.run(isa, 1, xs))
        // In place (y == x, which takes its own loop) gives the same bits.
        for (f, function) in [(ck_exp, 0), (ck_sigmoid, 1), (ck_tanh, 2)] as [((UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, Int64) -> Void, Int32)] {
            var inPlace = xs
            inPlace.withUnsafeMutableBufferPointer { f($0.baseAddress, $0.baseAddress, Int64(xs.count)) }
            #expect(inPlace == Self.run(isa, function, xs), "function \(function) in place")
        }
        // No better variant than the chosen one runs on this CPU (under LSTMKIT_MAX_ISA's cap).
        let order = ["avx512f", "avx2_fma", "baseline"]
        for better in order.prefix(while: { $0 != isa }) {
            #expect(Self.run(better, 0, xs) == nil || ck_isa_allows(better) == 0, "\(better) runs but \(isa) was chosen")
        }
    }

    @Test("LSTMKIT_MAX_ISA's values, and the kernels a process reports")
    func isaCap() throws {
        #expect([nil, "", "avx512", "AVX512", "sse9", "avx2x"].map { v in v.map { ck_isa_cap_parse($0) } ?? ck_isa_cap_parse(nil) }
                == [3, 3, 3, 3, 3, 3])
        #expect(ck_isa_cap_parse("avx2") == 2 && ck_isa_cap_parse("AVX2") == 2 && ck_isa_cap_parse("plain") == 1)
        #expect(Kernels.summary == "float32=\(String(cString: ck_isa())) packed=\(String(cString: ck_sgemm_packed_isa())) "
                + "int8=\(String(cString: ck_q8_isa())) openblas=\(BLAS.core)")
        #expect(ck_isa_allows("baseline") == 1 && ck_isa_allows("plain") == 1)
    }
}

@Suite("Pooling")
struct PoolingTests {
    let lengths = [4, 2, 1]

    func input() -> Tensor { randomTensor([3, 4, 5], seed: 30) }

    /// Sets padded steps to garbage: results must not depend on them.
    func withGarbagePadding(_ x: Tensor) -> Tensor {
        var y = x
        for b in 0..<3 { for t in lengths[b]..<4 { for j in 0..<5 { y.data[(b * 4 + t) * 5 + j] = 1000 } } }
        return y
    }

    @Test("attention pooling: weights sum to 1 over valid steps; dh, dW, db, dv match finite differences")
    func attention() throws {
        var rng = SeededRandom(seed: 31)
        let layer = AttentionPooling(inputSize: 5, attentionSize: 3, rng: &rng)
        let x = input()
        let w = randomArray(15, seed: 32)
        let (out, cache) = layer.forward(x, lengths: lengths)
        for b in 0..<3 {
            let weights = (0..<4).map { cache.weights[b * 4 + $0] }
            #expect(abs(weights.reduce(0, +) - 1) < 1e-5)
            #expect(weights[lengths[b]...].allSatisfy { $0 == 0 })
        }
        #expect(layer.forward(withGarbagePadding(x), lengths: lengths).0 == out)
        let dx = layer.backward(cache, outputGrad: Tensor(shape: [3, 5], data: w))
        var numeric = numericGradient(x.data) { dot(layer.forward(Tensor(shape: x.shape, data: $0), lengths: lengths).0.data, w) }
        for b in 0..<3 { for t in lengths[b]..<4 { for j in 0..<5 { numeric[(b * 4 + t) * 5 + j] = 0 } } }
        expectClose(dx.data, numeric, tol: 2e-3, floor: 1e-2, "dh")
        for p in layer.parameters {
            let saved = p.value
            let num = numericGradient(saved) { v in p.value = v; defer { p.value = saved }; return dot(layer.forward(x, lengths: lengths).0.data, w) }
            expectClose(p.grad, num, tol: 2e-3, floor: 1e-2, "d\(p.name)")
        }
    }

    @Test("mean, max and last pooling: values and gradients", arguments: [SequencePoolingKind.mean, .max, .last])
    func simple(kind: SequencePoolingKind) {
        let x = input()
        let w = randomArray(15, seed: 33)
        let (out, cache) = SimplePooling.forward(x, lengths: lengths, kind: kind)
        #expect(SimplePooling.forward(withGarbagePadding(x), lengths: lengths, kind: kind).0 == out)
        for b in 0..<3 {
            let rows = (0..<lengths[b]).map { t in Array(x.data[((b * 4 + t) * 5)..<((b * 4 + t) * 5 + 5)]) }
            let expected: [Float] = (0..<5).map { j in
                switch kind {
                case .last: return rows.last![j]
                case .mean: return rows.map { $0[j] }.reduce(0, +) / Float(rows.count)
                default: return rows.map { $0[j] }.max()!
                }
            }
            expectClose(Array(out.data[(b * 5)..<(b * 5 + 5)]), expected, tol: 1e-6, "\(kind) row \(b)")
        }
        let dx = SimplePooling.backward(cache, outputGrad: Tensor(shape: [3, 5], data: w))
        var numeric = numericGradient(x.data, h: 1e-3) { dot(SimplePooling.forward(Tensor(shape: x.shape, data: $0), lengths: lengths, kind: kind).0.data, w) }
        for b in 0..<3 { for t in lengths[b]..<4 { for j in 0..<5 { numeric[(b * 4 + t) * 5 + j] = 0 } } }
        expectClose(dx.data, numeric, tol: 2e-3, floor: 1e-2, "dh \(kind)")
    }
}
