import ArgumentParser
import LSTMKit

// train-forecaster and forecast: a series from a numeric CSV (columns are channels) or a
// .npy of (T,) or (T, channels) numbers.

private typealias Config = ForecasterConfig

/// The targets and exogenous inputs of a series file, by the column options: `SeriesTable`.
private func series(_ path: String, option: String, targets: String?, exogenous: String?,
                    options: (String, String) = ("--targets", "--exogenous")) throws -> (y: Tensor, x: Tensor?) {
    try SeriesTable.read(path, name: "\(option) \(path)").series(targets: targets, exogenous: exogenous, options: options)
}

struct TrainForecaster: Command, Threaded {
    static let configuration = CommandConfiguration(
        abstract: "Train a forecaster on a series: a numeric CSV (one column per channel) or a .npy (T,) or (T, channels).",
        discussion: """
            The last --dev-fraction of the steps (in time order) is the dev part: training windows end \
            before it and early stopping scores rolling-origin forecasts over it. --targets selects the \
            columns forecast (default: every column not --exogenous); --exogenous the inputs known in \
            advance, whose future values `forecast` then needs (--future).
            """)

    @Option(help: "The series: a .csv or .npy file.") var input: String
    @Option(help: "Where to write the model.") var output: String
    @Option(help: "Target columns: indices or header names, comma-separated (default: all but --exogenous).") var targets: String?
    @Option(help: "Exogenous columns (known in advance), as --targets.") var exogenous: String?
    @Option(help: Config.help("context", default: Config().context)) var context: Int?
    @Option(help: Config.help("horizon", default: Config().horizon)) var horizon: Int?
    @Option(help: Config.help("hidden_size", default: Config().hiddenSize)) var hiddenSize: Int?
    @Option(help: Config.help("num_layers", default: Config().numLayers)) var layers: Int?
    @Option(help: Config.help("quantiles", default: Config().quantiles.map { "\($0)" }.joined(separator: ","))) var quantiles: String?
    @Option(help: "window (each window's own mean and std) or global (the training part's) (default: \(Config().scaling.rawValue)).") var scaling: String?
    @Flag(help: "The head reads the recurrent state only, not the context values as well.") var noLinearContext = false
    @Flag(help: "Keep the quantiles as trained (no calibration of their spread on dev).") var noCalibration = false
    @Option(help: Config.help("season", default: Config().season)) var season: Int?
    @Option(help: Config.help("bptt_length", default: Config().bpttLength)) var bpttLength: Int?
    @Option(help: ForecasterTrainingOptions.help("dev_fraction", default: ForecasterTrainingOptions().devFraction)) var devFraction: Float?
    @OptionGroup(title: "Training loop") var loop: Loop<ForecasterTrainingOptions>
    var threads: Int { loop.threads ?? ForecasterTrainingOptions().threads }

    func execute() throws {
        try refuseOverwritingInputs([input], output: output)
        var config = Config()
        var options: ForecasterTrainingOptions = loop.options()
        set(&config, [\.context: context, \.horizon: horizon, \.hiddenSize: hiddenSize, \.numLayers: layers, \.season: season])
        set(&config, [\.cell: loop.cell])
        set(&config, [\.bpttLength: bpttLength])
        if let scaling { config.scaling = try choice(scaling, option: "--scaling") }
        if let quantiles { config.quantiles = try list(quantiles, option: "--quantiles", of: "levels", example: "0.1,0.5,0.9") }
        config.linearContext = !noLinearContext
        config.seed = options.seed
        set(&options, [\.devFraction: devFraction])
        options.calibrateIntervals = !noCalibration
        try check(config, options)   // the engine's rules, before reading the data
        let (y, x) = try series(input, option: "--input", targets: targets, exogenous: exogenous)
        let trainer = try ForecasterTrainer(series: y, exogenous: x, config: config, options: options)
        let best = try trainer.run(checkpointPath: try loop.start(trainer, output: output, inputs: [input]), log: progress)
        try trainer.forecaster.save(to: output)
        print("best dev \(best.summary); model written to \(output)")
    }
}

struct ForecastCommand: Command, Threaded {
    static let configuration = CommandConfiguration(
        commandName: "forecast",
        abstract: "Forecast the steps after a series: one line per step, \"step point lower upper\" (tab-separated).",
        discussion: """
            lower and upper are the model's lowest and highest quantiles (0.1 and 0.9 by default: the \
            central 80 % interval); with several targets each line holds point, lower and upper for each \
            in turn. The series is read as in training (the same --targets and --exogenous); a model \
            with exogenous inputs needs their values for its whole horizon after the series (--future, \
            the same columns).
            """)

    @Argument(help: "The series: a .csv or .npy file.") var input: String
    @Option(help: "Forecaster model file.") var model: String
    @Option(help: "Steps to forecast (default: the model's horizon).") var horizon: Int?
    @Option(help: "Target columns, as in training.") var targets: String?
    @Option(help: "Exogenous columns, as in training.") var exogenous: String?
    @Option(help: "The exogenous inputs of the horizon's steps (a .csv or .npy; --exogenous's columns of a CSV).") var future: String?
    var threads: Int { 1 }

    func execute() throws {
        let forecaster = try Forecaster.load(from: model)
        let c = forecaster.config
        var (y, x) = try series(input, option: "input", targets: targets, exogenous: exogenous)
        if let future {
            guard let past = x else { throw invalid("--future needs --exogenous (the columns of the exogenous inputs)") }
            let f = try series(future, option: "--future", targets: exogenous, exogenous: nil, options: ("--exogenous", "--exogenous")).y
            x = Tensor(shape: [past.shape[0] + f.shape[0], past.shape[1]], data: past.data + f.data)
        }
        let result = try forecaster.forecast(y, exogenous: x, horizon: horizon)
        let (k, q) = (c.targets, c.quantiles.count)
        for step in 0..<result.horizon {
            var fields = ["\(step + 1)"]
            for j in 0..<k {
                let row = (step * k + j) * q
                fields += ["\(result.point[step * k + j])", "\(result.quantileValues[row])", "\(result.quantileValues[row + q - 1])"]
            }
            print(fields.joined(separator: "\t"))
        }
    }
}
