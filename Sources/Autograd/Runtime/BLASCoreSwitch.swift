import Foundation

/// Puts the process on the best OpenBLAS kernel for this CPU before any work starts.
///
/// OpenBLAS reads `OPENBLAS_CORETYPE` only while the library loads, before `main`, so setting it
/// later has no effect. When `BLASCoreChoice` asks for another kernel, `loft` re-executes itself
/// once with the variable set (the child sees it set and never switches again). The check is a
/// cpuid and a string compare; the re-exec happens only on CPUs OpenBLAS does not recognise.
public enum BLASCoreSwitch {
    /// Re-executes the process on the chosen kernel when needed; returns nil if nothing was to be
    /// done, or a warning when the re-exec failed (then the process goes on with the kernel it has).
    /// `environment` is the process's (the caller, a program's edge, reads it); how the kernel came
    /// about is recorded for `RuntimeInfo`.
    public static func applyIfNeeded(environment: [String: String]) -> String? {
        record(environment: environment)
        let choice = BLASCoreChoice.decide(
            features: .current, currentCore: BLAS.coreName,
            environment: environment)
        guard case .use(let core) = choice else { return nil }
        setenv(BLASCoreChoice.coreVariable, core, 1)
        setenv(BLASCoreChoice.replacedVariable, BLAS.coreName, 1)
        let arguments = CommandLine.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        execv("/proc/self/exe", &argv)
        // Only reached when exec failed: undo and continue on the current kernel.
        unsetenv(BLASCoreChoice.coreVariable)
        unsetenv(BLASCoreChoice.replacedVariable)
        return "could not re-execute with \(BLASCoreChoice.coreVariable)=\(core); continuing on \(BLAS.coreName)"
    }

    /// Records how this process's kernel came about (`RuntimeInfo.blasCoreSource`), from its
    /// environment, without switching (what a test process does).
    public static func record(environment: [String: String]) {
        RuntimeInfo.blasCoreSource = BLASCoreChoice.provenance(environment: environment)
    }
}
