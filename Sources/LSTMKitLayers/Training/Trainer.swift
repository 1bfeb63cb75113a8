import LSTMKitCore
import LSTMKitIO

/// The one training loop every model uses (`Trainer`), its settings (`TrainerOptions`)
/// and what a model gives it (`TrainingTask`): its parameters, its batches, its
/// training step and its dev score. The loop owns the rest: epochs, the seeded order,
/// clipping, the divergence stop, the optimizer, the learning-rate schedule, patience
/// and keep-best, weight averaging, checkpoints, the time limit and progress.

/// The training loop's settings, the same fields for every model. A model's options
/// hold them as `loop` with its own defaults, and read and write them as their own
/// (`options.epochs`: see `ModelTrainingOptions`).
public struct TrainerOptions: Sendable, Equatable {
    public var epochs: Int
    /// Examples per batch (the model cuts its batches to this size).
    public var batchSize: Int
    /// Adam's initial learning rate (of the main parameter group).
    public var learningRate: Float
    /// Gradients are clipped to this global norm (per parameter group).
    public var clipNorm: Float = 5
    /// Plateau: the rate is multiplied by `decayFactor` after an epoch without a better
    /// dev score, and training stops after `patience` such epochs. Cosine: the rate
    /// anneals to 0 over the time limit (else the epochs); patience and decay unused.
    public var schedule = LearningRateSchedule.plateau
    /// Stop after this many epochs without a better dev score (plateau schedule).
    public var patience: Int
    /// Multiply the learning rate by this after an epoch without a better dev score.
    public var decayFactor: Float = 0.5
    /// Stop when this many seconds of training have passed (nil: no limit): the epoch
    /// under way ends after its current batch (at least one batch is trained), the dev
    /// set is scored, and no epoch follows. Resumed training counts the time before.
    public var timeLimit: Double?
    /// > 0: dev scores, the best model and the saved model use an exponential moving
    /// average of the weights (Polyak averaging: each update moves the average this
    /// close to the average itself, 1 − this towards the new weights), which smooths
    /// out the last steps' noise. 0: the weights as trained.
    public var averageDecay: Float = 0
    /// Decoupled weight decay (AdamW, Loshchilov & Hutter): each step first shrinks every
    /// trained weight by learning rate × this, apart from the gradient's Adam step (the
    /// rows a sparse embedding step touches only). 0: none, Adam exactly as before.
    public var weightDecay: Float = 0
    /// Stop an epoch early after this many batches (0: whole epoch). For smoke tests.
    public var maxBatchesPerEpoch = 0
    /// Seeds the order of the examples and the model's own draws in training.
    public var seed: UInt64 = 1
    /// Threads for scoring the dev set, and for the shards of a data-parallel training
    /// step (`DataParallel`: Seq2Seq).
    public var threads = 2
    /// A progress line every this many batches.
    public var logEvery: Int

    public init(epochs: Int, batchSize: Int, learningRate: Float, patience: Int, logEvery: Int) {
        (self.epochs, self.batchSize, self.learningRate, self.patience, self.logEvery) = (epochs, batchSize, learningRate, patience, logEvery)
    }
}

extension TrainerOptions: HyperParameterized {
    public static var hyperParameters: [HyperParameter<Self>] {
        [
            .int("epochs", \.epochs, 1...int32Max, "Training epochs at most."),
            .int("batch_size", \.batchSize, 1...65536, "Examples per batch."),
            .float("learning_rate", \.learningRate, .positive, "Adam's (initial) learning rate."),
            .float("clip_norm", \.clipNorm, .positive, "Gradients are clipped to this global norm."),
            .choice("schedule", \.schedule, "The learning rate's schedule: plateau (decay and stop on no progress) or cosine (to 0 over the budget)."),
            .int("patience", \.patience, 1...int32Max, "Stop after this many epochs without a better dev score."),
            .float("decay_factor", \.decayFactor, .openClosed(0, 1), "The learning rate is multiplied by this after an epoch without progress."),
            .seconds("time_limit", \.timeLimit, atLeast: 1, "Stop training once this many seconds have passed (nil: no limit)."),
            .float("average_decay", \.averageDecay, .closedOpen(0, 1), "> 0: score and keep a moving average of the weights with this decay."),
            .float("weight_decay", \.weightDecay, .closedOpen(0, 1), "Decoupled weight decay (AdamW): each step shrinks the weights by learning rate × this (0: none)."),
            .int("max_batches_per_epoch", \.maxBatchesPerEpoch, 0...int32Max, "Stop an epoch after this many batches (0: whole epoch)."),
            .int("threads", \.threads, threadCountRange, "Worker threads for training and scoring (the BLAS library's own thread count is set apart: lk_set_num_threads)."),
            .int("log_every", \.logEvery, 1...int32Max, "A progress line every this many batches."),
        ]
    }
}

