import ArgumentParser
import LSTMKit

#if canImport(Glibc)
import Glibc
#endif

// train-segmenter, segment-image and eval-segmenter: images from .npy files (N, H, W[, C])
// or PNG files, masks from .npy files of integers (N, H, W); masks out as .npy (int64) or
// PNG (grey, the class index as the pixel value).

/// Loads an image segmenter; a file of another kind is an error naming both kinds.
func loadSegmenter(_ path: String) throws -> ImageSegmenter {
    do {
        return try ImageSegmenter.load(from: path)
    } catch LSTMKitError.invalidFormat(let why) {
        throw LSTMKitError.invalidFormat("\(path): \(why)")
    }
}

/// Masks from a .npy file of integers (or booleans), shaped (N, H, W), as Int32.
func readMasks(_ path: String, option: String) throws -> (shape: [Int], labels: [Int32]) {
    let array = try NumPyFile.read(path)
    guard array.shape.count == 3 else {
        throw LSTMKitError.invalidArgument("\(option) \(path) has shape \(NumPyFile.text(array.shape)); masks must be (N, H, W)")
    }
    // The engine decodes; the CLI names a bad value by its mask and pixel.
    let labels = try array.int32s("\(option) \(path)") { i, value in
        let per = array.shape[1] * array.shape[2]
        return LSTMKitError.invalidArgument("\(option) \(path): mask \(i / per) has label \(value) at (\(i % per / array.shape[2]), "
                                            + "\(i % array.shape[2])), which is not a class index")
    }
    return (array.shape, labels)
}

/// Masks whose shape must be (N, H, W) of `images`.
func readMasks(_ path: String, for images: Tensor, option: String, imagesOption: String) throws -> [Int32] {
    let (shape, labels) = try readMasks(path, option: option)
    let want = Array(images.shape.prefix(3))
    guard shape == want else {
        throw LSTMKitError.sizeMismatch("\(option) \(path) has shape \(NumPyFile.text(shape)), but the images of "
                                        + "\(imagesOption) are \(NumPyFile.text(images.shape)): masks must be (N, H, W) = "
                                        + NumPyFile.text(want))
    }
    return labels
}

/// Images (N, H, W[, C]) from a .npy file for the segmenter.
func readSegmenterImages(_ path: String, option: String) throws -> Tensor {
    let images = try readImages(path, option: option)
    guard images.rank <= 4 else {
        throw LSTMKitError.invalidArgument("\(option) \(path) has shape \(NumPyFile.text(images.shape)); "
                                           + "a segmenter takes images (N, H, W) or (N, H, W, C)")
    }
    return images
}

// The defaults of train-segmenter's options are the engine's (one definition).
private let segmenter = ImageSegmenterConfig()
private let segmenterTraining = ImageSegmenterTrainingOptions()

