import CFuzzDriver
import LSTMKit

/// A target's main function: libFuzzer's driver with `test` as the input callback.
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                     _ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt {
    var argc = argc
    var argv = argv
    return lstmkit_run_fuzzer(&argc, &argv, test)
}

/// The input libFuzzer hands a target, as bytes.
public func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// A committed fixture (Tests/Fixtures/...), found from this file's place in the repository.
public func fixture(_ relative: String) -> String {
    var dir = #filePath
    for _ in 0..<4 { dir = String(dir[..<dir.lastIndex(of: "/")!]) }   // .../Tests
    return dir + "/Fixtures/" + relative
}

/// Loads a fixture model once; a fixture that does not load is a broken checkout, not a finding.
public func loadFixture<T>(_ relative: String, _ load: (String) throws -> T) -> T {
    do { return try load(fixture(relative)) } catch { fatalError("cannot load fixture \(relative): \(error)") }
}

/// The only errors a parser may give for bad input: LSTMKit's own, each with a message.
/// Anything else (a trap, a sanitizer report, an unexpected error type) is a finding.
public func expectCleanRefusal(_ body: () throws -> Void) {
    do {
        try body()
    } catch let e as LSTMKitError {
        precondition(!e.message.isEmpty, "an LSTMKitError without a message")
    } catch {
        fatalError("unexpected error type \(type(of: error)): \(error)")
    }
}
