import CLSTMKitHeader
import LSTMKit

// A C config and the engine's settings it carries, field by field: each model lists its
// fields once (a `CConfigTable` of `CField`s), and that one list both reads a caller's
// config (`decode`) and writes the defaults and get_config (`encode`). Reading checks only
// what C alone can get wrong: 0/1 flags, enum codes and fixed-array counts, with
// messages that name the C field. Value ranges are the engine's tables
// (HyperParameterized.validate), whose names are the C field names.

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
])

/// One field of a C config `C` and where it lives in the engine's settings `S`.
struct CField<C, S> {
    let read: (C, inout S) throws -> Void
    let write: (inout C, S) -> Void
}

extension CField {
    /// A field stored as is or converted (`read` may refuse a value); `also` receives the
    /// same value (one C field for two engine fields, as `dropout` or `seed`).
    static func value<CV, SV>(_ c: WritableKeyPath<C, CV>, _ s: WritableKeyPath<S, SV>, also: WritableKeyPath<S, SV>? = nil,
                              read: @escaping (CV) throws -> SV, write: @escaping (SV) -> CV) -> CField {
        CField(read: { config, settings in
            let v = try read(config[keyPath: c])
            settings[keyPath: s] = v
            if let also { settings[keyPath: also] = v }
        }, write: { config, settings in config[keyPath: c] = write(settings[keyPath: s]) })
    }

    static func same<V>(_ c: WritableKeyPath<C, V>, _ s: WritableKeyPath<S, V>, also: WritableKeyPath<S, V>? = nil) -> CField {
        value(c, s, also: also, read: { $0 }, write: { $0 })
    }

    /// An int32 size or count (the engine's tables keep them within int32).
    static func int(_ c: WritableKeyPath<C, Int32>, _ s: WritableKeyPath<S, Int>) -> CField {
        value(c, s, read: { Int($0) }, write: { Int32(clamping: $0) })
    }

    /// A 0/1 flag.
    static func flag(_ name: String, _ c: WritableKeyPath<C, Int32>, _ s: WritableKeyPath<S, Bool>) -> CField {
        value(c, s, read: { v in
            guard v == 0 || v == 1 else { throw invalid("\(name) must be 0 or 1, got \(v)") }
            return v == 1
        }, write: { $0 ? 1 : 0 })
    }

    /// An enum code.
    static func choice<V>(_ values: CEnum<V>, _ c: WritableKeyPath<C, Int32>, _ s: WritableKeyPath<S, V>) -> CField {
        value(c, s, read: values.value, write: values.code)
    }

    /// Seconds, where C's 0 is the engine's nil (no limit).
    static func seconds(_ c: WritableKeyPath<C, Double>, _ s: WritableKeyPath<S, Double?>) -> CField {
        value(c, s, read: { $0 == 0 ? nil : $0 }, write: { $0 ?? 0 })
    }

    /// A list of sizes in a fixed-size int32 C array (`capacity` entries) with its count
    /// field `countName` in [1, capacity].
    static func sizes<A>(_ countName: String, _ count: WritableKeyPath<C, Int32>, _ array: WritableKeyPath<C, A>,
                         capacity: Int32, _ s: WritableKeyPath<S, [Int]>) -> CField {
        CField(read: { config, settings in
            let n = config[keyPath: count]
            guard n >= 1, n <= capacity else { throw invalid("\(countName) must be in [1, \(capacity)], got \(n)") }
            settings[keyPath: s] = withUnsafeBytes(of: config[keyPath: array]) {
                $0.bindMemory(to: Int32.self).prefix(Int(n)).map(Int.init)
            }
        }, write: { config, settings in
            let values = settings[keyPath: s].prefix(Int(capacity))
            config[keyPath: count] = Int32(values.count)
            withUnsafeMutableBytes(of: &config[keyPath: array]) { raw in
                for (i, v) in values.enumerated() { raw.bindMemory(to: Int32.self)[i] = Int32(clamping: v) }
            }
        })
    }
}

/// A C train config's fields, with the engine's defaults they start from.
struct CConfigTable<C, Model, Options> {
    /// The C struct with every field 0 (or NULL): fields no entry writes keep that.
    let empty: C
    let defaults: Settings<Model, Options>
    let fields: [CField<C, Settings<Model, Options>>]

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
}
