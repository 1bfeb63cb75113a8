import CLSTMKitHeader
import LSTMKit

#if canImport(Glibc)
import Glibc
#endif

/// What an `lk_image_segmenter*` points to.
final class ImageSegmenterHandle {
    let segmenter: ImageSegmenter

    init(_ segmenter: ImageSegmenter) { self.segmenter = segmenter }
}

func imageSegmenterHandle(_ pointer: OpaquePointer?) throws -> ImageSegmenterHandle {
    try borrowHandle(pointer, "segmenter", as: ImageSegmenterHandle.self)
}

func publish(_ segmenter: ImageSegmenter, to out: UnsafeMutablePointer<OpaquePointer?>) {
    publishHandle(ImageSegmenterHandle(segmenter), to: out)
}

/// The (H, W, C) of a segmenter's images: an `lk_image_shape` with frames 0. `name`
/// names the shape argument in messages.
func segmenterDimensions(_ shape: UnsafePointer<lk_image_shape>?, _ name: String) throws -> [Int] {
    let s = try required(shape, name).pointee
    guard s.frames == 0 else {
        throw invalid("\(name).frames must be 0 (a segmenter takes single images (n, H, W, C)), got \(s.frames)")
    }
    do {
        return try exampleDimensions(shape)
    } catch let e as ABIError {
        // exampleDimensions names the fields "shape.*".
        throw ABIError(status: e.status, message: name == "shape" ? e.message : e.message.replacingShape(with: name))
    }
}

extension String {
    /// The message with its leading "shape" (as in "shape.height") renamed.
    fileprivate func replacingShape(with name: String) -> String {
        hasPrefix("shape") ? name + dropFirst(5) : self
    }
}

/// Checks that images of `example` (H, W, C) have the model's channels.
func checkChannels(_ example: [Int], _ segmenter: ImageSegmenter, _ name: String) throws {
    let c = segmenter.config.channels
    guard example[2] == c else {
        throw mismatch("\(name).channels is \(example[2]), but this model takes images of \(c) channel\(c == 1 ? "" : "s") "
                       + "(n, H, W, \(c))")
    }
}

/// The caller's masks: `count` int32 labels that must number n·H·W. Values are checked
/// by the engine (against the model's classes).
func maskArray(_ masks: UnsafePointer<Int32>?, _ n: Int, _ h: Int, _ w: Int, _ count: Int,
               _ what: String, _ countName: String) throws -> [Int32] {
    let needed = try product([n, h, w], "the size of \(what)")
    guard count == needed else {
        throw mismatch("\(countName) is \(count), expected n * H * W = \(n) * \(h) * \(w) = \(needed)")
    }
    if needed == 0 { return [] }
    return Array(UnsafeBufferPointer(start: try required(masks, what), count: needed))
}

/// The checked arguments shared by predict, predict_proba and evaluate.
private func segmenterBatch(_ handle: OpaquePointer?, _ images: UnsafePointer<Float>?, _ n: Int,
                            _ shape: UnsafePointer<lk_image_shape>?, _ imagesCount: Int,
                            _ threads: Int32) throws -> (ImageSegmenter, n: Int, example: [Int], Tensor) {
    let h = try imageSegmenterHandle(handle)
    guard threads >= 1 else { throw invalid("threads must be >= 1, got \(threads)") }
    let n = try size(n, "n")
    let imagesCount = try size(imagesCount, "images_count")
    let example = try segmenterDimensions(shape, "shape")
    try checkChannels(example, h.segmenter, "shape")
    return (h.segmenter, n, example, try imageTensor(images, n, example, imagesCount, "images", "images_count"))
}

