import LSTMKitCore

/// A float layer that can swap its weight matrices for int8 ones in place (`Linear`,
/// `LSTM`, `GRU`, `Embedding`): once quantized, it runs its int8 form (`QuantizedLinear`,
/// `QuantizedRecurrent`; an embedding looks its rows up dequantized), whose tensors become
/// its own in the module tree (so a model file holds them: I8 values and F32 `_scale`s
/// under the float names). Its float weights are kept equal to the int8 ones dequantized,
/// so any code that reads them directly computes what the int8 form computes, to float
/// rounding. Inference only: training a quantized layer is a programming error.
///
/// This is what lets every model quantize through one mechanism, `Module.quantizeLayers()`,
/// without holding its layers under other types.
public protocol QuantizableLayer: Module {
    /// Whether it holds int8 weights.
    var isInt8: Bool { get }
    /// Quantizes the float weights (per row, symmetric) and switches to the int8 form.
    func quantizeWeights() throws
    /// After a model file assigned the int8 form's tensors: checks them
    /// (`QuantizedModule.checkQuantized`) and brings the float weights in line.
    func int8Loaded() throws
}

extension Module {
    /// Every module of the tree, this one first.
    var treeModules: [Module] { [self] + children.flatMap { $0.module.treeModules } }

    /// Whether any layer of the tree runs int8 products.
    public var isQuantized: Bool {
        treeModules.contains { $0 is QuantizedModule || ($0 as? QuantizableLayer)?.isInt8 == true }
    }

    /// Dynamic int8 quantization of a whole model in place (docs/QUANTIZATION.md): every
    /// Linear, recurrent and embedding layer of the tree switches to int8 weights with
    /// per-row scales; the rest (convolutions, normalisation, CRF, n-gram bags) stays float32.
    /// Throws if the tree is already quantized.
    public func quantizeLayers() throws {
        if isQuantized { throw LSTMKitError.alreadyQuantized("this model") }
        for case let layer as QuantizableLayer in treeModules { try layer.quantizeWeights() }
    }
}

/// A task model's int8 form (`model.quantize()`), for every model that holds its layers
/// in a module tree: the tree's Linear and recurrent layers quantized in place
/// (`Module.quantizeLayers`). Its file then holds I8 weights, F32 `_scale`s and the
/// metadata "quantization": "int8", and loads through the model's own `load`.
public protocol QuantizableModel: AnyObject {
    /// The modules whose layers quantize (the model itself when it is a Module).
    var moduleTree: Module { get }
}

extension QuantizableModel where Self: Module {
    public var moduleTree: Module { self }
}

extension QuantizableModel {
    /// Quantizes the model in place for inference; throws if it already is.
    public func quantize() throws { try moduleTree.quantizeLayers() }
}

// MARK: - The float layers' int8 forms

extension Linear: QuantizableLayer {
    public var isInt8: Bool { quantized != nil }

    public func quantizeWeights() throws {
        if quantized != nil { throw LSTMKitError.alreadyQuantized("this Linear") }
        quantized = try QuantizedLinear(quantizing: self)
        try int8Loaded()
    }

    public func int8Loaded() throws {
        guard let q = quantized else { return }
        try q.checkQuantized()
        weight.value = q.weight.dequantized
    }
}

extension RecurrentStack: QuantizableLayer {
    public var isInt8: Bool { quantized != nil }

    public func quantizeWeights() throws {
        let cell: RecurrentCell = self is GRU ? .gru : .lstm
        if quantized != nil { throw LSTMKitError.alreadyQuantized("this \(cell.rawValue.uppercased())") }
        quantized = try QuantizedRecurrent(quantizing: self, cell: cell)
        try int8Loaded()
    }

    public func int8Loaded() throws {
        guard let q = quantized else { return }
        try q.checkQuantized()
        for i in weightIH.indices {
            weightIH[i].value = q.weightIH[i].dequantized
            weightHH[i].value = q.weightHH[i].dequantized
        }
    }
}

/// A table's rows int8 with one scale each: the file is about 4x smaller; lookups copy
/// the rows dequantized (exactly scale · value), so no kernel changes.
extension Embedding: QuantizableLayer {
    public var isInt8: Bool { quantized != nil }

    public func quantizeWeights() throws {
        if quantized != nil { throw LSTMKitError.alreadyQuantized("this Embedding") }
        quantized = try QuantizedWeight(name: "weight", quantizing: weight)
        try int8Loaded()
    }

    public func int8Loaded() throws {
        guard let q = quantized else { return }
        try q.check(fullName: "weight")
        weight.value = q.dequantized
    }
}

extension QuantizedWeight {
    /// scales[r] · values[r, c]: the float matrix the int8 one stands for.
    var dequantized: [Float] {
        let (v, s) = (values.value, scales.value)
        return (0..<(rows * cols)).map { v[$0] * s[$0 / cols] }
    }
}
