import Foundation

/// The response objects of OpenAI's API, as JSON.
/// reference: OpenAI API reference (the chat completion and its chunk, the completion, the model list)
enum OpenAIJSON {
    /// `object` with OpenAI's nulls kept (JSONSerialization: `NSNull` is written as null).
    static func data(_ object: [String: Any]) -> Data {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
    }

    static func usage(prompt: Int, completion: Int) -> [String: Any] {
        ["prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion]
    }

    /// A whole answer: `chat.completion` or `text_completion`.
    static func completion(
        chat: Bool, id: String, created: Int, model: String, text: String, finish: FinishReason,
        promptTokens: Int, completionTokens: Int
    ) -> Data {
        var choice: [String: Any] = ["index": 0, "finish_reason": finish.rawValue, "logprobs": NSNull()]
        if chat {
            choice["message"] = ["role": "assistant", "content": text]
        } else {
            choice["text"] = text
        }
        return data([
            "id": id, "object": chat ? "chat.completion" : "text_completion", "created": created, "model": model,
            "choices": [choice], "usage": usage(prompt: promptTokens, completion: completionTokens),
            "system_fingerprint": fingerprint,
        ])
    }

    /// One streamed chunk: a piece of text (`delta` for chat), the end (`finish`), or only usage.
    static func chunk(
        chat: Bool, id: String, created: Int, model: String, text: String?, role: Bool = false,
        finish: FinishReason? = nil, usage: [String: Any]? = nil
    ) -> Data {
        var object: [String: Any] = [
            "id": id, "object": chat ? "chat.completion.chunk" : "text_completion", "created": created,
            "model": model, "system_fingerprint": fingerprint,
        ]
        if let usage {
            object["choices"] = [[String: Any]]()
            object["usage"] = usage
            return data(object)
        }
        var choice: [String: Any] = [
            "index": 0, "finish_reason": finish.map { $0.rawValue as Any } ?? NSNull(), "logprobs": NSNull(),
        ]
        if chat {
            var delta: [String: Any] = [:]
            if role { delta["role"] = "assistant" }
            if let text { delta["content"] = text }
            choice["delta"] = delta
        } else {
            choice["text"] = text ?? ""
        }
        object["choices"] = [choice]
        return data(object)
    }

    /// `GET /v1/models`.
    static func models(_ names: [String], created: Int) -> Data {
        data([
            "object": "list",
            "data": names.map { ["id": $0, "object": "model", "created": created, "owned_by": "loft"] },
        ])
    }

    /// Which build answered.
    static let fingerprint = "loft"
}
