// lstmkit-bench: the LSTMKit side of bench/lstm_speed.py. One configuration per
// process, so the driver can read this process's peak RSS on its own.
//
//   lstmkit-bench <c1|c2|c1q8|c2q8|c3|c4|c4gru> <threads> <warmup> <iterations>
//   lstmkit-bench sgemm <threads> <warmup> <iterations> <m> <n> <k>
//   lstmkit-bench attention <dir> <kind> [heads]   (AttentionCheck.swift: not timed)
//   lstmkit-bench g2p <train|decode> ...            (G2P.swift: bench/g2p_bench.py's side)
//   lstmkit-bench decode <beam> <sources> [threads] [score]   (DecodeBench.swift: seq2seq decoding)
//
// Prints one JSON object: the seconds of every timed iteration (after the warm-up),
// the OpenBLAS configuration, and for sgemm the GFLOP/s. Uses only the public engine
// API, as a Swift user would (LSTM.infer / forward / backward, RecurrentLayer, Linear, Embedding,
// Loss.softmaxCrossEntropy, Adam, BLAS).
import CBLAS   // only for openblas_get_config(): which OpenBLAS build and core this process runs
import LSTMKit
#if canImport(Glibc)
import Glibc
#endif

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func fail(_ message: String) -> Never {
    fputs("lstmkit-bench: \(message)\n", stderr)
    exit(2)
}

let args = CommandLine.arguments
if args.count >= 2 && args[1] == "attention" {
    do { try runAttentionCheck(Array(args.dropFirst(2))) } catch { fail("\(error)") }
    exit(0)
}
if args.count >= 2 && args[1] == "g2p" {
    do { try runG2P(Array(args.dropFirst(2))) } catch { fail("\(error)") }
    exit(0)
}
if args.count >= 2 && args[1] == "decode" {
    do { try runDecodeBench(Array(args.dropFirst(2))) } catch { fail("\(error)") }
    exit(0)
}
guard args.count >= 5, let threads = Int(args[2]), let warmup = Int(args[3]), let iterations = Int(args[4]),
      threads >= 1, warmup >= 0, iterations >= 1 else {
    fail("usage: lstmkit-bench <c1|c2|c1q8|c2q8|c3|c4|c4gru|sgemm> <threads> <warmup> <iterations> [m n k]")
}
let config = args[1]
BLAS.numThreads = threads
var rng = SeededRandom(seed: 1)

func randomTensor(_ shape: [Int]) -> Tensor {
    Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in rng.normal() })
}

func randomClasses(_ count: Int, _ classes: Int) -> [Int32] {
    (0..<count).map { _ in Int32(rng.next() % UInt64(classes)) }
}

/// Runs `body` warmup + iterations times; returns the timed iterations' seconds.
func measure(_ body: () throws -> Void) rethrows -> [Double] {
    for _ in 0..<warmup { try body() }
    var times: [Double] = []
    for _ in 0..<iterations {
        let t0 = now()
        try body()
        times.append(now() - t0)
    }
    return times
}

/// Keeps results alive so the optimizer cannot drop the work.
var sink: Float = 0

