/// A deliberately plain LSTM written from the equations, in Double, one scalar at a
/// time: no BLAS, no shared code with the engine. The tests compare the engine's
/// forward pass against it, and the engine's gradients against centred finite
/// differences of it (in Double, so the differences are accurate to ~1e-9).
struct ReferenceLSTM {
    let inputSize: Int, hiddenSize: Int, numLayers: Int, directions: Int
    /// weights[name] in PyTorch layout, as Double.
    var weights: [String: [Double]]

    func sigmoid(_ x: Double) -> Double { 1 / (1 + _exp(-x)) }

    /// x (B, T, D) flattened; returns y (B, T, K*H), h_n and c_n (L*K, B, H).
    func forward(x: [Double], batch: Int, steps: Int, lengths: [Int],
                 h0: [Double]?, c0: [Double]?) -> (y: [Double], h: [Double], c: [Double]) {
        let hs = hiddenSize, k = directions
        var input = x
        var inSize = inputSize
        var hN = [Double](repeating: 0, count: numLayers * k * batch * hs)
        var cN = hN
        var y = [Double]()
        for layer in 0..<numLayers {
            y = [Double](repeating: 0, count: batch * steps * k * hs)
            for d in 0..<k {
                let suffix = "_l\(layer)" + (d == 1 ? "_reverse" : "")
                let wih = weights["weight_ih" + suffix]!, whh = weights["weight_hh" + suffix]!
                let bih = weights["bias_ih" + suffix]!, bhh = weights["bias_hh" + suffix]!
                let stateBase = (layer * k + d) * batch * hs
                for b in 0..<batch {
                    var h = (0..<hs).map { h0?[stateBase + b * hs + $0] ?? 0 }
                    var c = (0..<hs).map { c0?[stateBase + b * hs + $0] ?? 0 }
                    let order = d == 0 ? Array(0..<lengths[b]) : Array((0..<lengths[b]).reversed())
                    for t in order {
                        var pre = [Double](repeating: 0, count: 4 * hs)
                        for r in 0..<(4 * hs) {
                            var s = bih[r] + bhh[r]
                            for j in 0..<inSize { s += wih[r * inSize + j] * input[(b * steps + t) * inSize + j] }
                            for j in 0..<hs { s += whh[r * hs + j] * h[j] }
                            pre[r] = s
                        }
                        for j in 0..<hs {
                            let i = sigmoid(pre[j]), f = sigmoid(pre[hs + j])
                            let g = _tanh(pre[2 * hs + j]), o = sigmoid(pre[3 * hs + j])
                            c[j] = f * c[j] + i * g
                            h[j] = o * _tanh(c[j])
                            y[(b * steps + t) * k * hs + d * hs + j] = h[j]
                        }
                    }
                    for j in 0..<hs {
                        hN[stateBase + b * hs + j] = h[j]
                        cN[stateBase + b * hs + j] = c[j]
                    }
                }
            }
            input = y
            inSize = k * hs
        }
        return (y, hN, cN)
    }
}

#if canImport(Glibc)
import Glibc
func _exp(_ x: Double) -> Double { Glibc.exp(x) }
func _tanh(_ x: Double) -> Double { Glibc.tanh(x) }
#endif
