import CLSTMKitHeader
import LSTMKit

/// Seq2Seq has no C config struct: every setting goes by name (lk_train_options), so its
/// C config is the engine's settings themselves, which get_config's text writes whole.
typealias Seq2SeqSettings = Settings<Seq2SeqConfig, Seq2SeqTrainingOptions>

extension Seq2Seq: CModel {
    static let argumentName = "model"
    var cConfig: Seq2SeqSettings { Settings(model: config, options: seq2seqConfig.defaults.options) }
    var settings: (any HyperParameterized)? { config }
}

/// The settings the engine's tables lack (flags and the seed), by name.
let seq2seqConfig = CConfigTable<Seq2SeqSettings, Seq2SeqConfig, Seq2SeqTrainingOptions>(
    empty: .init(model: .init(), options: .init()), defaults: .init(model: .init(), options: .init()), fields: [
    .bool("bidirectional", \.model.bidirectional, \.model.bidirectional), .bool("bridge", \.model.bridge, \.model.bridge),
    .same("seed", \.model.seed, \.model.seed, also: \.options.seed),
])

@_cdecl("lk_seq2seq_decoding_default")
public func lk_seq2seq_decoding_default() -> lk_seq2seq_decoding {
    let d = Seq2SeqDecoding()
    return lk_seq2seq_decoding(beam_size: Int32(d.beamSize), n_best: Int32(d.nBest), length_penalty: d.lengthPenalty,
                               max_length_ratio: d.maxLengthRatio)
}

@_cdecl("lk_seq2seq_train")
public func lk_seq2seq_train(_ sources: CStrings?, _ targets: CStrings?, _ n: Int, _ devSources: CStrings?, _ devTargets: CStrings?,
                             _ nDev: Int, _ options: OpaquePointer?, _ progress: lk_progress_fn?,
                             _ userData: UnsafeMutableRawPointer?, _ out: HandleOut?) -> lk_status {
    guarded {
        let (s, run) = try seq2seqConfig.decode(seq2seqConfig.defaultConfig, options)
        let out = try required(out, "out")
        let n = try examples(n, "n", "training"), nDev = try size(nDev, "n_dev")
        let (x, y) = (try strings(sources, n, "sources"), try strings(targets, n, "targets"))
        let dev = nDev == 0 ? nil : (sources: try strings(devSources, nDev, "dev_sources"),
                                     targets: try strings(devTargets, nDev, "dev_targets"))
        let trainer = try Seq2SeqTrainer(sources: x, targets: y, dev: dev, config: s.model, options: s.options)
        let log = progressLines(progress, userData)
        try run.start(trainer, log)
        try trainer.run(checkpointPath: run.checkpoint, log: log)
        publish(trainer.model, to: out)
    }
}

/// The engine's decoding options from the caller's struct (the engine checks the values).
private func translations(_ model: Seq2Seq, _ texts: [String], _ decoding: UnsafePointer<lk_seq2seq_decoding>?,
                          _ threads: Int32) throws -> (decoding: Seq2SeqDecoding, out: [[Seq2SeqTranslation]]) {
    let c = try required(decoding, "decoding").pointee
    let d = Seq2SeqDecoding(beamSize: Int(c.beam_size), nBest: Int(c.n_best), lengthPenalty: c.length_penalty,
                            maxLengthRatio: c.max_length_ratio)
    return (d, try model.translate(texts, decoding: d, threads: try threadCount(threads)))
}

@_cdecl("lk_seq2seq_translate")
public func lk_seq2seq_translate(_ model: OpaquePointer?, _ texts: CStrings?, _ n: Int,
                                 _ decoding: UnsafePointer<lk_seq2seq_decoding>?, _ threads: Int32,
                                 _ text: Out<CChar>?, _ capacity: Int, _ size: Out<Int>?,
                                 _ offsets: Out<Int>?, _ scores: Out<Float>?, _ count: Int) -> lk_status {
    guarded(model, Seq2Seq.self) { h in
        let n = try LSTMKitC.size(n, "n")
        let (d, out) = try translations(h.model, try strings(texts, n, "texts"), decoding, threads)
        let needed = try LSTMKitC.count(count, "count", is: [n, d.nBest], "n * n_best")
        // Fewer hypotheses than n_best (a short beam): "" scored -infinity.
        let rows = out.flatMap { $0.map { ($0.text, $0.score) } + Array(repeating: ("", -Float.infinity), count: d.nBest - $0.count) }
        var starts: [Int] = [], at = 0
        for (t, _) in rows { starts.append(at); at += t.utf8.count + 1 }
        try copyText(rows.map { $0.0 }.joined(separator: "\0"), to: text, "text", capacity: capacity, size: size, "the translations")
        if needed == 0 { return }
        try copyOut(starts, to: try required(offsets, "offsets"), count: needed, "offsets")
        try copyOut(rows.map { $0.1 }, to: try required(scores, "scores"), count: needed, "scores")
    }
}

@_cdecl("lk_seq2seq_attention")
public func lk_seq2seq_attention(_ model: OpaquePointer?, _ source: CString?, _ decoding: UnsafePointer<lk_seq2seq_decoding>?,
                                 _ rank: Int32, _ weights: Out<Float>?, _ weightsCapacity: Int, _ rows: Out<Int>?,
                                 _ columns: Out<Int>?, _ tokens: Out<CChar>?, _ tokensCapacity: Int, _ tokensSize: Out<Int>?) -> lk_status {
    guarded(model, Seq2Seq.self) { h in
        let text = try string(source, "text")
        let (d, out) = try translations(h.model, [text], decoding, 1)
        guard rank >= 0, Int(rank) < out[0].count else {
            throw invalid("rank must be in [0, \(out[0].count)) (n_best \(d.nBest)), got \(rank)")
        }
        let t = out[0][Int(rank)], sourceTokens = h.model.source.split(text)
        let (r, c) = (try required(rows, "rows"), try required(columns, "columns"))
        (r.pointee, c.pointee) = (t.attention.count, sourceTokens.count)
        try copyText((t.tokens + sourceTokens).joined(separator: "\0"), to: tokens, "tokens",
                     capacity: tokensCapacity, size: tokensSize, "the tokens")
        if weights == nil && weightsCapacity == 0 { return }
        let needed = t.attention.count * sourceTokens.count
        guard try LSTMKitC.size(weightsCapacity, "weights_capacity") >= needed else {
            throw ABIError(status: LK_STATUS_BUFFER_TOO_SMALL, message: "the weights need weights_capacity >= \(needed), got \(weightsCapacity)")
        }
        try copyOut(t.attention.flatMap { $0 }, to: try required(weights, "weights"), count: needed, "weights")
    }
}

@_cdecl("lk_heat_map_png")
public func lk_heat_map_png(_ weights: UnsafePointer<Float>?, _ rows: Int, _ columns: Int, _ path: CString?) -> lk_status {
    guarded {
        let (r, c, path) = (try size(rows, "rows"), try size(columns, "columns"), try string(path, "path"))
        let w = UnsafeBufferPointer(start: try required(weights, "weights"), count: try Memory.check([r, c], for: "the weights"))
        try PNG.write(try PNGImage.heatMap((0..<r).map { Array(w[$0 * c..<($0 + 1) * c]) }), to: path)
    }
}
