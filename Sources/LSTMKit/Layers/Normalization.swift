/// Batch normalisation of (N, C, H, W) maps per channel, as PyTorch's nn.BatchNorm2d:
/// in training each channel is normalised by the mean and biased variance of its
/// N·H·W values, and the running statistics move towards them (momentum 0.1, the
/// running variance unbiased); in evaluation the running statistics are used, so a
/// prediction does not depend on the rest of its batch. Then y = weight · x̂ + bias.
///
/// The running statistics are not trained: they are `buffers` (saved in model files,
/// never handed to an optimizer), not `parameters`.
public final class BatchNorm2D: Module {
    public let channels: Int
    public let eps: Float
    public let momentum: Float
    public let weight: Parameter
    public let bias: Parameter
    public let runningMean: Parameter
    public let runningVar: Parameter

    public init(_ channels: Int, eps: Float = 1e-5, momentum: Float = 0.1, prefix: String = "") {
        precondition(channels > 0, "BatchNorm2D needs at least one channel")
        self.channels = channels
        self.eps = eps
        self.momentum = momentum
        weight = Parameter(name: prefix + "weight", shape: [channels], value: [Float](repeating: 1, count: channels))
        bias = Parameter(name: prefix + "bias", shape: [channels])
        runningMean = Parameter(name: prefix + "running_mean", shape: [channels])
        runningVar = Parameter(name: prefix + "running_var", shape: [channels], value: [Float](repeating: 1, count: channels))
    }

    public var parameters: [Parameter] { [weight, bias] }
    /// The running statistics, PyTorch's names (its num_batches_tracked is not kept).
    public var buffers: [Parameter] { [runningMean, runningVar] }

    /// What backward needs: x̂ (empty after an evaluation pass) and 1/std per channel.
    public struct Cache {
        let normalized: [Float]
        let invStd: [Float]
        let shape: [Int]
        let training: Bool
    }

    /// x (N, C, H, W) → y of the same shape. `training` uses and updates batch statistics.
    public func forward(_ x: Tensor, training: Bool) -> (Tensor, Cache) {
        precondition(x.rank == 4 && x.shape[1] == channels, "BatchNorm2D expects (N, \(channels), H, W), got \(x.shape)")
        let (n, plane) = (x.shape[0], x.shape[2] * x.shape[3])
        let m = n * plane
        var y = [Float](repeating: 0, count: x.count)
        var xhat = [Float](repeating: 0, count: training ? x.count : 0)
        var invStd = [Float](repeating: 0, count: channels)
        x.data.withUnsafeBufferPointer { X in
        y.withUnsafeMutableBufferPointer { Y in
        xhat.withUnsafeMutableBufferPointer { XH in
            for c in 0..<channels {
                var mean: Float, variance: Float
                if training && m > 0 {
                    // Two passes in Double: the maps are large and float sums drift.
                    var sum = 0.0
                    for b in 0..<n { for i in 0..<plane { sum += Double(X[(b * channels + c) * plane + i]) } }
                    let mu = sum / Double(m)
                    var sq = 0.0
                    for b in 0..<n {
                        for i in 0..<plane { let d = Double(X[(b * channels + c) * plane + i]) - mu; sq += d * d }
                    }
                    mean = Float(mu)
                    variance = Float(sq / Double(m))
                    runningMean.value[c] = (1 - momentum) * runningMean.value[c] + momentum * mean
                    let unbiased = m > 1 ? Float(sq / Double(m - 1)) : variance
                    runningVar.value[c] = (1 - momentum) * runningVar.value[c] + momentum * unbiased
                } else {
                    (mean, variance) = (runningMean.value[c], runningVar.value[c])
                }
                let rstd = 1 / VectorMath.sqrt(variance + eps)
                invStd[c] = rstd
                let (g, beta) = (weight.value[c], bias.value[c])
                for b in 0..<n {
                    let base = (b * channels + c) * plane
                    for i in 0..<plane {
                        let h = (X[base + i] - mean) * rstd
                        if training { XH[base + i] = h }
                        Y[base + i] = g * h + beta
                    }
                }
            }
        }
        }
        }
        return (Tensor(shape: x.shape, data: y), Cache(normalized: xhat, invStd: invStd, shape: x.shape, training: training))
    }

    /// ADDS d(weight), d(bias); returns dx, including the batch statistics' dependence
    /// on x. Only after a training pass (evaluation passes are not differentiated).
    public func backward(_ cache: Cache, outputGrad dy: Tensor) -> Tensor {
        precondition(cache.training, "BatchNorm2D.backward needs the cache of a training pass")
        precondition(dy.shape == cache.shape, "BatchNorm2D.backward: dy has shape \(dy.shape), expected \(cache.shape)")
        let (n, plane) = (dy.shape[0], dy.shape[2] * dy.shape[3])
        let m = Float(n * plane)
        var dx = [Float](repeating: 0, count: dy.count)
        dy.data.withUnsafeBufferPointer { DY in
        cache.normalized.withUnsafeBufferPointer { XH in
        dx.withUnsafeMutableBufferPointer { DX in
            for c in 0..<channels {
                var sumDY: Float = 0, sumDYX: Float = 0
                for b in 0..<n {
                    let base = (b * channels + c) * plane
                    for i in 0..<plane { sumDY += DY[base + i]; sumDYX += DY[base + i] * XH[base + i] }
                }
                weight.grad[c] += sumDYX
                bias.grad[c] += sumDY
                // dx = γ/σ · (dy - mean(dy) - x̂ · mean(dy · x̂))
                let scale = weight.value[c] * cache.invStd[c]
                let (meanDY, meanDYX) = (sumDY / m, sumDYX / m)
                for b in 0..<n {
                    let base = (b * channels + c) * plane
                    for i in 0..<plane { DX[base + i] = scale * (DY[base + i] - meanDY - XH[base + i] * meanDYX) }
                }
            }
        }
        }
        }
        return Tensor(shape: dy.shape, data: dx)
    }
}

/// A module made of a list of parameters: lets model files save buffers (running
/// statistics) through the same named-module machinery as trained weights.
public final class ParameterList: Module {
    public let parameters: [Parameter]
    public init(_ parameters: [Parameter]) { self.parameters = parameters }
}
