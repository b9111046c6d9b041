import Autograd
import CKernels
import XCTest
import _TestSupport

/// The softmax row loops on every SIMD path this CPU has, against Double arithmetic.
final class RowKernelTests: LoftTestCase {
    let paths = SIMDPath.supported

    override class func setUp() { KernelPath.announceComparedPaths("softmax rows, dense rows, SwiGLU") }

    func testMaxAndExpSumMatchDoubleOnEveryPath() {
        var rng = RandomState(seed: 21)
        // Lengths around the vector widths (8, 16) and a vocabulary; values from −100 to 30 (exp under-
        // and near-overflow of the shifted row).
        for count in [1, 7, 8, 9, 15, 16, 17, 33, 49152] {
            var x = rng.uniform(count: count, low: -12, high: 12)
            x[count / 2] = 30
            if count > 3 { x[1] = -100 }
            let expectedMax = x.max()!
            var expectedTotal: Double = 0
            // The argument is the fp32 difference, as every fp32 softmax computes it (its rounding is not
            // the kernel's).
            let expected = x.map { exp(Double($0 - expectedMax)) }
            for e in expected { expectedTotal += e }
            for path in paths {
                x.withUnsafeBufferPointer { xp in
                    XCTAssertEqual(
                        RowKernels.max(xp.baseAddress!, count: count, path: path), expectedMax,
                        "path \(path.rawValue), n \(count)")
                    var out = [Float](repeating: -1, count: count)
                    let total = out.withUnsafeMutableBufferPointer {
                        RowKernels.expSum(
                            xp.baseAddress!, count: count, shift: expectedMax, writingTo: $0.baseAddress!, path: path)
                    }
                    // Each exp within 4 ulp (the vector polynomial is about 2), so the sum within 4 ulp relative too.
                    XCTAssertEqual(
                        total, expectedTotal, accuracy: expectedTotal * 4 * 0x1p-23, "path \(path.rawValue), n \(count)"
                    )
                    for j in 0..<count {
                        XCTAssertEqual(
                            Double(out[j]), expected[j], accuracy: max(expected[j] * 4 * 0x1p-23, 1e-37),
                            "path \(path.rawValue), n \(count), j \(j)")
                    }
                    let withoutWriting = RowKernels.expSum(
                        xp.baseAddress!, count: count, shift: expectedMax, writingTo: nil, path: path)
                    XCTAssertEqual(withoutWriting, total, "the sum does not depend on writing")
                }
            }
        }
    }

    func testEmptyRow() {
        for path in paths {
            XCTAssertEqual(RowKernels.max([Float](), count: 0, path: path), -.infinity)
            XCTAssertEqual(RowKernels.expSum([Float](), count: 0, shift: 0, writingTo: nil, path: path), 0)
        }
    }

