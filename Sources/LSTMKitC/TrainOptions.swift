import CLSTMKitHeader
import LSTMKit

// lk_train_options: training settings by name, for every model's lk_<model>_train_ex.
// The names are the engine's (its HyperParameterized tables: the model's config and
// training options, the loop's TrainerOptions) plus two that say how to run, and each
// value is text the table's entry parses and checks. One mechanism for every model: a
// model's train_ex decodes its C config as before and then applies the options by name
// (`CConfigTable.decode(_:_:)`), so a setting its struct lacks (the schedule, weight
// averaging, the cell) needs no new C field.

/// The names that are no engine field: they say how training runs.
private let checkpointKey = "checkpoint_path", resumeKey = "resume"

/// Every model's config table, under the name of its C prefix, for lk_train_options_set to
/// know a name before the model is, and for lk_train_config_default_text: a new model
/// adds its table here.
private let settingTables: [(model: String, table: any SettingsByName)] = [
    ("tokenizer", tokenizerConfig), ("text_classifier", textClassifierConfig), ("image_classifier", imageClassifierConfig),
    ("image_segmenter", segmenterConfig), ("sequence_classifier", sequenceClassifierConfig), ("forecaster", forecasterConfig),
    ("seq2seq", seq2seqConfig),
]

/// What a model's table offers by name.
private protocol SettingsByName {
    /// Every name, the model's own first.
    var settingNames: [String] { get }
    /// Checks `text` as the value of `name` (an error naming it); false when the model
    /// has no such setting.
    func check(_ name: String, _ text: String) throws -> Bool
    /// The default config as text (CConfigTable.text).
    var defaultText: String { get }
    /// `config` as text, if it is this table's C struct.
    func text(ofAny config: Any) -> String?
}

/// A handle's C config (get_config) as text; nil for a model without a train config.
func configText(_ config: Any) -> String? { settingTables.lazy.compactMap { $0.table.text(ofAny: config) }.first }

/// An lk_train_options: the settings given, in order (a name given again replaces its value).
final class TrainOptions {
    var entries: [(name: String, text: String)] = []
}

/// How training runs, beside the settings: where to write checkpoints, whether to
/// continue from one.
struct LoopRun {
    var checkpoint: String?
    var resume = false

    /// Continues `trainer` from the checkpoint when asked (a progress line says so).
    func start<T: TrainingTask>(_ trainer: T, _ log: (String) -> Void) throws {
        guard resume, let checkpoint else { return }
        try trainer.resume(from: checkpoint)
        log("resumed from \(checkpoint) after epoch \(trainer.epoch)")
    }
}

extension CConfigTable: SettingsByName where Model: HyperParameterized, Options: HyperParameterized {
    var settingNames: [String] {
        let engine = Model.hyperParameters.map(\.name) + Options.hyperParameters.map(\.name)
        return engine + fields.map(\.name).filter { !engine.contains($0) }
    }

    /// The struct's fields, then the engine's settings it lacks (the cell, the schedule,
    /// the forecaster's bptt_length, the sequence classifier's conv_filters...), so that a
    /// front door reads every default from here rather than typing it again.
    var defaultText: String { text(defaultConfig) + engineText(defaults) }

    private func engineText(_ settings: Settings<Model, Options>) -> String {
        var seen = Set(fields.map(\.name))
        let model = Model.hyperParameters.filter { seen.insert($0.name).inserted }.map { "\($0.name)=\($0.text(settings.model))\n" }
        let options = Options.hyperParameters.filter { seen.insert($0.name).inserted }.map { "\($0.name)=\($0.text(settings.options))\n" }
        return (model + options).joined()
    }

    /// A model whose settings go by name alone (its C config is its Settings) writes every one.
    func text(ofAny config: Any) -> String? {
        (config as? C).map { text($0) + (($0 as? Settings<Model, Options>).map(engineText) ?? "") }
    }

    /// A name of the engine's tables is checked by them (its range); a field of the C
    /// struct as the struct holds it too (its text, then the struct's C-only checks).
    func check(_ name: String, _ text: String) throws -> Bool {
        var settings = defaults
        let known = try set(name, text, in: &settings)
        guard field(name) != nil else { return known }
        var config = defaultConfig
        try set(name, text, in: &config)
        _ = try decode(config)
        return true
    }

