import CLSTMKitHeader
import LSTMKit

// Reading a C config's fields: what only C needs (0/1 flags, fixed-array counts, enum
// codes), with messages that name the C field. Value ranges are the engine's tables
// (HyperParameterized.validate), whose names are the C field names.

/// An int field in [low, high] (for counts of a fixed-size C array).
func bounded(_ v: Int32, _ name: String, _ low: Int32, _ high: Int32) throws -> Int {
    guard v >= low, v <= high else { throw invalid("\(name) must be in [\(low), \(high)], got \(v)") }
    return Int(v)
}

/// A 0/1 field.
func flag(_ v: Int32, _ name: String) throws -> Bool {
    guard v == 0 || v == 1 else { throw invalid("\(name) must be 0 or 1, got \(v)") }
    return v == 1
}

/// The first `count` entries of a fixed-size C array of int32 (a tuple in Swift).
func cArray<T>(_ array: T, _ count: Int) -> [Int32] {
    withUnsafeBytes(of: array) { Array($0.bindMemory(to: Int32.self).prefix(count)) }
}

/// Writes values into a fixed-size C array of int32 (at most its capacity).
func setCArray<T>(_ array: inout T, _ values: [Int]) {
    withUnsafeMutableBytes(of: &array) { raw in
        let slots = raw.bindMemory(to: Int32.self)
        for (i, v) in values.prefix(slots.count).enumerated() { slots[i] = Int32(v) }
    }
}

func poolingCode(_ kind: SequencePoolingKind) -> Int32 {
    switch kind {
    case .last: return Int32(LK_POOLING_LAST)
    case .mean: return Int32(LK_POOLING_MEAN)
    case .max: return Int32(LK_POOLING_MAX)
    case .attention: return Int32(LK_POOLING_ATTENTION)
    }
}

func poolingKind(_ code: Int32) throws -> SequencePoolingKind {
    switch code {
    case Int32(LK_POOLING_LAST): return .last
    case Int32(LK_POOLING_MEAN): return .mean
    case Int32(LK_POOLING_MAX): return .max
    case Int32(LK_POOLING_ATTENTION): return .attention
    default:
        throw invalid("pooling must be LK_POOLING_LAST (0), LK_POOLING_MEAN (1), LK_POOLING_MAX (2) or "
                      + "LK_POOLING_ATTENTION (3), got \(code)")
    }
}
