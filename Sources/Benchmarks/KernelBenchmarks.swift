import Autograd
import Foundation
import LoRA
import Quantization
import Support

/// `loft bench dequant`: GB/s of the dequantization kernels (fp32 bytes written) for every packed
/// format on every SIMD path this CPU has.
public enum DequantBenchmark {
    /// One format on one path at one thread count.
    public struct Row: Codable, Sendable {
        public let codebook: String, doubleQuant: Bool, path: SIMDPath, threads: Int, gbPerSecond: Summary
    }

    /// NF4, NF2, int4 and int2 of a 4096×4096 weight (blocks of 64, with and without double
    /// quantization), each path in `paths` (default: all this CPU has), 1 and 2 threads, `runs`
    /// timed runs after a warm-up.
    public static func run(runs: Int, paths: [SIMDPath] = SIMDPath.supported) throws -> [Row] {
        guard runs >= 1 && runs <= 10_000 else {
            throw BenchmarkError.invalidFlag(name: "--runs", detail: "\(runs); expected 1...10000")
        }
        var rng = RandomState(seed: 3)
        let shape = [4096, 4096]
        let weight = rng.uniform(count: shape.product, low: -0.05, high: 0.05)
        var out = [Float](repeating: 0, count: shape.product)
        var rows: [Row] = []
        for codebook in [Codebook.nf4, .nf2, .uniform(bits: 4), .uniform(bits: 2)] {
            for doubleQuant in [false, true] {
                let q = QuantizedTensor(weight, shape: shape, codebook: codebook, doubleQuant: doubleQuant)
                for path in paths where path.isSupported {
                    for threads in [1, 2] {
                        let rates: [Double] = (0...runs).map { _ in
                            let seconds = Stopwatch.time {
                                out.withUnsafeMutableBufferPointer { buffer in
                                    let pointer = SendablePointer(buffer.baseAddress!)
                                    let chunks = threads == 1 ? 1 : 64
                                    Parallel.forEach(chunks, costPerItem: threads == 1 ? 1 : 1 << 20) { range in
                                        for chunk in range {
                                            let span = (q.count * chunk / chunks)..<(q.count * (chunk + 1) / chunks)
                                            q.dequantize(span, into: pointer.pointer + span.lowerBound, path: path)
                                        }
                                    }
                                }
                            }
                            return Double(q.count * 4) / seconds / 1e9
                        }.dropFirst().map { $0 }
                        rows.append(
                            Row(
                                codebook: codebook.name, doubleQuant: doubleQuant, path: path, threads: threads,
                                gbPerSecond: Summary(rates)))
                    }
                }
            }
        }
        return rows
    }
}

/// `loft bench loftq`: seconds per matrix of LoftQ, exact vs randomized SVD.
public enum LoftQBenchmark {
    /// One shape with one SVD.
    public struct Row: Codable, Sendable {
        public let rows: Int, columns: Int, svd: String, seconds: Summary, error: Double, plainError: Double
    }

    /// Runs `shapes` (`OUTxIN`, comma-separated) with `svd` (exact, randomized or both).
    public static func run(
        shapes: String, iterations: Int, rank: Int, svd: String, runs: Int,
        onRow: (Row) -> Void = { _ in }
    ) throws -> [Row] {
        guard (1...100).contains(iterations) else {
            throw BenchmarkError.invalidFlag(name: "--iterations", detail: "\(iterations); expected 1...100")
        }
        guard (1...10_000).contains(runs) else {
            throw BenchmarkError.invalidFlag(name: "--runs", detail: "\(runs); expected 1...10000")
        }
        guard ["exact", "randomized", "both"].contains(svd) else {
            throw BenchmarkError.invalidFlag(name: "--svd", detail: "\(svd); expected exact, randomized or both")
        }
        var parsed: [[Int]] = []
        for spec in shapes.split(separator: ",") {
            let parts = spec.split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, parts.allSatisfy({ (1...65_536).contains($0) }) else {
                throw BenchmarkError.invalidFlag(
                    name: "--shapes", detail: "bad shape \(spec); expected OUTxIN with sizes in 1...65536")
            }
            guard (1...min(parts[0], parts[1])).contains(rank) else {
                throw BenchmarkError.invalidFlag(
                    name: "--rank", detail: "\(rank); expected 1...\(min(parts[0], parts[1])) for \(spec)")
            }
            parsed.append(parts)
        }
        guard !parsed.isEmpty else { throw BenchmarkError.invalidFlag(name: "--shapes", detail: "no shape given") }
        var rows: [Row] = []
        for parts in parsed {
            var rng = RandomState(seed: 7)
            let weight = rng.normal(count: parts[0] * parts[1], std: 0.02)
            let methods: [(String, LoftQ.SVDMethod)] = [
                ("exact", .exact), ("randomized", .randomized(oversample: 10, powerIterations: 3)),
            ]
            for (name, method) in methods where svd == "both" || svd == name {
                let options = LoftQ.Options(
                    codebook: .nf4, rank: rank, alpha: Float(rank), iterations: iterations, svd: method)
                var times: [Double] = []
                var last: LoftQ.Result?
                for _ in 0..<runs {
                    var stream = RandomState(seed: 8)
                    let start = Stopwatch.now()
                    last = try LoftQ.initialize(weight: weight, shape: parts, options: options, rng: &stream)
                    times.append(Stopwatch.now() - start)
                }
                guard let result = last else { continue }
                let row = Row(
                    rows: parts[0], columns: parts[1], svd: name, seconds: Summary(times), error: result.error,
                    plainError: result.plainError)
                rows.append(row)
                onRow(row)
            }
        }
        return rows
    }
}
