import LSTMKitCore

/// The ReNet sweep (Visin et al. 2015, as used by ReSeg): a bidirectional recurrent
/// layer reads every row of a feature map left↔right, then a second one reads every
/// column of that result top↕bottom, so each output pixel has seen the whole map. Both
/// are one-layer bidirectional `RecurrentLayer`s (LSTMs in every file so far); this
/// layer only rearranges:
///   (N, C, H, W) → rows (N·H, W, C) → BiRNN → (N·H, W, 2U)
///                → columns (N·W, H, 2U) → BiRNN → (N·W, H, 2U) → (N, 2U, H, W).
/// Tensors: "rows.<the cell's PyTorch names>", "columns.<...>".
public final class RecurrentSweep: Module {
    public let rows: any RecurrentLayer
    public let columns: any RecurrentLayer

    /// U = `hiddenSize` units per direction; the output has 2U channels.
    public init(inChannels: Int, hiddenSize: Int, cell: RecurrentCell = .lstm, seed: UInt64) throws {
        var rng = SeededRandom(seed: seed)
        rows = try cell.make(RecurrentConfig(inputSize: inChannels, hiddenSize: hiddenSize, bidirectional: true, seed: rng.next()))
        columns = try cell.make(RecurrentConfig(inputSize: 2 * hiddenSize, hiddenSize: hiddenSize, bidirectional: true, seed: rng.next()))
    }

    public var inChannels: Int { rows.config.inputSize }
    public var outChannels: Int { columns.config.outputSize }

    public var children: [(name: String, module: Module)] { [("rows", rows), ("columns", columns)] }

    public struct Cache {
        let inputShape: [Int]
        /// The two layers' inputs, handed to the next training step after backward.
        let rowInput: Tensor
        let columnInput: Tensor
        let rows: RecurrentCache
        let columns: RecurrentCache
    }

    /// x (N, C, H, W) → (N, 2U, H, W); the cache only when `training` (the layers'
    /// inference path keeps nothing).
    public func forward(_ x: Tensor, training: Bool) -> (Tensor, Cache?) {
        precondition(x.rank == 4 && x.shape[1] == inChannels, "RecurrentSweep expects (N, \(inChannels), H, W), got \(x.shape)")
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let rows = Tensor(shape: [n * h, w, c], data: Self.permute(x.data, [n, c, h, w], to: .nhwc))
        let rowLengths = [Int](repeating: w, count: n * h), columnLengths = [Int](repeating: h, count: n * w)
        let u2 = outChannels
        if !training {
            let r = self.rows.infer(sequences: rows, lengths: rowLengths).y
            let columns = Tensor(shape: [n * w, h, u2], data: Self.permute(r.data, [n, h, w, u2], to: .nwhc))
            let y = self.columns.infer(sequences: columns, lengths: columnLengths).y
            let out = Tensor(shape: [n, u2, h, w], data: Self.permute(y.data, [n, w, h, u2], to: .nchwFromNWHC))
            ArrayRecycler.current?.give([rows, r, columns, y])   // done with them (prediction reuses them)
            return (out, nil)
        }
        let r = self.rows.forward(sequences: rows, lengths: rowLengths, training: true)
        let columns = Tensor(shape: [n * w, h, u2], data: Self.permute(r.y.data, [n, h, w, u2], to: .nwhc))
        let y = self.columns.forward(sequences: columns, lengths: columnLengths, training: true)
        let out = Tensor(shape: [n, u2, h, w], data: Self.permute(y.y.data, [n, w, h, u2], to: .nchwFromNWHC))
        // The layers' outputs were rearranged into new arrays: a training step reuses them.
        ArrayRecycler.current?.give([r.y, y.y])
        return (out, Cache(inputShape: x.shape, rowInput: rows, columnInput: columns, rows: r.cache, columns: y.cache))
    }

