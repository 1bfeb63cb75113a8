import CLSTMKitHeader
import LSTMKit

// A C config and the engine's settings it carries, field by field: each model lists its
// fields once (a `CConfigTable` of `CField`s), and that one list both reads a caller's
// config (`decode`) and writes the defaults and get_config (`encode`). Reading checks only
// what C alone can get wrong: 0/1 flags, enum codes and fixed-array counts, with
// messages that name the C field. Value ranges are the engine's tables
// (HyperParameterized.validate), whose names are the C field names.
// Each field also reads and writes as text under its C name (`CField.text`/`parse`), so
// every front door can set a config by name (lk_train_options) and read one
// (lk_train_config_default_text, lk_model_get_config_text) without mirroring the struct.

/// An engine config and training options: what one C train config carries.
struct Settings<Model, Options> {
    var model: Model
    var options: Options
}

/// The values of a C enum field: its codes, their C names (for messages) and the
/// engine's values.
struct CEnum<Value: Equatable> {
    let field: String
    let cases: [(code: Int32, name: String, value: Value)]

    init(_ field: String, _ cases: [(Int, String, Value)]) {
        self.field = field
        self.cases = cases.map { (Int32($0.0), $0.1, $0.2) }
    }

    /// A case's name in text: its C name's words after the field's name, lower-cased
    /// (LK_POOLING_MEAN: "mean", LK_POOLING_SELF_ATTENTION: "self_attention").
    func text(_ code: Int32) -> String {
        guard let words = cases.first(where: { $0.code == code })?.name.split(separator: "_") else { return "\(code)" }
        return words[((words.firstIndex { $0.lowercased() == field } ?? words.count - 2) + 1)...].joined(separator: "_").lowercased()
    }

    /// How the field reads and writes as text: by its cases' names.
    var io: CText<Int32> {
        let names = cases.map { text($0.code) }
        return CText(text: text, parse: { t in cases.first { text($0.code) == t }?.code },
                     expected: names.dropLast().joined(separator: ", ") + " or " + names.last!)
    }

    func value(_ code: Int32) throws -> Value {
        guard let c = cases.first(where: { $0.code == code }) else {
            let names = cases.map { "\($0.name) (\($0.code))" }
            throw invalid("\(field) must be \(names.dropLast().joined(separator: ", ")) or \(names.last!), got \(code)")
        }
        return c.value
    }

    /// -1 for an engine value C has no code for (a kind added to the engine first).
    func code(_ value: Value) -> Int32 { cases.first { $0.value == value }?.code ?? -1 }
}

let poolings = CEnum<SequencePoolingKind>("pooling", [
    (LK_POOLING_LAST, "LK_POOLING_LAST", .last), (LK_POOLING_MEAN, "LK_POOLING_MEAN", .mean),
    (LK_POOLING_MAX, "LK_POOLING_MAX", .max), (LK_POOLING_ATTENTION, "LK_POOLING_ATTENTION", .attention),
    (LK_POOLING_SELF_ATTENTION, "LK_POOLING_SELF_ATTENTION", .selfAttention),
])

/// How a C field's value reads and writes as text.
struct CText<V> {
    let text: (V) -> String
    /// The value of a text, or nil for one that is not `expected` ("an int").
    let parse: (String) -> V?
    let expected: String

    /// A 0/1 flag: "true"/"false" out, those or "1"/"0" in.
    static var flag: CText<Int32> {
        CText<Int32>(text: { $0 == 1 ? "true" : $0 == 0 ? "false" : "\($0)" },
                     parse: { ["0": 0, "false": 0, "1": 1, "true": 1][$0] }, expected: "true or false (1 or 0)")
    }
}

extension CText where V: LosslessStringConvertible {
    /// A number as Swift prints it (a float's shortest form: "0.3").
    static var number: CText {
        CText(text: { "\($0)" }, parse: V.init, expected: V.self is any BinaryInteger.Type ? "an integer" : "a number")
    }
}

/// One field of a C config `C` and where it lives in the engine's settings `S`, with its
/// C name and its value as text.
struct CField<C, S> {
    let name: String
    let read: (C, inout S) throws -> Void
    let write: (inout C, S) -> Void
    let text: (C) -> String
    /// Sets the field from text, or returns what the text should have been.
    let parse: (inout C, String) -> String?
}

extension CField {
    /// A field `name` the engine's settings do not hold (the model's train function reads
    /// it from the struct): text only.
    static func text<V>(_ name: String, _ c: WritableKeyPath<C, V>, _ io: CText<V>) -> CField {
        CField(name: name, read: { _, _ in }, write: { _, _ in }, text: { io.text($0[keyPath: c]) }, parse: { config, text in
            guard let v = io.parse(text) else { return io.expected }
            config[keyPath: c] = v
            return nil
        })
    }

