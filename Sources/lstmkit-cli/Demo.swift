import ArgumentParser
import LSTMKit

/// A small, real demonstration of the engine until the word segmenter ships: an LSTM
/// tagger learns, from scratch, to tag each step of a random ±1 sequence with the sign
/// of the running sum (a task that needs memory), and is scored on held-out sequences.
struct Demo: Command {
    static let configuration = CommandConfiguration(
        abstract: "Train a small LSTM tagger on a memory task and score it on held-out data.")

    @Option(help: "Training steps (batches of 32 sequences).") var steps = 400
    @Option(help: "Hidden units.") var hidden = 16
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Save the trained LSTM here (a .safetensors model file).") var save: String?

    func execute() throws {
        guard steps >= 1, hidden >= 1 else { throw LSTMKitError.invalidArgument("--steps and --hidden must be >= 1") }
        var rng = SeededRandom(seed: seed)
        let lstm = try LSTM(LSTMConfig(inputSize: 1, hiddenSize: hidden, seed: seed))
        let head = Linear(hidden, 2, rng: &rng)
        let parameters = lstm.parameters + head.parameters
        let optimizer = Adam(learningRate: 0.01)
        let (batch, length) = (32, 20)
        var heldOutRNG = SeededRandom(seed: seed &+ 1_000_003)
        let heldOut = (0..<8).map { _ in Self.sample(batch: batch, length: length, rng: &heldOutRNG) }

        print("Training an LSTM (hidden \(hidden)) to tag the sign of a running sum; \(steps) steps of \(batch) sequences.")
        var recent: [Float] = []
        for step in 1...steps {
            let (x, tags) = Self.sample(batch: batch, length: length, rng: &rng)
            let out = try lstm.run(x, training: true)
            let logits = head.forward(out.y)
            let (loss, dLogits) = try Loss.softmaxCrossEntropy(logits: logits, targets: tags)
            let dY = head.backward(out.y, outputGrad: dLogits)
            _ = lstm.backward(out.cache, outputGrad: dY)
            clipGradientNorm(parameters, maxNorm: 5)
            optimizer.stepAndZero(parameters)
            recent.append(loss)
            if step % 50 == 0 || step == steps {
                let accuracy = try Self.accuracy(lstm, head, heldOut)
                let meanLoss = recent.reduce(0, +) / Float(recent.count)
                recent.removeAll()
                print("step \(step)  loss \(formatted(meanLoss))  held-out accuracy \(formatted(accuracy * 100))%")
            }
        }
        if let save {
            try lstm.save(to: save)
            print("saved the LSTM to \(save)")
        }
    }

    /// Random ±1 steps; the tag of step t is 1 when the sum of steps 0...t is > 0.
    static func sample(batch: Int, length: Int, rng: inout SeededRandom) -> (Tensor, [Int32]) {
        var x = [Float](repeating: 0, count: batch * length)
        var tags = [Int32](repeating: 0, count: batch * length)
        for b in 0..<batch {
            var sum: Float = 0
            for t in 0..<length {
                let v: Float = rng.nextUnitFloat() < 0.5 ? -1 : 1
                sum += v
                x[b * length + t] = v
                tags[b * length + t] = sum > 0 ? 1 : 0
            }
        }
        return (Tensor(shape: [batch, length, 1], data: x), tags)
    }

    static func accuracy(_ lstm: LSTM, _ head: Linear, _ data: [(Tensor, [Int32])]) throws -> Float {
        var right = 0, total = 0
        for (x, tags) in data {
            let logits = head.forward(try lstm.run(x).y)
            for (i, tag) in tags.enumerated() {
                let predicted: Int32 = logits.data[2 * i + 1] > logits.data[2 * i] ? 1 : 0
                right += predicted == tag ? 1 : 0
                total += 1
            }
        }
        return Float(right) / Float(total)
    }
}

