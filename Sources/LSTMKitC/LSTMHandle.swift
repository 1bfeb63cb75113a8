import CLSTMKitHeader
import LSTMKit

#if canImport(Glibc)
import Glibc
#endif

/// What an `lk_lstm*` points to: the engine's LSTM plus C strings for its
/// parameter names, which callers borrow for the handle's lifetime.
final class LSTMHandle {
    let lstm: LSTM
    let names: BorrowedCStrings

    init(_ lstm: LSTM) {
        self.lstm = lstm
        names = BorrowedCStrings(lstm.parameters.map(\.name))
    }


    /// The named parameter, checking that the caller's buffer holds `count` values.
    func parameter(_ name: UnsafePointer<CChar>?, count: Int) throws -> Parameter {
        let p = try parameter(name)
        guard count == p.count else {
            throw mismatch("parameter \(p.name) has shape \(p.shape) (\(p.count) values), count is \(count)")
        }
        return p
    }

    func parameter(_ name: UnsafePointer<CChar>?) throws -> Parameter {
        let key = try string(name, "name")
        guard let p = lstm.parameter(named: key) else {
            throw ABIError(status: LK_STATUS_NOT_FOUND,
                           message: "no parameter named \"\(key)\"; known: \(lstm.parameters.map(\.name).joined(separator: ", "))")
        }
        return p
    }
}

// The lk_lstm struct is incomplete in C, so Swift sees its pointers as OpaquePointer.
func handle(_ pointer: OpaquePointer?) throws -> LSTMHandle {
    try borrowHandle(pointer, "lstm", as: LSTMHandle.self)
}

func publish(_ lstm: LSTM, to out: UnsafeMutablePointer<OpaquePointer?>) {
    publishHandle(LSTMHandle(lstm), to: out)
}

extension LSTMConfig {
    init(_ c: lk_lstm_config) throws {
        guard c.bidirectional == 0 || c.bidirectional == 1 else {
            throw invalid("bidirectional must be 0 or 1, got \(c.bidirectional)")
        }
        self.init(inputSize: Int(c.input_size), hiddenSize: Int(c.hidden_size), numLayers: Int(c.num_layers),
                  bidirectional: c.bidirectional == 1, dropout: c.dropout, seed: c.seed)
        try validate()
    }

    var cConfig: lk_lstm_config {
        lk_lstm_config(input_size: Int32(inputSize), hidden_size: Int32(hiddenSize), num_layers: Int32(numLayers),
                       bidirectional: bidirectional ? 1 : 0, dropout: dropout, seed: seed)
    }
}

@_cdecl("lk_lstm_config_default")
public func lk_lstm_config_default() -> lk_lstm_config {
    lk_lstm_config(input_size: 1, hidden_size: 1, num_layers: 1, bidirectional: 0, dropout: 0, seed: 0)
}

