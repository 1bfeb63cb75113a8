import LSTMKitCore

/// The UCR/UEA archive's `.ts` format (as sktime writes and reads it): `#` comments, a
/// header of `@keyword value` lines, then after `@data` one case per line: each channel
/// ("dimension") a comma-separated series, channels separated by ":", then the class
/// label when `@classLabel true`. Read here: univariate and multivariate, equal or
/// unequal length (each case's channels must have the same length), `?` for a missing
/// value (NaN) and string labels. Refused with a message: time stamps, regression
/// targets, and cases whose channels differ in length.
public struct TimeSeriesFile: Sendable {
    /// Channels per step (the header's @dimensions, else the first case's).
    public let channels: Int
    /// One case per sequence, (T_i, C) step after step; NaN where the file has "?".
    public let sequences: [[Float]]
    /// Each case's label (nil when the file has no class labels).
    public let labels: [String]?
    /// The @classLabel list, in the header's order (empty without labels).
    public let classes: [String]

    public static func read(_ path: String) throws -> TimeSeriesFile {
        let text = try TextFile.utf8(try FileIO.read(path), name: path)
        do { return try parse(text) } catch let e as LSTMKitError { throw LSTMKitError.invalidFormat("\(path): \(e.message)") }
    }

    public static func parse(_ text: String) throws -> TimeSeriesFile {
        var hasLabels: Bool?, classes: [String] = [], dimensions: Int?
        var sequences: [[Float]] = [], labels: [String] = [], channels: Int?
        var inData = false
        for (n, raw) in Corpus.lines(of: text).enumerated() {
            let line = raw.trimmingSpaces
            if line.isEmpty || line.hasPrefix("#") { continue }
            let where_ = "line \(n + 1)"
            if !inData {
                guard line.hasPrefix("@") else { throw LSTMKitError.invalidFormat("\(where_): expected a @keyword or @data before the data") }
                let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                let key = words[0].lowercased(), value = words.count > 1 ? words[1].lowercased() : ""
                switch key {
                case "@data":
                    guard hasLabels != nil else { throw LSTMKitError.invalidFormat("\(where_): @data before @classLabel") }
                    inData = true
                case "@classlabel":
                    guard value == "true" || value == "false" else { throw LSTMKitError.invalidFormat("\(where_): @classLabel must be true or false") }
                    hasLabels = value == "true"
                    classes = Array(words.dropFirst(2))
                    if hasLabels! && classes.isEmpty { throw LSTMKitError.invalidFormat("\(where_): @classLabel true lists no class") }
                case "@timestamps":
                    if value == "true" { throw LSTMKitError.invalidFormat("\(where_): time-stamped .ts files are not supported (only @timeStamps false)") }
                case "@targetlabel":
                    if value == "true" { throw LSTMKitError.invalidFormat("\(where_): regression .ts files (@targetLabel) are not supported, only classification") }
                case "@dimensions":
                    guard let d = Int(value), d >= 1 else { throw LSTMKitError.invalidFormat("\(where_): @dimensions must be a positive integer") }
                    dimensions = d
                case "@problemname", "@univariate", "@equallength", "@serieslength", "@missing":
                    break
                default:
                    throw LSTMKitError.invalidFormat("\(where_): unknown keyword \(words[0])")
                }
                continue
            }
            var fields = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            if hasLabels! {
                guard fields.count >= 2 else { throw LSTMKitError.invalidFormat("\(where_): a case needs its values and a class label after \":\"") }
                let label = fields.removeLast().trimmingSpaces
                guard classes.contains(label) else { throw LSTMKitError.invalidFormat("\(where_): class \"\(label)\" is not in @classLabel \(classes)") }
                labels.append(label)
            }
            let c = channels ?? dimensions ?? fields.count
            guard fields.count == c else {
                throw LSTMKitError.invalidFormat("\(where_): case \(sequences.count) has \(fields.count) channel\(fields.count == 1 ? "" : "s"), expected \(c)")
            }
            channels = c
            let series = try fields.enumerated().map { (j, f) -> [Float] in
                try f.split(separator: ",", omittingEmptySubsequences: false).map { item in
                    let s = item.trimmingSpaces
                    if s == "?" || s.lowercased() == "nan" { return .nan }
                    guard let v = Float(s), v.isFinite else {
                        throw LSTMKitError.invalidFormat("\(where_): case \(sequences.count), channel \(j): \"\(s.prefix(40))\" is not a number")
                    }
                    return v
                }
            }
            let length = series[0].count
            if let j = series.firstIndex(where: { $0.count != length }) {
                throw LSTMKitError.invalidFormat("\(where_): case \(sequences.count) has channels of different lengths (\(length) and \(series[j].count) in channel \(j)); not supported")
            }
            var values = [Float](repeating: 0, count: length * c)
            for (j, s) in series.enumerated() { for (t, v) in s.enumerated() { values[t * c + j] = v } }
            sequences.append(values)
        }
        guard inData else { throw LSTMKitError.invalidFormat("no @data line") }
        guard !sequences.isEmpty, let channels else { throw LSTMKitError.invalidFormat("no case after @data") }
        return TimeSeriesFile(channels: channels, sequences: sequences, labels: hasLabels! ? labels : nil, classes: classes)
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces, tabs and carriage returns (no Foundation).
    var trimmingSpaces: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
