import LSTMKitCore

/// One hyper-parameter of a config or options struct: its snake_case name (the C config
/// field and model-file metadata key, where those exist), the values it allows and a
/// one-line doc. A struct's table of these (`HyperParameterized`) is the one place its
/// value rules are written: its `validate()` is derived from it, and the C ABI and the
/// CLI call that instead of repeating the ranges. Defaults stay the struct's property
/// initial values.
public struct HyperParameter<Root> {
    public let name: String
    /// The allowed values, as the messages phrase them after "must be": "in [1, 4096]",
    /// "in [0, 1)", "finite and > 0", "0 or in [2, 16]".
    public let allowed: String
    public let doc: String
    /// The message when `root`'s value breaks the rule (`name` as the caller calls the
    /// field), else nil.
    let problem: (_ root: Root, _ name: String) -> String?
    /// Copies of a value with this field at each bound (`inside`, allowed) and just beyond
    /// (`outside`, refused): for tests.
    public let edges: (Root) -> (inside: [Root], outside: [Root])
    /// The names a choice takes (an enum's raw values), nil for a number.
    public var choices: [String]? = nil
    /// Sets the field from its text ("0.5", "32,64", "cosine"; "0" for no time limit), or
    /// returns what the text should have been ("a number").
    let parse: (_ root: inout Root, _ text: String) -> String?
    /// The field's value as text that `set` reads back ("0.5", "32,64", "cosine"; "0" for
    /// no time limit): a setting by name, read (C's lk_model_get_setting).
    public let text: (_ root: Root) -> String

    /// The memberwise initializer, spelled out so that models in the LSTMKit target can
    /// build entries of their own (the forecaster's quantile levels).
    package init(name: String, allowed: String, doc: String,
                 problem: @escaping (_ root: Root, _ name: String) -> String?,
                 edges: @escaping (Root) -> (inside: [Root], outside: [Root]), choices: [String]? = nil,
                 parse: @escaping (_ root: inout Root, _ text: String) -> String?,
                 text: @escaping (_ root: Root) -> String) {
        (self.name, self.allowed, self.doc, self.problem, self.edges) = (name, allowed, doc, problem, edges)
        (self.choices, self.parse, self.text) = (choices, parse, text)
    }

    /// The message if `root`'s value breaks the rule (naming the field `name`), else nil.
    public func problem(in root: Root, as name: String? = nil) -> String? { problem(root, name ?? self.name) }

    /// Sets the field from text, as a front door that takes settings by name does
    /// (C's lk_train_options_set): throws `invalidArgument` naming the field (`name`)
    /// for text that is not a value of its type or a value outside its range; `root` is
    /// unchanged then.
    public func set(_ text: String, in root: inout Root, as name: String? = nil) throws {
        var copy = root
        if let expected = parse(&copy, text) {
            throw LSTMKitError.invalidArgument("\(name ?? self.name) must be \(expected), got \"\(text)\"")
        }
        if let message = problem(copy, name ?? self.name) { throw LSTMKitError.invalidArgument(message) }
        root = copy
    }
}

/// Parses `text` as a `Value` into `path`, or returns `expected` (what it should have been).
private func parser<Root, Value>(_ path: WritableKeyPath<Root, Value>, _ expected: String,
                                 _ value: @escaping (String) -> Value?) -> (inout Root, String) -> String? {
    { root, text in
        guard let v = value(text) else { return expected }
        root[keyPath: path] = v
        return nil
    }
}

/// Bounds of a Float hyper-parameter, each end open or closed; the value must be finite
/// as well.
public struct FloatBounds: Sendable, Equatable {
    public var low: Float, lowClosed: Bool, high: Float, highClosed: Bool

    public init(low: Float, lowClosed: Bool, high: Float, highClosed: Bool) {
        (self.low, self.lowClosed, self.high, self.highClosed) = (low, lowClosed, high, highClosed)
    }

