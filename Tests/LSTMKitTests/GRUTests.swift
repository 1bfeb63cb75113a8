import Foundation
import Testing
@testable import LSTMKit

/// A deliberately plain GRU written from PyTorch's nn.GRU equations, in Double, one
/// scalar at a time: no BLAS, no shared code with the engine.
struct ReferenceGRU {
    let inputSize: Int, hiddenSize: Int, numLayers: Int, directions: Int
    /// weights[name] in PyTorch layout, as Double.
    var weights: [String: [Double]]

    func sigmoid(_ x: Double) -> Double { 1 / (1 + _exp(-x)) }

    /// x (B, T, D) flattened; returns y (B, T, K*H) and h_n (L*K, B, H).
    func forward(x: [Double], batch: Int, steps: Int, lengths: [Int], h0: [Double]?) -> (y: [Double], h: [Double]) {
        let hs = hiddenSize, k = directions
        var input = x
        var inSize = inputSize
        var hN = [Double](repeating: 0, count: numLayers * k * batch * hs)
        var y = [Double]()
        for layer in 0..<numLayers {
            y = [Double](repeating: 0, count: batch * steps * k * hs)
            for d in 0..<k {
                let suffix = "_l\(layer)" + (d == 1 ? "_reverse" : "")
                let wih = weights["weight_ih" + suffix]!, whh = weights["weight_hh" + suffix]!
                let bih = weights["bias_ih" + suffix]!, bhh = weights["bias_hh" + suffix]!
                let stateBase = (layer * k + d) * batch * hs
                for b in 0..<batch {
                    var h = (0..<hs).map { h0?[stateBase + b * hs + $0] ?? 0 }
                    let order = d == 0 ? Array(0..<lengths[b]) : Array((0..<lengths[b]).reversed())
                    for t in order {
                        var gx = [Double](repeating: 0, count: 3 * hs), gh = gx
                        for r in 0..<(3 * hs) {
                            gx[r] = bih[r]
                            for j in 0..<inSize { gx[r] += wih[r * inSize + j] * input[(b * steps + t) * inSize + j] }
                            gh[r] = bhh[r]
                            for j in 0..<hs { gh[r] += whh[r * hs + j] * h[j] }
                        }
                        for j in 0..<hs {
                            let r = sigmoid(gx[j] + gh[j]), z = sigmoid(gx[hs + j] + gh[hs + j])
                            let n = _tanh(gx[2 * hs + j] + r * gh[2 * hs + j])
                            h[j] = (1 - z) * n + z * h[j]
                            y[(b * steps + t) * k * hs + d * hs + j] = h[j]
                        }
                    }
                    for j in 0..<hs { hN[stateBase + b * hs + j] = h[j] }
                }
            }
            input = y
            inSize = k * hs
        }
        return (y, hN)
    }
}

/// The LSTM's cases (`lstmCases`), run on a GRU.
func makeGRUCase(_ c: LSTMCase) throws -> (GRU, ReferenceGRU, Tensor, Tensor?) {
    let gru = try GRU(c.config)
    var weights: [String: [Double]] = [:]
    for (i, p) in gru.parameters.enumerated() {
        try p.assign(randomArray(p.count, seed: 200 + UInt64(i), scale: 0.6))
        weights[p.name] = p.value.map(Double.init)
    }
    let ref = ReferenceGRU(inputSize: c.inputSize, hiddenSize: c.hiddenSize, numLayers: c.numLayers,
                           directions: c.bidirectional ? 2 : 1, weights: weights)
    let x = randomTensor([c.batch, c.steps, c.inputSize], seed: 1)
    let h0 = c.initialState ? randomTensor([c.numLayers * (c.bidirectional ? 2 : 1), c.batch, c.hiddenSize], seed: 2, scale: 0.5) : nil
    return (gru, ref, x, h0)
}