    /// ADDS both layers' gradients; returns dx (N, C, H, W).
    public func backward(_ cache: Cache, outputGrad dy: Tensor) -> Tensor {
        let (n, c, h, w) = (cache.inputShape[0], cache.inputShape[1], cache.inputShape[2], cache.inputShape[3])
        let u2 = outChannels
        precondition(dy.shape == [n, u2, h, w], "RecurrentSweep.backward: dy has shape \(dy.shape)")
        // Each step below is the adjoint of one forward rearrangement, in reverse order.
        let recycler = ArrayRecycler.current
        let dColumnsOut = Tensor(shape: [n * w, h, u2], data: Self.permute(dy.data, [n, u2, h, w], to: .nwhcFromNCHW))
        let dColumns = columns.backward(cache.columns, outputGrad: dColumnsOut, finalGrad: nil)
        recycler?.give(dColumnsOut.data)
        let dRowsOut = Tensor(shape: [n * h, w, u2], data: Self.permute(dColumns.data, [n, w, h, u2], to: .nwhc))
        let dRows = rows.backward(cache.rows, outputGrad: dRowsOut, finalGrad: nil)
        recycler?.give(dRowsOut.data)
        defer { recycler?.give([dColumns, dRows, cache.rowInput, cache.columnInput]) }
        return Tensor(shape: [n, c, h, w], data: Self.permute(dRows.data, [n, h, w, c], to: .nchwFromNHWC))
    }

    /// The rearrangements, named by the layout they produce from a 4-D input of `shape`.
    enum Layout {
        case nhwc          // (N, C, H, W) → (N, H, W, C)
        case nchwFromNHWC  // (N, H, W, C) → (N, C, H, W)
        case nwhc          // (N, A, B, C) → (N, B, A, C): rows ↔ columns, features last
        case nchwFromNWHC  // (N, W, H, C) → (N, C, H, W)
        case nwhcFromNCHW  // (N, C, H, W) → (N, W, H, C)
    }

    static func permute(_ x: [Float], _ shape: [Int], to layout: Layout) -> [Float] {
        let (n, a, b, c) = (shape[0], shape[1], shape[2], shape[3])
        return x.withUnsafeBufferPointer { X in
            FloatKernels.array(x.count) { O in
                for s in 0..<n {
                    let src = X.baseAddress! + s * a * b * c, dst = O + s * a * b * c
                    switch layout {
                    case .nhwc:          // src (a=C, b·c=H·W) → dst (H·W, C)
                        transpose(src, rows: a, columns: b * c, into: dst)
                    case .nchwFromNHWC:  // src (a·b=H·W, c=C) → dst (C, H·W)
                        transpose(src, rows: a * b, columns: c, into: dst)
                    case .nwhc:          // src (A, B, C) → dst (B, A, C)
                        for i in 0..<a { for j in 0..<b { (dst + (j * a + i) * c).update(from: src + (i * b + j) * c, count: c) } }
                    case .nchwFromNWHC:  // src (a=W, b=H, c=C) → dst (C, H, W): for each y, (W, C) → (C, W)
                        for y in 0..<b {
                            for x in 0..<a {
                                let from = src + (x * b + y) * c, to = dst + y * a + x
                                for ch in 0..<c { to[ch * b * a] = from[ch] }
                            }
                        }
                    case .nwhcFromNCHW:  // src (a=C, b=H, c=W) → dst (W, H, C)
                        for y in 0..<b {
                            for x in 0..<c {
                                let from = src + y * c + x, to = dst + (x * b + y) * a
                                for ch in 0..<a { to[ch] = from[ch * b * c] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// dst (columns, rows) = src (rows, columns)^T, in 8 × 8 tiles.
    private static func transpose(_ src: UnsafePointer<Float>, rows: Int, columns: Int, into dst: UnsafeMutablePointer<Float>) {
        for r0 in Swift.stride(from: 0, to: rows, by: 8) {
            let r1 = min(r0 + 8, rows)
            for c0 in Swift.stride(from: 0, to: columns, by: 8) {
                let c1 = min(c0 + 8, columns)
                for r in r0..<r1 { for col in c0..<c1 { dst[col * rows + r] = src[r * columns + col] } }
            }
        }
    }
}
