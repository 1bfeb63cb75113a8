import Testing
@testable import LSTMKit

/// One configuration the LSTM is checked on.
struct LSTMCase: CustomStringConvertible, Sendable {
    var inputSize: Int, hiddenSize: Int, numLayers: Int, bidirectional: Bool
    var batch: Int, steps: Int, lengths: [Int32]?, initialState: Bool

    var description: String {
        "D\(inputSize) H\(hiddenSize) L\(numLayers) \(bidirectional ? "bi" : "uni") B\(batch) T\(steps) lengths \(lengths.map { "\($0)" } ?? "full") \(initialState ? "h0" : "")"
    }

    var config: LSTMConfig {
        LSTMConfig(inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bidirectional: bidirectional, seed: 7)
    }
}

let lstmCases: [LSTMCase] = [
    LSTMCase(inputSize: 3, hiddenSize: 4, numLayers: 1, bidirectional: false, batch: 2, steps: 5, lengths: nil, initialState: false),
    LSTMCase(inputSize: 3, hiddenSize: 4, numLayers: 1, bidirectional: true, batch: 3, steps: 5, lengths: [5, 2, 4], initialState: true),
    LSTMCase(inputSize: 5, hiddenSize: 3, numLayers: 2, bidirectional: false, batch: 3, steps: 4, lengths: [1, 4, 3], initialState: true),
    LSTMCase(inputSize: 2, hiddenSize: 3, numLayers: 2, bidirectional: true, batch: 4, steps: 6, lengths: [6, 1, 3, 5], initialState: false),
    LSTMCase(inputSize: 1, hiddenSize: 1, numLayers: 3, bidirectional: true, batch: 2, steps: 3, lengths: [2, 3], initialState: true),
    // Longest first: the packed path, where the recurrent GEMMs skip finished rows.
    LSTMCase(inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, batch: 4, steps: 5, lengths: [5, 3, 3, 1], initialState: true),
    // A batch of one: the recurrence takes the matrix-vector kernel (4H = 68 rows, H = 17
    // columns: full blocks and tails both ways), from packed weights on long sequences.
    LSTMCase(inputSize: 3, hiddenSize: 17, numLayers: 1, bidirectional: true, batch: 1, steps: 4, lengths: [3], initialState: true),
    LSTMCase(inputSize: 3, hiddenSize: 17, numLayers: 1, bidirectional: false, batch: 1, steps: 16, lengths: nil, initialState: false),
]

/// Builds the engine LSTM with random weights (bigger than the default init, so the
/// gates leave their linear regime), its inputs, and the matching reference.
func makeLSTMCase(_ c: LSTMCase) throws -> (LSTM, ReferenceLSTM, Tensor, LSTMState?) {
    let lstm = try LSTM(c.config)
    var weights: [String: [Double]] = [:]
    for (i, p) in lstm.parameters.enumerated() {
        try p.assign(randomArray(p.count, seed: 100 + UInt64(i), scale: 0.6))
        weights[p.name] = p.value.map(Double.init)
    }
    let ref = ReferenceLSTM(inputSize: c.inputSize, hiddenSize: c.hiddenSize, numLayers: c.numLayers,
                            directions: c.bidirectional ? 2 : 1, weights: weights)
    let x = randomTensor([c.batch, c.steps, c.inputSize], seed: 1)
    var initial: LSTMState?
    if c.initialState {
        let shape = [c.numLayers * (c.bidirectional ? 2 : 1), c.batch, c.hiddenSize]
        initial = LSTMState(h: randomTensor(shape, seed: 2, scale: 0.5), c: randomTensor(shape, seed: 3, scale: 0.5))
    }
    return (lstm, ref, x, initial)
}

@Suite("LSTM against the plain reference")
struct LSTMReferenceTests {
    @Test("forward matches", arguments: lstmCases)
    func forwardMatches(_ c: LSTMCase) throws {
        let (lstm, ref, x, initial) = try makeLSTMCase(c)
        let out = try lstm.run(x, lengths: c.lengths, initial: initial)
        let lengths = c.lengths.map { $0.map(Int.init) } ?? Array(repeating: c.steps, count: c.batch)
        let expected = ref.forward(x: x.data.map(Double.init), batch: c.batch, steps: c.steps, lengths: lengths,
                                   h0: initial?.h.data.map(Double.init), c0: initial?.c.data.map(Double.init))
        expectClose(out.y.data, expected.y, tol: 1e-5, "y \(c)")
        expectClose(out.final.h.data, expected.h, tol: 1e-5, "h_n \(c)")
        expectClose(out.final.c.data, expected.c, tol: 1e-5, "c_n \(c)")
        // Padded steps output exactly zero.
        let k = c.bidirectional ? 2 : 1
        for b in 0..<c.batch {
            for t in lengths[b]..<c.steps {
                for j in 0..<(k * c.hiddenSize) {
                    #expect(out.y.data[(b * c.steps + t) * k * c.hiddenSize + j] == 0)
                }
            }
        }
    }