@_cdecl("lk_image_segmenter_load")
public func lk_image_segmenter_load(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> lk_status {
    guarded {
        let path = try string(path, "path")
        let out = try required(out, "out")
        publish(try ImageSegmenter.load(from: path), to: out)
    }
}

@_cdecl("lk_image_segmenter_free")
public func lk_image_segmenter_free(_ segmenter: OpaquePointer?) {
    releaseHandle(segmenter, as: ImageSegmenterHandle.self)
}

@_cdecl("lk_image_segmenter_save")
public func lk_image_segmenter_save(_ segmenter: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> lk_status {
    guarded {
        let h = try imageSegmenterHandle(segmenter)
        try h.segmenter.save(to: try string(path, "path"))
    }
}

@_cdecl("lk_image_segmenter_num_classes")
public func lk_image_segmenter_num_classes(_ segmenter: OpaquePointer?, _ n: UnsafeMutablePointer<Int32>?) -> lk_status {
    guarded {
        let h = try imageSegmenterHandle(segmenter)
        try required(n, "n").pointee = Int32(h.segmenter.config.numClasses)
    }
}

@_cdecl("lk_image_segmenter_channels")
public func lk_image_segmenter_channels(_ segmenter: OpaquePointer?, _ channels: UnsafeMutablePointer<Int32>?) -> lk_status {
    guarded {
        let h = try imageSegmenterHandle(segmenter)
        try required(channels, "channels").pointee = Int32(h.segmenter.config.channels)
    }
}

@_cdecl("lk_image_segmenter_predict")
public func lk_image_segmenter_predict(_ segmenter: OpaquePointer?,
                                       _ images: UnsafePointer<Float>?, _ n: Int,
                                       _ shape: UnsafePointer<lk_image_shape>?, _ imagesCount: Int,
                                       _ threads: Int32,
                                       _ masks: UnsafeMutablePointer<Int32>?, _ masksCount: Int) -> lk_status {
    guarded {
        let masksCount = try size(masksCount, "masks_count")
        let (model, n, example, batch) = try segmenterBatch(segmenter, images, n, shape, imagesCount, threads)
        let needed = try product([n, example[0], example[1]], "n * H * W")
        guard masksCount == needed else {
            throw mismatch("masks_count is \(masksCount), expected n * H * W = \(n) * \(example[0]) * \(example[1]) = \(needed)")
        }
        if n == 0 { return }
        let out = try required(masks, "masks")
        let labels = try model.predict(batch, threads: Int(threads))
        guard labels.count == needed else {
            throw ABIError(status: LK_STATUS_INTERNAL, message: "internal error: \(labels.count) labels predicted, not \(needed)")
        }
        labels.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: needed) }
    }
}

@_cdecl("lk_image_segmenter_predict_proba")
public func lk_image_segmenter_predict_proba(_ segmenter: OpaquePointer?,
                                             _ images: UnsafePointer<Float>?, _ n: Int,
                                             _ shape: UnsafePointer<lk_image_shape>?, _ imagesCount: Int,
                                             _ threads: Int32,
                                             _ probabilities: UnsafeMutablePointer<Float>?, _ count: Int) -> lk_status {
    guarded {
        let count = try size(count, "probabilities_count")
        let (model, n, example, batch) = try segmenterBatch(segmenter, images, n, shape, imagesCount, threads)
        let k = model.config.numClasses
        let dims = [n, example[0], example[1], k]
        let needed = try product(dims, "n * H * W * K")
        guard count == needed else {
            throw mismatch("probabilities_count is \(count), expected n * H * W * K = "
                           + dims.map(String.init).joined(separator: " * ") + " = \(needed)")
        }
        if n == 0 { return }
        let out = try required(probabilities, "probabilities")
        let p = try model.predictProbabilities(batch, threads: Int(threads))
        guard p.shape == dims else {
            throw ABIError(status: LK_STATUS_INTERNAL, message: "internal error: probabilities have shape \(p.shape), not \(dims)")
        }
        p.data.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: needed) }
    }
}

@_cdecl("lk_image_segmenter_evaluate")
public func lk_image_segmenter_evaluate(_ segmenter: OpaquePointer?,
                                        _ images: UnsafePointer<Float>?, _ n: Int,
                                        _ shape: UnsafePointer<lk_image_shape>?, _ imagesCount: Int,
                                        _ masks: UnsafePointer<Int32>?, _ masksCount: Int,
                                        _ threads: Int32,
                                        _ confusion: UnsafeMutablePointer<Int64>?, _ confusionCount: Int,
                                        _ pixelAccuracy: UnsafeMutablePointer<Double>?,
                                        _ meanIoU: UnsafeMutablePointer<Double>?) -> lk_status {
    guarded {
        let masksCount = try size(masksCount, "masks_count")
        let confusionCount = try size(confusionCount, "confusion_count")
        let (model, n, example, batch) = try segmenterBatch(segmenter, images, n, shape, imagesCount, threads)
        guard n >= 1 else { throw invalid("n must be >= 1: there are no images to evaluate") }
        let gold = try maskArray(masks, n, example[0], example[1], masksCount, "masks", "masks_count")
        let k = model.config.numClasses
        if confusion == nil {
            guard confusionCount == 0 else { throw invalid("confusion is NULL but confusion_count is \(confusionCount) (must be 0)") }
        } else {
            guard confusionCount == k * k else {
                throw mismatch("confusion_count is \(confusionCount), expected K * K = \(k) * \(k) = \(k * k)")
            }
        }
        let score = try model.evaluate(batch, masks: gold, threads: Int(threads))
        if let confusion {
            for g in 0..<k { for p in 0..<k { confusion[g * k + p] = Int64(score.confusion[g][p]) } }
        }
        pixelAccuracy?.pointee = score.pixelAccuracy
        meanIoU?.pointee = score.meanIoU
    }
}