    /// [low, high)
    public static func closedOpen(_ low: Float, _ high: Float) -> FloatBounds { .init(low: low, lowClosed: true, high: high, highClosed: false) }
    /// [low, high]
    public static func closed(_ low: Float, _ high: Float) -> FloatBounds { .init(low: low, lowClosed: true, high: high, highClosed: true) }
    /// (low, high]
    public static func openClosed(_ low: Float, _ high: Float) -> FloatBounds { .init(low: low, lowClosed: false, high: high, highClosed: true) }
    /// Finite and > 0.
    public static let positive = FloatBounds(low: 0, lowClosed: false, high: .infinity, highClosed: false)
    /// Finite and >= 0.
    public static let nonNegative = FloatBounds(low: 0, lowClosed: true, high: .infinity, highClosed: false)
    /// Any finite value.
    public static let finite = FloatBounds(low: -.infinity, lowClosed: false, high: .infinity, highClosed: false)

    public func contains(_ v: Float) -> Bool {
        v.isFinite && (lowClosed ? v >= low : v > low) && (highClosed ? v <= high : v < high)
    }

    var phrase: String {
        if high == .infinity {
            return low == -.infinity ? "finite" : "finite and \(lowClosed ? ">=" : ">") \(short(low))"
        }
        return "in \(lowClosed ? "[" : "(")\(short(low)), \(short(high))\(highClosed ? "]" : ")")"
    }

    /// The allowed extremes (the finite ones nearest an open or infinite end).
    var inside: [Float] {
        [low == -.infinity ? -.greatestFiniteMagnitude : lowClosed ? low : low.nextUp,
         high == .infinity ? .greatestFiniteMagnitude : highClosed ? high : high.nextDown]
    }

    /// Values just beyond each end, and the non-finite ones.
    var outside: [Float] {
        (low == -.infinity ? [] : [lowClosed ? low.nextDown : low])
            + (high == .infinity ? [] : [highClosed ? high.nextUp : high]) + [.nan, .infinity, -.infinity]
    }
}

/// 0 and 1, not 0.0 and 1.0, in messages.
private func short(_ v: Float) -> String {
    v == v.rounded() && abs(v) < 1e9 ? String(Int(v)) : String(v)
}

extension HyperParameter {
    /// An Int in `range` (or 0 as well, when `orZero`: "0 turns it off").
    public static func int(_ name: String, _ path: WritableKeyPath<Root, Int>, _ range: ClosedRange<Int>,
                           orZero: Bool = false, _ doc: String) -> HyperParameter {
        let allowed = "\(orZero ? "0 or " : "")in [\(range.lowerBound), \(range.upperBound)]"
        let inside = [range.lowerBound, range.upperBound] + (orZero ? [0] : [])
        let outside = [range.lowerBound == Int.min ? nil : range.lowerBound - 1,
                       range.upperBound == Int.max ? nil : range.upperBound + 1].compactMap { $0 }.filter { !(orZero && $0 == 0) }
        return HyperParameter(
            name: name, allowed: allowed, doc: doc,
            problem: { root, name in
                let v = root[keyPath: path]
                return range.contains(v) || (orZero && v == 0) ? nil : "\(name) must be \(allowed), got \(v)"
            },
            edges: { root in (inside.map { setting(root, path, $0) }, outside.map { setting(root, path, $0) }) },
            parse: parser(path, "an integer", { Int($0) }), text: { String($0[keyPath: path]) })
    }

    /// A Float within `bounds` (finite).
    public static func float(_ name: String, _ path: WritableKeyPath<Root, Float>, _ bounds: FloatBounds,
                             _ doc: String) -> HyperParameter {
        let allowed = bounds.phrase
        return HyperParameter(
            name: name, allowed: allowed, doc: doc,
            problem: { root, name in
                let v = root[keyPath: path]
                return bounds.contains(v) ? nil : "\(name) must be \(allowed), got \(v)"
            },
            edges: { root in (bounds.inside.map { setting(root, path, $0) }, bounds.outside.map { setting(root, path, $0) }) },
            parse: parser(path, "a number", { Float($0) }), text: { String($0[keyPath: path]) })
    }

