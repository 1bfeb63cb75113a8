/// A small, fast, seedable generator (xoshiro256**, seeded through SplitMix64), so
/// that the same seed gives the same weights and dropout masks on every machine.
///
/// Its drawing functions are `@inlinable`: models in the targets above draw their
/// initial weights through them element by element, and a call across the target
/// boundary per draw cost model loading 7 % more instructions.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    @usableFromInline var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    @inlinable @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = rotl(s.3, 45)
        return result
    }

    /// The seed of member `k` of an ensemble seeded by `seed`: `seed` itself for member 0,
    /// a SplitMix-scrambled value for the others, so that the ensembles of seeds s and
    /// s + 1 share no member (with seed + k they would share all but one).
    public static func memberSeed(_ seed: UInt64, _ k: Int) -> UInt64 {
        guard k != 0 else { return seed }
        var g = SeededRandom(seed: seed ^ (UInt64(truncatingIfNeeded: k) &* 0xD1B5_4A32_D192_ED03))
        return g.next()
    }

    /// The generator's whole state, so a training checkpoint can continue its sequence
    /// exactly (`init(state:)`).
    public var state: [UInt64] { [s.0, s.1, s.2, s.3] }

    /// A generator in `state` (four words, not all 0, as `state` gives them).
    public init?(state: [UInt64]) {
        guard state.count == 4, state.contains(where: { $0 != 0 }) else { return nil }
        s = (state[0], state[1], state[2], state[3])
    }

    @inlinable @inline(__always)
    func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 24 bits of precision.
    @inlinable @inline(__always)
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Uniform in [low, high).
    @inlinable
    public mutating func uniform(_ low: Float, _ high: Float) -> Float {
        low + (high - low) * nextUnitFloat()
    }

    /// Standard normal (Box-Muller).
    @inlinable
    public mutating func normal() -> Float {
        var u1 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        if u1 < 1e-300 { u1 = 1e-300 }
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }

    /// An independent generator derived from this one (for a sub-module).
    public mutating func split() -> SeededRandom { SeededRandom(seed: next()) }

    // MARK: Initial weights

    /// Initial weights, uniform in [-bound, bound): values[i] = uniform(-bound, bound).
    /// Inside `skippingInitialValues` it only advances the generator as the draws would.
    @inlinable
    public mutating func fillUniform(_ values: inout [Float], bound: Float) {
        if InitialValues.skipped { return advance(values.count) }
        for i in values.indices { values[i] = uniform(-bound, bound) }
    }

    /// Initial weights, standard normal times `scale`: values[i] = normal() * scale.
    /// Inside `skippingInitialValues` it only advances the generator as the draws would.
    @inlinable
    public mutating func fillNormal(_ values: inout [Float], scale: Float = 1) {
        if InitialValues.skipped { return advance(2 * values.count) }
        for i in values.indices { values[i] = normal() * scale }   // x * 1 is x exactly
    }

    /// Draws `count` numbers and drops them.
    @inlinable
    public mutating func advance(_ count: Int) {
        for _ in 0..<count { _ = next() }
    }

    /// Runs `body` with the weight fills (`fillUniform`, `fillNormal`) on this thread
    /// leaving their arrays as they are and only advancing their generators by what the
    /// draws would take: for building a model whose every weight a file then overwrites
    /// (`ModelFile.open`). The generators end where they would have, so what is drawn
    /// after (a dropout stream, a derived seed) is unchanged; only the Box–Muller
    /// log/cos and the arithmetic are saved (a fifth of loading the bundled tokenizer).
    public static func skippingInitialValues<R>(_ body: () throws -> R) rethrows -> R {
        let outer = InitialValues.skipped
        InitialValues.skipped = true
        defer { InitialValues.skipped = outer }
        return try body()
    }
}

/// The thread-local flag of `SeededRandom.skippingInitialValues`.
@usableFromInline
enum InitialValues {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    @usableFromInline
    static var skipped: Bool {
        get { pthread_getspecific(key) != nil }
        set { pthread_setspecific(key, newValue ? UnsafeRawPointer(bitPattern: 1) : nil) }
    }
}

// Foundation-free libm access.
#if canImport(Glibc)
import Glibc
@usableFromInline @inline(__always) func _log(_ x: Double) -> Double { Glibc.log(x) }
@usableFromInline @inline(__always) func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#elseif canImport(Darwin)
import Darwin
@usableFromInline @inline(__always) func _log(_ x: Double) -> Double { Darwin.log(x) }
@usableFromInline @inline(__always) func _cos(_ x: Double) -> Double { Darwin.cos(x) }
#endif
