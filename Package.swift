// swift-tools-version:6.0
import PackageDescription

// Release builds skip exclusivity checks in the engine's hot loops (see STYLE.md).
let engineFlags: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "LSTMKit",
    products: [
        // The engine for Swift users.
        .library(name: "LSTMKit", targets: ["LSTMKit"]),
        // liblstmkit.so: the C ABI declared in include/lstmkit.h, for C and Python.
        .library(name: "lstmkit", type: .dynamic, targets: ["LSTMKitC"]),
        // The command-line tool (installed as `lstmkit` by the Python package; `swift run lstmkit-cli` here).
        .executable(name: "lstmkit-cli", targets: ["lstmkit-cli"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        .systemLibrary(name: "CLSTMKitHeader", path: "Sources/CLSTMKitHeader"),
        // zlib: PNG's deflate streams (Debian's zlib1g-dev).
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // The LSTM cell's gate math in C, with a variant per x86-64 ISA level picked at run time.
        .target(name: "CKernels"),
        // The engine, in four targets with a one-way dependency order (docs/ARCHITECTURE.md):
        // Core (tensors, BLAS, memory, errors, threads) <- IO (file formats) <- Layers
        // (layers, training) <- LSTMKit (models, model files; re-exports the other three).
        .target(name: "LSTMKitCore", dependencies: ["CBLAS", "CKernels"], swiftSettings: engineFlags),
        .target(name: "LSTMKitIO", dependencies: ["LSTMKitCore", "CZlib"], swiftSettings: engineFlags),
        .target(name: "LSTMKitLayers", dependencies: ["LSTMKitCore", "LSTMKitIO", "CKernels"], swiftSettings: engineFlags),
        .target(
            name: "LSTMKit", dependencies: ["LSTMKitCore", "LSTMKitIO", "LSTMKitLayers"], swiftSettings: engineFlags),
        .target(name: "LSTMKitC", dependencies: ["LSTMKit", "CLSTMKitHeader"], swiftSettings: engineFlags),
        .executableTarget(
            name: "lstmkit-cli",
            dependencies: ["LSTMKit", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(name: "lstmkit-bench", dependencies: ["LSTMKit"], path: "bench/swift", swiftSettings: engineFlags),
        .testTarget(name: "LSTMKitTests", dependencies: ["LSTMKitCore", "LSTMKitIO", "LSTMKitLayers", "LSTMKit"]),
    ],
    swiftLanguageModes: [.v5]
)
