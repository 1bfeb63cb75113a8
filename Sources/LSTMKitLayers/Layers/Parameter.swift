import LSTMKitCore
import LSTMKitIO

/// A trainable tensor and the gradient accumulated for it.
///
/// Layers' `backward` ADD into `grad`; a training step zeroes it afterwards.
public final class Parameter {
    /// The name within its module ("weight"); the full name ("lstm.weight_ih_l0",
    /// "encoder.0.conv.weight") comes from the module tree (`Module.namedParameters`).
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
    /// How a model file stores it: F32, or I8 for the integer values of an int8-quantized
    /// weight (`QuantizedWeight`), which loading then requires.
    public var fileType: SafeTensors.DType = .f32
    /// An int8-quantized weight's values (`init(int8Name:shape:)`), one byte each, held
    /// here instead of in `value` and `grad`, which stay empty: such a weight is for
    /// inference only, and costs 1 byte instead of 8. Files and the C ABI see them as
    /// floats (`fileValues`); `assign` takes only integers in [-128, 127].
    public var int8Value: [Int8]? {
        didSet { version &+= 1 }
    }
    /// Whether every value must be finite and positive (an int8 weight's scales):
    /// `assign` refuses others, so neither a file nor the C ABI can set a 0 or NaN scale.
    public var requiresPositive = false
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

    /// An int8 weight of this shape, zeros, saved as I8 (see `int8Value`).
    public init(int8Name name: String, shape: [Int]) {
        self.name = name
        self.shape = shape
        self.value = []
        self.grad = []
        self.count = shape.reduce(1, *)
        self.int8Value = [Int8](repeating: 0, count: count)
        self.fileType = .i8
    }

    /// The values as a file or the C ABI sees them: `value`, or an int8 weight's integers.
    public var fileValues: [Float] { int8Value.map { $0.map(Float.init) } ?? value }

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

    /// Replaces the value after checking the count and that every value is finite;
    /// errors name the parameter `fullName` (default: its local name).
    public func assign(_ newValue: [Float], fullName: String? = nil) throws {
        let name = fullName ?? name
        guard newValue.count == count else {
            throw LSTMKitError.sizeMismatch(
                "parameter \(name) has shape \(shape) (\(count) values), got \(newValue.count) values")
        }
        if let bad = newValue.withUnsafeBufferPointer(VectorMath.firstNonFinite) {
            throw LSTMKitError.invalidArgument(
                "parameter \(name) value \(bad) is \(newValue[bad]); weights must be finite")
        }
        if int8Value != nil {
            if let bad = newValue.firstIndex(where: { $0 != $0.rounded() || $0 < -128 || $0 > 127 }) {
                throw LSTMKitError.invalidArgument(
                    "parameter \(name) value \(bad) is \(newValue[bad]); an int8 weight's values are integers in [-128, 127]")
            }
            int8Value = newValue.map { Int8($0) }
            return
        }
        if requiresPositive, let bad = newValue.firstIndex(where: { !($0 > 0) }) {
            throw LSTMKitError.invalidArgument(
                "parameter \(name) value \(bad) is \(newValue[bad]); int8 scales must be finite and positive")
        }
        value = newValue
    }
}

