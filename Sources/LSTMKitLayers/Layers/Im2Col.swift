import LSTMKitCore

/// The patch geometry of a convolution and its column copies: im2col lays every
/// kernel tap's view of the image out as a row, col2im adds such rows back.
struct Im2Col {
    let kernel: (h: Int, w: Int)
    let stride: (h: Int, w: Int)
    /// May be negative (the flipped-kernel gradient of a convolution with large padding).
    let padding: (h: Int, w: Int)
    let dilation: (h: Int, w: Int)

    /// The output columns oj whose input column oj·stride + offset lies in [0, width):
    /// computed once per kernel column, so the copy loops need no bounds tests.
    @inline(__always)
    func validColumns(offset: Int, width: Int, outputs: Int) -> Range<Int> {
        func ceilDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? (a + b - 1) / b : -((-a) / b) }
        let lo = max(0, ceilDiv(-offset, stride.w))
        let hi = min(outputs, ceilDiv(width - offset, stride.w))
        return lo..<max(lo, hi)
    }

    /// The output rows oi whose input row oi·stride - padding + tap lies in [0, height),
    /// for stride 1 (the contiguous case).
    @inline(__always)
    private func validRows(tapOffset shift: Int, height: Int, outputs: Int) -> Range<Int> {
        let lo = max(0, -shift), hi = min(outputs, height - shift)
        return lo..<max(lo, hi)
    }

    /// Stride 1 and output rows as wide as input rows: the valid rows of a tap's view are
    /// one contiguous span of the image, copied (or added) in one piece.
    @inline(__always)
    private func contiguous(w: Int, wo: Int) -> Bool { stride == (1, 1) && wo == w }

    /// Calls `body` for each kernel tap of each channel, in the order of the column rows:
    /// the tap's row, its channel plane's offset (c·h·w), its row and column offsets
    /// (ki·dilation - padding, likewise kj) and the output columns that read inside the
    /// image.
    @inline(__always)
    private func forEachTap(channels: Int, h: Int, w: Int, wo: Int,
                            _ body: (_ row: Int, _ plane: Int, _ shift: Int, _ offset: Int, _ valid: Range<Int>) -> Void) {
        var row = 0
        for c in 0..<channels {
            for ki in 0..<kernel.h {
                for kj in 0..<kernel.w {
                    let offset = kj * dilation.w - padding.w
                    body(row, c * h * w, ki * dilation.h - padding.h, offset, validColumns(offset: offset, width: w, outputs: wo))
                    row += 1
                }
            }
        }
    }

    /// Zeros the entries outside the columns `valid` of `rows` rows of `wo` from `start`.
    @inline(__always)
    private func zeroOutside(_ valid: Range<Int>, rows: Int, wo: Int, from start: UnsafeMutablePointer<Float>) {
        guard valid.count < wo else { return }
        for oi in 0..<rows {
            let line = start + oi * wo
            for oj in 0..<valid.lowerBound { line[oj] = 0 }
            for oj in valid.upperBound..<wo { line[oj] = 0 }
        }
    }

    /// Copies one image's patches into columns: row r of (C·kh·kw) rows starts at
    /// cols + r·ld and holds the Ho·Wo positions; zeros for padding.
    func im2col(_ x: UnsafePointer<Float>, channels: Int, h: Int, w: Int, ho: Int, wo: Int,
                into cols: UnsafeMutablePointer<Float>, ld: Int) {
        let whole = contiguous(w: w, wo: wo)
        forEachTap(channels: channels, h: h, w: w, wo: wo) { row, planeOffset, shift, offset, valid in
            let out = cols + row * ld, plane = x + planeOffset
            if whole {
                // One copy of the span the valid rows read, then zeros where a row's
                // ends read the neighbouring row (or outside the plane).
                let rows = validRows(tapOffset: shift, height: h, outputs: ho)
                guard !rows.isEmpty, !valid.isEmpty else { out.update(repeating: 0, count: ho * wo); return }
                out.update(repeating: 0, count: rows.lowerBound * wo)
                let count = rows.count * wo, first = (rows.lowerBound + shift) * w + offset
                let (lo, hi) = (max(first, 0), min(first + count, h * w))
                let dst = out + rows.lowerBound * wo
                dst.update(repeating: 0, count: lo - first)
                (dst + (lo - first)).update(from: plane + lo, count: hi - lo)
                (dst + (hi - first)).update(repeating: 0, count: first + count - hi)
                zeroOutside(valid, rows: rows.count, wo: wo, from: dst)
                (out + rows.upperBound * wo).update(repeating: 0, count: (ho - rows.upperBound) * wo)
                return
            }
            for oi in 0..<ho {
                let dst = out + oi * wo
                let i = oi * stride.h + shift
                guard i >= 0 && i < h, !valid.isEmpty else {
                    dst.update(repeating: 0, count: wo)
                    continue
                }
                let line = plane + i * w + offset
                dst.update(repeating: 0, count: valid.lowerBound)
                if stride.w == 1 {
                    (dst + valid.lowerBound).update(from: line + valid.lowerBound, count: valid.count)
                } else {
                    for oj in valid { dst[oj] = line[oj * stride.w] }
                }
                (dst + valid.upperBound).update(repeating: 0, count: wo - valid.upperBound)
            }
        }
    }

    /// The adjoint of im2col: adds each column entry back to the pixel it came from.
    /// May overwrite entries of `cols` that no pixel receives (with zeros).
    func col2im(_ cols: UnsafeMutablePointer<Float>, ld: Int, channels: Int, h: Int, w: Int, ho: Int, wo: Int,
                into dx: UnsafeMutablePointer<Float>) {
        let whole = contiguous(w: w, wo: wo)
        forEachTap(channels: channels, h: h, w: w, wo: wo) { row, planeOffset, shift, offset, valid in
            let src = cols + row * ld, plane = dx + planeOffset
            if whole {
                // Zero the entries at each row's ends, then add the span in one piece.
                let rows = validRows(tapOffset: shift, height: h, outputs: ho)
                guard !rows.isEmpty, !valid.isEmpty else { return }
                let from = src + rows.lowerBound * wo
                zeroOutside(valid, rows: rows.count, wo: wo, from: from)
                let count = rows.count * wo, first = (rows.lowerBound + shift) * w + offset
                let (lo, hi) = (max(first, 0), min(first + count, h * w))
                VectorMath.add(from + (lo - first), into: plane + lo, count: hi - lo)
                return
            }
            for oi in 0..<ho {
                let i = oi * stride.h + shift
                guard i >= 0 && i < h, !valid.isEmpty else { continue }
                let line = plane + i * w + offset, from = src + oi * wo
                if stride.w == 1 {
                    VectorMath.add(from + valid.lowerBound, into: line + valid.lowerBound, count: valid.count)
                } else {
                    for oj in valid { line[oj * stride.w] += from[oj] }
                }
            }
        }
    }
}
