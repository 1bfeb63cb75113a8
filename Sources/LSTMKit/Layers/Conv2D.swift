/// 2-D convolution over (N, C, H, W) images, as PyTorch's nn.Conv2d: weight
/// (O, C, kh, kw), bias (O), stride, zero padding and dilation per axis.
/// Computed as im2col + one GEMM per image, in both directions.
public final class Conv2D: Module {
    public let inChannels: Int, outChannels: Int
    public let kernel: (h: Int, w: Int)
    public let stride: (h: Int, w: Int)
    public let padding: (h: Int, w: Int)
    public let dilation: (h: Int, w: Int)
    public let weight: Parameter
    public let bias: Parameter?

    public init(_ inChannels: Int, _ outChannels: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), bias: Bool = true,
                prefix: String = "", rng: inout SeededRandom) {
        precondition(inChannels > 0 && outChannels > 0 && kernel.0 > 0 && kernel.1 > 0, "Conv2D sizes must be positive")
        precondition(stride.0 > 0 && stride.1 > 0 && dilation.0 > 0 && dilation.1 > 0 && padding.0 >= 0 && padding.1 >= 0,
                     "Conv2D stride and dilation must be positive, padding non-negative")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        // PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        let fanIn = inChannels * kernel.0 * kernel.1
        let bound = 1 / Float(fanIn).squareRoot()
        var w = [Float](repeating: 0, count: outChannels * fanIn)
        rng.fillUniform(&w, bound: bound)
        weight = Parameter(name: prefix + "weight", shape: [outChannels, inChannels, kernel.0, kernel.1], value: w)
        if bias {
            var b = [Float](repeating: 0, count: outChannels)
            rng.fillUniform(&b, bound: bound)
            self.bias = Parameter(name: prefix + "bias", shape: [outChannels], value: b)
        } else {
            self.bias = nil
        }
    }

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    /// The output size along one axis, or nil when the input is too small.
    public func outputSize(height: Int, width: Int) -> (h: Int, w: Int)? {
        let ho = (height + 2 * padding.h - dilation.h * (kernel.h - 1) - 1) / stride.h + 1
        let wo = (width + 2 * padding.w - dilation.w * (kernel.w - 1) - 1) / stride.w + 1
        let fits = height + 2 * padding.h >= dilation.h * (kernel.h - 1) + 1
            && width + 2 * padding.w >= dilation.w * (kernel.w - 1) + 1
        return fits && ho > 0 && wo > 0 ? (ho, wo) : nil
    }

    /// The output columns oj whose input column oj*stride + offset lies in [0, width):
    /// computed once per kernel column, so the copy loops need no bounds tests.
    @inline(__always)
    private func validColumns(offset: Int, width: Int, outputs: Int) -> Range<Int> {
        func ceilDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? (a + b - 1) / b : -((-a) / b) }
        let lo = max(0, ceilDiv(-offset, stride.w))
        let hi = min(outputs, ceilDiv(width - offset, stride.w))
        return lo..<max(lo, hi)
    }

    /// Copies one image's patches into columns: row r of (C*kh*kw) rows starts at
    /// cols + r * ld and holds the Ho*Wo positions; zeros for padding.
    private func im2col(_ x: UnsafePointer<Float>, h: Int, w: Int, ho: Int, wo: Int,
                        into cols: UnsafeMutablePointer<Float>, ld: Int) {
        var row = 0
        for c in 0..<inChannels {
            for ki in 0..<kernel.h {
                for kj in 0..<kernel.w {
                    let out = cols + row * ld
                    let offset = kj * dilation.w - padding.w
                    let valid = validColumns(offset: offset, width: w, outputs: wo)
                    for oi in 0..<ho {
                        let dst = out + oi * wo
                        let i = oi * stride.h - padding.h + ki * dilation.h
                        guard i >= 0 && i < h, !valid.isEmpty else {
                            dst.update(repeating: 0, count: wo)
                            continue
                        }
                        let line = x + (c * h + i) * w + offset
                        dst.update(repeating: 0, count: valid.lowerBound)
                        if stride.w == 1 {
                            (dst + valid.lowerBound).update(from: line + valid.lowerBound, count: valid.count)
                        } else {
                            for oj in valid { dst[oj] = line[oj * stride.w] }
                        }
                        (dst + valid.upperBound).update(repeating: 0, count: wo - valid.upperBound)
                    }
                    row += 1
                }
            }
        }
    }

    /// The adjoint of im2col: adds each column entry back to the pixel it came from.
    private func col2im(_ cols: UnsafePointer<Float>, ld: Int, h: Int, w: Int, ho: Int, wo: Int,
                        into dx: UnsafeMutablePointer<Float>) {
        var row = 0
        for c in 0..<inChannels {
            for ki in 0..<kernel.h {
                for kj in 0..<kernel.w {
                    let src = cols + row * ld
                    let offset = kj * dilation.w - padding.w
                    let valid = validColumns(offset: offset, width: w, outputs: wo)
                    for oi in 0..<ho {
                        let i = oi * stride.h - padding.h + ki * dilation.h
                        guard i >= 0 && i < h else { continue }
                        let line = dx + (c * h + i) * w + offset, from = src + oi * wo
                        for oj in valid { line[oj * stride.w] += from[oj] }
                    }
                    row += 1
                }
            }
        }
    }

    /// Images are convolved in groups whose columns (K, g*Ho*Wo) fit in this many floats,
    /// so each group is one large GEMM (fast on many threads) in bounded memory.
    nonisolated(unsafe) static var columnBudget = 1 << 22

    private func groups(images n: Int, k: Int, positions: Int) -> [Range<Int>] {
        let g = max(1, min(n, Self.columnBudget / max(k * positions, 1)))
        return Swift.stride(from: 0, to: n, by: g).map { $0..<min($0 + g, n) }
    }

    /// x (N, C, H, W) → (N, O, Ho, Wo). The input must be large enough (see `outputSize`).
    public func forward(_ x: Tensor) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        precondition(x.rank == 4 && c == inChannels, "Conv2D expects (N, \(inChannels), H, W), got \(x.shape)")
        let (ho, wo) = outputSize(height: h, width: w)!
        let (k, p, o) = (inChannels * kernel.h * kernel.w, ho * wo, outChannels)
        let groups = groups(images: n, k: k, positions: p)
        let widest = groups.map(\.count).max() ?? 0
        var out = [Float](repeating: 0, count: n * o * p)
        var cols = [Float](repeating: 0, count: k * widest * p)
        var product = [Float](repeating: 0, count: o * widest * p)
        x.data.withUnsafeBufferPointer { X in
        cols.withUnsafeMutableBufferPointer { COLS in
        product.withUnsafeMutableBufferPointer { PRODUCT in
        weight.value.withUnsafeBufferPointer { W in
        out.withUnsafeMutableBufferPointer { OUT in
            for group in groups {
                let ld = group.count * p
                for (g, s) in group.enumerated() {
                    im2col(X.baseAddress! + s * c * h * w, h: h, w: w, ho: ho, wo: wo, into: COLS.baseAddress! + g * p, ld: ld)
                }
                // (O, K) x (K, g*Ho*Wo), then each image's block to (O, Ho*Wo) plus the bias.
                BLAS.gemm(m: o, n: ld, k: k, a: W.baseAddress!, lda: k, b: COLS.baseAddress!, ldb: ld,
                          beta: 0, c: PRODUCT.baseAddress!, ldc: ld)
                for (g, s) in group.enumerated() {
                    for oc in 0..<o {
                        let src = PRODUCT.baseAddress! + oc * ld + g * p, dst = OUT.baseAddress! + (s * o + oc) * p
                        let b = bias?.value[oc] ?? 0
                        for i in 0..<p { dst[i] = src[i] + b }
                    }
                }
            }
        }
        }
        }
        }
        }
        return Tensor(shape: [n, o, ho, wo], data: out)
    }

    /// Accumulates dW, db; returns dx (N, C, H, W), or an empty tensor when
    /// `inputGradient` is false (the first layer of a network needs no dx).
    public func backward(input x: Tensor, outputGrad dy: Tensor, inputGradient: Bool = true) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (ho, wo) = outputSize(height: h, width: w)!
        precondition(dy.shape == [n, outChannels, ho, wo], "Conv2D.backward: dy has shape \(dy.shape)")
        let (k, p, o) = (inChannels * kernel.h * kernel.w, ho * wo, outChannels)
        let groups = groups(images: n, k: k, positions: p)
        let widest = groups.map(\.count).max() ?? 0
        var dx = [Float](repeating: 0, count: inputGradient ? x.count : 0)
        var cols = [Float](repeating: 0, count: k * widest * p)
        var dCols = [Float](repeating: 0, count: inputGradient ? k * widest * p : 0)
        var dyGroup = [Float](repeating: 0, count: o * widest * p)
        x.data.withUnsafeBufferPointer { X in
        dy.data.withUnsafeBufferPointer { DY in
        cols.withUnsafeMutableBufferPointer { COLS in
        dCols.withUnsafeMutableBufferPointer { DCOLS in
        dyGroup.withUnsafeMutableBufferPointer { G in
        weight.value.withUnsafeBufferPointer { W in
        weight.grad.withUnsafeMutableBufferPointer { GW in
        dx.withUnsafeMutableBufferPointer { DX in
            for group in groups {
                let ld = group.count * p
                // dY of the group as (O, g*Ho*Wo), the layout of the forward product.
                for (g, s) in group.enumerated() {
                    im2col(X.baseAddress! + s * c * h * w, h: h, w: w, ho: ho, wo: wo, into: COLS.baseAddress! + g * p, ld: ld)
                    for oc in 0..<o {
                        (G.baseAddress! + oc * ld + g * p).update(from: DY.baseAddress! + (s * o + oc) * p, count: p)
                    }
                }
                // dW += dY (O, g*Ho*Wo) x cols^T (g*Ho*Wo, K)
                BLAS.gemm(transB: true, m: o, n: k, k: ld, a: G.baseAddress!, lda: ld,
                          b: COLS.baseAddress!, ldb: ld, beta: 1, c: GW.baseAddress!, ldc: k)
                if let bias {
                    for oc in 0..<o {
                        var total: Float = 0
                        for i in 0..<ld { total += G[oc * ld + i] }
                        bias.grad[oc] += total
                    }
                }
                guard inputGradient else { continue }
                // dCols = W^T (K, O) x dY (O, g*Ho*Wo)
                BLAS.gemm(transA: true, m: k, n: ld, k: o, a: W.baseAddress!, lda: k,
                          b: G.baseAddress!, ldb: ld, beta: 0, c: DCOLS.baseAddress!, ldc: ld)
                for (g, s) in group.enumerated() {
                    col2im(DCOLS.baseAddress! + g * p, ld: ld, h: h, w: w, ho: ho, wo: wo, into: DX.baseAddress! + s * c * h * w)
                }
            }
        }
        }
        }
        }
        }
        }
        }
        }
        return inputGradient ? Tensor(shape: x.shape, data: dx) : Tensor(shape: [0], data: [])
    }
}

