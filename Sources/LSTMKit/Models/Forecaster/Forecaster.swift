import LSTMKitCore
import LSTMKitIO
import LSTMKitLayers

/// How a forecaster scales a series before the network reads it.
public enum ForecastScaling: String, CaseIterable, Sendable {
    /// Every channel as (x − mean) / std of the training part (stored in the model).
    case global
    /// Each target channel as (x − m) / s with m and s the mean and standard deviation of
    /// the window's own context (s at least 1 % of the training std); forecasts are scaled
    /// back with them. Series whose level moves (trends) leave the training range under
    /// global scaling; this follows them. Exogenous channels use the global statistics.
    case window
}

/// Hyper-parameters of the forecaster. `targets`, `exogenous` and the channel statistics
/// are set by the trainer from the data.
public struct ForecasterConfig: Equatable, Sendable {
    /// Steps of history the recurrent layer reads for each forecast (36 chosen on dev over
    /// 12, 24 and 48: bench/forecast_bench.py --dev, docs/FORECASTING.md).
    public var context = 36
    /// Steps forecast at once (direct multi-step output).
    public var horizon = 12
    /// Channels forecast (set from the data).
    public var targets = 1
    /// Exogenous channels, known for the horizon at forecast time (set from the data).
    public var exogenous = 0
    public var hiddenSize = 64
    public var numLayers = 1
    public var cell: RecurrentCell = .lstm
    /// The quantiles the head emits; the median (0.5) is the point forecast.
    public var quantiles: [Float] = [0.1, 0.5, 0.9]
    public var scaling: ForecastScaling = .window
    /// The head also reads the scaled context values themselves (a linear
    /// autoregressive path beside the recurrent state).
    public var linearContext = true
    /// The season for MASE's seasonal-naive scale (1: non-seasonal naive).
    public var season = 1
    /// 0: train on independent windows of `context` steps. Else truncated BPTT: the
    /// recurrent layer reads the training series in consecutive chunks of this many steps,
    /// each starting from the state the previous chunk ended in (detached), with the loss at
    /// every step; forecasts warm the state over the whole history given. See
    /// docs/FORECASTING.md for when it helps (it did not on the benchmark's dev parts).
    public var bpttLength = 0
    public var seed: UInt64 = 1

    public init() {}

    /// Channels per time step: targets, then exogenous inputs.
    public var channels: Int { targets + exogenous }
    /// Features the head reads besides the recurrent state.
    var headExtra: Int { horizon * exogenous + (linearContext ? context * targets : 0) }
    /// The head's outputs per window: (horizon, targets, quantiles).
    var outputs: Int { horizon * targets * quantiles.count }
    /// The quantile that is the point forecast.
    var medianIndex: Int { quantiles.firstIndex(of: 0.5)! }
}

extension ForecasterConfig: HyperParameterized {
    public static var hyperParameters: [HyperParameter<Self>] {
        [
            .int("context", \.context, 1...65536, "Steps of history read for each forecast."),
            .int("horizon", \.horizon, 1...65536, "Steps forecast at once."),
            .int("targets", \.targets, 1...4096, "Channels forecast (set from the data)."),
            .int("exogenous", \.exogenous, 0...4096, "Exogenous channels known for the horizon (set from the data)."),
            .hiddenSize(\.hiddenSize),
            .cell(\.cell),
            .numLayers(\.numLayers),
            .quantiles(\.quantiles),
            .choice("scaling", \.scaling, "How targets are scaled: window (each window's context mean and std) or global (the training part's)."),
            .int("season", \.season, 1...65536, "Season of MASE's seasonal-naive scale (1: naive)."),
            .int("bptt_length", \.bpttLength, 0...65536,
                 "0: train on independent windows; else truncated BPTT over the series in chunks of this many steps, the state carried across them."),
        ]
    }

    public func validateCombination() throws {
        guard context * channels <= 1 << 24, outputs <= 1 << 24, horizon * exogenous <= 1 << 24 else {
            throw LSTMKitError.invalidArgument(
                "context × channels, horizon × exogenous and horizon × targets × quantiles must each be at most \(1 << 24)")
        }
        // The head's weights, sized by these fields (each product above is bounded, so this one cannot overflow).
        let weights = (hiddenSize + headExtra) * outputs
        guard weights <= 1 << 28 else {
            throw LSTMKitError.outOfMemory("the head would need \(weights) weights (at most \(1 << 28)): lower horizon, context or hidden_size")
        }
    }
}

