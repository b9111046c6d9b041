import Autograd
import LoRA
import Quantization
import XCTest
import _TestSupport

/// Decoding's split path (`SharedInputInference`, `RowSplitLinear`) against each layer's own
/// product: adapters over NF4 and fp32 bases and a bare NF4 layer sharing one input, rows of x
/// from 1 to 4 (split, one and several cores), 16 (the fp32 base does not split: each layer on
/// its own) and 17 (none splits).
final class SharedInputInferenceTests: LoftTestCase {
    func testSharedLayersEqualEachLayerAlone() {
        var rng = RandomState(seed: 31)
        let inFeatures = 512
        func adapter(over base: LinearLayer) -> LoRALinear {
            LoRALinear(
                base: base, a: rng.normal(count: 8 * inFeatures, std: 0.05),
                b: rng.normal(count: base.outFeatures * 8, std: 0.05),
                rank: 8, alpha: 16)
        }
        let nf4 = QuantizedLinear(
            weight: QuantizedTensor(
                rng.normal(count: 256 * inFeatures, std: 0.05), shape: [256, inFeatures], codebook: .nf4))
        let dense = Linear(weight: Tensor(rng.normal(count: 72 * inFeatures, std: 0.05), shape: [72, inFeatures]))
        let bare = QuantizedLinear(
            weight: QuantizedTensor(
                rng.normal(count: 64 * inFeatures, std: 0.05), shape: [64, inFeatures], codebook: .nf2))
        let layers: [LinearLayer] = [adapter(over: nf4), adapter(over: dense), bare]
        for rows in [1, 3, 4, 16, 17] {
            let x = Tensor(rng.normal(count: rows * inFeatures), shape: [rows, inFeatures])
            XCTAssertEqual(layers.allSatisfy { ($0 as? RowSplitLinear)?.splitsRows(rows) == true }, rows <= 4)
            let shared = SharedInputInference.infer(layers, x, shared: true)  // whatever LOFT_SHARED_INFERENCE says
            for (index, layer) in layers.enumerated() {
                // The layer alone through the pointer path: its base's product, then the adapter's two sgemms.
                var expected = [Float](repeating: 0, count: rows * layer.outFeatures)
                x.withValues { xs in
                    expected.withUnsafeMutableBufferPointer {
                        layer.infer(xs.baseAddress!, rows: rows, into: $0.baseAddress!, compute: .fp32)
                    }
                }
                XCTAssertEqual(shared[index].shape, [rows, layer.outFeatures])
                // Both sum 512 products of magnitude ≲ 0.2 in fp32 in different orders: 1e-5 absolute.
                assertClose(shared[index].data, expected, atol: 1e-5, "layer \(index), rows \(rows)")
                assertClose(layer.infer(x).data, expected, atol: 1e-5, "layer \(index) alone, rows \(rows)")
            }
        }
    }
}
