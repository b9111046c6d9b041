import Foundation
import Tokenizers
import XCTest
import _TestSupport

/// SentencePiece run from its vocabulary (as a GGUF holds it) against libsentencepiece on the
/// same model: Llama-2's `tokenizer.model` (BPE with byte fallback, no whitespace collapsing).
final class PieceVocabularyTokenizerTests: LoftTestCase {
    func models() throws -> (library: SentencePieceTokenizer, vocabulary: PieceVocabularyTokenizer) {
        let library = try SentencePieceTokenizer(path: try Fixtures.data("tokenizers/llama2/tokenizer.model"))
        return (library, try PieceVocabularyTokenizer(sentencePiece: library))
    }

    /// Every line of WikiText-2's validation split (unicode, numbers, markup, repeated spaces) and
    /// hand-picked edge cases give the same ids, and the ids decode to the text again.
    func testSameIdsAsLibSentencePieceOnLlama2() throws {
        let (library, vocabulary) = try models()
        let wiki = try String(contentsOfFile: try Fixtures.data("wikitext-2-raw/wiki.valid.raw"), encoding: .utf8)
        var texts = wiki.components(separatedBy: "\n").filter { !$0.isEmpty }
        texts += [
            " ", "  two", "\t tab", "trailing  ", "a\nb\r\nc", "ümlaut café naïve", "東京 123 ½ Ⅻ", "emoji 🦙🦙!",
            "\u{1}\u{7}control", "<s> is text here", "▁already escaped", "x" + String(repeating: "y", count: 500),
        ]
        var bytes = 0
        var seconds = 0.0
        for text in texts {
            let expected = try library.encode(text, addBOS: true, addEOS: false)
            let started = Date()
            let ids = try vocabulary.encode(text, addBOS: true, addEOS: false)
            seconds += Date().timeIntervalSince(started)
            bytes += text.utf8.count
            if ids != expected {
                let at =
                    (0..<min(ids.count, expected.count)).first { ids[$0] != expected[$0] }
                    ?? min(ids.count, expected.count)
                let window = max(0, at - 3)..<(at + 5)
                let pieces = { (list: [Int32]) in
                    list[window.clamped(to: list.indices)].map { library.piece($0) ?? "?" }
                }
                XCTFail(
                    "\(text.debugDescription): ids differ at \(at): \(pieces(ids)) vs libsentencepiece \(pieces(expected))"
                )
                return
            }
            XCTAssertEqual(try vocabulary.decode(ids), try library.decode(expected), text.debugDescription)
        }
        let rate = Double(bytes) / seconds / 1e6
        print("piece-vocabulary tokenizer: \(texts.count) texts, \(bytes) bytes, \(String(format: "%.1f", rate)) MB/s")
    }

    /// A vocabulary whose arrays disagree, or with a score that is not finite, is refused.
    func testInconsistentVocabulariesAreRefused() {
        XCTAssertThrowsError(
            try PieceVocabularyTokenizer(
                path: "v", pieces: ["a", "b"], scores: [0], types: [], bosID: nil, eosID: nil, unkID: nil,
                addsBOS: false, addSpacePrefix: true))
        XCTAssertThrowsError(
            try PieceVocabularyTokenizer(
                path: "v", pieces: ["a", "b"], scores: [0, .nan], types: [1, 1], bosID: nil, eosID: nil,
                unkID: nil, addsBOS: false, addSpacePrefix: true))
    }
}
