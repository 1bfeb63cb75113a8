/// A dense row-major float32 array with a shape, e.g. (B, T, D).
///
/// Deliberately small: storage is a Swift array (copy-on-write), and layers reach
/// the raw memory through `withUnsafe...` in their hot loops.
public struct Tensor: Equatable, Sendable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(shape.reduce(1, *) == data.count,
                     "shape \(shape) needs \(shape.reduce(1, *)) values, got \(data.count)")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, data: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    public init(repeating value: Float, shape: [Int]) {
        self.init(shape: shape, data: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    public var count: Int { data.count }
    public var rank: Int { shape.count }

    /// The same values with a new shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, data: data)
    }

    public subscript(flat index: Int) -> Float {
        get { data[index] }
        set { data[index] = newValue }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = data.prefix(8).map { String($0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), data: [\(head)\(data.count > 8 ? ", ..." : "")])"
    }
}
