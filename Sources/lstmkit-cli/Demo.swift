import ArgumentParser
import LSTMKit

/// A small, real demonstration of the engine: an LSTM tagger learns, from scratch, to tag
/// each step of a random ±1 sequence with the sign of the running sum (a task that needs
/// memory), and is scored on held-out sequences.
struct Demo: Command {
    static let configuration = CommandConfiguration(
        abstract: "Train a small LSTM tagger on a memory task and score it on held-out data.")

    @Option(help: "Training steps (batches of 32 sequences).") var steps = 400
    @Option(help: "Hidden units.") var hidden = 16
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Save the trained LSTM here (a .safetensors model file).") var save: String?

    func execute() throws {
        guard steps >= 1, hidden >= 1 else { throw invalid("--steps and --hidden must be >= 1") }
        var rng = SeededRandom(seed: seed)
        let lstm = try LSTM(LSTMConfig(inputSize: 1, hiddenSize: hidden, seed: seed))
        let head = Linear(hidden, 2, rng: &rng)
        let parameters = lstm.parameters + head.parameters
        let optimizer = Adam(learningRate: 0.01)
        var heldOutRNG = SeededRandom(seed: seed &+ 1_000_003)
        let heldOut = (0..<8).map { _ in Self.sample(rng: &heldOutRNG) }

        print("Training an LSTM (hidden \(hidden)) to tag the sign of a running sum; \(steps) steps of 32 sequences.")
        var recent: [Float] = []
        for step in 1...steps {
            let (x, tags) = Self.sample(rng: &rng)
            let out = try lstm.run(x, training: true)
            let (loss, dLogits) = try Loss.softmaxCrossEntropy(logits: head.forward(out.y), targets: tags)
            _ = lstm.backward(out.cache, outputGrad: head.backward(out.y, outputGrad: dLogits))
            clipGradientNorm(parameters, maxNorm: 5)
            optimizer.stepAndZero(parameters)
            recent.append(loss)
            guard step % 50 == 0 || step == steps else { continue }
            var right = 0
            for (x, tags) in heldOut {
                let logits = head.forward(try lstm.run(x).y).data
                right += tags.indices.filter { (logits[2 * $0 + 1] > logits[2 * $0] ? 1 : 0) == tags[$0] }.count
            }
            let accuracy = Float(right) / Float(heldOut.count * 32 * 20)
            print("step \(step)  loss \(formatted(recent.reduce(0, +) / Float(recent.count)))  held-out accuracy \(formatted(accuracy * 100))%")
            recent.removeAll()
        }
        if let save {
            try lstm.save(to: save)
            print("saved the LSTM to \(save)")
        }
    }

    /// 32 sequences of 20 random ±1 steps; the tag of step t is 1 when the sum of steps 0...t is > 0.
    static func sample(rng: inout SeededRandom) -> (Tensor, [Int32]) {
        var (x, tags) = ([Float](), [Int32]())
        for _ in 0..<32 {
            var sum: Float = 0
            for _ in 0..<20 {
                x.append(rng.nextUnitFloat() < 0.5 ? -1 : 1)
                sum += x.last!
                tags.append(sum > 0 ? 1 : 0)
            }
        }
        return (Tensor(shape: [32, 20, 1], data: x), tags)
    }
}
