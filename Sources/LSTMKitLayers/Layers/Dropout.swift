import LSTMKitCore

/// Inverted dropout: in training, zero each value with probability p and scale the
/// rest by 1/(1-p); at inference, the identity.
public struct Dropout {
    public let p: Float

    public init(_ p: Float) {
        precondition(p >= 0 && p < 1, "dropout must be in [0, 1)")
        self.p = p
    }

    /// The scale per element (0 or 1/(1-p)) for `count` elements.
    public func mask(count: Int, rng: inout SeededRandom) -> [Float] {
        let keep = 1 / (1 - p)
        return (0..<count).map { _ in rng.nextUnitFloat() < p ? 0 : keep }
    }

    /// Training forward: returns the output and the mask backward needs.
    public func forward(_ x: Tensor, rng: inout SeededRandom) -> (Tensor, [Float]) {
        if p == 0 { return (x, []) }
        let m = mask(count: x.count, rng: &rng)
        var y = x
        for i in 0..<y.count { y.data[i] *= m[i] }
        return (y, m)
    }

    public func backward(_ mask: [Float], outputGrad dy: Tensor) -> Tensor {
        if mask.isEmpty { return dy }
        var dx = dy
        for i in 0..<dx.count { dx.data[i] *= mask[i] }
        return dx
    }
}