    /// A time in seconds, nil for none (the C ABI's 0), else finite and at least `minimum`.
    public static func seconds(_ name: String, _ path: WritableKeyPath<Root, Double?>, atLeast minimum: Double,
                               _ doc: String) -> HyperParameter {
        let allowed = "0 (no limit) or at least \(Int(minimum)) second\(minimum == 1 ? "" : "s")"
        return HyperParameter(
            name: name, allowed: allowed, doc: doc,
            problem: { root, name in
                guard let v = root[keyPath: path], !(v.isFinite && v >= minimum) else { return nil }
                return "\(name) must be \(allowed), got \(v)"
            },
            edges: { root in
                ([nil, minimum, .greatestFiniteMagnitude].map { setting(root, path, $0) },
                 [0, minimum.nextDown, .nan, .infinity, -1].map { setting(root, path, $0) })
            },
            parse: parser(path, "a number of seconds (0: no limit)", { text in Double(text).map { $0 == 0 ? nil : $0 } }),
            text: { $0[keyPath: path].map { String($0) } ?? "0" })
    }

    /// A list of Ints: `count` entries, each in `each`. A bad entry is named `name[i]`.
    public static func ints(_ name: String, _ path: WritableKeyPath<Root, [Int]>, count: ClosedRange<Int>,
                            each: ClosedRange<Int>, _ doc: String) -> HyperParameter {
        let allowed = "\(count.lowerBound) to \(count.upperBound) sizes in [\(each.lowerBound), \(each.upperBound)]"
        return HyperParameter(
            name: name, allowed: allowed, doc: doc,
            problem: { root, name in
                let v = root[keyPath: path]
                guard count.contains(v.count) else { return "\(name) must hold \(allowed), got \(v.count): \(v)" }
                guard let i = v.firstIndex(where: { !each.contains($0) }) else { return nil }
                return "\(name)[\(i)] must be in [\(each.lowerBound), \(each.upperBound)], got \(v[i])"
            },
            edges: { root in
                let inside = [[Int](repeating: each.lowerBound, count: count.lowerBound),
                              [Int](repeating: each.upperBound, count: count.upperBound)]
                let n = max(count.lowerBound, 1)
                let outside = (count.lowerBound > 0 ? [[Int](repeating: each.lowerBound, count: count.lowerBound - 1)] : [])
                    + [[Int](repeating: each.lowerBound, count: count.upperBound + 1),
                       [Int](repeating: each.lowerBound, count: n - 1) + [each.lowerBound - 1],
                       [each.upperBound + 1] + [Int](repeating: each.upperBound, count: n - 1)]
                return (inside.map { setting(root, path, $0) }, outside.map { setting(root, path, $0) })
            },
            parse: parser(path, "sizes separated by commas (\"32,64\")", { text in
                if text.isEmpty { return [] }   // no entries (where `count` allows none)
                let sizes = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
                return sizes.contains(nil) ? nil : sizes.map { $0! }
            }), text: { $0[keyPath: path].map(String.init).joined(separator: ",") })
    }

    /// One of an enum's cases, by name (its raw value): a schedule, a recurrent cell.
    public static func choice<E: RawRepresentable & CaseIterable>(_ name: String, _ path: WritableKeyPath<Root, E>,
                                                                 _ doc: String) -> HyperParameter where E.RawValue == String {
        let names = E.allCases.map(\.rawValue)
        let allowed = names.count == 1 ? names[0] : "\(names.dropLast().joined(separator: ", ")) or \(names.last!)"
        return HyperParameter(
            name: name, allowed: allowed, doc: doc, problem: { _, _ in nil },
            edges: { root in (E.allCases.map { setting(root, path, $0) }, []) },
            choices: names, parse: parser(path, allowed, E.init(rawValue:)), text: { $0[keyPath: path].rawValue })
    }
}

