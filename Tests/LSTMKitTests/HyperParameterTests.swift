import Testing
@testable import LSTMKit

/// Every entry of a table refuses values just beyond its range (naming the field) and
/// accepts its bounds; the default passes; the names are unique snake_case.
func checkTable<T: HyperParameterized>(_ defaults: T, _ type: T.Type = T.self) throws {
    let table = T.hyperParameters
    #expect(!table.isEmpty)
    #expect(Set(table.map(\.name)).count == table.count, "\(T.self): names repeat")
    try defaults.validate()
    for p in table {
        #expect(p.name.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" }, "\(T.self).\(p.name) is not snake_case")
        #expect(!p.doc.isEmpty && !p.doc.contains("\n"), "\(T.self).\(p.name): the doc must be one line")
        #expect(p.problem(in: defaults) == nil, "\(T.self).\(p.name): the default breaks the rule")
        let (inside, outside) = p.edges(defaults)
        #expect(!inside.isEmpty && (!outside.isEmpty || p.choices != nil))   // every case of a choice is allowed
        for value in inside {
            #expect(p.problem(in: value) == nil, "\(T.self).\(p.name): a bound is refused")
            // A bound may break a rule between fields (checked elsewhere), never a range.
            for q in table { #expect(q.problem(in: value) == nil, "\(T.self).\(p.name): a bound breaks \(q.name)") }
            // text is set's inverse (lk_model_get_setting's text reads back as the value).
            var copy = defaults
            try p.set(p.text(value), in: &copy)
            #expect(p.text(copy) == p.text(value), "\(T.self).\(p.name): \"\(p.text(value))\" does not read back")
        }
        for value in outside {
            let message = p.problem(in: value)
            #expect(message != nil, "\(T.self).\(p.name): a value beyond the range is accepted")
            #expect(message?.hasPrefix(p.name) == true, "\(T.self).\(p.name): the message \"\(message ?? "")\" does not name it")
            do {
                try value.validate()
                Issue.record("\(T.self).\(p.name): validate() accepts a value beyond the range")
            } catch let e as LSTMKitError {
                #expect(e == .invalidArgument(message ?? ""), "\(T.self).\(p.name): \(e)")
            }
        }
    }
}

@Suite("Hyper-parameter tables")
struct HyperParameterTests {
    @Test func textClassifier() throws {
        try checkTable(TextClassifierConfig())
        try checkTable(TextClassifierTrainingOptions())
    }

    @Test func messagesNameTheFieldAndRange() throws {
        var c = TextClassifierConfig()
        c.embeddingDim = 4097   // the CLI once accepted this; the C ABI and Python refused it
        #expect(throws: LSTMKitError.invalidArgument("embedding_dim must be in [1, 4096], got 4097")) { try c.validate() }
        c = TextClassifierConfig()
        c.embeddingDropout = 1
        #expect(throws: LSTMKitError.invalidArgument("embedding_dropout must be in [0, 1), got 1.0")) { try c.validate() }
        #expect(throws: LSTMKitError.invalidArgument("dropout must be in [0, 1), got 1.0")) {
            try c.validate(naming: ["embedding_dropout": "dropout"])
        }
        var o = TextClassifierTrainingOptions()
        o.learningRate = .nan
        #expect(throws: LSTMKitError.invalidArgument("learning_rate must be finite and > 0, got nan")) { try o.validate() }
        o = TextClassifierTrainingOptions()
        o.decayFactor = 0
        #expect(throws: LSTMKitError.invalidArgument("decay_factor must be in (0, 1], got 0.0")) { try o.validate() }
    }

    /// Settings by name (the C ABI's lk_train_options_set): each kind of entry parses its
    /// text, refuses text of another type or a value out of range naming the field, and
    /// leaves the settings unchanged then.
    @Test func setFromText() throws {
        var o = TextClassifierTrainingOptions()
        func set(_ name: String, _ text: String) throws { try TextClassifierTrainingOptions.hyperParameter(name)!.set(text, in: &o) }
        try set("schedule", "cosine")
        try set("average_decay", "0.999")
        try set("time_limit", "90")
        try set("epochs", "7")
        #expect(o.schedule == .cosine && o.averageDecay == 0.999 && o.timeLimit == 90 && o.epochs == 7)
        try set("time_limit", "0")
        #expect(o.timeLimit == nil)
        let before = o
        #expect(throws: LSTMKitError.invalidArgument("schedule must be plateau or cosine, got \"linear\"")) { try set("schedule", "linear") }
        #expect(throws: LSTMKitError.invalidArgument("epochs must be an integer, got \"7.5\"")) { try set("epochs", "7.5") }
        #expect(throws: LSTMKitError.invalidArgument("average_decay must be in [0, 1), got 1.0")) { try set("average_decay", "1") }
        #expect(throws: LSTMKitError.invalidArgument("time_limit must be 0 (no limit) or at least 1 second, got 0.5")) { try set("time_limit", "0.5") }
        #expect(o.loop == before.loop && o.minTokenCount == before.minTokenCount)
        var c = ImageSegmenterConfig()
        try ImageSegmenterConfig.hyperParameter("encoder_channels")!.set("8,16,32", in: &c)
        #expect(c.encoderChannels == [8, 16, 32])
        #expect(throws: LSTMKitError.invalidArgument("encoder_channels must be sizes separated by commas (\"32,64\"), got \"8,,16\"")) {
            try ImageSegmenterConfig.hyperParameter("encoder_channels")!.set("8,,16", in: &c)
        }
        var t = TextClassifierConfig()
        try TextClassifierConfig.hyperParameter("cell")!.set("lstm", in: &t)
        #expect(t.cell == .lstm && TextClassifierConfig.hyperParameter("cell")!.choices == RecurrentCell.allCases.map(\.rawValue))
    }

    @Test func textClassifierTrainerRefusesBeforeWork() throws {
        var c = TextClassifierConfig()
        c.embeddingDim = 4097
        let data = [(text: "a b", label: "x"), (text: "c d", label: "y")]
        #expect(throws: LSTMKitError.invalidArgument("embedding_dim must be in [1, 4096], got 4097")) {
            _ = try TextClassifierTrainer(train: data, dev: data, config: c, options: TextClassifierTrainingOptions())
        }
    }
}

