import Formats
import Foundation
import Llama
import Tokenizers
import XCTest
import _TestSupport

/// `GGUFWriter` output read back by `GGUFFile`/`GGUFCheckpoint`: the same model and tokenizer.
final class GGUFWriterTests: XCTestCase {
    func stories() throws -> Llama2CCheckpoint {
        try Llama2CCheckpoint(path: try Fixtures.data("models/stories260K/stories260K.bin"))
    }

    /// A byte-level vocabulary of the model's size: 256 byte characters, 254 merges, 2 control tokens.
    func tokenizer() throws -> ByteLevelBPETokenizer {
        let letters = "etaoinshrdlucmfw".map(String.init)
        var tokens = ByteLevelBPETokenizer.byteAlphabet, merges: [String] = []
        for left in letters { for right in letters where merges.count < 254 { merges.append(left + " " + right); tokens.append(left + right) } }
        return try ByteLevelBPETokenizer(path: "test", tokens: tokens + ["<s>", "</s>"], merges: merges,
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
                        XCTAssertLessThanOrEqual(worst, amax / 254 + amax / 2048 + 1e-7, "\(tensor) block \(start / 32)")
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
                        XCTAssertLessThanOrEqual(worst, d / 2 + abs(low) / 2048 + 15 * d / 2048 + 1e-7, "\(tensor) block \(start / 32)")
                    }
                } else {
                    XCTAssertEqual(stored, .f16, "\(tensor): rows of 172 are not whole blocks of 32, so F16")
                    for (a, e) in zip(actual, expected) { XCTAssertEqual(a, Float(Float16(e))) }
                }
            }
            let back = try read.tokenizer()
            XCTAssertEqual(back.tokenStrings, bpe.tokenStrings)
            XCTAssertEqual(back.mergeRules, bpe.mergeRules)
            XCTAssertEqual(back.types, bpe.types)
            XCTAssertEqual([back.bosID, back.eosID], [510, 511])
            XCTAssertEqual(back.preTokenizerKind, .smollm)
            XCTAssertEqual(try back.encode("the cat sat", addBOS: true), try bpe.encode("the cat sat", addBOS: true))
        }
    }
}
