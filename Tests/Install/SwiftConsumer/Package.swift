// swift-tools-version:6.0
// A Swift package that uses LSTMKit as a Swift user would: a dependency on the package
// (here by path, from Tests/Install/SwiftConsumer) and on its LSTMKit product.
// .ci/run builds and runs it: swift run --package-path Tests/Install/SwiftConsumer consumer MODEL
import PackageDescription

let package = Package(
    name: "consumer",
    dependencies: [.package(name: "LSTMKit", path: "../../..")],
    targets: [
        .executableTarget(name: "consumer", dependencies: [.product(name: "LSTMKit", package: "LSTMKit")]),
    ]
)
