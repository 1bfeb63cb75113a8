import CKernels
import LSTMKitCore

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
        // Softmax per pixel; logits and probabilities share the (N, K, H·W) layout. Every
        // loop below runs along a plane, so it vectorises; exp is the kernels' polynomial.
        let count = logits.count
        var p = FloatKernels.array(count) { _ in }
        var logZ = FloatKernels.array(n * plane) { _ in }
        var grad = FloatKernels.array(count) { _ in }
        var crossEntropy: Float = 0, dice: Float = 0
        var intersection = [Double](repeating: 0, count: k), predicted = [Double](repeating: 0, count: k)
        var present = [Double](repeating: 0, count: k)
        var onTarget = [Float](repeating: 0, count: k), offTarget = [Float](repeating: 0, count: k)
        try logits.data.withUnsafeBufferPointer { LB in
        try targets.withUnsafeBufferPointer { TB in
        try p.withUnsafeMutableBufferPointer { PB in
        try logZ.withUnsafeMutableBufferPointer { ZB in
        try grad.withUnsafeMutableBufferPointer { GB in
        try ScratchBuffers.with(2 * plane) { work in
            let (L, T, P, Z, G) = (LB.baseAddress!, TB.baseAddress!, PB.baseAddress!, ZB.baseAddress!, GB.baseAddress!)
            let (top, sum) = (work, work + plane)
            for b in 0..<n {
                let z = L + b * k * plane, pb = P + b * k * plane
                top.update(from: z, count: plane)
                for c in 1..<max(k, 1) { let row = z + c * plane; for i in 0..<plane { top[i] = max(top[i], row[i]) } }
                sum.update(repeating: 0, count: plane)
                for c in 0..<k {
                    let (row, out) = (z + c * plane, pb + c * plane)
                    for i in 0..<plane { out[i] = row[i] - top[i] }
                    ck_exp(out, out, Int64(plane))
                    for i in 0..<plane { sum[i] += out[i] }
                }
                for i in 0..<plane { Z[b * plane + i] = top[i] + VectorMath.log(sum[i]); sum[i] = 1 / sum[i] }
                for c in 0..<k { let out = pb + c * plane; for i in 0..<plane { out[i] *= sum[i] } }
            }

            // Cross-entropy: d/dz_c = s · w_y (p_c - [c = y]), s = weight / Σ w_y.
            var total = 0.0, weightSum = 0.0
            if crossEntropyWeight > 0 {
                for b in 0..<n {
                    for i in 0..<plane {
                        let y = Int(T[b * plane + i]), w = weights[y]
                        total += Double(w) * Double(Z[b * plane + i] - L[(b * k + y) * plane + i])
                        weightSum += Double(w)
                    }
                }
                guard weightSum > 0 else {
                    throw LSTMKitError.invalidArgument("every target pixel has class weight 0: nothing to learn from")
                }
                crossEntropy = Float(total / weightSum)
            }
            let scale = crossEntropyWeight > 0 ? crossEntropyWeight / Float(weightSum) : 0
            let scaled = weights.map { $0 * scale }
            for b in 0..<n {
                let (t, pb, gb) = (T + b * plane, P + b * k * plane, G + b * k * plane)
                // top holds s · w_y per pixel.
                for i in 0..<plane { top[i] = scaled[Int(t[i])] }
                for c in 0..<k {
                    let (pc, gc, label) = (pb + c * plane, gb + c * plane, Int32(c))
                    for i in 0..<plane { gc[i] = top[i] * pc[i] - (t[i] == label ? top[i] : 0) }
                }
            }

            guard diceWeight > 0 else { return }
            for b in 0..<n {
                let (t, pb) = (T + b * plane, P + b * k * plane)
                for c in 0..<k { predicted[c] += Double(FloatKernels.sum(pb + c * plane, plane)) }
                for i in 0..<plane {
                    let y = Int(t[i])
                    present[y] += 1
                    intersection[y] += Double(pb[y * plane + i])
                }
            }
            let s = Double(smooth)
            var score = 0.0
            // dL/dp_ic = -(1/K) (2 y_ic D_c - (2 I_c + s)) / D_c², with D_c = P_c + G_c + s.
            for c in 0..<k {
                let d = predicted[c] + present[c] + s, numerator = 2 * intersection[c] + s
                score += d > 0 ? numerator / d : 1
                guard d > 0 else { continue }
                offTarget[c] = Float(numerator / (d * d) / Double(k))
                onTarget[c] = Float((numerator - 2 * d) / (d * d) / Double(k))
            }
            dice = Float(1 - score / Double(k))
            // Through the softmax: dz_j = p_j (g_j - Σ_c p_c g_c), g_c = on/off[c] by the target.
            for b in 0..<n {
                let (t, pb, gb) = (T + b * plane, P + b * k * plane, G + b * k * plane)
                let mean = top
                for i in 0..<plane { let y = Int(t[i]); mean[i] = pb[y * plane + i] * (onTarget[y] - offTarget[y]) }
                for c in 0..<k { let (pc, off) = (pb + c * plane, offTarget[c]); for i in 0..<plane { mean[i] += pc[i] * off } }
                for c in 0..<k {
                    let (pc, gc, label, on, off) = (pb + c * plane, gb + c * plane, Int32(c), onTarget[c], offTarget[c])
                    for i in 0..<plane { gc[i] += diceWeight * pc[i] * ((t[i] == label ? on : off) - mean[i]) }
                }
            }
        }
        }
        }
        }
        }
        }
        ArrayRecycler.current?.give(p)
        ArrayRecycler.current?.give(logZ)
        return Value(total: crossEntropyWeight * crossEntropy + diceWeight * dice, crossEntropy: crossEntropy, dice: dice,
                     grad: Tensor(shape: logits.shape, data: grad))
    }
}