struct TrainSegmenter: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-segmenter",
        abstract: "Train an image segmenter (a class per pixel) on .npy images and masks.",
        discussion: """
            Images are .npy arrays (N, H, W) or (N, H, W, C), uint8 or float; masks are .npy \
            integer arrays (N, H, W) of class indices (0 is usually the background). Dev images may \
            have another H and W. Pixels are normalised with the training mean and std, so segment \
            images of the same pixel scale. Progress lines go to standard output; the model of the \
            epoch with the best dev mean IoU is written to --output.
            """)

    @Option(help: "Training images (.npy).") var train: String
    @Option(name: .customLong("train-masks"), help: "Their masks (.npy, integers (N, H, W)).") var trainMasks: String
    @Option(help: "Dev images (.npy), for early stopping.") var dev: String
    @Option(name: .customLong("dev-masks"), help: "Their masks.") var devMasks: String
    @Option(help: "Where to write the model.") var output: String
    @Option(name: .customLong("num-classes"), help: "Classes per pixel (default: 1 + the largest label in the masks, at least 2).")
    var numClasses: Int?
    @Option(help: "lstm (a BiLSTM over the rows, then the columns, of the feature map) or conv (the ablation).")
    var context = segmenter.context.rawValue
    @Option(name: .customLong("hidden-size"), help: "LSTM units per direction.") var hiddenSize = segmenter.hiddenSize
    @Option(name: .customLong("encoder-channels"), help: "Output channels of each encoder block.") var encoderChannels = segmenter.encoderChannels.map(String.init).joined(separator: ",")
    @Flag(name: .customLong("no-batch-norm"), help: "No BatchNorm in the conv blocks.") var noBatchNorm = false
    @Option(help: "transposed or bilinear.") var upsampling = segmenter.upsampling.rawValue
    @Flag(name: .customLong("attention-gates"), help: "An attention gate on each skip connection.") var attentionGates = false
    @Option(help: "Passes over the training set at most.") var epochs = segmenterTraining.epochs
    @Option(name: .customLong("batch-size")) var batchSize = segmenterTraining.batchSize
    @Option(name: .customLong("learning-rate"), help: "Adam.") var learningRate = segmenterTraining.learningRate
    @Option(help: "Learning-rate schedule: plateau (halve after an epoch without a better dev mean IoU, stop after --patience such epochs) or cosine (anneal to 0 over --time-limit, else --epochs).")
    var schedule = segmenterTraining.schedule.rawValue
    @Option(help: "Epochs without a better dev mean IoU before stopping.") var patience = segmenterTraining.patience
    @Flag(help: "Augmentation: mirror each training image and its mask left to right with probability 1/2 (for data whose labels survive a mirror).")
    var flip = false
    @Option(name: .customLong("time-limit"), help: "Minutes; training stops at the first batch end after this (then dev is scored).") var timeLimit: Double?
    @Option(name: .customLong("dice-weight"), help: "The loss is cross-entropy + this × soft Dice.") var diceWeight = segmenterTraining.diceWeight
    @Flag(name: .customLong("balance-classes"), help: "Median-frequency class weights in the cross-entropy.")
    var balanceClasses = false
    @Option(name: .customLong("class-weights"), help: "Cross-entropy weights, one per class, separated by commas.")
    var classWeights: String?
    @Option(name: .customLong("log-every"), help: "A progress line every this many batches.") var logEvery = segmenterTraining.logEvery
    @Option var seed = segmenterTraining.seed
    @Option var threads = segmenterTraining.threads

    func run() throws {
        try LSTMKitCLI.reportingErrors(threads: threads) {
            try refuseOverwritingInputs([train, trainMasks, dev, devMasks], output: output)
            var config = ImageSegmenterConfig()
            guard let context = SegmenterContext(rawValue: context) else {
                throw LSTMKitError.invalidArgument("--context must be lstm or conv, got \(self.context)")
            }
            guard let upsampling = SegmenterUpsampling(rawValue: upsampling) else {
                throw LSTMKitError.invalidArgument("--upsampling must be transposed or bilinear, got \(self.upsampling)")
            }
            config.context = context
            config.upsampling = upsampling
            config.hiddenSize = hiddenSize
            config.encoderChannels = try sizes(encoderChannels, option: "--encoder-channels")
            config.batchNorm = !noBatchNorm
            config.attentionGates = attentionGates
            config.seed = seed
            var options = ImageSegmenterTrainingOptions()
            options.epochs = epochs
            options.batchSize = batchSize
            options.learningRate = learningRate
            guard let schedule = LearningRateSchedule(rawValue: schedule) else {
                throw LSTMKitError.invalidArgument("--schedule must be plateau or cosine, got \(self.schedule)")
            }
            options.schedule = schedule
            options.flipHorizontally = flip
            options.patience = patience
            options.diceWeight = diceWeight
            if let minutes = timeLimit {
                guard minutes.isFinite, minutes > 0 else {
                    throw LSTMKitError.invalidArgument("--time-limit must be a positive number of minutes, got \(minutes)")
                }
                options.timeLimit = max(minutes * 60, 1)
            }
            if let classWeights {
                let values = classWeights.split(separator: ",", omittingEmptySubsequences: false).map { Float($0.trimmingSpaces) }
                guard !values.isEmpty, !values.contains(nil) else {
                    throw LSTMKitError.invalidArgument("--class-weights must be numbers separated by commas (e.g. 0.5,2,2), got \(classWeights)")
                }
                options.classWeights = values.map { $0! }
            }
            options.balanceClasses = balanceClasses
            options.logEvery = logEvery
            options.seed = seed
            options.threads = threads
            try options.validate()   // the engine's rules, before reading the data

            let x = try readSegmenterImages(train, option: "--train")
            let m = try readMasks(trainMasks, for: x, option: "--train-masks", imagesOption: "--train")
            let devX = try readSegmenterImages(dev, option: "--dev")
            let devM = try readMasks(devMasks, for: devX, option: "--dev-masks", imagesOption: "--dev")
            if let numClasses {
                config.numClasses = numClasses
            } else {
                let top = max(m.max() ?? 0, devM.max() ?? 0)
                guard top < 65536 else {
                    throw LSTMKitError.invalidArgument("the masks hold the label \(top); class indices must be below 65536")
                }
                config.numClasses = max(2, Int(top) + 1)
            }
            let trainer = try ImageSegmenterTrainer(train: x, trainMasks: m, dev: devX, devMasks: devM,
                                                    config: config, options: options)
            let best = try trainer.run { line in
                print(line)
                fflush(stdout)
            }
            try trainer.segmenter.save(to: output)
            print("best dev mean IoU \(fixed(best.meanIoU * 100, 2)) (pixel accuracy \(fixed(best.pixelAccuracy * 100, 2))); "
                  + "model written to \(output)")
        }
    }
}

