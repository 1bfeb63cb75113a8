import ArgumentParser
import LSTMKit

#if canImport(Glibc)
import Glibc
#endif

// The image side of train-classifier, classify and eval-classifier: images and labels
// come from NumPy .npy files (labels also from text files, one a line).

/// A classifier model file of either kind.
enum ClassifierModel {
    case text(TextClassifier)
    case image(ImageClassifier)
}

/// Loads a classifier, choosing the kind from the file's metadata "kind". Another kind
/// of model (a tokenizer, an LSTM) is an error naming it.
func loadClassifier(_ path: String) throws -> ClassifierModel {
    let file = try SafeTensors.read(from: path)
    do {
        let kind = file.metadata("kind")
        switch kind {
        case ImageClassifier.modelKind?: return .image(try ImageClassifier(modelFile: file))
        case TextClassifier.modelKind?: return .text(try TextClassifier(modelFile: file))
        default:
            // The format checks first (a file that is not LSTMKit's says so), then the kind.
            try ModelFile.checkKind(file, expected: kind ?? "")
            throw LSTMKitError.invalidFormat(
                "the file holds a model of kind \"\(kind ?? "missing")\", not a classifier "
                + "(\"\(TextClassifier.modelKind)\" or \"\(ImageClassifier.modelKind)\")")
        }
    } catch LSTMKitError.invalidFormat(let why) {
        throw LSTMKitError.invalidFormat("\(path): \(why)")
    }
}

/// Images from a .npy file ("-": standard input) as float32 (N, H, W[, C]) or (N, T, H, W, C).
func readImages(_ path: String, option: String) throws -> Tensor {
    let name = path == "-" ? "standard input" : path
    let bytes = path == "-" ? readAllStandardInput() : try FileIO.read(path)
    let array = try NumPyFile.parse(bytes, name: name)
    guard (3...5).contains(array.shape.count) else {
        throw LSTMKitError.invalidArgument(
            "\(option) \(name) holds an array of shape \(NumPyFile.text(array.shape)); images must be "
            + "(N, H, W), (N, H, W, C) or (N, T, H, W, C)")
    }
    return Tensor(shape: array.shape, data: try array.floats(name))
}

/// Labels from a .npy file (integers or strings, shape (N,) or (N, 1)) or a UTF-8 text
/// file with one label a line; there must be exactly `count`.
func readImageLabels(_ path: String, count: Int, option: String) throws -> [String] {
    let bytes = try FileIO.read(path)
    var labels: [String]
    if NumPyFile.isNumPy(bytes) {
        let array = try NumPyFile.parse(bytes, name: path)
        guard array.shape.count == 1 || (array.shape.count == 2 && array.shape[1] == 1) else {
            throw LSTMKitError.invalidArgument("\(option) \(path) has shape \(NumPyFile.text(array.shape)); labels must be (N,)")
        }
        labels = try array.labels(path)
    } else {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw LSTMKitError.invalidArgument("\(option) \(path) is neither a .npy file nor UTF-8 text (at byte \(firstInvalidUTF8(bytes)))")
        }
        labels = Corpus.lines(of: text)
        if let empty = labels.firstIndex(where: { $0.isEmpty }) {
            throw LSTMKitError.invalidArgument("\(option) \(path):\(empty + 1): the label is empty")
        }
    }
    guard labels.count == count else {
        throw LSTMKitError.sizeMismatch("\(option) \(path) holds \(labels.count) labels for \(count) images")
    }
    return labels
}

/// train-classifier --kind rows|cnn.
struct ImageTraining {
    var kind: ImageClassifierKind
    var train: String, trainLabels: String?, dev: String, devLabels: String?, output: String
    var pooling: String?, hiddenSize: Int?, numLayers: Int?, attentionSize: Int?, dropout: Float?
    var columns: Bool, convChannels: String?
    var epochs: Int?, batchSize: Int?, learningRate: Float?, patience: Int?, timeLimitMinutes: Double?
    var seed: UInt64, threads: Int

