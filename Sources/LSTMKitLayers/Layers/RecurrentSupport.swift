import LSTMKitCore

/// How the recurrent layers (LSTM, GRU) walk a padded batch: step s of row b is time
/// index t_b(s) (s forward, length - 1 - s in reverse, so a reverse direction starts at
/// each sequence's own last step), inputs are gathered into step order a chunk of steps
/// at a time and projected with one GEMM, and training's large buffers are reused.
enum PaddedSteps {
    /// How many leading rows are still running at each step, when the lengths never
    /// increase down the batch (as the segmenter sorts them): the recurrent GEMMs then
    /// skip the finished rows, as packed sequences do. Otherwise every row, every step.
    static func activeRows(lengths: [Int], steps: Int) -> [Int] {
        let batch = lengths.count
        guard zip(lengths, lengths.dropFirst()).allSatisfy({ $0 >= $1 }) else {
            return [Int](repeating: batch, count: steps)
        }
        var active = [Int](repeating: 0, count: steps)
        var b = batch
        for s in 0..<steps {
            while b > 0 && lengths[b - 1] <= s { b -= 1 }
            active[s] = b
        }
        return active
    }

    /// The time index that row b processes at step s, or nil once its sequence ended.
    @inline(__always)
    static func timeIndex(step s: Int, length: Int, reverse: Bool) -> Int? {
        guard s < length else { return nil }
        return reverse ? length - 1 - s : s
    }

    /// Steps per chunk of the input projection: about `projectionChunkRows` rows of
    /// gates per GEMM, so the chunk's gates are still in cache when the recurrence adds
    /// to them. Forward and inference chunk alike, so they give identical results.
    static let projectionChunkRows = 512

    static func projectionChunk(batch: Int, steps: Int) -> Int {
        max(1, min(steps, projectionChunkRows / batch))
    }

    /// Copies the inputs of steps [s0, s0 + count) into step order: row (s - s0) * B + b
    /// of `out` is x[b, t_b(s)], or zeros once b's sequence ended. x is (B, T, width).
    static func gatherSteps(_ x: UnsafePointer<Float>, width: Int, batch: Int, steps: Int,
                            lengths: [Int], reverse: Bool, from s0: Int, count: Int,
                            into out: UnsafeMutablePointer<Float>) {
        for s in s0..<(s0 + count) {
            for b in 0..<batch {
                let dst = out + ((s - s0) * batch + b) * width
                if let t = timeIndex(step: s, length: lengths[b], reverse: reverse) {
                    dst.update(from: x + (b * steps + t) * width, count: width)
                } else {
                    dst.update(repeating: 0, count: width)
                }
            }
        }
    }

    /// The input projection of steps [s0, s0 + count), in step order:
    /// (count*B, G) = X_steps W^T + bias, W (G, in). `scratch` holds count*B*in floats.
    static func projectSteps(_ x: UnsafePointer<Float>, inSize: Int, batch: Int, steps: Int,
                             lengths: [Int], reverse: Bool, from s0: Int, count: Int,
                             weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, width g: Int,
                             scratch: UnsafeMutablePointer<Float>, into gates: UnsafeMutablePointer<Float>) {
        let rows = count * batch
        gatherSteps(x, width: inSize, batch: batch, steps: steps, lengths: lengths, reverse: reverse,
                    from: s0, count: count, into: scratch)
        for r in 0..<rows { (gates + r * g).update(from: bias, count: g) }
        BLAS.gemm(transB: true, m: rows, n: g, k: inSize,
                  a: scratch, lda: inSize, b: weight, ldb: inSize,
                  beta: 1, c: gates, ldc: g)
    }
}

/// The gates and states of the last cache a recurrent layer's `backward` consumed,
/// reused by its next training forward pass: a training loop then keeps its memory
/// instead of taking fresh pages from the system every step (a page fault per 4 KiB,
/// often a quarter of a small model's step). A cache the caller still holds is copied
/// on write, never changed. Not thread-safe, as training is not.
final class SpareBuffers {
    private var buffers: [[Float]] = []

