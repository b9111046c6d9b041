import Autograd
import XCTest
import _TestSupport

final class ShapeOpsTests: LoftTestCase {
    func testReshapeKeepsValuesAndInfersDimension() {
        let x = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        let y = x.reshaped([3, -1])
        XCTAssertEqual(y.shape, [3, 2])
        XCTAssertEqual(y.data, x.data)
        gradCheck([randomTensor([2, 3, 4], seed: 1)]) { $0[0].reshaped([4, 6]) }
    }

    func testTransposeForward() {
        let x = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        XCTAssertEqual(x.transposed(0, 1).data, [1, 4, 2, 5, 3, 6])
        XCTAssertEqual(x.transposed(0, 1).shape, [3, 2])
    }

    func testPermuteSplitsAttentionHeads() {
        // [B=1, T=2, H=2, Dh=2] → [B, H, T, Dh]
        let x = Tensor((0..<8).map(Float.init), shape: [1, 2, 2, 2])
        let y = x.permuted([0, 2, 1, 3])
        XCTAssertEqual(y.shape, [1, 2, 2, 2])
        XCTAssertEqual(y.data, [0, 1, 4, 5, 2, 3, 6, 7])
        XCTAssertEqual(y.permuted([0, 2, 1, 3]).data, x.data)
    }

    func testPermuteGradients() {
        gradCheck([randomTensor([2, 3, 4, 2], seed: 2)]) { $0[0].permuted([0, 2, 1, 3]) }
        gradCheck([randomTensor([2, 3, 4], seed: 3)]) { $0[0].permuted([2, 0, 1]) }
        gradCheck([randomTensor([3, 4], seed: 4)]) { $0[0].transposed(0, 1) }
    }
}
