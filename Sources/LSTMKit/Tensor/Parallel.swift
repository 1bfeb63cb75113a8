import Dispatch

/// Runs `body(i)` for every i in 0..<count, spread over up to `threads` worker threads
/// (worker w takes w, w + workers, …), or on the calling thread when one suffices.
///
/// While workers run, OpenBLAS is held to one thread per call: its thread pool is shared
/// by all callers, so concurrent calls queue behind its lock and spin — measured 16×
/// slower (image classifier prediction, 2 workers × 2 BLAS threads) than 1 × 1.
public func parallelForEach(_ count: Int, threads: Int, _ body: (Int) -> Void) {
    let workers = min(max(threads, 1), count)
    guard workers > 1 else {
        for i in 0..<count { body(i) }
        return
    }
    BLASThreadPin.enter()
    defer { BLASThreadPin.leave() }
    DispatchQueue.concurrentPerform(iterations: workers) { w in
        for i in stride(from: w, to: count, by: workers) { body(i) }
    }
}

/// Counts the parallel sections running; the first sets OpenBLAS to one thread, the
/// last restores the count it found.
enum BLASThreadPin {
    private static let queue = DispatchQueue(label: "lstmkit.blas-thread-pin")
    nonisolated(unsafe) private static var active = 0
    nonisolated(unsafe) private static var saved = 1

    static func enter() {
        queue.sync {
            if active == 0 {
                saved = BLAS.numThreads
                BLAS.numThreads = 1
            }
            active += 1
        }
    }

    static func leave() {
        queue.sync {
            active -= 1
            if active == 0 { BLAS.numThreads = saved }
        }
    }
}
