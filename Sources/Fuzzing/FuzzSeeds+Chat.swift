import ChatTemplates
import Foundation
import Training

/// The chat seeds: GSM8K problems as chat JSON lines (trained through a ChatML template, packed,
/// with an `eval.samples` prompt), and a real chat template rendering one conversation.
extension FuzzSeeds {
    static func writeChatSeeds(to root: URL, folder: (String) throws -> URL, sources: Sources) throws {
        let problems = try GSM8K.load(sources.gsm8k, limit: 6)
        let lines = try problems.enumerated().map { index, problem in
            let turns =
                (index == 0 ? [ChatMessage(role: "system", content: "Answer step by step.")] : [])
                + problem.chat(answered: true)
            let key = index % 2 == 0 ? "messages" : "conversations"
            let objects = turns.map { turn -> [String: String] in
                index % 2 == 0
                    ? ["role": turn.role, "content": turn.content]
                    : [
                        "from": turn.role == "user" ? "human" : turn.role == "assistant" ? "gpt" : "system",
                        "value": turn.content,
                    ]
            }
            let data = try JSONSerialization.data(withJSONObject: [key: objects], options: [.sortedKeys])
            return String(decoding: data, as: UTF8.self)
        }
        try (lines.joined(separator: "\n") + "\n").write(
            to: try folder("chat-jsonl").appendingPathComponent("chat.jsonl"), atomically: true, encoding: .utf8)
        let chatML =
            "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
            + "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
        try chatML.write(to: root.appendingPathComponent("chatml.jinja"), atomically: true, encoding: .utf8)
        try chatRunConfig(root: root, sources: sources).write(
            to: root.appendingPathComponent("chat-run.yaml"), atomically: true, encoding: .utf8)
        let templateFolder = try folder("chat-template")
        let template = try String(contentsOfFile: sources.chatTemplate, encoding: .utf8)
        try template.write(
            to: templateFolder.appendingPathComponent("template.jinja"), atomically: true, encoding: .utf8)
        let conversation = #"""
            {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi ümlaut 🌍"},
             {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "2+3?"},
             {"role": "assistant", "content": "5"}]}
            """#
        try conversation.write(to: root.appendingPathComponent("conversation.json"), atomically: true, encoding: .utf8)
    }

    /// A one-step chat run on stories260K: ChatML template, packing, an eval sample.
    static func chatRunConfig(root: URL, sources: Sources) -> String {
        """
        name: fuzz-chat
        model:
          path: \(sources.model)
          tokenizer: \(sources.tokenizer)
        quantization:
          bits: 4
        lora:
          rank: 4
          alpha: 8
          init: gaussian
        data:
          dataset: chat
          chat_template: \(root.appendingPathComponent("chatml.jinja").path)
          max_seq_len: 512
          packing: true
        training:
          seed: 7
          batch_size: 2
          max_steps: 1
          learning_rate: 1e-3
        eval:
          max_batches: 1
          samples: ["What is 2 + 3?"]
          sample_max_tokens: 3

        """
    }
}
