import Foundation
import Testing
@testable import LSTMKit

/// Two tiny tokenizers on the fixture corpus with the same characters and bigrams: one
/// with dictionary features, one without (another seed).
private let members: (withDictionary: Tokenizer, without: Tokenizer) = {
    func train(_ change: (inout SegmenterConfig, inout TokenizerTrainingOptions) -> Void) -> Tokenizer {
        var (config, options, train, dev) = try! tinyTraining(maxBatches: 6)
        change(&config, &options)
        let trainer = try! TokenizerTrainer(train: train, dev: dev, config: config, options: options)
        try! trainer.run(checkpointPath: nil, bestPath: nil) { _ in }
        return trainer.tokenizer
    }
    return (train { _, _ in }, train { config, options in options.dictionaryMaxLength = 0; config.seed = 2; config.hiddenSize = 6 })
}()

private func devTexts() throws -> [String] {
    try Corpus.readSegmented(fixtureDirectory + "/dev.txt").map { $0.joined() }
}

private func emissions(_ tokenizer: Tokenizer, _ network: SegmenterNetwork, _ text: String) -> [Float] {
    let piece = tokenizer.vocabulary.encode(Array(text).map(CharacterVocabulary.normalize))
    return network.emissions(SegmenterNetwork.Batch([piece], featureCount: tokenizer.vocabulary.featureCount)).data
}

@Suite("Tokenizer ensembles")
struct TokenizerEnsembleTests {
    @Test("a network given zero-weight dictionary columns scores exactly as before")
    func widening() throws {
        let (a, b) = members
        #expect(a.vocabulary.dictionaryFeatureCount == 8 && b.vocabulary.dictionaryFeatureCount == 0)
        let wider = try b.network.addingZeroFeatureColumns(a.vocabulary.dictionaryFeatureCount, before: 0)
        #expect(wider.config.featureCount == a.vocabulary.featureCount)
        for text in try devTexts().prefix(10) {
            let before = emissions(b, b.network, text), after = emissions(a, wider, text)
            #expect(before.count == after.count)
            #expect(zip(before, after).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($0)) })
        }
    }

    @Test("an ensemble averages its members' emission and transition scores")
    func averaging() throws {
        let (a, b) = members
        let ensemble = try Tokenizer.ensemble([a, b])
        #expect(ensemble.networks.count == 2 && ensemble.vocabulary == a.vocabulary)
        // Copies rounded to half precision; the members themselves are untouched.
        #expect(ensemble.networks.allSatisfy { n in n.parameters.allSatisfy { p in p.value.allSatisfy { Float(Float16($0)) == $0 } } })
        #expect(ensemble.networks[0] !== a.network && ensemble.networks[1] !== b.network)
        for (k, p) in ensemble.crf.parameters.enumerated() {
            let x = ensemble.networks[0].crf.parameters[k].value, y = ensemble.networks[1].crf.parameters[k].value
            #expect(p.value == zip(x, y).map { ($0 + $1) * 0.5 })
        }
        let text = try devTexts()[0]
        let e0 = emissions(ensemble, ensemble.networks[0], text), e1 = emissions(ensemble, ensemble.networks[1], text)
        let piece = ensemble.vocabulary.encode(Array(text).map(CharacterVocabulary.normalize))
        let mean = ensemble.emissions(SegmenterNetwork.Batch([piece], featureCount: ensemble.vocabulary.featureCount)).data
        #expect(mean == zip(e0, e1).map { ($0 + $1) * 0.5 })
        // An ensemble of a tokenizer with itself segments as the tokenizer with its
        // weights rounded to half precision does.
        let twice = try Tokenizer.ensemble([a, a])
        let rounded = try Tokenizer(modelFile: a.modelFile())
        for p in rounded.network.parameters { p.value = p.value.map { Float(Float16($0)) } }
        #expect(twice.cutMany(try devTexts()) == rounded.cutMany(try devTexts()))
        for text in try devTexts() { #expect(ensemble.cut(text).joined() == text) }
    }

    @Test("an ensemble file: half precision, members' names prefixed, exact round trip")
    func file() throws {
        let (a, b) = members
        let ensemble = try Tokenizer.ensemble([a, b])
        let file = ensemble.modelFile()
        #expect(file.metadata("members") == "2" && file.metadata("member1.hidden_size") == "6")
        #expect(file.metadata("hidden_size") == nil)
        #expect(file.tensors.allSatisfy { $0.dtype == .f16 && ($0.name.hasPrefix("member0.") || $0.name.hasPrefix("member1.")) })
        let bytes = file.serialized()
        #expect(bytes.count < a.modelFile().serialized().count + b.modelFile().serialized().count * 3 / 4)
        let loaded = try Tokenizer(modelFile: try SafeTensors.parse(bytes))
        #expect(loaded.modelFile().serialized() == bytes)
        #expect(loaded.cutMany(try devTexts()) == ensemble.cutMany(try devTexts()))
        // A single model's file is unchanged: float32, no prefixes.
        #expect(a.modelFile().tensors.allSatisfy { $0.dtype == .f32 && !$0.name.hasPrefix("member") })
        for (key, value) in [("members", "1"), ("members", "17"), ("members", "two"), ("members", "3"), ("member1.hidden_size", "7")] {
            var bad = file
            bad.metadata = bad.metadata.map { $0.0 == key ? ($0.0, value) : $0 }
            #expect(throws: LSTMKitError.self, "\(key) = \(value)") { try Tokenizer(modelFile: bad) }
        }
        var noMembers = file
        noMembers.metadata.removeAll { $0.0 == "members" }  // what a reader of single models sees
        #expect(throws: LSTMKitError.self) { try Tokenizer(modelFile: noMembers) }
        var missingTensor = file
        missingTensor.tensors.removeLast()
        #expect(throws: LSTMKitError.self) { try Tokenizer(modelFile: missingTensor) }
        // An ensemble can join another tokenizer: its networks are taken one by one.
        #expect(try Tokenizer.ensemble([loaded, a]).networks.count == 3)
    }

    @Test("members must share characters, bigrams, lexicon and dictionary")
    func refusals() throws {
        let (a, b) = members
        #expect(throws: LSTMKitError.self) { try Tokenizer.ensemble([a]) }
        var (config, options, train, dev) = try tinyTraining(maxBatches: 1)
        options.minBigramCount = 2
        let fewerBigrams = try TokenizerTrainer(train: train, dev: dev, config: config, options: options).tokenizer
        #expect(throws: LSTMKitError.self) { try Tokenizer.ensemble([a, fewerBigrams]) }
        options.minBigramCount = 1
        options.dictionaryMaxLength = 3
        let shorterWords = try TokenizerTrainer(train: train, dev: dev, config: config, options: options).tokenizer
        #expect(throws: LSTMKitError.self) { try Tokenizer.ensemble([a, shorterWords]) }
        options.dictionaryMaxLength = 5
        options.lexiconMaxLength = 4
        config.seed = 3
        let withLexicon = try TokenizerTrainer(train: train, dev: dev, lexicon: ["中国", "人民"], config: config, options: options).tokenizer
        #expect(throws: LSTMKitError.self) { try Tokenizer.ensemble([a, withLexicon]) }
        #expect(try Tokenizer.ensemble([b, a]).vocabulary == a.vocabulary)  // the dictionary comes from whichever member has it
        #expect(throws: LSTMKitError.self) { try Tokenizer.ensemble(Array(repeating: a, count: Tokenizer.maxMembers + 1)) }
    }
}
