import CKernels

/// The SIMD dequantization loop of `CKernels` (the only file of this module importing it): AVX-512
/// when the CPU has it, a portable scalar loop otherwise, chosen at run time in C.
enum DequantizationKernel {
    /// Dequantizes elements `start..<start+count` of packed `bits`-bit codes into `out`:
    /// `levels[code] · absmax[block − firstBlock]` (`absmax` starts at the block of `start`).
    @inline(__always)
    static func dequantize(codes: UnsafePointer<UInt8>, bits: Int, levels: UnsafePointer<Float>,
                           absmax: UnsafePointer<Float>, blockSize: Int, start: Int, count: Int,
                           into out: UnsafeMutablePointer<Float>) {
        loft_dequantize(codes, Int32(bits), levels, absmax, Int64(blockSize), Int64(start), Int64(count), out)
    }
}
