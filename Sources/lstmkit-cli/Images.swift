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

/// Labels of `count` `items` from a .npy or text file: `TextFile.labels`.
func readLabels(_ path: String, count: Int, option: String, of items: String = "images") throws -> [String] {
    try TextFile.labels(try FileIO.read(path), name: "\(option) \(path)", count: count, of: items)
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
