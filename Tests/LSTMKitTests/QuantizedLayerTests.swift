import Foundation
import Testing
@testable import LSTMKit

/// The int8-quantized layers (docs/QUANTIZATION.md, quantized in place) against their
/// float32 originals (the same layer built twice from one seed: a quantized layer keeps
/// no float copy).
@Suite("Int8-quantized layers")
struct QuantizedLayerTests {
    /// Random inputs in [-1, 1] of (B, T, D), as the C1/C2 benchmarks feed.
    static func inputs(_ b: Int, _ t: Int, _ d: Int, seed: UInt64) -> Tensor {
        var rng = SeededRandom(seed: seed)
        var x = [Float](repeating: 0, count: b * t * d)
        rng.fillUniform(&x, bound: 1)
        return Tensor(shape: [b, t, d], data: x)
    }

    static func maxAbsDifference(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.data, b.data).map { abs($0 - $1) }.max() ?? 0
    }

    /// The documented bound (docs/QUANTIZATION.md): outputs of a layer with PyTorch's
    /// initialisation on inputs in [-1, 1] within this of float32's.
    static let bound: Float = 0.015

    /// A layer of this cell and config, quantized in place.
    static func quantized(_ cell: RecurrentCell, _ config: RecurrentConfig) throws -> any RecurrentLayer {
        let q = try cell.make(config)
        try q.quantizeLayers()
        return q
    }

    @Test("LSTM and GRU: int8 outputs within the bound of float32 (C1's shape, and C2's with fewer steps)",
          arguments: [RecurrentCell.lstm, .gru])
    func closeToFloat(cell: RecurrentCell) throws {
        let shapes: [(config: RecurrentConfig, batch: Int, steps: Int)] = [
            (RecurrentConfig(inputSize: 128, hiddenSize: 256, seed: 1), 1, 50),
            (RecurrentConfig(inputSize: 128, hiddenSize: 256, numLayers: 2, bidirectional: true, seed: 2), 8, 20),
        ]
        for (config, batch, steps) in shapes {
            let layer = try cell.make(config)
            let q = try Self.quantized(cell, config)
            #expect(q.isQuantized && !layer.isQuantized && q.cell == cell)
            let x = Self.inputs(batch, steps, config.inputSize, seed: 7)
            var lengths = [Int](repeating: steps, count: batch)
            if batch > 2 { lengths[1] = steps / 2; lengths[batch - 1] = 3 }
            let float = layer.infer(sequences: x, lengths: lengths, initial: nil)
            let int8 = q.infer(sequences: x, lengths: lengths, initial: nil)
            let err = Self.maxAbsDifference(float.y, int8.y)
            let errState = Self.maxAbsDifference(float.state.h, int8.state.h)
            print("int8 \(cell) \(config.numLayers)x\(config.hiddenSize) B=\(batch) T=\(steps): max |y - y_f32| = \(err), final h \(errState)")
            #expect(err > 0 && err < Self.bound, "\(cell): \(err)")
            #expect(errState < Self.bound)
            // Padded steps stay zero, as in the float layer.
            if batch > 2 {
                let row = Array(int8.y.data[(1 * steps * config.outputSize)..<(2 * steps * config.outputSize)])
                #expect(row[(lengths[1] * config.outputSize)...].allSatisfy { $0 == 0 })
            }
        }
    }

    @Test("A row's result does not depend on the rest of the batch (inputs are quantized per row)")
    func rowsIndependent() throws {
        let q = try Self.quantized(.lstm, RecurrentConfig(inputSize: 12, hiddenSize: 16, bidirectional: true, seed: 3))
        let x = Self.inputs(3, 9, 12, seed: 4)
        let all = q.infer(sequences: x, lengths: [9, 5, 2], initial: nil)
        let one = q.infer(sequences: Tensor(shape: [1, 9, 12], data: Array(x.data[(9 * 12)..<(18 * 12)])), lengths: [5], initial: nil)
        #expect(Array(all.y.data[(9 * 32)..<(18 * 32)]) == one.y.data)
    }

    @Test("An initial state is carried like the float layer's (LSTM: h and c; GRU: h)",
          arguments: [RecurrentCell.lstm, .gru])
    func initialState(cell: RecurrentCell) throws {
        let q = try Self.quantized(cell, RecurrentConfig(inputSize: 6, hiddenSize: 8, numLayers: 2, seed: 5))
        let x = Self.inputs(2, 10, 6, seed: 6)
        let whole = q.infer(sequences: x, lengths: [10, 10], initial: nil)
        func half(_ from: Int) -> Tensor {
            Tensor(shape: [2, 5, 6], data: (0..<2).flatMap { b in x.data[((b * 10 + from) * 6)..<((b * 10 + from + 5) * 6)] })
        }
        let first = q.infer(sequences: half(0), lengths: [5, 5], initial: nil)
        let second = q.infer(sequences: half(5), lengths: [5, 5], initial: first.state)
        #expect(second.state == whole.state)
    }

    /// Loading the bundled model takes minutes in a debug build: run with
    /// LSTMKIT_TRAINED_MODEL_TESTS=1 (docs/QUANTIZATION.md).
    @Test("A trained model: the bundled segmenter's recurrent layers, int8 against float32 on the fixture's test sentences",
          .enabled(if: ProcessInfo.processInfo.environment["LSTMKIT_TRAINED_MODEL_TESTS"] != nil))
    func trainedSegmenter() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let tokenizer = try Tokenizer.load(from: root.appendingPathComponent("models/tokenizer-pku-large.safetensors").path)
        let lines = try String(contentsOfFile: root.appendingPathComponent("Tests/Fixtures/cws/test.txt").path, encoding: .utf8)
            .split(separator: "\n").prefix(12).map { $0.split(separator: " ").joined() }
        let pieces = lines.map { tokenizer.vocabulary.encode($0.map(CharacterVocabulary.normalize)) }
        let batch = SegmenterNetwork.Batch(pieces, featureCount: tokenizer.vocabulary.featureCount)
        var (worstY, worstScore, changed, total) = (Float(0), Float(0), 0, 0)
        for network in tokenizer.networks {
            let x = network.embed(batch)
            let float = network.recurrent.infer(sequences: x, lengths: batch.lengths)
            try network.recurrent.quantizeLayers()
            let int8 = network.recurrent.infer(sequences: x, lengths: batch.lengths)
            worstY = max(worstY, Self.maxAbsDifference(float.y, int8.y))
            let (sf, sq) = (network.output.forward(float.y), network.output.forward(int8.y))
            worstScore = max(worstScore, Self.maxAbsDifference(sf, sq))
            // Each real character's best tag, float32 against int8.
            for (b, n) in batch.lengths.enumerated() {
                for t in 0..<n {
                    let row = (b * batch.steps + t) * 4
                    let best = { (s: Tensor) in (0..<4).max { s.data[row + $0] < s.data[row + $1] }! }
                    total += 1
                    if best(sf) != best(sq) { changed += 1 }
                }
            }
        }
        print("int8 bundled segmenter (\(tokenizer.networks.count) networks, \(total / tokenizer.networks.count) characters): max |y - y_f32| = \(worstY), max |score - score_f32| = \(worstScore), best tag changed at \(changed) of \(total)")
        #expect(worstY < 0.1 && Double(changed) / Double(total) < 0.01)
    }

    @Test("No float copy: the float weights are freed, the int8 ones take a byte each (values and gradient empty)")
    func noFloatCopy() throws {
        let lstm = try LSTM(RecurrentConfig(inputSize: 5, hiddenSize: 6, numLayers: 2, bidirectional: true, seed: 1))
        try lstm.quantize()
        #expect((lstm.weightIH + lstm.weightHH).allSatisfy { $0.value.isEmpty && $0.grad.isEmpty })
        let int8 = lstm.parameters.filter { $0.fileType == .i8 }
        #expect(int8.count == 8 && int8.allSatisfy { $0.value.isEmpty && $0.grad.isEmpty && $0.int8Value?.count == $0.count })
        var rng = SeededRandom(seed: 2)
        let linear = Linear(4, 3, rng: &rng)
        var same = rng
        let table = Embedding(7, 3, rng: &rng), float = Embedding(7, 3, rng: &same)
        try linear.quantizeLayers()
        try table.quantizeLayers()
        #expect(linear.weight.value.isEmpty && table.weight.value.isEmpty)
        // An int8 table's lookups are its rows dequantized (explicitly: `dequantized`).
        let q = try QuantizedWeight(name: "weight", quantizing: float.weight).dequantized
        #expect(table.forward([6, 0], shape: [2]).data == Array(q[18..<21] + q[0..<3]))
    }

    @Test("Values set by hand (as a file or lk_lstm_set_param sets them): outside int8, or a scale of 0, NaN or below, refused")
    func valuesSetByHand() throws {
        let q = try Self.quantized(.lstm, RecurrentConfig(inputSize: 3, hiddenSize: 4, seed: 1))
        let x = Self.inputs(1, 2, 3, seed: 1)
        let before = q.infer(sequences: x, lengths: [2])
        let values = try #require(q.parameter(named: "weight_ih_l0")), scales = try #require(q.parameter(named: "weight_ih_l0_scale"))
        for bad: Float in [128, -129, 0.5, .nan, .infinity] {
            var v = values.fileValues
            v[1] = bad
            #expect(throws: LSTMKitError.self) { try values.assign(v) }
        }
        for bad: Float in [0, -1, .nan, .infinity] {
            var s = scales.value
            s[2] = bad
            #expect(throws: LSTMKitError.self) { try scales.assign(s) }
        }
        #expect(q.infer(sequences: x, lengths: [2]) == before)
        // Valid values are taken (and repacked).
        var v = values.fileValues
        (v[0], v[1], v[2]) = (127, 0, -128)
        try values.assign(v)
        #expect(Array(values.int8Value![0..<3]) == [127, 0, -128])
        #expect(q.infer(sequences: x, lengths: [2]).y != before.y)
    }

    @Test("Quantizing a quantized layer is an error")
    func twice() throws {
        let q = try Self.quantized(.gru, RecurrentConfig(inputSize: 3, hiddenSize: 4, seed: 1))
        do { try q.quantizeLayers(); Issue.record("no error") } catch let e as LSTMKitError {
            #expect(e.message.contains("already int8-quantized"))
        }
        var rng = SeededRandom(seed: 1)
        let linear = Linear(4, 3, rng: &rng)
        try linear.quantizeLayers()
        #expect(throws: LSTMKitError.self) { try linear.quantizeLayers() }
        #expect(throws: LSTMKitError.self) { try linear.quantizeWeights() }
    }

    @Test("Linear: int8 within the kernel's bound of float32, with and without bias")
    func linear() throws {
        var rng = SeededRandom(seed: 8)
        for bias in [true, false] {
            var same = rng
            let l = Linear(70, 19, bias: bias, rng: &rng)
            let q = Linear(70, 19, bias: bias, rng: &same)
            try q.quantizeLayers()
            let x = Self.inputs(5, 3, 70, seed: 9)
            let err = Self.maxAbsDifference(l.forward(x), q.forward(x))
            #expect(err > 0 && err < 0.05, "\(err)")
            #expect(q.forward(x).shape == [5, 3, 19])
        }
    }

    @Test("Files: int8 tensors (I8) and F32 scales, about 4x smaller; save -> load gives the same bits",
          arguments: [RecurrentCell.lstm, .gru])
    func files(cell: RecurrentCell) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lk-int8-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = RecurrentConfig(inputSize: 64, hiddenSize: 96, numLayers: 2, bidirectional: true, seed: 4)
        let layer = try cell.make(config), q = try Self.quantized(cell, config)
        let (floatPath, intPath) = (dir + "/f.safetensors", dir + "/q.safetensors")
        try (layer as! any RecurrentModelFile).save(to: floatPath)
        try (q as! any RecurrentModelFile).save(to: intPath)
        let sizes = try [floatPath, intPath].map { try FileManager.default.attributesOfItem(atPath: $0)[.size] as! Int }
        #expect(Double(sizes[0]) / Double(sizes[1]) > 3.5, "\(sizes)")
        let file = try SafeTensors.read(from: intPath)
        #expect(file.metadata("quantization") == "int8" && file.metadata("kind") == cell.rawValue)
        #expect(file.tensor("weight_hh_l1_reverse")?.dtype == .i8 && file.tensor("weight_hh_l1_reverse_scale")?.dtype == .f32)
        let loaded = try RecurrentLayerFile.load(from: intPath)
        let x = Self.inputs(3, 7, 64, seed: 2)
        #expect(loaded.isQuantized && loaded.cell == cell)
        #expect(loaded.infer(sequences: x, lengths: [7, 7, 7]).y == q.infer(sequences: x, lengths: [7, 7, 7]).y)
        #expect((loaded as! any RecurrentModelFile).modelFile().serialized() == file.serialized())
        // The generic loader gives each file's layer; the float layer's own load reads its
        // int8 file in int8 form (quantized in place), another cell's refuses it.
        #expect(try !RecurrentLayerFile.load(from: floatPath).isQuantized)
        let own: any RecurrentLayer = cell == .lstm ? try LSTM.load(from: intPath) : try GRU.load(from: intPath)
        #expect(own.isQuantized && own.infer(sequences: x, lengths: [7, 7, 7]).y == q.infer(sequences: x, lengths: [7, 7, 7]).y)
        do { _ = cell == .lstm ? try GRU.load(from: intPath) as Module : try LSTM.load(from: intPath); Issue.record("loaded") }
        catch let e as LSTMKitError {
            #expect(e.message.contains("kind \"\(cell.rawValue)\""), "\(e.message)")
        }
    }

    @Test("A file with a NaN, zero or negative scale, or F32 weights where I8 belongs, is refused")
    func badScales() throws {
        let q = try LSTM(RecurrentConfig(inputSize: 5, hiddenSize: 6, seed: 1))
        try q.quantize()
        for (tensor, bad) in [("weight_hh_l0_scale", Float.nan), ("weight_ih_l0_scale", 0), ("weight_ih_l0_scale", -1),
                              ("weight_ih_l0_scale", .infinity)] {
            var file = q.modelFile()
            let i = try #require(file.tensors.firstIndex { $0.name == tensor })
            file.tensors[i].values[2] = bad
            let parsed = try SafeTensors.parse(file.serialized())
            do { _ = try LSTM(modelFile: parsed); Issue.record("accepted \(bad)") } catch let e as LSTMKitError {
                guard case .invalidFormat = e else { Issue.record("\(e)"); continue }
                #expect(e.message.contains(tensor), "\(e.message)")
            }
        }
        var file = q.modelFile()
        let i = try #require(file.tensors.firstIndex { $0.name == "weight_ih_l0" })
        file.tensors[i].dtype = .f32
        #expect(throws: LSTMKitError.self) { try LSTM(modelFile: SafeTensors.parse(file.serialized())) }
        file = q.modelFile()
        file.metadata = file.metadata.map { $0.0 == "quantization" ? ($0.0, "int4") : $0 }
        #expect(throws: LSTMKitError.self) { try LSTM(modelFile: SafeTensors.parse(file.serialized())) }
    }
}
