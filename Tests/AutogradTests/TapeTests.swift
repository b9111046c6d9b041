import Autograd
import XCTest
import _TestSupport

final class TapeTests: XCTestCase {
    func testTensorUsedTwiceAccumulatesBothGradients() {
        let x = Tensor([1, -2, 3], shape: [3], requiresGrad: true)
        (x * x + x).sum().backward()  // d/dx (x² + x) = 2x + 1
        XCTAssertEqual(x.grad!, [3, -3, 7])
    }

    func testLeafGradientsAccumulateAcrossBackwardCalls() {
        let x = Tensor([2], shape: [1], requiresGrad: true)
        x.scaled(by: 3).sum().backward()
        x.scaled(by: 3).sum().backward()
        XCTAssertEqual(x.grad!, [6])
        x.zeroGrad()
        XCTAssertNil(x.grad)
    }

    func testConstantsRecordNothing() {
        let a = Tensor([1, 2], shape: [2])
        let b = a * a + a
        XCTAssertFalse(b.requiresGrad)
        XCTAssertTrue(b.isLeaf)
    }

    func testDiamondGraph() {
        // y = (2x)·(3x) = 6x²; both branches share x and the intermediate is used twice.
        let x = Tensor([1, 2], shape: [2], requiresGrad: true)
        let u = x.scaled(by: 2)
        let y = (u * x.scaled(by: 3) + u.scaled(by: 0)).sum()
        y.backward()
        XCTAssertEqual(x.grad!, [12, 24])
    }

    func testLongChainBackwardAndReleaseDoNotOverflowTheStack() {
        let x = Tensor([1], shape: [1], requiresGrad: true)
        var y = x
        let factor: Float = 1.0001
        for _ in 0..<50_000 { y = y.scaled(by: factor) }
        y.sum().backward()
        // Float32 rounding of 50,000 products: a relative error well under 1e-3.
        let expected = pow(Double(factor), 50_000)
        XCTAssertEqual(Double(x.grad![0]), expected, accuracy: 1e-3 * expected)
        // A deep graph dropped without backward must also be freed iteratively.
        var z = x
        for _ in 0..<50_000 { z = z + x }
        z = Tensor.scalar(0)
        XCTAssertEqual(z.item, 0)
    }
}

/// The bulk dropout mask draws exactly what the one-at-a-time loop draws, and leaves the same state.
final class KeepMaskTests: XCTestCase {
    func testBulkMaskEqualsTheLoop() {
        for p: Float in [0.05, 0.5, 0.9] {
            var a = RandomState(seed: 99), b = a
            var bulk = [UInt8](repeating: 7, count: 1001)
            bulk.withUnsafeMutableBufferPointer { a.fillKeepMask($0, dropProbability: p) }
            let loop: [UInt8] = (0..<1001).map { _ in b.nextUniform() < p ? 0 : 1 }
            XCTAssertEqual(bulk, loop)
            XCTAssertEqual(a, b)
            let kept = Double(bulk.filter { $0 == 1 }.count) / 1001
            XCTAssertEqual(kept, Double(1 - p), accuracy: 0.05)
        }
    }
}