@Suite("GRU against the plain reference")
struct GRUReferenceTests {
    @Test("forward matches; padded steps output 0", arguments: lstmCases)
    func forwardMatches(_ c: LSTMCase) throws {
        let (gru, ref, x, h0) = try makeGRUCase(c)
        let out = try gru.run(x, lengths: c.lengths, initial: h0)
        let lengths = c.lengths.map { $0.map(Int.init) } ?? Array(repeating: c.steps, count: c.batch)
        let expected = ref.forward(x: x.data.map(Double.init), batch: c.batch, steps: c.steps, lengths: lengths,
                                   h0: h0?.data.map(Double.init))
        // h' = n + z (h - n) cancels: near-zero outputs carry float32 rounding of the
        // O(1) terms, hence the absolute floor (1e-7 absolute below 0.01).
        expectClose(out.y.data, expected.y, tol: 1e-5, floor: 0.1, "y \(c)")
        expectClose(out.final.data, expected.h, tol: 1e-5, floor: 0.1, "h_n \(c)")
        let k = c.bidirectional ? 2 : 1
        for b in 0..<c.batch {
            for t in lengths[b]..<c.steps {
                for j in 0..<(k * c.hiddenSize) { #expect(out.y.data[(b * c.steps + t) * k * c.hiddenSize + j] == 0) }
            }
        }
    }

    @Test("inference-only pass equals the training-capable forward pass, sorted or not", arguments: lstmCases)
    func inferenceMatches(_ c: LSTMCase) throws {
        let (gru, _, x, h0) = try makeGRUCase(c)
        // Within float32 rounding (1e-6 absolute below 0.1: h' = n + z (h - n) cancels):
        // a batch's inference may take the packed GEMM.
        let full = try gru.run(x, lengths: c.lengths, initial: h0)
        let fast = try gru.runInference(x, lengths: c.lengths, initial: h0)
        expectClose(fast.y.data, full.y.data, tol: 1e-5, floor: 0.1, "y \(c)")
        expectClose(fast.final.data, full.final.data, tol: 1e-5, floor: 0.1, "h_n \(c)")
        // Through the protocol (no h0), as models call it.
        let lengths = c.lengths.map { $0.map(Int.init) } ?? Array(repeating: c.steps, count: c.batch)
        let layer: any RecurrentLayer = gru
        let viaProtocol = layer.infer(sequences: x, lengths: lengths)
        expectClose(viaProtocol.y.data, gru.forward(sequences: x, lengths: lengths, training: false).y.data,
                    tol: 1e-5, floor: 0.1, "protocol y \(c)")
        // Lengths sorted longest first take the packed path (finished rows skipped).
        if let lens = c.lengths {
            let order = lens.indices.sorted { lens[$0] > lens[$1] }
            let (b, t, d) = (c.batch, c.steps, c.inputSize)
            var xs = [Float]()
            for i in order { xs += x.data[(i * t * d)..<((i + 1) * t * d)] }
            let sorted = try gru.runInference(Tensor(shape: [b, t, d], data: xs), lengths: order.map { lens[$0] })
            let unsorted = try gru.run(x, lengths: lens)
            let width = t * c.config.outputSize
            for (row, i) in order.enumerated() {
                expectClose(Array(sorted.y.data[(row * width)..<((row + 1) * width)]), Array(unsorted.y.data[(i * width)..<((i + 1) * width)]),
                            tol: 1e-5, floor: 0.1, "sorted row \(row) \(c)")
            }
        }
    }

    @Test("every gradient (weights, x, h0) matches finite differences of the reference", arguments: lstmCases)
    func gradientsMatch(_ c: LSTMCase) throws {
        let (gru, ref, x, h0) = try makeGRUCase(c)
        let lengths = c.lengths.map { $0.map(Int.init) } ?? Array(repeating: c.steps, count: c.batch)
        let k = c.bidirectional ? 2 : 1
        let stateCount = c.numLayers * k * c.batch * c.hiddenSize
        // loss = <y, wy> + <h_n, wh>
        let wy = randomArray(c.batch * c.steps * k * c.hiddenSize, seed: 11)
        let wh = randomArray(stateCount, seed: 12)
        let out = try gru.run(x, lengths: c.lengths, initial: h0)
        let grads = gru.backward(out.cache, outputGrad: Tensor(shape: out.y.shape, data: wy),
                                 finalGrad: Tensor(shape: [c.numLayers * k, c.batch, c.hiddenSize], data: wh))

        let xD = x.data.map(Double.init)
        let h0D = h0?.data.map(Double.init) ?? [Double](repeating: 0, count: stateCount)
        func loss(_ r: ReferenceGRU, _ x: [Double], _ h0: [Double]) -> Double {
            let o = r.forward(x: x, batch: c.batch, steps: c.steps, lengths: lengths, h0: h0)
            var s = 0.0
            for i in 0..<o.y.count { s += o.y[i] * Double(wy[i]) }
            for i in 0..<stateCount { s += o.h[i] * Double(wh[i]) }
            return s
        }
        func fd(_ v: [Double], _ f: ([Double]) -> Double) -> [Double] {
            var v = v
            let h = 1e-5
            return (0..<v.count).map { i in
                let old = v[i]
                v[i] = old + h; let up = f(v)
                v[i] = old - h; let down = f(v)
                v[i] = old
                return (up - down) / (2 * h)
            }
        }
        for p in gru.parameters {
            let numeric = fd(ref.weights[p.name]!) { w in
                var r = ref
                r.weights[p.name] = w
                return loss(r, xD, h0D)
            }
            expectClose(p.grad, numeric, tol: 1e-4, "d\(p.name) \(c)")
        }
        expectClose(grads.dx.data, fd(xD) { loss(ref, $0, h0D) }, tol: 1e-4, "dx \(c)")
        expectClose(grads.dInitial.data, fd(h0D) { loss(ref, xD, $0) }, tol: 1e-4, "dh0 \(c)")
        for b in 0..<c.batch {
            for t in lengths[b]..<c.steps {
                for j in 0..<c.inputSize { #expect(grads.dx.data[(b * c.steps + t) * c.inputSize + j] == 0) }
            }
        }
    }
}

@Suite("GRU behaviour")
struct GRUBehaviourTests {
    @Test("PyTorch's names and shapes, the cell factory, U(-1/sqrt(H), 1/sqrt(H)) from the seed")
    func layout() throws {
        let config = RecurrentConfig(inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, seed: 9)
        let layer = try RecurrentCell.gru.make(config)
        #expect(layer is GRU && layer.cell == .gru && layer.config == config)
        #expect(RecurrentCell(rawValue: "gru") == .gru)
        let names = layer.namedParameters.map(\.name)
        #expect(Array(names.prefix(8)) == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                          "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse"])
        #expect(layer.parameters.map(\.shape)[4...7] == [[12, 3], [12, 4], [12], [12]])
        #expect(layer.parameters[8].shape == [12, 8])
        #expect(layer.parameters.allSatisfy { $0.value.allSatisfy { abs($0) <= 0.5 } })
        #expect(try GRU(config).parameters.map(\.value) == layer.parameters.map(\.value))
    }

    @Test("state carried across calls equals one long call (truncated BPTT)")
    func carriedState() throws {
        let gru = try GRU(RecurrentConfig(inputSize: 3, hiddenSize: 5, numLayers: 2, seed: 3))
        let x = randomTensor([2, 8, 3], seed: 4)
        let whole = try gru.run(x)
        func slice(_ t0: Int, _ t1: Int) -> Tensor {
            var d = [Float]()
            for b in 0..<2 { d += x.data[((b * 8 + t0) * 3)..<((b * 8 + t1) * 3)] }
            return Tensor(shape: [2, t1 - t0, 3], data: d)
        }
        let first = try gru.run(slice(0, 5))
        let second = try gru.runInference(slice(5, 8), initial: first.final)
        expectClose(second.final.data, whole.final.data, tol: 1e-6, "h_n")
    }

    @Test("bad inputs are refused with a message")
    func badInputs() throws {
        let gru = try GRU(RecurrentConfig(inputSize: 2, hiddenSize: 3, bidirectional: true))
        let x = randomTensor([2, 4, 2], seed: 1)
        #expect(throws: LSTMKitError.self) { try gru.run(randomTensor([2, 4, 3], seed: 1)) }
        #expect(throws: LSTMKitError.self) { try gru.run(x, lengths: [4, 0]) }
        #expect(throws: LSTMKitError.self) { try gru.run(x, lengths: [5, 1]) }
        #expect(throws: LSTMKitError.self) { try gru.run(x, lengths: [4]) }
        #expect(throws: LSTMKitError.self) { try gru.runInference(x, initial: Tensor(zeros: [1, 2, 3])) }
        #expect(throws: LSTMKitError.self) { try gru.runInference(Tensor(shape: [1, 1, 2], data: [0, .nan])) }
        #expect(throws: LSTMKitError.self) { try GRU(RecurrentConfig(inputSize: 0, hiddenSize: 3)) }
    }

    @Test("the raw GRU's model file: kind gru, saves and loads exactly, not read as an LSTM")
    func modelFile() throws {
        let gru = try GRU(RecurrentConfig(inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, dropout: 0.25, seed: 5))
        let path = temporaryPath("gru.safetensors")
        defer { unlink(path) }
        try gru.save(to: path)
        let loaded = try GRU.load(from: path)
        #expect(loaded.config == gru.config)
        #expect(loaded.namedParameters.map(\.name) == gru.namedParameters.map(\.name))
        #expect(loaded.parameters.map(\.value) == gru.parameters.map(\.value))
        let x = randomTensor([2, 5, 3], seed: 8)
        #expect(try loaded.runInference(x, lengths: [5, 2]).y == gru.runInference(x, lengths: [5, 2]).y)
        do {
            _ = try LSTM.load(from: path)
            Issue.record("a GRU file loaded as an LSTM")
        } catch let LSTMKitError.invalidFormat(message) {
            #expect(message.contains("\"gru\"") && message.contains("\"lstm\""), "\(message)")
        }
    }
}

@Suite("A task model with cell gru")
struct GRUInModelsTests {
    @Test("the text classifier with cell gru: gradients by finite differences, trains, saves and loads identically")
    func textClassifier() throws {
        // Gradients of a whole training step (GRU inside a model, two layers, ragged).
        var c = TextClassifierConfig()
        c.embeddingDim = 4; c.bigramDim = 0; c.hiddenSize = 3; c.numLayers = 2; c.attentionSize = 3
        c.embeddingDropout = 0; c.outputDropout = 0; c.ngramOrder = 0; c.cell = .gru
        let tiny = try TextClassifier(config: c, vocabulary: TextVocabulary(mode: .words, tokens: ["a", "b", "c", "d"]),
                                      labels: ["x", "y"])
        #expect(tiny.children.contains { $0.name == "gru" && $0.module is GRU })
        let batch = TextClassifier.Batch([.init(ids: [2, 3, 4, 5, 1], bigramIDs: [0, 0, 0, 0, 0]), .init(ids: [3, 3], bigramIDs: [0, 0]),
                                          .init(ids: [5, 2, 4], bigramIDs: [0, 0, 0])])
        let targets: [Int32] = [0, 1, 1]
        tiny.zeroGrad()
        _ = try tiny.trainStep(batch, targets: targets, classWeights: [1, 1])
        let analytic = tiny.parameters.map(\.grad)
        for (p, g) in zip(tiny.parameters, analytic) {
            let saved = p.value
            var numeric = numericGradient(saved) { v in
                p.value = v; defer { p.value = saved }
                let l = try! tiny.trainStep(batch, targets: targets, classWeights: [1, 1])
                tiny.zeroGrad()
                return Double(l)
            }
            if p === tiny.embedding.weight { for j in 0..<4 { numeric[j] = 0 } }  // padding rows
            expectClose(g, numeric, tol: 5e-3, floor: 1e-2, "d\(p.name)")
        }

        // Training on the English fixture, then save → load → identical predictions.
        let rows = try String(contentsOfFile: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Fixtures/text/en.tsv").path, encoding: .utf8)
            .split(separator: "\n").compactMap { line -> (String, String)? in
                let f = line.split(separator: "\t", maxSplits: 1)
                return f.count == 2 ? (String(f[1]), String(f[0])) : nil
            }
        let train = Array(rows.prefix(rows.count * 3 / 4)), dev = Array(rows.suffix(from: rows.count * 3 / 4))
        var config = TextClassifierConfig()
        config.embeddingDim = 8; config.hiddenSize = 8; config.attentionSize = 4; config.cell = .gru
        var options = TextClassifierTrainingOptions()
        options.epochs = 2; options.minTokenCount = 1; options.threads = 1; options.batchSize = 8
        let trainer = try TextClassifierTrainer(train: train, dev: dev, config: config, options: options)
        let before = trainer.classifier.parameters.map(\.value)
        _ = try trainer.run { _ in }
        let model = trainer.classifier
        #expect(model.parameters.map(\.value) != before)
        let path = temporaryPath("textcls-gru.safetensors")
        defer { unlink(path) }
        try model.save(to: path)
        #expect(try SafeTensors.read(from: path).metadata("cell") == "gru")
        #expect(try SafeTensors.read(from: path).tensors.contains { $0.name == "gru.weight_hh_l0" && $0.shape == [24, 8] })
        let loaded = try TextClassifier.load(from: path)
        #expect(loaded.config.cell == .gru)
        let texts = dev.map(\.0)
        #expect(loaded.predictProbabilities(texts) == model.predictProbabilities(texts))
    }
}
