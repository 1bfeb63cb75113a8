import Testing
@testable import LSTMKit

/// Encoder–decoder attention: values against a plain Double re-implementation, every
/// gradient against finite differences, masks, and a step equal to the full path.
@Suite("Encoder-decoder attention")
struct AttentionEncoderDecoderTests {
    // Three sources of padded length 5; the decoder rows choose their source through a map:
    // two consecutive rows share source 2 (as beams do, one GEMM), a later row reads it too.
    static let lengths = [5, 2, 4]
    static let sources = [2, 2, 0, 2, 1]
    static let (steps, targetSteps) = (5, 3)

    static func make(_ score: AttentionScore) -> EncoderDecoderAttention {
        var rng = SeededRandom(seed: 40)
        let d = score == .dot ? 4 : 3
        let layer = EncoderDecoderAttention(score: score, querySize: d, memorySize: 4, attentionSize: 5,
                                            outputSize: 3, rng: &rng)
        // Larger weights than the default init, so the softmax is far from uniform.
        for p in layer.parameters { p.value = p.value.map { $0 * 2 } }
        return layer
    }

    static func states(seed: UInt64 = 41) -> Tensor { randomTensor([3, steps, 4], seed: seed) }
    static func queries(_ layer: EncoderDecoderAttention) -> Tensor {
        randomTensor([sources.count, targetSteps, layer.querySize], seed: 42)
    }

    /// h̃ and α by the formulas, in Double, one (row, step) at a time.
    static func reference(_ layer: EncoderDecoderAttention, states: Tensor, queries: Tensor,
                          sources: [Int]) -> (out: [Double], weights: [Double]) {
        let (e, d, o) = (layer.memorySize, layer.querySize, layer.outputSize)
        let (tq, ts) = (queries.shape[1], states.shape[1])
        func value(_ name: String) -> [Double] { layer.parameter(named: name)?.value.map(Double.init) ?? [] }
        /// (rows, cols) matrix × vector.
        func times(_ m: [Double], _ x: [Double]) -> [Double] {
            (0..<(m.count / x.count)).map { i in inner(Array(m[(i * x.count)..<((i + 1) * x.count)]), x) }
        }
        let (wc, wa, w1, w2, v) = (value("linear_out.weight"), value("linear_in.weight"),
                                   value("linear_context.weight"), value("linear_query.weight"), value("v"))
        var out: [Double] = [], weights: [Double] = []
        for (r, s) in sources.enumerated() {
            for t in 0..<tq {
                let q: [Double] = (0..<d).map { Double(queries.data[(r * tq + t) * d + $0]) }
                var hs: [[Double]] = []
                for j in 0..<lengths[s] { hs.append((0..<e).map { Double(states.data[(s * ts + j) * e + $0]) }) }
                var scores: [Double] = []
                for h in hs {
                    switch layer.score {
                    case .dot: scores.append(inner(q, h))
                    case .general: scores.append(inner(q, times(wa, h)))
                    case .additive:
                        let hidden = zip(times(w1, h), times(w2, q)).map { _tanh($0 + $1) }
                        scores.append(inner(v, hidden))
                    }
                }
                let m = scores.max()!
                let ex = scores.map { _exp($0 - m) }
                let total = ex.reduce(0, +)
                let alpha = ex.map { $0 / total }
                weights += alpha + [Double](repeating: 0, count: ts - alpha.count)
                var c = [Double](repeating: 0, count: e)
                for (a, h) in zip(alpha, hs) { for k in 0..<e { c[k] += a * h[k] } }
                out += times(wc, c + q).map(_tanh)
                precondition(out.count % o == 0)
            }
        }
        return (out, weights)
    }

    @Test("values equal the formulas (Double re-implementation)", arguments: AttentionScore.allCases)
    func values(score: AttentionScore) throws {
        let layer = Self.make(score)
        let (states, queries) = (Self.states(), Self.queries(layer))
        let memory = layer.memory(states, lengths: Self.lengths)
        let (out, cache) = layer.forward(memory, queries: queries, sources: Self.sources)
        let rows = Self.sources.count
        #expect(out.shape == [rows, Self.targetSteps, 3] && cache.weights.shape == [rows, Self.targetSteps, Self.steps])
        #expect(cache.context.shape == [rows, Self.targetSteps, 4])
        let (want, wantWeights) = Self.reference(layer, states: states, queries: queries, sources: Self.sources)
        expectClose(out.data, want, tol: 1e-5, "h̃")
        expectClose(cache.weights.data, wantWeights, tol: 1e-5, "α")
    }

