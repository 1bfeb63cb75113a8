import CLSTMKitHeader
import LSTMKit

extension Forecaster: CModel {
    static let argumentName = "forecaster"
    var cConfig: lk_forecaster_train_config { forecasterConfig.encode(config) }
    var settings: (any HyperParameterized)? { config }
}

/// LK_CELL_*: a cell's code is its place in `RecurrentCell.allCases` (the sequence
/// classifier's `cells`; the one of the two the lead keeps when merging).
private let forecasterCells = CEnum<RecurrentCell>("cell", RecurrentCell.allCases.enumerated().map { ($0, "LK_CELL_" + $1.rawValue.uppercased(), $1) })

let forecastScalings = CEnum<ForecastScaling>("scaling", [
    (LK_FORECAST_SCALING_WINDOW, "LK_FORECAST_SCALING_WINDOW", .window), (LK_FORECAST_SCALING_GLOBAL, "LK_FORECAST_SCALING_GLOBAL", .global),
])

let forecasterConfig = CConfigTable<lk_forecaster_train_config, ForecasterConfig, ForecasterTrainingOptions>(
    empty: .init(), defaults: .init(model: .init(), options: .init()), fields: [
    .int("context", \.context, \.model.context),
    .int("horizon", \.horizon, \.model.horizon),
    .choice(forecasterCells, \.cell, \.model.cell),
    .int("hidden_size", \.hidden_size, \.model.hiddenSize),
    .int("num_layers", \.num_layers, \.model.numLayers),
    // The levels in a fixed float array with their count (values checked by the engine).
    .list("quantiles", "num_quantiles", \.num_quantiles, \.quantiles, capacity: LK_FORECASTER_MAX_QUANTILES, \.model.quantiles,
          read: { (v: Float) in v }, write: { $0 }),
    .choice(forecastScalings, \.scaling, \.model.scaling),
    .flag("linear_context", \.linear_context, \.model.linearContext),
    .int("season", \.season, \.model.season),
    .same("dev_fraction", \.dev_fraction, \.options.devFraction),
    .flag("calibrate_intervals", \.calibrate_intervals, \.options.calibrateIntervals),
    .same("seed", \.seed, \.model.seed, also: \.options.seed),
], loop: CField.loopWithClipping())

/// The caller's lk_series (pointers and counts checked here, values by the engine) as a
/// (steps, channels) tensor; nil for a NULL optional series.
private func series(_ s: UnsafePointer<lk_series>?, _ name: String, optional: Bool = false) throws -> Tensor? {
    if optional && s == nil { return nil }
    let s = try required(s, name).pointee
    let (steps, channels) = (try size(s.steps, "\(name)->steps"), try size(s.channels, "\(name)->channels"))
    guard channels >= 1 else { throw invalid("\(name)->channels must be >= 1, got 0") }
    let total = try count(try size(s.count, "\(name)->count"), "\(name)->count", is: [steps, channels], "steps * channels")
    try Memory.check([total], for: "a copy of the \(total) values of \(name)")
    let values = total == 0 ? [] : Array(UnsafeBufferPointer(start: try required(s.values, "\(name)->values"), count: total))
    return Tensor(shape: [steps, channels], data: values)
}

@_cdecl("lk_forecaster_train_config_default")
public func lk_forecaster_train_config_default() -> lk_forecaster_train_config { forecasterConfig.defaultConfig }

@_cdecl("lk_forecaster_channels")
public func lk_forecaster_channels(_ forecaster: OpaquePointer?, _ targets: Out<Int32>?, _ exogenous: Out<Int32>?) -> lk_status {
    guarded(forecaster, Forecaster.self) { h in
        let (t, e) = (try required(targets, "targets"), try required(exogenous, "exogenous"))
        (t.pointee, e.pointee) = (Int32(h.model.config.targets), Int32(h.model.config.exogenous))
    }
}

