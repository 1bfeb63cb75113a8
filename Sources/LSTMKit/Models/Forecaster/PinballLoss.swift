import LSTMKitCore
import LSTMKitLayers

extension Loss {
    /// The pinball (quantile) loss of predicted quantiles against targets, averaged over
    /// every entry: for quantile τ and error e = y − ŷ, max(τ·e, (τ − 1)·e).
    /// `predictions` (N, Q) holds Q quantile predictions per row, in the order of
    /// `quantiles`; `targets` holds N values. Returns the mean loss and its gradient
    /// with respect to the predictions (at a tie, e = 0, the subgradient τ − 1 + ½ = τ − ½
    /// is used, the mean of the two sides).
    public static func pinball(predictions: Tensor, targets: [Float], quantiles: [Float]) throws -> (loss: Float, grad: Tensor) {
        let q = quantiles.count
        guard q > 0, predictions.count == targets.count * q else {
            throw LSTMKitError.sizeMismatch("\(predictions.count) quantile predictions for \(targets.count) targets × \(q) quantiles")
        }
        let n = predictions.count
        guard n > 0 else { return (0, predictions) }
        var grad = [Float](repeating: 0, count: n)
        var total = 0.0
        let scale = 1 / Float(n)
        predictions.data.withUnsafeBufferPointer { p in
            for r in 0..<targets.count {
                for (j, tau) in quantiles.enumerated() {
                    let e = targets[r] - p[r * q + j]
                    total += Double(e >= 0 ? tau * e : (tau - 1) * e)
                    // d/dŷ of the loss: −τ below the target, 1 − τ above it.
                    grad[r * q + j] = (e > 0 ? -tau : e < 0 ? 1 - tau : 0.5 - tau) * scale
                }
            }
        }
        return (Float(total / Double(n)), Tensor(shape: predictions.shape, data: grad))
    }
}