    @Test("every gradient against finite differences: queries, encoder states, parameters",
          arguments: AttentionScore.allCases)
    func gradients(score: AttentionScore) throws {
        let layer = Self.make(score)
        let (states, queries) = (Self.states(), Self.queries(layer))
        let n = Self.sources.count * Self.targetSteps
        let w = randomArray(n * layer.outputSize, seed: 43)
        let wc = randomArray(n * layer.memorySize, seed: 44)
        // A loss reading h̃ and the contexts (as a decoder that also takes c_t would).
        func loss(_ states: Tensor, _ queries: Tensor) -> Double {
            let (out, cache) = layer.forward(layer.memory(states, lengths: Self.lengths), queries: queries, sources: Self.sources)
            return dot(out.data, w) + dot(cache.context.data, wc)
        }
        // Float differences of this loss resolve ~1e-5 absolute: floor 1e-2.
        let memory = layer.memory(states, lengths: Self.lengths)
        let (out, cache) = layer.forward(memory, queries: queries, sources: Self.sources)
        var memoryGrad = AttentionMemoryGradient(for: memory)
        let dq = layer.backward(cache, outputGrad: Tensor(shape: out.shape, data: w),
                                contextGrad: Tensor(shape: cache.context.shape, data: wc), memoryGrad: &memoryGrad)
        let dStates = layer.backward(memory, memoryGrad: memoryGrad)
        #expect(dq.shape == queries.shape && dStates.shape == states.shape)
        expectClose(dq.data, numericGradient(queries.data) { loss(states, Tensor(shape: queries.shape, data: $0)) },
                    tol: 3e-3, floor: 1e-2, "dqueries")
        expectClose(dStates.data, numericGradient(states.data) { loss(Tensor(shape: states.shape, data: $0), queries) },
                    tol: 3e-3, floor: 1e-2, "dstates")
        for (name, p) in layer.namedParameters {
            let saved = p.value
            let numeric = numericGradient(saved) { v in p.value = v; defer { p.value = saved }; return loss(states, queries) }
            expectClose(p.grad, numeric, tol: 3e-3, floor: 1e-2, "d\(name)")
        }
    }

