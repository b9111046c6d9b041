import ChatTemplates
import Foundation
import Recipes
import Training
import XCTest
import _TestSupport

/// Chat runs end to end on stories260K: a ChatML template, packed rows, eval samples, the data
/// counts in run.json, and a bit-identical resume of a packed run.
final class ChatTrainingTests: LoftTestCase {
    func chatConfig(name: String, root: URL, steps: Int, extra: [String] = []) throws -> RunConfig {
        let data = root.appendingPathComponent("chat.jsonl")
        if !FileManager.default.fileExists(atPath: data.path) {
            // The 40 shortest of the first 400 problems: about 320 tokens each in ChatML (with its
            // default system turn) with tok512.
            let problems = try GSM8K.load(Fixtures.data("gsm8k/train.jsonl"), limit: 400)
                .sorted { ($0.question + $0.answer).count < ($1.question + $1.answer).count }.prefix(40)
            let lines = try problems.map { problem in
                let turns = problem.chat(answered: true).map { ["role": $0.role, "content": $0.content] }
                return String(decoding: try JSONSerialization.data(withJSONObject: ["messages": turns]), as: UTF8.self)
            }
            try lines.joined(separator: "\n").write(to: data, atomically: true, encoding: .utf8)
        }
        let yaml = """
            name: \(name)
            model:
              path: \(try Fixtures.data("models/stories260K/stories260K.bin"))
              tokenizer: \(try Fixtures.data("models/stories260K/tok512.model"))
            lora:
              rank: 4
              alpha: 8
              loftq_iters: 1
            data:
              dataset: chat
              chat_template: \(try Fixtures.resource("chat-templates/smollm2-135m-instruct.jinja"))
              train_path: \(data.path)
              eval_path: \(data.path)
              max_seq_len: 1024
              packing: true
            training:
              seed: 3
              batch_size: 2
              max_steps: \(steps)
              learning_rate: 5e-3
            checkpoint:
              every_steps: 2
            eval:
              every_steps: 2
              max_batches: 2
              samples:
                - "What is 2 + 3?"
                - [{role: user, content: "Hi"}, {role: assistant, content: "Hello"}, {role: user, content: "Bye"}]
              sample_max_tokens: 4
            """
        return try ConfigLoader.parse(yaml, file: "chat.yaml", overrides: extra)
    }

    func run(_ config: RunConfig, root: URL, resume: String? = nil, stopAfter: Int? = nil) throws -> (
        outcome: TrainingOutcome, losses: [Float], samples: [SampleRecord], preparation: Preparation?
    ) {
        let trainer = try Trainer(config: config, configFile: "chat.yaml", runsRoot: root)
        var losses: [Float] = [], samples: [SampleRecord] = [], preparation: Preparation?
        let outcome = try trainer.run(resume: resume) { event in
            switch event {
            case .prepared(let p): preparation = p
            case .samples(let records): samples += records
            case .step(let record):
                losses.append(record.loss)
                if let stopAfter, record.step >= stopAfter { return .stop }
            default: break
            }
            return .proceed
        }
        return (outcome, losses, samples, preparation)
    }

    func testPackedChatRunTrainsSamplesAndCountsItsData() throws {
        let root = try Fixtures.temporaryDirectory(self)
        let result = try run(try chatConfig(name: "chat", root: root, steps: 8), root: root)
        XCTAssertEqual(result.losses.count, 8)
        let first = result.losses.prefix(2).reduce(0, +) / 2, last = result.losses.suffix(2).reduce(0, +) / 2
        XCTAssertLessThan(last, first, "loss must fall: \(result.losses)")
        let preparation = try XCTUnwrap(result.preparation)
        XCTAssertEqual(preparation.packedExamples, 40)
        XCTAssertLessThan(preparation.trainExamples, 40, "rows hold several conversations")
        XCTAssertEqual(preparation.data?.train.kept, 40)
        XCTAssertEqual(preparation.data?.train.refused, 0)
        XCTAssertEqual(result.samples.map(\.step), [2, 2, 4, 4, 6, 6, 8, 8])
        XCTAssertTrue(result.samples[0].prompt.hasSuffix("<|im_start|>assistant\n"), result.samples[0].prompt)
        XCTAssertTrue(result.samples[1].prompt.contains("Hello<|im_end|>"), result.samples[1].prompt)
        let lines = try String(contentsOf: root.appendingPathComponent("chat/samples.jsonl"), encoding: .utf8)
        XCTAssertEqual(lines.split(separator: "\n").count, 8)
        let runJSON = try Fixtures.json(root.appendingPathComponent("chat/run.json").path)
        let train = try XCTUnwrap((runJSON["data"] as? [String: Any])?["train"] as? [String: Any])
        XCTAssertEqual(train["kept"] as? Int, 40)
    }

    func testPackedChatRunResumesBitIdentically() throws {
        let root = try Fixtures.temporaryDirectory(self)
        let straight = try run(try chatConfig(name: "straight", root: root, steps: 4), root: root)
        let split = try chatConfig(name: "split", root: root, steps: 4)
        let first = try run(split, root: root, stopAfter: 2)
        guard case .interrupted = first.outcome else { return XCTFail("expected an interruption") }
        let second = try run(split, root: root, resume: "latest")
        XCTAssertEqual(first.losses + second.losses, straight.losses)
        for file in ["adapter_model.safetensors", "optimizer.safetensors"] {
            let a = try Data(contentsOf: root.appendingPathComponent("straight/checkpoints/step-000004/\(file)"))
            let b = try Data(contentsOf: root.appendingPathComponent("split/checkpoints/step-000004/\(file)"))
            XCTAssertEqual(a, b, file)
        }
    }

    func testChatKeysAreCheckedByName() {
        XCTAssertThrowsError(try ConfigLoader.parse("data:\n  train_on: prompts\n", file: "c.yaml")) {
            XCTAssertTrue("\($0)".contains("'data.train_on'") && "\($0)".contains("assistant, last, all"), "\($0)")
        }
        XCTAssertThrowsError(try ConfigLoader.parse("data:\n  chat_template: t.jinja\n", file: "c.yaml")) {
            XCTAssertTrue("\($0)".contains("'data.chat_template'"), "\($0)")
        }
        XCTAssertThrowsError(
            try ConfigLoader.parse("eval:\n  samples: [[{role: robot, content: x}]]\n", file: "c.yaml")
        ) {
            XCTAssertTrue("\($0)".contains("eval.samples"), "\($0)")
        }
        XCTAssertThrowsError(try ConfigLoader.parse("eval:\n  sample_max_tokens: 0\n", file: "c.yaml")) {
            XCTAssertTrue("\($0)".contains("'eval.sample_max_tokens'"), "\($0)")
        }
    }
}
