import ArgumentParser
import LSTMKit

#if canImport(Glibc)
import Glibc
#endif

/// Where the shipped default model is looked for, in order: $LSTMKIT_TOKENIZER_MODEL;
/// beside the executable's package checkout (swift run, .build/<config>/lstmkit-cli);
/// the C package's PREFIX/share/lstmkit beside PREFIX/bin/lstmkit; ./models.
func defaultTokenizerPath() throws -> String {
    var candidates: [String] = []
    if let env = getenv("LSTMKIT_TOKENIZER_MODEL") { candidates.append(String(cString: env)) }
    var dir = executableDirectory()
    for _ in 0..<4 {
        candidates.append(dir + "/models/tokenizer-pku.safetensors")
        candidates.append(dir + "/lstmkit_models/tokenizer-pku.safetensors")
        dir += "/.."
    }
    candidates.append(executableDirectory() + "/../share/lstmkit/tokenizer-pku.safetensors")
    candidates.append("models/tokenizer-pku.safetensors")
    for c in candidates where access(c, R_OK) == 0 { return c }
    throw LSTMKitError.io("no default tokenizer model found (looked for models/tokenizer-pku.safetensors); pass --model PATH or set LSTMKIT_TOKENIZER_MODEL")
}

/// The directory of the running executable (from /proc/self/exe, so a tool found
/// through PATH knows where it lives), or of argv[0] where /proc is missing.
func executableDirectory() -> String {
    var buffer = [CChar](repeating: 0, count: 4097)
    let n = readlink("/proc/self/exe", &buffer, 4096)
    let path = n > 0 ? String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

/// The tokenizer of `--model` (default: the bundled one) with the words of `--dict`.
func loadTokenizer(model: String?, dict: String?) throws -> Tokenizer {
    let tokenizer = try Tokenizer.load(from: try model ?? defaultTokenizerPath())
    if let dict { try tokenizer.loadDictionary(path: dict) }
    return tokenizer
}

struct Segment: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Segment Chinese text into words: one output line of space-separated words per input line.")

    @Argument(help: "Input files (UTF-8). Reads standard input when none are given.")
    var files: [String] = []
    @Option(help: "Tokenizer model file (default: the bundled model).") var model: String?
    @Option(help: "User dictionary: one word per line; these words always come out whole.") var dict: String?
    @Option(help: "Threads.") var threads = 2
    @Option(help: "Word separator in the output.") var separator = " "

    func run() throws {
        try LSTMKitCLI.reportingErrors(threads: threads) {
            let tokenizer = try loadTokenizer(model: model, dict: dict)
            let sources = files.isEmpty ? ["-"] : files
            for source in sources {
                let bytes = source == "-" ? readAllStandardInput() : try FileIO.read(source)
                guard let text = String(validating: bytes, as: UTF8.self) else {
                    throw LSTMKitError.invalidArgument("\(source == "-" ? "standard input" : source) is not valid UTF-8 (at byte \(firstInvalidUTF8(bytes)))")
                }
                let lines = Corpus.lines(of: text)
                // Segment in blocks so huge inputs stream out with bounded memory.
                for start in stride(from: 0, to: lines.count, by: 2000) {
                    let block = Array(lines[start..<min(start + 2000, lines.count)])
                    for words in tokenizer.cutMany(block, threads: threads) {
                        print(words.filter { !$0.allSatisfy(\.isWhitespace) }.joined(separator: separator))
                    }
                }
            }
        }
    }
}

// The defaults of train-tokenizer's options are the engine's (one definition).
private let trainingDefaults = TokenizerTrainingOptions()
private let networkDefaults = SegmenterConfig()

