import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
        WorkerThread.isWorker = true
        defer { WorkerThread.isWorker = false }
        for i in stride(from: w, to: count, by: workers) { body(i) }
    }
}

/// Results written by `parallelForEach` workers, each slot by exactly one worker; read
/// `values` once the loop has returned. Writes take a lock: workers writing one Swift
/// array at once race even at distinct indices (its uniqueness check and storage).
final class ResultSlots<T>: @unchecked Sendable {
    private(set) var values: [T]
    private let lock = DispatchQueue(label: "lstmkit.resultslots")

    init(count: Int) where T: RangeReplaceableCollection { values = [T](repeating: T(), count: count) }

    func set(_ i: Int, _ v: T) { lock.sync { values[i] = v } }
}

/// The threads a computation on this thread may use: 1 on a `parallelForEach` worker
/// (its siblings hold the other cores), else the BLAS thread count the user configured —
/// even while another thread's parallel section holds OpenBLAS at one, so that the same
/// call always takes the same path (and gives the same bits) whatever runs beside it.
var availableThreads: Int {
    WorkerThread.isWorker ? 1 : BLASThreadPin.configuredThreads
}

/// Marks the threads `parallelForEach` runs its work on (a thread-local flag).
enum WorkerThread {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    static var isWorker: Bool {
        get { pthread_getspecific(key) != nil }
        set { pthread_setspecific(key, newValue ? UnsafeRawPointer(bitPattern: 1) : nil) }
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

    /// The user's BLAS thread count, also while a parallel section holds OpenBLAS at one.
    static var configuredThreads: Int {
        queue.sync { active > 0 ? saved : BLAS.numThreads }
    }

    static func leave() {
        queue.sync {
            active -= 1
            if active == 0 { BLAS.numThreads = saved }
        }
    }
}