extension HyperParameter {
    /// Quantile levels: 1 to 16 distinct values in (0, 1), ascending, one of them 0.5.
    static func quantiles(_ path: WritableKeyPath<Root, [Float]>) -> HyperParameter {
        let allowed = "1 to 16 ascending levels in (0, 1) including 0.5"
        return HyperParameter(
            name: "quantiles", allowed: allowed, doc: "Quantile levels forecast; 0.5 (the median) is the point forecast.",
            problem: { root, name in
                let v = root[keyPath: path]
                let ok = (1...16).contains(v.count) && v.allSatisfy { $0 > 0 && $0 < 1 }
                    && zip(v, v.dropFirst()).allSatisfy { $0 < $1 } && v.contains(0.5)
                return ok ? nil : "\(name) must be \(allowed), got \(v)"
            },
            edges: { root in
                func with(_ v: [Float]) -> Root {
                    var r = root
                    r[keyPath: path] = v
                    return r
                }
                let sixteen = [0.5] + (1...15).map { 0.5 + Float($0) / 32 }
                return ([[0.5], [Float(0.5).nextDown.nextDown, 0.5, Float(1).nextDown], sixteen].map(with),
                        [[], [0.1, 0.9], [0, 0.5], [0.5, 1], [0.9, 0.5], [0.5, 0.5], [.nan, 0.5], [0.25] + sixteen].map(with))
            },
            parse: { root, text in
                let levels = text.split(separator: ",", omittingEmptySubsequences: false).map { Float($0) }
                guard !levels.contains(nil) else { return "levels separated by commas (\"0.1,0.5,0.9\")" }
                root[keyPath: path] = levels.map { $0! }
                return nil
            },
            text: { $0[keyPath: path].map { String($0) }.joined(separator: ",") })
    }
}

/// A forecast: for each of `horizon` steps and each target, the point forecast (the
/// median) and every quantile.
public struct Forecast: Equatable, Sendable {
    public let horizon: Int
    public let targets: Int
    public let quantiles: [Float]
    /// (horizon, targets)
    public var point: [Float]
    /// (horizon, targets, quantiles), ascending along the last axis.
    public var quantileValues: [Float]
}

/// A series as the forecaster reads it, checked: targets (T, k) and exogenous inputs
/// (T_x, e) with T_x >= T (the rows after T are the future's).
struct ForecastSeries {
    let targets: [Float]
    let exogenous: [Float]
    let length: Int
    let exogenousLength: Int

    /// Checks shapes and values against `config`. `futureSteps`: the exogenous rows
    /// needed after the series (0 in training; the horizon when forecasting).
    init(_ series: Tensor, exogenous x: Tensor?, config c: ForecasterConfig, futureSteps: Int, what: String = "series") throws {
        let shape = series.shape
        guard shape.count == 2 || (shape.count == 1 && c.targets == 1) else {
            throw LSTMKitError.sizeMismatch("the \(what) must be (T,) or (T, targets), got shape \(shape)")
        }
        let k = shape.count == 2 ? shape[1] : 1
        guard k == c.targets else {
            throw LSTMKitError.sizeMismatch("the \(what) has \(k) target channels; this model forecasts \(c.targets)")
        }
        let t = shape[0]
        guard t > 0 else { throw LSTMKitError.invalidArgument("the \(what) is empty") }
        _ = try Sequences(values: series.data, lengths: [t], channels: k)   // NaN and infinities, named by step and channel
        if c.exogenous == 0 {
            guard x == nil || x!.count == 0 else {
                throw LSTMKitError.invalidArgument("this model takes no exogenous inputs, got shape \(x!.shape)")
            }
            (targets, exogenous, length, exogenousLength) = (series.data, [], t, t + futureSteps)
            return
        }
        guard let x else {
            throw LSTMKitError.invalidArgument("this model needs \(c.exogenous) exogenous channels for the \(what) and the \(futureSteps) steps after it")
        }
        let xs = x.shape
        guard xs.count == 2 || (xs.count == 1 && c.exogenous == 1), (xs.count == 2 ? xs[1] : 1) == c.exogenous else {
            throw LSTMKitError.sizeMismatch("exogenous inputs must be (T, \(c.exogenous)), got shape \(xs)")
        }
        guard xs[0] >= t + futureSteps else {
            throw LSTMKitError.sizeMismatch(futureSteps == 0
                ? "exogenous inputs have \(xs[0]) steps for a \(what) of \(t)"
                : "exogenous inputs have \(xs[0]) steps; forecasting after a \(what) of \(t) needs \(t + futureSteps) (the \(futureSteps) future steps of the horizon included)")
        }
        _ = try Sequences(values: x.data, lengths: [xs[0]], channels: c.exogenous)
        (targets, exogenous, length, exogenousLength) = (series.data, x.data, t, xs[0])
    }

