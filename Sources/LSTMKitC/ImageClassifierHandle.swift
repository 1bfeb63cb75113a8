import CLSTMKitHeader
import LSTMKit

extension ImageClassifier: CModel {
    static let argumentName = "classifier"
    var lentStrings: [String] { labels }
    var settings: (any HyperParameterized)? { config }
    var cConfig: lk_image_classifier_train_config { imageClassifierConfig.encode(config) }
}

let imageKinds = CEnum<ImageClassifierKind>("kind", [
    (LK_IMAGE_KIND_ROWS, "LK_IMAGE_KIND_ROWS", .rows), (LK_IMAGE_KIND_CNN, "LK_IMAGE_KIND_CNN", .cnn),
])

let imageClassifierConfig = CConfigTable<lk_image_classifier_train_config, ImageClassifierConfig, ImageClassifierTrainingOptions>(
    empty: .init(), defaults: .init(model: .init(), options: .init()), fields: [
    .choice(imageKinds, \.kind, \.model.kind),
    .int("hidden_size", \.hidden_size, \.model.hiddenSize),
    .int("num_layers", \.num_layers, \.model.numLayers),
    .flag("bidirectional", \.bidirectional, \.model.bidirectional),
    .flag("columns", \.columns, \.model.columns),
    .sizes("conv_channels", "num_conv_blocks", \.num_conv_blocks, \.conv_channels, capacity: LK_IMAGE_MAX_CONV_BLOCKS, \.model.convChannels),
    .choice(poolings, \.pooling, \.model.pooling),
    .int("attention_size", \.attention_size, \.model.attentionSize),
    .same("dropout", \.dropout, \.model.dropout),
    .same("seed", \.seed, \.model.seed, also: \.options.seed),
], loop: CField.loopWithClipping())

@_cdecl("lk_image_classifier_train_config_default")
public func lk_image_classifier_train_config_default() -> lk_image_classifier_train_config { imageClassifierConfig.defaultConfig }

@_cdecl("lk_image_classifier_kind")
public func lk_image_classifier_kind(_ classifier: OpaquePointer?, _ kind: Out<Int32>?) -> lk_status {
    query(ImageClassifier.self, classifier, kind, "kind") { imageKinds.code($0.model.config.kind) }
}

@_cdecl("lk_image_classifier_input_shape")
public func lk_image_classifier_input_shape(_ classifier: OpaquePointer?, _ shape: Out<lk_image_shape>?) -> lk_status {
    query(ImageClassifier.self, classifier, shape, "shape") {
        let c = $0.model.config
        return lk_image_shape(frames: Int64(c.frames), height: Int64(c.height), width: Int64(c.width), channels: Int64(c.channels))
    }
}

@_cdecl("lk_image_classifier_predict")
public func lk_image_classifier_predict(_ classifier: OpaquePointer?, _ images: UnsafePointer<Float>?, _ n: Int,
                                        _ shape: UnsafePointer<lk_image_shape>?, _ imagesCount: Int, _ threads: Int32,
                                        _ probabilities: Out<Float>?, _ probabilitiesCount: Int) -> lk_status {
    guarded(classifier, ImageClassifier.self) { h in
        let threads = try threadCount(threads)
        let n = try size(n, "n")
        let example = try exampleDimensions(shape)
        let needed = try count(probabilitiesCount, "probabilities_count", is: [n, h.strings.count], "n * num_classes")
        let model = h.model.config.exampleShape
        guard example == model else {
            func show(_ d: [Int]) -> String { "(n, " + d.map(String.init).joined(separator: ", ") + ")" }
            throw mismatch("images have shape \(show(example)); this model takes \(show(model))"
                           + (model.count == 4 ? " (frames, height, width, channels)" : " (height, width, channels)"))
        }
        let batch = try imageTensor(images, n, example, imagesCount, "images", "images_count")
        if n == 0 { return }
        let out = try required(probabilities, "probabilities")
        try copyOut(try h.model.predictProbabilities(batch, threads: threads).data, to: out, count: needed, "probabilities")
    }
}

@_cdecl("lk_image_classifier_train")
public func lk_image_classifier_train(_ shape: UnsafePointer<lk_image_shape>?,
                                      _ trainImages: UnsafePointer<Float>?, _ nTrain: Int, _ trainCount: Int,
                                      _ trainLabels: CStrings?,
                                      _ devImages: UnsafePointer<Float>?, _ nDev: Int, _ devCount: Int, _ devLabels: CStrings?,
                                      _ config: UnsafePointer<lk_image_classifier_train_config>?,
                                      _ progress: lk_progress_fn?, _ userData: UnsafeMutableRawPointer?,
                                      _ out: HandleOut?) -> lk_status {
    lk_image_classifier_train_ex(shape, trainImages, nTrain, trainCount, trainLabels, devImages, nDev, devCount, devLabels,
                                 config, nil, progress, userData, out)
}

@_cdecl("lk_image_classifier_train_ex")
public func lk_image_classifier_train_ex(_ shape: UnsafePointer<lk_image_shape>?,
                                         _ trainImages: UnsafePointer<Float>?, _ nTrain: Int, _ trainCount: Int,
                                         _ trainLabels: CStrings?,
                                         _ devImages: UnsafePointer<Float>?, _ nDev: Int, _ devCount: Int, _ devLabels: CStrings?,
                                         _ config: UnsafePointer<lk_image_classifier_train_config>?, _ options: OpaquePointer?,
                                         _ progress: lk_progress_fn?, _ userData: UnsafeMutableRawPointer?,
                                         _ out: HandleOut?) -> lk_status {
    guarded {
        let (c, out, nTrain, nDev) = try trainArguments(config, out, nTrain, nDev)
        let example = try exampleDimensions(shape)
        // The rules between fields (frames need kind CNN, ...) wait for the data's
        // geometry, in the trainer.
        let (s, run) = try imageClassifierConfig.decode(c, options)
        try s.model.validateRanges()
        try s.options.validate()

        let train = try imageTensor(trainImages, nTrain, example, trainCount, "train_images", "train_count")
        let dev = try imageTensor(devImages, nDev, example, devCount, "dev_images", "dev_count")
        let trainer = try ImageClassifierTrainer(train: train, trainLabels: try strings(trainLabels, nTrain, "train_labels"),
                                                 dev: dev, devLabels: try strings(devLabels, nDev, "dev_labels"),
                                                 config: s.model, options: s.options)
        let log = progressLines(progress, userData)
        try run.start(trainer, log)
        try trainer.run(checkpointPath: run.checkpoint, log: log)
        publish(trainer.classifier, to: out)
    }
}
