import LSTMKitCore

/// Transposed 2-D convolution over (N, C, H, W), as PyTorch's nn.ConvTranspose2d
/// (no dilation, no output padding): weight (C, O, kh, kw), bias (O), output size
/// (H - 1)·stride - 2·padding + kernel per axis. It is the adjoint of a convolution,
/// so it is computed as one: a GEMM gives every input pixel's (O·kh·kw) contributions,
/// which are then added into the output ("col2im"); backward gathers dY's patches
/// ("im2col") and runs two GEMMs. Images go in groups, one GEMM per group.
public final class ConvTranspose2D: Module {
    public let inChannels: Int, outChannels: Int
    public let kernel: (h: Int, w: Int)
    public let stride: (h: Int, w: Int)
    public let padding: (h: Int, w: Int)
    public let weight: Parameter
    public let bias: Parameter?

    public init(_ inChannels: Int, _ outChannels: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), bias: Bool = true, rng: inout SeededRandom) {
        precondition(inChannels > 0 && outChannels > 0 && kernel.0 > 0 && kernel.1 > 0 && stride.0 > 0 && stride.1 > 0
                     && padding.0 >= 0 && padding.1 >= 0, "ConvTranspose2D sizes must be positive, padding non-negative")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        // PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)), where its fan_in is
        // taken from the weight's dimension 1: O·kh·kw.
        let p = convolutionParameters(weight: [inChannels, outChannels, kernel.0, kernel.1], bias: bias ? outChannels : 0,
                                      bound: 1 / Float(outChannels * kernel.0 * kernel.1).squareRoot(), rng: &rng)
        weight = p.weight
        self.bias = p.bias
    }

    public var localParameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    /// The output size, or nil when padding would leave nothing.
    public func outputSize(height: Int, width: Int) -> (h: Int, w: Int)? {
        let ho = (height - 1) * stride.h - 2 * padding.h + kernel.h
        let wo = (width - 1) * stride.w - 2 * padding.w + kernel.w
        return height > 0 && width > 0 && ho > 0 && wo > 0 ? (ho, wo) : nil
    }

    /// Each output pixel is reached by exactly one (input pixel, tap): stride = kernel,
    /// no padding (the decoder's 2×2, stride 2). Then outputs are written, not summed.
    var tiles: Bool { stride == kernel && padding == (0, 0) }

    /// The inputs i (along one axis of `size`) whose target i·stride - padding + tap lies
    /// in [0, outputs).
    @inline(__always)
    private static func validInputs(tap: Int, stride: Int, padding: Int, size: Int, outputs: Int) -> Range<Int> {
        func ceilDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? (a + b - 1) / b : -((-a) / b) }
        let lo = max(0, ceilDiv(padding - tap, stride))
        let hi = min(size, ceilDiv(outputs + padding - tap, stride))
        return lo..<max(lo, hi)
    }

    /// Adds one image's contributions: row (o, ki, kj) of `cols` (stride ld) holds, per
    /// input pixel, what it adds to output channel o through that tap. When the taps
    /// tile the output, writes them (with the bias) instead: `out` need not be zeroed.
    private func scatter(_ cols: UnsafePointer<Float>, ld: Int, h: Int, w: Int, ho: Int, wo: Int,
                         into out: UnsafeMutablePointer<Float>) {
        if tiles && kernel.w == 2 {
            // The decoder's 2×2 stride 2: an output row interleaves the rows of its two taps.
            for o in 0..<outChannels {
                let b = bias?.value[o] ?? 0
                for ki in 0..<kernel.h {
                    let (left, right) = (cols + ((o * kernel.h + ki) * 2) * ld, cols + ((o * kernel.h + ki) * 2 + 1) * ld)
                    for i in 0..<h {
                        Self.interleave(left + i * w, right + i * w, plus: b, into: out + (o * ho + i * stride.h + ki) * wo, w)
                    }
                }
            }
            return
        }
        var row = 0
        for o in 0..<outChannels {
            let b = tiles ? bias?.value[o] ?? 0 : 0
            for ki in 0..<kernel.h {
                let rows = Self.validInputs(tap: ki, stride: stride.h, padding: padding.h, size: h, outputs: ho)
                for kj in 0..<kernel.w {
                    let src = cols + row * ld
                    let columns = Self.validInputs(tap: kj, stride: stride.w, padding: padding.w, size: w, outputs: wo)
                    for i in rows {
                        let line = out + (o * ho + i * stride.h - padding.h + ki) * wo - padding.w + kj, from = src + i * w
                        if tiles {
                            for j in columns { line[j * stride.w] = from[j] + b }
                        } else {
                            for j in columns { line[j * stride.w] += from[j] }
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// The adjoint of `scatter`: copies dY's values at each tap's targets into columns.
    private func gather(_ dy: UnsafePointer<Float>, h: Int, w: Int, ho: Int, wo: Int,
                        into cols: UnsafeMutablePointer<Float>, ld: Int) {
        if tiles && kernel.w == 2 {
            for o in 0..<outChannels {
                for ki in 0..<kernel.h {
                    let (left, right) = (cols + ((o * kernel.h + ki) * 2) * ld, cols + ((o * kernel.h + ki) * 2 + 1) * ld)
                    for i in 0..<h {
                        Self.deinterleave(dy + (o * ho + i * stride.h + ki) * wo, into: left + i * w, right + i * w, w)
                    }
                }
            }
            return
        }
        var row = 0
        for o in 0..<outChannels {
            for ki in 0..<kernel.h {
                let rows = Self.validInputs(tap: ki, stride: stride.h, padding: padding.h, size: h, outputs: ho)
                for kj in 0..<kernel.w {
                    let dst = cols + row * ld
                    let columns = Self.validInputs(tap: kj, stride: stride.w, padding: padding.w, size: w, outputs: wo)
                    for i in 0..<h {
                        let to = dst + i * w
                        guard rows.contains(i), !columns.isEmpty else {
                            to.update(repeating: 0, count: w)
                            continue
                        }
                        let line = dy + (o * ho + i * stride.h - padding.h + ki) * wo - padding.w + kj
                        to.update(repeating: 0, count: columns.lowerBound)
                        for j in columns { to[j] = line[j * stride.w] }
                        (to + columns.upperBound).update(repeating: 0, count: w - columns.upperBound)
                    }
                    row += 1
                }
            }
        }
    }

    /// out[2j] = a[j] + b, out[2j + 1] = c[j] + b for j < n (a plain loop the compiler vectorises).
    @inline(never)
    private static func interleave(_ a: UnsafePointer<Float>, _ c: UnsafePointer<Float>, plus b: Float,
                                   into out: UnsafeMutablePointer<Float>, _ n: Int) {
        for j in 0..<n {
            out[2 * j] = a[j] + b
            out[2 * j + 1] = c[j] + b
        }
    }

    /// a[j] = x[2j], c[j] = x[2j + 1] for j < n.
    @inline(never)
    private static func deinterleave(_ x: UnsafePointer<Float>, into a: UnsafeMutablePointer<Float>,
                                     _ c: UnsafeMutablePointer<Float>, _ n: Int) {
        for j in 0..<n {
            a[j] = x[2 * j]
            c[j] = x[2 * j + 1]
        }
    }

    /// Copies images [start, start + count) of x (N, C, P) side by side into (C, g·P).
    private static func pack(_ x: UnsafePointer<Float>, start: Int, count: Int, channels c: Int, positions p: Int,
                             into packed: UnsafeMutablePointer<Float>) {
        for g in 0..<count {
            for ch in 0..<c { (packed + ch * count * p + g * p).update(from: x + ((start + g) * c + ch) * p, count: p) }
        }
    }

    /// The inverse of `pack`: (C, g·P) back to images [start, start + count) of x (N, C, P).
    private static func unpack(_ packed: UnsafePointer<Float>, start: Int, count: Int, channels c: Int, positions p: Int,
                               into x: UnsafeMutablePointer<Float>) {
        for g in 0..<count {
            for ch in 0..<c { (x + ((start + g) * c + ch) * p).update(from: packed + ch * count * p + g * p, count: p) }
        }
    }

    /// x (N, C, H, W) → (N, O, Ho, Wo).
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == inChannels, "ConvTranspose2D expects (N, \(inChannels), H, W), got \(x.shape)")
        let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        let (ho, wo) = outputSize(height: h, width: w)!
        let (rows, p, plane) = (outChannels * kernel.h * kernel.w, h * w, ho * wo)
        guard n > 0 else { return Tensor(shape: [0, outChannels, ho, wo], data: []) }
        let g = Conv2D.groupSize(images: n, rows: rows, positions: p)
        var out = tiles ? FloatKernels.array(n * outChannels * plane) { _ in } : FloatKernels.zeros(n * outChannels * plane)
        x.data.withUnsafeBufferPointer { X in
        ScratchBuffers.with(g == 1 ? 0 : inChannels * g * p) { PK in
        ScratchBuffers.with(rows * g * p) { COLS in
        weight.value.withUnsafeBufferPointer { W in
        out.withUnsafeMutableBufferPointer { OUT in
            for start in Swift.stride(from: 0, to: n, by: g) {
                let count = min(g, n - start), ld = count * p
                let packed: UnsafePointer<Float>
                if count == 1 {
                    packed = X.baseAddress! + start * inChannels * p
                } else {
                    Self.pack(X.baseAddress!, start: start, count: count, channels: inChannels, positions: p, into: PK)
                    packed = UnsafePointer(PK)
                }
                // cols (O·kh·kw, g·P) = W^T (O·kh·kw, C) x X (C, g·P)
                BLAS.gemm(transA: true, m: rows, n: ld, k: inChannels, a: W.baseAddress!, lda: rows,
                          b: packed, ldb: ld, beta: 0, c: COLS, ldc: ld)
                for gi in 0..<count {
                    let image = OUT.baseAddress! + (start + gi) * outChannels * plane
                    scatter(COLS + gi * p, ld: ld, h: h, w: w, ho: ho, wo: wo, into: image)
                    if let bias, !tiles {
                        for o in 0..<outChannels {
                            let b = bias.value[o], dst = image + o * plane
                            for i in 0..<plane { dst[i] += b }
                        }
                    }
                }
            }
        }
        }
        }
        }
        }
        return Tensor(shape: [n, outChannels, ho, wo], data: out)
    }

    /// ADDS dW, db; returns dx (N, C, H, W).
    public func backward(_ x: Tensor, outputGrad dy: Tensor) -> Tensor {
        let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        let (ho, wo) = outputSize(height: h, width: w)!
        precondition(dy.shape == [n, outChannels, ho, wo], "ConvTranspose2D.backward: dy has shape \(dy.shape)")
        let (rows, p, plane) = (outChannels * kernel.h * kernel.w, h * w, ho * wo)
        guard n > 0 else { return Tensor(shape: x.shape, data: []) }
        let g = Conv2D.groupSize(images: n, rows: rows, positions: p)
        let dx = FloatKernels.array(x.count) { DX in
            x.data.withUnsafeBufferPointer { X in
            ScratchBuffers.with(g == 1 ? 0 : 2 * inChannels * g * p) { PK in
            ScratchBuffers.with(rows * g * p) { COLS in
            dy.data.withUnsafeBufferPointer { DY in
            weight.value.withUnsafeBufferPointer { W in
            weight.grad.withUnsafeMutableBufferPointer { GW in
                for start in Swift.stride(from: 0, to: n, by: g) {
                    let count = min(g, n - start), ld = count * p
                    for gi in 0..<count {
                        gather(DY.baseAddress! + (start + gi) * outChannels * plane, h: h, w: w, ho: ho, wo: wo,
                               into: COLS + gi * p, ld: ld)
                    }
                    let packed: UnsafePointer<Float>, dPacked: UnsafeMutablePointer<Float>
                    if count == 1 {
                        (packed, dPacked) = (X.baseAddress! + start * inChannels * p, DX + start * inChannels * p)
                    } else {
                        Self.pack(X.baseAddress!, start: start, count: count, channels: inChannels, positions: p, into: PK)
                        (packed, dPacked) = (UnsafePointer(PK), PK + inChannels * ld)
                    }
                    // dW (C, O·kh·kw) += X (C, g·P) x cols^T (g·P, O·kh·kw)
                    BLAS.gemm(transB: true, m: inChannels, n: rows, k: ld, a: packed, lda: ld,
                              b: COLS, ldb: ld, beta: 1, c: GW.baseAddress!, ldc: rows)
                    // dX (C, g·P) = W (C, O·kh·kw) x cols (O·kh·kw, g·P)
                    BLAS.gemm(m: inChannels, n: ld, k: rows, a: W.baseAddress!, lda: rows,
                              b: COLS, ldb: ld, beta: 0, c: dPacked, ldc: ld)
                    if count > 1 {
                        Self.unpack(dPacked, start: start, count: count, channels: inChannels, positions: p, into: DX)
                    }
                }
            }
            }
            }
            }
            }
            }
        }
        if let bias {
            dy.data.withUnsafeBufferPointer { DY in
                bias.grad.withUnsafeMutableBufferPointer { GB in
                    for s in 0..<n {
                        for o in 0..<outChannels { GB[o] += FloatKernels.sum(DY.baseAddress! + (s * outChannels + o) * plane, plane) }
                    }
                }
            }
        }
        return Tensor(shape: x.shape, data: dx)
    }
}

/// Bilinear upsampling of (N, C, H, W) by an integer factor, as PyTorch's
/// F.interpolate(mode="bilinear", align_corners=False): output pixel o reads the
/// input at (o + 0.5) / scale - 0.5 (clamped at 0), mixing its two neighbours.
public struct BilinearUpsample: Sendable {
    public let scale: Int

    public init(scale: Int = 2) {
        precondition(scale >= 1, "the upsampling factor must be >= 1")
        self.scale = scale
    }

    /// Per output index along an axis of `size` inputs: the two source indices and weights.
    func taps(_ size: Int) -> [(i0: Int, i1: Int, l0: Float, l1: Float)] {
        (0..<(size * scale)).map { o in
            let src = max((Float(o) + 0.5) / Float(scale) - 0.5, 0)
            let i0 = min(Int(src), size - 1)
            let l1 = src - Float(i0)
            return (i0, min(i0 + 1, size - 1), 1 - l1, l1)
        }
    }

    /// x (N, C, H, W) → (N, C, H·scale, W·scale).
    public func forward(_ x: Tensor) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (rows, cols) = (taps(h), taps(w))
        let (ho, wo) = (h * scale, w * scale)
        var out = [Float](repeating: 0, count: n * c * ho * wo)
        x.data.withUnsafeBufferPointer { X in
            out.withUnsafeMutableBufferPointer { O in
                for plane in 0..<(n * c) {
                    let src = X.baseAddress! + plane * h * w, dst = O.baseAddress! + plane * ho * wo
                    for (y, r) in rows.enumerated() {
                        let a = src + r.i0 * w, b = src + r.i1 * w
                        for (xo, t) in cols.enumerated() {
                            dst[y * wo + xo] = r.l0 * (t.l0 * a[t.i0] + t.l1 * a[t.i1]) + r.l1 * (t.l0 * b[t.i0] + t.l1 * b[t.i1])
                        }
                    }
                }
            }
        }
        return Tensor(shape: [n, c, ho, wo], data: out)
    }

    /// The adjoint: spreads each output gradient back onto its four source pixels.
    public func backward(_ inputShape: [Int], outputGrad dy: Tensor) -> Tensor {
        let (n, c, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let (rows, cols) = (taps(h), taps(w))
        let (ho, wo) = (h * scale, w * scale)
        precondition(dy.shape == [n, c, ho, wo], "BilinearUpsample.backward: dy has shape \(dy.shape)")
        var dx = [Float](repeating: 0, count: n * c * h * w)
        dy.data.withUnsafeBufferPointer { DY in
            dx.withUnsafeMutableBufferPointer { DX in
                for plane in 0..<(n * c) {
                    let src = DY.baseAddress! + plane * ho * wo, dst = DX.baseAddress! + plane * h * w
                    for (y, r) in rows.enumerated() {
                        let a = dst + r.i0 * w, b = dst + r.i1 * w
                        for (xo, t) in cols.enumerated() {
                            let g = src[y * wo + xo]
                            a[t.i0] += r.l0 * t.l0 * g
                            a[t.i1] += r.l0 * t.l1 * g
                            b[t.i0] += r.l1 * t.l0 * g
                            b[t.i1] += r.l1 * t.l1 * g
                        }
                    }
                }
            }
        }
        return Tensor(shape: inputShape, data: dx)
    }
}
