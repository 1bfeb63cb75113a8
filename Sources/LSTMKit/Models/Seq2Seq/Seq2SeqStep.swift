import CKernels
import Dispatch
import LSTMKitCore
import LSTMKitLayers

/// The decoder LSTM's weights as a decoding step reads them (docs/SEQ2SEQ.md, "The fused
/// step"). The gates for the previous token y and the state (h̃, h) are
/// table[y] + [h̃; h] W_catᵀ, with table = E_tgt W_ih[:, :E]ᵀ + b_ih + b_hh (V, 4D), the
/// embedding's share tabulated per token, and W_cat = [W_ih[:, E:] | W_hh] (4D, 2D): one
/// GEMM of depth 2D a step instead of the layer's two (depths E + D and D), and a row copy
/// instead of the embedding's products. The sums run in another order than the layer's
/// (last bits differ; training keeps the layer). Kept by the model while its decoder's
/// weights are unchanged (`Seq2SeqStepWeightsCache`).
struct Seq2SeqStepWeights {
    /// (V, 4D)
    let table: [Float]
    /// (4D, 2D)
    let recurrent: [Float]

    /// nil for an int8 model (Swift's `quantizeLayers`: its float weights are gone) and
    /// for a target vocabulary larger than 2D (words, not phonemes or characters): its
    /// table (V × 4D) would cost more to make than a call's steps save, and hold tens of
    /// MB. Those step through the layers.
    init?(_ model: Seq2Seq) {
        let (v, e, d) = (model.target.count, model.config.embeddingSize, model.config.decoderSize)
        guard !model.isQuantized, v <= 2 * d else { return nil }
        let g = 4 * d
        let (wih, whh) = (model.decoder.weightIH[0].value, model.decoder.weightHH[0].value)   // (4D, E + D), (4D, D)
        var recurrent = [Float](repeating: 0, count: g * 2 * d)
        for r in 0..<g {
            recurrent.replaceSubrange((r * 2 * d)..<(r * 2 * d + d), with: wih[(r * (e + d) + e)..<((r + 1) * (e + d))])
            recurrent.replaceSubrange((r * 2 * d + d)..<((r + 1) * 2 * d), with: whh[(r * d)..<((r + 1) * d)])
        }
        let bias = zip(model.decoder.biasIH[0].value, model.decoder.biasHH[0].value).map { $0 + $1 }
        var table = (0..<v).flatMap { _ in bias }
        let embedding = FloatKernels.array(v * e) { model.targetEmbedding.lookup((0..<Int32(v)).map { $0 }, into: $0, stride: e) }
        embedding.withUnsafeBufferPointer { x in
            wih.withUnsafeBufferPointer { w in
                table.withUnsafeMutableBufferPointer { t in
                    BLAS.gemm(transB: true, m: v, n: g, k: e, a: x.baseAddress!, lda: e, b: w.baseAddress!, ldb: e + d,
                              beta: 1, c: t.baseAddress!, ldc: g)
                }
            }
        }
        (self.table, self.recurrent) = (table, recurrent)
    }
}

/// A model's `Seq2SeqStepWeights`, made once and made again only when a weight they are
/// made from changes (`Parameter.version`): `translate` and the public `step` (token by
/// token) would otherwise copy W_ih and W_hh and tabulate the embedding at every call.
final class Seq2SeqStepWeightsCache: @unchecked Sendable {
    private let queue = DispatchQueue(label: "lstmkit.seq2seq-step-weights")
    private var cached: (key: [UInt64], weights: Seq2SeqStepWeights?)?

    func weights(of model: Seq2Seq) -> Seq2SeqStepWeights? {
        let d = model.decoder
        let key = [d.weightIH[0], d.weightHH[0], d.biasIH[0], d.biasHH[0], model.targetEmbedding.weight].map(\.version)
            + [model.isQuantized ? 1 : 0]
        // In the fork gate: a fork never copies the queue held.
        ck_fork_gate_enter()
        defer { ck_fork_gate_leave() }
        return queue.sync {
            if let c = cached, c.key == key { return c.weights }
            let w = Seq2SeqStepWeights(model)
            cached = (key, w)
            return w
        }
    }
}

extension Seq2Seq {
    /// `step` with the weights `translate` prepared once (nil: through the layers, as
    /// training computes it: an int8 decoder's way, and the tests' reference).
    func step(_ memory: AttentionMemory, tokens: [Int32], state: Seq2SeqDecoderState, sources: [Int]?,
              weights: Seq2SeqStepWeights?) -> (logits: Tensor, state: Seq2SeqDecoderState, weights: Tensor) {
        let (n, e, d) = (tokens.count, config.embeddingSize, config.decoderSize)
        guard let weights else {
            let embedded = targetEmbedding.forward(tokens, shape: [n])
            let x = embedded.data.withUnsafeBufferPointer { Self.decoderInput($0, state.feed.data, rows: n, e: e, d: d) }
            let (y, lstm) = decoder.infer(x, lengths: [Int](repeating: 1, count: n), initial: state.lstm)
            let (h, cache) = attention.step(memory, query: y.reshaped([n, d]), sources: sources)
            return (generator.forward(h), Seq2SeqDecoderState(lstm: lstm, feed: h), cache.weights.reshaped([n, memory.steps]))
        }
        let g = 4 * d
        var lstm = state.lstm   // h, c (1, N, D): replaced by the next state
        // Each row's gates start as its token's row of the table; x holds the rows [h̃; h].
        var gates = weights.table.withUnsafeBufferPointer { t in
            FloatKernels.array(n * g) { gs in
                for r in 0..<n { (gs + r * g).update(from: t.baseAddress! + Int(tokens[r]) * g, count: g) }
            }
        }
        let x = state.feed.data.withUnsafeBufferPointer { f in
            lstm.h.data.withUnsafeBufferPointer { h in
                FloatKernels.array(n * 2 * d) { xs in
                    for r in 0..<n {
                        (xs + r * 2 * d).update(from: f.baseAddress! + r * d, count: d)
                        (xs + r * 2 * d + d).update(from: h.baseAddress! + r * d, count: d)
                    }
                }
            }
        }
        gates.withUnsafeMutableBufferPointer { gp in
            let gs = gp.baseAddress!
            x.withUnsafeBufferPointer { xp in
                weights.recurrent.withUnsafeBufferPointer { w in
                    BLAS.gemm(transB: true, m: n, n: g, k: 2 * d, a: xp.baseAddress!, lda: 2 * d, b: w.baseAddress!, ldb: 2 * d,
                              beta: 1, c: gs, ldc: g)
                }
            }
            lstm.c.data.withUnsafeMutableBufferPointer { c in
                lstm.h.data.withUnsafeMutableBufferPointer { h in
                    for r in 0..<n {
                        ck_lstm_cell_infer(gs + r * g, Int64(d), c.baseAddress! + r * d, h.baseAddress! + r * d, nil)
                    }
                }
            }
        }
        let (h, attentionWeights) = attention.infer(memory, query: lstm.h.reshaped([n, d]), sources: sources)
        return (generator.forward(h), Seq2SeqDecoderState(lstm: lstm, feed: h), attentionWeights)
    }
}
