import ArgumentParser
import LSTMKit

/// Prints what a model file holds: its metadata and every tensor's shape.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the kind, hyper-parameters and tensors of a model file.")

    @Argument(help: "A model file (.safetensors).")
    var path: String

    func run() throws {
        try LSTMKitCLI.reportingErrors {
            let file = try SafeTensors.read(from: path)
            print(path)
            for (key, value) in file.metadata { print("  \(key): \(value)") }
            var total = 0
            for t in file.tensors {
                print("  \(t.name) \(t.shape)")
                total += t.values.count
            }
            print("  \(file.tensors.count) tensors, \(total) parameters")
        }
    }
}
