import LSTMKitCore

/// Sizes known before anything is allocated, for the checks of `Memory`: a model's
/// weights from its config (`Memory.checkModel`, before it is built) and what one
/// training step holds (`TrainingTask.stepFloats`, checked by the Trainer before each
/// epoch). Counts are Doubles so that no config or batch can overflow them; they are
/// upper bounds (a Swift allocation that fails aborts the process, a check that fails
/// is an `outOfMemory` error).
public enum FloatCount {
    public static func linear(_ inputs: Int, _ outputs: Int) -> Double { (Double(inputs) + 1) * Double(outputs) }
    /// A k×k convolution (or transposed convolution) with bias.
    public static func conv(_ inputs: Int, _ outputs: Int, kernel: Int = 3) -> Double {
        (Double(inputs) * Double(kernel * kernel) + 1) * Double(outputs)
    }
    public static func embedding(_ count: Int, _ dim: Int) -> Double { Double(count) * Double(dim) }
}

extension RecurrentConfig {
    /// The weights of the stack, counted as an LSTM's (4 gate blocks: the GRU has 3).
    public var parameterEstimate: Double {
        let (h, k) = (Double(hiddenSize), Double(directions))
        let first = 4 * h * (Double(inputSize) + h + 2) * k
        return first + Double(numLayers - 1) * 4 * h * (Double(outputSize) + h + 2) * k
    }

    /// Floats a training step holds per padded step of each sequence (batch × steps of
    /// them): per layer its input, dropout mask and output, per direction the cache
    /// (an LSTM's 4 gates, h and c: 6 H; the GRU's 5 H), then backward's gradients of a
    /// layer's output and input and a direction's gate gradients.
    public var trainingFloatsPerStep: Double {
        let (h, k) = (Double(hiddenSize), Double(directions))
        var total = 0.0
        for layer in 0..<numLayers {
            let input = Double(layer == 0 ? inputSize : outputSize)
            total += 2 * input + k * h + 6 * k * h
        }
        return total + 2 * Double(max(inputSize, outputSize)) + 4 * k * h
    }
}

extension Memory {
    /// Bytes of `floats` floats, saturated at Int.max (which no check lets through).
    static func bytes(floats: Double) -> Int {
        let b = floats * Double(MemoryLayout<Float>.stride)
        return b.isFinite && b < Double(Int.max / 2) ? Int(b.rounded(.up)) : .max
    }

    /// Checks, before a model is built, that its `parameters` weights fit: their values
    /// and gradients (training's optimizer state is the Trainer's check). Every model's
    /// constructor calls this first with its config's estimate.
    public static func checkModel(parameters: Double, for what: @autoclosure () -> String) throws {
        try check(bytes: bytes(floats: 2 * parameters), for: "\(what()) with \(describeCount(parameters)) weights")
    }

    /// "1.2 billion" style counts for messages.
    static func describeCount(_ n: Double) -> String {
        n < 1e6 ? String(Int(n)) : n < 1e9 ? "\((n / 1e5).rounded() / 10) million" : "\((n / 1e8).rounded() / 10) billion"
    }
}
