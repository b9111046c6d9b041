/// One turn of a conversation.
public struct ChatMessage: Equatable, Sendable {
    /// `system`, `user` or `assistant`.
    public var role: String
    public var content: String

    /// A turn.
    public init(role: String, content: String) { (self.role, self.content) = (role, content) }
}

/// A model's chat template (`tokenizer.chat_template` of a GGUF, `chat_template` of
/// `tokenizer_config.json`, or a file): its Jinja program, rendered as transformers'
/// `apply_chat_template` renders it (`messages`, `add_generation_prompt`, `bos_token`,
/// `eos_token`, no tools or documents).
/// reference: transformers utils/chat_template_utils.py (render_jinja_template)
public struct ChatTemplate: Sendable {
    /// The template text, as the model's files give it (written again by the exporters).
    public let source: String
    /// The text of the tokenizer's BOS and EOS tokens (nil: the tokenizer has none; the template
    /// then sees them undefined, as transformers leaves them).
    public let bosToken: String?, eosToken: String?
    /// Where the template was found (a file, or a model file's key), for messages.
    public let origin: String
    let template: JinjaTemplate

    /// Parses `source`; a template using a construct Loft does not run is refused (`JinjaError`).
    public init(source: String, bosToken: String?, eosToken: String?, origin: String = "chat template") throws {
        template = try JinjaTemplate(source)
        self.source = source
        self.bosToken = bosToken
        self.eosToken = eosToken
        self.origin = origin
    }

    /// The text of `messages`, ending with the assistant's header when `addGenerationPrompt`.
    /// - Throws: `JinjaError` when the template raises (`raise_exception`) or fails.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) throws -> String {
        let turns = messages.map { message in
            JinjaValue.dict(JinjaDict([("role", .string(message.role)), ("content", .string(message.content))]))
        }
        var variables: [String: JinjaValue] = [
            "messages": .list(turns), "tools": .none, "documents": .none,
            "add_generation_prompt": .bool(addGenerationPrompt),
        ]
        if let bosToken { variables["bos_token"] = .string(bosToken) }
        if let eosToken { variables["eos_token"] = .string(eosToken) }
        return try template.render(variables).text
    }
}
