import ArgumentParser
import Glibc
import LSTMKit

/// `quantize IN OUT`: a raw LSTM's or GRU's file to its int8 form (docs/QUANTIZATION.md).
struct Quantize: Command {
    static let configuration = CommandConfiguration(
        abstract: "Quantize an LSTM or GRU model file to int8 (weights int8 per row, about 4x smaller; docs/QUANTIZATION.md).")

    @Argument(help: "A float32 model file of kind lstm or gru.")
    var input: String

    @Argument(help: "Where to write the int8 model file (an existing file is kept unless --force).")
    var output: String

    @Flag(help: "Replace OUT if it exists.")
    var force = false

    func execute() throws {
        try refuseOverwritingInputs([input], output: output, option: "OUT")
        if !force && access(output, F_OK) == 0 { throw invalid("\(output) exists; pass --force to replace it") }
        let quantized = try RecurrentLayerFile.load(from: input).quantize()
        try quantized.save(to: output)
        let sizes = try [input, output].map { try FileIO.read($0, regularOnly: true).count }
        print("\(output): int8 \(quantized.cell.rawValue), \(sizes[1]) bytes (\(input): \(sizes[0]) bytes)")
    }
}
