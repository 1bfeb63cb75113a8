/// A named, trainable tensor and the gradient accumulated for it.
///
/// Layers' `backward` ADD into `grad`; a training step zeroes it afterwards.
public final class Parameter {
    public let name: String
    public let shape: [Int]
    public var value: [Float]
    public var grad: [Float]

    public init(name: String, shape: [Int], value: [Float]) {
        precondition(shape.reduce(1, *) == value.count, "parameter \(name): shape/value mismatch")
        self.name = name
        self.shape = shape
        self.value = value
        self.grad = [Float](repeating: 0, count: value.count)
    }

    public convenience init(name: String, shape: [Int]) {
        self.init(name: name, shape: shape, value: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    public var count: Int { value.count }

    public func zeroGrad() {
        grad.withUnsafeMutableBufferPointer { g in g.update(repeating: 0) }
    }

    /// Replaces the value after checking the count and that every value is finite.
    public func assign(_ newValue: [Float]) throws {
        guard newValue.count == value.count else {
            throw LSTMKitError.sizeMismatch(
                "parameter \(name) has shape \(shape) (\(value.count) values), got \(newValue.count) values")
        }
        if let bad = newValue.withUnsafeBufferPointer(VectorMath.firstNonFinite) {
            throw LSTMKitError.invalidArgument(
                "parameter \(name) value \(bad) is \(newValue[bad]); weights must be finite")
        }
        value = newValue
    }
}

/// Anything that owns parameters. Names are unique within a module and follow
/// PyTorch's state_dict names where a PyTorch equivalent exists.
public protocol Module: AnyObject {
    var parameters: [Parameter] { get }
}

extension Module {
    public func parameter(named name: String) -> Parameter? {
        parameters.first { $0.name == name }
    }

    public func zeroGrad() {
        for p in parameters { p.zeroGrad() }
    }

    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }
}
