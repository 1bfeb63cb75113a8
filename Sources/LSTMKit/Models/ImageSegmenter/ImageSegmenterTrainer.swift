/// Options of `ImageSegmenterTrainer`.
public struct ImageSegmenterTrainingOptions: Sendable {
    public var epochs = 10
    public var batchSize = 16
    public var learningRate: Float = 0.002
    public var clipNorm: Float = 5
    /// Plateau: the rate is multiplied by `decayFactor` after an epoch without a better
    /// dev mean IoU, and training stops after `patience` such epochs. Cosine: the rate
    /// anneals to 0 over the time limit (else the epochs); patience and decay unused.
    public var schedule = LearningRateSchedule.plateau
    public var patience = 3
    public var decayFactor: Float = 0.5
    /// Stop when this many seconds of training have passed (nil: no limit): the epoch
    /// under way ends after its current batch (at least one batch is trained), the dev set
    /// is scored, and no epoch follows.
    public var timeLimit: Double?
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
    public var seed: UInt64 = 1
    public var threads = 2
    public var logEvery = 100

    public init() {}
}

extension ImageSegmenterTrainingOptions: HyperParameterized {
    public static var hyperParameters: [HyperParameter<Self>] {
        [
            .epochs(\.epochs),
            .batchSize(\.batchSize, of: "Images"),
            .learningRate(\.learningRate),
            .clipNorm(\.clipNorm),
            .patience(\.patience, without: "dev mean IoU"),
            .decayFactor(\.decayFactor),
            .timeLimit(\.timeLimit),
            .float("dice_weight", \.diceWeight, .nonNegative, "The loss is cross-entropy + dice_weight · soft Dice."),
            .threads(\.threads),
            .logEvery(\.logEvery),
        ]
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

/// Fits an ImageSegmenter: pixel normalisation from the training images, shuffled
/// batches, Adam, gradient clipping, learning-rate decay and early stopping on dev mean
/// IoU (keeping the best weights and BatchNorm statistics), progress lines.
public final class ImageSegmenterTrainer {
    public let segmenter: ImageSegmenter
    /// Settable inside the module only for tests (a time limit below the table's 1 s minimum).
    public internal(set) var options: ImageSegmenterTrainingOptions
    /// The cross-entropy's class weights in use.
    public let classWeights: [Float]
    let trainImages: Tensor
    let trainMasks: [Int32]
    let devImages: Tensor
    let devMasks: [Int32]
    var rng: SeededRandom

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
        rng = SeededRandom(seed: options.seed)
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

    /// Trains; returns the best dev score (its weights are left in `segmenter`).
    @discardableResult
    public func run(log: (String) -> Void) throws -> ImageSegmentationScore {
        let parameters = segmenter.parameters, buffers = segmenter.buffers
        defer { segmenter.recycler.clear() }   // the last step's arrays, kept for a next step
        let optimizer = Adam(learningRate: options.learningRate)
        var best: (score: ImageSegmentationScore, values: [[Float]])?
        func restoreBest() { if let best { for (p, v) in zip(parameters + buffers, best.values) { p.value = v } } }
        var stale = 0
        let (n, h, w) = (trainImages.shape[0], trainImages.shape[1], trainImages.shape[2])
        let started = now()
        let c = segmenter.config
        log("training an image segmenter (\(c.context.rawValue) context, \(c.upsampling.rawValue) upsampling"
            + "\(c.attentionGates ? ", attention gates" : "")) on \(n) images of \(h)×\(w)×\(c.channels), "
            + "\(devImages.shape[0]) dev; \(c.numClasses) classes; \(segmenter.parameterCount) parameters")
        var timeUp = false
        /// How far through its budget training is (for the cosine schedule).
        func progress(epoch: Int, batch: Int, of batches: Int) -> Double {
            let byEpochs = (Double(epoch - 1) + Double(batch) / Double(batches)) / Double(options.epochs)
            return max(byEpochs, options.timeLimit.map { (now() - started) / $0 } ?? 0)
        }
        let cosine = options.schedule == .cosine
        for epoch in 1...options.epochs where (cosine || stale < options.patience) && !timeUp {
            let start = now()
            var lossSum = 0.0, seen = 0, trainedBatches = 0
            var order = Array(0..<n)
            for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            let batches = stride(from: 0, to: n, by: options.batchSize).map { Array(order[$0..<min($0 + options.batchSize, n)]) }
            for (i, members) in batches.enumerated() {
                if cosine {
                    optimizer.learningRate = LearningRateSchedule.cosineRate(
                        options.learningRate, progress: progress(epoch: epoch, batch: i, of: batches.count))
                }
                var (images, masks) = gather(members, pixels: h * w)
                if options.flipHorizontally { mirrorRandomHalf(&images, &masks) }
                let loss = try segmenter.trainStep(images, masks: masks, classWeights: classWeights, diceWeight: options.diceWeight)
                let norm = clipGradientNorm(parameters, maxNorm: options.clipNorm)
                try stopIfDiverged(loss: loss.total, gradientNorm: norm, epoch: epoch, batch: i + 1, restoreBest: restoreBest)
                optimizer.stepAndZero(parameters)
                lossSum += Double(loss.total)
                seen += members.count
                trainedBatches = i + 1
                if (i + 1) % options.logEvery == 0 {
                    log("epoch \(epoch) batch \(i + 1)/\(batches.count)  loss \(fmt(lossSum / Double(i + 1)))  "
                        + "\(whole(Double(seen) / (now() - start))) images/s")
                }
                // The time limit ends the epoch under way (after at least one batch); the
                // dev set is then scored as after a full epoch.
                if let limit = options.timeLimit, now() - started >= limit {
                    timeUp = true
                    break
                }
            }
            let trained = now() - start
            let score = try segmenter.evaluate(devImages, masks: devMasks, threads: options.threads)
            let improved = best.map { score.meanIoU > $0.score.meanIoU } ?? true
            log("epoch \(epoch) done in \(whole(now() - start)) s (\(whole(Double(seen) / trained)) images/s)  "
                + "loss \(fmt(lossSum / Double(max(trainedBatches, 1))))  lr \(optimizer.learningRate)  dev pixel accuracy \(fmt(score.pixelAccuracy * 100))  "
                + "mean IoU \(fmt(score.meanIoU * 100))\(improved ? "  (best)" : "")")
            if improved {
                best = (score, (parameters + buffers).map(\.value))
                stale = 0
            } else if !cosine {
                stale += 1
                optimizer.learningRate *= options.decayFactor
            }
            if timeUp {
                log("time limit of \(whole(options.timeLimit!)) s reached after \(trainedBatches) of \(batches.count) batches of epoch \(epoch)")
            }
        }
        restoreBest()
        return best!.score
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
    func mirrorRandomHalf(_ images: inout Tensor, _ masks: inout [Int32]) {
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
