import ArgumentParser
import LSTMKit

// train-sequence-classifier and classify-sequences: float sequences from UCR/UEA .ts
// files (labels inside), .npy arrays (N, T) or (N, T, C) or numeric CSV (one univariate
// series a row), labels from the .ts file, a CSV column, or a label file.

private let config = SequenceClassifierConfig(), training = SequenceClassifierTrainingOptions()
private typealias Config = SequenceClassifierConfig

/// Sequences (`SequenceFile`) and their labels, if the file or `labelsPath` holds them.
/// NaN other than the trailing padding is refused unless `missing` is .mask.
func readSequences(_ path: String, labelsPath: String?, labelColumn: Int?, missing: MissingValues,
                   option: String) throws -> (data: Sequences, labels: [String]?) {
    let f = try SequenceFile.read(path, labelColumn: labelColumn, name: "\(option) \(path)")
    let labels = try labelsPath.map { try readLabels($0, count: f.sequences.count, option: option + "-labels", of: "sequences") }
    do {
        return (try Sequences(sequences: f.sequences, channels: f.channels, missing: missing), labels ?? f.labels)
    } catch let e as LSTMKitError {
        throw LSTMKitError.invalidArgument("\(option) \(path): \(e.message)")
    }
}

struct TrainSequenceClassifier: Command, Threaded {
    static let configuration = CommandConfiguration(
        abstract: "Train a sequence classifier on float sequences (.ts, .npy or .csv).",
        discussion: """
            A UCR/UEA .ts file holds its labels; a .npy (N, T) or (N, T, C) array or a CSV \
            (one univariate series a row) takes them from --train-labels (.npy or one label a \
            line) or, for CSV, --label-column. Trailing all-NaN steps end a shorter sequence. \
            Without --dev, a stratified --validation-fraction of the training set is held out \
            for early stopping. Channels are z-scored with the training statistics, kept in the model.
            """)

    @Option(help: "Training sequences: .ts, .npy or .csv.") var train: String
    @Option(help: "Labels of --train (.npy or one label a line), unless the file holds them.") var trainLabels: String?
    @Option(help: "Dev sequences for early stopping, as --train (default: held out of --train).") var dev: String?
    @Option(help: "Labels of --dev.") var devLabels: String?
    @Option(help: "CSV: the column holding the labels (0-based).") var labelColumn: Int?
    @Option(help: "Where to write the model.") var output: String
    @Option(help: Config.help("hidden_size", default: config.hiddenSize)) var hiddenSize = config.hiddenSize
    @Option(help: Config.help("num_layers", default: config.numLayers)) var layers = config.numLayers
    @Flag(help: "A forward-only recurrent layer (default: bidirectional).") var unidirectional = false
    @Option(help: "last, mean, max, attention or self_attention (default: \(config.pooling.rawValue)).") var pooling = config.pooling.rawValue
    @Option(help: Config.help("attention_size", default: config.attentionSize)) var attentionSize = config.attentionSize
    @Option(help: Config.help("attention_heads", default: config.attentionHeads)) var attentionHeads = config.attentionHeads
    @Flag(help: "LayerNorm between recurrent layers.") var layerNorm = false
    @Option(help: Config.help("dropout", default: config.dropout)) var dropout = config.dropout
    @Option(help: Config.help("patch_length", default: config.patchLength)) var patchLength = config.patchLength
    @Option(help: Config.help("members", default: config.members)) var members = config.members
    @Option(help: Config.help("conv_filters", default: config.convFilters.map(String.init).joined(separator: ","))) var convFilters: String?
    @Flag(help: "Treat NaN as missing (scaled to 0 plus a missing indicator per channel) instead of refusing it.")
    var maskMissing = false
    @Option(help: SequenceClassifierTrainingOptions.help("validation_fraction", default: training.validationFraction))
    var validationFraction = training.validationFraction
    @OptionGroup(title: "Training loop") var loop: Loop<SequenceClassifierTrainingOptions>
    var threads: Int { loop.threads ?? training.threads }

