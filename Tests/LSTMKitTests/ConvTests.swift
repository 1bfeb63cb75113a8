import Testing
@testable import LSTMKit

@Suite("Convolution and pooling")
struct ConvTests {
    struct Case: CustomStringConvertible, Sendable {
        var kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int)
        var description: String { "k\(kernel) s\(stride) p\(padding) d\(dilation)" }
    }

    static let cases = [
        Case(kernel: (3, 3), stride: (1, 1), padding: (1, 1), dilation: (1, 1)),
        Case(kernel: (3, 2), stride: (2, 1), padding: (1, 0), dilation: (1, 1)),
        Case(kernel: (2, 3), stride: (1, 2), padding: (0, 2), dilation: (2, 1)),
    ]

    /// The definition, one output at a time.
    func naive(_ conv: Conv2D, _ x: Tensor) -> [Float] {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (ho, wo) = conv.outputSize(height: h, width: w)!
        var out = [Float]()
        for s in 0..<n {
            for o in 0..<conv.outChannels {
                for oi in 0..<ho {
                    for oj in 0..<wo {
                        var acc = Double(conv.bias?.value[o] ?? 0)
                        for ch in 0..<c {
                            for ki in 0..<conv.kernel.h {
                                for kj in 0..<conv.kernel.w {
                                    let i = oi * conv.stride.h - conv.padding.h + ki * conv.dilation.h
                                    let j = oj * conv.stride.w - conv.padding.w + kj * conv.dilation.w
                                    guard i >= 0, i < h, j >= 0, j < w else { continue }
                                    let wv = conv.weight.value[((o * c + ch) * conv.kernel.h + ki) * conv.kernel.w + kj]
                                    acc += Double(wv) * Double(x.data[((s * c + ch) * h + i) * w + j])
                                }
                            }
                        }
                        out.append(Float(acc))
                    }
                }
            }
        }
        return out
    }

    @Test("Conv2D forward equals the definition; dx, dW, db match finite differences", arguments: cases)
    func conv(_ c: Case) throws {
        var rng = SeededRandom(seed: 40)
        let conv = Conv2D(2, 3, kernel: c.kernel, stride: c.stride, padding: c.padding, dilation: c.dilation, rng: &rng)
        let x = randomTensor([2, 2, 5, 6], seed: 41)
        let y = conv.forward(x)
        expectClose(y.data, naive(conv, x), tol: 1e-5, "forward \(c)")
        let w = randomArray(y.count, seed: 42)
        let dx = conv.backward(input: x, outputGrad: Tensor(shape: y.shape, data: w))
        expectClose(dx.data, numericGradient(x.data) { dot(conv.forward(Tensor(shape: x.shape, data: $0)).data, w) },
                    tol: 2e-3, floor: 1e-2, "dx \(c)")
        for p in conv.parameters {
            let saved = p.value
            let numeric = numericGradient(saved) { v in p.value = v; defer { p.value = saved }; return dot(conv.forward(x).data, w) }
            expectClose(p.grad, numeric, tol: 2e-3, floor: 1e-2, "d\(p.name) \(c)")
        }
    }

    @Test("MaxPool2D picks window maxima; its gradient goes to them")
    func maxPool() {
        let x = randomTensor([2, 3, 5, 4], seed: 43)
        let pool = MaxPool2D(size: 2)
        let (y, cache) = pool.forward(x)
        #expect(y.shape == [2, 3, 2, 2])
        var expected: [Float] = []
        for plane in 0..<6 {
            for oi in 0..<2 {
                for oj in 0..<2 {
                    var best = -Float.infinity
                    for di in 0..<2 { for dj in 0..<2 { best = max(best, x.data[plane * 20 + (oi * 2 + di) * 4 + oj * 2 + dj]) } }
                    expected.append(best)
                }
            }
        }
        #expect(y.data == expected)
        let w = randomArray(y.count, seed: 44)
        let dx = pool.backward(cache, outputGrad: Tensor(shape: y.shape, data: w))
        expectClose(dx.data, numericGradient(x.data, h: 1e-3) { dot(pool.forward(Tensor(shape: x.shape, data: $0)).0.data, w) },
                    tol: 2e-2, floor: 1e-2, "dx")
    }

    @Test("output sizes follow PyTorch's formula; too-small inputs have none")
    func sizes() {
        var rng = SeededRandom(seed: 45)
        let conv = Conv2D(1, 1, kernel: (3, 3), stride: (2, 2), padding: (1, 1), rng: &rng)
        #expect(conv.outputSize(height: 28, width: 28)! == (14, 14))
        #expect(conv.outputSize(height: 5, width: 4)! == (3, 2))
        let tight = Conv2D(1, 1, kernel: (3, 3), dilation: (2, 2), rng: &rng)
        #expect(tight.outputSize(height: 5, width: 5)! == (1, 1))
        #expect(tight.outputSize(height: 4, width: 5) == nil)
    }

    @Test("ReLU and its gradient")
    func relu() {
        let x = Tensor(shape: [4], data: [-1, 0.5, 0, 2])
        #expect(ReLU.forward(x).data == [0, 0.5, 0, 2])
        #expect(ReLU.backward(input: x, outputGrad: Tensor(shape: [4], data: [1, 2, 3, 4])).data == [0, 2, 0, 4])
    }
}
