import Dispatch
import LSTMKitCore
import LSTMKitIO
import LSTMKitLayers

/// How an image classifier turns its input into a sequence for the LSTM.
public enum ImageClassifierKind: String, CaseIterable, Sendable {
    /// The image's rows are the time steps (W·C features each); optionally a second
    /// LSTM also reads the columns.
    case rows
    /// A convolutional encoder first; then the rows of its feature map are the steps
    /// (one image), or each frame's feature map is one step (a sequence of frames).
    case cnn
}

/// Hyper-parameters of the image classifier. The input geometry (height, width,
/// channels, frames) and the pixel normalisation are set by the trainer from the data.
public struct ImageClassifierConfig: Equatable, Sendable, RecurrentClassifierConfig {
    public var kind: ImageClassifierKind = .rows
    public var height = 28
    public var width = 28
    public var channels = 1
    /// 0: each input is one image (N, H, W, C); T > 0: each input is a sequence of T
    /// frames (N, T, H, W, C), each frame encoded by the CNN (cnn kind only).
    public var frames = 0
    public var hiddenSize = 128
    public var numLayers = 1
    public var bidirectional = true
    /// The recurrent layers' cell.
    public var cell: RecurrentCell = .lstm
    /// Rows kind: a second LSTM reads the columns; the two pooled vectors are concatenated.
    public var columns = false
    /// Cnn kind: output channels of each Conv 3×3 → ReLU → max-pool 2×2 block.
    public var convChannels = [32, 64]
    public var pooling: SequencePoolingKind = .last
    public var attentionSize = 64
    public var attentionHeads = 4
    /// Dropout on the pooled features, before the output layer.
    public var dropout: Float = 0.25
    public var seed: UInt64 = 1
    /// Pixels are fed as (x - pixelMean) / pixelStd.
    public var pixelMean: Float = 0
    public var pixelStd: Float = 1

    public init() {}

    /// The input shape of one example: (H, W, C) or (T, H, W, C).
    public var exampleShape: [Int] { (frames > 0 ? [frames] : []) + [height, width, channels] }
}

extension ImageClassifierConfig: HyperParameterized {
    public static var hyperParameters: [HyperParameter<Self>] {
        [
            .int("height", \.height, 1...(1 << 14), "Image height in pixels (set from the data)."),
            .int("width", \.width, 1...(1 << 14), "Image width in pixels (set from the data)."),
            .int("channels", \.channels, 1...(1 << 10), "Channels per pixel (set from the data)."),
            .int("frames", \.frames, 0...(1 << 14), "Frames per example (0: single images; set from the data)."),
            .hiddenSize(\.hiddenSize),
            .cell(\.cell),
            .numLayers(\.numLayers),
            .ints("conv_channels", \.convChannels, count: 1...8, each: 1...4096, "Output channels of each conv block (kind cnn)."),
            .attentionSize(\.attentionSize),
            .attentionHeads(\.attentionHeads),
            .float("dropout", \.dropout, .closedOpen(0, 1), "Dropout on the pooled features in training."),
        ] + HyperParameter.pixelNormalisation(\.pixelMean, \.pixelStd)
    }

    public func validateCombination() throws {
        try validatePooling()
        switch kind {
        case .rows:
            guard frames == 0 else { throw LSTMKitError.invalidArgument("frame sequences need kind cnn (rows reads one image)") }
        case .cnn:
            guard !columns else { throw LSTMKitError.invalidArgument("columns applies to kind rows only") }
            let minimum = 1 << convChannels.count
            guard height >= minimum, width >= minimum else {
                throw LSTMKitError.invalidArgument(
                    "images of \(height)×\(width) are too small for \(convChannels.count) conv blocks: the minimum is \(minimum)×\(minimum)")
            }
        }
    }
}

/// An image classifier with an LSTM over rows, columns, CNN feature rows or frames:
/// [ConvEncoder →] sequence → (Bi)LSTM → pooling → dropout → Linear → softmax.
/// Images come as float32 (N, H, W, C) or (N, T, H, W, C), channels last (NumPy's layout).
public final class ImageClassifier: Module, ModelFileModel {
    public static let modelKind = "image_classifier"

    public let config: ImageClassifierConfig
    public let labels: [String]
    public let encoder: ConvEncoder?
    public let recurrent: any RecurrentLayer
    public let pooling: RecurrentOutputPooling
    /// Rows kind with `columns`: the layer that reads the columns, and its pooling.
    public let columnRecurrent: (any RecurrentLayer)?
    public let columnPooling: RecurrentOutputPooling?
    public let output: Linear
    var dropoutRNG: SeededRandom

