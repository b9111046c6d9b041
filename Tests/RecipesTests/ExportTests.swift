import Autograd
import Formats
import Foundation
import Llama
import LoRA
import Recipes
import Tokenizers
import XCTest
import _TestSupport

/// `loft export` read back by Loft's own readers: the backbone + adapter and the merged folder are
/// the trained model; the GGUF too, to its tensor type's precision; merging keeps the adapter.
final class ExportTests: LoftTestCase {
    /// A stories260K model on an NF4 base whose adapters are far from zero (as after training:
    /// a merge that dropped them would show).
    func trainedModel() throws -> ModelLoader.Loaded {
        var config = RunConfig()
        config.model.path = try Fixtures.data("models/stories260K/stories260K.bin")
        config.model.tokenizer = try Fixtures.data("models/stories260K/tok512.model")
        (config.lora.rank, config.lora.alpha, config.lora.loftqIters) = (4, 8, 1)
        let built = try ModelBuilder.build(config, file: "test")
        var rng = RandomState(seed: 11)
        for layer in built.model.blocks.flatMap(\.loraLayers) {
            for tensor in [layer.loraA, layer.loraB] {
                let noise = rng.normal(count: tensor.count, std: 0.05)
                tensor.data.withUnsafeMutableBufferPointer { values in for i in values.indices { values[i] += noise[i] }
                }
            }
        }
        return ModelLoader.Loaded(
            model: built.model, tokenizer: built.tokenizer, description: "stories260K NF4 + noisy adapter")
    }

    let tokens: [Int32] = [1, 403, 261, 365, 411, 268, 304, 297, 308, 280, 324, 266, 259, 500, 39, 14]

    func logits(_ model: LlamaModel) -> [Float] {
        model.logits(tokens: tokens, batch: 1, steps: tokens.count, recording: false).data
    }

    func worst(_ a: [Float], _ b: [Float]) -> Float {
        XCTAssertEqual(a.count, b.count)
        return zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
    }

    func testBackboneWithAdapterAndMergedFolderAreTheTrainedModel() throws {
        let loaded = try trainedModel()
        let reference = logits(loaded.model)
        let folder = try Fixtures.temporaryDirectory(self)
        let (backbone, merged) = (folder.appendingPathComponent("bb"), folder.appendingPathComponent("merged"))
        try Exporter.backbone(loaded, type: .fp32, to: backbone)
        try Exporter.merged(loaded, type: .fp32, to: merged)
        let adapterConfig = try Fixtures.json(backbone.appendingPathComponent("adapter/adapter_config.json").path)
        XCTAssertEqual(adapterConfig["init_lora_weights"] as? Bool, true, "PEFT must not re-run its own LoftQ on load")
        XCTAssertEqual(adapterConfig["base_model_name_or_path"] as? String, backbone.standardizedFileURL.path)

        // fp32 files: the same sums in another order (the base's fp32 linear vs the dequantizing one)
        let withAdapter = try ModelLoader.load(
            model: backbone.path, adapter: backbone.appendingPathComponent("adapter").path)
        XCTAssertLessThanOrEqual(worst(logits(withAdapter.model), reference), 1e-4)
        let mergedModel = try ModelLoader.load(model: merged.path)
        XCTAssertLessThanOrEqual(worst(logits(mergedModel.model), reference), 1e-4)

        // the merge kept the adapter: the base alone is far from the trained model
        let baseOnly = try ModelLoader.load(model: backbone.path)
        XCTAssertGreaterThan(worst(logits(baseOnly.model), reference), 1e-2)
        XCTAssertEqual(mergedModel.tokenizer.vocabularySize, 512)
    }

    /// The exported adapter has the layout of the golden adapter PEFT 0.21 wrote for the same
    /// base, rank, alpha and modules (`../shared/golden/stories260K_lora_adapter`): the same
    /// tensor names and shapes, and the same values for the config keys PEFT acts on.
    func testExportedAdapterHasPEFTsLayout() throws {
        let folder = try Fixtures.temporaryDirectory(self).appendingPathComponent("bb")
        try Exporter.backbone(try trainedModel(), type: .fp32, to: folder)
        let golden = URL(fileURLWithPath: try Fixtures.golden("stories260K_lora_adapter"))
        let ours = folder.appendingPathComponent("adapter")
        let (goldenFile, ourFile) = (
            try SafeTensorsFile(path: golden.appendingPathComponent("adapter_model.safetensors").path),
            try SafeTensorsFile(path: ours.appendingPathComponent("adapter_model.safetensors").path)
        )
        XCTAssertEqual(ourFile.names, goldenFile.names)
        for name in goldenFile.names {
            XCTAssertEqual(ourFile.entries[name]?.shape, goldenFile.entries[name]?.shape, name)
        }
        let (goldenConfig, ourConfig) = (
            try Fixtures.json(golden.appendingPathComponent("adapter_config.json").path),
            try Fixtures.json(ours.appendingPathComponent("adapter_config.json").path)
        )
        for key in [
            "peft_type", "r", "lora_alpha", "lora_dropout", "bias", "fan_in_fan_out", "init_lora_weights", "use_rslora",
            "use_dora",
        ] {
            XCTAssertEqual(ourConfig[key] as? NSObject, goldenConfig[key] as? NSObject, key)  // NSNumber: 0 equals 0.0
        }
        XCTAssertEqual(
            (ourConfig["target_modules"] as? [String])?.sorted(),
            (goldenConfig["target_modules"] as? [String])?.sorted())
    }

