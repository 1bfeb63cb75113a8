// lstmkit-bench attention <dir> <dot|general|additive|self|block|pool> [heads]: the LSTMKit side
// of bench/attention_vs_torch_test.py. Reads the inputs and every tensor (one .npy per
// full tensor name) from <dir>, runs the layer's forward and writes its outputs there.
//   encoder-decoder: states (S, T_src, E), lengths (S), queries (N, T_q, D), sources (N)
//     → out (N, T_q, O), weights (N, T_q, T_src), context (N, T_q, E), and step_out
//       (N, T_q, O): the same queries one decoder step at a time;
//   self, block: x (N, T, D), lengths (N) → out (N, T, D), weights (N, H, T, T);
//   pool (the classifiers' self_attention pooling: block, then additive attention):
//     x, lengths → out (N, D), weights (N, T);
//   self, block, pool with an output gradient dy (as out) in <dir>: also dx and each
//     tensor's gradient, "grad.<name>".
import LSTMKit

func runAttentionCheck(_ args: [String]) throws {
    guard args.count >= 2 else { fail("usage: lstmkit-bench attention <dir> <dot|general|additive|self|block|pool> [heads]") }
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
    } else if ["self", "block", "pool"].contains(kind) {
        guard args.count == 3, let heads = Int(args[2]) else { fail("attention \(kind) needs the number of heads") }
        let x = try floats("x")
        let d = x.shape[2]
        let pooling = RecurrentOutputPooling(.selfAttention, recurrent: RecurrentConfig(inputSize: 1, hiddenSize: d),
                                             attentionSize: kind == "pool" ? try floats("attention.context").count : 1,
                                             heads: heads, rng: &rng)
        let block = pooling.block!
        let modules: [(String, Module)] = kind == "self" ? [("", block.attention)] : kind == "block" ? [("", block)]
            : pooling.children().map { ($0.name + ".", $0.module) }
        let names = modules.flatMap { prefix, m in m.namedParameters.map { (prefix + $0.name, $0.parameter) } }
        for (name, p) in names { try p.assign(try floats(name).data, fullName: name) }
        let dy = try? floats("dy")   // none: forward only
        let y: Tensor, dx: Tensor?
        switch kind {
        case "self":
            let (out, cache) = block.attention.forward(x, lengths: lengths)
            (y, dx) = (out, dy.map { block.attention.backward(cache, outputGrad: $0) })
            try write("weights", cache.weights)
        case "block":
            let (out, cache) = block.forward(x, lengths: lengths)
            (y, dx) = (out, dy.map { block.backward(cache, outputGrad: $0) })
            try write("weights", cache.weights)
        default:
            let (out, cache) = pooling.forward(y: x, final: Tensor(zeros: [2, x.shape[0], d]), lengths: lengths)
            (y, dx) = (out, dy.map { pooling.backward(cache, outputGrad: $0).dY })
            try write("weights", Tensor(shape: [x.shape[0], x.shape[1]], data: cache.attentionWeights!))
        }
        try write("out", y)
        if let dx {
            try write("dx", dx)
            for (name, p) in names { try write("grad." + name, Tensor(shape: p.shape, data: p.grad)) }
        }
    } else {
        fail("unknown attention kind \(kind)")
    }
}
