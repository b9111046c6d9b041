import ArgumentParser
import Autograd
import Foundation
import LoRA
import Quantization

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

    struct Row: Encodable { let rows: Int, columns: Int, svd: String, seconds: Summary, error: Double, plainError: Double }

    func run() throws {
        var rows: [Row] = []
        for spec in shapes.split(separator: ",") {
            let parts = spec.split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2 else { throw ValidationError("bad shape \(spec); expected OUTxIN") }
            var rng = RandomState(seed: 7)
            let weight = rng.normal(count: parts[0] * parts[1], std: 0.02)
            let methods: [(String, LoftQ.SVDMethod)] = [("exact", .exact), ("randomized", .randomized(oversample: 10, powerIterations: 3))]
            for (name, method) in methods where svd == "both" || svd == name {
                let options = LoftQ.Options(codebook: .nf4, rank: rank, alpha: Float(rank), iterations: iterations, svd: method)
                var result: LoftQ.Result?
                let times: [Double] = (0..<max(1, runs)).map { _ in
                    var stream = RandomState(seed: 8)
                    return Stopwatch.time { result = LoftQ.initialize(weight: weight, shape: parts, options: options, rng: &stream) }
                }
                let seconds = Summary(times)
                rows.append(Row(rows: parts[0], columns: parts[1], svd: name, seconds: seconds, error: result!.error, plainError: result!.plainError))
                if !json {
                    print(String(format: "%5d x %-5d  ", parts[0], parts[1]) + name.padding(toLength: 11, withPad: " ", startingAt: 0)
                          + String(format: "%8.2f s (%.2f – %.2f)  LoftQ error %.6f (plain %.6f)",
                                   seconds.median, seconds.min, seconds.max, result!.error, result!.plainError))
                }
            }
        }
        if json { try printJSON(rows) }
    }
}
