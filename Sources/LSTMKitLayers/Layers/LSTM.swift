import CKernels
import LSTMKitCore

/// The recurrent state of every layer and direction: h and c, each (L*K, B, H).
public struct LSTMState: Equatable, Sendable {
    public var h: Tensor
    public var c: Tensor

    public init(h: Tensor, c: Tensor) {
        self.h = h
        self.c = c
    }

    /// A layer-agnostic state as the LSTM's (c nil: zeros).
    public init(_ state: RecurrentState) {
        self.init(h: state.h, c: state.c ?? Tensor(zeros: state.h.shape))
    }

    public init(zerosFor config: LSTMConfig, batch: Int) {
        let shape = [config.numLayers * config.directions, batch, config.hiddenSize]
        self.init(h: Tensor(zeros: shape), c: Tensor(zeros: shape))
    }
}

extension RecurrentState {
    /// The LSTM's state (h and c).
    public init(_ state: LSTMState) { self.init(h: state.h, c: state.c) }
}

/// A multi-layer, optionally bidirectional LSTM with PyTorch's semantics and names.
///
/// Per layer and direction: gates = x W_ih^T + b_ih + h W_hh^T + b_hh, split into
/// i, f, g, o (in that order); c' = σ(f) c + σ(i) tanh(g); h' = σ(o) tanh(c').
///
/// Sequences in a batch may have different lengths: steps at t >= length neither
/// change the state nor receive gradient, their outputs are 0, and the reverse
/// direction starts at each sequence's own last step.
///
/// The computation: one GEMM projects all time steps' inputs for all four gates,
/// one GEMM per step adds the recurrence, the gate math is one pass per row (the C
/// kernels ck_lstm_cell_forward/backward, vectorised for the CPU it runs on), and the
/// backward pass forms each weight gradient with one GEMM over all steps.
/// `forward` does not modify the layer (except, in training, the dropout generator and
/// the spare buffers), so many threads can run inference on one LSTM.
public final class LSTM: RecurrentStack {
    public init(_ config: LSTMConfig) throws {
        try super.init(config, gates: 4)
    }

    // MARK: - Forward

    /// What backward needs from one forward pass.
    public typealias Cache = RecurrentStackCache<DirectionCache>

    /// Per direction: activated gates (T, B, 4H) by step, and states (T+1, B, H) with
    /// row block 0 the initial state; step s holds the time index t_b(s) of each row.
    public struct DirectionCache {
        var gates: [Float]
        var h: [Float]
        var c: [Float]
    }

    public struct Output {
        /// (B, T, K*H); zero at padded steps.
        public var y: Tensor
        /// Each sequence's state after its last step: (L*K, B, H).
        public var final: LSTMState
        public var cache: Cache
    }

    /// Checks x (B, T, D), lengths and an initial state; returns the lengths as Ints.
    public func validate(x: Tensor, lengths: [Int32]?, initial: LSTMState?) throws -> [Int] {
        try config.validate(x: x, lengths: lengths, states: initial.map { [("h0", $0.h), ("c0", $0.c)] } ?? [])
    }

    /// Runs the stack. `training` enables dropout between layers.
    /// Inputs must be valid (see `validate`); `run` is the checked entry point.
    public func forward(_ x: Tensor, lengths: [Int], initial: LSTMState? = nil, training: Bool = false) -> Output {
        if quantized != nil {
            precondition(!training, "an int8-quantized LSTM is for inference only: train the float32 model")
            let out = infer(x, lengths: lengths, initial: initial)
            return Output(y: out.y, final: out.final, cache: Cache(batch: x.shape[0], steps: x.shape[1], lengths: lengths))
        }
        let (batch, steps) = (x.shape[0], x.shape[1])
        let hSize = config.hiddenSize, stateRows = batch * hSize
        var final = LSTMState(zerosFor: config, batch: batch)
        let (y, cache) = config.forwardLayers(x, lengths: lengths, training: training, rng: &dropoutRNG) {
            index, reverse, input, inSize, y in
            let rows = (index * stateRows)..<((index + 1) * stateRows)
            let dc = runDirection(
                index: index, reverse: reverse, input: input, inSize: inSize,
                batch: batch, steps: steps, lengths: lengths, reuseBuffers: training,
                h0: initial.map { Array($0.h.data[rows]) }, c0: initial.map { Array($0.c.data[rows]) },
                y: &y, column: reverse ? hSize : 0, ldy: config.outputSize)
            // The final state is the last row block of the carried states.
            final.h.data.replaceSubrange(rows, with: dc.h[(steps * stateRows)...])
            final.c.data.replaceSubrange(rows, with: dc.c[(steps * stateRows)...])
            return dc
        }
        return Output(y: y, final: final, cache: cache)
    }

