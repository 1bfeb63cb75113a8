import LSTMKitCore
import LSTMKitIO
import LSTMKitLayers

/// What every LSTMKit model file shares, whatever its kind: the header metadata
/// (format, version, kind) and its check, typed metadata values, the recurrent cell,
/// and a model's tensors under the names its module tree derives. Each kind's own file code (LSTMFile.swift,
/// and the models' `modelFile()` / `init(modelFile:)`) builds on it. See docs/FORMAT.md.
public enum ModelFile {
    public static let formatName = "lstmkit"
    public static let formatVersion = "1"

    /// Common metadata every LSTMKit file starts with; an int8-quantized model's adds
    /// "quantization": "int8" (docs/QUANTIZATION.md).
    public static func header(kind: String, quantized: Bool = false) -> [(String, String)] {
        [("format", formatName), ("format_version", formatVersion), ("kind", kind)]
            + (quantized ? [("quantization", "int8")] : [])
    }

    /// Whether the file holds an int8-quantized model (metadata "quantization").
    public static func isQuantized(_ file: SafeTensors) throws -> Bool {
        switch file.metadata("quantization") {
        case nil: return false
        case "int8": return true
        case let q?: throw LSTMKitError.invalidFormat("metadata \"quantization\" is \"\(q)\"; this build reads int8 only")
        }
    }

