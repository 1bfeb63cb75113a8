import Foundation
import Testing
@testable import LSTMKit

/// Every model kind's int8 form (`model.quantize()`, docs/QUANTIZATION.md) on the golden
/// models: outputs near float32's, files that load back through the model's own `load`
/// to the same outputs, quantizing twice refused, bad scales refused.
@Suite("Int8-quantized models")
struct QuantizedModelTests {
    static let golden = TamperedModelFileTests.golden

    /// One kind: its golden file, its loader and writer, and some outputs to compare.
    struct Kind<M: QuantizableModel> {
        let file: String
        let load: (String) throws -> M
        let save: (M, String) throws -> Void
        let outputs: (M) throws -> [Float]
        /// Max |int8 − float32| over the outputs allowed (probabilities, scores, forecasts).
        let tolerance: Float
    }

    static func check<M: QuantizableModel>(_ kind: Kind<M>) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lk-q8m-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try kind.load(golden + "/" + kind.file)
        #expect(!model.moduleTree.isQuantized)
        let float = try kind.outputs(model)
        try model.quantize()
        #expect(model.moduleTree.isQuantized)
        let int8 = try kind.outputs(model)
        let err = zip(float, int8).map { abs($0 - $1) }.max() ?? 0
        #expect(float.count == int8.count && err > 0 && err < kind.tolerance, "\(kind.file): max |int8 - f32| = \(err)")
        print("int8 \(kind.file): max |output - output_f32| = \(err) over \(float.count) outputs")

        // Quantizing again is refused, in memory and after loading.
        do { try model.quantize(); Issue.record("quantized twice") } catch let e as LSTMKitError {
            #expect(e.message.contains("already int8-quantized"), "\(e.message)")
        }
        let path = dir + "/q.safetensors"
        try kind.save(model, path)
        let file = try SafeTensors.read(from: path)
        #expect(file.metadata("quantization") == "int8")
        #expect(file.tensors.contains { $0.dtype == .i8 } && file.tensors.contains { $0.name.hasSuffix("_scale") })
        let floatBytes = try FileManager.default.attributesOfItem(atPath: golden + "/" + kind.file)[.size] as! Int
        let intBytes = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        #expect(intBytes < floatBytes, "\(kind.file): \(intBytes) >= \(floatBytes) bytes")
        let loaded = try kind.load(path)
        #expect(loaded.moduleTree.isQuantized)
        #expect(try kind.outputs(loaded) == int8)
        #expect(throws: LSTMKitError.self) { try loaded.quantize() }
        let again = dir + "/again.safetensors"
        try kind.save(loaded, again)
        #expect(try FileIO.read(again) == (try FileIO.read(path)))

