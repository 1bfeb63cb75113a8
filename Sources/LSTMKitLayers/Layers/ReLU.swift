import LSTMKitCore

/// max(x, 0) elementwise.
public enum ReLU {
    public static func forward(_ x: Tensor) -> Tensor {
        Tensor(shape: x.shape, data: x.data.withUnsafeBufferPointer { X in
            FloatKernels.array(X.count) { Y in FloatKernels.relu(X.baseAddress!, into: Y, X.count) }
        })
    }

    /// max(x, 0) in place.
    public static func apply(_ x: inout Tensor) {
        x.data.withUnsafeMutableBufferPointer { X in
            guard let p = X.baseAddress else { return }
            FloatKernels.relu(p, into: p, X.count)
        }
    }

    /// dx = dy where the input was positive (`x` may also be the output: max(x, 0)
    /// is positive exactly where x is).
    public static func backward(_ x: Tensor, outputGrad dy: Tensor) -> Tensor {
        precondition(x.count == dy.count, "ReLU.backward: \(x.shape) vs \(dy.shape)")
        return Tensor(shape: x.shape, data: x.data.withUnsafeBufferPointer { X in
            dy.data.withUnsafeBufferPointer { DY in
                FloatKernels.array(X.count) { DX in FloatKernels.maskPositive(X.baseAddress!, DY.baseAddress!, into: DX, X.count) }
            }
        })
    }
}
