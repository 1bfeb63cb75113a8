import LSTMKitCore

/// Batches of examples of similar length, for training sequence models with little
/// padding: shuffle, sort within windows of 50 batches (longest first, so the LSTM can
/// skip finished rows), cut into batches, shuffle the batches.
public func lengthBucketedBatches(lengths: [Int], batchSize: Int, rng: inout SeededRandom) -> [[Int]] {
    var order = Array(lengths.indices)
    order.shuffle(using: &rng)
    let window = batchSize * 50
    var batches: [[Int]] = []
    for w in stride(from: 0, to: order.count, by: window) {
        let chunk = order[w..<min(w + window, order.count)].sorted { lengths[$0] > lengths[$1] }
        for b in stride(from: chunk.startIndex, to: chunk.endIndex, by: batchSize) {
            batches.append(Array(chunk[b..<min(b + batchSize, chunk.endIndex)]))
        }
    }
    batches.shuffle(using: &rng)
    return batches
}

/// Batches of `batchSize` consecutive examples of a random order (a Fisher–Yates
/// shuffle of 0..<count), for examples of one size (images).
public func shuffledBatches(count n: Int, batchSize: Int, rng: inout SeededRandom) -> [[Int]] {
    var order = Array(0..<n)
    for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
    return stride(from: 0, to: n, by: batchSize).map { Array(order[$0..<min($0 + batchSize, n)]) }
}
