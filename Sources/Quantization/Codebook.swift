/// The levels a quantized weight can take, normalised to [-1, 1] and sorted ascending.
public struct Codebook: Equatable, Sendable {
    /// A short name (`nf4`, `nf2`, `int4`, ...), stored in quantized files.
    public let name: String
    /// The sorted levels.
    public let levels: [Float]
    /// Bits per code.
    public let bits: Int

    /// A codebook from sorted `levels` and a code width.
    public init(name: String, levels: [Float], bits: Int) {
        precondition(
            levels.count <= 1 << bits && levels == levels.sorted(),
            "Codebook \(name): \(levels.count) sorted levels need at most \(bits) bits")
        (self.name, self.levels, self.bits) = (name, levels, bits)
    }

    /// NormalFloat4, bit-exact with bitsandbytes / QLoRA.
    /// reference: bitsandbytes functional.py (NF4 table), QLoRA (Dettmers et al. 2023)
    public static let nf4 = Codebook(
        name: "nf4",
        levels: [
            -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
            -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
            0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
            0.7229568362236023, 1.0,
        ], bits: 4)

    /// NormalFloat2, as LoftQ's `create_normal_map(0.9677083)` at 2 bits.
    /// reference: peft 0.18.1 utils/loftq_utils.py (NFQuantizer)
    public static let nf2 = Codebook(name: "nf2", levels: [-1, 0, 0.33791524171829224, 1], bits: 2)

    /// Symmetric uniform absmax levels `k / (2^(b−1) − 1)`, |k| ≤ 2^(b−1) − 1 (int2: −1, 0, 1).
    public static func uniform(bits: Int) -> Codebook {
        precondition([2, 4, 8].contains(bits), "uniform codebook: bits must be 2, 4 or 8, got \(bits)")
        let top = (1 << (bits - 1)) - 1
        return Codebook(name: "int\(bits)", levels: (-top...top).map { Float($0) / Float(top) }, bits: bits)
    }

    /// bitsandbytes' signed dynamic 8-bit map (used for double quantization of the scales).
    /// reference: bitsandbytes functional.create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)
    public static let dynamic8: Codebook = {
        var data: [Float] = []
        for i in 0..<7 {
            let items = (1 << i) + 1
            let boundaries = (0..<items).map { 0.1 + 0.9 * Float($0) / Float(items - 1) }
            let means = (0..<(items - 1)).map { (boundaries[$0] + boundaries[$0 + 1]) / 2 }
            let magnitude = Float(pow10(-6 + i))
            data += means.map { magnitude * $0 } + means.map { -magnitude * $0 }
        }
        data += [0, 1]
        return Codebook(name: "dynamic8", levels: data.sorted(), bits: 8)
    }()

    /// The codebook of a name written by `name`.
    public static func named(_ name: String) -> Codebook? {
        switch name {
        case "nf4": return .nf4
        case "nf2": return .nf2
        case "int2": return .uniform(bits: 2)
        case "int4": return .uniform(bits: 4)
        case "int8": return .uniform(bits: 8)
        case "dynamic8": return .dynamic8
        default: return nil
        }
    }

    /// The index of the level nearest to `value` (ties go to the lower index), comparing
    /// `|value − level|` in Float32 exactly as PEFT's `argmin` does.
    @inline(__always)
    public func nearest(_ value: Float) -> Int {
        levels.withUnsafeBufferPointer { c in
            var (low, high) = (0, c.count - 1)
            if !(value > c[0]) { return 0 }
            if value >= c[high] { return high }
            while high - low > 1 {  // invariant: c[low] < value < c[high] or value == c[low]
                let mid = (low + high) / 2
                if c[mid] <= value { low = mid } else { high = mid }
            }
            return abs(value - c[low]) <= abs(value - c[high]) ? low : high
        }
    }

    /// The largest gap between neighbouring levels (twice the worst rounding error on [-1, 1]).
    public var largestGap: Float { zip(levels, levels.dropFirst()).map { $1 - $0 }.max() ?? 0 }
}

private func pow10(_ exponent: Int) -> Double {
    var result = 1.0
    for _ in 0..<abs(exponent) { result *= 10 }
    return exponent < 0 ? 1 / result : result
}