struct TrainTokenizer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-tokenizer",
        abstract: "Train a BiLSTM-CRF word segmenter on a segmented corpus (one sentence per line, words separated by spaces).")

    @Option(help: "Training corpus.") var train: String
    @Option(help: "Dev corpus (early stopping, learning-rate decay).") var dev: String
    @Option(help: "Where to write the best model.") var output: String
    @Option(help: "Checkpoint written after every epoch (default: OUTPUT.checkpoint).") var checkpoint: String?
    @Flag(help: "Continue from the checkpoint.") var resume = false
    @Option var epochs = trainingDefaults.epochs
    @Option(name: .customLong("batch-size")) var batchSize = trainingDefaults.batchSize
    @Option(name: .customLong("learning-rate")) var learningRate = trainingDefaults.learningRate
    @Option(name: .customLong("hidden-size")) var hiddenSize = networkDefaults.hiddenSize
    @Option(name: .customLong("layers")) var numLayers = networkDefaults.numLayers
    @Option(name: .customLong("char-dim")) var characterDim = networkDefaults.characterDim
    @Option(name: .customLong("bigram-dim")) var bigramDim = networkDefaults.bigramDim
    @Option(name: .customLong("min-bigram-count")) var minBigramCount = trainingDefaults.minBigramCount
    @Option(name: .customLong("dictionary-max-length"), help: "Dictionary features from training words up to this length (0: off).") var dictionaryMaxLength = trainingDefaults.dictionaryMaxLength
    @Option(name: .customLong("dictionary-min-count"), help: "Training sentences see the training words seen at least this many times as their dictionary (segmenting uses every training word).") var dictionaryMinCount = trainingDefaults.dictionaryMinCount
    @Option(help: "A general lexicon (one word per line, anything after a space or tab ignored): its words become features in training and segmenting, stored in the model.") var lexicon: String?
    @Option(name: .customLong("lexicon-max-length"), help: "Lexicon words of 2 up to this many characters are used.") var lexiconMaxLength = 5
    @Option var dropout = networkDefaults.embeddingDropout
    @Option(name: .customLong("unknown-bigram-rate"), help: "Training: probability of replacing a bigram by 'unknown'.") var unknownBigramRate = trainingDefaults.unknownBigramRate
    @Option(name: .customLong("feature-dropout"), help: "Training: probability of dropping a piece's dictionary features.") var featureDropout = trainingDefaults.featureDropout
    @Option(name: .customLong("label-smoothing")) var labelSmoothing = trainingDefaults.labelSmoothing
    @Option(name: .customLong("average-decay"), help: "> 0: score and keep a moving average of the weights with this decay per step, e.g. 0.999 (0: off).") var averageDecay = trainingDefaults.averageDecay
    @Option var patience = trainingDefaults.patience
    @Option var seed = trainingDefaults.seed
    @Option var threads = trainingDefaults.threads
    @Option(name: .customLong("max-batches"), help: "Batches per epoch at most (0: all); for quick trials.") var maxBatches = trainingDefaults.maxBatchesPerEpoch

    func run() throws {
        try LSTMKitCLI.reportingErrors(threads: threads) {
            try refuseOverwritingInputs([train, dev], output: output)
            if let checkpoint { try refuseOverwritingInputs([train, dev, output], output: checkpoint, option: "--checkpoint") }
            var config = SegmenterConfig()
            config.characterDim = characterDim
            config.bigramDim = bigramDim
            config.hiddenSize = hiddenSize
            config.numLayers = numLayers
            config.embeddingDropout = dropout
            config.outputDropout = dropout
            config.seed = seed
            var options = TokenizerTrainingOptions()
            options.epochs = epochs
            options.batchSize = batchSize
            options.learningRate = learningRate
            options.minBigramCount = minBigramCount
            options.dictionaryMaxLength = dictionaryMaxLength
            options.dictionaryMinCount = dictionaryMinCount
            options.lexiconMaxLength = lexicon == nil ? 0 : lexiconMaxLength
            options.unknownBigramRate = unknownBigramRate
            options.featureDropout = featureDropout
            options.labelSmoothing = labelSmoothing
            options.averageDecay = averageDecay
            options.patience = patience
            options.seed = seed
            options.threads = threads
            options.maxBatchesPerEpoch = maxBatches
            try config.validate()   // the engine's rules, before reading the corpora
            try options.validate()
            let trainer = try TokenizerTrainer(train: try Corpus.readSegmented(train), dev: try Corpus.readSegmented(dev),
                                               lexicon: try lexicon.map(UserDictionary.read(path:)) ?? [],
                                               config: config, options: options)
            let checkpointPath = checkpoint ?? output + ".checkpoint"
            if resume {
                try trainer.resume(from: checkpointPath)
                print("resumed from \(checkpointPath) after epoch \(trainer.epoch)")
            }
            let best = try trainer.run(checkpointPath: checkpointPath, bestPath: output) { line in
                print(line)
                fflush(stdout)
            }
            print("best dev F1 \(best); model written to \(output)")
        }
    }
}

