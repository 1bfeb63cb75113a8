import ArgumentParser
import LSTMKit

// train-classifier, classify and eval-classifier, for text classifiers (label<TAB>text
// files, one text a line) and image classifiers (.npy images, labels as .npy or text).

/// A classifier model file of either kind.
enum ClassifierModel {
    case text(TextClassifier)
    case image(ImageClassifier)
}

/// Loads a classifier, choosing the kind from the file's metadata "kind". Another kind
/// of model (a tokenizer, an LSTM) is an error naming it.
func loadClassifier(_ path: String) throws -> ClassifierModel {
    try ModelFile.open(path) { file in
        switch file.metadata("kind") {
        case ImageClassifier.modelKind?: return .image(try ImageClassifier(modelFile: file))
        case TextClassifier.modelKind?: return .text(try TextClassifier(modelFile: file))
        case let kind:
            // The format checks first (a file that is not LSTMKit's says so), then the kind.
            try ModelFile.checkKind(file, expected: kind ?? "")
            throw LSTMKitError.invalidFormat("the file holds a model of kind \"\(kind ?? "missing")\", not a classifier "
                                             + "(\"\(TextClassifier.modelKind)\" or \"\(ImageClassifier.modelKind)\")")
        }
    }
}

/// Reads `label<TAB>text` lines (empty lines skipped).
func readLabelled(_ path: String) throws -> [(text: String, label: String)] {
    try TextFile.pairs(try Corpus.readLines(path), name: path, expected: "label TAB text", skipEmpty: true).map { ($1, $0) }
}

/// The fields text and image classifiers share, as their configs spell them.
protocol ClassifierConfig: HyperParameterized {
    init()
    var pooling: SequencePoolingKind { get set }
    var hiddenSize: Int { get set }
    var numLayers: Int { get set }
    var attentionSize: Int { get set }
    var attentionHeads: Int { get set }
    var seed: UInt64 { get set }
    var cell: RecurrentCell { get set }
}

extension TextClassifierConfig: ClassifierConfig {}
extension ImageClassifierConfig: ClassifierConfig {}

// The defaults of train-classifier's options are the engine's, and so are their docs.
private let text = TextClassifierConfig(), textTraining = TextClassifierTrainingOptions(), image = ImageClassifierConfig()
private typealias Text = TextClassifierConfig
private typealias TextTraining = TextClassifierTrainingOptions

/// A default per kind of classifier: "128" when they agree, else "0.3 for text, 0.25 for images".
private func defaults(_ forText: Any, _ forImages: Any) -> String {
    "\(forText)" == "\(forImages)" ? "\(forText)" : "\(forText) for text, \(forImages) for images"
}

/// train-classifier's options for texts; none is set unless given.
struct TextOptions: ParsableArguments {
    @Option(help: "auto, characters or words (default: auto).") var tokenization: String?
    @Option(help: Text.help("embedding_dim", default: text.embeddingDim)) var embeddingDim: Int?
    @Option(help: Text.help("bigram_dim", default: text.bigramDim)) var bigramDim: Int?
    @Option(help: Text.help("ngram_order", default: text.ngramOrder)) var ngramOrder: Int?
    @Option(help: Text.help("ngram_dropout", default: text.ngramDropout)) var ngramDropout: Float?
    @Option(help: Text.help("max_length", default: text.maxLength)) var maxLength: Int?
    @Option(help: TextTraining.help("min_count", default: textTraining.minTokenCount)) var minCount: Int?
    @Option(help: TextTraining.help("min_bigram_count", default: textTraining.minBigramCount)) var minBigramCount: Int?
    @Option(help: TextTraining.help("min_ngram_count", default: textTraining.minNgramCount)) var minNgramCount: Int?
    @Option(help: TextTraining.help("ngram_learning_rate", default: textTraining.ngramLearningRate)) var ngramLearningRate: Float?
    @Flag(help: "Weight each class by N / (C * count), so rare classes count as much as common ones.") var balanceClasses = false

