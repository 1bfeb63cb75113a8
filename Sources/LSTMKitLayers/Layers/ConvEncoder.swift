import LSTMKitCore

/// A small convolutional feature extractor: blocks of Conv2D 3×3 (padding 1) → ReLU →
/// 2×2 max-pool, so (N, C, H, W) → (N, C_k, H / 2^k, W / 2^k) after k blocks.
/// Tensors: "<block>.weight" and "<block>.bias" (its children are the blocks' convolutions).
public final class ConvEncoder: Module {
    public let convolutions: [Conv2D]
    let pool = MaxPool2D(size: 2)

    public init(inChannels: Int, channels: [Int], rng: inout SeededRandom) {
        precondition(!channels.isEmpty, "a ConvEncoder needs at least one block")
        var convolutions: [Conv2D] = []
        var c = inChannels
        for out in channels {
            convolutions.append(Conv2D(c, out, kernel: (3, 3), padding: (1, 1), rng: &rng))
            c = out
        }
        self.convolutions = convolutions
    }

    public var children: [(name: String, module: Module)] { ModuleList(convolutions).children }
    public var outChannels: Int { convolutions.last!.outChannels }
    /// The smallest height and width the encoder accepts (each block halves them).
    public var minimumSize: Int { 1 << convolutions.count }

    public func outputSize(height: Int, width: Int) -> (h: Int, w: Int) {
        (height >> convolutions.count, width >> convolutions.count)
    }

    /// What backward needs per block: its input, the convolution output after ReLU
    /// (positive exactly where it was before), and where the pool's maxima came from.
    public struct Cache {
        var inputs: [Tensor] = []
        var convOutputs: [Tensor] = []
        var pools: [MaxPool2D.Cache] = []
    }

    /// x (N, C, H, W) → features; the cache is kept only when `training`.
    public func forward(_ x: Tensor, training: Bool) -> (Tensor, Cache?) {
        precondition(x.shape[2] >= minimumSize && x.shape[3] >= minimumSize,
                     "ConvEncoder: input \(x.shape) is smaller than \(minimumSize)×\(minimumSize)")
        var cache = Cache()
        var h = x
        for conv in convolutions {
            var z = conv.forward(h)
            ReLU.apply(&z)
            let (pooled, poolCache) = pool.forward(z)
            if training {
                cache.inputs.append(h)
                cache.convOutputs.append(z)
                cache.pools.append(poolCache)
            }
            h = pooled
        }
        return (h, training ? cache : nil)
    }

    /// ADDS the parameter gradients; returns dx only when `inputGradient` (else empty).
    public func backward(_ cache: Cache, outputGrad dy: Tensor, inputGradient: Bool = false) -> Tensor {
        var g = dy
        for i in convolutions.indices.reversed() {
            let dz = ReLU.backward(cache.convOutputs[i], outputGrad: pool.backward(cache.pools[i], outputGrad: g))
            g = convolutions[i].backward(cache.inputs[i], outputGrad: dz, inputGradient: i > 0 || inputGradient)
        }
        return g
    }
}
