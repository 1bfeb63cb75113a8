import LSTMKitCore

/// Weight gradients of layers run one step at a time (a decoder): each step's
/// `grad += dYᵀ X` is held (its rows appended) and added by `apply()` in one GEMM over
/// every step's rows, instead of one GEMM per step over a batch's rows, which OpenBLAS
/// runs at a fraction of its speed (the packing and the gradient's reads and writes
/// repeat every step: under perf, OpenBLAS's transposed GEMMs, mostly these, took 28 % of
/// a G2P training step). The sum is the same up to rounding. Layers take one as
/// `deferring:` in `backward`; without one (nil) they add at once.
public final class DeferredWeightGradients {
    private struct Pending {
        let parameter: Parameter
        let outWidth: Int, inWidth: Int
        var dy: [Float] = [], x: [Float] = []
    }
    private var pending: [Pending] = []
    private var index: [ObjectIdentifier: Int] = [:]

    public init() {}

    /// grad += dYᵀ X for `rows` rows of dY (width `outWidth`, row stride `ldy`) and X
    /// (width `inWidth`, stride `ldx`): `parameter` is (outWidth, inWidth), row-major.
    /// Held until `apply()` if `deferred` is given, else added now.
    static func add(_ deferred: DeferredWeightGradients?, to parameter: Parameter, rows: Int,
                    dy: UnsafePointer<Float>, outWidth: Int, ldy: Int, x: UnsafePointer<Float>, inWidth: Int, ldx: Int) {
        guard rows > 0 else { return }
        guard let deferred else {
            parameter.grad.withUnsafeMutableBufferPointer { g in
                BLAS.gemm(transA: true, m: outWidth, n: inWidth, k: rows, a: dy, lda: ldy, b: x, ldb: ldx,
                          beta: 1, c: g.baseAddress!, ldc: inWidth)
            }
            return
        }
        let key = ObjectIdentifier(parameter)
        let i = deferred.index[key] ?? {
            deferred.pending.append(Pending(parameter: parameter, outWidth: outWidth, inWidth: inWidth))
            deferred.index[key] = deferred.pending.count - 1
            return deferred.pending.count - 1
        }()
        precondition(deferred.pending[i].outWidth == outWidth && deferred.pending[i].inWidth == inWidth,
                     "DeferredWeightGradients: \(parameter.name) added with another shape")
        for r in 0..<rows {
            deferred.pending[i].dy.append(contentsOf: UnsafeBufferPointer(start: dy + r * ldy, count: outWidth))
            deferred.pending[i].x.append(contentsOf: UnsafeBufferPointer(start: x + r * ldx, count: inWidth))
        }
    }

    /// Adds everything held into the gradients (one GEMM per parameter) and empties.
    public func apply() {
        for p in pending {
            p.dy.withUnsafeBufferPointer { dy in
                p.x.withUnsafeBufferPointer { x in
                    Self.add(nil, to: p.parameter, rows: p.dy.count / p.outWidth, dy: dy.baseAddress!, outWidth: p.outWidth,
                             ldy: p.outWidth, x: x.baseAddress!, inWidth: p.inWidth, ldx: p.inWidth)
                }
            }
        }
        (pending, index) = ([], [:])
    }
}
