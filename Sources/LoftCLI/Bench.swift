import Recipes
import ArgumentParser
import Benchmarks
import Foundation

/// `loft bench`: the project's own speed and memory measurements.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed and memory.",
        subcommands: [
            BenchGemm.self, BenchTrainStep.self, BenchForward.self, BenchDecode.self, BenchDequant.self,
            BenchLoftQ.self,
        ]
    )
}

/// `loft bench gemm`: sgemm GFLOP/s at 1 and 2 threads.
struct BenchGemm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract:
            "Product GFLOP/s (median of several runs) for the reference shapes at 1 and 2 threads: sgemm, and the bf16 kernel where the CPU has AVX512-BF16."
    )

    @Option(help: "Timed runs per shape and thread count (after one warm-up).")
    var runs = 5

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1, got \(runs).") }
    }

    func run() throws {
        MemoryPolicy.keepFreedMemory()  // as `loft train` and the model benchmarks run
        let results = GemmBenchmark.run(runs: runs)
        let runtime = RuntimeInfo.current
        if json {
            try printJSON(GemmReport(runtime: runtime, results: results))
            return
        }
        print(runtime.summary)
        print("    M     K     N  B       compute  threads   GFLOP/s median  (min – max)")
        for r in results {
            print(
                String(
                    format: "%5d %5d %5d  %@  %7@  %7d   %14.1f  (%.1f – %.1f)", r.m, r.k, r.n,
                    r.transposeB ? "[N,K]" : "[K,N]", r.compute.rawValue, r.threads,
                    r.gflopsMedian, r.gflopsMin, r.gflopsMax))
        }
    }
}

/// What `loft bench gemm --json` prints.
struct GemmReport: Encodable {
    let runtime: RuntimeInfo
    let results: [GemmBenchmark.Result]
}

/// Prints a value as pretty, key-sorted JSON on stdout.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
