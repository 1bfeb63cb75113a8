import LSTMKitCore

/// Text inputs: UTF-8 with the place of a bad byte, lines, tab-separated pairs
/// (label<TAB>text, source<TAB>target) and label files. `name` names the input in
/// messages ("--train data.tsv").
public enum TextFile {
    /// `bytes` as a String; else `.invalidArgument`: "`name` `problem` (at byte N)".
    public static func utf8<Bytes: Collection<UInt8>>(_ bytes: Bytes, name: String,
                                                     problem: String = "is not valid UTF-8") throws -> String {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        var (it, decoder, offset) = (bytes.makeIterator(), UTF8(), 0)
        while case .scalarValue(let s) = decoder.decode(&it) { offset += UTF8.width(s) }
        throw LSTMKitError.invalidArgument("\(name) \(problem) (at byte \(offset))")
    }

    /// The lines of UTF-8 `bytes` (`Corpus.lines`); a bad byte as `utf8` reports it.
    public static func lines(_ bytes: [UInt8], name: String, problem: String = "is not valid UTF-8") throws -> [String] {
        Corpus.lines(of: try utf8(bytes, name: name, problem: problem))
    }

    /// Each line split at its first tab, `expected` ("label TAB text") naming the form in
    /// the error of a line without one; empty lines are skipped when `skipEmpty`.
    public static func pairs(_ lines: [String], name: String, expected: String,
                             skipEmpty: Bool = false) throws -> [(String, String)] {
        try lines.enumerated().compactMap { i, line in
            if skipEmpty && line.isEmpty { return nil }
            guard let tab = line.firstIndex(of: "\t") else {
                throw LSTMKitError.invalidArgument("\(name) line \(i + 1) has no tab (\(expected))")
            }
            return (String(line[..<tab]), String(line[line.index(after: tab)...]))
        }
    }

    /// Labels from a .npy file (integers or strings, shape (N,) or (N, 1)) or UTF-8 text
    /// with one label a line; there must be exactly `count`, one for each of `items`
    /// ("images") in the error.
    public static func labels(_ bytes: [UInt8], name: String, count: Int, of items: String) throws -> [String] {
        let labels: [String]
        if NumPyFile.isNumPy(bytes) {
            let array = try NumPyFile.parse(bytes, name: name)
            guard array.shape.count == 1 || (array.shape.count == 2 && array.shape[1] == 1) else {
                throw LSTMKitError.invalidArgument("\(name) has shape \(NumPyFile.text(array.shape)); labels must be (N,)")
            }
            labels = try array.labels(name)
        } else {
            labels = try lines(bytes, name: name, problem: "is neither a .npy file nor UTF-8 text")
            if let empty = labels.firstIndex(where: { $0.isEmpty }) {
                throw LSTMKitError.invalidArgument("\(name) line \(empty + 1): the label is empty")
            }
        }
        guard labels.count == count else {
            throw LSTMKitError.sizeMismatch("\(name) holds \(labels.count) labels for \(count) \(items)")
        }
        return labels
    }
}
