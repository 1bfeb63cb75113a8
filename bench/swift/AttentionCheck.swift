// lstmkit-bench attention <dir> <dot|general|additive|self|block> [heads]: the LSTMKit side
// of bench/attention_vs_torch_test.py. Reads the inputs and every tensor (one .npy per
// full tensor name) from <dir>, runs the layer's forward and writes its outputs there.
//   encoder-decoder: states (S, T_src, E), lengths (S), queries (N, T_q, D), sources (N)
//     → out (N, T_q, O), weights (N, T_q, T_src), context (N, T_q, E), and step_out
//       (N, T_q, O): the same queries one decoder step at a time;
//   self, block: x (N, T, D), lengths (N) → out (N, T, D), weights (N, H, T, T).
import LSTMKit

func runAttentionCheck(_ args: [String]) throws {
    guard args.count >= 2 else { fail("usage: lstmkit-bench attention <dir> <dot|general|additive|self|block> [heads]") }
    let (dir, kind) = (args[0], args[1])
    func floats(_ name: String) throws -> Tensor {
        let array = try NumPyFile.read("\(dir)/\(name).npy")
        return Tensor(shape: array.shape, data: try array.floats(name))
    }
    func ints(_ name: String) throws -> [Int] { try NumPyFile.read("\(dir)/\(name).npy").int32s(name).map(Int.init) }
    func load(_ module: Module) throws {
        for (name, p) in module.namedParameters { try p.assign(try floats(name).data, fullName: name) }
    }
    func write(_ name: String, _ t: Tensor) throws { try NumPyFile.write(t.data, shape: t.shape, to: "\(dir)/\(name).npy") }
    var rng = SeededRandom(seed: 1)
    let lengths = try ints("lengths")
    if let score = AttentionScore(rawValue: kind) {
        let (states, queries, sources) = (try floats("states"), try floats("queries"), try ints("sources"))
        let attentionSize = score == .additive ? try floats("v").count : 0
        let layer = EncoderDecoderAttention(
            score: score, querySize: queries.shape[2], memorySize: states.shape[2], attentionSize: attentionSize,
            outputSize: try floats("linear_out.weight").shape[0], rng: &rng)
        try load(layer)
        let memory = layer.memory(states, lengths: lengths)
        let (out, cache) = layer.forward(memory, queries: queries, sources: sources)
        try write("out", out)
        try write("weights", cache.weights)
        try write("context", cache.context)
        let (rows, tq, d) = (queries.shape[0], queries.shape[1], queries.shape[2])
        var stepped = Tensor(zeros: out.shape)
        for t in 0..<tq {
            var query = [Float]()
            for r in 0..<rows { query += queries.data[((r * tq + t) * d)..<((r * tq + t + 1) * d)] }
            let (y, _) = layer.step(memory, query: Tensor(shape: [rows, d], data: query), sources: sources)
            let o = layer.outputSize
            for r in 0..<rows { for j in 0..<o { stepped.data[(r * tq + t) * o + j] = y.data[r * o + j] } }
        }
        try write("step_out", stepped)
    } else if kind == "self" || kind == "block" {
        guard args.count == 3, let heads = Int(args[2]) else { fail("attention \(kind) needs the number of heads") }
        let x = try floats("x")
        let block = SelfAttentionBlock(modelSize: x.shape[2], heads: heads, rng: &rng)
        if kind == "self" {
            try load(block.attention)
            let (y, cache) = block.attention.forward(x, lengths: lengths)
            try write("out", y)
            try write("weights", cache.weights)
        } else {
            try load(block)
            let (y, cache) = block.forward(x, lengths: lengths)
            try write("out", y)
            try write("weights", cache.weights)
        }
    } else {
        fail("unknown attention kind \(kind)")
    }
}
