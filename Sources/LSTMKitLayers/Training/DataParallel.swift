import LSTMKitCore

/// Data-parallel training steps: a batch's shards run at once, each on its own copy of
/// the model (a replica: the same weights, its own gradients, caches and dropout draws),
/// and their gradients are summed into the model's, each weighted by its share of the
/// batch's loss terms. The model then holds the whole batch's gradient (up to float
/// rounding) and the optimizer steps it as if one pass had run. OpenBLAS runs one thread
/// per shard meanwhile (`parallelForEach`).
public enum DataParallel {
    /// Up to `parts` contiguous shards of `batch`, as even as whole examples allow (a
    /// length-bucketed batch's examples cost about the same), none empty.
    public static func shards(_ batch: [Int], parts: Int) -> [[Int]] {
        let k = max(1, min(parts, batch.count))
        return (0..<k).map { i in Array(batch[(i * batch.count / k)..<((i + 1) * batch.count / k)]) }
    }

    /// Runs `body(shard)` for every shard on up to `threads` threads and returns the
    /// results in shard order, or the first shard's error.
    public static func run<T>(_ count: Int, threads: Int, _ body: (Int) throws -> T) throws -> [T] {
        let results = ResultSlots<[Result<T, Error>]>(count: count)
        parallelForEach(count, threads: threads) { i in results.set(i, [Result { try body(i) }]) }
        return try results.values.map { try $0[0].get() }
    }

    /// Copies the model's weights into a replica's (the same parameters in the same
    /// order), in place.
    public static func copyValues(from model: [Parameter], to replica: [Parameter]) {
        precondition(model.count == replica.count, "a replica has other parameters")
        for (p, q) in zip(model, replica) {
            precondition(p.count == q.count, "a replica has other parameters")
            p.value.withUnsafeBufferPointer { from in
                q.value.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: from.baseAddress!, count: p.count) }
            }
        }
    }

    /// grad = weight · grad + Σ over the replicas of their weight · their grad, for each
    /// of the model's parameters (sparse ones over the rows any of them touched); the
    /// replicas' gradients are zeroed.
    public static func reduceGradients(into model: [Parameter], weight: Float, replicas: [(parameters: [Parameter], weight: Float)]) {
        for (i, p) in model.enumerated() {
            let width = p.sparseRowSize
            p.grad.withUnsafeMutableBufferPointer { g in
                p.forEachGradientRange { start, length in
                    for j in start..<(start + length) { g[j] *= weight }
                }
            }
            for (parameters, w) in replicas {
                let q = parameters[i]
                if let width {
                    q.forEachGradientRange { start, _ in p.markTouched(row: start / width) }
                }
                p.grad.withUnsafeMutableBufferPointer { g in
                    q.grad.withUnsafeBufferPointer { h in
                        q.forEachGradientRange { start, length in
                            for j in start..<(start + length) { g[j] += w * h[j] }
                        }
                    }
                }
                q.zeroGrad()
            }
        }
    }
}
