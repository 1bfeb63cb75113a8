import LSTMKitCore

/// The mean of looked-up rows of a (num, dim) table over each bag of ids, as PyTorch's
/// nn.EmbeddingBag(mode="mean"): bags (B lists of ids) -> (B, dim); an empty bag gives
/// zeros. Gradients touch only the rows used (sparse, see `Parameter.sparseRowSize`).
public final class EmbeddingBag: Module {
    public let numEmbeddings: Int
    public let dim: Int
    public let weight: Parameter

    /// The table starts at zero unless `initialScale` > 0 (then normal × initialScale).
    public init(_ numEmbeddings: Int, _ dim: Int, initialScale: Float = 0, rng: inout SeededRandom) {
        precondition(numEmbeddings > 0 && dim > 0, "EmbeddingBag sizes must be positive")
        self.numEmbeddings = numEmbeddings
        self.dim = dim
        var w = [Float](repeating: 0, count: numEmbeddings * dim)
        if initialScale > 0 { rng.fillNormal(&w, scale: initialScale) }
        weight = Parameter(name: "weight", shape: [numEmbeddings, dim], value: w)
        weight.sparseRowSize = dim
    }

    public var localParameters: [Parameter] { [weight] }

    /// Ids must be in [0, numEmbeddings).
    public func forward(_ bags: [[Int32]]) -> Tensor {
        var out = [Float](repeating: 0, count: bags.count * dim)
        weight.value.withUnsafeBufferPointer { w in
            out.withUnsafeMutableBufferPointer { o in
                for (b, bag) in bags.enumerated() where !bag.isEmpty {
                    let row = o.baseAddress! + b * dim
                    for id in bag { VectorMath.add(w.baseAddress! + Int(id) * dim, into: row, count: dim) }
                    let scale = 1 / Float(bag.count)
                    for j in 0..<dim { row[j] *= scale }
                }
            }
        }
        return Tensor(shape: [bags.count, dim], data: out)
    }

    /// Accumulates dy (B, dim) / |bag| into each row of the bag.
    public func backward(_ bags: [[Int32]], outputGrad dy: Tensor) {
        precondition(dy.count == bags.count * dim, "EmbeddingBag.backward: dy has the wrong size")
        var scaled = [Float](repeating: 0, count: dim)
        dy.data.withUnsafeBufferPointer { g in
            weight.grad.withUnsafeMutableBufferPointer { gw in
                for (b, bag) in bags.enumerated() where !bag.isEmpty {
                    let scale = 1 / Float(bag.count)
                    for j in 0..<dim { scaled[j] = g[b * dim + j] * scale }
                    for id in bag {
                        VectorMath.add(scaled, into: gw.baseAddress! + Int(id) * dim, count: dim)
                        weight.markTouched(row: Int(id))
                    }
                }
            }
        }
    }
}
