import Foundation

/// A deterministic random stream (xoshiro256**, seeded through SplitMix64).
///
/// Every random choice in Loft comes from a `RandomState` derived from the one seed of the run
/// config, split into named sub-streams (`rng.split("lora_init")`) so that adding randomness in
/// one place never shifts another. The state is four words and can be saved and restored.
/// reference: Blackman & Vigna, "Scrambled linear pseudorandom number generators" (xoshiro256**)
public struct RandomState: RandomNumberGenerator, Codable, Equatable, Sendable {
    /// The generator state; saved in checkpoints.
    public private(set) var words: [UInt64]

    /// A stream seeded from `seed`.
    public init(seed: UInt64) {
        var mixer = seed
        words = (0..<4).map { _ in RandomState.splitMix64(&mixer) }
    }

    /// A stream resumed from saved state words.
    public init(words: [UInt64]) {
        precondition(
            words.count == 4 && words.contains { $0 != 0 },
            "RandomState: need 4 state words, not all zero")
        self.words = words
    }

    /// An independent stream named `name`, derived from this stream's current state without
    /// advancing it.
    public func split(_ name: String) -> RandomState {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a over the UTF-8 name
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return RandomState(seed: words[0] ^ words[2] &* 0x9e37_79b9_7f4a_7c15 ^ hash)
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        var (s0, s1, s2, s3) = (words[0], words[1], words[2], words[3])
        let result = Self.advance(&s0, &s1, &s2, &s3)
        (words[0], words[1], words[2], words[3]) = (s0, s1, s2, s3)
        return result
    }

    /// A dropout keep-mask of `count` elements as bits: element i kept unless `nextUniform() < p`,
    /// drawn in order — the same draws as that loop, with the state held in registers (a call per
    /// element through the state array was 7% of a training step).
    public mutating func keepMask(count: Int, dropProbability p: Float) -> KeepMask {
        var (s0, s1, s2, s3) = (words[0], words[1], words[2], words[3])
        var bits = [UInt64](repeating: 0, count: (count + 63) / 64)
        for i in 0..<count where Self.uniform(Self.advance(&s0, &s1, &s2, &s3)) >= p {
            bits[i >> 6] |= 1 << UInt64(i & 63)
        }
        (words[0], words[1], words[2], words[3]) = (s0, s1, s2, s3)
        return KeepMask(words: bits, count: count)
    }

    /// A Float uniform in [0, 1) with 24 random bits.
    public mutating func nextUniform() -> Float { Self.uniform(next()) }

    /// One xoshiro256** step on the four state words: returns the output, advances the state.
    @inline(__always)
    private static func advance(_ s0: inout UInt64, _ s1: inout UInt64, _ s2: inout UInt64, _ s3: inout UInt64)
        -> UInt64
    {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    /// 64 random bits as a Float uniform in [0, 1) (the top 24 bits).
    @inline(__always)
    private static func uniform(_ bits: UInt64) -> Float { Float(bits >> 40) * (1.0 / 16_777_216.0) }

    /// A standard normal Float (Box–Muller on two uniforms, computed in Double).
    public mutating func nextNormal() -> Float {
        let u1 = (Double(next() >> 11) + 1) * (1.0 / 9_007_199_254_740_992.0)  // (0, 1]
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// `count` normal values with the given standard deviation.
    public mutating func normal(count: Int, std: Float = 1) -> [Float] {
        (0..<count).map { _ in nextNormal() * std }
    }

    /// `count` values uniform in [low, high).
    public mutating func uniform(count: Int, low: Float, high: Float) -> [Float] {
        (0..<count).map { _ in low + (high - low) * nextUniform() }
    }

    @inline(__always) private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 {
        (x << k) | (x >> (64 - k))
    }

    private static func splitMix64(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
