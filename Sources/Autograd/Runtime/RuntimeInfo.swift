import Foundation
import Synchronization

/// What this process computes with: the OpenBLAS kernel and threads, and the CPU's vector units.
/// Printed by `loft --version` and `loft bench`, and written into run metadata.
public struct RuntimeInfo: Codable, Sendable {
    /// The OpenBLAS kernel family in use (`SkylakeX`, `Haswell`, `Prescott`, ...).
    public let blasCore: String
    /// How that kernel was chosen (by OpenBLAS, by the environment, or switched by loft).
    public let blasCoreSource: String
    /// OpenBLAS threads for large products.
    public let blasThreads: Int
    /// OpenBLAS's build configuration.
    public let blasConfig: String
    /// Cores our own parallel loops use.
    public let workers: Int
    /// The CPU's relevant instruction sets (`avx2`, `avx512f`, ...).
    public let cpuFeatures: [String]
    /// The path Loft's own SIMD kernels take (`scalar`, `avx2`, `avx512`).
    public let kernelPath: SIMDPath
    /// Whether `compute_dtype: bf16` products run on the AVX512-BF16 kernel here (else fp32).
    public let bf16Products: Bool
    /// The compute type of the frozen products when this was read (`fp32` or `bf16`).
    public let computeType: ComputeType

    /// How this process's BLAS kernel came about, as `BLASCoreSwitch` recorded it at start.
    public static var blasCoreSource: String {
        get { recordedCoreSource.withLock { $0 } }
        set { recordedCoreSource.withLock { $0 = newValue } }
    }
    private static let recordedCoreSource = Mutex("picked by OpenBLAS")

    /// The values for this process, with fp32 products.
    public static var current: RuntimeInfo { current(compute: .fp32) }

    /// The values for this process, for products asked to run in `compute` (the compute type
    /// recorded is the one they get here).
    public static func current(compute: ComputeType) -> RuntimeInfo {
        RuntimeInfo(
            blasCore: BLAS.coreName,
            blasCoreSource: blasCoreSource,
            blasThreads: BLAS.threads,
            blasConfig: BLAS.configuration, workers: Parallel.workerCount,
            cpuFeatures: CPUFeatures.current.names, kernelPath: .active,
            bf16Products: BLAS.bf16KernelAvailable, computeType: BLAS.effective(compute))
    }

    /// One line: `BLAS: OpenBLAS … core SkylakeX, 2 threads; kernels: avx512; CPU: avx2 avx512f …`.
    public var summary: String {
        let cpu = cpuFeatures.isEmpty ? "no AVX" : cpuFeatures.joined(separator: " ")
        return
            "BLAS: \(blasConfig), core \(blasCore) (\(blasCoreSource)), \(blasThreads) threads; workers: \(workers); "
            + "kernels: \(kernelPath.rawValue); bf16 products: \(bf16ProductsDescription); "
            + "compute: \(computeType.rawValue); CPU: \(cpu)"
    }
}

extension RuntimeInfo {
    /// `avx512_bf16`, or why the bf16 kernel does not run (bf16 then runs as fp32).
    var bf16ProductsDescription: String {
        if bf16Products { return "avx512_bf16" }
        if !cpuFeatures.contains("avx512_bf16") { return "none (no AVX512-BF16; bf16 runs as fp32)" }
        let cause = kernelPath == .avx512 ? "LOFT_BF16=off" : "LOFT_SIMD=\(kernelPath.rawValue)"
        return "off (\(cause); bf16 runs as fp32)"
    }
}

/// The CPU features that matter for kernel choice.
public struct CPUFeatures: Equatable, Sendable {
    /// Instruction-set flags.
    public var avx2 = false, fma = false, avx512f = false, avx512bw = false, avx512dq = false,
        avx512vl = false, avx512bf16 = false

    /// Features as given.
    public init(
        avx2: Bool = false, fma: Bool = false, avx512f: Bool = false,
        avx512bw: Bool = false, avx512dq: Bool = false, avx512vl: Bool = false,
        avx512bf16: Bool = false
    ) {
        self.avx2 = avx2
        self.fma = fma
        self.avx512f = avx512f
        self.avx512bw = avx512bw
        (self.avx512dq, self.avx512vl, self.avx512bf16) = (avx512dq, avx512vl, avx512bf16)
    }

    /// AVX-512 F, BW, DQ and VL together: what OpenBLAS's SkylakeX kernels need.
    public var hasAVX512Core: Bool { avx512f && avx512bw && avx512dq && avx512vl }

    /// The names of the features present.
    public var names: [String] {
        [
            ("avx2", avx2), ("fma", fma), ("avx512f", avx512f), ("avx512bw", avx512bw),
            ("avx512dq", avx512dq), ("avx512vl", avx512vl), ("avx512_bf16", avx512bf16),
        ]
        .filter { $0.1 }.map { $0.0 }
    }
}
