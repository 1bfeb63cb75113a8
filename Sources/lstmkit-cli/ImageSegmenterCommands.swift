import ArgumentParser
import Glibc
import LSTMKit

// train-segmenter, segment-image and eval-segmenter: images from .npy files (N, H, W[, C])
// or PNG files, masks from .npy files of integers (N, H, W); masks out as .npy (int64) or
// PNG (grey, the class index as the pixel value).

// The defaults of train-segmenter's options are the engine's, and so are their docs.
private let segmenter = ImageSegmenterConfig()
private let training = ImageSegmenterTrainingOptions()

struct TrainSegmenter: Command, Threaded {
    static let configuration = CommandConfiguration(
        abstract: "Train an image segmenter (a class per pixel) on .npy images and masks.",
        discussion: """
            Images are .npy arrays (N, H, W) or (N, H, W, C), uint8 or float; masks are .npy \
            integer arrays (N, H, W) of class indices (0 is usually the background). Dev images may \
            have another H and W. Pixels are normalised with the training mean and std, so segment \
            images of the same pixel scale. Progress lines go to standard output; the model of the \
            epoch with the best dev mean IoU is written to --output.
            """)

    @Option(help: "Training images (.npy).") var train: String
    @Option(help: "Their masks (.npy, integers (N, H, W)).") var trainMasks: String
    @Option(help: "Dev images (.npy), for early stopping.") var dev: String
    @Option(help: "Their masks.") var devMasks: String
    @Option(help: "Where to write the model.") var output: String
    @Option(help: ImageSegmenterConfig.help("num_classes", default: "1 + the largest label in the masks, at least 2")) var numClasses: Int?
    @Option(help: "lstm (a BiLSTM over the rows, then the columns, of the feature map) or conv (the ablation).")
    var context = segmenter.context.rawValue
    @Option(help: ImageSegmenterConfig.help("hidden_size")) var hiddenSize = segmenter.hiddenSize
    @Option(help: ImageSegmenterConfig.help("encoder_channels")) var encoderChannels = segmenter.encoderChannels.map(String.init).joined(separator: ",")
    @Flag(help: "No BatchNorm in the conv blocks.") var noBatchNorm = false
    @Option(help: "transposed (a 2×2 transposed convolution) or bilinear (then a 1×1 convolution).") var upsampling = segmenter.upsampling.rawValue
    @Flag(help: "An attention gate on each skip connection.") var attentionGates = false
    @Flag(help: "Augmentation: mirror each training image and its mask left to right with probability 1/2 (for data whose labels survive a mirror).")
    var flip = false
    @Option(help: ImageSegmenterTrainingOptions.help("dice_weight")) var diceWeight = training.diceWeight
    @Flag(help: "Median-frequency class weights in the cross-entropy.") var balanceClasses = false
    @Option(help: "Cross-entropy weights, one per class, separated by commas.") var classWeights: String?
    @OptionGroup(title: "Training loop") var loop: Loop<ImageSegmenterTrainingOptions>
    var threads: Int { loop.threads ?? training.threads }

    func execute() throws {
        try refuseOverwritingInputs([train, trainMasks, dev, devMasks], output: output)
        var (config, options): (ImageSegmenterConfig, ImageSegmenterTrainingOptions) = (ImageSegmenterConfig(), loop.options())
        set(&config, [\.numClasses: numClasses, \.hiddenSize: hiddenSize])
        set(&config, [\.batchNorm: !noBatchNorm, \.attentionGates: attentionGates])
        config.context = try choice(context, option: "--context")
        config.upsampling = try choice(upsampling, option: "--upsampling")
        config.encoderChannels = try list(encoderChannels, option: "--encoder-channels", of: "sizes", example: "32,64")
        config.seed = options.seed
        set(&config, [\.cell: loop.cell])
        set(&options, [\.flipHorizontally: flip, \.balanceClasses: balanceClasses])
        options.diceWeight = diceWeight
        options.classWeights = try classWeights.map { try list($0, option: "--class-weights", of: "numbers", example: "0.5,2,2") }
        try check(config, options, rangesOnly: true)   // the engine's rules, before reading the data

        let x = try readImages(train, option: "--train").images
        let m = try readMasks(trainMasks, option: "--train-masks", for: x, of: "--train")
        let devX = try readImages(dev, option: "--dev").images
        let devM = try readMasks(devMasks, option: "--dev-masks", for: devX, of: "--dev")
        if numClasses == nil {
            let top = max(m.max() ?? 0, devM.max() ?? 0)
            guard top < 65536 else { throw invalid("the masks hold the label \(top); class indices must be below 65536") }
            config.numClasses = max(2, Int(top) + 1)
        }
        let trainer = try ImageSegmenterTrainer(train: x, trainMasks: m, dev: devX, devMasks: devM, config: config, options: options)
        let best = try trainer.run(checkpointPath: try loop.start(trainer, output: output, inputs: [train, trainMasks, dev, devMasks]),
                                   log: progress)
        try trainer.segmenter.save(to: output)
        print("best dev mean IoU \(fixed(best.meanIoU * 100, 2)) (pixel accuracy \(fixed(best.pixelAccuracy * 100, 2))); "
              + "model written to \(output)")
    }
}

