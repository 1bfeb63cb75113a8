import CKernels
import Dispatch

/// Each layer and direction's W_hh packed for the batch-of-one kernels, kept between
/// calls: a batch of one (a user's single sentence, C1's latency) would otherwise spend
/// about a tenth of its time packing the same weights again. A packing is used while
/// its weights keep their `Parameter.version`; training, which changes them every step,
/// packs again after each change, as it did before.
final class PackedRecurrentWeights: @unchecked Sendable {
    /// One packing: the whole (4H, H) matrix for `ck_gemv_packed_accumulate`, or its
    /// two parts for `ck_lstm_split_steps`. Freed when the last user lets go.
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

    private struct Key: Hashable {
        let index: Int
        let split: Bool
    }

    private let queue = DispatchQueue(label: "lstmkit.packed-recurrent-weights")
    private var packings: [Key: Packing] = [:]

    /// W_hh of layer-direction `index` packed whole (split: false) or in two parts.
    /// Callers on several threads may ask at once; each packing is made once per version.
    /// In the fork gate: a fork never copies the queue held.
    func packing(of weight: Parameter, index: Int, hidden: Int, split: Bool) -> Packing {
        ck_fork_gate_enter()
        defer { ck_fork_gate_leave() }
        return queue.sync {
            let key = Key(index: index, split: split)
            if let p = packings[key], p.version == weight.version { return p }
            let packing: Packing
            if split {
                let first = Int(ck_lstm_split_first(Int64(hidden)))
                packing = Packing(version: weight.version, counts: [first, hidden - first].map {
                    Int(ck_gemv_packed_count(Int64(4 * $0), Int64(hidden)))
                })
                let packed = weight.value.withUnsafeBufferPointer {
                    ck_lstm_split_pack($0.baseAddress!, Int64(hidden), packing.buffers[0], packing.buffers[1])
                }
                precondition(packed == 1, "out of memory packing W_hh (\(4 * hidden) x \(hidden))")
            } else {
                packing = Packing(version: weight.version, counts: [Int(ck_gemv_packed_count(Int64(4 * hidden), Int64(hidden)))])
                weight.value.withUnsafeBufferPointer {
                    ck_gemv_pack($0.baseAddress!, Int64(4 * hidden), Int64(hidden), packing.buffers[0])
                }
            }
            packings[key] = packing
            return packing
        }
    }
}
