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

    /// Copies one image's patches into columns: row r of (C·kh·kw) rows starts at
    /// cols + r·ld and holds the Ho·Wo positions; zeros for padding.
    func im2col(_ x: UnsafePointer<Float>, channels: Int, h: Int, w: Int, ho: Int, wo: Int,
                into cols: UnsafeMutablePointer<Float>, ld: Int) {
        var row = 0
        let whole = contiguous(w: w, wo: wo)
        for c in 0..<channels {
            let plane = x + c * h * w
            for ki in 0..<kernel.h {
                for kj in 0..<kernel.w {
                    let out = cols + row * ld
                    row += 1
                    let offset = kj * dilation.w - padding.w
                    let valid = validColumns(offset: offset, width: w, outputs: wo)
                    if whole {
                        // One copy of the span the valid rows read, then zeros where a row's
                        // ends read the neighbouring row (or outside the plane).
                        let shift = ki * dilation.h - padding.h
                        let rows = validRows(tapOffset: shift, height: h, outputs: ho)
                        guard !rows.isEmpty, !valid.isEmpty else { out.update(repeating: 0, count: ho * wo); continue }
                        out.update(repeating: 0, count: rows.lowerBound * wo)
                        let count = rows.count * wo, first = (rows.lowerBound + shift) * w + offset
                        let (lo, hi) = (max(first, 0), min(first + count, h * w))
                        let dst = out + rows.lowerBound * wo
                        dst.update(repeating: 0, count: lo - first)
                        (dst + (lo - first)).update(from: plane + lo, count: hi - lo)
                        (dst + (hi - first)).update(repeating: 0, count: first + count - hi)
                        if valid.count < wo {
                            for oi in 0..<rows.count {
                                let line = dst + oi * wo
                                for oj in 0..<valid.lowerBound { line[oj] = 0 }
                                for oj in valid.upperBound..<wo { line[oj] = 0 }
                            }
                        }
                        (out + rows.upperBound * wo).update(repeating: 0, count: (ho - rows.upperBound) * wo)
                        continue
                    }
                    for oi in 0..<ho {
                        let dst = out + oi * wo
                        let i = oi * stride.h - padding.h + ki * dilation.h
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
        }
    }

    /// The adjoint of im2col: adds each column entry back to the pixel it came from.
    /// May overwrite entries of `cols` that no pixel receives (with zeros).
    func col2im(_ cols: UnsafeMutablePointer<Float>, ld: Int, channels: Int, h: Int, w: Int, ho: Int, wo: Int,
                into dx: UnsafeMutablePointer<Float>) {
        var row = 0
        let whole = contiguous(w: w, wo: wo)
        for c in 0..<channels {
            let plane = dx + c * h * w
            for ki in 0..<kernel.h {
                for kj in 0..<kernel.w {
                    let src = cols + row * ld
                    row += 1
                    let offset = kj * dilation.w - padding.w
                    let valid = validColumns(offset: offset, width: w, outputs: wo)
                    if whole {
                        // Zero the entries at each row's ends, then add the span in one piece.
                        let shift = ki * dilation.h - padding.h
                        let rows = validRows(tapOffset: shift, height: h, outputs: ho)
                        guard !rows.isEmpty, !valid.isEmpty else { continue }
                        let from = src + rows.lowerBound * wo
                        if valid.count < wo {
                            for oi in 0..<rows.count {
                                let line = from + oi * wo
                                for oj in 0..<valid.lowerBound { line[oj] = 0 }
                                for oj in valid.upperBound..<wo { line[oj] = 0 }
                            }
                        }
                        let count = rows.count * wo, first = (rows.lowerBound + shift) * w + offset
                        let (lo, hi) = (max(first, 0), min(first + count, h * w))
                        VectorMath.add(from + (lo - first), into: plane + lo, count: hi - lo)
                        continue
                    }
                    for oi in 0..<ho {
                        let i = oi * stride.h - padding.h + ki * dilation.h
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
    }
}
