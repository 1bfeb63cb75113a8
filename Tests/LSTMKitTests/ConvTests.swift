import Testing
@testable import LSTMKit
@testable import LSTMKitLayers

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
        let dx = conv.backward(x, outputGrad: Tensor(shape: y.shape, data: w))
        expectClose(dx.data, numericGradient(x.data) { dot(conv.forward(Tensor(shape: x.shape, data: $0)).data, w) },
                    tol: 2e-3, floor: 1e-2, "dx \(c)")
        for p in conv.parameters {
            let saved = p.value
            let numeric = numericGradient(saved) { v in p.value = v; defer { p.value = saved }; return dot(conv.forward(x).data, w) }
            expectClose(p.grad, numeric, tol: 2e-3, floor: 1e-2, "d\(p.name) \(c)")
        }
    }

    /// Layers that take each way to dx: through the flipped kernel (stride 1, O ≤ C, incl.
    /// a padding beyond the kernel's reach and dilation), pointwise, and col2im.
    static let routes: [(c: Int, o: Int, kernel: (Int, Int), padding: (Int, Int), dilation: (Int, Int), stride: (Int, Int))] = [
        (4, 3, (3, 3), (1, 1), (1, 1), (1, 1)),
        (3, 2, (2, 3), (3, 0), (2, 1), (1, 1)),
        (3, 2, (1, 1), (0, 0), (1, 1), (1, 1)),
        (2, 3, (3, 3), (1, 1), (1, 1), (1, 1)),
        (3, 3, (3, 3), (1, 1), (1, 1), (2, 1)),
    ]

    @Test("Conv2D over concatenated maps equals it on their concatenation, for every dx route and grouping",
          arguments: 0..<5)
    func concatenatedInputs(_ r: Int) {
        let route = Self.routes[r]
        var rng = SeededRandom(seed: 50)
        let conv = Conv2D(route.c, route.o, kernel: route.kernel, stride: route.stride, padding: route.padding,
                          dilation: route.dilation, rng: &rng)
        let a = randomTensor([3, 1, 5, 6], seed: 51), b = randomTensor([3, route.c - 1, 5, 6], seed: 52)
        let x = ChannelOps.concat([a, b])
        let y = conv.forward(x)
        expectClose(y.data, naive(conv, x), tol: 1e-5, "forward route \(r)")
        let dy = randomTensor(y.shape, seed: 53)
        let dx = conv.backward(x, outputGrad: dy)
        let dW = conv.weight.grad, db = conv.bias!.grad
        expectClose(dx.data, numericGradient(x.data) { dot(conv.forward(Tensor(shape: x.shape, data: $0)).data, dy.data) },
                    tol: 2e-3, floor: 1e-2, "dx route \(r)")
        // Groups of all images, one image at a time, and two at a time: the same results.
        for minimumColumns in [1 << 20, 1, 2 * y.shape[2] * y.shape[3]] {
            conv.groupLimits = (1 << 22, minimumColumns)
            conv.zeroGrad()
            let yParts = conv.forward(concatenating: [a, b])
            expectClose(yParts.data, y.data, tol: 1e-6, "forward of parts, minimum columns \(minimumColumns)")
            let parts = conv.backward(concatenating: [a, b], outputGrad: dy)
            #expect(parts.map(\.shape) == [a.shape, b.shape])
            expectClose(ChannelOps.concat(parts).data, dx.data, tol: 1e-5, "dx of parts, minimum columns \(minimumColumns)")
            // Sums over other image groups: rounding differs.
            expectClose(conv.weight.grad, dW, tol: 1e-4, floor: 1e-2, "dW, minimum columns \(minimumColumns)")
            expectClose(conv.bias!.grad, db, tol: 1e-4, floor: 1e-2, "db, minimum columns \(minimumColumns)")
            #expect(conv.backward(concatenating: [a, b], outputGrad: dy, inputGradients: false).isEmpty)
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
        // Added into another gradient of the same input: that gradient plus dx.
        var sum = randomArray(x.count, seed: 45)
        let before = sum
        pool.accumulateBackward(cache, outputGrad: Tensor(shape: y.shape, data: w), into: &sum)
        #expect(sum == zip(before, dx.data).map { $0 + $1 })
        // Overlapping 3×3 windows with stride 2; ties and -inf go to the first position.
        let overlapping = MaxPool2D(size: 3, stride: 2)
        let (yo, co) = overlapping.forward(x)
        #expect(yo.shape == [2, 3, 2, 1])
        let wo = randomArray(yo.count, seed: 46)
        expectClose(overlapping.backward(co, outputGrad: Tensor(shape: yo.shape, data: wo)).data,
                    numericGradient(x.data, h: 1e-3) { dot(overlapping.forward(Tensor(shape: x.shape, data: $0)).0.data, wo) },
                    tol: 2e-2, floor: 1e-2, "overlapping dx")
        let flat = Tensor(shape: [1, 1, 2, 2], data: [-.infinity, -.infinity, .nan, -.infinity])
        let (m, mc) = pool.forward(flat)
        #expect(m.data == [-.infinity])
        #expect(pool.backward(mc, outputGrad: Tensor(shape: [1, 1, 1, 1], data: [1])).data == [1, 0, 0, 0])
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
        #expect(ReLU.backward(x, outputGrad: Tensor(shape: [4], data: [1, 2, 3, 4])).data == [0, 2, 0, 4])
        // The vector loops and their tails (19 values): in place too.
        var long = randomTensor([19], seed: 47)
        let expected = long.data.map { max($0, 0) }
        #expect(ReLU.forward(long).data == expected)
        ReLU.apply(&long)
        #expect(long.data == expected)
        let g = randomArray(19, seed: 48)
        #expect(ReLU.backward(long, outputGrad: Tensor(shape: [19], data: g)).data == zip(expected, g).map { $0 > 0 ? $1 : 0 })
    }
}
