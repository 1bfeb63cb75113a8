import LSTMKitCore

/// A numeric CSV table: comma-separated numbers, one row per line, an optional header
/// (a first line that is not all numbers), optionally one column of labels (strings)
/// named by index. Empty cells, "NA", "NaN" and "?" read as NaN (missing); every row
/// must have the header's (or the first row's) number of cells. Quoted cells are not
/// supported. Sequence models read rows as series (a classifier: one series per row,
/// trailing NaN as the end of a shorter series) or columns as channels (a forecaster).
public struct NumericCSV: Sendable {
    public let header: [String]?
    /// The rows without the label column, each `columns` values.
    public let rows: [[Float]]
    public let columns: Int
    /// The label column's cells (nil without `labelColumn`).
    public let labels: [String]?

    public static func read(_ path: String, labelColumn: Int? = nil) throws -> NumericCSV {
        let text = try TextFile.utf8(try FileIO.read(path), name: path)
        do { return try parse(text, labelColumn: labelColumn) } catch let e as LSTMKitError {
            throw LSTMKitError.invalidFormat("\(path): \(e.message)")
        }
    }

    public static func parse(_ text: String, labelColumn: Int? = nil) throws -> NumericCSV {
        let lines = Corpus.lines(of: text).map(\.trimmingSpaces).enumerated().filter { !$0.element.isEmpty }
        guard !lines.isEmpty else { throw LSTMKitError.invalidFormat("no rows") }
        func cells(_ line: String) -> [String] { line.split(separator: ",", omittingEmptySubsequences: false).map(\.trimmingSpaces) }
        func number(_ s: String) -> Float? {
            if s.isEmpty || s == "?" || s.lowercased() == "na" || s.lowercased() == "nan" { return .nan }
            return Float(s).flatMap { $0.isFinite ? $0 : nil }
        }
        let first = cells(lines[0].element)
        let hasHeader = first.enumerated().contains { $0.offset != labelColumn && number($0.element) == nil }
        let width = first.count
        if let l = labelColumn, !(0..<width).contains(l) {
            throw LSTMKitError.invalidArgument("label column \(l) is outside the \(width) columns")
        }
        var rows: [[Float]] = [], labels: [String] = []
        for (n, line) in lines.dropFirst(hasHeader ? 1 : 0) {
            let c = cells(line)
            guard c.count == width else { throw LSTMKitError.invalidFormat("line \(n + 1) has \(c.count) cells, expected \(width)") }
            var row: [Float] = []
            row.reserveCapacity(width)
            for (j, s) in c.enumerated() {
                if j == labelColumn {
                    labels.append(s)
                    continue
                }
                guard let v = number(s) else { throw LSTMKitError.invalidFormat("line \(n + 1), column \(j): \"\(s.prefix(40))\" is not a number") }
                row.append(v)
            }
            rows.append(row)
        }
        guard !rows.isEmpty else { throw LSTMKitError.invalidFormat("a header but no rows") }
        return NumericCSV(header: hasHeader ? first : nil, rows: rows, columns: width - (labelColumn == nil ? 0 : 1),
                          labels: labelColumn == nil ? nil : labels)
    }

    /// Each row as a univariate series, trailing NaN cut (a shorter series in a table).
    public var rowSeries: [[Float]] {
        rows.map { r in Array(r[..<((r.lastIndex { !$0.isNaN } ?? -1) + 1)]) }
    }
}
