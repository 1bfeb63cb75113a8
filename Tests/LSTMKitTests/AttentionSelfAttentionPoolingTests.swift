import Foundation
import Testing
@testable import LSTMKit

/// The self_attention pooling (RecurrentOutputPooling: SelfAttentionBlock, then additive
/// attention) and what the classifiers build on it: gradients through the whole pooling,
/// masks, the heads rule, files.
@Suite("Self-attention pooling")
struct AttentionSelfAttentionPoolingTests {
    static let (batch, steps, width) = (3, 4, 6)
    static let lengths = [4, 2, 1]

    static func make() -> RecurrentOutputPooling {
        var rng = SeededRandom(seed: 60)
        let recurrent = RecurrentConfig(inputSize: 2, hiddenSize: width / 2, numLayers: 1, bidirectional: true)
        let pooling = RecurrentOutputPooling(.selfAttention, recurrent: recurrent, attentionSize: 5, heads: 2, rng: &rng)
        // Non-zero biases and a non-trivial norm, so every tensor's gradient is exercised.
        var r = SeededRandom(seed: 61)
        for p in pooling.children().flatMap(\.module.parameters) { p.value = p.value.map { $0 * 1.5 + r.uniform(-0.3, 0.3) } }
        return pooling
    }

    static let final = Tensor(zeros: [2, batch, width / 2])   // the final states: not read by this pooling

    @Test("the pooled output's gradient, to the outputs and every tensor, against finite differences")
    func gradients() throws {
        let pooling = Self.make()
        let y = randomTensor([Self.batch, Self.steps, Self.width], seed: 62)
        let w = randomArray(Self.batch * Self.width, seed: 63)
        func loss(_ y: Tensor) -> Double { dot(pooling.forward(y: y, final: Self.final, lengths: Self.lengths).0.data, w) }
        let (out, cache) = pooling.forward(y: y, final: Self.final, lengths: Self.lengths)
        #expect(out.shape == [Self.batch, Self.width])
        let (dY, dFinal) = pooling.backward(cache, outputGrad: Tensor(shape: out.shape, data: w))
        #expect(dFinal == nil)
        // As the block's own check: LayerNorm's rounding noise needs 1e-2 at h = 1e-2.
        expectClose(dY.data, numericGradient(y.data) { loss(Tensor(shape: y.shape, data: $0)) }, tol: 1e-2, floor: 1e-2, "dY")
        let named = pooling.children().flatMap { child in child.module.namedParameters.map { (child.name + "." + $0.name, $0.parameter) } }
        #expect(named.map(\.0) == [
            "self_attention.self_attn.out_proj.weight", "self_attention.self_attn.out_proj.bias",
            "self_attention.self_attn.in_proj_weight", "self_attention.self_attn.in_proj_bias",
            "self_attention.norm.weight", "self_attention.norm.bias",
            "attention.projection.weight", "attention.projection.bias", "attention.context",
        ])
        for (name, p) in named {
            let saved = p.value
            let numeric = numericGradient(saved) { v in p.value = v; defer { p.value = saved }; return loss(y) }
            expectClose(p.grad, numeric, tol: 1e-2, floor: 1e-2, "d\(name)")
        }
    }

    @Test("masks: padded steps get weight 0 and gradient 0, and their values (NaN too) change nothing")
    func masks() throws {
        let pooling = Self.make()
        let w = randomArray(Self.batch * Self.width, seed: 64)
        func run(_ y: Tensor) -> (out: [Float], weights: [Float], dY: [Float], grads: [[Float]]) {
            let modules = pooling.children().map(\.module)
            for m in modules { m.zeroGrad() }
            let (out, cache) = pooling.forward(y: y, final: Self.final, lengths: Self.lengths)
            let dY = pooling.backward(cache, outputGrad: Tensor(shape: out.shape, data: w)).dY
            return (out.data, cache.attentionWeights!, dY.data, modules.flatMap(\.parameters).map(\.grad))
        }
        let y = randomTensor([Self.batch, Self.steps, Self.width], seed: 65)
        var repadded = y
        for (b, n) in Self.lengths.enumerated() {
            for t in n..<Self.steps { for j in 0..<Self.width { repadded.data[(b * Self.steps + t) * Self.width + j] = j == 1 ? .nan : Float(t + j) } }
        }
        let a = run(y), b = run(repadded)
        #expect(a.out == b.out && a.weights == b.weights && a.dY == b.dY && a.grads == b.grads)
        for (n, len) in Self.lengths.enumerated() {
            let row = a.weights[(n * Self.steps)..<((n + 1) * Self.steps)]
            #expect(abs(row.prefix(len).reduce(0, +) - 1) < 1e-6 && row.dropFirst(len).allSatisfy { $0 == 0 })
            #expect(a.dY[((n * Self.steps + len) * Self.width)..<((n + 1) * Self.steps * Self.width)].allSatisfy { $0 == 0 })
        }
    }

    @Test("attention_heads must divide the recurrent outputs' width, for self_attention only")
    func headsRule() throws {
        var c = SequenceClassifierConfig()
        (c.hiddenSize, c.bidirectional, c.attentionHeads) = (3, true, 4)   // width 6
        try c.validate()   // other poolings ignore the heads
        c.pooling = .selfAttention
        #expect(throws: LSTMKitError.invalidArgument("attention_heads (4) must divide the recurrent outputs' width (6)")) { try c.validate() }
        c.attentionHeads = 3
        try c.validate()
        c.attentionHeads = 0
        #expect(throws: LSTMKitError.self) { try c.validate() }
    }

    @Test("text classifier: save → load is exact (tensors, metadata, probabilities, weights); other poolings' files have no heads")
    func textFile() throws {
        let model = try TextClassifierTests().tiny(.selfAttention)
        let path = temporaryPath("textcls-selfattn.safetensors")
        defer { unlink(path) }
        try model.save(to: path)
        let loaded = try TextClassifier.load(from: path)
        #expect(loaded.config == model.config && loaded.config.attentionHeads == 2)
        #expect(loaded.modelFile() == model.modelFile())
        #expect(model.modelFile().metadata("attention_heads") == "2")
        let texts = ["a b c d", "d", "c a"]
        #expect(loaded.predictProbabilities(texts) == model.predictProbabilities(texts))
        let weights = try #require(model.attentionWeights("a b c"))
        #expect(weights.map(\.token) == ["a", "b", "c"] && abs(weights.map(\.weight).reduce(0, +) - 1) < 1e-5)
        #expect(loaded.attentionWeights("a b c")!.map(\.weight) == weights.map(\.weight))
        #expect(model.namedParameters.map(\.name).contains("self_attention.self_attn.in_proj_weight"))
        for pooling in [SequencePoolingKind.attention, .mean] {
            #expect(try TextClassifierTests().tiny(pooling).modelFile().metadata("attention_heads") == nil)
        }
    }
}

