import ArgumentParser
import LSTMKit

// What the image classifier's and the image segmenter's commands share: images from .npy
// files (float or integer, decoded by the engine) or PNG files, labels, masks, and the
// names of choices.

/// Images read from `source` ("-": standard input), float32 (N, H, W[, C]), and whether
/// they came from a PNG file (one image). `frames` also takes sequences (N, T, H, W, C);
/// `png` takes PNG files (8-bit grey or RGB); `channels`, where given, is what the model
/// takes. `option` names the input in messages.
func readImages(_ source: String, option: String, frames: Bool = false, png: Bool = false,
                channels: Int? = nil) throws -> (images: Tensor, isPNG: Bool) {
    let name = "\(option) \(describe(source))"
    let bytes = try readInput(source)
    let images: Tensor, isPNG = png && PNG.isPNG(bytes)
    if isPNG {
        let image = try PNG.decode(bytes, name: source)
        try Memory.check([image.pixels.count], for: "\(name) as floats")
        images = Tensor(shape: [1, image.height, image.width, image.channels], data: image.pixels.map { Float($0) })
    } else {
        guard !png || NumPyFile.isNumPy(bytes) else { throw invalid("\(name) is neither a .npy file nor a PNG image") }
        let array = try NumPyFile.parse(bytes, name: describe(source))
        let shapes = ["(N, H, W)", "(N, H, W, C)"] + (frames ? ["(N, T, H, W, C)"] : [])
        guard (3..<3 + shapes.count).contains(array.shape.count) else {
            throw invalid("\(name) holds an array of shape \(NumPyFile.text(array.shape)); images must be "
                          + shapes.dropLast().joined(separator: ", ") + " or " + shapes.last!)
        }
        images = Tensor(shape: array.shape, data: try array.floats(describe(source)))
    }
    let c = images.rank == 4 ? images.shape[3] : 1
    if let channels, c != channels {
        let what = isPNG ? (c == 1 ? "a grey PNG" : "an RGB PNG") : "of shape \(NumPyFile.text(images.shape))"
        throw LSTMKitError.sizeMismatch("\(name) is \(what): images of \(c) channel\(plural(c)); this model takes \(channels)")
    }
    return (images, isPNG)
}

/// Labels from a .npy file (integers or strings, shape (N,) or (N, 1)) or a UTF-8 text
/// file with one label a line; there must be exactly `count`.
func readLabels(_ path: String, count: Int, option: String) throws -> [String] {
    let bytes = try FileIO.read(path)
    let labels: [String]
    if NumPyFile.isNumPy(bytes) {
        let array = try NumPyFile.parse(bytes, name: path)
        guard array.shape.count == 1 || (array.shape.count == 2 && array.shape[1] == 1) else {
            throw invalid("\(option) \(path) has shape \(NumPyFile.text(array.shape)); labels must be (N,)")
        }
        labels = try array.labels(path)
    } else {
        labels = try utf8Lines(bytes, "\(option) \(path)", problem: "is neither a .npy file nor UTF-8 text")
        if let empty = labels.firstIndex(where: { $0.isEmpty }) { throw invalid("\(option) \(path):\(empty + 1): the label is empty") }
    }
    guard labels.count == count else { throw LSTMKitError.sizeMismatch("\(option) \(path) holds \(labels.count) labels for \(count) images") }
    return labels
}

/// Masks (N, H, W) of class indices from a .npy file of integers (or booleans), one
/// for each of `images` (N, H, W[, C]), those of `imagesOption`.
func readMasks(_ path: String, option: String, for images: Tensor, of imagesOption: String) throws -> [Int32] {
    let array = try NumPyFile.read(path)
    let want = Array(images.shape.prefix(3))
    guard array.shape == want else {
        throw LSTMKitError.sizeMismatch("\(option) \(path) has shape \(NumPyFile.text(array.shape)), but the images of "
                                        + "\(imagesOption) are \(NumPyFile.text(images.shape)): masks must be (N, H, W) = "
                                        + NumPyFile.text(want))
    }
    // The engine decodes; the CLI names a bad value by its mask and pixel.
    let (h, w) = (want[1], want[2])
    return try array.int32s("\(option) \(path)") { i, value in
        invalid("\(option) \(path): mask \(i / (h * w)) has label \(value) at (\(i % (h * w) / w), \(i % w)), which is not a class index")
    }
}

/// The case of `T` named `text`; else an error naming `option` and every case.
func choice<T: CaseIterable & RawRepresentable>(_ text: String, option: String) throws -> T where T.RawValue == String {
    guard let value = T(rawValue: text) else {
        let names = T.allCases.map(\.rawValue)
        throw invalid("\(option) must be \(names.dropLast().joined(separator: ", ")) or \(names.last!), got \(text)")
    }
    return value
}

/// The index of the largest value (the first, on a tie).
func argmax(_ values: ArraySlice<Float>) -> Int {
    values.indices.max { values[$0] < values[$1] }! - values.startIndex
}
