import Testing
@testable import LSTMKit

@Suite("LSTM-FCN convolutional front")
struct TemporalConvTests {
    /// A padded batch (3, width, 2) of lengths 7, 3, 5: values past a length are `pad`.
    func batch(width: Int, pad: Float = 0) -> (Tensor, [Int]) {
        let lengths = [7, 3, 5], values = randomArray(3 * 7 * 2, seed: 31, scale: 2)
        var x = [Float](repeating: pad, count: 3 * width * 2)
        for (b, l) in lengths.enumerated() {
            for t in 0..<l { for c in 0..<2 { x[(b * width + t) * 2 + c] = values[(b * 7 + t) * 2 + c] } }
        }
        return (Tensor(shape: [3, width, 2], data: x), lengths)
    }

    func front() -> TemporalConvFront {
        var rng = SeededRandom(seed: 3)
        let f = TemporalConvFront(inputSize: 2, filters: [4, 3, 2], rng: &rng)
        smooth(f)
        return f
    }

    /// Norm weights away from 1 (so the checks see them) and shifts of about 3, which keep
    /// the normalised values (mostly within ±2.5) clear of the ReLU's kink: finite
    /// differences across a kink measure nothing. (The fused ReLU's own backward is
    /// checked in SegmenterTests.)
    func smooth(_ f: TemporalConvFront) {
        for (k, block) in f.blocks.enumerated() {
            block.norm.weight.value = randomArray(block.norm.channels, seed: 40 + UInt64(k)).map { 1 + 0.3 * $0 }
            block.norm.bias.value = randomArray(block.norm.channels, seed: 50 + UInt64(k)).map { 3 + 0.5 * $0 }
        }
    }

    @Test("kernels 8, 5, 3 with 'same' length; every gradient matches finite differences (training mode)")
    func gradients() {
        let f = front(), (x, lengths) = batch(width: 7)
        #expect(f.blocks.map(\.conv.kernel.w) == [8, 5, 3] && f.outputSize == 2 && f.blocks.allSatisfy { $0.conv.bias == nil })
        let w = randomArray(3 * 2, seed: 17)
        func loss() -> Double { dot(f.forward(x, lengths: lengths, training: true).0.data, w) }
        f.zeroGrad()
        let (_, cache) = f.forward(x, lengths: lengths, training: true)
        f.backward(cache, outputGrad: Tensor(shape: [3, 2], data: w))
        for p in f.parameters {
            let saved = p.value
            // 1 %: float32 differences through three batch norms over 15 steps each are
            // that noisy at any step h (a wrong gradient is off by far more).
            let numeric = numericGradient(saved, h: 1e-2) { v in p.value = v; defer { p.value = saved }; return loss() }
            expectClose(p.grad, numeric, tol: 1e-2, floor: 1e-2, "d\(p.name)")
        }
    }

    @Test("padding never changes a sequence's result: wider batches, garbage past the lengths, a sequence alone")
    func paddingInvariance() {
        let f = front()
        let (x, lengths) = batch(width: 7)
        let (wide, _) = batch(width: 13, pad: 9)
        for training in [true, false] {
            let (a, b) = (f.forward(x, lengths: lengths, training: training).0, f.forward(wide, lengths: lengths, training: training).0)
            expectClose(a.data, b.data, tol: 1e-5, "training \(training): width 7 against 13 with garbage")
        }
        // Inference (running statistics) of each sequence alone equals its row in the batch.
        let all = f.forward(x, lengths: lengths, training: false).0
        for (b, l) in lengths.enumerated() {
            let alone = Tensor(shape: [1, l, 2], data: Array(x.data[(b * 7 * 2)..<(b * 7 * 2 + l * 2)]))
            expectClose(f.forward(alone, lengths: [l], training: false).0.data, Array(all.data[(b * 2)..<(b * 2 + 2)]),
                        tol: 1e-5, "sequence \(b) alone")
        }
        // The batch statistics are the valid steps' only: the packed (1, C, 1, 15) map.
        let norm = f.blocks[0].norm
        let (before, _) = (norm.runningMean.value, f.forward(x, lengths: lengths, training: true))
        let packed = TemporalConvFront.gather(f.blocks[0].conv.forward(
            TemporalConvFront.scatter(TemporalConvFront.gather(ChannelOps.channelsFirst(Tensor(shape: [3, 1, 7, 2], data: x.data)), lengths),
                                      lengths, width: 7)), lengths)
        #expect(packed.shape == [1, 4, 1, 15])
        let mean0 = packed.data[0..<15].reduce(0, +) / 15
        #expect(abs(norm.runningMean.value[0] - (0.9 * before[0] + 0.1 * mean0)) < 1e-5)
    }