/// x with exactly `digits` decimals: fixed(99.5, 2) is "99.50".
func fixed(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return String(x) }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let units = Int64((abs(x) * scale).rounded())
    let whole = units / Int64(scale), fraction = String(units % Int64(scale))
    return (x < 0 && units != 0 ? "-" : "") + String(whole)
        + (digits > 0 ? "." + String(repeating: "0", count: digits - fraction.count) + fraction : "")
}

/// "32,64" as [32, 64].
func sizes(_ text: String, option: String) throws -> [Int] {
    let values = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingSpaces) }
    guard !values.isEmpty, !values.contains(nil) else {
        throw LSTMKitError.invalidArgument("\(option) must be sizes separated by commas (e.g. 32,64), got \(text)")
    }
    return values.map { $0! }
}

/// One image (or a stack of them) to segment, with where it came from.
struct SegmentationInput {
    let source: String
    /// (N, H, W, C) float32.
    let images: Tensor
    let isPNG: Bool
}

/// A .npy (N, H, W[, C]) or a PNG file as images for `segmenter`.
func readSegmentationInput(_ path: String, channels: Int) throws -> SegmentationInput {
    let bytes = try FileIO.read(path)
    if PNG.isPNG(bytes) {
        let png = try PNG.decode(bytes, name: path)
        guard png.channels == channels else {
            throw LSTMKitError.sizeMismatch("\(path) is \(png.channels == 1 ? "a grey" : "an RGB") PNG (\(png.channels) channel"
                                            + "\(png.channels == 1 ? "" : "s")); this model takes images of \(channels) channel"
                                            + "\(channels == 1 ? "" : "s")")
        }
        return SegmentationInput(source: path, images: Tensor(shape: [1, png.height, png.width, png.channels],
                                                              data: png.pixels.map { Float($0) }), isPNG: true)
    }
    guard NumPyFile.isNumPy(bytes) else {
        throw LSTMKitError.invalidArgument("\(path) is neither a .npy file nor a PNG image")
    }
    let array = try NumPyFile.parse(bytes, name: path)
    guard array.shape.count == 3 || array.shape.count == 4 else {
        throw LSTMKitError.invalidArgument("\(path) holds an array of shape \(NumPyFile.text(array.shape)); images must be "
                                           + "(N, H, W) or (N, H, W, C)")
    }
    let images = Tensor(shape: array.shape, data: try array.floats(path))
    let c = array.shape.count == 4 ? array.shape[3] : 1
    guard c == channels else {
        throw LSTMKitError.sizeMismatch("\(path) has shape \(NumPyFile.text(array.shape)): images of \(c) channel"
                                        + "\(c == 1 ? "" : "s"); this model takes \(channels)")
    }
    return SegmentationInput(source: path, images: images, isPNG: false)
}

func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}

/// The file name of a path without its directory and extension.
func stem(_ path: String) -> String {
    let name = path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? path
    guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return name }
    return String(name[..<dot])
}

