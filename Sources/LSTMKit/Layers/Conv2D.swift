import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: Scratch memory and small kernels shared by the image layers

/// Reusable float buffers for the image layers' temporaries (im2col columns, GEMM
/// products, packed images). Without them a segmenter training step took ~150 MB of
/// fresh pages from the system (the allocator returns large blocks on free), and the
/// page faults and zero-fills were a fifth of the step. Thread-safe: a buffer belongs to
/// one caller inside `with`; at most `kept` idle buffers are held between calls.
enum ScratchBuffers {
    private static let lock = DispatchSemaphore(value: 1)
    nonisolated(unsafe) private static var idle: [UnsafeMutableBufferPointer<Float>] = []
    /// Idle buffers held at most (a training step needs three at once, parallel
    /// prediction three per worker).
    static let kept = 6
    /// Smaller requests go straight to the allocator (they come from its free lists).
    static let smallest = 1 << 15

    /// Runs `body` on an uninitialised buffer of at least `count` floats.
    static func with<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        if count < smallest {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            defer { p.deallocate() }
            return try body(p)
        }
        let buffer = take(count)
        defer { giveBack(buffer) }
        return try body(buffer.baseAddress!)
    }

    private static func take(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
        lock.wait()
        var best: Int?
        for (i, b) in idle.enumerated() where b.count >= count && (best.map { b.count < idle[$0].count } ?? true) { best = i }
        let found = best.map { idle.remove(at: $0) }
        lock.signal()
        return found ?? .allocate(capacity: count)
    }

    private static func giveBack(_ buffer: UnsafeMutableBufferPointer<Float>) {
        lock.wait()
        idle.append(buffer)
        var dropped: UnsafeMutableBufferPointer<Float>?
        if idle.count > kept, let smallest = idle.indices.min(by: { idle[$0].count < idle[$1].count }) {
            dropped = idle.remove(at: smallest)
        }
        lock.signal()
        dropped?.deallocate()
    }
}

/// The float arrays of a finished training step (its cache and gradients), handed out
/// again by the next step, whose tensors have the same sizes: the step then keeps its
/// memory instead of taking fresh pages from the system (the allocator returns large
/// blocks on free; a page fault per 4 KiB was a fifth of a segmenter step). Arrays are
/// matched by exact size. While `scope` runs, the image layers' outputs on that thread
/// come from here (`FloatKernels.array`); an array someone still holds is copied on
/// write, never changed, so giving one back is always safe. Not thread-safe: one
/// recycler per training loop.
final class ArrayRecycler {
    private var spare: [Int: [[Float]]] = [:]
    /// Requests per size in the current step: what the next step will ask for again.
    private var requests: [Int: Int] = [:]
    /// Smaller arrays come from the allocator's free lists anyway.
    let minimumCount: Int

    init(minimumCount: Int = 1 << 14) { self.minimumCount = minimumCount }

    /// How many requests were served from spare arrays (for tests).
    private(set) var reuses = 0

    func take(_ count: Int) -> [Float]? {
        guard count >= minimumCount else { return nil }
        requests[count, default: 0] += 1
        guard let array = spare[count]?.popLast() else { return nil }
        reuses += 1
        return array
    }

    /// Offers `array` to later `take`s (each storage once).
    func give(_ array: [Float]) {
        guard array.count >= minimumCount else { return }
        let base = array.withUnsafeBufferPointer { $0.baseAddress }
        if spare[array.count]?.contains(where: { a in a.withUnsafeBufferPointer { $0.baseAddress } == base }) == true { return }
        spare[array.count, default: []].append(array)
    }

    func give(_ tensors: [Tensor]) { for t in tensors { give(t.data) } }

    /// Ends a step: keeps per size only as many arrays as the step asked for.
    func endStep() {
        for (count, arrays) in spare where arrays.count > requests[count, default: 0] {
            spare[count] = Array(arrays.prefix(requests[count, default: 0]))
        }
        requests.removeAll(keepingCapacity: true)
    }

    /// Frees every spare array (the end of training).
    func clear() {
        spare.removeAll()
        requests.removeAll()
    }

    /// Runs `body` with this recycler serving the calling thread's image-layer outputs.
    func scope<R>(_ body: () throws -> R) rethrows -> R {
        let previous = pthread_getspecific(Self.key)
        pthread_setspecific(Self.key, Unmanaged.passUnretained(self).toOpaque())
        defer { pthread_setspecific(Self.key, previous) }
        return try body()
    }

