import LSTMKitCore
import LSTMKitIO
import LSTMKitLayers

/// Model files of the raw recurrent layers, kinds "lstm" and "gru": the parameters under
/// PyTorch's names, and the hyper-parameters in the metadata. See docs/FORMAT.md. An
/// int8-quantized layer's file (docs/QUANTIZATION.md) is the same with "quantization":
/// "int8", its weight matrices I8 with their "<name>_scale" (F32); `load` reads either.
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

/// The raw layers' config as metadata.
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

/// Any raw recurrent layer's file, whichever cell, float32 or int8 (then quantized in place).
public enum RecurrentLayerFile {
    public static func load(from path: String) throws -> any RecurrentLayer {
        try ModelFile.open(path) { file in
            switch file.metadata("kind") {
            case GRU.modelKind: return try GRU(modelFile: file)
            default: return try LSTM(modelFile: file)
            }
        }
    }
}
