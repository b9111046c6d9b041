import Foundation
import Recipes
import ArgumentParser

/// The entry point: choose the BLAS kernel (which may re-execute the process), apply the kernel
/// options of the environment (`LOFT_SIMD`, `LOFT_BF16`, `LOFT_NUM_THREADS`, `LOFT_POOL`), then parse.
@main
enum LoftMain {
    static func main() {
        let environment = ProcessInfo.processInfo.environment
        if let warning = BLASCoreSwitch.applyIfNeeded(environment: environment) {
            printError("loft: warning: \(warning)")
        }
        KernelOptions.apply(.parse(environment: environment))
        Loft.main()
    }
}

/// The `loft` command: QLoRA/LoftQ fine-tuning of Llama-2-family models on CPUs.
struct Loft: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "loft",
        abstract: "Fine-tune Llama-2-family models with LoRA on a frozen 4-bit or 2-bit base (LoftQ), on CPUs.",
        version: "loft \(version)\n\(RuntimeInfo.current.summary)",
        subcommands: [
            Train.self, Eval.self, Quantize.self, Generate.self, Tokenize.self, Experiment.self, Plot.self, Export.self,
            Bench.self, Fuzz.self, Serve.self,
        ]
    )
}
