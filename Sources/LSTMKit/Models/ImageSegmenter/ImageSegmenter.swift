import Dispatch
import LSTMKitCore
import LSTMKitIO
import LSTMKitLayers

/// What carries context across the encoder's feature map.
public enum SegmenterContext: String, CaseIterable, Sendable {
    /// The ReNet sweep: a BiLSTM over every row, then one over every column.
    case lstm
    /// The ablation: two 3×3 convolutions (→ ReLU) with about the sweep's parameter count
    /// and the same output channels, so only the LSTM's reach differs.
    case conv
}

/// How the decoder doubles the resolution.
public enum SegmenterUpsampling: String, CaseIterable, Sendable {
    /// A 2×2 transposed convolution with stride 2.
    case transposed
    /// Bilinear ×2, then a 1×1 convolution to the stage's channels.
    case bilinear
}

/// Hyper-parameters of the image segmenter. `channels` and the pixel normalisation are
/// set by the trainer from the data.
public struct ImageSegmenterConfig: Equatable, Sendable {
    /// Classes per pixel, background included.
    public var numClasses = 2
    public var channels = 1
    /// Output channels of each encoder block (Conv 3×3 → norm → ReLU, then a 2×2 max-pool).
    public var encoderChannels = [32, 64]
    /// LSTM units per direction of the sweep; the context has 2 × this many channels.
    public var hiddenSize = 64
    public var context: SegmenterContext = .lstm
    /// The sweep's cell (context lstm).
    public var cell: RecurrentCell = .lstm
    public var batchNorm = true
    public var upsampling: SegmenterUpsampling = .transposed
    /// An attention gate on each skip connection.
    public var attentionGates = false
    public var seed: UInt64 = 1
    /// Pixels are fed as (x - pixelMean) / pixelStd.
    public var pixelMean: Float = 0
    public var pixelStd: Float = 1

    public init(numClasses: Int = 2) { self.numClasses = numClasses }

    /// Inputs are padded (bottom, right) to a multiple of this: each encoder block halves them.
    public var sizeMultiple: Int { 1 << encoderChannels.count }

    /// The conv ablation's middle channels M, matching the sweep's 8U(C + 4U + 4) weights
    /// with M(9C + 18U + 1) + 2U (C the encoder's last channels, U = hiddenSize).
    public var convContextChannels: Int {
        let (c, u) = (Double(encoderChannels.last!), Double(hiddenSize))
        let sweepWeights: Double = 8 * u * (c + 4 * u + 4)
        let perChannel: Double = 9 * c + 18 * u + 1
        let target = (sweepWeights - 2 * u) / perChannel
        return max(1, Int(target.rounded()))
    }
}

extension ImageSegmenterConfig: HyperParameterized {
    public static var hyperParameters: [HyperParameter<Self>] {
        [
            .int("num_classes", \.numClasses, 2...65536, "Classes per pixel, background included."),
            .int("channels", \.channels, 1...1024, "Channels per pixel (set from the data)."),
            .ints("encoder_channels", \.encoderChannels, count: 1...6, each: 1...4096, "Output channels of each encoder block."),
            .hiddenSize(\.hiddenSize),
            .cell(\.cell),
        ] + HyperParameter.pixelNormalisation(\.pixelMean, \.pixelStd)
    }
}

/// Conv 3×3 (padding 1) → optional BatchNorm → ReLU: every encoder and decoder block.
/// Tensors: "conv.weight" [, "conv.bias"], "norm.weight", "norm.bias", "norm.running_*".
final class ConvNormReLU: Module {
    let conv: Conv2D
    let norm: BatchNorm2D?

    init(_ inChannels: Int, _ outChannels: Int, batchNorm: Bool, rng: inout SeededRandom) {
        // A bias before BatchNorm would be cancelled by its mean: PyTorch's usual bias=False.
        conv = Conv2D(inChannels, outChannels, kernel: (3, 3), padding: (1, 1), bias: !batchNorm, rng: &rng)
        norm = batchNorm ? BatchNorm2D(outChannels) : nil
    }

