import LSTMKitCore
import LSTMKitIO
import LSTMKitLayers

/// Hyper-parameters of the sequence classifier. The defaults were chosen on dev splits
/// carved from the UCR/UEA training sets (bench/seq_classify_tune.py, docs/TIME_SERIES.md).
public struct SequenceClassifierConfig: Equatable, Sendable, RecurrentClassifierConfig {
    public var hiddenSize = 64
    public var numLayers = 1
    public var bidirectional = true
    /// The recurrent layers' cell.
    public var cell: RecurrentCell = .lstm
    /// The last step's state of each direction: the best pooling on the dev splits.
    public var pooling: SequencePoolingKind = .last
    public var attentionSize = 32
    public var attentionHeads = 4
    /// LayerNorm on the outputs of every recurrent layer but the last.
    public var layerNorm = false
    /// Dropout between recurrent layers and on the pooled features, in training.
    public var dropout: Float = 0.1
    /// NaN in the input: refused (naming it) or masked (see `MissingValues.mask`).
    public var missing: MissingValues = .refuse
    /// The recurrent layers read this many consecutive steps at a time, side by side as
    /// one step (a long univariate series becomes a shorter sequence of short shapes).
    /// 0: chosen in training, ceil(longest training sequence / 32) (1 up to 32 steps).
    public var patchLength = 0
    /// Networks in the model, each trained on its own dev split (or seed), whose
    /// probabilities are averaged: on the dev splits 3 beat 1 by 2.3 points of accuracy.
    public var members = 3
    /// LSTM-FCN's convolutional branch beside the recurrent layers: its blocks' filters
    /// (kernels 8, 5, 3), its pooled features joining the recurrent ones; empty: none.
    /// A quarter of the paper's 128/256/128: on the dev splits it raised the mean
    /// accuracy from 0.895 to 0.936 (three seeds; docs/TIME_SERIES.md).
    public var convFilters = [32, 64, 32]
    public var seed: UInt64 = 1

    public init() {}
}

extension SequenceClassifierConfig: HyperParameterized {
    public static var hyperParameters: [HyperParameter<Self>] {
        [
            .cell(\.cell),
            .hiddenSize(\.hiddenSize),
            .numLayers(\.numLayers),
            .attentionSize(\.attentionSize),
            .attentionHeads(\.attentionHeads),
            .float("dropout", \.dropout, .closedOpen(0, 1), "Dropout between recurrent layers and on the pooled features in training."),
            .int("patch_length", \.patchLength, 1...4096, orZero: true, "Steps read together as one (0: ceil(longest training sequence / 32))."),
            .int("members", \.members, 1...16, "Networks trained on different dev splits; their probabilities are averaged."),
            .ints("conv_filters", \.convFilters, count: 0...3, each: 1...1024,
                  "Filters of an LSTM-FCN convolutional branch beside the recurrent layers (kernels 8, 5, 3; empty: none)."),
        ]
    }

    public func validateCombination() throws { try validatePooling() }
}

/// One network of a SequenceClassifier: per-channel z-score scaling (fitted on its
/// training sequences, saved in the model) → a stack of recurrent layers ((Bi)LSTM or
/// another cell; LayerNorm between them if asked) → pooling over the valid steps (last,
/// mean, max, additive attention or self-attention) → dropout → Linear → softmax over the classes.
public final class SequenceClassifierMember: Module {
    public let config: SequenceClassifierConfig
    public let labels: [String]
    public let scaler: ChannelScaler
    /// One single-layer recurrent layer per level, so that LayerNorm can sit between them.
    public let layers: [any RecurrentLayer]
    public let norms: [LayerNorm]
    public let pooling: RecurrentOutputPooling
    /// The convolutional branch (`config.convFilters`), if any.
    public let front: TemporalConvFront?
    public let output: Linear
    var dropoutRNG: SeededRandom

    public var channels: Int { scaler.channels }
    /// Steps per recurrent step (`config.patchLength`, never 0 in a model).
    public var patch: Int { config.patchLength }

