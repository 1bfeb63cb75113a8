import CKernels
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Memory the image layers reuse instead of taking fresh pages from the system: scratch
// buffers for temporaries within a call, and recycled arrays for the outputs of a
// training step or a prediction worker.

/// Reusable float buffers for the image layers' temporaries (im2col columns, GEMM
/// products, packed images). Without them a segmenter training step took ~150 MB of
/// fresh pages from the system (the allocator returns large blocks on free), and the
/// page faults and zero-fills were a fifth of the step. Thread-safe: a buffer belongs to
/// one caller inside `with`; at most `kept` idle buffers are held between calls. The lock
/// is taken in the fork gate (a fork never copies it held).
package enum ScratchBuffers {
    private static let lock = DispatchSemaphore(value: 1)
    nonisolated(unsafe) private static var idle: [UnsafeMutableBufferPointer<Float>] = []
    /// Idle buffers held at most (a training step needs three at once, parallel
    /// prediction three per worker).
    static let kept = 6
    /// Smaller requests go straight to the allocator (they come from its free lists).
    static let smallest = 1 << 15

    /// Runs `body` on an uninitialised buffer of at least `count` floats.
    package static func with<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        if count < smallest {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            defer { p.deallocate() }
            return try body(p)
        }
        let buffer = take(count)
        defer { giveBack(buffer) }
        return try body(buffer.baseAddress!)
    }

    private static func take(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
        ck_fork_gate_enter()
        defer { ck_fork_gate_leave() }
        lock.wait()
        var best: Int?
        for (i, b) in idle.enumerated() where b.count >= count && (best.map { b.count < idle[$0].count } ?? true) { best = i }
        let found = best.map { idle.remove(at: $0) }
        lock.signal()
        return found ?? .allocate(capacity: count)
    }

    private static func giveBack(_ buffer: UnsafeMutableBufferPointer<Float>) {
        ck_fork_gate_enter()
        defer { ck_fork_gate_leave() }
        lock.wait()
        idle.append(buffer)
        var dropped: UnsafeMutableBufferPointer<Float>?
        if idle.count > kept, let smallest = idle.indices.min(by: { idle[$0].count < idle[$1].count }) {
            dropped = idle.remove(at: smallest)
        }
        lock.signal()
        dropped?.deallocate()
    }
}

/// The float arrays of a finished training step (its cache and gradients), handed out
/// again by the next step, whose tensors have the same sizes: the step then keeps its
/// memory instead of taking fresh pages from the system (the allocator returns large
/// blocks on free; a page fault per 4 KiB was a fifth of a segmenter step). Arrays are
/// matched by exact size. While `scope` runs, the image layers' outputs on that thread
/// come from here (`FloatKernels.array`); an array someone still holds is copied on
/// write, never changed, so giving one back is always safe. Not thread-safe: one
/// recycler per training loop.
package final class ArrayRecycler {
    private var spare: [Int: [[Float]]] = [:]
    /// Requests per size in the current step: what the next step will ask for again.
    private var requests: [Int: Int] = [:]
    /// Smaller arrays come from the allocator's free lists anyway.
    let minimumCount: Int

    package init(minimumCount: Int = 1 << 14) { self.minimumCount = minimumCount }

    /// How many requests were served from spare arrays (for tests).
    private(set) var reuses = 0

    func take(_ count: Int) -> [Float]? {
        guard count >= minimumCount else { return nil }
        requests[count, default: 0] += 1
        guard let array = spare[count]?.popLast() else { return nil }
        reuses += 1
        return array
    }

    /// Offers `array` to later `take`s (each storage once).
    package func give(_ array: [Float]) {
        guard array.count >= minimumCount else { return }
        let base = array.withUnsafeBufferPointer { $0.baseAddress }
        if spare[array.count]?.contains(where: { a in a.withUnsafeBufferPointer { $0.baseAddress } == base }) == true { return }
        spare[array.count, default: []].append(array)
    }

    package func give(_ tensors: [Tensor]) { for t in tensors { give(t.data) } }

    /// Ends a step: keeps per size only as many arrays as the step asked for.
    package func endStep() {
        for (count, arrays) in spare where arrays.count > requests[count, default: 0] {
            spare[count] = Array(arrays.prefix(requests[count, default: 0]))
        }
        requests.removeAll(keepingCapacity: true)
    }

    /// Frees every spare array (the end of training).
    package func clear() {
        spare.removeAll()
        requests.removeAll()
    }

    /// Runs `body` with this recycler serving the calling thread's image-layer outputs.
    package func scope<R>(_ body: () throws -> R) rethrows -> R {
        let previous = pthread_getspecific(Self.key)
        pthread_setspecific(Self.key, Unmanaged.passUnretained(self).toOpaque())
        defer { pthread_setspecific(Self.key, previous) }
        return try body()
    }

    /// The recycler of the calling thread's current `scope`, if any.
    package static var current: ArrayRecycler? {
        pthread_getspecific(key).map { Unmanaged<ArrayRecycler>.fromOpaque($0).takeUnretainedValue() }
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()
}

// The image layers' output arrays, drawn from the recycler above.
extension FloatKernels {
    /// An array of `count` floats that `body` must fill completely (no zero-fill first),
    /// from the current `ArrayRecycler` when there is one.
    @inline(__always)
    package static func array(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> Void) rethrows -> [Float] {
        guard count > 0 else { return [] }
        if var reused = ArrayRecycler.current?.take(count) {
            try reused.withUnsafeMutableBufferPointer { try body($0.baseAddress!) }
            return reused
        }
        return try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            try body(buffer.baseAddress!)
            initialized = count
        }
    }

    /// `count` zeros, from the current `ArrayRecycler` when there is one.
    package static func zeros(_ count: Int) -> [Float] {
        if var reused = ArrayRecycler.current?.take(count) {
            reused.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            return reused
        }
        return [Float](repeating: 0, count: count)
    }
}
