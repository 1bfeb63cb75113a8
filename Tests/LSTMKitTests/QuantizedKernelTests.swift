import CKernels
import LSTMKitCore
import Testing
@testable import LSTMKitLayers

/// The int8 kernels (CKernels/q8.c) against a plain reference of the same integer
/// arithmetic written here from the unpacked values: int32 sums, then one float rescale.
@Suite("Int8 kernels (CKernels)")
struct QuantizedKernelTests {
    static let variants = ["avx512vnni", "avx2", "plain"]   // best first

    /// A product's inputs, quantized by the kernels' own functions.
    struct Case {
        let m: Int, n: Int, k: Int
        var x: [Float], w: [Float]
        var wq: [Int8], wScale: [Float], packed: [Int8], wSum: [Int32]
        var xq: [UInt8], xScale: [Float], xZero: [Int32]

        init(m: Int, n: Int, k: Int, seed: UInt64, offset: Float = 0) {
            (self.m, self.n, self.k) = (m, n, k)
            var rng = SeededRandom(seed: seed)
            x = (0..<(m * k)).map { _ in rng.normal() + offset }
            w = (0..<(n * k)).map { _ in rng.normal() * 0.1 }
            if n > 2 { for j in 0..<k { w[k + j] = 0 } }   // an all-zero row
            wq = [Int8](repeating: 0, count: n * k)
            wScale = [Float](repeating: 0, count: n)
            ck_q8_quantize_weights(w, Int64(n), Int64(k), &wq, &wScale)
            packed = [Int8](repeating: 0, count: Int(ck_q8_packed_bytes(Int64(n), Int64(k))))
            wSum = [Int32](repeating: 0, count: n)
            ck_q8_pack(wq, Int64(n), Int64(k), &packed, &wSum)
            let kp = Int(ck_q8_padded_cols(Int64(k)))
            xq = [UInt8](repeating: 0, count: m * kp)
            xScale = [Float](repeating: 0, count: m)
            xZero = [Int32](repeating: 0, count: m)
            ck_q8_quantize_inputs(x, Int64(m), Int64(k), Int64(k), &xq, &xScale, &xZero)
        }

        /// The reference: y0 + (or just) Float(Σ xq·wq − zx·Σ wq) · (sx · sw).
        func reference(y0: [Float]?) -> [Float] {
            let kp = Int(ck_q8_padded_cols(Int64(k)))
            var y = [Float](repeating: 0, count: m * n)
            for i in 0..<m {
                for j in 0..<n {
                    var acc: Int32 = 0, sum: Int32 = 0
                    for t in 0..<k {
                        acc += Int32(xq[i * kp + t]) * Int32(wq[j * k + t])
                        sum += Int32(wq[j * k + t])
                    }
                    let v = Float(acc - xZero[i] * sum) * (xScale[i] * wScale[j])
                    y[i * n + j] = y0.map { $0[i * n + j] + v } ?? v
                }
            }
            return y
        }

        /// y = the product, y0 + it, or bias (n, broadcast over the rows) + it.
        func run(_ isa: String, y0: [Float]?, bias: [Float]? = nil) -> [Float]? {
            var y = y0 ?? [Float](repeating: .nan, count: m * n)
            let ok = (bias ?? []).withUnsafeBufferPointer { B in
                ck_q8_gemm_variant(isa, xq, xScale, xZero, Int64(m), packed, wScale, wSum,
                                   Int64(n), Int64(k), &y, Int64(n), bias == nil ? nil : B.baseAddress, y0 == nil ? 0 : 1)
            }
            return ok == 1 ? y : nil
        }
    }

    static let shapes: [(Int, Int, Int)] = [
        (1, 1, 1), (1, 7, 3), (1, 8, 4), (1, 9, 5), (1, 24, 33), (1, 31, 64), (1, 33, 100), (1, 40, 256),
        (2, 17, 31), (3, 16, 32), (4, 16, 7), (5, 25, 129), (7, 1, 9), (8, 64, 128), (13, 49, 67), (37, 20, 45), (64, 96, 256),
    ]

    @Test("Every variant this CPU runs gives the reference's bits (odd shapes, M = 1, tails; =, += and bias +)",
          arguments: variants)
    func bitExact(isa: String) throws {
        for (s, (m, n, k)) in Self.shapes.enumerated() {
            let c = Case(m: m, n: n, k: k, seed: UInt64(s + 1), offset: s % 2 == 0 ? 0 : 0.7)
            guard let y = c.run(isa, y0: nil) else {
                #expect(isa != "plain", "the plain variant always runs")
                return
            }
            let ref = c.reference(y0: nil)
            #expect(y.map(\.bitPattern) == ref.map(\.bitPattern), "\(isa) \(m)x\(n)x\(k)")
            let y0 = (0..<(m * n)).map { Float($0 % 7) - 3.25 }
            let acc = try #require(c.run(isa, y0: y0))
            #expect(acc.map(\.bitPattern) == c.reference(y0: y0).map(\.bitPattern), "\(isa) += \(m)x\(n)x\(k)")
            let bias = (0..<n).map { Float($0 % 5) * 0.37 - 0.9 }
            let biased = try #require(c.run(isa, y0: nil, bias: bias))
            let filled = (0..<(m * n)).map { bias[$0 % n] }   // the bias in every row, then +=
            #expect(biased.map(\.bitPattern) == c.reference(y0: filled).map(\.bitPattern), "\(isa) bias \(m)x\(n)x\(k)")
        }
    }

