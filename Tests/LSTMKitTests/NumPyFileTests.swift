import Testing
@testable import LSTMKit
@testable import LSTMKitIO

@Suite("NumPy files")
struct NumPyFileTests {
    func array(_ descr: String, _ shape: [Int], _ data: [UInt8]) throws -> NumPyArray {
        try NumPyFile.parse(NumPyFile.serialize(descr: descr, shape: shape, data: data), name: "x.npy")
    }

    @Test("int32s: booleans and integers of every size and byte order; floats and out-of-range values refused")
    func int32s() throws {
        #expect(try array("|b1", [3], [1, 0, 1]).int32s() == [1, 0, 1])
        #expect(try array("|u1", [2], [255, 7]).int32s() == [255, 7])
        #expect(try array(">i2", [3], [0xff, 0xfe, 0x01, 0x2c, 0x00, 0x07]).int32s() == [-2, 300, 7])
        #expect(try array("<i8", [2], [0xfb] + [UInt8](repeating: 0xff, count: 7) + [9, 0, 0, 0, 0, 0, 0, 0]).int32s() == [-5, 9])
        #expect(try array("<u2", [2], [0x34, 0x12, 0, 0]).int32s() == [0x1234, 0])
        // 2^32 - 1 as uint32 and 2^31 as int64: outside Int32.
        #expect(throws: LSTMKitError.invalidArgument("x[1] is 4294967295, outside the range of Int32")) {
            try array("<u4", [2], [0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]).int32s("x")
        }
        let big = try array("<i8", [1, 2], [UInt8](repeating: 0, count: 8) + [0, 0, 0, 0x80, 0, 0, 0, 0])
        #expect(throws: LSTMKitError.invalidArgument("at 1: 2147483648")) {
            try big.int32s { i, value in LSTMKitError.invalidArgument("at \(i): \(value)") }
        }
        #expect(throws: LSTMKitError.invalidArgument("m.npy holds float32; integers are needed")) {
            try array("<f4", [1], [0, 0, 0x80, 0x3f]).int32s("m.npy")
        }
    }
}
