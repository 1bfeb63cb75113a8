import Testing
@testable import LSTMKit

@Suite("Optimizers")
struct OptimizerTests {
    func param(_ v: [Float], grad: [Float]) -> Parameter {
        let p = Parameter(name: "p", shape: [v.count], value: v)
        p.grad = grad
        return p
    }

    @Test("SGD with momentum follows PyTorch's update")
    func sgd() {
        let p = param([1, -2], grad: [0.5, 1])
        let opt = SGD(learningRate: 0.1, momentum: 0.9)
        opt.step([p])                     // v = g; p -= lr v
        #expect(p.value == [1 - 0.05, -2 - 0.1])
        opt.step([p])                     // v = 0.9 v + g = 1.9 g
        expectClose(p.value, [Float(0.95 - 0.1 * 0.95), Float(-2.1 - 0.1 * 1.9)], tol: 1e-6, "after two steps")
    }

    @Test("Adam's first step moves every weight by lr against its gradient's sign")
    func adam() {
        let p = param([1, -2, 3], grad: [0.5, -1e-3, 20])
        Adam(learningRate: 0.01).step([p])
        expectClose(p.value, [0.99, -1.99, 2.99], tol: 1e-5, "after one step")
    }

    @Test("AdamW decays weights without touching the moments")
    func adamW() {
        let p = param([2], grad: [0])
        AdamW(learningRate: 0.1, weightDecay: 0.5).step([p])
        #expect(abs(p.value[0] - 2 * (1 - 0.05)) < 1e-6)
        let q = param([2], grad: [0])
        Adam(learningRate: 0.1, weightDecay: 0.5).step([q])  // L2: gradient 1 -> moves by lr
        #expect(abs(q.value[0] - 1.9) < 1e-5)
    }

    @Test("gradient clipping by global norm")
    func clipping() {
        let a = param([0, 0], grad: [3, 0]), b = param([0], grad: [4])
        let norm = clipGradientNorm([a, b], maxNorm: 1)
        #expect(abs(norm - 5) < 1e-6)
        expectClose(a.grad + b.grad, [0.6, 0, 0.8], tol: 1e-5, "clipped")
        let c = param([0], grad: [0.5])
        clipGradientNorm([c], maxNorm: 1)
        #expect(c.grad == [0.5])
    }

    @Test("an LSTM regressor learns a real task: sequence sum sign, loss falls from ~0.69 to under 0.15")
    func training() throws {
        var rng = SeededRandom(seed: 3)
        let lstm = try LSTM(LSTMConfig(inputSize: 1, hiddenSize: 8, seed: 1))
        let head = Linear(8, 1, rng: &rng)
        let params = lstm.parameters + head.parameters
        let opt = Adam(learningRate: 0.02)
        var first: Float = 0, last: Float = 0
        for step in 0..<300 {
            let x = Tensor(shape: [16, 6, 1], data: (0..<96).map { _ in rng.uniform(-1, 1) })
            var target = [Float](repeating: 0, count: 16)
            for b in 0..<16 {
                var sum: Float = 0
                for t in 0..<6 { sum += x.data[b * 6 + t] }
                target[b] = sum > 0 ? 1 : 0
            }
            let out = try lstm.run(x, training: true)
            let lastH = Tensor(shape: [16, 8], data: out.final.h.data)
            let logits = head.forward(lastH)
            let (loss, dLogits) = try Loss.binaryCrossEntropyWithLogits(logits: logits, targets: target)
            let dH = head.backward(lastH, outputGrad: dLogits)
            _ = lstm.backward(out.cache, outputGrad: Tensor(zeros: out.y.shape),
                              finalGrad: LSTMState(h: Tensor(shape: [1, 16, 8], data: dH.data), c: Tensor(zeros: [1, 16, 8])))
            clipGradientNorm(params, maxNorm: 5)
            opt.stepAndZero(params)
            if step < 10 { first += loss / 10 }
            if step >= 290 { last += loss / 10 }
        }
        #expect(first > 0.6 && last < 0.15, "loss \(first) -> \(last)")
    }
}
