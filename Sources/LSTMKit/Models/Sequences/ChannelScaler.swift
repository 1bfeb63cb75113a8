import LSTMKitCore
import LSTMKitLayers

/// Per-channel z-score normalisation fitted on training sequences: each channel is fed
/// as (x − mean) / std, mean and std over every present value of the training set (NaN
/// and padding left out). A model holds it as a child module, so its two tensors are
/// saved in the model file ("scaler.mean", "scaler.std", shape (C)) and loaded with it.
public final class ChannelScaler: Module {
    public let channels: Int
    /// Whether NaN is masked (`MissingValues.mask`): the features then carry a missing
    /// indicator per channel after the C scaled values.
    public let maskMissing: Bool
    public let mean: Parameter
    public let std: Parameter

    /// An identity scaler (mean 0, std 1): a model being loaded, whose file sets both.
    public init(channels: Int, maskMissing: Bool) {
        precondition(channels >= 1, "a scaler needs at least one channel")
        (self.channels, self.maskMissing) = (channels, maskMissing)
        mean = Parameter(name: "mean", shape: [channels])
        std = Parameter(name: "std", shape: [channels], value: [Float](repeating: 1, count: channels))
    }

    /// Fitted on `data`: a channel without spread (or without any present value) keeps
    /// std 1, so it is centred but never divided by ~0.
    public convenience init(fittedOn data: Sequences, maskMissing: Bool) {
        self.init(channels: data.channels, maskMissing: maskMissing)
        let c = channels
        var sum = [Double](repeating: 0, count: c), sumSq = sum, n = sum
        for (k, v) in data.values.enumerated() where !v.isNaN {
            sum[k % c] += Double(v)
            n[k % c] += 1
        }
        let m = (0..<c).map { n[$0] > 0 ? sum[$0] / n[$0] : 0 }
        for (k, v) in data.values.enumerated() where !v.isNaN {
            let d = Double(v) - m[k % c]
            sumSq[k % c] += d * d
        }
        mean.value = m.map { Float($0) }
        std.value = (0..<c).map { j in
            let s = n[j] > 1 ? (sumSq[j] / n[j]).squareRoot() : 0
            return s > 1e-6 * max(1, abs(m[j])) ? Float(s) : 1
        }
    }

    /// Saved, not trained.
    public var localBuffers: [Parameter] { [mean, std] }

    /// Inputs per step the network sees: C, or 2·C with missing indicators.
    public var featureWidth: Int { maskMissing ? 2 * channels : channels }

    /// Writes one step's features: the scaled values (NaN → 0, the training mean), then
    /// with `maskMissing` one indicator per channel (1 where the value was NaN).
    public func features(_ step: ArraySlice<Float>, _ out: UnsafeMutablePointer<Float>) {
        var j = 0
        for v in step {
            if v.isNaN {
                out[j] = 0
                if maskMissing { out[channels + j] = 1 }
            } else {
                out[j] = (v - mean.value[j]) / std.value[j]
            }
            j += 1
        }
    }

    /// The padded, scaled batch (B, T, patch · featureWidth) of the sequences at
    /// `indices` (see `Sequences.paddedBatch`).
    public func batch(_ data: Sequences, _ indices: [Int], patch: Int = 1) -> (x: Tensor, lengths: [Int]) {
        data.paddedBatch(indices, width: featureWidth, patch: patch, features: features)
    }

    /// Throws unless `data` has this scaler's channel count.
    public func check(_ data: Sequences) throws {
        guard data.channels == channels else {
            throw LSTMKitError.invalidArgument("the sequences have \(data.channels) channel\(data.channels == 1 ? "" : "s"), the model was trained on \(channels)")
        }
        if !maskMissing, let k = data.values.firstIndex(where: \.isNaN) {
            let step = k / channels
            let i = (data.offsets.lastIndex { $0 <= step })!
            throw LSTMKitError.invalidArgument("sequence \(i), step \(step - data.offsets[i]), channel \(k % channels) is NaN (the model was trained without missing-value masking)")
        }
    }
}
