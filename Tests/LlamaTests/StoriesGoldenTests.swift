import Autograd
import Foundation
import Formats
import Llama
import Tokenizers
import XCTest
import _TestSupport

/// stories260K against the references computed by llama2.c / Hugging Face transformers.
final class StoriesGoldenTests: LoftTestCase {
    static func llama2cModel() throws -> LlamaModel {
        try LlamaModel(checkpoint: Llama2CCheckpoint(path: Fixtures.data("models/stories260K/stories260K.bin")))
    }

    static func huggingFaceModel() throws -> LlamaModel {
        try LlamaModel(checkpoint: HuggingFaceCheckpoint(folder: Fixtures.golden("stories260K-hf")))
    }

    func testLlama2CHeaderGivesTheConfig() throws {
        let config = try Self.llama2cModel().config
        XCTAssertEqual(
            config,
            LlamaConfig(
                dim: 64, layers: 5, heads: 8, kvHeads: 4, hiddenDim: 172, vocabularySize: 512,
                normEps: 1e-5, ropeTheta: 10_000, maxSequenceLength: 512, tiedEmbeddings: true))
        XCTAssertEqual(try Self.huggingFaceModel().config.dim, 64)
    }

    /// Golden forward: logits atol 1e-4 (float32 noise ≈ 2e-5 per the golden README), losses atol 1e-5.
    func checkForwardGolden(_ model: LlamaModel) throws {
        let golden = try GoldenTensors(path: Fixtures.golden("stories260K_forward.safetensors"))
        let tokens = golden.ids("tokens")
        let logits = model.logits(tokens: tokens, batch: 1, steps: tokens.count)
        XCTAssertEqual(logits.shape, [1, 64, 512])
        let expected = golden["logits"]
        let maxDiff = zip(logits.data, expected).map { abs($0 - $1) }.max()!
        XCTAssertLessThanOrEqual(maxDiff, 1e-4, "max |logit − golden| = \(maxDiff)")
        print("stories260K logits vs transformers: max |difference| \(maxDiff)")
        XCTAssertEqual(
            model.loss(tokens: tokens, labels: tokens, batch: 1, steps: 64).item, golden["loss"][0], accuracy: 1e-5)
        XCTAssertEqual(
            model.loss(tokens: tokens, labels: golden.ids("labels_masked"), batch: 1, steps: 64).item,
            golden["loss_masked"][0], accuracy: 1e-5)
    }

    func testLlama2CFileMatchesReferenceLogits() throws { try checkForwardGolden(Self.llama2cModel()) }

    func testHuggingFaceFolderMatchesReferenceLogits() throws { try checkForwardGolden(Self.huggingFaceModel()) }

    func testGreedyDecodingReproducesLlama2CStory() throws {
        let golden = try Fixtures.json(Fixtures.data("models/stories260K/golden_greedy.json"))
        let expectedIDs = try XCTUnwrap(golden["greedy_token_ids"] as? [Int]).map(Int32.init)
        let model = try Self.llama2cModel()
        var rng = RandomState(seed: 0)
        let ids = try model.generate(prompt: [1], maxNewTokens: 200, rng: &rng)
        XCTAssertEqual(ids, expectedIDs)
        let tokenizer = try SentencePieceTokenizer(path: Fixtures.data("models/stories260K/tok512.model"))
        XCTAssertEqual(try tokenizer.decode(ids), golden["expected_text"] as? String)

        let cache = KVCache(config: model.config, capacity: 4)
        let step0 = model.forward(tokens: [1], cache: cache)
        let first8 = try XCTUnwrap(golden["step0_logits_first8"] as? [Double]).map(Float.init)
        assertClose(Array(step0.prefix(8)), first8, atol: 1e-4)  // golden printed to 4 decimals
    }

    func testTeacherForcedNLL() throws {
        let golden = try Fixtures.json(Fixtures.data("models/stories260K/golden_greedy.json"))
        let forced = try XCTUnwrap(golden["teacher_forced"] as? [String: Any])
        let ids = [1] + (try XCTUnwrap(forced["token_ids_without_bos"] as? [Int])).map(Int32.init)
        let model = try Self.llama2cModel()
        let nll = model.loss(tokens: ids, labels: ids, batch: 1, steps: ids.count).item
        XCTAssertEqual(ids.count - 1, forced["n_targets"] as? Int)
        XCTAssertEqual(Double(nll), try XCTUnwrap(forced["mean_nll_nats"] as? Double), accuracy: 1e-3)
        // transformers' own value for the same sentence (stories260K_verify.json), tighter:
        let verify = try Fixtures.json(Fixtures.golden("stories260K_verify.json"))
        XCTAssertEqual(Double(nll), try XCTUnwrap(verify["teacher_forced_nll"] as? Double), accuracy: 1e-4)
    }

    /// The KV-cache inference path gives the training path's logits, whole-prompt and token by token.
    func testInferencePathMatchesTrainingPath() throws {
        let model = try Self.huggingFaceModel()
        let golden = try GoldenTensors(path: Fixtures.golden("stories260K_forward.safetensors"))
        let tokens = Array(golden.ids("tokens").prefix(24))
        let reference = model.logits(tokens: tokens, batch: 1, steps: tokens.count).data
        let prefill = model.forward(tokens: tokens, cache: KVCache(config: model.config, capacity: 32), allLogits: true)
        assertClose(prefill, reference, atol: 2e-5, "prefill")
        let cache = KVCache(config: model.config, capacity: 32)
        var stepwise: [Float] = model.forward(tokens: Array(tokens.prefix(10)), cache: cache, allLogits: true)
        for token in tokens.dropFirst(10) { stepwise += model.forward(tokens: [token], cache: cache) }
        assertClose(stepwise, reference, atol: 2e-5, "token by token")
        XCTAssertEqual(cache.length, 24)
    }

    func testBatchedTrainingPathEqualsPerRow() throws {
        let model = try Self.llama2cModel()
        let a: [Int32] = [1, 403, 407, 261, 378, 432]
        let b: [Int32] = [1, 410, 454, 303, 316, 468]
        let both = model.logits(tokens: a + b, batch: 2, steps: 6).data
        assertClose(Array(both.prefix(6 * 512)), model.logits(tokens: a, batch: 1, steps: 6).data, atol: 5e-5)
        assertClose(Array(both.suffix(6 * 512)), model.logits(tokens: b, batch: 1, steps: 6).data, atol: 5e-5)
    }
}
