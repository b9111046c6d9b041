import CKernels
import Support

/// The SIMD dequantization loop of `CKernels` (the only file of this module importing it):
/// AVX-512, AVX2 or a portable scalar loop, chosen at run time in C (`SIMDPath.active`).
enum DequantizationKernel {
    /// Dequantizes elements `start..<start+count` of packed `bits`-bit codes into `out`:
    /// `levels[code] · absmax[block − firstBlock]` (`absmax` starts at the block of `start`), on
    /// `path` (nil: the active one). Returns false, writing nothing, when the CPU lacks `path`.
    @inline(__always) @discardableResult
    static func dequantize(codes: UnsafePointer<UInt8>, bits: Int, levels: UnsafePointer<Float>,
                           absmax: UnsafePointer<Float>, blockSize: Int, start: Int, count: Int,
                           into out: UnsafeMutablePointer<Float>, path: SIMDPath? = nil) -> Bool {
        guard let path else {
            loft_dequantize(codes, Int32(bits), levels, absmax, Int64(blockSize), Int64(start), Int64(count), out)
            return true
        }
        return loft_dequantize_on(path.cValue, codes, Int32(bits), levels, absmax, Int64(blockSize), Int64(start), Int64(count), out) != 0
    }
}