@_cdecl("lk_forecaster_forecast")
public func lk_forecaster_forecast(_ forecaster: OpaquePointer?, _ y: UnsafePointer<lk_series>?, _ x: UnsafePointer<lk_series>?,
                                   _ h: Int32, _ point: Out<Float>?, _ pointCount: Int,
                                   _ quantiles: Out<Float>?, _ quantilesCount: Int) -> lk_status {
    guarded(forecaster, Forecaster.self) { handle in
        let c = handle.model.config
        let steps = Int(h)
        let k = c.targets, q = c.quantiles.count
        let pointNeeded = try count(try size(pointCount, "point_count"), "point_count", is: [max(steps, 0), k], "h * targets")
        let quantilesCount = try size(quantilesCount, "quantiles_count")
        if quantilesCount != 0 { _ = try count(quantilesCount, "quantiles_count", is: [max(steps, 0), k, q], "h * targets * num_quantiles") }
        let f = try handle.model.forecast(try series(y, "y")!, exogenous: try series(x, "x", optional: true), horizon: steps)
        try copyOut(f.point, to: try required(point, "point"), count: pointNeeded, "point forecasts")
        if quantilesCount != 0 { try copyOut(f.quantileValues, to: try required(quantiles, "quantiles"), count: quantilesCount, "quantiles") }
    }
}

@_cdecl("lk_forecaster_evaluate")
public func lk_forecaster_evaluate(_ forecaster: OpaquePointer?, _ y: UnsafePointer<lk_series>?, _ x: UnsafePointer<lk_series>?,
                                   _ start: Int, _ season: Int32, _ stride: Int32, _ threads: Int32,
                                   _ out: Out<lk_forecast_score>?) -> lk_status {
    guarded(forecaster, Forecaster.self) { h in
        let threads = try threadCount(threads)
        let out = try required(out, "out")
        guard season >= 0 else { throw invalid("season must be >= 1, or 0 for the model's, got \(season)") }
        let s = try h.model.evaluate(try series(y, "y")!, exogenous: try series(x, "x", optional: true), start: try size(start, "start"),
                                     season: season == 0 ? nil : Int(season), stride: Int(stride), threads: threads)
        out.pointee = lk_forecast_score(mase: s.mase, smape: s.smape, coverage: s.coverage, nominal_coverage: s.nominalCoverage,
                                        scaled_pinball: s.scaledPinball, windows: Int64(s.windows))
    }
}

@_cdecl("lk_forecaster_train")
public func lk_forecaster_train(_ y: UnsafePointer<lk_series>?, _ x: UnsafePointer<lk_series>?,
                                _ config: UnsafePointer<lk_forecaster_train_config>?,
                                _ progress: lk_progress_fn?, _ userData: UnsafeMutableRawPointer?, _ out: HandleOut?) -> lk_status {
    lk_forecaster_train_ex(y, x, config, nil, progress, userData, out)
}

@_cdecl("lk_forecaster_train_ex")
public func lk_forecaster_train_ex(_ y: UnsafePointer<lk_series>?, _ x: UnsafePointer<lk_series>?,
                                   _ config: UnsafePointer<lk_forecaster_train_config>?, _ options: OpaquePointer?,
                                   _ progress: lk_progress_fn?, _ userData: UnsafeMutableRawPointer?, _ out: HandleOut?) -> lk_status {
    guarded {
        let (s, run) = try forecasterConfig.decode(try required(config, "config").pointee, options)
        let out = try required(out, "out")
        try s.model.validateRanges()
        try s.options.validate()
        let trainer = try ForecasterTrainer(series: try series(y, "y")!, exogenous: try series(x, "x", optional: true),
                                            config: s.model, options: s.options)
        let log = progressLines(progress, userData)
        try run.start(trainer, log)
        try trainer.run(checkpointPath: run.checkpoint, log: log)
        publish(trainer.forecaster, to: out)
    }
}
