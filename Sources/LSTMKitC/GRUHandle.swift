import CLSTMKitHeader
import LSTMKit

// lk_gru_*: the LSTM's functions (RecurrentHandles.swift) for a GRU, whose state is h alone.

extension GRU: RecurrentHandleModel {
    static let argumentName = "gru"
    static let stateNames = (initial: ["h0"], final: ["h_n"])

    func inference(_ x: Tensor, lengths: [Int32]?, initial: [Tensor]?) throws -> (y: Tensor, final: [Tensor]) {
        let out = try runInference(x, lengths: lengths, initial: initial?[0])
        return (out.y, [out.final])
    }
}

@_cdecl("lk_gru_config_default")
public func lk_gru_config_default() -> lk_gru_config { recurrentConfigDefault }

@_cdecl("lk_gru_create")
public func lk_gru_create(_ config: UnsafePointer<lk_gru_config>?, _ out: HandleOut?) -> lk_status {
    createRecurrent(GRU.self, config, out)
}

@_cdecl("lk_gru_load")
public func lk_gru_load(_ path: CString?, _ out: HandleOut?) -> lk_status { loadHandle(GRU.self, path, out) }

@_cdecl("lk_gru_free")
public func lk_gru_free(_ gru: OpaquePointer?) { freeHandle(GRU.self, gru) }

@_cdecl("lk_gru_save")
public func lk_gru_save(_ gru: OpaquePointer?, _ path: CString?) -> lk_status { saveHandle(GRU.self, gru, path) }

@_cdecl("lk_gru_get_config")
public func lk_gru_get_config(_ gru: OpaquePointer?, _ out: Out<lk_gru_config>?) -> lk_status { getConfig(GRU.self, gru, out) }

@_cdecl("lk_gru_param_count")
public func lk_gru_param_count(_ gru: OpaquePointer?, _ count: Out<Int32>?) -> lk_status {
    stringCount(GRU.self, gru, count, "count")
}

@_cdecl("lk_gru_param_name")
public func lk_gru_param_name(_ gru: OpaquePointer?, _ index: Int32, _ name: Out<CString?>?) -> lk_status {
    lentString(GRU.self, gru, index, name, "name", "parameter")
}

@_cdecl("lk_gru_param_shape")
public func lk_gru_param_shape(_ gru: OpaquePointer?, _ name: CString?, _ ndim: Out<Int32>?, _ shape: Out<Int64>?) -> lk_status {
    parameterShape(GRU.self, gru, name, ndim, shape)
}

@_cdecl("lk_gru_get_param")
public func lk_gru_get_param(_ gru: OpaquePointer?, _ name: CString?, _ out: Out<Float>?, _ count: Int) -> lk_status {
    getParameter(GRU.self, gru, name, out, count)
}

@_cdecl("lk_gru_set_param")
public func lk_gru_set_param(_ gru: OpaquePointer?, _ name: CString?,
                             _ values: UnsafePointer<Float>?, _ count: Int) -> lk_status {
    setParameter(GRU.self, gru, name, values, count)
}

@_cdecl("lk_gru_forward")
public func lk_gru_forward(
    _ gru: OpaquePointer?,
    _ x: UnsafePointer<Float>?, _ batch: Int64, _ steps: Int64, _ inputSize: Int64, _ xCount: Int,
    _ lengths: UnsafePointer<Int32>?,
    _ h0: UnsafePointer<Float>?, _ stateCount: Int,
    _ y: Out<Float>?, _ yCount: Int,
    _ hN: Out<Float>?, _ stateOutCount: Int
) -> lk_status {
    recurrentForward(GRU.self, gru, x, batch, steps, inputSize, xCount, lengths, [h0], stateCount,
                     y, yCount, [hN], stateOutCount)
}
