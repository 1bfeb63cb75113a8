import LSTMKitCore
import LSTMKitIO
import LSTMKitLayers

/// Model files of the raw recurrent layers, kinds "lstm" and "gru": the parameters under
/// PyTorch's names, and the hyper-parameters in the metadata. See docs/FORMAT.md.
public protocol RecurrentModelFile: RecurrentLayer {
    /// The file kind ("lstm", "gru").
    static var modelKind: String { get }
    init(_ config: RecurrentConfig) throws
}

extension LSTM: RecurrentModelFile {
    public static let modelKind = "lstm"
}

extension GRU: RecurrentModelFile {
    public static let modelKind = "gru"
}

extension RecurrentModelFile {
    /// The model file's content: hyper-parameters as metadata, weights by PyTorch name.
    public func modelFile() -> SafeTensors {
        SafeTensors(metadata: ModelFile.header(kind: Self.modelKind, quantized: isQuantized) + RecurrentFile.metadata(config),
                    tensors: ModelFile.tensors(of: self))
    }

    public func save(to path: String) throws {
        try modelFile().write(to: path)
    }

    public init(modelFile file: SafeTensors) throws {
        try ModelFile.checkKind(file, expected: Self.modelKind)
        try self.init(RecurrentFile.config(file))
        try ModelFile.load(file, into: self)
    }

    public static func load(from path: String) throws -> Self {
        try ModelFile.open(path) { try Self(modelFile: $0) }
    }
}

/// What the raw layers' files share, float32 or int8: the config's metadata.
enum RecurrentFile {
    static func metadata(_ config: RecurrentConfig) -> [(String, String)] {
        [("input_size", String(config.inputSize)),
         ("hidden_size", String(config.hiddenSize)),
         ("num_layers", String(config.numLayers)),
         ("bidirectional", config.bidirectional ? "true" : "false"),
         ("dropout", String(config.dropout)),
         ("seed", String(config.seed))]
    }

    /// The config a file records, checked against its tensors.
    static func config(_ file: SafeTensors) throws -> RecurrentConfig {
        let config = RecurrentConfig(
            inputSize: try ModelFile.int(file, "input_size"),
            hiddenSize: try ModelFile.int(file, "hidden_size"),
            numLayers: try ModelFile.int(file, "num_layers"),
            bidirectional: try ModelFile.bool(file, "bidirectional"),
            dropout: try ModelFile.float(file, "dropout"),
            seed: try file.metadata("seed").map {
                guard let v = UInt64($0) else { throw LSTMKitError.invalidFormat("metadata \"seed\" is not an unsigned integer") }
                return v
            } ?? 0)
        do {
            try config.validate()
            try ModelFile.checkSizes(file, [("input_size", config.inputSize, "weight_ih_l0", 1)]
                + ModelFile.recurrentSizes(prefix: "", hiddenSize: config.hiddenSize, numLayers: config.numLayers))
        } catch let e as LSTMKitError {
            throw LSTMKitError.invalidFormat("invalid hyper-parameters: \(e.message)")
        }
        return config
    }
}

/// An int8-quantized LSTM's or GRU's file: the float layer's kind ("lstm", "gru") and
/// metadata plus "quantization": "int8"; the weight matrices as I8 with their
/// "<name>_scale" (F32). Readers before int8 refuse it (they know no I8 tensors).
extension QuantizedRecurrent {
    public func modelFile() -> SafeTensors {
        SafeTensors(metadata: ModelFile.header(kind: cell.rawValue, quantized: true) + RecurrentFile.metadata(config),
                    tensors: ModelFile.tensors(of: self))
    }

    public func save(to path: String) throws {
        try modelFile().write(to: path)
    }

    public convenience init(modelFile file: SafeTensors) throws {
        let cell = try RecurrentCell(rawValue: file.metadata("kind") ?? "").orThrow(
            LSTMKitError.invalidFormat("the file holds a model of kind \"\(file.metadata("kind") ?? "missing")\", not an LSTM or GRU"))
        try ModelFile.checkKind(file, expected: cell.rawValue, quantized: true)
        try self.init(RecurrentFile.config(file), cell: cell)
        try ModelFile.load(file, into: self)
    }

    public static func load(from path: String) throws -> QuantizedRecurrent {
        try ModelFile.open(path) { try QuantizedRecurrent(modelFile: $0) }
    }
}

extension Optional {
    fileprivate func orThrow(_ error: @autoclosure () -> Error) throws -> Wrapped {
        guard let value = self else { throw error() }
        return value
    }
}

/// Any raw recurrent layer's file, whichever cell and whether int8-quantized or not.
public enum RecurrentLayerFile {
    public static func load(from path: String) throws -> any RecurrentLayer {
        try ModelFile.open(path) { file in
            if try ModelFile.isQuantized(file) { return try QuantizedRecurrent(modelFile: file) }
            switch file.metadata("kind") {
            case GRU.modelKind: return try GRU(modelFile: file)
            default: return try LSTM(modelFile: file)
            }
        }
    }
}