extension HyperParameter {
    /// This entry of a struct held at `path` in `Outer`, as an entry of `Outer` (a
    /// model's training options hold the loop's as `loop`).
    func nested<Outer>(in path: WritableKeyPath<Outer, Root>) -> HyperParameter<Outer> {
        HyperParameter<Outer>(
            name: name, allowed: allowed, doc: doc,
            problem: { outer, name in problem(outer[keyPath: path], name) },
            edges: { outer in
                let (inside, outside) = edges(outer[keyPath: path])
                return (inside.map { setting(outer, path, $0) }, outside.map { setting(outer, path, $0) })
            },
            choices: choices, parse: { outer, text in parse(&outer[keyPath: path], text) },
            text: { text($0[keyPath: path]) })
    }
}

private func setting<Root, Value>(_ root: Root, _ path: WritableKeyPath<Root, Value>, _ value: Value) -> Root {
    var copy = root
    copy[keyPath: path] = value
    return copy
}

/// A config or options struct whose value rules are a table of hyper-parameters.
public protocol HyperParameterized {
    /// One entry per checked field, each name unique within the table.
    static var hyperParameters: [HyperParameter<Self>] { get }
    /// Rules that tie fields together ("columns applies to kind rows only"), checked
    /// after every entry holds; none by default.
    func validateCombination() throws
}

extension HyperParameterized {
    public func validateCombination() throws {}

    /// Checks every entry of the table, then the rules between fields; throws
    /// `invalidArgument("<name> must be <allowed>, got <value>")` for the first bad one.
    /// `names` renames fields in the message (a front door whose field differs, e.g. the
    /// C ABI's one `dropout` for both dropouts).
    public func validate(naming names: [String: String] = [:]) throws {
        try validateRanges(naming: names)
        try validateCombination()
    }

    /// The table's checks alone, for a front door that reads a config before the data
    /// fills in the fields a rule between fields needs (an image classifier's geometry).
    public func validateRanges(naming names: [String: String] = [:]) throws {
        for p in Self.hyperParameters {
            if let message = p.problem(self, names[p.name] ?? p.name) { throw LSTMKitError.invalidArgument(message) }
        }
    }

    /// The entry named `name`, if any.
    public static func hyperParameter(_ name: String) -> HyperParameter<Self>? {
        hyperParameters.first { $0.name == name }
    }

    /// The value of the entry `name` as text (`HyperParameter.text`), nil without one.
    public func setting(_ name: String) -> String? { Self.hyperParameter(name)?.text(self) }
}

/// The upper bound of counts a C config carries in an int32 (a larger value could not be
/// given back by the `*_get_config` functions).
package let int32Max = Int(Int32.max)

/// The thread counts the tables accept, and the command-line tool for every command.
public let threadCountRange = 1...1024

/// The network entries several configs share.
extension HyperParameter {
    package static func hiddenSize(_ path: WritableKeyPath<Root, Int>) -> HyperParameter {
        .int("hidden_size", path, 1...4096, "LSTM units per direction.")
    }

    package static func cell(_ path: WritableKeyPath<Root, RecurrentCell>) -> HyperParameter {
        .choice("cell", path, "The recurrent layer's cell.")
    }

    package static func numLayers(_ path: WritableKeyPath<Root, Int>) -> HyperParameter {
        .int("num_layers", path, 1...16, "Stacked LSTM layers.")
    }

    package static func attentionSize(_ path: WritableKeyPath<Root, Int>) -> HyperParameter {
        .int("attention_size", path, 1...4096, "Hidden size of the attention pooling's scorer.")
    }

    package static func attentionHeads(_ path: WritableKeyPath<Root, Int>) -> HyperParameter {
        .int("attention_heads", path, 1...64, "Heads of the self_attention pooling's block (they must divide the recurrent outputs' width).")
    }

    /// pixel_mean and pixel_std: pixels are fed as (x - mean) / std, both set from the data.
    package static func pixelNormalisation(_ mean: WritableKeyPath<Root, Float>, _ std: WritableKeyPath<Root, Float>) -> [HyperParameter] {
        [.float("pixel_mean", mean, .finite, "Pixels are fed as (x - pixel_mean) / pixel_std (set from the data)."),
         .float("pixel_std", std, .positive, "Pixels are fed as (x - pixel_mean) / pixel_std (set from the data).")]
    }
}
