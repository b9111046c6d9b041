import Formats
import Foundation
import XCTest
import _TestSupport

/// `mpirun -np 2 loft train` (2 ranks, oversubscribed on a small machine): the same numbers as
/// one process with the same global batch, the same bits on every run, resume across world sizes.
final class MPITests: LoftTestCase {
    /// GSM8K (examples of different lengths, so token-weighted normalisation matters), batch 8 ×
    /// accumulation 2, dropout 0 (masks are drawn per rank's slice, so with dropout the ranks'
    /// masks differ from one process's).
    func config(in folder: URL) throws -> String {
        let model = try Fixtures.data("models/stories260K/stories260K.bin")
        let tokenizer = try Fixtures.data("models/stories260K/tok512.model")
        let gsm8k = try Fixtures.data("gsm8k/train.jsonl")
        let yaml = """
            name: mpi
            model: {path: \(model), tokenizer: \(tokenizer)}
            quantization: {bits: 4}
            lora: {rank: 4, alpha: 8, dropout: 0.0, loftq_iters: 2}
            data: {dataset: gsm8k, train_path: \(gsm8k), eval_path: null, max_seq_len: 256, limit_train: 64}
            training:
              {seed: 7, batch_size: 8, grad_accumulation: 2, max_steps: 6, learning_rate: 5e-3, schedule: cosine,
               warmup_steps: 1}
            checkpoint: {every_steps: 3, keep_last: 2}
            logging: {every_steps: 1}
            """
        let url = folder.appendingPathComponent("run.yaml")
        try yaml.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// Runs `loft` on `ranks` ranks under mpirun (or alone when `ranks` is nil).
    func train(_ arguments: [String], ranks: Int?) throws -> (Int32, String) {
        let process = Process()
        if let ranks {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["mpirun", "-np", "\(ranks)", "--oversubscribe", loftURL.path, "train"] + arguments
            var environment = ProcessInfo.processInfo.environment
            (environment["OMPI_ALLOW_RUN_AS_ROOT"], environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"]) = ("1", "1")
            process.environment = environment
        } else {
            process.executableURL = loftURL
            process.arguments = ["train"] + arguments
        }
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    func losses(_ run: URL) throws -> [Double] {
        try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
            .compactMap {
                let object = try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                return object?["kind"] as? String == "train" ? object?["loss"] as? Double : nil
            }
    }

    func adapter(_ run: URL) throws -> [String: [Float]] {
        let file = try SafeTensorsFile(path: run.appendingPathComponent("final/adapter_model.safetensors").path)
        return try Dictionary(uniqueKeysWithValues: file.entries.keys.map { ($0, try file.floats($0)) })
    }

    func assertClose(
        _ a: [String: [Float]], _ b: [String: [Float]], relative: Float, file: StaticString = #filePath,
        line: UInt = #line
    ) {
        XCTAssertEqual(Set(a.keys), Set(b.keys), file: file, line: line)
        for (name, values) in a {
            let other = b[name] ?? []
            let scale = max(values.map(abs).max() ?? 0, 1e-6)
            let worst = zip(values, other).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(worst / scale, relative, name, file: file, line: line)
        }
    }

    func testTwoRanksMatchOneProcessAndRepeatBitForBit() throws {
        let root = try Fixtures.temporaryDirectory(self)
        let config = try config(in: root)
        let (one, two, again) = (
            root.appendingPathComponent("one"), root.appendingPathComponent("two"), root.appendingPathComponent("again")
        )
        for (folder, ranks) in [(one, nil), (two, 2), (again, 2)] as [(URL, Int?)] {
            let (status, errors) = try train(["--config", config, "--runs-dir", folder.path], ranks: ranks)
            XCTAssertEqual(status, 0, errors)
        }
        let reference = try losses(one.appendingPathComponent("mpi"))
        let distributed = try losses(two.appendingPathComponent("mpi"))
        XCTAssertEqual(reference.count, 6)
        XCTAssertEqual(distributed.count, 6)
        for (a, b) in zip(reference, distributed) { XCTAssertEqual(a, b, accuracy: 1e-5 * abs(a)) }
        assertClose(
            try adapter(one.appendingPathComponent("mpi")), try adapter(two.appendingPathComponent("mpi")),
            relative: 1e-5)
        XCTAssertEqual(try losses(again.appendingPathComponent("mpi")), distributed, "same world size, same bits")
        XCTAssertEqual(
            try Data(contentsOf: again.appendingPathComponent("mpi/final/adapter_model.safetensors")),
            try Data(contentsOf: two.appendingPathComponent("mpi/final/adapter_model.safetensors")))
    }

    /// A checkpoint written by 2 ranks resumes on 1 (and one written by 1 resumes on 2): the data
    /// order is a function of the global step, so the rest of the run is the uninterrupted one's.
    func testResumeAcrossWorldSizes() throws {
        let root = try Fixtures.temporaryDirectory(self)
        let config = try config(in: root)
        let (whole, split) = (root.appendingPathComponent("whole"), root.appendingPathComponent("split"))
        XCTAssertEqual(try train(["--config", config, "--runs-dir", whole.path], ranks: nil).0, 0)
        let reference = try losses(whole.appendingPathComponent("mpi"))
        for (first, second) in [(2, nil), (nil, 2)] as [(Int?, Int?)] {
            try? FileManager.default.removeItem(at: split)
            XCTAssertEqual(try train(["--config", config, "--runs-dir", split.path], ranks: first).0, 0)
            let run = split.appendingPathComponent("mpi")
            try FileManager.default.removeItem(at: run.appendingPathComponent("final"))
            try FileManager.default.removeItem(at: run.appendingPathComponent("checkpoints/step-000006"))
            try FileManager.default.removeItem(at: run.appendingPathComponent("metrics.jsonl"))
            let (status, errors) = try train(
                ["--config", config, "--runs-dir", split.path, "--resume", "latest"], ranks: second)
            XCTAssertEqual(status, 0, errors)
            let resumed = try losses(run)
            XCTAssertEqual(resumed.count, 3, "steps 4–6 after the step-3 checkpoint")
            for (a, b) in zip(reference.suffix(3), resumed) {
                XCTAssertEqual(
                    a, b, accuracy: 1e-5 * abs(a), "\(String(describing: first)) → \(String(describing: second))")
            }
            assertClose(try adapter(whole.appendingPathComponent("mpi")), try adapter(run), relative: 1e-5)
        }
    }

    /// A batch that cannot be split ends every rank with a non-zero exit and a message naming the rank.
    func testAFailingRankEndsTheJobNamingItself() throws {
        let root = try Fixtures.temporaryDirectory(self)
        let config = try config(in: root)
        let (status, errors) = try train(
            ["--config", config, "--runs-dir", root.path, "--set", "training.batch_size=3"], ranks: 2)
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(errors.contains("rank 0 of 2") || errors.contains("rank 1 of 2"), errors)
        XCTAssertTrue(errors.contains("training.batch_size"), errors)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.appendingPathComponent("mpi/checkpoints").path))
    }

    /// `loft quantize` on 2 ranks (matrices split, gathered on rank 0) writes the folder one
    /// process writes, byte for byte (the report's timings aside).
    func testQuantizeOnTwoRanksWritesTheSameFolder() throws {
        let root = try Fixtures.temporaryDirectory(self)
        let model = try Fixtures.data("models/stories260K/stories260K.bin")
        for (name, ranks) in [("one", nil), ("two", 2)] as [(String, Int?)] {
            let process = Process()
            let arguments = [
                "quantize", "--model", model, "--bits", "2.5", "--rank", "4", "--alpha", "8", "--loftq-iters", "2",
                "--double-quant", "--out", root.appendingPathComponent(name).path,
            ]
            if let ranks {
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = ["mpirun", "-np", "\(ranks)", "--oversubscribe", loftURL.path] + arguments
                var environment = ProcessInfo.processInfo.environment
                (environment["OMPI_ALLOW_RUN_AS_ROOT"], environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"]) = ("1", "1")
                process.environment = environment
            } else {
                process.executableURL = loftURL
                process.arguments = arguments
            }
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0, name)
        }
        for file in ["model.safetensors", "config.json"] {
            XCTAssertEqual(
                try Data(contentsOf: root.appendingPathComponent("one/" + file)),
                try Data(contentsOf: root.appendingPathComponent("two/" + file)), file)
        }
        let configs = try ["one", "two"].map { name -> NSDictionary in
            var json = try Fixtures.json(root.appendingPathComponent(name + "/adapter/adapter_config.json").path)
            json["base_model_name_or_path"] = nil  // the folder's own path
            return json as NSDictionary
        }
        XCTAssertEqual(configs[0], configs[1])
        let adapters = try ["one", "two"].map {
            try SafeTensorsFile(path: root.appendingPathComponent($0 + "/adapter/adapter_model.safetensors").path)
        }
        XCTAssertEqual(
            adapters[0].metadata.filter { $0.key != "loft.base" }, adapters[1].metadata.filter { $0.key != "loft.base" }
        )
        for name in adapters[0].entries.keys {
            XCTAssertEqual(try adapters[0].floats(name), try adapters[1].floats(name), name)
        }
    }
}