/// A model's training options: its own fields, and the loop's as `loop`, which read and
/// write as if they were its own (`options.epochs` is `options.loop.epochs`).
@dynamicMemberLookup
public protocol ModelTrainingOptions: HyperParameterized {
    var loop: TrainerOptions { get set }
    /// The model's own entries (the loop's are added by `hyperParameters`).
    static var modelHyperParameters: [HyperParameter<Self>] { get }
}

extension ModelTrainingOptions {
    public subscript<T>(dynamicMember path: WritableKeyPath<TrainerOptions, T>) -> T {
        get { loop[keyPath: path] }
        set { loop[keyPath: path] = newValue }
    }

    /// The loop's table, then the model's.
    public static var hyperParameters: [HyperParameter<Self>] {
        TrainerOptions.hyperParameters.map { $0.nested(in: \Self.loop) } + modelHyperParameters
    }
}

/// A dev score: `value` is what early stopping compares (higher is better), `summary`
/// what a progress line shows ("accuracy 93.5  macro-F1 92.1").
public protocol DevScore {
    var value: Double { get }
    var summary: String { get }
}

/// Parameters trained by one optimizer, with their own learning-rate schedule, early
/// stopping and best weights. Most models have one group; the text classifier's n-gram
/// weights are a second, with a higher rate.
public struct ParameterGroup {
    /// Shown in progress lines when a model has several groups.
    public var name: String
    public var parameters: [Parameter]
    /// State kept with the best weights and in checkpoints but not trained (BatchNorm
    /// running statistics).
    public var kept: [Parameter]
    public var learningRate: Float

    public init(name: String, parameters: [Parameter], kept: [Parameter] = [], learningRate: Float) {
        (self.name, self.parameters, self.kept, self.learningRate) = (name, parameters, kept, learningRate)
    }
}

/// What a model gives the training loop. Its trainer class conforms, holding the data
/// and the model; the loop calls these, the model never runs a loop of its own.
public protocol TrainingTask: AnyObject {
    associatedtype Score: DevScore
    /// The loop training this model, and the loop's state (kept between `resume` and `run`).
    var loop: Trainer<Score> { get }
    /// The parameters to train, in optimizer groups (the same objects on every call).
    var parameterGroups: [ParameterGroup] { get }
    /// Every parameter and buffer under its model-file name: checkpoints use the names.
    var namedState: [(name: String, parameter: Parameter)] { get }
    /// The model file; a checkpoint is this plus the loop's state.
    func modelFile() -> SafeTensors
    /// The generators the model draws dropout masks from, saved in checkpoints so that a
    /// resumed run draws the same masks (none by default).
    var modelGenerators: [SeededRandom] { get set }
    /// What a step counts, for progress lines' rates: "pieces", "chars".
    var countNames: [String] { get }
    /// An epoch's batches (indices of training examples) in an order drawn from `rng`.
    func batches(rng: inout SeededRandom) -> [[Int]]
    /// Forward and backward on one batch, gradients accumulating into the groups marked
    /// `training` (per `parameterGroups`); any random draw (augmentation) from `rng`.
    /// Returns the loss and the counts named by `countNames`.
    func trainStep(_ batch: [Int], training: [Bool], rng: inout SeededRandom) throws -> (loss: Float, counts: [Int])
    /// What `trainStep` on `batch` holds at once, in floats: its activations, caches and
    /// their gradients (an upper bound; see `FloatCount`). The loop checks the largest
    /// batch of each epoch through `Memory.check` before the epoch starts.
    func stepFloats(_ batch: [Int]) -> Double
    /// The dev scores, one per parameter group.
    func devScores() throws -> [Score]
}

extension TrainingTask {
    public var modelGenerators: [SeededRandom] {
        get { [] }
        set {}
    }

    /// Continues from a checkpoint written by `run(checkpointPath:)` (same data, same
    /// options): the weights, the optimizers, the best weights, the counters and the
    /// random generators, so the run goes on as if it had not stopped.
    public func resume(from path: String) throws { try loop.resume(self, from: path) }

