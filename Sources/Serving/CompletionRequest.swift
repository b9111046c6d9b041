import ChatTemplates
import Foundation

/// A `/v1/chat/completions` or `/v1/completions` request, read and checked field by field.
/// Fields Loft does not use are ignored as OpenAI's server ignores what it does not know, but a
/// known option Loft cannot honour (`n` > 1, penalties, tools, logprobs) is refused, not dropped.
/// reference: OpenAI API reference (Chat Completions, Completions); llama.cpp tools/server
public struct CompletionRequest: Equatable, Sendable {
    /// What to continue.
    public enum Input: Equatable, Sendable {
        /// A conversation, rendered by the model's chat template with the generation prompt.
        case chat([ChatMessage])
        /// Raw text (BOS prepended when the tokenizer has one, as `loft generate`).
        case text(String)
    }

    /// The served model's name (the base or a configured adapter); nil: the base.
    public var model: String?
    public var input: Input
    /// The most new tokens; nil: as many as the context and the server's cap allow (chat) or
    /// OpenAI's 16 (completions).
    public var maxTokens: Int?
    public var temperature: Float
    public var topP: Float
    /// Strings that end the answer (not included in it); at most 4.
    public var stop: [String]
    /// The sampling stream's seed; nil: the server's next one.
    public var seed: UInt64?
    /// Answer as server-sent events.
    public var stream: Bool
    /// With `stream`: a last chunk carries `usage` (`stream_options.include_usage`).
    public var streamUsage: Bool
    /// Completions only: the answer's text starts with the prompt.
    public var echo: Bool

    /// The longest `stop` list and string accepted.
    static let maxStops = 4, maxStopLength = 256

    /// Reads a chat request body (`messages`).
    /// - Throws: `APIError` 400 naming the field.
    public static func chat(_ body: Data) throws -> CompletionRequest {
        let reader = FieldReader(try JSONValue.parseObject(body))
        guard let value = reader.value("messages") else {
            throw APIError.invalid("'messages' is required", param: "messages")
        }
        guard case .array(let items) = value else {
            throw reader.wrongType("messages", value, expected: "an array of messages")
        }
        guard !items.isEmpty else { throw APIError.invalid("'messages' is empty", param: "messages") }
        let messages = try items.enumerated().map { try message($1, path: "messages[\($0)]") }
        var request = try common(reader, input: .chat(messages))
        request.maxTokens = try reader.integer("max_completion_tokens", in: 1...Int(Int32.max)) ?? request.maxTokens
        for key in ["tools", "functions", "tool_choice", "response_format"] where reader.value(key) != nil {
            throw APIError.invalid("'\(key)' is not supported by this server", param: key)
        }
        return request
    }

    /// Reads a completions request body (`prompt`: a string, or an array of one string).
    /// - Throws: `APIError` 400 naming the field.
    public static func completion(_ body: Data) throws -> CompletionRequest {
        let reader = FieldReader(try JSONValue.parseObject(body))
        let prompt: String
        switch reader.value("prompt") {
        case .string(let text): prompt = text
        case .array(let items) where items.count == 1:
            guard case .string(let text) = items[0] else {
                throw APIError.invalid("'prompt[0]' must be a string, not \(items[0].typeName)", param: "prompt")
            }
            prompt = text
        case .array(let items):
            throw APIError.invalid(
                "'prompt' holds \(items.count) prompts; this server answers one prompt per request", param: "prompt")
        case nil: throw APIError.invalid("'prompt' is required", param: "prompt")
        case let other?: throw reader.wrongType("prompt", other, expected: "a string")
        }
        var request = try common(reader, input: .text(prompt))
        request.echo = try reader.bool("echo") ?? false
        if reader.value("suffix") != nil { throw APIError.invalid("'suffix' is not supported", param: "suffix") }
        if let best = try reader.integer("best_of", in: 1...Int(Int32.max)), best != 1 {
            throw APIError.invalid("'best_of' must be 1 on this server", param: "best_of")
        }
        return request
    }

