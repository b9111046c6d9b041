import CKernels

/// The process-wide choices of the compute kernels: the SIMD path's cap, the bf16 product kernel,
/// the cores and the thread pool. A value built once at the program's edge — the CLI from its
/// environment (`parse(environment:)`), a test from whatever it wants to exercise — and applied
/// before any work (`apply`); no library reads the environment.
public struct KernelOptions: Equatable, Sendable {
    /// The highest SIMD path the kernels may take (nil: the best the CPU has).
    public var simdLimit: SIMDPath?
    /// Whether `compute: .bf16` products may run on the AVX512-BF16 kernel where the CPU has it.
    public var bf16Kernel: Bool
    /// The cores parallel regions use (nil: the CPUs this process may run on).
    public var workers: Int?
    /// Run parallel regions through libdispatch instead of Loft's spinning pool (to compare).
    public var dispatchPool: Bool

    /// Options from their values (by default none limits anything).
    public init(simdLimit: SIMDPath? = nil, bf16Kernel: Bool = true, workers: Int? = nil, dispatchPool: Bool = false) {
        self.simdLimit = simdLimit
        self.bf16Kernel = bf16Kernel
        self.workers = workers
        self.dispatchPool = dispatchPool
    }

    /// The options an environment asks for: `LOFT_SIMD=scalar|avx2|avx512`, `LOFT_BF16=off`,
    /// `LOFT_NUM_THREADS=N` (1…1024), `LOFT_POOL=dispatch`; other values are ignored.
    public static func parse(environment: [String: String]) -> KernelOptions {
        var options = KernelOptions()
        options.simdLimit = environment["LOFT_SIMD"].flatMap { SIMDPath(rawValue: $0) }
        options.bf16Kernel = environment["LOFT_BF16"] != "off"
        if let text = environment["LOFT_NUM_THREADS"], let count = Int(text), count >= 1 {
            options.workers = min(count, 1024)
        }
        options.dispatchPool = environment["LOFT_POOL"] == "dispatch"
        return options
    }

    /// Makes these the options of this process. Call once at start, before any kernel or
    /// parallel region runs (a later call changes what the next calls take).
    public static func apply(_ options: KernelOptions) {
        loft_kernels_limit((options.simdLimit ?? .avx512).cValue, options.bf16Kernel ? 1 : 0)
        Parallel.configuredWorkers.store(options.workers ?? 0, ordering: .relaxed)
        Parallel.usesDispatch.store(options.dispatchPool, ordering: .relaxed)
    }
}
