import LSTMKitLayers

/// How `Seq2Seq.translate` decodes: the one definition of the decoding options (name,
/// default, range, doc) that the C ABI, Python and the CLI read (docs/SEQ2SEQ.md).
public struct Seq2SeqDecoding: Equatable, Sendable {
    /// Hypotheses kept per step; 1 is greedy decoding.
    public var beamSize = 5
    /// Translations returned per text, best first; at most `beamSize`.
    public var nBest = 1
    /// Finished hypotheses are ranked by log-probability / length^α, α = this (0: the
    /// plain sum, which favours short outputs).
    public var lengthPenalty: Float = 1
    /// At most ceil(this × source tokens) output tokens; 0: the model's
    /// `max_length_ratio`.
    public var maxLengthRatio: Float = 0

    public init() {}

    public init(beamSize: Int = 5, nBest: Int = 1, lengthPenalty: Float = 1, maxLengthRatio: Float = 0) {
        (self.beamSize, self.nBest, self.lengthPenalty, self.maxLengthRatio) = (beamSize, nBest, lengthPenalty, maxLengthRatio)
    }

    /// Greedy decoding: beam 1, one translation.
    public static let greedy = Seq2SeqDecoding(beamSize: 1)
}

extension Seq2SeqDecoding: HyperParameterized {
    public static var hyperParameters: [HyperParameter<Self>] {
        [
            .int("beam_size", \.beamSize, 1...256, "Hypotheses kept per decoding step (1: greedy)."),
            .int("n_best", \.nBest, 1...256, "Translations returned per text, best first (at most beam_size)."),
            .float("length_penalty", \.lengthPenalty, .closedOpen(0, 10),
                   "Finished hypotheses are ranked by log-probability / length^this (0: the plain sum)."),
            .float("max_length_ratio", \.maxLengthRatio, .closedOpen(0, 100),
                   "At most ceil(this × source tokens) output tokens (0: the model's max_length_ratio)."),
        ]
    }

    public func validateCombination() throws {
        guard nBest <= beamSize else {
            throw LSTMKitError.invalidArgument("n_best must be at most beam_size (\(beamSize)), got \(nBest)")
        }
    }
}