    /// The fields both endpoints share.
    private static func common(_ reader: FieldReader, input: Input) throws -> CompletionRequest {
        var request = CompletionRequest(
            model: try reader.string("model"), input: input,
            maxTokens: try reader.integer("max_tokens", in: 1...Int(Int32.max)),
            temperature: Float(try reader.number("temperature", in: 0...2) ?? 1),
            topP: Float(try reader.number("top_p", in: 0...1) ?? 1), stop: try stops(reader),
            seed: try reader.integer("seed", in: Int(Int64.min)...Int(Int64.max)).map { UInt64(bitPattern: Int64($0)) },
            stream: try reader.bool("stream") ?? false, streamUsage: false, echo: false)
        if request.topP <= 0 { throw APIError.invalid("'top_p' must be greater than 0", param: "top_p") }
        if let options = reader.value("stream_options") {
            guard case .object(let object) = options else {
                throw reader.wrongType("stream_options", options, expected: "an object")
            }
            guard request.stream else {
                throw APIError.invalid("'stream_options' is only allowed with 'stream': true", param: "stream_options")
            }
            request.streamUsage = try FieldReader(object, path: "stream_options").bool("include_usage") ?? false
        }
        if let n = try reader.integer("n", in: 1...Int(Int32.max)), n != 1 {
            throw APIError.invalid("'n' must be 1: this server returns one choice", param: "n")
        }
        for key in ["frequency_penalty", "presence_penalty"] {
            if let penalty = try reader.number(key, in: -2...2), penalty != 0 {
                throw APIError.invalid("'\(key)' is not supported by this server (only 0)", param: key)
            }
        }
        if reader.value("logit_bias") != nil {
            throw APIError.invalid("'logit_bias' is not supported by this server", param: "logit_bias")
        }
        switch reader.value("logprobs") {
        case nil, .bool(false)?: break
        default: throw APIError.invalid("'logprobs' is not supported by this server", param: "logprobs")
        }
        return request
    }

    /// `stop`: a string or an array of up to 4 non-empty strings.
    private static func stops(_ reader: FieldReader) throws -> [String] {
        let stops: [String]
        switch reader.value("stop") {
        case nil: return []
        case .string(let text)?: stops = [text]
        case .array(let items)?:
            stops = try items.enumerated().map { index, item in
                guard case .string(let text) = item else {
                    throw APIError.invalid("'stop[\(index)]' must be a string, not \(item.typeName)", param: "stop")
                }
                return text
            }
        case let other?: throw reader.wrongType("stop", other, expected: "a string or an array of strings")
        }
        guard stops.count <= maxStops else {
            throw APIError.invalid("'stop' has \(stops.count) strings; at most \(maxStops)", param: "stop")
        }
        guard stops.allSatisfy({ !$0.isEmpty && $0.count <= maxStopLength }) else {
            throw APIError.invalid("each 'stop' string must have 1...\(maxStopLength) characters", param: "stop")
        }
        return stops
    }

    /// One message: `role` and `content` (a string, or an array of `{"type": "text", "text"}` parts).
    private static func message(_ value: JSONValue, path: String) throws -> ChatMessage {
        guard case .object(let object) = value else {
            throw APIError.invalid("'\(path)' must be an object, not \(value.typeName)", param: path)
        }
        let reader = FieldReader(object, path: path)
        guard let role = try reader.string("role") else {
            throw APIError.invalid("'\(path).role' is required", param: "\(path).role")
        }
        guard ["system", "developer", "user", "assistant"].contains(role) else {
            throw APIError.invalid(
                "'\(path).role' is '\(role.prefix(40))'; expected system, developer, user or assistant",
                param: "\(path).role")
        }
        let content: String
        switch reader.value("content") {
        case .string(let text)?: content = text
        case .array(let parts)?: content = try text(of: parts, path: "\(path).content")
        case nil: throw APIError.invalid("'\(path).content' is required", param: "\(path).content")
        case let other?: throw reader.wrongType("content", other, expected: "a string or an array of text parts")
        }
        // OpenAI's `developer` role is the system turn of models that predate it.
        return ChatMessage(role: role == "developer" ? "system" : role, content: content)
    }

    /// The text of content parts, joined as OpenAI joins them (no separator); only text parts.
    private static func text(of parts: [JSONValue], path: String) throws -> String {
        try parts.enumerated().map { index, part in
            let name = "\(path)[\(index)]"
            guard case .object(let object) = part else {
                throw APIError.invalid("'\(name)' must be an object, not \(part.typeName)", param: name)
            }
            let reader = FieldReader(object, path: name)
            guard try reader.string("type") == "text" else {
                throw APIError.invalid("'\(name).type' must be 'text': this server reads text only", param: name)
            }
            guard let text = try reader.string("text") else {
                throw APIError.invalid("'\(name).text' is required", param: "\(name).text")
            }
            return text
        }.joined()
    }
}
