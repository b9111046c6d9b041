import Foundation
import Formats
import Llama
import XCTest
import _TestSupport

final class LlamaConfigTests: LoftTestCase {
    func config(_ json: [String: Any]) throws -> LlamaConfig {
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("config.json")
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        return try LlamaConfig(huggingFaceConfigAt: url.path)
    }

    let base: [String: Any] = [
        "model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 8, "num_key_value_heads": 4, "intermediate_size": 172,
        "vocab_size": 512, "rms_norm_eps": 1e-5,
    ]

    func testRopeThetaFromTransformers4And5AndDefault() throws {
        XCTAssertEqual(try config(base).ropeTheta, 10_000)
        XCTAssertEqual(try config(base.merging(["rope_theta": 500_000.0]) { $1 }).ropeTheta, 500_000)
        XCTAssertEqual(
            try config(base.merging(["rope_parameters": ["rope_theta": 1e6, "rope_type": "default"]]) { $1 }).ropeTheta,
            1e6)
    }

    func testGoldenFolderConfig() throws {
        let c = try LlamaConfig(huggingFaceConfigAt: Fixtures.golden("stories260K-hf/config.json"))
        XCTAssertEqual(
            c,
            LlamaConfig(
                dim: 64, layers: 5, heads: 8, kvHeads: 4, hiddenDim: 172, vocabularySize: 512,
                normEps: 1e-5, ropeTheta: 10_000, maxSequenceLength: 512, tiedEmbeddings: true))
    }

    func testErrorsNameTheKey() throws {
        var missing = base
        missing["hidden_size"] = nil
        XCTAssertThrowsError(try config(missing)) { XCTAssertTrue("\($0)".contains("'hidden_size': missing"), "\($0)") }
        XCTAssertThrowsError(try config(base.merging(["num_hidden_layers": "two"]) { $1 })) {
            XCTAssertTrue("\($0)".contains("'num_hidden_layers'"), "\($0)")
        }
        XCTAssertThrowsError(try config(base.merging(["rope_scaling": ["rope_type": "yarn", "factor": 4.0]]) { $1 })) {
            XCTAssertTrue("\($0)".contains("'yarn' is not supported"), "\($0)")
        }
        XCTAssertThrowsError(try config(base.merging(["num_key_value_heads": 3]) { $1 })) {
            XCTAssertTrue("\($0)".contains("not a multiple of kv heads"), "\($0)")
        }
        XCTAssertThrowsError(try config(base.merging(["model_type": "gpt2"]) { $1 })) {
            XCTAssertTrue("\($0)".contains("'model_type'"), "\($0)")
        }
    }
}
