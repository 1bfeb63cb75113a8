import ArgumentParser
import LSTMKit

/// Prints what a file holds: a model's metadata and every tensor's shape, a .npy's shape,
/// dtype and values, a PNG's size and samples.
struct Inspect: Command {
    static let configuration = CommandConfiguration(
        abstract: "Show the kind, hyper-parameters and tensors of a model file (or the shape and dtype of a .npy, the size of a PNG).")

    @Argument(help: "A model file (.safetensors), a NumPy .npy file or a PNG image.")
    var path: String

    func execute() throws {
        let bytes = try FileIO.read(path, regularOnly: true)
        if NumPyFile.isNumPy(bytes) { return try inspectNumPy(bytes) }
        if PNG.isPNG(bytes) { return try inspectPNG(bytes) }
        let file: SafeTensors
        do {
            file = try SafeTensors.parse(bytes)
        } catch LSTMKitError.invalidFormat(let why) {
            throw LSTMKitError.invalidFormat("\(path) is not a valid model file: \(why)")
        }
        print(path)
        for (key, value) in file.metadata { print("  \(key): \(value)") }
        for t in file.tensors { print("  \(t.name) \(t.shape)" + (t.dtype == .f32 ? "" : " \(t.dtype.rawValue)")) }
        print("  \(file.tensors.count) tensors, \(file.tensors.reduce(0) { $0 + $1.values.count }) parameters")
    }

    /// A .npy file: format, shape, dtype and a summary of the values.
    func inspectNumPy(_ bytes: [UInt8]) throws {
        let array = try NumPyFile.parse(bytes, name: path)
        print(path)
        print("  NumPy array, format \(array.version.0).\(array.version.1)")
        print("  shape \(NumPyFile.text(array.shape)), dtype \(array.dtype.name) ('\(array.descr)')")
        if case .unicode = array.dtype {
            let values = try array.labels(path)
            print("  values: " + values.prefix(8).map { "\"\($0)\"" }.joined(separator: " ") + (values.count > 8 ? " ..." : ""))
            return
        }
        let values = try array.floats(path)
        guard !values.isEmpty else {
            print("  no values")
            return
        }
        let finite = values.filter(\.isFinite)
        let mean = finite.reduce(0.0) { $0 + Double($1) } / Double(max(finite.count, 1))
        print("  min \(values.min()!)  max \(values.max()!)  mean \(formatted(Float(mean), digits: 4))"
              + (finite.count < values.count ? "  (\(values.count - finite.count) not finite)" : ""))
        print("  first values: " + values.prefix(8).map { "\($0)" }.joined(separator: " "))
    }

    /// A PNG: size, colour type and a summary of the decoded samples.
    func inspectPNG(_ bytes: [UInt8]) throws {
        let png = try PNG.decode(bytes, name: path)
        print(path)
        let kinds = [0: "grey", 2: "RGB", 4: "grey + alpha (alpha dropped)", 6: "RGB + alpha (alpha dropped)"]
        print("  PNG image, \(png.width)×\(png.height), \(kinds[png.colourType] ?? "?") (colour type \(png.colourType)), 8-bit")
        print("  as an array: shape \(NumPyFile.text([png.height, png.width] + (png.channels == 1 ? [] : [png.channels])))")
        print("  min \(png.pixels.min()!)  max \(png.pixels.max()!)  sum \(png.pixels.reduce(0) { $0 + Int($1) })")
        print("  first values: " + png.pixels.prefix(8).map { String($0) }.joined(separator: " "))
    }
}
