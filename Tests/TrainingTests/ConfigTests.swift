import Foundation
import Training
import XCTest
import _TestSupport

final class ConfigTests: LoftTestCase {
    func testShippedConfigsLoad() throws {
        for name in [
            "gsm8k", "wikitext2", "llama2-7b-gsm8k", "llama2-7b-wikitext2", "smollm2-wikitext2", "smollm2-gsm8k",
        ] {
            let config = try ConfigLoader.load(
                path: Fixtures.packageRoot.appendingPathComponent("configs/\(name).yaml").path)
            XCTAssertEqual(config.name, name)
        }
        let paper = try ConfigLoader.load(
            path: Fixtures.packageRoot.appendingPathComponent("configs/llama2-7b-gsm8k.yaml").path)
        XCTAssertEqual(paper.lora.rank, 64)
        XCTAssertEqual(paper.training.learningRate, 3e-4)
        XCTAssertEqual(paper.training.schedule, .cosine)
        XCTAssertEqual(paper.training.warmupRatio, 0.03)
        XCTAssertEqual(paper.training.weightDecay, 0.1)
        XCTAssertEqual(paper.data.maxSeqLen, 512)
        XCTAssertEqual(
            try ConfigLoader.load(
                path: Fixtures.packageRoot.appendingPathComponent("configs/llama2-7b-wikitext2.yaml").path
            ).data.maxSeqLen, 1024)
    }

    func testDefaultsScientificNotationAndNone() throws {
        let config = try ConfigLoader.parse(
            "training:\n  learning_rate: 1e-5\n  eps: 1e-8\nquantization: none\n", file: "t.yaml")
        XCTAssertEqual(config.training.learningRate, 1e-5)
        XCTAssertEqual(config.training.eps, 1e-8)
        XCTAssertNil(config.quantization)
        XCTAssertEqual(config.lora.rank, RunConfig().lora.rank)
        XCTAssertEqual(try ConfigLoader.parse("", file: "empty.yaml"), RunConfig())
    }

    func testOverrides() throws {
        let config = try ConfigLoader.parse(
            "lora:\n  rank: 4\n", file: "t.yaml",
            overrides: ["lora.rank=32", "training.betas=[0.8, 0.9]", "name=other", "quantization.bits=2.5"])
        XCTAssertEqual(config.lora.rank, 32)
        XCTAssertEqual(config.training.betas, [0.8, 0.9])
        XCTAssertEqual(config.name, "other")
        XCTAssertEqual(config.quantization?.bits, 2.5)
        XCTAssertThrowsError(try ConfigLoader.parse("", file: "t.yaml", overrides: ["lora.rank"])) {
            XCTAssertTrue("\($0)".contains("section.key=value"), "\($0)")
        }
        XCTAssertThrowsError(try ConfigLoader.parse("", file: "t.yaml", overrides: ["lora.rnk=3"])) {
            XCTAssertTrue("\($0)".contains("unknown key 'lora.rnk'"), "\($0)")
        }
    }

    func testErrorsNameFileKeyAndLine() {
        XCTAssertThrowsError(try ConfigLoader.parse("training:\n  batch_size: 4\n  learnin_rate: 3\n", file: "c.yaml"))
        {
            XCTAssertTrue("\($0)".contains("c.yaml:3: unknown key 'training.learnin_rate'"), "\($0)")
        }
        XCTAssertThrowsError(try ConfigLoader.parse("optimizer:\n  lr: 3\n", file: "c.yaml")) {
            XCTAssertTrue("\($0)".contains("unknown key 'optimizer'"), "\($0)")
        }
        XCTAssertThrowsError(try ConfigLoader.parse("training:\n  batch_size: four\n", file: "c.yaml")) {
            XCTAssertTrue("\($0)".contains("c.yaml: key 'training.batch_size'"), "\($0)")
        }
        XCTAssertThrowsError(try ConfigLoader.parse("lora:\n  dropout: 1.5\n", file: "c.yaml")) {
            XCTAssertTrue("\($0)".contains("'lora.dropout' = 1.5 is out of range"), "\($0)")
        }
        XCTAssertThrowsError(try ConfigLoader.parse("quantization:\n  bits: 3.5\n", file: "c.yaml")) {
            XCTAssertTrue("\($0)".contains("'quantization.bits'"), "\($0)")
        }
        XCTAssertThrowsError(try ConfigLoader.parse("training:\n  schedule: exponential\n", file: "c.yaml")) {
            XCTAssertTrue("\($0)".contains("training.schedule"), "\($0)")
        }
        XCTAssertThrowsError(try ConfigLoader.parse("lora: [1, 2]\n", file: "c.yaml")) {
            XCTAssertTrue("\($0)".contains("'lora'"), "\($0)")
        }
        XCTAssertThrowsError(try ConfigLoader.parse("training:\n  bad: [\n", file: "c.yaml")) {
            XCTAssertTrue("\($0)".contains("c.yaml: not valid YAML"), "\($0)")
        }
    }

    /// `null` turns an optional key off (it does not mean "the default"), and survives a round trip.
    /// YAML problems are one line with their line number (Yams's own text repeats the whole file).
    func testYAMLProblemsAreOneLineWithTheLine() {
        let cases = [
            ("training:\n  seed: 1\n  seed: 2\n", "key 'seed' appears twice in the mapping that starts at line 2"),
            ("name: x\n  bad: [1,\n", "(line 2, column 6)"),
        ]
        for (yaml, expected) in cases {
            XCTAssertThrowsError(try ConfigLoader.parse(yaml, file: "t.yaml")) {
                XCTAssertTrue(
                    "\($0)".hasPrefix("t.yaml: not valid YAML: ") && "\($0)".contains(expected)
                        && !"\($0)".contains("\n"), "\($0)")
            }
        }
    }

    func testNullTurnsAnOptionalKeyOff() throws {
        let config = try ConfigLoader.parse("data:\n  eval_path: null\n", file: "t.yaml")
        XCTAssertNil(config.data.evalPath)
        XCTAssertEqual(try ConfigLoader.parse("", file: "t.yaml").data.evalPath, RunConfig().data.evalPath)
        XCTAssertEqual(try ConfigLoader.parse(try ConfigLoader.yaml(config), file: "r.yaml"), config)
    }

    func testResolvedConfigRoundTrips() throws {
        var config = RunConfig()
        config.quantization = nil
        config.training.learningRate = 1e-5
        XCTAssertEqual(try ConfigLoader.parse(try ConfigLoader.yaml(config), file: "r.yaml"), config)
    }
}
