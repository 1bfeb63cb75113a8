#if canImport(Glibc)
import Glibc
#endif
import LSTMKitCore

/// A float layer that can swap its weight matrices for int8 ones in place (`Linear`,
/// `LSTM`, `GRU`, `Embedding`): once quantized, it runs its int8 form (`QuantizedLinear`,
/// `QuantizedRecurrent`; an embedding looks its rows up dequantized), whose tensors become
/// its own in the module tree (so a model file holds them: I8 values and F32 `_scale`s
/// under the float names). Its float weights are freed (emptied): it keeps no float copy,
/// so code that needs float weights must not run on it (`QuantizedWeight.dequantized`
/// gives them explicitly). Inference only: training a quantized layer is a programming error.
///
/// This is what lets every model quantize through one mechanism, `Module.quantizeLayers()`,
/// without holding its layers under other types.
public protocol QuantizableLayer: Module {
    /// Whether it holds int8 weights.
    var isInt8: Bool { get }
    /// Quantizes the float weights (per row, symmetric) and switches to the int8 form.
    func quantizeWeights() throws
    /// After a model file (or a caller) assigned the int8 form's tensors: checks them.
    func checkInt8() throws
}

extension Module {
    /// Every module of the tree, this one first.
    var treeModules: [Module] { [self] + children.flatMap { $0.module.treeModules } }

    /// Whether any layer of the tree runs int8 products.
    public var isQuantized: Bool {
        treeModules.contains { ($0 as? QuantizableLayer)?.isInt8 == true }
    }

    /// Dynamic int8 quantization of a whole model in place (docs/QUANTIZATION.md): every
    /// Linear, recurrent and embedding layer of the tree switches to int8 weights with
    /// per-row scales; the rest (convolutions, normalisation, CRF, n-gram bags) stays float32.
    /// Throws if the tree is already quantized.
    public func quantizeLayers() throws {
        if isQuantized { throw LSTMKitError.alreadyQuantized("this model") }
        for case let layer as QuantizableLayer in treeModules { try layer.quantizeWeights() }
        Memory.returnFreedPages()
    }
}

extension Memory {
    /// Returns the pages of freed heap memory to the system (glibc's `malloc_trim`; a
    /// no-op where there is none). glibc keeps what a process frees for reuse, so after
    /// a model is loaded or quantized the file's buffers and the float weights it dropped
    /// would still count in its resident memory: the bundled tokenizer in int8 held 50 MiB
    /// after loading instead of 10 (bench/quant_memory.py).
    public static func returnFreedPages() {
        _ = mallocTrim?(0)
    }

    #if canImport(Glibc)
    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = dlsym(nil, "malloc_trim").map {
        unsafeBitCast($0, to: (@convention(c) (Int) -> Int32).self)
    }
    #else
    private static let mallocTrim: ((Int) -> Int32)? = nil
    #endif
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

/// An LSTM or GRU quantizes as a model does: `lstm.quantize()`, in place.
extension RecurrentStack: QuantizableModel {}

extension Parameter {
    /// Frees a float weight its int8 form replaced (nothing reads it any more).
    fileprivate func releaseFloatStorage() {
        value = []
        grad = []
    }
}

// MARK: - The float layers' int8 forms

extension Linear: QuantizableLayer {
    public var isInt8: Bool { quantized != nil }

    public func quantizeWeights() throws {
        if quantized != nil { throw LSTMKitError.alreadyQuantized("this Linear") }
        quantized = try QuantizedLinear(quantizing: self)
        weight.releaseFloatStorage()
    }

    public func checkInt8() throws { try quantized?.checkQuantized() }
}

extension RecurrentStack: QuantizableLayer {
    public var isInt8: Bool { quantized != nil }

    public func quantizeWeights() throws {
        let cell: RecurrentCell = self is GRU ? .gru : .lstm
        if quantized != nil { throw LSTMKitError.alreadyQuantized("this \(cell.rawValue.uppercased())") }
        quantized = try QuantizedRecurrent(quantizing: self, cell: cell)
        for w in weightIH + weightHH { w.releaseFloatStorage() }
    }

    public func checkInt8() throws { try quantized?.checkQuantized() }
}

/// A table's rows int8 with one scale each: the file is about 4x smaller; a lookup
/// copies the rows dequantized (scale · value).
extension Embedding: QuantizableLayer {
    public var isInt8: Bool { quantized != nil }

    public func quantizeWeights() throws {
        if quantized != nil { throw LSTMKitError.alreadyQuantized("this Embedding") }
        quantized = try QuantizedWeight(name: "weight", quantizing: weight)
        weight.releaseFloatStorage()
    }

    public func checkInt8() throws { try quantized?.check(fullName: "weight") }
}
