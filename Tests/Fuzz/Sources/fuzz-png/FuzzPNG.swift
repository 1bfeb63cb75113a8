import FuzzSupport
import LSTMKit

/// Any bytes as a PNG file; what decodes must encode and decode back to itself.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPNG(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    expectCleanRefusal {
        let image = try PNG.decode(bytes(data, size), name: "input.png")
        var plain = image
        plain.colourType = image.channels == 3 ? 2 : 0
        let again = try! PNG.decode(try! PNG.encode(image), name: "again.png")   // an error here is a finding
        precondition(again == plain, "PNG round trip differs")
    }
    return 0
}

@_cdecl("fuzz_png_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    fuzzMain(argc, argv, fuzzPNG)
}
