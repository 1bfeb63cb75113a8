import CLSTMKitHeader
import LSTMKit

/// The raw recurrent layers (lk_lstm, lk_gru) as the ABI hands them out: one config
/// struct, and each function written once for either (LSTMHandle.swift and
/// GRUHandle.swift are one-line calls of these). They differ only in their states: the
/// LSTM's h and c, the GRU's h alone.
protocol RecurrentHandleModel: CModel, RecurrentModelFile where CConfig == lk_lstm_config {
    /// The state arguments' names, initial and final, in the C signature's order:
    /// (["h0", "c0"], ["h_n", "c_n"]) for the LSTM.
    static var stateNames: (initial: [String], final: [String]) { get }
    /// Checked inference from initial states in `stateNames` order (nil: zeros); returns
    /// y and the final states in that order.
    func inference(_ x: Tensor, lengths: [Int32]?, initial: [Tensor]?) throws -> (y: Tensor, final: [Tensor])
}

extension RecurrentHandleModel {
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

/// lk_<layer>_config_default: input_size 1, hidden_size 1, one unidirectional layer.
let recurrentConfigDefault = lk_lstm_config(input_size: 1, hidden_size: 1, num_layers: 1, bidirectional: 0, dropout: 0, seed: 0)

/// lk_<layer>_create.
func createRecurrent<M: RecurrentHandleModel>(_: M.Type, _ config: UnsafePointer<lk_lstm_config>?, _ out: HandleOut?) -> lk_status {
    guarded {
        let c = try required(config, "config").pointee
        let out = try required(out, "out")
        guard c.bidirectional == 0 || c.bidirectional == 1 else {
            throw invalid("bidirectional must be 0 or 1, got \(c.bidirectional)")
        }
        let config = RecurrentConfig(inputSize: Int(c.input_size), hiddenSize: Int(c.hidden_size), numLayers: Int(c.num_layers),
                                     bidirectional: c.bidirectional == 1, dropout: c.dropout, seed: c.seed)
        try config.validate()
        publish(try M(config), to: out)
    }
}

/// lk_<layer>_param_shape.
func parameterShape<M: RecurrentHandleModel>(_: M.Type, _ pointer: OpaquePointer?, _ name: CString?,
                                             _ ndim: Out<Int32>?, _ shape: Out<Int64>?) -> lk_status {
    guarded(pointer, M.self) { h in
        let p = try h.model.parameter(name)
        let ndim = try required(ndim, "ndim")
        let shape = try required(shape, "shape")
        ndim.pointee = Int32(p.shape.count)
        for (i, d) in p.shape.enumerated() { shape[i] = Int64(d) }
    }
}

/// lk_<layer>_get_param.
func getParameter<M: RecurrentHandleModel>(_: M.Type, _ pointer: OpaquePointer?, _ name: CString?,
                                           _ out: Out<Float>?, _ count: Int) -> lk_status {
    guarded(pointer, M.self) { h in
        let p = try h.model.parameter(name, count: count)
        try copyOut(p.fileValues, to: try required(out, "out"), count: count, "values")
    }
}

/// lk_<layer>_set_param.
func setParameter<M: RecurrentHandleModel>(_: M.Type, _ pointer: OpaquePointer?, _ name: CString?,
                                           _ values: UnsafePointer<Float>?, _ count: Int) -> lk_status {
    guarded(pointer, M.self) { h in
        let p = try h.model.parameter(name, count: count)
        try p.assign(Array(UnsafeBufferPointer(start: try required(values, "values"), count: count)))
    }
}

/// lk_<layer>_forward: `initial` and `final` are the state arguments in `M.stateNames`
/// order, all given or all NULL; `stateCount` / `stateOutCount` their element count each
/// (0 when NULL).
func recurrentForward<M: RecurrentHandleModel>(
    _: M.Type, _ pointer: OpaquePointer?,
    _ x: UnsafePointer<Float>?, _ batch: Int64, _ steps: Int64, _ inputSize: Int64, _ xCount: Int,
    _ lengths: UnsafePointer<Int32>?,
    _ initial: [UnsafePointer<Float>?], _ stateCount: Int,
    _ y: Out<Float>?, _ yCount: Int,
    _ final: [Out<Float>?], _ stateOutCount: Int
) -> lk_status {
    guarded(pointer, M.self) { h in
        let config = h.model.config
        let x = try required(x, "x")
        let y = try required(y, "y")
        guard batch >= 1 else { throw invalid("batch must be >= 1, got \(batch)") }
        guard steps >= 1 else { throw invalid("steps must be >= 1, got \(steps)") }
        guard inputSize == Int64(config.inputSize) else {
            throw invalid("input_size is \(inputSize) but the \(M.argumentName.uppercased()) was built for \(config.inputSize)")
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
        let (initialNames, finalNames) = M.stateNames
        /// The states' count each: (L*K, B, H), or 0 when they are NULL (all or none given).
        func checkStates(_ given: [Bool], _ names: [String], _ n: Int, _ countName: String) throws -> Int {
            let listed = names.joined(separator: " and ")
            guard Set(given).count == 1 else { throw invalid("give both \(listed), or neither") }
            if given[0] { return try count(n, countName, is: stateShape, "L*K * B * H") }
            guard n == 0 else { throw mismatch("\(countName) is \(UInt(bitPattern: n)) but \(listed) \(names.count > 1 ? "are" : "is") NULL") }
            return 0
        }
        let stateNeeded = try checkStates(initial.map { $0 != nil }, initialNames, stateCount, "state_count")
        let stateOutNeeded = try checkStates(final.map { $0 != nil }, finalNames, stateOutCount, "state_out_count")
        let initialStates = stateNeeded == 0 ? nil : initial.map {
            Tensor(shape: stateShape, data: Array(UnsafeBufferPointer(start: $0!, count: stateNeeded)))
        }
        let lens = lengths.map { Array(UnsafeBufferPointer(start: $0, count: b)) }
        let input = Tensor(shape: [b, t, config.inputSize], data: Array(UnsafeBufferPointer(start: x, count: xNeeded)))
        let result = try h.model.inference(input, lengths: lens, initial: initialStates)
        try copyOut(result.y.data, to: y, count: yNeeded, "outputs")
        if stateOutNeeded > 0 {
            for (state, out) in zip(result.final, final) {
                try copyOut(state.data, to: out!, count: stateOutNeeded, "final states")
            }
        }
    }
}
