import CKernels
import LSTMKitCore

/// What an LSTM or GRU runs once quantized in place (`QuantizableLayer`,
/// docs/QUANTIZATION.md): W_ih and W_hh of every layer and direction int8 with one scale
/// per row (`QuantizedWeight`); the inputs of each product (a chunk of steps' inputs,
/// each step's h) are quantized per row when used; biases, the gates' nonlinearities and
/// the LSTM's cell state stay float32, as in PyTorch's `quantize_dynamic`. It runs the
/// float layers' way (chunked input projection, one product per step for the recurrence,
/// the same C cell kernels) with the int8 product in place of each GEMM. Its tensors
/// become the layer's, under the float layer's names plus "<weight>_scale". Inference only.
final class QuantizedRecurrent {
    let cell: RecurrentCell
    let config: RecurrentConfig
    /// Per layer and direction (index l*K + d), as the float layer's.
    let weightIH: [QuantizedWeight]
    let weightHH: [QuantizedWeight]
    let biasIH: [Parameter]
    let biasHH: [Parameter]
    /// For each layer, for each direction: w_ih, its scales, w_hh, its scales, b_ih, b_hh.
    let localParameters: [Parameter]

    private var gates: Int { cell == .lstm ? 4 : 3 }

    /// A float layer's weights quantized; its biases are shared.
    init(quantizing stack: RecurrentStack, cell: RecurrentCell) throws {
        config = stack.config
        self.cell = cell
        let wih = try stack.weightIH.map { try QuantizedWeight(name: $0.name, quantizing: $0) }
        let whh = try stack.weightHH.map { try QuantizedWeight(name: $0.name, quantizing: $0) }
        (weightIH, weightHH, biasIH, biasHH) = (wih, whh, stack.biasIH, stack.biasHH)
        localParameters = wih.indices.flatMap {
            [wih[$0].values, wih[$0].scales, whh[$0].values, whh[$0].scales, stack.biasIH[$0], stack.biasHH[$0]]
        }
    }

    func checkQuantized() throws {
        for w in weightIH + weightHH { try w.check(fullName: w.values.name) }
    }

    // MARK: - Inference

    func infer(sequences x: Tensor, lengths: [Int], initial: RecurrentState?) -> (y: Tensor, state: RecurrentState) {
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
        // An LSTM's batch of one splits each step over two cores, as the float layer's does.
        let split = cell == .lstm ? SplitRecurrence(quantized: weightHH[index], batch: batch, steps: steps) : nil
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
                weightIH[index].product(stepInput, rows: n * batch, ldx: inSize, packed: wih, inputs: inputs,
                                        into: gateRows, ldy: g, bias: BIAS.baseAddress!, accumulate: false)
                if let split, let c {
                    split.runChunk(gates: gateRows, from: s0, count: n, length: lengths[0], reverse: reverse,
                                   h: h, c: c, y: y, outSize: outSize, column: column)
                    continue
                }
                for s in s0..<(s0 + n) {
                    let gs = gateRows + (s - s0) * batch * g
                    let rows = active[s]
                    if let c {
                        weightHH[index].product(h, rows: rows, ldx: hSize, packed: whh, inputs: inputs,
                                                into: gs, ldy: g, accumulate: true)
                        for b in 0..<rows {
                            // Finished rows keep their state: it is their final state.
                            guard let t = PaddedSteps.timeIndex(step: s, length: lengths[b], reverse: reverse) else { continue }
                            ck_lstm_cell_infer(gs + b * g, Int64(hSize), c + b * hSize, h + b * hSize,
                                               y + (b * steps + t) * outSize + column)
                        }
                    } else {
                        weightHH[index].product(h, rows: rows, ldx: hSize, packed: whh, inputs: inputs,
                                                into: hg, ldy: g, bias: BHH.baseAddress!, accumulate: false)
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
}
