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

struct TrainClassifier: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-classifier",
        abstract: "Train an LSTM text classifier on label<TAB>text files.")

    @Option(help: "Training file (label<TAB>text per line).") var train: String
    @Option(help: "Dev file (early stopping).") var dev: String
    @Option(help: "Where to write the model.") var output: String
    @Option(help: "auto, characters or words.") var tokenization = "auto"
    @Option(help: "last, mean, max or attention.") var pooling = "attention"
    @Option(name: .customLong("embedding-dim")) var embeddingDim = 128
    @Option(name: .customLong("bigram-dim"), help: "Token-bigram embedding size (0: none).") var bigramDim = 0
    @Option(name: .customLong("min-bigram-count")) var minBigramCount = 2
    @Option(name: .customLong("hidden-size")) var hiddenSize = 128
    @Option(name: .customLong("layers")) var numLayers = 1
    @Option(name: .customLong("attention-size")) var attentionSize = 64
    @Option var dropout: Float = 0.3
    @Option(name: .customLong("max-length"), help: "Tokens kept per text (the first ones).") var maxLength = 400
    @Option(name: .customLong("min-count"), help: "Rarer tokens are 'unknown'.") var minCount = 2
    @Option var epochs = 20
    @Option(name: .customLong("batch-size")) var batchSize = 32
    @Option(name: .customLong("learning-rate")) var learningRate: Float = 0.002
    @Option var patience = 3
    @Flag(name: .customLong("balance-classes"), help: "Weight classes by N / (C * count).") var balanceClasses = false
    @Option var seed: UInt64 = 1
    @Option var threads = 2

    func run() throws {
        try LSTMKitCLI.reportingErrors {
            var config = TextClassifierConfig()
            guard let kind = SequencePoolingKind(rawValue: pooling) else {
                throw LSTMKitError.invalidArgument("--pooling must be last, mean, max or attention, got \(pooling)")
            }
            config.pooling = kind
            config.embeddingDim = embeddingDim
            config.bigramDim = bigramDim
            config.hiddenSize = hiddenSize
            config.numLayers = numLayers
            config.attentionSize = attentionSize
            config.embeddingDropout = dropout
            config.outputDropout = dropout
            config.maxLength = maxLength
            config.seed = seed
            var options = TextClassifierTrainingOptions()
            options.epochs = epochs
            options.batchSize = batchSize
            options.learningRate = learningRate
            options.patience = patience
            options.minTokenCount = minCount
            options.minBigramCount = minBigramCount
            options.balanceClasses = balanceClasses
            options.seed = seed
            options.threads = threads
            let mode: TextVocabulary.Mode?
            switch tokenization {
            case "auto": mode = nil
            case "characters": mode = .characters
            case "words": mode = .words
            default: throw LSTMKitError.invalidArgument("--tokenization must be auto, characters or words, got \(tokenization)")
            }
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
}

struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify texts: one line in, one label out (with --probabilities, also every class's probability).")

    @Argument(help: "Input files (UTF-8), one text per line. Reads standard input when none are given.")
    var files: [String] = []
    @Option(help: "Classifier model file.") var model: String
    @Flag(help: "Also print every class's probability.") var probabilities = false
    @Option var threads = 2

    func run() throws {
        try LSTMKitCLI.reportingErrors {
            let classifier = try TextClassifier.load(from: model)
            for source in files.isEmpty ? ["-"] : files {
                let bytes = source == "-" ? readAllStandardInput() : try FileIO.read(source)
                guard let text = String(validating: bytes, as: UTF8.self) else {
                    throw LSTMKitError.invalidArgument(
                        "\(source == "-" ? "standard input" : source) is not valid UTF-8 (at byte \(firstInvalidUTF8(bytes)))")
                }
                var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                if text.hasSuffix("\n") { lines.removeLast() }
                for p in classifier.predictProbabilities(lines, threads: threads) {
                    let best = p.indices.max { p[$0] < p[$1] }!
                    var line = classifier.labels[best]
                    if probabilities {
                        line += "\t" + zip(classifier.labels, p).map { "\($0)=\(formatted($1, digits: 4))" }.joined(separator: " ")
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
        abstract: "Score a classifier on a label<TAB>text file: accuracy, macro-F1, confusion matrix.")

    @Argument(help: "label<TAB>text file.") var gold: String
    @Option(help: "Classifier model file.") var model: String
    @Option var threads = 2

    func run() throws {
        try LSTMKitCLI.reportingErrors {
            let classifier = try TextClassifier.load(from: model)
            let data = try readLabelled(gold)
            let start = now()
            let score = try classifier.evaluate(data.map(\.text), labels: data.map(\.label), threads: threads)
            let seconds = now() - start
            print("\(data.count) texts, \(Int(Double(data.count) / seconds)) texts/s")
            print("accuracy \(formatted(Float(score.accuracy) * 100, digits: 2))  macro-F1 \(formatted(Float(score.macroF1) * 100, digits: 2))")
            print("confusion (rows gold, columns predicted): " + score.labels.joined(separator: " "))
            for (label, row) in zip(score.labels, score.confusion) {
                print("  \(label): " + row.map(String.init).joined(separator: " "))
            }
        }
    }
}
