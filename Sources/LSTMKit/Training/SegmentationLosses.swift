/// Losses of a segmenter over per-pixel logits (N, K, H, W) against class targets
/// (N·H·W, row-major (N, H, W)), each returning the loss and its gradient w.r.t. the
/// logits. Softmax runs over the K channels of every pixel.
public enum SegmentationLoss {
    /// What a combined loss is made of (the gradient is of `total`).
    public struct Value {
        public var total: Float
        public var crossEntropy: Float
        public var dice: Float
        public var grad: Tensor
    }

    /// Cross-entropy with class weights, as PyTorch's F.cross_entropy(weight=w):
    /// Σ_i w[y_i] (-log p_i[y_i]) / Σ_i w[y_i] over all pixels i.
    public static func crossEntropy(logits: Tensor, targets: [Int32], classWeights: [Float]? = nil) throws -> (loss: Float, grad: Tensor) {
        let v = try combined(logits: logits, targets: targets, classWeights: classWeights, crossEntropyWeight: 1, diceWeight: 0)
        return (v.crossEntropy, v.grad)
    }

    /// Soft Dice loss (Milletari et al. 2016), per class over the whole batch, then
    /// averaged over the K classes: 1 - (1/K) Σ_c (2 Σ_i p_ic y_ic + s) / (Σ_i p_ic + Σ_i y_ic + s),
    /// with y one-hot and smoothing s (a class absent from both scores 1, not 0/0).
    public static func softDice(logits: Tensor, targets: [Int32], smooth: Float = 1) throws -> (loss: Float, grad: Tensor) {
        let v = try combined(logits: logits, targets: targets, crossEntropyWeight: 0, diceWeight: 1, smooth: smooth)
        return (v.dice, v.grad)
    }

    /// crossEntropyWeight · CE(class weights) + diceWeight · Dice, from one softmax.
    public static func combined(logits: Tensor, targets: [Int32], classWeights: [Float]? = nil,
                                crossEntropyWeight: Float = 1, diceWeight: Float = 0.5, smooth: Float = 1) throws -> Value {
        guard logits.rank == 4, logits.shape[1] >= 1 else {
            throw LSTMKitError.invalidArgument("logits must be (N, K, H, W), got \(logits.shape)")
        }
        let (n, k, plane) = (logits.shape[0], logits.shape[1], logits.shape[2] * logits.shape[3])
        guard targets.count == n * plane else {
            throw LSTMKitError.sizeMismatch("\(targets.count) targets for \(n * plane) pixels of logits \(logits.shape)")
        }
        guard n * plane > 0 else { throw LSTMKitError.invalidArgument("no pixels to score: logits \(logits.shape)") }
        if let bad = targets.firstIndex(where: { $0 < 0 || Int($0) >= k }) {
            throw LSTMKitError.invalidArgument("target \(targets[bad]) at pixel \(bad) is outside [0, \(k))")
        }
        let weights = classWeights ?? [Float](repeating: 1, count: k)
        guard weights.count == k, weights.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw LSTMKitError.invalidArgument("class weights must be \(k) finite values >= 0, got \(weights)")
        }
        for (name, v) in [("cross-entropy weight", crossEntropyWeight), ("Dice weight", diceWeight), ("Dice smoothing", smooth)]
        where !(v.isFinite && v >= 0) {
            throw LSTMKitError.invalidArgument("the \(name) must be finite and >= 0, got \(v)")
        }
        // Softmax per pixel; logits and probabilities share the (N, K, H·W) layout.
        var p = [Float](repeating: 0, count: logits.count)
        var logZ = [Float](repeating: 0, count: n * plane)
        for b in 0..<n {
            for i in 0..<plane {
                let at = { (c: Int) in (b * k + c) * plane + i }
                var top = -Float.infinity
                for c in 0..<k { top = max(top, logits.data[at(c)]) }
                var sum: Float = 0
                for c in 0..<k { let e = VectorMath.exp(logits.data[at(c)] - top); p[at(c)] = e; sum += e }
                for c in 0..<k { p[at(c)] /= sum }
                logZ[b * plane + i] = top + VectorMath.log(sum)
            }
        }
        var grad = [Float](repeating: 0, count: logits.count)
        var crossEntropy: Float = 0, dice: Float = 0

        if crossEntropyWeight > 0 {
            var total = 0.0, weightSum = 0.0
            for b in 0..<n {
                for i in 0..<plane {
                    let y = Int(targets[b * plane + i]), w = weights[y]
                    total += Double(w) * Double(logZ[b * plane + i] - logits.data[(b * k + y) * plane + i])
                    weightSum += Double(w)
                }
            }
            guard weightSum > 0 else {
                throw LSTMKitError.invalidArgument("every target pixel has class weight 0: nothing to learn from")
            }
            crossEntropy = Float(total / weightSum)
            let scale = crossEntropyWeight / Float(weightSum)
            for b in 0..<n {
                for i in 0..<plane {
                    let y = Int(targets[b * plane + i]), w = weights[y] * scale
                    for c in 0..<k {
                        let at = (b * k + c) * plane + i
                        grad[at] += w * (p[at] - (c == y ? 1 : 0))
                    }
                }
            }
        }

        if diceWeight > 0 {
            var intersection = [Double](repeating: 0, count: k), predicted = [Double](repeating: 0, count: k)
            var present = [Double](repeating: 0, count: k)
            for b in 0..<n {
                for i in 0..<plane {
                    let y = Int(targets[b * plane + i])
                    present[y] += 1
                    intersection[y] += Double(p[(b * k + y) * plane + i])
                    for c in 0..<k { predicted[c] += Double(p[(b * k + c) * plane + i]) }
                }
            }
            let s = Double(smooth)
            var score = 0.0
            // dL/dp_ic = -(1/K) (2 y_ic D_c - (2 I_c + s)) / D_c², with D_c = P_c + G_c + s.
            var onTarget = [Float](repeating: 0, count: k), offTarget = [Float](repeating: 0, count: k)
            for c in 0..<k {
                let d = predicted[c] + present[c] + s, numerator = 2 * intersection[c] + s
                score += d > 0 ? numerator / d : 1
                guard d > 0 else { continue }
                offTarget[c] = Float(numerator / (d * d) / Double(k))
                onTarget[c] = Float((numerator - 2 * d) / (d * d) / Double(k))
            }
            dice = Float(1 - score / Double(k))
            // Through the softmax: dz_j = p_j (g_j - Σ_c p_c g_c).
            var g = [Float](repeating: 0, count: k)
            for b in 0..<n {
                for i in 0..<plane {
                    let y = Int(targets[b * plane + i])
                    var mean: Float = 0
                    for c in 0..<k {
                        g[c] = c == y ? onTarget[c] : offTarget[c]
                        mean += p[(b * k + c) * plane + i] * g[c]
                    }
                    for c in 0..<k {
                        let at = (b * k + c) * plane + i
                        grad[at] += diceWeight * p[at] * (g[c] - mean)
                    }
                }
            }
        }
        return Value(total: crossEntropyWeight * crossEntropy + diceWeight * dice, crossEntropy: crossEntropy, dice: dice,
                     grad: Tensor(shape: logits.shape, data: grad))
    }
}