    /// The recycler of the calling thread's current `scope`, if any.
    static var current: ArrayRecycler? {
        pthread_getspecific(key).map { Unmanaged<ArrayRecycler>.fromOpaque($0).takeUnretainedValue() }
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()
}

/// Loops over raw float memory for the image layers: written so the compiler vectorises
/// them (no bounds checks, independent accumulators for sums).
enum FloatKernels {
    /// An array of `count` floats that `body` must fill completely (no zero-fill first),
    /// from the current `ArrayRecycler` when there is one.
    @inline(__always)
    static func array(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> Void) rethrows -> [Float] {
        guard count > 0 else { return [] }
        if var reused = ArrayRecycler.current?.take(count) {
            try reused.withUnsafeMutableBufferPointer { try body($0.baseAddress!) }
            return reused
        }
        return try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            try body(buffer.baseAddress!)
            initialized = count
        }
    }

    /// `count` zeros, from the current `ArrayRecycler` when there is one.
    static func zeros(_ count: Int) -> [Float] {
        if var reused = ArrayRecycler.current?.take(count) {
            reused.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            return reused
        }
        return [Float](repeating: 0, count: count)
    }

    /// Σ p[0..<n] with 32 partial sums.
    @inline(__always)
    static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        let raw = UnsafeRawPointer(p)
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var i = 0
        while i + 32 <= n {
            a0 += raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            a1 += raw.loadUnaligned(fromByteOffset: 4 * (i + 8), as: SIMD8<Float>.self)
            a2 += raw.loadUnaligned(fromByteOffset: 4 * (i + 16), as: SIMD8<Float>.self)
            a3 += raw.loadUnaligned(fromByteOffset: 4 * (i + 24), as: SIMD8<Float>.self)
            i += 32
        }
        var total = ((a0 + a1) + (a2 + a3)).sum()
        while i < n { total += p[i]; i += 1 }
        return total
    }

    /// Σ a[i] · (b[i] - shift) with 16 partial sums.
    @inline(__always)
    static func dotShifted(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, shift: Float, _ n: Int) -> Float {
        let (ra, rb) = (UnsafeRawPointer(a), UnsafeRawPointer(b))
        let s = SIMD8<Float>(repeating: shift)
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
        var i = 0
        while i + 16 <= n {
            a0 += ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
                * (rb.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) - s)
            a1 += ra.loadUnaligned(fromByteOffset: 4 * (i + 8), as: SIMD8<Float>.self)
                * (rb.loadUnaligned(fromByteOffset: 4 * (i + 8), as: SIMD8<Float>.self) - s)
            i += 16
        }
        var total = (a0 + a1).sum()
        while i < n { total += a[i] * (b[i] - shift); i += 1 }
        return total
    }

    /// Σ (a[i] - shift)² with 16 partial sums.
    @inline(__always)
    static func squaredDeviation(_ a: UnsafePointer<Float>, shift: Float, _ n: Int) -> Float {
        let ra = UnsafeRawPointer(a)
        let s = SIMD8<Float>(repeating: shift)
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
        var i = 0
        while i + 16 <= n {
            let d0 = ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) - s
            let d1 = ra.loadUnaligned(fromByteOffset: 4 * (i + 8), as: SIMD8<Float>.self) - s
            a0 += d0 * d0
            a1 += d1 * d1
            i += 16
        }
        var total = (a0 + a1).sum()
        while i < n { let d = a[i] - shift; total += d * d; i += 1 }
        return total
    }

    // The elementwise loops below are plain loops in functions of their own (never
    // inlined): the compiler then vectorises them, checking once that the pointers do not
    // overlap. (Swift's generic SIMD `pointwiseMax` is not inlined: a call per vector.)

    /// y[i] = (x[i] - shift) · scale + offset, or its max with 0 when `relu`.
    @inline(never)
    static func affine(_ x: UnsafePointer<Float>, shift: Float, scale: Float, offset: Float, relu: Bool,
                       into y: UnsafeMutablePointer<Float>, _ n: Int) {
        if relu {
            for i in 0..<n { let v = (x[i] - shift) * scale + offset; y[i] = v < 0 ? 0 : v }
        } else {
            for i in 0..<n { y[i] = (x[i] - shift) * scale + offset }
        }
    }

    /// g[i] = a · g[i] - b · (x[i] - shift) - c (BatchNorm's input gradient).
    @inline(never)
    static func scaleAndShift(_ g: UnsafeMutablePointer<Float>, a: Float, minus b: Float, times x: UnsafePointer<Float>,
                              shift: Float, minus c: Float, _ n: Int) {
        for i in 0..<n { g[i] = a * g[i] - b * (x[i] - shift) - c }
    }

    /// g[i] = d[i] where y[i] > 0, else 0 (a ReLU's backward; y may be its input or output).
    @inline(never)
    static func maskPositive(_ y: UnsafePointer<Float>, _ d: UnsafePointer<Float>, into g: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { let v = d[i]; g[i] = y[i] > 0 ? v : 0 }
    }

    /// y[i] = max(x[i], 0) (NaN stays NaN); y may equal x.
    @inline(never)
    static func relu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { let v = x[i]; y[i] = v < 0 ? 0 : v }
    }

    /// y[i] += x[i]
    @inline(never)
    static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += x[i] }
    }

    /// Calls `body` with the base addresses of `tensors`' storage (none may be empty).
    static func withPointers<R>(_ tensors: [Tensor], _ body: ([UnsafePointer<Float>]) throws -> R) rethrows -> R {
        func nest(_ i: Int, _ pointers: [UnsafePointer<Float>]) throws -> R {
            guard i < tensors.count else { return try body(pointers) }
            return try tensors[i].data.withUnsafeBufferPointer { try nest(i + 1, pointers + [$0.baseAddress!]) }
        }
        return try nest(0, [])
    }
}