    var children: [(name: String, module: Module)] { [("conv", conv)] + (norm.map { [("norm", $0)] } ?? []) }

    struct Cache {
        /// The convolution's input maps (one, or a decoder's upsampled map and its skip).
        let inputs: [Tensor]
        let norm: BatchNorm2D.Cache?
        /// After the ReLU (positive exactly where its input was).
        let output: Tensor

        /// The cache's arrays, for the next training step to reuse.
        var tensors: [Tensor] { inputs + [output] + (norm.map { [$0.input] } ?? []) }
    }

    /// The block on the channel concatenation of `inputs` (never formed: the
    /// convolution reads the maps in turn).
    func forward(_ inputs: [Tensor], training: Bool) -> (Tensor, Cache?) {
        var y = conv.forward(concatenating: inputs)
        var normCache: BatchNorm2D.Cache?
        if let norm {
            let z = y
            (y, normCache) = norm.forward(z, training: training, relu: true)
            if !training { ArrayRecycler.current?.give(z.data) }   // inference is done with it
        } else {
            ReLU.apply(&y)
        }
        return (y, training ? Cache(inputs: inputs, norm: normCache, output: y) : nil)
    }

    /// One gradient per input map (none when `inputGradient` is false).
    func backward(_ cache: Cache, outputGrad dy: Tensor, inputGradient: Bool = true) -> [Tensor] {
        let g: Tensor
        if let norm, let c = cache.norm {
            g = norm.backward(c, outputGrad: dy, reluOutput: cache.output)
        } else {
            g = ReLU.backward(cache.output, outputGrad: dy)
        }
        defer { ArrayRecycler.current?.give(g.data) }
        return conv.backward(concatenating: cache.inputs, outputGrad: g, inputGradients: inputGradient)
    }
}

/// A ReSeg-style segmenter, U-Net shaped: an encoder of ConvNormReLU blocks with 2×2
/// max-pools (keeping each block's output as a skip), context (the LSTM sweep or its
/// conv ablation), then per level a ×2 upsampling, [attention gate on the skip,]
/// concatenation with the skip and a ConvNormReLU; a 1×1 convolution gives K logits
/// per pixel. Images are (N, H, W) or (N, H, W, C) float32, channels last; any H, W ≥ 1:
/// they are padded to a multiple of 2^blocks inside and the logits cropped back.
public final class ImageSegmenter: Module, ModelFileModel {
    public static let modelKind = "image_segmenter"

    public let config: ImageSegmenterConfig
    let encoder: [ConvNormReLU]
    let pool = MaxPool2D(size: 2)
    let sweep: RecurrentSweep?
    let contextConvs: [Conv2D]
    /// Per decoder stage, deepest first: a transposed conv, or the 1×1 conv after bilinear.
    let upConvTranspose: [ConvTranspose2D]
    let upConv: [Conv2D]
    let bilinear = BilinearUpsample(scale: 2)
    let gates: [AttentionGate]
    let decoder: [ConvNormReLU]
    let head: Conv2D
    /// Hands a training step's arrays to the next one (training only: one thread trains
    /// a model at a time; inference never touches it).
    var recycler = ArrayRecycler()