    /// A model with an identity `scaler` unless one is given (fitted on training data).
    public init(config: SequenceClassifierConfig, channels: Int, labels: [String], scaler: ChannelScaler? = nil) throws {
        try config.validate()
        guard channels >= 1, channels <= 1 << 16 else { throw LSTMKitError.invalidArgument("channels must be in [1, 65536], got \(channels)") }
        guard labels.count >= 2 else {
            throw LSTMKitError.invalidArgument("a classifier needs at least 2 classes, got \(labels.count): \(labels)")
        }
        guard Set(labels).count == labels.count else { throw LSTMKitError.invalidArgument("class labels repeat: \(labels)") }
        var config = config
        config.patchLength = max(config.patchLength, 1)   // 0 ("from the data") is the trainer's to resolve
        self.config = config
        self.labels = labels
        self.scaler = scaler ?? ChannelScaler(channels: channels, maskMissing: config.missing == .mask)
        var rng = SeededRandom(seed: config.seed)
        var layers: [any RecurrentLayer] = []
        var inputSize = self.scaler.featureWidth * config.patchLength
        for _ in 0..<config.numLayers {
            let layer = try config.cell.make(RecurrentConfig(inputSize: inputSize, hiddenSize: config.hiddenSize,
                                                             bidirectional: config.bidirectional, seed: rng.next()))
            layers.append(layer)
            inputSize = layer.config.outputSize
        }
        self.layers = layers
        norms = config.layerNorm ? (1..<config.numLayers).map { _ in LayerNorm(inputSize) } : []
        pooling = RecurrentOutputPooling(config.pooling, recurrent: layers.last!.config, attentionSize: config.attentionSize,
                                         heads: config.attentionHeads, rng: &rng)
        output = Linear(inputSize + (config.convFilters.last ?? 0), labels.count, rng: &rng)
        dropoutRNG = rng.split()
        // Drawn last, so that a model without the branch is initialised as before.
        front = config.convFilters.isEmpty ? nil
            : TemporalConvFront(inputSize: self.scaler.featureWidth, filters: config.convFilters, rng: &rng)
    }

    /// The file's names: "scaler.mean", "lstm.0.weight_ih_l0" (each level under the cell's
    /// tag), "norm.0.weight", "attention.context", "output.weight", …
    public var children: [(name: String, module: Module)] {
        var m: [(name: String, module: Module)] = [("scaler", scaler), (config.cell.rawValue, ModuleList(layers))]
        if !norms.isEmpty { m.append(("norm", ModuleList(norms))) }
        m += pooling.children()
        if let front { m.append(("fcn", front)) }
        m.append(("output", output))
        return m
    }

    // MARK: Forward and backward

    struct Cache {
        var inputs: [(recurrent: RecurrentCache, norm: LayerNorm.Cache?, mask: [Float]?)] = []
        var pooling: RecurrentOutputPooling.Cache?
        var front: TemporalConvFront.Cache?
        var features: Tensor?
        var featureMask: [Float]?
    }