    /// Within float32 rounding, not bit for bit: a batch's inference may take the packed
    /// GEMM (PackedGEMMTests), summing in another order than forward's OpenBLAS.
    @Test("inference-only pass equals the training-capable forward pass", arguments: lstmCases)
    func inferenceMatches(_ c: LSTMCase) throws {
        let (lstm, _, x, initial) = try makeLSTMCase(c)
        let full = try lstm.run(x, lengths: c.lengths, initial: initial)
        let fast = try lstm.runInference(x, lengths: c.lengths, initial: initial)
        expectClose(fast.y.data, full.y.data, tol: 1e-5, floor: 1e-2, "y \(c)")
        expectClose(fast.final.h.data, full.final.h.data, tol: 1e-5, floor: 1e-2, "h_n \(c)")
        expectClose(fast.final.c.data, full.final.c.data, tol: 1e-5, floor: 1e-2, "c_n \(c)")
        // Lengths sorted longest first take the packed path (finished rows skipped).
        if let lengths = c.lengths {
            let order = lengths.indices.sorted { lengths[$0] > lengths[$1] }
            let (b, t, d) = (c.batch, c.steps, c.inputSize)
            var xs = [Float]()
            for i in order { xs += x.data[(i * t * d)..<((i + 1) * t * d)] }
            let sorted = try lstm.runInference(Tensor(shape: [b, t, d], data: xs), lengths: order.map { lengths[$0] })
            let unsorted = try lstm.run(x, lengths: lengths)
            let k = c.bidirectional ? 2 : 1
            for (row, i) in order.enumerated() {
                let width = t * k * c.hiddenSize
                expectClose(Array(sorted.y.data[(row * width)..<((row + 1) * width)]), Array(unsorted.y.data[(i * width)..<((i + 1) * width)]),
                            tol: 1e-5, floor: 1e-2, "sorted row \(row) \(c)")
            }
        }
    }

