#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Elementwise kernels used by the layers. Kept in one place so a faster (SIMD)
/// version can replace them without touching the layers.
public enum VectorMath {
    @inline(__always)
    public static func sigmoid(_ x: Float) -> Float { 1 / (1 + expf(-x)) }

    @inline(__always)
    public static func tanh(_ x: Float) -> Float { tanhf(x) }

    @inline(__always)
    public static func exp(_ x: Float) -> Float { expf(x) }

    @inline(__always)
    public static func log(_ x: Float) -> Float { logf(x) }

    @inline(__always)
    public static func log1p(_ x: Float) -> Float { log1pf(x) }

    @inline(__always)
    public static func sqrt(_ x: Float) -> Float { sqrtf(x) }

    /// The probabilities of one row of logits (max subtracted first, for range): what
    /// every classifier's predict_proba returns.
    public static func softmax(_ z: [Float]) -> [Float] {
        let m = z.max() ?? 0
        let e = z.map { exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    /// log Σ exp(z[i]) (max subtracted first, for range): a log-softmax's normaliser.
    /// Inlinable so callers get it specialised for their collection: unspecialised, its
    /// generic iteration cost a fifth of seq2seq decoding (callgrind, docs/SEQ2SEQ.md).
    @inlinable
    public static func logSumExp<C: Collection>(_ z: C) -> Float where C.Element == Float {
        let m = z.max() ?? 0
        return m + logf(z.reduce(0) { $0 + expf($1 - m) })
    }

    @inline(__always)
    public static func pow(_ x: Float, _ y: Float) -> Float { powf(x, y) }

    /// y[i] += x[i]
    @inline(__always)
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += x[i] }
    }

    /// True when every value is finite (no NaN, no infinity).
    public static func allFinite(_ x: UnsafeBufferPointer<Float>) -> Bool {
        for v in x where !v.isFinite { return false }
        return true
    }

    /// The index of the first non-finite value, if any.
    public static func firstNonFinite(_ x: UnsafeBufferPointer<Float>) -> Int? {
        for i in 0..<x.count where !x[i].isFinite { return i }
        return nil
    }
}
