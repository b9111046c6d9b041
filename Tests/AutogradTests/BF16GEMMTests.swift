import Autograd
import XCTest
import _TestSupport

/// The bf16 product kernel: bf16 rounding, the scalar kernel against a Double reference of the
/// rounded inputs, the AVX512-BF16 kernel bit for bit against the scalar one, and products
/// routed by the compute type they are given.
final class BF16GEMMTests: LoftTestCase {
    /// Shapes that cross every edge: partial micro-tiles (12 × 32), odd k, several k blocks (384),
    /// several row blocks (144), one row.
    let shapes: [(m: Int, n: Int, k: Int)] = [
        (1, 1, 1), (13, 35, 7), (12, 32, 2), (150, 70, 385), (29, 97, 800), (3, 2100, 33),
    ]

    func testRoundingIsNearestEven() {
        XCTAssertEqual(BLAS.bf16Rounded(1), 1)
        // 1 + 2⁻⁸ lies halfway between 1 and 1 + 2⁻⁷: ties go to the even mantissa (1).
        XCTAssertEqual(BLAS.bf16Rounded(1 + 0x1p-8), 1)
        XCTAssertEqual(BLAS.bf16Rounded(1 + 3 * 0x1p-8), 1 + 0x1p-6)
        XCTAssertEqual(BLAS.bf16Rounded(1 + 0x1p-8 + 0x1p-20), 1 + 0x1p-7)
        XCTAssertEqual(BLAS.bf16Rounded(-.greatestFiniteMagnitude), -.infinity)  // as torch's .bfloat16()
        XCTAssertTrue(BLAS.bf16Rounded(.nan).isNaN)
        XCTAssertEqual(BLAS.bf16Rounded(.infinity), .infinity)
    }

    /// op(A)·op(B) in Double from bf16-rounded inputs, and Σ|a||b| per element (the error scale).
    func reference(_ tA: Bool, _ tB: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: [Float], _ b: [Float]) -> (
        [Double], [Double]
    ) {
        var value = [Double](repeating: 0, count: m * n), scale = value
        for i in 0..<m {
            for j in 0..<n {
                for p in 0..<k {
                    let x = Double(BLAS.bf16Rounded(tA ? a[p * m + i] : a[i * k + p]))
                    let y = Double(BLAS.bf16Rounded(tB ? b[j * k + p] : b[p * n + j]))
                    value[i * n + j] += x * y
                    scale[i * n + j] += abs(x * y)
                }
            }
        }
        return (value, scale)
    }

    /// Runs one kernel on `C = 0.5·op(A)·op(B) + beta·C0`.
    func product(
        vector: Bool, _ tA: Bool, _ tB: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: [Float], _ b: [Float],
        beta: Float, c0: [Float]
    ) -> [Float]? {
        var c = c0
        let ran = c.withUnsafeMutableBufferPointer { cp in
            BLAS.bf16gemm(
                vector: vector, transposeA: tA, transposeB: tB, m: m, n: n, k: k, alpha: 0.5,
                a: a, lda: tA ? m : k, b: b, ldb: tB ? k : n, beta: beta, c: cp.baseAddress!, ldc: n)
        }
        return ran ? c : nil
    }

    func testScalarKernelEqualsRoundedInputsInDouble() {
        var rng = RandomState(seed: 11)
        for (m, n, k) in shapes {
            for (tA, tB) in [(false, false), (false, true), (true, false), (true, true)] {
                let a = rng.normal(count: m * k), b = rng.normal(count: k * n), c0 = rng.normal(count: m * n)
                for beta: Float in [0, 1, -2] {
                    guard let c = product(vector: false, tA, tB, m, n, k, a, b, beta: beta, c0: c0) else {
                        return XCTFail("the scalar kernel must always run")
                    }
                    let (value, scale) = reference(tA, tB, m, n, k, a, b)
                    for e in 0..<(m * n) {
                        let expected = 0.5 * value[e] + Double(beta) * Double(c0[e])
                        // fp32 sums of exact products: at most k roundings of 2⁻²⁴ each on Σ|a||b|.
                        let bound =
                            Double(k + 2) * 0x1p-24 * (0.5 * scale[e] + abs(Double(beta) * Double(c0[e]))) + 1e-30
                        XCTAssertLessThanOrEqual(
                            abs(Double(c[e]) - expected), bound,
                            "m \(m) n \(n) k \(k) tA \(tA) tB \(tB) beta \(beta) at \(e)")
                    }
                }
            }
        }
    }

    func testVectorKernelEqualsScalarBitForBit() throws {
        guard BLAS.bf16KernelAvailable else {
            XCTAssertNil(
                product(vector: true, false, false, 2, 2, 2, [1, 2, 3, 4], [1, 2, 3, 4], beta: 0, c0: [0, 0, 0, 0]),
                "without AVX512-BF16 the vector kernel must refuse, writing nothing")
            throw XCTSkip(
                "the bf16 kernel does not run here (\(KernelPath.description): no AVX512-BF16, LOFT_SIMD below avx512 or LOFT_BF16=off)"
            )
        }
        var rng = RandomState(seed: 12)
        for (m, n, k) in shapes {
            for (tA, tB) in [(false, false), (false, true), (true, false), (true, true)] {
                let a = rng.normal(count: m * k), b = rng.normal(count: k * n), c0 = rng.normal(count: m * n)
                for beta: Float in [0, 1] {
                    let scalar = product(vector: false, tA, tB, m, n, k, a, b, beta: beta, c0: c0)
                    let vector = product(vector: true, tA, tB, m, n, k, a, b, beta: beta, c0: c0)
                    XCTAssertEqual(vector, scalar, "m \(m) n \(n) k \(k) tA \(tA) tB \(tB) beta \(beta)")
                }
            }
        }
    }

    func testProductsFollowTheComputeTheyAreGiven() {
        var rng = RandomState(seed: 13)
        let (m, n, k) = (64, 96, 300)
        let a = rng.normal(count: m * k), b = rng.normal(count: n * k)
        func run(_ compute: ComputeType?) -> [Float] {
            var c = [Float](repeating: 0, count: m * n)
            c.withUnsafeMutableBufferPointer {
                if let compute {
                    BLAS.sgemm(
                        transposeA: false, transposeB: true, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k,
                        c: $0.baseAddress!, ldc: n, compute: compute)
                } else {
                    BLAS.sgemm(
                        transposeA: false, transposeB: true, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k,
                        c: $0.baseAddress!, ldc: n)
                }
            }
            return c
        }
        let fp32 = run(.fp32)
        XCTAssertEqual(run(nil), fp32, "a product not given a compute type is fp32")
        let bf16 = run(.bf16)
        XCTAssertEqual(BLAS.effective(.fp32), .fp32)
        if BLAS.bf16KernelAvailable {
            XCTAssertEqual(BLAS.effective(.bf16), .bf16)
            let (value, _) = reference(false, true, m, n, k, a, b)
            XCTAssertNotEqual(bf16, fp32, "bf16 inputs must change the result")
            let worst = zip(bf16, value).map { abs(Double($0) - $1) }.max() ?? 0
            XCTAssertLessThan(worst, 1e-3, "a bf16 product equals the product of rounded inputs")
        } else {
            XCTAssertEqual(BLAS.effective(.bf16), .fp32)
            XCTAssertEqual(bf16, fp32, "without the bf16 kernel, bf16 products run in fp32")
        }
    }
}
