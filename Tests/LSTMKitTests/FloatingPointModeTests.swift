import Testing
@testable import LSTMKitCore

/// A denormal, multiplied by a 1 the optimizer cannot see.
nonisolated(unsafe) private var one: Float = 1

/// Whether this thread computes with denormals flushed to zero: the smallest denormal
/// times 1 is 0 only then.
@inline(never)
func flushesDenormals() -> Bool {
    Float(bitPattern: 1) * one == 0
}

@Suite("Floating-point mode")
struct FloatingPointModeTests {
    @Test("withDenormalsFlushed flushes on this thread, nests, and restores the mode it found")
    func flushedScope() {
        #expect(!flushesDenormals())
        withDenormalsFlushed {
            #expect(flushesDenormals())
            withDenormalsFlushed { #expect(flushesDenormals()) }
            #expect(flushesDenormals())
        }
        #expect(!flushesDenormals())
        // A throwing body restores it too.
        struct Thrown: Error {}
        #expect(throws: Thrown.self) { try withDenormalsFlushed { throw Thrown() } }
        #expect(!flushesDenormals())
    }

    @Test("parallelForEach's workers take the caller's mode, and leave their threads as they were")
    func workersTakeTheCallersMode() {
        func modes() -> [Bool] {
            let slots = ResultSlots<[Bool]>(count: 64)
            parallelForEach(64, threads: 2) { slots.set($0, [flushesDenormals()]) }
            return slots.values.map { $0[0] }
        }
        #expect(modes().allSatisfy { !$0 })
        #expect(withDenormalsFlushed(modes).allSatisfy { $0 })
        #expect(modes().allSatisfy { !$0 })
    }
}
