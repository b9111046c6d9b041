import Autograd
import Benchmarks
import Formats
import Foundation
import Llama
import LoRA
import Quantization
import Recipes
import XCTest
import _TestSupport

/// Every input from outside that used to reach a trap (precondition, force unwrap, overflow) is a
/// typed error naming the file, key or flag.
final class TrapTests: LoftTestCase {
    func assertError(
        _ body: @autoclosure () throws -> Any, contains parts: [String],
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            for part in parts {
                XCTAssertTrue("\(error)".contains(part), "\(error) lacks \(part)", file: file, line: line)
            }
        }
    }

    var stories: String { get throws { try Fixtures.data("models/stories260K/stories260K.bin") } }

    func testQuantizedFolderWithAForeignTokenizerIsRefusedEverywhere() throws {
        let folder = try quantizedStories()
        XCTAssertEqual(
            try ModelLoader.load(model: folder.path).tokenizer.vocabularySize, 512, "the folder's own tokenizer fits")
        let tokenizer = folder.appendingPathComponent("tokenizer.model")
        try FileManager.default.removeItem(at: tokenizer)
        try FileManager.default.copyItem(
            atPath: try Fixtures.data("tokenizers/llama2/tokenizer.model"), toPath: tokenizer.path)
        assertError(
            try ModelLoader.load(model: folder.path), contains: [tokenizer.path, "32000 pieces", "vocabulary of 512"])
        var config = RunConfig()
        config.model.path = folder.path
        config.lora.rank = 4
        config.lora.alpha = 8
        assertError(try ModelBuilder.build(config, file: "run.yaml"), contains: ["32000 pieces", "vocabulary of 512"])
        assertError(
            try LoftQuantizer.quantize(
                model: stories, tokenizer: tokenizer.path,
                options: .init(spec: QuantizationSpec(), rank: 4), output: folder.appendingPathComponent("x")),
            contains: ["32000 pieces"])
    }

    func testZeroBlockSizeInAQuantizedFolderIsAnError() throws {
        let folder = try quantizedStories()
        let configURL = folder.appendingPathComponent("config.json")
        var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any])
        var quantization = try XCTUnwrap(json["quantization_config"] as? [String: Any])
        quantization["block_size"] = 0
        json["quantization_config"] = quantization
        try JSONSerialization.data(withJSONObject: json).write(to: configURL)
        assertError(
            try ModelLoader.loadBase(folder.path),
            contains: [configURL.path, "quantization_config", "block size must be positive"])
    }

    func testAdapterWithRankZeroOrBadAlphaIsAnError() throws {
        let folder = try quantizedStories().appendingPathComponent("adapter")
        let configURL = folder.appendingPathComponent("adapter_config.json")
        let original = try Data(contentsOf: configURL)
        for (key, value, message) in [("r", 0 as Any, "'r'"), ("lora_alpha", 0.0 as Any, "'lora_alpha'")] {
            var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: original) as? [String: Any])
            json[key] = value
            try JSONSerialization.data(withJSONObject: json).write(to: configURL)
            assertError(try AdapterFiles.readConfig(folder), contains: [configURL.path, message])
        }
    }

    func testNonFiniteWeightsInLoftQAreAnErrorNotALAPACKTrap() throws {
        var weight = [Float](repeating: 0.01, count: 64 * 32)
        weight[77] = .nan
        var rng = RandomState(seed: 0)
        let options = LoftQ.Options(codebook: .nf4, rank: 4, alpha: 4, iterations: 2)
        for initialization in LoRAInitialization.allCases {
            assertError(
                try initialization.run(
                    weight: weight, shape: [64, 32], options: options, weighting: .identity(width: 32), rng: &rng),
                contains: ["element 77", "nan"])
        }
        weight[77] = .infinity
        assertError(
            try LoftQ.initialize(weight: weight, shape: [64, 32], options: options, rng: &rng), contains: ["inf"])
    }

    func testEmptyPromptWithoutBOSAndOutOfRangeIdsAreErrors() throws {
        let model = try ModelLoader.loadBase(stories)
        var rng = RandomState(seed: 0)
        assertError(try model.generate(prompt: [], maxNewTokens: 4, rng: &rng), contains: ["no token"])
        assertError(try model.generateBatch(prompts: [[1], []], maxNewTokens: 4, rng: &rng), contains: ["no token"])
        assertError(
            try model.generate(prompt: [1, 512], maxNewTokens: 4, rng: &rng), contains: ["512", "vocabulary of 512"])
    }

    func testQuantizeFlagsAreChecked() {
        func options(bits: Double = 4, rank: Int = 16, alpha: Float = 16, iterations: Int = 5, svd: String = "auto")
            throws -> LoftQuantizer.Options
        {
            try LoftQuantizer.Options(
                bits: bits, method: .nf, blockSize: 64, doubleQuant: false, rank: rank, alpha: alpha,
                iterations: iterations, initialization: .loftq, svd: svd, seed: 0)
        }
        assertError(try options(alpha: 0), contains: ["--alpha", "> 0"])
        assertError(try options(alpha: .infinity), contains: ["--alpha"])
        assertError(try options(rank: 0), contains: ["--rank"])
        assertError(try options(iterations: 0), contains: ["--loftq-iters"])
        assertError(try options(bits: 3.5), contains: ["--bits"])
        assertError(try options(svd: "fast"), contains: ["--svd"])
    }

    func testBenchmarkFlagsAreChecked() {
        func model(dim: Int = 64, heads: Int = 4, kvHeads: Int? = nil, steps: Int = 1) throws -> ModelBenchmark.Options
        {
            try ModelBenchmark.Options(
                preset: nil, dim: dim, layers: 1, heads: heads, kvHeads: kvHeads, hidden: 128, vocab: 256, bits: "4",
                rank: 4, batch: 1, sequence: 8, steps: steps, activationCheckpointing: false)
        }
        XCTAssertNoThrow(try model())
        assertError(try model(dim: 66), contains: ["--dim", "not a multiple of heads"])
        assertError(try model(kvHeads: 3), contains: ["--kv-heads", "kv heads 3"])
        assertError(try model(heads: 0), contains: ["positive"])
        assertError(try model(steps: 0), contains: ["--steps"])
        assertError(try DequantBenchmark.run(runs: -1), contains: ["--runs"])
        assertError(
            try LoftQBenchmark.run(shapes: "64x32", iterations: 0, rank: 4, svd: "both", runs: 1),
            contains: ["--iterations"])
        assertError(
            try LoftQBenchmark.run(shapes: "64x32", iterations: 1, rank: 0, svd: "both", runs: 1), contains: ["--rank"])
        assertError(
            try LoftQBenchmark.run(shapes: "64x32", iterations: 1, rank: 4, svd: "both", runs: -1), contains: ["--runs"]
        )
        assertError(
            try LoftQBenchmark.run(shapes: "64y32", iterations: 1, rank: 4, svd: "both", runs: 1),
            contains: ["--shapes"])
    }

    func testTypedConfigNamesTheChoices() {
        assertError(
            try ConfigLoader.parse("model:\n  format: gguff\n", file: "c.yaml"),
            contains: ["c.yaml", "model.format", "auto, hf, llama2c, loft"])
        assertError(
            try ConfigLoader.parse("lora:\n  init: pissa\n", file: "c.yaml"),
            contains: ["lora.init", "loftq, gaussian"])
        assertError(
            try ConfigLoader.parse("lora:\n  target_modules: [q_proj, wq]\n", file: "c.yaml"),
            contains: ["lora.target_modules", "q_proj"])
        assertError(
            try ConfigLoader.parse("data:\n  dataset: c4\n", file: "c.yaml"), contains: ["data.dataset", "gsm8k"])
        assertError(
            try ConfigLoader.parse("quantization:\n  method: fp8\n", file: "c.yaml"),
            contains: ["quantization.method", "nf, uniform"])
    }

    /// A config made in code is validated by whoever builds from it.
    func testTrainerAndBuilderRefuseAnUnvalidatedConfig() {
        var config = RunConfig()
        config.training.batchSize = 0
        assertError(try Trainer(config: config, configFile: "code"), contains: ["training.batch_size"])
        assertError(try ModelBuilder.build(config, file: "code"), contains: ["training.batch_size"])
    }
}