    public init(config: ImageClassifierConfig, labels: [String]) throws {
        try config.validate()
        guard labels.count >= 2 else {
            throw LSTMKitError.invalidArgument("a classifier needs at least 2 classes, got \(labels.count): \(labels)")
        }
        guard Set(labels).count == labels.count else { throw LSTMKitError.invalidArgument("class labels repeat: \(labels)") }
        try Memory.checkModel(parameters: config.parameterEstimate(classes: labels.count), for: "an image classifier")
        self.config = config
        self.labels = labels
        var rng = SeededRandom(seed: config.seed)
        let (c, h, w) = (config.channels, config.height, config.width)
        let stepFeatures: Int
        switch config.kind {
        case .rows:
            encoder = nil
            stepFeatures = w * c
        case .cnn:
            let e = ConvEncoder(inChannels: c, channels: config.convChannels, rng: &rng)
            let (ho, wo) = e.outputSize(height: h, width: w)
            encoder = e
            stepFeatures = config.frames > 0 ? e.outChannels * ho * wo : e.outChannels * wo
        }
        func makeRecurrent(_ input: Int) throws -> any RecurrentLayer {
            try config.cell.make(RecurrentConfig(inputSize: input, hiddenSize: config.hiddenSize, numLayers: config.numLayers,
                                                 bidirectional: config.bidirectional, seed: rng.next()))
        }
        recurrent = try makeRecurrent(stepFeatures)
        pooling = RecurrentOutputPooling(config.pooling, recurrent: recurrent.config, attentionSize: config.attentionSize,
                                         heads: config.attentionHeads, rng: &rng)
        if config.columns {
            let columnRecurrent = try makeRecurrent(h * c)
            self.columnRecurrent = columnRecurrent
            columnPooling = RecurrentOutputPooling(config.pooling, recurrent: columnRecurrent.config,
                                                   attentionSize: config.attentionSize, heads: config.attentionHeads, rng: &rng)
        } else {
            columnRecurrent = nil
            columnPooling = nil
        }
        output = Linear(recurrent.config.outputSize * (config.columns ? 2 : 1), labels.count, rng: &rng)
        dropoutRNG = rng.split()
    }

    /// The file's names: "encoder.0.weight", "lstm.weight_ih_l0" and "column_lstm.…"
    /// (the recurrent layers under their cell's tag), "attention.…" and
    /// "column_attention.…" (the poolings' attention), "output.weight", …
    public var children: [(name: String, module: Module)] {
        var m: [(name: String, module: Module)] = []
        if let encoder { m.append(("encoder", encoder)) }
        m.append((recurrent.cell.rawValue, recurrent))
        m += pooling.children()
        if let columnRecurrent {
            m.append(("column_" + columnRecurrent.cell.rawValue, columnRecurrent))
            m += columnPooling!.children(prefix: "column_")
        }
        m.append(("output", output))
        return m
    }

    // MARK: Input

    /// Checks a batch's shape against the model's and that every pixel is finite.
    /// (N, H, W) is accepted for one channel. Returns N.
    public func validate(_ images: Tensor) throws -> Int {
        let example = config.exampleShape
        let shape = images.shape
        let matches = shape.count >= 1 && (Array(shape.dropFirst()) == example
            || (config.channels == 1 && Array(shape.dropFirst()) == Array(example.dropLast())))
        guard matches else {
            let expected = config.frames > 0 ? "(N, \(example.map(String.init).joined(separator: ", ")))"
                : "(N, \(config.height), \(config.width), \(config.channels))" + (config.channels == 1 ? " or (N, \(config.height), \(config.width))" : "")
            throw LSTMKitError.sizeMismatch("images have shape \(shape); this model takes \(expected)")
        }
        let perExample = example.reduce(1, *)
        if let bad = images.data.firstIndex(where: { !$0.isFinite }) {
            throw LSTMKitError.invalidArgument("image \(bad / max(perExample, 1)) holds a NaN or infinite pixel")
        }
        return shape[0]
    }

