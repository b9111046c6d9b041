import Autograd
import Foundation
import Formats
import Llama
import LoRA
import Tokenizers
import Recipes
import Training
import XCTest
import _TestSupport

final class EvaluationTests: LoftTestCase {
    func stories() throws -> LlamaModel {
        try LlamaModel(checkpoint: HuggingFaceCheckpoint(folder: Fixtures.golden("stories260K-hf")))
    }

    /// One block of the golden tokens: perplexity = exp(the golden mean NLL over its 63 targets).
    func testPerplexityOfGoldenTokens() throws {
        let golden = try GoldenTensors(path: Fixtures.golden("stories260K_forward.safetensors"))
        let result = Perplexity.evaluate(
            model: try stories(), blocks: Perplexity.Blocks(tokens: [golden.ids("tokens")], firstScored: 0))
        XCTAssertEqual(result.targets, 63)
        XCTAssertEqual(result.meanNLL, Double(golden["loss"][0]), accuracy: 1e-5)
        XCTAssertEqual(result.perplexity, exp(Double(golden["loss"][0])), accuracy: 1e-4 * result.perplexity)
        XCTAssertGreaterThan(result.standardError, 0)
    }

    func testProtocolsChunkAndScoreAsSpecified() throws {
        let tokenizer = try SentencePieceTokenizer(path: Fixtures.data("models/stories260K/tok512.model"))
        let text = " = A = \n \n Once upon a time there was a cat . \n The cat was happy and it ran . \n"
        let hf = try Perplexity.blocks(text: text, kind: .hf, tokenizer: tokenizer, length: 8)
        XCTAssertEqual(hf.firstScored, 0)
        XCTAssertEqual(hf.tokens.first?.first, 1, "the first row starts with BOS")
        let cpp = try Perplexity.blocks(text: text, kind: .llamaCpp, tokenizer: tokenizer, length: 8)
        XCTAssertTrue(cpp.tokens.allSatisfy { $0.first == 1 && $0.count == 8 })
        XCTAssertEqual(cpp.firstScored, 4)
        let model = try stories()
        let result = Perplexity.evaluate(model: model, blocks: cpp, batch: 2)
        XCTAssertEqual(result.targets, cpp.tokens.count * 3, "positions 4...6 predict tokens 5...7 of each chunk of 8")
        let all = Perplexity.evaluate(model: model, blocks: hf, batch: 3)
        XCTAssertEqual(all.targets, hf.tokens.count * 7)
        let single = Perplexity.evaluate(model: model, blocks: hf, batch: 1)
        XCTAssertEqual(all.meanNLL, single.meanNLL, accuracy: 1e-5, "batching does not change the result")
    }

    func testAnswerExtraction() {
        typealias E = GSM8KEvaluation
        XCTAssertEqual(E.strictAnswer("so 3+4=7.\nThe final answer is:  1,234"), "1234")
        XCTAssertEqual(E.strictAnswer("The final answer is: $18.50 dollars"), "18.50")
        XCTAssertEqual(
            E.strictAnswer("The final answer is: -5\nThe final answer is: 6"), "-5", "the phrase twice: the first")
        XCTAssertEqual(E.strictAnswer("#### 72"), "72")
        XCTAssertNil(E.strictAnswer("I think it is 12"))
        XCTAssertNil(E.strictAnswer("The final answer is: unknown"))
        XCTAssertEqual(E.flexibleAnswer("She has 3 apples and 4 pears, so 7."), "7")
        XCTAssertEqual(E.flexibleAnswer("costs $1,000,000 in total"), "1000000")
        XCTAssertEqual(E.flexibleAnswer("the values 3,4 and 0.25"), "0.25")
        XCTAssertNil(E.flexibleAnswer("no number here"))
        XCTAssertEqual(E.answer("I think 12. The final answer is: 13 because 14"), "13")
        XCTAssertEqual(E.answer("I think 12, then 15"), "15")
        XCTAssertTrue(E.matches("18.0", gold: "18"))
        XCTAssertTrue(E.matches("1080", gold: "1,080"))
        XCTAssertFalse(E.matches("-18", gold: "18"))
        XCTAssertFalse(E.matches(nil, gold: "18"))
    }

    /// The golden PEFT adapter applied to stories260K gives PEFT's loss, and the same NLL as a
    /// model whose weights are merged in fp32 (W + s·B·A).
    func testAdapterEqualsMergedWeights() throws {
        let golden = try GoldenTensors(path: Fixtures.golden("stories260K_lora_grads.safetensors"))
        let model = try stories()
        try AdapterFiles.attach(URL(fileURLWithPath: try Fixtures.golden("stories260K_lora_adapter")), to: model)
        let (tokens, labels) = (golden.ids("tokens"), golden.ids("labels"))
        let adapted = model.loss(tokens: tokens, labels: labels, batch: 1, steps: 64, recording: false).item
        XCTAssertEqual(adapted, golden["loss"][0], accuracy: 1e-5)
        let merged = try stories()
        for (layer, block) in model.blocks.enumerated() {
            for module in LinearModule.allCases {
                let lora = block[module] as! LoRALinear
                let base = (lora.base as! Linear).weight.data
                let update = Linalg.product(
                    lora.loraB.data, lora.loraA.data, m: lora.outFeatures, k: lora.rank, n: lora.inFeatures)
                merged.blocks[layer][module] = Linear(
                    weight: Tensor(
                        zip(base, update).map { $0 + lora.scaling * $1 },
                        shape: [lora.outFeatures, lora.inFeatures]))
            }
        }
        XCTAssertEqual(merged.loss(tokens: tokens, labels: labels, batch: 1, steps: 64).item, adapted, accuracy: 1e-5)
    }

    func testBatchedGenerationEqualsOneAtATime() throws {
        let model = try stories()
        let prompts: [[Int32]] = [[1], [1, 403, 407], [1, 410, 454, 303, 316, 468, 419]]
        var rng = RandomState(seed: 1)
        let batched = try model.generateBatch(prompts: prompts, maxNewTokens: 30, rng: &rng, stopTokens: [2])
        for (prompt, output) in zip(prompts, batched) {
            var single = RandomState(seed: 1)
            XCTAssertEqual(try model.generate(prompt: prompt, maxNewTokens: 30, rng: &single, stopTokens: [2]), output)
        }
        // A stop token ends one sequence early while the others go on.
        let first = batched[0]
        let stop = Set([first[4]])
        let stopped = try model.generateBatch(prompts: prompts, maxNewTokens: 30, rng: &rng, stopTokens: stop)
        XCTAssertEqual(stopped[0], Array(first.prefix(while: { !stop.contains($0) })))
    }
}
