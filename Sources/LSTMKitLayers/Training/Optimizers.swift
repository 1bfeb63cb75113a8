import LSTMKitCore

/// An optimizer updates parameters from their accumulated gradients.
/// Its state (momentum, moments) is kept per parameter object.
public protocol Optimizer: AnyObject {
    var learningRate: Float { get set }
    func step(_ parameters: [Parameter])
}

extension Optimizer {
    /// One update, then the gradients are zeroed for the next batch.
    public func stepAndZero(_ parameters: [Parameter]) {
        step(parameters)
        for p in parameters { p.zeroGrad() }
    }
}

/// Stochastic gradient descent with optional momentum (PyTorch's formulation:
/// v = μ v + g; p -= lr v), Nesterov momentum and L2 weight decay.
public final class SGD: Optimizer {
    public var learningRate: Float
    public let momentum: Float
    public let weightDecay: Float
    public let nesterov: Bool
    private var velocity: [ObjectIdentifier: [Float]] = [:]

    public init(learningRate: Float, momentum: Float = 0, weightDecay: Float = 0, nesterov: Bool = false) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.nesterov = nesterov
    }

    public func step(_ parameters: [Parameter]) {
        for p in parameters {
            let key = ObjectIdentifier(p)
            var v = velocity[key] ?? [Float](repeating: 0, count: p.count)
            let first = velocity[key] == nil
            for i in 0..<p.count {
                var g = p.grad[i] + weightDecay * p.value[i]
                if momentum != 0 {
                    v[i] = first ? g : momentum * v[i] + g
                    g = nesterov ? g + momentum * v[i] : v[i]
                }
                p.value[i] -= learningRate * g
            }
            if momentum != 0 { velocity[key] = v }
        }
    }
}

/// Adam (Kingma & Ba) with bias correction. `decoupledWeightDecay` turns it into
/// AdamW (Loshchilov & Hutter): p -= lr λ p, instead of adding λ p to the gradient.
public final class Adam: Optimizer {
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    public let weightDecay: Float
    public let decoupledWeightDecay: Bool
    private final class Moments {
        var m: [Float]
        var v: [Float]
        init(count: Int) {
            m = [Float](repeating: 0, count: count)
            v = m
        }
    }
    private var moments: [ObjectIdentifier: Moments] = [:]
    public var stepCount = 0

    /// The first and second moments kept for a parameter (for checkpoints).
    public func moments(of p: Parameter) -> (m: [Float], v: [Float])? {
        moments[ObjectIdentifier(p)].map { ($0.m, $0.v) }
    }

    public func setMoments(m: [Float], v: [Float], for p: Parameter) throws {
        guard m.count == p.count, v.count == p.count else {
            throw LSTMKitError.sizeMismatch("optimizer state for \(p.name) has the wrong size")
        }
        let state = Moments(count: 0)
        state.m = m
        state.v = v
        moments[ObjectIdentifier(p)] = state
    }

    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0, decoupledWeightDecay: Bool = false) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupledWeightDecay
    }

    public func step(_ parameters: [Parameter]) {
        stepCount += 1
        let c1 = 1 - Float(_pow(Double(beta1), Double(stepCount)))
        let c2 = 1 - Float(_pow(Double(beta2), Double(stepCount)))
        let (lr, b1, b2, eps, wd, decoupled) = (learningRate, beta1, beta2, epsilon, weightDecay, decoupledWeightDecay)
        for p in parameters {
            let state = moments[ObjectIdentifier(p)] ?? {
                let s = Moments(count: p.count)
                moments[ObjectIdentifier(p)] = s
                return s
            }()
            // Moments live in a class so they are updated in place, never copied.
            state.m.withUnsafeMutableBufferPointer { m in
            state.v.withUnsafeMutableBufferPointer { v in
            p.value.withUnsafeMutableBufferPointer { value in
            p.grad.withUnsafeBufferPointer { grad in
                p.forEachGradientRange { start, length in
                    if wd == 0 {
                        // The common case without branches, so the compiler vectorises it.
                        let (w, g, m, v) = (value.baseAddress! + start, grad.baseAddress! + start,
                                            m.baseAddress! + start, v.baseAddress! + start)
                        for i in 0..<length {
                            let mi = b1 * m[i] + (1 - b1) * g[i]
                            let vi = b2 * v[i] + (1 - b2) * g[i] * g[i]
                            m[i] = mi
                            v[i] = vi
                            w[i] -= lr * (mi / c1) / ((vi / c2).squareRoot() + eps)
                        }
                        return
                    }
                    for i in start..<(start + length) {
                        var g = grad[i]
                        if decoupled {
                            value[i] -= lr * wd * value[i]
                        } else {
                            g += wd * value[i]
                        }
                        m[i] = b1 * m[i] + (1 - b1) * g
                        v[i] = b2 * v[i] + (1 - b2) * g * g
                        value[i] -= lr * (m[i] / c1) / ((v[i] / c2).squareRoot() + eps)
                    }
                }
            }
            }
            }
            }
        }
    }
}

/// AdamW: Adam with decoupled weight decay (default λ = 0.01, as in PyTorch).
public func AdamW(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                  epsilon: Float = 1e-8, weightDecay: Float = 0.01) -> Adam {
    Adam(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
         weightDecay: weightDecay, decoupledWeightDecay: true)
}

/// Scales all gradients so that their global L2 norm is at most `maxNorm`.
/// Returns the norm before clipping (as PyTorch's clip_grad_norm_ does).
@discardableResult
public func clipGradientNorm(_ parameters: [Parameter], maxNorm: Float) -> Float {
    var sumSquares: Double = 0
    for p in parameters {
        p.grad.withUnsafeBufferPointer { g in
            p.forEachGradientRange { start, length in
                var partial: Float = 0
                for i in start..<(start + length) { partial += g[i] * g[i] }
                sumSquares += Double(partial)
            }
        }
    }
    let norm = Float(sumSquares.squareRoot())
    let scale = maxNorm / (norm + 1e-6)
    if scale < 1 {
        for p in parameters {
            p.grad.withUnsafeMutableBufferPointer { g in
                p.forEachGradientRange { start, length in
                    for i in start..<(start + length) { g[i] *= scale }
                }
            }
        }
    }
    return norm
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _pow(_ x: Double, _ y: Double) -> Double { Glibc.pow(x, y) }
#elseif canImport(Darwin)
import Darwin
@inline(__always) func _pow(_ x: Double, _ y: Double) -> Double { Darwin.pow(x, y) }
#endif