    /// Examples [start, end) of a validated batch, normalised, as the first layer's input:
    /// the LSTM sequence (rows kind) or the encoder's (N·T, C, H, W) input (cnn kind).
    func prepare(_ images: Tensor, _ range: Range<Int>) -> Tensor {
        let (h, w, c) = (config.height, config.width, config.channels)
        let perExample = config.exampleShape.reduce(1, *)
        let n = range.count
        let (mean, scale) = (config.pixelMean, 1 / config.pixelStd)
        var x = [Float](repeating: 0, count: n * perExample)
        images.data.withUnsafeBufferPointer { src in
            let base = range.lowerBound * perExample
            switch config.kind {
            case .rows:   // (N, H, W·C) is the NHWC layout as it is.
                for i in 0..<x.count { x[i] = (src[base + i] - mean) * scale }
            case .cnn:    // NHWC → NCHW per image (or frame).
                for image in 0..<(n * max(config.frames, 1)) {
                    let from = base + image * h * w * c, to = image * h * w * c
                    for y in 0..<h {
                        for xx in 0..<w {
                            for ch in 0..<c { x[to + (ch * h + y) * w + xx] = (src[from + (y * w + xx) * c + ch] - mean) * scale }
                        }
                    }
                }
            }
        }
        switch config.kind {
        case .rows: return Tensor(shape: [n, h, w * c], data: x)
        case .cnn: return Tensor(shape: [n * max(config.frames, 1), c, h, w], data: x)
        }
    }

    /// Rows (N, H, W·C) → columns (N, W, H·C).
    static func columns(of rows: Tensor, channels c: Int) -> Tensor {
        let (n, h, wc) = (rows.shape[0], rows.shape[1], rows.shape[2])
        let w = wc / c
        var out = [Float](repeating: 0, count: rows.count)
        for b in 0..<n {
            for y in 0..<h {
                for x in 0..<w {
                    for ch in 0..<c { out[((b * w + x) * h + y) * c + ch] = rows.data[((b * h + y) * w + x) * c + ch] }
                }
            }
        }
        return Tensor(shape: [n, w, h * c], data: out)
    }

    /// The adjoint of `columns`: (N, W, H·C) → (N, H, W·C).
    static func rows(ofColumns cols: Tensor, channels c: Int) -> Tensor {
        let (n, w, hc) = (cols.shape[0], cols.shape[1], cols.shape[2])
        let h = hc / c
        var out = [Float](repeating: 0, count: cols.count)
        for b in 0..<n {
            for x in 0..<w {
                for y in 0..<h {
                    for ch in 0..<c { out[((b * h + y) * w + x) * c + ch] = cols.data[((b * w + x) * h + y) * c + ch] }
                }
            }
        }
        return Tensor(shape: [n, h, w * c], data: out)
    }

    /// Encoder features (N·T, C', H', W') → the LSTM sequence: one image's feature rows
    /// (N, H', C'·W'), or one step per frame (N, T, C'·H'·W').
    func sequence(fromFeatures f: Tensor, batch n: Int) -> Tensor {
        if config.frames > 0 { return f.reshaped([n, config.frames, f.count / (n * config.frames)]) }
        let (c, h, w) = (f.shape[1], f.shape[2], f.shape[3])
        var out = [Float](repeating: 0, count: f.count)
        for b in 0..<n {
            for ch in 0..<c {
                for y in 0..<h {
                    for x in 0..<w { out[((b * h + y) * c + ch) * w + x] = f.data[((b * c + ch) * h + y) * w + x] }
                }
            }
        }
        return Tensor(shape: [n, h, c * w], data: out)
    }

    /// The adjoint of `sequence(fromFeatures:)`.
    func features(fromSequenceGrad g: Tensor, featureShape: [Int]) -> Tensor {
        if config.frames > 0 { return g.reshaped(featureShape) }
        let (n, c, h, w) = (featureShape[0], featureShape[1], featureShape[2], featureShape[3])
        var out = [Float](repeating: 0, count: g.count)
        for b in 0..<n {
            for ch in 0..<c {
                for y in 0..<h {
                    for x in 0..<w { out[((b * c + ch) * h + y) * w + x] = g.data[((b * h + y) * c + ch) * w + x] }
                }
            }
        }
        return Tensor(shape: featureShape, data: out)
    }

    // MARK: Forward and backward

    /// Everything backward needs from a training forward pass.
    struct Cache {
        var input: Tensor
        var encoder: ConvEncoder.Cache?
        var featureShape: [Int] = []
        var recurrent: RecurrentCache
        var pooling: RecurrentOutputPooling.Cache
        var column: (input: Tensor, recurrent: RecurrentCache, pooling: RecurrentOutputPooling.Cache)?
        var pooled: Tensor
        var dropoutMask: [Float]
    }

