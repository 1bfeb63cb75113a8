import ArgumentParser
import LSTMKit

// What the image classifier's and the image segmenter's commands share: images from .npy
// or PNG files and masks (read by the engine's ImageFiles), labels, and the names of
// choices.

/// Images read from `source` ("-": standard input): `ImageFiles.images`, the input
/// named by `option` in messages.
func readImages(_ source: String, option: String, frames: Bool = false, png: Bool = false,
                channels: Int? = nil) throws -> (images: Tensor, isPNG: Bool) {
    try ImageFiles.images(try readInput(source), name: "\(option) \(describe(source))", file: describe(source),
                          frames: frames, png: png, channels: channels)
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

/// Masks (N, H, W) for `images` (those of `imagesOption`): `ImageFiles.masks`.
func readMasks(_ path: String, option: String, for images: Tensor, of imagesOption: String) throws -> [Int32] {
    try ImageFiles.masks(try NumPyFile.read(path), name: "\(option) \(path)", for: images.shape, of: imagesOption)
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
