import CKernels
import LSTMKitCore

/// An LSTM or GRU with int8 weights for inference (`LSTM.quantize()`, `GRU.quantize()`,
/// docs/QUANTIZATION.md): W_ih and W_hh of every layer and direction are int8 with one
/// scale per row (`QuantizedWeight`); the inputs of each product (a chunk of steps'
/// inputs, each step's h) are quantized per row when used; biases, the gates'
/// nonlinearities and the LSTM's cell state stay float32, as in PyTorch's
/// `quantize_dynamic`. It runs the float layers' way (chunked input projection, one
/// product per step for the recurrence, the same C cell kernels) with the int8 product
/// in place of each GEMM. Tensor names are the float layer's, plus "<weight>_scale".
///
/// Inference only: `forward` runs `infer` (no dropout, nothing kept) and `backward` is
/// a programming error.
public final class QuantizedRecurrent: QuantizedModule, RecurrentLayer {
    public let cell: RecurrentCell
    public let config: RecurrentConfig
    /// Per layer and direction (index l*K + d), as the float layer's.
    public let weightIH: [QuantizedWeight]
    public let weightHH: [QuantizedWeight]
    public let biasIH: [Parameter]
    public let biasHH: [Parameter]
    /// For each layer, for each direction: w_ih, its scales, w_hh, its scales, b_ih, b_hh.
    public let localParameters: [Parameter]

    private var gates: Int { cell == .lstm ? 4 : 3 }

    /// Zeros of this shape (scales 1), to be loaded.
    public init(_ config: RecurrentConfig, cell: RecurrentCell) throws {
        try config.validate()
        try Memory.checkModel(parameters: config.parameterEstimate, for: "a quantized recurrent layer")
        self.config = config
        self.cell = cell
        let g = (cell == .lstm ? 4 : 3) * config.hiddenSize
        var wih = [QuantizedWeight](), whh = [QuantizedWeight](), bih = [Parameter](), bhh = [Parameter]()
        for layer in 0..<config.numLayers {
            let inSize = layer == 0 ? config.inputSize : config.outputSize
            for d in 0..<config.directions {
                let suffix = "_l\(layer)" + (d == 1 ? "_reverse" : "")
                wih.append(try QuantizedWeight(name: "weight_ih" + suffix, rows: g, cols: inSize))
                whh.append(try QuantizedWeight(name: "weight_hh" + suffix, rows: g, cols: config.hiddenSize))
                bih.append(Parameter(name: "bias_ih" + suffix, shape: [g]))
                bhh.append(Parameter(name: "bias_hh" + suffix, shape: [g]))
            }
        }
        (weightIH, weightHH, biasIH, biasHH) = (wih, whh, bih, bhh)
        localParameters = (0..<wih.count).flatMap {
            [wih[$0].values, wih[$0].scales, whh[$0].values, whh[$0].scales, bih[$0], bhh[$0]]
        }
    }

    /// A float layer's weights quantized, its biases copied.
    public convenience init(quantizing stack: RecurrentStack, cell: RecurrentCell) throws {
        try self.init(stack.config, cell: cell)
        for i in 0..<weightIH.count {
            for (q, w) in [(weightIH[i], stack.weightIH[i]), (weightHH[i], stack.weightHH[i])] {
                var values = [Int8](repeating: 0, count: q.rows * q.cols)
                var scales = [Float](repeating: 0, count: q.rows)
                ck_q8_quantize_weights(w.value, Int64(q.rows), Int64(q.cols), &values, &scales)
                q.values.value = values.map(Float.init)
                q.scales.value = scales
            }
            biasIH[i].value = stack.biasIH[i].value
            biasHH[i].value = stack.biasHH[i].value
        }
    }

    public func checkQuantized() throws {
        for i in 0..<weightIH.count {
            try weightIH[i].check(fullName: weightIH[i].values.name)
            try weightHH[i].check(fullName: weightHH[i].values.name)
        }
    }

    // MARK: - Inference

    public func infer(sequences x: Tensor, lengths: [Int], initial: RecurrentState?) -> (y: Tensor, state: RecurrentState) {
        let batch = x.shape[0], steps = x.shape[1]
        let shape = [config.numLayers * config.directions, batch, config.hiddenSize]
        var h = initial?.h ?? Tensor(zeros: shape)
        var c: Tensor? = cell == .lstm ? (initial?.c ?? Tensor(zeros: shape)) : nil
        let y = h.data.withUnsafeMutableBufferPointer { H in
            withOptionalPointer(&c) { C in
                config.inferLayers(x) { index, reverse, input, inSize, y in
                    inferDirection(index: index, reverse: reverse, input: input, inSize: inSize,
                                   batch: batch, steps: steps, lengths: lengths, h: H.baseAddress!, c: C, y: y)
                }
            }
        }
        return (y, RecurrentState(h: h, c: c))
    }

    private func withOptionalPointer<R>(_ t: inout Tensor?, _ body: (UnsafeMutablePointer<Float>?) -> R) -> R {
        guard t != nil else { return body(nil) }
        return t!.data.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
    }

