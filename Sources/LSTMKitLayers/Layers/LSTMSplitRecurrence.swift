import CKernels
import LSTMKitCore

/// The recurrence of one direction for a batch of one on two cores: the hidden units
/// in two parts, each with its half of W_hh packed for the matrix-vector kernel
/// (CKernels/split_recurrence.c). A batch of one cannot use a second core any other
/// way: each step's matrix-vector product is too small to split inside OpenBLAS, and
/// the steps depend on each other. Bit-identical to the one-core recurrence.
struct SplitRecurrence {
    let hidden: Int
    /// W_hh's two parts, packed (kept alive while the recurrence runs).
    private let packing: PackedRecurrentWeights.Packing

    /// Below this many units per direction the two cores would spend more time meeting
    /// than multiplying.
    static let minHidden = 64

    /// A split recurrence for layer-direction `index` when it pays: a batch of one, long
    /// enough to pack W_hh, and the library allowed more than one thread. nil otherwise.
    init?(_ lstm: LSTM, index: Int, batch: Int, steps: Int) {
        hidden = lstm.config.hiddenSize
        guard batch == 1, steps >= LSTM.packedRecurrenceMinSteps, hidden >= Self.minHidden,
              availableThreads >= 2 else { return nil }
        packing = lstm.packedWeights.packing(of: lstm.weightHH[index], index: index, layout: .split)
    }

    /// Runs `steps` steps from the pre-activations `gates` (steps, 4H): h and c hold the
    /// state in and out; step s writes its h to y + s * yStride.
    func run(gates: UnsafePointer<Float>, steps: Int, h: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>,
             y: UnsafeMutablePointer<Float>, yStride: Int) {
        guard ck_lstm_split_steps(packing.buffers[0], packing.buffers[1], Int64(hidden), gates, Int64(steps), h, c,
                                  y, Int64(yStride), 2) == 1 else {
            fatalError("out of memory for the recurrence's state (\(11 * hidden) floats)")
        }
    }
}
