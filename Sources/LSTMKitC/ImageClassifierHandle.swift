import CLSTMKitHeader
import LSTMKit

#if canImport(Glibc)
import Glibc
#endif

/// What an `lk_image_classifier*` points to: the engine's classifier plus C strings for
/// its labels, which callers borrow for the handle's lifetime.
final class ImageClassifierHandle {
    let classifier: ImageClassifier
    let labels: BorrowedCStrings

    init(_ classifier: ImageClassifier) {
        self.classifier = classifier
        labels = BorrowedCStrings(classifier.labels)
    }
}

func imageClassifierHandle(_ pointer: OpaquePointer?) throws -> ImageClassifierHandle {
    try borrowHandle(pointer, "classifier", as: ImageClassifierHandle.self)
}

func publish(_ classifier: ImageClassifier, to out: UnsafeMutablePointer<OpaquePointer?>) {
    publishHandle(ImageClassifierHandle(classifier), to: out)
}


/// The dimensions of one example, checked: (H, W, C) or (T, H, W, C), each >= 1.
func exampleDimensions(_ shape: UnsafePointer<lk_image_shape>?) throws -> [Int] {
    let s = try required(shape, "shape").pointee
    guard s.frames >= 0 else { throw invalid("shape.frames must be >= 0 (0: single images), got \(s.frames)") }
    for (name, v) in [("height", s.height), ("width", s.width), ("channels", s.channels)] where v < 1 {
        throw invalid("shape.\(name) must be >= 1, got \(v)")
    }
    // Beyond these no model can exist (ImageClassifierConfig's limits); refusing them
    // here keeps every product below in range.
    guard s.frames <= 1 << 14, s.height <= 1 << 14, s.width <= 1 << 14, s.channels <= 1 << 10 else {
        throw invalid("shape (frames \(s.frames), \(s.height)×\(s.width)×\(s.channels)) is too large: "
                      + "at most 16384 frames, 16384×16384 pixels and 1024 channels")
    }
    return (s.frames > 0 ? [Int(s.frames)] : []) + [Int(s.height), Int(s.width), Int(s.channels)]
}

/// The caller's n examples of `example` dimensions as a Tensor (N, ...), after checking
/// `count` against the dimensions and that every pixel is finite. `what` names the
/// buffer in messages.
func imageTensor(_ images: UnsafePointer<Float>?, _ n: Int, _ example: [Int], _ count: Int,
                 _ what: String, _ countName: String) throws -> Tensor {
    let needed = try product([n] + example, "the size of \(what)")
    guard count == needed else {
        let dims = (["n"] + (example.count == 4 ? ["T"] : []) + ["H", "W", "C"]).joined(separator: " * ")
        throw mismatch("\(countName) is \(count), expected \(dims) = "
                       + ([n] + example).map(String.init).joined(separator: " * ") + " = \(needed)")
    }
    let data = needed == 0 ? [] : Array(UnsafeBufferPointer(start: try required(images, what), count: needed))
    if let bad = data.firstIndex(where: { !$0.isFinite }) {
        let per = needed / n
        throw invalid("\(what): image \(bad / per) holds a\(data[bad].isNaN ? " NaN" : "n infinite") pixel "
                      + "(at index \(bad % per) of that image); pixels must be finite")
    }
    return Tensor(shape: [n] + example, data: data)
}