    /// Logits (B, classes) of a scaled batch x (B, T, patch · featureWidth) of `lengths`
    /// patches, `steps` steps; with `training`, dropout and what backward needs. Also the
    /// attention weights (B, T) if any.
    func forward(_ x: Tensor, lengths: [Int], steps: [Int], training: Bool) -> (logits: Tensor, attention: [Float]?, cache: Cache) {
        var cache = Cache()
        var h = x, final = Tensor(zeros: [0])
        let drop = Dropout(config.dropout)
        for (l, layer) in layers.enumerated() {
            var normCache: LayerNorm.Cache?, mask: [Float]?
            if l > 0 {
                if !norms.isEmpty { (h, normCache) = norms[l - 1].forward(h) }
                if training && config.dropout > 0 { (h, mask) = drop.forward(h, rng: &dropoutRNG) }
            }
            if training {
                let out = layer.forward(sequences: h, lengths: lengths, training: true)
                (h, final) = (out.y, out.final)
                cache.inputs.append((out.cache, normCache, mask))
            } else {
                (h, final) = layer.infer(sequences: h, lengths: lengths)
            }
        }
        var (pooled, poolCache) = pooling.forward(y: h, final: final, lengths: lengths)
        if let front {
            // The branch reads steps, not patches: (B, T, P·D) is (B, T·P, D).
            let width = scaler.featureWidth
            let (features, frontCache) = front.forward(Tensor(shape: [x.shape[0], x.shape[1] * patch, width], data: x.data),
                                                       lengths: steps, training: training)
            pooled = joinColumns(pooled, features)
            cache.front = frontCache
        }
        if training {
            if config.dropout > 0 { (pooled, cache.featureMask) = drop.forward(pooled, rng: &dropoutRNG) }
            (cache.pooling, cache.features) = (poolCache, pooled)
        }
        return (output.forward(pooled), poolCache.attentionWeights, cache)
    }

    /// Back-propagates dLogits through the network; ADDS into every parameter's grad.
    func backward(_ cache: Cache, logitsGrad: Tensor) {
        var dPooled = output.backward(cache.features!, outputGrad: logitsGrad)
        if let mask = cache.featureMask { dPooled = Dropout(config.dropout).backward(mask, outputGrad: dPooled) }
        if let front {
            let parts = splitColumns(dPooled, at: dPooled.shape[1] - front.outputSize)
            dPooled = parts.0
            front.backward(cache.front!, outputGrad: parts.1)
        }
        var (dY, dFinal) = pooling.backward(cache.pooling!, outputGrad: dPooled)
        for l in layers.indices.reversed() {
            let c = cache.inputs[l]
            dY = layers[l].backward(c.recurrent, outputGrad: dY, finalGrad: dFinal)
            dFinal = nil
            if let mask = c.mask { dY = Dropout(config.dropout).backward(mask, outputGrad: dY) }
            if let n = c.norm { dY = norms[l - 1].backward(n, outputGrad: dY) }
        }
    }

    /// Forward and backward on the sequences at `members` of `data` with dropout; ADDS
    /// gradients; returns the mean cross-entropy.
    func trainStep(_ data: Sequences, _ members: [Int], targets: [Int32]) throws -> Float {
        let (x, lengths) = scaler.batch(data, members, patch: patch)
        let (logits, _, cache) = forward(x, lengths: lengths, steps: members.map { data.lengths[$0] }, training: true)
        let (loss, dLogits) = try Loss.softmaxCrossEntropy(logits: logits, targets: targets)
        backward(cache, logitsGrad: dLogits)
        return loss
    }

    // MARK: Prediction

    /// Class probabilities (N, classes) and, with attention pooling, each sequence's
    /// attention weights over its steps; in batches of similar length on up to `threads`
    /// threads. Throws when `data` has another channel count, or NaN the model does not mask.
    public func predictWithAttention(_ data: Sequences, threads: Int = 1, batchSize: Int = 64) throws
        -> (probabilities: [[Float]], attention: [[Float]]?) {
        try scaler.check(data)
        let order = data.lengths.indices.sorted { data.lengths[$0] > data.lengths[$1] }
        let batches = stride(from: 0, to: order.count, by: batchSize).map { Array(order[$0..<min($0 + batchSize, order.count)]) }
        let probabilities = ResultSlots<[Float]>(count: data.count), attention = ResultSlots<[Float]>(count: data.count)
        parallelForEach(batches.count, threads: threads) { i in
            let members = batches[i]
            let (x, lengths) = self.scaler.batch(data, members, patch: self.patch)
            let (logits, weights, _) = self.forward(x, lengths: lengths, steps: members.map { data.lengths[$0] }, training: false)
            let c = self.labels.count, steps = x.shape[1]
            for (row, index) in members.enumerated() {
                probabilities.set(index, VectorMath.softmax(Array(logits.data[(row * c)..<((row + 1) * c)])))
                if let weights { attention.set(index, self.stepWeights(weights[(row * steps)..<(row * steps + lengths[row])], length: data.lengths[index])) }
            }
        }
        // Overflowed logits (diverged weights, or values far outside the training scale)
        // are an error, never NaN returned as probabilities; in training, the dev score's
        // error is the Trainer's divergence stop.
        let values = probabilities.values
        if let bad = values.firstIndex(where: { !$0.allSatisfy(\.isFinite) }) { throw LSTMKitError.nonFiniteOutput(sequence: bad) }
        return (values, pooling.attention == nil ? nil : attention.values)
    }

