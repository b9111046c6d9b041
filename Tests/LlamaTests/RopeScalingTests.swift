import Formats
import Foundation
import Llama
import XCTest
import _TestSupport

/// RoPE scaling (linear, Llama-3.1's llama3, dynamic NTK, llama.cpp's per-frequency factors) against the
/// inverse frequencies transformers 5.24 computes (`ROPE_INIT_FUNCTIONS`, hidden 64, 4 heads,
/// θ = 10000); on tiny random models the logits also agreed to 2e-7 (checked by hand, see the
/// closing note of stop 22).
final class RopeScalingTests: LoftTestCase {
    func config(_ scaling: RopeScaling?) -> LlamaConfig {
        var c = LlamaConfig(
            unchecked: 64, layers: 1, heads: 4, kvHeads: 4, hiddenDim: 96, vocabularySize: 128, normEps: 1e-6,
            ropeTheta: 10_000, maxSequenceLength: 512, tiedEmbeddings: false)
        c.ropeScaling = scaling
        return c
    }

    func assertClose(_ a: [Float], _ b: [Double], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        for (x, y) in zip(a, b) { XCTAssertEqual(Double(x), y, accuracy: 2e-6 * y, file: file, line: line) }
    }

    func testInverseFrequenciesMatchTransformers() {
        assertClose(
            config(.llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 64))
                .ropeInverseFrequencies,
            [
                1.0, 0.24438458681106567, 0.013042256236076355, 0.0039528473280370235, 0.0012499999720603228,
                0.00039528473280370235, 0.0001250000059371814, 3.9528473280370235e-05,
            ])
        assertClose(
            config(.linear(factor: 4)).ropeInverseFrequencies,
            [
                0.25, 0.07905694097280502, 0.02500000037252903, 0.007905694656074047, 0.0024999999441206455,
                0.0007905694656074047, 0.0002500000118743628, 7.905694656074047e-05,
            ])
        // dynamic ×4 with max_position_embeddings 512: plain RoPE up to 512 positions, then θ grows with the length
        let dynamic = config(.dynamic(factor: 4))
        for length in [0, 300, 512] {
            XCTAssertEqual(dynamic.ropeInverseFrequencies(length: length), config(nil).ropeInverseFrequencies)
        }
        assertClose(
            dynamic.ropeInverseFrequencies(length: 1000),
            [
                1.0, 0.2526495158672333, 0.06383177638053894, 0.01612706668674946, 0.004074495751410723,
                0.001029419363476336, 0.0002600823063403368, 6.570966797880828e-05,
            ])
        assertClose(
            dynamic.ropeInverseFrequencies(length: 2048),
            [
                1.0, 0.21921247243881226, 0.048054102808237076, 0.010534058324992657, 0.002309196861460805,
                0.0005062047275714576, 0.0001109663862735033, 2.432521250739228e-05,
            ])
    }

    func testHuggingFaceConfigsOfBothTransformersVersionsAreRead() throws {
        let folder = try Fixtures.temporaryDirectory(self)
        let base =
            #""hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 1, "intermediate_size": 96, "vocab_size": 128"#
        let llama3 = RopeScaling.llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 64)
        for (entry, expected) in [
            (
                #""rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}"#,
                llama3
            ),
            (
                #""rope_parameters": {"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}"#,
                llama3
            ),
            (#""rope_scaling": {"type": "linear", "factor": 4.0}"#, .linear(factor: 4)),
            (
                #""rope_parameters": {"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0}"#,
                .dynamic(factor: 2)
            ),
        ] as [(String, RopeScaling)] {
            let url = folder.appendingPathComponent("config.json")
            try Data("{\(base), \(entry)}".utf8).write(to: url)
            let read = try LlamaConfig(huggingFaceConfigAt: url.path)
            XCTAssertEqual(read.ropeScaling, expected)
            // written back as transformers reads it, and read again the same
            try JSONSerialization.data(withJSONObject: read.huggingFaceJSON).write(to: url)
            XCTAssertEqual(try LlamaConfig(huggingFaceConfigAt: url.path).ropeScaling, expected)
        }
        let url = folder.appendingPathComponent("config.json")
        try Data("{\(base), \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 2.0}}".utf8).write(to: url)
        XCTAssertThrowsError(try LlamaConfig(huggingFaceConfigAt: url.path)) {
            XCTAssertTrue("\($0)".contains("rope_scaling.rope_type") && "\($0)".contains("'yarn'"), "\($0)")
        }
    }

    /// A llama3-scaled model written as GGUF stores the scaling as `rope_freqs.weight` (as
    /// llama.cpp's converter does) and reads back with the same frequencies.
    func testGGUFCarriesTheScalingAsFrequencyFactors() throws {
        var c = try Llama2CCheckpoint(path: try Fixtures.data("models/stories260K/stories260K.bin")).config
        c.ropeScaling = .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 64)
        var gguf = GGUFWriter()
        gguf.set("general.architecture", .string("llama"))
        for (key, value) in [
            ("embedding_length", c.dim), ("block_count", c.layers), ("feed_forward_length", c.hiddenDim),
            ("attention.head_count", c.heads), ("attention.head_count_kv", c.kvHeads), ("vocab_size", c.vocabularySize),
        ] {
            gguf.set("llama." + key, .uint32(UInt32(value)))
        }
        var unscaled = c
        unscaled.ropeScaling = nil
        let factors = zip(unscaled.ropeInverseFrequencies, c.ropeInverseFrequencies).map { $0 / $1 }
        try gguf.addTensor("rope_freqs.weight", values: factors, shape: [factors.count], type: .f32)
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("m.gguf")
        try gguf.write(to: url)
        let read = try GGUFCheckpoint(path: url.path).config
        XCTAssertEqual(read.ropeScaling, .frequencyFactors(factors))
        for (a, b) in zip(read.ropeInverseFrequencies, c.ropeInverseFrequencies) {
            XCTAssertEqual(a, b, accuracy: 1e-6 * b)
        }
    }
}
