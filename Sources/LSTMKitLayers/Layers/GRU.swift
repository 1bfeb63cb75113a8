import CKernels
import LSTMKitCore

/// A multi-layer, optionally bidirectional GRU with PyTorch's semantics and names
/// (nn.GRU, batch_first=True).
///
/// Per layer and direction, with x W_ih^T + b_ih split into xr, xz, xn and
/// h W_hh^T + b_hh into hr, hz, hn (in that order):
/// r = σ(xr + hr), z = σ(xz + hz), n = tanh(xn + r ⊙ hn), h' = (1 - z) ⊙ n + z ⊙ h.
/// b_hn stays inside r ⊙ (W_hn h + b_hn), so the two biases are not interchangeable.
///
/// Sequences in a batch may have different lengths: steps at t >= length neither
/// change the state nor receive gradient, their outputs are 0, and the reverse
/// direction starts at each sequence's own last step.
///
/// The computation is the LSTM's: one GEMM projects a chunk of steps' inputs for all
/// three gates, one GEMM per step forms the recurrent projections (a matrix-vector
/// kernel for a batch of one), the gate math is one vectorised pass per row (the C
/// kernels ck_gru_cell_forward/backward), and the backward pass forms each weight
/// gradient with one GEMM per chunk. `forward` does not modify the layer (except, in
/// training, the dropout generator and the spare buffers), so many threads can run
/// inference on one GRU.
public final class GRU: RecurrentStack {
    public init(_ config: RecurrentConfig) throws {
        try super.init(config, gates: 3)
    }

    // MARK: - Forward

    /// What backward needs from one forward pass.
    public typealias Cache = RecurrentStackCache<DirectionCache>

    /// Per direction, by step (row s*B + b is row b at step s, time index t_b(s)):
    /// the activated gates r, z, n (T, B, 3H), hn = W_hn h + b_hn (T, B, H), and the
    /// states (T+1, B, H) with row block 0 the initial state.
    public struct DirectionCache {
        var gates: [Float]
        var hn: [Float]
        var h: [Float]
    }

    public struct Output {
        /// (B, T, K*H); zero at padded steps.
        public var y: Tensor
        /// Each sequence's h after its last step: (L*K, B, H).
        public var final: Tensor
        public var cache: Cache
    }

    /// Checks x (B, T, D), lengths and an initial h (L*K, B, H); returns the lengths as Ints.
    public func validate(x: Tensor, lengths: [Int32]?, initial: Tensor?) throws -> [Int] {
        try config.validate(x: x, lengths: lengths, states: initial.map { [("h0", $0)] } ?? [])
    }

    /// Validates the inputs, then runs the forward pass.
    public func run(_ x: Tensor, lengths: [Int32]? = nil, initial: Tensor? = nil, training: Bool = false) throws -> Output {
        let lens = try validate(x: x, lengths: lengths, initial: initial)
        return forward(x, lengths: lens, initial: initial, training: training)
    }

    /// Validates the inputs, then runs inference (`infer`).
    public func runInference(_ x: Tensor, lengths: [Int32]? = nil, initial: Tensor? = nil) throws -> (y: Tensor, final: Tensor) {
        let lens = try validate(x: x, lengths: lengths, initial: initial)
        return infer(x, lengths: lens, initial: initial)
    }

    /// Runs the stack, keeping what backward needs. `training` enables dropout between
    /// layers. Inputs must be valid (see `validate`); `run` is the checked entry point.
    public func forward(_ x: Tensor, lengths: [Int], initial: Tensor? = nil, training: Bool = false) -> Output {
        if quantized != nil {
            precondition(!training, "an int8-quantized GRU is for inference only: train the float32 model")
            let out = infer(x, lengths: lengths, initial: initial)
            return Output(y: out.y, final: out.final, cache: Cache(batch: x.shape[0], steps: x.shape[1], lengths: lengths))
        }
        let (batch, steps) = (x.shape[0], x.shape[1])
        let hSize = config.hiddenSize, stateRows = batch * hSize
        var final = Tensor(zeros: [config.numLayers * config.directions, batch, hSize])
        let (y, cache) = config.forwardLayers(x, lengths: lengths, training: training, rng: &dropoutRNG) {
            index, reverse, input, inSize, y in
            let rows = (index * stateRows)..<((index + 1) * stateRows)
            let dc = runDirection(
                index: index, reverse: reverse, input: input, inSize: inSize,
                batch: batch, steps: steps, lengths: lengths, reuseBuffers: training,
                h0: initial.map { Array($0.data[rows]) }, y: &y, column: reverse ? hSize : 0, ldy: config.outputSize)
            // The final state is the last row block of the carried states.
            final.data.replaceSubrange(rows, with: dc.h[(steps * stateRows)...])
            return dc
        }
        return Output(y: y, final: final, cache: cache)
    }

