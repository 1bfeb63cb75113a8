import Testing
@testable import LSTMKit

/// The `RecurrentLayer` protocol from an initial state, as truncated BPTT calls it (a
/// chunk starts from the previous chunk's final state): for both cells, on the LSTM's
/// cases with an initial state always given.
@Suite("Recurrent layers through the protocol from an initial state")
struct RecurrentInitialStateTests {
    /// A case's layer (the case's weights), x, an initial state, and the reference's
    /// output as a function of the weights: (y, h_n).
    static func setUp(_ cell: RecurrentCell, _ c: LSTMCase)
        throws -> (any RecurrentLayer, Tensor, RecurrentState, ([String: [Double]]) -> (y: [Double], h: [Double]), [String: [Double]]) {
        var c = c
        c.initialState = true
        let lengths = c.lengths.map { $0.map(Int.init) } ?? Array(repeating: c.steps, count: c.batch)
        switch cell {
        case .lstm:
            let (lstm, ref, x, initial) = try makeLSTMCase(c)
            let (h0, c0) = (initial!.h.data.map(Double.init), initial!.c.data.map(Double.init))
            return (lstm, x, RecurrentState(initial!), { w in
                var r = ref
                r.weights = w
                let o = r.forward(x: x.data.map(Double.init), batch: c.batch, steps: c.steps, lengths: lengths, h0: h0, c0: c0)
                return (o.y, o.h)
            }, ref.weights)
        case .gru:
            let (gru, ref, x, h0) = try makeGRUCase(c)
            return (gru, x, RecurrentState(h: h0!), { w in
                var r = ref
                r.weights = w
                return r.forward(x: x.data.map(Double.init), batch: c.batch, steps: c.steps, lengths: lengths,
                                 h0: h0!.data.map(Double.init))
            }, ref.weights)
        }
    }

    @Test("forward equals the cell's own forward with h0 (and c0), and infer equals forward",
          arguments: RecurrentCell.allCases, lstmCases)
    func forwardAndInfer(_ cell: RecurrentCell, _ c: LSTMCase) throws {
        let (layer, x, initial, _, _) = try Self.setUp(cell, c)
        let lengths = c.lengths.map { $0.map(Int.init) } ?? Array(repeating: c.steps, count: c.batch)
        let out = layer.forward(sequences: x, lengths: lengths, initial: initial, training: true)
        let own: (y: Tensor, state: RecurrentState)
        if let lstm = layer as? LSTM {
            let o = lstm.forward(x, lengths: lengths, initial: LSTMState(initial), training: true)
            own = (o.y, RecurrentState(o.final))
        } else {
            let o = (layer as! GRU).forward(x, lengths: lengths, initial: initial.h, training: true)
            own = (o.y, RecurrentState(h: o.final))
        }
        #expect(out.y == own.y && out.state == own.state)
        // Within float32 rounding (1e-6 absolute below 0.1): a batch's inference may take the packed GEMM.
        let inferred = layer.infer(sequences: x, lengths: lengths, initial: initial)
        expectClose(inferred.y.data, out.y.data, tol: 1e-5, floor: 0.1, "y \(c)")
        expectClose(inferred.state.h.data, out.state.h.data, tol: 1e-5, floor: 0.1, "h \(c)")
        if let c1 = inferred.state.c, let c2 = out.state.c { expectClose(c1.data, c2.data, tol: 1e-5, floor: 0.1, "c \(c)") }
        #expect((inferred.state.c == nil) == (out.state.c == nil))
        // The initial state matters (a test that could not fail otherwise).
        #expect(layer.infer(sequences: x, lengths: lengths, initial: nil).y != out.y)
    }

    @Test("weight gradients from an initial state match finite differences of the reference",
          arguments: RecurrentCell.allCases, lstmCases)
    func gradients(_ cell: RecurrentCell, _ c: LSTMCase) throws {
        let (layer, x, initial, reference, weights) = try Self.setUp(cell, c)
        let lengths = c.lengths.map { $0.map(Int.init) } ?? Array(repeating: c.steps, count: c.batch)
        let out = layer.forward(sequences: x, lengths: lengths, initial: initial, training: true)
        // loss = <y, wy> + <h_n, wh>
        let wy = randomArray(out.y.count, seed: 21), wh = randomArray(out.final.count, seed: 22)
        _ = layer.backward(out.cache, outputGrad: Tensor(shape: out.y.shape, data: wy),
                           finalGrad: Tensor(shape: out.final.shape, data: wh))
        func loss(_ w: [String: [Double]]) -> Double {
            let o = reference(w)
            return zip(o.y, wy).reduce(0) { $0 + $1.0 * Double($1.1) } + zip(o.h, wh).reduce(0) { $0 + $1.0 * Double($1.1) }
        }
        for p in layer.parameters {
            var w = weights
            let numeric = (0..<p.count).map { i -> Double in
                let old = w[p.name]![i], step = 1e-5
                w[p.name]![i] = old + step; let up = loss(w)
                w[p.name]![i] = old - step; let down = loss(w)
                w[p.name]![i] = old
                return (up - down) / (2 * step)
            }
            expectClose(p.grad, numeric, tol: 1e-4, "\(cell) d\(p.name) \(c)")
        }
    }
}
