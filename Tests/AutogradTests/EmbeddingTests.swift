import Autograd
import XCTest
import _TestSupport

final class EmbeddingTests: LoftTestCase {
    func testGathersRows() {
        let table = Tensor([0, 1, 10, 11, 20, 21], shape: [3, 2])
        let y = table.embedding([2, 0, 2], idsShape: [1, 3])
        XCTAssertEqual(y.shape, [1, 3, 2])
        XCTAssertEqual(y.data, [20, 21, 0, 1, 20, 21])
    }

    func testBackwardScatterAddsRepeatedIds() {
        let table = randomTensor([4, 3], seed: 1)
        table.embedding([1, 3, 1], idsShape: [3]).sum().backward()
        XCTAssertEqual(table.grad!, [0, 0, 0, 2, 2, 2, 0, 0, 0, 1, 1, 1])
        gradCheck([randomTensor([5, 3], seed: 2)]) { $0[0].embedding([4, 0, 4, 2], idsShape: [2, 2]) }
    }
}
