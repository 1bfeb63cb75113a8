import CLSTMKitHeader
import LSTMKit

extension LSTM: RecurrentHandleModel {
    static let argumentName = "lstm"
    static let stateNames = (initial: ["h0", "c0"], final: ["h_n", "c_n"])

    func inference(_ x: Tensor, lengths: [Int32]?, initial: [Tensor]?) throws -> (y: Tensor, final: [Tensor]) {
        let out = try runInference(x, lengths: lengths, initial: initial.map { LSTMState(h: $0[0], c: $0[1]) })
        return (out.y, [out.final.h, out.final.c])
    }
}

@_cdecl("lk_lstm_config_default")
public func lk_lstm_config_default() -> lk_lstm_config { recurrentConfigDefault }

@_cdecl("lk_lstm_create")
public func lk_lstm_create(_ config: UnsafePointer<lk_lstm_config>?, _ out: HandleOut?) -> lk_status {
    createRecurrent(LSTM.self, config, out)
}

@_cdecl("lk_lstm_load")
public func lk_lstm_load(_ path: CString?, _ out: HandleOut?) -> lk_status { loadHandle(LSTM.self, path, out) }

@_cdecl("lk_lstm_free")
public func lk_lstm_free(_ lstm: OpaquePointer?) { freeHandle(LSTM.self, lstm) }

@_cdecl("lk_lstm_save")
public func lk_lstm_save(_ lstm: OpaquePointer?, _ path: CString?) -> lk_status { saveHandle(LSTM.self, lstm, path) }

@_cdecl("lk_lstm_get_config")
public func lk_lstm_get_config(_ lstm: OpaquePointer?, _ out: Out<lk_lstm_config>?) -> lk_status { getConfig(LSTM.self, lstm, out) }

@_cdecl("lk_lstm_param_count")
public func lk_lstm_param_count(_ lstm: OpaquePointer?, _ count: Out<Int32>?) -> lk_status {
    stringCount(LSTM.self, lstm, count, "count")
}

@_cdecl("lk_lstm_param_name")
public func lk_lstm_param_name(_ lstm: OpaquePointer?, _ index: Int32, _ name: Out<CString?>?) -> lk_status {
    lentString(LSTM.self, lstm, index, name, "name", "parameter")
}

@_cdecl("lk_lstm_param_shape")
public func lk_lstm_param_shape(_ lstm: OpaquePointer?, _ name: CString?, _ ndim: Out<Int32>?, _ shape: Out<Int64>?) -> lk_status {
    parameterShape(LSTM.self, lstm, name, ndim, shape)
}

@_cdecl("lk_lstm_get_param")
public func lk_lstm_get_param(_ lstm: OpaquePointer?, _ name: CString?, _ out: Out<Float>?, _ count: Int) -> lk_status {
    getParameter(LSTM.self, lstm, name, out, count)
}

@_cdecl("lk_lstm_set_param")
public func lk_lstm_set_param(_ lstm: OpaquePointer?, _ name: CString?,
                              _ values: UnsafePointer<Float>?, _ count: Int) -> lk_status {
    setParameter(LSTM.self, lstm, name, values, count)
}

@_cdecl("lk_lstm_forward")
public func lk_lstm_forward(
    _ lstm: OpaquePointer?,
    _ x: UnsafePointer<Float>?, _ batch: Int64, _ steps: Int64, _ inputSize: Int64, _ xCount: Int,
    _ lengths: UnsafePointer<Int32>?,
    _ h0: UnsafePointer<Float>?, _ c0: UnsafePointer<Float>?, _ stateCount: Int,
    _ y: Out<Float>?, _ yCount: Int,
    _ hN: Out<Float>?, _ cN: Out<Float>?, _ stateOutCount: Int
) -> lk_status {
    recurrentForward(LSTM.self, lstm, x, batch, steps, inputSize, xCount, lengths, [h0, c0], stateCount,
                     y, yCount, [hN, cN], stateOutCount)
}