struct SegmentImage: Command, Threaded {
    static let configuration = CommandConfiguration(
        abstract: "Segment images: a class per pixel, from .npy or PNG files.",
        discussion: """
            Inputs are .npy arrays (N, H, W) or (N, H, W, C), or PNG files (8-bit grey or RGB; an \
            alpha channel is dropped), of any H and W, with the model's channels and the pixel \
            scale it was trained on (PNG pixels are 0..255). --output names a .npy file (int64 masks \
            (N, H, W) of all images, which must then share H and W), a .png file (one image in all: \
            grey, the class index as the pixel value), or a directory (existing, or ending in /) \
            that receives one PNG per image, named after its input. Without --output a line per \
            image gives its size and the share of each class.
            """)

    @Argument(help: "Images: .npy files or PNG files.") var inputs: [String]
    @Option(help: "Image segmenter model file.") var model: String
    @Option(help: "Where to write the masks: a .npy file, a .png file, or a directory.") var output: String?
    @Option(help: "Also write the (N, H, W, K) float32 probabilities to this .npy.") var probabilitiesNpy: String?
    @Flag(help: "Replace mask files that already exist (never an input file).") var force = false
    @Option(help: "Threads.") var threads = 2

    func execute() throws {
        let segmenter = try ImageSegmenter.load(from: model)
        let k = segmenter.config.numClasses
        let batches = try inputs.map { try readImages($0, option: "input", png: true, channels: segmenter.config.channels) }
        // Each image's name in the summary lines, and its mask file's in a directory (after its input).
        let names: [(image: String, mask: String)] = zip(inputs, batches).flatMap { source, batch in
            (0..<batch.images.shape[0]).map { i in batch.isPNG ? (source, stem(source)) : ("\(source)[\(i)]", "\(stem(source))-\(i)") }
        }
        let sizes = Set(batches.map { "\($0.images.shape[1])×\($0.images.shape[2])" })
        let path = output ?? ""
        var st = stat()
        let directory = path.hasSuffix("/") || (stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR)
        let (npy, png) = (!directory && path.lowercased().hasSuffix(".npy"), !directory && path.lowercased().hasSuffix(".png"))
        guard output == nil || directory || npy || png else { throw invalid("--output \(path) is neither a .npy file, a .png file nor a directory") }
        if (npy || probabilitiesNpy != nil) && sizes.count > 1 {
            throw invalid("the images have different sizes (\(sizes.sorted().joined(separator: ", "))): "
                          + "one .npy cannot hold their masks; write PNGs to a directory instead")
        }
        if png && names.count != 1 { throw invalid("--output names one PNG but there are \(names.count) images; name a directory instead") }
        if (png || directory) && k > 256 { throw invalid("this model has \(k) classes; a grey PNG holds class indices up to 255 only") }
        if directory && access(path, F_OK) != 0 { throw LSTMKitError.io("--output \(path): no such directory") }
        let maskFiles = directory ? names.map { (path.hasSuffix("/") ? path : path + "/") + $0.mask + ".png" } : png ? [path] : []
        try checkOutputs(npy ? [path] : maskFiles, option: "--output")
        if let probabilitiesNpy { try checkOutputs([probabilitiesNpy], option: "--probabilities-npy") }

        var (allMasks, allProbabilities, image) = ([Int64](), [Float](), 0)
        for batch in batches {
            let (h, w) = (batch.images.shape[1], batch.images.shape[2])
            var labels: [Int32]
            if probabilitiesNpy != nil {
                let p = try segmenter.predictProbabilities(batch.images, threads: threads)
                allProbabilities += p.data
                labels = (0..<(p.data.count / k)).map { Int32(argmax(p.data[($0 * k)..<(($0 + 1) * k)])) }
            } else {
                labels = try segmenter.predict(batch.images, threads: threads)
            }
            for start in stride(from: 0, to: labels.count, by: h * w) {
                let mask = labels[start..<(start + h * w)]
                if output == nil {
                    var counts = [Int](repeating: 0, count: k)
                    for l in mask { counts[Int(l)] += 1 }
                    let shares = counts.enumerated().filter { $0.element > 0 }.map { "\($0.offset): \(fixed(Double($0.element) * 100 / Double(h * w), 1))%" }
                    print("\(names[image].image)\t\(h)×\(w)\t" + shares.joined(separator: "  "))
                } else if npy {
                    allMasks += mask.map { Int64($0) }
                } else {
                    try PNG.write(PNGImage(width: w, height: h, channels: 1, pixels: mask.map { UInt8($0) }), to: maskFiles[image])
                }
                image += 1
            }
        }
        let (h, w) = (batches[0].images.shape[1], batches[0].images.shape[2])
        if npy { try NumPyFile.write(allMasks, shape: [names.count, h, w], to: path) }
        if let probabilitiesNpy { try NumPyFile.write(allProbabilities, shape: [names.count, h, w, k], to: probabilitiesNpy) }
    }

