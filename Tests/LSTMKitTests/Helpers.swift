import Testing
@testable import LSTMKit

/// Random values in [-scale, scale) from a fixed seed.
func randomArray(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var rng = SeededRandom(seed: seed)
    return (0..<count).map { _ in rng.uniform(-scale, scale) }
}

func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    Tensor(shape: shape, data: randomArray(shape.reduce(1, *), seed: seed, scale: scale))
}

/// Relative error with an absolute floor, so values near zero compare sensibly.
func relativeError(_ a: Double, _ b: Double, floor: Double = 1e-3) -> Double {
    abs(a - b) / max(abs(a), abs(b), floor)
}

/// Asserts |a - b| <= tol * max(|a|, |b|, floor) elementwise and reports the worst.
func expectClose(_ a: [Float], _ b: [Double], tol: Double, floor: Double = 1e-3, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.count == b.count, "\(what): \(a.count) vs \(b.count) values", sourceLocation: sourceLocation)
    var worst = 0.0, worstIndex = 0
    for i in 0..<min(a.count, b.count) {
        let e = relativeError(Double(a[i]), b[i], floor: floor)
        if e > worst { worst = e; worstIndex = i }
    }
    #expect(worst <= tol, "\(what): worst relative error \(worst) at \(worstIndex) (\(a.isEmpty ? 0 : a[worstIndex]) vs \(b.isEmpty ? 0 : b[worstIndex]))",
            sourceLocation: sourceLocation)
}

func expectClose(_ a: [Float], _ b: [Float], tol: Double, floor: Double = 1e-3, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    expectClose(a, b.map(Double.init), tol: tol, floor: floor, what, sourceLocation: sourceLocation)
}

/// Centred finite differences of a scalar function of a Float array, evaluated in
/// Float with step h. Good to ~1e-3 relative for smooth float32 functions.
func numericGradient(_ x: [Float], h: Float = 1e-2, _ f: ([Float]) -> Double) -> [Double] {
    var x = x
    var grad = [Double](repeating: 0, count: x.count)
    for i in 0..<x.count {
        let old = x[i]
        x[i] = old + h
        let up = f(x)
        x[i] = old - h
        let down = f(x)
        x[i] = old
        grad[i] = (up - down) / (2 * Double(h))
    }
    return grad
}

/// Σ a_i w_i in double: a random linear functional turns any output into a scalar loss
/// whose gradient w.r.t. the output is exactly w.
func dot(_ a: [Float], _ w: [Float]) -> Double {
    zip(a, w).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
}
