import Foundation
import Testing
@testable import LSTMKit

@Suite("Forecaster")
struct ForecasterTests {
    /// Two incommensurate waves and a trend: the seasonal naive (season 12) is not exact.
    static func wave(_ n: Int) -> [Float] {
        (0..<n).map { t in
            let x = Double(t)
            return Float(10 + 0.05 * x + 2 * sin(2 * .pi * x / 12) + sin(2 * .pi * x / 7.3))
        }
    }

    /// The seasonal naive's MASE (season 12) on the origins from `start`, with the scale evaluate uses.
    static func seasonalNaiveMASE(_ all: [Float], start test: Int, horizon: Int) -> Double {
        var naive = 0.0, n = 0.0
        for origin in test...(all.count - horizon) {
            for step in 0..<horizon {
                naive += Double(abs(all[origin + step] - all[origin - 12 + step % 12]))
                n += 1
            }
        }
        var scale = 0.0
        for t in 12..<test { scale += Double(abs(all[t] - all[t - 12])) }
        return naive / n / (scale / Double(test - 12))
    }

    func tiny(scaling: ForecastScaling = .window, exogenous: Int = 1, targets: Int = 2, cell: RecurrentCell = .lstm,
              bptt: Int = 0) throws -> (Forecaster, ForecastSeries) {
        var c = ForecasterConfig()
        (c.context, c.horizon, c.targets, c.exogenous, c.hiddenSize, c.numLayers) = (4, 3, targets, exogenous, 3, 2)
        (c.cell, c.bpttLength) = (cell, bptt)
        c.quantiles = [0.2, 0.5, 0.7]
        c.scaling = scaling
        let channels = targets + exogenous
        let scaler = ChannelScaler(channels: channels, maskMissing: false)
        scaler.mean.value = randomArray(channels, seed: 3)
        scaler.std.value = randomArray(channels, seed: 4).map { 1.5 + $0 }
        let model = try Forecaster(config: c, scaler: scaler)
        let t = 12
        let series = Tensor(shape: [t, targets], data: randomArray(t * targets, seed: 5, scale: 3))
        let x = exogenous > 0 ? Tensor(shape: [t, exogenous], data: randomArray(t * exogenous, seed: 6)) : nil
        return (model, try ForecastSeries(series, exogenous: x, config: c, futureSteps: 0))
    }

    @Test("the pinball loss's gradient matches finite differences")
    func pinballGradient() throws {
        let quantiles: [Float] = [0.1, 0.5, 0.9]
        let p = randomArray(12, seed: 1, scale: 2)
        let y = randomArray(4, seed: 2, scale: 2)
        let (loss, grad) = try Loss.pinball(predictions: Tensor(shape: [4, 3], data: p), targets: y, quantiles: quantiles)
        // Piecewise linear: a step of 1e-2 stays on one side of every kink here.
        let numeric = numericGradient(p, h: 1e-2) { v in
            Double(try! Loss.pinball(predictions: Tensor(shape: [4, 3], data: v), targets: y, quantiles: quantiles).loss)
        }
        expectClose(grad.data, numeric, tol: 1e-3, "d pinball")
        // Against the definition, in double.
        var expected = 0.0
        for r in 0..<4 {
            for (j, tau) in quantiles.enumerated() {
                let e = Double(y[r] - p[r * 3 + j])
                expected += max(Double(tau) * e, (Double(tau) - 1) * e)
            }
        }
        #expect(abs(Double(loss) - expected / 12) < 1e-6)
        #expect(throws: LSTMKitError.self) { try Loss.pinball(predictions: Tensor(shape: [4, 2], data: Array(p.prefix(8))), targets: y, quantiles: quantiles) }
    }

