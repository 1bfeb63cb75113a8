import Testing
@testable import LSTMKit

/// Issue 17: training and model construction go through the checked allocation path
/// (`Memory.check`) before they allocate; a huge text is not tokenised past max_length.
@Suite("Checked allocations: training, model construction, tokenising")
struct TrainingMemoryTests {
    func isOutOfMemory(_ error: any Error, _ text: String) -> Bool {
        guard case LSTMKitError.outOfMemory(let m) = error else { return false }
        return m.contains(text)
    }

    /// A task whose step would hold `floats` floats; it counts the steps it was asked for.
    final class HugeStepTask: TrainingTask {
        let loop = Trainer<ClassificationScore>(options: TrainerOptions(epochs: 2, batchSize: 2, learningRate: 0.1,
                                                                          patience: 2, logEvery: 1))
        let weight = Parameter(name: "w", shape: [4])
        let floats: Double
        var steps = 0
        init(floats: Double) { self.floats = floats }
        var parameterGroups: [ParameterGroup] { [ParameterGroup(name: "all", parameters: [weight], learningRate: 0.1)] }
        var namedState: [(name: String, parameter: Parameter)] { [("w", weight)] }
        func modelFile() -> SafeTensors { SafeTensors(metadata: [], tensors: []) }
        var countNames: [String] { ["examples"] }
        func batches(rng: inout SeededRandom) -> [[Int]] { [[0], [1, 2]] }
        func stepFloats(_ batch: [Int]) -> Double { floats * Double(batch.count) }
        func trainStep(_ batch: [Int], training: [Bool], rng: inout SeededRandom) throws -> (loss: Float, counts: [Int]) {
            steps += 1
            return (1, [batch.count])
        }
        func devScores() throws -> [ClassificationScore] {
            [ClassificationScore(labels: ["a", "b"], probabilities: [[0.6, 0.4]], gold: [0])]
        }
    }

    @Test("training: a step beyond memory is refused by the one Trainer before any batch is trained")
    func trainingBeyondMemoryIsRefusedFirst() throws {
        let task = HugeStepTask(floats: 1e15)   // 4 PB per example
        #expect { try task.loop.run(task) { _ in } } throws: {
            isOutOfMemory($0, "training on a batch of 2 examples (epoch 1's largest; batch_size 2) with the optimizer's state needs 8000.0 TB")
        }
        #expect(task.steps == 0)
        let small = HugeStepTask(floats: 10)
        try small.loop.run(small) { _ in }
        #expect(small.steps == 4)
    }

    @Test("construction: a recurrent stack whose weights cannot fit is outOfMemory before it is built")
    func recurrentStackBeyondMemory() {
        let config = RecurrentConfig(inputSize: 1, hiddenSize: 8192, numLayers: 1024)
        #expect { try LSTM(config) } throws: { isOutOfMemory($0, "a recurrent layer with 549.6 billion weights needs") }
        #expect { try GRU(config) } throws: { isOutOfMemory($0, "a recurrent layer with 549.6 billion weights needs") }
        // (The models' own checks are shown under LSTMKIT_MAX_ALLOC_BYTES in test_memory_limits.py:
        // within their tables' ranges, what exceeds memory depends on the machine.)
    }

    /// The estimates are upper bounds of what the constructors build, and not loose.
    func expectBounds(_ estimate: Double, _ module: Module, _ what: String) {
        let actual = Double((module.parameters + module.buffers).reduce(0) { $0 + $1.count })
        #expect(estimate >= actual, "\(what): estimate \(estimate) < actual \(actual)")
        #expect(estimate <= 1.5 * actual + 5000, "\(what): estimate \(estimate) far above actual \(actual)")
    }

    @Test("construction: every model's weight estimate bounds the weights it builds")
    func parameterEstimatesBoundEveryModel() throws {
        for (layers, bidirectional) in [(1, false), (3, true)] {
            let r = RecurrentConfig(inputSize: 5, hiddenSize: 16, numLayers: layers, bidirectional: bidirectional)
            expectBounds(r.parameterEstimate, try LSTM(r), "lstm")
        }
        var text = TextClassifierConfig()
        text.bigramDim = 8
        text.ngramOrder = 2
        let vocabulary = TextVocabulary(mode: .words, tokens: (0..<300).map { "t\($0)" }, bigrams: ["t1 t2", "t2 t3"], ngrams: ["t1", "t2"])
        let classifier = try TextClassifier(config: text, vocabulary: vocabulary, labels: ["x", "y", "z"])
        expectBounds(text.parameterEstimate(vocabulary: vocabulary, classes: 3), classifier, "text classifier")
        for (kind, columns) in [(ImageClassifierKind.rows, true), (.cnn, false)] {
            var c = ImageClassifierConfig()
            (c.kind, c.columns, c.height, c.width, c.channels) = (kind, columns, 16, 12, 3)
            expectBounds(c.parameterEstimate(classes: 4), try ImageClassifier(config: c, labels: ["a", "b", "c", "d"]), "image \(kind)")
        }
        for (context, attention) in [(SegmenterContext.lstm, false), (.conv, true)] {
            var c = ImageSegmenterConfig(numClasses: 3)
            (c.context, c.attentionGates, c.encoderChannels) = (context, attention, [8, 16, 32])
            expectBounds(c.parameterEstimate, try ImageSegmenter(config: c), "segmenter \(context)")
        }
        for filters in [[], [16, 32, 16]] {   // with LSTM-FCN's convolutional front too
            var s = SequenceClassifierConfig()
            (s.numLayers, s.patchLength, s.members, s.convFilters) = (2, 3, 1, filters)
            expectBounds(s.parameterEstimate(features: 4, classes: 3),
                         try SequenceClassifier(config: s, channels: 4, labels: ["a", "b", "c"]), "sequence classifier \(filters)")
        }
        var seg = SegmenterConfig()
        seg.numLayers = 2
        expectBounds(seg.parameterEstimate(characters: 500, bigrams: 900),
                     try SegmenterNetwork(config: seg, characterCount: 500, bigramCount: 900), "tokenizer")
        var f = ForecasterConfig()
        (f.targets, f.exogenous) = (2, 1)
        expectBounds(f.parameterEstimate, try Forecaster(config: f), "forecaster")
    }

    @Test("text classifier: a text is tokenised only up to max_length, as truncating the whole list would")
    func tokenisingStopsAtMaxLength() {
        let texts = ["", "a", "Hello, world! It's  a test.", "我爱北京天安门", "one two three four five six", "x,y;z", "  a  b  "]
        for mode in [TextVocabulary.Mode.words, .characters] {
            for text in texts {
                let all = TextVocabulary.tokenize(text, mode: mode)
                for n in 0...(all.count + 1) {
                    #expect(TextVocabulary.tokenize(text, mode: mode, maxTokens: n) == Array(all.prefix(n)), "\(mode) \(text) \(n)")
                }
            }
        }
    }
}