    /// `count` zeros, in the smallest spare buffer that holds them when `reuse` (training).
    func zeroed(_ count: Int, reuse: Bool) -> [Float] {
        if reuse, let i = buffers.indices.filter({ buffers[$0].capacity >= count })
            .min(by: { buffers[$0].capacity < buffers[$1].capacity }) {
            var buffer = buffers.remove(at: i)
            if buffer.count == count {
                buffer.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            } else {
                buffer.removeAll(keepingCapacity: true)
                buffer.append(contentsOf: repeatElement(0, count: count))
            }
            return buffer
        }
        return [Float](repeating: 0, count: count)
    }

    /// Offers a consumed cache's buffers to the next forward pass (replacing the last).
    func keep(_ spare: [[Float]]) { buffers = spare }
}

/// What a multi-layer, optionally bidirectional recurrent layer holds whatever its
/// cell (the LSTM and the GRU subclass it): its config, its weights in PyTorch's layout
/// for G gate blocks (`RecurrentWeights`), the generator of the dropout masks between
/// layers, training's spare buffers and inference's packed W_hh.
public class RecurrentStack: Module {
    public let config: RecurrentConfig
    /// Per layer and direction (index l*K + d): W_ih (G·H, in), W_hh (G·H, H), b_ih, b_hh (G·H).
    public let weightIH: [Parameter]
    public let weightHH: [Parameter]
    public let biasIH: [Parameter]
    public let biasHH: [Parameter]
    /// PyTorch's order: for each layer, for each direction: w_ih, w_hh, b_ih, b_hh; once
    /// quantized (`QuantizableLayer`), the int8 form's.
    public var localParameters: [Parameter] { quantized?.localParameters ?? floatParameters }
    let floatParameters: [Parameter]
    /// Its int8 form once quantized: then inference runs that.
    var quantized: QuantizedRecurrent?
    /// Draws the dropout masks between layers in training.
    public var dropoutRNG: SeededRandom
    /// Training's gate and state buffers, reused from one step to the next.
    let spareBuffers = SpareBuffers()
    /// W_hh packed for inference's own kernels, kept until the weights change.
    let packedWeights = PackedRecurrentWeights()

    init(_ config: RecurrentConfig, gates: Int) throws {
        try config.validate()
        try Memory.checkModel(parameters: config.parameterEstimate, for: "a recurrent layer")
        self.config = config
        var rng = SeededRandom(seed: config.seed)
        let weights = RecurrentWeights(config, gates: gates, rng: &rng)
        weightIH = weights.weightIH
        weightHH = weights.weightHH
        biasIH = weights.biasIH
        biasHH = weights.biasHH
        floatParameters = weights.all
        dropoutRNG = rng.split()
    }
}

/// A recurrent layer's weights, PyTorch's layout and names: per layer and direction
/// (index l*K + d) W_ih (G·H, in), W_hh (G·H, H), b_ih, b_hh (G·H) for G gate blocks
/// (4 for the LSTM, 3 for the GRU), named weight_ih_l<k>[_reverse] ..., drawn from
/// U(-1/sqrt(H), 1/sqrt(H)) as PyTorch initialises them.
struct RecurrentWeights {
    var weightIH: [Parameter] = [], weightHH: [Parameter] = [], biasIH: [Parameter] = [], biasHH: [Parameter] = []
    /// PyTorch's order: for each layer, for each direction: w_ih, w_hh, b_ih, b_hh.
    var all: [Parameter] = []

    init(_ config: RecurrentConfig, gates: Int, rng: inout SeededRandom) {
        let h = config.hiddenSize
        let bound = 1 / Float(h).squareRoot()
        for layer in 0..<config.numLayers {
            let inSize = layer == 0 ? config.inputSize : config.outputSize
            for d in 0..<config.directions {
                let suffix = "_l\(layer)" + (d == 1 ? "_reverse" : "")
                func make(_ name: String, _ shape: [Int]) -> Parameter {
                    var v = [Float](repeating: 0, count: shape.reduce(1, *))
                    rng.fillUniform(&v, bound: bound)
                    return Parameter(name: name + suffix, shape: shape, value: v)
                }
                let p = [make("weight_ih", [gates * h, inSize]), make("weight_hh", [gates * h, h]),
                         make("bias_ih", [gates * h]), make("bias_hh", [gates * h])]
                weightIH.append(p[0]); weightHH.append(p[1]); biasIH.append(p[2]); biasHH.append(p[3])
                all += p
            }
        }
    }
}