    /// A field stored as is or converted (`read` may refuse a value); `also` receives the
    /// same value (one C field for two engine fields, as `dropout` or `seed`).
    static func value<CV, SV>(_ name: String, _ c: WritableKeyPath<C, CV>, _ s: WritableKeyPath<S, SV>,
                              also: WritableKeyPath<S, SV>? = nil, _ io: CText<CV>,
                              read: @escaping (CV) throws -> SV, write: @escaping (SV) -> CV) -> CField {
        let field = text(name, c, io)
        return CField(name: name, read: { config, settings in
            let v = try read(config[keyPath: c])
            settings[keyPath: s] = v
            if let also { settings[keyPath: also] = v }
        }, write: { config, settings in config[keyPath: c] = write(settings[keyPath: s]) }, text: field.text, parse: field.parse)
    }

    static func same<V: LosslessStringConvertible>(_ name: String, _ c: WritableKeyPath<C, V>, _ s: WritableKeyPath<S, V>,
                                                   also: WritableKeyPath<S, V>? = nil) -> CField {
        value(name, c, s, also: also, .number, read: { $0 }, write: { $0 })
    }

    /// An int32 size or count (the engine's tables keep them within int32).
    static func int(_ name: String, _ c: WritableKeyPath<C, Int32>, _ s: WritableKeyPath<S, Int>) -> CField {
        value(name, c, s, .number, read: { Int($0) }, write: { Int32(clamping: $0) })
    }

    /// A 0/1 flag.
    static func flag(_ name: String, _ c: WritableKeyPath<C, Int32>, _ s: WritableKeyPath<S, Bool>) -> CField {
        value(name, c, s, .flag, read: { v in
            guard v == 0 || v == 1 else { throw invalid("\(name) must be 0 or 1, got \(v)") }
            return v == 1
        }, write: { $0 ? 1 : 0 })
    }

    /// A Bool (of a model whose settings go by name: its C config is its Settings), as a flag.
    static func bool(_ name: String, _ c: WritableKeyPath<C, Bool>, _ s: WritableKeyPath<S, Bool>) -> CField {
        value(name, c, s, CText(text: { $0 ? "true" : "false" }, parse: { ["0": false, "false": false, "1": true, "true": true][$0] },
                                expected: CText<Int32>.flag.expected), read: { $0 }, write: { $0 })
    }

    /// An enum code (by its name in text).
    static func choice<V>(_ values: CEnum<V>, _ c: WritableKeyPath<C, Int32>, _ s: WritableKeyPath<S, V>) -> CField {
        value(values.field, c, s, values.io, read: values.value, write: values.code)
    }

    /// Seconds, where C's 0 is the engine's nil (no limit).
    static func seconds(_ name: String, _ c: WritableKeyPath<C, Double>, _ s: WritableKeyPath<S, Double?>) -> CField {
        value(name, c, s, .number, read: { $0 == 0 ? nil : $0 }, write: { $0 ?? 0 })
    }

    /// A list `name` in a fixed-size C array of `E` (`capacity` entries) with its count
    /// field `countName` in [1, capacity], each value converted to the engine's by `read`
    /// and back by `write`; as text, the values separated by commas ("32,64").
    static func list<A, E: LosslessStringConvertible, SV>(_ name: String, _ countName: String, _ count: WritableKeyPath<C, Int32>,
                                                         _ array: WritableKeyPath<C, A>, capacity: Int32,
                                                         _ s: WritableKeyPath<S, [SV]>, read: @escaping (E) -> SV,
                                                         write: @escaping (SV) -> E) -> CField {
        /// The first `count` values (none for a count outside [0, capacity]).
        func values(_ config: C) -> [E] {
            let n = Int(min(max(config[keyPath: count], 0), capacity))
            return withUnsafeBytes(of: config[keyPath: array]) { Array($0.bindMemory(to: E.self).prefix(n)) }
        }
        func store(_ values: [E], in config: inout C) {
            config[keyPath: count] = Int32(values.count)
            withUnsafeMutableBytes(of: &config[keyPath: array]) { raw in
                for (i, v) in values.enumerated() { raw.bindMemory(to: E.self)[i] = v }
            }
        }
        return CField(name: name, read: { config, settings in
            let n = config[keyPath: count]
            guard n >= 1, n <= capacity else { throw invalid("\(countName) must be in [1, \(capacity)], got \(n)") }
            settings[keyPath: s] = values(config).map(read)
        }, write: { config, settings in
            store(settings[keyPath: s].prefix(Int(capacity)).map(write), in: &config)
        }, text: { values($0).map { "\($0)" }.joined(separator: ",") }, parse: { config, text in
            let items = text.split(separator: ",", omittingEmptySubsequences: false).map { E(String($0)) }
            guard (1...Int(capacity)).contains(items.count), !items.contains(where: { $0 == nil }) else {
                return "1 to \(capacity) values separated by commas"
            }
            store(items.map { $0! }, in: &config)
            return nil
        })
    }