// MARK: Training

func contextCode(_ context: SegmenterContext) -> Int32 {
    switch context {
    case .lstm: return Int32(LK_SEGMENTER_CONTEXT_LSTM)
    case .conv: return Int32(LK_SEGMENTER_CONTEXT_CONV)
    }
}

func upsamplingCode(_ upsampling: SegmenterUpsampling) -> Int32 {
    switch upsampling {
    case .transposed: return Int32(LK_SEGMENTER_UPSAMPLING_TRANSPOSED)
    case .bilinear: return Int32(LK_SEGMENTER_UPSAMPLING_BILINEAR)
    }
}

/// The C config of a model config and training options.
func segmenterConfig(_ c: ImageSegmenterConfig, _ o: ImageSegmenterTrainingOptions) -> lk_image_segmenter_train_config {
    var config = lk_image_segmenter_train_config()
    config.num_classes = Int32(c.numClasses)
    config.context = contextCode(c.context)
    config.hidden_size = Int32(c.hiddenSize)
    config.num_blocks = Int32(min(c.encoderChannels.count, Int(LK_SEGMENTER_MAX_BLOCKS)))
    setCArray(&config.encoder_channels, c.encoderChannels)
    config.batch_norm = c.batchNorm ? 1 : 0
    config.upsampling = upsamplingCode(c.upsampling)
    config.attention_gates = c.attentionGates ? 1 : 0
    config.epochs = Int32(o.epochs)
    config.batch_size = Int32(o.batchSize)
    config.learning_rate = o.learningRate
    config.clip_norm = o.clipNorm
    config.patience = Int32(o.patience)
    config.decay_factor = o.decayFactor
    config.time_limit = o.timeLimit ?? 0
    config.dice_weight = o.diceWeight
    config.balance_classes = o.balanceClasses ? 1 : 0
    config.class_weights = nil
    config.class_weights_count = 0
    config.threads = Int32(o.threads)
    config.log_every = Int32(o.logEvery)
    config.seed = c.seed
    config.schedule = scheduleCode(o.schedule)
    config.flip = o.flipHorizontally ? 1 : 0
    return config
}

func scheduleCode(_ schedule: LearningRateSchedule) -> Int32 {
    switch schedule {
    case .plateau: return Int32(LK_SCHEDULE_PLATEAU)
    case .cosine: return Int32(LK_SCHEDULE_COSINE)
    }
}

@_cdecl("lk_image_segmenter_train_config_default")
public func lk_image_segmenter_train_config_default() -> lk_image_segmenter_train_config {
    segmenterConfig(ImageSegmenterConfig(), ImageSegmenterTrainingOptions())
}

@_cdecl("lk_image_segmenter_get_config")
public func lk_image_segmenter_get_config(_ segmenter: OpaquePointer?,
                                          _ out: UnsafeMutablePointer<lk_image_segmenter_train_config>?) -> lk_status {
    guarded {
        let h = try imageSegmenterHandle(segmenter)
        let out = try required(out, "out")
        out.pointee = segmenterConfig(h.segmenter.config, ImageSegmenterTrainingOptions())
    }
}

