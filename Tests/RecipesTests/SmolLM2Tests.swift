import Autograd
import ChatTemplates
import Formats
import Foundation
import Llama
import Recipes
import Tokenizers
import Training
import XCTest
import _TestSupport

/// SmolLM2-135M-Instruct end to end through the front door: chat prompts, greedy generation and
/// WikiText-2 perplexity against transformers (`../shared/golden/smollm2`).
final class SmolLM2Tests: LoftTestCase {
    static let loaded = Result {
        try ModelLoader.load(model: try Fixtures.data("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"))
    }

    func testChatPromptsAndGreedyAnswersMatchTransformers() throws {
        let loaded = try Self.loaded.get()
        let template = try loaded.chatTemplate()
        let encoder = ChatEncoder(template: template, tokenizer: loaded.tokenizer)
        XCTAssertEqual(encoder.stopTokens, [2], "<|im_end|> is SmolLM2's EOS and its end of turn")
        let data = try Data(contentsOf: URL(fileURLWithPath: try Fixtures.golden("smollm2/greedy.json")))
        let cases = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        XCTAssertEqual(cases.count, 2)
        for item in cases {
            let question = try XCTUnwrap(item["question"] as? String)
            let turn = [ChatMessage(role: "user", content: question)]
            XCTAssertEqual(try template.render(turn, addGenerationPrompt: true), item["prompt"] as? String)
            let ids = try encoder.prompt(turn)
            XCTAssertEqual(ids, (item["prompt_ids"] as? [Int])?.map(Int32.init), question)
            let expected = try XCTUnwrap(item["greedy_ids"] as? [Int]).map(Int32.init)
            var rng = RandomState(seed: 0)
            let output = try loaded.model.generate(
                prompt: ids, maxNewTokens: expected.count, rng: &rng, stopTokens: [2])
            XCTAssertEqual(output, Array(expected.prefix { $0 != 2 }), question)
            XCTAssertEqual(try loaded.tokenizer.decode(output) + "<|im_end|>", item["text"] as? String)
        }
    }

    /// The hf protocol with this tokenizer (no BOS): 301,948 tokens, 589 blocks of 512; the first 8
    /// blocks' mean NLL to 2e-4 (the golden README's tolerance).
    func testWikiText2PerplexityOfTheFirstEightBlocks() throws {
        let loaded = try Self.loaded.get()
        let golden = try Fixtures.json(Fixtures.golden("smollm2/ppl_first8.json"))
        let text = try TextBlocks.read(try Fixtures.data("wikitext-2-raw/wiki.test.raw"))
        let start = Date()
        let blocks = try Perplexity.blocks(text: text, kind: .hf, tokenizer: loaded.tokenizer, length: 512)
        let seconds = Date().timeIntervalSince(start)
        print(
            String(
                format: "SmolLM2 tokenizer: %.2f MB/s on wiki.test.raw (rows tokenized one by one)",
                Double(text.utf8.count) / seconds / 1e6))
        XCTAssertEqual(blocks.tokens.count, golden["n_blocks"] as? Int)
        XCTAssertEqual(blocks.tokens[0].prefix(20).map(Int.init), golden["first_20_tokens"] as? [Int])
        let first = Perplexity.Blocks(tokens: Array(blocks.tokens.prefix(8)), firstScored: 0)
        let result = Perplexity.evaluate(model: loaded.model, blocks: first, batch: 4)
        XCTAssertEqual(result.targets, 8 * 511)
        XCTAssertEqual(result.meanNLL, golden["mean_nll"] as! Double, accuracy: 2e-4)
    }

    /// `loft quantize` of the GGUF: the folder carries the tokenizer (Hugging Face files, read back
    /// equal on every golden case) and the chat template.
    func testQuantizeFolderCarriesTokenizerAndChatTemplate() throws {
        let out = try Fixtures.temporaryDirectory(self).appendingPathComponent("q")
        let options = try LoftQuantizer.Options(
            bits: 4, method: .nf, blockSize: 64, doubleQuant: false, rank: 4, alpha: 4,
            iterations: 1, initialization: .gaussian, svd: "auto", seed: 0)
        _ = try LoftQuantizer.quantize(
            model: try Fixtures.data("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"),
            tokenizer: nil, options: options, output: out)
        let folder = try ModelLoader.load(model: out.path)
        XCTAssertEqual(folder.chatTemplateSource?.text, try Self.loaded.get().chatTemplateSource?.text)
        XCTAssertEqual(folder.tokenizer.addsBOS, false)
        XCTAssertEqual(folder.tokenizer.eosID, 2)
        let golden = try Fixtures.json(Fixtures.golden("smollm2/tokenizer_golden.json"))
        for item in try XCTUnwrap(golden["cases"] as? [[String: Any]]) {
            let text = try XCTUnwrap(item["text"] as? String)
            XCTAssertEqual(
                try folder.tokenizer.encode(text, addBOS: true), (item["ids"] as? [Int])?.map(Int32.init),
                text.debugDescription)
        }
        XCTAssertEqual(try folder.tokenizer.encode("<|im_start|>user", addBOS: false).first, 1)
    }

    /// GSM8K on the GGUF (`loft eval --gsm8k`'s path): prompts without BOS (add_bos_token false),
    /// generation stopped at this model's EOS (`<|im_end|>`), and the batched greedy answers equal
    /// the one-prompt-at-a-time ones.
    func testGSM8KBatchedGreedyAnswersEqualSingleOnes() throws {
        let loaded = try Self.loaded.get()
        let problems = Array(try GSM8K.load(try Fixtures.data("gsm8k/test.jsonl"), limit: 2))
        var records: [GSM8KEvaluation.Prediction] = []
        let result = try GSM8KEvaluation.run(
            model: loaded.model, tokenizer: loaded.tokenizer, problems: problems, batch: 2,
            maxNewTokens: 24, sampling: SamplingOptions(), seed: 0
        ) { records.append($0) }
        XCTAssertEqual(result.questions, 2)
        XCTAssertEqual(records.map(\.gold), problems.map(\.goldAnswer))
        for (record, problem) in zip(records, problems) {
            let prompt = try loaded.tokenizer.encode(problem.prompt, addBOS: true)
            XCTAssertNotEqual(prompt.first, loaded.tokenizer.bosID, "this tokenizer adds no BOS")
            var rng = RandomState(seed: 0)
            let single = try loaded.model.generate(prompt: prompt, maxNewTokens: 24, rng: &rng, stopTokens: [2])
            XCTAssertFalse(single.isEmpty)
            XCTAssertEqual(record.output, try loaded.tokenizer.decode(single), "question \(record.index)")
            XCTAssertEqual(
                record.correct, GSM8KEvaluation.matches(GSM8KEvaluation.answer(record.output), gold: record.gold))
        }
        XCTAssertEqual(result.accuracy, Double(records.filter(\.correct).count) / 2)
    }
}
