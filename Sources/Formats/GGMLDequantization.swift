import Autograd

/// The ggml tensor types Loft reads from GGUF files (the numbers are ggml's).
public enum GGMLType: UInt32, Sendable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8
    case q4_K = 12, q5_K = 13, q6_K = 14, bf16 = 30

    /// Elements per block.
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0: return 32
        case .q4_K, .q5_K, .q6_K: return 256
        }
    }

    /// Bytes per block (ggml-common.h's `block_*` sizes).
    public var bytesPerBlock: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 18  // d, qs[16]
        case .q4_1: return 20  // d, m, qs[16]
        case .q5_0: return 22  // d, qh[4], qs[16]
        case .q5_1: return 24  // d, m, qh[4], qs[16]
        case .q8_0: return 34  // d, qs[32]
        case .q4_K: return 144  // d, dmin, scales[12], qs[128]
        case .q5_K: return 176  // d, dmin, scales[12], qh[32], qs[128]
        case .q6_K: return 210  // ql[128], qh[64], scales[16], d
        }
    }

    public var description: String { Self.name(of: rawValue) }

    /// ggml's name of type number `raw`, known to Loft or not.
    public static func name(of raw: UInt32) -> String {
        let names: [UInt32: String] = [
            0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
            10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS",
            17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S",
            23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16",
        ]
        return names[raw].map { "\($0) (\(raw))" } ?? "unknown type \(raw)"
    }
}

