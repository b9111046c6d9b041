import Autograd

/// The kernels this test process runs on, for tests whose numbers depend on them to print.
public enum KernelPath {
    /// `kernels avx2, bf16 kernel off, OpenBLAS core Haswell`: Loft's SIMD path (`LOFT_SIMD`),
    /// whether the AVX512-BF16 product kernel runs (`LOFT_BF16`), and the BLAS core.
    public static var description: String {
        let bf16 = BLAS.bf16KernelAvailable ? "on" : "off"
        return "kernels \(SIMDPath.active.rawValue), bf16 kernel \(bf16), OpenBLAS core \(BLAS.coreName)"
    }

    /// Prints which SIMD paths a test that compares "every path" compares on this CPU, and which
    /// it cannot (the CPU lacks them), so a run on an AVX2 machine says it did not check AVX-512.
    public static func announceComparedPaths(_ test: String) {
        let compared = SIMDPath.supported.map(\.rawValue)
        let missing = SIMDPath.allCases.map(\.rawValue).filter { !compared.contains($0) }
        print(
            "\(test): SIMD paths compared: \(compared.joined(separator: ", "))"
                + (missing.isEmpty ? "" : "; not on this CPU: \(missing.joined(separator: ", "))"))
    }
}
