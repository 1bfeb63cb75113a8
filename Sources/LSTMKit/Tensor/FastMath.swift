/// Vectorised exp, sigmoid and tanh for float32 (Cephes' polynomials, 8 lanes).
/// Maximum relative error about 2e-7 against libm over the ranges the LSTM uses —
/// well inside float32 training and the engine's 1e-5 exactness — at a fraction of
/// the cost of scalar libm calls, which dominated the LSTM's gate math.
public enum FastMath {
    public typealias V = SIMD8<Float>

    @inline(__always)
    public static func exp(_ x: V) -> V {
        let x = x.clamped(lowerBound: V(repeating: -87.3), upperBound: V(repeating: 88.3))
        // n = round(x / ln 2) by the 1.5 * 2^23 trick: adding it rounds to an integer,
        // whose value then sits in the low mantissa bits (no float -> int conversion,
        // which Swift's SIMD types do element by element).
        let magic = V(repeating: 12_582_912)
        let shifted = x * 1.442_695_04 + magic
        let n = shifted - magic
        let r = x - n * 0.693_359_375 + n * 2.121_944_4e-4
        var p = V(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        p = p * r * r + r + 1
        // 2^n through the exponent bits.
        let ni = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
        let bits = (ni &+ 127) &<< 23
        return p * unsafeBitCast(bits, to: V.self)
    }

    @inline(__always)
    public static func sigmoid(_ x: V) -> V {
        1 / (1 + exp(-x))
    }

    @inline(__always)
    public static func tanh(_ x: V) -> V {
        let ax = abs(x)
        // Small |x|: odd polynomial (keeps relative precision near 0).
        let z = x * x
        var p = V(repeating: -5.704_988_727_45e-3)
        p = p * z + 2.063_908_879_54e-2
        p = p * z - 5.373_971_555_31e-2
        p = p * z + 1.333_144_220_36e-1
        p = p * z - 3.333_328_194_22e-1
        let small = p * z * x + x
        // Large |x|: 1 - 2 / (exp(2|x|) + 1), with the sign restored.
        let e = exp(2 * ax)
        var large = 1 - 2 / (e + 1)
        large.replace(with: -large, where: x .< 0)
        var result = large
        result.replace(with: small, where: ax .< 0.625)
        return result
    }

    @inline(__always)
    static func abs(_ x: V) -> V {
        unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: V.self)
    }

    /// Loads up to 8 floats (zeros past `count`).
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, _ count: Int) -> V {
        if count >= 8 { return UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        var v = V(repeating: 0)
        for i in 0..<count { v[i] = p[i] }
        return v
    }

    @inline(__always)
    static func store(_ v: V, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
        if count >= 8 { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self); return }
        for i in 0..<count { p[i] = v[i] }
    }

    /// The LSTM cell on one row of H units, in place: the pre-activations
    /// gates = [i | f | g | o] (4H) become σ(i), σ(f), tanh(g), σ(o), and
    /// c = σ(f) c_prev + σ(i) tanh(g), h = σ(o) tanh(c) are written to cOut and hOut
    /// (and to yOut if given).
    @inline(__always)
    public static func lstmCell(gates: UnsafeMutablePointer<Float>, hidden n: Int, cPrev: UnsafePointer<Float>,
                                cOut: UnsafeMutablePointer<Float>, hOut: UnsafeMutablePointer<Float>,
                                yOut: UnsafeMutablePointer<Float>?) {
        var j = 0
        while j < n {
            let k = min(8, n - j)
            let i = sigmoid(load(gates + j, k))
            let f = sigmoid(load(gates + n + j, k))
            let g = tanh(load(gates + 2 * n + j, k))
            let o = sigmoid(load(gates + 3 * n + j, k))
            let c = f * load(cPrev + j, k) + i * g
            let h = o * tanh(c)
            store(i, gates + j, k)
            store(f, gates + n + j, k)
            store(g, gates + 2 * n + j, k)
            store(o, gates + 3 * n + j, k)
            store(c, cOut + j, k)
            store(h, hOut + j, k)
            if let yOut { store(h, yOut + j, k) }
            j += 8
        }
    }

    /// Backward of `lstmCell` for one row: from the activated gates, c_prev, c and the
    /// incoming dh (dhIn, including the output's gradient) and dc (updated in place to
    /// the gradient w.r.t. c_prev), writes the pre-activation gate gradients dGates.
    @inline(__always)
    public static func lstmCellBackward(gates: UnsafePointer<Float>, hidden n: Int, cPrev: UnsafePointer<Float>,
                                        c: UnsafePointer<Float>, dh: UnsafePointer<Float>, dhExtra: UnsafePointer<Float>,
                                        dc: UnsafeMutablePointer<Float>, dGates: UnsafeMutablePointer<Float>) {
        var j = 0
        while j < n {
            let k = min(8, n - j)
            let i = load(gates + j, k), f = load(gates + n + j, k)
            let g = load(gates + 2 * n + j, k), o = load(gates + 3 * n + j, k)
            let dhj = load(dh + j, k) + load(dhExtra + j, k)
            let tc = tanh(load(c + j, k))
            let dcj = load(dc + j, k) + dhj * o * (1 - tc * tc)
            store(dcj * g * i * (1 - i), dGates + j, k)
            store(dcj * load(cPrev + j, k) * f * (1 - f), dGates + n + j, k)
            store(dcj * i * (1 - g * g), dGates + 2 * n + j, k)
            store(dhj * tc * o * (1 - o), dGates + 3 * n + j, k)
            store(dcj * f, dc + j, k)
            j += 8
        }
    }
}
