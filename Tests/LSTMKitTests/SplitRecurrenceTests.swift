import Dispatch
import Testing
@testable import LSTMKit
import CKernels

/// The batch-of-one recurrence on two cores (CKernels/split_recurrence.c) must give
/// exactly what the one-core recurrence gives: it only moves work between cores.
@Suite("Batch-of-one recurrence split over two cores")
struct SplitRecurrenceTests {
    /// The one-core recurrence over the whole packed W_hh: y (steps, H), final h and c.
    static func reference(weight: [Float], hidden: Int, gates: [Float], steps: Int,
                          h0: [Float], c0: [Float]) -> (y: [Float], h: [Float], c: [Float]) {
        let g4 = 4 * hidden
        var packed = [Float](repeating: 0, count: Int(ck_gemv_packed_count(Int64(g4), Int64(hidden))))
        ck_gemv_pack(weight, Int64(g4), Int64(hidden), &packed)
        var h = h0, c = c0, y = [Float](repeating: 0, count: steps * hidden)
        var hNew = h0, cNew = c0
        for s in 0..<steps {
            var g = Array(gates[(s * g4)..<((s + 1) * g4)])
            ck_gemv_packed_accumulate(packed, Int64(g4), Int64(hidden), h, &g)
            ck_lstm_cell_forward(&g, Int64(hidden), c, &cNew, &hNew, nil)
            y.replaceSubrange((s * hidden)..<((s + 1) * hidden), with: hNew)
            (h, c) = (hNew, cNew)
        }
        return (y, h, c)
    }

    /// The split recurrence, writing step s to row s (or to row steps-1-s with a negative stride).
    static func split(weight: [Float], hidden: Int, gates: [Float], steps: Int, h0: [Float], c0: [Float],
                      threads: Int32, reversedRows: Bool = false) -> (y: [Float], h: [Float], c: [Float]) {
        let first = Int(ck_lstm_split_first(Int64(hidden)))
        var p0 = [Float](repeating: 0, count: Int(ck_gemv_packed_count(Int64(4 * first), Int64(hidden))))
        var p1 = [Float](repeating: 0, count: Int(ck_gemv_packed_count(Int64(4 * (hidden - first)), Int64(hidden))))
        #expect(ck_lstm_split_pack(weight, Int64(hidden), &p0, &p1) == 1)
        var h = h0, c = c0, y = [Float](repeating: 0, count: steps * hidden)
        y.withUnsafeMutableBufferPointer { Y in
            let start = Y.baseAddress! + (reversedRows ? (steps - 1) * hidden : 0)
            #expect(ck_lstm_split_steps(p0, p1, Int64(hidden), gates, Int64(steps), &h, &c, start,
                                        Int64(reversedRows ? -hidden : hidden), threads) == 1)
        }
        return (y, h, c)
    }

    @Test("bit-identical to the whole W_hh on one core, for one thread, two, odd sizes and a negative stride",
          arguments: [(64, 16), (80, 37), (100, 1), (256, 50)])
    func matchesOneCore(hidden: Int, steps: Int) {
        let weight = randomArray(4 * hidden * hidden, seed: 1, scale: 0.3)
        let gates = randomArray(steps * 4 * hidden, seed: 2)
        let h0 = randomArray(hidden, seed: 3, scale: 0.5), c0 = randomArray(hidden, seed: 4, scale: 0.5)
        let expected = Self.reference(weight: weight, hidden: hidden, gates: gates, steps: steps, h0: h0, c0: c0)
        for threads: Int32 in [1, 2] {
            let got = Self.split(weight: weight, hidden: hidden, gates: gates, steps: steps, h0: h0, c0: c0, threads: threads)
            #expect(got.y == expected.y, "y, H \(hidden), \(threads) threads")
            #expect(got.h == expected.h && got.c == expected.c, "final state, H \(hidden), \(threads) threads")
        }
        let reversed = Self.split(weight: weight, hidden: hidden, gates: gates, steps: steps, h0: h0, c0: c0,
                                  threads: 2, reversedRows: true)
        for s in 0..<steps {
            #expect(Array(reversed.y[((steps - 1 - s) * hidden)..<((steps - s) * hidden)])
                    == Array(expected.y[(s * hidden)..<((s + 1) * hidden)]))
        }
    }

    @Test("callers at the same time: one gets the helper thread, the others run alone, all exact")
    func concurrentCallers() {
        let (hidden, steps) = (96, 40)
        let weight = randomArray(4 * hidden * hidden, seed: 5, scale: 0.3)
        let gates = randomArray(steps * 4 * hidden, seed: 6)
        let h0 = [Float](repeating: 0, count: hidden), c0 = h0
        let expected = Self.reference(weight: weight, hidden: hidden, gates: gates, steps: steps, h0: h0, c0: c0)
        let failures = ManagedCounter()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<5 {
                let got = Self.split(weight: weight, hidden: hidden, gates: gates, steps: steps, h0: h0, c0: c0, threads: 2)
                if got.y != expected.y || got.h != expected.h || got.c != expected.c { failures.increment() }
            }
        }
        #expect(failures.value == 0)
    }

    @Test("LSTM inference on a batch of one (split when BLAS may use two threads) equals the forward pass")
    func lstmInference() throws {
        let lstm = try LSTM(LSTMConfig(inputSize: 5, hiddenSize: 64, bidirectional: true, seed: 9))
        // 600 steps: two chunks of the input projection; the sequence ends inside the second.
        let x = randomTensor([1, 600, 5], seed: 10)
        let initial = LSTMState(h: randomTensor([2, 1, 64], seed: 11, scale: 0.5), c: randomTensor([2, 1, 64], seed: 12, scale: 0.5))
        for lengths: [Int32]? in [nil, [590], [20]] {
            let full = try lstm.run(x, lengths: lengths, initial: initial)
            let fast = try lstm.runInference(x, lengths: lengths, initial: initial)
            #expect(fast.y == full.y, "y, lengths \(String(describing: lengths))")
            #expect(fast.final == full.final, "final state, lengths \(String(describing: lengths))")
        }
    }

    @Test("the packed W_hh kept between calls follows the weights: changed in place or assigned")
    func packedWeightsFollowChanges() throws {
        let config = LSTMConfig(inputSize: 5, hiddenSize: 64, seed: 13)
        let lstm = try LSTM(config)
        let x = randomTensor([1, 24, 5], seed: 14)
        let before = try lstm.runInference(x)
        let version = lstm.weightHH[0].version
        lstm.weightHH[0].value.withUnsafeMutableBufferPointer { w in
            for i in stride(from: 0, to: w.count, by: 7) { w[i] += 0.25 }
        }
        #expect(lstm.weightHH[0].version != version)
        let changed = try lstm.runInference(x)
        #expect(changed.y != before.y)
        let fresh = try LSTM(config)
        for (a, b) in zip(fresh.parameters, lstm.parameters) { try a.assign(b.value) }
        #expect(try fresh.runInference(x).y == changed.y)
        try lstm.weightHH[0].assign(fresh.weightHH[0].value.map { $0 * 0.5 })
        let fresh2 = try LSTM(config)
        for (a, b) in zip(fresh2.parameters, lstm.parameters) { try a.assign(b.value) }
        #expect(try lstm.runInference(x).y == fresh2.runInference(x).y)
        // The training pass reads the same packing.
        #expect(try lstm.run(x).y == lstm.runInference(x).y)
    }
}