    func testBF16FolderIsWithinBF16Precision() throws {
        let loaded = try trainedModel()
        let folder = try Fixtures.temporaryDirectory(self).appendingPathComponent("merged16")
        try Exporter.merged(loaded, type: .bf16, to: folder)
        let file = try SafeTensorsFile(path: folder.appendingPathComponent("model.safetensors").path)
        XCTAssertEqual(file.entries["model.layers.0.self_attn.q_proj.weight"]?.dtype, .BF16)
        let exact = try ModelTensors(model: loaded.model, merged: true, description: "").floats(.linear(layer: 0, .q))
        let stored = try file.floats("model.layers.0.self_attn.q_proj.weight")
        for (e, s) in zip(exact, stored) { XCTAssertLessThanOrEqual(abs(e - s), abs(e) * 0x1p-8 + 1e-30) }
    }

    func testGGUFExportReadsBackAsTheMergedModel() throws {
        var loaded = try trainedModel()
        let letters = "etaoinshrdlucmfw".map(String.init)
        var pieces = ByteLevelBPETokenizer.byteAlphabet, merges: [String] = []
        for l in letters {
            for r in letters where merges.count < 254 { merges.append(l + " " + r); pieces.append(l + r) }
        }
        let bpe = try ByteLevelBPETokenizer(
            path: "bpe", tokens: pieces + ["<s>", "</s>"], merges: merges,
            tokenTypes: [Int](repeating: 1, count: 510) + [3, 3], bosID: 510, eosID: 511,
            addsBOS: true, preTokenizer: .gpt2)
        loaded = ModelLoader.Loaded(model: loaded.model, tokenizer: bpe, description: loaded.description)
        let reference = logits(loaded.model)
        let folder = try Fixtures.temporaryDirectory(self)
        // f32: the same numbers (1e-4: summation order); f16: each weight within 2^-11 relative,
        // which moves these logits (magnitude ≲ 20) by a few thousandths (Q8_0's element bound is
        // checked in GGUFWriterTests)
        for (type, bound) in [(GGUFWriter.TensorType.f32, Float(1e-4)), (.f16, 0.02)] {
            let file = folder.appendingPathComponent("\(type).gguf")
            try Exporter.gguf(loaded, type: type, to: file, name: "test")
            let read = try ModelLoader.load(model: file.path)
            let difference = worst(logits(read.model), reference)
            XCTAssertLessThanOrEqual(difference, bound, "\(type)")
            XCTAssertEqual((read.tokenizer as? ByteLevelBPETokenizer)?.mergeRules, merges)
        }
        // a SentencePiece model (stories260K's own tokenizer) is written as llama.cpp's `llama` vocabulary
        let sentencePiece = try trainedModel()
        let spFile = folder.appendingPathComponent("sp.gguf")
        try Exporter.gguf(sentencePiece, type: .f32, to: spFile, name: "x")
        XCTAssertEqual(try GGUFFile(path: spFile.path).metadata["tokenizer.ggml.model"]?.string, "llama")
        let spRead = try GGUFCheckpoint(path: spFile.path)
        XCTAssertLessThanOrEqual(worst(logits(try LlamaModel(checkpoint: spRead)), logits(sentencePiece.model)), 1e-4)
        // and reads back as a vocabulary that tokenizes as libsentencepiece does (tok512 collapses
        // runs of spaces, which llama.cpp's tokenizer never does: texts with single spaces here)
        let vocabulary = try XCTUnwrap(try ModelLoader.load(model: spFile.path).tokenizer as? PieceVocabularyTokenizer)
        for text in ["Once upon a time, there was a little girl.", "Lily said: \"Hi!\" 123 ümlaut", "a\nb"] {
            XCTAssertEqual(
                try vocabulary.encode(text, addBOS: true), try sentencePiece.tokenizer.encode(text, addBOS: true), text)
        }
    }

    /// A model whose tokenizer came from a GGUF's SentencePiece vocabulary exports to GGUF, and to
    /// a Hugging Face folder only with the model's `tokenizer.model` given (the error says so).
    func testGGUFSentencePieceVocabularyNeedsItsModelFileForHuggingFace() throws {
        let gguf = try Fixtures.resource("families/mistral/model-f32.gguf")
        let folder = try Fixtures.temporaryDirectory(self)
        let loaded = try ModelLoader.load(model: gguf)
        XCTAssertTrue(loaded.tokenizer is PieceVocabularyTokenizer)
        XCTAssertThrowsError(try Exporter.merged(loaded, type: .fp32, to: folder.appendingPathComponent("hf"))) {
            XCTAssertTrue("\($0)".contains("tokenizer.model"), "\($0)")
        }
        try Exporter.gguf(loaded, type: .f32, to: folder.appendingPathComponent("m.gguf"), name: "m")
        let withModel = try ModelLoader.load(
            model: gguf, tokenizer: try Fixtures.resource("families/mistral/tokenizer.model"))
        try Exporter.merged(withModel, type: .fp32, to: folder.appendingPathComponent("hf2"))
        XCTAssertEqual(
            try HuggingFaceCheckpoint(folder: folder.appendingPathComponent("hf2").path).config.family, .llama)
    }

    /// An adapter LoftQ started on Loft's quantized base is marked (safetensors metadata, not the
    /// JSON PEFT reads); applied to the original checkpoint it draws a warning, on its own folder none.
    func testLoftQAdapterOnAnotherBaseIsWarnedAbout() throws {
        let stories = try Fixtures.data("models/stories260K/stories260K.bin")
        let folder = try quantizedStories()
        let adapter = folder.appendingPathComponent("adapter").path
        XCTAssertEqual(try ModelLoader.load(model: folder.path, adapter: adapter).warnings, [])
        let warnings = try ModelLoader.load(
            model: stories, adapter: adapter,
            tokenizer: try Fixtures.data("models/stories260K/tok512.model")
        ).warnings
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(
            warnings.first?.contains("LoftQ") == true && warnings.first?.contains("export --backbone") == true,
            "\(warnings)")
    }
}
