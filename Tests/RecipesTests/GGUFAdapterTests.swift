import Autograd
import Formats
import Foundation
import Llama
import LoRA
import Recipes
import Training
import XCTest
import _TestSupport

/// `export --gguf-adapter`: the base GGUF plus the adapter applied as llama.cpp applies it
/// (W + alpha/R · B·A, R from the tensors) equals the merged GGUF, tensor by tensor — for Llama
/// (q and k rows permuted to ggml's RoPE layout, a LoftQ adapter on Loft's quantized base) and
/// Phi-3 (one stacked adapter per `attn_qkv` and fused `ffn_up`).
final class GGUFAdapterTests: LoftTestCase {
    /// Checks the files of `loaded` against each other; `base` nil uses the original fp32 weights.
    func check(_ loaded: ModelLoader.Loaded, folder: URL, expectBase: Bool) throws {
        let merged = folder.appendingPathComponent("merged.gguf"), adapter = folder.appendingPathComponent("a.gguf")
        let base = folder.appendingPathComponent("base.gguf")
        try Exporter.gguf(loaded, type: .f32, to: merged, name: "m")
        let notes = try Exporter.ggufAdapter(loaded, type: .f32, to: adapter, base: base, baseType: .f32, name: "m")
        XCTAssertEqual(FileManager.default.fileExists(atPath: base.path), expectBase, "\(notes)")
        if !expectBase {  // an fp32 base: the original weights, written here to compare
            try GGUFWriter.llama(
                source: ModelTensors(model: loaded.model, merged: false, description: "base"),
                tokenizer: loaded.tokenizer, linearType: .f32, name: "m"
            ).write(to: base)
        }
        let (mergedFile, baseFile, adapterFile) = (
            try GGUFFile(path: merged.path), try GGUFFile(path: base.path), try GGUFFile(path: adapter.path)
        )
        XCTAssertEqual(adapterFile.metadata["general.type"]?.string, "adapter")
        XCTAssertEqual(adapterFile.metadata["adapter.type"]?.string, "lora")
        XCTAssertEqual(
            adapterFile.metadata["general.architecture"], mergedFile.metadata["general.architecture"])
        let alpha = try XCTUnwrap(adapterFile.metadata["adapter.lora.alpha"]?.double)
        var checked = 0
        for name in adapterFile.tensors.keys.sorted() where name.hasSuffix(".lora_a") {
            let weight = String(name.dropLast(".lora_a".count))
            let aShape = try XCTUnwrap(adapterFile.tensors[name]?.shape)
            let bShape = try XCTUnwrap(adapterFile.tensors[weight + ".lora_b"]?.shape)
            let wShape = try XCTUnwrap(baseFile.tensors[weight]?.shape)
            XCTAssertEqual([bShape[0], aShape[1]], wShape, weight)
            XCTAssertEqual(aShape[0], bShape[1], weight)
            let (rank, out, inFeatures) = (aShape[0], wShape[0], wShape[1])
            let a = try adapterFile.floats(name), b = try adapterFile.floats(weight + ".lora_b")
            let product = Linalg.product(b, a, m: out, k: rank, n: inFeatures)
            let scale = Float(alpha) / Float(rank)
            let applied = zip(try baseFile.floats(weight), product).map { $0 + scale * $1 }
            let expected = try mergedFile.floats(weight)
            let worst = zip(applied, expected).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThan(worst, 1e-5, weight)
            checked += 1
        }
        XCTAssertEqual(checked, loaded.model.config.layers * (loaded.model.config.family == .phi3 ? 4 : 7))
    }

    func testLoftQAdapterOnItsQuantizedBaseEqualsTheMergedModel() throws {
        let folder = try quantizedStories()
        let loaded = try ModelLoader.load(model: folder.path)
        var rng = RandomState(seed: 9)
        for layer in loaded.model.blocks.flatMap(\.loraLayers) {  // as if trained
            layer.loraB.data = rng.uniform(count: layer.loraB.count, low: -0.2, high: 0.2)
        }
        try check(loaded, folder: try Fixtures.temporaryDirectory(self), expectBase: true)
    }

    func testPhi3StackedAdaptersEqualTheMergedModel() throws {
        var config = RunConfig()
        config.model.path = try Fixtures.resource("families/phi3")
        config.quantization = nil
        (config.lora.initialization, config.lora.rank, config.lora.alpha) = (.gaussian, 4, 8)
        let source = try HuggingFaceCheckpoint(folder: config.model.path)
        let model = try ModelBuilder.assemble(config, source: source).model
        var rng = RandomState(seed: 5)
        for layer in model.blocks.flatMap(\.loraLayers) {
            layer.loraB.data = rng.uniform(count: layer.loraB.count, low: -0.5, high: 0.5)
        }
        let tokenizer = try ModelFiles.tokenizer(forModel: config.model.path, explicit: nil)
        let loaded = ModelLoader.Loaded(model: model, tokenizer: tokenizer, description: "phi3")
        try check(loaded, folder: try Fixtures.temporaryDirectory(self), expectBase: false)
    }
}
