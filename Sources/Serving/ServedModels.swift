import ChatTemplates
import Formats
import Foundation
import Llama
import Recipes
import Tokenizers
import Training

/// What `loft serve` serves: a base model (a model file or a run folder, as `loft generate` loads
/// it) under one name, and named adapters on the same frozen weights. A request chooses by name
/// only; no path from a request ever reaches the file system.
/// Sendable by contract: the models are read-only once loaded and only the engine's thread runs
/// them; request tasks use the tokenizer and the chat encoder, which are Sendable.
public struct ServedModels: @unchecked Sendable {
    /// The served names, base first; `models[i]` answers to `names[i]`.
    public let names: [String]
    public let models: [LlamaModel]
    public let tokenizer: any Tokenizer
    /// The chat encoder (the model's template, or `--chat-template`); nil when there is none, and
    /// then `/v1/chat/completions` answers 400.
    public let chat: ChatEncoder?
    /// Why there is no chat template, for that 400.
    public let chatUnavailable: String?
    /// The longest sequence (prompt and answer) the models take.
    public var contextLength: Int { models[0].config.maxSequenceLength }
    /// What the user should know (a LoftQ adapter on another base, …).
    public private(set) var warnings: [String] = []

    /// Loads `model` (with `tokenizer` when given), then each adapter (`name=folder`, a PEFT
    /// adapter folder or a `loft train` run) on a copy sharing its frozen weights.
    /// - Throws: a one-line error naming the file or option at fault.
    public init(
        model: String, name: String? = nil, tokenizer: String? = nil, adapters: [(name: String, path: String)],
        chatTemplate: String? = nil
    ) throws {
        let base = try ModelLoader.load(model: model, tokenizer: tokenizer)
        let baseName = name ?? Self.defaultName(model)
        var names = [baseName], models = [base.model]
        warnings = base.warnings
        for (adapterName, path) in adapters {
            guard !names.contains(adapterName) else {
                throw RecipeError.invalidOption(name: "--adapter", detail: "the name '\(adapterName)' is used twice")
            }
            let folder = try ModelLoader.trainedAdapter(in: URL(fileURLWithPath: path))
            let variant = base.model.sharingFrozenWeights()
            let config = try AdapterFiles.attach(folder, to: variant, dropout: 0)
            if let warning = ModelFiles.baseMismatchWarning(
                adapter: folder.path, config: config, base: model,
                isLoftFolder: (try? ModelFiles.format(of: model)) == .loft)
            {
                warnings.append("\(adapterName): \(warning)")
            }
            names.append(adapterName)
            models.append(variant)
        }
        (self.names, self.models, self.tokenizer) = (names, models, base.tokenizer)
        do {
            chat = ChatEncoder(template: try base.chatTemplate(file: chatTemplate), tokenizer: base.tokenizer)
            chatUnavailable = nil
        } catch {
            // A file given on the command line must work; a model without a template serves
            // completions only.
            if chatTemplate != nil { throw error }
            (chat, chatUnavailable) = (nil, "\(error)")
        }
    }

    /// The index of the model a request names (nil: the base).
    /// - Throws: `APIError` 404 for a name this server does not have.
    public func index(of name: String?) throws -> Int {
        guard let name else { return 0 }
        guard let index = names.firstIndex(of: name) else { throw APIError.unknownModel(name, known: names) }
        return index
    }

    /// A model's served name by default: its file or folder name without the extension.
    static func defaultName(_ path: String) -> String {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        let name = url.deletingPathExtension().lastPathComponent
        return name.isEmpty ? "loft" : name
    }
}
