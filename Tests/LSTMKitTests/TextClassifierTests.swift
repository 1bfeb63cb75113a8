import Foundation
import Testing
@testable import LSTMKit

@Suite("Text classifier")
struct TextClassifierTests {
    func tiny(_ pooling: SequencePoolingKind, layers: Int = 1) throws -> TextClassifier {
        var c = TextClassifierConfig()
        c.embeddingDim = 4
        c.bigramDim = 2
        c.hiddenSize = 3
        c.numLayers = layers
        c.attentionSize = 3
        // Heads of the outputs' 6; files record them for self_attention only.
        if pooling == .selfAttention { c.attentionHeads = 2 }
        c.pooling = pooling
        c.embeddingDropout = 0
        c.outputDropout = 0
        c.ngramOrder = 2
        c.ngramDropout = 0
        let bigrams = ["a\u{1F}b", "b\u{1F}c", "c\u{1F}\u{3}"]
        let vocabulary = TextVocabulary(mode: .words, tokens: ["a", "b", "c", "d"], bigrams: bigrams,
                                        ngrams: ["a", "b", "a\u{1F}b", "c"])
        let model = try TextClassifier(config: c, vocabulary: vocabulary, labels: ["x", "y", "z"])
        // The n-gram table starts at zero; random values make its term visible in the check.
        model.ngramBag!.weight.value = randomArray(12, seed: 3)
        return model
    }

    @Test("every gradient of a training step matches finite differences",
          arguments: [SequencePoolingKind.attention, .mean, .max, .last, .selfAttention])
    func gradients(pooling: SequencePoolingKind) throws {
        let model = try tiny(pooling, layers: 2)
        let batch = TextClassifier.Batch([
            .init(ids: [2, 3, 4, 5, 1], bigramIDs: [2, 3, 1, 4, 1], ngramIDs: [0, 2, 1, 3]),
            .init(ids: [3, 3], bigramIDs: [1, 3], ngramIDs: [1, 1]),
            .init(ids: [5, 2, 4], bigramIDs: [1, 2, 4], ngramIDs: []),
        ])
        let targets: [Int32] = [0, 2, 1]
        let weights: [Float] = [1, 2, 0.5]
        model.zeroGrad()
        _ = try model.trainStep(batch, targets: targets, classWeights: weights)
        let analytic = model.parameters.map(\.grad)
        func loss() -> Double {
            let l = try! model.trainStep(batch, targets: targets, classWeights: weights)
            model.zeroGrad()
            return Double(l)
        }
        for (p, g) in zip(model.parameters, analytic) {
            let saved = p.value
            // Max pooling is piecewise linear: a smaller step keeps each argmax in place.
            var numeric = numericGradient(saved, h: pooling == .max ? 1e-3 : 1e-2) { v in p.value = v; defer { p.value = saved }; return loss() }
            if p === model.embedding.weight { for j in 0..<4 { numeric[j] = 0 } }  // padding rows
            if p === model.bigramEmbedding?.weight { for j in 0..<2 { numeric[j] = 0 } }
            // (float32 differences at the smaller step carry ~1 % noise; self_attention's
            // LayerNorm adds rounding noise, as in AttentionSelfAttentionTests)
            expectClose(g, numeric, tol: pooling == .max ? 2e-2 : pooling == .selfAttention ? 1e-2 : 5e-3, floor: 1e-2,
                        "d\(p.name) (\(pooling))")
        }
    }

    @Test("a model file from before token bigrams and n-grams (no such keys) still loads")
    func filesWithoutBigrams() throws {
        var c = TextClassifierConfig()
        (c.embeddingDim, c.hiddenSize, c.attentionSize) = (4, 3, 3)
        let model = try TextClassifier(config: c, vocabulary: TextVocabulary(mode: .words, tokens: ["a", "b"]), labels: ["x", "y"])
        var file = model.modelFile()
        let newer = ["bigram_dim", "bigrams", "ngram_order", "ngram_dropout", "ngram_weight", "ngrams"]
        #expect(newer.allSatisfy { file.metadata($0) != nil })
        file.metadata.removeAll { newer.contains($0.0) }
        let loaded = try TextClassifier(modelFile: file)
        #expect(loaded.config == model.config)
        #expect(loaded.predictProbabilities(["a b", "b"]) == model.predictProbabilities(["a b", "b"]))
    }