    /// Puts the best weights seen (by dev score) back into the model; the loop does
    /// this at the end of a run.
    public func restoreBest() { loop.restoreBest(parameterGroups) }

    /// The epochs trained so far (counting those before a resume).
    public var epoch: Int { loop.epoch }
}

/// Which weights a run leaves in the model.
public enum KeptWeights: Sendable {
    /// The best dev score's: the dev set is scored after every epoch, and patience, the
    /// plateau schedule's decay and `bestPath` follow the scores.
    case best
    /// The last epoch's (the moving average if the run averages, as keep-best keeps it),
    /// for a fixed number of epochs chosen beforehand (a refit on all the data): the dev
    /// set is never scored, so no patience, no plateau decay, and the report's `best` is
    /// empty. `bestPath` receives the model after every epoch.
    case last
}

/// How a run ended.
public enum TrainingStop: String, Sendable {
    case epochs = "the epochs ran out"
    case patience = "no better dev score within the patience"
    case timeLimit = "the time limit"
}

/// The final report of a run: the best dev score of each parameter group (their weights
/// are in the model; none when the run kept the last epoch), the epochs trained and why
/// training stopped.
public struct TrainingReport<Score> {
    public let best: [Score]
    public let epochs: Int
    public let stop: TrainingStop
}

/// The one training loop, and its state between calls (a `resume` then a `run`).
public final class Trainer<Score: DevScore> {
    /// Settable inside the module for tests only (a time limit below the table's 1 s).
    public internal(set) var options: TrainerOptions
    /// The epochs trained so far.
    public internal(set) var epoch = 0
    /// Orders the examples and feeds the model's augmentation.
    var rng: SeededRandom
    /// Receives every progress event (besides the lines `run` logs), e.g. for a display.
    public var onProgress: ((TrainingProgress) -> Void)?
    /// Per parameter group: its optimizer and early-stopping state.
    var groups: [GroupState] = []
    /// The moving average of the trained parameters (see `averageDecay`), updated every
    /// `averageEvery` batches of an epoch.
    var averageValues: [[Float]]?
    static var averageEvery: Int { 8 }
    /// Training seconds of earlier runs (a resumed checkpoint's), for the time limit.
    var secondsBefore = 0.0

    final class GroupState {
        let optimizer: Adam
        /// The best dev score so far, its value (all a checkpoint keeps) and the weights then.
        var best: Score?
        var bestValue: Double?
        var bestValues: [[Float]]?
        var stale = 0

        init(learningRate: Float, weightDecay: Float) {
            optimizer = Adam(learningRate: learningRate, weightDecay: weightDecay, decoupledWeightDecay: true)
        }
    }

    public init(options: TrainerOptions) {
        self.options = options
        rng = SeededRandom(seed: options.seed)
    }

    /// The state of each group, made on first use.
    func states(_ groups: [ParameterGroup]) -> [GroupState] {
        if self.groups.isEmpty { self.groups = groups.map { GroupState(learningRate: $0.learningRate, weightDecay: options.weightDecay) } }
        return self.groups
    }

    /// Still learning: the plateau schedule has not run out of patience.
    func isTraining(_ g: GroupState) -> Bool { options.schedule == .cosine || g.stale < options.patience }

    /// The best dev value of each group so far (nil before the first epoch).
    public var bestDevValues: [Double?] { groups.map(\.bestValue) }