    /// The options given, with the kinds of classifier they apply to.
    var given: [(option: String, kinds: [String])] {
        let values: [(String, Any?)] = [
            ("--tokenization", tokenization), ("--embedding-dim", embeddingDim), ("--bigram-dim", bigramDim), ("--ngram-order", ngramOrder),
            ("--ngram-dropout", ngramDropout), ("--max-length", maxLength), ("--min-count", minCount), ("--min-bigram-count", minBigramCount),
            ("--min-ngram-count", minNgramCount), ("--ngram-learning-rate", ngramLearningRate), ("--balance-classes", balanceClasses ? true : nil)]
        return values.filter { $0.1 != nil }.map { ($0.0, ["text"]) }
    }
}

/// train-classifier's options for images; none is set unless given.
struct ImageOptions: ParsableArguments {
    @Option(help: "Labels of --train (.npy of integers or strings, or text with one label a line).") var trainLabels: String?
    @Option(help: "Labels of --dev.") var devLabels: String?
    @Flag(help: "rows: a second LSTM also reads the image's columns.") var columns = false
    @Option(help: ImageClassifierConfig.help("conv_channels", default: image.convChannels.map(String.init).joined(separator: ",")))
    var convChannels: String?

    /// The options given, with the kinds of classifier they apply to.
    var given: [(option: String, kinds: [String])] {
        [("--train-labels", trainLabels != nil, ["rows", "cnn"]), ("--dev-labels", devLabels != nil, ["rows", "cnn"]),
         ("--columns", columns, ["rows"]), ("--conv-channels", convChannels != nil, ["cnn"])].filter { $0.1 }.map { ($0.0, $0.2) }
    }
}

