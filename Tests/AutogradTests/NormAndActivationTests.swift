import Autograd
import Foundation
import XCTest
import _TestSupport

final class RMSNormTests: LoftTestCase {
    func testForwardHandComputed() {
        // row [3, 4]: mean(x²) = 12.5; with eps 0: x / sqrt(12.5) · w
        let x = Tensor([3, 4], shape: [1, 2])
        let w = Tensor([1, 2], shape: [2])
        let r = 1 / Float(12.5).squareRoot()
        assertClose(x.rmsNorm(weight: w, eps: 0).data, [3 * r, 8 * r], atol: 1e-6)
    }

    func testGradients() {
        gradCheck([randomTensor([2, 3, 8], seed: 1), randomTensor([8], seed: 2)]) {
            $0[0].rmsNorm(weight: $0[1], eps: 1e-5)
        }
    }
}

final class RoPETests: LoftTestCase {
    func testRotatesHalvesByPositionAngle() {
        // Dh = 4: pairs (x0, x2) turn by pos·1, (x1, x3) by pos·θ^(-1/2) = pos/100.
        let x = Tensor([1, 2, 3, 4, 1, 2, 3, 4], shape: [1, 2, 1, 4])
        let y = x.rope(offset: 5, theta: 10_000).data
        for (t, pos) in [(0, 5.0), (1, 6.0)] {
            let (a0, a1) = (pos, pos / 100)
            let expected: [Double] = [
                1 * cos(a0) - 3 * sin(a0), 2 * cos(a1) - 4 * sin(a1),
                3 * cos(a0) + 1 * sin(a0), 4 * cos(a1) + 2 * sin(a1),
            ]
            assertClose(Array(y[(t * 4)..<(t * 4 + 4)]), expected.map(Float.init), atol: 1e-5)
        }
    }

    func testPositionZeroIsIdentity() {
        let x = randomTensor([1, 1, 3, 6], seed: 1, requiresGrad: false)
        XCTAssertEqual(x.rope(offset: 0, theta: 10_000).data, x.data)
    }

    func testGradients() {
        gradCheck([randomTensor([2, 3, 2, 4], seed: 2)]) { $0[0].rope(offset: 7, theta: 10_000) }
    }
}

final class SwiGLUTests: LoftTestCase {
    func testForwardHandComputed() {
        let a = Tensor([0, 1, -2], shape: [3])
        let b = Tensor([5, 2, 3], shape: [3])
        let silu: (Double) -> Double = { $0 / (1 + exp(-$0)) }
        assertClose(a.swiGLU(up: b).data, [0, Float(2 * silu(1)), Float(3 * silu(-2))], atol: 1e-6)
    }

    func testGradients() {
        gradCheck([randomTensor([3, 5], seed: 3, scale: 3), randomTensor([3, 5], seed: 4)]) {
            $0[0].swiGLU(up: $0[1])
        }
    }
}

final class SoftmaxTests: LoftTestCase {
    func testForwardHandComputed() {
        let x = Tensor([0, log(3), 1000, 1000], shape: [2, 2])
        assertClose(x.softmax().data, [0.25, 0.75, 0.5, 0.5], atol: 1e-6)
    }

    func testGradients() {
        gradCheck([randomTensor([3, 6], seed: 5, scale: 2)]) { $0[0].softmax() }
    }
}

final class CrossEntropyTests: LoftTestCase {
    func testForwardHandComputedWithIgnoredRow() {
        // row 0: p(target 1) = 3/4; row 1 ignored; row 2: uniform over 2 → ln 2
        let logits = Tensor([0, log(3), 9, -9, 5, 5], shape: [3, 2])
        let loss = logits.crossEntropy(targets: [1, -100, 0])
        XCTAssertEqual(Double(loss.item), (-log(0.75) + log(2)) / 2, accuracy: 1e-6)
    }

    func testAllIgnoredGivesZero() {
        let logits = randomTensor([2, 3], seed: 1)
        let loss = logits.crossEntropy(targets: [-100, -100])
        XCTAssertEqual(loss.item, 0)
        loss.backward()
        XCTAssertEqual(logits.grad ?? [Float](repeating: 0, count: 6), [Float](repeating: 0, count: 6))
    }

    func testGradientsWithIgnoredPositions() {
        gradCheck([randomTensor([2, 3, 7], seed: 6, scale: 3)]) {
            $0[0].crossEntropy(targets: [3, -100, 0, 6, -100, 2])
        }
    }
}
