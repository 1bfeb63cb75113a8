import Foundation
import Testing
@testable import LSTMKit

/// A tiny random model from letters to `targets` words (V = 4 reserved + targets.count).
private func model(_ score: AttentionScore, targets: String = "X Y Z W", seed: UInt64 = 7) throws -> Seq2Seq {
    var c = Seq2SeqConfig()
    (c.embeddingSize, c.hiddenSize, c.score, c.attentionSize, c.dropout, c.seed) = (3, 2, score, 3, 0, seed)
    c.targetTokens = .words
    return try Seq2Seq(config: c, source: Seq2SeqVocabulary(mode: .characters, texts: ["abcde"], minCount: 1),
                       target: Seq2SeqVocabulary(mode: .words, texts: [targets], minCount: 1))
}

/// The log-probability of `ids` (then EOS when `eos`) given one source, teacher-forced
/// through the layers' step (not the fused one `translate` runs), with its own
/// log-softmax in Double: independent of the beam code and of the fused step.
private func teacherForced(_ model: Seq2Seq, _ source: [Int32], _ ids: [Int32], eos: Bool) -> Double {
    let (memory, start) = model.encode([source])
    var (state, token, total) = (start, Seq2SeqVocabulary.begin, 0.0)
    for next in ids + (eos ? [Seq2SeqVocabulary.end] : []) {
        let (logits, after, _) = model.step(memory, tokens: [token], state: state, sources: nil, weights: nil)
        let z = logits.data.map(Double.init), m = z.max()!
        total += z[Int(next)] - m - log(z.reduce(0) { $0 + exp($1 - m) })
        (state, token) = (after, next)
    }
    return total
}

/// A translation's rank score recomputed: it ended on EOS unless it reached the limit.
private func recomputed(_ model: Seq2Seq, _ source: [Int32], _ t: Seq2SeqTranslation, limit: Int, alpha: Float) -> Double {
    teacherForced(model, source, t.ids, eos: t.ids.count < limit) / pow(Double(max(t.ids.count, 1)), Double(alpha))
}

/// A model with a few more units than `model`'s (E 5, D 12, additive A 7), six target words.
private func widerModel(_ score: AttentionScore) throws -> Seq2Seq {
    var c = Seq2SeqConfig()
    (c.embeddingSize, c.hiddenSize, c.score, c.attentionSize, c.dropout, c.seed) = (5, 6, score, 7, 0, 3)
    c.targetTokens = .words
    return try Seq2Seq(config: c, source: Seq2SeqVocabulary(mode: .characters, texts: ["abcde"], minCount: 1),
                       target: Seq2SeqVocabulary(mode: .words, texts: ["X Y Z W V U"], minCount: 1))
}

private let texts = ["abcde", "a", "cab", "eeddcc", "bd", "ace"]

@Suite struct Seq2SeqBeamTests {
    @Test(arguments: AttentionScore.allCases) func beamOfOneIsGreedy(_ score: AttentionScore) throws {
        let m = try model(score)
        let ids = texts.map(m.source.encode), limits = ids.map { 2 * $0.count }
        let weights = Seq2SeqStepWeights(m)
        let beam = m.beam(ids, limits: limits, beamSize: 1, lengthPenalty: 0, weights: weights).map { $0[0] }
        let greedy = m.greedy(ids, limits: limits, weights: weights)
        for (b, g) in zip(beam, greedy) {
            #expect(b.ids == g.ids && b.logProbability == g.logProbability && b.attention == g.attention)
        }
        #expect(Set(greedy.map(\.ids)).count > 1, "the texts should not all decode alike")
    }

