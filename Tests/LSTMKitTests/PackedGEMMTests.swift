import CKernels
import LSTMKitCore
import Testing
@testable import LSTMKitLayers

/// The packed GEMM (CKernels/packed_gemm.c) against a plain double reference, and the
/// recurrent layers' inference on it against their forward pass.
@Suite("Packed GEMM (CKernels) and the recurrent layers on it")
struct PackedGEMMTests {
    static let variants = ["avx512", "avx2_fma", "plain"]

    /// C's window (m, n) inside a (m + 2, ldc) array at row 1, column 2, with sentinels
    /// around it; A (m, k) inside rows of lda; B (n, k) inside rows of ldb.
    struct Case: CustomStringConvertible {
        let m: Int, n: Int, k: Int
        var description: String { "M\(m) N\(n) K\(k)" }

        var lda: Int { k + 3 }
        var ldb: Int { k + 5 }
        var ldc: Int { n + 7 }
        var a: [Float] { randomArray(m * lda, seed: UInt64(1 + m + 7 * n + 31 * k)) }
        var b: [Float] { randomArray(n * ldb, seed: UInt64(2 + m + 7 * n + 31 * k)) }
        var c0: [Float] { randomArray((m + 2) * ldc, seed: 3) }

        var packed: [Float] {
            var p = [Float](repeating: .nan, count: Int(ck_sgemm_packed_count(Int64(n), Int64(k))))
            ck_sgemm_pack(b, Int64(n), Int64(k), Int64(ldb), &p)
            return p
        }

        /// C after the product by `isa` (or the dispatched kernel for nil), or nil if
        /// this CPU lacks the variant.
        func run(_ isa: String?, accumulate: Bool) -> [Float]? {
            var c = c0
            let (a, packed) = (a, packed)
            let ok = c.withUnsafeMutableBufferPointer { C in
                let window = C.baseAddress! + ldc + 2
                guard let isa else {
                    ck_sgemm_packed(Int64(m), Int64(n), Int64(k), a, Int64(lda), packed, window, Int64(ldc),
                                    accumulate ? 1 : 0)
                    return Int32(1)
                }
                return ck_sgemm_packed_variant(isa, Int64(m), Int64(n), Int64(k), a, Int64(lda), packed, window,
                                               Int64(ldc), accumulate ? 1 : 0)
            }
            return ok == 1 ? c : nil
        }

        /// Checks c against the double reference: each element within 1e-6 of the sum of
        /// the magnitudes it adds (float32 rounding of K terms); everything outside the
        /// window untouched.
        func check(_ c: [Float], accumulate: Bool, _ what: String) {
            let (a, b, c0) = (a, b, c0)
            var worst = 0.0
            for row in 0..<(m + 2) {
                for col in 0..<ldc {
                    let at = row * ldc + col
                    let (i, j) = (row - 1, col - 2)
                    guard (0..<m).contains(i), (0..<n).contains(j) else {
                        #expect(c[at] == c0[at], "\(what): C[\(row), \(col)] outside the window changed")
                        continue
                    }
                    var sum = accumulate ? Double(c0[at]) : 0, scale = abs(sum)
                    for t in 0..<k {
                        let p = Double(a[i * lda + t]) * Double(b[j * ldb + t])
                        sum += p
                        scale += abs(p)
                    }
                    worst = max(worst, abs(Double(c[at]) - sum) / max(scale, 1e-30))
                }
            }
            #expect(worst < 1e-6, "\(what): relative error \(worst)")
        }
    }

    /// Tails of every loop (rows past multiples of 6 and of the 96-row blocks, columns
    /// past 16, K past the 256-column blocks), single rows and columns, and the C2 step's
    /// shape.
    static let cases = [
        Case(m: 1, n: 1, k: 1), Case(m: 5, n: 17, k: 3), Case(m: 7, n: 53, k: 37), Case(m: 6, n: 16, k: 256),
        Case(m: 13, n: 33, k: 300), Case(m: 12, n: 76, k: 19), Case(m: 64, n: 1024, k: 256), Case(m: 200, n: 35, k: 41),
    ]

    @Test("every variant against the double reference: C = A·Bᵀ and C += A·Bᵀ, strides, tails", arguments: cases)
    func variantsMatchReference(_ c: Case) {
        var ran = 0
        for isa in Self.variants {
            for accumulate in [false, true] {
                guard let out = c.run(isa, accumulate: accumulate) else { continue }
                c.check(out, accumulate: accumulate, "\(isa) \(c) accumulate \(accumulate)")
                ran += 1
            }
        }
        #expect(ran >= 2, "the plain variant always runs")
        // The dispatched kernel is the variant it names.
        #expect(c.run(nil, accumulate: true) == c.run(String(cString: ck_sgemm_packed_isa()), accumulate: true))
    }

