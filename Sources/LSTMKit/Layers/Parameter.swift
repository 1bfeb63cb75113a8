/// A named, trainable tensor and the gradient accumulated for it.
///
/// Layers' `backward` ADD into `grad`; a training step zeroes it afterwards.
public final class Parameter {
    public let name: String
    public let shape: [Int]
    public var value: [Float] {
        didSet { version &+= 1 }
    }
    /// Changes whenever `value` does (in place too): lets a layer keep something derived
    /// from the weights (the LSTM's packed W_hh) until they change.
    public private(set) var version: UInt64 = 0
    public var grad: [Float]
    /// Set for sparse parameters (embedding tables): the row length. Their backward
    /// records the rows it touched, and `zeroGrad`, clipping and Adam visit only those
    /// rows (Adam then updates a row's moments only when the row is used, as PyTorch's
    /// SparseAdam does).
    public var sparseRowSize: Int?
    /// Rows with a (possibly) non-zero gradient, each listed once.
    public private(set) var touchedRows: [Int] = []
    private var rowIsTouched: [Bool] = []

    public init(name: String, shape: [Int], value: [Float]) {
        precondition(shape.reduce(1, *) == value.count, "parameter \(name): shape/value mismatch")
        self.name = name
        self.shape = shape
        self.value = value
        self.grad = [Float](repeating: 0, count: value.count)
        self.count = value.count
    }

    public convenience init(name: String, shape: [Int]) {
        self.init(name: name, shape: shape, value: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    /// Element count (fixed: a stored constant, so reading it never conflicts with an
    /// in-place access to `value` or `grad`).
    public let count: Int

    public func zeroGrad() {
        if let width = sparseRowSize {
            grad.withUnsafeMutableBufferPointer { g in
                for r in touchedRows { (g.baseAddress! + r * width).update(repeating: 0, count: width) }
            }
            for r in touchedRows { rowIsTouched[r] = false }
            touchedRows.removeAll(keepingCapacity: true)
            return
        }
        grad.withUnsafeMutableBufferPointer { g in g.update(repeating: 0) }
    }

    /// Records that row `r` of a sparse parameter received gradient.
    @inline(__always)
    public func markTouched(row r: Int) {
        if rowIsTouched.isEmpty { rowIsTouched = [Bool](repeating: false, count: count / (sparseRowSize ?? count)) }
        if !rowIsTouched[r] {
            rowIsTouched[r] = true
            touchedRows.append(r)
        }
    }

    /// Calls `body(start, length)` for every stretch of grad that may be non-zero.
    @inline(__always)
    public func forEachGradientRange(_ body: (Int, Int) -> Void) {
        if let width = sparseRowSize {
            for r in touchedRows { body(r * width, width) }
        } else {
            body(0, count)
        }
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
