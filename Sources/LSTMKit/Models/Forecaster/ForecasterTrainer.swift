/// Options of `ForecasterTrainer`: the loop's settings are `loop`'s; the forecaster adds
/// the share of the series kept for dev.
public struct ForecasterTrainingOptions: ModelTrainingOptions, Sendable {
    public var loop = TrainerOptions(epochs: 200, batchSize: 32, learningRate: 0.003, patience: 15, logEvery: 50)
    /// The last this share of the series (in time order, never shuffled) is the dev part:
    /// early stopping scores forecasts from its origins; training windows end before it.
    public var devFraction: Float = 0.15

    public init() {}

    public static var modelHyperParameters: [HyperParameter<Self>] {
        [.float("dev_fraction", \.devFraction, .openClosed(0, 0.5), "The last this share of the series is dev (time order).")]
    }
}

/// Fits a Forecaster on the one training loop (`Trainer`): the first part of the series
/// gives the channel statistics and the training windows (every origin whose context and
/// horizon fit in it, in shuffled batches); the dev part (the last `devFraction`) scores
/// rolling-origin forecasts, the scaled pinball loss deciding early stopping.
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
        origins = Array(c.context...(trainLength - c.horizon))
        loop = Trainer(options: options.loop)
    }

    /// Trains (writing `checkpointPath` after every epoch, if given); returns the best
    /// dev score (its weights are left in `forecaster`).
    @discardableResult
    public func run(checkpointPath: String? = nil, log: (String) -> Void) throws -> ForecastScore {
        let c = forecaster.config
        log("training a forecaster on \(checked.length) steps of \(c.targets) target\(c.targets == 1 ? "" : "s")"
            + (c.exogenous > 0 ? " and \(c.exogenous) exogenous" : "") + ": \(origins.count) training windows "
            + "(context \(c.context), horizon \(c.horizon)), dev from step \(devStart); \(forecaster.parameterCount) parameters")
        return try loop.run(self, checkpointPath: checkpointPath, log: log).best[0]
    }

    // MARK: What the loop asks of the model

    public var parameterGroups: [ParameterGroup] {
        [ParameterGroup(name: "network", parameters: forecaster.parameters, learningRate: options.learningRate)]
    }

    public var namedState: [(name: String, parameter: Parameter)] { forecaster.namedParameters + forecaster.namedBuffers }

    public func modelFile() -> SafeTensors { forecaster.modelFile() }

    public var countNames: [String] { ["windows"] }

    public func batches(rng: inout SeededRandom) -> [[Int]] {
        shuffledBatches(count: origins.count, batchSize: options.batchSize, rng: &rng)
    }

    public func trainStep(_ members: [Int], training: [Bool], rng: inout SeededRandom) throws -> (loss: Float, counts: [Int]) {
        (try forecaster.trainStep(checked, origins: members.map { origins[$0] }), [members.count])
    }

    public func devScores() throws -> [ForecastScore] {
        [try forecaster.evaluate(seriesTensor, exogenous: exogenousTensor, start: devStart, threads: options.threads)]
    }
}
