import LSTMKitCore

/// Reads segmented corpora: one sentence per line, words separated by whitespace.
public enum Corpus {
    public static func readLines(_ path: String) throws -> [String] {
        try TextFile.lines(try FileIO.read(path), name: path)
    }

    /// The lines of a text, split at "\n" and "\r\n" (one Character in Swift: a split
    /// at "\n" alone leaves a Windows file one line), a stray trailing "\r" dropped. A
    /// final line break ends the last line rather than starting an empty one, so ""
    /// has no lines.
    public static func lines(of text: String) -> [String] {
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .map { $0.last == "\r" ? String($0.dropLast()) : String($0) }
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    /// Sentences as word lists; empty lines are skipped.
    public static func readSegmented(_ path: String) throws -> [[String]] {
        try parseSegmented(try readLines(path).joined(separator: "\n"))
    }

    /// At most this many bytes per byte of a segmented corpus are held while a
    /// tokenizer trains on it: the text, its words and sentences, and the trainer's
    /// pieces (character, bigram and tag ids). Checked (`Memory.check`) before parsing.
    static let bytesPerCorpusByte = 24

    /// Sentences as word lists from text: one sentence per line, words separated by
    /// whitespace; empty lines are skipped. Throws `outOfMemory` for a text that
    /// training could not hold (see `bytesPerCorpusByte`).
    public static func parseSegmented(_ text: String) throws -> [[String]] {
        let n = text.utf8.count
        try Memory.check([n, bytesPerCorpusByte], elementSize: 1, for: "a segmented corpus of \(n) bytes, parsed for training")
        return text.split(whereSeparator: \.isNewline).map { line in line.split(whereSeparator: \.isWhitespace).map(String.init) }
            .filter { !$0.isEmpty }
    }
}
