import LSTMKitCore
import LSTMKitLayers

/// Hyper-parameters of the BiLSTM-CRF segmenter.
public struct SegmenterConfig: Equatable, Sendable {
    public var characterDim = 64
    public var bigramDim = 32
    public var hiddenSize = 128
    public var numLayers = 1
    public var embeddingDropout: Float = 0.3
    public var outputDropout: Float = 0.3
    /// The recurrent layer's cell.
    public var cell: RecurrentCell = .lstm
    public var seed: UInt64 = 1
    /// Dictionary features per character (set from the vocabulary).
    public var featureCount = 0

    public init() {}

    /// Features per character fed to the LSTM: its embedding, its left and right
    /// bigrams' embeddings and its dictionary features.
    public var inputSize: Int { characterDim + 2 * bigramDim + featureCount }
}

extension SegmenterConfig: HyperParameterized {
    public static var hyperParameters: [HyperParameter<Self>] {
        [
            .int("char_dim", \.characterDim, 1...4096, "Embedding size of each character (the model file's character_dim)."),
            .int("bigram_dim", \.bigramDim, 1...4096, "Embedding size of each character bigram."),
            .hiddenSize(\.hiddenSize),
            .cell(\.cell),
            .numLayers(\.numLayers),
            .float("embedding_dropout", \.embeddingDropout, .closedOpen(0, 1), "Dropout on the embeddings in training."),
            .float("output_dropout", \.outputDropout, .closedOpen(0, 1), "Dropout on the LSTM's outputs in training."),
            .int("feature_count", \.featureCount, 0...int32Max, "Dictionary features per character (set from the vocabulary)."),
        ]
    }
}

/// Embeddings (character + left/right bigram) → bidirectional recurrent layer (a BiLSTM)
/// → Linear → BMES CRF.
public final class SegmenterNetwork: Module {
    public let config: SegmenterConfig
    public let characterEmbedding: Embedding
    public let bigramEmbedding: Embedding
    public let recurrent: any RecurrentLayer
    public let output: Linear
    public let crf: CRF
    var dropoutRNG: SeededRandom

    public init(config: SegmenterConfig, characterCount: Int, bigramCount: Int) throws {
        try config.validate()
        try Memory.checkModel(parameters: config.parameterEstimate(characters: characterCount, bigrams: bigramCount),
                              for: "a tokenizer of \(characterCount) characters and \(bigramCount) bigrams")
        self.config = config
        var rng = SeededRandom(seed: config.seed)
        characterEmbedding = Embedding(characterCount, config.characterDim, paddingIndex: 0, sparse: true, rng: &rng)
        bigramEmbedding = Embedding(bigramCount, config.bigramDim, paddingIndex: 0, sparse: true, rng: &rng)
        // N(0, 1) embeddings swamp a small LSTM at the start; scale them down.
        for e in [characterEmbedding, bigramEmbedding] {
            let s = 1 / Float(e.dim).squareRoot()
            e.weight.value = e.weight.value.map { $0 * s }  // whole: across targets, [i] *= would copy per element
        }
        recurrent = try config.cell.make(RecurrentConfig(inputSize: config.inputSize, hiddenSize: config.hiddenSize,
                                                         numLayers: config.numLayers, bidirectional: true, seed: rng.next()))
        output = Linear(2 * config.hiddenSize, 4, rng: &rng)
        crf = BMES.crf()
        dropoutRNG = rng.split()
    }

    /// The file's names: "char_embedding.weight", "lstm.weight_ih_l0", "crf.start", …
    /// (the recurrent layer under its cell's tag).
    public var children: [(name: String, module: Module)] {
        [("char_embedding", characterEmbedding), ("bigram_embedding", bigramEmbedding),
         (recurrent.cell.rawValue, recurrent), ("output", output), ("crf", crf)]
    }

    /// A batch of pieces, padded to the longest.
    public struct Batch {
        public var characters: [Int32]   // (B, T)
        public var leftBigrams: [Int32]  // (B, T)
        public var rightBigrams: [Int32] // (B, T)
        public var features: [Float]     // (B, T, F)
        public var featureCount: Int
        public var tags: [Int32]         // (B, T), empty at inference
        public var lengths: [Int]
        public var steps: Int
        public var size: Int { lengths.count }

        public init(_ pieces: [EncodedPiece], featureCount: Int) {
            steps = pieces.map(\.characters.count).max() ?? 0
            lengths = pieces.map(\.characters.count)
            self.featureCount = featureCount
            let n = pieces.count * steps
            characters = [Int32](repeating: 0, count: n)
            leftBigrams = characters
            rightBigrams = characters
            features = [Float](repeating: 0, count: n * featureCount)
            tags = pieces.first?.tags.isEmpty ?? true ? [] : characters
            for (b, p) in pieces.enumerated() {
                for t in 0..<p.characters.count {
                    characters[b * steps + t] = p.characters[t]
                    leftBigrams[b * steps + t] = p.bigrams[t]
                    rightBigrams[b * steps + t] = p.bigrams[t + 1]
                    if !tags.isEmpty { tags[b * steps + t] = p.tags[t] }
                }
                for i in 0..<p.features.count { features[b * steps * featureCount + i] = p.features[i] }
            }
        }
    }