/// A node of the module tree: a layer or a model. It declares its own tensors under
/// local names (`Parameter.name`) and its children under theirs; every full name is
/// derived by walking the tree and joining the names with ".", as PyTorch's state_dict
/// does: a model whose child "lstm" owns `weight_ih_l0` saves "lstm.weight_ih_l0", and
/// nobody builds a name by hand. Names follow PyTorch's where a PyTorch equivalent
/// exists, so its weights load unchanged. A name that does not follow the nesting of
/// the Swift objects (the attention pooling inside a classifier's head is saved as
/// "attention.*", a decoder stage's block as "decoder.<j>.conv.*") comes from the
/// module that owns it declaring that child under that name, never from the walker.
///
/// The walk visits a module's children in order, then its own tensors: that order is
/// the order of model files, optimizers and gradient clipping's sums, so changing a
/// `children` list changes files and training results.
///
/// The layer contract (every layer in Layers/ follows it):
/// - `forward` returns its output and what backward needs (a cache value), and keeps
///   nothing in the layer, so inference on one model is safe from many threads.
/// - `backward(_ saved, outputGrad: dy)` takes that value first — the layer's `Cache`,
///   or the input itself when that is all backward needs (Linear, Conv2D, ReLU, the
///   ids of an embedding, the mask of Dropout) — ADDS into its parameters' gradients
///   and returns the gradient w.r.t. the input (nothing when the input is ids).
///   Optional extras come after, labelled (`finalGrad:`, `inputGradient:`).
public protocol Module: AnyObject {
    /// This module's own trainable tensors, each under its local name.
    var localParameters: [Parameter] { get }
    /// Its own tensors that are saved but not trained (BatchNorm's running statistics).
    var localBuffers: [Parameter] { get }
    /// Its child modules in order, each under the name that prefixes its tensors' names.
    var children: [(name: String, module: Module)] { get }
}

extension Module {
    public var localParameters: [Parameter] { [] }
    public var localBuffers: [Parameter] { [] }
    public var children: [(name: String, module: Module)] { [] }

    /// Every trainable tensor under its full name, in walk order.
    public var namedParameters: [(name: String, parameter: Parameter)] {
        var out: [(name: String, parameter: Parameter)] = []
        collect("", buffers: false, into: &out)
        return out
    }

    /// Every buffer under its full name, in walk order.
    public var namedBuffers: [(name: String, parameter: Parameter)] {
        var out: [(name: String, parameter: Parameter)] = []
        collect("", buffers: true, into: &out)
        return out
    }

    /// What the optimizer updates: every trainable tensor, in walk order.
    public var parameters: [Parameter] {
        var out: [Parameter] = []
        collect(buffers: false, into: &out)
        return out
    }

    /// What is saved besides the parameters, never trained.
    public var buffers: [Parameter] {
        var out: [Parameter] = []
        collect(buffers: true, into: &out)
        return out
    }

    private func collect(_ prefix: String, buffers: Bool, into out: inout [(name: String, parameter: Parameter)]) {
        for (name, child) in children { child.collect(prefix + name + ".", buffers: buffers, into: &out) }
        for p in buffers ? localBuffers : localParameters { out.append((prefix + p.name, p)) }
    }

    private func collect(buffers: Bool, into out: inout [Parameter]) {
        for (_, child) in children { child.collect(buffers: buffers, into: &out) }
        out += buffers ? localBuffers : localParameters
    }

    /// The parameter of that full name, if any.
    public func parameter(named name: String) -> Parameter? {
        namedParameters.first { $0.name == name }?.parameter
    }

    public func zeroGrad() {
        for p in parameters { p.zeroGrad() }
    }

    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }
}

/// A module that only groups children: PyTorch's ModuleList (children "0", "1", …), or
/// with names given, its ModuleDict.
public final class ModuleList: Module {
    public let children: [(name: String, module: Module)]

    public init(_ modules: [Module]) {
        children = modules.enumerated().map { (String($0.offset), $0.element) }
    }

    public init(named children: [(name: String, module: Module)]) {
        self.children = children
    }
}

/// The tree as the (prefix, module) pairs code written before it used: `prefix +
/// p.name` over each module's `parameters` gives the full names (one leaf per tensor).
/// Only for the trainers' checkpoints until they read `namedParameters`; new code
/// should not use it.
extension Module {
    public var namedModules: [(prefix: String, module: Module)] { flatModules(namedParameters) }
}

package func flatModules(_ named: [(name: String, parameter: Parameter)]) -> [(prefix: String, module: Module)] {
    named.map { (String($0.name.dropLast($0.parameter.name.count)), TensorLeaf($0.parameter)) }
}

/// A leaf owning one tensor (see `namedModules`).
private final class TensorLeaf: Module {
    let localParameters: [Parameter]
    init(_ p: Parameter) { localParameters = [p] }
}
