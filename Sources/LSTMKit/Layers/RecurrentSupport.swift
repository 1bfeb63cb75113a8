/// How the recurrent layers (LSTM, GRU) walk a padded batch: step s of row b is time
/// index t_b(s) (s forward, length - 1 - s in reverse, so a reverse direction starts at
/// each sequence's own last step), inputs are gathered into step order a chunk of steps
/// at a time and projected with one GEMM, and training's large buffers are reused.
enum PaddedSteps {
    /// How many leading rows are still running at each step, when the lengths never
    /// increase down the batch (as the segmenter sorts them): the recurrent GEMMs then
    /// skip the finished rows, as packed sequences do. Otherwise every row, every step.
    static func activeRows(lengths: [Int], steps: Int) -> [Int] {
        let batch = lengths.count
        guard zip(lengths, lengths.dropFirst()).allSatisfy({ $0 >= $1 }) else {
            return [Int](repeating: batch, count: steps)
        }
        var active = [Int](repeating: 0, count: steps)
        var b = batch
        for s in 0..<steps {
            while b > 0 && lengths[b - 1] <= s { b -= 1 }
            active[s] = b
        }
        return active
    }

    /// The time index that row b processes at step s, or nil once its sequence ended.
    @inline(__always)
    static func timeIndex(step s: Int, length: Int, reverse: Bool) -> Int? {
        guard s < length else { return nil }
        return reverse ? length - 1 - s : s
    }

    /// Steps per chunk of the input projection: about `projectionChunkRows` rows of
    /// gates per GEMM, so the chunk's gates are still in cache when the recurrence adds
    /// to them. Forward and inference chunk alike, so they give identical results.
    static let projectionChunkRows = 512

    static func projectionChunk(batch: Int, steps: Int) -> Int {
        max(1, min(steps, projectionChunkRows / batch))
    }

    /// Copies the inputs of steps [s0, s0 + count) into step order: row (s - s0) * B + b
    /// of `out` is x[b, t_b(s)], or zeros once b's sequence ended. x is (B, T, width).
    static func gatherSteps(_ x: UnsafePointer<Float>, width: Int, batch: Int, steps: Int,
                            lengths: [Int], reverse: Bool, from s0: Int, count: Int,
                            into out: UnsafeMutablePointer<Float>) {
        for s in s0..<(s0 + count) {
            for b in 0..<batch {
                let dst = out + ((s - s0) * batch + b) * width
                if let t = timeIndex(step: s, length: lengths[b], reverse: reverse) {
                    dst.update(from: x + (b * steps + t) * width, count: width)
                } else {
                    dst.update(repeating: 0, count: width)
                }
            }
        }
    }

    /// The input projection of steps [s0, s0 + count), in step order:
    /// (count*B, G) = X_steps W^T + bias, W (G, in). `scratch` holds count*B*in floats.
    static func projectSteps(_ x: UnsafePointer<Float>, inSize: Int, batch: Int, steps: Int,
                             lengths: [Int], reverse: Bool, from s0: Int, count: Int,
                             weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, width g: Int,
                             scratch: UnsafeMutablePointer<Float>, into gates: UnsafeMutablePointer<Float>) {
        let rows = count * batch
        gatherSteps(x, width: inSize, batch: batch, steps: steps, lengths: lengths, reverse: reverse,
                    from: s0, count: count, into: scratch)
        for r in 0..<rows { (gates + r * g).update(from: bias, count: g) }
        BLAS.gemm(transB: true, m: rows, n: g, k: inSize,
                  a: scratch, lda: inSize, b: weight, ldb: inSize,
                  beta: 1, c: gates, ldc: g)
    }
}

/// The gates and states of the last cache a recurrent layer's `backward` consumed,
/// reused by its next training forward pass: a training loop then keeps its memory
/// instead of taking fresh pages from the system every step (a page fault per 4 KiB,
/// often a quarter of a small model's step). A cache the caller still holds is copied
/// on write, never changed. Not thread-safe, as training is not.
final class SpareBuffers {
    private var buffers: [[Float]] = []

    /// `count` zeros, in the smallest spare buffer that holds them when `reuse` (training).
    func zeroed(_ count: Int, reuse: Bool) -> [Float] {
        if reuse, let i = buffers.indices.filter({ buffers[$0].capacity >= count })
            .min(by: { buffers[$0].capacity < buffers[$1].capacity }) {
            var buffer = buffers.remove(at: i)
            if buffer.count == count {
                buffer.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            } else {
                buffer.removeAll(keepingCapacity: true)
                buffer.append(contentsOf: repeatElement(0, count: count))
            }
            return buffer
        }
        return [Float](repeating: 0, count: count)
    }

    /// Offers a consumed cache's buffers to the next forward pass (replacing the last).
    func keep(_ spare: [[Float]]) { buffers = spare }
}

/// A recurrent layer's weights, PyTorch's layout and names: per layer and direction
/// (index l*K + d) W_ih (G·H, in), W_hh (G·H, H), b_ih, b_hh (G·H) for G gate blocks
/// (4 for the LSTM, 3 for the GRU), named weight_ih_l<k>[_reverse] ..., drawn from
/// U(-1/sqrt(H), 1/sqrt(H)) as PyTorch initialises them.
struct RecurrentWeights {
    var weightIH: [Parameter] = [], weightHH: [Parameter] = [], biasIH: [Parameter] = [], biasHH: [Parameter] = []
    /// PyTorch's order: for each layer, for each direction: w_ih, w_hh, b_ih, b_hh.
    var all: [Parameter] = []

    init(_ config: RecurrentConfig, gates: Int, rng: inout SeededRandom) {
        let h = config.hiddenSize
        let bound = 1 / Float(h).squareRoot()
        for layer in 0..<config.numLayers {
            let inSize = layer == 0 ? config.inputSize : config.outputSize
            for d in 0..<config.directions {
                let suffix = "_l\(layer)" + (d == 1 ? "_reverse" : "")
                func make(_ name: String, _ shape: [Int]) -> Parameter {
                    var v = [Float](repeating: 0, count: shape.reduce(1, *))
                    rng.fillUniform(&v, bound: bound)
                    return Parameter(name: name + suffix, shape: shape, value: v)
                }
                let p = [make("weight_ih", [gates * h, inSize]), make("weight_hh", [gates * h, h]),
                         make("bias_ih", [gates * h]), make("bias_hh", [gates * h])]
                weightIH.append(p[0]); weightHH.append(p[1]); biasIH.append(p[2]); biasHH.append(p[3])
                all += p
            }
        }
    }
}