    /// Logits (N, classes) of a prepared batch; with a cache in training (dropout on).
    func forward(_ prepared: Tensor, batch n: Int, training: Bool) -> (Tensor, Cache?) {
        var seq = prepared
        var encoderCache: ConvEncoder.Cache?
        var featureShape: [Int] = []
        if let encoder {
            let (f, c) = encoder.forward(prepared, training: training)
            encoderCache = c
            featureShape = f.shape
            seq = sequence(fromFeatures: f, batch: n)
        }
        func run(_ layer: any RecurrentLayer, _ pooling: RecurrentOutputPooling, _ x: Tensor)
            -> (Tensor, RecurrentCache?, RecurrentOutputPooling.Cache) {
            let lengths = [Int](repeating: x.shape[1], count: n)   // rows: H steps, columns: W steps
            if training {
                let out = layer.forward(sequences: x, lengths: lengths, training: true)
                let (p, c) = pooling.forward(y: out.y, final: out.final, lengths: lengths)
                return (p, out.cache, c)
            }
            let out = layer.infer(sequences: x, lengths: lengths)
            let (p, c) = pooling.forward(y: out.y, final: out.final, lengths: lengths)
            return (p, nil, c)
        }
        var (pooled, recurrentCache, poolCache) = run(recurrent, pooling, seq)
        var columnCache: (input: Tensor, recurrent: RecurrentCache, pooling: RecurrentOutputPooling.Cache)?
        if let columnRecurrent, let columnPooling {
            let cols = Self.columns(of: seq, channels: config.channels)
            let (p, lc, pc) = run(columnRecurrent, columnPooling, cols)
            pooled = Self.concatenate(pooled, p)
            if training { columnCache = (cols, lc!, pc) }
        }
        guard training else { return (output.forward(pooled), nil) }
        let (dropped, mask) = Dropout(config.dropout).forward(pooled, rng: &dropoutRNG)
        let cache = Cache(input: prepared, encoder: encoderCache, featureShape: featureShape, recurrent: recurrentCache!,
                          pooling: poolCache, column: columnCache, pooled: dropped, dropoutMask: mask)
        return (output.forward(dropped), cache)
    }

    /// ADDS every parameter's gradient for dLogits (N, classes).
    func backward(_ cache: Cache, logitsGrad: Tensor) {
        let dPooled = Dropout(config.dropout).backward(cache.dropoutMask,
                                                       outputGrad: output.backward(cache.pooled, outputGrad: logitsGrad))
        var dMain = dPooled
        if let column = cache.column, let columnRecurrent, let columnPooling {
            let (a, b) = Self.split(dPooled, at: recurrent.config.outputSize)
            dMain = a
            let (dY, dFinal) = columnPooling.backward(column.pooling, outputGrad: b)
            _ = columnRecurrent.backward(column.recurrent, outputGrad: dY, finalGrad: dFinal)
        }
        let (dY, dFinal) = pooling.backward(cache.pooling, outputGrad: dMain)
        let dSeq = recurrent.backward(cache.recurrent, outputGrad: dY, finalGrad: dFinal)
        if let encoder, let encoderCache = cache.encoder {
            _ = encoder.backward(encoderCache, outputGrad: features(fromSequenceGrad: dSeq, featureShape: cache.featureShape))
        }
    }

    static func concatenate(_ a: Tensor, _ b: Tensor) -> Tensor {
        let (n, p, q) = (a.shape[0], a.shape[1], b.shape[1])
        var out = [Float](repeating: 0, count: n * (p + q))
        for r in 0..<n {
            for j in 0..<p { out[r * (p + q) + j] = a.data[r * p + j] }
            for j in 0..<q { out[r * (p + q) + p + j] = b.data[r * q + j] }
        }
        return Tensor(shape: [n, p + q], data: out)
    }

    static func split(_ x: Tensor, at p: Int) -> (Tensor, Tensor) {
        let (n, width) = (x.shape[0], x.shape[1])
        let q = width - p
        var a = [Float](repeating: 0, count: n * p), b = [Float](repeating: 0, count: n * q)
        for r in 0..<n {
            for j in 0..<p { a[r * p + j] = x.data[r * width + j] }
            for j in 0..<q { b[r * q + j] = x.data[r * width + p + j] }
        }
        return (Tensor(shape: [n, p], data: a), Tensor(shape: [n, q], data: b))
    }

