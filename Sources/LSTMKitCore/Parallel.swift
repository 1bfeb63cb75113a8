import CKernels
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `body(i)` for every i in 0..<count, spread over up to `threads` worker threads
/// (worker w takes w, w + workers, …), or on the calling thread when one suffices; the
/// workers take the caller's floating-point mode.
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
    guard ck_thread_pool_usable() != 0 else {
        // A child forked after libdispatch's worker pool had started: the pool does not
        // survive fork. The workers' work runs on this thread, as a worker (the same
        // threads per call, so the same bits), on one core.
        let wasWorker = WorkerThread.isWorker
        WorkerThread.isWorker = true
        defer { WorkerThread.isWorker = wasWorker }
        for i in 0..<count { body(i) }
        return
    }
    // The workers compute in the caller's floating-point mode (withDenormalsFlushed), so
    // a worker's share gives the bits it would on the calling thread.
    let mode = ck_fp_mode()
    DispatchQueue.concurrentPerform(iterations: workers) { w in
        WorkerThread.isWorker = true
        defer { WorkerThread.isWorker = false }
        withFloatingPointMode(mode) {
            for i in stride(from: w, to: count, by: workers) { body(i) }
        }
    }
}

/// Results written by `parallelForEach` workers, each slot by exactly one worker; read
/// `values` once the loop has returned. Writes take a lock: workers writing one Swift
/// array at once race even at distinct indices (its uniqueness check and storage).
package final class ResultSlots<T>: @unchecked Sendable {
    package private(set) var values: [T]
    private let lock = DispatchQueue(label: "lstmkit.resultslots")

    package init(count: Int) where T: RangeReplaceableCollection { values = [T](repeating: T(), count: count) }

    package func set(_ i: Int, _ v: T) { lock.sync { values[i] = v } }
}

/// The threads a computation on this thread may use: 1 on a `parallelForEach` worker
/// (its siblings hold the other cores), else the BLAS thread count the user configured —
/// even while another thread's parallel section holds OpenBLAS at one, so that the same
/// call always takes the same path (and gives the same bits) whatever runs beside it.
package var availableThreads: Int {
    WorkerThread.isWorker ? 1 : BLASThreadPin.configuredThreads
}

extension BLAS {
    /// The BLAS thread count the user set (lk_set_num_threads), which parallel sections
    /// hold at one while they run and restore after; a forked child restores it too.
    public static var configuredThreads: Int {
        get { BLASThreadPin.configuredThreads }
        set { BLASThreadPin.configuredThreads = newValue }
    }
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
/// last restores the count it found. Each step runs in the fork gate (no fork copies the
/// queue held); a forked child drops the sections of the threads fork left behind and
/// restores the count they had pinned.
package enum BLASThreadPin {
    private static let queue = DispatchQueue(label: "lstmkit.blas-thread-pin")
    nonisolated(unsafe) private static var active = 0
    nonisolated(unsafe) private static var saved = 1
    nonisolated(unsafe) private static var generation: UInt = 0

    private static func locked<R>(_ body: () -> R) -> R {
        ck_fork_gate_enter()
        defer { ck_fork_gate_leave() }
        return queue.sync {
            if generation != ck_fork_generation() {
                generation = ck_fork_generation()
                if active > 0 { BLAS.numThreads = saved }
                active = 0
            }
            return body()
        }
    }

    package static func enter() {
        locked {
            if active == 0 {
                saved = BLAS.numThreads
                BLAS.numThreads = 1
            }
            active += 1
        }
    }

    /// The user's BLAS thread count, also while a parallel section holds OpenBLAS at one
    /// (set then, it takes effect when the last section ends).
    static var configuredThreads: Int {
        get { locked { active > 0 ? saved : BLAS.numThreads } }
        set {
            locked {
                if active > 0 { saved = min(max(1, newValue), Int(Int32.max)) } else { BLAS.numThreads = newValue }
            }
        }
    }

    package static func leave() {
        locked {
            // 0 already: the section began before this process was forked from it.
            guard active > 0 else { return }
            active -= 1
            if active == 0 { BLAS.numThreads = saved }
        }
    }
}
