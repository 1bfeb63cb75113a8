import Foundation
import Testing
@testable import LSTMKit

/// The sequence classifier's training: the small-set refit (`refitBelow`), keep-best with
/// the BatchNorm statistics, resume.
@Suite("Sequence classifier training")
struct SequenceClassifierTrainerTests {
    /// A small network with the convolutional branch (its BatchNorm has running statistics).
    var config: SequenceClassifierConfig {
        var c = SequenceClassifierConfig()
        (c.hiddenSize, c.convFilters, c.dropout) = (4, [3], 0.1)
        return c
    }

    func options(epochs: Int, patience: Int = 30) -> SequenceClassifierTrainingOptions {
        var o = SequenceClassifierTrainingOptions()
        (o.epochs, o.patience, o.batchSize, o.threads, o.learningRate) = (epochs, patience, 8, 1, 0.01)
        return o
    }

    @Test("the refit triggers by size: fewer than refit_below training sequences and no dev data")
    func refitTriggersBySize() throws {
        let (x, y) = try SequenceClassifierTests().toy(20, seed: 1)
        let (dx, dy) = try SequenceClassifierTests().toy(6, seed: 2)
        func refits(_ below: Int, dev: Bool = false) throws -> Bool {
            var o = options(epochs: 1)
            o.refitBelow = below
            return try SequenceClassifierTrainer(train: x, labels: y, dev: dev ? (dx, dy) : nil, config: config, options: o).refitData != nil
        }
        #expect(SequenceClassifierTrainingOptions().refitBelow == 100)
        #expect(try refits(21) && !refits(20) && !refits(0) && !refits(100, dev: true))
    }

    @Test("models of neighbouring seeds share no member: each member's seed, split and weights are its own")
    func memberSeeds() throws {
        let seeds = (UInt64(1)...4).map { s in (0..<3).map { SeededRandom.memberSeed(s, $0) } }
        #expect(seeds.map { $0[0] } == [1, 2, 3, 4])   // member 0 keeps the seed
        #expect(Set(seeds.joined()).count == 12)
        let (x, y) = try SequenceClassifierTests().toy(24, seed: 3)
        func trainer(_ seed: UInt64) throws -> SequenceClassifierTrainer {
            var o = options(epochs: 1)
            o.seed = seed
            return try SequenceClassifierTrainer(train: x, labels: y, config: config, options: o)
        }
        let (a, b) = (try trainer(1), try trainer(2))
        #expect(a.tasks.map(\.options.seed) == seeds[0] && b.tasks.map(\.options.seed) == seeds[1])
        // Member 1 of seed 1 is not member 0 of seed 2 (as it was with seed + k).
        let classes = (0..<24).map { $0 % 2 }
        let held = { (seed: UInt64) in try stratifiedSplit(classes, fraction: 0.2, seed: seed).heldOut }
        #expect(try held(SeededRandom.memberSeed(1, 1)) != held(SeededRandom.memberSeed(2, 0)))
        #expect(a.tasks[1].member.parameters.map(\.value) != b.tasks[0].member.parameters.map(\.value))
    }