    /// Trains `task` for the remaining epochs; writes `checkpointPath` after every epoch
    /// and the model to `bestPath` whenever a dev score improves; reports progress to
    /// `log` as lines (and to `onProgress`). The best weights are left in the model, or
    /// the last ones without any dev scoring (`keep`; a resumed run passes its own).
    @discardableResult
    public func run<T: TrainingTask>(_ task: T, keep: KeptWeights = .best, checkpointPath: String? = nil, bestPath: String? = nil,
                                      log: (String) -> Void) throws -> TrainingReport<Score> where T.Score == Score {
        let groups = task.parameterGroups
        let states = states(groups)
        let trained = groups.flatMap(\.parameters)
        let started = now()
        func elapsed() -> Double { secondsBefore + now() - started }
        func report(_ p: TrainingProgress) {
            onProgress?(p)
            log(p.line)
        }
        let cosine = options.schedule == .cosine
        var stop = TrainingStop.epochs
        while epoch < options.epochs {
            guard states.contains(where: isTraining) else {
                stop = .patience
                break
            }
            epoch += 1
            let start = now()
            var batches = task.batches(rng: &rng)
            if options.maxBatchesPerEpoch > 0 { batches = Array(batches.prefix(options.maxBatchesPerEpoch)) }
            try checkMemory(task, batches, groups)
            var counts = [Int](repeating: 0, count: task.countNames.count)
            var lossSum = 0.0, lossCount = 0, epochLoss = 0.0, trainedBatches = 0
            for (i, batch) in batches.enumerated() {
                if cosine {
                    // How far through its budget training is: the epochs, or the time limit.
                    let byEpochs = (Double(epoch - 1) + Double(i) / Double(batches.count)) / Double(options.epochs)
                    let progress = max(byEpochs, options.timeLimit.map { elapsed() / $0 } ?? 0)
                    for (g, s) in zip(groups, states) {
                        s.optimizer.learningRate = LearningRateSchedule.cosineRate(g.learningRate, progress: progress)
                    }
                }
                let training = states.map(isTraining)
                // The step's arithmetic flushes denormals (withDenormalsFlushed: they only
                // slow it down); dev scoring and inference compute in the caller's mode.
                let step = try withDenormalsFlushed {
                    let step = try task.trainStep(batch, training: training, rng: &rng)
                    let active = groups.indices.filter { training[$0] }
                    let norms = active.map { clipGradientNorm(groups[$0].parameters, maxNorm: options.clipNorm) }
                    try stopIfDiverged(loss: step.loss, gradientNorm: norms.reduce(0, +), epoch: epoch, batch: i + 1) {
                        restoreBest(groups)
                    }
                    for k in active { states[k].optimizer.stepAndZero(groups[k].parameters) }
                    if options.averageDecay > 0 && (i + 1) % Self.averageEvery == 0 { updateAverage(trained) }
                    return step
                }
                for (k, c) in step.counts.enumerated() { counts[k] += c }
                lossSum += Double(step.loss)
                lossCount += 1
                epochLoss += Double(step.loss)
                trainedBatches = i + 1
                if (i + 1) % options.logEvery == 0 {
                    report(.batch(epoch: epoch, batch: i + 1, of: batches.count, loss: lossSum / Double(lossCount),
                                  rates: rates(counts, task.countNames, now() - start)))
                    (lossSum, lossCount) = (0, 0)
                }
                // The time limit ends the epoch under way (after at least one batch); the
                // dev set is then scored as after a full epoch.
                if let limit = options.timeLimit, elapsed() >= limit {
                    stop = .timeLimit
                    break
                }
            }
            let trainingSeconds = now() - start
            // With averaging, the averaged weights are scored (and kept if best); the
            // trained weights go back in afterwards.
            let trainedValues = averageValues.map { average in
                let values = trained.map(\.value)
                for (p, v) in zip(trained, average) { p.value = v }
                return values
            }
            // Keeping the last epoch, nothing is scored: each epoch is the one kept so far.
            let (lines, improvedAny) = keep == .last ? ([], true)
                : try scoreDev(task, groups, states, restoring: trainedValues, batch: trainedBatches)
            report(.epoch(EpochReport(epoch: epoch, seconds: now() - start,
                                      rates: rates(counts, task.countNames, trainingSeconds).prefix(1).map { $0 },
                                      loss: epochLoss / Double(max(trainedBatches, 1)), groups: lines)))
            if improvedAny, let bestPath { try task.modelFile().write(to: bestPath) }
            if let trainedValues { for (p, v) in zip(trained, trainedValues) { p.value = v } }
            if let checkpointPath { try saveCheckpoint(task, to: checkpointPath, seconds: elapsed()) }
            if stop == .timeLimit {
                report(.note("time limit of \(whole(options.timeLimit!)) s reached after \(trainedBatches) of \(batches.count) batches of epoch \(epoch)"))
                break
            }
        }
        if stop == .epochs && !states.contains(where: isTraining) { stop = .patience }
        if keep == .last {
            // The last weights stay; with averaging, the average replaces them, as keep-best
            // keeps it (the kept state, BatchNorm's statistics, stays the last epoch's).
            if let averageValues { for (p, v) in zip(trained, averageValues) { p.value = v } }
            report(.end(epochs: epoch, stop: stop, best: []))
            return TrainingReport(best: [], epochs: epoch, stop: stop)
        }
        restoreBest(groups)
        // A resumed run knows the best scores' values only: the best weights are scored again.
        var best = states.map(\.best)
        if best.contains(where: { $0 == nil }) {
            let scores = try task.devScores()
            best = zip(best, scores).map { $0 ?? $1 }
        }
        let result = TrainingReport(best: best.map { $0! }, epochs: epoch, stop: stop)
        report(.end(epochs: epoch, stop: stop, best: zip(groups, result.best).map { (groups.count > 1 ? $0.name : nil, $1.summary) }))
        return result
    }

