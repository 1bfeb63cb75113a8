import Foundation
import Testing
@testable import LSTMKit
@testable import LSTMKitCore

/// The one checked path for allocations sized by a caller or a file (`Memory.check`):
/// sizes that overflow, exceed the limit or cannot be had are errors, never aborts.
@Suite("Checked allocations")
struct MemoryTests {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/golden").standardized.path

    func isOutOfMemory(_ error: any Error, _ text: String) -> Bool {
        guard case LSTMKitError.outOfMemory(let m) = error else { return false }
        return m.contains(text)
    }

    @Test("a size that overflows is outOfMemory, naming the request")
    func overflow() {
        #expect { try Memory.check([1 << 40, 1 << 40], for: "the test's request") } throws: {
            isOutOfMemory($0, "the test's request is too large to allocate (its size overflows)")
        }
        #expect { try Memory.check(sum: [[1 << 62], [1 << 62]], elementSize: 1, for: "two halves") } throws: {
            isOutOfMemory($0, "overflows")
        }
        #expect(Memory.bytes([3, -1]) == nil)
    }

    @Test("a size beyond the limit is outOfMemory before anything is tried")
    func beyondLimit() {
        #expect { try Memory.check([1 << 50], for: "a petabyte") } throws: {
            isOutOfMemory($0, "a petabyte needs 4503.6 TB, more than this machine")
        }
        #expect { try Tensor(checkedZeros: [1 << 30, 1 << 20], for: "a huge tensor") } throws: { isOutOfMemory($0, "a huge tensor") }
        #expect { try [Double](checkedRepeating: 0, count: Int.max / 4, for: "doubles") } throws: { isOutOfMemory($0, "doubles") }
    }

    @Test("a call's own bound (cap) is applied below the limit")
    func cap() {
        #expect { try Memory.check([1000], cap: 3999, for: "a thousand floats") } throws: {
            isOutOfMemory($0, "a thousand floats needs 4000 bytes, more than this call's bound (3999 bytes)")
        }
        #expect((try? Memory.check([1000], cap: 4000, for: "a thousand floats")) == 1000)
    }

    @Test("sizes that fit pass and give their element count")
    func fits() throws {
        #expect(try Memory.check([3, 5, 7], for: "small") == 105)
        #expect(try Memory.check([0, 1 << 62], for: "empty") == 0)
        let t = try Tensor(checkedZeros: [2, 3], for: "small")
        #expect(t == Tensor(zeros: [2, 3]))
        #expect(try [Int32](checkedRepeating: 7, count: 4, for: "small") == [7, 7, 7, 7])
    }

    @Test("LSTMKIT_MAX_ALLOC_BYTES: a positive integer overrides the machine's memory; anything else is ignored")
    func limitFromEnvironment() {
        #expect(Memory.limit(environment: "123456", physical: 1 << 34) == 123_456)
        for ignored in [nil, "", "0", "-5", "12GB", "1e9", "99999999999999999999999"] {
            #expect(Memory.limit(environment: ignored, physical: 1 << 34) == 1 << 34, "\(ignored ?? "nil")")
        }
        #expect(Memory.physicalBytes > 1 << 20)
        #expect(Memory.limit <= Memory.physicalBytes || ProcessInfo.processInfo.environment["LSTMKIT_MAX_ALLOC_BYTES"] != nil)
    }

    @Test("segmenter: predicting a 16384×16384 image is outOfMemory (it aborted allocating 68.7 GB)")
    func segmenterPredict16384Square() throws {
        let model = try ImageSegmenter.load(from: Self.golden + "/segmenter.safetensors")
        #expect { try model.checkPredictionMemory(n: 1, height: 16384, width: 16384) } throws: {
            isOutOfMemory($0, "predicting 1 image of 16384×16384 needs")
        }
        // So many images that the output alone overflows.
        #expect { try model.checkPredictionMemory(n: Int.max / 2, height: 16, width: 16) } throws: { isOutOfMemory($0, "overflows") }
        // An ordinary request passes, and predicts as before.
        try model.checkPredictionMemory(n: 64, height: 64, width: 64, threads: 2)
        let image = Tensor(shape: [1, 16, 16, 3], data: (0..<768).map { Float($0 % 251) })
        #expect(try model.predict(image).count == 256)
    }

    @Test("tokenizer: segmenting checks its need per byte of text first")
    func tokenizerSegmentingMemory() throws {
        try Tokenizer.checkSegmentingMemory(utf8Bytes: 1 << 20)
        #expect { try Tokenizer.checkSegmentingMemory(utf8Bytes: Int.max / 4) } throws: { isOutOfMemory($0, "segmenting") }
        #expect { try Tokenizer.checkSegmentingMemory(utf8Bytes: 1 << 50) } throws: {
            isOutOfMemory($0, "segmenting 1125899906842624 bytes of text needs 36028.8 TB, more than")
        }
    }
}
