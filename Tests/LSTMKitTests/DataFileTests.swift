import Testing
@testable import LSTMKit
import Foundation

/// The error `body` throws, which must be an LSTMKitError whose message holds `place`.
private func expectError(_ place: String, _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        try body()
        Issue.record("no error; expected one naming \(place)", sourceLocation: sourceLocation)
    } catch let e as LSTMKitError {
        #expect(e.message.contains(place), "\(e.message)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("not an LSTMKitError: \(error)", sourceLocation: sourceLocation)
    }
}

/// A file of `text` in /tmp, its path.
private func file(_ name: String, _ text: String) throws -> String {
    let path = temporaryPath(name)
    try FileIO.writeAtomically(Array(text.utf8), to: path)
    return path
}

@Suite("Data file readers: text, labels, sequences, series tables")
struct DataFileTests {
    @Test("UTF-8: a bad byte is named by its offset; tab pairs name the line without a tab")
    func text() throws {
        expectError("x is not valid UTF-8 (at byte 2)") { _ = try TextFile.utf8([0x61, 0x62, 0xff], name: "x") }
        #expect(try TextFile.lines(Array("a\r\nb\n".utf8), name: "x") == ["a", "b"])
        let pairs = try TextFile.pairs(["pos\tgood film", "", "neg\ta\tb"], name: "t", expected: "label TAB text", skipEmpty: true)
        #expect(pairs.map(\.0) == ["pos", "neg"] && pairs.map(\.1) == ["good film", "a\tb"])
        expectError("t line 2 has no tab (source TAB target)") {
            _ = try TextFile.pairs(["a\tb", "no tab"], name: "t", expected: "source TAB target")
        }
        expectError("t line 2 has no tab") { _ = try TextFile.pairs(["a\tb", ""], name: "t", expected: "a TAB b") }
        expectError("cannot open /nonexistent/x.tsv") { _ = try Corpus.readLines("/nonexistent/x.tsv") }
        let bad = temporaryPath("bad.txt")
        try FileIO.writeAtomically([0x61, 0x0a, 0xc3], to: bad)
        for read in [{ _ = try Corpus.readLines(bad) }, { _ = try UserDictionary.read(path: bad) },
                     { _ = try NumericCSV.read(bad) }, { _ = try TimeSeriesFile.read(bad) }] as [() throws -> Void] {
            expectError("\(bad) is not valid UTF-8 (at byte 2)", read)
        }
    }

    @Test("labels: text or .npy, empty labels, wrong count and shape refused with the place")
    func labels() throws {
        #expect(try TextFile.labels(Array("a\nb\n".utf8), name: "l", count: 2, of: "images") == ["a", "b"])
        expectError("l line 2: the label is empty") { _ = try TextFile.labels(Array("a\n\nb\n".utf8), name: "l", count: 3, of: "images") }
        expectError("l holds 2 labels for 3 sequences") { _ = try TextFile.labels(Array("a\nb\n".utf8), name: "l", count: 3, of: "sequences") }
        expectError("l is neither a .npy file nor UTF-8 text (at byte 0)") { _ = try TextFile.labels([0xff], name: "l", count: 1, of: "images") }
        let npy = temporaryPath("labels.npy")
        try NumPyFile.write([Int64(3), 1], shape: [2], to: npy)
        #expect(try TextFile.labels(try FileIO.read(npy), name: "l", count: 2, of: "images") == ["3", "1"])
        try NumPyFile.write([Int64(3), 1], shape: [1, 2], to: npy)
        expectError("l has shape (1, 2); labels must be (N,)") { _ = try TextFile.labels(try FileIO.read(npy), name: "l", count: 1, of: "images") }
    }

    @Test("sequences: .npy (N, T, C) with trailing NaN padding, CSV label column, bad files with the place")
    func sequences() throws {
        let npy = temporaryPath("seq.npy")
        try NumPyFile.write([Float(1), 2, 3, 4, 5, 6, .nan, .nan], shape: [2, 2, 2], to: npy)
        let f = try SequenceFile.read(npy)
        #expect(f.channels == 2 && f.sequences == [[1, 2, 3, 4], [5, 6]] && f.labels == nil)
        try NumPyFile.write([Float(1), 2], shape: [2], to: npy)
        expectError("--train \(npy) has shape (2,); sequences must be") { _ = try SequenceFile.read(npy, name: "--train \(npy)") }
        expectError("a label column applies to .csv files only") { _ = try SequenceFile.read(npy, labelColumn: 0) }
        let csv = try file("seq.csv", "y,a,b,c\nup,1,2,3\ndown,4,5,\n")
        let c = try SequenceFile.read(csv, labelColumn: 0)
        #expect(c.channels == 1 && c.sequences == [[1, 2, 3], [4, 5]] && c.labels! == ["up", "down"])
        expectError("line 3 has 2 cells, expected 3") { _ = try SequenceFile.read(try file("ragged.csv", "1,2,3\n4,5,6\n7,8\n")) }
        expectError("line 2, column 1: \"x\" is not a number") { _ = try SequenceFile.read(try file("text.csv", "1,2\n3,x\n")) }
        expectError("no rows") { _ = try SequenceFile.read(try file("empty.csv", "")) }
        expectError("cannot open /nonexistent/s.ts") { _ = try SequenceFile.read("/nonexistent/s.ts") }
    }

    @Test("series tables: columns by index or header name, targets default to the non-exogenous columns")
    func series() throws {
        let t = try SeriesTable.read(try file("series.csv", "demand,price,temp\n1,2,3\n4,5,6\n"))
        #expect(t.names! == ["demand", "price", "temp"] && t.width == 3)
        let (y, x) = try t.series(targets: nil, exogenous: "temp, 1")
        #expect(y.shape == [2, 1] && y.data == [1, 4] && x!.shape == [2, 2] && x!.data == [3, 2, 6, 5])
        expectError("--targets: no column \"cost\" (the header has demand, price, temp)") {
            _ = try t.series(targets: "cost", exogenous: nil, options: ("--targets", "--exogenous"))
        }
        expectError("exogenous: column 3 is outside the 3 columns") { _ = try t.series(targets: nil, exogenous: "3") }
        expectError("no target column is left: give targets") { _ = try t.series(targets: nil, exogenous: "0,1,2") }
        let npy = temporaryPath("series.npy")
        try NumPyFile.write([Float(1), 2, 3, 4, 5, 6], shape: [3, 2], to: npy)
        let n = try SeriesTable.read(npy)
        #expect(n.names == nil && n.rows == [[1, 2], [3, 4], [5, 6]])
        expectError("(the file has no header: give indices)") { _ = try n.columns("demand", option: "targets") }
        try NumPyFile.write([Float(1), 2, 3, 4, 5, 6, 7, 8], shape: [2, 2, 2], to: npy)
        expectError("s holds an array of shape (2, 2, 2); a series is (T,) or (T, channels)") { _ = try SeriesTable.read(npy, name: "s") }
        try NumPyFile.write([Float](), shape: [3, 0], to: npy)
        expectError("s has no columns") { _ = try SeriesTable.read(npy, name: "s") }
        expectError("line 2, column 0: \"x\" is not a number") { _ = try SeriesTable.read(try file("bad.csv", "1\nx\n")) }
    }
}
