import LSTMKitCore

/// A linear-chain conditional random field over `numTags` tags.
///
/// score(y) = start[y_0] + Σ_t emissions[t, y_t] + Σ_t transitions[y_{t-1}, y_t] + end[y_{T-1}]
/// p(y | x) = exp(score(y)) / Z, with log Z from the forward algorithm in log space.
///
/// `allowed` marks the transitions (and start/end tags) that may occur at all; the
/// forbidden ones are excluded exactly — in the partition function during training
/// and in Viterbi decoding — rather than merely penalised.
public final class CRF: Module {
    public let numTags: Int
    /// (numTags, numTags): transitions[i * numTags + j] scores tag i followed by tag j.
    public let transitions: Parameter
    public let startScores: Parameter
    public let endScores: Parameter
    public let allowedTransitions: [Bool]
    public let allowedStart: [Bool]
    public let allowedEnd: [Bool]

    public init(numTags: Int, allowedTransitions: [Bool]? = nil, allowedStart: [Bool]? = nil,
                allowedEnd: [Bool]? = nil) {
        precondition(numTags >= 1, "a CRF needs at least one tag")
        self.numTags = numTags
        transitions = Parameter(name: "transitions", shape: [numTags, numTags])
        startScores = Parameter(name: "start", shape: [numTags])
        endScores = Parameter(name: "end", shape: [numTags])
        self.allowedTransitions = allowedTransitions ?? [Bool](repeating: true, count: numTags * numTags)
        self.allowedStart = allowedStart ?? [Bool](repeating: true, count: numTags)
        self.allowedEnd = allowedEnd ?? [Bool](repeating: true, count: numTags)
        precondition(self.allowedTransitions.count == numTags * numTags && self.allowedStart.count == numTags
                     && self.allowedEnd.count == numTags, "CRF constraint masks have the wrong size")
    }

    public var localParameters: [Parameter] { [transitions, startScores, endScores] }

    /// Effective scores with forbidden moves at -infinity.
    private func maskedScores() -> (trans: [Float], start: [Float], end: [Float]) {
        let ninf = -Float.infinity
        let trans = (0..<(numTags * numTags)).map { allowedTransitions[$0] ? transitions.value[$0] : ninf }
        let start = (0..<numTags).map { allowedStart[$0] ? startScores.value[$0] : ninf }
        let end = (0..<numTags).map { allowedEnd[$0] ? endScores.value[$0] : ninf }
        return (trans, start, end)
    }

    /// log Σ exp(a_i), safe when every a_i is -infinity.
    @inline(__always)
    static func logSumExp(_ values: UnsafePointer<Float>, _ count: Int) -> Float {
        var m = -Float.infinity
        for i in 0..<count { m = max(m, values[i]) }
        if m == -Float.infinity { return m }
        var s: Float = 0
        for i in 0..<count { s += VectorMath.exp(values[i] - m) }
        return m + VectorMath.log(s)
    }

    /// True when the tag sequence uses only allowed moves.
    public func isAllowed(_ tags: [Int32]) -> Bool {
        guard let first = tags.first, let last = tags.last else { return true }
        if !allowedStart[Int(first)] || !allowedEnd[Int(last)] { return false }
        for t in 1..<tags.count where !allowedTransitions[Int(tags[t - 1]) * numTags + Int(tags[t])] { return false }
        return true
    }

