import ChatTemplates
import Formats
import Foundation
import Tokenizers

/// Where a model's chat template is, and the template ready to render.
extension ModelFiles {
    /// The chat template text the model's files hold, and where it was found (for messages):
    /// a GGUF's `tokenizer.chat_template`; in a folder, `chat_template.jinja`, else
    /// `tokenizer_config.json`'s `chat_template` (a string, or the `default` of a named list), else
    /// a vocabulary-only `tokenizer.gguf`'s. Nil when there is none.
    public static func chatTemplateSource(forModel path: String, gguf: GGUFFile? = nil) -> (
        text: String, origin: String
    )? {
        if let gguf {
            return gguf.metadata["tokenizer.chat_template"]?.string.map { ($0, "\(path): tokenizer.chat_template") }
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return nil }
        guard isDirectory.boolValue else {
            guard (try? format(of: path)) == .gguf, let file = try? GGUFFile(path: path) else { return nil }
            return chatTemplateSource(forModel: path, gguf: file)
        }
        let folder = path as NSString
        let jinja = folder.appendingPathComponent("chat_template.jinja")
        if let text = try? String(contentsOfFile: jinja, encoding: .utf8) { return (text, jinja) }
        let configPath = folder.appendingPathComponent("tokenizer_config.json")
        if let data = FileManager.default.contents(atPath: configPath),
            let config = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        {
            if let text = config["chat_template"] as? String { return (text, "\(configPath): chat_template") }
            if let named = config["chat_template"] as? [[String: Any]],
                let text = named.first(where: { $0["name"] as? String == "default" })?["template"] as? String
            {
                return (text, "\(configPath): chat_template (default)")
            }
        }
        let vocabulary = folder.appendingPathComponent("tokenizer.gguf")
        if FileManager.default.fileExists(atPath: vocabulary), let file = try? GGUFFile(path: vocabulary) {
            return chatTemplateSource(forModel: vocabulary, gguf: file)
        }
        return nil
    }

    /// The chat template of a model: `file` when given (`data.chat_template`, `--chat-template`),
    /// else the model's own, with the tokenizer's BOS and EOS texts.
    /// - Throws: when there is none, or the template uses a construct Loft does not run (the
    ///   message names where the template came from and the construct).
    public static func chatTemplate(forModel path: String, file: String?, tokenizer: any Tokenizer) throws
        -> ChatTemplate
    {
        if let file { return try chatTemplate(file: file, tokenizer: tokenizer) }
        guard let found = chatTemplateSource(forModel: path) else {
            throw RecipeError.badChatTemplate(
                origin: path, detail: "the model's files hold no chat template; give one with data.chat_template")
        }
        return try chatTemplate(text: found.text, origin: found.origin, tokenizer: tokenizer)
    }

    /// The chat template in the Jinja file `file`, with the tokenizer's BOS and EOS texts.
    public static func chatTemplate(file: String, tokenizer: any Tokenizer) throws -> ChatTemplate {
        try chatTemplate(text: try chatTemplateText(file: file), origin: file, tokenizer: tokenizer)
    }

    /// The text of the Jinja file `file`.
    /// - Throws: when it is missing or not UTF-8 text.
    public static func chatTemplateText(file: String) throws -> String {
        guard FileManager.default.fileExists(atPath: file) else { throw FormatError.fileNotFound(path: file) }
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw RecipeError.badChatTemplate(origin: file, detail: "not readable as UTF-8 text")
        }
        return text
    }

    /// The template `text` (found at `origin`) with the tokenizer's BOS and EOS texts.
    public static func chatTemplate(text: String, origin: String, tokenizer: any Tokenizer) throws -> ChatTemplate {
        do {
            return try ChatTemplate(
                source: text, bosToken: tokenizer.bosID.flatMap(tokenizer.piece),
                eosToken: tokenizer.eosID.flatMap(tokenizer.piece), origin: origin)
        } catch let error as JinjaError {
            throw RecipeError.badChatTemplate(origin: origin, detail: error.description)
        }
    }
}