    func execute() throws {
        try refuseOverwritingInputs([train, trainLabels, dev, devLabels], output: output)
        var (c, options): (Config, SequenceClassifierTrainingOptions) = (Config(), loop.options())
        if loop.checkpoint != nil || loop.resume { throw invalid("--checkpoint and --resume do not apply: the members train in turn") }
        set(&c, [\.cell: loop.cell])
        c.pooling = try choice(pooling, option: "--pooling")
        (c.hiddenSize, c.numLayers, c.bidirectional, c.attentionSize) = (hiddenSize, layers, !unidirectional, attentionSize)
        (c.layerNorm, c.dropout, c.missing, c.seed) = (layerNorm, dropout, maskMissing ? .mask : .refuse, options.seed)
        (c.patchLength, c.members, c.attentionHeads) = (patchLength, members, attentionHeads)
        if let convFilters { try Config.hyperParameter("conv_filters")!.set(convFilters, in: &c, as: "--conv-filters") }
        options.validationFraction = validationFraction
        try check(c, options)   // the engine's rules, before reading the data
        if devLabels != nil && dev == nil { throw invalid("--dev-labels needs --dev") }
        let (x, y) = try readSequences(train, labelsPath: trainLabels, labelColumn: labelColumn, missing: c.missing, option: "--train")
        guard let y else { throw invalid("--train \(train) holds no labels: pass --train-labels\(train.hasSuffix(".csv") ? " or --label-column" : "")") }
        let devData = try dev.map { path -> (Sequences, [String]) in
            let (d, l) = try readSequences(path, labelsPath: devLabels, labelColumn: labelColumn, missing: c.missing, option: "--dev")
            guard let l else { throw invalid("--dev \(path) holds no labels: pass --dev-labels") }
            return (d, l)
        }
        let trainer = try SequenceClassifierTrainer(train: x, labels: y, dev: devData, config: c, options: options)
        let best = try trainer.run(log: progress)
        try trainer.classifier.save(to: output)
        print("best dev accuracy \(best.map { fixed($0.classification.accuracy * 100, 2) }.joined(separator: ", ")) (each member on its own dev split); model written to \(output)")
    }
}

struct ClassifySequences: Command, Threaded {
    static let configuration = CommandConfiguration(
        abstract: "Classify float sequences (.ts, .npy or .csv) with a sequence classifier: one label a line.",
        discussion: """
            With --evaluate the labels (of the .ts file, --labels or --label-column) are scored \
            instead: accuracy, macro-F1 and the confusion matrix. With --attention (models \
            trained with attention pooling) each line ends with a tab and the weights of the steps.
            """)

    @Argument(help: "Sequences: .ts, .npy (N, T) or (N, T, C), or .csv.") var file: String
    @Option(help: "Sequence classifier model file.") var model: String
    @Option(help: "Labels of the sequences (.npy or one label a line), for --evaluate.") var labels: String?
    @Option(help: "CSV: the column holding the labels (0-based).") var labelColumn: Int?
    @Flag(help: "Score the predictions against the labels instead of printing them.") var evaluate = false
    @Flag(help: "Also print every class's probability.") var probabilities = false
    @Flag(help: "Also print each step's attention weight (attention pooling only).") var attention = false
    @Option(help: "Threads.") var threads = 2

    func execute() throws {
        let classifier = try SequenceClassifier.load(from: model)
        let (data, gold) = try readSequences(file, labelsPath: labels, labelColumn: labelColumn, missing: classifier.config.missing, option: "input")
        if evaluate {
            guard let gold else { throw invalid("--evaluate needs labels: a .ts file with labels, --labels or --label-column") }
            let (score, seconds) = try timed { try classifier.evaluate(data, labels: gold, threads: threads) }
            return printClassificationScore(score, of: data.count, "sequences", seconds: seconds)
        }
        if attention && !classifier.config.pooling.weighsSteps {
            throw invalid("--attention needs a model trained with attention pooling; \(model) pools by \(classifier.config.pooling.rawValue)")
        }
        let (p, weights) = try classifier.predictWithAttention(data, threads: threads)
        for (i, row) in p.enumerated() {
            var line = predictionLine(classifier.labels, row[...], all: probabilities).line
            if attention, let weights { line += "\t" + weights[i].map { formatted($0, digits: 3) }.joined(separator: " ") }
            print(line)
        }
    }
}
