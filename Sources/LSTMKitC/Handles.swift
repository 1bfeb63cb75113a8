#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLSTMKitHeader
import LSTMKit

/// One handle type for every model, and the functions every model's handle has (load,
/// free, save, a label or parameter name, a value out such as get_config) written once:
/// each model's `lk_*` function is a one-line call of these.
///
/// A handle crosses the C boundary as a `Handle<Model>` retained once when it is given
/// out (`publish`), borrowed by each call (`handle`), released by its free function.
/// The C structs are incomplete, so Swift sees their pointers as OpaquePointer.

// The C types of the signatures, named as the header reads them.
public typealias CString = UnsafePointer<CChar>                   // const char *
public typealias CStrings = UnsafePointer<CString?>               // const char *const *
public typealias Out<T> = UnsafeMutablePointer<T>                 // an out-parameter or output buffer
public typealias HandleOut = UnsafeMutablePointer<OpaquePointer?> // lk_<model> **out

/// What the ABI needs of a model to hand it out.
protocol CModel: AnyObject {
    /// The model's C config (its architecture, with training fields at their defaults).
    associatedtype CConfig
    /// The handle argument's name in messages ("classifier").
    static var argumentName: String { get }
    static func load(from path: String) throws -> Self
    func save(to path: String) throws
    /// Strings the handle lends its callers (labels, parameter names); none by default.
    var lentStrings: [String] { get }
    var cConfig: CConfig { get }
    /// The model's settings by name (lk_model_get_setting): its config; none by default.
    var settings: (any HyperParameterized)? { get }
}

extension CModel {
    var lentStrings: [String] { [] }
    var settings: (any HyperParameterized)? { nil }
}

/// What an `lk_<model>*` points to: the engine's model plus the C strings it lends
/// (labels, parameter names): copied once, freed with the handle, so a borrowed
/// `const char *` stays valid for the handle's life.
final class Handle<Model: CModel> {
    let model: Model
    private(set) var strings: [UnsafeMutablePointer<CChar>]
    /// Strings lent before quantizing renamed the parameters: callers may still hold them.
    private var retired: [UnsafeMutablePointer<CChar>] = []

    init(_ model: Model) {
        self.model = model
        strings = model.lentStrings.map { strdup($0) }
    }

    deinit { (strings + retired).forEach { free($0) } }

    /// The lent string at `index`, or an error naming `what` and the valid range.
    func string(at index: Int32, _ what: String) throws -> CString {
        guard index >= 0, Int(index) < strings.count else {
            throw invalid("\(what) index \(index) is outside [0, \(strings.count))")
        }
        return CString(strings[Int(index)])
    }
}

/// Gives `model` to the caller as a new handle, after applying the thread setting.
func publish<M: CModel>(_ model: M, to out: HandleOut) {
    _ = applyThreadSetting
    out.pointee = OpaquePointer(Unmanaged.passRetained(Handle(model)).toOpaque())
}

/// The handle behind a pointer; NULL is refused, naming the argument.
func handle<M: CModel>(_ pointer: OpaquePointer?, _: M.Type = M.self) throws -> Handle<M> {
    let p = try required(pointer, M.argumentName)
    // Every handle is a Swift object: one of another model (a caller's cast) is refused
    // by its dynamic type instead of being misread as this one.
    let object = Unmanaged<AnyObject>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue()
    guard let h = object as? Handle<M> else {
        throw invalid("\(M.argumentName) is a handle of another kind (\(type(of: object)), not Handle<\(M.self)>)")
    }
    return h
}

/// The model behind a handle.
func model<M: CModel>(_ pointer: OpaquePointer?, _: M.Type = M.self) throws -> M { try handle(pointer, M.self).model }

/// Runs an ABI call on the handle `pointer` (NULL is refused, naming the argument).
func guarded<M: CModel>(_ pointer: OpaquePointer?, _: M.Type, _ body: (Handle<M>) throws -> Void) -> lk_status {
    guarded { try body(try handle(pointer, M.self)) }
}

/// lk_<model>_load: reads a model file into a new handle.
func loadHandle<M: CModel>(_: M.Type, _ path: CString?, _ out: HandleOut?) -> lk_status {
    guarded {
        let path = try string(path, "path")
        let out = try required(out, "out")
        publish(try M.load(from: path), to: out)
    }
}

/// lk_<model>_free: releases a handle; NULL is a no-op.
func freeHandle<M: CModel>(_: M.Type, _ pointer: OpaquePointer?) {
    guard let pointer else { return }
    Unmanaged<Handle<M>>.fromOpaque(UnsafeRawPointer(pointer)).release()
}

/// lk_<model>_save: writes the model file (atomically: the engine's writer).
func saveHandle<M: CModel>(_: M.Type, _ pointer: OpaquePointer?, _ path: CString?) -> lk_status {
    guarded(pointer, M.self) { try $0.model.save(to: try string(path, "path")) }
}

/// Writes one value about a handle to the caller's out-parameter `outName` (left
/// untouched on failure): get_config, num_classes, a label, ...
func query<M: CModel, T>(_: M.Type, _ pointer: OpaquePointer?, _ out: Out<T>?, _ outName: String,
                         _ value: (Handle<M>) throws -> T) -> lk_status {
    guarded(pointer, M.self) { h in
        let out = try required(out, outName)
        out.pointee = try value(h)
    }
}

/// lk_<model>_get_config.
func getConfig<M: CModel>(_: M.Type, _ pointer: OpaquePointer?, _ out: Out<M.CConfig>?) -> lk_status {
    query(M.self, pointer, out, "out") { $0.model.cConfig }
}

