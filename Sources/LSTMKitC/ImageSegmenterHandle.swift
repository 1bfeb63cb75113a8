import CLSTMKitHeader
import LSTMKit

extension ImageSegmenter: CModel {
    static let argumentName = "segmenter"
    var settings: (any HyperParameterized)? { config }
    var cConfig: lk_image_segmenter_train_config { segmenterConfig.encode(config) }
}

/// The C config's fields (class_weights aside: a caller's buffer, read in train).
let segmenterConfig = CConfigTable<lk_image_segmenter_train_config, ImageSegmenterConfig, ImageSegmenterTrainingOptions>(
    empty: .init(), defaults: .init(model: .init(), options: .init()), fields: [
    .int("num_classes", \.num_classes, \.model.numClasses),
    .choice(CEnum("context", [(LK_SEGMENTER_CONTEXT_LSTM, "LK_SEGMENTER_CONTEXT_LSTM", .lstm),
                              (LK_SEGMENTER_CONTEXT_CONV, "LK_SEGMENTER_CONTEXT_CONV", .conv)]), \.context, \.model.context),
    .int("hidden_size", \.hidden_size, \.model.hiddenSize),
    .sizes("encoder_channels", "num_blocks", \.num_blocks, \.encoder_channels, capacity: LK_SEGMENTER_MAX_BLOCKS, \.model.encoderChannels),
    .flag("batch_norm", \.batch_norm, \.model.batchNorm),
    .choice(CEnum("upsampling", [(LK_SEGMENTER_UPSAMPLING_TRANSPOSED, "LK_SEGMENTER_UPSAMPLING_TRANSPOSED", .transposed),
                                 (LK_SEGMENTER_UPSAMPLING_BILINEAR, "LK_SEGMENTER_UPSAMPLING_BILINEAR", .bilinear)]),
            \.upsampling, \.model.upsampling),
    .flag("attention_gates", \.attention_gates, \.model.attentionGates),
    .choice(CEnum("schedule", [(LK_SCHEDULE_PLATEAU, "LK_SCHEDULE_PLATEAU", .plateau),
                               (LK_SCHEDULE_COSINE, "LK_SCHEDULE_COSINE", .cosine)]), \.schedule, \.options.schedule),
    .flag("flip", \.flip, \.options.flipHorizontally),
    .same("dice_weight", \.dice_weight, \.options.diceWeight),
    .flag("balance_classes", \.balance_classes, \.options.balanceClasses),
    .same("seed", \.seed, \.model.seed, also: \.options.seed),
], loop: CField.loopWithClipping())

/// The (H, W, C) of a segmenter's images: an `lk_image_shape` with frames 0, and, given a
/// model, its channels. `name` names the shape argument in messages.
func segmenterDimensions(_ shape: UnsafePointer<lk_image_shape>?, _ name: String, of model: ImageSegmenter? = nil) throws -> [Int] {
    let frames = try required(shape, name).pointee.frames
    guard frames == 0 else {
        throw invalid("\(name).frames must be 0 (a segmenter takes single images (n, H, W, C)), got \(frames)")
    }
    let example = try exampleDimensions(shape, name)
    if let c = model?.config.channels, example[2] != c {
        throw mismatch("\(name).channels is \(example[2]), but this model takes images of \(c) channel\(c == 1 ? "" : "s") "
                       + "(n, H, W, \(c))")
    }
    return example
}

/// The caller's masks: n·H·W int32 labels. Values are checked by the engine (against the
/// model's classes).
func maskArray(_ masks: UnsafePointer<Int32>?, _ n: Int, _ example: [Int], _ masksCount: Int,
               _ what: String, _ countName: String) throws -> [Int32] {
    let needed = try count(masksCount, countName, is: [n, example[0], example[1]], "n * H * W")
    return needed == 0 ? [] : Array(UnsafeBufferPointer(start: try required(masks, what), count: needed))
}

