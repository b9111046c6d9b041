import Foundation
import Llama
import LoRA
import Recipes
import Training
import XCTest
import _TestSupport

/// `lora.init: adapter`: a run continues from a PEFT adapter — the model it starts from is the
/// trained model (same base, same factors), and mismatched settings are refused by key.
final class ContinuedTrainingTests: LoftTestCase {
    let tokens: [Int32] = [1, 403, 261, 365, 411, 268, 304, 297, 308, 280, 324, 266, 259, 500, 39, 14]

    func train(_ config: RunConfig, root: URL) throws -> [TrainingEvent] {
        var events: [TrainingEvent] = []
        _ = try Trainer(config: config, configFile: "test.yaml", runsRoot: root).run(resume: nil) {
            events.append($0); return .proceed
        }
        return events
    }

    /// On an NF4 base (QLoRA's `q(W)`, which is the same in both runs) and on an fp32 base, the
    /// continued run's starting logits equal the first run's trained model exactly, and it trains on.
    func testContinuedRunStartsFromTheTrainedModel() throws {
        for base in ["quantization.bits=4", "quantization=none"] {
            let root = try Fixtures.temporaryDirectory(self)
            let first = try smallRunConfig(name: "first", steps: 3, extra: [base, "lora.init=gaussian"])
            _ = try train(first, root: root)
            let adapter = root.appendingPathComponent("first/final").path
            let trained = try ModelLoader.load(model: root.appendingPathComponent("first").path)
            let expected = trained.model.logits(tokens: tokens, batch: 1, steps: tokens.count, recording: false).data

            let second = try smallRunConfig(
                name: "second", steps: 2, extra: [base, "lora.init=adapter", "lora.adapter=\(adapter)"])
            let built = try ModelBuilder.build(second, file: "test.yaml")
            XCTAssertEqual(
                built.model.logits(tokens: tokens, batch: 1, steps: tokens.count, recording: false).data, expected, base
            )
            XCTAssertTrue(built.warnings.isEmpty, "\(built.warnings)")
            XCTAssertEqual(
                built.model.blocks[0].loraLayers.first?.dropout, second.lora.dropout,
                "the run's dropout, not the adapter's")

            let events = try train(second, root: root)
            let losses = events.compactMap { if case .step(let r) = $0 { return r.loss } else { return nil } }
            XCTAssertEqual(losses.count, 2)
            XCTAssertTrue(losses.allSatisfy(\.isFinite))
            let continued = try ModelLoader.load(model: root.appendingPathComponent("second").path)
            XCTAssertNotEqual(
                continued.model.trainableParameters.map(\.tensor.data),
                trained.model.trainableParameters.map(\.tensor.data),
                "two more steps moved the factors")
        }
    }

    /// Training continues from an adapter PEFT wrote (the golden stories260K adapter on the HF
    /// folder of stories260K, fp32 base): the start is the model PEFT's adapter describes.
    func testContinuesFromAPEFTAdapter() throws {
        let base = try Fixtures.golden("stories260K-hf"), adapter = try Fixtures.golden("stories260K_lora_adapter")
        let expected = try ModelLoader.load(model: base, adapter: adapter).model
        let config = try smallRunConfig(
            name: "peft", steps: 1,
            extra: [
                "model.path=\(base)", "model.tokenizer=null", "quantization=none",
                "lora.init=adapter", "lora.adapter=\(adapter)",
            ])
        let built = try ModelBuilder.build(config, file: "test.yaml")
        XCTAssertEqual(
            built.model.logits(tokens: tokens, batch: 1, steps: tokens.count, recording: false).data,
            expected.logits(tokens: tokens, batch: 1, steps: tokens.count, recording: false).data)
        XCTAssertTrue(built.warnings.isEmpty)
    }

    /// An adapter LoftQ started on Loft's own NF4 quantization, continued on QLoRA's `q(W)` of the
    /// same checkpoint, is not the model it was trained as: the run says so.
    func testLoftQAdapterOnAnotherBaseIsWarnedAbout() throws {
        let root = try Fixtures.temporaryDirectory(self)
        _ = try train(try smallRunConfig(name: "loftq", steps: 1), root: root)
        let adapter = root.appendingPathComponent("loftq/final").path
        let events = try train(
            try smallRunConfig(name: "next", steps: 1, extra: ["lora.init=adapter", "lora.adapter=\(adapter)"]),
            root: root)
        let warnings = events.compactMap { if case .warning(let text) = $0 { return text } else { return nil } }
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings.first?.contains("started by LoftQ") ?? false, "\(warnings)")
    }

    /// Each mistake names its key: no adapter for init adapter, an adapter with another init, a
    /// rank or alpha other than the adapter's, a missing folder.
    func testMismatchesAreRefusedByKey() throws {
        let root = try Fixtures.temporaryDirectory(self)
        _ = try train(try smallRunConfig(name: "first", steps: 1, extra: ["lora.init=gaussian"]), root: root)
        let adapter = root.appendingPathComponent("first/final").path
        let cases: [([String], String)] = [
            (["lora.init=adapter"], "key 'lora.adapter': missing"),
            (["lora.adapter=\(adapter)"], "key 'lora.adapter': is only read with lora.init: adapter"),
            (["lora.init=adapter", "lora.adapter=\(adapter)", "lora.rank=8"], "lora.rank (8 vs the adapter's 4)"),
            (
                ["lora.init=adapter", "lora.adapter=\(adapter)", "lora.alpha=4"],
                "lora.alpha (4.0 vs the adapter's 8.0)"
            ),
            (["lora.init=adapter", "lora.adapter=\(root.path)/nowhere"], "key 'lora.adapter': no such file or folder"),
        ]
        for (extra, message) in cases {
            XCTAssertThrowsError(
                try Trainer(
                    config: try smallRunConfig(name: "bad", steps: 1, extra: extra), configFile: "test.yaml",
                    runsRoot: root)
            ) { error in
                XCTAssertTrue("\(error)".contains(message), "\(extra): \(error)")
            }
        }
    }
}
