import Autograd
import Quantization
import XCTest
import _TestSupport

final class QuantizedMatMulTests: XCTestCase {
    /// Output and input gradient equal a plain linear on the dequantized weight (1e-5 relative),
    /// with several tiles (the weight is larger than one tile).
    func testEqualsPlainLinearOnDequantizedWeight() {
        for (out, inF) in [(300, 700), (64, 64)] {
            let w = RandomStateValues.normal(count: out * inF, seed: 5)
            let q = QuantizedTensor(w, shape: [out, inF], codebook: .nf4)
            let dense = Tensor(q.dequantized(), shape: [out, inF])
            let x1 = randomTensor([2, 3, inF], seed: 6)
            let x2 = Tensor(x1.data, shape: x1.shape, requiresGrad: true)
            let seed = randomTensor([2, 3, out], seed: 7, requiresGrad: false).data
            let yq = x1.matmul(quantized: q)
            let yd = x2.matmul(dense, transposeOther: true)
            XCTAssertEqual(yq.shape, [2, 3, out])
            let scale = yd.data.map(abs).max()!
            assertClose(yq.data, yd.data, atol: 1e-5 * scale)
            yq.backward(seed: seed)
            yd.backward(seed: seed)
            let gscale = x2.grad!.map(abs).max()!
            assertClose(x1.grad!, x2.grad!, atol: 1e-5 * gscale)
        }
    }

    func testGradientCheck() {
        let q = QuantizedTensor(RandomStateValues.normal(count: 6 * 5, seed: 8, std: 1), shape: [6, 5], codebook: .nf4, blockSize: 8)
        gradCheck([randomTensor([3, 5], seed: 9)]) { $0[0].matmul(quantized: q) }
    }
}
