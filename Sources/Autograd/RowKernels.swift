import CKernels
import Foundation

/// The vectorised row loops of softmax and log-sum-exp (`CKernels/softmax.c`) and of decoding's
/// small fp32 products (`CKernels/dense_gemv.c`), on the SIMD path the kernels take
/// (`SIMDPath.active`), with a scalar fallback.
public enum RowKernels {
    /// The largest of `count` values at `x` (−∞ for none). `path` overrides the SIMD path (tests).
    @inline(__always)
    public static func max(_ x: UnsafePointer<Float>, count: Int, path: SIMDPath? = nil) -> Float {
        loft_row_max(path?.cValue ?? loft_simd_active(), x, Int64(count))
    }

    /// Σ exp(x[j] − shift) over `count` values, in double; writes each exp(x[j] − shift) to `out`
    /// when given (`out` may be `x`). `path` overrides the SIMD path (tests).
    @inline(__always)
    public static func expSum(
        _ x: UnsafePointer<Float>, count: Int, shift: Float, writingTo out: UnsafeMutablePointer<Float>?,
        path: SIMDPath? = nil
    ) -> Double {
        loft_row_exp_sum(path?.cValue ?? loft_simd_active(), x, Int64(count), shift, out)
    }

    /// `y[b·ldy + o] = alpha · Σ_i x[b·ldx + i] · w[o·ldw + i] + beta · y[b·ldy + o]` for weight rows
    /// `outputs` of an fp32 weight [·, in] and `batch` rows of x, on this thread, each weight row
    /// read once (`CKernels/dense_gemv.c`; decoding's small products). `beta` = 0 never reads y.
    /// `path` overrides the SIMD path (tests); false, writing nothing, where the CPU lacks it.
    @inline(__always) @discardableResult
    public static func denseRows(
        _ w: UnsafePointer<Float>, ldw: Int, in count: Int, outputs: Range<Int>,
        x: UnsafePointer<Float>, ldx: Int, batch: Int, alpha: Float = 1, beta: Float = 0,
        y: UnsafeMutablePointer<Float>, ldy: Int, path: SIMDPath? = nil
    ) -> Bool {
        loft_dense_gemv(
            path?.cValue ?? loft_simd_active(), w, Int64(ldw), Int64(count), Int64(outputs.lowerBound),
            Int64(outputs.upperBound), x, Int64(ldx), Int64(batch), alpha, beta, y, Int64(ldy)) != 0
    }
}
