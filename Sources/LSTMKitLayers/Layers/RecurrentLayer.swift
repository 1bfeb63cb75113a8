import LSTMKitCore

/// What a model needs from "a recurrent layer", so that it takes one rather than an LSTM:
/// the protocol, its configuration, the cells that implement it and the factory that
/// builds one from a model file's cell tag.

/// Hyper-parameters of a recurrent stack of any cell, as PyTorch's nn.LSTM or nn.GRU
/// (batch_first=True).
public struct RecurrentConfig: Equatable, Sendable {
    public var inputSize: Int
    public var hiddenSize: Int
    public var numLayers: Int
    public var bidirectional: Bool
    public var dropout: Float
    public var seed: UInt64

    public init(inputSize: Int, hiddenSize: Int, numLayers: Int = 1,
                bidirectional: Bool = false, dropout: Float = 0, seed: UInt64 = 0) {
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.numLayers = numLayers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.seed = seed
    }

    public var directions: Int { bidirectional ? 2 : 1 }
    /// Features per time step of the output: K * H.
    public var outputSize: Int { directions * hiddenSize }

    public func validate() throws {
        guard inputSize >= 1 else { throw LSTMKitError.invalidArgument("input_size must be >= 1, got \(inputSize)") }
        guard hiddenSize >= 1 else { throw LSTMKitError.invalidArgument("hidden_size must be >= 1, got \(hiddenSize)") }
        guard numLayers >= 1 else { throw LSTMKitError.invalidArgument("num_layers must be >= 1, got \(numLayers)") }
        guard dropout.isFinite, dropout >= 0, dropout < 1 else {
            throw LSTMKitError.invalidArgument("dropout must be in [0, 1), got \(dropout)")
        }
        // Keep every buffer index well inside Int32 GEMM arguments (bounds first, so
        // the size arithmetic below cannot overflow).
        guard hiddenSize <= 1 << 20 else { throw LSTMKitError.outOfMemory("hidden_size \(hiddenSize) is too large (at most \(1 << 20))") }
        guard inputSize <= 1 << 24 else { throw LSTMKitError.outOfMemory("input_size \(inputSize) is too large (at most \(1 << 24))") }
        guard numLayers <= 1024 else { throw LSTMKitError.outOfMemory("num_layers \(numLayers) is too large (at most 1024)") }
        let weightsPerLayer = 4 * hiddenSize * (max(inputSize, outputSize) + hiddenSize + 2)
        guard weightsPerLayer <= 1 << 30 else {
            throw LSTMKitError.outOfMemory("a recurrent layer of input_size \(inputSize), hidden_size \(hiddenSize) would need \(weightsPerLayer) weights (at most \(1 << 30))")
        }
    }
}

extension RecurrentConfig {
    /// Checks a recurrent layer's inputs: x (B, T, D) finite, lengths (B) in [1, T] (nil:
    /// all T) and initial states, each (L*K, B, H) and finite, named as the caller calls
    /// them ("h0", "c0"). Returns the lengths as Ints.
    public func validate(x: Tensor, lengths: [Int32]?, states: [(name: String, value: Tensor)]) throws -> [Int] {
        guard x.rank == 3 else {
            throw LSTMKitError.invalidArgument("x must have shape (batch, steps, \(inputSize)), got \(x.shape)")
        }
        let (b, t, d) = (x.shape[0], x.shape[1], x.shape[2])
        guard b >= 1, t >= 1 else { throw LSTMKitError.invalidArgument("x needs batch >= 1 and steps >= 1, got \(x.shape)") }
        guard d == inputSize else {
            throw LSTMKitError.invalidArgument("x must have shape (batch, steps, \(inputSize)), got \(x.shape)")
        }
        if let bad = x.data.withUnsafeBufferPointer(VectorMath.firstNonFinite) {
            throw LSTMKitError.invalidArgument("x contains \(x.data[bad]) at flat index \(bad); inputs must be finite")
        }
        var lens = [Int](repeating: t, count: b)
        if let lengths {
            guard lengths.count == b else {
                throw LSTMKitError.sizeMismatch("lengths has \(lengths.count) entries for a batch of \(b)")
            }
            for (i, l) in lengths.enumerated() {
                guard l >= 1, Int(l) <= t else {
                    throw LSTMKitError.invalidArgument("lengths[\(i)] = \(l) is outside [1, \(t)]")
                }
                lens[i] = Int(l)
            }
        }
        let shape = [numLayers * directions, b, hiddenSize]
        for (name, s) in states {
            guard s.shape == shape else {
                throw LSTMKitError.sizeMismatch("\(name) must have shape \(shape), got \(s.shape)")
            }
            if let bad = s.data.withUnsafeBufferPointer(VectorMath.firstNonFinite) {
                throw LSTMKitError.invalidArgument("\(name) contains \(s.data[bad]) at flat index \(bad)")
            }
        }
        return lens
    }
}

