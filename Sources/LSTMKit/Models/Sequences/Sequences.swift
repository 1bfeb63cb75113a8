import LSTMKitCore
import LSTMKitLayers

/// Float sequences of C channels, of different lengths, as every numeric-sequence model
/// takes them (the sequence classifier, the forecaster): the checks of a caller's data
/// (channel counts, empty sequences, NaN named by index) and the padded batch a
/// `RecurrentLayer` reads.

/// What to do with NaN in a caller's sequences.
public enum MissingValues: String, CaseIterable, Sendable {
    /// NaN is an error naming its sequence, step and channel.
    case refuse
    /// NaN is "missing": after scaling it becomes 0 (the channel's training mean) and a
    /// second set of C channels says which values were missing (1) or present (0), so
    /// the network sees 2·C inputs per step. See `ChannelScaler.features`.
    case mask
}

/// A set of sequences of `channels` values per step: sequence i is `lengths[i]` steps,
/// stored step after step (T_i · C values) one sequence after another in `values`.
/// Built through `init(sequences:channels:)` or `init(padded:...)`, which check the data.
public struct Sequences: Sendable, Equatable {
    public let channels: Int
    public let lengths: [Int]
    /// All sequences' values, (Σ T_i, C).
    public let values: [Float]
    /// Where each sequence starts in `values`, in steps.
    let offsets: [Int]

    public var count: Int { lengths.count }
    public var maxLength: Int { lengths.max() ?? 0 }

    /// Sequences as flat arrays of T_i · C values (step after step). Throws when there
    /// is none, when one is empty, when a count is not a multiple of `channels`, or
    /// (unless `missing` is `.mask`) on NaN; infinities are always refused.
    public init(sequences: [[Float]], channels: Int, missing: MissingValues = .refuse) throws {
        guard channels >= 1 else { throw LSTMKitError.invalidArgument("channels must be >= 1, got \(channels)") }
        var lengths: [Int] = []
        lengths.reserveCapacity(sequences.count)
        for (i, s) in sequences.enumerated() {
            guard s.count % channels == 0 else {
                throw LSTMKitError.invalidArgument("sequence \(i) has \(s.count) values, not a whole number of steps of \(channels) channels")
            }
            lengths.append(s.count / channels)
        }
        try self.init(values: Array(sequences.joined()), lengths: lengths, channels: channels, missing: missing)
    }

    /// A padded array (N, T, C) whose sequence i is its first `lengths[i]` steps (all T
    /// steps when `lengths` is nil); padded steps are ignored whatever they hold.
    public init(padded: [Float], count n: Int, steps: Int, channels: Int, lengths: [Int]? = nil,
                missing: MissingValues = .refuse) throws {
        guard n >= 0, steps >= 0, channels >= 1 else {
            throw LSTMKitError.invalidArgument("a padded batch needs N, T >= 0 and C >= 1, got (\(n), \(steps), \(channels))")
        }
        guard padded.count == n * steps * channels else {
            throw LSTMKitError.sizeMismatch("a padded batch (\(n), \(steps), \(channels)) needs \(n * steps * channels) values, got \(padded.count)")
        }
        let lengths = lengths ?? [Int](repeating: steps, count: n)
        guard lengths.count == n else { throw LSTMKitError.sizeMismatch("\(n) sequences but \(lengths.count) lengths") }
        if let i = lengths.firstIndex(where: { $0 > steps }) {
            throw LSTMKitError.invalidArgument("sequence \(i) has length \(lengths[i]), longer than the \(steps) steps of the batch")
        }
        if let i = lengths.firstIndex(where: { $0 < 0 }) {
            throw LSTMKitError.invalidArgument("sequence \(i) has length \(lengths[i]) < 0")
        }
        var values: [Float] = []
        values.reserveCapacity(lengths.reduce(0, +) * channels)
        for (i, len) in lengths.enumerated() { values += padded[(i * steps * channels)..<((i * steps + len) * channels)] }
        try self.init(values: values, lengths: lengths, channels: channels, missing: missing)
    }