    /// The first `steps` steps, targets and exogenous channels side by side (steps, k + e).
    func rows(_ steps: Int, targets k: Int, exogenous e: Int) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(steps * (k + e))
        for r in 0..<steps {
            out += targets[(r * k)..<((r + 1) * k)]
            out += exogenous[(r * e)..<((r + 1) * e)]
        }
        return out
    }
}

/// A forecaster: the recurrent layer reads `context` steps of the (scaled) series and its
/// exogenous inputs; a linear head reads its last output, the horizon's exogenous inputs
/// and (optionally) the context values, and emits horizon × targets × quantiles values,
/// trained with the pinball loss. The median is the point forecast; the outer quantiles
/// give prediction intervals.
public final class Forecaster: Module, ModelFileModel {
    public static let modelKind = "forecaster"

    public let config: ForecasterConfig
    public let recurrent: any RecurrentLayer
    public let head: Linear
    /// Per channel (targets, then exogenous): the training part's mean and standard
    /// deviation (the shared `ChannelScaler`, saved as "scaler.mean", "scaler.std").
    public let scaler: ChannelScaler
    /// Per target and quantile level: how far each level lies from the median, as a
    /// multiple of the network's own distance (1: as trained; the median's is 1). Set on
    /// dev after training (`ForecasterTrainer.calibrate`) so that each level's share of
    /// values below it matches the level. Saved as "interval_scale" (targets, quantiles).
    public let intervalScale: Parameter

    /// `scaler` fitted on the training part (default: identity, for a model being loaded).
    public init(config: ForecasterConfig, scaler: ChannelScaler? = nil) throws {
        try config.validate()
        try Memory.checkModel(parameters: config.parameterEstimate, for: "a forecaster")
        self.config = config
        let n = config.channels
        self.scaler = scaler ?? ChannelScaler(channels: n, maskMissing: false)
        guard self.scaler.channels == n, !self.scaler.maskMissing else {
            throw LSTMKitError.sizeMismatch("a scaler of \(self.scaler.channels) channels for a model of \(n)")
        }
        intervalScale = Parameter(name: "interval_scale", shape: [config.targets, config.quantiles.count],
                                  value: [Float](repeating: 1, count: config.targets * config.quantiles.count))
        var rng = SeededRandom(seed: config.seed)
        recurrent = try config.cell.make(RecurrentConfig(inputSize: n, hiddenSize: config.hiddenSize,
                                                         numLayers: config.numLayers, seed: rng.next()))
        head = Linear(config.hiddenSize + config.headExtra, config.outputs, rng: &rng)
    }

    /// The file's names: "lstm.weight_ih_l0" (the cell's tag), "head.weight", "head.bias",
    /// and the buffers "scaler.mean", "scaler.std" and "interval_scale".
    public var children: [(name: String, module: Module)] {
        [(recurrent.cell.rawValue, recurrent), ("head", head), ("scaler", scaler)]
    }
    public var localBuffers: [Parameter] { [intervalScale] }

    // MARK: Windows

    /// One forecast origin's inputs, scaled: the context (C, k+e), the head's extra
    /// features, and each target's location and scale to undo the scaling.
    struct Window {
        var context: [Float]
        var extra: [Float]
        var location: [Float]
        var scale: [Float]
    }