    @Test("every gradient of the network matches finite differences", arguments: [ForecastScaling.window, .global])
    func gradients(_ scaling: ForecastScaling) throws {
        // The network under a random linear functional of its outputs (the pinball loss's
        // own gradient is checked above; its kinks would spoil finite differences here).
        let (model, s) = try tiny(scaling: scaling)
        let windows = [4, 6, 9].map { model.window(s, origin: $0) }
        let w = randomArray(3 * model.config.outputs, seed: 9)
        model.zeroGrad()
        let (out, cache) = model.forward(windows, training: true)
        model.backward(cache!, outputGrad: Tensor(shape: out.shape, data: w))
        for p in model.parameters {
            let saved = p.value
            let numeric = numericGradient(saved) { v in
                p.value = v
                defer { p.value = saved }
                return dot(model.forward(windows, training: false).0.data, w)
            }
            expectClose(p.grad, numeric, tol: 5e-3, floor: 1e-2, "d\(p.name) (\(scaling))")
        }
    }

    @Test("truncated BPTT: every gradient of a chunk from a carried state matches finite differences",
          arguments: [ForecastScaling.window, .global], RecurrentCell.allCases)
    func chunkGradients(_ scaling: ForecastScaling, _ cell: RecurrentCell) throws {
        let (model, s) = try tiny(scaling: scaling, cell: cell, bptt: 3)
        let inputs = model.stepInputs(s, steps: 9)
        // Two lanes, one shorter; lane 0 scores from step 3 (origin 4 = context), lane 1 all of its steps.
        let (chunks, scored) = ([2..<7, 5..<9], [3..<9, 0..<9])
        let shape = [2, 2, 3]
        let initial = RecurrentState(h: randomTensor(shape, seed: 7, scale: 0.5),
                                     c: cell == .lstm ? randomTensor(shape, seed: 8, scale: 0.5) : nil)
        model.zeroGrad()
        let f = model.forwardChunk(s, inputs: inputs, chunks: chunks, scored: scored, initial: initial)
        #expect(f.origins == [4, 5, 6, 7, 6, 7, 8, 9])
        let w = randomArray(f.out.count, seed: 9)
        model.backwardChunk(f.cache, outputGrad: Tensor(shape: f.out.shape, data: w))
        for p in model.parameters {
            let saved = p.value
            let numeric = numericGradient(saved) { v in
                p.value = v
                defer { p.value = saved }
                return dot(model.forwardChunk(s, inputs: inputs, chunks: chunks, scored: scored, initial: initial).out.data, w)
            }
            expectClose(p.grad, numeric, tol: 5e-3, floor: 1e-2, "d\(p.name) (\(scaling), \(cell))")
        }
        // The loss step is the pinball loss of these outputs.
        let targets = f.origins.flatMap { model.scaledTargets(s, origin: $0, model.window(s, origin: $0)) }
        let step = try model.trainChunk(s, inputs: inputs, chunks: chunks, scored: scored, initial: initial)
        #expect(step.loss == (try Loss.pinball(predictions: f.out, targets: targets, quantiles: model.config.quantiles)).loss)
        #expect(step.rows == 8 && step.state == f.state)
    }

    @Test("truncated BPTT: a step reads the same in any chunk; chunks carrying the state equal one pass", arguments: RecurrentCell.allCases)
    func carriedState(_ cell: RecurrentCell) throws {
        let (model, s) = try tiny(cell: cell, bptt: 3)
        let inputs = model.stepInputs(s, steps: 12)
        // Step t's input is the last row of the window of origin t + 1.
        for t in 3..<9 {
            let w = model.window(s, origin: t + 1)
            expectClose(Array(inputs[(t * 3)..<(t * 3 + 3)]), Array(w.context[(3 * 3)..<(4 * 3)]), tol: 1e-6, "step \(t)")
        }
        // (Origins up to 9: the horizon's exogenous rows and targets end at the series' end.)
        let whole = model.forwardChunk(s, inputs: inputs, chunks: [0..<12], scored: [3..<9], initial: nil)
        let first = model.forwardChunk(s, inputs: inputs, chunks: [0..<5], scored: [3..<9], initial: nil)
        let second = model.forwardChunk(s, inputs: inputs, chunks: [5..<12], scored: [3..<9], initial: first.state)
        #expect(first.origins + second.origins == whole.origins)
        expectClose(first.out.data + second.out.data, whole.out.data, tol: 1e-5, "chunked outputs")
        expectClose(second.state.h.data, whole.state.h.data, tol: 1e-5, "final state")
        // Forecasting warms the state over the whole history, in chunks of any size.
        let origins = [4, 7, 8, 12]
        let warmed = model.warmedStates(s, origins: origins)
        #expect(model.warmedStates(s, origins: origins, chunk: 3) == warmed)
        let pass = model.recurrent.infer(sequences: Tensor(shape: [1, 12, 3], data: inputs), lengths: [12], initial: nil).y
        for (i, o) in origins.enumerated() {
            #expect(Array(warmed[(i * 3)..<(i * 3 + 3)]) == Array(pass.data[((o - 1) * 3)..<(o * 3)]))
        }
    }

