import Autograd
import Foundation
import Support

/// Measures product throughput — OpenBLAS sgemm (fp32) and, where the CPU has AVX512-BF16, the
/// bf16 kernel of `autocast` products: the project's yardstick for the speed targets.
public enum GemmBenchmark {
    /// One measured product shape at one thread count.
    public struct Result: Codable, Sendable {
        /// The product sizes: [M, K] · [K, N].
        public let m: Int, k: Int, n: Int
        /// Whether B is stored [N, K] (a weight in `x·Wᵀ`) rather than [K, N].
        public let transposeB: Bool
        /// Cores used.
        public let threads: Int
        /// The arithmetic: fp32 (sgemm) or bf16 (bf16 inputs, fp32 sums).
        public let compute: ComputeType
        /// GFLOP/s (2·M·N·K per product): median, minimum and maximum over the runs.
        public let gflopsMedian: Double, gflopsMin: Double, gflopsMax: Double
        /// Timed runs (after one warm-up).
        public let runs: Int
    }

    /// The default shapes (M, K, N): a 110M-model linear, its MLP, and a 7B-sized product.
    public static let defaultShapes: [(m: Int, k: Int, n: Int)] = [
        (1024, 768, 768), (1024, 768, 2048), (2048, 4096, 4096),
    ]

    /// The compute types this CPU runs natively (bf16 only with AVX512-BF16).
    public static var availableComputeTypes: [ComputeType] { BLAS.bf16KernelAvailable ? [.fp32, .bf16] : [.fp32] }

    /// Runs every shape at every thread count and compute type, B stored both ways, `runs` timed
    /// repetitions each.
    public static func run(
        shapes: [(m: Int, k: Int, n: Int)] = defaultShapes,
        threadCounts: [Int] = [1, 2], computeTypes: [ComputeType] = availableComputeTypes,
        runs: Int = 5
    ) -> [Result] {
        var rng = RandomState(seed: 0)
        var results: [Result] = []
        for shape in shapes {
            let a = rng.uniform(count: shape.m * shape.k, low: -1, high: 1)
            let b = rng.uniform(count: shape.k * shape.n, low: -1, high: 1)
            var c = [Float](repeating: 0, count: shape.m * shape.n)
            let flops = 2.0 * Double(shape.m) * Double(shape.n) * Double(shape.k)
            for transposeB in [false, true] {
                for compute in computeTypes {
                    for threads in threadCounts {
                        let rates: [Double] = BLAS.withThreads(threads) {
                            (0...runs).map { _ in
                                let seconds = Stopwatch.time {
                                    c.withUnsafeMutableBufferPointer { cp in
                                        BLAS.sgemm(
                                            transposeA: false, transposeB: transposeB, m: shape.m,
                                            n: shape.n, k: shape.k, a: a, lda: shape.k, b: b,
                                            ldb: transposeB ? shape.k : shape.n, c: cp.baseAddress!, ldc: shape.n,
                                            compute: compute)
                                    }
                                }
                                return flops / seconds / 1e9
                            }.dropFirst().map { $0 }  // the first run warms caches and thread pools
                        }
                        let summary = Summary(rates)
                        results.append(
                            Result(
                                m: shape.m, k: shape.k, n: shape.n, transposeB: transposeB, threads: threads,
                                compute: compute, gflopsMedian: summary.median, gflopsMin: summary.min,
                                gflopsMax: summary.max, runs: runs))
                    }
                }
            }
        }
        return results
    }
}
