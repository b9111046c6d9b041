import Foundation
import Formats
import Llama
import XCTest
import _TestSupport

/// Mistral and Qwen2 (q/k/v biases, tied head) against transformers: tiny random models made by
/// `scripts/references/make-families.py` (weights of std 0.15 and biases of std 0.5, so a wrong
/// RoPE layout, GQA map or bias moves the logits by ≫ 1e-3), read from the Hugging Face folder
/// and from llama.cpp's own conversions of it (convert_hf_to_gguf.py, f32 and q8_0).
final class ModelFamilyTests: LoftTestCase {
    /// The tokens and transformers' logits [T, V] of `family`'s reference.
    func golden(_ family: String) throws -> (tokens: [Int32], logits: [Float]) {
        let folder = try Fixtures.resource("families/\(family)")
        let json = try Fixtures.json(folder + "/golden.json")
        let tokens = try XCTUnwrap(json["tokens"] as? [Int]).map(Int32.init)
        let logits = try SafeTensorsFile(path: folder + "/golden.safetensors").floats("logits")
        return (tokens, logits)
    }

    /// The largest |Loft − transformers| over every position's logits, whole-sequence forward.
    func error(_ source: CheckpointSource, _ family: String) throws -> Float {
        let (tokens, expected) = try golden(family)
        let model = try LlamaModel(checkpoint: source)
        let logits = model.logits(tokens: tokens, batch: 1, steps: tokens.count, recording: false).data
        XCTAssertEqual(logits.count, expected.count)
        let error = zip(logits, expected).map { abs($0 - $1) }.max() ?? .infinity
        print("\(family) from \(source.sourceDescription.split(separator: "/").last ?? ""): max |Δ logit| \(error)")
        return error
    }

    func testMistralMatchesTransformers() throws {
        let folder = try Fixtures.resource("families/mistral")
        let source = try HuggingFaceCheckpoint(folder: folder)
        XCTAssertEqual(source.config.family, .mistral)
        let spread = try golden("mistral").logits.map(abs).max() ?? 0
        XCTAssertGreaterThan(spread, 1, "the reference's logits are far from uniform")
        XCTAssertLessThan(try error(source, "mistral"), 1e-4, "Hugging Face folder")
        let gguf = try GGUFCheckpoint(path: folder + "/model-f32.gguf")
        XCTAssertEqual(gguf.config.family, .llama, "llama.cpp converts Mistral as architecture llama")
        XCTAssertLessThan(try error(gguf, "mistral"), 1e-4, "f32 GGUF")
        XCTAssertLessThan(
            try error(GGUFCheckpoint(path: folder + "/model-q8_0.gguf"), "mistral"), 0.25, "q8_0 GGUF (8-bit noise)")
    }

    func testQwen2MatchesTransformers() throws {
        let folder = try Fixtures.resource("families/qwen2")
        let source = try HuggingFaceCheckpoint(folder: folder)
        XCTAssertEqual(source.config.family, .qwen2)
        XCTAssertTrue(source.config.tiedEmbeddings)
        XCTAssertLessThan(try error(source, "qwen2"), 1e-4, "Hugging Face folder")
        let gguf = try GGUFCheckpoint(path: folder + "/model-f32.gguf")
        XCTAssertEqual(gguf.config.family, .qwen2)
        XCTAssertLessThan(try error(gguf, "qwen2"), 1e-4, "f32 GGUF")
        XCTAssertLessThan(
            try error(GGUFCheckpoint(path: folder + "/model-q8_0.gguf"), "qwen2"), 0.25, "q8_0 GGUF (8-bit noise)")
    }

    func testPhi3MatchesTransformers() throws {
        let folder = try Fixtures.resource("families/phi3")
        let source = try HuggingFaceCheckpoint(folder: folder)
        XCTAssertEqual(source.config.family, .phi3)
        XCTAssertLessThan(try error(source, "phi3"), 1e-4, "Hugging Face folder (fused qkv_proj, gate_up_proj)")
        let gguf = try GGUFCheckpoint(path: folder + "/model-f32.gguf")
        XCTAssertEqual(gguf.config.family, .phi3)
        XCTAssertLessThan(try error(gguf, "phi3"), 1e-4, "f32 GGUF (attn_qkv, fused ffn_up)")
        XCTAssertLessThan(try error(GGUFCheckpoint(path: folder + "/model-q8_0.gguf"), "phi3"), 0.25, "q8_0 GGUF")
    }

    /// The biases matter (the model without them is another model), and KV-cache decoding adds
    /// them too: prefill + one token at a time equals the whole-sequence forward.
    func testQwen2BiasesReachEveryPath() throws {
        let source = try HuggingFaceCheckpoint(folder: try Fixtures.resource("families/qwen2"))
        let (tokens, expected) = try golden("qwen2")
        let model = try LlamaModel(checkpoint: source)
        let vocabulary = model.config.vocabularySize
        let cache = KVCache(config: model.config, capacity: tokens.count)
        var decoded = model.forward(tokens: Array(tokens.prefix(5)), cache: cache, allLogits: true)
        for token in tokens.dropFirst(5) { decoded += model.forward(tokens: [token], cache: cache) }
        XCTAssertLessThan(zip(decoded, expected).map { abs($0 - $1) }.max() ?? .infinity, 1e-4)
        for block in model.blocks { block.qkvBias = nil }
        let unbiased = model.logits(tokens: tokens, batch: 1, steps: tokens.count, recording: false).data
        XCTAssertGreaterThan(zip(unbiased, expected).map { abs($0 - $1) }.max() ?? 0, 0.1)
        XCTAssertEqual(decoded.count, tokens.count * vocabulary)
    }

    /// What the block does not compute is refused by the config key that asks for it.
    func testAttentionTheBlockDoesNotComputeIsRefusedByKey() throws {
        let original = try Fixtures.resource("families/qwen2/config.json")
        let folder = try Fixtures.temporaryDirectory(self)
        for (key, value) in [
            ("layer_types", ["full_attention", "sliding_attention"] as Any), ("use_sliding_window", true),
        ] {
            var json = try Fixtures.json(original)
            json[key] = value
            let path = folder.appendingPathComponent("config.json")
            try JSONSerialization.data(withJSONObject: json).write(to: path)
            XCTAssertThrowsError(try LlamaConfig(huggingFaceConfigAt: path.path)) { error in
                XCTAssertTrue("\(error)".contains(key), "\(error)")
            }
        }
    }
}