    /// Inference only: the result of `forward(training: false)` without keeping
    /// anything for backward: per direction one chunk of steps' gates and one (B, H)
    /// state updated in place. With more than one BLAS thread allowed, the two
    /// directions of a layer run at the same time. A batch's per-step product may run on
    /// W_hh packed once (`PackedRecurrentProduct`): then within float32 rounding of it.
    public func infer(_ x: Tensor, lengths: [Int], initial: Tensor? = nil) -> (y: Tensor, final: Tensor) {
        if let quantized {
            let out = quantized.infer(sequences: x, lengths: lengths, initial: initial.map { RecurrentState(h: $0, c: nil) })
            return (out.y, out.state.h)
        }
        let (batch, steps) = (x.shape[0], x.shape[1])
        var final = initial ?? Tensor(zeros: [config.numLayers * config.directions, batch, config.hiddenSize])
        let y = final.data.withUnsafeMutableBufferPointer { H in
            let h = H.baseAddress!
            return config.inferLayers(x) { index, reverse, input, inSize, y in
                inferDirection(index: index, reverse: reverse, input: input, inSize: inSize,
                               batch: batch, steps: steps, lengths: lengths, h: h, y: y)
            }
        }
        return (y, final)
    }

    /// One direction of one layer for `infer`: updates its (B, H) rows of h in place
    /// (the whole (L*K, B, H) state is passed) and writes its columns of y.
    private func inferDirection(index: Int, reverse: Bool, input x: UnsafePointer<Float>, inSize: Int,
                                batch: Int, steps: Int, lengths: [Int],
                                h hAll: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let hSize = config.hiddenSize, g3 = 3 * hSize, outSize = config.outputSize
        let column = reverse ? hSize : 0
        let h = hAll + index * batch * hSize
        let active = PaddedSteps.activeRows(lengths: lengths, steps: steps)
        let chunk = PaddedSteps.projectionChunk(batch: batch, steps: steps)
        let gates = UnsafeMutablePointer<Float>.allocate(capacity: chunk * batch * g3)
        let stepInput = UnsafeMutablePointer<Float>.allocate(capacity: chunk * batch * inSize)
        let hg = UnsafeMutablePointer<Float>.allocate(capacity: batch * g3)
        let hNew = UnsafeMutablePointer<Float>.allocate(capacity: hSize)
        defer { gates.deallocate(); stepInput.deallocate(); hg.deallocate(); hNew.deallocate() }
        weightIH[index].value.withUnsafeBufferPointer { WIH in
        weightHH[index].value.withUnsafeBufferPointer { WHH in
        biasIH[index].value.withUnsafeBufferPointer { BIH in
        biasHH[index].value.withUnsafeBufferPointer { BHH in
            let packed = PackedRecurrentProduct(self, index: index, batch: batch)
            for s0 in stride(from: 0, to: steps, by: chunk) {
                let n = min(chunk, steps - s0)
                PaddedSteps.projectSteps(x, inSize: inSize, batch: batch, steps: steps, lengths: lengths,
                                         reverse: reverse, from: s0, count: n,
                                         weight: WIH.baseAddress!, bias: BIH.baseAddress!, width: g3,
                                         scratch: stepInput, into: gates)
                for s in s0..<(s0 + n) {
                    let gs = gates + (s - s0) * batch * g3
                    Self.recurrentProjection(rows: active[s], batch: batch, hidden: hSize, h: h,
                                             weight: WHH.baseAddress!, bias: BHH.baseAddress!, packed: packed, into: hg)
                    for b in 0..<active[s] {
                        // Finished rows keep their state: it is their final state.
                        guard let t = PaddedSteps.timeIndex(step: s, length: lengths[b], reverse: reverse) else { continue }
                        // The kernel's arrays must not overlap: the new h into a scratch row.
                        ck_gru_cell_forward(gs + b * g3, hg + b * g3, Int64(hSize), h + b * hSize, hNew, nil,
                                            y + (b * steps + t) * outSize + column)
                        (h + b * hSize).update(from: hNew, count: hSize)
                    }
                }
            }
        }
        }
        }
        }
    }

