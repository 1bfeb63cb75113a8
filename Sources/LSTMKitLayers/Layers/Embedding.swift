import LSTMKitCore

/// Looks up rows of a (num, dim) table: ids (N) -> (N, dim). The row at `paddingIndex`
/// starts at zero and never receives gradient, as in PyTorch's nn.Embedding.
public final class Embedding: Module {
    public let numEmbeddings: Int
    public let dim: Int
    public let paddingIndex: Int?
    public let weight: Parameter
    /// Its int8 rows once quantized (`QuantizableLayer`): the file holds them, lookups
    /// copy them dequantized, and `weight` is freed.
    var quantized: QuantizedWeight?

    /// `sparse`: gradients touch only the looked-up rows, and clipping, zeroing and
    /// Adam visit only those (fast for large tables; see `Parameter.sparseRowSize`).
    public init(_ numEmbeddings: Int, _ dim: Int, paddingIndex: Int? = nil, sparse: Bool = false,
                rng: inout SeededRandom) {
        precondition(numEmbeddings > 0 && dim > 0, "Embedding sizes must be positive")
        precondition(paddingIndex.map { $0 >= 0 && $0 < numEmbeddings } ?? true, "padding index out of range")
        self.numEmbeddings = numEmbeddings
        self.dim = dim
        self.paddingIndex = paddingIndex
        var w = [Float](repeating: 0, count: numEmbeddings * dim)
        rng.fillNormal(&w)
        if let p = paddingIndex {
            for j in 0..<dim { w[p * dim + j] = 0 }
        }
        weight = Parameter(name: "weight", shape: [numEmbeddings, dim], value: w)
        if sparse { weight.sparseRowSize = dim }
    }

    public var localParameters: [Parameter] { quantized.map { [$0.values, $0.scales] } ?? [weight] }

    /// Throws if an id is outside [0, numEmbeddings).
    public func validate(_ ids: [Int32]) throws {
        for (i, id) in ids.enumerated() where id < 0 || Int(id) >= numEmbeddings {
            throw LSTMKitError.invalidArgument(
                "id \(id) at position \(i) is outside the vocabulary [0, \(numEmbeddings))")
        }
    }

    /// ids (shape) -> (shape..., dim). Ids must be valid (see `validate`).
    public func forward(_ ids: [Int32], shape: [Int]) -> Tensor {
        Tensor(shape: shape + [dim], data: FloatKernels.array(ids.count * dim) { lookup(ids, into: $0, stride: dim) })
    }

    /// The rows of `ids` written to out, out + stride, …: a lookup straight into a wider
    /// row (a model's concatenated input) without a tensor of its own. Ids must be valid.
    public func lookup(_ ids: [Int32], into out: UnsafeMutablePointer<Float>, stride: Int) {
        if let q = quantized {
            q.values.int8Value!.withUnsafeBufferPointer { v in
            q.scales.value.withUnsafeBufferPointer { s in
                for (r, id) in ids.enumerated() {
                    let (row, scale, o) = (v.baseAddress! + Int(id) * dim, s[Int(id)], out + r * stride)
                    for j in 0..<dim { o[j] = Float(row[j]) * scale }
                }
            }
            }
            return
        }
        weight.value.withUnsafeBufferPointer { w in
            for (r, id) in ids.enumerated() {
                (out + r * stride).update(from: w.baseAddress! + Int(id) * dim, count: dim)
            }
        }
    }

    /// Accumulates the gradient of each used row (except the padding row).
    public func backward(_ ids: [Int32], outputGrad dy: Tensor) {
        precondition(quantized == nil, "an int8-quantized Embedding is for inference only: train the float32 model")
        precondition(dy.count == ids.count * dim, "Embedding.backward: dy has the wrong size")
        dy.data.withUnsafeBufferPointer { g in
            weight.grad.withUnsafeMutableBufferPointer { gw in
                for (r, id) in ids.enumerated() where Int(id) != paddingIndex {
                    VectorMath.add(g.baseAddress! + r * dim, into: gw.baseAddress! + Int(id) * dim, count: dim)
                    if weight.sparseRowSize != nil { weight.markTouched(row: Int(id)) }
                }
            }
        }
    }
}