    /// Scores the dev set after an epoch (the averaged weights, if any, are in the model;
    /// `trainedValues` are the trained ones) and, per group still training, keeps the
    /// weights if the score improved, else counts a stale epoch and decays the rate
    /// (plateau). Returns the groups' progress and whether any improved.
    func scoreDev<T: TrainingTask>(_ task: T, _ groups: [ParameterGroup], _ states: [GroupState], restoring trainedValues: [[Float]]?,
                                   batch: Int) throws -> (lines: [EpochReport.Group], improved: Bool) where T.Score == Score {
        let scores: [Score]
        do {
            scores = try task.devScores()
        } catch let e as LSTMKitError where e.isNonFiniteOutput {
            // Weights that stayed finite but grew so large that the network's output
            // on the dev set overflows: the same divergence, seen one step later.
            if let trainedValues { for (p, v) in zip(groups.flatMap(\.parameters), trainedValues) { p.value = v } }
            restoreBest(groups)
            throw LSTMKitError.invalidArgument("training diverged at epoch \(epoch), batch \(batch): the network's "
                                               + "output on the dev set is not finite; lower the learning rate")
        }
        var lines: [EpochReport.Group] = []
        var improvedAny = false
        for (k, (g, s)) in zip(groups, states).enumerated() where isTraining(s) {
            let score = scores[k]
            let improved = s.bestValue.map { score.value > $0 } ?? true
            lines.append(.init(name: groups.count > 1 ? g.name : nil, learningRate: s.optimizer.learningRate,
                               score: score.summary, improved: improved))
            if improved {
                (s.best, s.bestValue, s.bestValues, s.stale) = (score, score.value, (g.parameters + g.kept).map(\.value), 0)
                improvedAny = true
            } else if options.schedule != .cosine {
                s.stale += 1
                s.optimizer.learningRate *= options.decayFactor
            }
        }
        return (lines, improvedAny)
    }

    /// Checks (`Memory.check`) what an epoch of training holds at once, before it
    /// starts: its largest batch's step, plus the loop's copies of the weights (Adam's
    /// two moments, the best weights, the moving average).
    func checkMemory<T: TrainingTask>(_ task: T, _ batches: [[Int]], _ groups: [ParameterGroup]) throws {
        guard var widest = batches.first else { return }
        var step = -1.0
        for b in batches {
            let floats = task.stepFloats(b)
            if floats > step { (step, widest) = (floats, b) }
        }
        let weights = Double(groups.reduce(0) { $0 + ($1.parameters + $1.kept).reduce(0) { $0 + $1.count } })
        let copies = 3.0 + (options.averageDecay > 0 ? 1 : 0)
        let count = widest.count
        try Memory.check(bytes: Memory.bytes(floats: step + copies * weights),
                         for: "training on a batch of \(count) example\(count == 1 ? "" : "s") (epoch \(epoch)'s largest; "
                              + "batch_size \(options.batchSize)) with the optimizer's state")
    }

    /// Items per second for each count.
    private func rates(_ counts: [Int], _ names: [String], _ seconds: Double) -> [(unit: String, perSecond: Double)] {
        zip(names, counts).map { ($0, Double($1) / seconds) }
    }

    /// Moves the average towards the current weights (by 1 − decay^averageEvery, as if
    /// updated after each of the last `averageEvery` steps); starts at the weights.
    func updateAverage(_ parameters: [Parameter]) {
        guard averageValues != nil else {
            averageValues = parameters.map(\.value)
            return
        }
        let keep = Float(_pow(Double(options.averageDecay), Double(Self.averageEvery)))
        for (k, p) in parameters.enumerated() {
            p.value.withUnsafeBufferPointer { v in
                averageValues![k].withUnsafeMutableBufferPointer { a in
                    for i in 0..<a.count { a[i] = keep * a[i] + (1 - keep) * v[i] }
                }
            }
        }
    }

    /// Puts each group's best weights (and kept state) back.
    func restoreBest(_ groups: [ParameterGroup]) {
        for (g, s) in zip(groups, self.groups) {
            guard let values = s.bestValues else { continue }
            for (p, v) in zip(g.parameters + g.kept, values) { p.value = v }
        }
    }
}