/// The checked arguments shared by predict, predict_proba and evaluate.
private func segmenterBatch(_ pointer: OpaquePointer?, _ images: UnsafePointer<Float>?, _ n: Int,
                            _ shape: UnsafePointer<lk_image_shape>?, _ imagesCount: Int,
                            _ threads: Int32) throws -> (ImageSegmenter, n: Int, example: [Int], Tensor, threads: Int) {
    let segmenter = try model(pointer, ImageSegmenter.self)
    let threads = try threadCount(threads)
    let n = try size(n, "n")
    let example = try segmenterDimensions(shape, "shape", of: segmenter)
    // What the prediction will hold, checked before the images are copied.
    _ = try count(imagesCount, "images_count", is: [n] + example, "n * H * W * C")
    try segmenter.checkPredictionMemory(n: n, height: example[0], width: example[1], threads: threads)
    return (segmenter, n, example, try imageTensor(images, n, example, imagesCount, "images", "images_count"), threads)
}

@_cdecl("lk_image_segmenter_num_classes")
public func lk_image_segmenter_num_classes(_ segmenter: OpaquePointer?, _ n: Out<Int32>?) -> lk_status {
    query(ImageSegmenter.self, segmenter, n, "n") { Int32($0.model.config.numClasses) }
}

@_cdecl("lk_image_segmenter_channels")
public func lk_image_segmenter_channels(_ segmenter: OpaquePointer?, _ channels: Out<Int32>?) -> lk_status {
    query(ImageSegmenter.self, segmenter, channels, "channels") { Int32($0.model.config.channels) }
}

@_cdecl("lk_image_segmenter_train_config_default")
public func lk_image_segmenter_train_config_default() -> lk_image_segmenter_train_config { segmenterConfig.defaultConfig }

@_cdecl("lk_image_segmenter_predict")
public func lk_image_segmenter_predict(_ segmenter: OpaquePointer?, _ images: UnsafePointer<Float>?, _ n: Int,
                                       _ shape: UnsafePointer<lk_image_shape>?, _ imagesCount: Int, _ threads: Int32,
                                       _ masks: Out<Int32>?, _ masksCount: Int) -> lk_status {
    guarded {
        let (model, n, example, batch, threads) = try segmenterBatch(segmenter, images, n, shape, imagesCount, threads)
        let needed = try count(masksCount, "masks_count", is: [n, example[0], example[1]], "n * H * W")
        if n == 0 { return }
        let out = try required(masks, "masks")
        try copyOut(try model.predict(batch, threads: threads), to: out, count: needed, "labels")
    }
}

@_cdecl("lk_image_segmenter_predict_proba")
public func lk_image_segmenter_predict_proba(_ segmenter: OpaquePointer?, _ images: UnsafePointer<Float>?, _ n: Int,
                                             _ shape: UnsafePointer<lk_image_shape>?, _ imagesCount: Int, _ threads: Int32,
                                             _ probabilities: Out<Float>?, _ probabilitiesCount: Int) -> lk_status {
    guarded {
        let (model, n, example, batch, threads) = try segmenterBatch(segmenter, images, n, shape, imagesCount, threads)
        let dims = [n, example[0], example[1], model.config.numClasses]
        let needed = try count(probabilitiesCount, "probabilities_count", is: dims, "n * H * W * K")
        if n == 0 { return }
        let out = try required(probabilities, "probabilities")
        try copyOut(try model.predictProbabilities(batch, threads: threads).data, to: out, count: needed, "probabilities")
    }
}