/// What backward needs from a recurrent stack's forward pass, whatever the cell: each
/// layer's input and dropout mask, and each direction's own cache (index l*K + d).
public struct RecurrentStackCache<Direction> {
    let batch: Int
    let steps: Int
    let lengths: [Int]
    /// Input of each layer (B, T, in), after dropout for layers above the first.
    var layerInputs: [[Float]] = []
    /// Dropout scale per element of each layer input above the first (empty if none).
    var dropoutMasks: [[Float]] = []
    var directions: [Direction] = []
}

/// The layer loops both cells share (layers, directions, dropout between layers); a
/// cell supplies what one direction of one layer does.
extension RecurrentConfig {
    /// The training-capable forward pass over x (B, T, D): for each layer (its input
    /// dropped out above the first when `training`) and direction, `direction(index,
    /// reverse, input, inSize, &y)` writes its columns of the layer's y (B, T, K·H) and
    /// returns its cache.
    func forwardLayers<D>(_ x: Tensor, lengths: [Int], training: Bool, rng: inout SeededRandom,
                          direction: (_ index: Int, _ reverse: Bool, _ input: [Float], _ inSize: Int,
                                      _ y: inout [Float]) -> D) -> (y: Tensor, cache: RecurrentStackCache<D>) {
        let (batch, steps) = (x.shape[0], x.shape[1])
        var cache = RecurrentStackCache<D>(batch: batch, steps: steps, lengths: lengths)
        var input = x.data
        var inSize = inputSize
        for layer in 0..<numLayers {
            if layer > 0 {
                var mask = [Float]()
                if training && dropout > 0 {
                    mask = Dropout(dropout).mask(count: input.count, rng: &rng)
                    for i in 0..<input.count { input[i] *= mask[i] }
                }
                cache.dropoutMasks.append(mask)
            }
            var y = [Float](repeating: 0, count: batch * steps * outputSize)
            for d in 0..<directions {
                cache.directions.append(direction(layer * directions + d, d == 1, input, inSize, &y))
            }
            cache.layerInputs.append(input)
            input = y
            inSize = outputSize
        }
        return (Tensor(shape: [batch, steps, outputSize], data: input), cache)
    }

    /// The inference pass: `direction(index, reverse, input, inSize, y)` writes its
    /// columns of the layer's y. With more than one BLAS thread allowed, the two
    /// directions of a layer run at the same time (each writes only its own columns and
    /// its own state rows).
    func inferLayers(_ x: Tensor, direction: (_ index: Int, _ reverse: Bool, _ input: UnsafePointer<Float>,
                                               _ inSize: Int, _ y: UnsafeMutablePointer<Float>) -> Void) -> Tensor {
        let (batch, steps) = (x.shape[0], x.shape[1])
        let k = directions
        var input = x.data
        var inSize = inputSize
        let directionThreads = k > 1 && availableThreads > 1 ? k : 1
        for layer in 0..<numLayers {
            var y = [Float](repeating: 0, count: batch * steps * outputSize)
            input.withUnsafeBufferPointer { X in
            y.withUnsafeMutableBufferPointer { Y in
                let (x, y) = (X.baseAddress!, Y.baseAddress!)
                parallelForEach(k, threads: directionThreads) { d in
                    direction(layer * k + d, d == 1, x, inSize, y)
                }
            }
            }
            input = y
            inSize = outputSize
        }
        return Tensor(shape: [batch, steps, outputSize], data: input)
    }

    /// The backward pass from dY (B, T, K·H): for each layer from the top and each
    /// direction, `direction(index, reverse, its cache, the layer's input, inSize, dOut,
    /// &dIn)` adds into dIn (B, T, in), the gradient w.r.t. the layer's input, which
    /// becomes the next layer's dOut (through the dropout mask). Returns dx (B, T, D).
    func backwardLayers<D>(_ cache: RecurrentStackCache<D>, outputGrad dY: Tensor,
                           direction: (_ index: Int, _ reverse: Bool, _ cache: D, _ input: [Float], _ inSize: Int,
                                       _ dOut: [Float], _ dIn: inout [Float]) -> Void) -> Tensor {
        let (batch, steps) = (cache.batch, cache.steps)
        precondition(dY.shape == [batch, steps, outputSize], "backward: dY must be \([batch, steps, outputSize]), got \(dY.shape)")
        var dOut = dY.data
        var dIn = [Float]()
        for layer in stride(from: numLayers - 1, through: 0, by: -1) {
            let inSize = layer == 0 ? inputSize : outputSize
            dIn = [Float](repeating: 0, count: batch * steps * inSize)
            for d in 0..<directions {
                let index = layer * directions + d
                direction(index, d == 1, cache.directions[index], cache.layerInputs[layer], inSize, dOut, &dIn)
            }
            if layer > 0 {
                let mask = cache.dropoutMasks[layer - 1]
                if !mask.isEmpty { for i in 0..<dIn.count { dIn[i] *= mask[i] } }
            }
            dOut = dIn
        }
        return Tensor(shape: [batch, steps, inputSize], data: dIn)
    }
}

