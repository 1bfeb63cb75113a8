import LSTMKitCore

/// LSTM-FCN's fully convolutional branch (Karim et al. 2017) over padded batches of
/// sequences with lengths: blocks of a temporal convolution ("same" length), batch
/// normalisation and ReLU, then the mean over each sequence's valid steps.
///
/// Built on the image layers with a height-1 view: a batch (B, T, D) is the map
/// (B, D, 1, T), each block's convolution a `Conv2D` with a (1, k) kernel. Padding never
/// changes a sequence's result: every block's output is zeroed past each sequence's
/// end (so the next kernel reads zeros there, as the convolution's own zero padding of
/// an unpadded sequence), and the batch statistics of `BatchNorm2D` are taken over the
/// valid steps only, by normalising them packed side by side as one (1, C, 1, ΣL) map.
public final class TemporalConvFront: Module {
    /// One block: the convolution (no bias: the norm's shift is one) and its norm.
    public final class Block: Module {
        public let conv: Conv2D
        public let norm: BatchNorm2D
        init(_ input: Int, _ filters: Int, kernel: Int, rng: inout SeededRandom) {
            conv = Conv2D(input, filters, kernel: (1, kernel), padding: (0, kernel / 2), bias: false, rng: &rng)
            norm = BatchNorm2D(filters)
        }
        public var children: [(name: String, module: Module)] { [("conv", conv), ("norm", norm)] }
    }

    /// LSTM-FCN's kernel widths; a block past the third takes the last.
    public static let kernels = [8, 5, 3]

    public let blocks: [Block]
    /// The pooled features per sequence: the last block's filters.
    public var outputSize: Int { blocks.last!.norm.channels }

    /// Blocks of `filters[i]` filters over `inputSize` values per step.
    public init(inputSize: Int, filters: [Int], rng: inout SeededRandom) {
        precondition(inputSize > 0 && !filters.isEmpty && filters.allSatisfy { $0 > 0 }, "TemporalConvFront needs positive sizes")
        var input = inputSize
        blocks = filters.enumerated().map { i, f in
            defer { input = f }
            return Block(input, f, kernel: Self.kernels[min(i, Self.kernels.count - 1)], rng: &rng)
        }
    }

    public var children: [(name: String, module: Module)] { blocks.enumerated().map { (String($0), $1) } }

    /// Weights of a front over `inputSize` values per step (for memory estimates).
    public static func parameterCount(inputSize: Int, filters: [Int]) -> Double {
        var input = inputSize, total = 0.0
        for (i, f) in filters.enumerated() {
            total += Double(input * f * kernels[min(i, kernels.count - 1)] + 4 * f)
            input = f
        }
        return total
    }

    /// Floats a training step holds per step of a sequence: each block's input, its
    /// convolution's columns and output, the packed norm input and output, and the next
    /// input.
    public static func trainingFloatsPerStep(inputSize: Int, filters: [Int]) -> Double {
        var input = inputSize, total = 0.0
        for (i, f) in filters.enumerated() {
            total += Double(input * (kernels[min(i, kernels.count - 1)] + 1) + 5 * f)
            input = f
        }
        return total
    }

    public struct Cache {
        /// Each block's input (B, C, 1, T) and its norm's cache and packed output.
        var inputs: [Tensor] = []
        var norms: [BatchNorm2D.Cache] = []
        var outputs: [Tensor] = []
        var lengths: [Int] = []
        var convWidth: [Int] = []
    }

    /// The pooled features (B, outputSize) of x (B, T, D), sequence b valid for its first
    /// `lengths[b]` steps (values past them are ignored); `training` uses and updates the
    /// norms' batch statistics (over the valid steps).
    public func forward(_ x: Tensor, lengths: [Int], training: Bool) -> (Tensor, Cache) {
        precondition(x.rank == 3 && x.shape[0] == lengths.count && lengths.allSatisfy { $0 >= 1 && $0 <= x.shape[1] },
                     "TemporalConvFront expects (B, T, D) and B lengths in [1, T], got \(x.shape), \(lengths)")
        let (b, t, d) = (x.shape[0], x.shape[1], x.shape[2])
        var cache = Cache()
        cache.lengths = lengths
        // (B, 1, T, D) as NHWC is (B, D, 1, T) channels first; padding zeroed.
        var h = Self.scatter(Self.gather(ChannelOps.channelsFirst(Tensor(shape: [b, 1, t, d], data: x.data)), lengths), lengths, width: t)
        var packed = Tensor(zeros: [0])
        for block in blocks {
            let y = block.conv.forward(h)
            var normCache: BatchNorm2D.Cache
            (packed, normCache) = block.norm.forward(Self.gather(y, lengths), training: training, relu: true)
            if training {
                cache.inputs.append(h)
                cache.norms.append(normCache)
                cache.outputs.append(packed)
                cache.convWidth.append(y.shape[3])
            }
            h = Self.scatter(packed, lengths, width: t)
        }
        return (Self.segmentMeans(packed, lengths), cache)
    }