    func tiny(filters: [Int]) throws -> SequenceClassifier {
        var c = SequenceClassifierConfig()
        (c.hiddenSize, c.numLayers, c.pooling, c.dropout, c.members, c.patchLength, c.convFilters) = (3, 1, .last, 0, 1, 2, filters)
        let x = try Sequences(sequences: [(0..<14).map { Float($0 % 5) * 0.3 }, (0..<6).map { Float($0) * -0.2 }, (0..<10).map { _ in 0.7 }],
                              channels: 2)
        return try SequenceClassifier(config: c, channels: 2, labels: ["a", "b", "c"], scalers: [ChannelScaler(fittedOn: x, maskMissing: false)])
    }

    @Test("a classifier with the front: every gradient of a training step (patches of 2) matches finite differences")
    func classifierGradients() throws {
        let model = try tiny(filters: [3, 2]).members[0]
        smooth(model.front!)
        let x = try Sequences(sequences: [(0..<18).map { Float($0 % 7) * 0.4 - 1 }, (0..<6).map { Float($0) * 0.3 }, (0..<10).map { Float($0 % 3) }],
                              channels: 2)
        let targets: [Int32] = [0, 2, 1]
        #expect(model.output.weight.shape == [3, 6 + 2])
        func loss() -> Double {
            let l = try! model.trainStep(x, [0, 1, 2], targets: targets)
            model.zeroGrad()
            return Double(l)
        }
        model.zeroGrad()
        _ = try model.trainStep(x, [0, 1, 2], targets: targets)
        let analytic = model.parameters.map(\.grad)
        for (p, g) in zip(model.parameters, analytic) {
            let saved = p.value
            let numeric = numericGradient(saved, h: 4e-3) { v in p.value = v; defer { p.value = saved }; return loss() }
            expectClose(g, numeric, tol: 5e-3, floor: 1e-2, "d\(p.name)")
        }
    }

    @Test("save → load is exact with the front (running statistics included); without it the file has no conv_filters")
    func roundTrip() throws {
        let model = try tiny(filters: [4, 3])
        for (k, b) in model.members[0].front!.blocks.enumerated() {
            b.norm.runningMean.value = randomArray(b.norm.channels, seed: 60 + UInt64(k))
            b.norm.runningVar.value = randomArray(b.norm.channels, seed: 70 + UInt64(k)).map { 1.2 + $0 }
        }
        let path = temporaryPath("seqclf-fcn.safetensors")
        try model.save(to: path)
        let loaded = try SequenceClassifier.load(from: path)
        #expect(loaded.config == model.config && loaded.config.convFilters == [4, 3])
        #expect(loaded.modelFile() == model.modelFile() && model.modelFile().metadata("conv_filters") == "4,3")
        #expect(model.modelFile().tensor("member0.fcn.1.norm.running_var")?.shape == [3])
        let x = try Sequences(sequences: [[1, 2, 3, 4, 0, 1], [5, 6]], channels: 2)
        #expect(try model.predictProbabilities(x) == loaded.predictProbabilities(x))
        #expect(try tiny(filters: []).modelFile().metadata("conv_filters") == nil)
        // A file whose conv_filters disagree with its tensors is refused.
        var file = model.modelFile()
        file.metadata = file.metadata.map { $0.0 == "conv_filters" ? ($0.0, "4,5") : $0 }
        #expect(throws: LSTMKitError.self) { try SequenceClassifier(modelFile: file) }
    }

    @Test("conv_filters by name: empty is off, a list of up to 3 sizes in [1, 1024]")
    func setting() throws {
        var c = SequenceClassifierConfig()
        #expect(c.convFilters == [32, 64, 32])
        let entry = SequenceClassifierConfig.hyperParameter("conv_filters")!
        try entry.set("128,256,128", in: &c)
        #expect(c.convFilters == [128, 256, 128] && entry.text(c) == "128,256,128")
        try entry.set("", in: &c)
        #expect(c.convFilters == [] && entry.text(c) == "")
        for bad in ["0", "1,2,3,4", "8,,8", "2048"] { #expect(throws: LSTMKitError.self) { try entry.set(bad, in: &c) } }
    }

    @Test("training learns with the front")
    func learns() throws {
        var rng = SeededRandom(seed: 4)
        var seqs: [[Float]] = [], labels: [String] = []
        for i in 0..<40 {
            let up = i % 2 == 0, t = 6 + Int(rng.next() % 10)
            seqs.append((0..<t).map { s in Float(up ? s : t - s) * 0.5 + rng.uniform(-0.4, 0.4) })
            labels.append(up ? "up" : "down")
        }
        var c = SequenceClassifierConfig()
        (c.hiddenSize, c.members, c.convFilters) = (4, 1, [8, 8])
        var o = SequenceClassifierTrainingOptions()
        (o.epochs, o.threads) = (25, 1)
        let trainer = try SequenceClassifierTrainer(train: try Sequences(sequences: seqs, channels: 1), labels: labels, config: c, options: o)
        let best = try trainer.run { _ in }
        #expect(best[0].classification.accuracy >= 0.85)
    }
}
