import Foundation
import Autograd
import Support
import XCTest
import _TestSupport

/// Runs the built `loft` executable and checks what a user sees.
final class CLITests: LoftTestCase {
    func testBinaryExists() {
        XCTAssertTrue(
            FileManager.default.isExecutableFile(atPath: loftURL.path),
            "no loft binary at \(loftURL.path)")
    }

    func testHelpListsSubcommands() throws {
        let (status, out, _) = try runLoft(["--help"])
        XCTAssertEqual(status, 0)
        XCTAssertTrue(out.contains("USAGE: loft <subcommand>"), out)
        XCTAssertTrue(out.contains("bench"), out)
    }

    func testVersionNamesBLASCore() throws {
        let (status, out, _) = try runLoft(["--version"])
        XCTAssertEqual(status, 0)
        XCTAssertTrue(out.hasPrefix("loft 0."), out)
        XCTAssertTrue(out.contains("core "), out)
    }

    /// Bad flag values stop with one line naming the flag, never a trap.
    func testBadFlagValuesAreClearErrors() throws {
        let cases: [([String], String)] = [
            (["bench", "forward", "--dim", "66", "--heads", "4", "--layers", "1"], "--dim/"),
            (["bench", "loftq", "--iterations", "0"], "--iterations"),
            (["bench", "dequant", "--runs", "-1"], "--runs"),
            (
                [
                    "quantize", "--model", try Fixtures.data("models/stories260K/stories260K.bin"), "--alpha", "0",
                    "--out", "/tmp/never-written",
                ], "--alpha"
            ),
        ]
        for (arguments, flag) in cases {
            let (status, _, err) = try runLoft(arguments)
            XCTAssertNotEqual(status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(err.contains(flag) && !err.contains("Fatal error"), err)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/never-written"))
    }

    func testUnknownOptionFailsWithMessage() throws {
        let (status, _, err) = try runLoft(["bench", "gemm", "--runs", "0"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(err.contains("--runs must be at least 1"), err)
    }
}

/// `loft bench gemm --json` on this machine, whatever kernel the environment leads to.
final class BenchGemmCLITests: LoftTestCase {
    struct Report: Decodable {
        struct Runtime: Decodable { let blasCore: String; let blasCoreSource: String; let blasThreads: Int }
        struct Result: Decodable {
            let m: Int; let k: Int; let n: Int; let transposeB: Bool; let threads: Int; let compute: String;
            let gflopsMedian: Double
        }
        let runtime: Runtime
        let results: [Result]
    }

    func testReportsShapesAndANonGenericCoreUnlessTheUserChoseOne() throws {
        let (status, out, err) = try runLoft(["bench", "gemm", "--json", "--runs", "1"])
        XCTAssertEqual(status, 0, err)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let report = try decoder.decode(Report.self, from: Data(out.utf8))
        // Every shape, B stored both ways, fp32 and (where the bf16 kernel runs) bf16, 1 and 2 threads.
        let computes = BLAS.bf16KernelAvailable ? ["fp32", "bf16"] : ["fp32"]
        var expected: [String] = []
        for (m, k, n) in [(1024, 768, 768), (1024, 768, 2048), (2048, 4096, 4096)] {
            for transposeB in [false, true] {
                for compute in computes {
                    for threads in [1, 2] {
                        expected.append("\(m) \(k) \(n) \(transposeB) \(compute) \(threads)")
                    }
                }
            }
        }
        XCTAssertEqual(
            report.results.map { "\($0.m) \($0.k) \($0.n) \($0.transposeB) \($0.compute) \($0.threads)" }, expected)
        XCTAssertTrue(report.results.allSatisfy { $0.gflopsMedian > 0 })

        let environment = ProcessInfo.processInfo.environment
        let core = report.runtime.blasCore.lowercased()
        if let userCore = environment["OPENBLAS_CORETYPE"], !userCore.isEmpty {
            XCTAssertEqual(core, userCore.lowercased(), "a user-set kernel is kept")
        } else if environment["LOFT_BLAS_CORE"]?.lowercased() != "keep", CPUFeatures.current.avx2 {
            XCTAssertTrue(
                BLASCoreChoice.modernCores.contains(core),
                "AVX2/AVX-512 CPU must not run the generic kernel, got \(report.runtime.blasCore)")
        }
    }
}

/// `loft generate` end to end on the real stories260K files.
final class GenerateCLITests: LoftTestCase {

    func testGreedyGenerationPrintsTheReferenceStory() throws {
        let golden =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: try Fixtures.data("models/stories260K/golden_greedy.json")))
            ) as! [String: Any]
        let (status, out, err) = try runLoft([
            "generate", "--model", try Fixtures.data("models/stories260K/stories260K.bin"),
            "--max-new-tokens", "200",
        ])
        XCTAssertEqual(status, 0, err)
        XCTAssertEqual(
            out.trimmingCharacters(in: .newlines),
            (golden["expected_text"] as! String).trimmingCharacters(in: .newlines))
        XCTAssertTrue(err.contains("200 tokens in"), err)
    }

    func testMissingModelIsAClearError() throws {
        let (status, _, err) = try runLoft(["generate", "--model", "/nonexistent/model.bin"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(err.contains("file not found: /nonexistent/model.bin"), err)
    }
}

/// `loft quantize` then `loft generate` from the folder it wrote.
final class QuantizeCLITests: LoftTestCase {
    func testQuantizeJSONThenGenerateFromTheFolder() throws {
        let stories = try Fixtures.data("models/stories260K/stories260K.bin")
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("loft-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let (status, stdout, stderr) = try runLoft([
            "quantize", "--model", stories,
            "--bits", "2.5", "--rank", "8", "--loftq-iters", "2", "--out", out.path, "--json",
        ])
        XCTAssertEqual(status, 0, stderr)
        let json = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as! [String: Any]
        let report = json["report"] as! [String: Any]
        XCTAssertEqual(report["layer_codebooks"] as? [String], ["nf4", "nf2", "nf2", "nf2", "nf2"])
        XCTAssertEqual((report["matrices"] as! [Any]).count, 35)
        XCTAssertLessThan(report["average_init_error"] as! Double, report["average_plain_error"] as! Double)
        XCTAssertGreaterThan(json["peak_rss_bytes"] as! Int, 0)
        let (genStatus, text, genErr) = try runLoft([
            "generate", "--model", out.path, "--prompt", "Once upon a time", "--max-new-tokens", "20",
        ])
        XCTAssertEqual(genStatus, 0, genErr)
        XCTAssertTrue(text.hasPrefix("Once upon a time"), text)
        XCTAssertGreaterThan(text.count, "Once upon a time".count + 10)
        let gaussianOut = out.appendingPathExtension("gaussian")
        defer { try? FileManager.default.removeItem(at: gaussianOut) }
        let (gStatus, gJSON, gErr) = try runLoft([
            "quantize", "--model", stories,
            "--init", "gaussian", "--out", gaussianOut.path, "--json",
        ])
        XCTAssertEqual(gStatus, 0, gErr)
        let gReport =
            (try JSONSerialization.jsonObject(with: Data(gJSON.utf8)) as! [String: Any])["report"] as! [String: Any]
        XCTAssertEqual(gReport["initialization"] as? String, "gaussian")
        XCTAssertEqual(gReport["average_init_error"] as? Double, gReport["average_plain_error"] as? Double)
        let (again, _, againErr) = try runLoft([
            "quantize", "--model", stories,
            "--out", out.path,
        ])
        XCTAssertNotEqual(again, 0)
        XCTAssertTrue(againErr.contains("already exists"), againErr)
    }
}

/// `loft train` end to end: the files of a run, Ctrl-C saving a checkpoint, and resume.
final class TrainCLITests: LoftTestCase {
    var root: URL { Fixtures.packageRoot }

    func arguments(_ runs: URL, steps: Int) throws -> [String] {
        let data = try Fixtures.data("models/stories260K/stories260K.bin").replacingOccurrences(
            of: "/models/stories260K/stories260K.bin", with: "")
        return [
            "train", "--config", root.appendingPathComponent("configs/gsm8k.yaml").path, "--runs-dir", runs.path,
            "--set", "name=cli", "--set", "model.path=\(data)/models/stories260K/stories260K.bin",
            "--set", "model.tokenizer=\(data)/models/stories260K/tok512.model",
            "--set", "data.train_path=\(data)/gsm8k/train.jsonl", "--set", "data.eval_path=\(data)/gsm8k/test.jsonl",
            "--set", "data.limit_train=64", "--set", "data.max_seq_len=256", "--set", "training.batch_size=2",
            "--set", "training.max_steps=\(steps)", "--set", "eval.every_steps=0", "--set", "eval.max_batches=2",
            "--set", "checkpoint.every_steps=0", "--set", "logging.every_steps=1", "--set", "lora.loftq_iters=1",
        ]
    }

    func testInterruptSavesACheckpointAndResumeFinishes() throws {
        let runs = FileManager.default.temporaryDirectory.appendingPathComponent("loft-train-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: runs) }
        let process = Process()
        process.executableURL = loftURL
        process.arguments = try arguments(runs, steps: 100_000)
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let metrics = runs.appendingPathComponent("cli/metrics.jsonl")
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            let lines = (try? String(contentsOf: metrics, encoding: .utf8))?.split(separator: "\n").count ?? 0
            if lines >= 3 { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.interrupt()  // SIGINT
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 130)
        let checkpoints = runs.appendingPathComponent("cli/checkpoints")
        let latest = try String(contentsOf: checkpoints.appendingPathComponent("latest"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let step = Int(latest.dropFirst("step-".count))!
        XCTAssertGreaterThanOrEqual(step, 3)
        for file in [
            "adapter_model.safetensors", "adapter_config.json", "optimizer.safetensors", "trainer_state.json",
            "config.yaml",
        ] {
            XCTAssertTrue(
                FileManager.default.fileExists(atPath: checkpoints.appendingPathComponent("\(latest)/\(file)").path),
                file)
        }
        let (status, _, err) = try runLoft(try arguments(runs, steps: step + 2) + ["--resume", "latest"])
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(err.contains("resumed at step \(step)"), err)
        XCTAssertTrue(err.contains("eval at step \(step + 2)"), err)
        for file in ["config.yaml", "run.json", "final/adapter_model.safetensors", "final/adapter_config.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: runs.appendingPathComponent("cli/\(file)").path), file)
        }
        let records = try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n")
        XCTAssertTrue(records.last!.contains("\"kind\":\"eval\""), String(records.last!))
        let run = try String(contentsOf: runs.appendingPathComponent("cli/run.json"), encoding: .utf8)
        XCTAssertTrue(run.contains("blas_core"), run)
    }

    func testConfigErrorExitsNonZeroNamingTheKey() throws {
        let (status, _, err) = try runLoft([
            "train", "--config", root.appendingPathComponent("configs/gsm8k.yaml").path,
            "--set", "training.learning_rat=1",
        ])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(err.contains("unknown key 'training.learning_rat'"), err)
    }
}

/// `loft tokenize` on the SmolLM2 GGUF: ids, pieces and the decoded text.
final class TokenizeCLITests: LoftTestCase {
    func testTokenizeAndDecode() throws {
        let model = try Fixtures.data("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
        let (status, out, err) = try runLoft(["tokenize", "--model", model, "--text", "Hello world", "--json"])
        XCTAssertEqual(status, 0, err)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        XCTAssertEqual(json["ids"] as? [Int], [19556, 905], "the golden ids of 'Hello world'")
        XCTAssertEqual(json["pieces"] as? [String], ["Hello", "Ġworld"])
        let (decodeStatus, text, _) = try runLoft(["tokenize", "--model", model, "--decode", "19556, 905"])
        XCTAssertEqual(decodeStatus, 0)
        XCTAssertEqual(text, "Hello world\n")
        let (bad, _, badErr) = try runLoft(["tokenize", "--model", model, "--decode", "19556,x"])
        XCTAssertNotEqual(bad, 0)
        XCTAssertTrue(badErr.contains("'x' is not an id"), badErr)
    }
}

/// `loft eval` on the real files.
final class EvalCLITests: LoftTestCase {

    func testPerplexityJSON() throws {
        let text = FileManager.default.temporaryDirectory.appendingPathComponent("loft-ppl-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(at: text) }
        try String(
            repeating: "Once upon a time, there was a little girl named Lily. She loved to play outside.\n", count: 20
        )
        .write(to: text, atomically: true, encoding: .utf8)
        let (status, out, err) = try runLoft([
            "eval", "--perplexity", "--model", try Fixtures.golden("stories260K-hf"),
            "--data", text.path, "--seq-len", "64", "--json",
        ])
        XCTAssertEqual(status, 0, err)
        let json = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any]
        let result = json["result"] as! [String: Any]
        XCTAssertLessThan(result["perplexity"] as! Double, 3, "the model knows this story well")
        XCTAssertEqual(result["targets"] as! Int, (result["blocks"] as! Int) * 63)
    }

    func testGSM8KWritesPredictions() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("loft-pred-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: out) }
        let (status, stdout, err) = try runLoft([
            "eval", "--gsm8k", "--model", try Fixtures.data("models/stories260K/stories260K.bin"),
            "--data", try Fixtures.data("gsm8k/test.jsonl"),
            "--limit", "3", "--batch", "2", "--max-new-tokens", "16", "--out", out.path,
        ])
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(stdout.contains("GSM8K test (3 questions)"), stdout)
        let lines = try String(contentsOf: out, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        XCTAssertEqual(first["gold"] as? String, "18")
        XCTAssertTrue((first["prompt"] as! String).hasPrefix("Janet"))
        XCTAssertNotNil(first["output"] as? String)
        for key in ["strict", "flexible", "extracted", "correct", "strict_correct", "flexible_correct"] {
            XCTAssertTrue(first.keys.contains(key), "every record has \(key), null when no answer was found")
        }
    }

    func testNeedsExactlyOneMode() throws {
        let (status, _, err) = try runLoft(["eval", "--model", "x"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(err.contains("exactly one of --perplexity and --gsm8k"), err)
    }
}
