import Autograd
import Foundation
import Formats
import Llama
import Recipes
import Quantization
import Training
import XCTest
import _TestSupport

/// Checkpoint housekeeping and what a resume refuses to read.
final class CheckpointFilesTests: LoftTestCase {
    func run(_ config: RunConfig, root: URL, resume: String? = nil) throws {
        _ = try Trainer(config: config, configFile: "test.yaml", runsRoot: root).run(resume: resume) { _ in .proceed }
    }

    func testKeepLastPrunesOldCheckpointsAndLatestNamesTheNewest() throws {
        let root = try Fixtures.temporaryDirectory(self)
        try run(
            try smallRunConfig(name: "keep", steps: 5, checkpointEvery: 1, extra: ["checkpoint.keep_last=2"]),
            root: root)
        let directory = root.appendingPathComponent("keep/checkpoints")
        XCTAssertEqual(
            try Checkpoint.completeCheckpoints(in: directory).map(\.lastPathComponent), ["step-000004", "step-000005"])
        XCTAssertEqual(try Checkpoint.latest(in: directory).lastPathComponent, "step-000005")
        XCTAssertEqual(
            try String(contentsOf: directory.appendingPathComponent("latest"), encoding: .utf8), "step-000005\n")
    }

    /// A damaged newest checkpoint (one flipped byte) is passed over by `--resume latest`, which
    /// says which and why and resumes from the previous one; named explicitly, it is refused.
    /// Temporary folders of killed writes are removed at the start.
    func testResumeLatestSkipsADamagedCheckpointAndLeftoversAreRemoved() throws {
        let root = try Fixtures.temporaryDirectory(self)
        let config = try smallRunConfig(
            name: "damaged", steps: 3, checkpointEvery: 1, extra: ["checkpoint.keep_last=3"])
        try run(config, root: root)
        let directory = root.appendingPathComponent("damaged/checkpoints")
        let newest = directory.appendingPathComponent("step-000003")
        let (state, _) = try Checkpoint.readState(newest)
        XCTAssertEqual(
            state.checksums.map { Set($0.keys) },
            ["adapter_model.safetensors", "adapter_config.json", "optimizer.safetensors", "config.yaml"])
        XCTAssertNoThrow(try Checkpoint.verify(newest))
        let adapter = newest.appendingPathComponent("adapter_model.safetensors")
        var bytes = try Data(contentsOf: adapter)
        bytes[bytes.count - 3] ^= 0x40
        try bytes.write(to: adapter)
        let leftover = directory.appendingPathComponent(".step-000004.tmp-999999")
        try FileManager.default.createDirectory(at: leftover, withIntermediateDirectories: true)

        var events: [String] = []
        let longer = try smallRunConfig(
            name: "damaged", steps: 4, checkpointEvery: 1, extra: ["checkpoint.keep_last=3"])
        _ = try Trainer(config: longer, configFile: "test.yaml", runsRoot: root).run(resume: "latest") { event in
            switch event {
            case .removedLeftovers(let names): events.append("removed \(names)")
            case .skippedCheckpoint(let folder, let reason):
                events.append("skipped \(folder.lastPathComponent): \(reason)")
            case .resumed(let step, _): events.append("resumed \(step)")
            default: break
            }
            return .proceed
        }
        XCTAssertEqual(events.count, 3, "\(events)")
        XCTAssertEqual(events.first, "removed [\".step-000004.tmp-999999\"]")
        XCTAssertTrue(
            events[1].hasPrefix("skipped step-000003:") && events[1].contains("adapter_model.safetensors")
                && events[1].contains("checksum"), events[1])
        XCTAssertEqual(events.last, "resumed 2")
        XCTAssertFalse(FileManager.default.fileExists(atPath: leftover.path))

        // The damaged folder named explicitly is refused, naming the file.
        var bad = try Data(contentsOf: directory.appendingPathComponent("step-000004/optimizer.safetensors"))
        bad[bad.count / 2] ^= 0x01
        try bad.write(to: directory.appendingPathComponent("step-000004/optimizer.safetensors"))
        XCTAssertThrowsError(
            try Trainer(config: longer, configFile: "test.yaml", runsRoot: root)
                .run(resume: directory.appendingPathComponent("step-000004").path) { _ in .proceed }
        ) {
            XCTAssertTrue("\($0)".contains("optimizer.safetensors") && "\($0)".contains("checksum"), "\($0)")
        }
    }

    /// A damaged trainer_state.json is named with the key and what was expected, in one line.
    func testUnreadableTrainerStateNamesTheKey() throws {
        let root = try Fixtures.temporaryDirectory(self)
        let folder = root.appendingPathComponent("step-000001")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let state = folder.appendingPathComponent("trainer_state.json")
        for (text, expected) in [
            (
                "{\"step\": 1, \"epoch\": 0, \"cursor\": 0, \"seed\": 1, \"config_hash\": \"x\", \"total_steps\": 2, \"losses\": \"low\"}",
                "trainer_state.json: key 'losses': expected a list"
            ),
            ("{\"step\": 1,", "trainer_state.json: not valid JSON"),
        ] {
            try Data(text.utf8).write(to: state)
            XCTAssertThrowsError(try Checkpoint.readState(folder)) {
                XCTAssertTrue("\($0)".contains(expected) && !"\($0)".contains("\n"), "\($0)")
            }
        }
    }

    func testResumeRefusesATrainerStateThatDoesNotFit() throws {
        let root = try Fixtures.temporaryDirectory(self)
        let config = try smallRunConfig(name: "cursor", steps: 2, checkpointEvery: 1)
        try run(config, root: root)
        let state = root.appendingPathComponent("cursor/checkpoints/step-000002/trainer_state.json")
        var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: state)) as? [String: Any])
        for (key, value) in [("cursor", -5), ("cursor", 10_000), ("epoch", -1), ("step", -3)] {
            var bad = json
            bad[key] = value
            try JSONSerialization.data(withJSONObject: bad).write(to: state)
            XCTAssertThrowsError(
                try run(try smallRunConfig(name: "cursor", steps: 4, checkpointEvery: 1), root: root, resume: "latest")
            ) {
                XCTAssertTrue("\($0)".contains("trainer_state.json") && "\($0)".contains("\(value)"), "\(key): \($0)")
            }
        }
        json["cursor"] = 4
        try JSONSerialization.data(withJSONObject: json).write(to: state)
        XCTAssertNoThrow(
            try run(try smallRunConfig(name: "cursor", steps: 3, checkpointEvery: 1), root: root, resume: "latest"))
    }
}
