import Autograd
import Foundation

/// Puts the process on the best OpenBLAS kernel for this CPU before any work starts.
///
/// OpenBLAS reads `OPENBLAS_CORETYPE` only while the library loads, before `main`, so setting it
/// later has no effect. When `BLASCoreChoice` asks for another kernel, `loft` re-executes itself
/// once with the variable set (the child sees it set and never switches again). The check is a
/// cpuid and a string compare; the re-exec happens only on CPUs OpenBLAS does not recognise.
enum BLASCoreSwitch {
    /// Re-executes the process on the chosen kernel when needed; returns if nothing is to be done
    /// or the re-exec failed (then the process goes on with the kernel it has).
    static func applyIfNeeded() {
        let environment = ProcessInfo.processInfo.environment
        let choice = BLASCoreChoice.decide(features: .current, currentCore: BLAS.coreName,
                                           environment: environment)
        guard case .use(let core) = choice else { return }
        setenv(BLASCoreChoice.coreVariable, core, 1)
        setenv(BLASCoreChoice.replacedVariable, BLAS.coreName, 1)
        let arguments = CommandLine.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        execv("/proc/self/exe", &argv)
        // Only reached when exec failed: undo and continue on the current kernel.
        unsetenv(BLASCoreChoice.coreVariable)
        unsetenv(BLASCoreChoice.replacedVariable)
        FileHandle.standardError.write(Data(
            "loft: warning: could not re-execute with \(BLASCoreChoice.coreVariable)=\(core); continuing on \(BLAS.coreName)\n".utf8))
    }
}
