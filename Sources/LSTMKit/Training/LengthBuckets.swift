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
