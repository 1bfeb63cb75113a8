import LSTMKitCore
import LSTMKitIO
import LSTMKitLayers

/// Options of `ForecasterTrainer`: the loop's settings are `loop`'s; the forecaster adds
/// the share of the series kept for dev.
public struct ForecasterTrainingOptions: ModelTrainingOptions, Sendable {
    /// The learning rate 0.01 was chosen on dev over 0.001, 0.003 and 0.005.
    public var loop = TrainerOptions(epochs: 200, batchSize: 32, learningRate: 0.01, patience: 15, logEvery: 50)
    /// The last this share of the series (in time order, never shuffled) is the dev part:
    /// early stopping scores forecasts from its origins; training windows end before it.
    public var devFraction: Float = 0.15
    /// After training, widen or narrow each quantile level's distance from the median by
    /// one factor per target and level, chosen on the dev forecasts so that the share of
    /// dev values below each level equals the level (networks fitted on few windows give
    /// intervals too narrow for new data). Off by default: on the benchmark's dev parts it
    /// lowered the 80 % interval's coverage on all three series (docs/FORECASTING.md).
    public var calibrateIntervals = false

    public init() {}

    public static var modelHyperParameters: [HyperParameter<Self>] {
        [.float("dev_fraction", \.devFraction, .openClosed(0, 0.5), "The last this share of the series is dev (time order).")]
        // calibrate_intervals: a flag, nothing to check.
    }
}

/// Fits a Forecaster on the one training loop (`Trainer`): the first part of the series
/// gives the channel statistics and the training windows (every origin whose context and
/// horizon fit in it, in shuffled batches); the dev part (the last `devFraction`) scores
/// rolling-origin forecasts, the scaled pinball loss deciding early stopping.
///
/// With `bpttLength` > 0 (truncated BPTT) an epoch instead reads the training part in
/// order: the origins are cut into `lanes` consecutive segments (the batch's rows), each
/// read from `context` − 1 steps before its first origin (the history a window has) in
/// chunks of `bpttLength` steps, the first chunk's length drawn per epoch so the cuts
/// move; a batch is one chunk of every lane, started from the state the lane's previous
/// chunk ended in.
public final class ForecasterTrainer: TrainingTask {
    public let forecaster: Forecaster
    public let options: ForecasterTrainingOptions
    public let loop: Trainer<ForecastScore>
    let checked: ForecastSeries
    let seriesTensor: Tensor
    let exogenousTensor: Tensor?
    /// The first dev step: training windows' horizons end before it.
    public let devStart: Int
    let origins: [Int]
    /// Truncated BPTT: the series as the recurrent layer reads it, each lane's steps, this
    /// epoch's chunks (per batch, one step range per lane still running: lanes 0..<n) and
    /// the state the last batch ended in.
    let stepInputs: [Float]
    let lanes: [Range<Int>]
    var chunks: [[Range<Int>]] = []
    var carried: RecurrentState?

    /// `series` (T,) or (T, targets) and optional `exogenous` (T, channels) as float32;
    /// `config.targets` and `config.exogenous` are taken from them. Throws on a series too
    /// short for the context, the horizon and the dev part, or a non-finite value.
    public init(series: Tensor, exogenous: Tensor? = nil, config: ForecasterConfig, options: ForecasterTrainingOptions) throws {
        try options.validate()
        var c = config
        c.targets = series.shape.count == 2 ? series.shape[1] : 1
        c.exogenous = exogenous.map { $0.shape.count == 2 ? $0.shape[1] : 1 } ?? 0
        try c.validate()
        let s = try ForecastSeries(series, exogenous: exogenous, config: c, futureSteps: 0)
        let t = s.length
        let devLength = Int((Double(t) * Double(options.devFraction)).rounded())
        let trainLength = t - devLength
        let needed = c.context + c.horizon
        guard devLength >= c.horizon, trainLength >= needed, trainLength > c.season else {
            throw LSTMKitError.invalidArgument(
                "the series has \(t) steps: too short for context \(c.context) and horizon \(c.horizon) (training needs "
                + "\(needed) steps before the dev part, and the dev part, the last \(options.devFraction) of the series, "
                + "at least the horizon; it has \(devLength))")
        }
        // The channel statistics of the training part.
        let k = c.targets, e = c.exogenous
        let train = try Sequences(values: s.rows(trainLength, targets: k, exogenous: e), lengths: [trainLength], channels: k + e)
        forecaster = try Forecaster(config: c, scaler: ChannelScaler(fittedOn: train, maskMissing: false))
        self.options = options
        checked = s
        seriesTensor = series
        exogenousTensor = exogenous
        devStart = trainLength
        let origins = Array(c.context...(trainLength - c.horizon))
        self.origins = origins
        loop = Trainer(options: options.loop)
        if c.bpttLength > 0 {
            stepInputs = forecaster.stepInputs(s, steps: trainLength)
            // As many lanes as keep two chunks of origins in each, at most a batch.
            let count = max(1, min(options.batchSize, origins.count / (2 * c.bpttLength)))
            let per = (origins.count + count - 1) / count
            lanes = stride(from: 0, to: origins.count, by: per).map { i in
                // Steps t whose origin t + 1 is in the lane, after the history before them.
                (origins[i] - c.context)..<origins[min(i + per, origins.count) - 1]
            }
        } else {
            (stepInputs, lanes) = ([], [])
        }
    }