    /// One direction of one layer: updates its (B, H) rows of h (and c) in place and
    /// writes its columns of y, a chunk of steps at a time as the float layers do.
    private func inferDirection(index: Int, reverse: Bool, input x: UnsafePointer<Float>, inSize: Int,
                                batch: Int, steps: Int, lengths: [Int],
                                h hAll: UnsafeMutablePointer<Float>, c cAll: UnsafeMutablePointer<Float>?,
                                y: UnsafeMutablePointer<Float>) {
        let hSize = config.hiddenSize, g = gates * hSize, outSize = config.outputSize
        let column = reverse ? hSize : 0
        let h = hAll + index * batch * hSize, c = cAll.map { $0 + index * batch * hSize }
        let active = PaddedSteps.activeRows(lengths: lengths, steps: steps)
        let chunk = PaddedSteps.projectionChunk(batch: batch, steps: steps)
        let gateRows = UnsafeMutablePointer<Float>.allocate(capacity: chunk * batch * g)
        let stepInput = UnsafeMutablePointer<Float>.allocate(capacity: chunk * batch * inSize)
        let hg = UnsafeMutablePointer<Float>.allocate(capacity: batch * g)   // the GRU's recurrent part
        let newState = UnsafeMutablePointer<Float>.allocate(capacity: hSize)
        defer { gateRows.deallocate(); stepInput.deallocate(); hg.deallocate(); newState.deallocate() }
        let inputs = QuantizedInputs(rows: chunk * batch, cols: max(inSize, hSize))
        let (wih, whh) = (weightIH[index].packed(), weightHH[index].packed())
        // The LSTM adds both biases to its gates; the GRU keeps b_hh with the recurrent
        // part (r multiplies its n block).
        let inputBias = cell == .lstm ? zip(biasIH[index].value, biasHH[index].value).map { $0 + $1 } : biasIH[index].value
        let recurrentBias = biasHH[index].value
        inputBias.withUnsafeBufferPointer { BIAS in
        recurrentBias.withUnsafeBufferPointer { BHH in
            for s0 in stride(from: 0, to: steps, by: chunk) {
                let n = min(chunk, steps - s0)
                PaddedSteps.gatherSteps(x, width: inSize, batch: batch, steps: steps, lengths: lengths,
                                        reverse: reverse, from: s0, count: n, into: stepInput)
                for r in 0..<(n * batch) { (gateRows + r * g).update(from: BIAS.baseAddress!, count: g) }
                weightIH[index].product(stepInput, rows: n * batch, ldx: inSize, packed: wih, inputs: inputs,
                                        into: gateRows, ldy: g, accumulate: true)
                for s in s0..<(s0 + n) {
                    let gs = gateRows + (s - s0) * batch * g
                    let rows = active[s]
                    if let c {
                        weightHH[index].product(h, rows: rows, ldx: hSize, packed: whh, inputs: inputs,
                                                into: gs, ldy: g, accumulate: true)
                        for b in 0..<rows {
                            // Finished rows keep their state: it is their final state.
                            guard let t = PaddedSteps.timeIndex(step: s, length: lengths[b], reverse: reverse) else { continue }
                            ck_lstm_cell_forward(gs + b * g, Int64(hSize), c + b * hSize, newState, h + b * hSize,
                                                 y + (b * steps + t) * outSize + column)
                            (c + b * hSize).update(from: newState, count: hSize)
                        }
                    } else {
                        for r in 0..<rows { (hg + r * g).update(from: BHH.baseAddress!, count: g) }
                        weightHH[index].product(h, rows: rows, ldx: hSize, packed: whh, inputs: inputs,
                                                into: hg, ldy: g, accumulate: true)
                        for b in 0..<rows {
                            guard let t = PaddedSteps.timeIndex(step: s, length: lengths[b], reverse: reverse) else { continue }
                            ck_gru_cell_forward(gs + b * g, hg + b * g, Int64(hSize), h + b * hSize, newState, nil,
                                                y + (b * steps + t) * outSize + column)
                            (h + b * hSize).update(from: newState, count: hSize)
                        }
                    }
                }
            }
        }
        }
    }

    /// Validates the inputs (as the float layers do), then runs inference.
    public func runInference(_ x: Tensor, lengths: [Int32]? = nil, initial: RecurrentState? = nil) throws -> (y: Tensor, state: RecurrentState) {
        var states: [(name: String, value: Tensor)] = []
        if let initial {
            states.append(("h0", initial.h))
            if cell == .lstm, let c = initial.c { states.append(("c0", c)) }
        }
        let lens = try config.validate(x: x, lengths: lengths, states: states)
        return infer(sequences: x, lengths: lens, initial: initial)
    }

    // MARK: - RecurrentLayer's training half

    /// Inference (see the type's note): no dropout, and the cache holds nothing.
    public func forward(sequences x: Tensor, lengths: [Int], initial: RecurrentState?, training: Bool) -> RecurrentOutput {
        let out = infer(sequences: x, lengths: lengths, initial: initial)
        return RecurrentOutput(y: out.y, state: out.state, cache: RecurrentCache(value: ()))
    }

    public func backward(_ cache: RecurrentCache, outputGrad dY: Tensor, finalGrad: Tensor?) -> Tensor {
        preconditionFailure("an int8-quantized recurrent layer is for inference only: train the float32 layer")
    }
}

extension RecurrentLayer {
    /// The int8 form of this layer for inference (`QuantizedRecurrent`). Throws if it is
    /// already quantized.
    public func quantize() throws -> QuantizedRecurrent {
        if isQuantized { throw LSTMKitError.alreadyQuantized("this \(cell.rawValue.uppercased())") }
        guard let stack = self as? RecurrentStack else {
            throw LSTMKitError.invalidArgument("a \(cell.rawValue) layer of type \(type(of: self)) has no int8 form")
        }
        return try QuantizedRecurrent(quantizing: stack, cell: cell)
    }
}
