import Autograd
import Foundation
import Tokenizers
import Training
import XCTest
import _TestSupport

final class DataTests: LoftTestCase {
    func tokenizer() throws -> SentencePieceTokenizer {
        try SentencePieceTokenizer(path: Fixtures.data("tokenizers/llama2/tokenizer.model"))
    }

    func testGSM8KFormatAndLabelMask() throws {
        let problems = try GSM8K.load(Fixtures.data("gsm8k/test.jsonl"), limit: 3)
        XCTAssertEqual(problems.count, 3)
        let first = problems[0]
        XCTAssertTrue(first.prompt.hasPrefix("Janet’s ducks lay 16 eggs"))
        XCTAssertTrue(
            first.prompt.hasSuffix(
                "?\nAnswer the above question. First think step by step and then answer the final number.\n"))
        XCTAssertTrue(first.target.hasSuffix("The final answer is:  18"), first.target)
        XCTAssertFalse(first.target.contains("####"))
        XCTAssertEqual(first.goldAnswer, "18")
        let tok = try tokenizer()
        let example = try GSM8K.example(first, tokenizer: tok, maxLength: 1000)
        let promptIDs = try tok.encode(first.prompt, addBOS: true)
        XCTAssertEqual(example.tokens.first, 1)
        XCTAssertEqual(example.tokens.last, 2, "EOS ends the target")
        XCTAssertEqual(Array(example.tokens.prefix(promptIDs.count)), promptIDs, "the prompt tokens are a prefix")
        XCTAssertTrue(example.labels.prefix(promptIDs.count).allSatisfy { $0 == -100 }, "no loss on the prompt")
        XCTAssertEqual(
            Array(example.labels.dropFirst(promptIDs.count)), Array(example.tokens.dropFirst(promptIDs.count)))
        XCTAssertEqual(try tok.decode(Array(example.tokens.dropFirst(promptIDs.count).dropLast())), first.target)
        let short = try GSM8K.example(first, tokenizer: tok, maxLength: 20)
        XCTAssertEqual(short.tokens.count, 20)
    }

    func testGoldAnswerStripsCommasAndKeepsSign() {
        XCTAssertEqual(GSM8K.Problem(question: "q", answer: "a\n#### 1,080").goldAnswer, "1080")
        XCTAssertEqual(GSM8K.Problem(question: "q", answer: "a\n#### -3").goldAnswer, "-3")
    }

    func testBadJSONLNamesTheLine() throws {
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("bad.jsonl")
        try Data("{\"question\": \"a\", \"answer\": \"b\"}\n{\"question\": 1}\n".utf8).write(to: url)
        XCTAssertThrowsError(try GSM8K.load(url.path)) { XCTAssertTrue("\($0)".contains("bad.jsonl:2"), "\($0)") }
    }

    func testWikitextRowsAndHFBlocks() throws {
        let text = " = Title = \n \n Some text here . \n"
        XCTAssertEqual(TextBlocks.wikitextRows(text), [" = Title = \n", "", " Some text here . \n"])
        let tok = try tokenizer()
        let rows = TextBlocks.wikitextRows(text)
        var stream: [Int32] = []
        for row in rows { stream += try tok.encode(row, addBOS: true) }
        XCTAssertEqual(stream.filter { $0 == 1 }.count, 3, "one BOS per row, the empty row is just BOS")
        let blocks = try TextBlocks.hfBlocks(rows: rows, tokenizer: tok, length: 5)
        XCTAssertEqual(blocks.count, stream.count / 5, "the remainder is dropped")
        XCTAssertEqual(blocks.flatMap { $0 }, Array(stream.prefix(blocks.count * 5)))
        let chunks = try TextBlocks.llamaCppChunks(text: text, tokenizer: tok, length: 4)
        let whole = try tok.encode(text, addBOS: true)
        XCTAssertEqual(chunks.count, whole.count / 4)
        for (i, chunk) in chunks.enumerated() {
            XCTAssertEqual(chunk[0], 1)
            XCTAssertEqual(Array(chunk.dropFirst()), Array(whole[(i * 4 + 1)..<(i * 4 + 4)]))
        }
    }

    func testBatchPadsRightWithMasks() {
        let batch = Batch(
            [Example(tokens: [1, 5, 6], labels: [-100, 5, 6]), Example(tokens: [1, 7], labels: [1, 7])], padID: 2)
        XCTAssertEqual(batch.tokens, [1, 5, 6, 1, 7, 2])
        XCTAssertEqual(batch.labels, [-100, 5, 6, 1, 7, -100])
        XCTAssertEqual(batch.attentionMask, [1, 1, 1, 1, 1, 0])
        XCTAssertEqual(batch.tokenCount, 5)
        XCTAssertEqual(batch.targetCount, 3)
    }

    func testDataOrderIsAPermutationThatChangesEachEpoch() {
        let order = DataOrder(count: 50, seed: RandomState(seed: 9))
        let (a, b) = (order.permutation(epoch: 0), order.permutation(epoch: 1))
        XCTAssertEqual(a.sorted(), Array(0..<50))
        XCTAssertEqual(b.sorted(), Array(0..<50))
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(a, DataOrder(count: 50, seed: RandomState(seed: 9)).permutation(epoch: 0))
    }
}
