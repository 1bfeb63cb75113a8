import FuzzSupport
import LSTMKit

let tokenizer = loadFixture("golden/tokenizer.safetensors", Tokenizer.load)

/// Any bytes as text (invalid UTF-8 repaired as the C ABI's callers' text is not: this
/// target is about what the segmenter does with any string): the words must put the
/// text back together.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizerText(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: bytes(data, size), as: UTF8.self)
    let words = tokenizer.cut(text)
    precondition(words.joined() == text, "the words do not rebuild the text")
    _ = tokenizer.tag(text)
    return 0
}

@_cdecl("fuzz_tokenizer_text_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    fuzzMain(argc, argv, fuzzTokenizerText)
}
