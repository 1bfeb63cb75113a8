import Foundation
import Testing
@testable import LSTMKit
@testable import LSTMKitCore
@testable import LSTMKitLayers

/// Centred differences at a sample of entries only (whole-model checks would otherwise
/// run thousands of forward passes); returns (indices, numeric gradient there).
private func sampledGradient(_ x: [Float], samples: Int, seed: UInt64, h: Float,
                             _ f: ([Float]) -> Double) -> ([Int], [Double]) {
    var rng = SeededRandom(seed: seed)
    let indices = x.count <= samples ? Array(x.indices) : (0..<samples).map { _ in Int(rng.next() % UInt64(x.count)) }
    var v = x
    let numeric = indices.map { i -> Double in
        let old = v[i]
        v[i] = old + h
        let up = f(v)
        v[i] = old - h
        let down = f(v)
        v[i] = old
        return (up - down) / (2 * Double(h))
    }
    return (indices, numeric)
}

/// Checks every parameter of `parameters` (at sampled entries) against `loss`.
private func checkParameters(_ parameters: [Parameter], analytic: [[Float]], samples: Int = 12, h: Float = 1e-2,
                             tol: Double, floor: Double = 1e-2, _ what: String, loss: () -> Double) {
    for (k, (p, g)) in zip(parameters, analytic).enumerated() {
        let saved = p.value
        let (at, numeric) = sampledGradient(saved, samples: samples, seed: UInt64(k), h: h) { v in
            p.value = v
            defer { p.value = saved }
            return loss()
        }
        expectClose(at.map { g[$0] }, numeric, tol: tol, floor: floor, "\(what): d\(p.name)")
    }
}

/// The flat index of element (n, c, y, x) of a 4-D tensor of `shape`.
private func flat(_ shape: [Int], _ n: Int, _ c: Int, _ y: Int, _ x: Int) -> Int {
    ((n * shape[1] + c) * shape[2] + y) * shape[3] + x
}

private func errorMessage(_ body: () throws -> Void) -> String {
    do { try body(); return "" } catch let e as LSTMKitError { return e.message } catch { return "\(error)" }
}

@Suite("Image segmenter")
struct SegmenterTests {
    // MARK: Layers

    @Test("concat/split, pad/crop and NHWC/NCHW are inverse or adjoint pairs")
    func channelOps() {
        let a = randomTensor([2, 3, 4, 5], seed: 1), b = randomTensor([2, 2, 4, 5], seed: 2)
        let ab = ChannelOps.concat([a, b])
        #expect(ab.shape == [2, 5, 4, 5])
        #expect(ab.data[flat(ab.shape, 1, 3, 2, 1)] == b.data[flat(b.shape, 1, 0, 2, 1)])
        #expect(ChannelOps.split(ab, channels: [3, 2]) == [a, b])
        let padded = ChannelOps.pad(a, bottom: 3, right: 1)
        #expect(padded.shape == [2, 3, 7, 6])
        #expect(ChannelOps.crop(padded, height: 4, width: 5) == a)
        let y = randomTensor(padded.shape, seed: 3)
        #expect(abs(dot(padded.data, y.data) - dot(a.data, ChannelOps.crop(y, height: 4, width: 5).data)) < 1e-4)
        let nhwc = ChannelOps.channelsLast(a)
        #expect(nhwc.shape == [2, 4, 5, 3])
        #expect(nhwc.data[flat(nhwc.shape, 1, 2, 1, 2)] == a.data[flat(a.shape, 1, 2, 2, 1)])
        #expect(ChannelOps.channelsFirst(nhwc) == a)
    }

    /// The transposed convolution's definition (checked against PyTorch's
    /// nn.ConvTranspose2d): input pixel (i, j) adds x·W[c, o, ki, kj] at (i·s - p + ki, j·s - p + kj).
    func naiveTransposed(_ m: ConvTranspose2D, _ x: Tensor) -> [Float] {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (ho, wo) = m.outputSize(height: h, width: w)!
        var out = [Double](repeating: 0, count: n * m.outChannels * ho * wo)
        for s in 0..<n {
            for o in 0..<m.outChannels {
                for i in 0..<(ho * wo) { out[(s * m.outChannels + o) * ho * wo + i] = Double(m.bias!.value[o]) }
                for ch in 0..<c {
                    for i in 0..<h {
                        for j in 0..<w {
                            for ki in 0..<m.kernel.h {
                                for kj in 0..<m.kernel.w {
                                    let (y, xx) = (i * m.stride.h - m.padding.h + ki, j * m.stride.w - m.padding.w + kj)
                                    guard y >= 0, y < ho, xx >= 0, xx < wo else { continue }
                                    let wv = m.weight.value[((ch * m.outChannels + o) * m.kernel.h + ki) * m.kernel.w + kj]
                                    out[((s * m.outChannels + o) * ho + y) * wo + xx] += Double(wv) * Double(x.data[((s * c + ch) * h + i) * w + j])
                                }
                            }
                        }
                    }
                }
            }
        }
        return out.map(Float.init)
    }