@_cdecl("lk_lstm_create")
public func lk_lstm_create(_ config: UnsafePointer<lk_lstm_config>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> lk_status {
    guarded {
        let c = try required(config, "config").pointee
        let out = try required(out, "out")
        publish(try LSTM(LSTMConfig(c)), to: out)
    }
}

@_cdecl("lk_lstm_free")
public func lk_lstm_free(_ lstm: OpaquePointer?) {
    releaseHandle(lstm, as: LSTMHandle.self)
}

@_cdecl("lk_lstm_get_config")
public func lk_lstm_get_config(_ lstm: OpaquePointer?, _ out: UnsafeMutablePointer<lk_lstm_config>?) -> lk_status {
    guarded {
        let h = try handle(lstm)
        try required(out, "out").pointee = h.lstm.config.cConfig
    }
}

@_cdecl("lk_lstm_forward")
public func lk_lstm_forward(
    _ lstm: OpaquePointer?,
    _ x: UnsafePointer<Float>?, _ batch: Int64, _ steps: Int64, _ inputSize: Int64, _ xCount: Int,
    _ lengths: UnsafePointer<Int32>?,
    _ h0: UnsafePointer<Float>?, _ c0: UnsafePointer<Float>?, _ stateCount: Int,
    _ y: UnsafeMutablePointer<Float>?, _ yCount: Int,
    _ hN: UnsafeMutablePointer<Float>?, _ cN: UnsafeMutablePointer<Float>?, _ stateOutCount: Int
) -> lk_status {
    guarded {
        let lstm = try handle(lstm).lstm
        let config = lstm.config
        let x = try required(x, "x")
        let y = try required(y, "y")
        guard batch >= 1 else { throw invalid("batch must be >= 1, got \(batch)") }
        guard steps >= 1 else { throw invalid("steps must be >= 1, got \(steps)") }
        guard inputSize == Int64(config.inputSize) else {
            throw invalid("input_size is \(inputSize) but the LSTM was built for \(config.inputSize)")
        }
        let (b, t) = (Int(batch), Int(steps))
        let xNeeded = try product([b, t, config.inputSize], "x")
        guard xCount == xNeeded else {
            throw mismatch("x_count is \(xCount), but (B, T, D) = (\(b), \(t), \(config.inputSize)) needs \(xNeeded)")
        }
        let yNeeded = try product([b, t, config.outputSize], "y")
        guard yCount == yNeeded else {
            throw mismatch("y_count is \(yCount), but (B, T, K*H) = (\(b), \(t), \(config.outputSize)) needs \(yNeeded)")
        }
        let stateShape = [config.numLayers * config.directions, b, config.hiddenSize]
        let stateNeeded = try product(stateShape, "state")
        // Work buffers: about 10 floats per (layer, direction, row, step, hidden unit).
        let work = try product([10, config.numLayers, config.directions, b, t, config.hiddenSize], "the work buffers")
        guard work <= 1 << 31 else {
            throw ABIError(status: LK_STATUS_OUT_OF_MEMORY, message: "a batch of (\(b), \(t)) needs \(work * 4) bytes of work space; split it")
        }
        guard (h0 == nil) == (c0 == nil) else { throw invalid("give both h0 and c0, or neither") }
        guard (hN == nil) == (cN == nil) else { throw invalid("give both h_n and c_n, or neither") }
        var initial: LSTMState?
        if let h0, let c0 {
            guard stateCount == stateNeeded else {
                throw mismatch("state_count is \(stateCount), but (L*K, B, H) = \(stateShape) needs \(stateNeeded)")
            }
            initial = LSTMState(h: Tensor(shape: stateShape, data: Array(UnsafeBufferPointer(start: h0, count: stateNeeded))),
                                c: Tensor(shape: stateShape, data: Array(UnsafeBufferPointer(start: c0, count: stateNeeded))))
        } else if stateCount != 0 {
            throw mismatch("state_count is \(stateCount) but h0 and c0 are NULL")
        }
        if hN != nil {
            guard stateOutCount == stateNeeded else {
                throw mismatch("state_out_count is \(stateOutCount), but (L*K, B, H) = \(stateShape) needs \(stateNeeded)")
            }
        } else if stateOutCount != 0 {
            throw mismatch("state_out_count is \(stateOutCount) but h_n and c_n are NULL")
        }
        let lens = lengths.map { Array(UnsafeBufferPointer(start: $0, count: b)) }
        let input = Tensor(shape: [b, t, config.inputSize], data: Array(UnsafeBufferPointer(start: x, count: xNeeded)))
        let result = try lstm.runInference(input, lengths: lens, initial: initial)
        result.y.data.withUnsafeBufferPointer { y.update(from: $0.baseAddress!, count: yNeeded) }
        if let hN, let cN {
            result.final.h.data.withUnsafeBufferPointer { hN.update(from: $0.baseAddress!, count: stateNeeded) }
            result.final.c.data.withUnsafeBufferPointer { cN.update(from: $0.baseAddress!, count: stateNeeded) }
        }
    }
}

@_cdecl("lk_lstm_param_count")
public func lk_lstm_param_count(_ lstm: OpaquePointer?, _ count: UnsafeMutablePointer<Int32>?) -> lk_status {
    guarded {
        let h = try handle(lstm)
        try required(count, "count").pointee = Int32(h.names.count)
    }
}

@_cdecl("lk_lstm_param_name")
public func lk_lstm_param_name(_ lstm: OpaquePointer?, _ index: Int32,
                               _ name: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> lk_status {
    guarded {
        let h = try handle(lstm)
        let out = try required(name, "name")
        out.pointee = try h.names.at(index, "parameter")
    }
}

@_cdecl("lk_lstm_param_shape")
public func lk_lstm_param_shape(_ lstm: OpaquePointer?, _ name: UnsafePointer<CChar>?,
                                _ ndim: UnsafeMutablePointer<Int32>?, _ shape: UnsafeMutablePointer<Int64>?) -> lk_status {
    guarded {
        let p = try handle(lstm).parameter(name)
        let ndim = try required(ndim, "ndim")
        let shape = try required(shape, "shape")
        ndim.pointee = Int32(p.shape.count)
        for (i, d) in p.shape.enumerated() { shape[i] = Int64(d) }
    }
}

@_cdecl("lk_lstm_get_param")
public func lk_lstm_get_param(_ lstm: OpaquePointer?, _ name: UnsafePointer<CChar>?,
                              _ out: UnsafeMutablePointer<Float>?, _ count: Int) -> lk_status {
    guarded {
        let p = try handle(lstm).parameter(name, count: count)
        let out = try required(out, "out")
        p.value.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: count) }
    }
}

@_cdecl("lk_lstm_set_param")
public func lk_lstm_set_param(_ lstm: OpaquePointer?, _ name: UnsafePointer<CChar>?,
                              _ values: UnsafePointer<Float>?, _ count: Int) -> lk_status {
    guarded {
        let p = try handle(lstm).parameter(name, count: count)
        let values = try required(values, "values")
        try p.assign(Array(UnsafeBufferPointer(start: values, count: count)))
    }
}

@_cdecl("lk_lstm_save")
public func lk_lstm_save(_ lstm: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> lk_status {
    guarded {
        let h = try handle(lstm)
        try h.lstm.save(to: try string(path, "path"))
    }
}

@_cdecl("lk_lstm_load")
public func lk_lstm_load(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> lk_status {
    guarded {
        let path = try string(path, "path")
        let out = try required(out, "out")
        publish(try LSTM.load(from: path), to: out)
    }
}