    /// Inference only: the result of `forward(training: false)` without keeping
    /// anything for backward. Per direction it holds the gates of one chunk of steps
    /// (see `projectionChunkRows`) and one (B, H) state updated in place, instead of
    /// every step's gates and states.
    ///
    /// With more than one BLAS thread allowed, the two directions of a layer run at the
    /// same time on two cores, each with one BLAS thread: they are independent, and one
    /// small GEMM per step gains far less from two threads than two GEMMs from two cores.
    /// A unidirectional batch of one splits each step over two cores instead
    /// (`SplitRecurrence`). Both give forward's result to the bit wherever OpenBLAS's
    /// own sums do not depend on its thread count (its AVX-512 kernels; its AVX2 ones,
    /// forced by OPENBLAS_CORETYPE=Haswell, round differently with 2 threads), except
    /// where a batch's per-step product runs on W_hh packed once
    /// (`PackedRecurrentProduct`, AVX2 CPUs): then within float32 rounding of it.
    public func infer(_ x: Tensor, lengths: [Int], initial: LSTMState? = nil) -> (y: Tensor, final: LSTMState) {
        if let quantized {
            let out = quantized.infer(sequences: x, lengths: lengths, initial: initial.map(RecurrentState.init))
            return (out.y, LSTMState(out.state))
        }
        let (batch, steps) = (x.shape[0], x.shape[1])
        var final = initial ?? LSTMState(zerosFor: config, batch: batch)
        let y = final.h.data.withUnsafeMutableBufferPointer { H in
            final.c.data.withUnsafeMutableBufferPointer { C in
                let (h, c) = (H.baseAddress!, C.baseAddress!)
                return config.inferLayers(x) { index, reverse, input, inSize, y in
                    inferDirection(index: index, reverse: reverse, input: input, inSize: inSize,
                                   batch: batch, steps: steps, lengths: lengths, h: h, c: c, y: y)
                }
            }
        }
        return (y, final)
    }

    /// One direction of one layer for `infer`: updates its (B, H) rows of h and c in
    /// place (the whole (L*K, B, H) state is passed) and writes its columns of y.
    private func inferDirection(index: Int, reverse: Bool, input x: UnsafePointer<Float>, inSize: Int,
                                batch: Int, steps: Int, lengths: [Int],
                                h hAll: UnsafeMutablePointer<Float>, c cAll: UnsafeMutablePointer<Float>,
                                y: UnsafeMutablePointer<Float>) {
        let hSize = config.hiddenSize, g4 = 4 * hSize, outSize = config.outputSize
        let column = reverse ? hSize : 0
        let h = hAll + index * batch * hSize, c = cAll + index * batch * hSize
        let active = PaddedSteps.activeRows(lengths: lengths, steps: steps)
        let chunk = PaddedSteps.projectionChunk(batch: batch, steps: steps)
        let gates = UnsafeMutablePointer<Float>.allocate(capacity: chunk * batch * g4)
        let stepInput = UnsafeMutablePointer<Float>.allocate(capacity: chunk * batch * inSize)
        defer { gates.deallocate(); stepInput.deallocate() }
        let bias = combinedBias(index)
        bias.withUnsafeBufferPointer { BIAS in
        weightIH[index].value.withUnsafeBufferPointer { WIH in
        weightHH[index].value.withUnsafeBufferPointer { WHH in
            let split = SplitRecurrence(self, index: index, batch: batch, steps: steps)
            let recurrence = split == nil
                ? Recurrence(self, index: index, weight: WHH.baseAddress!, batch: batch, steps: steps, inference: true) : nil
            // The split's helper thread needs the second core: an OpenBLAS worker woken
            // for the (small) input projection would keep spinning on it.
            if split != nil { BLASThreadPin.enter() }
            defer { if split != nil { BLASThreadPin.leave() } }
            for s0 in stride(from: 0, to: steps, by: chunk) {
                let n = min(chunk, steps - s0)
                PaddedSteps.projectSteps(x, inSize: inSize, batch: batch, steps: steps, lengths: lengths,
                                  reverse: reverse, from: s0, count: n,
                                  weight: WIH.baseAddress!, bias: BIAS.baseAddress!, width: g4,
                                  scratch: stepInput, into: gates)
                if let split {
                    // A batch of one: its steps in this chunk, all at once, on two cores.
                    split.runChunk(gates: gates, from: s0, count: n, length: lengths[0], reverse: reverse,
                                   h: h, c: c, y: y, outSize: outSize, column: column)
                    continue
                }
                for s in s0..<(s0 + n) {
                    let gs = gates + (s - s0) * batch * g4
                    recurrence!.add(rows: active[s], h: h, gates: gs)
                    for b in 0..<active[s] {
                        // Finished rows keep their state: it is their final state.
                        guard let t = PaddedSteps.timeIndex(step: s, length: lengths[b], reverse: reverse) else { continue }
                        ck_lstm_cell_infer(gs + b * g4, Int64(hSize), c + b * hSize, h + b * hSize,
                                           y + (b * steps + t) * outSize + column)
                    }
                }
            }
        }
        }
        }
    }

