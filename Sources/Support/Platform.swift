import Glibc

#if !os(Linux)
    #error("Loft runs on Linux only (glibc mmap/madvise/mallopt, getrusage, /proc/self/exe).")
#endif

/// Memory use of this process.
public enum ProcessMemory {
    /// The peak resident set size so far, in bytes (getrusage).
    public static var peakResidentBytes: Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }
}