struct SegmentImage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment-image",
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
    @Option(name: .customLong("probabilities-npy"), help: "Also write the (N, H, W, K) float32 probabilities to this .npy.")
    var probabilitiesNpy: String?
    @Flag(help: "Replace mask files that already exist (never an input file).") var force = false
    @Option var threads = 2

    /// Refuses outputs that would overwrite an input, each other, or (without --force) an
    /// existing file: a user's data is never lost.
    func checkOutputs(_ files: [String]) throws {
        let inputPaths = Set((inputs + [model]).map(canonicalPath))
        var seen = Set<String>()
        for file in files {
            let canonical = canonicalPath(file)
            guard !inputPaths.contains(canonical) else {
                throw LSTMKitError.invalidArgument("the mask file \(file) would overwrite an input; choose another --output")
            }
            guard seen.insert(canonical).inserted else {
                throw LSTMKitError.invalidArgument("two images would write the same mask file \(file) (their inputs share a name); "
                                                   + "segment them in separate runs")
            }
            if !force && access(file, F_OK) == 0 {
                throw LSTMKitError.invalidArgument("\(file) exists; pass --force to replace it")
            }
        }
    }

    func run() throws {
        try LSTMKitCLI.reportingErrors(threads: threads) {
            guard !inputs.isEmpty else { throw LSTMKitError.invalidArgument("no input images: give .npy or PNG files") }
            let segmenter = try loadSegmenter(model)
            let k = segmenter.config.numClasses
            let batches = try inputs.map { try readSegmentationInput($0, channels: segmenter.config.channels) }
            let sizes = Set(batches.map { [$0.images.shape[1], $0.images.shape[2]] })
            let total = batches.reduce(0) { $0 + $1.images.shape[0] }
            enum Target { case none, npy(String), png(String), directory(String) }
            let target: Target
            switch output {
            case nil: target = .none
            case let path? where path.hasSuffix("/") || isDirectory(path): target = .directory(path)
            case let path? where path.lowercased().hasSuffix(".npy"): target = .npy(path)
            case let path? where path.lowercased().hasSuffix(".png"): target = .png(path)
            case let path?:
                throw LSTMKitError.invalidArgument("--output \(path) is neither a .npy file, a .png file nor a directory")
            }
            switch target {
            case .npy where sizes.count > 1, _ where probabilitiesNpy != nil && sizes.count > 1:
                throw LSTMKitError.invalidArgument("the images have different sizes (\(sizes.map { "\($0[0])×\($0[1])" }.sorted().joined(separator: ", "))): "
                                                   + "one .npy cannot hold their masks; write PNGs to a directory instead")
            case .png where total != 1:
                throw LSTMKitError.invalidArgument("--output names one PNG but there are \(total) images; name a directory instead")
            case .png, .directory:
                guard k <= 256 else {
                    throw LSTMKitError.invalidArgument("this model has \(k) classes; a grey PNG holds class indices up to 255 only")
                }
            default: break
            }
            if case .directory(let dir) = target, !isDirectory(dir) {
                throw LSTMKitError.io("--output \(dir): no such directory")
            }
            func maskFile(_ dir: String, _ input: SegmentationInput, _ i: Int) -> String {
                (dir.hasSuffix("/") ? dir : dir + "/") + stem(input.source) + (input.isPNG ? "" : "-\(i)") + ".png"
            }
            switch target {
            case .none: break
            case .npy(let path), .png(let path): try checkOutputs([path])
            case .directory(let dir):
                try checkOutputs(batches.flatMap { input in (0..<input.images.shape[0]).map { maskFile(dir, input, $0) } })
            }
            if let probabilitiesNpy { try checkOutputs([probabilitiesNpy]) }

            var allMasks: [Int64] = []
            var allProbabilities: [Float] = []
            for input in batches {
                let (n, h, w) = (input.images.shape[0], input.images.shape[1], input.images.shape[2])
                let labels: [Int32]
                if probabilitiesNpy != nil {
                    let p = try segmenter.predictProbabilities(input.images, threads: threads)
                    allProbabilities += p.data
                    var l = [Int32](repeating: 0, count: n * h * w)
                    for i in 0..<l.count {
                        var best = 0
                        for c in 1..<k where p.data[i * k + c] > p.data[i * k + best] { best = c }
                        l[i] = Int32(best)
                    }
                    labels = l
                } else {
                    labels = try segmenter.predict(input.images, threads: threads)
                }
                for i in 0..<n {
                    let mask = labels[(i * h * w)..<((i + 1) * h * w)]
                    let name = input.isPNG ? input.source : "\(input.source)[\(i)]"
                    switch target {
                    case .none:
                        var counts = [Int](repeating: 0, count: k)
                        for l in mask { counts[Int(l)] += 1 }
                        let shares = counts.enumerated().filter { $0.element > 0 }.map {
                            "\($0.offset): \(fixed(Double($0.element) * 100 / Double(h * w), 1))%"
                        }
                        print("\(name)\t\(h)×\(w)\t" + shares.joined(separator: "  "))
                    case .npy:
                        allMasks += mask.map { Int64($0) }
                    case .png(let path):
                        try PNG.write(PNGImage(width: w, height: h, channels: 1, pixels: mask.map { UInt8($0) }), to: path)
                    case .directory(let dir):
                        let file = maskFile(dir, input, i)
                        try PNG.write(PNGImage(width: w, height: h, channels: 1, pixels: mask.map { UInt8($0) }), to: file)
                    }
                }
            }
            let (h, w) = (batches[0].images.shape[1], batches[0].images.shape[2])
            if case .npy(let path) = target { try NumPyFile.write(allMasks, shape: [total, h, w], to: path) }
            if let probabilitiesNpy { try NumPyFile.write(allProbabilities, shape: [total, h, w, k], to: probabilitiesNpy) }
        }
    }
}

