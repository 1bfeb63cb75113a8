import LSTMKitCore

/// Batch normalisation of (N, C, H, W) maps per channel, as PyTorch's nn.BatchNorm2d:
/// in training each channel is normalised by the mean and biased variance of its
/// N·H·W values, and the running statistics move towards them (momentum 0.1, the
/// running variance unbiased); in evaluation the running statistics are used, so a
/// prediction does not depend on the rest of its batch. Then y = weight · x̂ + bias.
///
/// The running statistics are not trained: they are buffers (saved in model files,
/// never handed to an optimizer), not parameters.
public final class BatchNorm2D: Module {
    public let channels: Int
    public let eps: Float
    public let momentum: Float
    public let weight: Parameter
    public let bias: Parameter
    public let runningMean: Parameter
    public let runningVar: Parameter

    public init(_ channels: Int, eps: Float = 1e-5, momentum: Float = 0.1) {
        precondition(channels > 0, "BatchNorm2D needs at least one channel")
        self.channels = channels
        self.eps = eps
        self.momentum = momentum
        weight = Parameter(name: "weight", shape: [channels], value: [Float](repeating: 1, count: channels))
        bias = Parameter(name: "bias", shape: [channels])
        runningMean = Parameter(name: "running_mean", shape: [channels])
        runningVar = Parameter(name: "running_var", shape: [channels], value: [Float](repeating: 1, count: channels))
    }

    public var localParameters: [Parameter] { [weight, bias] }
    /// The running statistics, PyTorch's names (its num_batches_tracked is not kept).
    public var localBuffers: [Parameter] { [runningMean, runningVar] }

    /// What backward needs: the input (its storage shared with the caller's tensor, so
    /// nothing is copied; x̂ is recomputed from it) and the mean and 1/std per channel.
    public struct Cache {
        package let input: Tensor
        let mean: [Float]
        let invStd: [Float]
        let training: Bool
    }

    /// x (N, C, H, W) → y of the same shape. `training` uses and updates batch statistics.
    public func forward(_ x: Tensor, training: Bool) -> (Tensor, Cache) {
        forward(x, training: training, relu: false)
    }

    /// With `relu`, y = max(BN(x), 0) in the same pass (a Conv → BN → ReLU block).
    package func forward(_ x: Tensor, training: Bool, relu: Bool) -> (Tensor, Cache) {
        precondition(x.rank == 4 && x.shape[1] == channels, "BatchNorm2D expects (N, \(channels), H, W), got \(x.shape)")
        let (n, plane) = (x.shape[0], x.shape[2] * x.shape[3])
        let m = n * plane
        var means = [Float](repeating: 0, count: channels), invStd = [Float](repeating: 0, count: channels)
        let y = x.data.withUnsafeBufferPointer { XB in
            FloatKernels.array(x.count) { Y in
                let X = XB.baseAddress!
                for c in 0..<channels {
                    var mean: Float, variance: Float
                    if training && m > 0 {
                        // Per plane its mean, then the squared deviations from it while the
                        // plane is in cache (float lanes); the planes merged in Double (Chan et
                        // al.): Σ (x - μ)² = Σ_p [M2_p + n_p (μ_p - μ)²].
                        var planeMeans = [Double](repeating: 0, count: n), sq = 0.0
                        for b in 0..<n {
                            let at = X + (b * channels + c) * plane
                            let mp = FloatKernels.sum(at, plane) / Float(plane)
                            planeMeans[b] = Double(mp)
                            sq += Double(FloatKernels.squaredDeviation(at, shift: mp, plane))
                        }
                        let mu = planeMeans.reduce(0, +) / Double(n)
                        for mp in planeMeans { sq += Double(plane) * (mp - mu) * (mp - mu) }
                        mean = Float(mu)
                        variance = Float(sq / Double(m))
                        runningMean.value[c] = (1 - momentum) * runningMean.value[c] + momentum * mean
                        let unbiased = m > 1 ? Float(sq / Double(m - 1)) : variance
                        runningVar.value[c] = (1 - momentum) * runningVar.value[c] + momentum * unbiased
                    } else {
                        (mean, variance) = (runningMean.value[c], runningVar.value[c])
                    }
                    let rstd = 1 / VectorMath.sqrt(variance + eps)
                    (means[c], invStd[c]) = (mean, rstd)
                    let (scale, beta) = (weight.value[c] * rstd, bias.value[c])
                    for b in 0..<n {
                        let at = (b * channels + c) * plane
                        FloatKernels.affine(X + at, shift: mean, scale: scale, offset: beta, relu: relu, into: Y + at, plane)
                    }
                }
            }
        }
        return (Tensor(shape: x.shape, data: y), Cache(input: x, mean: means, invStd: invStd, training: training))
    }

    /// ADDS d(weight), d(bias); returns dx, including the batch statistics' dependence
    /// on x. Only after a training pass (evaluation passes are not differentiated).
    public func backward(_ cache: Cache, outputGrad dy: Tensor) -> Tensor {
        backward(cache, outputGrad: dy, reluOutput: nil)
    }

    /// With `reluOutput` (the y of `forward(relu: true)`), dy first passes the ReLU: it
    /// is kept where y > 0.
    package func backward(_ cache: Cache, outputGrad dy: Tensor, reluOutput: Tensor?) -> Tensor {
        precondition(cache.training, "BatchNorm2D.backward needs the cache of a training pass")
        let x = cache.input
        precondition(dy.shape == x.shape && (reluOutput?.shape ?? x.shape) == x.shape,
                     "BatchNorm2D.backward: dy has shape \(dy.shape), expected \(x.shape)")
        let (n, plane) = (dy.shape[0], dy.shape[2] * dy.shape[3])
        let m = Float(n * plane)
        let relu = reluOutput ?? Tensor(shape: [0], data: [])
        let dx = x.data.withUnsafeBufferPointer { XB in
        dy.data.withUnsafeBufferPointer { DYB in
        relu.data.withUnsafeBufferPointer { RB in
            FloatKernels.array(dy.count) { DX in
                let (X, DY) = (XB.baseAddress!, DYB.baseAddress!)
                for c in 0..<channels {
                    let (mean, rstd) = (cache.mean[c], cache.invStd[c])
                    // dx holds the (ReLU-masked) dy first; Σ dy and Σ dy·x̂ per channel.
                    var sumDY: Float = 0, sumDYX: Float = 0
                    for b in 0..<n {
                        let at = (b * channels + c) * plane
                        let g = DX + at
                        if reluOutput != nil {
                            FloatKernels.maskPositive(RB.baseAddress! + at, DY + at, into: g, plane)
                        } else {
                            g.update(from: DY + at, count: plane)
                        }
                        sumDY += FloatKernels.sum(g, plane)
                        sumDYX += FloatKernels.dotShifted(g, X + at, shift: mean, plane) * rstd
                    }
                    weight.grad[c] += sumDYX
                    bias.grad[c] += sumDY
                    // dx = γ/σ · (dy - mean(dy) - x̂ · mean(dy · x̂))
                    let scale = weight.value[c] * rstd
                    let (meanDY, meanDYX) = (sumDY / m, sumDYX / m)
                    // = scale·g - scale·k·(x - mean) - scale·meanDY, k = rstd · meanDYX
                    let k = rstd * meanDYX
                    for b in 0..<n {
                        let at = (b * channels + c) * plane
                        FloatKernels.scaleAndShift(DX + at, a: scale, minus: scale * k, times: X + at, shift: mean,
                                                   minus: scale * meanDY, plane)
                    }
                }
            }
        }
        }
        }
        return Tensor(shape: dy.shape, data: dx)
    }
}