    /// The window whose first forecast step is `origin` (origin >= context; the series'
    /// exogenous rows must reach origin + horizon).
    func window(_ s: ForecastSeries, origin t: Int) -> Window {
        let c = config
        let (k, e, steps) = (c.targets, c.exogenous, c.context)
        let mean = scaler.mean.value, std = scaler.std.value
        let (location, scale) = targetScaling(s, rows: (t - steps)..<t)
        var x = [Float](repeating: 0, count: steps * (k + e))
        for r in 0..<steps {
            let src = t - steps + r
            for j in 0..<k { x[r * (k + e) + j] = (s.targets[src * k + j] - location[j]) / scale[j] }
            for j in 0..<e { x[r * (k + e) + k + j] = (s.exogenous[src * e + j] - mean[k + j]) / std[k + j] }
        }
        var extra: [Float] = []
        extra.reserveCapacity(c.headExtra)
        for r in t..<(t + c.horizon) {
            for j in 0..<e { extra.append((s.exogenous[r * e + j] - mean[k + j]) / std[k + j]) }
        }
        if c.linearContext {
            for r in 0..<steps { extra += x[(r * (k + e))..<(r * (k + e) + k)] }
        }
        return Window(context: x, extra: extra, location: location, scale: scale)
    }

    /// Each target's location and scale: the training part's mean and std (global
    /// scaling), or the mean and std of the series' `rows` (window scaling; the std at
    /// least 1 % of the training std).
    func targetScaling(_ s: ForecastSeries, rows: Range<Int>) -> (location: [Float], scale: [Float]) {
        let k = config.targets
        let std = scaler.std.value
        var location = Array(scaler.mean.value[0..<k]), scale = Array(std[0..<k])
        guard config.scaling == .window else { return (location, scale) }
        for j in 0..<k {
            var sum = 0.0, squares = 0.0
            for r in rows {
                let v = Double(s.targets[r * k + j])
                sum += v
                squares += v * v
            }
            let m = sum / Double(rows.count)
            let sd = max(squares / Double(rows.count) - m * m, 0).squareRoot()
            location[j] = Float(m)
            scale[j] = max(Float(sd), 0.01 * std[j])
        }
        return (location, scale)
    }

    /// Truncated BPTT's input: the first `steps` steps of the series as the recurrent layer
    /// reads them in one pass, (steps, k + e). Step t's targets are scaled as the window
    /// of origin t + 1 scales its last step (window scaling: by the `context` steps up to
    /// and including t, fewer at the start), so a step reads the same whichever chunk it is
    /// in; exogenous channels by the training part's statistics.
    func stepInputs(_ s: ForecastSeries, steps: Int) -> [Float] {
        let (k, e) = (config.targets, config.exogenous)
        let mean = scaler.mean.value, std = scaler.std.value
        var x = [Float](repeating: 0, count: steps * (k + e))
        for t in 0..<steps {
            let (location, scale) = targetScaling(s, rows: max(0, t + 1 - config.context)..<(t + 1))
            for j in 0..<k { x[t * (k + e) + j] = (s.targets[t * k + j] - location[j]) / scale[j] }
            for j in 0..<e { x[t * (k + e) + k + j] = (s.exogenous[t * e + j] - mean[k + j]) / std[k + j] }
        }
        return x
    }

    // MARK: Forward and backward

    struct Cache {
        var recurrent: RecurrentCache
        var headInput: Tensor
    }

    /// The head's outputs (B, horizon·targets·quantiles) in scaled units.
    func forward(_ windows: [Window], training: Bool) -> (Tensor, Cache?) {
        let c = config
        let b = windows.count
        let x = Tensor(shape: [b, c.context, c.channels], data: windows.flatMap(\.context))
        let lengths = [Int](repeating: c.context, count: b)
        let y: Tensor
        var recurrentCache: RecurrentCache?
        if training {
            let out = recurrent.forward(sequences: x, lengths: lengths, training: true)
            (y, recurrentCache) = (out.y, out.cache)
        } else {
            y = recurrent.infer(sequences: x, lengths: lengths).y
        }
        let hidden = recurrent.config.outputSize
        let headInput = self.headInput(windows) { i in
            let last = (i * c.context + c.context - 1) * hidden
            return y.data[last..<(last + hidden)]
        }
        let out = head.forward(headInput)
        return (out, recurrentCache.map { Cache(recurrent: $0, headInput: headInput) })
    }