/// Max pooling over (N, C, H, W) with a square window and stride (no padding; the
/// last partial window is dropped, as PyTorch's default).
public struct MaxPool2D {
    public let size: Int
    public let stride: Int

    public init(size: Int, stride: Int? = nil) {
        precondition(size > 0 && (stride ?? size) > 0, "MaxPool2D sizes must be positive")
        self.size = size
        self.stride = stride ?? size
    }

    public struct Cache {
        let inputShape: [Int]
        let argmax: [Int]   // flat input index of each output's maximum
    }

    public func forward(_ x: Tensor) -> (Tensor, Cache) {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        precondition(h >= size && w >= size, "MaxPool2D: input \(x.shape) is smaller than the window \(size)")
        let ho = (h - size) / stride + 1, wo = (w - size) / stride + 1
        var out = [Float](repeating: 0, count: n * c * ho * wo)
        var argmax = [Int](repeating: 0, count: out.count)
        for plane in 0..<(n * c) {
            let base = plane * h * w
            for oi in 0..<ho {
                for oj in 0..<wo {
                    var best = -Float.infinity, at = base + oi * stride * w + oj * stride
                    for di in 0..<size {
                        for dj in 0..<size {
                            let idx = base + (oi * stride + di) * w + oj * stride + dj
                            if x.data[idx] > best { best = x.data[idx]; at = idx }
                        }
                    }
                    out[(plane * ho + oi) * wo + oj] = best
                    argmax[(plane * ho + oi) * wo + oj] = at
                }
            }
        }
        return (Tensor(shape: [n, c, ho, wo], data: out), Cache(inputShape: x.shape, argmax: argmax))
    }

    public func backward(_ cache: Cache, outputGrad dy: Tensor) -> Tensor {
        var dx = [Float](repeating: 0, count: cache.inputShape.reduce(1, *))
        for (o, i) in cache.argmax.enumerated() { dx[i] += dy.data[o] }
        return Tensor(shape: cache.inputShape, data: dx)
    }
}

/// max(x, 0) elementwise.
public enum ReLU {
    public static func forward(_ x: Tensor) -> Tensor {
        Tensor(shape: x.shape, data: x.data.map { max($0, 0) })
    }

    /// dx = dy where the input was positive.
    public static func backward(input x: Tensor, outputGrad dy: Tensor) -> Tensor {
        Tensor(shape: x.shape, data: zip(x.data, dy.data).map { $0 > 0 ? $1 : 0 })
    }
}