extension RecurrentStack {
    /// Backward's work on one chunk of steps [s0, s0 + n) of layer-direction `index` once
    /// the chunk's gate gradients are known, in step order ((n·B, G·H), zero on finished
    /// rows): `dInput` w.r.t. the input projections, `dRecurrent` w.r.t. the recurrent
    /// ones (the same array for the LSTM, whose gates add both). Adds
    /// dW_hh += dRecurrentᵀ h_{s-1} and dW_ih += dInputᵀ X_steps (one GEMM each while the
    /// gradients are in cache, or held in `deferring`), dx[b, t] += (dInput W_ih)[row], and the column sums of
    /// dInput and dRecurrent into the bias accumulators `dbInput`, `dbRecurrent` (nil:
    /// the LSTM's one). `hPrev` is the cache's states from step s0; `xs` and `dxs` are
    /// scratch of n·B·in floats each.
    func addChunkGradients(index: Int, dInput: UnsafePointer<Float>, dRecurrent: UnsafePointer<Float>,
                           dbInput: UnsafeMutablePointer<Float>, dbRecurrent: UnsafeMutablePointer<Float>?,
                           hPrev: UnsafePointer<Float>, x: UnsafePointer<Float>, inSize: Int,
                           batch: Int, steps: Int, lengths: [Int], reverse: Bool, from s0: Int, count n: Int,
                           xs: UnsafeMutablePointer<Float>, dxs: UnsafeMutablePointer<Float>,
                           dx: UnsafeMutablePointer<Float>, deferring: DeferredWeightGradients? = nil) {
        let hSize = config.hiddenSize, g = weightHH[index].shape[0], rows = n * batch
        // dW_hh += dRecurrent^T h_{s-1} over the chunk: (G, n*B) x (n*B, H)
        DeferredWeightGradients.add(deferring, to: weightHH[index], rows: rows, dy: dRecurrent, outWidth: g, ldy: g,
                                    x: hPrev, inWidth: hSize, ldx: hSize)
        // dW_ih += dInput^T X_steps: (G, n*B) x (n*B, in), on the inputs gathered
        // into step order again (as forward projected them).
        PaddedSteps.gatherSteps(x, width: inSize, batch: batch, steps: steps, lengths: lengths,
                                reverse: reverse, from: s0, count: n, into: xs)
        DeferredWeightGradients.add(deferring, to: weightIH[index], rows: rows, dy: dInput, outWidth: g, ldy: g,
                                    x: xs, inWidth: inSize, ldx: inSize)
        weightIH[index].value.withUnsafeBufferPointer { WIH in
            // dX_steps = dInput W_ih: (n*B, G) x (G, in), added back at (b, t).
            BLAS.gemm(m: rows, n: inSize, k: g,
                      a: dInput, lda: g, b: WIH.baseAddress!, ldb: inSize,
                      beta: 0, c: dxs, ldc: inSize)
        }
        for s in s0..<(s0 + n) {
            for b in 0..<batch {
                guard let t = PaddedSteps.timeIndex(step: s, length: lengths[b], reverse: reverse) else { continue }
                VectorMath.add(dxs + ((s - s0) * batch + b) * inSize, into: dx + (b * steps + t) * inSize, count: inSize)
            }
        }
        // Bias gradients: the column sums (zero on finished rows).
        for r in 0..<rows {
            VectorMath.add(dInput + r * g, into: dbInput, count: g)
            if let dbRecurrent { VectorMath.add(dRecurrent + r * g, into: dbRecurrent, count: g) }
        }
    }
}