struct EvalSegmenter: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-segmenter",
        abstract: "Score an image segmenter: pixel accuracy, IoU per class, mean IoU, speed.",
        discussion: """
            Images are a .npy (N, H, W[, C]); --masks a .npy of integers (N, H, W). The mean IoU \
            averages the classes that occur in the gold masks or the predictions.
            """)

    @Argument(help: "Images (.npy).") var images: String
    @Option(help: "Gold masks (.npy, integers (N, H, W)).") var masks: String
    @Option(help: "Image segmenter model file.") var model: String
    @Option var threads = 2

    func run() throws {
        try LSTMKitCLI.reportingErrors(threads: threads) {
            let segmenter = try loadSegmenter(model)
            let x = try readSegmenterImages(images, option: "images")
            let gold = try readMasks(masks, for: x, option: "--masks", imagesOption: images)
            let start = now()
            let score = try segmenter.evaluate(x, masks: gold, threads: threads)
            let seconds = max(now() - start, 1e-9)
            let n = x.shape[0]
            print("\(n) images of \(x.shape[1])×\(x.shape[2]), \(fixed(Double(n) / seconds, 1)) images/s")
            print("pixel accuracy \(fixed(score.pixelAccuracy * 100, 2))  mean IoU \(fixed(score.meanIoU * 100, 2))")
            print("IoU per class (gold pixels):")
            for (c, iou) in score.iou.enumerated() {
                let pixels = score.confusion[c].reduce(0, +)
                print("  \(c): " + (iou.isNaN ? "n/a" : fixed(iou * 100, 2)) + "  (\(pixels))")
            }
        }
    }
}

/// inspect of a PNG: size, colour type and a summary of the decoded samples.
func inspectPNG(_ path: String, _ bytes: [UInt8]) throws {
    let png = try PNG.decode(bytes, name: path)
    let kinds = [0: "grey", 2: "RGB", 4: "grey + alpha (alpha dropped)", 6: "RGB + alpha (alpha dropped)"]
    print(path)
    print("  PNG image, \(png.width)×\(png.height), \(kinds[png.colourType] ?? "?") (colour type \(png.colourType)), 8-bit")
    print("  as an array: shape \(NumPyFile.text(png.channels == 1 ? [png.height, png.width] : [png.height, png.width, png.channels]))")
    let sum = png.pixels.reduce(0) { $0 + Int($1) }
    print("  min \(png.pixels.min()!)  max \(png.pixels.max()!)  sum \(sum)")
    print("  first values: " + png.pixels.prefix(8).map { String($0) }.joined(separator: " "))
}
