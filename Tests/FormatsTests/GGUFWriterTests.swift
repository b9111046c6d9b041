import Formats
import Foundation
import Llama
import Tokenizers
import XCTest
import _TestSupport

/// `GGUFWriter` output read back by `GGUFFile`/`GGUFCheckpoint`: the same model and tokenizer.
final class GGUFWriterTests: LoftTestCase {
    func stories() throws -> Llama2CCheckpoint {
        try Llama2CCheckpoint(path: try Fixtures.data("models/stories260K/stories260K.bin"))
    }

    /// A byte-level vocabulary of the model's size: 256 byte characters, 254 merges, 2 control tokens.
    func tokenizer() throws -> ByteLevelBPETokenizer {
        let letters = "etaoinshrdlucmfw".map(String.init)
        var tokens = ByteLevelBPETokenizer.byteAlphabet, merges: [String] = []
        for left in letters {
            for right in letters where merges.count < 254 {
                merges.append(left + " " + right); tokens.append(left + right)
            }
        }
        return try ByteLevelBPETokenizer(
            path: "test", tokens: tokens + ["<s>", "</s>"], merges: merges,
            tokenTypes: [Int](repeating: 1, count: 510) + [3, 3], bosID: 510, eosID: 511,
            addsBOS: true, preTokenizer: .smollm)
    }

    /// F32: every tensor back bit for bit (the q/k permutation is undone exactly), the config and
    /// the tokenizer equal; Q8_0: within half a quantization step of each block (absmax / 254)
    /// plus the fp16 rounding of the step itself.
    func testStoriesRoundTripsThroughGGUF() throws {
        let source = try stories(), bpe = try tokenizer()
        let folder = try Fixtures.temporaryDirectory(self)
        for type in [GGUFWriter.TensorType.f32, .q8_0, .q4_0, .q4_1] {
            let url = folder.appendingPathComponent("\(type).gguf")
            try GGUFWriter.llama(source: source, tokenizer: bpe, linearType: type, name: "stories260K").write(to: url)
            let read = try GGUFCheckpoint(path: url.path)
            XCTAssertEqual(read.config, source.config)
            XCTAssertTrue(read.unexpectedTensorNames.isEmpty)
            for tensor in LlamaTensor.all(for: source.config) {
                let expected = try source.floats(tensor), actual = try read.floats(tensor)
                XCTAssertEqual(actual.count, expected.count, "\(tensor)")
                let stored = read.file.tensors[read.name(of: tensor)]?.type
                if stored == .f32 {
                    XCTAssertEqual(actual, expected, "\(tensor) stored F32")
                } else if stored == .q8_0 {
                    for start in stride(from: 0, to: expected.count, by: 32) {
                        let block = expected[start..<start + 32], amax = block.map(abs).max() ?? 0
                        let worst = zip(block, actual[start..<start + 32]).map { abs($0 - $1) }.max() ?? 0
                        // half a step of d = amax/127, plus |q| ≤ 127 times d's fp16 rounding (2^-11 relative)
                        XCTAssertLessThanOrEqual(
                            worst, amax / 254 + amax / 2048 + 1e-7, "\(tensor) block \(start / 32)")
                    }
                } else if stored == .q4_0 {
                    for start in stride(from: 0, to: expected.count, by: 32) {
                        let block = expected[start..<start + 32], amax = block.map(abs).max() ?? 0
                        let worst = zip(block, actual[start..<start + 32]).map { abs($0 - $1) }.max() ?? 0
                        // step d = amax/8; the value of largest magnitude is exact (code 0), the
                        // opposite end clamps at code 15 (7·d): at most one step, plus |q − 8| ≤ 8
                        // times d's fp16 rounding
                        XCTAssertLessThanOrEqual(worst, amax / 8 + amax / 2048 + 1e-7, "\(tensor) block \(start / 32)")
                    }
                } else if stored == .q4_1 {
                    for start in stride(from: 0, to: expected.count, by: 32) {
                        let block = expected[start..<start + 32]
                        let (low, high) = (block.min() ?? 0, block.max() ?? 0), d = (high - low) / 15
                        let worst = zip(block, actual[start..<start + 32]).map { abs($0 - $1) }.max() ?? 0
                        // half a step of d = (max − min)/15, plus the fp16 rounding of m and of 15·d
                        XCTAssertLessThanOrEqual(
                            worst, d / 2 + abs(low) / 2048 + 15 * d / 2048 + 1e-7, "\(tensor) block \(start / 32)")
                    }
                } else {
                    XCTAssertEqual(stored, .f16, "\(tensor): rows of 172 are not whole blocks of 32, so F16")
                    for (a, e) in zip(actual, expected) { XCTAssertEqual(a, Float(Float16(e))) }
                }
            }
            let back = try XCTUnwrap(try read.tokenizer() as? ByteLevelBPETokenizer)
            XCTAssertEqual(back.tokenStrings, bpe.tokenStrings)
            XCTAssertEqual(back.mergeRules, bpe.mergeRules)
            XCTAssertEqual(back.types, bpe.types)
            XCTAssertEqual([back.bosID, back.eosID], [510, 511])
            XCTAssertEqual(back.preTokenizerKind, .smollm)
            XCTAssertEqual(try back.encode("the cat sat", addBOS: true), try bpe.encode("the cat sat", addBOS: true))
        }
    }

    /// A SentencePiece vocabulary (stories260K's tok512) goes in as llama.cpp's `llama` model:
    /// every piece, score and type by id, the special ids and BOS; the weights as with BPE.
    func testSentencePieceVocabularyIsWrittenAsLlamasModel() throws {
        let source = try stories()
        let sentencePiece = try SentencePieceTokenizer(path: try Fixtures.data("models/stories260K/tok512.model"))
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("spm.gguf")
        try GGUFWriter.llama(source: source, tokenizer: sentencePiece, linearType: .f32, name: "stories260K").write(
            to: url)
        let file = try GGUFFile(path: url.path)
        let m = file.metadata
        XCTAssertEqual(m["tokenizer.ggml.model"]?.string, "llama")
        let pieces = (0..<512).map { sentencePiece.piece(Int32($0)) ?? "?" }
        XCTAssertEqual(m["tokenizer.ggml.tokens"]?.array?.compactMap(\.string), pieces)
        XCTAssertEqual(m["tokenizer.ggml.scores"]?.array?.compactMap(\.double).map(Float.init), sentencePiece.scores)
        let types = m["tokenizer.ggml.token_type"]?.array?.compactMap(\.int) ?? []
        XCTAssertEqual(types, sentencePiece.pieceTypes.map(Int.init))
        // tok512: <unk>, <s>, </s>, then 256 byte pieces <0x00>…<0xFF>, then merged pieces
        XCTAssertEqual(Array(types.prefix(4)), [2, 3, 3, 6])
        XCTAssertEqual(pieces[3], "<0x00>")
        XCTAssertEqual(types.filter { $0 == 6 }.count, 256)
        XCTAssertEqual(
            [
                m["tokenizer.ggml.bos_token_id"]?.int, m["tokenizer.ggml.eos_token_id"]?.int,
                m["tokenizer.ggml.unknown_token_id"]?.int,
            ],
            [1, 2, 0])
        XCTAssertEqual(m["tokenizer.ggml.add_bos_token"]?.bool, true)
        let read = try GGUFCheckpoint(path: url.path)
        for tensor in LlamaTensor.all(for: source.config) {
            XCTAssertEqual(try read.floats(tensor), try source.floats(tensor), "\(tensor)")
        }
    }
}
