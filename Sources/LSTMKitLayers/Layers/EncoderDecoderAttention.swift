import CKernels
import LSTMKitCore

/// How a decoder state h_t scores an encoder state h̄_s.
public enum AttentionScore: String, CaseIterable, Sendable {
    /// Luong's dot: h_tᵀ h̄_s (needs the decoder and encoder sizes equal).
    case dot
    /// Luong's general: h_tᵀ W_a h̄_s.
    case general
    /// Bahdanau's additive: v_aᵀ tanh(W_1 h̄_s + W_2 h_t).
    case additive
}

/// Encoder–decoder attention (Luong et al. 2015, with Bahdanau's additive score):
/// α_t = softmax of the scores over each source's valid positions (padded ones get
/// exactly 0), context c_t = Σ_s α_ts h̄_s, and the attentional hidden state
/// h̃_t = tanh(W_c [c_t; h_t]), the "input feeding" vector the decoder reads next step.
///
/// Use: `memory(_:lengths:)` once per batch of sources (it projects the encoder side of
/// the score), then `forward` for a whole teacher-forced target (queries (N, T_q, D)) or
/// `step` for one decoding step (queries (N, D)); both take an optional row → source map
/// (beams of one source share its memory). Backward accumulates the memory's gradient
/// over any number of calls; `backward(_:memoryGrad:)` turns it into the encoder states'
/// gradient once.
///
/// Tensors (OpenNMT-py's GlobalAttention names): "linear_in.weight" (general's W_a (D, E)),
/// "linear_context.weight" (W_1 (A, E)), "linear_query.weight" (W_2 (A, D)), "v" (v_a (A)),
/// "linear_out.weight" (W_c (O, E + D)). No biases, as in the formulas.
public final class EncoderDecoderAttention: Module {
    public let score: AttentionScore
    /// D, the decoder state's size.
    public let querySize: Int
    /// E, the encoder state's size.
    public let memorySize: Int
    /// A, the additive score's hidden size (0 for the others).
    public let attentionSize: Int
    /// O, the size of h̃.
    public let outputSize: Int
    let linearIn: Linear?
    let linearContext: Linear?
    let linearQuery: Linear?
    let v: Parameter?
    public let linearOut: Linear

    /// `attentionSize` is read by `additive` only; `dot` needs `querySize == memorySize`.
    /// Weights are PyTorch nn.Linear's default U(-1/√in, 1/√in); v_a likewise over A.
    public init(score: AttentionScore, querySize: Int, memorySize: Int, attentionSize: Int,
                outputSize: Int, rng: inout SeededRandom) {
        precondition(querySize > 0 && memorySize > 0 && outputSize > 0, "attention sizes must be positive")
        precondition(score != .dot || querySize == memorySize, "dot attention needs equal query and memory sizes")
        precondition(score != .additive || attentionSize > 0, "additive attention needs a positive attention size")
        self.score = score
        self.querySize = querySize
        self.memorySize = memorySize
        self.attentionSize = score == .additive ? attentionSize : 0
        self.outputSize = outputSize
        linearIn = score == .general ? Linear(memorySize, querySize, bias: false, rng: &rng) : nil
        if score == .additive {
            linearContext = Linear(memorySize, attentionSize, bias: false, rng: &rng)
            linearQuery = Linear(querySize, attentionSize, bias: false, rng: &rng)
            var value = [Float](repeating: 0, count: attentionSize)
            rng.fillUniform(&value, bound: 1 / Float(attentionSize).squareRoot())
            v = Parameter(name: "v", shape: [attentionSize], value: value)
        } else {
            linearContext = nil
            linearQuery = nil
            v = nil
        }
        linearOut = Linear(memorySize + querySize, outputSize, bias: false, rng: &rng)
    }

    public var children: [(name: String, module: Module)] {
        var out: [(name: String, module: Module)] = []
        if let linearIn { out.append(("linear_in", linearIn)) }
        if let linearContext, let linearQuery { out += [("linear_context", linearContext), ("linear_query", linearQuery)] }
        out.append(("linear_out", linearOut))
        return out
    }