    @Test("every gradient matches finite differences of the reference", arguments: lstmCases)
    func gradientsMatch(_ c: LSTMCase) throws {
        let (lstm, ref, x, initial) = try makeLSTMCase(c)
        let lengths = c.lengths.map { $0.map(Int.init) } ?? Array(repeating: c.steps, count: c.batch)
        let k = c.bidirectional ? 2 : 1
        let stateCount = c.numLayers * k * c.batch * c.hiddenSize
        // loss = <y, wy> + <h_n, wh> + <c_n, wc>
        let wy = randomArray(c.batch * c.steps * k * c.hiddenSize, seed: 11)
        let wh = randomArray(stateCount, seed: 12)
        let wc = randomArray(stateCount, seed: 13)

        let out = try lstm.run(x, lengths: c.lengths, initial: initial)
        let shape = [c.numLayers * k, c.batch, c.hiddenSize]
        let grads = lstm.backward(out.cache, outputGrad: Tensor(shape: out.y.shape, data: wy),
                                  finalGrad: LSTMState(h: Tensor(shape: shape, data: wh), c: Tensor(shape: shape, data: wc)))

        let xD = x.data.map(Double.init)
        let h0D = initial?.h.data.map(Double.init) ?? [Double](repeating: 0, count: stateCount)
        let c0D = initial?.c.data.map(Double.init) ?? [Double](repeating: 0, count: stateCount)
        func loss(_ r: ReferenceLSTM, _ x: [Double], _ h0: [Double], _ c0: [Double]) -> Double {
            let o = r.forward(x: x, batch: c.batch, steps: c.steps, lengths: lengths, h0: h0, c0: c0)
            var s = 0.0
            for i in 0..<o.y.count { s += o.y[i] * Double(wy[i]) }
            for i in 0..<stateCount { s += o.h[i] * Double(wh[i]) + o.c[i] * Double(wc[i]) }
            return s
        }
        func fd(_ v: [Double], _ f: ([Double]) -> Double) -> [Double] {
            var v = v
            let h = 1e-5
            return (0..<v.count).map { i in
                let old = v[i]
                v[i] = old + h; let up = f(v)
                v[i] = old - h; let down = f(v)
                v[i] = old
                return (up - down) / (2 * h)
            }
        }
        for p in lstm.parameters {
            let numeric = fd(ref.weights[p.name]!) { w in
                var r = ref
                r.weights[p.name] = w
                return loss(r, xD, h0D, c0D)
            }
            expectClose(p.grad, numeric, tol: 1e-4, "d\(p.name) \(c)")
        }
        expectClose(grads.dx.data, fd(xD) { loss(ref, $0, h0D, c0D) }, tol: 1e-4, "dx \(c)")
        expectClose(grads.dInitial.h.data, fd(h0D) { loss(ref, xD, $0, c0D) }, tol: 1e-4, "dh0 \(c)")
        expectClose(grads.dInitial.c.data, fd(c0D) { loss(ref, xD, h0D, $0) }, tol: 1e-4, "dc0 \(c)")
        // Padded steps receive no gradient.
        for b in 0..<c.batch {
            for t in lengths[b]..<c.steps {
                for j in 0..<c.inputSize { #expect(grads.dx.data[(b * c.steps + t) * c.inputSize + j] == 0) }
            }
        }
    }
}

@Suite("LSTM behaviour")
struct LSTMBehaviourTests {
    @Test("state carried across calls equals one long call (truncated BPTT)")
    func carriedState() throws {
        let lstm = try LSTM(LSTMConfig(inputSize: 3, hiddenSize: 5, numLayers: 2, seed: 3))
        let x = randomTensor([2, 8, 3], seed: 4)
        let whole = try lstm.run(x)
        func slice(_ t0: Int, _ t1: Int) -> Tensor {
            var d = [Float]()
            for b in 0..<2 { d += x.data[((b * 8 + t0) * 3)..<((b * 8 + t1) * 3)] }
            return Tensor(shape: [2, t1 - t0, 3], data: d)
        }
        let first = try lstm.run(slice(0, 5))
        let second = try lstm.run(slice(5, 8), initial: first.final)
        expectClose(second.final.h.data, whole.final.h.data, tol: 1e-6, "h_n")
        expectClose(second.final.c.data, whole.final.c.data, tol: 1e-6, "c_n")
        for b in 0..<2 {
            let tail = Array(whole.y.data[((b * 8 + 5) * 5)..<((b * 8 + 8) * 5)])
            let got = Array(second.y.data[(b * 3 * 5)..<((b + 1) * 3 * 5)])
            expectClose(got, tail, tol: 1e-6, "y tail of row \(b)")
        }
    }

    @Test("a padded sequence gives the same result as the sequence alone")
    func paddingIsInvisible() throws {
        let lstm = try LSTM(LSTMConfig(inputSize: 2, hiddenSize: 3, bidirectional: true, seed: 5))
        let x = randomTensor([2, 6, 2], seed: 6)
        let batched = try lstm.run(x, lengths: [6, 4])
        let alone = try lstm.run(Tensor(shape: [1, 4, 2], data: Array(x.data[12..<20])))
        expectClose(Array(batched.y.data[36..<(36 + 4 * 6)]), alone.y.data, tol: 1e-6, "outputs")
        let hAlone = alone.final.h.data
        // direction d of row 1 lives at (d*2 + 1)*3
        expectClose(Array(batched.final.h.data[3..<6]) + Array(batched.final.h.data[9..<12]), hAlone, tol: 1e-6, "h_n")
    }

    @Test("same seed same weights, other seed other weights")
    func seeding() throws {
        let a = try LSTM(LSTMConfig(inputSize: 4, hiddenSize: 4, seed: 1))
        let b = try LSTM(LSTMConfig(inputSize: 4, hiddenSize: 4, seed: 1))
        let c = try LSTM(LSTMConfig(inputSize: 4, hiddenSize: 4, seed: 2))
        #expect(a.parameters.map(\.value) == b.parameters.map(\.value))
        #expect(a.parameters.map(\.value) != c.parameters.map(\.value))
        let bound = 1 / Float(4).squareRoot()
        #expect(a.parameters.allSatisfy { $0.value.allSatisfy { abs($0) <= bound } })
    }

