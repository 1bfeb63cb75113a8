import ArgumentParser
import LSTMKit

/// Prints what a model file holds: its metadata and every tensor's shape.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the kind, hyper-parameters and tensors of a model file (or the shape and dtype of a .npy, the size of a PNG).")

    @Argument(help: "A model file (.safetensors), a NumPy .npy file or a PNG image.")
    var path: String

    func run() throws {
        try LSTMKitCLI.reportingErrors {
            let bytes = try FileIO.read(path, regularOnly: true)
            if NumPyFile.isNumPy(bytes) {
                try inspectNumPy(path, bytes)
                return
            }
            if PNG.isPNG(bytes) {
                try inspectPNG(path, bytes)
                return
            }
            let file: SafeTensors
            do {
                file = try SafeTensors.parse(bytes)
            } catch LSTMKitError.invalidFormat(let why) {
                throw LSTMKitError.invalidFormat("\(path) is not a valid model file: \(why)")
            }
            print(path)
            for (key, value) in file.metadata { print("  \(key): \(value)") }
            var total = 0
            for t in file.tensors {
                print("  \(t.name) \(t.shape)" + (t.dtype == .f32 ? "" : " \(t.dtype.rawValue)"))
                total += t.values.count
            }
            print("  \(file.tensors.count) tensors, \(total) parameters")
        }
    }
}
