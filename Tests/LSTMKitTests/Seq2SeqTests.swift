import Testing
@testable import LSTMKit

@Suite struct Seq2SeqVocabularyTests {
    @Test func reservedIdsMinCountAndUnknown() throws {
        let v = Seq2SeqVocabulary(mode: .characters, texts: ["abca", "b"], minCount: 2)
        #expect(v.tokens == ["a", "b"])   // c once: below min-count
        #expect(v.count == 6)
        #expect(v.encode("abcz") == [4, 5, Seq2SeqVocabulary.unknown, Seq2SeqVocabulary.unknown])
        #expect(v.text([4, 5, 3]) == "ab<unk>")
        // The ids do not depend on the pairs' order.
        #expect(Seq2SeqVocabulary(mode: .characters, texts: ["b", "abca"], minCount: 2) == v)
        let w = Seq2SeqVocabulary(mode: .words, texts: ["HH AH0  L", "L OW1"], minCount: 1)
        #expect(w.tokens == ["L", "AH0", "HH", "OW1"])
        #expect(w.text(w.encode(" HH  OW1 ")) == "HH OW1")
        #expect(throws: LSTMKitError.self) { try Seq2SeqVocabulary(mode: .words, tokens: ["a", "a"]) }
    }
}

/// Tiny (source, target) pairs over a few letters and words.
private let letters = Seq2SeqVocabulary(mode: .characters, texts: ["abcde"], minCount: 1)
private let words = Seq2SeqVocabulary(mode: .words, texts: ["X Y Z W"], minCount: 1)

private func tinyModel(_ score: AttentionScore, cell: RecurrentCell = .lstm, layers: Int = 1, bidirectional: Bool = true,
                       bridge: Bool = true, dropout: Float = 0, blocks: Int = 0) throws -> Seq2Seq {
    var c = Seq2SeqConfig()
    (c.embeddingSize, c.hiddenSize, c.numLayers, c.bidirectional, c.cell) = (3, 2, layers, bidirectional, cell)
    (c.score, c.attentionSize, c.bridge, c.dropout, c.seed) = (score, 3, bridge, dropout, 7)
    c.targetTokens = .words
    if blocks > 0 { (c.selfAttentionBlocks, c.selfAttentionHeads) = (blocks, 2) }   // files record heads with blocks only
    return try Seq2Seq(config: c, source: letters, target: words)
}

/// Ragged sources and targets (one empty target: EOS only).
private let tinyBatch = Seq2SeqBatch(sources: [[4, 5, 6, 7], [8, 3], [6]], targets: [[4, 5, 6], [], [7, 3]])

@Suite struct Seq2SeqGradientTests {
    /// The whole model's gradient against finite differences of its loss (fourth order;
    /// the float32 gate math leaves ~1e-5 of noise, hence the tolerance), for up
    /// to 12 entries of every tensor of a tiny model (label smoothing on, padding on both
    /// sides).
    func check(_ model: Seq2Seq) throws {
        func loss() throws -> Double { Double(try model.trainStep(tinyBatch, labelSmoothing: 0.1, training: false).loss) }
        model.zeroGrad()
        _ = try loss()
        let analytic = model.namedParameters.map { $0.parameter.grad }
        for ((name, p), grad) in zip(model.namedParameters, analytic) {
            #expect(grad.contains { $0 != 0 }, "\(name): no gradient")
            let picks = p.count <= 12 ? Array(0..<p.count) : (0..<12).map { $0 * p.count / 12 }
            let numeric = try picks.map { i -> Double in
                let saved = p.value
                func at(_ step: Float) throws -> Double {
                    var v = saved
                    v[i] += step
                    p.value = v
                    return try loss()
                }
                let h: Float = 2e-2
                let d = (8 * (try at(h) - at(-h)) - (try at(2 * h) - at(-2 * h))) / (12 * Double(h))
                p.value = saved
                return d
            }
            expectClose(picks.map { grad[$0] }, numeric, tol: 2.5e-2, floor: 1e-3, name)
        }
        model.zeroGrad()
    }