    /// Validates the inputs, then runs inference (`infer`).
    public func runInference(_ x: Tensor, lengths: [Int32]? = nil, initial: LSTMState? = nil) throws -> (y: Tensor, final: LSTMState) {
        let lens = try validate(x: x, lengths: lengths, initial: initial)
        return infer(x, lengths: lens, initial: initial)
    }

    /// Validates the inputs, then runs the forward pass.
    public func run(_ x: Tensor, lengths: [Int32]? = nil, initial: LSTMState? = nil,
                    training: Bool = false) throws -> Output {
        let lens = try validate(x: x, lengths: lengths, initial: initial)
        return forward(x, lengths: lens, initial: initial, training: training)
    }

    /// b_ih + b_hh of one layer and direction (4H).
    private func combinedBias(_ index: Int) -> [Float] {
        zip(biasIH[index].value, biasHH[index].value).map { $0 + $1 }
    }

    /// From this many steps a batch of one packs W_hh for the matrix-vector kernel
    /// (packing costs about as much as a dozen unpacked steps).
    static let packedRecurrenceMinSteps = 16

    /// W_hh as one direction's recurrence reads it: gates (rows, 4H) += h (rows, H) W_hh^T.
    /// A batch of one runs a matrix-vector kernel instead of a GEMM (which would repack
    /// W_hh every step), from a packed copy when the sequence is long enough; the choice
    /// depends on the batch and the steps only, so forward and inference agree exactly
    /// there. A larger batch in inference may take a GEMM on W_hh packed once
    /// (`PackedRecurrentProduct`: last-bit differences from forward's OpenBLAS GEMM).
    private struct Recurrence {
        let hidden: Int
        let batch: Int
        let weight: UnsafePointer<Float>
        /// W_hh packed (kept alive while the recurrence runs), or nil to read it as is.
        let packing: PackedRecurrentWeights.Packing?
        let packedProduct: PackedRecurrentProduct?

        init(_ lstm: LSTM, index: Int, weight: UnsafePointer<Float>, batch: Int, steps: Int, inference: Bool) {
            hidden = lstm.config.hiddenSize
            self.batch = batch
            self.weight = weight
            packing = batch == 1 && steps >= LSTM.packedRecurrenceMinSteps
                ? lstm.packedWeights.packing(of: lstm.weightHH[index], index: index, layout: .gemv) : nil
            packedProduct = inference ? PackedRecurrentProduct(lstm, index: index, batch: batch) : nil
        }