    @Test("PyTorch names and shapes, in PyTorch's order")
    func names() throws {
        let lstm = try LSTM(LSTMConfig(inputSize: 3, hiddenSize: 2, numLayers: 2, bidirectional: true))
        #expect(lstm.parameters.map(\.name) == [
            "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
            "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
            "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1",
            "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse",
        ])
        #expect(lstm.parameter(named: "weight_ih_l0")!.shape == [8, 3])
        #expect(lstm.parameter(named: "weight_ih_l1")!.shape == [8, 4])
        #expect(lstm.parameter(named: "weight_hh_l1_reverse")!.shape == [8, 2])
        #expect(lstm.parameter(named: "bias_hh_l0")!.shape == [8])
    }

    @Test("dropout between layers: active in training only, and its gradient is exact")
    func dropoutBetweenLayers() throws {
        let lstm = try LSTM(LSTMConfig(inputSize: 3, hiddenSize: 4, numLayers: 2, dropout: 0.4, seed: 9))
        let x = randomTensor([2, 4, 3], seed: 10)
        let inference1 = try lstm.run(x), inference2 = try lstm.run(x)
        #expect(inference1.y == inference2.y)
        let rngStart = lstm.dropoutRNG
        let trained = try lstm.run(x, training: true)
        #expect(trained.y != inference1.y)
        // Gradient of <y, w> w.r.t. x with the same masks, against finite differences.
        let w = randomArray(trained.y.count, seed: 12)
        lstm.dropoutRNG = rngStart
        let out = try lstm.run(x, training: true)
        let g = lstm.backward(out.cache, outputGrad: Tensor(shape: out.y.shape, data: w))
        let numeric = numericGradient(x.data, h: 1e-2) { v in
            lstm.dropoutRNG = rngStart
            return dot(try! lstm.run(Tensor(shape: x.shape, data: v), training: true).y.data, w)
        }
        expectClose(g.dx.data, numeric, tol: 2e-2, floor: 1e-2, "dx with dropout")
    }

    @Test("a training pass reuses the buffers of the cache backward consumed, never a cache still held")
    func spareBuffers() throws {
        let lstm = try LSTM(LSTMConfig(inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, seed: 13))
        let x = randomTensor([3, 5, 3], seed: 14), x2 = randomTensor([3, 5, 3], seed: 15)
        let lengths: [Int32] = [5, 2, 4]
        let first = try lstm.run(x, lengths: lengths, training: true)
        let dY = Tensor(shape: first.y.shape, data: randomArray(first.y.count, seed: 16))
        func gradients(_ cache: LSTM.Cache) -> [[Float]] {
            lstm.zeroGrad()
            _ = lstm.backward(cache, outputGrad: dY)
            return lstm.parameters.map(\.grad)
        }
        let expected = gradients(first.cache)
        // `first` is still held: the next training pass must leave its cache alone.
        let second = try lstm.run(x2, lengths: lengths, training: true)
        #expect(gradients(first.cache) == expected)
        #expect(second.y == (try lstm.run(x2, lengths: lengths)).y)
        // A pass after backward consumed the second cache gives the same results again.
        let secondGradients = gradients(second.cache)
        let third = try lstm.run(x2, lengths: lengths, training: true)
        #expect(third.y == second.y)
        #expect(gradients(third.cache) == secondGradients)
    }

    @Test("invalid inputs are refused with a message")
    func validation() throws {
        let lstm = try LSTM(LSTMConfig(inputSize: 3, hiddenSize: 2))
        #expect(throws: LSTMKitError.self) { try lstm.run(Tensor(zeros: [2, 3])) }
        #expect(throws: LSTMKitError.self) { try lstm.run(Tensor(zeros: [1, 2, 4])) }
        #expect(throws: LSTMKitError.self) { try lstm.run(Tensor(zeros: [0, 2, 3])) }
        #expect(throws: LSTMKitError.self) { try lstm.run(Tensor(zeros: [2, 2, 3]), lengths: [1]) }
        #expect(throws: LSTMKitError.self) { try lstm.run(Tensor(zeros: [2, 2, 3]), lengths: [0, 2]) }
        #expect(throws: LSTMKitError.self) { try lstm.run(Tensor(zeros: [2, 2, 3]), lengths: [3, 2]) }
        var nan = Tensor(zeros: [1, 2, 3]); nan.data[4] = .nan
        #expect(throws: LSTMKitError.self) { try lstm.run(nan) }
        let badState = LSTMState(h: Tensor(zeros: [1, 2, 2]), c: Tensor(zeros: [1, 2, 2]))
        #expect(throws: LSTMKitError.self) { try lstm.run(Tensor(zeros: [1, 2, 3]), initial: badState) }
        #expect(throws: LSTMKitError.self) { try LSTM(LSTMConfig(inputSize: 0, hiddenSize: 2)) }
        #expect(throws: LSTMKitError.self) { try LSTM(LSTMConfig(inputSize: 2, hiddenSize: 2, dropout: .nan)) }
        #expect(throws: LSTMKitError.self) { try LSTM(LSTMConfig(inputSize: 2, hiddenSize: 2, dropout: 1)) }
    }
}
