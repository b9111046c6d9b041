import ArgumentParser
import Benchmarks
import Foundation
import Recipes

/// `loft bench dequant`: GB/s of the dequantization kernels (fp32 output bytes).
struct BenchDequant: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dequant",
        abstract:
            "Dequantization GB/s (fp32 written) of NF4, NF2, int4, int2 (± double quant), 4096×4096, per SIMD path, 1 and 2 threads."
    )

    @Option(help: "Timed runs (after one warm-up).")
    var runs = 7
    @Option(help: "Only this SIMD path (scalar, avx2, avx512; default: every one this CPU has).")
    var path: String?
    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        var paths = SIMDPath.supported
        if let path {
            guard let chosen = SIMDPath(rawValue: path), chosen.isSupported else {
                throw ValidationError(
                    "--path \(path): expected one of \(SIMDPath.supported.map(\.rawValue).joined(separator: ", ")) on this CPU"
                )
            }
            paths = [chosen]
        }
        let rows = try DequantBenchmark.run(runs: runs, paths: paths)
        let runtime = RuntimeInfo.current
        if json { return try printJSON(DequantReport(runtime: runtime, results: rows)) }
        print(runtime.summary)
        print("codebook  dq  path     threads  GB/s median  (min – max)   [4096×4096 → fp32]")
        for r in rows {
            print(
                r.codebook.padding(toLength: 10, withPad: " ", startingAt: 0) + (r.doubleQuant ? "yes " : "no  ")
                    + r.path.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)
                    + String(
                        format: "%7d  %11.1f  (%.1f – %.1f)", r.threads, r.gbPerSecond.median, r.gbPerSecond.min,
                        r.gbPerSecond.max))
        }
    }
}

/// What `loft bench dequant --json` prints.
struct DequantReport: Encodable {
    let runtime: RuntimeInfo
    let results: [DequantBenchmark.Row]
}