    @Test("a model file whose n-gram weight is outside [0, 1] is refused")
    func badNgramWeight() throws {
        var file = try tiny(.attention).modelFile()
        for bad in ["1.5", "-0.1", "nan"] {
            file.metadata.removeAll { $0.0 == "ngram_weight" }
            file.metadata.append(("ngram_weight", bad))
            #expect(throws: LSTMKitError.self) { try TextClassifier(modelFile: file) }
        }
    }

    @Test("tokenisation: characters for Chinese, lower-cased words otherwise")
    func tokenize() {
        #expect(TextVocabulary.tokenize("Don't STOP, it's ２０２４!", mode: .words) == ["don't", "stop", ",", "it's", "2024", "!"])
        #expect(TextVocabulary.tokenize("很 好，Ｏｋ", mode: .characters) == ["很", "好", ",", "O", "k"])
        #expect(TextVocabulary.detectMode(["这个手机很好用", "质量不错"]) == .characters)
        #expect(TextVocabulary.detectMode(["a fine film", "dull"]) == .words)
        let v = TextVocabulary.build(from: ["a b a", "b c"], mode: .words, minCount: 2)
        #expect(v.tokens == ["a", "b"])
        #expect(v.encode("a c z", maxLength: 10).ids == [2, 1, 1])
        #expect(v.encode("a a a a", maxLength: 2).ids == [2, 2])
        #expect(v.encode("", maxLength: 5).ids == [1])
        let vb = TextVocabulary.build(from: ["a b a b", "a b"], mode: .words, minCount: 1, minBigramCount: 2)
        #expect(vb.bigrams == ["a\u{1F}b", "b\u{1F}\u{3}"])
        #expect(vb.encode("a b c", maxLength: 10).bigramIDs == [2, 1, 1])
        #expect(vb.encode("b a b", maxLength: 10).bigramIDs == [1, 2, 3])
        // n-grams: counted once per text, kept when in >= 2 texts, ids by frequency
        #expect(TextVocabulary.ngramKeys(["a", "b", "c"], maxOrder: 2) == ["a", "a\u{1F}b", "b", "b\u{1F}c", "c"])
        let vn = TextVocabulary.build(from: ["a b a b", "a b c", "c d"], mode: .words, minCount: 1, ngramOrder: 2)
        #expect(vn.ngrams == ["a", "a\u{1F}b", "b", "c"])
        #expect(vn.encode("a b z c", maxLength: 10, ngramOrder: 2).ngramIDs == [0, 1, 2, 3])
        #expect(vn.encode("a b a", maxLength: 2, ngramOrder: 2).ngramIDs == [0, 1, 2])
        #expect(vn.encode("a b", maxLength: 10).ngramIDs == [])
        #expect(vn.encode("", maxLength: 10, ngramOrder: 2).ngramIDs == [])
    }

    @Test("scores: accuracy, macro-F1, confusion matrix")
    func scores() {
        var s = ClassificationScore(labels: ["a", "b"])
        for (g, p) in [(0, 0), (0, 1), (1, 1), (1, 1)] { s.add(gold: g, predicted: p) }
        #expect(s.confusion == [[1, 1], [0, 2]])
        #expect(abs(s.accuracy - 0.75) < 1e-12)
        // F1(a) = 2·1/(1+2) = 2/3, F1(b) = 2·2/(3+2) = 4/5
        #expect(abs(s.macroF1 - (2.0 / 3 + 0.8) / 2) < 1e-12)
    }

