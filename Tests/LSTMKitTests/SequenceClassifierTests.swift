import Testing
@testable import LSTMKit

@Suite("Sequence classifier")
struct SequenceClassifierTests {
    /// Ragged 2-channel sequences of classes "up" (a rising channel 0) and "down".
    func toy(_ n: Int, seed: UInt64) throws -> (Sequences, [String]) {
        var rng = SeededRandom(seed: seed)
        var seqs: [[Float]] = [], labels: [String] = []
        for i in 0..<n {
            let up = i % 2 == 0, t = 5 + Int(rng.next() % 8)
            seqs.append((0..<t).flatMap { s in [Float(up ? s : t - s) * 0.5 + rng.uniform(-0.4, 0.4), rng.uniform(-1, 1)] })
            labels.append(up ? "up" : "down")
        }
        return (try Sequences(sequences: seqs, channels: 2), labels)
    }

    /// Two members (one for the gradient checks: `members[0]`).
    func tiny(_ pooling: SequencePoolingKind, layerNorm: Bool = true, mask: Bool = false, patch: Int = 1) throws -> SequenceClassifier {
        var c = SequenceClassifierConfig()
        (c.hiddenSize, c.numLayers, c.attentionSize, c.pooling, c.layerNorm, c.dropout) = (3, 2, 3, pooling, layerNorm, 0)
        // Heads of the outputs' 6; files record them for self_attention only.
        if pooling == .selfAttention { c.attentionHeads = 2 }
        (c.patchLength, c.members, c.convFilters) = (patch, 2, [])   // the branch's own checks: TemporalConvTests
        c.missing = mask ? .mask : .refuse
        let (x, _) = try toy(6, seed: 2)
        let scalers = [ChannelScaler(fittedOn: x, maskMissing: mask), ChannelScaler(fittedOn: x.subset([0, 1]), maskMissing: mask)]
        return try SequenceClassifier(config: c, channels: 2, labels: ["down", "up", "z"], scalers: scalers)
    }

    @Test("every gradient of a training step matches finite differences (patches of 2 steps with mean pooling)",
          arguments: [SequencePoolingKind.attention, .mean, .last, .selfAttention])
    func gradients(pooling: SequencePoolingKind) throws {
        let model = try tiny(pooling, patch: pooling == .mean ? 2 : 1).members[0]
        let (x, _) = try toy(3, seed: 5)
        let targets: [Int32] = [0, 2, 1]
        model.zeroGrad()
        _ = try model.trainStep(x, [0, 1, 2], targets: targets)
        let analytic = model.parameters.map(\.grad)
        func loss() -> Double {
            let l = try! model.trainStep(x, [0, 1, 2], targets: targets)
            model.zeroGrad()
            return Double(l)
        }
        for (p, g) in zip(model.parameters, analytic) {
            let saved = p.value
            let numeric = numericGradient(saved, h: 4e-3) { v in p.value = v; defer { p.value = saved }; return loss() }
            expectClose(g, numeric, tol: pooling == .selfAttention ? 1e-2 : 5e-3, floor: 1e-2, "d\(p.name) (\(pooling))")
        }
    }

    @Test("training learns a separable task; defaults hold out a stratified dev set")
    func learns() throws {
        let (x, y) = try toy(60, seed: 1)
        var c = SequenceClassifierConfig()
        c.hiddenSize = 8
        var o = SequenceClassifierTrainingOptions()
        (o.epochs, o.threads) = (30, 1)
        let trainer = try SequenceClassifierTrainer(train: x, labels: y, config: c, options: o)
        let task = trainer.tasks[0]
        #expect(trainer.tasks.count == 3 && task.dev.count == 12 && task.train.count == 48 && trainer.classifier.patch == 1)
        #expect(Set(task.devLabels) == [0, 1] && Set(trainer.tasks[1].dev.values) != Set(task.dev.values))
        try trainer.run { _ in }
        let (tx, ty) = try toy(40, seed: 9)
        #expect(try trainer.classifier.evaluate(tx, labels: ty).accuracy >= 0.95)
    }

    @Test("save → load is exact: config, scaler, predictions, per-step attention (patches of 3 with masking)",
          arguments: [false, true], [SequencePoolingKind.attention, .selfAttention])
    func roundTrip(mask: Bool, pooling: SequencePoolingKind) throws {
        let model = try tiny(pooling, mask: mask, patch: mask ? 3 : 1)
        model.members[1].scaler.mean.value = [0.5, -1]
        let path = temporaryPath("seqclf-\(mask)-\(pooling).safetensors")
        try model.save(to: path)
        let loaded = try SequenceClassifier.load(from: path)
        #expect(loaded.config == model.config && loaded.labels == model.labels)
        #expect(loaded.modelFile() == model.modelFile())
        let x = try Sequences(sequences: [[1, 2, 3, mask ? .nan : 4], [5, 6]], channels: 2, missing: mask ? .mask : .refuse)
        let (a, b) = (try model.predictWithAttention(x), try loaded.predictWithAttention(x))
        #expect(a.probabilities == b.probabilities && a.attention! == b.attention!)
        #expect(a.attention![1].count == 1 && abs(a.attention![0].reduce(0, +) - 1) < 1e-5 && a.attention![0].count == 2)
    }

    @Test("bad input: wrong channels, NaN without masking, a tampered file")
    func errors() throws {
        let model = try tiny(.mean)
        #expect(throws: LSTMKitError.self) { try model.predict(try Sequences(sequences: [[1, 2, 3]], channels: 3)) }
        let nan = try Sequences(sequences: [[1, 2], [3, .nan]], channels: 2, missing: .mask)
        do {
            _ = try model.predict(nan)
            Issue.record("NaN was accepted")
        } catch let e as LSTMKitError {
            #expect(e.message.contains("sequence 1, step 0, channel 1 is NaN"))
        }
        #expect(try tiny(.mean, mask: true).predict(nan).count == 2)
        var file = model.modelFile()
        file.metadata.removeAll { $0.0 == "channels" }
        file.metadata.append(("channels", "5"))
        #expect(throws: LSTMKitError.self) { try SequenceClassifier(modelFile: file) }
        var bad = model.modelFile()
        bad.tensors = bad.tensors.map { t in
            var t = t
            if t.name == "member1.scaler.std" { t.values[0] = 0 }
            return t
        }
        #expect(throws: LSTMKitError.self) { try SequenceClassifier(modelFile: bad) }
        let (x, y) = try toy(4, seed: 1)
        #expect(throws: LSTMKitError.self) {
            try SequenceClassifierTrainer(train: x, labels: y, dev: (try Sequences(sequences: [[1]], channels: 1), ["up"]),
                                          config: .init(), options: .init())
        }
        #expect(throws: LSTMKitError.self) {
            try SequenceClassifierTrainer(train: x, labels: ["a", "a", "a", "a"], config: .init(), options: .init())
        }
    }
}