    /// The head's input (B, K·H + extra): window i's recurrent output `state(i)`, then its extra features.
    func headInput(_ windows: [Window], state: (Int) -> ArraySlice<Float>) -> Tensor {
        let hidden = recurrent.config.outputSize
        let width = hidden + config.headExtra
        var input = [Float](repeating: 0, count: windows.count * width)
        for i in windows.indices {
            input.replaceSubrange((i * width)..<(i * width + hidden), with: state(i))
            input.replaceSubrange((i * width + hidden)..<((i + 1) * width), with: windows[i].extra)
        }
        return Tensor(shape: [windows.count, width], data: input)
    }

    /// Back-propagates the gradient of the head's outputs into every parameter's grad.
    func backward(_ cache: Cache, outputGrad: Tensor) {
        let c = config
        let b = cache.headInput.shape[0]
        let hidden = recurrent.config.outputSize
        let width = hidden + c.headExtra
        let dInput = head.backward(cache.headInput, outputGrad: outputGrad)
        var dy = [Float](repeating: 0, count: b * c.context * hidden)
        for i in 0..<b {
            let last = (i * c.context + c.context - 1) * hidden
            dy.replaceSubrange(last..<(last + hidden), with: dInput.data[(i * width)..<(i * width + hidden)])
        }
        _ = recurrent.backward(cache.recurrent, outputGrad: Tensor(shape: [b, c.context, hidden], data: dy), finalGrad: nil)
    }

    /// The scaled targets of a training window: (horizon, targets), one value per row of
    /// the head's (·, quantiles) view.
    func scaledTargets(_ s: ForecastSeries, origin t: Int, _ w: Window) -> [Float] {
        let k = config.targets
        var out: [Float] = []
        out.reserveCapacity(config.horizon * k)
        for r in t..<(t + config.horizon) {
            for j in 0..<k { out.append((s.targets[r * k + j] - w.location[j]) / w.scale[j]) }
        }
        return out
    }

    /// Forward, pinball loss and backward on the windows at `origins` of a training
    /// series; returns the loss (in scaled units).
    func trainStep(_ s: ForecastSeries, origins: [Int]) throws -> Float {
        let windows = origins.map { window(s, origin: $0) }
        let (out, cache) = forward(windows, training: true)
        let targets = zip(origins, windows).flatMap { scaledTargets(s, origin: $0, $1) }
        let (loss, grad) = try Loss.pinball(predictions: out, targets: targets, quantiles: config.quantiles)
        backward(cache!, outputGrad: grad)
        return loss
    }

    /// What truncated BPTT's backward needs: the recurrent layer's and the head's caches,
    /// where each scored step's output is in y (its row), and y's shape (B, T, K·H).
    struct ChunkCache {
        var base: Cache
        var rows: [Int]
        var shape: [Int]
    }

    /// Truncated BPTT's forward pass on one chunk of each lane: lane i reads `inputs` (the
    /// series' `stepInputs`) over `chunks[i]`, from `initial` (row i: the state lane i's
    /// previous chunk ended in; nil: zeros), and every step t of it in `scored[i]`
    /// forecasts from origin t + 1. Returns the head's outputs at those steps (N,
    /// horizon·targets·quantiles, scaled units), their origins, each lane's final state and
    /// what backward needs.
    func forwardChunk(_ s: ForecastSeries, inputs: [Float], chunks: [Range<Int>], scored: [Range<Int>],
                      initial: RecurrentState?) -> (out: Tensor, origins: [Int], state: RecurrentState, cache: ChunkCache) {
        let c = config
        let (b, steps, width) = (chunks.count, chunks.map(\.count).max()!, c.channels)
        var x = [Float](repeating: 0, count: b * steps * width)
        for (i, r) in chunks.enumerated() {
            x.replaceSubrange((i * steps * width)..<((i * steps + r.count) * width), with: inputs[(r.lowerBound * width)..<(r.upperBound * width)])
        }
        let out = recurrent.forward(sequences: Tensor(shape: [b, steps, width], data: x), lengths: chunks.map(\.count),
                                    initial: initial, training: true)
        var rows: [Int] = [], origins: [Int] = []
        for (i, r) in chunks.enumerated() {
            for t in r where scored[i].contains(t) {
                rows.append(i * steps + t - r.lowerBound)
                origins.append(t + 1)
            }
        }
        let hidden = recurrent.config.outputSize
        let headInput = self.headInput(origins.map { window(s, origin: $0) }) { n in
            out.y.data[(rows[n] * hidden)..<((rows[n] + 1) * hidden)]
        }
        return (origins.isEmpty ? Tensor(zeros: [0, c.outputs]) : head.forward(headInput), origins, out.state,
                ChunkCache(base: Cache(recurrent: out.cache, headInput: headInput), rows: rows, shape: out.y.shape))
    }