    @Test("ConvTranspose2D equals its definition; dx, dW, db match finite differences",
          arguments: [(2, 2, 0), (3, 2, 1), (3, 1, 0)])
    func convTranspose(_ k: Int, _ s: Int, _ p: Int) {
        var rng = SeededRandom(seed: 10)
        let m = ConvTranspose2D(2, 3, kernel: (k, k), stride: (s, s), padding: (p, p), rng: &rng)
        let x = randomTensor([2, 2, 3, 4], seed: 11)
        let y = m.forward(x)
        #expect(y.shape == [2, 3, (3 - 1) * s - 2 * p + k, (4 - 1) * s - 2 * p + k])
        expectClose(y.data, naiveTransposed(m, x), tol: 1e-5, "forward k\(k) s\(s) p\(p)")
        let w = randomArray(y.count, seed: 12)
        let dx = m.backward(x, outputGrad: Tensor(shape: y.shape, data: w))
        expectClose(dx.data, numericGradient(x.data) { dot(m.forward(Tensor(shape: x.shape, data: $0)).data, w) },
                    tol: 2e-3, floor: 1e-2, "dx")
        for q in m.parameters {
            let saved = q.value
            let numeric = numericGradient(saved) { v in q.value = v; defer { q.value = saved }; return dot(m.forward(x).data, w) }
            expectClose(q.grad, numeric, tol: 2e-3, floor: 1e-2, "d\(q.name)")
        }
        // Many small image groups give the same result as one.
        let budget = Conv2D.columnBudget
        Conv2D.columnBudget = 1
        defer { Conv2D.columnBudget = budget }
        #expect(m.forward(x) == y)
    }

    @Test("bilinear ×2 matches PyTorch (align_corners=False); backward is its adjoint")
    func bilinear() {
        let up = BilinearUpsample(scale: 2)
        let y = up.forward(Tensor(shape: [1, 1, 2, 2], data: [1, 2, 3, 4]))
        #expect(y.data == [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4])
        let x = randomTensor([2, 2, 3, 5], seed: 13)
        let w = randomArray(2 * 2 * 6 * 10, seed: 14)
        let dx = up.backward(x.shape, outputGrad: Tensor(shape: [2, 2, 6, 10], data: w))
        expectClose(dx.data, numericGradient(x.data) { dot(up.forward(Tensor(shape: x.shape, data: $0)).data, w) },
                    tol: 1e-3, floor: 1e-2, "dx")
    }

    @Test("BatchNorm2D: batch statistics in training, running ones in evaluation; gradients")
    func batchNorm() {
        let bn = BatchNorm2D(3)
        bn.weight.value = [1.5, 0.5, -1]
        bn.bias.value = [0.1, -0.2, 0.3]
        let x = randomTensor([2, 3, 3, 4], seed: 15, scale: 2)
        let (y, cache) = bn.forward(x, training: true)
        // Channel 1 after the affine map: mean -0.2, std 0.5.
        let values = (0..<2).flatMap { b in (0..<12).map { Double(y.data[(b * 3 + 1) * 12 + $0]) } }
        let mean = values.reduce(0, +) / 24
        let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 24).squareRoot()
        #expect(abs(mean + 0.2) < 1e-5 && abs(std - 0.5) < 1e-3)
        // Running statistics moved 10 % towards the batch's (unbiased variance).
        let raw = (0..<2).flatMap { b in (0..<12).map { Double(x.data[(b * 3 + 1) * 12 + $0]) } }
        let rawMean = raw.reduce(0, +) / 24
        let unbiased = raw.map { ($0 - rawMean) * ($0 - rawMean) }.reduce(0, +) / 23
        #expect(abs(Double(bn.runningMean.value[1]) - 0.1 * rawMean) < 1e-5)
        #expect(abs(Double(bn.runningVar.value[1]) - (0.9 + 0.1 * unbiased)) < 1e-5)
        let (e, _) = bn.forward(x, training: false)
        let expected = (Double(x.data[12]) - Double(bn.runningMean.value[1])) / (Double(bn.runningVar.value[1]) + 1e-5).squareRoot() * 0.5 - 0.2
        #expect(abs(Double(e.data[12]) - expected) < 1e-5)

