import FuzzSupport
import LSTMKit

let models = ["seq2seq", "seq2seq-gru"].map { loadFixture("golden/seq2seq/\($0).safetensors", Seq2Seq.load) }

/// Any bytes as a word to translate, greedy and beam 3 (2-best), by the two golden G2P
/// models: a text without a source token is refused (LSTMKitError), any other decodes
/// (unknown symbols, lengths never seen) with scores <= 0 and attention rows summing to 1.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSeq2SeqText(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: bytes(data, size), as: UTF8.self)
    for model in models {
        for decoding in [Seq2SeqDecoding(beamSize: 1), Seq2SeqDecoding(beamSize: 3, nBest: 2, lengthPenalty: 0.6)] {
            guard !model.source.split(text).isEmpty else {
                expectCleanRefusal { _ = try model.translate([text], decoding: decoding); fatalError("an empty source decoded") }
                continue
            }
            do {
                for t in try model.translate([text, "a"], decoding: decoding).joined() {
                    precondition(t.score.isFinite && t.score <= 0, "score \(t.score)")
                    precondition(t.attention.allSatisfy { abs($0.reduce(0, +) - 1) < 1e-3 }, "an attention row does not sum to 1")
                }
            } catch { fatalError("a source with tokens was refused: \(error)") }
        }
    }
    return 0
}

@_cdecl("fuzz_seq2seq_text_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    fuzzMain(argc, argv, fuzzSeq2SeqText)
}