    @Test("truncated BPTT learns a seasonal series better than the seasonal naive; bptt_length is saved, default files unchanged")
    func learnsWithTruncatedBPTT() throws {
        let all = Self.wave(360)
        let test = 300
        var c = ForecasterConfig()
        (c.context, c.horizon, c.hiddenSize, c.season, c.bpttLength) = (24, 6, 16, 12, 12)
        var o = ForecasterTrainingOptions()
        (o.epochs, o.patience, o.logEvery) = (40, 40, 1000)
        let trainer = try ForecasterTrainer(series: Tensor(shape: [test], data: Array(all.prefix(test))), config: c, options: o)
        // 300 steps, 45 dev: origins 24...249 (226), in 226 / 24 = 9 lanes of 26 origins (the last of 18).
        #expect(trainer.lanes.count == 9 && trainer.lanes[0] == 0..<49 && trainer.lanes.last == 208..<249)
        var lines: [String] = []
        try trainer.run { lines.append($0) }
        #expect(lines.first?.hasSuffix("truncated BPTT in chunks of 12 steps, 9 lanes") == true)
        let model = trainer.forecaster
        let score = try model.evaluate(Tensor(shape: [all.count], data: all), start: test)
        let naive = Self.seasonalNaiveMASE(all, start: test, horizon: c.horizon)
        #expect(score.mase < 0.5 * naive, "MASE \(score.mase) vs seasonal naive \(naive)")
        let path = NSTemporaryDirectory() + "forecaster-bptt-\(getpid()).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try model.save(to: path)
        let loaded = try Forecaster.load(from: path)
        #expect(loaded.config.bpttLength == 12 && loaded.config == model.config)
        let history = Tensor(shape: [test], data: Array(all.prefix(test)))
        #expect(try loaded.forecast(history) == model.forecast(history))
        #expect(model.modelFile().metadata.contains { $0.0 == "bptt_length" && $0.1 == "12" })
        #expect(!(try Forecaster(config: ForecasterConfig())).modelFile().metadata.contains { $0.0 == "bptt_length" })
    }

    @Test("learns a noiseless seasonal series better than the seasonal naive")
    func learnsSeasonalSeries() throws {
        let all = Self.wave(360)
        let test = 300   // trained on the first 300 steps (the last 15 % of them dev), scored after
        var c = ForecasterConfig()
        (c.context, c.horizon, c.hiddenSize, c.season) = (24, 6, 16, 12)
        var o = ForecasterTrainingOptions()
        (o.epochs, o.patience, o.logEvery) = (40, 40, 1000)
        let trainer = try ForecasterTrainer(series: Tensor(shape: [test], data: Array(all.prefix(test))), config: c, options: o)
        try trainer.run { _ in }
        let model = trainer.forecaster
        let score = try model.evaluate(Tensor(shape: [all.count], data: all), start: test)
        let naiveMASE = Self.seasonalNaiveMASE(all, start: test, horizon: c.horizon)
        #expect(score.mase < 0.5 * naiveMASE, "MASE \(score.mase) vs seasonal naive \(naiveMASE)")
        #expect(score.coverage > 0.3, "\(score.summary)")
        let f = try model.forecast(Tensor(shape: [test], data: Array(all.prefix(test))), horizon: 4)
        #expect(f.point.count == 4 && f.quantileValues.count == 12)
        for i in 0..<4 {
            let q = Array(f.quantileValues[(i * 3)..<(i * 3 + 3)])
            #expect(q == q.sorted() && q[1] == f.point[i])
        }
    }

