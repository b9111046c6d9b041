import ArgumentParser
import Benchmarks
import Foundation
import Recipes

/// `loft bench dequant`: GB/s of the 4-bit and 2-bit dequantization kernels (fp32 output bytes).
struct BenchDequant: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dequant", abstract: "Dequantization GB/s (fp32 written) of NF4 and NF2, 4096×4096, 1 and 2 threads.")

    @Option(help: "Timed runs (after one warm-up).")
    var runs = 7
    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let rows = try DequantBenchmark.run(runs: runs)
        if json { return try printJSON(rows) }
        print("codebook  threads  GB/s median  (min – max)   [4096×4096 → fp32]")
        for r in rows {
            print(r.codebook.padding(toLength: 10, withPad: " ", startingAt: 0)
                  + String(format: "%7d  %11.1f  (%.1f – %.1f)", r.threads, r.gbPerSecond.median, r.gbPerSecond.min, r.gbPerSecond.max))
        }
    }
}
