import LSTMKitCore

/// Normalises each row of the last dimension to zero mean and unit variance, then
/// scales by `weight` and shifts by `bias` (PyTorch's nn.LayerNorm, biased variance).
public final class LayerNorm: Module {
    public let dim: Int
    public let eps: Float
    public let weight: Parameter
    public let bias: Parameter

    public init(_ dim: Int, eps: Float = 1e-5) {
        precondition(dim > 0, "LayerNorm size must be positive")
        self.dim = dim
        self.eps = eps
        weight = Parameter(name: "weight", shape: [dim], value: [Float](repeating: 1, count: dim))
        bias = Parameter(name: "bias", shape: [dim])
    }

    public var localParameters: [Parameter] { [weight, bias] }

    /// What backward needs: the normalised input and 1/std per row.
    public struct Cache {
        public let normalized: [Float]
        public let invStd: [Float]
    }

    public func forward(_ x: Tensor) -> (Tensor, Cache) {
        precondition(x.shape.last == dim, "LayerNorm expects last dim \(dim), got \(x.shape)")
        let n = x.count / dim
        var y = [Float](repeating: 0, count: x.count)
        var xhat = [Float](repeating: 0, count: x.count)
        var invStd = [Float](repeating: 0, count: n)
        for r in 0..<n {
            let base = r * dim
            var mean: Float = 0
            for j in 0..<dim { mean += x.data[base + j] }
            mean /= Float(dim)
            var variance: Float = 0
            for j in 0..<dim { let d = x.data[base + j] - mean; variance += d * d }
            variance /= Float(dim)
            let rstd = 1 / VectorMath.sqrt(variance + eps)
            invStd[r] = rstd
            for j in 0..<dim {
                let h = (x.data[base + j] - mean) * rstd
                xhat[base + j] = h
                y[base + j] = h * weight.value[j] + bias.value[j]
            }
        }
        return (Tensor(shape: x.shape, data: y), Cache(normalized: xhat, invStd: invStd))
    }

    public func backward(_ cache: Cache, outputGrad dy: Tensor) -> Tensor {
        let n = dy.count / dim
        var dx = [Float](repeating: 0, count: dy.count)
        for r in 0..<n {
            let base = r * dim
            var sumD: Float = 0, sumDX: Float = 0
            for j in 0..<dim {
                let g = dy.data[base + j]
                let h = cache.normalized[base + j]
                weight.grad[j] += g * h
                bias.grad[j] += g
                let dh = g * weight.value[j]
                sumD += dh
                sumDX += dh * h
            }
            let scale = cache.invStd[r] / Float(dim)
            for j in 0..<dim {
                let dh = dy.data[base + j] * weight.value[j]
                dx[base + j] = scale * (Float(dim) * dh - sumD - cache.normalized[base + j] * sumDX)
            }
        }
        return Tensor(shape: dy.shape, data: dx)
    }
}