    /// Per-step attention weights from per-patch ones: a patch's weight shared evenly by
    /// the steps it holds (the last patch may hold fewer).
    func stepWeights(_ w: ArraySlice<Float>, length: Int) -> [Float] {
        (0..<length).map { t in
            let k = t / patch
            return w[w.startIndex + k] / Float(min(patch, length - k * patch))
        }
    }

}

/// Classifies float sequences of C channels and any length: the average of the class
/// probabilities of `config.members` networks (`SequenceClassifierMember`), each trained
/// on its own dev split. Labels are strings, kept in the model.
public final class SequenceClassifier: Module, ModelFileModel {
    public static let modelKind = "sequence_classifier"

    public let config: SequenceClassifierConfig
    public let labels: [String]
    public let members: [SequenceClassifierMember]

    public var channels: Int { members[0].channels }
    /// Steps per recurrent step (`config.patchLength`, never 0 in a model).
    public var patch: Int { config.patchLength }

    /// Member k is initialised from `SeededRandom.memberSeed(config.seed, k)` and has `scalers[k]` (fitted on
    /// its training data), else an identity scaler.
    public init(config: SequenceClassifierConfig, channels: Int, labels: [String], scalers: [ChannelScaler]? = nil) throws {
        try config.validate()
        var config = config
        config.patchLength = max(config.patchLength, 1)   // 0 ("from the data") is the trainer's to resolve
        let features = channels * (config.missing == .mask ? 2 : 1)   // the scalers' featureWidth
        try Memory.checkModel(parameters: Double(config.members) * config.parameterEstimate(features: features, classes: labels.count),
                              for: "a sequence classifier of \(config.members) members over \(channels) channels")
        self.config = config
        self.labels = labels
        members = try (0..<config.members).map { k in
            var c = config
            c.seed = SeededRandom.memberSeed(config.seed, k)
            return try SequenceClassifierMember(config: c, channels: channels, labels: labels, scaler: scalers?[k])
        }
    }

    /// The file's names: "member0.scaler.mean", "member0.lstm.0.weight_ih_l0", …
    public var children: [(name: String, module: Module)] { members.enumerated().map { ("member\($0)", $1) } }

    /// Class probabilities (N, classes), the members' mean, and with attention pooling
    /// each sequence's attention weights over its steps (the members' mean); on up to
    /// `threads` threads. Throws when `data` has another channel count, or NaN the model
    /// does not mask.
    public func predictWithAttention(_ data: Sequences, threads: Int = 1) throws -> (probabilities: [[Float]], attention: [[Float]]?) {
        let each = try members.map { try $0.predictWithAttention(data, threads: threads) }
        func mean(_ rows: [[[Float]]]) -> [[Float]] {
            rows.dropFirst().reduce(rows[0]) { sum, r in zip(sum, r).map { zip($0, $1).map { $0 + $1 } } }
                .map { $0.map { $0 / Float(rows.count) } }
        }
        return (mean(each.map(\.probabilities)), each[0].attention == nil ? nil : mean(each.map { $0.attention! }))
    }

    public func predictProbabilities(_ data: Sequences, threads: Int = 1) throws -> [[Float]] {
        try predictWithAttention(data, threads: threads).probabilities
    }

    public func predict(_ data: Sequences, threads: Int = 1) throws -> [String] {
        try predictProbabilities(data, threads: threads).map { p in labels[p.indices.max { p[$0] < p[$1] }!] }
    }