    /// The recurrent projections of one step: hg (rows, 3H) = b_hh + h W_hh^T, for the
    /// first `rows` rows (the running ones). A batch of one takes the matrix-vector
    /// kernel (a GEMM would repack W_hh every step). Forward and inference both call it,
    /// so they agree bit for bit, except where inference passes W_hh packed for a
    /// batch's GEMM (`PackedRecurrentProduct`: last-bit differences).
    @inline(__always)
    private static func recurrentProjection(rows: Int, batch: Int, hidden: Int, h: UnsafePointer<Float>,
                                            weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                            packed: PackedRecurrentProduct?, into hg: UnsafeMutablePointer<Float>) {
        let g3 = 3 * hidden
        for r in 0..<rows { (hg + r * g3).update(from: bias, count: g3) }
        if let packed {
            packed.add(rows: rows, h: h, into: hg)
            return
        }
        if batch == 1 {
            if rows == 1 { ck_gemv_accumulate(weight, Int64(g3), Int64(hidden), h, hg) }
            return
        }
        BLAS.gemm(transB: true, m: rows, n: g3, k: hidden,
                  a: h, lda: hidden, b: weight, ldb: hidden,
                  beta: 1, c: hg, ldc: g3)
    }

    /// One direction of one layer over the whole batch; writes its h into y's columns
    /// [column, column + H) and returns what backward needs.
    private func runDirection(index: Int, reverse: Bool, input: [Float], inSize: Int,
                              batch: Int, steps: Int, lengths: [Int], reuseBuffers: Bool,
                              h0: [Float]?, y: inout [Float], column: Int, ldy: Int) -> DirectionCache {
        let hSize = config.hiddenSize, g3 = 3 * hSize
        // The input projections of every step, in step order, filled a chunk of steps at
        // a time; the cell turns each row into r, z, n in place.
        var gates = spareBuffers.zeroed(steps * batch * g3, reuse: reuseBuffers)
        var hn = spareBuffers.zeroed(steps * batch * hSize, reuse: reuseBuffers)
        var hs = spareBuffers.zeroed((steps + 1) * batch * hSize, reuse: reuseBuffers)
        if let h0 { hs.replaceSubrange(0..<(batch * hSize), with: h0) }

        let active = PaddedSteps.activeRows(lengths: lengths, steps: steps)
        let chunk = PaddedSteps.projectionChunk(batch: batch, steps: steps)
        var scratch = [Float](repeating: 0, count: chunk * batch * inSize)
        var hg = [Float](repeating: 0, count: batch * g3)
        gates.withUnsafeMutableBufferPointer { G in
        hn.withUnsafeMutableBufferPointer { HN in
        hs.withUnsafeMutableBufferPointer { HS in
        hg.withUnsafeMutableBufferPointer { HG in
        y.withUnsafeMutableBufferPointer { Y in
        input.withUnsafeBufferPointer { X in
        scratch.withUnsafeMutableBufferPointer { XS in
        weightIH[index].value.withUnsafeBufferPointer { WIH in
        weightHH[index].value.withUnsafeBufferPointer { WHH in
        biasIH[index].value.withUnsafeBufferPointer { BIH in
        biasHH[index].value.withUnsafeBufferPointer { BHH in
            for s in 0..<steps {
                let gs = G.baseAddress! + s * batch * g3
                if s % chunk == 0 {
                    PaddedSteps.projectSteps(X.baseAddress!, inSize: inSize, batch: batch, steps: steps, lengths: lengths,
                                             reverse: reverse, from: s, count: min(chunk, steps - s),
                                             weight: WIH.baseAddress!, bias: BIH.baseAddress!, width: g3,
                                             scratch: XS.baseAddress!, into: gs)
                }
                let hPrev = HS.baseAddress! + s * batch * hSize
                let hNext = hPrev + batch * hSize
                Self.recurrentProjection(rows: active[s], batch: batch, hidden: hSize, h: hPrev,
                                         weight: WHH.baseAddress!, bias: BHH.baseAddress!, packed: nil,
                                         into: HG.baseAddress!)
                for b in 0..<batch {
                    guard let t = PaddedSteps.timeIndex(step: s, length: lengths[b], reverse: reverse) else {
                        // Finished sequence: carry the state, leave no trace in the gates.
                        (hNext + b * hSize).update(from: hPrev + b * hSize, count: hSize)
                        (gs + b * g3).update(repeating: 0, count: g3)
                        continue
                    }
                    ck_gru_cell_forward(gs + b * g3, HG.baseAddress! + b * g3, Int64(hSize), hPrev + b * hSize,
                                        hNext + b * hSize, HN.baseAddress! + (s * batch + b) * hSize,
                                        Y.baseAddress! + (b * steps + t) * ldy + column)
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
        }
        }
        return DirectionCache(gates: gates, hn: hn, h: hs)
    }

    // MARK: - Backward

    /// Back-propagates dY (B, T, K*H) and, optionally, the gradient of the final h
    /// (L*K, B, H); ACCUMULATES into every parameter's grad and returns dx (B, T, D)
    /// and d h0 (L*K, B, H).
    public func backward(_ cache: Cache, outputGrad dY: Tensor, finalGrad: Tensor? = nil) -> (dx: Tensor, dInitial: Tensor) {
        precondition(quantized == nil, "an int8-quantized GRU is for inference only: train the float32 model")
        let hSize = config.hiddenSize, stateRows = cache.batch * hSize
        var dInitial = Tensor(zeros: [config.numLayers * config.directions, cache.batch, hSize])
        let dx = config.backwardLayers(cache, outputGrad: dY) { index, reverse, saved, input, inSize, dOut, dIn in
            let rows = (index * stateRows)..<((index + 1) * stateRows)
            let dh0 = backDirection(
                index: index, reverse: reverse, cache: saved, input: input, inSize: inSize,
                batch: cache.batch, steps: cache.steps, lengths: cache.lengths,
                dY: dOut, column: reverse ? hSize : 0, ldy: config.outputSize,
                dhFinal: finalGrad.map { Array($0.data[rows]) }, dInput: &dIn)
            dInitial.data.replaceSubrange(rows, with: dh0)
        }
        spareBuffers.keep(cache.directions.flatMap { [$0.gates, $0.hn, $0.h] })
        return (dx, dInitial)
    }

    /// One direction of one layer backwards in time, a chunk of steps at a time (the
    /// forward pass's chunks): the chunk's gradients w.r.t. the input projections (dX)
    /// and the recurrent ones (dHg), both (rows, 3H) in step order, feed the weight-
    /// gradient GEMMs while still in cache. Adds into dInput (B, T, in) and the
    /// parameters' grads; returns the gradient w.r.t. this direction's h0.
    private func backDirection(index: Int, reverse: Bool, cache: DirectionCache,
                               input: [Float], inSize: Int,
                               batch: Int, steps: Int, lengths: [Int],
                               dY: [Float], column: Int, ldy: Int,
                               dhFinal: [Float]?, dInput: inout [Float]) -> [Float] {
        let hSize = config.hiddenSize, g3 = 3 * hSize
        var dh = dhFinal ?? [Float](repeating: 0, count: batch * hSize)
        let active = PaddedSteps.activeRows(lengths: lengths, steps: steps)
        let chunk = PaddedSteps.projectionChunk(batch: batch, steps: steps)
        var dX = [Float](repeating: 0, count: chunk * batch * g3)
        var dHg = [Float](repeating: 0, count: chunk * batch * g3)
        var xs = [Float](repeating: 0, count: chunk * batch * inSize)   // inputs, step order
        var dxs = [Float](repeating: 0, count: chunk * batch * inSize)  // their gradient
        var dbIH = [Float](repeating: 0, count: g3)
        var dbHH = [Float](repeating: 0, count: g3)

        dX.withUnsafeMutableBufferPointer { DXG in
        dHg.withUnsafeMutableBufferPointer { DHG in
        dh.withUnsafeMutableBufferPointer { DH in
        xs.withUnsafeMutableBufferPointer { XS in
        dxs.withUnsafeMutableBufferPointer { DXS in
        dbIH.withUnsafeMutableBufferPointer { DBI in
        dbHH.withUnsafeMutableBufferPointer { DBH in
        cache.gates.withUnsafeBufferPointer { G in
        cache.hn.withUnsafeBufferPointer { HN in
        cache.h.withUnsafeBufferPointer { HS in
        dY.withUnsafeBufferPointer { DY in
        input.withUnsafeBufferPointer { X in
        dInput.withUnsafeMutableBufferPointer { DX in
        weightHH[index].value.withUnsafeBufferPointer { WHH in
            let (dxg, dhg) = (DXG.baseAddress!, DHG.baseAddress!)
            for s0 in stride(from: (steps - 1) / chunk * chunk, through: 0, by: -chunk) {
                let n = min(chunk, steps - s0)
                for s in stride(from: s0 + n - 1, through: s0, by: -1) {
                    let row0 = (s - s0) * batch
                    for b in 0..<batch {
                        // Finished sequences keep dh: the carried state passes it through.
                        guard let t = PaddedSteps.timeIndex(step: s, length: lengths[b], reverse: reverse) else {
                            (dxg + (row0 + b) * g3).update(repeating: 0, count: g3)
                            (dhg + (row0 + b) * g3).update(repeating: 0, count: g3)
                            continue
                        }
                        ck_gru_cell_backward(
                            G.baseAddress! + (s * batch + b) * g3, HN.baseAddress! + (s * batch + b) * hSize,
                            Int64(hSize), HS.baseAddress! + (s * batch + b) * hSize,
                            DH.baseAddress! + b * hSize, DY.baseAddress! + (b * steps + t) * ldy + column,
                            dxg + (row0 + b) * g3, dhg + (row0 + b) * g3)
                    }
                    // dh_{s-1} = z dh + dHg_s W_hh for the rows that ran this step.
                    BLAS.gemm(m: active[s], n: hSize, k: g3,
                              a: dhg + row0 * g3, lda: g3, b: WHH.baseAddress!, ldb: hSize,
                              beta: 1, c: DH.baseAddress!, ldc: hSize)
                }
                addChunkGradients(index: index, dInput: dxg, dRecurrent: dhg, dbInput: DBI.baseAddress!,
                                  dbRecurrent: DBH.baseAddress!, hPrev: HS.baseAddress! + s0 * batch * hSize,
                                  x: X.baseAddress!, inSize: inSize, batch: batch, steps: steps, lengths: lengths,
                                  reverse: reverse, from: s0, count: n,
                                  xs: XS.baseAddress!, dxs: DXS.baseAddress!, dx: DX.baseAddress!)
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
        }
        }
        }
        }
        for j in 0..<g3 {
            biasIH[index].grad[j] += dbIH[j]
            biasHH[index].grad[j] += dbHH[j]
        }
        return dh
    }
}

extension GRU: RecurrentLayer {
    public var cell: RecurrentCell { .gru }

    public func forward(sequences x: Tensor, lengths: [Int], initial: RecurrentState?, training: Bool) -> RecurrentOutput {
        let out = forward(x, lengths: lengths, initial: initial?.h, training: training)
        return RecurrentOutput(y: out.y, state: RecurrentState(h: out.final), cache: RecurrentCache(value: out.cache))
    }

    public func infer(sequences x: Tensor, lengths: [Int], initial: RecurrentState?) -> (y: Tensor, state: RecurrentState) {
        let out = infer(x, lengths: lengths, initial: initial?.h)
        return (out.y, RecurrentState(h: out.final))
    }

    public func backward(_ cache: RecurrentCache, outputGrad dY: Tensor, finalGrad: Tensor?) -> Tensor {
        guard let cache = cache.value as? Cache else { preconditionFailure("GRU.backward: the cache is not a GRU's") }
        return backward(cache, outputGrad: dY, finalGrad: finalGrad).dx
    }
}