    /// Decoding's dense rows (`denseRows`): every path against Double sums, lengths around the
    /// vector widths (the masked / scalar tails), 1 to 6 rows of x (one and two register groups),
    /// alpha and beta; beta = 0 must not read y (NaN there stays out).
    func testDenseRowsMatchDoubleOnEveryPath() {
        var rng = RandomState(seed: 22)
        for count in [1, 7, 15, 16, 17, 40, 576] {
            for batch in 1...6 {
                let (outputs, ldx, ldy) = (5, count + 3, 9)
                let w = rng.uniform(count: outputs * count, low: -1, high: 1)
                let x = rng.uniform(count: batch * ldx, low: -1, high: 1)
                let start = rng.uniform(count: batch * ldy, low: -1, high: 1)
                for (alpha, beta) in [(Float(1), Float(0)), (Float(0.5), Float(1))] {
                    for path in paths {
                        var y = beta == 0 ? [Float](repeating: .nan, count: batch * ldy) : start
                        let written = w.withUnsafeBufferPointer { wp in
                            x.withUnsafeBufferPointer { xp in
                                y.withUnsafeMutableBufferPointer {
                                    // Rows 1..<5 only: row 0 of y must stay as it was.
                                    RowKernels.denseRows(
                                        wp.baseAddress!, ldw: count, in: count, outputs: 1..<outputs,
                                        x: xp.baseAddress!,
                                        ldx: ldx, batch: batch, alpha: alpha, beta: beta, y: $0.baseAddress!, ldy: ldy,
                                        path: path)
                                }
                            }
                        }
                        XCTAssertTrue(written)
                        for b in 0..<batch {
                            XCTAssertEqual(y[b * ldy].isNaN, beta == 0, "row 0 untouched")
                            for o in 1..<outputs {
                                var dot = 0.0, magnitude = 0.0
                                for i in 0..<count {
                                    dot += Double(w[o * count + i]) * Double(x[b * ldx + i])
                                    magnitude += abs(Double(w[o * count + i]) * Double(x[b * ldx + i]))
                                }
                                let expected = Double(alpha) * dot + Double(beta) * Double(start[b * ldy + o])
                                // fp32 sums of `count` terms in any order: within count·ε of the sum of magnitudes.
                                XCTAssertEqual(
                                    Double(y[b * ldy + o]), expected,
                                    accuracy: (magnitude + 1) * Double(count + 2) * 0x1p-24,
                                    "path \(path.rawValue), n \(count), batch \(batch), b \(b), o \(o), beta \(beta)")
                            }
                        }
                    }
                }
            }
        }
    }

    /// SwiGLU's loops (`loft_swiglu_forward/backward`) on every path against Double, lengths
    /// around the vector widths, values from −1000 to 1000 (exp's argument capped at 88 on the
    /// vector paths: silu there is below 1e-30 either way). Tolerance 16 ulp of the result's scale
    /// (a 2-ulp exp, a division and three products) plus 1e-30 absolute.
    func testSwiGLUMatchesDoubleOnEveryPath() {
        var rng = RandomState(seed: 23)
        let extremes: [Float] = [-1000, -100, -88.5, -20, -1, -0.0, 0, 0.5, 20, 100, 1000]
        for count in [1, 7, 8, 9, 16, 17, 33, 1000] {
            var a = rng.normal(count: count, std: 4)
            for (j, value) in extremes.enumerated() where j < count { a[(j * 7) % count] = value }
            let b = rng.normal(count: count), dy = rng.normal(count: count)
            for path in paths {
                var out = [Float](repeating: .nan, count: count), da = out, db = out
                a.withUnsafeBufferPointer { ap in
                    b.withUnsafeBufferPointer { bp in
                        dy.withUnsafeBufferPointer { gp in
                            loft_swiglu_forward(path.cValue, ap.baseAddress!, bp.baseAddress!, &out, Int64(count))
                            da.withUnsafeMutableBufferPointer { dap in
                                db.withUnsafeMutableBufferPointer { dbp in
                                    loft_swiglu_backward(
                                        path.cValue, ap.baseAddress!, bp.baseAddress!, gp.baseAddress!,
                                        dap.baseAddress!,
                                        dbp.baseAddress!, Int64(count))
                                }
                            }
                        }
                    }
                }
                for i in 0..<count {
                    let (x, u, g) = (Double(a[i]), Double(b[i]), Double(dy[i]))
                    let sigma = 1 / (1 + exp(-x))
                    let expected = [x * sigma * u, g * u * sigma * (1 + x * (1 - sigma)), g * x * sigma]
                    let scales = [abs(x * u), abs(g * u) * (1 + abs(x)), abs(g * x)].map { $0 * sigma }
                    for (k, (actual, want)) in zip([out[i], da[i], db[i]], expected).enumerated() {
                        XCTAssertEqual(
                            Double(actual), want, accuracy: scales[k] * 16 * 0x1p-24 + 1e-30,
                            "path \(path.rawValue), n \(count), a \(a[i]), output \(k)")
                    }
                }
            }
        }
    }
}
