import Foundation
import Testing
@testable import LSTMKit

@Suite("Tokenizer distillation")
struct TokenizerDistillationTests {
    @Test("soft-target KL: value by the definition, gradient by finite differences, mask, sizes")
    func softTargetKL() throws {
        let student = randomTensor([5, 4], seed: 31, scale: 3)
        let teacher = randomArray(20, seed: 32).map { $0 * 4 }
        for temperature: Float in [0.5, 1, 2, 5] {
            for mask: [Float]? in [nil, [1, 0, 0.5, 1, 1]] {
                let scale: Float = 0.7
                let (loss, grad) = try Loss.softTargetKL(student: student, teacher: teacher, mask: mask,
                                                         temperature: temperature, scale: scale)
                var total = 0.0
                for r in 0..<5 {
                    func softmax(_ x: [Float]) -> [Double] {
                        let e = (0..<4).map { _exp(Double(x[r * 4 + $0]) / Double(temperature)) }
                        return e.map { $0 / e.reduce(0, +) }
                    }
                    let (ps, pt) = (softmax(student.data), softmax(teacher))
                    let kl = (0..<4).reduce(0.0) { $0 + pt[$1] * _log(pt[$1] / ps[$1]) }
                    total += Double(mask?[r] ?? 1) * kl
                }
                total *= Double(temperature * temperature * scale)
                #expect(abs(Double(loss) - total) < 1e-4 * max(1, total), "T \(temperature)")
                let numeric = numericGradient(student.data, h: 1e-2) {
                    Double(try! Loss.softTargetKL(student: Tensor(shape: [5, 4], data: $0), teacher: teacher, mask: mask,
                                                  temperature: temperature, scale: scale).loss)
                }
                expectClose(grad.data, numeric, tol: 3e-3, floor: 0.05, "dstudent T \(temperature)")  // float32 loss: ~1e-4 noise
                if mask != nil { #expect(Array(grad.data[4..<8]) == [0, 0, 0, 0]) }
            }
        }
        // The teacher's own scores: no loss, no gradient.
        let same = try Loss.softTargetKL(student: student, teacher: student.data, temperature: 2)
        #expect(abs(same.loss) < 1e-6 && same.grad.data.allSatisfy { abs($0) < 1e-6 })
        #expect(throws: LSTMKitError.self) { try Loss.softTargetKL(student: student, teacher: [1, 2], temperature: 1) }
        #expect(throws: LSTMKitError.self) { try Loss.softTargetKL(student: student, teacher: teacher, temperature: 0) }
        #expect(throws: LSTMKitError.self) { try Loss.softTargetKL(student: student, teacher: teacher, temperature: .nan) }
        #expect(throws: LSTMKitError.self) { try Loss.softTargetKL(student: student, teacher: teacher, mask: [1], temperature: 1) }
    }

    @Test("a training step with soft targets: the output layer's gradient by finite differences, unlabelled pieces skip the NLL")
    func trainStepGradient() throws {
        var config = SegmenterConfig()
        config.characterDim = 6; config.bigramDim = 3; config.hiddenSize = 5
        config.embeddingDropout = 0; config.outputDropout = 0
        let vocabulary = CharacterVocabulary.build(from: [["中国", "人民", "很", "好"], ["今天", "天气"]])
        let tokenizer = try Tokenizer(vocabulary: vocabulary, config: config)
        let network = tokenizer.network
        var pieces = [vocabulary.encode("中国人民很好".map(String.init)), vocabulary.encode("今天天气".map(String.init))]
        pieces[0].tags = [BMES.b, BMES.e, BMES.b, BMES.e, BMES.s, BMES.s]
        pieces[1].tags = [Int32](repeating: BMES.s, count: 4)   // unlabelled: filler tags
        let batch = SegmenterNetwork.Batch(pieces, featureCount: vocabulary.featureCount)
        let soft = SegmenterNetwork.SoftTargets(scores: randomArray(batch.size * batch.steps * 4, seed: 33).map { $0 * 3 },
                                                crfLengths: [6, 0], weights: [0.8, 0.5], temperature: 2)
        for p in network.parameters { p.zeroGrad() }
        _ = try network.trainStep(batch, softTargets: soft)
        let analytic = network.output.bias!.grad
        let numeric = numericGradient(network.output.bias!.value, h: 1e-2) { v in
            network.output.bias!.value = v
            return Double(try! network.trainStep(batch, softTargets: soft))
        }
        expectClose(analytic, numeric, tol: 3e-3, "doutput.bias")
        // Without the teacher's term the unlabelled piece adds nothing: its scores do not
        // move the loss.
        var none = soft
        none.weights = [0, 0]
        let before = try network.trainStep(batch, softTargets: none)
        var other = batch
        for t in 0..<4 { other.characters[batch.steps + t] = 1 }
        #expect(try network.trainStep(other, softTargets: none) == before)
        // A piece of weight 0 (the training split at distill_labelled_share 0): its
        // teacher scores do not move the loss.
        var unlabelledOnly = soft
        unlabelledOnly.weights = [0, 0.8]
        let reference = try network.trainStep(batch, softTargets: unlabelledOnly)
        for i in 0..<(6 * 4) { unlabelledOnly.scores[i] += 1 + Float(i % 3) }
        #expect(try network.trainStep(batch, softTargets: unlabelledOnly) == reference)
    }

    @Test("training with a teacher and unlabelled text: scores cached for every piece; weight 0 trains as without a teacher")
    func trainer() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lk-distill-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let teacherPath = directory + "/teacher.safetensors", textPath = directory + "/unlabelled.txt"
        try fixtureTokenizer.save(to: teacherPath)
        try "这家酒店的服务很好。房间也干净\n\n价格便宜，下次还来！\n".write(toFile: textPath, atomically: true, encoding: .utf8)
        var (config, options, train, dev) = try tinyTraining(maxBatches: 3)
        options.teacher = teacherPath
        options.unlabelled = textPath
        let distilled = try TokenizerTrainer(train: train, dev: dev, config: config, options: options)
        let d = try #require(distilled.distillation)
        #expect(d.scores.count == distilled.train.count)
        #expect(distilled.train.count - d.labelled == 3)   // three pieces: two sentences, then a line
        for (s, p) in zip(d.scores, distilled.train) { #expect(s.count == 4 * p.characters.count) }
        let lengths = [0, d.labelled].map { distilled.train[$0].characters.count }
        let targets = d.softTargets([0, d.labelled], steps: lengths.max()!, lengths: lengths, weight: 4, labelledShare: 0.25, temperature: 2)
        #expect(targets.weights == [1, 4] && targets.crfLengths == [lengths[0], 0])
        try distilled.run(checkpointPath: nil, bestPath: nil) { _ in }

        // Weight 0, no unlabelled text: the same steps as a plain run.
        options.unlabelled = ""
        options.distillWeight = 0
        let zero = try TokenizerTrainer(train: train, dev: dev, config: config, options: options)
        options.teacher = ""
        let plain = try TokenizerTrainer(train: train, dev: dev, config: config, options: options)
        try zero.run(checkpointPath: nil, bestPath: nil) { _ in }
        try plain.run(checkpointPath: nil, bestPath: nil) { _ in }
        // Equal up to rounding, not bit for bit: OpenBLAS's thread count is one per
        // process, and a parallel section elsewhere (another test) holds it at one for a
        // while, which changes how a GEMM splits its rows and so the last bit of a sum.
        // A teacher's term leaking through at weight 0 would move weights by far more.
        for ((name, a), b) in zip(zero.tokenizer.network.namedParameters, plain.tokenizer.network.parameters) {
            expectClose(a.value, b.value, tol: 1e-5, floor: 0.1, "weight 0 vs no teacher: \(name)")
        }

        options.unlabelled = textPath
        #expect(throws: LSTMKitError.self) { try TokenizerTrainer(train: train, dev: dev, config: config, options: options) }
        options.teacher = directory + "/missing.safetensors"
        #expect(throws: LSTMKitError.self) { try TokenizerTrainer(train: train, dev: dev, config: config, options: options) }
    }
}
