import ArgumentParser
import Benchmarks
import Foundation
import Recipes

/// `loft bench loftq`: seconds per matrix of LoftQ, exact vs randomized SVD.
struct BenchLoftQ: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loftq", abstract: "LoftQ seconds per matrix with exact and randomized SVD (NF4, rank 16).")

    @Option(help: "Matrix shapes as OUTxIN, comma-separated.")
    var shapes = "4096x4096,4096x11008"
    @Option(help: "LoftQ steps T.")
    var iterations = 1
    @Option(help: "LoRA rank.")
    var rank = 16
    @Option(help: "Which SVDs: exact, randomized or both.")
    var svd = "both"
    @Option(help: "Timed runs per shape and SVD.")
    var runs = 1
    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let rows = try LoftQBenchmark.run(shapes: shapes, iterations: iterations, rank: rank, svd: svd, runs: runs) {
            row in
            guard !json else { return }
            print(
                String(format: "%5d x %-5d  ", row.rows, row.columns)
                    + row.svd.padding(toLength: 11, withPad: " ", startingAt: 0)
                    + String(
                        format: "%8.2f s (%.2f – %.2f)  LoftQ error %.6f (plain %.6f)",
                        row.seconds.median, row.seconds.min, row.seconds.max, row.error, row.plainError))
        }
        if json { try printJSON(rows) }
    }
}