    /// A list of sizes in a fixed-size int32 C array.
    static func sizes<A>(_ name: String, _ countName: String, _ count: WritableKeyPath<C, Int32>, _ array: WritableKeyPath<C, A>,
                         capacity: Int32, _ s: WritableKeyPath<S, [Int]>) -> CField {
        list(name, countName, count, array, capacity: capacity, s, read: { (v: Int32) in Int(v) }, write: { Int32(clamping: $0) })
    }
}

// The training loop's fields (TrainerOptions), named alike in every C train config that
// has them: a config conforms to the protocol of the fields it has, and its table takes
// them from one call (`loop:`), written once here.

/// epochs, batch_size, learning_rate, patience, threads: every train config's.
protocol CLoopFields {
    var epochs: Int32 { get set }
    var batch_size: Int32 { get set }
    var learning_rate: Float { get set }
    var patience: Int32 { get set }
    var threads: Int32 { get set }
}

/// ... and the plateau's decay_factor and time_limit.
protocol CDecayLoopFields: CLoopFields {
    var decay_factor: Float { get set }
    var time_limit: Double { get set }
}

/// ... and clip_norm and log_every.
protocol CClipLoopFields: CDecayLoopFields {
    var clip_norm: Float { get set }
    var log_every: Int32 { get set }
}

extension CField where C: CLoopFields {
    static func loop<M, O: ModelTrainingOptions>() -> [CField] where S == Settings<M, O> {
        [.int("epochs", \.epochs, \.options.loop.epochs), .int("batch_size", \.batch_size, \.options.loop.batchSize),
         .same("learning_rate", \.learning_rate, \.options.loop.learningRate), .int("patience", \.patience, \.options.loop.patience),
         .int("threads", \.threads, \.options.loop.threads)]
    }
}

extension CField where C: CDecayLoopFields {
    static func loopWithDecay<M, O: ModelTrainingOptions>() -> [CField] where S == Settings<M, O> {
        loop() + [.same("decay_factor", \.decay_factor, \.options.loop.decayFactor),
                  .seconds("time_limit", \.time_limit, \.options.loop.timeLimit)]
    }
}

extension CField where C: CClipLoopFields {
    static func loopWithClipping<M, O: ModelTrainingOptions>() -> [CField] where S == Settings<M, O> {
        loopWithDecay() + [.same("clip_norm", \.clip_norm, \.options.loop.clipNorm),
                           .int("log_every", \.log_every, \.options.loop.logEvery)]
    }
}

/// A C train config's fields, with the engine's defaults they start from.
struct CConfigTable<C, Model, Options> {
    /// The C struct with every field 0 (or NULL): fields no entry writes keep that.
    let empty: C
    let defaults: Settings<Model, Options>
    /// The model's fields, then the loop's (CField.loop...).
    let fields: [CField<C, Settings<Model, Options>>]

    init(empty: C, defaults: Settings<Model, Options>, fields: [CField<C, Settings<Model, Options>>],
         loop: [CField<C, Settings<Model, Options>>] = []) {
        self.empty = empty
        self.defaults = defaults
        self.fields = fields + loop
    }

    /// The engine's settings from a caller's config (each field's C-only checks).
    func decode(_ config: C) throws -> Settings<Model, Options> {
        var settings = defaults
        for field in fields { try field.read(config, &settings) }
        return settings
    }

    func encode(_ settings: Settings<Model, Options>) -> C {
        var config = empty
        for field in fields { field.write(&config, settings) }
        return config
    }

    /// A model's config as a C config, the training fields at their defaults (get_config).
    func encode(_ model: Model) -> C { encode(Settings(model: model, options: defaults.options)) }

    /// lk_<model>_train_config_default.
    var defaultConfig: C { encode(defaults) }

    /// The field `name`, if the struct has one.
    func field(_ name: String) -> CField<C, Settings<Model, Options>>? { fields.first { $0.name == name } }

    /// `config` as text: a "name=value" line per field, in the table's order.
    func text(_ config: C) -> String { fields.map { "\($0.name)=\($0.text(config))\n" }.joined() }

    /// Sets field `name` of `config` from text; an error names it and says what it takes.
    func set(_ name: String, _ text: String, in config: inout C) throws {
        if let expected = field(name)?.parse(&config, text) { throw invalid("\(name) must be \(expected), got \"\(text)\"") }
    }
}

extension lk_tokenizer_train_config: CLoopFields {}
extension lk_text_classifier_train_config: CLoopFields {}
extension lk_sequence_classifier_train_config: CDecayLoopFields {}
extension lk_image_classifier_train_config: CClipLoopFields {}
extension lk_image_segmenter_train_config: CClipLoopFields {}
extension lk_forecaster_train_config: CClipLoopFields {}
