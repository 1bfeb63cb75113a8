import CKernels
import Dispatch
import LSTMKitCore
import LSTMKitIO

/// Dynamic int8 quantization (docs/QUANTIZATION.md), in the style of PyTorch's
/// `quantize_dynamic`: a layer's weight matrices become int8 with one scale per output
/// row, its inputs are quantized per row on the fly at every product, and everything
/// else (biases, nonlinearities, the LSTM's cell state) stays float32. Inference only.
/// A float layer quantizes in place (`QuantizableLayer`) and then runs its int8 form
/// (`QuantizedLinear`, `QuantizedRecurrent`), which holds only int8 weights, scales and
/// float biases.

extension LSTMKitError {
    static func alreadyQuantized(_ what: String) -> LSTMKitError {
        .invalidArgument("\(what) is already int8-quantized; quantize the float32 model instead")
    }
}

/// A weight matrix W (rows, cols) ≈ scales[r] · values[r, c] as a quantized layer holds
/// it: in the module tree, `values` (int8, one byte each: `Parameter.int8Value`; saved as
/// safetensors I8) and `scales` (F32, one per row, finite and positive); for the kernel,
/// its packed form, derived from them and kept until either changes (loading assigns
/// them after the layer is built). About 2 bytes a weight in all, against a float
/// weight's 8 (value and gradient).
public final class QuantizedWeight: @unchecked Sendable {
    public let values: Parameter
    public let scales: Parameter
    public let rows: Int
    public let cols: Int

    /// The int8 kernel variant this CPU runs ("avx512vnni", "avx2", "plain").
    public static var kernelVariant: String { String(cString: ck_q8_isa()) }

    /// The longest row the kernels sum exactly in int32.
    public static let maxCols = 32768

    /// The kernel's form: values packed by ck_q8_pack, and each row's sum.
    final class Packed {
        let versions: (UInt64, UInt64)
        let data: UnsafeMutablePointer<Int8>
        let sums: [Int32]
        let scales: [Float]

        init(_ w: QuantizedWeight) {
            versions = (w.values.version, w.scales.version)
            let bytes = Int(ck_q8_packed_bytes(Int64(w.rows), Int64(w.cols)))
            data = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64).bindMemory(to: Int8.self, capacity: bytes)
            let q = w.values.int8Value!
            var sums = [Int32](repeating: 0, count: w.rows)
            ck_q8_pack(q, Int64(w.rows), Int64(w.cols), data, &sums)
            self.sums = sums
            scales = w.scales.value
        }

