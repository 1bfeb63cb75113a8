import FuzzSupport
import LSTMKit

/// Any bytes as a UCR/UEA .ts file and as a numeric CSV (with and without a label
/// column), then what the sequence classifier's and the forecaster's doors make of what
/// parsed: the sequences checked by index, NaN refused and masked.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSeriesText(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let text = String(validating: bytes(data, size), as: UTF8.self) else { return 0 }  // the readers refuse it first
    expectCleanRefusal {
        let file = try TimeSeriesFile.parse(text)
        for missing in [MissingValues.refuse, .mask] {
            expectCleanRefusal { _ = try Sequences(sequences: file.sequences, channels: file.channels, missing: missing) }
        }
    }
    for labelColumn in [nil, 0] {
        expectCleanRefusal {
            let csv = try NumericCSV.parse(text, labelColumn: labelColumn)
            expectCleanRefusal {
                _ = try Sequences(values: csv.rows.flatMap { $0 }, lengths: [csv.rows.count], channels: csv.columns)
            }
        }
    }
    return 0
}

@_cdecl("fuzz_series_text_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    fuzzMain(argc, argv, fuzzSeriesText)
}