    @Test("Extreme values: full-range weights and inputs (no int16 saturation)", arguments: variants)
    func extremes(isa: String) throws {
        // Rows of ±max weights against inputs at the top of the range: every vpmaddubsw
        // pair is 2 · 127 · ±127, the largest a pair gets.
        var c = Case(m: 3, n: 16, k: 64, seed: 9)
        c.wq = (0..<(16 * 64)).map { i in i % 3 == 0 ? -127 : 127 }
        ck_q8_pack(c.wq, 16, 64, &c.packed, &c.wSum)
        c.xq = [UInt8](repeating: 127, count: 3 * 64)
        c.xZero = [0, 127, 64]
        guard let y = c.run(isa, y0: nil) else { #expect(isa != "plain"); return }
        #expect(y.map(\.bitPattern) == c.reference(y0: nil).map(\.bitPattern))
    }

    @Test("The dequantized product is within the quantization bound of the float product")
    func errorBound() {
        for (s, (m, n, k)) in Self.shapes.enumerated() {
            let c = Case(m: m, n: n, k: k, seed: UInt64(100 + s), offset: 0.3)
            var y = [Float](repeating: 0, count: m * n)
            ck_q8_gemm(c.xq, c.xScale, c.xZero, Int64(m), c.packed, c.wScale, c.wSum, Int64(n), Int64(k), &y, Int64(n), nil, 0)
            for i in 0..<m {
                for j in 0..<n {
                    // |x w − x̂ ŵ| <= |x| |w − ŵ| + |ŵ| |x − x̂| <= |x| sw/2 + |ŵ| sx/2, per term.
                    var exact = 0.0, bound = 0.0
                    for t in 0..<k {
                        let (xv, wv) = (Double(c.x[i * k + t]), Double(c.w[j * k + t]))
                        exact += xv * wv
                        bound += abs(xv) * Double(c.wScale[j]) / 2 + abs(Double(c.wq[j * k + t]) * Double(c.wScale[j])) * Double(c.xScale[i]) / 2
                    }
                    let err = abs(Double(y[i * n + j]) - exact)
                    #expect(err <= bound * 1.0001 + 1e-5, "\(m)x\(n)x\(k) [\(i), \(j)]: \(err) > \(bound)")
                }
            }
        }
    }

    @Test("Quantized inputs: the range includes 0, values dequantize within half a step")
    func inputs() {
        let c = Case(m: 4, n: 1, k: 50, seed: 3, offset: 2)   // rows mostly positive
        let kp = Int(ck_q8_padded_cols(50))
        for i in 0..<4 {
            for t in 0..<50 {
                let back = c.xScale[i] * Float(Int32(c.xq[i * kp + t]) - c.xZero[i])
                #expect(abs(back - c.x[i * 50 + t]) <= c.xScale[i] * 0.5001)
            }
            #expect(c.xq[(i * kp + 50)..<((i + 1) * kp)].allSatisfy { $0 == 0 })
        }
    }

    @Test("Input quantization: every variant gives the plain variant's bytes (odd sizes, zeros, one-signed rows, strides)",
          arguments: variants)
    func inputVariants(isa: String) {
        var rng = SeededRandom(seed: 17)
        for cols in [1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 129] {
            for kind in 0..<5 {
                let rows = 1 + cols % 4, ldx = cols + kind % 2
                let x: [Float] = (0..<(rows * ldx)).map { i in
                    let v = rng.normal()
                    switch kind {
                    case 0: return v
                    case 1: return 0                          // all zeros: scale 1
                    case 2: return -abs(v) * 50               // negative only: zero point 127
                    case 3: return abs(v) + 0.5               // positive only: zero point 0
                    default: return i % 3 == 0 ? -0.0 : v * 1e4   // -0 and a wide range
                    }
                }
                func run(_ variant: String) -> ([UInt8], [Float], [Int32])? {
                    let kp = Int(ck_q8_padded_cols(Int64(cols)))
                    var q = [UInt8](repeating: 0xAA, count: rows * kp)
                    var scale = [Float](repeating: .nan, count: rows), zero = [Int32](repeating: -1, count: rows)
                    let ok = ck_q8_quantize_inputs_variant(variant, x, Int64(rows), Int64(cols), Int64(ldx), &q, &scale, &zero)
                    return ok == 1 ? (q, scale, zero) : nil
                }
                guard let got = run(isa) else { #expect(isa != "plain"); return }
                let ref = run("plain")!
                #expect(got.0 == ref.0 && got.1.map(\.bitPattern) == ref.1.map(\.bitPattern) && got.2 == ref.2,
                        "\(isa) cols \(cols) kind \(kind)")
                if kind == 2 { #expect(ref.2.allSatisfy { $0 == 127 }) }
                if kind == 1 { #expect(ref.1.allSatisfy { $0 == 1 } && ref.0.allSatisfy { $0 == 0 }) }
            }
        }
    }

    @Test("ck_q8_gemm runs the best variant this CPU has (under LSTMKIT_MAX_ISA's cap)")
    func dispatch() {
        let isa = String(cString: ck_q8_isa())
        #expect(Self.variants.contains(isa))
        let c = Case(m: 1, n: 3, k: 5, seed: 1)
        #expect(c.run(isa, y0: nil) != nil)
        if let best = Self.variants.first(where: { c.run($0, y0: nil) != nil && ck_isa_allows($0) == 1 }) { #expect(best == isa) }
    }
}
