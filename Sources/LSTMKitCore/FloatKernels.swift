/// Loops over raw float memory for the image layers: written so the compiler vectorises
/// them (no bounds checks, independent accumulators for sums). They sit beside
/// VectorMath, whose `add` (y += x) the image layers share; the output arrays
/// (`array`, `zeros`) are in ScratchMemory.swift with the recycler they come from.
package enum FloatKernels {
    /// Σ p[0..<n] with 32 partial sums.
    @inline(__always)
    package static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        let raw = UnsafeRawPointer(p)
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var i = 0
        while i + 32 <= n {
            a0 += raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            a1 += raw.loadUnaligned(fromByteOffset: 4 * (i + 8), as: SIMD8<Float>.self)
            a2 += raw.loadUnaligned(fromByteOffset: 4 * (i + 16), as: SIMD8<Float>.self)
            a3 += raw.loadUnaligned(fromByteOffset: 4 * (i + 24), as: SIMD8<Float>.self)
            i += 32
        }
        var total = ((a0 + a1) + (a2 + a3)).sum()
        while i < n { total += p[i]; i += 1 }
        return total
    }

    /// Σ a[i] · (b[i] - shift) with 16 partial sums.
    @inline(__always)
    package static func dotShifted(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, shift: Float, _ n: Int) -> Float {
        let (ra, rb) = (UnsafeRawPointer(a), UnsafeRawPointer(b))
        let s = SIMD8<Float>(repeating: shift)
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
        var i = 0
        while i + 16 <= n {
            a0 += ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
                * (rb.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) - s)
            a1 += ra.loadUnaligned(fromByteOffset: 4 * (i + 8), as: SIMD8<Float>.self)
                * (rb.loadUnaligned(fromByteOffset: 4 * (i + 8), as: SIMD8<Float>.self) - s)
            i += 16
        }
        var total = (a0 + a1).sum()
        while i < n { total += a[i] * (b[i] - shift); i += 1 }
        return total
    }

    /// Σ (a[i] - shift)² with 16 partial sums.
    @inline(__always)
    package static func squaredDeviation(_ a: UnsafePointer<Float>, shift: Float, _ n: Int) -> Float {
        let ra = UnsafeRawPointer(a)
        let s = SIMD8<Float>(repeating: shift)
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
        var i = 0
        while i + 16 <= n {
            let d0 = ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) - s
            let d1 = ra.loadUnaligned(fromByteOffset: 4 * (i + 8), as: SIMD8<Float>.self) - s
            a0 += d0 * d0
            a1 += d1 * d1
            i += 16
        }
        var total = (a0 + a1).sum()
        while i < n { let d = a[i] - shift; total += d * d; i += 1 }
        return total
    }

    // The elementwise loops below are plain loops in functions of their own (never
    // inlined): the compiler then vectorises them, checking once that the pointers do not
    // overlap. (Swift's generic SIMD `pointwiseMax` is not inlined: a call per vector.)

    /// y[i] = (x[i] - shift) · scale + offset, or its max with 0 when `relu`.
    @inline(never)
    package static func affine(_ x: UnsafePointer<Float>, shift: Float, scale: Float, offset: Float, relu: Bool,
                       into y: UnsafeMutablePointer<Float>, _ n: Int) {
        if relu {
            for i in 0..<n { let v = (x[i] - shift) * scale + offset; y[i] = v < 0 ? 0 : v }
        } else {
            for i in 0..<n { y[i] = (x[i] - shift) * scale + offset }
        }
    }

    /// g[i] = a · g[i] - b · (x[i] - shift) - c (BatchNorm's input gradient).
    @inline(never)
    package static func scaleAndShift(_ g: UnsafeMutablePointer<Float>, a: Float, minus b: Float, times x: UnsafePointer<Float>,
                              shift: Float, minus c: Float, _ n: Int) {
        for i in 0..<n { g[i] = a * g[i] - b * (x[i] - shift) - c }
    }

    /// g[i] = d[i] where y[i] > 0, else 0 (a ReLU's backward; y may be its input or output).
    @inline(never)
    package static func maskPositive(_ y: UnsafePointer<Float>, _ d: UnsafePointer<Float>, into g: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { let v = d[i]; g[i] = y[i] > 0 ? v : 0 }
    }

    /// y[i] = max(x[i], 0) (NaN stays NaN); y may equal x.
    @inline(never)
    package static func relu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { let v = x[i]; y[i] = v < 0 ? 0 : v }
    }

    /// Calls `body` with the base addresses of `tensors`' storage (none may be empty).
    package static func withPointers<R>(_ tensors: [Tensor], _ body: ([UnsafePointer<Float>]) throws -> R) rethrows -> R {
        func nest(_ i: Int, _ pointers: [UnsafePointer<Float>]) throws -> R {
            guard i < tensors.count else { return try body(pointers) }
            return try tensors[i].data.withUnsafeBufferPointer { try nest(i + 1, pointers + [$0.baseAddress!]) }
        }
        return try nest(0, [])
    }
}

/// A float array in a class, so several can be written through pointers at once
/// (`withPointers`) without overlapping accesses to one variable.
package final class FloatArrayBox {
    package var data: [Float]
    package init(_ data: [Float]) { self.data = data }

    /// Calls `body` with the base addresses of the boxes' arrays (none may be empty).
    package static func withPointers<R>(_ boxes: [FloatArrayBox], _ body: ([UnsafeMutablePointer<Float>]) throws -> R) rethrows -> R {
        func nest(_ i: Int, _ pointers: [UnsafeMutablePointer<Float>]) throws -> R {
            guard i < boxes.count else { return try body(pointers) }
            return try boxes[i].data.withUnsafeMutableBufferPointer { try nest(i + 1, pointers + [$0.baseAddress!]) }
        }
        return try nest(0, [])
    }
}
