import Autograd
import Formats
import Foundation
import Llama
import LoRA
import Recipes
import Training
import XCTest
import _TestSupport

/// Phi-3's stacked linears and PEFT: Loft trains one adapter per split linear; written for PEFT
/// (`final/`, `export --backbone`) a group's adapters become one on `qkv_proj` / `gate_up_proj`,
/// and read back they give the same model.
final class Phi3AdapterTests: LoftTestCase {
    func testStackedAdaptersRoundTripToTheSameModel() throws {
        var config = RunConfig()
        config.model.path = try Fixtures.resource("families/phi3")
        config.quantization = nil
        config.lora.initialization = .gaussian
        config.lora.rank = 4
        config.lora.alpha = 8
        let source = try HuggingFaceCheckpoint(folder: config.model.path)
        let trained = try ModelBuilder.assemble(config, source: source).model
        var rng = RandomState(seed: 5)
        for layer in trained.blocks.flatMap(\.loraLayers) {  // as if trained: B ≠ 0
            layer.loraB.data = rng.uniform(count: layer.loraB.count, low: -0.5, high: 0.5)
        }
        let tokens: [Int32] = [1, 403, 407, 261, 378, 285, 345, 288]
        func logits(_ model: LlamaModel) -> [Float] {
            model.logits(tokens: tokens, batch: 1, steps: tokens.count, recording: false).data
        }
        let folder = try Fixtures.temporaryDirectory(self).appendingPathComponent("adapter")
        let adapterConfig = AdapterConfig(
            initialization: .gaussian, rank: 4, alpha: 8, targetModules: LinearModule.allCases, bits: nil,
            iterations: 0, base: config.model.path)
        try AdapterFiles.writeForPEFT(model: trained, config: adapterConfig, to: folder)
        let written = try AdapterFiles.readConfig(folder)
        XCTAssertEqual(written.targetModules, ["down_proj", "gate_up_proj", "o_proj", "qkv_proj"])
        XCTAssertEqual(written.rankPattern, ["qkv_proj": 12, "gate_up_proj": 8])
        XCTAssertEqual(written.r, 4)
        let fresh = try LlamaModel(checkpoint: source)
        try AdapterFiles.attach(folder, to: fresh)
        let difference = zip(logits(fresh), logits(trained)).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThan(difference, 1e-4)
        XCTAssertGreaterThan(
            zip(logits(try LlamaModel(checkpoint: source)), logits(trained)).map { abs($0 - $1) }.max() ?? 0, 0.01)
        // written again (the members now share one A), the file keeps PEFT's shared form
        let again = folder.deletingLastPathComponent().appendingPathComponent("again")
        try AdapterFiles.writeForPEFT(model: fresh, config: adapterConfig, to: again)
        XCTAssertEqual(try AdapterFiles.readConfig(again).rankPattern, ["qkv_proj": 12, "gate_up_proj": 8])
    }
}

/// A model with a sliding window shorter than the run's sequences is refused by key: Loft's
/// attention is plain causal, which differs from the window's beyond it.
final class SlidingWindowTests: LoftTestCase {
    func testSequencesLongerThanTheWindowAreRefused() throws {
        let folder = try Fixtures.temporaryDirectory(self)
        let reference = try Fixtures.resource("families/mistral")
        for name in ["model.safetensors", "tokenizer.model"] {
            try FileManager.default.copyItem(
                atPath: reference + "/" + name, toPath: folder.appendingPathComponent(name).path)
        }
        var json = try Fixtures.json(reference + "/config.json")
        json["sliding_window"] = 32
        try JSONSerialization.data(withJSONObject: json).write(to: folder.appendingPathComponent("config.json"))
        XCTAssertEqual(
            try LlamaConfig(huggingFaceConfigAt: folder.appendingPathComponent("config.json").path)
                .maxSequenceLength, 32)
        var config = RunConfig()
        config.model.path = folder.path
        config.data.trainPath = try Fixtures.data("gsm8k/train.jsonl")
        config.data.evalPath = nil
        config.data.maxSeqLen = 64
        XCTAssertThrowsError(try ModelBuilder.build(config, file: "run.yaml")) { error in
            XCTAssertTrue("\(error)".contains("data.max_seq_len") && "\(error)".contains("32"), "\(error)")
        }
        config.data.maxSeqLen = 32
        XCTAssertNoThrow(try ModelBuilder.build(config, file: "run.yaml"))
    }
}