/// The int8 form of the split (dynamic quantization): the bits of the one-core int8
/// recurrence (h quantized per step, ck_q8_gemm on the whole packed W_hh, the cell).
@Suite("Int8 batch-of-one recurrence split over two cores")
struct QuantizedSplitRecurrenceTests {
    static func quantize(_ weight: [Float], hidden: Int) -> (q: [Int8], scales: [Float]) {
        var q = [Int8](repeating: 0, count: weight.count), scales = [Float](repeating: 0, count: 4 * hidden)
        ck_q8_quantize_weights(weight, Int64(4 * hidden), Int64(hidden), &q, &scales)
        return (q, scales)
    }

    static func reference(q: [Int8], scales: [Float], hidden: Int, gates: [Float], steps: Int,
                          h0: [Float], c0: [Float]) -> (y: [Float], h: [Float], c: [Float]) {
        let (g4, H) = (4 * hidden, Int64(hidden))
        var packed = [Int8](repeating: 0, count: Int(ck_q8_packed_bytes(Int64(g4), H)))
        var sums = [Int32](repeating: 0, count: g4)
        ck_q8_pack(q, Int64(g4), H, &packed, &sums)
        var hq = [UInt8](repeating: 0, count: Int(ck_q8_padded_cols(H)))
        var (hScale, hZero): (Float, Int32) = (0, 0)
        var h = h0, c = c0, y = [Float](repeating: 0, count: steps * hidden)
        for s in 0..<steps {
            var g = Array(gates[(s * g4)..<((s + 1) * g4)])
            ck_q8_quantize_inputs(h, 1, H, H, &hq, &hScale, &hZero)
            ck_q8_gemm(hq, &hScale, &hZero, 1, packed, scales, sums, Int64(g4), H, &g, Int64(g4), nil, 1)
            var out = [Float](repeating: 0, count: hidden)
            ck_lstm_cell_infer(g, H, &c, &h, &out)
            y.replaceSubrange((s * hidden)..<((s + 1) * hidden), with: out)
        }
        return (y, h, c)
    }

