import Autograd
import Foundation
import Formats
import Llama
import LoRA
import Recipes
import Quantization
import XCTest
import _TestSupport

/// `loft quantize` folders: written, loaded, and equal to the dequantized base plus adapters.
final class QuantizedFolderTests: LoftTestCase {
    /// A model whose every LoRA layer is replaced by an fp32 Linear holding deq(Q) + s·B·A.
    func merged(_ model: LlamaModel) -> LlamaModel {
        let blocks = model.blocks.map { block -> TransformerBlock in
            func merge(_ layer: LinearLayer) -> LinearLayer {
                let lora = layer as! LoRALinear
                let base = (lora.base as! QuantizedLinear).weight.dequantized()
                let update = Linalg.product(
                    lora.loraB.data, lora.loraA.data, m: lora.outFeatures, k: lora.rank, n: lora.inFeatures)
                return Linear(
                    weight: Tensor(
                        zip(base, update).map { $0 + lora.scaling * $1 }, shape: [lora.outFeatures, lora.inFeatures]))
            }
            return TransformerBlock(
                attentionNorm: block.attentionNorm, mlpNorm: block.mlpNorm, q: merge(block.q), k: merge(block.k),
                v: merge(block.v), o: merge(block.o), gate: merge(block.gate), up: merge(block.up),
                down: merge(block.down))
        }
        return LlamaModel(
            config: model.config, embedding: model.embedding, blocks: blocks, finalNorm: model.finalNorm,
            outputWeight: model.outputWeight)
    }

    func checkFolderEqualsMergedModel(_ folder: URL, tokens: [Int32]) throws -> LlamaModel {
        let model = try ModelLoader.loadBase(folder.path)
        let logits = model.logits(tokens: tokens, batch: 1, steps: tokens.count).data
        let reference = merged(model).logits(tokens: tokens, batch: 1, steps: tokens.count).data
        let maxDiff = zip(logits, reference).map { abs($0 - $1) }.max()!
        XCTAssertLessThanOrEqual(maxDiff, 1e-4, "quantized base + adapters vs merged fp32: \(maxDiff)")
        let cache = KVCache(config: model.config, capacity: tokens.count)
        assertClose(model.forward(tokens: tokens, cache: cache, allLogits: true), logits, atol: 1e-4, "inference path")
        return model
    }

