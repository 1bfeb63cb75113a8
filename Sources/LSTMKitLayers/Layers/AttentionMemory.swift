import LSTMKitCore

/// What encoder–decoder attention precomputes from the encoder alone, once per batch of
/// sources (`EncoderDecoderAttention.memory`): the encoder states (the values) and the
/// keys the scores read — the states themselves (`dot`), W_a h̄_s (`general`) or
/// W_1 h̄_s (`additive`). A decoding step then only forms its query's side of the score.
///
/// Rows of a step or sequence choose their source through a row → source index map
/// (`sources:` of `forward`), so the beams of one source share its memory without copies.
public struct AttentionMemory: Sendable {
    /// S, the number of sources.
    public var sources: Int { lengths.count }
    /// T_src, the padded source length.
    public let steps: Int
    /// Each source's valid length, in 1...T_src; positions from it on are padding.
    public let lengths: [Int]
    /// The encoder states h̄ (S, T_src, E), as given (padded rows are never read).
    public let states: Tensor
    /// The keys (S, T_src, K); rows at padded positions are never read (0 from `memory`
    /// for `general` and `additive`; the padded states' projection from `inferenceMemory`).
    let keys: [Float]
    let keyWidth: Int
    /// W_c[:, :E] h̄ (S, T_src, O), the context's share of linear_out per state, for
    /// `EncoderDecoderAttention.infer`; empty unless made by `inferenceMemory`.
    var contextOutputs: [Float] = []
}

/// The gradient a batch of steps accumulates for one memory (`EncoderDecoderAttention.
/// backward`), turned into the encoder states' gradient once at the end
/// (`EncoderDecoderAttention.backward(_:memoryGrad:)`): with input feeding the decoder runs
/// step by step in training too, and this sums every step's share.
public struct AttentionMemoryGradient {
    var keys: [Float]
    var values: [Float]

    /// Zeros shaped like `memory`.
    public init(for memory: AttentionMemory) {
        keys = [Float](repeating: 0, count: memory.sources * memory.steps * memory.keyWidth)
        values = [Float](repeating: 0, count: memory.states.count)
    }
}