    // MARK: Training step

    /// Forward and backward on examples `range` of `images` with dropout; ADDS gradients;
    /// returns the mean cross-entropy.
    func trainStep(_ images: Tensor, _ range: Range<Int>, targets: [Int32]) throws -> Float {
        let (logits, cache) = forward(prepare(images, range), batch: range.count, training: true)
        let (loss, dLogits) = try Loss.softmaxCrossEntropy(logits: logits, targets: targets)
        backward(cache!, logitsGrad: dLogits)
        return loss
    }

    // MARK: Prediction

    /// Class probabilities (N, classes), in batches on up to `threads` threads.
    public func predictProbabilities(_ images: Tensor, threads: Int = 1, batchSize: Int = 128) throws -> Tensor {
        let n = try validate(images)
        let classes = labels.count
        let starts = Array(stride(from: 0, to: n, by: batchSize))
        let results = ResultSlots<[Float]>(count: starts.count)
        let run = { (i: Int) in
            let range = starts[i]..<min(starts[i] + batchSize, n)
            let (logits, _) = self.forward(self.prepare(images, range), batch: range.count, training: false)
            var probabilities: [Float] = []
            probabilities.reserveCapacity(logits.count)
            for r in 0..<range.count {
                let row = Array(logits.data[(r * classes)..<((r + 1) * classes)])
                // Non-finite logits (overflowed) mark the row, refused below.
                probabilities += row.allSatisfy(\.isFinite) ? VectorMath.softmax(row) : [Float](repeating: .nan, count: classes)
            }
            results.set(i, probabilities)
        }
        parallelForEach(starts.count, threads: threads, run)
        let data = results.values.flatMap { $0 }
        if let bad = data.firstIndex(where: { !$0.isFinite }) {
            throw LSTMKitError.nonFiniteOutput(image: bad / classes, pixelMean: config.pixelMean, pixelStd: config.pixelStd)
        }
        return Tensor(shape: [n, classes], data: data)
    }

    /// The most probable class index of each image.
    public func predictIndices(_ images: Tensor, threads: Int = 1) throws -> [Int] {
        let p = try predictProbabilities(images, threads: threads)
        let c = labels.count
        return (0..<p.shape[0]).map { r in (0..<c).max { p.data[r * c + $0] < p.data[r * c + $1] }! }
    }

    public func predict(_ images: Tensor, threads: Int = 1) throws -> [String] {
        try predictIndices(images, threads: threads).map { labels[$0] }
    }

    /// Scores the classifier on images with string labels; a label the model does not
    /// know is an error naming it.
    public func evaluate(_ images: Tensor, labels gold: [String], threads: Int = 1) throws -> ClassificationScore {
        guard images.shape.first == gold.count else {
            throw LSTMKitError.sizeMismatch("\(images.shape.first ?? 0) images but \(gold.count) labels")
        }
        let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
        let goldIndices = try gold.map { g -> Int in
            guard let i = index[g] else {
                throw LSTMKitError.invalidArgument("label \"\(g)\" is not one of the model's classes \(labels)")
            }
            return i
        }
        var score = ClassificationScore(labels: labels)
        for (p, g) in zip(try predictIndices(images, threads: threads), goldIndices) { score.add(gold: g, predicted: p) }
        return score
    }

    // MARK: Files

    public func modelFile() -> SafeTensors {
        SafeTensors(
            metadata: ModelFile.header(kind: Self.modelKind, quantized: isQuantized) + [
                ("classifier_kind", config.kind.rawValue),
                ("height", String(config.height)),
                ("width", String(config.width)),
                ("channels", String(config.channels)),
                ("frames", String(config.frames)),
            ] + ModelFile.recurrentMetadata(config) + [
                ("columns", config.columns ? "true" : "false"),
                ("conv_channels", config.convChannels.map(String.init).joined(separator: ",")),
            ] + ModelFile.poolingMetadata(config) + [
                ("dropout", String(config.dropout)),
                ("seed", String(config.seed)),
                ("pixel_mean", String(config.pixelMean)),
                ("pixel_std", String(config.pixelStd)),
                ("labels", JSONValue.array(labels.map { .string($0) }).serialized),
            ],
            tensors: ModelFile.tensors(of: self))
    }

