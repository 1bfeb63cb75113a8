import LSTMKitCore

/// A convolution's weight of `shape` and, for `bias` > 0, its bias of that many entries,
/// both drawn from U(-bound, bound) in that order (PyTorch's default initialisation).
func convolutionParameters(weight shape: [Int], bias: Int, bound: Float,
                           rng: inout SeededRandom) -> (weight: Parameter, bias: Parameter?) {
    var w = [Float](repeating: 0, count: shape.reduce(1, *))
    rng.fillUniform(&w, bound: bound)
    let weight = Parameter(name: "weight", shape: shape, value: w)
    guard bias > 0 else { return (weight, nil) }
    var b = [Float](repeating: 0, count: bias)
    rng.fillUniform(&b, bound: bound)
    return (weight, Parameter(name: "bias", shape: [bias], value: b))
}

/// 2-D convolution over (N, C, H, W) images, as PyTorch's nn.Conv2d: weight
/// (O, C, kh, kw), bias (O), stride, zero padding and dilation per axis.
/// Computed as im2col + a GEMM per group of images, in both directions. It can also
/// convolve the channel concatenation of several maps without forming it (a U-Net's
/// upsampled map and its skip), and backward then returns one gradient per map.
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
                rng: inout SeededRandom) {
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
        let p = convolutionParameters(weight: [outChannels, inChannels, kernel.0, kernel.1], bias: bias ? outChannels : 0,
                                      bound: 1 / Float(fanIn).squareRoot(), rng: &rng)
        weight = p.weight
        self.bias = p.bias
    }

    public var localParameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    /// The output size along one axis, or nil when the input is too small.
    public func outputSize(height: Int, width: Int) -> (h: Int, w: Int)? {
        let ho = (height + 2 * padding.h - dilation.h * (kernel.h - 1) - 1) / stride.h + 1
        let wo = (width + 2 * padding.w - dilation.w * (kernel.w - 1) - 1) / stride.w + 1
        let fits = height + 2 * padding.h >= dilation.h * (kernel.h - 1) + 1
            && width + 2 * padding.w >= dilation.w * (kernel.w - 1) + 1
        return fits && ho > 0 && wo > 0 ? (ho, wo) : nil
    }

    /// A 1×1 kernel, stride 1, no padding: an image is its own column matrix.
    var isPointwise: Bool { kernel == (1, 1) && stride == (1, 1) && padding == (0, 0) }

    var geometry: Im2Col { Im2Col(kernel: kernel, stride: stride, padding: padding, dilation: dilation) }

    /// Images are convolved in groups whose columns (K, g·Ho·Wo) fit in this many floats,
    /// so each group is one large GEMM in bounded memory.
    nonisolated(unsafe) static var columnBudget = 1 << 22
    /// A group holds images until its GEMM has this many columns: large maps go one
    /// image at a time (the GEMM then reads and writes the tensors in place, no copies);
    /// small ones are batched so their GEMMs stay efficient.
    nonisolated(unsafe) static var minimumColumns = 1024

    /// This layer's own limits instead of the two above (tests of the grouping).
    var groupLimits: (columnBudget: Int, minimumColumns: Int)?

    static func groupSize(images n: Int, rows k: Int, positions p: Int,
                          limits: (columnBudget: Int, minimumColumns: Int)? = nil) -> Int {
        let (budget, minimum) = limits ?? (columnBudget, minimumColumns)
        return max(1, min(n, (minimum + p - 1) / max(p, 1), budget / max(k * p, 1)))
    }

    /// (N, H, W) of `parts`, checked: rank 4, equal N, H, W, channels adding up to inChannels.
    private func checkParts(_ parts: [Tensor]) -> (n: Int, h: Int, w: Int) {
        precondition(!parts.isEmpty && parts.allSatisfy { $0.rank == 4 }, "Conv2D expects (N, C, H, W) maps, got \(parts.map(\.shape))")
        let (n, h, w) = (parts[0].shape[0], parts[0].shape[2], parts[0].shape[3])
        precondition(parts.allSatisfy { $0.shape[0] == n && $0.shape[2] == h && $0.shape[3] == w }
                     && parts.reduce(0, { $0 + $1.shape[1] }) == inChannels,
                     "Conv2D expects (N, \(inChannels), H, W) (or maps of equal N, H, W whose channels add up to it), "
                     + "got \(parts.map(\.shape))")
        return (n, h, w)
    }

    /// The columns (K, count·Ho·Wo) of images [start, start + count): the input itself for
    /// one image of a pointwise convolution read in place, else filled into `scratch`.
    @inline(__always)
    private func groupColumns(_ parts: [UnsafePointer<Float>], channels: [Int], start: Int, count: Int,
                              h: Int, w: Int, ho: Int, wo: Int, inPlace: Bool,
                              scratch: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        if inPlace && count == 1 { return parts[0] + start * channels[0] * ho * wo }
        fillColumns(parts, channels: channels, start: start, count: count, h: h, w: w, ho: ho, wo: wo, into: scratch)
        return UnsafePointer(scratch)
    }

    /// Writes the columns of images [start, start + count) of the concatenated `parts`:
    /// the rows of part j's channels follow those of the parts before it.
    private func fillColumns(_ parts: [UnsafePointer<Float>], channels: [Int], start: Int, count: Int,
                             h: Int, w: Int, ho: Int, wo: Int, into cols: UnsafeMutablePointer<Float>) {
        let (p, ld, taps) = (ho * wo, count * ho * wo, kernel.h * kernel.w)
        var row = 0
        for (x, c) in zip(parts, channels) {
            for g in 0..<count {
                geometry.im2col(x + (start + g) * c * h * w, channels: c, h: h, w: w, ho: ho, wo: wo,
                                into: cols + row * ld + g * p, ld: ld)
            }
            row += c * taps
        }
    }

    /// x (N, C, H, W) → (N, O, Ho, Wo). The input must be large enough (see `outputSize`).
    public func forward(_ x: Tensor) -> Tensor { forward(concatenating: [x]) }

    /// The convolution of the channel concatenation of `parts` ((N, C_j, H, W), ΣC_j =
    /// inChannels), without forming it: (N, O, Ho, Wo).
    public func forward(concatenating parts: [Tensor]) -> Tensor {
        let (n, h, w) = checkParts(parts)
        let (ho, wo) = outputSize(height: h, width: w)!
        let (k, p, o) = (inChannels * kernel.h * kernel.w, ho * wo, outChannels)
        let channels = parts.map { $0.shape[1] }
        guard n > 0 else { return Tensor(shape: [0, o, ho, wo], data: []) }
        let g = Self.groupSize(images: n, rows: k, positions: p, limits: groupLimits)
        let inPlace = isPointwise && parts.count == 1
        let out = FloatKernels.array(n * o * p) { OUT in
            FloatKernels.withPointers(parts) { X in
            ScratchBuffers.with(inPlace && g == 1 ? 0 : k * g * p) { COLS in
            ScratchBuffers.with(g == 1 ? 0 : o * g * p) { PRODUCT in
            weight.value.withUnsafeBufferPointer { W in
                for start in Swift.stride(from: 0, to: n, by: g) {
                    let count = min(g, n - start), ld = count * p
                    let cols = groupColumns(X, channels: channels, start: start, count: count, h: h, w: w, ho: ho, wo: wo,
                                            inPlace: inPlace, scratch: COLS)
                    // (O, K) x (K, g·Ho·Wo) onto rows that start as the bias (or beta 0).
                    let target = count == 1 ? OUT + start * o * p : PRODUCT
                    if let bias { for oc in 0..<o { (target + oc * ld).update(repeating: bias.value[oc], count: ld) } }
                    BLAS.gemm(m: o, n: ld, k: k, a: W.baseAddress!, lda: k, b: cols, ldb: ld,
                              beta: bias == nil ? 0 : 1, c: target, ldc: ld)
                    guard count > 1 else { continue }
                    for gi in 0..<count {
                        for oc in 0..<o {
                            (OUT + ((start + gi) * o + oc) * p).update(from: PRODUCT + oc * ld + gi * p, count: p)
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
    public func backward(_ x: Tensor, outputGrad dy: Tensor, inputGradient: Bool = true) -> Tensor {
        let dx = backward(concatenating: [x], outputGrad: dy, inputGradients: inputGradient)
        return inputGradient ? dx[0] : Tensor(shape: [0], data: [])
    }

    /// The backward of `forward(concatenating:)`: accumulates dW, db; returns one dx per
    /// part (none when `inputGradients` is false).
    ///
    /// dx comes from one of two GEMMs. With stride 1 and no more output than input
    /// channels it is the convolution of dY with the flipped kernel (im2col of dY, then
    /// (C, O·kh·kw) x (O·kh·kw, Ho·Wo) straight into dx); otherwise W^T x dY gives the
    /// columns' gradient, added back to the pixels they came from (col2im).
    public func backward(concatenating parts: [Tensor], outputGrad dy: Tensor, inputGradients: Bool = true) -> [Tensor] {
        let (n, h, w) = checkParts(parts)
        let (ho, wo) = outputSize(height: h, width: w)!
        precondition(dy.shape == [n, outChannels, ho, wo], "Conv2D.backward: dy has shape \(dy.shape)")
        let (c, taps, p, q, o) = (inChannels, kernel.h * kernel.w, ho * wo, h * w, outChannels)
        let k = c * taps
        let channels = parts.map { $0.shape[1] }
        guard n > 0 else { return inputGradients ? parts.map { Tensor(shape: $0.shape, data: []) } : [] }
        let g = Self.groupSize(images: n, rows: k, positions: p, limits: groupLimits)
        let inPlace = isPointwise && parts.count == 1
        // dx comes out of a GEMM in the (C, g·H·W) layout when the layer is pointwise
        // (the columns are the image) or through the flipped kernel; else through col2im.
        let flipped = !isPointwise && stride == (1, 1) && o <= c
        let direct = isPointwise || flipped
        let dx: [FloatArrayBox] = !inputGradients ? [] : parts.map { part in
            FloatArrayBox(direct ? FloatKernels.array(part.count) { _ in } : FloatKernels.zeros(part.count))
        }
        // The flipped route: W' (C, O·kh·kw), W'[c, (o, kh-1-ki, kw-1-kj)] = W[o, c, ki, kj],
        // applied to dY with padding dilation·(k - 1) - padding gives dx of size H × W.
        let flippedRows = o * taps
        let flippedGeometry = Im2Col(kernel: kernel, stride: (1, 1),
                                     padding: (dilation.h * (kernel.h - 1) - padding.h, dilation.w * (kernel.w - 1) - padding.w),
                                     dilation: dilation)
        let single = g == 1 && parts.count == 1     // a direct dx GEMM writes into dx itself
        FloatKernels.withPointers(parts) { X in
        FloatArrayBox.withPointers(dx) { DX in
        dy.data.withUnsafeBufferPointer { DYB in
        ScratchBuffers.with(inPlace && g == 1 ? 0 : k * g * p) { COLS in
        ScratchBuffers.with(g == 1 ? 0 : o * g * p) { DYG in
        ScratchBuffers.with(!inputGradients || isPointwise ? 0 : flipped ? flippedRows * g * q : k * g * p) { SECOND in
        ScratchBuffers.with(flipped && inputGradients ? c * flippedRows : 0) { WF in
        ScratchBuffers.with(direct && inputGradients && !single ? c * g * q : 0) { DXG in
        ScratchBuffers.with(k * o) { GWT in
        weight.value.withUnsafeBufferPointer { W in
        weight.grad.withUnsafeMutableBufferPointer { GW in
            let DY = DYB.baseAddress!
            GWT.update(repeating: 0, count: k * o)
            defer {
                for oc in 0..<o { for r in 0..<k { GW[oc * k + r] += GWT[r * o + oc] } }
            }
            if flipped && inputGradients {
                for oc in 0..<o {
                    for ch in 0..<c {
                        for t in 0..<taps { WF[ch * flippedRows + oc * taps + (taps - 1 - t)] = W[(oc * c + ch) * taps + t] }
                    }
                }
            }
            for start in Swift.stride(from: 0, to: n, by: g) {
                let count = min(g, n - start), ld = count * p, ldx = count * q
                let cols = groupColumns(X, channels: channels, start: start, count: count, h: h, w: w, ho: ho, wo: wo,
                                        inPlace: inPlace, scratch: COLS)
                // dY of the group as (O, g·Ho·Wo), the layout of the forward product.
                let dyg: UnsafePointer<Float>
                if count == 1 {
                    dyg = DY + start * o * p
                } else {
                    for gi in 0..<count {
                        for oc in 0..<o { (DYG + oc * ld + gi * p).update(from: DY + ((start + gi) * o + oc) * p, count: p) }
                    }
                    dyg = UnsafePointer(DYG)
                }
                // dW^T (K, O) += cols (K, g·Ho·Wo) x dY^T: OpenBLAS packs the large cols
                // faster in this orientation than as dY x cols^T (measured 25 % on 3×3 layers).
                BLAS.gemm(transB: true, m: k, n: o, k: ld, a: cols, lda: ld, b: dyg, ldb: ld, beta: 1, c: GWT, ldc: o)
                if let bias {
                    bias.grad.withUnsafeMutableBufferPointer { GB in
                        for oc in 0..<o { GB[oc] += FloatKernels.sum(dyg + oc * ld, ld) }
                    }
                }
                guard inputGradients else { continue }
                if direct {
                    // dx of the group (C, g·H·W): W^T (C, O) x dY, or W' (C, O·kh·kw) x im2col(dY).
                    let target = single ? DX[0] + start * c * q : DXG
                    if flipped {
                        for gi in 0..<count {
                            flippedGeometry.im2col(DY + (start + gi) * o * p, channels: o, h: ho, w: wo, ho: h, wo: w,
                                                   into: SECOND + gi * q, ld: ldx)
                        }
                        BLAS.gemm(m: c, n: ldx, k: flippedRows, a: WF, lda: flippedRows, b: SECOND, ldb: ldx,
                                  beta: 0, c: target, ldc: ldx)
                    } else {
                        BLAS.gemm(transA: true, m: c, n: ldx, k: o, a: W.baseAddress!, lda: k, b: dyg, ldb: ld,
                                  beta: 0, c: target, ldc: ldx)
                    }
                    guard !single else { continue }
                    var row = 0
                    for (j, cj) in channels.enumerated() {
                        for gi in 0..<count {
                            for ch in 0..<cj {
                                (DX[j] + ((start + gi) * cj + ch) * q).update(from: DXG + (row + ch) * ldx + gi * q, count: q)
                            }
                        }
                        row += cj
                    }
                } else {
                    // dCols = W^T (K, O) x dY (O, g·Ho·Wo), added back onto the pixels.
                    BLAS.gemm(transA: true, m: k, n: ld, k: o, a: W.baseAddress!, lda: k, b: dyg, ldb: ld,
                              beta: 0, c: SECOND, ldc: ld)
                    var row = 0
                    for (j, cj) in channels.enumerated() {
                        for gi in 0..<count {
                            geometry.col2im(SECOND + row * ld + gi * p, ld: ld, channels: cj, h: h, w: w, ho: ho, wo: wo,
                                            into: DX[j] + (start + gi) * cj * q)
                        }
                        row += cj * taps
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
        }
        }
        }
        }
        return zip(parts, dx).map { Tensor(shape: $0.shape, data: $1.data) }
    }
}
