import Autograd
import XCTest
import _TestSupport

final class ElementwiseTests: LoftTestCase {
    func testAddSubMulForwardBroadcastsOverLeadingDimensions() {
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        let b = Tensor([10, 20, 30], shape: [3])
        XCTAssertEqual(a.add(b).data, [11, 22, 33, 14, 25, 36])
        XCTAssertEqual(a.add(b).shape, [2, 3])
        XCTAssertEqual(b.sub(a).data, [9, 18, 27, 6, 15, 24])
        XCTAssertEqual(a.mul(b).data, [10, 40, 90, 40, 100, 180])
        XCTAssertEqual(a.scaled(by: 0.5).data, [0.5, 1, 1.5, 2, 2.5, 3])
        XCTAssertEqual(a.sum().item, 21)
        XCTAssertEqual(a.mean().item, 3.5)
    }

    func testAddGradients() {
        gradCheck([randomTensor([2, 3, 4], seed: 1), randomTensor([4], seed: 2)]) { $0[0] + $0[1] }
        gradCheck([randomTensor([3, 4], seed: 3), randomTensor([2, 3, 4], seed: 4)]) { $0[0] + $0[1] }
    }

    func testSubGradients() {
        gradCheck([randomTensor([2, 3, 4], seed: 5), randomTensor([3, 4], seed: 6)]) { $0[0] - $0[1] }
        gradCheck([randomTensor([4], seed: 7), randomTensor([2, 4], seed: 8)]) { $0[0] - $0[1] }
    }

    func testMulGradients() {
        gradCheck([randomTensor([2, 3, 4], seed: 9), randomTensor([2, 3, 4], seed: 10)]) { $0[0] * $0[1] }
        gradCheck([randomTensor([5], seed: 11), randomTensor([3, 5], seed: 12)]) { $0[0] * $0[1] }
    }

    func testScaleSumMeanGradients() {
        gradCheck([randomTensor([3, 4], seed: 13)]) { $0[0].scaled(by: -2.5) }
        gradCheck([randomTensor([3, 4], seed: 14)]) { $0[0].sum() }
        gradCheck([randomTensor([3, 4], seed: 15)]) { $0[0].mean() }
    }

    func testConstantOperandGetsNoGradient() {
        let x = randomTensor([2, 3], seed: 16)
        let c = randomTensor([3], seed: 17, requiresGrad: false)
        (x * c).sum().backward()
        XCTAssertNil(c.grad)
        XCTAssertEqual(x.grad!, [Float]((0..<6).map { c.data[$0 % 3] }))
    }
}

/// Dropout: the mask is drawn from the stream given, so the function is fixed for a fixed stream
/// state and its gradient (mask ⊙ 1/(1−p)) checks like any other op.
final class DropoutTests: LoftTestCase {
    func testGradientMatchesFiniteDifferences() {
        let start = RandomState(seed: 21)
        gradCheck([randomTensor([3, 5], seed: 22)]) { inputs in
            var rng = start
            return inputs[0].dropout(0.3, rng: &rng)
        }
    }

    func testKeepsOrZeroesAndScales() {
        var rng = RandomState(seed: 3)
        let x = Tensor([Float](repeating: 2, count: 1000), shape: [1000])
        let y = x.dropout(0.25, rng: &rng).data
        XCTAssertTrue(y.allSatisfy { $0 == 0 || abs($0 - 2 / 0.75) < 1e-6 })
        let kept = y.filter { $0 != 0 }.count
        XCTAssertEqual(Double(kept) / 1000, 0.75, accuracy: 0.05, "about 1 − p of the elements are kept")
    }
}
