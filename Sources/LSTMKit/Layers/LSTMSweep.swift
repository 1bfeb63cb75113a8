/// The ReNet sweep (Visin et al. 2015, as used by ReSeg): a bidirectional LSTM reads
/// every row of a feature map left↔right, then a second one reads every column of that
/// result top↕bottom, so each output pixel has seen the whole map. Both are the
/// engine's `LSTM` (one layer, bidirectional); this layer only rearranges:
///   (N, C, H, W) → rows (N·H, W, C) → BiLSTM → (N·H, W, 2U)
///                → columns (N·W, H, 2U) → BiLSTM → (N·W, H, 2U) → (N, 2U, H, W).
/// Parameters (through `namedModules`): "rows.<PyTorch LSTM names>", "columns.<...>".
public final class LSTMSweep {
    public let rowLSTM: LSTM
    public let columnLSTM: LSTM

    /// U = `hiddenSize` units per direction; the output has 2U channels.
    public init(inChannels: Int, hiddenSize: Int, seed: UInt64) throws {
        var rng = SeededRandom(seed: seed)
        rowLSTM = try LSTM(LSTMConfig(inputSize: inChannels, hiddenSize: hiddenSize, bidirectional: true, seed: rng.next()))
        columnLSTM = try LSTM(LSTMConfig(inputSize: 2 * hiddenSize, hiddenSize: hiddenSize, bidirectional: true, seed: rng.next()))
    }

    public var inChannels: Int { rowLSTM.config.inputSize }
    public var outChannels: Int { columnLSTM.config.outputSize }

    /// The two LSTMs under their prefixes (their own parameter names repeat).
    public var namedModules: [(prefix: String, module: Module)] { [("rows.", rowLSTM), ("columns.", columnLSTM)] }
    public var parameters: [Parameter] { rowLSTM.parameters + columnLSTM.parameters }

    public struct Cache {
        let inputShape: [Int]
        let rows: LSTM.Cache
        let columns: LSTM.Cache
    }

    /// x (N, C, H, W) → (N, 2U, H, W); the cache only when `training` (the LSTMs'
    /// inference path keeps nothing).
    public func forward(_ x: Tensor, training: Bool) -> (Tensor, Cache?) {
        precondition(x.rank == 4 && x.shape[1] == inChannels, "LSTMSweep expects (N, \(inChannels), H, W), got \(x.shape)")
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let rows = Tensor(shape: [n * h, w, c], data: Self.permute(x.data, [n, c, h, w], to: .nhwc))
        let rowLengths = [Int](repeating: w, count: n * h), columnLengths = [Int](repeating: h, count: n * w)
        let u2 = outChannels
        if !training {
            let r = rowLSTM.infer(rows, lengths: rowLengths).y
            let columns = Tensor(shape: [n * w, h, u2], data: Self.permute(r.data, [n, h, w, u2], to: .nwhc))
            let y = columnLSTM.infer(columns, lengths: columnLengths).y
            return (Tensor(shape: [n, u2, h, w], data: Self.permute(y.data, [n, w, h, u2], to: .nchwFromNWHC)), nil)
        }
        let r = rowLSTM.forward(rows, lengths: rowLengths, training: true)
        let columns = Tensor(shape: [n * w, h, u2], data: Self.permute(r.y.data, [n, h, w, u2], to: .nwhc))
        let y = columnLSTM.forward(columns, lengths: columnLengths, training: true)
        let out = Tensor(shape: [n, u2, h, w], data: Self.permute(y.y.data, [n, w, h, u2], to: .nchwFromNWHC))
        return (out, Cache(inputShape: x.shape, rows: r.cache, columns: y.cache))
    }

    /// ADDS both LSTMs' gradients; returns dx (N, C, H, W).
    public func backward(_ cache: Cache, outputGrad dy: Tensor) -> Tensor {
        let (n, c, h, w) = (cache.inputShape[0], cache.inputShape[1], cache.inputShape[2], cache.inputShape[3])
        let u2 = outChannels
        precondition(dy.shape == [n, u2, h, w], "LSTMSweep.backward: dy has shape \(dy.shape)")
        // Each step below is the adjoint of one forward rearrangement, in reverse order.
        let dColumnsOut = Tensor(shape: [n * w, h, u2], data: Self.permute(dy.data, [n, u2, h, w], to: .nwhcFromNCHW))
        let dColumns = columnLSTM.backward(cache.columns, outputGrad: dColumnsOut).dx
        let dRowsOut = Tensor(shape: [n * h, w, u2], data: Self.permute(dColumns.data, [n, w, h, u2], to: .nwhc))
        let dRows = rowLSTM.backward(cache.rows, outputGrad: dRowsOut).dx
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
        var out = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { X in
        out.withUnsafeMutableBufferPointer { O in
            for s in 0..<n {
                let src = X.baseAddress! + s * a * b * c, dst = O.baseAddress! + s * a * b * c
                switch layout {
                case .nhwc:          // src (a=C, b=H, c=W) → dst (H, W, C)
                    for ch in 0..<a { for y in 0..<b { for x in 0..<c { dst[(y * c + x) * a + ch] = src[(ch * b + y) * c + x] } } }
                case .nchwFromNHWC:  // src (a=H, b=W, c=C) → dst (C, H, W)
                    for y in 0..<a { for x in 0..<b { for ch in 0..<c { dst[(ch * a + y) * b + x] = src[(y * b + x) * c + ch] } } }
                case .nwhc:          // src (A, B, C) → dst (B, A, C)
                    for i in 0..<a { for j in 0..<b { (dst + (j * a + i) * c).update(from: src + (i * b + j) * c, count: c) } }
                case .nchwFromNWHC:  // src (a=W, b=H, c=C) → dst (C, H, W)
                    for x in 0..<a { for y in 0..<b { for ch in 0..<c { dst[(ch * b + y) * a + x] = src[(x * b + y) * c + ch] } } }
                case .nwhcFromNCHW:  // src (a=C, b=H, c=W) → dst (W, H, C)
                    for ch in 0..<a { for y in 0..<b { for x in 0..<c { dst[(x * b + y) * a + ch] = src[(ch * b + y) * c + x] } } }
                }
            }
        }
        }
        return out
    }
}
