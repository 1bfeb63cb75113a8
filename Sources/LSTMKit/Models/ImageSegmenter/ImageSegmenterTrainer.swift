import LSTMKitCore
import LSTMKitIO
import LSTMKitLayers

/// Options of `ImageSegmenterTrainer`; the loop's settings (the schedule, patience on
/// dev mean IoU, a time limit...) are `loop`'s.
public struct ImageSegmenterTrainingOptions: ModelTrainingOptions, Sendable {
    public var loop = TrainerOptions(epochs: 10, batchSize: 16, learningRate: 0.002, patience: 3, logEvery: 100)
    /// The loss is cross-entropy + diceWeight · soft Dice.
    public var diceWeight: Float = 0.5
    /// Cross-entropy weight per class (nil: all 1, unless `balanceClasses`).
    public var classWeights: [Float]?
    /// Median-frequency balancing (Eigen & Fergus 2015): class c weighs
    /// median(freq) / freq(c) over the training pixels (1 for a class never seen).
    public var balanceClasses = false
    /// Augmentation: each training image and its mask are mirrored left to right with
    /// probability 1/2 each time they are drawn (for data whose labels survive a mirror).
    public var flipHorizontally = false

    public init() {}

    public static var modelHyperParameters: [HyperParameter<Self>] {
        [.float("dice_weight", \.diceWeight, .nonNegative, "The loss is cross-entropy + dice_weight · soft Dice.")]
    }

    /// Given class weights: finite, >= 0, not all 0, and not with balanceClasses (their
    /// count, one per class, is the trainer's to check).
    public func validateCombination() throws {
        guard let weights = classWeights else { return }
        guard !balanceClasses else {
            throw LSTMKitError.invalidArgument("class_weights and balance_classes exclude each other: give one or the other")
        }
        if let bad = weights.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
            throw LSTMKitError.invalidArgument("class_weights[\(bad)] must be finite and >= 0, got \(weights[bad])")
        }
        guard weights.contains(where: { $0 > 0 }) else {
            throw LSTMKitError.invalidArgument("class_weights are all 0; at least one must be > 0")
        }
    }
}

extension ImageSegmentationScore: DevScore {
    public var value: Double { meanIoU }
    public var summary: String { "pixel accuracy \(fmt(pixelAccuracy * 100))  mean IoU \(fmt(meanIoU * 100))" }
}

/// Fits an ImageSegmenter on the one training loop (`Trainer`): pixel normalisation
/// from the training images, shuffled batches (mirrored at random if asked), dev mean
/// IoU; the best weights are kept with their BatchNorm statistics.
public final class ImageSegmenterTrainer: TrainingTask {
    public let segmenter: ImageSegmenter
    public let options: ImageSegmenterTrainingOptions
    public let loop: Trainer<ImageSegmentationScore>
    /// The cross-entropy's class weights in use.
    public let classWeights: [Float]
    let trainImages: Tensor
    let trainMasks: [Int32]
    let devImages: Tensor
    let devMasks: [Int32]

    /// Images (N, H, W[, C]) float32 with masks of N·H·W labels in [0, numClasses);
    /// `config.channels` is taken from the images. Throws on an empty set, masks that do
    /// not match the images, a label out of range, a non-finite pixel or bad options.
    public init(train: Tensor, trainMasks: [Int32], dev: Tensor, devMasks: [Int32],
                config: ImageSegmenterConfig, options: ImageSegmenterTrainingOptions) throws {
        try options.validate()
        try config.validate()
        guard train.rank == 3 || train.rank == 4 else {
            throw LSTMKitError.sizeMismatch("images must be (N, H, W) or (N, H, W, C), got shape \(train.shape)")
        }
        guard train.shape[0] > 0 else { throw LSTMKitError.invalidArgument("the training set is empty") }
        guard dev.shape.first ?? 0 > 0 else { throw LSTMKitError.invalidArgument("the dev set is empty") }
        var c = config
        c.channels = train.rank == 4 ? train.shape[3] : 1
        let mean = train.data.reduce(0.0) { $0 + Double($1) } / Double(max(train.count, 1))
        let variance = train.data.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(max(train.count, 1))
        (c.pixelMean, c.pixelStd) = (mean.isFinite ? Float(mean) : 0, variance > 1e-12 && variance.isFinite ? Float(variance.squareRoot()) : 1)
        let segmenter = try ImageSegmenter(config: c)
        try ImageSegmentationScore.checkMemory(numClasses: c.numClasses, gold: devMasks)   // the dev score's, before any training
        for (name, images, masks) in [("training", train, trainMasks), ("dev", dev, devMasks)] {
            do {
                let (n, h, w) = try segmenter.validate(images)
                try segmenter.validate(masks: masks, n: n, h: h, w: w)
            } catch let e as LSTMKitError {
                throw e.prefixed("\(name) set: ")
            }
        }
        let k = c.numClasses
        if let given = options.classWeights {
            guard given.count == k else {
                throw LSTMKitError.invalidArgument("class weights must be \(k) values, one per class (num_classes), got \(given.count)")
            }
            classWeights = given
        } else if options.balanceClasses {
            classWeights = Self.medianFrequencyWeights(trainMasks, classes: k)
        } else {
            classWeights = [Float](repeating: 1, count: k)
        }
        self.segmenter = segmenter
        self.options = options
        trainImages = train
        self.trainMasks = trainMasks
        devImages = dev
        self.devMasks = devMasks
        loop = Trainer(options: options.loop)
    }