struct TrainClassifier: Command, Threaded {
    static let configuration = CommandConfiguration(
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
    @Option(help: "Where to write the model.") var output: String
    @Option(help: "last, mean, max, attention or self_attention (default: attention for text, last for images).") var pooling: String?
    @Option(help: Text.help("hidden_size", default: defaults(text.hiddenSize, image.hiddenSize))) var hiddenSize: Int?
    @Option(help: Text.help("num_layers", default: defaults(text.numLayers, image.numLayers))) var layers: Int?
    @Option(help: Text.help("attention_size", default: defaults(text.attentionSize, image.attentionSize))) var attentionSize: Int?
    @Option(help: Text.help("attention_heads", default: defaults(text.attentionHeads, image.attentionHeads))) var attentionHeads: Int?
    @Option(help: ArgumentHelp("Dropout in training: on the embeddings and the pooled features of texts, on the pooled "
                               + "features of images (default: \(defaults(text.embeddingDropout, image.dropout)))."))
    var dropout: Float?
    @OptionGroup(title: "Text classifiers (--kind text)") var texts: TextOptions
    @OptionGroup(title: "Image classifiers (--kind rows, cnn)") var images: ImageOptions
    @OptionGroup(title: "Training loop") var loop: LoopOptions<TextClassifierTrainingOptions, ImageClassifierTrainingOptions>
    var threads: Int { loop.threads ?? textTraining.threads }

    func execute() throws {
        try refuseOverwritingInputs([train, dev, images.trainLabels, images.devLabels], output: output)
        guard ["text", "rows", "cnn"].contains(kind) else { throw invalid("--kind must be text, rows or cnn, got \(kind)") }
        if let wrong = (texts.given + images.given).first(where: { !$0.kinds.contains(kind) }) {
            throw invalid("\(wrong.option) applies to --kind \(wrong.kinds.joined(separator: " or ")) only")
        }
        let best = try kind == "text" ? trainText() : trainImages()
        print("best dev accuracy \(best.accuracy); model written to \(output)")
    }

    /// The engine's config and options with the options both kinds share.
    func configured<C: ClassifierConfig, O: TrainingLoopOptions>() throws -> (C, O) {
        var (config, options): (C, O) = (C(), loop.options())
        if let pooling { config.pooling = try choice(pooling, option: "--pooling") }
        set(&config, [\.hiddenSize: hiddenSize, \.numLayers: layers, \.attentionSize: attentionSize, \.attentionHeads: attentionHeads])
        set(&config, [\.cell: loop.cell])
        config.seed = options.loop.seed
        return (config, options)
    }

    func trainText() throws -> ClassificationScore {
        var (config, options): (TextClassifierConfig, TextClassifierTrainingOptions) = try configured()
        set(&config, [\.embeddingDim: texts.embeddingDim, \.bigramDim: texts.bigramDim, \.ngramOrder: texts.ngramOrder, \.maxLength: texts.maxLength])
        set(&config, [\.embeddingDropout: dropout, \.outputDropout: dropout, \.ngramDropout: texts.ngramDropout])
        set(&options, [\.minTokenCount: texts.minCount, \.minBigramCount: texts.minBigramCount, \.minNgramCount: texts.minNgramCount])
        set(&options, [\.ngramLearningRate: texts.ngramLearningRate])
        options.balanceClasses = texts.balanceClasses
        let tokenization = texts.tokenization.flatMap(TextVocabulary.Mode.init(rawValue:))   // nil: chosen from the data
        if let name = texts.tokenization, name != "auto", tokenization == nil {
            throw invalid("--tokenization must be auto, characters or words, got \(name)")
        }
        try check(config, options)   // the engine's rules, before reading the data
        let trainer = try TextClassifierTrainer(train: try readLabelled(train), dev: try readLabelled(dev),
                                                config: config, options: options, tokenization: tokenization)
        let best = try trainer.run(checkpointPath: try loop.start(trainer, output: output, inputs: [train, dev]), log: progress)
        try trainer.classifier.save(to: output)
        return best
    }

    func trainImages() throws -> ClassificationScore {
        guard let trainLabels = images.trainLabels else { throw invalid("--kind \(kind) needs --train-labels") }
        guard let devLabels = images.devLabels else { throw invalid("--kind \(kind) needs --dev-labels") }
        var (config, options): (ImageClassifierConfig, ImageClassifierTrainingOptions) = try configured()
        config.kind = try choice(kind, option: "--kind")
        set(&config, [\.dropout: dropout])
        config.columns = images.columns
        if let channels = images.convChannels { config.convChannels = try list(channels, option: "--conv-channels", of: "sizes", example: "32,64") }
        try check(config, options, rangesOnly: true)   // the engine's rules, before reading the data (the geometry comes from it)
        let x = try readImages(train, option: "--train", frames: true).images
        let y = try readLabels(trainLabels, count: x.shape[0], option: "--train-labels")
        let devX = try readImages(dev, option: "--dev", frames: true).images
        let devY = try readLabels(devLabels, count: devX.shape[0], option: "--dev-labels")
        let trainer = try ImageClassifierTrainer(train: x, trainLabels: y, dev: devX, devLabels: devY, config: config, options: options)
        let best = try trainer.run(checkpointPath: try loop.start(trainer, output: output, inputs: [train, dev, trainLabels, devLabels]),
                                   log: progress)
        try trainer.classifier.save(to: output)
        return best
    }
}

struct Classify: Command, Threaded {
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
    @Option(help: "Images: also write the (N, C) float32 probabilities to this .npy.") var probabilitiesNpy: String?
    @Option(help: "Images: also write the (N,) int64 predicted labels (integer labels only) to this .npy.")
    var predictionsNpy: String?
    @Option(help: "Threads.") var threads = 2