    static func split(q: [Int8], scales: [Float], hidden: Int, gates: [Float], steps: Int, h0: [Float], c0: [Float],
                      threads: Int32, reversedRows: Bool) -> (y: [Float], h: [Float], c: [Float]) {
        let H = Int64(hidden), first = ck_lstm_split_first(H)
        let storage = [first, H - first].map { units in
            ([Int8](repeating: 0, count: Int(ck_q8_packed_bytes(4 * units, H))),
             [Int32](repeating: 0, count: Int(4 * units)), [Float](repeating: 0, count: Int(4 * units)))
        }
        var (p0, s0, c0s) = storage[0], (p1, s1, c1s) = storage[1]
        var h = h0, c = c0, y = [Float](repeating: 0, count: steps * hidden)
        p0.withUnsafeMutableBufferPointer { P0 in s0.withUnsafeMutableBufferPointer { S0 in c0s.withUnsafeMutableBufferPointer { C0 in
        p1.withUnsafeMutableBufferPointer { P1 in s1.withUnsafeMutableBufferPointer { S1 in c1s.withUnsafeMutableBufferPointer { C1 in
            let parts = [ck_q8_split_part(packed: P0.baseAddress!, sums: S0.baseAddress!, scales: C0.baseAddress!),
                         ck_q8_split_part(packed: P1.baseAddress!, sums: S1.baseAddress!, scales: C1.baseAddress!)]
            #expect(ck_q8_lstm_split_pack(q, scales, H, parts) == 1)
            y.withUnsafeMutableBufferPointer { Y in
                let start = Y.baseAddress! + (reversedRows ? (steps - 1) * hidden : 0)
                #expect(ck_q8_lstm_split_steps(parts, H, gates, Int64(steps), &h, &c, start,
                                               Int64(reversedRows ? -hidden : hidden), threads) == 1)
            }
        } } } } } }
        return (y, h, c)
    }

    @Test("bit-identical to the int8 recurrence on one core, one thread or two, odd sizes, a negative stride",
          arguments: [(64, 16), (80, 37), (100, 1), (256, 50)])
    func matchesOneCore(hidden: Int, steps: Int) {
        let (q, scales) = Self.quantize(randomArray(4 * hidden * hidden, seed: 1, scale: 0.3), hidden: hidden)
        let gates = randomArray(steps * 4 * hidden, seed: 2)
        let h0 = randomArray(hidden, seed: 3, scale: 0.5), c0 = randomArray(hidden, seed: 4, scale: 0.5)
        let expected = Self.reference(q: q, scales: scales, hidden: hidden, gates: gates, steps: steps, h0: h0, c0: c0)
        for threads: Int32 in [1, 2] {
            for reversed in [false, true] {
                let got = Self.split(q: q, scales: scales, hidden: hidden, gates: gates, steps: steps, h0: h0, c0: c0,
                                     threads: threads, reversedRows: reversed)
                let y = reversed ? (0..<steps).reversed().flatMap { got.y[($0 * hidden)..<(($0 + 1) * hidden)] } : got.y
                #expect(y == expected.y, "y, H \(hidden), \(threads) threads, reversed \(reversed)")
                #expect(got.h == expected.h && got.c == expected.c, "final state, H \(hidden), \(threads) threads")
            }
        }
    }

    @Test("an int8 LSTM's batch of one (split when BLAS may use two threads) gives its row of a batch of two")
    func quantizedLSTMBatchOfOne() throws {
        let lstm = try LSTM(LSTMConfig(inputSize: 7, hiddenSize: 96, bidirectional: true, seed: 21))
        try lstm.quantize()
        let (steps, lengths) = (600, [590, 600])   // two chunks of the input projection
        let both = randomTensor([2, steps, 7], seed: 22)
        let pair = lstm.infer(both, lengths: lengths)
        let one = lstm.infer(Tensor(shape: [1, steps, 7], data: Array(both.data[..<(steps * 7)])), lengths: [590])
        #expect(one.y.data == Array(pair.y.data[..<(steps * 192)]))
        for d in 0..<2 {
            #expect(Array(one.final.h.data[(d * 96)..<((d + 1) * 96)]) == Array(pair.final.h.data[(d * 192)..<(d * 192 + 96)]))
            #expect(Array(one.final.c.data[(d * 96)..<((d + 1) * 96)]) == Array(pair.final.c.data[(d * 192)..<(d * 192 + 96)]))
        }
    }
}

/// A counter many threads may increment.
final class ManagedCounter: @unchecked Sendable {
    private let queue = DispatchQueue(label: "counter")
    private var count = 0
    func increment() { queue.sync { count += 1 } }
    var value: Int { queue.sync { count } }
}
