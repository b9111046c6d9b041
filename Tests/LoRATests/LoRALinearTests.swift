import Autograd
import Llama
import Formats
import LoRA
import Quantization
import XCTest
import _TestSupport

final class LoRALinearTests: LoftTestCase {
    func testZeroBEqualsBaseForFP32AndQuantizedBases() {
        var rng = RandomState(seed: 1)
        let w = rng.normal(count: 12 * 20, std: 0.1)
        let bases: [LinearLayer] = [
            Linear(weight: Tensor(w, shape: [12, 20])),
            QuantizedLinear(weight: QuantizedTensor(w, shape: [12, 20], codebook: .nf4)),
        ]
        for base in bases {
            let (a, b) = LoRALinear.gaussianInit(in: 20, out: 12, rank: 4, rng: &rng)
            let lora = LoRALinear(base: base, a: a, b: b, rank: 4, alpha: 8)
            let x = randomTensor([3, 20], seed: 2, requiresGrad: false)
            XCTAssertEqual(lora(x).data, base(x).data)
            XCTAssertEqual(lora.infer(x).data, base.infer(x).data)
            XCTAssertTrue(a.allSatisfy { abs($0) <= 1 / Float(20).squareRoot() })
        }
    }

    func testUpdateScalingAndGradients() {
        var rng = RandomState(seed: 3)
        let base = Linear(weight: Tensor(rng.normal(count: 6 * 5), shape: [6, 5]))
        let lora = LoRALinear(base: base, a: rng.normal(count: 2 * 5), b: rng.normal(count: 6 * 2), rank: 2, alpha: 6)
        XCTAssertEqual(lora.scaling, 3)
        let x = randomTensor([4, 5], seed: 4, requiresGrad: false)
        // y = x·Wᵀ + 3·x·Aᵀ·Bᵀ, with the merged weight W + 3·B·A
        let merged = Linalg.product(lora.loraB.data, lora.loraA.data, m: 6, k: 2, n: 5)
        let mergedWeight = zip(base.weight.data, merged).map { $0 + 3 * $1 }
        assertClose(lora(x).data, x.matmul(Tensor(mergedWeight, shape: [6, 5]), transposeOther: true).data, atol: 1e-5)
        assertClose(lora.infer(x).data, lora(x).data, atol: 1e-5)
        // The check perturbs A and B in place, so the closure evaluates the layer itself.
        let input = randomTensor([4, 5], seed: 5)
        gradCheck([lora.loraA, lora.loraB, input]) { _ in lora(input) }
    }

    func testDropoutOnlyWithAStream() {
        var rng = RandomState(seed: 6)
        let base = Linear(weight: Tensor(rng.normal(count: 8 * 8), shape: [8, 8]))
        let lora = LoRALinear(
            base: base, a: rng.normal(count: 2 * 8), b: rng.normal(count: 8 * 2), rank: 2, alpha: 2, dropout: 0.5)
        let x = randomTensor([3, 8], seed: 7, requiresGrad: false)
        XCTAssertEqual(lora(x).data, lora(x).data, "no stream: deterministic evaluation")
        lora.dropoutRNG = RandomState(seed: 8)
        let dropped = lora(x).data
        XCTAssertNotEqual(dropped, lora.infer(x).data)
        lora.dropoutRNG = RandomState(seed: 8)
        XCTAssertEqual(lora(x).data, dropped, "same stream, same mask")
    }

    /// The fused node (one buffer, gradient by hand) equals the composition of tape ops
    /// `x·Wᵀ + s·(dropout(x)·Aᵀ)·Bᵀ` in output and in the gradients of x, A and B, with and
    /// without dropout, over fp32 and NF4 bases; the composition's dropout draws the same mask.
    func testFusedNodeEqualsComposedOps() {
        var rng = RandomState(seed: 9)
        let w = rng.normal(count: 12 * 64, std: 0.1)
        let (a, b) = (rng.normal(count: 3 * 64, std: 0.1), rng.normal(count: 12 * 3, std: 0.1))
        let quantized = QuantizedTensor(w, shape: [12, 64], codebook: .nf4)
        for (name, base, dense) in [
            ("fp32", Linear(weight: Tensor(w, shape: [12, 64])) as LinearLayer, w),
            ("nf4", QuantizedLinear(weight: quantized), quantized.dequantized()),
        ] {
            for p: Float in [0, 0.3] {
                let lora = LoRALinear(base: base, a: a, b: b, rank: 3, alpha: 6, dropout: p)
                lora.dropoutRNG = RandomState(seed: 10)
                let x = randomTensor([2, 5, 64], seed: 11)
                var seedRNG = RandomState(seed: 12)
                let seed = seedRNG.normal(count: 2 * 5 * 12)
                let y = lora(x)
                y.backward(seed: seed)
                let (refA, refB) = (
                    Tensor(a, shape: [3, 64], requiresGrad: true), Tensor(b, shape: [12, 3], requiresGrad: true)
                )
                let refX = Tensor(x.data, shape: x.shape, requiresGrad: true)
                var stream = RandomState(seed: 10)
                let dropped = p > 0 ? refX.dropout(p, rng: &stream) : refX
                let reference =
                    refX.matmul(Tensor(dense, shape: [12, 64]), transposeOther: true)
                    + dropped.matmul(refA, transposeOther: true).matmul(refB, transposeOther: true, scale: 2)
                reference.backward(seed: seed)
                assertClose(y.data, reference.data, atol: 1e-5, "\(name) p \(p) y")
                assertClose(x.grad!, refX.grad!, atol: 1e-5, "\(name) p \(p) dx")
                assertClose(lora.loraA.grad!, refA.grad!, atol: 1e-5, "\(name) p \(p) dA")
                assertClose(lora.loraB.grad!, refB.grad!, atol: 1e-5, "\(name) p \(p) dB")
            }
        }
    }

