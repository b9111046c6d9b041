import Autograd
import XCTest
import _TestSupport

final class LinearCrossEntropyTests: LoftTestCase {
    /// The fused chunked op equals the unfused `matmul` + `crossEntropy` in loss and in both
    /// gradients, with ignored rows, over chunks that do not divide the rows (21 rows in chunks
    /// of 1, 3, 8 and all). Tolerance: both sum the same exp terms in a different order (Float
    /// rounding of ~1e-7 relative per term over V = 37 terms).
    func testEqualsUnfusedProjectionAndCrossEntropy() {
        let (v, d) = (37, 16)
        var targets: [Int32] = (0..<21).map { Int32(($0 * 7) % v) }
        targets[4] = Tensor.ignoreIndex
        targets[20] = Tensor.ignoreIndex
        let reference: (loss: Float, dh: [Float], dw: [Float]) = {
            let (h, w) = (randomTensor([3, 7, d], seed: 1), randomTensor([v, d], seed: 2, scale: 0.5))
            let loss = h.matmul(w, transposeOther: true).crossEntropy(targets: targets)
            loss.backward()
            return (loss.item, h.grad!, w.grad!)
        }()
        for chunk in [1, 3, 8, nil] {
            let (h, w) = (randomTensor([3, 7, d], seed: 1), randomTensor([v, d], seed: 2, scale: 0.5))
            let loss = h.linearCrossEntropy(weight: w, targets: targets, chunkRows: chunk)
            XCTAssertEqual(loss.item, reference.loss, accuracy: 1e-6, "chunk \(String(describing: chunk))")
            loss.backward()
            assertClose(h.grad!, reference.dh, atol: 1e-6, "dh chunk \(String(describing: chunk))")
            assertClose(w.grad!, reference.dw, atol: 1e-6, "dw chunk \(String(describing: chunk))")
        }
    }

    func testGradients() {
        let targets: [Int32] = [3, Tensor.ignoreIndex, 0, 5, 5]
        gradCheck([randomTensor([5, 4], seed: 3), randomTensor([6, 4], seed: 4)]) {
            $0[0].linearCrossEntropy(weight: $0[1], targets: targets, chunkRows: 2)
        }
    }

    /// A frozen weight gets no gradient; every row ignored gives loss 0 and no gradient.
    func testFrozenWeightAndAllIgnored() {
        let (h, w) = (randomTensor([4, 3], seed: 5), randomTensor([5, 3], seed: 6, requiresGrad: false))
        let loss = h.linearCrossEntropy(weight: w, targets: [1, 2, 3, 4])
        loss.backward()
        XCTAssertNil(w.grad)
        XCTAssertNotNil(h.grad)
        let none = randomTensor([2, 3], seed: 7).linearCrossEntropy(
            weight: w, targets: [Tensor.ignoreIndex, Tensor.ignoreIndex])
        XCTAssertEqual(none.item, 0)
    }
}
