import Autograd
import Formats
import Foundation
import Llama
import LoRA
import XCTest
import _TestSupport

/// PEFT adapter options beyond plain LoRA: per-module rank and alpha by pattern, rsLoRA's
/// scaling, a subset of layers; what Loft cannot run is refused naming the option.
final class PEFTOptionsTests: LoftTestCase {
    func stories() throws -> LlamaModel {
        try LlamaModel(checkpoint: Llama2CCheckpoint(path: try Fixtures.data("models/stories260K/stories260K.bin")))
    }

    /// An adapter folder: `config` (JSON object) and random tensors of the shapes it implies.
    func writeAdapter(_ config: [String: Any], layers: [Int], ranks: (LinearModule) -> Int, in folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: config).write(
            to: folder.appendingPathComponent("adapter_config.json"))
        let c = try stories().config
        var rng = RandomState(seed: 5)
        var tensors: [String: SafeTensor] = [:]
        for layer in layers {
            for module in [LinearModule.q, .down] {
                let shape = module.shape(in: c), rank = ranks(module)
                tensors[PEFTNames.key(layer: layer, module: module, tensor: "lora_A")] = SafeTensor(
                    rng.normal(count: rank * shape[1], std: 0.1), shape: [rank, shape[1]])
                tensors[PEFTNames.key(layer: layer, module: module, tensor: "lora_B")] = SafeTensor(
                    rng.normal(count: shape[0] * rank, std: 0.1), shape: [shape[0], rank])
            }
        }
        try SafeTensorsFile.write(tensors, to: folder.appendingPathComponent("adapter_model.safetensors"))
    }

    func testPatternsRsLoRAAndLayerSubsetsLoadAsPEFTReadsThem() throws {
        let folder = try Fixtures.temporaryDirectory(self)
        let config: [String: Any] = [
            "peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "down_proj"],
            "use_rslora": true, "rank_pattern": ["self_attn.q_proj": 2], "alpha_pattern": ["down_proj": 3],
            "layers_to_transform": [0, 2],
        ]
        try writeAdapter(config, layers: [0, 2], ranks: { $0 == .q ? 2 : 4 }, in: folder)
        let model = try stories()
        let adapter = try AdapterFiles.attach(folder, to: model)
        XCTAssertTrue(adapter.useRslora)
        for (layer, block) in model.blocks.enumerated() {
            let q = block[.q] as? LoRALinear, down = block[.down] as? LoRALinear
            if [0, 2].contains(layer) {
                XCTAssertEqual(q?.rank, 2, "rank_pattern")
                XCTAssertEqual(Double(q?.scaling ?? 0), 8 / 2.0.squareRoot(), accuracy: 1e-5, "rsLoRA: alpha / √r")
                XCTAssertEqual(down?.rank, 4)
                XCTAssertEqual(Double(down?.scaling ?? 0), 3 / 2.0, accuracy: 1e-5, "alpha_pattern, √4 = 2")
                XCTAssertFalse(block[.k] is LoRALinear)
            } else {
                XCTAssertFalse(block[.q] is LoRALinear, "layer \(layer) is not in layers_to_transform")
            }
        }
    }

    func testOptionsLoftCannotRunAreRefusedByName() throws {
        for (extra, key) in [
            (["use_dora": true], "use_dora"), (["modules_to_save": ["lm_head"]], "modules_to_save"),
            (["bias": "lora_only"], "bias"), (["peft_type": "IA3"], "peft_type"),
            (["rank_pattern": ["q_proj": 0]], "rank_pattern.q_proj"),
        ]
            as [([String: Any], String)]
        {
            let folder = try Fixtures.temporaryDirectory(self)
            var config: [String: Any] = [
                "peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "down_proj"],
            ]
            config.merge(extra) { $1 }
            try writeAdapter(config, layers: [0], ranks: { _ in 4 }, in: folder)
            XCTAssertThrowsError(try AdapterFiles.readConfig(folder)) {
                XCTAssertTrue("\($0)".contains("'\(key)'"), "\($0)")
            }
        }
    }
}
