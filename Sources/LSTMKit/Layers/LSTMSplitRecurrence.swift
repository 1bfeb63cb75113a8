import CKernels

/// The recurrence of one direction for a batch of one on two cores: the hidden units
/// in two parts, each with its half of W_hh packed for the matrix-vector kernel
/// (CKernels/split_recurrence.c). A batch of one cannot use a second core any other
/// way: each step's matrix-vector product is too small to split inside OpenBLAS, and
/// the steps depend on each other. Bit-identical to the one-core recurrence.
struct SplitRecurrence {
    let hidden: Int
    private let packed: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>)

    /// Below this many units per direction the two cores would spend more time meeting
    /// than multiplying.
    static let minHidden = 64

    /// A split recurrence when it pays: inference on a batch of one, long enough to
    /// pack W_hh, and the library allowed more than one thread. nil otherwise.
    init?(weight: UnsafePointer<Float>, hidden: Int, batch: Int, steps: Int) {
        guard batch == 1, steps >= LSTM.packedRecurrenceMinSteps, hidden >= Self.minHidden,
              BLAS.numThreads >= 2 else { return nil }
        let first = Int(ck_lstm_split_first(Int64(hidden)))
        func allocate(units: Int) -> UnsafeMutablePointer<Float> {
            let count = Int(ck_gemv_packed_count(Int64(4 * units), Int64(hidden)))
            let raw = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
            return raw.bindMemory(to: Float.self, capacity: count)
        }
        self.hidden = hidden
        packed = (allocate(units: first), allocate(units: hidden - first))
        guard ck_lstm_split_pack(weight, Int64(hidden), packed.0, packed.1) == 1 else {
            fatalError("out of memory packing W_hh (\(4 * hidden) x \(hidden))")
        }
    }

    func deallocate() {
        UnsafeMutableRawPointer(packed.0).deallocate()
        UnsafeMutableRawPointer(packed.1).deallocate()
    }

    /// Runs `steps` steps from the pre-activations `gates` (steps, 4H): h and c hold the
    /// state in and out; step s writes its h to y + s * yStride.
    func run(gates: UnsafePointer<Float>, steps: Int, h: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>,
             y: UnsafeMutablePointer<Float>, yStride: Int) {
        guard ck_lstm_split_steps(packed.0, packed.1, Int64(hidden), gates, Int64(steps), h, c,
                                  y, Int64(yStride), 2) == 1 else {
            fatalError("out of memory for the recurrence's state (\(11 * hidden) floats)")
        }
    }
}