    public init(config: ImageSegmenterConfig) throws {
        try config.validate()
        try Memory.checkModel(parameters: config.parameterEstimate, for: "an image segmenter of encoder channels \(config.encoderChannels)")
        self.config = config
        var rng = SeededRandom(seed: config.seed)
        let levels = config.encoderChannels
        var c = config.channels
        encoder = levels.map { out in
            defer { c = out }
            return ConvNormReLU(c, out, batchNorm: config.batchNorm, rng: &rng)
        }
        let contextOut = 2 * config.hiddenSize
        switch config.context {
        case .lstm:
            sweep = try RecurrentSweep(inChannels: c, hiddenSize: config.hiddenSize, cell: config.cell, seed: rng.next())
            contextConvs = []
        case .conv:
            sweep = nil
            let m = config.convContextChannels
            contextConvs = [Conv2D(c, m, kernel: (3, 3), padding: (1, 1), rng: &rng),
                            Conv2D(m, contextOut, kernel: (3, 3), padding: (1, 1), rng: &rng)]
        }
        var up: [ConvTranspose2D] = [], upConv: [Conv2D] = [], gates: [AttentionGate] = [], decoder: [ConvNormReLU] = []
        var below = contextOut
        for level in levels.indices.reversed() {
            let skip = levels[level]
            switch config.upsampling {
            case .transposed: up.append(ConvTranspose2D(below, skip, kernel: (2, 2), stride: (2, 2), rng: &rng))
            case .bilinear: upConv.append(Conv2D(below, skip, kernel: (1, 1), rng: &rng))
            }
            if config.attentionGates {
                gates.append(AttentionGate(skipChannels: skip, gatingChannels: skip, innerChannels: max(skip / 2, 1), rng: &rng))
            }
            decoder.append(ConvNormReLU(2 * skip, skip, batchNorm: config.batchNorm, rng: &rng))
            below = skip
        }
        (upConvTranspose, self.upConv, self.gates, self.decoder) = (up, upConv, gates, decoder)
        head = Conv2D(levels[0], config.numClasses, kernel: (1, 1), rng: &rng)
    }

    /// The file's names: "encoder.<i>.conv.weight", "sweep.rows.weight_ih_l0",
    /// "context.<i>.weight", "decoder.<j>.up.weight", "decoder.<j>.gate.…", "head.weight";
    /// a decoder stage's block sits beside its upsampling and gate ("decoder.<j>.conv.…",
    /// "decoder.<j>.norm.…"), so the stage's children are the block's. The BatchNorm
    /// running statistics are the tree's buffers (`buffers`: saved, never trained).
    public var children: [(name: String, module: Module)] {
        let stages = decoder.indices.map { j -> Module in
            var stage: [(name: String, module: Module)] = [("up", j < upConvTranspose.count ? upConvTranspose[j] : upConv[j])]
            if j < gates.count { stage.append(("gate", gates[j])) }
            return ModuleList(named: stage + decoder[j].children)
        }
        var m: [(name: String, module: Module)] = [("encoder", ModuleList(encoder))]
        if let sweep { m.append(("sweep", sweep)) }
        if !contextConvs.isEmpty { m.append(("context", ModuleList(contextConvs))) }
        return m + [("decoder", ModuleList(stages)), ("head", head)]
    }

    // MARK: Input

    /// Checks a batch: (N, H, W) (one channel) or (N, H, W, C), H, W ≥ 1, finite pixels.
    /// Returns (N, H, W).
    public func validate(_ images: Tensor) throws -> (n: Int, h: Int, w: Int) {
        let s = images.shape
        let expected = "(N, H, W, \(config.channels))" + (config.channels == 1 ? " or (N, H, W)" : "")
        guard (s.count == 4 && s[3] == config.channels) || (s.count == 3 && config.channels == 1) else {
            throw LSTMKitError.sizeMismatch("images have shape \(s); this model takes \(expected)")
        }
        guard s[1] >= 1, s[2] >= 1 else { throw LSTMKitError.sizeMismatch("images of shape \(s) have no pixels") }
        guard s[1] <= 1 << 14, s[2] <= 1 << 14 else {
            throw LSTMKitError.invalidArgument("images of \(s[1])×\(s[2]) are too large (at most 16384 per side)")
        }
        if let bad = images.data.firstIndex(where: { !$0.isFinite }) {
            throw LSTMKitError.invalidArgument("image \(bad / (images.count / s[0])) holds a NaN or infinite pixel")
        }
        return (s[0], s[1], s[2])
    }

    /// Checks masks (N·H·W labels, row-major (N, H, W)) against a validated batch.
    public func validate(masks: [Int32], n: Int, h: Int, w: Int) throws {
        guard masks.count == n * h * w else {
            throw LSTMKitError.sizeMismatch("masks hold \(masks.count) labels; images of \(n)×\(h)×\(w) need \(n * h * w)")
        }
        if let bad = masks.firstIndex(where: { $0 < 0 || Int($0) >= config.numClasses }) {
            let per = h * w
            throw LSTMKitError.invalidArgument(
                "mask \(bad / per) has label \(masks[bad]) at (\(bad % per / w), \(bad % w)); labels must be in [0, \(config.numClasses))")
        }
    }