    /// Back-propagates the gradient of `forwardChunk`'s outputs into every parameter's
    /// grad, within the chunk (the initial state is detached: it receives none).
    func backwardChunk(_ cache: ChunkCache, outputGrad: Tensor) {
        let hidden = recurrent.config.outputSize, width = hidden + config.headExtra
        let dInput = head.backward(cache.base.headInput, outputGrad: outputGrad)
        var dy = [Float](repeating: 0, count: cache.shape.reduce(1, *))
        for (n, row) in cache.rows.enumerated() {
            dy.replaceSubrange((row * hidden)..<((row + 1) * hidden), with: dInput.data[(n * width)..<(n * width + hidden)])
        }
        _ = recurrent.backward(cache.base.recurrent, outputGrad: Tensor(shape: cache.shape, data: dy), finalGrad: nil)
    }

    /// Truncated BPTT's training step on one chunk of each lane (`forwardChunk`): the
    /// pinball loss of the scored steps' forecasts, and backward. Returns the loss (nil:
    /// no step was scored, and no gradient), each lane's final state and the steps scored.
    func trainChunk(_ s: ForecastSeries, inputs: [Float], chunks: [Range<Int>], scored: [Range<Int>],
                    initial: RecurrentState?) throws -> (loss: Float?, state: RecurrentState, rows: Int) {
        let f = forwardChunk(s, inputs: inputs, chunks: chunks, scored: scored, initial: initial)
        guard !f.origins.isEmpty else { return (nil, f.state, 0) }
        let targets = f.origins.flatMap { scaledTargets(s, origin: $0, window(s, origin: $0)) }
        let (loss, grad) = try Loss.pinball(predictions: f.out, targets: targets, quantiles: config.quantiles)
        backwardChunk(f.cache, outputGrad: grad)
        return (loss, f.state, f.origins.count)
    }

    /// Truncated BPTT's forecasts: the recurrent output at step `origin` − 1 of each
    /// origin (ascending), from one pass over the series from its first step (the state
    /// warmed over the whole history), run in chunks whose state is carried, so memory
    /// stays one chunk's. (origins.count, K·H)
    func warmedStates(_ s: ForecastSeries, origins: [Int], chunk: Int = 4096) -> [Float] {
        let hidden = recurrent.config.outputSize, width = config.channels
        let steps = origins.last!
        let inputs = stepInputs(s, steps: steps)
        var out = [Float]()
        out.reserveCapacity(origins.count * hidden)
        var state: RecurrentState?
        var next = 0
        for t0 in stride(from: 0, to: steps, by: chunk) {
            let n = min(chunk, steps - t0)
            let x = Tensor(shape: [1, n, width], data: Array(inputs[(t0 * width)..<((t0 + n) * width)]))
            let (y, last) = recurrent.infer(sequences: x, lengths: [n], initial: state)
            state = last
            while next < origins.count && origins[next] - 1 < t0 + n {
                let at = (origins[next] - 1 - t0) * hidden
                out += y.data[at..<(at + hidden)]
                next += 1
            }
        }
        return out
    }

    // MARK: Forecasting

