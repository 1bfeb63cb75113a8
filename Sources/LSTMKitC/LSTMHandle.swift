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