    /// The fused node onto a residual (a block's o and down) equals `residual + lora(x)` bit for
    /// bit in output and in the gradients of x, A, B and the residual (float addition commutes;
    /// every other operation is the same), with dropout, over an NF4 base.
    func testResidualFusedNodeEqualsAddedOps() {
        var rng = RandomState(seed: 14)
        let base = QuantizedLinear(
            weight: QuantizedTensor(rng.normal(count: 12 * 64, std: 0.1), shape: [12, 64], codebook: .nf4))
        let (a, b) = (rng.normal(count: 3 * 64, std: 0.1), rng.normal(count: 12 * 3, std: 0.1))
        let seed = rng.normal(count: 2 * 5 * 12)
        func run(fused: Bool) -> [[Float]] {
            let lora = LoRALinear(base: base, a: a, b: b, rank: 3, alpha: 6, dropout: 0.2)
            lora.dropoutRNG = RandomState(seed: 15)
            let (x, residual) = (randomTensor([2, 5, 64], seed: 16), randomTensor([2, 5, 12], seed: 17))
            let y = fused ? lora(x, adding: residual, compute: .fp32) : residual + lora(x)
            y.backward(seed: seed)
            return [y.data, x.grad!, residual.grad!, lora.loraA.grad!, lora.loraB.grad!]
        }
        let (fused, composed) = (run(fused: true), run(fused: false))
        for (i, name) in ["y", "dx", "dresidual", "dA", "dB"].enumerated() {
            XCTAssertEqual(fused[i], composed[i], name)
        }
    }

    /// `accumulateInputGradient` of a LoRA layer adds dy·(W + s·B·A).
    func testInputGradientOfTheMergedMap() {
        var rng = RandomState(seed: 13)
        let base = Linear(weight: Tensor(rng.normal(count: 6 * 5), shape: [6, 5]))
        let lora = LoRALinear(base: base, a: rng.normal(count: 2 * 5), b: rng.normal(count: 6 * 2), rank: 2, alpha: 4)
        let merged = zip(base.weight.data, Linalg.product(lora.loraB.data, lora.loraA.data, m: 6, k: 2, n: 5)).map {
            $0 + 2 * $1
        }
        let dy = rng.normal(count: 3 * 6)
        var dx = [Float](repeating: 1, count: 3 * 5)
        dy.withUnsafeBufferPointer { d in
            dx.withUnsafeMutableBufferPointer {
                lora.accumulateInputGradient(d.baseAddress!, rows: 3, into: $0.baseAddress!, compute: .fp32)
            }
        }
        let expected = Linalg.product(dy, merged, m: 3, k: 6, n: 5).map { $0 + 1 }
        assertClose(dx, expected, atol: 1e-5)
    }
}

/// The whole stories260K model with LoRA on all seven linears of every layer, against PEFT.
final class LoRAGoldenGradientTests: LoftTestCase {
    func testGradientsMatchPEFT() throws {
        let (model, golden) = try goldenLoRAModel()
        let parameters = model.trainableParameters
        XCTAssertEqual(parameters.count, 70)
        // Σ R·(in + out) over 5 layers: q, o (64+64), k, v (64+32), gate, up (64+172), down (172+64)
        XCTAssertEqual(parameters.map { $0.tensor.count }.reduce(0, +), 5 * 4 * (2 * 128 + 2 * 96 + 3 * 236))
        let loss = model.loss(tokens: golden.ids("tokens"), labels: golden.ids("labels"), batch: 1, steps: 64)
        XCTAssertEqual(loss.item, golden["loss"][0], accuracy: 1e-5)
        loss.backward()
        var worst = 0.0
        for (id, tensor) in parameters {
            let name = PEFTNames.key(id)
            let expected = golden[name]
            let grad = try XCTUnwrap(tensor.grad, name)
            XCTAssertEqual(grad.count, expected.count, "\(name): gradient and golden lengths")
            guard grad.count == expected.count else { continue }
            let error = LoftQ.frobeniusNorm(zip(grad, expected).map { $0 - $1 }) / LoftQ.frobeniusNorm(expected)
            worst = max(worst, error)
            XCTAssertLessThanOrEqual(error, 1e-4, name)
        }
        print("LoRA gradients vs PEFT: worst relative Frobenius error \(worst)")
    }
}