        // A scale of NaN, 0 or below, or an I8 tensor stored as F32, is refused by load.
        let scale = try #require(file.tensors.firstIndex { $0.name.hasSuffix("_scale") })
        for bad in [Float.nan, 0, -1] {
            var tampered = file
            tampered.tensors[scale].values[0] = bad
            try tampered.write(to: path)
            do { _ = try kind.load(path); Issue.record("\(kind.file): loaded scale \(bad)") } catch let e as LSTMKitError {
                // The layer and its tensor: "lstm.weight_ih_l0_scale" or "in lstm: weight_ih_l0_scale[0]".
                let name = file.tensors[scale].name, dot = name.lastIndex(of: ".") ?? name.startIndex
                #expect(e.message.contains(name[..<dot]) && e.message.contains(name[dot...].dropFirst()), "\(e.message)")
            }
        }
        var tampered = file
        let weight = try #require(file.tensors.firstIndex { $0.dtype == .i8 })
        tampered.tensors[weight].dtype = .f32
        try tampered.write(to: path)
        #expect(throws: LSTMKitError.self) { _ = try kind.load(path) }
    }

    @Test("tokenizer (one network and an ensemble): emission scores")
    func tokenizer() throws {
        let texts = ["我爱北京天安门。", "他说：今天的天气很好，LSTMKit 2024 版发布了。", "研究生命起源"]
        for file in ["tokenizer.safetensors", "tokenizer-ensemble.safetensors"] {
            try Self.check(Kind(file: file, load: Tokenizer.load, save: { try $0.save(to: $1) }, outputs: { t in
                let pieces = texts.map { t.vocabulary.encode($0.map(CharacterVocabulary.normalize)) }
                let batch = SegmenterNetwork.Batch(pieces, featureCount: t.vocabulary.featureCount)
                return t.networks.flatMap { $0.emissions(batch).data }
            }, tolerance: 0.3))
        }
    }

    @Test("text classifiers: probabilities")
    func textClassifier() throws {
        let texts = ["a fine film", "dull and far too long", "the best thing this year", "", "好看的电影，但是太长了"]
        for file in ["text-en.safetensors", "text-zh-ngrams.safetensors"] {
            try Self.check(Kind(file: file, load: TextClassifier.load, save: { try $0.save(to: $1) },
                                outputs: { $0.predictProbabilities(texts).flatMap { $0 } }, tolerance: 0.05))
        }
    }

    @Test("image classifiers: probabilities")
    func imageClassifier() throws {
        for file in ["image-rows.safetensors", "image-cnn.safetensors"] {
            try Self.check(Kind(file: file, load: ImageClassifier.load, save: { try $0.save(to: $1) }, outputs: { m in
                let shape = [3] + m.config.exampleShape
                let images = Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { Float($0 % 251) })
                return try m.predictProbabilities(images).data
            }, tolerance: 0.05))
        }
    }

    @Test("image segmenter: probabilities")
    func imageSegmenter() throws {
        try Self.check(Kind(file: "segmenter.safetensors", load: ImageSegmenter.load, save: { try $0.save(to: $1) }, outputs: { m in
            let side = m.config.sizeMultiple * 2
            let images = Tensor(shape: [2, side, side, m.config.channels],
                                data: (0..<(2 * side * side * m.config.channels)).map { Float($0 % 7) * 30 })
            return try m.predictProbabilities(images).data
        }, tolerance: 0.05))
    }

    @Test("sequence classifier: probabilities")
    func sequenceClassifier() throws {
        try Self.check(Kind(file: "sequence-classifier/sequence-classifier.safetensors", load: SequenceClassifier.load,
                            save: { try $0.save(to: $1) }, outputs: { m in
            let sequences = (0..<4).map { k in (0..<(12 * m.channels)).map { sin(Float($0 + 7 * k) * 0.3) } }
            return try m.predictProbabilities(Sequences(sequences: sequences, channels: m.channels)).flatMap { $0 }
        }, tolerance: 0.05))
    }

    @Test("forecaster: point forecasts and quantiles")
    func forecaster() throws {
        try Self.check(Kind(file: "forecaster/forecaster.safetensors", load: Forecaster.load, save: { try $0.save(to: $1) }, outputs: { m in
            let c = m.config, t = c.context + 5
            let series = Tensor(shape: [t, c.targets], data: (0..<(t * c.targets)).map { 10 + sin(Float($0) * 0.4) })
            let exogenous = c.exogenous == 0 ? nil
                : Tensor(shape: [t + c.horizon, c.exogenous], data: (0..<((t + c.horizon) * c.exogenous)).map { cos(Float($0)) })
            let f = try m.forecast(series, exogenous: exogenous)
            return f.point + f.quantileValues
        }, tolerance: 0.1))
    }

    @Test("seq2seq (LSTM and GRU encoders): the decoder's next-token probabilities, teacher-forced")
    func seq2seq() throws {
        for file in ["seq2seq/seq2seq.safetensors", "seq2seq/seq2seq-gru.safetensors"] {
            try Self.check(Kind(file: file, load: Seq2Seq.load, save: { try $0.save(to: $1) }, outputs: { m in
                let sources = ["aaron", "accra", "boehm", "x"].map(m.source.encode)
                var (memory, state) = m.encode(sources)
                var tokens = [Int32](repeating: Seq2SeqVocabulary.begin, count: sources.count)
                var probabilities: [Float] = []
                let v = m.target.count
                for t in 0..<4 {
                    let (logits, next, _) = m.step(memory, tokens: tokens, state: state)
                    for r in sources.indices {
                        let row = logits.data[(r * v)..<((r + 1) * v)], top = row.max()!
                        let e = row.map { exp($0 - top) }, sum = e.reduce(0, +)
                        probabilities += e.map { $0 / sum }
                    }
                    state = next
                    tokens = sources.indices.map { Int32(4 + (t + $0) % (v - 4)) }   // past BOS, EOS, UNK, PAD
                }
                return probabilities
            }, tolerance: 0.05))
        }
    }

    @Test("an LSTM quantizes in place, as a model does; its load reads int8 files")
    func lstmInPlace() throws {
        let lstm = try LSTM.load(from: Self.golden + "/lstm.safetensors")
        let float = try LSTM.load(from: Self.golden + "/lstm.safetensors")
        #expect(!lstm.isQuantized)
        try lstm.quantize()
        #expect(lstm.isQuantized)
        let x = QuantizedLayerTests.inputs(2, 5, lstm.config.inputSize, seed: 3)
        let (f, q) = (try float.runInference(x, lengths: [5, 3]).y, try lstm.runInference(x, lengths: [5, 3]).y)
        #expect(f != q && QuantizedLayerTests.maxAbsDifference(f, q) < QuantizedLayerTests.bound)
        #expect(throws: LSTMKitError.self) { try lstm.quantizeLayers() }
        #expect(throws: LSTMKitError.self) { try lstm.quantize() }
        let loaded = try LSTM(modelFile: SafeTensors.parse(lstm.modelFile().serialized()))
        #expect(loaded.isQuantized)
        #expect(try loaded.runInference(x, lengths: [5, 3]).y == q)
        #expect(loaded.modelFile().serialized() == lstm.modelFile().serialized())
    }

    @Test("whatever needs float weights refuses an int8 model: an ensemble of int8 tokenizers")
    func ensembleOfInt8Refused() throws {
        let (a, b) = (try Tokenizer.load(from: Self.golden + "/tokenizer.safetensors"), try Tokenizer.load(from: Self.golden + "/tokenizer.safetensors"))
        try b.quantize()
        do { _ = try Tokenizer.ensemble([a, b]); Issue.record("no error") } catch let e as LSTMKitError {
            #expect(e.message.contains("tokenizer 2 is int8-quantized"), "\(e.message)")
        }
    }
}
