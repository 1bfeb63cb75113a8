import LSTMKitCore

/// Max pooling over (N, C, H, W) with a square window and stride (no padding; the
/// last partial window is dropped, as PyTorch's default).
public struct MaxPool2D {
    public let size: Int
    public let stride: Int

    public init(size: Int, stride: Int? = nil) {
        precondition(size > 0 && (stride ?? size) > 0, "MaxPool2D sizes must be positive")
        self.size = size
        self.stride = stride ?? size
    }

    public struct Cache {
        let inputShape: [Int]
        /// Per output: where in its window the maximum was, di · size + dj.
        let argmax: [Int32]
    }

    public func forward(_ x: Tensor) -> (Tensor, Cache) {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        precondition(h >= size && w >= size, "MaxPool2D: input \(x.shape) is smaller than the window \(size)")
        let ho = (h - size) / stride + 1, wo = (w - size) / stride + 1
        let count = n * c * ho * wo
        var argmax = [Int32](repeating: 0, count: count)
        let out = x.data.withUnsafeBufferPointer { X in
            argmax.withUnsafeMutableBufferPointer { A in
                FloatKernels.array(count) { O in
                    for plane in 0..<(n * c) {
                        let src = X.baseAddress! + plane * h * w
                        let (dst, at) = (O + plane * ho * wo, A.baseAddress! + plane * ho * wo)
                        if size == 2 && stride == 2 {
                            // The common 2×2 window: two input rows per output row, first maximum kept.
                            for oi in 0..<ho {
                                let r0 = src + 2 * oi * w, r1 = r0 + w
                                for oj in 0..<wo {
                                    var best = -Float.infinity, pos: Int32 = 0
                                    if r0[2 * oj] > best { best = r0[2 * oj] }
                                    if r0[2 * oj + 1] > best { best = r0[2 * oj + 1]; pos = 1 }
                                    if r1[2 * oj] > best { best = r1[2 * oj]; pos = 2 }
                                    if r1[2 * oj + 1] > best { best = r1[2 * oj + 1]; pos = 3 }
                                    dst[oi * wo + oj] = best
                                    at[oi * wo + oj] = pos
                                }
                            }
                            continue
                        }
                        for oi in 0..<ho {
                            for oj in 0..<wo {
                                var best = -Float.infinity, pos: Int32 = 0
                                for di in 0..<size {
                                    let line = src + (oi * stride + di) * w + oj * stride
                                    for dj in 0..<size where line[dj] > best { best = line[dj]; pos = Int32(di * size + dj) }
                                }
                                dst[oi * wo + oj] = best
                                at[oi * wo + oj] = pos
                            }
                        }
                    }
                }
            }
        }
        return (Tensor(shape: [n, c, ho, wo], data: out), Cache(inputShape: x.shape, argmax: argmax))
    }

    public func backward(_ cache: Cache, outputGrad dy: Tensor) -> Tensor {
        var dx = FloatKernels.zeros(cache.inputShape.reduce(1, *))
        accumulateBackward(cache, outputGrad: dy, into: &dx)
        return Tensor(shape: cache.inputShape, data: dx)
    }

    /// Adds the input gradient into `dx` (a gradient of the same input from elsewhere,
    /// e.g. a U-Net's skip connection): no separate array.
    public func accumulateBackward(_ cache: Cache, outputGrad dy: Tensor, into dx: inout [Float]) {
        let (n, c, h, w) = (cache.inputShape[0], cache.inputShape[1], cache.inputShape[2], cache.inputShape[3])
        let ho = (h - size) / stride + 1, wo = (w - size) / stride + 1
        precondition(dy.shape == [n, c, ho, wo] && dx.count == n * c * h * w, "MaxPool2D.backward: dy has shape \(dy.shape)")
        // Where each window position lies from the window's corner.
        let offsets = (0..<(size * size)).map { ($0 / size) * w + $0 % size }
        dy.data.withUnsafeBufferPointer { DY in
        cache.argmax.withUnsafeBufferPointer { A in
        offsets.withUnsafeBufferPointer { OFF in
        dx.withUnsafeMutableBufferPointer { DX in
            for plane in 0..<(n * c) {
                let (src, at, dst) = (DY.baseAddress! + plane * ho * wo, A.baseAddress! + plane * ho * wo, DX.baseAddress! + plane * h * w)
                for oi in 0..<ho {
                    let corner = dst + oi * stride * w
                    for oj in 0..<wo {
                        corner[oj * stride + OFF[Int(at[oi * wo + oj])]] += src[oi * wo + oj]
                    }
                }
            }
        }
        }
        }
        }
    }
}
