import LSTMKitCore

/// Float sequences from a file, for a sequence classifier: a UCR/UEA `.ts` file
/// (`TimeSeriesFile`, labels inside), a `.csv` (`NumericCSV`: one univariate series a
/// row, labels in `labelColumn`) or else a `.npy` array (N, T) or (N, T, C). Trailing
/// steps whose every channel is NaN end a shorter sequence (the padding of a table).
public struct SequenceFile: Sendable {
    /// One sequence per case, (T_i, channels) step after step.
    public let sequences: [[Float]]
    public let channels: Int
    /// The file's labels (a .ts file's classes, a CSV's label column), else nil.
    public let labels: [String]?

    /// `name` names the file in messages (default: its path).
    public static func read(_ path: String, labelColumn: Int? = nil, name: String? = nil) throws -> SequenceFile {
        let name = name ?? path
        if labelColumn != nil, !path.hasSuffix(".csv") { throw LSTMKitError.invalidArgument("\(name): a label column applies to .csv files only") }
        var sequences: [[Float]], channels = 1, labels: [String]?
        if path.hasSuffix(".ts") {
            let f = try TimeSeriesFile.read(path)
            (sequences, channels, labels) = (f.sequences, f.channels, f.labels)
        } else if path.hasSuffix(".csv") {
            let f = try NumericCSV.read(path, labelColumn: labelColumn)
            (sequences, labels) = (f.rows, f.labels)
        } else {
            let array = try NumPyFile.read(path)
            guard array.shape.count == 2 || array.shape.count == 3 else {
                throw LSTMKitError.invalidArgument("\(name) has shape \(NumPyFile.text(array.shape)); sequences must be (N, T) or (N, T, C)")
            }
            let (n, t) = (array.shape[0], array.shape[1])
            channels = array.shape.count == 3 ? array.shape[2] : 1
            let values = try array.floats(path), c = channels
            sequences = (0..<n).map { Array(values[($0 * t * c)..<(($0 + 1) * t * c)]) }
        }
        let c = channels
        sequences = sequences.map { s in
            var end = s.count / c
            while end > 0, s[((end - 1) * c)..<(end * c)].allSatisfy(\.isNaN) { end -= 1 }
            return Array(s[..<(end * c)])
        }
        return SequenceFile(sequences: sequences, channels: channels, labels: labels)
    }
}

/// One series as a table, for a forecaster: a `.npy` array (T,) or (T, columns) or else a
/// numeric CSV (`NumericCSV`: one column per channel, header names optional).
public struct SeriesTable: Sendable {
    /// The CSV header's column names (nil for a .npy or a CSV without a header).
    public let names: [String]?
    /// One row per step, `width` values each.
    public let rows: [[Float]]
    public var width: Int { rows.first?.count ?? 0 }

    /// `name` names the file in messages (default: its path).
    public static func read(_ path: String, name: String? = nil) throws -> SeriesTable {
        guard path.hasSuffix(".npy") else {
            let table = try NumericCSV.read(path)
            return SeriesTable(names: table.header, rows: table.rows)
        }
        let name = name ?? path, array = try NumPyFile.read(path)
        guard (1...2).contains(array.shape.count) else {
            throw LSTMKitError.invalidArgument("\(name) holds an array of shape \(NumPyFile.text(array.shape)); a series is (T,) or (T, channels)")
        }
        let values = try array.floats(path)
        let width = array.shape.count == 2 ? array.shape[1] : 1
        guard width > 0 else { throw LSTMKitError.invalidArgument("\(name) has no columns") }
        return SeriesTable(names: nil, rows: (0..<array.shape[0]).map { Array(values[($0 * width)..<(($0 + 1) * width)]) })
    }

    /// The columns `spec` names, comma-separated indices or header names ("0,2",
    /// "demand,price"); `option` names the spec in messages.
    public func columns(_ spec: String, option: String) throws -> [Int] {
        try spec.split(separator: ",").map { item in
            let name = item.trimmingSpaces
            if let i = Int(name) {
                guard (0..<width).contains(i) else { throw LSTMKitError.invalidArgument("\(option): column \(i) is outside the \(width) columns") }
                return i
            }
            guard let i = names?.firstIndex(of: name) else {
                throw LSTMKitError.invalidArgument("\(option): no column \"\(name)\""
                    + (names.map { " (the header has \($0.joined(separator: ", ")))" } ?? " (the file has no header: give indices)"))
            }
            return i
        }
    }

    /// The targets (T, k) and exogenous inputs (T, e; nil without columns) by their
    /// column specs (`columns`); targets default to every column not exogenous. `options`
    /// name the two specs in messages.
    public func series(targets: String?, exogenous: String?,
                       options: (targets: String, exogenous: String) = ("targets", "exogenous")) throws -> (y: Tensor, x: Tensor?) {
        let x = try exogenous.map { try columns($0, option: options.exogenous) } ?? []
        let y = try targets.map { try columns($0, option: options.targets) } ?? (0..<width).filter { !x.contains($0) }
        guard !y.isEmpty else { throw LSTMKitError.invalidArgument("no target column is left: give \(options.targets)") }
        func take(_ cols: [Int]) -> Tensor { Tensor(shape: [rows.count, cols.count], data: rows.flatMap { r in cols.map { r[$0] } }) }
        return (take(y), x.isEmpty ? nil : take(x))
    }
}