    func testStories260KLoftQFolder() throws {
        let out = try Fixtures.temporaryDirectory(self).appendingPathComponent("q4")
        let source = try Llama2CCheckpoint(path: Fixtures.data("models/stories260K/stories260K.bin"))
        let report = try LoftQuantizer.run(
            source: source, tokenizerPath: Fixtures.data("models/stories260K/tok512.model"),
            options: .init(spec: QuantizationSpec(bits: 4), rank: 8, alpha: 16, iterations: 3),
            output: out)
        XCTAssertEqual(report.matrices.count, 35)
        XCTAssertLessThan(report.averageInitError, report.averagePlainError)
        for matrix in report.matrices {
            XCTAssertEqual(matrix.initError, matrix.iterationErrors.min()!, matrix.name)
            XCTAssertLessThan(matrix.initError, matrix.plainError, matrix.name)
        }
        XCTAssertEqual(report.bitsPerWeight, 4.5, accuracy: 1e-9)
        for file in [
            "config.json", "model.safetensors", "tokenizer.model", "loftq_report.json",
            "adapter/adapter_config.json", "adapter/adapter_model.safetensors",
        ] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(file).path), file)
        }
        let adapter = try AdapterFiles.readConfig(out.appendingPathComponent("adapter"))
        XCTAssertEqual(adapter.r, 8)
        XCTAssertEqual(adapter.loraAlpha, 16)
        XCTAssertEqual(adapter.initLoraWeights, .bool(true), "PEFT loads the tensors as they are (no LoftQ of its own)")
        XCTAssertEqual(adapter.loftqConfig, [:])
        XCTAssertEqual(adapter.baseModelNameOrPath, out.standardizedFileURL.path)
        let provenance = try SafeTensorsFile(path: out.appendingPathComponent("adapter/adapter_model.safetensors").path)
            .metadata
        XCTAssertEqual(provenance["loft.init"], "loftq")
        XCTAssertEqual(provenance["loft.bits"], "4.0")
        XCTAssertEqual(adapter.targetModules.count, 7)
        let model = try checkFolderEqualsMergedModel(out, tokens: [1, 403, 407, 261, 378, 432, 383, 286, 261, 376])
        XCTAssertEqual(model.trainableParameters.count, 70)
        // The output folder is never overwritten.
        XCTAssertThrowsError(
            try LoftQuantizer.run(
                source: source, tokenizerPath: nil, options: .init(spec: QuantizationSpec(bits: 4)), output: out)
        ) {
            XCTAssertTrue("\($0)".contains("already exists"), "\($0)")
        }
    }

    /// A quantize folder loads through `LlamaModel(checkpoint:)` with every other format's checks:
    /// a NaN scale, an unexpected tensor, a missing linear and a mistyped `quantization_config`
    /// key are refused by name.
    func testDamagedFoldersAreRefusedByName() throws {
        let root = try Fixtures.temporaryDirectory(self)
        let out = root.appendingPathComponent("q")
        _ = try LoftQuantizer.run(
            source: try Llama2CCheckpoint(path: Fixtures.data("models/stories260K/stories260K.bin")),
            tokenizerPath: nil, options: .init(spec: QuantizationSpec(bits: 4), rank: 4, alpha: 8, iterations: 1),
            output: out)
        let modelURL = out.appendingPathComponent("model.safetensors")
        let original = try SafeTensorsFile(path: modelURL.path)
        var tensors: [String: SafeTensor] = [:]
        for name in original.names {
            let entry = original.entries[name]!
            tensors[name] = SafeTensor(
                dtype: entry.dtype, shape: entry.shape, bytes: try original.withBytes(name) { Data($0) })
        }
        func load(_ change: (inout [String: SafeTensor]) -> Void) -> String {
            var changed = tensors
            change(&changed)
            do {
                try SafeTensorsFile.write(changed, to: modelURL)
                _ = try QuantizedFolder.load(out.path)
                return "loaded"
            } catch { return "\(error)" }
        }
        let absmax = "model.layers.1.self_attn.k_proj.weight.absmax"
        var scales = try original.floats(absmax)
        scales[3] = .nan
        let nan = load { $0[absmax] = SafeTensor(scales, shape: [scales.count]) }
        XCTAssertTrue(nan.contains(absmax) && nan.contains("NaN at element 3"), nan)
        let extra = load { $0["model.layers.0.extra.weight"] = SafeTensor([1], shape: [1]) }
        XCTAssertTrue(extra.contains("model.layers.0.extra.weight"), extra)
        let missing = load { $0["model.layers.2.mlp.down_proj.weight.codes"] = nil }
        XCTAssertTrue(missing.contains("model.layers.2.mlp.down_proj.weight"), missing)
        XCTAssertEqual(load { _ in }, "loaded")
        let configURL = out.appendingPathComponent("config.json")
        let config = try String(contentsOf: configURL, encoding: .utf8)
        try config.replacingOccurrences(of: "\"block_size\" : 64", with: "\"block_size\" : \"64\"").write(
            to: configURL, atomically: true, encoding: .utf8)
        let typed = load { _ in }
        XCTAssertTrue(typed.contains("quantization_config.block_size") && typed.contains("config.json"), typed)
    }

    func testGaussianInitEqualsQuantizedBase() throws {
        let out = try Fixtures.temporaryDirectory(self).appendingPathComponent("g2")
        let source = try Llama2CCheckpoint(path: Fixtures.data("models/stories260K/stories260K.bin"))
        let report = try LoftQuantizer.run(
            source: source, tokenizerPath: nil,
            options: .init(spec: QuantizationSpec(bits: 2), rank: 4, alpha: 8, initialization: .gaussian),
            output: out)
        XCTAssertEqual(report.averageInitError, report.averagePlainError)
        let tokens: [Int32] = [1, 403, 407, 261]
        let withAdapter = try QuantizedFolder.load(out.path).logits(tokens: tokens, batch: 1, steps: 4).data
        let baseOnly = try QuantizedFolder.load(out.path, withAdapter: false).logits(tokens: tokens, batch: 1, steps: 4)
            .data
        XCTAssertEqual(withAdapter, baseOnly, "B = 0: the adapted model is the quantized base")
    }

    /// A generated 4-layer model stored as sharded bf16 safetensors, quantized at 3 bits (mixed:
    /// the first floor(4·(3−2)/2) = 2 layers NF4, the rest NF2) with double quantization.
    func testShardedBF16CheckpointMixedPrecisionDoubleQuant() throws {
        let dir = try Fixtures.temporaryDirectory(self)
        let config = LlamaConfig(
            dim: 64, layers: 4, heads: 4, kvHeads: 2, hiddenDim: 160, vocabularySize: 512,
            maxSequenceLength: 128, tiedEmbeddings: false)
        var rng = RandomState(seed: 11)
        var weightMap: [String: String] = [:]
        var shards: [[String: SafeTensor]] = [[:], [:], [:]]
        for (index, (name, shape)) in LlamaTensor.all(for: config).map({
            (HuggingFaceNames.name(of: $0), $0.shape(in: config))
        }).enumerated() {
            let values =
                name.hasSuffix("norm.weight")
                ? [Float](repeating: 1, count: shape.product) : rng.normal(count: shape.product, std: 0.05)
            shards[index % 3][name] = SafeTensor(values, shape: shape, dtype: .BF16)
            weightMap[name] = "model-0000\(index % 3 + 1)-of-00003.safetensors"
        }
        for (i, shard) in shards.enumerated() {
            try SafeTensorsFile.write(shard, to: dir.appendingPathComponent("model-0000\(i + 1)-of-00003.safetensors"))
        }
        try JSONSerialization.data(withJSONObject: ["weight_map": weightMap]).write(
            to: dir.appendingPathComponent("model.safetensors.index.json"))
        try JSONSerialization.data(withJSONObject: config.huggingFaceJSON).write(
            to: dir.appendingPathComponent("config.json"))
        try FileManager.default.copyItem(
            atPath: Fixtures.data("models/stories260K/tok512.model"),
            toPath: dir.appendingPathComponent("tokenizer.model").path)

        let out = dir.appendingPathComponent("quantized")
        let report = try LoftQuantizer.run(
            source: try ModelFiles.openCheckpoint(dir.path),
            tokenizerPath: try ModelFiles.tokenizerPath(forModel: dir.path, explicit: nil),
            options: .init(spec: QuantizationSpec(bits: 3, doubleQuant: true), rank: 8, alpha: 8, iterations: 2),
            output: out)
        XCTAssertEqual(report.layerCodebooks, ["nf4", "nf4", "nf2", "nf2"])
        XCTAssertLessThan(report.averageInitError, report.averagePlainError)
        XCTAssertLessThan(report.bitsPerWeight, 3.2)
        let model = try checkFolderEqualsMergedModel(out, tokens: [1, 5, 99, 300, 42, 7])
        XCTAssertEqual((model.blocks[3].q as! LoRALinear).base is QuantizedLinear, true)
        var sampling = RandomState(seed: 1)
        XCTAssertEqual(try model.generate(prompt: [1], maxNewTokens: 5, rng: &sampling).count, 5)
    }
}
