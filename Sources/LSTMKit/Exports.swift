// `import LSTMKit` keeps giving everything: the public API of the lower targets is
// re-exported here (the layering is in Package.swift and docs/ARCHITECTURE.md).
@_exported import LSTMKitCore
@_exported import LSTMKitIO
@_exported import LSTMKitLayers
