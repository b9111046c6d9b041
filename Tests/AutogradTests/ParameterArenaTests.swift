import Autograd
import XCTest
import _TestSupport

/// The parameter arena: tensors moved in keep their values, gradients accumulate in one flat
/// buffer, and gradients through an arena tensor equal those of an ordinary one.
final class ParameterArenaTests: LoftTestCase {
    func testValuesAndGradientsLiveInOneBuffer() {
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3], requiresGrad: true)
        let b = Tensor([7, 8], shape: [2], requiresGrad: true)
        b.grad = [0.5, -0.5]
        let arena = ParameterArena([a, b])
        XCTAssertEqual(arena.count, 8)
        XCTAssertEqual(Array(arena.values), [1, 2, 3, 4, 5, 6, 7, 8])
        XCTAssertEqual(
            Array(arena.grads), [0, 0, 0, 0, 0, 0, 0.5, -0.5], "a gradient present before the move moves too")
        XCTAssertEqual(a.data, [1, 2, 3, 4, 5, 6])
        arena.values[1] = 20
        XCTAssertEqual(a.data[1], 20, "the tensor reads the arena")
        b.data = [9, 10]
        XCTAssertEqual(Array(arena.values[6..<8]), [9, 10], "writing the tensor writes the arena")
        a.addGrad([1, 1, 1, 1, 1, 1])
        a.addGrad([1, 0, 0, 0, 0, 0])
        XCTAssertEqual(Array(arena.grads[0..<6]), [2, 1, 1, 1, 1, 1], "addGrad accumulates in place")
        arena.zeroGrads()
        XCTAssertEqual(Array(arena.grads), [Float](repeating: 0, count: 8))
    }

    func testMatmulGradientThroughAnArenaTensorEqualsAnOwnedOne() {
        var rng = RandomState(seed: 5)
        let x = Tensor(rng.normal(count: 12), shape: [4, 3])
        let values = rng.normal(count: 6)
        let owned = Tensor(values, shape: [2, 3], requiresGrad: true)
        let inArena = Tensor(values, shape: [2, 3], requiresGrad: true)
        let arena = ParameterArena([inArena])
        let yOwned = x.matmul(owned, transposeOther: true, scale: 0.5).sum()
        let yArena = x.matmul(inArena, transposeOther: true, scale: 0.5).sum()
        XCTAssertEqual(yOwned.item, yArena.item)
        yOwned.backward()
        yArena.backward()
        XCTAssertEqual(owned.grad, Array(arena.grads))
        XCTAssertEqual(inArena.grad, owned.grad)
    }

    /// Backward is told which inputs need a gradient (tinygrad's needs_input_grad).
    func testBackwardIsToldWhichInputsNeedAGradient() {
        let trainable = Tensor([1, 2], shape: [2], requiresGrad: true)
        let constant = Tensor([3, 4], shape: [2])
        var seen: [Bool] = []
        let y = Tape.record("probe", data: [0], shape: [], inputs: [constant, trainable]) { _, _, needs in seen = needs
        }
        y.backward()
        XCTAssertEqual(seen, [false, true])
    }

    /// An RMSNorm with a frozen weight gives the input the same gradient as with a trainable one,
    /// and leaves the frozen weight without any.
    func testFrozenInputsGetNoGradientAndTheOthersAreUnchanged() {
        var rng = RandomState(seed: 9)
        let values = rng.normal(count: 8), weights = rng.normal(count: 4)
        func run(trainableWeight: Bool) -> (dx: [Float]?, dw: [Float]?) {
            let x = Tensor(values, shape: [2, 4], requiresGrad: true)
            let w = Tensor(weights, shape: [4], requiresGrad: trainableWeight)
            x.rmsNorm(weight: w, eps: 1e-5).sum().backward()
            return (x.grad, w.grad)
        }
        let frozen = run(trainableWeight: false), trainable = run(trainableWeight: true)
        XCTAssertEqual(frozen.dx, trainable.dx)
        XCTAssertNil(frozen.dw)
        XCTAssertNotNil(trainable.dw)
    }
}
