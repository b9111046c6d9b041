import Foundation

/// A model's chat format, recognised from its template text (`tokenizer.chat_template`). ChatML
/// (`<|im_start|>role\ncontent<|im_end|>\n`, SmolLM's and Qwen's) is understood, with the default
/// system message the template inserts when the conversation has none.
/// reference: the ChatML format; SmolLM2-135M-Instruct's tokenizer.chat_template
public struct ChatTemplate: Equatable, Sendable {
    /// The system message used when none is given (nil: none is inserted).
    public let defaultSystem: String?
    /// The template as the model's files give it (written again by the exporters).
    public let templateText: String

    /// The template of `text`, when it is ChatML; nil otherwise.
    public init?(templateText text: String?) {
        guard let text, text.contains("<|im_start|>") else { return nil }
        templateText = text
        let marker = "<|im_start|>system\n"
        if let start = text.range(of: marker),
            let end = text.range(of: "<|im_end|>", range: start.upperBound..<text.endIndex)
        {
            defaultSystem = String(text[start.upperBound..<end.lowerBound])
        } else {
            defaultSystem = nil
        }
    }

    /// The prompt of one user turn, ending with the assistant's header (`add_generation_prompt`).
    public func prompt(user: String, system: String? = nil) -> String {
        var text = ""
        if let system = system ?? defaultSystem { text += "<|im_start|>system\n\(system)<|im_end|>\n" }
        return text + "<|im_start|>user\n\(user)<|im_end|>\n<|im_start|>assistant\n"
    }
}
