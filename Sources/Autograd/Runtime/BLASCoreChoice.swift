/// Which OpenBLAS kernel Loft should run on: a pure decision from the CPU's features, the kernel
/// OpenBLAS picked at load time, and the environment.
///
/// Debian's OpenBLAS (0.3.21, DYNAMIC_ARCH) does not recognise recent CPUs and silently falls back
/// to a generic pre-AVX2 kernel (`Prescott`), about five times slower than it could be. The choice
/// is: when `OPENBLAS_CORETYPE` is unset, `LOFT_BLAS_CORE` is not `keep`, and the kernel OpenBLAS
/// picked is such a fallback, use `SKYLAKEX` on CPUs with AVX-512 F/BW/DQ/VL and `HASWELL` on
/// CPUs with AVX2 and FMA. A value the user set is never overridden; a modern kernel OpenBLAS
/// picked itself (Haswell, Zen, SkylakeX, Cooperlake, ...) is kept.
public enum BLASCoreChoice: Equatable, Sendable {
    /// Keep the kernel in use; the reason says why.
    case keep(reason: String)
    /// Switch to this `OPENBLAS_CORETYPE` value (OpenBLAS reads it only at load time).
    case use(core: String)

    /// The environment variable that turns the mechanism off with the value `keep`.
    public static let switchVariable = "LOFT_BLAS_CORE"
    /// The variable OpenBLAS reads at load time.
    public static let coreVariable = "OPENBLAS_CORETYPE"
    /// Set by Loft when it switched, to the kernel OpenBLAS had picked (for reports).
    public static let replacedVariable = "LOFT_BLAS_CORE_REPLACED"

    /// OpenBLAS kernels that use AVX2 or newer: never replaced.
    public static let modernCores: Set<String> = [
        "haswell", "zen", "skylakex", "cooperlake", "sapphirerapids", "excavator",
    ]

    /// The decision for these inputs.
    /// - Parameters:
    ///   - features: the CPU's instruction sets.
    ///   - currentCore: `openblas_get_corename()` of the loaded library.
    ///   - environment: the process environment.
    public static func decide(
        features: CPUFeatures, currentCore: String,
        environment: [String: String]
    ) -> BLASCoreChoice {
        if environment[switchVariable]?.lowercased() == "keep" {
            return .keep(reason: "\(switchVariable)=keep")
        }
        if let userCore = environment[coreVariable], !userCore.isEmpty {
            return .keep(reason: "\(coreVariable)=\(userCore) set in the environment")
        }
        if modernCores.contains(currentCore.lowercased()) {
            return .keep(reason: "OpenBLAS picked \(currentCore)")
        }
        if features.hasAVX512Core { return .use(core: "SKYLAKEX") }
        if features.avx2 && features.fma { return .use(core: "HASWELL") }
        return .keep(reason: "no AVX2 on this CPU; \(currentCore) is the right kernel")
    }

    /// How the kernel of this process came about, for `loft --version` and run metadata.
    public static func provenance(environment: [String: String]) -> String {
        if let replaced = environment[replacedVariable], let core = environment[coreVariable] {
            return "selected by loft: \(coreVariable)=\(core) (OpenBLAS had picked \(replaced))"
        }
        if environment[switchVariable]?.lowercased() == "keep" { return "\(switchVariable)=keep" }
        if let core = environment[coreVariable], !core.isEmpty {
            return "\(coreVariable)=\(core) from the environment"
        }
        return "picked by OpenBLAS"
    }
}