    @Test("a refit trains every member again on all the sequences for the median of the best dev epochs, scoring nothing")
    func refit() throws {
        let (x, y) = try SequenceClassifierTests().toy(24, seed: 3)
        let trainer = try SequenceClassifierTrainer(train: x, labels: y, config: config, options: options(epochs: 6))
        // Per run (3 on the dev splits, then 3 refits): the last improved epoch, the epochs
        // trained and the dev scores reported.
        var best: [Int] = [], trained: [Int] = [], scored: [Int] = [], last = 0, scores = 0
        var lines: [String] = []
        try trainer.run(log: { lines.append($0) }) { p in
            switch p {
            case .epoch(let r):
                if r.groups.first?.improved == true { last = r.epoch }
                scores += r.groups.count
            case .end(let epochs, _, _): (best, trained, scored, last, scores) = (best + [last], trained + [epochs], scored + [scores], 0, 0)
            default: break
            }
        }
        try #require(best.count == 6)
        let median = best.prefix(3).sorted()[1]
        #expect(trained.suffix(3) == [median, median, median])
        // The refits keep the last epoch (the loop's keep: .last): no dev score at all.
        #expect(Array(scored.prefix(3)) == Array(trained.prefix(3)) && scored.suffix(3) == [0, 0, 0])
        #expect(lines.filter { $0.hasSuffix("the last epoch kept") }.count == 3)
        #expect(lines.contains { $0.hasPrefix("refit:") && $0.contains("all 24 of them for \(median) epochs") })
        // Each member's scaler is now the whole training set's.
        let whole = ChannelScaler(fittedOn: x, maskMissing: false)
        for m in trainer.classifier.members { #expect(m.scaler.mean.value == whole.mean.value && m.scaler.std.value == whole.std.value) }
        #expect(try trainer.classifier.evaluate(x, labels: y).accuracy > 0.5)
    }

    @Test("training (with a refit) is deterministic per seed, within float noise; another seed differs")
    func deterministic() throws {
        let (x, y) = try SequenceClassifierTests().toy(20, seed: 4)
        let (tx, _) = try SequenceClassifierTests().toy(10, seed: 5)
        func probabilities(seed: UInt64) throws -> [Float] {
            var (c, o) = (config, options(epochs: 3))
            (c.seed, o.seed) = (seed, seed)
            let trainer = try SequenceClassifierTrainer(train: x, labels: y, config: c, options: o)
            try trainer.run { _ in }
            return try trainer.classifier.predictProbabilities(tx).flatMap { $0 }
        }
        let (a, b, other) = (try probabilities(seed: 7), try probabilities(seed: 7), try probabilities(seed: 8))
        expectClose(a, b, tol: 1e-3, "the same seed")
        #expect(zip(a, other).contains { abs($0 - $1) > 1e-3 })
    }

    @Test("keep-best restores the best epoch's BatchNorm statistics with its weights")
    func keepBestKeepsBuffers() throws {
        let (x, y) = try SequenceClassifierTests().toy(40, seed: 6)
        var o = options(epochs: 80, patience: 2)
        (o.refitBelow, o.learningRate) = (0, 0.05)
        let trainer = try SequenceClassifierTrainer(train: x, labels: y, config: config, options: o)
        let task = trainer.tasks[0]
        let path = temporaryPath("seqclf-best.safetensors")
        defer { unlink(path) }
        let report = try task.loop.run(task, bestPath: path) { _ in }
        try #require(report.stop == .patience)   // epochs were trained after the best one
        let saved = try SafeTensors.read(from: path)
        let buffers = task.member.namedBuffers.filter { $0.name.contains("running") }
        try #require(!buffers.isEmpty)
        for (name, p) in task.member.namedParameters + buffers {
            #expect(saved.tensor(name)?.values == p.value, "\(name)")
        }
    }

    @Test("resume equals the uninterrupted run: a member with the convolutional branch, keeping the best or (a refit) the last epoch")
    func resume() throws {
        let (x, y) = try SequenceClassifierTests().toy(24, seed: 7)
        try TrainerTests.expectResumeIsSeamless(epochs: 3, split: 1) { epochs in
            try SequenceClassifierTrainer(train: x, labels: y, config: config, options: options(epochs: epochs)).tasks[0]
        }
        // As the refit trains: all the sequences, no dev set.
        try TrainerTests.expectResumeIsSeamless(epochs: 3, split: 1, keep: .last) { epochs in
            let trainer = try SequenceClassifierTrainer(train: x, labels: y, config: config, options: options(epochs: epochs))
            let labels = try #require(trainer.refitData).labels
            return SequenceClassifierMemberTask(member: trainer.classifier.members[0], train: x, labels: labels, dev: x.subset([]),
                                                devLabels: [], options: trainer.tasks[0].options)
        }
    }
}
