import ArgumentParser
import Autograd
import Foundation
import Quantization

/// `loft bench dequant`: GB/s of the 4-bit and 2-bit dequantization kernels (fp32 output bytes).
struct BenchDequant: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dequant", abstract: "Dequantization GB/s (fp32 written) of NF4 and NF2, 4096×4096, 1 and 2 threads.")

    @Option(help: "Timed runs (after one warm-up).")
    var runs = 7
    @Flag(help: "Print JSON.")
    var json = false

    struct Row: Encodable { let codebook: String; let threads: Int; let gbPerSecond: Summary }

    func run() throws {
        var rng = RandomState(seed: 3)
        let shape = [4096, 4096]
        let weight = rng.uniform(count: shape.product, low: -0.05, high: 0.05)
        var rows: [Row] = []
        for codebook in [Codebook.nf4, .nf2] {
            let q = QuantizedTensor(weight, shape: shape, codebook: codebook)
            var out = [Float](repeating: 0, count: q.count)
            for threads in [1, 2] {
                let rates: [Double] = (0...runs).map { _ in
                    let seconds = Stopwatch.time {
                        out.withUnsafeMutableBufferPointer { buffer in
                            let pointer = SendablePointer(buffer.baseAddress!)
                            let chunks = threads == 1 ? 1 : 64
                            Parallel.forEach(chunks, costPerItem: threads == 1 ? 1 : 1 << 20) { range in
                                for chunk in range {
                                    let span = (q.count * chunk / chunks)..<(q.count * (chunk + 1) / chunks)
                                    q.dequantize(span, into: pointer.pointer + span.lowerBound)
                                }
                            }
                        }
                    }
                    return Double(q.count * 4) / seconds / 1e9
                }.dropFirst().map { $0 }
                rows.append(Row(codebook: codebook.name, threads: threads, gbPerSecond: Summary(rates)))
            }
        }
        if json { return try printJSON(rows) }
        print("codebook  threads  GB/s median  (min – max)   [4096×4096 → fp32]")
        for r in rows {
            print(r.codebook.padding(toLength: 10, withPad: " ", startingAt: 0)
                  + String(format: "%7d  %11.1f  (%.1f – %.1f)", r.threads, r.gbPerSecond.median, r.gbPerSecond.min, r.gbPerSecond.max))
        }
    }
}
