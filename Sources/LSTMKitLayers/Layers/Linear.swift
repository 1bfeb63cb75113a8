import LSTMKitCore

/// y = x W^T + b over the last dimension: (N, in) -> (N, out). W is (out, in), as in
/// PyTorch's nn.Linear, so its weights load unchanged.
public final class Linear: Module {
    public let inFeatures: Int
    public let outFeatures: Int
    public let weight: Parameter
    public let bias: Parameter?
    /// Its int8 form once quantized (`QuantizableLayer`): then it runs that, the model
    /// file holds its tensors, and `weight` is freed.
    var quantized: QuantizedLinear?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, rng: inout SeededRandom) {
        precondition(inFeatures > 0 && outFeatures > 0, "Linear sizes must be positive")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        // PyTorch's default: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
        let bound = 1 / Float(inFeatures).squareRoot()
        var w = [Float](repeating: 0, count: inFeatures * outFeatures)
        rng.fillUniform(&w, bound: bound)
        weight = Parameter(name: "weight", shape: [outFeatures, inFeatures], value: w)
        if bias {
            var b = [Float](repeating: 0, count: outFeatures)
            rng.fillUniform(&b, bound: bound)
            self.bias = Parameter(name: "bias", shape: [outFeatures], value: b)
        } else {
            self.bias = nil
        }
    }

    public var localParameters: [Parameter] { quantized?.localParameters ?? (bias.map { [weight, $0] } ?? [weight]) }

    /// x (..., in) -> (..., out)
    public func forward(_ x: Tensor) -> Tensor {
        if let quantized { return quantized.forward(x) }
        let n = rows(of: x)
        var y = [Float](repeating: 0, count: n * outFeatures)
        y.withUnsafeMutableBufferPointer { yp in
            if let bias {
                for r in 0..<n {
                    for o in 0..<outFeatures { yp[r * outFeatures + o] = bias.value[o] }
                }
            }
            x.data.withUnsafeBufferPointer { xp in
                weight.value.withUnsafeBufferPointer { wp in
                    BLAS.gemm(transB: true, m: n, n: outFeatures, k: inFeatures,
                              a: xp.baseAddress!, lda: inFeatures, b: wp.baseAddress!, ldb: inFeatures,
                              beta: bias == nil ? 0 : 1, c: yp.baseAddress!, ldc: outFeatures)
                }
            }
        }
        return Tensor(shape: Array(x.shape.dropLast()) + [outFeatures], data: y)
    }

    /// Accumulates dW += dy^T x (or holds it in `deferring` until its `apply()`),
    /// db += sum(dy) and returns dx = dy W.
    public func backward(_ x: Tensor, outputGrad dy: Tensor, deferring: DeferredWeightGradients? = nil) -> Tensor {
        precondition(quantized == nil, "an int8-quantized Linear is for inference only: train the float32 model")
        let n = rows(of: x)
        precondition(dy.count == n * outFeatures, "Linear.backward: dy has the wrong size")
        var dx = [Float](repeating: 0, count: n * inFeatures)
        dy.data.withUnsafeBufferPointer { dyp in
            x.data.withUnsafeBufferPointer { xp in
                DeferredWeightGradients.add(deferring, to: weight, rows: n, dy: dyp.baseAddress!, outWidth: outFeatures,
                                            ldy: outFeatures, x: xp.baseAddress!, inWidth: inFeatures, ldx: inFeatures)
            }
            if let bias {
                bias.grad.withUnsafeMutableBufferPointer { gb in
                    for r in 0..<n {
                        for o in 0..<outFeatures { gb[o] += dyp[r * outFeatures + o] }
                    }
                }
            }
            weight.value.withUnsafeBufferPointer { wp in
                dx.withUnsafeMutableBufferPointer { dxp in
                    BLAS.gemm(m: n, n: inFeatures, k: outFeatures,
                              a: dyp.baseAddress!, lda: outFeatures, b: wp.baseAddress!, ldb: inFeatures,
                              beta: 0, c: dxp.baseAddress!, ldc: inFeatures)
                }
            }
        }
        return Tensor(shape: x.shape, data: dx)
    }

    private func rows(of x: Tensor) -> Int {
        precondition(x.shape.last == inFeatures, "Linear expects last dim \(inFeatures), got \(x.shape)")
        return x.count / inFeatures
    }
}