    @Test(arguments: AttentionScore.allCases) func everyScore(_ score: AttentionScore) throws {
        try check(tinyModel(score))
    }

    @Test func gruEncoderTwoLayersNoBridge() throws {
        try check(tinyModel(.general, cell: .gru, layers: 2, bridge: false))
        try check(tinyModel(.additive, cell: .gru, layers: 2, bidirectional: false))
    }

    @Test func lstmTwoLayers() throws {
        try check(tinyModel(.dot, layers: 2))
    }

    @Test func selfAttentionBlocksOverTheEncoder() throws {
        try check(tinyModel(.general, blocks: 2))
    }
}

@Suite struct Seq2SeqDecodingTests {
    @Test func batchedGreedyEqualsOneAtATime() throws {
        let model = try tinyModel(.general)
        let texts = ["abcde", "a", "cab", "eeddcc"]
        let together = try model.translate(texts, decoding: Seq2SeqDecoding(beamSize: 1, maxLengthRatio: 2), threads: 2, batchSize: 3).map { $0[0] }
        for (t, want) in zip(texts, together) {
            let alone = try model.translate([t], decoding: Seq2SeqDecoding(beamSize: 1, maxLengthRatio: 2))[0][0]
            #expect(alone.ids == want.ids)
            expectClose(alone.attention.flatMap { $0 }, want.attention.flatMap { $0 }, tol: 1e-5, "attention of \(t)")
        }
        for (t, out) in zip(texts, together) {
            #expect(out.ids.count <= 2 * t.count)
            #expect(out.attention.count == out.ids.count)
            for row in out.attention {
                #expect(row.count == t.count)
                #expect(abs(row.reduce(0, +) - 1) < 1e-5)
            }
        }
    }

    @Test func badInputIsAnError() throws {
        let model = try tinyModel(.dot)
        #expect(throws: LSTMKitError.self) { try model.translate(["ab", ""], decoding: .greedy) }
        for bad in [Seq2SeqDecoding(beamSize: 0), Seq2SeqDecoding(beamSize: 2, nBest: 3), Seq2SeqDecoding(beamSize: 1, maxLengthRatio: -1),
                    Seq2SeqDecoding(beamSize: 1, lengthPenalty: .nan)] {
            #expect(throws: LSTMKitError.self) { try model.translate(["ab"], decoding: bad) }
        }
        // A source too long for memory (its attention rows alone) is an error before any allocation.
        #expect(throws: LSTMKitError.self) {
            try model.checkTranslationMemory(longest: 1 << 22, batch: 64, maxLengthRatio: 100, threads: 2)
        }
        #expect(try model.translate([], decoding: .greedy).isEmpty)
        // Unknown symbols are UNK, not an error.
        #expect(try model.translate(["zz?"], decoding: .greedy).count == 1)
    }
}

@Suite struct Seq2SeqFileTests {
    @Test func saveLoadRoundTripsExactly() throws {
        for model in [try tinyModel(.additive, cell: .gru, layers: 2), try tinyModel(.general, bridge: false),
                      try tinyModel(.dot, blocks: 2)] {
            let bytes = model.modelFile().serialized()
            let loaded = try Seq2Seq(modelFile: SafeTensors.parse(bytes))
            #expect(loaded.modelFile().serialized() == bytes)
            #expect(loaded.config == model.config && loaded.source == model.source && loaded.target == model.target)
            let texts = ["abc", "edcba"]
            #expect(try loaded.translate(texts, decoding: .greedy) == model.translate(texts, decoding: .greedy))
        }
    }