    @Test("learns a real signal, saves and loads exactly, refuses bad labels (without and with n-gram features)",
          arguments: [0, 2])
    func training(ngramOrder: Int) throws {
        // Reviews with an unmistakable word each; dev texts are new sentences.
        let good = ["great", "wonderful", "superb", "lovely"], bad = ["awful", "boring", "dreadful", "terrible"]
        var rng = SeededRandom(seed: 5)
        func text(_ words: [String]) -> String {
            let filler = ["the", "film", "was", "plot", "actors", "and", "quite", "really", "story"]
            var t = (0..<6).map { _ in filler[Int(rng.next() % UInt64(filler.count))] }
            t.insert(words[Int(rng.next() % UInt64(words.count))], at: Int(rng.next() % 6))
            return t.joined(separator: " ")
        }
        let train = (0..<200).map { i in i % 2 == 0 ? (text(good), "pos") : (text(bad), "neg") }
        let dev = (0..<60).map { i in i % 2 == 0 ? (text(good), "pos") : (text(bad), "neg") }
        var config = TextClassifierConfig()
        config.embeddingDim = 16; config.hiddenSize = 16; config.attentionSize = 8
        config.ngramOrder = ngramOrder
        var options = TextClassifierTrainingOptions()
        options.epochs = 15; options.minTokenCount = 1; options.threads = 1; options.batchSize = 16; options.learningRate = 0.01
        let trainer = try TextClassifierTrainer(train: train.map { ($0.0, $0.1) }, dev: dev.map { ($0.0, $0.1) },
                                                config: config, options: options)
        let best = try trainer.run { _ in }
        #expect(best.accuracy > 0.95, "dev accuracy \(best.accuracy)")
        let model = trainer.classifier
        #expect(model.labels == ["neg", "pos"])
        #expect(model.vocabulary.ngrams.isEmpty == (ngramOrder == 0))
        #expect((model.ngramBag?.weight.value.contains { $0 != 0 } ?? false) == (ngramOrder > 0))
        // The prediction mixes the heads' probabilities at the weight chosen on dev.
        let heads = model.headProbabilities(dev.map(\.0), threads: 1)
        #expect((heads.ngram != nil) == (ngramOrder > 0))
        if let ngram = heads.ngram {
            #expect(model.ngramWeight >= 0 && model.ngramWeight <= 1)
            let mixed = zip(heads.lstm, ngram).map { TextClassifier.mix($0, $1, ngramWeight: model.ngramWeight) }
            #expect(model.predictProbabilities(dev.map(\.0)) == mixed)
        }
        let weights = try #require(model.attentionWeights("the plot was superb and the actors too"))
        #expect(abs(weights.map(\.weight).reduce(0, +) - 1) < 1e-5)
        #expect(weights.map(\.token) == ["the", "plot", "was", "superb", "and", "the", "actors", "too"])
        #expect(weights.allSatisfy { $0.weight > 0 })

        let path = temporaryPath("textcls-\(ngramOrder).safetensors")
        defer { unlink(path) }
        try model.save(to: path)
        let loaded = try TextClassifier.load(from: path)
        #expect(loaded.predictProbabilities(dev.map(\.0)) == model.predictProbabilities(dev.map(\.0)))
        #expect(loaded.ngramWeight == model.ngramWeight)
        #expect(try loaded.evaluate(dev.map(\.0), labels: dev.map(\.1)).accuracy == best.accuracy)
        #expect(throws: LSTMKitError.self) { try loaded.evaluate(["x"], labels: ["neutral"]) }
        #expect(throws: LSTMKitError.self) {
            try TextClassifierTrainer(train: [("a", "pos"), ("b", "pos")], dev: [("a", "pos")], config: config, options: options)
        }
        #expect(throws: LSTMKitError.self) {
            try TextClassifierTrainer(train: [("a", "pos"), ("b", "neg")], dev: [("a", "meh")], config: config, options: options)
        }
        // Bad options are refused before training.
        for bad in [{ (o: inout TextClassifierTrainingOptions) in o.learningRate = -1 }, { $0.ngramLearningRate = .nan },
                    { $0.minNgramCount = 0 }, { $0.batchSize = 0 }] {
            var o = options
            bad(&o)
            #expect(throws: LSTMKitError.self) {
                try TextClassifierTrainer(train: [("a", "pos"), ("b", "neg")], dev: [("a", "pos")], config: config, options: o)
            }
        }
        // Another kind of model file is refused, naming both kinds.
        do {
            _ = try Tokenizer.load(from: path)
            Issue.record("a text classifier loaded as a tokenizer")
        } catch let LSTMKitError.invalidFormat(message) {
            #expect(message.contains("text_classifier") && message.contains("tokenizer"))
        }
    }
}