        let w = randomArray(y.count, seed: 16)
        let dx = bn.backward(cache, outputGrad: Tensor(shape: y.shape, data: w))
        expectClose(dx.data, numericGradient(x.data, h: 1e-2) { dot(bn.forward(Tensor(shape: x.shape, data: $0), training: true).0.data, w) },
                    tol: 5e-3, floor: 1e-2, "dx")
        for q in bn.parameters {
            let saved = q.value
            let numeric = numericGradient(saved) { v in q.value = v; defer { q.value = saved }; return dot(bn.forward(x, training: true).0.data, w) }
            expectClose(q.grad, numeric, tol: 2e-3, floor: 1e-2, "d\(q.name)")
        }
    }

    @Test("BatchNorm2D with its ReLU fused equals BatchNorm then ReLU, both ways")
    func batchNormReLU() {
        let (plain, fused) = (BatchNorm2D(3), BatchNorm2D(3))
        for bn in [plain, fused] { (bn.weight.value, bn.bias.value) = ([1.5, 0.5, -1], [0.1, -0.2, 0.3]) }
        let x = randomTensor([2, 3, 3, 7], seed: 15, scale: 2)   // 21 values per plane: vector loops and tails
        let (y, cache) = plain.forward(x, training: true)
        let (yr, fusedCache) = fused.forward(x, training: true, relu: true)
        #expect(yr == ReLU.forward(y))
        #expect(fused.runningMean.value == plain.runningMean.value && fused.runningVar.value == plain.runningVar.value)
        let dy = randomTensor(y.shape, seed: 16)
        let dx = plain.backward(cache, outputGrad: ReLU.backward(y, outputGrad: dy))
        let dxFused = fused.backward(fusedCache, outputGrad: dy, reluOutput: yr)
        expectClose(dxFused.data, dx.data, tol: 1e-5, "dx")
        expectClose(fused.weight.grad, plain.weight.grad, tol: 1e-5, "dweight")
        expectClose(fused.bias.grad, plain.bias.grad, tol: 1e-5, "dbias")
        #expect(fused.forward(x, training: false, relu: true).0 == ReLU.forward(plain.forward(x, training: false).0))
    }

    @Test("attention gate: α in (0, 1) per pixel scales every channel; gradients")
    func attentionGate() {
        var rng = SeededRandom(seed: 17)
        let gate = AttentionGate(skipChannels: 3, gatingChannels: 2, innerChannels: 2, rng: &rng)
        #expect(gate.namedParameters.map(\.name) == ["x.weight", "g.weight", "g.bias", "psi.weight", "psi.bias"])
        let x = randomTensor([2, 3, 3, 4], seed: 18), g = randomTensor([2, 2, 3, 4], seed: 19, scale: 2)
        let (y, cache) = gate.forward(x, gating: g)
        #expect(cache.alpha.shape == [2, 1, 3, 4] && cache.alpha.data.allSatisfy { $0 > 0 && $0 < 1 })
        let (gated, original, alpha): (Float, Float, Float) = (y.data[flat(y.shape, 1, 2, 1, 1)], x.data[flat(x.shape, 1, 2, 1, 1)],
                                                               cache.alpha.data[flat(cache.alpha.shape, 1, 0, 1, 1)])
        #expect(abs(gated - original * alpha) < 1e-6)
        let w = randomArray(y.count, seed: 20)
        let (dx, dg) = gate.backward(cache, outputGrad: Tensor(shape: y.shape, data: w))
        expectClose(dx.data, numericGradient(x.data, h: 1e-3) { dot(gate.forward(Tensor(shape: x.shape, data: $0), gating: g).0.data, w) },
                    tol: 1e-2, floor: 1e-2, "dx")
        expectClose(dg.data, numericGradient(g.data, h: 1e-3) { dot(gate.forward(x, gating: Tensor(shape: g.shape, data: $0)).0.data, w) },
                    tol: 1e-2, floor: 1e-2, "dg")
        for q in gate.parameters {
            let saved = q.value
            let numeric = numericGradient(saved, h: 1e-3) { v in q.value = v; defer { q.value = saved }; return dot(gate.forward(x, gating: g).0.data, w) }
            expectClose(q.grad, numeric, tol: 1e-2, floor: 1e-2, "d\(q.name)")
        }
    }

    @Test("recurrent sweep: rows then columns through the engine's LSTM; inference equals training; gradients")
    func sweep() throws {
        let sweep = try RecurrentSweep(inChannels: 2, hiddenSize: 3, seed: 21)
        let x = randomTensor([2, 2, 3, 4], seed: 22)
        let (y, cache) = sweep.forward(x, training: true)
        #expect(y.shape == [2, 6, 3, 4])
        #expect(sweep.forward(x, training: false).0 == y)
        // Image 1's row 2 read directly as one sequence: its row outputs, then column 3 of them.
        let row = Tensor(shape: [1, 4, 2], data: (0..<4).flatMap { (xx: Int) -> [Float] in
            (0..<2).map { (c: Int) -> Float in x.data[flat(x.shape, 1, c, 2, xx)] }
        })
        let rowOut = sweep.rows.forward(sequences: row, lengths: [4], training: false).y
        let rows = Tensor(shape: [6, 4, 2], data: RecurrentSweep.permute(x.data, [2, 2, 3, 4], to: .nhwc))
        let allRows = sweep.rows.forward(sequences: rows, lengths: [Int](repeating: 4, count: 6), training: false).y   // (N·H, W, 2U)
        #expect(Array(allRows.data[120..<144]) == rowOut.data)   // sequence 5 = image 1, row 2
        // Column 3 of image 1: rows 3, 4, 5 of the row outputs at x = 3.
        let column = Tensor(shape: [1, 3, 6], data: (0..<3).flatMap { (yy: Int) -> [Float] in
            (0..<6).map { (f: Int) -> Float in allRows.data[flat([6, 4, 6, 1], 3 + yy, 3, f, 0)] }
        })
        let columnOut = sweep.columns.forward(sequences: column, lengths: [3], training: false).y
        for f in 0..<6 {
            let viaSweep: Float = y.data[flat(y.shape, 1, f, 2, 3)], direct: Float = columnOut.data[12 + f]
            #expect(abs(viaSweep - direct) < 1e-6)
        }
        let w = randomArray(y.count, seed: 23)
        let dx = sweep.backward(cache!, outputGrad: Tensor(shape: y.shape, data: w))
        expectClose(dx.data, numericGradient(x.data) { dot(sweep.forward(Tensor(shape: x.shape, data: $0), training: false).0.data, w) },
                    tol: 5e-3, floor: 1e-2, "dx")
        checkParameters(sweep.parameters, analytic: sweep.parameters.map(\.grad), tol: 5e-3, "sweep") {
            dot(sweep.forward(x, training: false).0.data, w)
        }
        #expect(sweep.namedParameters.map(\.name).prefix(2) == ["rows.weight_ih_l0", "rows.weight_hh_l0"])
        #expect(sweep.namedParameters.map(\.name).last == "columns.bias_hh_l0_reverse")
    }

    // MARK: Losses and scores

    @Test("cross-entropy with class weights, soft Dice and their sum: values and gradients")
    func losses() throws {
        let logits = randomTensor([2, 3, 2, 3], seed: 24, scale: 2)
        let targets: [Int32] = [0, 1, 2, 2, 0, 1, 1, 1, 0, 2, 2, 0]
        let weights: [Float] = [0.5, 2, 1]
        // Unweighted, it is the classifier's cross-entropy on (pixels, K) rows.
        let rows = ChannelOps.channelsLast(logits).reshaped([12, 3])
        let plain = try SegmentationLoss.crossEntropy(logits: logits, targets: targets)
        #expect(abs(plain.loss - (try Loss.softmaxCrossEntropy(logits: rows, targets: targets).loss)) < 1e-5)
        // Weighted: Σ w_y (-log p_y) / Σ w_y.
        var total = 0.0, weightSum = 0.0
        for r in 0..<12 {
            let z = (0..<3).map { Double(rows.data[r * 3 + $0]) }
            let logZ = Foundation.log(z.map { Foundation.exp($0) }.reduce(0, +))
            total += Double(weights[Int(targets[r])]) * (logZ - z[Int(targets[r])])
            weightSum += Double(weights[Int(targets[r])])
        }
        let weighted = try SegmentationLoss.crossEntropy(logits: logits, targets: targets, classWeights: weights)
        #expect(abs(Double(weighted.loss) - total / weightSum) < 1e-5)

        func check(_ name: String, _ f: (Tensor) throws -> (Float, Tensor)) throws {
            let (_, grad) = try f(logits)
            let numeric = numericGradient(logits.data, h: 1e-2) { Double(try! f(Tensor(shape: logits.shape, data: $0)).0) }
            expectClose(grad.data, numeric, tol: 5e-3, floor: 1e-2, name)
        }
        try check("cross-entropy") { try SegmentationLoss.crossEntropy(logits: $0, targets: targets, classWeights: weights) }
        try check("Dice") { try SegmentationLoss.softDice(logits: $0, targets: targets) }
        try check("sum") {
            let v = try SegmentationLoss.combined(logits: $0, targets: targets, classWeights: weights, diceWeight: 0.7)
            return (v.total, v.grad)
        }
        let v = try SegmentationLoss.combined(logits: logits, targets: targets, classWeights: weights, diceWeight: 0.7)
        let dice = try SegmentationLoss.softDice(logits: logits, targets: targets).loss
        #expect(abs(v.total - (weighted.loss + 0.7 * dice)) < 1e-5 && abs(v.dice - dice) < 1e-6)
        // Confident and right: Dice near 0; a label out of range is an error.
        var sure = [Float](repeating: -20, count: logits.count)
        for (i, t) in targets.enumerated() { sure[(i / 6 * 3 + Int(t)) * 6 + i % 6] = 20 }
        #expect(try SegmentationLoss.softDice(logits: Tensor(shape: logits.shape, data: sure), targets: targets).loss < 1e-4)
        #expect(errorMessage { _ = try SegmentationLoss.crossEntropy(logits: logits, targets: targets.map { $0 == 2 ? 3 : $0 }) }
            .contains("outside [0, 3)"))
        #expect(errorMessage { _ = try SegmentationLoss.crossEntropy(logits: logits, targets: targets, classWeights: [1, 1]) }
            .contains("class weights"))
    }

    @Test("pixel accuracy, per-class IoU (NaN when a class is absent) and mean IoU")
    func score() {
        var s = ImageSegmentationScore(numClasses: 4)
        s.add(gold: [0, 0, 1, 1, 1, 2], predicted: [0, 1, 1, 1, 0, 2])
        #expect(s.pixels == 6 && abs(s.pixelAccuracy - 4.0 / 6) < 1e-12)
        let iou = s.iou
        #expect(abs(iou[0] - 1.0 / 3) < 1e-12 && abs(iou[1] - 2.0 / 4) < 1e-12 && iou[2] == 1 && iou[3].isNaN)
        #expect(abs(s.meanIoU - (1.0 / 3 + 0.5 + 1) / 3) < 1e-12)
    }

    // MARK: The model

    struct Case: CustomStringConvertible, Sendable {
        var context: SegmenterContext
        var upsampling: SegmenterUpsampling
        var batchNorm: Bool
        var gates: Bool
        var description: String { "\(context) \(upsampling) norm \(batchNorm) gates \(gates)" }
    }

    static let cases = [
        Case(context: .lstm, upsampling: .transposed, batchNorm: true, gates: false),
        Case(context: .lstm, upsampling: .bilinear, batchNorm: false, gates: true),
        Case(context: .conv, upsampling: .transposed, batchNorm: true, gates: true),
    ]

    static func tinyConfig(_ c: Case) -> ImageSegmenterConfig {
        var config = ImageSegmenterConfig(numClasses: 3)
        config.channels = 2
        config.encoderChannels = [2, 3]
        config.hiddenSize = 2
        config.context = c.context
        config.upsampling = c.upsampling
        config.batchNorm = c.batchNorm
        config.attentionGates = c.gates
        config.pixelMean = 0.1
        config.pixelStd = 0.8
        return config
    }

    @Test("every gradient of a training step (padding, crop and loss included) matches finite differences", arguments: cases)
    func modelGradients(_ c: Case) throws {
        let model = try ImageSegmenter(config: Self.tinyConfig(c))
        // 5×6 images: padded to 8×8 inside, the loss sees only the 5×6 pixels.
        let images = randomTensor([2, 5, 6, 2], seed: 25)
        var rng = SeededRandom(seed: 26)
        let masks = (0..<60).map { _ in Int32(rng.next() % 3) }
        let weights: [Float] = [0.5, 1, 2]
        model.zeroGrad()
        let value = try model.trainStep(images, masks: masks, classWeights: weights, diceWeight: 0.5)
        #expect(value.total.isFinite && value.total > 0)
        let analytic = model.parameters.map(\.grad)
        model.zeroGrad()
        func loss() -> Double {
            let l = try! model.trainStep(images, masks: masks, classWeights: weights, diceWeight: 0.5).total
            model.zeroGrad()
            return Double(l)
        }
        // Max-pool and ReLU are piecewise linear: a small step keeps their choices in place.
        checkParameters(model.parameters, analytic: analytic, samples: 6, h: 1e-3, tol: 2e-2, "\(c)", loss: loss)
    }

    @Test("training steps reuse the last step's arrays without changing a result", arguments: cases)
    func recycledSteps(_ c: Case) throws {
        let model = try ImageSegmenter(config: Self.tinyConfig(c))
        model.recycler = ArrayRecycler(minimumCount: 1)   // the tiny model's arrays too
        let images = randomTensor([3, 8, 8, 2], seed: 30)
        var rng = SeededRandom(seed: 31)
        let masks = (0..<192).map { _ in Int32(rng.next() % 3) }
        var grads: [[[Float]]] = []
        var firstStepReuses = 0   // a step's backward already reuses gradients it is done with
        for step in 0..<3 {
            model.zeroGrad()
            let value = try model.trainStep(images, masks: masks, classWeights: nil, diceWeight: 0.5)
            #expect(value.total.isFinite && value.grad.count == 0)
            grads.append(model.parameters.map(\.grad))
            if step == 0 { firstStepReuses = model.recycler.reuses }
        }
        // Parameters did not move (no optimizer step): every step's gradients are the first's.
        #expect(grads[1] == grads[0] && grads[2] == grads[0])
        #expect(model.recycler.reuses > 3 * firstStepReuses, "\(model.recycler.reuses) reuses, \(firstStepReuses) in the first step")
        // A cache the caller still holds is never changed by a later step.
        let (logits, cache) = model.recycler.scope { model.forward(model.prepare(images, 0..<3), training: true) }
        let held = cache!.tensors.map { Tensor(shape: $0.shape, data: $0.data.map { $0 }) }   // a deep copy
        model.recycler.give(cache!.tensors)   // offered while still held
        _ = try model.trainStep(images, masks: masks, classWeights: nil, diceWeight: 0.5)
        #expect(cache!.tensors == held)
        #expect(model.forward(model.prepare(images, 0..<3), training: true).0 == logits)
        model.recycler.clear()
    }

    @Test("the conv ablation has about the sweep's parameter count and the same output channels")
    func ablationSize() throws {
        var config = ImageSegmenterConfig(numClasses: 11)
        let lstm = try ImageSegmenter(config: config)
        config.context = .conv
        let conv = try ImageSegmenter(config: config)
        let sweepCount = lstm.sweep!.parameters.reduce(0) { $0 + $1.count }
        let convCount = conv.contextConvs.reduce(0) { $0 + $1.parameterCount }
        #expect(config.convContextChannels == 96)
        #expect(abs(Double(convCount - sweepCount)) / Double(sweepCount) < 0.01, "\(convCount) vs \(sweepCount)")
        #expect(conv.contextConvs[1].outChannels == lstm.sweep!.outChannels)
        #expect(abs(Double(conv.parameterCount - lstm.parameterCount)) / Double(lstm.parameterCount) < 0.01)
    }

    @Test("save and load: same config, buffers and probabilities; any H, W; a file of another kind is refused", arguments: cases)
    func saveLoad(_ c: Case) throws {
        let model = try ImageSegmenter(config: Self.tinyConfig(c))
        let images = randomTensor([3, 7, 5, 2], seed: 27)
        var rng = SeededRandom(seed: 28)
        let masks = (0..<105).map { _ in Int32(rng.next() % 3) }
        _ = try model.trainStep(images, masks: masks, classWeights: nil, diceWeight: 0.5)   // moves BatchNorm statistics
        let path = NSTemporaryDirectory() + "lstmkit-seg-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try model.save(to: path)
        let loaded = try ImageSegmenter.load(from: path)
        #expect(loaded.config == model.config)
        #expect(loaded.buffers.map(\.value) == model.buffers.map(\.value))
        let p = try model.predictProbabilities(images)
        #expect(p.shape == [3, 7, 5, 3])
        // Bit-exact at equal settings; OpenBLAS's rounding depends on its thread count,
        // which parallel prediction pins to 1, so across settings only close.
        let parallel = try model.predictProbabilities(images, threads: 2, batchSize: 1)
        #expect(try loaded.predictProbabilities(images, threads: 2, batchSize: 1) == parallel)
        expectClose(parallel.data, p.data, tol: 1e-5, "1 vs 2 threads")
        for i in stride(from: 0, to: p.count, by: 3) { #expect(abs(p.data[i] + p.data[i + 1] + p.data[i + 2] - 1) < 1e-5) }
        let labels = try loaded.predict(images)
        #expect(labels.count == 105 && labels[17] == Int32((0..<3).max { p.data[17 * 3 + $0] < p.data[17 * 3 + $1] }!))
        #expect(try loaded.predict(randomTensor([1, 1, 1, 2], seed: 29)).count == 1)   // 1×1 works
        try LSTM(LSTMConfig(inputSize: 2, hiddenSize: 2)).save(to: path)
        let message = errorMessage { _ = try ImageSegmenter.load(from: path) }
        #expect(message.contains("image_segmenter") && message.contains("lstm"), "\(message)")
    }

    @Test("bad input: mismatched masks, labels out of range, empty sets, NaN, wrong channels, no pixels")
    func badInput() throws {
        let images = randomTensor([4, 6, 6], seed: 30)
        let masks = [Int32](repeating: 1, count: 4 * 36)
        var config = ImageSegmenterConfig(numClasses: 3)
        (config.encoderChannels, config.hiddenSize) = ([2], 2)
        func trainer(_ x: Tensor, _ m: [Int32], dev: Tensor? = nil, devMasks: [Int32]? = nil,
                     options: ImageSegmenterTrainingOptions = .init()) -> String {
            errorMessage {
                _ = try ImageSegmenterTrainer(train: x, trainMasks: m, dev: dev ?? images, devMasks: devMasks ?? masks,
                                              config: config, options: options)
            }
        }
        #expect(trainer(images, masks) == "")
        #expect(trainer(images, Array(masks.dropLast(6))).contains("masks hold 138 labels; images of 4×6×6 need 144"))
        var bad = masks
        bad[40] = 3
        #expect(trainer(images, bad).contains("mask 1 has label 3 at (0, 4)"))
        bad[40] = -1
        #expect(trainer(images, bad).contains("labels must be in [0, 3)"))
        #expect(trainer(Tensor(shape: [0, 6, 6], data: []), []).contains("training set is empty"))
        #expect(trainer(images, masks, dev: Tensor(shape: [0, 6, 6], data: []), devMasks: []).contains("dev set is empty"))
        var nan = images
        nan.data[2 * 36 + 5] = .nan
        #expect(trainer(nan, masks).contains("training set: image 2 holds a NaN"))
        #expect(trainer(images, masks, dev: nan).contains("dev set: image 2 holds a NaN"))
        #expect(trainer(Tensor(shape: [4, 6], data: [Float](repeating: 0, count: 24)), masks).contains("(N, H, W) or (N, H, W, C)"))
        var options = ImageSegmenterTrainingOptions()
        options.classWeights = [1, 1]
        #expect(trainer(images, masks, options: options).contains("class weights must be 3"))

        let model = try ImageSegmenter(config: config)
        #expect(errorMessage { _ = try model.predict(randomTensor([2, 6, 6, 3], seed: 1)) }.contains("this model takes (N, H, W, 1) or (N, H, W)"))
        #expect(errorMessage { _ = try model.predict(Tensor(shape: [2, 0, 6], data: [])) }.contains("no pixels"))
        #expect(errorMessage { _ = try model.predict(nan) }.contains("image 2 holds a NaN"))
        #expect(errorMessage { _ = try model.evaluate(images, masks: Array(masks.dropFirst())) }.contains("masks hold 143"))
        #expect(errorMessage { _ = try model.evaluate(Tensor(shape: [0, 6, 6], data: []), masks: []) }.contains("no images"))
        #expect(try model.predict(Tensor(shape: [0, 6, 6], data: [])).isEmpty)
        var wrongClasses = config
        wrongClasses.numClasses = 1
        #expect(errorMessage { _ = try ImageSegmenter(config: wrongClasses) }.contains("num_classes"))
    }

    /// 16×16 images holding one bright square (5 to 7 pixels wide) that is either solid
    /// (class 1) or hollow (class 2); masks label the square's pixels with its class.
    static func squares(_ n: Int, seed: UInt64) -> (Tensor, [Int32]) {
        var rng = SeededRandom(seed: seed)
        var images = [Float](repeating: 0, count: n * 256), masks = [Int32](repeating: 0, count: n * 256)
        for i in 0..<n {
            let hollow = rng.next() % 2 == 1, size = 5 + Int(rng.next() % 3)
            let (top, left) = (Int(rng.next() % UInt64(17 - size)), Int(rng.next() % UInt64(17 - size)))
            for y in 0..<16 {
                for x in 0..<16 {
                    let inside = y >= top && y < top + size && x >= left && x < left + size
                    let edge = y == top || y == top + size - 1 || x == left || x == left + size - 1
                    let bright = inside && (!hollow || edge)
                    images[i * 256 + y * 16 + x] = (bright ? 200 : 20) + rng.uniform(-20, 20)
                    if inside { masks[i * 256 + y * 16 + x] = hollow ? 2 : 1 }
                }
            }
        }
        return (Tensor(shape: [n, 16, 16], data: images), masks)
    }

    @Test("flip augmentation mirrors an image and its mask together, about half of the time, any channel count")
    func flipAugmentation() throws {
        for channels in [1, 3] {
            let (n, h, w) = (64, 3, 5)
            // Pixel values and labels that name their position, so a mirror is recognisable.
            let shape = channels == 1 ? [n, h, w] : [n, h, w, channels]
            let images = Tensor(shape: shape, data: (0..<(n * h * w * channels)).map(Float.init))
            let masks = (0..<(n * h * w)).map { Int32($0 % 7) }
            var options = ImageSegmenterTrainingOptions()
            options.flipHorizontally = true
            let trainer = try ImageSegmenterTrainer(train: images, trainMasks: masks, dev: images, devMasks: masks,
                                                    config: ImageSegmenterConfig(numClasses: 7), options: options)
            var (mirroredImages, mirroredMasks) = (images, masks)
            var rng = SeededRandom(seed: 1)
            trainer.mirrorRandomHalf(&mirroredImages, &mirroredMasks, rng: &rng)
            var flipped = 0
            for i in 0..<n {
                func at(_ y: Int, _ x: Int) -> Int { (i * h + y) * w + x }
                let same = (0..<h).allSatisfy { y in (0..<w).allSatisfy { x in mirroredMasks[at(y, x)] == masks[at(y, x)] } }
                    && (0..<(h * w * channels)).allSatisfy { mirroredImages.data[i * h * w * channels + $0] == images.data[i * h * w * channels + $0] }
                let mirrored = (0..<h).allSatisfy { y in
                    (0..<w).allSatisfy { x in
                        mirroredMasks[at(y, x)] == masks[at(y, w - 1 - x)]
                            && (0..<channels).allSatisfy { k in
                                mirroredImages.data[at(y, x) * channels + k] == images.data[at(y, w - 1 - x) * channels + k]
                            }
                    }
                }
                #expect(same != mirrored, "image \(i) is neither itself nor its mirror (channels \(channels))")
                if mirrored { flipped += 1 }
            }
            #expect(flipped > n / 4 && flipped < 3 * n / 4, "\(flipped) of \(n) mirrored")
        }
    }

    @Test("learns solid vs hollow squares to high pixel accuracy")
    func learns() throws {
        let (train, trainMasks) = Self.squares(160, seed: 1)
        let (dev, devMasks) = Self.squares(40, seed: 2)
        var config = ImageSegmenterConfig(numClasses: 3)
        (config.encoderChannels, config.hiddenSize) = ([6, 8], 6)
        var options = ImageSegmenterTrainingOptions()
        (options.epochs, options.batchSize, options.learningRate, options.threads) = (8, 8, 0.01, 1)
        let trainer = try ImageSegmenterTrainer(train: train, trainMasks: trainMasks, dev: dev, devMasks: devMasks,
                                                config: config, options: options)
        var lines: [String] = []
        let best = try trainer.run { lines.append($0) }
        #expect(lines.first?.contains("lstm context") == true && lines.contains { $0.contains("mean IoU") })
        #expect(best.pixelAccuracy > 0.95, "dev pixel accuracy \(best.pixelAccuracy)\n\(lines.joined(separator: "\n"))")
        #expect(best.meanIoU > 0.7, "dev mean IoU \(best.meanIoU)")
        // The best epoch's weights (and statistics) are the ones left in the model.
        #expect(try trainer.segmenter.evaluate(dev, masks: devMasks) == best)
    }
}