    /// V = 6 (two words), at most 3 tokens: a beam of 6³ = 216 keeps every hypothesis, so
    /// its n-best list is every sequence (156 of them), ranked as an exhaustive search ranks them.
    @Test(arguments: [Float(0), 1]) func wideBeamIsExhaustive(_ alpha: Float) throws {
        let m = try model(.general, targets: "X Y", seed: 5)
        let (text, limit, v) = ("ab", 3, Int32(m.target.count))
        let source = m.source.encode(text)
        let out = try m.translate([text], decoding: Seq2SeqDecoding(beamSize: 216, nBest: 216, lengthPenalty: alpha,
                                                                      maxLengthRatio: 1.5))[0]
        // Every sequence of non-EOS tokens: shorter than the limit then EOS, or at the limit.
        var all: [[Int32]] = [[]]
        for length in 1...limit {
            all += all.filter { $0.count == length - 1 }.flatMap { p in (0..<v).filter { $0 != Seq2SeqVocabulary.end }.map { p + [$0] } }
        }
        let exhaustive = all.map { ids in
            (ids, teacherForced(m, source, ids, eos: ids.count < limit) / pow(Double(max(ids.count, 1)), Double(alpha)))
        }.sorted { $0.1 > $1.1 }
        #expect(out.count == all.count && Set(out.map(\.ids)) == Set(all))
        #expect(out[0].ids == exhaustive[0].0 || exhaustive[0].1 - exhaustive[1].1 < 1e-5)
        expectClose(out.map(\.score), exhaustive.map(\.1), tol: 1e-5, "scores in rank order")
        for (a, b) in zip(out, out.dropFirst()) { #expect(a.score >= b.score) }
    }

    @Test(arguments: [Float(0), 0.6, 1]) func scoresAreTheRecomputedLogProbabilities(_ alpha: Float) throws {
        for score in AttentionScore.allCases {
            let m = try model(score)
            let out = try m.translate(texts, decoding: Seq2SeqDecoding(beamSize: 4, nBest: 4, lengthPenalty: alpha, maxLengthRatio: 2))
            for (text, nBest) in zip(texts, out) {
                let source = m.source.encode(text)
                #expect(nBest.count == 4 && Set(nBest.map(\.ids)).count == 4, "\(text): four distinct translations")
                for (a, b) in zip(nBest, nBest.dropFirst()) { #expect(a.score >= b.score, "\(text): sorted") }
                expectClose(nBest.map(\.score), nBest.map { recomputed(m, source, $0, limit: 2 * text.count, alpha: alpha) },
                            tol: 1e-5, "\(score) \(text)")
                for t in nBest {
                    #expect(t.attention.count == t.ids.count && t.ids.count <= 2 * text.count)
                    for row in t.attention { #expect(row.count == text.count && abs(row.reduce(0, +) - 1) < 1e-5) }
                }
            }
        }
    }

    /// With length_penalty 0 the stopping bound is exact: stopping early keeps the n-best
    /// list a search run to the length limit finds. The generator's weights are scaled up
    /// so the model is confident, as a trained one is (a near-uniform random model never
    /// has a live hypothesis that overtakes a finished one, and stopping at k finished
    /// would pass too).
    @Test func exactStopWithoutLengthPenalty() throws {
        var stoppedEarly = 0
        for score in AttentionScore.allCases {
            for seed in UInt64(1)...12 {
                let m = try model(score, seed: seed)
                for (name, p) in m.namedParameters where name.hasPrefix("generator.") { p.value = p.value.map { $0 * 8 } }
                let ids = texts.map(m.source.encode), limits = ids.map { 2 * $0.count }, k = 2 + Int(seed % 3)
                let weights = Seq2SeqStepWeights(m)
                let early = m.beam(ids, limits: limits, beamSize: k, lengthPenalty: 0, weights: weights)
                let full = m.beam(ids, limits: limits, beamSize: k, lengthPenalty: 0, weights: weights, stopEarly: false)
                for (e, f) in zip(early, full) {
                    #expect(e.map(\.ids) == f.map(\.ids) && e.map(\.logProbability) == f.map(\.logProbability), "\(score) seed \(seed)")
                }
                // Early stopping took effect: the same lists from fewer steps.
                stoppedEarly += zip(early, limits).filter { e, limit in e.allSatisfy { $0.ids.count < limit - 1 } }.count
            }
        }
        #expect(stoppedEarly > 0, "some searches should end well before the limit")
    }

    @Test func batchedEqualsOneAtATimeAndThreadsAgree() throws {
        for score in AttentionScore.allCases {
            let m = try model(score)
            let decoding = Seq2SeqDecoding(beamSize: 5, nBest: 3, lengthPenalty: 1, maxLengthRatio: 2)
            let together = try m.translate(texts, decoding: decoding, threads: 1, batchSize: 64)
            let threaded = try m.translate(texts, decoding: decoding, threads: 2, batchSize: 2)
            for (i, text) in texts.enumerated() {
                let alone = try m.translate([text], decoding: decoding)[0]
                for other in [together[i], threaded[i]] {
                    #expect(other.map(\.ids) == alone.map(\.ids), "\(score) \(text)")
                    expectClose(other.map(\.score), alone.map(\.score), tol: 1e-5, "\(score) \(text) scores")
                    expectClose(other.flatMap { $0.attention.flatMap { $0 } }, alone.flatMap { $0.attention.flatMap { $0 } },
                                tol: 1e-5, "\(score) \(text) attention")
                }
            }
        }
    }

    /// The fused step (`translate`'s: the embedding's share of W_ih tabulated, one GEMM for
    /// [h̃; h], h̃'s tanh vectorised) against the layers' step, on beam-like rows (several
    /// rows per source, out of order): logits, attention, h, c and h̃ within 1e-5 (relative;
    /// absolute 1e-6 below 0.1: float rounding in another summation order).
    @Test(arguments: AttentionScore.allCases) func fusedStepIsTheLayersStep(_ score: AttentionScore) throws {
        let m = try widerModel(score)
        let weights = try #require(Seq2SeqStepWeights(m))
        let (memory, start) = m.encode(texts.map(m.source.encode))
        let rows = [0, 0, 1, 3, 3, 3, 2, 5, 4, 4]
        var (fused, layered) = (start.rows(rows), start.rows(rows))
        var tokens = rows.map { _ in Seq2SeqVocabulary.begin }
        for t in 0..<4 {
            let a = m.step(memory, tokens: tokens, state: fused, sources: rows, weights: weights)
            let b = m.step(memory, tokens: tokens, state: layered, sources: rows, weights: nil)
            expectClose(a.logits.data, b.logits.data, tol: 1e-5, floor: 0.1, "\(score) step \(t) logits")
            expectClose(a.weights.data, b.weights.data, tol: 1e-5, floor: 0.1, "\(score) step \(t) attention")
            expectClose(a.state.feed.data, b.state.feed.data, tol: 1e-5, floor: 0.1, "\(score) step \(t) h̃")
            expectClose(a.state.lstm.h.data, b.state.lstm.h.data, tol: 1e-5, floor: 0.1, "\(score) step \(t) h")
            expectClose(a.state.lstm.c.data, b.state.lstm.c.data, tol: 1e-5, floor: 0.1, "\(score) step \(t) c")
            #expect(a.logits.shape == b.logits.shape && a.state.lstm.h.shape == b.state.lstm.h.shape)
            (fused, layered) = (a.state, b.state)
            tokens = rows.indices.map { Int32(4 + ($0 + t) % 6) }
        }
    }

    /// Greedy and beam search with the fused step give the tokens of the same search over
    /// the layers' step, and its scores and attention within 1e-5.
    @Test(arguments: AttentionScore.allCases) func fusedDecodingIsTheLayersDecoding(_ score: AttentionScore) throws {
        let m = try model(score)
        let ids = texts.map(m.source.encode), limits = ids.map { 2 * $0.count }
        let weights = try #require(Seq2SeqStepWeights(m))
        for k in [1, 3, 5] {
            let fast = k == 1 ? m.greedy(ids, limits: limits, weights: weights).map { [$0] }
                : m.beam(ids, limits: limits, beamSize: k, lengthPenalty: 1, weights: weights)
            let reference = k == 1 ? m.greedy(ids, limits: limits, weights: nil).map { [$0] }
                : m.beam(ids, limits: limits, beamSize: k, lengthPenalty: 1, weights: nil)
            for (a, b) in zip(fast, reference) {
                #expect(a.map(\.ids) == b.map(\.ids), "\(score) beam \(k)")
                expectClose(a.map(\.logProbability), b.map(\.logProbability), tol: 1e-5, "\(score) beam \(k) scores")
                expectClose(a.flatMap { $0.attention.flatMap { $0 } }, b.flatMap { $0.attention.flatMap { $0 } },
                            tol: 1e-5, "\(score) beam \(k) attention")
            }
        }
    }

    /// An int8 decoder (`quantize()`) has no float weights to fuse: its steps go through the layers.
    @Test func int8DecoderIsNotFused() throws {
        let m = try widerModel(.general)
        #expect(Seq2SeqStepWeights(m) != nil)
        try m.quantizeLayers()
        #expect(Seq2SeqStepWeights(m) == nil)
    }

    /// An int8 model (every Linear, recurrent and embedding layer quantized) still
    /// translates, greedily and with a beam (its attention's keys through the int8
    /// projection: reading the float weights it no longer has gave NaN).
    @Test(arguments: AttentionScore.allCases) func int8ModelTranslates(_ score: AttentionScore) throws {
        let m = try widerModel(score)
        try m.quantizeLayers()
        for beam in [1, 3] {
            let out = try m.translate(["abc", "ba"], decoding: Seq2SeqDecoding(beamSize: beam))
            #expect(out.count == 2 && out.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.score.isFinite } }, "\(score) beam \(beam)")
        }
    }

    /// A word vocabulary larger than 2D (here 4 + 30 words, D 4) is not tabulated: its
    /// steps go through the layers, and translate still decodes.
    @Test func largeVocabularyIsNotFused() throws {
        let m = try model(.general, targets: (0..<30).map { "w\($0)" }.joined(separator: " "))
        #expect(m.target.count > 2 * m.config.decoderSize && Seq2SeqStepWeights(m) == nil)
        #expect(try m.translate(["abc"], decoding: Seq2SeqDecoding(beamSize: 3)).count == 1)
    }

    /// The model keeps its step weights while the decoder's weights are unchanged and
    /// makes them again when one changes.
    @Test func stepWeightsFollowTheWeights() throws {
        let m = try widerModel(.general)
        let a = try #require(m.stepWeights.weights(of: m))
        let again = try #require(m.stepWeights.weights(of: m))
        #expect(again.recurrent == a.recurrent)
        m.decoder.weightHH[0].value[0] += 1
        let b = try #require(m.stepWeights.weights(of: m)), fresh = try #require(Seq2SeqStepWeights(m))
        #expect(b.recurrent != a.recurrent && b.recurrent == fresh.recurrent)
        m.targetEmbedding.weight.value[m.config.embeddingSize * 4] += 1
        let c = try #require(m.stepWeights.weights(of: m))
        #expect(c.table != b.table)
    }

    @Test func badOptionsAreRefused() throws {
        let m = try model(.dot)
        for bad in [Seq2SeqDecoding(beamSize: 0), Seq2SeqDecoding(beamSize: 257), Seq2SeqDecoding(beamSize: 3, nBest: 4),
                    Seq2SeqDecoding(beamSize: 3, lengthPenalty: .nan), Seq2SeqDecoding(beamSize: 3, lengthPenalty: -1)] {
            #expect(throws: LSTMKitError.self, "\(bad)") { try m.translate(["ab"], decoding: bad) }
        }
        // n_best is at most beam_size, and fewer come back when fewer sequences exist.
        #expect(try m.translate(["a"], decoding: Seq2SeqDecoding(beamSize: 40, nBest: 40, maxLengthRatio: 1))[0].count == 8)
    }
}