    /// Median-frequency weights of the classes in `masks` (1 for an absent class).
    static func medianFrequencyWeights(_ masks: [Int32], classes k: Int) -> [Float] {
        var counts = [Int](repeating: 0, count: k)
        for m in masks { counts[Int(m)] += 1 }
        let frequencies = counts.filter { $0 > 0 }.map { Double($0) / Double(masks.count) }.sorted()
        let median = frequencies.count % 2 == 1 ? frequencies[frequencies.count / 2]
            : (frequencies[frequencies.count / 2 - 1] + frequencies[frequencies.count / 2]) / 2
        return counts.map { $0 == 0 ? 1 : Float(median / (Double($0) / Double(masks.count))) }
    }

    /// Trains (writing `checkpointPath` after every epoch, if given); returns the best
    /// dev score (its weights are left in `segmenter`).
    @discardableResult
    public func run(checkpointPath: String? = nil, log: (String) -> Void) throws -> ImageSegmentationScore {
        defer { segmenter.recycler.clear() }   // the last step's arrays, kept for a next step
        let c = segmenter.config
        log("training an image segmenter (\(c.context.rawValue) context, \(c.upsampling.rawValue) upsampling"
            + "\(c.attentionGates ? ", attention gates" : "")) on \(trainImages.shape[0]) images of "
            + "\(trainImages.shape[1])×\(trainImages.shape[2])×\(c.channels), "
            + "\(devImages.shape[0]) dev; \(c.numClasses) classes; \(segmenter.parameterCount) parameters")
        return try loop.run(self, checkpointPath: checkpointPath, log: log).best[0]
    }

    // MARK: What the loop asks of the model

    public var parameterGroups: [ParameterGroup] {
        [ParameterGroup(name: "network", parameters: segmenter.parameters, kept: segmenter.buffers, learningRate: options.learningRate)]
    }

    public var namedState: [(name: String, parameter: Parameter)] { segmenter.namedParameters + segmenter.namedBuffers }

    public func modelFile() -> SafeTensors { segmenter.modelFile() }

    public var countNames: [String] { ["images"] }

    public func batches(rng: inout SeededRandom) -> [[Int]] {
        shuffledBatches(count: trainImages.shape[0], batchSize: options.batchSize, rng: &rng)
    }

    /// The forward pass's maps, all kept for backward (their gradients live one stage at
    /// a time, and the prediction estimate sums every map of a stage: an upper bound
    /// for both); the batch's images and masks.
    public func stepFloats(_ members: [Int]) -> Double {
        let (h, w) = (trainImages.shape[1], trainImages.shape[2])
        return Double(members.count) * (segmenter.config.floatsPerImage(height: h, width: w) + 2 * Double(h * w))
    }

    public func trainStep(_ members: [Int], training: [Bool], rng: inout SeededRandom) throws -> (loss: Float, counts: [Int]) {
        var (images, masks) = gather(members, pixels: trainImages.shape[1] * trainImages.shape[2])
        if options.flipHorizontally { mirrorRandomHalf(&images, &masks, rng: &rng) }
        let loss = try segmenter.trainStep(images, masks: masks, classWeights: classWeights, diceWeight: options.diceWeight)
        return (loss.total, [members.count])
    }

    public func devScores() throws -> [ImageSegmentationScore] {
        [try segmenter.evaluate(devImages, masks: devMasks, threads: options.threads)]
    }

    /// The training images at `indices` and their masks, as one batch.
    func gather(_ indices: [Int], pixels: Int) -> (Tensor, [Int32]) {
        let per = trainImages.count / trainImages.shape[0]
        var data = [Float](repeating: 0, count: indices.count * per)
        var masks = [Int32](repeating: 0, count: indices.count * pixels)
        trainImages.data.withUnsafeBufferPointer { src in
            data.withUnsafeMutableBufferPointer { dst in
                for (row, i) in indices.enumerated() {
                    (dst.baseAddress! + row * per).update(from: src.baseAddress! + i * per, count: per)
                }
            }
        }
        for (row, i) in indices.enumerated() {
            masks.replaceSubrange((row * pixels)..<((row + 1) * pixels), with: trainMasks[(i * pixels)..<((i + 1) * pixels)])
        }
        return (Tensor(shape: [indices.count] + Array(trainImages.shape.dropFirst()), data: data), masks)
    }

    /// Mirrors each image of a batch (N, H, W[, C]) and its mask left to right with
    /// probability 1/2.
    func mirrorRandomHalf(_ images: inout Tensor, _ masks: inout [Int32], rng: inout SeededRandom) {
        let (n, h, w) = (images.shape[0], images.shape[1], images.shape[2])
        let c = images.rank == 4 ? images.shape[3] : 1
        for i in 0..<n where rng.next() & 1 == 1 {
            for y in 0..<h {
                let row = (i * h + y) * w
                for x in 0..<(w / 2) {
                    masks.swapAt(row + x, row + w - 1 - x)
                    for k in 0..<c { images.data.swapAt((row + x) * c + k, (row + w - 1 - x) * c + k) }
                }
            }
        }
    }
}

extension LSTMKitError {
    /// The same error with `prefix` before its message.
    func prefixed(_ prefix: String) -> LSTMKitError {
        switch self {
        case .invalidArgument(let m): return .invalidArgument(prefix + m)
        case .sizeMismatch(let m): return .sizeMismatch(prefix + m)
        case .notFound(let m): return .notFound(prefix + m)
        case .io(let m): return .io(prefix + m)
        case .invalidFormat(let m): return .invalidFormat(prefix + m)
        case .outOfMemory(let m): return .outOfMemory(prefix + m)
        }
    }
}
