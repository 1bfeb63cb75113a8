import ArgumentParser
import Glibc
import LSTMKit

/// `quantize IN OUT`: a model file of any kind to its int8 form (docs/QUANTIZATION.md).
struct Quantize: Command {
    static let configuration = CommandConfiguration(
        abstract: "Quantize a model file to int8 (LSTM/GRU and linear weights int8 per row; docs/QUANTIZATION.md).")

    @Argument(help: "A float32 model file of any kind (lstm, gru, tokenizer, a classifier, segmenter, forecaster or seq2seq).")
    var input: String

    @Argument(help: "Where to write the int8 model file (an existing file is kept unless --force).")
    var output: String

    @Flag(help: "Replace OUT if it exists.")
    var force = false

    func execute() throws {
        try refuseOverwritingInputs([input], output: output, option: "OUT")
        if !force && access(output, F_OK) == 0 { throw invalid("\(output) exists; pass --force to replace it") }
        let (kind, layers, save) = try ModelFile.open(input, Self.open)
        try layers.quantizeLayers()
        try save(output)
        let sizes = try [input, output].map { try FileIO.read($0, regularOnly: true).count }
        print("\(output): int8 \(kind), \(sizes[1]) bytes (\(input): \(sizes[0]) bytes)")
    }

    /// The model a file holds, the file's kind deciding: its layers and its writer.
    static func open(_ file: SafeTensors) throws -> (String, Module, (String) throws -> Void) {
        let kind = file.metadata("kind") ?? "missing"
        switch kind {
        case LSTM.modelKind: let m = try LSTM(modelFile: file); return (kind, m, m.save)
        case GRU.modelKind: let m = try GRU(modelFile: file); return (kind, m, m.save)
        case Tokenizer.modelKind: let m = try Tokenizer(modelFile: file); return (kind, m.moduleTree, m.save)
        case TextClassifier.modelKind: let m = try TextClassifier(modelFile: file); return (kind, m, m.save)
        case ImageClassifier.modelKind: let m = try ImageClassifier(modelFile: file); return (kind, m, m.save)
        case ImageSegmenter.modelKind: let m = try ImageSegmenter(modelFile: file); return (kind, m, m.save)
        case SequenceClassifier.modelKind: let m = try SequenceClassifier(modelFile: file); return (kind, m, m.save)
        case Forecaster.modelKind: let m = try Forecaster(modelFile: file); return (kind, m, m.save)
        case Seq2Seq.modelKind: let m = try Seq2Seq(modelFile: file); return (kind, m, m.save)
        default:
            try ModelFile.checkKind(file, expected: kind)  // a file that is not LSTMKit's says so first
            throw LSTMKitError.invalidFormat("a model of kind \"\(kind)\" has no int8 form")
        }
    }
}