    @Test("K = 0: C = 0, or C unchanged when accumulating; M = 0 or N = 0 writes nothing")
    func emptyProducts() {
        for isa in Self.variants {
            var c: [Float] = [1, 2, 3, 4]
            guard ck_sgemm_packed_variant(isa, 2, 2, 0, [], 1, [], &c, 2, 1) == 1 else { continue }
            #expect(c == [1, 2, 3, 4])
            _ = ck_sgemm_packed_variant(isa, 0, 2, 3, [], 3, [Float](repeating: 1, count: 48), &c, 2, 0)
            _ = ck_sgemm_packed_variant(isa, 2, 0, 3, [Float](repeating: 1, count: 6), 3, [], &c, 2, 0)
            #expect(c == [1, 2, 3, 4])
            _ = ck_sgemm_packed_variant(isa, 2, 2, 0, [], 1, [], &c, 2, 0)
            #expect(c == [0, 0, 0, 0])
        }
    }

    /// Runs `body` on a `parallelForEach` worker: one thread per product there, so a batch
    /// takes the packed GEMM on a CPU that prefers it, whatever BLAS thread count other
    /// tests set meanwhile.
    static func onWorker<T>(_ body: () -> T) -> T {
        let slots = ResultSlots<[T]>(count: 2)
        parallelForEach(2, threads: 2) { i in if i == 0 { slots.set(0, [body()]) } }
        return slots.values[0][0]
    }

    /// Odd sizes: 7 rows (a 6-row tile and a 1-row one), 4H = 76 and 3H = 57 columns (a
    /// partial 16-column panel), sorted lengths (the running rows shrink) and unsorted ones.
    static let layerCases: [(lengths: [Int], initial: Bool)] = [([9, 9, 8, 6, 6, 3, 1], true), ([4, 9, 1, 9, 7, 2, 5], false)]

    @Test("LSTM and GRU inference on the packed GEMM equals their forward pass within float32 rounding",
          arguments: RecurrentCell.allCases)
    func layersMatchForward(_ cell: RecurrentCell) throws {
        let config = RecurrentConfig(inputSize: 5, hiddenSize: 19, numLayers: 2, bidirectional: true, seed: 3)
        let layer = try cell.make(config)
        for (i, p) in layer.parameters.enumerated() { try p.assign(randomArray(p.count, seed: 40 + UInt64(i), scale: 0.6)) }
        let stack = try #require(layer as? RecurrentStack)
        for (lengths, withInitial) in Self.layerCases {
            let x = randomTensor([7, 9, 5], seed: 5)
            let shape = [4, 7, 19]
            let initial = withInitial
                ? RecurrentState(h: randomTensor(shape, seed: 6, scale: 0.5), c: cell == .lstm ? randomTensor(shape, seed: 7, scale: 0.5) : nil)
                : nil
            let full = layer.forward(sequences: x, lengths: lengths, initial: initial, training: false)
            let (fast, taken) = Self.onWorker {
                (layer.infer(sequences: x, lengths: lengths, initial: initial),
                 PackedRecurrentProduct(stack, index: 0, batch: 7) != nil)
            }
            #expect(taken == (ck_sgemm_packed_preferred() != 0), "\(cell): the packed GEMM is taken where preferred")
            // Two float32 sums: 1e-6 absolute below 0.1 (the GRU's h' = n + z (h - n) cancels).
            expectClose(fast.y.data, full.y.data, tol: 1e-5, floor: 0.1, "\(cell) y \(lengths)")
            expectClose(fast.state.h.data, full.state.h.data, tol: 1e-5, floor: 0.1, "\(cell) h \(lengths)")
            if cell == .lstm { expectClose(fast.state.c!.data, full.state.c!.data, tol: 1e-5, floor: 0.1, "c \(lengths)") }
            // Padded steps stay exactly zero.
            for b in 0..<7 { for t in lengths[b]..<9 { for j in 0..<38 { #expect(fast.y.data[(b * 9 + t) * 38 + j] == 0) } } }
        }
        // A batch of one keeps its matrix-vector kernels.
        #expect(Self.onWorker { PackedRecurrentProduct(stack, index: 0, batch: 1) } == nil)
    }
}