var extra: [String: String] = [:]
let times: [Double]
switch config {
case "c1", "c2":
    // Inference, zero initial state, every sequence full length.
    let (b, t, layers, bi) = config == "c1" ? (1, 50, 1, false) : (64, 100, 2, true)
    let lstm = try LSTM(LSTMConfig(inputSize: 128, hiddenSize: 256, numLayers: layers, bidirectional: bi, seed: 1))
    let x = randomTensor([b, t, 128])
    let lengths = [Int](repeating: t, count: b)
    times = measure {
        let out = lstm.infer(x, lengths: lengths)
        sink += out.y.data[0]
    }
case "c1q8", "c2q8":
    // C1 / C2 with the LSTM int8-quantized in place (LSTM.quantize(): docs/QUANTIZATION.md).
    let (b, t, layers, bi) = config == "c1q8" ? (1, 50, 1, false) : (64, 100, 2, true)
    let lstm = try LSTM(LSTMConfig(inputSize: 128, hiddenSize: 256, numLayers: layers, bidirectional: bi, seed: 1))
    try lstm.quantize()  // in place
    let x = randomTensor([b, t, 128])
    let lengths = [Int](repeating: t, count: b)
    extra["q8_isa"] = "\"\(QuantizedWeight.kernelVariant)\""
    times = measure {
        let out = lstm.infer(x, lengths: lengths)
        sink += out.y.data[0]
    }
case "c3":
    // C2's model + Linear(2H -> 10) on every step, mean token cross-entropy, Adam.
    let (b, t) = (64, 100)
    let lstm = try LSTM(LSTMConfig(inputSize: 128, hiddenSize: 256, numLayers: 2, bidirectional: true, seed: 1))
    let head = Linear(512, 10, rng: &rng)
    let parameters = lstm.parameters + head.parameters
    let adam = Adam(learningRate: 1e-3)
    let x = randomTensor([b, t, 128])
    let lengths = [Int](repeating: t, count: b)
    let targets = randomClasses(b * t, 10)
    times = try measure {
        let out = lstm.forward(x, lengths: lengths, training: true)
        let logits = head.forward(out.y)
        let (loss, grad) = try Loss.softmaxCrossEntropy(logits: logits.reshaped([b * t, 10]), targets: targets)
        let dy = head.backward(out.y, outputGrad: grad.reshaped([b, t, 10]))
        _ = lstm.backward(out.cache, outputGrad: dy)
        adam.stepAndZero(parameters)
        sink += loss
    }
case "c4", "c4gru":
    // Tagger: Embedding(5000, 100) -> BiLSTM(128) (c4gru: BiGRU(128)) -> Linear(256 -> 4),
    // token CE, Adam. A dense embedding gradient, as torch's nn.Embedding + torch.optim.Adam.
    // The recurrent layer through the protocol every model uses (RecurrentLayer).
    let (b, t, vocab, dim, tags) = (32, 50, 5000, 100, 4)
    let embedding = Embedding(vocab, dim, rng: &rng)
    let cell: RecurrentCell = config == "c4" ? .lstm : .gru
    let recurrent = try cell.make(RecurrentConfig(inputSize: dim, hiddenSize: 128, numLayers: 1, bidirectional: true, seed: 1))
    let head = Linear(256, tags, rng: &rng)
    let parameters = embedding.parameters + recurrent.parameters + head.parameters
    let adam = Adam(learningRate: 1e-3)
    let ids = randomClasses(b * t, vocab)
    let targets = randomClasses(b * t, tags)
    let lengths = [Int](repeating: t, count: b)
    times = try measure {
        let x = embedding.forward(ids, shape: [b, t])
        let out = recurrent.forward(sequences: x, lengths: lengths, training: true)
        let logits = head.forward(out.y)
        let (loss, grad) = try Loss.softmaxCrossEntropy(logits: logits.reshaped([b * t, tags]), targets: targets)
        let dy = head.backward(out.y, outputGrad: grad.reshaped([b, t, tags]))
        let dx = recurrent.backward(out.cache, outputGrad: dy, finalGrad: nil)
        embedding.backward(ids, outputGrad: dx)
        adam.stepAndZero(parameters)
        sink += loss
    }
case "sgemm":
    // C (m, n) = A (m, k) B^T, B stored (n, k): the form the LSTM's GEMMs take.
    guard args.count == 8, let m = Int(args[5]), let n = Int(args[6]), let k = Int(args[7]) else {
        fail("usage: lstmkit-bench sgemm <threads> <warmup> <iterations> <m> <n> <k>")
    }
    let a = randomTensor([m, k]).data, bm = randomTensor([n, k]).data
    var c = [Float](repeating: 0, count: m * n)
    times = measure {
        a.withUnsafeBufferPointer { A in
            bm.withUnsafeBufferPointer { B in
                c.withUnsafeMutableBufferPointer { C in
                    BLAS.gemm(transB: true, m: m, n: n, k: k, a: A.baseAddress!, lda: k,
                              b: B.baseAddress!, ldb: k, beta: 0, c: C.baseAddress!, ldc: n)
                }
            }
        }
        sink += c[0]
    }
    let sorted = times.sorted()
    let flops = 2 * Double(m) * Double(n) * Double(k)
    extra["gflops_median"] = "\(flops / sorted[sorted.count / 2] / 1e9)"
    extra["gflops_best"] = "\(flops / sorted[0] / 1e9)"
default:
    fail("unknown configuration \(config)")
}

/// This process's peak resident set (VmHWM in /proc/self/status), in KiB; 0 if unreadable.
func peakRSSKiB() -> Int {
    guard let file = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(file) }
    var line: UnsafeMutablePointer<CChar>? = nil
    var capacity = 0
    defer { free(line) }
    while getline(&line, &capacity, file) > 0, let line {
        let text = String(cString: line)
        if text.hasPrefix("VmHWM:") {
            return Int(text.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "") ?? 0
        }
    }
    return 0
}

let timeList = times.map { "\($0)" }.joined(separator: ", ")
var fields = ["\"engine\": \"lstmkit\"", "\"config\": \"\(config)\"", "\"threads\": \(BLAS.numThreads)",
              "\"blas_config\": \"\(String(cString: openblas_get_config()))\"", "\"sink\": \(sink.isFinite ? sink : 0)",
              "\"vmhwm_kib\": \(peakRSSKiB())", "\"times_s\": [\(timeList)]"]
for (key, value) in extra.sorted(by: { $0.key < $1.key }) { fields.append("\"\(key)\": \(value)") }
print("{" + fields.joined(separator: ", ") + "}")
