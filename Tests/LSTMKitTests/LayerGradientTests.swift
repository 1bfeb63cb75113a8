import Testing
@testable import LSTMKit

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
        let dx = layer.backward(input: x, outputGrad: Tensor(shape: y.shape, data: w))
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
        let dx = layer.backward(Tensor(shape: [1000], data: w), mask: mask)
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

@Suite("Fast math")
struct FastMathTests {
    @Test("exp, sigmoid and tanh agree with libm to 1e-6 relative over [-30, 30]")
    func againstLibm() {
        var worst = (exp: 0.0, sigmoid: 0.0, tanh: 0.0)
        var x: Float = -30
        while x < 30 {
            var v = FastMath.V(repeating: 0)
            for i in 0..<FastMath.V.scalarCount { v[i] = x + Float(i) * 0.0007 }
            let (e, s, t) = (FastMath.exp(v), FastMath.sigmoid(v), FastMath.tanh(v))
            for i in 0..<FastMath.V.scalarCount {
                let xi = Double(v[i])
                worst.exp = max(worst.exp, relativeError(Double(e[i]), _exp(xi), floor: 1e-30))
                worst.sigmoid = max(worst.sigmoid, relativeError(Double(s[i]), 1 / (1 + _exp(-xi)), floor: 1e-30))
                worst.tanh = max(worst.tanh, relativeError(Double(t[i]), _tanh(xi), floor: 1e-30))
            }
            x += 0.0113
        }
        #expect(worst.exp < 1e-6 && worst.sigmoid < 1e-6 && worst.tanh < 1e-6, "\(worst)")
        // Tiny arguments keep their relative precision; extremes saturate cleanly.
        let tiny = FastMath.tanh(FastMath.V(repeating: 1e-6))
        #expect(abs(tiny[0] - 1e-6) < 1e-12)
        let big = FastMath.V(repeating: 1000)
        #expect(FastMath.sigmoid(big)[0] == 1 && FastMath.sigmoid(-big)[0] < 1e-30)
        #expect(FastMath.tanh(big)[0] == 1 && FastMath.tanh(-big)[0] == -1)
    }
}