    /// Negative log-likelihood of each gold tag sequence, summed over the batch, and
    /// its gradient: ADDS into the CRF's parameter grads (scaled by `scale`) and
    /// returns d(NLL·scale)/d(emissions).
    ///
    /// emissions (B, T, numTags); tags (B, T) with each row valid up to lengths[b].
    /// Throws if a gold sequence uses a forbidden move (its probability would be 0).
    public func negativeLogLikelihood(emissions: Tensor, tags: [Int32], lengths: [Int],
                                      scale: Float = 1) throws -> (loss: Float, emissionGrad: Tensor) {
        let (batch, steps, k) = (emissions.shape[0], emissions.shape[1], numTags)
        precondition(emissions.shape == [batch, steps, k] && tags.count == batch * steps && lengths.count == batch,
                     "CRF: emissions, tags and lengths disagree")
        let (trans, start, end) = maskedScores()
        var dEmissions = [Float](repeating: 0, count: emissions.count)
        var dTrans = [Float](repeating: 0, count: k * k)
        var dStart = [Float](repeating: 0, count: k)
        var dEnd = [Float](repeating: 0, count: k)
        var total: Double = 0
        var alpha = [Float](repeating: 0, count: steps * k)
        var beta = [Float](repeating: 0, count: steps * k)
        var scratch = [Float](repeating: 0, count: k)

        for b in 0..<batch {
            let n = lengths[b]
            guard n > 0 else { continue }
            let e = Array(emissions.data[(b * steps * k)..<((b * steps + n) * k)])
            let gold = Array(tags[(b * steps)..<(b * steps + n)])
            for (t, tag) in gold.enumerated() where tag < 0 || Int(tag) >= k {
                throw LSTMKitError.invalidArgument("tag \(tag) at sequence \(b) step \(t) is outside [0, \(k))")
            }
            guard isAllowed(gold) else {
                throw LSTMKitError.invalidArgument("gold tags of sequence \(b) use a forbidden transition")
            }
            // Forward: alpha[t, j] = e[t, j] + logsumexp_i(alpha[t-1, i] + trans[i, j]).
            for j in 0..<k { alpha[j] = start[j] + e[j] }
            for t in 1..<max(n, 1) {
                for j in 0..<k {
                    for i in 0..<k { scratch[i] = alpha[(t - 1) * k + i] + trans[i * k + j] }
                    alpha[t * k + j] = e[t * k + j] + scratch.withUnsafeBufferPointer { Self.logSumExp($0.baseAddress!, k) }
                }
            }
            for j in 0..<k { scratch[j] = alpha[(n - 1) * k + j] + end[j] }
            let logZ = scratch.withUnsafeBufferPointer { Self.logSumExp($0.baseAddress!, k) }
            // Backward: beta[t, i] = logsumexp_j(trans[i, j] + e[t+1, j] + beta[t+1, j]).
            for i in 0..<k { beta[(n - 1) * k + i] = end[i] }
            for t in stride(from: n - 2, through: 0, by: -1) {
                for i in 0..<k {
                    for j in 0..<k { scratch[j] = trans[i * k + j] + e[(t + 1) * k + j] + beta[(t + 1) * k + j] }
                    beta[t * k + i] = scratch.withUnsafeBufferPointer { Self.logSumExp($0.baseAddress!, k) }
                }
            }
            // Gold score.
            var goldScore = start[Int(gold[0])] + end[Int(gold[n - 1])]
            for t in 0..<n { goldScore += e[t * k + Int(gold[t])] }
            for t in 1..<max(n, 1) { goldScore += trans[Int(gold[t - 1]) * k + Int(gold[t])] }
            total += Double(logZ - goldScore)
            // Gradient: expected counts under the model minus gold counts.
            let base = b * steps * k
            for t in 0..<n {
                for j in 0..<k {
                    let marginal = VectorMath.exp(alpha[t * k + j] + beta[t * k + j] - logZ)
                    dEmissions[base + t * k + j] += scale * marginal
                    if t == 0 { dStart[j] += scale * marginal }
                    if t == n - 1 { dEnd[j] += scale * marginal }
                }
                dEmissions[base + t * k + Int(gold[t])] -= scale
            }
            for t in 1..<max(n, 1) {
                for i in 0..<k where alpha[(t - 1) * k + i] > -Float.infinity {
                    for j in 0..<k where allowedTransitions[i * k + j] {
                        let p = VectorMath.exp(alpha[(t - 1) * k + i] + trans[i * k + j] + e[t * k + j] + beta[t * k + j] - logZ)
                        dTrans[i * k + j] += scale * p
                    }
                }
                dTrans[Int(gold[t - 1]) * k + Int(gold[t])] -= scale
            }
            dStart[Int(gold[0])] -= scale
            dEnd[Int(gold[n - 1])] -= scale
        }
        for i in 0..<(k * k) { transitions.grad[i] += dTrans[i] }
        for i in 0..<k {
            startScores.grad[i] += dStart[i]
            endScores.grad[i] += dEnd[i]
        }
        return (Float(total) * scale, Tensor(shape: emissions.shape, data: dEmissions))
    }

    /// The highest-scoring allowed tag sequence for emissions (n, numTags).
    /// `allowedTags`, if given, is (n, numTags): per position, the tags that may be
    /// chosen (how user-dictionary words are forced). Returns nil only if the
    /// constraints leave no allowed sequence.
    public func viterbi(emissions: UnsafePointer<Float>, length n: Int, allowedTags: [Bool]? = nil) -> [Int32]? {
        let k = numTags
        if n == 0 { return [] }
        let (trans, start, end) = maskedScores()
        var score = [Float](repeating: 0, count: k)
        var next = [Float](repeating: 0, count: k)
        var backpointers = [Int32](repeating: 0, count: n * k)
        func permitted(_ t: Int, _ j: Int) -> Bool { allowedTags.map { $0[t * k + j] } ?? true }
        for j in 0..<k { score[j] = permitted(0, j) ? start[j] + emissions[j] : -.infinity }
        for t in 1..<n {
            for j in 0..<k {
                var best = -Float.infinity, arg = 0
                if permitted(t, j) {
                    for i in 0..<k {
                        let s = score[i] + trans[i * k + j]
                        if s > best { best = s; arg = i }
                    }
                }
                next[j] = best + emissions[t * k + j]
                backpointers[t * k + j] = Int32(arg)
            }
            swap(&score, &next)
        }
        var best = -Float.infinity, arg = 0
        for j in 0..<k where score[j] + end[j] > best {
            best = score[j] + end[j]
            arg = j
        }
        if best == -Float.infinity { return nil }
        var path = [Int32](repeating: 0, count: n)
        path[n - 1] = Int32(arg)
        for t in stride(from: n - 1, to: 0, by: -1) {
            path[t - 1] = backpointers[t * k + Int(path[t])]
        }
        return path
    }
}