        deinit { UnsafeMutableRawPointer(data).deallocate() }
    }

    /// An LSTM's W_hh (4H, H) in the two parts of the two-core batch of one
    /// (`ck_q8_lstm_split_pack`, `SplitRecurrence`): each part's gate rows packed, with
    /// their sums and scales.
    final class SplitPacked {
        let versions: (UInt64, UInt64)
        let parts: [ck_q8_split_part]

        init(_ w: QuantizedWeight) {
            versions = (w.values.version, w.scales.version)
            let hidden = Int64(w.cols), first = ck_lstm_split_first(hidden)
            parts = [first, hidden - first].map { units in
                let rows = 4 * units, bytes = Int(ck_q8_packed_bytes(rows, hidden))
                return ck_q8_split_part(
                    packed: UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
                        .bindMemory(to: Int8.self, capacity: bytes),
                    sums: .allocate(capacity: Int(rows)), scales: .allocate(capacity: Int(rows)))
            }
            let packed = parts.withUnsafeBufferPointer { P in
                ck_q8_lstm_split_pack(w.values.int8Value!, w.scales.value, hidden, P.baseAddress!)
            }
            precondition(packed == 1, "out of memory packing W_hh (\(w.rows) x \(w.cols))")
        }

        deinit {
            for p in parts {
                UnsafeMutableRawPointer(p.packed).deallocate()
                p.sums.deallocate()
                p.scales.deallocate()
            }
        }
    }

    private let queue = DispatchQueue(label: "lstmkit.quantized-weight")
    private var cached: Packed?
    private var cachedSplit: SplitPacked?

    /// Zeros (scales 1) of this shape, to be loaded; `name` is the float weight's
    /// ("weight_ih_l0" gives "weight_ih_l0" and "weight_ih_l0_scale").
    public init(name: String, rows: Int, cols: Int) throws {
        guard cols <= Self.maxCols else {
            throw LSTMKitError.invalidArgument("int8 quantization takes rows of at most \(Self.maxCols) weights, \(name) has \(cols)")
        }
        self.rows = rows
        self.cols = cols
        values = Parameter(int8Name: name, shape: [rows, cols])
        scales = Parameter(name: name + "_scale", shape: [rows], value: [Float](repeating: 1, count: rows))
        scales.requiresPositive = true
    }

    /// W (rows, cols) quantized: symmetric, per row.
    public convenience init(name: String, quantizing weight: Parameter) throws {
        precondition(weight.shape.count == 2, "QuantizedWeight: a matrix")
        try self.init(name: name, rows: weight.shape[0], cols: weight.shape[1])
        var q = [Int8](repeating: 0, count: rows * cols)
        var s = [Float](repeating: 0, count: rows)
        ck_q8_quantize_weights(weight.value, Int64(rows), Int64(cols), &q, &s)
        values.int8Value = q
        scales.value = s
    }

    /// Scales finite and positive (`assign` refuses others; this catches a Swift caller
    /// that set `scales.value` directly). The values are int8 by their type.
    public func check(fullName: String) throws {
        if let r = scales.value.firstIndex(where: { !($0 > 0) || !$0.isFinite }) {
            throw LSTMKitError.invalidFormat("\(fullName)_scale[\(r)] is \(scales.value[r]); int8 scales must be finite and positive")
        }
    }

    /// scales[r] · values[r, c]: the float matrix the int8 one stands for (an explicit
    /// dequantization: the quantized layer keeps no float copy).
    public var dequantized: [Float] {
        let (v, s) = (values.int8Value!, scales.value)
        return (0..<(rows * cols)).map { Float(v[$0]) * s[$0 / cols] }
    }

    /// The packed form for the current values (packed once per change; callers on
    /// several threads may ask at once). In the fork gate: a fork never copies the queue held.
    func packed() -> Packed {
        locked {
            if let p = cached, p.versions == versions { return p }
            let p = Packed(self)
            cached = p
            return p
        }
    }

    /// The two-part form of an LSTM's W_hh, kept as `packed()` is.
    func splitPacked() -> SplitPacked {
        locked {
            if let p = cachedSplit, p.versions == versions { return p }
            let p = SplitPacked(self)
            cachedSplit = p
            return p
        }
    }

    /// The versions a derived form is valid for.
    private var versions: (UInt64, UInt64) { (values.version, scales.version) }

    /// `body` on the weight's queue, inside the fork gate. (No key paths here: two threads
    /// reading a generic key path for the first time at once deadlocked the Swift runtime's
    /// metadata cache in a forked child under AddressSanitizer, Tests/CTests' int8 group.)
    private func locked<T>(_ body: () -> T) -> T {
        ck_fork_gate_enter()
        defer { ck_fork_gate_leave() }
        return queue.sync(execute: body)
    }

    /// y (m, rows; row stride ldy) = (or += when `accumulate`, or `bias` (rows) + when
    /// given) x (m, cols; row stride ldx) · Wᵀ, x quantized per row into `inputs`'
    /// buffers first. A bias gives the bits of y filled with it and +=, without the fill.
    func product(_ x: UnsafePointer<Float>, rows m: Int, ldx: Int, packed p: Packed, inputs: QuantizedInputs,
                 into y: UnsafeMutablePointer<Float>, ldy: Int, bias: UnsafePointer<Float>? = nil, accumulate: Bool) {
        guard m > 0 else { return }
        precondition(m <= inputs.rows && cols <= inputs.cols, "QuantizedWeight.product: scratch too small")
        ck_q8_quantize_inputs(x, Int64(m), Int64(cols), Int64(ldx), inputs.q, inputs.scale, inputs.zero)
        p.scales.withUnsafeBufferPointer { S in
        p.sums.withUnsafeBufferPointer { SUM in
            ck_q8_gemm(inputs.q, inputs.scale, inputs.zero, Int64(m), p.data, S.baseAddress!, SUM.baseAddress!,
                       Int64(rows), Int64(cols), y, Int64(ldy), bias, accumulate ? 1 : 0)
        }
        }
    }
}

/// Scratch for the quantized inputs of up to `rows` rows of `cols` values.
final class QuantizedInputs {
    let rows: Int, cols: Int
    let q: UnsafeMutablePointer<UInt8>
    let scale: UnsafeMutablePointer<Float>
    let zero: UnsafeMutablePointer<Int32>

    init(rows: Int, cols: Int) {
        self.rows = rows
        self.cols = cols
        q = .allocate(capacity: rows * Int(ck_q8_padded_cols(Int64(cols))))
        scale = .allocate(capacity: rows)
        zero = .allocate(capacity: rows)
    }

    deinit { q.deallocate(); scale.deallocate(); zero.deallocate() }
}

/// y = x Wᵀ + b with W int8 per row and x quantized per row on the fly: what a `Linear`
/// runs once quantized in place (`QuantizableLayer`).
final class QuantizedLinear {
    let inFeatures: Int
    let outFeatures: Int
    let weight: QuantizedWeight
    let bias: Parameter?

    /// `linear`'s weights quantized; its bias is shared.
    init(quantizing linear: Linear) throws {
        inFeatures = linear.inFeatures
        outFeatures = linear.outFeatures
        weight = try QuantizedWeight(name: "weight", quantizing: linear.weight)
        bias = linear.bias
    }

    /// The float layer's names: "weight" (I8), "weight_scale", "bias".
    var localParameters: [Parameter] { [weight.values, weight.scales] + (bias.map { [$0] } ?? []) }

    func checkQuantized() throws { try weight.check(fullName: "weight") }

    /// x (..., in) -> (..., out)
    func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.last == inFeatures, "Linear expects last dim \(inFeatures), got \(x.shape)")
        let n = x.count / inFeatures
        var y = [Float](repeating: 0, count: n * outFeatures)
        let inputs = QuantizedInputs(rows: max(n, 1), cols: inFeatures)
        let packed = weight.packed()
        x.data.withUnsafeBufferPointer { X in
        y.withUnsafeMutableBufferPointer { Y in
        (bias?.value ?? []).withUnsafeBufferPointer { B in
            weight.product(X.baseAddress!, rows: n, ldx: inFeatures, packed: packed, inputs: inputs,
                           into: Y.baseAddress!, ldy: outFeatures, bias: bias == nil ? nil : B.baseAddress, accumulate: false)
        }
        }
        }
        return Tensor(shape: Array(x.shape.dropLast()) + [outFeatures], data: y)
    }
}
