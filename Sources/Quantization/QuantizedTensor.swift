import Autograd
import Support

/// A frozen weight stored blockwise-quantized: the flattened row-major values cut into blocks of
/// `blockSize` (a block may span two rows; a shorter last block has its own scale), each scaled
/// by its absmax, each element the nearest codebook level (ties to the lower index).
/// reference: QLoRA (Dettmers et al. 2023), peft 0.18.1 NFQuantizer (block layout and tie rule)
public struct QuantizedTensor: Sendable {
    /// The weight shape, [out, in] for a linear layer.
    public let shape: [Int]
    /// The level table.
    public let codebook: Codebook
    /// Elements per block.
    public let blockSize: Int
    /// One code per element, packed.
    public let codes: PackedCodes
    /// One absmax per block.
    public let scales: BlockScales

    /// Quantizes `values` of `shape`.
    public init(_ values: [Float], shape: [Int], codebook: Codebook, blockSize: Int = 64, doubleQuant: Bool = false) {
        precondition(
            values.count == shape.product && blockSize > 0,
            "QuantizedTensor: \(values.count) values for \(shape), block \(blockSize)")
        let blocks = (values.count + blockSize - 1) / blockSize
        var absmax = [Float](repeating: 0, count: blocks)
        var codes = [UInt8](repeating: 0, count: values.count)
        let zeroCode = UInt8(codebook.nearest(0))
        let count = values.count
        values.withUnsafeBufferPointer { x in
            absmax.withUnsafeMutableBufferPointer { absmaxBuffer in
                codes.withUnsafeMutableBufferPointer { codeBuffer in
                    let (scales, out) = (
                        SendablePointer(absmaxBuffer.baseAddress!), SendablePointer(codeBuffer.baseAddress!)
                    )
                    Parallel.forEach(blocks, costPerItem: 8 * blockSize) { blockRange in
                        for block in blockRange {
                            let range = (block * blockSize)..<min(count, (block + 1) * blockSize)
                            var peak: Float = 0
                            for i in range { peak = max(peak, abs(x[i])) }
                            scales.pointer[block] = peak
                            for i in range {
                                out.pointer[i] = peak > 0 ? UInt8(codebook.nearest(x[i] / peak)) : zeroCode
                            }
                        }
                    }
                }
            }
        }
        self.init(
            shape: shape, codebook: codebook, blockSize: blockSize,
            codes: PackedCodes(codes: codes, bits: codebook.bits),
            scales: doubleQuant ? .doubleQuantized(DoubleQuantizedScales(absmax)) : .plain(absmax))
    }

    /// A tensor from stored parts (as read from a file).
    public init(shape: [Int], codebook: Codebook, blockSize: Int, codes: PackedCodes, scales: BlockScales) {
        precondition(
            codes.count == shape.product && scales.count == (shape.product + blockSize - 1) / blockSize,
            "QuantizedTensor: \(codes.count) codes, \(scales.count) scales for \(shape) in blocks of \(blockSize)")
        self.shape = shape
        self.codebook = codebook
        self.blockSize = blockSize
        self.codes = codes
        self.scales = scales
    }

    /// The number of elements.
    public var count: Int { shape.product }

    /// Storage bits per weight, codes and scales included.
    public var bitsPerWeight: Double {
        Double(codes.bytes.count * 8 + scales.storageBits) / Double(count)
    }

    /// Dequantized elements `range` of the flattened weight, written to `out`, on the active SIMD
    /// path, or on `path` (returning false, writing nothing, when the CPU lacks it).
    @discardableResult
    public func dequantize(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>, path: SIMDPath? = nil) -> Bool {
        if range.isEmpty { return path?.isSupported ?? true }
        let firstBlock = range.lowerBound / blockSize
        let absmax = scales.absmax(blocks: firstBlock..<((range.upperBound + blockSize - 1) / blockSize))
        return codebook.levels.withUnsafeBufferPointer { levels in
            codes.bytes.withUnsafeBufferPointer { bytes in
                absmax.withUnsafeBufferPointer { scale in
                    DequantizationKernel.dequantize(
                        codes: bytes.baseAddress!, bits: codebook.bits, levels: levels.baseAddress!,
                        absmax: scale.baseAddress!, blockSize: blockSize, start: range.lowerBound,
                        count: range.count, into: out, path: path)
                }
            }
        }
    }

    /// The whole weight in fp32 (for tests and LoftQ; the matmul never calls this).
    public func dequantized() -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            dequantize(0..<count, into: buffer.baseAddress!)
            initialized = count
        }
    }
}

/// The per-block absmax of a quantized tensor: fp32, or double-quantized.
public enum BlockScales: Sendable {
    /// One fp32 absmax per block.
    case plain([Float])
    /// 8-bit codes of (absmax − mean) with an fp32 scale per 256 blocks.
    case doubleQuantized(DoubleQuantizedScales)

    /// The number of blocks.
    public var count: Int {
        switch self {
        case .plain(let values): return values.count
        case .doubleQuantized(let scales): return scales.count
        }
    }

    /// Bits used to store them.
    public var storageBits: Int {
        switch self {
        case .plain(let values): return values.count * 32
        case .doubleQuantized(let scales): return scales.storageBits
        }
    }

    /// The fp32 absmax of `blocks`.
    public func absmax(blocks: Range<Int>) -> [Float] {
        switch self {
        case .plain(let values): return Array(values[blocks])
        case .doubleQuantized(let scales): return blocks.map { scales.absmax($0) }
        }
    }
}

/// QLoRA's double quantization of the absmax values: subtract their mean, then quantize them in
/// blocks of 256 to bitsandbytes' dynamic 8-bit map with an fp32 absmax per block.
/// reference: QLoRA §3 "Double Quantization"; bitsandbytes quantize_blockwise
public struct DoubleQuantizedScales: Sendable {
    /// 8-bit codes, one per first-level block.
    public let codes: [UInt8]
    /// fp32 absmax per 256 codes.
    public let absmax: [Float]
    /// The mean subtracted before quantizing.
    public let offset: Float
    /// Blocks of the second level.
    public static let blockSize = 256

    /// Quantizes `scales`.
    public init(_ scales: [Float]) {
        var total: Double = 0
        for s in scales { total += Double(s) }
        let offset = scales.isEmpty ? 0 : Float(total / Double(scales.count))
        let centered = scales.map { $0 - offset }
        let q = QuantizedTensor(
            centered, shape: [centered.count], codebook: .dynamic8,
            blockSize: Self.blockSize, doubleQuant: false)
        guard case .plain(let absmax) = q.scales else { preconditionFailure() }
        self.init(codes: q.codes.bytes, absmax: absmax, offset: offset)
    }

    /// Stored parts.
    public init(codes: [UInt8], absmax: [Float], offset: Float) {
        precondition(
            absmax.count == (codes.count + Self.blockSize - 1) / Self.blockSize,
            "DoubleQuantizedScales: \(codes.count) codes with \(absmax.count) scales")
        (self.codes, self.absmax, self.offset) = (codes, absmax, offset)
    }

    /// The number of first-level blocks.
    public var count: Int { codes.count }

    /// Codes (8 bits each), second-level absmax and offset (32 bits each).
    public var storageBits: Int { codes.count * 8 + absmax.count * 32 + 32 }

    /// The reconstructed absmax of first-level block `index`.
    @inline(__always)
    public func absmax(_ index: Int) -> Float {
        Codebook.dynamic8.levels[Int(codes[index])] * absmax[index / Self.blockSize] + offset
    }
}
