import Testing
@testable import LSTMKit

@Suite("Numeric sequences, scaler, .ts and CSV readers")
struct SequencesTests {
    @Test("ragged and padded input give the same sequences; the batch is padded with 0")
    func layouts() throws {
        let ragged = try Sequences(sequences: [[1, 2, 3, 4], [5, 6]], channels: 2)
        let padded = try Sequences(padded: [1, 2, 3, 4, 5, 6, 9, 9], count: 2, steps: 2, channels: 2, lengths: [2, 1])
        #expect(ragged == padded)
        #expect(ragged.lengths == [2, 1])
        let scaler = ChannelScaler(channels: 2, maskMissing: false)
        let (x, lengths) = scaler.batch(ragged, [1, 0])
        #expect(x.shape == [2, 2, 2] && lengths == [1, 2])
        #expect(x.data == [5, 6, 0, 0, 1, 2, 3, 4])
        #expect(ragged.subset([1]).sequence(0) == [5, 6])
    }

    @Test("bad input is refused naming the index")
    func errors() {
        func message(_ body: () throws -> Sequences) -> String {
            do { _ = try body(); return "" } catch { return "\(error)" }
        }
        #expect(message { try Sequences(sequences: [[1, 2], [1, 2, 3]], channels: 2) }.contains("sequence 1 has 3 values"))
        #expect(message { try Sequences(sequences: [[1, 2], []], channels: 2) }.contains("sequence 1 is empty"))
        #expect(message { try Sequences(sequences: [], channels: 2) }.contains("no sequences"))
        #expect(message { try Sequences(sequences: [[1, 2], [1, 2, 3, 4, 5, .nan]], channels: 2) } .contains("sequence 1, step 2, channel 1 is nan"))
        #expect(message { try Sequences(sequences: [[.infinity, 2]], channels: 2, missing: .mask) }.contains("sequence 0, step 0, channel 0 is inf"))
        #expect(message { try Sequences(padded: [1, 2], count: 1, steps: 1, channels: 2, lengths: [2]) }.contains("longer than"))
        #expect((try? Sequences(sequences: [[1, .nan]], channels: 2, missing: .mask)) != nil)
    }

    @Test("the scaler centres and scales each channel; NaN is masked with an indicator")
    func scaler() throws {
        let data = try Sequences(sequences: [[1, 10, 3, .nan], [5, 10, 7, 10]], channels: 2, missing: .mask)
        let s = ChannelScaler(fittedOn: data, maskMissing: true)
        #expect(s.mean.value == [4, 10])
        #expect(abs(s.std.value[0] - Float(5).squareRoot()) < 1e-6)
        #expect(s.std.value[1] == 1)   // no spread: centred, not divided by 0
        let (x, _) = s.batch(data, [0])
        #expect(x.shape == [1, 2, 4])
        #expect(x.data[5] == 0 && x.data[7] == 1 && x.data[3] == 0 && x.data[6] == 0)   // step 1 channel 1 missing → 0, indicator 1
    }

    @Test(".ts: multivariate, unequal length, string labels, missing values; unsupported files refused")
    func tsFile() throws {
        let text = """
        # a comment
        @problemName Toy
        @timeStamps false
        @missing true
        @univariate false
        @dimensions 2
        @equalLength false
        @classLabel true walk run
        @data
        1,2,3:4,5,6:walk
        7,?:8,9:run
        """
        let f = try TimeSeriesFile.parse(text)
        #expect(f.channels == 2 && f.labels! == ["walk", "run"] && f.classes == ["walk", "run"])
        #expect(f.sequences[0] == [1, 4, 2, 5, 3, 6])
        #expect(f.sequences[1][2].isNaN && f.sequences[1][3] == 9)
        #expect(throws: LSTMKitError.self) { try TimeSeriesFile.parse("@timeStamps true\n@classLabel false\n@data\n1,2") }
        #expect(throws: LSTMKitError.self) { try TimeSeriesFile.parse("@classLabel true a\n@data\n1,2:3:a") }
        #expect(throws: LSTMKitError.self) { try TimeSeriesFile.parse("@classLabel true a\n@data\n1,x:a") }
        #expect(throws: LSTMKitError.self) { try TimeSeriesFile.parse("@classLabel true a\n@data\n1,2:b") }
    }

    @Test("CSV: header, label column, missing cells, ragged rows refused")
    func csv() throws {
        let f = try NumericCSV.parse("label,t0,t1,t2\na,1,2,3\nb,4,,NA\n", labelColumn: 0)
        #expect(f.header! == ["label", "t0", "t1", "t2"] && f.labels! == ["a", "b"] && f.columns == 3)
        #expect(f.rowSeries[1] == [4])
        #expect(throws: LSTMKitError.self) { try NumericCSV.parse("1,2\n3\n") }
        #expect(throws: LSTMKitError.self) { try NumericCSV.parse("1,2\n3,x\n") }
    }
}