        @inline(__always)
        func add(rows: Int, h: UnsafePointer<Float>, gates: UnsafeMutablePointer<Float>) {
            if let packedProduct {
                packedProduct.add(rows: rows, h: h, into: gates)
                return
            }
            if batch == 1 {
                guard rows == 1 else { return }
                if let packing {
                    ck_gemv_packed_accumulate(packing.buffers[0], Int64(4 * hidden), Int64(hidden), h, gates)
                } else {
                    ck_gemv_accumulate(weight, Int64(4 * hidden), Int64(hidden), h, gates)
                }
                return
            }
            BLAS.gemm(transB: true, m: rows, n: 4 * hidden, k: hidden,
                      a: h, lda: hidden, b: weight, ldb: hidden,
                      beta: 1, c: gates, ldc: 4 * hidden)
        }
    }

    /// One direction of one layer over the whole batch; writes its h into y's columns
    /// [column, column + H) and returns what backward needs.
    private func runDirection(index: Int, reverse: Bool, input: [Float], inSize: Int,
                              batch: Int, steps: Int, lengths: [Int], reuseBuffers: Bool,
                              h0: [Float]?, c0: [Float]?,
                              y: inout [Float], column: Int, ldy: Int) -> DirectionCache {
        let hSize = config.hiddenSize, g4 = 4 * hSize
        // The gates of every step, in step order (row s*B + b is row b at step s):
        // filled a chunk of steps at a time by the input projection, then the
        // recurrence adds to them and the cell activates them in place.
        var gates = spareBuffers.zeroed(steps * batch * g4, reuse: reuseBuffers)
        var hs = spareBuffers.zeroed((steps + 1) * batch * hSize, reuse: reuseBuffers)
        var cs = spareBuffers.zeroed((steps + 1) * batch * hSize, reuse: reuseBuffers)
        if let h0 { hs.replaceSubrange(0..<(batch * hSize), with: h0) }
        if let c0 { cs.replaceSubrange(0..<(batch * hSize), with: c0) }

        let bias = combinedBias(index)
        let active = PaddedSteps.activeRows(lengths: lengths, steps: steps)
        let chunk = PaddedSteps.projectionChunk(batch: batch, steps: steps)
        var scratch = [Float](repeating: 0, count: chunk * batch * inSize)
        gates.withUnsafeMutableBufferPointer { G in
        hs.withUnsafeMutableBufferPointer { HS in
        cs.withUnsafeMutableBufferPointer { CS in
        y.withUnsafeMutableBufferPointer { Y in
        input.withUnsafeBufferPointer { X in
        scratch.withUnsafeMutableBufferPointer { XS in
        bias.withUnsafeBufferPointer { BIAS in
        weightIH[index].value.withUnsafeBufferPointer { WIH in
        weightHH[index].value.withUnsafeBufferPointer { WHH in
            let recurrence = Recurrence(self, index: index, weight: WHH.baseAddress!, batch: batch, steps: steps,
                                        inference: false)
            for s in 0..<steps {
                let gs = G.baseAddress! + s * batch * g4
                if s % chunk == 0 {
                    PaddedSteps.projectSteps(X.baseAddress!, inSize: inSize, batch: batch, steps: steps, lengths: lengths,
                                      reverse: reverse, from: s, count: min(chunk, steps - s),
                                      weight: WIH.baseAddress!, bias: BIAS.baseAddress!, width: g4,
                                      scratch: XS.baseAddress!, into: gs)
                }
                let hPrev = HS.baseAddress! + s * batch * hSize
                let cPrev = CS.baseAddress! + s * batch * hSize
                let hNext = hPrev + batch * hSize
                let cNext = cPrev + batch * hSize
                // Recurrence: gates += h_{s-1} W_hh^T (running rows only).
                recurrence.add(rows: active[s], h: hPrev, gates: gs)
                for b in 0..<batch {
                    let hp = hPrev + b * hSize, cp = cPrev + b * hSize
                    let hn = hNext + b * hSize, cn = cNext + b * hSize
                    guard let t = PaddedSteps.timeIndex(step: s, length: lengths[b], reverse: reverse) else {
                        // Finished sequence: carry the state, leave no trace in the gates.
                        hn.update(from: hp, count: hSize)
                        cn.update(from: cp, count: hSize)
                        (gs + b * g4).update(repeating: 0, count: g4)
                        continue
                    }
                    ck_lstm_cell_forward(gs + b * g4, Int64(hSize), cp, cn, hn,
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
        return DirectionCache(gates: gates, h: hs, c: cs)
    }

    // MARK: - Backward

    /// Gradients flowing out of the stack: w.r.t. x (B, T, D) and the initial state.
    public struct InputGradients {
        public var dx: Tensor
        public var dInitial: LSTMState
    }

    /// Back-propagates dY (B, T, K*H) and, optionally, the gradient of the final
    /// state; ACCUMULATES into every parameter's grad and returns dx and d(h0, c0). The
    /// weight matrices' gradients go through `deferring` (DeferredWeightGradients: a
    /// decoder run step by step adds them once, after its last step).
    public func backward(_ cache: Cache, outputGrad dY: Tensor, finalGrad: LSTMState? = nil,
                         deferring: DeferredWeightGradients? = nil) -> InputGradients {
        precondition(quantized == nil, "an int8-quantized LSTM is for inference only: train the float32 model")
        let hSize = config.hiddenSize, stateRows = cache.batch * hSize
        var dInitial = LSTMState(zerosFor: config, batch: cache.batch)
        let dx = config.backwardLayers(cache, outputGrad: dY) { index, reverse, saved, input, inSize, dOut, dIn in
            let rows = (index * stateRows)..<((index + 1) * stateRows)
            let (dh0, dc0) = backDirection(
                index: index, reverse: reverse, cache: saved, input: input, inSize: inSize,
                batch: cache.batch, steps: cache.steps, lengths: cache.lengths,
                dY: dOut, column: reverse ? hSize : 0, ldy: config.outputSize,
                dhFinal: finalGrad.map { Array($0.h.data[rows]) }, dcFinal: finalGrad.map { Array($0.c.data[rows]) },
                dInput: &dIn, deferring: deferring)
            dInitial.h.data.replaceSubrange(rows, with: dh0)
            dInitial.c.data.replaceSubrange(rows, with: dc0)
        }
        spareBuffers.keep(cache.directions.flatMap { [$0.gates, $0.h, $0.c] })
        return InputGradients(dx: dx, dInitial: dInitial)
    }

    /// One direction of one layer backwards in time. Adds into dInput (B, T, in) and the
    /// parameters' grads; returns the gradient w.r.t. this direction's (h0, c0).
    ///
    /// Time is walked in reverse a chunk of steps at a time (the forward pass's chunks):
    /// the chunk's gate gradients (pre-activation, step order) feed the weight-gradient
    /// GEMMs while still in cache, and only one chunk of them is ever held.
    private func backDirection(index: Int, reverse: Bool, cache: DirectionCache,
                               input: [Float], inSize: Int,
                               batch: Int, steps: Int, lengths: [Int],
                               dY: [Float], column: Int, ldy: Int,
                               dhFinal: [Float]?, dcFinal: [Float]?,
                               dInput: inout [Float], deferring: DeferredWeightGradients?) -> ([Float], [Float]) {
        let hSize = config.hiddenSize, g4 = 4 * hSize
        var dh = dhFinal ?? [Float](repeating: 0, count: batch * hSize)
        var dc = dcFinal ?? [Float](repeating: 0, count: batch * hSize)
        var dhPrev = [Float](repeating: 0, count: batch * hSize)
        let active = PaddedSteps.activeRows(lengths: lengths, steps: steps)
        let chunk = PaddedSteps.projectionChunk(batch: batch, steps: steps)
        var dGates = [Float](repeating: 0, count: chunk * batch * g4)
        var xs = [Float](repeating: 0, count: chunk * batch * inSize)   // inputs, step order
        var dxs = [Float](repeating: 0, count: chunk * batch * inSize)  // their gradient
        var db = [Float](repeating: 0, count: g4)

        dGates.withUnsafeMutableBufferPointer { DG in
        dh.withUnsafeMutableBufferPointer { DH in
        dc.withUnsafeMutableBufferPointer { DC in
        dhPrev.withUnsafeMutableBufferPointer { DHP in
        xs.withUnsafeMutableBufferPointer { XS in
        dxs.withUnsafeMutableBufferPointer { DXS in
        db.withUnsafeMutableBufferPointer { DB in
        cache.gates.withUnsafeBufferPointer { G in
        cache.h.withUnsafeBufferPointer { HS in
        cache.c.withUnsafeBufferPointer { CS in
        dY.withUnsafeBufferPointer { DY in
        input.withUnsafeBufferPointer { X in
        dInput.withUnsafeMutableBufferPointer { DX in
        weightHH[index].value.withUnsafeBufferPointer { WHH in
            let dg = DG.baseAddress!
            for s0 in stride(from: (steps - 1) / chunk * chunk, through: 0, by: -chunk) {
                let n = min(chunk, steps - s0)
                for s in stride(from: s0 + n - 1, through: s0, by: -1) {
                    let dgs = dg + (s - s0) * batch * g4
                    let gs = G.baseAddress! + s * batch * g4
                    for b in 0..<batch {
                        // Finished sequences keep dh, dc: the carried state passes them through.
                        guard let t = PaddedSteps.timeIndex(step: s, length: lengths[b], reverse: reverse) else {
                            (dgs + b * g4).update(repeating: 0, count: g4)
                            continue
                        }
                        let cPrev = CS.baseAddress! + (s * batch + b) * hSize
                        ck_lstm_cell_backward(
                            gs + b * g4, Int64(hSize), cPrev, cPrev + batch * hSize,
                            DH.baseAddress! + b * hSize, DY.baseAddress! + (b * steps + t) * ldy + column,
                            DC.baseAddress! + b * hSize, dgs + b * g4)
                    }
                    // dh_{s-1} = dGates_s W_hh for the rows that ran this step.
                    BLAS.gemm(m: active[s], n: hSize, k: g4,
                              a: dgs, lda: g4, b: WHH.baseAddress!, ldb: hSize,
                              beta: 0, c: DHP.baseAddress!, ldc: hSize)
                    for b in 0..<batch where s < lengths[b] {
                        (DH.baseAddress! + b * hSize).update(from: DHP.baseAddress! + b * hSize, count: hSize)
                    }
                }
                addChunkGradients(index: index, dInput: dg, dRecurrent: dg, dbInput: DB.baseAddress!, dbRecurrent: nil,
                                  hPrev: HS.baseAddress! + s0 * batch * hSize, x: X.baseAddress!, inSize: inSize,
                                  batch: batch, steps: steps, lengths: lengths, reverse: reverse, from: s0, count: n,
                                  xs: XS.baseAddress!, dxs: DXS.baseAddress!, dx: DX.baseAddress!, deferring: deferring)
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
        for j in 0..<g4 {
            biasIH[index].grad[j] += db[j]
            biasHH[index].grad[j] += db[j]
        }
        return (dh, dc)
    }
}

extension LSTM: RecurrentLayer {
    public var cell: RecurrentCell { .lstm }

    public func forward(sequences x: Tensor, lengths: [Int], initial: RecurrentState?, training: Bool) -> RecurrentOutput {
        let out = forward(x, lengths: lengths, initial: initial.map(LSTMState.init), training: training)
        return RecurrentOutput(y: out.y, state: RecurrentState(out.final), cache: RecurrentCache(value: out.cache))
    }

    public func infer(sequences x: Tensor, lengths: [Int], initial: RecurrentState?) -> (y: Tensor, state: RecurrentState) {
        let out = infer(x, lengths: lengths, initial: initial.map(LSTMState.init))
        return (out.y, RecurrentState(out.final))
    }

    public func backward(_ cache: RecurrentCache, outputGrad dY: Tensor, finalGrad: Tensor?) -> Tensor {
        guard let cache = cache.value as? Cache else { preconditionFailure("LSTM.backward: the cache is not an LSTM's") }
        // The final c receives no gradient from a model: only h leaves the layer.
        let final = finalGrad.map { LSTMState(h: $0, c: Tensor(zeros: $0.shape)) }
        return backward(cache, outputGrad: dY, finalGrad: final).dx
    }
}
