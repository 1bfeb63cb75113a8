import Testing
@testable import LSTMKit

/// The CRF against brute-force enumeration of every tag sequence on tiny cases.
@Suite("CRF")
struct CRFTests {
    /// All sequences of length n over k tags.
    func allSequences(_ n: Int, _ k: Int) -> [[Int32]] {
        var out: [[Int32]] = [[]]
        for _ in 0..<n { out = out.flatMap { prefix in (0..<k).map { prefix + [Int32($0)] } } }
        return out
    }

    func score(_ crf: CRF, _ e: [Float], _ y: [Int32]) -> Double {
        let k = crf.numTags
        var s = Double(crf.startScores.value[Int(y[0])] + crf.endScores.value[Int(y.last!)])
        for t in 0..<y.count { s += Double(e[t * k + Int(y[t])]) }
        for t in 1..<max(y.count, 1) { s += Double(crf.transitions.value[Int(y[t - 1]) * k + Int(y[t])]) }
        return s
    }

    func randomCRF(seed: UInt64, constrained: Bool) throws -> CRF {
        let crf = constrained ? BMES.crf() : CRF(numTags: 3)
        try crf.transitions.assign(randomArray(crf.numTags * crf.numTags, seed: seed))
        try crf.startScores.assign(randomArray(crf.numTags, seed: seed + 1))
        try crf.endScores.assign(randomArray(crf.numTags, seed: seed + 2))
        return crf
    }

    @Test("NLL equals brute force, with and without BMES constraints", arguments: [false, true])
    func nll(constrained: Bool) throws {
        let crf = try randomCRF(seed: 1, constrained: constrained)
        let k = crf.numTags
        let lengths = [4, 1, 3]
        let steps = 4
        let e = randomArray(3 * steps * k, seed: 4, scale: 2)
        var tags = [Int32](repeating: 0, count: 3 * steps)
        let gold: [[Int32]] = constrained ? [[0, 1, 2, 3], [3], [0, 2, 3]] : [[2, 0, 1, 1], [1], [0, 0, 2]]
        for b in 0..<3 { for (t, y) in gold[b].enumerated() { tags[b * steps + t] = y } }
        let (loss, _) = try crf.negativeLogLikelihood(emissions: Tensor(shape: [3, steps, k], data: e), tags: tags, lengths: lengths)
        var expected = 0.0
        for b in 0..<3 {
            let eb = Array(e[(b * steps * k)..<((b * steps + lengths[b]) * k)])
            let scores = allSequences(lengths[b], k).filter { crf.isAllowed($0) }.map { score(crf, eb, $0) }
            let m = scores.max()!
            let logZ = m + _log(scores.map { _exp($0 - m) }.reduce(0, +))
            expected += logZ - score(crf, eb, gold[b])
        }
        #expect(abs(Double(loss) - expected) < 1e-4 * max(1, abs(expected)), "\(loss) vs \(expected)")
    }

    @Test("gradients match finite differences", arguments: [false, true])
    func gradients(constrained: Bool) throws {
        let crf = try randomCRF(seed: 7, constrained: constrained)
        let k = crf.numTags
        let steps = 5, lengths = [5, 3]
        let e = randomArray(2 * steps * k, seed: 8, scale: 2)
        let gold: [[Int32]] = constrained ? [[0, 2, 0, 1, 2], [3, 0, 2]] : [[0, 1, 2, 2, 0], [2, 2, 1]]
        var tags = [Int32](repeating: 0, count: 2 * steps)
        for b in 0..<2 { for (t, y) in gold[b].enumerated() { tags[b * steps + t] = y } }
        func loss(_ e: [Float]) -> Double {
            Double(try! crf.negativeLogLikelihood(emissions: Tensor(shape: [2, steps, k], data: e), tags: tags,
                                                  lengths: lengths, scale: 0.5).loss)
        }
        crf.zeroGrad()
        let (_, dE) = try crf.negativeLogLikelihood(emissions: Tensor(shape: [2, steps, k], data: e), tags: tags,
                                                    lengths: lengths, scale: 0.5)
        let grads = crf.parameters.map(\.grad)
        var numeric = numericGradient(e, h: 1e-2, loss)
        // Padded steps (sequence 1, t >= 3) get exactly zero.
        for t in 3..<steps { for j in 0..<k { numeric[(steps + t) * k + j] = 0 } }
        expectClose(dE.data, numeric, tol: 2e-3, floor: 1e-2, "d emissions")
        for (p, g) in zip(crf.parameters, grads) {
            let saved = p.value
            let num = numericGradient(saved, h: 1e-2) { v in p.value = v; defer { p.value = saved }; return loss(e) }
            expectClose(g, num, tol: 2e-3, floor: 1e-2, "d\(p.name)")
        }
        if constrained {
            // Forbidden transitions never receive gradient.
            for i in 0..<16 where !BMES.allowedTransitions[i] { #expect(grads[0][i] == 0) }
        }
    }

    @Test("Viterbi finds the brute-force best allowed path", arguments: 1...6)
    func viterbi(n: Int) throws {
        for constrained in [false, true] {
            let crf = try randomCRF(seed: UInt64(10 * n), constrained: constrained)
            let k = crf.numTags
            let e = randomArray(n * k, seed: UInt64(n), scale: 3)
            let path = e.withUnsafeBufferPointer { crf.viterbi(emissions: $0.baseAddress!, length: n) }!
            let best = allSequences(n, k).filter { crf.isAllowed($0) }.max { score(crf, e, $0) < score(crf, e, $1) }!
            #expect(path == best)
            if constrained {
                // Force position 0 to be S where possible: brute force under the same constraint.
                var allowed = [Bool](repeating: true, count: n * k)
                for j in 0..<k { allowed[j] = j == Int(BMES.s) }
                let forced = e.withUnsafeBufferPointer { crf.viterbi(emissions: $0.baseAddress!, length: n, allowedTags: allowed) }!
                let bestForced = allSequences(n, k).filter { crf.isAllowed($0) && $0[0] == BMES.s }
                    .max { score(crf, e, $0) < score(crf, e, $1) }!
                #expect(forced == bestForced)
            }
        }
    }

    @Test("BMES tags and word lengths convert both ways")
    func bmes() {
        #expect(BMES.tags(wordLengths: [1, 2, 3]) == [3, 0, 2, 0, 1, 2])
        #expect(BMES.wordLengths(tags: [3, 0, 2, 0, 1, 2]) == [1, 2, 3])
        #expect(BMES.wordLengths(tags: [0, 1]) == [2])  // lenient at the end
        #expect(BMES.crf().isAllowed([0, 2, 3]))
        #expect(!BMES.crf().isAllowed([0, 3]))
        #expect(!BMES.crf().isAllowed([1]))
        #expect(!BMES.crf().isAllowed([0]))
    }

    @Test("a gold path through a forbidden move is refused")
    func forbiddenGold() {
        let crf = BMES.crf()
        #expect(throws: LSTMKitError.self) {
            try crf.negativeLogLikelihood(emissions: Tensor(zeros: [1, 2, 4]), tags: [0, 3], lengths: [2])
        }
    }
}

#if canImport(Glibc)
import Glibc
func _log(_ x: Double) -> Double { Glibc.log(x) }
#endif