    @Test("masks: padded positions get weight 0 and gradient 0; padding values (NaN too) change nothing",
          arguments: AttentionScore.allCases)
    func masks(score: AttentionScore) throws {
        let layer = Self.make(score)
        let queries = Self.queries(layer)
        let w = randomArray(Self.sources.count * Self.targetSteps * layer.outputSize, seed: 45)
        func run(_ states: Tensor) -> (out: [Float], weights: [Float], dq: [Float], dStates: [Float], grads: [[Float]]) {
            layer.zeroGrad()
            let memory = layer.memory(states, lengths: Self.lengths)
            let (out, cache) = layer.forward(memory, queries: queries, sources: Self.sources)
            var memoryGrad = AttentionMemoryGradient(for: memory)
            let dq = layer.backward(cache, outputGrad: Tensor(shape: out.shape, data: w), memoryGrad: &memoryGrad)
            let dStates = layer.backward(memory, memoryGrad: memoryGrad)
            return (out.data, cache.weights.data, dq.data, dStates.data, layer.parameters.map(\.grad))
        }
        let states = Self.states()
        var repadded = states
        for (s, n) in Self.lengths.enumerated() {
            for j in n..<Self.steps { for k in 0..<4 { repadded.data[(s * Self.steps + j) * 4 + k] = k == 1 ? .nan : Float(7 * j - k) } }
        }
        let a = run(states), b = run(repadded)
        #expect(a.out == b.out && a.weights == b.weights && a.dq == b.dq && a.grads == b.grads)
        for (r, s) in Self.sources.enumerated() {
            for t in 0..<Self.targetSteps {
                let row = Array(a.weights[((r * Self.targetSteps + t) * Self.steps)...].prefix(Self.steps))
                #expect(row[Self.lengths[s]...].allSatisfy { $0 == 0 })
                #expect(abs(row.reduce(0, +) - 1) < 1e-6)
            }
        }
        for (s, n) in Self.lengths.enumerated() {
            let padded = a.dStates[((s * Self.steps + n) * 4)..<((s + 1) * Self.steps * 4)]
            #expect(padded.allSatisfy { $0 == 0 })
            #expect(a.dStates[((s * Self.steps + n) * 4)..<((s + 1) * Self.steps * 4)] ==
                    b.dStates[((s * Self.steps + n) * 4)..<((s + 1) * Self.steps * 4)])
        }
        #expect(a.dStates == b.dStates)
    }

    @Test("one decoder step equals the same position of the teacher-forced path, gradients included",
          arguments: AttentionScore.allCases)
    func stepEqualsFullPath(score: AttentionScore) throws {
        let layer = Self.make(score)
        let (states, queries) = (Self.states(), Self.queries(layer))
        let (rows, tq, d, o) = (Self.sources.count, Self.targetSteps, layer.querySize, layer.outputSize)
        let w = randomArray(rows * tq * o, seed: 46)
        let memory = layer.memory(states, lengths: Self.lengths)
        let (full, fullCache) = layer.forward(memory, queries: queries, sources: Self.sources)
        var fullMemoryGrad = AttentionMemoryGradient(for: memory)
        let dqFull = layer.backward(fullCache, outputGrad: Tensor(shape: full.shape, data: w), memoryGrad: &fullMemoryGrad)
        let dStatesFull = layer.backward(memory, memoryGrad: fullMemoryGrad)
        let gradsFull = layer.parameters.map(\.grad)
        layer.zeroGrad()
        // Step by step, every step's backward accumulating into one memory gradient.
        var stepMemoryGrad = AttentionMemoryGradient(for: memory)
        for t in 0..<tq {
            func slice(_ x: [Float], _ width: Int) -> [Float] {
                var out: [Float] = []
                for r in 0..<rows { out += x[((r * tq + t) * width)..<((r * tq + t + 1) * width)] }
                return out
            }
            let query = Tensor(shape: [rows, d], data: slice(queries.data, d))
            let (out, cache) = layer.step(memory, query: query, sources: Self.sources)
            #expect(out.shape == [rows, o] && cache.weights.shape == [rows, 1, Self.steps])
            expectClose(out.data, slice(full.data, o), tol: 1e-6, "h̃ at step \(t)")
            expectClose(cache.weights.data, slice(fullCache.weights.data, Self.steps), tol: 1e-6, "α at step \(t)")
            let dq = layer.backward(cache, outputGrad: Tensor(shape: out.shape, data: slice(w, o)), memoryGrad: &stepMemoryGrad)
            #expect(dq.shape == [rows, d])
            expectClose(dq.data, slice(dqFull.data, d), tol: 1e-5, floor: 1e-2, "dquery at step \(t)")
        }
        // The sums run in another order (step by step against one GEMM): equal to rounding.
        expectClose(layer.backward(memory, memoryGrad: stepMemoryGrad).data, dStatesFull.data, tol: 1e-5, floor: 1e-2, "dstates")
        for (p, want) in zip(layer.parameters, gradsFull) { expectClose(p.grad, want, tol: 1e-5, floor: 1e-2, "d\(p.name)") }
    }

    @Test("beams sharing a source through the row map equal the source's own row")
    func beamsShareMemory() throws {
        let layer = Self.make(.general)
        let memory = layer.memory(Self.states(), lengths: Self.lengths)
        let query = randomTensor([3, layer.querySize], seed: 47)
        let (own, ownCache) = layer.step(memory, query: query)
        // Each source's beams together, as beam search lays them out.
        let beams = 2
        var expanded: [Float] = [], map: [Int] = []
        for s in 0..<3 { for _ in 0..<beams { expanded += query.data[(s * layer.querySize)..<((s + 1) * layer.querySize)]; map.append(s) } }
        let (shared, cache) = layer.step(memory, query: Tensor(shape: [3 * beams, layer.querySize], data: expanded), sources: map)
        for (row, s) in map.enumerated() {
            #expect(Array(shared.data[(row * 3)..<(row * 3 + 3)]) == Array(own.data[(s * 3)..<(s * 3 + 3)]))
            #expect(cache.weights.data[(row * Self.steps)..<((row + 1) * Self.steps)] ==
                    ownCache.weights.data[(s * Self.steps)..<((s + 1) * Self.steps)])
        }
    }

    @Test("tensor names come from the tree", arguments: AttentionScore.allCases)
    func names(score: AttentionScore) throws {
        let names = Self.make(score).namedParameters.map(\.name)
        switch score {
        case .dot: #expect(names == ["linear_out.weight"])
        case .general: #expect(names == ["linear_in.weight", "linear_out.weight"])
        case .additive: #expect(names == ["linear_context.weight", "linear_query.weight", "linear_out.weight", "v"])
        }
    }
}

func inner(_ a: [Double], _ b: [Double]) -> Double {
    var s = 0.0
    for i in 0..<min(a.count, b.count) { s += a[i] * b[i] }
    return s
}