// MARK: Conv2D

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
    public func backward(input x: Tensor, outputGrad dy: Tensor, inputGradient: Bool = true) -> Tensor {
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

/// A float array in a class, so several can be written through pointers at once
/// (`withPointers`) without overlapping accesses to one variable.
final class FloatArrayBox {
    var data: [Float]
    init(_ data: [Float]) { self.data = data }

    /// Calls `body` with the base addresses of the boxes' arrays (none may be empty).
    static func withPointers<R>(_ boxes: [FloatArrayBox], _ body: ([UnsafeMutablePointer<Float>]) throws -> R) rethrows -> R {
        func nest(_ i: Int, _ pointers: [UnsafeMutablePointer<Float>]) throws -> R {
            guard i < boxes.count else { return try body(pointers) }
            return try boxes[i].data.withUnsafeMutableBufferPointer { try nest(i + 1, pointers + [$0.baseAddress!]) }
        }
        return try nest(0, [])
    }
}

/// The patch geometry of a convolution and its column copies: im2col lays every
/// kernel tap's view of the image out as a row, col2im adds such rows back.
struct Im2Col {
    let kernel: (h: Int, w: Int)
    let stride: (h: Int, w: Int)
    /// May be negative (the flipped-kernel gradient of a convolution with large padding).
    let padding: (h: Int, w: Int)
    let dilation: (h: Int, w: Int)

    /// The output columns oj whose input column oj·stride + offset lies in [0, width):
    /// computed once per kernel column, so the copy loops need no bounds tests.
    @inline(__always)
    func validColumns(offset: Int, width: Int, outputs: Int) -> Range<Int> {
        func ceilDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? (a + b - 1) / b : -((-a) / b) }
        let lo = max(0, ceilDiv(-offset, stride.w))
        let hi = min(outputs, ceilDiv(width - offset, stride.w))
        return lo..<max(lo, hi)
    }

    /// The output rows oi whose input row oi·stride - padding + tap lies in [0, height),
    /// for stride 1 (the contiguous case).
    @inline(__always)
    private func validRows(tapOffset shift: Int, height: Int, outputs: Int) -> Range<Int> {
        let lo = max(0, -shift), hi = min(outputs, height - shift)
        return lo..<max(lo, hi)
    }

    /// Stride 1 and output rows as wide as input rows: the valid rows of a tap's view are
    /// one contiguous span of the image, copied (or added) in one piece.
    @inline(__always)
    private func contiguous(w: Int, wo: Int) -> Bool { stride == (1, 1) && wo == w }

    /// Copies one image's patches into columns: row r of (C·kh·kw) rows starts at
    /// cols + r·ld and holds the Ho·Wo positions; zeros for padding.
    func im2col(_ x: UnsafePointer<Float>, channels: Int, h: Int, w: Int, ho: Int, wo: Int,
                into cols: UnsafeMutablePointer<Float>, ld: Int) {
        var row = 0
        let whole = contiguous(w: w, wo: wo)
        for c in 0..<channels {
            let plane = x + c * h * w
            for ki in 0..<kernel.h {
                for kj in 0..<kernel.w {
                    let out = cols + row * ld
                    row += 1
                    let offset = kj * dilation.w - padding.w
                    let valid = validColumns(offset: offset, width: w, outputs: wo)
                    if whole {
                        // One copy of the span the valid rows read, then zeros where a row's
                        // ends read the neighbouring row (or outside the plane).
                        let shift = ki * dilation.h - padding.h
                        let rows = validRows(tapOffset: shift, height: h, outputs: ho)
                        guard !rows.isEmpty, !valid.isEmpty else { out.update(repeating: 0, count: ho * wo); continue }
                        out.update(repeating: 0, count: rows.lowerBound * wo)
                        let count = rows.count * wo, first = (rows.lowerBound + shift) * w + offset
                        let (lo, hi) = (max(first, 0), min(first + count, h * w))
                        let dst = out + rows.lowerBound * wo
                        dst.update(repeating: 0, count: lo - first)
                        (dst + (lo - first)).update(from: plane + lo, count: hi - lo)
                        (dst + (hi - first)).update(repeating: 0, count: first + count - hi)
                        if valid.count < wo {
                            for oi in 0..<rows.count {
                                let line = dst + oi * wo
                                for oj in 0..<valid.lowerBound { line[oj] = 0 }
                                for oj in valid.upperBound..<wo { line[oj] = 0 }
                            }
                        }
                        (out + rows.upperBound * wo).update(repeating: 0, count: (ho - rows.upperBound) * wo)
                        continue
                    }
                    for oi in 0..<ho {
                        let dst = out + oi * wo
                        let i = oi * stride.h - padding.h + ki * dilation.h
                        guard i >= 0 && i < h, !valid.isEmpty else {
                            dst.update(repeating: 0, count: wo)
                            continue
                        }
                        let line = plane + i * w + offset
                        dst.update(repeating: 0, count: valid.lowerBound)
                        if stride.w == 1 {
                            (dst + valid.lowerBound).update(from: line + valid.lowerBound, count: valid.count)
                        } else {
                            for oj in valid { dst[oj] = line[oj * stride.w] }
                        }
                        (dst + valid.upperBound).update(repeating: 0, count: wo - valid.upperBound)
                    }
                }
            }
        }
    }

    /// The adjoint of im2col: adds each column entry back to the pixel it came from.
    /// May overwrite entries of `cols` that no pixel receives (with zeros).
    func col2im(_ cols: UnsafeMutablePointer<Float>, ld: Int, channels: Int, h: Int, w: Int, ho: Int, wo: Int,
                into dx: UnsafeMutablePointer<Float>) {
        var row = 0
        let whole = contiguous(w: w, wo: wo)
        for c in 0..<channels {
            let plane = dx + c * h * w
            for ki in 0..<kernel.h {
                for kj in 0..<kernel.w {
                    let src = cols + row * ld
                    row += 1
                    let offset = kj * dilation.w - padding.w
                    let valid = validColumns(offset: offset, width: w, outputs: wo)
                    if whole {
                        // Zero the entries at each row's ends, then add the span in one piece.
                        let shift = ki * dilation.h - padding.h
                        let rows = validRows(tapOffset: shift, height: h, outputs: ho)
                        guard !rows.isEmpty, !valid.isEmpty else { continue }
                        let from = src + rows.lowerBound * wo
                        if valid.count < wo {
                            for oi in 0..<rows.count {
                                let line = from + oi * wo
                                for oj in 0..<valid.lowerBound { line[oj] = 0 }
                                for oj in valid.upperBound..<wo { line[oj] = 0 }
                            }
                        }
                        let count = rows.count * wo, first = (rows.lowerBound + shift) * w + offset
                        let (lo, hi) = (max(first, 0), min(first + count, h * w))
                        FloatKernels.add(from + (lo - first), into: plane + lo, count: hi - lo)
                        continue
                    }
                    for oi in 0..<ho {
                        let i = oi * stride.h - padding.h + ki * dilation.h
                        guard i >= 0 && i < h, !valid.isEmpty else { continue }
                        let line = plane + i * w + offset, from = src + oi * wo
                        if stride.w == 1 {
                            FloatKernels.add(from + valid.lowerBound, into: line + valid.lowerBound, count: valid.count)
                        } else {
                            for oj in valid { line[oj * stride.w] += from[oj] }
                        }
                    }
                }
            }
        }
    }
}