    /// Refuses outputs that would overwrite an input, each other, or (without --force) an
    /// existing file: a user's data is never lost.
    func checkOutputs(_ files: [String], option: String) throws {
        for (n, file) in files.enumerated() {
            try refuseOverwritingInputs(inputs + [model], output: file, option: option)
            guard !files[..<n].contains(where: { canonicalPath($0) == canonicalPath(file) }) else {
                throw invalid("two images would write the same mask file \(file) (their inputs share a name); segment them in separate runs")
            }
            if !force && access(file, F_OK) == 0 { throw invalid("\(file) exists; pass --force to replace it") }
        }
    }
}

/// The file name of a path without its directory and extension.
func stem(_ path: String) -> String {
    let name = path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? path
    guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return name }
    return String(name[..<dot])
}

struct EvalSegmenter: Command, Threaded {
    static let configuration = CommandConfiguration(
        abstract: "Score an image segmenter: pixel accuracy, IoU per class, mean IoU, speed.",
        discussion: """
            Images are a .npy (N, H, W[, C]); --masks a .npy of integers (N, H, W). The mean IoU \
            averages the classes that occur in the gold masks or the predictions.
            """)

    @Argument(help: "Images (.npy).") var images: String
    @Option(help: "Gold masks (.npy, integers (N, H, W)).") var masks: String
    @Option(help: "Image segmenter model file.") var model: String
    @Option(help: "Threads.") var threads = 2

    func execute() throws {
        let segmenter = try ImageSegmenter.load(from: model)
        let x = try readImages(images, option: "images", channels: segmenter.config.channels).images
        let gold = try readMasks(masks, option: "--masks", for: x, of: images)
        let (score, seconds) = try timed { try segmenter.evaluate(x, masks: gold, threads: threads) }
        print("\(x.shape[0]) images of \(x.shape[1])×\(x.shape[2]), \(fixed(Double(x.shape[0]) / seconds, 1)) images/s")
        print("pixel accuracy \(fixed(score.pixelAccuracy * 100, 2))  mean IoU \(fixed(score.meanIoU * 100, 2))")
        print("IoU per class (gold pixels):")
        for (c, iou) in score.iou.enumerated() {
            print("  \(c): " + (iou.isNaN ? "n/a" : fixed(iou * 100, 2)) + "  (\(score.confusion[c].reduce(0, +)))")
        }
    }
}