    /// Checks (`Memory.check`) what predicting n images of h×w holds at once, before
    /// anything is allocated: per worker, a batch's maps at every level summed (each
    /// stage's input, outputs, skip and 3×3 columns, though not all are alive together:
    /// an upper bound), plus the probabilities out. Called by every prediction and, before
    /// they copy the images, by the front doors.
    public func checkPredictionMemory(n: Int, height h: Int, width w: Int, threads: Int = 1, batchSize: Int = 16) throws {
        guard n >= 1, (1...1 << 14).contains(h), (1...1 << 14).contains(w) else { return }   // `validate` refuses them
        let batch = min(batchSize, n), workers = min(max(threads, 1), (n + batchSize - 1) / max(batchSize, 1))
        let what = "predicting \(n) image\(n == 1 ? "" : "s") of \(h)×\(w)"
        // Per-pixel floats are small (< 2^20), pixels at most (2^14 + 64)^2: the product is exact in a Double.
        let floatsPerImage = Int(min(config.floatsPerImage(height: h, width: w), Double(Int.max / 8)))
        try Memory.check(sum: [[floatsPerImage, batch, workers], [n, h, w, config.numClasses]], for: what)
    }

    /// Images [range] of a validated batch, normalised, NCHW, padded to a multiple of 2^blocks.
    func prepare(_ images: Tensor, _ range: Range<Int>) -> Tensor {
        let (h, w, c) = (images.shape[1], images.shape[2], config.channels)
        let per = h * w * c
        let (mean, scale) = (config.pixelMean, 1 / config.pixelStd)
        let x = images.data.withUnsafeBufferPointer { src in
            FloatKernels.array(range.count * per) { dst in
                let from = src.baseAddress! + range.lowerBound * per
                for i in 0..<(range.count * per) { dst[i] = (from[i] - mean) * scale }
            }
        }
        let m = config.sizeMultiple
        // One channel: NHWC is NCHW already.
        let nchw = c == 1 ? Tensor(shape: [range.count, 1, h, w], data: x)
            : ChannelOps.channelsFirst(Tensor(shape: [range.count, h, w, c], data: x))
        return ChannelOps.pad(nchw, bottom: (m - h % m) % m, right: (m - w % m) % m)
    }

    // MARK: Forward and backward

    struct Cache {
        var encoder: [ConvNormReLU.Cache] = []
        var pools: [MaxPool2D.Cache] = []
        var sweep: RecurrentSweep.Cache?
        /// Conv ablation: its input and the two outputs after their ReLUs.
        var context: [Tensor] = []
        /// Per decoder stage: the upsampling's input (and the bilinear output), the gate, the block.
        var upInputs: [Tensor] = []
        var bilinearOutputs: [Tensor] = []
        var gates: [AttentionGate.Cache] = []
        var decoder: [ConvNormReLU.Cache] = []
        var headInput = Tensor(zeros: [0])

        /// Every array the cache holds (the sweep's layers keep and reuse their own).
        var tensors: [Tensor] {
            var all: [Tensor] = encoder.flatMap(\.tensors)
            all += context + upInputs + bilinearOutputs
            for gate in gates { all += [gate.x, gate.g, gate.inner, gate.alpha] }
            all += decoder.flatMap(\.tensors)
            all.append(headInput)
            return all
        }
    }

