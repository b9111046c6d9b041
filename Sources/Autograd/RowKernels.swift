import CKernels
import Foundation

/// The vectorised row loops of softmax and log-sum-exp (`CKernels/softmax.c`), on the SIMD path
/// the kernels take (`LOFT_SIMD` caps it), with a scalar fallback.
public enum RowKernels {
    /// The largest of `count` values at `x` (−∞ for none). `path` overrides the SIMD path (tests).
    @inline(__always)
    public static func max(_ x: UnsafePointer<Float>, count: Int, path: loft_simd_path? = nil) -> Float {
        loft_row_max(path ?? loft_simd_active(), x, Int64(count))
    }

    /// Σ exp(x[j] − shift) over `count` values, in double; writes each exp(x[j] − shift) to `out`
    /// when given (`out` may be `x`). `path` overrides the SIMD path (tests).
    @inline(__always)
    public static func expSum(_ x: UnsafePointer<Float>, count: Int, shift: Float, writingTo out: UnsafeMutablePointer<Float>?,
                              path: loft_simd_path? = nil) -> Double {
        loft_row_exp_sum(path ?? loft_simd_active(), x, Int64(count), shift, out)
    }
}
