import Autograd
import Formats
import Foundation
import Llama
import Tokenizers
import XCTest
import _TestSupport

/// A head size stated apart from D / H (`head_dim`, as Gemma-style and some Llama variants
/// have): q is [H·Dh, D], o [D, H·Dh]. On a tiny random transformers model (hidden 64, 4 heads of
/// 32, GQA) the logits agreed to 2.4e-7 (checked by hand, stop 22); here the paths agree with
/// one another and the files keep the size.
final class HeadDimTests: LoftTestCase {
    func writeModel(to folder: URL) throws -> LlamaConfig {
        var c = LlamaConfig(
            unchecked: 64, layers: 2, heads: 4, kvHeads: 2, hiddenDim: 96, vocabularySize: 128, normEps: 1e-6,
            ropeTheta: 10_000, maxSequenceLength: 256, tiedEmbeddings: false)
        c.explicitHeadDim = 32
        var rng = RandomState(seed: 3)
        var tensors: [String: SafeTensor] = [:]
        for tensor in LlamaTensor.all(for: c) {
            let shape = tensor.shape(in: c)
            let values =
                shape.count == 1
                ? [Float](repeating: 1, count: shape[0]) : rng.normal(count: shape.reduce(1, *), std: 0.08)
            tensors[HuggingFaceNames.name(of: tensor)] = SafeTensor(values, shape: shape)
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try SafeTensorsFile.write(tensors, to: folder.appendingPathComponent("model.safetensors"))
        try JSONSerialization.data(withJSONObject: c.huggingFaceJSON).write(
            to: folder.appendingPathComponent("config.json"))
        return c
    }

    func testExplicitHeadSizeLoadsAndEveryAttentionPathAgrees() throws {
        let folder = try Fixtures.temporaryDirectory(self)
        let written = try writeModel(to: folder)
        let model = try LlamaModel(checkpoint: HuggingFaceCheckpoint(folder: folder.path))
        XCTAssertEqual(model.config.headDim, 32)
        XCTAssertEqual(model.config.qDim, 128)
        XCTAssertEqual(model.config, written)
        XCTAssertEqual(LinearModule.q.shape(in: model.config), [128, 64])
        XCTAssertEqual(LinearModule.o.shape(in: model.config), [64, 128])
        let ids: [Int32] = (0..<24).map { Int32(($0 * 37) % 128) }
        let full = model.logits(tokens: ids, batch: 1, steps: ids.count, recording: false).data
        let cache = KVCache(config: model.config, capacity: ids.count)
        var last: [Float] = []
        for token in ids { last = model.forward(tokens: [token], cache: cache) }
        let worst = zip(last, full.suffix(128)).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(worst, 1e-5, "cached decoding = the causal pass")
        // GGUF keeps the size (attention.key_length)
        let gguf = try GGUFWriter.llama(
            source: HuggingFaceCheckpoint(folder: folder.path),
            tokenizer: try bpe(), linearType: .f32, name: "head-dim")
        let url = folder.appendingPathComponent("m.gguf")
        try gguf.write(to: url)
        let read = try LlamaModel(checkpoint: GGUFCheckpoint(path: url.path))
        XCTAssertEqual(read.config.headDim, 32)
        let again = read.logits(tokens: ids, batch: 1, steps: ids.count, recording: false).data
        XCTAssertLessThanOrEqual(zip(again, full).map { abs($0 - $1) }.max() ?? .infinity, 1e-5)
    }

    func testHeadDimInConfigJSONIsCheckedAsAnInteger() throws {
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("config.json")
        try Data(
            #"{"hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 1, "intermediate_size": 96, "vocab_size": 128, "head_dim": 0}"#
                .utf8
        ).write(to: url)
        XCTAssertThrowsError(try LlamaConfig(huggingFaceConfigAt: url.path)) {
            XCTAssertTrue("\($0)".contains("'head_dim'"), "\($0)")
        }
    }

    /// 128 byte-level tokens (the model's vocabulary), no merges.
    func bpe() throws -> ByteLevelBPETokenizer {
        let alphabet = ByteLevelBPETokenizer.byteAlphabet
        let printable = Array(alphabet[32..<160])
        return try ByteLevelBPETokenizer(
            path: "t", tokens: printable, merges: [], tokenTypes: [], bosID: nil, eosID: nil,
            addsBOS: false, preTokenizer: .gpt2)
    }
}
