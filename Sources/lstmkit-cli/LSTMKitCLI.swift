import ArgumentParser
import Glibc
import LSTMKit

@main
struct LSTMKitCLI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lstmkit",
        abstract: "LSTMKit: an LSTM engine on OpenBLAS, and the models built on it.",
        version: "\(LSTMKitVersion.string) (kernels: \(Kernels.summary))",   // lk_kernels: what this CPU runs
        subcommands: [Segment.self, TrainTokenizer.self, EvalTokenizer.self, CombineTokenizers.self, TrainClassifier.self, Classify.self, EvalClassifier.self,
                      TrainSegmenter.self, SegmentImage.self, EvalSegmenter.self, Demo.self, Inspect.self,
                      TrainSequenceClassifier.self, ClassifySequences.self,
                      TrainForecaster.self, ForecastCommand.self,
                      Quantize.self,
                      TrainSeq2Seq.self, Translate.self,
                      G2P.self]
    )
}

/// A command of this tool: `execute` runs with one error path, an engine error becoming
/// one line on stderr and exit code 1.
protocol Command: ParsableCommand {
    func execute() throws
}

/// A command with --threads, checked before anything else (0 or 2^31 threads would
/// otherwise reach the engine's thread pool).
protocol Threaded {
    var threads: Int { get }
}

extension Command {
    func run() throws {
        do {
            if let threads = (self as? Threaded)?.threads, !threadCountRange.contains(threads) {
                throw invalid("--threads must be in [\(threadCountRange.lowerBound), \(threadCountRange.upperBound)], got \(threads)")
            }
            try execute()
        } catch let error as LSTMKitError {
            fputs("lstmkit: error: \(error.message)\n", stderr)
            throw ExitCode(1)
        }
    }
}

/// The inputs to read: the files given, else standard input ("-").
func sources(_ files: [String]) -> [String] { files.isEmpty ? ["-"] : files }

/// How messages name an input.
func describe(_ source: String) -> String { source == "-" ? "standard input" : source }

/// The bytes of a file, or of standard input ("-"); either is refused past
/// FileIO.defaultReadLimit (2 GiB), so an input without end gets an error, not a crash.
func readInput(_ source: String) throws -> [UInt8] {
    try FileIO.read(source == "-" ? "/dev/stdin" : source)
}

/// The lines of a UTF-8 file, or of standard input ("-").
func readLines(_ source: String) throws -> [String] { try TextFile.lines(try readInput(source), name: describe(source)) }

/// The absolute, symlink-free form of a path whose directory exists (the path itself
/// need not), so two spellings of one file compare equal.
func canonicalPath(_ path: String) -> String {
    if let full = realpath(path, nil) {
        defer { free(full) }
        return String(cString: full)
    }
    let slash = path.lastIndex(of: "/")
    let (dir, name) = (slash.map { String(path[..<$0]) } ?? ".", slash.map { String(path[path.index(after: $0)...]) } ?? path)
    guard let full = realpath(dir.isEmpty ? "/" : dir, nil) else { return path }
    defer { free(full) }
    return String(cString: full) + "/" + name
}

/// Refuses an output path that names one of the command's inputs: a user's data is
/// never overwritten by mistake (`--output train.npy`).
func refuseOverwritingInputs(_ inputs: [String?], output: String, option: String = "--output") throws {
    _ = try FileIO.writableTarget(output)   // before any work: no device or FIFO is replaced, no checkpoint left beside it
    let target = canonicalPath(output)
    if let input = inputs.compactMap({ $0 }).first(where: { canonicalPath($0) == target }) {
        throw invalid("\(option) \(output) is the input \(input); choose another file")
    }
}

/// A comma-separated list ("32,64", "0.5,2,2"), or an error naming `option` with an `example`.
func list<T: LosslessStringConvertible>(_ text: String, option: String, of what: String, example: String) throws -> [T] {
    let values = text.split(separator: ",", omittingEmptySubsequences: false).map { item in
        let words = item.split(separator: " ")   // one value, spaces around it allowed
        return words.count == 1 ? T(String(words[0])) : nil
    }
    guard !values.isEmpty, !values.contains(where: { $0 == nil }) else {
        throw invalid("\(option) must be \(what) separated by commas (e.g. \(example)), got \(text)")
    }
    return values.map { $0! }
}

/// The result of `body` and the seconds it took (never 0: rates divide by it).
func timed<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    var (start, end) = (timespec(), timespec())
    clock_gettime(CLOCK_MONOTONIC, &start)
    let result = try body()
    clock_gettime(CLOCK_MONOTONIC, &end)
    return (result, max(Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) * 1e-9, 1e-9))
}

/// x rounded to `digits` decimals, as Swift prints it (99.5, not 99.50).
func formatted(_ x: Float, digits: Int = 3) -> String {
    let scale = (0..<digits).reduce(Float(1)) { s, _ in s * 10 }
    return String((x * scale).rounded() / scale)
}

/// x with exactly `digits` decimals: fixed(99.5, 2) is "99.50".
func fixed(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return String(x) }
    let scale = (0..<digits).reduce(Int64(1)) { s, _ in s * 10 }
    let units = Int64((abs(x) * Double(scale)).rounded())
    let fraction = String(units % scale)
    return (x < 0 && units != 0 ? "-" : "") + String(units / scale)
        + (digits > 0 ? "." + String(repeating: "0", count: digits - fraction.count) + fraction : "")
}

/// "s" after a count other than 1.
func plural(_ n: Int) -> String { n == 1 ? "" : "s" }

/// The error of a bad argument: one line on stderr, exit code 1.
func invalid(_ message: String) -> LSTMKitError { .invalidArgument(message) }
