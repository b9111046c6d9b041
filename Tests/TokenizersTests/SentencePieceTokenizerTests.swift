import Foundation
import Tokenizers
import XCTest
import _TestSupport

final class SentencePieceTokenizerTests: LoftTestCase {
    /// Every case of a golden file: ids, pieces and decoded text as Python sentencepiece gave them.
    func checkGolden(_ goldenPath: String, model modelPath: String) throws {
        let golden = try Fixtures.json(goldenPath)
        let tokenizer = try SentencePieceTokenizer(path: modelPath)
        XCTAssertEqual(tokenizer.vocabularySize, golden["vocab_size"] as? Int)
        XCTAssertEqual(tokenizer.bosID.map(Int.init), golden["bos_id"] as? Int)
        XCTAssertEqual(tokenizer.eosID.map(Int.init), golden["eos_id"] as? Int)
        XCTAssertEqual(tokenizer.unkID.map(Int.init), golden["unk_id"] as? Int)
        XCTAssertNil(tokenizer.padID)
        let cases = try XCTUnwrap(golden["cases"] as? [[String: Any]])
        XCTAssertGreaterThan(cases.count, 5)
        for item in cases {
            let text = try XCTUnwrap(item["text"] as? String)
            let ids = try XCTUnwrap(item["ids"] as? [Int]).map(Int32.init)
            XCTAssertEqual(try tokenizer.encode(text), ids, "encode \(text.debugDescription)")
            XCTAssertEqual(try tokenizer.encode(text, addBOS: true, addEOS: true), [1] + ids + [2])
            XCTAssertEqual(ids.map { tokenizer.piece($0) }, try XCTUnwrap(item["pieces"] as? [String]))
            XCTAssertEqual(try tokenizer.decode(ids), try XCTUnwrap(item["decoded"] as? String))
        }
    }

    func testLlama2GoldenEncodings() throws {
        try checkGolden(
            Fixtures.data("tokenizers/llama2/golden_encodings.json"),
            model: Fixtures.data("tokenizers/llama2/tokenizer.model"))
    }

    func testTok512GoldenEncodings() throws {
        try checkGolden(
            Fixtures.data("models/stories260K/tok512_golden_encodings.json"),
            model: Fixtures.data("models/stories260K/tok512.model"))
    }

    func testPieceLookup() throws {
        let tokenizer = try SentencePieceTokenizer(path: Fixtures.data("tokenizers/llama2/tokenizer.model"))
        XCTAssertEqual(tokenizer.id(ofPiece: "▁Hello"), 15043)
        XCTAssertEqual(tokenizer.piece(1), "<s>")
        XCTAssertNil(tokenizer.piece(32000))
        XCTAssertEqual(tokenizer.id(ofPiece: "no-such-piece-xyz"), 0)
    }

    func testMissingFileIsAnErrorNamingThePath() {
        XCTAssertThrowsError(try SentencePieceTokenizer(path: "/nonexistent/tokenizer.model")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/tokenizer.model"), "\(error)")
        }
    }

    func testInvalidFileIsAnErrorNamingThePath() throws {
        let dir = try Fixtures.temporaryDirectory(self)
        let path = dir.appendingPathComponent("bad.model").path
        try Data("not a protobuf at all".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try SentencePieceTokenizer(path: path)) { error in
            XCTAssertTrue("\(error)".contains(path), "\(error)")
        }
    }
}
