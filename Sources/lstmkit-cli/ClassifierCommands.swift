import ArgumentParser
import LSTMKit

#if canImport(Glibc)
import Glibc
#endif

/// Reads `label<TAB>text` lines (empty lines skipped).
func readLabelled(_ path: String) throws -> [(text: String, label: String)] {
    try Corpus.readLines(path).enumerated().compactMap { number, line in
        if line.isEmpty { return nil }
        guard let tab = line.firstIndex(of: "\t") else {
            throw LSTMKitError.invalidArgument("\(path):\(number + 1): expected label<TAB>text")
        }
        return (String(line[line.index(after: tab)...]), String(line[..<tab]))
    }
}

// The defaults the options show and fall back to are the engine's (one definition).
private let text = TextClassifierConfig()
private let textTraining = TextClassifierTrainingOptions()
private let image = ImageClassifierConfig()
private let imageTraining = ImageClassifierTrainingOptions()

struct TrainClassifier: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-classifier",
        abstract: "Train an LSTM classifier: of texts (label<TAB>text files) or of images (.npy arrays).",
        discussion: """
            --kind text (the default) reads label<TAB>text lines from --train and --dev.
            --kind rows or cnn reads images from .npy files, float or uint8, shaped (N, H, W), \
            (N, H, W, C) or, for cnn, frame sequences (N, T, H, W, C); their labels come from \
            --train-labels and --dev-labels (.npy of integers or strings, or text with one label a \
            line). rows: the image's rows are the LSTM's steps; cnn: conv blocks first. Pixels are \
            normalised with the training mean and std, so classify with the same pixel scale.
            """)

    @Option(help: "text, rows or cnn.") var kind = "text"
    @Option(help: "Training data: a label<TAB>text file (text), or a .npy of images (rows, cnn).") var train: String
    @Option(help: "Dev data (early stopping), as --train.") var dev: String
    @Option(name: .customLong("train-labels"), help: "rows/cnn: labels of --train (.npy, or one a line).") var trainLabels: String?
    @Option(name: .customLong("dev-labels"), help: "rows/cnn: labels of --dev.") var devLabels: String?
    @Option(help: "Where to write the model.") var output: String
    @Option(help: "text: auto, characters or words (default auto).") var tokenization: String?
    @Option(help: "last, mean, max or attention (default: attention for text, last for images).") var pooling: String?
    @Option(name: .customLong("embedding-dim"), help: "text (default \(text.embeddingDim)).") var embeddingDim: Int?
    @Option(name: .customLong("bigram-dim"), help: "text: token-bigram embedding size (default \(text.bigramDim); 0: none).") var bigramDim: Int?
    @Option(name: .customLong("min-bigram-count"), help: "text (default \(textTraining.minBigramCount)).") var minBigramCount: Int?
    @Option(name: .customLong("ngram-order"),
            help: "text: n-gram features beside the LSTM, runs of 1 to this many tokens (0: none; default \(text.ngramOrder)).") var ngramOrder: Int?
    @Option(name: .customLong("ngram-dropout"), help: "text: training drops each n-gram with this probability (default \(text.ngramDropout)).")
    var ngramDropout: Float?
    @Option(name: .customLong("ngram-learning-rate"), help: "text: Adam's rate for the n-gram weights (default \(textTraining.ngramLearningRate)).")
    var ngramLearningRate: Float?
    @Option(name: .customLong("min-ngram-count"), help: "text: n-grams in fewer training texts are left out (default \(textTraining.minNgramCount)).")
    var minNgramCount: Int?
    @Option(name: .customLong("hidden-size"), help: "LSTM units per direction (default: \(text.hiddenSize) for text, \(image.hiddenSize) for images).")
    var hiddenSize: Int?
    @Option(name: .customLong("layers"), help: "LSTM layers (default: \(text.numLayers) for text, \(image.numLayers) for images).")
    var numLayers: Int?
    @Option(name: .customLong("attention-size"), help: "With attention pooling (default: \(text.attentionSize) for text, \(image.attentionSize) for images).")
    var attentionSize: Int?
    @Option(help: "Dropout (default: \(text.embeddingDropout) for text, \(image.dropout) for images).") var dropout: Float?
    @Option(name: .customLong("max-length"), help: "text: tokens kept per text, the first ones (default \(text.maxLength)).") var maxLength: Int?
    @Option(name: .customLong("min-count"), help: "text: rarer tokens are 'unknown' (default \(textTraining.minTokenCount)).") var minCount: Int?
    @Flag(help: "rows: a second LSTM also reads the image's columns.") var columns = false
    @Option(name: .customLong("conv-channels"), help: "cnn: output channels of each conv block (default 32,64).") var convChannels: String?
    @Option(help: "Passes over the training set at most (default: \(textTraining.epochs) for text, \(imageTraining.epochs) for images).")
    var epochs: Int?
    @Option(name: .customLong("batch-size"), help: "Default: \(textTraining.batchSize) for text, \(imageTraining.batchSize) for images.")
    var batchSize: Int?
    @Option(name: .customLong("learning-rate"), help: "Adam (default: \(textTraining.learningRate) for text, \(imageTraining.learningRate) for images).")
    var learningRate: Float?
    @Option(help: "Epochs without a better dev score before stopping (default: \(textTraining.patience) for text, \(imageTraining.patience) for images).")
    var patience: Int?
    @Option(name: .customLong("time-limit"), help: "rows/cnn: minutes; no epoch starts after this.") var timeLimit: Double?
    @Flag(name: .customLong("balance-classes"), help: "text: weight classes by N / (C * count).") var balanceClasses = false
    @Option var seed = textTraining.seed
    @Option var threads = textTraining.threads

    func run() throws {
        try LSTMKitCLI.reportingErrors(threads: threads) {
            try refuseOverwritingInputs([train, dev, trainLabels, devLabels], output: output)
            switch kind {
            case "text": try runText()
            case "rows", "cnn":
                let textOnly: [(String, Bool)] = [
                    ("--tokenization", tokenization != nil), ("--embedding-dim", embeddingDim != nil),
                    ("--bigram-dim", bigramDim != nil), ("--min-bigram-count", minBigramCount != nil),
                    ("--ngram-order", ngramOrder != nil), ("--ngram-dropout", ngramDropout != nil),
                    ("--min-ngram-count", minNgramCount != nil), ("--ngram-learning-rate", ngramLearningRate != nil),
                    ("--max-length", maxLength != nil), ("--min-count", minCount != nil), ("--balance-classes", balanceClasses)]
                if let given = textOnly.first(where: { $0.1 }) {
                    throw LSTMKitError.invalidArgument("\(given.0) applies to --kind text only")
                }
                try ImageTraining(
                    kind: kind == "rows" ? .rows : .cnn, train: train, trainLabels: trainLabels, dev: dev, devLabels: devLabels,
                    output: output, pooling: pooling, hiddenSize: hiddenSize, numLayers: numLayers, attentionSize: attentionSize,
                    dropout: dropout, columns: columns, convChannels: convChannels, epochs: epochs, batchSize: batchSize,
                    learningRate: learningRate, patience: patience, timeLimitMinutes: timeLimit, seed: seed, threads: threads
                ).run()
            default:
                throw LSTMKitError.invalidArgument("--kind must be text, rows or cnn, got \(kind)")
            }
        }
    }

    func runText() throws {
        let imageOnly: [(String, Bool, String)] = [
            ("--train-labels", trainLabels != nil, "rows or cnn"), ("--dev-labels", devLabels != nil, "rows or cnn"),
            ("--columns", columns, "rows"), ("--conv-channels", convChannels != nil, "cnn"),
            ("--time-limit", timeLimit != nil, "rows or cnn")]
        if let given = imageOnly.first(where: { $0.1 }) {
            throw LSTMKitError.invalidArgument("\(given.0) applies to --kind \(given.2) only")
        }
        var config = TextClassifierConfig()  // every option not given keeps the engine's default
        if let pooling {
            guard let kind = SequencePoolingKind(rawValue: pooling) else {
                throw LSTMKitError.invalidArgument("--pooling must be last, mean, max or attention, got \(pooling)")
            }
            config.pooling = kind
        }
        config.embeddingDim = embeddingDim ?? config.embeddingDim
        config.bigramDim = bigramDim ?? config.bigramDim
        config.ngramOrder = ngramOrder ?? config.ngramOrder
        config.ngramDropout = ngramDropout ?? config.ngramDropout
        config.hiddenSize = hiddenSize ?? config.hiddenSize
        config.numLayers = numLayers ?? config.numLayers
        config.attentionSize = attentionSize ?? config.attentionSize
        config.embeddingDropout = dropout ?? config.embeddingDropout
        config.outputDropout = dropout ?? config.outputDropout
        config.maxLength = maxLength ?? config.maxLength
        config.seed = seed
        var options = TextClassifierTrainingOptions()
        options.epochs = epochs ?? options.epochs
        options.batchSize = batchSize ?? options.batchSize
        options.learningRate = learningRate ?? options.learningRate
        options.patience = patience ?? options.patience
        options.minTokenCount = minCount ?? options.minTokenCount
        options.minBigramCount = minBigramCount ?? options.minBigramCount
        options.minNgramCount = minNgramCount ?? options.minNgramCount
        options.ngramLearningRate = ngramLearningRate ?? options.ngramLearningRate
        options.balanceClasses = balanceClasses
        options.seed = seed
        options.threads = threads
        let mode: TextVocabulary.Mode?
        switch tokenization ?? "auto" {
        case "auto": mode = nil
        case "characters": mode = .characters
        case "words": mode = .words
        default: throw LSTMKitError.invalidArgument("--tokenization must be auto, characters or words, got \(tokenization!)")
        }
        try config.validate()   // the engine's rules, before reading the data
        try options.validate()
        let trainer = try TextClassifierTrainer(train: try readLabelled(train), dev: try readLabelled(dev),
                                                config: config, options: options, tokenization: mode)
        let best = try trainer.run { line in
            print(line)
            fflush(stdout)
        }
        try trainer.classifier.save(to: output)
        print("best dev accuracy \(best.accuracy); model written to \(output)")
    }
}

struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify texts (one line in, one label out) or images (a .npy in, one label per image out).",
        discussion: """
            The model file says which: a text classifier reads UTF-8 files with one text a line, an \
            image classifier .npy files of images shaped as in training. With --probabilities each \
            line also gives every class's probability. With --attention (text classifiers trained \
            with attention pooling) each line ends with a tab and the tokens the model read with \
            their attention weights, "token:weight" separated by spaces (the weights sum to 1).
            """)

    @Argument(help: "Input files: texts, one a line, or .npy arrays of images. Reads standard input when none are given.")
    var files: [String] = []
    @Option(help: "Classifier model file.") var model: String
    @Flag(help: "Also print every class's probability.") var probabilities = false
    @Flag(help: "Text classifiers with attention pooling: also print each token's attention weight.")
    var attention = false
    @Option(name: .customLong("probabilities-npy"), help: "Images: also write the (N, C) float32 probabilities to this .npy.")
    var probabilitiesNpy: String?
    @Option(name: .customLong("predictions-npy"), help: "Images: also write the (N,) int64 predicted labels (integer labels only) to this .npy.")
    var predictionsNpy: String?
    @Option var threads = 2

    func run() throws {
        try LSTMKitCLI.reportingErrors(threads: threads) {
            let classifier: TextClassifier
            switch try loadClassifier(model) {
            case .image(let image):
                if attention {
                    throw LSTMKitError.invalidArgument("--attention applies to text classifiers; \(model) holds an image classifier")
                }
                try classifyImages(image, files: files, probabilities: probabilities, threads: threads,
                                   probabilitiesNpy: probabilitiesNpy, predictionsNpy: predictionsNpy)
                return
            case .text(let text):
                classifier = text
            }
            if probabilitiesNpy != nil || predictionsNpy != nil {
                throw LSTMKitError.invalidArgument("--probabilities-npy and --predictions-npy apply to image classifiers")
            }
            if attention && classifier.config.pooling != .attention {
                throw LSTMKitError.invalidArgument(
                    "--attention needs a model trained with attention pooling; \(model) pools by \(classifier.config.pooling.rawValue)")
            }
            for source in files.isEmpty ? ["-"] : files {
                let bytes = source == "-" ? readAllStandardInput() : try FileIO.read(source)
                guard let text = String(validating: bytes, as: UTF8.self) else {
                    throw LSTMKitError.invalidArgument(
                        "\(source == "-" ? "standard input" : source) is not valid UTF-8 (at byte \(firstInvalidUTF8(bytes)))")
                }
                let lines = Corpus.lines(of: text)
                for (input, p) in zip(lines, classifier.predictProbabilities(lines, threads: threads)) {
                    let best = p.indices.max { p[$0] < p[$1] }!
                    var line = classifier.labels[best]
                    if probabilities {
                        line += "\t" + zip(classifier.labels, p).map { "\($0)=\(formatted($1, digits: 4))" }.joined(separator: " ")
                    }
                    if attention, let weights = classifier.attentionWeights(input) {
                        line += "\t" + weights.map { "\($0.token):\(formatted($0.weight, digits: 3))" }.joined(separator: " ")
                    }
                    print(line)
                }
            }
        }
    }
}

