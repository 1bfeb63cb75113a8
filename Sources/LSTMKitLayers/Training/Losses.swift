import LSTMKitCore

/// Losses return the mean loss and its gradient w.r.t. their input, so a training
/// step is: loss forward -> model backward with that gradient -> optimizer step.
public enum Loss {
    /// Softmax cross-entropy over the last dimension of logits (N, C) against class
    /// targets (N), with PyTorch's semantics:
    /// - rows whose target equals `ignoreIndex`, or whose `mask` entry is 0, count for
    ///   nothing; the loss is the mean over the rest (weighted by `mask` if given);
    /// - `labelSmoothing` ε mixes the one-hot target with the uniform distribution:
    ///   loss = (1-ε)(-log p_y) + ε/C Σ_c (-log p_c).
    /// Throws on a target outside [0, C) that is not `ignoreIndex`.
    public static func softmaxCrossEntropy(
        logits: Tensor, targets: [Int32], ignoreIndex: Int32 = -100,
        mask: [Float]? = nil, labelSmoothing: Float = 0
    ) throws -> (loss: Float, grad: Tensor) {
        guard let classes = logits.shape.last, classes > 0 else {
            throw LSTMKitError.invalidArgument("logits need a class dimension, got \(logits.shape)")
        }
        let n = logits.count / classes
        guard targets.count == n else {
            throw LSTMKitError.sizeMismatch("\(targets.count) targets for \(n) rows of logits \(logits.shape)")
        }
        if let mask, mask.count != n {
            throw LSTMKitError.sizeMismatch("mask has \(mask.count) entries for \(n) rows")
        }
        guard labelSmoothing >= 0, labelSmoothing <= 1 else {
            throw LSTMKitError.invalidArgument("label smoothing must be in [0, 1], got \(labelSmoothing)")
        }
        var grad = [Float](repeating: 0, count: logits.count)
        var total: Double = 0
        var weightSum: Double = 0
        let eps = labelSmoothing
        for r in 0..<n {
            let target = targets[r]
            if target == ignoreIndex { continue }
            guard target >= 0, Int(target) < classes else {
                throw LSTMKitError.invalidArgument("target \(target) at row \(r) is outside [0, \(classes))")
            }
            let w = mask?[r] ?? 1
            if w == 0 { continue }
            let base = r * classes
            var maxLogit = -Float.infinity
            for c in 0..<classes { maxLogit = max(maxLogit, logits.data[base + c]) }
            var sumExp: Float = 0
            for c in 0..<classes { sumExp += VectorMath.exp(logits.data[base + c] - maxLogit) }
            let logZ = maxLogit + VectorMath.log(sumExp)
            var rowLoss = (1 - eps) * (logZ - logits.data[base + Int(target)])
            if eps > 0 {
                var sumNegLog: Float = 0
                for c in 0..<classes { sumNegLog += logZ - logits.data[base + c] }
                rowLoss += eps / Float(classes) * sumNegLog
            }
            total += Double(w * rowLoss)
            weightSum += Double(w)
            for c in 0..<classes {
                let p = VectorMath.exp(logits.data[base + c] - logZ)
                let q = (c == Int(target) ? 1 - eps : 0) + eps / Float(classes)
                grad[base + c] = w * (p - q)
            }
        }
        guard weightSum > 0 else {
            return (0, Tensor(shape: logits.shape, data: grad))
        }
        let scale = Float(1 / weightSum)
        for i in 0..<grad.count { grad[i] *= scale }
        return (Float(total / weightSum), Tensor(shape: logits.shape, data: grad))
    }

