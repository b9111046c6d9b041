import CKernels

// The CPU and process queries of `CKernels` that the runtime report and the BLAS choice need.

extension CPUFeatures {
    /// The features of this CPU (cpuid).
    public static var current: CPUFeatures {
        let f = loft_cpu_features_get()
        return CPUFeatures(
            avx2: f.avx2, fma: f.fma, avx512f: f.avx512f, avx512bw: f.avx512bw,
            avx512dq: f.avx512dq, avx512vl: f.avx512vl, avx512bf16: f.avx512bf16)
    }
}

/// Process-wide memory behaviour.
public enum MemoryPolicy {
    /// Keep freed large allocations in the heap (glibc `mallopt`): training steps allocate and free
    /// the same large buffers, and re-mapping them costs a page fault per 4 KiB every step.
    public static func keepFreedMemory() { loft_keep_freed_memory() }
}
