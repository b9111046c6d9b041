import Autograd
import XCTest
import _TestSupport

final class MatMulTests: LoftTestCase {
    func testForwardHandComputed() {
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        let b = Tensor([7, 8, 9, 10, 11, 12], shape: [3, 2])
        XCTAssertEqual(a.matmul(b).data, [58, 64, 139, 154])
        XCTAssertEqual(a.matmul(b).shape, [2, 2])
        // aᵀ [3, 2] · a [2, 3] → [3, 3]
        XCTAssertEqual(a.matmul(a, transposeSelf: true).data, [17, 22, 27, 22, 29, 36, 27, 36, 45])
        // a · aᵀ → [2, 2]
        XCTAssertEqual(a.matmul(a, transposeOther: true).data, [14, 32, 32, 77])
    }

    func testLinearFoldsLeadingDimensions() {
        let x = randomTensor([2, 3, 4], seed: 1, requiresGrad: false)
        let w = randomTensor([5, 4], seed: 2, requiresGrad: false)
        let y = x.matmul(w, transposeOther: true)
        XCTAssertEqual(y.shape, [2, 3, 5])
        var expected: Float = 0
        for k in 0..<4 { expected += x.data[1 * 12 + 2 * 4 + k] * w.data[3 * 4 + k] }
        XCTAssertEqual(y.data[(1 * 3 + 2) * 5 + 3], expected, accuracy: 1e-5)
    }

    func testGradients2DAllTransposeCombinations() {
        for tA in [false, true] {
            for tB in [false, true] {
                let a = randomTensor(tA ? [4, 3] : [3, 4], seed: 3)
                let b = randomTensor(tB ? [5, 4] : [4, 5], seed: 4)
                gradCheck([a, b]) { $0[0].matmul($0[1], transposeSelf: tA, transposeOther: tB) }
            }
        }
    }

    func testGradientsLinearWithLeadingDimensions() {
        gradCheck([randomTensor([2, 3, 4], seed: 5), randomTensor([6, 4], seed: 6)]) {
            $0[0].matmul($0[1], transposeOther: true)
        }
    }

    func testGradientsBatched() {
        for tA in [false, true] {
            for tB in [false, true] {
                let a = randomTensor(tA ? [2, 4, 3] : [2, 3, 4], seed: 7)
                let b = randomTensor(tB ? [2, 5, 4] : [2, 4, 5], seed: 8)
                gradCheck([a, b]) { $0[0].matmul($0[1], transposeSelf: tA, transposeOther: tB) }
            }
        }
    }
}

final class ScaledMatMulTests: LoftTestCase {
    func testScaleFoldsIntoForwardAndBackward() {
        for (tA, tB) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = randomTensor(tA ? [4, 3] : [3, 4], seed: 31)
            let b = randomTensor(tB ? [5, 4] : [4, 5], seed: 32)
            let plain = a.matmul(b, transposeSelf: tA, transposeOther: tB).scaled(by: -1.5).data
            assertClose(a.matmul(b, transposeSelf: tA, transposeOther: tB, scale: -1.5).data, plain, atol: 1e-5)
            gradCheck([a, b]) { $0[0].matmul($0[1], transposeSelf: tA, transposeOther: tB, scale: -1.5) }
        }
    }
}