/// The LSTM's name for its configuration (the C ABI's lk_lstm_config, the "lstm" file kind).
public typealias LSTMConfig = RecurrentConfig

/// The recurrent cells a model can be built with, under their tag in model files
/// (metadata "cell", see `ModelFile.cell`; a file without it holds an LSTM).
public enum RecurrentCell: String, CaseIterable, Sendable {
    case lstm
    case gru

    /// The factory: a (multi-layer, optionally bidirectional) recurrent layer of this cell.
    public func make(_ config: RecurrentConfig) throws -> any RecurrentLayer {
        switch self {
        case .lstm: return try LSTM(config)
        case .gru: return try GRU(config)
        }
    }
}

/// A multi-layer, optionally bidirectional recurrent layer over padded batches with
/// per-sequence lengths: x (B, T, D) → y (B, T, K·H), K directions of H units. Steps at
/// t >= length neither change the state nor receive gradient, their outputs are 0, and
/// a reverse direction starts at each sequence's own last step.
///
/// Its tensors come from the module tree (each cell names them as PyTorch does). The
/// final state models see is h, the state every cell has; `state` is the whole state
/// (the LSTM's c too), which a caller carries into the next call as `initial` to read a
/// long sequence in chunks (truncated BPTT). The methods' labels differ from the LSTM's
/// own `forward` / `infer` / `backward`, so neither API shadows the other on an `LSTM`.
public protocol RecurrentLayer: Module {
    /// The cell, as the model file tags it.
    var cell: RecurrentCell { get }
    /// Input size, hidden size H, layers L, directions K (`directions`, `outputSize`).
    var config: RecurrentConfig { get }

    /// The forward pass that keeps what backward needs, from `initial` (nil: zeros; a
    /// state of this cell, (L·K, B, H) each); `training` enables dropout between layers.
    /// Inputs must be valid (lengths in [1, T], finite values, `config.validate(x:...)`).
    func forward(sequences x: Tensor, lengths: [Int], initial: RecurrentState?, training: Bool) -> RecurrentOutput

    /// Inference only: the same y and final state as `forward(training: false)`, keeping nothing.
    func infer(sequences x: Tensor, lengths: [Int], initial: RecurrentState?) -> (y: Tensor, state: RecurrentState)

    /// Back-propagates dY (B, T, K·H) and, optionally, the gradient of the final h
    /// (L·K, B, H); ADDS into every parameter's grad and returns dx (B, T, D). The
    /// forward pass's initial state is used (the first step's recurrent-weight gradient
    /// reads it) but receives no gradient: a carried state is detached, as truncated BPTT
    /// wants (the cells' own `backward` returns it, for their checks and the raw layers).
    func backward(_ cache: RecurrentCache, outputGrad dY: Tensor, finalGrad: Tensor?) -> Tensor
}

extension RecurrentLayer {
    /// The forward pass from a zero state.
    public func forward(sequences x: Tensor, lengths: [Int], training: Bool) -> RecurrentOutput {
        forward(sequences: x, lengths: lengths, initial: nil, training: training)
    }

    /// Inference from a zero state: y and the final h.
    public func infer(sequences x: Tensor, lengths: [Int]) -> (y: Tensor, final: Tensor) {
        let out = infer(sequences: x, lengths: lengths, initial: nil)
        return (out.y, out.state.h)
    }
}

/// A recurrent layer's whole state, every layer and direction: h (L·K, B, H) and, for a
/// cell that has one (the LSTM), its cell state c of the same shape (nil: the GRU; an
/// LSTM given nil starts c at zero).
public struct RecurrentState: Equatable, Sendable {
    public var h: Tensor
    public var c: Tensor?

    public init(h: Tensor, c: Tensor? = nil) {
        self.h = h
        self.c = c
    }

    /// Rows `rows` of the batch (B' of them): each (L·K, B', H).
    public func rows(_ rows: [Int]) -> RecurrentState {
        func take(_ t: Tensor) -> Tensor {
            let (blocks, batch, hidden) = (t.shape[0], t.shape[1], t.shape[2])
            var out = [Float]()
            out.reserveCapacity(blocks * rows.count * hidden)
            for l in 0..<blocks {
                for b in rows { out += t.data[((l * batch + b) * hidden)..<((l * batch + b + 1) * hidden)] }
            }
            return Tensor(shape: [blocks, rows.count, hidden], data: out)
        }
        return RecurrentState(h: take(h), c: c.map(take))
    }
}

/// A recurrent layer's forward pass.
public struct RecurrentOutput {
    /// (B, T, K·H); zero at padded steps.
    public var y: Tensor
    /// Each sequence's state after its last step, every layer and direction (L·K, B, H).
    public var state: RecurrentState
    public var cache: RecurrentCache

    /// Each sequence's h after its last step: (L·K, B, H).
    public var final: Tensor { state.h }
}

/// What backward needs from a forward pass, opaque to the model: each cell keeps its
/// own (the LSTM's `LSTM.Cache`).
public struct RecurrentCache {
    let value: Any
}