struct EvalClassifier: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-classifier",
        abstract: "Score a classifier: accuracy, macro-F1, confusion matrix.",
        discussion: """
            A text classifier reads a label<TAB>text file; an image classifier a .npy of images \
            plus --labels (a .npy of integers or strings, or a text file with one label a line).
            """)

    @Argument(help: "label<TAB>text file (text), or a .npy of images (image classifiers).") var gold: String
    @Option(help: "Classifier model file.") var model: String
    @Option(help: "Image classifiers: the labels of the images.") var labels: String?
    @Option var threads = 2

    func run() throws {
        try LSTMKitCLI.reportingErrors(threads: threads) {
            let classifier: TextClassifier
            switch try loadClassifier(model) {
            case .image(let image):
                try evaluateImages(image, images: gold, labels: labels, threads: threads)
                return
            case .text(let text):
                classifier = text
            }
            if labels != nil { throw LSTMKitError.invalidArgument("--labels applies to image classifiers; a text classifier reads label<TAB>text") }
            let data = try readLabelled(gold)
            let start = now()
            let score = try classifier.evaluate(data.map(\.text), labels: data.map(\.label), threads: threads)
            let seconds = max(now() - start, 1e-9)
            print("\(data.count) texts, \(Int(Double(data.count) / seconds)) texts/s")
            printScore(score)
        }
    }
}
