import Autograd
import Llama
import Formats
import LoRA
import XCTest
import _TestSupport

/// Recomputing blocks in backward gives the gradients of the plain backward (dropout included).
final class ActivationCheckpointingTests: LoftTestCase {
    func testSameLossAndGradients() throws {
        let (model, golden) = try goldenLoRAModel(dropout: 0.2)
        let tokens = golden.ids("tokens"), labels = golden.ids("labels")
        let both = tokens + tokens.reversed(), bothLabels = labels + labels.reversed()
        var results: [(Float, [[Float]])] = []
        for checkpointing in [false, true] {
            for (index, layer) in model.blocks.flatMap(\.loraLayers).enumerated() {
                layer.dropoutRNG = RandomState(seed: UInt64(index))
            }
            let loss = model.loss(tokens: both, labels: bothLabels, batch: 2, steps: 64, checkpointing: checkpointing)
            loss.backward()
            let parameters = model.trainableParameters.map(\.tensor)
            results.append((loss.item, parameters.map { $0.grad! }))
            for p in parameters { p.zeroGrad() }
        }
        XCTAssertEqual(results[0].0, results[1].0, accuracy: 1e-6)
        for (plain, recomputed) in zip(results[0].1, results[1].1) {
            let scale = plain.map(abs).max()!
            assertClose(recomputed, plain, atol: 1e-5 * scale)
        }
    }
}
