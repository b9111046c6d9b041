import CKernels
import Autograd
import Support

/// The SIMD loops of `CKernels` (the only file of this module importing it): dequantization and
/// the packed-weight matrix–vector product, each AVX-512, AVX2 or a portable scalar loop, chosen
/// at run time in C (`SIMDPath.active`).
enum DequantizationKernel {
    /// Dequantizes elements `start..<start+count` of packed `bits`-bit codes into `out`:
    /// `levels[code] · absmax[block − firstBlock]` (`absmax` starts at the block of `start`), on
    /// `path` (nil: the active one). Returns false, writing nothing, when the CPU lacks `path`.
    @inline(__always) @discardableResult
    static func dequantize(
        codes: UnsafePointer<UInt8>, bits: Int, levels: UnsafePointer<Float>,
        absmax: UnsafePointer<Float>, blockSize: Int, start: Int, count: Int,
        into out: UnsafeMutablePointer<Float>, path: SIMDPath? = nil
    ) -> Bool {
        guard let path else {
            loft_dequantize(codes, Int32(bits), levels, absmax, Int64(blockSize), Int64(start), Int64(count), out)
            return true
        }
        return loft_dequantize_on(
            path.cValue, codes, Int32(bits), levels, absmax, Int64(blockSize), Int64(start), Int64(count), out) != 0
    }

    /// `y[b·ldy + o] = Σ_i x[b·in + i] · deq(W)[o, i]` for rows `rows` of W and `batch` rows of x,
    /// from the packed codes (`absmax` holds every block of W). False when the shape does not
    /// suit the kernel (see `loft_quantized_gemv`) or the CPU lacks `path`.
    @inline(__always)
    static func gemv(
        path: SIMDPath, codes: UnsafePointer<UInt8>, bits: Int, levels: UnsafePointer<Float>,
        absmax: UnsafePointer<Float>, blockSize: Int, inFeatures: Int, rows: Range<Int>,
        x: UnsafePointer<Float>, batch: Int, y: UnsafeMutablePointer<Float>, ldy: Int
    ) -> Bool {
        loft_quantized_gemv(
            path.cValue, codes, Int32(bits), levels, absmax, Int64(blockSize), Int64(inFeatures),
            Int64(rows.lowerBound), Int64(rows.upperBound), x, Int64(batch), y, Int64(ldy)) != 0
    }
}
