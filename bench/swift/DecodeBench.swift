// lstmkit-bench decode <beam> <sources> [threads] [score]: what decoding costs, for
// callgrind (issue 20's one-step fast path): a random G2P-sized seq2seq model (26
// letters → 73 phoneme words, embedding 64, hidden 128 bidirectional, so D = 256;
// `general` unless told) translates <sources> random words of 4–10 letters with beam
// <beam> (1: greedy), max_length_ratio 2, n_best 1. Untrained, so most outputs run to
// the length limit: the step's cost, not a trained model's lengths. Prints the seconds
// and a checksum of the scores (equal before and after a change that keeps the bits).
// Instructions (valgrind 3.19 cannot read the toolchain's DWARF: strip it first):
//   objcopy --strip-debug .build/release/lstmkit-bench /tmp/b && OPENBLAS_NUM_THREADS=1 \
//     valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out /tmp/b decode 5 32
import LSTMKit

func runDecodeBench(_ args: [String]) throws {
    guard args.count >= 2, let beam = Int(args[0]), let count = Int(args[1]), beam >= 1, count >= 1 else {
        fail("usage: lstmkit-bench decode <beam> <sources> [threads] [dot|general|additive]")
    }
    let threads = args.count > 2 ? Int(args[2]) ?? 1 : 1
    let letters = "abcdefghijklmnopqrstuvwxyz"
    let phonemes = (0..<73).map { "P\($0)" }.joined(separator: " ")
    var config = Seq2SeqConfig()
    config.targetTokens = .words
    if args.count > 3 { guard let s = AttentionScore(rawValue: args[3]) else { fail("unknown score \(args[3])") }; config.score = s }
    let model = try Seq2Seq(config: config, source: Seq2SeqVocabulary(mode: .characters, texts: [letters], minCount: 1),
                            target: Seq2SeqVocabulary(mode: .words, texts: [phonemes], minCount: 1))
    var rng = SeededRandom(seed: 2)
    let words = (0..<count).map { _ in
        String((0..<(4 + Int(rng.next() % 7))).map { _ in letters.randomElement(using: &rng)! })
    }
    BLAS.numThreads = threads
    let t0 = now()
    let out = try model.translate(words, decoding: Seq2SeqDecoding(beamSize: beam, nBest: 1), threads: threads)
    let seconds = now() - t0
    let checksum = out.reduce(0.0) { $0 + Double($1[0].score) }
    let tokens = out.reduce(0) { $0 + $1[0].ids.count }
    print("{\"engine\": \"lstmkit\", \"config\": \"decode\", \"beam\": \(beam), \"sources\": \(count), \"threads\": \(threads), "
          + "\"score\": \"\(config.score.rawValue)\", \"seconds\": \(seconds), \"words_per_s\": \(Double(count) / seconds), "
          + "\"output_tokens\": \(tokens), \"score_checksum\": \(checksum)}")
}
