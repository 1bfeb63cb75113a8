import ArgumentParser
import LSTMKit

#if canImport(Glibc)
import Glibc
#endif

@main
struct LSTMKitCLI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lstmkit",
        abstract: "LSTMKit: an LSTM engine on OpenBLAS, and the models built on it.",
        version: LSTMKitVersion.string,
        subcommands: [Segment.self, TrainTokenizer.self, EvalTokenizer.self, CombineTokenizers.self, TrainClassifier.self, Classify.self, EvalClassifier.self,
                      TrainSegmenter.self, SegmentImage.self, EvalSegmenter.self, Demo.self, Inspect.self]
    )

    /// Runs a command body, turning engine errors into one line on stderr and exit 1;
    /// a command's --threads is checked first (0 or 2^31 threads would otherwise reach
    /// the engine's thread pool).
    static func reportingErrors(threads: Int? = nil, _ body: () throws -> Void) throws {
        do {
            if let threads, !threadCountRange.contains(threads) {
                throw LSTMKitError.invalidArgument(
                    "--threads must be in [\(threadCountRange.lowerBound), \(threadCountRange.upperBound)], got \(threads)")
            }
            try body()
        } catch let error as LSTMKitError {
            var stderr = StandardError()
            print("lstmkit: error: \(error.message)", to: &stderr)
            throw ExitCode(1)
        }
    }
}

/// The absolute, symlink-free form of a path whose directory exists (the path itself
/// need not), so two spellings of one file compare equal.
func canonicalPath(_ path: String) -> String {
    if let full = realpath(path, nil) {
        defer { free(full) }
        return String(cString: full)
    }
    let slash = path.lastIndex(of: "/")
    let dir = slash.map { String(path[..<$0]) } ?? "."
    let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
    guard let full = realpath(dir.isEmpty ? "/" : dir, nil) else { return path }
    defer { free(full) }
    return String(cString: full) + "/" + name
}

/// Refuses an output path that names one of the command's inputs: a user's data is
/// never overwritten by mistake (`--output train.npy`).
func refuseOverwritingInputs(_ inputs: [String?], output: String, option: String = "--output") throws {
    let target = canonicalPath(output)
    if let input = inputs.compactMap({ $0 }).first(where: { canonicalPath($0) == target }) {
        throw LSTMKitError.invalidArgument("\(option) \(output) is the input \(input); choose another file")
    }
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) { fputs(string, Glibc.stderr) }
}
