import LSTMKitCore

extension PNGImage {
    /// A heat map of a matrix of weights in [0, 1] (an attention matrix: rows = output
    /// tokens, columns = input tokens), each value a `cell` × `cell` square of grey:
    /// white for 0, black for 1 (values outside [0, 1], NaN included, are clamped:
    /// NaN as 0), with a one-pixel light grey grid between the cells. Throws for an
    /// empty matrix, ragged rows or a cell below 1; outOfMemory for one too large to draw.
    public static func heatMap(_ weights: [[Float]], cell: Int = 16) throws -> PNGImage {
        let (rows, columns) = (weights.count, weights.first?.count ?? 0)
        guard rows >= 1, columns >= 1, weights.allSatisfy({ $0.count == columns }), cell >= 1 else {
            throw LSTMKitError.invalidArgument("a heat map needs a non-empty rectangular matrix and cells of at least 1 pixel, got \(rows) rows")
        }
        // A caller sets the sizes (the C ABI's lk_heat_map_png): checked before allocating.
        try Memory.check([columns * (cell + 1) + 1, rows, cell + 1], elementSize: 3, for: "a heat map of \(rows)×\(columns) cells")
        let (width, height) = (columns * (cell + 1) + 1, rows * (cell + 1) + 1)
        var pixels = [UInt8](repeating: 208, count: width * height)   // the grid
        for (r, row) in weights.enumerated() {
            for (c, w) in row.enumerated() {
                let v = UInt8(255 - (255 * (w.isNaN ? 0 : min(max(w, 0), 1))).rounded())
                for y in 0..<cell {
                    let start = (r * (cell + 1) + 1 + y) * width + c * (cell + 1) + 1
                    for x in 0..<cell { pixels[start + x] = v }
                }
            }
        }
        return PNGImage(width: width, height: height, channels: 1, pixels: pixels)
    }
}
