import CLSTMKitHeader
import LSTMKit

extension SequenceClassifier: CModel {
    static let argumentName = "classifier"
    var lentStrings: [String] { labels }
    var cConfig: lk_sequence_classifier_train_config { sequenceClassifierConfig.encode(config) }
    var settings: (any HyperParameterized)? { config }
}

/// The C config's fields; the cell travels by name (lk_train_options), as for every model.
let sequenceClassifierConfig = CConfigTable<lk_sequence_classifier_train_config, SequenceClassifierConfig, SequenceClassifierTrainingOptions>(
    empty: .init(), defaults: .init(model: .init(), options: .init()), fields: [
    .int("hidden_size", \.hidden_size, \.model.hiddenSize),
    .int("num_layers", \.num_layers, \.model.numLayers),
    .flag("bidirectional", \.bidirectional, \.model.bidirectional),
    .choice(poolings, \.pooling, \.model.pooling),
    .int("attention_size", \.attention_size, \.model.attentionSize),
    .flag("layer_norm", \.layer_norm, \.model.layerNorm),
    .same("dropout", \.dropout, \.model.dropout),
    .value("mask_missing", \.mask_missing, \.model.missing, .flag, read: { v in
        guard v == 0 || v == 1 else { throw invalid("mask_missing must be 0 or 1, got \(v)") }
        return v == 1 ? .mask : .refuse
    }, write: { $0 == .mask ? 1 : 0 }),
    .int("patch_length", \.patch_length, \.model.patchLength),
    .int("members", \.members, \.model.members),
    .same("validation_fraction", \.validation_fraction, \.options.validationFraction),
    .same("seed", \.seed, \.model.seed, also: \.options.seed),
], loop: CField.loopWithDecay())

/// The caller's lk_sequences, checked (pointers and counts here, values by the engine);
/// `name` names the argument in messages.
func sequences(_ x: UnsafePointer<lk_sequences>?, _ name: String, missing: MissingValues) throws -> Sequences {
    let s = try required(x, name).pointee
    let (n, steps, channels) = (try size(s.n, "\(name)->n"), try size(s.steps, "\(name)->steps"), try size(s.channels, "\(name)->channels"))
    guard channels >= 1 else { throw invalid("\(name)->channels must be >= 1, got 0") }
    let total = try count(s.count, "\(name)->count", is: [n, steps, channels], "n * steps * channels")
    guard n > 0 else { return try Sequences(values: [], lengths: [], channels: channels) }   // the engine's "no sequences"
    // The copy and the engine's packed sequences made from it.
    try Memory.check([2, total], for: "a copy of the \(total) values of \(name)")
    let values = Array(UnsafeBufferPointer(start: try required(s.values, "\(name)->values"), count: total))
    let lengths = s.lengths.map { Array(UnsafeBufferPointer(start: $0, count: n)).map(Int.init) }
    return try Sequences(padded: values, count: n, steps: steps, channels: channels, lengths: lengths, missing: missing)
}

@_cdecl("lk_sequence_classifier_train_config_default")
public func lk_sequence_classifier_train_config_default() -> lk_sequence_classifier_train_config {
    sequenceClassifierConfig.defaultConfig
}

/// predict and attention: (n, width) floats per the model, into the caller's buffer.
private func infer(_ classifier: OpaquePointer?, _ x: UnsafePointer<lk_sequences>?, _ threads: Int32, _ out: Out<Float>?,
                   _ outCount: Int, _ outName: String, attention: Bool) -> lk_status {
    guarded(classifier, SequenceClassifier.self) { h in
        let threads = try threadCount(threads)
        let p = try required(x, "x").pointee
        let width = attention ? try size(p.steps, "x->steps") : h.strings.count
        let needed = try count(outCount, "\(outName)_count", is: [try size(p.n, "x->n"), width],
                               attention ? "n * steps" : "n * num_classes")
        if attention && !h.model.config.pooling.weighsSteps {
            throw invalid("this model pools by \(h.model.config.pooling.rawValue): no attention weights; train with attention pooling")
        }
        if p.n == 0 { return }
        let out = try required(out, outName)
        let data = try sequences(x, "x", missing: h.model.config.missing)
        let (probabilities, weights) = try h.model.predictWithAttention(data, threads: threads)
        let rows = attention ? weights!.map { $0 + [Float](repeating: 0, count: width - $0.count) } : probabilities
        try copyOut(rows.flatMap { $0 }, to: out, count: needed, outName)
    }
}

@_cdecl("lk_sequence_classifier_predict")
public func lk_sequence_classifier_predict(_ classifier: OpaquePointer?, _ x: UnsafePointer<lk_sequences>?, _ threads: Int32,
                                           _ probabilities: Out<Float>?, _ probabilitiesCount: Int) -> lk_status {
    infer(classifier, x, threads, probabilities, probabilitiesCount, "probabilities", attention: false)
}

@_cdecl("lk_sequence_classifier_attention")
public func lk_sequence_classifier_attention(_ classifier: OpaquePointer?, _ x: UnsafePointer<lk_sequences>?, _ threads: Int32,
                                             _ weights: Out<Float>?, _ weightsCount: Int) -> lk_status {
    infer(classifier, x, threads, weights, weightsCount, "weights", attention: true)
}

@_cdecl("lk_sequence_classifier_train")
public func lk_sequence_classifier_train(_ train: UnsafePointer<lk_sequences>?, _ trainLabels: CStrings?,
                                         _ dev: UnsafePointer<lk_sequences>?, _ devLabels: CStrings?,
                                         _ config: UnsafePointer<lk_sequence_classifier_train_config>?,
                                         _ progress: lk_progress_fn?, _ userData: UnsafeMutableRawPointer?,
                                         _ out: HandleOut?) -> lk_status {
    lk_sequence_classifier_train_ex(train, trainLabels, dev, devLabels, config, nil, progress, userData, out)
}

@_cdecl("lk_sequence_classifier_train_ex")
public func lk_sequence_classifier_train_ex(_ train: UnsafePointer<lk_sequences>?, _ trainLabels: CStrings?,
                                            _ dev: UnsafePointer<lk_sequences>?, _ devLabels: CStrings?,
                                            _ config: UnsafePointer<lk_sequence_classifier_train_config>?, _ options: OpaquePointer?,
                                            _ progress: lk_progress_fn?, _ userData: UnsafeMutableRawPointer?,
                                            _ out: HandleOut?) -> lk_status {
    guarded {
        let (s, run) = try sequenceClassifierConfig.decode(try required(config, "config").pointee, options)
        if run.checkpoint != nil { throw invalid("the sequence classifier takes no checkpoint_path (its members train in turn)") }
        let out = try required(out, "out")
        try s.model.validate()
        try s.options.validate()
        let x = try sequences(train, "train", missing: s.model.missing)
        let y = try strings(trainLabels, x.count, "train_labels")
        let devData = try dev.flatMap { d -> (Sequences, [String])? in
            guard d.pointee.n > 0 else { return nil }
            let data = try sequences(d, "dev", missing: s.model.missing)
            return (data, try strings(devLabels, data.count, "dev_labels"))
        }
        let trainer = try SequenceClassifierTrainer(train: x, labels: y, dev: devData, config: s.model, options: s.options)
        try trainer.run(log: progressLines(progress, userData))
        publish(trainer.classifier, to: out)
    }
}