    /// Each sequence's attention weights over its steps (they sum to 1); nil unless the
    /// model pools by attention.
    public func attentionWeights(_ data: Sequences, threads: Int = 1) throws -> [[Float]]? {
        try predictWithAttention(data, threads: threads).attention
    }

    /// Accuracy, macro-F1 and confusion of predictions against string labels; a label
    /// the model does not know is an error naming it.
    public func evaluate(_ data: Sequences, labels gold: [String], threads: Int = 1) throws -> ClassificationScore {
        guard data.count == gold.count else { throw LSTMKitError.sizeMismatch("\(data.count) sequences but \(gold.count) labels") }
        let goldIndices = try classIndices(gold)
        return ClassificationScore(labels: labels, probabilities: try predictProbabilities(data, threads: threads), gold: goldIndices)
    }

    func classIndices(_ gold: [String]) throws -> [Int] {
        let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
        return try gold.map { g in
            guard let i = index[g] else { throw LSTMKitError.invalidArgument("label \"\(g)\" is not one of the model's classes \(labels)") }
            return i
        }
    }

    // MARK: Files

    public func modelFile() -> SafeTensors {
        SafeTensors(
            metadata: ModelFile.header(kind: Self.modelKind, quantized: isQuantized) + [
                ("channels", String(channels)),
            ] + ModelFile.recurrentMetadata(config) + ModelFile.poolingMetadata(config) + [
                ("layer_norm", config.layerNorm ? "true" : "false"),
                ("dropout", String(config.dropout)),
                ("missing", config.missing.rawValue),
                ("patch_length", String(patch)),
                ("members", String(members.count)),
            ] + (config.convFilters.isEmpty ? [] : [   // recorded only when present: older files have none
                ("conv_filters", config.convFilters.map(String.init).joined(separator: ",")),
            ]) + [
                ("seed", String(config.seed)),
                ("labels", JSONValue.array(labels.map { .string($0) }).serialized),
            ],
            tensors: ModelFile.tensors(of: self))
    }

    public convenience init(modelFile file: SafeTensors) throws {
        try ModelFile.checkKind(file, expected: Self.modelKind)
        var c = SequenceClassifierConfig()
        let channels = try ModelFile.int(file, "channels")
        try ModelFile.readRecurrent(file, into: &c)
        try ModelFile.readPooling(file, into: &c)
        c.layerNorm = try ModelFile.bool(file, "layer_norm")
        c.dropout = try ModelFile.float(file, "dropout")
        guard let missing = MissingValues(rawValue: file.metadata("missing") ?? "") else {
            throw LSTMKitError.invalidFormat("metadata \"missing\" must be refuse or mask")
        }
        c.missing = missing
        c.patchLength = try ModelFile.int(file, "patch_length")
        guard c.patchLength >= 1 else { throw LSTMKitError.invalidFormat("metadata \"patch_length\" must be >= 1, got \(c.patchLength)") }
        c.members = try ModelFile.int(file, "members")
        c.convFilters = []   // absent: no branch (every file written before it existed)
        if let filters = file.metadata("conv_filters") {
            let sizes = filters.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
            guard !filters.isEmpty, !sizes.contains(nil) else {
                throw LSTMKitError.invalidFormat("metadata \"conv_filters\" must be sizes separated by commas, got \"\(filters)\"")
            }
            c.convFilters = sizes.map { $0! }
        }
        guard let seed = UInt64(file.metadata("seed") ?? "") else { throw LSTMKitError.invalidFormat("metadata \"seed\" is missing or not an integer") }
        c.seed = seed
        let labels = try ModelFile.stringList(file, "labels")
        do {
            try c.validate()
            let last = "member\(c.members - 1).", prefix = last + c.cell.rawValue + "."
            var sizes = [("channels", channels, "member0.scaler.mean", 0), ("labels", labels.count, "member0.output.weight", 0),
                         ("members", channels, last + "scaler.mean", 0),
                         ("hidden_size", c.hiddenSize, prefix + "0.weight_hh_l0", 1),
                         ("num_layers", c.hiddenSize, prefix + "\(c.numLayers - 1).weight_hh_l0", 1)]
            if c.pooling.weighsSteps { sizes.append(("attention_size", c.attentionSize, last + "attention.projection.weight", 0)) }
            for (i, f) in c.convFilters.enumerated() { sizes.append(("conv_filters", f, last + "fcn.\(i).conv.weight", 0)) }
            try ModelFile.checkSizes(file, sizes)
            try self.init(config: c, channels: channels, labels: labels)
        } catch let e as LSTMKitError {
            throw LSTMKitError.invalidFormat("invalid hyper-parameters: \(e.message)")
        }
        try ModelFile.load(file, into: self)
        for (k, m) in members.enumerated() {
            if let j = m.scaler.std.value.firstIndex(where: { !($0 > 0) }) {
                throw LSTMKitError.invalidFormat("tensor \"member\(k).scaler.std\" holds \(m.scaler.std.value[j]) at \(j); it must be > 0")
            }
        }
    }
}