    public var localParameters: [Parameter] { v.map { [$0] } ?? [] }

    /// The projection from encoder states to keys (general: W_a, additive: W_1; dot: none).
    private var keyProjection: Linear? { linearIn ?? linearContext }

    // MARK: Memory

    /// Precomputes the keys for encoder states (S, T_src, E) with lengths in 1...T_src:
    /// one GEMM per source over its valid rows (padding is never read); an int8 model's
    /// through its quantized projection.
    public func memory(_ states: Tensor, lengths: [Int]) -> AttentionMemory {
        checkMemoryInput(states, lengths: lengths)
        let (sources, steps, e) = (states.shape[0], states.shape[1], memorySize)
        guard let projection = keyProjection else {
            return AttentionMemory(steps: steps, lengths: lengths, states: states, keys: states.data, keyWidth: e)
        }
        let k = projection.outFeatures
        if projection.isInt8 {
            // An int8 projection (`quantizeLayers`) has no float weights: its own forward,
            // over all S·T_src rows (padding included, never read).
            let keys = projection.forward(states.reshaped([sources * steps, e])).data
            return AttentionMemory(steps: steps, lengths: lengths, states: states, keys: keys, keyWidth: k)
        }
        var keys = [Float](repeating: 0, count: sources * steps * k)
        states.data.withUnsafeBufferPointer { h in
            projection.weight.value.withUnsafeBufferPointer { w in
                keys.withUnsafeMutableBufferPointer { out in
                    for s in 0..<sources {
                        BLAS.gemm(transB: true, m: lengths[s], n: k, k: e, a: h.baseAddress! + s * steps * e, lda: e,
                                  b: w.baseAddress!, ldb: e, beta: 0, c: out.baseAddress! + s * steps * k, ldc: k)
                    }
                }
            }
        }
        return AttentionMemory(steps: steps, lengths: lengths, states: states, keys: keys, keyWidth: k)
    }

