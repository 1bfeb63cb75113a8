import CKernels
import LSTMKitCore

/// The recurrence of one direction for a batch of one on two cores: the hidden units
/// in two parts, each with its half of W_hh packed for the matrix-vector kernel
/// (CKernels/split_recurrence.c), float32 or int8. A batch of one cannot use a second
/// core any other way: each step's matrix-vector product is too small to split inside
/// OpenBLAS, and the steps depend on each other. Bit-identical to the one-core
/// recurrence of the same weights.
struct SplitRecurrence {
    let hidden: Int
    /// W_hh's two parts, packed (kept alive while the recurrence runs).
    private enum Parts {
        case float(PackedRecurrentWeights.Packing)
        case int8(QuantizedWeight.SplitPacked)
    }
    private let parts: Parts

    /// Below this many units per direction the two cores would spend more time meeting
    /// than multiplying.
    static let minHidden = 64

    /// Whether a direction of `hidden` units pays to split: a batch of one, long enough
    /// to pack W_hh, and the library allowed more than one thread.
    private static func pays(hidden: Int, batch: Int, steps: Int) -> Bool {
        batch == 1 && steps >= LSTM.packedRecurrenceMinSteps && hidden >= minHidden && availableThreads >= 2
    }

    /// A split recurrence for layer-direction `index` of a float32 LSTM when it pays, else nil.
    init?(_ lstm: LSTM, index: Int, batch: Int, steps: Int) {
        hidden = lstm.config.hiddenSize
        guard Self.pays(hidden: hidden, batch: batch, steps: steps) else { return nil }
        parts = .float(lstm.packedWeights.packing(of: lstm.weightHH[index], index: index, layout: .split))
    }

    /// The same for an int8 LSTM's W_hh (4H, H).
    init?(quantized weightHH: QuantizedWeight, batch: Int, steps: Int) {
        hidden = weightHH.cols
        guard Self.pays(hidden: hidden, batch: batch, steps: steps) else { return nil }
        parts = .int8(weightHH.splitPacked())
    }

    /// Runs `steps` steps from the pre-activations `gates` (steps, 4H): h and c hold the
    /// state in and out; step s writes its h to y + s * yStride.
    func run(gates: UnsafePointer<Float>, steps: Int, h: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>,
             y: UnsafeMutablePointer<Float>, yStride: Int) {
        let (H, n, stride) = (Int64(hidden), Int64(steps), Int64(yStride))
        let done: Int32
        switch parts {
        case .float(let packing):
            done = ck_lstm_split_steps(packing.buffers[0], packing.buffers[1], H, gates, n, h, c, y, stride, 2)
        case .int8(let split):
            done = split.parts.withUnsafeBufferPointer { ck_q8_lstm_split_steps($0.baseAddress!, H, gates, n, h, c, y, stride, 2) }
        }
        guard done == 1 else { fatalError("out of memory for the recurrence's scratch (\(6 * hidden + 1) floats)") }
    }

    /// A chunk of `count` steps from step `s0` of a sequence of `length` (a batch of
    /// one's padded steps beyond it are skipped), `gates` holding the chunk's
    /// pre-activations; y is the whole output (row stride `outSize`), this direction's
    /// columns from `column`.
    func runChunk(gates: UnsafePointer<Float>, from s0: Int, count: Int, length: Int, reverse: Bool,
                  h: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>,
                  y: UnsafeMutablePointer<Float>, outSize: Int, column: Int) {
        let running = min(count, length - s0)
        guard running > 0 else { return }
        let t0 = reverse ? length - 1 - s0 : s0
        run(gates: gates, steps: running, h: h, c: c, y: y + t0 * outSize + column, yStride: reverse ? -outSize : outSize)
    }
}