/// [a | b]: (B, m) and (B, n) side by side, (B, m + n).
func joinColumns(_ a: Tensor, _ b: Tensor) -> Tensor {
    let (rows, m, n) = (a.shape[0], a.shape[1], b.shape[1])
    var out = [Float](); out.reserveCapacity(rows * (m + n))
    for r in 0..<rows { out += a.data[(r * m)..<((r + 1) * m)]; out += b.data[(r * n)..<((r + 1) * n)] }
    return Tensor(shape: [rows, m + n], data: out)
}

/// The adjoint of `joinColumns`: (B, m + n) → (B, m), (B, n).
func splitColumns(_ x: Tensor, at m: Int) -> (Tensor, Tensor) {
    let (rows, n) = (x.shape[0], x.shape[1] - m)
    var a = [Float](), b = [Float]()
    for r in 0..<rows { a += x.data[(r * (m + n))..<(r * (m + n) + m)]; b += x.data[(r * (m + n) + m)..<((r + 1) * (m + n))] }
    return (Tensor(shape: [rows, m], data: a), Tensor(shape: [rows, n], data: b))
}

extension SequenceClassifierConfig {
    /// Each level's recurrent layer for `features` values per step (before patching).
    func recurrentLayers(features: Int) -> [RecurrentConfig] {
        var input = features * max(patchLength, 1)
        return (0..<numLayers).map { _ in
            defer { input = (bidirectional ? 2 : 1) * hiddenSize }
            return RecurrentConfig(inputSize: input, hiddenSize: hiddenSize, bidirectional: bidirectional)
        }
    }

    /// An upper bound of one member's weights, for `Memory.checkModel`.
    func parameterEstimate(features: Int, classes: Int) -> Double {
        recurrentLayers(features: features).reduce(0) { $0 + $1.parameterEstimate + FloatCount.linear($1.outputSize, 2) }
            + FloatCount.linear((bidirectional ? 2 : 1) * hiddenSize + (convFilters.last ?? 0), attentionSize + classes)
            + Double(attentionSize) + 2 * Double(features)
            + RecurrentOutputPooling.blockEstimate(pooling, width: (bidirectional ? 2 : 1) * hiddenSize)
            + TemporalConvFront.parameterCount(inputSize: features, filters: convFilters)
    }

    /// Floats a training step holds per recurrent step of a sequence (`patchLength`
    /// values of each feature): each level's cache, its norm and dropout, and the input.
    func trainingFloatsPerStep(features: Int) -> Double {
        recurrentLayers(features: features).reduce(0) { $0 + $1.trainingFloatsPerStep + 4 * Double($1.outputSize) }
            + 2 * Double(features * max(patchLength, 1))
            + Double(max(patchLength, 1)) * TemporalConvFront.trainingFloatsPerStep(inputSize: features, filters: convFilters)
    }
}