    @Test func corruptFilesAreRefused() throws {
        let model = try tinyModel(.general)
        let file = model.modelFile()
        let bytes = file.serialized()
        for cut in [8, bytes.count / 2, bytes.count - 1] {
            #expect(throws: LSTMKitError.self) { try Seq2Seq(modelFile: SafeTensors.parse(Array(bytes.prefix(cut)))) }
        }
        func tampered(_ key: String, _ value: String) -> SafeTensors {
            SafeTensors(metadata: file.metadata.map { $0.0 == key ? ($0.0, value) : $0 }, tensors: file.tensors)
        }
        for (key, value) in [("target_vocabulary", "[\"X\",\"Y\",\"Z\",\"W\",\"V\"]"), ("target_vocabulary", "[\"X\",\"X\",\"Z\",\"W\"]"),
                             ("hidden_size", "3"), ("hidden_size", "0"), ("score", "cosine"), ("bidirectional", "false"),
                             ("kind", "text_classifier"), ("cell", "gru"), ("embedding_size", "4")] {
            let f = key == "cell" ? SafeTensors(metadata: file.metadata + [("cell", value)], tensors: file.tensors) : tampered(key, value)
            #expect(throws: LSTMKitError.self, "\(key)=\(value)") { try Seq2Seq(modelFile: f) }
        }
    }
}

@Suite struct Seq2SeqLearningTests {
    /// Reversing short strings of letters: the model must reach a high exact match on
    /// held-out strings within a few seconds of training, and beam 5 at least greedy's.
    @Test func learnsToReverse() throws {
        var rng = SeededRandom(seed: 3)
        func sample() -> String { String((0..<(2 + Int(rng.next() % 4))).map { _ in "abcdef".randomElement(using: &rng)! }) }
        var seen = Set<String>()
        var train: [String] = [], test: [String] = []
        while train.count < 600 || test.count < 100 {
            let s = sample()
            guard seen.insert(s).inserted else { continue }
            if train.count < 600 { train.append(s) } else { test.append(s) }
        }
        var config = Seq2SeqConfig()
        (config.embeddingSize, config.hiddenSize, config.dropout, config.score) = (16, 24, 0, .general)
        var options = Seq2SeqTrainingOptions()
        (options.epochs, options.batchSize, options.learningRate, options.logEvery, options.patience) = (12, 16, 0.01, 1000, 12)
        options.labelSmoothing = 0
        let trainer = try Seq2SeqTrainer(sources: train, targets: train.map { String($0.reversed()) },
                                         dev: (Array(test.prefix(50)), test.prefix(50).map { String($0.reversed()) }),
                                         config: config, options: options)
        var lines: [String] = []
        try trainer.run { lines.append($0) }
        let held = Array(test.suffix(50))
        let out = try trainer.model.translate(held, decoding: .greedy).map { $0[0] }
        let exact = zip(out, held).filter { $0.text == String($1.reversed()) }.count
        #expect(exact >= 45, "exact match \(exact) of 50 on held-out strings:\n\(lines.joined(separator: "\n"))")
        let beam = try trainer.model.translate(held, decoding: Seq2SeqDecoding(beamSize: 5)).map { $0[0] }
        let beamExact = zip(beam, held).filter { $0.text == String($1.reversed()) }.count
        #expect(beamExact >= exact, "beam 5: \(beamExact) of 50, greedy: \(exact)")
        // A source far longer than any seen in training (2–5 letters) decodes, within its limit.
        let long = "abcdefabcdefabcdef"
        for decoding in [Seq2SeqDecoding.greedy, Seq2SeqDecoding(beamSize: 5, nBest: 5)] {
            let out = try trainer.model.translate([long], decoding: decoding)[0]
            #expect(out.count == decoding.nBest && out.allSatisfy { $0.ids.count <= 2 * long.count && $0.score.isFinite })
        }
    }
}

@Suite struct Seq2SeqTrainingTests {
    @Test func tables() throws {
        try checkTable(Seq2SeqConfig())
        try checkTable(Seq2SeqTrainingOptions())
    }

    @Test func weightEstimateBoundsTheModel() throws {
        for model in [try tinyModel(.additive, cell: .gru, layers: 2), try tinyModel(.dot, bidirectional: false, bridge: false),
                      try tinyModel(.general, blocks: 2)] {
            let estimate = model.config.parameterEstimate(sourceVocabulary: model.source.count, targetVocabulary: model.target.count)
            #expect(estimate >= Double(model.parameterCount))
        }
    }

