import Autograd
import Llama
import Formats
import LoRA
import Quantization
import XCTest
import _TestSupport

final class LoRALinearTests: XCTestCase {
    func testZeroBEqualsBaseForFP32AndQuantizedBases() {
        var rng = RandomState(seed: 1)
        let w = rng.normal(count: 12 * 20, std: 0.1)
        let bases: [LinearLayer] = [Linear(weight: Tensor(w, shape: [12, 20])),
                                    QuantizedLinear(weight: QuantizedTensor(w, shape: [12, 20], codebook: .nf4))]
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
        let lora = LoRALinear(base: base, a: rng.normal(count: 2 * 8), b: rng.normal(count: 8 * 2), rank: 2, alpha: 2, dropout: 0.5)
        let x = randomTensor([3, 8], seed: 7, requiresGrad: false)
        XCTAssertEqual(lora(x).data, lora(x).data, "no stream: deterministic evaluation")
        lora.dropoutRNG = RandomState(seed: 8)
        let dropped = lora(x).data
        XCTAssertNotEqual(dropped, lora.infer(x).data)
        lora.dropoutRNG = RandomState(seed: 8)
        XCTAssertEqual(lora(x).data, dropped, "same stream, same mask")
    }
}

/// The whole stories260K model with LoRA on all seven linears of every layer, against PEFT.
final class LoRAGoldenGradientTests: XCTestCase {
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