// MARK: Pooling and ReLU

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
        /// Per output: where in its window the maximum was, di · size + dj.
        let argmax: [Int32]
    }

    public func forward(_ x: Tensor) -> (Tensor, Cache) {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        precondition(h >= size && w >= size, "MaxPool2D: input \(x.shape) is smaller than the window \(size)")
        let ho = (h - size) / stride + 1, wo = (w - size) / stride + 1
        let count = n * c * ho * wo
        var argmax = [Int32](repeating: 0, count: count)
        let out = x.data.withUnsafeBufferPointer { X in
            argmax.withUnsafeMutableBufferPointer { A in
                FloatKernels.array(count) { O in
                    for plane in 0..<(n * c) {
                        let src = X.baseAddress! + plane * h * w
                        let (dst, at) = (O + plane * ho * wo, A.baseAddress! + plane * ho * wo)
                        if size == 2 && stride == 2 {
                            // The common 2×2 window: two input rows per output row, first maximum kept.
                            for oi in 0..<ho {
                                let r0 = src + 2 * oi * w, r1 = r0 + w
                                for oj in 0..<wo {
                                    var best = -Float.infinity, pos: Int32 = 0
                                    if r0[2 * oj] > best { best = r0[2 * oj] }
                                    if r0[2 * oj + 1] > best { best = r0[2 * oj + 1]; pos = 1 }
                                    if r1[2 * oj] > best { best = r1[2 * oj]; pos = 2 }
                                    if r1[2 * oj + 1] > best { best = r1[2 * oj + 1]; pos = 3 }
                                    dst[oi * wo + oj] = best
                                    at[oi * wo + oj] = pos
                                }
                            }
                            continue
                        }
                        for oi in 0..<ho {
                            for oj in 0..<wo {
                                var best = -Float.infinity, pos: Int32 = 0
                                for di in 0..<size {
                                    let line = src + (oi * stride + di) * w + oj * stride
                                    for dj in 0..<size where line[dj] > best { best = line[dj]; pos = Int32(di * size + dj) }
                                }
                                dst[oi * wo + oj] = best
                                at[oi * wo + oj] = pos
                            }
                        }
                    }
                }
            }
        }
        return (Tensor(shape: [n, c, ho, wo], data: out), Cache(inputShape: x.shape, argmax: argmax))
    }

    public func backward(_ cache: Cache, outputGrad dy: Tensor) -> Tensor {
        var dx = FloatKernels.zeros(cache.inputShape.reduce(1, *))
        accumulateBackward(cache, outputGrad: dy, into: &dx)
        return Tensor(shape: cache.inputShape, data: dx)
    }

    /// Adds the input gradient into `dx` (a gradient of the same input from elsewhere,
    /// e.g. a U-Net's skip connection): no separate array.
    public func accumulateBackward(_ cache: Cache, outputGrad dy: Tensor, into dx: inout [Float]) {
        let (n, c, h, w) = (cache.inputShape[0], cache.inputShape[1], cache.inputShape[2], cache.inputShape[3])
        let ho = (h - size) / stride + 1, wo = (w - size) / stride + 1
        precondition(dy.shape == [n, c, ho, wo] && dx.count == n * c * h * w, "MaxPool2D.backward: dy has shape \(dy.shape)")
        // Where each window position lies from the window's corner.
        let offsets = (0..<(size * size)).map { ($0 / size) * w + $0 % size }
        dy.data.withUnsafeBufferPointer { DY in
        cache.argmax.withUnsafeBufferPointer { A in
        offsets.withUnsafeBufferPointer { OFF in
        dx.withUnsafeMutableBufferPointer { DX in
            for plane in 0..<(n * c) {
                let (src, at, dst) = (DY.baseAddress! + plane * ho * wo, A.baseAddress! + plane * ho * wo, DX.baseAddress! + plane * h * w)
                for oi in 0..<ho {
                    let corner = dst + oi * stride * w
                    for oj in 0..<wo {
                        corner[oj * stride + OFF[Int(at[oi * wo + oj])]] += src[oi * wo + oj]
                    }
                }
            }
        }
        }
        }
        }
    }
}

/// max(x, 0) elementwise.
public enum ReLU {
    public static func forward(_ x: Tensor) -> Tensor {
        Tensor(shape: x.shape, data: x.data.withUnsafeBufferPointer { X in
            FloatKernels.array(X.count) { Y in FloatKernels.relu(X.baseAddress!, into: Y, X.count) }
        })
    }

    /// max(x, 0) in place.
    public static func apply(_ x: inout Tensor) {
        x.data.withUnsafeMutableBufferPointer { X in
            guard let p = X.baseAddress else { return }
            FloatKernels.relu(p, into: p, X.count)
        }
    }

    /// dx = dy where the input was positive (`input` may also be the output: max(x, 0)
    /// is positive exactly where x is).
    public static func backward(input x: Tensor, outputGrad dy: Tensor) -> Tensor {
        precondition(x.count == dy.count, "ReLU.backward: \(x.shape) vs \(dy.shape)")
        return Tensor(shape: x.shape, data: x.data.withUnsafeBufferPointer { X in
            dy.data.withUnsafeBufferPointer { DY in
                FloatKernels.array(X.count) { DX in FloatKernels.maskPositive(X.baseAddress!, DY.baseAddress!, into: DX, X.count) }
            }
        })
    }
}