    public convenience init(modelFile file: SafeTensors) throws {
        try ModelFile.checkKind(file, expected: Self.modelKind)
        var c = ImageClassifierConfig()
        guard let kind = ImageClassifierKind(rawValue: file.metadata("classifier_kind") ?? "") else {
            throw LSTMKitError.invalidFormat("metadata \"classifier_kind\" must be rows or cnn")
        }
        c.kind = kind
        c.height = try ModelFile.int(file, "height")
        c.width = try ModelFile.int(file, "width")
        c.channels = try ModelFile.int(file, "channels")
        c.frames = try ModelFile.int(file, "frames")
        try ModelFile.readRecurrent(file, into: &c)
        c.columns = try ModelFile.bool(file, "columns")
        let channels = (file.metadata("conv_channels") ?? "").split(separator: ",").map { Int($0) }
        guard !channels.contains(nil) else { throw LSTMKitError.invalidFormat("metadata \"conv_channels\" must be integers") }
        c.convChannels = channels.map { $0! }
        try ModelFile.readPooling(file, into: &c)
        c.dropout = try ModelFile.float(file, "dropout")
        c.seed = UInt64(file.metadata("seed") ?? "1") ?? 1
        c.pixelMean = try ModelFile.float(file, "pixel_mean")
        c.pixelStd = try ModelFile.float(file, "pixel_std")
        let labels = try ModelFile.stringList(file, "labels")
        do {
            try c.validate()
            let recurrentName = c.cell.rawValue
            var sizes = [("labels", labels.count, "output.weight", 0)]
                + ModelFile.recurrentSizes(prefix: recurrentName + ".", hiddenSize: c.hiddenSize, numLayers: c.numLayers)
            if c.kind == .cnn {
                sizes += c.convChannels.enumerated().map { ("conv_channels", $1, "encoder.\($0).weight", 0) }
                sizes.append(("channels", c.channels, "encoder.0.weight", 1))
            } else {
                sizes.append(("width", c.width * c.channels, recurrentName + ".weight_ih_l0", 1))
                if c.columns { sizes.append(("height", c.height * c.channels, "column_" + recurrentName + ".weight_ih_l0", 1)) }
            }
            try ModelFile.checkSizes(file, sizes)
            try self.init(config: c, labels: labels)
        } catch let e as LSTMKitError {
            throw LSTMKitError.invalidFormat("invalid hyper-parameters: \(e.message)")
        }
        try ModelFile.load(file, into: self)
    }
}

extension ImageClassifierConfig {
    /// The recurrent layer over rows (or frames) and the optional one over columns, as
    /// the constructor builds them.
    var recurrentLayers: [RecurrentConfig] {
        let (c, h, w, n) = (channels, height, width, convChannels.count)
        let rows: Int
        switch kind {
        case .rows: rows = w * c
        case .cnn: rows = (convChannels.last ?? c) * (w >> n) * (frames > 0 ? h >> n : 1)
        }
        return ([rows] + (columns ? [h * c] : [])).map {
            RecurrentConfig(inputSize: $0, hiddenSize: hiddenSize, numLayers: numLayers, bidirectional: bidirectional)
        }
    }

    /// An upper bound of the weights, for `Memory.checkModel`.
    func parameterEstimate(classes: Int) -> Double {
        var total = 0.0, c = channels
        if kind == .cnn {
            for out in convChannels { total += FloatCount.conv(c, out); c = out }
        }
        for r in recurrentLayers {
            total += r.parameterEstimate + FloatCount.linear(r.outputSize, attentionSize + classes) + Double(attentionSize)
                + RecurrentOutputPooling.blockEstimate(pooling, width: r.outputSize)
        }
        return total
    }

    /// Floats a training step holds per image: the image's copies, the encoder's maps
    /// (each block's input, 3×3 columns, output and pooling, kept for backward; their
    /// gradients live one block at a time) and the recurrent layers' steps.
    var trainingFloatsPerImage: Double {
        let frameCount = Double(max(frames, 1))
        var total = 3 * frameCount * Double(height * width * channels), c = channels
        if kind == .cnn {
            for (level, out) in convChannels.enumerated() {
                let pixels = Double(height >> level) * Double(width >> level)
                total += frameCount * pixels * Double(10 * c + 4 * out)
                c = out
            }
        }
        let steps = [frames > 0 ? frames : kind == .cnn ? height >> convChannels.count : height, width]
        for (r, t) in zip(recurrentLayers, steps) { total += Double(t) * r.trainingFloatsPerStep }
        return total
    }
}