/// ggml blocks → fp32, one type each, blocks in parallel.
/// reference: llama.cpp ggml/src/ggml-common.h (block layouts), ggml-quants.c (dequantize_row_*)
public enum GGMLDequantization {
    /// Dequantizes `count` elements (a whole number of blocks) of `type` at `source` into `out`.
    public static func dequantize(
        _ type: GGMLType, from source: UnsafeRawPointer, count: Int, into out: UnsafeMutablePointer<Float>
    ) {
        let blocks = count / type.blockSize
        let target = SendablePointer(out)
        let input = UnsafeSendableRawPointer(source)
        Parallel.forEach(blocks, costPerItem: 4 * type.blockSize) { range in
            for block in range {
                let b = input.pointer + block * type.bytesPerBlock, y = target.pointer + block * type.blockSize
                switch type {
                case .f32: y[0] = Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(as: UInt32.self)))
                case .f16: y[0] = half(b, 0)
                case .bf16:
                    y[0] = Float(bitPattern: UInt32(UInt16(littleEndian: b.loadUnaligned(as: UInt16.self))) << 16)
                case .q4_0: q4(b + 2, bias: 8, scale: half(b, 0), offset: 0, y)
                case .q4_1: q4(b + 4, bias: 0, scale: half(b, 0), offset: half(b, 2), y)
                case .q5_0: q5(b + 6, high: b + 2, bias: 16, scale: half(b, 0), offset: 0, y)
                case .q5_1: q5(b + 8, high: b + 4, bias: 0, scale: half(b, 0), offset: half(b, 2), y)
                case .q8_0:
                    let d = half(b, 0)
                    for j in 0..<32 { y[j] = d * Float(b.load(fromByteOffset: 2 + j, as: Int8.self)) }
                case .q4_K: kQuant(b, bits: 4, y)
                case .q5_K: kQuant(b, bits: 5, y)
                case .q6_K: q6K(b, y)
                }
            }
        }
    }

    /// An fp16 at byte `offset`.
    @inline(__always)
    static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
    }

    /// 32 4-bit codes (low nibbles are elements 0–15, high nibbles 16–31): `y = (code − bias)·scale + offset`.
    @inline(__always)
    static func q4(_ qs: UnsafeRawPointer, bias: Int, scale: Float, offset: Float, _ y: UnsafeMutablePointer<Float>) {
        for j in 0..<16 {
            let byte = qs.load(fromByteOffset: j, as: UInt8.self)
            y[j] = Float(Int(byte & 0xF) - bias) * scale + offset
            y[j + 16] = Float(Int(byte >> 4) - bias) * scale + offset
        }
    }

    /// 32 5-bit codes: 4 low bits as `q4`, the fifth bit of element j in bit j of `qh`:
    /// `y = (code − bias)·scale + offset`.
    @inline(__always)
    static func q5(
        _ qs: UnsafeRawPointer, high: UnsafeRawPointer, bias: Int, scale: Float, offset: Float,
        _ y: UnsafeMutablePointer<Float>
    ) {
        let qh = UInt32(littleEndian: high.loadUnaligned(as: UInt32.self))
        for j in 0..<16 {
            let byte = qs.load(fromByteOffset: j, as: UInt8.self)
            let low = UInt32(byte & 0xF) | ((qh >> j) & 1) << 4
            let up = UInt32(byte >> 4) | ((qh >> (j + 16)) & 1) << 4
            y[j] = Float(Int(low) - bias) * scale + offset
            y[j + 16] = Float(Int(up) - bias) * scale + offset
        }
    }

    /// The 6-bit scale and min of sub-block `j` (0..<8) packed in 12 bytes (`get_scale_min_k4`).
    @inline(__always)
    static func scaleMin(_ j: Int, _ q: UnsafeRawPointer) -> (Float, Float) {
        func byte(_ i: Int) -> UInt8 { q.load(fromByteOffset: i, as: UInt8.self) }
        if j < 4 { return (Float(byte(j) & 63), Float(byte(j + 4) & 63)) }
        return (
            Float((byte(j + 4) & 0xF) | ((byte(j - 4) >> 6) << 4)), Float((byte(j + 4) >> 4) | ((byte(j) >> 6) << 4))
        )
    }

    /// Q4_K / Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins: `y = d·sc·q − dmin·m`.
    static func kQuant(_ b: UnsafeRawPointer, bits: Int, _ y: UnsafeMutablePointer<Float>) {
        let (d, dmin) = (half(b, 0), half(b, 2))
        let scales = b + 4
        let qh = b + 16, qs = b + (bits == 5 ? 48 : 16)
        for group in 0..<4 {  // 64 elements: low nibbles (sub-block 2g), then high nibbles (2g + 1)
            let (sc1, m1) = scaleMin(2 * group, scales), (sc2, m2) = scaleMin(2 * group + 1, scales)
            for l in 0..<32 {
                let byte = qs.load(fromByteOffset: 32 * group + l, as: UInt8.self)
                var low = Float(byte & 0xF), up = Float(byte >> 4)
                if bits == 5 {
                    let h = qh.load(fromByteOffset: l, as: UInt8.self)
                    if h & (1 << (2 * group)) != 0 { low += 16 }
                    if h & (2 << (2 * group)) != 0 { up += 16 }
                }
                y[64 * group + l] = d * sc1 * low - dmin * m1
                y[64 * group + 32 + l] = d * sc2 * up - dmin * m2
            }
        }
    }

    /// Q6_K: 16 sub-blocks of 16 with int8 scales; 4 low bits in `ql`, 2 high bits in `qh`, minus 32.
    static func q6K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 208)
        for half in 0..<2 {  // 128 elements each
            let ql = b + 64 * half, qh = b + 128 + 32 * half, sc = b + 192 + 8 * half
            for l in 0..<32 {
                let group = l / 16
                let (a, c) = (
                    ql.load(fromByteOffset: l, as: UInt8.self), ql.load(fromByteOffset: l + 32, as: UInt8.self)
                )
                let h = qh.load(fromByteOffset: l, as: UInt8.self)
                let q1 = Int(a & 0xF | ((h >> 0) & 3) << 4) - 32, q2 = Int(c & 0xF | ((h >> 2) & 3) << 4) - 32
                let q3 = Int(a >> 4 | ((h >> 4) & 3) << 4) - 32, q4 = Int(c >> 4 | ((h >> 6) & 3) << 4) - 32
                func scale(_ i: Int) -> Float { Float(sc.load(fromByteOffset: i, as: Int8.self)) }
                let out = y + 128 * half
                out[l] = d * scale(group) * Float(q1)
                out[l + 32] = d * scale(group + 2) * Float(q2)
                out[l + 64] = d * scale(group + 4) * Float(q3)
                out[l + 96] = d * scale(group + 6) * Float(q4)
            }
        }
    }
}

/// A read-only raw pointer that may cross into a `Parallel` chunk (reads only).
struct UnsafeSendableRawPointer: @unchecked Sendable {
    let pointer: UnsafeRawPointer
    init(_ pointer: UnsafeRawPointer) { self.pointer = pointer }
}
