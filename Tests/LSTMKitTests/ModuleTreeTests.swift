import Foundation
import Testing
@testable import LSTMKit

/// Issue 16: parameter names come from the module tree and equal the names every
/// existing file holds; models take "a recurrent layer" built by the cell factory.
@Suite("Module tree and recurrent layers")
struct ModuleTreeTests {
    static let golden = TamperedModelFileTests.golden

    /// The names a model's tree derives, in file order (parameters, then buffers).
    static func derivedNames(_ module: Module) -> [String] {
        (module.namedParameters + module.namedBuffers).map(\.name)
    }

    /// A one-layer BiLSTM's tensors, PyTorch's names.
    static let biLSTM = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                         "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse"]

    static func fileNames(_ name: String) throws -> [String] {
        try SafeTensors.read(from: golden + "/" + name).tensors.map(\.name)
    }

    @Test("every model kind's tree derives the names, in order, of its saved golden file")
    func goldenNames() throws {
        #expect(Self.derivedNames(try LSTM.load(from: Self.golden + "/lstm.safetensors")) == (try Self.fileNames("lstm.safetensors")))
        for name in ["text-en.safetensors", "text-zh-ngrams.safetensors"] {
            let model = try TextClassifier.load(from: Self.golden + "/" + name)
            #expect(Self.derivedNames(model) == (try Self.fileNames(name)), "\(name)")
        }
        for name in ["image-rows.safetensors", "image-cnn.safetensors"] {
            let model = try ImageClassifier.load(from: Self.golden + "/" + name)
            #expect(Self.derivedNames(model) == (try Self.fileNames(name)), "\(name)")
        }
        let segmenter = try ImageSegmenter.load(from: Self.golden + "/segmenter.safetensors")
        #expect(Self.derivedNames(segmenter) == (try Self.fileNames("segmenter.safetensors")))
        let tokenizer = try Tokenizer.load(from: Self.golden + "/tokenizer.safetensors")
        #expect(Self.derivedNames(tokenizer.network) == (try Self.fileNames("tokenizer.safetensors")))
        // An ensemble's members are the children "member0", "member1" of the file's tree.
        let ensemble = try Tokenizer.load(from: Self.golden + "/tokenizer-ensemble.safetensors")
        let members = ensemble.networks.enumerated().flatMap { k, n in Self.derivedNames(n).map { "member\(k)." + $0 } }
        #expect(members == (try Self.fileNames("tokenizer-ensemble.safetensors")))
        for name in ["seq2seq/seq2seq.safetensors", "seq2seq/seq2seq-gru.safetensors"] {
            #expect(Self.derivedNames(try Seq2Seq.load(from: Self.golden + "/" + name)) == (try Self.fileNames(name)), "\(name)")
        }
    }

    @Test("the names no golden file shows: bigrams, n-grams, column attention, conv context, gates")
    func otherNames() throws {
        var tc = TextClassifierConfig()
        (tc.embeddingDim, tc.bigramDim, tc.hiddenSize, tc.attentionSize, tc.ngramOrder) = (4, 2, 3, 2, 1)
        let vocabulary = TextVocabulary(mode: .words, tokens: ["<pad>", "<unk>", "a", "b"], bigrams: ["<pad>", "a b"], ngrams: ["a", "b"])
        let text = try TextClassifier(config: tc, vocabulary: vocabulary, labels: ["x", "y"])
        #expect(Self.derivedNames(text) == ["embedding.weight", "bigram_embedding.weight"]
                + Self.biLSTM.map { "lstm." + $0 }
                + ["attention.projection.weight", "attention.projection.bias", "attention.context",
                   "output.weight", "output.bias", "ngram_bag.weight"])
        #expect(text.modelFile().tensors.map(\.name) == Self.derivedNames(text))
        // The (prefix, module) pairs the trainers' checkpoints read give the same names.
        #expect(text.namedModules.flatMap { prefix, m in m.parameters.map { prefix + $0.name } } == Self.derivedNames(text))

        var ic = ImageClassifierConfig()
        (ic.height, ic.width, ic.hiddenSize, ic.columns, ic.pooling, ic.attentionSize) = (4, 4, 2, true, .attention, 2)
        let image = try ImageClassifier(config: ic, labels: ["x", "y"])
        let lstm = Self.biLSTM
        #expect(Self.derivedNames(image) == lstm.map { "lstm." + $0 } + ["attention.projection.weight", "attention.projection.bias", "attention.context"]
                + lstm.map { "column_lstm." + $0 }
                + ["column_attention.projection.weight", "column_attention.projection.bias", "column_attention.context",
                   "output.weight", "output.bias"])

        var sc = ImageSegmenterConfig(numClasses: 2)
        (sc.encoderChannels, sc.hiddenSize, sc.context, sc.upsampling, sc.attentionGates, sc.batchNorm) = ([2], 2, .conv, .bilinear, true, false)
        let segmenter = try ImageSegmenter(config: sc)
        #expect(Self.derivedNames(segmenter) == [
            "encoder.0.conv.weight", "encoder.0.conv.bias", "context.0.weight", "context.0.bias", "context.1.weight", "context.1.bias",
            "decoder.0.up.weight", "decoder.0.up.bias", "decoder.0.gate.x.weight", "decoder.0.gate.g.weight", "decoder.0.gate.g.bias",
            "decoder.0.gate.psi.weight", "decoder.0.gate.psi.bias", "decoder.0.conv.weight", "decoder.0.conv.bias", "head.weight", "head.bias",
        ])
        #expect(segmenter.buffers.isEmpty)
        let golden = try ImageSegmenter.load(from: Self.golden + "/segmenter.safetensors")
        #expect(golden.fileModules.flatMap { prefix, m in m.parameters.map { prefix + $0.name } } == Self.derivedNames(golden))
    }

    @Test("the walk: children in order, then a module's own tensors; buffers apart; names joined with dots")
    func walk() {
        var rng = SeededRandom(seed: 2)
        let pooling = AttentionPooling(inputSize: 3, attentionSize: 2, rng: &rng)
        let norm = BatchNorm2D(2)
        let tree = ModuleList(named: [("pool", pooling), ("blocks", ModuleList([norm, Linear(2, 2, bias: false, rng: &rng)]))])
        #expect(tree.namedParameters.map(\.name) == ["pool.projection.weight", "pool.projection.bias", "pool.context",
                                                     "blocks.0.weight", "blocks.0.bias", "blocks.1.weight"])
        #expect(tree.namedBuffers.map(\.name) == ["blocks.0.running_mean", "blocks.0.running_var"])
        #expect(tree.parameters.map { ObjectIdentifier($0) } == tree.namedParameters.map { ObjectIdentifier($0.parameter) })
        #expect(tree.buffers.count == 2 && tree.parameterCount == 3 * 2 + 2 + 2 + 2 + 2 + 4)
        #expect(tree.parameter(named: "pool.context") === pooling.context)
        #expect(tree.parameter(named: "context") == nil)
    }

    @Test("the factory's \"lstm\" is the LSTM: same weights, and the protocol gives the LSTM's results to the bit")
    func factoryLSTM() throws {
        let config = RecurrentConfig(inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, seed: 9)
        let layer = try RecurrentCell.lstm.make(config)
        let lstm = try LSTM(config)
        #expect(layer is LSTM && layer.cell == .lstm && layer.config == config)
        #expect(layer.parameters.map(\.value) == lstm.parameters.map(\.value))
        #expect(Self.derivedNames(layer) == Self.derivedNames(lstm))

        let x = randomTensor([3, 5, 3], seed: 10), lengths = [5, 2, 4]
        let direct = lstm.forward(x, lengths: lengths, training: true)
        let viaProtocol = layer.forward(sequences: x, lengths: lengths, training: true)
        #expect(viaProtocol.y == direct.y && viaProtocol.final == direct.final.h)
        // Inference against the LSTM's own inference (a batch's may differ from forward
        // in the last bits: the packed GEMMs).
        let inferred = layer.infer(sequences: x, lengths: lengths), own = lstm.infer(x, lengths: lengths)
        #expect(inferred.y == own.y && inferred.final == own.final.h)

        // Backward through the protocol, with a final-h gradient: the LSTM's own with dc = 0.
        let dY = randomTensor(direct.y.shape, seed: 11), dH = randomTensor(direct.final.h.shape, seed: 12)
        let dx = layer.backward(viaProtocol.cache, outputGrad: dY, finalGrad: dH)
        let expected = lstm.backward(direct.cache, outputGrad: dY,
                                     finalGrad: LSTMState(h: dH, c: Tensor(zeros: dH.shape))).dx
        #expect(dx == expected)
        #expect(layer.parameters.map(\.grad) == lstm.parameters.map(\.grad))
    }

    /// `file` with metadata `key` set to `value` (added if absent).
    static func withMetadata(_ file: SafeTensors, _ key: String, _ value: String) -> SafeTensors {
        var file = file
        if file.metadata(key) == nil { file.metadata.append((key, value)) }
        file.metadata = file.metadata.map { ($0, $0 == key ? value : $1) }
        return file
    }

    @Test("a file naming a cell this build does not know is refused with a message; \"lstm\" written out loads")
    func unknownCell() throws {
        let loaders: [(String, String, (SafeTensors) throws -> Any)] = [
            ("text-en.safetensors", "cell", { try TextClassifier(modelFile: $0) }),
            ("image-rows.safetensors", "cell", { try ImageClassifier(modelFile: $0) }),
            ("segmenter.safetensors", "cell", { try ImageSegmenter(modelFile: $0) }),
            ("tokenizer.safetensors", "cell", { try Tokenizer(modelFile: $0) }),
            ("tokenizer-ensemble.safetensors", "member1.cell", { try Tokenizer(modelFile: $0) }),
        ]
        for (name, key, load) in loaders {
            let file = try SafeTensors.read(from: Self.golden + "/" + name)
            do {
                _ = try load(Self.withMetadata(file, key, "gru2"))
                Issue.record("\(name) with \(key) = gru2 was accepted")
            } catch let LSTMKitError.invalidFormat(message) {
                #expect(message.contains("\"\(key)\"") && message.contains("gru2") && message.contains("lstm"), "\(message)")
            }
            _ = try load(Self.withMetadata(file, key, "lstm"))
        }
        // Through the path-based loader the message names the file too.
        let path = temporaryPath("unknown-cell.safetensors")
        defer { unlink(path) }
        try Self.withMetadata(try SafeTensors.read(from: Self.golden + "/text-en.safetensors"), "cell", "").write(to: path)
        #expect(throws: LSTMKitError.self) { try TextClassifier.load(from: path) }
    }

    @Test("an LSTM model's file records no cell: absent means lstm, and files stay as they were")
    func lstmWritesNoCell() throws {
        let model = try TextClassifier.load(from: Self.golden + "/text-en.safetensors")
        #expect(model.config.cell == .lstm && model.modelFile().metadata("cell") == nil)
        #expect(ModelFile.cellMetadata(.lstm).isEmpty)
    }
}