struct CombineTokenizers: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "combine-tokenizers",
        abstract: "Join trained tokenizers into one ensemble model that averages their scores.",
        discussion: "The models must be trained on the same data with the same --min-bigram-count and lexicon; models with dictionary features must share the dictionary. Segmenting costs about the sum of the members' time.")

    @Argument(help: "Two or more tokenizer model files.") var models: [String]
    @Option(help: "Where to write the ensemble model.") var output: String

    func run() throws {
        try LSTMKitCLI.reportingErrors {
            try refuseOverwritingInputs(models, output: output)
            let ensemble = try Tokenizer.ensemble(try models.map(Tokenizer.load(from:)))
            try ensemble.save(to: output)
            print("\(ensemble.networks.count) networks written to \(output)")
        }
    }
}

struct EvalTokenizer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-tokenizer",
        abstract: "Score a tokenizer on a segmented corpus: P, R, F1, OOV rate, OOV recall, IV recall (by character spans).")

    @Argument(help: "Gold corpus: one sentence per line, words separated by spaces.") var gold: String
    @Option(help: "Tokenizer model file (default: the bundled model).") var model: String?
    @Option(help: "User dictionary.") var dict: String?
    @Option(name: .customLong("train-words"), help: "Words seen in training, one per line (for OOV figures).") var trainWords: String?
    @Option(help: "Write the predicted segmentation here.") var output: String?
    @Option var threads = 2
    @Option(name: .customLong("batch-size"), help: "Sentences per network batch.") var batchSize = 64

    func run() throws {
        try LSTMKitCLI.reportingErrors(threads: threads) {
            if let output { try refuseOverwritingInputs([gold, model, dict, trainWords], output: output) }
            let tokenizer = try loadTokenizer(model: model, dict: dict)
            guard batchSize >= 1 else { throw LSTMKitError.invalidArgument("--batch-size must be >= 1") }
            tokenizer.batchSize = batchSize
            let sentences = try Corpus.readSegmented(gold)
            let known = Set(try trainWords.map { try Corpus.readLines($0).filter { !$0.isEmpty } } ?? [])
            let start = now()
            let predicted = tokenizer.cutMany(sentences.map { $0.joined() }, threads: threads)
            let seconds = max(now() - start, 1e-9)
            var score = SegmentationScore()
            var lines: [String] = []
            for (g, p) in zip(sentences, predicted) {
                let words = p.filter { !$0.allSatisfy(\.isWhitespace) }
                try score.add(gold: g, predicted: words, knownWords: known)
                lines.append(words.joined(separator: " "))
            }
            if let output { try FileIO.writeAtomically(Array((lines.joined(separator: "\n") + "\n").utf8), to: output) }
            let chars = sentences.reduce(0) { $0 + $1.joined().count }
            print("\(sentences.count) sentences, \(chars) characters, \(Int(Double(chars) / seconds)) characters/s")
            print(score.summary)
        }
    }
}

func readAllStandardInput() -> [UInt8] {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = read(0, &buffer, buffer.count)
        if n <= 0 { break }
        bytes += buffer[0..<n]
    }
    return bytes
}

func firstInvalidUTF8(_ bytes: [UInt8]) -> Int {
    var it = bytes.makeIterator()
    var decoder = UTF8()
    var offset = 0
    while true {
        switch decoder.decode(&it) {
        case .scalarValue(let s): offset += UTF8.width(s)
        case .emptyInput, .error: return offset
        }
    }
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