    static func trainer(epochs: Int, threads: Int = 1, dropout: Float = 0.3, batchSize: Int = 4) throws -> Seq2SeqTrainer {
        let words = ["ab", "ba", "abc", "cab", "bca", "aab", "cc", "acb", "bb", "cba", "abca", "ca"]
        var config = Seq2SeqConfig()
        (config.embeddingSize, config.hiddenSize, config.numLayers, config.dropout) = (4, 3, 2, dropout)
        var options = Seq2SeqTrainingOptions()
        (options.epochs, options.batchSize, options.threads, options.averageDecay) = (epochs, batchSize, threads, 0.5)
        return try Seq2SeqTrainer(sources: words, targets: words.map { String($0.reversed()) }, config: config, options: options)
    }

    @Test func resumeEqualsTheUninterruptedRun() throws {
        try TrainerTests.expectResumeIsSeamless(epochs: 3, split: 1) { try Self.trainer(epochs: $0) }
    }

    /// Two threads train a batch's halves at once, on the model and a replica (the
    /// replica's dropout drawn from the model's generator, so a checkpoint still holds
    /// every generator).
    @Test func resumeEqualsTheUninterruptedRunOnTwoThreads() throws {
        try TrainerTests.expectResumeIsSeamless(epochs: 3, split: 1) { try Self.trainer(epochs: $0, threads: 2) }
    }

    /// Without dropout, a step's gradient on 2 or 3 shards (uneven, of unequal token
    /// counts) is the whole batch's, and its loss the batch's mean, up to rounding; the
    /// second step too (the replicas' gradients start again from 0).
    @Test(arguments: [2, 3]) func shardedStepIsTheWholeBatchs(threads: Int) throws {
        let whole = try Self.trainer(epochs: 1, threads: 1, dropout: 0, batchSize: 7)
        let sharded = try Self.trainer(epochs: 1, threads: threads, dropout: 0, batchSize: 7)
        var rng = SeededRandom(seed: 1)
        for batch in [[0, 2, 3, 5, 8, 9, 10], [1, 4, 6, 7]] {   // of the 11 pairs kept for training
            for p in whole.model.parameters + sharded.model.parameters { p.zeroGrad() }
            let a = try whole.trainStep(batch, training: [true], rng: &rng)
            let b = try sharded.trainStep(batch, training: [true], rng: &rng)
            #expect(a.counts == b.counts)
            #expect(abs(a.loss - b.loss) <= 1e-5 * abs(a.loss), "\(a.loss) against \(b.loss)")
            for (p, q) in zip(whole.model.namedParameters, sharded.model.namedParameters) {
                #expect(p.parameter.grad.contains { $0 != 0 }, "\(p.name) has no gradient: the check would be empty")
                expectClose(q.parameter.grad, p.parameter.grad, tol: 1e-5, p.name)
            }
        }
    }

    @Test func badTrainingData() throws {
        let config = Seq2SeqConfig(), options = Seq2SeqTrainingOptions()
        #expect(throws: LSTMKitError.self) { try Seq2SeqTrainer(sources: ["a", "b"], targets: ["a"], config: config, options: options) }
        #expect(throws: LSTMKitError.self) { try Seq2SeqTrainer(sources: ["a", ""], targets: ["a", "b"], dev: (["a"], ["a"]), config: config, options: options) }
        #expect(throws: LSTMKitError.self) { try Seq2SeqTrainer(sources: ["a"], targets: ["a"], config: config, options: options) }   // no dev to hold out
        #expect(throws: LSTMKitError.self) { try Seq2SeqTrainer(sources: ["a"], targets: ["a"], dev: (["a"], []), config: config, options: options) }
        #expect(throws: LSTMKitError.self) { try Seq2SeqTrainer(sources: ["a"], targets: ["a"], dev: ([], []), config: config, options: options) }
    }
}