/// The number of strings a handle lends (num_classes, param_count).
func stringCount<M: CModel>(_: M.Type, _ pointer: OpaquePointer?, _ out: Out<Int32>?, _ outName: String) -> lk_status {
    query(M.self, pointer, out, outName) { Int32($0.strings.count) }
}

/// String `index` of a handle (label, param_name); `what` names the kind of index.
func lentString<M: CModel>(_: M.Type, _ pointer: OpaquePointer?, _ index: Int32, _ out: Out<CString?>?,
                           _ outName: String, _ what: String) -> lk_status {
    query(M.self, pointer, out, outName) { try $0.string(at: index, what) }
}

/// What lk_model_get_setting and lk_model_get_config_text ask of a handle, whatever its model.
private protocol SettingsSource: AnyObject {
    func setting(_ name: String) throws -> String
    var configText: String? { get }
}

extension Handle: SettingsSource {
    func setting(_ name: String) throws -> String {
        guard let settings = model.settings else { throw invalid("model: this handle (\(Model.self)) has no settings by name") }
        guard let text = settings.setting(name) else {
            throw ABIError(status: LK_STATUS_NOT_FOUND, message: "this \(Model.argumentName) records no setting \"\(name)\"")
        }
        return text
    }

    var configText: String? { LSTMKitC.configText(model.cConfig) }
}

/// The handle behind `model` as a SettingsSource (another pointer, lk_train_options, is refused).
private func settingsSource(_ model: UnsafeRawPointer?) throws -> SettingsSource {
    // Every handle is a Swift object.
    guard let source = Unmanaged<AnyObject>.fromOpaque(try required(model, "model")).takeUnretainedValue() as? SettingsSource else {
        throw invalid("model is not a model handle")
    }
    return source
}

@_cdecl("lk_model_get_setting")
public func lk_model_get_setting(_ model: UnsafeRawPointer?, _ key: CString?, _ value: Out<CChar>?, _ capacity: Int,
                                 _ size: Out<Int>?) -> lk_status {
    guarded {
        try copyText(try settingsSource(model).setting(try string(key, "key")), to: value, "value", capacity: capacity,
                     size: size, "the setting")
    }
}

@_cdecl("lk_model_get_config_text")
public func lk_model_get_config_text(_ model: UnsafeRawPointer?, _ text: Out<CChar>?, _ capacity: Int, _ size: Out<Int>?) -> lk_status {
    guarded {
        guard let config = try settingsSource(model).configText else {
            throw invalid("model: this handle has no train config (lk_lstm, lk_gru)")
        }
        try copyText(config, to: text, "text", capacity: capacity, size: size, "the config's text")
    }
}

// MARK: - int8 quantization (docs/QUANTIZATION.md)

/// What lk_model_quantize asks of a handle, whatever its model.
private protocol QuantizeTarget: AnyObject { func quantize() throws }

extension Handle: QuantizeTarget {
    /// The model's layers quantized in place (`Module.quantizeLayers`); the parameter
    /// names it lends (lk_lstm's) gain the scales'.
    func quantize() throws {
        guard let tree = (model as? QuantizableModel)?.moduleTree ?? (model as? RecurrentStack) else {
            throw invalid("model: a \(Model.argumentName) has no int8 form")
        }
        try tree.quantizeLayers()
        retired += strings
        strings = model.lentStrings.map { strdup($0) }
    }
}

@_cdecl("lk_model_quantize") public func lk_model_quantize(_ model: UnsafeMutableRawPointer?) -> lk_status {
    guarded {
        guard let target = Unmanaged<AnyObject>.fromOpaque(try required(model, "model")).takeUnretainedValue() as? QuantizeTarget else {
            throw invalid("model is not a model handle")
        }
        try target.quantize()
    }
}

/// lk_<model>_quantize: the generic call, for the handle's own type.
func quantizeHandle<M: CModel>(_: M.Type, _ pointer: OpaquePointer?) -> lk_status {
    guarded(pointer, M.self) { try $0.quantize() }
}

@_cdecl("lk_lstm_quantize") public func lk_lstm_quantize(_ p: OpaquePointer?) -> lk_status { quantizeHandle(LSTM.self, p) }
@_cdecl("lk_gru_quantize") public func lk_gru_quantize(_ p: OpaquePointer?) -> lk_status { quantizeHandle(GRU.self, p) }
@_cdecl("lk_tokenizer_quantize") public func lk_tokenizer_quantize(_ p: OpaquePointer?) -> lk_status { quantizeHandle(Tokenizer.self, p) }
@_cdecl("lk_text_classifier_quantize") public func lk_text_classifier_quantize(_ p: OpaquePointer?) -> lk_status { quantizeHandle(TextClassifier.self, p) }
@_cdecl("lk_image_classifier_quantize") public func lk_image_classifier_quantize(_ p: OpaquePointer?) -> lk_status { quantizeHandle(ImageClassifier.self, p) }
@_cdecl("lk_image_segmenter_quantize") public func lk_image_segmenter_quantize(_ p: OpaquePointer?) -> lk_status { quantizeHandle(ImageSegmenter.self, p) }
@_cdecl("lk_sequence_classifier_quantize") public func lk_sequence_classifier_quantize(_ p: OpaquePointer?) -> lk_status { quantizeHandle(SequenceClassifier.self, p) }
@_cdecl("lk_forecaster_quantize") public func lk_forecaster_quantize(_ p: OpaquePointer?) -> lk_status { quantizeHandle(Forecaster.self, p) }
@_cdecl("lk_seq2seq_quantize") public func lk_seq2seq_quantize(_ p: OpaquePointer?) -> lk_status { quantizeHandle(Seq2Seq.self, p) }
