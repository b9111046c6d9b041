import Autograd
import Formats
import Foundation
import Llama
import Recipes
import Tokenizers
import Training
import XCTest
import _TestSupport

/// Packing: several examples in one row give each the loss it has alone.
final class PackingTests: LoftTestCase {
    func examples() throws -> [Example] {
        let tokenizer = try SentencePieceTokenizer(path: Fixtures.data("models/stories260K/tok512.model"))
        let all = try GSM8K.load(Fixtures.data("gsm8k/test.jsonl"), limit: 40).map {
            try GSM8K.example($0, tokenizer: tokenizer, maxLength: 512)
        }
        return Array(all.sorted { $0.tokens.count < $1.tokens.count }.prefix(5))
    }

    func testRowsHoldEveryExampleOnceWithinTheLength() throws {
        let examples = try examples()
        XCTAssertEqual(examples.count, 5)
        let rows = Packing.pack(examples, length: 512)
        XCTAssertLessThan(rows.count, examples.count)
        XCTAssertTrue(rows.allSatisfy { $0.tokens.count <= 512 && $0.segments.reduce(0, +) == $0.tokens.count })
        var seen: [[Int32]] = []
        for row in rows {
            var start = 0
            for (position, length) in row.segments.enumerated() {
                let tokens = Array(row.tokens[start..<(start + length)])
                let original = try XCTUnwrap(examples.first { $0.tokens == tokens })
                var labels = original.labels
                if position > 0 { labels[0] = Example.ignored }
                XCTAssertEqual(Array(row.labels[start..<(start + length)]), labels)
                seen.append(tokens)
                start += length
            }
        }
        XCTAssertEqual(seen.count, examples.count)
        XCTAssertEqual(Set(seen.map { $0.map(String.init).joined(separator: ",") }).count, examples.count)
        let batch = Batch(Array(rows.prefix(2)), padID: 0)
        XCTAssertEqual(batch.segments?.count, 2)
        XCTAssertTrue(batch.segments!.allSatisfy { $0.reduce(0, +) == batch.steps })
    }

    /// The loss of each example inside a packed row (the others' labels ignored) equals its loss
    /// alone, on stories260K with an adapter (≤ 1e-5), and the packed batch's mean is the
    /// target-weighted mean of the examples' losses.
    func testEachExampleKeepsItsLossInsideAPackedRow() throws {
        let model = try LlamaModel(checkpoint: HuggingFaceCheckpoint(folder: Fixtures.golden("stories260K-hf")))
        try AdapterFiles.attach(URL(fileURLWithPath: try Fixtures.golden("stories260K_lora_adapter")), to: model)
        let examples = Array(try examples().prefix(3))
        XCTAssertTrue(examples.allSatisfy { $0.targetCount > 10 })
        var row = Packing.pack(examples, length: examples.reduce(0) { $0 + $1.tokens.count })
        XCTAssertEqual(row.count, 1)
        let packed = row[0]
        var weighted = 0.0, targets = 0
        var start = 0
        for length in packed.segments {
            let tokens = Array(packed.tokens[start..<(start + length)])
            let alone = try XCTUnwrap(examples.first { $0.tokens == tokens })
            let lossAlone = model.loss(
                tokens: alone.tokens, labels: alone.labels, batch: 1, steps: alone.tokens.count, recording: false
            ).item
            var masked = packed
            masked.labels = packed.labels.enumerated().map {
                (start + 1..<(start + length)).contains($0.offset) ? $0.element : Example.ignored
            }
            let batch = Batch([masked], padID: 0)
            let lossPacked = model.loss(
                tokens: batch.tokens, labels: batch.labels, batch: 1, steps: batch.steps, recording: false,
                segments: batch.segments
            ).item
            XCTAssertEqual(lossPacked, lossAlone, accuracy: 1e-5)
            weighted += Double(lossAlone) * Double(alone.targetCount)
            targets += alone.targetCount
            start += length
        }
        row = [packed, packed]  // a batch of two rows, padded to the same length
        let batch = Batch(row, padID: 0)
        let mean = model.loss(
            tokens: batch.tokens, labels: batch.labels, batch: 2, steps: batch.steps, recording: false,
            segments: batch.segments
        ).item
        XCTAssertEqual(Double(mean), weighted / Double(targets), accuracy: 1e-5)
    }
}