    /// Logits (N, K, Hp, Wp) of a prepared batch; the cache only when `training`.
    func forward(_ x: Tensor, training: Bool) -> (Tensor, Cache?) {
        var cache = Cache()
        var h = x
        var skips: [Tensor] = []
        // Inference hands every map it is done with to the thread's recycler, if any
        // (prediction reuses them batch after batch); training keeps them in the cache.
        let spare = training ? nil : ArrayRecycler.current
        func done(_ maps: Tensor...) { for m in maps { spare?.give(m.data) } }
        for block in encoder {
            let (a, c) = block.forward([h], training: training)
            done(h)
            skips.append(a)
            let (pooled, poolCache) = pool.forward(a)
            if let c { cache.encoder.append(c); cache.pools.append(poolCache) }
            h = pooled
        }
        if let sweep {
            let (y, c) = sweep.forward(h, training: training)
            cache.sweep = c
            done(h)
            h = y
        } else {
            var a0 = contextConvs[0].forward(h)
            ReLU.apply(&a0)
            var a1 = contextConvs[1].forward(a0)
            ReLU.apply(&a1)
            if training { cache.context = [h, a0, a1] }
            done(h, a0)
            h = a1
        }
        for j in decoder.indices {
            let skip = skips[encoder.count - 1 - j]
            if training { cache.upInputs.append(h) }
            var up: Tensor
            if j < upConvTranspose.count {
                up = upConvTranspose[j].forward(h)
            } else {
                let b = bilinear.forward(h)
                if training { cache.bilinearOutputs.append(b) }
                up = upConv[j].forward(b)
                done(b)
            }
            done(h)
            var gated = skip
            if j < gates.count {
                let (g, c) = gates[j].forward(skip, gating: up)
                gated = g
                if training { cache.gates.append(c) }
            }
            let (y, c) = decoder[j].forward([up, gated], training: training)
            if let c { cache.decoder.append(c) }
            done(up, skip)
            if j < gates.count { done(gated) }
            h = y
        }
        if training { cache.headInput = h }
        let logits = head.forward(h)
        done(h)
        return (logits, training ? cache : nil)
    }

    /// ADDS every parameter's gradient for dLogits (N, K, Hp, Wp).
    func backward(_ cache: Cache, logitsGrad: Tensor) {
        let recycler = ArrayRecycler.current
        var dh = head.backward(cache.headInput, outputGrad: logitsGrad)
        var dSkips = [Tensor](repeating: Tensor(zeros: [0]), count: encoder.count)
        for j in decoder.indices.reversed() {
            let level = encoder.count - 1 - j
            let parts = decoder[j].backward(cache.decoder[j], outputGrad: dh)
            recycler?.give(dh.data)
            var (dUp, dSkip) = (parts[0], parts[1])
            if j < gates.count {
                let (dx, dg) = gates[j].backward(cache.gates[j], outputGrad: dSkip)
                dSkip = dx
                dUp.data.withUnsafeMutableBufferPointer { U in
                    dg.data.withUnsafeBufferPointer { G in VectorMath.add(G.baseAddress!, into: U.baseAddress!, count: U.count) }
                }
            }
            dSkips[level] = dSkip
            if j < upConvTranspose.count {
                dh = upConvTranspose[j].backward(cache.upInputs[j], outputGrad: dUp)
            } else {
                let dB = upConv[j].backward(cache.bilinearOutputs[j], outputGrad: dUp)
                dh = bilinear.backward(cache.upInputs[j].shape, outputGrad: dB)
            }
            recycler?.give(dUp.data)
        }
        if let sweep, let c = cache.sweep {
            let dy = dh
            dh = sweep.backward(c, outputGrad: dy)
            recycler?.give(dy.data)
        } else {
            let (x, a0, a1) = (cache.context[0], cache.context[1], cache.context[2])
            let d1 = contextConvs[1].backward(a0, outputGrad: ReLU.backward(a1, outputGrad: dh))
            dh = contextConvs[0].backward(x, outputGrad: ReLU.backward(a0, outputGrad: d1))
        }
        for i in encoder.indices.reversed() {
            // The block's output fed both the pool and the skip: the skip's gradient plus the pool's.
            let shape = dSkips[i].shape
            var da = dSkips[i].data
            dSkips[i] = Tensor(zeros: [0])   // da is now the only reference: added into in place
            pool.accumulateBackward(cache.pools[i], outputGrad: dh, into: &da)
            let dx = encoder[i].backward(cache.encoder[i], outputGrad: Tensor(shape: shape, data: da), inputGradient: i > 0)
            recycler?.give(dh.data)
            recycler?.give(da)
            if i > 0 { dh = dx[0] }
        }
    }

