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