    /// Forecasts at each origin of a checked series, in batches on up to `threads`
    /// threads: per origin (horizon, targets, quantiles) in the series' units, each level's
    /// distance from the median times its `intervalScale` (unless `calibrated` is false),
    /// each step's quantiles sorted (so they never cross).
    func quantileForecasts(_ s: ForecastSeries, origins: [Int], threads: Int, batchSize: Int = 256,
                           calibrated: Bool = true) -> [[Float]] {
        let c = config
        let (k, q, median) = (c.targets, c.quantiles.count, c.medianIndex)
        let widths = calibrated ? intervalScale.value : [Float](repeating: 1, count: k * q)
        let hidden = recurrent.config.outputSize
        let warmed = c.bpttLength > 0 ? warmedStates(s, origins: origins) : nil
        let starts = Array(stride(from: 0, to: origins.count, by: batchSize))
        let results = ResultSlots<[[Float]]>(count: starts.count)
        parallelForEach(starts.count, threads: threads) { i in
            let batch = Array(origins[starts[i]..<min(starts[i] + batchSize, origins.count)])
            let windows = batch.map { self.window(s, origin: $0) }
            let out = warmed.map { states in
                self.head.forward(self.headInput(windows) { j in
                    let at = (starts[i] + j) * hidden
                    return states[at..<(at + hidden)]
                })
            } ?? self.forward(windows, training: false).0
            results.set(i, windows.enumerated().map { b, w in
                var values = Array(out.data[(b * c.outputs)..<((b + 1) * c.outputs)])
                for row in 0..<(c.horizon * k) {
                    let j = row % k
                    let raw = values[(row * q)..<((row + 1) * q)]
                    let m = raw[row * q + median]
                    var v = raw.enumerated().map { i, x in w.location[j] + w.scale[j] * (m + widths[j * q + i] * (x - m)) }
                    v.sort()
                    values.replaceSubrange((row * q)..<((row + 1) * q), with: v)
                }
                return values
            })
        }
        return results.values.flatMap { $0 }
    }

    /// `forecasts`, or an error when one overflowed (values far beyond float32's range
    /// once scaled back: a series of huge values, or weights from a tampered file).
    func finite(_ forecasts: [[Float]]) throws -> [[Float]] {
        guard let i = forecasts.firstIndex(where: { !$0.allSatisfy(\.isFinite) }) else { return forecasts }
        throw LSTMKitError.invalidArgument("forecast \(i) is not finite: the series' values are too large for float32 once forecast")
    }

    /// Forecasts the `horizon` steps (at most the model's) after `series` (T, targets),
    /// T >= context. `exogenous` (T + model horizon, exogenous) covers the series and the
    /// model's whole horizon after it (the head reads every future step); nil without
    /// exogenous channels.
    public func forecast(_ series: Tensor, exogenous: Tensor? = nil, horizon: Int? = nil) throws -> Forecast {
        let c = config
        let h = horizon ?? c.horizon
        guard h >= 1, h <= c.horizon else {
            throw LSTMKitError.invalidArgument("horizon must be in [1, \(c.horizon)] (the model's horizon), got \(h)")
        }
        let s = try ForecastSeries(series, exogenous: exogenous, config: c, futureSteps: c.horizon)
        guard s.length >= c.context else {
            throw LSTMKitError.invalidArgument("the series has \(s.length) steps; this model reads the last \(c.context)")
        }
        let values = try finite(quantileForecasts(s, origins: [s.length], threads: 1))[0]
        let (k, q) = (c.targets, c.quantiles.count)
        let kept = Array(values.prefix(h * k * q))
        let point = (0..<(h * k)).map { kept[$0 * q + c.medianIndex] }
        return Forecast(horizon: h, targets: k, quantiles: c.quantiles, point: point, quantileValues: kept)
    }

    /// Rolling-origin evaluation: forecasts the horizon from every `stride`-th origin from
    /// `start` (the first forecast step; start >= context) while a whole horizon fits in
    /// the series, and scores them against it. MASE's scale is the seasonal naive's mean
    /// absolute error on the series before `start` (with `season`, else the model's).
    public func evaluate(_ series: Tensor, exogenous: Tensor? = nil, start: Int, season: Int? = nil,
                         stride step: Int = 1, threads: Int = 1) throws -> ForecastScore {
        let c = config
        let s = try ForecastSeries(series, exogenous: exogenous, config: c, futureSteps: 0)
        let m = season ?? c.season
        guard m >= 1 else { throw LSTMKitError.invalidArgument("season must be >= 1, got \(m)") }
        guard step >= 1 else { throw LSTMKitError.invalidArgument("stride must be >= 1, got \(step)") }
        guard start >= c.context, start > m else {
            throw LSTMKitError.invalidArgument("the first origin \(start) must leave the context (\(c.context) steps) and one season (\(m)) before it")
        }
        guard start + c.horizon <= s.length else {
            throw LSTMKitError.invalidArgument("the series has \(s.length) steps: no horizon of \(c.horizon) fits after step \(start)")
        }
        let origins = Array(Swift.stride(from: start, through: s.length - c.horizon, by: step))
        let forecasts = try finite(quantileForecasts(s, origins: origins, threads: threads))
        return ForecastScore(series: s.targets, targets: c.targets, start: start, season: m, origins: origins,
                             horizon: c.horizon, quantiles: c.quantiles, forecasts: forecasts)
    }