    /// The encoder states' gradient (S, T_src, E) from what the steps accumulated; ADDS
    /// into W_a or W_1. Padded positions get exactly 0.
    public func backward(_ memory: AttentionMemory, memoryGrad: AttentionMemoryGradient) -> Tensor {
        var dStates = memoryGrad.values
        guard let projection = keyProjection else {
            VectorMath.add(memoryGrad.keys, into: &dStates, count: dStates.count)
            return Tensor(shape: memory.states.shape, data: dStates)
        }
        let (steps, e, k) = (memory.steps, memorySize, memory.keyWidth)
        memoryGrad.keys.withUnsafeBufferPointer { dk in
            memory.states.data.withUnsafeBufferPointer { h in
                projection.weight.value.withUnsafeBufferPointer { w in
                    projection.weight.grad.withUnsafeMutableBufferPointer { dw in
                        dStates.withUnsafeMutableBufferPointer { dh in
                            for s in 0..<memory.sources {
                                let n = memory.lengths[s]
                                let dkS = dk.baseAddress! + s * steps * k, hS = h.baseAddress! + s * steps * e
                                // dh̄ += dK W; dW += dKᵀ h̄, over the valid rows only.
                                BLAS.gemm(m: n, n: e, k: k, a: dkS, lda: k, b: w.baseAddress!, ldb: e,
                                          beta: 1, c: dh.baseAddress! + s * steps * e, ldc: e)
                                BLAS.gemm(transA: true, m: k, n: e, k: n, a: dkS, lda: k, b: hS, ldb: e,
                                          beta: 1, c: dw.baseAddress!, ldc: e)
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: memory.states.shape, data: dStates)
    }

    // MARK: Queries

    /// What backward needs, and what callers read: the weights and the contexts.
    public struct Cache {
        let memory: AttentionMemory
        let runs: [Run]
        let queries: Tensor          // (N, T_q, D)
        let queryShape: [Int]        // as the caller gave it: (N, T_q, D) or a step's (N, D)
        let projectedQueries: [Float] // additive: W_2 h_t (N*T_q, A); else empty
        let combined: Tensor         // [c; h] (N*T_q, E + D), linear_out's input
        let output: [Float]          // h̃ (N*T_q, O)
        /// α (N, T_q, T_src); exactly 0 at padded source positions (a step's T_q is 1).
        public let weights: Tensor
        /// c (N, T_q, E) (a step's T_q is 1).
        public let context: Tensor
    }

    /// Consecutive rows attending over one source.
    struct Run {
        let first: Int, count: Int, source: Int
    }

    static func runs(_ sources: [Int]) -> [Run] {
        var runs: [Run] = []
        for (row, s) in sources.enumerated() {
            if let last = runs.last, last.source == s {
                runs[runs.count - 1] = Run(first: last.first, count: last.count + 1, source: s)
            } else {
                runs.append(Run(first: row, count: 1, source: s))
            }
        }
        return runs
    }

    /// One decoding step: queries h_t (N, D) → h̃_t (N, O). See `forward`.
    public func step(_ memory: AttentionMemory, query: Tensor, sources: [Int]? = nil) -> (Tensor, Cache) {
        precondition(query.rank == 2, "attention step: query must be (N, D), got \(query.shape)")
        let (out, cache) = forward(memory, queries: query.reshaped([query.shape[0], 1, query.shape[1]]), sources: sources,
                                   queryShape: query.shape)
        return (out.reshaped([query.shape[0], outputSize]), cache)
    }

    /// Queries h_t (N, T_q, D) → h̃ (N, T_q, O). Row n attends over source `sources[n]` of
    /// the memory (nil: row n over source n, N == S). Each run of consecutive rows sharing a
    /// source (a row; a source's beams) takes one GEMM for all its steps' scores (dot,
    /// general) and one for their contexts; linear_out is one GEMM.
    public func forward(_ memory: AttentionMemory, queries: Tensor, sources: [Int]? = nil) -> (Tensor, Cache) {
        forward(memory, queries: queries, sources: sources, queryShape: queries.shape)
    }

    private func forward(_ memory: AttentionMemory, queries: Tensor, sources: [Int]?,
                         queryShape: [Int]) -> (Tensor, Cache) {
        precondition(queries.rank == 3 && queries.shape[2] == querySize,
                     "attention: queries \(queries.shape), D = \(querySize)")
        let (rows, tq, d) = (queries.shape[0], queries.shape[1], querySize)
        let sources = checkedSources(sources, rows: rows, memory: memory)
        let (steps, e) = (memory.steps, memorySize)
        let runs = Self.runs(sources)
        let projected = linearQuery.map { $0.forward(queries.reshaped([rows * tq, d])).data } ?? []
        var weights = [Float](repeating: 0, count: rows * tq * steps)
        var context = [Float](repeating: 0, count: rows * tq * e)
        queries.data.withUnsafeBufferPointer { q in
            weights.withUnsafeMutableBufferPointer { w in
                context.withUnsafeMutableBufferPointer { c in
                    attend(memory, queries: q.baseAddress!, runs: runs, stepsPerRow: tq, projected: projected,
                           weights: w.baseAddress!, values: memory.states.data, width: e, context: c.baseAddress!)
                }
            }
        }
        // [c; h] → h̃ = tanh(W_c [c; h]).
        var combined = [Float](repeating: 0, count: rows * tq * (e + d))
        for i in 0..<(rows * tq) {
            for j in 0..<e { combined[i * (e + d) + j] = context[i * e + j] }
            for j in 0..<d { combined[i * (e + d) + e + j] = queries.data[i * d + j] }
        }
        let combinedTensor = Tensor(shape: [rows * tq, e + d], data: combined)
        var out = linearOut.forward(combinedTensor).data
        for i in 0..<out.count { out[i] = VectorMath.tanh(out[i]) }
        let cache = Cache(memory: memory, runs: runs, queries: queries, queryShape: queryShape,
                          projectedQueries: projected, combined: combinedTensor, output: out,
                          weights: Tensor(shape: [rows, tq, steps], data: weights),
                          context: Tensor(shape: [rows, tq, e], data: context))
        return (Tensor(shape: [rows, tq, outputSize], data: out), cache)
    }

    /// The row → source map (nil: row n over source n), checked against the memory.
    private func checkedSources(_ sources: [Int]?, rows: Int, memory: AttentionMemory) -> [Int] {
        let sources = sources ?? Array(0..<rows)
        precondition(sources.count == rows && sources.allSatisfy { (0..<memory.sources).contains($0) },
                     "attention: \(sources.count) source indices for \(rows) rows over \(memory.sources) sources")
        precondition(memory.states.shape[2] == memorySize && memory.keyWidth == (keyProjection?.outFeatures ?? memorySize),
                     "attention: the memory was made by another layer")
        return sources
    }

    /// The scores, their softmax into `weights` (rows, T_src) and the weighted sums of
    /// `values` (S, T_src, width: the states, or `contextOutputs`) into `context`, for the
    /// flattened query rows (N·T_q, D): per run of rows sharing a source, one GEMM for the
    /// scores (dot, general) and one for the sums. What `forward` and `infer` share.
    private func attend(_ memory: AttentionMemory, queries q: UnsafePointer<Float>, runs: [Run], stepsPerRow tq: Int,
                        projected: [Float], weights wAll: UnsafeMutablePointer<Float>, values valuesAll: [Float],
                        width e: Int, context cAll: UnsafeMutablePointer<Float>) {
        let (steps, k, d) = (memory.steps, memory.keyWidth, querySize)
        memory.keys.withUnsafeBufferPointer { keys in
            valuesAll.withUnsafeBufferPointer { values in
                for run in runs {
                    // The run's query rows of the flattened (N*T_q, ·) buffers.
                    let (s, first, m) = (run.source, run.first * tq, run.count * tq)
                    let n = memory.lengths[s]
                    let w = wAll + first * steps
                    let keysS = keys.baseAddress! + s * steps * k
                    if score == .additive {
                        additiveScores(into: w, keys: keysS, projected: projected, firstRow: first,
                                       rows: m, valid: n, stride: steps)
                    } else {
                        BLAS.gemm(transB: true, m: m, n: n, k: d, a: q + first * d, lda: d,
                                  b: keysS, ldb: k, beta: 0, c: w, ldc: steps)
                    }
                    AttentionSoftmax.forward(w, rows: m, valid: n, width: steps, stride: steps)
                    BLAS.gemm(m: m, n: e, k: n, a: w, lda: steps, b: values.baseAddress! + s * steps * e,
                              ldb: e, beta: 0, c: cAll + first * e, ldc: e)
                }
            }
        }
    }

    private func checkMemoryInput(_ states: Tensor, lengths: [Int]) {
        precondition(states.rank == 3 && states.shape[2] == memorySize && states.shape[0] == lengths.count,
                     "attention memory: states \(states.shape), \(lengths.count) lengths, E = \(memorySize)")
        precondition(lengths.allSatisfy { (1...states.shape[1]).contains($0) },
                     "attention memory: lengths must be in 1...\(states.shape[1])")
    }

    /// `memory` for decoding with `infer`: the keys, and the context's share of linear_out
    /// for every state, W_c[:, :E] h̄_s (S, T_src, O), so that a step forms
    /// W_c[:, :E] c_t = Σ_s α_ts W_c[:, :E] h̄_s from its weights directly (a GEMM of depth
    /// T_src) instead of the context and then linear_out's GEMM of depth E + D over [c; h].
    /// Each is one GEMM over all S·T_src rows, padding included (never read; `memory`'s
    /// GEMM per source packs the weights once per source). linear_out must be float.
    package func inferenceMemory(_ states: Tensor, lengths: [Int]) -> AttentionMemory {
        checkMemoryInput(states, lengths: lengths)
        precondition(!linearOut.isInt8, "attention: inferenceMemory needs linear_out's float weights")
        let (steps, e) = (states.shape[1], memorySize)
        /// states (S·T_src, E) · W[:, :E]ᵀ for W (n, ldw).
        func project(_ w: Parameter, ldw: Int) -> [Float] {
            let (rows, n) = (states.count / e, w.shape[0])
            return FloatKernels.array(rows * n) { y in
                states.data.withUnsafeBufferPointer { h in
                    w.value.withUnsafeBufferPointer { wp in
                        BLAS.gemm(transB: true, m: rows, n: n, k: e, a: h.baseAddress!, lda: e, b: wp.baseAddress!, ldb: ldw,
                                  beta: 0, c: y, ldc: n)
                    }
                }
            }
        }
        let keyWidth = keyProjection?.outFeatures ?? e
        return AttentionMemory(steps: steps, lengths: lengths, states: states,
                               keys: keyProjection.map { project($0.weight, ldw: e) } ?? states.data, keyWidth: keyWidth,
                               contextOutputs: project(linearOut.weight, ldw: e + querySize))
    }

    /// One decoding step for inference: queries h_t (N, D) → h̃_t (N, O) and the weights
    /// α (N, T_src), as `step` computes them (up to float rounding) but keeping nothing for
    /// backward: h̃ = tanh(Σ_s α_s W_c[:, :E] h̄_s + W_c[:, E:] h_t) over an
    /// `inferenceMemory`, the tanh vectorised (`ck_tanh`, within 2e-7 of tanhf; training
    /// keeps tanhf).
    package func infer(_ memory: AttentionMemory, query: Tensor, sources: [Int]? = nil) -> (output: Tensor, weights: Tensor) {
        precondition(query.rank == 2 && query.shape[1] == querySize, "attention: query \(query.shape), D = \(querySize)")
        let (rows, d, steps, e, o) = (query.shape[0], querySize, memory.steps, memorySize, outputSize)
        let sources = checkedSources(sources, rows: rows, memory: memory)
        precondition(memory.contextOutputs.count == memory.sources * steps * o, "attention: infer needs an inferenceMemory")
        let projected = linearQuery.map { $0.forward(query).data } ?? []
        var weights = [Float](repeating: 0, count: rows * steps)
        var z = [Float](repeating: 0, count: rows * o)   // tanh's argument
        query.data.withUnsafeBufferPointer { q in
            z.withUnsafeMutableBufferPointer { y in
                weights.withUnsafeMutableBufferPointer { w in
                    attend(memory, queries: q.baseAddress!, runs: Self.runs(sources), stepsPerRow: 1, projected: projected,
                           weights: w.baseAddress!, values: memory.contextOutputs, width: o, context: y.baseAddress!)
                }
                linearOut.weight.value.withUnsafeBufferPointer { wc in
                    BLAS.gemm(transB: true, m: rows, n: o, k: d, a: q.baseAddress!, lda: d, b: wc.baseAddress! + e, ldb: e + d,
                              beta: 1, c: y.baseAddress!, ldc: o)
                }
            }
        }
        // Into another array: in place, ck_tanh's loop fails its aliasing check and runs
        // scalar (6-7x slower).
        let out = FloatKernels.array(rows * o) { y in z.withUnsafeBufferPointer { ck_tanh($0.baseAddress!, y, Int64(rows * o)) } }
        return (Tensor(shape: [rows, o], data: out), Tensor(shape: [rows, steps], data: weights))
    }

    /// scores[t, j] = Σ_a v_a tanh(K[j, a] + P[t, a]) for the valid positions j. No GEMM
    /// can form it (tanh sits between the two sides): its cost is T_q × T_src × A, with
    /// the kernels' vectorised tanh over a query's (T_src, A) block.
    private func additiveScores(into w: UnsafeMutablePointer<Float>, keys: UnsafePointer<Float>, projected: [Float],
                                firstRow: Int, rows: Int, valid: Int, stride: Int) {
        let a = attentionSize
        var hidden = [Float](repeating: 0, count: valid * a)
        v!.value.withUnsafeBufferPointer { va in
            projected.withUnsafeBufferPointer { p in
                hidden.withUnsafeMutableBufferPointer { hb in
                    let u = hb.baseAddress!
                    for t in 0..<rows {
                        Self.additiveHidden(u, keys: keys, query: p.baseAddress! + (firstRow + t) * a, valid: valid, width: a)
                        for j in 0..<valid {
                            var sum: Float = 0
                            for i in 0..<a { sum += va[i] * u[j * a + i] }
                            w[t * stride + j] = sum
                        }
                    }
                }
            }
        }
    }

    /// u (valid, A) = tanh(K[j] + P_t) for one query.
    private static func additiveHidden(_ u: UnsafeMutablePointer<Float>, keys: UnsafePointer<Float>,
                                       query: UnsafePointer<Float>, valid: Int, width a: Int) {
        for j in 0..<valid { for i in 0..<a { u[j * a + i] = keys[j * a + i] + query[i] } }
        ck_tanh(u, u, Int64(valid * a))
    }

    /// dh̃ (the forward's output shape) → the queries' gradient (their shape). ADDS into
    /// the parameters and into `memoryGrad` (the keys' and states' shares, for
    /// `backward(_:memoryGrad:)`). `contextGrad` (N, T_q, E), if given, is a gradient
    /// arriving at the contexts from elsewhere (a decoder that also reads c_t). The
    /// linear layers' weight gradients go through `deferring` (DeferredWeightGradients).
    public func backward(_ cache: Cache, outputGrad dOut: Tensor, contextGrad: Tensor? = nil,
                         memoryGrad: inout AttentionMemoryGradient, deferring: DeferredWeightGradients? = nil) -> Tensor {
        let memory = cache.memory
        let (rows, tq, d) = (cache.queries.shape[0], cache.queries.shape[1], querySize)
        let (steps, e, k) = (memory.steps, memorySize, memory.keyWidth)
        precondition(dOut.count == rows * tq * outputSize, "attention backward: dOut has the wrong size")
        precondition(contextGrad.map { $0.count == rows * tq * e } ?? true, "attention backward: contextGrad has the wrong size")
        precondition(memoryGrad.values.count == memory.states.count, "attention backward: memoryGrad is for another memory")
        // Through h̃ = tanh(z) and z = W_c [c; h].
        var dz = dOut.data
        for i in 0..<dz.count { let y = cache.output[i]; dz[i] *= 1 - y * y }
        let dCombined = linearOut.backward(cache.combined, outputGrad: Tensor(shape: [rows * tq, outputSize], data: dz),
                                           deferring: deferring).data
        var dContext = [Float](repeating: 0, count: rows * tq * e)
        var dQueries = [Float](repeating: 0, count: rows * tq * d)
        for i in 0..<(rows * tq) {
            for j in 0..<e { dContext[i * e + j] = dCombined[i * (e + d) + j] }
            for j in 0..<d { dQueries[i * d + j] = dCombined[i * (e + d) + e + j] }
        }
        if let contextGrad { VectorMath.add(contextGrad.data, into: &dContext, count: dContext.count) }
        var dProjected = [Float](repeating: 0, count: cache.projectedQueries.count)
        var dScores = [Float](repeating: 0, count: (cache.runs.map(\.count).max() ?? 0) * tq * steps)  // a run's, reused
        cache.weights.data.withUnsafeBufferPointer { wBuf in
            dContext.withUnsafeBufferPointer { dc in
                memory.states.data.withUnsafeBufferPointer { values in
                    memory.keys.withUnsafeBufferPointer { keys in
                        cache.queries.data.withUnsafeBufferPointer { q in
                            dScores.withUnsafeMutableBufferPointer { ds in
                                memoryGrad.values.withUnsafeMutableBufferPointer { dv in
                                    memoryGrad.keys.withUnsafeMutableBufferPointer { dk in
                                        dQueries.withUnsafeMutableBufferPointer { dq in
                                            for run in cache.runs {
                                                let (s, first, m) = (run.source, run.first * tq, run.count * tq)
                                                let n = memory.lengths[s]
                                                let w = wBuf.baseAddress! + first * steps
                                                let dcR = dc.baseAddress! + first * e
                                                let valuesS = values.baseAddress! + s * steps * e
                                                let keysS = keys.baseAddress! + s * steps * k
                                                let dkS = dk.baseAddress! + s * steps * k
                                                // dα = dc Vᵀ; dV += αᵀ dc.
                                                BLAS.gemm(transB: true, m: m, n: n, k: e, a: dcR, lda: e, b: valuesS, ldb: e,
                                                          beta: 0, c: ds.baseAddress!, ldc: steps)
                                                BLAS.gemm(transA: true, m: n, n: e, k: m, a: w, lda: steps, b: dcR, ldb: e,
                                                          beta: 1, c: dv.baseAddress! + s * steps * e, ldc: e)
                                                AttentionSoftmax.backward(weights: w, weightStride: steps, grad: ds.baseAddress!,
                                                                          gradStride: steps, rows: m, valid: n)
                                                if score == .additive {
                                                    additiveBackward(dScores: ds.baseAddress!, keys: keysS, keyGrad: dkS,
                                                                     projected: cache.projectedQueries, dProjected: &dProjected,
                                                                     firstRow: first, rows: m, valid: n, stride: steps)
                                                } else {
                                                    // dq += dS K; dK += dSᵀ q.
                                                    BLAS.gemm(m: m, n: d, k: n, a: ds.baseAddress!, lda: steps, b: keysS, ldb: k,
                                                              beta: 1, c: dq.baseAddress! + first * d, ldc: d)
                                                    BLAS.gemm(transA: true, m: n, n: k, k: m, a: ds.baseAddress!, lda: steps,
                                                              b: q.baseAddress! + first * d, ldb: d, beta: 1, c: dkS, ldc: k)
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if let linearQuery {
            let dq = linearQuery.backward(cache.queries.reshaped([rows * tq, d]),
                                          outputGrad: Tensor(shape: [rows * tq, attentionSize], data: dProjected),
                                          deferring: deferring)
            VectorMath.add(dq.data, into: &dQueries, count: dQueries.count)
        }
        return Tensor(shape: cache.queryShape, data: dQueries)
    }

    /// The additive score's backward for a run's query rows (u recomputed, not cached: it
    /// is T_q × T_src × A floats): dv += dS u, and dS v (1 − u²) into both W_1 h̄ and W_2 h.
    private func additiveBackward(dScores: UnsafePointer<Float>, keys: UnsafePointer<Float>,
                                  keyGrad: UnsafeMutablePointer<Float>, projected: [Float], dProjected: inout [Float],
                                  firstRow: Int, rows: Int, valid: Int, stride: Int) {
        let a = attentionSize
        let v = v!
        var hidden = [Float](repeating: 0, count: valid * a)
        v.value.withUnsafeBufferPointer { va in
            v.grad.withUnsafeMutableBufferPointer { dva in
                projected.withUnsafeBufferPointer { p in
                    dProjected.withUnsafeMutableBufferPointer { dp in
                        hidden.withUnsafeMutableBufferPointer { hb in
                            let u = hb.baseAddress!
                            for t in 0..<rows {
                                let pt = p.baseAddress! + (firstRow + t) * a, dpt = dp.baseAddress! + (firstRow + t) * a
                                Self.additiveHidden(u, keys: keys, query: pt, valid: valid, width: a)
                                for j in 0..<valid {
                                    let g = dScores[t * stride + j]
                                    let uj = u + j * a, dkj = keyGrad + j * a
                                    for i in 0..<a {
                                        dva[i] += g * uj[i]
                                        let dPre = g * va[i] * (1 - uj[i] * uj[i])
                                        dpt[i] += dPre
                                        dkj[i] += dPre
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
