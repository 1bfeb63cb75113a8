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
        subcommands: [Segment.self, TrainTokenizer.self, EvalTokenizer.self, TrainClassifier.self, Classify.self, EvalClassifier.self,
                      TrainSegmenter.self, SegmentImage.self, EvalSegmenter.self, Demo.self, Inspect.self]
    )

    /// Runs a command body, turning engine errors into one line on stderr and exit 1.
    static func reportingErrors(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as LSTMKitError {
            var stderr = StandardError()
            print("lstmkit: error: \(error.message)", to: &stderr)
            throw ExitCode(1)
        }
    }
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) { fputs(string, Glibc.stderr) }
}