    // MARK: Training step

    /// Forward and backward on a validated batch with its masks (N·H·W); ADDS gradients;
    /// returns the loss crossEntropy + diceWeight · Dice (computed on the unpadded
    /// pixels), without its gradient (the step's arrays go to the next step).
    func trainStep(_ images: Tensor, masks: [Int32], classWeights: [Float]?, diceWeight: Float) throws -> SegmentationLoss.Value {
        try recycler.scope {
            let (n, h, w) = (images.shape[0], images.shape[1], images.shape[2])
            let (logits, cache) = forward(prepare(images, 0..<n), training: true)
            var value = try SegmentationLoss.combined(logits: ChannelOps.crop(logits, height: h, width: w), targets: masks,
                                                      classWeights: classWeights, diceWeight: diceWeight)
            let dLogits = ChannelOps.pad(value.grad, bottom: logits.shape[2] - h, right: logits.shape[3] - w)
            backward(cache!, logitsGrad: dLogits)
            recycler.give(cache!.tensors + [logits, dLogits, value.grad])
            value.grad = Tensor(zeros: [0])
            recycler.endStep()
            return value
        }
    }

    // MARK: Prediction

    /// Runs inference in batches on up to `threads` threads; `body` turns each batch's
    /// cropped logits (b, K, H, W) into that batch's share of the output.
    func mapBatches<T>(_ images: Tensor, threads: Int, batchSize: Int, _ body: @escaping (Tensor) -> [T]) throws -> [T] {
        let (n, h, w) = try validate(images)
        guard batchSize >= 1, threads >= 1 else { throw LSTMKitError.invalidArgument("threads and batch size must be >= 1") }
        try checkPredictionMemory(n: n, height: h, width: w, threads: threads, batchSize: batchSize)
        let starts = Array(stride(from: 0, to: n, by: batchSize))
        let results = ResultSlots<[T]>(count: starts.count)
        let overflowed = ResultSlots<[Int]>(count: starts.count)  // a batch's first image with non-finite logits
        // A recycler per worker: batch after batch reuses the same arrays (parallelForEach's
        // worker w runs batches w, w + workers, …, so each recycler stays on one thread).
        let workers = min(max(threads, 1), max(starts.count, 1))
        let recyclers = (0..<workers).map { _ in ArrayRecycler() }
        let run = { (i: Int) in
            let recycler = recyclers[i % workers]
            recycler.scope {
                let range = starts[i]..<min(starts[i] + batchSize, n)
                let (logits, _) = self.forward(self.prepare(images, range), training: false)
                if let bad = logits.data.firstIndex(where: { !$0.isFinite }) {
                    overflowed.set(i, [range.lowerBound + bad / (logits.count / range.count)])
                }
                results.set(i, body(ChannelOps.crop(logits, height: h, width: w)))
                recycler.give(logits.data)
                recycler.endStep()
            }
        }
        parallelForEach(starts.count, threads: threads, run)
        if let image = overflowed.values.joined().first {
            throw LSTMKitError.nonFiniteOutput(image: image, pixelMean: config.pixelMean, pixelStd: config.pixelStd)
        }
        return results.values.flatMap { $0 }
    }

    /// Class probabilities per pixel, (N, H, W, K): channels last, as the images.
    public func predictProbabilities(_ images: Tensor, threads: Int = 1, batchSize: Int = 16) throws -> Tensor {
        let k = config.numClasses
        let values: [Float] = try mapBatches(images, threads: threads, batchSize: batchSize) { logits in
            var p = ChannelOps.channelsLast(logits).data
            for start in stride(from: 0, to: p.count, by: k) {
                let row = start..<(start + k)
                var top = -Float.infinity, sum: Float = 0
                for i in row { top = max(top, p[i]) }
                for i in row { p[i] = VectorMath.exp(p[i] - top); sum += p[i] }
                for i in row { p[i] /= sum }
            }
            return p
        }
        return Tensor(shape: [images.shape[0], images.shape[1], images.shape[2], k], data: values)
    }

