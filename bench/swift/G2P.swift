// lstmkit-bench g2p: the LSTMKit side of bench/g2p_bench.py, through the public Swift API
// (Seq2SeqTrainer, Seq2Seq.translate), as a Swift user would train and run a G2P model.
//
//   lstmkit-bench g2p train <train.tsv> <dev.tsv> <model.safetensors> <threads> [name=value ...]
//     Trains a Seq2Seq on source<TAB>target pairs (characters → words unless set), the
//     dev pairs choosing the epoch; name=value sets any entry of Seq2SeqConfig's or
//     Seq2SeqTrainingOptions' table (e.g. time_limit=5400 hidden_size=256). Progress
//     lines on stderr; saves the best model; prints one JSON object. init=MODEL starts
//     from that model's weights.
//   lstmkit-bench g2p decode <model.safetensors> <words.tsv> <threads> [name=value ...]
//     Translates the first column of every line (`batch_size` sources per batch,
//     default 64, on <threads> threads) with Seq2SeqDecoding's entries (beam_size, n_best,
//     length_penalty, max_length_ratio) and prints one JSON object: the timing and
//     every word's best output.
import LSTMKit
#if canImport(Glibc)
import Glibc
#endif

/// name=value arguments into whichever table holds the name; throws on an unknown one.
private func apply(_ settings: [String], _ set: (String, String) throws -> Bool) throws {
    for s in settings {
        guard let eq = s.firstIndex(of: "=") else { throw LSTMKitError.invalidArgument("expected name=value, got \"\(s)\"") }
        let (name, value) = (String(s[..<eq]), String(s[s.index(after: eq)...]))
        guard try set(name, value) else { throw LSTMKitError.invalidArgument("unknown setting \"\(name)\"") }
    }
}

private func setting<T: HyperParameterized>(_ name: String, _ value: String, in root: inout T) throws -> Bool {
    guard let p = T.hyperParameter(name) else { return false }
    try p.set(value, in: &root)
    return true
}

/// The tab-separated columns of every non-empty line.
private func readTSV(_ path: String) throws -> [[String]] {
    try Corpus.readLines(path).filter { !$0.isEmpty }.map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
}

private func pairs(_ path: String) throws -> (sources: [String], targets: [String]) {
    let rows = try readTSV(path)
    if let bad = rows.firstIndex(where: { $0.count < 2 }) {
        throw LSTMKitError.invalidArgument("\(path): line \(bad + 1) has no tab-separated target")
    }
    return (rows.map { $0[0] }, rows.map { $0[1] })
}

/// init=MODEL: training starts from a saved model's weights (one of the same config and
/// training data, so the same vocabularies), for bench/g2p_denormals.py.
private func startFrom(_ path: String, _ model: Seq2Seq) throws {
    let saved = try Seq2Seq.load(from: path)
    let (to, from) = (model.namedParameters, saved.namedParameters)
    guard to.map(\.name) == from.map(\.name),
          zip(to, from).allSatisfy({ $0.parameter.shape == $1.parameter.shape }) else {
        throw LSTMKitError.invalidArgument("\(path): not a model of this configuration and data")
    }
    for (p, q) in zip(to, from) { p.parameter.value = q.parameter.value }
}

func runG2P(_ args: [String]) throws {
    let usage = "usage: lstmkit-bench g2p train <train.tsv> <dev.tsv> <model> <threads> [name=value ...]\n"
        + "       lstmkit-bench g2p decode <model> <words.tsv> <threads> [name=value ...]"
    // The thread count follows the paths: train has three, decode two.
    let at = args.first == "train" ? 4 : 3
    guard args.count > at, let threads = Int(args[at]), threads >= 1 else { fail(usage) }
    BLAS.numThreads = threads
    let settings = Array(args.dropFirst(at + 1))
    switch args[0] {
    case "train":
        var config = Seq2SeqConfig()
        config.targetTokens = .words
        var options = Seq2SeqTrainingOptions()
        options.loop.threads = threads
        var initial: String?
        try apply(settings) { name, value in
            if name == "init" {
                initial = value
                return true
            }
            return try setting(name, value, in: &config) || setting(name, value, in: &options)
        }
        let (train, dev) = (try pairs(args[1]), try pairs(args[2]))
        let t0 = now()
        let trainer = try Seq2SeqTrainer(sources: train.sources, targets: train.targets, dev: dev, config: config, options: options)
        if let initial { try startFrom(initial, trainer.model) }
        let best = try trainer.run { fputs($0 + "\n", stderr) }
        let seconds = now() - t0
        try trainer.model.save(to: args[3])
        print(JSONValue.object([
            ("engine", .string("lstmkit")), ("threads", .number(Double(threads))), ("train_seconds", .number(seconds)),
            ("epochs", .number(Double(trainer.loop.epoch))), ("parameters", .number(Double(trainer.model.parameterCount))),
            ("dev_exact_match", .number(best.exactMatch)), ("dev_token_accuracy", .number(best.tokenAccuracy)),
            ("model", .string(args[3])),
        ]).serialized)
    case "decode":
        var decoding = Seq2SeqDecoding.greedy
        var batchSize = 64
        try apply(settings) { name, value in
            if name == "batch_size" {
                guard let b = Int(value), b >= 1 else { throw LSTMKitError.invalidArgument("batch_size must be a positive integer") }
                batchSize = b
                return true
            }
            return try setting(name, value, in: &decoding)
        }
        let model = try Seq2Seq.load(from: args[1])
        let words = try readTSV(args[2]).map { $0[0] }
        let t0 = now()
        let out = try model.translate(words, decoding: decoding, threads: threads, batchSize: batchSize)
        let seconds = now() - t0
        print(JSONValue.object([
            ("engine", .string("lstmkit")), ("threads", .number(Double(threads))), ("beam_size", .number(Double(decoding.beamSize))),
            ("length_penalty", .number(Double(decoding.lengthPenalty))), ("batch_size", .number(Double(batchSize))),
            ("words", .number(Double(words.count))), ("seconds", .number(seconds)),
            ("words_per_second", .number(Double(words.count) / max(seconds, 1e-9))),
            ("predictions", .array(out.map { .string($0.first?.text ?? "") })),
        ]).serialized)
    default:
        fail(usage)
    }
}
