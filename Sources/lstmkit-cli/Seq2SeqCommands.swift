import ArgumentParser
import LSTMKit

// train-seq2seq and translate: (source, target) pairs from TSV files, one text a line in
// and one translation a line out.

private let config = Seq2SeqConfig(), training = Seq2SeqTrainingOptions(), decoding = Seq2SeqDecoding()
private typealias Config = Seq2SeqConfig

extension Seq2SeqTrainingOptions: TrainingLoopOptions { static let trainsOn = "text pairs" }

/// The (source, target) pairs of a TSV file: each line a source, a tab, its target.
private func readPairs(_ path: String, option: String) throws -> (sources: [String], targets: [String]) {
    let pairs = try TextFile.pairs(try readLines(path), name: "\(option) \(path)", expected: "source TAB target")
    return (pairs.map(\.0), pairs.map(\.1))
}

struct TrainSeq2Seq: Command, Threaded {
    static let configuration = CommandConfiguration(
        commandName: "train-seq2seq",
        abstract: "Train a sequence-to-sequence model (encoder, attention, decoder) on text pairs.",
        discussion: "--train and --dev: UTF-8, a pair a line (source TAB target). Without --dev, a seeded "
            + "--validation-fraction of --train is held out for early stopping on its exact-match rate (greedy).")

    @Option(help: "Training pairs (TSV: source TAB target).") var train: String
    @Option(help: "Dev pairs for early stopping, as --train (default: held out of --train).") var dev: String?
    @Option(help: "Where to write the model.") var output: String
    @Option(help: Config.help("source_tokens")) var sourceTokens = config.sourceTokens.rawValue
    @Option(help: Config.help("target_tokens")) var targetTokens = config.targetTokens.rawValue
    @Option(help: Config.help("embedding_size")) var embeddingSize = config.embeddingSize
    @Option(help: Config.help("hidden_size")) var hiddenSize = config.hiddenSize
    @Option(help: Config.help("num_layers")) var layers = config.numLayers
    @Flag(help: "A forward-only encoder (default: bidirectional).") var unidirectional = false
    @Option(help: Config.help("score")) var score = config.score.rawValue
    @Option(help: Config.help("attention_size")) var attentionSize = config.attentionSize
    @Option(help: Config.help("self_attention_blocks")) var selfAttentionBlocks = config.selfAttentionBlocks
    @Option(help: Config.help("self_attention_heads")) var selfAttentionHeads = config.selfAttentionHeads
    @Flag(help: "Start the decoder from zeros instead of a bridge of the encoder's final states.") var noBridge = false
    @Option(help: Config.help("dropout")) var dropout = config.dropout
    @Option(help: Config.help("max_length_ratio")) var maxLengthRatio = config.maxLengthRatio
    @Option(help: Seq2SeqTrainingOptions.help("min_count")) var minCount = training.minCount
    @Option(help: Seq2SeqTrainingOptions.help("label_smoothing")) var labelSmoothing = training.labelSmoothing
    @Option(help: Seq2SeqTrainingOptions.help("validation_fraction")) var validationFraction = training.validationFraction
    @OptionGroup(title: "Training loop") var loop: Loop<Seq2SeqTrainingOptions>
    var threads: Int { loop.threads ?? training.threads }

    func execute() throws {
        try refuseOverwritingInputs([train, dev], output: output)
        var (c, options): (Config, Seq2SeqTrainingOptions) = (Config(), loop.options())
        set(&c, [\.cell: loop.cell])
        for (name, text) in [("source_tokens", sourceTokens), ("target_tokens", targetTokens), ("score", score)] {
            try Config.hyperParameter(name)!.set(text, in: &c, as: "--" + String(name.map { $0 == "_" ? "-" : $0 }))
        }
        (c.embeddingSize, c.hiddenSize, c.numLayers, c.bidirectional) = (embeddingSize, hiddenSize, layers, !unidirectional)
        (c.selfAttentionBlocks, c.selfAttentionHeads) = (selfAttentionBlocks, selfAttentionHeads)
        (c.attentionSize, c.bridge, c.dropout, c.maxLengthRatio, c.seed) = (attentionSize, !noBridge, dropout, maxLengthRatio, options.seed)
        (options.minCount, options.labelSmoothing, options.validationFraction) = (minCount, labelSmoothing, validationFraction)
        try check(c, options)   // the engine's rules, before reading the data
        let (pairs, devPairs) = (try readPairs(train, option: "--train"), try dev.map { try readPairs($0, option: "--dev") })
        let trainer = try Seq2SeqTrainer(sources: pairs.sources, targets: pairs.targets, dev: devPairs, config: c, options: options)
        let best = try trainer.run(checkpointPath: try loop.start(trainer, output: output, inputs: [train, dev]), log: progress)
        try trainer.model.save(to: output)
        print("best dev \(best.summary); model written to \(output)")
    }
}

struct Translate: Command, Threaded {
    static let configuration = CommandConfiguration(
        abstract: "Translate text with a seq2seq model: one line in, one line out.",
        discussion: "An empty line (no token) gives one empty line; symbols the model never saw are its unknown "
            + "token. With --n-best K > 1 each line gives K: rank, score and translation, tab-separated, best first.")

    @Argument(help: "UTF-8 text, one source a line (default: standard input).") var file: String?
    @Option(help: "Seq2seq model file.") var model: String
    @Option(name: [.customLong("beam"), .customLong("beam-size")], help: Seq2SeqDecoding.help("beam_size"))
    var beamSize = decoding.beamSize
    @Option(help: Seq2SeqDecoding.help("n_best")) var nBest = decoding.nBest
    @Option(help: Seq2SeqDecoding.help("length_penalty")) var lengthPenalty = decoding.lengthPenalty
    @Option(help: Seq2SeqDecoding.help("max_length_ratio")) var maxLengthRatio = decoding.maxLengthRatio
    @Option(help: "Write the attention of the first line's best translation as a PNG heat map (rows: output tokens, columns: input tokens; black is 1).")
    var attentionPng: String?
    @Option(help: "Threads.") var threads = 2

    func execute() throws {
        let d = Seq2SeqDecoding(beamSize: beamSize, nBest: nBest, lengthPenalty: lengthPenalty, maxLengthRatio: maxLengthRatio)
        try check(d, d)   // the engine's rules (one table, so passed as both), naming the options
        let m = try Seq2Seq.load(from: model)
        let source = file ?? "-"
        if let attentionPng { try refuseOverwritingInputs([model, source], output: attentionPng, option: "--attention-png") }
        let out = try translateLines(m, try readLines(source), d, threads: threads)
        for translations in out {
            if nBest == 1 || translations.isEmpty { print(translations.first?.text ?? ""); continue }
            for (rank, t) in translations.enumerated() { print("\(rank + 1)\t\(formatted(t.score, digits: 4))\t\(t.text)") }
        }
        if let attentionPng {
            guard let best = out.first?.first, !best.attention.isEmpty else { throw invalid("--attention-png: the first line has no translation to draw") }
            try PNG.write(try PNGImage.heatMap(best.attention), to: attentionPng)
        }
    }
}

/// Each line's translations; none for a line without a source token (an empty line).
func translateLines(_ m: Seq2Seq, _ lines: [String], _ d: Seq2SeqDecoding, threads: Int) throws -> [[Seq2SeqTranslation]] {
    let kept = lines.indices.filter { !m.source.split(lines[$0]).isEmpty }
    var out = [[Seq2SeqTranslation]](repeating: [], count: lines.count)
    for (i, t) in zip(kept, try m.translate(kept.map { lines[$0] }, decoding: d, threads: threads)) { out[i] = t }
    return out
}