    /// ADDS into the blocks' gradients, from the pooled features' gradient (B, outputSize).
    /// Gives no input gradient: the front reads the data.
    public func backward(_ cache: Cache, outputGrad dy: Tensor) {
        let lengths = cache.lengths
        var dPacked = Self.segmentMeansBackward(dy, lengths)
        for (i, block) in blocks.enumerated().reversed() {
            let dNorm = block.norm.backward(cache.norms[i], outputGrad: dPacked, reluOutput: cache.outputs[i])
            let dConv = Self.scatter(dNorm, lengths, width: cache.convWidth[i])
            let dx = block.conv.backward(cache.inputs[i], outputGrad: dConv, inputGradient: i > 0)
            if i > 0 { dPacked = Self.gather(dx, lengths) }
        }
    }

    /// The valid steps of a map (B, C, 1, W) packed side by side: (1, C, 1, ΣL), sequence
    /// b's steps [0, L_b) at its offset, for every channel.
    package static func gather(_ x: Tensor, _ lengths: [Int]) -> Tensor {
        let (b, c, w) = (x.shape[0], x.shape[1], x.shape[3]), total = lengths.reduce(0, +)
        let out = x.data.withUnsafeBufferPointer { X in
            FloatKernels.array(c * total) { O in
                var offset = 0
                for s in 0..<b {
                    for ch in 0..<c { (O + ch * total + offset).update(from: X.baseAddress! + (s * c + ch) * w, count: lengths[s]) }
                    offset += lengths[s]
                }
            }
        }
        return Tensor(shape: [1, c, 1, total], data: out)
    }

    /// The adjoint of `gather`: (1, C, 1, ΣL) → (B, C, 1, width), zero past each length.
    package static func scatter(_ x: Tensor, _ lengths: [Int], width w: Int) -> Tensor {
        let (c, total, b) = (x.shape[1], x.shape[3], lengths.count)
        var out = FloatKernels.zeros(b * c * w)
        x.data.withUnsafeBufferPointer { X in
            out.withUnsafeMutableBufferPointer { O in
                var offset = 0
                for s in 0..<b {
                    for ch in 0..<c { (O.baseAddress! + (s * c + ch) * w).update(from: X.baseAddress! + ch * total + offset, count: lengths[s]) }
                    offset += lengths[s]
                }
            }
        }
        return Tensor(shape: [b, c, 1, w], data: out)
    }

    /// Each sequence's mean over its steps of a packed map (1, C, 1, ΣL): (B, C).
    static func segmentMeans(_ x: Tensor, _ lengths: [Int]) -> Tensor {
        let (c, total) = (x.shape[1], x.shape[3])
        var out = [Float](repeating: 0, count: lengths.count * c)
        x.data.withUnsafeBufferPointer { X in
            var offset = 0
            for (s, l) in lengths.enumerated() {
                for ch in 0..<c { out[s * c + ch] = FloatKernels.sum(X.baseAddress! + ch * total + offset, l) / Float(l) }
                offset += l
            }
        }
        return Tensor(shape: [lengths.count, c], data: out)
    }

    /// The adjoint of `segmentMeans`: dy (B, C) → (1, C, 1, ΣL), dy[b, c] / L_b on b's steps.
    static func segmentMeansBackward(_ dy: Tensor, _ lengths: [Int]) -> Tensor {
        let c = dy.shape[1], total = lengths.reduce(0, +)
        var out = [Float](repeating: 0, count: c * total)
        var offset = 0
        for (s, l) in lengths.enumerated() {
            for ch in 0..<c {
                let g = dy.data[s * c + ch] / Float(l)
                for j in 0..<l { out[ch * total + offset + j] = g }
            }
            offset += l
        }
        return Tensor(shape: [1, c, 1, total], data: out)
    }
}
