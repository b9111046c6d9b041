/// How a model's linear weights are quantized: method, bit width (mixed widths allowed), block
/// size, double quantization.
public struct QuantizationSpec: Codable, Equatable, Sendable {
    /// Normal-float codebooks or symmetric uniform levels.
    public enum Method: String, Codable, Sendable, CaseIterable { case nf, uniform }

    /// `nf` (NF4/NF2) or `uniform` (int2/int4/int8).
    public var method: Method
    /// 4 or 2 (and 8 for uniform); 3, 2.5, 2.25 mix 4-bit and 2-bit layers.
    public var bits: Double
    /// Elements per absmax block.
    public var blockSize: Int
    /// Whether the absmax values are themselves quantized (8-bit, blocks of 256).
    public var doubleQuant: Bool

    /// A spec; `problem` says whether the combination is supported.
    public init(method: Method = .nf, bits: Double = 4, blockSize: Int = 64, doubleQuant: Bool = false) {
        self.method = method
        self.bits = bits
        self.blockSize = blockSize
        self.doubleQuant = doubleQuant
    }

    /// Why the spec is not supported, or nil.
    public var problem: String? {
        let allowed: [Double] = method == .nf ? [4, 3, 2.5, 2.25, 2] : [8, 4, 3, 2.5, 2.25, 2]
        if !allowed.contains(bits) {
            let listed = allowed.map { "\($0)" }.joined(separator: ", ")
            return "bits \(bits) is not supported for method \(method.rawValue) (allowed: \(listed))"
        }
        if blockSize < 1 || blockSize > 1 << 20 {
            return "block size must be positive and at most 2^20 (1048576), got \(blockSize)"
        }
        return nil
    }

    /// The number of leading layers kept at 4 bits in a model of `layers` layers:
    /// all of them at 4 (or 8) bits, none at 2, `floor(L·(bits−2)/2)` in between (LoftQ's rule).
    public func fourBitLayers(of layers: Int) -> Int {
        if bits >= 4 { return layers }
        return Int((Double(layers) * (bits - 2) / 2).rounded(.down))
    }

    /// The codebook of layer `layer` of `layers`.
    public func codebook(layer: Int, of layers: Int) -> Codebook {
        if bits == 8 { return .uniform(bits: 8) }
        let width = layer < fourBitLayers(of: layers) ? 4 : 2
        return method == .nf ? (width == 4 ? .nf4 : .nf2) : .uniform(bits: width)
    }
}