    /// Knowledge distillation at the level of each row's scores (Hinton et al., 2015):
    /// T² · KL(softmax(teacher/T) ‖ softmax(student/T)) per row of logits (N, C),
    /// weighted by `mask` (nil: all 1), SUMMED over the rows and times `scale` (as the
    /// CRF's NLL: per-sequence sums, `scale` 1/B for a batch mean). The T² keeps the
    /// gradient's size independent of T: d/d student = scale · mask · T · (p_s − p_t).
    /// Throws on sizes that disagree or a temperature that is not finite and > 0.
    public static func softTargetKL(student: Tensor, teacher: [Float], mask: [Float]? = nil, temperature: Float,
                                    scale: Float = 1) throws -> (loss: Float, grad: Tensor) {
        guard let classes = student.shape.last, classes > 0 else {
            throw LSTMKitError.invalidArgument("logits need a class dimension, got \(student.shape)")
        }
        let n = student.count / classes
        guard teacher.count == student.count else {
            throw LSTMKitError.sizeMismatch("\(teacher.count) teacher scores for student scores \(student.shape)")
        }
        if let mask, mask.count != n { throw LSTMKitError.sizeMismatch("mask has \(mask.count) entries for \(n) rows") }
        guard temperature.isFinite, temperature > 0 else {
            throw LSTMKitError.invalidArgument("temperature must be finite and > 0, got \(temperature)")
        }
        var grad = [Float](repeating: 0, count: student.count)
        var total = 0.0
        var ps = [Float](repeating: 0, count: classes), pt = ps
        var lps = ps, lpt = ps
        /// log-softmax of row r of `x` / T into `logp`, and its exp into `p`.
        func logSoftmax(_ x: UnsafeBufferPointer<Float>, _ r: Int, _ logp: inout [Float], _ p: inout [Float]) {
            var m = -Float.infinity
            for c in 0..<classes { m = max(m, x[r * classes + c] / temperature) }
            var sum: Float = 0
            for c in 0..<classes { sum += VectorMath.exp(x[r * classes + c] / temperature - m) }
            let logZ = m + VectorMath.log(sum)
            for c in 0..<classes {
                logp[c] = x[r * classes + c] / temperature - logZ
                p[c] = VectorMath.exp(logp[c])
            }
        }
        student.data.withUnsafeBufferPointer { s in
            teacher.withUnsafeBufferPointer { t in
                for r in 0..<n {
                    let w = mask?[r] ?? 1
                    if w == 0 { continue }
                    logSoftmax(s, r, &lps, &ps)
                    logSoftmax(t, r, &lpt, &pt)
                    var kl: Float = 0
                    for c in 0..<classes where pt[c] > 0 { kl += pt[c] * (lpt[c] - lps[c]) }
                    total += Double(w * kl)
                    for c in 0..<classes { grad[r * classes + c] = scale * w * temperature * (ps[c] - pt[c]) }
                }
            }
        }
        return (Float(total) * temperature * temperature * scale, Tensor(shape: student.shape, data: grad))
    }

    /// Binary cross-entropy on logits, mean over all elements; targets in [0, 1].
    /// Computed stably: max(z, 0) - z y + log(1 + exp(-|z|)).
    public static func binaryCrossEntropyWithLogits(logits: Tensor, targets: [Float]) throws -> (loss: Float, grad: Tensor) {
        guard targets.count == logits.count, logits.count > 0 else {
            throw LSTMKitError.sizeMismatch("\(targets.count) targets for \(logits.count) logits")
        }
        let n = Float(logits.count)
        var total: Double = 0
        var grad = [Float](repeating: 0, count: logits.count)
        for i in 0..<logits.count {
            let z = logits.data[i], y = targets[i]
            total += Double(max(z, 0) - z * y + VectorMath.log1p(VectorMath.exp(-abs(z))))
            grad[i] = (VectorMath.sigmoid(z) - y) / n
        }
        return (Float(total / Double(n)), Tensor(shape: logits.shape, data: grad))
    }

    /// Mean squared error, mean over all elements.
    public static func meanSquaredError(prediction: Tensor, target: [Float]) throws -> (loss: Float, grad: Tensor) {
        guard target.count == prediction.count, prediction.count > 0 else {
            throw LSTMKitError.sizeMismatch("\(target.count) targets for \(prediction.count) predictions")
        }
        let n = Float(prediction.count)
        var total: Double = 0
        var grad = [Float](repeating: 0, count: prediction.count)
        for i in 0..<prediction.count {
            let d = prediction.data[i] - target[i]
            total += Double(d * d)
            grad[i] = 2 * d / n
        }
        return (Float(total / Double(n)), Tensor(shape: prediction.shape, data: grad))
    }
}