@Suite("Hyper-parameter tables: image classifier")
struct ImageClassifierHyperParameterTests {
    @Test func tables() throws {
        try checkTable(ImageClassifierConfig())
        var cnn = ImageClassifierConfig()
        cnn.kind = .cnn
        try checkTable(cnn)
        try checkTable(ImageClassifierTrainingOptions())
    }

    @Test func rulesBetweenFields() throws {
        var c = ImageClassifierConfig()
        c.kind = .cnn
        c.columns = true
        #expect(throws: LSTMKitError.invalidArgument("columns applies to kind rows only")) { try c.validate() }
        try c.validateRanges()
        c = ImageClassifierConfig()
        c.frames = 3
        #expect(throws: LSTMKitError.invalidArgument("frame sequences need kind cnn (rows reads one image)")) { try c.validate() }
        c = ImageClassifierConfig()
        c.convChannels = [8, 8, 8, 8, 8, 8]
        c.kind = .cnn
        #expect(throws: LSTMKitError.self) { try c.validate() }   // 28×28 is too small for 6 blocks
        var o = ImageClassifierTrainingOptions()
        o.timeLimit = 0.5
        #expect(throws: LSTMKitError.invalidArgument("time_limit must be 0 (no limit) or at least 1 second, got 0.5")) {
            try o.validate()
        }
        c = ImageClassifierConfig()
        c.convChannels = [8, 0]
        #expect(throws: LSTMKitError.invalidArgument("conv_channels[1] must be in [1, 4096], got 0")) { try c.validate() }
    }
}

@Suite("Hyper-parameter tables: image segmenter")
struct ImageSegmenterHyperParameterTests {
    @Test func tables() throws {
        try checkTable(ImageSegmenterConfig())
        try checkTable(ImageSegmenterTrainingOptions())
    }

    @Test func classWeights() throws {
        var o = ImageSegmenterTrainingOptions()
        o.classWeights = [1, -1]
        #expect(throws: LSTMKitError.invalidArgument("class_weights[1] must be finite and >= 0, got -1.0")) { try o.validate() }
        o.classWeights = [0, 0]
        #expect(throws: LSTMKitError.invalidArgument("class_weights are all 0; at least one must be > 0")) { try o.validate() }
        o.classWeights = [1, 2]
        try o.validate()
        o.balanceClasses = true
        #expect(throws: LSTMKitError.self) { try o.validate() }
    }
}

@Suite("Hyper-parameter tables: tokenizer")
struct TokenizerHyperParameterTests {
    @Test func tables() throws {
        try checkTable(SegmenterConfig())
        try checkTable(TokenizerTrainingOptions())
    }

    @Test func zeroOrRange() throws {
        var o = TokenizerTrainingOptions()
        for v in [0, 2, 16] {
            o.lexiconMaxLength = v
            try o.validate()
        }
        o.lexiconMaxLength = 1
        #expect(throws: LSTMKitError.invalidArgument("lexicon_max_length must be 0 or in [2, 16], got 1")) { try o.validate() }
        var c = SegmenterConfig()
        c.characterDim = 4097
        #expect(throws: LSTMKitError.invalidArgument("char_dim must be in [1, 4096], got 4097")) {
            _ = try SegmenterNetwork(config: c, characterCount: 4, bigramCount: 4)
        }
    }
}