    /// The most probable class of every pixel: N·H·W labels, row-major (N, H, W).
    public func predict(_ images: Tensor, threads: Int = 1, batchSize: Int = 16) throws -> [Int32] {
        let k = config.numClasses
        return try mapBatches(images, threads: threads, batchSize: batchSize) { logits in
            let (b, plane) = (logits.shape[0], logits.shape[2] * logits.shape[3])
            var labels = [Int32](repeating: 0, count: b * plane)
            for s in 0..<b {
                for i in 0..<plane {
                    var best = 0, top = logits.data[s * k * plane + i]
                    for c in 1..<k where logits.data[(s * k + c) * plane + i] > top { (best, top) = (c, logits.data[(s * k + c) * plane + i]) }
                    labels[s * plane + i] = Int32(best)
                }
            }
            return labels
        }
    }

    /// Pixel accuracy and IoU of the predicted masks against `masks` (N·H·W labels).
    public func evaluate(_ images: Tensor, masks: [Int32], threads: Int = 1) throws -> ImageSegmentationScore {
        let (n, h, w) = try validate(images)
        guard n > 0 else { throw LSTMKitError.invalidArgument("no images to evaluate") }
        try validate(masks: masks, n: n, h: h, w: w)
        try ImageSegmentationScore.checkMemory(numClasses: config.numClasses, gold: masks)
        var score = ImageSegmentationScore(numClasses: config.numClasses)
        score.add(gold: masks, predicted: try predict(images, threads: threads))
        return score
    }

    // MARK: Files

    /// Parameters and buffers as `namedModules` gives parameters (for the trainer's
    /// checkpoints until it reads `namedParameters + namedBuffers`).
    var fileModules: [(prefix: String, module: Module)] { flatModules(namedParameters + namedBuffers) }

    public func modelFile() -> SafeTensors {
        SafeTensors(
            metadata: ModelFile.header(kind: Self.modelKind, quantized: isQuantized) + [
                ("num_classes", String(config.numClasses)),
                ("channels", String(config.channels)),
                ("encoder_channels", config.encoderChannels.map(String.init).joined(separator: ",")),
                ("hidden_size", String(config.hiddenSize)),
                ("context", config.context.rawValue),
            ] + ModelFile.cellMetadata(config.cell) + [
                ("batch_norm", config.batchNorm ? "true" : "false"),
                ("upsampling", config.upsampling.rawValue),
                ("attention_gates", config.attentionGates ? "true" : "false"),
                ("seed", String(config.seed)),
                ("pixel_mean", String(config.pixelMean)),
                ("pixel_std", String(config.pixelStd)),
            ],
            tensors: ModelFile.tensors(of: self))
    }

