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

    /// Copies one image's patches into columns: (C*kh*kw, Ho*Wo), zeros for padding.
    private func im2col(_ x: UnsafePointer<Float>, h: Int, w: Int, ho: Int, wo: Int, into cols: UnsafeMutablePointer<Float>) {
        var row = 0
        for c in 0..<inChannels {
            for ki in 0..<kernel.h {
                for kj in 0..<kernel.w {
                    let out = cols + row * ho * wo
                    for oi in 0..<ho {
                        let i = oi * stride.h - padding.h + ki * dilation.h
                        for oj in 0..<wo {
                            let j = oj * stride.w - padding.w + kj * dilation.w
                            out[oi * wo + oj] = (i >= 0 && i < h && j >= 0 && j < w) ? x[(c * h + i) * w + j] : 0
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// The adjoint of im2col: adds each column entry back to the pixel it came from.
    private func col2im(_ cols: UnsafePointer<Float>, h: Int, w: Int, ho: Int, wo: Int, into dx: UnsafeMutablePointer<Float>) {
        var row = 0
        for c in 0..<inChannels {
            for ki in 0..<kernel.h {
                for kj in 0..<kernel.w {
                    let src = cols + row * ho * wo
                    for oi in 0..<ho {
                        let i = oi * stride.h - padding.h + ki * dilation.h
                        guard i >= 0 && i < h else { continue }
                        for oj in 0..<wo {
                            let j = oj * stride.w - padding.w + kj * dilation.w
                            if j >= 0 && j < w { dx[(c * h + i) * w + j] += src[oi * wo + oj] }
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// x (N, C, H, W) → (N, O, Ho, Wo). The input must be large enough (see `outputSize`).
    public func forward(_ x: Tensor) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        precondition(x.rank == 4 && c == inChannels, "Conv2D expects (N, \(inChannels), H, W), got \(x.shape)")
        let (ho, wo) = outputSize(height: h, width: w)!
        let k = inChannels * kernel.h * kernel.w
        var out = [Float](repeating: 0, count: n * outChannels * ho * wo)
        var cols = [Float](repeating: 0, count: k * ho * wo)
        x.data.withUnsafeBufferPointer { X in
        cols.withUnsafeMutableBufferPointer { COLS in
        weight.value.withUnsafeBufferPointer { W in
        out.withUnsafeMutableBufferPointer { OUT in
            for s in 0..<n {
                im2col(X.baseAddress! + s * c * h * w, h: h, w: w, ho: ho, wo: wo, into: COLS.baseAddress!)
                let o = OUT.baseAddress! + s * outChannels * ho * wo
                if let bias {
                    for oc in 0..<outChannels { (o + oc * ho * wo).update(repeating: bias.value[oc], count: ho * wo) }
                }
                // (O, K) x (K, Ho*Wo)
                BLAS.gemm(m: outChannels, n: ho * wo, k: k, a: W.baseAddress!, lda: k, b: COLS.baseAddress!, ldb: ho * wo,
                          beta: bias == nil ? 0 : 1, c: o, ldc: ho * wo)
            }
        }
        }
        }
        }
        return Tensor(shape: [n, outChannels, ho, wo], data: out)
    }

    /// Accumulates dW, db; returns dx (N, C, H, W).
    public func backward(input x: Tensor, outputGrad dy: Tensor) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (ho, wo) = outputSize(height: h, width: w)!
        precondition(dy.shape == [n, outChannels, ho, wo], "Conv2D.backward: dy has shape \(dy.shape)")
        let k = inChannels * kernel.h * kernel.w
        var dx = [Float](repeating: 0, count: x.count)
        var cols = [Float](repeating: 0, count: k * ho * wo)
        var dCols = [Float](repeating: 0, count: k * ho * wo)
        x.data.withUnsafeBufferPointer { X in
        dy.data.withUnsafeBufferPointer { DY in
        cols.withUnsafeMutableBufferPointer { COLS in
        dCols.withUnsafeMutableBufferPointer { DCOLS in
        weight.value.withUnsafeBufferPointer { W in
        weight.grad.withUnsafeMutableBufferPointer { GW in
        dx.withUnsafeMutableBufferPointer { DX in
            for s in 0..<n {
                let g = DY.baseAddress! + s * outChannels * ho * wo
                im2col(X.baseAddress! + s * c * h * w, h: h, w: w, ho: ho, wo: wo, into: COLS.baseAddress!)
                // dW += dY (O, Ho*Wo) x cols^T (Ho*Wo, K)
                BLAS.gemm(transB: true, m: outChannels, n: k, k: ho * wo, a: g, lda: ho * wo,
                          b: COLS.baseAddress!, ldb: ho * wo, beta: 1, c: GW.baseAddress!, ldc: k)
                // dCols = W^T (K, O) x dY (O, Ho*Wo)
                BLAS.gemm(transA: true, m: k, n: ho * wo, k: outChannels, a: W.baseAddress!, lda: k,
                          b: g, ldb: ho * wo, beta: 0, c: DCOLS.baseAddress!, ldc: ho * wo)
                col2im(DCOLS.baseAddress!, h: h, w: w, ho: ho, wo: wo, into: DX.baseAddress! + s * c * h * w)
                if let bias {
                    for oc in 0..<outChannels {
                        var total: Float = 0
                        for p in 0..<(ho * wo) { total += g[oc * ho * wo + p] }
                        bias.grad[oc] += total
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
        return Tensor(shape: x.shape, data: dx)
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