    @Test("calibration on dev puts each level's share of dev values below it at the level")
    func calibration() throws {
        var rng = SeededRandom(seed: 11)
        let noisy = Self.wave(400).map { $0 + rng.uniform(-1.5, 1.5) }
        var c = ForecasterConfig()
        (c.context, c.horizon, c.hiddenSize, c.quantiles) = (24, 4, 8, [0.1, 0.25, 0.5, 0.9])
        var o = ForecasterTrainingOptions()
        (o.epochs, o.logEvery, o.calibrateIntervals) = (3, 1000, true)
        let trainer = try ForecasterTrainer(series: Tensor(shape: [400], data: noisy), config: c, options: o)
        var lines: [String] = []
        try trainer.run { lines.append($0) }
        #expect(lines.last?.hasPrefix("intervals calibrated on dev") == true)
        let model = trainer.forecaster
        #expect(model.intervalScale.value[2] == 1 && model.intervalScale.value != [1, 1, 1, 1])
        let origins = Array(trainer.devStart...(400 - 4))
        let forecasts = model.quantileForecasts(trainer.checked, origins: origins, threads: 1)
        for (i, tau) in c.quantiles.enumerated() where tau != 0.5 {
            var below = 0, n = 0
            for (origin, f) in zip(origins, forecasts) {
                for step in 0..<4 {
                    below += noisy[origin + step] < f[step * 4 + i] ? 1 : 0
                    n += 1
                }
            }
            #expect(abs(Double(below) / Double(n) - Double(tau)) < 0.03, "level \(tau): \(below) of \(n) below")
        }
    }

    @Test("multivariate series with exogenous inputs train, forecast and save/load bit-exactly")
    func saveLoadExact() throws {
        let n = 80
        let y = Tensor(shape: [n, 2], data: Self.wave(2 * n))
        let x = Tensor(shape: [n + 5, 1], data: (0..<(n + 5)).map { Float($0 % 7) })
        var c = ForecasterConfig()
        (c.context, c.horizon, c.hiddenSize, c.cell) = (8, 5, 4, .lstm)
        var o = ForecasterTrainingOptions()
        (o.epochs, o.logEvery) = (2, 1000)
        let trainer = try ForecasterTrainer(series: y, exogenous: Tensor(shape: [n, 1], data: Array(x.data.prefix(n))), config: c, options: o)
        try trainer.run { _ in }
        let model = trainer.forecaster
        #expect(model.config.targets == 2 && model.config.exogenous == 1)
        let f = try model.forecast(y, exogenous: x)
        #expect(f.point.count == 10 && f.quantileValues.count == 30)
        let path = NSTemporaryDirectory() + "forecaster-\(getpid()).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try model.save(to: path)
        let loaded = try Forecaster.load(from: path)
        #expect(loaded.config == model.config)
        #expect(try loaded.forecast(y, exogenous: x) == f)
        #expect(loaded.modelFile().serialized() == model.modelFile().serialized())
        // Future exogenous rows are required for the whole horizon.
        #expect(throws: LSTMKitError.self) { try model.forecast(y, exogenous: Tensor(shape: [n + 4, 1], data: Array(x.data.prefix(n + 4)))) }
        #expect(throws: LSTMKitError.self) { try model.forecast(y) }
    }

