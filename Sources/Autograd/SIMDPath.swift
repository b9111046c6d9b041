import CKernels

/// The vector instruction path of Loft's own kernels (dequantization, packed-code and dense
/// matrix–vector products, softmax rows, SwiGLU), chosen at run time: the best the CPU has, capped
/// by `KernelOptions.simdLimit` (the CLI's `LOFT_SIMD=scalar|avx2|avx512`). The one Swift type
/// for it; `cValue` is what the C kernels take.
public enum SIMDPath: String, CaseIterable, Codable, Sendable {
    /// The portable loop every CPU runs.
    case scalar
    /// 8-lane AVX2 + FMA.
    case avx2
    /// 16-lane AVX-512 (F, BW, VL).
    case avx512

    /// The path the kernels take in this process.
    public static var active: SIMDPath { SIMDPath(loft_simd_active()) }

    /// Every path this CPU can run, slowest first (what tests compare with each other).
    public static var supported: [SIMDPath] { allCases.filter(\.isSupported) }

    /// Whether this CPU can run it.
    public var isSupported: Bool { loft_simd_supported(cValue) != 0 }

    /// The C enumeration value.
    public var cValue: loft_simd_path {
        switch self {
        case .scalar: return LOFT_SIMD_SCALAR
        case .avx2: return LOFT_SIMD_AVX2
        case .avx512: return LOFT_SIMD_AVX512
        }
    }

    init(_ value: loft_simd_path) {
        switch value {
        case LOFT_SIMD_AVX512: self = .avx512
        case LOFT_SIMD_AVX2: self = .avx2
        default: self = .scalar
        }
    }
}
