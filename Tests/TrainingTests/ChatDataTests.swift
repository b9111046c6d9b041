import ChatTemplates
import Formats
import Foundation
import Tokenizers
import Training
import XCTest
import _TestSupport

/// Chat data through real templates and tokenizers: exactly the intended tokens carry loss.
final class ChatDataTests: LoftTestCase {
    static let conversation = [
        ChatMessage(role: "system", content: "Answer briefly."), ChatMessage(role: "user", content: "What is 2+3?"),
        ChatMessage(role: "assistant", content: "It is 5."), ChatMessage(role: "user", content: "And 4+4?"),
        ChatMessage(role: "assistant", content: "Eight, so 8."),
    ]

    func smolLM2() throws -> ChatEncoder {
        let tokenizer = try GGUFFile(
            path: try Fixtures.data("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
        ).tokenizer()
        let source = try String(
            contentsOfFile: try Fixtures.resource("chat-templates/smollm2-135m-instruct.jinja"), encoding: .utf8)
        return ChatEncoder(
            template: try ChatTemplate(source: source, bosToken: "<|im_start|>", eosToken: "<|im_end|>"),
            tokenizer: tokenizer)
    }

    func llama2() throws -> ChatEncoder {
        let tokenizer = try SentencePieceTokenizer(path: Fixtures.data("tokenizers/llama2/tokenizer.model"))
        let source = try String(
            contentsOfFile: try Fixtures.resource("chat-templates/meta-llama-Llama-2-7b-chat.jinja"), encoding: .utf8)
        return ChatEncoder(
            template: try ChatTemplate(source: source, bosToken: "<s>", eosToken: "</s>"), tokenizer: tokenizer)
    }

    /// The runs of consecutive trained tokens.
    func trainedRuns(_ ids: [Int32], _ trained: [Bool]) -> [[Int32]] {
        var runs: [[Int32]] = [], current: [Int32] = []
        for (id, flag) in zip(ids, trained) {
            if flag { current.append(id) } else if !current.isEmpty { runs.append(current); current = [] }
        }
        if !current.isEmpty { runs.append(current) }
        return runs
    }

    func testChatMLAssistantTurnsCarryTheirContentAndEndOfTurnOnly() throws {
        let encoder = try smolLM2()
        let tokenizer = encoder.tokenizer
        let (ids, trained) = try encoder.encode(Self.conversation, trainOn: .assistant)
        XCTAssertEqual(
            ids, try encoder.encode(try encoder.template.render(Self.conversation, addGenerationPrompt: false)))
        let runs = trainedRuns(ids, trained)
        XCTAssertEqual(runs.count, 2)
        for (run, answer) in zip(runs, ["It is 5.", "Eight, so 8."]) {
            XCTAssertEqual(run.last, 2, "the turn ends with <|im_end|>")
            XCTAssertEqual(try tokenizer.decode(Array(run.dropLast())), answer)
            XCTAssertEqual(
                Array(run.dropLast()), try tokenizer.encode(answer, addBOS: false), "the content's own tokens")
        }
        let last = try encoder.encode(Self.conversation, trainOn: .last)
        XCTAssertEqual(last.tokens, ids)
        XCTAssertEqual(trainedRuns(last.tokens, last.trained), [runs[1]])
        let all = try encoder.encode(Self.conversation, trainOn: .all)
        XCTAssertTrue(all.trained.allSatisfy { $0 })
        XCTAssertEqual(encoder.stopTokens, [2])
    }

    func testLlama2SentencePieceTurnsEndWithEOS() throws {
        let encoder = try llama2()
        let (ids, trained) = try encoder.encode(Self.conversation, trainOn: .assistant)
        XCTAssertEqual(ids.first, 1, "the template writes <s>, read as BOS")
        XCTAssertEqual(ids.filter { $0 == 1 }.count, 2, "one <s> per user turn")
        let runs = trainedRuns(ids, trained)
        XCTAssertEqual(runs.count, 2)
        for (run, answer) in zip(runs, ["It is 5.", "Eight, so 8."]) {
            XCTAssertEqual(run.last, 2, "</s> is EOS")
            XCTAssertEqual(try encoder.tokenizer.decode(run).trimmingCharacters(in: .whitespaces), answer)
        }
        XCTAssertEqual(encoder.stopTokens, [2])
        let prompt = try encoder.prompt(Array(Self.conversation.prefix(2)))
        XCTAssertEqual(Array(ids.prefix(prompt.count)), prompt, "the generation prompt is the training prefix")
    }

    func testRefusalsNameTheReason() throws {
        let gemma = try ChatTemplate(
            source: String(
                contentsOfFile: try Fixtures.data("llama.cpp/models/templates/google-gemma-2-2b-it.jinja"),
                encoding: .utf8),
            bosToken: "<s>", eosToken: "</s>")
        let encoder = ChatEncoder(template: gemma, tokenizer: try smolLM2().tokenizer)
        XCTAssertThrowsError(try encoder.encode(Self.conversation, trainOn: .assistant)) { error in
            XCTAssertEqual(error as? ChatEncoder.Refusal, .templateRaised("System role not supported"))
        }
        let noAnswer = [ChatMessage(role: "user", content: "Hi")]
        XCTAssertThrowsError(try smolLM2().encode(noAnswer, trainOn: .assistant)) { error in
            XCTAssertEqual(error as? ChatEncoder.Refusal, .noAssistantTurn)
        }
        // DeepSeek-R1 drops the reasoning of earlier answers, and its generation prompt opens a
        // `<think>` block no rendered answer has: no turn's prompt is a prefix of the conversation.
        let r1 = try ChatTemplate(
            source: String(
                contentsOfFile: try Fixtures.data(
                    "llama.cpp/models/templates/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja"),
                encoding: .utf8),
            bosToken: "<s>", eosToken: "</s>")
        let thinking = [
            ChatMessage(role: "user", content: "2+3?"), ChatMessage(role: "assistant", content: "<think>add</think>5"),
            ChatMessage(role: "user", content: "4+4?"), ChatMessage(role: "assistant", content: "<think>add</think>8"),
        ]
        let r1Encoder = ChatEncoder(template: r1, tokenizer: try smolLM2().tokenizer)
        XCTAssertThrowsError(try r1Encoder.encode(thinking, trainOn: .assistant)) { error in
            XCTAssertEqual(error as? ChatEncoder.Refusal, .notIncremental(turn: 1))
        }
        XCTAssertThrowsError(try r1Encoder.encode(thinking, trainOn: .last)) { error in
            XCTAssertEqual(error as? ChatEncoder.Refusal, .notIncremental(turn: 3))
        }
    }

    func testChatFileCountsKeptTruncatedRefusedAndNamesBadLines() throws {
        let folder = try Fixtures.temporaryDirectory(self)
        let file = folder.appendingPathComponent("chat.jsonl")
        let long = String(repeating: "word ", count: 200)
        let lines = [
            #"{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}"#,
            #"{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hey."}]}"#,
            #"{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "\#(long)"}]}"#,
            #"{"messages": [{"role": "user", "content": "\#(long)"}, {"role": "assistant", "content": "x"}]}"#,
            #"{"messages": [{"role": "user", "content": "no answer"}]}"#,
        ]
        try lines.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        var data = RunConfig.DataSection()
        (data.dataset, data.maxSeqLen) = (.chat, 64)
        let encoder = try smolLM2()
        let loaded = try DatasetLoader.load(file.path, data: data, tokenizer: encoder.tokenizer, chat: encoder)
        XCTAssertEqual(loaded.counts.kept, 2)
        XCTAssertEqual(loaded.counts.truncated, 1)
        XCTAssertEqual(loaded.counts.refused, 2)
        XCTAssertEqual(loaded.counts.firstRefusal, "\(file.path):4: no target within max_seq_len = 64 tokens")
        XCTAssertEqual(loaded.examples.count, 3)
        XCTAssertTrue(loaded.examples.allSatisfy { $0.tokens.count <= 64 })

        let bad = [
            (#"{"messages": [{"role": "bot", "content": "x"}]}"#, #""messages"[0].role: "bot" is not one of"#),
            (#"{"messages": [{"role": "user", "content": 3}]}"#, #""messages"[0].content: expected a string"#),
            (#"{"conversations": [{"from": "gpt"}]}"#, #""conversations"[0].value: expected a string"#),
            (#"{"messages": []}"#, "the conversation has no turn"),
            (#"{"text": "plain"}"#, #"expected one key "messages""#),
            (#"{"messages": [{"role": "user""#, "2:"),
        ]
        for (line, expected) in bad {
            try (lines[0] + "\n" + line + "\n").write(to: file, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(
                try DatasetLoader.load(file.path, data: data, tokenizer: encoder.tokenizer, chat: encoder)
            ) {
                let message = "\($0)"
                XCTAssertTrue(message.hasPrefix("\(file.path):2: "), message)
                XCTAssertTrue(message.contains(expected), message)
            }
        }
    }
}
