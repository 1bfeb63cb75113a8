import ArgumentParser
import Glibc
import LSTMKit

/// Where a shipped model (a file of models/) is looked for, in order: $`variable`;
/// beside the executable's package checkout (swift run, .build/<config>/lstmkit-cli);
/// the C package's PREFIX/share/lstmkit beside PREFIX/bin/lstmkit; ./models. The
/// executable is found from /proc/self/exe (so a tool found through PATH knows where it
/// lives), or argv[0] where /proc is missing. `missing`: the error when none is readable.
func bundledModel(_ file: String, variable: String?, missing: String) throws -> String {
    var buffer = [CChar](repeating: 0, count: 4097)
    let n = readlink("/proc/self/exe", &buffer, 4096)
    let executable = n > 0 ? String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
    let bin = executable.lastIndex(of: "/").map { String(executable[..<$0]) } ?? "."
    let checkouts: [String] = (0..<4).map { bin + String(repeating: "/..", count: $0) }
    var candidates: [String] = variable.flatMap { getenv($0) }.map { [String(cString: $0)] } ?? []
    candidates += checkouts.flatMap { [$0 + "/models/" + file, $0 + "/lstmkit_models/" + file] }
    candidates += [bin + "/../share/lstmkit/" + file, "models/" + file]
    guard let found = candidates.first(where: { access($0, R_OK) == 0 }) else { throw LSTMKitError.io(missing) }
    return found
}

/// The bundled tokenizer models (models/<name>.safetensors), the default first; `--model`
/// takes a name as well as a file (a file of that name comes first).
let bundledTokenizers = ["tokenizer-pku", "tokenizer-pku-large"]
let tokenizerModelHelp = ArgumentHelp(
    "Tokenizer model file, or a bundled model's name: tokenizer-pku (the default: two small int8 networks) or tokenizer-pku-large (the larger ensemble: a little more accurate, about a third of the speed).")

/// The tokenizer of `--model` (default: the bundled one) with the words of `--dict`.
func loadTokenizer(model: String?, dict: String?) throws -> Tokenizer {
    let path: String
    if let model, !(bundledTokenizers.contains(model) && access(model, F_OK) != 0) {
        path = model
    } else {
        let name = model ?? bundledTokenizers[0]
        path = try bundledModel(name + ".safetensors", variable: model == nil ? "LSTMKIT_TOKENIZER_MODEL" : nil,
            missing: "no bundled tokenizer model \(name) found (looked for models/\(name).safetensors); pass --model PATH"
                + (model == nil ? " or set LSTMKIT_TOKENIZER_MODEL" : ""))
    }
    let tokenizer = try Tokenizer.load(from: path)
    if let dict { try tokenizer.loadDictionary(path: dict) }
    return tokenizer
}

/// A tokenizer's words without the whitespace it keeps as words of their own.
func words(_ cut: [String]) -> [String] { cut.filter { !$0.allSatisfy(\.isWhitespace) } }

struct Segment: Command, Threaded {
    static let configuration = CommandConfiguration(
        abstract: "Segment Chinese text into words: one output line of space-separated words per input line.")

    @Argument(help: "Input files (UTF-8). Reads standard input when none are given.")
    var files: [String] = []
    @Option(help: tokenizerModelHelp) var model: String?
    @Option(help: "User dictionary: one word per line; these words always come out whole.") var dict: String?
    @Option(help: "Threads.") var threads = 2
    @Option(help: "Word separator in the output.") var separator = " "

    func execute() throws {
        let tokenizer = try loadTokenizer(model: model, dict: dict)
        for source in sources(files) {
            let lines = try readLines(source)
            for start in stride(from: 0, to: lines.count, by: 2000) {   // blocks: huge inputs stream out in bounded memory
                let block = Array(lines[start..<min(start + 2000, lines.count)])
                try Tokenizer.checkSegmentingMemory(utf8Bytes: block.reduce(0) { $0 + $1.utf8.count })
                for cut in tokenizer.cutMany(block, threads: threads) { print(words(cut).joined(separator: separator)) }
            }
        }
    }
}

// The defaults of train-tokenizer's options are the engine's, and so are their docs.
private let (network, training) = (SegmenterConfig(), TokenizerTrainingOptions())
private typealias Network = SegmenterConfig
private typealias Training = TokenizerTrainingOptions

struct TrainTokenizer: Command, Threaded {
    static let configuration = CommandConfiguration(
        abstract: "Train a BiLSTM-CRF word segmenter on a segmented corpus (one sentence per line, words separated by spaces).")

