import LSTMKitCore

/// The masked softmax both attention layers share, on rows of scores laid out with a
/// stride (a row per query, a column per key). Only the first `valid` columns are read;
/// the rest of each row up to `width` is set to exactly 0, so a padded key gets zero
/// weight whatever its score would have been, and padding values are never read.
enum AttentionSoftmax {
    /// In place: row ← softmax(row[0..<valid]), zeros in [valid, width).
    static func forward(_ p: UnsafeMutablePointer<Float>, rows: Int, valid: Int, width: Int, stride: Int) {
        for r in 0..<rows {
            let row = p + r * stride
            var m = -Float.infinity
            for j in 0..<valid { m = max(m, row[j]) }
            var total: Float = 0
            for j in 0..<valid { let e = VectorMath.exp(row[j] - m); row[j] = e; total += e }
            let inverse = 1 / total
            for j in 0..<valid { row[j] *= inverse }
            for j in valid..<width { row[j] = 0 }
        }
    }

    /// In place on the weights' gradient: dScore = α ⊙ (dα − Σ_j α_j dα_j) over the valid
    /// columns (the padded ones keep whatever they hold: callers never read them).
    static func backward(weights: UnsafePointer<Float>, weightStride: Int,
                         grad: UnsafeMutablePointer<Float>, gradStride: Int, rows: Int, valid: Int) {
        for r in 0..<rows {
            let a = weights + r * weightStride, g = grad + r * gradStride
            var weighted: Float = 0
            for j in 0..<valid { weighted += a[j] * g[j] }
            for j in 0..<valid { g[j] = a[j] * (g[j] - weighted) }
        }
    }
}