    /// `config` with the options (NULL: none) that name its fields set from their text.
    func withFields(_ config: C, _ options: OpaquePointer?) throws -> C {
        var config = config
        for (name, text) in entries(options) where field(name) != nil { try set(name, text, in: &config) }
        return config
    }

    /// Sets the engine field `name` from `text`; false if neither table has it.
    private func set(_ name: String, _ text: String, in settings: inout Settings<Model, Options>) throws -> Bool {
        if let entry = Model.hyperParameter(name) {
            try entry.set(text, in: &settings.model)
        } else if let entry = Options.hyperParameter(name) {
            try entry.set(text, in: &settings.options)
        } else {
            return false
        }
        return true
    }

    /// The engine's settings from a caller's config, then its options by name (NULL:
    /// none), which take precedence over the config's fields; and how to run.
    func decode(_ config: C, _ options: OpaquePointer?) throws -> (Settings<Model, Options>, LoopRun) {
        var settings = try decode(try withFields(config, options))
        var run = LoopRun()
        for (name, text) in entries(options) {
            switch name {
            case checkpointKey: run.checkpoint = text
            case resumeKey: run.resume = text == "1"
            case _ where field(name) != nil: continue  // in the struct (withFields)
            default:
                guard try set(name, text, in: &settings) else {
                    throw invalid("lk_train_options: this model has no setting \"\(name)\"; its settings are "
                                  + (settingNames + [checkpointKey, resumeKey]).joined(separator: ", "))
                }
            }
        }
        if run.resume && run.checkpoint == nil { throw invalid("lk_train_options: resume needs checkpoint_path") }
        return (settings, run)
    }
}

/// The settings of an lk_train_options (NULL: none), in the order given.
private func entries(_ options: OpaquePointer?) -> [(name: String, text: String)] {
    guard let options else { return [] }
    return Unmanaged<TrainOptions>.fromOpaque(UnsafeRawPointer(options)).takeUnretainedValue().entries
}

@_cdecl("lk_train_config_default_text")
public func lk_train_config_default_text(_ model: CString?, _ text: Out<CChar>?, _ capacity: Int, _ size: Out<Int>?) -> lk_status {
    guarded {
        let model = try string(model, "model")
        guard let table = settingTables.first(where: { $0.model == model })?.table else {
            throw ABIError(status: LK_STATUS_NOT_FOUND, message: "model must be one of "
                           + settingTables.map(\.model).joined(separator: ", ") + ", got \"\(model)\"")
        }
        try copyText(table.defaultText, to: text, "text", capacity: capacity, size: size, "the config's text")
    }
}

@_cdecl("lk_train_options_create")
public func lk_train_options_create(_ out: HandleOut?) -> lk_status {
    guarded { try required(out, "out").pointee = OpaquePointer(Unmanaged.passRetained(TrainOptions()).toOpaque()) }
}

@_cdecl("lk_train_options_free")
public func lk_train_options_free(_ options: OpaquePointer?) {
    guard let options else { return }
    Unmanaged<TrainOptions>.fromOpaque(UnsafeRawPointer(options)).release()
}

@_cdecl("lk_train_options_set")
public func lk_train_options_set(_ options: OpaquePointer?, _ key: CString?, _ value: CString?) -> lk_status {
    guarded {
        let box = Unmanaged<TrainOptions>.fromOpaque(UnsafeRawPointer(try required(options, "options"))).takeUnretainedValue()
        let name = try string(key, "key"), text = try string(value, "value")
        switch name {
        case checkpointKey:
            guard !text.isEmpty else { throw invalid("checkpoint_path must be a path, got \"\"") }
        case resumeKey:
            guard text == "0" || text == "1" else { throw invalid("resume must be 0 or 1, got \"\(text)\"") }
        default:
            // Fine for some model (the one trained checks it again: ranges may differ).
            var refusal: Error?
            var known = false
            for (_, table) in settingTables where !known {
                do { known = try table.check(name, text) } catch { refusal = refusal ?? error }
            }
            if !known { throw refusal ?? invalid("lk_train_options: no model has a setting \"\(name)\"") }
        }
        box.entries.removeAll { $0.name == name }
        box.entries.append((name, text))
    }
}
