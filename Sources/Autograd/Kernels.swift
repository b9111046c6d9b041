import CKernels

/// The C helpers of `CKernels` (the only Swift file importing it): CPU features, memory policy,
/// and the SIMD dequantization loop.
public enum Kernels {
    /// Dequantizes elements `start..<start+count` of packed `bits`-bit codes into `out`:
    /// `levels[code] · absmax[block − firstBlock]` (`absmax` starts at the block of `start`).
    @inline(__always)
    public static func dequantize(codes: UnsafePointer<UInt8>, bits: Int, levels: UnsafePointer<Float>,
                                  absmax: UnsafePointer<Float>, blockSize: Int, start: Int, count: Int,
                                  into out: UnsafeMutablePointer<Float>) {
        loft_dequantize(codes, Int32(bits), levels, absmax, Int64(blockSize), Int64(start), Int64(count), out)
    }
}

extension CPUFeatures {
    /// The features of this CPU (cpuid).
    public static var current: CPUFeatures {
        let f = loft_cpu_features_get()
        return CPUFeatures(avx2: f.avx2, fma: f.fma, avx512f: f.avx512f, avx512bw: f.avx512bw,
                           avx512dq: f.avx512dq, avx512vl: f.avx512vl, avx512bf16: f.avx512bf16)
    }
}

/// Process-wide memory behaviour.
public enum MemoryPolicy {
    /// Keep freed large allocations in the heap (glibc `mallopt`): training steps allocate and free
    /// the same large buffers, and re-mapping them costs a page fault per 4 KiB every step.
    public static func keepFreedMemory() { loft_keep_freed_memory() }
}
