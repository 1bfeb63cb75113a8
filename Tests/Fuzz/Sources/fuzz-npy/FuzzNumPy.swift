import FuzzSupport
import LSTMKit

/// Any bytes as a .npy file, then every conversion the CLI makes of one.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNumPy(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    expectCleanRefusal {
        let array = try NumPyFile.parse(bytes(data, size), name: "input.npy")
        expectCleanRefusal { _ = try array.floats() }
        expectCleanRefusal { _ = try array.labels() }
        expectCleanRefusal { _ = try array.int32s() }
    }
    return 0
}

@_cdecl("fuzz_npy_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    fuzzMain(argc, argv, fuzzNumPy)
}
