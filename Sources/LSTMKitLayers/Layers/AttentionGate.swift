import LSTMKitCore

/// An additive attention gate on a skip connection (Oktay et al. 2018, "Attention
/// U-Net"): the decoder's upsampled features g decide, per pixel, how much of the
/// encoder's skip features x pass: α = σ(ψ(ReLU(W_x x + W_g g))) with 1×1 convolutions,
/// one weight in (0, 1) per pixel; the output is x · α (all channels alike).
/// Tensors: "x.weight", "g.weight", "g.bias", "psi.weight", "psi.bias".
public final class AttentionGate: Module {
    public let skipProjection: Conv2D
    public let gatingProjection: Conv2D
    public let psi: Conv2D

    /// x has `skipChannels`, g `gatingChannels`; both are projected to `innerChannels`.
    public init(skipChannels: Int, gatingChannels: Int, innerChannels: Int, rng: inout SeededRandom) {
        skipProjection = Conv2D(skipChannels, innerChannels, kernel: (1, 1), bias: false, rng: &rng)
        gatingProjection = Conv2D(gatingChannels, innerChannels, kernel: (1, 1), rng: &rng)
        psi = Conv2D(innerChannels, 1, kernel: (1, 1), rng: &rng)
    }

    public var children: [(name: String, module: Module)] { [("x", skipProjection), ("g", gatingProjection), ("psi", psi)] }

    public struct Cache {
        package let x: Tensor, g: Tensor
        /// W_x x + W_g g before the ReLU: (N, F, H, W).
        package let inner: Tensor
        /// The gate α per pixel: (N, 1, H, W).
        public let alpha: Tensor
    }

    /// x (N, Cx, H, W) and g (N, Cg, H, W) → x · α, same shape as x.
    public func forward(_ x: Tensor, gating g: Tensor) -> (Tensor, Cache) {
        precondition(x.rank == 4 && g.rank == 4 && x.shape[0] == g.shape[0] && x.shape[2...] == g.shape[2...],
                     "AttentionGate: skip \(x.shape) and gating \(g.shape) differ in N, H or W")
        var inner = skipProjection.forward(x)
        let projected = gatingProjection.forward(g)
        for i in 0..<inner.count { inner.data[i] += projected.data[i] }
        var alpha = psi.forward(ReLU.forward(inner))
        for i in 0..<alpha.count { alpha.data[i] = VectorMath.sigmoid(alpha.data[i]) }
        let (n, c, plane) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        var out = x.data
        for b in 0..<n {
            for ch in 0..<c {
                for p in 0..<plane { out[(b * c + ch) * plane + p] *= alpha.data[b * plane + p] }
            }
        }
        return (Tensor(shape: x.shape, data: out), Cache(x: x, g: g, inner: inner, alpha: alpha))
    }

    /// ADDS the parameters' gradients; returns (dx, dg).
    public func backward(_ cache: Cache, outputGrad dy: Tensor) -> (dx: Tensor, dg: Tensor) {
        let x = cache.x
        let (n, c, plane) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        var dxDirect = dy.data
        // dα = Σ_c dy · x; then through the sigmoid.
        var dLogit = [Float](repeating: 0, count: n * plane)
        for b in 0..<n {
            for ch in 0..<c {
                for p in 0..<plane {
                    let i = (b * c + ch) * plane + p, a = b * plane + p
                    dLogit[a] += dy.data[i] * x.data[i]
                    dxDirect[i] *= cache.alpha.data[a]
                }
            }
        }
        for a in 0..<dLogit.count { let s = cache.alpha.data[a]; dLogit[a] *= s * (1 - s) }
        let activated = ReLU.forward(cache.inner)
        let dActivated = psi.backward(activated, outputGrad: Tensor(shape: cache.alpha.shape, data: dLogit))
        let dInner = ReLU.backward(cache.inner, outputGrad: dActivated)
        let dg = gatingProjection.backward(cache.g, outputGrad: dInner)
        var dx = skipProjection.backward(x, outputGrad: dInner)
        for i in 0..<dx.count { dx.data[i] += dxDirect[i] }
        return (dx, dg)
    }
}