@_cdecl("lk_image_classifier_load")
public func lk_image_classifier_load(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> lk_status {
    guarded {
        let path = try string(path, "path")
        let out = try required(out, "out")
        publish(try ImageClassifier.load(from: path), to: out)
    }
}

@_cdecl("lk_image_classifier_free")
public func lk_image_classifier_free(_ classifier: OpaquePointer?) {
    releaseHandle(classifier, as: ImageClassifierHandle.self)
}

@_cdecl("lk_image_classifier_save")
public func lk_image_classifier_save(_ classifier: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> lk_status {
    guarded {
        let h = try imageClassifierHandle(classifier)
        try h.classifier.save(to: try string(path, "path"))
    }
}

@_cdecl("lk_image_classifier_num_classes")
public func lk_image_classifier_num_classes(_ classifier: OpaquePointer?, _ n: UnsafeMutablePointer<Int32>?) -> lk_status {
    guarded {
        let h = try imageClassifierHandle(classifier)
        try required(n, "n").pointee = Int32(h.labels.count)
    }
}

@_cdecl("lk_image_classifier_label")
public func lk_image_classifier_label(_ classifier: OpaquePointer?, _ index: Int32,
                                      _ label: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> lk_status {
    guarded {
        let h = try imageClassifierHandle(classifier)
        let label = try required(label, "label")
        label.pointee = try h.labels.at(index, "class")
    }
}

@_cdecl("lk_image_classifier_kind")
public func lk_image_classifier_kind(_ classifier: OpaquePointer?, _ kind: UnsafeMutablePointer<Int32>?) -> lk_status {
    guarded {
        let h = try imageClassifierHandle(classifier)
        let kind = try required(kind, "kind")
        switch h.classifier.config.kind {
        case .rows: kind.pointee = Int32(LK_IMAGE_KIND_ROWS)
        case .cnn: kind.pointee = Int32(LK_IMAGE_KIND_CNN)
        }
    }
}

@_cdecl("lk_image_classifier_input_shape")
public func lk_image_classifier_input_shape(_ classifier: OpaquePointer?, _ shape: UnsafeMutablePointer<lk_image_shape>?) -> lk_status {
    guarded {
        let h = try imageClassifierHandle(classifier)
        let shape = try required(shape, "shape")
        let c = h.classifier.config
        shape.pointee = lk_image_shape(frames: Int64(c.frames), height: Int64(c.height), width: Int64(c.width),
                                       channels: Int64(c.channels))
    }
}

@_cdecl("lk_image_classifier_predict")
public func lk_image_classifier_predict(_ classifier: OpaquePointer?,
                                        _ images: UnsafePointer<Float>?, _ n: Int,
                                        _ shape: UnsafePointer<lk_image_shape>?, _ imagesCount: Int,
                                        _ threads: Int32,
                                        _ probabilities: UnsafeMutablePointer<Float>?, _ count: Int) -> lk_status {
    guarded {
        let h = try imageClassifierHandle(classifier)
        guard threads >= 1 else { throw invalid("threads must be >= 1, got \(threads)") }
        let n = try size(n, "n")
        let imagesCount = try size(imagesCount, "images_count")
        let count = try size(count, "probabilities_count")
        let example = try exampleDimensions(shape)
        let c = h.labels.count
        let needed = try product([n, c], "n * num_classes")
        guard count == needed else {
            throw mismatch("probabilities_count is \(count), expected n * num_classes = \(n) * \(c) = \(needed)")
        }
        let model = h.classifier.config.exampleShape
        guard example == model else {
            func show(_ d: [Int]) -> String { "(n, " + d.map(String.init).joined(separator: ", ") + ")" }
            throw mismatch("images have shape \(show(example)); this model takes \(show(model))"
                           + (model.count == 4 ? " (frames, height, width, channels)" : " (height, width, channels)"))
        }
        let batch = try imageTensor(images, n, example, imagesCount, "images", "images_count")
        if n == 0 { return }
        let out = try required(probabilities, "probabilities")
        let p = try h.classifier.predictProbabilities(batch, threads: Int(threads))
        guard p.shape == [n, c] else {
            throw ABIError(status: LK_STATUS_INTERNAL, message: "internal error: predictions have shape \(p.shape), not [\(n), \(c)]")
        }
        p.data.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: needed) }
    }
}

@_cdecl("lk_image_classifier_train_config_default")
public func lk_image_classifier_train_config_default() -> lk_image_classifier_train_config {
    imageClassifierConfig(ImageClassifierConfig(), ImageClassifierTrainingOptions())
}

@_cdecl("lk_image_classifier_get_config")
public func lk_image_classifier_get_config(_ classifier: OpaquePointer?,
                                           _ out: UnsafeMutablePointer<lk_image_classifier_train_config>?) -> lk_status {
    guarded {
        let h = try imageClassifierHandle(classifier)
        try required(out, "out").pointee = imageClassifierConfig(h.classifier.config, ImageClassifierTrainingOptions())
    }
}

/// The C config of an engine config and training options (the inverse of
/// imageClassifierSettings).
func imageClassifierConfig(_ c: ImageClassifierConfig, _ o: ImageClassifierTrainingOptions) -> lk_image_classifier_train_config {
    var config = lk_image_classifier_train_config()
    config.kind = c.kind == .rows ? Int32(LK_IMAGE_KIND_ROWS) : Int32(LK_IMAGE_KIND_CNN)
    config.hidden_size = Int32(c.hiddenSize)
    config.num_layers = Int32(c.numLayers)
    config.bidirectional = c.bidirectional ? 1 : 0
    config.columns = c.columns ? 1 : 0
    config.num_conv_blocks = Int32(min(c.convChannels.count, Int(LK_IMAGE_MAX_CONV_BLOCKS)))
    setCArray(&config.conv_channels, c.convChannels)
    config.pooling = poolingCode(c.pooling)
    config.attention_size = Int32(c.attentionSize)
    config.dropout = c.dropout
    config.epochs = Int32(o.epochs)
    config.batch_size = Int32(o.batchSize)
    config.learning_rate = o.learningRate
    config.clip_norm = o.clipNorm
    config.patience = Int32(o.patience)
    config.decay_factor = o.decayFactor
    config.time_limit = o.timeLimit ?? 0
    config.threads = Int32(o.threads)
    config.log_every = Int32(o.logEvery)
    config.seed = c.seed
    return config
}

@_cdecl("lk_image_classifier_train")
public func lk_image_classifier_train(_ shape: UnsafePointer<lk_image_shape>?,
                                      _ trainImages: UnsafePointer<Float>?, _ nTrain: Int, _ trainCount: Int,
                                      _ trainLabels: UnsafePointer<UnsafePointer<CChar>?>?,
                                      _ devImages: UnsafePointer<Float>?, _ nDev: Int, _ devCount: Int,
                                      _ devLabels: UnsafePointer<UnsafePointer<CChar>?>?,
                                      _ config: UnsafePointer<lk_image_classifier_train_config>?,
                                      _ progress: lk_progress_fn?, _ userData: UnsafeMutableRawPointer?,
                                      _ out: UnsafeMutablePointer<OpaquePointer?>?) -> lk_status {
    guarded {
        let c = try required(config, "config").pointee
        let out = try required(out, "out")
        let nTrain = try size(nTrain, "n_train")
        let nDev = try size(nDev, "n_dev")
        let trainCount = try size(trainCount, "train_count")
        let devCount = try size(devCount, "dev_count")
        guard nTrain >= 1 else { throw invalid("n_train must be >= 1: the training set is empty") }
        guard nDev >= 1 else { throw invalid("n_dev must be >= 1: the dev set is empty") }
        let example = try exampleDimensions(shape)

        let (model, options) = try imageClassifierSettings(c)
        if example.count == 4 && model.kind == .rows {
            throw invalid("shape.frames is \(example[0]): frame sequences need kind LK_IMAGE_KIND_CNN (rows reads one image)")
        }

        let train = try imageTensor(trainImages, nTrain, example, trainCount, "train_images", "train_count")
        let dev = try imageTensor(devImages, nDev, example, devCount, "dev_images", "dev_count")
        let trainLabel = try cLabels(trainLabels, nTrain, "train_labels")
        let devLabel = try cLabels(devLabels, nDev, "dev_labels")
        let trainer = try ImageClassifierTrainer(train: train, trainLabels: trainLabel, dev: dev, devLabels: devLabel,
                                                 config: model, options: options)
        try trainer.run { line in
            if let progress { line.withCString { progress($0, userData) } }
        }
        publish(trainer.classifier, to: out)
    }
}

/// The engine's config and options from a C config: enum codes, 0/1 flags and the
/// conv_channels count here, every value range by the engine's tables (the message names
/// the field and its valid range; the rules between fields wait for the data's geometry,
/// in the trainer).
func imageClassifierSettings(_ c: lk_image_classifier_train_config) throws -> (ImageClassifierConfig, ImageClassifierTrainingOptions) {
    var model = ImageClassifierConfig()
    switch c.kind {
    case Int32(LK_IMAGE_KIND_ROWS): model.kind = .rows
    case Int32(LK_IMAGE_KIND_CNN): model.kind = .cnn
    default: throw invalid("kind must be LK_IMAGE_KIND_ROWS (0) or LK_IMAGE_KIND_CNN (1), got \(c.kind)")
    }
    model.hiddenSize = Int(c.hidden_size)
    model.numLayers = Int(c.num_layers)
    model.bidirectional = try flag(c.bidirectional, "bidirectional")
    model.columns = try flag(c.columns, "columns")
    let blocks = try bounded(c.num_conv_blocks, "num_conv_blocks", 1, Int32(LK_IMAGE_MAX_CONV_BLOCKS))
    model.convChannels = cArray(c.conv_channels, blocks).map(Int.init)
    model.pooling = try poolingKind(c.pooling)
    model.attentionSize = Int(c.attention_size)
    model.dropout = c.dropout
    model.seed = c.seed
    try model.validateRanges()

    var options = ImageClassifierTrainingOptions()
    options.epochs = Int(c.epochs)
    options.batchSize = Int(c.batch_size)
    options.learningRate = c.learning_rate
    options.clipNorm = c.clip_norm
    options.patience = Int(c.patience)
    options.decayFactor = c.decay_factor
    options.timeLimit = c.time_limit == 0 ? nil : c.time_limit
    options.threads = Int(c.threads)
    options.logEvery = Int(c.log_every)
    options.seed = c.seed
    try options.validate()
    return (model, options)
}
