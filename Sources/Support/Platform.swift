import CKernels
import Glibc

#if !os(Linux)
#error("Loft runs on Linux only (glibc mmap/madvise/mallopt, getrusage, /proc/self/exe).")
#endif

// The CPU and process queries of `CKernels` (the only file of this module importing it).

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

/// Memory use of this process.
public enum ProcessMemory {
    /// The peak resident set size so far, in bytes (getrusage).
    public static var peakResidentBytes: Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }
}