/// Seq2Seq's self-attention blocks over the encoder's states (gradients and the file's
/// round trip: Seq2SeqTests, with `blocks:`).
@Suite("Seq2Seq self-attention blocks")
struct AttentionSeq2SeqBlockTests {
    static let vocabulary = Seq2SeqVocabulary(mode: .characters, texts: ["abcde"], minCount: 1)

    static func model(blocks: Int, heads: Int = 2) throws -> Seq2Seq {
        var c = Seq2SeqConfig()
        (c.embeddingSize, c.hiddenSize, c.attentionSize, c.selfAttentionBlocks, c.selfAttentionHeads) = (3, 2, 3, blocks, heads)
        return try Seq2Seq(config: c, source: vocabulary, target: vocabulary)
    }

    @Test("blocks: names, metadata only when present, an unchanged model without them, the heads rule")
    func files() throws {
        let without = try Self.model(blocks: 0), with = try Self.model(blocks: 2)
        #expect(without.modelFile().metadata("self_attention_blocks") == nil && without.modelFile().metadata("self_attention_heads") == nil)
        #expect(with.modelFile().metadata("self_attention_blocks") == "2" && with.modelFile().metadata("self_attention_heads") == "2")
        let names = with.namedParameters.map(\.name)
        #expect(names.contains("encoder_blocks.1.self_attn.in_proj_weight") && names.contains("encoder_blocks.0.norm.bias"))
        // Blocks are drawn last: every other tensor is initialised as without them.
        let plain = Dictionary(uniqueKeysWithValues: without.namedParameters.map { ($0.name, $0.parameter.value) })
        for (name, p) in with.namedParameters where !name.hasPrefix("encoder_blocks.") { #expect(plain[name] == p.value, "\(name)") }
        #expect(throws: LSTMKitError.invalidArgument("self_attention_heads (3) must divide the encoder's output size (4)")) {
            try Self.model(blocks: 1, heads: 3)
        }
        #expect(throws: LSTMKitError.self) { try Self.model(blocks: 9) }
    }
}