    /// Checks format, version and kind; the error names both kinds when they differ.
    /// `quantized`: whether the caller reads only an int8-quantized model (true) or only a
    /// float32 one (false); a file of the other sort is refused with a message that says
    /// so. nil (task models, whose `load` reads either): the "quantization" value is checked.
    public static func checkKind(_ file: SafeTensors, expected: String, quantized: Bool? = nil) throws {
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
        let isQuantized = try isQuantized(file)
        guard isQuantized == quantized ?? isQuantized else {
            throw LSTMKitError.invalidFormat(isQuantized
                ? "the file holds an int8-quantized \(kind) model, which this call does not load"
                : "the file holds a float32 \(kind) model, not an int8-quantized one")
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

    /// The sizes a recurrent layer's metadata gives (hidden_size and num_layers), as
    /// `checkSizes` entries; `prefix` is the layer's place in the tree ("lstm.").
    /// PyTorch's names, the same for every cell: weight_hh_l<k> is (gates·H, H).
    static func recurrentSizes(prefix: String, hiddenSize: Int, numLayers: Int) -> [(key: String, length: Int, tensor: String, axis: Int)] {
        [("hidden_size", hiddenSize, prefix + "weight_hh_l0", 1), ("num_layers", hiddenSize, prefix + "weight_hh_l\(numLayers - 1)", 1)]
    }

    /// The recurrent cell of a model: metadata `key` ("cell", or a member's
    /// "member<k>.cell"). Absent means "lstm": every file written before other cells
    /// existed, and every LSTM model's file (see `cellMetadata`).
    public static func cell(_ file: SafeTensors, _ key: String = "cell") throws -> RecurrentCell {
        guard let text = file.metadata(key) else { return .lstm }
        guard let cell = RecurrentCell(rawValue: text) else {
            let known = RecurrentCell.allCases.map(\.rawValue).joined(separator: ", ")
            throw LSTMKitError.invalidFormat("metadata \"\(key)\" is \"\(text)\", not a recurrent cell this build knows (\(known))")
        }
        return cell
    }

    /// A recurrent classifier's recurrent layers: hidden_size, num_layers, bidirectional
    /// and the cell, as every such model's file records them.
    public static func recurrentMetadata(_ c: some RecurrentClassifierConfig) -> [(String, String)] {
        [("hidden_size", String(c.hiddenSize)), ("num_layers", String(c.numLayers)),
         ("bidirectional", c.bidirectional ? "true" : "false")] + cellMetadata(c.cell)
    }

    /// A recurrent classifier's pooling head: pooling and attention_size, and
    /// attention_heads for self_attention only (so the other files are as before).
    public static func poolingMetadata(_ c: some RecurrentClassifierConfig) -> [(String, String)] {
        [("pooling", c.pooling.rawValue), ("attention_size", String(c.attentionSize))]
            + (c.pooling == .selfAttention ? [("attention_heads", String(c.attentionHeads))] : [])
    }

    /// Reads what `recurrentMetadata` wrote into `c`.
    public static func readRecurrent<C: RecurrentClassifierConfig>(_ file: SafeTensors, into c: inout C) throws {
        c.hiddenSize = try int(file, "hidden_size")
        c.numLayers = try int(file, "num_layers")
        c.bidirectional = try bool(file, "bidirectional")
        c.cell = try cell(file)
    }

    /// Reads what `poolingMetadata` wrote into `c`.
    public static func readPooling<C: RecurrentClassifierConfig>(_ file: SafeTensors, into c: inout C) throws {
        guard let pooling = SequencePoolingKind(rawValue: file.metadata("pooling") ?? "") else {
            let known = SequencePoolingKind.allCases.map(\.rawValue).joined(separator: ", ")
            throw LSTMKitError.invalidFormat("metadata \"pooling\" must be one of \(known)")
        }
        c.pooling = pooling
        c.attentionSize = try int(file, "attention_size")
        if pooling == .selfAttention { c.attentionHeads = try int(file, "attention_heads") }
    }

    /// The metadata that records `cell`: none for the LSTM, so LSTM models' files stay
    /// byte for byte what they were before cells were recorded.
    public static func cellMetadata(_ cell: RecurrentCell, _ key: String = "cell") -> [(String, String)] {
        cell == .lstm ? [] : [(key, cell.rawValue)]
    }

    /// Copies the file's tensors into the module tree's parameters and buffers, by the
    /// names the tree derives; requires exactly these names and shapes, no more, no fewer.
    /// An int8-quantized file (metadata "quantization") quantizes the tree's layers first
    /// (`Module.quantizeLayers`), so its tensors are the int8 forms'.
    public static func load(_ file: SafeTensors, into module: Module) throws {
        if try isQuantized(file) && !module.isQuantized { try module.quantizeLayers() }
        let expected = module.namedParameters + module.namedBuffers
        let names = Set(expected.map(\.name))
        if let extra = file.tensors.first(where: { !names.contains($0.name) }) {
            throw LSTMKitError.invalidFormat("unexpected tensor \"\(extra.name)\"")
        }
        for (name, p) in expected {
            guard let t = file.tensor(name) else { throw LSTMKitError.invalidFormat("missing tensor \"\(name)\"") }
            guard t.shape == p.shape else {
                throw LSTMKitError.invalidFormat("tensor \"\(name)\" has shape \(t.shape), expected \(p.shape)")
            }
            // An int8-quantized weight's values come as I8, and only they do.
            guard (t.dtype == .i8) == (p.fileType == .i8) else {
                throw LSTMKitError.invalidFormat("tensor \"\(name)\" is stored as \(t.dtype.rawValue), expected \(p.fileType == .i8 ? "I8" : "F32 or F16")")
            }
            do { try p.assign(t.values, fullName: name) } catch let e as LSTMKitError {
                throw LSTMKitError.invalidFormat(e.message)
            }
        }
        try checkQuantized(module, prefix: "")
    }

    /// Runs every int8 layer's own check (its scales) after loading.
    private static func checkQuantized(_ module: Module, prefix: String) throws {
        for (name, child) in module.children { try checkQuantized(child, prefix: prefix + name + ".") }
        do {
            try (module as? QuantizableLayer)?.checkInt8()
        } catch let e as LSTMKitError {
            throw LSTMKitError.invalidFormat(prefix.isEmpty ? e.message : "in \(prefix.dropLast()): \(e.message)")
        }
    }

    /// The module tree's tensors as the file stores them: every parameter, then every
    /// buffer, each under its derived name.
    public static func tensors(of module: Module) -> [SafeTensors.Entry] {
        (module.namedParameters + module.namedBuffers).map {
            SafeTensors.Entry(name: $0.name, shape: $0.parameter.shape, values: $0.parameter.fileValues, dtype: $0.parameter.fileType)
        }
    }

    /// Reads a file and builds a model from it, prefixing format errors with the path.
    /// `build` must give every weight it constructs the file's value (as `load(_:into:)`
    /// does for a whole model): its layers are built without drawing their initial
    /// values (`SeededRandom.skippingInitialValues`).
    /// The file's buffers are freed before it returns, and their pages returned to the
    /// system (`Memory.returnFreedPages`).
    public static func open<T>(_ path: String, _ build: (SafeTensors) throws -> T) throws -> T {
        let model = try read(path, build)
        Memory.returnFreedPages()
        return model
    }

    private static func read<T>(_ path: String, _ build: (SafeTensors) throws -> T) throws -> T {
        let file = try SafeTensors.read(from: path)
        do {
            return try SeededRandom.skippingInitialValues { try build(file) }
        } catch LSTMKitError.invalidFormat(let why) {
            throw LSTMKitError.invalidFormat("\(path): \(why)")
        }
    }
}

/// A model that is one model file: written by `modelFile()`, read by `init(modelFile:)`.
/// Saving and loading by path are these, written once here.
public protocol ModelFileModel: AnyObject {
    func modelFile() -> SafeTensors
    init(modelFile: SafeTensors) throws
}

extension ModelFileModel {
    /// Writes the model file (atomically).
    public func save(to path: String) throws { try modelFile().write(to: path) }

    /// Reads a model file written by `save(to:)`.
    public static func load(from path: String) throws -> Self { try ModelFile.open(path) { try Self(modelFile: $0) } }
}
