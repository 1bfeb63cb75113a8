/// What every LSTMKit model file shares, whatever its kind: the header metadata
/// (format, version, kind) and its check, typed metadata values, and the tensors of a
/// model's modules under their prefixed names. Each kind's own file code (LSTMFile.swift,
/// and the models' `modelFile()` / `init(modelFile:)`) builds on it. See docs/FORMAT.md.
public enum ModelFile {
    public static let formatName = "lstmkit"
    public static let formatVersion = "1"

    /// Common metadata every LSTMKit file starts with.
    public static func header(kind: String) -> [(String, String)] {
        [("format", formatName), ("format_version", formatVersion), ("kind", kind)]
    }

    /// Checks format, version and kind; the error names both kinds when they differ.
    public static func checkKind(_ file: SafeTensors, expected: String) throws {
        guard file.metadata("format") == formatName else {
            throw LSTMKitError.invalidFormat("not an LSTMKit model (metadata \"format\" is \(file.metadata("format").map { "\"\($0)\"" } ?? "missing"))")
        }
        guard file.metadata("format_version") == formatVersion else {
            throw LSTMKitError.invalidFormat("unsupported format_version \(file.metadata("format_version") ?? "missing"); this build reads \(formatVersion)")
        }
        let kind = file.metadata("kind") ?? "missing"
        guard kind == expected else {
            throw LSTMKitError.invalidFormat("the file holds a model of kind \"\(kind)\", not \"\(expected)\"")
        }
    }

    public static func int(_ file: SafeTensors, _ key: String) throws -> Int {
        guard let s = file.metadata(key), let v = Int(s) else {
            throw LSTMKitError.invalidFormat("metadata \"\(key)\" is missing or not an integer")
        }
        return v
    }

    public static func float(_ file: SafeTensors, _ key: String) throws -> Float {
        guard let s = file.metadata(key), let v = Float(s) else {
            throw LSTMKitError.invalidFormat("metadata \"\(key)\" is missing or not a number")
        }
        return v
    }

    public static func bool(_ file: SafeTensors, _ key: String) throws -> Bool {
        switch file.metadata(key) {
        case "true": return true
        case "false": return false
        default: throw LSTMKitError.invalidFormat("metadata \"\(key)\" must be \"true\" or \"false\"")
        }
    }

    /// A list of strings stored as a JSON array in one metadata value (safetensors
    /// metadata holds only strings).
    public static func stringList(_ file: SafeTensors, _ key: String) throws -> [String] {
        guard let text = file.metadata(key), let items = try? JSONValue.parse(Array(text.utf8)).arrayValue else {
            throw LSTMKitError.invalidFormat("metadata \"\(key)\" is missing or not a JSON list")
        }
        return try items.map {
            guard let s = $0.stringValue else { throw LSTMKitError.invalidFormat("metadata \"\(key)\" holds a non-string") }
            return s
        }
    }

    /// Checks the sizes metadata gives against the tensors that hold them, before a model
    /// is built from the metadata: a tampered value (within the hyper-parameters' bounds)
    /// would otherwise size allocations of gigabytes that `load` refutes only afterwards.
    /// Each entry: the metadata key, the length it implies, the tensor and its axis.
    public static func checkSizes(_ file: SafeTensors, _ sizes: [(key: String, length: Int, tensor: String, axis: Int)]) throws {
        for s in sizes {
            guard let shape = file.tensor(s.tensor)?.shape else {
                throw LSTMKitError.invalidFormat("metadata \"\(s.key)\" does not match the tensors: no tensor \"\(s.tensor)\"")
            }
            guard s.axis < shape.count, shape[s.axis] == s.length else {
                throw LSTMKitError.invalidFormat("metadata \"\(s.key)\" does not match tensor \"\(s.tensor)\" of shape \(shape)")
            }
        }
    }

    /// The sizes an LSTM's metadata gives (hidden_size and num_layers), as `checkSizes` entries.
    static func lstmSizes(prefix: String, hiddenSize: Int, numLayers: Int) -> [(key: String, length: Int, tensor: String, axis: Int)] {
        [("hidden_size", hiddenSize, prefix + "weight_hh_l0", 1), ("num_layers", hiddenSize, prefix + "weight_hh_l\(numLayers - 1)", 1)]
    }

    /// Copies the file's tensors into the modules' parameters, each module's names
    /// prefixed as given; requires exactly these names and shapes, no more, no fewer.
    public static func load(_ file: SafeTensors, into modules: [(prefix: String, module: Module)]) throws {
        var expected: [(String, Parameter)] = []
        for (prefix, module) in modules { expected += module.parameters.map { (prefix + $0.name, $0) } }
        let names = Set(expected.map(\.0))
        if let extra = file.tensors.first(where: { !names.contains($0.name) }) {
            throw LSTMKitError.invalidFormat("unexpected tensor \"\(extra.name)\"")
        }
        for (name, p) in expected {
            guard let t = file.tensor(name) else { throw LSTMKitError.invalidFormat("missing tensor \"\(name)\"") }
            guard t.shape == p.shape else {
                throw LSTMKitError.invalidFormat("tensor \"\(name)\" has shape \(t.shape), expected \(p.shape)")
            }
            do { try p.assign(t.values) } catch let e as LSTMKitError {
                throw LSTMKitError.invalidFormat(e.message)
            }
        }
    }

    public static func load(_ file: SafeTensors, into module: Module) throws {
        try load(file, into: [("", module)])
    }

    public static func tensors(of modules: [(prefix: String, module: Module)]) -> [SafeTensors.Entry] {
        modules.flatMap { prefix, module in
            module.parameters.map { SafeTensors.Entry(name: prefix + $0.name, shape: $0.shape, values: $0.value) }
        }
    }

    public static func tensors(of module: Module) -> [SafeTensors.Entry] {
        tensors(of: [("", module)])
    }

    /// Reads a file and builds a model from it, prefixing format errors with the path.
    public static func open<T>(_ path: String, _ build: (SafeTensors) throws -> T) throws -> T {
        let file = try SafeTensors.read(from: path)
        do {
            return try build(file)
        } catch LSTMKitError.invalidFormat(let why) {
            throw LSTMKitError.invalidFormat("\(path): \(why)")
        }
    }
}