/// The engine's config and options from a C config: enum codes, 0/1 flags, the
/// encoder_channels count and the class_weights buffer here, every value rule by the
/// engine's tables (the message names the field and its valid range).
func segmenterSettings(_ c: lk_image_segmenter_train_config) throws -> (ImageSegmenterConfig, ImageSegmenterTrainingOptions) {
    var model = ImageSegmenterConfig(numClasses: Int(c.num_classes))
    switch c.context {
    case Int32(LK_SEGMENTER_CONTEXT_LSTM): model.context = .lstm
    case Int32(LK_SEGMENTER_CONTEXT_CONV): model.context = .conv
    default: throw invalid("context must be LK_SEGMENTER_CONTEXT_LSTM (0) or LK_SEGMENTER_CONTEXT_CONV (1), got \(c.context)")
    }
    model.hiddenSize = Int(c.hidden_size)
    let blocks = try bounded(c.num_blocks, "num_blocks", 1, Int32(LK_SEGMENTER_MAX_BLOCKS))
    model.encoderChannels = cArray(c.encoder_channels, blocks).map(Int.init)
    model.batchNorm = try flag(c.batch_norm, "batch_norm")
    switch c.upsampling {
    case Int32(LK_SEGMENTER_UPSAMPLING_TRANSPOSED): model.upsampling = .transposed
    case Int32(LK_SEGMENTER_UPSAMPLING_BILINEAR): model.upsampling = .bilinear
    default:
        throw invalid("upsampling must be LK_SEGMENTER_UPSAMPLING_TRANSPOSED (0) or LK_SEGMENTER_UPSAMPLING_BILINEAR (1), "
                      + "got \(c.upsampling)")
    }
    model.attentionGates = try flag(c.attention_gates, "attention_gates")
    model.seed = c.seed
    try model.validate()

    var options = ImageSegmenterTrainingOptions()
    options.epochs = Int(c.epochs)
    options.batchSize = Int(c.batch_size)
    options.learningRate = c.learning_rate
    options.clipNorm = c.clip_norm
    guard let schedule = LearningRateSchedule.allCases.first(where: { scheduleCode($0) == c.schedule }) else {
        throw invalid("schedule must be LK_SCHEDULE_PLATEAU (0) or LK_SCHEDULE_COSINE (1), got \(c.schedule)")
    }
    options.schedule = schedule
    options.flipHorizontally = try flag(c.flip, "flip")
    options.patience = Int(c.patience)
    options.decayFactor = c.decay_factor
    options.timeLimit = c.time_limit == 0 ? nil : c.time_limit
    options.diceWeight = c.dice_weight
    options.balanceClasses = try flag(c.balance_classes, "balance_classes")
    let weightCount = try size(c.class_weights_count, "class_weights_count")
    if let weights = c.class_weights {
        guard weightCount == model.numClasses else {
            throw mismatch("class_weights_count is \(weightCount), expected num_classes = \(model.numClasses)")
        }
        options.classWeights = Array(UnsafeBufferPointer(start: weights, count: weightCount))
    } else if weightCount != 0 {
        throw invalid("class_weights is NULL but class_weights_count is \(weightCount) (must be 0)")
    }
    options.threads = Int(c.threads)
    options.logEvery = Int(c.log_every)
    options.seed = c.seed
    try options.validate()
    return (model, options)
}

@_cdecl("lk_image_segmenter_train")
public func lk_image_segmenter_train(_ trainShape: UnsafePointer<lk_image_shape>?,
                                     _ trainImages: UnsafePointer<Float>?, _ nTrain: Int, _ trainCount: Int,
                                     _ trainMasks: UnsafePointer<Int32>?, _ trainMasksCount: Int,
                                     _ devShape: UnsafePointer<lk_image_shape>?,
                                     _ devImages: UnsafePointer<Float>?, _ nDev: Int, _ devCount: Int,
                                     _ devMasks: UnsafePointer<Int32>?, _ devMasksCount: Int,
                                     _ config: UnsafePointer<lk_image_segmenter_train_config>?,
                                     _ progress: lk_progress_fn?, _ userData: UnsafeMutableRawPointer?,
                                     _ out: UnsafeMutablePointer<OpaquePointer?>?) -> lk_status {
    guarded {
        let c = try required(config, "config").pointee
        let out = try required(out, "out")
        let nTrain = try size(nTrain, "n_train")
        let nDev = try size(nDev, "n_dev")
        let trainCount = try size(trainCount, "train_count")
        let devCount = try size(devCount, "dev_count")
        let trainMasksCount = try size(trainMasksCount, "train_masks_count")
        let devMasksCount = try size(devMasksCount, "dev_masks_count")
        guard nTrain >= 1 else { throw invalid("n_train must be >= 1: the training set is empty") }
        guard nDev >= 1 else { throw invalid("n_dev must be >= 1: the dev set is empty") }
        let trainExample = try segmenterDimensions(trainShape, "train_shape")
        let devExample = try segmenterDimensions(devShape, "dev_shape")
        guard devExample[2] == trainExample[2] else {
            throw mismatch("dev_shape.channels is \(devExample[2]) but train_shape.channels is \(trainExample[2]): "
                           + "both sets need the same channels")
        }
        let (model, options) = try segmenterSettings(c)

        let train = try imageTensor(trainImages, nTrain, trainExample, trainCount, "train_images", "train_count")
        let dev = try imageTensor(devImages, nDev, devExample, devCount, "dev_images", "dev_count")
        let trainLabels = try maskArray(trainMasks, nTrain, trainExample[0], trainExample[1], trainMasksCount,
                                        "train_masks", "train_masks_count")
        let devLabels = try maskArray(devMasks, nDev, devExample[0], devExample[1], devMasksCount,
                                      "dev_masks", "dev_masks_count")
        let trainer = try ImageSegmenterTrainer(train: train, trainMasks: trainLabels, dev: dev, devMasks: devLabels,
                                                config: model, options: options)
        try trainer.run { line in
            if let progress { line.withCString { progress($0, userData) } }
        }
        publish(trainer.segmenter, to: out)
    }
}
