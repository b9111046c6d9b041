import Autograd
import Foundation
import Support

/// Measures `cblas_sgemm` throughput: the project's yardstick for later speed targets.
public enum GemmBenchmark {
    /// One measured product shape at one thread count.
    public struct Result: Codable, Sendable {
        /// The product sizes: [M, K] · [K, N].
        public let m: Int, k: Int, n: Int
        /// OpenBLAS threads used.
        public let threads: Int
        /// GFLOP/s (2·M·N·K per product): median, minimum and maximum over the runs.
        public let gflopsMedian: Double, gflopsMin: Double, gflopsMax: Double
        /// Timed runs (after one warm-up).
        public let runs: Int
    }

    /// The default shapes (M, K, N): a 110M-model linear, its MLP, and a 7B-sized product.
    public static let defaultShapes: [(m: Int, k: Int, n: Int)] = [
        (1024, 768, 768), (1024, 768, 2048), (2048, 4096, 4096),
    ]

    /// Runs every shape at every thread count, `runs` timed repetitions each.
    public static func run(shapes: [(m: Int, k: Int, n: Int)] = defaultShapes,
                           threadCounts: [Int] = [1, 2], runs: Int = 5) -> [Result] {
        var rng = RandomState(seed: 0)
        var results: [Result] = []
        for shape in shapes {
            let a = rng.uniform(count: shape.m * shape.k, low: -1, high: 1)
            let b = rng.uniform(count: shape.k * shape.n, low: -1, high: 1)
            var c = [Float](repeating: 0, count: shape.m * shape.n)
            let flops = 2.0 * Double(shape.m) * Double(shape.n) * Double(shape.k)
            for threads in threadCounts {
                let rates: [Double] = BLAS.withThreads(threads) {
                    (0...runs).map { _ in
                        let seconds = Stopwatch.time {
                            c.withUnsafeMutableBufferPointer { cp in
                                BLAS.sgemm(transposeA: false, transposeB: false, m: shape.m,
                                           n: shape.n, k: shape.k, a: a, lda: shape.k, b: b,
                                           ldb: shape.n, c: cp.baseAddress!, ldc: shape.n)
                            }
                        }
                        return flops / seconds / 1e9
                    }.dropFirst().map { $0 }  // the first run warms caches and thread pools
                }
                let summary = Summary(rates)
                results.append(Result(m: shape.m, k: shape.k, n: shape.n, threads: threads,
                                      gflopsMedian: summary.median, gflopsMin: summary.min,
                                      gflopsMax: summary.max, runs: runs))
            }
        }
        return results
    }
}