    /// The LSTM input (B, T, D): [char | left bigram | right bigram | features] per position.
    func embed(_ batch: Batch) -> Tensor {
        let (cd, bd, fc) = (config.characterDim, config.bigramDim, config.featureCount)
        precondition(batch.featureCount == fc, "batch has \(batch.featureCount) features, the network \(fc)")
        let d = config.inputSize
        let rows = batch.size * batch.steps
        // Every column of every row is written: the lookups go straight into their
        // columns (padding positions take the padding rows, zero, and zero features).
        let x = FloatKernels.array(rows * d) { x in
            characterEmbedding.lookup(batch.characters, into: x, stride: d)
            bigramEmbedding.lookup(batch.leftBigrams, into: x + cd, stride: d)
            bigramEmbedding.lookup(batch.rightBigrams, into: x + cd + bd, stride: d)
            batch.features.withUnsafeBufferPointer { f in
                for row in 0..<rows where fc > 0 {
                    (x + row * d + cd + 2 * bd).update(from: f.baseAddress! + row * fc, count: fc)
                }
            }
        }
        return Tensor(shape: [batch.size, batch.steps, d], data: x)
    }

    /// Emission scores (B, T, 4) for inference.
    public func emissions(_ batch: Batch) -> Tensor {
        return output.forward(recurrent.infer(sequences: embed(batch), lengths: batch.lengths).y)
    }

    /// A teacher's emissions for a batch (distillation, TokenizerDistillation.swift).
    public struct SoftTargets {
        /// (B, T, 4), as the batch's emissions; padding ignored.
        public var scores: [Float]
        /// The lengths the CRF's NLL sees: 0 for a piece without gold tags.
        public var crfLengths: [Int]
        /// Per piece (B): the weight of the teacher's term (0: none).
        public var weights: [Float]
        public var temperature: Float
    }

    /// One training step's forward and backward: returns the mean loss per piece (the
    /// NLL, plus the teacher's term with `softTargets`) and ADDS the gradients into
    /// every parameter.
    public func trainStep(_ batch: Batch, labelSmoothing: Float = 0, softTargets: SoftTargets? = nil) throws -> Float {
        var x = embed(batch)
        let embeddingDrop = Dropout(config.embeddingDropout)
        let (xd, xMask) = embeddingDrop.forward(x, rng: &dropoutRNG)
        x = xd
        let out = recurrent.forward(sequences: x, lengths: batch.lengths, training: true)
        let outputDrop = Dropout(config.outputDropout)
        let (h, hMask) = outputDrop.forward(out.y, rng: &dropoutRNG)
        let scores = output.forward(h)
        let scale = 1 / Float(batch.size)
        var (loss, dScores) = try crf.negativeLogLikelihood(emissions: scores, tags: batch.tags,
                                                            lengths: softTargets?.crfLengths ?? batch.lengths, scale: scale)
        if let soft = softTargets, soft.weights.contains(where: { $0 > 0 }) {
            let (l2, g2) = try Loss.softTargetKL(student: scores, teacher: soft.scores, mask: Self.positionMask(batch, weights: soft.weights),
                                                 temperature: soft.temperature, scale: scale)
            loss += l2
            for i in 0..<dScores.count { dScores.data[i] += g2.data[i] }
        }
        if labelSmoothing > 0 {
            // Smoothing as an extra token-level cross-entropy towards the uniform distribution.
            let (l2, g2) = try Loss.softmaxCrossEntropy(
                logits: scores, targets: batch.tags,
                mask: Self.positionMask(batch), labelSmoothing: 1)
            loss += labelSmoothing * l2
            for i in 0..<dScores.count { dScores.data[i] += labelSmoothing * g2.data[i] }
        }
        let dH = outputDrop.backward(hMask, outputGrad: output.backward(h, outputGrad: dScores))
        let dX = embeddingDrop.backward(xMask, outputGrad: recurrent.backward(out.cache, outputGrad: dH, finalGrad: nil))
        // Split dX back into the three embedding lookups.
        let (cd, bd, d) = (config.characterDim, config.bigramDim, config.inputSize)
        let rows = batch.size * batch.steps
        var dc = [Float](repeating: 0, count: rows * cd)
        var dl = [Float](repeating: 0, count: rows * bd)
        var dr = dl
        for row in 0..<rows {
            for j in 0..<cd { dc[row * cd + j] = dX.data[row * d + j] }
            for j in 0..<bd {
                dl[row * bd + j] = dX.data[row * d + cd + j]
                dr[row * bd + j] = dX.data[row * d + cd + bd + j]
            }
        }
        characterEmbedding.backward(batch.characters, outputGrad: Tensor(shape: [rows, cd], data: dc))
        bigramEmbedding.backward(batch.leftBigrams, outputGrad: Tensor(shape: [rows, bd], data: dl))
        bigramEmbedding.backward(batch.rightBigrams, outputGrad: Tensor(shape: [rows, bd], data: dr))
        return loss
    }

    /// 1 (or the piece's weight) at real positions, 0 at padding.
    static func positionMask(_ batch: Batch, weights: [Float]? = nil) -> [Float] {
        var m = [Float](repeating: 0, count: batch.size * batch.steps)
        for b in 0..<batch.size { for t in 0..<batch.lengths[b] { m[b * batch.steps + t] = weights?[b] ?? 1 } }
        return m
    }
}

extension SegmenterConfig {
    /// An upper bound of the weights, for `Memory.checkModel`.
    func parameterEstimate(characters: Int, bigrams: Int) -> Double {
        FloatCount.embedding(characters, characterDim) + FloatCount.embedding(bigrams, bigramDim)
            + RecurrentConfig(inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bidirectional: true).parameterEstimate
            + FloatCount.linear(2 * hiddenSize, 4) + 24   // the CRF's transitions, start and end scores
    }
}
