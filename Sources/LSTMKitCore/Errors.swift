/// Every failure the engine reports. The C ABI maps each case to an `lk_status`,
/// the Python binding to an exception, the CLI to a one-line message.
public enum LSTMKitError: Error, Equatable, CustomStringConvertible {
    case invalidArgument(String)
    case sizeMismatch(String)
    case notFound(String)
    case io(String)
    case invalidFormat(String)
    case outOfMemory(String)

    public var message: String {
        switch self {
        case .invalidArgument(let m), .sizeMismatch(let m), .notFound(let m),
             .io(let m), .invalidFormat(let m), .outOfMemory(let m):
            return m
        }
    }

    public var description: String { message }
}

extension LSTMKitError {
    /// A network whose output for `image` is not finite: finite pixels far beyond the
    /// training scale overflow the arithmetic. Refused, never returned as results.
    package static func nonFiniteOutput(image: Int, pixelMean: Float, pixelStd: Float) -> LSTMKitError {
        .invalidArgument("image \(image) \(nonFiniteOutputPhrase): its pixels are far outside "
                         + "the training scale (mean \(pixelMean), standard deviation \(pixelStd))")
    }

    /// The same for a sequence (the sequence classifier).
    package static func nonFiniteOutput(sequence: Int) -> LSTMKitError {
        .invalidArgument("sequence \(sequence) \(nonFiniteOutputPhrase): its values are far outside the training scale")
    }

    private static let nonFiniteOutputPhrase = "overflows the network (its output is not finite)"

    /// A `nonFiniteOutput` error: raised while a trainer scores its dev set, it means the
    /// weights diverged (the trainer reports it so), not that the images are odd.
    package var isNonFiniteOutput: Bool {
        if case .invalidArgument(let m) = self { return m.contains(Self.nonFiniteOutputPhrase) }
        return false
    }
}
