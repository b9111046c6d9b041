import Autograd
import CKernels
import XCTest
import _TestSupport

/// The softmax row loops on every SIMD path this CPU has, against Double arithmetic.
final class RowKernelTests: XCTestCase {
    let paths: [loft_simd_path] = [LOFT_SIMD_SCALAR, LOFT_SIMD_AVX2, LOFT_SIMD_AVX512].filter { loft_simd_supported($0) != 0 }

    func testMaxAndExpSumMatchDoubleOnEveryPath() {
        var rng = RandomState(seed: 21)
        // Lengths around the vector widths (8, 16) and a vocabulary; values from −100 to 30 (exp under- and near-overflow of the shifted row).
        for count in [1, 7, 8, 9, 15, 16, 17, 33, 49152] {
            var x = rng.uniform(count: count, low: -12, high: 12)
            x[count / 2] = 30
            if count > 3 { x[1] = -100 }
            let expectedMax = x.max()!
            var expectedTotal: Double = 0
            // The argument is the fp32 difference, as every fp32 softmax computes it (its rounding is not the kernel's).
            let expected = x.map { exp(Double($0 - expectedMax)) }
            for e in expected { expectedTotal += e }
            for path in paths {
                x.withUnsafeBufferPointer { xp in
                    XCTAssertEqual(RowKernels.max(xp.baseAddress!, count: count, path: path), expectedMax, "path \(path.rawValue), n \(count)")
                    var out = [Float](repeating: -1, count: count)
                    let total = out.withUnsafeMutableBufferPointer {
                        RowKernels.expSum(xp.baseAddress!, count: count, shift: expectedMax, writingTo: $0.baseAddress!, path: path)
                    }
                    // Each exp within 4 ulp (the vector polynomial is about 2), so the sum within 4 ulp relative too.
                    XCTAssertEqual(total, expectedTotal, accuracy: expectedTotal * 4 * 0x1p-23, "path \(path.rawValue), n \(count)")
                    for j in 0..<count {
                        XCTAssertEqual(Double(out[j]), expected[j], accuracy: max(expected[j] * 4 * 0x1p-23, 1e-37), "path \(path.rawValue), n \(count), j \(j)")
                    }
                    let withoutWriting = RowKernels.expSum(xp.baseAddress!, count: count, shift: expectedMax, writingTo: nil, path: path)
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
}