    @Test("bad input is refused with a message")
    func errors() throws {
        let c = ForecasterConfig()
        let o = ForecasterTrainingOptions()
        func message(_ body: () throws -> Void) -> String {
            do { try body() } catch let e as LSTMKitError { return e.message } catch { return "\(error)" }
            return ""
        }
        var series = Self.wave(200)
        series[37] = .nan
        #expect(message { _ = try ForecasterTrainer(series: Tensor(shape: [200], data: series), config: c, options: o) }.contains("step 37"))
        #expect(message { _ = try ForecasterTrainer(series: Tensor(shape: [0], data: []), config: c, options: o) }.contains("empty"))
        #expect(message { _ = try ForecasterTrainer(series: Tensor(shape: [40], data: Self.wave(40)), config: c, options: o) }.contains("too short"))
        var long = c
        long.horizon = 500
        #expect(message { _ = try ForecasterTrainer(series: Tensor(shape: [200], data: Self.wave(200)), config: long, options: o) }.contains("too short"))
        var huge = c
        (huge.horizon, huge.exogenous, huge.context) = (65536, 200, 65536)
        #expect(message { _ = try Forecaster(config: huge) }.contains("weights"))
        // Outputs that overflow once scaled back (weights as a tampered file could hold).
        let wild = try Forecaster(config: c)
        wild.head.bias!.value = [Float](repeating: 1e30, count: wild.head.outFeatures)
        #expect(message { _ = try wild.forecast(Tensor(shape: [36], data: (0..<36).map { $0 % 2 == 0 ? 1e20 : -1e20 })) }.contains("not finite"))
        var badQuantiles = c
        badQuantiles.quantiles = [0.1, 0.9]
        #expect(message { _ = try Forecaster(config: badQuantiles) }.contains("quantiles"))
        let model = try Forecaster(config: c)
        #expect(message { _ = try model.forecast(Tensor(shape: [10], data: Self.wave(10))) }.contains("last 36"))
        #expect(message { _ = try model.forecast(Tensor(shape: [30], data: Self.wave(30)), horizon: 13) }.contains("horizon"))
        #expect(message { _ = try model.forecast(Tensor(shape: [15, 2], data: Self.wave(30))) }.contains("target channels"))
        #expect(message { _ = try model.forecast(Tensor(shape: [30], data: Self.wave(30)), exogenous: Tensor(shape: [42, 1], data: Self.wave(42))) }.contains("no exogenous"))
        #expect(message { _ = try model.evaluate(Tensor(shape: [40], data: Self.wave(40)), start: 36) }.contains("no horizon"))
    }

    @Test("a tampered file is refused")
    func tamperedFile() throws {
        let model = try Forecaster(config: ForecasterConfig())
        var file = model.modelFile()
        file.metadata = file.metadata.map { $0.0 == "horizon" ? ($0.0, "11") : $0 }
        #expect(throws: LSTMKitError.self) { try Forecaster(modelFile: file) }
        file = model.modelFile()
        file.metadata = file.metadata.map { $0.0 == "quantiles" ? ($0.0, "0.1,0.9") : $0 }
        #expect(throws: LSTMKitError.self) { try Forecaster(modelFile: file) }
        file = model.modelFile()
        file.metadata = file.metadata.map { $0.0 == "scaling" ? ($0.0, "none") : $0 }
        #expect(throws: LSTMKitError.self) { try Forecaster(modelFile: file) }
        for bad in ["-1", "65537", "x"] {
            file = model.modelFile()
            file.metadata.append(("bptt_length", bad))
            #expect(throws: LSTMKitError.self) { try Forecaster(modelFile: file) }
        }
    }

    @Test("the golden file loads, its tree derives the file's names, and it saves back byte for byte")
    func golden() throws {
        let path = TamperedModelFileTests.golden + "/forecaster/forecaster.safetensors"
        let file = try SafeTensors.read(from: path)
        let model = try Forecaster(modelFile: file)
        #expect(ModuleTreeTests.derivedNames(model) == file.tensors.map(\.name))
        #expect(model.modelFile().serialized() == Array(try FileIO.read(path)))
        #expect(model.config.quantiles == [0.1, 0.25, 0.5, 0.75, 0.9] && model.config.targets == 2 && model.config.exogenous == 1)
    }

    @Test("the hyper-parameter table refuses each bound's neighbours")
    func table() throws {
        for p in ForecasterConfig.hyperParameters {
            let (inside, outside) = p.edges(ForecasterConfig())
            for c in inside { #expect(p.problem(in: c) == nil, "\(p.name)") }
            for c in outside { #expect(p.problem(in: c) != nil, "\(p.name)") }
        }
    }
}