    /// Concatenated sequences (Σ T_i, C) and their lengths: the C ABI's layout.
    public init(values: [Float], lengths: [Int], channels: Int, missing: MissingValues = .refuse) throws {
        guard channels >= 1 else { throw LSTMKitError.invalidArgument("channels must be >= 1, got \(channels)") }
        guard !lengths.isEmpty else { throw LSTMKitError.invalidArgument("no sequences were given") }
        if let i = lengths.firstIndex(where: { $0 <= 0 }) {
            throw LSTMKitError.invalidArgument("sequence \(i) is empty (a sequence needs at least one step)")
        }
        let total = lengths.reduce(0, +)
        guard values.count == total * channels else {
            throw LSTMKitError.sizeMismatch("\(lengths.count) sequences of \(total) steps in all need \(total * channels) values of \(channels) channels, got \(values.count)")
        }
        var offsets = [Int](repeating: 0, count: lengths.count)
        for i in 1..<max(lengths.count, 1) { offsets[i] = offsets[i - 1] + lengths[i - 1] }
        if let bad = values.firstIndex(where: { !$0.isFinite && (missing == .refuse || !$0.isNaN) }) {
            let step = bad / channels
            let i = (offsets.lastIndex { $0 <= step })!
            throw LSTMKitError.invalidArgument("sequence \(i), step \(step - offsets[i]), channel \(bad % channels) is \(values[bad])"
                                               + (values[bad].isNaN ? " (pass missing=\"mask\" to treat NaN as missing)" : ""))
        }
        (self.values, self.lengths, self.channels, self.offsets) = (values, lengths, channels, offsets)
    }

    /// Sequence i's values, (T_i, C).
    public func sequence(_ i: Int) -> ArraySlice<Float> {
        values[(offsets[i] * channels)..<((offsets[i] + lengths[i]) * channels)]
    }

    /// The sequences at `indices`, in that order.
    public func subset(_ indices: [Int]) -> Sequences {
        var offsets: [Int] = [], values: [Float] = [], start = 0
        for i in indices {
            offsets.append(start)
            start += lengths[i]
            values += sequence(i)
        }
        return Sequences(checked: values, lengths: indices.map { lengths[$0] }, channels: channels, offsets: offsets)
    }

    private init(checked values: [Float], lengths: [Int], channels: Int, offsets: [Int]) {
        (self.values, self.lengths, self.channels, self.offsets) = (values, lengths, channels, offsets)
    }

    /// The sequences at `indices` as a padded batch (B, T, P·D) for a `RecurrentLayer`:
    /// each step's C values through `features` (which writes D values per step: the
    /// scaler's), `patch` = P consecutive steps side by side as one step of the batch (a
    /// sequence of L steps is ceil(L / P) batch steps, the last one filled with 0 beyond
    /// its end), T the longest of those; padded steps 0.
    public func paddedBatch(_ indices: [Int], width d: Int, patch p: Int = 1,
                            features: (_ step: ArraySlice<Float>, _ out: UnsafeMutablePointer<Float>) -> Void) -> (x: Tensor, lengths: [Int]) {
        let lengths = indices.map { (self.lengths[$0] + p - 1) / p }
        let steps = lengths.max() ?? 0
        var x = [Float](repeating: 0, count: indices.count * steps * p * d)
        x.withUnsafeMutableBufferPointer { out in
            for (b, i) in indices.enumerated() {
                let base = offsets[i] * channels
                // (B, T, P·D) is (B, T·P, D): step t of the sequence is row b·T·P + t.
                for t in 0..<self.lengths[i] {
                    features(values[(base + t * channels)..<(base + (t + 1) * channels)], out.baseAddress! + (b * steps * p + t) * d)
                }
            }
        }
        return (Tensor(shape: [indices.count, steps, p * d], data: x), lengths)
    }

    /// True when some value is NaN (only possible when built with `missing: .mask`).
    public var hasMissing: Bool { values.contains { $0.isNaN } }
}
