import LSTMKitCore

/// Rearrangements of (N, C, H, W) feature maps without parameters: channel
/// concatenation for skip connections and its adjoint (split), zero padding of the
/// bottom/right edges and its adjoint (crop), and the NHWC ↔ NCHW transposes at a
/// network's boundary. Each backward is the adjoint of its forward, so e.g. the
/// gradient of `concat` is `split` of the output gradient.
public enum ChannelOps {
    /// Stacks maps of equal N, H, W along channels: (N, C1, H, W), (N, C2, H, W), ... → (N, ΣC, H, W).
    public static func concat(_ parts: [Tensor]) -> Tensor {
        precondition(!parts.isEmpty && parts.allSatisfy { $0.rank == 4 }, "concat needs (N, C, H, W) maps")
        let (n, h, w) = (parts[0].shape[0], parts[0].shape[2], parts[0].shape[3])
        precondition(parts.allSatisfy { $0.shape[0] == n && $0.shape[2] == h && $0.shape[3] == w },
                     "concat: maps differ in N, H or W: \(parts.map(\.shape))")
        let channels = parts.map { $0.shape[1] }, total = channels.reduce(0, +), plane = h * w
        let out = FloatKernels.array(n * total * plane) { O in
            var offset = 0
            for (part, c) in zip(parts, channels) {
                part.data.withUnsafeBufferPointer { P in
                    for b in 0..<n {
                        (O + (b * total + offset) * plane).update(from: P.baseAddress! + b * c * plane, count: c * plane)
                    }
                }
                offset += c
            }
        }
        return Tensor(shape: [n, total, h, w], data: out)
    }

    /// The adjoint of `concat`: (N, ΣC, H, W) → maps of `channels` channels each.
    public static func split(_ x: Tensor, channels: [Int]) -> [Tensor] {
        let (n, total, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        precondition(channels.reduce(0, +) == total, "split: \(channels) does not add up to \(total) channels")
        let plane = h * w
        var offset = 0
        return x.data.withUnsafeBufferPointer { X in
            channels.map { c in
                let part = FloatKernels.array(n * c * plane) { P in
                    for b in 0..<n {
                        (P + b * c * plane).update(from: X.baseAddress! + (b * total + offset) * plane, count: c * plane)
                    }
                }
                offset += c
                return Tensor(shape: [n, c, h, w], data: part)
            }
        }
    }

    /// Adds `bottom` rows and `right` columns of zeros: (N, C, H, W) → (N, C, H + bottom, W + right).
    public static func pad(_ x: Tensor, bottom: Int, right: Int) -> Tensor {
        if bottom == 0 && right == 0 { return x }
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (ho, wo) = (h + bottom, w + right)
        var out = FloatKernels.zeros(n * c * ho * wo)
        x.data.withUnsafeBufferPointer { X in
            out.withUnsafeMutableBufferPointer { O in
                for plane in 0..<(n * c) {
                    for y in 0..<h {
                        (O.baseAddress! + (plane * ho + y) * wo).update(from: X.baseAddress! + (plane * h + y) * w, count: w)
                    }
                }
            }
        }
        return Tensor(shape: [n, c, ho, wo], data: out)
    }

    /// The top-left (height, width) of every plane: the adjoint of `pad`.
    public static func crop(_ x: Tensor, height: Int, width: Int) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        if h == height && w == width { return x }
        precondition(height <= h && width <= w, "crop: \(height)×\(width) is larger than \(x.shape)")
        let out = x.data.withUnsafeBufferPointer { X in
            FloatKernels.array(n * c * height * width) { O in
                for plane in 0..<(n * c) {
                    for y in 0..<height {
                        (O + (plane * height + y) * width).update(from: X.baseAddress! + (plane * h + y) * w, count: width)
                    }
                }
            }
        }
        return Tensor(shape: [n, c, height, width], data: out)
    }

    /// (N, H, W, C) → (N, C, H, W).
    public static func channelsFirst(_ x: Tensor) -> Tensor {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        return Tensor(shape: [n, c, h, w], data: transpose(x.data, blocks: n, rows: h * w, columns: c))
    }

    /// (N, C, H, W) → (N, H, W, C).
    public static func channelsLast(_ x: Tensor) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        return Tensor(shape: [n, h, w, c], data: transpose(x.data, blocks: n, rows: c, columns: h * w))
    }

    /// Transposes each of `blocks` consecutive (rows, columns) matrices.
    static func transpose(_ x: [Float], blocks: Int, rows: Int, columns: Int) -> [Float] {
        x.withUnsafeBufferPointer { X in
            FloatKernels.array(x.count) { O in
                for b in 0..<blocks {
                    let src = X.baseAddress! + b * rows * columns, dst = O + b * rows * columns
                    if rows == 1 || columns == 1 {
                        dst.update(from: src, count: rows * columns)
                        continue
                    }
                    for r in 0..<rows {
                        for col in 0..<columns { dst[col * rows + r] = src[r * columns + col] }
                    }
                }
            }
        }
    }
}