    @Option(help: "Training corpus.") var train: String
    @Option(help: "Dev corpus (early stopping, learning-rate decay).") var dev: String
    @Option(help: "Where to write the best model.") var output: String
    @Option(help: Network.help("hidden_size")) var hiddenSize = network.hiddenSize
    @Option(help: Network.help("num_layers")) var layers = network.numLayers
    @Option(help: Network.help("char_dim")) var charDim = network.characterDim
    @Option(help: Network.help("bigram_dim")) var bigramDim = network.bigramDim
    @Option(help: "Dropout on the embeddings and on the LSTM's outputs in training.") var dropout = network.embeddingDropout
    @Option(help: Training.help("min_bigram_count")) var minBigramCount = training.minBigramCount
    @Option(help: Training.help("dictionary_max_length")) var dictionaryMaxLength = training.dictionaryMaxLength
    @Option(help: Training.help("dictionary_min_count")) var dictionaryMinCount = training.dictionaryMinCount
    @Option(help: "A general lexicon (one word per line, anything after a space or tab ignored): its words become features in training and segmenting, stored in the model.")
    var lexicon: String?
    @Option(help: "With --lexicon: its words of 2 up to this many characters are used.") var lexiconMaxLength = 5
    @Option(help: Training.help("unknown_bigram_rate")) var unknownBigramRate = training.unknownBigramRate
    @Option(help: Training.help("feature_dropout")) var featureDropout = training.featureDropout
    @Option(help: Training.help("label_smoothing")) var labelSmoothing = training.labelSmoothing
    @Option(help: Training.help("max_batches_per_epoch")) var maxBatches = training.maxBatchesPerEpoch
    @Option(help: Training.help("teacher")) var teacher: String?
    @Option(help: Training.help("unlabelled")) var unlabelled: String?
    @Option(help: Training.help("distill_weight")) var distillWeight = training.distillWeight
    @Option(help: Training.help("distill_temperature")) var distillTemperature = training.distillTemperature
    @Option(help: Training.help("distill_labelled_share")) var distillLabelledShare = training.distillLabelledShare
    @OptionGroup(title: "Training loop") var loop: Loop<TokenizerTrainingOptions>
    var threads: Int { loop.threads ?? training.threads }

    func execute() throws {
        try refuseOverwritingInputs([train, dev, teacher, unlabelled], output: output)
        var (config, options): (SegmenterConfig, TokenizerTrainingOptions) = (SegmenterConfig(), loop.options())
        set(&config, [\.hiddenSize: hiddenSize, \.numLayers: layers, \.characterDim: charDim, \.bigramDim: bigramDim])
        set(&config, [\.embeddingDropout: dropout, \.outputDropout: dropout])
        config.seed = options.seed
        set(&config, [\.cell: loop.cell])
        set(&options, [\.minBigramCount: minBigramCount, \.dictionaryMaxLength: dictionaryMaxLength, \.dictionaryMinCount: dictionaryMinCount,
                       \.lexiconMaxLength: lexicon == nil ? 0 : lexiconMaxLength, \.maxBatchesPerEpoch: maxBatches])
        set(&options, [\.unknownBigramRate: unknownBigramRate, \.featureDropout: featureDropout, \.labelSmoothing: labelSmoothing])
        set(&options, [\.distillWeight: distillWeight, \.distillTemperature: distillTemperature, \.distillLabelledShare: distillLabelledShare])
        set(&options, [\.teacher: teacher ?? "", \.unlabelled: unlabelled ?? ""])
        try check(config, options)   // the engine's rules, before reading the corpora
        let trainer = try TokenizerTrainer(train: try Corpus.readSegmented(train), dev: try Corpus.readSegmented(dev),
                                           lexicon: try lexicon.map(UserDictionary.read(path:)) ?? [], config: config, options: options)
        let best = try trainer.run(checkpointPath: try loop.start(trainer, output: output, inputs: [train, dev, teacher, unlabelled]),
                                   bestPath: output, log: progress)
        print("best dev F1 \(best); model written to \(output)")
    }
}

struct CombineTokenizers: Command {
    static let configuration = CommandConfiguration(
        abstract: "Join trained tokenizers into one ensemble model that averages their scores.",
        discussion: "The models must be trained on the same data with the same --min-bigram-count and lexicon; models with dictionary features must share the dictionary. Segmenting costs about the sum of the members' time.")

    @Argument(help: "Two or more tokenizer model files.") var models: [String]
    @Option(help: "Where to write the ensemble model.") var output: String

    func execute() throws {
        try refuseOverwritingInputs(models, output: output)
        let ensemble = try Tokenizer.ensemble(try models.map(Tokenizer.load(from:)))
        try ensemble.save(to: output)
        print("\(ensemble.networks.count) networks written to \(output)")
    }
}

struct EvalTokenizer: Command, Threaded {
    static let configuration = CommandConfiguration(
        abstract: "Score a tokenizer on a segmented corpus: P, R, F1, OOV rate, OOV recall, IV recall (by character spans).")

    @Argument(help: "Gold corpus: one sentence per line, words separated by spaces.") var gold: String
    @Option(help: tokenizerModelHelp) var model: String?
    @Option(help: "User dictionary.") var dict: String?
    @Option(help: "Words seen in training, one per line (for OOV figures).") var trainWords: String?
    @Option(help: "Write the predicted segmentation here.") var output: String?
    @Option(help: "Threads.") var threads = 2
    @Option(help: "Sentences per network batch.") var batchSize = 64

    func execute() throws {
        if let output { try refuseOverwritingInputs([gold, model, dict, trainWords], output: output) }
        let tokenizer = try loadTokenizer(model: model, dict: dict)
        guard batchSize >= 1 else { throw invalid("--batch-size must be >= 1") }
        tokenizer.batchSize = batchSize
        let sentences = try Corpus.readSegmented(gold)
        let known = Set(try trainWords.map { try Corpus.readLines($0).filter { !$0.isEmpty } } ?? [])
        let (cuts, seconds) = timed { tokenizer.cutMany(sentences.map { $0.joined() }, threads: threads) }
        let predicted = cuts.map(words)
        var score = SegmentationScore()
        for (g, p) in zip(sentences, predicted) { try score.add(gold: g, predicted: p, knownWords: known) }
        if let output {
            try FileIO.writeAtomically(Array((predicted.map { $0.joined(separator: " ") }.joined(separator: "\n") + "\n").utf8), to: output)
        }
        let chars = sentences.reduce(0) { $0 + $1.joined().count }
        print("\(sentences.count) sentences, \(chars) characters, \(Int(Double(chars) / seconds)) characters/s")
        print(score.summary)
    }
}
