import FuzzSupport
import LSTMKit

let english = loadFixture("golden/text-en.safetensors", TextClassifier.load)
let chinese = loadFixture("golden/text-zh-ngrams.safetensors", TextClassifier.load)

/// Any bytes as a text to classify, by a word model and a character model with n-grams:
/// probabilities finite and summing to 1.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzClassifierText(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: bytes(data, size), as: UTF8.self)
    for model in [english, chinese] {
        for row in model.predictProbabilities([text, text + text]) {
            precondition(row.allSatisfy(\.isFinite), "non-finite probability")
            precondition(abs(row.reduce(0, +) - 1) < 1e-3, "probabilities do not sum to 1")
        }
    }
    return 0
}

@_cdecl("fuzz_classifier_text_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    fuzzMain(argc, argv, fuzzClassifierText)
}