@_cdecl("lk_image_segmenter_evaluate")
public func lk_image_segmenter_evaluate(_ segmenter: OpaquePointer?, _ images: UnsafePointer<Float>?, _ n: Int,
                                        _ shape: UnsafePointer<lk_image_shape>?, _ imagesCount: Int,
                                        _ masks: UnsafePointer<Int32>?, _ masksCount: Int, _ threads: Int32,
                                        _ confusion: Out<Int64>?, _ confusionCount: Int,
                                        _ pixelAccuracy: Out<Double>?, _ meanIoU: Out<Double>?) -> lk_status {
    guarded {
        let (model, n, example, batch, threads) = try segmenterBatch(segmenter, images, n, shape, imagesCount, threads)
        let gold = try maskArray(masks, n, example, masksCount, "masks", "masks_count")
        let k = model.config.numClasses
        _ = try optionalCount(confusion, confusionCount, "confusion", is: [k, k], "K * K")
        let score = try model.evaluate(batch, masks: gold, threads: threads)
        if let confusion {
            try copyOut(score.confusion.joined().map(Int64.init), to: confusion, count: k * k, "confusion counts")
        }
        pixelAccuracy?.pointee = score.pixelAccuracy
        meanIoU?.pointee = score.meanIoU
    }
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
                                     _ out: HandleOut?) -> lk_status {
    lk_image_segmenter_train_ex(trainShape, trainImages, nTrain, trainCount, trainMasks, trainMasksCount, devShape, devImages,
                                nDev, devCount, devMasks, devMasksCount, config, nil, progress, userData, out)
}

@_cdecl("lk_image_segmenter_train_ex")
public func lk_image_segmenter_train_ex(_ trainShape: UnsafePointer<lk_image_shape>?,
                                        _ trainImages: UnsafePointer<Float>?, _ nTrain: Int, _ trainCount: Int,
                                        _ trainMasks: UnsafePointer<Int32>?, _ trainMasksCount: Int,
                                        _ devShape: UnsafePointer<lk_image_shape>?,
                                        _ devImages: UnsafePointer<Float>?, _ nDev: Int, _ devCount: Int,
                                        _ devMasks: UnsafePointer<Int32>?, _ devMasksCount: Int,
                                        _ config: UnsafePointer<lk_image_segmenter_train_config>?, _ options: OpaquePointer?,
                                        _ progress: lk_progress_fn?, _ userData: UnsafeMutableRawPointer?,
                                        _ out: HandleOut?) -> lk_status {
    guarded {
        let (c, out, nTrain, nDev) = try trainArguments(config, out, nTrain, nDev)
        let trainExample = try segmenterDimensions(trainShape, "train_shape")
        let devExample = try segmenterDimensions(devShape, "dev_shape")
        guard devExample[2] == trainExample[2] else {
            throw mismatch("dev_shape.channels is \(devExample[2]) but train_shape.channels is \(trainExample[2]): "
                           + "both sets need the same channels")
        }
        var (s, run) = try segmenterConfig.decode(c, options)
        try s.model.validate()
        // class_weights: a buffer of num_classes weights (their values are the engine's to check).
        let n = try optionalCount(c.class_weights, c.class_weights_count, "class_weights", is: [s.model.numClasses], "num_classes")
        if let weights = c.class_weights { s.options.classWeights = Array(UnsafeBufferPointer(start: weights, count: n)) }
        try s.options.validate()

        let train = try imageTensor(trainImages, nTrain, trainExample, trainCount, "train_images", "train_count")
        let dev = try imageTensor(devImages, nDev, devExample, devCount, "dev_images", "dev_count")
        let trainMaskArray = try maskArray(trainMasks, nTrain, trainExample, trainMasksCount, "train_masks", "train_masks_count")
        let devMaskArray = try maskArray(devMasks, nDev, devExample, devMasksCount, "dev_masks", "dev_masks_count")
        let trainer = try ImageSegmenterTrainer(train: train, trainMasks: trainMaskArray, dev: dev, devMasks: devMaskArray,
                                                config: s.model, options: s.options)
        let log = progressLines(progress, userData)
        try run.start(trainer, log)
        try trainer.run(checkpointPath: run.checkpoint, log: log)
        publish(trainer.segmenter, to: out)
    }
}