    // MARK: Files

    public func modelFile() -> SafeTensors {
        let c = config
        return SafeTensors(
            metadata: ModelFile.header(kind: Self.modelKind, quantized: isQuantized) + [
                ("context", String(c.context)),
                ("horizon", String(c.horizon)),
                ("targets", String(c.targets)),
                ("exogenous", String(c.exogenous)),
                ("hidden_size", String(c.hiddenSize)),
                ("num_layers", String(c.numLayers)),
            ] + ModelFile.cellMetadata(c.cell) + [
                ("quantiles", c.quantiles.map { String($0) }.joined(separator: ",")),
                ("scaling", c.scaling.rawValue),
                ("linear_context", c.linearContext ? "true" : "false"),
                ("season", String(c.season)),
                ("seed", String(c.seed)),
            ] + (c.bpttLength > 0 ? [("bptt_length", String(c.bpttLength))] : []),
            tensors: ModelFile.tensors(of: self))
    }

    public convenience init(modelFile file: SafeTensors) throws {
        try ModelFile.checkKind(file, expected: Self.modelKind)
        var c = ForecasterConfig()
        c.context = try ModelFile.int(file, "context")
        c.horizon = try ModelFile.int(file, "horizon")
        c.targets = try ModelFile.int(file, "targets")
        c.exogenous = try ModelFile.int(file, "exogenous")
        c.hiddenSize = try ModelFile.int(file, "hidden_size")
        c.numLayers = try ModelFile.int(file, "num_layers")
        c.cell = try ModelFile.cell(file)
        let quantiles = (file.metadata("quantiles") ?? "").split(separator: ",").map { Float($0) }
        guard !quantiles.isEmpty, !quantiles.contains(nil) else { throw LSTMKitError.invalidFormat("metadata \"quantiles\" must be numbers") }
        c.quantiles = quantiles.map { $0! }
        guard let scaling = ForecastScaling(rawValue: file.metadata("scaling") ?? "") else {
            throw LSTMKitError.invalidFormat("metadata \"scaling\" must be global or window")
        }
        c.scaling = scaling
        c.linearContext = try ModelFile.bool(file, "linear_context")
        c.season = try ModelFile.int(file, "season")
        c.seed = UInt64(file.metadata("seed") ?? "1") ?? 1
        c.bpttLength = try file.metadata("bptt_length") == nil ? 0 : ModelFile.int(file, "bptt_length")
        do {
            try c.validate()
            let name = c.cell.rawValue
            try ModelFile.checkSizes(file, ModelFile.recurrentSizes(prefix: name + ".", hiddenSize: c.hiddenSize, numLayers: c.numLayers) + [
                ("targets", c.channels, name + ".weight_ih_l0", 1), ("exogenous", c.channels, "scaler.mean", 0),
                ("horizon", c.outputs, "head.weight", 0), ("context", c.hiddenSize + c.headExtra, "head.weight", 1),
            ])
            try self.init(config: c)
        } catch let e as LSTMKitError {
            throw LSTMKitError.invalidFormat("invalid hyper-parameters: \(e.message)")
        }
        try ModelFile.load(file, into: self)
        guard scaler.std.value.allSatisfy({ $0 > 0 }) else { throw LSTMKitError.invalidFormat("tensor \"scaler.std\" must be > 0") }
        guard intervalScale.value.allSatisfy({ $0 >= 0 }) else { throw LSTMKitError.invalidFormat("tensor \"interval_scale\" must be >= 0") }
    }
}

extension ForecasterConfig {
    /// The recurrent layer's shape (its seed aside), for the memory estimates.
    var recurrent: RecurrentConfig { RecurrentConfig(inputSize: channels, hiddenSize: hiddenSize, numLayers: numLayers) }

    /// An upper bound of the weights, for `Memory.checkModel`.
    var parameterEstimate: Double {
        recurrent.parameterEstimate + FloatCount.linear(hiddenSize + headExtra, outputs) + Double(targets * quantiles.count)
            + 2 * Double(channels)   // interval scales; the scaler's mean and std
    }
}
