import Autograd
import XCTest
import _TestSupport

final class TapeTests: LoftTestCase {
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

/// The bit mask draws exactly what the one-at-a-time loop draws, leaves the same state, and its
/// scaled products equal multiplying by the Float mask of 0 / keep, on aligned and unaligned ranges.
final class KeepMaskTests: LoftTestCase {
    func testBitMaskEqualsTheLoop() {
        for p: Float in [0.05, 0.5, 0.9] {
            var a = RandomState(seed: 99), b = a
            let mask = a.keepMask(count: 1001, dropProbability: p)
            let loop: [Bool] = (0..<1001).map { _ in b.nextUniform() >= p }
            XCTAssertEqual((0..<1001).map(mask.isKept), loop)
            XCTAssertEqual(a, b)
            XCTAssertEqual(Double(loop.filter { $0 }.count) / 1001, Double(1 - p), accuracy: 0.05)
        }
    }

    func testScaledProductsEqualAFloatMask() {
        var rng = RandomState(seed: 5)
        let n = 203, keep: Float = 1 / (1 - 0.3)
        let mask = rng.keepMask(count: n, dropProbability: 0.3)
        let x = rng.normal(count: n), start = rng.normal(count: n)
        let factor = (0..<n).map { mask.isKept($0) ? keep : 0 }
        for range in [0..<n, 3..<200, 8..<16, 5..<6] {
            var out = [Float](repeating: .nan, count: n), dx = start
            x.withUnsafeBufferPointer { xs in
                out.withUnsafeMutableBufferPointer {
                    mask.apply(xs.baseAddress!, scale: keep, into: $0.baseAddress!, range: range)
                }
                dx.withUnsafeMutableBufferPointer {
                    mask.accumulate(xs.baseAddress!, scale: keep, into: $0.baseAddress!, range: range)
                }
            }
            for i in 0..<n {
                if range.contains(i) {
                    XCTAssertEqual(out[i].bitPattern, (x[i] * factor[i]).bitPattern, "apply \(range) element \(i)")
                    XCTAssertEqual(dx[i], start[i] + x[i] * factor[i], "accumulate \(range) element \(i)")
                } else {
                    XCTAssertTrue(out[i].isNaN, "apply wrote outside \(range)")
                    XCTAssertEqual(dx[i], start[i], "accumulate wrote outside \(range)")
                }
            }
        }
    }
}

/// Saved activations kept as bf16: reads see each value rounded to the nearest bf16 (ties to even),
/// the gradient still flows, and leaves or recomputable outputs are left alone.
final class BF16CompressionTests: LoftTestCase {
    func testCompressedValuesAreTheRoundedValues() {
        let x = Tensor(
            [1, 1 + 1.0 / 256, 1 + 3.0 / 256, 1 + 5.0 / 512, -(1 + 0.7 / 128), 65_504.3, 0, -0.0], shape: [8],
            requiresGrad: true)
        let y = x.scaled(by: 1)
        XCTAssertFalse(x.compressToBF16(), "a leaf keeps its values")
        XCTAssertTrue(y.compressToBF16())
        XCTAssertTrue(y.valuesReleased)
        // bf16 keeps 7 mantissa bits: near 1 the neighbours are 2⁻⁷ apart. 1 + 2⁻⁸ is a tie between
        // 1 (even) and 1 + 2⁻⁷: 1; 1 + 3·2⁻⁸ a tie between 1 + 2⁻⁷ and 1 + 2⁻⁶ (even): 1 + 2⁻⁶;
        // 1 + 1.25·2⁻⁷ is nearest 1 + 2⁻⁷; 65,504.3 (neighbours 256 apart) rounds to 65,536.
        let expected: [Float] = [1, 1, 1 + 1.0 / 64, 1 + 1.0 / 128, -(1 + 1.0 / 128), 65_536, 0, -0.0]
        XCTAssertEqual(y.data.map(\.bitPattern), expected.map(\.bitPattern))
        for (value, rounded) in zip(x.data, y.data) { XCTAssertLessThanOrEqual(abs(value - rounded), abs(value) / 256) }
        XCTAssertFalse(y.compressToBF16(), "already compressed")
        y.sum().backward()
        XCTAssertEqual(x.grad!, [Float](repeating: 1, count: 8))
        XCTAssertFalse(
            x.rmsNorm(weight: Tensor([Float](repeating: 1, count: 8), shape: [8]), eps: 1e-5).compressToBF16(),
            "an output that recomputes itself is released, not rounded")
    }
}
