import CKernels
import Dispatch
import LSTMKitCore

/// Each layer and direction's W_hh packed for the recurrence's own kernels, kept between
/// calls: a batch of one (a user's single sentence, C1's latency) would otherwise spend
/// about a tenth of its time packing the same weights again, and a batch's GEMM (through
/// OpenBLAS) re-packs W_hh at every step. A packing is used while its weights keep their
/// `Parameter.version`; training, which changes them every step, packs again after each
/// change, as it did before.
final class PackedRecurrentWeights: @unchecked Sendable {
    /// One packing: the whole (G·H, H) matrix for `ck_gemv_packed_accumulate` or
    /// `ck_sgemm_packed`, or its two parts for `ck_lstm_split_steps`. Freed when the last
    /// user lets go.
    final class Packing {
        let version: UInt64
        let buffers: [UnsafeMutablePointer<Float>]

        init(version: UInt64, counts: [Int]) {
            self.version = version
            buffers = counts.map {
                UnsafeMutableRawPointer.allocate(byteCount: $0 * MemoryLayout<Float>.stride, alignment: 64)
                    .bindMemory(to: Float.self, capacity: $0)
            }
        }

        deinit { for b in buffers { UnsafeMutableRawPointer(b).deallocate() } }
    }

    /// Which kernel a packing is for.
    enum Layout: Hashable {
        /// The matrix-vector kernel of a batch of one (`ck_gemv_pack`).
        case gemv
        /// The LSTM's two-core batch of one (`ck_lstm_split_pack`).
        case split
        /// A batch's per-step GEMM in inference (`ck_sgemm_pack`).
        case gemm
    }

    private struct Key: Hashable {
        let index: Int
        let layout: Layout
    }

    private let queue = DispatchQueue(label: "lstmkit.packed-recurrent-weights")
    private var packings: [Key: Packing] = [:]

    /// W_hh (G·H, H) of layer-direction `index` packed for `layout`. Callers on several
    /// threads may ask at once; each packing is made once per version.
    /// In the fork gate: a fork never copies the queue held.
    func packing(of weight: Parameter, index: Int, layout: Layout) -> Packing {
        ck_fork_gate_enter()
        defer { ck_fork_gate_leave() }
        return queue.sync {
            let key = Key(index: index, layout: layout)
            if let p = packings[key], p.version == weight.version { return p }
            let (rows, hidden) = (Int64(weight.shape[0]), Int64(weight.shape[1]))
            let packing: Packing
            switch layout {
            case .split:
                let first = ck_lstm_split_first(hidden)
                packing = Packing(version: weight.version, counts: [first, hidden - first].map {
                    Int(ck_gemv_packed_count(4 * $0, hidden))
                })
                let packed = weight.value.withUnsafeBufferPointer {
                    ck_lstm_split_pack($0.baseAddress!, hidden, packing.buffers[0], packing.buffers[1])
                }
                precondition(packed == 1, "out of memory packing W_hh (\(rows) x \(hidden))")
            case .gemv:
                packing = Packing(version: weight.version, counts: [Int(ck_gemv_packed_count(rows, hidden))])
                weight.value.withUnsafeBufferPointer { ck_gemv_pack($0.baseAddress!, rows, hidden, packing.buffers[0]) }
            case .gemm:
                packing = Packing(version: weight.version, counts: [Int(ck_sgemm_packed_count(rows, hidden))])
                weight.value.withUnsafeBufferPointer {
                    ck_sgemm_pack($0.baseAddress!, rows, hidden, hidden, packing.buffers[0])
                }
            }
            packings[key] = packing
            return packing
        }
    }
}

/// Inference's per-step recurrent product for a batch (two rows or more), on W_hh packed
/// once (`ck_sgemm_packed`) instead of through OpenBLAS, which re-packs the whole of W_hh
/// at every step. Taken on a CPU with AVX-512, or AVX2 and FMA, unless more than one thread is allowed for this product and it is
/// large enough for OpenBLAS to split over them (`openBLASOneThreadUpTo`): then OpenBLAS's
/// two cores win. (One thread: a direction of a layer whose two directions share the
/// cores, or a one-thread library.) Below that size OpenBLAS runs on one thread at any
/// count, so the packed GEMM is taken whatever the count and a call gives the same bits
/// at every thread count, as before. Training keeps OpenBLAS (and its bits); inference
/// then differs from `forward` in the last bits.
struct PackedRecurrentProduct {
    let hidden: Int
    /// W_hh packed (kept alive while the recurrence runs).
    private let packing: PackedRecurrentWeights.Packing
    private let width: Int

    /// OpenBLAS 0.3's threshold: it runs a GEMM of at most this many multiply-adds
    /// (M·N·K) on one thread (SMP_THRESHOLD_MIN 65,536 × GEMM_MULTITHREAD_THRESHOLD 4).
    static let openBLASOneThreadUpTo = 4 * 65_536

    /// The product for layer-direction `index` of `layer`, or nil where OpenBLAS does it.
    init?(_ layer: RecurrentStack, index: Int, batch: Int) {
        let weight = layer.weightHH[index]
        (width, hidden) = (weight.shape[0], weight.shape[1])
        guard batch >= 2, ck_sgemm_packed_preferred() != 0,
              availableThreads == 1 || batch * width * hidden <= Self.openBLASOneThreadUpTo else { return nil }
        packing = layer.packedWeights.packing(of: weight, index: index, layout: .gemm)
    }

    /// out (rows, G·H; row stride G·H) += h (rows, H) W_hhᵀ.
    @inline(__always)
    func add(rows: Int, h: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        ck_sgemm_packed(Int64(rows), Int64(width), Int64(hidden), h, Int64(hidden), packing.buffers[0],
                        out, Int64(width), 1)
    }
}