    /// Trains (writing `checkpointPath` after every epoch, if given); returns the best
    /// dev score (its weights are left in `forecaster`).
    @discardableResult
    public func run(checkpointPath: String? = nil, log: (String) -> Void) throws -> ForecastScore {
        let c = forecaster.config
        log("training a forecaster on \(checked.length) steps of \(c.targets) target\(c.targets == 1 ? "" : "s")"
            + (c.exogenous > 0 ? " and \(c.exogenous) exogenous" : "") + ": \(origins.count) training windows "
            + "(context \(c.context), horizon \(c.horizon)), dev from step \(devStart); \(forecaster.parameterCount) parameters"
            + (c.bpttLength > 0 ? "; truncated BPTT in chunks of \(c.bpttLength) steps, \(lanes.count) lane\(lanes.count == 1 ? "" : "s")" : ""))
        let best = try loop.run(self, checkpointPath: checkpointPath, log: log).best[0]
        guard options.calibrateIntervals else { return best }
        calibrate()
        let calibrated = try devScores()[0]
        log("intervals calibrated on dev: scale \(forecaster.intervalScale.value.map { String((Double($0) * 1000).rounded() / 1000) }.joined(separator: " ")); "
            + "dev \(calibrated.summary)")
        return calibrated
    }

    /// Sets `forecaster.intervalScale` from the uncalibrated dev forecasts: for each target
    /// and level τ other than the median, the factor λ that puts a share τ of the dev values
    /// below median + λ·(q_τ − median), i.e. an empirical quantile of the ratios
    /// (y − median) / (q_τ − median).
    func calibrate() {
        let c = forecaster.config
        let (k, q, median) = (c.targets, c.quantiles.count, c.medianIndex)
        let dev = Array(devStart...(checked.length - c.horizon))
        let forecasts = forecaster.quantileForecasts(checked, origins: dev, threads: options.threads, calibrated: false)
        var scale = [Float](repeating: 1, count: k * q)
        for j in 0..<k {
            for (i, tau) in c.quantiles.enumerated() where i != median {
                var ratios: [Float] = []
                for (origin, f) in zip(dev, forecasts) {
                    for step in 0..<c.horizon {
                        let row = (step * k + j) * q
                        let distance = f[row + i] - f[row + median]
                        // Sorted forecasts: a level below the median lies below it (or on it).
                        if abs(distance) > 0 { ratios.append((checked.targets[(origin + step) * k + j] - f[row + median]) / distance) }
                    }
                }
                guard !ratios.isEmpty else { continue }
                ratios.sort()
                // Below the median, y < median + λ·d (d < 0) means ratio > λ: λ is the (1 − τ) quantile.
                let level = Double(tau < 0.5 ? 1 - tau : tau)
                let index = min(Int((level * Double(ratios.count)).rounded(.up)) - 1, ratios.count - 1)
                scale[j * q + i] = max(ratios[max(index, 0)], 0)
            }
        }
        forecaster.intervalScale.value = scale
    }

    // MARK: What the loop asks of the model

    public var parameterGroups: [ParameterGroup] {
        [ParameterGroup(name: "network", parameters: forecaster.parameters, learningRate: options.learningRate)]
    }

    public var namedState: [(name: String, parameter: Parameter)] { forecaster.namedParameters + forecaster.namedBuffers }

    public func modelFile() -> SafeTensors { forecaster.modelFile() }

    public var countNames: [String] { ["windows"] }

    public func batches(rng: inout SeededRandom) -> [[Int]] {
        let bptt = forecaster.config.bpttLength
        guard bptt > 0 else { return shuffledBatches(count: origins.count, batchSize: options.batchSize, rng: &rng) }
        // The first chunk: the history before the lane's first origin and 1 to bptt origins.
        let first = forecaster.config.context + Int(rng.next() % UInt64(bptt))
        chunks = []
        for lane in lanes {
            var start = lane.lowerBound, j = 0
            while start < lane.upperBound {
                let end = min(start + (j == 0 ? first : bptt), lane.upperBound)
                if j == chunks.count { chunks.append([]) }
                chunks[j].append(start..<end)
                (start, j) = (end, j + 1)
            }
        }
        carried = nil
        return chunks.indices.map { [$0] }
    }

    /// Per window: its context steps through the recurrent layer, and the head's input and outputs.
    public func stepFloats(_ members: [Int]) -> Double {
        let c = forecaster.config
        return Double(members.count) * (Double(c.context) * (c.recurrent.trainingFloatsPerStep + 2 * Double(c.channels))
                                        + 2 * Double(c.hiddenSize + c.headExtra) + 4 * Double(c.outputs))
    }

    public func trainStep(_ members: [Int], training: [Bool], rng: inout SeededRandom) throws -> (loss: Float, counts: [Int]) {
        guard forecaster.config.bpttLength > 0 else {
            return (try forecaster.trainStep(checked, origins: members.map { origins[$0] }), [members.count])
        }
        // Lanes end in order (the last is the shortest), so the lanes still running are a prefix.
        let lanesNow = chunks[members[0]]
        let initial = carried.map { $0.h.shape[1] == lanesNow.count ? $0 : $0.rows(Array(lanesNow.indices)) }
        // Each lane scores its own origins only, not the history read before them.
        let context = forecaster.config.context
        let step = try forecaster.trainChunk(checked, inputs: stepInputs, chunks: lanesNow,
                                             scored: lanes.prefix(lanesNow.count).map { ($0.lowerBound + context - 1)..<$0.upperBound },
                                             initial: initial)
        carried = step.state
        return (step.loss ?? 0, [step.rows])
    }

    public func devScores() throws -> [ForecastScore] {
        [try forecaster.evaluate(seriesTensor, exogenous: exogenousTensor, start: devStart, threads: options.threads)]
    }
}
