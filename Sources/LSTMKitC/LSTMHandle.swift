import CLSTMKitHeader
import LSTMKit

extension LSTM: CModel {
    static let argumentName = "lstm"
    var lentStrings: [String] { parameters.map(\.name) }
    var cConfig: lk_lstm_config {
        lk_lstm_config(input_size: Int32(config.inputSize), hidden_size: Int32(config.hiddenSize),
                       num_layers: Int32(config.numLayers), bidirectional: config.bidirectional ? 1 : 0,
                       dropout: config.dropout, seed: config.seed)
    }

    /// The parameter named by a caller, checking, given `count`, that its buffer holds that
    /// many values. A name that is not UTF-8 is INVALID_ARGUMENT (as every string argument).
    func parameter(_ name: CString?, count: Int? = nil) throws -> Parameter {
        let key = try string(name, "name")
        guard let p = parameter(named: key) else {
            throw ABIError(status: LK_STATUS_NOT_FOUND,
                           message: "no parameter named \"\(key)\"; known: \(parameters.map(\.name).joined(separator: ", "))")
        }
        if let count, count != p.count {
            throw mismatch("parameter \(p.name) has shape \(p.shape) (\(p.count) values), count is \(UInt(bitPattern: count))")
        }
        return p
    }
}

@_cdecl("lk_lstm_config_default")
public func lk_lstm_config_default() -> lk_lstm_config {
    lk_lstm_config(input_size: 1, hidden_size: 1, num_layers: 1, bidirectional: 0, dropout: 0, seed: 0)
}

@_cdecl("lk_lstm_create")
public func lk_lstm_create(_ config: UnsafePointer<lk_lstm_config>?, _ out: HandleOut?) -> lk_status {
    guarded {
        let c = try required(config, "config").pointee
        let out = try required(out, "out")
        guard c.bidirectional == 0 || c.bidirectional == 1 else {
            throw invalid("bidirectional must be 0 or 1, got \(c.bidirectional)")
        }
        let lstmConfig = LSTMConfig(inputSize: Int(c.input_size), hiddenSize: Int(c.hidden_size), numLayers: Int(c.num_layers),
                                    bidirectional: c.bidirectional == 1, dropout: c.dropout, seed: c.seed)
        try lstmConfig.validate()
        publish(try LSTM(lstmConfig), to: out)
    }
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
    guarded(lstm, LSTM.self) { h in
        let p = try h.model.parameter(name)
        let ndim = try required(ndim, "ndim")
        let shape = try required(shape, "shape")
        ndim.pointee = Int32(p.shape.count)
        for (i, d) in p.shape.enumerated() { shape[i] = Int64(d) }
    }
}

@_cdecl("lk_lstm_get_param")
public func lk_lstm_get_param(_ lstm: OpaquePointer?, _ name: CString?, _ out: Out<Float>?, _ count: Int) -> lk_status {
    guarded(lstm, LSTM.self) { h in
        let p = try h.model.parameter(name, count: count)
        try copyOut(p.value, to: try required(out, "out"), count: count, "values")
    }
}

@_cdecl("lk_lstm_set_param")
public func lk_lstm_set_param(_ lstm: OpaquePointer?, _ name: CString?,
                              _ values: UnsafePointer<Float>?, _ count: Int) -> lk_status {
    guarded(lstm, LSTM.self) { h in
        let p = try h.model.parameter(name, count: count)
        try p.assign(Array(UnsafeBufferPointer(start: try required(values, "values"), count: count)))
    }
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
    guarded(lstm, LSTM.self) { h in
        let config = h.model.config
        let x = try required(x, "x")
        let y = try required(y, "y")
        guard batch >= 1 else { throw invalid("batch must be >= 1, got \(batch)") }
        guard steps >= 1 else { throw invalid("steps must be >= 1, got \(steps)") }
        guard inputSize == Int64(config.inputSize) else {
            throw invalid("input_size is \(inputSize) but the LSTM was built for \(config.inputSize)")
        }
        let (b, t) = (Int(batch), Int(steps))
        let xNeeded = try count(xCount, "x_count", is: [b, t, config.inputSize], "B * T * D")
        let yNeeded = try count(yCount, "y_count", is: [b, t, config.outputSize], "B * T * K*H")
        let stateShape = [config.numLayers * config.directions, b, config.hiddenSize]
        // Work buffers: about 10 floats per (layer, direction, row, step, hidden unit).
        let work = try product([10, config.numLayers, config.directions, b, t, config.hiddenSize], "the work buffers")
        guard work <= 1 << 31 else {
            throw ABIError(status: LK_STATUS_OUT_OF_MEMORY,
                           message: "a batch of (\(b), \(t)) needs \(work * 4) bytes of work space; split it")
        }
        try Memory.check([work + xNeeded + yNeeded], for: "a batch of (\(b), \(t))")
        guard (h0 == nil) == (c0 == nil) else { throw invalid("give both h0 and c0, or neither") }
        guard (hN == nil) == (cN == nil) else { throw invalid("give both h_n and c_n, or neither") }
        /// A pair of states' count: (L*K, B, H), or 0 when they are NULL.
        func checkStates(_ given: Bool, _ n: Int, _ name: String, _ pair: String) throws -> Int {
            if given { return try count(n, name, is: stateShape, "L*K * B * H") }
            guard n == 0 else { throw mismatch("\(name) is \(UInt(bitPattern: n)) but \(pair) are NULL") }
            return 0
        }
        let stateNeeded = try checkStates(h0 != nil, stateCount, "state_count", "h0 and c0")
        let stateOutNeeded = try checkStates(hN != nil, stateOutCount, "state_out_count", "h_n and c_n")
        var initial: LSTMState?
        if let h0, let c0 {
            initial = LSTMState(h: Tensor(shape: stateShape, data: Array(UnsafeBufferPointer(start: h0, count: stateNeeded))),
                                c: Tensor(shape: stateShape, data: Array(UnsafeBufferPointer(start: c0, count: stateNeeded))))
        }
        let lens = lengths.map { Array(UnsafeBufferPointer(start: $0, count: b)) }
        let input = Tensor(shape: [b, t, config.inputSize], data: Array(UnsafeBufferPointer(start: x, count: xNeeded)))
        let result = try h.model.runInference(input, lengths: lens, initial: initial)
        try copyOut(result.y.data, to: y, count: yNeeded, "outputs")
        if let hN, let cN {
            try copyOut(result.final.h.data, to: hN, count: stateOutNeeded, "final states")
            try copyOut(result.final.c.data, to: cN, count: stateOutNeeded, "final states")
        }
    }
}
