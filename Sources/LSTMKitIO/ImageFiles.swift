import LSTMKitCore

/// Images and masks as files hold them, for the tools that read them (the command-line
/// tool): images from a .npy file (float or integer) or a PNG file, masks of class
/// indices from a .npy file of integers. `name` names the input in messages
/// ("--train data.npy").
public enum ImageFiles {
    /// The images in `bytes`, float32 (N, H, W[, C]), and whether they came from a PNG
    /// (one image). `frames` also takes sequences (N, T, H, W, C); `png` takes PNG files
    /// (8-bit grey or RGB); `channels`, where given, is what a model takes. `file` names
    /// the file alone.
    public static func images(_ bytes: [UInt8], name: String, file: String, frames: Bool = false, png: Bool = false,
                              channels: Int? = nil) throws -> (images: Tensor, isPNG: Bool) {
        let images: Tensor, isPNG = png && PNG.isPNG(bytes)
        if isPNG {
            let image = try PNG.decode(bytes, name: file)
            try Memory.check([image.pixels.count], for: "\(name) as floats")
            images = Tensor(shape: [1, image.height, image.width, image.channels], data: image.pixels.map { Float($0) })
        } else {
            guard !png || NumPyFile.isNumPy(bytes) else { throw LSTMKitError.invalidArgument("\(name) is neither a .npy file nor a PNG image") }
            let array = try NumPyFile.parse(bytes, name: file)
            let shapes = ["(N, H, W)", "(N, H, W, C)"] + (frames ? ["(N, T, H, W, C)"] : [])
            guard (3..<3 + shapes.count).contains(array.shape.count) else {
                throw LSTMKitError.invalidArgument("\(name) holds an array of shape \(NumPyFile.text(array.shape)); images must be "
                                                   + shapes.dropLast().joined(separator: ", ") + " or " + shapes.last!)
            }
            images = Tensor(shape: array.shape, data: try array.floats(file))
        }
        let c = images.rank == 4 ? images.shape[3] : 1
        if let channels, c != channels {
            let what = isPNG ? (c == 1 ? "a grey PNG" : "an RGB PNG") : "of shape \(NumPyFile.text(images.shape))"
            throw LSTMKitError.sizeMismatch("\(name) is \(what): images of \(c) channel\(c == 1 ? "" : "s"); this model takes \(channels)")
        }
        return (images, isPNG)
    }

    /// Masks (N, H, W) of class indices from `array` (integers or booleans), one for each
    /// image of shape `images` (N, H, W[, C]), the images of `imagesName`. A value outside
    /// Int32 is named by its mask and pixel.
    public static func masks(_ array: NumPyArray, name: String, for images: [Int], of imagesName: String) throws -> [Int32] {
        let want = Array(images.prefix(3))
        guard array.shape == want else {
            throw LSTMKitError.sizeMismatch("\(name) has shape \(NumPyFile.text(array.shape)), but the images of "
                                            + "\(imagesName) are \(NumPyFile.text(images)): masks must be (N, H, W) = "
                                            + NumPyFile.text(want))
        }
        let (h, w) = (want[1], want[2])
        return try array.int32s(name) { i, value in
            LSTMKitError.invalidArgument("\(name): mask \(i / (h * w)) has label \(value) at (\(i % (h * w) / w), \(i % w)), which is not a class index")
        }
    }
}