    func run() throws {
        guard let trainLabels else { throw LSTMKitError.invalidArgument("--kind \(kind.rawValue) needs --train-labels") }
        guard let devLabels else { throw LSTMKitError.invalidArgument("--kind \(kind.rawValue) needs --dev-labels") }
        var config = ImageClassifierConfig()
        config.kind = kind
        if let pooling {
            guard let p = SequencePoolingKind(rawValue: pooling) else {
                throw LSTMKitError.invalidArgument("--pooling must be last, mean, max or attention, got \(pooling)")
            }
            config.pooling = p
        }
        config.hiddenSize = hiddenSize ?? config.hiddenSize
        config.numLayers = numLayers ?? config.numLayers
        config.attentionSize = attentionSize ?? config.attentionSize
        if let dropout { config.dropout = dropout }
        if columns {
            guard kind == .rows else { throw LSTMKitError.invalidArgument("--columns applies to --kind rows only") }
            config.columns = true
        }
        if let convChannels {
            guard kind == .cnn else { throw LSTMKitError.invalidArgument("--conv-channels applies to --kind cnn only") }
            let sizes = convChannels.split(separator: ",", omittingEmptySubsequences: false).map {
                Int($0.trimmingSpaces)
            }
            guard !sizes.isEmpty, !sizes.contains(nil) else {
                throw LSTMKitError.invalidArgument("--conv-channels must be sizes separated by commas (e.g. 32,64), got \(convChannels)")
            }
            config.convChannels = sizes.map { $0! }
        }
        config.seed = seed
        var options = ImageClassifierTrainingOptions()
        if let epochs { options.epochs = epochs }
        if let batchSize { options.batchSize = batchSize }
        if let learningRate { options.learningRate = learningRate }
        options.patience = patience ?? options.patience
        if let minutes = timeLimitMinutes {
            guard minutes.isFinite, minutes > 0 else {
                throw LSTMKitError.invalidArgument("--time-limit must be a positive number of minutes, got \(minutes)")
            }
            options.timeLimit = max(minutes * 60, 1)
        }
        options.seed = seed
        options.threads = threads
        // The engine's rules, before reading the data (the geometry comes from it).
        try config.validateRanges()
        try options.validate()

        let x = try readImages(train, option: "--train")
        let y = try readImageLabels(trainLabels, count: x.shape[0], option: "--train-labels")
        let devX = try readImages(dev, option: "--dev")
        let devY = try readImageLabels(devLabels, count: devX.shape[0], option: "--dev-labels")
        let trainer = try ImageClassifierTrainer(train: x, trainLabels: y, dev: devX, devLabels: devY,
                                                 config: config, options: options)
        let best = try trainer.run { line in
            print(line)
            fflush(stdout)
        }
        try trainer.classifier.save(to: output)
        print("best dev accuracy \(best.accuracy); model written to \(output)")
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}


/// classify with an image model: one label per image, in order, for each .npy file.
func classifyImages(_ classifier: ImageClassifier, files: [String], probabilities: Bool, threads: Int,
                    probabilitiesNpy: String?, predictionsNpy: String?) throws {
    let labels = classifier.labels
    let integerLabels = labels.map { Int64($0) }
    if predictionsNpy != nil, integerLabels.contains(nil) {
        throw LSTMKitError.invalidArgument("--predictions-npy needs integer class labels; this model's are \(labels)")
    }
    var allProbabilities: [Float] = []
    var predictions: [Int64] = []
    for source in files.isEmpty ? ["-"] : files {
        let images = try readImages(source, option: "input")
        let p = try classifier.predictProbabilities(images, threads: threads)
        let c = labels.count
        for r in 0..<p.shape[0] {
            let row = Array(p.data[(r * c)..<((r + 1) * c)])
            let best = row.indices.max { row[$0] < row[$1] }!
            var line = labels[best]
            if probabilities {
                line += "\t" + zip(labels, row).map { "\($0)=\(formatted($1, digits: 4))" }.joined(separator: " ")
            }
            print(line)
            if predictionsNpy != nil { predictions.append(integerLabels[best]!) }
        }
        if probabilitiesNpy != nil { allProbabilities += p.data }
    }
    if let probabilitiesNpy {
        try NumPyFile.write(allProbabilities, shape: [allProbabilities.count / labels.count, labels.count], to: probabilitiesNpy)
    }
    if let predictionsNpy { try NumPyFile.write(predictions, shape: [predictions.count], to: predictionsNpy) }
}

/// eval-classifier with an image model.
func evaluateImages(_ classifier: ImageClassifier, images path: String, labels: String?, threads: Int) throws {
    guard let labels else {
        throw LSTMKitError.invalidArgument("an image classifier needs --labels (a .npy or a text file, one label a line)")
    }
    let images = try readImages(path, option: "images")
    let gold = try readImageLabels(labels, count: images.shape[0], option: "--labels")
    let start = now()
    let score = try classifier.evaluate(images, labels: gold, threads: threads)
    let seconds = max(now() - start, 1e-9)
    print("\(gold.count) images, \(Int(Double(gold.count) / seconds)) images/s")
    printScore(score)
}

func printScore(_ score: ClassificationScore) {
    print("accuracy \(formatted(Float(score.accuracy) * 100, digits: 2))  macro-F1 \(formatted(Float(score.macroF1) * 100, digits: 2))")
    print("confusion (rows gold, columns predicted): " + score.labels.joined(separator: " "))
    for (label, row) in zip(score.labels, score.confusion) {
        print("  \(label): " + row.map(String.init).joined(separator: " "))
    }
}

/// inspect of a .npy file: format, shape, dtype and a summary of the values.
func inspectNumPy(_ path: String, _ bytes: [UInt8]) throws {
    let array = try NumPyFile.parse(bytes, name: path)
    print(path)
    print("  NumPy array, format \(array.version.0).\(array.version.1)")
    print("  shape \(NumPyFile.text(array.shape)), dtype \(array.dtype.name) ('\(array.descr)')")
    if case .unicode = array.dtype {
        let values = try array.labels(path)
        print("  values: " + values.prefix(8).map { "\"\($0)\"" }.joined(separator: " ") + (values.count > 8 ? " ..." : ""))
        return
    }
    let values = try array.floats(path)
    guard !values.isEmpty else {
        print("  no values")
        return
    }
    let finite = values.filter(\.isFinite)
    let mean = finite.reduce(0.0) { $0 + Double($1) } / Double(max(finite.count, 1))
    print("  min \(values.min()!)  max \(values.max()!)  mean \(formatted(Float(mean), digits: 4))"
          + (finite.count < values.count ? "  (\(values.count - finite.count) not finite)" : ""))
    print("  first values: " + values.prefix(8).map { "\($0)" }.joined(separator: " "))
}
