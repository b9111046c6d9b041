import Autograd
import CKernels

/// The kernels this test process runs on, for tests whose numbers depend on them to print.
public enum KernelPath {
    /// `kernels avx2, bf16 kernel off, OpenBLAS core Haswell`: Loft's SIMD path (`LOFT_SIMD`),
    /// whether the AVX512-BF16 product kernel runs (`LOFT_BF16`), and the BLAS core.
    public static var description: String {
        return "kernels \(SIMDPath.active.rawValue), bf16 kernel \(bf16KernelRuns ? "on" : "off"), OpenBLAS core \(BLAS.coreName)"
    }

    /// Whether `compute_dtype: bf16` products run on the bf16 kernel in this process (and in the
    /// `loft` subprocesses it starts, which inherit its environment).
    public static var bf16KernelRuns: Bool { BLAS.bf16KernelAvailable }

    /// Prints which SIMD paths a test that compares "every path" compares on this CPU, and which
    /// it cannot (the CPU lacks them), so a run on an AVX2 machine says it did not check AVX-512.
    public static func announceComparedPaths(_ test: String) {
        let compared = SIMDPath.supported.map(\.rawValue)
        let missing = SIMDPath.allCases.map(\.rawValue).filter { !compared.contains($0) }
        print("\(test): SIMD paths compared: \(compared.joined(separator: ", "))"
              + (missing.isEmpty ? "" : "; not on this CPU: \(missing.joined(separator: ", "))"))
    }
}
