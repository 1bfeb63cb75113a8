// swift-tools-version:6.0
// libFuzzer targets for every parser a file or a caller can reach (issue 17): the model
// file reader (safetensors header JSON, tensors, each model kind's metadata), .npy, PNG,
// UTF-8 text into the tokenizer, the text classifier and Seq2Seq's translate, and the time-series readers
// (UCR/UEA .ts, numeric CSV). Built with
// `-sanitize=fuzzer,address` by run.sh, which runs each from the seed corpus in corpus/.
import PackageDescription

let fuzzers = ["fuzz-model-file", "fuzz-npy", "fuzz-png", "fuzz-tokenizer-text", "fuzz-classifier-text", "fuzz-series-text",
               "fuzz-seq2seq-text"]

let package = Package(
    name: "LSTMKitFuzz",
    dependencies: [.package(name: "LSTMKit", path: "../..")],
    targets: [
        .target(name: "CFuzzDriver"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzDriver", .product(name: "LSTMKit", package: "LSTMKit")]),
    ]
        + fuzzers.map { .executableTarget(name: $0, dependencies: ["FuzzSupport", .product(name: "LSTMKit", package: "LSTMKit")]) },
    swiftLanguageModes: [.v5]
)