    func execute() throws {
        for (option, path) in [("--probabilities-npy", probabilitiesNpy), ("--predictions-npy", predictionsNpy)] {
            if let path { try refuseOverwritingInputs(files + [model], output: path, option: option) }
        }
        switch try loadClassifier(model) {
        case .text(let classifier):
            if probabilitiesNpy != nil || predictionsNpy != nil { throw invalid("--probabilities-npy and --predictions-npy apply to image classifiers") }
            if attention && !classifier.config.pooling.weighsSteps {
                throw invalid("--attention needs a model trained with attention pooling; \(model) pools by \(classifier.config.pooling.rawValue)")
            }
            for source in sources(files) {
                let texts = try readLines(source)
                for (text, p) in zip(texts, classifier.predictProbabilities(texts, threads: threads)) {
                    var line = predictionLine(classifier.labels, p[...], all: probabilities).line
                    if attention, let weights = classifier.attentionWeights(text) {
                        line += "\t" + weights.map { "\($0.token):\(formatted($0.weight, digits: 3))" }.joined(separator: " ")
                    }
                    print(line)
                }
            }
        case .image(let classifier):
            if attention { throw invalid("--attention applies to text classifiers; \(model) holds an image classifier") }
            let labels = classifier.labels, integers = labels.map { Int64($0) }
            if predictionsNpy != nil, integers.contains(nil) {
                throw invalid("--predictions-npy needs integer class labels; this model's are \(labels)")
            }
            var (allProbabilities, predictions) = ([Float](), [Int64]())
            for source in sources(files) {
                let p = try classifier.predictProbabilities(try readImages(source, option: "input", frames: true).images, threads: threads)
                for row in 0..<p.shape[0] {
                    let (line, best) = predictionLine(labels, p.data[(row * labels.count)..<((row + 1) * labels.count)],
                                                      all: probabilities)
                    print(line)
                    if predictionsNpy != nil { predictions.append(integers[best]!) }
                }
                if probabilitiesNpy != nil { allProbabilities += p.data }
            }
            if let probabilitiesNpy {
                try NumPyFile.write(allProbabilities, shape: [allProbabilities.count / labels.count, labels.count], to: probabilitiesNpy)
            }
            if let predictionsNpy { try NumPyFile.write(predictions, shape: [predictions.count], to: predictionsNpy) }
        }
    }
}

struct EvalClassifier: Command, Threaded {
    static let configuration = CommandConfiguration(
        abstract: "Score a classifier: accuracy, macro-F1, confusion matrix.",
        discussion: """
            A text classifier reads a label<TAB>text file; an image classifier a .npy of images \
            plus --labels (a .npy of integers or strings, or a text file with one label a line).
            """)

    @Argument(help: "label<TAB>text file (text), or a .npy of images (image classifiers).") var gold: String
    @Option(help: "Classifier model file.") var model: String
    @Option(help: "Image classifiers: the labels of the images.") var labels: String?
    @Option(help: "Threads.") var threads = 2

    func execute() throws {
        switch try loadClassifier(model) {
        case .image(let classifier):
            guard let labels else { throw invalid("an image classifier needs --labels (a .npy or a text file, one label a line)") }
            let images = try readImages(gold, option: "images", frames: true).images
            let gold = try readLabels(labels, count: images.shape[0], option: "--labels")
            let (score, seconds) = try timed { try classifier.evaluate(images, labels: gold, threads: threads) }
            printClassificationScore(score, of: gold.count, "images", seconds: seconds)
        case .text(let classifier):
            if labels != nil { throw invalid("--labels applies to image classifiers; a text classifier reads label<TAB>text") }
            let data = try readLabelled(gold)
            let (score, seconds) = try timed { try classifier.evaluate(data.map(\.text), labels: data.map(\.label), threads: threads) }
            printClassificationScore(score, of: data.count, "texts", seconds: seconds)
        }
    }
}

/// The score of `count` examples (`items`, named in the rate) scored in `seconds`: the
/// speed, accuracy, macro-F1 and the confusion matrix (eval-classifier, classify-sequences).
func printClassificationScore(_ score: ClassificationScore, of count: Int, _ items: String, seconds: Double) {
    print("\(count) \(items), \(Int(Double(count) / seconds)) \(items)/s")
    print("accuracy \(fixed(score.accuracy * 100, 2))  macro-F1 \(fixed(score.macroF1 * 100, 2))")
    print("confusion (rows gold, columns predicted): " + score.labels.joined(separator: " "))
    for (label, row) in zip(score.labels, score.confusion) { print("  \(label): " + row.map(String.init).joined(separator: " ")) }
}

/// A classified example's line: its most probable label (and that label's index), then
/// with `all` every label's probability ("label=0.1234").
func predictionLine(_ labels: [String], _ p: ArraySlice<Float>, all: Bool) -> (line: String, best: Int) {
    let best = argmax(p)
    let probabilities = zip(labels, p).map { "\($0)=\(formatted($1, digits: 4))" }.joined(separator: " ")
    return (labels[best] + (all ? "\t" + probabilities : ""), best)
}