    public convenience init(modelFile file: SafeTensors) throws {
        try ModelFile.checkKind(file, expected: Self.modelKind)
        var c = ImageSegmenterConfig(numClasses: try ModelFile.int(file, "num_classes"))
        c.channels = try ModelFile.int(file, "channels")
        let levels = (file.metadata("encoder_channels") ?? "").split(separator: ",").map { Int($0) }
        guard !levels.isEmpty, !levels.contains(nil) else {
            throw LSTMKitError.invalidFormat("metadata \"encoder_channels\" must be a list of integers")
        }
        c.encoderChannels = levels.map { $0! }
        c.hiddenSize = try ModelFile.int(file, "hidden_size")
        guard let context = SegmenterContext(rawValue: file.metadata("context") ?? "") else {
            throw LSTMKitError.invalidFormat("metadata \"context\" must be lstm or conv")
        }
        guard let upsampling = SegmenterUpsampling(rawValue: file.metadata("upsampling") ?? "") else {
            throw LSTMKitError.invalidFormat("metadata \"upsampling\" must be transposed or bilinear")
        }
        (c.context, c.upsampling) = (context, upsampling)
        c.cell = try ModelFile.cell(file)
        c.batchNorm = try ModelFile.bool(file, "batch_norm")
        c.attentionGates = try ModelFile.bool(file, "attention_gates")
        guard let seed = UInt64(file.metadata("seed") ?? "") else { throw LSTMKitError.invalidFormat("metadata \"seed\" is not an unsigned integer") }
        c.seed = seed
        c.pixelMean = try ModelFile.float(file, "pixel_mean")
        c.pixelStd = try ModelFile.float(file, "pixel_std")
        do {
            try c.validate()
            try ModelFile.checkSizes(file, c.encoderChannels.enumerated().map { ("encoder_channels", $1, "encoder.\($0).conv.weight", 0) } + [
                ("channels", c.channels, "encoder.0.conv.weight", 1),
                ("num_classes", c.numClasses, "head.weight", 0),
                c.context == .lstm ? ("hidden_size", c.hiddenSize, "sweep.rows.weight_hh_l0", 1) : ("hidden_size", 2 * c.hiddenSize, "context.1.weight", 0),
            ])
            try self.init(config: c)
        } catch let e as LSTMKitError {
            throw LSTMKitError.invalidFormat("invalid hyper-parameters: \(e.message)")
        }
        try ModelFile.load(file, into: self)
    }
}

extension ImageSegmenterConfig {
    /// Floats the forward pass holds for one image of h×w (padded to `sizeMultiple`): per
    /// full-resolution pixel, the input's copies and the head, then each level at a
    /// quarter of the pixels of the one above, its maps summed (each stage's input,
    /// outputs, skip and 3×3 columns, though not all are alive together: an upper bound).
    /// Training keeps them all for backward.
    func floatsPerImage(height h: Int, width w: Int) -> Double {
        let m = sizeMultiple
        let (hp, wp) = ((h + m - 1) / m * m, (w + m - 1) / m * m)
        let (c, k, u) = (channels, numClasses, hiddenSize)
        var perPixel = Double(3 * c + 3 * k)
        let levels = encoderChannels
        for (level, out) in levels.enumerated() {
            let inChannels = level == 0 ? c : levels[level - 1]
            let below = level == levels.count - 1 ? 2 * u : levels[level + 1]   // the upsampling's input
            let encoder = 9 * inChannels + 4 * out                    // columns; conv, norm, skip, pooled
            let decoder = 21 * out + (attentionGates ? 3 * out : 0)  // up; columns of up + skip; conv, norm
                + (upsampling == .bilinear ? below : 0) + (below + 3) / 4
            perPixel += Double(encoder + decoder) / Double(1 << (2 * level))
        }
        let last = levels.last!
        let contextFloats = context == .lstm ? 2 * last + 44 * u   // the sweep's copies and its two layers' work
            : 9 * last + 10 * convContextChannels + 4 * u
        perPixel += Double(contextFloats) / Double(1 << (2 * levels.count))
        return perPixel.rounded(.up) * Double(hp) * Double(wp)
    }

    /// An upper bound of the weights, for `Memory.checkModel`.
    var parameterEstimate: Double {
        var total = 0.0, c = channels
        for out in encoderChannels {
            total += FloatCount.conv(c, out) + 4 * Double(out)
            c = out
        }
        let u = hiddenSize
        switch context {
        case .lstm:
            total += RecurrentConfig(inputSize: c, hiddenSize: u, bidirectional: true).parameterEstimate
                + RecurrentConfig(inputSize: 2 * u, hiddenSize: u, bidirectional: true).parameterEstimate
        case .conv:
            total += FloatCount.conv(c, convContextChannels) + FloatCount.conv(convContextChannels, 2 * u)
        }
        var below = 2 * u
        for skip in encoderChannels.reversed() {
            total += FloatCount.conv(below, skip, kernel: 2) + FloatCount.conv(2 * skip, skip) + 4 * Double(skip)
                + (attentionGates ? 3 * FloatCount.linear(skip, skip) : 0)
            below = skip
        }
        return total + FloatCount.linear(encoderChannels[0], numClasses)
    }
}
